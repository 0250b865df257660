//! Maximum-likelihood fitting shared by every model: optimisation on
//! log-transformed parameters, standard errors and covariance from the
//! Hessian in the natural parameters (the model's exact one where it has
//! it — BG/NBD, MBG/NBD, Pareto/NBD — else differences of its gradient or
//! of the likelihood), AIC and BIC.

use std::fmt;

use argmin::core::{CostFunction, Executor, State};
use argmin::solver::neldermead::NelderMead;
use ndarray::{Array1, Array2, ArrayView1};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::math::linalg::{cholesky, invert};
use crate::math::special::upper_regularized_gamma;

/// How to fit a model: starting values, iteration limit, convergence
/// tolerance and an optional L2 penalty on the parameters.
///
/// ```
/// use customer_lifecycle::clv::FitOptions;
///
/// let options = FitOptions::new().max_iterations(200).tolerance(1e-6).l2_penalty(0.0);
/// assert_eq!(options.iteration_limit(), 200);
/// ```
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct FitOptions {
    initial: Option<Vec<f64>>,
    max_iterations: u64,
    tolerance: f64,
    l2_penalty: f64,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions { initial: None, max_iterations: 1_000, tolerance: 1e-8, l2_penalty: 0.0 }
    }
}

impl FitOptions {
    /// Defaults: model-specific starting values, 1,000 iterations, relative
    /// gradient tolerance 1e-8, no penalty.
    ///
    /// ```
    /// use customer_lifecycle::clv::FitOptions;
    /// assert_eq!(FitOptions::new().iteration_limit(), FitOptions::default().iteration_limit());
    /// ```
    pub fn new() -> FitOptions {
        FitOptions::default()
    }

    /// Starting values, in the model's parameter order (all positive).
    ///
    /// ```
    /// use customer_lifecycle::clv::FitOptions;
    /// let options = FitOptions::new().initial(vec![0.5, 5.0, 0.8, 2.5]); // a starting point of your own
    /// # let _ = options;
    /// ```
    pub fn initial(mut self, values: Vec<f64>) -> FitOptions {
        self.initial = Some(values);
        self
    }

    /// Whether starting values were given (they replace a model's own starts).
    pub(crate) fn has_initial(&self) -> bool {
        self.initial.is_some()
    }

    /// The most optimiser iterations.
    ///
    /// ```
    /// use customer_lifecycle::clv::FitOptions;
    /// assert_eq!(FitOptions::new().max_iterations(50).iteration_limit(), 50);
    /// ```
    pub fn max_iterations(mut self, n: u64) -> FitOptions {
        self.max_iterations = n;
        self
    }

    /// Convergence: the largest gradient component of the negative
    /// log-likelihood with respect to the log-parameters must fall below
    /// `tolerance × max(1, |log-likelihood|)` (a relative criterion, since
    /// the numerical gradient's rounding floor grows with the sum).
    ///
    /// ```
    /// use customer_lifecycle::clv::FitOptions;
    /// let options = FitOptions::new().tolerance(1e-10);
    /// # let _ = options;
    /// ```
    pub fn tolerance(mut self, tolerance: f64) -> FitOptions {
        self.tolerance = tolerance;
        self
    }

    /// Adds `penalty × Σ parameter²` to the negative log-likelihood (as
    /// lifetimes' `penalizer_coef`).
    ///
    /// ```
    /// use customer_lifecycle::clv::FitOptions;
    /// let options = FitOptions::new().l2_penalty(0.01); // shrinks log-parameters towards 0
    /// # let _ = options;
    /// ```
    pub fn l2_penalty(mut self, penalty: f64) -> FitOptions {
        self.l2_penalty = penalty;
        self
    }

    /// The iteration limit.
    ///
    /// ```
    /// use customer_lifecycle::clv::FitOptions;
    /// assert!(FitOptions::default().iteration_limit() > 0);
    /// ```
    pub fn iteration_limit(&self) -> u64 {
        self.max_iterations
    }

    /// Checks the options for `parameters` parameters, the first
    /// `positive` of them positive (the others, covariate effects, any
    /// real number).
    fn validate(&self, model: &'static str, parameters: usize, positive: usize) -> Result<()> {
        let bad = |reason: String| Error::InvalidArgument { name: "fit options", reason: format!("{model}: {reason}") };
        if let Some(init) = &self.initial {
            if init.len() != parameters {
                return Err(bad(format!("{} initial values for {parameters} parameters", init.len())));
            }
            if init.iter().any(|v| !v.is_finite()) || init[..positive.min(init.len())].iter().any(|v| *v <= 0.0) {
                return Err(bad(format!("initial values must be finite, the first {positive} positive")));
            }
        }
        if self.max_iterations == 0 {
            return Err(bad("max_iterations must be at least 1".into()));
        }
        if !(self.tolerance.is_finite() && self.tolerance > 0.0) {
            return Err(bad("tolerance must be finite and positive".into()));
        }
        if !(self.l2_penalty.is_finite() && self.l2_penalty >= 0.0) {
            return Err(bad("l2_penalty must be finite and not negative".into()));
        }
        Ok(())
    }
}

