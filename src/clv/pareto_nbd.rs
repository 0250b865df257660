//! Pareto/NBD (Schmittlein, Morrison & Colombo 1987), in the form of Fader &
//! Hardie's 2005 note on its likelihood.
//!
//! While alive a customer buys at Poisson rate λ ~ Gamma(r, α); their
//! lifetime is exponential with rate μ ~ Gamma(s, β), independent of
//! purchases (drop-out can happen at any time, not only after a purchase).

use ndarray::{Array1, ArrayView1};
use serde::{Deserialize, Serialize};

use super::data::{self, RepeatRows};
use super::fit::{self, FitOptions, FitReport};
use super::numerics::{ln_gamma, ln_hyp2f1_a_plus_one, ln_tricomi_u_equal, log_add_exp};
use crate::error::{Error, Result};
use crate::summary::PurchaseSummary;

const MODEL: &str = "Pareto/NBD";

/// A Pareto/NBD model: `r`, `alpha` (purchase rate), `s`, `beta` (lifetime).
///
/// ```
/// use customer_lifecycle::clv::ParetoNbd;
///
/// // The published CDNOW estimates.
/// let model = ParetoNbd::new(0.5532, 10.5763, 0.6062, 11.6715)?;
/// let p = model.probability_alive(26.0, 30.857, 31.0)?;
/// assert!((p - 0.9979).abs() < 1e-3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct ParetoNbd {
    format_version: u32,
    r: f64,
    alpha: f64,
    s: f64,
    beta: f64,
    report: Option<FitReport>,
}

validated_serde!(ParetoNbd);

impl ParetoNbd {
    /// A saved model loads only with this crate's format version and valid parameters.
    fn check_consistent(&self) -> Result<()> {
        super::check_model_version(self.format_version)?;
        ParetoNbd::new(self.r, self.alpha, self.s, self.beta).map(|_| ())
    }
}

impl ParetoNbd {
    /// A model with given parameters.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] unless all four are finite and positive.
    pub fn new(r: f64, alpha: f64, s: f64, beta: f64) -> Result<ParetoNbd> {
        super::check_parameters(MODEL, &[("r", r), ("alpha", alpha), ("s", s), ("beta", beta)])?;
        Ok(ParetoNbd { format_version: super::MODEL_FORMAT_VERSION, r, alpha, s, beta, report: None })
    }

    /// Fits the model to a summary's frequency, recency and age columns.
    ///
    /// # Errors
    /// As [`crate::clv::BetaGeo::fit`].
    pub fn fit(summary: &PurchaseSummary) -> Result<ParetoNbd> {
        ParetoNbd::fit_columns(summary.frequency(), summary.recency(), summary.age(), &FitOptions::default())
    }

    /// Fits the model to columns `x`, `t_x`, `T`.
    ///
    /// # Errors
    /// As [`crate::clv::BetaGeo::fit_columns`].
    pub fn fit_columns(
        frequency: ArrayView1<'_, f64>,
        recency: ArrayView1<'_, f64>,
        age: ArrayView1<'_, f64>,
        options: &FitOptions,
    ) -> Result<ParetoNbd> {
        let rows = data::group(MODEL, frequency, recency, age)?;
        let mean_t = rows.t.iter().zip(&rows.weight).map(|(t, w)| t * w).sum::<f64>() / rows.customers;
        let neg_ll = |p: &[f64]| -total_log_likelihood(&rows, p);
        let start = mean_t.max(1e-3);
        let report = fit::maximise(
            MODEL,
            &["r", "alpha", "s", "beta"],
            &neg_ll,
            &[&[1.0; 4], &[1.0, start, 1.0, start]],
            rows.customers,
            options,
        )?;
        let p = &report.parameters;
        let mut model = ParetoNbd::new(p[0], p[1], p[2], p[3])?;
        model.report = Some(report);
        Ok(model)
    }

    /// The parameters `(r, alpha, s, beta)`.
    pub fn parameters(&self) -> (f64, f64, f64, f64) {
        (self.r, self.alpha, self.s, self.beta)
    }

