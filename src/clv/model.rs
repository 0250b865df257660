//! The one shape every purchase model has: the [`PurchaseModel`] trait.

use ndarray::{Array1, Array2, ArrayView1};
use serde::{Deserialize, Serialize};

use super::bgbb::{BetaGeoBetaBinom, MAX_OPPORTUNITIES};
use super::bgnbd::{BetaGeo, BetaGeoVariant};
use super::pareto_nbd::ParetoNbd;
use crate::domain::table::CustomerTable;
use crate::domain::time::TimeUnit;
use crate::error::Result;
use crate::log::summary::PurchaseSummary;

/// What every purchase model answers, in one vocabulary: BG/NBD and
/// MBG/NBD ([`BetaGeo`]), Pareto/NBD ([`ParetoNbd`]) and BG/BB
/// ([`BetaGeoBetaBinom`]). CLV ([`crate::clv::Clv`]) and churn scoring
/// ([`crate::churn::model_risk`]) take any of them.
///
/// # Conventions
///
/// * A customer's history is **x** (repeat purchases), **t_x** (recency:
///   the time of the last purchase, counted from the first) and the **age
///   T** (the time from the first purchase to the end of the observation),
///   in the summary's unit; for BG/BB, in whole opportunities (then T is
///   the papers' n). The arguments come in that order: `(x, t_x, age)`.
/// * **T = 0** is valid: a customer whose first purchase falls on the
///   observation end (or the calibration end). Such a customer adds exactly
///   0 to the log-likelihood, is counted in [`FitReport::age_zero`], and
///   gets a new customer's predictions (P(alive) 1 under BG/NBD, Pareto/NBD
///   and BG/BB; b/(a+b) under MBG/NBD).
/// * A bad row given in a summary is an error naming the customer as well
///   as the row ([`Error::InvalidModelInput`]'s `customer`).
/// * A **horizon t** (the future span a prediction covers) comes first:
///   `(t, x, t_x, age)`. For BG/BB it is a whole number of opportunities.
/// * "Purchases" everywhere (the papers' transactions, donations, …).
/// * Every prediction exists three ways with one contract: per customer
///   (`probability_alive(x, t_x, age)`), per column (`…_columns` over
///   ndarray views) and per summary (`…_all(&summary)`). All three return
///   `Result`; a bad row is an [`Error::InvalidModelInput`] naming its
///   index, and nothing is silently replaced. The column and summary forms
///   give bit-identical values to the per-customer form.
/// * Discounting (DERT) takes a rate per unit of time, or per opportunity:
///   the same kind of number for every model.
/// * Each model also has, as inherent functions: `new(parameters)`,
///   `fit(&summary)`, `fit_with(&summary, &FitOptions)`,
///   `fit_columns(x, t_x, age, &FitOptions)`, `parameters()`, `report()`,
///   `standard_error(prediction)` and `simulate`.
///
/// The trait is `Send + Sync`, so that a [`Clv`](crate::clv::Clv) or a
/// boxed model can cross threads.
///
/// [`Error::InvalidModelInput`]: crate::Error::InvalidModelInput
/// [`FitReport::age_zero`]: crate::clv::FitReport::age_zero
///
/// ```
/// use customer_lifecycle::clv::{BetaGeo, BetaGeoBetaBinom, ParetoNbd, PurchaseModel};
///
/// let models: Vec<Box<dyn PurchaseModel>> = vec![
///     Box::new(BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?),
///     Box::new(ParetoNbd::new(0.5532, 10.5763, 0.6062, 11.6715)?),
///     Box::new(BetaGeoBetaBinom::new(1.2035, 0.7498, 0.6568, 2.7839)?),
/// ];
/// for m in &models {
///     // One question, one answer shape: a customer with 2 repeat purchases.
///     let alive = m.probability_alive(2.0, 4.0, 6.0)?;
///     assert!((0.0..=1.0).contains(&alive), "{}", m.name());
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait PurchaseModel: Send + Sync {
    /// The model's name, for reports ("BG/NBD", "MBG/NBD", "Pareto/NBD", "BG/BB").
    fn name(&self) -> &'static str;
    /// One customer's log-likelihood.
    ///
    /// # Errors
    /// As the model's own method.
    fn log_likelihood(&self, x: f64, t_x: f64, age: f64) -> Result<f64>;
    /// P(alive) at the end of the observation.
    ///
    /// # Errors
    /// As the model's own method.
    fn probability_alive(&self, x: f64, t_x: f64, age: f64) -> Result<f64>;
    /// P(alive) a horizon `t` after the end of the observation.
    ///
    /// # Errors
    /// As the model's own method.
    fn probability_alive_in(&self, t: f64, x: f64, t_x: f64, age: f64) -> Result<f64>;
    /// Expected purchases in the next `t`.
    ///
    /// # Errors
    /// As the model's own method.
    fn conditional_expected_purchases(&self, t: f64, x: f64, t_x: f64, age: f64) -> Result<f64>;
    /// Probability of no purchase in the next `t`.
    ///
    /// # Errors
    /// As the model's own method.
    fn probability_no_purchase(&self, t: f64, x: f64, t_x: f64, age: f64) -> Result<f64>;
    /// P(any further purchase): the probability the customer ever buys
    /// again after the observation.
    ///
    /// # Errors
    /// As the model's own method.
    fn probability_any_purchase(&self, x: f64, t_x: f64, age: f64) -> Result<f64>;
    /// True when time runs in whole opportunities (BG/BB): horizons and
    /// waiting times are then whole numbers.
    fn discrete_time(&self) -> bool;
    /// P(next purchase within `t`): 1 − P(no purchase in the next `t`).
    ///
    /// ```
    /// use customer_lifecycle::clv::{BetaGeo, PurchaseModel};
    /// let model = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?;
    /// let soon = model.probability_purchase_within(4.0, 2.0, 30.0, 39.0)?;
    /// assert!(soon > 0.0 && soon < model.probability_purchase_within(52.0, 2.0, 30.0, 39.0)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`PurchaseModel::probability_no_purchase`].
    fn probability_purchase_within(&self, t: f64, x: f64, t_x: f64, age: f64) -> Result<f64> {
        Ok((1.0 - self.probability_no_purchase(t, x, t_x, age)?).clamp(0.0, 1.0))
    }
    /// The `q`-quantile of the waiting time from the end of the observation
    /// to the next purchase (the least t with P(next purchase within t) ≥ q),
    /// or `None` — no purchase expected with that probability — when
    /// P(any further purchase) ≤ q (or, for BG/BB, when the quantile lies
    /// beyond [`MAX_OPPORTUNITIES`](crate::clv::MAX_OPPORTUNITIES)). For
    /// BG/BB a whole number of opportunities. See the [module docs](crate::clv#timing-of-the-next-purchase).
    ///
    /// ```
    /// use customer_lifecycle::clv::{ParetoNbd, PurchaseModel};
    /// let model = ParetoNbd::new(0.55, 10.6, 0.61, 11.7)?;
    /// // A frequent, recent buyer: the next purchase is expected.
    /// let median = model.next_purchase_quantile(0.5, 10.0, 38.0, 39.0)?.expect("expected");
    /// assert!((model.probability_purchase_within(median, 10.0, 38.0, 39.0)? - 0.5).abs() < 1e-9);
    /// // A one-time buyer of long ago: "none expected".
    /// assert_eq!(model.next_purchase_quantile(0.5, 0.0, 0.0, 39.0)?, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for `q`
    /// outside (0, 1); as [`PurchaseModel::probability_no_purchase`].
    fn next_purchase_quantile(&self, q: f64, x: f64, t_x: f64, age: f64) -> Result<Option<f64>> {
        with_timing(self, x, t_x, age, |timing| timing.quantile(q))
    }
    /// The expected waiting time to the next purchase given one within the
    /// horizon `h`: E[τ | τ ≤ h]; `None` when no purchase is possible by h.
    ///
    /// ```
    /// use customer_lifecycle::clv::{BetaGeo, PurchaseModel};
    /// let model = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?;
    /// let wait = model.expected_wait_within(52.0, 2.0, 30.0, 39.0)?.expect("possible");
    /// assert!(wait > 0.0 && wait < 26.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for a
    /// horizon that is not positive (for BG/BB, not whole); as
    /// [`PurchaseModel::probability_no_purchase`].
    fn expected_wait_within(&self, h: f64, x: f64, t_x: f64, age: f64) -> Result<Option<f64>> {
        with_timing(self, x, t_x, age, |timing| timing.mean_within(h))
    }
    /// [`PurchaseModel::next_purchase_quantile`] for columns of x, t_x and
    /// T, with +∞ where no purchase is expected (never NaN); the distinct
    /// (x, t_x, T) rows are computed once each, on every core.
    ///
    /// ```
    /// use customer_lifecycle::clv::{BetaGeo, PurchaseModel};
    /// use customer_lifecycle::ndarray::array;
    /// let model = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?;
    /// let (x, t_x, age) = (array![2.0, 5.0, 2.0], array![30.0, 2.0, 30.0], array![39.0, 39.0, 39.0]);
    /// let median = model.next_purchase_quantile_columns(0.5, x.view(), t_x.view(), age.view())?;
    /// assert_eq!(median[0], median[2]);
    /// assert_eq!(median[1], f64::INFINITY); // five purchases early on, then silence: likely gone
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`PurchaseModel::next_purchase_quantile`], naming the row.
    fn next_purchase_quantile_columns(
        &self,
        q: f64,
        x: ArrayView1<'_, f64>,
        t_x: ArrayView1<'_, f64>,
        age: ArrayView1<'_, f64>,
    ) -> Result<Array1<f64>> {
        super::timing::per_distinct_row(x, t_x, age, |x, t_x, age| {
            Ok(self.next_purchase_quantile(q, x, t_x, age)?.unwrap_or(f64::INFINITY))
        })
    }

    /// Expected purchases in the next `t` given alive, a function of x and
    /// T only: `conditional_expected_purchases` is `probability_alive`
    /// times this.
    ///
    /// # Errors
    /// As the model's own method.
    fn expected_purchases_if_alive(&self, t: f64, x: f64, age: f64) -> Result<f64>;
    /// [`PurchaseModel::expected_purchases_if_alive`] at each of
    /// `horizons` for one x and T, into `out` (a model shares what it can
    /// between the horizons).
    ///
    /// # Errors
    /// As the model's own method.
    fn expected_purchases_if_alive_at(&self, horizons: &[f64], x: f64, age: f64, out: &mut Vec<f64>) -> Result<()>;
    /// Expected purchases of a new customer over a period of length `t`.
    ///
    /// # Errors
    /// As the model's own method.
    fn expected_purchases_new_customer(&self, t: f64) -> Result<f64>;
    /// P(X(t) = n): the probability that a new customer makes exactly `n`
    /// purchases in a period of length `t`.
    ///
    /// # Errors
    /// As the model's own method.
    fn probability_of_purchases(&self, t: f64, n: u32) -> Result<f64>;
    /// P(X(T, T + t] = k | x, t_x, T): the probability that the customer
    /// makes exactly `k` purchases in the next `t` (gone, or alive and
    /// continuing as a new customer with their parameters' distribution
    /// given the history); the probabilities sum to 1 with mean
    /// [`PurchaseModel::conditional_expected_purchases`].
    ///
    /// # Errors
    /// As the model's own method.
    fn conditional_probability_of_purchases(&self, t: f64, k: u32, x: f64, t_x: f64, age: f64) -> Result<f64>;
    /// P(alive) for columns of x, t_x and T.
    ///
    /// # Errors
    /// As the model's own method.
    fn probability_alive_columns(
        &self,
        x: ArrayView1<'_, f64>,
        t_x: ArrayView1<'_, f64>,
        age: ArrayView1<'_, f64>,
    ) -> Result<Array1<f64>>;
    /// Expected purchases in the next `t` for columns of x, t_x and T.
    ///
    /// # Errors
    /// As the model's own method.
    fn conditional_expected_purchases_columns(
        &self,
        t: f64,
        x: ArrayView1<'_, f64>,
        t_x: ArrayView1<'_, f64>,
        age: ArrayView1<'_, f64>,
    ) -> Result<Array1<f64>>;
    /// P(alive) for every customer of a summary, in the summary's order.
    ///
    /// # Errors
    /// As [`PurchaseModel::probability_alive_columns`].
    fn probability_alive_all(&self, summary: &PurchaseSummary) -> Result<CustomerTable> {
        summary.keyed("p_alive", self.probability_alive_columns(summary.frequency(), summary.recency(), summary.age()))
    }
    /// Expected purchases in the next `t` for every customer of a summary.
    ///
    /// # Errors
    /// As [`PurchaseModel::conditional_expected_purchases_columns`].
    fn conditional_expected_purchases_all(&self, t: f64, summary: &PurchaseSummary) -> Result<CustomerTable> {
        summary.keyed(
            "expected_purchases",
            self.conditional_expected_purchases_columns(t, summary.frequency(), summary.recency(), summary.age()),
        )
    }
    /// The time unit of the data the model was fitted on, or declared with
    /// `in_unit` (`None` when unknown).
    fn time_unit(&self) -> Option<TimeUnit>;
    /// The fit's estimates and covariance, when the model was fitted.
    fn estimates(&self) -> Option<(&[f64], &Array2<f64>)>;
    /// The fit report (parameter names, estimates, standard errors,
    /// log-likelihood), when the model was fitted.
    fn fit_report(&self) -> Option<&super::fit::FitReport>;
    /// The same model with other parameters (for uncertainty propagation).
    ///
    /// # Errors
    /// When the parameters are invalid.
    fn with_parameters(&self, parameters: &[f64]) -> Result<Box<dyn PurchaseModel>>;
    /// The model as an [`AnyPurchaseModel`], to save or send it (with its
    /// fit report and unit); `None` for a model defined outside this crate.
    ///
    /// ```
    /// use customer_lifecycle::clv::{BetaGeo, PurchaseModel};
    /// let model: Box<dyn PurchaseModel> = Box::new(BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?);
    /// let any = model.to_any().expect("a built-in model");
    /// assert_eq!(any.model().name(), "BG/NBD");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn to_any(&self) -> Option<AnyPurchaseModel> {
        None
    }
}

