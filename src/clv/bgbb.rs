//! BG/BB: the beta-geometric / beta-Bernoulli model of discrete
//! opportunities (Fader, Hardie & Shang 2010) — e.g. yearly donations,
//! annual events, weekly newsletters.
//!
//! While alive a customer transacts at each opportunity with probability
//! p ~ Beta(α, β); before each opportunity they drop out with probability
//! θ ~ Beta(γ, δ).

use std::collections::BTreeMap;

use ndarray::{Array1, ArrayView1};

use super::fit::{self, FitOptions, FitReport};
use crate::domain::table::CustomerTable;
use crate::domain::time::TimeUnit;
use crate::error::{Error, Result};
use crate::log::summary::PurchaseSummary;
use crate::math::quadrature;
use crate::math::series::hyp2f1_positive;
use crate::math::special::{
    exp_m1_over, ln_1p_over, ln_beta, ln_beta_shift, ln_gamma, ln_gamma_ratio, ln_gamma_slope, softplus,
};

const MODEL: &str = "BG/BB";

/// The most opportunities a pattern may have: the likelihood sums over the
/// opportunities after the last transaction, so this bounds its cost.
pub const MAX_OPPORTUNITIES: f64 = 100_000.0;

validated_serde! {
/// A BG/BB model with parameters `alpha`, `beta` (transaction) and `gamma`,
/// `delta` (drop-out).
///
/// ```
/// use customer_lifecycle::clv::BetaGeoBetaBinom;
///
/// let model = BetaGeoBetaBinom::new(1.2035, 0.7498, 0.6568, 2.7839)?;
/// // A donor who gave in 6 of 6 years is very likely alive next year.
/// assert!((model.probability_alive_in(1.0, 6.0, 6.0, 6.0)? - 0.930).abs() < 1e-3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Debug)]
pub struct BetaGeoBetaBinom {
    format_version: u32,
    alpha: f64,
    beta: f64,
    gamma: f64,
    delta: f64,
    report: Option<FitReport>,
    time_unit: Option<TimeUnit>,
}
}

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
    /// ```
    /// use customer_lifecycle::clv::BetaGeoBetaBinom;
    /// let model = BetaGeoBetaBinom::new(1.2035, 0.7498, 0.6568, 2.7839)?; // donations, Fader, Hardie & Shang (2010)
    /// assert!(BetaGeoBetaBinom::new(1.0, 1.0, 1.0, 0.0).is_err());
    /// # let _ = model;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] unless all four are finite and positive.
    pub fn new(alpha: f64, beta: f64, gamma: f64, delta: f64) -> Result<BetaGeoBetaBinom> {
        super::check_parameters(MODEL, &[("alpha", alpha), ("beta", beta), ("gamma", gamma), ("delta", delta)])?;
        Ok(BetaGeoBetaBinom {
            format_version: super::MODEL_FORMAT_VERSION,
            alpha,
            beta,
            gamma,
            delta,
            report: None,
            time_unit: None,
        })
    }

    /// Fits the model to a summary in whole periods: x = frequency (repeat
    /// purchases), t_x = recency and n = age, each a whole number of
    /// opportunities. Use calendar periods
    /// ([`DurationMode::Calendar`](crate::DurationMode::Calendar)), so that
    /// every period is one opportunity; the calibration columns when the
    /// summary is split.
    ///
    /// ```
    /// use customer_lifecycle::{DurationMode, SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::chrono::NaiveDate;
    /// use customer_lifecycle::clv::BetaGeoBetaBinom;
    ///
    /// // Monthly opportunities: did the customer buy in each calendar month?
    /// let summary = TransactionLog::cdnow_sample()?.summarize(
    ///     &SummaryOptions::new(TimeUnit::Month).duration_mode(DurationMode::Calendar)
    ///         .observation_end(NaiveDate::from_ymd_opt(1998, 6, 30).unwrap()),
    /// )?;
    /// let model = BetaGeoBetaBinom::fit(&summary)?;
    /// let alive = model.probability_alive_all(&summary)?;
    /// assert!(alive.column("p_alive").unwrap().iter().all(|p| (0.0..=1.0).contains(p)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidModelInput`] naming the customer's row for a value
    /// that is not a whole number of opportunities or an impossible pattern;
    /// as [`BetaGeoBetaBinom::fit_grouped`].
    pub fn fit(summary: &PurchaseSummary) -> Result<BetaGeoBetaBinom> {
        BetaGeoBetaBinom::fit_with(summary, &FitOptions::default())
    }

    /// [`BetaGeoBetaBinom::fit`] with options.
    ///
    /// ```
    /// use customer_lifecycle::{DurationMode, SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::clv::{BetaGeoBetaBinom, FitOptions};
    ///
    /// let summary = TransactionLog::cdnow_sample()?
    ///     .summarize(&SummaryOptions::new(TimeUnit::Month).duration_mode(DurationMode::Calendar))?;
    /// let model = BetaGeoBetaBinom::fit_with(&summary, &FitOptions::default().max_iterations(2000))?;
    /// assert!(model.report().unwrap().converged);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`BetaGeoBetaBinom::fit`], plus [`Error::InvalidArgument`] for bad options.
    pub fn fit_with(summary: &PurchaseSummary, options: &FitOptions) -> Result<BetaGeoBetaBinom> {
        let (x, t_x, age) = (summary.frequency(), summary.recency(), summary.age());
        let model = summary.naming(BetaGeoBetaBinom::fit_columns(x, t_x, age, options))?;
        Ok(model.in_unit(summary.periods().unit()))
    }

    /// Fits the model to columns x, t_x and n, one row per customer; equal
    /// rows are grouped before the fit.
    ///
    /// ```
    /// use customer_lifecycle::clv::{BetaGeoBetaBinom, FitOptions};
    ///
    /// let truth = BetaGeoBetaBinom::new(1.2, 0.75, 0.66, 2.78)?;
    /// let (x, t_x) = truth.simulate(5_000, 6, 7)?;
    /// let n = x.mapv(|_| 6.0);
    /// let model = BetaGeoBetaBinom::fit_columns(x.view(), t_x.view(), n.view(), &FitOptions::default())?;
    /// assert!((model.parameters().0 - 1.2).abs() < 0.5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`BetaGeoBetaBinom::fit`].
    pub fn fit_columns(
        x: ArrayView1<'_, f64>,
        t_x: ArrayView1<'_, f64>,
        age: ArrayView1<'_, f64>,
        options: &FitOptions,
    ) -> Result<BetaGeoBetaBinom> {
        if t_x.len() != x.len() || age.len() != x.len() {
            return Err(Error::InvalidArgument {
                name: "model input",
                reason: format!("{MODEL}: columns of lengths {}, {} and {}", x.len(), t_x.len(), age.len()),
            });
        }
        // Group equal patterns (whole numbers, so exact keys), in first-seen
        // order so that the fit does not depend on a hash order.
        let mut index: BTreeMap<(u64, u64, u64), usize> = BTreeMap::new();
        let mut rows: Vec<(f64, f64, f64, f64)> = Vec::new();
        for i in 0..x.len() {
            check_row(i, x[i], t_x[i], age[i])?;
            let key = (x[i] as u64, t_x[i] as u64, age[i] as u64);
            match index.get(&key) {
                Some(&k) => rows[k].3 += 1.0,
                None => {
                    index.insert(key, rows.len());
                    rows.push((x[i], t_x[i], age[i], 1.0));
                }
            }
        }
        let column = |f: fn(&(f64, f64, f64, f64)) -> f64| rows.iter().map(f).collect::<Array1<f64>>();
        let (gx, gt, gn, gw) = (column(|r| r.0), column(|r| r.1), column(|r| r.2), column(|r| r.3));
        BetaGeoBetaBinom::fit_grouped(gx.view(), gt.view(), gn.view(), gw.view(), options)
    }

    /// Fits on grouped data: each row is a pattern of x purchases, the last
    /// at opportunity t_x, out of n opportunities, shared by `weights`
    /// customers (the form in which such data are usually published).
    ///
    /// ```
    /// use customer_lifecycle::clv::{BetaGeoBetaBinom, FitOptions};
    /// use customer_lifecycle::ndarray::array;
    ///
    /// // Fader, Hardie & Shang's donations: the 22 patterns of 6 yearly
    /// // opportunities with their head counts (11,104 donors).
    /// let x = array![0., 1., 1., 1., 1., 1., 1., 2., 2., 2., 2., 2., 3., 3., 3., 3., 4., 4., 4., 5., 5., 6.];
    /// let t_x = array![0., 1., 2., 3., 4., 5., 6., 2., 3., 4., 5., 6., 3., 4., 5., 6., 4., 5., 6., 5., 6., 6.];
    /// let n = x.mapv(|_| 6.0);
    /// let w = array![3464., 1091., 277., 129., 78., 119., 129., 613., 255., 155., 173., 234., 322., 181., 225., 357.,
    ///     240., 284., 512., 335., 728., 1203.];
    /// let model = BetaGeoBetaBinom::fit_grouped(x.view(), t_x.view(), n.view(), w.view(), &FitOptions::default())?;
    /// let (alpha, beta, gamma, delta) = model.parameters();
    /// assert!((alpha - 1.204).abs() < 1e-3 && (beta - 0.750).abs() < 1e-3);
    /// assert!((gamma - 0.657).abs() < 1e-3 && (delta - 2.784).abs() < 1e-3);
    /// assert_eq!(model.report().unwrap().observations, 11_104.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
                    customer: None,
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
        let age_zero = (0..n).filter(|&i| opportunities[i] == 0.0).map(|i| weights[i]).sum::<f64>() as usize;
        let p = &report.parameters;
        let mut model = BetaGeoBetaBinom::new(p[0], p[1], p[2], p[3])?;
        model.report = Some(FitReport { age_zero, ..report });
        Ok(model)
    }

    /// The parameters `(alpha, beta, gamma, delta)`.
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeoBetaBinom;
    /// assert_eq!(BetaGeoBetaBinom::new(1.0, 2.0, 3.0, 4.0)?.parameters(), (1.0, 2.0, 3.0, 4.0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parameters(&self) -> (f64, f64, f64, f64) {
        (self.alpha, self.beta, self.gamma, self.delta)
    }

    /// The fit report, when fitted.
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeoBetaBinom;
    /// assert!(BetaGeoBetaBinom::new(1.0, 2.0, 3.0, 4.0)?.report().is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn report(&self) -> Option<&FitReport> {
        self.report.as_ref()
    }

    /// The time unit of the summary the model was fitted on (`None` when
    /// built from parameters or fitted on bare columns); one opportunity is
    /// one period of it.
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeoBetaBinom;
    /// assert_eq!(BetaGeoBetaBinom::new(1.2035, 0.7498, 0.6568, 2.7839)?.time_unit(), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn time_unit(&self) -> Option<TimeUnit> {
        self.time_unit
    }

    /// The same model, one opportunity declared to be one period of `unit`.
    ///
    /// ```
    /// use customer_lifecycle::TimeUnit;
    /// use customer_lifecycle::clv::BetaGeoBetaBinom;
    /// let yearly = BetaGeoBetaBinom::new(1.2035, 0.7498, 0.6568, 2.7839)?.in_unit(TimeUnit::Days(365));
    /// assert_eq!(yearly.time_unit(), Some(TimeUnit::Days(365)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn in_unit(mut self, unit: TimeUnit) -> BetaGeoBetaBinom {
        self.time_unit = Some(unit);
        self
    }

    /// Delta-method standard error of any prediction of this fitted model
    /// (see [`crate::clv::BetaGeo::standard_error`]).
    ///
    /// ```
    /// use customer_lifecycle::clv::{BetaGeoBetaBinom, FitOptions};
    /// let (x, t_x) = BetaGeoBetaBinom::new(1.2, 0.75, 0.66, 2.78)?.simulate(5_000, 6, 3)?;
    /// let n = x.mapv(|_| 6.0);
    /// let model = BetaGeoBetaBinom::fit_columns(x.view(), t_x.view(), n.view(), &FitOptions::default())?;
    /// let se = model.standard_error(|m| m.probability_alive(3.0, 4.0, 6.0))?;
    /// assert!(se > 0.0 && se < 0.1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`crate::clv::BetaGeo::standard_error`].
    pub fn standard_error(&self, prediction: impl Fn(&BetaGeoBetaBinom) -> Result<f64>) -> Result<f64> {
        fit::standard_error_of(self.report.as_ref(), |p| BetaGeoBetaBinom::new(p[0], p[1], p[2], p[3]), prediction)
    }

    /// One customer's log-likelihood: x purchases, the last at opportunity
    /// t_x, out of n = `age` opportunities.
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeoBetaBinom;
    /// let model = BetaGeoBetaBinom::new(1.2035, 0.7498, 0.6568, 2.7839)?;
    /// assert!(model.log_likelihood(3.0, 4.0, 6.0)? < 0.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidModelInput`] for an impossible row.
    pub fn log_likelihood(&self, x: f64, t_x: f64, age: f64) -> Result<f64> {
        check_row(0, x, t_x, age)?;
        Ok(row_log_likelihood(&self.array(), x, t_x, age))
    }

    /// P(any further purchase) after the `age` = n opportunities: P(alive)
    /// times the chance that an alive customer buys at some later
    /// opportunity before dying, E[p(1−θ)/(p + θ − pθ)] with
    /// p ~ Beta(α+x, β+n−x) and θ ~ Beta(γ, δ+n) (their distribution given
    /// the history and alive; at each opportunity the customer first
    /// survives with 1 − θ, then buys with p), by nested quadrature.
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeoBetaBinom;
    /// let model = BetaGeoBetaBinom::new(1.2035, 0.7498, 0.6568, 2.7839)?;
    /// let any = model.probability_any_purchase(3.0, 4.0, 6.0)?;
    /// assert!(0.0 < any && any < model.probability_alive(3.0, 4.0, 6.0)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`BetaGeoBetaBinom::probability_alive`].
    pub fn probability_any_purchase(&self, x: f64, t_x: f64, age: f64) -> Result<f64> {
        let alive = self.probability_alive(x, t_x, age)?;
        let (a, b, g, d) = self.parameters();
        let (pa, pb) = (a + x, b + (age - x));
        let (ta, tb) = (g, d + age);
        let (ln_bp, ln_bt) = (ln_beta(pa, pb), ln_beta(ta, tb));
        let failed = std::cell::Cell::new(false);
        // ln of the inner integral over p at θ: E_p[p/(p + θ(1−p))].
        let inner = |theta: f64| -> f64 {
            let h = |p: f64, q: f64| pa * p.ln() + (pb - 1.0) * q.ln() - ln_bp - (p + theta * q).ln();
            quadrature::ln_integral_unit(&h).unwrap_or_else(|| {
                failed.set(true);
                f64::NAN
            })
        };
        let outer = |theta: f64, one_minus: f64| (ta - 1.0) * theta.ln() + tb * one_minus.ln() - ln_bt + inner(theta);
        let ln_share =
            quadrature::ln_integral_unit(&outer).filter(|_| !failed.get()).ok_or_else(|| Error::InvalidModelInput {
                model: "BG/BB",
                row: 0,
                customer: None,
                reason: format!("P(any further purchase) could not be integrated at x = {x}, n = {age}"),
            })?;
        Ok((alive * ln_share.exp().min(1.0)).clamp(0.0, 1.0))
    }

    /// P(alive) now, at the last of the n = `age` opportunities, given x
    /// purchases with the last at opportunity t_x (the meaning
    /// `probability_alive` has in every model).
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeoBetaBinom;
    /// let model = BetaGeoBetaBinom::new(1.2035, 0.7498, 0.6568, 2.7839)?;
    /// // A donor who gave in 6 of 6 years is alive now: nobody drops out and then gives.
    /// assert!((model.probability_alive(6.0, 6.0, 6.0)? - 1.0).abs() < 1e-12);
    /// assert!(model.probability_alive(1.0, 1.0, 6.0)? < 0.5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidModelInput`] for an impossible row.
    pub fn probability_alive(&self, x: f64, t_x: f64, age: f64) -> Result<f64> {
        self.probability_alive_in(0.0, x, t_x, age)
    }

    /// P(alive at opportunity n + t), t = 0, 1, 2, …: alive now and not
    /// dropping out before any of the next t opportunities. With t = 1 this
    /// is lifetimes' `conditional_probability_alive(1, …)`.
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeoBetaBinom;
    /// let model = BetaGeoBetaBinom::new(1.2035, 0.7498, 0.6568, 2.7839)?;
    /// assert!((model.probability_alive_in(1.0, 6.0, 6.0, 6.0)? - 0.930).abs() < 1e-3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`BetaGeoBetaBinom::probability_alive`], plus a negative or fractional `t`.
    pub fn probability_alive_in(&self, t: f64, x: f64, t_x: f64, age: f64) -> Result<f64> {
        check_opportunities(t)?;
        check_row(0, x, t_x, age)?;
        Ok(self.p_alive_unchecked(t, x, t_x, age))
    }

    fn p_alive_unchecked(&self, t: f64, x: f64, t_x: f64, n: f64) -> f64 {
        // Alive through the n opportunities and the next t, over L: the
        // likelihood's first term cancels, leaving 1 / (1 + dropped/alive)
        // and the Beta factor of the t more opportunities survived.
        let (_, _, g, d) = self.parameters();
        let later = ln_beta_shift(g, d + n, t);
        (later - softplus(ln_dropped_over_alive(&self.array(), x, t_x, n))).exp().min(1.0)
    }

    /// Probability of no purchase in the next `t` opportunities:
    /// L(x, t_x, n + t) / L(x, t_x, n) (the likelihood of the longer
    /// pattern is that of the same purchases followed by none).
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeoBetaBinom;
    /// let model = BetaGeoBetaBinom::new(1.2035, 0.7498, 0.6568, 2.7839)?;
    /// assert_eq!(model.probability_no_purchase(0.0, 3.0, 4.0, 6.0)?, 1.0);
    /// assert!(model.probability_no_purchase(2.0, 3.0, 4.0, 6.0)? < model.probability_no_purchase(1.0, 3.0, 4.0, 6.0)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`BetaGeoBetaBinom::probability_alive`], plus a negative or fractional `t`.
    pub fn probability_no_purchase(&self, t: f64, x: f64, t_x: f64, age: f64) -> Result<f64> {
        check_opportunities(t)?;
        check_row(0, x, t_x, age)?;
        check_row(0, x, t_x, age + t)?;
        let now = row_log_likelihood(&self.array(), x, t_x, age);
        let later = row_log_likelihood(&self.array(), x, t_x, age + t);
        Ok((later - now).exp().min(1.0))
    }

    /// P(X(t) = n): the probability that a new customer makes exactly `n`
    /// purchases in the first `t` opportunities (Fader, Hardie & Shang
    /// 2010): alive throughout, or dropping out after opportunity i ≥ n.
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeoBetaBinom;
    /// let model = BetaGeoBetaBinom::new(1.2035, 0.7498, 0.6568, 2.7839)?;
    /// let total: f64 = (0..=6).map(|n| model.probability_of_purchases(6.0, n).unwrap()).sum();
    /// assert!((total - 1.0).abs() < 1e-12);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// A negative, fractional or too large `t`.
    pub fn probability_of_purchases(&self, t: f64, n: u32) -> Result<f64> {
        check_opportunities(t)?;
        if t > MAX_OPPORTUNITIES {
            return Err(Error::InvalidArgument {
                name: "opportunities",
                reason: format!("{t}: at most {MAX_OPPORTUNITIES} are supported"),
            });
        }
        let opportunities = t as u32;
        if n > opportunities {
            return Ok(0.0);
        }
        let (a, b, g, d) = self.parameters();
        let xf = f64::from(n);
        let ln_choose = |m: f64, k: f64| ln_gamma(m + 1.0) - ln_gamma(k + 1.0) - ln_gamma(m - k + 1.0);
        let base = ln_beta(a, b) + ln_beta(g, d);
        let nf = f64::from(opportunities);
        let mut total = (ln_choose(nf, xf) + ln_beta(a + xf, b + nf - xf) + ln_beta(g, d + nf) - base).exp();
        for i in n..opportunities {
            let i = f64::from(i);
            total += (ln_choose(i, xf) + ln_beta(a + xf, b + i - xf) + ln_beta(g + 1.0, d + i) - base).exp();
        }
        finite(total)
    }

    /// P(X(n, n + t] = k | x, t_x, n): the probability that the customer
    /// makes exactly `k` purchases in the next `t` opportunities. A
    /// customer gone buys nothing; one alive (probability P(alive))
    /// continues as a new BG/BB customer would whose p and θ follow their
    /// distribution given the history, Beta(α+x, β+n−x) and Beta(γ, δ+n),
    /// so this is (1 − P(alive)) [k = 0] + P(alive) P(X(t) = k) at
    /// (α+x, β+n−x, γ, δ+n). The probabilities sum to 1 and their mean is
    /// [`BetaGeoBetaBinom::conditional_expected_purchases`].
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeoBetaBinom;
    /// let model = BetaGeoBetaBinom::new(1.2035, 0.7498, 0.6568, 2.7839)?;
    /// let p: Vec<f64> = (0..=5).map(|k| model.conditional_probability_of_purchases(5.0, k, 3.0, 4.0, 6.0).unwrap()).collect();
    /// assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    /// let mean: f64 = p.iter().enumerate().map(|(k, p)| k as f64 * p).sum();
    /// assert!((mean - model.conditional_expected_purchases(5.0, 3.0, 4.0, 6.0)?).abs() < 1e-10);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`BetaGeoBetaBinom::conditional_expected_purchases`].
    pub fn conditional_probability_of_purchases(&self, t: f64, k: u32, x: f64, t_x: f64, age: f64) -> Result<f64> {
        let alive = self.probability_alive(x, t_x, age)?;
        let (a, b, g, d) = self.parameters();
        let ahead = BetaGeoBetaBinom::new(a + x, b + (age - x), g, d + age)?;
        let gone = if k == 0 { 1.0 - alive } else { 0.0 };
        Ok((gone + alive * ahead.probability_of_purchases(t, k)?).clamp(0.0, 1.0))
    }

    /// Expected purchases of a new customer over the first `t` opportunities:
    /// α/(α+β) · δ/(γ−1) · [1 − Γ(γ+δ)Γ(1+δ+t) / (Γ(γ+δ+t)Γ(1+δ))].
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeoBetaBinom;
    /// let model = BetaGeoBetaBinom::new(1.2035, 0.7498, 0.6568, 2.7839)?;
    /// assert!(model.expected_purchases_new_customer(6.0)? > model.expected_purchases_new_customer(1.0)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for negative `t`, or γ = 1.
    pub fn expected_purchases_new_customer(&self, t: f64) -> Result<f64> {
        check_count(t)?;
        let (a, b, g, d) = self.parameters();
        // Γ(1+δ+t)/Γ(γ+δ+t) in a form that keeps its precision at any horizon.
        let ratio = (ln_gamma(g + d) - ln_gamma(1.0 + d) + ln_gamma_ratio(1.0 + d + t, g - 1.0)).exp();
        finite(a / (a + b) * d / (g - 1.0) * (1.0 - ratio))
    }

    /// Expected purchases in the next `t` opportunities of a customer with
    /// x purchases, the last at t_x, out of n (Fader, Hardie & Shang 2010,
    /// eq. 13): P(alive) times [`BetaGeoBetaBinom::expected_purchases_if_alive`].
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeoBetaBinom;
    /// let model = BetaGeoBetaBinom::new(1.2035, 0.7498, 0.6568, 2.7839)?;
    /// // lifetimes 0.11.3: conditional_expected_number_of_purchases_up_to_time(5, 3, 4, 6).
    /// assert!((model.conditional_expected_purchases(5.0, 3.0, 4.0, 6.0)? - 1.034_537_75).abs() < 1e-7);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`BetaGeoBetaBinom::probability_alive`], plus negative `t` or γ = 1.
    pub fn conditional_expected_purchases(&self, t: f64, x: f64, t_x: f64, age: f64) -> Result<f64> {
        check_count(t)?;
        check_row(0, x, t_x, age)?;
        finite(self.p_alive_unchecked(0.0, x, t_x, age) * self.if_alive(t, x, age))
    }

    /// Expected purchases in the next `t` opportunities given alive now, a
    /// function of x and n alone: (α+x)/(α+β+n) · δ/(γ−1) · Γ(γ+δ)/Γ(1+δ)
    /// · [Γ(1+δ+n)/Γ(γ+δ+n) − Γ(1+δ+n+t)/Γ(γ+δ+n+t)] · B(γ, δ)/B(γ, δ+n).
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeoBetaBinom;
    /// let model = BetaGeoBetaBinom::new(1.2035, 0.7498, 0.6568, 2.7839)?;
    /// let (alive, if_alive) = (model.probability_alive(3.0, 4.0, 6.0)?, model.expected_purchases_if_alive(5.0, 3.0, 6.0)?);
    /// assert!((alive * if_alive - model.conditional_expected_purchases(5.0, 3.0, 4.0, 6.0)?).abs() < 1e-12);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`BetaGeoBetaBinom::conditional_expected_purchases`] (t_x is not needed).
    pub fn expected_purchases_if_alive(&self, t: f64, x: f64, age: f64) -> Result<f64> {
        check_count(t)?;
        check_row(0, x, if x == 0.0 { 0.0 } else { age }, age)?;
        finite(self.if_alive(t, x, age))
    }

    /// [`BetaGeoBetaBinom::expected_purchases_if_alive`] at each of `horizons`, for
    /// one x and age, into `out` (one call per horizon: nothing to share).
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeoBetaBinom;
    /// let model = BetaGeoBetaBinom::new(1.2035, 0.7498, 0.6568, 2.7839)?;
    /// let mut out = Vec::new();
    /// model.expected_purchases_if_alive_at(&[1.0, 5.0], 3.0, 6.0, &mut out)?;
    /// assert_eq!(out, [model.expected_purchases_if_alive(1.0, 3.0, 6.0)?, model.expected_purchases_if_alive(5.0, 3.0, 6.0)?]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`BetaGeoBetaBinom::expected_purchases_if_alive`], for the first horizon
    /// that fails.
    pub fn expected_purchases_if_alive_at(&self, horizons: &[f64], x: f64, age: f64, out: &mut Vec<f64>) -> Result<()> {
        out.clear();
        for &t in horizons {
            out.push(self.expected_purchases_if_alive(t, x, age)?);
        }
        Ok(())
    }

    fn if_alive(&self, t: f64, x: f64, n: f64) -> f64 {
        let (a, b, g, d) = self.parameters();
        if t == 0.0 {
            return 0.0;
        }
        // The published form's Γ(γ+δ)/Γ(1+δ) · Γ(1+δ+n)/Γ(γ+δ+n) ·
        // B(γ, δ)/B(γ, δ+n) is (δ+n)/δ, so this is
        // (α+x)/(α+β+n) · (δ+n) · (1 − e^D)/(γ − 1), with c = 1+δ+n, ε = γ−1 and
        // D = ln Γ(c+t) − ln Γ(c) − ln Γ(c+ε+t) + ln Γ(c+ε) = −ε Q:
        // Q = Σⱼ ln(1 + ε/(c+j)) / ε over j < t (a whole t, short next to c),
        // or the difference of ln Γ's slopes over [c+t, c+t+ε] and [c, c+ε].
        // (1 − e^D)/ε = Q (e^(−εQ) − 1)/(−εQ): no 0/0 as γ → 1, whose limit
        // is δ [ψ(1+δ+n+t) − ψ(1+δ+n)] · B(γ, δ+n)/B(γ, δ) · (δ+n)/δ.
        let (c, e) = (1.0 + d + n, g - 1.0);
        let whole = t.fract() == 0.0;
        let q = if whole && (t <= 64.0 || (t <= MAX_OPPORTUNITIES && 100.0 * t < c + e.max(0.0))) {
            let mut q = 0.0;
            let mut j = 0.0;
            while j < t {
                q += ln_1p_over(e / (c + j)) / (c + j);
                j += 1.0;
            }
            q
        } else {
            ln_gamma_slope(c + t, e) - ln_gamma_slope(c, e)
        };
        // Away from γ = 1 as (1 − e^D)/ε itself, which rises with the horizon
        // to the last digit (Q · E(−εQ) rounds twice).
        let share = if (e * q).abs() > 0.5 { -(-e * q).exp_m1() / e } else { q * exp_m1_over(-e * q) };
        (a + x) / (a + b + n) * (d + n) * share
    }

    /// Discounted expected residual purchases (DERT) of a customer with
    /// x purchases, the last at t_x, out of n: the expected number of
    /// future purchases, the one at opportunity n + k discounted by
    /// (1 + `discount_rate`)^(−k) (Fader, Hardie & Shang 2010):
    /// B(α+x+1, β+n−x)/B(α, β) · B(γ, δ+n+1)/B(γ, δ) / (1+d)
    /// · ₂F₁(1, δ+n+1; γ+δ+n+1; 1/(1+d)) / L. The rate is per opportunity,
    /// the same kind of number as Pareto/NBD's per unit of time.
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeoBetaBinom;
    /// let model = BetaGeoBetaBinom::new(1.2035, 0.7498, 0.6568, 2.7839)?;
    /// assert!(model.discounted_expected_residual_purchases(0.1, 6.0, 6.0, 6.0)? > model.discounted_expected_residual_purchases(0.1, 1.0, 1.0, 6.0)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`BetaGeoBetaBinom::probability_alive`], plus a rate ≤ 0 or non-finite.
    pub fn discounted_expected_residual_purchases(
        &self,
        discount_rate: f64,
        x: f64,
        t_x: f64,
        age: f64,
    ) -> Result<f64> {
        check_row(0, x, t_x, age)?;
        super::check_discount_rate(discount_rate)?;
        let (a, b, g, dl) = self.parameters();
        let n = age;
        let ll = row_log_likelihood(&self.array(), x, t_x, n);
        let lead = ln_beta(a + x + 1.0, b + (n - x)) - ln_beta(a, b) + ln_beta(g, dl + n + 1.0) - ln_beta(g, dl) - ll;
        let series =
            hyp2f1_positive(1.0, dl + n + 1.0, g + dl + n + 1.0, 1.0 / (1.0 + discount_rate)).ok_or_else(|| {
                Error::InvalidArgument { name: "BG/BB parameters", reason: "the DERT series did not converge".into() }
            })?;
        finite(lead.exp() / (1.0 + discount_rate) * series)
    }

    /// P(alive) now for columns of x, t_x and n, one value per customer.
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
        x: ArrayView1<'_, f64>,
        t_x: ArrayView1<'_, f64>,
        age: ArrayView1<'_, f64>,
    ) -> Result<Array1<f64>> {
        by_row(x, t_x, age, |x, t_x, n| Ok(self.p_alive_unchecked(0.0, x, t_x, n)))
    }

    /// Expected purchases in the next `t` opportunities for columns of x,
    /// t_x and n (see [`BetaGeoBetaBinom::conditional_expected_purchases`]).
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeoBetaBinom;
    /// use customer_lifecycle::ndarray::array;
    ///
    /// let model = BetaGeoBetaBinom::new(1.2035, 0.7497, 0.6567, 2.7834)?;
    /// let (x, t_x, n) = (array![0.0, 3.0], array![0.0, 4.0], array![6.0, 6.0]);
    /// let expected = model.conditional_expected_purchases_columns(5.0, x.view(), t_x.view(), n.view())?;
    /// assert!(expected[1] > expected[0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`BetaGeoBetaBinom::probability_alive_columns`], plus a negative
    /// `t` or γ = 1.
    pub fn conditional_expected_purchases_columns(
        &self,
        t: f64,
        x: ArrayView1<'_, f64>,
        t_x: ArrayView1<'_, f64>,
        age: ArrayView1<'_, f64>,
    ) -> Result<Array1<f64>> {
        check_count(t)?;
        by_row(x, t_x, age, |x, t_x, n| finite(self.p_alive_unchecked(0.0, x, t_x, n) * self.if_alive(t, x, n)))
    }

    /// DERT at `discount_rate` per opportunity for columns of x, t_x and n
    /// (see [`BetaGeoBetaBinom::discounted_expected_residual_purchases`]).
    ///
    /// ```
    /// use customer_lifecycle::clv::BetaGeoBetaBinom;
    /// use customer_lifecycle::ndarray::array;
    ///
    /// let model = BetaGeoBetaBinom::new(1.2035, 0.7497, 0.6567, 2.7834)?;
    /// let (x, t_x, n) = (array![0.0, 3.0], array![0.0, 4.0], array![6.0, 6.0]);
    /// let dert = model.discounted_expected_residual_purchases_columns(0.1, x.view(), t_x.view(), n.view())?;
    /// assert!(dert[1] > dert[0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`BetaGeoBetaBinom::probability_alive_columns`], plus a rate ≤ 0 or
    /// non-finite.
    pub fn discounted_expected_residual_purchases_columns(
        &self,
        discount_rate: f64,
        x: ArrayView1<'_, f64>,
        t_x: ArrayView1<'_, f64>,
        age: ArrayView1<'_, f64>,
    ) -> Result<Array1<f64>> {
        by_row(x, t_x, age, |x, t_x, n| self.discounted_expected_residual_purchases(discount_rate, x, t_x, n))
    }

    /// P(alive) now for every customer of a summary in whole periods.
    ///
    /// ```
    /// use customer_lifecycle::{DurationMode, SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::clv::BetaGeoBetaBinom;
    ///
    /// let summary = TransactionLog::cdnow_sample()?
    ///     .summarize(&SummaryOptions::new(TimeUnit::Month).duration_mode(DurationMode::Calendar))?;
    /// let alive = BetaGeoBetaBinom::new(1.2, 0.75, 0.66, 2.78)?.probability_alive_all(&summary)?;
    /// assert_eq!(alive.len(), summary.len());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`BetaGeoBetaBinom::probability_alive_columns`].
    pub fn probability_alive_all(&self, summary: &PurchaseSummary) -> Result<CustomerTable> {
        summary.keyed("p_alive", self.probability_alive_columns(summary.frequency(), summary.recency(), summary.age()))
    }

    /// Expected purchases in the next `t` opportunities for every customer of a summary.
    ///
    /// ```
    /// use customer_lifecycle::{DurationMode, SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::clv::BetaGeoBetaBinom;
    ///
    /// let summary = TransactionLog::cdnow_sample()?
    ///     .summarize(&SummaryOptions::new(TimeUnit::Month).duration_mode(DurationMode::Calendar))?;
    /// let next_year = BetaGeoBetaBinom::new(1.2, 0.75, 0.66, 2.78)?.conditional_expected_purchases_all(12.0, &summary)?;
    /// assert!(next_year.column("expected_purchases").unwrap().iter().all(|&e| e >= 0.0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`BetaGeoBetaBinom::conditional_expected_purchases_columns`].
    pub fn conditional_expected_purchases_all(&self, t: f64, summary: &PurchaseSummary) -> Result<CustomerTable> {
        summary.keyed(
            "expected_purchases",
            self.conditional_expected_purchases_columns(t, summary.frequency(), summary.recency(), summary.age()),
        )
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
    prediction: impl Fn(f64, f64, f64) -> Result<f64> + Sync,
) -> Result<Array1<f64>> {
    super::data::predict_columns(MODEL, [frequency, recency, opportunities], check_row, prediction)
}

