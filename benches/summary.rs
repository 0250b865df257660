//! Purchase-summary throughput on generated logs, against the floors.
//!
//! Data: 1M and 10M transactions (fixed seed), ~10 per customer, over three
//! years, in time order so that customers interleave. Measured:
//!
//! * `summary/*`: `TransactionLog::summarize` (continuous weeks), ids
//!   already dense, amounts in minor units; `summary_with_holdout/*`: the
//!   same with a calibration/holdout split (two windows per customer);
//!   `summary_random_ids/*`: the first with random 63-bit customer numbers;
//! * `floor_dense_group_by/*`: per-customer counters in a plain vector
//!   indexed by dense id (no hashing, random access);
//! * `floor_scan/*`: a plain scan summing the same columns (memory bandwidth);
//! * `floor_hash_group_by/*`: a hash group-by of the same rows into
//!   per-customer counters (count, sum, first and last day);
//! * `cohorts_monthly/*`, `cohorts_weekly/*`: `CohortAnalysis::compute`
//!   (every matrix: active customers in three retention modes, orders,
//!   revenue, returns) with calendar-month and Monday-week cohorts;
//! * `id_mapping/*`: mapping the shop's ids to dense indices;
//! * `csv_parsing/*`: reading the log from CSV text (numeric ids);
//!   `csv_parsing_text_ids/*`: the same with random 63-bit ids read with
//!   the default options (ids as text), as a shop's export would be (two
//!   threads on a two-core machine, the default), and
//!   `csv_parsing_text_ids_one_thread/*` with `CsvOptions::threads(1)`;
//!   `floor_hand_parse/*`: a hand-written parse of those bytes (split
//!   lines and fields, read the id, date and amount digits, no checks, no
//!   id mapping): what reading the text costs at least.
//!
//! Run: `cargo bench --bench summary`. Report ns per transaction = time ÷ rows.

// Index loops read the parallel columns the way the library does.
#![allow(clippy::needless_range_loop)]

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use customer_lifecycle::chrono::{DateTime, NaiveDate};
use customer_lifecycle::rust_decimal::Decimal;
use customer_lifecycle::{
    CohortAnalysis, CohortOptions, CsvOptions, Currency, CustomerId, CustomerIndex, IdKind, Money, SummaryOptions,
    TimeUnit, Transaction, TransactionLog,
};

/// xorshift64*: a small deterministic generator, so the data is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const START: i64 = 1_577_836_800; // 2020-01-01T00:00:00Z
const DAYS: i64 = 3 * 365;

/// Rows as (shop customer id, unix seconds, cents), in time order.
#[derive(Clone)]
struct Data {
    customer: Vec<i64>,
    at: Vec<i64>,
    cents: Vec<i64>,
}

fn generate(rows: usize, seed: u64) -> Data {
    let customers = (rows / 10) as u64;
    let mut rng = Rng(seed);
    let mut raw: Vec<(i64, i64, i64)> = (0..rows)
        .map(|_| {
            let c = 1_000_000 + rng.below(customers) as i64;
            let t = START + rng.below((DAYS * 86_400) as u64) as i64;
            let cents = 100 + rng.below(20_000) as i64;
            (t, c, cents)
        })
        .collect();
    raw.sort_unstable();
    Data {
        customer: raw.iter().map(|r| r.1).collect(),
        at: raw.iter().map(|r| r.0).collect(),
        cents: raw.iter().map(|r| r.2).collect(),
    }
}

fn build_log(d: &Data) -> TransactionLog {
    let mut log = TransactionLog::new(Currency::USD);
    for i in 0..d.at.len() {
        let at = DateTime::from_timestamp(d.at[i], 0).unwrap();
        let amount = Money::new(Decimal::new(d.cents[i], 2), Currency::USD);
        log.push(Transaction::order(CustomerId::Number(d.customer[i]), at, amount)).unwrap();
    }
    log
}

/// The floor of reading `id,YYYY-MM-DD,units.cents` lines: split, read the
/// digits, fold them into a checksum; nothing checked, nothing stored.
fn hand_parse(text: &[u8]) -> u64 {
    let digits =
        |b: &[u8]| b.iter().fold(0u64, |acc, &c| acc.wrapping_mul(10).wrapping_add(u64::from(c.wrapping_sub(b'0'))));
    let mut sum = 0u64;
    for line in text.split(|&b| b == b'\n').skip(1) {
        let mut fields = line.split(|&b| b == b',');
        let (Some(id), Some(date), Some(amount)) = (fields.next(), fields.next(), fields.next()) else { continue };
        let day = digits(&date[..4]) * 372 + digits(&date[5..7]) * 31 + digits(&date[8..10]);
        let cents = amount.split(|&b| b == b'.').fold(0, |acc, part| acc * 100 + digits(part));
        sum = sum.wrapping_add(digits(id) ^ day ^ cents);
    }
    sum
}

fn options() -> SummaryOptions {
    SummaryOptions::new(TimeUnit::Week).observation_end(NaiveDate::from_ymd_opt(2022, 12, 31).unwrap())
}

