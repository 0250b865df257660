//! In-process use, as a shop backend would: events arrive one by one, each
//! is applied to its customer's lifecycle state, stage transitions are
//! printed as they happen, and consent-aware triggers decide which messages
//! go out (and which are suppressed, and why); a nightly tick moves time on.
//! At the end, a control-group report for a win-back campaign.
//!
//! ```text
//! cargo run --example shop_backend
//! ```
//!
//! The stream includes a replayed event (ignored), an event arriving late
//! but within the lateness window (merged in order), one arriving too late
//! (refused with a typed error), consent grants and a withdrawal, a return
//! (quiet period), and an abandoned cart; a state is saved to JSON and
//! restored. Then a guest checkout is joined to the shop account at login
//! (identity graph, `Lifecycle::merge`, `Triggers::merge_memory`,
//! `ConsentLedger::merge`): the stage and triggers follow the person, and
//! the consent of both ids is honoured.

use std::collections::BTreeMap;
use std::error::Error as StdError;

use customer_lifecycle::Engagement;
use customer_lifecycle::EventClass;
use customer_lifecycle::automation::{
    Action, ControlGroup, CustomerView, Firings, FrequencyCap, Limits, Outcome, TriggerCondition, TriggerRule,
    TriggerState, Triggers, Unless, Uplift,
};
use customer_lifecycle::chrono::{DateTime, TimeDelta, TimeZone, Utc};
use customer_lifecycle::lifecycle::{CustomerState, EngineOptions, Lifecycle, StageModel, StateWithEvents, Transition};
use customer_lifecycle::{
    Channel, ConsentChange, ConsentLedger, ConsentStatus, Currency, CustomerId, Event, EventKind, Identifier,
    IdentityGraph, IdentityPolicy, LinkOutcome, LinkSource, Money, Purpose,
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

fn consent(id: &str, customer: &str, when: DateTime<Utc>, status: ConsentStatus) -> Event {
    let change = ConsentChange::new(Purpose::Marketing, Channel::Email, status).with_source("preference centre");
    event(id, customer, when, EventKind::ConsentChanged(change))
}

fn email(id: &str) -> Action {
    Action { id: id.into(), channel: Channel::Email, purpose: Purpose::Marketing, payload: format!("template:{id}") }
}

fn print_transitions(engine: &Lifecycle, customer: &CustomerId, ts: impl Iterator<Item = Transition>) {
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

fn print_firings(triggers: &Triggers, customer: &CustomerId, firings: &Firings) {
    for f in firings.iter() {
        let action = &triggers.rules()[f.rule].action;
        let what = match f.suppressed {
            None => format!("SEND {} by {:?}", action.id, action.channel),
            Some(reason) => format!("suppressed {} ({reason:?})", action.id),
        };
        println!("  {}  {:<6} {what}", f.time().format("%Y-%m-%d %H:%M"), customer.to_string());
    }
}

/// One customer as the application keeps them.
struct Customer {
    state: CustomerState,
    triggers: TriggerState,
    /// The events the engine took: a merge of two ids replays them.
    events: Vec<Event>,
}

/// What the shop keeps: the engine and triggers, every customer, the
/// consent ledger and the identity graph.
struct Shop {
    engine: Lifecycle,
    triggers: Triggers,
    ledger: ConsentLedger,
    graph: IdentityGraph,
    customers: BTreeMap<CustomerId, Customer>,
}

impl Shop {
    /// One event, under the person its id belongs to.
    fn deliver(&mut self, e: &Event) -> Result<(), Box<dyn StdError>> {
        let person = self.graph.resolve(e.customer());
        let e = if &person == e.customer() {
            e.clone()
        } else {
            Event::new(e.id().clone(), person.clone(), e.at(), e.kind().clone())?
        };
        let (engine, triggers) = (&self.engine, &self.triggers);
        let c = self.customers.entry(person.clone()).or_insert_with(|| Customer {
            state: engine.new_customer(person.clone(), e.at()),
            triggers: triggers.new_state(),
            events: Vec::new(),
        });
        self.ledger.record_event(&e)?;
        let when = e.at().format("%Y-%m-%d %H:%M");
        match engine.apply(&mut c.state, &e) {
            Ok(applied) if applied.duplicate => {
                println!("  {when}  {:<6} {} again: ignored", person.to_string(), e.id())
            }
            Ok(applied) => {
                c.events.push(e.clone());
                if applied.restated {
                    println!("  {when}  {:<6} {} arrived late: merged in order", person.to_string(), e.id());
                }
                print_transitions(engine, &person, applied.transitions.iter());
                let view = CustomerView { consent: Some(&self.ledger), ..CustomerView::of(&c.state) };
                let fired = triggers.on_event(&mut c.triggers, &view, &applied, &e);
                print_firings(triggers, &person, &fired);
            }
            Err(err) => println!("  refused: {err}"),
        }
        Ok(())
    }

    /// A login shows that `a` and `b` are one person: the graph joins them,
    /// and the person's state, trigger memory and consent are merged under
    /// the canonical id.
    fn login(&mut self, a: &CustomerId, b: &CustomerId, at: DateTime<Utc>) -> Result<(), Box<dyn StdError>> {
        let (x, y) = (Identifier::customer(a.clone()), Identifier::customer(b.clone()));
        let LinkOutcome::Merged { canonical, from } = self.graph.link(&x, &y, LinkSource::Login, at)? else {
            return Ok(());
        };
        let kept = canonical.customer_id();
        let other = if from[0] == canonical { from[1].customer_id() } else { from[0].customer_id() };
        println!("  {}  login: {other} is {kept}; merging", at.format("%Y-%m-%d %H:%M"));
        let (Some(mut person), Some(gone)) = (self.customers.remove(&kept), self.customers.remove(&other)) else {
            return Err(format!("{kept} or {other} has no state").into());
        };
        let merged = self.engine.merge(
            StateWithEvents { state: &person.state, events: &person.events },
            StateWithEvents { state: &gone.state, events: &gone.events },
            at,
        )?;
        println!("  the person's stage history, replayed:");
        print_transitions(&self.engine, &kept, merged.transitions.iter());
        person.triggers = self.triggers.merge_memory(&person.triggers, &gone.triggers);
        // Transitions either id already acted on are not acted on again.
        let view = CustomerView { consent: Some(&self.ledger), ..CustomerView::of(&merged.state) };
        let fired =
            self.triggers.on_tick(&mut person.triggers, &view, at.max(merged.state.clock()), merged.transitions.iter());
        if fired.is_empty() {
            println!("  no message: the guest's welcome was the person's (trigger memories merged)");
        }
        print_firings(&self.triggers, &kept, &fired);
        person.state = merged.state;
        person.events.extend(gone.events);
        self.ledger.merge(&kept, &other, at)?;
        self.customers.insert(kept, person);
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn StdError>> {
    // One engine for the shop: the default e-commerce ladder, amounts in
    // EUR, events accepted up to one hour late.
    let engine =
        Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR).lateness(TimeDelta::hours(1)))?;
    // The automation layer wraps the engine.
    let rules = vec![
        TriggerRule {
            name: "welcome".into(),
            when: TriggerCondition::StageEntered { stage: "new".into() },
            action: email("welcome"),
            once_per_customer: true,
        },
        TriggerRule {
            name: "abandoned_cart".into(),
            when: TriggerCondition::Events {
                kind: EventClass::CartAddition,
                at_least: 1,
                within_minutes: 60,
                same_product: false,
                unless: Some(Unless { kind: EventClass::Order, within_minutes: 60 }),
            },
            action: email("cart-reminder"),
            once_per_customer: false,
        },
        TriggerRule {
            name: "browse_abandonment".into(),
            when: TriggerCondition::Events {
                kind: EventClass::ProductView,
                at_least: 3,
                within_minutes: 30 * 24 * 60,
                same_product: true,
                unless: None,
            },
            action: email("still-thinking"),
            once_per_customer: false,
        },
        TriggerRule {
            name: "win_back".into(),
            when: TriggerCondition::StageEntered { stage: "at_risk".into() },
            action: email("we-miss-you"),
            once_per_customer: false,
        },
    ];
    let limits = Limits {
        caps: vec![FrequencyCap { channel: Channel::Email, max: 2, per_hours: 7 * 24 }],
        quiet_after_return_hours: 72,
        quiet_after_complaint_hours: 48,
    };
    let triggers = Triggers::new(rules, limits, engine.model())?;
    let mut shop = Shop {
        engine,
        triggers,
        ledger: ConsentLedger::new(),
        graph: IdentityGraph::new(IdentityPolicy::default()),
        // The application keeps the states (here in a map; in a real shop,
        // a cache or a database row each — they serialise).
        customers: BTreeMap::new(),
    };

    let stream = vec![
        consent("k1", "alice", at(1, 8, 0), ConsentStatus::Granted),
        event("v1", "alice", at(1, 9, 0), EventKind::ProductViewed { product_id: "espresso-machine".into() }),
        event(
            "c1",
            "alice",
            at(1, 9, 5),
            EventKind::AddedToCart { product_id: "espresso-machine".into(), quantity: 1 },
        ),
        order("o1", "alice", at(1, 9, 12), "249.00"),
        order("o1", "alice", at(1, 9, 12), "249.00"), // the webhook fired twice
        consent("k2", "bob", at(1, 10, 0), ConsentStatus::Granted),
        event("v2", "bob", at(1, 11, 0), EventKind::SiteVisit),
        event("c2", "bob", at(1, 11, 5), EventKind::AddedToCart { product_id: "grinder".into(), quantity: 1 }),
        order("o2", "bob", at(2, 18, 30), "35.50"),
        order("o3", "bob", at(2, 18, 10), "12.00"), // 20 minutes late: within the window
        consent("k3", "bob", at(3, 8, 0), ConsentStatus::Withdrawn),
        event("c3", "bob", at(3, 9, 0), EventKind::AddedToCart { product_id: "beans".into(), quantity: 2 }),
        order("o4", "alice", at(12, 20, 0), "18.90"),
        event("r1", "alice", at(13, 10, 0), EventKind::OrderReturned { order_id: "o4".into(), amount: eur("18.90") }),
        event("v3", "alice", at(13, 12, 0), EventKind::ProductViewed { product_id: "milk-frother".into() }),
        event("v4", "alice", at(13, 12, 5), EventKind::ProductViewed { product_id: "milk-frother".into() }),
        event("v5", "alice", at(13, 12, 9), EventKind::ProductViewed { product_id: "milk-frother".into() }),
        order("o5", "bob", at(2, 7, 0), "9.00"), // twelve days late: refused
    ];

    println!("Events, as they arrive (stage transitions, then messages)");
    for e in &stream {
        shop.deliver(e)?;
    }

    // A nightly job moves every customer to midnight; stages that depend on
    // time without purchases (at risk, lapsed, churned) change here, and the
    // triggers waiting for a delay fire.
    println!("\nNightly ticks, March to October");
    for night in 0..220 {
        let now = Utc.with_ymd_and_hms(2024, 3, 2, 0, 0, 0).unwrap() + TimeDelta::days(night);
        for (customer, c) in shop.customers.iter_mut() {
            if now < c.state.clock() {
                continue;
            }
            let moved = shop.engine.advance_to(&mut c.state, now)?;
            print_transitions(&shop.engine, customer, moved.iter());
            let view = CustomerView { consent: Some(&shop.ledger), ..CustomerView::of(&c.state) };
            let fired = shop.triggers.on_tick(&mut c.triggers, &view, now, moved.iter());
            print_firings(&shop.triggers, customer, &fired);
        }
    }

    println!("\nWhere everyone stands");
    let now = shop.customers.values().map(|c| c.state.clock()).max().unwrap_or_default();
    for (customer, c) in &shop.customers {
        let p = c.state.profile();
        println!(
            "  {:<6} {:<9} since {}  orders {}  net {} EUR  product views (30 days) {}  marketing e-mail allowed: {}",
            customer.to_string(),
            shop.engine.model().stage_name(c.state.stage()),
            c.state.stage_since().format("%Y-%m-%d"),
            p.orders(),
            p.net_spend(),
            p.engagement(Engagement::ProductViews, 30, now),
            shop.ledger.may_contact(customer, &Channel::Email, &Purpose::Marketing, now),
        );
    }

    // Snapshot and restore: the restored state continues identically.
    let alice = CustomerId::from("alice");
    let saved = serde_json::to_string(&shop.customers[&alice].state)?;
    let mut restored: CustomerState = serde_json::from_str(&saved)?;
    let back = order("o6", "alice", Utc.with_ymd_and_hms(2024, 10, 30, 12, 0, 0).unwrap(), "54.00");
    let applied = shop.engine.apply(&mut restored, &back)?;
    println!("\nRestored alice from {} bytes of JSON and applied one more order:", saved.len());
    print_transitions(&shop.engine, &alice, applied.transitions.iter());

    // A guest checkout, then the account: one person under two ids.
    println!("\nA guest checkout joined to the account at login");
    let day = |d: u32, h: u32| Utc.with_ymd_and_hms(2024, 11, d, h, 0, 0).unwrap();
    let (guest, carla) = (CustomerId::from("guest-7731"), CustomerId::from("carla"));
    for e in [
        consent("k4", "guest-7731", day(4, 9), ConsentStatus::Granted),
        order("o7", "guest-7731", day(4, 10), "64.00"),
        // The guest unsubscribes from the order mails' footer …
        consent("k5", "guest-7731", day(5, 9), ConsentStatus::Withdrawn),
        // … and signs up for an account the next day, ticking "newsletter".
        consent("k6", "carla", day(6, 9), ConsentStatus::Granted),
        event("v6", "carla", day(6, 9) + TimeDelta::minutes(5), EventKind::SiteVisit),
    ] {
        shop.deliver(&e)?;
    }
    shop.login(&carla, &guest, day(6, 10))?;
    let may = |shop: &Shop, at| shop.ledger.may_contact(&carla, &Channel::Email, &Purpose::Marketing, at);
    println!(
        "  marketing e-mail to carla: {} (the guest's withdrawal, made before the link, wins over the account's grant)",
        may(&shop, day(6, 11))
    );
    for e in [
        // An event still under the guest id lands on the person.
        event("v7", "guest-7731", day(7, 12), EventKind::ProductViewed { product_id: "milk-frother".into() }),
        // After the link the person's latest decision stands.
        consent("k7", "carla", day(8, 9), ConsentStatus::Granted),
        order("o8", "carla", day(9, 19), "23.50"),
    ] {
        shop.deliver(&e)?;
    }
    let person = &shop.customers[&carla];
    println!(
        "  carla: {} orders, stage {}, marketing e-mail allowed: {}; {} has no state of its own: {}",
        person.state.profile().orders(),
        shop.engine.model().stage_name(person.state.stage()),
        may(&shop, day(9, 20)),
        guest,
        !shop.customers.contains_key(&guest)
    );

    // Control group: 20 % of the at-risk customers are held out of the
    // win-back mail, by a hash anyone can recompute. The outcomes here are
    // simulated (14 % of mailed customers come back, 10 % of the others).
    let holdout = ControlGroup::new("winback-2024", 0.2)?;
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut uniform = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let outcomes: Vec<Outcome> = (0..5_000)
        .map(|i| {
            let control = holdout.is_control(&CustomerId::from(i));
            let converted = uniform() < if control { 0.10 } else { 0.14 };
            Outcome { control, converted, revenue: if converted { 40.0 + 20.0 * uniform() } else { 0.0 } }
        })
        .collect();
    let u = Uplift::compute(&outcomes)?;
    println!("\nWin-back campaign (simulated outcomes), control group by FNV-1a-64 of campaign and customer:");
    println!(
        "  treated {} converted {:.1} %, control {} converted {:.1} %",
        u.treated,
        100.0 * u.treated_rate,
        u.controls,
        100.0 * u.control_rate
    );
    println!(
        "  uplift {:+.1} points, 95 % CI [{:+.1}, {:+.1}], z = {:.2}, p = {:.4}; revenue per customer {:+.2} EUR [{:+.2}, {:+.2}]",
        100.0 * u.difference,
        100.0 * u.confidence_interval.0,
        100.0 * u.confidence_interval.1,
        u.z,
        u.p_value,
        u.revenue_per_customer_difference,
        u.revenue_confidence_interval.0,
        u.revenue_confidence_interval.1
    );
    Ok(())
}
