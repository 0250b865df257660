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
//! * `--predictions-csv OUT` — one row per customer:
//!   `customer_id,frequency,recency,T,monetary_value,p_alive,expected_purchases,expected_spend,clv,rfm_segment,stage`
//!   (`stage`: the e-commerce ladder's stage, snake_case, at the end of the
//!   summary's window — the calibration end when split); with a calibration
//!   end also `churn_risk,churn_band`: the learned scorer's calibrated
//!   probability of no purchase in the next quarter, and `low`, `medium` or
//!   `high`. Then the predictive profile (without `--covariates`):
//!   `historic_clv,predicted_clv,predicted_clv_low,predicted_clv_high,p_any_order,avg_days_between_orders,next_order_date`
//!   — margin × net spend so far, the CLV over the horizon with its 5–95 %
//!   parameter interval, P(any order within the horizon), t_x / x in days
//!   (empty without a repeat order), and the median date of the next order
//!   (ISO; empty where none is expected, P(any further order) < 0.5).
//! * `--clv-interval-draws N` — parameter draws for the CLV interval
//!   (default 200; 0 leaves the bounds empty: each draw costs one more CLV
//!   of every customer).
//! * `--model bgnbd|pareto|mbgnbd` — the purchase model behind the
//!   predictions (default BG/NBD; all three are fitted and compared).
//! * `--covariates FILE.csv` — header `customer_id,<column>,…`, one row
//!   per customer (ids as the log reads them); numeric columns as they
//!   are, others categorical. The model of `--model` is refitted with
//!   every column in both processes (`--covariates-purchase a,b` and
//!   `--covariates-dropout c,d` choose per process); the report prints the
//!   estimates with standard errors, the log-likelihood and the
//!   likelihood-ratio test against the fit without covariates, and the
//!   predictions use each customer's own model.
//! * `--horizon SPAN` — CLV and expected purchases over a calendar span,
//!   `12months`, `365days`, `26weeks`, `2years` (default one year),
//!   converted to the summary's unit.
//! * `--discount-rate D` — annual discount rate (default 0.10).
//! * `--margin M` — profit margin (default 1: revenue CLV).
//! * `--cohort-unit day|week|month` — acquisition cohorts by calendar
//!   period (default month).
//! * `--lapse N` — a customer has lapsed after N units without a purchase
//!   (lifetime curve and reactivation; default half a year).
//! * `--plots DIR` — the library's SVG charts (feature `plots`): expected
//!   purchases and P(alive) by frequency and recency, period transactions,
//!   calibration vs holdout purchases, cumulative and incremental tracking,
//!   the most frequent buyer's P(alive) history, the cohort retention heat
//!   map, retention curves and the customer lifetime curve.
//! * Shop exports: `--column NAME=HEADER` (NAME one of `customer_id`,
//!   `date`, `amount`, `order_id`, `kind`, `currency`; repeatable),
//!   `--time-zone NAME` (IANA: local times and local days),
//!   `--decimal-comma`, `--delimiter C`, `--normalize-ids email|trim`,
//!   `--rate CUR=RATE` (1 CUR in `--currency`; repeatable). The
//!   `shop_export` example writes a file to try them on.
//! * `--identity-links FILE.csv` — header `id_a,id_b`, one observed link
//!   per row (ids as the log reads them, `--normalize-ids` included): the
//!   ids are resolved into people by the identity graph (default limits
//!   per person; a link past them is refused and counted), the report
//!   prints the customer count, repeat share, RFM segments and CLV before
//!   and after resolution, and everything else — outputs included — is
//!   computed per person, keyed by the person's canonical id (the smallest
//!   of their ids). `shop_export` writes a log with duplicate identities
//!   and its links.

use std::collections::{BTreeMap, BTreeSet};
use std::error::Error as StdError;
use std::fs::File;
use std::process::ExitCode;

use customer_lifecycle::chrono::{DateTime, Datelike, Days, Months, NaiveDate, TimeDelta, Utc};
use customer_lifecycle::chrono_tz::Tz;
use customer_lifecycle::churn::{
    CustomerPrediction, Evaluation, Features, LearnedChurn, LogisticOptions, ModelRisk, ProfileOptions, RiskBands,
    ScoreScale, cadence_risk, model_risk,
};
use customer_lifecycle::clv::{
    BetaGeo, BetaGeoCovariates, BetaGeoVariant, Clv, CovariateOptions, Covariates, FitOptions, GammaGamma,
    LikelihoodRatioTest, ParetoNbd, ParetoNbdCovariates, PurchaseModel, Span, ValueLedger, periods_per_year,
    segment_profitability,
};
use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageId, StageModel};
use customer_lifecycle::metrics::{RfmOptions, RfmScores, SegmentMap};
use customer_lifecycle::rust_decimal::Decimal;
use customer_lifecycle::{
    CohortAnalysis, CohortOptions, CsvOptions, Currency, CustomerId, CustomerTable, FixedRates, IdKind, Identifier,
    IdentityGraph, IdentityLink, IdentityPolicy, LifetimeSurvival, LinkSource, NumberFormat, PurchaseKpis,
    PurchaseSummary, RetentionMode, SummaryOptions, TimeUnit, TransactionLog,
};

const CDNOW_SAMPLE: &str = include_str!("../data/CDNOW_sample.txt");

/// The report's parts, printed in this order: what a marketer reads first
/// (the overview, then customers, segments, stages and value), then the
/// analyses behind them, then the models' internals.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Part {
    Overview,
    Customers,
    Details,
    Internals,
}

thread_local! {
    /// The part being written, and every line written so far with its part.
    static REPORT: std::cell::RefCell<(Part, Vec<(Part, String)>)> =
        const { std::cell::RefCell::new((Part::Details, Vec::new())) };
}

/// From here on, text goes to part `p`.
fn part(p: Part) {
    REPORT.with(|r| r.borrow_mut().0 = p);
}

fn emit(text: String) {
    REPORT.with(|r| {
        let mut r = r.borrow_mut();
        let p = r.0;
        r.1.push((p, text));
    });
}

/// Prints the parts in reading order, with a heading before each.
fn flush() {
    let lines = REPORT.with(|r| std::mem::take(&mut r.borrow_mut().1));
    for (p, heading) in [
        (Part::Overview, ""),
        (Part::Customers, "\n## Customers, segments, stages and value\n"),
        (Part::Details, "\n## Behind the figures: summary, cohorts, KPIs, stage flows\n"),
        (Part::Internals, "\n## Model internals: fits, holdout checks, churn scorers\n"),
    ] {
        let text: String = lines.iter().filter(|(q, _)| *q == p).map(|(_, t)| t.as_str()).collect();
        if !text.is_empty() {
            std::print!("{heading}{text}");
        }
    }
}

// The report's `println!`/`print!` write into its parts (see `flush`).
macro_rules! println {
    () => {
        emit("\n".to_string())
    };
    ($($arg:tt)*) => {
        emit(format!($($arg)*) + "\n")
    };
}
macro_rules! print {
    ($($arg:tt)*) => {
        emit(format!($($arg)*))
    };
}

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
    model: Option<String>,
    horizon: Option<Span>,
    discount_rate: Option<f64>,
    margin: Option<f64>,
    plots: Option<String>,
    cohort_unit: Option<String>,
    lapse: Option<f64>,
    time_zone: Option<Tz>,
    decimal_comma: bool,
    delimiter: Option<u8>,
    normalize_ids: Option<IdKind>,
    rates: Vec<(Currency, Decimal)>,
    columns: Vec<(String, String)>,
    covariates: Option<String>,
    covariates_purchase: Option<Vec<String>>,
    covariates_dropout: Option<Vec<String>>,
    clv_interval_draws: Option<usize>,
    identity_links: Option<String>,
}

const USAGE: &str = "usage: lifecycle_report [--transactions FILE.csv] [--currency CODE] [--unit day|week|month] \
[--calendar-periods] [--calibration-end YYYY-MM-DD] [--observation-end YYYY-MM-DD] \
[--summary-csv OUT] [--predictions-csv OUT] [--model bgnbd|pareto|mbgnbd] [--horizon SPAN] \
[--discount-rate D] [--margin M] [--cohort-unit day|week|month] [--lapse N] [--plots DIR] \
[--time-zone NAME] [--decimal-comma] [--delimiter C] [--normalize-ids email|trim] [--rate CUR=RATE]... \
[--column NAME=HEADER]... [--covariates FILE.csv] [--covariates-purchase A,B] [--covariates-dropout C,D] \
[--clv-interval-draws N] [--identity-links FILE.csv]";

