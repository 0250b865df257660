//! A call that fails leaves the state exactly as it was: random event
//! streams, some of whose events fail (an order that overflows the
//! profile's totals, an event of another customer, a conflicting replay),
//! in and out of order. After every `Err` the saved state is identical to
//! the one before the call, and a retry of a successful event is a duplicate.

use customer_lifecycle::chrono::{DateTime, TimeDelta, TimeZone, Utc};
use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageModel};
use customer_lifecycle::{Currency, CustomerId, Event, EventKind, Money};
use proptest::prelude::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
}

/// (minutes after the start, kind): 0 an order, 1 a huge order (two of them
/// overflow the totals), 2 a visit, 3 another customer's visit, 4 the
/// previous event id again with other content.
fn step() -> impl Strategy<Value = (i64, u8)> {
    (0i64..6 * 60, 0u8..5)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn a_failed_call_changes_nothing(steps in proptest::collection::vec(step(), 1..40)) {
        let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR)).unwrap();
        let me = CustomerId::from("ana@example.com");
        let mut state = engine.new_customer(me.clone(), t0());
        let eur = |s: &str| Money::parse(s, Currency::EUR).unwrap();
        let mut failures = 0;
        for (k, &(minutes, what)) in steps.iter().enumerate() {
            // Times move forward mostly, with some events up to 40 minutes
            // late (inside the one-hour lateness window).
            let at = t0() + TimeDelta::minutes(k as i64 * 30 - minutes % 40);
            let order = |id: String, amount: &str| EventKind::OrderPlaced { order_id: id, gross: eur(amount), discount: eur("0"), items: 1 };
            let event = match what {
                0 => Event::new(format!("e{k}"), me.clone(), at, order(format!("o{k}"), "25.50")),
                1 => Event::new(format!("e{k}"), me.clone(), at, order(format!("o{k}"), "600000000000000")),
                2 => Event::new(format!("e{k}"), me.clone(), at, EventKind::SiteVisit),
                3 => Event::new(format!("e{k}"), CustomerId::from("bo@example.com"), at, EventKind::SiteVisit),
                _ => Event::new(format!("e{}", k.saturating_sub(1)), me.clone(), at, order(format!("x{k}"), "1")),
            }
            .unwrap();
            let before = serde_json::to_string(&state).unwrap();
            match engine.apply(&mut state, &event) {
                Ok(applied) => {
                    if !applied.duplicate {
                        // A retry of an applied event is recognised as a replay.
                        let again = serde_json::to_string(&state).unwrap();
                        prop_assert!(engine.apply(&mut state, &event).unwrap().duplicate);
                        prop_assert_eq!(serde_json::to_string(&state).unwrap(), again);
                    }
                }
                Err(_) => {
                    failures += 1;
                    prop_assert_eq!(serde_json::to_string(&state).unwrap(), before, "event {} changed the state", k);
                }
            }
        }
        // Ticks fail only on a clock behind; that too changes nothing.
        let before = serde_json::to_string(&state).unwrap();
        prop_assert!(engine.advance_to(&mut state, t0() - TimeDelta::days(1)).is_err());
        prop_assert_eq!(serde_json::to_string(&state).unwrap(), before);
        let _ = failures;
    }
}
