//! Time-varying covariates from arbitrary bytes: the first byte picks the
//! period length (1 to 14 days), the rest is read as the long table
//! `customer_id,period_start,<columns>`. Oracles: no panic; a table that
//! loads holds every data line's values at its period (looked up on the
//! period's first and last day), one customer per distinct id and nothing
//! before a customer's first period; and on a log built from the table —
//! each customer buying on their first period's first day and, when it is
//! not later than the end, on the day the earliest-ending customer's
//! periods end — the history loads, and the model with effects on the
//! first column gives a log-likelihood that is finite or a typed error,
//! and P(alive) in [0, 1] or a typed error naming a customer.

use std::collections::BTreeMap;

use customer_lifecycle::chrono::{Duration, NaiveDate, TimeZone, Utc};
use customer_lifecycle::clv::{ParetoNbd, ParetoNbdTimeVarying, TimeVaryingCovariates, TimeVaryingHistory};
use customer_lifecycle::{
    Currency, CustomerId, Error, IdKind, Money, SummaryOptions, TimeUnit, Transaction, TransactionLog,
};

/// Runs the oracles on one input; panics on a finding.
pub fn check(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else { return };
    let period_days = u32::from(first % 14) + 1;
    let Ok(table) = TimeVaryingCovariates::from_csv_reader(rest, IdKind::Text, period_days) else { return };
    // Compare with a plain reading of simple inputs (no quotes, UTF-8).
    let Ok(text) = std::str::from_utf8(rest) else { return };
    if text.contains('"') {
        return;
    }
    let mut lines = text.split(['\n', '\r']).filter(|l| !l.is_empty());
    let Some(header) = lines.next() else { return };
    let names: Vec<&str> = header.split(',').skip(2).map(str::trim).collect();
    assert_eq!(table.names(), names.as_slice());
    // Per customer: (first period start, last period start).
    let mut spans: BTreeMap<CustomerId, (NaiveDate, NaiveDate)> = BTreeMap::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let id = IdKind::Text.parse(f[0]).expect("an id the table read");
        let start = NaiveDate::parse_from_str(f[1], "%Y-%m-%d").expect("a date the table read");
        let last = start + Duration::days(i64::from(period_days) - 1);
        for (name, value) in names.iter().zip(&f[2..]) {
            let value: f64 = value.parse().expect("a number the table read");
            for day in [start, last] {
                assert_eq!(table.value(&id, day, name), Some(value), "{id} {day} {name}");
            }
        }
        let span = spans.entry(id).or_insert((start, start));
        span.0 = span.0.min(start);
        span.1 = span.1.max(start);
    }
    assert_eq!(table.len(), spans.len());
    for (id, (from, _)) in &spans {
        if let Some(before) = from.pred_opt() {
            assert_eq!(table.value(id, before, names[0]), None, "{id} before {from}");
        }
    }
    if spans.len() > 40 {
        return;
    }
    // A log on the table: the history must load; the model's answers are
    // numbers or typed errors.
    let end = spans.values().map(|(_, last)| *last + Duration::days(i64::from(period_days) - 1)).min();
    let Some(end) = end else { return };
    let mut log = TransactionLog::new(Currency::EUR);
    let order = Money::parse("10", Currency::EUR).expect("an amount");
    let noon = |d: NaiveDate| Utc.from_utc_datetime(&d.and_hms_opt(12, 0, 0).expect("noon"));
    let mut buyers = 0;
    for (id, (from, _)) in &spans {
        if *from > end {
            continue;
        }
        buyers += 1;
        log.push(Transaction::order(id.clone(), noon(*from), order)).expect("an order");
        if end > *from {
            log.push(Transaction::order(id.clone(), noon(end), order)).expect("an order");
        }
    }
    if buyers == 0 {
        return;
    }
    let options = SummaryOptions::new(TimeUnit::Day).observation_end(end);
    let buyers_table: Vec<CustomerId> =
        spans.iter().filter(|(_, (f, _))| *f <= end).map(|(id, _)| id.clone()).collect();
    let history = TimeVaryingHistory::new(&log, &options, &table).expect("periods that cover every history");
    assert_eq!(history.ids(), buyers_table);
    let base = ParetoNbd::new(0.5, 30.0, 0.6, 40.0).expect("a model");
    let model = ParetoNbdTimeVarying::new(&base, vec![(names[0].to_string(), 0.3)], vec![(names[0].to_string(), -0.2)])
        .expect("a model");
    match model.log_likelihood(&history) {
        Ok(ll) => assert!(ll.is_finite()),
        Err(e) => assert!(matches!(e, Error::NonFinite { .. }), "{e}"),
    }
    match model.probability_alive_all(&history) {
        Ok(alive) => {
            let column = alive.column("p_alive").expect("the column");
            assert!(column.iter().all(|p| (0.0..=1.0).contains(p)), "{column:?}");
        }
        Err(e) => assert!(matches!(e, Error::InvalidModelInput { customer: Some(_), .. }), "{e}"),
    }
}
