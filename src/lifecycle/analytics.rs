//! Stage analytics over a population's transitions.

use std::hash::BuildHasher;

use hashbrown::HashTable;

use chrono::{DateTime, Utc};
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use super::engine::{Applied, Transition};
use super::stages::{StageId, StageModel};
use crate::domain::customer::CustomerId;
use crate::domain::event::Event;
use crate::error::{Error, Result};

/// One customer's stage history.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
struct Timeline {
    customer: CustomerId,
    start: DateTime<Utc>,
    initial: StageId,
    transitions: Vec<Transition>,
}

impl Timeline {
    /// The stage at `at` (`None` before the customer existed).
    fn stage_at(&self, at: DateTime<Utc>) -> Option<StageId> {
        if at < self.start {
            return None;
        }
        let k = self.transitions.partition_point(|t| t.at <= at);
        Some(if k == 0 { self.initial } else { self.transitions[k - 1].to })
    }

    /// Spells: (stage, entered, left or None while ongoing).
    fn spells(&self) -> impl Iterator<Item = (StageId, DateTime<Utc>, Option<DateTime<Utc>>)> + '_ {
        let entries = std::iter::once((self.initial, self.start)).chain(self.transitions.iter().map(|t| (t.to, t.at)));
        let exits = self.transitions.iter().map(|t| Some(t.at)).chain(std::iter::once(None));
        entries.zip(exits).map(|((stage, from), to)| (stage, from, to))
    }
}

/// The stage histories of a population, recorded from the engine's
/// transitions, and the analytics over them.
///
/// ```
/// use customer_lifecycle::CustomerId;
/// use customer_lifecycle::lifecycle::{StageHistory, StageModel, Transition, RuleId};
/// use customer_lifecycle::chrono::{TimeZone, Utc};
///
/// let model = StageModel::five_phase();
/// let s = |n| model.stage(n).unwrap();
/// let day = |d| Utc.with_ymd_and_hms(2024, 1, d, 0, 0, 0).unwrap();
/// let mut history = StageHistory::new(&model);
/// history.start(CustomerId::from(1), day(1), s("interest"))?;
/// history.record(&CustomerId::from(1), &Transition { from: s("interest"), to: s("new_customer"), at: day(5), rule: RuleId(0) })?;
/// history.start(CustomerId::from(2), day(2), s("interest"))?;
/// let counts = history.stage_counts(day(10));
/// assert_eq!(counts[usize::from(s("interest").0)], 1);
/// assert_eq!(counts[usize::from(s("new_customer").0)], 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(into = "HistoryData", try_from = "HistoryData")]
pub struct StageHistory {
    stages: Vec<String>,
    timelines: Vec<Timeline>,
    index: TimelineIndex,
}

impl PartialEq for StageHistory {
    /// The stages and the timelines (the index follows from them).
    fn eq(&self, other: &StageHistory) -> bool {
        self.stages == other.stages && self.timelines == other.timelines
    }
}

/// Where each customer's timeline is: a table of positions in the
/// timelines, hashed by the customer id stored there (no second copy of
/// the id), with foldhash seeded at random per history (customer ids come
/// from outside, so they must not be able to force collisions).
#[derive(Clone, Default)]
struct TimelineIndex {
    table: HashTable<usize>,
    hasher: foldhash::fast::RandomState,
}

impl std::fmt::Debug for TimelineIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TimelineIndex({} customers)", self.table.len())
    }
}

impl TimelineIndex {
    fn with_capacity(n: usize) -> TimelineIndex {
        TimelineIndex { table: HashTable::with_capacity(n), hasher: Default::default() }
    }

    fn find(&self, timelines: &[Timeline], customer: &CustomerId) -> Option<usize> {
        self.table.find(self.hasher.hash_one(customer), |&k| timelines[k].customer == *customer).copied()
    }

