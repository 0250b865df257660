//! Pareto/NBD (Schmittlein, Morrison & Colombo 1987), in the form of Fader &
//! Hardie's 2005 note on its likelihood.
//!
//! While alive a customer buys at Poisson rate λ ~ Gamma(r, α); their
//! lifetime is exponential with rate μ ~ Gamma(s, β), independent of
//! purchases (drop-out can happen at any time, not only after a purchase).

use ndarray::{Array1, ArrayView1};

use super::data::{self, PurchaseHistogram, RepeatRows};
use super::fit::{self, FitOptions, FitReport};
use crate::domain::table::CustomerTable;
use crate::domain::time::TimeUnit;
use crate::error::{Error, Result};
use crate::log::summary::PurchaseSummary;
use crate::math::jet::Jet;
use crate::math::parallel::{cores, map_in_runs};
use crate::math::quadrature;
use crate::math::series::{EulerSeries, hyp2f1_positive, ln_hyp2f1_a_plus_one_fall, ln_tricomi_u_equal};
use crate::math::special::{digamma, ln_gamma, ln_gamma_slope, log_add_exp, trigamma};

const MODEL: &str = "Pareto/NBD";

validated_serde! {
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
#[derive(Clone, PartialEq, Debug)]
pub struct ParetoNbd {
    format_version: u32,
    r: f64,
    alpha: f64,
    s: f64,
    beta: f64,
    report: Option<FitReport>,
    time_unit: Option<TimeUnit>,
}
}

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
    /// ```
    /// use customer_lifecycle::clv::ParetoNbd;
    /// let model = ParetoNbd::new(0.5532, 10.5763, 0.6062, 11.6715)?; // CDNOW, Fader, Hardie & Lee (2005)
    /// assert_eq!(model.parameters(), (0.5532, 10.5763, 0.6062, 11.6715));
    /// assert!(ParetoNbd::new(1.0, f64::NAN, 1.0, 1.0).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] unless all four are finite and positive.
    pub fn new(r: f64, alpha: f64, s: f64, beta: f64) -> Result<ParetoNbd> {
        super::check_parameters(MODEL, &[("r", r), ("alpha", alpha), ("s", s), ("beta", beta)])?;
        Ok(ParetoNbd { format_version: super::MODEL_FORMAT_VERSION, r, alpha, s, beta, report: None, time_unit: None })
    }

    /// Fits the model to a summary's frequency, recency and age columns.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// # let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(
    /// #     &SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)),
    /// # )?;
    /// use customer_lifecycle::clv::ParetoNbd;
    /// let model = ParetoNbd::fit(&summary)?;
    /// let (r, alpha, s, beta) = model.parameters();
    /// assert!((r - 0.5532).abs() < 2e-3 && (alpha - 10.5763).abs() < 0.05 && (s - 0.6062).abs() < 2e-3 && (beta - 11.6715).abs() < 0.1);
    /// assert!((model.report().unwrap().log_likelihood - -9594.98).abs() < 0.01);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`crate::clv::BetaGeo::fit`].
    pub fn fit(summary: &PurchaseSummary) -> Result<ParetoNbd> {
        ParetoNbd::fit_with(summary, &FitOptions::default())
    }

    /// [`ParetoNbd::fit`] with options.
    ///
    /// ```
    /// use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::clv::{FitOptions, ParetoNbd};
    ///
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let model = ParetoNbd::fit_with(&summary, &FitOptions::default().max_iterations(500))?;
    /// assert!(model.report().unwrap().converged);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`ParetoNbd::fit`], plus [`Error::InvalidArgument`] for bad options.
    pub fn fit_with(summary: &PurchaseSummary, options: &FitOptions) -> Result<ParetoNbd> {
        let model =
            summary.naming(ParetoNbd::fit_columns(summary.frequency(), summary.recency(), summary.age(), options))?;
        Ok(model.in_unit(summary.periods().unit()))
    }

    /// Fits the model to columns `x`, `t_x`, `T`.
    ///
    /// ```
    /// use customer_lifecycle::clv::{FitOptions, ParetoNbd};
    /// let truth = ParetoNbd::new(0.6, 10.0, 0.6, 12.0)?;
    /// let ages: Vec<f64> = (0..3000).map(|i| 20.0 + f64::from(i % 20)).collect();
    /// let sim = truth.simulate(&ages, 7)?;
    /// let model = ParetoNbd::fit_columns(sim.frequency.view(), sim.recency.view(), sim.age.view(), &FitOptions::default())?;
    /// assert!(model.report().unwrap().converged);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
        let warm = fit::warm_start_sample(options, [frequency, recency, age])
            .and_then(|[x, t_x, t]| ParetoNbd::fit_columns(x.view(), t_x.view(), t.view(), options).ok())
            .map(|m| [m.r, m.alpha, m.s, m.beta]);
        ParetoNbd::fit_rows(&rows, warm, options)
    }

    /// Fits to a [`PurchaseHistogram`] of distinct (x, t_x, T) rows and
    /// their customer counts (see [`BetaGeo::fit_histogram`](crate::clv::BetaGeo::fit_histogram)).
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// # let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(
    /// #     &SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)),
    /// # )?;
    /// use customer_lifecycle::clv::{FitOptions, ParetoNbd, PurchaseHistogram};
    /// let histogram = PurchaseHistogram::from_columns(summary.frequency(), summary.recency(), summary.age())?;
    /// let model = ParetoNbd::fit_histogram(&histogram, &FitOptions::default())?;
    /// assert!((model.parameters().0 - 0.5533).abs() < 2e-3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`ParetoNbd::fit_with`].
    pub fn fit_histogram(histogram: &PurchaseHistogram, options: &FitOptions) -> Result<ParetoNbd> {
        ParetoNbd::fit_rows(&histogram.rows, None, options)
    }

    /// The fit to grouped rows, from `warm` first when given.
    fn fit_rows(rows: &RepeatRows, warm: Option<[f64; 4]>, options: &FitOptions) -> Result<ParetoNbd> {
        let mean_t = rows.t.iter().zip(&rows.weight).map(|(t, w)| t * w).sum::<f64>() / rows.customers;
        let derivatives = Derivatives::new(rows);
        // The value from the jet too: a Newton step accepted whole (the
        // usual case) then has its next gradient and Hessian ready.
        let neg_ll = |p: &[f64]| -derivatives.log_likelihood(p);
        let neg_gradient =
            |p: &[f64]| -> Vec<f64> { derivatives.at(p).map_or_else(Vec::new, |j| negated(&j.gradient)) };
        let neg_hessian = |p: &[f64]| -> Vec<f64> { derivatives.at(p).map_or_else(Vec::new, |j| negated(&j.hessian)) };
        let start = mean_t.max(1e-3);
        let (defaults, ones) = ([1.0, start, 1.0, start], [1.0; 4]);
        let mut starts: Vec<&[f64]> = vec![&defaults, &ones];
        if let Some(warm) = &warm {
            starts.insert(0, warm);
        }
        let report = fit::maximise_with_gradient(
            MODEL,
            &["r", "alpha", "s", "beta"],
            &neg_ll,
            Some(&neg_gradient),
            Some(&neg_hessian),
            &starts,
            rows.customers,
            options,
        )?;
        let p = &report.parameters;
        let mut model = ParetoNbd::new(p[0], p[1], p[2], p[3])?;
        model.report = Some(FitReport { age_zero: rows.age_zero, ..report });
        Ok(model)
    }

    /// The parameters `(r, alpha, s, beta)`.
    ///
    /// ```
    /// use customer_lifecycle::clv::ParetoNbd;
    /// let model = ParetoNbd::new(0.5532, 10.5763, 0.6062, 11.6715)?; // CDNOW, Fader, Hardie & Lee (2005)
    /// let (r, alpha, s, beta) = model.parameters();
    /// assert!(r > 0.0 && alpha > 0.0 && s > 0.0 && beta > 0.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parameters(&self) -> (f64, f64, f64, f64) {
        (self.r, self.alpha, self.s, self.beta)
    }

    /// The fit report, when fitted.
    ///
    /// ```
    /// use customer_lifecycle::clv::ParetoNbd;
    /// let model = ParetoNbd::new(0.5532, 10.5763, 0.6062, 11.6715)?; // CDNOW, Fader, Hardie & Lee (2005)
    /// assert!(model.report().is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn report(&self) -> Option<&FitReport> {
        self.report.as_ref()
    }

    /// The time unit of the summary the model was fitted on (`None` when
    /// built from parameters or fitted on bare columns): the unit of its
    /// ages, recencies and horizons, which [`Clv`](crate::clv::Clv) uses
    /// to convert calendar spans and to refuse a summary in another unit.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// use customer_lifecycle::clv::ParetoNbd;
    /// assert_eq!(ParetoNbd::fit(&summary)?.time_unit(), Some(TimeUnit::Week));
    /// assert_eq!(ParetoNbd::new(0.5532, 10.5763, 0.6062, 11.6715)?.time_unit(), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn time_unit(&self) -> Option<TimeUnit> {
        self.time_unit
    }

    /// The same model, its ages and horizons declared in `unit` (for a
    /// model built from published parameters).
    ///
    /// ```
    /// use customer_lifecycle::TimeUnit;
    /// use customer_lifecycle::clv::ParetoNbd;
    /// assert_eq!(ParetoNbd::new(0.5532, 10.5763, 0.6062, 11.6715)?.in_unit(TimeUnit::Week).time_unit(), Some(TimeUnit::Week));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn in_unit(mut self, unit: TimeUnit) -> ParetoNbd {
        self.time_unit = Some(unit);
        self
    }

    /// One customer's log-likelihood.
    ///
    /// ```
    /// use customer_lifecycle::clv::ParetoNbd;
    /// let model = ParetoNbd::new(0.5532, 10.5763, 0.6062, 11.6715)?; // CDNOW, Fader, Hardie & Lee (2005)
    /// assert!(model.log_likelihood(2.0, 30.43, 38.86)? < 0.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidModelInput`] for an impossible row;
    /// [`Error::InvalidArgument`] if the hypergeometric series fails.
    pub fn log_likelihood(&self, x: f64, t_x: f64, age: f64) -> Result<f64> {
        data::check_row(MODEL, 0, x, t_x, age)?;
        if age == 0.0 {
            return Ok(0.0); // first purchase at the end: likelihood 1
        }
        let ll = row_log_likelihood(&self.array(), x, t_x, age);
        if ll.is_finite() { Ok(ll) } else { Err(series_failure()) }
    }

    /// P(any further purchase) after the observation: P(alive) times the
    /// chance that an alive customer buys before dropping out,
    /// E[λ/(λ+μ)] with λ ~ Gamma(r+x, α+T) and μ ~ Gamma(s, β+T) (their
    /// distribution given the history and alive), which is
    /// ∫₀¹ A (1−w)^(A+s−1) (1 + (κ−1) w)^(−s) dw with A = r+x and
    /// κ = (α+T)/(β+T): A/(A+s) ₂F₁(s, 1; A+s+1; 1−κ) (A/(A+s) when κ = 1),
    /// by the series or, for κ far from 1, by quadrature.
    ///
    /// ```
    /// use customer_lifecycle::clv::ParetoNbd;
    /// let model = ParetoNbd::new(0.55, 10.6, 0.61, 11.7)?;
    /// let any = model.probability_any_purchase(2.0, 30.0, 39.0)?;
    /// assert!(0.0 < any && any < model.probability_alive(2.0, 30.0, 39.0)?);
    /// // The same rates: λ/(λ+μ) is Beta(r+x, s), of mean (r+x)/(r+x+s).
    /// let even = ParetoNbd::new(0.5, 10.0, 0.7, 10.0)?;
    /// let (alive, any) = (even.probability_alive(1.0, 5.0, 8.0)?, even.probability_any_purchase(1.0, 5.0, 8.0)?);
    /// assert!((any - alive * 1.5 / 2.2).abs() < 1e-12);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`ParetoNbd::probability_alive`].
    pub fn probability_any_purchase(&self, x: f64, t_x: f64, age: f64) -> Result<f64> {
        let alive = self.probability_alive(x, t_x, age)?;
        let (r, alpha, s, beta) = self.parameters();
        let a = r + x;
        let kappa = (alpha + age) / (beta + age);
        // Euler's integral: A/(A+s) ₂F₁(s, 1; A+s+1; 1−κ), for κ > 1 by
        // Pfaff's transformation (1/κ) ₂F₁(A+1, 1; A+s+1; (κ−1)/κ), so the
        // series has positive terms; near an argument of 1 (κ far from 1)
        // the series is slow and the integral is taken by quadrature.
        let series = if kappa <= 1.0 {
            Some(1.0 - kappa).filter(|z| *z <= 0.9).and_then(|z| hyp2f1_positive(s, 1.0, a + s + 1.0, z))
        } else {
            Some((kappa - 1.0) / kappa)
                .filter(|z| *z <= 0.9)
                .and_then(|z| hyp2f1_positive(a + 1.0, 1.0, a + s + 1.0, z))
                .map(|f| f / kappa)
        };
        let share = match series {
            Some(f) => a / (a + s) * f,
            None => {
                let g = |w: f64, one_minus_w: f64| {
                    a.ln() + (a + s - 1.0) * one_minus_w.ln() - s * ((kappa - 1.0) * w).ln_1p()
                };
                let ln_share = quadrature::ln_integral_unit(&g).ok_or_else(|| Error::InvalidModelInput {
                    model: "Pareto/NBD",
                    row: 0,
                    customer: None,
                    reason: format!("P(any further purchase) could not be integrated at x = {x}, T = {age}"),
                })?;
                ln_share.exp()
            }
        };
        Ok((alive * share.min(1.0)).clamp(0.0, 1.0))
    }

    /// P(alive) at the end of the observation, given (x, t_x, T).
    ///
    /// ```
    /// use customer_lifecycle::clv::ParetoNbd;
    /// let model = ParetoNbd::new(0.5532, 10.5763, 0.6062, 11.6715)?; // CDNOW, Fader, Hardie & Lee (2005)
    /// assert!((model.probability_alive(26.0, 30.857, 31.0)? - 0.9979).abs() < 1e-4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`ParetoNbd::log_likelihood`].
    pub fn probability_alive(&self, x: f64, t_x: f64, age: f64) -> Result<f64> {
        data::check_row(MODEL, 0, x, t_x, age)?;
        self.p_alive_unchecked(x, t_x, age)
    }

    fn p_alive_unchecked(&self, x: f64, t_x: f64, t: f64) -> Result<f64> {
        let (r, alpha, s, beta) = self.parameters();
        // 1 / (1 + s/(r+s+x) (α+T)^(r+x) (β+T)^s A0), with A0 scaled by
        // α^(r+x) β^s and the powers as (1 + T/α)^(r+x) (1 + T/β)^s.
        let ln_a0 = ln_a0_scaled(&self.array(), x, t_x, t).ok_or_else(series_failure)?;
        let log_odds = (s / (r + s + x)).ln() + (r + x) * (t / alpha).ln_1p() + s * (t / beta).ln_1p() + ln_a0;
        Ok(1.0 / (1.0 + log_odds.exp()))
    }

    /// Probability that a customer with (x, t_x, T) makes no purchase in the
    /// next `t`. The likelihood of (x, t_x, T + t) is the probability of the
    /// same purchases followed by none up to T + t, so this is the ratio
    /// L(x, t_x, T + t) / L(x, t_x, T).
    ///
    /// ```
    /// use customer_lifecycle::clv::ParetoNbd;
    /// let model = ParetoNbd::new(0.5532, 10.5763, 0.6062, 11.6715)?; // CDNOW, Fader, Hardie & Lee (2005)
    /// let none = model.probability_no_purchase(13.0, 0.0, 0.0, 38.86)?;
    /// assert!(none > 0.5 && none < 1.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
        // The death-time integral is exact for every ratio; it serves where
        // the series is slow (a ratio near 1) or does not settle (hundreds of
        // purchases, where the ₂F₁ parameters are large and close).
        let by_quadrature = || -> Result<f64> {
            let p = ln_alive.exp() + self.ln_purchases_then_drop_out(t, n)?.exp();
            checked_probability(p, t, n)
        };
        if diff / m > SERIES_UP_TO {
            return by_quadrature();
        }
        let ln_f = |a: f64, u: f64| -> Result<f64> {
            let f = crate::math::series::hyp2f1_positive(a, b, c, diff / (m + u)).ok_or_else(series_failure)?;
            Ok(f.ln() - a * (m + u).ln())
        };
        let Ok(ln_first) = ln_f(r + s, 0.0) else { return by_quadrature() };
        let ln_terms: Result<Vec<f64>> = (0..=n)
            .map(|i| {
                let i = f64::from(i);
                let lead =
                    ln_gamma(r + s + i) - ln_gamma(r + s) - ln_gamma(i + 1.0) + if i > 0.0 { i * t.ln() } else { 0.0 };
                Ok(lead + ln_f(r + s + i, t)?)
            })
            .collect();
        let Ok(ln_terms) = ln_terms else { return by_quadrature() };
        let top = ln_terms.iter().copied().fold(ln_first, f64::max);
        let bracket = (ln_first - top).exp() - ln_terms.iter().map(|l| (l - top).exp()).sum::<f64>();
        let ln_c = r * alpha.ln() + s * beta.ln() + ln_beta(r + x, s + 1.0) - ln_beta(r, s);
        let p = ln_alive.exp() + (ln_c + top).exp() * bracket;
        checked_probability(p, t, n)
    }

    /// P(X(T, T + t] = k | x, t_x, T): the probability that the customer
    /// makes exactly `k` purchases in the next `t`. A customer gone buys
    /// nothing; one alive (probability P(alive)) continues as a new
    /// Pareto/NBD customer would whose λ and μ follow their distribution
    /// given the history, Gamma(r+x, α+T) and Gamma(s, β+T) (the lifetime
    /// is memoryless), so this is (1 − P(alive)) [k = 0] + P(alive)
    /// P(X(t) = k) at (r+x, α+T, s, β+T). The probabilities sum to 1 and
    /// their mean is [`ParetoNbd::conditional_expected_purchases`].
    ///
    /// ```
    /// use customer_lifecycle::clv::ParetoNbd;
    /// let model = ParetoNbd::new(0.55, 10.6, 0.61, 11.7)?;
    /// let p: Vec<f64> = (0..300).map(|k| model.conditional_probability_of_purchases(52.0, k, 2.0, 30.0, 39.0).unwrap()).collect();
    /// assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-8);
    /// let mean: f64 = p.iter().enumerate().map(|(k, p)| k as f64 * p).sum();
    /// assert!((mean - model.conditional_expected_purchases(52.0, 2.0, 30.0, 39.0)?).abs() < 1e-8);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`ParetoNbd::conditional_expected_purchases`].
    pub fn conditional_probability_of_purchases(&self, t: f64, k: u32, x: f64, t_x: f64, age: f64) -> Result<f64> {
        let alive = self.probability_alive(x, t_x, age)?;
        let (r, alpha, s, beta) = self.parameters();
        let ahead = ParetoNbd::new(r + x, alpha + age, s, beta + age)?;
        let gone = if k == 0 { 1.0 - alive } else { 0.0 };
        Ok((gone + alive * ahead.probability_of_purchases(t, k)?).clamp(0.0, 1.0))
    }

    /// ln of the probability of n purchases in (0, τ] and drop-out at some
    /// τ < t: ∫₀ᵗ s βˢ (β+τ)^−(s+1) · NBD(n; τ) dτ with NBD(n; τ) =
    /// Γ(r+n)/(Γ(r) n!) (α/(α+τ))^r (τ/(α+τ))^n, by quadrature in
    /// w = ln(min(α, β) + τ), where the log-integrand is concave.
    fn ln_purchases_then_drop_out(&self, t: f64, n: u32) -> Result<f64> {
        let (r, alpha, s, beta) = self.parameters();
        let x = f64::from(n);
        let constant = s.ln() + s * beta.ln() + ln_gamma(r + x) - ln_gamma(r) - ln_gamma(x + 1.0) + r * alpha.ln();
        let small = alpha.min(beta);
        let (ln_small, gap) = (small.ln(), (alpha - beta).abs());
        let phi = |w: f64| {
            // ln(min+τ) = w, ln(max+τ) = ln(|α−β| + eʷ), τ = min·(e^(w − ln min) − 1).
            let ln_large = (gap + w.exp()).ln();
            let (ln_a, ln_b) = if alpha <= beta { (w, ln_large) } else { (ln_large, w) };
            let purchases = if n == 0 { 0.0 } else { x * (small * (w - ln_small).exp_m1()).ln() };
            constant + w - (s + 1.0) * ln_b - (r + x) * ln_a + purchases
        };
        let nodes = quadrature::concave_log_integral_nodes(&phi, ln_small, (small + t).ln(), None)
            .ok_or_else(series_failure)?;
        Ok(quadrature::ln_sum_of_nodes(&nodes))
    }

    /// P(alive) a time `t` after the end of the observation, with no
    /// information about that interval: P(alive now) · ((β+T)/(β+T+t))^s
    /// (given alive now, the drop-out rate's posterior is Gamma(s, β+T)).
    ///
    /// ```
    /// use customer_lifecycle::clv::ParetoNbd;
    /// let model = ParetoNbd::new(0.5532, 10.5763, 0.6062, 11.6715)?; // CDNOW, Fader, Hardie & Lee (2005)
    /// assert!(model.probability_alive_in(52.0, 2.0, 30.43, 38.86)? < model.probability_alive(2.0, 30.43, 38.86)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`ParetoNbd::probability_alive`], plus a bad horizon.
    pub fn probability_alive_in(&self, t: f64, x: f64, t_x: f64, age: f64) -> Result<f64> {
        check_horizon(t)?;
        data::check_row(MODEL, 0, x, t_x, age)?;
        let alive = self.p_alive_unchecked(x, t_x, age)?;
        Ok(alive * (self.s * ((self.beta + age).ln() - (self.beta + age + t).ln())).exp())
    }

    /// Discounted expected residual purchases (DERT) of a customer with
    /// (x, t_x, T) at discount rate `discount_rate` per unit of time (the
    /// summary's unit; for an annual rate d and P units a year,
    /// (1 + d)^(1/P) − 1): the expected purchases from now on, one at time
    /// τ from now discounted by (1 + `discount_rate`)^(−τ) = e^(−δτ) with
    /// δ = ln(1 + `discount_rate`) (Fader, Hardie & Lee 2005), computed as
    /// P(alive) · (r+x)/(α+T) · (β+T)^s δ^(s−1) U(s, s; δ(β+T)). The rate
    /// is the same kind of number as BG/BB's per opportunity.
    ///
    /// ```
    /// use customer_lifecycle::clv::ParetoNbd;
    ///
    /// let model = ParetoNbd::new(0.5532, 10.5763, 0.6062, 11.6715)?;
    /// // 15 % a year, in weeks.
    /// let weekly = 1.15f64.powf(1.0 / 52.0) - 1.0;
    /// let dert = model.discounted_expected_residual_purchases(weekly, 2.0, 30.43, 38.86)?;
    /// assert!(dert > 0.0 && dert < 10.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`ParetoNbd::probability_alive`], plus a rate ≤ 0 or non-finite.
    pub fn discounted_expected_residual_purchases(
        &self,
        discount_rate: f64,
        x: f64,
        t_x: f64,
        age: f64,
    ) -> Result<f64> {
        super::check_discount_rate(discount_rate)?;
        let delta = discount_rate.ln_1p();
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
    /// ```
    /// use customer_lifecycle::clv::ParetoNbd;
    /// let model = ParetoNbd::new(0.5532, 10.5763, 0.6062, 11.6715)?; // CDNOW, Fader, Hardie & Lee (2005)
    /// assert!(model.expected_purchases_new_customer(52.0)? > model.expected_purchases_new_customer(26.0)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
    /// ```
    /// use customer_lifecycle::clv::ParetoNbd;
    /// let model = ParetoNbd::new(0.5532, 10.5763, 0.6062, 11.6715)?; // CDNOW, Fader, Hardie & Lee (2005)
    /// assert!((model.conditional_expected_purchases(52.0, 26.0, 30.857, 31.0)? - 25.456).abs() < 1e-3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`ParetoNbd::probability_alive`], plus a bad horizon.
    pub fn conditional_expected_purchases(&self, t: f64, x: f64, t_x: f64, age: f64) -> Result<f64> {
        check_horizon(t)?;
        data::check_row(MODEL, 0, x, t_x, age)?;
        let alive = self.p_alive_unchecked(x, t_x, age)?;
        Ok(self.expected_if_alive(t, x, age) * alive)
    }

    /// Expected purchases in the next `t` of a customer with `x` repeat
    /// purchases and age `age`, given that the customer is alive:
    /// (r+x)(β+T)/((α+T)(s−1)) · [1 − ((β+T)/(β+T+t))^(s−1)] (its limit
    /// at s = 1); [`ParetoNbd::conditional_expected_purchases`] is P(alive)
    /// times this.
    ///
    /// ```
    /// use customer_lifecycle::clv::ParetoNbd;
    /// let model = ParetoNbd::new(0.5532, 10.5763, 0.6062, 11.6715)?; // CDNOW, Fader, Hardie & Lee (2005)
    /// let alive = model.probability_alive(26.0, 30.857, 31.0)?;
    /// let if_alive = model.expected_purchases_if_alive(52.0, 26.0, 31.0)?;
    /// assert!((alive * if_alive - model.conditional_expected_purchases(52.0, 26.0, 30.857, 31.0)?).abs() < 1e-9);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`ParetoNbd::conditional_expected_purchases`].
    pub fn expected_purchases_if_alive(&self, t: f64, x: f64, age: f64) -> Result<f64> {
        check_horizon(t)?;
        data::check_row(MODEL, 0, x, if x == 0.0 { 0.0 } else { age }, age)?;
        Ok(self.expected_if_alive(t, x, age))
    }

    /// [`ParetoNbd::expected_purchases_if_alive`] at each of `horizons`, for
    /// one x and age, into `out` (one call per horizon: nothing to share).
    ///
    /// ```
    /// use customer_lifecycle::clv::ParetoNbd;
    /// let model = ParetoNbd::new(0.5532, 10.5763, 0.6062, 11.6715)?; // CDNOW, Fader, Hardie & Lee (2005)
    /// let mut out = Vec::new();
    /// model.expected_purchases_if_alive_at(&[26.0, 52.0], 26.0, 31.0, &mut out)?;
    /// assert_eq!(out, [model.expected_purchases_if_alive(26.0, 26.0, 31.0)?, model.expected_purchases_if_alive(52.0, 26.0, 31.0)?]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`ParetoNbd::expected_purchases_if_alive`], for the first horizon
    /// that fails.
    pub fn expected_purchases_if_alive_at(&self, horizons: &[f64], x: f64, age: f64, out: &mut Vec<f64>) -> Result<()> {
        out.clear();
        for &t in horizons {
            out.push(self.expected_purchases_if_alive(t, x, age)?);
        }
        Ok(())
    }

    fn expected_if_alive(&self, t: f64, x: f64, age: f64) -> f64 {
        let (r, alpha, s, beta) = self.parameters();
        (r + x) * (beta + age) / (alpha + age) * growth(s, beta + age, t)
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
    /// use customer_lifecycle::clv::ParetoNbd;
    /// let model = ParetoNbd::fit(&summary)?;
    /// let se = model.standard_error(|m| m.probability_alive(2.0, 30.43, 38.86))?;
    /// assert!(se > 0.0 && se < 0.1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`crate::clv::BetaGeo::standard_error`].
    pub fn standard_error(&self, prediction: impl Fn(&ParetoNbd) -> Result<f64>) -> Result<f64> {
        fit::standard_error_of(self.report.as_ref(), |p| ParetoNbd::new(p[0], p[1], p[2], p[3]), prediction)
    }

    /// P(alive) for every customer of a summary.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// # let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(
    /// #     &SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)),
    /// # )?;
    /// use customer_lifecycle::clv::ParetoNbd;
    /// let model = ParetoNbd::new(0.5532, 10.5763, 0.6062, 11.6715)?;
    /// assert!(model.probability_alive_all(&summary)?.column("p_alive").unwrap().iter().all(|p| (0.0..=1.0).contains(p)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`ParetoNbd::probability_alive`].
    pub fn probability_alive_all(&self, summary: &PurchaseSummary) -> Result<CustomerTable> {
        summary.keyed("p_alive", self.probability_alive_columns(summary.frequency(), summary.recency(), summary.age()))
    }

    /// Conditional expected purchases in the next `t` for every customer of a summary.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// # let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(
    /// #     &SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)),
    /// # )?;
    /// use customer_lifecycle::clv::ParetoNbd;
    /// let model = ParetoNbd::new(0.5532, 10.5763, 0.6062, 11.6715)?;
    /// let holdout = model.conditional_expected_purchases_all(39.0, &summary)?;
    /// // Predicted against actual holdout purchases, in total.
    /// let (predicted, actual) = (holdout.column("expected_purchases").unwrap().sum(), summary.frequency_holdout().unwrap().sum());
    /// assert!((predicted / actual - 1.0).abs() < 0.2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`ParetoNbd::conditional_expected_purchases`].
    pub fn conditional_expected_purchases_all(&self, t: f64, summary: &PurchaseSummary) -> Result<CustomerTable> {
        summary.keyed(
            "expected_purchases",
            self.conditional_expected_purchases_columns(t, summary.frequency(), summary.recency(), summary.age()),
        )
    }

    /// P(alive) for columns of x, t_x and T.
    ///
    /// ```
    /// use customer_lifecycle::clv::ParetoNbd;
    /// let model = ParetoNbd::new(0.5532, 10.5763, 0.6062, 11.6715)?; // CDNOW, Fader, Hardie & Lee (2005)
    /// use customer_lifecycle::ndarray::array;
    /// let alive = model.probability_alive_columns(array![26.0].view(), array![30.857].view(), array![31.0].view())?;
    /// assert!((alive[0] - 0.9979).abs() < 1e-4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidModelInput`] naming the first impossible row; columns
    /// of different lengths; as [`ParetoNbd::probability_alive`].
    pub fn probability_alive_columns(
        &self,
        frequency: ArrayView1<'_, f64>,
        recency: ArrayView1<'_, f64>,
        age: ArrayView1<'_, f64>,
    ) -> Result<Array1<f64>> {
        by_row(frequency, recency, age, |x, t_x, t| self.p_alive_unchecked(x, t_x, t))
    }

    /// Conditional expected purchases in the next `t` for columns of x, t_x and T.
    ///
    /// ```
    /// use customer_lifecycle::clv::ParetoNbd;
    /// let model = ParetoNbd::new(0.5532, 10.5763, 0.6062, 11.6715)?; // CDNOW, Fader, Hardie & Lee (2005)
    /// use customer_lifecycle::ndarray::array;
    /// let e = model.conditional_expected_purchases_columns(52.0, array![26.0].view(), array![30.857].view(), array![31.0].view())?;
    /// assert!((e[0] - 25.456).abs() < 1e-3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`ParetoNbd::probability_alive_columns`], plus a bad horizon.
    pub fn conditional_expected_purchases_columns(
        &self,
        t: f64,
        frequency: ArrayView1<'_, f64>,
        recency: ArrayView1<'_, f64>,
        age: ArrayView1<'_, f64>,
    ) -> Result<Array1<f64>> {
        check_horizon(t)?;
        by_row(frequency, recency, age, |x, t_x, big_t| {
            Ok(self.expected_if_alive(t, x, big_t) * self.p_alive_unchecked(x, t_x, big_t)?)
        })
    }

    fn array(&self) -> [f64; 4] {
        [self.r, self.alpha, self.s, self.beta]
    }
}

/// Applies a prediction to validated columns, naming the row of a bad input.
fn by_row(
    frequency: ArrayView1<'_, f64>,
    recency: ArrayView1<'_, f64>,
    age: ArrayView1<'_, f64>,
    prediction: impl Fn(f64, f64, f64) -> Result<f64> + Sync,
) -> Result<Array1<f64>> {
    let check = |i, x, t_x, t| data::check_row(MODEL, i, x, t_x, t);
    data::predict_columns(MODEL, [frequency, recency, age], check, prediction)
}

/// [1 − (b/(b+t))^(s−1)] / (s − 1), with its limit ln(1 + t/b) at s = 1.
fn growth(s: f64, b: f64, t: f64) -> f64 {
    let l = (t / b).ln_1p();
    if (s - 1.0).abs() < 1e-10 { l } else { -(-(s - 1.0) * l).exp_m1() / (s - 1.0) }
}

fn check_horizon(value: f64) -> Result<()> {
    super::check_non_negative("horizon", value)
}

/// A probability computed as a sum: within 1e-9 of [0, 1] or an error.
fn checked_probability(p: f64, t: f64, n: u32) -> Result<f64> {
    if !p.is_finite() || !(-1e-9..=1.0 + 1e-9).contains(&p) {
        return Err(Error::InvalidArgument {
            name: "Pareto/NBD",
            reason: format!("P(X({t}) = {n}) lost its precision to cancellation ({p})"),
        });
    }
    Ok(p.clamp(0.0, 1.0))
}

fn series_failure() -> Error {
    Error::InvalidArgument { name: "Pareto/NBD", reason: "the hypergeometric series did not converge".into() }
}

/// The largest argument |α−β|/(max(α, β)+t_x) of the ₂F₁ series used for
/// A0; beyond it the series needs thousands of terms (millions as the ratio
/// of α to β grows), and the drop-out integral is computed by quadrature.
/// Why 0.97: quadrature costs about ten series rows (≈ 137 tanh-sinh nodes,
/// each a jet), and a series at z ≤ 0.97 stays under about a thousand
/// terms; measured on `fit/pareto_nbd/100k-lopsided`, a switch at 0.7 took
/// 14.3 s, at 0.9 1.1 s, at 0.97 0.77 s.
const SERIES_UP_TO: f64 = 0.97;

/// Quadrature nodes for J = ∫_{t_x}^T (α+τ)^−(r+x) (β+τ)^−(s+1) dτ, the
/// probability density of dropping out at τ after the last purchase
/// (without the constant factors), as pairs (τₖ, ln of the k-th term).
///
/// The integrand is taken in w = ln(min(α, β) + τ), where it is
/// exp(φ(w)) with φ(w) = (1 − e₁) w − e₂ ln(|α−β| + eʷ), e₁ the exponent of
/// the smaller shift and e₂ of the larger: φ is concave, so the integrand
/// is unimodal, with its peak where φ′ = 0 (or at an end).
fn drop_out_integral_nodes(p: &[f64; 4], x: f64, t_x: f64, t: f64) -> Option<Vec<(f64, f64)>> {
    let (r, alpha, s, beta) = (p[0], p[1], p[2], p[3]);
    let (small, e_small, e_large) = if alpha <= beta { (alpha, r + x, s + 1.0) } else { (beta, s + 1.0, r + x) };
    let gap = (alpha - beta).abs();
    let phi = |w: f64| (1.0 - e_small) * w - e_large * (gap + w.exp()).ln();
    let (w1, w2) = ((small + t_x).ln(), (small + t).ln());
    // The peak: φ′(w) = (1 − e₁) − e₂ eʷ/(|α−β| + eʷ), decreasing in w.
    let slope = |w: f64| (1.0 - e_small) - e_large / (1.0 + gap * (-w).exp());
    let peak = if slope(w1) <= 0.0 {
        w1
    } else if slope(w2) >= 0.0 {
        w2
    } else {
        let ratio = (1.0 - e_small) / e_large;
        (gap * ratio / (1.0 - ratio)).ln()
    };
    let nodes = quadrature::concave_log_integral_nodes(&phi, w1, w2, Some(peak))?;
    Some(nodes.into_iter().map(|(w, l)| (w.exp() - small, l)).collect())
}

/// ln J (see [`drop_out_integral_nodes`]); −∞ when t_x = T.
fn ln_drop_out_integral(p: &[f64; 4], x: f64, t_x: f64, t: f64) -> Option<f64> {
    let nodes = drop_out_integral_nodes(p, x, t_x, t)?;
    Some(quadrature::ln_sum_of_nodes(&nodes))
}

/// ln J as a jet: the derivatives of the integrand ln f(τ) =
/// −(r+x) ln(α+τ) − (s+1) ln(β+τ) taken under the integral sign, at the
/// same nodes.
fn drop_out_integral_jet(p: &[f64; 4], x: f64, t_x: f64, t: f64) -> Option<Jet> {
    let (r, alpha, s, beta) = (p[0], p[1], p[2], p[3]);
    let nodes = drop_out_integral_nodes(p, x, t_x, t)?;
    let jets: Vec<Jet> = nodes
        .iter()
        .map(|&(tau, ln_term)| {
            let (a, b) = (alpha + tau, beta + tau);
            let mut jet = Jet::constant(ln_term);
            jet.gradient = [-a.ln(), -(r + x) / a, -b.ln(), -(s + 1.0) / b];
            let h = &mut jet.hessian;
            h[R * 4 + ALPHA] = -1.0 / a;
            h[ALPHA * 4 + R] = -1.0 / a;
            h[ALPHA * 4 + ALPHA] = (r + x) / (a * a);
            h[S * 4 + BETA] = -1.0 / b;
            h[BETA * 4 + S] = -1.0 / b;
            h[BETA * 4 + BETA] = (s + 1.0) / (b * b);
            jet
        })
        .collect();
    let terms: Vec<(f64, &Jet)> = jets.iter().map(|j| (1.0, j)).collect();
    Jet::ln_signed_sum_exp(&terms)
}

/// One customer's log-likelihood.
///
/// Written as Γ(r+x)/Γ(r) α^−x [(1 + T/α)^−(r+x) (1 + T/β)^−s + s/(r+s+x)
/// A0 α^(r+x) β^s]: the value the fits sum as ln Γ(r+x)/Γ(r) α^r β^s plus
/// ln[(α+T)^−(r+x) (β+T)^−s + s/(r+s+x) A0], without r ln α + s ln β cancelling
/// against (r+x) ln(α+T) + s ln(β+T) when T is short next to α and β or
/// s is large, nor ln Γ(r+x) against ln Γ(r) when r is; a likelihood near
/// 1 keeps its digits (ln(e^a + e^b) in ln_1p).
fn row_log_likelihood(p: &[f64; 4], x: f64, t_x: f64, t: f64) -> f64 {
    let (r, alpha, s, beta) = (p[0], p[1], p[2], p[3]);
    // G ≤ (r/α) ∫₀ᵀ (1+y/β)^−s dy, in closed form (its limit at s = 1).
    let bound = || {
        let g = (t / beta).ln_1p();
        let integral = if s == 1.0 { beta * g } else { -beta * (-(s - 1.0) * g).exp_m1() / (s - 1.0) };
        r / alpha * integral
    };
    if x == 0.0 && t > 0.0 && bound() < 0.5 {
        // No purchase in (0, T]: 1 − G, G = (r/α) ∫₀ᵀ (1+y/α)^−(r+1) (1+y/β)^−s dy
        // the chance of a first purchase before dropping out and before T —
        // the drop-out term of the model with the roles of the two processes
        // swapped. Near 1 the likelihood is ln(1 − G), not the sum of an
        // alive and a drop-out term that cancel.
        let swapped = [s, beta, r, alpha];
        if let Some(g) = ln_a0_scaled(&swapped, 0.0, 0.0, t).map(|a0| ((r / (r + s)).ln() + a0).exp()) {
            if g < 0.5 {
                return (-g).ln_1p();
            }
        }
    }
    // ln Γ(r+x) − ln Γ(r): as x times the slope where r is large (the two
    // cancel to x ln r there), else the difference.
    let shift = if r > 1e3 { x * ln_gamma_slope(r, x) } else { ln_gamma(r + x) - ln_gamma(r) };
    let lead = shift - x * alpha.ln();
    let alive = -(r + x) * (t / alpha).ln_1p() - s * (t / beta).ln_1p();
    match ln_a0_scaled(p, x, t_x, t) {
        Some(a0) => lead + log_add_exp(alive, (s / (r + s + x)).ln() + a0),
        None => f64::NAN,
    }
}

/// ln(A0 α^(r+x) β^s), A0 of Fader & Hardie's note: the difference
/// F(t_x) − F(T) with F(u) = ₂F₁(r+s+x, b; r+s+x+1; |α−β|/(m+u)) /
/// (m+u)^(r+s+x), m = max(α, β), b = s+1 when α ≥ β else r+x; when
/// |α−β|/(m+t_x) exceeds [`SERIES_UP_TO`], A0 = (r+s+x) ∫_{t_x}^T … dτ by
/// quadrature (see [`drop_out_integral_nodes`]). `None` when a series
/// fails. Where the series is used,
/// ln F(u) = ln ₂F₁(…; z(u)) − (r+s+x) ln(m+u) enters only through
/// differences — F(T)/F(t_x), and (m+t_x) against α and β — each taken as
/// ln_1p of a small ratio, so that exponents r+s+x in the millions do not
/// leave the 1e-10 a logarithm of 10⁶ carries; −∞ when t_x = T.
fn ln_a0_scaled(p: &[f64; 4], x: f64, t_x: f64, t: f64) -> Option<f64> {
    let (r, alpha, s, beta) = (p[0], p[1], p[2], p[3]);
    let a = r + s + x;
    let (m, b) = if alpha >= beta { (alpha, s + 1.0) } else { (beta, r + x) };
    let diff = (alpha - beta).abs();
    if t <= t_x {
        return Some(f64::NEG_INFINITY);
    }
    let (z_hi, z_lo) = (diff / (m + t_x), diff / (m + t));
    let by_series = || -> Option<f64> {
        let gap = diff * (t - t_x) / ((m + t_x) * (m + t));
        let (h_first, h_fall) = ln_hyp2f1_a_plus_one_fall(a, b, z_hi, z_lo, gap)?;
        // ln F(T) − ln F(t_x) < 0, and (m+t_x)^−a α^(r+x) β^s.
        let fall = h_fall - a * ((t - t_x) / (m + t_x)).ln_1p();
        if fall >= 0.0 {
            return Some(f64::NEG_INFINITY);
        }
        let scale = -(r + x) * ((m - alpha + t_x) / alpha).ln_1p() - s * ((m - beta + t_x) / beta).ln_1p();
        Some(h_first + (-fall.exp_m1()).ln() + scale)
    };
    if z_hi <= SERIES_UP_TO {
        return by_series();
    }
    // Lopsided rates: the quadrature, whose interval in ln(min(α, β) + τ)
    // loses the digits of a span short next to min(α, β) + t_x. Over a span
    // on which the log-integrand changes by at most 1, ten Gauss–Legendre
    // nodes in τ itself (to rounding); over other short spans the series,
    // slow so close to z = 1 but one row only, while it converges.
    let span = t - t_x;
    if (r + x) * span / (alpha + t_x) + (s + 1.0) * span / (beta + t_x) <= 1.0 {
        // ln ∫ (1 + τ/α)^−(r+x) (1 + τ/β)^−(s+1) dτ − ln β = ln(J α^(r+x) β^s).
        let f = |tau: f64| -(r + x) * (tau / alpha).ln_1p() - (s + 1.0) * (tau / beta).ln_1p();
        let nodes: Vec<(f64, f64)> = quadrature::gauss_legendre_unit(10)
            .iter()
            .map(|&(u, w)| (0.0, (w * span).ln() + f(t_x + u * span)))
            .collect();
        return Some(a.ln() + quadrature::ln_sum_of_nodes(&nodes) - beta.ln());
    }
    if span < 1e-3 * (alpha.min(beta) + t_x) {
        if let Some(v) = by_series() {
            return Some(v);
        }
    }
    Some(a.ln() + ln_drop_out_integral(p, x, t_x, t)? + (r + x) * alpha.ln() + s * beta.ln())
}

/// The total log-likelihood of the grouped rows. Rows are sorted by x:
/// the terms of x alone, and the coefficients of the ₂F₁ series, which
/// depend on x and the parameters only, are computed once per distinct x.
fn total_log_likelihood(rows: &RepeatRows, p: &[f64]) -> f64 {
    let p = [p[0], p[1], p[2], p[3]];
    let (r, alpha, s, beta) = (p[0], p[1], p[2], p[3]);
    let common = r * alpha.ln() + s * beta.ln() - ln_gamma(r);
    let (mut current_x, mut lead, mut ln_share) = (f64::NAN, 0.0, 0.0);
    let mut series = None;
    let mut sum = 0.0;
    for i in 0..rows.x.len() {
        let x = rows.x[i];
        if x != current_x {
            current_x = x;
            lead = ln_gamma(r + x) + common;
            ln_share = (s / (r + s + x)).ln();
            let (d, c) = series_parameters(&p, x);
            series = EulerSeries::new(d, c);
        }
        let Some(series) = series.as_mut() else { return f64::NAN };
        sum += rows.weight[i] * (lead + table_row_bracket(&p, x, rows.t_x[i], rows.t[i], ln_share, series));
    }
    sum
}

/// The parameters (d, c) of the series S(d, c, z) in ln F (see [`ln_a0_scaled`]):
/// c = r+s+x+1, and d = c − b, that is r + x when α ≥ β and s + 1 otherwise.
fn series_parameters(p: &[f64; 4], x: f64) -> (f64, f64) {
    let (r, alpha, s, beta) = (p[0], p[1], p[2], p[3]);
    let c = r + s + x + 1.0;
    if alpha >= beta { (r + x, c) } else { (s + 1.0, c) }
}

/// The row's log-likelihood without the terms that depend on x alone,
/// ln[(α+T)^−(r+x) (β+T)^−s + s/(r+s+x) · A0] given ln(s/(r+s+x)), with
/// the series' coefficients from a table for this x.
fn table_row_bracket(p: &[f64; 4], x: f64, t_x: f64, t: f64, ln_share: f64, series: &mut EulerSeries) -> f64 {
    let (r, alpha, s, beta) = (p[0], p[1], p[2], p[3]);
    let alive = -(r + x) * (alpha + t).ln() - s * (beta + t).ln();
    if t_x == t {
        return alive;
    }
    let a = r + s + x;
    let (m, b) = if alpha >= beta { (alpha, s + 1.0) } else { (beta, r + x) };
    let diff = (alpha - beta).abs();
    if diff / (m + t_x) > SERIES_UP_TO {
        // s/(r+s+x) · A0 = s ∫_{t_x}^T … dτ
        return match ln_drop_out_integral(p, x, t_x, t) {
            Some(ln_j) => log_add_exp(alive, s.ln() + ln_j),
            None => f64::NAN,
        };
    }
    // ln F(u) = ln ₂F₁(a, b; a+1; z) − a ln(m+u), z = |α−β|/(m+u), with
    // ln ₂F₁ = (1 − b) ln(1 − z) + ln S(z) (Euler's transformation).
    let mut ln_f = |u: f64| -> Option<f64> {
        let z = diff / (m + u);
        Some((1.0 - b) * (-z).ln_1p() + series.ln_value(z)? - a * (m + u).ln())
    };
    let (Some(first), Some(second)) = (ln_f(t_x), ln_f(t)) else { return f64::NAN };
    if second >= first {
        return alive;
    }
    log_add_exp(alive, ln_share + first + (-(second - first).exp_m1()).ln())
}

fn negated(values: &[f64]) -> Vec<f64> {
    values.iter().map(|v| -v).collect()
}

const R: usize = 0;
const ALPHA: usize = 1;
const S: usize = 2;
const BETA: usize = 3;

/// The total log-likelihood with its exact gradient and Hessian, from one
/// pass over the rows on [`Jet`]s; the last point's result is kept, since
/// the optimiser asks for the gradient and the Hessian at the same point.
pub(super) struct Derivatives<'a> {
    rows: &'a RepeatRows,
    last: std::cell::RefCell<Option<([f64; 4], Option<Jet>)>>,
}