    /// The fit report, when fitted.
    pub fn report(&self) -> Option<&FitReport> {
        self.report.as_ref()
    }

    /// One customer's log-likelihood.
    ///
    /// # Errors
    /// [`Error::InvalidModelInput`] for an impossible row;
    /// [`Error::InvalidArgument`] if the hypergeometric series fails.
    pub fn log_likelihood(&self, x: f64, t_x: f64, t: f64) -> Result<f64> {
        data::check_row(MODEL, 0, x, t_x, t)?;
        let ll = row_log_likelihood(&self.array(), x, t_x, t);
        if ll.is_finite() { Ok(ll) } else { Err(series_failure()) }
    }

    /// P(alive) at the end of the observation, given (x, t_x, T).
    ///
    /// # Errors
    /// As [`ParetoNbd::log_likelihood`].
    pub fn probability_alive(&self, x: f64, t_x: f64, t: f64) -> Result<f64> {
        data::check_row(MODEL, 0, x, t_x, t)?;
        self.p_alive_unchecked(x, t_x, t)
    }

    fn p_alive_unchecked(&self, x: f64, t_x: f64, t: f64) -> Result<f64> {
        let (r, alpha, s, beta) = self.parameters();
        // 1 / (1 + s/(r+s+x) (α+T)^(r+x) (β+T)^s A0)
        let ln_a0 = ln_a0(&self.array(), x, t_x, t).ok_or_else(series_failure)?;
        let log_odds = (s / (r + s + x)).ln() + (r + x) * (alpha + t).ln() + s * (beta + t).ln() + ln_a0;
        Ok(1.0 / (1.0 + log_odds.exp()))
    }

    /// Probability that a customer with (x, t_x, T) makes no purchase in the
    /// next `t`. The likelihood of (x, t_x, T + t) is the probability of the
    /// same purchases followed by none up to T + t, so this is the ratio
    /// L(x, t_x, T + t) / L(x, t_x, T).
    ///
    /// # Errors
    /// As [`ParetoNbd::probability_alive`], plus a bad horizon.
    pub fn probability_no_purchase(&self, t: f64, x: f64, t_x: f64, age: f64) -> Result<f64> {
        check_horizon(t)?;
        data::check_row(MODEL, 0, x, t_x, age)?;
        let now = row_log_likelihood(&self.array(), x, t_x, age);
        let later = row_log_likelihood(&self.array(), x, t_x, age + t);
        let p = (later - now).exp();
        if p.is_finite() { Ok(p.min(1.0)) } else { Err(series_failure()) }
    }

