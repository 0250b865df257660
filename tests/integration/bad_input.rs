//! Bad input, item by item: each gets a typed error (or the documented
//! behaviour), never a panic and never a silent drop.

use customer_lifecycle::chrono::{NaiveDate, TimeDelta, TimeZone, Utc};
use customer_lifecycle::clv::{ValueLedger, retention_clv, segment_profitability, simple_clv};
use customer_lifecycle::metrics::{RfmOptions, RfmScores};
use customer_lifecycle::{
    CohortAnalysis, CohortOptions, CsvOptions, Currency, CustomerId, EngagementKpis, Error, Event, EventKind,
    LifetimeSurvival, Money, PurchaseKpis, SummaryOptions, TimeUnit, Transaction, TransactionLog,
};
use proptest::prelude::*;

const MASTER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/CDNOW_master.txt");

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn csv(data: &str) -> Result<TransactionLog, Error> {
    TransactionLog::from_csv_reader(data.as_bytes(), &CsvOptions::new(Currency::USD))
}

#[test]
fn zero_value_orders_and_identical_rows_are_kept_as_lifetimes_does() {
    let log = TransactionLog::from_cdnow_master_path(MASTER).unwrap();
    let rows: Vec<Transaction> = log.iter().collect();
    let zero = rows.iter().filter(|t| t.amount().amount().is_zero()).count();
    assert_eq!(zero, 80);
    let mut keys: Vec<(String, i64, String)> =
        rows.iter().map(|t| (t.customer().to_string(), t.at().timestamp(), t.amount().amount().to_string())).collect();
    keys.sort();
    let repeats = keys.windows(2).filter(|w| w[0] == w[1]).count();
    assert_eq!(repeats, 255);
    assert_eq!(log.len(), 69_659);
}

#[test]
fn repeated_order_ids_are_the_same_order() {
    let data = "customer_id,date,amount,order_id\n1,1997-01-01,10,A\n1,1997-01-01,10,A\n1,1997-02-01,5,B\n";
    assert_eq!(csv(data).unwrap().len(), 2);
    let conflicting = "customer_id,date,amount,order_id\n1,1997-01-01,10,A\n2,1997-01-01,10,A\n";
    let e = csv(conflicting).unwrap_err();
    assert!(e.to_string().contains("line 3") && e.to_string().contains("order id"), "{e}");
}

#[test]
fn negative_amounts() {
    let e = csv("customer_id,date,amount\n1,1997-01-01,-10\n").unwrap_err();
    assert!(e.to_string().contains("must not be negative"), "{e}");
}

#[test]
fn mixed_currencies() {
    let mut log = TransactionLog::new(Currency::USD);
    let at = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    let e =
        log.push(Transaction::order(CustomerId::from(1), at, Money::parse("1", Currency::EUR).unwrap())).unwrap_err();
    assert!(matches!(e, Error::MixedCurrency { .. }));
    let e =
        Money::parse("1", Currency::USD).unwrap().checked_add(Money::parse("1", Currency::GBP).unwrap()).unwrap_err();
    assert!(matches!(e, Error::MixedCurrency { .. }));
}

