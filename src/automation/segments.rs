//! Behavioural segments: predicates over a customer's profile, stage, RFM
//! segment, churn band, CLV and consent.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::churn::RiskBand;
use crate::domain::{Channel, ConsentLedger, ConsentRecord, Purpose};
use crate::error::{Error, Result};
use crate::lifecycle::stages::{Compiled, MAX_CONDITION_DEPTH, compile_state_condition, within_depth};
use crate::lifecycle::{Condition, CustomerState, StageId, StageModel};

/// What a segment knows about one customer: the streaming state and, when
/// the application has them, the batch results.
#[derive(Clone, Copy, Debug)]
pub struct CustomerView<'a> {
    /// The engine's state.
    pub state: &'a CustomerState,
    /// The RFM segment label, if scored.
    pub rfm_segment: Option<&'a str>,
    /// The churn band, if scored.
    pub churn_band: Option<RiskBand>,
    /// The CLV, if computed.
    pub clv: Option<f64>,
    /// P(alive) from a fitted model, if computed.
    pub p_alive: Option<f64>,
    /// The consent ledger, when the application keeps one. Consent is
    /// answered from every decision the view holds: the state's (those its
    /// events carried) and the ledger's (see [`CustomerView::consent_decision`]).
    pub consent: Option<&'a ConsentLedger>,
}

impl<'a> CustomerView<'a> {
    /// A view of the state alone.
    ///
    /// ```
    /// use customer_lifecycle::automation::CustomerView;
    /// use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageModel};
    /// use customer_lifecycle::{Currency, CustomerId};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    ///
    /// let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR))?;
    /// let state = engine.new_customer(CustomerId::from(1), Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap());
    /// let view = CustomerView::of(&state);
    /// assert!(view.consent.is_none() && view.clv.is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn of(state: &'a CustomerState) -> CustomerView<'a> {
        CustomerView { state, rfm_segment: None, churn_band: None, clv: None, p_alive: None, consent: None }
    }

    /// The consent decision in force for `purpose` on `channel` at `at`,
    /// whichever structure holds it. The ledger is the system of record
    /// (it also takes decisions from outside the event stream); the state
    /// holds the decisions its events carried, recorded by the same rule
    /// ([`Event::consent_change`](crate::Event::consent_change)). Both are
    /// [`ConsentHistory`](crate::ConsentHistory) answers, combined by
    /// [`ConsentRecord::prevailing`]: the later decision, and at the same
    /// instant the more restrictive. So a view with the state alone, with the
    /// ledger, or with both gives the same answer when both saw the same
    /// decisions, and a restriction known to either is never lost.
    ///
    /// ```
    /// use customer_lifecycle::automation::CustomerView;
    /// use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageModel};
    /// use customer_lifecycle::{Channel, ConsentChange, ConsentStatus, Currency, CustomerId, Event, EventKind, Purpose};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    ///
    /// let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR))?;
    /// let at = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    /// let mut state = engine.new_customer(CustomerId::from(1), at);
    /// let grant = ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Granted);
    /// engine.apply(&mut state, &Event::new("c1", CustomerId::from(1), at, EventKind::ConsentChanged(grant))?)?;
    /// // No ledger given: the state's own decisions answer.
    /// assert!(CustomerView::of(&state).may_contact(&Channel::Email, &Purpose::Marketing, at));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn consent_decision(
        &self,
        channel: &Channel,
        purpose: &Purpose,
        at: DateTime<Utc>,
    ) -> Option<&'a ConsentRecord> {
        let state: &'a CustomerState = self.state;
        let from_state = state.consent().decision(channel, purpose, at);
        let from_ledger = self.consent.and_then(|l| l.decision(state.customer(), channel, purpose, at));
        ConsentRecord::prevailing(from_state, from_ledger)
    }

    /// May the customer be contacted on `channel` for `purpose` at `at`
    /// ([`CustomerView::consent_decision`] is a grant in force)?
    ///
    /// ```
    /// use customer_lifecycle::automation::CustomerView;
    /// use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageModel};
    /// use customer_lifecycle::{Channel, Currency, CustomerId, Purpose};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    ///
    /// let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR))?;
    /// let at = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    /// let state = engine.new_customer(CustomerId::from(1), at);
    /// assert!(!CustomerView::of(&state).may_contact(&Channel::Email, &Purpose::Marketing, at)); // opt-in
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn may_contact(&self, channel: &Channel, purpose: &Purpose, at: DateTime<Utc>) -> bool {
        self.consent_decision(channel, purpose, at).is_some_and(|r| r.permits(at))
    }
}

