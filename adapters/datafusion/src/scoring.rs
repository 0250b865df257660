//! Scalar functions that score customers with fitted models: `p_alive`,
//! `expected_purchases`, `churn_risk` and `clv`; and `rfm_segment` from
//! given RFM cut points.
//!
//! Each function holds its model and calls the core crate's column
//! functions on every batch, so a value computed in SQL is the value
//! computed in process, bit for bit. A row with a NULL input gets NULL;
//! an impossible row (say, recency above T) is an error naming its row
//! within the batch.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use customer_lifecycle::churn::ModelRisk;
use customer_lifecycle::clv::{Clv, GammaGamma, PurchaseModel, Span};
use customer_lifecycle::metrics::{CutPoints, SegmentMap};
use customer_lifecycle::ndarray::{Array1, ArrayView1};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

use crate::core_error;

/// What a scoring function computes.
#[derive(Clone)]
enum Score {
    PAlive(Arc<dyn PurchaseModel>),
    /// Expected purchases in the next `t` (the first argument).
    ExpectedPurchases(Arc<dyn PurchaseModel>),
    ChurnRisk(Arc<dyn PurchaseModel>, ModelRisk),
    Clv(Arc<dyn PurchaseModel>, Arc<GammaGamma>, ClvSettings),
}

/// The CLV settings a `clv` function applies (see [`Clv`]).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "ballista", derive(serde::Serialize, serde::Deserialize))]
pub struct ClvSettings {
    /// The horizon.
    pub horizon: Span,
    /// The annual discount rate.
    pub annual_discount_rate: f64,
    /// The margin applied to spend.
    pub margin: f64,
}

impl Default for ClvSettings {
    /// The core's defaults: a 12-month horizon, 10 % a year, margin 1.
    fn default() -> ClvSettings {
        ClvSettings { horizon: Span::Months(12), annual_discount_rate: 0.1, margin: 1.0 }
    }
}

/// A scoring function (see the constructors [`p_alive`], [`expected_purchases`],
/// [`churn_risk`], [`clv`]).
pub struct ScoringFunction {
    name: String,
    score: Score,
    signature: Signature,
    /// What identifies the function for DataFusion's plan comparisons: a
    /// number drawn when it was made (clones of one function are equal;
    /// two functions made apart never are, whatever their models).
    instance: u64,
}

impl std::fmt::Debug for ScoringFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScoringFunction").field("name", &self.name).field("instance", &self.instance).finish()
    }
}

/// Equality and hash by the instance number (see [`ScoringFunction`]'s field).
macro_rules! identity_by_instance {
    ($t:ty) => {
        impl PartialEq for $t {
            fn eq(&self, other: &Self) -> bool {
                self.instance == other.instance
            }
        }

        impl Eq for $t {}

        impl Hash for $t {
            fn hash<H: Hasher>(&self, state: &mut H) {
                self.instance.hash(state);
            }
        }
    };
}

identity_by_instance!(ScoringFunction);
identity_by_instance!(RfmSegmentFunction);

/// Instances made so far: each function's identity.
static INSTANCES: AtomicU64 = AtomicU64::new(0);

fn scoring(name: &str, arguments: usize, score: Score) -> ScalarUDF {
    ScalarUDF::from(ScoringFunction {
        name: name.to_string(),
        score,
        signature: Signature::uniform(arguments, vec![DataType::Float64], Volatility::Immutable),
        instance: INSTANCES.fetch_add(1, Ordering::Relaxed),
    })
}

/// `p_alive(frequency, recency, T)`: P(alive) at the end of the
/// observation under `model` (the core's `probability_alive_columns`).
///
/// ```
/// use std::sync::Arc;
/// use customer_lifecycle::clv::BetaGeo;
/// let udf = customer_lifecycle_datafusion::p_alive(Arc::new(BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?));
/// assert_eq!(udf.name(), "p_alive");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn p_alive(model: Arc<dyn PurchaseModel>) -> ScalarUDF {
    scoring("p_alive", 3, Score::PAlive(model))
}

/// `expected_purchases(t, frequency, recency, T)`: expected purchases in
/// the next `t` (in the summary's unit) under `model` (the core's
/// `conditional_expected_purchases`).
///
/// ```
/// use std::sync::Arc;
/// use customer_lifecycle::clv::ParetoNbd;
/// let udf = customer_lifecycle_datafusion::expected_purchases(Arc::new(ParetoNbd::new(0.5532, 10.5763, 0.6062, 11.6715)?));
/// assert_eq!(udf.name(), "expected_purchases");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn expected_purchases(model: Arc<dyn PurchaseModel>) -> ScalarUDF {
    scoring("expected_purchases", 4, Score::ExpectedPurchases(model))
}

