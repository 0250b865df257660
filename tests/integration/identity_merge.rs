//! Identity resolution everywhere (issue 19, part 2 and 3): two ids of one
//! person merged in the streaming engine (exactly the state one id would
//! have had, property-tested against a replay under one id delivered out
//! of order), anonymous to known, the consent-merge rule against a plain
//! oracle, the triggers' memory, erasure across every structure, and the
//! attribute merge strategies.

use std::collections::BTreeSet;

use customer_lifecycle::automation::{
    Action, CustomerView, FrequencyCap, Limits, TriggerCondition, TriggerRule, Triggers,
};
use customer_lifecycle::chrono::{DateTime, TimeDelta, TimeZone, Utc};
use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageModel, StateWithEvents, Transition};
use customer_lifecycle::rust_decimal::Decimal;
use customer_lifecycle::{
    Attribute, AttributeMerge, AttributeValue, Attributes, Channel, ConsentChange, ConsentHistory, ConsentLedger,
    ConsentRecord, ConsentStatus, Currency, CustomerId, Engagement, Error, Event, EventKind, Identifier, IdentityGraph,
    IdentityPolicy, LinkSource, MergeStrategy, Money, NpsScore, Purpose, Transaction, TransactionLog,
};
use proptest::prelude::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap()
}

fn minutes(m: i64) -> DateTime<Utc> {
    t0() + TimeDelta::minutes(m)
}

fn eur(s: &str) -> Money {
    Money::parse(s, Currency::EUR).unwrap()
}

fn engine() -> Lifecycle {
    Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR).lateness(TimeDelta::hours(48))).unwrap()
}

/// One event of a generated history: kind code, minute offset, amount.
fn event(id: &str, who: &CustomerId, at: DateTime<Utc>, code: u8, amount: u32) -> Event {
    let kind = match code % 6 {
        0 | 1 => EventKind::OrderPlaced {
            order_id: format!("order-{id}"),
            gross: eur(&format!("{}.{:02}", 5 + amount % 200, amount % 100)),
            discount: eur("0"),
            items: 1,
        },
        2 => EventKind::ProductViewed { product_id: format!("p{}", amount % 5) },
        3 => EventKind::SiteVisit,
        4 => EventKind::EmailOpened { campaign: "spring".into() },
        _ => EventKind::NpsAnswered { score: NpsScore::new((amount % 11) as u8).unwrap() },
    };
    Event::new(id, who.clone(), at, kind).unwrap()
}

/// A history of one id: distinct minutes (so that an in-order replay
/// meets no two events at one instant), spread over up to a year.
fn history(prefix: &str, who: &CustomerId, raw: &[(u32, u8, u32)]) -> Vec<Event> {
    let mut seen = BTreeSet::new();
    raw.iter()
        .filter(|(m, _, _)| seen.insert(*m))
        .enumerate()
        .map(|(i, &(m, code, amount))| event(&format!("{prefix}{i}"), who, minutes(i64::from(m)), code, amount))
        .collect()
}

/// Applies events in the given order (each within the lateness window of
/// the clock), then moves the clock to `until`.
fn fed(
    engine: &Lifecycle,
    who: &CustomerId,
    first_seen: DateTime<Utc>,
    events: &[Event],
    until: DateTime<Utc>,
) -> customer_lifecycle::lifecycle::CustomerState {
    let mut state = engine.new_customer(who.clone(), first_seen);
    for e in events {
        engine.apply(&mut state, e).unwrap();
    }
    if until > state.clock() {
        engine.advance_to(&mut state, until).unwrap();
    }
    state
}

/// Shuffles a time-ordered list only within windows of `span` positions
/// whose events lie within a day, so every event stays inside the 48 h
/// lateness window: an out-of-order delivery the engine must settle.
fn jumbled(events: &[Event], seed: u64) -> Vec<Event> {
    let mut out = events.to_vec();
    let mut s = seed | 1;
    for i in 1..out.len() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        if s % 3 == 1 && out[i].at() - out[i - 1].at() < TimeDelta::hours(24) {
            out.swap(i - 1, i);
        }
    }
    out
}

