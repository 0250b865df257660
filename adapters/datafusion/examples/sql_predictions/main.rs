//! SQL over a directory of Parquet order files → the per-customer
//! prediction table: the exact summary computed by the `purchase_summary`
//! aggregate in DataFusion, BG/NBD and Gamma-Gamma fitted from it, and
//! P(alive), expected purchases, churn risk and CLV scored in SQL.
//!
//! ```text
//! cargo run -p customer-lifecycle-datafusion --example sql_predictions -- generate DIR [CUSTOMERS]
//! cargo run -p customer-lifecycle-datafusion --example sql_predictions -- run DIR [OUT.parquet]
//! ```
//!
//! `run` reads every Parquet file of DIR (columns `customer_id`,
//! `ordered_at`, `amount`, `kind`), with the observation end 2024-12-31,
//! Berlin days and weeks as the unit.
//!
//! ```text
//! cargo run --release -p customer-lifecycle-datafusion --example sql_predictions -- summary FILE.parquet
//! ```
//!
//! With the feature `ballista`, the same job runs on Apache DataFusion
//! Ballista, in processes of this example (each with the plan codec that
//! carries the crate's functions) or on a loopback cluster in one process:
//!
//! ```text
//! cargo run -p customer-lifecycle-datafusion --features ballista --example sql_predictions -- scheduler 50050
//! cargo run -p customer-lifecycle-datafusion --features ballista --example sql_predictions -- executor localhost:50050 50051
//! cargo run -p customer-lifecycle-datafusion --features ballista --example sql_predictions -- run DIR OUT.parquet --scheduler http://localhost:50050
//! cargo run -p customer-lifecycle-datafusion --features ballista --example sql_predictions -- local-cluster DIR EXECUTORS
//! ```
//!
//! `summary` times the exact summary (days, observation end = the last
//! date) of a Parquet file of `customer_id, date, amount` (as
//! `benches/compare/parquet.py` writes it) two ways: in DataFusion with
//! `purchase_summary`, and in process with `TransactionLog::from_parquet_path`
//! and `summarize`; both on all cores.

#[cfg(feature = "ballista")]
mod cluster;
mod generator;

use std::path::Path;
use std::time::Instant;

use customer_lifecycle::chrono_tz::Europe::Berlin;
use customer_lifecycle::churn::ModelRisk;
use customer_lifecycle::clv::FitOptions;
use customer_lifecycle::{SummaryOptions, TimeUnit};
use customer_lifecycle_datafusion::{ClvSettings, ModelKind, OrderColumns, fit_orders, register, register_scoring};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::prelude::{ParquetReadOptions, SessionContext};

const PREDICTIONS: &str = r#"
WITH t AS (
    SELECT customer_id, purchase_summary(customer_id, ordered_at, amount, kind) AS s
    FROM orders GROUP BY customer_id
)
SELECT customer_id,
       s['frequency'] AS frequency, s['recency'] AS recency, s['T'] AS "T",
       s['monetary_value'] AS monetary_value, s['net'] AS net_spend,
       p_alive(s['frequency'], s['recency'], s['T']) AS p_alive,
       expected_purchases(52, s['frequency'], s['recency'], s['T']) AS expected_purchases_52w,
       churn_risk(s['frequency'], s['recency'], s['T']) AS churn_risk,
       clv(s['frequency'], s['recency'], s['T'], s['monetary_value']) AS clv_12m
FROM t WHERE s IS NOT NULL
ORDER BY clv_12m DESC, customer_id"#;

/// Fits from the orders of `dir` and writes (or shows) the prediction
/// table. `remote`: the session is a Ballista client, whose result is
/// collected here and written by this process.
async fn run(
    ctx: SessionContext,
    dir: &Path,
    out: Option<&Path>,
    remote: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let options = SummaryOptions::new(TimeUnit::Week).time_zone(Berlin).observation_end(generator::last_day());
    let dir = dir.to_str().ok_or("the directory's name is not UTF-8")?;
    let started = Instant::now();
    let orders = ctx.read_parquet(dir, ParquetReadOptions::default()).await?;
    let columns =
        OrderColumns { ordered_at: "ordered_at".into(), kind: Some("kind".into()), ..OrderColumns::default() };
    let fitted = fit_orders(orders, &columns, &options, ModelKind::BgNbd, &FitOptions::default()).await?;
    println!(
        "fitted BG/NBD on {} customers ({} distinct (x, t_x, T) rows) and Gamma-Gamma in {:.2?}",
        fitted.histogram.customers(),
        fitted.histogram.len(),
        started.elapsed()
    );
    println!(
        "BG/NBD (r, alpha, a, b) = {:?}",
        fitted.purchases.estimates().map(|(p, _)| p.to_vec()).unwrap_or_default()
    );
    println!("Gamma-Gamma (p, q, gamma) = {:?}", fitted.spend.parameters());

    register(&ctx, &options)?;
    register_scoring(&ctx, fitted.purchases, fitted.spend, ModelRisk::NoPurchaseWithin(13.0), ClvSettings::default())?;
    ctx.register_parquet("orders", dir, ParquetReadOptions::default()).await?;
    let started = Instant::now();
    let predictions = ctx.sql(PREDICTIONS).await?;
    match out {
        Some(path) if remote => {
            let schema = std::sync::Arc::new(predictions.schema().as_arrow().clone());
            let batches = predictions.clone().collect().await?;
            let mut writer =
                datafusion::parquet::arrow::ArrowWriter::try_new(std::fs::File::create(path)?, schema, None)?;
            for b in &batches {
                writer.write(b)?;
            }
            writer.close()?;
            println!("wrote the prediction table to {} in {:.2?}", path.display(), started.elapsed());
        }
        Some(path) => {
            let path = path.to_str().ok_or("the output's name is not UTF-8")?;
            predictions
                .clone()
                .write_parquet(path, DataFrameWriteOptions::new().with_single_file_output(true), None)
                .await?;
            println!("wrote the prediction table to {path} in {:.2?}", started.elapsed());
        }
        None => {}
    }
    let top = predictions.limit(0, Some(5))?.collect().await?;
    println!("the five most valuable customers:\n{}", pretty_format_batches(&top)?);
    Ok(())
}

