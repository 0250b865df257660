//! Stage models: stages, and rules that move customers between them.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::profile::{PROFILE_SCALE, Profile, SummaryRow, profile_units};
use crate::domain::bounded::bounded_vec;
use crate::domain::event::{Engagement, EventClass};
use crate::error::{Error, Result};

/// A stage's index in its [`StageModel`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StageId(pub u8);

/// A rule's index (= priority; 0 first) in its [`StageModel`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RuleId(pub u16);

/// When a rule fires. Conditions are data (serde, internally tagged by
/// `type`) so stage models can live in configuration.
///
/// *Event conditions* ([`OrderPlaced`](Condition::OrderPlaced),
/// [`OrderReturned`](Condition::OrderReturned),
/// [`Engaged`](Condition::Engaged), [`NpsAnswered`](Condition::NpsAnswered))
/// hold only while the engine handles that event, and let at most one rule
/// fire per event. The others are *state conditions* on the profile at the
/// time of evaluation; those that depend on elapsed time
/// ([`DaysSinceLastOrder`](Condition::DaysSinceLastOrder),
/// [`CadenceOverdue`](Condition::CadenceOverdue),
/// [`DaysSinceLastActivity`](Condition::DaysSinceLastActivity),
/// [`EngagementAtLeast`](Condition::EngagementAtLeast),
/// [`ScoreBelow`](Condition::ScoreBelow)) change with no event at all, which
/// is what [`Lifecycle::advance_to`](super::Lifecycle::advance_to) evaluates.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Condition {
    /// An order is being applied.
    OrderPlaced,
    /// A return is being applied.
    OrderReturned,
    /// An engagement event (of `kind`, or any) is being applied.
    Engaged {
        /// The kind, or any kind.
        kind: Option<Engagement>,
    },
    /// An NPS answer is being applied.
    NpsAnswered,
    /// At least this many orders.
    OrdersAtLeast {
        /// Orders.
        orders: u32,
    },
    /// Net spend (paid − returned) at least this much, in the engine's currency.
    NetSpendAtLeast {
        /// The amount.
        amount: Decimal,
    },
    /// At least `days` since the last order (since first seen without one).
    DaysSinceLastOrder {
        /// Days.
        days: u32,
    },
    /// The time since the last order exceeds the customer's own mean gap
    /// between purchase days plus `sigmas` standard deviations; with fewer
    /// than `min_gaps` gaps to judge by, at least `fallback_days` since the
    /// last order instead.
    CadenceOverdue {
        /// Standard deviations above the mean gap, 0..=[`MAX_SIGMAS`].
        sigmas: f64,
        /// Gaps needed to trust the customer's cadence (≥ 2).
        min_gaps: u32,
        /// The fixed window used until then.
        fallback_days: u32,
    },
    /// At least `days` since any activity (order, return, engagement,
    /// ticket, NPS answer; since first seen without any).
    DaysSinceLastActivity {
        /// Days.
        days: u32,
    },
    /// At least `count` engagement events of `kind` in the last `days`
    /// calendar days (1..=64).
    EngagementAtLeast {
        /// The kind.
        kind: Engagement,
        /// Events.
        count: u32,
        /// Window in days.
        days: u16,
    },
    /// The latest NPS answer is at least `score`.
    NpsAtLeast {
        /// 0..=10.
        score: u8,
    },
    /// The latest NPS answer is at most `score`.
    NpsAtMost {
        /// 0..=10.
        score: u8,
    },
    /// The engine's scoring function (e.g. P(alive) or P(no purchase in
    /// the next t) from a fitted model) is below `threshold`. A score has
    /// no closed-form crossing time: when the engine is called (events,
    /// `advance_to`) and the condition holds, the instant it started to
    /// hold is found by bisection to the second, assuming — as for
    /// P(alive) — that the score only falls while no event arrives, and
    /// the transition is dated then (summary rows count whole days, so a
    /// score of the row changes at the start of a day).
    ScoreBelow {
        /// The threshold.
        threshold: f64,
    },
    /// Every condition holds.
    All {
        /// The conditions.
        all: Vec<Condition>,
    },
    /// At least one condition holds.
    Any {
        /// The conditions.
        any: Vec<Condition>,
    },
    /// The condition does not hold.
    Not {
        /// The condition.
        not: Box<Condition>,
    },
}

/// A rule: from one of `from` (any stage when empty) to `to` when `when` holds.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct Rule {
    /// A name, reported with each transition it causes.
    pub name: String,
    /// Stages it applies to; empty = every stage other than `to`.
    pub from: Vec<String>,
    /// The stage it moves to.
    pub to: String,
    /// When.
    pub when: Condition,
}

impl Rule {
    /// A rule.
    pub fn new(name: &str, from: &[&str], to: &str, when: Condition) -> Rule {
        Rule { name: name.into(), from: from.iter().map(|s| s.to_string()).collect(), to: to.into(), when }
    }
}

/// What a stage model is made of, as written in configuration: stage names
/// (snake_case by convention), the initial stage of a new customer, and the
/// rules in priority order.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct StageModelDefinition {
    /// The model's name.
    pub name: String,
    /// The stages (at most [`MAX_STAGES`]; a longer list is refused while
    /// it is read).
    #[serde(deserialize_with = "bounded_vec::<_, _, MAX_STAGES>")]
    pub stages: Vec<String>,
    /// Where new customers start.
    pub initial: String,
    /// The rules; when several hold, the first wins (at most [`MAX_RULES`]).
    #[serde(deserialize_with = "bounded_vec::<_, _, MAX_RULES>")]
    pub rules: Vec<Rule>,
}

