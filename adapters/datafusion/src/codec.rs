//! The plan codec: the adapter's functions travel inside a serialized
//! plan, so that executors on other machines run them without having them
//! registered.
//!
//! DataFusion sends a function in a plan by its name, with an optional
//! definition that a codec writes and reads. [`LifecycleLogicalCodec`] and
//! [`LifecyclePhysicalCodec`] write each function of this crate as a small
//! JSON document — `purchase_summary`'s name and [`SummaryOptions`], a
//! scoring function's fitted model ([`AnyPurchaseModel`], the parameters
//! exactly as `f64` bit patterns survive a JSON round trip), its risk or CLV
//! settings and spend model, `rfm_segment`'s cut points and segment map — and
//! read it back into the same function. Everything else goes to the codec
//! they wrap (Ballista's own by default: shuffles, file formats, tables).
//!
//! A scoring function built on a purchase model defined outside this crate
//! has no saved form: it travels by name only, and each executor must have
//! it in its function registry.
//!
//! Feature `ballista`.

use std::sync::Arc;

use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use customer_lifecycle::SummaryOptions;
use customer_lifecycle::churn::ModelRisk;
use customer_lifecycle::clv::{AnyPurchaseModel, GammaGamma};
use customer_lifecycle::metrics::{CutPoints, SegmentMap};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, Result, TableReference};
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{AggregateUDF, Extension, LogicalPlan, ScalarUDF, WindowUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use serde::{Deserialize, Serialize};

use crate::scoring::{ClvSettings, RfmSegmentFunction, ScoringFunction};
use crate::summary::PurchaseSummaryFunction;

/// The version of the saved form; a definition of another version is
/// refused with an error that names both.
const WIRE_VERSION: u32 = 1;

/// A function's definition as it travels.
#[derive(Serialize, Deserialize)]
struct Envelope {
    customer_lifecycle_function: u32,
    function: Wire,
}

/// The definition of one of this crate's functions.
#[derive(Serialize, Deserialize)]
pub(crate) enum Wire {
    /// `purchase_summary` (or a named variant).
    Summary { name: String, options: SummaryOptions },
    /// A scoring function.
    Score(Box<ScoreWire>),
    /// `rfm_segment`.
    RfmSegment { cut_points: CutPoints, segments: SegmentMap },
}

/// What a scoring function computes, with its models.
#[derive(Serialize, Deserialize)]
pub(crate) enum ScoreWire {
    PAlive(AnyPurchaseModel),
    ExpectedPurchases(AnyPurchaseModel),
    ChurnRisk(AnyPurchaseModel, ModelRisk),
    Clv(AnyPurchaseModel, Box<GammaGamma>, ClvSettings),
}

fn write(function: Wire, buf: &mut Vec<u8>) -> Result<()> {
    let envelope = Envelope { customer_lifecycle_function: WIRE_VERSION, function };
    serde_json::to_writer(buf, &envelope).map_err(|e| DataFusionError::External(Box::new(e)))
}

fn read(name: &str, buf: &[u8]) -> Result<Wire> {
    let unreadable =
        |e: serde_json::Error| DataFusionError::Plan(format!("the definition of function {name} is not readable: {e}"));
    // The form first, so that a definition of another form is named as such.
    #[derive(Deserialize)]
    struct Form {
        customer_lifecycle_function: u32,
    }
    let form: Form = serde_json::from_slice(buf).map_err(unreadable)?;
    if form.customer_lifecycle_function != WIRE_VERSION {
        return Err(DataFusionError::Plan(format!(
            "function {name} was saved in form {}; this build reads form {WIRE_VERSION}",
            form.customer_lifecycle_function
        )));
    }
    let envelope: Envelope = serde_json::from_slice(buf).map_err(unreadable)?;
    Ok(envelope.function)
}

/// Writes a scalar function of this crate's into `buf`; leaves `buf` empty
/// for any other function (and for a model without a saved form).
fn encode_udf(node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<bool> {
    let wire = if let Some(f) = node.inner().downcast_ref::<ScoringFunction>() {
        f.wire().map(|w| Wire::Score(Box::new(w)))
    } else {
        node.inner().downcast_ref::<RfmSegmentFunction>().map(RfmSegmentFunction::wire)
    };
    match wire {
        Some(w) => write(w, buf).map(|()| true),
        None => Ok(false),
    }
}

fn decode_udf(name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
    match read(name, buf)? {
        Wire::Score(score) => Ok(Arc::new(ScoringFunction::from_wire(*score)?)),
        Wire::RfmSegment { cut_points, segments } => Ok(Arc::new(crate::scoring::rfm_segment(cut_points, segments))),
        Wire::Summary { .. } => Err(DataFusionError::Plan(format!("{name} is an aggregate, not a scalar function"))),
    }
}

fn encode_udaf(node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<bool> {
    match node.inner().downcast_ref::<PurchaseSummaryFunction>() {
        Some(f) => {
            let (name, options) = f.definition();
            write(Wire::Summary { name: name.to_string(), options }, buf).map(|()| true)
        }
        None => Ok(false),
    }
}

fn decode_udaf(name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
    match read(name, buf)? {
        Wire::Summary { name, options } => Ok(Arc::new(crate::summary::purchase_summary_named(&name, &options)?)),
        _ => Err(DataFusionError::Plan(format!("{name} is a scalar, not an aggregate function"))),
    }
}

/// Whether `buf` holds one of this crate's definitions (and not another
/// codec's bytes for a function of the same name).
fn ours(buf: &[u8]) -> bool {
    buf.starts_with(b"{\"customer_lifecycle_function\":")
}

/// The function methods both codecs share: this crate's functions here,
/// everything else handed to the wrapped codec (one list for both traits).
macro_rules! function_methods {
    () => {
        fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
            if ours(buf) { decode_udf(name, buf) } else { self.inner.try_decode_udf(name, buf) }
        }

        fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
            if encode_udf(node, buf)? { Ok(()) } else { self.inner.try_encode_udf(node, buf) }
        }

        fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
            if ours(buf) { decode_udaf(name, buf) } else { self.inner.try_decode_udaf(name, buf) }
        }

        fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
            if encode_udaf(node, buf)? { Ok(()) } else { self.inner.try_encode_udaf(node, buf) }
        }

        fn try_decode_udwf(&self, name: &str, buf: &[u8]) -> Result<Arc<WindowUDF>> {
            self.inner.try_decode_udwf(name, buf)
        }

        fn try_encode_udwf(&self, node: &WindowUDF, buf: &mut Vec<u8>) -> Result<()> {
            self.inner.try_encode_udwf(node, buf)
        }
    };
}

