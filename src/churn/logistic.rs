//! Penalised logistic regression by Newton's method (IRLS), and Platt scaling.

use ndarray::{Array1, ArrayView1, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::math::linalg::invert;

const MODEL: &str = "logistic regression";

/// Settings of [`LogisticRegression::fit`].
///
/// ```
/// use customer_lifecycle::churn::LogisticOptions;
///
/// let options = LogisticOptions::new().l2_penalty(0.5).max_iterations(50);
/// assert_eq!(options.penalty_weight(), 0.5);
/// ```
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
pub struct LogisticOptions {
    l2_penalty: f64,
    max_iterations: u32,
    tolerance: f64,
}

impl Default for LogisticOptions {
    fn default() -> Self {
        LogisticOptions { l2_penalty: 1.0, max_iterations: 100, tolerance: 1e-10 }
    }
}

impl LogisticOptions {
    /// L2 penalty 1 (on standardised coefficients, not the intercept), 100
    /// iterations, tolerance 1e-10.
    pub fn new() -> LogisticOptions {
        LogisticOptions::default()
    }

    /// The penalty λ in `−log L + λ/2 · Σ βⱼ²` (standardised features; ≥ 0).
    pub fn l2_penalty(mut self, lambda: f64) -> LogisticOptions {
        self.l2_penalty = lambda;
        self
    }

    /// Newton steps at most.
    pub fn max_iterations(mut self, n: u32) -> LogisticOptions {
        self.max_iterations = n;
        self
    }

    /// Stop when the largest Newton step is below this.
    pub fn tolerance(mut self, tolerance: f64) -> LogisticOptions {
        self.tolerance = tolerance;
        self
    }

    /// The penalty.
    pub fn penalty_weight(&self) -> f64 {
        self.l2_penalty
    }
}

validated_serde! {
/// A fitted logistic regression `P(y = 1 | x) = σ(β₀ + Σ βⱼ zⱼ)` on
/// standardised features `zⱼ = (xⱼ − meanⱼ) / sdⱼ`.
///
/// Fitted by Newton's method (iteratively reweighted least squares) on the
/// penalised log-likelihood; the penalty keeps the weights finite on
/// perfectly separable data. A constant feature (sd 0) is centred to zero
/// and gets a zero weight. Standard errors are the square roots of the
/// diagonal of the inverse penalised information at the optimum.
///
/// ```
/// use customer_lifecycle::churn::{LogisticOptions, LogisticRegression};
/// use customer_lifecycle::ndarray::array;
///
/// let x = array![[1.0], [2.0], [3.0], [4.0], [5.0], [6.0]];
/// let y = [false, false, true, false, true, true];
/// let model = LogisticRegression::fit(x.view(), &y, &["days_since_order"], &LogisticOptions::new())?;
/// let p = model.predict(x.view())?;
/// assert!(p[5] > p[0]);
/// assert!(model.coefficients()[0] > 0.0); // per unit of the feature
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Debug)]
pub struct LogisticRegression {
    names: Vec<String>,
    means: Vec<f64>,
    scales: Vec<f64>,
    /// Columns that were constant in the training data (weight 0).
    constant: Vec<bool>,
    /// Intercept first, then the standardised weights.
    beta: Vec<f64>,
    /// Covariance of `beta` (row-major, (p + 1)²).
    covariance: Vec<f64>,
    iterations: u32,
    log_likelihood: f64,
    options: LogisticOptions,
}
}

impl LogisticRegression {
    /// A loaded regression is one a fit could have made: one mean, scale
    /// and constant flag per feature, an intercept and one weight per
    /// feature, a square covariance of their size, every number finite,
    /// scales positive and constant features weightless. Prediction indexes
    /// by these lengths and divides by the scales.
    fn check_consistent(&self) -> Result<()> {
        let bad = |reason: String| Error::InvalidArgument { name: "saved logistic regression", reason };
        let p = self.names.len();
        let k = p + 1;
        let lengths =
            [self.means.len(), self.scales.len(), self.constant.len(), self.beta.len(), self.covariance.len()];
        if lengths != [p, p, p, k, k * k] {
            return Err(bad(format!("lengths {lengths:?} for {p} features")));
        }
        let numbers = self.means.iter().chain(&self.scales).chain(&self.beta).chain(&self.covariance);
        if numbers.chain([&self.log_likelihood]).any(|v| !v.is_finite()) {
            return Err(bad("a number is NaN or infinite".into()));
        }
        if self.scales.iter().any(|&s| s <= 0.0) {
            return Err(bad("a feature scale is not positive".into()));
        }
        if self.constant.iter().zip(&self.beta[1..]).any(|(&c, &b)| c && b != 0.0) {
            return Err(bad("a constant feature has a weight".into()));
        }
        Ok(())
    }
}