/// A validated condition: amounts in profile units, stage-independent.
#[derive(Clone, PartialEq, Debug)]
pub(crate) enum Compiled {
    Event(EventIs),
    OrdersAtLeast(u32),
    NetSpendAtLeast(i64),
    DaysSinceLastOrder(i64),
    CadenceOverdue { sigmas: f64, min_gaps: u32, fallback: i64 },
    DaysSinceLastActivity(i64),
    EngagementAtLeast { kind: Engagement, count: u32, days: u16 },
    NpsAtLeast(u8),
    NpsAtMost(u8),
    ScoreBelow(f64),
    All(Vec<Compiled>),
    Any(Vec<Compiled>),
    Not(Box<Compiled>),
}

/// The event an event condition waits for, over the one [`EventClass`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum EventIs {
    /// This class.
    Class(EventClass),
    /// Any engagement, or engagement of one kind ([`EventClass::engagement`]).
    Engaged(Option<Engagement>),
}

impl EventIs {
    fn matches(self, class: EventClass) -> bool {
        match self {
            EventIs::Class(c) => c == class,
            EventIs::Engaged(None) => class.engagement().is_some(),
            EventIs::Engaged(Some(k)) => class.engagement() == Some(k),
        }
    }
}

const DAY: i64 = 86_400;

/// What a condition is evaluated against.
pub(crate) struct Context<'a> {
    pub profile: &'a Profile,
    pub now: i64,
    pub event: Option<EventClass>,
    pub score: Option<&'a (dyn Fn(&SummaryRow) -> f64 + Send + Sync)>,
}

impl Compiled {
    /// Whether a state condition holds on a profile at `now` (no event, no score).
    #[inline]
    pub(crate) fn holds_on(&self, profile: &Profile, now: i64) -> bool {
        self.holds(&Context { profile, now, event: None, score: None })
    }

    pub(crate) fn holds(&self, c: &Context<'_>) -> bool {
        let p = c.profile;
        let since_order = || c.now - p.last_order_secs().unwrap_or_else(|| p.first_seen().timestamp());
        match self {
            Compiled::Event(m) => c.event.is_some_and(|e| m.matches(e)),
            Compiled::OrdersAtLeast(n) => p.orders() >= *n,
            Compiled::NetSpendAtLeast(units) => p.net_units() >= *units,
            Compiled::DaysSinceLastOrder(secs) => since_order() >= *secs,
            Compiled::CadenceOverdue { .. } => self.overdue_at(p).is_some_and(|t| c.now >= t),
            Compiled::DaysSinceLastActivity(secs) => c.now - p.last_any_activity() >= *secs,
            Compiled::EngagementAtLeast { kind, count, days } => p.engagement_at(*kind, *days, c.now) >= *count,
            Compiled::NpsAtLeast(s) => p.nps_score().is_some_and(|v| v >= *s),
            Compiled::NpsAtMost(s) => p.nps_score().is_some_and(|v| v <= *s),
            Compiled::ScoreBelow(t) => {
                c.score.is_some_and(|f| p.summary_row_secs(c.now).is_some_and(|row| f(&row) < *t))
            }
            Compiled::All(all) => all.iter().all(|x| x.holds(c)),
            Compiled::Any(any) => any.iter().any(|x| x.holds(c)),
            Compiled::Not(x) => !x.holds(c),
        }
    }

    /// When the customer becomes overdue under a cadence condition.
    fn overdue_at(&self, p: &Profile) -> Option<i64> {
        let Compiled::CadenceOverdue { sigmas, min_gaps, fallback } = self else { return None };
        let last = p.last_order_secs().unwrap_or_else(|| p.first_seen().timestamp());
        let (mean, sd, gaps) = p.inter_purchase_days();
        if gaps >= *min_gaps {
            // Strictly more than mean + kσ days. The float-to-int cast
            // saturates and the additions saturate: a cadence of centuries
            // means "never overdue", not an overflow.
            let wait = ((mean + sigmas * sd) * DAY as f64).floor() as i64;
            Some(last.saturating_add(wait).saturating_add(1))
        } else {
            Some(last.saturating_add(*fallback))
        }
    }

    /// The earliest instant after `now` at which this condition's truth
    /// may change with no event (`None`: not before the next event).
    pub(crate) fn next_change(&self, p: &Profile, now: i64) -> Option<i64> {
        let after = |t: i64| (t > now).then_some(t);
        match self {
            Compiled::DaysSinceLastOrder(secs) => {
                after(p.last_order_secs().unwrap_or_else(|| p.first_seen().timestamp()) + secs)
            }
            Compiled::CadenceOverdue { .. } => self.overdue_at(p).and_then(after),
            Compiled::DaysSinceLastActivity(secs) => after(p.last_any_activity() + secs),
            Compiled::EngagementAtLeast { kind, days, .. } => p.engagement_next_drop(*kind, *days, now),
            Compiled::All(v) | Compiled::Any(v) => v.iter().filter_map(|x| x.next_change(p, now)).min(),
            Compiled::Not(x) => x.next_change(p, now),
            _ => None,
        }
    }

    pub(crate) fn is_event(&self) -> bool {
        match self {
            Compiled::Event(_) => true,
            Compiled::All(v) | Compiled::Any(v) => v.iter().any(Compiled::is_event),
            Compiled::Not(x) => x.is_event(),
            _ => false,
        }
    }

    pub(crate) fn uses_score(&self) -> bool {
        match self {
            Compiled::ScoreBelow(_) => true,
            Compiled::All(v) | Compiled::Any(v) => v.iter().any(Compiled::uses_score),
            Compiled::Not(x) => x.uses_score(),
            _ => false,
        }
    }
}

/// A validated rule: stage indices, a bit set of source stages.
#[derive(Clone, PartialEq, Debug)]
pub(crate) struct CompiledRule {
    pub from: u64,
    pub to: StageId,
    pub when: Compiled,
    pub event: bool,
}

