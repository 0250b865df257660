//! Gamma-Gamma: the spend model (Fader, Hardie & Lee 2005, "RFM and CLV").
//!
//! Each transaction's value is Gamma(p, ν) with ν ~ Gamma(q, γ) across
//! customers; a customer's mean spend over x repeat purchases is therefore
//! informative about ν. The model assumes spend is independent of purchase
//! frequency: [`GammaGamma::fit`] reports the correlation so you can check.

use ndarray::ArrayView1;
use serde::{Deserialize, Serialize};

use super::fit::{self, FitOptions, FitReport};
use crate::domain::table::CustomerTable;
use crate::error::{Error, Result};
use crate::log::summary::PurchaseSummary;
use crate::math::special::{digamma, ln_gamma, trigamma};

const MODEL: &str = "Gamma-Gamma";

/// Correlation of frequency and mean spend above which the independence
/// assumption is called material in [`SpendData::independence_warning`].
pub const MATERIAL_CORRELATION: f64 = 0.3;

/// What the spend model was fitted on.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct SpendData {
    /// Repeat customers used (x > 0 and mean spend > 0).
    pub customers: usize,
    /// Repeat customers left out because their mean repeat spend is 0.
    pub excluded_zero_spend: usize,
    /// Pearson correlation of frequency and mean spend over the customers used.
    pub frequency_spend_correlation: f64,
}

impl SpendData {
    /// A warning when |correlation| exceeds [`MATERIAL_CORRELATION`].
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// # let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(
    /// #     &SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)),
    /// # )?;
    /// use customer_lifecycle::clv::GammaGamma;
    /// let spend = GammaGamma::fit(&summary)?;
    /// // CDNOW: spend and frequency are nearly uncorrelated, so no warning.
    /// assert!(spend.data().unwrap().independence_warning().is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn independence_warning(&self) -> Option<String> {
        (self.frequency_spend_correlation.abs() > MATERIAL_CORRELATION).then(|| {
            format!(
                "frequency and mean spend are correlated ({:.2}): Gamma-Gamma assumes they are independent",
                self.frequency_spend_correlation
            )
        })
    }
}

validated_serde! {
/// A Gamma-Gamma spend model with parameters `p`, `q`, `gamma`.
///
/// ```
/// use customer_lifecycle::clv::GammaGamma;
///
/// let model = GammaGamma::new(6.2488, 3.7446, 15.4477)?;
/// // A customer with 2 repeat purchases averaging 22.35.
/// let spend = model.conditional_expected_spend(2.0, 22.35)?;
/// assert!((spend - 24.7).abs() < 0.1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Debug)]
pub struct GammaGamma {
    format_version: u32,
    p: f64,
    q: f64,
    gamma: f64,
    report: Option<FitReport>,
    data: Option<SpendData>,
}
}

impl GammaGamma {
    /// A saved model loads only with this crate's format version and valid parameters.
    fn check_consistent(&self) -> Result<()> {
        super::check_model_version(self.format_version)?;
        GammaGamma::new(self.p, self.q, self.gamma).map(|_| ())
    }
}

impl GammaGamma {
    /// A model with given parameters.
    ///
    /// ```
    /// use customer_lifecycle::clv::GammaGamma;
    /// let spend = GammaGamma::new(6.2488, 3.7446, 15.4477)?; // CDNOW, Fader, Hardie & Lee (2005)
    /// assert!(GammaGamma::new(1.0, 0.5, 1.0).is_ok());
    /// assert!(GammaGamma::new(-1.0, 1.0, 1.0).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] unless all three are finite and positive.
    pub fn new(p: f64, q: f64, gamma: f64) -> Result<GammaGamma> {
        super::check_parameters(MODEL, &[("p", p), ("q", q), ("gamma", gamma)])?;
        Ok(GammaGamma { format_version: super::MODEL_FORMAT_VERSION, p, q, gamma, report: None, data: None })
    }

    /// Fits on a summary's repeat customers (frequency > 0): their
    /// frequency and monetary value.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// # let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(
    /// #     &SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)),
    /// # )?;
    /// use customer_lifecycle::clv::GammaGamma;
    /// let spend = GammaGamma::fit(&summary)?;
    /// let (p, q, gamma) = spend.parameters();
    /// assert!((p - 6.2488).abs() < 1e-2 && (q - 3.7446).abs() < 1e-2 && (gamma - 15.4477).abs() < 0.05);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::NotIdentifiable`] with fewer than two usable repeat
    /// customers or when every mean spend is equal; [`Error::FitFailed`];
    /// [`Error::InvalidModelInput`] for negative or non-finite values.
    pub fn fit(summary: &PurchaseSummary) -> Result<GammaGamma> {
        GammaGamma::fit_with(summary, &FitOptions::default())
    }