/// The standardised design matrix of a fit: an intercept column, then each
/// feature minus its mean over its standard deviation (a constant feature
/// becomes 0, so its weight stays 0).
struct Design {
    means: Vec<f64>,
    scales: Vec<f64>,
    constant: Vec<bool>,
    /// Rows of `k` = 1 + features values.
    z: Vec<f64>,
    k: usize,
}

/// The penalised log-likelihood's gradient and information (the negative
/// Hessian) at some weights.
struct AtWeights {
    gradient: Vec<f64>,
    information: Vec<f64>,
}

impl Design {
    fn new(features: ArrayView2<'_, f64>) -> Design {
        let (n, p) = features.dim();
        let means: Vec<f64> = (0..p).map(|j| features.column(j).sum() / n as f64).collect();
        let scales: Vec<f64> = (0..p)
            .map(|j| {
                let var = features.column(j).iter().map(|v| (v - means[j]).powi(2)).sum::<f64>() / n as f64;
                if var > 0.0 { var.sqrt() } else { 1.0 }
            })
            .collect();
        let constant: Vec<bool> = (0..p).map(|j| features.column(j).iter().all(|&v| v == features[[0, j]])).collect();
        let k = p + 1;
        let mut z = vec![0.0; n * k];
        for i in 0..n {
            z[i * k] = 1.0;
            for j in 0..p {
                z[i * k + 1 + j] = if constant[j] { 0.0 } else { (features[[i, j]] - means[j]) / scales[j] };
            }
        }
        Design { means, scales, constant, z, k }
    }

    /// One pass over the rows: Σ zᵢ(yᵢ − μᵢ) and Σ μᵢ(1 − μᵢ) zᵢzᵢᵀ (its
    /// upper triangle, mirrored), the L2 penalty λ on every weight but the
    /// intercept, and a unit diagonal for constant columns (no information
    /// of their own: their weight stays where it is, at 0).
    fn information(&self, beta: &[f64], labels: &[bool], lambda: f64) -> AtWeights {
        let k = self.k;
        let mut gradient = vec![0.0; k];
        let mut information = vec![0.0; k * k];
        for (i, row) in self.z.chunks_exact(k).enumerate() {
            let eta: f64 = row.iter().zip(beta).map(|(a, b)| a * b).sum();
            let mu = sigmoid(eta);
            let w = mu * (1.0 - mu);
            let r = f64::from(u8::from(labels[i])) - mu;
            for a in 0..k {
                gradient[a] += row[a] * r;
                let wa = w * row[a];
                for b in a..k {
                    information[a * k + b] += wa * row[b];
                }
            }
        }
        for a in 0..k {
            for b in 0..a {
                information[a * k + b] = information[b * k + a];
            }
        }
        for j in 1..k {
            gradient[j] -= lambda * beta[j];
            information[j * k + j] += lambda;
        }
        for (j, &c) in self.constant.iter().enumerate() {
            if c {
                information[(j + 1) * k + (j + 1)] = information[(j + 1) * k + (j + 1)].max(1.0);
            }
        }
        AtWeights { gradient, information }
    }

    /// The unpenalised log-likelihood at `beta` (once, at the optimum: the
    /// Newton steps do not need it).
    fn log_likelihood(&self, beta: &[f64], labels: &[bool]) -> f64 {
        self.z
            .chunks_exact(self.k)
            .zip(labels)
            .map(|(row, &label)| {
                let eta: f64 = row.iter().zip(beta).map(|(a, b)| a * b).sum();
                let (l1, l0) = log_sigmoids(eta);
                if label { l1 } else { l0 }
            })
            .sum()
    }
}

fn sigmoid(t: f64) -> f64 {
    if t >= 0.0 {
        1.0 / (1.0 + (-t).exp())
    } else {
        let e = t.exp();
        e / (1.0 + e)
    }
}

/// ln σ(t) and ln(1 − σ(t)) without overflow.
fn log_sigmoids(t: f64) -> (f64, f64) {
    let soft = if t > 0.0 { t + (-t).exp().ln_1p() } else { t.exp().ln_1p() };
    (t - soft, -soft)
}