    /// Indexes `timelines[k]`, unless its customer is indexed already (`false`).
    fn insert(&mut self, timelines: &[Timeline], k: usize) -> bool {
        let TimelineIndex { table, hasher } = self;
        let customer = &timelines[k].customer;
        match table.entry(
            hasher.hash_one(customer),
            |&j| timelines[j].customer == *customer,
            |&j| hasher.hash_one(&timelines[j].customer),
        ) {
            hashbrown::hash_table::Entry::Occupied(_) => false,
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(k);
                true
            }
        }
    }

    /// Forgets `customer`; their position, if indexed.
    fn remove(&mut self, timelines: &[Timeline], customer: &CustomerId) -> Option<usize> {
        let entry = self.table.find_entry(self.hasher.hash_one(customer), |&k| timelines[k].customer == *customer);
        entry.ok().map(|e| e.remove().0)
    }
}

/// The serialised form of a [`StageHistory`] (the index is rebuilt on load).
#[derive(Clone, Serialize, Deserialize)]
struct HistoryData {
    stages: Vec<String>,
    timelines: Vec<Timeline>,
}

impl From<StageHistory> for HistoryData {
    fn from(h: StageHistory) -> HistoryData {
        HistoryData { stages: h.stages, timelines: h.timelines }
    }
}

impl TryFrom<HistoryData> for StageHistory {
    type Error = Error;

    /// A loaded history is one `start` and `record` could have built: each
    /// customer once, every stage one of the history's, transitions in time
    /// order (the queries bisect them and index counts by stage).
    fn try_from(d: HistoryData) -> Result<StageHistory> {
        let bad = |reason: String| Error::InvalidArgument { name: "saved stage history", reason };
        let stages = d.stages.len();
        let mut index = TimelineIndex::with_capacity(d.timelines.len());
        for (k, t) in d.timelines.iter().enumerate() {
            if !index.insert(&d.timelines, k) {
                return Err(bad(format!("customer {} appears twice", t.customer)));
            }
            let ids = std::iter::once(t.initial).chain(t.transitions.iter().flat_map(|x| [x.from, x.to]));
            if let Some(s) = ids.into_iter().find(|s| usize::from(s.0) >= stages) {
                return Err(bad(format!("stage {} of customer {} outside the {stages} stages", s.0, t.customer)));
            }
            if !t.transitions.windows(2).all(|w| w[0].at <= w[1].at) {
                return Err(bad(format!("the transitions of customer {} are not in time order", t.customer)));
            }
        }
        Ok(StageHistory { stages: d.stages, timelines: d.timelines, index })
    }
}

/// Counts and row-normalised probabilities of moving from each stage (rows)
/// at one date to each stage (columns) at a later one.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct TransitionMatrix {
    /// The stage names (row and column labels).
    pub stages: Vec<String>,
    /// Customers in stage `i` at the first date and `j` at the second.
    pub counts: Array2<u64>,
    /// `counts` divided by row sums (rows without customers are all 0).
    pub probabilities: Array2<f64>,
}

/// Time spent in one stage ([`StageHistory::time_in_stage`]).
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct StageTime {
    /// The stage.
    pub stage: String,
    /// Spells that ended (the customer left the stage) by the cut-off.
    pub completed: u64,
    /// Mean length of the completed spells, in days.
    pub mean_days: Option<f64>,
    /// Median length of the completed spells, in days.
    pub median_days: Option<f64>,
    /// Spells still going on at the cut-off (not in the mean or median).
    pub ongoing: u64,
}

/// Conversion from one funnel stage to the next ([`StageHistory::funnel`]).
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct FunnelStep {
    /// The stage.
    pub from: String,
    /// The next stage.
    pub to: String,
    /// Customers who ever were in `from`.
    pub reached_from: u64,
    /// Of those, customers who were in `to` afterwards.
    pub reached_to: u64,
    /// `reached_to ÷ reached_from` (`None` when nobody reached `from`).
    pub conversion: Option<f64>,
}

