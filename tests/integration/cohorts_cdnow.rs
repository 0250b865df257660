//! Cohort matrices of CDNOW_master against plain pandas group-bys
//! (`tests/fixtures/generate_cohort_fixtures.py`): every complete cell of
//! every matrix equal (revenue within 1e-6), every incomplete cell NaN.

use customer_lifecycle::chrono::NaiveDate;
use customer_lifecycle::{CohortAnalysis, CohortOptions, RetentionMode, TimeUnit, TransactionLog};

const MASTER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/CDNOW_master.txt");

fn check(unit: TimeUnit, fixture: &str) {
    let log = TransactionLog::from_cdnow_master_path(MASTER).unwrap();
    let end = NaiveDate::from_ymd_opt(1998, 6, 30).unwrap();
    let a = CohortAnalysis::compute(&log, &CohortOptions::new(unit).observation_end(end)).unwrap();
    let matrices = [
        a.active_customers(RetentionMode::OnPeriod),
        a.active_customers(RetentionMode::OnOrAfter),
        a.active_customers(RetentionMode::Rolling),
        a.orders(),
    ];
    let revenue = a.revenue();
    let mut reader =
        csv::Reader::from_path(format!("{}/tests/fixtures/{fixture}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let (mut complete, mut incomplete) = (0, 0);
    for record in reader.records() {
        let r = record.unwrap();
        let cohort: NaiveDate = r[0].parse().unwrap();
        let n: usize = r[1].parse().unwrap();
        let row = a.row_of(cohort).unwrap();
        let period_end = a.periods().period_start(a.periods().period_of_date(cohort) + n as i32 + 1);
        assert_eq!(a.is_complete(row, n), period_end <= end.succ_opt().unwrap(), "{cohort} {n}");
        assert_eq!(a.cohorts()[row], cohort);
        if !a.is_complete(row, n) {
            // Its period ends after the observation end (in progress or not begun).
            let period = a.periods().period_of_date(cohort) + n as i32;
            assert!(a.periods().period_start(period + 1) > end.succ_opt().unwrap(), "{cohort} {n}");
            assert!(matrices.iter().all(|m| m[[row, n]].is_nan()) && revenue[[row, n]].is_nan());
            incomplete += 1;
            continue;
        }
        for (k, m) in matrices.iter().enumerate() {
            let expected: f64 = r[2 + k].parse().unwrap();
            assert_eq!(m[[row, n]], expected, "{fixture}: cohort {cohort}, offset {n}, column {}", 2 + k);
        }
        let expected: f64 = r[6].parse().unwrap();
        assert!((revenue[[row, n]] - expected).abs() <= 1e-6 * expected.max(1.0), "{cohort} {n}");
        complete += 1;
    }
    assert_eq!(complete + incomplete, a.cohorts().len() * a.columns());
    assert_eq!(a.sizes().sum(), 23_570);
}

#[test]
fn monthly_cohorts_equal_pandas() {
    check(TimeUnit::Month, "pandas_cdnow_master_monthly_cohorts.csv");
}

#[test]
fn weekly_cohorts_equal_pandas() {
    check(TimeUnit::Week, "pandas_cdnow_master_weekly_cohorts.csv");
}
