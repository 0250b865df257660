//! The engine: customer states, events, time, transitions.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::profile::{CompactEvent, Profile, SummaryRow, Totals, profile_units};
use super::stages::{Context, RuleId, StageId, StageModel};
use crate::domain::consent::{Channel, ConsentHistory, ConsentRecord, Purpose};
use crate::domain::customer::CustomerId;
use crate::domain::event::{Event, EventClass, EventKind};
use crate::domain::money::{Currency, Money};
use crate::domain::time::Periods;
use crate::error::{Error, Result};
use crate::math::hash::{HASH_SEED, mix64, stable_hash};

/// Version of the serialised [`CustomerState`]; loading another is an error.
pub const STATE_FORMAT_VERSION: u32 = 2;

/// The longest lateness window an engine accepts: a year.
pub const MAX_LATENESS_SECONDS: i64 = 366 * 86_400;

/// How far ahead [`Lifecycle::next_due`] looks: ten years.
pub const NEXT_DUE_HORIZON_DAYS: i64 = 3_660;

/// A stage change: from, to, when, and the rule that fired.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
pub struct Transition {
    /// The stage left.
    pub from: StageId,
    /// The stage entered.
    pub to: StageId,
    /// When: the event's time, or the instant a time-driven condition
    /// became true (e.g. exactly 90 days after the last order).
    pub at: DateTime<Utc>,
    /// The rule ([`StageModel::rule_name`]).
    pub rule: RuleId,
}

/// Transitions of one call, in time order; held inline (no allocation) up
/// to 8.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Transitions {
    len: usize,
    inline: [RawTransition; 8],
    spill: Vec<Transition>,
}

/// A transition as stored inline (all-zero default, cheap to create).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
struct RawTransition {
    from: StageId,
    to: StageId,
    rule: RuleId,
    at: i64,
}

impl RawTransition {
    fn get(&self) -> Transition {
        Transition {
            from: self.from,
            to: self.to,
            at: DateTime::from_timestamp(self.at, 0).unwrap_or_default(),
            rule: self.rule,
        }
    }
}

impl Transitions {
    fn push(&mut self, from: StageId, to: StageId, at: i64, rule: RuleId) {
        let raw = RawTransition { from, to, rule, at };
        if self.len < self.inline.len() {
            self.inline[self.len] = raw;
        } else {
            self.spill.push(raw.get());
        }
        self.len += 1;
    }

    pub(super) fn push_transition(&mut self, t: &Transition) {
        self.push(t.from, t.to, t.at.timestamp(), t.rule);
    }

    /// Number of transitions.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The transitions, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = Transition> + '_ {
        self.inline[..self.len.min(self.inline.len())].iter().map(RawTransition::get).chain(self.spill.iter().copied())
    }

    /// The last transition, if any.
    pub fn last(&self) -> Option<Transition> {
        self.iter().last()
    }
}

/// What [`Lifecycle::apply`] did.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Applied {
    /// Stage changes, time-driven ones (up to the event's time) first.
    pub transitions: Transitions,
    /// The event had been applied before (same id and content): nothing changed.
    pub duplicate: bool,
    /// The event was late (within the lateness window): the state was
    /// replayed from the window's start, and `transitions` holds the
    /// replayed transitions from the event's time on, which supersede those
    /// reported earlier for that span.
    pub restated: bool,
}

/// The part of a state that events and time change; fixed-size.
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
struct Core {
    profile: Profile,
    stage: StageId,
    since: i64,
    clock: i64,
}

validated_serde! {
/// One customer's streaming state: profile, stage, clock, the events of
/// the lateness window and the consent decisions seen.
///
/// Created by [`Lifecycle::new_customer`], changed only through the engine;
/// serialisable (snapshot/restore) with [`STATE_FORMAT_VERSION`], and a
/// restored state continues bit-identically.
#[derive(PartialEq, Debug)]
pub struct CustomerState {
    format_version: u32,
    customer: CustomerId,
    /// Fingerprint of the stage model and settings it belongs to.
    engine: u64,
    current: Core,
    /// The state before the buffered events.
    settled: Core,
    /// Events of the lateness window, in (time, id hash) order.
    buffer: Vec<CompactEvent>,
    /// The consent decisions the customer's events carried.
    pub(super) consent: ConsentHistory,
}
}

/// Room for the events of a lateness window, so that applying them does not allocate.
const BUFFER_CAPACITY: usize = 4;

impl Clone for CustomerState {
    /// A copy that keeps the room of the event buffer (a derived clone
    /// would shrink it, and the next event would allocate).
    fn clone(&self) -> CustomerState {
        let mut buffer = Vec::with_capacity(self.buffer.capacity().max(BUFFER_CAPACITY));
        buffer.extend_from_slice(&self.buffer);
        CustomerState {
            format_version: self.format_version,
            customer: self.customer.clone(),
            engine: self.engine,
            current: self.current,
            settled: self.settled,
            buffer,
            consent: self.consent.clone(),
        }
    }
}

impl CustomerState {
    fn check_consistent(&self) -> Result<()> {
        let bad = |reason: &str| Error::InvalidArgument { name: "customer state", reason: reason.into() };
        if self.format_version != STATE_FORMAT_VERSION {
            return Err(bad(&format!(
                "format version {}, this build reads version {STATE_FORMAT_VERSION}",
                self.format_version
            )));
        }
        if !self.buffer.windows(2).all(|w| (w[0].at, w[0].id_hash) <= (w[1].at, w[1].id_hash)) {
            return Err(bad("buffered events out of order"));
        }
        if self.settled.clock > self.current.clock {
            return Err(bad("settled clock after the current clock"));
        }
        for core in [&self.current, &self.settled] {
            core.profile.check_consistent().map_err(|reason| bad(&reason))?;
        }
        Ok(())
    }

    /// The customer.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Event, EventKind, Money};
    /// use customer_lifecycle::chrono::{TimeDelta, TimeZone, Utc};
    /// use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageModel};
    /// let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR))?;
    /// let t0 = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
    /// let mut state = engine.new_customer(CustomerId::from("ana@example.com"), t0);
    /// assert_eq!(state.customer(), &CustomerId::from("ana@example.com"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn customer(&self) -> &CustomerId {
        &self.customer
    }

    /// Replaces the customer's id by a pseudonym (erasing a state is
    /// dropping it: the application owns it).
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Event, EventKind, Money};
    /// use customer_lifecycle::chrono::{TimeDelta, TimeZone, Utc};
    /// use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageModel};
    /// let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR))?;
    /// let t0 = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
    /// let mut state = engine.new_customer(CustomerId::from("ana@example.com"), t0);
    /// state.pseudonymise(CustomerId::from("p-81f3"));
    /// assert_eq!(state.customer(), &CustomerId::from("p-81f3"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pseudonymise(&mut self, pseudonym: CustomerId) {
        self.customer = pseudonym;
    }

    /// The current stage.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Event, EventKind, Money};
    /// use customer_lifecycle::chrono::{TimeDelta, TimeZone, Utc};
    /// use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageModel};
    /// let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR))?;
    /// let t0 = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
    /// let mut state = engine.new_customer(CustomerId::from("ana@example.com"), t0);
    /// assert_eq!(state.stage(), engine.model().initial());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stage(&self) -> StageId {
        self.current.stage
    }

    /// Since when the customer is in the current stage.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Event, EventKind, Money};
    /// use customer_lifecycle::chrono::{TimeDelta, TimeZone, Utc};
    /// use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageModel};
    /// let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR))?;
    /// let t0 = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
    /// let mut state = engine.new_customer(CustomerId::from("ana@example.com"), t0);
    /// assert_eq!(state.stage_since(), t0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stage_since(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.current.since, 0).unwrap_or_default()
    }

    /// The state's clock: the latest event time or `advance_to` time.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Event, EventKind, Money};
    /// use customer_lifecycle::chrono::{TimeDelta, TimeZone, Utc};
    /// use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageModel};
    /// let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR))?;
    /// let t0 = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
    /// let mut state = engine.new_customer(CustomerId::from("ana@example.com"), t0);
    /// engine.advance_to(&mut state, t0 + TimeDelta::days(3))?;
    /// assert_eq!(state.clock(), t0 + TimeDelta::days(3));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn clock(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.current.clock, 0).unwrap_or_default()
    }

    /// The profile (orders, spend, cadence, engagement, NPS, support).
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Event, EventKind, Money};
    /// use customer_lifecycle::chrono::{TimeDelta, TimeZone, Utc};
    /// use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageModel};
    /// let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR))?;
    /// let t0 = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
    /// let mut state = engine.new_customer(CustomerId::from("ana@example.com"), t0);
    /// let order = |id: &str, at| -> Result<Event, customer_lifecycle::Error> {
    ///     let kind = EventKind::OrderPlaced { order_id: id.into(), gross: Money::parse("40", Currency::EUR)?, discount: Money::parse("0", Currency::EUR)?, items: 1 };
    ///     Event::new(id, CustomerId::from("ana@example.com"), at, kind)
    /// };
    /// engine.apply(&mut state, &order("o-1", t0)?)?;
    /// assert_eq!(state.profile().orders(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn profile(&self) -> &Profile {
        &self.current.profile
    }

    /// The purchase summary row at the state's clock, equal to what the
    /// batch summary computes for this customer with the engine's periods
    /// and the clock's date as observation end.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Event, EventKind, Money};
    /// use customer_lifecycle::chrono::{TimeDelta, TimeZone, Utc};
    /// use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageModel};
    /// let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR))?;
    /// let t0 = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
    /// let mut state = engine.new_customer(CustomerId::from("ana@example.com"), t0);
    /// let order = |id: &str, at| -> Result<Event, customer_lifecycle::Error> {
    ///     let kind = EventKind::OrderPlaced { order_id: id.into(), gross: Money::parse("40", Currency::EUR)?, discount: Money::parse("0", Currency::EUR)?, items: 1 };
    ///     Event::new(id, CustomerId::from("ana@example.com"), at, kind)
    /// };
    /// engine.apply(&mut state, &order("o-1", t0)?)?;
    /// engine.apply(&mut state, &order("o-2", t0 + TimeDelta::days(7))?)?;
    /// let row = state.summary_row().unwrap();
    /// assert_eq!(row.frequency, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn summary_row(&self) -> Option<SummaryRow> {
        self.current.profile.summary_row(self.clock())
    }

    /// The consent decisions the customer's events carried
    /// ([`Event::consent_change`]), answering with the one rule of
    /// [`ConsentHistory::decision`].
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Event, EventKind, Money};
    /// use customer_lifecycle::chrono::{TimeDelta, TimeZone, Utc};
    /// use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageModel};
    /// let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR))?;
    /// let t0 = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
    /// let mut state = engine.new_customer(CustomerId::from("ana@example.com"), t0);
    /// use customer_lifecycle::{Channel, ConsentChange, ConsentStatus, Purpose};
    /// let grant = ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Granted);
    /// engine.apply(&mut state, &Event::new("c-1", CustomerId::from("ana@example.com"), t0, EventKind::ConsentChanged(grant))?)?;
    /// assert!(state.consent().may_contact(&Channel::Email, &Purpose::Marketing, t0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn consent(&self) -> &ConsentHistory {
        &self.consent
    }

    /// The decision in force for `purpose` on `channel` at `at`
    /// ([`ConsentHistory::decision`]).
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Event, EventKind, Money};
    /// use customer_lifecycle::chrono::{TimeDelta, TimeZone, Utc};
    /// use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageModel};
    /// let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR))?;
    /// let t0 = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
    /// let mut state = engine.new_customer(CustomerId::from("ana@example.com"), t0);
    /// use customer_lifecycle::{Channel, Purpose};
    /// assert!(state.consent_at(&Purpose::Marketing, &Channel::Email, t0).is_none()); // never asked
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn consent_at(&self, purpose: &Purpose, channel: &Channel, at: DateTime<Utc>) -> Option<&ConsentRecord> {
        self.consent.decision(channel, purpose, at)
    }
}

