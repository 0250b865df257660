//! Every serialised structure keyed by customer id round-trips through JSON
//! to an equal value, for every kind of id — numbers, texts that look like
//! numbers, e-mail addresses — and still finds its customers afterwards
//! (consent answers, erasure).

use customer_lifecycle::chrono::{DateTime, TimeZone, Utc};
use customer_lifecycle::clv::ValueLedger;
use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageHistory, StageModel};
use customer_lifecycle::{
    Channel, ConsentChange, ConsentLedger, ConsentStatus, Currency, CustomerId, CustomerIndex, Money, Purpose,
    SummaryOptions, TimeUnit, Transaction, TransactionLog,
};
use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

fn id() -> impl Strategy<Value = CustomerId> {
    prop_oneof![
        any::<i64>().prop_map(CustomerId::Number),
        // Texts that a JSON object key would confuse with numbers.
        (-1000i64..1000).prop_map(|n| CustomerId::Text(n.to_string())),
        "[a-z]{1,8}@example\\.com".prop_map(CustomerId::Text),
        " ?[0-9]{1,3} ?".prop_map(CustomerId::Text),
    ]
}

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: &T) -> T {
    let json = serde_json::to_string(value).unwrap();
    let back: T = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(&back, value, "{json}");
    back
}

fn day(d: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 12, 0, 0).unwrap() + customer_lifecycle::chrono::TimeDelta::days(d)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn keyed_structures_round_trip_for_every_id_kind(ids in proptest::collection::btree_set(id(), 1..6)) {
        let ids: Vec<CustomerId> = ids.into_iter().collect();
        let eur = |s: &str| Money::parse(s, Currency::EUR).unwrap();

        // The consent ledger: an objection and a grant still answer after a reload.
        let mut ledger = ConsentLedger::new();
        for c in &ids {
            ledger.record(c, ConsentChange::new(Purpose::Profiling, Channel::Any, ConsentStatus::Objected), day(0)).unwrap();
            ledger.record(c, ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Granted), day(1)).unwrap();
        }
        let mut back = round_trip(&ledger);
        for c in &ids {
            prop_assert!(back.objected_to_profiling(c, day(2)), "{c:?}");
            prop_assert!(back.may_contact(c, &Channel::Email, &Purpose::Marketing, day(2)), "{c:?}");
        }
        prop_assert!(back.erase(&ids[0]));

        // The value ledger.
        let mut values = ValueLedger::new(Currency::EUR);
        for c in &ids {
            values.add_order(c, eur("10"), eur("1")).unwrap();
        }
        let mut back = round_trip(&values);
        prop_assert!(back.erase(&ids[0]));

        // The index, the log's summary (partial and final), stage history.
        let mut index = CustomerIndex::new();
        for c in &ids {
            index.insert(c.clone()).unwrap();
        }
        let json = serde_json::to_string(&index).unwrap();
        let back: CustomerIndex = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back.ids(), index.ids());
        let mut log = TransactionLog::new(Currency::EUR);
        for (k, c) in ids.iter().enumerate() {
            log.push(Transaction::order(c.clone(), day(k as i64), eur("5"))).unwrap();
            log.push(Transaction::order(c.clone(), day(k as i64 + 7), eur("6"))).unwrap();
        }
        let options = SummaryOptions::new(TimeUnit::Day);
        let summary = round_trip(&log.summarize(&options).unwrap());
        for c in &ids {
            prop_assert!(summary.get(c).is_some(), "{c:?}");
        }
        let partial = log.partial_summary(&options).unwrap();
        let json = serde_json::to_string(&partial).unwrap();
        let back: customer_lifecycle::PartialSummary = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back.finish().unwrap(), partial.finish().unwrap());
        let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR)).unwrap();
        let mut history = StageHistory::new(engine.model());
        for c in &ids {
            let state = engine.new_customer(c.clone(), day(0));
            history.start(c.clone(), day(0), state.stage()).unwrap();
            let state = round_trip(&state);
            prop_assert_eq!(state.customer(), c);
        }
        let back = round_trip(&history);
        for c in &ids {
            prop_assert!(back.stage_of(c, day(1)).is_some(), "{c:?}");
        }
    }
}

#[test]
fn a_customer_listed_twice_is_refused_on_load() {
    let json = r#"{"customers":[[42,[]],[42,[]]]}"#;
    assert!(serde_json::from_str::<ConsentLedger>(json).is_err());
    // A number and a text that reads the same are two customers.
    let json = r#"{"customers":[[42,[]],["42",[]]]}"#;
    assert_eq!(serde_json::from_str::<ConsentLedger>(json).unwrap().len(), 2);
}

#[test]
fn floats_reload_bit_identically() {
    // serde_json's default float parser is off by an ulp on values like
    // this monetary value; the crate enables `float_roundtrip`.
    let mut log = TransactionLog::new(Currency::USD);
    for (d, amount) in [(0, "10.00"), (3, "13.37"), (9, "13.38"), (20, "13.38")] {
        log.push(Transaction::order(CustomerId::from(1), day(d), Money::parse(amount, Currency::USD).unwrap()))
            .unwrap();
    }
    let summary = log.summarize(&SummaryOptions::new(TimeUnit::Week)).unwrap();
    let m = summary.row(0).unwrap().monetary_value;
    assert_eq!(m, (13.37 + 13.38 + 13.38) / 3.0);
    let back: customer_lifecycle::PurchaseSummary =
        serde_json::from_str(&serde_json::to_string(&summary).unwrap()).unwrap();
    assert_eq!(back.row(0).unwrap().monetary_value.to_bits(), m.to_bits());
    for x in [13.376666666666667f64, 0.1 + 0.2, 1e-300, 2.2250738585072014e-308, 123456.789_012_345_67] {
        let y: f64 = serde_json::from_str(&serde_json::to_string(&x).unwrap()).unwrap();
        assert_eq!(y.to_bits(), x.to_bits(), "{x}");
    }
}
