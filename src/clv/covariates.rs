//! Time-invariant covariates in BG/NBD and MBG/NBD: [`Covariates`],
//! [`CovariateOptions`] and [`BetaGeoCovariates`] (whose docs give the
//! parametrisation).

use std::collections::BTreeMap;

use ndarray::{Array1, Array2, ArrayView1};

use super::bgnbd::{BetaGeo, BetaGeoVariant, Evaluator};
use super::data::{self, RepeatRows};
use super::fit::{self, FitOptions, FitReport, Objective};
use crate::domain::customer::CustomerId;
use crate::domain::table::CustomerTable;
use crate::error::{Error, Result};
use crate::log::summary::PurchaseSummary;
use crate::math::linalg::invert;

/// Covariates keyed by customer: named numeric columns, categorical ones
/// coded as indicator columns against a reference level. Build with
/// [`Covariates::builder`].
///
/// ```
/// use customer_lifecycle::CustomerId;
/// use customer_lifecycle::clv::Covariates;
/// let ids: Vec<CustomerId> = ["ana", "ben", "cem", "dia"].into_iter().map(CustomerId::from).collect();
/// let covariates = Covariates::builder(ids)
///     .numeric("age", vec![31.0, 45.0, 27.0, 52.0])?
///     .categorical("channel", &["web", "store", "web", "app"], None)?
///     .build()?;
/// // "web" is the most frequent level, so it is the reference.
/// assert_eq!(covariates.names(), ["age", "channel=app", "channel=store"]);
/// assert_eq!(covariates.value(&CustomerId::from("dia"), "channel=app"), Some(1.0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Debug)]
pub struct Covariates {
    table: CustomerTable,
}

/// Builds [`Covariates`] column by column.
#[derive(Clone, Debug)]
pub struct CovariatesBuilder {
    table: CustomerTable,
    /// A customer given twice (refused at the next step).
    repeated: Option<CustomerId>,
}

fn bad(reason: String) -> Error {
    Error::InvalidArgument { name: "covariates", reason }
}

impl Covariates {
    /// A builder for covariates of these customers (one row each).
    ///
    /// ```
    /// use customer_lifecycle::CustomerId;
    /// use customer_lifecycle::clv::Covariates;
    /// let covariates = Covariates::builder(vec![CustomerId::from(1), CustomerId::from(2)]).numeric("x", vec![0.0, 1.0])?.build()?;
    /// assert_eq!(covariates.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder(ids: Vec<CustomerId>) -> CovariatesBuilder {
        let mut seen = std::collections::HashSet::with_capacity(ids.len());
        let repeated = ids.iter().find(|id| !seen.insert(*id)).cloned();
        CovariatesBuilder { table: CustomerTable::new(ids), repeated }
    }

    /// The column names (a categorical column's as `name=level`).
    ///
    /// ```
    /// use customer_lifecycle::CustomerId;
    /// use customer_lifecycle::clv::Covariates;
    /// let c = Covariates::builder(vec![CustomerId::from(1), CustomerId::from(2)]).numeric("x", vec![0.0, 1.0])?.build()?;
    /// assert_eq!(c.names(), ["x"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn names(&self) -> &[String] {
        self.table.names()
    }

    /// Number of customers.
    ///
    /// ```
    /// use customer_lifecycle::CustomerId;
    /// use customer_lifecycle::clv::Covariates;
    /// let c = Covariates::builder(vec![CustomerId::from(1), CustomerId::from(2)]).numeric("x", vec![0.0, 1.0])?.build()?;
    /// assert!(!c.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether there are no customers.
    ///
    /// ```
    /// use customer_lifecycle::CustomerId;
    /// use customer_lifecycle::clv::Covariates;
    /// let c = Covariates::builder(vec![CustomerId::from(1), CustomerId::from(2)]).numeric("x", vec![0.0, 1.0])?.build()?;
    /// assert_eq!(c.is_empty(), c.len() == 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// A customer's value of a column.
    ///
    /// ```
    /// use customer_lifecycle::CustomerId;
    /// use customer_lifecycle::clv::Covariates;
    /// let c = Covariates::builder(vec![CustomerId::from(1), CustomerId::from(2)]).numeric("x", vec![0.0, 1.5])?.build()?;
    /// assert_eq!(c.value(&CustomerId::from(2), "x"), Some(1.5));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn value(&self, customer: &CustomerId, name: &str) -> Option<f64> {
        self.table.value(customer, name)
    }

    /// The covariates as a table keyed by customer.
    ///
    /// ```
    /// use customer_lifecycle::CustomerId;
    /// use customer_lifecycle::clv::Covariates;
    /// let c = Covariates::builder(vec![CustomerId::from(1), CustomerId::from(2)]).numeric("x", vec![0.0, 1.0])?.build()?;
    /// assert_eq!(c.table().names(), ["x"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn table(&self) -> &CustomerTable {
        &self.table
    }

    /// The columns `names` of the customers `ids`, row by row in that
    /// order (row-major, `ids.len() × names.len()`).
    fn rows_of(&self, ids: &[CustomerId], names: &[String], model: &'static str) -> Result<Vec<f64>> {
        let columns = names
            .iter()
            .map(|n| self.table.column(n).ok_or_else(|| bad(format!("no covariate column {n:?}"))))
            .collect::<Result<Vec<_>>>()?;
        let mut out = Vec::with_capacity(ids.len() * names.len());
        for (row, id) in ids.iter().enumerate() {
            let k = self.table.position(id).ok_or_else(|| Error::InvalidModelInput {
                model,
                row,
                customer: Some(id.to_string()),
                reason: "the customer has no covariates".into(),
            })?;
            out.extend(columns.iter().map(|c| c[k]));
        }
        Ok(out)
    }
}