fn parse_args(cli: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut args = Args::default();
    let mut it = cli.into_iter();
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
            "--model" => args.model = Some(value()?),
            "--plots" => args.plots = Some(value()?),
            "--cohort-unit" => args.cohort_unit = Some(value()?),
            "--lapse" => {
                let v = value()?;
                args.lapse = Some(v.parse().map_err(|_| format!("--lapse {v:?} is not a number"))?);
            }
            "--horizon" => {
                let v = value()?;
                args.horizon = Some(v.parse().map_err(|e| format!("--horizon: {e}"))?);
            }
            "--discount-rate" => {
                let v = value()?;
                args.discount_rate = Some(v.parse().map_err(|_| format!("--discount-rate {v:?} is not a number"))?);
            }
            "--margin" => {
                let v = value()?;
                args.margin = Some(v.parse().map_err(|_| format!("--margin {v:?} is not a number"))?);
            }
            "--clv-interval-draws" => {
                let v = value()?;
                args.clv_interval_draws =
                    Some(v.parse().map_err(|_| format!("--clv-interval-draws {v:?} is not a whole number"))?);
            }
            "--time-zone" => {
                let v = value()?;
                args.time_zone = Some(v.parse().map_err(|_| format!("--time-zone {v:?} is not an IANA zone name"))?);
            }
            "--decimal-comma" => args.decimal_comma = true,
            "--delimiter" => {
                let v = value()?;
                let [byte] = v.as_bytes() else { return Err(format!("--delimiter {v:?} is not one ASCII character")) };
                args.delimiter = Some(*byte);
            }
            "--normalize-ids" => {
                args.normalize_ids = Some(match value()?.as_str() {
                    "email" => IdKind::Email,
                    "trim" => IdKind::Text,
                    other => return Err(format!("--normalize-ids {other:?}: expected email or trim")),
                });
            }
            "--rate" => {
                let v = value()?;
                let bad = || format!("--rate {v:?}: expected CUR=RATE, such as CHF=1.05 (1 CHF in the log's currency)");
                let (code, rate) = v.split_once('=').ok_or_else(bad)?;
                let currency = Currency::new(code).map_err(|e| format!("--rate {v:?}: {e}"))?;
                args.rates.push((currency, rate.parse().map_err(|_| bad())?));
            }
            "--column" => {
                let v = value()?;
                let (name, header) =
                    v.split_once('=').ok_or_else(|| format!("--column {v:?}: expected NAME=HEADER"))?;
                if !["customer_id", "date", "amount", "order_id", "kind", "currency"].contains(&name) {
                    return Err(format!(
                        "--column {v:?}: NAME is one of customer_id, date, amount, order_id, kind, currency"
                    ));
                }
                args.columns.push((name.to_string(), header.to_string()));
            }
            "--covariates" => args.covariates = Some(value()?),
            "--identity-links" => args.identity_links = Some(value()?),
            "--covariates-purchase" => {
                args.covariates_purchase = Some(value()?.split(',').map(|c| c.trim().to_string()).collect());
            }
            "--covariates-dropout" => {
                args.covariates_dropout = Some(value()?.split(',').map(|c| c.trim().to_string()).collect());
            }
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
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

/// The report for command-line arguments (without the program name), for
/// the end-to-end tests that run the README's commands.
#[allow(dead_code)] // used by the tests that include this file, not by main
pub fn run_cli(cli: &[&str]) -> Result<(), Box<dyn StdError>> {
    run(parse_args(cli.iter().map(|s| s.to_string()))?)
}

/// The loader's options and exchange rates from the command line.
fn csv_options(args: &Args, currency: Currency) -> Result<(CsvOptions, FixedRates), Box<dyn StdError>> {
    let mut options = CsvOptions::new(currency);
    if let Some(zone) = args.time_zone {
        options = options.time_zone(zone);
    }
    if args.decimal_comma {
        options = options.number_format(NumberFormat::decimal_comma());
    }
    if let Some(d) = args.delimiter {
        options = options.delimiter(d);
    }
    if let Some(kind) = args.normalize_ids {
        options = options.id_kind(kind);
    }
    for (name, header) in &args.columns {
        options = match name.as_str() {
            "customer_id" => options.customer_column(header),
            "date" => options.date_column(header),
            "amount" => options.amount_column(header),
            "order_id" => options.order_id_column(header),
            "kind" => options.kind_column(header),
            _ => options.currency_column(header),
        };
    }
    let mut rates = FixedRates::new();
    for (from, rate) in &args.rates {
        rates = rates.with_rate(*from, currency, *rate)?;
    }
    Ok((options, rates))
}

fn run(args: Args) -> Result<(), Box<dyn StdError>> {
    let result = report(&args);
    flush();
    result
}

fn report(args: &Args) -> Result<(), Box<dyn StdError>> {
    let (log, source, default_cal, default_obs) = match &args.transactions {
        None => (
            TransactionLog::from_cdnow_sample_reader(CDNOW_SAMPLE.as_bytes())?,
            "CDNOW 1/10 sample (embedded)".to_string(),
            NaiveDate::from_ymd_opt(1997, 9, 30),
            NaiveDate::from_ymd_opt(1998, 6, 30),
        ),
        Some(path) => {
            let currency = Currency::new(args.currency.as_deref().unwrap_or("USD"))?;
            let (options, rates) = csv_options(args, currency)?;
            let file = File::open(path).map_err(|e| format!("{path}: {e}"))?;
            (TransactionLog::from_csv_reader_with_rates(file, &options, &rates)?, path.clone(), None, None)
        }
    };
    let (log, before) = match &args.identity_links {
        None => (log, None),
        Some(path) => {
            let (graph, counts) = identity_graph(path, args.normalize_ids.unwrap_or(IdKind::Text), &log)?;
            (log.resolved(&graph)?, Some((log, counts)))
        }
    };
    let unit: TimeUnit = args.unit.as_deref().unwrap_or("week").parse()?;
    let mut options = SummaryOptions::new(unit);
    if let Some(zone) = args.time_zone {
        options = options.time_zone(zone);
    }
    if args.calendar_periods {
        options = options.calendar_periods();
    }
    if let Some(d) = args.observation_end.or(default_obs) {
        options = options.observation_end(d);
    }
    let whole_period = options;
    if let Some(d) = args.calibration_end.or(default_cal) {
        options = options.calibration_end(d);
    }
    let summary = log.summarize(&options)?;

    part(Part::Details);
    print_report(&log, &source, &summary);
    part(Part::Customers);
    if let Some((ids_log, counts)) = &before {
        identity_section(&ids_log.summarize(&options)?, &summary, counts, args)?;
    }
    let segments = rfm_section(&summary)?;
    part(Part::Details);
    cohort_section(&log, &summary, &whole_period, args)?;
    kpi_section(&log, &summary, args)?;
    part(Part::Customers);
    profitability_section(&summary, &segments, args.margin.unwrap_or(1.0))?;
    let stages = lifecycle_section(&log, &summary)?;
    let predictions = clv_section(&log, &summary, args)?;
    let churn = churn_section(&log, &summary)?;
    part(Part::Overview);
    overview(&log, &source, &summary, &segments, &stages, predictions.as_ref(), churn.as_deref());
    part(Part::Details);

    if let Some(path) = &args.summary_csv {
        summary.write_csv(File::create(path)?)?;
        println!("\nwrote the summary to {path}");
    }
    if let Some(path) = &args.predictions_csv {
        write_predictions(&summary, &segments, &stages, predictions.as_ref(), churn.as_deref(), path)?;
        println!("wrote the predictions to {path}");
    }
    Ok(())
}

/// Per-customer predictions of the chosen models.
struct Predictions {
    p_alive: Vec<f64>,
    expected_purchases: Vec<f64>,
    expected_spend: Vec<f64>,
    clv: Vec<f64>,
    /// The predictive profile (not with covariates): keyed like the summary.
    profile: Option<CustomerTable>,
}

/// The profile's columns in `--predictions-csv`, in order.
const PROFILE_COLUMNS: [&str; 7] = [
    "historic_clv",
    "predicted_clv",
    "predicted_clv_low",
    "predicted_clv_high",
    "p_any_order",
    "avg_days_between_orders",
    "next_order_date",
];

/// Fits and prints the CLV models; `None` (with a note) when the data cannot support them.
fn clv_section(
    log: &TransactionLog,
    s: &PurchaseSummary,
    args: &Args,
) -> Result<Option<Predictions>, Box<dyn StdError>> {
    let unit = s.periods().unit();
    let horizon = args.horizon.unwrap_or(Span::Years(1));
    let rate = args.discount_rate.unwrap_or(0.10);
    let margin = args.margin.unwrap_or(1.0);
    let window = if s.calibration_end().is_some() { "calibration period" } else { "observation period" };
    part(Part::Internals);
    println!("\nCLV models (fitted on the {window})");

    let bgnbd = BetaGeo::fit(s);
    let mbgnbd = BetaGeo::fit_modified(s, &FitOptions::default());
    let pareto = ParetoNbd::fit(s);
    let spend = GammaGamma::fit(s);
    let reports = [
        ("BG/NBD", bgnbd.as_ref().map(|m| m.report())),
        ("Pareto/NBD", pareto.as_ref().map(|m| m.report())),
        ("MBG/NBD", mbgnbd.as_ref().map(|m| m.report())),
        ("Gamma-Gamma", spend.as_ref().map(|m| m.report())),
    ];
    for (name, report) in reports {
        match report {
            Ok(Some(r)) => {
                let params: Vec<String> = r
                    .parameter_names
                    .iter()
                    .zip(&r.parameters)
                    .zip(&r.standard_errors)
                    .map(|((n, v), se)| format!("{n} {v:.4} ± {se:.4}"))
                    .collect();
                println!("  {name:<12} {}   LL {:.2}", params.join(", "), r.log_likelihood);
            }
            Ok(None) => {}
            Err(e) => println!("  {name:<12} not fitted: {e}"),
        }
    }
    if let Ok(Some(d)) = spend.as_ref().map(|g| g.data()) {
        println!(
            "  Gamma-Gamma on {} repeat customers ({} with zero spend left out); corr(frequency, spend) = {:.3}",
            d.customers, d.excluded_zero_spend, d.frequency_spend_correlation
        );
        if let Some(w) = d.independence_warning() {
            println!("  warning: {w}");
        }
    }

    let choice = args.model.as_deref().unwrap_or("bgnbd");
    let chosen: Result<&dyn PurchaseModel, &customer_lifecycle::Error> = match choice {
        "bgnbd" => bgnbd.as_ref().map(|m| m as &dyn PurchaseModel),
        "mbgnbd" => mbgnbd.as_ref().map(|m| m as &dyn PurchaseModel),
        "pareto" => pareto.as_ref().map(|m| m as &dyn PurchaseModel),
        other => return Err(format!("unknown --model {other:?} (bgnbd, pareto, mbgnbd)").into()),
    };
    let (model, spend) = match (chosen, spend.as_ref()) {
        (Ok(m), Ok(g)) => (m, g),
        (Err(e), _) | (_, Err(e)) => {
            println!("  no predictions: {e}");
            return Ok(None);
        }
    };

    if let (Some(duration), Some(actual)) = (s.duration_holdout(), s.frequency_holdout()) {
        println!("\nHoldout: predicted vs actual repeat purchases over {duration} {}s", unit.name());
        let candidates: Vec<(&str, &dyn PurchaseModel)> = [
            bgnbd.as_ref().ok().map(|m| ("BG/NBD", m as &dyn PurchaseModel)),
            pareto.as_ref().ok().map(|m| ("Pareto/NBD", m as &dyn PurchaseModel)),
            mbgnbd.as_ref().ok().map(|m| ("MBG/NBD", m as &dyn PurchaseModel)),
        ]
        .into_iter()
        .flatten()
        .collect();
        let x = s.frequency();
        let (t_x, age) = (s.recency(), s.age());
        let mut header = String::from("  calibration x   customers      actual");
        let mut predicted_by_model = Vec::new();
        for (name, m) in &candidates {
            header.push_str(&format!(" {name:>11}"));
            let p: Vec<f64> = (0..x.len())
                .map(|i| m.conditional_expected_purchases(duration, x[i], t_x[i], age[i]))
                .collect::<Result<_, _>>()?;
            predicted_by_model.push(p);
        }
        println!("{header}");
        for group in 0..=8usize {
            let members: Vec<usize> = (0..x.len())
                .filter(|&i| {
                    if group == 8 {
                        true
                    } else if group == 7 {
                        x[i] >= 7.0
                    } else {
                        x[i] == group as f64
                    }
                })
                .collect();
            let label = match group {
                7 => "7+".to_string(),
                8 => "all (total)".to_string(),
                g => g.to_string(),
            };
            let agg = |v: &dyn Fn(usize) -> f64| -> f64 {
                let sum: f64 = members.iter().map(|&i| v(i)).sum();
                if group == 8 { sum } else { sum / members.len().max(1) as f64 }
            };
            let mut line = format!("  {label:<15} {:>9} {:>11.3}", members.len(), agg(&|i| actual[i]));
            for p in &predicted_by_model {
                line.push_str(&format!(" {:>11.3}", agg(&|i| p[i])));
            }
            println!("{line}");
        }
        println!("  (per-customer means by calibration frequency; the last row is the total)");
    }

    if let Some(dir) = &args.plots {
        charts::models(log, s, model, &[bgnbd.as_ref().ok(), mbgnbd.as_ref().ok()], pareto.as_ref().ok(), dir)?;
    }

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let clv = Clv::new(model, spend).horizon(horizon).annual_discount_rate(rate).margin(margin).threads(threads);
    let (x, t_x, age, mv) = (s.frequency(), s.recency(), s.age(), s.monetary_value());
    // Column functions: the parts that depend on (x, T) alone are computed
    // once per distinct pair, not once per customer.
    let mut out = Predictions {
        p_alive: model.probability_alive_columns(x, t_x, age)?.to_vec(),
        expected_purchases: model.conditional_expected_purchases_columns(clv.horizon_periods()?, x, t_x, age)?.to_vec(),
        expected_spend: spend.conditional_expected_spend_all(s)?.column("expected_spend").ok_or("no spend")?.to_vec(),
        clv: clv.compute_columns(x, t_x, age, mv)?.to_vec(),
        profile: None,
    };
    if let Some(path) = &args.covariates {
        let free_report = match choice {
            "bgnbd" => bgnbd.as_ref().ok().and_then(|m| m.report()),
            "mbgnbd" => mbgnbd.as_ref().ok().and_then(|m| m.report()),
            _ => pareto.as_ref().ok().and_then(|m| m.report()),
        };
        let settings = (horizon, rate, margin, clv.horizon_periods()?);
        out = covariate_section(s, args, path, choice, free_report, spend, settings)?;
    } else {
        out.profile = profile_section(s, model, spend, args, (horizon, rate, margin))?;
    }
    part(Part::Customers);
    println!(
        "\nCLV with {} + Gamma-Gamma: {horizon} ({} {}s), {:.1} % a year discount, margin {margin}",
        model.name(),
        clv.horizon_periods()?,
        unit.name(),
        rate * 100.0
    );
    let total: f64 = out.clv.iter().sum();
    println!("  total {total:.2} {}   mean {:.2}", s.currency(), total / out.clv.len() as f64);
    let mut ranked: Vec<usize> = (0..out.clv.len()).collect();
    ranked.sort_by(|&a, &b| out.clv[b].total_cmp(&out.clv[a]).then(a.cmp(&b)));
    println!("  top customers           x      t_x        T   P(alive)  E[purchases]  E[spend]        CLV     ± SE");
    for &i in ranked.iter().take(10) {
        let se = clv.standard_error(x[i], t_x[i], age[i], mv[i]).map_or("-".to_string(), |v| format!("{v:.2}"));
        println!(
            "  {:<16} {:>6} {:>8.2} {:>8.2} {:>10.3} {:>13.2} {:>9.2} {:>10.2} {:>8}",
            s.ids()[i].to_string(),
            x[i],
            t_x[i],
            age[i],
            out.p_alive[i],
            out.expected_purchases[i],
            out.expected_spend[i],
            out.clv[i],
            se
        );
    }
    Ok(Some(out))
}

/// The predictive profile of every customer (`--predictions-csv` appends
/// it): prints the eligibility warnings and a digest.
fn profile_section(
    s: &PurchaseSummary,
    model: &dyn PurchaseModel,
    spend: &GammaGamma,
    args: &Args,
    (horizon, rate, margin): (Span, f64, f64),
) -> Result<Option<CustomerTable>, Box<dyn StdError>> {
    let draws = args.clv_interval_draws.unwrap_or(200);
    let mut options =
        ProfileOptions::new().window(horizon).annual_discount_rate(rate).margin(margin).warn_when_ineligible();
    if draws > 0 {
        options = options.clv_intervals(draws, 2024);
    }
    let profile = CustomerPrediction::compute(s, model, spend, &options)?;
    part(Part::Customers);
    println!(
        "
Predictive profile from {} over {horizon} (the columns {} of --predictions-csv)",
        profile.as_of(),
        PROFILE_COLUMNS.join(", ")
    );
    for w in profile.warnings() {
        println!("  warning: not enough data for predictions: {w}");
    }
    let t = profile.table();
    let n = t.len().max(1) as f64;
    let sum = |c: &str| t.column(c).map_or(0.0, |v| v.sum());
    let dated = t.dates("next_order_date").map_or(0, |d| d.iter().flatten().count());
    println!(
        "  historic CLV {:.2}, predicted {:.2}, total {:.2} {}",
        sum("historic_clv"),
        sum("predicted_clv"),
        sum("total_clv"),
        s.currency()
    );
    if draws > 0 {
        println!(
            "  predicted CLV summed over the customers' 5 % and 95 % bounds: {:.2} to {:.2} ({draws} parameter draws)",
            sum("predicted_clv_low"),
            sum("predicted_clv_high")
        );
    }
    println!(
        "  mean P(any order in the window) {:.3}; {dated} of {} customers have an expected next-order date (the others: none expected)",
        sum("p_any_order") / n,
        t.len()
    );
    Ok(Some(profile.into_table()))
}

/// A customer's own purchase model from their purchase and drop-out covariates.
type CustomerModels = dyn Fn(&[f64], &[f64]) -> customer_lifecycle::Result<Box<dyn PurchaseModel>>;

/// Refits the chosen purchase model with the covariates of `path`, prints
/// its estimates and the likelihood-ratio test against the fit without
/// them, and predicts each customer with their own model.
fn covariate_section(
    s: &PurchaseSummary,
    args: &Args,
    path: &str,
    choice: &str,
    free_report: Option<&customer_lifecycle::clv::FitReport>,
    spend: &GammaGamma,
    (horizon, rate, margin, periods): (Span, f64, f64, f64),
) -> Result<Predictions, Box<dyn StdError>> {
    // Ids as the log reads them: numbers in the embedded sample, else the
    // loader's kind.
    let id_kind = if args.transactions.is_none() { IdKind::Number } else { args.normalize_ids.unwrap_or(IdKind::Text) };
    let covariates = Covariates::from_csv_reader(File::open(path).map_err(|e| format!("{path}: {e}"))?, id_kind)?;
    let all: Vec<String> = covariates.names().to_vec();
    let purchase = args.covariates_purchase.clone().unwrap_or_else(|| all.clone());
    let dropout = args.covariates_dropout.clone().unwrap_or_else(|| all.clone());
    let (purchase_refs, dropout_refs): (Vec<&str>, Vec<&str>) =
        (purchase.iter().map(String::as_str).collect(), dropout.iter().map(String::as_str).collect());
    let options = CovariateOptions::new().purchase(&purchase_refs).dropout(&dropout_refs);
    part(Part::Internals);
    println!("\nCovariates ({path}: {} customers, columns {})", covariates.len(), all.join(", "));
    let models: Box<CustomerModels>;
    let report = match choice {
        "pareto" => {
            let m = ParetoNbdCovariates::fit(s, &covariates, &options)?;
            let report = m.report().cloned().ok_or("no report")?;
            models = Box::new(move |zp, zd| m.customer_model(zp, zd).map(|c| Box::new(c) as Box<dyn PurchaseModel>));
            report
        }
        _ => {
            let variant = if choice == "mbgnbd" { BetaGeoVariant::Modified } else { BetaGeoVariant::Classic };
            let m = BetaGeoCovariates::fit(variant, s, &covariates, &options)?;
            let report = m.report().cloned().ok_or("no report")?;
            models = Box::new(move |zp, zd| m.customer_model(zp, zd).map(|c| Box::new(c) as Box<dyn PurchaseModel>));
            report
        }
    };
    println!("  {}", report.model);
    for ((name, value), se) in report.parameter_names.iter().zip(&report.parameters).zip(&report.standard_errors) {
        println!("    {name:<28} {value:>10.4} ± {se:.4}");
    }
    println!("    log-likelihood {:.2}   AIC {:.2}   BIC {:.2}", report.log_likelihood, report.aic, report.bic);
    if let Some(free) = free_report {
        let test = LikelihoodRatioTest::between(free, &report)?;
        println!(
            "  against the fit without covariates: LR {:.2} on {} degrees of freedom, p = {:.3e}",
            test.statistic, test.degrees_of_freedom, test.p_value
        );
    }
    let (x, t_x, age, mv) = (s.frequency(), s.recency(), s.age(), s.monetary_value());
    let row = |names: &[String], id: &customer_lifecycle::CustomerId| -> Result<Vec<f64>, String> {
        names
            .iter()
            .map(|n| covariates.value(id, n).ok_or_else(|| format!("customer {id} has no covariate {n}")))
            .collect()
    };
    let mut out = Predictions {
        p_alive: Vec::new(),
        expected_purchases: Vec::new(),
        expected_spend: Vec::new(),
        clv: Vec::new(),
        profile: None,
    };
    for (i, id) in s.ids().iter().enumerate() {
        let own = models(&row(&purchase, id)?, &row(&dropout, id)?)?;
        let clv = Clv::new(own.as_ref(), spend).horizon(horizon).annual_discount_rate(rate).margin(margin);
        out.p_alive.push(own.probability_alive(x[i], t_x[i], age[i])?);
        out.expected_purchases.push(own.conditional_expected_purchases(periods, x[i], t_x[i], age[i])?);
        out.expected_spend.push(spend.conditional_expected_spend(x[i], mv[i])?);
        out.clv.push(clv.customer(x[i], t_x[i], age[i], mv[i])?);
    }
    println!("  the predictions below use each customer's own model");
    Ok(out)
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { 0.0 } else { sum / n as f64 }
}

/// The figures a marketer reads first, rounded to meaningful digits.
fn overview(
    log: &TransactionLog,
    source: &str,
    s: &PurchaseSummary,
    segments: &[String],
    stages: &[String],
    predictions: Option<&Predictions>,
    churn: Option<&[(Option<f64>, String)]>,
) {
    let currency = s.currency();
    let money = |v: f64| {
        let whole = format!("{:.0}", v.abs());
        let mut grouped = String::new();
        for (i, c) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(c);
        }
        format!("{}{grouped} {currency}", if v < 0.0 { "-" } else { "" })
    };
    let share = |n: usize| 100.0 * n as f64 / s.len().max(1) as f64;
    println!("Customer lifecycle report: {source}");
    println!("=========================");
    let window = match s.calibration_end() {
        Some(c) => format!("to {c} (the models' calibration period; holdout to {})", s.observation_end()),
        None => format!("to {}", s.observation_end()),
    };
    println!("At a glance, customers acquired {window}");
    let repeaters = s.frequency().iter().filter(|&&x| x > 0.0).count();
    let net: f64 = s.net_spend().sum();
    println!(
        "  customers              {} ({} in the log), {:.0} % bought more than once",
        s.len(),
        log.customers().len(),
        share(repeaters)
    );
    println!("  net revenue            {} ({} per customer)", money(net), money(net / s.len().max(1) as f64));
    if let Some(p) = predictions {
        let total: f64 = p.clv.iter().sum();
        let alive = p.p_alive.iter().filter(|&&a| a >= 0.5).count();
        println!(
            "  value of the next year {} expected (CLV), {} per customer",
            money(total),
            money(total / p.clv.len().max(1) as f64)
        );
        println!("  likely still customers {} ({:.0} %, P(alive) ≥ 0.5)", alive, share(alive));
    }
    if let Some(churn) = churn {
        let count = |band: &str| churn.iter().filter(|(_, b)| b == band).count();
        println!(
            "  churn risk next quarter high {} ({:.0} %), medium {} ({:.0} %), low {} ({:.0} %)",
            count("high"),
            share(count("high")),
            count("medium"),
            share(count("medium")),
            count("low"),
            share(count("low"))
        );
    }
    let top = |labels: &[String]| -> String {
        let mut counts: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
        for l in labels {
            *counts.entry(l.as_str()).or_default() += 1;
        }
        let mut ranked: Vec<(&str, usize)> = counts.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        ranked.iter().take(4).map(|(l, n)| format!("{l} {:.0} %", share(*n))).collect::<Vec<_>>().join(", ")
    };
    println!("  largest RFM segments   {}", top(segments));
    println!("  stages at {}     {}", s.calibration_end().unwrap_or(s.observation_end()), top(stages));
}