    /// P(X(t) = n): probability that a new customer makes exactly `n`
    /// purchases in a period of length `t` (Fader, Hardie & Lee's note on
    /// the Pareto/NBD): with m = max(α, β), b = s + 1 when α ≥ β else r + n,
    /// and F(a; u) = ₂F₁(a, b; r+s+n+1; |α−β|/(m+u)) / (m+u)^a,
    ///
    /// NBD(n; t)·(β/(β+t))^s + α^r β^s B(r+n, s+1)/B(r, s) ·
    /// [F(r+s; 0) − Σ_{i=0..n} Γ(r+s+i)/(Γ(r+s) i!) tⁱ F(r+s+i; t)],
    ///
    /// alive all along, or dropped out before `t` after the n-th purchase.
    /// The bracket is a difference of positive terms, summed after scaling
    /// by the largest; a result outside \[0, 1\] beyond 1e-9 (cancellation
    /// beyond double precision, for very large `n·t`) is an error.
    ///
    /// ```
    /// use customer_lifecycle::clv::ParetoNbd;
    ///
    /// let m = ParetoNbd::new(0.5533, 10.5776, 0.6062, 11.6679)?;
    /// let p: f64 = (0..200).map(|n| m.probability_of_purchases(39.0, n).unwrap()).sum();
    /// assert!((p - 1.0).abs() < 1e-6);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a bad horizon or a series that fails.
    pub fn probability_of_purchases(&self, t: f64, n: u32) -> Result<f64> {
        check_horizon(t)?;
        if t == 0.0 {
            return Ok(if n == 0 { 1.0 } else { 0.0 });
        }
        let (r, alpha, s, beta) = self.parameters();
        let x = f64::from(n);
        let ln_beta = |p: f64, q: f64| ln_gamma(p) + ln_gamma(q) - ln_gamma(p + q);
        let ln_alive = ln_gamma(r + x) - ln_gamma(r) - ln_gamma(x + 1.0)
            + r * (alpha / (alpha + t)).ln()
            + if n > 0 { x * (t / (alpha + t)).ln() } else { 0.0 }
            + s * (beta / (beta + t)).ln();
        let (m, b) = if alpha >= beta { (alpha, s + 1.0) } else { (beta, r + x) };
        let c = r + s + x + 1.0;
        let diff = (alpha - beta).abs();
        let ln_f = |a: f64, u: f64| -> Result<f64> {
            let f = super::numerics::hyp2f1_positive(a, b, c, diff / (m + u)).ok_or_else(series_failure)?;
            Ok(f.ln() - a * (m + u).ln())
        };
        let ln_first = ln_f(r + s, 0.0)?;
        let ln_terms: Vec<f64> = (0..=n)
            .map(|i| {
                let i = f64::from(i);
                let lead =
                    ln_gamma(r + s + i) - ln_gamma(r + s) - ln_gamma(i + 1.0) + if i > 0.0 { i * t.ln() } else { 0.0 };
                Ok(lead + ln_f(r + s + i, t)?)
            })
            .collect::<Result<_>>()?;
        let top = ln_terms.iter().copied().fold(ln_first, f64::max);
        let bracket = (ln_first - top).exp() - ln_terms.iter().map(|l| (l - top).exp()).sum::<f64>();
        let ln_c = r * alpha.ln() + s * beta.ln() + ln_beta(r + x, s + 1.0) - ln_beta(r, s);
        let p = ln_alive.exp() + (ln_c + top).exp() * bracket;
        if !p.is_finite() || !(-1e-9..=1.0 + 1e-9).contains(&p) {
            return Err(Error::InvalidArgument {
                name: "Pareto/NBD",
                reason: format!("P(X({t}) = {n}) lost its precision to cancellation ({p})"),
            });
        }
        Ok(p.clamp(0.0, 1.0))
    }

    /// P(alive) a time `t` after the end of the observation, with no
    /// information about that interval: P(alive now) · ((β+T)/(β+T+t))^s
    /// (given alive now, the drop-out rate's posterior is Gamma(s, β+T)).
    ///
    /// # Errors
    /// As [`ParetoNbd::probability_alive`], plus a bad horizon.
    pub fn probability_alive_in(&self, t: f64, x: f64, t_x: f64, age: f64) -> Result<f64> {
        check_horizon(t)?;
        data::check_row(MODEL, 0, x, t_x, age)?;
        let alive = self.p_alive_unchecked(x, t_x, age)?;
        Ok(alive * (self.s * ((self.beta + age).ln() - (self.beta + age + t).ln())).exp())
    }

    /// Discounted expected residual transactions (DERT) of a customer with
    /// (x, t_x, T) at continuously compounded discount rate `delta` per unit
    /// of time (for an annual rate d and P periods a year, δ = ln(1+d)/P):
    /// the expected purchases from now on, each discounted by e^(−δτ)
    /// (Fader, Hardie & Lee 2005), computed as
    /// P(alive) · (r+x)/(α+T) · (β+T)^s δ^(s−1) U(s, s; δ(β+T)).
    ///
    /// # Errors
    /// As [`ParetoNbd::probability_alive`], plus `delta` ≤ 0 or non-finite.
    pub fn discounted_expected_residual_transactions(&self, delta: f64, x: f64, t_x: f64, age: f64) -> Result<f64> {
        if !(delta.is_finite() && delta > 0.0) {
            return Err(Error::InvalidArgument { name: "discount rate", reason: format!("{delta} must be positive") });
        }
        data::check_row(MODEL, 0, x, t_x, age)?;
        let (r, alpha, s, beta) = self.parameters();
        let alive = self.p_alive_unchecked(x, t_x, age)?;
        let ln_u = ln_tricomi_u_equal(s, delta * (beta + age)).ok_or_else(series_failure)?;
        let ln_rest = (r + x).ln() - (alpha + age).ln() + s * (beta + age).ln() + (s - 1.0) * delta.ln() + ln_u;
        let value = alive * ln_rest.exp();
        if value.is_finite() { Ok(value) } else { Err(series_failure()) }
    }