impl CovariatesBuilder {
    /// Adds a numeric column.
    ///
    /// ```
    /// use customer_lifecycle::CustomerId;
    /// use customer_lifecycle::clv::Covariates;
    /// let builder = Covariates::builder(vec![CustomerId::from(1), CustomerId::from(2)]);
    /// assert!(builder.clone().numeric("x", vec![0.0, f64::NAN]).is_err()); // never NaN
    /// assert!(builder.numeric("x", vec![0.0, 2.0]).is_ok());
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a value that is not finite (naming
    /// the customer), a column of another length, a repeated name or a
    /// customer given twice.
    pub fn numeric(self, name: &str, values: Vec<f64>) -> Result<CovariatesBuilder> {
        let repeated = self.checked()?;
        let table = self.table.with_column(name, Array1::from(values))?;
        Ok(CovariatesBuilder { table, repeated })
    }

    /// Refuses a customer given twice.
    fn checked(&self) -> Result<Option<CustomerId>> {
        match &self.repeated {
            Some(id) => Err(bad(format!("customer {id} has two rows"))),
            None => Ok(None),
        }
    }

    /// Adds a categorical column as indicators `name=level`, one for every
    /// level but the reference: `reference`, or the most frequent level
    /// (ties to the first in text order).
    ///
    /// ```
    /// use customer_lifecycle::CustomerId;
    /// use customer_lifecycle::clv::Covariates;
    /// let ids: Vec<CustomerId> = (1..=3).map(CustomerId::from).collect();
    /// let c = Covariates::builder(ids).categorical("tier", &["gold", "basic", "basic"], Some("gold"))?.build()?;
    /// assert_eq!(c.names(), ["tier=basic"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a column of another length, a
    /// reference that is not one of the levels, or a single level.
    pub fn categorical(self, name: &str, values: &[&str], reference: Option<&str>) -> Result<CovariatesBuilder> {
        let repeated = self.checked()?;
        let mut table = self.table;
        if values.len() != table.len() {
            return Err(bad(format!("column {name:?} has {} values for {} customers", values.len(), table.len())));
        }
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for v in values {
            *counts.entry(v).or_default() += 1;
        }
        if counts.len() < 2 {
            return Err(bad(format!("column {name:?} has a single level: it cannot have an effect")));
        }
        let reference = match reference {
            Some(r) if counts.contains_key(r) => r,
            Some(r) => return Err(bad(format!("column {name:?} has no level {r:?}"))),
            // The most frequent; among equals the first in text order.
            None => counts.iter().fold(("", 0), |best, (l, c)| if *c > best.1 { (l, *c) } else { best }).0,
        };
        for level in counts.keys().filter(|l| **l != reference) {
            let indicator: Array1<f64> = values.iter().map(|v| f64::from(u8::from(v == level))).collect();
            table = table.with_column(format!("{name}={level}"), indicator)?;
        }
        Ok(CovariatesBuilder { table, repeated })
    }

    /// The covariates.
    ///
    /// ```
    /// use customer_lifecycle::CustomerId;
    /// use customer_lifecycle::clv::Covariates;
    /// assert!(Covariates::builder(vec![CustomerId::from(1)]).build().is_err()); // no columns
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] without columns or customers, or for an
    /// error of an earlier step.
    pub fn build(self) -> Result<Covariates> {
        self.checked()?;
        let table = self.table;
        if table.names().is_empty() || table.is_empty() {
            return Err(bad("covariates need at least one customer and one column".into()));
        }
        Ok(Covariates { table })
    }
}

/// Which covariates enter which process, and the L2 penalty on each
/// process's effects (Σ w γ² added to the negative log-likelihood).
///
/// ```
/// use customer_lifecycle::clv::CovariateOptions;
/// let options = CovariateOptions::new().purchase(&["age", "channel=app"]).dropout(&["age"]).l2(0.0, 0.5);
/// # let _ = options;
/// ```
#[derive(Clone, PartialEq, Debug, Default)]
pub struct CovariateOptions {
    purchase: Vec<String>,
    dropout: Vec<String>,
    l2_purchase: f64,
    l2_dropout: f64,
    fit: FitOptions,
}

impl CovariateOptions {
    /// No covariates yet, no penalty, default fit options.
    ///
    /// ```
    /// use customer_lifecycle::clv::CovariateOptions;
    /// assert_eq!(CovariateOptions::new(), CovariateOptions::default());
    /// ```
    pub fn new() -> CovariateOptions {
        CovariateOptions::default()
    }

    /// The columns that move the purchase process (γ_P).
    ///
    /// ```
    /// use customer_lifecycle::clv::CovariateOptions;
    /// let options = CovariateOptions::new().purchase(&["age"]);
    /// # let _ = options;
    /// ```
    pub fn purchase(mut self, names: &[&str]) -> CovariateOptions {
        self.purchase = names.iter().map(|n| n.to_string()).collect();
        self
    }

    /// The columns that move the drop-out process (γ_D).
    ///
    /// ```
    /// use customer_lifecycle::clv::CovariateOptions;
    /// let options = CovariateOptions::new().dropout(&["age"]);
    /// # let _ = options;
    /// ```
    pub fn dropout(mut self, names: &[&str]) -> CovariateOptions {
        self.dropout = names.iter().map(|n| n.to_string()).collect();
        self
    }