impl LogisticRegression {
    /// Fits `labels` (true = 1) on the rows of `features`, one name per column.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for mismatched sizes, no rows or bad
    /// options; [`Error::InvalidModelInput`] for a NaN or infinite feature
    /// (naming the row); [`Error::NotIdentifiable`] when the labels hold
    /// one class only; [`Error::FitFailed`] when Newton's method does not
    /// converge.
    pub fn fit(
        features: ArrayView2<'_, f64>,
        labels: &[bool],
        names: &[&str],
        options: &LogisticOptions,
    ) -> Result<LogisticRegression> {
        let (n, p) = features.dim();
        if n == 0 {
            return Err(Error::Empty { what: "rows to fit a logistic regression on" });
        }
        if labels.len() != n || names.len() != p {
            return Err(Error::InvalidArgument {
                name: "logistic regression",
                reason: format!("{n} rows and {p} columns, but {} labels and {} names", labels.len(), names.len()),
            });
        }
        if !(options.l2_penalty.is_finite() && options.l2_penalty >= 0.0 && options.tolerance > 0.0) {
            return Err(Error::InvalidArgument {
                name: "logistic options",
                reason: format!("penalty {} and tolerance {}", options.l2_penalty, options.tolerance),
            });
        }
        if let Some((row, _)) = features.outer_iter().enumerate().find(|(_, r)| r.iter().any(|v| !v.is_finite())) {
            return Err(Error::InvalidModelInput {
                model: MODEL,
                row,
                customer: None,
                reason: "a feature is NaN or infinite".into(),
            });
        }
        let positives = labels.iter().filter(|&&l| l).count();
        if positives == 0 || positives == n {
            return Err(Error::NotIdentifiable {
                model: MODEL,
                reason: format!("all {n} labels are {}", positives == n),
            });
        }
        // 1. Standardise the features (a constant column is kept, at weight 0).
        let design = Design::new(features);
        // 2. Newton's method on the penalised log-likelihood, from the
        //    intercept-only fit.
        let rate = positives as f64 / n as f64;
        let mut beta = vec![0.0; design.k];
        beta[0] = (rate / (1.0 - rate)).ln();
        let mut iterations = 0;
        let mut converged = false;
        while iterations < options.max_iterations {
            iterations += 1;
            let at = design.information(&beta, labels, options.l2_penalty);
            let inverse = invert(&at.information, design.k).ok_or_else(|| Error::FitFailed {
                model: MODEL,
                reason: "singular information matrix (add an L2 penalty)".into(),
            })?;
            let mut largest: f64 = 0.0;
            for a in 0..design.k {
                let step: f64 = (0..design.k).map(|b| inverse[a * design.k + b] * at.gradient[b]).sum();
                beta[a] += step;
                largest = largest.max(step.abs());
            }
            if !beta.iter().all(|b| b.is_finite()) {
                return Err(Error::FitFailed { model: MODEL, reason: "the weights diverged".into() });
            }
            if largest < options.tolerance {
                converged = true;
                break;
            }
        }
        if !converged {
            return Err(Error::FitFailed {
                model: MODEL,
                reason: format!("no convergence in {} Newton steps", options.max_iterations),
            });
        }
        // 3. The information and log-likelihood at the optimum (the last
        //    step moved the weights): the covariance is its inverse.
        let at = design.information(&beta, labels, options.l2_penalty);
        let covariance = invert(&at.information, design.k)
            .ok_or_else(|| Error::FitFailed { model: MODEL, reason: "singular information matrix".into() })?;
        let log_likelihood = design.log_likelihood(&beta, labels);
        let Design { means, scales, constant, .. } = design;
        Ok(LogisticRegression {
            names: names.iter().map(|s| s.to_string()).collect(),
            means,
            scales,
            constant,
            beta,
            covariance,
            iterations,
            log_likelihood,
            options: *options,
        })
    }

    /// Feature names.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Newton steps taken.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    /// Log-likelihood at the fit (without the penalty).
    pub fn log_likelihood(&self) -> f64 {
        self.log_likelihood
    }

    /// Weights on the standardised features (intercept excluded).
    pub fn standardised_coefficients(&self) -> &[f64] {
        &self.beta[1..]
    }

    /// Their standard errors (0 for a constant feature, whose weight is
    /// fixed at 0 rather than estimated).
    pub fn standardised_standard_errors(&self) -> Vec<f64> {
        let k = self.beta.len();
        (1..k).map(|j| if self.constant[j - 1] { 0.0 } else { self.covariance[j * k + j].sqrt() }).collect()
    }

    /// Which features were constant in the training data (and so have weight 0).
    pub fn constant_features(&self) -> &[bool] {
        &self.constant
    }

