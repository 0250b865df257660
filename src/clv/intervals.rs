//! Prediction intervals from a fitted purchase model: parameter
//! uncertainty by drawing the parameters from the fit's asymptotic normal
//! distribution (CLVTools' "fast bootstrap"), and process uncertainty
//! through each customer's exact distribution of future purchase counts.
//!
//! The draws are taken on the log-parameters, ln θ ~ N(ln θ̂, D⁻¹ Σ D⁻¹)
//! with Σ the fit's covariance and D = diag(θ̂) (the delta method), so
//! every draw is a valid model. For a customer, the parameter interval of
//! a prediction (P(alive), expected purchases) is the quantiles of the
//! prediction over the draws; the interval of the number of purchases in
//! the next t — parameter and process uncertainty together — is the
//! quantiles of the mixture over the draws of
//! [`PurchaseModel::conditional_probability_of_purchases`], computed
//! exactly (no simulation of the process).

use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::gamma_gamma::GammaGamma;
use super::model::PurchaseModel;
use super::value::Clv;
use crate::error::{Error, Result};

/// Draws of a fitted purchase model's parameters: the models at each draw.
///
/// ```
/// use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
/// use customer_lifecycle::clv::{BetaGeo, ParameterDraws, PurchaseModel};
/// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
/// let model = BetaGeo::fit(&summary)?;
/// let draws = ParameterDraws::new(&model, 200, 7)?;
/// let [low, mid, high] = draws.expected_purchases_interval(52.0, 2.0, 30.0, 39.0, [0.05, 0.5, 0.95])?;
/// assert!(low < mid && mid < high);
/// // The same seed gives the same draws.
/// assert_eq!(ParameterDraws::new(&model, 200, 7)?.expected_purchases_interval(52.0, 2.0, 30.0, 39.0, [0.05, 0.5, 0.95])?, [low, mid, high]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ParameterDraws {
    models: Vec<Box<dyn PurchaseModel>>,
}

impl std::fmt::Debug for ParameterDraws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = self.models.first().map(|m| m.name()).unwrap_or("no model");
        write!(f, "ParameterDraws {{ {} draws of {name} }}", self.models.len())
    }
}

impl ParameterDraws {
    /// `draws` models with parameters drawn from the fit of `model`
    /// (seeded: the same seed gives the same draws).
    ///
    /// ```
    /// use customer_lifecycle::clv::{BetaGeo, ParameterDraws};
    /// // A model that was not fitted has no covariance to draw from.
    /// assert!(ParameterDraws::new(&BetaGeo::new(0.24, 4.4, 0.79, 2.4)?, 100, 1).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a model without a fit, no draws, or a
    /// covariance that is not positive definite.
    pub fn new(model: &dyn PurchaseModel, draws: usize, seed: u64) -> Result<ParameterDraws> {
        let (estimates, covariance) = model.estimates().ok_or_else(|| Error::InvalidArgument {
            name: "parameter draws",
            reason: format!("the {} model was not fitted: there is no covariance to draw from", model.name()),
        })?;
        let models = log_normal_draws(estimates, covariance, draws, seed, |p| model.with_parameters(p))?;
        Ok(ParameterDraws { models })
    }