/// The logical plan codec that carries this crate's functions, wrapping
/// another codec for everything else (Ballista's by default).
///
/// ```
/// use std::sync::Arc;
/// use customer_lifecycle::clv::BetaGeo;
/// use customer_lifecycle_datafusion::{LifecycleLogicalCodec, p_alive};
/// use datafusion_proto::logical_plan::LogicalExtensionCodec;
/// let codec = LifecycleLogicalCodec::default();
/// let udf = p_alive(Arc::new(BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?));
/// let mut buf = Vec::new();
/// codec.try_encode_udf(&udf, &mut buf)?;
/// let back = codec.try_decode_udf("p_alive", &buf)?;
/// assert_eq!(back.name(), "p_alive");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct LifecycleLogicalCodec {
    inner: Arc<dyn LogicalExtensionCodec>,
}

impl Default for LifecycleLogicalCodec {
    /// Wrapping Ballista's logical codec.
    fn default() -> LifecycleLogicalCodec {
        LifecycleLogicalCodec::wrapping(Arc::new(BallistaLogicalExtensionCodec::default()))
    }
}

impl LifecycleLogicalCodec {
    /// This codec in front of `inner`, which handles every node and
    /// function that is not this crate's.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use customer_lifecycle_datafusion::LifecycleLogicalCodec;
    /// use datafusion_proto::logical_plan::DefaultLogicalExtensionCodec;
    /// let codec = LifecycleLogicalCodec::wrapping(Arc::new(DefaultLogicalExtensionCodec {}));
    /// # let _ = codec;
    /// ```
    pub fn wrapping(inner: Arc<dyn LogicalExtensionCodec>) -> LifecycleLogicalCodec {
        LifecycleLogicalCodec { inner }
    }
}

