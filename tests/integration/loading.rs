//! Loading validates every invariant the code relies on: a saved value the
//! crate could not have produced is refused with a typed error, never
//! loaded to panic or to compute nonsense later.

use customer_lifecycle::automation::ControlGroup;
use customer_lifecycle::{PartialSummary, PurchaseSummary, SummaryOptions, TimeUnit, TransactionLog};

fn refused<T: serde::de::DeserializeOwned>(json: &str, from: &str, to: &str) {
    let tampered = json.replacen(from, to, 1);
    assert!(tampered != json, "{from} not found");
    assert!(serde_json::from_str::<T>(&tampered).is_err(), "{from} → {to} was accepted");
}

#[test]
fn tampered_summaries_are_refused() {
    let log = TransactionLog::cdnow_sample().unwrap();
    let summary = log.summarize(&SummaryOptions::new(TimeUnit::Week)).unwrap();
    let json = serde_json::to_string(&summary).unwrap();
    assert!(serde_json::from_str::<PurchaseSummary>(&json).is_ok());
    refused::<PurchaseSummary>(&json, "\"frequency\":[", "\"frequency\":[-3,");
    refused::<PurchaseSummary>(&json, "\"recency\":[", "\"recency\":[1e308,");
    refused::<PurchaseSummary>(&json, "\"unit\":\"week\"", "\"unit\":{\"days\":0}");
    let partial = log.partial_summary(&SummaryOptions::new(TimeUnit::Week)).unwrap();
    let json = serde_json::to_string(&partial).unwrap();
    assert!(serde_json::from_str::<PartialSummary>(&json).is_ok());
    refused::<PartialSummary>(&json, "\"scale\":2", "\"scale\":40");
    refused::<PartialSummary>(&json, "\"ids\":[4,21,", "\"ids\":[4,4,");
}

#[test]
fn a_control_group_above_every_customer_is_refused() {
    let group = ControlGroup::new("winback", 0.2).unwrap();
    let json = serde_json::to_string(&group).unwrap();
    assert_eq!(serde_json::from_str::<ControlGroup>(&json).unwrap(), group);
    refused::<ControlGroup>(&json, "2000", "20000");
}
