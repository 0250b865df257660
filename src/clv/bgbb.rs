//! BG/BB: the beta-geometric / beta-Bernoulli model of discrete
//! opportunities (Fader, Hardie & Shang 2010) — e.g. yearly donations,
//! annual events, weekly newsletters.
//!
//! While alive a customer transacts at each opportunity with probability
//! p ~ Beta(α, β); before each opportunity they drop out with probability
//! θ ~ Beta(γ, δ).

use ndarray::{Array1, ArrayView1};
use serde::{Deserialize, Serialize};

use super::fit::{self, FitOptions, FitReport};
use crate::error::{Error, Result};
use crate::math::numerics::{hyp2f1_positive, ln_beta, ln_gamma, log_add_exp};

const MODEL: &str = "BG/BB";

/// The most opportunities a pattern may have: the likelihood sums over the
/// opportunities after the last transaction, so this bounds its cost.
pub const MAX_OPPORTUNITIES: f64 = 100_000.0;

/// A BG/BB model with parameters `alpha`, `beta` (transaction) and `gamma`,
/// `delta` (drop-out).
///
/// ```
/// use customer_lifecycle::clv::BetaGeoBetaBinom;
///
/// let model = BetaGeoBetaBinom::new(1.2035, 0.7498, 0.6568, 2.7839)?;
/// // A donor who gave in 6 of 6 years is very likely still alive.
/// assert!((model.probability_alive(6.0, 6.0, 6.0)? - 0.930).abs() < 1e-3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct BetaGeoBetaBinom {
    format_version: u32,
    alpha: f64,
    beta: f64,
    gamma: f64,
    delta: f64,
    report: Option<FitReport>,
}

validated_serde!(BetaGeoBetaBinom);

impl BetaGeoBetaBinom {
    /// A saved model loads only with this crate's format version and valid parameters.
    fn check_consistent(&self) -> Result<()> {
        super::check_model_version(self.format_version)?;
        BetaGeoBetaBinom::new(self.alpha, self.beta, self.gamma, self.delta).map(|_| ())
    }
}

impl BetaGeoBetaBinom {
    /// A model with given parameters.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] unless all four are finite and positive.
    pub fn new(alpha: f64, beta: f64, gamma: f64, delta: f64) -> Result<BetaGeoBetaBinom> {
        super::check_parameters(MODEL, &[("alpha", alpha), ("beta", beta), ("gamma", gamma), ("delta", delta)])?;
        Ok(BetaGeoBetaBinom { format_version: super::MODEL_FORMAT_VERSION, alpha, beta, gamma, delta, report: None })
    }

    /// Fits on grouped data: each row is a pattern of `frequency`
    /// transactions, the last at opportunity `recency`, out of `opportunities`,
    /// shared by `weights` customers (use weights of 1 for one row per customer).
    ///
    /// # Errors
    /// [`Error::InvalidModelInput`] for impossible rows;
    /// [`Error::NotIdentifiable`] when nobody transacted or there is a
    /// single customer; [`Error::FitFailed`].
    pub fn fit_grouped(
        frequency: ArrayView1<'_, f64>,
        recency: ArrayView1<'_, f64>,
        opportunities: ArrayView1<'_, f64>,
        weights: ArrayView1<'_, f64>,
        options: &FitOptions,
    ) -> Result<BetaGeoBetaBinom> {
        let n = frequency.len();
        if recency.len() != n || opportunities.len() != n || weights.len() != n {
            return Err(Error::InvalidArgument {
                name: "model input",
                reason: format!("{MODEL}: columns of different lengths"),
            });
        }
        if n == 0 {
            return Err(Error::Empty { what: "customers to fit on" });
        }
        for i in 0..n {
            check_row(i, frequency[i], recency[i], opportunities[i])?;
            if !(weights[i].is_finite() && weights[i] >= 0.0) {
                return Err(Error::InvalidModelInput {
                    model: MODEL,
                    row: i,
                    reason: format!("weight {} must be finite and ≥ 0", weights[i]),
                });
            }
        }
        let customers: f64 = weights.sum();
        if customers < 2.0 {
            return Err(Error::NotIdentifiable { model: MODEL, reason: "fewer than two customers".into() });
        }
        if (0..n).all(|i| frequency[i] == 0.0 || weights[i] == 0.0) {
            return Err(Error::NotIdentifiable { model: MODEL, reason: "nobody transacted".into() });
        }
        let neg_ll = |p: &[f64]| {
            -(0..n)
                .filter(|&i| weights[i] > 0.0)
                .map(|i| weights[i] * row_log_likelihood(p, frequency[i], recency[i], opportunities[i]))
                .sum::<f64>()
        };
        let report =
            fit::maximise(MODEL, &["alpha", "beta", "gamma", "delta"], &neg_ll, &[&[1.0; 4]], customers, options)?;
        let p = &report.parameters;
        let mut model = BetaGeoBetaBinom::new(p[0], p[1], p[2], p[3])?;
        model.report = Some(report);
        Ok(model)
    }

