//! Time-invariant covariates in BG/NBD and MBG/NBD: [`Covariates`],
//! [`CovariateOptions`] and [`BetaGeoCovariates`] (whose docs give the
//! parametrisation).

use std::collections::BTreeMap;

use ndarray::{Array1, Array2, ArrayView1};

use super::bgnbd::{BetaGeo, BetaGeoVariant, Evaluator};
use super::data::{self, RepeatRows};
use super::fit::{self, FitOptions, FitReport, Objective};
use super::gamma_gamma::{GammaGamma, SpendLikelihood};
use super::pareto_nbd::{Derivatives as ParetoDerivatives, ParetoNbd};
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
    /// The (mean, standard deviation) of each standardised column.
    scales: Vec<(String, f64, f64)>,
}

/// Builds [`Covariates`] column by column.
#[derive(Clone, Debug)]
pub struct CovariatesBuilder {
    table: CustomerTable,
    /// A customer given twice (refused at the next step).
    repeated: Option<CustomerId>,
    scales: Vec<(String, f64, f64)>,
}

fn bad(reason: String) -> Error {
    Error::InvalidArgument { name: "covariates", reason }
}

/// Reads a CSV file keyed by customer: the header must start with
/// `leading` and name at least one more column; each record, of the
/// header's width, goes to `row` with its line number and customer id (the
/// first field, read by `id_kind`). Returns the header. Errors come from
/// `bad`, naming the line.
pub(super) fn read_keyed_csv<R: std::io::Read>(
    reader: R,
    id_kind: crate::domain::customer::IdKind,
    leading: &[&str],
    bad: fn(String) -> Error,
    mut row: impl FnMut(&[String], usize, CustomerId, &::csv::StringRecord) -> Result<()>,
) -> Result<Vec<String>> {
    let mut csv = ::csv::ReaderBuilder::new().has_headers(true).from_reader(reader);
    let header: Vec<String> =
        csv.headers().map_err(|e| bad(format!("header: {e}")))?.iter().map(|h| h.trim().to_string()).collect();
    if header.len() <= leading.len() || header.iter().zip(leading).any(|(h, l)| h != l) {
        return Err(bad(format!("the header must be {} and at least one column, not {header:?}", leading.join(", "))));
    }
    for (k, record) in csv.records().enumerate() {
        let line = k + 2;
        let record = record.map_err(|e| bad(format!("line {line}: {e}")))?;
        if record.len() != header.len() {
            return Err(bad(format!("line {line}: {} values for {} columns", record.len(), header.len())));
        }
        let id = id_kind.parse(record[0].trim()).map_err(|e| bad(format!("line {line}: customer id: {e}")))?;
        row(&header, line, id, &record)?;
    }
    Ok(header)
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
        CovariatesBuilder { table: CustomerTable::new(ids), repeated, scales: Vec::new() }
    }

    /// Reads covariates from CSV: a header `customer_id,<column>,…`, one
    /// row per customer. A column whose every value is a number is
    /// numeric; any other is categorical (indicators against its most
    /// frequent level). Ids are read as `id_kind` reads them (use the
    /// transaction log's, so that the ids match).
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, IdKind};
    /// use customer_lifecycle::clv::Covariates;
    /// let csv = "customer_id,age,channel\n1,31,web\n2,45,store\n3,27,web\n";
    /// let c = Covariates::from_csv_reader(csv.as_bytes(), IdKind::Number)?;
    /// assert_eq!(c.names(), ["age", "channel=store"]);
    /// assert_eq!(c.value(&CustomerId::Number(2), "age"), Some(45.0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the
    /// line and column: a header without `customer_id` first or without
    /// other columns, a row of another width, an empty value, an id the
    /// id kind refuses, a customer twice; and the builder's errors.
    pub fn from_csv_reader<R: std::io::Read>(
        reader: R,
        id_kind: crate::domain::customer::IdKind,
    ) -> Result<Covariates> {
        let mut ids = Vec::new();
        let mut columns: Vec<Vec<String>> = Vec::new();
        let header = read_keyed_csv(reader, id_kind, &["customer_id"], bad, |header, line, id, record| {
            columns.resize(header.len() - 1, Vec::new());
            for (c, value) in record.iter().skip(1).enumerate() {
                let value = value.trim();
                if value.is_empty() {
                    return Err(bad(format!("line {line}: customer {id} has no value of {:?}", header[c + 1])));
                }
                columns[c].push(value.to_string());
            }
            ids.push(id);
            Ok(())
        })?;
        columns.resize(header.len() - 1, Vec::new());
        let mut builder = Covariates::builder(ids);
        for (name, values) in header[1..].iter().zip(&columns) {
            let numbers: Option<Vec<f64>> =
                values.iter().map(|v| v.parse::<f64>().ok().filter(|x| x.is_finite())).collect();
            builder = match numbers {
                Some(numbers) => builder.numeric(name, numbers)?,
                None => {
                    let levels: Vec<&str> = values.iter().map(String::as_str).collect();
                    builder.categorical(name, &levels, None)?
                }
            };
        }
        builder.build()
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

    /// A new customer's covariate value as the column holds it: the value
    /// standardised like the column when it was, else the value itself;
    /// `None` for a column that is not there.
    ///
    /// ```
    /// use customer_lifecycle::CustomerId;
    /// use customer_lifecycle::clv::Covariates;
    /// let c = Covariates::builder(vec![CustomerId::from(1), CustomerId::from(2)]).numeric("x", vec![0.0, 1.0])?.build()?;
    /// assert_eq!(c.encode("x", 7.0), Some(7.0));
    /// assert_eq!(c.encode("nope", 7.0), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn encode(&self, name: &str, value: f64) -> Option<f64> {
        self.table.column(name)?;
        Some(match self.scales.iter().find(|(n, _, _)| n == name) {
            Some((_, mean, sd)) => (value - mean) / sd,
            None => value,
        })
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
        Ok(CovariatesBuilder { table, repeated, scales: self.scales })
    }

    /// Adds a numeric column standardised: (value − mean) / standard
    /// deviation (the population's, over these customers), so that its
    /// effects are per standard deviation. [`Covariates::encode`] applies the
    /// same transform to a new customer's value.
    ///
    /// ```
    /// use customer_lifecycle::CustomerId;
    /// use customer_lifecycle::clv::Covariates;
    /// let ids: Vec<CustomerId> = (1..=4).map(CustomerId::from).collect();
    /// let c = Covariates::builder(ids).numeric_standardised("age", vec![20.0, 30.0, 40.0, 50.0])?.build()?;
    /// assert_eq!(c.value(&CustomerId::from(1), "age"), c.encode("age", 20.0));
    /// assert!((c.encode("age", 35.0).unwrap()).abs() < 1e-15); // the mean
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`CovariatesBuilder::numeric`], and for a column whose values are
    /// all equal (no spread to scale by).
    pub fn numeric_standardised(self, name: &str, values: Vec<f64>) -> Result<CovariatesBuilder> {
        if let Some(row) = values.iter().position(|v| !v.is_finite()) {
            return Err(bad(format!("column {name:?}: {} for customer {}", values[row], self.table.ids()[row])));
        }
        let n = values.len().max(1) as f64;
        let mean = values.iter().sum::<f64>() / n;
        let sd = (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt();
        if !(sd > 0.0 && sd.is_finite()) {
            return Err(bad(format!("column {name:?} has no spread to standardise by")));
        }
        let mut next = self.numeric(name, values.iter().map(|v| (v - mean) / sd).collect())?;
        next.scales.push((name.to_string(), mean, sd));
        Ok(next)
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
        Ok(CovariatesBuilder { table, repeated, scales: self.scales })
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
        Ok(Covariates { table, scales: self.scales })
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
    pub(super) purchase: Vec<String>,
    pub(super) dropout: Vec<String>,
    l2_purchase: f64,
    l2_dropout: f64,
    pub(super) fit: FitOptions,
    /// Columns whose effect is the same in both processes.
    same: Vec<String>,
    /// Effects held at a value: (process is purchase, column, value).
    fixed: Vec<(bool, String, f64)>,
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

    /// Columns whose effect is one parameter for both processes
    /// (γ_P = γ_D for each; the column must be in both lists): the report
    /// names it `both:<column>`. A likelihood-ratio test against the fit
    /// without the constraint tests the equality.
    ///
    /// ```
    /// use customer_lifecycle::clv::CovariateOptions;
    /// let options = CovariateOptions::new().purchase(&["age"]).dropout(&["age"]).same_effect(&["age"]);
    /// # let _ = options;
    /// ```
    pub fn same_effect(mut self, names: &[&str]) -> CovariateOptions {
        self.same = names.iter().map(|n| n.to_string()).collect();
        self
    }

    /// Holds the purchase effect of `column` at `value` (not estimated;
    /// absent from the report).
    ///
    /// ```
    /// use customer_lifecycle::clv::CovariateOptions;
    /// let options = CovariateOptions::new().purchase(&["age", "vip"]).fix_purchase("vip", 0.3);
    /// # let _ = options;
    /// ```
    pub fn fix_purchase(mut self, column: &str, value: f64) -> CovariateOptions {
        self.fixed.push((true, column.to_string(), value));
        self
    }

    /// Holds the drop-out effect of `column` at `value`.
    ///
    /// ```
    /// use customer_lifecycle::clv::CovariateOptions;
    /// let options = CovariateOptions::new().dropout(&["vip"]).fix_dropout("vip", 0.0);
    /// # let _ = options;
    /// ```
    pub fn fix_dropout(mut self, column: &str, value: f64) -> CovariateOptions {
        self.fixed.push((false, column.to_string(), value));
        self
    }

    /// The optimiser's options (starting values, when given, in the order
    /// of the report's parameters: the four, then the estimated effects).
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

/// How the covariates move one of a model's four parameters q_m:
/// q_m = p_m · exp(sign · γ · z) with the process's effects and covariates.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Link {
    /// Shared by all customers.
    Fixed,
    /// Moved by the purchase covariates, with this sign.
    Purchase(f64),
    /// Moved by the drop-out covariates, with this sign.
    Dropout(f64),
}

/// The model a covariate fit is built on.
#[derive(Clone, Copy, PartialEq, Debug)]
pub(super) enum Kind {
    BetaGeo(BetaGeoVariant),
    Pareto,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::BetaGeo(BetaGeoVariant::Classic) => "BG/NBD with covariates",
            Kind::BetaGeo(BetaGeoVariant::Modified) => "MBG/NBD with covariates",
            Kind::Pareto => "Pareto/NBD with covariates",
        }
    }

    fn names(self) -> [&'static str; 4] {
        match self {
            Kind::BetaGeo(_) => ["r", "alpha", "a", "b"],
            Kind::Pareto => ["r", "alpha", "s", "beta"],
        }
    }

    /// CLVTools' parametrisation: BG/NBD α e^{−γ_P z_P}, a e^{γ_D z_D},
    /// b e^{γ_D z_D}; Pareto/NBD α e^{−γ_P z_P}, β e^{−γ_D z_D}.
    fn links(self) -> [Link; 4] {
        match self {
            Kind::BetaGeo(_) => [Link::Fixed, Link::Purchase(-1.0), Link::Dropout(1.0), Link::Dropout(1.0)],
            Kind::Pareto => [Link::Fixed, Link::Purchase(-1.0), Link::Fixed, Link::Dropout(-1.0)],
        }
    }

    fn evaluator<'a>(self, rows: &'a RepeatRows) -> GroupEval<'a> {
        match self {
            Kind::BetaGeo(variant) => GroupEval::BetaGeo(Evaluator::new(variant, rows)),
            Kind::Pareto => GroupEval::Pareto(ParetoDerivatives::new(rows)),
        }
    }

    /// The fit without covariates (a start for the fit with them).
    /// On many customers, the fit to an evenly spaced sample of them (as
    /// the models' own fits start): a start needs no more.
    pub(super) fn free_fit(self, columns: [ArrayView1<'_, f64>; 3]) -> Option<[f64; 4]> {
        let sample = fit::warm_start_sample(&FitOptions::default(), columns);
        let [x, t_x, t] = match &sample {
            Some([x, t_x, t]) => [x.view(), t_x.view(), t.view()],
            None => columns,
        };
        match self {
            Kind::BetaGeo(variant) => BetaGeo::fit_variant(variant, x, t_x, t, &FitOptions::default()).ok().map(|m| {
                let (r, alpha, a, b) = m.parameters();
                [r, alpha, a, b]
            }),
            Kind::Pareto => ParetoNbd::fit_columns(x, t_x, t, &FitOptions::default()).ok().map(|m| {
                let (r, alpha, s, beta) = m.parameters();
                [r, alpha, s, beta]
            }),
        }
    }
}

