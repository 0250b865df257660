//! The integration tests, in one binary so that `cargo test` links once.
//!
//! Each module is one theme; fixtures are in `tests/fixtures/`, with the
//! scripts that produced them.

mod acquired_last_day;
mod all_or_nothing;
mod architecture;
#[cfg(feature = "arrow")]
mod arrow_parquet;
mod bad_input;
mod churn;
mod clv_units;
mod cohorts_cdnow;
mod covariates;
mod doc_examples;
mod erasure;
mod fuzz_oracles;
mod group_fits;
mod identity;
mod identity_merge;
mod intervals;
mod lifecycle_cdnow;
mod lifetimes_compat;
mod loading;
mod merge_props;
mod model_harness;
mod model_recovery;
mod models_cdnow;
mod next_purchase;
mod numerical_corners;
#[cfg(feature = "parallel")]
mod parallel;
mod profile;
mod rfm_cdnow;
mod saved_data;
mod serde_ids;
mod shop_export;
mod support;
mod time_varying;

/// The main example, driven by the tests that run the README's commands.
#[path = "../../examples/lifecycle_report.rs"]
#[allow(dead_code)]
mod lifecycle_report;

/// The shop-export generator of `examples/shop_export`.
#[path = "../../examples/shop_export/generator.rs"]
#[allow(dead_code)]
mod shop_generator;
