//! Segments decoded from the input, tested on customers whose events are
//! decoded from the rest of it. Oracles: no panic; a segment compiles
//! exactly when the documented rules allow it (an independent statement of
//! them below); a compiled segment's answer for every customer, at several
//! instants, equals an independent evaluation over the customer's public
//! profile; `select` equals `matches` one by one; a segment saved as JSON
//! loads back equal and compiles to the same answers.

use customer_lifecycle::automation::{CustomerView, Segment};
use customer_lifecycle::chrono::{DateTime, TimeDelta, TimeZone, Utc};
use customer_lifecycle::churn::RiskBand;
use customer_lifecycle::lifecycle::{
    Condition, CustomerState, EngineOptions, Lifecycle, MAX_CONDITION_DEPTH, MAX_SIGMAS, StageModel,
};
use customer_lifecycle::rust_decimal::Decimal;
use customer_lifecycle::{
    Channel, ConsentChange, ConsentStatus, Currency, CustomerId, Engagement, Event, EventKind, Money, NpsScore, Purpose,
};

/// The input as a stream of bytes, zero once it runs out.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn next(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else { return 0 };
        self.0 = rest;
        b
    }
}

const ENGAGEMENTS: [Engagement; 5] = [
    Engagement::Visits,
    Engagement::ProductViews,
    Engagement::CartAdditions,
    Engagement::EmailOpens,
    Engagement::EmailClicks,
];

fn condition(b: &mut Bytes<'_>, depth: usize) -> Condition {
    let op = b.next();
    let arg = b.next();
    let leaf = depth >= 4;
    match op % 14 {
        0 => Condition::OrdersAtLeast { orders: u32::from(arg % 6) },
        1 => Condition::NetSpendAtLeast { amount: Decimal::new(i64::from(arg as i8) * 250, 2) },
        2 => Condition::DaysSinceLastOrder { days: u32::from(arg % 120) },
        3 => Condition::DaysSinceLastActivity { days: u32::from(arg % 120) },
        4 => Condition::EngagementAtLeast {
            kind: ENGAGEMENTS[usize::from(arg % 5)],
            count: u32::from(arg / 5 % 4),
            days: u16::from(b.next() % 70),
        },
        5 => Condition::NpsAtLeast { score: arg % 12 },
        6 => Condition::NpsAtMost { score: arg % 12 },
        7 => Condition::CadenceOverdue {
            sigmas: [0.0, 1.5, MAX_SIGMAS, MAX_SIGMAS * 2.0, -1.0, f64::NAN][usize::from(arg % 6)],
            min_gaps: u32::from(arg / 6 % 4),
            fallback_days: u32::from(b.next() % 60),
        },
        // Event and score conditions: a segment must refuse them.
        8 => [Condition::OrderPlaced, Condition::NpsAnswered, Condition::ScoreBelow { threshold: 0.5 }]
            [usize::from(arg % 3)]
        .clone(),
        9 if !leaf => Condition::All { all: (0..arg % 4).map(|_| condition(b, depth + 1)).collect() },
        10 if !leaf => Condition::Any { any: (0..arg % 4).map(|_| condition(b, depth + 1)).collect() },
        11 if !leaf => Condition::Not { not: Box::new(condition(b, depth + 1)) },
        // A chain deeper than the limit allows, or just within it.
        12 if !leaf => {
            let mut c = Condition::OrdersAtLeast { orders: 1 };
            for _ in 0..(MAX_CONDITION_DEPTH - 2 + usize::from(arg % 4)) {
                c = Condition::Not { not: Box::new(c) };
            }
            c
        }
        _ => Condition::OrdersAtLeast { orders: 1 },
    }
}