impl<'a> Derivatives<'a> {
    pub(super) fn new(rows: &'a RepeatRows) -> Derivatives<'a> {
        Derivatives { rows, last: std::cell::RefCell::new(None) }
    }

    /// The log-likelihood at `p`: the jet's value, or the plain sum where
    /// the jet's series fails.
    pub(super) fn log_likelihood(&self, p: &[f64]) -> f64 {
        self.at(p).map_or_else(|| total_log_likelihood(self.rows, p), |j| j.value)
    }

    /// The log-likelihood jet at `p`; `None` where a series fails.
    pub(super) fn at(&self, p: &[f64]) -> Option<Jet> {
        let p = [p[0], p[1], p[2], p[3]];
        if let Some((point, jet)) = *self.last.borrow() {
            if point == p {
                return jet;
            }
        }
        let jet = total_log_likelihood_jet(self.rows, &p);
        *self.last.borrow_mut() = Some((p, jet));
        jet
    }
}

/// The log-likelihood summed over the rows, as a jet in (r, α, s, β).
///
/// On many rows the sum is taken in fixed chunks of rows, shared out
/// between the cores, and the chunks added in order: the same split and the
/// same order of additions on any machine, so a fit gives the same bits
/// on any number of cores.
fn total_log_likelihood_jet(rows: &RepeatRows, p: &[f64; 4]) -> Option<Jet> {
    let n = rows.x.len();
    let total = if n < SPLIT_ROWS {
        range_log_likelihood_jet(rows, p, 0..n)?
    } else {
        // Fixed chunks, summed in order: the same bits on any number of cores.
        let chunks: Vec<std::ops::Range<usize>> =
            (0..n.div_ceil(CHUNK_ROWS)).map(|k| k * CHUNK_ROWS..((k + 1) * CHUNK_ROWS).min(n)).collect();
        let parts = map_in_runs(&chunks, cores(), |range| range_log_likelihood_jet(rows, p, range.clone()));
        let mut total = Jet::constant(0.0);
        for part in parts {
            total = total.add(&part?);
        }
        total
    };
    let finite = total.value.is_finite()
        && total.gradient.iter().all(|v| v.is_finite())
        && total.hessian.iter().all(|v| v.is_finite());
    finite.then_some(total)
}

/// Rows from which the likelihood's sum is split in chunks of `CHUNK_ROWS`.
const SPLIT_ROWS: usize = 20_000;
const CHUNK_ROWS: usize = 10_000;

/// The log-likelihood summed over `range` of the rows, as a jet.
fn range_log_likelihood_jet(rows: &RepeatRows, p: &[f64; 4], range: std::ops::Range<usize>) -> Option<Jet> {
    let (r, s) = (p[0], p[2]);
    let mut total = Jet::constant(0.0);
    let mut current_x = f64::NAN;
    let (mut lead, mut ln_share) = (Jet::constant(0.0), Jet::constant(0.0));
    let mut series = None;
    let s_jet = Jet::parameter(s, S);
    for i in range {
        let x = rows.x[i];
        if x != current_x {
            current_x = x;
            lead = lead_jet(p, x);
            // ln(s / (r + s + x))
            let mut a = Jet::constant(r + s + x);
            a.gradient[R] = 1.0;
            a.gradient[S] = 1.0;
            ln_share = s_jet.ln().add(&a.ln().scale(-1.0));
            let (d, c) = series_parameters(p, x);
            series = EulerSeries::new(d, c);
        }
        let bracket = row_bracket_jet(p, x, rows.t_x[i], rows.t[i], &s_jet, &ln_share, series.as_mut()?)?;
        total.add_scaled(rows.weight[i], &lead.add(&bracket));
    }
    Some(total)
}

/// ln Γ(r + x) − ln Γ(r) + r ln α + s ln β as a jet.
fn lead_jet(p: &[f64; 4], x: f64) -> Jet {
    let (r, alpha, s, beta) = (p[0], p[1], p[2], p[3]);
    let mut jet = Jet::constant(ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln() + s * beta.ln());
    jet.gradient = [digamma(r + x) - digamma(r) + alpha.ln(), r / alpha, beta.ln(), s / beta];
    let h = &mut jet.hessian;
    h[R * 4 + R] = if x == 0.0 { 0.0 } else { trigamma(r + x) - trigamma(r) };
    h[R * 4 + ALPHA] = 1.0 / alpha;
    h[ALPHA * 4 + R] = 1.0 / alpha;
    h[ALPHA * 4 + ALPHA] = -r / (alpha * alpha);
    h[S * 4 + BETA] = 1.0 / beta;
    h[BETA * 4 + S] = 1.0 / beta;
    h[BETA * 4 + BETA] = -s / (beta * beta);
    jet
}

/// ln(m + u) as a jet in parameter `i` (m its value).
fn ln_shifted(i: usize, m: f64, u: f64) -> Jet {
    let v = m + u;
    Jet::of_parameter(i, v.ln(), 1.0 / v, -1.0 / (v * v))
}

/// The series' argument z = (L − l)/(L + u) as a jet, for the larger
/// shift L and the smaller l, each given as (parameter index, value).
fn series_argument(larger: (usize, f64), smaller: (usize, f64), u: f64) -> Jet {
    let ((big, l_value), (small, s_value)) = (larger, smaller);
    let v = l_value + u;
    let mut z = Jet::constant((l_value - s_value) / v);
    z.gradient[big] = (s_value + u) / (v * v);
    z.gradient[small] = -1.0 / v;
    z.hessian[big * 4 + big] = -2.0 * (s_value + u) / (v * v * v);
    z.hessian[big * 4 + small] = 1.0 / (v * v);
    z.hessian[small * 4 + big] = 1.0 / (v * v);
    z
}

/// ln[(α+T)^−(r+x) (β+T)^−s + s/(r+s+x) (F(t_x) − F(T))] as a jet: the
/// jet form of [`table_row_bracket`], with ln F(u) written out per branch after
/// Euler's transformation (see [`ln_a0_scaled`]):
/// α ≥ β: ln F = −s ln(β+u) − (r+x) ln(α+u) + ln S(r+x, r+s+x+1, (α−β)/(α+u));
/// α < β: ln F = (1−r−x) ln(α+u) − (s+1) ln(β+u) + ln S(s+1, r+s+x+1, (β−α)/(β+u)).
fn row_bracket_jet(
    p: &[f64; 4],
    x: f64,
    t_x: f64,
    t: f64,
    s_jet: &Jet,
    ln_share: &Jet,
    series: &mut EulerSeries,
) -> Option<Jet> {
    let (r, alpha, s, beta) = (p[0], p[1], p[2], p[3]);
    let rx = Jet::parameter(r + x, R);
    let (la_t, lb_t) = (ln_shifted(ALPHA, alpha, t), ln_shifted(BETA, beta, t));
    let ln_alive = rx.mul(&la_t).add(&s_jet.mul(&lb_t)).scale(-1.0);
    if t_x == t {
        return Some(ln_alive);
    }
    if (alpha - beta).abs() / (alpha.max(beta) + t_x) > SERIES_UP_TO {
        let ln_j = drop_out_integral_jet(p, x, t_x, t)?;
        return Jet::ln_signed_sum_exp(&[(1.0, &ln_alive), (1.0, &s_jet.ln().add(&ln_j))]);
    }
    let mut c = Jet::constant(r + s + x + 1.0);
    c.gradient[R] = 1.0;
    c.gradient[S] = 1.0;
    let mut ln_f = |u: f64, la: &Jet, lb: &Jet| -> Option<Jet> {
        if alpha >= beta {
            let z_jet = series_argument((ALPHA, alpha), (BETA, beta), u);
            let (value, first, second) = series.ln_value_with_derivatives(z_jet.value)?;
            let ln_s = Jet::chain3([&rx, &c, &z_jet], value, first, second);
            Some(ln_s.add(&s_jet.mul(lb).add(&rx.mul(la)).scale(-1.0)))
        } else {
            let z_jet = series_argument((BETA, beta), (ALPHA, alpha), u);
            let s1 = Jet::parameter(s + 1.0, S);
            let (value, first, second) = series.ln_value_with_derivatives(z_jet.value)?;
            let ln_s = Jet::chain3([&s1, &c, &z_jet], value, first, second);
            let one_minus_rx = rx.scale(-1.0).add(&Jet::constant(1.0));
            Some(ln_s.add(&one_minus_rx.mul(la)).add(&s1.mul(lb).scale(-1.0)))
        }
    };
    let first = ln_f(t_x, &ln_shifted(ALPHA, alpha, t_x), &ln_shifted(BETA, beta, t_x))?;
    let second = ln_f(t, &la_t, &lb_t)?;
    if second.value >= first.value {
        // F(t_x) − F(T) is zero to rounding: t_x is T for the series.
        return Some(ln_alive);
    }
    Jet::ln_signed_sum_exp(&[(1.0, &ln_alive), (1.0, &ln_share.add(&first)), (-1.0, &ln_share.add(&second))])
}

#[cfg(test)]
#[allow(clippy::excessive_precision)] // reference values quoted with all their digits
mod tests {
    use super::*;