    /// Weights per unit of each original feature (0 for a constant one).
    pub fn coefficients(&self) -> Vec<f64> {
        self.beta[1..].iter().zip(&self.scales).map(|(b, s)| b / s).collect()
    }

    /// Standard errors of [`LogisticRegression::coefficients`].
    pub fn standard_errors(&self) -> Vec<f64> {
        self.standardised_standard_errors().iter().zip(&self.scales).map(|(e, s)| e / s).collect()
    }

    /// The intercept on the original features' scale, `β₀ − Σ βⱼ meanⱼ / sdⱼ`.
    pub fn intercept(&self) -> f64 {
        self.beta[0] - self.coefficients().iter().zip(&self.means).map(|(c, m)| c * m).sum::<f64>()
    }

    fn linear(&self, row: ArrayView1<'_, f64>) -> f64 {
        let mut eta = self.beta[0];
        for j in 0..self.means.len() {
            eta += self.beta[j + 1] * (row[j] - self.means[j]) / self.scales[j];
        }
        eta
    }

    fn check_row(&self, row: ArrayView1<'_, f64>, index: usize) -> Result<()> {
        if row.len() != self.means.len() {
            return Err(Error::InvalidArgument {
                name: "features",
                reason: format!("{} columns, the model has {}", row.len(), self.means.len()),
            });
        }
        if row.iter().any(|v| !v.is_finite()) {
            return Err(Error::InvalidModelInput {
                model: MODEL,
                row: index,
                customer: None,
                reason: "a feature is NaN or infinite".into(),
            });
        }
        Ok(())
    }

    /// P(y = 1) for each row.
    ///
    /// # Errors
    /// Wrong number of columns; NaN or infinite features.
    pub fn predict(&self, features: ArrayView2<'_, f64>) -> Result<Array1<f64>> {
        let mut out = Array1::zeros(features.nrows());
        for (i, row) in features.outer_iter().enumerate() {
            self.check_row(row, i)?;
            out[i] = sigmoid(self.linear(row));
        }
        Ok(out)
    }

    /// The features that push this row's prediction most, largest first:
    /// `(name, βⱼ · zⱼ)` on the log-odds scale (positive = towards y = 1).
    ///
    /// # Errors
    /// As [`LogisticRegression::predict`].
    pub fn explain(&self, row: ArrayView1<'_, f64>, top: usize) -> Result<Vec<(String, f64)>> {
        self.check_row(row, 0)?;
        let mut parts: Vec<(String, f64)> = (0..self.means.len())
            .map(|j| (self.names[j].clone(), self.beta[j + 1] * (row[j] - self.means[j]) / self.scales[j]))
            .collect();
        parts.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then_with(|| a.0.cmp(&b.0)));
        parts.truncate(top);
        Ok(parts)
    }
}

/// Platt scaling: `P = σ(a · logit(s) + b)` fitted on held-out scores, so
/// that a calibrated 0.7 means 70 %.
///
/// ```
/// use customer_lifecycle::churn::PlattScaling;
///
/// // Scores that are too confident: 0.9 is right only 6 times in 10.
/// let scores = [0.9; 10].iter().chain([0.1; 10].iter()).copied().collect::<Vec<_>>();
/// let labels: Vec<bool> = (0..20).map(|i| if i < 10 { i < 6 } else { i < 14 }).collect();
/// let platt = PlattScaling::fit(&scores, &labels)?;
/// assert!((platt.calibrate(0.9) - 0.6).abs() < 0.01);
/// assert!((platt.calibrate(0.1) - 0.4).abs() < 0.01);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
pub struct PlattScaling {
    /// Slope on the score's log-odds.
    pub a: f64,
    /// Intercept.
    pub b: f64,
}

fn logit(s: f64) -> f64 {
    let s = s.clamp(1e-12, 1.0 - 1e-12);
    (s / (1.0 - s)).ln()
}

impl PlattScaling {
    /// Fits the two parameters by (unpenalised) maximum likelihood.
    ///
    /// # Errors
    /// As [`LogisticRegression::fit`]; scores outside `0..=1`.
    pub fn fit(scores: &[f64], labels: &[bool]) -> Result<PlattScaling> {
        if let Some(&s) = scores.iter().find(|s| !(0.0..=1.0).contains(*s)) {
            return Err(Error::InvalidArgument { name: "score", reason: format!("{s} is outside 0..=1") });
        }
        let x = ndarray::Array2::from_shape_fn((scores.len(), 1), |(i, _)| logit(scores[i]));
        let m = LogisticRegression::fit(x.view(), labels, &["logit"], &LogisticOptions::new().l2_penalty(1e-9))?;
        Ok(PlattScaling { a: m.coefficients()[0], b: m.intercept() })
    }

