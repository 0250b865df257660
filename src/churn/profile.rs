//! The predictive profile: one row per customer with what a shop shows on
//! the customer's page and segments on — historic and predicted CLV (with
//! an interval), churn risk and band, P(alive), expected orders, the
//! probability of any order, the average time between orders and the
//! expected date of the next order — from fitted models, with eligibility
//! checks on the data.

use std::fmt;

use chrono::NaiveDate;
use ndarray::Array1;

use super::score::RiskBands;
use crate::clv::{Clv, GammaGamma, ParameterDraws, PurchaseModel, Span, per_distinct_rows};
use crate::domain::table::CustomerTable;
use crate::error::{Error, Result};
use crate::log::summary::PurchaseSummary;

/// The checks a summary must pass before its predictions are shown, in
/// the spirit of the predictive analytics of shop platforms: enough
/// customers with orders, a long enough history, recent orders, and some
/// customers who came back. The defaults are 500 customers, 180 days of
/// history, an order in the last 30 days and at least one customer with 3
/// or more orders.
///
/// ```
/// use customer_lifecycle::churn::Eligibility;
/// use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
/// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
/// assert!(Eligibility::default().check(&summary).is_empty()); // 2,357 customers over 18 months
/// let strict = Eligibility { min_customers: 10_000, ..Eligibility::default() };
/// let problems = strict.check(&summary);
/// assert_eq!(problems[0].to_string(), "customers with orders: 2357, needed at least 10000");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Eligibility {
    /// Customers with at least one order.
    pub min_customers: usize,
    /// Days from the first order in the data to the end of the summary's
    /// window.
    pub min_history_days: u32,
    /// The most recent order in the data is at most this many days before
    /// the end of the window.
    pub max_days_since_last_order: u32,
    /// Customers with 3 or more orders.
    pub min_repeat_customers: usize,
}

impl Default for Eligibility {
    fn default() -> Self {
        Eligibility {
            min_customers: 500,
            min_history_days: 180,
            max_days_since_last_order: 30,
            min_repeat_customers: 1,
        }
    }
}

/// One eligibility check the data falls short of.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct EligibilityProblem {
    /// The check.
    pub check: &'static str,
    /// What the data has.
    pub found: String,
    /// What the check needs.
    pub needed: String,
}

impl fmt::Display for EligibilityProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}, needed {}", self.check, self.found, self.needed)
    }
}

impl From<EligibilityProblem> for Error {
    fn from(p: EligibilityProblem) -> Error {
        Error::NotEligible { check: p.check, found: p.found, needed: p.needed }
    }
}

impl Eligibility {
    /// No checks: every summary is eligible.
    ///
    /// ```
    /// use customer_lifecycle::churn::Eligibility;
    /// use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// assert!(Eligibility::none().check(&summary).is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn none() -> Eligibility {
        Eligibility {
            min_customers: 0,
            min_history_days: 0,
            max_days_since_last_order: u32::MAX,
            min_repeat_customers: 0,
        }
    }

    /// The checks `summary` falls short of, in the order of the fields
    /// (empty when it is eligible). The history runs from the first
    /// purchase period's first day to the end of the summary's window (the
    /// calibration end when split), the days since the last order are
    /// T − t_x of the most recent buyer, in days.
    ///
    /// See [`Eligibility`] for an example.
    pub fn check(&self, summary: &PurchaseSummary) -> Vec<EligibilityProblem> {
        let mut problems = Vec::new();
        let customers = summary.len();
        if customers < self.min_customers {
            problems.push(EligibilityProblem {
                check: "customers with orders",
                found: customers.to_string(),
                needed: format!("at least {}", self.min_customers),
            });
        }
        let end = summary.calibration_end().unwrap_or(summary.observation_end());
        let history = summary.first_purchase_dates().into_iter().min().map_or(0, |first| (end - first).num_days());
        if history < i64::from(self.min_history_days) {
            problems.push(EligibilityProblem {
                check: "days of history",
                found: history.to_string(),
                needed: format!("at least {}", self.min_history_days),
            });
        }
        let days = days_per_period(summary);
        let since_last = summary
            .age()
            .iter()
            .zip(summary.recency())
            .map(|(age, t_x)| ((age - t_x) * days).round())
            .min_by(f64::total_cmp);
        match since_last {
            Some(d) if d <= f64::from(self.max_days_since_last_order) => {}
            _ => problems.push(EligibilityProblem {
                check: "days since the last order",
                found: since_last.map_or("no order".into(), |d| d.to_string()),
                needed: format!("at most {}", self.max_days_since_last_order),
            }),
        }
        let repeat = summary.orders().iter().filter(|n| **n >= 3).count();
        if repeat < self.min_repeat_customers {
            problems.push(EligibilityProblem {
                check: "customers with 3 or more orders",
                found: repeat.to_string(),
                needed: format!("at least {}", self.min_repeat_customers),
            });
        }
        problems
    }
}