/// One group's log-likelihood with its derivatives in the model's four
/// parameters, from the model's own exact code.
enum GroupEval<'a> {
    BetaGeo(Evaluator<'a>),
    Pareto(ParetoDerivatives<'a>),
}

impl GroupEval<'_> {
    fn value(&self, q: [f64; 4]) -> f64 {
        match self {
            GroupEval::BetaGeo(e) => e.log_likelihood(q),
            GroupEval::Pareto(d) => d.log_likelihood(&q),
        }
    }

    /// Gradient and Hessian; `None` where the model has none (a Pareto/NBD
    /// series that fails at an extreme point).
    fn derivatives(&self, q: [f64; 4]) -> Option<([f64; 4], [f64; 16])> {
        match self {
            GroupEval::BetaGeo(e) => Some((e.gradient(q), e.hessian(q))),
            GroupEval::Pareto(d) => d.at(&q).map(|j| (j.gradient, j.hessian)),
        }
    }
}

/// The offset of a link's effects in p = (four parameters, γ_P, γ_D), its
/// covariates and sign.
fn link_effects(link: Link, g: &Group) -> Option<(usize, f64, &[f64])> {
    match link {
        Link::Fixed => None,
        Link::Purchase(sign) => Some((4, sign, &g.purchase)),
        Link::Dropout(sign) => Some((4 + g.purchase.len(), sign, &g.dropout)),
    }
}

/// A group's own parameters q at the model's p = (four parameters, γ_P, γ_D).
fn group_point(links: &[Link; 4], p: &[f64], g: &Group) -> [f64; 4] {
    let mut q = [p[0], p[1], p[2], p[3]];
    for (m, link) in links.iter().enumerate() {
        if let Some((offset, sign, z)) = link_effects(*link, g) {
            let dot: f64 = z.iter().zip(&p[offset..offset + z.len()]).map(|(z, c)| z * c).sum();
            q[m] *= (sign * dot).exp();
        }
    }
    q
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
/// model's parameters p = (four parameters, γ_P, γ_D): each group's own at
/// its point q, by the chain rule (∇ = Jᵀ∇_q, ∇² = Jᵀ∇²_q J +
/// Σ_m ∂ℓ/∂q_m ∇²q_m).
struct Likelihood<'a> {
    links: [Link; 4],
    groups: &'a [Group],
    evaluators: Vec<GroupEval<'a>>,
    k: usize,
}

