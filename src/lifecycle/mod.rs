//! The lifecycle stage engine: where does this customer stand now, and did
//! that just change?
//!
//! A [`Lifecycle`] engine holds a [`StageModel`] (stages and rules, as
//! validated data) and its [`EngineOptions`]; each customer is a
//! [`CustomerState`] the application keeps (in memory, a cache, a database
//! row — it serialises). On every event the application calls
//! [`Lifecycle::apply`]; when time passes without events (a nightly job, a
//! timer), [`Lifecycle::advance_to`]. Both return the [`Transition`]s that
//! happened, each with the rule that fired and the instant it took effect.
//!
//! ```text
//!   Event ──► Lifecycle::apply(&mut state, &event) ──► Applied { transitions, duplicate, restated }
//!   now   ──► Lifecycle::advance_to(&mut state, now) ──► Transitions (at risk, lapsed, churned, …)
//! ```
//!
//! * **Profile** ([`Profile`]): orders, spend, returns, discounts, cadence
//!   (mean and spread of the gaps between purchase days), last activity per
//!   channel, rolling engagement counts over up to 64 days (kept as day
//!   buckets, not events), NPS, support tickets; fixed-size. Its
//!   [`summary_row`](CustomerState::summary_row) equals the batch
//!   [`PurchaseSummary`](crate::PurchaseSummary)'s row for the customer, so
//!   model-based rules score streaming and batch customers alike.
//! * **Stage models**: [`StageModel::ecommerce`] (the default ladder,
//!   configurable with [`EcommerceLadder`] and three [`Inactivity`] styles:
//!   fixed windows, the customer's own cadence, or a model score),
//!   [`StageModel::funnel`], [`StageModel::five_phase`], or your own
//!   [`StageModelDefinition`], validated by [`StageModel::new`].
//! * **Out-of-order events**: within the lateness window
//!   ([`EngineOptions::lateness`]) a late event is merged in order and the
//!   window replayed, so the final state is the one in-order delivery gives;
//!   later than that is [`Error::LateEvent`](crate::Error::LateEvent).
//!   Replays of an event (same id and content) are no-ops.
//! * **Population analytics** ([`StageHistory`]): stage counts at a date,
//!   transition matrices between dates, time spent in each stage, funnel
//!   conversion, entries into a stage (e.g. reactivations).
//!
//! The engine never calls triggers or sends anything: the automation layer
//! wraps it.

mod analytics;
mod engine;
mod merge;
mod profile;
mod replay;
pub(crate) mod stages;

pub use analytics::{FunnelStep, StageHistory, StageTime, TransitionMatrix};
pub use engine::{
    Applied, CustomerState, EngineOptions, Lifecycle, MAX_LATENESS_SECONDS, NEXT_DUE_HORIZON_DAYS,
    STATE_FORMAT_VERSION, ScoreFn, Transition, Transitions,
};
pub use merge::{Merged, StateWithEvents};
pub use profile::{ActivityChannel, ENGAGEMENT_DAYS, PROFILE_SCALE, Profile, SummaryRow};
pub use stages::{
    Condition, EcommerceLadder, Inactivity, MAX_CONDITION_DEPTH, MAX_RULES, MAX_SIGMAS, MAX_STAGES, Rule, RuleId,
    StageId, StageModel, StageModelDefinition,
};