/// The oracle: every event rekeyed to `person`, delivered in time order
/// to a fresh state first seen at `first_seen`, the clock moved to
/// `until`; with every transition recorded.
fn oracle(
    engine: &Lifecycle,
    person: &CustomerId,
    first_seen: DateTime<Utc>,
    events: &[Event],
    until: DateTime<Utc>,
) -> (customer_lifecycle::lifecycle::CustomerState, Vec<Transition>) {
    let mut rekeyed: Vec<Event> = events
        .iter()
        .map(|e| {
            let json = serde_json::to_value(e).unwrap();
            let mut json = json;
            json["customer"] = serde_json::to_value(person).unwrap();
            serde_json::from_value(json).unwrap()
        })
        .collect();
    rekeyed.sort_by_key(|e| e.at());
    let mut state = engine.new_customer(person.clone(), first_seen);
    let mut transitions = Vec::new();
    for e in &rekeyed {
        let applied = engine.apply(&mut state, e).unwrap();
        transitions.extend(applied.transitions.iter());
    }
    if until > state.clock() {
        transitions.extend(engine.advance_to(&mut state, until).unwrap().iter());
    }
    (state, transitions)
}

fn raw_history() -> impl Strategy<Value = Vec<(u32, u8, u32)>> {
    prop::collection::vec((0u32..525_600, any::<u8>(), any::<u32>()), 0..24)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// The merged state equals, field for field, the state of one id that
    /// took both ids' events (an order both carried counting once), and the
    /// merged stage history equals that id's; whichever id is kept, and
    /// whatever order each id's events arrived in.
    #[test]
    fn a_merge_is_a_replay_under_one_id(
        a_raw in raw_history(),
        b_raw in raw_history(),
        shared in prop::collection::vec((0u32..525_600, any::<u32>()), 0..3),
        seed in any::<u64>(),
        extra_days in 0i64..400,
    ) {
        let engine = engine();
        let (a, b) = (CustomerId::from("ana@example.com"), CustomerId::from("guest-81"));
        let mut a_events = history("a", &a, &a_raw);
        let mut b_events = history("b", &b, &b_raw);
        // Orders both ids carried: the same event under each id.
        for (i, &(m, amount)) in shared.iter().enumerate() {
            let at = minutes(i64::from(m)) + TimeDelta::seconds(30);
            a_events.push(event(&format!("s{i}"), &a, at, 0, amount));
            b_events.push(event(&format!("s{i}"), &b, at, 0, amount));
        }
        a_events.sort_by_key(|e| e.at());
        b_events.sort_by_key(|e| e.at());
        let first = |events: &[Event]| events.first().map_or(t0(), |e| e.at().min(t0() + TimeDelta::days(3)));
        let last = |events: &[Event]| events.last().map_or(t0(), |e| e.at());
        let (a_first, b_first) = (first(&a_events), first(&b_events));
        let a_until = last(&a_events).max(a_first) + TimeDelta::days(extra_days);
        let b_until = last(&b_events).max(b_first) + TimeDelta::days(extra_days / 2);
        let a_state = fed(&engine, &a, a_first, &jumbled(&a_events, seed), a_until);
        let b_state = fed(&engine, &b, b_first, &jumbled(&b_events, seed ^ 99), b_until);

        let mut all = a_events.clone();
        all.extend(b_events.iter().filter(|e| e.id().0.starts_with('b')).cloned());
        let first_seen = a_first.min(b_first);
        let until = a_until.max(b_until);
        for (kept, other, person) in [
            (StateWithEvents { state: &a_state, events: &a_events }, StateWithEvents { state: &b_state, events: &b_events }, &a),
            (StateWithEvents { state: &b_state, events: &b_events }, StateWithEvents { state: &a_state, events: &a_events }, &b),
        ] {
            let merged = engine.merge(kept, other, until).unwrap();
            let (expected, transitions) = oracle(&engine, person, first_seen, &all, until);
            prop_assert_eq!(merged.state.customer(), person);
            prop_assert_eq!(merged.state.profile(), expected.profile());
            prop_assert_eq!(merged.state.stage(), expected.stage());
            prop_assert_eq!(merged.state.stage_since(), expected.stage_since());
            prop_assert_eq!(merged.state.clock(), expected.clock());
            prop_assert_eq!(merged.state.summary_row(), expected.summary_row());
            prop_assert_eq!(merged.transitions.iter().collect::<Vec<_>>(), transitions);
            prop_assert_eq!(
                merged.state.profile().orders() as usize,
                all.iter().filter(|e| matches!(e.kind(), EventKind::OrderPlaced { .. })).count()
            );
            // The merged state goes on like the one id's.
            let mut next = merged.state.clone();
            let mut expected = expected;
            let later = event("z", person, until + TimeDelta::days(1), 0, 7);
            engine.apply(&mut next, &later).unwrap();
            engine.apply(&mut expected, &later).unwrap();
            prop_assert_eq!(next.profile(), expected.profile());
            prop_assert_eq!(next.stage(), expected.stage());
        }
    }
}