/// A segment: a predicate, composable with `all`, `any` and `not`, written
/// in code or as serde data (internally tagged by `type`).
///
/// Conditions on the customer's profile (orders, net spend, days since the
/// last order or activity, engagement in a window, NPS, cadence) are the
/// stage engine's own [`Condition`] language, in [`Segment::Profile`]:
/// one language, compiled and checked by the same code. A segment adds
/// only what a stage rule cannot see: the stage itself, the batch results a
/// view carries (RFM segment, churn band, CLV, P(alive)) and consent.
///
/// A segment is compiled once against a stage model ([`Segment::compile`]);
/// [`Triggers`](crate::automation::Triggers) compile theirs when they are built.
///
/// ```
/// use customer_lifecycle::automation::{CustomerView, Segment};
/// use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageModel};
/// use customer_lifecycle::{Currency, CustomerId};
/// use customer_lifecycle::chrono::{TimeZone, Utc};
///
/// // "Loyal or at risk, with at least 3 orders": as data.
/// let json = r#"{"type": "all", "all": [
///     {"type": "any", "any": [{"type": "stage", "stage": "loyal"}, {"type": "stage", "stage": "at_risk"}]},
///     {"type": "profile", "condition": {"type": "orders_at_least", "orders": 3}}]}"#;
/// let segment: Segment = serde_json::from_str(json)?;
/// let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR))?;
/// let compiled = segment.compile(engine.model())?;
/// let now = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
/// let state = engine.new_customer(CustomerId::from(1), now);
/// assert!(!compiled.matches(&CustomerView::of(&state), now)); // a prospect
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Segment {
    /// In this lifecycle stage.
    Stage {
        /// The stage's name.
        stage: String,
    },
    /// In this RFM segment.
    RfmSegment {
        /// The label.
        segment: String,
    },
    /// In this churn band.
    ChurnBand {
        /// The band.
        band: RiskBand,
    },
    /// CLV at least this much.
    ClvAtLeast {
        /// The value.
        value: f64,
    },
    /// P(alive) below this threshold (a model's estimate crossed it).
    PAliveBelow {
        /// The threshold.
        threshold: f64,
    },
    /// A condition on the customer's profile, in the stage engine's
    /// language: any [`Condition`] that describes a state (not an event,
    /// and not a model score: use [`Segment::PAliveBelow`]).
    Profile {
        /// The condition.
        condition: Condition,
    },
    /// Consent allows contact on this channel for this purpose now
    /// ([`CustomerView::may_contact`]).
    MayContact {
        /// The channel.
        channel: Channel,
        /// The purpose.
        purpose: Purpose,
    },
    /// Every one holds.
    All {
        /// The segments.
        all: Vec<Segment>,
    },
    /// At least one holds.
    Any {
        /// The segments.
        any: Vec<Segment>,
    },
    /// It does not hold.
    Not {
        /// The segment.
        not: Box<Segment>,
    },
}

impl Drop for Segment {
    /// Drops nested segments with an explicit stack (a segment built in code
    /// may be deeper than the call stack; the derived drop would recurse).
    fn drop(&mut self) {
        let mut stack = Vec::new();
        take_children(self, &mut stack);
        while let Some(mut s) = stack.pop() {
            take_children(&mut s, &mut stack);
        }
    }
}

