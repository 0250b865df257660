//! The vocabulary of consent (purposes, channels, statuses, legal bases), one
//! decision, and one customer's history of decisions with the rule in force.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

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
    ///
    /// ```
    /// use customer_lifecycle::Channel;
    /// assert!(Channel::Any.covers(&Channel::Sms));
    /// assert!(!Channel::Email.covers(&Channel::Sms));
    /// ```
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

impl ConsentStatus {
    /// How restrictive the decision is: granted 0, denied 1, withdrawn 2,
    /// objected 3. Of two decisions made at the same instant the more
    /// restrictive prevails.
    ///
    /// ```
    /// use customer_lifecycle::ConsentStatus;
    /// assert!(ConsentStatus::Withdrawn.restriction() > ConsentStatus::Granted.restriction());
    /// ```
    pub fn restriction(self) -> u8 {
        match self {
            ConsentStatus::Granted => 0,
            ConsentStatus::Denied => 1,
            ConsentStatus::Withdrawn => 2,
            ConsentStatus::Objected => 3,
        }
    }
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
    ///
    /// ```
    /// use customer_lifecycle::{Channel, ConsentChange, ConsentStatus, LegalBasis, Purpose};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let c = ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Granted);
    /// assert_eq!(c.legal_basis, LegalBasis::Consent);
    /// ```
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
    ///
    /// ```
    /// use customer_lifecycle::{Channel, ConsentChange, ConsentStatus, LegalBasis, Purpose};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let c = ConsentChange::new(Purpose::Profiling, Channel::Any, ConsentStatus::Granted).with_legal_basis(LegalBasis::LegitimateInterest);
    /// assert_eq!(c.legal_basis, LegalBasis::LegitimateInterest);
    /// ```
    pub fn with_legal_basis(mut self, basis: LegalBasis) -> ConsentChange {
        self.legal_basis = basis;
        self
    }

    /// Sets where the decision was captured.
    ///
    /// ```
    /// use customer_lifecycle::{Channel, ConsentChange, ConsentStatus, LegalBasis, Purpose};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let c = ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Granted).with_source("checkout");
    /// assert_eq!(c.source.as_deref(), Some("checkout"));
    /// ```
    pub fn with_source(mut self, source: impl Into<String>) -> ConsentChange {
        self.source = Some(source.into());
        self
    }

    /// Sets the notice version.
    ///
    /// ```
    /// use customer_lifecycle::{Channel, ConsentChange, ConsentStatus, LegalBasis, Purpose};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let c = ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Granted).with_notice_version("2024-03");
    /// assert_eq!(c.notice_version.as_deref(), Some("2024-03"));
    /// ```
    pub fn with_notice_version(mut self, version: impl Into<String>) -> ConsentChange {
        self.notice_version = Some(version.into());
        self
    }

    /// Sets an expiry for a granted consent.
    ///
    /// ```
    /// use customer_lifecycle::{Channel, ConsentChange, ConsentStatus, LegalBasis, Purpose};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let until = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    /// let c = ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Granted).with_expiry(until);
    /// assert_eq!(c.expires_at, Some(until));
    /// ```
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
    ///
    /// ```
    /// use customer_lifecycle::{Channel, ConsentChange, ConsentStatus, LegalBasis, Purpose};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// use customer_lifecycle::ConsentRecord;
    /// let at = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    /// let r = ConsentRecord::new(ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Granted), at);
    /// assert_eq!(r.at, at);
    /// ```
    pub fn new(change: ConsentChange, at: DateTime<Utc>) -> ConsentRecord {
        ConsentRecord { change, at }
    }