/// The outcome of a fit: parameters with standard errors, the covariance
/// matrix, the log-likelihood (a plain sum over customers, in the data's
/// time unit), information criteria and convergence.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct FitReport {
    /// The model's name.
    pub model: String,
    /// Parameter names, in order.
    pub parameter_names: Vec<String>,
    /// Maximum-likelihood estimates.
    pub parameters: Vec<f64>,
    /// Standard errors (square roots of the covariance diagonal).
    pub standard_errors: Vec<f64>,
    /// Covariance of the estimates: the inverse of the observed information
    /// (Hessian of the negative log-likelihood in the natural parameters).
    pub covariance: Array2<f64>,
    /// Log-likelihood at the estimates (without the penalty).
    pub log_likelihood: f64,
    /// Number of observations (customers, or cohort members).
    pub observations: f64,
    /// Of the observations, the customers of age 0: first purchase at the
    /// end of the observation (BG/BB: no opportunity yet). They are valid
    /// and counted in `observations`; their likelihood is 1, so they add 0
    /// to the log-likelihood and do not inform the estimates.
    #[serde(default)]
    pub age_zero: usize,
    /// Optimiser iterations.
    pub iterations: u64,
    /// True when the gradient criterion was met (a fit that is not is an error).
    pub converged: bool,
    /// Akaike information criterion, 2k − 2LL.
    pub aic: f64,
    /// Bayesian information criterion, k ln n − 2LL.
    pub bic: f64,
}

impl fmt::Display for FitReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.age_zero > 0 {
            writeln!(f, "{} ({} observations, {} of age 0)", self.model, self.observations, self.age_zero)?;
        } else {
            writeln!(f, "{} ({} observations)", self.model, self.observations)?;
        }
        for ((name, value), se) in self.parameter_names.iter().zip(&self.parameters).zip(&self.standard_errors) {
            writeln!(f, "  {name:<8} {value:>12.4} ± {se:.4}")?;
        }
        writeln!(f, "  log-likelihood {:.2}   AIC {:.2}   BIC {:.2}", self.log_likelihood, self.aic, self.bic)?;
        write!(f, "  {} iterations, converged: {}", self.iterations, self.converged)
    }
}

/// A likelihood-ratio test of a restricted fit against a fuller one of the
/// same data (the restricted model nested in the full one): the statistic
/// 2 (ℓ_full − ℓ_restricted), its degrees of freedom (the difference in
/// parameters) and the χ² p-value.
///
/// ```
/// use customer_lifecycle::clv::LikelihoodRatioTest;
/// let test = LikelihoodRatioTest::from_log_likelihoods(-1000.0, -998.0, 1)?;
/// assert_eq!(test.statistic, 4.0);
/// assert!((test.p_value - 0.0455).abs() < 1e-4); // χ²(1) above 4
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
pub struct LikelihoodRatioTest {
    /// 2 (ℓ_full − ℓ_restricted).
    pub statistic: f64,
    /// The difference in the number of free parameters.
    pub degrees_of_freedom: usize,
    /// P(χ²(df) ≥ statistic).
    pub p_value: f64,
}

impl LikelihoodRatioTest {
    /// The test of two fit reports on the same data.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::clv::{BetaGeo, FitOptions, LikelihoodRatioTest};
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let bgnbd = BetaGeo::fit(&summary)?;
    /// let same = BetaGeo::fit_with(&summary, &FitOptions::default())?;
    /// // Two fits with as many parameters are not nested: refused.
    /// assert!(LikelihoodRatioTest::between(bgnbd.report().unwrap(), same.report().unwrap()).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the fits are of different numbers
    /// of observations, the full fit has no more parameters, or it is less
    /// likely than the restricted one beyond rounding (not nested, or a
    /// fit that stopped short).
    pub fn between(restricted: &FitReport, full: &FitReport) -> Result<LikelihoodRatioTest> {
        if restricted.observations != full.observations {
            return Err(Error::InvalidArgument {
                name: "likelihood-ratio test",
                reason: format!(
                    "the fits are of {} and {} observations: not the same data",
                    restricted.observations, full.observations
                ),
            });
        }
        let (k0, k1) = (restricted.parameters.len(), full.parameters.len());
        if k1 <= k0 {
            return Err(Error::InvalidArgument {
                name: "likelihood-ratio test",
                reason: format!("the full fit has {k1} parameters, the restricted one {k0}: not nested"),
            });
        }
        LikelihoodRatioTest::from_log_likelihoods(restricted.log_likelihood, full.log_likelihood, k1 - k0)
    }