    /// [`GammaGamma::fit`] with options.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// use customer_lifecycle::clv::{FitOptions, GammaGamma};
    /// let spend = GammaGamma::fit_with(&summary, &FitOptions::new().max_iterations(300))?;
    /// assert!(spend.report().unwrap().converged);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`GammaGamma::fit`], plus [`Error::InvalidArgument`] for bad options.
    pub fn fit_with(summary: &PurchaseSummary, options: &FitOptions) -> Result<GammaGamma> {
        summary.naming(GammaGamma::fit_columns(summary.frequency(), summary.monetary_value(), options))
    }

    /// Fits on columns of frequency and mean repeat spend (rows with
    /// frequency 0 are skipped; rows with frequency > 0 and spend 0 are
    /// excluded and counted).
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// # let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(
    /// #     &SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)),
    /// # )?;
    /// use customer_lifecycle::clv::{FitOptions, GammaGamma};
    /// let spend = GammaGamma::fit_columns(summary.frequency(), summary.monetary_value(), &FitOptions::default())?;
    /// assert_eq!(spend.data().unwrap().customers, 946); // the repeat customers
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`GammaGamma::fit`], plus [`Error::InvalidArgument`] for bad options.
    pub fn fit_columns(
        frequency: ArrayView1<'_, f64>,
        monetary_value: ArrayView1<'_, f64>,
        options: &FitOptions,
    ) -> Result<GammaGamma> {
        if frequency.len() != monetary_value.len() {
            return Err(Error::InvalidArgument {
                name: "model input",
                reason: format!("{MODEL}: columns of lengths {} and {}", frequency.len(), monetary_value.len()),
            });
        }
        let mut x = Vec::new();
        let mut m = Vec::new();
        let mut excluded = 0;
        for i in 0..frequency.len() {
            let (xi, mi) = (frequency[i], monetary_value[i]);
            if !(xi.is_finite() && mi.is_finite()) || xi < 0.0 || mi < 0.0 || xi.fract() != 0.0 {
                return Err(Error::InvalidModelInput {
                    model: MODEL,
                    row: i,
                    customer: None,
                    reason: format!("frequency {xi} and monetary value {mi} must be finite, whole and ≥ 0"),
                });
            }
            if xi == 0.0 {
                continue;
            }
            if mi == 0.0 {
                excluded += 1;
                continue;
            }
            x.push(xi);
            m.push(mi);
        }
        if x.len() < 2 {
            return Err(Error::NotIdentifiable {
                model: MODEL,
                reason: "fewer than two repeat customers with spend".into(),
            });
        }
        if m.iter().all(|&v| v == m[0]) {
            return Err(Error::NotIdentifiable { model: MODEL, reason: "every mean spend is the same".into() });
        }
        let data = SpendData {
            customers: x.len(),
            excluded_zero_spend: excluded,
            frequency_spend_correlation: correlation(&x, &m),
        };
        let mean_m = m.iter().sum::<f64>() / m.len() as f64;
        // On many customers, Newton starts from the fit to an evenly spaced
        // sample of about 20,000 of them: it then needs two or three passes
        // over everyone instead of eight or nine, and ends at the same optimum.
        let mut starts = vec![vec![1.0, 1.0, mean_m]];
        if let Some([sample_x, sample_m]) =
            fit::warm_start_sample(options, [ArrayView1::from(&x[..]), ArrayView1::from(&m[..])])
        {
            if let Ok(sample) =
                maximise_spend(sample_x.as_slice().unwrap_or(&[]), sample_m.as_slice().unwrap_or(&[]), &starts, options)
            {
                starts.insert(0, sample.parameters);
            }
        }
        let report = maximise_spend(&x, &m, &starts, options)?;
        let par = &report.parameters;
        let mut model = GammaGamma::new(par[0], par[1], par[2])?;
        model.report = Some(report);
        model.data = Some(data);
        Ok(model)
    }

    /// The parameters `(p, q, gamma)`.
    ///
    /// ```
    /// use customer_lifecycle::clv::GammaGamma;
    /// let spend = GammaGamma::new(6.2488, 3.7446, 15.4477)?; // CDNOW, Fader, Hardie & Lee (2005)
    /// assert_eq!(spend.parameters(), (6.2488, 3.7446, 15.4477));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parameters(&self) -> (f64, f64, f64) {
        (self.p, self.q, self.gamma)
    }

    /// The fit report, when fitted.
    ///
    /// ```
    /// use customer_lifecycle::clv::GammaGamma;
    /// let spend = GammaGamma::new(6.2488, 3.7446, 15.4477)?; // CDNOW, Fader, Hardie & Lee (2005)
    /// assert!(spend.report().is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn report(&self) -> Option<&FitReport> {
        self.report.as_ref()
    }

    /// What the fit used and left out, when fitted.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// # let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(
    /// #     &SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)),
    /// # )?;
    /// use customer_lifecycle::clv::GammaGamma;
    /// let spend = GammaGamma::fit(&summary)?;
    /// let data = spend.data().unwrap();
    /// assert!(data.frequency_spend_correlation.abs() < 0.3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn data(&self) -> Option<&SpendData> {
        self.data.as_ref()
    }

    /// Delta-method standard error of any prediction of this fitted model
    /// (see [`crate::clv::BetaGeo::standard_error`]).
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// # let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(
    /// #     &SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)),
    /// # )?;
    /// use customer_lifecycle::clv::GammaGamma;
    /// let spend = GammaGamma::fit(&summary)?;
    /// let se = spend.standard_error(|m| m.mean_spend())?;
    /// assert!(se > 0.0 && se < spend.mean_spend()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`crate::clv::BetaGeo::standard_error`].
    pub fn standard_error(&self, prediction: impl Fn(&GammaGamma) -> Result<f64>) -> Result<f64> {
        fit::standard_error_of(self.report.as_ref(), |p| GammaGamma::new(p[0], p[1], p[2]), prediction)
    }

    /// `draws` Gamma-Gamma models with parameters drawn from this fit's
    /// asymptotic normal distribution on the log scale (seeded), for
    /// intervals (see [`ParameterDraws::clv_interval`](super::ParameterDraws::clv_interval)).
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::clv::GammaGamma;
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let spend = GammaGamma::fit(&summary)?;
    /// let draws = spend.parameter_draws(100, 1)?;
    /// assert_eq!(draws.len(), 100);
    /// assert!(GammaGamma::new(6.25, 3.74, 15.44)?.parameter_draws(10, 1).is_err()); // not fitted
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a model that was not fitted, no
    /// draws, or a covariance that is not positive definite.
    pub fn parameter_draws(&self, draws: usize, seed: u64) -> Result<Vec<GammaGamma>> {
        let report = self.report().ok_or_else(|| Error::InvalidArgument {
            name: "parameter draws",
            reason: "the Gamma-Gamma model was not fitted: there is no covariance to draw from".into(),
        })?;
        // A draw without a finite mean spend (q ≤ 1) is drawn again.
        fit::log_normal_draws(&report.parameters, &report.covariance, draws, seed, |p| {
            let model = GammaGamma::new(p[0], p[1], p[2])?;
            model.mean_spend()?;
            Ok(model)
        })
    }

    /// The population mean spend per transaction, p γ / (q − 1).
    ///
    /// ```
    /// use customer_lifecycle::clv::GammaGamma;
    /// let spend = GammaGamma::new(6.2488, 3.7446, 15.4477)?; // CDNOW, Fader, Hardie & Lee (2005)
    /// // p γ / (q − 1)
    /// assert!((spend.mean_spend()? - 6.2488 * 15.4477 / 2.7446).abs() < 1e-9);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when q ≤ 1 (the mean is infinite).
    pub fn mean_spend(&self) -> Result<f64> {
        self.check_q()?;
        Ok(self.p * self.gamma / (self.q - 1.0))
    }

    /// Expected spend per transaction of a customer with `frequency` repeat
    /// purchases averaging `mean_spend`: (γ + m̄ x) p / (p x + q − 1).
    /// A customer with no repeat purchase gets the population mean.
    ///
    /// ```
    /// use customer_lifecycle::clv::GammaGamma;
    /// let spend = GammaGamma::new(6.2488, 3.7446, 15.4477)?; // CDNOW, Fader, Hardie & Lee (2005)
    /// // Few purchases: shrunk towards the population mean; many: close to the customer's own.
    /// let (population, own) = (spend.mean_spend()?, 100.0);
    /// let one = spend.conditional_expected_spend(1.0, own)?;
    /// let twenty = spend.conditional_expected_spend(20.0, own)?;
    /// assert!(population < one && one < twenty && twenty < own);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when q ≤ 1; [`Error::InvalidModelInput`]
    /// when the inputs are negative or non-finite.
    pub fn conditional_expected_spend(&self, frequency: f64, mean_spend: f64) -> Result<f64> {
        self.check_q()?;
        if !(frequency.is_finite() && mean_spend.is_finite() && frequency >= 0.0 && mean_spend >= 0.0) {
            return Err(Error::InvalidModelInput {
                model: MODEL,
                row: 0,
                customer: None,
                reason: format!("frequency {frequency} and mean spend {mean_spend} must be finite and ≥ 0"),
            });
        }
        Ok((self.gamma + mean_spend * frequency) * self.p / (self.p * frequency + self.q - 1.0))
    }

    /// Expected spend per transaction for every customer of a summary.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// # let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(
    /// #     &SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)),
    /// # )?;
    /// use customer_lifecycle::clv::GammaGamma;
    /// let spend = GammaGamma::new(6.2488, 3.7446, 15.4477)?;
    /// let expected = spend.conditional_expected_spend_all(&summary)?;
    /// assert_eq!(expected.len(), summary.len());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`GammaGamma::conditional_expected_spend`].
    pub fn conditional_expected_spend_all(&self, summary: &PurchaseSummary) -> Result<CustomerTable> {
        let (x, m) = (summary.frequency(), summary.monetary_value());
        summary.keyed(
            "expected_spend",
            (0..x.len()).map(|i| self.conditional_expected_spend(x[i], m[i]).map_err(|e| e.at_row(i))).collect(),
        )
    }

    fn check_q(&self) -> Result<()> {
        if self.q <= 1.0 {
            return Err(Error::InvalidArgument {
                name: "Gamma-Gamma q",
                reason: format!("q = {} ≤ 1: the expected spend is infinite", self.q),
            });
        }
        Ok(())
    }
}