    /// Of two decisions in force, the one that prevails: the later, and at
    /// the same instant the more restrictive (see
    /// [`ConsentStatus::restriction`]); a tie of equal restriction keeps
    /// `a`. This is how the answers of two stores holding decisions of
    /// the same customer combine.
    ///
    /// ```
    /// use customer_lifecycle::{Channel, ConsentChange, ConsentRecord, ConsentStatus, Purpose};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    ///
    /// let at = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    /// let grant = ConsentRecord::new(ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Granted), at);
    /// let withdrawal = ConsentRecord::new(ConsentChange::new(Purpose::Marketing, Channel::Any, ConsentStatus::Withdrawn), at);
    /// let winner = ConsentRecord::prevailing(Some(&grant), Some(&withdrawal)).unwrap();
    /// assert_eq!(winner.change.status, ConsentStatus::Withdrawn);
    /// ```
    pub fn prevailing<'a>(a: Option<&'a ConsentRecord>, b: Option<&'a ConsentRecord>) -> Option<&'a ConsentRecord> {
        match (a, b) {
            (Some(a), Some(b)) => {
                let key = |r: &ConsentRecord| (r.at, r.change.status.restriction());
                Some(if key(b) > key(a) { b } else { a })
            }
            (a, None) => a,
            (None, b) => b,
        }
    }

    /// True when this decision, on its own, allows processing at `when`:
    /// it is a grant, made at or before `when`, and not expired by then.
    ///
    /// ```
    /// use customer_lifecycle::{Channel, ConsentChange, ConsentStatus, LegalBasis, Purpose};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// use customer_lifecycle::ConsentRecord;
    /// let at = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    /// let denied = ConsentRecord::new(ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Denied), at);
    /// assert!(!denied.permits(at));
    /// ```
    pub fn permits(&self, when: DateTime<Utc>) -> bool {
        self.change.status == ConsentStatus::Granted
            && self.at <= when
            && self.change.expires_at.is_none_or(|e| when < e)
    }
}

/// One customer's consent decisions, in time order: the one place that
/// answers "which decision is in force?", for the [`ConsentLedger`]
/// (every customer, the system of record) and for a streaming
/// [`CustomerState`] (the decisions its events carried) alike.
///
/// The decision in force for a purpose and channel at `at` is the latest one
/// made at or before `at` for that purpose and that channel or
/// [`Channel::Any`]. Decisions at the same instant are settled by
/// restriction, never by the order they arrived in: an objection prevails
/// over a withdrawal, a withdrawal over a denial, a denial over a grant
/// ([`ConsentStatus::restriction`]). It permits contact when it is a grant
/// that has not expired ([`ConsentRecord::permits`]). Without any decision
/// the answer is no (opt-in). Decisions may be recorded late; the history
/// stays in time order and answers as if they had come in order. The
/// history of one person known under several ids, joined by
/// [`ConsentHistory::merge`], keeps each id's decisions and answers by the
/// merge rule given there (before a link, a restriction under any id wins).
///
/// [`ConsentLedger`]: crate::ConsentLedger
/// [`CustomerState`]: crate::lifecycle::CustomerState
///
/// ```
/// use customer_lifecycle::{Channel, ConsentChange, ConsentHistory, ConsentStatus, Purpose};
/// use customer_lifecycle::chrono::{TimeZone, Utc};
///
/// let day = |d| Utc.with_ymd_and_hms(2024, 5, d, 0, 0, 0).unwrap();
/// let mut history = ConsentHistory::new();
/// history.record(ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Granted), day(1))?;
/// // A grant and a withdrawal at the same instant: the withdrawal prevails,
/// // whichever came first.
/// history.record(ConsentChange::new(Purpose::Marketing, Channel::Any, ConsentStatus::Withdrawn), day(10))?;
/// history.record(ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Granted), day(10))?;
/// assert!(history.may_contact(&Channel::Email, &Purpose::Marketing, day(5)));
/// assert!(!history.may_contact(&Channel::Email, &Purpose::Marketing, day(10)));
/// assert_eq!(history.records().len(), 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(try_from = "SavedHistory", into = "SavedHistory")]
pub struct ConsentHistory {
    records: Vec<ConsentRecord>,
    /// For a merged history, the id (party) each record was made under,
    /// numbered so that every join covers a contiguous range; empty for
    /// the history of one id (every record party 0).
    origins: Vec<u32>,
    /// The joins of a merged history, the last one the whole.
    joins: Vec<Join>,
}