/// A validated set of stages and rules (see [`StageModel::new`]); serialised
/// as its [`StageModelDefinition`].
///
/// ```
/// use customer_lifecycle::lifecycle::{Condition, Rule, StageModel, StageModelDefinition};
///
/// let model = StageModel::new(StageModelDefinition {
///     name: "simple".into(),
///     stages: vec!["visitor".into(), "buyer".into(), "dormant".into()],
///     initial: "visitor".into(),
///     rules: vec![
///         Rule::new("bought", &["visitor", "dormant"], "buyer", Condition::OrderPlaced),
///         Rule::new("dozed_off", &["buyer"], "dormant", Condition::DaysSinceLastOrder { days: 120 }),
///     ],
/// })?;
/// assert_eq!(model.stage_name(model.initial()), "visitor");
/// // A rule naming an unknown stage is refused:
/// let mut bad = model.definition().clone();
/// bad.rules[0].to = "customer".into();
/// assert!(StageModel::new(bad).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(try_from = "StageModelDefinition", into = "StageModelDefinition")]
pub struct StageModel {
    definition: StageModelDefinition,
    initial: StageId,
    rules: Vec<CompiledRule>,
    /// Rules by source stage, in priority order (indices into `rules`).
    by_stage: Vec<Vec<u16>>,
    /// Whether the state rules (those that need no event) form a cycle
    /// between stages, so that evaluating them could loop (a typed error).
    cyclic: bool,
}

/// Most stages a model may have (stage sets are 64-bit masks).
pub const MAX_STAGES: usize = 64;

/// Most rules a model may have (rule ids are 16-bit).
pub const MAX_RULES: usize = u16::MAX as usize;

/// The largest number of standard deviations a cadence condition may wait
/// beyond the mean gap.
pub const MAX_SIGMAS: f64 = 100.0;

/// How deep `all`/`any`/`not` may nest in a condition or a segment. Checked
/// without recursion before anything recursive runs, so that no definition
/// can exhaust the stack while it is validated or evaluated.
pub const MAX_CONDITION_DEPTH: usize = 32;

impl Drop for Condition {
    /// Drops nested conditions with an explicit stack: a tree built in code
    /// may be deeper than the call stack, and the derived drop would recurse.
    fn drop(&mut self) {
        let mut stack = Vec::new();
        take_children(self, &mut stack);
        while let Some(mut c) = stack.pop() {
            take_children(&mut c, &mut stack);
        }
    }
}

/// Moves the children of an `all`, `any` or `not` onto `stack`, leaving
/// the node childless (and so cheap to drop).
fn take_children(c: &mut Condition, stack: &mut Vec<Condition>) {
    match c {
        Condition::All { all: v } | Condition::Any { any: v } => stack.append(v),
        Condition::Not { not } => stack.push(std::mem::replace(&mut **not, Condition::OrderPlaced)),
        _ => {}
    }
}

impl Condition {
    /// The children of an `all`, `any` or `not`.
    fn children(&self) -> &[Condition] {
        match self {
            Condition::All { all: v } | Condition::Any { any: v } => v,
            Condition::Not { not } => std::slice::from_ref(&**not),
            _ => &[],
        }
    }
}

/// Whether a tree is at most [`MAX_CONDITION_DEPTH`] deep, walked with an
/// explicit stack (a tree built in code may be deeper than the call stack).
pub(crate) fn within_depth<T>(root: &T, children: impl Fn(&T) -> &[T]) -> bool {
    let mut stack = vec![(root, 1usize)];
    while let Some((node, depth)) = stack.pop() {
        if depth > MAX_CONDITION_DEPTH {
            return false;
        }
        stack.extend(children(node).iter().map(|c| (c, depth + 1)));
    }
    true
}

fn invalid(model: &str, reason: String) -> Error {
    Error::InvalidStageModel { model: model.to_string(), reason }
}

impl TryFrom<StageModelDefinition> for StageModel {
    type Error = Error;
    fn try_from(d: StageModelDefinition) -> Result<StageModel> {
        StageModel::new(d)
    }
}

impl From<StageModel> for StageModelDefinition {
    fn from(m: StageModel) -> StageModelDefinition {
        m.definition
    }
}