/// Maximises the Gamma-Gamma likelihood of repeat customers (x > 0, m̄ > 0)
/// from each start in turn.
fn maximise_spend(x: &[f64], m: &[f64], starts: &[Vec<f64>], options: &FitOptions) -> Result<FitReport> {
    let likelihood = SpendLikelihood::new(x, m);
    let neg_ll = |par: &[f64]| -likelihood.value([par[0], par[1], par[2]]);
    let neg_gradient =
        |par: &[f64]| -> Vec<f64> { likelihood.gradient([par[0], par[1], par[2]]).iter().map(|g| -g).collect() };
    let neg_hessian =
        |par: &[f64]| -> Vec<f64> { likelihood.hessian([par[0], par[1], par[2]]).iter().map(|h| -h).collect() };
    let starts: Vec<&[f64]> = starts.iter().map(Vec::as_slice).collect();
    fit::maximise_with_gradient(
        MODEL,
        &["p", "q", "gamma"],
        &neg_ll,
        Some(&neg_gradient),
        Some(&neg_hessian),
        &starts,
        x.len() as f64,
        options,
    )
}

/// ln of the density of a customer's mean spend m̄ over x transactions.
#[cfg(test)]
fn row_log_likelihood(p: f64, q: f64, gamma: f64, x: f64, m: f64) -> f64 {
    ln_gamma(p * x + q) - ln_gamma(p * x) - ln_gamma(q) + q * gamma.ln() + (p * x - 1.0) * m.ln() + p * x * x.ln()
        - (p * x + q) * (gamma + x * m).ln()
}

