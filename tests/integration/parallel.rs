//! Every core, the results of one: long columns of predictions (shared out
//! between rayon's threads, feature `parallel`) give the bits of a
//! one-thread pool and of the per-customer functions, and name the first
//! bad row.

use customer_lifecycle::Error;
use customer_lifecycle::clv::{BetaGeo, ParetoNbd, PurchaseModel};
use customer_lifecycle::ndarray::Array1;

/// Long columns (shared out between the cores) give the bits of one
/// thread and of the per-customer functions, and the first bad row.
#[test]
fn long_columns_are_the_same_on_any_number_of_threads() {
    let n = 150_000;
    let x: Array1<f64> = (0..n).map(|i| f64::from((i % 37) as u32)).collect();
    let age: Array1<f64> = (0..n).map(|i| 1.0 + f64::from((i % 1_001) as u32) * 0.25).collect();
    let t_x: Array1<f64> = (0..n).map(|i| if x[i] == 0.0 { 0.0 } else { age[i] * 0.6 }).collect();
    let models: Vec<Box<dyn PurchaseModel>> = vec![
        Box::new(BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259).unwrap()),
        Box::new(ParetoNbd::new(0.5532, 10.5763, 0.6062, 11.6715).unwrap()),
    ];
    let in_pool = |threads: usize, f: &(dyn Fn() -> Vec<u64> + Sync)| {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(f)
    };
    for m in &models {
        let bits = || -> Vec<u64> {
            let alive = m.probability_alive_columns(x.view(), t_x.view(), age.view()).unwrap();
            let expected = m.conditional_expected_purchases_columns(13.0, x.view(), t_x.view(), age.view()).unwrap();
            alive.iter().chain(expected.iter()).map(|v| v.to_bits()).collect()
        };
        let one = in_pool(1, &bits);
        for threads in [2, 3] {
            assert_eq!(in_pool(threads, &bits), one, "{}", m.name());
        }
        for i in (0..n).step_by(9_973) {
            assert_eq!(m.probability_alive(x[i], t_x[i], age[i]).unwrap().to_bits(), one[i], "{}", m.name());
        }
        // Two bad rows in different runs: the first is named.
        let mut bad = t_x.clone();
        bad[140_000] = 1e9;
        bad[90_001] = 1e9;
        for threads in [1, 2] {
            let e = in_pool(threads, &|| {
                let e = m.probability_alive_columns(x.view(), bad.view(), age.view()).unwrap_err();
                vec![match e {
                    Error::InvalidModelInput { row, .. } => row as u64,
                    _ => u64::MAX,
                }]
            });
            assert_eq!(e, vec![90_001]);
        }
    }
}

/// A shop of `customers` customers joining every day of 2024 up to the
/// last, with repeat orders and refunds (seeded).
fn big_shop(customers: u64) -> customer_lifecycle::TransactionLog {
    use customer_lifecycle::chrono::{TimeZone, Utc};
    use customer_lifecycle::rust_decimal::Decimal;
    use customer_lifecycle::{Currency, CustomerId, Money, Transaction, TransactionLog};
    let mut log = TransactionLog::new(Currency::EUR);
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let start = Utc.with_ymd_and_hms(2024, 1, 1, 9, 0, 0).unwrap().timestamp();
    for c in 0..customers {
        let id = CustomerId::Text(format!("c{c}@shop.example"));
        let first = start + (next() % 366) as i64 * 86_400;
        let orders = 1 + next() % 4;
        let mut at = first;
        for o in 0..orders {
            if at >= start + 366 * 86_400 {
                break;
            }
            let amount = Money::new(Decimal::new((500 + next() % 20_000) as i64, 2), Currency::EUR);
            let when = Utc.timestamp_opt(at, 0).unwrap();
            log.push(Transaction::order(id.clone(), when, amount)).unwrap();
            if o == 0 && next() % 10 == 0 {
                log.push(Transaction::refund(id.clone(), when, amount)).unwrap();
            }
            at += (1 + next() % 120) as i64 * 86_400;
        }
    }
    log
}

/// RFM scores and cohort matrices are computed in parts on several
/// threads from a size on: the same values as one thread.
#[test]
fn rfm_and_cohorts_are_the_same_on_any_number_of_threads() {
    use customer_lifecycle::chrono::NaiveDate;
    use customer_lifecycle::metrics::{RfmMonetary, TiePolicy};
    use customer_lifecycle::{
        CohortAnalysis, CohortOptions, RetentionMode, RfmOptions, RfmScores, SummaryOptions, TimeUnit,
    };
    let log = big_shop(80_000);
    let end = NaiveDate::from_ymd_opt(2024, 12, 31).unwrap();
    let summary = log.summarize(&SummaryOptions::new(TimeUnit::Day).observation_end(end)).unwrap();
    assert!(summary.len() >= 65_536);
    let pool = |threads: usize| rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    for options in
        [RfmOptions::new(), RfmOptions::new().ties(TiePolicy::EqualSizedBins).monetary(RfmMonetary::AverageOrderValue)]
    {
        let one = pool(1).install(|| RfmScores::compute(&summary, &options).unwrap());
        for threads in [2, 3] {
            assert_eq!(pool(threads).install(|| RfmScores::compute(&summary, &options).unwrap()), one);
        }
    }
    for unit in [TimeUnit::Month, TimeUnit::Week] {
        let options = CohortOptions::new(unit).observation_end(end);
        let one = pool(1).install(|| CohortAnalysis::compute(&log, &options).unwrap());
        assert_eq!(one.sizes().sum(), summary.len() as u64);
        for threads in [2, 3, 4] {
            let many = pool(threads).install(|| CohortAnalysis::compute(&log, &options).unwrap());
            assert_eq!(many, one);
            let bits = |c: &CohortAnalysis| c.retention(RetentionMode::Rolling).mapv(f64::to_bits);
            assert_eq!(bits(&many), bits(&one));
        }
    }
}