/// Two ids' histories joined at `at`: parties `lo..mid` and `mid..hi`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
struct Join {
    at: DateTime<Utc>,
    lo: u32,
    mid: u32,
    hi: u32,
}

/// The saved form: the plain list of decisions for one id (the format
/// every earlier version wrote), the records with their parties and joins
/// for a merged one.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum SavedHistory {
    Plain(Vec<ConsentRecord>),
    Merged { records: Vec<ConsentRecord>, origins: Vec<u32>, joins: Vec<Join> },
}

impl ConsentHistory {
    /// An empty history.
    ///
    /// ```
    /// use customer_lifecycle::ConsentHistory;
    /// assert!(ConsentHistory::new().records().is_empty());
    /// ```
    pub fn new() -> ConsentHistory {
        ConsentHistory::default()
    }

    /// Appends a decision made at `at`, keeping the history in time order.
    /// An identical decision at the same instant (a replay) is recorded once:
    /// the result says whether anything was added.
    ///
    /// ```
    /// use customer_lifecycle::{Channel, ConsentChange, ConsentHistory, ConsentStatus, Purpose};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    ///
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
    /// let grant = ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Granted);
    /// let mut history = ConsentHistory::new();
    /// assert!(history.record(grant.clone(), at)?);
    /// assert!(!history.record(grant, at)?); // a replay
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an expiry not after `at`; nothing is recorded.
    pub fn record(&mut self, change: ConsentChange, at: DateTime<Utc>) -> Result<bool> {
        check_expiry(&change, at)?;
        let record = ConsentRecord::new(change, at);
        if self.records.contains(&record) {
            return Ok(false);
        }
        let position = self.records.partition_point(|r| r.at <= at);
        self.records.insert(position, record);
        if !self.joins.is_empty() {
            // Recorded on the merged person: the decision of the id the
            // merge kept (party 0).
            self.origins.insert(position, 0);
        }
        Ok(true)
    }

    /// The decisions, oldest first.
    ///
    /// ```
    /// use customer_lifecycle::ConsentHistory;
    /// assert_eq!(ConsentHistory::new().records(), &[]);
    /// ```
    pub fn records(&self) -> &[ConsentRecord] {
        &self.records
    }

