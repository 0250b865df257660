//! In-process use of the stage engine, as a shop backend would: events
//! arrive one by one, each is applied to its customer's state, and stage
//! transitions are printed as they happen; a nightly tick moves time on.
//!
//! ```text
//! cargo run --example shop_backend
//! ```
//!
//! The stream includes a replayed event (ignored), an event arriving late
//! but within the lateness window (merged in order), one arriving too late
//! (refused with a typed error), and a consent change; at the end a state is
//! saved to JSON and restored.

use std::collections::BTreeMap;
use std::error::Error as StdError;

use customer_lifecycle::chrono::{DateTime, TimeDelta, TimeZone, Utc};
use customer_lifecycle::lifecycle::{CustomerState, Engagement, EngineOptions, Lifecycle, StageModel, Transition};
use customer_lifecycle::{
    Channel, ConsentChange, ConsentStatus, Currency, CustomerId, Event, EventKind, Money, NpsScore, Purpose,
};

fn at(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, day, hour, minute, 0).unwrap()
}

fn eur(amount: &str) -> Money {
    Money::parse(amount, Currency::EUR).unwrap()
}

fn order(id: &str, customer: &str, when: DateTime<Utc>, amount: &str) -> Event {
    let kind = EventKind::OrderPlaced { order_id: id.into(), gross: eur(amount), discount: eur("0"), items: 1 };
    Event::new(id, CustomerId::from(customer), when, kind).unwrap()
}

fn event(id: &str, customer: &str, when: DateTime<Utc>, kind: EventKind) -> Event {
    Event::new(id, CustomerId::from(customer), when, kind).unwrap()
}

fn print_transitions<'a>(engine: &Lifecycle, customer: &CustomerId, ts: impl Iterator<Item = Transition> + 'a) {
    let model = engine.model();
    for t in ts {
        println!(
            "  {}  {:<6} {} → {}  (rule {})",
            t.at.format("%Y-%m-%d %H:%M"),
            customer.to_string(),
            model.stage_name(t.from),
            model.stage_name(t.to),
            model.rule_name(t.rule)
        );
    }
}

fn main() -> Result<(), Box<dyn StdError>> {
    // One engine for the shop: the default e-commerce ladder, amounts in
    // EUR, events accepted up to one hour late.
    let engine =
        Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR).lateness(TimeDelta::hours(1)))?;
    // The application keeps the states (here in a map; in a real shop, a
    // cache or a database row each — they serialise).
    let mut states: BTreeMap<CustomerId, CustomerState> = BTreeMap::new();

    let stream = vec![
        event("v1", "alice", at(1, 9, 0), EventKind::ProductViewed { product_id: "espresso-machine".into() }),
        event(
            "c1",
            "alice",
            at(1, 9, 5),
            EventKind::AddedToCart { product_id: "espresso-machine".into(), quantity: 1 },
        ),
        order("o1", "alice", at(1, 9, 12), "249.00"),
        order("o1", "alice", at(1, 9, 12), "249.00"), // the webhook fired twice
        event("v2", "bob", at(1, 11, 0), EventKind::SiteVisit),
        order("o2", "bob", at(2, 18, 30), "35.50"),
        order("o3", "bob", at(2, 18, 10), "12.00"), // 20 minutes late: within the window
        event(
            "k1",
            "bob",
            at(3, 8, 0),
            EventKind::ConsentChanged(ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Withdrawn)),
        ),
        order("o4", "alice", at(12, 20, 0), "18.90"),
        event("n1", "alice", at(13, 10, 0), EventKind::NpsAnswered { score: NpsScore::new(9)? }),
        event("t1", "bob", at(14, 9, 0), EventKind::SupportTicket { cost: Some(eur("6.50")) }),
        order("o5", "bob", at(2, 7, 0), "9.00"), // twelve days late: refused
    ];

    println!("Events, as they arrive");
    for e in &stream {
        let state = states.entry(e.customer.clone()).or_insert_with(|| engine.new_customer(e.customer.clone(), e.at));
        match engine.apply(state, e) {
            Ok(applied) if applied.duplicate => {
                println!("  {}  {:<6} {} again: ignored", e.at.format("%Y-%m-%d %H:%M"), e.customer, e.id)
            }
            Ok(applied) => {
                if applied.restated {
                    println!(
                        "  {}  {:<6} {} arrived late: merged in order",
                        e.at.format("%Y-%m-%d %H:%M"),
                        e.customer,
                        e.id
                    );
                }
                print_transitions(&engine, &e.customer, applied.transitions.iter());
            }
            Err(err) => println!("  refused: {err}"),
        }
    }

    // A nightly job moves every customer to midnight; stages that depend on
    // time without purchases (at risk, lapsed, churned) change here.
    println!("\nNightly ticks, March to October");
    for night in 0..220 {
        let now = Utc.with_ymd_and_hms(2024, 3, 15, 0, 0, 0).unwrap() + TimeDelta::days(night);
        for (customer, state) in states.iter_mut() {
            let moved = engine.advance_to(state, now)?;
            print_transitions(&engine, customer, moved.iter());
        }
    }

    println!("\nWhere everyone stands");
    let now = states.values().map(|s| s.clock()).max().unwrap_or_default();
    for (customer, state) in &states {
        let p = state.profile();
        let row = state.summary_row();
        println!(
            "  {:<6} {:<9} since {}  orders {}  net {} EUR  product views (30 days) {}  x = {}  marketing e-mail: {}",
            customer.to_string(),
            engine.model().stage_name(state.stage()),
            state.stage_since().format("%Y-%m-%d"),
            p.orders(),
            p.net_spend(),
            p.engagement(Engagement::ProductViews, 30, now),
            row.map_or(0, |r| r.frequency),
            match state.consent_at(&Purpose::Marketing, &Channel::Email, now) {
                Some(r) => r.change.status.to_string(),
                None => "no decision recorded".into(),
            }
        );
    }

    // Snapshot and restore: the restored state continues identically.
    let alice = CustomerId::from("alice");
    let saved = serde_json::to_string(&states[&alice])?;
    let mut restored: CustomerState = serde_json::from_str(&saved)?;
    let back = order("o6", "alice", Utc.with_ymd_and_hms(2024, 10, 30, 12, 0, 0).unwrap(), "54.00");
    let applied = engine.apply(&mut restored, &back)?;
    println!("\nRestored alice from {} bytes of JSON and applied one more order:", saved.len());
    print_transitions(&engine, &alice, applied.transitions.iter());
    Ok(())
}