fn print_report(log: &TransactionLog, source: &str, s: &PurchaseSummary) {
    let unit = s.periods().unit().name();
    let mode = match s.periods().mode() {
        customer_lifecycle::DurationMode::Continuous => "continuous",
        customer_lifecycle::DurationMode::Calendar => "calendar periods",
    };
    println!("Data and periods");
    println!("data            {source}");
    println!("transactions    {}", log.len());
    println!("customers       {}", log.customers().len());
    println!("currency        {}", s.currency());
    println!("time unit       {unit} ({mode})");
    match s.calibration_end() {
        Some(c) => println!(
            "periods         calibration to {c}, holdout to {} ({:.1} {unit}s)",
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

/// RFM scores (five value-based bins, net spend) and the standard segments.
fn rfm_section(s: &PurchaseSummary) -> Result<Vec<String>, Box<dyn StdError>> {
    let rfm = RfmScores::compute(s, &RfmOptions::new())?;
    let map = SegmentMap::standard();
    let segments: Vec<String> = map.assign(&rfm)?.into_iter().map(str::to_string).collect();
    let window = if s.calibration_end().is_some() { "calibration period" } else { "observation period" };
    println!("\nRFM segments ({window}; five bins cut at value quantiles, M = net spend)");
    println!("  segment               customers   share   mean net spend   mean orders");
    let mut labels: Vec<&str> = map.rules().iter().map(|r| r.label.as_str()).collect();
    labels.push(customer_lifecycle::metrics::OTHER_SEGMENT);
    let (net, orders) = (s.net_spend(), s.orders());
    for label in labels {
        let members: Vec<usize> = (0..s.len()).filter(|&k| segments[k] == label).collect();
        if members.is_empty() {
            continue;
        }
        println!(
            "  {label:<20} {:>10} {:>6.1} % {:>16.2} {:>13.2}",
            members.len(),
            100.0 * members.len() as f64 / s.len() as f64,
            mean(members.iter().map(|&k| net[k])),
            mean(members.iter().map(|&k| f64::from(orders[k])))
        );
    }
    let c = rfm.cut_points();
    let list = |v: &[f64], digits: usize| v.iter().map(|x| format!("{x:.digits$}")).collect::<Vec<_>>().join(", ");
    println!(
        "  cut points: time since last purchase [{}] {}s, orders [{}], net spend [{}] {}",
        list(&c.recency, 1),
        s.periods().unit().name(),
        list(&c.frequency, 0),
        list(&c.monetary, 2),
        s.currency()
    );
    Ok(segments)
}

/// What reading the identity links found.
#[derive(Debug, Default)]
struct LinkCounts {
    path: String,
    rows: usize,
    merged: usize,
    already: usize,
    refused: Vec<String>,
    unknown_ids: usize,
}

/// The identity graph from `--identity-links` (`id_a,id_b`), over the
/// log's ids read as `kind` reads them. A link the default policy refuses
/// (too many ids of a kind for one person) is counted, not fatal; a
/// malformed row is an error naming its line.
fn identity_graph(
    path: &str,
    kind: IdKind,
    log: &TransactionLog,
) -> Result<(IdentityGraph, LinkCounts), Box<dyn StdError>> {
    let file = File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(file);
    let headers = reader.headers().map_err(|e| format!("{path}: {e}"))?.clone();
    let column = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| format!("{path}: no column {name:?} (header id_a,id_b)"))
    };
    let (a, b) = (column("id_a")?, column("id_b")?);
    let at = log.time_span().map_or_else(DateTime::<Utc>::default, |(_, last)| last);
    let mut graph = IdentityGraph::new(IdentityPolicy::default());
    let mut counts = LinkCounts { path: path.to_string(), ..LinkCounts::default() };
    let mut links = Vec::new();
    for (n, record) in reader.records().enumerate() {
        let line = n + 2;
        let record = record.map_err(|e| format!("{path} line {line}: {e}"))?;
        let id = |k: usize| -> Result<CustomerId, String> {
            let text = record.get(k).unwrap_or_default();
            kind.parse(text).map_err(|e| format!("{path} line {line}: {e}"))
        };
        let (x, y) = (id(a)?, id(b)?);
        counts.rows += 1;
        counts.unknown_ids +=
            usize::from(log.customers().get(&x).is_none()) + usize::from(log.customers().get(&y).is_none());
        links.push(IdentityLink {
            a: Identifier::customer(x),
            b: Identifier::customer(y),
            source: LinkSource::Explicit,
            at,
        });
    }
    let tally = graph.link_all(&links);
    (counts.merged, counts.already) = (tally.merged, tally.already_linked);
    for (n, e) in tally.refused {
        let line = n + 2;
        match e {
            customer_lifecycle::Error::IdentityLinkRefused { .. } => counts.refused.push(format!("line {line}: {e}")),
            e => return Err(format!("{path} line {line}: {e}").into()),
        }
    }
    Ok((graph, counts))
}

/// The figures that move when ids are resolved into people.
fn identity_section(
    ids: &PurchaseSummary,
    people: &PurchaseSummary,
    counts: &LinkCounts,
    args: &Args,
) -> Result<(), Box<dyn StdError>> {
    println!(
        "\nIdentity resolution ({}: {} links, {} joined two people, {} already joined, {} refused, {} ids not in the log)",
        counts.path,
        counts.rows,
        counts.merged,
        counts.already,
        counts.refused.len(),
        counts.unknown_ids
    );
    for r in counts.refused.iter().take(3) {
        println!("  refused {r}");
    }
    let repeat =
        |s: &PurchaseSummary| 100.0 * s.frequency().iter().filter(|&&x| x > 0.0).count() as f64 / s.len().max(1) as f64;
    let mean_x = |s: &PurchaseSummary| s.frequency().mean().unwrap_or(0.0);
    println!("                          by id   by person");
    println!("  customers          {:>12} {:>11}", ids.len(), people.len());
    println!("  repeat customers   {:>10.1} % {:>9.1} %", repeat(ids), repeat(people));
    println!("  mean repeat orders {:>12.3} {:>11.3}", mean_x(ids), mean_x(people));
    let segments = |s: &PurchaseSummary| -> Result<BTreeMap<String, usize>, Box<dyn StdError>> {
        let rfm = RfmScores::compute(s, &RfmOptions::new())?;
        let mut out = BTreeMap::new();
        for label in SegmentMap::standard().assign(&rfm)? {
            *out.entry(label.to_string()).or_default() += 1;
        }
        Ok(out)
    };
    let (before, after) = (segments(ids)?, segments(people)?);
    let labels: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for label in labels {
        let (b, a) = (before.get(label).copied().unwrap_or(0), after.get(label).copied().unwrap_or(0));
        println!("  RFM {label:<18} {b:>8} {a:>11}");
    }
    let horizon = args.horizon.unwrap_or(Span::Years(1));
    let clv = |s: &PurchaseSummary| -> Result<f64, Box<dyn StdError>> {
        let model = BetaGeo::fit(s)?;
        let spend = GammaGamma::fit(s)?;
        let clv = Clv::new(&model, &spend)
            .horizon(horizon)
            .annual_discount_rate(args.discount_rate.unwrap_or(0.10))
            .margin(args.margin.unwrap_or(1.0));
        let values = clv.compute_columns(s.frequency(), s.recency(), s.age(), s.monetary_value())?;
        Ok(values.sum())
    };
    match (clv(ids), clv(people)) {
        (Ok(b), Ok(a)) => println!(
            "  CLV, BG/NBD + Gamma-Gamma {:>8.0} {:>11.0} {} in total ({:+.1} %; per customer {:.2} → {:.2})",
            b,
            a,
            people.currency(),
            100.0 * (a / b - 1.0),
            b / ids.len().max(1) as f64,
            a / people.len().max(1) as f64
        ),
        (b, a) => {
            let show = |r: Result<f64, Box<dyn StdError>>| {
                r.map_or_else(|e| format!("not fitted: {e}"), |v| format!("{v:.0}"))
            };
            println!("  CLV, BG/NBD + Gamma-Gamma: by id {}; by person {}", show(b), show(a));
        }
    }
    println!("  (the rest of the report is per person, keyed by each person's canonical id)");
    Ok(())
}

/// The lapse window in the summary's unit: `--lapse`, or half a year.
fn lapse(s: &PurchaseSummary, args: &Args) -> f64 {
    args.lapse.unwrap_or_else(|| match s.periods().unit() {
        TimeUnit::Month => 6.0,
        unit => (182.0 / f64::from(unit.days().unwrap_or(1))).round(),
    })
}

/// Acquisition cohorts: the retention heat map, the average curve, and the
/// Kaplan–Meier lifetime curve.
fn cohort_section(
    log: &TransactionLog,
    s: &PurchaseSummary,
    whole_period: &SummaryOptions,
    args: &Args,
) -> Result<(), Box<dyn StdError>> {
    let unit: TimeUnit = args.cohort_unit.as_deref().unwrap_or("month").parse()?;
    let mut cohort_options = CohortOptions::new(unit).observation_end(s.observation_end());
    if let Some(zone) = args.time_zone {
        cohort_options = cohort_options.time_zone(zone);
    }
    let cohorts = CohortAnalysis::compute(log, &cohort_options)?;
    let retention = cohorts.retention(RetentionMode::OnPeriod);
    let columns = cohorts.columns().min(24);
    let first_row = cohorts.cohorts().len().saturating_sub(24);
    println!(
        "\nCohort retention (share of each {} cohort buying in its Nth {}; '.' = not complete at {})",
        unit.name(),
        unit.name(),
        cohorts.observation_end()
    );
    print!("  cohort      size");
    for n in 0..columns {
        print!("{n:>5}");
    }
    println!();
    let sizes = cohorts.sizes();
    for r in first_row..cohorts.cohorts().len() {
        print!("  {:<10}{:>6}", cohorts.label(r).unwrap_or_default(), sizes[r]);
        for n in 0..columns {
            match cohorts.get(&retention, r, n) {
                Some(v) => print!("{:>5.0}", 100.0 * v),
                None => print!("{:>5}", "."),
            }
        }
        println!();
    }
    if first_row > 0 {
        println!("  ({first_row} earlier cohorts not shown)");
    }
    for (mode, name) in [
        (RetentionMode::OnPeriod, "in period N"),
        (RetentionMode::OnOrAfter, "in N or later"),
        (RetentionMode::Rolling, "in every period to N"),
    ] {
        let curve = cohorts.average_retention(mode);
        print!("  {name:<21}");
        for v in curve.rate.iter().take(columns) {
            print!("{:>5.0}", 100.0 * v);
        }
        println!("   (average %, complete cells)");
    }
    let cumulative = cohorts.cumulative_revenue_per_customer();
    let last = (0..cohorts.cohorts().len()).filter_map(|r| {
        let n = (0..cohorts.columns()).rev().find(|&n| cohorts.is_complete(r, n))?;
        Some((r, n, cumulative[[r, n]]))
    });
    for (r, n, v) in last {
        if r >= first_row {
            println!(
                "  cohort {} has brought {v:.2} {} net per customer by its {} {n}",
                cohorts.label(r).unwrap_or_default(),
                cohorts.currency(),
                unit.name()
            );
        }
    }

    // Lifetimes over the whole observation (no holdout split).
    // Without a calibration split that is the report's summary already.
    let split;
    let whole = if s.calibration_end().is_some() {
        split = log.summarize(whole_period)?;
        &split
    } else {
        s
    };
    let l = lapse(s, args);
    let survival = LifetimeSurvival::kaplan_meier(whole, l)?;
    let u = s.periods().unit().name();
    println!(
        "\nCustomer lifetime (Kaplan–Meier; lapsed after {l} {u}s without a purchase; {} of {} lapsed, the rest censored)",
        survival.lapsed(),
        survival.customers()
    );
    let horizon = whole.age().iter().cloned().fold(0.0, f64::max);
    // S(t): the share whose lifetime (first to last purchase) exceeds t. A
    // one-time buyer who lapsed has lifetime 0, so S(0) is the share who
    // bought again (or are still inside the lapse window), not 1.
    print!("  share buying for longer than t:");
    for k in 0..=4 {
        let t = (horizon * f64::from(k) / 4.0).round();
        print!("  t = {t:.0}: {:.1} %", 100.0 * survival.survival_at(t));
    }
    println!();
    println!(
        "  ({:.1} % never bought again and lapsed: their lifetime is 0)",
        100.0 * (1.0 - survival.survival_at(0.0))
    );
    match survival.median() {
        Some(0.0) => {
            println!("  median lifetime 0 {u}s: more than half the customers never came back after their first order")
        }
        Some(m) => println!("  median lifetime {m:.1} {u}s (first to last purchase)"),
        None => println!("  median lifetime not reached: more than half the customers are still buying"),
    }
    if let Some(dir) = &args.plots {
        charts::cohorts(&cohorts, &survival, s.periods().unit(), dir)?;
    }
    Ok(())
}

/// Purchase KPIs of the last quarter (13 weeks) before the observation end.
fn kpi_section(log: &TransactionLog, s: &PurchaseSummary, args: &Args) -> Result<(), Box<dyn StdError>> {
    let to = s.periods().start_of_day(s.observation_end() + Days::new(1));
    let from = to - TimeDelta::weeks(13);
    let lapse_days = match s.periods().unit().days() {
        Some(d) => lapse(s, args) * f64::from(d),
        None => lapse(s, args) * 30.4375,
    };
    let k = PurchaseKpis::compute_with_lapse(log, from, to, TimeDelta::days(lapse_days.round() as i64))?;
    let pct = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{:.1} %", 100.0 * v));
    println!(
        "\nKPIs, {} to {} (13 weeks; retention against the 13 weeks before)",
        from.date_naive(),
        s.observation_end()
    );
    println!("  buyers                    {}", k.buyers);
    println!("  orders                    {}", k.orders);
    println!("  repeat purchase rate      {:.1} % (buyers with 2+ orders)", 100.0 * k.repeat_purchase_rate);
    println!("  purchase frequency        {:.3} orders per buyer", k.purchase_frequency);
    println!("  average order value       {}", k.average_order_value);
    println!("  revenue                   {}", k.revenue);
    println!(
        "  return rate               {:.1} % of orders, {:.1} % of revenue",
        100.0 * k.return_rate_count,
        100.0 * k.return_rate_value
    );
    println!("  new customers             {}", k.new_customers);
    println!(
        "  retention rate            {} ({} of {} previous buyers)",
        pct(k.retention_rate),
        k.retained,
        k.previous_buyers
    );
    println!("  churn rate                {}", pct(k.churn_rate));
    println!(
        "  reactivation rate         {} ({} of {} lapsed for {} days)",
        pct(k.reactivation_rate),
        k.reactivated,
        k.lapsed,
        k.lapse.num_days()
    );
    Ok(())
}

/// Historic CLV (net revenue × margin − costs) by RFM segment.
fn profitability_section(s: &PurchaseSummary, segments: &[String], margin: f64) -> Result<(), Box<dyn StdError>> {
    let ledger = ValueLedger::from_summary(s);
    let rows = ledger.historic_clv(margin)?;
    // The summary's ids are sorted: a customer's segment by binary search.
    let ids = s.ids();
    let table = segment_profitability(&rows, |c| ids.binary_search(c).ok().map(|k| segments[k].clone()))?;
    let total: f64 = table.iter().map(|t| t.profit.to_f64()).sum();
    println!("\nSegment profitability (historic CLV = {margin} × net revenue − costs; no costs recorded in this data)");
    println!("  segment               customers        profit   per customer   share");
    for t in &table {
        println!(
            "  {:<20} {:>10} {:>13.2} {:>14.2} {:>6.1} %",
            t.segment,
            t.customers,
            t.profit.to_f64(),
            t.profit_per_customer.to_f64(),
            100.0 * t.profit.to_f64() / total
        );
    }
    Ok(())
}

/// Replays the log through the stage engine (e-commerce ladder), prints the
/// stage distribution at each quarter end and the transition matrix between
/// the last two; returns each summary customer's stage at the end of the
/// summary's window.
fn lifecycle_section(log: &TransactionLog, s: &PurchaseSummary) -> Result<Vec<String>, Box<dyn StdError>> {
    let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(log.currency()).periods(*s.periods()))?;
    let model = engine.model();
    let end_of = |d: NaiveDate| -> Result<DateTime<Utc>, Box<dyn StdError>> {
        Ok(s.periods().start_of_day(d + Days::new(1)) - TimeDelta::seconds(1))
    };
    // Customer by customer from the log's storage, on every core.
    let end = end_of(s.observation_end())?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let history = engine.replay_log(log, end, threads)?;
    // Quarter ends from the first transaction to the observation end.
    let first = log.time_span().map(|(first, _)| first.date_naive()).ok_or("empty log")?;
    let mut quarter_ends = Vec::new();
    let mut q = NaiveDate::from_ymd_opt(first.year(), (first.month0() / 3) * 3 + 1, 1).ok_or("bad date")?;
    loop {
        let next = q.checked_add_months(Months::new(3)).ok_or("bad date")?;
        let last_day = next.pred_opt().ok_or("bad date")?;
        if last_day > s.observation_end() {
            break;
        }
        quarter_ends.push(last_day);
        q = next;
    }
    if quarter_ends.last() != Some(&s.observation_end()) {
        quarter_ends.push(s.observation_end());
    }
    println!(
        "\nLifecycle stages (e-commerce ladder: at risk after 90 days without an order, lapsed after 180, churned after 365)"
    );
    print!("  {:<12}", "at end of");
    for k in 0..model.len() {
        print!("{:>12}", model.stage_name(StageId(k as u8)));
    }
    println!();
    for &q in &quarter_ends {
        let counts = history.stage_counts(end_of(q)?);
        print!("  {:<12}", q.to_string());
        for c in counts.iter() {
            print!("{c:>12}");
        }
        println!();
    }
    if let [.., a, b] = quarter_ends[..] {
        let m = history.transition_matrix(end_of(a)?, end_of(b)?)?;
        part(Part::Details);
        println!("\nStage flows: transitions from {a} (rows) to {b} (columns), share of each row");
        print!("  {:<12}", "");
        for k in 0..model.len() {
            print!("{:>12}", model.stage_name(StageId(k as u8)));
        }
        println!();
        for i in 0..model.len() {
            let n: u64 = m.counts.row(i).sum();
            if n == 0 {
                continue;
            }
            print!("  {:<12}", model.stage_name(StageId(i as u8)));
            for j in 0..model.len() {
                print!("{:>11.1}%", 100.0 * m.probabilities[[i, j]]);
            }
            println!("   ({n})");
        }
    }
    let reactivated = model.stage("reactivated").ok_or("no reactivated stage")?;
    let since = end_of(first)?;
    println!(
        "  reactivations over the whole period: {}",
        history.entries(reactivated, since, end + TimeDelta::seconds(1))
    );
    let at = end_of(s.calibration_end().unwrap_or(s.observation_end()))?;
    Ok(s.ids().iter().map(|id| history.stage_of(id, at).map_or("", |st| model.stage_name(st)).to_string()).collect())
}

