//! The vocabulary of consent: purposes, channels, statuses, legal bases and
//! the record of one decision.
//!
//! These types are shared by the event model, the stage engine and the
//! automation layer so that all of them speak of consent in the same terms.
//! A record answers one question, [`ConsentRecord::permits`]: does this
//! decision allow processing for its purpose and channel at a given time?

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::customer::CustomerId;
use crate::error::{Error, Result};
use crate::event::{Event, EventKind};

/// Why personal data is processed.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Purpose {
    /// Marketing messages (newsletters, offers).
    Marketing,
    /// Personalised content and recommendations.
    Personalisation,
    /// Profiling and predictive scoring (e.g. churn risk).
    Profiling,
    /// Analytics and measurement.
    Analytics,
    /// Service messages tied to a contract (order confirmations).
    Service,
    /// A purpose of the application's own.
    Other(String),
}

/// How a customer is reached.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Channel {
    /// E-mail.
    Email,
    /// SMS / text message.
    Sms,
    /// Mobile push notification.
    Push,
    /// Telephone.
    Phone,
    /// Postal mail.
    Post,
    /// Messages inside the shop's site or app.
    InApp,
    /// Every channel (a decision not tied to one channel, e.g. profiling).
    Any,
    /// A channel of the application's own.
    Other(String),
}

impl Channel {
    /// True when a decision about `self` covers contact through `channel`.
    pub fn covers(&self, channel: &Channel) -> bool {
        self == &Channel::Any || self == channel
    }
}

/// The state a decision puts a purpose/channel in.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentStatus {
    /// The customer agreed.
    Granted,
    /// The customer was asked and declined.
    Denied,
    /// The customer agreed earlier and took it back.
    Withdrawn,
    /// The customer objected to processing based on legitimate interest
    /// (e.g. to profiling or direct marketing).
    Objected,
}

impl fmt::Display for ConsentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConsentStatus::Granted => "granted",
            ConsentStatus::Denied => "denied",
            ConsentStatus::Withdrawn => "withdrawn",
            ConsentStatus::Objected => "objected",
        })
    }
}

/// The legal ground for processing (GDPR art. 6(1)).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegalBasis {
    /// (a) consent.
    Consent,
    /// (b) performance of a contract.
    Contract,
    /// (c) a legal obligation.
    LegalObligation,
    /// (d) vital interests.
    VitalInterests,
    /// (e) a task in the public interest.
    PublicTask,
    /// (f) legitimate interests.
    LegitimateInterest,
}

/// One consent decision, without its time: what an event carries.
///
/// ```
/// use customer_lifecycle::{Channel, ConsentChange, ConsentStatus, LegalBasis, Purpose};
///
/// let change = ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Granted)
///     .with_legal_basis(LegalBasis::Consent)
///     .with_source("signup form")
///     .with_notice_version("privacy-2024-03");
/// assert_eq!(change.status, ConsentStatus::Granted);
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ConsentChange {
    /// What the decision is about.
    pub purpose: Purpose,
    /// Through which channel.
    pub channel: Channel,
    /// The decision.
    pub status: ConsentStatus,
    /// The legal ground claimed.
    pub legal_basis: LegalBasis,
    /// Where the decision was captured (form, support call, import).
    pub source: Option<String>,
    /// The privacy notice version shown.
    pub notice_version: Option<String>,
    /// When a granted consent lapses, if it does.
    pub expires_at: Option<DateTime<Utc>>,
}

impl ConsentChange {
    /// A decision with legal basis [`LegalBasis::Consent`] and no source, notice or expiry.
    pub fn new(purpose: Purpose, channel: Channel, status: ConsentStatus) -> ConsentChange {
        ConsentChange {
            purpose,
            channel,
            status,
            legal_basis: LegalBasis::Consent,
            source: None,
            notice_version: None,
            expires_at: None,
        }
    }

    /// Sets the legal basis.
    pub fn with_legal_basis(mut self, basis: LegalBasis) -> ConsentChange {
        self.legal_basis = basis;
        self
    }

    /// Sets where the decision was captured.
    pub fn with_source(mut self, source: impl Into<String>) -> ConsentChange {
        self.source = Some(source.into());
        self
    }

    /// Sets the notice version.
    pub fn with_notice_version(mut self, version: impl Into<String>) -> ConsentChange {
        self.notice_version = Some(version.into());
        self
    }

    /// Sets an expiry for a granted consent.
    pub fn with_expiry(mut self, at: DateTime<Utc>) -> ConsentChange {
        self.expires_at = Some(at);
        self
    }
}