impl LogicalExtensionCodec for LifecycleLogicalCodec {
    fn try_decode(&self, buf: &[u8], inputs: &[LogicalPlan], ctx: &TaskContext) -> Result<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        self.inner.try_decode_table_provider(buf, table_ref, schema, ctx)
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        self.inner.try_encode_table_provider(table_ref, node, buf)
    }

    fn try_decode_file_format(&self, buf: &[u8], ctx: &TaskContext) -> Result<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(&self, buf: &mut Vec<u8>, node: Arc<dyn FileFormatFactory>) -> Result<()> {
        self.inner.try_encode_file_format(buf, node)
    }

    function_methods!();
}

/// The physical plan codec that carries this crate's functions (what a
/// scheduler sends its executors), wrapping another codec for everything
/// else (Ballista's by default: the shuffle nodes).
///
/// ```
/// use customer_lifecycle::{SummaryOptions, TimeUnit};
/// use customer_lifecycle::chrono::NaiveDate;
/// use customer_lifecycle_datafusion::{LifecyclePhysicalCodec, purchase_summary};
/// use datafusion_proto::physical_plan::PhysicalExtensionCodec;
/// let options = SummaryOptions::new(TimeUnit::Week).observation_end(NaiveDate::from_ymd_opt(1998, 6, 30).unwrap());
/// let codec = LifecyclePhysicalCodec::default();
/// let mut buf = Vec::new();
/// codec.try_encode_udaf(&purchase_summary(&options)?, &mut buf)?;
/// let back = codec.try_decode_udaf("purchase_summary", &buf)?;
/// assert_eq!(back.as_ref(), &purchase_summary(&options)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct LifecyclePhysicalCodec {
    inner: Arc<dyn PhysicalExtensionCodec>,
}

impl Default for LifecyclePhysicalCodec {
    /// Wrapping Ballista's physical codec.
    fn default() -> LifecyclePhysicalCodec {
        LifecyclePhysicalCodec::wrapping(Arc::new(BallistaPhysicalExtensionCodec::default()))
    }
}

impl LifecyclePhysicalCodec {
    /// This codec in front of `inner`, which handles every node and
    /// function that is not this crate's.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use customer_lifecycle_datafusion::LifecyclePhysicalCodec;
    /// use datafusion_proto::physical_plan::DefaultPhysicalExtensionCodec;
    /// let codec = LifecyclePhysicalCodec::wrapping(Arc::new(DefaultPhysicalExtensionCodec {}));
    /// # let _ = codec;
    /// ```
    pub fn wrapping(inner: Arc<dyn PhysicalExtensionCodec>) -> LifecyclePhysicalCodec {
        LifecyclePhysicalCodec { inner }
    }
}

impl PhysicalExtensionCodec for LifecyclePhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.inner.try_decode(buf, inputs, ctx, proto_converter)
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        self.inner.try_encode(node, buf, proto_converter)
    }

    function_methods!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use customer_lifecycle::clv::BetaGeo;

    #[test]
    fn foreign_and_hostile_definitions_are_refused_with_the_function_named() {
        let codec = LifecyclePhysicalCodec::default();
        let e = codec.try_decode_udf("p_alive", b"{\"customer_lifecycle_function\":1,\"function\":7}").unwrap_err();
        assert!(e.to_string().contains("p_alive"), "{e}");
        let e = codec
            .try_decode_udf("p_alive", b"{\"customer_lifecycle_function\":2,\"function\":{\"Score\":{}}}")
            .unwrap_err();
        assert!(e.to_string().contains("form 2"), "{e}");
        // A model whose saved parameters break its own rules is refused by the model's loader.
        let model = AnyPurchaseModel::from(BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259).unwrap());
        let json = serde_json::to_string(&model).unwrap().replace("0.2426", "-0.2426");
        let hostile = format!("{{\"customer_lifecycle_function\":1,\"function\":{{\"Score\":{{\"PAlive\":{json}}}}}}}");
        assert!(codec.try_decode_udf("p_alive", hostile.as_bytes()).is_err());
        // An aggregate's definition under a scalar's name, and the reverse.
        let mut buf = Vec::new();
        let options = SummaryOptions::new(customer_lifecycle::TimeUnit::Day)
            .observation_end(customer_lifecycle::chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap());
        codec.try_encode_udaf(&crate::purchase_summary(&options).unwrap(), &mut buf).unwrap();
        assert!(codec.try_decode_udf("purchase_summary", &buf).is_err());
        // Not ours: handed on (and Ballista's codec has no such function).
        assert!(codec.try_decode_udf("p_alive", b"").is_err());
    }
}