impl<'a> Likelihood<'a> {
    fn new(kind: Kind, groups: &'a [Group], k: usize) -> Likelihood<'a> {
        let evaluators = groups.iter().map(|g| kind.evaluator(&g.rows)).collect();
        Likelihood { links: kind.links(), groups, evaluators, k }
    }

    /// The log-likelihood with its gradient and Hessian (row-major) in one
    /// pass over the groups; the derivatives empty where a group has none
    /// (the optimiser then takes differences). The chain rule runs on the
    /// Jacobian's nonzeros: row m of ∂q/∂p is ∂q_m/∂p_m and the effects of
    /// q_m's link.
    fn all(&self, p: &[f64]) -> (f64, Vec<f64>, Vec<f64>) {
        let k = self.k;
        let mut value = 0.0;
        let mut gradient = vec![0.0; k];
        let mut hessian = vec![0.0; k * k];
        let mut derivatives = true;
        for (g, e) in self.groups.iter().zip(&self.evaluators) {
            let q = group_point(&self.links, p, g);
            value += e.value(q);
            if !derivatives {
                continue;
            }
            let Some((gq, hq)) = e.derivatives(q) else {
                derivatives = false;
                continue;
            };
            // Row m's nonzeros: (m, ∂q_m/∂p_m), then (offset + c, sign z_c q_m).
            let row = |m: usize| {
                let effects = link_effects(self.links[m], g);
                let diagonal = if effects.is_some() { q[m] / p[m] } else { 1.0 };
                let tail = effects.into_iter().flat_map(move |(offset, sign, z)| {
                    z.iter().enumerate().map(move |(c, z)| (offset + c, sign * z * q[m]))
                });
                std::iter::once((m, diagonal)).chain(tail)
            };
            for m in 0..4 {
                for (i, a) in row(m) {
                    gradient[i] += gq[m] * a;
                }
                for n in 0..4 {
                    let h = hq[m * 4 + n];
                    if h == 0.0 {
                        continue;
                    }
                    for (i, a) in row(m) {
                        let ha = h * a;
                        for (j, b) in row(n) {
                            hessian[i * k + j] += ha * b;
                        }
                    }
                }
                // Σ_m ∂ℓ/∂q_m ∇²q_m: q_m = p_m e^{sign γ·z} has
                // ∂²/∂p_m∂γ_v = sign z_v q_m/p_m and ∂²/∂γ_u∂γ_v = z_u z_v q_m.
                if let Some((offset, sign, z)) = link_effects(self.links[m], g) {
                    for (u, zu) in z.iter().enumerate() {
                        let cross = gq[m] * sign * zu * q[m] / p[m];
                        hessian[m * k + offset + u] += cross;
                        hessian[(offset + u) * k + m] += cross;
                        for (v, zv) in z.iter().enumerate() {
                            hessian[(offset + u) * k + offset + v] += gq[m] * zu * zv * q[m];
                        }
                    }
                }
            }
        }
        if derivatives { (value, gradient, hessian) } else { (value, Vec::new(), Vec::new()) }
    }
}

/// Named effects, in the order of their columns.
pub(super) type Effects = Vec<(String, f64)>;

/// Where each of the likelihood's parameters p = (four, γ_P, γ_D) comes
/// from: an estimated parameter θ_j, or a fixed value.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Slot {
    Free(usize),
    Fixed(f64),
}

/// The map from the estimated parameters θ to the likelihood's p, with the
/// names of θ.
pub(super) struct Parametrisation {
    slots: Vec<Slot>,
    pub(super) names: Vec<String>,
    /// Each θ's penalty weight (the sum over the effects it stands for).
    pub(super) penalty: Vec<f64>,
}

impl Parametrisation {
    pub(super) fn new(kind: Kind, options: &CovariateOptions) -> Result<Parametrisation> {
        let bad = |reason: String| Error::InvalidArgument { name: "covariate options", reason };
        for name in &options.same {
            if !(options.purchase.contains(name) && options.dropout.contains(name)) {
                return Err(bad(format!("{name:?} has one effect for both processes but is not in both")));
            }
        }
        for (purchase, name, value) in &options.fixed {
            let list = if *purchase { &options.purchase } else { &options.dropout };
            if !list.contains(name) || !value.is_finite() {
                return Err(bad(format!(
                    "a fixed effect of {name:?} = {value}: not a column of its process, or not finite"
                )));
            }
        }
        let fixed = |purchase: bool, name: &str| {
            options.fixed.iter().rev().find(|(p, n, _)| *p == purchase && n == name).map(|(_, _, v)| *v)
        };
        let mut slots: Vec<Slot> = (0..4).map(Slot::Free).collect();
        let mut names: Vec<String> = kind.names().iter().map(|s| s.to_string()).collect();
        let mut penalty = vec![0.0; 4];
        let mut shared: Vec<(String, usize)> = Vec::new();
        for (purchase, list, weight) in
            [(true, &options.purchase, options.l2_purchase), (false, &options.dropout, options.l2_dropout)]
        {
            for name in list {
                if let Some(v) = fixed(purchase, name) {
                    slots.push(Slot::Fixed(v));
                } else if options.same.contains(name) {
                    match shared.iter().find(|(n, _)| n == name) {
                        Some((_, j)) => {
                            penalty[*j] += weight;
                            slots.push(Slot::Free(*j));
                        }
                        None => {
                            shared.push((name.clone(), names.len()));
                            slots.push(Slot::Free(names.len()));
                            names.push(format!("both:{name}"));
                            penalty.push(weight);
                        }
                    }
                } else {
                    slots.push(Slot::Free(names.len()));
                    names.push(format!("{}:{name}", if purchase { "purchase" } else { "dropout" }));
                    penalty.push(weight);
                }
            }
        }
        Ok(Parametrisation { slots, names, penalty })
    }

    /// θ for the four base parameters with every estimated effect at 0.
    pub(super) fn with_zeros(&self, base: [f64; 4]) -> Vec<f64> {
        let mut theta = base.to_vec();
        theta.resize(self.names.len(), 0.0);
        theta
    }

    /// The likelihood's parameters at θ.
    pub(super) fn expand(&self, theta: &[f64]) -> Vec<f64> {
        self.slots
            .iter()
            .map(|s| match s {
                Slot::Free(j) => theta[*j],
                Slot::Fixed(v) => *v,
            })
            .collect()
    }

    /// A gradient in p as one in θ (the sum over the slots of each θ).
    pub(super) fn reduce_gradient(&self, g: &[f64]) -> Vec<f64> {
        if g.len() != self.slots.len() {
            return Vec::new();
        }
        let mut out = vec![0.0; self.names.len()];
        for (i, s) in self.slots.iter().enumerate() {
            if let Slot::Free(j) = s {
                out[*j] += g[i];
            }
        }
        out
    }

    /// A Hessian in p as one in θ.
    pub(super) fn reduce_hessian(&self, h: &[f64]) -> Vec<f64> {
        let (k, m) = (self.slots.len(), self.names.len());
        if h.len() != k * k {
            return Vec::new();
        }
        let mut out = vec![0.0; m * m];
        for (i, si) in self.slots.iter().enumerate() {
            for (l, sl) in self.slots.iter().enumerate() {
                if let (Slot::Free(a), Slot::Free(b)) = (si, sl) {
                    out[a * m + b] += h[i * k + l];
                }
            }
        }
        out
    }
}

/// Maximises a covariate likelihood given as one pass — (ℓ, ∇ℓ, ∇²ℓ) in
/// the likelihood's parameters p — over the estimated θ of `map` (one pass
/// per Newton point, [`fit::PointCache`]), from `start` (θ, when given)
/// and then from ones with the effects at 0.
pub(super) fn maximise_effects(
    model: &'static str,
    map: &Parametrisation,
    pass: &fit::PointPass<'_>,
    start: Option<Vec<f64>>,
    observations: f64,
    options: &FitOptions,
) -> Result<FitReport> {
    let reduced = |theta: &[f64]| {
        let (v, g, h) = pass(&map.expand(theta));
        (v, map.reduce_gradient(&g), map.reduce_hessian(&h))
    };
    let cache = fit::PointCache::new(&reduced);
    let neg_ll = |theta: &[f64]| cache.neg_ll(theta);
    let neg_gradient = |theta: &[f64]| cache.neg_gradient(theta);
    let neg_hessian = |theta: &[f64]| cache.neg_hessian(theta);
    let ones = map.with_zeros([1.0; 4]);
    let mut starts: Vec<&[f64]> = vec![&ones];
    if let Some(s) = &start {
        starts.insert(0, s);
    }
    let names: Vec<&str> = map.names.iter().map(String::as_str).collect();
    let objective = Objective {
        neg_ll: &neg_ll,
        gradient: Some(&neg_gradient),
        hessian: Some(&neg_hessian),
        positive: 4,
        penalty: map.penalty.clone(),
    };
    fit::maximise_objective(model, &names, &objective, &starts, observations, options)
}

/// What a covariate fit finds: the four parameters, the named effects and
/// the report.
struct Fitted {
    parameters: [f64; 4],
    purchase: Vec<(String, f64)>,
    dropout: Vec<(String, f64)>,
    report: FitReport,
}