    /// L2 penalty weights on the purchase and the drop-out effects (0: none).
    ///
    /// ```
    /// use customer_lifecycle::clv::CovariateOptions;
    /// let options = CovariateOptions::new().l2(0.1, 0.1);
    /// # let _ = options;
    /// ```
    pub fn l2(mut self, purchase: f64, dropout: f64) -> CovariateOptions {
        self.l2_purchase = purchase;
        self.l2_dropout = dropout;
        self
    }

    /// The optimiser's options (starting values, when given, in the order
    /// r, α, a, b, the purchase effects, the drop-out effects).
    ///
    /// ```
    /// use customer_lifecycle::clv::{CovariateOptions, FitOptions};
    /// let options = CovariateOptions::new().fit_options(FitOptions::new().max_iterations(300));
    /// # let _ = options;
    /// ```
    pub fn fit_options(mut self, fit: FitOptions) -> CovariateOptions {
        self.fit = fit;
        self
    }
}

/// BG/NBD or MBG/NBD with time-invariant covariates in the purchase and
/// drop-out processes, in CLVTools' parametrisation (so estimates compare
/// one to one).
///
/// Customer *i* with purchase covariates z_P and drop-out covariates z_D
/// (row vectors) has its own BG/NBD parameters
///
/// * α_i = α · exp(−γ_P · z_P): a positive γ_P effect lowers the scale of
///   the purchase-rate distribution, so it **raises** the purchase rate
///   (the mean rate is r/α_i);
/// * a_i = a · exp(γ_D · z_D) and b_i = b · exp(γ_D · z_D): one drop-out
///   vector moves both, so the mean drop-out probability a/(a + b) **does
///   not move** with the covariates — they change its dispersion (how
///   concentrated the drop-out probabilities are), as in CLVTools;
/// * r is shared by all customers.
///
/// The effects are per unit of the covariate as given (standardise a
/// numeric column yourself if you want effects per standard deviation).
/// The log-likelihood is the sum of each customer's BG/NBD (or MBG/NBD)
/// log-likelihood at their own parameters; its gradient and Hessian in
/// (r, α, a, b, γ_P, γ_D) follow from the model's exact ones by the chain
/// rule. Customers are grouped by their covariate vector (and, within a
/// group, by (x, t_x, T)), so categorical covariates cost little.
///
/// ```
/// use customer_lifecycle::clv::{BetaGeo, BetaGeoCovariates};
/// let base = BetaGeo::new(0.25, 4.4, 0.79, 2.4)?;
/// let model = BetaGeoCovariates::new(&base, vec![("vip".into(), 0.5)], vec![("vip".into(), -0.3)])?;
/// // A VIP's own BG/NBD: α·e^−0.5, a·e^−0.3, b·e^−0.3.
/// let vip = model.customer_model(&[1.0], &[1.0])?;
/// let (_, alpha, a, b) = vip.parameters();
/// assert!((alpha - 4.4 * (-0.5f64).exp()).abs() < 1e-12 && (a / (a + b) - 0.79 / 3.19).abs() < 1e-12);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Debug)]
pub struct BetaGeoCovariates {
    base: BetaGeo,
    purchase: Vec<(String, f64)>,
    dropout: Vec<(String, f64)>,
    report: Option<FitReport>,
}

/// Customers of one covariate vector, grouped by (x, t_x, T).
struct Group {
    purchase: Vec<f64>,
    dropout: Vec<f64>,
    rows: RepeatRows,
}

/// A group's own parameters (r, α_i, a_i, b_i) at the model's
/// (r, α, a, b, γ_P, γ_D) = `p`.
fn group_point(p: &[f64], purchase: &[f64], dropout: &[f64]) -> [f64; 4] {
    let kp = purchase.len();
    let dot = |z: &[f64], gamma: &[f64]| z.iter().zip(gamma).map(|(z, c)| z * c).sum::<f64>();
    let purchase = (-dot(purchase, &p[4..4 + kp])).exp();
    let dropout = dot(dropout, &p[4 + kp..]).exp();
    [p[0], p[1] * purchase, p[2] * dropout, p[3] * dropout]
}

/// The Jacobian ∂q/∂p (4 × k, row-major) of a group's parameters
/// q = (r, α_i, a_i, b_i) in the model's p.
fn jacobian(p: &[f64], q: &[f64; 4], g: &Group) -> Vec<f64> {
    let k = p.len();
    let kp = g.purchase.len();
    let mut j = vec![0.0; 4 * k];
    j[0] = 1.0;
    j[k + 1] = q[1] / p[1];
    j[2 * k + 2] = q[2] / p[2];
    j[3 * k + 3] = q[3] / p[3];
    for (c, z) in g.purchase.iter().enumerate() {
        j[k + 4 + c] = -z * q[1];
    }
    for (c, z) in g.dropout.iter().enumerate() {
        j[2 * k + 4 + kp + c] = z * q[2];
        j[3 * k + 4 + kp + c] = z * q[3];
    }
    j
}