fn segment(b: &mut Bytes<'_>, depth: usize, stages: &[String]) -> Segment {
    let op = b.next();
    let arg = b.next();
    let leaf = depth >= 4;
    match op % 12 {
        // The model's stages and one it does not have.
        0 => Segment::Stage {
            stage: stages.get(usize::from(arg) % (stages.len() + 1)).cloned().unwrap_or_else(|| "vip".into()),
        },
        1 => Segment::RfmSegment { segment: ["champions", "at_risk"][usize::from(arg % 2)].into() },
        2 => Segment::ChurnBand { band: [RiskBand::Low, RiskBand::Medium, RiskBand::High][usize::from(arg % 3)] },
        3 => Segment::ClvAtLeast {
            value: [f64::from(arg) - 50.0, f64::INFINITY, f64::NAN, 0.0][usize::from(b.next() % 4)],
        },
        4 => Segment::PAliveBelow { threshold: f64::from(arg) / 200.0 },
        5 => Segment::Profile { condition: condition(b, 0) },
        6 => Segment::MayContact {
            channel: [Channel::Email, Channel::Sms, Channel::Any][usize::from(arg % 3)].clone(),
            purpose: [Purpose::Marketing, Purpose::Profiling][usize::from(arg / 3 % 2)].clone(),
        },
        7 if !leaf => Segment::All { all: (0..arg % 4).map(|_| segment(b, depth + 1, stages)).collect() },
        8 if !leaf => Segment::Any { any: (0..arg % 4).map(|_| segment(b, depth + 1, stages)).collect() },
        9 if !leaf => Segment::Not { not: Box::new(segment(b, depth + 1, stages)) },
        10 if !leaf => {
            let mut s = Segment::ChurnBand { band: RiskBand::High };
            for _ in 0..(MAX_CONDITION_DEPTH - 2 + usize::from(arg % 4)) {
                s = Segment::Not { not: Box::new(s) };
            }
            s
        }
        _ => Segment::RfmSegment { segment: "champions".into() },
    }
}

/// The depth of a tree, counted as the crate documents it (a leaf is 1).
fn depth<T>(node: &T, children: fn(&T) -> Vec<&T>) -> usize {
    1 + children(node).into_iter().map(|c| depth(c, children)).max().unwrap_or(0)
}

fn condition_children(c: &Condition) -> Vec<&Condition> {
    match c {
        Condition::All { all: v } | Condition::Any { any: v } => v.iter().collect(),
        Condition::Not { not } => vec![&**not],
        _ => Vec::new(),
    }
}

fn segment_children(s: &Segment) -> Vec<&Segment> {
    match s {
        Segment::All { all: v } | Segment::Any { any: v } => v.iter().collect(),
        Segment::Not { not } => vec![&**not],
        _ => Vec::new(),
    }
}

/// The documented rules for a condition on a state, restated.
fn condition_valid(c: &Condition) -> bool {
    match c {
        Condition::OrderPlaced
        | Condition::OrderReturned
        | Condition::Engaged { .. }
        | Condition::NpsAnswered
        | Condition::ScoreBelow { .. } => false,
        Condition::OrdersAtLeast { .. } => true,
        Condition::NetSpendAtLeast { amount } => *amount >= Decimal::ZERO,
        Condition::DaysSinceLastOrder { days } | Condition::DaysSinceLastActivity { days } => *days > 0,
        Condition::EngagementAtLeast { days, .. } => (1..=64).contains(days),
        Condition::NpsAtLeast { score } | Condition::NpsAtMost { score } => *score <= 10,
        Condition::CadenceOverdue { sigmas, min_gaps, fallback_days } => {
            (0.0..=MAX_SIGMAS).contains(sigmas) && *min_gaps >= 2 && *fallback_days > 0
        }
        Condition::All { all: v } | Condition::Any { any: v } => !v.is_empty() && v.iter().all(condition_valid),
        Condition::Not { not } => condition_valid(not),
        _ => unreachable!("the decoder makes no other condition"),
    }
}