/// The covariate fit of `kind` to the columns of the customers `ids`.
fn fit_kind(
    kind: Kind,
    ids: &[CustomerId],
    [frequency, recency, age]: [ArrayView1<'_, f64>; 3],
    covariates: &Covariates,
    options: &CovariateOptions,
) -> Result<Fitted> {
    let model = kind.label();
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
    let groups = groups(model, ids, [frequency, recency, age], (&zp, kp), (&zd, kd))?;
    // The whole data's checks (two customers, some repeat purchases), over the groups.
    data::check_identifiable(model, n, groups.iter().map(|g| &g.rows))?;
    let k = 4 + kp + kd;
    let likelihood = Likelihood::new(kind, &groups, k);
    let map = Parametrisation::new(kind, options)?;
    let pass = |p: &[f64]| likelihood.all(p);
    // Starts: the fit without covariates, effects 0; then ones.
    let start = kind.free_fit([frequency, recency, age]).map(|base| map.with_zeros(base));
    let age_zero: usize = groups.iter().map(|g| g.rows.age_zero).sum();
    let report = maximise_effects(model, &map, &pass, start, n as f64, &options.fit)?;
    let p = map.expand(&report.parameters);
    let named = |names: &[String], values: &[f64]| names.iter().cloned().zip(values.iter().copied()).collect();
    Ok(Fitted {
        parameters: [p[0], p[1], p[2], p[3]],
        purchase: named(&options.purchase, &p[4..4 + kp]),
        dropout: named(&options.dropout, &p[4 + kp..]),
        report: FitReport { age_zero, ..report },
    })
}

/// The effects' values after the four parameters, checking the customer's
/// covariates against the effects.
fn point_of(
    parameters: [f64; 4],
    effects: (&Effects, &Effects),
    purchase: &[f64],
    dropout: &[f64],
) -> Result<(Vec<f64>, Group)> {
    let (pe, de) = effects;
    if purchase.len() != pe.len() || dropout.len() != de.len() {
        return Err(Error::InvalidArgument {
            name: "covariates",
            reason: format!(
                "{} purchase and {} drop-out values for {} and {} effects",
                purchase.len(),
                dropout.len(),
                pe.len(),
                de.len()
            ),
        });
    }
    if let Some(v) = purchase.iter().chain(dropout).find(|v| !v.is_finite()) {
        return Err(Error::InvalidArgument { name: "covariates", reason: format!("{v} is not finite") });
    }
    let mut p = parameters.to_vec();
    p.extend(pe.iter().map(|(_, v)| v));
    p.extend(de.iter().map(|(_, v)| v));
    Ok((p, Group { purchase: purchase.to_vec(), dropout: dropout.to_vec(), rows: RepeatRows::default() }))
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
        let fitted = fit_kind(Kind::BetaGeo(variant), ids, [frequency, recency, age], covariates, options)?;
        let [r, alpha, a, b] = fitted.parameters;
        let base = match variant {
            BetaGeoVariant::Classic => BetaGeo::new(r, alpha, a, b)?,
            BetaGeoVariant::Modified => BetaGeo::modified(r, alpha, a, b)?,
        };
        Ok(BetaGeoCovariates { base, purchase: fitted.purchase, dropout: fitted.dropout, report: Some(fitted.report) })
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
        let (r, alpha, a, b) = self.base.parameters();
        let kind = Kind::BetaGeo(self.base.variant());
        let (p, g) = point_of([r, alpha, a, b], (&self.purchase, &self.dropout), purchase, dropout)?;
        let [r, alpha, a, b] = group_point(&kind.links(), &p, &g);
        let model = match self.base.variant() {
            BetaGeoVariant::Classic => BetaGeo::new(r, alpha, a, b)?,
            BetaGeoVariant::Modified => BetaGeo::modified(r, alpha, a, b)?,
        };
        Ok(match self.base.time_unit() {
            Some(unit) => model.in_unit(unit),
            None => model,
        })
    }
}

/// The methods both covariate models share, with their doc examples.
macro_rules! covariate_model {
    ($ty:ident, $base:ident, $new:literal) => {
        impl $ty {
            #[doc = concat!(
                "The base model (a customer whose covariates are all 0).\n\n```\n",
                "use customer_lifecycle::clv::{", stringify!($base), ", ", stringify!($ty), "};\n",
                "let base = ", $new, ";\n",
                "assert_eq!(", stringify!($ty), "::new(&base, vec![], vec![])?.base().parameters(), base.parameters());\n",
                "# Ok::<(), Box<dyn std::error::Error>>(())\n```"
            )]
            pub fn base(&self) -> &$base {
                &self.base
            }

            #[doc = concat!(
                "The purchase effects γ_P, by column.\n\n```\n",
                "use customer_lifecycle::clv::{", stringify!($base), ", ", stringify!($ty), "};\n",
                "let m = ", stringify!($ty), "::new(&", $new, ", vec![(\"vip\".into(), 0.4)], vec![])?;\n",
                "assert_eq!(m.purchase_effects(), [(\"vip\".to_string(), 0.4)]);\n",
                "# Ok::<(), Box<dyn std::error::Error>>(())\n```"
            )]
            pub fn purchase_effects(&self) -> &[(String, f64)] {
                &self.purchase
            }

            #[doc = concat!(
                "The drop-out effects γ_D, by column.\n\n```\n",
                "use customer_lifecycle::clv::{", stringify!($base), ", ", stringify!($ty), "};\n",
                "let m = ", stringify!($ty), "::new(&", $new, ", vec![], vec![(\"vip\".into(), -0.2)])?;\n",
                "assert_eq!(m.dropout_effects().len(), 1);\n",
                "# Ok::<(), Box<dyn std::error::Error>>(())\n```"
            )]
            pub fn dropout_effects(&self) -> &[(String, f64)] {
                &self.dropout
            }

            #[doc = concat!(
                "The fit report (the four parameters, the purchase effects, the drop-out effects, ",
                "with standard errors and covariance), when the model was fitted.\n\n```\n",
                "use customer_lifecycle::clv::{", stringify!($base), ", ", stringify!($ty), "};\n",
                "let m = ", stringify!($ty), "::new(&", $new, ", vec![], vec![])?;\n",
                "assert!(m.report().is_none());\n",
                "# Ok::<(), Box<dyn std::error::Error>>(())\n```"
            )]
            pub fn report(&self) -> Option<&FitReport> {
                self.report.as_ref()
            }

            /// Each customer's own model from the covariates, in the summary's order.
            fn customer_models(&self, summary: &PurchaseSummary, covariates: &Covariates) -> Result<Vec<$base>> {
                let model = "a model with covariates";
                let names = |effects: &[(String, f64)]| effects.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
                let (pn, dn) = (names(&self.purchase), names(&self.dropout));
                let ids = summary.ids();
                let (zp, zd) = (covariates.rows_of(ids, &pn, model)?, covariates.rows_of(ids, &dn, model)?);
                let (kp, kd) = (pn.len(), dn.len());
                (0..summary.len())
                    .map(|i| self.customer_model(&zp[i * kp..(i + 1) * kp], &zd[i * kd..(i + 1) * kd]))
                    .collect::<Result<Vec<_>>>()
                    .map_err(|e| e.naming_customer(ids))
            }

            #[doc = concat!(
                "The total log-likelihood of the summary's customers, each at their own parameters.\n\n```\n",
                "# use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};\n",
                "use customer_lifecycle::clv::{", stringify!($base), ", ", stringify!($ty), ", Covariates};\n",
                "let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;\n",
                "let covariates = Covariates::builder(summary.ids().to_vec()).numeric(\"z\", vec![0.0; summary.len()])?.build()?;\n",
                "let base = ", $new, ";\n",
                "let model = ", stringify!($ty), "::new(&base, vec![(\"z\".into(), 3.0)], vec![])?;\n",
                "// Effects on a covariate that is 0 for everyone change nothing.\n",
                "let (x, t_x, t) = (summary.frequency(), summary.recency(), summary.age());\n",
                "let plain = (0..summary.len()).map(|i| base.log_likelihood(x[i], t_x[i], t[i])).sum::<customer_lifecycle::Result<f64>>()?;\n",
                "assert!((model.log_likelihood(&summary, &covariates)? - plain).abs() < 1e-9 * plain.abs());\n",
                "# Ok::<(), Box<dyn std::error::Error>>(())\n```\n\n",
                "# Errors\n[`Error::InvalidModelInput`] naming a customer without covariates or with an impossible row."
            )]
            pub fn log_likelihood(&self, summary: &PurchaseSummary, covariates: &Covariates) -> Result<f64> {
                let models = self.customer_models(summary, covariates)?;
                let (x, t_x, t) = (summary.frequency(), summary.recency(), summary.age());
                let mut sum = 0.0;
                for (i, m) in models.iter().enumerate() {
                    sum += summary.naming(m.log_likelihood(x[i], t_x[i], t[i]).map_err(|e| e.at_row(i)))?;
                }
                Ok(sum)
            }

            #[doc = concat!(
                "P(alive) of every customer of the summary, each at their own parameters.\n\n```\n",
                "# use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};\n",
                "use customer_lifecycle::clv::{", stringify!($base), ", ", stringify!($ty), ", Covariates};\n",
                "let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;\n",
                "let z: Vec<f64> = (0..summary.len()).map(|i| (i % 2) as f64).collect();\n",
                "let covariates = Covariates::builder(summary.ids().to_vec()).numeric(\"z\", z)?.build()?;\n",
                "let model = ", stringify!($ty), "::new(&", $new, ", vec![], vec![(\"z\".into(), 0.5)])?;\n",
                "let alive = model.probability_alive_all(&summary, &covariates)?;\n",
                "assert_eq!(alive.len(), summary.len());\n",
                "# Ok::<(), Box<dyn std::error::Error>>(())\n```\n\n",
                "# Errors\n[`Error::InvalidModelInput`] naming a customer without covariates or with an impossible row."
            )]
            pub fn probability_alive_all(
                &self,
                summary: &PurchaseSummary,
                covariates: &Covariates,
            ) -> Result<CustomerTable> {
                let models = self.customer_models(summary, covariates)?;
                let (x, t_x, t) = (summary.frequency(), summary.recency(), summary.age());
                let values = (0..summary.len())
                    .map(|i| models[i].probability_alive(x[i], t_x[i], t[i]).map_err(|e| e.at_row(i)))
                    .collect::<Result<Array1<f64>>>();
                summary.keyed("p_alive", values)
            }

            #[doc = concat!(
                "Expected purchases of every customer in the next `t`, each at their own parameters.\n\n```\n",
                "# use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};\n",
                "use customer_lifecycle::clv::{", stringify!($base), ", ", stringify!($ty), ", Covariates};\n",
                "let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;\n",
                "let z: Vec<f64> = (0..summary.len()).map(|i| (i % 2) as f64).collect();\n",
                "let covariates = Covariates::builder(summary.ids().to_vec()).numeric(\"z\", z)?.build()?;\n",
                "let model = ", stringify!($ty), "::new(&", $new, ", vec![(\"z\".into(), 0.5)], vec![])?;\n",
                "let expected = model.conditional_expected_purchases_all(52.0, &summary, &covariates)?;\n",
                "assert_eq!(expected.names(), [\"expected_purchases\"]);\n",
                "# Ok::<(), Box<dyn std::error::Error>>(())\n```\n\n",
                "# Errors\nAs `probability_alive_all`, and for a horizon that is negative or not finite."
            )]
            pub fn conditional_expected_purchases_all(
                &self,
                t: f64,
                summary: &PurchaseSummary,
                covariates: &Covariates,
            ) -> Result<CustomerTable> {
                let models = self.customer_models(summary, covariates)?;
                let (x, t_x, age) = (summary.frequency(), summary.recency(), summary.age());
                let values = (0..summary.len())
                    .map(|i| {
                        models[i].conditional_expected_purchases(t, x[i], t_x[i], age[i]).map_err(|e| e.at_row(i))
                    })
                    .collect::<Result<Array1<f64>>>();
                summary.keyed("expected_purchases", values)
            }
        }
    };
}

