//! Shifted-beta-geometric (sBG): contractual retention from cohort survivor
//! counts (Fader & Hardie 2007, "How to project customer retention").
//!
//! Each customer renews each period with a constant probability 1 − θ;
//! θ ~ Beta(α, β) across customers, so the cohort's retention rate rises
//! over time as the churn-prone leave.

use super::fit::{self, FitOptions, FitReport};
use crate::error::{Error, Result};
use crate::math::series::hyp2f1_positive;
use crate::math::special::{ln_beta, ln_gamma, ln_gamma_ratio};

const MODEL: &str = "sBG";

validated_serde! {
/// A shifted-beta-geometric retention model with parameters `alpha`, `beta`.
///
/// ```
/// use customer_lifecycle::clv::ShiftedBetaGeometric;
///
/// // "Regular" customers of Fader & Hardie (2007), years 0..=7.
/// let survivors = [1000.0, 631.0, 468.0, 382.0, 326.0, 289.0, 262.0, 241.0];
/// let model = ShiftedBetaGeometric::fit_survivors(&survivors)?;
/// let (alpha, beta) = model.parameters();
/// assert!((alpha - 0.704).abs() < 1e-3 && (beta - 1.182).abs() < 1e-3);
/// // Projected share still active after 12 years:
/// assert!(model.survival(12.0)? < 0.2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Debug)]
pub struct ShiftedBetaGeometric {
    format_version: u32,
    alpha: f64,
    beta: f64,
    report: Option<FitReport>,
}
}

impl ShiftedBetaGeometric {
    /// A saved model loads only with this crate's format version and valid parameters.
    fn check_consistent(&self) -> Result<()> {
        super::check_model_version(self.format_version)?;
        ShiftedBetaGeometric::new(self.alpha, self.beta).map(|_| ())
    }
}

impl ShiftedBetaGeometric {
    /// A model with given parameters.
    ///
    /// ```
    /// use customer_lifecycle::clv::ShiftedBetaGeometric;
    /// let model = ShiftedBetaGeometric::new(0.704, 1.182)?; // "regular" customers, Fader & Hardie (2007)
    /// assert!(ShiftedBetaGeometric::new(0.0, 1.0).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] unless both are finite and positive.
    pub fn new(alpha: f64, beta: f64) -> Result<ShiftedBetaGeometric> {
        super::check_parameters(MODEL, &[("alpha", alpha), ("beta", beta)])?;
        Ok(ShiftedBetaGeometric { format_version: super::MODEL_FORMAT_VERSION, alpha, beta, report: None })
    }

    /// Fits on a cohort's survivor counts: `survivors[0]` customers at the
    /// start, `survivors[t]` still active after period `t`. The
    /// log-likelihood counts the customers lost in each period and those
    /// still active at the end (right-censored).
    ///
    /// ```
    /// use customer_lifecycle::clv::ShiftedBetaGeometric;
    /// let survivors = [1000.0, 631.0, 468.0, 382.0, 326.0, 289.0, 262.0, 241.0];
    /// let model = ShiftedBetaGeometric::fit_survivors(&survivors)?;
    /// assert!((model.report().unwrap().log_likelihood - -1680.27).abs() < 0.01);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidModelInput`] for counts that are negative,
    /// non-finite or increasing; [`Error::NotIdentifiable`] with fewer than
    /// two periods or when nobody (or everybody) churns; [`Error::FitFailed`].
    pub fn fit_survivors(survivors: &[f64]) -> Result<ShiftedBetaGeometric> {
        ShiftedBetaGeometric::fit_survivors_with(survivors, &FitOptions::default())
    }

