//! Triggers on arbitrary event streams, ticks and consent decisions made
//! outside the stream. Oracles, on what the host receives: no panic; an
//! unsuppressed firing has consent (by the ledger, an independent record of
//! every decision) when its condition held and when it is delivered; every
//! frequency cap holds on delivery times; a once-per-customer rule is sent
//! at most once.

use customer_lifecycle::automation::{
    Action, CustomerView, FrequencyCap, Limits, TriggerCondition, TriggerRule, Triggers, Unless,
};
use customer_lifecycle::chrono::{DateTime, TimeDelta, TimeZone, Utc};
use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageModel};
use customer_lifecycle::{
    Channel, ConsentChange, ConsentLedger, ConsentStatus, Currency, CustomerId, Event, EventClass, EventKind, Money,
    Purpose,
};

fn rule(name: &str, when: TriggerCondition, channel: Channel, once: bool) -> TriggerRule {
    TriggerRule {
        name: name.into(),
        when,
        action: Action { id: name.into(), channel, purpose: Purpose::Marketing, payload: String::new() },
        once_per_customer: once,
    }
}

/// Runs the oracles on one input; panics on a finding.
pub fn check(data: &[u8]) {
    let Some((&head, ops)) = data.split_first() else { return };
    let model = StageModel::ecommerce();
    let engine = Lifecycle::new(model.clone(), EngineOptions::new(Currency::EUR)).unwrap();
    let cart = TriggerCondition::Events {
        kind: EventClass::CartAddition,
        at_least: 1,
        within_minutes: 60,
        same_product: false,
        unless: Some(Unless { kind: EventClass::Order, within_minutes: 30 + u32::from(head % 4) * 30 }),
    };
    let rules = vec![
        rule("cart", cart, Channel::Email, false),
        rule("quiet", TriggerCondition::NoActivityFor { days: 1 + u32::from(head % 3) }, Channel::Email, false),
        rule("welcome", TriggerCondition::StageEntered { stage: "new".into() }, Channel::Email, true),
        rule("at_risk", TriggerCondition::StageEntered { stage: "at_risk".into() }, Channel::Sms, false),
    ];
    let caps = vec![
        FrequencyCap { channel: Channel::Email, max: 1 + u32::from(head % 2), per_hours: 24 },
        FrequencyCap { channel: Channel::Any, max: 3, per_hours: 72 },
    ];
    let limits = Limits { caps: caps.clone(), quiet_after_return_hours: 0, quiet_after_complaint_hours: 0 };
    let triggers = Triggers::new(rules, limits, &model).unwrap();
    let t0 = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    let me = CustomerId::from(1);
    let mut state = engine.new_customer(me.clone(), t0);
    let mut memory = triggers.new_state();
    let mut ledger = ConsentLedger::new();
    let mut now = t0;
    // Delivered firings: (rule, condition time, delivery time).
    let mut sent: Vec<(usize, i64, DateTime<Utc>)> = Vec::new();
    for (k, c) in ops.chunks_exact(3).take(60).enumerate() {
        let (op, step, arg) = (c[0], c[1], c[2]);
        now += TimeDelta::minutes(i64::from(step) * 20);
        let kind = match op % 8 {
            0 => Some(EventKind::AddedToCart { product_id: format!("p{}", arg % 3), quantity: 1 }),
            1 => Some(EventKind::OrderPlaced {
                order_id: format!("o{k}"),
                gross: Money::parse("20", Currency::EUR).unwrap(),
                discount: Money::parse("0", Currency::EUR).unwrap(),
                items: 1,
            }),
            2 => Some(EventKind::SiteVisit),
            3 => {
                Some(EventKind::Unsubscribed { channel: [Channel::Email, Channel::Sms][usize::from(arg % 2)].clone() })
            }
            4 => {
                // A decision outside the event stream (a preference centre).
                let status = [ConsentStatus::Granted, ConsentStatus::Withdrawn][usize::from(arg % 2)];
                let channel = [Channel::Email, Channel::Sms, Channel::Any][usize::from(arg / 2 % 3)].clone();
                let _ = ledger.record(&me, ConsentChange::new(Purpose::Marketing, channel, status), now);
                None
            }
            _ => None, // a tick
        };
        let delivered = now;
        let fired = match kind {
            Some(kind) => {
                let Ok(event) = Event::new(format!("e{k}"), me.clone(), now, kind) else { continue };
                let _ = ledger.record_event(&event);
                let Ok(applied) = engine.apply(&mut state, &event) else { continue };
                let view = CustomerView { consent: Some(&ledger), ..CustomerView::of(&state) };
                triggers.on_event(&mut memory, &view, &applied, &event)
            }
            None => {
                let Ok(moved) = engine.advance_to(&mut state, now) else { continue };
                let view = CustomerView { consent: Some(&ledger), ..CustomerView::of(&state) };
                triggers.on_tick(&mut memory, &view, now, moved.iter())
            }
        };
        for f in fired.iter().filter(|f| f.suppressed.is_none()) {
            let action = &triggers.rules()[f.rule].action;
            for at in [f.time(), delivered] {
                assert!(
                    ledger.may_contact(&me, &action.channel, &action.purpose, at),
                    "rule {} sent without consent at {at}",
                    f.rule
                );
            }
            sent.push((f.rule, f.at, delivered));
        }
    }
    // Caps, on what the customer received (delivery times).
    for cap in &caps {
        let times: Vec<i64> = sent
            .iter()
            .filter(|(r, _, _)| cap.channel.covers(&triggers.rules()[*r].action.channel))
            .map(|(_, _, d)| d.timestamp())
            .collect();
        for &t in &times {
            let window = times.iter().filter(|&&u| u > t - i64::from(cap.per_hours) * 3600 && u <= t).count();
            assert!(
                window as u32 <= cap.max,
                "{window} deliveries within {} h under a cap of {}",
                cap.per_hours,
                cap.max
            );
        }
    }
    assert!(sent.iter().filter(|(r, _, _)| *r == 2).count() <= 1, "the welcome went out twice");
}