    /// The test from the two log-likelihoods and the degrees of freedom.
    ///
    /// ```
    /// use customer_lifecycle::clv::LikelihoodRatioTest;
    /// let test = LikelihoodRatioTest::from_log_likelihoods(-500.0, -490.0, 2)?;
    /// assert!(test.p_value < 1e-4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for log-likelihoods that are not finite,
    /// no degrees of freedom, or a full fit less likely than the
    /// restricted one beyond rounding (1e-9 relative).
    pub fn from_log_likelihoods(restricted: f64, full: f64, degrees_of_freedom: usize) -> Result<LikelihoodRatioTest> {
        let bad = |reason: String| Error::InvalidArgument { name: "likelihood-ratio test", reason };
        if !(restricted.is_finite() && full.is_finite()) || degrees_of_freedom == 0 {
            return Err(bad(format!(
                "log-likelihoods {restricted} and {full} with {degrees_of_freedom} degrees of freedom"
            )));
        }
        let statistic = 2.0 * (full - restricted);
        if statistic < -1e-9 * restricted.abs().max(1.0) {
            return Err(bad(format!(
                "the full fit (log-likelihood {full}) is less likely than the restricted one ({restricted}): \
                 not nested, or a fit did not reach its optimum"
            )));
        }
        let statistic = statistic.max(0.0);
        let p_value = upper_regularized_gamma(degrees_of_freedom as f64 / 2.0, statistic / 2.0).clamp(0.0, 1.0);
        Ok(LikelihoodRatioTest { statistic, degrees_of_freedom, p_value })
    }
}

/// The problem handed to argmin: the (penalised) negative log-likelihood of
/// the log-parameters, with a central-difference gradient.
/// The gradient of a negative log-likelihood in the natural parameters.
pub(crate) type NaturalGradient<'a> = &'a dyn Fn(&[f64]) -> Vec<f64>;

/// The Hessian (row-major) of a negative log-likelihood in the natural parameters.
pub(crate) type NaturalHessian<'a> = &'a dyn Fn(&[f64]) -> Vec<f64>;

/// The objective in the optimiser's coordinates θ: the first `positive`
/// parameters p = e^θ (the models' positive parameters), the others p = θ
/// (covariate effects, any real number).
struct LogSpaceProblem<'a> {
    neg_ll: &'a dyn Fn(&[f64]) -> f64,
    /// The gradient of `neg_ll` in the natural parameters, when the model has one.
    gradient: Option<NaturalGradient<'a>>,
    /// Its Hessian in the natural parameters, when the model has one.
    hessian: Option<NaturalHessian<'a>>,
    /// How many leading parameters are positive (optimised in logs).
    positive: usize,
    /// The L2 penalty's weight of each parameter: Σ wᵢ pᵢ² is added to the
    /// negative log-likelihood.
    penalty: Vec<f64>,
}

impl LogSpaceProblem<'_> {
    /// The natural parameters at θ.
    fn natural(&self, theta: &[f64]) -> Vec<f64> {
        theta.iter().enumerate().map(|(i, t)| if i < self.positive { t.exp() } else { *t }).collect()
    }

    /// dp/dθ of parameter `i` at the natural value `p`.
    fn chain(&self, i: usize, p: f64) -> f64 {
        if i < self.positive { p } else { 1.0 }
    }

    fn value(&self, theta: &[f64]) -> f64 {
        let natural = self.natural(theta);
        let penalty: f64 = natural.iter().zip(&self.penalty).map(|(p, w)| w * p * p).sum();
        let v = (self.neg_ll)(&natural) + penalty;
        if v.is_finite() { v } else { f64::INFINITY }
    }

    /// Gradient of the penalised objective with respect to θ.
    fn gradient_at(&self, theta: &[f64]) -> Vec<f64> {
        if let Some(natural_gradient) = self.gradient {
            let natural = self.natural(theta);
            let g = natural_gradient(&natural);
            // Chain rule: ∂f/∂θ = ∂f/∂p · dp/dθ, with the penalty's 2 w p.
            let chained: Vec<f64> = g
                .iter()
                .zip(&natural)
                .enumerate()
                .map(|(i, (gi, p))| (gi + 2.0 * self.penalty[i] * p) * self.chain(i, *p))
                .collect();
            if chained.len() == theta.len() && chained.iter().all(|v| v.is_finite()) {
                return chained;
            }
        }
        self.numerical_gradient(theta)
    }

    /// Hessian of the penalised objective in the log-parameters: central
    /// differences of the analytic gradient when there is one (2k gradient
    /// evaluations), else of the objective itself.
    fn hessian_at(&self, theta: &[f64]) -> Vec<f64> {
        let k = theta.len();
        if let (Some(natural_gradient), Some(natural_hessian)) = (self.gradient, self.hessian) {
            // θ = ln p: ∂²f/∂θi∂θj = p_i p_j ∂²f/∂p_i∂p_j + [i = j] p_i ∂f/∂p_i
            // (θ = p for a free parameter: its factor is 1, no second term).
            let p = self.natural(theta);
            let g = natural_gradient(&p);
            let h = natural_hessian(&p);
            if g.len() == k && h.len() == k * k {
                let mut out = vec![0.0; k * k];
                for i in 0..k {
                    for j in 0..k {
                        let penalty = if i == j { 2.0 * self.penalty[i] } else { 0.0 };
                        out[i * k + j] = self.chain(i, p[i]) * self.chain(j, p[j]) * (h[i * k + j] + penalty);
                    }
                    if i < self.positive {
                        out[i * k + i] += p[i] * (g[i] + 2.0 * self.penalty[i] * p[i]);
                    }
                }
                if out.iter().all(|v| v.is_finite()) {
                    return out;
                }
            }
        }
        if self.gradient.is_some() {
            return hessian_from_gradient(&|t: &[f64]| self.gradient_at(t), theta, &vec![1e-5; k]);
        }
        hessian_with_steps(&|t: &[f64]| self.value(t), theta, &vec![1e-4; k])
    }

    fn numerical_gradient(&self, theta: &[f64]) -> Vec<f64> {
        let mut g = vec![0.0; theta.len()];
        let mut probe = theta.to_vec();
        for i in 0..theta.len() {
            // Balances truncation (h²) against rounding (ε|f|/h) for sums of
            // thousands of terms.
            let h = 2e-5 * theta[i].abs().max(1.0);
            probe[i] = theta[i] + h;
            let up = self.value(&probe);
            probe[i] = theta[i] - h;
            let down = self.value(&probe);
            probe[i] = theta[i];
            g[i] = (up - down) / (2.0 * h);
        }
        g
    }
}