    /// Expected purchases of a new customer in a period of length `t`:
    /// r β / (α (s − 1)) · [1 − (β/(β+t))^(s−1)] (the limit r β ln(1 + t/β)/α at s = 1).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for negative or non-finite `t`.
    pub fn expected_purchases_new_customer(&self, t: f64) -> Result<f64> {
        check_horizon(t)?;
        let (r, alpha, s, beta) = self.parameters();
        Ok(r * beta / alpha * growth(s, beta, t))
    }

    /// Expected purchases in the next `t` of a customer with (x, t_x, T).
    ///
    /// # Errors
    /// As [`ParetoNbd::probability_alive`], plus a bad horizon.
    pub fn conditional_expected_purchases(&self, t: f64, x: f64, t_x: f64, age: f64) -> Result<f64> {
        check_horizon(t)?;
        data::check_row(MODEL, 0, x, t_x, age)?;
        let (r, alpha, s, beta) = self.parameters();
        let alive = self.p_alive_unchecked(x, t_x, age)?;
        Ok((r + x) * (beta + age) / (alpha + age) * growth(s, beta + age, t) * alive)
    }

    /// Delta-method standard error of any prediction of this fitted model
    /// (see [`crate::clv::BetaGeo::standard_error`]).
    ///
    /// # Errors
    /// As [`crate::clv::BetaGeo::standard_error`].
    pub fn standard_error(&self, prediction: impl Fn(&ParetoNbd) -> Result<f64>) -> Result<f64> {
        fit::standard_error_of(self.report.as_ref(), |p| ParetoNbd::new(p[0], p[1], p[2], p[3]), prediction)
    }

    /// P(alive) for every customer of a summary.
    ///
    /// # Errors
    /// As [`ParetoNbd::probability_alive`].
    pub fn probability_alive_all(&self, summary: &PurchaseSummary) -> Result<Array1<f64>> {
        let (x, t_x, t) = (summary.frequency(), summary.recency(), summary.age());
        (0..x.len()).map(|i| self.p_alive_unchecked(x[i], t_x[i], t[i])).collect()
    }

    /// Conditional expected purchases in the next `t` for every customer of a summary.
    ///
    /// # Errors
    /// As [`ParetoNbd::conditional_expected_purchases`].
    pub fn conditional_expected_purchases_all(&self, t: f64, summary: &PurchaseSummary) -> Result<Array1<f64>> {
        let (x, t_x, age) = (summary.frequency(), summary.recency(), summary.age());
        (0..x.len()).map(|i| self.conditional_expected_purchases(t, x[i], t_x[i], age[i])).collect()
    }

    fn array(&self) -> [f64; 4] {
        [self.r, self.alpha, self.s, self.beta]
    }
}

/// [1 − (b/(b+t))^(s−1)] / (s − 1), with its limit ln(1 + t/b) at s = 1.
fn growth(s: f64, b: f64, t: f64) -> f64 {
    let l = (t / b).ln_1p();
    if (s - 1.0).abs() < 1e-10 { l } else { -(-(s - 1.0) * l).exp_m1() / (s - 1.0) }
}

fn check_horizon(value: f64) -> Result<()> {
    super::check_non_negative("horizon", value)
}

fn series_failure() -> Error {
    Error::InvalidArgument { name: "Pareto/NBD", reason: "the hypergeometric series did not converge".into() }
}

