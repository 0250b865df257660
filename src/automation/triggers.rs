//! Triggers: condition + action + limits, checked against consent at every firing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::segments::{CompiledSegment, CustomerView, Segment};
use crate::domain::bounded::bounded_vec;
use crate::domain::consent::{Channel, Purpose};
use crate::domain::event::{Event, EventClass, EventKind};
use crate::error::{Error, Result};
use crate::lifecycle::{Applied, StageId, StageModel, Transition};
use crate::math::hash::{HASH_SEED, fnv1a64, stable_hash};

/// "…unless an event of `kind` follows within `within_minutes`": the
/// trigger waits that long and fires only if none came.
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
pub struct Unless {
    /// The cancelling event.
    pub kind: EventClass,
    /// The wait.
    pub within_minutes: u32,
}

/// When a trigger fires.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum TriggerCondition {
    /// At least `at_least` (1..=8) events of `kind` within `within_minutes`,
    /// optionally of the same product, optionally not followed by another
    /// event within a delay (e.g. a cart addition and no order within an
    /// hour). The count starts over after a match.
    Events {
        /// What is counted.
        kind: EventClass,
        /// How many.
        at_least: u32,
        /// Within how long.
        within_minutes: u32,
        /// Counting only events of the same product as the latest.
        same_product: bool,
        /// The cancelling event, if any.
        unless: Option<Unless>,
    },
    /// The customer entered this lifecycle stage. Transitions restated
    /// after a late event, at or before the latest one already acted on,
    /// do not fire again.
    StageEntered {
        /// The stage's name.
        stage: String,
    },
    /// No activity (any event) for `days` days; fires once per quiet spell.
    NoActivityFor {
        /// Days.
        days: u32,
    },
    /// The customer entered a segment (it holds now and did not at the
    /// previous evaluation): thresholds crossed (P(alive) below a level, a
    /// CLV reached), a churn band reached, …
    SegmentEntered {
        /// The segment.
        segment: Segment,
    },
}

/// What the host application should do; opaque to the crate.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Action {
    /// The action's id (e.g. a template or campaign).
    pub id: String,
    /// Through which channel.
    pub channel: Channel,
    /// For which purpose (consent is checked for it).
    pub purpose: Purpose,
    /// Anything the application needs.
    pub payload: String,
}

/// A rule: condition, action, and whether it may fire only once per customer.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct TriggerRule {
    /// A unique name.
    pub name: String,
    /// When.
    pub when: TriggerCondition,
    /// What.
    pub action: Action,
    /// At most one firing per customer, ever.
    pub once_per_customer: bool,
}

/// At most `max` firings per customer on a channel within `per_hours`.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct FrequencyCap {
    /// The channel.
    pub channel: Channel,
    /// Firings allowed (1..=16).
    pub max: u32,
    /// The window.
    pub per_hours: u32,
}

/// The limits shared by every rule.
#[derive(Clone, PartialEq, Debug, Default, Serialize, Deserialize)]
pub struct Limits {
    /// Frequency caps per channel.
    pub caps: Vec<FrequencyCap>,
    /// No firing for this long after a return (e.g. no upsell).
    pub quiet_after_return_hours: u32,
    /// No firing for this long after a complaint (a support ticket or an NPS answer of 6 or less).
    pub quiet_after_complaint_hours: u32,
}

/// Why a firing was suppressed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Suppression {
    /// No consent for the action's purpose and channel at that time.
    NoConsent,
    /// The channel's frequency cap was reached.
    FrequencyCap,
    /// Within the quiet period after a return.
    QuietAfterReturn,
    /// Within the quiet period after a complaint.
    QuietAfterComplaint,
    /// The rule fires once per customer, and already did.
    OncePerCustomer,
}

/// A rule's firing (or suppressed firing) at an instant.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct Firing {
    /// The rule's index in [`Triggers::rules`].
    pub rule: usize,
    /// When.
    pub at: i64,
    /// `None` when it fired; the reason when suppressed.
    pub suppressed: Option<Suppression>,
}

impl Firing {
    /// The firing's time.
    pub fn time(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.at, 0).unwrap_or_default()
    }
}

/// Firings of one call, inline up to 4 (no allocation when nothing fires).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Firings {
    len: usize,
    inline: [Firing; 4],
    spill: Vec<Firing>,
}

impl Firings {
    fn push(&mut self, f: Firing) {
        if self.len < self.inline.len() {
            self.inline[self.len] = f;
        } else {
            self.spill.push(f);
        }
        self.len += 1;
    }

    /// Number of firings (fired or suppressed).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing fired.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The firings in order.
    pub fn iter(&self) -> impl Iterator<Item = &Firing> {
        self.inline[..self.len.min(self.inline.len())].iter().chain(self.spill.iter())
    }
}

const RING: usize = 8;
const NEVER: i64 = i64::MIN;

/// Per-rule memory of one customer.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
struct RuleState {
    /// Recent matching events: (time, product hash), oldest overwritten.
    recent: [(i64, u64); RING],
    next: usize,
    /// Deadline of a pattern waiting for its `unless` window.
    pending: Option<i64>,
    fired: bool,
    /// Segment membership at the last evaluation.
    inside: bool,
    /// The quiet spell (its last activity) already fired for.
    quiet_fired_for: i64,
}

impl Default for RuleState {
    fn default() -> Self {
        RuleState {
            recent: [(NEVER, 0); RING],
            next: 0,
            pending: None,
            fired: false,
            inside: false,
            quiet_fired_for: NEVER,
        }
    }
}

validated_serde! {
/// One customer's trigger memory; created by [`Triggers::new_state`],
/// serialisable, and checked when loaded.
///
/// A memory belongs to the rule set that created it (it carries that
/// set's fingerprint). Used with another rule set — rules added, removed
/// or changed, an ordinary configuration change — it starts afresh: every
/// rule as if new, nothing carried over to a rule it was not made for.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TriggerState {
    /// Fingerprint of the [`Triggers`] it was made for.
    triggers: u64,
    /// One per rule; a longer list is refused while it is read.
    #[serde(deserialize_with = "bounded_vec::<_, _, MAX_TRIGGER_RULES>")]
    rules: Vec<RuleState>,
    /// Firing times per cap, oldest overwritten.
    #[serde(deserialize_with = "bounded_vec::<_, _, MAX_TRIGGER_RULES>")]
    cap_times: Vec<[i64; 16]>,
    last_return: i64,
    last_complaint: i64,
    last_activity: i64,
    /// The instant of the latest stage transitions acted on, and which
    /// (from, to) they were: a late event restates the transitions after
    /// its time, and those already acted on must not fire again.
    transitions_until: i64,
    #[serde(deserialize_with = "bounded_vec::<_, _, MAX_ACTED>")]
    acted: Vec<(StageId, StageId)>,
}
}

/// The most (from, to) pairs acted on at one instant: every pair of stages.
const MAX_ACTED: usize = crate::lifecycle::MAX_STAGES * crate::lifecycle::MAX_STAGES;