/// Churn scorers side by side, trained and judged honestly (needs a
/// calibration end): returns each customer's learned, calibrated churn risk
/// over the next quarter and its band.
fn churn_section(log: &TransactionLog, s: &PurchaseSummary) -> ChurnOutput {
    part(Part::Internals);
    let Some(cal_end) = s.calibration_end() else {
        println!("\nChurn risk: needs a calibration end (--calibration-end) to train and judge honestly");
        return Ok(None);
    };
    let unit = s.periods().unit();
    let horizon = periods_per_year(unit) / 4.0; // one quarter, in the summary's unit
    let quarter = Days::new(91);
    // Local midnights and local days, in the summary's offset or zone.
    let midnight = |d: NaiveDate| -> Result<DateTime<Utc>, Box<dyn StdError>> { Ok(s.periods().start_of_day(d)) };
    let options = |cal: NaiveDate, obs: NaiveDate| {
        let o = SummaryOptions::new(unit).duration_mode(s.periods().mode()).calibration_end(cal).observation_end(obs);
        let o = o.week_start(s.periods().week_start());
        match s.periods().time_zone() {
            Some(zone) => o.time_zone(zone),
            None => o.utc_offset(s.periods().utc_offset()),
        }
    };
    let churned = |x: &PurchaseSummary| -> Vec<bool> {
        x.frequency_holdout().map_or(Vec::new(), |f| f.iter().map(|&v| v == 0.0).collect())
    };
    // Training: features a quarter before the calibration end, labels = no purchase up to it.
    let cutoff = cal_end - quarter;
    let train = log.before(midnight(cal_end + Days::new(1))?)?.summarize(&options(cutoff, cal_end))?;
    let train_features = Features::from_summary(&train, |_| false);
    let train_labels = churned(&train);
    // 70 % of the training customers fit the regression, 30 % calibrate it (split by id hash).
    let calibration_part: Vec<bool> = train
        .ids()
        .iter()
        .map(|id| id.to_string().bytes().fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))) % 10 >= 7)
        .collect();
    let pick = |f: &Features, labels: &[bool], keep: bool| -> customer_lifecycle::Result<(Features, Vec<bool>)> {
        let rows: Vec<usize> = (0..f.len()).filter(|&k| calibration_part[k] == keep).collect();
        Ok((f.select(&rows)?, rows.iter().map(|&k| labels[k]).collect()))
    };
    let (fit_part, fit_labels) = pick(&train_features, &train_labels, false)?;
    let (cal_part, cal_labels) = pick(&train_features, &train_labels, true)?;
    let learned = match LearnedChurn::train(&fit_part, &fit_labels, &LogisticOptions::new())
        .and_then(|l| l.calibrate(&cal_part, &cal_labels))
    {
        Ok(l) => l,
        Err(e) => {
            println!("\nChurn risk: the learned scorer cannot be trained here: {e}");
            return Ok(None);
        }
    };
    // Judging: the quarter after the calibration end, and the whole holdout.
    let next_quarter =
        log.before(midnight(cal_end + quarter + Days::new(1))?)?.summarize(&options(cal_end, cal_end + quarter))?;
    let labels_quarter = churned(&next_quarter);
    let labels_holdout = churned(s);
    let features = Features::from_summary(s, |_| false);
    let learned_scores = learned.score(&features)?;
    let bgnbd = BetaGeo::fit(s)?;
    // Every scorer's table is keyed by the summary's customers, as are the labels.
    let values = |t: CustomerTable, name: &str| -> Result<Vec<f64>, Box<dyn StdError>> {
        if t.ids() != s.ids() {
            return Err("a scorer's customers differ from the summary's".into());
        }
        Ok(t.column(name).ok_or(format!("no column {name}"))?.to_vec())
    };
    let mut scorers: Vec<(String, Vec<f64>, bool)> = vec![
        ("BG/NBD 1 − P(alive)".into(), values(model_risk(&bgnbd, s, ModelRisk::NotAlive)?, "churn_risk")?, false),
        (
            format!("BG/NBD P(no purchase in {horizon} {}s)", unit.name()),
            values(model_risk(&bgnbd, s, ModelRisk::NoPurchaseWithin(horizon))?, "churn_risk")?,
            true,
        ),
        ("cadence (overdue at own pace)".into(), values(cadence_risk(s)?, "cadence_risk")?, false),
    ];
    scorers.push((
        "learned (logistic + Platt)".into(),
        learned_scores.iter().map(|r| r.unwrap_or(0.0)).collect(),
        true,
    ));
    println!(
        "\nChurn risk (churn = no purchase in the quarter after {cal_end}; learned scorer trained on features at \
         {cutoff} with labels to {cal_end})"
    );
    println!(
        "  churned in the next quarter: {:.1} %, in the whole holdout: {:.1} %",
        100.0 * labels_quarter.iter().filter(|&&c| c).count() as f64 / labels_quarter.len() as f64,
        100.0 * labels_holdout.iter().filter(|&&c| c).count() as f64 / labels_holdout.len() as f64
    );
    println!("  scorer                               AUC    PR AUC   Brier   top-decile lift   AUC (whole holdout)");
    let mut learned_eval = None;
    for (name, scores, probability) in &scorers {
        let quarter_eval = Evaluation::compute(scores, &labels_quarter, ScoreScale::Probability)?;
        let holdout_eval = Evaluation::compute(scores, &labels_holdout, ScoreScale::Ranking)?;
        let brier =
            quarter_eval.brier.map_or("-".to_string(), |b| format!("{b:.3}{}", if *probability { "" } else { "*" }));
        let verdict = if quarter_eval.roc_auc < 0.5 { "  worse than chance: ranks churners below stayers" } else { "" };
        println!(
            "  {name:<36} {:.3}   {:.3}    {brier:<7} {:>8.2}          {:.3}{verdict}",
            quarter_eval.roc_auc, quarter_eval.pr_auc, quarter_eval.top_decile_lift, holdout_eval.roc_auc
        );
        if name.starts_with("learned") {
            learned_eval = Some(quarter_eval);
        }
    }
    println!("  (* not a probability of churning in the quarter: its Brier score is shown for completeness only)");
    let regression = learned.regression();
    let coefficients: Vec<String> = regression
        .names()
        .iter()
        .zip(regression.coefficients())
        .zip(regression.standard_errors())
        .map(|((n, c), se)| format!("{n} {c:+.4} ± {se:.4}"))
        .collect();
    println!("  learned weights per unit: {}", coefficients.join(", "));
    if let Some(p) = learned.calibration() {
        println!("  Platt calibration: P = σ({:.3} · logit(p) {:+.3})", p.a, p.b);
    }
    if let Some(e) = learned_eval {
        println!("  calibration of the learned scorer by decile (mean predicted → observed):");
        let cells: Vec<String> = e.deciles.iter().map(|d| format!("{:.2}→{:.2}", d.mean_score, d.churn_rate)).collect();
        println!("    {}", cells.join("  "));
    }
    let top = (0..s.len())
        .filter(|&k| learned_scores[k].is_some())
        .max_by(|&a, &b| learned_scores[a].unwrap_or(0.0).total_cmp(&learned_scores[b].unwrap_or(0.0)));
    if let Some(k) = top {
        let why: Vec<String> =
            learned.explain(features.matrix().row(k), 3)?.iter().map(|(n, c)| format!("{n} {c:+.2}")).collect();
        part(Part::Customers);
        println!("\nChurn risk (learned scorer, calibrated: P(no purchase in the next quarter))");
        println!(
            "  highest risk: customer {} ({:.3}); because of {}",
            s.ids()[k],
            learned_scores[k].unwrap_or(0.0),
            why.join(", ")
        );
    }
    let bands = RiskBands::default();
    Ok(Some(learned_scores.iter().map(|r| (*r, r.map_or(String::new(), |v| bands.band(v).to_string()))).collect()))
}

