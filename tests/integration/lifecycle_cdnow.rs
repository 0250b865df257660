//! The streaming engine against the batch summary and by hand: CDNOW_master
//! replayed event by event gives, for every customer, the summary row the
//! batch `PurchaseSummary` computes (days, continuous weeks, calendar weeks).

use customer_lifecycle::chrono::{NaiveDate, TimeDelta, TimeZone, Utc};
use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageHistory, StageModel};
use customer_lifecycle::{
    Currency, CustomerId, DurationMode, Event, EventKind, Money, Periods, SummaryOptions, TimeUnit, Transaction,
    TransactionLog,
};

const MASTER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/CDNOW_master.txt");

fn order_events(log: &TransactionLog) -> Vec<Event> {
    let mut rows: Vec<Transaction> = log.iter().collect();
    rows.sort_by(|a, b| (&a.customer(), a.at()).cmp(&(&b.customer(), b.at())));
    rows.iter()
        .enumerate()
        .map(|(k, t)| {
            let kind = EventKind::OrderPlaced {
                order_id: format!("o{k}"),
                gross: t.amount(),
                discount: Money::zero(Currency::USD),
                items: 1,
            };
            Event::new(format!("e{k}"), t.customer().clone(), t.at(), kind).unwrap()
        })
        .collect()
}

#[test]
fn streaming_summary_rows_equal_the_batch_summary_on_cdnow_master() {
    let log = TransactionLog::from_cdnow_master_path(MASTER).unwrap();
    let events = order_events(&log);
    let end = NaiveDate::from_ymd_opt(1998, 6, 30).unwrap();
    let end_at = Utc.from_utc_datetime(&end.and_hms_opt(0, 0, 0).unwrap());
    for (unit, mode) in [
        (TimeUnit::Day, DurationMode::Continuous),
        (TimeUnit::Week, DurationMode::Continuous),
        (TimeUnit::Week, DurationMode::Calendar),
    ] {
        let periods = Periods::new(unit, mode).unwrap();
        let engine =
            Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::USD).periods(periods)).unwrap();
        let summary = log.summarize(&SummaryOptions::new(unit).duration_mode(mode).observation_end(end)).unwrap();
        let mut compared = 0;
        let mut k = 0;
        while k < events.len() {
            let customer = events[k].customer().clone();
            let mut state = engine.new_customer(customer.clone(), events[k].at());
            while k < events.len() && *events[k].customer() == customer {
                engine.apply(&mut state, &events[k]).unwrap();
                k += 1;
            }
            engine.advance_to(&mut state, end_at).unwrap();
            let row = state.summary_row().unwrap();
            let batch = summary.get(&customer).unwrap();
            assert_eq!(row.frequency, batch.frequency, "{customer} {unit:?} {mode:?}");
            assert_eq!(row.recency, batch.recency, "{customer}");
            assert_eq!(row.age, batch.age, "{customer}");
            assert_eq!(row.monetary_value, batch.monetary_value, "{customer}");
            assert_eq!(state.profile().orders(), batch.orders);
            compared += 1;
        }
        assert_eq!(compared, 23_570);
    }
}

#[test]
fn stage_history_analytics_by_hand() {
    let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::USD)).unwrap();
    let model = engine.model();
    let day = |d: i64| Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap() + TimeDelta::days(d);
    let order = |c: i64, id: &str, d: i64| {
        Event::new(
            id,
            CustomerId::from(c),
            day(d),
            EventKind::OrderPlaced {
                order_id: id.into(),
                gross: Money::parse("10", Currency::USD).unwrap(),
                discount: Money::zero(Currency::USD),
                items: 1,
            },
        )
        .unwrap()
    };
    let mut history = StageHistory::new(model);
    // Customer 1: orders on days 0 and 10; customer 2: day 5 only; customer 3: never orders.
    let plan: [(i64, &[i64]); 3] = [(1, &[0, 10]), (2, &[5]), (3, &[])];
    for (c, days) in plan {
        let mut state = engine.new_customer(CustomerId::from(c), day(0));
        history.start(CustomerId::from(c), day(0), state.stage()).unwrap();
        for (k, &d) in days.iter().enumerate() {
            let applied = engine.apply(&mut state, &order(c, &format!("{c}-{k}"), d)).unwrap();
            for t in applied.transitions.iter() {
                history.record(&CustomerId::from(c), &t).unwrap();
            }
        }
        for t in engine.advance_to(&mut state, day(200)).unwrap().iter() {
            history.record(&CustomerId::from(c), &t).unwrap();
        }
    }
    let s = |n: &str| usize::from(model.stage(n).unwrap().0);
    // Day 7: 1 new, 2 new, 3 prospect.
    let counts = history.stage_counts(day(7));
    assert_eq!((counts[s("new")], counts[s("prospect")]), (2, 1));
    // Day 150: customer 1 at risk since day 100 (10 + 90), customer 2 at risk since 95; lapsed at 185 and 190.
    let counts = history.stage_counts(day(150));
    assert_eq!(counts[s("at_risk")], 2);
    let m = history.transition_matrix(day(7), day(188)).unwrap();
    assert_eq!(m.counts[[s("new"), s("at_risk")]], 1); // customer 1 (lapses on day 190)
    assert_eq!(m.counts[[s("new"), s("lapsed")]], 1); // customer 2 (lapsed on day 185)
    assert_eq!(m.counts[[s("prospect"), s("prospect")]], 1);
    assert_eq!(m.probabilities[[s("new"), s("lapsed")]], 0.5);
    assert_eq!(m.probabilities.row(s("churned")).sum(), 0.0);
    // Time in stage by day 200: "new" spells of 10 (customer 1: day 0 → 10) and 90 (customer 2: 5 → 95).
    let times = history.time_in_stage(day(200));
    let new = &times[s("new")];
    assert_eq!((new.completed, new.mean_days, new.median_days), (2, Some(50.0), Some(50.0)));
    assert_eq!(times[s("prospect")].ongoing, 1);
    assert_eq!(times[s("lapsed")].ongoing, 2);
    // Funnel: prospect → new → active.
    let funnel = history.funnel(&["prospect", "new", "active"]).unwrap();
    assert_eq!((funnel[0].reached_from, funnel[0].reached_to), (3, 2));
    assert_eq!((funnel[1].reached_from, funnel[1].reached_to), (2, 1));
    assert_eq!(funnel[1].conversion, Some(0.5));
    assert!(history.funnel(&["prospect", "vip"]).is_err());
    assert_eq!(history.entries(model.stage("at_risk").unwrap(), day(0), day(200)), 2);
    // Serde keeps the lookups working.
    let back: StageHistory = serde_json::from_str(&serde_json::to_string(&history).unwrap()).unwrap();
    assert_eq!(back.stage_of(&CustomerId::from(2), day(7)), model.stage("new"));
    assert!(history.transition_matrix(day(9), day(8)).is_err());
}