impl CostFunction for LogSpaceProblem<'_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, theta: &Vec<f64>) -> std::result::Result<f64, argmin::core::Error> {
        Ok(self.value(theta))
    }
}

/// Maximises a log-likelihood. `neg_ll` takes natural (positive) parameters
/// and returns the negative log-likelihood (∞ where undefined).
/// `default_starts` are tried in order (the first also seeds Nelder–Mead)
/// unless the options give starting values.
pub(crate) fn maximise(
    model: &'static str,
    names: &[&str],
    neg_ll: &dyn Fn(&[f64]) -> f64,
    default_starts: &[&[f64]],
    observations: f64,
    options: &FitOptions,
) -> Result<FitReport> {
    maximise_with_gradient(model, names, neg_ll, None, None, default_starts, observations, options)
}

/// What a fit of some positive parameters and some free ones (covariate
/// effects) maximises.
pub(crate) struct Objective<'a> {
    /// The negative log-likelihood in the natural parameters (∞ where undefined).
    pub neg_ll: &'a dyn Fn(&[f64]) -> f64,
    /// Its gradient, when the model has one.
    pub gradient: Option<NaturalGradient<'a>>,
    /// Its Hessian, when the model has one.
    pub hessian: Option<NaturalHessian<'a>>,
    /// How many leading parameters are positive.
    pub positive: usize,
    /// The L2 penalty's weight of each parameter.
    pub penalty: Vec<f64>,
}

/// [`maximise`] with the analytic gradient of `neg_ll` in the natural
/// parameters, which makes each Newton step cost 2k + 1 gradient
/// evaluations instead of ~2k² likelihood evaluations; with the analytic
/// Hessian too, one evaluation of each.
#[allow(clippy::too_many_arguments)]
pub(crate) fn maximise_with_gradient(
    model: &'static str,
    names: &[&str],
    neg_ll: &dyn Fn(&[f64]) -> f64,
    gradient: Option<NaturalGradient<'_>>,
    hessian: Option<NaturalHessian<'_>>,
    default_starts: &[&[f64]],
    observations: f64,
    options: &FitOptions,
) -> Result<FitReport> {
    let k = names.len();
    let objective = Objective { neg_ll, gradient, hessian, positive: k, penalty: vec![options.l2_penalty; k] };
    maximise_objective(model, names, &objective, default_starts, observations, options)
}

/// Maximises a penalised log-likelihood of positive and free parameters:
/// Newton from each start in turn, then Nelder–Mead and Newton (see
/// [`maximise_with_gradient`]). The report's covariance is that of the
/// natural parameters.
pub(crate) fn maximise_objective(
    model: &'static str,
    names: &[&str],
    objective: &Objective<'_>,
    default_starts: &[&[f64]],
    observations: f64,
    options: &FitOptions,
) -> Result<FitReport> {
    let k = names.len();
    options.validate(model, k, objective.positive)?;
    if objective.penalty.len() != k || objective.penalty.iter().any(|w| !(w.is_finite() && *w >= 0.0)) {
        return Err(Error::InvalidArgument {
            name: "fit options",
            reason: format!("{model}: penalty weights must be {k} finite values ≥ 0"),
        });
    }
    let (neg_ll, gradient, hessian) = (objective.neg_ll, objective.gradient, objective.hessian);
    let make = || LogSpaceProblem {
        neg_ll,
        gradient,
        hessian,
        positive: objective.positive,
        penalty: objective.penalty.clone(),
    };
    let to_theta = |p: &[f64]| -> Vec<f64> {
        p.iter().enumerate().map(|(i, v)| if i < objective.positive { v.ln() } else { *v }).collect()
    };
    let starts: Vec<Vec<f64>> = match &options.initial {
        Some(init) => vec![init.clone()],
        None => default_starts.iter().map(|s| s.to_vec()).collect(),
    };
    let problem = make();
    let mut steps = 0;
    for start in &starts {
        let mut theta: Vec<f64> = to_theta(start);
        if !problem.value(&theta).is_finite() {
            continue;
        }
        steps += newton_polish(&problem, &mut theta, 15, options.tolerance);
        if let Ok(report) = conclude(model, names, neg_ll, &problem, &theta, steps, observations, options) {
            return Ok(report);
        }
    }
    let initial = starts.first().cloned().unwrap_or_else(|| vec![1.0; k]);
    let theta0: Vec<f64> = to_theta(&initial);
    if !problem.value(&theta0).is_finite() {
        return Err(Error::FitFailed { model, reason: "the likelihood is not finite at the starting values".into() });
    }
    // Newton from the starting values came first (above): when they lie in
    // the basin of the optimum (the usual case for these likelihoods) it
    // converges in a few steps. Otherwise, or when it ends anywhere the
    // information matrix is not positive definite, Nelder–Mead
    // (derivative-free, and simply treating points where the likelihood is
    // undefined as bad) finds the basin and Newton polishes from there.
    let failed = |e: argmin::core::Error| Error::FitFailed { model, reason: format!("optimiser error: {e}") };
    let mut simplex = vec![theta0.clone()];
    for i in 0..k {
        let mut vertex = theta0.clone();
        vertex[i] += 0.5;
        simplex.push(vertex);
    }
    let solver = NelderMead::new(simplex).with_sd_tolerance(1e-5).map_err(failed)?;
    let run = Executor::new(make(), solver)
        .configure(|state| state.max_iters(options.max_iterations))
        .run()
        .map_err(failed)?;
    let mut iterations = steps + run.state().get_iter();
    let mut theta = run.state().get_best_param().cloned().unwrap_or(theta0);
    iterations += newton_polish(&problem, &mut theta, 50, options.tolerance);
    conclude(model, names, neg_ll, &problem, &theta, iterations, observations, options)
}