/// Any of this crate's purchase models as one value: what a fitted model
/// of a kind chosen at run time is saved as (serde), sent in a query plan,
/// or loaded back. The saved form carries the parameters, the unit and the
/// fit report; loading checks it as the model's own loader does.
///
/// ```
/// use customer_lifecycle::clv::{AnyPurchaseModel, ParetoNbd, PurchaseModel};
/// let any = AnyPurchaseModel::from(ParetoNbd::new(0.5534, 10.5802, 0.6061, 11.6562)?);
/// let json = serde_json::to_string(&any)?;
/// let back: AnyPurchaseModel = serde_json::from_str(&json)?;
/// assert_eq!(back, any);
/// assert_eq!(back.model().probability_alive(2.0, 30.4, 38.9)?, any.model().probability_alive(2.0, 30.4, 38.9)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub enum AnyPurchaseModel {
    /// BG/NBD or MBG/NBD.
    BetaGeo(BetaGeo),
    /// Pareto/NBD.
    ParetoNbd(ParetoNbd),
    /// BG/BB.
    BetaGeoBetaBinom(BetaGeoBetaBinom),
}

impl AnyPurchaseModel {
    /// The model behind the common trait.
    ///
    /// ```
    /// use customer_lifecycle::clv::{AnyPurchaseModel, BetaGeoBetaBinom};
    /// let any = AnyPurchaseModel::from(BetaGeoBetaBinom::new(1.2035, 0.7498, 0.6568, 2.7839)?);
    /// assert_eq!(any.model().name(), "BG/BB");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn model(&self) -> &dyn PurchaseModel {
        match self {
            AnyPurchaseModel::BetaGeo(m) => m,
            AnyPurchaseModel::ParetoNbd(m) => m,
            AnyPurchaseModel::BetaGeoBetaBinom(m) => m,
        }
    }

    /// The model as a shared trait object (what CLV, churn scoring and the
    /// DataFusion functions take).
    ///
    /// ```
    /// use customer_lifecycle::clv::{AnyPurchaseModel, BetaGeo};
    /// let shared = AnyPurchaseModel::from(BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?).into_shared();
    /// assert_eq!(shared.name(), "BG/NBD");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_shared(self) -> std::sync::Arc<dyn PurchaseModel> {
        match self {
            AnyPurchaseModel::BetaGeo(m) => std::sync::Arc::new(m),
            AnyPurchaseModel::ParetoNbd(m) => std::sync::Arc::new(m),
            AnyPurchaseModel::BetaGeoBetaBinom(m) => std::sync::Arc::new(m),
        }
    }
}

