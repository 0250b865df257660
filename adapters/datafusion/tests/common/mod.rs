//! What the adapter's integration tests share: the seeded shop generator,
//! Parquet directories of a log, and the summary check against the core.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use customer_lifecycle::chrono::NaiveDate;
use customer_lifecycle::rust_decimal::Decimal;
use customer_lifecycle::{CustomerId, PurchaseSummary, SummaryOptions, TransactionLog};
use customer_lifecycle_datafusion::purchase_summary_named;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{Decimal128Type, Float64Type, Int64Type, UInt32Type};
use datafusion::prelude::{ParquetReadOptions, SessionContext};

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// The example's seeded shop generator and Parquet writer.
#[path = "../../examples/sql_predictions/generator.rs"]
pub mod generator;

/// The log's rows, shuffled, as Parquet files in a fresh directory.
pub fn parquet_dir(name: &str, log: &TransactionLog, seed: u64, files: usize) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("clm-df-{name}-{}", std::process::id()));
    generator::write_parts(&dir, &generator::batches_of(log, seed, files).unwrap()).unwrap();
    dir
}

/// Runs the summary in SQL and checks it against `expected`, customer for customer.
pub async fn check_summary(ctx: &SessionContext, dir: &Path, options: &SummaryOptions, expected: &PurchaseSummary) {
    ctx.register_udaf(purchase_summary_named("summary_of", options).unwrap());
    let _ = ctx.deregister_table("orders");
    ctx.register_parquet("orders", dir.to_str().unwrap(), ParquetReadOptions::default()).await.unwrap();
    let holdout = options.calibration_end_date().is_some();
    let extra = if holdout { ", s['frequency_holdout'], s['monetary_value_holdout'], s['gross_holdout']" } else { "" };
    let sql = format!(
        "WITH t AS (SELECT customer_id, summary_of(customer_id, ordered_at, amount, kind) AS s FROM orders GROUP BY customer_id)
         SELECT customer_id, s['frequency'], s['recency'], s['T'], s['monetary_value'], s['orders'], s['gross'], s['returns']{extra}
         FROM t WHERE s IS NOT NULL"
    );
    let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
    let mut seen = 0;
    for b in &batches {
        for i in 0..b.num_rows() {
            let id = match b.column(0).data_type() {
                datafusion::arrow::datatypes::DataType::Int64 => {
                    CustomerId::Number(b.column(0).as_primitive::<Int64Type>().value(i))
                }
                _ => CustomerId::Text(
                    datafusion::arrow::compute::cast(b.column(0), &datafusion::arrow::datatypes::DataType::Utf8)
                        .unwrap()
                        .as_string::<i32>()
                        .value(i)
                        .to_string(),
                ),
            };
            let row = expected.get(&id).unwrap_or_else(|| panic!("customer {id} not in the summary"));
            let f = |k: usize| b.column(k).as_primitive::<Float64Type>().value(i);
            let dec =
                |k: usize| Decimal::from_i128_with_scale(b.column(k).as_primitive::<Decimal128Type>().value(i), 6);
            assert_eq!(f(1).to_bits(), f64::from(row.frequency).to_bits(), "{id}");
            assert_eq!(f(2).to_bits(), row.recency.to_bits(), "{id}");
            assert_eq!(f(3).to_bits(), row.age.to_bits(), "{id}");
            assert_eq!(f(4).to_bits(), row.monetary_value.to_bits(), "{id}");
            assert_eq!(b.column(5).as_primitive::<UInt32Type>().value(i), row.orders, "{id}");
            assert_eq!(dec(6), row.gross, "{id}");
            assert_eq!(dec(7), row.returns, "{id}");
            if holdout {
                let h = row.holdout.as_ref().unwrap();
                assert_eq!(f(8).to_bits(), f64::from(h.frequency).to_bits(), "{id}");
                assert_eq!(f(9).to_bits(), h.monetary_value.to_bits(), "{id}");
                assert_eq!(dec(10), h.gross, "{id}");
            }
            seen += 1;
        }
    }
    assert_eq!(seen, expected.len());
}

pub fn cdnow_master() -> TransactionLog {
    TransactionLog::from_cdnow_master_path(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/CDNOW_master.txt")).unwrap()
}