    #[test]
    fn the_split_likelihood_sums_what_one_pass_sums() {
        // 30,000 distinct rows: above the split.
        let sim = ParetoNbd::new(0.6, 30.0, 0.7, 90.0)
            .unwrap()
            .simulate(&(0..60_000).map(|i| 1.0 + f64::from(i % 1_000) * 0.37).collect::<Vec<_>>(), 3)
            .unwrap();
        let rows = data::group(MODEL, sim.frequency.view(), sim.recency.view(), sim.age.view()).unwrap();
        assert!(rows.x.len() > SPLIT_ROWS, "{}", rows.x.len());
        for p in [[0.6, 30.0, 0.7, 90.0], [1.0, 10.0, 2.0, 40.0]] {
            let split = total_log_likelihood_jet(&rows, &p).unwrap();
            let one = range_log_likelihood_jet(&rows, &p, 0..rows.x.len()).unwrap();
            assert!((split.value - one.value).abs() <= 1e-12 * one.value.abs());
            for (a, b) in split.gradient.iter().chain(&split.hessian).zip(one.gradient.iter().chain(&one.hessian)) {
                assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{a} vs {b}");
            }
            // And the same bits every time (the chunks are fixed).
            assert_eq!(total_log_likelihood_jet(&rows, &p).unwrap().value, split.value);
            assert!((split.value - total_log_likelihood(&rows, &p)).abs() <= 1e-10 * split.value.abs());
        }
    }

