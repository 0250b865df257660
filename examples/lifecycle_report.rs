//! The crate's main job: a lifecycle report on a transaction log.
//!
//! ```text
//! cargo run --release --example lifecycle_report
//! cargo run --release --example lifecycle_report -- --transactions orders.csv --unit day \
//!     --calibration-end 2024-06-30 --summary-csv summary.csv --predictions-csv predictions.csv
//! ```
//!
//! With no arguments it runs on the embedded CDNOW sample (2,357 customers,
//! first purchases in Q1 1997) in the papers' setting: weeks, calibration end
//! 1997-09-30, observation end 1998-06-30.
//!
//! Options:
//! * `--transactions FILE.csv` — header `customer_id,date,amount`, optional
//!   `order_id`, ISO dates; amounts in USD unless `--currency CODE`.
//! * `--unit day|week|month` — continuous days/weeks by default; `month`
//!   needs `--calendar-periods`.
//! * `--calendar-periods` — count calendar periods (lifetimes' `freq='W'`).
//! * `--calibration-end DATE`, `--observation-end DATE` — inclusive dates.
//! * `--summary-csv OUT` — the per-customer summary with lifetimes' column names.
//! * `--predictions-csv OUT` — one row per customer, starting with
//!   `customer_id,frequency,recency,T,monetary_value`.

use std::error::Error as StdError;
use std::fs::File;
use std::process::ExitCode;

use customer_lifecycle::chrono::NaiveDate;
use customer_lifecycle::{CsvOptions, Currency, PurchaseSummary, SummaryOptions, TimeUnit, TransactionLog};

const CDNOW_SAMPLE: &str = include_str!("../data/CDNOW_sample.txt");

#[derive(Debug, Default)]
struct Args {
    transactions: Option<String>,
    currency: Option<String>,
    unit: Option<String>,
    calendar_periods: bool,
    calibration_end: Option<NaiveDate>,
    observation_end: Option<NaiveDate>,
    summary_csv: Option<String>,
    predictions_csv: Option<String>,
}

const USAGE: &str = "usage: lifecycle_report [--transactions FILE.csv] [--currency CODE] [--unit day|week|month] \
[--calendar-periods] [--calibration-end YYYY-MM-DD] [--observation-end YYYY-MM-DD] \
[--summary-csv OUT] [--predictions-csv OUT]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"));
        let date = |s: String| {
            NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(|_| format!("{s:?} is not a date (YYYY-MM-DD)"))
        };
        match flag.as_str() {
            "--transactions" => args.transactions = Some(value()?),
            "--currency" => args.currency = Some(value()?),
            "--unit" => args.unit = Some(value()?),
            "--calendar-periods" => args.calendar_periods = true,
            "--calibration-end" => args.calibration_end = Some(date(value()?)?),
            "--observation-end" => args.observation_end = Some(date(value()?)?),
            "--summary-csv" => args.summary_csv = Some(value()?),
            "--predictions-csv" => args.predictions_csv = Some(value()?),
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), Box<dyn StdError>> {
    let (log, source, default_cal, default_obs) = match &args.transactions {
        None => (
            TransactionLog::from_cdnow_sample_reader(CDNOW_SAMPLE.as_bytes())?,
            "CDNOW 1/10 sample (embedded)".to_string(),
            NaiveDate::from_ymd_opt(1997, 9, 30),
            NaiveDate::from_ymd_opt(1998, 6, 30),
        ),
        Some(path) => {
            let currency = Currency::new(args.currency.as_deref().unwrap_or("USD"))?;
            (TransactionLog::from_csv_path(path, &CsvOptions::new(currency))?, path.clone(), None, None)
        }
    };
    let unit: TimeUnit = args.unit.as_deref().unwrap_or("week").parse()?;
    let mut options = SummaryOptions::new(unit);
    if args.calendar_periods {
        options = options.calendar_periods();
    }
    if let Some(d) = args.calibration_end.or(default_cal) {
        options = options.calibration_end(d);
    }
    if let Some(d) = args.observation_end.or(default_obs) {
        options = options.observation_end(d);
    }
    let summary = log.summarize(&options)?;

    print_report(&log, &source, &summary);

    if let Some(path) = &args.summary_csv {
        summary.write_csv(File::create(path)?)?;
        println!("\nwrote the summary to {path}");
    }
    if let Some(path) = &args.predictions_csv {
        write_predictions(&summary, path)?;
        println!("wrote the predictions to {path}");
    }
    Ok(())
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { 0.0 } else { sum / n as f64 }
}