/// Per customer: learned churn risk (None when not scored) and its band.
type ChurnOutput = Result<Option<Vec<(Option<f64>, String)>>, Box<dyn StdError>>;

/// Writes one row per customer; the model columns only when there are predictions.
fn write_predictions(
    s: &PurchaseSummary,
    segments: &[String],
    stages: &[String],
    p: Option<&Predictions>,
    churn: Option<&[(Option<f64>, String)]>,
    path: &str,
) -> Result<(), Box<dyn StdError>> {
    let mut out = csv::Writer::from_path(path)?;
    let mut header = vec!["customer_id", "frequency", "recency", "T", "monetary_value"];
    if p.is_some() {
        header.extend(["p_alive", "expected_purchases", "expected_spend", "clv"]);
    }
    let profile = p.and_then(|p| p.profile.as_ref());
    if profile.is_some() {
        header.extend(PROFILE_COLUMNS);
    }
    header.extend(["rfm_segment", "stage"]);
    if churn.is_some() {
        header.extend(["churn_risk", "churn_band"]);
    }
    out.write_record(&header)?;
    // Field by field through one reused buffer (no string per value).
    let mut buf = String::new();
    let mut field = |out: &mut csv::Writer<File>, value: &dyn std::fmt::Display| -> csv::Result<()> {
        use std::fmt::Write;
        buf.clear();
        let _ = write!(buf, "{value}"); // writing to a String cannot fail
        out.write_field(&buf)
    };
    // The profile's columns, row-aligned with the summary (blank: empty).
    let mut profile_columns: Vec<Vec<String>> = Vec::new();
    if let Some(t) = profile {
        for name in PROFILE_COLUMNS {
            let text: Vec<String> = match (t.optional_column(name), t.dates(name)) {
                (Some(values), _) => values.iter().map(|v| v.map_or(String::new(), |v| v.to_string())).collect(),
                (None, Some(dates)) => dates.iter().map(|d| d.map_or(String::new(), |d| d.to_string())).collect(),
                // Without intervals the bounds are empty.
                (None, None) => vec![String::new(); t.len()],
            };
            profile_columns.push(text);
        }
    }
    for (k, r) in s.rows().enumerate() {
        field(&mut out, &r.customer)?;
        field(&mut out, &r.frequency)?;
        field(&mut out, &r.recency)?;
        field(&mut out, &r.age)?;
        field(&mut out, &r.monetary_value)?;
        if let Some(p) = p {
            for v in [p.p_alive[k], p.expected_purchases[k], p.expected_spend[k], p.clv[k]] {
                field(&mut out, &v)?;
            }
        }
        for column in &profile_columns {
            out.write_field(&column[k])?;
        }
        out.write_field(&segments[k])?;
        out.write_field(&stages[k])?;
        if let Some(c) = churn {
            match c[k].0 {
                Some(risk) => field(&mut out, &risk)?,
                None => out.write_field("")?,
            }
            out.write_field(&c[k].1)?;
        }
        out.write_record(None::<&[u8]>)?;
    }
    out.flush()?;
    Ok(())
}

