//! The transaction log, its loaders, and the per-customer purchase summary.
//!
//! This floor imports only [`crate::domain`].
//!
//! ## The transaction log
//!
//! The transaction log: orders and returns in one currency, stored by
//!
//! column with dense customer indices and exact integer minor units.
//!
//! ## The purchase summary
//!
//! Transactions → per-customer purchase summary: frequency, recency, age
//!
//! (`T`) and monetary value, with an optional calibration/holdout split.
//!
//! The definitions follow Python lifetimes 0.11.3
//! (`summary_data_from_transaction_data` and `calibration_and_holdout_data`),
//! and the tests check equality with it on the full CDNOW log:
//!
//! * Each order's date (in the chosen UTC offset) falls in a *period*: the
//!   day itself for continuous durations, the calendar day/week/month for
//!   calendar periods (see [`crate::domain`]). Orders in the same period merge
//!   into one repeat purchase, their values summed.
//! * `frequency` = distinct purchase periods − 1.
//! * `recency` = last purchase period − first purchase period, in the unit.
//! * `age` (the papers' `T`) = the period holding the end (the calibration end
//!   when there is one, else the observation end) − first purchase period.
//! * `monetary_value` = the mean of the per-period sums over the repeat
//!   periods (the first period is excluded), 0 when `frequency` is 0.
//! * With a calibration end, the calibration columns use orders dated on or
//!   before it; `frequency_holdout` counts the distinct periods with orders
//!   after it (up to the observation end), `monetary_value_holdout` is the
//!   mean of the raw holdout orders (lifetimes' definition, which is not per
//!   period: [`HoldoutSummary::monetary_value_per_period`] is the consistent
//!   variant), and `duration_holdout` is the span between the two ends.
//!   Customers whose first order falls in the holdout are left out of the
//!   rows and counted in [`PurchaseSummary::customers_first_seen_in_holdout`].
//! * Returns never change frequency, recency or monetary value; they enter
//!   the exact `returns` and `net` totals.
//!
//! Differences from lifetimes, all on input lifetimes accepts silently: an
//! order dated after the observation end is an error here (lifetimes drops
//! it, and in calendar mode keeps those in the end's period); months are
//! whole calendar months (lifetimes divides by an average month of 30.44
//! days); ends are inclusive dates, so an order at 14:00 on the calibration
//! end is in the calibration period (lifetimes compares it with midnight).
//!
//! Partial summaries ([`PartialSummary`]) merge: shards split by customer,
//! or by contiguous time ranges, or both, combine into the one-pass result.

#[cfg(feature = "arrow")]
pub(crate) mod arrow;
#[cfg(feature = "arrow")]
pub use arrow::timestamp_at;
pub(crate) mod csv;
pub(crate) mod records;
pub(crate) mod summary;
pub(crate) mod transactions;

pub use csv::CsvOptions;
pub use records::MAX_LINE_BYTES;
pub use summary::{
    CustomerAccumulator, CustomerSummary, FORMAT_VERSION, HoldoutSummary, PartialSummary, PurchaseSummary,
    SummaryOptions, SummaryRules, WindowAccumulator,
};
pub use transactions::{MAX_AMOUNT, MAX_AMOUNT_DECIMALS, Transaction, TransactionKind, TransactionLog};