/// The customers grouped by covariate vector (in a fixed order: by the
/// covariates' bit patterns), each group by (x, t_x, T).
fn groups(
    model: &'static str,
    ids: &[CustomerId],
    [x, t_x, t]: [ArrayView1<'_, f64>; 3],
    (zp, kp): (&[f64], usize),
    (zd, kd): (&[f64], usize),
) -> Result<Vec<Group>> {
    let mut members: BTreeMap<Vec<u64>, Vec<usize>> = BTreeMap::new();
    for i in 0..ids.len() {
        let key = zp[i * kp..(i + 1) * kp].iter().chain(&zd[i * kd..(i + 1) * kd]).map(|v| (v + 0.0).to_bits());
        members.entry(key.collect()).or_default().push(i);
    }
    members
        .values()
        .map(|rows| {
            let pick = |c: ArrayView1<'_, f64>| -> Array1<f64> { rows.iter().map(|&i| c[i]).collect() };
            let grouped = data::group_rows(model, pick(x).view(), pick(t_x).view(), pick(t).view()).map_err(|e| {
                // The row within the group is row `rows[row]` of the columns.
                let row = match &e {
                    Error::InvalidModelInput { row, .. } => rows.get(*row).copied(),
                    _ => None,
                };
                match row {
                    Some(row) => e.at_row(row).naming_customer(ids),
                    None => e,
                }
            })?;
            let first = rows[0];
            Ok(Group {
                purchase: zp[first * kp..(first + 1) * kp].to_vec(),
                dropout: zd[first * kd..(first + 1) * kd].to_vec(),
                rows: grouped,
            })
        })
        .collect()
}

/// The log-likelihood of all groups with its gradient and Hessian in the
/// model's parameters p = (r, α, a, b, γ_P, γ_D): each group's BG/NBD ones
/// at its own point q, by the chain rule (∇ = Jᵀ∇_q, ∇² = Jᵀ∇²_q J +
/// Σ_m ∂ℓ/∂q_m ∇²q_m).
struct Likelihood<'a> {
    groups: &'a [Group],
    evaluators: Vec<Evaluator<'a>>,
    k: usize,
}

impl<'a> Likelihood<'a> {
    fn new(variant: BetaGeoVariant, groups: &'a [Group], k: usize) -> Likelihood<'a> {
        Likelihood { groups, evaluators: groups.iter().map(|g| Evaluator::new(variant, &g.rows)).collect(), k }
    }

    fn log_likelihood(&self, p: &[f64]) -> f64 {
        self.groups
            .iter()
            .zip(&self.evaluators)
            .map(|(g, e)| e.log_likelihood(group_point(p, &g.purchase, &g.dropout)))
            .sum()
    }

    fn gradient(&self, p: &[f64]) -> Vec<f64> {
        let k = self.k;
        let mut out = vec![0.0; k];
        for (g, e) in self.groups.iter().zip(&self.evaluators) {
            let q = group_point(p, &g.purchase, &g.dropout);
            let gq = e.gradient(q);
            let j = jacobian(p, &q, g);
            for (c, o) in out.iter_mut().enumerate() {
                *o += (0..4).map(|m| gq[m] * j[m * k + c]).sum::<f64>();
            }
        }
        out
    }

    fn hessian(&self, p: &[f64]) -> Vec<f64> {
        let k = self.k;
        let mut out = vec![0.0; k * k];
        for (g, e) in self.groups.iter().zip(&self.evaluators) {
            let kp = g.purchase.len();
            let q = group_point(p, &g.purchase, &g.dropout);
            let (gq, hq) = (e.gradient(q), e.hessian(q));
            let j = jacobian(p, &q, g);
            // ∂²q_m/∂p_u∂p_v of q_1 = α e^{−γ_P z_P}, q_2 = a e^{γ_D z_D}, q_3 = b e^{γ_D z_D}.
            let second = |m: usize, u: usize, v: usize| -> f64 {
                let (base, effects, sign, z): (usize, usize, f64, &[f64]) = match m {
                    1 => (1, 4, -1.0, &g.purchase),
                    2 => (2, 4 + kp, 1.0, &g.dropout),
                    3 => (3, 4 + kp, 1.0, &g.dropout),
                    _ => return 0.0,
                };
                let effect = |i: usize| (i >= effects && i < effects + z.len()).then(|| sign * z[i - effects]);
                match (u == base, effect(u), v == base, effect(v)) {
                    (_, Some(zu), _, Some(zv)) => zu * zv * q[m],
                    (true, None, _, Some(zv)) | (_, Some(zv), true, None) => zv * q[m] / p[base],
                    _ => 0.0,
                }
            };
            for u in 0..k {
                for v in 0..k {
                    let mut sum = 0.0;
                    for m in 0..4 {
                        for n in 0..4 {
                            sum += j[m * k + u] * hq[m * 4 + n] * j[n * k + v];
                        }
                    }
                    sum += (1..4).map(|m| gq[m] * second(m, u, v)).sum::<f64>();
                    out[u * k + v] += sum;
                }
            }
        }
        out
    }
}

impl BetaGeoCovariates {
    /// A model with given parameters: the base model (r, α, a, b and the
    /// variant) and the named purchase and drop-out effects.
    ///
    /// ```
    /// use customer_lifecycle::clv::{BetaGeo, BetaGeoCovariates};
    /// let base = BetaGeo::modified(0.25, 4.4, 0.79, 2.4)?;
    /// let model = BetaGeoCovariates::new(&base, vec![], vec![("age".into(), 0.02)])?;
    /// assert_eq!(model.dropout_effects()[0].1, 0.02);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an effect that is not finite.
    pub fn new(base: &BetaGeo, purchase: Vec<(String, f64)>, dropout: Vec<(String, f64)>) -> Result<BetaGeoCovariates> {
        if let Some((name, v)) = purchase.iter().chain(&dropout).find(|(_, v)| !v.is_finite()) {
            return Err(Error::InvalidArgument { name: "covariate effect", reason: format!("{name}: {v}") });
        }
        let (r, alpha, a, b) = base.parameters();
        let base = match base.variant() {
            BetaGeoVariant::Classic => BetaGeo::new(r, alpha, a, b)?,
            BetaGeoVariant::Modified => BetaGeo::modified(r, alpha, a, b)?,
        };
        Ok(BetaGeoCovariates { base, purchase, dropout, report: None })
    }