    /// The parameters `(alpha, beta, gamma, delta)`.
    pub fn parameters(&self) -> (f64, f64, f64, f64) {
        (self.alpha, self.beta, self.gamma, self.delta)
    }

    /// The fit report, when fitted.
    pub fn report(&self) -> Option<&FitReport> {
        self.report.as_ref()
    }

    /// Delta-method standard error of any prediction of this fitted model
    /// (see [`crate::clv::BetaGeo::standard_error`]).
    ///
    /// # Errors
    /// As [`crate::clv::BetaGeo::standard_error`].
    pub fn standard_error(&self, prediction: impl Fn(&BetaGeoBetaBinom) -> Result<f64>) -> Result<f64> {
        fit::standard_error_of(self.report.as_ref(), |p| BetaGeoBetaBinom::new(p[0], p[1], p[2], p[3]), prediction)
    }

    /// One pattern's log-likelihood.
    ///
    /// # Errors
    /// [`Error::InvalidModelInput`] for an impossible row.
    pub fn log_likelihood(&self, frequency: f64, recency: f64, opportunities: f64) -> Result<f64> {
        check_row(0, frequency, recency, opportunities)?;
        Ok(row_log_likelihood(&self.array(), frequency, recency, opportunities))
    }

    /// P(alive at the next opportunity n + 1) given x transactions, the last at t_x, out of n.
    ///
    /// # Errors
    /// [`Error::InvalidModelInput`] for an impossible row.
    pub fn probability_alive(&self, frequency: f64, recency: f64, opportunities: f64) -> Result<f64> {
        check_row(0, frequency, recency, opportunities)?;
        let (a, b, g, d) = self.parameters();
        let (x, n) = (frequency, opportunities);
        let alive = ln_beta(a + x, b + n - x) - ln_beta(a, b) + ln_beta(g, d + n + 1.0) - ln_beta(g, d);
        Ok((alive - row_log_likelihood(&self.array(), frequency, recency, opportunities)).exp())
    }

    /// Probability of no transaction in the next `horizon` opportunities:
    /// L(x, t_x, n + horizon) / L(x, t_x, n) (the likelihood of the longer
    /// pattern is that of the same transactions followed by none).
    ///
    /// # Errors
    /// As [`BetaGeoBetaBinom::probability_alive`], plus a negative or fractional horizon.
    pub fn probability_no_transaction(
        &self,
        horizon: f64,
        frequency: f64,
        recency: f64,
        opportunities: f64,
    ) -> Result<f64> {
        check_count(horizon)?;
        check_row(0, frequency, recency, opportunities)?;
        check_row(0, frequency, recency, opportunities + horizon)?;
        let now = row_log_likelihood(&self.array(), frequency, recency, opportunities);
        let later = row_log_likelihood(&self.array(), frequency, recency, opportunities + horizon);
        Ok((later - now).exp().min(1.0))
    }

    /// P(X(n) = x): probability that a new customer makes exactly `x`
    /// transactions in the first `n` opportunities (Fader, Hardie & Shang
    /// 2010): alive throughout, or dropping out after opportunity i ≥ x.
    ///
    /// # Errors
    /// Never for valid parameters (kept fallible for symmetry).
    pub fn probability_of_transactions(&self, n: u32, x: u32) -> Result<f64> {
        if x > n {
            return Ok(0.0);
        }
        let (a, b, g, d) = self.parameters();
        let xf = f64::from(x);
        let ln_choose = |m: f64, k: f64| ln_gamma(m + 1.0) - ln_gamma(k + 1.0) - ln_gamma(m - k + 1.0);
        let base = ln_beta(a, b) + ln_beta(g, d);
        let nf = f64::from(n);
        let mut total = (ln_choose(nf, xf) + ln_beta(a + xf, b + nf - xf) + ln_beta(g, d + nf) - base).exp();
        for i in x..n {
            let i = f64::from(i);
            total += (ln_choose(i, xf) + ln_beta(a + xf, b + i - xf) + ln_beta(g + 1.0, d + i) - base).exp();
        }
        finite(total)
    }

