//! Equality with Python lifetimes 0.11.3 on the full CDNOW log (23,570
//! customers, 69,659 transactions): `summary_data_from_transaction_data`
//! (observation end 1998-06-30) and `calibration_and_holdout_data`
//! (calibration end 1997-09-30), in days, continuous weeks
//! (`freq='D', freq_multiplier=7`) and calendar weeks (`freq='W'`).
//!
//! The reference files come from `tests/fixtures/generate_lifetimes_fixtures.py`.
//! Tolerances: frequency, recency, T and duration must be equal to the last
//! bit; monetary values (lifetimes sums floats, we sum exact cents and divide
//! once) within 1e-9 relative.

use std::collections::BTreeMap;

use customer_lifecycle::chrono::NaiveDate;
use customer_lifecycle::{CustomerId, PurchaseSummary, SummaryOptions, TimeUnit, TransactionLog};

const MASTER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/CDNOW_master.txt");

struct Reference {
    plain: [f64; 4],
    split: Option<[f64; 7]>,
}

fn reference(name: &str) -> BTreeMap<i64, Reference> {
    let path = format!("{}/tests/fixtures/lifetimes_cdnow_master_{name}.csv", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = BTreeMap::new();
    for line in text.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        let num = |i: usize| cells[i].parse::<f64>().unwrap();
        let plain = [num(1), num(2), num(3), num(4)];
        let split =
            if cells[5].is_empty() { None } else { Some([num(5), num(6), num(7), num(8), num(9), num(10), num(11)]) };
        out.insert(cells[0].parse::<i64>().unwrap(), Reference { plain, split });
    }
    out
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

fn check(name: &str, options: SummaryOptions) {
    let log = TransactionLog::from_cdnow_master_path(MASTER).unwrap();
    assert_eq!(log.len(), 69_659);
    let expected = reference(name);
    assert_eq!(expected.len(), 23_570);

    let plain: PurchaseSummary = log.summarize(&options.observation_end(date(1998, 6, 30))).unwrap();
    assert_eq!(plain.len(), expected.len());
    for row in plain.rows() {
        let CustomerId::Number(id) = row.customer else { panic!("numeric ids expected") };
        let e = &expected[&id].plain;
        assert_eq!(f64::from(row.frequency), e[0], "{name} customer {id} frequency");
        assert_eq!(row.recency, e[1], "{name} customer {id} recency");
        assert_eq!(row.age, e[2], "{name} customer {id} T");
        assert!(close(row.monetary_value, e[3]), "{name} customer {id} monetary {} vs {}", row.monetary_value, e[3]);
    }

    let split = log.summarize(&options.observation_end(date(1998, 6, 30)).calibration_end(date(1997, 9, 30))).unwrap();
    let with_split = expected.values().filter(|r| r.split.is_some()).count();
    assert_eq!(split.len(), with_split);
    for row in split.rows() {
        let CustomerId::Number(id) = row.customer else { panic!("numeric ids expected") };
        let e = expected[&id].split.unwrap();
        let h = row.holdout.as_ref().unwrap();
        assert_eq!(f64::from(row.frequency), e[0], "{name} customer {id} frequency_cal");
        assert_eq!(row.recency, e[1], "{name} customer {id} recency_cal");
        assert_eq!(row.age, e[2], "{name} customer {id} T_cal");
        assert!(close(row.monetary_value, e[3]), "{name} customer {id} monetary_value_cal");
        assert_eq!(f64::from(h.frequency), e[4], "{name} customer {id} frequency_holdout");
        assert!(
            close(h.monetary_value, e[5]),
            "{name} customer {id} monetary_value_holdout {} vs {}",
            h.monetary_value,
            e[5]
        );
        assert_eq!(split.duration_holdout(), Some(e[6]), "{name} duration_holdout");
    }
}

#[test]
fn cdnow_master_in_days_equals_lifetimes() {
    check("days", SummaryOptions::new(TimeUnit::Day));
}

#[test]
fn cdnow_master_in_continuous_weeks_equals_lifetimes() {
    check("weeks", SummaryOptions::new(TimeUnit::Week));
}

#[test]
fn cdnow_master_in_calendar_weeks_equals_lifetimes() {
    check("calendar_weeks", SummaryOptions::new(TimeUnit::Week).calendar_periods());
}

#[test]
fn cdnow_sample_matches_the_published_summary() {
    // ../shared/data/cdnow_customers_summary.csv: x, t_x and T in weeks rounded to 2 decimals.
    let log =
        TransactionLog::from_cdnow_sample_path(concat!(env!("CARGO_MANIFEST_DIR"), "/data/CDNOW_sample.txt")).unwrap();
    assert_eq!(log.len(), 6_919);
    let s = log
        .summarize(
            &SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)),
        )
        .unwrap();
    assert_eq!(s.len(), 2_357);
    let published = include_str!("../fixtures/cdnow_customers_summary.csv");
    // The published ID is the sample's second column; our customer id is its first.
    let sample = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/CDNOW_sample.txt")).unwrap();
    let customer_of: BTreeMap<i64, i64> = sample
        .lines()
        .map(|l| {
            let f: Vec<i64> = l.split_whitespace().take(2).map(|c| c.parse().unwrap()).collect();
            (f[1], f[0])
        })
        .collect();
    let mut checked = 0;
    for line in published.lines().skip(1) {
        let cells: Vec<f64> = line.split(',').map(|c| c.parse().unwrap()).collect();
        let id = customer_of[&(cells[0] as i64)];
        let row = s.get(&CustomerId::Number(id)).unwrap();
        assert_eq!(f64::from(row.frequency), cells[1], "customer {id} x");
        assert!((row.recency - cells[2]).abs() <= 0.005 + 1e-12, "customer {id} t_x");
        assert!((row.age - cells[3]).abs() <= 0.005 + 1e-12, "customer {id} T");
        checked += 1;
    }
    assert_eq!(checked, 2_357);
    // Totals over the calibration period, exact.
    let x_total: u32 = s.rows().map(|r| r.frequency).sum();
    assert_eq!(
        x_total,
        published.lines().skip(1).map(|l| l.split(',').nth(1).unwrap().parse::<u32>().unwrap()).sum::<u32>()
    );
}