/// `churn_risk(frequency, recency, T)`: the model-based churn risk of
/// `customer_lifecycle::churn::model_risk` (`1 − P(alive)`, or P(no
/// purchase within t)).
///
/// ```
/// use std::sync::Arc;
/// use customer_lifecycle::churn::ModelRisk;
/// use customer_lifecycle::clv::BetaGeo;
/// let model = Arc::new(BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?);
/// let udf = customer_lifecycle_datafusion::churn_risk(model, ModelRisk::NoPurchaseWithin(13.0))?;
/// assert_eq!(udf.name(), "churn_risk");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// A horizon that is negative or not finite.
pub fn churn_risk(model: Arc<dyn PurchaseModel>, risk: ModelRisk) -> Result<ScalarUDF> {
    if let ModelRisk::NoPurchaseWithin(t) = risk
        && !(t.is_finite() && t >= 0.0)
    {
        return Err(core_error(customer_lifecycle::Error::InvalidArgument {
            name: "horizon",
            reason: format!("{t} must be finite and ≥ 0"),
        }));
    }
    Ok(scoring("churn_risk", 3, Score::ChurnRisk(model, risk)))
}

/// `clv(frequency, recency, T, monetary_value)`: the discounted lifetime
/// value of the core's [`Clv::compute_columns`] with `settings`.
///
/// ```
/// use std::sync::Arc;
/// use customer_lifecycle::clv::{BetaGeo, GammaGamma};
/// use customer_lifecycle_datafusion::{ClvSettings, clv};
/// let purchases = Arc::new(BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?);
/// let spend = Arc::new(GammaGamma::new(6.2488, 3.7446, 15.4477)?);
/// let udf = clv(purchases, spend, ClvSettings::default());
/// assert_eq!(udf.name(), "clv");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn clv(purchases: Arc<dyn PurchaseModel>, spend: Arc<GammaGamma>, settings: ClvSettings) -> ScalarUDF {
    scoring("clv", 4, Score::Clv(purchases, spend, settings))
}

/// Columns of the arguments as f64 slices, the rows where every argument
/// is valid, and the row count.
fn arguments(args: &[ColumnarValue], rows: usize) -> Result<(Vec<ArrayRef>, Vec<bool>)> {
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let mut valid = vec![true; rows];
    for a in &arrays {
        if a.data_type() != &DataType::Float64 {
            return Err(DataFusionError::Internal(format!("scoring argument of type {}", a.data_type())));
        }
        if a.null_count() > 0 {
            valid.iter_mut().enumerate().for_each(|(i, v)| *v &= a.is_valid(i));
        }
    }
    Ok((arrays, valid))
}

fn values(array: &ArrayRef, valid: &[bool]) -> Array1<f64> {
    let v = array.as_primitive::<Float64Type>().values();
    if valid.iter().all(|&b| b) {
        Array1::from(v.to_vec())
    } else {
        v.iter().zip(valid).filter(|(_, ok)| **ok).map(|(x, _)| *x).collect()
    }
}

impl ScoringFunction {
    fn compute(&self, columns: &[Array1<f64>], horizon: Option<f64>) -> customer_lifecycle::Result<Array1<f64>> {
        let view = |k: usize| -> ArrayView1<'_, f64> { columns[k].view() };
        match &self.score {
            Score::PAlive(m) => m.probability_alive_columns(view(0), view(1), view(2)),
            Score::ExpectedPurchases(m) => match horizon {
                Some(t) => m.conditional_expected_purchases_columns(t, view(1), view(2), view(3)),
                None => (0..columns[0].len())
                    .map(|i| {
                        m.conditional_expected_purchases(columns[0][i], columns[1][i], columns[2][i], columns[3][i])
                    })
                    .collect(),
            },
            Score::ChurnRisk(m, ModelRisk::NoPurchaseWithin(t)) => (0..columns[0].len())
                .map(|i| m.probability_no_purchase(*t, columns[0][i], columns[1][i], columns[2][i]))
                .collect(),
            Score::ChurnRisk(m, _) => Ok(m.probability_alive_columns(view(0), view(1), view(2))?.mapv(|p| 1.0 - p)),
            Score::Clv(m, spend, s) => Clv::new(m.as_ref(), spend)
                .horizon(s.horizon)
                .annual_discount_rate(s.annual_discount_rate)
                .margin(s.margin)
                .compute_columns(view(0), view(1), view(2), view(3)),
        }
    }
}

