//! The whole batch job and each of its steps, on CSV text generated in
//! memory by the generator of `examples/pipeline.rs` (which writes the file
//! `benches/compare/peers.py` gives the peers): about ROWS orders of
//! ROWS/14.5 customers with random 63-bit ids (read as text, the default),
//! ISO dates over three years, two decimals, fixed seed; the unit is the
//! day.
//!
//! * `pipeline/whole/*`: CSV text → summary → BG/NBD and Gamma-Gamma fits
//!   → P(alive), purchases in 365 days and 12-month CLV (lifetimes' monthly
//!   steps, 1 % a month) for every customer, on every core as
//!   `examples/pipeline.rs` runs it (the loader's two threads, the
//!   summary's two halves, the fits side by side, `Clv::threads`);
//! * `pipeline/load/*`, `summary/*`, `fit_bgnbd/*`, `fit_gamma_gamma/*`,
//!   `predict/*`, `clv/*`: the steps alone.
//!
//! * `report/*`: the other sections of `examples/lifecycle_report.rs`
//!   (days, no calibration split), each on its own: RFM scores and
//!   segments, monthly cohort matrices, the Kaplan–Meier lifetime curve,
//!   the quarter's KPIs, the stage replay into a `StageHistory` on one and
//!   on two threads, the history's queries (counts at five quarter ends and
//!   a transition matrix), the Pareto/NBD and MBG/NBD fits, and P(alive),
//!   expected purchases and CLV with the report's defaults (a year of daily
//!   steps at 10 % a year).
//!
//! Run: `cargo bench --bench pipeline` (1M and 10M rows; about ten
//! minutes). The loader and the summary use two threads on a machine with
//! two cores (their defaults); the other steps one, unless a name says
//! otherwise.

use std::hint::black_box;

/// The generator of the example that runs the same job on a file.
#[path = "../examples/pipeline.rs"]
#[allow(dead_code)]
mod pipeline_example;
use pipeline_example::orders_csv;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use customer_lifecycle::chrono::{DateTime, TimeDelta, TimeZone, Utc};
use customer_lifecycle::clv::{BetaGeo, Clv, FitOptions, GammaGamma, ParetoNbd, Span};
use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageModel};
use customer_lifecycle::metrics::{RfmOptions, RfmScores, SegmentMap};
use customer_lifecycle::{
    CohortAnalysis, CohortOptions, CsvOptions, Currency, LifetimeSurvival, PurchaseKpis, PurchaseSummary,
    SummaryOptions, TimeUnit, TransactionLog,
};

fn load(text: &str) -> TransactionLog {
    TransactionLog::from_csv_reader(text.as_bytes(), &CsvOptions::new(Currency::USD)).unwrap()
}

fn summary(log: &TransactionLog) -> PurchaseSummary {
    log.summarize(&SummaryOptions::new(TimeUnit::Day)).unwrap()
}

/// Predictions and CLV for every customer; the mean CLV.
fn predict(summary: &PurchaseSummary, purchases: &BetaGeo, spend: &GammaGamma) -> f64 {
    let (x, t_x, age) = (summary.frequency(), summary.recency(), summary.age());
    black_box(purchases.probability_alive_columns(x, t_x, age).unwrap());
    black_box(purchases.conditional_expected_purchases_columns(365.0, x, t_x, age).unwrap());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let clv = Clv::new(purchases, spend).lifetimes_compatible(12, 0.01).threads(cores).compute(summary).unwrap();
    clv.column("clv").unwrap().mean().unwrap()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("pipeline");
    g.sample_size(10);
    for (rows, label) in [(1_000_000, "1M"), (10_000_000, "10M")] {
        let text = orders_csv(rows);
        g.bench_with_input(BenchmarkId::new("whole", label), &text, |b, text| {
            b.iter(|| {
                let s = summary(&load(text));
                let (purchases, spend) = std::thread::scope(|scope| {
                    let spend = scope.spawn(|| GammaGamma::fit(&s).unwrap());
                    (BetaGeo::fit(&s).unwrap(), spend.join().unwrap())
                });
                black_box(predict(&s, &purchases, &spend))
            })
        });
        g.bench_with_input(BenchmarkId::new("load", label), &text, |b, text| b.iter(|| black_box(load(text).len())));
        let log = load(&text);
        drop(text);
        g.bench_with_input(BenchmarkId::new("summary", label), &log, |b, log| b.iter(|| black_box(summary(log))));
        let s = summary(&log);
        drop(log);
        g.bench_with_input(BenchmarkId::new("fit_bgnbd", label), &s, |b, s| b.iter(|| BetaGeo::fit(s).unwrap()));
        g.bench_with_input(BenchmarkId::new("fit_gamma_gamma", label), &s, |b, s| {
            b.iter(|| GammaGamma::fit(s).unwrap())
        });
        let (purchases, spend) = (BetaGeo::fit(&s).unwrap(), GammaGamma::fit(&s).unwrap());
        g.bench_with_input(BenchmarkId::new("predict", label), &s, |b, s| {
            let (x, t_x, age) = (s.frequency(), s.recency(), s.age());
            b.iter(|| {
                black_box(purchases.probability_alive_columns(x, t_x, age).unwrap());
                black_box(purchases.conditional_expected_purchases_columns(365.0, x, t_x, age).unwrap())
            })
        });
        g.bench_with_input(BenchmarkId::new("clv", label), &s, |b, s| {
            b.iter(|| black_box(Clv::new(&purchases, &spend).lifetimes_compatible(12, 0.01).compute(s).unwrap()))
        });
    }
    g.finish();
}