impl StageHistory {
    /// An empty history for `model`'s stages.
    pub fn new(model: &StageModel) -> StageHistory {
        StageHistory {
            stages: model.definition().stages.clone(),
            timelines: Vec::new(),
            index: TimelineIndex::default(),
        }
    }

    /// An empty history with room for `customers` timelines.
    pub(crate) fn with_capacity(model: &StageModel, customers: usize) -> StageHistory {
        StageHistory {
            stages: model.definition().stages.clone(),
            timelines: Vec::with_capacity(customers),
            index: TimelineIndex::with_capacity(customers),
        }
    }

    /// Adds a whole timeline built by a replay: transitions in time order,
    /// stages of the model (the engine produced them).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a customer already recorded.
    pub(crate) fn push_timeline(
        &mut self,
        customer: CustomerId,
        start: DateTime<Utc>,
        initial: StageId,
        transitions: Vec<Transition>,
    ) -> Result<()> {
        self.push(Timeline { customer, start, initial, transitions })
    }

    /// Adds and indexes a timeline, unless its customer is recorded already.
    fn push(&mut self, timeline: Timeline) -> Result<()> {
        self.timelines.push(timeline);
        if !self.index.insert(&self.timelines, self.timelines.len() - 1) {
            let t = self.timelines.pop();
            let customer = t.map(|t| t.customer.to_string()).unwrap_or_default();
            return Err(Error::InvalidArgument { name: "customer", reason: format!("{customer} is already recorded") });
        }
        Ok(())
    }

    fn check_stage(&self, stage: StageId) -> Result<()> {
        if usize::from(stage.0) >= self.stages.len() {
            return Err(Error::InvalidArgument {
                name: "stage",
                reason: format!("stage {} is not in the model", stage.0),
            });
        }
        Ok(())
    }

    /// Records a new customer, first seen at `at` in `stage`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a customer already recorded or an unknown stage.
    pub fn start(&mut self, customer: CustomerId, at: DateTime<Utc>, stage: StageId) -> Result<()> {
        self.check_stage(stage)?;
        self.push(Timeline { customer, start: at, initial: stage, transitions: Vec::new() })
    }

    /// Records a transition of a customer. A transition dated before the
    /// customer's latest one (a restatement after a late event) replaces
    /// those after its time; those at the same instant stay, so record a
    /// whole [`Applied`] with [`StageHistory::record_applied`], which knows
    /// where a restatement starts.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an unknown customer or stage.
    pub fn record(&mut self, customer: &CustomerId, transition: &Transition) -> Result<()> {
        self.check_stage(transition.to)?;
        self.check_stage(transition.from)?;
        let t = self.transitions_of(customer)?;
        let keep = t.partition_point(|x| x.at <= transition.at);
        if keep < t.len() {
            t.truncate(keep);
        }
        t.push(*transition);
        Ok(())
    }

