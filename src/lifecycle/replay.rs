//! A whole transaction log through the stage engine, customer by customer.

use chrono::{DateTime, Utc};

use super::analytics::StageHistory;
use super::engine::{Lifecycle, Transition};
use super::profile::{PROFILE_SCALE, profile_units_of_minor};
use crate::domain::customer::DenseId;
use crate::domain::event::EventClass;
use crate::error::{Error, Result};
use crate::log::transactions::{CUSTOMERS_PER_BLOCK, LogBlock};
use crate::log::{TransactionKind, TransactionLog};
use crate::math::parallel::map_in_runs;

impl Lifecycle {
    /// Every customer of `log` through the engine, into a [`StageHistory`]:
    /// each customer starts at their first row, takes their orders and
    /// returns in time order (rows at the same instant in the log's order),
    /// and is then advanced to `until`, so the history holds every
    /// transition up to then.
    ///
    /// The history equals the one built by calling
    /// [`Lifecycle::new_customer`], [`Lifecycle::apply`] for each row (as an
    /// order or a return event) and [`Lifecycle::advance_to`], recording
    /// every transition with [`StageHistory::start`] and
    /// [`StageHistory::record`] — but customers are replayed one at a time
    /// from the log's storage, with no event built, no state kept per
    /// customer, no allocation per row, and the work spread over
    /// `threads` threads (customers are independent; the result does not
    /// depend on the number).
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Money, Transaction, TransactionLog};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageModel};
    /// let day = |m, d| Utc.with_ymd_and_hms(2024, m, d, 12, 0, 0).unwrap();
    /// let mut log = TransactionLog::new(Currency::EUR);
    /// for (who, m, d) in [("ana", 1, 5), ("ana", 2, 1), ("bo", 3, 3)] {
    ///     log.push(Transaction::order(CustomerId::from(who), day(m, d), Money::parse("20", Currency::EUR)?))?;
    /// }
    /// let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR))?;
    /// let history = engine.replay_log(&log, day(12, 31), 1)?;
    /// assert_eq!(history.len(), 2);
    /// let stage = |who, at| history.stage_of(&CustomerId::from(who), at).map(|s| engine.model().stage_name(s));
    /// assert_eq!(stage("ana", day(2, 2)), Some("active")); // a second order
    /// assert_eq!(stage("bo", day(3, 4)), Some("new"));
    /// assert_eq!(stage("bo", day(12, 31)), Some("lapsed")); // 180 days without an order
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::MixedCurrency`] when the log's currency is not the
    /// engine's; [`Error::ClockBehind`] when a customer has a row after
    /// `until`; [`Error::InvalidAmount`] for an amount with more than
    /// [`PROFILE_SCALE`] decimals or too large for the profile; a cycle of
    /// the model's state rules. Nothing is returned on an error.
    pub fn replay_log(&self, log: &TransactionLog, until: DateTime<Utc>, threads: usize) -> Result<StageHistory> {
        let currency = self.options().currency();
        if log.currency() != currency {
            return Err(Error::MixedCurrency { expected: currency.to_string(), found: log.currency().to_string() });
        }
        let blocks: Vec<_> = log.blocks().collect();
        // Contiguous runs of blocks per thread, so the parts come back in
        // block order and the history does not depend on `threads`.
        let parts = map_in_runs(&blocks, threads, |block| self.replay_block(log, block, until.timestamp()));
        let mut history = StageHistory::with_capacity(self.model(), log.customers().len());
        for part in parts {
            for r in part? {
                let id = log.customers().id(r.dense).cloned().ok_or_else(|| Error::InvalidArgument {
                    name: "transaction log",
                    reason: format!("dense id {} has no customer", r.dense.0),
                })?;
                let start = DateTime::from_timestamp(r.start, 0).unwrap_or_default();
                history.push_timeline(id, start, r.initial, r.transitions)?;
            }
        }
        Ok(history)
    }

    /// The customers of one block of the log, in dense-id order.
    fn replay_block(&self, log: &TransactionLog, block: &LogBlock<'_>, until: i64) -> Result<Vec<Replayed>> {
        let scale = log.scale();
        let first_customer = block.first_customer();
        // Rows grouped by customer (a counting sort, stable: each customer's
        // rows keep the log's order), then each customer's put in time order.
        let mut starts = vec![0u32; CUSTOMERS_PER_BLOCK + 1];
        for row in block.rows() {
            starts[row.local + 1] += 1;
        }
        for k in 1..starts.len() {
            starts[k] += starts[k - 1];
        }
        let mut next = starts.clone();
        let mut rows = vec![(0i64, EventClass::Order, 0i64); block.len()];
        for row in block.rows() {
            let slot = &mut next[row.local];
            let class = match row.kind {
                TransactionKind::Order => EventClass::Order,
                TransactionKind::Return => EventClass::Return,
            };
            rows[*slot as usize] = (row.at, class, row.amount);
            *slot += 1;
        }
        let mut out = Vec::new();
        for local in 0..CUSTOMERS_PER_BLOCK {
            let mine = &mut rows[starts[local] as usize..starts[local + 1] as usize];
            if mine.is_empty() {
                continue;
            }
            if !mine.is_sorted_by_key(|r| r.0) {
                mine.sort_by_key(|r| r.0);
            }
            let dense = DenseId((first_customer + local) as u32);
            let (first, last) = (mine[0].0, mine[mine.len() - 1].0);
            let customer = || log.customers().id(dense).map_or_else(|| format!("#{}", dense.0), ToString::to_string);
            if last > until {
                return Err(Error::ClockBehind {
                    customer: customer(),
                    requested: DateTime::from_timestamp(until, 0).unwrap_or_default(),
                    clock: DateTime::from_timestamp(last, 0).unwrap_or_default(),
                });
            }
            // The log's minor units as the profile's, before anything is replayed.
            for row in mine.iter_mut() {
                row.2 = profile_units_of_minor(row.2, scale).ok_or_else(|| Error::InvalidAmount {
                    field: "transaction amount",
                    value: format!("{}e-{scale}", row.2),
                    customer: Some(customer()),
                    reason: format!("more than {PROFILE_SCALE} decimal places, or too large for the profile"),
                })?;
            }
            let mut transitions = Vec::new();
            let initial =
                self.replay_rows(first, mine.iter().copied(), until, &mut |t: Transition| transitions.push(t))?;
            out.push(Replayed { dense, start: first, initial, transitions });
        }
        Ok(out)
    }
}

/// One customer's replayed timeline, before its id is attached.
struct Replayed {
    dense: DenseId,
    start: i64,
    initial: super::stages::StageId,
    transitions: Vec<Transition>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::customer::CustomerId;
    use crate::domain::event::{Event, EventKind};
    use crate::domain::money::{Currency, Money};
    use crate::lifecycle::{EngineOptions, StageModel};
    use crate::log::Transaction;
    use crate::math::hash::{HASH_SEED, stable_hash};
    use chrono::{TimeDelta, TimeZone};
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2023, 1, 1, 0, 0, 0).unwrap()
    }

    /// Shop-like rows: e-mail ids, customers joining up to the last day,
    /// several orders on one day (one instant), returns, cents.
    fn shop_rows(seed: u64, customers: usize) -> Vec<(String, DateTime<Utc>, bool, Money)> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut rows = Vec::new();
        for c in 0..customers {
            let id = format!("buyer{c}@example.com");
            let mut day = rng.random_range(0..700i64);
            for _ in 0..rng.random_range(1..8) {
                let at = t0() + TimeDelta::days(day) + TimeDelta::hours(if rng.random_bool(0.5) { 0 } else { 13 });
                let cents: i64 = rng.random_range(0..20_000);
                let amount = Money::new(rust_decimal::Decimal::new(cents, 2), Currency::EUR);
                let is_return = rng.random_bool(0.1);
                rows.push((id.clone(), at, is_return, amount));
                if rng.random_bool(0.2) {
                    rows.push((id.clone(), at, false, amount)); // a second order at the same instant
                }
                day += rng.random_range(0..200);
            }
        }
        rows
    }

    /// The history the event-by-event route builds: `new_customer`, `apply`
    /// each row as an event, `advance_to`, recording every transition. Ties
    /// at one instant are applied in the order the engine sorts them (the
    /// hash of the event id), so nothing is restated; the log gets its rows
    /// in that order too.
    fn by_events(
        engine: &Lifecycle,
        rows: &[(String, DateTime<Utc>, bool, Money)],
        until: DateTime<Utc>,
    ) -> (TransactionLog, StageHistory) {
        let mut events: Vec<(usize, Event)> = rows
            .iter()
            .enumerate()
            .map(|(k, (id, at, is_return, amount))| {
                let kind = if *is_return {
                    EventKind::OrderReturned { order_id: format!("o{k}"), amount: *amount }
                } else {
                    EventKind::OrderPlaced {
                        order_id: format!("o{k}"),
                        gross: *amount,
                        discount: Money::zero(Currency::EUR),
                        items: 1,
                    }
                };
                (k, Event::new(format!("e{k}"), CustomerId::from(id.as_str()), *at, kind).unwrap())
            })
            .collect();
        // Customers in order of first appearance (the log's dense ids), each one's events in engine order.
        let first_seen: std::collections::HashMap<&str, usize> =
            rows.iter().enumerate().rev().map(|(k, r)| (r.0.as_str(), k)).collect();
        events.sort_by_key(|(k, e)| {
            (first_seen[rows[*k].0.as_str()], e.at(), stable_hash(e.id().0.as_bytes(), HASH_SEED))
        });
        let mut log = TransactionLog::new(Currency::EUR);
        let mut history = StageHistory::new(engine.model());
        let mut state: Option<super::super::CustomerState> = None;
        let finish = |state: Option<super::super::CustomerState>, history: &mut StageHistory| {
            if let Some(mut s) = state {
                for t in engine.advance_to(&mut s, until).unwrap().iter() {
                    history.record(s.customer(), &t).unwrap();
                }
            }
        };
        for (k, e) in &events {
            let (id, at, is_return, amount) = &rows[*k];
            let customer = CustomerId::from(id.as_str());
            let t = if *is_return {
                Transaction::refund(customer.clone(), *at, *amount)
            } else {
                Transaction::order(customer.clone(), *at, *amount)
            };
            log.push(t).unwrap();
            if state.as_ref().is_none_or(|s| s.customer() != &customer) {
                finish(state.take(), &mut history);
                let s = engine.new_customer(customer.clone(), *at);
                history.start(customer, *at, s.stage()).unwrap();
                state = Some(s);
            }
            let s = state.as_mut().unwrap();
            let applied = engine.apply(s, e).unwrap();
            assert!(!applied.restated && !applied.duplicate);
            for t in applied.transitions.iter() {
                history.record(s.customer(), &t).unwrap();
            }
        }
        finish(state, &mut history);
        (log, history)
    }

    #[test]
    fn the_replay_equals_the_event_route_on_every_core_count() {
        let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR)).unwrap();
        let until = t0() + TimeDelta::days(2200);
        // 9,000 customers: two blocks of the log.
        let rows = shop_rows(7, 9_000);
        let (log, expected) = by_events(&engine, &rows, until);
        let replayed = engine.replay_log(&log, until, 1).unwrap();
        assert_eq!(replayed.len(), 9_000);
        assert_eq!(replayed, expected);
        assert_eq!(engine.replay_log(&log, until, 3).unwrap(), expected);
        let at = t0() + TimeDelta::days(400);
        assert_eq!(replayed.stage_counts(at), expected.stage_counts(at));
        assert!(replayed.stage_counts(at).iter().filter(|&&c| c > 0).count() >= 3, "several stages reached");
    }

    #[test]
    fn a_cadence_ladder_replays_alike() {
        let model = crate::lifecycle::EcommerceLadder::default()
            .loyal(4, 150.into())
            .inactivity(crate::lifecycle::Inactivity::Cadence {
                at_risk_sigmas: 1.0,
                lapsed_sigmas: 2.0,
                at_risk_days: 60,
                lapsed_days: 120,
                churned_days: 300,
            })
            .build()
            .unwrap();
        let engine = Lifecycle::new(model, EngineOptions::new(Currency::EUR)).unwrap();
        let until = t0() + TimeDelta::days(2200);
        let rows = shop_rows(11, 500);
        let (log, expected) = by_events(&engine, &rows, until);
        assert_eq!(engine.replay_log(&log, until, 2).unwrap(), expected);
    }

    #[test]
    fn bad_replays_are_typed_and_name_the_customer() {
        let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR)).unwrap();
        let mut log = TransactionLog::new(Currency::EUR);
        let late = t0() + TimeDelta::days(30);
        log.push(Transaction::order(
            CustomerId::from("ana@example.com"),
            late,
            Money::parse("5", Currency::EUR).unwrap(),
        ))
        .unwrap();
        match engine.replay_log(&log, t0(), 1) {
            Err(Error::ClockBehind { customer, .. }) => assert_eq!(customer, "ana@example.com"),
            other => panic!("{other:?}"),
        }
        let fine = Transaction::order(CustomerId::from("bo"), t0(), Money::parse("0.00001", Currency::EUR).unwrap());
        log.push(fine).unwrap();
        match engine.replay_log(&log, late, 2) {
            Err(Error::InvalidAmount { customer, .. }) => assert_eq!(customer.as_deref(), Some("bo")),
            other => panic!("{other:?}"),
        }
        let usd = TransactionLog::new(Currency::USD);
        assert!(matches!(engine.replay_log(&usd, late, 1), Err(Error::MixedCurrency { .. })));
        assert!(engine.replay_log(&TransactionLog::new(Currency::EUR), late, 4).unwrap().is_empty());
    }

    #[test]
    fn units_convert_exactly_or_not_at_all() {
        assert_eq!(profile_units_of_minor(1234, 2), Some(123_400));
        assert_eq!(profile_units_of_minor(1234, 4), Some(1234));
        assert_eq!(profile_units_of_minor(123_400, 6), Some(1234));
        assert_eq!(profile_units_of_minor(123_401, 6), None);
        assert_eq!(profile_units_of_minor(i64::MAX / 10, 0), None);
    }
}