    /// The models at the draws.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::clv::{BetaGeo, ParameterDraws};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let draws = ParameterDraws::new(&BetaGeo::fit(&summary)?, 50, 1)?;
    /// assert_eq!(draws.models().len(), 50);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn models(&self) -> &[Box<dyn PurchaseModel>] {
        &self.models
    }

    /// Quantiles `levels` over the draws of `f` of each drawn model.
    fn quantiles<const N: usize>(
        &self,
        levels: [f64; N],
        f: impl Fn(&dyn PurchaseModel) -> Result<f64>,
    ) -> Result<[f64; N]> {
        check_levels(&levels)?;
        let mut values = self.models.iter().map(|m| f(m.as_ref())).collect::<Result<Vec<f64>>>()?;
        values.sort_by(f64::total_cmp);
        Ok(levels.map(|q| quantile_of_sorted(&values, q)))
    }

    /// Parameter-uncertainty interval of P(alive): its quantiles `levels`
    /// over the draws.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::clv::{BetaGeo, ParameterDraws};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let draws = ParameterDraws::new(&BetaGeo::fit(&summary)?, 200, 1)?;
    /// let [low, high] = draws.probability_alive_interval(2.0, 30.0, 39.0, [0.05, 0.95])?;
    /// assert!(0.0 <= low && low < high && high <= 1.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for levels outside [0, 1]; as the model's
    /// prediction.
    pub fn probability_alive_interval<const N: usize>(
        &self,
        x: f64,
        t_x: f64,
        age: f64,
        levels: [f64; N],
    ) -> Result<[f64; N]> {
        self.quantiles(levels, |m| m.probability_alive(x, t_x, age))
    }

    /// Parameter-uncertainty interval of the expected purchases in the next
    /// `t`.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::clv::{ParameterDraws, ParetoNbd};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let draws = ParameterDraws::new(&ParetoNbd::fit(&summary)?, 100, 3)?;
    /// let [low, high] = draws.expected_purchases_interval(39.0, 2.0, 30.0, 39.0, [0.05, 0.95])?;
    /// assert!(0.0 < low && low < high);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`ParameterDraws::probability_alive_interval`].
    pub fn expected_purchases_interval<const N: usize>(
        &self,
        t: f64,
        x: f64,
        t_x: f64,
        age: f64,
        levels: [f64; N],
    ) -> Result<[f64; N]> {
        self.quantiles(levels, |m| m.conditional_expected_purchases(t, x, t_x, age))
    }

    /// Parameter-uncertainty interval of a customer's CLV under the
    /// settings of `clv` (horizon, discount, margin): its quantiles over
    /// the draws, each draw's purchase model paired with the same draw of
    /// `spend` ([`GammaGamma::parameter_draws`]) — or with the spend model of
    /// `clv` when `spend` is empty.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::clv::{BetaGeo, Clv, GammaGamma, ParameterDraws};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let (purchases, spend) = (BetaGeo::fit(&summary)?, GammaGamma::fit(&summary)?);
    /// let clv = Clv::new(&purchases, &spend);
    /// let draws = ParameterDraws::new(&purchases, 200, 1)?;
    /// let spend_draws = spend.parameter_draws(200, 2)?;
    /// let [low, high] = draws.clv_interval(&clv, &spend_draws, 2.0, 30.43, 38.86, 22.35, [0.05, 0.95])?;
    /// let point = clv.customer(2.0, 30.43, 38.86, 22.35)?;
    /// assert!(low < point && point < high);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`ParameterDraws::probability_alive_interval`] and
    /// [`Clv::customer`]; [`Error::InvalidArgument`] for spend draws of
    /// another number than the purchase draws.
    #[allow(clippy::too_many_arguments)]
    pub fn clv_interval<const N: usize>(
        &self,
        clv: &Clv<'_>,
        spend: &[GammaGamma],
        x: f64,
        t_x: f64,
        age: f64,
        mean_spend: f64,
        levels: [f64; N],
    ) -> Result<[f64; N]> {
        if !spend.is_empty() && spend.len() != self.models.len() {
            return Err(Error::InvalidArgument {
                name: "spend draws",
                reason: format!("{} spend draws for {} purchase draws", spend.len(), self.models.len()),
            });
        }
        check_levels(&levels)?;
        let mut values = Vec::with_capacity(self.models.len());
        for (i, m) in self.models.iter().enumerate() {
            let at = match spend.get(i) {
                Some(s) => clv.with_models(m.as_ref(), s),
                None => clv.with_purchases(m.as_ref()),
            };
            values.push(at.customer(x, t_x, age, mean_spend)?);
        }
        values.sort_by(f64::total_cmp);
        Ok(levels.map(|q| quantile_of_sorted(&values, q)))
    }

    /// Interval of the number of purchases in the next `t` with parameter
    /// and process uncertainty: the quantiles `levels` of the mixture over
    /// the draws of each draw's distribution of the count (the least k whose
    /// cumulative probability reaches the level). Counts are whole, so a
    /// 5–95 % interval covers at least 90 %.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::clv::{BetaGeo, ParameterDraws};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let draws = ParameterDraws::new(&BetaGeo::fit(&summary)?, 100, 1)?;
    /// let [low, high] = draws.purchase_count_interval(52.0, 5.0, 36.0, 39.0, [0.05, 0.95])?;
    /// assert!(low < high);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`ParameterDraws::probability_alive_interval`]; a count beyond
    /// 100,000 purchases is refused.
    pub fn purchase_count_interval<const N: usize>(
        &self,
        t: f64,
        x: f64,
        t_x: f64,
        age: f64,
        levels: [f64; N],
    ) -> Result<[u32; N]> {
        check_levels(&levels)?;
        let draws = self.models.len() as f64;
        let mut out = [0u32; N];
        let mut order: Vec<usize> = (0..N).collect();
        order.sort_by(|&a, &b| levels[a].total_cmp(&levels[b]));
        let mut cumulative = 0.0;
        let mut next = 0;
        for k in 0..=100_000u32 {
            let mut p = 0.0;
            for m in &self.models {
                p += m.conditional_probability_of_purchases(t, k, x, t_x, age)?;
            }
            cumulative += p / draws;
            while next < N && cumulative >= levels[order[next]] - 1e-12 {
                out[order[next]] = k;
                next += 1;
            }
            if next == N {
                return Ok(out);
            }
        }
        Err(Error::InvalidArgument {
            name: "purchase count interval",
            reason: format!("the levels {levels:?} lie beyond 100,000 purchases"),
        })
    }
}