fn check_row(row: usize, x: f64, t_x: f64, n: f64) -> Result<()> {
    let bad = |reason: String| Error::InvalidModelInput { model: MODEL, row, customer: None, reason };
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

/// A whole number of opportunities, ≥ 0.
fn check_opportunities(value: f64) -> Result<()> {
    check_count(value)?;
    if value.fract() != 0.0 {
        return Err(Error::InvalidArgument {
            name: "opportunities",
            reason: format!("{value} is not a whole number of opportunities"),
        });
    }
    Ok(())
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

/// ln L(α, β, γ, δ | x, t_x, n): alive through all n opportunities
/// (`ln_alive`), plus the sum over the opportunities after t_x at which the
/// customer may have dropped out, as ln_alive + ln(1 + dropped/alive).
fn row_log_likelihood(p: &[f64], x: f64, t_x: f64, n: f64) -> f64 {
    let (first, rest) = dropped_over_alive(p, x, t_x, n);
    let u = first + rest.ln_1p();
    if u <= 0.0 {
        return ln_alive(p, x, n) + softplus(u);
    }
    // The drop-out terms dominate: from their first term, ln t₀ + ln(1 + rest
    // + alive/t₀), so that a likelihood near 1 is not the difference of two
    // large logarithms (ln_alive + u).
    let (a, b, g, d) = (p[0], p[1], p[2], p[3]);
    let ln_t0 = ln_beta_shift(b + (t_x - x), a, x)
        + ln_beta_shift(a, b, t_x - x)
        + (g / (g + d + t_x)).ln()
        + ln_beta_shift(g, d, t_x);
    ln_t0 + (rest + (-first).exp()).ln_1p()
}

/// ln of B(α+x, β+n−x)/B(α, β) · B(γ, δ+n)/B(γ, δ), the chance of the
/// pattern with the customer alive throughout, as three Beta shifts (no
/// ln Γ of n-sized arguments subtracted: at n = 10⁵ those leave 1e-10).
fn ln_alive(p: &[f64], x: f64, n: f64) -> f64 {
    let (a, b, g, d) = (p[0], p[1], p[2], p[3]);
    ln_beta_shift(b + (n - x), a, x) + ln_beta_shift(a, b, n - x) + ln_beta_shift(g, d, n)
}

/// ln of the likelihood's drop-out terms over its alive term:
/// Σᵢ B(α+x, β+t_x−x+i) B(γ+1, δ+t_x+i), i < n − t_x, over
/// B(α+x, β+n−x) B(γ, δ+n) (−∞ when t_x = n).
fn ln_dropped_over_alive(p: &[f64], x: f64, t_x: f64, n: f64) -> f64 {
    let (first, rest) = dropped_over_alive(p, x, t_x, n);
    first + rest.ln_1p()
}

/// The drop-out terms of the likelihood as (ln t₀/alive, Σᵢ₌₁ tᵢ/t₀): the
/// first term over the alive one is two Beta shifts over the n − t_x
/// opportunities and γ/(γ+δ+t_x); each further term is the one before
/// times (β+t_x−x+i)/(α+β+t_x+i) · (δ+t_x+i)/(γ+δ+1+t_x+i) < 1, so the rest
/// is summed relative to the first, without logarithms or underflow
/// ((−∞, 0) when t_x = n). Whole counts are differenced before β is added:
/// β + t_x − x would round a β of 1e-4 to ten digits at t_x = 500.
fn dropped_over_alive(p: &[f64], x: f64, t_x: f64, n: f64) -> (f64, f64) {
    let (a, b, g, d) = (p[0], p[1], p[2], p[3]);
    let gaps = n - t_x;
    if gaps <= 0.0 {
        return (f64::NEG_INFINITY, 0.0);
    }
    let first = -ln_beta_shift(a + x, b + (t_x - x), gaps) + (g / (g + d + t_x)).ln() - ln_beta_shift(g, d + t_x, gaps);
    let (mut rest, mut term) = (0.0, 1.0);
    let mut i = 0.0;
    while i + 1.0 < gaps {
        term *= (b + (t_x - x + i)) / (a + b + t_x + i) * ((d + t_x + i) / (g + d + 1.0 + t_x + i));
        rest += term;
        i += 1.0;
    }
    (first, rest)
}

#[cfg(test)]
#[allow(clippy::excessive_precision)] // reference values quoted with all their digits
mod tests {
    use super::*;

    /// The column functions equal the per-customer ones and name a bad row.
    #[test]
    fn expectations_stay_in_range_at_huge_horizons() {
        for p in [[1.2035, 0.7498, 0.6568, 2.7839], [0.4, 3.0, 2.5, 0.8]] {
            let m = BetaGeoBetaBinom::new(p[0], p[1], p[2], p[3]).unwrap();
            let mut last = (0.0, 0.0);
            for t in [1.0, 100.0, 1e6, 1e12, 1e18] {
                let new = m.expected_purchases_new_customer(t).unwrap();
                let conditional = m.conditional_expected_purchases(t, 3.0, 4.0, 6.0).unwrap();
                assert!(new >= last.0 && conditional >= last.1, "{p:?} t = {t}: {new}, {conditional}");
                assert!(new.is_finite() && conditional.is_finite());
                last = (new, conditional);
            }
        }
    }

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
        let expected = m.conditional_expected_purchases_columns(5.0, x.view(), t_x.view(), n.view()).unwrap();
        let dert = m.discounted_expected_residual_purchases_columns(0.1, x.view(), t_x.view(), n.view()).unwrap();
        for (i, &(xi, ti, ni)) in rows.iter().enumerate() {
            assert_eq!(alive[i], m.probability_alive(xi, ti, ni).unwrap());
            assert_eq!(expected[i], m.conditional_expected_purchases(5.0, xi, ti, ni).unwrap());
            assert_eq!(dert[i], m.discounted_expected_residual_purchases(0.1, xi, ti, ni).unwrap());
        }
        let mut bad = t_x.clone();
        bad[9] = n[9] + 1.0;
        let e = m.probability_alive_columns(x.view(), bad.view(), n.view()).unwrap_err();
        assert!(matches!(e, Error::InvalidModelInput { row: 9, .. }), "{e}");
        let short: Array1<f64> = n.iter().skip(1).copied().collect();
        assert!(m.conditional_expected_purchases_columns(5.0, x.view(), t_x.view(), short.view()).is_err());
        assert!(m.conditional_expected_purchases_columns(-1.0, x.view(), t_x.view(), n.view()).is_err());
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
        assert!((m.probability_alive_in(1.0, 3.0, 4.0, 6.0).unwrap() - 0.439_589_14).abs() < 1e-7);
        assert!((m.conditional_expected_purchases(5.0, 3.0, 4.0, 6.0).unwrap() - 1.034_537_75).abs() < 1e-7);
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
            let got = m.expected_purchases_new_customer(f64::from(n)).unwrap();
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
            let dert = m.discounted_expected_residual_purchases(rate, x, t_x, n).unwrap();
            assert!((dert - direct).abs() < 1e-9, "({x}, {t_x}, {n}): {dert} vs {direct}");
        }
        assert!(m.discounted_expected_residual_purchases(0.0, 1.0, 1.0, 6.0).is_err());
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
        let none = m.probability_no_purchase(1.0, x, t_x, n).unwrap();
        assert!((none - (1.0 - transact)).abs() < 1e-12, "{none} vs {}", 1.0 - transact);
        assert_eq!(m.probability_no_purchase(0.0, x, t_x, n).unwrap(), 1.0);
        assert!(m.probability_no_purchase(1.5, x, t_x, n).is_err());
    }

    #[test]
    fn transaction_count_distribution_sums_to_one_and_to_the_mean() {
        let m = BetaGeoBetaBinom::new(1.2035, 0.7498, 0.6568, 2.7839).unwrap();
        for n in [1u32, 6, 20] {
            let probs: Vec<f64> = (0..=n).map(|x| m.probability_of_purchases(f64::from(n), x).unwrap()).collect();
            let total: f64 = probs.iter().sum();
            let mean: f64 = probs.iter().enumerate().map(|(x, p)| x as f64 * p).sum();
            assert!((total - 1.0).abs() < 1e-12, "n={n}: {total}");
            let expected = m.expected_purchases_new_customer(f64::from(n)).unwrap();
            assert!((mean - expected).abs() < 1e-10, "n={n}: {mean} vs {expected}");
        }
        assert_eq!(m.probability_of_purchases(3.0, 4).unwrap(), 0.0);
        assert!(m.probability_of_purchases(2.5, 1).is_err());
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