/// The Gamma-Gamma log-likelihood of many customers, with its gradient and
/// Hessian in (p, q, γ), at the cost of one pass over the customers per
/// value of γ.
///
/// With z = x·m̄ (a customer's repeat spend) and U = ln(1 + γ/z), a
/// customer's term `(px − 1) ln m̄ + px ln x − (px + q) ln(γ + z) + q ln γ`
/// is `−ln m̄ − px·U − q·(U + ln z − ln γ)`, so the total is
///
/// Σ_x n_x [lnΓ(px + q) − lnΓ(px) − lnΓ(q)] − Σ ln m̄ − p Σ xU
///   − q (Σ U + Σ ln z − N ln γ).
///
/// The gamma functions depend on x alone and are summed over the few
/// distinct frequencies; only Σ xU and Σ U (and their derivatives in γ,
/// through dU/dγ = 1/(γ + z)) need every customer, and they do not depend
/// on p and q. So one pass at a new γ — one `ln_1p` and two divisions per
/// customer — serves the value, the gradient and the Hessian there, which
/// the optimiser asks for in turn. Written with U (small, of one sign)
/// rather than as p Σ x ln(γ + z) against p Σ x ln z, the sums are about
/// 25 times smaller than the terms that would cancel, which keeps a fit on
/// a million customers as precise as on a thousand (written the other way
/// Newton stalled at 1M from rounding in the value).
pub(super) struct SpendLikelihood<'a> {
    x: &'a [f64],
    /// x·m̄ per customer.
    z: Vec<f64>,
    /// Distinct frequencies and how many customers have each.
    groups: Vec<(f64, f64)>,
    n: f64,
    sum_ln_z: f64,
    sum_ln_m: f64,
    /// The sums over customers at the last γ.
    sums: std::cell::Cell<Option<(f64, GammaSums)>>,
}