/// `draws` values of `build` at parameters drawn on the log scale from
/// N(ln θ̂, D⁻¹ Σ D⁻¹), D = diag(θ̂) (seeded); a draw `build` refuses is
/// drawn again, at most ten times the draws in all.
pub(crate) fn log_normal_draws<T>(
    estimates: &[f64],
    covariance: &ndarray::Array2<f64>,
    draws: usize,
    seed: u64,
    build: impl Fn(&[f64]) -> Result<T>,
) -> Result<Vec<T>> {
    if draws == 0 {
        return Err(Error::InvalidArgument { name: "parameter draws", reason: "0 draws".into() });
    }
    let k = estimates.len();
    if covariance.dim() != (k, k) || estimates.iter().any(|e| !(e.is_finite() && *e > 0.0)) {
        return Err(Error::InvalidArgument {
            name: "parameter draws",
            reason: "estimates must be positive with a k × k covariance".into(),
        });
    }
    // The covariance of the log-parameters, and its Cholesky factor.
    let log_cov: Vec<f64> =
        (0..k * k).map(|e| covariance[[e / k, e % k]] / (estimates[e / k] * estimates[e % k])).collect();
    let factor = cholesky(&log_cov, k).ok_or_else(|| Error::InvalidArgument {
        name: "parameter draws",
        reason: "the fit's covariance is not positive definite".into(),
    })?;
    let mut g = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut out = Vec::with_capacity(draws);
    let mut attempts = 0usize;
    while out.len() < draws {
        attempts += 1;
        if attempts > 10 * draws + 100 {
            return Err(Error::InvalidArgument {
                name: "parameter draws",
                reason: format!("the model refused {} of {attempts} draws", attempts - out.len()),
            });
        }
        let z: Vec<f64> = (0..k).map(|_| StandardNormal.sample(&mut g)).collect();
        let point: Vec<f64> = (0..k)
            .map(|i| (estimates[i].ln() + (0..=i).map(|j| factor[i * k + j] * z[j]).sum::<f64>()).exp())
            .collect();
        if let Ok(value) = build(&point) {
            out.push(value);
        }
    }
    Ok(out)
}

fn check_levels(levels: &[f64]) -> Result<()> {
    if let Some(q) = levels.iter().find(|q| !(0.0..=1.0).contains(*q)) {
        return Err(Error::InvalidArgument { name: "interval level", reason: format!("{q} is not in [0, 1]") });
    }
    Ok(())
}

/// The q-quantile of sorted values (linear between order statistics).
fn quantile_of_sorted(values: &[f64], q: f64) -> f64 {
    if values.len() == 1 {
        return values[0];
    }
    let at = q * (values.len() - 1) as f64;
    let (i, frac) = (at.floor() as usize, at - at.floor());
    if i + 1 >= values.len() { values[values.len() - 1] } else { values[i] + frac * (values[i + 1] - values[i]) }
}

/// The lower Cholesky factor (row-major) of a symmetric positive-definite
/// matrix.
fn cholesky(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let sum: f64 = (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum();
            if i == j {
                let d = a[i * n + i] - sum;
                if !(d > 0.0 && d.is_finite()) {
                    return None;
                }
                l[i * n + i] = d.sqrt();
            } else {
                l[i * n + j] = (a[i * n + j] - sum) / l[j * n + j];
            }
        }
    }
    Some(l)
}