/// Days in one period of the summary's unit (a month is a twelfth of 365
/// days, as [`Span`] counts it).
fn days_per_period(summary: &PurchaseSummary) -> f64 {
    1.0 / Span::Days(1).periods(summary.periods().unit())
}

/// Settings of [`CustomerPrediction::compute`].
///
/// ```
/// use customer_lifecycle::churn::{Eligibility, ProfileOptions};
/// use customer_lifecycle::clv::Span;
/// let options = ProfileOptions::new()
///     .window(Span::Days(180))
///     .margin(0.3)
///     .clv_intervals(200, 7)
///     .eligibility(Eligibility { min_customers: 100, ..Eligibility::default() });
/// assert_eq!(options.window_span(), Span::Days(180));
/// ```
#[derive(Clone, Debug)]
pub struct ProfileOptions {
    window: Span,
    churn_horizon: Span,
    annual_discount_rate: f64,
    margin: f64,
    bands: RiskBands,
    intervals: Option<(usize, u64)>,
    levels: [f64; 2],
    eligibility: Eligibility,
    refuse_ineligible: bool,
}

impl Default for ProfileOptions {
    fn default() -> Self {
        ProfileOptions {
            window: Span::Days(365),
            churn_horizon: Span::Days(90),
            annual_discount_rate: 0.10,
            margin: 1.0,
            bands: RiskBands::default(),
            intervals: None,
            levels: [0.05, 0.95],
            eligibility: Eligibility::default(),
            refuse_ineligible: true,
        }
    }
}

