//! One purchase model per group of customers — an acquisition cohort, a
//! channel, any grouping — in one call: each group's estimates with
//! standard errors beside the pooled fit, the likelihood-ratio test of
//! "one model for all", and empirical-Bayes estimates that shrink sparse
//! groups toward the pooled fit, with how much.

use std::collections::BTreeMap;
use std::fmt;

use ndarray::{Array1, ArrayView1};

use super::fit::{FitReport, LikelihoodRatioTest};
use super::model::PurchaseModel;
use crate::domain::customer::CustomerId;
use crate::error::{Error, Result};
use crate::log::summary::PurchaseSummary;

/// One group's fit: its estimates with standard errors and
/// log-likelihood, and the empirical-Bayes estimates with each
/// parameter's shrinkage (0: the group's own estimate, 1: the pooled one).
#[derive(Clone, PartialEq, Debug)]
pub struct GroupFit {
    /// The group's label.
    pub group: String,
    /// Customers in the group.
    pub customers: usize,
    /// The group's own fit.
    pub report: FitReport,
    /// The empirical-Bayes estimates (in the report's parameter order).
    pub shrunk: Vec<f64>,
    /// Each parameter's shrinkage toward the pooled estimate, in [0, 1].
    pub shrinkage: Vec<f64>,
}

/// Fits of one purchase model per group of customers, with the pooled fit
/// and the likelihood-ratio test of one model for all.
///
/// The test compares the pooled fit (k parameters) with the groups' fits
/// (k per group): 2 (Σ ℓ_group − ℓ_pooled) against χ² with k (G − 1)
/// degrees of freedom. The shrinkage is empirical Bayes on the
/// log-parameters: for each parameter, the groups' ln p_g with standard
/// errors s_g = SE_g / p_g are taken as draws around the pooled ln p with
/// a between-group variance τ² (DerSimonian–Laird's moment estimate,
/// 0 when the groups differ no more than their errors); a group's
/// estimate moves toward the pooled one by B_g = s_g² / (s_g² + τ²).
///
/// ```
/// use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
/// use customer_lifecycle::chrono::Datelike;
/// use customer_lifecycle::clv::{BetaGeo, FitOptions, GroupFits};
/// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
/// // The CDNOW sample's three acquisition months.
/// let month: Vec<String> = summary.first_purchase_dates().iter().map(|d| format!("{}-{:02}", d.year(), d.month())).collect();
/// let fits = GroupFits::fit(&summary, |row, _| Some(month[row].clone()), |x, t_x, t| {
///     BetaGeo::fit_columns(x, t_x, t, &FitOptions::default())
/// })?;
/// assert_eq!(fits.groups.len(), 3);
/// assert_eq!(fits.test.degrees_of_freedom, 8);
/// assert!(fits.groups.iter().all(|g| g.shrinkage.iter().all(|b| (0.0..=1.0).contains(b))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Debug)]
pub struct GroupFits {
    /// The fit to everyone.
    pub pooled: FitReport,
    /// Each group's fit, in the labels' order.
    pub groups: Vec<GroupFit>,
    /// One model for all (restricted) against one per group (full).
    pub test: LikelihoodRatioTest,
    /// The between-group variance τ² of each log-parameter.
    pub between_variance: Vec<f64>,
}

