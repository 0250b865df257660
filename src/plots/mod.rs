//! Charts, as SVG text (feature `plots`, on by default).
//!
//! The charts a user of Python lifetimes looks for in its plotting module,
//! plus the cohort views: the frequency/recency matrix of expected
//! purchases and of P(alive), period transactions (actual against the
//! model), calibration against holdout, cumulative and incremental
//! tracking, one customer's P(alive) history, the cohort retention heat
//! map, retention curves and the customer lifetime curve.
//!
//! Every chart has a title that says what to read, labelled axes with
//! their units, and a colour bar or a legend. Each function returns the
//! SVG document as a `String`: write it to a file, serve it, or convert it
//! (`rsvg-convert -o chart.png chart.svg`).
//!
//! ```
//! use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog, plots};
//! use customer_lifecycle::clv::BetaGeo;
//! let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
//! let model = BetaGeo::fit(&summary)?;
//! let svg = plots::probability_alive_matrix(&model, &summary)?;
//! assert!(svg.starts_with("<svg") && svg.contains("P(alive)"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod charts;

pub use charts::{
    calibration_vs_holdout, cohort_heat_map, cumulative_tracking, frequency_recency_matrix, incremental_tracking,
    lifetime_curve, period_transactions, probability_alive_history, probability_alive_matrix, retention_curves,
};