#[test]
fn events_that_do_not_rebuild_a_state_are_refused() -> TestResult {
    let engine = engine();
    let (a, b) = (CustomerId::from("ana@example.com"), CustomerId::from("guest-81"));
    let a_events = vec![event("a0", &a, minutes(0), 0, 10), event("a1", &a, minutes(9_000), 0, 20)];
    let b_events = vec![event("b0", &b, minutes(60), 2, 1)];
    let a_state = fed(&engine, &a, t0(), &a_events, minutes(9_000));
    let b_state = fed(&engine, &b, t0(), &b_events, minutes(60));
    let whole = |s, e| StateWithEvents { state: s, events: e };
    // One of a's events missing.
    let err = engine.merge(whole(&a_state, &a_events[..1]), whole(&b_state, &b_events), t0()).unwrap_err();
    assert!(matches!(&err, Error::InvalidArgument { reason, .. } if reason.contains("ana@example.com")), "{err}");
    // Another id's events for a's state.
    let err = engine.merge(whole(&a_state, &b_events), whole(&b_state, &b_events), t0()).unwrap_err();
    assert!(err.to_string().contains("ana@example.com"), "{err}");
    // A state merged with itself.
    assert!(engine.merge(whole(&a_state, &a_events), whole(&a_state, &a_events), t0()).is_err());
    // An event id under both ids with different content.
    let clash = vec![event("a1", &b, minutes(61), 0, 99)];
    let b_clash = fed(&engine, &b, t0(), &clash, minutes(61));
    let err = engine.merge(whole(&a_state, &a_events), whole(&b_clash, &clash), t0()).unwrap_err();
    assert!(matches!(err, Error::ConflictingDuplicate { .. }), "{err}");
    // The inputs are untouched and merge fine afterwards.
    assert_eq!(engine.merge(whole(&a_state, &a_events), whole(&b_state, &b_events), t0())?.state.profile().orders(), 2);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Three ids joined one after the other (the second merge takes the
    /// first merge's state with both ids' events) give the state of one id
    /// that took all three ids' events, whichever order they are joined in.
    #[test]
    fn merges_chain(
        raws in prop::collection::vec(raw_history(), 3),
        order in 0usize..3,
    ) {
        let engine = engine();
        let ids = [CustomerId::from("a@x.de"), CustomerId::from("b@x.de"), CustomerId::from("c@x.de")];
        let histories: Vec<Vec<Event>> = ids
            .iter()
            .zip(&raws)
            .zip(["a", "b", "c"])
            .map(|((id, raw), p)| {
                let mut h = history(p, id, raw);
                h.sort_by_key(|e| e.at());
                h
            })
            .collect();
        let until = minutes(600_000);
        let states: Vec<_> = ids.iter().zip(&histories).map(|(id, h)| fed(&engine, id, t0(), h, until)).collect();
        let (k, j, l) = [(0, 1, 2), (1, 2, 0), (2, 0, 1)][order];
        let first = engine.merge(
            StateWithEvents { state: &states[k], events: &histories[k] },
            StateWithEvents { state: &states[j], events: &histories[j] },
            until,
        ).unwrap();
        let mut joined = histories[k].clone();
        joined.extend(histories[j].iter().cloned());
        let second = engine.merge(
            StateWithEvents { state: &first.state, events: &joined },
            StateWithEvents { state: &states[l], events: &histories[l] },
            until,
        ).unwrap();
        let mut all = joined;
        all.extend(histories[l].iter().cloned());
        let (expected, transitions) = oracle(&engine, &ids[k], t0(), &all, until);
        prop_assert_eq!(second.state.profile(), expected.profile());
        prop_assert_eq!(second.state.stage(), expected.stage());
        prop_assert_eq!(second.state.stage_since(), expected.stage_since());
        prop_assert_eq!(second.transitions.iter().collect::<Vec<_>>(), transitions);
    }
}

/// A visitor browses under a device id, then logs in and orders: the
/// browsing joins the person and the stage is recomputed with it.
#[test]
fn anonymous_engagement_joins_the_person_at_login() -> TestResult {
    let engine = engine();
    let device = Identifier::device("c0ffee-42")?.customer_id();
    let account = CustomerId::from("ana@example.com");
    let browsing: Vec<Event> = (0..6).map(|i| event(&format!("v{i}"), &device, minutes(i * 30), 2, i as u32)).collect();
    let device_state = fed(&engine, &device, t0(), &browsing, minutes(150));
    let login = minutes(200);
    let orders = vec![event("o1", &account, login, 0, 40)];
    let account_state = fed(&engine, &account, login, &orders, login);
    assert_eq!(account_state.profile().engagement(Engagement::ProductViews, 7, login), 0);

    let merged = engine.merge(
        StateWithEvents { state: &account_state, events: &orders },
        StateWithEvents { state: &device_state, events: &browsing },
        login,
    )?;
    assert_eq!(merged.state.profile().engagement(Engagement::ProductViews, 7, login), 6);
    assert_eq!(merged.state.profile().first_seen(), t0());
    let mut all = browsing.clone();
    all.extend(orders.clone());
    let (expected, transitions) = oracle(&engine, &account, t0(), &all, login);
    assert_eq!(merged.state.profile(), expected.profile());
    assert_eq!(merged.state.stage(), expected.stage());
    assert_eq!(merged.transitions.iter().collect::<Vec<_>>(), transitions);
    Ok(())
}

// ---------------------------------------------------------------- consent

const STATUSES: [ConsentStatus; 4] =
    [ConsentStatus::Granted, ConsentStatus::Denied, ConsentStatus::Withdrawn, ConsentStatus::Objected];
const CHANNELS: [Channel; 3] = [Channel::Email, Channel::Sms, Channel::Any];

fn decisions(raw: &[(u8, u8, u8)]) -> Vec<ConsentRecord> {
    let mut out: Vec<ConsentRecord> = raw
        .iter()
        .map(|&(day, status, channel)| {
            let change = ConsentChange::new(
                Purpose::Marketing,
                CHANNELS[usize::from(channel) % 3].clone(),
                STATUSES[usize::from(status) % 4],
            );
            ConsentRecord::new(change, t0() + TimeDelta::days(i64::from(day % 40)))
        })
        .collect();
    out.sort_by_key(|r| r.at);
    out
}

/// The rule written out plainly: one id's decision is its latest
/// covering one (ties: most restrictive); before the link the most
/// restrictive of the ids' decisions; from the link on the latest of all
/// decisions made since the link, else as before.
fn latest<'a>(
    records: impl Iterator<Item = &'a ConsentRecord>,
    channel: &Channel,
    at: DateTime<Utc>,
) -> Option<&'a ConsentRecord> {
    records
        .filter(|r| r.at <= at && r.change.channel.covers(channel))
        .max_by_key(|r| (r.at, r.change.status.restriction()))
}