/// Moves the children of an `all`, `any` or `not` onto `stack`.
fn take_children(s: &mut Segment, stack: &mut Vec<Segment>) {
    match s {
        Segment::All { all: v } | Segment::Any { any: v } => stack.append(v),
        Segment::Not { not } => stack.push(std::mem::replace(&mut **not, Segment::ClvAtLeast { value: 0.0 })),
        _ => {}
    }
}

impl Segment {
    /// Compiles the segment against a stage model: stage names resolved,
    /// profile conditions compiled by the stage engine's compiler, every
    /// threshold checked.
    ///
    /// ```
    /// use customer_lifecycle::automation::Segment;
    /// use customer_lifecycle::lifecycle::{Condition, StageModel};
    ///
    /// let big_spenders = Segment::Profile { condition: Condition::OrdersAtLeast { orders: 5 } };
    /// assert!(big_spenders.compile(&StageModel::ecommerce()).is_ok());
    /// // An event is not a state: a segment cannot wait for one.
    /// assert!(Segment::Profile { condition: Condition::OrderPlaced }.compile(&StageModel::ecommerce()).is_err());
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an unknown stage, an empty `all`/`any`,
    /// a profile condition the stage engine refuses or that waits for an
    /// event or a score, a P(alive) threshold outside 0..=1, a non-finite
    /// CLV threshold, or nesting deeper than
    /// [`MAX_CONDITION_DEPTH`](crate::lifecycle::MAX_CONDITION_DEPTH).
    pub fn compile(&self, model: &StageModel) -> Result<CompiledSegment> {
        if !within_depth(self, Segment::children) {
            return Err(Error::InvalidArgument {
                name: "segment",
                reason: format!("nested deeper than {MAX_CONDITION_DEPTH} levels"),
            });
        }
        compile(self, model).map(CompiledSegment)
    }

    /// The children of an `all`, `any` or `not`.
    fn children(&self) -> &[Segment] {
        match self {
            Segment::All { all: v } | Segment::Any { any: v } => v,
            Segment::Not { not } => std::slice::from_ref(&**not),
            _ => &[],
        }
    }

    /// Checks the definition against a stage model ([`Segment::compile`]
    /// without keeping the result).
    ///
    /// ```
    /// use customer_lifecycle::automation::Segment;
    /// use customer_lifecycle::lifecycle::StageModel;
    ///
    /// assert!(Segment::Stage { stage: "vip".into() }.validate(&StageModel::ecommerce()).is_err());
    /// ```
    ///
    /// # Errors
    /// As [`Segment::compile`].
    pub fn validate(&self, model: &StageModel) -> Result<()> {
        self.compile(model).map(|_| ())
    }

    /// Whether the customer is in the segment at `now` (compiles the
    /// segment first; to test many customers, compile once).
    ///
    /// ```
    /// use customer_lifecycle::automation::{CustomerView, Segment};
    /// use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageModel};
    /// use customer_lifecycle::{Currency, CustomerId};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    ///
    /// let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR))?;
    /// let now = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    /// let state = engine.new_customer(CustomerId::from(1), now);
    /// let prospects = Segment::Stage { stage: "prospect".into() };
    /// assert!(prospects.matches(&CustomerView::of(&state), now, engine.model())?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`Segment::compile`].
    pub fn matches(&self, view: &CustomerView<'_>, now: DateTime<Utc>, model: &StageModel) -> Result<bool> {
        Ok(self.compile(model)?.matches(view, now))
    }
}

/// A [`Segment`] compiled against a stage model ([`Segment::compile`]):
/// evaluating it allocates nothing.
#[derive(Clone, PartialEq, Debug)]
pub struct CompiledSegment(Node);

#[derive(Clone, PartialEq, Debug)]
enum Node {
    Stage(StageId),
    RfmSegment(String),
    ChurnBand(RiskBand),
    ClvAtLeast(f64),
    PAliveBelow(f64),
    Profile(Compiled),
    MayContact(Channel, Purpose),
    All(Vec<Node>),
    Any(Vec<Node>),
    Not(Box<Node>),
}