impl StageModel {
    /// Validates a definition: stage names unique and not empty (at most
    /// [`MAX_STAGES`]); the initial stage and every stage a rule names
    /// exist; rule names unique; no rule moves a stage to itself; conditions
    /// in range (days > 0, NPS ≤ 10, amounts ≥ 0, finite thresholds,
    /// engagement windows 1..=64 days, non-empty `all`/`any`); every stage
    /// reachable from the initial one. Rules are deterministic by
    /// construction: they are tried in order and the first that holds wins.
    ///
    /// ```
    /// use customer_lifecycle::lifecycle::{Condition, Rule, StageModel, StageModelDefinition};
    ///
    /// let definition = StageModelDefinition {
    ///     name: "two steps".into(),
    ///     stages: vec!["lead".into(), "customer".into()],
    ///     initial: "lead".into(),
    ///     rules: vec![Rule::new("converted", &["lead"], "customer", Condition::OrderPlaced)],
    /// };
    /// assert_eq!(StageModel::new(definition.clone())?.len(), 2);
    /// // A stage nobody can reach is refused.
    /// let mut unreachable = definition;
    /// unreachable.stages.push("vip".into());
    /// assert!(StageModel::new(unreachable).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidStageModel`] naming the model and the problem.
    pub fn new(definition: StageModelDefinition) -> Result<StageModel> {
        let name = definition.name.clone();
        let stages = &definition.stages;
        if stages.is_empty() || stages.len() > MAX_STAGES {
            return Err(invalid(&name, format!("{} stages; 1..={MAX_STAGES} allowed", stages.len())));
        }
        for (i, s) in stages.iter().enumerate() {
            if s.trim().is_empty() {
                return Err(invalid(&name, format!("stage {i} has an empty name")));
            }
            if stages[..i].contains(s) {
                return Err(invalid(&name, format!("stage {s:?} appears twice")));
            }
        }
        let index = |s: &str, what: &str| {
            stages
                .iter()
                .position(|x| x == s)
                .map(|i| StageId(i as u8))
                .ok_or_else(|| invalid(&name, format!("{what} refers to unknown stage {s:?}")))
        };
        let initial = index(&definition.initial, "the initial stage")?;
        // Rule ids are 16-bit: refuse what they cannot hold rather than
        // lose rules to a wrapping index.
        if definition.rules.len() > MAX_RULES {
            return Err(invalid(&name, format!("{} rules; at most {MAX_RULES} allowed", definition.rules.len())));
        }
        let mut names = std::collections::HashSet::with_capacity(definition.rules.len());
        let mut rules = Vec::with_capacity(definition.rules.len());
        for (i, rule) in definition.rules.iter().enumerate() {
            let what = format!("rule {:?}", rule.name);
            if rule.name.trim().is_empty() {
                return Err(invalid(&name, format!("rule {i} has an empty name")));
            }
            if !names.insert(rule.name.as_str()) {
                return Err(invalid(&name, format!("{what} appears twice")));
            }
            let to = index(&rule.to, &what)?;
            let mut from = 0u64;
            for s in &rule.from {
                let id = index(s, &what)?;
                if id == to {
                    return Err(invalid(&name, format!("{what} moves {s:?} to itself")));
                }
                from |= 1 << id.0;
            }
            if rule.from.is_empty() {
                from = !(1u64 << to.0) & (u64::MAX >> (64 - stages.len()));
            }
            if !within_depth(&rule.when, Condition::children) {
                return Err(invalid(&name, format!("{what}: nested deeper than {MAX_CONDITION_DEPTH} levels")));
            }
            let when = compile(&rule.when).map_err(|reason| invalid(&name, format!("{what}: {reason}")))?;
            let event = when.is_event();
            rules.push(CompiledRule { from, to, when, event });
        }
        // Reachability from the initial stage.
        let mut reached = 1u64 << initial.0;
        loop {
            let next = rules.iter().filter(|r| r.from & reached != 0).fold(reached, |acc, r| acc | (1 << r.to.0));
            if next == reached {
                break;
            }
            reached = next;
        }
        if let Some(s) = (0..stages.len()).find(|&i| reached & (1 << i) == 0) {
            return Err(invalid(
                &name,
                format!("stage {:?} cannot be reached from {:?}", stages[s], definition.initial),
            ));
        }
        let by_stage = (0..stages.len())
            .map(|s| (0..rules.len() as u16).filter(|&r| rules[usize::from(r)].from & (1 << s) != 0).collect())
            .collect();
        // A cycle among the state rules: peel stages with no incoming
        // state-rule edge from a remaining stage until none is left (acyclic)
        // or none can be peeled (a cycle).
        let mut remaining: u64 = u64::MAX >> (64 - stages.len());
        loop {
            let targets = rules
                .iter()
                .filter(|r| !r.event && r.from & remaining != 0)
                .fold(0u64, |acc, r| acc | (1u64 << r.to.0));
            let peel = remaining & !targets;
            if peel == 0 {
                break;
            }
            remaining &= !peel;
        }
        let cyclic = remaining != 0;
        Ok(StageModel { definition, initial, rules, by_stage, cyclic })
    }

    /// Whether the model's state rules (the ones that need no event) can
    /// move a customer round a cycle of stages. Such a model is valid, but
    /// evaluating it may find the cycle at run time (a typed error), so the
    /// engine works on a copy of the state to keep a failed call traceless.
    ///
    /// ```
    /// use customer_lifecycle::lifecycle::StageModel;
    /// assert!(!StageModel::ecommerce().may_cycle());
    /// ```
    pub fn may_cycle(&self) -> bool {
        self.cyclic
    }

    /// The definition it was built from.
    ///
    /// ```
    /// use customer_lifecycle::lifecycle::StageModel;
    /// let model = StageModel::ecommerce();
    /// assert_eq!(model.definition().initial, "prospect");
    /// ```
    pub fn definition(&self) -> &StageModelDefinition {
        &self.definition
    }

    /// The model's name.
    ///
    /// ```
    /// use customer_lifecycle::lifecycle::StageModel;
    /// let model = StageModel::ecommerce();
    /// assert!(!model.name().is_empty());
    /// ```
    pub fn name(&self) -> &str {
        &self.definition.name
    }

    /// Number of stages.
    ///
    /// ```
    /// use customer_lifecycle::lifecycle::StageModel;
    /// let model = StageModel::ecommerce();
    /// assert_eq!(model.len(), model.definition().stages.len());
    /// ```
    pub fn len(&self) -> usize {
        self.definition.stages.len()
    }