    /// Fits the model to a summary and its customers' covariates.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::clv::{BetaGeoCovariates, BetaGeoVariant, CovariateOptions, Covariates};
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// // An illustrative covariate: whether the customer's id is even.
    /// let even: Vec<&str> = summary.ids().iter().map(|id| if id.to_string().ends_with(['0', '2', '4', '6', '8']) { "even" } else { "odd" }).collect();
    /// let covariates = Covariates::builder(summary.ids().to_vec()).categorical("id", &even, Some("odd"))?.build()?;
    /// let options = CovariateOptions::new().purchase(&["id=even"]).dropout(&["id=even"]);
    /// let model = BetaGeoCovariates::fit(BetaGeoVariant::Classic, &summary, &covariates, &options)?;
    /// let report = model.report().unwrap();
    /// assert_eq!(report.parameter_names, ["r", "alpha", "a", "b", "purchase:id=even", "dropout:id=even"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidModelInput`] naming a customer without covariates
    /// (or with an impossible row); [`Error::InvalidArgument`] for an
    /// unknown column or bad options; [`Error::NotIdentifiable`] for a
    /// constant column or collinear columns in one process, or when the
    /// information matrix at the optimum is singular;
    /// [`Error::FitFailed`] when the optimiser does not converge (an
    /// effect that runs off to infinity — separation — ends here unless a
    /// penalty holds it).
    pub fn fit(
        variant: BetaGeoVariant,
        summary: &PurchaseSummary,
        covariates: &Covariates,
        options: &CovariateOptions,
    ) -> Result<BetaGeoCovariates> {
        let (x, t_x, t) = (summary.frequency(), summary.recency(), summary.age());
        let model = BetaGeoCovariates::fit_columns(variant, summary.ids(), x, t_x, t, covariates, options)?;
        Ok(BetaGeoCovariates { base: model.base.in_unit(summary.periods().unit()), ..model })
    }

    /// [`BetaGeoCovariates::fit`] to columns `x`, `t_x`, `T` of the
    /// customers `ids`.
    ///
    /// ```
    /// use customer_lifecycle::CustomerId;
    /// use customer_lifecycle::clv::{BetaGeo, BetaGeoCovariates, BetaGeoVariant, CovariateOptions, Covariates};
    /// // Two groups simulated apart: the second buys at twice the rate (α halved).
    /// let ages = vec![52.0; 1500];
    /// let slow = BetaGeo::new(0.8, 6.0, 0.7, 2.5)?.simulate(&ages, 1)?;
    /// let fast = BetaGeo::new(0.8, 3.0, 0.7, 2.5)?.simulate(&ages, 2)?;
    /// let join = |a: &customer_lifecycle::ndarray::Array1<f64>, b: &customer_lifecycle::ndarray::Array1<f64>| -> customer_lifecycle::ndarray::Array1<f64> { a.iter().chain(b).copied().collect() };
    /// let (x, t_x, t) = (join(&slow.frequency, &fast.frequency), join(&slow.recency, &fast.recency), join(&slow.age, &fast.age));
    /// let ids: Vec<CustomerId> = (0..3000).map(CustomerId::from).collect();
    /// let z: Vec<f64> = (0..3000).map(|i| if i < 1500 { 0.0 } else { 1.0 }).collect();
    /// let covariates = Covariates::builder(ids.clone()).numeric("fast", z)?.build()?;
    /// let options = CovariateOptions::new().purchase(&["fast"]);
    /// let model = BetaGeoCovariates::fit_columns(BetaGeoVariant::Classic, &ids, x.view(), t_x.view(), t.view(), &covariates, &options)?;
    /// let (effect, se) = (model.purchase_effects()[0].1, model.report().unwrap().standard_errors[4]);
    /// assert!((effect - 2f64.ln()).abs() < 3.0 * se, "{effect} ± {se}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`BetaGeoCovariates::fit`], and [`Error::InvalidArgument`] for
    /// columns of different lengths.
    pub fn fit_columns(
        variant: BetaGeoVariant,
        ids: &[CustomerId],
        frequency: ArrayView1<'_, f64>,
        recency: ArrayView1<'_, f64>,
        age: ArrayView1<'_, f64>,
        covariates: &Covariates,
        options: &CovariateOptions,
    ) -> Result<BetaGeoCovariates> {
        let model = match variant {
            BetaGeoVariant::Classic => "BG/NBD with covariates",
            BetaGeoVariant::Modified => "MBG/NBD with covariates",
        };
        let n = ids.len();
        if frequency.len() != n || recency.len() != n || age.len() != n {
            return Err(Error::InvalidArgument {
                name: "model input",
                reason: format!(
                    "{model}: {n} customers for columns of lengths {}, {}, {}",
                    frequency.len(),
                    recency.len(),
                    age.len()
                ),
            });
        }
        let (kp, kd) = (options.purchase.len(), options.dropout.len());
        let zp = covariates.rows_of(ids, &options.purchase, model)?;
        let zd = covariates.rows_of(ids, &options.dropout, model)?;
        check_design(model, "purchase", &options.purchase, &zp, n)?;
        check_design(model, "drop-out", &options.dropout, &zd, n)?;
        // The whole data's checks (two customers, some repeat purchases).
        data::group(model, frequency, recency, age).map_err(|e| e.naming_customer(ids))?;
        let groups = groups(model, ids, [frequency, recency, age], (&zp, kp), (&zd, kd))?;
        let likelihood = Likelihood::new(variant, &groups, 4 + kp + kd);
        let k = 4 + kp + kd;
        let neg_ll = |p: &[f64]| -likelihood.log_likelihood(p);
        let neg_gradient = |p: &[f64]| -> Vec<f64> { likelihood.gradient(p).iter().map(|g| -g).collect() };
        let neg_hessian = |p: &[f64]| -> Vec<f64> { likelihood.hessian(p).iter().map(|h| -h).collect() };
        // Starts: the fit without covariates, effects 0; then ones.
        let free = BetaGeo::fit_variant(variant, frequency, recency, age, &FitOptions::default()).ok();
        let mut from_free = free.map(|m| {
            let (r, alpha, a, b) = m.parameters();
            vec![r, alpha, a, b]
        });
        if let Some(s) = from_free.as_mut() {
            s.resize(k, 0.0);
        }
        let mut ones = vec![1.0; 4];
        ones.resize(k, 0.0);
        let mut starts: Vec<&[f64]> = vec![&ones];
        if let Some(s) = &from_free {
            starts.insert(0, s);
        }
        let names: Vec<String> = ["r", "alpha", "a", "b"]
            .iter()
            .map(|s| s.to_string())
            .chain(options.purchase.iter().map(|n| format!("purchase:{n}")))
            .chain(options.dropout.iter().map(|n| format!("dropout:{n}")))
            .collect();
        let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut penalty = vec![0.0; 4];
        penalty.extend(std::iter::repeat_n(options.l2_purchase, kp));
        penalty.extend(std::iter::repeat_n(options.l2_dropout, kd));
        let objective = Objective {
            neg_ll: &neg_ll,
            gradient: Some(&neg_gradient),
            hessian: Some(&neg_hessian),
            positive: 4,
            penalty,
        };
        let age_zero: usize = groups.iter().map(|g| g.rows.age_zero).sum();
        let report = fit::maximise_objective(model, &name_refs, &objective, &starts, n as f64, &options.fit)?;
        let p = &report.parameters;
        let base = match variant {
            BetaGeoVariant::Classic => BetaGeo::new(p[0], p[1], p[2], p[3])?,
            BetaGeoVariant::Modified => BetaGeo::modified(p[0], p[1], p[2], p[3])?,
        };
        let named = |names: &[String], values: &[f64]| names.iter().cloned().zip(values.iter().copied()).collect();
        Ok(BetaGeoCovariates {
            base,
            purchase: named(&options.purchase, &p[4..4 + kp]),
            dropout: named(&options.dropout, &p[4 + kp..]),
            report: Some(FitReport { age_zero, ..report }),
        })
    }

