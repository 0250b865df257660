//! Churn scoring and training (one thread).
//!
//! * `score/1M`: the learned scorer's probabilities for 1,000,000 customers
//!   × 12 features (`LogisticRegression::predict`);
//! * `train/100k`: fitting it on 100,000 customers × 12 features (Newton /
//!   IRLS with an L2 penalty, to convergence);
//! * `profile/1M-weeks`, `profile/1M-days`: the predictive profile
//!   (`CustomerPrediction::compute`, no CLV interval) of 1,000,000
//!   customers acquired every day over three years up to the end, 1 to 8
//!   orders each (about 3.5M orders), summarised in weeks and in days, from
//!   fixed BG/NBD and Gamma-Gamma parameters (the fits are not timed);
//!   `profile/10k-weeks-200-draws`: 10,000 of them with the CLV interval
//!   from 200 parameter draws of the models fitted on the CDNOW sample,
//!   and `profile/1M-weeks-200-draws` the same for the million.
//!
//! Features are drawn from a fixed seed; labels from a known logistic model.
//! Run: `cargo bench --bench churn`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use customer_lifecycle::chrono::{Duration, NaiveDate, TimeZone, Utc};
use customer_lifecycle::churn::{CustomerPrediction, Eligibility, LogisticOptions, LogisticRegression, ProfileOptions};
use customer_lifecycle::clv::{BetaGeo, GammaGamma};
use customer_lifecycle::ndarray::Array2;
use customer_lifecycle::rust_decimal::Decimal;
use customer_lifecycle::{
    Currency, CustomerId, Money, PurchaseSummary, SummaryOptions, TimeUnit, Transaction, TransactionLog,
};

struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

const FEATURES: usize = 12;

fn data(rows: usize, seed: u64) -> (Array2<f64>, Vec<bool>) {
    let mut rng = Rng(seed);
    let x = Array2::from_shape_fn((rows, FEATURES), |(_, j)| rng.uniform() * (j + 1) as f64);
    let y = (0..rows)
        .map(|i| {
            let eta: f64 = (0..FEATURES).map(|j| x[[i, j]] * if j % 2 == 0 { 0.2 } else { -0.15 }).sum::<f64>() - 0.5;
            rng.uniform() < 1.0 / (1.0 + (-eta).exp())
        })
        .collect();
    (x, y)
}

/// `customers` customers acquired every day over three years up to
/// 2024-12-31, 1 to 8 orders each at hashed gaps, summarised in `unit`.
fn shop_summary(customers: u64, unit: TimeUnit) -> PurchaseSummary {
    let end = NaiveDate::from_ymd_opt(2024, 12, 31).unwrap();
    let start = end - Duration::days(1095);
    let mut log = TransactionLog::new(Currency::EUR);
    for i in 0..customers {
        let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let id = CustomerId::from(i as i64);
        let mut day = start + Duration::days((h % 1096) as i64);
        for k in 0..=((h >> 12) % 8) {
            let at = Utc.from_utc_datetime(&day.and_hms_opt(12, 0, 0).unwrap());
            let cents = 1_000 + ((h >> 20).wrapping_add(k * 7919) % 9_000) as i64;
            log.push(Transaction::order(id.clone(), at, Money::new(Decimal::new(cents, 2), Currency::EUR))).unwrap();
            day += Duration::days(1 + ((h >> (24 + k)) % 90) as i64);
            if day > end {
                break;
            }
        }
    }
    log.summarize(&SummaryOptions::new(unit).observation_end(end)).unwrap()
}

fn bench(c: &mut Criterion) {
    let names: Vec<String> = (0..FEATURES).map(|j| format!("f{j}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let (train_x, train_y) = data(100_000, 3);
    let model = LogisticRegression::fit(train_x.view(), &train_y, &names, &LogisticOptions::new()).unwrap();
    let (score_x, _) = data(1_000_000, 5);
    let mut g = c.benchmark_group("churn");
    g.sample_size(10);
    g.bench_function("score/1M", |b| b.iter(|| black_box(model.predict(score_x.view()).unwrap())));
    g.bench_function("train/100k", |b| {
        b.iter(|| {
            black_box(LogisticRegression::fit(train_x.view(), &train_y, &names, &LogisticOptions::new()).unwrap())
        })
    });
    g.finish();

    let spend = GammaGamma::new(6.25, 3.74, 15.44).unwrap();
    let options = ProfileOptions::new().eligibility(Eligibility::none());
    let mut g = c.benchmark_group("profile");
    g.sample_size(10);
    for (name, unit, purchases) in [
        ("1M-weeks", TimeUnit::Week, BetaGeo::new(0.24, 4.41, 0.79, 2.43).unwrap().in_unit(TimeUnit::Week)),
        ("1M-days", TimeUnit::Day, BetaGeo::new(0.24, 30.9, 0.79, 2.43).unwrap().in_unit(TimeUnit::Day)),
    ] {
        let summary = shop_summary(1_000_000, unit);
        g.bench_function(name, |b| {
            b.iter(|| black_box(CustomerPrediction::compute(&summary, &purchases, &spend, &options).unwrap()))
        });
    }
    // Intervals need a fit's covariance: the models fitted on the CDNOW
    // sample (in weeks), applied to 10,000 of the shop's customers.
    let small = shop_summary(10_000, TimeUnit::Week);
    let cdnow = TransactionLog::cdnow_sample().unwrap().summarize(&SummaryOptions::new(TimeUnit::Week)).unwrap();
    let (fitted, fitted_spend) = (BetaGeo::fit(&cdnow).unwrap(), GammaGamma::fit(&cdnow).unwrap());
    let with_intervals = options.clone().clv_intervals(200, 1);
    g.bench_function("10k-weeks-200-draws", |b| {
        b.iter(|| black_box(CustomerPrediction::compute(&small, &fitted, &fitted_spend, &with_intervals).unwrap()))
    });
    let large = shop_summary(1_000_000, TimeUnit::Week);
    g.bench_function("1M-weeks-200-draws", |b| {
        b.iter(|| black_box(CustomerPrediction::compute(&large, &fitted, &fitted_spend, &with_intervals).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