    /// [`ShiftedBetaGeometric::fit_survivors`] with options.
    ///
    /// ```
    /// use customer_lifecycle::clv::{FitOptions, ShiftedBetaGeometric};
    /// let survivors = [1000.0, 631.0, 468.0, 382.0, 326.0, 289.0, 262.0, 241.0];
    /// let model = ShiftedBetaGeometric::fit_survivors_with(&survivors, &FitOptions::new().max_iterations(100))?;
    /// assert!(model.report().unwrap().converged);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`ShiftedBetaGeometric::fit_survivors`].
    pub fn fit_survivors_with(survivors: &[f64], options: &FitOptions) -> Result<ShiftedBetaGeometric> {
        for (t, &s) in survivors.iter().enumerate() {
            let bad = |reason: String| Error::InvalidModelInput { model: MODEL, row: t, customer: None, reason };
            if !(s.is_finite() && s >= 0.0) {
                return Err(bad(format!("survivor count {s} must be finite and ≥ 0")));
            }
            if t > 0 && s > survivors[t - 1] {
                return Err(bad(format!("survivors rise from {} to {s}", survivors[t - 1])));
            }
        }
        if survivors.len() < 3 {
            return Err(Error::NotIdentifiable { model: MODEL, reason: "fewer than two periods of survivors".into() });
        }
        let last = survivors[survivors.len() - 1];
        if survivors[0] == last {
            return Err(Error::NotIdentifiable { model: MODEL, reason: "nobody churned".into() });
        }
        if last == 0.0 && survivors[1] == 0.0 {
            return Err(Error::NotIdentifiable {
                model: MODEL,
                reason: "everybody churned in the first period".into(),
            });
        }
        let periods = survivors.len() - 1;
        let neg_ll = |p: &[f64]| {
            let (alpha, beta) = (p[0], p[1]);
            let base = ln_beta(alpha, beta);
            let mut ll = 0.0;
            for t in 1..=periods {
                let lost = survivors[t - 1] - survivors[t];
                if lost > 0.0 {
                    ll += lost * (ln_beta(alpha + 1.0, beta + t as f64 - 1.0) - base);
                }
            }
            if last > 0.0 {
                ll += last * (ln_beta(alpha, beta + periods as f64) - base);
            }
            -ll
        };
        let report = fit::maximise(MODEL, &["alpha", "beta"], &neg_ll, &[&[1.0, 1.0]], survivors[0], options)?;
        let mut model = ShiftedBetaGeometric::new(report.parameters[0], report.parameters[1])?;
        model.report = Some(report);
        Ok(model)
    }