    /// The decision in force for `purpose` on `channel` at `at` (see the
    /// type's docs for the rule).
    ///
    /// ```
    /// use customer_lifecycle::{Channel, ConsentChange, ConsentHistory, ConsentStatus, Purpose};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    ///
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
    /// let mut history = ConsentHistory::new();
    /// history.record(ConsentChange::new(Purpose::Profiling, Channel::Any, ConsentStatus::Objected), at)?;
    /// let decision = history.decision(&Channel::Email, &Purpose::Profiling, at).unwrap();
    /// assert_eq!(decision.change.status, ConsentStatus::Objected);
    /// assert!(history.decision(&Channel::Email, &Purpose::Marketing, at).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn decision(&self, channel: &Channel, purpose: &Purpose, at: DateTime<Utc>) -> Option<&ConsentRecord> {
        if self.joins.is_empty() {
            return self.latest(channel, purpose, None, at, |_| true);
        }
        self.decide(0, self.parties(), channel, purpose, at)
    }

    /// The latest decision for `purpose` on `channel` made at or before
    /// `at` (and at or after `from`) among the records `keep` accepts (by
    /// index); at the latest instant, the most restrictive.
    fn latest(
        &self,
        channel: &Channel,
        purpose: &Purpose,
        from: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
        keep: impl Fn(usize) -> bool,
    ) -> Option<&ConsentRecord> {
        let before = self.records.partition_point(|r| r.at <= at);
        let mut found: Option<&ConsentRecord> = None;
        for (i, r) in self.records[..before].iter().enumerate().rev() {
            if found.is_some_and(|f| r.at < f.at) || from.is_some_and(|from| r.at < from) {
                break; // only decisions at the latest matching instant compete
            }
            if &r.change.purpose == purpose && r.change.channel.covers(channel) && keep(i) {
                found = Some(ConsentRecord::prevailing(found, Some(r)).unwrap_or(r));
            }
        }
        found
    }

    /// The decision in force for the ids `lo..hi` of a merged history
    /// (the rule is on [`ConsentHistory::merge`]).
    fn decide(
        &self,
        lo: u32,
        hi: u32,
        channel: &Channel,
        purpose: &Purpose,
        at: DateTime<Utc>,
    ) -> Option<&ConsentRecord> {
        let of = |i: usize| self.origins.get(i).copied().unwrap_or(0);
        let join = self.joins.iter().find(|j| j.lo == lo && j.hi == hi);
        let Some(join) = join else {
            // One id (a loaded history was checked to have a join for
            // every range of more than one).
            return self.latest(channel, purpose, None, at, |i| of(i) == lo);
        };
        // From the link on, the person's latest decision stands.
        let joined = self.latest(channel, purpose, Some(join.at), at, |i| (lo..hi).contains(&of(i)));
        if joined.is_some() {
            return joined;
        }
        // Before it, each side's decision in force, the more restrictive.
        let left = self.decide(lo, join.mid, channel, purpose, at);
        let right = self.decide(join.mid, hi, channel, purpose, at);
        match (left, right) {
            (Some(a), Some(b)) => {
                let key = |r: &ConsentRecord| (r.change.status.restriction(), !r.permits(at), r.at);
                Some(if key(b) > key(a) { b } else { a })
            }
            (a, None) => a,
            (None, b) => b,
        }
    }

    /// How many ids' decisions the history holds: 1, or more once merged.
    fn parties(&self) -> u32 {
        self.joins.last().map_or(1, |j| j.hi)
    }

    /// Joins `other`, the history of another id of the same person, linked
    /// at `linked_at`, into this one; every decision of both is kept, in
    /// time order.
    ///
    /// The merged history answers by this rule:
    /// - **before the link**, each id's decision in force is found on its
    ///   own, and the more restrictive of them stands: a withdrawal or an
    ///   objection under any of the ids wins over a grant under another (a
    ///   grant overrides a withdrawal only under the same id); of two
    ///   grants, an expired one wins (no contact on the strength of the
    ///   other id alone);
    /// - **from the link on**, the person's latest decision per purpose and
    ///   channel stands, whichever id it was made under; at equal instants
    ///   the most restrictive wins;
    /// - a decision recorded on the merged history later counts as one of
    ///   the person, made under the id this history belonged to.
    ///
    /// A merged history merges again (a third id joins the first two); each
    /// link applies to the ids it joined.
    ///
    /// ```
    /// use customer_lifecycle::{Channel, ConsentChange, ConsentHistory, ConsentStatus, Purpose};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    ///
    /// let day = |d| Utc.with_ymd_and_hms(2024, 5, d, 0, 0, 0).unwrap();
    /// let marketing = |status| ConsentChange::new(Purpose::Marketing, Channel::Email, status);
    /// let mut account = ConsentHistory::new();
    /// account.record(marketing(ConsentStatus::Withdrawn), day(1))?;
    /// let mut guest = ConsentHistory::new();
    /// guest.record(marketing(ConsentStatus::Granted), day(3))?;
    /// account.merge(&guest, day(10))?;
    /// // Before the link, the account's withdrawal wins over the guest's later grant.
    /// assert!(!account.may_contact(&Channel::Email, &Purpose::Marketing, day(12)));
    /// // From the link on, the person's latest decision stands.
    /// account.record(marketing(ConsentStatus::Granted), day(15))?;
    /// assert!(account.may_contact(&Channel::Email, &Purpose::Marketing, day(15)));
    /// assert_eq!(account.records().len(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the two together would name more than
    /// [`MAX_CONSENT_PARTIES`] ids; nothing changes.
    pub fn merge(&mut self, other: &ConsentHistory, linked_at: DateTime<Utc>) -> Result<()> {
        let (left, right) = (self.parties(), other.parties());
        let hi = left + right;
        if hi as usize > MAX_CONSENT_PARTIES {
            return Err(Error::InvalidArgument {
                name: "consent history",
                reason: format!("a merge of {left} and {right} ids, more than {MAX_CONSENT_PARTIES}"),
            });
        }
        let of = |h: &ConsentHistory, i: usize| h.origins.get(i).copied().unwrap_or(0);
        let (mut records, mut origins) = (
            Vec::with_capacity(self.records.len() + other.records.len()),
            Vec::with_capacity(self.records.len() + other.records.len()),
        );
        let (mut i, mut k) = (0, 0);
        while i < self.records.len() || k < other.records.len() {
            let take_left =
                k == other.records.len() || (i < self.records.len() && self.records[i].at <= other.records[k].at);
            if take_left {
                records.push(self.records[i].clone());
                origins.push(of(self, i));
                i += 1;
            } else {
                records.push(other.records[k].clone());
                origins.push(left + of(other, k));
                k += 1;
            }
        }
        let shifted =
            other.joins.iter().map(|j| Join { at: j.at, lo: j.lo + left, mid: j.mid + left, hi: j.hi + left });
        let mut joins: Vec<Join> = self.joins.iter().copied().chain(shifted).collect();
        joins.push(Join { at: linked_at, lo: 0, mid: left, hi });
        *self = ConsentHistory { records, origins, joins };
        Ok(())
    }

    /// May the customer be contacted on `channel` for `purpose` at `at`?
    ///
    /// ```
    /// use customer_lifecycle::{Channel, ConsentChange, ConsentHistory, ConsentStatus, Purpose};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    ///
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
    /// let mut history = ConsentHistory::new();
    /// assert!(!history.may_contact(&Channel::Email, &Purpose::Marketing, at)); // opt-in
    /// history.record(ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Granted), at)?;
    /// assert!(history.may_contact(&Channel::Email, &Purpose::Marketing, at));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn may_contact(&self, channel: &Channel, purpose: &Purpose, at: DateTime<Utc>) -> bool {
        self.decision(channel, purpose, at).is_some_and(|r| r.permits(at))
    }

    /// Whether an objection to profiling is in force at `at`, on any
    /// channel (then no learned model may score the customer).
    ///
    /// ```
    /// use customer_lifecycle::{Channel, ConsentChange, ConsentHistory, ConsentStatus, Purpose};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    ///
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
    /// let mut history = ConsentHistory::new();
    /// history.record(ConsentChange::new(Purpose::Profiling, Channel::Any, ConsentStatus::Objected), at)?;
    /// assert!(history.objected_to_profiling(at));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn objected_to_profiling(&self, at: DateTime<Utc>) -> bool {
        // Profiling is not sent through a channel: an objection recorded on
        // any channel counts, unless a later decision covering that channel
        // (on it, or on every channel) replaced it.
        self.records.iter().filter(|r| r.at <= at && r.change.purpose == Purpose::Profiling).any(|r| {
            self.decision(&r.change.channel, &Purpose::Profiling, at)
                .is_some_and(|d| d.change.status == ConsentStatus::Objected)
        })
    }
}

