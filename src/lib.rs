//! # customer-lifecycle
//!
//! Customer lifecycle management, computed in-process: where each customer
//! stands, what each customer is worth, and who is about to leave.
//!
//! ## The floors
//!
//! The public modules are the floors of the data flow, lowest first. A module
//! imports only from its own floor or the floors below it, never from a floor
//! above, and no two modules import each other (the test
//! `architecture::imports_respect_the_floors` checks both on every run):
//!
//! | floor | what it holds | may import |
//! |---|---|---|
//! | (`math`, private) | special functions, series, jets, quadrature, linear algebra, sorting, hashing | — |
//! | [`domain`] | customer ids, money, time units, events, the consent vocabulary and ledger | `math` |
//! | [`log`] | the transaction log, its CSV and CDNOW loaders, the [`PurchaseSummary`] (equal, customer for customer, to Python lifetimes') | `domain`, `math` |
//! | [`metrics`] | RFM scores and segments, cohort matrices, the lifetime curve, KPIs | `log` and below |
//! | [`clv`] | the probabilistic models (BG/NBD, MBG/NBD, Pareto/NBD, BG/BB, Gamma-Gamma, sBG), CLV, deterministic formulas | `log` and below |
//! | [`lifecycle`] | the stage engine a shop backend calls on every event, stage analytics | `domain`, `math` |
//! | [`churn`] | churn scorers (model-based, cadence, learned) and their evaluation | `clv`, `lifecycle` and below |
//! | [`automation`] | segments, consent-aware triggers, control groups | everything below |
//! | [`plots`] | charts as SVG (feature `plots`, on by default) | everything below |
//!
//! The error type ([`Error`]) is shared by every floor. The main types of
//! every floor are re-exported here at the crate root.
//!
//! ## Quick start
//!
//! ```
//! use customer_lifecycle::{TransactionLog, SummaryOptions, TimeUnit};
//! use customer_lifecycle::chrono::NaiveDate;
//!
//! // The CDNOW sample shipped with the crate: 2,357 customers, 6,919 orders.
//! let log = TransactionLog::cdnow_sample()?;
//! let summary = log.summarize(
//!     &SummaryOptions::new(TimeUnit::Week)
//!         .calibration_end(NaiveDate::from_ymd_opt(1997, 9, 30).unwrap())
//!         .observation_end(NaiveDate::from_ymd_opt(1998, 6, 30).unwrap()),
//! )?;
//! assert_eq!(summary.len(), 2357);
//! let first = summary.row(0).unwrap();
//! assert_eq!(first.frequency, 2);                          // x
//! assert!((first.recency - 30.43).abs() < 0.01);           // t_x, weeks
//! assert!((first.age - 38.86).abs() < 0.01);               // T, weeks
//! let x = summary.frequency();                             // ndarray column for models
//! assert_eq!(x.len(), 2357);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## How data flows
//!
//! ```text
//! Batch (analytics)
//!   TransactionLog ──► PartialSummary ──merge──► PurchaseSummary ──► RFM, survival, models ──► CLV
//!   (dense ids,        (per shard: by            (frequency, recency,
//!    exact minor        customer or by            age T, monetary value,
//!    units)             time range)               holdout columns, totals)
//!   TransactionLog ──► CohortAnalysis, PurchaseKpis;  events ──► EngagementKpis, ValueLedger
//!
//! Streaming (per event, in-process)
//!   Event ──► Lifecycle::apply(&mut CustomerState) ──► stage transitions
//!   now   ──► Lifecycle::advance_to(&mut CustomerState) ──► time-driven transitions
//! ```
//!
//! * [`Money`] is an exact [`Decimal`](rust_decimal::Decimal) with a
//!   [`Currency`]; mixing currencies is an error, converting takes rates you
//!   supply ([`ExchangeRates`]). Statistics convert to `f64` once, in
//!   [`Money::to_f64`].
//! * Time is [`chrono`]; the crate never reads the clock. Durations are
//!   continuous (days ÷ unit length, as in the papers) or calendar periods
//!   (as lifetimes' `freq='W'`) — see [`domain`].
//! * Customer ids ([`CustomerId`]: numbers, texts, UUIDs) are mapped once to
//!   dense indices ([`CustomerIndex`]); the batch path indexes plain vectors.
//! * Bad input is a typed [`Error`] naming the customer, field or value —
//!   never a panic and never a silent drop.
//!
//! ## Loading saved data
//!
//! Every saved type (states, summaries, models, ledgers) loads through its
//! `Deserialize` implementation, which checks every invariant the code
//! relies on and refuses a value the crate could not have produced. There is
//! no other public way to load one: the derived code stays private.
//!
//! ```compile_fail
//! // No inherent `deserialize` that would skip the checks:
//! let mut json = serde_json::Deserializer::from_str("{}");
//! let _ = customer_lifecycle::lifecycle::CustomerState::deserialize(&mut json);
//! ```
//!
//! ## Crate features
//!
//! No optional features yet: the default build depends on `chrono`,
//! `rust_decimal`, `ndarray`, `serde`, `csv`, `thiserror`, and for the
//! models `argmin`, `libm`, `special` and `rand`.
//! `chrono`, `rust_decimal` and `ndarray` are re-exported so that your
//! versions match the crate's.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations)]