fn compile(segment: &Segment, model: &StageModel) -> Result<Node> {
    let bad = |reason: String| Error::InvalidArgument { name: "segment", reason };
    let many = |v: &[Segment]| -> Result<Vec<Node>> {
        if v.is_empty() {
            return Err(bad("an empty all/any".into()));
        }
        v.iter().map(|s| compile(s, model)).collect()
    };
    Ok(match segment {
        Segment::Stage { stage } => Node::Stage(
            model.stage(stage).ok_or_else(|| bad(format!("unknown stage {stage:?} in model {:?}", model.name())))?,
        ),
        Segment::RfmSegment { segment } => Node::RfmSegment(segment.clone()),
        Segment::ChurnBand { band } => Node::ChurnBand(*band),
        Segment::ClvAtLeast { value } if !value.is_finite() => return Err(bad(format!("CLV threshold {value}"))),
        Segment::ClvAtLeast { value } => Node::ClvAtLeast(*value),
        Segment::PAliveBelow { threshold } if !(0.0..=1.0).contains(threshold) => {
            return Err(bad(format!("P(alive) threshold {threshold} outside 0..=1")));
        }
        Segment::PAliveBelow { threshold } => Node::PAliveBelow(*threshold),
        Segment::Profile { condition } => Node::Profile(compile_state_condition(condition).map_err(bad)?),
        Segment::MayContact { channel, purpose } => Node::MayContact(channel.clone(), purpose.clone()),
        Segment::All { all } => Node::All(many(all)?),
        Segment::Any { any } => Node::Any(many(any)?),
        Segment::Not { not } => Node::Not(Box::new(compile(not, model)?)),
    })
}

impl CompiledSegment {
    /// Whether the customer is in the segment at `now`.
    ///
    /// ```
    /// use customer_lifecycle::automation::{CustomerView, Segment};
    /// use customer_lifecycle::lifecycle::{Condition, EngineOptions, Lifecycle, StageModel};
    /// use customer_lifecycle::{Currency, CustomerId};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    ///
    /// let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR))?;
    /// let now = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    /// let state = engine.new_customer(CustomerId::from(1), now);
    /// let buyers = Segment::Profile { condition: Condition::OrdersAtLeast { orders: 1 } }.compile(engine.model())?;
    /// assert!(!buyers.matches(&CustomerView::of(&state), now));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn matches(&self, view: &CustomerView<'_>, now: DateTime<Utc>) -> bool {
        self.0.holds(view, now, now.timestamp())
    }

    /// [`CompiledSegment::matches`] with `now` also in Unix seconds (the
    /// trigger loop has both; converting per node would cost more than the
    /// test itself).
    pub(crate) fn matches_at(&self, view: &CustomerView<'_>, now: DateTime<Utc>, secs: i64) -> bool {
        self.0.holds(view, now, secs)
    }

    /// Membership of a whole population, in the order of `views`.
    ///
    /// ```
    /// use customer_lifecycle::automation::{CustomerView, Segment};
    /// use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageModel};
    /// use customer_lifecycle::{Currency, CustomerId};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    ///
    /// let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR))?;
    /// let now = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    /// let states: Vec<_> = (0..3).map(|i| engine.new_customer(CustomerId::from(i), now)).collect();
    /// let views: Vec<_> = states.iter().map(CustomerView::of).collect();
    /// let prospects = Segment::Stage { stage: "prospect".into() }.compile(engine.model())?;
    /// assert_eq!(prospects.select(&views, now), [true, true, true]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn select(&self, views: &[CustomerView<'_>], now: DateTime<Utc>) -> Vec<bool> {
        views.iter().map(|v| self.matches(v, now)).collect()
    }
}