fn segment_valid(s: &Segment, stages: &[String]) -> bool {
    match s {
        Segment::Stage { stage } => stages.contains(stage),
        Segment::RfmSegment { .. } | Segment::ChurnBand { .. } | Segment::MayContact { .. } => true,
        Segment::ClvAtLeast { value } => value.is_finite(),
        Segment::PAliveBelow { threshold } => (0.0..=1.0).contains(threshold),
        Segment::Profile { condition } => {
            depth(condition, condition_children) <= MAX_CONDITION_DEPTH && condition_valid(condition)
        }
        Segment::All { all: v } | Segment::Any { any: v } => {
            !v.is_empty() && v.iter().all(|s| segment_valid(s, stages))
        }
        Segment::Not { not } => segment_valid(not, stages),
        _ => unreachable!("the decoder makes no other segment"),
    }
}

const DAY: i64 = 86_400;

/// A condition evaluated from the profile's public accessors.
fn condition_holds(c: &Condition, state: &CustomerState, now: DateTime<Utc>) -> bool {
    let p = state.profile();
    let secs = now.timestamp();
    let last_order = p.last_order().unwrap_or_else(|| p.first_seen()).timestamp();
    match c {
        Condition::OrdersAtLeast { orders } => p.orders() >= *orders,
        Condition::NetSpendAtLeast { amount } => p.net_spend() >= *amount,
        Condition::DaysSinceLastOrder { days } => secs - last_order >= i64::from(*days) * DAY,
        Condition::DaysSinceLastActivity { days } => {
            // Any activity on any channel, or when first seen.
            use customer_lifecycle::lifecycle::ActivityChannel as A;
            let last = [A::Web, A::Email, A::Purchase, A::Support, A::Survey]
                .into_iter()
                .filter_map(|c| p.last_activity(c))
                .map(|t| t.timestamp())
                .max()
                .unwrap_or_else(|| p.first_seen().timestamp());
            secs - last >= i64::from(*days) * DAY
        }
        Condition::EngagementAtLeast { kind, count, days } => p.engagement(*kind, *days, now) >= *count,
        Condition::NpsAtLeast { score } => p.nps().is_some_and(|(_, s)| s >= *score),
        Condition::NpsAtMost { score } => p.nps().is_some_and(|(_, s)| s <= *score),
        Condition::CadenceOverdue { sigmas, min_gaps, fallback_days } => {
            let (mean, sd, gaps) = p.inter_purchase_days();
            let since = secs - last_order;
            if gaps >= *min_gaps {
                // "Exceeds mean + k·σ days", in seconds.
                since as f64 > (mean + sigmas * sd) * DAY as f64
            } else {
                since >= i64::from(*fallback_days) * DAY
            }
        }
        Condition::All { all } => all.iter().all(|c| condition_holds(c, state, now)),
        Condition::Any { any } => any.iter().any(|c| condition_holds(c, state, now)),
        Condition::Not { not } => !condition_holds(not, state, now),
        _ => unreachable!("refused when compiled"),
    }
}

fn segment_holds(s: &Segment, view: &CustomerView<'_>, now: DateTime<Utc>, model: &StageModel) -> bool {
    match s {
        Segment::Stage { stage } => model.stage_name(view.state.stage()) == stage,
        Segment::RfmSegment { segment } => view.rfm_segment == Some(segment.as_str()),
        Segment::ChurnBand { band } => view.churn_band == Some(*band),
        Segment::ClvAtLeast { value } => view.clv.is_some_and(|c| c >= *value),
        Segment::PAliveBelow { threshold } => view.p_alive.is_some_and(|p| p < *threshold),
        Segment::Profile { condition } => condition_holds(condition, view.state, now),
        Segment::MayContact { channel, purpose } => view.may_contact(channel, purpose, now),
        Segment::All { all } => all.iter().all(|s| segment_holds(s, view, now, model)),
        Segment::Any { any } => any.iter().any(|s| segment_holds(s, view, now, model)),
        Segment::Not { not } => !segment_holds(not, view, now, model),
        _ => unreachable!("the decoder makes no other segment"),
    }
}