/// A consent decision at a point in time.
///
/// ```
/// use customer_lifecycle::{Channel, ConsentChange, ConsentRecord, ConsentStatus, Purpose};
/// use customer_lifecycle::chrono::{TimeZone, Utc};
///
/// let at = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
/// let until = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
/// let record = ConsentRecord::new(
///     ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Granted).with_expiry(until),
///     at,
/// );
/// assert!(record.permits(Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).unwrap()));
/// assert!(!record.permits(until)); // expired
/// assert!(!record.permits(Utc.with_ymd_and_hms(2023, 6, 1, 0, 0, 0).unwrap())); // not yet given
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ConsentRecord {
    /// The decision.
    pub change: ConsentChange,
    /// When it was made; it takes effect at this instant.
    pub at: DateTime<Utc>,
}

impl ConsentRecord {
    /// A decision made at `at`.
    pub fn new(change: ConsentChange, at: DateTime<Utc>) -> ConsentRecord {
        ConsentRecord { change, at }
    }

    /// True when this decision, on its own, allows processing at `when`:
    /// it is a grant, made at or before `when`, and not expired by then.
    pub fn permits(&self, when: DateTime<Utc>) -> bool {
        self.change.status == ConsentStatus::Granted
            && self.at <= when
            && self.change.expires_at.is_none_or(|e| when < e)
    }
}

/// Every customer's consent decisions, append-only, answering "may we
/// contact this customer on this channel for this purpose at this time?"
/// for any point in time.
///
/// The decision in force for a purpose and channel at `at` is the latest one
/// made at or before `at` for that purpose and that channel or
/// [`Channel::Any`]; it permits contact when it is a grant that has not
/// expired ([`ConsentRecord::permits`]). Without any decision the answer is
/// no (opt-in). Withdrawals and objections take effect at their timestamp:
/// from that instant on, nothing for that purpose and channel is allowed.
/// Decisions may be recorded late (out of time order); the history stays in
/// time order and answers are the same as if they had come in order.
///
/// ```
/// use customer_lifecycle::{Channel, ConsentChange, ConsentLedger, ConsentStatus, CustomerId, Purpose};
/// use customer_lifecycle::chrono::{TimeZone, Utc};
///
/// let day = |d| Utc.with_ymd_and_hms(2024, 5, d, 0, 0, 0).unwrap();
/// let alice = CustomerId::from("alice");
/// let mut ledger = ConsentLedger::new();
/// ledger.record(&alice, ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Granted), day(1))?;
/// ledger.record(&alice, ConsentChange::new(Purpose::Marketing, Channel::Any, ConsentStatus::Withdrawn), day(10))?;
/// assert!(ledger.may_contact(&alice, &Channel::Email, &Purpose::Marketing, day(5)));
/// assert!(!ledger.may_contact(&alice, &Channel::Email, &Purpose::Marketing, day(10)));
/// assert!(!ledger.may_contact(&alice, &Channel::Sms, &Purpose::Marketing, day(5))); // never granted
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct ConsentLedger {
    customers: BTreeMap<CustomerId, Vec<ConsentRecord>>,
}

impl ConsentLedger {
    /// An empty ledger.
    pub fn new() -> ConsentLedger {
        ConsentLedger::default()
    }

    /// Appends a decision made at `at`. An identical decision at the same
    /// instant (a replay) is recorded once.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an expiry not after `at`.
    pub fn record(&mut self, customer: &CustomerId, change: ConsentChange, at: DateTime<Utc>) -> Result<bool> {
        if change.expires_at.is_some_and(|e| e <= at) {
            return Err(Error::InvalidArgument {
                name: "consent expiry",
                reason: format!("customer {customer}: expiry is not after the decision at {at}"),
            });
        }
        let history = self.customers.entry(customer.clone()).or_default();
        let record = ConsentRecord::new(change, at);
        if history.contains(&record) {
            return Ok(false);
        }
        let position = history.partition_point(|r| r.at <= at);
        history.insert(position, record);
        Ok(true)
    }

    /// Records the decision an event carries: a consent change, or an
    /// unsubscribe (a withdrawal of marketing on that channel). Other
    /// events are ignored (`Ok(false)`).
    ///
    /// # Errors
    /// As [`ConsentLedger::record`]; an invalid event.
    pub fn record_event(&mut self, event: &Event) -> Result<bool> {
        event.validate()?;
        match &event.kind {
            EventKind::ConsentChanged(change) => self.record(&event.customer, change.clone(), event.at),
            EventKind::Unsubscribed { channel } => {
                let change = ConsentChange::new(Purpose::Marketing, channel.clone(), ConsentStatus::Withdrawn)
                    .with_source("unsubscribe");
                self.record(&event.customer, change, event.at)
            }
            _ => Ok(false),
        }
    }

    /// A customer's decisions, oldest first.
    pub fn history(&self, customer: &CustomerId) -> &[ConsentRecord] {
        self.customers.get(customer).map_or(&[], Vec::as_slice)
    }