impl ProfileOptions {
    /// The defaults: a window of 365 days for the predicted CLV, the
    /// expected orders and the probability of any order; churn risk as the
    /// probability of no order in the next 90 days, banded by
    /// [`RiskBands::default`]; a 10 % annual discount rate; margin 1
    /// (revenue); no CLV interval; the default [`Eligibility`], refused
    /// with an error when not met.
    ///
    /// ```
    /// # use customer_lifecycle::churn::{CustomerPrediction, ProfileOptions};
    /// # use customer_lifecycle::clv::{BetaGeo, GammaGamma, Span};
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// # let (purchases, spend) = (BetaGeo::fit(&summary)?, GammaGamma::fit(&summary)?);
    /// # let profile = |o: &ProfileOptions| CustomerPrediction::compute(&summary, &purchases, &spend, o).map(|p| p.into_table());
    /// # let id = summary.ids()[0].clone();
    /// let table = profile(&ProfileOptions::new())?;
    /// assert!(table.column("predicted_clv").is_some() && table.column("predicted_clv_low").is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new() -> ProfileOptions {
        ProfileOptions::default()
    }

    /// The prediction window (default 365 days).
    ///
    /// ```
    /// # use customer_lifecycle::churn::{CustomerPrediction, ProfileOptions};
    /// # use customer_lifecycle::clv::{BetaGeo, GammaGamma, Span};
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// # let (purchases, spend) = (BetaGeo::fit(&summary)?, GammaGamma::fit(&summary)?);
    /// # let profile = |o: &ProfileOptions| CustomerPrediction::compute(&summary, &purchases, &spend, o).map(|p| p.into_table());
    /// # let id = summary.ids()[0].clone();
    /// let (month, year) = (profile(&ProfileOptions::new().window(Span::Days(30)))?, profile(&ProfileOptions::new())?);
    /// assert!(month.value(&id, "expected_purchases") < year.value(&id, "expected_purchases"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn window(mut self, span: Span) -> ProfileOptions {
        self.window = span;
        self
    }

    /// The window, as set.
    ///
    /// ```
    /// # use customer_lifecycle::churn::{CustomerPrediction, ProfileOptions};
    /// # use customer_lifecycle::clv::{BetaGeo, GammaGamma, Span};
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// # let (purchases, spend) = (BetaGeo::fit(&summary)?, GammaGamma::fit(&summary)?);
    /// # let profile = |o: &ProfileOptions| CustomerPrediction::compute(&summary, &purchases, &spend, o).map(|p| p.into_table());
    /// # let id = summary.ids()[0].clone();
    /// assert_eq!(ProfileOptions::new().window_span(), Span::Days(365));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn window_span(&self) -> Span {
        self.window
    }

    /// Churn risk is the probability of no order within this span (default
    /// 90 days).
    ///
    /// ```
    /// # use customer_lifecycle::churn::{CustomerPrediction, ProfileOptions};
    /// # use customer_lifecycle::clv::{BetaGeo, GammaGamma, Span};
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// # let (purchases, spend) = (BetaGeo::fit(&summary)?, GammaGamma::fit(&summary)?);
    /// # let profile = |o: &ProfileOptions| CustomerPrediction::compute(&summary, &purchases, &spend, o).map(|p| p.into_table());
    /// # let id = summary.ids()[0].clone();
    /// let (short, long) = (profile(&ProfileOptions::new())?, profile(&ProfileOptions::new().churn_horizon(Span::Days(365)))?);
    /// assert!(long.value(&id, "churn_risk") < short.value(&id, "churn_risk")); // more time to order
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn churn_horizon(mut self, span: Span) -> ProfileOptions {
        self.churn_horizon = span;
        self
    }

    /// Annual discount rate of the predicted CLV (default 0.10).
    ///
    /// ```
    /// # use customer_lifecycle::churn::{CustomerPrediction, ProfileOptions};
    /// # use customer_lifecycle::clv::{BetaGeo, GammaGamma, Span};
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// # let (purchases, spend) = (BetaGeo::fit(&summary)?, GammaGamma::fit(&summary)?);
    /// # let profile = |o: &ProfileOptions| CustomerPrediction::compute(&summary, &purchases, &spend, o).map(|p| p.into_table());
    /// # let id = summary.ids()[0].clone();
    /// let (low, high) = (profile(&ProfileOptions::new().annual_discount_rate(0.0))?, profile(&ProfileOptions::new().annual_discount_rate(0.5))?);
    /// assert!(high.value(&id, "predicted_clv") < low.value(&id, "predicted_clv"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn annual_discount_rate(mut self, rate: f64) -> ProfileOptions {
        self.annual_discount_rate = rate;
        self
    }

    /// Profit margin applied to the historic and the predicted CLV
    /// (default 1: revenue).
    ///
    /// ```
    /// # use customer_lifecycle::churn::{CustomerPrediction, ProfileOptions};
    /// # use customer_lifecycle::clv::{BetaGeo, GammaGamma, Span};
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// # let (purchases, spend) = (BetaGeo::fit(&summary)?, GammaGamma::fit(&summary)?);
    /// # let profile = |o: &ProfileOptions| CustomerPrediction::compute(&summary, &purchases, &spend, o).map(|p| p.into_table());
    /// # let id = summary.ids()[0].clone();
    /// let (revenue, profit) = (profile(&ProfileOptions::new())?, profile(&ProfileOptions::new().margin(0.25))?);
    /// let share = profit.value(&id, "historic_clv").unwrap() / revenue.value(&id, "historic_clv").unwrap();
    /// assert!((share - 0.25).abs() < 1e-12);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn margin(mut self, margin: f64) -> ProfileOptions {
        self.margin = margin;
        self
    }

    /// The churn bands (default [`RiskBands::default`]).
    ///
    /// ```
    /// # use customer_lifecycle::churn::{CustomerPrediction, ProfileOptions};
    /// # use customer_lifecycle::clv::{BetaGeo, GammaGamma, Span};
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// # let (purchases, spend) = (BetaGeo::fit(&summary)?, GammaGamma::fit(&summary)?);
    /// # let profile = |o: &ProfileOptions| CustomerPrediction::compute(&summary, &purchases, &spend, o).map(|p| p.into_table());
    /// # let id = summary.ids()[0].clone();
    /// use customer_lifecycle::churn::RiskBands;
    /// let everyone_high = profile(&ProfileOptions::new().bands(RiskBands::new(0.0, 1e-9)?))?;
    /// assert!(everyone_high.labels("churn_band").unwrap().iter().all(|b| *b == "high" || *b == "medium"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bands(mut self, bands: RiskBands) -> ProfileOptions {
        self.bands = bands;
        self
    }

    /// Adds the columns `predicted_clv_low` and `predicted_clv_high`: the
    /// parameter-uncertainty interval of the predicted CLV from `draws`
    /// draws of the purchase model's and (when fitted) the spend model's
    /// parameters, seeded (see [`ParameterDraws::clv_interval_columns`]).
    /// It costs about `draws` times the predicted CLV of the distinct
    /// (x, T) plus `draws` cheap terms per customer: with 200 draws, 6.1 s
    /// for 10,000 customers in weeks with nearly as many distinct (x, T),
    /// 19.8 s for a million with 8,800 (two cores; the benches
    /// `profile/*-200-draws`). A year of days costs about seven times a year
    /// of weeks.
    ///
    /// ```
    /// # use customer_lifecycle::churn::{CustomerPrediction, ProfileOptions};
    /// # use customer_lifecycle::clv::{BetaGeo, GammaGamma, Span};
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// # let (purchases, spend) = (BetaGeo::fit(&summary)?, GammaGamma::fit(&summary)?);
    /// # let profile = |o: &ProfileOptions| CustomerPrediction::compute(&summary, &purchases, &spend, o).map(|p| p.into_table());
    /// # let id = summary.ids()[0].clone();
    /// let table = profile(&ProfileOptions::new().clv_intervals(100, 7))?;
    /// let (low, high) = (table.value(&id, "predicted_clv_low").unwrap(), table.value(&id, "predicted_clv_high").unwrap());
    /// assert!(low <= table.value(&id, "predicted_clv").unwrap() && table.value(&id, "predicted_clv").unwrap() <= high);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn clv_intervals(mut self, draws: usize, seed: u64) -> ProfileOptions {
        self.intervals = Some((draws, seed));
        self
    }

    /// The levels of the CLV interval (default 0.05 and 0.95).
    ///
    /// ```
    /// # use customer_lifecycle::churn::{CustomerPrediction, ProfileOptions};
    /// # use customer_lifecycle::clv::{BetaGeo, GammaGamma, Span};
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// # let (purchases, spend) = (BetaGeo::fit(&summary)?, GammaGamma::fit(&summary)?);
    /// # let profile = |o: &ProfileOptions| CustomerPrediction::compute(&summary, &purchases, &spend, o).map(|p| p.into_table());
    /// # let id = summary.ids()[0].clone();
    /// let wide = profile(&ProfileOptions::new().clv_intervals(100, 7))?;
    /// let narrow = profile(&ProfileOptions::new().clv_intervals(100, 7).interval_levels(0.25, 0.75))?;
    /// let width = |t: &customer_lifecycle::CustomerTable| t.value(&id, "predicted_clv_high").unwrap() - t.value(&id, "predicted_clv_low").unwrap();
    /// assert!(width(&narrow) < width(&wide));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn interval_levels(mut self, low: f64, high: f64) -> ProfileOptions {
        self.levels = [low, high];
        self
    }

    /// The eligibility checks (default [`Eligibility::default`]).
    ///
    /// ```
    /// # use customer_lifecycle::churn::{CustomerPrediction, ProfileOptions};
    /// # use customer_lifecycle::clv::{BetaGeo, GammaGamma, Span};
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// # let (purchases, spend) = (BetaGeo::fit(&summary)?, GammaGamma::fit(&summary)?);
    /// # let profile = |o: &ProfileOptions| CustomerPrediction::compute(&summary, &purchases, &spend, o).map(|p| p.into_table());
    /// # let id = summary.ids()[0].clone();
    /// use customer_lifecycle::churn::Eligibility;
    /// let small_shop = ProfileOptions::new().eligibility(Eligibility { min_customers: 50, ..Eligibility::default() });
    /// assert!(profile(&small_shop).is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn eligibility(mut self, checks: Eligibility) -> ProfileOptions {
        self.eligibility = checks;
        self
    }

    /// Computes the profile of data that falls short of the eligibility
    /// checks, with the shortfalls in [`CustomerPrediction::warnings`],
    /// instead of refusing it.
    ///
    /// ```
    /// # use customer_lifecycle::churn::{CustomerPrediction, ProfileOptions};
    /// # use customer_lifecycle::clv::{BetaGeo, GammaGamma, Span};
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// # let (purchases, spend) = (BetaGeo::fit(&summary)?, GammaGamma::fit(&summary)?);
    /// # let profile = |o: &ProfileOptions| CustomerPrediction::compute(&summary, &purchases, &spend, o).map(|p| p.into_table());
    /// # let id = summary.ids()[0].clone();
    /// use customer_lifecycle::churn::Eligibility;
    /// let strict = ProfileOptions::new().eligibility(Eligibility { min_history_days: 1_000, ..Eligibility::default() });
    /// assert!(profile(&strict).is_err());
    /// let warned = CustomerPrediction::compute(&summary, &purchases, &spend, &strict.warn_when_ineligible())?;
    /// assert_eq!(warned.warnings()[0].check, "days of history");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn warn_when_ineligible(mut self) -> ProfileOptions {
        self.refuse_ineligible = false;
        self
    }
}

