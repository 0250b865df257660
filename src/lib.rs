//! # customer-lifecycle
//!
//! Customer lifecycle management, computed in-process: where each customer
//! stands, what each customer is worth, and who is about to leave.
//!
//! What is here:
//!
//! * the domain model (customers, events, money, time, consent vocabulary),
//!   the transaction log and its loaders;
//! * the per-customer [`PurchaseSummary`] every model and metric starts
//!   from — equal, customer for customer, to Python lifetimes'
//!   `summary_data_from_transaction_data` and `calibration_and_holdout_data`;
//! * [`rfm`] scores and segments, [`cohort`] matrices, the [`survival`]
//!   curve of customer lifetime, [`kpi`]s;
//! * [`clv`]: the probabilistic models (BG/NBD, MBG/NBD, Pareto/NBD,
//!   BG/BB, Gamma-Gamma, sBG) and the deterministic formulas;
//! * [`lifecycle`]: the stage engine a shop backend calls on every event.
//!
//! ## Quick start
//!
//! ```
//! use customer_lifecycle::{TransactionLog, SummaryOptions, TimeUnit};
//! use customer_lifecycle::chrono::NaiveDate;
//!
//! // The CDNOW sample shipped with the crate: 2,357 customers, 6,919 orders.
//! let log = TransactionLog::from_cdnow_sample_path(concat!(env!("CARGO_MANIFEST_DIR"), "/data/CDNOW_sample.txt"))?;
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
//!   (as lifetimes' `freq='W'`) — see [`time`].
//! * Customer ids ([`CustomerId`]: numbers, texts, UUIDs) are mapped once to
//!   dense indices ([`CustomerIndex`]); the batch path indexes plain vectors.
//! * Bad input is a typed [`Error`] naming the customer, field or value —
//!   never a panic and never a silent drop.
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

/// Serde through the derived (remote = "Self") code, validating on load.
macro_rules! validated_serde {
    ($t:ident) => {
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
                $t::serialize(self, serializer)
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
                let value = $t::deserialize(deserializer)?;
                value.check_consistent().map_err(serde::de::Error::custom)?;
                Ok(value)
            }
        }
    };
}

pub mod automation;
pub mod churn;
pub mod clv;
pub mod cohort;
pub mod consent;
pub mod customer;
mod error;
pub mod event;
pub mod kpi;
pub mod lifecycle;
mod load;
pub mod money;
pub mod rfm;
mod sort;
pub mod summary;
pub mod survival;
pub mod time;
pub mod transactions;

pub use chrono;
pub use ndarray;
pub use rust_decimal;

pub use cohort::{CohortAnalysis, CohortOptions, RetentionCurve, RetentionMode};
pub use consent::{Channel, ConsentChange, ConsentLedger, ConsentRecord, ConsentStatus, LegalBasis, Purpose};
pub use customer::{Customer, CustomerId, CustomerIndex, DenseId, IdKind};
pub use error::{Error, Result};
pub use event::{Event, EventId, EventKind, NpsScore};
pub use kpi::{EngagementKpis, PurchaseKpis};
pub use load::CsvOptions;
pub use money::{Currency, ExchangeRates, FixedRates, Money};
pub use summary::{CustomerSummary, FORMAT_VERSION, HoldoutSummary, PartialSummary, PurchaseSummary, SummaryOptions};
pub use survival::{LifetimeSurvival, SurvivalStep};
pub use time::{DurationMode, Periods, TimeUnit};
pub use transactions::{Transaction, TransactionKind, TransactionLog};