    /// Expected transactions of a new customer over the first `n` opportunities:
    /// α/(α+β) · δ/(γ−1) · [1 − Γ(γ+δ)Γ(1+δ+n) / (Γ(γ+δ+n)Γ(1+δ))].
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for negative `n`, or γ = 1.
    pub fn expected_transactions_new_customer(&self, n: f64) -> Result<f64> {
        check_count(n)?;
        let (a, b, g, d) = self.parameters();
        let ratio = (ln_gamma(g + d) + ln_gamma(1.0 + d + n) - ln_gamma(g + d + n) - ln_gamma(1.0 + d)).exp();
        finite(a / (a + b) * d / (g - 1.0) * (1.0 - ratio))
    }

    /// Expected transactions in the next `horizon` opportunities of a customer
    /// with x transactions, the last at t_x, out of n (Fader, Hardie & Shang 2010, eq. 13).
    ///
    /// # Errors
    /// As [`BetaGeoBetaBinom::probability_alive`], plus negative `horizon` or γ = 1.
    pub fn conditional_expected_transactions(
        &self,
        horizon: f64,
        frequency: f64,
        recency: f64,
        opportunities: f64,
    ) -> Result<f64> {
        check_count(horizon)?;
        check_row(0, frequency, recency, opportunities)?;
        let (a, b, g, d) = self.parameters();
        let (x, n) = (frequency, opportunities);
        let ll = row_log_likelihood(&self.array(), frequency, recency, opportunities);
        let lead = (ln_beta(a + x + 1.0, b + n - x) - ln_beta(a, b) - ll).exp();
        let tail = (ln_gamma(g + d) - ln_gamma(1.0 + d)).exp()
            * ((ln_gamma(1.0 + d + n) - ln_gamma(g + d + n)).exp()
                - (ln_gamma(1.0 + d + n + horizon) - ln_gamma(g + d + n + horizon)).exp());
        finite(lead * d / (g - 1.0) * tail)
    }

    /// Discounted expected residual transactions (DERT) of a customer with
    /// x transactions, the last at t_x, out of n: the expected number of
    /// future transactions, the one at opportunity n + k discounted by
    /// (1 + d)^k (Fader, Hardie & Shang 2010):
    /// B(α+x+1, β+n−x)/B(α, β) · B(γ, δ+n+1)/B(γ, δ) / (1+d)
    /// · ₂F₁(1, δ+n+1; γ+δ+n+1; 1/(1+d)) / L.
    ///
    /// # Errors
    /// As [`BetaGeoBetaBinom::probability_alive`], plus `d` ≤ 0 or non-finite.
    pub fn discounted_expected_residual_transactions(
        &self,
        d: f64,
        frequency: f64,
        recency: f64,
        opportunities: f64,
    ) -> Result<f64> {
        check_row(0, frequency, recency, opportunities)?;
        if !(d.is_finite() && d > 0.0) {
            return Err(Error::InvalidArgument { name: "discount rate", reason: format!("{d} must be positive") });
        }
        let (a, b, g, dl) = self.parameters();
        let (x, n) = (frequency, opportunities);
        let ll = row_log_likelihood(&self.array(), frequency, recency, opportunities);
        let lead = ln_beta(a + x + 1.0, b + n - x) - ln_beta(a, b) + ln_beta(g, dl + n + 1.0) - ln_beta(g, dl) - ll;
        let series = hyp2f1_positive(1.0, dl + n + 1.0, g + dl + n + 1.0, 1.0 / (1.0 + d)).ok_or_else(|| {
            Error::InvalidArgument { name: "BG/BB parameters", reason: "the DERT series did not converge".into() }
        })?;
        finite(lead.exp() / (1.0 + d) * series)
    }