impl GroupFits {
    /// Fits `fit` (a purchase model's fit to columns x, t_x, T) to every
    /// group of the summary's customers and to all of them; `group_of`
    /// labels each customer (by row and id).
    ///
    /// ```
    /// use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::clv::{FitOptions, GroupFits, ParetoNbd};
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// // A customer without a group is an error naming them.
    /// let e = GroupFits::fit(&summary, |row, _| (row > 0).then(|| "rest".to_string()), |x, t_x, t| {
    ///     ParetoNbd::fit_columns(x, t_x, t, &FitOptions::default())
    /// })
    /// .unwrap_err();
    /// assert!(e.to_string().contains("no group"), "{e}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidModelInput`] naming a customer without a group;
    /// [`Error::InvalidArgument`] for fewer than two groups or a model
    /// without a fit report; a group's fit error, with the group named.
    pub fn fit<M: PurchaseModel>(
        summary: &PurchaseSummary,
        group_of: impl Fn(usize, &CustomerId) -> Option<String>,
        fit: impl Fn(ArrayView1<'_, f64>, ArrayView1<'_, f64>, ArrayView1<'_, f64>) -> Result<M>,
    ) -> Result<GroupFits> {
        let columns = [summary.frequency(), summary.recency(), summary.age()];
        GroupFits::fit_columns(summary.ids(), columns, group_of, fit)
    }

    /// [`GroupFits::fit`] to columns x, t_x, T of the customers `ids`.
    ///
    /// ```
    /// use customer_lifecycle::CustomerId;
    /// use customer_lifecycle::clv::{BetaGeo, FitOptions, GroupFits};
    /// let ages = vec![39.0; 3000];
    /// let sim = BetaGeo::new(0.24, 4.4, 0.79, 2.4)?.simulate(&ages, 3)?;
    /// let ids: Vec<CustomerId> = (0..3000).map(CustomerId::from).collect();
    /// let columns = [sim.frequency.view(), sim.recency.view(), sim.age.view()];
    /// let fits = GroupFits::fit_columns(&ids, columns, |row, _| Some(format!("g{}", row % 2)), |x, t_x, t| {
    ///     BetaGeo::fit_columns(x, t_x, t, &FitOptions::default())
    /// })?;
    /// assert!(fits.test.p_value > 0.001, "{fits}"); // one model for all: the same population
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`GroupFits::fit`]; [`Error::InvalidArgument`] for columns of
    /// other lengths than the ids.
    pub fn fit_columns<M: PurchaseModel>(
        ids: &[CustomerId],
        [x, t_x, age]: [ArrayView1<'_, f64>; 3],
        group_of: impl Fn(usize, &CustomerId) -> Option<String>,
        fit: impl Fn(ArrayView1<'_, f64>, ArrayView1<'_, f64>, ArrayView1<'_, f64>) -> Result<M>,
    ) -> Result<GroupFits> {
        let n = ids.len();
        if x.len() != n || t_x.len() != n || age.len() != n {
            return Err(Error::InvalidArgument {
                name: "model input",
                reason: format!("{n} customers for columns of lengths {}, {}, {}", x.len(), t_x.len(), age.len()),
            });
        }
        let mut members: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (row, id) in ids.iter().enumerate() {
            let group = group_of(row, id).ok_or_else(|| Error::InvalidModelInput {
                model: "grouped fit",
                row,
                customer: Some(id.to_string()),
                reason: "the customer has no group".into(),
            })?;
            members.entry(group).or_default().push(row);
        }
        if members.len() < 2 {
            return Err(Error::InvalidArgument {
                name: "groups",
                reason: format!("{} group(s): a comparison needs at least two", members.len()),
            });
        }
        let report_of = |model: &M, what: &str| -> Result<FitReport> {
            model.fit_report().cloned().ok_or_else(|| Error::InvalidArgument {
                name: "grouped fit",
                reason: format!("the fit of {what} gave a model without a fit report"),
            })
        };
        let pooled = report_of(&fit(x, t_x, age)?, "everyone")?;
        let mut fits = Vec::with_capacity(members.len());
        for (group, rows) in &members {
            let pick = |c: ArrayView1<'_, f64>| rows.iter().map(|&i| c[i]).collect::<Array1<f64>>();
            let (gx, gt, ga) = (pick(x), pick(t_x), pick(age));
            let model = fit(gx.view(), gt.view(), ga.view()).map_err(|e| naming_group(e, group))?;
            fits.push((group.clone(), rows.len(), report_of(&model, group)?));
        }
        let k = pooled.parameters.len();
        let full: f64 = fits.iter().map(|(_, _, r)| r.log_likelihood).sum();
        let test = LikelihoodRatioTest::from_log_likelihoods(pooled.log_likelihood, full, k * (fits.len() - 1))?;
        // Empirical Bayes per log-parameter, around the pooled estimate.
        let mut between_variance = vec![0.0; k];
        for (j, tau2) in between_variance.iter_mut().enumerate() {
            let centre = pooled.parameters[j].ln();
            let (mut q, mut sw, mut sw2) = (0.0, 0.0, 0.0);
            for (_, _, r) in &fits {
                let s = r.standard_errors[j] / r.parameters[j];
                let w = 1.0 / (s * s);
                q += w * (r.parameters[j].ln() - centre).powi(2);
                sw += w;
                sw2 += w * w;
            }
            let g = fits.len() as f64;
            let denominator = sw - sw2 / sw;
            *tau2 = if denominator > 0.0 { ((q - (g - 1.0)) / denominator).max(0.0) } else { 0.0 };
        }
        let groups = fits
            .into_iter()
            .map(|(group, customers, report)| {
                let mut shrunk = Vec::with_capacity(k);
                let mut shrinkage = Vec::with_capacity(k);
                for (j, tau2) in between_variance.iter().enumerate() {
                    let s2 = (report.standard_errors[j] / report.parameters[j]).powi(2);
                    let b = if *tau2 > 0.0 { s2 / (s2 + tau2) } else { 1.0 };
                    let value = b * pooled.parameters[j].ln() + (1.0 - b) * report.parameters[j].ln();
                    shrunk.push(value.exp());
                    shrinkage.push(b);
                }
                GroupFit { group, customers, report, shrunk, shrinkage }
            })
            .collect();
        Ok(GroupFits { pooled, groups, test, between_variance })
    }
}

/// A group's fit error with the group named in its message.
fn naming_group(e: Error, group: &str) -> Error {
    match e {
        Error::FitFailed { model, reason } => Error::FitFailed { model, reason: format!("group {group:?}: {reason}") },
        Error::NotIdentifiable { model, reason } => {
            Error::NotIdentifiable { model, reason: format!("group {group:?}: {reason}") }
        }
        other => other,
    }
}

impl fmt::Display for GroupFits {
    /// The comparison table: each group's estimates ± standard errors (and
    /// the shrunk estimate with its shrinkage), the pooled fit, the test.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = &self.pooled.parameter_names;
        write!(f, "{:<12} {:>9}", "group", "customers")?;
        for n in names {
            write!(f, " {:>24}", n)?;
        }
        writeln!(f, " {:>14}", "log-likelihood")?;
        for g in &self.groups {
            write!(f, "{:<12} {:>9}", g.group, g.customers)?;
            for j in 0..names.len() {
                let cell = format!("{:.4} ± {:.4}", g.report.parameters[j], g.report.standard_errors[j]);
                write!(f, " {cell:>24}")?;
            }
            writeln!(f, " {:>14.2}", g.report.log_likelihood)?;
            write!(f, "{:<12} {:>9}", "  shrunk", "")?;
            for j in 0..names.len() {
                let cell = format!("{:.4} (B {:.2})", g.shrunk[j], g.shrinkage[j]);
                write!(f, " {cell:>24}")?;
            }
            writeln!(f)?;
        }
        write!(f, "{:<12} {:>9}", "pooled", self.pooled.observations)?;
        for j in 0..names.len() {
            let cell = format!("{:.4} ± {:.4}", self.pooled.parameters[j], self.pooled.standard_errors[j]);
            write!(f, " {cell:>24}")?;
        }
        writeln!(f, " {:>14.2}", self.pooled.log_likelihood)?;
        write!(
            f,
            "one model for all: LR {:.2}, {} degrees of freedom, p = {:.3e}",
            self.test.statistic, self.test.degrees_of_freedom, self.test.p_value
        )
    }
}