impl TriggerState {
    /// A loaded memory is refused unless the code could have produced it.
    fn check_consistent(&self) -> Result<()> {
        let bad = |reason: String| Error::InvalidArgument { name: "trigger state", reason };
        if self.rules.len() > MAX_TRIGGER_RULES || self.cap_times.len() > MAX_TRIGGER_RULES {
            return Err(bad(format!("{} rules and {} caps", self.rules.len(), self.cap_times.len())));
        }
        if let Some(r) = self.rules.iter().position(|r| r.next >= RING) {
            return Err(bad(format!("rule {r}: ring position {} of {RING}", self.rules[r].next)));
        }
        if self.acted.len() > MAX_ACTED {
            return Err(bad(format!("{} transitions acted on at one instant", self.acted.len())));
        }
        Ok(())
    }
}

/// Most rules (and caps) a rule set may have.
pub const MAX_TRIGGER_RULES: usize = 4096;

/// A validated set of trigger rules with their limits.
///
/// ```
/// use customer_lifecycle::automation::{Action, Limits, TriggerCondition, TriggerRule, Triggers, Unless};
/// use customer_lifecycle::lifecycle::StageModel;
/// use customer_lifecycle::{Channel, EventClass, Purpose};
///
/// let abandoned_cart = TriggerRule {
///     name: "abandoned_cart".into(),
///     when: TriggerCondition::Events {
///         kind: EventClass::CartAddition,
///         at_least: 1,
///         within_minutes: 60,
///         same_product: false,
///         unless: Some(Unless { kind: EventClass::Order, within_minutes: 60 }),
///     },
///     action: Action { id: "cart-reminder".into(), channel: Channel::Email, purpose: Purpose::Marketing, payload: String::new() },
///     once_per_customer: false,
/// };
/// let triggers = Triggers::new(vec![abandoned_cart], Limits::default(), &StageModel::ecommerce())?;
/// assert_eq!(triggers.rules().len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(try_from = "TriggersDefinition", into = "TriggersDefinition")]
pub struct Triggers {
    rules: Vec<TriggerRule>,
    limits: Limits,
    /// The stage model the rules were checked against; saved with them, so
    /// that loading compiles and checks everything again.
    model: StageModel,
    /// Resolved stages of `StageEntered` rules.
    stages: Vec<Option<StageId>>,
    /// Compiled segments of `SegmentEntered` rules.
    segments: Vec<Option<CompiledSegment>>,
    /// Stable hash of the rules and limits, carried by every memory.
    fingerprint: u64,
}

/// The saved form of [`Triggers`]: what [`Triggers::new`] takes.
#[derive(Clone, Serialize, Deserialize)]
struct TriggersDefinition {
    #[serde(deserialize_with = "bounded_vec::<_, _, MAX_TRIGGER_RULES>")]
    rules: Vec<TriggerRule>,
    limits: Limits,
    model: StageModel,
}

impl TryFrom<TriggersDefinition> for Triggers {
    type Error = Error;
    fn try_from(d: TriggersDefinition) -> Result<Triggers> {
        Triggers::new(d.rules, d.limits, &d.model)
    }
}

impl From<Triggers> for TriggersDefinition {
    fn from(t: Triggers) -> TriggersDefinition {
        TriggersDefinition { rules: t.rules, limits: t.limits, model: t.model }
    }
}

fn invalid(rule: &str, reason: impl Into<String>) -> Error {
    Error::InvalidArgument { name: "trigger rule", reason: format!("{rule}: {}", reason.into()) }
}

impl Triggers {
    /// Validates the rules against a stage model.
    ///
    /// ```
    /// use customer_lifecycle::{Channel, Purpose};
    /// use customer_lifecycle::automation::{Action, Limits, TriggerCondition, TriggerRule, Triggers};
    /// use customer_lifecycle::lifecycle::StageModel;
    /// let welcome = TriggerRule {
    ///     name: "welcome".into(),
    ///     when: TriggerCondition::StageEntered { stage: "new".into() },
    ///     action: Action { id: "welcome-mail".into(), channel: Channel::Email, purpose: Purpose::Marketing, payload: String::new() },
    ///     once_per_customer: true,
    /// };
    /// let triggers = Triggers::new(vec![welcome], Limits::default(), &StageModel::ecommerce())?;
    /// assert_eq!(triggers.rules().len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the rule: an empty or repeated
    /// name, an empty action id, an unknown stage, an empty window (0
    /// minutes or days), a count outside 1..=8, an invalid segment; a cap of
    /// zero (or above 16) firings or of a 0-hour window.
    pub fn new(rules: Vec<TriggerRule>, limits: Limits, model: &StageModel) -> Result<Triggers> {
        let mut stages = Vec::with_capacity(rules.len());
        let mut segments = Vec::with_capacity(rules.len());
        for (i, rule) in rules.iter().enumerate() {
            let name = rule.name.as_str();
            if i >= MAX_TRIGGER_RULES {
                return Err(invalid(name, format!("more than {MAX_TRIGGER_RULES} rules")));
            }
            if name.is_empty() || rules[..i].iter().any(|r| r.name == rule.name) {
                return Err(invalid(name, "empty or repeated name"));
            }
            if rule.action.id.is_empty() {
                return Err(invalid(name, "empty action id"));
            }
            let (mut stage, mut segment) = (None, None);
            match &rule.when {
                TriggerCondition::Events { at_least, within_minutes, unless, .. } => {
                    if !(1..=RING as u32).contains(at_least) {
                        return Err(invalid(name, format!("count {at_least} outside 1..={RING}")));
                    }
                    if *within_minutes == 0 || unless.is_some_and(|u| u.within_minutes == 0) {
                        return Err(invalid(name, "an empty window"));
                    }
                }
                TriggerCondition::StageEntered { stage: s } => {
                    stage = Some(model.stage(s).ok_or_else(|| invalid(name, format!("unknown stage {s:?}")))?);
                }
                TriggerCondition::NoActivityFor { days } => {
                    if *days == 0 {
                        return Err(invalid(name, "an empty window"));
                    }
                }
                TriggerCondition::SegmentEntered { segment: definition } => {
                    segment = Some(definition.compile(model).map_err(|e| invalid(name, e.to_string()))?);
                }
            }
            stages.push(stage);
            segments.push(segment);
        }
        if limits.caps.len() > MAX_TRIGGER_RULES {
            return Err(Error::InvalidArgument {
                name: "frequency cap",
                reason: format!("{} caps; at most {MAX_TRIGGER_RULES}", limits.caps.len()),
            });
        }
        for cap in &limits.caps {
            if cap.max == 0 || cap.max > 16 || cap.per_hours == 0 {
                return Err(Error::InvalidArgument {
                    name: "frequency cap",
                    reason: format!(
                        "{} per {} hours on {:?}: need 1..=16 per at least 1 hour",
                        cap.max, cap.per_hours, cap.channel
                    ),
                });
            }
        }
        // What a memory is made for: the rules and limits, in their saved
        // form (stable across runs and builds).
        let canonical = serde_json::to_vec(&(&rules, &limits)).unwrap_or_default();
        let fingerprint = stable_hash(&canonical, HASH_SEED);
        Ok(Triggers { rules, limits, model: model.clone(), stages, segments, fingerprint })
    }