    /// The base model: r, α, a, b (a customer whose covariates are all 0).
    ///
    /// ```
    /// use customer_lifecycle::clv::{BetaGeo, BetaGeoCovariates};
    /// let base = BetaGeo::new(0.25, 4.4, 0.79, 2.4)?;
    /// assert_eq!(BetaGeoCovariates::new(&base, vec![], vec![])?.base().parameters(), base.parameters());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn base(&self) -> &BetaGeo {
        &self.base
    }

    /// The purchase effects γ_P, by column.
    ///
    /// ```
    /// use customer_lifecycle::clv::{BetaGeo, BetaGeoCovariates};
    /// let m = BetaGeoCovariates::new(&BetaGeo::new(0.25, 4.4, 0.79, 2.4)?, vec![("vip".into(), 0.4)], vec![])?;
    /// assert_eq!(m.purchase_effects(), [("vip".to_string(), 0.4)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn purchase_effects(&self) -> &[(String, f64)] {
        &self.purchase
    }

    /// The drop-out effects γ_D, by column.
    ///
    /// ```
    /// use customer_lifecycle::clv::{BetaGeo, BetaGeoCovariates};
    /// let m = BetaGeoCovariates::new(&BetaGeo::new(0.25, 4.4, 0.79, 2.4)?, vec![], vec![("vip".into(), -0.2)])?;
    /// assert_eq!(m.dropout_effects().len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dropout_effects(&self) -> &[(String, f64)] {
        &self.dropout
    }

    /// The fit report (parameters in the order r, α, a, b, the purchase
    /// effects, the drop-out effects, with standard errors and covariance),
    /// when the model was fitted.
    ///
    /// ```
    /// use customer_lifecycle::clv::{BetaGeo, BetaGeoCovariates};
    /// let m = BetaGeoCovariates::new(&BetaGeo::new(0.25, 4.4, 0.79, 2.4)?, vec![], vec![])?;
    /// assert!(m.report().is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn report(&self) -> Option<&FitReport> {
        self.report.as_ref()
    }

    /// The BG/NBD (or MBG/NBD) of a customer with covariates `purchase`
    /// and `dropout` (in the order of the effects): every prediction of
    /// [`BetaGeo`] for that customer, an existing one (P(alive),
    /// conditional expected purchases, CLV with [`crate::clv::Clv`]) or a
    /// new one (`expected_purchases_new_customer`).
    ///
    /// ```
    /// use customer_lifecycle::clv::{BetaGeo, BetaGeoCovariates};
    /// let m = BetaGeoCovariates::new(&BetaGeo::new(0.25, 4.4, 0.79, 2.4)?, vec![("vip".into(), 0.7)], vec![])?;
    /// let vip = m.customer_model(&[1.0], &[])?;
    /// let regular = m.customer_model(&[0.0], &[])?;
    /// assert!(vip.expected_purchases_new_customer(52.0)? > regular.expected_purchases_new_customer(52.0)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for covariates of the wrong number or not
    /// finite, or parameters out of range (an effect so large that α_i, a_i
    /// or b_i leave the floating-point range).
    pub fn customer_model(&self, purchase: &[f64], dropout: &[f64]) -> Result<BetaGeo> {
        if purchase.len() != self.purchase.len() || dropout.len() != self.dropout.len() {
            return Err(Error::InvalidArgument {
                name: "covariates",
                reason: format!(
                    "{} purchase and {} drop-out values for {} and {} effects",
                    purchase.len(),
                    dropout.len(),
                    self.purchase.len(),
                    self.dropout.len()
                ),
            });
        }
        if let Some(v) = purchase.iter().chain(dropout).find(|v| !v.is_finite()) {
            return Err(Error::InvalidArgument { name: "covariates", reason: format!("{v} is not finite") });
        }
        let (r, alpha, a, b) = self.base.parameters();
        let mut p = vec![r, alpha, a, b];
        p.extend(self.purchase.iter().map(|(_, v)| v));
        p.extend(self.dropout.iter().map(|(_, v)| v));
        let [r, alpha, a, b] = group_point(&p, purchase, dropout);
        let model = match self.base.variant() {
            BetaGeoVariant::Classic => BetaGeo::new(r, alpha, a, b)?,
            BetaGeoVariant::Modified => BetaGeo::modified(r, alpha, a, b)?,
        };
        Ok(match self.base.time_unit() {
            Some(unit) => model.in_unit(unit),
            None => model,
        })
    }

    /// Each customer's BG/NBD from the covariates, in the summary's order.
    fn customer_models(&self, summary: &PurchaseSummary, covariates: &Covariates) -> Result<Vec<BetaGeo>> {
        let model = "BG/NBD with covariates";
        let names = |effects: &[(String, f64)]| effects.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        let (pn, dn) = (names(&self.purchase), names(&self.dropout));
        let ids = summary.ids();
        let (zp, zd) = (covariates.rows_of(ids, &pn, model)?, covariates.rows_of(ids, &dn, model)?);
        let (kp, kd) = (pn.len(), dn.len());
        (0..summary.len())
            .map(|i| self.customer_model(&zp[i * kp..(i + 1) * kp], &zd[i * kd..(i + 1) * kd]))
            .collect::<Result<Vec<_>>>()
            .map_err(|e| e.naming_customer(summary.ids()))
    }

    /// The total log-likelihood of the summary's customers.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::clv::{BetaGeo, BetaGeoCovariates, Covariates};
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let zeros = vec![0.0; summary.len()];
    /// let covariates = Covariates::builder(summary.ids().to_vec()).numeric("z", zeros)?.build()?;
    /// let base = BetaGeo::new(0.25, 4.4, 0.79, 2.4)?;
    /// let model = BetaGeoCovariates::new(&base, vec![("z".into(), 3.0)], vec![])?;
    /// // Effects on a covariate that is 0 for everyone change nothing.
    /// let plain: f64 = (0..summary.len()).map(|i| base.log_likelihood(summary.frequency()[i], summary.recency()[i], summary.age()[i]).unwrap()).sum();
    /// assert!((model.log_likelihood(&summary, &covariates)? - plain).abs() < 1e-9 * plain.abs());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`BetaGeoCovariates::probability_alive_all`].
    pub fn log_likelihood(&self, summary: &PurchaseSummary, covariates: &Covariates) -> Result<f64> {
        let models = self.customer_models(summary, covariates)?;
        let (x, t_x, t) = (summary.frequency(), summary.recency(), summary.age());
        let mut sum = 0.0;
        for (i, m) in models.iter().enumerate() {
            sum += summary.naming(m.log_likelihood(x[i], t_x[i], t[i]).map_err(|e| e.at_row(i)))?;
        }
        Ok(sum)
    }

    /// P(alive) of every customer of the summary, each at their own
    /// parameters.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::clv::{BetaGeo, BetaGeoCovariates, Covariates};
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let z: Vec<f64> = (0..summary.len()).map(|i| (i % 2) as f64).collect();
    /// let covariates = Covariates::builder(summary.ids().to_vec()).numeric("z", z)?.build()?;
    /// let model = BetaGeoCovariates::new(&BetaGeo::new(0.25, 4.4, 0.79, 2.4)?, vec![], vec![("z".into(), 0.5)])?;
    /// let alive = model.probability_alive_all(&summary, &covariates)?;
    /// assert_eq!(alive.len(), summary.len());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidModelInput`] naming a customer without covariates or
    /// with an impossible row.
    pub fn probability_alive_all(&self, summary: &PurchaseSummary, covariates: &Covariates) -> Result<CustomerTable> {
        let models = self.customer_models(summary, covariates)?;
        let (x, t_x, t) = (summary.frequency(), summary.recency(), summary.age());
        let values = (0..summary.len())
            .map(|i| models[i].probability_alive(x[i], t_x[i], t[i]).map_err(|e| e.at_row(i)))
            .collect::<Result<Array1<f64>>>();
        summary.keyed("p_alive", values)
    }

    /// Expected purchases of every customer in the next `t`, each at their
    /// own parameters.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::clv::{BetaGeo, BetaGeoCovariates, Covariates};
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let z: Vec<f64> = (0..summary.len()).map(|i| (i % 2) as f64).collect();
    /// let covariates = Covariates::builder(summary.ids().to_vec()).numeric("z", z)?.build()?;
    /// let model = BetaGeoCovariates::new(&BetaGeo::new(0.25, 4.4, 0.79, 2.4)?, vec![("z".into(), 0.5)], vec![])?;
    /// let expected = model.conditional_expected_purchases_all(52.0, &summary, &covariates)?;
    /// assert_eq!(expected.names(), ["expected_purchases"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`BetaGeoCovariates::probability_alive_all`], and for a horizon
    /// that is negative or not finite.
    pub fn conditional_expected_purchases_all(
        &self,
        t: f64,
        summary: &PurchaseSummary,
        covariates: &Covariates,
    ) -> Result<CustomerTable> {
        let models = self.customer_models(summary, covariates)?;
        let (x, t_x, age) = (summary.frequency(), summary.recency(), summary.age());
        let values = (0..summary.len())
            .map(|i| models[i].conditional_expected_purchases(t, x[i], t_x[i], age[i]).map_err(|e| e.at_row(i)))
            .collect::<Result<Array1<f64>>>();
        summary.keyed("expected_purchases", values)
    }
}