/// Checks convergence at `theta` and builds the report (covariance from the
/// Hessian in the natural parameters).
#[allow(clippy::too_many_arguments)]
fn conclude(
    model: &'static str,
    names: &[&str],
    neg_ll: &dyn Fn(&[f64]) -> f64,
    problem: &LogSpaceProblem<'_>,
    theta: &[f64],
    iterations: u64,
    observations: f64,
    options: &FitOptions,
) -> Result<FitReport> {
    let k = names.len();
    let gradient = problem.gradient_at(theta);
    let worst = gradient.iter().fold(0.0f64, |m, g| m.max(g.abs()));
    let converged = worst <= options.tolerance * problem.value(theta).abs().max(1.0);
    let natural = problem.natural(theta);
    let objective = problem.value(theta);
    let out_of_range = natural.iter().enumerate().any(|(i, p)| !p.is_finite() || (i < problem.positive && *p <= 0.0));
    if !converged || !objective.is_finite() || out_of_range {
        return Err(Error::FitFailed {
            model,
            reason: format!(
                "no convergence after {iterations} iterations (largest gradient component {worst:.3e}, \
                 parameters {natural:?}); the data may not identify the model"
            ),
        });
    }
    let numerical = || {
        let penalised = |p: &[f64]| neg_ll(p) + p.iter().zip(&problem.penalty).map(|(v, w)| w * v * v).sum::<f64>();
        hessian(&penalised, &natural)
    };
    let hessian = match (problem.gradient, problem.hessian) {
        (_, Some(h)) => {
            let mut out = h(&natural);
            // An analytic Hessian that could not be evaluated there (the
            // model's derivatives return nothing at extreme points) gives way
            // to the numerical one rather than being indexed.
            if out.len() != k * k || out.iter().any(|v| !v.is_finite()) {
                numerical()
            } else {
                for i in 0..k {
                    out[i * k + i] += 2.0 * problem.penalty[i];
                }
                out
            }
        }
        (Some(g), None) => {
            let penalised_gradient = |p: &[f64]| -> Vec<f64> {
                let gp = g(p);
                if gp.len() != k {
                    return vec![f64::NAN; k]; // not differentiable there: the check below refuses it
                }
                gp.iter().zip(p).zip(&problem.penalty).map(|((gi, pi), w)| gi + 2.0 * w * pi).collect()
            };
            // Relative steps for the positive parameters; a free one (a
            // covariate effect, often near 0) steps on the scale of 1.
            let steps: Vec<f64> = natural
                .iter()
                .enumerate()
                .map(|(i, v)| 1e-5 * v.abs().max(if i < problem.positive { 1e-8 } else { 1.0 }))
                .collect();
            hessian_from_gradient(&penalised_gradient, &natural, &steps)
        }
        (None, None) => numerical(),
    };
    let covariance =
        invert(&hessian, k).filter(|c| (0..k).all(|i| c[i * k + i] > 0.0)).ok_or_else(|| Error::NotIdentifiable {
            model,
            reason: "the information matrix at the estimates is singular or not positive definite".into(),
        })?;
    let standard_errors = (0..k).map(|i| covariance[i * k + i].sqrt()).collect();
    let log_likelihood = -neg_ll(&natural);
    let kf = k as f64;
    Ok(FitReport {
        model: model.to_string(),
        parameter_names: names.iter().map(|s| s.to_string()).collect(),
        parameters: natural,
        standard_errors,
        covariance: Array2::from_shape_vec((k, k), covariance)
            .map_err(|e| Error::FitFailed { model, reason: format!("covariance shape: {e}") })?,
        log_likelihood,
        observations,
        age_zero: 0,
        iterations,
        converged,
        aic: 2.0 * kf - 2.0 * log_likelihood,
        bic: kf * observations.ln() - 2.0 * log_likelihood,
    })
}

