//! The stage engine fed arbitrary event streams decoded from the input.
//! Oracles: no panic; after every `Err` the saved state is identical to the
//! one before the call; a replay of an applied event is a duplicate.

use customer_lifecycle::chrono::{TimeDelta, TimeZone, Utc};
use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageModel};
use customer_lifecycle::{
    Channel, ConsentChange, ConsentStatus, Currency, CustomerId, Event, EventKind, Money, Purpose,
};

/// Runs the oracles on one input; panics on a finding.
pub fn check(data: &[u8]) {
    let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR)).unwrap();
    let t0 = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    let me = CustomerId::from(1);
    let mut state = engine.new_customer(me.clone(), t0);
    let mut minutes = 0i64;
    for (k, chunk) in data.chunks(4).enumerate() {
        let [op, step, a, b] =
            [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0), *chunk.get(3).unwrap_or(&0)];
        // Mostly forward in time, sometimes late (within or past the window).
        minutes += i64::from(step) - 40;
        let at = t0 + TimeDelta::minutes(minutes.max(0));
        let amount = |x: u8| {
            Money::parse(&format!("{}.{:02}", u64::from(x) * u64::from(b).pow(3), a % 100), Currency::EUR).unwrap()
        };
        let kind = match op % 7 {
            0 => EventKind::OrderPlaced {
                order_id: format!("o{}", a % 8),
                gross: amount(a),
                discount: Money::parse("0", Currency::EUR).unwrap(),
                items: 1,
            },
            1 => EventKind::OrderReturned { order_id: format!("o{}", a % 8), amount: amount(a / 2) },
            2 => EventKind::SiteVisit,
            3 => EventKind::ProductViewed { product_id: format!("p{}", a % 4) },
            4 => EventKind::ConsentChanged(ConsentChange::new(
                Purpose::Marketing,
                Channel::Email,
                if a % 2 == 0 { ConsentStatus::Granted } else { ConsentStatus::Withdrawn },
            )),
            5 => EventKind::Unsubscribed { channel: Channel::Email },
            _ => {
                let before = serde_json::to_string(&state).unwrap();
                if engine.advance_to(&mut state, at).is_err() {
                    assert_eq!(serde_json::to_string(&state).unwrap(), before, "a failed tick changed the state");
                }
                continue;
            }
        };
        let id = if b % 5 == 0 && k > 0 { format!("e{}", k - 1) } else { format!("e{k}") };
        let Ok(event) = Event::new(id, me.clone(), at, kind) else { continue };
        let before = serde_json::to_string(&state).unwrap();
        match engine.apply(&mut state, &event) {
            Ok(applied) if !applied.duplicate => {
                let after = serde_json::to_string(&state).unwrap();
                assert!(engine.apply(&mut state, &event).unwrap().duplicate, "a replay was applied again");
                assert_eq!(serde_json::to_string(&state).unwrap(), after);
            }
            Ok(_) => {}
            Err(_) => assert_eq!(serde_json::to_string(&state).unwrap(), before, "a failed call changed the state"),
        }
    }
}