/// Most ids whose decisions one merged history holds.
pub const MAX_CONSENT_PARTIES: usize = 1024;

impl TryFrom<Vec<ConsentRecord>> for ConsentHistory {
    type Error = Error;

    /// A history from saved records: in time order, each expiry after its decision.
    fn try_from(records: Vec<ConsentRecord>) -> Result<ConsentHistory> {
        ConsentHistory::try_from(SavedHistory::Plain(records))
    }
}

impl TryFrom<SavedHistory> for ConsentHistory {
    type Error = Error;

    /// A history from its saved form: records in time order, each expiry
    /// after its decision; for a merged one, a party per record and joins
    /// that split the parties into a tree of contiguous ranges.
    fn try_from(saved: SavedHistory) -> Result<ConsentHistory> {
        let bad = |reason: String| Error::InvalidArgument { name: "consent history", reason };
        let (records, origins, joins) = match saved {
            SavedHistory::Plain(records) => (records, Vec::new(), Vec::new()),
            SavedHistory::Merged { records, origins, joins } => (records, origins, joins),
        };
        if !records.windows(2).all(|w| w[0].at <= w[1].at) {
            return Err(bad("decisions out of time order".into()));
        }
        for r in &records {
            check_expiry(&r.change, r.at)?;
        }
        if !joins.is_empty() || !origins.is_empty() {
            let parties = joins.len() + 1;
            if parties > MAX_CONSENT_PARTIES {
                return Err(bad(format!("{parties} ids, more than {MAX_CONSENT_PARTIES}")));
            }
            if origins.len() != records.len() {
                return Err(bad(format!("{} records but {} parties", records.len(), origins.len())));
            }
            if let Some(p) = origins.iter().find(|&&p| p as usize >= parties) {
                return Err(bad(format!("party {p} of {parties}")));
            }
            // The joins must split 0..parties into a tree: the whole first,
            // then each side of more than one id, each range exactly once.
            let mut open = vec![(0u32, parties as u32)];
            let mut used = 0;
            while let Some((lo, hi)) = open.pop() {
                if hi - lo < 2 {
                    continue;
                }
                let mut found = joins.iter().filter(|j| j.lo == lo && j.hi == hi);
                match (found.next(), found.next()) {
                    (Some(j), None) if lo < j.mid && j.mid < hi => {
                        used += 1;
                        open.push((lo, j.mid));
                        open.push((j.mid, hi));
                    }
                    _ => return Err(bad(format!("the joins do not split ids {lo}..{hi} once"))),
                }
            }
            if used != joins.len() || joins.last().is_some_and(|j| (j.lo, j.hi) != (0, parties as u32)) {
                return Err(bad("joins that do not form one tree".into()));
            }
        }
        Ok(ConsentHistory { records, origins, joins })
    }
}