    fn published() -> ParetoNbd {
        ParetoNbd::new(0.5532, 10.5763, 0.6062, 11.6715).unwrap()
    }

    #[test]
    fn extreme_ages_give_a_typed_error_not_a_panic() {
        let (x, t_x, t) = (Array1::from(vec![0.0, 3.0]), Array1::from(vec![0.0, 3.0]), Array1::from(vec![1e-6, 1e100]));
        let fit = ParetoNbd::fit_columns(x.view(), t_x.view(), t.view(), &FitOptions::default());
        assert!(fit.is_err());
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
        let weekly = 1.1f64.powf(1.0 / 52.0) - 1.0; // 10 % a year, weekly periods
        let delta = weekly.ln_1p();
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
            let got = m.discounted_expected_residual_purchases(weekly, x, t_x, age).unwrap();
            assert!((got / expected - 1.0).abs() < 1e-7, "({x}, {t_x}, {age}): {got} vs {expected}");
        }
        assert!(m.discounted_expected_residual_purchases(0.0, 1.0, 1.0, 2.0).is_err());
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

    /// The jet likelihood equals the plain one, and its gradient and Hessian
    /// equal central differences of the plain likelihood and of the jet
    /// gradient, on both branches (α > β, α < β, α = β), with one-time
    /// buyers, t_x = T and x in the thousands.
    #[test]
    fn likelihood_derivatives_match_central_differences() {
        let rows = RepeatRows {
            x: vec![0.0, 0.0, 1.0, 2.0, 2.0, 7.0, 30.0, 2500.0],
            t_x: vec![0.0, 0.0, 3.5, 10.0, 39.0, 20.0, 38.0, 37.9],
            t: vec![39.0, 12.0, 39.0, 39.0, 39.0, 30.0, 39.0, 39.0],
            weight: vec![40.0, 3.0, 5.0, 2.0, 1.0, 1.0, 2.0, 1.0],
            customers: 55.0,
            age_zero: 0,
        };
        // The last three need quadrature for some rows (α/β = 100 and 10⁻⁴).
        let points = [
            [0.55, 10.6, 0.61, 11.7],
            [0.55, 11.7, 0.61, 10.6],
            [0.8, 5.0, 1.0, 5.0],
            [2.0, 0.3, 0.2, 40.0],
            [0.55, 200.0, 0.61, 2.0],
            [0.3, 0.01, 0.8, 100.0],
        ];
        for p in points {
            let jet = total_log_likelihood_jet(&rows, &p).unwrap();
            let plain = total_log_likelihood(&rows, &p);
            assert!((jet.value - plain).abs() < 1e-10 * plain.abs(), "{p:?}: {} vs {plain}", jet.value);
            let by_row: f64 = (0..rows.x.len())
                .map(|i| rows.weight[i] * row_log_likelihood(&p, rows.x[i], rows.t_x[i], rows.t[i]))
                .sum();
            assert!((by_row - plain).abs() < 1e-10 * plain.abs(), "{p:?}: {by_row} vs {plain}");
            for i in 0..4 {
                let h = 1e-6 * p[i];
                let (mut up, mut down) = (p, p);
                up[i] += h;
                down[i] -= h;
                let g = (total_log_likelihood(&rows, &up) - total_log_likelihood(&rows, &down)) / (2.0 * h);
                let scale = jet.gradient[i].abs().max(1.0);
                assert!((g - jet.gradient[i]).abs() < 1e-5 * scale, "{p:?} gradient {i}: {g} vs {}", jet.gradient[i]);
                let (ju, jd) =
                    (total_log_likelihood_jet(&rows, &up).unwrap(), total_log_likelihood_jet(&rows, &down).unwrap());
                for j in 0..4 {
                    let hij = (ju.gradient[j] - jd.gradient[j]) / (2.0 * h);
                    let exact = jet.hessian[i * 4 + j];
                    assert!(
                        (hij - exact).abs() < 1e-5 * exact.abs().max(1.0),
                        "{p:?} hessian {i},{j}: {hij} vs {exact}"
                    );
                }
            }
        }
    }

