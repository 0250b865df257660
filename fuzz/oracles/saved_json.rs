//! Loading saved data from arbitrary JSON, for every type the crate saves.
//! Oracles: no panic; whatever loads saves and loads back to an equal value;
//! a loaded value can be used by the code that reads it, and what that code
//! returns is in range (or a typed error).

use std::sync::OnceLock;

use customer_lifecycle::automation::{
    Action, ControlGroup, CustomerView, Limits, Segment, TriggerCondition, TriggerRule, TriggerState, Triggers,
};
use customer_lifecycle::chrono::{DateTime, TimeDelta, TimeZone, Utc};
use customer_lifecycle::churn::{Features, LearnedChurn};
use customer_lifecycle::clv::{
    BetaGeo, BetaGeoBetaBinom, FitReport, GammaGamma, ParetoNbd, ShiftedBetaGeometric, ValueLedger,
};
use customer_lifecycle::lifecycle::{CustomerState, EngineOptions, Lifecycle, StageModel};
use customer_lifecycle::metrics::{RetentionMode, RfmScores};
use customer_lifecycle::{
    AttributeMerge, Attributes, Channel, CohortAnalysis, ConsentHistory, ConsentLedger, Currency, CustomerId,
    CustomerTable, Event, EventKind, IdentityGraph, MergeStrategy, Money, PartialSummary, PurchaseSummary, Purpose,
};

fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(
    text: &str,
) -> Option<T> {
    let value: T = serde_json::from_str(text).ok()?;
    let again: T = serde_json::from_str(&serde_json::to_string(&value).unwrap()).expect("a saved value reloads");
    assert_eq!(again, value);
    Some(value)
}

/// [`round_trip`] for types without `PartialEq`: equal saved texts.
fn round_trip_saved<T: serde::Serialize + serde::de::DeserializeOwned>(text: &str) -> Option<T> {
    let value: T = serde_json::from_str(text).ok()?;
    let saved = serde_json::to_string(&value).unwrap();
    let again: T = serde_json::from_str(&saved).expect("a saved value reloads");
    assert_eq!(serde_json::to_string(&again).unwrap(), saved);
    Some(value)
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
}

fn engine() -> &'static Lifecycle {
    static ENGINE: OnceLock<Lifecycle> = OnceLock::new();
    ENGINE.get_or_init(|| Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR)).unwrap())
}

fn triggers() -> &'static Triggers {
    static TRIGGERS: OnceLock<Triggers> = OnceLock::new();
    TRIGGERS.get_or_init(|| {
        let welcome = TriggerRule {
            name: "welcome".into(),
            when: TriggerCondition::StageEntered { stage: "new".into() },
            action: Action {
                id: "mail".into(),
                channel: Channel::Email,
                purpose: Purpose::Marketing,
                payload: "".into(),
            },
            once_per_customer: true,
        };
        Triggers::new(vec![welcome], Limits::default(), engine().model()).unwrap()
    })
}

fn order(customer: &CustomerId, at: DateTime<Utc>) -> Event {
    let eur = |s: &str| Money::parse(s, Currency::EUR).unwrap();
    let kind = EventKind::OrderPlaced { order_id: "o-fuzz".into(), gross: eur("20.00"), discount: eur("0"), items: 1 };
    Event::new("e-fuzz", customer.clone(), at, kind).unwrap()
}

/// A state the engine accepted is one it can move on: ticks and an order
/// either work or fail with a typed error, leaving the state as it was.
fn drive(engine: &Lifecycle, mut state: CustomerState) {
    let before = serde_json::to_string(&state).unwrap();
    let later = state.clock() + TimeDelta::days(400);
    match engine.advance_to(&mut state, later) {
        Ok(_) => {
            let customer = state.customer().clone();
            let _ = engine.apply(&mut state, &order(&customer, later));
        }
        Err(_) => assert_eq!(serde_json::to_string(&state).unwrap(), before, "a failed tick changed the state"),
    }
}

fn in_unit_interval(p: f64) -> bool {
    (0.0..=1.0).contains(&p)
}

