//! From orders in DataFusion to fitted models: the summary is computed
//! where the data is, the fit runs here on what the likelihood needs.
//!
//! The BG/NBD, MBG/NBD and Pareto/NBD likelihoods read only each
//! customer's (x, t_x, T), so the query collects `GROUP BY frequency,
//! recency, T` with a count — a few thousand rows for millions of
//! customers — into a [`PurchaseHistogram`]. Gamma-Gamma reads each repeat
//! customer's frequency and mean spend, so those two columns of the repeat
//! customers are collected (16 bytes a customer).

use std::sync::Arc;

use customer_lifecycle::clv::{
    BetaGeo, BetaGeoVariant, FitOptions, GammaGamma, ParetoNbd, PurchaseHistogram, PurchaseModel,
};
use customer_lifecycle::ndarray::Array1;
use customer_lifecycle::{SummaryOptions, TimeUnit};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::common::{DataFusionError, Result};
use datafusion::functions::core::expr_fn::get_field;
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::prelude::{DataFrame, Expr, cast, ident, lit};

use crate::core_error;
use crate::summary::purchase_summary;

/// The columns of an orders table (the CSV loader's default names).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderColumns {
    /// The customer id column.
    pub customer_id: String,
    /// The order time (timestamp or date).
    pub ordered_at: String,
    /// The amount.
    pub amount: String,
    /// An optional kind column (`order`/`return`).
    pub kind: Option<String>,
}

impl Default for OrderColumns {
    /// `customer_id`, `date`, `amount`, no kind column.
    fn default() -> OrderColumns {
        OrderColumns {
            customer_id: "customer_id".into(),
            ordered_at: "date".into(),
            amount: "amount".into(),
            kind: None,
        }
    }
}

/// The per-customer summary of an orders table, as a DataFrame with the
/// columns `customer_id`, `frequency`, `recency`, `T`, `monetary_value`,
/// `orders`, `gross`, `returns`, `net` (and the holdout columns with a
/// calibration end): one row per customer the core summary lists.
///
/// ```
/// # use std::sync::Arc;
/// # use customer_lifecycle::arrow_array::{ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch};
/// use customer_lifecycle::{SummaryOptions, TimeUnit};
/// use customer_lifecycle::chrono::NaiveDate;
/// use customer_lifecycle_datafusion::{OrderColumns, summarize_orders};
/// use datafusion::prelude::SessionContext;
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let ctx = SessionContext::new();
/// let batch = RecordBatch::try_from_iter([
///     ("customer_id", Arc::new(Int64Array::from(vec![1, 1, 2])) as ArrayRef),
///     ("date", Arc::new(Date32Array::from(vec![19_844, 19_851, 19_850])) as ArrayRef),
///     ("amount", Arc::new(Float64Array::from(vec![10.0, 30.0, 5.5])) as ArrayRef),
/// ])?;
/// let orders = ctx.read_batch(batch)?;
/// let options = SummaryOptions::new(TimeUnit::Day).observation_end(NaiveDate::from_ymd_opt(2024, 5, 31).unwrap());
/// let summary = summarize_orders(orders, &OrderColumns::default(), &options)?;
/// let rows: usize = summary.collect().await?.iter().map(|b| b.num_rows()).sum();
/// assert_eq!(rows, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`purchase_summary`], and DataFusion's planning errors (a missing column).
pub fn summarize_orders(orders: DataFrame, columns: &OrderColumns, options: &SummaryOptions) -> Result<DataFrame> {
    let udaf = purchase_summary(options)?;
    let mut args = vec![ident(&columns.customer_id), ident(&columns.ordered_at), ident(&columns.amount)];
    if let Some(kind) = &columns.kind {
        args.push(ident(kind));
    }
    let mut fields = vec!["frequency", "recency", "T", "monetary_value", "orders", "gross", "returns", "net"];
    if options.calibration_end_date().is_some() {
        fields.extend([
            "frequency_holdout",
            "monetary_value_holdout",
            "monetary_value_per_period_holdout",
            "orders_holdout",
            "gross_holdout",
            "returns_holdout",
        ]);
    }
    let mut select: Vec<Expr> = vec![ident(&columns.customer_id).alias("customer_id")];
    select.extend(fields.into_iter().map(|f| get_field(ident("summary"), f).alias(f)));
    orders
        .aggregate(vec![ident(&columns.customer_id)], vec![udaf.call(args).alias("summary")])?
        .filter(ident("summary").is_not_null())?
        .select(select)
}