    /// Ratios of α to β up to 10¹¹ (where the ₂F₁ series would need
    /// millions of terms): the log-likelihood and P(alive) by quadrature
    /// against Fader & Hardie's closed form in mpmath (dps 60,
    /// `hyp2f1`), to 1e-10.
    #[test]
    fn extreme_alpha_beta_ratios_against_mpmath() {
        let cases = [
            ([0.55, 1e8, 0.61, 1.0], 0.0, 0.0, 39.0, -4.534053131492235294398e-8, 0.1053763937507262965365),
            ([0.55, 1e8, 0.61, 1.0], 3.0, 20.0, 39.0, -56.34269088563877232688, 0.674989658895561636195),
            ([0.55, 1e6, 0.61, 0.5], 2500.0, 37.9, 39.0, -17480.57690464763336229, 0.9828959150778012103927),
            ([0.3, 0.01, 0.8, 1e9], 0.0, 0.0, 39.0, -2.480696449605706666881, 0.9999999555537114079756),
            ([0.3, 0.01, 0.8, 1e9], 4.0, 12.5, 39.0, -16.05074514268286344689, 0.9999996061057777714377),
            ([2.0, 200.0, 0.2, 2.0], 1.0, 0.5, 30.0, -4.936993004596365924528, 0.5262490217128885272597),
            ([0.55, 1e12, 0.61, 11.7], 7.0, 30.0, 39.0, -187.0405552036593501283, 0.8876221645597028406859),
        ];
        for (p, x, t_x, t, ll, alive) in cases {
            let m = ParetoNbd::new(p[0], p[1], p[2], p[3]).unwrap();
            let got = m.log_likelihood(x, t_x, t).unwrap();
            assert!((got - ll).abs() < 1e-10 * ll.abs().max(1e-3), "{p:?} ({x}, {t_x}, {t}): {got} vs {ll}");
            let got = m.probability_alive(x, t_x, t).unwrap();
            assert!((got - alive).abs() < 1e-10, "{p:?} ({x}, {t_x}, {t}): P(alive) {got} vs {alive}");
            // The grouped total goes the same way.
            let rows =
                RepeatRows { x: vec![x], t_x: vec![t_x], t: vec![t], weight: vec![2.0], customers: 2.0, age_zero: 0 };
            let total = total_log_likelihood(&rows, &p);
            assert!((total - 2.0 * ll).abs() < 1e-10 * ll.abs().max(1e-3), "{p:?}: total {total}");
        }
    }

