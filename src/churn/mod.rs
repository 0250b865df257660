//! Churn risk: one number per customer, a band, the reasons, and proof
//! that the score works on your data.
//!
//! **Scorers**
//! * [`model_risk`]: `1 − P(alive)` or `P(no purchase in the next t)` from
//!   any fitted purchase model (read its docs for what BG/NBD does with
//!   one-time buyers);
//! * [`cadence_risk`]: how overdue a customer is at their own pace, with
//!   no fitting;
//! * [`LearnedChurn`]: a penalised logistic regression ([`LogisticRegression`],
//!   Newton/IRLS with L2, standardised features, coefficients with standard
//!   errors) on [`Features`] from a purchase summary or from streaming
//!   customer states, calibrated by [`PlattScaling`], with per-customer
//!   explanations. Customers who objected to profiling are not scored.
//! * [`RiskBands`] turn a risk into `low`, `medium`, `high`.
//!
//! **The predictive profile** ([`CustomerPrediction`]): one row per
//! customer with historic and predicted CLV (and its interval), churn risk
//! and band, P(alive), expected orders, the probability of any order, the
//! average days between orders and the expected date of the next order,
//! after [`Eligibility`] checks on the data.
//!
//! **Evaluation** ([`Evaluation`]): ROC AUC with ties, PR AUC (average
//! precision), Brier score, log loss, the decile table (calibration and
//! lift). Honest use, as a shop would on live data: pick a horizon H; train
//! on features at an earlier cut-off (the calibration end − H) with labels
//! = no purchase between that cut-off and the calibration end; then score
//! the calibration-end features to predict no purchase in the H after it,
//! and judge on that holdout — never on the labels trained on.

mod evaluation;
mod logistic;
mod profile;
mod score;

pub use evaluation::{Evaluation, ScoreBin, ScoreScale, brier_score, log_loss, pr_auc, roc_auc, score_bins};
pub use logistic::{LogisticOptions, LogisticRegression, PlattScaling};
pub use profile::{CustomerPrediction, Eligibility, EligibilityProblem, ProfileOptions};
pub use score::{
    Features, LEAN_SUMMARY_FEATURES, LearnedChurn, ModelRisk, RiskBand, RiskBands, SUMMARY_FEATURES, cadence_risk,
    model_risk, objected_to_profiling,
};