covariate_model!(BetaGeoCovariates, BetaGeo, "BetaGeo::new(0.25, 4.4, 0.79, 2.4)?");
covariate_model!(ParetoNbdCovariates, ParetoNbd, "ParetoNbd::new(0.55, 10.6, 0.61, 11.7)?");

/// Pareto/NBD with time-invariant covariates in the purchase and drop-out
/// processes, in CLVTools' parametrisation: customer *i* has
/// α_i = α · exp(−γ_P · z_P) and β_i = β · exp(−γ_D · z_D), r and s shared.
/// A positive purchase effect raises the purchase rate (mean r/α_i), a
/// positive drop-out effect raises the drop-out rate (mean s/β_i). The fit
/// is exact maximum likelihood with the gradient and Hessian of the
/// model's own exact derivatives (its jets) by the chain rule, over
/// customers grouped by covariate vector and (x, t_x, T).
///
/// ```
/// use customer_lifecycle::clv::{ParetoNbd, ParetoNbdCovariates};
/// let base = ParetoNbd::new(0.55, 10.6, 0.61, 11.7)?;
/// let model = ParetoNbdCovariates::new(&base, vec![("vip".into(), 0.5)], vec![("vip".into(), -0.3)])?;
/// let vip = model.customer_model(&[1.0], &[1.0])?;
/// let (_, alpha, _, beta) = vip.parameters();
/// assert!((alpha - 10.6 * (-0.5f64).exp()).abs() < 1e-12 && (beta - 11.7 * 0.3f64.exp()).abs() < 1e-12);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Debug)]
pub struct ParetoNbdCovariates {
    base: ParetoNbd,
    purchase: Vec<(String, f64)>,
    dropout: Vec<(String, f64)>,
    report: Option<FitReport>,
}

impl ParetoNbdCovariates {
    /// A model with given parameters: the base model (r, α, s, β) and the
    /// named purchase and drop-out effects.
    ///
    /// ```
    /// use customer_lifecycle::clv::{ParetoNbd, ParetoNbdCovariates};
    /// let model = ParetoNbdCovariates::new(&ParetoNbd::new(0.55, 10.6, 0.61, 11.7)?, vec![], vec![("age".into(), 0.02)])?;
    /// assert_eq!(model.dropout_effects()[0].1, 0.02);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an effect that is not finite.
    pub fn new(
        base: &ParetoNbd,
        purchase: Vec<(String, f64)>,
        dropout: Vec<(String, f64)>,
    ) -> Result<ParetoNbdCovariates> {
        if let Some((name, v)) = purchase.iter().chain(&dropout).find(|(_, v)| !v.is_finite()) {
            return Err(Error::InvalidArgument { name: "covariate effect", reason: format!("{name}: {v}") });
        }
        let (r, alpha, s, beta) = base.parameters();
        Ok(ParetoNbdCovariates { base: ParetoNbd::new(r, alpha, s, beta)?, purchase, dropout, report: None })
    }

    /// Fits the model to a summary and its customers' covariates (see
    /// [`BetaGeoCovariates::fit`] for the options and errors).
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::clv::{CovariateOptions, Covariates, ParetoNbdCovariates};
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let half: Vec<&str> = (0..summary.len()).map(|i| if i % 2 == 0 { "a" } else { "b" }).collect();
    /// let covariates = Covariates::builder(summary.ids().to_vec()).categorical("half", &half, Some("a"))?.build()?;
    /// let options = CovariateOptions::new().purchase(&["half=b"]).dropout(&["half=b"]);
    /// let model = ParetoNbdCovariates::fit(&summary, &covariates, &options)?;
    /// assert_eq!(model.report().unwrap().parameter_names, ["r", "alpha", "s", "beta", "purchase:half=b", "dropout:half=b"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`BetaGeoCovariates::fit`].
    pub fn fit(
        summary: &PurchaseSummary,
        covariates: &Covariates,
        options: &CovariateOptions,
    ) -> Result<ParetoNbdCovariates> {
        let (x, t_x, t) = (summary.frequency(), summary.recency(), summary.age());
        let model = ParetoNbdCovariates::fit_columns(summary.ids(), x, t_x, t, covariates, options)?;
        Ok(ParetoNbdCovariates { base: model.base.in_unit(summary.periods().unit()), ..model })
    }