    /// The decision in force for `purpose` on `channel` at `at`.
    pub fn decision(
        &self,
        customer: &CustomerId,
        channel: &Channel,
        purpose: &Purpose,
        at: DateTime<Utc>,
    ) -> Option<&ConsentRecord> {
        self.history(customer)
            .iter()
            .rfind(|r| r.at <= at && &r.change.purpose == purpose && r.change.channel.covers(channel))
    }

    /// May the customer be contacted on `channel` for `purpose` at `at`?
    pub fn may_contact(&self, customer: &CustomerId, channel: &Channel, purpose: &Purpose, at: DateTime<Utc>) -> bool {
        self.decision(customer, channel, purpose, at).is_some_and(|r| r.permits(at))
    }

    /// Whether the customer's decision on profiling in force at `at` is an
    /// objection (then no learned model may score them).
    pub fn objected_to_profiling(&self, customer: &CustomerId, at: DateTime<Utc>) -> bool {
        self.decision(customer, &Channel::Any, &Purpose::Profiling, at)
            .is_some_and(|r| r.change.status == ConsentStatus::Objected)
    }

    /// Customers with at least one decision.
    pub fn len(&self) -> usize {
        self.customers.len()
    }

    /// True when no decision is recorded.
    pub fn is_empty(&self) -> bool {
        self.customers.is_empty()
    }

    /// Removes everything about a customer (right to erasure); `true` when
    /// there was something.
    pub fn erase(&mut self, customer: &CustomerId) -> bool {
        self.customers.remove(customer).is_some()
    }

    /// Moves a customer's history under a pseudonym.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the pseudonym is already a customer.
    pub fn pseudonymise(&mut self, customer: &CustomerId, pseudonym: &CustomerId) -> Result<bool> {
        crate::customer::pseudonymise_key(&mut self.customers, customer, pseudonym)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn ledger_answers_for_any_time_in_any_recording_order() {
        let day = |d| Utc.with_ymd_and_hms(2024, 5, d, 0, 0, 0).unwrap();
        let c = CustomerId::from(7);
        let grant = ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Granted);
        let object = ConsentChange::new(Purpose::Profiling, Channel::Any, ConsentStatus::Objected);
        let withdraw = ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Withdrawn);
        let regrant = grant.clone().with_expiry(day(25));
        let entries = [(grant, day(1)), (object, day(3)), (withdraw, day(10)), (regrant, day(20))];
        let mut in_order = ConsentLedger::new();
        let mut reversed = ConsentLedger::new();
        for (change, at) in &entries {
            in_order.record(&c, change.clone(), *at).unwrap();
        }
        for (change, at) in entries.iter().rev() {
            reversed.record(&c, change.clone(), *at).unwrap();
        }
        assert_eq!(in_order, reversed);
        let email = |l: &ConsentLedger, d| l.may_contact(&c, &Channel::Email, &Purpose::Marketing, day(d));
        assert!(email(&in_order, 1));
        assert!(email(&in_order, 9));
        assert!(!email(&in_order, 10)); // withdrawn at its instant
        assert!(email(&in_order, 24));
        assert!(!email(&in_order, 25)); // expired
        assert!(!in_order.objected_to_profiling(&c, day(2)));
        assert!(in_order.objected_to_profiling(&c, day(3)));
        // Replays are recorded once; an expiry before the decision is refused.
        assert!(!in_order.record(&c, entries[0].0.clone(), entries[0].1).unwrap());
        let bad = ConsentChange::new(Purpose::Marketing, Channel::Sms, ConsentStatus::Granted).with_expiry(day(1));
        assert!(in_order.record(&c, bad, day(2)).is_err());
        // Erasure and pseudonymisation.
        let p = CustomerId::from("p-1");
        assert!(in_order.pseudonymise(&c, &p).unwrap());
        assert!(in_order.history(&c).is_empty());
        assert_eq!(in_order.history(&p).len(), 4);
        assert!(in_order.erase(&p));
        assert!(in_order.is_empty());
    }

    #[test]
    fn withdrawn_and_objected_never_permit() {
        let at = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        for status in [ConsentStatus::Denied, ConsentStatus::Withdrawn, ConsentStatus::Objected] {
            let r = ConsentRecord::new(ConsentChange::new(Purpose::Profiling, Channel::Any, status), at);
            assert!(!r.permits(at));
        }
    }

    #[test]
    fn any_channel_covers_all() {
        assert!(Channel::Any.covers(&Channel::Sms));
        assert!(Channel::Email.covers(&Channel::Email));
        assert!(!Channel::Email.covers(&Channel::Sms));
    }

    #[test]
    fn serde_names_are_snake_case() {
        let c = ConsentChange::new(Purpose::Other("loyalty".into()), Channel::InApp, ConsentStatus::Objected)
            .with_legal_basis(LegalBasis::LegitimateInterest);
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains(r#""channel":"in_app""#), "{json}");
        assert!(json.contains(r#""legal_basis":"legitimate_interest""#), "{json}");
        let back: ConsentChange = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
    }
}