/// A few customers, each fed events decoded from the input.
fn customers(b: &mut Bytes<'_>, engine: &Lifecycle, t0: DateTime<Utc>) -> Vec<CustomerState> {
    let eur = |cents: u64| Money::parse(&format!("{}.{:02}", cents / 100, cents % 100), Currency::EUR).unwrap();
    (0..3)
        .map(|c| {
            let me = CustomerId::from(c);
            let mut state = engine.new_customer(me.clone(), t0);
            let mut minutes = 0i64;
            for k in 0..usize::from(b.next() % 12) {
                let (op, step, a) = (b.next(), b.next(), b.next());
                minutes += i64::from(step) * 97;
                let at = t0 + TimeDelta::minutes(minutes);
                let kind = match op % 9 {
                    0 | 1 => EventKind::OrderPlaced {
                        order_id: format!("o{k}"),
                        gross: eur(u64::from(a) * 371),
                        discount: eur(0),
                        items: 1,
                    },
                    2 => EventKind::OrderReturned { order_id: format!("o{}", k.saturating_sub(1)), amount: eur(500) },
                    3 => EventKind::SiteVisit,
                    4 => EventKind::ProductViewed { product_id: "p".into() },
                    5 => EventKind::EmailOpened { campaign: "c".into() },
                    6 => EventKind::NpsAnswered { score: NpsScore::new(a % 11).unwrap() },
                    7 => EventKind::ConsentChanged(ConsentChange::new(
                        [Purpose::Marketing, Purpose::Profiling][usize::from(a % 2)].clone(),
                        [Channel::Email, Channel::Any][usize::from(a / 2 % 2)].clone(),
                        if a / 4 % 2 == 0 { ConsentStatus::Granted } else { ConsentStatus::Withdrawn },
                    )),
                    _ => EventKind::SupportTicket { cost: None },
                };
                let event = Event::new(format!("e{k}"), me.clone(), at, kind).unwrap();
                let _ = engine.apply(&mut state, &event);
            }
            state
        })
        .collect()
}

/// Runs the oracles on one input; panics on a finding.
pub fn check(data: &[u8]) {
    let mut b = Bytes(data);
    let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR)).unwrap();
    let model = engine.model();
    let stages = model.definition().stages.clone();
    let s = segment(&mut b, 0, &stages);

    // Compiles exactly when the rules allow it.
    let valid = depth(&s, segment_children) <= MAX_CONDITION_DEPTH && segment_valid(&s, &stages);
    let compiled = s.compile(model);
    assert_eq!(compiled.is_ok(), valid, "{s:?}: {compiled:?}");
    assert_eq!(s.validate(model).is_ok(), valid);
    let Ok(compiled) = compiled else { return };

    // Saved and loaded, the segment is the same one.
    let again: Segment = serde_json::from_str(&serde_json::to_string(&s).unwrap()).expect("a saved segment reloads");
    assert_eq!(again, s);
    let recompiled = again.compile(model).expect("a reloaded segment compiles");

    let t0 = Utc.with_ymd_and_hms(2024, 3, 30, 22, 0, 0).unwrap();
    let states = customers(&mut b, &engine, t0);
    let views: Vec<CustomerView<'_>> = states
        .iter()
        .map(|state| {
            let mut view = CustomerView::of(state);
            let x = b.next();
            view.rfm_segment = [None, Some("champions"), Some("at_risk")][usize::from(x % 3)];
            view.churn_band = [None, Some(RiskBand::Low), Some(RiskBand::High)][usize::from(x / 3 % 3)];
            view.clv = (x % 5 != 0).then(|| f64::from(b.next()) - 60.0);
            view.p_alive = (x % 7 != 0).then(|| f64::from(b.next()) / 255.0);
            view
        })
        .collect();
    for days in [0, 1, 13, 45, 200] {
        let now = t0 + TimeDelta::days(days) + TimeDelta::hours(i64::from(b.next() % 24));
        let chosen = compiled.select(&views, now);
        for (view, &chosen) in views.iter().zip(&chosen) {
            let expected = segment_holds(&s, view, now, model);
            assert_eq!(compiled.matches(view, now), expected, "{s:?} at {now} for {:?}", view.state.profile());
            assert_eq!(chosen, expected);
            assert_eq!(recompiled.matches(view, now), expected);
        }
    }
}