/// The engine's settings.
///
/// ```
/// use customer_lifecycle::{Currency, DurationMode, Periods, TimeUnit};
/// use customer_lifecycle::lifecycle::EngineOptions;
/// use customer_lifecycle::chrono::TimeDelta;
///
/// let options = EngineOptions::new(Currency::EUR)
///     .periods(Periods::new(TimeUnit::Day, DurationMode::Continuous)?)
///     .lateness(TimeDelta::hours(6));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
pub struct EngineOptions {
    currency: Currency,
    periods: Periods,
    lateness_seconds: i64,
}

impl EngineOptions {
    /// Amounts in `currency`, summary rows in continuous weeks, a lateness
    /// window of one hour.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, lifecycle::EngineOptions};
    /// let options = EngineOptions::new(Currency::EUR);
    /// assert_eq!(options, EngineOptions::new(Currency::EUR).lateness(customer_lifecycle::chrono::TimeDelta::hours(1)));
    /// ```
    pub fn new(currency: Currency) -> EngineOptions {
        EngineOptions { currency, periods: Periods::continuous_weeks(), lateness_seconds: 3600 }
    }

    /// The periods of [`CustomerState::summary_row`] (unit, mode, UTC
    /// offset; the offset also sets the calendar days of engagement windows).
    ///
    /// ```
    /// use customer_lifecycle::{Currency, DurationMode, Periods, TimeUnit, lifecycle::EngineOptions};
    /// let options = EngineOptions::new(Currency::EUR).periods(Periods::new(TimeUnit::Day, DurationMode::Continuous)?);
    /// # let _ = options;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn periods(mut self, periods: Periods) -> EngineOptions {
        self.periods = periods;
        self
    }

    /// How late an event may arrive (relative to the state's clock) and
    /// still be applied as if in order. Zero accepts only events in order.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, lifecycle::EngineOptions};
    /// use customer_lifecycle::chrono::TimeDelta;
    /// let options = EngineOptions::new(Currency::EUR).lateness(TimeDelta::minutes(10));
    /// assert_ne!(options, EngineOptions::new(Currency::EUR)); // ten minutes instead of an hour
    /// ```
    pub fn lateness(mut self, window: TimeDelta) -> EngineOptions {
        self.lateness_seconds = window.num_seconds();
        self
    }

    /// The currency of the engine's amounts.
    pub(crate) fn currency(&self) -> Currency {
        self.currency
    }
}

/// A scoring function for model-based rules ([`Condition::ScoreBelow`](super::Condition::ScoreBelow)):
/// given a customer's summary row now, a score such as P(alive).
pub type ScoreFn = Box<dyn Fn(&SummaryRow) -> f64 + Send + Sync>;

/// The lifecycle engine: a stage model, the settings, and optionally a
/// scoring function. Stateless itself: it moves [`CustomerState`]s.
///
/// ```
/// use customer_lifecycle::{Currency, CustomerId, Event, EventKind, Money};
/// use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageModel};
/// use customer_lifecycle::chrono::{TimeZone, Utc};
///
/// let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR))?;
/// let day = |d| Utc.with_ymd_and_hms(2024, 1, d, 12, 0, 0).unwrap();
/// let mut state = engine.new_customer(CustomerId::from(7), day(1));
/// let order = Event::new("e1", CustomerId::from(7), day(2), EventKind::OrderPlaced {
///     order_id: "o1".into(),
///     gross: Money::parse("40", Currency::EUR)?,
///     discount: Money::parse("0", Currency::EUR)?,
///     items: 1,
/// })?;
/// let applied = engine.apply(&mut state, &order)?;
/// let t = applied.transitions.last().unwrap();
/// assert_eq!(engine.model().stage_name(t.to), "new");
/// assert_eq!(engine.model().rule_name(t.rule), "first_order");
/// // 90 days without an order: at risk, dated exactly then.
/// let moved = engine.advance_to(&mut state, day(2) + chrono::TimeDelta::days(100))?;
/// assert_eq!(engine.model().stage_name(state.stage()), "at_risk");
/// assert_eq!(moved.last().unwrap().at, day(2) + chrono::TimeDelta::days(90));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Lifecycle {
    model: StageModel,
    options: EngineOptions,
    score: Option<ScoreFn>,
    fingerprint: u64,
}

impl std::fmt::Debug for Lifecycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lifecycle")
            .field("model", &self.model.name())
            .field("options", &self.options)
            .field("score", &self.score.is_some())
            .finish()
    }
}

impl Lifecycle {
    /// An engine for a model without model-based rules.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Event, EventKind, Money};
    /// use customer_lifecycle::chrono::{TimeDelta, TimeZone, Utc};
    /// use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageModel};
    /// let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR))?;
    /// let t0 = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
    /// let mut state = engine.new_customer(CustomerId::from("ana@example.com"), t0);
    /// assert_eq!(engine.model().stage_name(state.stage()), "prospect");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidStageModel`] when the model has
    /// [`ScoreBelow`](super::Condition::ScoreBelow) rules (use
    /// [`Lifecycle::with_score`]); [`Error::InvalidArgument`] for a negative
    /// lateness window.
    pub fn new(model: StageModel, options: EngineOptions) -> Result<Lifecycle> {
        if model.uses_score() {
            return Err(Error::InvalidStageModel {
                model: model.name().to_string(),
                reason: "it has model-based rules but the engine has no scoring function".into(),
            });
        }
        Lifecycle::build(model, options, None)
    }

    /// An engine whose model-based rules use `score` (called with the
    /// customer's summary row at the evaluation time; customers without an
    /// order are not scored and such rules do not hold for them).
    ///
    /// ```
    /// use customer_lifecycle::Currency;
    /// use customer_lifecycle::clv::BetaGeo;
    /// use customer_lifecycle::lifecycle::{EcommerceLadder, EngineOptions, Inactivity, Lifecycle};
    /// let bgnbd = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?;
    /// // At risk below P(alive) 0.5, lapsed below 0.2, churned below 0.05, by the model.
    /// let model = EcommerceLadder::default().inactivity(Inactivity::ModelScore { at_risk_below: 0.5, lapsed_below: 0.2, churned_below: 0.05 }).build()?;
    /// let engine = Lifecycle::with_score(model, EngineOptions::new(Currency::EUR), move |row| {
    ///     bgnbd.probability_alive(f64::from(row.frequency), row.recency, row.age).unwrap_or(1.0)
    /// })?;
    /// # let _ = engine;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`Lifecycle::new`], except for model-based rules.
    pub fn with_score(
        model: StageModel,
        options: EngineOptions,
        score: impl Fn(&SummaryRow) -> f64 + Send + Sync + 'static,
    ) -> Result<Lifecycle> {
        Lifecycle::build(model, options, Some(Box::new(score)))
    }