#[test]
fn transaction_after_the_observation_end() {
    let log = TransactionLog::from_cdnow_master_path(MASTER).unwrap();
    let e = log.summarize(&SummaryOptions::new(TimeUnit::Week).observation_end(date(1998, 6, 29))).unwrap_err();
    match e {
        Error::AfterObservationEnd { date: d, observation_end, .. } => {
            assert_eq!((d, observation_end), (date(1998, 6, 30), date(1998, 6, 29)));
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn calibration_end_after_observation_end() {
    let log = TransactionLog::from_cdnow_master_path(MASTER).unwrap();
    let e = log
        .summarize(
            &SummaryOptions::new(TimeUnit::Week).calibration_end(date(1998, 7, 1)).observation_end(date(1998, 6, 30)),
        )
        .unwrap_err();
    assert!(matches!(e, Error::CalibrationAfterObservationEnd { .. }));
}

#[test]
fn empty_logs() {
    let log = csv("customer_id,date,amount\n").unwrap();
    assert!(log.is_empty());
    assert!(matches!(log.summarize(&SummaryOptions::new(TimeUnit::Day)), Err(Error::Empty { .. })));
    assert!(matches!(csv(""), Err(Error::MissingColumn { .. })));
}

#[test]
fn unparsable_rows_name_line_and_column() {
    let e = csv("customer_id,date,amount\n1,1997-01-01,10\n1,1997-01-02,ten\n").unwrap_err();
    assert_eq!(e.to_string(), "line 3, column \"amount\": cannot read \"ten\": not a decimal number");
    let e = csv("customer_id,date,amount\n1,yesterday,10\n").unwrap_err();
    assert!(matches!(e, Error::Parse { line: 2, ref column, .. } if column == "date"), "{e}");
    let e = TransactionLog::from_csv_reader(
        "customer_id,date,amount\nx,1997-01-01,10\n".as_bytes(),
        &CsvOptions::new(Currency::USD).id_kind(customer_lifecycle::IdKind::Number),
    )
    .unwrap_err();
    assert!(matches!(e, Error::Parse { line: 2, ref column, .. } if column == "customer_id"), "{e}");
}

#[test]
fn duplicate_event_ids_are_idempotent() {
    let mut log = TransactionLog::new(Currency::EUR);
    let event = Event::new(
        "evt-9",
        CustomerId::from("c"),
        Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap(),
        EventKind::OrderPlaced {
            order_id: "o".into(),
            gross: Money::parse("10", Currency::EUR).unwrap(),
            discount: Money::zero(Currency::EUR),
            items: 1,
        },
    )
    .unwrap();
    assert!(log.push_event(&event).unwrap());
    for _ in 0..3 {
        assert!(!log.push_event(&event).unwrap());
    }
    assert_eq!(log.len(), 1);
}

/// The CDNOW sample log and its summary in weeks.
fn cdnow_sample() -> (TransactionLog, customer_lifecycle::PurchaseSummary) {
    let log =
        TransactionLog::from_cdnow_sample_path(concat!(env!("CARGO_MANIFEST_DIR"), "/data/CDNOW_sample.txt")).unwrap();
    let summary = log.summarize(&SummaryOptions::new(TimeUnit::Week)).unwrap();
    (log, summary)
}

#[test]
fn analytics_on_empty_populations() {
    let empty = TransactionLog::new(Currency::USD);
    assert!(matches!(CohortAnalysis::compute(&empty, &CohortOptions::new(TimeUnit::Month)), Err(Error::Empty { .. })));
    let from = Utc.with_ymd_and_hms(1997, 1, 1, 0, 0, 0).unwrap();
    assert!(matches!(PurchaseKpis::compute(&empty, from, from + TimeDelta::days(7)), Err(Error::Empty { .. })));
    assert!(matches!(
        EngagementKpis::compute(&[], from, from + TimeDelta::days(7), TimeDelta::hours(1)),
        Err(Error::Empty { .. })
    ));
    assert!(matches!(ValueLedger::new(Currency::USD).historic_clv(0.5), Err(Error::Empty { .. })));
    assert!(matches!(segment_profitability(&[], |_| None), Err(Error::Empty { .. })));
    // A window of the CDNOW log in which nobody ordered.
    let (log, _) = cdnow_sample();
    let later = Utc.with_ymd_and_hms(2001, 1, 1, 0, 0, 0).unwrap();
    assert!(matches!(PurchaseKpis::compute(&log, later, later + TimeDelta::days(7)), Err(Error::Empty { .. })));
}

#[test]
fn rfm_bins_outside_the_range() {
    let (_, summary) = cdnow_sample();
    for k in [0, 1, 10, 11] {
        let e = RfmScores::compute(&summary, &RfmOptions::new().bins(k)).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
    }
}

#[test]
fn cohort_period_with_no_customers() {
    let (log, _) = cdnow_sample();
    let cohorts = CohortAnalysis::compute(&log, &CohortOptions::new(TimeUnit::Month)).unwrap();
    // CDNOW's customers were all acquired in Q1 1997.
    let e = cohorts.row_of(date(1997, 5, 12)).unwrap_err();
    assert!(matches!(e, Error::EmptyCohort { period_start } if period_start == date(1997, 5, 1)), "{e}");
    assert_eq!(cohorts.row_of(date(1997, 3, 31)).unwrap(), 2);
}

#[test]
fn negative_costs_and_margins_outside_zero_to_one() {
    let usd = |s| Money::parse(s, Currency::USD).unwrap();
    let mut ledger = ValueLedger::new(Currency::USD);
    let c = CustomerId::from(1);
    let e = ledger.add_service_cost(&c, usd("-2")).unwrap_err();
    assert!(e.to_string().contains("customer 1"), "{e}");
    assert!(matches!(ledger.add_acquisition_cost(&c, usd("-2")), Err(Error::InvalidAmount { .. })));
    assert!(customer_lifecycle::metrics::customer_acquisition_cost(usd("-100"), 5).is_err());
    ledger.add_order(&c, usd("10"), usd("0")).unwrap();
    for margin in [-0.01, 1.01, f64::NAN, f64::INFINITY] {
        assert!(matches!(ledger.historic_clv(margin), Err(Error::InvalidArgument { name: "margin", .. })));
        assert!(simple_clv(10.0, 2.0, 3.0, margin).is_err());
    }
    assert!(retention_clv(10.0, 1.5, 0.1).is_err());
    let (_, summary) = cdnow_sample();
    assert!(LifetimeSurvival::kaplan_meier(&summary, -4.0).is_err());
}

#[test]
fn nan_and_infinite_floats() {
    assert!(matches!(Money::from_f64(f64::NAN, Currency::USD), Err(Error::NonFinite { .. })));
    assert!(matches!(Money::from_f64(f64::NEG_INFINITY, Currency::USD), Err(Error::NonFinite { .. })));
    for bad in ["NaN", "inf", "-inf", "1e999"] {
        let e = csv(&format!("customer_id,date,amount\n1,1997-01-01,{bad}\n")).unwrap_err();
        assert!(matches!(e, Error::Parse { .. }), "{bad}: {e}");
    }
}

proptest! {
    /// Arbitrary bytes never make the loaders panic.
    #[test]
    fn loaders_never_panic(body in prop::collection::vec(any::<u8>(), 0..400)) {
        let mut data = b"customer_id,date,amount,order_id,kind,currency\n".to_vec();
        data.extend_from_slice(&body);
        let _ = TransactionLog::from_csv_reader(&data[..], &CsvOptions::new(Currency::USD));
        let _ = TransactionLog::from_cdnow_master_reader(&data[..]);
        let _ = TransactionLog::from_cdnow_sample_reader(&body[..]);
    }

    /// Text that looks almost right never makes the loader or the summary panic.
    #[test]
    fn near_valid_rows_never_panic(
        rows in prop::collection::vec(("[0-9a-z]{0,3}", "(19|20|99)[0-9]{2}-[01][0-9]-[0-3][0-9]", "-?[0-9]{0,20}(\\.[0-9]{0,30})?"), 0..20),
        end_day in 1u32..28,
    ) {
        let mut data = String::from("customer_id,date,amount\n");
        for (c, d, a) in &rows {
            data.push_str(&format!("{c},{d},{a}\n"));
        }
        if let Ok(log) = csv(&data) {
            let _ = log.summarize(&SummaryOptions::new(TimeUnit::Week).observation_end(date(2099, 12, end_day)));
            let _ = log.summarize(&SummaryOptions::new(TimeUnit::Month).calendar_periods().calibration_end(date(2000, 1, end_day)));
        }
    }
}