/// The predictive profile of every customer of a summary: a
/// [`CustomerTable`] keyed by customer with the columns
///
/// | column | what |
/// |---|---|
/// | `historic_clv` | margin × net spend (orders less returns) in the summary's window |
/// | `predicted_clv` | CLV over the window ([`Clv`], discounted) |
/// | `predicted_clv_low`, `predicted_clv_high` | its interval (with [`ProfileOptions::clv_intervals`]) |
/// | `total_clv` | historic + predicted |
/// | `churn_risk` | P(no order in the churn horizon) |
/// | `churn_band` | `low`, `medium`, `high` (a label) |
/// | `p_alive` | P(alive) at the end of the window |
/// | `expected_purchases` | expected repeat orders in the window |
/// | `p_any_order` | P(at least one order in the window) |
/// | `avg_days_between_orders` | t_x / x in days; blank with no repeat order |
/// | `next_order_date` | the median of the time to the next order after the end of the window, rounded up to a day; blank where P(any further order) < 0.5 (none expected) |
///
/// All from the summary's window: the calibration end when split. The
/// stage engine and segments read it as any keyed table (by id).
///
/// Under BG/NBD a customer without a repeat purchase cannot have dropped
/// out (P(alive) = 1), so every such customer gets a next-order date, often
/// years away (the model's median, not a forecast a shop would act on):
/// where one-time buyers dominate prefer MBG/NBD or Pareto/NBD, which let
/// them drop out.
///
/// ```
/// use customer_lifecycle::churn::{CustomerPrediction, ProfileOptions};
/// use customer_lifecycle::clv::{BetaGeo, GammaGamma};
/// use customer_lifecycle::{CustomerId, SummaryOptions, TimeUnit, TransactionLog};
/// use customer_lifecycle::chrono::NaiveDate;
/// let end = NaiveDate::from_ymd_opt(1997, 9, 30).unwrap();
/// let summary = TransactionLog::cdnow_sample()?.summarize(
///     &SummaryOptions::new(TimeUnit::Week).calibration_end(end).observation_end(NaiveDate::from_ymd_opt(1998, 6, 30).unwrap()),
/// )?;
/// let (purchases, spend) = (BetaGeo::fit(&summary)?, GammaGamma::fit(&summary)?);
/// let profile = CustomerPrediction::compute(&summary, &purchases, &spend, &ProfileOptions::new())?;
/// assert_eq!(profile.as_of(), end);
/// let table = profile.table();
/// let id = &summary.ids()[0];
/// let p_any = table.value(id, "p_any_order").unwrap();
/// // A date where P(any further order) ≥ 0.5, blank otherwise.
/// assert_eq!(table.date(id, "next_order_date").is_some(), purchases.probability_any_purchase(
///     summary.frequency()[0], summary.recency()[0], summary.age()[0])? >= 0.5);
/// assert!((0.0..=1.0).contains(&p_any));
/// assert!(["low", "medium", "high"].contains(&table.label(id, "churn_band").unwrap()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct CustomerPrediction {
    table: CustomerTable,
    as_of: NaiveDate,
    warnings: Vec<EligibilityProblem>,
}

