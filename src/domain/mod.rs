//! The domain model: customer ids, money, time, events and the consent vocabulary.
//!
//! The lowest floor: it imports nothing from the rest of the crate, and within it
//! `customer`, `money` and `time` import nothing but the error type, `consent` only
//! `customer`, `table` only `customer`, `identity` only `customer` and `bounded`, `bounded` nothing, `attributes` nothing, and `event` the three of them and `consent`.
//!
//! ## Money
//!
//! Money: exact decimal amounts with a currency, and currency conversion.
//!
//! Amounts are [`Decimal`](rust_decimal::Decimal)s, never floats, at every API boundary. Arithmetic
//! between two [`Money`] values refuses mixed currencies with
//! [`Error::MixedCurrency`](crate::Error::MixedCurrency). Statistical models compute in `f64`; the one
//! conversion is [`Money::to_f64`], documented there.
//!
//! ## Time
//!
//! Time units, and the two ways of measuring durations.
//!
//! Events carry [`DateTime<Utc>`](chrono::DateTime). For summaries a timestamp becomes a
//! *date*: the calendar day it falls on in a fixed UTC offset or an IANA
//! time zone with its daylight-saving rules (UTC unless you choose another). Durations between dates are then measured in one of
//! two ways, both in common use:
//!
//! * [`DurationMode::Continuous`]: whole days between the dates divided by the
//!   unit's length in days. This is what the papers use (the CDNOW "weeks" are
//!   days ÷ 7) and what Python lifetimes computes with
//!   `freq='D', freq_multiplier=7`. Purchases on the same day count once.
//! * [`DurationMode::Calendar`]: each date is first put into its calendar
//!   period (day, week starting on a chosen weekday, or month) and durations
//!   are counted in whole periods. Purchases in the same period count once.
//!   This is lifetimes' `freq='W'` (pandas weeks run Monday to Sunday).
//!
//! A month has no fixed length, so [`TimeUnit::Month`] exists only as a
//! calendar period; asking for continuous months is an error rather than a
//! hidden 30-day month.
//!
//! ## Consent
//!
//! The vocabulary of consent: purposes, channels, statuses, legal bases and
//!
//! the record of one decision.
//!
//! These types are shared by the event model, the stage engine and the
//! automation layer so that all of them speak of consent in the same terms.
//! A record answers one question, [`ConsentRecord::permits`]: does this
//! decision allow processing for its purpose and channel at a given time?

pub(crate) mod attributes;
pub(crate) mod bounded;
pub(crate) mod consent;
pub(crate) mod customer;
pub(crate) mod event;
pub(crate) mod identity;
pub(crate) mod ledger;
pub(crate) mod money;
pub(crate) mod table;
pub(crate) mod time;

pub use attributes::{Attribute, AttributeMerge, AttributeValue, Attributes, MergeFn, MergeStrategy};
pub use consent::{
    Channel, ConsentChange, ConsentHistory, ConsentRecord, ConsentStatus, LegalBasis, MAX_CONSENT_PARTIES, Purpose,
};
pub use customer::{Customer, CustomerId, CustomerIndex, DenseId, IdKind, MAX_CUSTOMERS};
pub use event::{Engagement, Event, EventClass, EventId, EventKind, NpsScore};
pub use identity::{
    Identifier, IdentifierKind, IdentityGraph, IdentityLink, IdentityPolicy, LinkOutcome, LinkSource, LinkTally,
    MAX_IDENTIFIER_BYTES, MAX_LINKS,
};
pub use ledger::ConsentLedger;
pub use money::{Currency, ExchangeRates, FixedRates, Money, NumberFormat};
pub use table::CustomerTable;
pub use time::{DurationMode, Periods, TimeUnit};