macro_rules! into_any {
    ($($model:ident),*) => {
        $(impl From<$model> for AnyPurchaseModel {
            fn from(model: $model) -> AnyPurchaseModel {
                AnyPurchaseModel::$model(model)
            }
        })*
    };
}

into_any!(BetaGeo, ParetoNbd, BetaGeoBetaBinom);

/// The trait's methods forward to the models' inherent ones, which carry
/// the formulas and the docs; one list, so that no model can miss one.
macro_rules! purchase_model {
    ($model:ty, |$me:ident| $name:expr, |$p:ident| $rebuild:expr, $discrete:literal) => {
        impl PurchaseModel for $model {
            fn name(&self) -> &'static str {
                let $me = self;
                $name
            }
            fn log_likelihood(&self, x: f64, t_x: f64, age: f64) -> Result<f64> {
                <$model>::log_likelihood(self, x, t_x, age)
            }
            fn probability_alive(&self, x: f64, t_x: f64, age: f64) -> Result<f64> {
                <$model>::probability_alive(self, x, t_x, age)
            }
            fn probability_alive_in(&self, t: f64, x: f64, t_x: f64, age: f64) -> Result<f64> {
                <$model>::probability_alive_in(self, t, x, t_x, age)
            }
            fn conditional_expected_purchases(&self, t: f64, x: f64, t_x: f64, age: f64) -> Result<f64> {
                <$model>::conditional_expected_purchases(self, t, x, t_x, age)
            }
            fn conditional_probability_of_purchases(&self, t: f64, k: u32, x: f64, t_x: f64, age: f64) -> Result<f64> {
                <$model>::conditional_probability_of_purchases(self, t, k, x, t_x, age)
            }
            fn probability_any_purchase(&self, x: f64, t_x: f64, age: f64) -> Result<f64> {
                <$model>::probability_any_purchase(self, x, t_x, age)
            }
            fn discrete_time(&self) -> bool {
                $discrete
            }
            fn probability_no_purchase(&self, t: f64, x: f64, t_x: f64, age: f64) -> Result<f64> {
                <$model>::probability_no_purchase(self, t, x, t_x, age)
            }
            fn expected_purchases_if_alive(&self, t: f64, x: f64, age: f64) -> Result<f64> {
                <$model>::expected_purchases_if_alive(self, t, x, age)
            }
            fn expected_purchases_if_alive_at(
                &self,
                horizons: &[f64],
                x: f64,
                age: f64,
                out: &mut Vec<f64>,
            ) -> Result<()> {
                <$model>::expected_purchases_if_alive_at(self, horizons, x, age, out)
            }
            fn expected_purchases_new_customer(&self, t: f64) -> Result<f64> {
                <$model>::expected_purchases_new_customer(self, t)
            }
            fn probability_of_purchases(&self, t: f64, n: u32) -> Result<f64> {
                <$model>::probability_of_purchases(self, t, n)
            }
            fn probability_alive_columns(
                &self,
                x: ArrayView1<'_, f64>,
                t_x: ArrayView1<'_, f64>,
                age: ArrayView1<'_, f64>,
            ) -> Result<Array1<f64>> {
                <$model>::probability_alive_columns(self, x, t_x, age)
            }
            fn conditional_expected_purchases_columns(
                &self,
                t: f64,
                x: ArrayView1<'_, f64>,
                t_x: ArrayView1<'_, f64>,
                age: ArrayView1<'_, f64>,
            ) -> Result<Array1<f64>> {
                <$model>::conditional_expected_purchases_columns(self, t, x, t_x, age)
            }
            fn time_unit(&self) -> Option<TimeUnit> {
                <$model>::time_unit(self)
            }
            fn estimates(&self) -> Option<(&[f64], &Array2<f64>)> {
                self.report().map(|r| (&r.parameters[..], &r.covariance))
            }
            fn fit_report(&self) -> Option<&super::fit::FitReport> {
                self.report()
            }
            fn with_parameters(&self, $p: &[f64]) -> Result<Box<dyn PurchaseModel>> {
                let $me = self;
                let rebuilt = $rebuild?;
                Ok(Box::new(match self.time_unit() {
                    Some(unit) => rebuilt.in_unit(unit),
                    None => rebuilt,
                }))
            }
            fn to_any(&self) -> Option<AnyPurchaseModel> {
                Some(AnyPurchaseModel::from(self.clone()))
            }
        }
    };
}