/// The histogram of distinct `(frequency, recency, T)` of a summary
/// DataFrame (as [`summarize_orders`] gives), counted in the engine.
///
/// ```
/// # use std::sync::Arc;
/// # use customer_lifecycle::arrow_array::{ArrayRef, Float64Array, RecordBatch};
/// use customer_lifecycle_datafusion::purchase_histogram;
/// use datafusion::prelude::SessionContext;
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let ctx = SessionContext::new();
/// let batch = RecordBatch::try_from_iter([
///     ("frequency", Arc::new(Float64Array::from(vec![1.0, 1.0, 0.0])) as ArrayRef),
///     ("recency", Arc::new(Float64Array::from(vec![3.0, 3.0, 0.0])) as ArrayRef),
///     ("T", Arc::new(Float64Array::from(vec![9.0, 9.0, 4.0])) as ArrayRef),
/// ])?;
/// let histogram = purchase_histogram(ctx.read_batch(batch)?).await?;
/// assert_eq!((histogram.len(), histogram.customers()), (2, 3));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// The core's histogram errors (an impossible row, nobody repeating), and
/// DataFusion's.
pub async fn purchase_histogram(summary: DataFrame) -> Result<PurchaseHistogram> {
    let f64_of = |name: &str| cast(ident(name), DataType::Float64).alias(name);
    let batches = summary
        .aggregate(vec![f64_of("frequency"), f64_of("recency"), f64_of("T")], vec![count(lit(1)).alias("customers")])?
        .collect()
        .await?;
    let (mut x, mut t_x, mut t, mut counts) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for b in &batches {
        let floats = |k: usize| b.column(k).as_primitive::<Float64Type>();
        let n = cast_counts(b)?;
        for (i, &count) in n.iter().enumerate() {
            if floats(0).is_null(i) || floats(1).is_null(i) || floats(2).is_null(i) {
                return Err(core_error(customer_lifecycle::Error::Columnar {
                    what: "summary".into(),
                    reason: "a NULL frequency, recency or T".into(),
                }));
            }
            x.push(floats(0).value(i));
            t_x.push(floats(1).value(i));
            t.push(floats(2).value(i));
            counts.push(count);
        }
    }
    PurchaseHistogram::from_counts(&x, &t_x, &t, &counts).map_err(core_error)
}

fn cast_counts(b: &RecordBatch) -> Result<Vec<u64>> {
    let c = b.column(3);
    match c.data_type() {
        DataType::Int64 => Ok(c.as_primitive::<Int64Type>().values().iter().map(|&v| v.max(0) as u64).collect()),
        other => Err(DataFusionError::Internal(format!("COUNT gave {other}"))),
    }
}

/// Which purchase model [`fit_orders`] fits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelKind {
    /// BG/NBD.
    BgNbd,
    /// MBG/NBD.
    MbgNbd,
    /// Pareto/NBD.
    ParetoNbd,
}

/// What [`fit_orders`] gives: the purchase model, the spend model and the
/// summary DataFrame they were fitted from (to score with the functions of
/// [`crate::register_scoring`]).
pub struct FittedModels {
    /// The purchase model, in the summary's unit.
    pub purchases: Arc<dyn PurchaseModel>,
    /// Gamma-Gamma on the repeat customers' mean spend.
    pub spend: Arc<GammaGamma>,
    /// The histogram the purchase model was fitted to.
    pub histogram: PurchaseHistogram,
    /// The per-customer summary ([`summarize_orders`]).
    pub summary: DataFrame,
}

/// Summarises an orders DataFrame in the engine and fits a purchase model
/// (from the histogram) and Gamma-Gamma (from the repeat customers'
/// frequency and mean spend, in customer-id order) here: the same
/// estimates as the in-process fits to the same summary (bit for bit below
/// the core's warm-start size of 80,000 customers, to the fit's tolerance
/// above it).
///
/// # Errors
/// As [`summarize_orders`] and [`purchase_histogram`]; the fits' errors.
pub async fn fit_orders(
    orders: DataFrame,
    columns: &OrderColumns,
    options: &SummaryOptions,
    kind: ModelKind,
    fit: &FitOptions,
) -> Result<FittedModels> {
    let summary = summarize_orders(orders, columns, options)?;
    let histogram = purchase_histogram(summary.clone()).await?;
    let unit: TimeUnit = options.unit();
    let purchases: Arc<dyn PurchaseModel> = match kind {
        ModelKind::BgNbd => Arc::new(
            BetaGeo::fit_histogram(BetaGeoVariant::Classic, &histogram, fit).map_err(core_error)?.in_unit(unit),
        ),
        ModelKind::MbgNbd => Arc::new(
            BetaGeo::fit_histogram(BetaGeoVariant::Modified, &histogram, fit).map_err(core_error)?.in_unit(unit),
        ),
        ModelKind::ParetoNbd => Arc::new(ParetoNbd::fit_histogram(&histogram, fit).map_err(core_error)?.in_unit(unit)),
    };
    // In customer-id order, the order of the core summary's rows: the
    // spend likelihood is a sum over customers, so the same order gives the
    // same bits.
    let repeat = summary
        .clone()
        .filter(ident("frequency").gt(lit(0.0)))?
        .sort(vec![ident("customer_id").sort(true, false)])?
        .select(vec![ident("frequency"), ident("monetary_value")])?
        .collect()
        .await?;
    let (mut x, mut m) = (Vec::new(), Vec::new());
    for b in &repeat {
        x.extend_from_slice(b.column(0).as_primitive::<Float64Type>().values());
        m.extend_from_slice(b.column(1).as_primitive::<Float64Type>().values());
    }
    let spend = GammaGamma::fit_columns(Array1::from(x).view(), Array1::from(m).view(), fit).map_err(core_error)?;
    Ok(FittedModels { purchases, spend: Arc::new(spend), histogram, summary })
}
