//! Bad input, item by item: each gets a typed error (or the documented
//! behaviour), never a panic and never a silent drop.

use customer_lifecycle::chrono::{NaiveDate, TimeZone, Utc};
use customer_lifecycle::{
    CsvOptions, Currency, CustomerId, Error, Event, EventKind, Money, SummaryOptions, TimeUnit, Transaction,
    TransactionLog,
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
    let zero = rows.iter().filter(|t| t.amount.amount().is_zero()).count();
    assert_eq!(zero, 80);
    let mut keys: Vec<(String, i64, String)> =
        rows.iter().map(|t| (t.customer.to_string(), t.at.timestamp(), t.amount.amount().to_string())).collect();
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