fn print_report(log: &TransactionLog, source: &str, s: &PurchaseSummary) {
    let unit = s.periods().unit().name();
    let mode = match s.periods().mode() {
        customer_lifecycle::DurationMode::Continuous => "continuous",
        customer_lifecycle::DurationMode::Calendar => "calendar periods",
    };
    println!("Customer lifecycle report");
    println!("=========================");
    println!("data            {source}");
    println!("transactions    {}", log.len());
    println!("customers       {}", log.customers().len());
    println!("currency        {}", s.currency());
    println!("time unit       {unit} ({mode})");
    match s.calibration_end() {
        Some(c) => println!(
            "periods         calibration to {c}, holdout to {} ({} {unit}s)",
            s.observation_end(),
            s.duration_holdout().unwrap_or(0.0)
        ),
        None => println!("observation end {}", s.observation_end()),
    }

    let rows: Vec<_> = s.rows().collect();
    let repeaters = rows.iter().filter(|r| r.frequency > 0).count();
    let window = if s.calibration_end().is_some() { "calibration" } else { "observation" };
    println!("\nPurchase summary ({window} period)");
    println!("  customers                 {}", rows.len());
    println!("  repeat customers          {} ({:.1} %)", repeaters, 100.0 * repeaters as f64 / rows.len() as f64);
    println!("  mean frequency (x)        {:.4}", mean(rows.iter().map(|r| f64::from(r.frequency))));
    println!("  mean recency (t_x)        {:.4} {unit}s", mean(rows.iter().map(|r| r.recency)));
    println!("  mean age (T)              {:.4} {unit}s", mean(rows.iter().map(|r| r.age)));
    println!(
        "  mean monetary value       {:.4} (repeat customers)",
        mean(rows.iter().filter(|r| r.frequency > 0).map(|r| r.monetary_value))
    );
    let gross: customer_lifecycle::rust_decimal::Decimal = rows.iter().map(|r| r.gross).sum();
    let net: customer_lifecycle::rust_decimal::Decimal = rows.iter().map(|r| r.net).sum();
    let orders: u64 = rows.iter().map(|r| u64::from(r.orders)).sum();
    println!("  orders                    {orders}");
    println!("  gross revenue             {gross} {}", s.currency());
    println!("  net revenue               {net} {}", s.currency());

    let mut histogram = [0usize; 7];
    for r in &rows {
        histogram[(r.frequency as usize).min(6)] += 1;
    }
    println!(
        "  repeat purchases          0: {}  1: {}  2: {}  3: {}  4: {}  5: {}  6+: {}",
        histogram[0], histogram[1], histogram[2], histogram[3], histogram[4], histogram[5], histogram[6]
    );

    if s.calibration_end().is_some() {
        let holdout: Vec<_> = rows.iter().filter_map(|r| r.holdout.as_ref()).collect();
        let active = holdout.iter().filter(|h| h.frequency > 0).count();
        let purchases: u64 = holdout.iter().map(|h| u64::from(h.frequency)).sum();
        let revenue: customer_lifecycle::rust_decimal::Decimal = holdout.iter().map(|h| h.gross).sum();
        println!("\nHoldout period");
        println!("  customers buying again    {} ({:.1} %)", active, 100.0 * active as f64 / rows.len() as f64);
        println!("  purchase periods          {purchases}");
        println!("  revenue                   {revenue} {}", s.currency());
        println!("  new customers (left out)  {}", s.customers_first_seen_in_holdout());
    }
}

fn write_predictions(s: &PurchaseSummary, path: &str) -> Result<(), Box<dyn StdError>> {
    let mut out = csv::Writer::from_path(path)?;
    out.write_record(["customer_id", "frequency", "recency", "T", "monetary_value"])?;
    for r in s.rows() {
        out.write_record([
            r.customer.to_string(),
            r.frequency.to_string(),
            r.recency.to_string(),
            r.age.to_string(),
            r.monetary_value.to_string(),
        ])?;
    }
    out.flush()?;
    Ok(())
}
