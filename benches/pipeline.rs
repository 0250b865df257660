//! The whole batch job and each of its steps, on CSV text generated in
//! memory by the generator of `examples/pipeline.rs` (which writes the file
//! `benches/compare/peers.py` gives the peers): about ROWS orders of
//! ROWS/14.5 customers with random 63-bit ids (read as text, the default),
//! ISO dates over three years, two decimals, fixed seed; the unit is the
//! day.
//!
//! * `pipeline/whole/*`: CSV text → summary → BG/NBD and Gamma-Gamma fits
//!   → P(alive), purchases in 365 days and 12-month CLV (lifetimes' monthly
//!   steps, 1 % a month) for every customer;
//! * `pipeline/load/*`, `summary/*`, `fit_bgnbd/*`, `fit_gamma_gamma/*`,
//!   `predict/*`, `clv/*`: the steps alone.
//!
//! Run: `cargo bench --bench pipeline` (1M and 10M rows; about five
//! minutes). One thread.

use std::hint::black_box;

/// The generator of the example that runs the same job on a file.
#[path = "../examples/pipeline.rs"]
#[allow(dead_code)]
mod pipeline_example;
use pipeline_example::orders_csv;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use customer_lifecycle::clv::{BetaGeo, Clv, GammaGamma};
use customer_lifecycle::{CsvOptions, Currency, PurchaseSummary, SummaryOptions, TimeUnit, TransactionLog};

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
    let clv = Clv::new(purchases, spend).lifetimes_compatible(12, 0.01).compute(summary).unwrap();
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
                let purchases = BetaGeo::fit(&s).unwrap();
                let spend = GammaGamma::fit(&s).unwrap();
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

criterion_group!(benches, bench);
criterion_main!(benches);