/// ln A0 of Fader & Hardie's note: the difference F(t_x) − F(T) with
/// F(t) = ₂F₁(r+s+x, b; r+s+x+1; |α−β|/(m+t)) / (m+t)^(r+s+x), m = max(α, β),
/// b = s+1 when α ≥ β else r+x. `None` when a series fails; −∞ when t_x = T.
fn ln_a0(p: &[f64; 4], x: f64, t_x: f64, t: f64) -> Option<f64> {
    let (r, alpha, s, beta) = (p[0], p[1], p[2], p[3]);
    let a = r + s + x;
    let (m, b) = if alpha >= beta { (alpha, s + 1.0) } else { (beta, r + x) };
    let diff = (alpha - beta).abs();
    let ln_f = |u: f64| -> Option<f64> { Some(ln_hyp2f1_a_plus_one(a, b, diff / (m + u))? - a * (m + u).ln()) };
    let first = ln_f(t_x)?;
    let second = ln_f(t)?;
    if second >= first {
        return Some(f64::NEG_INFINITY);
    }
    // ln(e^first − e^second) = first + ln(1 − e^(second − first))
    Some(first + (-(second - first).exp_m1()).ln())
}

/// One customer's log-likelihood.
fn row_log_likelihood(p: &[f64; 4], x: f64, t_x: f64, t: f64) -> f64 {
    let (r, alpha, s, beta) = (p[0], p[1], p[2], p[3]);
    let lead = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln() + s * beta.ln();
    lead + row_bracket(p, x, t_x, t, (s / (r + s + x)).ln())
}

/// The row's log-likelihood without the terms that depend on x alone:
/// ln[(α+T)^−(r+x) (β+T)^−s + s/(r+s+x) · A0], given ln(s/(r+s+x)).
fn row_bracket(p: &[f64; 4], x: f64, t_x: f64, t: f64, ln_share: f64) -> f64 {
    let (r, alpha, s, beta) = (p[0], p[1], p[2], p[3]);
    let alive = -(r + x) * (alpha + t).ln() - s * (beta + t).ln();
    match ln_a0(p, x, t_x, t) {
        Some(a0) => log_add_exp(alive, ln_share + a0),
        None => f64::NAN,
    }
}

fn total_log_likelihood(rows: &RepeatRows, p: &[f64]) -> f64 {
    let p = [p[0], p[1], p[2], p[3]];
    let (r, alpha, s, beta) = (p[0], p[1], p[2], p[3]);
    // Rows are sorted by x: the terms of x alone once per distinct x.
    let common = r * alpha.ln() + s * beta.ln() - ln_gamma(r);
    let (mut current_x, mut lead, mut ln_share) = (f64::NAN, 0.0, 0.0);
    let mut sum = 0.0;
    for i in 0..rows.x.len() {
        let x = rows.x[i];
        if x != current_x {
            current_x = x;
            lead = ln_gamma(r + x) + common;
            ln_share = (s / (r + s + x)).ln();
        }
        sum += rows.weight[i] * (lead + row_bracket(&p, x, rows.t_x[i], rows.t[i], ln_share));
    }
    sum
}

#[cfg(test)]
#[allow(clippy::excessive_precision)] // reference values quoted with all their digits
mod tests {
    use super::*;

    fn published() -> ParetoNbd {
        ParetoNbd::new(0.5532, 10.5763, 0.6062, 11.6715).unwrap()
    }

    #[test]
    fn published_predictions() {
        let m = published();
        let e = m.conditional_expected_purchases(52.0, 26.0, 30.857, 31.0).unwrap();
        assert!((e - 25.456).abs() < 1e-3 * 25.456, "{e}");
        let p = m.probability_alive(26.0, 30.857, 31.0).unwrap();
        assert!((p - 0.9979).abs() < 1e-4, "{p}");
    }