    /// P(X(t) = n) at ratios of α to β where the ₂F₁ series would crawl,
    /// against mpmath (dps 50, the closed form with `hyp2f1`, which equals
    /// mpmath's quadrature of the death-time integral to all digits shown),
    /// to 1e-12; the probabilities still sum to 1.
    #[test]
    fn probability_of_purchases_at_extreme_ratios_against_mpmath() {
        let cases = [
            ([0.55, 0.5, 0.61, 100.0], 10.0, 0, 0.1955819637999269397071),
            ([0.55, 0.5, 0.61, 100.0], 10.0, 7, 0.03340768289589731398301),
            ([0.55, 1e6, 0.61, 0.01], 39.0, 0, 0.999999659412239375087),
            ([0.55, 1e6, 0.61, 0.01], 39.0, 1, 3.405817488401468809425e-7),
            ([2.0, 1e-4, 0.3, 50.0], 2.0, 3, 6.097120529476160060329e-7),
        ];
        for (p, t, n, expected) in cases {
            let m = ParetoNbd::new(p[0], p[1], p[2], p[3]).unwrap();
            let got = m.probability_of_purchases(t, n).unwrap();
            assert!(
                (got - expected).abs() < 1e-12 * expected.max(1e-3),
                "{p:?} P(X({t}) = {n}) = {got}, mpmath {expected}"
            );
        }
        let m = ParetoNbd::new(0.55, 0.5, 0.61, 100.0).unwrap();
        let total: f64 = (0..400).map(|n| m.probability_of_purchases(10.0, n).unwrap()).sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
        // Hundreds of purchases below the switch, where the series does not
        // settle and the quadrature takes over (mpmath's quad, dps 50).
        let m = ParetoNbd::new(2.0, 1.0, 1.5, 40.0).unwrap();
        for (n, expected) in
            [(100, 1.9208387288996523437e-29), (273, 4.3504278395704448157e-81), (350, 3.6876814681975338037e-104)]
        {
            let got = m.probability_of_purchases(1.0, n).unwrap();
            assert!((got / expected - 1.0).abs() < 1e-9, "P(X(1) = {n}) = {got}, mpmath {expected}");
        }
    }