impl CustomerPrediction {
    /// The profile of every customer of `summary` from a fitted purchase
    /// model (in the summary's unit) and a spend model.
    ///
    /// ```
    /// # use customer_lifecycle::churn::{CustomerPrediction, ProfileOptions};
    /// # use customer_lifecycle::clv::{BetaGeo, GammaGamma, Span};
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// # let (purchases, spend) = (BetaGeo::fit(&summary)?, GammaGamma::fit(&summary)?);
    /// # let profile = |o: &ProfileOptions| CustomerPrediction::compute(&summary, &purchases, &spend, o).map(|p| p.into_table());
    /// # let id = summary.ids()[0].clone();
    /// let p = CustomerPrediction::compute(&summary, &purchases, &spend, &ProfileOptions::new())?;
    /// let t = p.table();
    /// let total = t.value(&id, "historic_clv").unwrap() + t.value(&id, "predicted_clv").unwrap();
    /// assert!((t.value(&id, "total_clv").unwrap() - total).abs() < 1e-9);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::NotEligible`] for the first eligibility check the data
    /// falls short of (unless [`ProfileOptions::warn_when_ineligible`]);
    /// [`Error::InvalidArgument`] for a model in another unit than the
    /// summary, a window or churn horizon of no time, or bad interval
    /// settings; as the models' predictions and [`Clv::compute`].
    pub fn compute(
        summary: &PurchaseSummary,
        purchases: &dyn PurchaseModel,
        spend: &GammaGamma,
        options: &ProfileOptions,
    ) -> Result<CustomerPrediction> {
        let mut warnings = options.eligibility.check(summary);
        if options.refuse_ineligible && !warnings.is_empty() {
            return Err(warnings.swap_remove(0).into());
        }
        let unit = summary.periods().unit();
        if let Some(model_unit) = purchases.time_unit() {
            if model_unit != unit {
                return Err(Error::InvalidArgument {
                    name: "customer prediction",
                    reason: format!(
                        "the {} model is in {}s and the summary in {}s",
                        purchases.name(),
                        model_unit.name(),
                        unit.name()
                    ),
                });
            }
        }
        let (window, churn) = (options.window.periods(unit), options.churn_horizon.periods(unit));
        for (what, span, periods) in
            [("window", options.window, window), ("churn horizon", options.churn_horizon, churn)]
        {
            if !(periods.is_finite() && periods > 0.0) {
                return Err(Error::InvalidArgument {
                    name: "customer prediction",
                    reason: format!("the {what} ({span}) must be longer than no time"),
                });
            }
        }
        let (x, t_x, age, m) = (summary.frequency(), summary.recency(), summary.age(), summary.monetary_value());
        let naming = |e: Error| e.naming_customer(summary.ids());
        let [p_alive, expected, quiet_window, quiet_churn, median] = per_distinct_rows(x, t_x, age, |x, t_x, age| {
            Ok([
                purchases.probability_alive(x, t_x, age)?,
                purchases.conditional_expected_purchases(window, x, t_x, age)?,
                purchases.probability_no_purchase(window, x, t_x, age)?,
                purchases.probability_no_purchase(churn, x, t_x, age)?,
                purchases.next_purchase_quantile(0.5, x, t_x, age)?.unwrap_or(f64::INFINITY),
            ])
        })
        .map_err(naming)?;
        let clv = Clv::new(purchases, spend)
            .time_unit(unit)
            .horizon(options.window)
            .annual_discount_rate(options.annual_discount_rate)
            .margin(options.margin);
        let predicted = clv.compute_columns(x, t_x, age, m).map_err(naming)?;
        let historic: Array1<f64> = summary.net_spend_iter().map(|v| options.margin * v).collect();
        let total = &historic + &predicted;
        let days = days_per_period(summary);
        let as_of = summary.calibration_end().unwrap_or(summary.observation_end());
        let next_order = median.iter().map(|t| {
            let d = (t * days).ceil();
            // Beyond the dates chrono holds (a median of millions of years) is
            // no date either.
            (d.is_finite() && d < 1e8).then(|| as_of.checked_add_days(chrono::Days::new(d as u64))).flatten()
        });
        let gap = x.iter().zip(t_x).map(|(x, t_x)| (*x > 0.0).then(|| t_x / x * days));
        let band: Vec<String> = quiet_churn.iter().map(|r| options.bands.band(*r).to_string()).collect();

        let mut table = CustomerTable::over(summary.shared_ids())
            .with_column("historic_clv", historic)?
            .with_column("predicted_clv", predicted)?;
        if let Some((draws, seed)) = options.intervals {
            let purchase_draws = ParameterDraws::new(purchases, draws, seed)?;
            // The spend model's draws when it was fitted; its point estimate otherwise.
            let spend_draws = match spend.report() {
                Some(_) => spend.parameter_draws(draws, seed.wrapping_add(1))?,
                None => Vec::new(),
            };
            let intervals = purchase_draws
                .clv_interval_columns(&clv, &spend_draws, x, t_x, age, m, options.levels)
                .map_err(naming)?;
            table = table
                .with_column("predicted_clv_low", intervals.iter().map(|[low, _]| *low).collect())?
                .with_column("predicted_clv_high", intervals.iter().map(|[_, high]| *high).collect())?;
        }
        let table = table
            .with_column("total_clv", total)?
            .with_column("churn_risk", quiet_churn)?
            .with_label_column("churn_band", band)?
            .with_column("p_alive", p_alive)?
            .with_column("expected_purchases", expected)?
            .with_column("p_any_order", quiet_window.mapv(|q| 1.0 - q))?
            .with_optional_column("avg_days_between_orders", gap)?
            .with_date_column("next_order_date", next_order)?;
        Ok(CustomerPrediction { table, as_of, warnings })
    }