impl Node {
    fn holds(&self, view: &CustomerView<'_>, now: DateTime<Utc>, secs: i64) -> bool {
        match self {
            Node::Stage(stage) => view.state.stage() == *stage,
            Node::RfmSegment(segment) => view.rfm_segment == Some(segment.as_str()),
            Node::ChurnBand(band) => view.churn_band == Some(*band),
            Node::ClvAtLeast(value) => view.clv.is_some_and(|c| c >= *value),
            Node::PAliveBelow(threshold) => view.p_alive.is_some_and(|p| p < *threshold),
            Node::Profile(condition) => condition.holds_on(view.state.profile(), secs),
            Node::MayContact(channel, purpose) => view.may_contact(channel, purpose, now),
            Node::All(all) => all.iter().all(|s| s.holds(view, now, secs)),
            Node::Any(any) => any.iter().any(|s| s.holds(view, now, secs)),
            Node::Not(not) => !not.holds(view, now, secs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Engagement;
    use crate::domain::consent::{ConsentChange, ConsentStatus};
    use crate::domain::customer::CustomerId;
    use crate::domain::event::{Event, EventKind};
    use crate::domain::money::{Currency, Money};
    use crate::lifecycle::{EngineOptions, Lifecycle};
    use chrono::{TimeDelta, TimeZone};
    use rust_decimal::Decimal;

    fn profile(condition: Condition) -> Segment {
        Segment::Profile { condition }
    }

    #[test]
    fn a_segment_deeper_than_the_stack_is_refused_without_recursing() {
        let mut deep = Segment::Stage { stage: "loyal".into() };
        for _ in 0..200_000 {
            deep = Segment::Not { not: Box::new(deep) };
        }
        let model = StageModel::ecommerce();
        assert!(deep.compile(&model).unwrap_err().to_string().contains("deeper"));
        let shallow = Segment::Not { not: Box::new(Segment::Stage { stage: "loyal".into() }) };
        assert!(shallow.compile(&model).is_ok());
        // `deep` is dropped here, iteratively.
    }

    #[test]
    fn consent_has_one_answer_whichever_store_the_view_holds() {
        let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR)).unwrap();
        let t0 = Utc.with_ymd_and_hms(2024, 1, 1, 12, 0, 0).unwrap();
        let c = CustomerId::from("ana@example.com");
        let email = |view: &CustomerView<'_>, at| view.may_contact(&Channel::Email, &Purpose::Marketing, at);
        let grant = Event::new(
            "g",
            c.clone(),
            t0,
            EventKind::ConsentChanged(ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Granted)),
        )
        .unwrap();
        let mut state = engine.new_customer(c.clone(), t0);
        engine.apply(&mut state, &grant).unwrap();
        let mut ledger = ConsentLedger::new();
        ledger.record_event(&grant).unwrap();
        // The state alone, the ledger alone (beside a state that saw
        // nothing), and both: the same answer.
        let bare = engine.new_customer(c.clone(), t0);
        let state_only = CustomerView::of(&state);
        let ledger_only = CustomerView { consent: Some(&ledger), ..CustomerView::of(&bare) };
        let both = CustomerView { consent: Some(&ledger), ..CustomerView::of(&state) };
        for view in [&state_only, &ledger_only, &both] {
            assert!(email(view, t0));
        }
        // A withdrawal the ledger recorded from outside the event stream
        // wins over the state's older grant.
        let mut withdrawn = ledger.clone();
        let later = t0 + TimeDelta::hours(1);
        let withdrawal = ConsentChange::new(Purpose::Marketing, Channel::Any, ConsentStatus::Withdrawn);
        withdrawn.record(&c, withdrawal.clone(), later).unwrap();
        let view = CustomerView { consent: Some(&withdrawn), ..CustomerView::of(&state) };
        assert!(email(&view, t0) && !email(&view, later));
        // At the same instant a restriction in one store beats a grant in the other.
        let mut same_instant = ConsentLedger::new();
        same_instant.record(&c, withdrawal, t0).unwrap();
        let view = CustomerView { consent: Some(&same_instant), ..CustomerView::of(&state) };
        assert!(!email(&view, t0));
        assert_eq!(
            view.consent_decision(&Channel::Email, &Purpose::Marketing, t0).unwrap().change.status,
            ConsentStatus::Withdrawn
        );
    }

