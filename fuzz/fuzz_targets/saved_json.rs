//! Loading saved data from arbitrary JSON. Oracles: no panic; whatever loads
//! saves and loads back to an equal value, and can be used.
#![no_main]

use customer_lifecycle::clv::{BetaGeo, ParetoNbd};
use customer_lifecycle::{ConsentLedger, CustomerTable, PurchaseSummary};
use libfuzzer_sys::fuzz_target;

fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(
    text: &str,
) -> Option<T> {
    let value: T = serde_json::from_str(text).ok()?;
    let again: T = serde_json::from_str(&serde_json::to_string(&value).unwrap()).expect("a saved value reloads");
    assert_eq!(again, value);
    Some(value)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Some(summary) = round_trip::<PurchaseSummary>(text) {
        let model = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259).unwrap();
        if let Ok(alive) = model.probability_alive_all(&summary) {
            assert_eq!(alive.ids(), summary.ids());
            let alive = alive.column("p_alive").unwrap();
            assert!(alive.iter().all(|p| (0.0..=1.0).contains(p)));
        }
    }
    if let Some(table) = round_trip::<CustomerTable>(text) {
        // A loaded table is one the code could build: every value finite,
        // one per customer, and a join with itself keeps it.
        assert!(table.to_matrix().iter().all(|v| v.is_finite()));
        assert_eq!(table.to_matrix().nrows(), table.len());
        if let Ok(copy) = CustomerTable::new(table.ids().to_vec()).join(&table) {
            assert_eq!(copy, table);
        }
    }
    if let Some(ledger) = round_trip::<ConsentLedger>(text) {
        let _ = ledger.len();
    }
    if let Some(model) = round_trip::<ParetoNbd>(text) {
        if let Ok(p) = model.probability_alive(1.0, 1.0, 2.0) {
            assert!((0.0..=1.0).contains(&p));
        }
    }
});
