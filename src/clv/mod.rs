//! Customer lifetime value: the probabilistic "buy till you die" models,
//! fitted by maximum likelihood, and the deterministic formulas.
//!
//! Every model is fitted on log-transformed parameters (so they stay
//! positive) by Newton's method from default starting points, with
//! Nelder–Mead as a fallback, customers with identical inputs grouped and
//! weighted; the [`FitReport`] gives the estimates, standard errors and
//! covariance (inverse observed information in the natural parameters),
//! the log-likelihood as a plain sum over customers in the data's time
//! unit, AIC, BIC and convergence. A fit that does not converge, or data
//! that cannot identify the model, is an [`Error`], never NaN
//! parameters.
//!
//! # Timing of the next purchase
//!
//! Every [`PurchaseModel`] gives the distribution of the waiting time τ
//! from the end of the observation to the next purchase:
//! F(t) = P(τ ≤ t) = 1 − P(no purchase in the next t)
//! ([`PurchaseModel::probability_purchase_within`]), which rises to
//! F(∞) = P(any further purchase) ([`PurchaseModel::probability_any_purchase`]:
//! P(alive) under BG/NBD and MBG/NBD, whose customers drop out only just
//! after a purchase; P(alive) times the chance of buying before dropping
//! out under Pareto/NBD and BG/BB). The q-quantile
//! ([`PurchaseModel::next_purchase_quantile`]) is the least t with
//! F(t) ≥ q and exists only for q < F(∞): the median is "none expected"
//! (`None`; +∞ in the column forms) when P(any further purchase) ≤ 0.5.
//! [`PurchaseModel::expected_wait_within`] is E[τ | τ ≤ h] =
//! h − ∫₀ʰ F(t) dt / F(h). Under BG/BB time runs in whole opportunities.
//!
//! The deterministic side — historic CLV net of returns, discounts, service
//! and acquisition costs ([`ValueLedger`]), the margin-based
//! ([`simple_clv`]) and retention-based ([`retention_clv`]) formulas, and
//! [`segment_profitability`] — needs no fitting.

/// Version of the serialised form of the models; loading another version is an error.
pub const MODEL_FORMAT_VERSION: u32 = 1;

use crate::error::{Error, Result};

/// Checks a saved model's format version.
fn check_model_version(version: u32) -> Result<()> {
    if version != MODEL_FORMAT_VERSION {
        return Err(Error::InvalidArgument {
            name: "saved model",
            reason: format!("format version {version}, this build reads {MODEL_FORMAT_VERSION}"),
        });
    }
    Ok(())
}

/// Checks that a horizon, count or period is finite and not negative.
fn check_non_negative(name: &'static str, value: f64) -> Result<()> {
    if !(value.is_finite() && value >= 0.0) {
        return Err(Error::InvalidArgument { name, reason: format!("{value} must be finite and ≥ 0") });
    }
    Ok(())
}

/// Checks a discount rate per period (or per opportunity): finite and positive.
fn check_discount_rate(rate: f64) -> Result<()> {
    if !(rate.is_finite() && rate > 0.0) {
        return Err(Error::InvalidArgument { name: "discount rate", reason: format!("{rate} must be positive") });
    }
    Ok(())
}

/// Checks that every named parameter is finite and positive.
fn check_parameters(model: &'static str, parameters: &[(&str, f64)]) -> Result<()> {
    for (name, v) in parameters {
        if !(v.is_finite() && *v > 0.0) {
            return Err(Error::InvalidArgument {
                name: "model parameter",
                reason: format!("{model} {name} = {v} must be finite and positive"),
            });
        }
    }
    Ok(())
}

mod fit;

pub use fit::{FitOptions, FitReport, LikelihoodRatioTest};

mod bgnbd;
mod data;
mod model;

pub use data::PurchaseHistogram;

pub use model::{AnyPurchaseModel, PurchaseModel};

pub use bgnbd::{BetaGeo, BetaGeoVariant};
mod covariates;

pub use covariates::{
    BetaGeoCovariates, CovariateOptions, Covariates, CovariatesBuilder, GammaGammaCovariates, ParetoNbdCovariates,
};
mod bgbb;
mod gamma_gamma;
mod sbg;

pub use bgbb::{BetaGeoBetaBinom, MAX_OPPORTUNITIES};
pub use gamma_gamma::{GammaGamma, MATERIAL_CORRELATION, SpendData};
pub use sbg::ShiftedBetaGeometric;
mod groups;
mod intervals;
mod pareto_nbd;
mod time_varying;
mod timing;

pub(crate) use timing::per_distinct_rows;

pub use groups::{GroupFit, GroupFits};
pub use intervals::{ParameterDraws, PopulationInterval};
pub use pareto_nbd::ParetoNbd;
pub use time_varying::{
    MAX_PERIOD_DAYS, ParetoNbdTimeVarying, TimeVaryingCovariates, TimeVaryingCovariatesBuilder, TimeVaryingHistory,
};
mod value;

pub use value::{Clv, MAX_HORIZON_PERIODS, Span, periods_per_year};
mod deterministic;
mod simulate;

pub use deterministic::{
    CustomerValue, HistoricClv, SegmentProfit, UNSEGMENTED, ValueLedger, retention_clv, segment_profitability,
    simple_clv,
};

pub use simulate::SimulatedCustomers;