/// A likelihood whose value, gradient and Hessian come from one pass,
/// kept for the last point asked: Newton asks for the value (its line
/// search), the gradient and the Hessian at each point in turn, so each
/// point costs one pass (a rejected trial point costs a whole pass too).
/// The pass returns the log-likelihood and its derivatives in the
/// optimiser's natural parameters (empty derivatives: none there).
pub(crate) struct PointCache<'a> {
    pass: &'a PointPass<'a>,
    last: std::cell::RefCell<Option<(Vec<f64>, PointValues)>>,
}

/// (ℓ, ∇ℓ, ∇²ℓ) at a point.
type PointValues = (f64, Vec<f64>, Vec<f64>);

/// One pass of a likelihood: (ℓ, ∇ℓ, ∇²ℓ) at a point.
pub(crate) type PointPass<'a> = dyn Fn(&[f64]) -> PointValues + 'a;

impl<'a> PointCache<'a> {
    pub(crate) fn new(pass: &'a PointPass<'a>) -> PointCache<'a> {
        PointCache { pass, last: std::cell::RefCell::new(None) }
    }

    fn at<T>(&self, theta: &[f64], pick: impl Fn(&PointValues) -> T) -> T {
        if let Some((_, values)) = self.last.borrow().as_ref().filter(|(point, _)| point.as_slice() == theta) {
            return pick(values);
        }
        let values = (self.pass)(theta);
        let out = pick(&values);
        *self.last.borrow_mut() = Some((theta.to_vec(), values));
        out
    }

    /// −ℓ.
    pub(crate) fn neg_ll(&self, theta: &[f64]) -> f64 {
        self.at(theta, |v| -v.0)
    }

    /// −∇ℓ (empty where there is none).
    pub(crate) fn neg_gradient(&self, theta: &[f64]) -> Vec<f64> {
        self.at(theta, |v| v.1.iter().map(|g| -g).collect())
    }

    /// −∇²ℓ (empty where there is none).
    pub(crate) fn neg_hessian(&self, theta: &[f64]) -> Vec<f64> {
        self.at(theta, |v| v.2.iter().map(|h| -h).collect())
    }
}

/// The longest Newton step, in log-parameters.
const MAX_LOG_STEP: f64 = 2.0;

/// Customers in the sample whose fit starts a fit on many more.
pub(crate) const WARM_START_SAMPLE: usize = 20_000;