/// A struct whose serde form is derived but whose loading is validated:
/// `validated_serde! { /* the struct */ }` defines the struct as written
/// and, in an anonymous scope, a private shadow that derives serde for it
/// (`#[serde(remote = …)]`). `Serialize` writes through the shadow;
/// `Deserialize` reads through it and then calls the struct's
/// `check_consistent`, so a loaded value that the crate could not have
/// produced is refused. The derived functions stay on the private shadow:
/// no public path loads unvalidated data.
macro_rules! validated_serde {
    (
        $(#[$attr:meta])*
        $vis:vis struct $name:ident {
            $( $(#[doc = $doc:expr])* $(#[serde($($serde:tt)*)])? $fvis:vis $field:ident : $fty:ty ),* $(,)?
        }
    ) => {
        $(#[$attr])*
        $vis struct $name {
            $( $(#[doc = $doc])* $fvis $field : $fty, )*
        }

        const _: () = {
            type Remote = $name;

            #[derive(serde::Serialize, serde::Deserialize)]
            #[serde(remote = "Remote")]
            // Never built: it only names the fields for the derived remote code.
            #[allow(dead_code)]
            struct Shadow {
                // A field's serde attributes (bounded lists, say) apply
                // to the saving and loading code only.
                $( $(#[serde($($serde)*)])? $field : $fty, )*
            }

            impl serde::Serialize for $name {
                fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
                    Shadow::serialize(self, serializer)
                }
            }

            impl<'de> serde::Deserialize<'de> for $name {
                fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
                    let value = Shadow::deserialize(deserializer)?;
                    value.check_consistent().map_err(serde::de::Error::custom)?;
                    Ok(value)
                }
            }
        };
    };
}

mod error;
pub(crate) mod math;

pub mod domain;
pub mod log;
pub mod metrics;

pub mod clv;
pub mod lifecycle;

pub mod churn;

pub mod automation;

#[cfg(feature = "plots")]
pub mod plots;

/// Arrow arrays and record batches (feature `arrow`), the version the
/// crate's batch functions take and give.
#[cfg(feature = "arrow")]
pub use arrow_array;
/// Arrow schemas and data types (feature `arrow`).
#[cfg(feature = "arrow")]
pub use arrow_schema;
pub use chrono;
pub use chrono_tz;
pub use ndarray;
/// Parquet reading and writing (feature `arrow`).
#[cfg(feature = "arrow")]
pub use parquet;
pub use rust_decimal;

pub use domain::{
    Attribute, AttributeMerge, AttributeValue, Attributes, Channel, ConsentChange, ConsentHistory, ConsentLedger,
    ConsentRecord, ConsentStatus, Currency, Customer, CustomerId, CustomerIndex, CustomerTable, DenseId, DurationMode,
    Engagement, Event, EventClass, EventId, EventKind, ExchangeRates, FixedRates, IdKind, Identifier, IdentifierKind,
    IdentityGraph, IdentityLink, IdentityPolicy, LegalBasis, LinkOutcome, LinkSource, LinkTally, MAX_CONSENT_PARTIES,
    MergeFn, MergeStrategy, Money, NpsScore, NumberFormat, Periods, Purpose, TimeUnit,
};
pub use error::{CovariateProblem, Error, Result};
pub use log::{
    CsvOptions, CustomerAccumulator, CustomerSummary, FORMAT_VERSION, HoldoutSummary, MAX_AMOUNT, MAX_AMOUNT_DECIMALS,
    PartialSummary, PurchaseSummary, SummaryOptions, SummaryRules, Transaction, TransactionKind, TransactionLog,
    WindowAccumulator,
};
pub use metrics::{
    CohortAnalysis, CohortOptions, EngagementKpis, LifetimeSurvival, PurchaseKpis, RetentionCurve, RetentionMode,
    RfmOptions, RfmScores, SegmentMap, SurvivalStep,
};

/// The README's code blocks, compiled and run as doc tests so that the
/// README cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