    fn build(model: StageModel, options: EngineOptions, score: Option<ScoreFn>) -> Result<Lifecycle> {
        // Options may come from a saved configuration: the periods too.
        options.periods.check_consistent()?;
        if !(0..=MAX_LATENESS_SECONDS).contains(&options.lateness_seconds) {
            return Err(Error::InvalidArgument {
                name: "lateness window",
                reason: format!("{} s; 0 to {MAX_LATENESS_SECONDS} s (a year) allowed", options.lateness_seconds),
            });
        }
        // The serialised form (JSON: fields in declaration order, floats in
        // their shortest round-trip digits) is the canonical encoding: the
        // same model and settings give the same fingerprint on any build.
        let canonical = serde_json::to_vec(&(model.definition(), &options)).map_err(|e| Error::InvalidArgument {
            name: "stage model",
            reason: format!("cannot encode the model and settings: {e}"),
        })?;
        let fingerprint = stable_hash(&canonical, HASH_SEED);
        Ok(Lifecycle { model, options, score, fingerprint })
    }

    /// The stage model.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Event, EventKind, Money};
    /// use customer_lifecycle::chrono::{TimeDelta, TimeZone, Utc};
    /// use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageModel};
    /// let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR))?;
    /// let t0 = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
    /// let mut state = engine.new_customer(CustomerId::from("ana@example.com"), t0);
    /// assert!(engine.model().stage("loyal").is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn model(&self) -> &StageModel {
        &self.model
    }

    /// The settings.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Event, EventKind, Money};
    /// use customer_lifecycle::chrono::{TimeDelta, TimeZone, Utc};
    /// use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageModel};
    /// let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR))?;
    /// let t0 = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
    /// let mut state = engine.new_customer(CustomerId::from("ana@example.com"), t0);
    /// assert_eq!(engine.options(), &EngineOptions::new(Currency::EUR));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// A new customer, first seen at `first_seen`, in the model's initial stage.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Event, EventKind, Money};
    /// use customer_lifecycle::chrono::{TimeDelta, TimeZone, Utc};
    /// use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageModel};
    /// let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR))?;
    /// let t0 = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
    /// let mut state = engine.new_customer(CustomerId::from("ana@example.com"), t0);
    /// assert_eq!(state.customer(), &CustomerId::from("ana@example.com"));
    /// assert_eq!(state.clock(), t0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new_customer(&self, customer: CustomerId, first_seen: DateTime<Utc>) -> CustomerState {
        let at = first_seen.timestamp();
        let core =
            Core { profile: Profile::new(self.options.periods, at), stage: self.model.initial(), since: at, clock: at };
        CustomerState {
            format_version: STATE_FORMAT_VERSION,
            customer,
            engine: self.fingerprint,
            current: core,
            settled: core,
            buffer: Vec::with_capacity(BUFFER_CAPACITY),
            consent: ConsentHistory::new(),
        }
    }

    pub(super) fn check_state(&self, state: &CustomerState) -> Result<()> {
        if state.engine != self.fingerprint {
            return Err(Error::InvalidArgument {
                name: "customer state",
                reason: format!(
                    "customer {} was created by an engine with another stage model or settings",
                    state.customer
                ),
            });
        }
        // A state saved and altered elsewhere may name a stage the model
        // lacks (its fingerprint still matches): refused, not indexed.
        let stages = self.model.len();
        if usize::from(state.current.stage.0) >= stages || usize::from(state.settled.stage.0) >= stages {
            return Err(Error::InvalidArgument {
                name: "customer state",
                reason: format!("customer {}: a stage outside the model's {stages}", state.customer),
            });
        }
        Ok(())
    }

    /// Like [`Lifecycle::apply`], refusing events dated after `now`.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Event, EventKind, Money};
    /// use customer_lifecycle::chrono::{TimeDelta, TimeZone, Utc};
    /// use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageModel};
    /// let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR))?;
    /// let t0 = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
    /// let mut state = engine.new_customer(CustomerId::from("ana@example.com"), t0);
    /// let order = |id: &str, at| -> Result<Event, customer_lifecycle::Error> {
    ///     let kind = EventKind::OrderPlaced { order_id: id.into(), gross: Money::parse("40", Currency::EUR)?, discount: Money::parse("0", Currency::EUR)?, items: 1 };
    ///     Event::new(id, CustomerId::from("ana@example.com"), at, kind)
    /// };
    /// let now = t0 + TimeDelta::hours(1);
    /// assert!(engine.apply_at(&mut state, &order("o-1", t0)?, now).is_ok());
    /// // An event the host has not seen happen yet is refused.
    /// assert!(engine.apply_at(&mut state, &order("o-2", now + TimeDelta::hours(1))?, now).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::EventInFuture`], and those of [`Lifecycle::apply`].
    pub fn apply_at(&self, state: &mut CustomerState, event: &Event, now: DateTime<Utc>) -> Result<Applied> {
        if event.at > now {
            return Err(Error::EventInFuture { event_id: event.id.0.clone(), at: event.at, now });
        }
        self.apply(state, event)
    }

    /// Applies an event: first the time-driven transitions up to its time,
    /// then its effect on the profile, then the rules it triggers.
    ///
    /// Events may arrive out of order within the lateness window: the
    /// state is then replayed so that it ends exactly as if they had come in
    /// order (events at the same instant are ordered by a hash of their id).
    /// A replayed event (same id and content) changes nothing.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Event, EventKind, Money};
    /// use customer_lifecycle::chrono::{TimeDelta, TimeZone, Utc};
    /// use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageModel};
    /// let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR))?;
    /// let t0 = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
    /// let mut state = engine.new_customer(CustomerId::from("ana@example.com"), t0);
    /// let order = |id: &str, at| -> Result<Event, customer_lifecycle::Error> {
    ///     let kind = EventKind::OrderPlaced { order_id: id.into(), gross: Money::parse("40", Currency::EUR)?, discount: Money::parse("0", Currency::EUR)?, items: 1 };
    ///     Event::new(id, CustomerId::from("ana@example.com"), at, kind)
    /// };
    /// let applied = engine.apply(&mut state, &order("o-1", t0 + TimeDelta::hours(2))?)?;
    /// assert_eq!(engine.model().stage_name(state.stage()), "new");
    /// assert!(!applied.transitions.is_empty());
    /// // A replayed webhook changes nothing.
    /// assert!(engine.apply(&mut state, &order("o-1", t0 + TimeDelta::hours(2))?)?.duplicate);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::LateEvent`] for an event older than the clock minus the
    /// lateness window (never for a consent change or an unsubscribe: those
    /// are recorded at their own instant however late they come);
    /// [`Error::ConflictingDuplicate`] for a known id with
    /// other content; [`Error::InvalidEvent`], [`Error::MixedCurrency`],
    /// [`Error::InvalidAmount`] (more than 4 decimals); an event of another
    /// customer or a state of another engine ([`Error::InvalidArgument`]);
    /// [`Error::AmountOverflow`].
    pub fn apply(&self, state: &mut CustomerState, event: &Event) -> Result<Applied> {
        self.check_state(state)?;
        if event.customer != state.customer {
            return Err(Error::InvalidArgument {
                name: "event",
                reason: format!("event {:?} is for customer {}, not {}", event.id.0, event.customer, state.customer),
            });
        }
        self.apply_to_person(state, event)
    }

    /// [`Lifecycle::apply`] after its checks of the state and of the
    /// event's customer: a merge applies the events of every id of a
    /// person to the person's state.
    fn apply_to_person(&self, state: &mut CustomerState, event: &Event) -> Result<Applied> {
        let compact = self.compact(event)?;
        self.apply_compact(state, event, compact)
    }

    /// The rest of [`Lifecycle::apply`], with the event already in its
    /// compact form (`compact` is `self.compact(event)`): a merge compacts
    /// each event once for its several replays.
    pub(super) fn apply_compact(
        &self,
        state: &mut CustomerState,
        event: &Event,
        compact: CompactEvent,
    ) -> Result<Applied> {
        let settled_before = state.current.clock.saturating_sub(self.options.lateness_seconds);
        if compact.at < settled_before {
            // A consent decision is never refused as late: it takes effect at
            // its own instant, for everything after it. It changes nothing
            // else in the state (no profile aggregate reads it), so it needs
            // no replay; an identical decision already recorded is a replay.
            if let Some(change) = event.consent_change() {
                let added = state.consent.record(change, event.at)?;
                return Ok(Applied { duplicate: !added, ..Applied::default() });
            }
            return Err(Error::LateEvent {
                customer: state.customer.to_string(),
                event_id: event.id.0.clone(),
                at: event.at,
                settled_before: DateTime::from_timestamp(settled_before, 0).unwrap_or_default(),
            });
        }
        // One pass over the buffer finds a replay of the event id and, for an
        // order, the same order under another event id (a webhook re-sent
        // with a new delivery id): one order, as in the transaction log.
        // Order ids are remembered for the events still buffered, which
        // covers at least the lateness window.
        let is_order = compact.class == EventClass::Order;
        let (mut same_id, mut same_order) = (None, None);
        for known in &state.buffer {
            if known.id_hash == compact.id_hash {
                same_id = Some(known);
                break;
            }
            if is_order
                && same_order.is_none()
                && known.class == EventClass::Order
                && known.order_hash == compact.order_hash
            {
                same_order = Some(known);
            }
        }
        if let Some(known) = same_id {
            if known.content_hash == compact.content_hash {
                return Ok(Applied { duplicate: true, ..Applied::default() });
            }
            return Err(Error::ConflictingDuplicate {
                kind: "event id",
                id: event.id.0.clone(),
                reason: "same id, different content".into(),
            });
        }
        if let Some(known) = same_order {
            if (known.at, known.amount, known.discount) == (compact.at, compact.amount, compact.discount) {
                return Ok(Applied { duplicate: true, ..Applied::default() });
            }
            return Err(Error::ConflictingDuplicate {
                kind: "order id",
                id: event.kind.placed_order_id().unwrap_or_default().to_string(),
                reason: "an order already applied under another event id, with other content".into(),
            });
        }
        // All or nothing: every fallible step runs on copies of the cores
        // (fixed-size values, so copying them allocates nothing), and the
        // state changes only after all of them succeeded. A failed call
        // leaves the state exactly as it was, and a retry is applied anew.
        let key = (compact.at, compact.id_hash);
        let in_order = compact.at >= state.current.clock && state.buffer.last().is_none_or(|l| (l.at, l.id_hash) < key);
        let mut applied = Applied::default();
        if in_order {
            // The only failures in order are an overflow, checked here before
            // anything moves, and a cycle of state rules. The buffered events
            // already went into the current core without overflow, so they
            // cannot overflow the settled one (an earlier total of
            // non-negative amounts); and an acyclic model's rules cannot
            // loop. So for an acyclic model the state is changed in place,
            // and only a model that may cycle pays for a copy to restore.
            let totals = state
                .current
                .profile
                .totals_after(&compact)
                .ok_or(Error::AmountOverflow { field: "customer profile", customer: None })?;
            let backup = self.model.may_cycle().then(|| state.clone());
            let stepped = self
                .checkpoint(state, compact.at)
                .and_then(|()| self.step_with(&mut state.current, &compact, totals, Some(&mut applied.transitions)));
            if let Err(e) = stepped {
                if let Some(backup) = backup {
                    *state = backup;
                }
                return Err(e);
            }
            state.buffer.push(compact);
        } else {
            // Replay from the settled core over the buffer with the event in
            // its place, without inserting it yet.
            let position = state.buffer.partition_point(|e| (e.at, e.id_hash) < key);
            let clock = state.current.clock;
            let mut core = state.settled;
            let mut replayed = Transitions::default();
            let (before, after) = state.buffer.split_at(position);
            for e in before.iter().chain(std::iter::once(&compact)).chain(after) {
                self.step(&mut core, e, Some(&mut replayed))?;
            }
            self.advance_core(&mut core, clock, Some(&mut replayed))?;
            // Commit.
            state.buffer.insert(position, compact);
            state.current = core;
            for t in replayed.iter().filter(|t| t.at.timestamp() >= compact.at) {
                applied.transitions.push_transition(&t);
            }
            applied.restated = true;
        }
        if let Some(change) = event.consent_change() {
            // Cannot fail: the event validated its expiry (after the decision).
            state.consent.record(change, event.at)?;
        }
        Ok(applied)
    }

    /// Moves the state's clock to `now`, firing the time-driven transitions
    /// (at risk, lapsed, churned, …) at the instants their conditions
    /// became true.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Event, EventKind, Money};
    /// use customer_lifecycle::chrono::{TimeDelta, TimeZone, Utc};
    /// use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageModel};
    /// let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR))?;
    /// let t0 = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
    /// let mut state = engine.new_customer(CustomerId::from("ana@example.com"), t0);
    /// let order = |id: &str, at| -> Result<Event, customer_lifecycle::Error> {
    ///     let kind = EventKind::OrderPlaced { order_id: id.into(), gross: Money::parse("40", Currency::EUR)?, discount: Money::parse("0", Currency::EUR)?, items: 1 };
    ///     Event::new(id, CustomerId::from("ana@example.com"), at, kind)
    /// };
    /// engine.apply(&mut state, &order("o-1", t0)?)?;
    /// let moved = engine.advance_to(&mut state, t0 + TimeDelta::days(400))?;
    /// assert!(!moved.is_empty());
    /// assert_ne!(engine.model().stage_name(state.stage()), "new");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::ClockBehind`] when `now` is before the state's clock; a
    /// state of another engine ([`Error::InvalidArgument`]).
    pub fn advance_to(&self, state: &mut CustomerState, now: DateTime<Utc>) -> Result<Transitions> {
        self.check_state(state)?;
        let until = now.timestamp();
        if until < state.current.clock {
            return Err(Error::ClockBehind {
                customer: state.customer.to_string(),
                requested: now,
                clock: state.clock(),
            });
        }
        // Only a cycle of state rules can fail here: an acyclic model moves
        // the state in place, one that may cycle works on a copy, so that a
        // failure leaves the state as it was.
        let mut out = Transitions::default();
        if self.model.may_cycle() {
            let mut current = state.current;
            self.advance_core(&mut current, until, Some(&mut out))?;
            state.current = current;
        } else {
            self.advance_core(&mut state.current, until, Some(&mut out))?;
        }
        Ok(out)
    }

    /// The next instant at which a time-driven transition (at risk, lapsed,
    /// churned, a score falling below its threshold, …) will fire if no
    /// event arrives first, within [`NEXT_DUE_HORIZON_DAYS`] of the
    /// state's clock; `None` when none will. A host keeps it per customer
    /// and calls [`Lifecycle::advance_to`] then, instead of ticking every
    /// customer; any event may change it.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Event, EventKind, Money};
    /// use customer_lifecycle::chrono::{TimeDelta, TimeZone, Utc};
    /// use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageModel};
    /// let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR))?;
    /// let t0 = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
    /// let ana = CustomerId::from("ana@example.com");
    /// let mut state = engine.new_customer(ana.clone(), t0);
    /// let kind = EventKind::OrderPlaced { order_id: "o-1".into(), gross: Money::parse("40", Currency::EUR)?, discount: Money::parse("0", Currency::EUR)?, items: 1 };
    /// engine.apply(&mut state, &Event::new("o-1", ana, t0, kind)?)?;
    /// let due = engine.next_due(&state)?.ok_or("an idle customer moves on in time")?;
    /// // Nothing happens a second before; the transition fires at `due`.
    /// let mut early = state.clone();
    /// assert!(engine.advance_to(&mut early, due - TimeDelta::seconds(1))?.is_empty());
    /// let moved = engine.advance_to(&mut state, due)?;
    /// assert_eq!(moved.iter().next().map(|t| t.at), Some(due));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// A state of another engine ([`Error::InvalidArgument`]); a cycle of
    /// state rules.
    pub fn next_due(&self, state: &CustomerState) -> Result<Option<DateTime<Utc>>> {
        self.check_state(state)?;
        let mut core = state.current;
        let until = core.clock.saturating_add(NEXT_DUE_HORIZON_DAYS * 86_400);
        loop {
            let t = self.next_step(&core, until);
            core.clock = core.clock.max(t);
            let mut fired = Transitions::default();
            let now = core.clock;
            self.evaluate(&mut core, now, None, Some(&mut fired))?;
            if let Some(first) = fired.iter().next() {
                return Ok(Some(first.at));
            }
            if t >= until {
                return Ok(None);
            }
        }
    }

    /// Before the clock moves to `to`, once the event buffer is full:
    /// when the clock and every buffered event will be older than the
    /// lateness window, the current core becomes the start of later replays
    /// (one copy per `BUFFER_CAPACITY` events); otherwise the events that
    /// leave the window are stepped into the settled core. Events stay
    /// buffered until then, so in-order events cost neither.
    ///
    /// Why a copy and not a replay log: the settled core is a fixed-size
    /// value (no heap), so copying it once per `BUFFER_CAPACITY` events is
    /// a memcpy, while a late event needs only the few buffered events
    /// replayed on top of it; the state never grows with the history.
    fn checkpoint(&self, state: &mut CustomerState, to: i64) -> Result<()> {
        if state.buffer.len() < BUFFER_CAPACITY {
            return Ok(());
        }
        let settled_before = to.saturating_sub(self.options.lateness_seconds);
        if state.current.clock < settled_before {
            state.settled = state.current;
            state.buffer.clear();
            return Ok(());
        }
        let expired = state.buffer.partition_point(|e| e.at < settled_before);
        for e in &state.buffer[..expired] {
            self.step(&mut state.settled, e, None)?;
        }
        state.buffer.drain(..expired);
        Ok(())
    }

    pub(super) fn compact(&self, event: &Event) -> Result<CompactEvent> {
        event.validate()?;
        let currency = self.options.currency;
        let units = |m: &Money, field: &'static str| -> Result<i64> {
            if m.currency() != currency {
                return Err(Error::MixedCurrency { expected: currency.to_string(), found: m.currency().to_string() });
            }
            profile_units(m.amount()).ok_or_else(|| Error::InvalidAmount {
                field,
                value: m.to_string(),
                customer: Some(event.customer.to_string()),
                reason: "more than 4 decimal places, or too large".into(),
            })
        };
        // What was paid (gross − discount) or refunded: `Event::paid_amount`, the one rule.
        let paid = event.paid_amount()?;
        let (amount, discount, score) = match (&event.kind, paid) {
            (EventKind::OrderPlaced { gross, discount, .. }, Some(paid)) => {
                units(gross, "gross")?;
                (units(&paid, "paid amount")?, units(discount, "discount")?, 0)
            }
            (EventKind::OrderReturned { .. }, Some(refund)) => (units(&refund, "return")?, 0, 0),
            (EventKind::SupportTicket { cost: Some(cost) }, _) => (units(cost, "support cost")?, 0, 0),
            (EventKind::NpsAnswered { score }, _) => (0, 0, score.value()),
            _ => (0, 0, 0),
        };
        let class = event.kind.class();
        let at = event.at.timestamp();
        let content_hash = content_hash(event, at, amount, discount, score);
        let order_hash = event.kind.placed_order_id().map_or(0, |id| stable_hash(id.as_bytes(), HASH_SEED ^ 1));
        Ok(CompactEvent {
            at,
            id_hash: stable_hash(event.id.0.as_bytes(), HASH_SEED),
            content_hash,
            order_hash,
            class,
            amount,
            discount,
            score,
        })
    }

    /// One customer's whole history at once, for a batch replay: a fresh
    /// state at `first` (unix seconds), then each of `rows` (time, order or
    /// return, amount in profile units; in time order, at or after
    /// `first`), then the clock moved to `until`. Every transition is
    /// passed to `out`, oldest first; the initial stage is returned. No
    /// buffer, checkpoint or duplicate check: the rows come from a log,
    /// already one per order, in order.
    pub(crate) fn replay_rows(
        &self,
        first: i64,
        rows: impl Iterator<Item = (i64, EventClass, i64)>,
        until: i64,
        out: &mut impl FnMut(Transition),
    ) -> Result<StageId> {
        let mut core = Core {
            profile: Profile::new(self.options.periods, first),
            stage: self.model.initial(),
            since: first,
            clock: first,
        };
        let initial = core.stage;
        let mut moved = Transitions::default();
        let mut flush = |moved: &mut Transitions| {
            for t in moved.iter() {
                out(t);
            }
            *moved = Transitions::default();
        };
        for (k, (at, class, amount)) in rows.enumerate() {
            let e = CompactEvent {
                at,
                id_hash: k as u64,
                content_hash: 0,
                order_hash: 0,
                class,
                amount,
                discount: 0,
                score: 0,
            };
            self.step(&mut core, &e, Some(&mut moved))?;
            if !moved.is_empty() {
                flush(&mut moved);
            }
        }
        self.advance_core(&mut core, until, Some(&mut moved))?;
        flush(&mut moved);
        Ok(initial)
    }

    /// Time-driven transitions up to `e.at`, the event, and its rules.
    /// One event: time-driven rules up to its instant, the profile, the
    /// event's rules. An overflow is found before anything moves; the rules
    /// can fail only on a cycle of state rules, which an acyclic model
    /// ([`StageModel::may_cycle`]) cannot have.
    fn step(&self, core: &mut Core, e: &CompactEvent, out: Option<&mut Transitions>) -> Result<()> {
        let totals =
            core.profile.totals_after(e).ok_or(Error::AmountOverflow { field: "customer profile", customer: None })?;
        self.step_with(core, e, totals, out)
    }

    /// [`Lifecycle::step`] with the event's totals already checked.
    fn step_with(
        &self,
        core: &mut Core,
        e: &CompactEvent,
        totals: Totals,
        mut out: Option<&mut Transitions>,
    ) -> Result<()> {
        self.advance_core(core, e.at, out.as_deref_mut())?;
        core.profile.apply(e, totals);
        core.clock = core.clock.max(e.at);
        self.evaluate(core, e.at, Some(e.class), out)
    }

    /// Evaluates the rules at every instant in `(clock, until]` at which a
    /// time-driven condition may change, and at `until`.
    fn advance_core(&self, core: &mut Core, until: i64, mut out: Option<&mut Transitions>) -> Result<()> {
        loop {
            let t = self.next_step(core, until);
            core.clock = core.clock.max(t);
            self.evaluate(core, core.clock, None, out.as_deref_mut())?;
            if t >= until {
                return Ok(());
            }
        }
    }

    /// The next instant, at most `until`, at which a time-driven rule from
    /// the core's stage may start to hold: the earliest change of a
    /// condition, or a score's crossing before it.
    fn next_step(&self, core: &Core, until: i64) -> i64 {
        let mut t = until;
        for (_, rule) in self.model.rules_from(core.stage) {
            if !rule.event {
                if let Some(c) = rule.when.next_change(&core.profile, core.clock) {
                    t = t.min(c);
                }
            }
        }
        self.score_crossing(core, t)
    }

    /// The instant at which a model-based rule starts to hold, when that is
    /// before `t`: between `core.clock` and `t` only
    /// [`ScoreBelow`](super::Condition::ScoreBelow) conditions change (`t`
    /// is the next change of every other time-driven condition), and a score
    /// has no closed-form crossing time, so it is found by bisection to the
    /// second — assuming, as for P(alive), that the score only falls while
    /// no event arrives. `t` otherwise.
    fn score_crossing(&self, core: &Core, t: i64) -> i64 {
        let Some(score) = self.score.as_deref() else { return t };
        let score = score as &(dyn Fn(&SummaryRow) -> f64 + Send + Sync);
        if !self.model.rules_from(core.stage).any(|(_, r)| !r.event && r.when.uses_score()) {
            return t;
        }
        let holds = |at: i64| {
            let context = Context { profile: &core.profile, now: at, event: None, score: Some(score) };
            self.model.rules_from(core.stage).any(|(_, r)| !r.event && r.when.holds(&context))
        };
        let (mut lo, mut hi) = (core.clock, t - 1);
        if hi <= lo || !holds(t) || !holds(hi) || holds(lo) {
            return t;
        }
        // holds(hi), not holds(lo): the first second at which it holds.
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if holds(mid) { hi = mid } else { lo = mid }
        }
        hi
    }

    /// Fires the first rule that holds from the current stage, repeatedly
    /// (an event lets at most one event rule fire).
    fn evaluate(
        &self,
        core: &mut Core,
        now: i64,
        event: Option<EventClass>,
        mut out: Option<&mut Transitions>,
    ) -> Result<()> {
        let mut event = event;
        let score = self.score.as_deref().map(|f| f as &(dyn Fn(&SummaryRow) -> f64 + Send + Sync));
        for _ in 0..=self.model.len() {
            let context = Context { profile: &core.profile, now, event, score };
            let fired = self
                .model
                .rules_from(core.stage)
                .find(|(_, r)| (!r.event || event.is_some()) && r.when.holds(&context));
            let Some((id, rule)) = fired else { return Ok(()) };
            if let Some(out) = out.as_deref_mut() {
                out.push(core.stage, rule.to, now, id);
            }
            if rule.event {
                event = None;
            }
            core.stage = rule.to;
            core.since = now;
        }
        Err(Error::InvalidStageModel {
            model: self.model.name().to_string(),
            reason: format!("its rules cycle: more than {} transitions at one instant", self.model.len()),
        })
    }
}

