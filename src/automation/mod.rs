//! Automation: behavioural segments, consent-aware triggers, control groups.
//!
//! The layer wraps the stage engine (the engine never calls it): the
//! application applies an event to a customer's state, then asks this layer
//! which actions fire. Actions are opaque to the crate (an id, a channel, a
//! purpose, a payload): the application sends the e-mail.

mod control;

pub use control::{ControlGroup, Outcome, Uplift};