    /// Always false (a model has at least one stage).
    ///
    /// ```
    /// use customer_lifecycle::lifecycle::StageModel;
    /// let model = StageModel::ecommerce();
    /// assert!(!model.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.definition.stages.is_empty()
    }

    /// Where new customers start.
    ///
    /// ```
    /// use customer_lifecycle::lifecycle::StageModel;
    /// let model = StageModel::ecommerce();
    /// assert_eq!(model.stage_name(model.initial()), "prospect");
    /// ```
    pub fn initial(&self) -> StageId {
        self.initial
    }

    /// A stage's name.
    ///
    /// ```
    /// use customer_lifecycle::lifecycle::StageModel;
    /// let model = StageModel::ecommerce();
    /// let loyal = model.stage("loyal").unwrap();
    /// assert_eq!(model.stage_name(loyal), "loyal");
    /// ```
    pub fn stage_name(&self, stage: StageId) -> &str {
        self.definition.stages.get(usize::from(stage.0)).map_or("", String::as_str)
    }

    /// The stage of a name.
    ///
    /// ```
    /// use customer_lifecycle::lifecycle::StageModel;
    /// let model = StageModel::ecommerce();
    /// assert!(model.stage("at_risk").is_some() && model.stage("vip").is_none());
    /// ```
    pub fn stage(&self, name: &str) -> Option<StageId> {
        self.definition.stages.iter().position(|s| s == name).map(|i| StageId(i as u8))
    }

    /// A rule's name.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Event, EventKind, Money};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageModel};
    /// let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR))?;
    /// let t0 = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
    /// let mut state = engine.new_customer(CustomerId::from(1), t0);
    /// let kind = EventKind::OrderPlaced { order_id: "o".into(), gross: Money::parse("9", Currency::EUR)?, discount: Money::parse("0", Currency::EUR)?, items: 1 };
    /// let applied = engine.apply(&mut state, &Event::new("e", CustomerId::from(1), t0, kind)?)?;
    /// let t = applied.transitions.last().unwrap();
    /// assert!(!engine.model().rule_name(t.rule).is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rule_name(&self, rule: RuleId) -> &str {
        self.definition.rules.get(usize::from(rule.0)).map_or("", |r| r.name.as_str())
    }

    pub(crate) fn rules_from(&self, stage: StageId) -> impl Iterator<Item = (RuleId, &CompiledRule)> {
        self.by_stage[usize::from(stage.0)].iter().map(move |&r| (RuleId(r), &self.rules[usize::from(r)]))
    }

    pub(crate) fn uses_score(&self) -> bool {
        self.rules.iter().any(|r| r.when.uses_score())
    }

    /// The default e-commerce ladder with fixed inactivity windows: at risk
    /// after 90 days without an order, lapsed after 180, churned after 365.
    ///
    /// ```
    /// use customer_lifecycle::lifecycle::StageModel;
    /// let model = StageModel::ecommerce();
    /// for stage in ["prospect", "new", "active", "loyal", "at_risk", "lapsed", "churned", "reactivated"] {
    ///     assert!(model.stage(stage).is_some(), "{stage}");
    /// }
    /// ```
    pub fn ecommerce() -> StageModel {
        // Validation depends only on the definition, which the default
        // settings fix, so it fails on every call or on none, and the test
        // presets_are_valid_and_round_trip builds it: unreachable.
        EcommerceLadder::default().build().expect("the default ladder is valid") // unreachable: constant input (tested)
    }

    /// The funnel: awareness → consideration → purchase → post_purchase →
    /// retention → advocacy, with re_engagement for customers drifting away.
    ///
    /// * awareness → consideration on a product view or cart addition;
    /// * awareness or consideration → purchase on an order;
    /// * purchase → post_purchase one day after the order;
    /// * post_purchase or re_engagement → retention on an order;
    /// * retention → advocacy with an NPS answer of 9 or 10; back to
    ///   retention with an answer of 6 or less;
    /// * post_purchase, retention or advocacy → re_engagement after 90
    ///   days without an order.
    ///
    /// ```
    /// use customer_lifecycle::lifecycle::StageModel;
    /// let funnel = StageModel::funnel();
    /// assert!(funnel.len() >= 3);
    /// ```
    pub fn funnel() -> StageModel {
        let views_or_cart = Condition::Any {
            any: vec![
                Condition::Engaged { kind: Some(Engagement::ProductViews) },
                Condition::Engaged { kind: Some(Engagement::CartAdditions) },
            ],
        };
        StageModel::new(StageModelDefinition {
            name: "funnel".into(),
            stages: [
                "awareness",
                "consideration",
                "purchase",
                "post_purchase",
                "retention",
                "advocacy",
                "re_engagement",
            ]
            .map(String::from)
            .to_vec(),
            initial: "awareness".into(),
            rules: vec![
                Rule::new("considering", &["awareness"], "consideration", views_or_cart),
                Rule::new("first_purchase", &["awareness", "consideration"], "purchase", Condition::OrderPlaced),
                Rule::new("repurchase", &["post_purchase", "re_engagement"], "retention", Condition::OrderPlaced),
                Rule::new("promoter", &["retention"], "advocacy", Condition::NpsAtLeast { score: 9 }),
                Rule::new("detractor", &["advocacy"], "retention", Condition::NpsAtMost { score: 6 }),
                Rule::new(
                    "drifting",
                    &["post_purchase", "retention", "advocacy"],
                    "re_engagement",
                    Condition::DaysSinceLastOrder { days: 90 },
                ),
                Rule::new("after_purchase", &["purchase"], "post_purchase", Condition::DaysSinceLastOrder { days: 1 }),
            ],
        })
        // Validation depends only on the definition, a constant here, so it
        // fails on every call or on none, and the test
        // presets_are_valid_and_round_trip builds it: unreachable.
        .expect("the funnel is valid") // unreachable: constant input (tested)
    }

    /// The five-phase model: interest → new_customer → regular_customer →
    /// inactive → former_customer; an order brings inactive and former
    /// customers back as regular customers.
    ///
    /// * interest → new_customer on the first order;
    /// * new_customer → regular_customer on an order that makes two;
    /// * new or regular → inactive after 180 days without an order;
    /// * inactive → former_customer after 365 days without an order;
    /// * inactive or former → regular_customer on an order.
    ///
    /// ```
    /// use customer_lifecycle::lifecycle::StageModel;
    /// let five = StageModel::five_phase();
    /// assert_eq!(five.len(), 5);
    /// ```
    pub fn five_phase() -> StageModel {
        let second_order = Condition::All { all: vec![Condition::OrderPlaced, Condition::OrdersAtLeast { orders: 2 }] };
        StageModel::new(StageModelDefinition {
            name: "five_phase".into(),
            stages: ["interest", "new_customer", "regular_customer", "inactive", "former_customer"]
                .map(String::from)
                .to_vec(),
            initial: "interest".into(),
            rules: vec![
                Rule::new("first_order", &["interest"], "new_customer", Condition::OrderPlaced),
                Rule::new("came_back", &["inactive", "former_customer"], "regular_customer", Condition::OrderPlaced),
                Rule::new("second_order", &["new_customer"], "regular_customer", second_order),
                Rule::new(
                    "went_quiet",
                    &["new_customer", "regular_customer"],
                    "inactive",
                    Condition::DaysSinceLastOrder { days: 180 },
                ),
                Rule::new("gone", &["inactive"], "former_customer", Condition::DaysSinceLastOrder { days: 365 }),
            ],
        })
        // Validation depends only on the definition, a constant here, so it
        // fails on every call or on none, and the test
        // presets_are_valid_and_round_trip builds it: unreachable.
        .expect("the five-phase model is valid") // unreachable: constant input (tested)
    }
}