/// An evenly spaced sample of about [`WARM_START_SAMPLE`] rows of
/// `columns`, when there are more than four times as many and the caller
/// gave no starting values: a fit on it is a start for the fit on all,
/// from which Newton needs two or three passes over everyone instead of
/// six to nine, and ends at the same optimum.
pub(crate) fn warm_start_sample<const N: usize>(
    options: &FitOptions,
    columns: [ArrayView1<'_, f64>; N],
) -> Option<[Array1<f64>; N]> {
    let n = columns.first()?.len();
    if n <= 4 * WARM_START_SAMPLE || options.has_initial() {
        return None;
    }
    let stride = n / WARM_START_SAMPLE;
    Some(columns.map(|c| c.iter().step_by(stride).copied().collect()))
}

/// Newton steps on the log-parameters (the model's Hessian, or differences of
/// its gradient or of the objective) with a backtracking line search; stops
/// when a step no longer lowers the objective beyond rounding, or once the
/// gradient criterion holds.
/// Returns the steps taken.
fn newton_polish(problem: &LogSpaceProblem<'_>, theta: &mut Vec<f64>, max_steps: u64, tolerance: f64) -> u64 {
    let k = theta.len();
    let mut steps = 0;
    let mut current = problem.value(theta);
    while steps < max_steps {
        let g = problem.gradient_at(theta);
        if g.iter().fold(0.0f64, |m, v| m.max(v.abs())) <= tolerance * current.abs().max(1.0) {
            break;
        }
        let h = problem.hessian_at(theta);
        // The plain Newton direction when it descends (it can when the
        // Hessian is indefinite far from the optimum), else a shifted one.
        let newton = invert(&h, k)
            .filter(|inv| (0..k).all(|i| inv[i * k + i] > 0.0))
            .map(|inv| (0..k).map(|i| -(0..k).map(|j| inv[i * k + j] * g[j]).sum::<f64>()).collect::<Vec<f64>>())
            .filter(|d| d.iter().zip(&g).map(|(d, g)| d * g).sum::<f64>() < 0.0);
        let mut direction = newton.unwrap_or_else(|| descent_direction(&h, &g, k));
        // At most a factor e² per parameter and step: far from the optimum a
        // full Newton step can land where the likelihood is extreme (and its
        // series slow) or undefined.
        let longest = direction.iter().fold(0.0f64, |m, d| m.max(d.abs()));
        if longest > MAX_LOG_STEP {
            direction.iter_mut().for_each(|d| *d *= MAX_LOG_STEP / longest);
        }
        let mut scale = 1.0;
        let mut accepted = None;
        for _ in 0..40 {
            let candidate: Vec<f64> = theta.iter().zip(&direction).map(|(t, d)| t + scale * d).collect();
            let value = problem.value(&candidate);
            // Ties within rounding are accepted near the optimum, where the
            // gain is below the objective's last bits and the step is whole;
            // a tie only after many halvings means the direction is useless
            // (a stalled start), and the search gives up.
            let tie = value <= current + 1e-13 * current.abs() && scale >= 1.0 / 1024.0;
            if value.is_finite() && (value < current || tie) {
                accepted = Some((candidate, value));
                break;
            }
            scale *= 0.5;
        }
        let Some((candidate, value)) = accepted else { break };
        let moved = candidate.iter().zip(theta.iter()).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        *theta = candidate;
        current = value;
        steps += 1;
        if moved < 1e-12 {
            break;
        }
    }
    steps
}

/// The Newton direction −H⁻¹g when the Hessian is positive definite;
/// otherwise that of H + λI with the smallest λ (growing tenfold from
/// 10⁻⁶ of the largest diagonal entry) that makes it so — a descent
/// direction that shortens towards steepest descent as λ grows. Steepest
/// descent, scaled, when no shift works (a non-finite Hessian).
fn descent_direction(h: &[f64], g: &[f64], k: usize) -> Vec<f64> {
    let largest = (0..k).map(|i| h[i * k + i].abs()).fold(0.0f64, f64::max).max(1e-12);
    let mut shift = 0.0;
    for _ in 0..20 {
        let mut shifted = h.to_vec();
        for i in 0..k {
            shifted[i * k + i] += shift;
        }
        if let Some(direction) = cholesky_solve(&shifted, g, k) {
            return direction.iter().map(|d| -d).collect();
        }
        shift = if shift == 0.0 { 1e-6 * largest } else { shift * 10.0 };
    }
    g.iter().map(|v| -v / (1.0 + v.abs())).collect()
}

/// Solves A y = b for a symmetric positive-definite A (row-major k × k) by
/// Cholesky factorisation; `None` when A is not positive definite.
fn cholesky_solve(a: &[f64], b: &[f64], k: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; k * k];
    for i in 0..k {
        for j in 0..=i {
            let mut sum = a[i * k + j];
            for m in 0..j {
                sum -= l[i * k + m] * l[j * k + m];
            }
            if i == j {
                if !(sum > 0.0 && sum.is_finite()) {
                    return None;
                }
                l[i * k + i] = sum.sqrt();
            } else {
                l[i * k + j] = sum / l[j * k + j];
            }
        }
    }
    let mut y = vec![0.0; k];
    for i in 0..k {
        let sum: f64 = (0..i).map(|m| l[i * k + m] * y[m]).sum();
        y[i] = (b[i] - sum) / l[i * k + i];
    }
    for i in (0..k).rev() {
        let sum: f64 = (i + 1..k).map(|m| l[m * k + i] * y[m]).sum();
        y[i] = (y[i] - sum) / l[i * k + i];
    }
    y.iter().all(|v| v.is_finite()).then_some(y)
}

/// Delta-method standard error of a prediction `g` at `params` with the
/// estimates' covariance: sqrt(∇gᵀ Σ ∇g), ∇g by central differences.
pub(crate) fn delta_method(params: &[f64], covariance: &Array2<f64>, g: &dyn Fn(&[f64]) -> Result<f64>) -> Result<f64> {
    let k = params.len();
    if covariance.dim() != (k, k) {
        return Err(Error::InvalidArgument { name: "covariance", reason: format!("not {k} × {k}") });
    }
    let mut gradient = vec![0.0; k];
    let mut p = params.to_vec();
    for i in 0..k {
        let h = 1e-6 * params[i].abs().max(1e-8);
        p[i] = params[i] + h;
        let up = g(&p)?;
        p[i] = params[i] - h;
        let down = g(&p)?;
        p[i] = params[i];
        gradient[i] = (up - down) / (2.0 * h);
    }
    let mut variance = 0.0;
    for i in 0..k {
        for j in 0..k {
            variance += gradient[i] * covariance[[i, j]] * gradient[j];
        }
    }
    if !(variance.is_finite() && variance >= 0.0) {
        return Err(Error::InvalidArgument { name: "delta method", reason: format!("variance {variance}") });
    }
    Ok(variance.sqrt())
}

/// Delta-method standard error of a prediction of a fitted model: `rebuild`
/// makes the model from a parameter vector, `prediction` evaluates it.
pub(crate) fn standard_error_of<M>(
    report: Option<&FitReport>,
    rebuild: impl Fn(&[f64]) -> Result<M>,
    prediction: impl Fn(&M) -> Result<f64>,
) -> Result<f64> {
    let report = report.ok_or_else(|| Error::InvalidArgument {
        name: "standard error",
        reason: "the model has no fit report (it was not fitted)".into(),
    })?;
    delta_method(&report.parameters, &report.covariance, &|p: &[f64]| prediction(&rebuild(p)?))
}

/// Central-difference Hessian of `f` at `x` (row-major), relative steps.
pub(crate) fn hessian(f: &dyn Fn(&[f64]) -> f64, x: &[f64]) -> Vec<f64> {
    let h: Vec<f64> = x.iter().map(|v| 1e-4 * v.abs().max(1e-8)).collect();
    hessian_with_steps(f, x, &h)
}