/// Σ xU and Σ U at one γ, with their first and second derivatives in γ:
/// Σ x r, Σ r, Σ x r², Σ r² for r = 1/(γ + z).
#[derive(Clone, Copy)]
struct GammaSums {
    xu: f64,
    u: f64,
    xr: f64,
    r: f64,
    xr2: f64,
    r2: f64,
}

impl<'a> SpendLikelihood<'a> {
    pub(super) fn new(x: &'a [f64], m: &[f64]) -> SpendLikelihood<'a> {
        let z: Vec<f64> = x.iter().zip(m).map(|(x, m)| x * m).collect();
        let sum_ln_z = z.iter().map(|z| z.ln()).sum();
        let sum_ln_m = m.iter().map(|m| m.ln()).sum();
        // Frequencies are whole and, in practice, small: counted in a
        // table, larger ones in a map.
        let mut small = Vec::new();
        let mut large = std::collections::BTreeMap::new();
        for &xi in x {
            match usize::try_from(xi as u64).ok().filter(|&k| k < 1 << 16) {
                Some(k) => {
                    if k >= small.len() {
                        small.resize(k + 1, 0.0);
                    }
                    small[k] += 1.0;
                }
                None => *large.entry(xi.to_bits()).or_insert(0.0) += 1.0,
            }
        }
        let groups = small
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0.0)
            .map(|(k, &n)| (k as f64, n))
            .chain(large.into_iter().map(|(bits, n)| (f64::from_bits(bits), n)))
            .collect();
        SpendLikelihood { x, z, groups, n: x.len() as f64, sum_ln_z, sum_ln_m, sums: std::cell::Cell::new(None) }
    }

    fn sums(&self, gamma: f64) -> GammaSums {
        if let Some((at, sums)) = self.sums.get() {
            if at == gamma {
                return sums;
            }
        }
        let mut s = GammaSums { xu: 0.0, u: 0.0, xr: 0.0, r: 0.0, xr2: 0.0, r2: 0.0 };
        for (&x, &z) in self.x.iter().zip(&self.z) {
            let u = (gamma / z).ln_1p();
            let r = 1.0 / (gamma + z);
            s.xu += x * u;
            s.u += u;
            s.xr += x * r;
            s.r += r;
            s.xr2 += x * r * r;
            s.r2 += r * r;
        }
        self.sums.set(Some((gamma, s)));
        s
    }

    /// Σ ln(1 + z/γ) = Σ U + Σ ln z − N ln γ.
    fn sum_v(&self, s: &GammaSums, gamma: f64) -> f64 {
        s.u + self.sum_ln_z - self.n * gamma.ln()
    }

    pub(super) fn value(&self, [p, q, gamma]: [f64; 3]) -> f64 {
        let s = self.sums(gamma);
        let by_x: f64 = self.groups.iter().map(|&(x, n)| n * (ln_gamma(p * x + q) - ln_gamma(p * x))).sum();
        by_x - self.n * ln_gamma(q) - self.sum_ln_m - p * s.xu - q * self.sum_v(&s, gamma)
    }

    pub(super) fn gradient(&self, [p, q, gamma]: [f64; 3]) -> [f64; 3] {
        let s = self.sums(gamma);
        let (mut gp, mut gq) = (0.0, 0.0);
        for &(x, n) in &self.groups {
            let psi = digamma(p * x + q);
            gp += n * x * (psi - digamma(p * x));
            gq += n * psi;
        }
        [gp - s.xu, gq - self.n * digamma(q) - self.sum_v(&s, gamma), self.n * q / gamma - p * s.xr - q * s.r]
    }