fn bench(c: &mut Criterion) {
    for &rows in &[1_000_000usize, 10_000_000] {
        let data = generate(rows, 42);
        let log = build_log(&data);
        let label = if rows == 1_000_000 { "1M" } else { "10M" };
        // Dense ids as the log holds them, for the floors.
        let mut index = CustomerIndex::new();
        let dense: Vec<u32> = data.customer.iter().map(|&c| index.insert(CustomerId::Number(c)).unwrap().0).collect();
        let customers = index.len();

        let mut g = c.benchmark_group("summary_pipeline");
        g.sample_size(10);
        g.throughput(Throughput::Elements(rows as u64));

        let opts = options();
        g.bench_with_input(BenchmarkId::new("summary", label), &log, |b, log| {
            b.iter(|| black_box(log.summarize(&opts).unwrap()))
        });
        let split = opts.calibration_end(NaiveDate::from_ymd_opt(2021, 12, 31).unwrap());
        g.bench_with_input(BenchmarkId::new("summary_with_holdout", label), &log, |b, log| {
            b.iter(|| black_box(log.summarize(&split).unwrap()))
        });
        // The same rows with random 63-bit customer numbers (a bijection).
        let random_ids = {
            let mut scrambled = data.clone();
            scrambled
                .customer
                .iter_mut()
                .for_each(|c| *c = ((*c as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 1) as i64);
            build_log(&scrambled)
        };
        g.bench_with_input(BenchmarkId::new("summary_random_ids", label), &random_ids, |b, log| {
            b.iter(|| black_box(log.summarize(&opts).unwrap()))
        });
        drop(random_ids);

        let end = NaiveDate::from_ymd_opt(2022, 12, 31).unwrap();
        for (name, unit) in [("cohorts_monthly", TimeUnit::Month), ("cohorts_weekly", TimeUnit::Week)] {
            let cohort_options = CohortOptions::new(unit).observation_end(end);
            g.bench_with_input(BenchmarkId::new(name, label), &log, |b, log| {
                b.iter(|| black_box(CohortAnalysis::compute(log, &cohort_options).unwrap()))
            });
        }

        g.bench_with_input(BenchmarkId::new("floor_scan", label), &rows, |b, _| {
            b.iter(|| {
                let mut sum = 0i64;
                let mut last = 0i64;
                let mut ids = 0u64;
                for i in 0..rows {
                    sum = sum.wrapping_add(data.cents[i]);
                    last = last.max(data.at[i]);
                    ids = ids.wrapping_add(u64::from(dense[i]));
                }
                black_box((sum, last, ids))
            })
        });

        g.bench_with_input(BenchmarkId::new("floor_hash_group_by", label), &rows, |b, _| {
            b.iter(|| {
                let mut groups: HashMap<u32, (u32, i64, i64, i64)> = HashMap::with_capacity(customers);
                for i in 0..rows {
                    let day = data.at[i].div_euclid(86_400);
                    let e = groups.entry(dense[i]).or_insert((0, 0, day, day));
                    e.0 += 1;
                    e.1 += data.cents[i];
                    e.3 = day;
                }
                black_box(groups.len())
            })
        });

        g.bench_with_input(BenchmarkId::new("floor_dense_group_by", label), &rows, |b, _| {
            b.iter(|| {
                let mut groups = vec![(0u32, 0i64, 0i64, 0i64); customers];
                for i in 0..rows {
                    let day = data.at[i].div_euclid(86_400);
                    let e = &mut groups[dense[i] as usize];
                    if e.0 == 0 {
                        e.2 = day;
                    }
                    e.0 += 1;
                    e.1 += data.cents[i];
                    e.3 = day;
                }
                black_box(groups.len())
            })
        });

        if rows == 1_000_000 {
            g.bench_with_input(BenchmarkId::new("id_mapping", label), &rows, |b, _| {
                b.iter(|| {
                    let mut index = CustomerIndex::new();
                    for &c in &data.customer {
                        black_box(index.insert(CustomerId::Number(c)).unwrap());
                    }
                    black_box(index.len())
                })
            });
            let mut text = String::from("customer_id,date,amount\n");
            for i in 0..rows {
                let t = DateTime::from_timestamp(data.at[i], 0).unwrap();
                text.push_str(&format!(
                    "{},{},{}.{:02}\n",
                    data.customer[i],
                    t.format("%Y-%m-%d %H:%M:%S"),
                    data.cents[i] / 100,
                    data.cents[i] % 100
                ));
            }
            let csv_options = CsvOptions::new(Currency::USD).id_kind(IdKind::Number);
            g.bench_with_input(BenchmarkId::new("csv_parsing", label), &text, |b, text| {
                b.iter(|| black_box(TransactionLog::from_csv_reader(text.as_bytes(), &csv_options).unwrap().len()))
            });
            // Random 63-bit ids (a bijection of the customer numbers), as text.
            let scramble = |c: i64| ((c as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 1) as i64;
            let mut text_ids = String::from("customer_id,date,amount\n");
            for i in 0..rows {
                let t = DateTime::from_timestamp(data.at[i], 0).unwrap();
                text_ids.push_str(&format!(
                    "{},{},{}.{:02}\n",
                    scramble(data.customer[i]),
                    t.format("%Y-%m-%d"),
                    data.cents[i] / 100,
                    data.cents[i] % 100
                ));
            }
            let defaults = CsvOptions::new(Currency::USD);
            g.bench_with_input(BenchmarkId::new("csv_parsing_text_ids", label), &text_ids, |b, text| {
                b.iter(|| black_box(TransactionLog::from_csv_reader(text.as_bytes(), &defaults).unwrap().len()))
            });
            let one_thread = CsvOptions::new(Currency::USD).threads(1);
            g.bench_with_input(BenchmarkId::new("csv_parsing_text_ids_one_thread", label), &text_ids, |b, text| {
                b.iter(|| black_box(TransactionLog::from_csv_reader(text.as_bytes(), &one_thread).unwrap().len()))
            });
            g.bench_with_input(BenchmarkId::new("floor_hand_parse", label), &text_ids, |b, text| {
                b.iter(|| black_box(hand_parse(text.as_bytes())))
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