    /// The rules, in order.
    ///
    /// ```
    /// use customer_lifecycle::{Channel, Purpose};
    /// use customer_lifecycle::automation::{Action, Limits, TriggerCondition, TriggerRule, Triggers};
    /// use customer_lifecycle::lifecycle::StageModel;
    /// let welcome = TriggerRule {
    ///     name: "welcome".into(),
    ///     when: TriggerCondition::StageEntered { stage: "new".into() },
    ///     action: Action { id: "welcome-mail".into(), channel: Channel::Email, purpose: Purpose::Marketing, payload: String::new() },
    ///     once_per_customer: true,
    /// };
    /// let triggers = Triggers::new(vec![welcome], Limits::default(), &StageModel::ecommerce())?;
    /// assert_eq!(triggers.rules()[0].name, "welcome");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rules(&self) -> &[TriggerRule] {
        &self.rules
    }

    /// A new customer's trigger memory.
    ///
    /// ```
    /// use customer_lifecycle::{Channel, Purpose};
    /// use customer_lifecycle::automation::{Action, Limits, TriggerCondition, TriggerRule, Triggers};
    /// use customer_lifecycle::lifecycle::StageModel;
    /// let welcome = TriggerRule {
    ///     name: "welcome".into(),
    ///     when: TriggerCondition::StageEntered { stage: "new".into() },
    ///     action: Action { id: "welcome-mail".into(), channel: Channel::Email, purpose: Purpose::Marketing, payload: String::new() },
    ///     once_per_customer: true,
    /// };
    /// let triggers = Triggers::new(vec![welcome], Limits::default(), &StageModel::ecommerce())?;
    /// let memory = triggers.new_state(); // one per customer, kept beside the engine's state
    /// # let _ = memory;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new_state(&self) -> TriggerState {
        TriggerState {
            triggers: self.fingerprint,
            rules: vec![RuleState::default(); self.rules.len()],
            cap_times: vec![[NEVER; 16]; self.limits.caps.len()],
            last_return: NEVER,
            last_complaint: NEVER,
            last_activity: NEVER,
            transitions_until: NEVER,
            acted: Vec::with_capacity(8),
        }
    }

    /// After [`Lifecycle::apply`](crate::lifecycle::Lifecycle::apply) of
    /// `event` to the customer's state: first the waiting patterns whose
    /// delay ended before the event, then the event's own effects (patterns
    /// it completes or cancels, the stages it entered, segments).
    /// Deterministic; allocates nothing when nothing fires.
    ///
    /// ```
    /// use customer_lifecycle::{Channel, Purpose};
    /// use customer_lifecycle::automation::{Action, Limits, TriggerCondition, TriggerRule, Triggers};
    /// use customer_lifecycle::lifecycle::StageModel;
    /// let welcome = TriggerRule {
    ///     name: "welcome".into(),
    ///     when: TriggerCondition::StageEntered { stage: "new".into() },
    ///     action: Action { id: "welcome-mail".into(), channel: Channel::Email, purpose: Purpose::Marketing, payload: String::new() },
    ///     once_per_customer: true,
    /// };
    /// let triggers = Triggers::new(vec![welcome], Limits::default(), &StageModel::ecommerce())?;
    /// use customer_lifecycle::{Currency, CustomerId, Event, EventKind, Money, ConsentChange, ConsentStatus};
    /// use customer_lifecycle::automation::CustomerView;
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle};
    /// let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR))?;
    /// let at = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
    /// let c = CustomerId::from(1);
    /// let (mut state, mut memory) = (engine.new_customer(c.clone(), at), triggers.new_state());
    /// let kind = EventKind::OrderPlaced { order_id: "o".into(), gross: Money::parse("9", Currency::EUR)?, discount: Money::parse("0", Currency::EUR)?, items: 1 };
    /// let order = Event::new("e", c.clone(), at, kind)?;
    /// let applied = engine.apply(&mut state, &order)?;
    /// let fired = triggers.on_event(&mut memory, &CustomerView::of(&state), &applied, &order);
    /// // The welcome fired but is suppressed: nobody granted marketing e-mail.
    /// assert_eq!(fired.len(), 1);
    /// assert!(fired.iter().next().unwrap().suppressed.is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_event(
        &self,
        memory: &mut TriggerState,
        view: &CustomerView<'_>,
        applied: &Applied,
        event: &Event,
    ) -> Firings {
        let mut out = Firings::default();
        if applied.duplicate {
            return out;
        }
        self.fit(memory);
        let at = event.at.timestamp();
        // Everything found on this call is delivered now, at the event's
        // time: consent must hold then too (see `fire`).
        self.fire_due(memory, view, at - 1, at, &mut out);
        self.quiet_spells(memory, view, at, &mut out);
        let (class, product) = (event.kind.class(), event.kind.product());
        match &event.kind {
            EventKind::OrderReturned { .. } => memory.last_return = memory.last_return.max(at),
            EventKind::SupportTicket { .. } => memory.last_complaint = memory.last_complaint.max(at),
            EventKind::NpsAnswered { score } if score.is_detractor() => {
                memory.last_complaint = memory.last_complaint.max(at)
            }
            _ => {}
        }
        memory.last_activity = memory.last_activity.max(at);
        for (i, rule) in self.rules.iter().enumerate() {
            if let TriggerCondition::Events { kind, at_least, within_minutes, same_product, unless } = &rule.when {
                let state = &mut memory.rules[i];
                if let (Some(u), Some(deadline)) = (unless, state.pending) {
                    if class == u.kind && at <= deadline {
                        state.pending = None;
                    }
                }
                if class != *kind {
                    continue;
                }
                let hash = product.map_or(0, |p| fnv1a64(p.as_bytes()));
                state.recent[state.next] = (at, hash);
                state.next = (state.next + 1) % RING;
                let from = at - i64::from(*within_minutes) * 60;
                let count = state
                    .recent
                    .iter()
                    .filter(|(t, h)| *t != NEVER && *t > from && *t <= at && (!same_product || *h == hash))
                    .count() as u32;
                if count >= *at_least {
                    state.recent = [(NEVER, 0); RING];
                    match unless {
                        Some(u) => {
                            state.pending.get_or_insert(at + i64::from(u.within_minutes) * 60);
                        }
                        None => self.fire(memory, view, i, at, at, &mut out),
                    }
                }
            }
        }
        self.transitions(memory, view, applied.transitions.iter(), at, &mut out);
        self.enter_segments(memory, view, at, &mut out);
        out
    }

    /// When time passes (after [`Lifecycle::advance_to`](crate::lifecycle::Lifecycle::advance_to)):
    /// waiting patterns whose delay ended, quiet spells, the stages entered
    /// (`transitions` as returned by `advance_to`), segments.
    ///
    /// ```
    /// use customer_lifecycle::{Channel, Purpose};
    /// use customer_lifecycle::automation::{Action, Limits, TriggerCondition, TriggerRule, Triggers};
    /// use customer_lifecycle::lifecycle::StageModel;
    /// let welcome = TriggerRule {
    ///     name: "welcome".into(),
    ///     when: TriggerCondition::StageEntered { stage: "new".into() },
    ///     action: Action { id: "welcome-mail".into(), channel: Channel::Email, purpose: Purpose::Marketing, payload: String::new() },
    ///     once_per_customer: true,
    /// };
    /// let triggers = Triggers::new(vec![welcome], Limits::default(), &StageModel::ecommerce())?;
    /// use customer_lifecycle::{Currency, CustomerId};
    /// use customer_lifecycle::automation::CustomerView;
    /// use customer_lifecycle::chrono::{TimeDelta, TimeZone, Utc};
    /// use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle};
    /// let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR))?;
    /// let at = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
    /// let (mut state, mut memory) = (engine.new_customer(CustomerId::from(1), at), triggers.new_state());
    /// let now = at + TimeDelta::days(1);
    /// let moved = engine.advance_to(&mut state, now)?;
    /// assert!(triggers.on_tick(&mut memory, &CustomerView::of(&state), now, moved.iter()).is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_tick<'t>(
        &self,
        memory: &mut TriggerState,
        view: &CustomerView<'_>,
        now: DateTime<Utc>,
        transitions: impl Iterator<Item = Transition> + 't,
    ) -> Firings {
        let mut out = Firings::default();
        self.fit(memory);
        let now = now.timestamp();
        self.fire_due(memory, view, now, now, &mut out);
        self.quiet_spells(memory, view, now, &mut out);
        self.transitions(memory, view, transitions, now, &mut out);
        self.enter_segments(memory, view, now, &mut out);
        out
    }

    /// The memory of one person from the memories of two of their ids
    /// (see [`Lifecycle::merge`](crate::lifecycle::Lifecycle::merge)), so
    /// that caps and once-per-customer rules count the person, not the id:
    /// a rule fired under either id has fired; a cap counts the firings of
    /// both (the latest 16 per cap); the recent events of a pattern, its
    /// waiting deadline (the earlier), the last return, complaint and
    /// activity (the later), the segments entered and the stage
    /// transitions acted on are those of either. A memory of another rule
    /// set counts as new, as everywhere.
    ///
    /// After the merge the host hands the merged stage history to
    /// [`Triggers::on_tick`]: transitions either id had acted on are not
    /// acted on again.
    ///
    /// ```
    /// use customer_lifecycle::{Channel, ConsentChange, ConsentStatus, Currency, CustomerId, Event, EventKind, Money, Purpose};
    /// use customer_lifecycle::automation::{Action, CustomerView, Limits, TriggerCondition, TriggerRule, Triggers};
    /// use customer_lifecycle::chrono::{TimeDelta, TimeZone, Utc};
    /// use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageModel};
    /// let welcome = TriggerRule {
    ///     name: "welcome".into(),
    ///     when: TriggerCondition::StageEntered { stage: "new".into() },
    ///     action: Action { id: "welcome-mail".into(), channel: Channel::Email, purpose: Purpose::Marketing, payload: String::new() },
    ///     once_per_customer: true,
    /// };
    /// let triggers = Triggers::new(vec![welcome], Limits::default(), &StageModel::ecommerce())?;
    /// let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR))?;
    /// let at = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
    /// let guest = CustomerId::from("guest-81");
    /// let (mut state, mut guest_memory) = (engine.new_customer(guest.clone(), at), triggers.new_state());
    /// let grant = ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Granted);
    /// let consent = Event::new("c-1", guest.clone(), at, EventKind::ConsentChanged(grant))?;
    /// engine.apply(&mut state, &consent)?;
    /// let kind = EventKind::OrderPlaced { order_id: "o-1".into(), gross: Money::parse("9", Currency::EUR)?, discount: Money::parse("0", Currency::EUR)?, items: 1 };
    /// let order = Event::new("o-1", guest, at, kind)?;
    /// let applied = engine.apply(&mut state, &order)?;
    /// assert!(triggers.on_event(&mut guest_memory, &CustomerView::of(&state), &applied, &order).iter().all(|f| f.suppressed.is_none()));
    ///
    /// // The account's memory has not sent the welcome; the person's has.
    /// let person = triggers.merge_memory(&triggers.new_state(), &guest_memory);
    /// assert_eq!(person, guest_memory);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn merge_memory(&self, kept: &TriggerState, other: &TriggerState) -> TriggerState {
        let fresh = self.new_state();
        let own = |m: &TriggerState| if m.triggers == self.fingerprint { m.clone() } else { fresh.clone() };
        let (mut out, other) = (own(kept), own(other));
        for (a, b) in out.rules.iter_mut().zip(&other.rules) {
            let mut recent: Vec<(i64, u64)> =
                a.recent.iter().chain(&b.recent).copied().filter(|r| r.0 != NEVER).collect();
            recent.sort_unstable();
            recent.dedup();
            let latest = &recent[recent.len().saturating_sub(RING)..];
            a.recent = [(NEVER, 0); RING];
            a.recent[..latest.len()].copy_from_slice(latest);
            a.next = latest.len() % RING;
            a.pending = match (a.pending, b.pending) {
                (Some(x), Some(y)) => Some(x.min(y)),
                (x, y) => x.or(y),
            };
            a.fired |= b.fired;
            a.inside |= b.inside;
            a.quiet_fired_for = a.quiet_fired_for.max(b.quiet_fired_for);
        }
        for (a, b) in out.cap_times.iter_mut().zip(&other.cap_times) {
            let mut times: Vec<i64> = a.iter().chain(b).copied().collect();
            times.sort_unstable_by(|x, y| y.cmp(x));
            let slots = a.len();
            a.copy_from_slice(&times[..slots]);
        }
        out.last_return = out.last_return.max(other.last_return);
        out.last_complaint = out.last_complaint.max(other.last_complaint);
        out.last_activity = out.last_activity.max(other.last_activity);
        if other.transitions_until > out.transitions_until {
            out.transitions_until = other.transitions_until;
            out.acted = other.acted.clone();
        } else if other.transitions_until == out.transitions_until {
            for pair in &other.acted {
                if !out.acted.contains(pair) {
                    out.acted.push(*pair);
                }
            }
        }
        out
    }

    /// The next instant at which this customer's delayed firings fall due:
    /// a pattern waiting out its `unless` window, or a quiet spell
    /// (`NoActivityFor`) running out — `None` when nothing waits. A host
    /// keeps it per customer (with [`Lifecycle::next_due`] for the stage
    /// engine) and calls [`Triggers::on_tick`] then, instead of ticking
    /// every customer. Segment entries are found at events and ticks.
    ///
    /// [`Lifecycle::next_due`]: crate::lifecycle::Lifecycle::next_due
    ///
    /// ```
    /// use customer_lifecycle::{Channel, Currency, CustomerId, Event, EventKind, Purpose};
    /// use customer_lifecycle::automation::{Action, CustomerView, Limits, TriggerCondition, TriggerRule, Triggers};
    /// use customer_lifecycle::chrono::{TimeDelta, TimeZone, Utc};
    /// use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageModel};
    /// let nudge = TriggerRule {
    ///     name: "we miss you".into(),
    ///     when: TriggerCondition::NoActivityFor { days: 30 },
    ///     action: Action { id: "nudge".into(), channel: Channel::Email, purpose: Purpose::Marketing, payload: String::new() },
    ///     once_per_customer: false,
    /// };
    /// let triggers = Triggers::new(vec![nudge], Limits::default(), &StageModel::ecommerce())?;
    /// let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR))?;
    /// let at = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
    /// let c = CustomerId::from(1);
    /// let (mut state, mut memory) = (engine.new_customer(c.clone(), at), triggers.new_state());
    /// let visit = Event::new("v1", c, at, EventKind::SiteVisit)?;
    /// let applied = engine.apply(&mut state, &visit)?;
    /// triggers.on_event(&mut memory, &CustomerView::of(&state), &applied, &visit);
    /// let due = triggers.next_due(&memory, &CustomerView::of(&state));
    /// assert_eq!(due, Some(at + TimeDelta::days(30)));
    /// // Ticking then, and not before, fires it.
    /// let due = due.unwrap();
    /// let moved = engine.advance_to(&mut state, due)?;
    /// assert_eq!(triggers.on_tick(&mut memory, &CustomerView::of(&state), due, moved.iter()).len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn next_due(&self, memory: &TriggerState, view: &CustomerView<'_>) -> Option<DateTime<Utc>> {
        if memory.triggers != self.fingerprint {
            return None; // a memory of another rule set starts afresh at its next call
        }
        let last = Triggers::quiet_since(memory, view);
        let mut due: Option<i64> = None;
        for (i, rule) in self.rules.iter().enumerate() {
            let state = &memory.rules[i];
            let candidate = match rule.when {
                TriggerCondition::NoActivityFor { days } if state.quiet_fired_for != last => {
                    Some(last.saturating_add(i64::from(days) * 86_400))
                }
                TriggerCondition::Events { .. } => state.pending,
                _ => None,
            };
            if let Some(c) = candidate {
                due = Some(due.map_or(c, |d| d.min(c)));
            }
        }
        due.and_then(|t| DateTime::from_timestamp(t, 0))
    }

    /// A memory made for another rule set starts afresh (see [`TriggerState`]).
    #[inline]
    fn fit(&self, memory: &mut TriggerState) {
        if memory.triggers != self.fingerprint {
            self.reset(memory);
        }
    }

    /// Out of line: the rare path must not weigh on the hot one.
    #[cold]
    #[inline(never)]
    fn reset(&self, memory: &mut TriggerState) {
        *memory = self.new_state();
    }

    fn fire_due(
        &self,
        memory: &mut TriggerState,
        view: &CustomerView<'_>,
        until: i64,
        delivered: i64,
        out: &mut Firings,
    ) {
        for i in 0..self.rules.len() {
            if let Some(deadline) = memory.rules[i].pending {
                if deadline <= until {
                    memory.rules[i].pending = None;
                    self.fire(memory, view, i, deadline, delivered, out);
                }
            }
        }
    }

    /// The start of the current quiet spell: the last activity seen, or
    /// the customer's first appearance before any.
    fn quiet_since(memory: &TriggerState, view: &CustomerView<'_>) -> i64 {
        if memory.last_activity == NEVER { view.state.profile().first_seen().timestamp() } else { memory.last_activity }
    }

    fn quiet_spells(&self, memory: &mut TriggerState, view: &CustomerView<'_>, now: i64, out: &mut Firings) {
        let last = Triggers::quiet_since(memory, view);
        for (i, rule) in self.rules.iter().enumerate() {
            if let TriggerCondition::NoActivityFor { days } = rule.when {
                let due = last.saturating_add(i64::from(days) * 86_400);
                if due <= now && memory.rules[i].quiet_fired_for != last {
                    memory.rules[i].quiet_fired_for = last;
                    self.fire(memory, view, i, due, now, out);
                }
            }
        }
    }

    fn transitions(
        &self,
        memory: &mut TriggerState,
        view: &CustomerView<'_>,
        transitions: impl Iterator<Item = Transition>,
        delivered: i64,
        out: &mut Firings,
    ) {
        for t in transitions {
            let at = t.at.timestamp();
            let pair = (t.from, t.to);
            if at < memory.transitions_until || (at == memory.transitions_until && memory.acted.contains(&pair)) {
                continue; // restated after a late event: already acted on
            }
            if at > memory.transitions_until {
                memory.transitions_until = at;
                memory.acted.clear();
            }
            memory.acted.push(pair);
            for i in 0..self.rules.len() {
                if self.stages[i] == Some(t.to) {
                    self.fire(memory, view, i, t.at.timestamp(), delivered, out);
                }
            }
        }
    }

    fn enter_segments(&self, memory: &mut TriggerState, view: &CustomerView<'_>, now: i64, out: &mut Firings) {
        let at = DateTime::from_timestamp(now, 0).unwrap_or_default();
        for (i, segment) in self.segments.iter().enumerate() {
            if let Some(segment) = segment {
                let inside = segment.matches_at(view, at, now);
                let entered = inside && !memory.rules[i].inside;
                memory.rules[i].inside = inside;
                if entered {
                    self.fire(memory, view, i, now, now, out);
                }
            }
        }
    }

    /// Fires rule `i`, whose condition became true at `at`, in a call that
    /// returns it to the host at `delivered` (≥ `at`), or reports why not.
    /// Consent must hold at both instants: a decision recorded between
    /// the condition and the delivery (a withdrawal arriving with the very
    /// event that reveals a waiting firing, say) is honoured.
    fn fire(
        &self,
        memory: &mut TriggerState,
        view: &CustomerView<'_>,
        i: usize,
        at: i64,
        delivered: i64,
        out: &mut Firings,
    ) {
        let rule = &self.rules[i];
        let when = DateTime::from_timestamp(at, 0).unwrap_or_default();
        let delivery = delivered.max(at);
        let delivered_at = DateTime::from_timestamp(delivery, 0).unwrap_or_default();
        let quiet = |last: i64, hours: u32| hours > 0 && last != NEVER && at < last + i64::from(hours) * 3600;
        // Every cap whose channel covers the action must hold (a cap on all
        // channels and one on e-mail both limit an e-mail), counted on
        // delivery times: what the customer receives. (Counted on the
        // instants the conditions held, a quiet spell due yesterday and a
        // welcome due now went out together under "one e-mail a day".)
        let covers = |k: &usize| self.limits.caps[*k].channel.covers(&rule.action.channel);
        let capped = (0..self.limits.caps.len()).filter(covers).any(|k| {
            let c = &self.limits.caps[k];
            let from = delivery - i64::from(c.per_hours) * 3600;
            memory.cap_times[k].iter().filter(|&&t| t != NEVER && t > from && t <= delivery).count() as u32 >= c.max
        });
        let suppressed = if rule.once_per_customer && memory.rules[i].fired {
            Some(Suppression::OncePerCustomer)
        } else if !view.may_contact(&rule.action.channel, &rule.action.purpose, when)
            || !view.may_contact(&rule.action.channel, &rule.action.purpose, delivered_at)
        {
            Some(Suppression::NoConsent)
        } else if quiet(memory.last_return, self.limits.quiet_after_return_hours) {
            Some(Suppression::QuietAfterReturn)
        } else if quiet(memory.last_complaint, self.limits.quiet_after_complaint_hours) {
            Some(Suppression::QuietAfterComplaint)
        } else if capped {
            Some(Suppression::FrequencyCap)
        } else {
            None
        };
        if suppressed.is_none() {
            memory.rules[i].fired = true;
            for k in (0..self.limits.caps.len()).filter(covers) {
                let slots = &mut memory.cap_times[k];
                let oldest = (0..slots.len()).min_by_key(|&s| slots[s]).unwrap_or(0);
                slots[oldest] = delivery;
            }
        }
        out.push(Firing { rule: i, at, suppressed });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::customer::CustomerId;
    use crate::domain::event::NpsScore;
    use crate::domain::money::{Currency, Money};
    use crate::domain::{ConsentChange, ConsentLedger, ConsentStatus};
    use crate::lifecycle::{CustomerState, EngineOptions, Lifecycle};
    use chrono::{TimeDelta, TimeZone};

    fn t(minutes: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 6, 1, 10, 0, 0).unwrap() + TimeDelta::minutes(minutes)
    }

    fn email(id: &str) -> Action {
        Action { id: id.into(), channel: Channel::Email, purpose: Purpose::Marketing, payload: String::new() }
    }

    fn rule(name: &str, when: TriggerCondition) -> TriggerRule {
        TriggerRule { name: name.into(), when, action: email(name), once_per_customer: false }
    }

    struct Shop {
        engine: Lifecycle,
        triggers: Triggers,
        state: CustomerState,
        memory: TriggerState,
        ledger: ConsentLedger,
        next: usize,
    }

    impl Shop {
        fn new(rules: Vec<TriggerRule>, limits: Limits) -> Shop {
            let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR)).unwrap();
            let triggers = Triggers::new(rules, limits, engine.model()).unwrap();
            let state = engine.new_customer(CustomerId::from(1), t(0));
            let memory = triggers.new_state();
            let mut ledger = ConsentLedger::new();
            let grant = ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Granted);
            ledger.record(&CustomerId::from(1), grant, t(0)).unwrap();
            Shop { engine, triggers, state, memory, ledger, next: 0 }
        }

        fn event(&mut self, at: DateTime<Utc>, kind: EventKind) -> Vec<(String, i64, Option<Suppression>)> {
            self.next += 1;
            let e = Event::new(format!("e{}", self.next), CustomerId::from(1), at, kind).unwrap();
            self.ledger.record_event(&e).unwrap();
            let applied = self.engine.apply(&mut self.state, &e).unwrap();
            let view = CustomerView { consent: Some(&self.ledger), ..CustomerView::of(&self.state) };
            let f = self.triggers.on_event(&mut self.memory, &view, &applied, &e);
            self.named(&f)
        }

        fn tick(&mut self, now: DateTime<Utc>) -> Vec<(String, i64, Option<Suppression>)> {
            let moved = self.engine.advance_to(&mut self.state, now).unwrap();
            let view = CustomerView { consent: Some(&self.ledger), ..CustomerView::of(&self.state) };
            let f = self.triggers.on_tick(&mut self.memory, &view, now, moved.iter());
            self.named(&f)
        }

        fn named(&self, f: &Firings) -> Vec<(String, i64, Option<Suppression>)> {
            f.iter().map(|f| (self.triggers.rules()[f.rule].name.clone(), f.at, f.suppressed)).collect()
        }
    }

    fn order(id: &str) -> EventKind {
        EventKind::OrderPlaced {
            order_id: id.into(),
            gross: Money::parse("20", Currency::EUR).unwrap(),
            discount: Money::parse("0", Currency::EUR).unwrap(),
            items: 1,
        }
    }

    fn cart(product: &str) -> EventKind {
        EventKind::AddedToCart { product_id: product.into(), quantity: 1 }
    }

    fn view(product: &str) -> EventKind {
        EventKind::ProductViewed { product_id: product.into() }
    }

    fn abandoned_cart() -> TriggerRule {
        rule(
            "abandoned_cart",
            TriggerCondition::Events {
                kind: EventClass::CartAddition,
                at_least: 1,
                within_minutes: 60,
                same_product: false,
                unless: Some(Unless { kind: EventClass::Order, within_minutes: 60 }),
            },
        )
    }

    #[test]
    fn every_cap_that_covers_an_action_holds() {
        // "Any channel 16 per hour" and "e-mail 1 per day": at most one e-mail a day.
        let caps = vec![
            FrequencyCap { channel: Channel::Any, max: 16, per_hours: 1 },
            FrequencyCap { channel: Channel::Email, max: 1, per_hours: 24 },
        ];
        let limits = Limits { caps, ..Limits::default() };
        let visit = rule(
            "visit",
            TriggerCondition::Events {
                kind: EventClass::Visit,
                at_least: 1,
                within_minutes: 60,
                same_product: false,
                unless: None,
            },
        );
        let mut shop = Shop::new(vec![visit], limits);
        let sent: usize = (0..10)
            .map(|h| shop.event(t(h * 60), EventKind::SiteVisit))
            .map(|f| f.iter().filter(|x| x.2.is_none()).count())
            .sum();
        assert_eq!(sent, 1);
    }

    #[test]
    fn consent_is_checked_when_a_firing_is_delivered() {
        // A cart waits for its hour; the customer withdraws marketing after
        // the deadline but before anything reveals it: the withdrawal event
        // itself delivers the firing, suppressed.
        let mut shop = Shop::new(vec![abandoned_cart()], Limits::default());
        assert!(shop.event(t(0), cart("p")).is_empty());
        let unsubscribe = EventKind::Unsubscribed { channel: Channel::Email };
        let fired = shop.event(t(90), unsubscribe);
        assert_eq!(fired, [("abandoned_cart".to_string(), t(60).timestamp(), Some(Suppression::NoConsent))]);
        // On a tick: a withdrawal recorded (outside the event stream) after a
        // quiet spell became due and before the tick that finds it.
        let quiet = rule("quiet", TriggerCondition::NoActivityFor { days: 30 });
        let mut shop = Shop::new(vec![quiet], Limits::default());
        assert!(shop.event(t(0), view("p")).is_empty());
        let withdrawal = ConsentChange::new(Purpose::Marketing, Channel::Any, ConsentStatus::Withdrawn);
        shop.ledger.record(&CustomerId::from(1), withdrawal, t(0) + TimeDelta::days(31)).unwrap();
        let fired = shop.tick(t(0) + TimeDelta::days(40));
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].2, Some(Suppression::NoConsent));
    }

    /// Caps count what the customer receives: a quiet spell due yesterday,
    /// delivered with today's welcome by the same event, is one e-mail too
    /// many under "one a day" (both went out; found by the triggers fuzz
    /// target).
    #[test]
    fn caps_hold_on_delivery_times() {
        let quiet = rule("quiet", TriggerCondition::NoActivityFor { days: 1 });
        let welcome = rule("welcome", TriggerCondition::StageEntered { stage: "new".into() });
        let limits =
            Limits { caps: vec![FrequencyCap { channel: Channel::Email, max: 1, per_hours: 24 }], ..Limits::default() };
        let mut shop = Shop::new(vec![quiet, welcome], limits);
        // The first event comes 51 hours after first seen: the quiet spell
        // was due at 24 h, the welcome is due now; one of them may go out.
        let fired = shop.event(t(51 * 60), order("o1"));
        assert_eq!(fired.len(), 2, "{fired:?}");
        assert_eq!(fired.iter().filter(|f| f.2.is_none()).count(), 1, "{fired:?}");
        assert!(fired.iter().any(|f| f.2 == Some(Suppression::FrequencyCap)), "{fired:?}");
    }

    #[test]
    fn next_due_tells_when_to_tick() {
        let quiet = rule("quiet", TriggerCondition::NoActivityFor { days: 30 });
        let mut shop = Shop::new(vec![abandoned_cart(), quiet], Limits::default());
        let due = |shop: &Shop| {
            let view = CustomerView { consent: Some(&shop.ledger), ..CustomerView::of(&shop.state) };
            shop.triggers.next_due(&shop.memory, &view)
        };
        // First seen: the quiet spell runs from then.
        assert_eq!(due(&shop), Some(t(0) + TimeDelta::days(30)));
        // A cart waits an hour: that comes first.
        assert!(shop.event(t(0), cart("p")).is_empty());
        assert_eq!(due(&shop), Some(t(60)));
        // An order cancels it; the quiet spell restarts from the order.
        assert!(shop.event(t(30), order("o1")).is_empty());
        assert_eq!(due(&shop), Some(t(30) + TimeDelta::days(30)));
        // Ticking a second early fires nothing; at the due time it fires.
        let at = t(30) + TimeDelta::days(30);
        assert!(shop.tick(at - TimeDelta::seconds(1)).is_empty());
        assert_eq!(shop.tick(at).len(), 1);
        // Fired for that spell: nothing waits until the next activity.
        assert_eq!(due(&shop), None);
        // A memory of another rule set waits for nothing (it starts afresh).
        let other = Triggers::new(vec![abandoned_cart()], Limits::default(), shop.engine.model()).unwrap();
        let view = CustomerView::of(&shop.state);
        assert_eq!(other.next_due(&shop.memory, &view), None);
    }

    #[test]
    fn abandoned_cart_fires_after_the_delay_unless_an_order_comes() {
        let mut shop = Shop::new(vec![abandoned_cart()], Limits::default());
        assert!(shop.event(t(0), cart("p")).is_empty());
        assert!(shop.tick(t(59)).is_empty());
        assert_eq!(shop.tick(t(61)), [("abandoned_cart".into(), t(60).timestamp(), None)]);
        // Cancelled by an order within the hour.
        assert!(shop.event(t(100), cart("p")).is_empty());
        assert!(shop.event(t(130), order("o1")).is_empty());
        assert!(shop.tick(t(300)).is_empty());
        // A later event past the deadline fires it first, dated at the deadline.
        shop.event(t(400), cart("q"));
        let fired = shop.event(t(500), view("q"));
        assert_eq!(fired, [("abandoned_cart".into(), t(460).timestamp(), None)]);
    }

    #[test]
    fn three_views_of_one_product_within_the_window() {
        let r = rule(
            "retarget",
            TriggerCondition::Events {
                kind: EventClass::ProductView,
                at_least: 3,
                within_minutes: 30 * 24 * 60,
                same_product: true,
                unless: None,
            },
        );
        let mut shop = Shop::new(vec![r], Limits::default());
        assert!(shop.event(t(0), view("a")).is_empty());
        assert!(shop.event(t(10), view("b")).is_empty());
        assert!(shop.event(t(20), view("a")).is_empty());
        assert!(shop.event(t(30), view("b")).is_empty());
        assert_eq!(shop.event(t(40), view("a")).len(), 1); // third view of a
        assert!(shop.event(t(50), view("b")).is_empty()); // the count started over
    }

    #[test]
    fn consent_caps_quiet_periods_and_once_per_customer() {
        let visit = || {
            rule(
                "visit",
                TriggerCondition::Events {
                    kind: EventClass::Visit,
                    at_least: 1,
                    within_minutes: 1,
                    same_product: false,
                    unless: None,
                },
            )
        };
        let mut once = visit();
        once.name = "welcome".into();
        once.once_per_customer = true;
        let limits = Limits {
            caps: vec![FrequencyCap { channel: Channel::Email, max: 2, per_hours: 24 }],
            quiet_after_return_hours: 48,
            quiet_after_complaint_hours: 0,
        };
        let mut shop = Shop::new(vec![visit(), once], limits);
        let got = shop.event(t(0), EventKind::SiteVisit);
        assert_eq!(got.iter().map(|g| g.2).collect::<Vec<_>>(), [None, None]);
        // Cap of 2 per day reached: both suppressed; welcome also once-only.
        let got = shop.event(t(60), EventKind::SiteVisit);
        assert_eq!(
            got.iter().map(|g| g.2).collect::<Vec<_>>(),
            [Some(Suppression::FrequencyCap), Some(Suppression::OncePerCustomer)]
        );
        // A day later the cap frees up; then a return starts a 48-hour quiet period.
        assert_eq!(shop.event(t(25 * 60), EventKind::SiteVisit)[0].2, None);
        shop.event(t(26 * 60), order("o1"));
        shop.event(
            t(26 * 60 + 1),
            EventKind::OrderReturned { order_id: "o1".into(), amount: Money::parse("20", Currency::EUR).unwrap() },
        );
        assert_eq!(shop.event(t(27 * 60), EventKind::SiteVisit)[0].2, Some(Suppression::QuietAfterReturn));
        // Consent withdrawn: no consent from that instant.
        let withdraw = ConsentChange::new(Purpose::Marketing, Channel::Any, ConsentStatus::Withdrawn);
        shop.ledger.record(&CustomerId::from(1), withdraw, t(100 * 60)).unwrap();
        assert_eq!(shop.event(t(100 * 60), EventKind::SiteVisit)[0].2, Some(Suppression::NoConsent));
        // A complaint quiet period.
        let mut shop = Shop::new(vec![visit()], Limits { quiet_after_complaint_hours: 24, ..Limits::default() });
        shop.event(t(0), EventKind::NpsAnswered { score: NpsScore::new(2).unwrap() });
        assert_eq!(shop.event(t(60), EventKind::SiteVisit)[0].2, Some(Suppression::QuietAfterComplaint));
    }

    #[test]
    fn stages_quiet_spells_and_segments() {
        let rules = vec![
            rule("at_risk_mail", TriggerCondition::StageEntered { stage: "at_risk".into() }),
            rule("we_miss_you", TriggerCondition::NoActivityFor { days: 30 }),
            rule(
                "big_spender",
                TriggerCondition::SegmentEntered {
                    segment: Segment::Profile { condition: crate::lifecycle::Condition::OrdersAtLeast { orders: 2 } },
                },
            ),
        ];
        let mut shop = Shop::new(rules, Limits::default());
        assert!(shop.event(t(0), order("o1")).is_empty());
        assert_eq!(shop.event(t(60), order("o2")), [("big_spender".into(), t(60).timestamp(), None)]);
        assert!(shop.event(t(120), order("o3")).is_empty()); // already inside
        let later = shop.tick(t(120) + TimeDelta::days(100));
        let names: Vec<&str> = later.iter().map(|f| f.0.as_str()).collect();
        assert_eq!(names, ["we_miss_you", "at_risk_mail"]);
        assert_eq!(later[0].1, (t(120) + TimeDelta::days(30)).timestamp());
        assert_eq!(later[1].1, (t(120) + TimeDelta::days(90)).timestamp());
        assert!(shop.tick(t(120) + TimeDelta::days(200)).is_empty()); // once per quiet spell
    }

    #[test]
    fn restated_transitions_do_not_fire_twice() {
        let mut shop =
            Shop::new(vec![rule("welcome", TriggerCondition::StageEntered { stage: "new".into() })], Limits::default());
        assert_eq!(shop.event(t(60), order("o1")).len(), 1);
        // A late order (within the hour) restates prospect → new at t(30): no second welcome.
        assert!(shop.event(t(30), order("o0")).is_empty());
        // The restated new → active at t(60) is new at that instant: it would fire.
        let mut shop = Shop::new(
            vec![rule("active", TriggerCondition::StageEntered { stage: "active".into() })],
            Limits::default(),
        );
        assert!(shop.event(t(60), order("o1")).is_empty());
        assert_eq!(shop.event(t(30), order("o0")).len(), 1);
    }

    #[test]
    fn a_memory_of_another_rule_set_starts_afresh_and_a_bad_one_is_refused() {
        let model = StageModel::ecommerce();
        let one = Triggers::new(vec![abandoned_cart()], Limits::default(), &model).unwrap();
        let two = Triggers::new(
            vec![abandoned_cart(), rule("welcome", TriggerCondition::StageEntered { stage: "new".into() })],
            Limits { caps: vec![FrequencyCap { channel: Channel::Email, max: 1, per_hours: 24 }], ..Limits::default() },
            &model,
        )
        .unwrap();
        let engine = Lifecycle::new(model, EngineOptions::new(Currency::EUR)).unwrap();
        let mut state = engine.new_customer(CustomerId::from(1), t(0));
        let e = Event::new("o", CustomerId::from(1), t(1), order("o")).unwrap();
        let applied = engine.apply(&mut state, &e).unwrap();
        // A memory saved under one rule, used with two rules and a cap: no
        // index out of bounds, the welcome rule fires as new.
        let mut memory = one.new_state();
        let fired = two.on_event(&mut memory, &CustomerView::of(&state), &applied, &e);
        assert_eq!(fired.len(), 1);
        assert_eq!(memory, {
            let mut fresh = two.new_state();
            two.on_event(&mut fresh, &CustomerView::of(&state), &applied, &e);
            fresh
        });
        // A loaded memory with a ring position past the ring is refused.
        let json = serde_json::to_string(&one.new_state()).unwrap();
        assert!(json.contains("\"next\":0"));
        assert!(serde_json::from_str::<TriggerState>(&json.replace("\"next\":0", "\"next\":9")).is_err());
        assert!(serde_json::from_str::<TriggerState>(&json).is_ok());
    }

    #[test]
    fn saved_triggers_load_compiled_and_checked() {
        let model = StageModel::ecommerce();
        let rules = vec![
            rule("welcome", TriggerCondition::StageEntered { stage: "new".into() }),
            rule(
                "regular",
                TriggerCondition::SegmentEntered {
                    segment: Segment::Profile { condition: crate::lifecycle::Condition::OrdersAtLeast { orders: 2 } },
                },
            ),
        ];
        let triggers = Triggers::new(rules, Limits::default(), &model).unwrap();
        let json = serde_json::to_string(&triggers).unwrap();
        let back: Triggers = serde_json::from_str(&json).unwrap();
        assert_eq!(back, triggers); // stages resolved and segments compiled again
        // A saved rule naming a stage the saved model lacks is refused on load.
        let tampered = json.replace("\"stage\":\"new\"", "\"stage\":\"vip\"");
        assert_ne!(tampered, json);
        assert!(serde_json::from_str::<Triggers>(&tampered).is_err());
    }

    #[test]
    fn invalid_rules_are_typed_errors() {
        let model = StageModel::ecommerce();
        let events = |at_least, within_minutes| TriggerCondition::Events {
            kind: EventClass::Visit,
            at_least,
            within_minutes,
            same_product: false,
            unless: None,
        };
        let cases = vec![
            vec![rule("x", TriggerCondition::StageEntered { stage: "vip".into() })],
            vec![rule("x", events(1, 0))],
            vec![rule("x", events(0, 5))],
            vec![rule("x", events(9, 5))],
            vec![rule("x", TriggerCondition::NoActivityFor { days: 0 })],
            vec![rule("x", events(1, 5)), rule("x", events(1, 5))],
            vec![rule("", events(1, 5))],
            vec![rule("x", TriggerCondition::SegmentEntered { segment: Segment::All { all: vec![] } })],
        ];
        for rules in cases {
            assert!(Triggers::new(rules, Limits::default(), &model).is_err());
        }
        let zero_cap =
            Limits { caps: vec![FrequencyCap { channel: Channel::Email, max: 0, per_hours: 24 }], ..Limits::default() };
        assert!(Triggers::new(vec![], zero_cap, &model).is_err());
    }
}