/// Compiles a condition on the customer's state alone, for segments: one
/// that waits for an event or reads a model score is refused.
pub(crate) fn compile_state_condition(c: &Condition) -> std::result::Result<Compiled, String> {
    if !within_depth(c, Condition::children) {
        return Err(format!("a condition nested deeper than {MAX_CONDITION_DEPTH} levels"));
    }
    let compiled = compile(c)?;
    if compiled.is_event() {
        return Err(format!("{c:?} waits for an event; a segment describes a state"));
    }
    if compiled.uses_score() {
        return Err(format!("{c:?} reads a model score; use the view's P(alive)"));
    }
    Ok(compiled)
}

fn compile(c: &Condition) -> std::result::Result<Compiled, String> {
    let days = |d: u32| if d == 0 { Err("a window of 0 days".to_string()) } else { Ok(i64::from(d) * DAY) };
    let nps = |s: u8| if s > 10 { Err(format!("NPS score {s} is outside 0..=10")) } else { Ok(s) };
    Ok(match c {
        Condition::OrderPlaced => Compiled::Event(EventIs::Class(EventClass::Order)),
        Condition::OrderReturned => Compiled::Event(EventIs::Class(EventClass::Return)),
        Condition::Engaged { kind } => Compiled::Event(EventIs::Engaged(*kind)),
        Condition::NpsAnswered => Compiled::Event(EventIs::Class(EventClass::Nps)),
        Condition::OrdersAtLeast { orders } => Compiled::OrdersAtLeast(*orders),
        Condition::NetSpendAtLeast { amount } => {
            if amount.is_sign_negative() && !amount.is_zero() {
                return Err(format!("negative amount {amount}"));
            }
            Compiled::NetSpendAtLeast(
                profile_units(*amount)
                    .ok_or_else(|| format!("amount {amount} has more than {PROFILE_SCALE} decimals or is too large"))?,
            )
        }
        Condition::DaysSinceLastOrder { days: d } => Compiled::DaysSinceLastOrder(days(*d)?),
        Condition::CadenceOverdue { sigmas, min_gaps, fallback_days } => {
            if !(0.0..=MAX_SIGMAS).contains(sigmas) {
                return Err(format!("sigmas {sigmas} must be within 0..={MAX_SIGMAS}"));
            }
            if *min_gaps < 2 {
                return Err(format!("min_gaps {min_gaps}: a spread needs at least 2 gaps"));
            }
            Compiled::CadenceOverdue { sigmas: *sigmas, min_gaps: *min_gaps, fallback: days(*fallback_days)? }
        }
        Condition::DaysSinceLastActivity { days: d } => Compiled::DaysSinceLastActivity(days(*d)?),
        Condition::EngagementAtLeast { kind, count, days } => {
            if *days == 0 || usize::from(*days) > super::profile::ENGAGEMENT_DAYS {
                return Err(format!("an engagement window of {days} days; 1..=64 allowed"));
            }
            Compiled::EngagementAtLeast { kind: *kind, count: *count, days: *days }
        }
        Condition::NpsAtLeast { score } => Compiled::NpsAtLeast(nps(*score)?),
        Condition::NpsAtMost { score } => Compiled::NpsAtMost(nps(*score)?),
        Condition::ScoreBelow { threshold } => {
            if !threshold.is_finite() {
                return Err(format!("threshold {threshold} is not finite"));
            }
            Compiled::ScoreBelow(*threshold)
        }
        Condition::All { all } if all.is_empty() => return Err("an empty `all`".into()),
        Condition::Any { any } if any.is_empty() => return Err("an empty `any`".into()),
        Condition::All { all } => Compiled::All(all.iter().map(compile).collect::<std::result::Result<_, _>>()?),
        Condition::Any { any } => Compiled::Any(any.iter().map(compile).collect::<std::result::Result<_, _>>()?),
        Condition::Not { not } => Compiled::Not(Box::new(compile(not)?)),
    })
}

