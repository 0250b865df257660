//! The adapter against the core crate: the SQL summary equals
//! `TransactionLog::summarize` customer for customer (bit for bit), over
//! several Parquet files and partitions, on CDNOW_master and on generated
//! shop logs (e-mail ids, Berlin timestamps, refunds, customers acquired
//! up to the last day, rows shuffled so partitions interleave per
//! customer); the scoring functions equal the in-process column
//! functions bit for bit; a fit from SQL equals the in-process fit.

use std::sync::Arc;

use customer_lifecycle::chrono_tz::Europe::Berlin;
use customer_lifecycle::churn::{ModelRisk, model_risk};
use customer_lifecycle::clv::{BetaGeo, Clv, FitOptions, GammaGamma, ParetoNbd, PurchaseModel};
use customer_lifecycle::rust_decimal::Decimal;
use customer_lifecycle::{CustomerId, SummaryOptions, TimeUnit};
use customer_lifecycle_datafusion::{ClvSettings, ModelKind, OrderColumns, fit_orders, register, register_scoring};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{Decimal128Type, Float64Type, Int64Type};
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};

mod common;

use common::{cdnow_master, check_summary, date, generator, parquet_dir};

/// Sessions that take each of DataFusion's aggregation routes: the groups
/// accumulator over four partitions in small batches, and the route that
/// skips partial aggregation (each row turned into a state and merged).
fn sessions() -> Vec<SessionContext> {
    let partitioned = SessionConfig::new().with_target_partitions(4).with_batch_size(97);
    let mut skipping = SessionConfig::new().with_target_partitions(3).with_batch_size(256);
    skipping.options_mut().execution.skip_partial_aggregation_probe_rows_threshold = 1;
    skipping.options_mut().execution.skip_partial_aggregation_probe_ratio_threshold = 0.0;
    vec![SessionContext::new_with_config(partitioned), SessionContext::new_with_config(skipping)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cdnow_master_summary_equals_the_core_over_partitions() {
    let log = cdnow_master();
    let dir = parquet_dir("cdnow", &log, 7, 5);
    for options in [
        SummaryOptions::new(TimeUnit::Week).observation_end(date(1998, 6, 30)),
        SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)),
        SummaryOptions::new(TimeUnit::Month).calendar_periods().observation_end(date(1998, 6, 30)),
    ] {
        let expected = log.summarize(&options).unwrap();
        for ctx in sessions() {
            check_summary(&ctx, &dir, &options, &expected).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shop_summary_equals_the_core_over_partitions() {
    for seed in [1, 2] {
        let log = generator::shop_log(seed, 3_000);
        let dir = parquet_dir(&format!("shop{seed}"), &log, seed, 4);
        for options in [
            SummaryOptions::new(TimeUnit::Day).time_zone(Berlin).observation_end(date(2024, 12, 31)),
            SummaryOptions::new(TimeUnit::Week)
                .time_zone(Berlin)
                .calibration_end(date(2024, 6, 30))
                .observation_end(date(2024, 12, 31)),
        ] {
            let expected = log.summarize(&options).unwrap();
            for ctx in sessions() {
                check_summary(&ctx, &dir, &options, &expected).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoring_functions_equal_the_core_bit_for_bit() {
    let log = cdnow_master();
    let dir = parquet_dir("cdnow-score", &log, 3, 3);
    let options = SummaryOptions::new(TimeUnit::Week).observation_end(date(1998, 6, 30));
    let summary = log.summarize(&options).unwrap();
    let purchases: Arc<dyn PurchaseModel> = Arc::new(BetaGeo::fit(&summary).unwrap());
    let spend = Arc::new(GammaGamma::fit(&summary).unwrap());
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(4).with_batch_size(500));
    register(&ctx, &options).unwrap();
    register_scoring(
        &ctx,
        Arc::clone(&purchases),
        Arc::clone(&spend),
        ModelRisk::NoPurchaseWithin(13.0),
        ClvSettings::default(),
    )
    .unwrap();
    ctx.register_parquet("orders", dir.to_str().unwrap(), ParquetReadOptions::default()).await.unwrap();
    let batches = ctx
        .sql(
            "WITH t AS (SELECT customer_id, purchase_summary(customer_id, ordered_at, amount, kind) AS s FROM orders GROUP BY customer_id)
             SELECT customer_id, p_alive(s['frequency'], s['recency'], s['T']),
                    expected_purchases(52, s['frequency'], s['recency'], s['T']),
                    churn_risk(s['frequency'], s['recency'], s['T']),
                    clv(s['frequency'], s['recency'], s['T'], s['monetary_value'])
             FROM t",
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let (x, t_x, age, m) = (summary.frequency(), summary.recency(), summary.age(), summary.monetary_value());
    let alive = purchases.probability_alive_columns(x, t_x, age).unwrap();
    let expected = purchases.conditional_expected_purchases_columns(52.0, x, t_x, age).unwrap();
    let risk = model_risk(purchases.as_ref(), &summary, ModelRisk::NoPurchaseWithin(13.0)).unwrap();
    let risk = risk.column("churn_risk").unwrap();
    let value = Clv::new(purchases.as_ref(), &spend).compute_columns(x, t_x, age, m).unwrap();
    let mut seen = 0;
    for b in &batches {
        for i in 0..b.num_rows() {
            let k = summary.position(&CustomerId::Number(b.column(0).as_primitive::<Int64Type>().value(i))).unwrap();
            let f = |c: usize| b.column(c).as_primitive::<Float64Type>().value(i).to_bits();
            assert_eq!(f(1), alive[k].to_bits());
            assert_eq!(f(2), expected[k].to_bits());
            assert_eq!(f(3), risk[k].to_bits());
            assert_eq!(f(4), value[k].to_bits());
            seen += 1;
        }
    }
    assert_eq!(seen, summary.len());
    // A NULL input gives NULL, not an error or a made-up value.
    let nulls = ctx
        .sql("SELECT p_alive(CAST(NULL AS DOUBLE), 1.0, 2.0), p_alive(1.0, 1.0, 2.0)")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let col = |c: usize| nulls[0].column(c).as_primitive::<Float64Type>().clone();
    assert!(col(0).is_null(0));
    assert_eq!(col(1).value(0).to_bits(), purchases.probability_alive(1.0, 1.0, 2.0).unwrap().to_bits());
    // An impossible row is an error, named.
    let e = ctx.sql("SELECT p_alive(1.0, 5.0, 2.0)").await.unwrap().collect().await.unwrap_err();
    assert!(e.to_string().contains("recency"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fit_from_sql_equals_the_fit_in_process() {
    let log = cdnow_master();
    let dir = parquet_dir("cdnow-fit", &log, 11, 4);
    let options =
        SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30));
    let summary = log.summarize(&options).unwrap();
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(4));
    let orders = ctx.read_parquet(dir.to_str().unwrap(), ParquetReadOptions::default()).await.unwrap();
    let columns =
        OrderColumns { ordered_at: "ordered_at".into(), kind: Some("kind".into()), ..OrderColumns::default() };
    let fit = FitOptions::default();
    let fitted = fit_orders(orders.clone(), &columns, &options, ModelKind::BgNbd, &fit).await.unwrap();
    assert_eq!(fitted.histogram.customers(), summary.len() as u64);
    let in_process = BetaGeo::fit(&summary).unwrap();
    let (r, alpha, a, b) = in_process.parameters();
    let sql = fitted.purchases.estimates().unwrap().0.to_vec();
    assert_eq!(sql, vec![r, alpha, a, b]);
    let spend = GammaGamma::fit(&summary).unwrap();
    assert_eq!(fitted.spend.parameters(), spend.parameters());
    let pareto = fit_orders(orders, &columns, &options, ModelKind::ParetoNbd, &fit).await.unwrap();
    let (r, alpha, s, beta) = ParetoNbd::fit(&summary).unwrap().parameters();
    assert_eq!(pareto.purchases.estimates().unwrap().0.to_vec(), vec![r, alpha, s, beta]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rows_are_typed_errors_naming_the_customer() {
    let ctx = SessionContext::new();
    register(&ctx, &SummaryOptions::new(TimeUnit::Day).observation_end(date(2024, 5, 31))).unwrap();
    let run = |sql: &'static str| {
        let ctx = ctx.clone();
        async move { ctx.sql(sql).await?.collect().await }
    };
    let cases = [
        (
            "SELECT purchase_summary(id, d, a) FROM (VALUES ('ana@x.io', DATE '2024-06-02', 5.0)) t(id, d, a) GROUP BY id",
            "after the observation end",
        ),
        (
            "SELECT purchase_summary(id, d, a) FROM (VALUES ('ana@x.io', DATE '2024-05-02', -5.0)) t(id, d, a) GROUP BY id",
            "negative",
        ),
        (
            "SELECT purchase_summary(id, d, a) FROM (VALUES ('ana@x.io', DATE '2024-05-02', 0.0000001)) t(id, d, a) GROUP BY id",
            "decimal places",
        ),
        (
            "SELECT purchase_summary(id, d, a, k) FROM (VALUES ('ana@x.io', DATE '2024-05-02', 5.0, 'gift')) t(id, d, a, k) GROUP BY id",
            "expected order or return",
        ),
        (
            "SELECT purchase_summary(id, d, a, k) FROM (VALUES ('ana@x.io', DATE '2024-05-02', 5.0, 'refund')) t(id, d, a, k) GROUP BY id",
            "return",
        ),
        (
            "SELECT purchase_summary(id, d, a) FROM (VALUES ('ana@x.io', CAST(NULL AS DATE), 5.0)) t(id, d, a) GROUP BY id",
            "no value",
        ),
        (
            "SELECT purchase_summary(id, d, a) FROM (VALUES ('ana@x.io', DATE '2024-05-02', 'ten')) t(id, d, a) GROUP BY id",
            "amount",
        ),
    ];
    for (sql, words) in cases {
        let e = run(sql).await.unwrap_err().to_string();
        assert!(e.contains(words), "{sql}: {e}");
        if !sql.contains("'ten'") {
            assert!(e.contains("ana@x.io"), "{sql}: {e}");
        }
    }
    // Rows of two customers in one group (grouped by something else) are refused.
    let e = run("SELECT purchase_summary(id, d, a) FROM (VALUES (1, DATE '2024-05-02', 5.0), (2, DATE '2024-05-03', 5.0)) t(id, d, a)")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("customer"), "{e}");
    // Options without an observation end cannot make the function.
    assert!(register(&ctx, &SummaryOptions::new(TimeUnit::Day)).is_err());
    // A float amount is read by its shortest text, as the core's Arrow loader reads it.
    let b = run("SELECT purchase_summary(id, d, a)['gross'] FROM (VALUES (7, DATE '2024-05-02', 12.25), (7, DATE '2024-05-09', 0.1)) t(id, d, a) GROUP BY id").await.unwrap();
    let gross = b[0].column(0).as_primitive::<Decimal128Type>().value(0);
    assert_eq!(Decimal::from_i128_with_scale(gross, 6), Decimal::new(1235, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfm_segments_in_sql_equal_the_core() {
    use customer_lifecycle::metrics::SegmentMap;
    use customer_lifecycle::{RfmOptions, RfmScores};
    let log = cdnow_master();
    let dir = parquet_dir("cdnow-rfm", &log, 5, 3);
    let options = SummaryOptions::new(TimeUnit::Week).observation_end(date(1998, 6, 30));
    let summary = log.summarize(&options).unwrap();
    let rfm = RfmScores::compute(&summary, &RfmOptions::new()).unwrap();
    let map = SegmentMap::standard();
    let labels = map.assign(&rfm).unwrap();
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(4).with_batch_size(700));
    register(&ctx, &options).unwrap();
    ctx.register_udf(customer_lifecycle_datafusion::rfm_segment(rfm.cut_points().clone(), map.clone()));
    ctx.register_parquet("orders", dir.to_str().unwrap(), ParquetReadOptions::default()).await.unwrap();
    let batches = ctx
        .sql(
            "WITH t AS (SELECT customer_id, purchase_summary(customer_id, ordered_at, amount, kind) AS s FROM orders GROUP BY customer_id)
             SELECT customer_id, rfm_segment(s['T'] - s['recency'], s['orders'], s['net']) FROM t",
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let mut seen = 0;
    for b in &batches {
        let text =
            datafusion::arrow::compute::cast(b.column(1), &datafusion::arrow::datatypes::DataType::Utf8).unwrap();
        for i in 0..b.num_rows() {
            let k = summary.position(&CustomerId::Number(b.column(0).as_primitive::<Int64Type>().value(i))).unwrap();
            assert_eq!(text.as_string::<i32>().value(i), labels[k]);
            seen += 1;
        }
    }
    assert_eq!(seen, summary.len());
}