    /// [`ParetoNbdCovariates::fit`] to columns `x`, `t_x`, `T` of the
    /// customers `ids`.
    ///
    /// ```
    /// use customer_lifecycle::CustomerId;
    /// use customer_lifecycle::clv::{CovariateOptions, Covariates, ParetoNbd, ParetoNbdCovariates};
    /// // Two groups simulated apart: the second drops out at twice the rate (β halved).
    /// let ages = vec![52.0; 1500];
    /// let steady = ParetoNbd::new(0.8, 6.0, 0.7, 12.0)?.simulate(&ages, 1)?;
    /// let fickle = ParetoNbd::new(0.8, 6.0, 0.7, 6.0)?.simulate(&ages, 2)?;
    /// let join = |a: &customer_lifecycle::ndarray::Array1<f64>, b: &customer_lifecycle::ndarray::Array1<f64>| -> customer_lifecycle::ndarray::Array1<f64> { a.iter().chain(b).copied().collect() };
    /// let (x, t_x, t) = (join(&steady.frequency, &fickle.frequency), join(&steady.recency, &fickle.recency), join(&steady.age, &fickle.age));
    /// let ids: Vec<CustomerId> = (0..3000).map(CustomerId::from).collect();
    /// let z: Vec<f64> = (0..3000).map(|i| if i < 1500 { 0.0 } else { 1.0 }).collect();
    /// let covariates = Covariates::builder(ids.clone()).numeric("fickle", z)?.build()?;
    /// let options = CovariateOptions::new().dropout(&["fickle"]);
    /// let model = ParetoNbdCovariates::fit_columns(&ids, x.view(), t_x.view(), t.view(), &covariates, &options)?;
    /// let (effect, se) = (model.dropout_effects()[0].1, model.report().unwrap().standard_errors[4]);
    /// assert!((effect - 2f64.ln()).abs() < 3.0 * se, "{effect} ± {se}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`BetaGeoCovariates::fit_columns`].
    pub fn fit_columns(
        ids: &[CustomerId],
        frequency: ArrayView1<'_, f64>,
        recency: ArrayView1<'_, f64>,
        age: ArrayView1<'_, f64>,
        covariates: &Covariates,
        options: &CovariateOptions,
    ) -> Result<ParetoNbdCovariates> {
        let fitted = fit_kind(Kind::Pareto, ids, [frequency, recency, age], covariates, options)?;
        let [r, alpha, s, beta] = fitted.parameters;
        Ok(ParetoNbdCovariates {
            base: ParetoNbd::new(r, alpha, s, beta)?,
            purchase: fitted.purchase,
            dropout: fitted.dropout,
            report: Some(fitted.report),
        })
    }

    /// The Pareto/NBD of a customer with covariates `purchase` and
    /// `dropout` (in the order of the effects): every prediction of
    /// [`ParetoNbd`] for that customer, an existing or a new one.
    ///
    /// ```
    /// use customer_lifecycle::clv::{ParetoNbd, ParetoNbdCovariates};
    /// let m = ParetoNbdCovariates::new(&ParetoNbd::new(0.55, 10.6, 0.61, 11.7)?, vec![], vec![("fickle".into(), 0.7)])?;
    /// let (fickle, steady) = (m.customer_model(&[], &[1.0])?, m.customer_model(&[], &[0.0])?);
    /// assert!(fickle.probability_alive(2.0, 30.0, 38.0)? < steady.probability_alive(2.0, 30.0, 38.0)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`BetaGeoCovariates::customer_model`].
    pub fn customer_model(&self, purchase: &[f64], dropout: &[f64]) -> Result<ParetoNbd> {
        let (r, alpha, s, beta) = self.base.parameters();
        let (p, g) = point_of([r, alpha, s, beta], (&self.purchase, &self.dropout), purchase, dropout)?;
        let [r, alpha, s, beta] = group_point(&Kind::Pareto.links(), &p, &g);
        let model = ParetoNbd::new(r, alpha, s, beta)?;
        Ok(match self.base.time_unit() {
            Some(unit) => model.in_unit(unit),
            None => model,
        })
    }
}

/// Gamma-Gamma spend with time-invariant covariates — a model no anchor
/// offers: the scale of the spend heterogeneity γ_i = γ · exp(δ · z), p
/// and q shared. A customer's expected mean spend per transaction is
/// p γ_i / (q − 1), so a positive effect raises the typical spend in
/// proportion (e^δ per unit). The fit is exact maximum likelihood over the
/// repeat customers with spend (as [`GammaGamma::fit`]), grouped by
/// covariate vector, with the model's analytic gradient and Hessian
/// carried to δ by the chain rule.
///
/// ```
/// use customer_lifecycle::clv::{GammaGamma, GammaGammaCovariates};
/// let model = GammaGammaCovariates::new(&GammaGamma::new(6.25, 3.74, 15.44)?, vec![("vip".into(), 0.4)])?;
/// let vip = model.customer_model(&[1.0])?;
/// assert!((vip.mean_spend()? / model.base().mean_spend()? - 0.4f64.exp()).abs() < 1e-12);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Debug)]
pub struct GammaGammaCovariates {
    base: GammaGamma,
    effects: Effects,
    report: Option<FitReport>,
}

impl GammaGammaCovariates {
    /// A model with given parameters: the base model (p, q, γ) and the
    /// named effects δ.
    ///
    /// ```
    /// use customer_lifecycle::clv::{GammaGamma, GammaGammaCovariates};
    /// let model = GammaGammaCovariates::new(&GammaGamma::new(6.25, 3.74, 15.44)?, vec![("vip".into(), 0.4)])?;
    /// assert_eq!(model.effects()[0].1, 0.4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an effect that is not finite.
    pub fn new(base: &GammaGamma, effects: Effects) -> Result<GammaGammaCovariates> {
        if let Some((name, v)) = effects.iter().find(|(_, v)| !v.is_finite()) {
            return Err(Error::InvalidArgument { name: "covariate effect", reason: format!("{name}: {v}") });
        }
        let (p, q, gamma) = base.parameters();
        Ok(GammaGammaCovariates { base: GammaGamma::new(p, q, gamma)?, effects, report: None })
    }

    /// Fits the model to a summary's repeat customers and their covariates
    /// `columns`, with an L2 penalty `l2` on the effects.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::clv::{Covariates, FitOptions, GammaGammaCovariates};
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let half: Vec<f64> = (0..summary.len()).map(|i| (i % 2) as f64).collect();
    /// let covariates = Covariates::builder(summary.ids().to_vec()).numeric("half", half)?.build()?;
    /// let model = GammaGammaCovariates::fit(&summary, &covariates, &["half"], 0.0, &FitOptions::default())?;
    /// assert_eq!(model.report().unwrap().parameter_names, ["p", "q", "gamma", "spend:half"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`GammaGamma::fit`], and as [`BetaGeoCovariates::fit`] for the
    /// covariates (a customer without them named, a constant or collinear
    /// design, an unknown column).
    pub fn fit(
        summary: &PurchaseSummary,
        covariates: &Covariates,
        columns: &[&str],
        l2: f64,
        options: &FitOptions,
    ) -> Result<GammaGammaCovariates> {
        GammaGammaCovariates::fit_columns(
            summary.ids(),
            summary.frequency(),
            summary.monetary_value(),
            covariates,
            columns,
            l2,
            options,
        )
    }

