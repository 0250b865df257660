//! The stage engine on the hot path and in bulk (one thread).
//!
//! * `apply/in_order/*`: one event (orders, views, cart additions, e-mail
//!   opens, 30 s apart, over 500 or 10,000 customers whose states have
//!   already seen events) through `Lifecycle::apply` with the e-commerce
//!   ladder and a one-hour lateness window. Before timing, a full pass is
//!   run under a counting allocator (`stats_alloc`) and the allocations are
//!   printed; with 10,000 customers the bench asserts there are none (with
//!   500, a customer now and then has more than four events within the
//!   hour and its buffer grows once).
//! * `advance_to/1M`: one day of `Lifecycle::advance_to` for 1,000,000
//!   customers (each with one to three orders).
//! * `replay/cdnow_master`: every CDNOW_master order (69,659 events of
//!   23,570 customers) through new states, then `advance_to` the
//!   observation end.
//! * `triggers/on_event/50_rules`: `Triggers::on_event` for one event
//!   against 50 rules (30 event patterns of every kind, 10 stage entries,
//!   5 quiet spells, 5 segment entries) when nothing fires; checked to
//!   allocate nothing.
//!
//! Run: `cargo bench --bench lifecycle`.

use std::alloc::System;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use customer_lifecycle::EventClass;
use customer_lifecycle::automation::{Action, CustomerView, Limits, Segment, TriggerCondition, TriggerRule, Triggers};
use customer_lifecycle::chrono::{DateTime, TimeDelta, TimeZone, Utc};
use customer_lifecycle::lifecycle::{Applied, Condition, CustomerState, EngineOptions, Lifecycle, StageModel};
use customer_lifecycle::{
    Channel, ConsentLedger, Currency, CustomerId, Event, EventKind, Money, Purpose, TransactionLog,
};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
}

fn usd(cents: i64) -> Money {
    Money::new(customer_lifecycle::rust_decimal::Decimal::new(cents, 2), Currency::USD)
}