/// A hash of what an event says, without allocating for the common kinds.
fn content_hash(event: &Event, at: i64, amount: i64, discount: i64, score: u8) -> u64 {
    let h = mix64(mix64(mix64(HASH_SEED ^ at as u64) ^ amount as u64) ^ discount as u64) ^ u64::from(score);
    match &event.kind {
        EventKind::OrderPlaced { order_id, items, .. } => {
            stable_hash(order_id.as_bytes(), h ^ u64::from(*items) << 8 ^ 1)
        }
        EventKind::OrderReturned { order_id, .. } => stable_hash(order_id.as_bytes(), h ^ 2),
        EventKind::ProductViewed { product_id } => stable_hash(product_id.as_bytes(), h ^ 3),
        EventKind::AddedToCart { product_id, quantity } => {
            stable_hash(product_id.as_bytes(), h ^ u64::from(*quantity) << 8 ^ 4)
        }
        EventKind::CheckoutStarted => mix64(h ^ 5),
        EventKind::EmailSent { campaign } => stable_hash(campaign.as_bytes(), h ^ 6),
        EventKind::EmailOpened { campaign } => stable_hash(campaign.as_bytes(), h ^ 7),
        EventKind::EmailClicked { campaign } => stable_hash(campaign.as_bytes(), h ^ 8),
        EventKind::SupportTicket { .. } => mix64(h ^ 9),
        EventKind::NpsAnswered { .. } => mix64(h ^ 10),
        EventKind::SiteVisit => mix64(h ^ 11),
        // Rare kinds (consent changes, unsubscribes, …): hash their
        // serialised form, which does not depend on the toolchain (snapshots
        // keep these hashes). Encoding these plain enums cannot fail.
        other => stable_hash(&serde_json::to_vec(other).unwrap_or_default(), h ^ 12),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Engagement;
    use crate::domain::consent::{ConsentChange, ConsentStatus};
    use crate::domain::event::NpsScore;
    use crate::lifecycle::{Condition, EcommerceLadder, Inactivity, Rule, StageModelDefinition};
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 1, 12, 0, 0).unwrap()
    }

    fn days(d: i64) -> DateTime<Utc> {
        t0() + TimeDelta::days(d)
    }

    fn order(id: &str, at: DateTime<Utc>, amount: &str) -> Event {
        Event::new(
            id,
            CustomerId::from(1),
            at,
            EventKind::OrderPlaced {
                order_id: id.into(),
                gross: Money::parse(amount, Currency::EUR).unwrap(),
                discount: Money::parse("0", Currency::EUR).unwrap(),
                items: 1,
            },
        )
        .unwrap()
    }

    fn engine() -> Lifecycle {
        Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR).lateness(TimeDelta::days(2))).unwrap()
    }

    fn names(engine: &Lifecycle, ts: &Transitions) -> Vec<(String, String, DateTime<Utc>)> {
        ts.iter()
            .map(|t| (engine.model().stage_name(t.to).to_string(), engine.model().rule_name(t.rule).to_string(), t.at))
            .collect()
    }

    const PINNED_ECOMMERCE_FINGERPRINT: u64 = 0x1a4c_f882_4ae8_374d;

    /// Snapshots carry the engine fingerprint: for a given model and
    /// settings it must not change between builds (it hashes the serialised
    /// definition, not a `Debug` rendering).
    #[test]
    fn engine_fingerprint_is_pinned() {
        let e = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR)).unwrap();
        assert_eq!(e.fingerprint, PINNED_ECOMMERCE_FINGERPRINT, "{:#x}", e.fingerprint);
        let other = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::USD)).unwrap();
        assert_ne!(other.fingerprint, e.fingerprint);
    }

    #[test]
    fn the_ecommerce_ladder_by_hand() {
        let e = engine();
        let mut s = e.new_customer(CustomerId::from(1), t0());
        let stage = |s: &CustomerState| e.model().stage_name(s.stage()).to_string();
        assert_eq!(stage(&s), "prospect");
        let a = e.apply(&mut s, &order("o1", days(1), "10")).unwrap();
        assert_eq!(names(&e, &a.transitions), [("new".into(), "first_order".into(), days(1))]);
        e.apply(&mut s, &order("o2", days(10), "10")).unwrap();
        assert_eq!(stage(&s), "active");
        for k in 3..=5 {
            e.apply(&mut s, &order(&format!("o{k}"), days(10 + k), "10")).unwrap();
        }
        assert_eq!(stage(&s), "loyal");
        // Last order on day 15: at risk on day 105, lapsed on 195, churned on 380.
        let moved = e.advance_to(&mut s, days(400)).unwrap();
        assert_eq!(
            names(&e, &moved),
            [
                ("at_risk".into(), "at_risk".into(), days(105)),
                ("lapsed".into(), "lapsed".into(), days(195)),
                ("churned".into(), "churned".into(), days(380)),
            ]
        );
        let back = e.apply(&mut s, &order("o6", days(401), "10")).unwrap();
        assert_eq!(names(&e, &back.transitions), [("reactivated".into(), "won_back".into(), days(401))]);
        // The next order repeats (reactivated → active), and 7 orders ≥ 5 chain on to loyal.
        let again = e.apply(&mut s, &order("o7", days(402), "10")).unwrap();
        assert_eq!(
            names(&e, &again.transitions),
            [("active".into(), "repeat_order".into(), days(402)), ("loyal".into(), "became_loyal".into(), days(402))]
        );
        assert_eq!(s.stage_since(), days(402));
        e.apply(&mut s, &order("o8", days(403), "10")).unwrap();
        assert_eq!(stage(&s), "loyal");
        // An event long after the last one fires the time-driven transitions first.
        let late = e.apply(&mut s, &order("o9", days(403 + 200), "10")).unwrap();
        assert_eq!(
            names(&e, &late.transitions),
            [
                ("at_risk".into(), "at_risk".into(), days(493)),
                ("lapsed".into(), "lapsed".into(), days(583)),
                ("reactivated".into(), "won_back".into(), days(603)),
            ]
        );
        assert_eq!(s.profile().orders(), 9);
    }

    #[test]
    fn cadence_inactivity_uses_the_customers_own_rhythm() {
        let ladder = EcommerceLadder::default()
            .inactivity(Inactivity::Cadence {
                at_risk_sigmas: 1.0,
                lapsed_sigmas: 2.0,
                at_risk_days: 90,
                lapsed_days: 180,
                churned_days: 365,
            })
            .build()
            .unwrap();
        let e = Lifecycle::new(ladder, EngineOptions::new(Currency::EUR)).unwrap();
        let mut s = e.new_customer(CustomerId::from(1), t0());
        // Gaps of 10, 20, 30 days: mean 20, sd 10.
        for (k, d) in [0, 10, 30, 60].into_iter().enumerate() {
            e.apply(&mut s, &order(&format!("o{k}"), days(d), "5")).unwrap();
        }
        assert_eq!(s.profile().inter_purchase_days(), (20.0, 10.0, 3));
        let moved = e.advance_to(&mut s, days(200)).unwrap();
        let got = names(&e, &moved);
        // At risk once more than 30 days passed (day 90 + 1 s), lapsed after 40 (day 100 + 1 s).
        assert_eq!(got[0].0, "at_risk");
        assert_eq!(got[0].2, days(90) + TimeDelta::seconds(1));
        assert_eq!(got[1].0, "lapsed");
        assert_eq!(got[1].2, days(100) + TimeDelta::seconds(1));
    }

    #[test]
    fn model_based_inactivity_needs_a_score_and_uses_it() {
        let ladder = EcommerceLadder::default()
            .inactivity(Inactivity::ModelScore { at_risk_below: 0.5, lapsed_below: 0.2, churned_below: 0.05 })
            .build()
            .unwrap();
        assert!(matches!(
            Lifecycle::new(ladder.clone(), EngineOptions::new(Currency::EUR)),
            Err(Error::InvalidStageModel { .. })
        ));
        // A toy score: halves every 10 weeks since the last purchase.
        let e = Lifecycle::with_score(ladder, EngineOptions::new(Currency::EUR), |row: &SummaryRow| {
            0.5f64.powf((row.age - row.recency) / 10.0)
        })
        .unwrap();
        let mut s = e.new_customer(CustomerId::from(1), t0());
        e.apply(&mut s, &order("o1", days(0), "5")).unwrap();
        let moved = e.advance_to(&mut s, days(7 * 11)).unwrap(); // 11 weeks: 0.47 < 0.5
        assert_eq!(e.model().stage_name(s.stage()), "at_risk");
        // Dated at the crossing, found by bisection. Summary rows count
        // whole days, so the score first falls below 0.5 when the day 71
        // days after the order's begins (T − t_x > 10 weeks).
        let midnight = |d: i64| Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap() + TimeDelta::days(d);
        assert_eq!(names(&e, &moved).last().unwrap().2, midnight(71));
        let moved = e.advance_to(&mut s, days(7 * 40)).unwrap(); // 40 weeks: 0.0625 < 0.2
        assert_eq!(e.model().stage_name(s.stage()), "lapsed");
        // Below 0.2 once more than 10·log₂5 weeks (162.53 days) have passed: day 163.
        assert_eq!(names(&e, &moved).last().unwrap().2, midnight(163));
        // The same instants when the engine is called once, long after.
        let mut late = e.new_customer(CustomerId::from(1), t0());
        e.apply(&mut late, &order("o1", days(0), "5")).unwrap();
        let all = names(&e, &e.advance_to(&mut late, days(7 * 40)).unwrap());
        assert_eq!((all[0].2, all[1].2), (midnight(71), midnight(163)));
    }

    fn events_for(seed: u64) -> Vec<Event> {
        // Orders, views, carts, NPS over 40 days, some at the same second.
        let mut state = seed | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        (0..30)
            .map(|k| {
                let at = t0() + TimeDelta::seconds((next() % (40 * 86_400)) as i64 / 3600 * 3600);
                let id = format!("e{k}");
                let kind = match next() % 4 {
                    0 => EventKind::OrderPlaced {
                        order_id: id.clone(),
                        gross: Money::parse(&format!("{}.{}", next() % 90 + 1, next() % 100), Currency::EUR).unwrap(),
                        discount: Money::parse("1", Currency::EUR).unwrap(),
                        items: 1,
                    },
                    1 => EventKind::ProductViewed { product_id: "p".into() },
                    2 => EventKind::AddedToCart { product_id: "p".into(), quantity: 1 },
                    _ => EventKind::NpsAnswered { score: NpsScore::new((next() % 11) as u8).unwrap() },
                };
                Event::new(id, CustomerId::from(1), at, kind).unwrap()
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Any delivery order within the lateness window ends in the state of
        /// in-order delivery, replays included.
        #[test]
        fn out_of_order_within_the_window_equals_in_order(seed in 1u64..u64::MAX, swaps in proptest::collection::vec((0usize..30, 0usize..30), 0..40)) {
            let e = Lifecycle::new(StageModel::funnel(), EngineOptions::new(Currency::EUR).lateness(TimeDelta::days(50))).unwrap();
            let mut events = events_for(seed);
            let mut in_order = events.clone();
            in_order.sort_by_key(|ev| (ev.at.timestamp(), stable_hash(ev.id.0.as_bytes(), HASH_SEED)));
            let mut expected = e.new_customer(CustomerId::from(1), t0());
            for ev in &in_order {
                e.apply(&mut expected, ev).unwrap();
            }
            for (a, b) in swaps {
                events.swap(a, b);
            }
            events.push(events[3].clone()); // a replay
            let mut got = e.new_customer(CustomerId::from(1), t0());
            for ev in &events {
                e.apply(&mut got, ev).unwrap();
            }
            let end = t0() + TimeDelta::days(60);
            e.advance_to(&mut expected, end).unwrap();
            e.advance_to(&mut got, end).unwrap();
            prop_assert_eq!(got.current, expected.current);
            prop_assert_eq!(got.profile().orders(), in_order.iter().filter(|ev| matches!(ev.kind, EventKind::OrderPlaced { .. })).count() as u32);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// `next_due` is the instant of the first time-driven transition:
        /// advancing to a second before it moves nothing, advancing to it
        /// moves the stage then; `None` means nothing moves within the
        /// horizon. On three stage models, after any prefix of a stream.
        #[test]
        fn next_due_is_the_first_time_driven_transition(seed in 1u64..u64::MAX, prefix in 0usize..30, model in 0usize..3) {
            let model = [StageModel::ecommerce(), StageModel::funnel(), StageModel::five_phase()][model].clone();
            let e = Lifecycle::new(model, EngineOptions::new(Currency::EUR)).unwrap();
            let mut events = events_for(seed);
            events.sort_by_key(|ev| (ev.at.timestamp(), stable_hash(ev.id.0.as_bytes(), HASH_SEED)));
            let mut state = e.new_customer(CustomerId::from(1), t0());
            for ev in events.iter().take(prefix) {
                e.apply(&mut state, ev).unwrap();
            }
            match e.next_due(&state).unwrap() {
                Some(due) => {
                    prop_assert!(due >= state.clock());
                    let mut early = state.clone();
                    if due > state.clock() {
                        prop_assert!(e.advance_to(&mut early, due - TimeDelta::seconds(1)).unwrap().is_empty());
                    }
                    let moved = e.advance_to(&mut state, due).unwrap();
                    prop_assert_eq!(moved.iter().next().map(|t| t.at), Some(due));
                }
                None => {
                    let end = state.clock() + TimeDelta::days(NEXT_DUE_HORIZON_DAYS);
                    prop_assert!(e.advance_to(&mut state, end).unwrap().is_empty());
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(160))]
        /// With a short window: events delayed behind up to eight later ones
        /// (each still inside the window on arrival) end in the in-order
        /// state, across checkpoints.
        #[test]
        fn short_window_swaps_equal_in_order(seed in 1u64..u64::MAX, picks in proptest::collection::vec((0usize..21, 1usize..9), 0..15)) {
            let lateness = TimeDelta::days(3);
            let e = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR).lateness(lateness)).unwrap();
            let mut in_order = events_for(seed);
            in_order.sort_by_key(|ev| (ev.at.timestamp(), stable_hash(ev.id.0.as_bytes(), HASH_SEED)));
            // Delay event i behind the next k events when they are all within the window.
            let mut delivered = in_order.clone();
            let mut used = vec![false; delivered.len()];
            for (i, k) in picks {
                let j = i + k;
                if used[i..=j].iter().all(|u| !u) && delivered[j].at - delivered[i].at < lateness {
                    delivered[i..=j].rotate_left(1);
                    used[i..=j].iter_mut().for_each(|u| *u = true);
                }
            }
            let mut expected = e.new_customer(CustomerId::from(1), t0());
            let mut got = e.new_customer(CustomerId::from(1), t0());
            for ev in &in_order {
                e.apply(&mut expected, ev).unwrap();
            }
            for ev in &delivered {
                e.apply(&mut got, ev).unwrap();
            }
            let end = t0() + TimeDelta::days(60);
            e.advance_to(&mut expected, end).unwrap();
            e.advance_to(&mut got, end).unwrap();
            prop_assert_eq!(got.current, expected.current);
        }
    }

    #[test]
    fn late_duplicate_conflicting_future_and_backwards_are_typed() {
        let e = engine();
        let mut s = e.new_customer(CustomerId::from(1), t0());
        e.apply(&mut s, &order("o1", days(10), "10")).unwrap();
        // Replay: no-op.
        let again = e.apply(&mut s, &order("o1", days(10), "10")).unwrap();
        assert!(again.duplicate && again.transitions.is_empty());
        // Same id, other content.
        assert!(matches!(e.apply(&mut s, &order("o1", days(10), "11")), Err(Error::ConflictingDuplicate { .. })));
        // The same for the rarer kinds (hashed from their serialised form).
        let consent = |status| {
            let change = ConsentChange::new(Purpose::Marketing, Channel::Email, status);
            Event::new("c1", CustomerId::from(1), days(10), EventKind::ConsentChanged(change)).unwrap()
        };
        e.apply(&mut s, &consent(ConsentStatus::Withdrawn)).unwrap();
        assert!(e.apply(&mut s, &consent(ConsentStatus::Withdrawn)).unwrap().duplicate);
        let conflict = e.apply(&mut s, &consent(ConsentStatus::Granted));
        assert!(matches!(conflict, Err(Error::ConflictingDuplicate { .. })), "{conflict:?}");
        // Within the 2-day window: applied, restated.
        let late = e.apply(&mut s, &order("o0", days(9), "10")).unwrap();
        assert!(late.restated);
        assert_eq!(s.profile().orders(), 2);
        // Beyond it: an error, and nothing changes.
        let before = s.clone();
        let err = e.apply(&mut s, &order("old", days(7), "10")).unwrap_err();
        assert!(matches!(err, Error::LateEvent { .. }), "{err}");
        assert_eq!(s, before);
        // In the future of an explicit now.
        assert!(matches!(e.apply_at(&mut s, &order("f", days(30), "1"), days(20)), Err(Error::EventInFuture { .. })));
        // Back in time.
        assert!(matches!(e.advance_to(&mut s, days(5)), Err(Error::ClockBehind { .. })));
        // Another customer, another currency, too many decimals.
        let mut other = order("x", days(11), "1");
        other.customer = CustomerId::from(2);
        assert!(e.apply(&mut s, &other).is_err());
        let usd = Event::new(
            "u",
            CustomerId::from(1),
            days(11),
            EventKind::OrderReturned { order_id: "o1".into(), amount: Money::parse("1", Currency::USD).unwrap() },
        )
        .unwrap();
        assert!(matches!(e.apply(&mut s, &usd), Err(Error::MixedCurrency { .. })));
        assert!(matches!(e.apply(&mut s, &order("p", days(11), "1.00001")), Err(Error::InvalidAmount { .. })));
        // A state of another engine.
        let five = Lifecycle::new(StageModel::five_phase(), EngineOptions::new(Currency::EUR)).unwrap();
        assert!(five.apply(&mut s, &order("q", days(11), "1")).is_err());
        // Zero lateness: only in order.
        let strict =
            Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR).lateness(TimeDelta::zero()))
                .unwrap();
        let mut s = strict.new_customer(CustomerId::from(1), t0());
        strict.apply(&mut s, &order("a", days(3), "1")).unwrap();
        assert!(matches!(strict.apply(&mut s, &order("b", days(2), "1")), Err(Error::LateEvent { .. })));
        assert!(
            Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR).lateness(TimeDelta::hours(-1)))
                .is_err()
        );
    }

    #[test]
    fn an_order_under_two_event_ids_counts_once() {
        let e = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR)).unwrap();
        let mut s = e.new_customer(CustomerId::from(1), t0());
        let first = order("o1", days(1), "10");
        let resent = Event::new("other-delivery-id", CustomerId::from(1), days(1), first.kind.clone()).unwrap();
        e.apply(&mut s, &first).unwrap();
        assert!(e.apply(&mut s, &resent).unwrap().duplicate);
        assert_eq!(s.profile().orders(), 1);
        // The log agrees: one order.
        let mut log = crate::log::transactions::TransactionLog::new(Currency::EUR);
        assert!(log.push_event(&first).unwrap());
        assert!(!log.push_event(&resent).unwrap());
        // Other content under the same order id is a conflict.
        let mut changed = first.kind.clone();
        if let EventKind::OrderPlaced { gross, .. } = &mut changed {
            *gross = Money::parse("99", Currency::EUR).unwrap();
        }
        let conflicting = Event::new("third-id", CustomerId::from(1), days(1), changed).unwrap();
        assert!(matches!(e.apply(&mut s, &conflicting), Err(Error::ConflictingDuplicate { .. })));
    }

    #[test]
    fn a_tampered_state_is_refused_not_indexed() {
        let e = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR)).unwrap();
        let mut s = e.new_customer(CustomerId::from(1), t0());
        e.apply(&mut s, &Event::new("v", CustomerId::from(1), days(1), EventKind::SiteVisit).unwrap()).unwrap();
        let json = serde_json::to_string(&s).unwrap();
        // A stage the model lacks, under the right fingerprint: refused by the engine.
        let stage = json.replacen("\"stage\":0", "\"stage\":42", 1);
        assert_ne!(stage, json);
        let mut tampered: CustomerState = serde_json::from_str(&stage).unwrap();
        assert!(e.advance_to(&mut tampered, days(400)).is_err());
        assert!(e.apply(&mut tampered, &order("o1", days(2), "10")).is_err());
        // An engagement day near i32::MIN: refused on load.
        let day = json.replacen("\"engagement\":[19724", "\"engagement\":[-2147483000", 1);
        assert_ne!(day, json, "{json}");
        assert!(serde_json::from_str::<CustomerState>(&day).is_err());
        // Negative totals: refused on load.
        let paid = json.replacen("\"gross\":0", "\"gross\":-5", 1);
        assert_ne!(paid, json);
        assert!(serde_json::from_str::<CustomerState>(&paid).is_err());
        // A lateness window of i64::MAX seconds: refused by the engine.
        let huge = EngineOptions::new(Currency::EUR).lateness(TimeDelta::MAX);
        assert!(Lifecycle::new(StageModel::ecommerce(), huge).is_err());
        // Saved options naming a unit of 0 days: refused by the engine.
        let json = serde_json::to_string(&EngineOptions::new(Currency::EUR)).unwrap();
        let zero: EngineOptions =
            serde_json::from_str(&json.replace("\"unit\":\"week\"", "\"unit\":{\"days\":0}")).unwrap();
        assert!(Lifecycle::new(StageModel::ecommerce(), zero).is_err());
    }

    #[test]
    fn a_rule_cycle_fails_without_a_trace() {
        // Two state rules that keep moving a buyer back and forth.
        let definition = StageModelDefinition {
            name: "ping-pong".into(),
            stages: vec!["a".into(), "b".into()],
            initial: "a".into(),
            rules: vec![
                Rule::new("ab", &["a"], "b", Condition::OrdersAtLeast { orders: 1 }),
                Rule::new("ba", &["b"], "a", Condition::OrdersAtLeast { orders: 1 }),
            ],
        };
        let model = StageModel::new(definition).unwrap();
        assert!(model.may_cycle());
        let e = Lifecycle::new(model, EngineOptions::new(Currency::EUR)).unwrap();
        let mut s = e.new_customer(CustomerId::from(1), t0());
        e.apply(&mut s, &Event::new("v", CustomerId::from(1), days(1), EventKind::SiteVisit).unwrap()).unwrap();
        let before = serde_json::to_string(&s).unwrap();
        assert!(e.apply(&mut s, &order("o1", days(2), "10")).is_err());
        assert_eq!(serde_json::to_string(&s).unwrap(), before);
        assert!(!StageModel::ecommerce().may_cycle());
    }

    #[test]
    fn consent_changes_are_never_refused_as_late() {
        let e = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR)).unwrap();
        let mut s = e.new_customer(CustomerId::from(1), t0());
        e.apply(&mut s, &order("o1", days(1), "10")).unwrap();
        e.advance_to(&mut s, days(30)).unwrap();
        let grant = ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Granted);
        let withdraw = ConsentChange::new(Purpose::Marketing, Channel::Any, ConsentStatus::Withdrawn);
        let consent =
            |id: &str, at, change| Event::new(id, CustomerId::from(1), at, EventKind::ConsentChanged(change)).unwrap();
        // Both far older than the one-hour window; an order that old is refused.
        assert!(matches!(e.apply(&mut s, &order("o0", days(2), "10")), Err(Error::LateEvent { .. })));
        assert!(!e.apply(&mut s, &consent("c1", days(2), grant)).unwrap().duplicate);
        assert!(!e.apply(&mut s, &consent("c2", days(5), withdraw.clone())).unwrap().duplicate);
        assert!(e.apply(&mut s, &consent("c2", days(5), withdraw)).unwrap().duplicate);
        assert!(s.consent().may_contact(&Channel::Email, &Purpose::Marketing, days(3)));
        assert!(!s.consent().may_contact(&Channel::Email, &Purpose::Marketing, days(6)));
        let unsubscribe =
            Event::new("u1", CustomerId::from(1), days(4), EventKind::Unsubscribed { channel: Channel::Sms }).unwrap();
        assert!(e.apply(&mut s, &unsubscribe).is_ok());
    }

    #[test]
    fn snapshot_restore_continues_bit_identically() {
        let e = Lifecycle::new(StageModel::funnel(), EngineOptions::new(Currency::EUR).lateness(TimeDelta::days(50)))
            .unwrap();
        let events = events_for(99);
        let mut a = e.new_customer(CustomerId::from(1), t0());
        for ev in &events[..15] {
            e.apply(&mut a, ev).unwrap();
        }
        let json = serde_json::to_string(&a).unwrap();
        let mut b: CustomerState = serde_json::from_str(&json).unwrap();
        assert_eq!(b, a);
        for ev in &events[15..] {
            let x = e.apply(&mut a, ev).unwrap();
            let y = e.apply(&mut b, ev).unwrap();
            assert_eq!(x, y);
        }
        e.advance_to(&mut a, days(100)).unwrap();
        e.advance_to(&mut b, days(100)).unwrap();
        assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
        let tampered = json.replace(&format!("\"format_version\":{STATE_FORMAT_VERSION}"), "\"format_version\":7");
        assert_ne!(tampered, json);
        assert!(serde_json::from_str::<CustomerState>(&tampered).is_err());
    }

    #[test]
    fn funnel_and_five_phase_walkthroughs() {
        let e = Lifecycle::new(StageModel::funnel(), EngineOptions::new(Currency::EUR)).unwrap();
        let stage = |s: &CustomerState| e.model().stage_name(s.stage()).to_string();
        let mut s = e.new_customer(CustomerId::from(1), t0());
        let view =
            Event::new("v", CustomerId::from(1), days(1), EventKind::ProductViewed { product_id: "p".into() }).unwrap();
        e.apply(&mut s, &view).unwrap();
        assert_eq!(stage(&s), "consideration");
        e.apply(&mut s, &order("o1", days(2), "10")).unwrap();
        assert_eq!(stage(&s), "purchase");
        e.advance_to(&mut s, days(4)).unwrap();
        assert_eq!(stage(&s), "post_purchase");
        e.apply(&mut s, &order("o2", days(20), "10")).unwrap();
        assert_eq!(stage(&s), "retention");
        let nps = Event::new(
            "n",
            CustomerId::from(1),
            days(21),
            EventKind::NpsAnswered { score: NpsScore::new(10).unwrap() },
        )
        .unwrap();
        e.apply(&mut s, &nps).unwrap();
        assert_eq!(stage(&s), "advocacy");
        e.advance_to(&mut s, days(200)).unwrap();
        assert_eq!(stage(&s), "re_engagement");
        assert_eq!(s.stage_since(), days(110));

        let f = Lifecycle::new(StageModel::five_phase(), EngineOptions::new(Currency::EUR)).unwrap();
        let stage = |s: &CustomerState| f.model().stage_name(s.stage()).to_string();
        let mut s = f.new_customer(CustomerId::from(1), t0());
        f.apply(&mut s, &order("o1", days(1), "10")).unwrap();
        assert_eq!(stage(&s), "new_customer");
        f.apply(&mut s, &order("o2", days(5), "10")).unwrap();
        assert_eq!(stage(&s), "regular_customer");
        f.advance_to(&mut s, days(5 + 365)).unwrap();
        assert_eq!(stage(&s), "former_customer");
        f.apply(&mut s, &order("o3", days(400), "10")).unwrap();
        assert_eq!(stage(&s), "regular_customer");
    }

    #[test]
    fn engagement_windows_and_custom_rules() {
        // "Engaged browser": 3 product views within 7 days; back to idle when fewer.
        let model = StageModel::new(StageModelDefinition {
            name: "browsing".into(),
            stages: vec!["idle".into(), "engaged".into()],
            initial: "idle".into(),
            rules: vec![
                Rule::new(
                    "hot",
                    &["idle"],
                    "engaged",
                    Condition::EngagementAtLeast { kind: Engagement::ProductViews, count: 3, days: 7 },
                ),
                Rule::new(
                    "cooled",
                    &["engaged"],
                    "idle",
                    Condition::Not {
                        not: Box::new(Condition::EngagementAtLeast {
                            kind: Engagement::ProductViews,
                            count: 3,
                            days: 7,
                        }),
                    },
                ),
            ],
        })
        .unwrap();
        let e = Lifecycle::new(model, EngineOptions::new(Currency::EUR)).unwrap();
        let mut s = e.new_customer(CustomerId::from(1), t0());
        for (k, d) in [0, 2, 4].into_iter().enumerate() {
            let v = Event::new(
                format!("v{k}"),
                CustomerId::from(1),
                days(d),
                EventKind::ProductViewed { product_id: "p".into() },
            )
            .unwrap();
            e.apply(&mut s, &v).unwrap();
        }
        assert_eq!(e.model().stage_name(s.stage()), "engaged");
        assert_eq!(s.profile().engagement(Engagement::ProductViews, 7, days(4)), 3);
        // The day-0 view leaves the 7-day window at the start of day 7 (UTC calendar days).
        let moved = e.advance_to(&mut s, days(30)).unwrap();
        let t = moved.last().unwrap();
        assert_eq!(e.model().stage_name(t.to), "idle");
        assert_eq!(t.at, Utc.with_ymd_and_hms(2024, 1, 8, 0, 0, 0).unwrap());
    }
}