/// How a customer of the e-commerce ladder becomes at risk, lapsed and churned.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(tag = "style", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Inactivity {
    /// Fixed windows: days since the last order.
    FixedWindows {
        /// At risk after this many days.
        at_risk_days: u32,
        /// Lapsed after this many days.
        lapsed_days: u32,
        /// Churned after this many days.
        churned_days: u32,
    },
    /// Relative to the customer's own cadence: at risk when the time since
    /// the last order exceeds the mean gap plus `at_risk_sigmas` σ, lapsed
    /// beyond the mean gap plus `lapsed_sigmas` σ (customers with fewer than
    /// 2 gaps use the fixed windows), churned after `churned_days`.
    Cadence {
        /// σ above the mean gap for at risk.
        at_risk_sigmas: f64,
        /// σ above the mean gap for lapsed.
        lapsed_sigmas: f64,
        /// Fixed window for at risk without enough history.
        at_risk_days: u32,
        /// Fixed window for lapsed without enough history.
        lapsed_days: u32,
        /// Churned after this many days.
        churned_days: u32,
    },
    /// Model-based: the engine's scoring function (e.g. P(alive)) below
    /// each threshold.
    ModelScore {
        /// At risk below this score.
        at_risk_below: f64,
        /// Lapsed below this score.
        lapsed_below: f64,
        /// Churned below this score.
        churned_below: f64,
    },
}

/// The e-commerce ladder's settings: prospect → new (first order) → active
/// (repeat) → loyal (thresholds) → at_risk → lapsed → churned, and
/// reactivated when a lapsed or churned customer orders again.
///
/// Rules, in priority order:
/// 1. `first_order`: prospect → new on an order;
/// 2. `won_back`: lapsed, churned → reactivated on an order;
/// 3. `back_from_risk`: at_risk → active on an order;
/// 4. `repeat_order`: new, reactivated → active on an order that makes at least two;
/// 5. `became_loyal`: active → loyal with at least `loyal_orders` orders and
///    `loyal_net_spend` net spend;
/// 6. `at_risk`, 7. `lapsed`, 8. `churned`: by the [`Inactivity`] style,
///    from new/active/loyal/reactivated, from at_risk, and from lapsed.
///
/// ```
/// use customer_lifecycle::lifecycle::{EcommerceLadder, Inactivity};
///
/// let ladder = EcommerceLadder::default()
///     .loyal(8, 500.into())
///     .inactivity(Inactivity::Cadence {
///         at_risk_sigmas: 1.0, lapsed_sigmas: 2.0, at_risk_days: 90, lapsed_days: 180, churned_days: 365,
///     })
///     .build()?;
/// assert_eq!(ladder.len(), 8);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct EcommerceLadder {
    loyal_orders: u32,
    loyal_net_spend: Decimal,
    inactivity: Inactivity,
}

impl Default for EcommerceLadder {
    fn default() -> Self {
        EcommerceLadder {
            loyal_orders: 5,
            loyal_net_spend: Decimal::ZERO,
            inactivity: Inactivity::FixedWindows { at_risk_days: 90, lapsed_days: 180, churned_days: 365 },
        }
    }
}

impl EcommerceLadder {
    /// Loyal from `orders` orders and `net_spend` net spend (default 5 and 0).
    pub fn loyal(mut self, orders: u32, net_spend: Decimal) -> EcommerceLadder {
        self.loyal_orders = orders;
        self.loyal_net_spend = net_spend;
        self
    }

    /// The inactivity style (default fixed windows of 90, 180 and 365 days).
    pub fn inactivity(mut self, inactivity: Inactivity) -> EcommerceLadder {
        self.inactivity = inactivity;
        self
    }