    /// The parameters `(alpha, beta)`.
    ///
    /// ```
    /// use customer_lifecycle::clv::ShiftedBetaGeometric;
    /// let model = ShiftedBetaGeometric::new(0.704, 1.182)?; // "regular" customers, Fader & Hardie (2007)
    /// assert_eq!(model.parameters(), (0.704, 1.182));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parameters(&self) -> (f64, f64) {
        (self.alpha, self.beta)
    }

    /// The fit report, when fitted.
    ///
    /// ```
    /// use customer_lifecycle::clv::ShiftedBetaGeometric;
    /// let model = ShiftedBetaGeometric::new(0.704, 1.182)?; // "regular" customers, Fader & Hardie (2007)
    /// assert!(model.report().is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn report(&self) -> Option<&FitReport> {
        self.report.as_ref()
    }

    /// Delta-method standard error of any prediction of this fitted model
    /// (see [`crate::clv::BetaGeo::standard_error`]).
    ///
    /// ```
    /// use customer_lifecycle::clv::ShiftedBetaGeometric;
    ///
    /// let model = ShiftedBetaGeometric::fit_survivors(&[1000.0, 631.0, 468.0, 382.0, 326.0, 289.0, 262.0, 241.0])?;
    /// let s12 = model.survival(12.0)?;
    /// let se = model.standard_error(|m| m.survival(12.0))?;
    /// assert!(se > 0.0 && se < s12);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`crate::clv::BetaGeo::standard_error`].
    pub fn standard_error(&self, prediction: impl Fn(&ShiftedBetaGeometric) -> Result<f64>) -> Result<f64> {
        fit::standard_error_of(self.report.as_ref(), |p| ShiftedBetaGeometric::new(p[0], p[1]), prediction)
    }

    /// Share of the cohort still active after `t` periods: S(t) = B(α, β+t)/B(α, β).
    ///
    /// ```
    /// use customer_lifecycle::clv::ShiftedBetaGeometric;
    /// let model = ShiftedBetaGeometric::new(0.704, 1.182)?; // "regular" customers, Fader & Hardie (2007)
    /// assert_eq!(model.survival(0.0)?, 1.0);
    /// assert!((model.survival(1.0)? - 0.631).abs() < 0.01); // 63.1 % renew after year 1
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for negative or non-finite `t`.
    pub fn survival(&self, t: f64) -> Result<f64> {
        check_period(t)?;
        // S(t) = Γ(β+t)/Γ(α+β+t) · Γ(α+β)/Γ(β): the first ratio in a form
        // that keeps its precision for any t (at t = 10¹⁸ the plain
        // difference of log-gammas gave 0.8; at f64::MAX, NaN).
        let (a, b) = (self.alpha, self.beta);
        let ln_s = ln_gamma_ratio(b + t, a) + ln_gamma(a + b) - ln_gamma(b);
        Ok(ln_s.exp().clamp(0.0, 1.0))
    }

    /// Share of the cohort that churns in period `t` ≥ 1: B(α+1, β+t−1)/B(α, β).
    ///
    /// ```
    /// use customer_lifecycle::clv::ShiftedBetaGeometric;
    /// let model = ShiftedBetaGeometric::new(0.704, 1.182)?; // "regular" customers, Fader & Hardie (2007)
    /// let (s0, s1) = (model.survival(0.0)?, model.survival(1.0)?);
    /// assert!((model.churn_probability(1.0)? - (s0 - s1)).abs() < 1e-12);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for `t` < 1 or non-finite.
    pub fn churn_probability(&self, t: f64) -> Result<f64> {
        check_period(t - 1.0)?;
        Ok((ln_beta(self.alpha + 1.0, self.beta + t - 1.0) - ln_beta(self.alpha, self.beta)).exp())
    }

    /// Retention rate in period `t` ≥ 1: S(t)/S(t−1) = (β + t − 1)/(α + β + t − 1).
    ///
    /// ```
    /// use customer_lifecycle::clv::ShiftedBetaGeometric;
    /// let model = ShiftedBetaGeometric::new(0.704, 1.182)?; // "regular" customers, Fader & Hardie (2007)
    /// // Retention rises as the churn-prone leave.
    /// assert!(model.retention_rate(5.0)? > model.retention_rate(1.0)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for `t` < 1 or non-finite.
    pub fn retention_rate(&self, t: f64) -> Result<f64> {
        check_period(t - 1.0)?;
        Ok((self.beta + t - 1.0) / (self.alpha + self.beta + t - 1.0))
    }

    /// Expected lifetime of a new customer in periods, (α + β − 1)/(α − 1).
    ///
    /// ```
    /// use customer_lifecycle::clv::ShiftedBetaGeometric;
    /// let model = ShiftedBetaGeometric::new(0.704, 1.182)?; // "regular" customers, Fader & Hardie (2007)
    /// assert!(model.expected_lifetime().is_err()); // α < 1: infinite
    /// let durable = ShiftedBetaGeometric::new(3.0, 2.0)?;
    /// assert!((durable.expected_lifetime()? - 2.0).abs() < 1e-12); // (α + β − 1)/(α − 1)
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when α ≤ 1: the expectation is infinite
    /// (both published cohorts are in this case); use
    /// [`ShiftedBetaGeometric::discounted_expected_lifetime`].
    pub fn expected_lifetime(&self) -> Result<f64> {
        if self.alpha <= 1.0 {
            return Err(Error::InvalidArgument {
                name: "sBG alpha",
                reason: format!("alpha = {} ≤ 1: the undiscounted expected lifetime is infinite", self.alpha),
            });
        }
        Ok((self.alpha + self.beta - 1.0) / (self.alpha - 1.0))
    }

    /// Discounted expected lifetime (DEL) of a new customer, in periods, at
    /// discount rate `d` per period (Fader & Hardie 2010): the first period
    /// counts 1, period t + 1 counts S(t)/(1+d)^t, in closed form
    /// ₂F₁(1, β; α+β; 1/(1+d)). Times the payment per period, this is the
    /// value of a customer at acquisition.
    ///
    /// ```
    /// use customer_lifecycle::clv::ShiftedBetaGeometric;
    ///
    /// let model = ShiftedBetaGeometric::new(0.668, 3.806)?; // "high end", Fader & Hardie 2007
    /// let del = model.discounted_expected_lifetime(0.10)?;
    /// assert!((del - 5.922_596_407_6).abs() < 1e-9); // mpmath's sum of S(t)/1.1^t
    /// // A new customer is worth the first payment plus the residual value after it.
    /// let derl = model.discounted_expected_residual_lifetime(1.0, 0.10)?;
    /// assert!((del - (1.0 + derl / 1.1)).abs() < 1e-12);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for `d` ≤ 0 or non-finite.
    pub fn discounted_expected_lifetime(&self, d: f64) -> Result<f64> {
        super::check_discount_rate(d)?;
        let (a, b) = (self.alpha, self.beta);
        series(hyp2f1_positive(1.0, b, a + b, 1.0 / (1.0 + d)))
    }

    /// Discounted expected residual lifetime (DERL) of a customer in period
    /// `n` ≥ 1, that is one who has made n − 1 renewals, at discount rate
    /// `d` per period, in Fader & Hardie's (2010) convention: the coming
    /// renewal counts undiscounted, each later one 1/(1+d) less:
    /// (β+n−1)/(α+β+n−1) · ₂F₁(1, β+n; α+β+n; 1/(1+d)). The number of
    /// renewals is one less than `n`.
    ///
    /// ```
    /// use customer_lifecycle::clv::ShiftedBetaGeometric;
    ///
    /// let model = ShiftedBetaGeometric::new(0.668, 3.806)?;
    /// // After five renewals (period 6) the customer has proven loyal: worth more.
    /// let (new, loyal) = (model.discounted_expected_residual_lifetime(1.0, 0.1)?, model.discounted_expected_residual_lifetime(6.0, 0.1)?);
    /// assert!((new - 5.414_856_048_374).abs() < 1e-9 && loyal > new);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for `d` ≤ 0 or non-finite, or `n` < 1 or non-finite.
    pub fn discounted_expected_residual_lifetime(&self, n: f64, d: f64) -> Result<f64> {
        if !(n.is_finite() && n >= 1.0) {
            return Err(Error::InvalidArgument {
                name: "period",
                reason: format!("n = {n}: the customer's period is counted from 1 (n − 1 renewals)"),
            });
        }
        super::check_discount_rate(d)?;
        let (a, b) = (self.alpha, self.beta);
        let f = series(hyp2f1_positive(1.0, b + n, a + b + n, 1.0 / (1.0 + d)))?;
        Ok((b + n - 1.0) / (a + b + n - 1.0) * f)
    }
}

