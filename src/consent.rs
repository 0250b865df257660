//! The vocabulary of consent: purposes, channels, statuses, legal bases and
//! the record of one decision.
//!
//! These types are shared by the event model, the stage engine and the
//! automation layer so that all of them speak of consent in the same terms.
//! A record answers one question, [`ConsentRecord::permits`]: does this
//! decision allow processing for its purpose and channel at a given time?

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

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