#[cfg(feature = "ballista")]
impl ScoringFunction {
    /// The definition the plan codec sends; `None` when a model has no
    /// saved form (one defined outside the core crate).
    pub(crate) fn wire(&self) -> Option<crate::codec::ScoreWire> {
        use crate::codec::ScoreWire;
        Some(match &self.score {
            Score::PAlive(m) => ScoreWire::PAlive(m.to_any()?),
            Score::ExpectedPurchases(m) => ScoreWire::ExpectedPurchases(m.to_any()?),
            Score::ChurnRisk(m, risk) => ScoreWire::ChurnRisk(m.to_any()?, *risk),
            Score::Clv(m, spend, settings) => {
                ScoreWire::Clv(m.to_any()?, Box::new(GammaGamma::clone(spend)), *settings)
            }
        })
    }

    /// The function a definition describes, built by the public
    /// constructors (so with their checks).
    pub(crate) fn from_wire(wire: crate::codec::ScoreWire) -> Result<ScalarUDF> {
        use crate::codec::ScoreWire;
        Ok(match wire {
            ScoreWire::PAlive(m) => p_alive(m.into_shared()),
            ScoreWire::ExpectedPurchases(m) => expected_purchases(m.into_shared()),
            ScoreWire::ChurnRisk(m, risk) => churn_risk(m.into_shared(), risk)?,
            ScoreWire::Clv(m, spend, settings) => clv(m.into_shared(), Arc::new(*spend), settings),
        })
    }
}

impl ScalarUDFImpl for ScoringFunction {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        // A constant horizon uses the column function (shared work across rows).
        let horizon = match (&self.score, args.args.first()) {
            (Score::ExpectedPurchases(_), Some(ColumnarValue::Scalar(ScalarValue::Float64(Some(t))))) => Some(*t),
            _ => None,
        };
        let (arrays, valid) = arguments(&args.args, rows)?;
        let columns: Vec<Array1<f64>> = arrays.iter().map(|a| values(a, &valid)).collect();
        let scores = self.compute(&columns, horizon).map_err(core_error)?;
        let mut scores = scores.into_iter();
        let out: Float64Array = valid.iter().map(|&ok| if ok { scores.next() } else { None }).collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// `rfm_segment(since_last_purchase, orders, monetary)`: the RFM segment
/// label of `segments` for the value-based scores from `cut_points` (the
/// core's [`CutPoints::scores_of`](customer_lifecycle::metrics::CutPoints::scores_of)):
/// the label `RfmScores::compute` and `SegmentMap::assign` give to a
/// customer with these values. `since_last_purchase` is `T − recency`,
/// `monetary` the measure the cut points were computed on (net spend or
/// average order value).
///
/// ```
/// use customer_lifecycle::{RfmOptions, RfmScores, SummaryOptions, TimeUnit, TransactionLog};
/// use customer_lifecycle::metrics::SegmentMap;
/// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
/// let rfm = RfmScores::compute(&summary, &RfmOptions::new())?;
/// let udf = customer_lifecycle_datafusion::rfm_segment(rfm.cut_points().clone(), SegmentMap::standard());
/// assert_eq!(udf.name(), "rfm_segment");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn rfm_segment(cut_points: CutPoints, segments: SegmentMap) -> ScalarUDF {
    ScalarUDF::from(RfmSegmentFunction {
        cut_points,
        segments,
        signature: Signature::uniform(3, vec![DataType::Float64], Volatility::Immutable),
        instance: INSTANCES.fetch_add(1, Ordering::Relaxed),
    })
}

/// The `rfm_segment` function (see [`rfm_segment`]).
pub struct RfmSegmentFunction {
    cut_points: CutPoints,
    segments: SegmentMap,
    signature: Signature,
    /// As [`ScoringFunction`]'s: clones are equal, functions made apart never.
    instance: u64,
}

impl std::fmt::Debug for RfmSegmentFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RfmSegmentFunction").field("instance", &self.instance).finish()
    }
}

#[cfg(feature = "ballista")]
impl RfmSegmentFunction {
    /// The definition the plan codec sends.
    pub(crate) fn wire(&self) -> crate::codec::Wire {
        crate::codec::Wire::RfmSegment { cut_points: self.cut_points.clone(), segments: self.segments.clone() }
    }
}

impl ScalarUDFImpl for RfmSegmentFunction {
    fn name(&self) -> &str {
        "rfm_segment"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (arrays, valid) = arguments(&args.args, args.number_rows)?;
        let column = |k: usize| arrays[k].as_primitive::<Float64Type>().values();
        let (since, orders, monetary) = (column(0), column(1), column(2));
        let mut out = StringBuilder::with_capacity(args.number_rows, 16 * args.number_rows);
        for (i, &ok) in valid.iter().enumerate() {
            if ok {
                let scores = self.cut_points.scores_of(since[i], orders[i], monetary[i]).map_err(core_error)?;
                out.append_value(self.segments.segment(scores));
            } else {
                out.append_null();
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}
