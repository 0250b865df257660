//! Customer lifetime value: the probabilistic "buy till you die" models,
//! fitted by maximum likelihood.
//!
//! Every model is fitted on log-transformed parameters (so they stay
//! positive) with L-BFGS, customers with identical inputs grouped and
//! weighted; the [`FitReport`] gives the estimates, standard errors and
//! covariance (inverse observed information in the natural parameters),
//! the log-likelihood as a plain sum over customers in the data's time
//! unit, AIC, BIC and convergence. A fit that does not converge, or data
//! that cannot identify the model, is an [`Error`](crate::Error), never NaN
//! parameters.

/// Version of the serialised form of the models; loading another version is an error.
pub const MODEL_FORMAT_VERSION: u32 = 1;

mod fit;
pub(crate) mod numerics;

pub use fit::{FitOptions, FitReport};

mod bgnbd;
mod data;

pub use bgnbd::{BetaGeo, BetaGeoVariant};
mod bgbb;
mod gamma_gamma;
mod sbg;

pub use bgbb::BetaGeoBetaBinom;
pub use gamma_gamma::{GammaGamma, MATERIAL_CORRELATION, SpendData};
pub use sbg::ShiftedBetaGeometric;
mod pareto_nbd;

pub use pareto_nbd::ParetoNbd;
mod value;

pub use value::{Clv, PurchaseModel, periods_per_year};
mod simulate;

pub use simulate::SimulatedCustomers;