    /// The column functions equal the per-customer ones and name a bad row.
    #[test]
    fn column_predictions_equal_the_per_customer_ones() {
        let m = published();
        let x: Array1<f64> = (0..300).map(|i| f64::from(i % 8)).collect();
        let age: Array1<f64> = (0..300).map(|i| 20.0 + f64::from(i % 19)).collect();
        let t_x: Array1<f64> =
            (0..300).map(|i| if i % 8 == 0 { 0.0 } else { age[i as usize] / f64::from(1 + i % 3) }).collect();
        let alive = m.probability_alive_columns(x.view(), t_x.view(), age.view()).unwrap();
        let expected = m.conditional_expected_purchases_columns(52.0, x.view(), t_x.view(), age.view()).unwrap();
        for i in 0..300 {
            assert_eq!(alive[i], m.probability_alive(x[i], t_x[i], age[i]).unwrap());
            assert_eq!(expected[i], m.conditional_expected_purchases(52.0, x[i], t_x[i], age[i]).unwrap());
        }
        let mut bad = x.clone();
        bad[5] = 1.5;
        let e = m.conditional_expected_purchases_columns(52.0, bad.view(), t_x.view(), age.view()).unwrap_err();
        assert!(matches!(e, Error::InvalidModelInput { row: 5, .. }), "{e}");
        let short: Array1<f64> = age.iter().skip(1).copied().collect();
        assert!(m.probability_alive_columns(x.view(), t_x.view(), short.view()).is_err());
    }