    /// The stage model.
    ///
    /// # Errors
    /// [`Error::InvalidStageModel`] for out-of-range settings (zero days,
    /// negative spend, non-finite thresholds).
    pub fn build(&self) -> Result<StageModel> {
        let (at_risk, lapsed, churned) = match &self.inactivity {
            Inactivity::FixedWindows { at_risk_days, lapsed_days, churned_days } => (
                Condition::DaysSinceLastOrder { days: *at_risk_days },
                Condition::DaysSinceLastOrder { days: *lapsed_days },
                Condition::DaysSinceLastOrder { days: *churned_days },
            ),
            Inactivity::Cadence { at_risk_sigmas, lapsed_sigmas, at_risk_days, lapsed_days, churned_days } => (
                Condition::CadenceOverdue { sigmas: *at_risk_sigmas, min_gaps: 2, fallback_days: *at_risk_days },
                Condition::CadenceOverdue { sigmas: *lapsed_sigmas, min_gaps: 2, fallback_days: *lapsed_days },
                Condition::DaysSinceLastOrder { days: *churned_days },
            ),
            Inactivity::ModelScore { at_risk_below, lapsed_below, churned_below } => (
                Condition::ScoreBelow { threshold: *at_risk_below },
                Condition::ScoreBelow { threshold: *lapsed_below },
                Condition::ScoreBelow { threshold: *churned_below },
            ),
        };
        let repeat = Condition::All { all: vec![Condition::OrderPlaced, Condition::OrdersAtLeast { orders: 2 }] };
        let loyal = Condition::All {
            all: vec![
                Condition::OrdersAtLeast { orders: self.loyal_orders },
                Condition::NetSpendAtLeast { amount: self.loyal_net_spend },
            ],
        };
        StageModel::new(StageModelDefinition {
            name: "ecommerce".into(),
            stages: ["prospect", "new", "active", "loyal", "at_risk", "lapsed", "churned", "reactivated"]
                .map(String::from)
                .to_vec(),
            initial: "prospect".into(),
            rules: vec![
                Rule::new("first_order", &["prospect"], "new", Condition::OrderPlaced),
                Rule::new("won_back", &["lapsed", "churned"], "reactivated", Condition::OrderPlaced),
                Rule::new("back_from_risk", &["at_risk"], "active", Condition::OrderPlaced),
                Rule::new("repeat_order", &["new", "reactivated"], "active", repeat),
                Rule::new("became_loyal", &["active"], "loyal", loyal),
                Rule::new("at_risk", &["new", "active", "loyal", "reactivated"], "at_risk", at_risk),
                Rule::new("lapsed", &["at_risk"], "lapsed", lapsed),
                Rule::new("churned", &["lapsed"], "churned", churned),
            ],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(stages: &[&str], rules: Vec<Rule>) -> StageModelDefinition {
        StageModelDefinition {
            name: "t".into(),
            stages: stages.iter().map(|s| s.to_string()).collect(),
            initial: stages.first().copied().unwrap_or("a").into(),
            rules,
        }
    }

    #[test]
    fn limits_are_refused_not_wrapped() {
        let base = StageModel::ecommerce().definition().clone();
        // More rules than 16-bit ids hold.
        let mut many = base.clone();
        let extra = Rule::new("extra", &["prospect"], "new", Condition::OrderPlaced);
        many.rules = (0..=MAX_RULES).map(|k| Rule { name: format!("r{k}"), ..extra.clone() }).collect();
        assert!(StageModel::new(many).unwrap_err().to_string().contains("rules"));
        // A repeated name among tens of thousands of rules is found at once.
        let mut repeated = base.clone();
        repeated.rules.extend((0..40_000).map(|k| Rule { name: format!("r{k}"), ..extra.clone() }));
        repeated.rules.push(Rule { name: "r7".into(), ..extra });
        assert!(StageModel::new(repeated).unwrap_err().to_string().contains("appears twice"));
        // A cadence of 1e300 standard deviations is refused, not overflowed.
        let mut cadence = base.clone();
        cadence.rules[0].when = Condition::CadenceOverdue { sigmas: 1e300, min_gaps: 2, fallback_days: 30 };
        assert!(StageModel::new(cadence).unwrap_err().to_string().contains("sigmas"));
        // A condition far deeper than the call stack is refused without
        // recursing into it.
        let mut deep = Condition::OrderPlaced;
        for _ in 0..200_000 {
            deep = Condition::Not { not: Box::new(deep) };
        }
        let mut model = base;
        model.rules[0].when = deep;
        // Refused, and the refused definition is dropped without recursing.
        let refused = StageModel::new(model);
        assert!(refused.unwrap_err().to_string().contains("deeper"));
    }

    #[test]
    fn presets_are_valid_and_round_trip() {
        for m in [StageModel::ecommerce(), StageModel::funnel(), StageModel::five_phase()] {
            let json = serde_json::to_string(&m).unwrap();
            let back: StageModel = serde_json::from_str(&json).unwrap();
            assert_eq!(back, m);
        }
        let model_based = EcommerceLadder::default()
            .inactivity(Inactivity::ModelScore { at_risk_below: 0.5, lapsed_below: 0.2, churned_below: 0.05 })
            .build()
            .unwrap();
        assert!(model_based.uses_score());
        assert!(!StageModel::ecommerce().uses_score());
    }

    #[test]
    fn invalid_models_are_typed_errors() {
        let ok = Rule::new("r", &["a"], "b", Condition::OrderPlaced);
        assert!(StageModel::new(def(&["a", "b"], vec![ok.clone()])).is_ok());
        let cases = [
            def(&["a", "b"], vec![Rule::new("r", &["a"], "c", Condition::OrderPlaced)]), // unknown stage
            def(&["a", "b"], vec![Rule::new("r", &["x"], "b", Condition::OrderPlaced)]), // unknown source
            def(&["a", "b", "c"], vec![ok.clone()]),                                     // c unreachable
            def(&["a", "a"], vec![]),                                                    // duplicate stage
            def(&["a", "b"], vec![ok.clone(), ok.clone()]),                              // duplicate rule name
            def(&["a", "b"], vec![Rule::new("r", &["b"], "b", Condition::OrderPlaced)]), // self loop
            def(&["a", "b"], vec![Rule::new("r", &["a"], "b", Condition::DaysSinceLastOrder { days: 0 })]),
            def(&["a", "b"], vec![Rule::new("r", &["a"], "b", Condition::NpsAtLeast { score: 11 })]),
            def(&["a", "b"], vec![Rule::new("r", &["a"], "b", Condition::All { all: vec![] })]),
            def(&["a", "b"], vec![Rule::new("r", &["a"], "b", Condition::ScoreBelow { threshold: f64::NAN })]),
            def(
                &["a", "b"],
                vec![Rule::new(
                    "r",
                    &["a"],
                    "b",
                    Condition::EngagementAtLeast { kind: Engagement::Visits, count: 1, days: 65 },
                )],
            ),
            def(
                &["a", "b"],
                vec![Rule::new("r", &["a"], "b", Condition::NetSpendAtLeast { amount: Decimal::new(-1, 0) })],
            ),
            def(&[], vec![]),
        ];
        for (i, d) in cases.into_iter().enumerate() {
            let e = StageModel::new(d).unwrap_err();
            assert!(matches!(e, Error::InvalidStageModel { .. }), "case {i}: {e}");
        }
        // Deserialising validates too.
        let json = r#"{"name":"t","stages":["a"],"initial":"z","rules":[]}"#;
        assert!(serde_json::from_str::<StageModel>(json).is_err());
    }

    #[test]
    fn empty_from_means_every_other_stage() {
        let m = StageModel::new(def(
            &["a", "b", "c"],
            vec![
                Rule::new("to_b", &[], "b", Condition::OrderPlaced),
                Rule::new("to_c", &["b"], "c", Condition::OrderReturned),
            ],
        ))
        .unwrap();
        assert_eq!(m.rules_from(StageId(0)).count(), 1);
        assert_eq!(m.rules_from(StageId(1)).count(), 1); // only to_c
        assert_eq!(m.rules_from(StageId(2)).count(), 1); // to_b
    }
}