    /// mpmath (dps 40) of the note's formula at the CDNOW estimates.
    #[test]
    fn probability_of_purchases_against_mpmath() {
        let m = ParetoNbd::new(0.5533, 10.5776, 0.6062, 11.6679).unwrap();
        let cases = [
            (39.0, 0, 0.593_517_352_053_154_146_27),
            (39.0, 1, 0.165_587_901_195_260_298_5),
            (39.0, 2, 0.082_506_928_311_929_276_652),
            (39.0, 5, 0.021_493_167_700_420_384_739),
            (78.0, 3, 0.049_694_290_240_881_386_671),
            (52.0, 10, 0.005_889_228_409_699_075_363_7),
            (1.0, 0, 0.952_430_622_806_286_099_58),
        ];
        for (t, n, expected) in cases {
            let got = m.probability_of_purchases(t, n).unwrap();
            assert!((got - expected).abs() < 1e-9, "P(X({t}) = {n}) = {got}, mpmath {expected}");
        }
        // α < β takes the other branch: the probabilities still sum to 1.
        let swapped = ParetoNbd::new(0.5533, 11.6679, 0.6062, 10.5776).unwrap();
        let total: f64 = (0..300).map(|n| swapped.probability_of_purchases(39.0, n).unwrap()).sum();
        assert!((total - 1.0).abs() < 1e-6, "{total}");
        assert_eq!(m.probability_of_purchases(0.0, 0).unwrap(), 1.0);
        assert!(m.probability_of_purchases(-1.0, 0).is_err());
    }

