//! The adapter on Apache DataFusion Ballista: a scheduler and two
//! executors on loopback, each executor with a fresh session that knows
//! the crate's functions only from the plans it receives (the plan codec).
//! The summary over partitioned Parquet equals the core's summary customer
//! for customer, the fit from the cluster's histogram equals the
//! in-process fit, and every scoring function's results equal the
//! single-process DataFusion results bit for bit.
//!
//! `cargo test -p customer-lifecycle-datafusion --features ballista --test ballista`

use std::sync::Arc;

use customer_lifecycle::chrono_tz::Europe::Berlin;
use customer_lifecycle::churn::ModelRisk;
use customer_lifecycle::clv::{BetaGeo, FitOptions, GammaGamma, PurchaseModel};
use customer_lifecycle::metrics::SegmentMap;
use customer_lifecycle::{RfmOptions, RfmScores, SummaryOptions, TimeUnit};
use customer_lifecycle_datafusion::{
    ClvSettings, LocalCluster, ModelKind, OrderColumns, fit_orders, register, register_scoring, rfm_segment,
};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};

mod common;

use common::{check_summary, date, generator, parquet_dir};

/// The whole result of `sql`, as one batch in the query's order.
async fn run(ctx: &SessionContext, sql: &str) -> RecordBatch {
    let df = ctx.sql(sql).await.unwrap();
    let schema = Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await.unwrap();
    concat_batches(&schema, &batches).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_executors_give_the_single_process_results() {
    let cluster = LocalCluster::start(2, 2).await.unwrap();
    assert_eq!(cluster.executors(), 2);
    let distributed = cluster.context().await.unwrap();
    let local = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(4));

    let log = generator::shop_log(3, 4_000);
    let dir = parquet_dir("ballista-shop", &log, 3, 6);
    let options = SummaryOptions::new(TimeUnit::Week).time_zone(Berlin).observation_end(date(2024, 12, 31));
    let summary = log.summarize(&options).unwrap();

    // The summary, customer for customer, with and without a holdout.
    check_summary(&distributed, &dir, &options, &summary).await;
    let holdout = SummaryOptions::new(TimeUnit::Week)
        .time_zone(Berlin)
        .calibration_end(date(2024, 6, 30))
        .observation_end(date(2024, 12, 31));
    check_summary(&distributed, &dir, &holdout, &log.summarize(&holdout).unwrap()).await;

    // The fit from the cluster's histogram is the fit in process.
    let orders = distributed.read_parquet(dir.to_str().unwrap(), ParquetReadOptions::default()).await.unwrap();
    let columns =
        OrderColumns { ordered_at: "ordered_at".into(), kind: Some("kind".into()), ..OrderColumns::default() };
    let fitted = fit_orders(orders, &columns, &options, ModelKind::BgNbd, &FitOptions::default()).await.unwrap();
    let in_process = BetaGeo::fit(&summary).unwrap();
    let (r, alpha, a, b) = in_process.parameters();
    assert_eq!(fitted.purchases.estimates().unwrap().0.to_vec(), vec![r, alpha, a, b]);
    assert_eq!(fitted.spend.parameters(), GammaGamma::fit(&summary).unwrap().parameters());

    // Scoring with the fitted models: the same table as one process.
    let purchases: Arc<dyn PurchaseModel> = Arc::clone(&fitted.purchases);
    let spend = Arc::clone(&fitted.spend);
    let rfm = RfmScores::compute(&summary, &RfmOptions::new()).unwrap();
    for ctx in [&distributed, &local] {
        register(ctx, &options).unwrap();
        register_scoring(
            ctx,
            Arc::clone(&purchases),
            Arc::clone(&spend),
            ModelRisk::NoPurchaseWithin(13.0),
            ClvSettings::default(),
        )
        .unwrap();
        ctx.register_udf(rfm_segment(rfm.cut_points().clone(), SegmentMap::standard()));
        let _ = ctx.deregister_table("orders");
        ctx.register_parquet("orders", dir.to_str().unwrap(), ParquetReadOptions::default()).await.unwrap();
    }
    let sql = "WITH t AS (SELECT customer_id, purchase_summary(customer_id, ordered_at, amount, kind) AS s
                          FROM orders GROUP BY customer_id)
               SELECT customer_id, s['frequency'] AS x, s['recency'] AS t_x, s['T'] AS age, s['net'] AS net,
                      p_alive(s['frequency'], s['recency'], s['T']) AS p_alive,
                      expected_purchases(52, s['frequency'], s['recency'], s['T']) AS expected,
                      churn_risk(s['frequency'], s['recency'], s['T']) AS risk,
                      clv(s['frequency'], s['recency'], s['T'], s['monetary_value']) AS clv,
                      rfm_segment(s['T'] - s['recency'], s['orders'], s['net']) AS segment
               FROM t WHERE s IS NOT NULL ORDER BY customer_id";
    let on_cluster = run(&distributed, sql).await;
    let in_one_process = run(&local, sql).await;
    assert_eq!(on_cluster.num_rows(), summary.len());
    // Ballista reads Parquet strings as Utf8, one process as Utf8View: the
    // ids are compared as Utf8, every other column as it is (RecordBatch
    // equality compares f64s value for value, and no score is NaN, so the
    // scores are the same bits).
    let utf8 = |b: &RecordBatch| cast(b.column(0), &DataType::Utf8).unwrap();
    assert_eq!(utf8(&on_cluster).as_ref(), utf8(&in_one_process).as_ref());
    assert_eq!(
        on_cluster.project(&(1..10).collect::<Vec<_>>()).unwrap(),
        in_one_process.project(&(1..10).collect::<Vec<_>>()).unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_row_on_an_executor_is_the_typed_error_naming_the_customer() {
    let cluster = LocalCluster::start(2, 1).await.unwrap();
    let ctx = cluster.context().await.unwrap();
    register(&ctx, &SummaryOptions::new(TimeUnit::Day).observation_end(date(2024, 5, 31))).unwrap();
    let e = ctx
        .sql(
            "SELECT customer_id, purchase_summary(customer_id, d, amount) FROM
               (VALUES ('ann@example.com', DATE '2024-05-01', 10.0), ('bob@example.com', DATE '2024-06-09', 5.0))
               AS t(customer_id, d, amount) GROUP BY customer_id",
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("bob@example.com"), "{e}");
    assert!(LocalCluster::start(0, 1).await.is_err());
}