/// `n` events of `customers` customers in time order, with the customer index of each.
fn events(customers: usize, n: usize, seed: u64) -> Vec<(usize, Event)> {
    let mut rng = Rng(seed);
    let mut at = start();
    (0..n)
        .map(|k| {
            at += TimeDelta::seconds((rng.next() % 120) as i64);
            let c = (rng.next() % customers as u64) as usize;
            let kind = match rng.next() % 4 {
                0 => EventKind::OrderPlaced {
                    order_id: format!("o{k}"),
                    gross: usd(1000 + (rng.next() % 10_000) as i64),
                    discount: usd(0),
                    items: 1,
                },
                1 => EventKind::ProductViewed { product_id: "p1".into() },
                2 => EventKind::AddedToCart { product_id: "p1".into(), quantity: 1 },
                _ => EventKind::EmailOpened { campaign: "c1".into() },
            };
            (c, Event::new(format!("e{k}"), CustomerId::Number(c as i64), at, kind).unwrap())
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::USD)).unwrap();
    let mut g = c.benchmark_group("lifecycle");

    // Hot path: states warmed by a first pass of events, then a second pass
    // timed; 500 customers (states in L2) and 10,000 (states in L3).
    for customers in [500usize, 10_000] {
        let warm = events(customers, 200_000, 1);
        let hot = {
            let last = warm.last().unwrap().1.at();
            let mut e = events(customers, 200_000, 2);
            for (k, (_, ev)) in e.iter_mut().enumerate() {
                let at = last + TimeDelta::seconds(1 + k as i64 * 30);
                *ev = Event::new(format!("h{k}"), ev.customer().clone(), at, ev.kind().clone()).unwrap();
            }
            e
        };
        let mut template: Vec<CustomerState> =
            (0..customers).map(|c| engine.new_customer(CustomerId::Number(c as i64), start())).collect();
        for (c, e) in &warm {
            engine.apply(&mut template[*c], e).unwrap();
        }
        {
            let mut states = template.clone();
            let region = Region::new(GLOBAL);
            for (c, e) in &hot {
                black_box(engine.apply(&mut states[*c], e).unwrap());
            }
            let stats = region.change();
            println!(
                "apply, {customers} customers: {} events, {} allocations, {} reallocations",
                hot.len(),
                stats.allocations,
                stats.reallocations
            );
            // A buffer grows (once) only when a customer has more than four
            // events inside the lateness window; the sparse population never does.
            if customers == 10_000 {
                assert_eq!(stats.allocations + stats.reallocations, 0, "apply allocated on the hot path");
            }
        }
        g.bench_function(format!("apply/in_order/{customers}_customers"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut done = 0u64;
                while done < iters {
                    let mut states = template.clone();
                    let n = (iters - done).min(hot.len() as u64) as usize;
                    let t = Instant::now();
                    for (c, e) in &hot[..n] {
                        black_box(engine.apply(&mut states[*c], e).unwrap());
                    }
                    total += t.elapsed();
                    done += n as u64;
                }
                total
            })
        });
    }

    // advance_to for a million customers.
    let million = 1_000_000usize;
    let mut rng = Rng(7);
    let mut states: Vec<CustomerState> = (0..million)
        .map(|c| {
            let first = start() + TimeDelta::seconds((rng.next() % (300 * 86_400)) as i64);
            let mut s = engine.new_customer(CustomerId::Number(c as i64), first);
            let mut at = first;
            for k in 0..1 + rng.next() % 3 {
                at += TimeDelta::days((rng.next() % 60) as i64);
                let kind =
                    EventKind::OrderPlaced { order_id: format!("{k}"), gross: usd(2500), discount: usd(0), items: 1 };
                engine
                    .apply(&mut s, &Event::new(format!("{k}"), CustomerId::Number(c as i64), at, kind).unwrap())
                    .unwrap();
            }
            s
        })
        .collect();
    let mut now = start() + TimeDelta::days(500);
    g.sample_size(10);
    g.bench_function("advance_to/1M", |b| {
        b.iter(|| {
            now += TimeDelta::days(1);
            let mut moved = 0usize;
            for s in states.iter_mut() {
                moved += engine.advance_to(s, now).unwrap().len();
            }
            black_box(moved)
        })
    });
    drop(states);

    // CDNOW_master end to end.
    let log =
        TransactionLog::from_cdnow_master_path(concat!(env!("CARGO_MANIFEST_DIR"), "/data/CDNOW_master.txt")).unwrap();
    let mut rows: Vec<_> = log.iter().collect();
    rows.sort_by(|a, b| a.at().cmp(&b.at()).then_with(|| a.customer().cmp(b.customer())));
    let index = log.customers();
    let cdnow: Vec<(usize, Event)> = rows
        .iter()
        .enumerate()
        .map(|(k, t)| {
            let kind =
                EventKind::OrderPlaced { order_id: format!("o{k}"), gross: t.amount(), discount: usd(0), items: 1 };
            (
                index.get(t.customer()).unwrap().index(),
                Event::new(format!("e{k}"), t.customer().clone(), t.at(), kind).unwrap(),
            )
        })
        .collect();
    let end = Utc.with_ymd_and_hms(1998, 6, 30, 0, 0, 0).unwrap();
    g.bench_function("replay/cdnow_master", |b| {
        b.iter(|| {
            let mut states: Vec<Option<CustomerState>> = vec![None; index.len()];
            for (c, e) in &cdnow {
                let s = states[*c].get_or_insert_with(|| engine.new_customer(e.customer().clone(), e.at()));
                engine.apply(s, e).unwrap();
            }
            for s in states.iter_mut().flatten() {
                engine.advance_to(s, end).unwrap();
            }
            black_box(states.len())
        })
    });

    // 50 trigger rules on one event, nothing firing.
    let kinds = [
        EventClass::Order,
        EventClass::Return,
        EventClass::ProductView,
        EventClass::CartAddition,
        EventClass::Checkout,
        EventClass::Visit,
        EventClass::EmailOpen,
        EventClass::EmailClick,
        EventClass::SupportTicket,
    ];
    let action = |k: usize| Action {
        id: format!("a{k}"),
        channel: Channel::Email,
        purpose: Purpose::Marketing,
        payload: String::new(),
    };
    let mut rules = Vec::new();
    for k in 0..30 {
        let when = TriggerCondition::Events {
            kind: kinds[k % kinds.len()],
            at_least: 8,
            within_minutes: 1,
            same_product: k % 2 == 0,
            unless: None,
        };
        rules.push(TriggerRule { name: format!("pattern{k}"), when, action: action(k), once_per_customer: false });
    }
    let stages = ["new", "active", "loyal", "at_risk", "lapsed", "churned", "reactivated", "new", "active", "loyal"];
    for (k, stage) in stages.iter().enumerate() {
        let when = TriggerCondition::StageEntered { stage: stage.to_string() };
        rules.push(TriggerRule { name: format!("stage{k}"), when, action: action(30 + k), once_per_customer: false });
    }
    for k in 0..5 {
        let when = TriggerCondition::NoActivityFor { days: 30 + k };
        rules.push(TriggerRule {
            name: format!("quiet{k}"),
            when,
            action: action(40 + k as usize),
            once_per_customer: false,
        });
    }
    for k in 0..5 {
        let segment = Segment::All {
            all: vec![
                Segment::Profile { condition: Condition::OrdersAtLeast { orders: 1000 + k } },
                Segment::Stage { stage: "loyal".into() },
            ],
        };
        let when = TriggerCondition::SegmentEntered { segment };
        rules.push(TriggerRule {
            name: format!("segment{k}"),
            when,
            action: action(45 + k as usize),
            once_per_customer: false,
        });
    }
    let triggers = Triggers::new(rules, Limits::default(), engine.model()).unwrap();
    let customer = CustomerId::Number(1);
    let state = engine.new_customer(customer.clone(), start());
    let ledger = ConsentLedger::new();
    let view = CustomerView { consent: Some(&ledger), ..CustomerView::of(&state) };
    let applied = Applied::default();
    let stream: Vec<Event> = (0..100_000)
        .map(|k| {
            let kind = match k % 3 {
                0 => EventKind::ProductViewed { product_id: "p1".into() },
                1 => EventKind::AddedToCart { product_id: "p2".into(), quantity: 1 },
                _ => EventKind::EmailOpened { campaign: "c".into() },
            };
            Event::new(format!("t{k}"), customer.clone(), start() + TimeDelta::seconds(k as i64 * 300), kind).unwrap()
        })
        .collect();
    {
        let mut memory = triggers.new_state();
        let region = Region::new(GLOBAL);
        let mut fired = 0;
        for e in &stream {
            fired += triggers.on_event(&mut memory, &view, &applied, e).len();
        }
        let stats = region.change();
        println!(
            "triggers: {} events, {fired} firings, {} allocations",
            stream.len(),
            stats.allocations + stats.reallocations
        );
        assert_eq!((fired, stats.allocations + stats.reallocations), (0, 0), "triggers allocated or fired");
    }
    g.sample_size(20);
    g.bench_function("triggers/on_event/50_rules", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0u64;
            while done < iters {
                let mut memory = triggers.new_state();
                let n = (iters - done).min(stream.len() as u64) as usize;
                let t = Instant::now();
                for e in &stream[..n] {
                    black_box(triggers.on_event(&mut memory, &view, &applied, e));
                }
                total += t.elapsed();
                done += n as u64;
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