/// The library's charts (feature `plots`), written as SVG files.
#[cfg(feature = "plots")]
mod charts {
    use std::error::Error as StdError;

    use super::emit; // for the report's `println!`

    use customer_lifecycle::clv::{BetaGeo, ParetoNbd, PurchaseModel};
    use customer_lifecycle::{CohortAnalysis, LifetimeSurvival, PurchaseSummary, TimeUnit, TransactionLog, plots};

    type Out = Result<(), Box<dyn StdError>>;

    fn write(dir: &str, name: &str, svg: customer_lifecycle::Result<String>) -> Out {
        std::fs::write(format!("{dir}/{name}.svg"), svg?)?;
        Ok(())
    }

    /// The model charts: matrices, period transactions, calibration vs
    /// holdout (every model fitted), tracking, and the P(alive) history of
    /// the most frequent buyer.
    pub fn models(
        log: &TransactionLog,
        s: &PurchaseSummary,
        model: &dyn PurchaseModel,
        beta_geo: &[Option<&BetaGeo>],
        pareto: Option<&ParetoNbd>,
        dir: &str,
    ) -> Out {
        std::fs::create_dir_all(dir)?;
        write(dir, "expected_purchases_by_frequency_recency", plots::frequency_recency_matrix(model, s))?;
        write(dir, "p_alive_by_frequency_recency", plots::probability_alive_matrix(model, s))?;
        write(dir, "period_transactions", plots::period_transactions(model, s))?;
        if s.calibration_end().is_some() {
            let mut candidates: Vec<&dyn PurchaseModel> =
                beta_geo.iter().flatten().map(|m| *m as &dyn PurchaseModel).collect();
            candidates.extend(pareto.map(|m| m as &dyn PurchaseModel));
            write(dir, "calibration_vs_holdout", plots::calibration_vs_holdout(s, &candidates))?;
        }
        if s.periods().unit().days().is_some() {
            write(dir, "tracking_cumulative", plots::cumulative_tracking(log, s, model))?;
            write(dir, "tracking_incremental", plots::incremental_tracking(log, s, model))?;
        }
        // The customer with the most repeat purchases, from the log.
        let x = s.frequency();
        if let Some(k) = (0..s.len()).max_by(|&a, &b| x[a].total_cmp(&x[b])) {
            let periods = s.periods();
            let id = &s.ids()[k];
            let mut days: Vec<i64> =
                log.iter().filter(|t| t.customer() == id).map(|t| periods.day_of(t.at()).into()).collect();
            days.sort_unstable();
            days.dedup();
            if let (Some(&first), Some(unit_days)) = (days.first(), periods.unit().days()) {
                let times: Vec<f64> = days.iter().skip(1).map(|d| (d - first) as f64 / f64::from(unit_days)).collect();
                let until = s.age()[k].max(times.last().copied().unwrap_or(0.0)).max(1.0);
                let times: Vec<f64> = times.into_iter().filter(|&t| t > 0.0 && t <= until).collect();
                write(
                    dir,
                    "p_alive_history_top_customer",
                    plots::probability_alive_history(model, &times, until, periods.unit()),
                )?;
            }
        }
        println!("\nwrote the model charts to {dir}/");
        Ok(())
    }