/// The report's other sections, each alone (see the module docs).
fn report(c: &mut Criterion) {
    let mut g = c.benchmark_group("report");
    g.sample_size(10);
    for (rows, label) in [(1_000_000, "1M"), (10_000_000, "10M")] {
        let log = load(&orders_csv(rows));
        let s = summary(&log);
        let (_, last) = log.time_span().unwrap();
        let end: DateTime<Utc> = Utc.from_utc_datetime(&last.date_naive().and_hms_opt(23, 59, 59).unwrap());
        let map = SegmentMap::standard();
        g.bench_with_input(BenchmarkId::new("rfm", label), &s, |b, s| {
            b.iter(|| {
                let rfm = RfmScores::compute(s, &RfmOptions::new()).unwrap();
                black_box(map.assign(&rfm).unwrap().len())
            })
        });
        g.bench_with_input(BenchmarkId::new("cohorts", label), &log, |b, log| {
            let options = CohortOptions::new(TimeUnit::Month).observation_end(s.observation_end());
            b.iter(|| black_box(CohortAnalysis::compute(log, &options).unwrap()))
        });
        g.bench_with_input(BenchmarkId::new("survival", label), &s, |b, s| {
            b.iter(|| black_box(LifetimeSurvival::kaplan_meier(s, 182.0).unwrap()))
        });
        g.bench_with_input(BenchmarkId::new("kpis", label), &log, |b, log| {
            let to = end + TimeDelta::seconds(1);
            b.iter(|| {
                black_box(PurchaseKpis::compute_with_lapse(log, to - TimeDelta::weeks(13), to, TimeDelta::days(182)))
            })
        });
        let engine =
            Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::USD).periods(*s.periods())).unwrap();
        for threads in [1, 2] {
            g.bench_with_input(BenchmarkId::new(format!("replay_{threads}_threads"), label), &log, |b, log| {
                b.iter(|| black_box(engine.replay_log(log, end, threads).unwrap().len()))
            });
        }
        let history = engine.replay_log(&log, end, 2).unwrap();
        g.bench_with_input(BenchmarkId::new("stage_queries", label), &history, |b, history| {
            let quarters: Vec<_> = (0..5).map(|q| end - TimeDelta::days(91 * q)).collect();
            b.iter(|| {
                let counts: u64 = quarters.iter().map(|&q| history.stage_counts(q).sum()).sum();
                black_box((counts, history.transition_matrix(quarters[1], quarters[0]).unwrap()))
            })
        });
        drop(history);
        drop(log);
        g.bench_with_input(BenchmarkId::new("fit_pareto_nbd", label), &s, |b, s| b.iter(|| ParetoNbd::fit(s).unwrap()));
        g.bench_with_input(BenchmarkId::new("fit_mbgnbd", label), &s, |b, s| {
            b.iter(|| BetaGeo::fit_modified(s, &FitOptions::default()).unwrap())
        });
        let (purchases, spend) = (BetaGeo::fit(&s).unwrap(), GammaGamma::fit(&s).unwrap());
        g.bench_with_input(BenchmarkId::new("predictions_daily_clv", label), &s, |b, s| {
            let (x, t_x, age) = (s.frequency(), s.recency(), s.age());
            let clv = Clv::new(&purchases, &spend).horizon(Span::Years(1)).annual_discount_rate(0.10);
            b.iter(|| {
                black_box(purchases.probability_alive_columns(x, t_x, age).unwrap());
                black_box(purchases.conditional_expected_purchases_columns(365.0, x, t_x, age).unwrap());
                black_box(clv.compute(s).unwrap())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench, report);
criterion_main!(benches);