impl From<ConsentHistory> for SavedHistory {
    fn from(history: ConsentHistory) -> SavedHistory {
        if history.joins.is_empty() {
            SavedHistory::Plain(history.records)
        } else {
            SavedHistory::Merged { records: history.records, origins: history.origins, joins: history.joins }
        }
    }
}

impl From<ConsentHistory> for Vec<ConsentRecord> {
    fn from(history: ConsentHistory) -> Vec<ConsentRecord> {
        history.records
    }
}

/// A grant's expiry must come after the decision.
fn check_expiry(change: &ConsentChange, at: DateTime<Utc>) -> Result<()> {
    if change.expires_at.is_some_and(|e| e <= at) {
        return Err(Error::InvalidArgument {
            name: "consent expiry",
            reason: format!("the expiry is not after the decision at {at}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn an_objection_on_one_channel_counts() {
        let day = |d| Utc.with_ymd_and_hms(2024, 5, d, 0, 0, 0).unwrap();
        let mut h = ConsentHistory::new();
        h.record(ConsentChange::new(Purpose::Profiling, Channel::Email, ConsentStatus::Objected), day(2)).unwrap();
        assert!(!h.objected_to_profiling(day(1)));
        assert!(h.objected_to_profiling(day(2)));
        // A later grant covering every channel replaces it.
        h.record(ConsentChange::new(Purpose::Profiling, Channel::Any, ConsentStatus::Granted), day(4)).unwrap();
        assert!(!h.objected_to_profiling(day(5)));
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