    /// P(alive) for columns of x, t_x and n, one value per customer.
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeoBetaBinom;
    /// use customer_lifecycle::ndarray::array;
    ///
    /// let model = BetaGeoBetaBinom::new(1.2035, 0.7497, 0.6567, 2.7834)?;
    /// let (x, t_x, n) = (array![0.0, 3.0, 6.0], array![0.0, 4.0, 6.0], array![6.0, 6.0, 6.0]);
    /// let alive = model.probability_alive_columns(x.view(), t_x.view(), n.view())?;
    /// assert!(alive[2] > alive[1] && alive[1] > alive[0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidModelInput`] naming the first impossible row;
    /// columns of different lengths.
    pub fn probability_alive_columns(
        &self,
        frequency: ArrayView1<'_, f64>,
        recency: ArrayView1<'_, f64>,
        opportunities: ArrayView1<'_, f64>,
    ) -> Result<Array1<f64>> {
        by_row(frequency, recency, opportunities, |x, t_x, n| self.probability_alive(x, t_x, n))
    }

    /// Expected transactions in the next `horizon` opportunities for columns
    /// of x, t_x and n (see [`BetaGeoBetaBinom::conditional_expected_transactions`]).
    ///
    /// # Errors
    /// As [`BetaGeoBetaBinom::probability_alive_columns`], plus a negative
    /// horizon or γ = 1.
    pub fn conditional_expected_transactions_columns(
        &self,
        horizon: f64,
        frequency: ArrayView1<'_, f64>,
        recency: ArrayView1<'_, f64>,
        opportunities: ArrayView1<'_, f64>,
    ) -> Result<Array1<f64>> {
        check_count(horizon)?;
        by_row(frequency, recency, opportunities, |x, t_x, n| {
            self.conditional_expected_transactions(horizon, x, t_x, n)
        })
    }

    /// DERT at discount rate `d` per opportunity for columns of x, t_x and n
    /// (see [`BetaGeoBetaBinom::discounted_expected_residual_transactions`]).
    ///
    /// # Errors
    /// As [`BetaGeoBetaBinom::probability_alive_columns`], plus `d` ≤ 0 or
    /// non-finite.
    pub fn discounted_expected_residual_transactions_columns(
        &self,
        d: f64,
        frequency: ArrayView1<'_, f64>,
        recency: ArrayView1<'_, f64>,
        opportunities: ArrayView1<'_, f64>,
    ) -> Result<Array1<f64>> {
        by_row(frequency, recency, opportunities, |x, t_x, n| {
            self.discounted_expected_residual_transactions(d, x, t_x, n)
        })
    }

    fn array(&self) -> [f64; 4] {
        [self.alpha, self.beta, self.gamma, self.delta]
    }
}

/// Applies a per-customer prediction to columns, naming the row of a bad input.
fn by_row(
    frequency: ArrayView1<'_, f64>,
    recency: ArrayView1<'_, f64>,
    opportunities: ArrayView1<'_, f64>,
    prediction: impl Fn(f64, f64, f64) -> Result<f64>,
) -> Result<Array1<f64>> {
    super::data::predict_columns(MODEL, [frequency, recency, opportunities], check_row, prediction)
}

fn check_row(row: usize, x: f64, t_x: f64, n: f64) -> Result<()> {
    let bad = |reason: String| Error::InvalidModelInput { model: MODEL, row, reason };
    for v in [x, t_x, n] {
        if !(v.is_finite() && v >= 0.0 && v.fract() == 0.0) {
            return Err(bad(format!("x {x}, t_x {t_x}, n {n} must be whole numbers ≥ 0")));
        }
    }
    if n > MAX_OPPORTUNITIES {
        return Err(bad(format!("{n} opportunities: at most {MAX_OPPORTUNITIES} are supported")));
    }
    if x > t_x || t_x > n || (x == 0.0) != (t_x == 0.0) {
        return Err(bad(format!("need 0 ≤ x ≤ t_x ≤ n, and t_x = 0 exactly when x = 0 (x {x}, t_x {t_x}, n {n})")));
    }
    Ok(())
}

fn check_count(value: f64) -> Result<()> {
    super::check_non_negative("opportunities", value)
}

fn finite(v: f64) -> Result<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(Error::InvalidArgument {
            name: "BG/BB parameters",
            reason: "the expectation is not finite (γ = 1?)".into(),
        })
    }
}

/// ln L(α, β, γ, δ | x, t_x, n): alive through all n opportunities, plus
/// the sum over the opportunities after t_x at which the customer may have
/// dropped out, in log-sum-exp form.
fn row_log_likelihood(p: &[f64], x: f64, t_x: f64, n: f64) -> f64 {
    let (a, b, g, d) = (p[0], p[1], p[2], p[3]);
    let base = ln_beta(a, b) + ln_beta(g, d);
    let mut ll = ln_beta(a + x, b + n - x) + ln_beta(g, d + n) - base;
    let gaps = (n - t_x) as u64;
    for i in 0..gaps {
        let i = i as f64;
        ll = log_add_exp(ll, ln_beta(a + x, b + t_x - x + i) + ln_beta(g + 1.0, d + t_x + i) - base);
    }
    ll
}