/// Runs the oracles on one input; panics on a finding.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };

    // Batch results.
    if let Some(summary) = round_trip::<PurchaseSummary>(text) {
        let model = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259).unwrap();
        if let Ok(alive) = model.probability_alive_all(&summary) {
            assert_eq!(alive.ids(), summary.ids());
            assert!(alive.column("p_alive").unwrap().iter().all(|&p| in_unit_interval(p)));
        }
        let _ = GammaGamma::new(6.25, 3.74, 15.44).unwrap().conditional_expected_spend_all(&summary);
        if let Ok(rfm) = RfmScores::compute(&summary, &Default::default()) {
            assert_eq!(rfm.len(), summary.len());
        }
    }
    if let Some(partial) = round_trip_saved::<PartialSummary>(text) {
        if let Ok(summary) = partial.finish() {
            assert_eq!(summary.len(), partial.len());
        }
        let mut twice = partial.clone();
        let _ = twice.merge(&partial);
    }
    if let Some(table) = round_trip::<CustomerTable>(text) {
        // A loaded table is one the code could build: every column one of
        // numbers (finite where not blank), dates or labels, one value per
        // customer; it writes as CSV, and a join with itself keeps it.
        for name in table.names() {
            let numbers = table.optional_column(name).map(|c| {
                assert!(c.iter().flatten().all(|v| v.is_finite()));
                c.len()
            });
            let dates = table.dates(name).map(|c| c.len());
            let labels = table.labels(name).map(|c| c.len());
            match (numbers, dates, labels) {
                (Some(n), None, None) | (None, Some(n), None) | (None, None, Some(n)) => assert_eq!(n, table.len()),
                other => panic!("column {name:?} is not of exactly one kind: {other:?}"),
            }
        }
        if let Ok(matrix) = table.to_matrix() {
            assert_eq!(matrix.nrows(), table.len());
        }
        let mut csv = Vec::new();
        table.write_csv(&mut csv).unwrap();
        assert!(csv.iter().filter(|b| **b == b'\n').count() > table.len()); // a header and a line per customer
        if let Ok(copy) = CustomerTable::new(table.ids().to_vec()).join(&table) {
            assert_eq!(copy, table);
        }
    }
    if let Some(cohorts) = round_trip::<CohortAnalysis>(text) {
        for mode in [RetentionMode::OnPeriod, RetentionMode::Rolling] {
            let retention = cohorts.retention(mode);
            let complete = cohorts.complete_mask();
            for ((r, n), &v) in retention.indexed_iter() {
                if complete[[r, n]] {
                    assert!(in_unit_interval(v), "retention {v} at ({r}, {n})");
                }
            }
            let _ = cohorts.average_retention(mode);
        }
        let _ = cohorts.cumulative_revenue_per_customer();
    }
    if let Some(rfm) = round_trip::<RfmScores>(text) {
        for k in 0..rfm.len() {
            let (r, f, m) = rfm.scores(k);
            let bins = rfm.options().bin_count();
            assert!([r, f, m].iter().all(|s| (1..=bins).contains(s)));
            assert!(rfm.weighted_score(k).is_finite());
        }
        let _ = rfm.table();
    }
    if let Some(features) = round_trip::<Features>(text) {
        assert_eq!(features.matrix().nrows(), features.len());
        assert_eq!(features.matrix().ncols(), features.names().len());
        assert!(features.matrix().iter().all(|v| v.is_finite()));
    }
    if let Some(model) = round_trip::<LearnedChurn>(text) {
        let cdnow = || {
            static SUMMARY: OnceLock<PurchaseSummary> = OnceLock::new();
            SUMMARY.get_or_init(|| {
                let log = customer_lifecycle::TransactionLog::cdnow_sample().unwrap();
                log.summarize(&customer_lifecycle::SummaryOptions::new(customer_lifecycle::TimeUnit::Week)).unwrap()
            })
        };
        let features = Features::from_summary(cdnow(), |_| false);
        if let Ok(scores) = model.score(&features) {
            assert!(scores.iter().flatten().all(|&p| in_unit_interval(p)));
        }
        let _ = model.explain(features.matrix().row(0), 3);
    }
    if let Some(ledger) = round_trip::<ValueLedger>(text) {
        let _ = ledger.historic_clv(0.4);
    }

    // Models.
    if let Some(model) = round_trip::<BetaGeo>(text) {
        if let Ok(p) = model.probability_alive(2.0, 10.0, 30.0) {
            assert!(in_unit_interval(p));
        }
        if let Ok(e) = model.conditional_expected_purchases(52.0, 2.0, 10.0, 30.0) {
            assert!(e.is_finite() && e >= 0.0);
        }
    }
    if let Some(model) = round_trip::<ParetoNbd>(text) {
        if let Ok(p) = model.probability_alive(1.0, 1.0, 2.0) {
            assert!(in_unit_interval(p));
        }
    }
    if let Some(model) = round_trip::<BetaGeoBetaBinom>(text) {
        if let Ok(p) = model.probability_alive(2.0, 4.0, 6.0) {
            assert!(in_unit_interval(p));
        }
    }
    if let Some(model) = round_trip::<GammaGamma>(text) {
        if let Ok(m) = model.conditional_expected_spend(3.0, 25.0) {
            assert!(m.is_finite() && m > 0.0);
        }
    }
    if let Some(model) = round_trip::<ShiftedBetaGeometric>(text) {
        if let Ok(s) = model.survival(12.0) {
            assert!(in_unit_interval(s));
        }
    }
    if let Some(report) = round_trip::<FitReport>(text) {
        let _ = report.to_string();
    }

    // The streaming side.
    if let Some(state) = round_trip::<CustomerState>(text) {
        drive(engine(), state);
    }
    if let Some(options) = round_trip::<EngineOptions>(text) {
        if let Ok(engine) = Lifecycle::new(StageModel::ecommerce(), options) {
            drive(&engine, engine.new_customer(CustomerId::from(1), t0()));
        }
    }
    if let Some(model) = round_trip::<StageModel>(text) {
        if let Ok(engine) = Lifecycle::new(model, EngineOptions::new(Currency::EUR)) {
            let state = engine.new_customer(CustomerId::from(1), t0());
            let _ = engine.next_due(&state);
            drive(&engine, state);
        }
    }
    if let Some(segment) = round_trip::<Segment>(text) {
        if let Ok(compiled) = segment.compile(engine().model()) {
            let state = engine().new_customer(CustomerId::from(1), t0());
            let _ = compiled.matches(&CustomerView::of(&state), t0());
        }
    }
    if let Some(loaded) = round_trip::<Triggers>(text) {
        let mut memory = loaded.new_state();
        let state = engine().new_customer(CustomerId::from(1), t0());
        let _ = loaded.on_tick(&mut memory, &CustomerView::of(&state), t0() + TimeDelta::days(3), std::iter::empty());
    }
    if let Some(mut memory) = round_trip::<TriggerState>(text) {
        // A memory of another rule set starts afresh; one of this set is used.
        let state = engine().new_customer(CustomerId::from(1), t0());
        let mut s = state.clone();
        let event = order(state.customer(), t0() + TimeDelta::hours(1));
        if let Ok(applied) = engine().apply(&mut s, &event) {
            let _ = triggers().on_event(&mut memory, &CustomerView::of(&s), &applied, &event);
        }
        let _ = triggers().next_due(&memory, &CustomerView::of(&s));
    }
    if let Some(ledger) = round_trip::<ConsentLedger>(text) {
        let _ = ledger.len();
        for id in [CustomerId::from(1), CustomerId::from("1")] {
            let _ = ledger.may_contact(&id, &Channel::Email, &Purpose::Marketing, t0());
        }
    }
    if let Some(history) = round_trip::<ConsentHistory>(text) {
        // Loaded histories are in time order: the latest decision answers.
        let records = history.records();
        assert!(records.windows(2).all(|w| w[0].at <= w[1].at));
        let _ = history.objected_to_profiling(t0());
        // Plain or merged, a decision is one of the records, made by then,
        // for that purpose and a channel covering the one asked; contact
        // is allowed exactly when it permits.
        let mut instants: Vec<DateTime<Utc>> = records.iter().map(|r| r.at).collect();
        instants.push(t0());
        for &at in instants.iter().take(16) {
            for channel in [Channel::Email, Channel::Sms] {
                let decision = history.decision(&channel, &Purpose::Marketing, at);
                if let Some(d) = decision {
                    assert!(records.contains(d) && d.at <= at && d.change.channel.covers(&channel));
                    assert_eq!(d.change.purpose, Purpose::Marketing);
                }
                assert_eq!(
                    history.may_contact(&channel, &Purpose::Marketing, at),
                    decision.is_some_and(|d| d.permits(at))
                );
            }
        }
        // It merges with itself (within the limit of ids) and saves again.
        let mut twice = history.clone();
        if twice.merge(&history, t0()).is_ok() {
            assert_eq!(twice.records().len(), 2 * records.len());
            let again: ConsentHistory = serde_json::from_str(&serde_json::to_string(&twice).unwrap()).unwrap();
            assert_eq!(again, twice);
        }
    }
    if let Some(graph) = round_trip::<IdentityGraph>(text) {
        // Every identifier belongs to a person named by one of their own,
        // the smallest; no more people than identifiers.
        assert!(graph.people() <= graph.len());
        for link in graph.links().iter().take(64) {
            let canonical = graph.canonical(&link.a).expect("a linked identifier is known").clone();
            assert_eq!(graph.canonical(&link.b), Some(&canonical));
            let members = graph.identifiers_of(&link.a);
            assert_eq!(members.first(), Some(&canonical));
            assert!(members.contains(&link.b));
        }
    }
    if let Some(attributes) = round_trip::<Attributes>(text) {
        // Merging a person's attributes with themselves changes nothing,
        // by every strategy but a sum.
        for strategy in [MergeStrategy::MostRecent, MergeStrategy::Oldest, MergeStrategy::NonEmpty] {
            assert_eq!(AttributeMerge::new(strategy).merge(&attributes, &attributes).unwrap(), attributes);
        }
        let _ = AttributeMerge::new(MergeStrategy::Union).merge(&attributes, &attributes);
    }
    if let Some(group) = round_trip::<ControlGroup>(text) {
        let _ = group.is_control(&CustomerId::from(7));
    }
    if let Some(event) = round_trip::<Event>(text) {
        let mut state = engine().new_customer(event.customer().clone(), t0());
        let _ = engine().apply(&mut state, &event);
    }
}
