//! [Apache DataFusion] functions for [`customer_lifecycle`]: the exact
//! purchase summary as an aggregate, fits from SQL, and scoring as scalar
//! functions — the core crate's logic, run where the data is.
//!
//! * [`purchase_summary`]: the aggregate
//!   `purchase_summary(customer_id, ordered_at, amount [, kind])`, whose
//!   per-customer state merges exactly across partitions (and machines), and
//!   whose result is `TransactionLog::summarize`'s row for the customer.
//! * [`summarize_orders`], [`purchase_histogram`], [`fit_orders`]: the
//!   summary as a DataFrame, the `GROUP BY frequency, recency, T` histogram
//!   the purchase models' likelihoods need, and the fits from it.
//! * [`p_alive`], [`expected_purchases`], [`churn_risk`], [`clv`]: scalar
//!   functions holding a fitted model, bit for bit the core's column
//!   functions; [`rfm_segment`] from given RFM cut points and segment map.
//!
//! ```
//! use std::sync::Arc;
//! use customer_lifecycle::{SummaryOptions, TimeUnit};
//! use customer_lifecycle::chrono::NaiveDate;
//! use customer_lifecycle::clv::BetaGeo;
//! use datafusion::prelude::SessionContext;
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! let ctx = SessionContext::new();
//! ctx.sql("CREATE TABLE orders (customer_id BIGINT, date DATE, amount DECIMAL(10, 2)) AS VALUES
//!          (1, DATE '2024-05-01', 10.00), (1, DATE '2024-05-08', 30.00), (2, DATE '2024-05-03', 5.50)").await?;
//! let end = NaiveDate::from_ymd_opt(2024, 5, 31).unwrap();
//! customer_lifecycle_datafusion::register(&ctx, &SummaryOptions::new(TimeUnit::Day).observation_end(end))?;
//! ctx.register_udf(customer_lifecycle_datafusion::p_alive(Arc::new(BetaGeo::new(0.24, 4.41, 0.79, 2.43)?)));
//! let rows = ctx.sql("
//!     WITH s AS (SELECT customer_id, purchase_summary(customer_id, date, amount) AS s FROM orders GROUP BY customer_id)
//!     SELECT customer_id, s['frequency'] AS x, p_alive(s['frequency'], s['recency'], s['T']) AS p
//!     FROM s ORDER BY customer_id").await?.collect().await?;
//! assert_eq!(rows[0].num_rows(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Errors of the core crate cross DataFusion as
//! `DataFusionError::External` holding a [`customer_lifecycle::Error`]
//! (downcast it to read the customer, field or value it names).
//!
//! [Apache DataFusion]: https://datafusion.apache.org

#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "ballista")]
mod cluster;
#[cfg(feature = "ballista")]
mod codec;
mod fitting;
mod scoring;
mod summary;

use std::sync::Arc;

use customer_lifecycle::SummaryOptions;
use customer_lifecycle::churn::ModelRisk;
use datafusion::common::{DataFusionError, Result};
use datafusion::prelude::SessionContext;

#[cfg(feature = "ballista")]
pub use cluster::{LocalCluster, ballista_config, connect};
#[cfg(feature = "ballista")]
pub use codec::{LifecycleLogicalCodec, LifecyclePhysicalCodec};
pub use fitting::{FittedModels, ModelKind, OrderColumns, fit_orders, purchase_histogram, summarize_orders};
pub use scoring::{
    ClvSettings, RfmSegmentFunction, ScoringFunction, churn_risk, clv, expected_purchases, p_alive, rfm_segment,
};
pub use summary::{PurchaseSummaryFunction, SUM_SCALE, purchase_summary, purchase_summary_named};

/// A core error as DataFusion carries it.
pub(crate) fn core_error(e: customer_lifecycle::Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// Registers `purchase_summary` for `options` on `ctx`.
///
/// ```
/// use customer_lifecycle::{SummaryOptions, TimeUnit};
/// use customer_lifecycle::chrono::NaiveDate;
/// use datafusion::execution::FunctionRegistry;
/// use datafusion::prelude::SessionContext;
/// let ctx = SessionContext::new();
/// let options = SummaryOptions::new(TimeUnit::Week).observation_end(NaiveDate::from_ymd_opt(1998, 6, 30).unwrap());
/// customer_lifecycle_datafusion::register(&ctx, &options)?;
/// assert!(ctx.udaf("purchase_summary").is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`purchase_summary`].
pub fn register(ctx: &SessionContext, options: &SummaryOptions) -> Result<()> {
    ctx.register_udaf(purchase_summary(options)?);
    Ok(())
}

/// Registers the scoring functions of fitted models on `ctx`: `p_alive`,
/// `expected_purchases`, `churn_risk` (with `risk`) and `clv` (with `settings`).
///
/// ```
/// use std::sync::Arc;
/// use customer_lifecycle::churn::ModelRisk;
/// use customer_lifecycle::clv::{BetaGeo, GammaGamma};
/// use customer_lifecycle_datafusion::{ClvSettings, register_scoring};
/// use datafusion::execution::FunctionRegistry;
/// use datafusion::prelude::SessionContext;
/// let ctx = SessionContext::new();
/// let purchases = Arc::new(BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?);
/// let spend = Arc::new(GammaGamma::new(6.2488, 3.7446, 15.4477)?);
/// register_scoring(&ctx, purchases, spend, ModelRisk::NotAlive, ClvSettings::default())?;
/// assert!(ctx.udf("clv").is_ok() && ctx.udf("churn_risk").is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`churn_risk`].
pub fn register_scoring(
    ctx: &SessionContext,
    purchases: Arc<dyn customer_lifecycle::clv::PurchaseModel>,
    spend: Arc<customer_lifecycle::clv::GammaGamma>,
    risk: ModelRisk,
    settings: ClvSettings,
) -> Result<()> {
    ctx.register_udf(p_alive(Arc::clone(&purchases)));
    ctx.register_udf(expected_purchases(Arc::clone(&purchases)));
    ctx.register_udf(churn_risk(Arc::clone(&purchases), risk)?);
    ctx.register_udf(clv(purchases, spend, settings));
    Ok(())
}