#[cfg(test)]
#[allow(clippy::excessive_precision)] // reference values quoted with all their digits
mod tests {
    use super::*;

    /// The column functions equal the per-customer ones and name a bad row.
    #[test]
    fn column_predictions_equal_the_per_customer_ones() {
        let m = BetaGeoBetaBinom::new(1.2035, 0.7497, 0.6567, 2.7834).unwrap();
        let mut rows = Vec::new();
        for n in 1..=6u32 {
            for x in 0..=n {
                for t_x in if x == 0 { 0..=0 } else { x..=n } {
                    rows.push((f64::from(x), f64::from(t_x), f64::from(n)));
                }
            }
        }
        let x: Array1<f64> = rows.iter().map(|r| r.0).collect();
        let t_x: Array1<f64> = rows.iter().map(|r| r.1).collect();
        let n: Array1<f64> = rows.iter().map(|r| r.2).collect();
        let alive = m.probability_alive_columns(x.view(), t_x.view(), n.view()).unwrap();
        let expected = m.conditional_expected_transactions_columns(5.0, x.view(), t_x.view(), n.view()).unwrap();
        let dert = m.discounted_expected_residual_transactions_columns(0.1, x.view(), t_x.view(), n.view()).unwrap();
        for (i, &(xi, ti, ni)) in rows.iter().enumerate() {
            assert_eq!(alive[i], m.probability_alive(xi, ti, ni).unwrap());
            assert_eq!(expected[i], m.conditional_expected_transactions(5.0, xi, ti, ni).unwrap());
            assert_eq!(dert[i], m.discounted_expected_residual_transactions(0.1, xi, ti, ni).unwrap());
        }
        let mut bad = t_x.clone();
        bad[9] = n[9] + 1.0;
        let e = m.probability_alive_columns(x.view(), bad.view(), n.view()).unwrap_err();
        assert!(matches!(e, Error::InvalidModelInput { row: 9, .. }), "{e}");
        let short: Array1<f64> = n.iter().skip(1).copied().collect();
        assert!(m.conditional_expected_transactions_columns(5.0, x.view(), t_x.view(), short.view()).is_err());
        assert!(m.conditional_expected_transactions_columns(-1.0, x.view(), t_x.view(), n.view()).is_err());
    }

    #[test]
    fn probabilities_of_all_patterns_sum_to_one() {
        let p = [1.2035, 0.7498, 0.6568, 2.7839];
        let n = 6u32;
        let mut total = 0.0;
        // Every (x, t_x) pattern for n opportunities, with the number of
        // transaction sequences that produce it: C(t_x - 1, x - 1).
        for t_x in 0..=n {
            for x in 0..=t_x {
                if (x == 0) != (t_x == 0) {
                    continue;
                }
                let sequences = if x == 0 { 1.0 } else { binomial(t_x - 1, x - 1) };
                total += sequences * row_log_likelihood(&p, f64::from(x), f64::from(t_x), f64::from(n)).exp();
            }
        }
        assert!((total - 1.0).abs() < 1e-12, "{total}");
    }

    #[test]
    fn predictions_match_lifetimes_and_the_pattern_sum() {
        let m = BetaGeoBetaBinom::new(1.2035, 0.7498, 0.6568, 2.7839).unwrap();
        // lifetimes 0.11.3 with these parameters: conditional_probability_alive(1, 3, 4, 6)
        // and conditional_expected_number_of_purchases_up_to_time(5, 3, 4, 6).
        assert!((m.probability_alive(3.0, 4.0, 6.0).unwrap() - 0.439_589_14).abs() < 1e-7);
        assert!((m.conditional_expected_transactions(5.0, 3.0, 4.0, 6.0).unwrap() - 1.034_537_75).abs() < 1e-7);
        // E[X(n)] of a new customer equals Σ over patterns of x · P(pattern).
        let p = m.array();
        for n in [1u32, 3, 6] {
            let mut expected = 0.0;
            for t_x in 1..=n {
                for x in 1..=t_x {
                    let ll = row_log_likelihood(&p, f64::from(x), f64::from(t_x), f64::from(n));
                    expected += f64::from(x) * binomial(t_x - 1, x - 1) * ll.exp();
                }
            }
            let got = m.expected_transactions_new_customer(f64::from(n)).unwrap();
            assert!((got - expected).abs() < 1e-12, "n={n}: {got} vs {expected}");
        }
    }