purchase_model!(
    BetaGeo,
    |me| match me.variant() {
        BetaGeoVariant::Classic => "BG/NBD",
        BetaGeoVariant::Modified => "MBG/NBD",
    },
    |p| match me.variant() {
        BetaGeoVariant::Classic => BetaGeo::new(p[0], p[1], p[2], p[3]),
        BetaGeoVariant::Modified => BetaGeo::modified(p[0], p[1], p[2], p[3]),
    },
    false
);
purchase_model!(ParetoNbd, |_me| "Pareto/NBD", |p| ParetoNbd::new(p[0], p[1], p[2], p[3]), false);
purchase_model!(BetaGeoBetaBinom, |_me| "BG/BB", |p| BetaGeoBetaBinom::new(p[0], p[1], p[2], p[3]), true);

/// `f` of the waiting time's distribution of a customer of `model`.
fn with_timing<M: PurchaseModel + ?Sized, T>(
    model: &M,
    x: f64,
    t_x: f64,
    age: f64,
    f: impl FnOnce(&super::timing::Timing<'_>) -> Result<T>,
) -> Result<T> {
    let no_purchase = |t: f64| model.probability_no_purchase(t, x, t_x, age);
    let discrete = model.discrete_time();
    let timing = super::timing::Timing {
        no_purchase: &no_purchase,
        any: model.probability_any_purchase(x, t_x, age)?,
        discrete,
        scale: age.max(1.0),
        longest: if discrete { MAX_OPPORTUNITIES - age } else { f64::INFINITY },
    };
    f(&timing)
}