    #[test]
    fn segments_by_hand() {
        let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR)).unwrap();
        let model = engine.model();
        let t0 = Utc.with_ymd_and_hms(2024, 1, 1, 12, 0, 0).unwrap();
        let c = CustomerId::from(1);
        let mut s = engine.new_customer(c.clone(), t0);
        for (k, d) in [0, 10].into_iter().enumerate() {
            let kind = EventKind::OrderPlaced {
                order_id: format!("o{k}"),
                gross: Money::parse("60", Currency::EUR).unwrap(),
                discount: Money::parse("0", Currency::EUR).unwrap(),
                items: 1,
            };
            engine
                .apply(&mut s, &Event::new(format!("e{k}"), c.clone(), t0 + TimeDelta::days(d), kind).unwrap())
                .unwrap();
        }
        let mut ledger = ConsentLedger::new();
        ledger.record(&c, ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Granted), t0).unwrap();
        let view = CustomerView {
            state: &s,
            rfm_segment: Some("champions"),
            churn_band: Some(RiskBand::Low),
            clv: Some(250.0),
            p_alive: Some(0.4),
            consent: Some(&ledger),
        };
        let now = t0 + TimeDelta::days(40);
        let yes = [
            Segment::Stage { stage: "active".into() },
            Segment::RfmSegment { segment: "champions".into() },
            Segment::ChurnBand { band: RiskBand::Low },
            Segment::ClvAtLeast { value: 200.0 },
            profile(Condition::OrdersAtLeast { orders: 2 }),
            profile(Condition::NetSpendAtLeast { amount: Decimal::new(120, 0) }),
            profile(Condition::DaysSinceLastOrder { days: 30 }),
            Segment::MayContact { channel: Channel::Email, purpose: Purpose::Marketing },
            Segment::PAliveBelow { threshold: 0.5 },
        ];
        for s in &yes {
            assert!(s.matches(&view, now, model).unwrap(), "{s:?}");
            s.validate(model).unwrap();
        }
        let no = [
            profile(Condition::DaysSinceLastOrder { days: 31 }),
            Segment::MayContact { channel: Channel::Sms, purpose: Purpose::Marketing },
            profile(Condition::EngagementAtLeast { kind: Engagement::ProductViews, count: 1, days: 30 }),
            profile(Condition::NpsAtLeast { score: 0 }),
            Segment::Not { not: Box::new(yes[0].clone()) },
        ];
        for s in &no {
            assert!(!s.matches(&view, now, model).unwrap(), "{s:?}");
        }
        let both =
            Segment::All { all: vec![yes[0].clone(), Segment::Any { any: vec![no[0].clone(), yes[3].clone()] }] };
        assert!(both.matches(&view, now, model).unwrap());
        assert_eq!(both.compile(model).unwrap().select(&[view, CustomerView::of(&s)], now), [true, false]);
        // Data round trip and validation.
        let json = serde_json::to_string(&both).unwrap();
        assert_eq!(serde_json::from_str::<Segment>(&json).unwrap(), both);
        for bad in [
            Segment::Stage { stage: "vip".into() },
            Segment::All { all: vec![] },
            profile(Condition::EngagementAtLeast { kind: Engagement::Visits, count: 1, days: 0 }),
            profile(Condition::NpsAtMost { score: 11 }),
            profile(Condition::OrderPlaced),
            profile(Condition::ScoreBelow { threshold: 0.5 }),
            Segment::PAliveBelow { threshold: 1.5 },
            Segment::Not { not: Box::new(Segment::ClvAtLeast { value: f64::NAN }) },
        ] {
            assert!(bad.validate(model).is_err(), "{bad:?}");
        }
    }
}