fn rule_oracle(
    a: &[ConsentRecord],
    b: &[ConsentRecord],
    link: DateTime<Utc>,
    channel: &Channel,
    at: DateTime<Utc>,
) -> Option<ConsentStatus> {
    let since_link = latest(a.iter().chain(b).filter(|r| r.at >= link), channel, at);
    if let Some(r) = since_link {
        return Some(r.change.status);
    }
    let (x, y) = (latest(a.iter(), channel, at), latest(b.iter(), channel, at));
    [x, y].into_iter().flatten().map(|r| r.change.status).max_by_key(|s| s.restriction())
}

fn history_of(records: &[ConsentRecord]) -> ConsentHistory {
    let mut h = ConsentHistory::new();
    for r in records {
        h.record(r.change.clone(), r.at).unwrap();
    }
    h
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The merged history answers by the documented rule at every day and
    /// on every channel, whichever id is kept, after a JSON round trip, and
    /// when a third id joins later.
    #[test]
    fn the_merged_consent_follows_the_rule(
        a_raw in prop::collection::vec((any::<u8>(), any::<u8>(), any::<u8>()), 0..8),
        b_raw in prop::collection::vec((any::<u8>(), any::<u8>(), any::<u8>()), 0..8),
        c_raw in prop::collection::vec((any::<u8>(), any::<u8>(), any::<u8>()), 0..4),
        link_day in 0i64..40,
    ) {
        let (a, b, c) = (decisions(&a_raw), decisions(&b_raw), decisions(&c_raw));
        let link = t0() + TimeDelta::days(link_day);
        let mut ab = history_of(&a);
        ab.merge(&history_of(&b), link).unwrap();
        let mut ba = history_of(&b);
        ba.merge(&history_of(&a), link).unwrap();
        let json = serde_json::to_string(&ab).unwrap();
        let back: ConsentHistory = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&back, &ab);
        prop_assert_eq!(ab.records().len(), history_of(&a).records().len() + history_of(&b).records().len());
        prop_assert!(ab.records().windows(2).all(|w| w[0].at <= w[1].at));
        for day in 0..42 {
            let at = t0() + TimeDelta::days(day) + TimeDelta::hours(1);
            for channel in [Channel::Email, Channel::Sms] {
                let expected = rule_oracle(&a, &b, link, &channel, at);
                let status = |h: &ConsentHistory| h.decision(&channel, &Purpose::Marketing, at).map(|r| r.change.status);
                prop_assert_eq!(status(&ab), expected, "day {} {:?}", day, channel);
                prop_assert_eq!(status(&ba), expected);
                prop_assert_eq!(
                    ab.may_contact(&channel, &Purpose::Marketing, at),
                    expected == Some(ConsentStatus::Granted)
                );
            }
        }
        // A third id, joined to the first two ten days later: before that
        // link the restriction of either side wins; from it, the latest.
        let later = link + TimeDelta::days(10);
        let mut abc = ab.clone();
        abc.merge(&history_of(&c), later).unwrap();
        let back: ConsentHistory = serde_json::from_str(&serde_json::to_string(&abc).unwrap()).unwrap();
        prop_assert_eq!(&back, &abc);
        for day in 0..52 {
            let at = t0() + TimeDelta::days(day) + TimeDelta::hours(1);
            let channel = Channel::Email;
            let since = latest(a.iter().chain(&b).chain(&c).filter(|r| r.at >= later), &channel, at);
            let expected = match since {
                Some(r) => Some(r.change.status),
                None => {
                    let left = rule_oracle(&a, &b, link, &channel, at);
                    let right = latest(c.iter(), &channel, at).map(|r| r.change.status);
                    [left, right].into_iter().flatten().max_by_key(|s| s.restriction())
                }
            };
            prop_assert_eq!(abc.decision(&channel, &Purpose::Marketing, at).map(|r| r.change.status), expected, "day {}", day);
        }
    }
}