    /// Records what [`Lifecycle::apply`](super::Lifecycle::apply) did with
    /// `event`: nothing for a duplicate; for a restated late event, the
    /// customer's transitions from the event's time on are replaced by the
    /// replayed ones (also those at that very instant, which
    /// [`StageHistory::record`], seeing one transition at a time, keeps);
    /// otherwise each transition in turn. The history then equals the one
    /// in-order delivery records.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Event, EventKind, Money};
    /// use customer_lifecycle::chrono::{TimeDelta, TimeZone, Utc};
    /// use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageHistory, StageModel};
    /// let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR).lateness(TimeDelta::days(2)))?;
    /// let t0 = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
    /// let ana = CustomerId::from("ana@example.com");
    /// let order = |id: &str, at| -> Result<Event, customer_lifecycle::Error> {
    ///     let kind = EventKind::OrderPlaced { order_id: id.into(), gross: Money::parse("40", Currency::EUR)?, discount: Money::parse("0", Currency::EUR)?, items: 1 };
    ///     Event::new(id, ana.clone(), at, kind)
    /// };
    /// let mut state = engine.new_customer(ana.clone(), t0);
    /// let mut history = StageHistory::new(engine.model());
    /// history.start(ana.clone(), t0, state.stage())?;
    /// for e in [order("o-1", t0)?, order("o-3", t0 + TimeDelta::days(1))?, order("o-2", t0 + TimeDelta::hours(1))?] {
    ///     let applied = engine.apply(&mut state, &e)?; // the last one arrives late: restated
    ///     history.record_applied(&e, &applied)?;
    /// }
    /// assert_eq!(history.stage_of(&ana, t0 + TimeDelta::days(2)), Some(state.stage()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a customer not started or an unknown
    /// stage; nothing is recorded then.
    pub fn record_applied(&mut self, event: &Event, applied: &Applied) -> Result<()> {
        if applied.duplicate {
            return Ok(());
        }
        for t in applied.transitions.iter() {
            self.check_stage(t.to)?;
            self.check_stage(t.from)?;
        }
        let t = self.transitions_of(event.customer())?;
        // Restated: everything from the event's time on is superseded. In
        // order: what follows the first new transition's time, as `record`
        // keeps it (nothing, unless an earlier call recorded ahead).
        let keep = match (applied.restated, applied.transitions.iter().next()) {
            (true, _) => t.partition_point(|x| x.at < event.at()),
            (false, Some(first)) => t.partition_point(|x| x.at <= first.at),
            (false, None) => t.len(),
        };
        t.truncate(keep);
        t.extend(applied.transitions.iter());
        Ok(())
    }

    /// A started customer's transitions, for recording.
    fn transitions_of(&mut self, customer: &CustomerId) -> Result<&mut Vec<Transition>> {
        let k = self.index.find(&self.timelines, customer).ok_or_else(|| Error::InvalidArgument {
            name: "customer",
            reason: format!("{customer} was not started"),
        })?;
        Ok(&mut self.timelines[k].transitions)
    }

    /// Removes a customer's history (right to erasure); `true` when there was one.
    pub fn erase(&mut self, customer: &CustomerId) -> bool {
        let Some(k) = self.index.remove(&self.timelines, customer) else { return false };
        self.timelines.remove(k);
        for v in self.index.table.iter_mut() {
            if *v > k {
                *v -= 1;
            }
        }
        true
    }

    /// Moves a customer's history under a pseudonym.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the pseudonym is already recorded.
    pub fn pseudonymise(&mut self, customer: &CustomerId, pseudonym: &CustomerId) -> Result<bool> {
        if self.index.find(&self.timelines, pseudonym).is_some() {
            return Err(Error::InvalidArgument {
                name: "pseudonym",
                reason: format!("{pseudonym} is already recorded"),
            });
        }
        let Some(k) = self.index.remove(&self.timelines, customer) else { return Ok(false) };
        self.timelines[k].customer = pseudonym.clone();
        self.index.insert(&self.timelines, k);
        Ok(true)
    }

    /// Customers recorded.
    pub fn len(&self) -> usize {
        self.timelines.len()
    }

    /// True when nobody is recorded.
    pub fn is_empty(&self) -> bool {
        self.timelines.is_empty()
    }

    /// The stage of a customer at `at`.
    pub fn stage_of(&self, customer: &CustomerId, at: DateTime<Utc>) -> Option<StageId> {
        self.index.find(&self.timelines, customer).and_then(|k| self.timelines[k].stage_at(at))
    }

    /// Customers in each stage at `at` (indexed by stage; customers first
    /// seen later are not counted).
    pub fn stage_counts(&self, at: DateTime<Utc>) -> Array1<u64> {
        let mut counts = Array1::zeros(self.stages.len());
        for t in &self.timelines {
            if let Some(s) = t.stage_at(at) {
                counts[usize::from(s.0)] += 1;
            }
        }
        counts
    }

