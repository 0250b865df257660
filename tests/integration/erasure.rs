//! Right to erasure: a customer removed from every structure of the crate
//! leaves no trace in any of them (serialised or debug-printed), and
//! pseudonymisation moves them under another id.

use customer_lifecycle::chrono::{NaiveDate, TimeDelta, TimeZone, Utc};
use customer_lifecycle::churn::Features;
use customer_lifecycle::clv::ValueLedger;
use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageHistory, StageModel};
use customer_lifecycle::metrics::{RfmOptions, RfmScores};
use customer_lifecycle::{
    Channel, ConsentChange, ConsentLedger, ConsentStatus, Currency, CustomerId, Event, EventKind, Money, Purpose,
    SummaryOptions, TimeUnit, TransactionLog,
};

const SECRET: &str = "erase-me-9f2c";

fn events(customer: &str) -> Vec<Event> {
    let c = CustomerId::from(customer);
    let at = |d: i64| Utc.with_ymd_and_hms(1997, 2, 1, 10, 0, 0).unwrap() + TimeDelta::days(d);
    let usd = |s: &str| Money::parse(s, Currency::USD).unwrap();
    let order = |k: i64| EventKind::OrderPlaced {
        order_id: format!("order-{customer}-{k}"),
        gross: usd("30"),
        discount: usd("5"),
        items: 1,
    };
    vec![
        Event::new(format!("evt-{customer}-1"), c.clone(), at(0), order(1)).unwrap(),
        Event::new(format!("evt-{customer}-2"), c.clone(), at(40), order(2)).unwrap(),
        Event::new(
            format!("evt-{customer}-3"),
            c.clone(),
            at(41),
            EventKind::OrderReturned { order_id: format!("order-{customer}-2"), amount: usd("10") },
        )
        .unwrap(),
        Event::new(format!("evt-{customer}-4"), c.clone(), at(42), EventKind::SupportTicket { cost: Some(usd("3")) })
            .unwrap(),
        Event::new(
            format!("evt-{customer}-5"),
            c,
            at(43),
            EventKind::ConsentChanged(ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Granted)),
        )
        .unwrap(),
    ]
}

#[test]
fn erasure_leaves_no_trace_and_pseudonyms_replace_the_id() {
    let secret = CustomerId::from(SECRET);
    let mut log =
        TransactionLog::from_cdnow_sample_path(concat!(env!("CARGO_MANIFEST_DIR"), "/data/CDNOW_sample.txt")).unwrap();
    let mine = events(SECRET);
    for e in &mine {
        log.push_event(e).unwrap();
    }
    let options = SummaryOptions::new(TimeUnit::Week)
        .calibration_end(NaiveDate::from_ymd_opt(1997, 9, 30).unwrap())
        .observation_end(NaiveDate::from_ymd_opt(1998, 6, 30).unwrap());
    let mut summary = log.summarize(&options).unwrap();
    let mut partial = log.partial_summary(&options).unwrap();
    let mut rfm = RfmScores::compute(&summary, &RfmOptions::new()).unwrap();
    let mut features = Features::from_summary(&summary, |_| false);
    let mut ledger = ConsentLedger::new();
    let mut values = ValueLedger::from_events(&mine, Currency::USD).unwrap();
    let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::USD)).unwrap();
    let mut state = engine.new_customer(secret.clone(), mine[0].at());
    let mut history = StageHistory::new(engine.model());
    history.start(secret.clone(), mine[0].at(), state.stage()).unwrap();
    history.start(CustomerId::from("someone-else"), mine[0].at(), state.stage()).unwrap();
    for e in &mine {
        ledger.record_event(e).unwrap();
        for t in engine.apply(&mut state, e).unwrap().transitions.iter() {
            history.record(&secret, &t).unwrap();
        }
    }
    let dump = |log: &TransactionLog, summary: &_, rfm: &_, features: &_, ledger: &_, values: &_, history: &_| {
        format!(
            "{log:?}\n{}\n{}\n{}\n{}\n{}\n{}",
            serde_json::to_string(summary).unwrap(),
            serde_json::to_string(rfm).unwrap(),
            serde_json::to_string(features).unwrap(),
            serde_json::to_string(ledger).unwrap(),
            serde_json::to_string(values).unwrap(),
            serde_json::to_string(history).unwrap(),
        )
    };
    let before = dump(&log, &summary, &rfm, &features, &ledger, &values, &history);
    // Every structure holds the customer, their order ids and event ids.
    assert!(before.matches(SECRET).count() > 10, "{}", before.matches(SECRET).count());
    assert!(serde_json::to_string(&partial).unwrap().contains(SECRET));
    let rows_before = log.len();

    // A pseudonym first, on a copy: the id disappears, the data stays under the pseudonym.
    let pseudonym = CustomerId::from("p-000001");
    let mut pseudo_log = log.clone();
    assert!(pseudo_log.pseudonymise(&secret, &pseudonym).unwrap());
    let mut pseudo_ledger = ledger.clone();
    assert!(pseudo_ledger.pseudonymise(&secret, &pseudonym).unwrap());
    let pseudo_summary = pseudo_log.summarize(&options).unwrap();
    assert_eq!(pseudo_summary.get(&pseudonym).unwrap().orders, summary.get(&secret).unwrap().orders);
    assert!(pseudo_log.pseudonymise(&CustomerId::from(4), &pseudonym).is_err()); // pseudonym taken
    let mut pseudo_state = state.clone();
    pseudo_state.pseudonymise(pseudonym.clone());
    assert!(!serde_json::to_string(&pseudo_state).unwrap().contains(SECRET));

    // Erasure everywhere.
    assert!(log.erase(&secret).unwrap());
    assert!(summary.erase(&secret));
    assert!(partial.erase(&secret));
    assert!(!serde_json::to_string(&partial).unwrap().contains(SECRET));
    assert_eq!(partial.finish().unwrap(), summary);
    assert!(rfm.erase(&secret));
    assert!(features.erase(&secret));
    assert!(ledger.erase(&secret));
    assert!(values.erase(&secret));
    assert!(history.erase(&secret));
    drop(state); // the application's copy of the state: dropping it erases it
    let after = dump(&log, &summary, &rfm, &features, &ledger, &values, &history);
    assert!(!after.contains(SECRET), "a trace is left");
    // The others are intact: the CDNOW sample's rows and summary.
    assert_eq!(log.len(), rows_before - 3);
    assert_eq!(summary.len(), 2357);
    assert_eq!(log.summarize(&options).unwrap(), summary);
    assert!(history.stage_of(&CustomerId::from("someone-else"), mine[0].at()).is_some());
    // Erasing again finds nothing.
    assert!(!log.erase(&secret).unwrap() && !summary.erase(&secret) && !ledger.erase(&secret));
}