#[test]
fn the_consent_rule_in_the_issues_words() -> TestResult {
    let day = |d| t0() + TimeDelta::days(d);
    let email = |status| ConsentChange::new(Purpose::Marketing, Channel::Email, status);
    let (ana, guest) = (CustomerId::from("ana@example.com"), CustomerId::from("guest-81"));
    let mut ledger = ConsentLedger::new();
    ledger.record(&ana, email(ConsentStatus::Granted), day(1))?;
    ledger.record(&guest, email(ConsentStatus::Withdrawn), day(2))?;
    ledger.record(&ana, email(ConsentStatus::Granted), day(3))?; // a grant under another id: no override
    ledger.record(&guest, email(ConsentStatus::Granted), day(4))?; // under the same id: overrides
    ledger.record(&ana, email(ConsentStatus::Objected), day(5))?;
    ledger.merge(&ana, &guest, day(6))?;
    let may = |ledger: &ConsentLedger, d| ledger.may_contact(&ana, &Channel::Email, &Purpose::Marketing, day(d));
    assert!(may(&ledger, 1));
    assert!(
        !may(&ledger, 2) && !may(&ledger, 3),
        "a withdrawal under one id wins over a grant under another before the link"
    );
    assert!(may(&ledger, 4), "the guest's own later grant overrides its withdrawal; ana's grant stands");
    assert!(!may(&ledger, 5) && !may(&ledger, 6), "ana's objection wins");
    // From the link on, the person's latest decision stands, made under any id.
    ledger.record(&ana, email(ConsentStatus::Granted), day(7))?;
    assert!(may(&ledger, 7));
    // At the same instant, the most restrictive.
    ledger.record(&ana, ConsentChange::new(Purpose::Marketing, Channel::Any, ConsentStatus::Withdrawn), day(8))?;
    ledger.record(&ana, email(ConsentStatus::Granted), day(8))?;
    assert!(!may(&ledger, 8));
    assert_eq!(ledger.history(&ana).len(), 8);
    assert!(ledger.history(&guest).is_empty());
    Ok(())
}

