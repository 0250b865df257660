//! Automation: behavioural segments, consent-aware triggers, control groups.
//!
//! The layer wraps the stage engine (the engine never calls it): the
//! application applies an event to a customer's state with
//! [`Lifecycle::apply`](crate::lifecycle::Lifecycle::apply), then asks
//! [`Triggers::on_event`] which actions fire; on a clock tick, after
//! [`Lifecycle::advance_to`](crate::lifecycle::Lifecycle::advance_to),
//! [`Triggers::on_tick`]. Actions are opaque to the crate (an id, a channel,
//! a purpose, a payload): the application sends the e-mail. Every firing is
//! checked against the [`ConsentLedger`](crate::ConsentLedger) at its own
//! time, and suppressed firings are reported with the reason (no consent,
//! frequency cap, quiet period after a return or a complaint, once per
//! customer).
//!
//! [`Segment`]s are predicates over the profile, stage, RFM segment, churn
//! band, CLV and consent; [`ControlGroup`] and [`Uplift`] measure whether a
//! campaign worked.

mod control;
mod segments;
mod triggers;

pub use control::{ControlGroup, Outcome, Uplift};
pub use segments::{CompiledSegment, CustomerView, Segment};
pub use triggers::{
    Action, Firing, Firings, FrequencyCap, Limits, MAX_TRIGGER_RULES, Suppression, TriggerCondition, TriggerRule,
    TriggerState, Triggers, Unless,
};
