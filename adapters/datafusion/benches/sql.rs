//! The adapter's SQL in DataFusion, and on Ballista (feature `ballista`).
//!
//! Data: the example's seeded Berlin shop, 100,000 customers (about 0.3M
//! orders and refunds, e-mail ids, shuffled over 8 Parquet files),
//! written once to `target/bench-sql-orders`. Measured:
//!
//! * `sql/summary/datafusion`: `purchase_summary` grouped by customer, the
//!   customer count collected (one process, all cores);
//! * `sql/predictions/datafusion`: the summary with `p_alive`,
//!   `expected_purchases`, `churn_risk` and `clv` per customer (models fitted
//!   once, outside the loop), the rows counted;
//! * `sql/*/ballista_2_executors`: the same queries on a loopback Ballista
//!   cluster of a scheduler and two executors of one task slot each, in this
//!   process (plans and shuffles cross gRPC and Arrow Flight on loopback).
//!
//! Run: `cargo bench -p customer-lifecycle-datafusion --features ballista --bench sql`
//! (without the feature, the DataFusion rows only).

use std::path::PathBuf;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use customer_lifecycle::chrono_tz::Europe::Berlin;
use customer_lifecycle::churn::ModelRisk;
use customer_lifecycle::clv::{BetaGeo, GammaGamma, PurchaseModel};
use customer_lifecycle::{SummaryOptions, TimeUnit};
use customer_lifecycle_datafusion::{ClvSettings, register, register_scoring};
use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use tokio::runtime::Runtime;

#[path = "../examples/sql_predictions/generator.rs"]
#[allow(dead_code)]
mod generator;

const SUMMARY: &str =
    "SELECT count(*) FROM (SELECT customer_id, purchase_summary(customer_id, ordered_at, amount, kind) AS s
                       FROM orders GROUP BY customer_id) WHERE s IS NOT NULL";

const PREDICTIONS: &str = "SELECT count(*), sum(p) FROM (
    SELECT p_alive(s['frequency'], s['recency'], s['T'])
         + expected_purchases(52, s['frequency'], s['recency'], s['T'])
         + churn_risk(s['frequency'], s['recency'], s['T'])
         + clv(s['frequency'], s['recency'], s['T'], s['monetary_value']) AS p
    FROM (SELECT customer_id, purchase_summary(customer_id, ordered_at, amount, kind) AS s
          FROM orders GROUP BY customer_id) WHERE s IS NOT NULL)";

/// The shop's Parquet directory and its summary options.
fn data() -> (PathBuf, SummaryOptions) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-sql-orders");
    if !dir.join("part-07.parquet").exists() {
        let log = generator::shop_log(42, 100_000);
        generator::write_parts(&dir, &generator::batches_of(&log, 42, 8).unwrap()).unwrap();
    }
    (dir, SummaryOptions::new(TimeUnit::Week).time_zone(Berlin).observation_end(generator::last_day()))
}

/// Registers the functions and the orders on `ctx`.
async fn prepare(ctx: &SessionContext, dir: &std::path::Path, options: &SummaryOptions) {
    register(ctx, options).unwrap();
    let purchases: Arc<dyn PurchaseModel> =
        Arc::new(BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259).unwrap().in_unit(TimeUnit::Week));
    let spend = Arc::new(GammaGamma::new(6.2488, 3.7446, 15.4477).unwrap());
    register_scoring(ctx, purchases, spend, ModelRisk::NoPurchaseWithin(13.0), ClvSettings::default()).unwrap();
    ctx.register_parquet("orders", dir.to_str().unwrap(), ParquetReadOptions::default()).await.unwrap();
}

async fn count(ctx: &SessionContext, sql: &str) -> i64 {
    let rows = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    rows[0].column(0).as_primitive::<Int64Type>().value(0)
}

fn bench(c: &mut Criterion) {
    let runtime = Runtime::new().unwrap();
    let (dir, options) = data();
    // Pushed to with the feature `ballista` only.
    #[cfg_attr(not(feature = "ballista"), allow(unused_mut))]
    let mut sessions: Vec<(&str, SessionContext)> = vec![("datafusion", SessionContext::new())];
    #[cfg(feature = "ballista")]
    {
        let cluster = runtime.block_on(customer_lifecycle_datafusion::LocalCluster::start(2, 1)).unwrap();
        sessions.push(("ballista_2_executors", runtime.block_on(cluster.context()).unwrap()));
    }
    let mut g = c.benchmark_group("sql");
    g.sample_size(10);
    let mut customers = Vec::new();
    for (name, ctx) in &sessions {
        runtime.block_on(prepare(ctx, &dir, &options));
        customers.push(runtime.block_on(count(ctx, SUMMARY)));
        g.bench_function(format!("summary/{name}"), |b| b.iter(|| runtime.block_on(count(ctx, SUMMARY))));
        g.bench_function(format!("predictions/{name}"), |b| b.iter(|| runtime.block_on(count(ctx, PREDICTIONS))));
    }
    g.finish();
    // Every session counted the same customers.
    assert!(customers.windows(2).all(|w| w[0] == w[1]), "{customers:?}");
}

criterion_group!(benches, bench);
criterion_main!(benches);