    /// The profile as a keyed table (see [`CustomerPrediction`] for its
    /// columns).
    ///
    /// ```
    /// # use customer_lifecycle::churn::{CustomerPrediction, ProfileOptions};
    /// # use customer_lifecycle::clv::{BetaGeo, GammaGamma, Span};
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// # let (purchases, spend) = (BetaGeo::fit(&summary)?, GammaGamma::fit(&summary)?);
    /// # let profile = |o: &ProfileOptions| CustomerPrediction::compute(&summary, &purchases, &spend, o).map(|p| p.into_table());
    /// # let id = summary.ids()[0].clone();
    /// let p = CustomerPrediction::compute(&summary, &purchases, &spend, &ProfileOptions::new())?;
    /// assert_eq!(p.table().ids(), summary.ids());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn table(&self) -> &CustomerTable {
        &self.table
    }

    /// The table, taken out of the profile.
    ///
    /// ```
    /// # use customer_lifecycle::churn::{CustomerPrediction, ProfileOptions};
    /// # use customer_lifecycle::clv::{BetaGeo, GammaGamma, Span};
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// # let (purchases, spend) = (BetaGeo::fit(&summary)?, GammaGamma::fit(&summary)?);
    /// # let profile = |o: &ProfileOptions| CustomerPrediction::compute(&summary, &purchases, &spend, o).map(|p| p.into_table());
    /// # let id = summary.ids()[0].clone();
    /// let table = CustomerPrediction::compute(&summary, &purchases, &spend, &ProfileOptions::new())?.into_table();
    /// assert_eq!(table.len(), summary.len());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_table(self) -> CustomerTable {
        self.table
    }

    /// The date the predictions start from: the end of the summary's
    /// window.
    ///
    /// ```
    /// # use customer_lifecycle::churn::{CustomerPrediction, ProfileOptions};
    /// # use customer_lifecycle::clv::{BetaGeo, GammaGamma, Span};
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// # let (purchases, spend) = (BetaGeo::fit(&summary)?, GammaGamma::fit(&summary)?);
    /// # let profile = |o: &ProfileOptions| CustomerPrediction::compute(&summary, &purchases, &spend, o).map(|p| p.into_table());
    /// # let id = summary.ids()[0].clone();
    /// let p = CustomerPrediction::compute(&summary, &purchases, &spend, &ProfileOptions::new())?;
    /// assert_eq!(p.as_of(), summary.observation_end());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn as_of(&self) -> NaiveDate {
        self.as_of
    }

    /// The eligibility checks the data fell short of, when computed with
    /// [`ProfileOptions::warn_when_ineligible`] (empty otherwise).
    ///
    /// ```
    /// use customer_lifecycle::churn::{CustomerPrediction, Eligibility, ProfileOptions};
    /// use customer_lifecycle::clv::{BetaGeo, GammaGamma};
    /// use customer_lifecycle::{Error, SummaryOptions, TimeUnit, TransactionLog};
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let (purchases, spend) = (BetaGeo::fit(&summary)?, GammaGamma::fit(&summary)?);
    /// let strict = ProfileOptions::new().eligibility(Eligibility { min_customers: 5_000, ..Eligibility::default() });
    /// let refused = CustomerPrediction::compute(&summary, &purchases, &spend, &strict);
    /// assert!(matches!(refused, Err(Error::NotEligible { check: "customers with orders", .. })));
    /// let profile = CustomerPrediction::compute(&summary, &purchases, &spend, &strict.warn_when_ineligible())?;
    /// assert_eq!(profile.warnings().len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn warnings(&self) -> &[EligibilityProblem] {
        &self.warnings
    }
}