    /// The calibrated probability of a score.
    pub fn calibrate(&self, score: f64) -> f64 {
        sigmoid(self.a * logit(score) + self.b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};

    #[test]
    fn matches_an_independent_fit_of_a_small_example() {
        // Unpenalised fit of y on x (x = 1..10), checked against the
        // likelihood equations: at the optimum Σ (y − p) = 0 and Σ x (y − p) = 0.
        let x = Array2::from_shape_fn((10, 1), |(i, _)| (i + 1) as f64);
        let y = [false, false, true, false, false, true, false, true, true, true];
        let m = LogisticRegression::fit(x.view(), &y, &["x"], &LogisticOptions::new().l2_penalty(0.0)).unwrap();
        let p = m.predict(x.view()).unwrap();
        let r: Vec<f64> = y.iter().zip(p.iter()).map(|(&y, &p)| f64::from(u8::from(y)) - p).collect();
        assert!(r.iter().sum::<f64>().abs() < 1e-9);
        assert!(r.iter().enumerate().map(|(i, r)| (i + 1) as f64 * r).sum::<f64>().abs() < 1e-8);
        // Standard error: 1 / sqrt(Σ x² p(1−p) − (Σ x p(1−p))² / Σ p(1−p)) for the slope.
        let w: Vec<f64> = p.iter().map(|p| p * (1.0 - p)).collect();
        let (s0, s1, s2) = (0..10).fold((0.0, 0.0, 0.0), |(a, b, c), i| {
            let xi = (i + 1) as f64;
            (a + w[i], b + w[i] * xi, c + w[i] * xi * xi)
        });
        let se = 1.0 / (s2 - s1 * s1 / s0).sqrt();
        assert!((m.standard_errors()[0] - se).abs() < 1e-9 * se, "{} vs {se}", m.standard_errors()[0]);
        // The original-scale intercept and slope reproduce the predictions.
        let (b0, b1) = (m.intercept(), m.coefficients()[0]);
        assert!((sigmoid(b0 + b1 * 3.0) - p[2]).abs() < 1e-12);
    }

    #[test]
    fn separable_data_stays_finite_with_a_penalty() {
        let x = array![[0.0], [1.0], [2.0], [3.0]];
        let y = [false, false, true, true];
        let m = LogisticRegression::fit(x.view(), &y, &["x"], &LogisticOptions::new()).unwrap();
        assert!(m.coefficients()[0].is_finite() && m.coefficients()[0] > 0.0);
        let p = m.predict(x.view()).unwrap();
        assert!(p.iter().all(|p| p.is_finite() && *p > 0.0 && *p < 1.0));
        // Without a penalty Newton's steps grow without bound: a typed error, not NaN.
        assert!(matches!(
            LogisticRegression::fit(x.view(), &y, &["x"], &LogisticOptions::new().l2_penalty(0.0).max_iterations(200)),
            Err(Error::FitFailed { .. })
        ));
    }

    #[test]
    fn constant_features_get_zero_weight_and_bad_input_is_typed() {
        let x = array![[1.0, 5.0], [2.0, 5.0], [3.0, 5.0], [4.0, 5.0]];
        let y = [false, true, false, true];
        let m = LogisticRegression::fit(x.view(), &y, &["a", "const"], &LogisticOptions::new()).unwrap();
        assert_eq!(m.coefficients()[1], 0.0);
        assert_eq!(m.standard_errors()[1], 0.0);
        assert_eq!(m.constant_features(), [false, true]);
        assert!(m.predict(x.view()).unwrap().iter().all(|p| p.is_finite()));
        assert!(matches!(
            LogisticRegression::fit(x.view(), &[true; 4], &["a", "const"], &LogisticOptions::new()),
            Err(Error::NotIdentifiable { .. })
        ));
        let nan = array![[1.0, f64::NAN], [2.0, 5.0]];
        assert!(matches!(
            LogisticRegression::fit(nan.view(), &[true, false], &["a", "b"], &LogisticOptions::new()),
            Err(Error::InvalidModelInput { row: 0, .. })
        ));
        assert!(m.predict(nan.view()).is_err());
        assert!(LogisticRegression::fit(x.view(), &y, &["a"], &LogisticOptions::new()).is_err());
        let explained = m.explain(x.row(3), 1).unwrap();
        assert_eq!(explained.len(), 1);
        assert_eq!(explained[0].0, "a");
    }
}
