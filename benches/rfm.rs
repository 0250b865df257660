//! RFM scoring and segmentation of 1M customers (one thread).
//!
//! The summary comes from 3M generated transactions (fixed seed) of 1M
//! customers; the bench times `RfmScores::compute` (both tie policies) and
//! `SegmentMap::assign`. Run: `cargo bench --bench rfm`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use customer_lifecycle::chrono::{DateTime, NaiveDate};
use customer_lifecycle::metrics::{RfmOptions, RfmScores, SegmentMap, TiePolicy};
use customer_lifecycle::rust_decimal::Decimal;
use customer_lifecycle::{Currency, CustomerId, Money, SummaryOptions, TimeUnit, Transaction, TransactionLog};

fn bench(c: &mut Criterion) {
    let mut state = 42u64;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let mut log = TransactionLog::new(Currency::USD);
    for i in 0..3_000_000u64 {
        let customer = if i < 1_000_000 { i } else { next() % 1_000_000 };
        let at = DateTime::from_timestamp(1_577_836_800 + (next() % (3 * 365 * 86_400)) as i64, 0).unwrap();
        let amount = Money::new(Decimal::new(100 + (next() % 20_000) as i64, 2), Currency::USD);
        log.push(Transaction::order(CustomerId::Number(customer as i64), at, amount)).unwrap();
    }
    let summary = log
        .summarize(&SummaryOptions::new(TimeUnit::Week).observation_end(NaiveDate::from_ymd_opt(2022, 12, 31).unwrap()))
        .unwrap();
    assert_eq!(summary.len(), 1_000_000);
    let map = SegmentMap::standard();
    let mut g = c.benchmark_group("rfm");
    g.sample_size(10);
    g.bench_function("scores_equal_sized/1M", |b| {
        b.iter(|| black_box(RfmScores::compute(&summary, &RfmOptions::new()).unwrap()))
    });
    g.bench_function("scores_value_based/1M", |b| {
        b.iter(|| black_box(RfmScores::compute(&summary, &RfmOptions::new().ties(TiePolicy::ValueBased)).unwrap()))
    });
    let scores = RfmScores::compute(&summary, &RfmOptions::new()).unwrap();
    g.bench_function("segments/1M", |b| b.iter(|| black_box(map.assign(&scores).unwrap().len())));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