/// Hessian from central differences of a gradient, symmetrised.
fn hessian_from_gradient(gradient: &dyn Fn(&[f64]) -> Vec<f64>, x: &[f64], h: &[f64]) -> Vec<f64> {
    let k = x.len();
    let mut out = vec![0.0; k * k];
    let mut p = x.to_vec();
    for i in 0..k {
        p[i] = x[i] + h[i];
        let up = gradient(&p);
        p[i] = x[i] - h[i];
        let down = gradient(&p);
        p[i] = x[i];
        for j in 0..k {
            out[i * k + j] = (up[j] - down[j]) / (2.0 * h[i]);
        }
    }
    for i in 0..k {
        for j in 0..i {
            let v = 0.5 * (out[i * k + j] + out[j * k + i]);
            out[i * k + j] = v;
            out[j * k + i] = v;
        }
    }
    out
}

/// Central-difference Hessian of `f` at `x` with steps `h`.
fn hessian_with_steps(f: &dyn Fn(&[f64]) -> f64, x: &[f64], h: &[f64]) -> Vec<f64> {
    let k = x.len();
    let mut out = vec![0.0; k * k];
    let mut p = x.to_vec();
    let f0 = f(x);
    for i in 0..k {
        p[i] = x[i] + h[i];
        let up = f(&p);
        p[i] = x[i] - h[i];
        let down = f(&p);
        p[i] = x[i];
        out[i * k + i] = (up - 2.0 * f0 + down) / (h[i] * h[i]);
        for j in 0..i {
            let mut corner = |si: f64, sj: f64| {
                p[i] = x[i] + si * h[i];
                p[j] = x[j] + sj * h[j];
                let v = f(&p);
                p[i] = x[i];
                p[j] = x[j];
                v
            };
            let v =
                (corner(1.0, 1.0) - corner(1.0, -1.0) - corner(-1.0, 1.0) + corner(-1.0, -1.0)) / (4.0 * h[i] * h[j]);
            out[i * k + j] = v;
            out[j * k + i] = v;
        }
    }
    out
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

#[cfg(test)]
#[allow(clippy::excessive_precision)] // reference values quoted with all their digits
mod tests {
    use super::*;

    #[test]
    fn fits_a_gamma_sample_by_maximum_likelihood() {
        // Exponential data with known MLE: rate = n / Σx; parameterise by the rate.
        let data = [0.5, 1.5, 2.0, 0.25, 0.75];
        let sum: f64 = data.iter().sum();
        let neg_ll = |p: &[f64]| -(data.len() as f64 * p[0].ln() - p[0] * sum);
        let r = maximise("test", &["rate"], &neg_ll, &[&[1.0]], 5.0, &FitOptions::new()).unwrap();
        assert!((r.parameters[0] - 5.0 / sum).abs() < 1e-6, "{r}");
        // Var(rate) = rate² / n.
        let expected_se = (5.0 / sum) / 5f64.sqrt();
        assert!((r.standard_errors[0] / expected_se - 1.0).abs() < 1e-4);
        assert!((r.aic - (2.0 - 2.0 * r.log_likelihood)).abs() < 1e-12);
    }

    #[test]
    fn invalid_options() {
        let neg_ll = |p: &[f64]| p[0];
        for o in [
            FitOptions::new().initial(vec![1.0, 2.0]),
            FitOptions::new().initial(vec![-1.0]),
            FitOptions::new().max_iterations(0),
            FitOptions::new().tolerance(f64::NAN),
            FitOptions::new().l2_penalty(-1.0),
        ] {
            assert!(matches!(maximise("t", &["a"], &neg_ll, &[&[1.0]], 1.0, &o), Err(Error::InvalidArgument { .. })));
        }
    }

    #[test]
    fn chi_squared_tails_match_scipy() {
        // scipy.stats.chi2.sf(x, k)
        for (x, k, expected) in [
            (3.841458820694124, 1, 0.04999999999999989),
            (13.815510557964274, 2, 0.0010000000000000002),
            (0.5, 3, 0.9188914116546758),
            (25.0, 4, 5.0309817823062075e-05),
            (100.0, 6, 2.509303552201055e-19),
        ] {
            let p = LikelihoodRatioTest::from_log_likelihoods(0.0, x / 2.0, k).unwrap().p_value;
            assert!(((p - expected) / expected).abs() < 1e-9, "χ²({k}) at {x}: {p} against {expected}");
        }
        assert!(LikelihoodRatioTest::from_log_likelihoods(-10.0, -11.0, 1).is_err());
        assert_eq!(LikelihoodRatioTest::from_log_likelihoods(-10.0, -10.0 - 1e-12, 1).unwrap().p_value, 1.0);
    }

    #[test]
    fn unbounded_likelihood_is_a_fit_failure() {
        // The "likelihood" grows without bound as the parameter goes to 0.
        let neg_ll = |p: &[f64]| p[0].ln();
        let e = maximise("t", &["a"], &neg_ll, &[&[1.0]], 1.0, &FitOptions::new().max_iterations(50)).unwrap_err();
        assert!(matches!(e, Error::FitFailed { .. } | Error::NotIdentifiable { .. }), "{e}");
    }
}