/// Refuses a process's design that cannot identify its effects: a
/// constant column (it would be the base parameter again) or columns that
/// are linear combinations of each other (with the constant).
fn check_design(model: &'static str, process: &str, names: &[String], rows: &[f64], n: usize) -> Result<()> {
    let k = names.len();
    if k == 0 {
        return Ok(());
    }
    let column = |c: usize| (0..n).map(move |i| rows[i * k + c]);
    let means: Vec<f64> = (0..k).map(|c| column(c).sum::<f64>() / n as f64).collect();
    for (c, name) in names.iter().enumerate() {
        if column(c).all(|v| v == rows[c]) {
            return Err(Error::NotIdentifiable {
                model,
                reason: format!("the {process} covariate {name:?} is the same for every customer"),
            });
        }
    }
    // The centred cross-product matrix, scaled to correlations: singular
    // (to rounding) when the columns are collinear.
    let mut gram = Array2::<f64>::zeros((k, k));
    for i in 0..n {
        for u in 0..k {
            for v in 0..k {
                gram[[u, v]] += (rows[i * k + u] - means[u]) * (rows[i * k + v] - means[v]);
            }
        }
    }
    let scale: Vec<f64> = (0..k).map(|u| gram[[u, u]].sqrt()).collect();
    let correlation: Vec<f64> = (0..k * k).map(|e| gram[[e / k, e % k]] / (scale[e / k] * scale[e % k])).collect();
    let inverse = invert(&correlation, k);
    let conditioned = inverse.is_some_and(|inv| (0..k).all(|u| inv[u * k + u].is_finite() && inv[u * k + u] < 1e10));
    if !conditioned {
        return Err(Error::NotIdentifiable {
            model,
            reason: format!("the {process} covariates {names:?} are collinear (one is a combination of the others)"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixture's rows: (variant, point p, customer (x, t_x, T), z_P, z_D, ln L).
    type FixtureRow = (BetaGeoVariant, Vec<f64>, [f64; 3], Vec<f64>, Vec<f64>, f64);

    fn fixture() -> Vec<FixtureRow> {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bgnbd_covariates.csv"))
            .unwrap();
        text.lines()
            .skip(1)
            .map(|line| {
                let f: Vec<&str> = line.split(',').collect();
                let v = |i: usize| f[i].parse::<f64>().unwrap();
                let variant = if f[0] == "classic" { BetaGeoVariant::Classic } else { BetaGeoVariant::Modified };
                (variant, (1..8).map(v).collect(), [v(8), v(9), v(10)], vec![v(11), v(12)], vec![v(13)], v(14))
            })
            .collect()
    }

    /// The fixture's customers at each (variant, point), as groups.
    fn cases() -> Vec<(BetaGeoVariant, Vec<f64>, Vec<Group>, f64)> {
        let rows = fixture();
        let mut out = Vec::new();
        for chunk in rows.chunks(8) {
            let (variant, p) = (chunk[0].0, chunk[0].1.clone());
            let ids: Vec<CustomerId> = (0..8).map(CustomerId::from).collect();
            let col = |k: usize| -> Array1<f64> { chunk.iter().map(|r| r.2[k]).collect() };
            let zp: Vec<f64> = chunk.iter().flat_map(|r| r.3.clone()).collect();
            let zd: Vec<f64> = chunk.iter().flat_map(|r| r.4.clone()).collect();
            let groups =
                groups("test", &ids, [col(0).view(), col(1).view(), col(2).view()], (&zp, 2), (&zd, 1)).unwrap();
            out.push((variant, p, groups, chunk.iter().map(|r| r.5).sum::<f64>()));
        }
        out
    }

    #[test]
    fn grouped_likelihood_matches_mpmath() {
        for (variant, p, groups, expected) in cases() {
            let got = Likelihood::new(variant, &groups, 7).log_likelihood(&p);
            assert!(((got - expected) / expected).abs() < 1e-10, "{variant:?} {p:?}: {got} against {expected}");
        }
    }

    #[test]
    fn analytic_derivatives_match_differences() {
        for (variant, p, groups, _) in cases() {
            let l = Likelihood::new(variant, &groups, 7);
            let g = l.gradient(&p);
            let h = l.hessian(&p);
            for i in 0..7 {
                let step = 1e-5 * p[i].abs().max(0.1);
                let mut up = p.clone();
                up[i] += step;
                let mut down = p.clone();
                down[i] -= step;
                let numeric = (l.log_likelihood(&up) - l.log_likelihood(&down)) / (2.0 * step);
                assert!(
                    (g[i] - numeric).abs() <= 1e-6 * numeric.abs().max(1.0),
                    "{variant:?} ∂{i}: {} {numeric}",
                    g[i]
                );
                let (gu, gd) = (l.gradient(&up), l.gradient(&down));
                for j in 0..7 {
                    let numeric = (gu[j] - gd[j]) / (2.0 * step);
                    let analytic = h[i * 7 + j];
                    assert!(
                        (analytic - numeric).abs() <= 1e-5 * numeric.abs().max(1.0),
                        "{variant:?} ∂²{i}{j}: {analytic} {numeric}"
                    );
                }
            }
        }
    }
}