#[test]
fn a_tampered_merged_history_is_refused() {
    let mut a = ConsentHistory::new();
    a.record(ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Granted), t0()).unwrap();
    let mut b = ConsentHistory::new();
    b.record(ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Withdrawn), t0()).unwrap();
    a.merge(&b, t0()).unwrap();
    let json = serde_json::to_value(&a).unwrap();
    for (path, value) in [
        ("/origins/1", serde_json::json!(7)),
        ("/joins/0/mid", serde_json::json!(0)),
        ("/joins/0/hi", serde_json::json!(5)),
        ("/origins", serde_json::json!([0])),
    ] {
        let mut bad = json.clone();
        *bad.pointer_mut(path).unwrap() = value;
        assert!(serde_json::from_value::<ConsentHistory>(bad).is_err(), "{path}");
    }
    // The plain form of earlier versions still loads.
    let plain = serde_json::to_string(b.records()).unwrap();
    assert_eq!(serde_json::from_str::<ConsentHistory>(&plain).unwrap(), b);
}

/// The engine's merge joins consent by the same rule: a withdrawal the
/// guest made before the link holds for the person, and triggers honour it.
#[test]
fn a_merged_state_honours_both_ids_consent() -> TestResult {
    let engine = engine();
    let (ana, guest) = (CustomerId::from("ana@example.com"), CustomerId::from("guest-81"));
    let grant = ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Granted);
    let withdraw = ConsentChange::new(Purpose::Marketing, Channel::Any, ConsentStatus::Withdrawn);
    let ana_events = vec![Event::new("c1", ana.clone(), minutes(0), EventKind::ConsentChanged(grant))?];
    let guest_events = vec![Event::new("c2", guest.clone(), minutes(10), EventKind::ConsentChanged(withdraw))?];
    let ana_state = fed(&engine, &ana, t0(), &ana_events, minutes(20));
    let guest_state = fed(&engine, &guest, t0(), &guest_events, minutes(20));
    assert!(ana_state.consent().may_contact(&Channel::Email, &Purpose::Marketing, minutes(20)));
    let merged = engine.merge(
        StateWithEvents { state: &ana_state, events: &ana_events },
        StateWithEvents { state: &guest_state, events: &guest_events },
        minutes(20),
    )?;
    assert_eq!(merged.state.consent().records().len(), 2);
    assert!(!CustomerView::of(&merged.state).may_contact(&Channel::Email, &Purpose::Marketing, minutes(30)));
    Ok(())
}

// ---------------------------------------------------------------- triggers

fn email_rule(name: &str, when: TriggerCondition, once: bool) -> TriggerRule {
    TriggerRule {
        name: name.into(),
        when,
        action: Action {
            id: name.into(),
            channel: Channel::Email,
            purpose: Purpose::Marketing,
            payload: String::new(),
        },
        once_per_customer: once,
    }
}

