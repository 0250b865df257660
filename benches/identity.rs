//! Identity resolution (one thread).
//!
//! * `identity/link/10M-links-1M-people`: 10,000,000 links over 1,000,000
//!   people, each known by a numeric customer id, an e-mail and two device
//!   ids; every link joins two of one person's identifiers drawn at random
//!   (so most are further evidence for people already joined), in a
//!   shuffled order across people, into an empty graph with the default
//!   policy. The identifiers are built before timing; the graph copies
//!   each once when it first sees it. `…-presized` starts from
//!   `IdentityGraph::with_capacity` (4M identifiers, 10M links).
//!   `link_all/…`: the same links given at once to
//!   `IdentityGraph::link_all`. `floor/…`: the identifiers of the same
//!   links mapped to dense indices by a plain hash map, one by one — what
//!   the lookups cost without a graph.
//!
//! * `identity/merge/…`: [`Lifecycle::merge`] of a guest (a consent grant,
//!   three product views and an order in one evening) into an account
//!   with a year of history (12 orders, 12 visits, 6 e-mail opens): 35
//!   events, replayed once per id to check them and once merged; then
//!   the trigger memories (`Triggers::merge_memory`, three rules) and the
//!   ledger histories (`ConsentHistory::merge`) of the two.
//!
//! Run: `cargo bench --bench identity`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use customer_lifecycle::automation::{Action, CustomerView, Limits, TriggerCondition, TriggerRule, Triggers};
use customer_lifecycle::chrono::{TimeDelta, TimeZone, Utc};
use customer_lifecycle::lifecycle::{CustomerState, EngineOptions, Lifecycle, StageModel, StateWithEvents};
use customer_lifecycle::{
    Channel, ConsentChange, ConsentStatus, Currency, CustomerId, Event, EventKind, Identifier, IdentityGraph,
    IdentityLink, IdentityPolicy, LinkSource, Money, Purpose,
};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

const PEOPLE: usize = 1_000_000;
const LINKS: usize = 10_000_000;