    /// Below the switch to quadrature both ways of computing A0 agree.
    #[test]
    fn quadrature_agrees_with_the_series() {
        for (p, x, t_x, t) in [
            ([0.55f64, 10.6, 0.61, 1.2], 0.0, 0.0, 39.0),
            ([0.55, 10.6, 0.61, 1.2], 3.0, 1.5, 39.0),
            ([0.55, 30.0, 0.61, 4.0], 2500.0, 37.9, 39.0),
            ([0.3, 0.5, 0.8, 4.0], 0.0, 0.0, 12.0),
            ([0.3, 0.5, 0.8, 4.0], 5.0, 0.2, 12.0),
            ([2.0, 3.0, 40.0, 30.0], 1.0, 0.0001, 30.0),
        ] {
            let (r, alpha, s, beta) = (p[0], p[1], p[2], p[3]);
            assert!((alpha - beta).abs() / (alpha.max(beta) + t_x) <= SERIES_UP_TO);
            let series = ln_a0_scaled(&p, x, t_x, t).unwrap() - (r + x) * alpha.ln() - s * beta.ln();
            let quadrature = (r + s + x).ln() + ln_drop_out_integral(&p, x, t_x, t).unwrap();
            assert!((series - quadrature).abs() < 1e-12 * series.abs().max(1.0), "{p:?} {x}: {series} vs {quadrature}");
        }
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
        // α up to 10¹⁵ times β, either way round (quadrature; checked against
        // mpmath in `extreme_alpha_beta_ratios_against_mpmath`).
        for (alpha, beta) in [(1e4, 11.0), (1e12, 11.0), (1e16, 11.0), (11.0, 1e16), (1e-6, 1e9)] {
            let m = ParetoNbd::new(0.5, alpha, 0.6, beta).unwrap();
            for (x, t_x, t) in [(0.0, 0.0, 20.0), (3.0, 10.0, 20.0), (4000.0, 19.0, 20.0)] {
                let ll = m.log_likelihood(x, t_x, t).unwrap();
                let p = m.probability_alive(x, t_x, t).unwrap();
                assert!(ll.is_finite() && (0.0..=1.0).contains(&p), "{alpha} {beta} {x}: {ll} {p}");
            }
        }
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