/// Caps and once-per-customer rules count the person, not the id.
#[test]
fn the_triggers_memory_follows_the_person() -> TestResult {
    let engine = engine();
    let limits =
        Limits { caps: vec![FrequencyCap { channel: Channel::Email, max: 2, per_hours: 24 * 7 }], ..Limits::default() };
    let welcome = email_rule("welcome", TriggerCondition::StageEntered { stage: "new".into() }, true);
    let browse = email_rule(
        "browse",
        TriggerCondition::Events {
            kind: customer_lifecycle::EventClass::ProductView,
            at_least: 1,
            within_minutes: 60,
            same_product: false,
            unless: None,
        },
        false,
    );
    let triggers = Triggers::new(vec![welcome, browse], limits, engine.model())?;
    let grant = ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Granted);
    let run = |who: &CustomerId, events: &[Event]| -> Result<_, Error> {
        let mut state = engine.new_customer(who.clone(), t0());
        let mut memory = triggers.new_state();
        let mut sent = 0;
        for e in events {
            let applied = engine.apply(&mut state, e)?;
            sent += triggers
                .on_event(&mut memory, &CustomerView::of(&state), &applied, e)
                .iter()
                .filter(|f| f.suppressed.is_none())
                .count();
        }
        Ok((state, memory, sent))
    };
    let (ana, guest) = (CustomerId::from("ana@example.com"), CustomerId::from("guest-81"));
    let guest_events = vec![
        Event::new("gc", guest.clone(), minutes(0), EventKind::ConsentChanged(grant.clone()))?,
        event("go", &guest, minutes(1), 0, 30),
    ];
    let ana_events = vec![
        Event::new("ac", ana.clone(), minutes(100), EventKind::ConsentChanged(grant))?,
        event("av", &ana, minutes(101), 2, 1),
    ];
    let (guest_state, guest_memory, guest_sent) = run(&guest, &guest_events)?;
    let (ana_state, ana_memory, ana_sent) = run(&ana, &ana_events)?;
    assert_eq!((guest_sent, ana_sent), (1, 1)); // the welcome; the browse reminder

    let memory = triggers.merge_memory(&ana_memory, &guest_memory);
    assert_eq!(memory, triggers.merge_memory(&guest_memory, &ana_memory), "the same whichever id is kept");
    let merged = engine.merge(
        StateWithEvents { state: &ana_state, events: &ana_events },
        StateWithEvents { state: &guest_state, events: &guest_events },
        minutes(101),
    )?;
    let mut memory = memory;
    let mut state = merged.state;
    // The merged history restates the welcome: it was acted on already.
    let restated = triggers.on_tick(&mut memory, &CustomerView::of(&state), minutes(101), merged.transitions.iter());
    assert!(restated.iter().all(|f| f.suppressed.is_some()), "{restated:?}");
    // The person got two e-mails this week: the cap of two holds for the
    // person (each id alone had one).
    let view_event = event("av2", &ana, minutes(200), 2, 3);
    let applied = engine.apply(&mut state, &view_event)?;
    let fired = triggers.on_event(&mut memory, &CustomerView::of(&state), &applied, &view_event);
    assert_eq!(fired.len(), 1);
    assert_eq!(
        fired.iter().next().unwrap().suppressed,
        Some(customer_lifecycle::automation::Suppression::FrequencyCap)
    );
    // Each id's memory alone would have sent it.
    let mut alone = ana_memory.clone();
    let mut ana_alone = ana_state.clone();
    let applied = engine.apply(&mut ana_alone, &view_event)?;
    assert!(
        triggers
            .on_event(&mut alone, &CustomerView::of(&ana_alone), &applied, &view_event)
            .iter()
            .all(|f| f.suppressed.is_none())
    );
    Ok(())
}

// ---------------------------------------------------------------- erasure

/// Erasing a person erases every linked id in the log, the summary, the
/// consent ledger and the host's states, and the graph forgets the links.
#[test]
fn erasure_reaches_every_linked_id() -> TestResult {
    let mut graph = IdentityGraph::new(IdentityPolicy::default());
    let email = Identifier::email("Ana@Example.com")?;
    let guest = Identifier::customer("guest-81");
    let device = Identifier::device("c0ffee")?;
    let other = Identifier::email("bo@example.com")?;
    graph.link(&email, &guest, LinkSource::Order, t0())?;
    graph.link(&guest, &device, LinkSource::Login, t0())?;
    graph.add(&other)?;
    let ids: Vec<CustomerId> = [&email, &guest, &device, &other].iter().map(|i| i.customer_id()).collect();
    let mut log = TransactionLog::new(Currency::EUR);
    let mut ledger = ConsentLedger::new();
    let mut states = std::collections::BTreeMap::new();
    let engine = engine();
    for (k, id) in ids.iter().enumerate() {
        log.push(Transaction::order(id.clone(), minutes(k as i64 * 1_000), eur("12.50")))?;
        ledger.record(id, ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Granted), t0())?;
        states.insert(id.clone(), engine.new_customer(id.clone(), t0()));
    }
    let erased = graph.erase(&guest);
    assert_eq!(erased.len(), 3);
    for identifier in &erased {
        let id = identifier.customer_id();
        log.erase(&id)?;
        ledger.erase(&id);
        states.remove(&id);
    }
    for (identifier, id) in [&email, &guest, &device].into_iter().zip(&ids) {
        assert!(erased.contains(identifier));
        assert!(ledger.history(id).is_empty());
        assert!(!states.contains_key(id));
        assert_eq!(graph.canonical(identifier), None);
        assert!(log.customers().get(id).is_none(), "{id} left in the log");
    }
    assert!(graph.links().is_empty());
    assert_eq!(graph.people(), 1);
    assert_eq!(log.len(), 1);
    assert_eq!(ledger.len(), 1);
    assert_eq!(states.len(), 1);
    let summary = log.summarize(&customer_lifecycle::SummaryOptions::new(customer_lifecycle::TimeUnit::Day))?;
    assert_eq!(summary.ids(), &ids[3..]);
    Ok(())
}