    /// Row-major 3 × 3.
    pub(super) fn hessian(&self, [p, q, gamma]: [f64; 3]) -> Vec<f64> {
        let s = self.sums(gamma);
        let (mut pp, mut pq, mut qq) = (0.0, 0.0, 0.0);
        for &(x, n) in &self.groups {
            let t = trigamma(p * x + q);
            pp += n * x * x * (t - trigamma(p * x));
            pq += n * x * t;
            qq += n * t;
        }
        qq -= self.n * trigamma(q);
        let pg = -s.xr;
        let qg = self.n / gamma - s.r;
        let gg = -self.n * q / (gamma * gamma) + p * s.xr2 + q * s.r2;
        vec![pp, pq, pg, pq, qq, qg, pg, qg, gg]
    }
}

fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    if saa == 0.0 || sbb == 0.0 { 0.0 } else { sab / (saa * sbb).sqrt() }
}

#[cfg(test)]
#[allow(clippy::excessive_precision)] // reference values quoted with all their digits
mod tests {
    use super::*;

    #[test]
    fn q_at_most_one_is_an_error() {
        let m = GammaGamma::new(2.0, 0.9, 10.0).unwrap();
        assert!(m.conditional_expected_spend(2.0, 10.0).is_err());
        assert!(m.mean_spend().is_err());
    }

    #[test]
    fn bad_input() {
        use ndarray::Array1;
        assert!(GammaGamma::new(-1.0, 2.0, 3.0).is_err());
        let x = Array1::from(vec![1.0, 2.0, 0.0]);
        let zero = Array1::from(vec![0.0, 0.0, 0.0]);
        let e = GammaGamma::fit_columns(x.view(), zero.view(), &FitOptions::default()).unwrap_err();
        assert!(matches!(e, Error::NotIdentifiable { .. }), "{e}");
        let nan = Array1::from(vec![1.0, f64::NAN, 0.0]);
        assert!(GammaGamma::fit_columns(x.view(), nan.view(), &FitOptions::default()).is_err());
    }

    #[test]
    fn grouped_likelihood_gradient_and_hessian_match_the_rows() {
        // Against the per-row density summed directly, and finite
        // differences of it (relative 1e-6).
        let x = [1.0, 2.0, 5.0, 9.0, 2.0, 1.0, 300.0];
        let m = [10.0, 22.35, 35.0, 7.5, 19.0, 3.25, 12.0];
        let total = |p: [f64; 3]| -> f64 {
            x.iter().zip(&m).map(|(&xi, &mi)| row_log_likelihood(p[0], p[1], p[2], xi, mi)).sum()
        };
        let likelihood = SpendLikelihood::new(&x, &m);
        let p = [6.2, 3.7, 15.4];
        assert!((likelihood.value(p) - total(p)).abs() < 1e-9 * total(p).abs());
        // Frequencies past the counting table go through the map.
        let (wide_x, wide_m) = ([3.0, 70_000.0, 70_000.0, 3.0], [4.0, 5.0, 6.0, 7.0]);
        let wide = SpendLikelihood::new(&wide_x, &wide_m);
        assert_eq!(wide.groups, [(3.0, 2.0), (70_000.0, 2.0)]);
        let direct: f64 = wide_x.iter().zip(&wide_m).map(|(&x, &m)| row_log_likelihood(p[0], p[1], p[2], x, m)).sum();
        assert!((wide.value(p) - direct).abs() < 1e-9 * direct.abs(), "{} vs {direct}", wide.value(p));
        let g = likelihood.gradient(p);
        let h = likelihood.hessian(p);
        for i in 0..3 {
            let step = 1e-5 * p[i];
            let (mut up, mut down) = (p, p);
            up[i] += step;
            down[i] -= step;
            let numeric = (total(up) - total(down)) / (2.0 * step);
            assert!((g[i] - numeric).abs() < 1e-6 * numeric.abs().max(1.0), "{i}: {} vs {numeric}", g[i]);
            let (gu, gd) = (likelihood.gradient(up), likelihood.gradient(down));
            for j in 0..3 {
                let numeric = (gu[j] - gd[j]) / (2.0 * step);
                let analytic = h[i * 3 + j];
                assert!((analytic - numeric).abs() < 1e-5 * numeric.abs().max(1.0), "{i}{j}: {analytic} vs {numeric}");
                assert_eq!(analytic, h[j * 3 + i], "symmetric");
            }
        }
    }

    #[test]
    fn correlation_warning() {
        let d = SpendData { customers: 10, excluded_zero_spend: 0, frequency_spend_correlation: 0.5 };
        assert!(d.independence_warning().is_some());
        assert_eq!(correlation(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]), 1.0);
    }
}