    /// [`GammaGammaCovariates::fit`] to the columns of the customers `ids`.
    ///
    /// ```
    /// use customer_lifecycle::CustomerId;
    /// use customer_lifecycle::clv::{Covariates, FitOptions, GammaGamma, GammaGammaCovariates};
    /// // Big spenders: γ doubled.
    /// let x: Vec<f64> = (0..4000).map(|i| 1.0 + (i % 9) as f64).collect();
    /// let low = GammaGamma::new(6.0, 4.0, 15.0)?.simulate(&x[..2000], 1)?;
    /// let high = GammaGamma::new(6.0, 4.0, 30.0)?.simulate(&x[2000..], 2)?;
    /// let m: Vec<f64> = low.iter().chain(high.iter()).copied().collect();
    /// let ids: Vec<CustomerId> = (0..4000).map(CustomerId::from).collect();
    /// let z: Vec<f64> = (0..4000).map(|i| if i < 2000 { 0.0 } else { 1.0 }).collect();
    /// let covariates = Covariates::builder(ids.clone()).numeric("big", z)?.build()?;
    /// let (x, m) = (customer_lifecycle::ndarray::Array1::from(x), customer_lifecycle::ndarray::Array1::from(m));
    /// let model = GammaGammaCovariates::fit_columns(&ids, x.view(), m.view(), &covariates, &["big"], 0.0, &FitOptions::default())?;
    /// let (effect, se) = (model.effects()[0].1, model.report().unwrap().standard_errors[3]);
    /// assert!((effect - 2f64.ln()).abs() < 3.0 * se, "{effect} ± {se}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`GammaGammaCovariates::fit`], and [`Error::InvalidArgument`] for
    /// columns of different lengths.
    pub fn fit_columns(
        ids: &[CustomerId],
        frequency: ArrayView1<'_, f64>,
        monetary_value: ArrayView1<'_, f64>,
        covariates: &Covariates,
        columns: &[&str],
        l2: f64,
        options: &FitOptions,
    ) -> Result<GammaGammaCovariates> {
        let model = "Gamma-Gamma with covariates";
        let n = ids.len();
        if frequency.len() != n || monetary_value.len() != n {
            return Err(Error::InvalidArgument {
                name: "model input",
                reason: format!(
                    "{model}: {n} customers for columns of lengths {} and {}",
                    frequency.len(),
                    monetary_value.len()
                ),
            });
        }
        // The base fit checks the rows and gives the start.
        let free = GammaGamma::fit_columns(frequency, monetary_value, &FitOptions::default())
            .map_err(|e| e.naming_customer(ids))?;
        let names: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
        let k = names.len();
        let z = covariates.rows_of(ids, &names, model)?;
        // The repeat customers with spend, as the base fit takes them.
        let kept: Vec<usize> = (0..n).filter(|&i| frequency[i] > 0.0 && monetary_value[i] > 0.0).collect();
        let kept_z: Vec<f64> = kept.iter().flat_map(|&i| z[i * k..(i + 1) * k].iter().copied()).collect();
        check_design(model, "spend", &names, &kept_z, kept.len())?;
        let groups = spend_groups(&kept, frequency, monetary_value, &z, k);
        let likelihood = SpendCovariateLikelihood::new(&groups, k);
        let neg_ll = |theta: &[f64]| -likelihood.value(theta);
        let neg_gradient = |theta: &[f64]| -> Vec<f64> { likelihood.gradient(theta).iter().map(|g| -g).collect() };
        let neg_hessian = |theta: &[f64]| -> Vec<f64> { likelihood.hessian(theta).iter().map(|h| -h).collect() };
        let dim = 3 + k;
        let (p0, q0, g0) = free.parameters();
        let mut start = vec![p0, q0, g0];
        start.resize(dim, 0.0);
        let mut param_names: Vec<String> = ["p", "q", "gamma"].iter().map(|s| s.to_string()).collect();
        param_names.extend(names.iter().map(|n| format!("spend:{n}")));
        let name_refs: Vec<&str> = param_names.iter().map(String::as_str).collect();
        let mut penalty = vec![0.0; 3];
        penalty.extend(std::iter::repeat_n(l2, k));
        let objective = Objective {
            neg_ll: &neg_ll,
            gradient: Some(&neg_gradient),
            hessian: Some(&neg_hessian),
            positive: 3,
            penalty,
        };
        let report = fit::maximise_objective(model, &name_refs, &objective, &[&start], kept.len() as f64, options)?;
        let t = &report.parameters;
        Ok(GammaGammaCovariates {
            base: GammaGamma::new(t[0], t[1], t[2])?,
            effects: names.into_iter().zip(t[3..].iter().copied()).collect(),
            report: Some(report),
        })
    }

    /// The base model (a customer whose covariates are all 0).
    ///
    /// ```
    /// use customer_lifecycle::clv::{GammaGamma, GammaGammaCovariates};
    /// let base = GammaGamma::new(6.25, 3.74, 15.44)?;
    /// assert_eq!(GammaGammaCovariates::new(&base, vec![])?.base().parameters(), base.parameters());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn base(&self) -> &GammaGamma {
        &self.base
    }

    /// The effects δ, by column.
    ///
    /// ```
    /// use customer_lifecycle::clv::{GammaGamma, GammaGammaCovariates};
    /// let m = GammaGammaCovariates::new(&GammaGamma::new(6.25, 3.74, 15.44)?, vec![("vip".into(), 0.4)])?;
    /// assert_eq!(m.effects().len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn effects(&self) -> &[(String, f64)] {
        &self.effects
    }

    /// The fit report (p, q, γ, the effects), when the model was fitted.
    ///
    /// ```
    /// use customer_lifecycle::clv::{GammaGamma, GammaGammaCovariates};
    /// let m = GammaGammaCovariates::new(&GammaGamma::new(6.25, 3.74, 15.44)?, vec![])?;
    /// assert!(m.report().is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn report(&self) -> Option<&FitReport> {
        self.report.as_ref()
    }

    /// The Gamma-Gamma of a customer with covariates `z` (in the order of
    /// the effects): their expected spend, CLV with [`crate::clv::Clv`].
    ///
    /// ```
    /// use customer_lifecycle::clv::{GammaGamma, GammaGammaCovariates};
    /// let m = GammaGammaCovariates::new(&GammaGamma::new(6.25, 3.74, 15.44)?, vec![("vip".into(), 0.4)])?;
    /// assert!(m.customer_model(&[1.0])?.conditional_expected_spend(3.0, 40.0)? > m.customer_model(&[0.0])?.conditional_expected_spend(3.0, 40.0)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for covariates of the wrong number or not
    /// finite, or a γ_i out of range.
    pub fn customer_model(&self, z: &[f64]) -> Result<GammaGamma> {
        if z.len() != self.effects.len() || z.iter().any(|v| !v.is_finite()) {
            return Err(Error::InvalidArgument {
                name: "covariates",
                reason: format!("{z:?} for {} effects: the wrong number, or not finite", self.effects.len()),
            });
        }
        let (p, q, gamma) = self.base.parameters();
        let dot: f64 = z.iter().zip(&self.effects).map(|(z, (_, d))| z * d).sum();
        GammaGamma::new(p, q, gamma * dot.exp())
    }
}

/// Customers `rows` grouped by covariate vector (a fixed order): each
/// group's covariates, frequencies and mean spends.
type SpendGroup = (Vec<f64>, Vec<f64>, Vec<f64>);

fn spend_groups(
    rows: &[usize],
    frequency: ArrayView1<'_, f64>,
    monetary_value: ArrayView1<'_, f64>,
    z: &[f64],
    k: usize,
) -> Vec<SpendGroup> {
    let mut members: BTreeMap<Vec<u64>, SpendGroup> = BTreeMap::new();
    for &i in rows {
        let zi = &z[i * k..(i + 1) * k];
        let key = zi.iter().map(|v| (v + 0.0).to_bits()).collect();
        let entry = members.entry(key).or_insert_with(|| (zi.to_vec(), Vec::new(), Vec::new()));
        entry.1.push(frequency[i]);
        entry.2.push(monetary_value[i]);
    }
    members.into_values().collect()
}

/// The Gamma-Gamma log-likelihood of groups of customers at
/// θ = (p, q, γ, δ), each group at (p, q, γ e^{δ·z}), with its gradient
/// and Hessian by the chain rule from the model's.
struct SpendCovariateLikelihood<'a> {
    groups: &'a [SpendGroup],
    likelihoods: Vec<SpendLikelihood<'a>>,
    dim: usize,
}