// ---------------------------------------------------------------- attributes

fn attribute(raw: (u8, u8, u8)) -> Attribute {
    let (kind, value, day) = raw;
    let value = match kind % 4 {
        0 => AttributeValue::Text(["", "Ana", "Ana Lima", " "][usize::from(value) % 4].into()),
        1 => AttributeValue::Number(Decimal::from(value)),
        2 => AttributeValue::Flag(value % 2 == 0),
        _ => AttributeValue::labels((0..value % 4).map(|i| format!("l{}", (value >> i) % 5))),
    };
    Attribute { value, updated_at: t0() + TimeDelta::days(i64::from(day % 5)) }
}

proptest! {
    /// Every strategy gives the same person whichever id is kept; union
    /// and sum are also associative (three ids in any grouping).
    #[test]
    fn attribute_merges_do_not_depend_on_order(
        a in prop::collection::vec((0u8..6, any::<(u8, u8, u8)>()), 0..6),
        b in prop::collection::vec((0u8..6, any::<(u8, u8, u8)>()), 0..6),
        c in prop::collection::vec((0u8..6, any::<(u8, u8, u8)>()), 0..6),
        strategy in 0usize..4,
    ) {
        let strategy = [MergeStrategy::MostRecent, MergeStrategy::Oldest, MergeStrategy::NonEmpty, MergeStrategy::Union][strategy];
        let build = |raw: &[(u8, (u8, u8, u8))]| {
            let mut out = Attributes::new();
            for &(name, value) in raw {
                let attr = if strategy == MergeStrategy::Union {
                    // Union takes labels or numbers, one kind per name.
                    let (_, v, d) = value;
                    attribute((if name % 2 == 0 { 1 } else { 3 }, v, d))
                } else {
                    attribute(value)
                };
                out.set(format!("f{name}"), attr.value, attr.updated_at);
            }
            out
        };
        let (a, b, c) = (build(&a), build(&b), build(&c));
        let rule = AttributeMerge::new(strategy);
        let ab = rule.merge(&a, &b).unwrap();
        prop_assert_eq!(&ab, &rule.merge(&b, &a).unwrap());
        prop_assert_eq!(
            rule.merge(&ab, &c).unwrap(),
            rule.merge(&a, &rule.merge(&b, &c).unwrap()).unwrap()
        );
        for (name, merged) in ab.iter() {
            let (x, y) = (a.get(name), b.get(name));
            match (x, y, strategy) {
                (Some(x), Some(y), MergeStrategy::MostRecent) => prop_assert_eq!(merged.updated_at, x.updated_at.max(y.updated_at)),
                (Some(x), Some(y), MergeStrategy::Oldest) => prop_assert_eq!(merged.updated_at, x.updated_at.min(y.updated_at)),
                (Some(x), Some(y), MergeStrategy::NonEmpty) => {
                    prop_assert!(!merged.value.is_empty() || (x.value.is_empty() && y.value.is_empty()))
                }
                (Some(_), Some(_), _) => {}
                (Some(x), None, _) | (None, Some(x), _) => prop_assert_eq!(merged, x),
                (None, None, _) => prop_assert!(false, "a name from nowhere"),
            }
        }
    }
}

#[test]
fn a_union_of_unlike_values_is_refused() {
    let at = t0();
    let (mut a, mut b) = (Attributes::new(), Attributes::new());
    a.set("tier", AttributeValue::Text("gold".into()), at);
    b.set("tier", AttributeValue::labels(["silver"]), at);
    let err = AttributeMerge::new(MergeStrategy::Union).merge(&a, &b).unwrap_err();
    assert!(err.to_string().contains("tier"), "{err}");
    a.set("tier", AttributeValue::Number(Decimal::MAX), at);
    b.set("tier", AttributeValue::Number(Decimal::MAX), at);
    assert!(AttributeMerge::new(MergeStrategy::Union).merge(&a, &b).is_err());
    // Another strategy per name lets the rest merge.
    let rule = AttributeMerge::new(MergeStrategy::Union).with("tier", MergeStrategy::MostRecent);
    assert!(rule.merge(&a, &b).is_ok());
}