/// The exact summary of a Parquet file, in DataFusion and in process.
async fn summary(file: &Path) -> Result<(), Box<dyn std::error::Error>> {
    use customer_lifecycle::chrono::NaiveDate;
    use customer_lifecycle::{CsvOptions, Currency, TransactionLog};
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::Date32Type;
    let path = file.to_str().ok_or("the file's name is not UTF-8")?;
    let ctx = SessionContext::new();
    let started = Instant::now();
    ctx.register_parquet("orders", path, ParquetReadOptions::default()).await?;
    let last = ctx.sql("SELECT max(CAST(date AS DATE)) FROM orders").await?.collect().await?;
    let days = last[0].column(0).as_primitive::<Date32Type>().value(0);
    let end = NaiveDate::from_ymd_opt(1970, 1, 1).ok_or("epoch")?
        + customer_lifecycle::chrono::TimeDelta::days(i64::from(days));
    let options = SummaryOptions::new(TimeUnit::Day).observation_end(end);
    register(&ctx, &options)?;
    let rows = ctx
        .sql("SELECT count(*) FROM (SELECT purchase_summary(customer_id, date, amount) AS s FROM orders GROUP BY customer_id) WHERE s IS NOT NULL")
        .await?
        .collect()
        .await?;
    let customers = rows[0].column(0).as_primitive::<datafusion::arrow::datatypes::Int64Type>().value(0);
    println!("DataFusion purchase_summary: {:.3} s ({customers} customers)", started.elapsed().as_secs_f64());
    let started = Instant::now();
    let log = TransactionLog::from_parquet_path(file, &CsvOptions::new(Currency::USD))?;
    let loaded = started.elapsed();
    let summary = log.summarize(&options)?;
    println!(
        "in process: {:.3} s (load {:.3} s, summary {:.3} s; {} customers)",
        started.elapsed().as_secs_f64(),
        loaded.as_secs_f64(),
        (started.elapsed() - loaded).as_secs_f64(),
        summary.len()
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["generate", dir, rest @ ..] => {
            let customers = rest.first().map_or(Ok(20_000), |n| n.parse())?;
            let log = generator::shop_log(2024, customers);
            let batches = generator::batches_of(&log, 2024, 8)?;
            generator::write_parts(Path::new(dir), &batches)?;
            println!(
                "wrote {} orders and refunds of {} customers as 8 Parquet files in {dir}",
                log.len(),
                log.customers().len()
            );
            Ok(())
        }
        #[cfg(feature = "ballista")]
        ["run", dir, out, "--scheduler", url] => runtime.block_on(async {
            let ctx = customer_lifecycle_datafusion::connect(url).await?;
            run(ctx, Path::new(dir), Some(Path::new(out)), true).await
        }),
        ["run", dir, rest @ ..] => {
            runtime.block_on(run(SessionContext::new(), Path::new(dir), rest.first().map(Path::new), false))
        }
        #[cfg(feature = "ballista")]
        ["scheduler", port] => runtime.block_on(cluster::scheduler(port.parse()?)),
        #[cfg(feature = "ballista")]
        ["executor", scheduler, port] => runtime.block_on(cluster::executor(scheduler, port.parse()?)),
        #[cfg(feature = "ballista")]
        ["local-cluster", dir, executors] => runtime.block_on(async {
            let cluster = customer_lifecycle_datafusion::LocalCluster::start(executors.parse()?, 1).await?;
            println!("a scheduler and {} executors on loopback at {}", cluster.executors(), cluster.scheduler_url());
            run(cluster.context().await?, Path::new(dir), None, true).await
        }),
        ["summary", file] => runtime.block_on(summary(Path::new(file))),
        _ => {
            Err("usage: sql_predictions generate DIR [CUSTOMERS] | run DIR [OUT.parquet] | summary FILE.parquet".into())
        }
    }
}