fn links(at: customer_lifecycle::chrono::DateTime<Utc>) -> Vec<IdentityLink> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(19);
    let people: Vec<[Identifier; 4]> = (0..PEOPLE)
        .map(|p| {
            [
                Identifier::customer(p as i64 * 7 + 3),
                Identifier::email(&format!("person{p}@shop.example")).unwrap(),
                Identifier::device(&format!("cookie-{p}-a")).unwrap(),
                Identifier::device(&format!("cookie-{p}-b")).unwrap(),
            ]
        })
        .collect();
    (0..LINKS)
        .map(|_| {
            let person = &people[rng.random_range(0..PEOPLE)];
            let a = rng.random_range(0..4);
            let b = (a + rng.random_range(1..4)) % 4;
            IdentityLink { a: person[a].clone(), b: person[b].clone(), source: LinkSource::Login, at }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let at = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    let links = links(at);
    let mut g = c.benchmark_group("identity");
    g.sample_size(10).measurement_time(Duration::from_secs(30));
    g.bench_function("link/10M-links-1M-people", |b| {
        b.iter(|| {
            let mut graph = IdentityGraph::new(IdentityPolicy::default());
            for link in &links {
                graph.link(&link.a, &link.b, link.source, link.at).unwrap();
            }
            assert!(graph.people() >= PEOPLE);
            black_box(graph.len())
        })
    });
    g.bench_function("link/10M-links-1M-people-presized", |b| {
        b.iter(|| {
            let mut graph = IdentityGraph::with_capacity(IdentityPolicy::default(), 4 * PEOPLE, LINKS);
            for link in &links {
                graph.link(&link.a, &link.b, link.source, link.at).unwrap();
            }
            assert!(graph.people() >= PEOPLE);
            black_box(graph.len())
        })
    });
    g.bench_function("link_all/10M-links-1M-people", |b| {
        b.iter(|| {
            let mut graph = IdentityGraph::new(IdentityPolicy::default());
            let tally = graph.link_all(&links);
            assert!(tally.refused.is_empty() && graph.people() >= PEOPLE);
            black_box(graph.len())
        })
    });
    g.bench_function("link_all/10M-links-1M-people-presized", |b| {
        b.iter(|| {
            let mut graph = IdentityGraph::with_capacity(IdentityPolicy::default(), 4 * PEOPLE, LINKS);
            let tally = graph.link_all(&links);
            assert!(tally.refused.is_empty() && graph.people() >= PEOPLE);
            black_box(graph.len())
        })
    });
    // The floor of the lookups alone: the 20M identifiers of the links
    // mapped to dense indices by a plain hash map (hashbrown, foldhash),
    // one after the other, with no graph.
    g.bench_function("floor/hash-map-of-20M-identifiers", |b| {
        b.iter(|| {
            let mut map: hashbrown::HashMap<Identifier, u32, foldhash::fast::RandomState> =
                hashbrown::HashMap::with_capacity_and_hasher(4 * PEOPLE, foldhash::fast::RandomState::default());
            let mut sum = 0u64;
            for link in &links {
                for side in [&link.a, &link.b] {
                    let next = map.len() as u32;
                    sum += u64::from(*map.entry_ref(side).or_insert(next));
                }
            }
            black_box((map.len(), sum))
        })
    });
    g.finish();
}

fn order(id: &str, who: &CustomerId, at: customer_lifecycle::chrono::DateTime<Utc>) -> Event {
    let kind = EventKind::OrderPlaced {
        order_id: id.into(),
        gross: Money::parse("42.50", Currency::EUR).unwrap(),
        discount: Money::parse("0", Currency::EUR).unwrap(),
        items: 2,
    };
    Event::new(id, who.clone(), at, kind).unwrap()
}

fn merge_bench(c: &mut Criterion) {
    let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR)).unwrap();
    let t0 = Utc.with_ymd_and_hms(2023, 5, 1, 12, 0, 0).unwrap();
    let (account, guest) = (CustomerId::from(1001), CustomerId::from("ana@example.com"));
    let grant = ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Granted);
    let mut account_events = Vec::new();
    for m in 0..12 {
        let at = t0 + TimeDelta::days(30 * m);
        account_events.push(order(&format!("a-o{m}"), &account, at));
        account_events.push(
            Event::new(format!("a-v{m}"), account.clone(), at - TimeDelta::hours(1), EventKind::SiteVisit).unwrap(),
        );
        if m % 2 == 0 {
            let open = EventKind::EmailOpened { campaign: format!("c{m}") };
            account_events.push(Event::new(format!("a-e{m}"), account.clone(), at + TimeDelta::days(3), open).unwrap());
        }
    }
    let evening = t0 + TimeDelta::days(340);
    let mut guest_events = vec![Event::new("g-c", guest.clone(), evening, EventKind::ConsentChanged(grant)).unwrap()];
    for v in 0..3 {
        let view = EventKind::ProductViewed { product_id: format!("p{v}") };
        guest_events.push(Event::new(format!("g-v{v}"), guest.clone(), evening + TimeDelta::minutes(v), view).unwrap());
    }
    guest_events.push(order("g-o", &guest, evening + TimeDelta::minutes(20)));
    let rule = |name: &str, when| TriggerRule {
        name: name.into(),
        when,
        action: Action {
            id: name.into(),
            channel: Channel::Email,
            purpose: Purpose::Marketing,
            payload: String::new(),
        },
        once_per_customer: true,
    };
    let triggers = Triggers::new(
        vec![
            rule("welcome", TriggerCondition::StageEntered { stage: "new".into() }),
            rule("winback", TriggerCondition::NoActivityFor { days: 60 }),
            rule(
                "browse",
                TriggerCondition::Events {
                    kind: customer_lifecycle::EventClass::ProductView,
                    at_least: 2,
                    within_minutes: 60,
                    same_product: false,
                    unless: None,
                },
            ),
        ],
        Limits::default(),
        engine.model(),
    )
    .unwrap();
    let run = |who: &CustomerId, events: &[Event]| -> (CustomerState, customer_lifecycle::automation::TriggerState) {
        let mut state = engine.new_customer(who.clone(), events[0].at().min(t0));
        let mut memory = triggers.new_state();
        for e in events {
            let applied = engine.apply(&mut state, e).unwrap();
            triggers.on_event(&mut memory, &CustomerView::of(&state), &applied, e);
        }
        (state, memory)
    };
    let (account_state, account_memory) = run(&account, &account_events);
    let (guest_state, guest_memory) = run(&guest, &guest_events);
    let linked = evening + TimeDelta::minutes(30);
    let mut g = c.benchmark_group("identity");
    g.bench_function("merge/state-35-events", |b| {
        b.iter(|| {
            let merged = engine
                .merge(
                    StateWithEvents { state: &account_state, events: &account_events },
                    StateWithEvents { state: &guest_state, events: &guest_events },
                    linked,
                )
                .unwrap();
            black_box(merged.state.profile().orders())
        })
    });
    g.bench_function("merge/trigger-memory-3-rules", |b| {
        b.iter(|| black_box(triggers.merge_memory(&account_memory, &guest_memory)))
    });
    g.bench_function("merge/consent-history", |b| {
        b.iter(|| {
            let mut h = account_state.consent().clone();
            h.merge(guest_state.consent(), linked).unwrap();
            black_box(h)
        })
    });
    g.finish();
}

criterion_group!(benches, bench, merge_bench);
criterion_main!(benches);