fn series(value: Option<f64>) -> Result<f64> {
    value.ok_or_else(|| Error::InvalidArgument {
        name: "sBG parameters",
        reason: "the lifetime series did not converge".into(),
    })
}

fn check_period(value: f64) -> Result<()> {
    super::check_non_negative("period", value)
}

#[cfg(test)]
#[allow(clippy::excessive_precision)] // reference values quoted with all their digits
mod tests {
    use super::*;

    #[test]
    fn survival_stays_a_probability_at_any_horizon() {
        let m = ShiftedBetaGeometric::new(0.7, 1.2).unwrap();
        // Equal to the plain formula where that one is accurate.
        for t in [0.0, 1.0, 7.0, 1000.0, 1e6] {
            let plain = (ln_beta(0.7, 1.2 + t) - ln_beta(0.7, 1.2)).exp();
            assert!((m.survival(t).unwrap() / plain - 1.0).abs() < 1e-9, "{t}");
        }
        // Falling, and in [0, 1], far beyond (S(t) ~ C t^(−α)).
        let mut last = 1.0;
        for t in [1e6, 1e8, 1e12, 1e18, 1e300, f64::MAX] {
            let s = m.survival(t).unwrap();
            assert!((0.0..=last).contains(&s), "S({t}) = {s}");
            last = s;
        }
        let c = (crate::math::special::ln_gamma(1.9) - crate::math::special::ln_gamma(1.2)).exp();
        assert!((m.survival(1e18).unwrap() / (c * 1e18f64.powf(-0.7)) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn bad_input() {
        assert!(ShiftedBetaGeometric::fit_survivors(&[100.0, 120.0, 50.0]).is_err());
        assert!(ShiftedBetaGeometric::fit_survivors(&[100.0, 50.0]).is_err());
        assert!(ShiftedBetaGeometric::fit_survivors(&[100.0, 100.0, 100.0]).is_err());
        assert!(ShiftedBetaGeometric::fit_survivors(&[100.0, f64::NAN, 10.0]).is_err());
        let m = ShiftedBetaGeometric::new(0.7, 1.2).unwrap();
        assert!(m.expected_lifetime().is_err());
        assert!(m.discounted_expected_residual_lifetime(1.0, 0.0).is_err());
        assert!(m.discounted_expected_residual_lifetime(0.0, 0.1).is_err()); // periods count from 1
        assert!(m.discounted_expected_lifetime(-0.1).is_err());
        assert!(m.survival(-1.0).is_err());
    }

    #[test]
    fn identities() {
        let m = ShiftedBetaGeometric::new(2.0, 3.0).unwrap();
        // S(t) − S(t+1) = P(T = t+1), and the retention rate is S(t)/S(t−1).
        for t in 1..10 {
            let t = f64::from(t);
            let s0 = m.survival(t - 1.0).unwrap();
            let s1 = m.survival(t).unwrap();
            assert!((s0 - s1 - m.churn_probability(t).unwrap()).abs() < 1e-14);
            assert!((s1 / s0 - m.retention_rate(t).unwrap()).abs() < 1e-14);
        }
        // E[T] = Σ_{t≥0} S(t) for α > 1.
        let sum: f64 = (0..20_000).map(|t| m.survival(f64::from(t)).unwrap()).sum();
        assert!((sum - m.expected_lifetime().unwrap()).abs() < 1e-3, "{sum}");
        // DERL(n) = Σ_{t≥1} S(n−1+t)/S(n−1) / (1+d)^(t−1), checked by direct
        // summation; here n = 3, a customer who has renewed twice.
        let (renewals, d) = (2.0, 0.1);
        let direct: f64 = (1..5_000)
            .map(|t| {
                let t = f64::from(t);
                m.survival(renewals + t).unwrap() / m.survival(renewals).unwrap() / (1.0f64 + d).powf(t - 1.0)
            })
            .sum();
        let derl = m.discounted_expected_residual_lifetime(renewals + 1.0, d).unwrap();
        assert!((derl - direct).abs() < 1e-9, "{derl} vs {direct}");
        // DEL = Σ_{t≥0} S(t)/(1+d)^t.
        let direct: f64 = (0..5_000).map(|t| m.survival(f64::from(t)).unwrap() / (1.0f64 + d).powi(t)).sum();
        assert!((m.discounted_expected_lifetime(d).unwrap() - direct).abs() < 1e-9);
    }
}