    /// Stage at `from` against stage at `to`, for customers who existed at `from`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `to` is before `from`.
    pub fn transition_matrix(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<TransitionMatrix> {
        if to < from {
            return Err(Error::InvalidArgument {
                name: "transition matrix dates",
                reason: format!("{to} is before {from}"),
            });
        }
        let n = self.stages.len();
        let mut counts = Array2::zeros((n, n));
        for t in &self.timelines {
            if let (Some(a), Some(b)) = (t.stage_at(from), t.stage_at(to)) {
                counts[[usize::from(a.0), usize::from(b.0)]] += 1u64;
            }
        }
        let mut probabilities = Array2::zeros((n, n));
        for i in 0..n {
            let total: u64 = counts.row(i).sum();
            if total > 0 {
                for j in 0..n {
                    probabilities[[i, j]] = counts[[i, j]] as f64 / total as f64;
                }
            }
        }
        Ok(TransitionMatrix { stages: self.stages.clone(), counts, probabilities })
    }

    /// Time spent in each stage: completed spells by `until` (mean and
    /// median, in days) and spells still going on then.
    pub fn time_in_stage(&self, until: DateTime<Utc>) -> Vec<StageTime> {
        let mut lengths: Vec<Vec<f64>> = vec![Vec::new(); self.stages.len()];
        let mut ongoing = vec![0u64; self.stages.len()];
        for t in &self.timelines {
            for (stage, entered, left) in t.spells() {
                if entered > until {
                    break;
                }
                match left {
                    Some(left) if left <= until => {
                        lengths[usize::from(stage.0)].push((left - entered).num_seconds() as f64 / 86_400.0)
                    }
                    _ => ongoing[usize::from(stage.0)] += 1,
                }
            }
        }
        lengths
            .into_iter()
            .zip(ongoing)
            .zip(&self.stages)
            .map(|((mut l, ongoing), stage)| {
                l.sort_by(f64::total_cmp);
                let n = l.len();
                let mean = (n > 0).then(|| l.iter().sum::<f64>() / n as f64);
                let median = (n > 0).then(|| if n % 2 == 1 { l[n / 2] } else { (l[n / 2 - 1] + l[n / 2]) / 2.0 });
                StageTime { stage: stage.clone(), completed: n as u64, mean_days: mean, median_days: median, ongoing }
            })
            .collect()
    }

    /// Conversion between consecutive stages of `path`: of the customers
    /// who were ever in `path[i]`, those who were in `path[i + 1]` at some
    /// later time.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an unknown stage name or a path shorter than 2.
    pub fn funnel(&self, path: &[&str]) -> Result<Vec<FunnelStep>> {
        if path.len() < 2 {
            return Err(Error::InvalidArgument { name: "funnel", reason: "a funnel needs at least two stages".into() });
        }
        let ids: Vec<StageId> =
            path.iter()
                .map(|name| {
                    self.stages.iter().position(|s| s == name).map(|i| StageId(i as u8)).ok_or_else(|| {
                        Error::InvalidArgument { name: "funnel", reason: format!("unknown stage {name:?}") }
                    })
                })
                .collect::<Result<_>>()?;
        Ok(ids
            .windows(2)
            .zip(path.windows(2))
            .map(|(pair, names)| {
                let (mut reached_from, mut reached_to) = (0, 0);
                for t in &self.timelines {
                    let mut entries = t.spells().map(|(s, at, _)| (s, at));
                    if let Some((_, first)) = entries.find(|(s, _)| *s == pair[0]) {
                        reached_from += 1;
                        if t.spells().any(|(s, at, _)| s == pair[1] && at >= first) {
                            reached_to += 1;
                        }
                    }
                }
                FunnelStep {
                    from: names[0].to_string(),
                    to: names[1].to_string(),
                    reached_from,
                    reached_to,
                    conversion: (reached_from > 0).then(|| reached_to as f64 / reached_from as f64),
                }
            })
            .collect())
    }

    /// Transitions into `stage` in `[from, to)` (e.g. reactivations: entries
    /// into `reactivated`).
    pub fn entries(&self, stage: StageId, from: DateTime<Utc>, to: DateTime<Utc>) -> u64 {
        self.timelines
            .iter()
            .flat_map(|t| &t.transitions)
            .filter(|t| t.to == stage && t.at >= from && t.at < to)
            .count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::EventKind;
    use crate::domain::money::{Currency, Money};
    use crate::lifecycle::{EngineOptions, Lifecycle};
    use crate::math::hash::{HASH_SEED, stable_hash};
    use chrono::{TimeDelta, TimeZone};

    /// Two orders at one instant, after the customer lapsed, arriving in
    /// the order opposite to the engine's (the hash of their ids): the
    /// second is restated. `record_applied` gives the in-order history;
    /// recording transition by transition keeps the superseded ones at
    /// that instant (a reactivation counted twice).
    #[test]
    fn a_restatement_at_one_instant_replaces_what_it_supersedes() {
        let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR)).unwrap();
        let t0 = Utc.with_ymd_and_hms(2024, 1, 1, 9, 0, 0).unwrap();
        let back = t0 + TimeDelta::days(200);
        let ana = CustomerId::from("ana@example.com");
        let order = |id: &str, at| {
            let kind = EventKind::OrderPlaced {
                order_id: id.into(),
                gross: Money::parse("40", Currency::EUR).unwrap(),
                discount: Money::zero(Currency::EUR),
                items: 1,
            };
            Event::new(id, ana.clone(), at, kind).unwrap()
        };
        // Two ids at `back`, the first to arrive with the larger hash.
        let (mut a, mut b) = ("r-1".to_string(), "r-2".to_string());
        if stable_hash(a.as_bytes(), HASH_SEED) < stable_hash(b.as_bytes(), HASH_SEED) {
            std::mem::swap(&mut a, &mut b);
        }
        let events = [order("o-1", t0), order("o-2", t0 + TimeDelta::days(3)), order(&a, back), order(&b, back)];
        let mut in_order = events.clone();
        in_order[2..].sort_by_key(|e| stable_hash(e.id().0.as_bytes(), HASH_SEED));
        let history = |events: &[Event], by_applied: bool| {
            let mut state = engine.new_customer(ana.clone(), t0);
            let mut h = StageHistory::new(engine.model());
            h.start(ana.clone(), t0, state.stage()).unwrap();
            let mut restated = false;
            for e in events {
                let applied = engine.apply(&mut state, e).unwrap();
                restated |= applied.restated;
                if by_applied {
                    h.record_applied(e, &applied).unwrap();
                } else {
                    for t in applied.transitions.iter() {
                        h.record(&ana, &t).unwrap();
                    }
                }
            }
            (h, restated)
        };
        let (expected, restated) = history(&in_order, true);
        assert!(!restated);
        let (got, restated) = history(&events, true);
        assert!(restated, "the second order at one instant is restated");
        assert_eq!(got, expected);
        let reactivated = engine.model().stage("reactivated").unwrap();
        let all = |h: &StageHistory| h.entries(reactivated, t0, back + TimeDelta::days(1));
        assert_eq!(all(&got), 1);
        let (one_by_one, _) = history(&events, false);
        assert_eq!(all(&one_by_one), 2, "recording one transition at a time keeps the superseded entry");
        // A duplicate records nothing; an unknown customer is refused.
        let mut h = got.clone();
        h.record_applied(&events[0], &Applied { duplicate: true, ..Applied::default() }).unwrap();
        assert_eq!(h, got);
        let mut empty = StageHistory::new(engine.model());
        assert!(empty.record_applied(&events[0], &Applied::default()).is_err());
    }
}