impl<'a> SpendCovariateLikelihood<'a> {
    fn new(groups: &'a [SpendGroup], k: usize) -> SpendCovariateLikelihood<'a> {
        let likelihoods = groups.iter().map(|(_, x, m)| SpendLikelihood::new(x, m)).collect();
        SpendCovariateLikelihood { groups, likelihoods, dim: 3 + k }
    }

    fn point(theta: &[f64], z: &[f64]) -> [f64; 3] {
        let dot: f64 = z.iter().zip(&theta[3..]).map(|(z, d)| z * d).sum();
        [theta[0], theta[1], theta[2] * dot.exp()]
    }

    fn value(&self, theta: &[f64]) -> f64 {
        self.groups.iter().zip(&self.likelihoods).map(|((z, _, _), l)| l.value(Self::point(theta, z))).sum()
    }

    /// ∂q/∂θ_u for q = (p, q, γ_g): the identity for p and q; γ_g/γ for γ
    /// and z_u γ_g for δ_u.
    fn dq(theta: &[f64], z: &[f64], gamma_g: f64, m: usize, u: usize) -> f64 {
        match (m, u) {
            (2, 2) => gamma_g / theta[2],
            (2, u) if u >= 3 => z[u - 3] * gamma_g,
            (m, u) => f64::from(u8::from(m == u)),
        }
    }

    fn gradient(&self, theta: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; self.dim];
        for ((z, _, _), l) in self.groups.iter().zip(&self.likelihoods) {
            let q = Self::point(theta, z);
            let g = l.gradient(q);
            for (u, o) in out.iter_mut().enumerate() {
                *o += (0..3).map(|m| g[m] * Self::dq(theta, z, q[2], m, u)).sum::<f64>();
            }
        }
        out
    }

    fn hessian(&self, theta: &[f64]) -> Vec<f64> {
        let dim = self.dim;
        let mut out = vec![0.0; dim * dim];
        for ((z, _, _), l) in self.groups.iter().zip(&self.likelihoods) {
            let q = Self::point(theta, z);
            let (g, h) = (l.gradient(q), l.hessian(q));
            // ∂²γ_g/∂θ_u∂θ_v: z_v γ_g/γ for (γ, δ_v), z_u z_v γ_g for (δ_u, δ_v).
            let second = |u: usize, v: usize| -> f64 {
                match (u, v) {
                    (2, v) | (v, 2) if v >= 3 => z[v - 3] * q[2] / theta[2],
                    (u, v) if u >= 3 && v >= 3 => z[u - 3] * z[v - 3] * q[2],
                    _ => 0.0,
                }
            };
            for u in 0..dim {
                for v in 0..dim {
                    let mut sum = g[2] * second(u, v);
                    for m in 0..3 {
                        for n in 0..3 {
                            sum += Self::dq(theta, z, q[2], m, u) * h[m * 3 + n] * Self::dq(theta, z, q[2], n, v);
                        }
                    }
                    out[u * dim + v] += sum;
                }
            }
        }
        out
    }
}

/// Refuses a process's design that cannot identify its effects: a
/// constant column (it would be the base parameter again) or columns that
/// are linear combinations of each other (with the constant).
pub(super) fn check_design(model: &'static str, process: &str, names: &[String], rows: &[f64], n: usize) -> Result<()> {
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

    /// The fixture's rows: (kind, point p, customer (x, t_x, T), z_P, z_D, ln L).
    type FixtureRow = (Kind, Vec<f64>, [f64; 3], Vec<f64>, Vec<f64>, f64);

    /// A fixture file's rows; the BG/NBD file starts with the variant.
    fn fixture(file: &str) -> Vec<FixtureRow> {
        let text = std::fs::read_to_string(format!("{}/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        text.lines()
            .skip(1)
            .map(|line| {
                let f: Vec<&str> = line.split(',').collect();
                let (kind, o) = match f[0] {
                    "classic" => (Kind::BetaGeo(BetaGeoVariant::Classic), 1),
                    "modified" => (Kind::BetaGeo(BetaGeoVariant::Modified), 1),
                    _ => (Kind::Pareto, 0),
                };
                let v = |i: usize| f[i + o].parse::<f64>().unwrap();
                (kind, (0..7).map(v).collect(), [v(7), v(8), v(9)], vec![v(10), v(11)], vec![v(12)], v(13))
            })
            .collect()
    }

    /// The fixtures' customers at each (kind, point), as groups.
    fn cases() -> Vec<(Kind, Vec<f64>, Vec<Group>, f64)> {
        let mut rows = fixture("bgnbd_covariates.csv");
        rows.extend(fixture("pareto_nbd_covariates.csv"));
        let mut out = Vec::new();
        for chunk in rows.chunks(8) {
            let (kind, p) = (chunk[0].0, chunk[0].1.clone());
            let ids: Vec<CustomerId> = (0..8).map(CustomerId::from).collect();
            let col = |k: usize| -> Array1<f64> { chunk.iter().map(|r| r.2[k]).collect() };
            let zp: Vec<f64> = chunk.iter().flat_map(|r| r.3.clone()).collect();
            let zd: Vec<f64> = chunk.iter().flat_map(|r| r.4.clone()).collect();
            let groups =
                groups("test", &ids, [col(0).view(), col(1).view(), col(2).view()], (&zp, 2), (&zd, 1)).unwrap();
            out.push((kind, p, groups, chunk.iter().map(|r| r.5).sum::<f64>()));
        }
        assert_eq!(out.len(), 12);
        out
    }

    #[test]
    fn grouped_likelihood_matches_mpmath() {
        for (kind, p, groups, expected) in cases() {
            let got = Likelihood::new(kind, &groups, 7).all(&p).0;
            assert!(((got - expected) / expected).abs() < 1e-10, "{kind:?} {p:?}: {got} against {expected}");
        }
    }

    #[test]
    fn analytic_derivatives_match_differences() {
        for (variant, p, groups, _) in cases() {
            let l = Likelihood::new(variant, &groups, 7);
            let (_, g, h) = l.all(&p);
            for i in 0..7 {
                let step = 1e-5 * p[i].abs().max(0.1);
                let mut up = p.clone();
                up[i] += step;
                let mut down = p.clone();
                down[i] -= step;
                let numeric = (l.all(&up).0 - l.all(&down).0) / (2.0 * step);
                assert!(
                    (g[i] - numeric).abs() <= 1e-6 * numeric.abs().max(1.0),
                    "{variant:?} ∂{i}: {} {numeric}",
                    g[i]
                );
                let (gu, gd) = (l.all(&up).1, l.all(&down).1);
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
    /// The spend fixture's customers at each point, as groups.
    fn spend_cases() -> Vec<(Vec<f64>, Vec<SpendGroup>, f64)> {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gamma_gamma_covariates.csv"))
                .unwrap();
        let rows: Vec<Vec<f64>> =
            text.lines().skip(1).map(|l| l.split(',').map(|v| v.parse::<f64>().unwrap()).collect()).collect();
        rows.chunks(8)
            .map(|chunk| {
                let theta = chunk[0][0..5].to_vec();
                let x: Array1<f64> = chunk.iter().map(|r| r[5]).collect();
                let m: Array1<f64> = chunk.iter().map(|r| r[6]).collect();
                let z: Vec<f64> = chunk.iter().flat_map(|r| [r[7], r[8]]).collect();
                let all: Vec<usize> = (0..8).collect();
                let groups = spend_groups(&all, x.view(), m.view(), &z, 2);
                (theta, groups, chunk.iter().map(|r| r[9]).sum())
            })
            .collect()
    }

    #[test]
    fn spend_likelihood_matches_mpmath_and_its_derivatives_match_differences() {
        let cases = spend_cases();
        assert_eq!(cases.len(), 4);
        for (theta, groups, expected) in cases {
            let l = SpendCovariateLikelihood::new(&groups, 2);
            let got = l.value(&theta);
            assert!(((got - expected) / expected).abs() < 1e-10, "{theta:?}: {got} against {expected}");
            let (g, h) = (l.gradient(&theta), l.hessian(&theta));
            for i in 0..5 {
                let step = 1e-5 * theta[i].abs().max(0.1);
                let (mut up, mut down) = (theta.clone(), theta.clone());
                up[i] += step;
                down[i] -= step;
                let numeric = (l.value(&up) - l.value(&down)) / (2.0 * step);
                assert!((g[i] - numeric).abs() <= 1e-6 * numeric.abs().max(1.0), "∂{i}: {} {numeric}", g[i]);
                let (gu, gd) = (l.gradient(&up), l.gradient(&down));
                for j in 0..5 {
                    let numeric = (gu[j] - gd[j]) / (2.0 * step);
                    assert!(
                        (h[i * 5 + j] - numeric).abs() <= 1e-5 * numeric.abs().max(1.0),
                        "∂²{i}{j}: {} {numeric}",
                        h[i * 5 + j]
                    );
                }
            }
        }
    }
}