    #[test]
    fn dert_equals_the_discounted_sum_of_future_transaction_probabilities() {
        let m = BetaGeoBetaBinom::new(1.2035, 0.7498, 0.6568, 2.7839).unwrap();
        let (a, b, g, d) = m.parameters();
        let rate = 0.1;
        for (x, t_x, n) in [(0.0, 0.0, 6.0), (3.0, 4.0, 6.0), (6.0, 6.0, 6.0)] {
            let ll = row_log_likelihood(&m.array(), x, t_x, n);
            let direct: f64 = (1..20_000)
                .map(|k| {
                    let k = f64::from(k);
                    (ln_beta(a + x + 1.0, b + n - x) - ln_beta(a, b) + ln_beta(g, d + n + k) - ln_beta(g, d) - ll).exp()
                        / (1.0f64 + rate).powf(k)
                })
                .sum();
            let dert = m.discounted_expected_residual_transactions(rate, x, t_x, n).unwrap();
            assert!((dert - direct).abs() < 1e-9, "({x}, {t_x}, {n}): {dert} vs {direct}");
        }
        assert!(m.discounted_expected_residual_transactions(0.0, 1.0, 1.0, 6.0).is_err());
    }

    #[test]
    fn no_transaction_probability_agrees_with_the_posterior() {
        // P(no transaction in the next opportunity) = 1 − P(transaction there),
        // and P(transaction at n+1) is the k = 1 term of the DERT sum.
        let m = BetaGeoBetaBinom::new(1.2035, 0.7498, 0.6568, 2.7839).unwrap();
        let (a, b, g, d) = m.parameters();
        let (x, t_x, n) = (3.0, 4.0, 6.0);
        let ll = row_log_likelihood(&m.array(), x, t_x, n);
        let transact =
            (ln_beta(a + x + 1.0, b + n - x) - ln_beta(a, b) + ln_beta(g, d + n + 1.0) - ln_beta(g, d) - ll).exp();
        let none = m.probability_no_transaction(1.0, x, t_x, n).unwrap();
        assert!((none - (1.0 - transact)).abs() < 1e-12, "{none} vs {}", 1.0 - transact);
        assert_eq!(m.probability_no_transaction(0.0, x, t_x, n).unwrap(), 1.0);
        assert!(m.probability_no_transaction(1.5, x, t_x, n).is_err());
    }

    #[test]
    fn transaction_count_distribution_sums_to_one_and_to_the_mean() {
        let m = BetaGeoBetaBinom::new(1.2035, 0.7498, 0.6568, 2.7839).unwrap();
        for n in [1u32, 6, 20] {
            let probs: Vec<f64> = (0..=n).map(|x| m.probability_of_transactions(n, x).unwrap()).collect();
            let total: f64 = probs.iter().sum();
            let mean: f64 = probs.iter().enumerate().map(|(x, p)| x as f64 * p).sum();
            assert!((total - 1.0).abs() < 1e-12, "n={n}: {total}");
            let expected = m.expected_transactions_new_customer(f64::from(n)).unwrap();
            assert!((mean - expected).abs() < 1e-10, "n={n}: {mean} vs {expected}");
        }
        assert_eq!(m.probability_of_transactions(3, 4).unwrap(), 0.0);
    }

    fn binomial(n: u32, k: u32) -> f64 {
        (0..k).fold(1.0, |acc, i| acc * f64::from(n - i) / f64::from(i + 1))
    }

    #[test]
    fn bad_input() {
        let m = BetaGeoBetaBinom::new(1.0, 1.0, 2.0, 2.0).unwrap();
        assert!(m.probability_alive(3.0, 2.0, 6.0).is_err()); // x > t_x
        assert!(m.probability_alive(1.0, 7.0, 6.0).is_err()); // t_x > n
        assert!(m.probability_alive(0.0, 2.0, 6.0).is_err());
        assert!(m.probability_alive(1.5, 2.0, 6.0).is_err());
        assert!(m.probability_alive(1.0, 1.0, 1e15).is_err()); // would sum 10^15 terms
        assert!(BetaGeoBetaBinom::new(1.0, 0.0, 1.0, 1.0).is_err());
    }
}