    /// The cohort heat map, retention curves and lifetime curve.
    pub fn cohorts(cohorts: &CohortAnalysis, survival: &LifetimeSurvival, unit: TimeUnit, dir: &str) -> Out {
        std::fs::create_dir_all(dir)?;
        write(dir, "cohort_retention", plots::cohort_heat_map(cohorts))?;
        write(dir, "retention_curves", plots::retention_curves(cohorts))?;
        write(dir, "lifetime_survival", plots::lifetime_curve(survival, unit))?;
        Ok(())
    }
}

/// Without the `plots` feature, `--plots` says so.
#[cfg(not(feature = "plots"))]
mod charts {
    use std::error::Error as StdError;

    use customer_lifecycle::clv::{BetaGeo, ParetoNbd, PurchaseModel};
    use customer_lifecycle::{CohortAnalysis, LifetimeSurvival, PurchaseSummary, TimeUnit, TransactionLog};

    const OFF: &str = "--plots needs the crate's `plots` feature (on by default)";

    pub fn models(
        _: &TransactionLog,
        _: &PurchaseSummary,
        _: &dyn PurchaseModel,
        _: &[Option<&BetaGeo>],
        _: Option<&ParetoNbd>,
        _: &str,
    ) -> Result<(), Box<dyn StdError>> {
        Err(OFF.into())
    }

    pub fn cohorts(_: &CohortAnalysis, _: &LifetimeSurvival, _: TimeUnit, _: &str) -> Result<(), Box<dyn StdError>> {
        Err(OFF.into())
    }
}