    #[test]
    fn dert_equals_the_discounted_integral_of_the_purchase_rate() {
        // DERT = ∫₀^∞ E[λ | alive] P(alive at T+τ) e^(−δτ) dτ
        //      = P(alive) (r+x)/(α+T) ∫₀^∞ ((β+T)/(β+T+τ))^s e^(−δτ) dτ,
        // integrated here by Simpson's rule on τ = e^v − 1 (independent of U).
        let m = published();
        let (r, alpha, s, beta) = m.parameters();
        let delta = (1.1f64).ln() / 52.0; // 10 % a year, weekly periods
        for (x, t_x, age) in [(0.0, 0.0, 38.86), (2.0, 30.43, 38.86), (26.0, 30.857, 31.0)] {
            let integrand = |v: f64| {
                let tau = v.exp() - 1.0;
                ((beta + age) / (beta + age + tau)).powf(s) * (-delta * tau).exp() * v.exp()
            };
            let (lo, hi, n) = (0.0, 12.0, 20_000);
            let h = (hi - lo) / f64::from(n);
            let mut sum = integrand(lo) + integrand(hi);
            for i in 1..n {
                sum += integrand(lo + f64::from(i) * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
            }
            let integral = sum * h / 3.0;
            let expected = m.probability_alive(x, t_x, age).unwrap() * (r + x) / (alpha + age) * integral;
            let got = m.discounted_expected_residual_transactions(delta, x, t_x, age).unwrap();
            assert!((got / expected - 1.0).abs() < 1e-7, "({x}, {t_x}, {age}): {got} vs {expected}");
        }
        assert!(m.discounted_expected_residual_transactions(0.0, 1.0, 1.0, 2.0).is_err());
    }

    #[test]
    fn no_purchase_probability_matches_monte_carlo() {
        use rand::SeedableRng;
        use rand_distr::{Distribution, Gamma};
        // Given alive at T: λ ~ Gamma(r+x, α+T), μ ~ Gamma(s, β+T), independent;
        // no purchase in (T, T+t] = e^-(λ+μ)t + μ/(λ+μ) (1 − e^-(λ+μ)t).
        let m = published();
        let (r, alpha, s, beta) = m.parameters();
        let (x, t_x, age, t) = (3.0, 20.0, 39.0, 26.0);
        let lambda = Gamma::new(r + x, 1.0 / (alpha + age)).unwrap();
        let mu = Gamma::new(s, 1.0 / (beta + age)).unwrap();
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(11);
        let n = 400_000;
        let mc: f64 = (0..n)
            .map(|_| {
                let (l, u): (f64, f64) = (lambda.sample(&mut rng), mu.sample(&mut rng));
                let e = (-(l + u) * t).exp();
                e + u / (l + u) * (1.0 - e)
            })
            .sum::<f64>()
            / f64::from(n);
        let alive = m.probability_alive(x, t_x, age).unwrap();
        let expected = 1.0 - alive + alive * mc;
        let got = m.probability_no_purchase(t, x, t_x, age).unwrap();
        assert!((got - expected).abs() < 2e-3, "{got} vs {expected}");
        assert!((m.probability_no_purchase(0.0, x, t_x, age).unwrap() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn future_p_alive_decays_from_the_present_value() {
        let m = published();
        let now = m.probability_alive(4.0, 20.0, 39.0).unwrap();
        assert_eq!(m.probability_alive_in(0.0, 4.0, 20.0, 39.0).unwrap(), now);
        let later = m.probability_alive_in(52.0, 4.0, 20.0, 39.0).unwrap();
        // E[e^(-μ t)] for μ ~ Gamma(s, β+T), by the Gamma Laplace transform.
        let (_, _, s, beta) = m.parameters();
        assert!((later - now * ((beta + 39.0) / (beta + 39.0 + 52.0)).powf(s)).abs() < 1e-15);
        assert!(later < now);
    }

    #[test]
    fn both_branches_agree_near_alpha_equal_beta() {
        // α ≈ β: the argument of ₂F₁ tends to 0 from either side.
        let below = ParetoNbd::new(0.55, 10.0 - 1e-9, 0.6, 10.0).unwrap();
        let above = ParetoNbd::new(0.55, 10.0 + 1e-9, 0.6, 10.0).unwrap();
        let equal = ParetoNbd::new(0.55, 10.0, 0.6, 10.0).unwrap();
        for (x, t_x, t) in [(0.0, 0.0, 30.0), (3.0, 12.0, 30.0), (40.0, 29.0, 30.0)] {
            let l0 = below.log_likelihood(x, t_x, t).unwrap();
            let l1 = above.log_likelihood(x, t_x, t).unwrap();
            let l2 = equal.log_likelihood(x, t_x, t).unwrap();
            assert!((l0 - l1).abs() < 1e-6 && (l0 - l2).abs() < 1e-6, "{l0} {l1} {l2}");
        }
    }

    #[test]
    fn extreme_inputs_stay_finite() {
        let m = published();
        for (x, t_x, t) in [(5000.0, 99.0, 100.0), (3000.0, 1.0, 1e4), (1.0, 1e-9, 1e-9), (10.0, 50.0, 50.0)] {
            let ll = m.log_likelihood(x, t_x, t).unwrap();
            let p = m.probability_alive(x, t_x, t).unwrap();
            assert!(ll.is_finite() && (0.0..=1.0).contains(&p), "{x} {t_x} {t}: {ll} {p}");
        }
        let other_branch = ParetoNbd::new(0.55, 3.0, 0.6, 40.0).unwrap();
        assert!(other_branch.log_likelihood(4000.0, 50.0, 52.0).unwrap().is_finite());
        // α a thousand times β: the ₂F₁ argument is 0.997, still summed exactly.
        assert!(ParetoNbd::new(0.5, 1e4, 0.6, 11.0).unwrap().log_likelihood(3.0, 10.0, 20.0).unwrap().is_finite());
        // Beyond about 10⁵ × β the series is too slow: a typed error, never NaN.
        assert!(ParetoNbd::new(0.5, 1e12, 0.6, 11.0).unwrap().log_likelihood(3.0, 10.0, 20.0).is_err());
    }

    #[test]
    fn new_customer_expectation_matches_the_limit_of_the_conditional_one() {
        // For x = 0, t_x = 0 and T → 0 the conditional expectation is E[X(t)].
        let m = published();
        let e0 = m.expected_purchases_new_customer(39.0).unwrap();
        let e1 = m.conditional_expected_purchases(39.0, 0.0, 0.0, 1e-9).unwrap();
        assert!((e0 - e1).abs() < 1e-6, "{e0} {e1}");
    }
}
