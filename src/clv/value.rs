//! Customer lifetime value from a purchase model and a spend model.

use std::collections::HashMap;
use std::fmt;

use ndarray::{Array1, ArrayView1};
use serde::{Deserialize, Serialize};

use super::gamma_gamma::GammaGamma;
use super::model::PurchaseModel;
use crate::domain::table::CustomerTable;
use crate::domain::time::TimeUnit;
use crate::error::{Error, Result};
use crate::log::summary::PurchaseSummary;
use crate::math::hash::WordHasher;
use crate::math::parallel::map_in_runs;

/// Periods of `unit` in a year: 365 days, 52 weeks, 12 months, 365/n for
/// `Days(n)` — the conventions the CLV horizon and discounting use.
///
/// ```
/// use customer_lifecycle::{TimeUnit, clv::periods_per_year};
/// assert_eq!(periods_per_year(TimeUnit::Week), 52.0);
/// assert_eq!(periods_per_year(TimeUnit::Days(73)), 5.0);
/// ```
pub fn periods_per_year(unit: TimeUnit) -> f64 {
    match unit {
        TimeUnit::Day => 365.0,
        TimeUnit::Week => 52.0,
        TimeUnit::Month => 12.0,
        TimeUnit::Days(n) => 365.0 / f64::from(n.max(1)),
    }
}

/// The longest CLV horizon, in periods: a hundred years of days. The
/// discounted sum takes one term per period for each distinct (x, T), so the
/// bound bounds the work.
pub const MAX_HORIZON_PERIODS: u32 = 36_600;

/// A span of calendar time — a CLV horizon, say — converted to periods of
/// a summary's unit with the year conventions of [`periods_per_year`]: a
/// year is 365 days, 52 weeks or 12 months, a month a twelfth of a year,
/// a week seven days.
///
/// ```
/// use customer_lifecycle::TimeUnit;
/// use customer_lifecycle::clv::Span;
/// assert_eq!(Span::Months(12).periods(TimeUnit::Day), 365.0);
/// assert_eq!(Span::Months(12).periods(TimeUnit::Week), 52.0);
/// assert_eq!(Span::Months(3).periods(TimeUnit::Month), 3.0);
/// assert_eq!(Span::Days(14).periods(TimeUnit::Week), 2.0);
/// assert_eq!(Span::Years(1).to_string(), "1 year");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Span {
    /// Days.
    Days(u32),
    /// Weeks of seven days.
    Weeks(u32),
    /// Months, a twelfth of a year each.
    Months(u32),
    /// Years.
    Years(u32),
}

impl Span {
    /// The span in periods of `unit` (not always whole: a month is 4.33
    /// weeks).
    pub fn periods(&self, unit: TimeUnit) -> f64 {
        let per_year = periods_per_year(unit);
        let in_days = |days: f64| match unit.days() {
            Some(d) => days / f64::from(d),
            None => days * per_year / 365.0,
        };
        match *self {
            Span::Days(n) => in_days(f64::from(n)),
            Span::Weeks(n) => in_days(7.0 * f64::from(n)),
            Span::Months(n) => f64::from(n) * per_year / 12.0,
            Span::Years(n) => f64::from(n) * per_year,
        }
    }
}

impl std::str::FromStr for Span {
    type Err = Error;

    /// `12 months`, `12months`, `365 days`, `1 year`, `26w`: a whole number
    /// and a unit (day, week, month, year; singular, plural or initial).
    ///
    /// ```
    /// use customer_lifecycle::clv::Span;
    /// assert_eq!("12 months".parse::<Span>()?, Span::Months(12));
    /// assert_eq!("365d".parse::<Span>()?, Span::Days(365));
    /// assert!("12".parse::<Span>().is_err()); // twelve what?
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn from_str(s: &str) -> Result<Span> {
        let bad = || Error::InvalidArgument {
            name: "span",
            reason: format!("{s:?} is not a whole number of days, weeks, months or years (such as \"12 months\")"),
        };
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let n: u32 = t[..split].parse().map_err(|_| bad())?;
        Ok(match t[split..].trim().to_ascii_lowercase().as_str() {
            "d" | "day" | "days" => Span::Days(n),
            "w" | "week" | "weeks" => Span::Weeks(n),
            "m" | "month" | "months" => Span::Months(n),
            "y" | "year" | "years" => Span::Years(n),
            _ => return Err(bad()),
        })
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (n, name) = match *self {
            Span::Days(n) => (n, "day"),
            Span::Weeks(n) => (n, "week"),
            Span::Months(n) => (n, "month"),
            Span::Years(n) => (n, "year"),
        };
        write!(f, "{n} {name}{}", if n == 1 { "" } else { "s" })
    }
}

/// The horizon as given: a calendar span, or periods of the unit.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Horizon {
    Span(Span),
    Periods(f64),
}

/// How the horizon is stepped and discounted.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Discounting {
    /// One step per period of the unit, discounted at an annual rate for
    /// the time at each step's end (a last partial period when the horizon
    /// is not whole).
    Annual(f64),
    /// Python lifetimes' `customer_lifetime_value`: one step per month of
    /// 4.345 weeks, 30 days or one month, discounted at a monthly rate.
    LifetimesMonthly { months: u32, rate: f64 },
}

/// CLV over a horizon: margin × E[spend per purchase] × Σ_steps
/// (E[X(t_i)] − E[X(t_{i−1})]) / (1 + d)^(t_i / P), with E[X(t)] the
/// conditional expected purchases in the next t periods, P the periods per
/// year of the data's unit and d the annual discount rate.
///
/// The horizon is given in calendar terms ([`Span`], default one year) and
/// converted to the unit of the data: the unit the purchase model was
/// fitted on ([`PurchaseModel::time_unit`]), the summary's in
/// [`Clv::compute`], or one set with [`Clv::time_unit`]. When two of them
/// disagree the CLV is an error, never a silent rescaling; when none is
/// known, so is it. [`Clv::lifetimes_compatible`] gives Python lifetimes'
/// definition.
///
/// ```
/// use customer_lifecycle::TimeUnit;
/// use customer_lifecycle::clv::{BetaGeo, Clv, GammaGamma, Span};
///
/// // Published CDNOW parameters, whose unit is the week.
/// let purchases = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?.in_unit(TimeUnit::Week);
/// let spend = GammaGamma::new(6.2488, 3.7446, 15.4477)?;
/// let clv = Clv::new(&purchases, &spend).horizon(Span::Months(12)).annual_discount_rate(0.10).margin(0.3);
/// let value = clv.customer(2.0, 30.43, 38.86, 22.35)?;
/// assert!(value > 0.0 && value < 100.0);
/// // Without a unit there is no telling what "12 months" is.
/// let unknown = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?;
/// assert!(Clv::new(&unknown, &spend).customer(2.0, 30.43, 38.86, 22.35).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy)]
pub struct Clv<'a> {
    purchases: &'a dyn PurchaseModel,
    spend: &'a GammaGamma,
    horizon: Horizon,
    unit: Option<TimeUnit>,
    discounting: Discounting,
    margin: f64,
    threads: usize,
    /// Interpolate between anchor steps (the draws of an interval).
    anchored: bool,
}

impl fmt::Debug for Clv<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Clv")
            .field("purchases", &self.purchases.name())
            .field("horizon", &self.horizon)
            .field("unit", &self.unit)
            .field("discounting", &self.discounting)
            .field("margin", &self.margin)
            .field("threads", &self.threads)
            .finish()
    }
}

/// The steps of the discounted sum: (end of the step in periods, discount factor).
type Steps = Vec<(f64, f64)>;

impl<'a> Clv<'a> {
    /// Defaults: a horizon of one year, 10 % a year, margin 1 (revenue
    /// CLV), the unit of the purchase model.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Day))?;
    /// use customer_lifecycle::clv::{BetaGeo, Clv, GammaGamma};
    /// let (purchases, spend) = (BetaGeo::fit(&summary)?, GammaGamma::fit(&summary)?);
    /// // Fitted on days: one year is 365 periods, discounted at 10 % a year.
    /// let clv = Clv::new(&purchases, &spend);
    /// assert_eq!(clv.horizon_periods()?, 365.0);
    /// assert!(clv.customer(2.0, 213.0, 272.0, 22.35)? > 0.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(purchases: &'a dyn PurchaseModel, spend: &'a GammaGamma) -> Clv<'a> {
        Clv {
            purchases,
            spend,
            horizon: Horizon::Span(Span::Years(1)),
            unit: None,
            discounting: Discounting::Annual(0.10),
            margin: 1.0,
            threads: 1,
            anchored: false,
        }
    }

    /// The same settings on other models (a draw of the purchase and spend
    /// models' parameters, say).
    ///
    /// ```
    /// use customer_lifecycle::TimeUnit;
    /// use customer_lifecycle::clv::{BetaGeo, Clv, GammaGamma, Span};
    /// let (a, b) = (BetaGeo::new(0.24, 4.4, 0.79, 2.4)?.in_unit(TimeUnit::Week), BetaGeo::new(0.3, 4.4, 0.79, 2.4)?.in_unit(TimeUnit::Week));
    /// let spend = GammaGamma::new(6.25, 3.74, 15.44)?;
    /// let clv = Clv::new(&a, &spend).horizon(Span::Weeks(26));
    /// let other = clv.with_models(&b, &spend);
    /// assert_eq!(other.horizon_periods()?, 26.0);
    /// assert!(other.customer(2.0, 30.0, 39.0, 20.0)? != clv.customer(2.0, 30.0, 39.0, 20.0)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_models<'b>(&self, purchases: &'b dyn PurchaseModel, spend: &'b GammaGamma) -> Clv<'b> {
        Clv {
            purchases,
            spend,
            horizon: self.horizon,
            unit: self.unit,
            discounting: self.discounting,
            margin: self.margin,
            threads: self.threads,
            anchored: self.anchored,
        }
    }

    /// The same settings and spend model on another purchase model.
    ///
    /// ```
    /// use customer_lifecycle::TimeUnit;
    /// use customer_lifecycle::clv::{BetaGeo, Clv, GammaGamma};
    /// let (a, b) = (BetaGeo::new(0.24, 4.4, 0.79, 2.4)?.in_unit(TimeUnit::Week), BetaGeo::new(0.3, 4.4, 0.79, 2.4)?.in_unit(TimeUnit::Week));
    /// let spend = GammaGamma::new(6.25, 3.74, 15.44)?;
    /// let clv = Clv::new(&a, &spend);
    /// assert!(clv.with_purchases(&b).customer(2.0, 30.0, 39.0, 20.0)? > 0.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_purchases<'b>(&self, purchases: &'b dyn PurchaseModel) -> Clv<'b>
    where
        'a: 'b,
    {
        Clv { purchases, ..*self }
    }

    /// Threads for [`Clv::compute`] and [`Clv::compute_columns`] (default
    /// 1; 0 counts as 1): the discounted sums of the distinct (x, T) pairs
    /// are shared out between them. The values do not depend on the number.
    ///
    /// ```
    /// use customer_lifecycle::TimeUnit;
    /// use customer_lifecycle::clv::{BetaGeo, Clv, GammaGamma};
    /// use customer_lifecycle::ndarray::Array1;
    /// let purchases = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?.in_unit(TimeUnit::Week);
    /// let spend = GammaGamma::new(6.2488, 3.7446, 15.4477)?;
    /// let x = Array1::from_iter((0..500).map(|i| f64::from(i % 7)));
    /// let t_x = Array1::from_iter((0..500).map(|i| f64::from(i % 7) * 3.0));
    /// let age = Array1::from_iter((0..500).map(|i| 30.0 + f64::from(i % 11)));
    /// let m = Array1::from_elem(500, 25.0);
    /// let one = Clv::new(&purchases, &spend).compute_columns(x.view(), t_x.view(), age.view(), m.view())?;
    /// let two = Clv::new(&purchases, &spend).threads(2).compute_columns(x.view(), t_x.view(), age.view(), m.view())?;
    /// assert_eq!(one, two);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn threads(mut self, threads: usize) -> Clv<'a> {
        self.threads = threads.max(1);
        self
    }

    /// The horizon, in calendar terms, converted to the data's unit.
    ///
    /// ```
    /// use customer_lifecycle::TimeUnit;
    /// use customer_lifecycle::clv::{BetaGeo, Clv, GammaGamma, Span};
    /// let purchases = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?.in_unit(TimeUnit::Week);
    /// let spend = GammaGamma::new(6.2488, 3.7446, 15.4477)?;
    /// let (year, two_years) = (Clv::new(&purchases, &spend), Clv::new(&purchases, &spend).horizon(Span::Years(2)));
    /// assert!(two_years.customer(2.0, 30.43, 38.86, 22.35)? > year.customer(2.0, 30.43, 38.86, 22.35)?);
    /// assert_eq!(Clv::new(&purchases, &spend).horizon(Span::Months(3)).horizon_periods()?, 13.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn horizon(mut self, span: Span) -> Clv<'a> {
        self.horizon = Horizon::Span(span);
        self
    }

    /// The horizon in periods of the data's unit (need not be whole: the
    /// last period is then partial).
    ///
    /// ```
    /// use customer_lifecycle::TimeUnit;
    /// use customer_lifecycle::clv::{BetaGeo, Clv, GammaGamma};
    /// let purchases = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?.in_unit(TimeUnit::Week);
    /// let spend = GammaGamma::new(6.2488, 3.7446, 15.4477)?;
    /// let clv = Clv::new(&purchases, &spend).horizon_in_periods(39.0);
    /// assert_eq!(clv.horizon_periods()?, 39.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn horizon_in_periods(mut self, periods: f64) -> Clv<'a> {
        self.horizon = Horizon::Periods(periods);
        self
    }

    /// The unit of the data's ages and recencies, for a purchase model that
    /// does not know it (built from parameters). A model that does, or a
    /// summary given to [`Clv::compute`], must agree.
    ///
    /// ```
    /// use customer_lifecycle::TimeUnit;
    /// use customer_lifecycle::clv::{BetaGeo, Clv, GammaGamma};
    /// let purchases = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?;
    /// let spend = GammaGamma::new(6.2488, 3.7446, 15.4477)?;
    /// assert_eq!(Clv::new(&purchases, &spend).time_unit(TimeUnit::Week).horizon_periods()?, 52.0);
    /// let weekly = purchases.in_unit(TimeUnit::Week);
    /// assert!(Clv::new(&weekly, &spend).time_unit(TimeUnit::Day).horizon_periods().is_err()); // disagree
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn time_unit(mut self, unit: TimeUnit) -> Clv<'a> {
        self.unit = Some(unit);
        self
    }

    /// The annual discount rate d (default 0.10).
    ///
    /// ```
    /// use customer_lifecycle::TimeUnit;
    /// use customer_lifecycle::clv::{BetaGeo, Clv, GammaGamma};
    /// let purchases = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?.in_unit(TimeUnit::Week);
    /// let spend = GammaGamma::new(6.2488, 3.7446, 15.4477)?;
    /// let (low, high) = (Clv::new(&purchases, &spend).annual_discount_rate(0.0), Clv::new(&purchases, &spend).annual_discount_rate(0.3));
    /// assert!(low.customer(2.0, 30.43, 38.86, 22.35)? > high.customer(2.0, 30.43, 38.86, 22.35)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn annual_discount_rate(mut self, rate: f64) -> Clv<'a> {
        self.discounting = Discounting::Annual(rate);
        self
    }

    /// Python lifetimes' definition (`customer_lifetime_value(…, time,
    /// discount_rate, freq)`): `months` steps of a month each — 4.345
    /// periods of weeks, 30 of days, 1 of months (30/n of `Days(n)`) —
    /// the purchases of step m discounted by (1 + `monthly_rate`)^m. It
    /// replaces the horizon and the annual rate. Checked against lifetimes
    /// 0.11.3 on the CDNOW summary to 1e-9 (relative).
    ///
    /// ```
    /// use customer_lifecycle::TimeUnit;
    /// use customer_lifecycle::clv::{BetaGeo, Clv, GammaGamma};
    /// let purchases = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?.in_unit(TimeUnit::Week);
    /// let spend = GammaGamma::new(6.2488, 3.7446, 15.4477)?;
    /// // lifetimes: ggf.customer_lifetime_value(bgf, 2, 30.43, 38.86, 22.35, time=12, discount_rate=0.01, freq="W")
    /// let value = Clv::new(&purchases, &spend).lifetimes_compatible(12, 0.01).customer(2.0, 30.43, 38.86, 22.35)?;
    /// assert!((value - 36.27880703501703).abs() < 1e-9 * value);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lifetimes_compatible(mut self, months: u32, monthly_rate: f64) -> Clv<'a> {
        self.discounting = Discounting::LifetimesMonthly { months, rate: monthly_rate };
        self
    }

    /// The profit margin applied to revenue (1 = revenue CLV).
    ///
    /// ```
    /// use customer_lifecycle::TimeUnit;
    /// use customer_lifecycle::clv::{BetaGeo, Clv, GammaGamma};
    /// let purchases = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?.in_unit(TimeUnit::Week);
    /// let spend = GammaGamma::new(6.2488, 3.7446, 15.4477)?;
    /// let revenue = Clv::new(&purchases, &spend).customer(2.0, 30.43, 38.86, 22.35)?;
    /// let profit = Clv::new(&purchases, &spend).margin(0.3).customer(2.0, 30.43, 38.86, 22.35)?;
    /// assert!((profit - 0.3 * revenue).abs() < 1e-9);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn margin(mut self, margin: f64) -> Clv<'a> {
        self.margin = margin;
        self
    }

    /// The unit of the data: the model's, the one set, the summary's; all
    /// that are known must agree.
    fn unit_with(&self, summary: Option<TimeUnit>) -> Result<TimeUnit> {
        let known = [
            ("the purchase model was fitted on", self.purchases.time_unit()),
            ("the CLV's time unit is", self.unit),
            ("the summary is in", summary),
        ];
        let mut found: Option<(&str, TimeUnit)> = None;
        for (what, unit) in known {
            let Some(unit) = unit else { continue };
            match found {
                Some((first, seen)) if seen != unit => {
                    return Err(Error::InvalidArgument {
                        name: "CLV time unit",
                        reason: format!(
                            "{first} {}, but {what} {}: refit the model on data in one unit",
                            seen.name(),
                            unit.name()
                        ),
                    });
                }
                Some(_) => {}
                None => found = Some((what, unit)),
            }
        }
        found.map(|(_, unit)| unit).ok_or_else(|| Error::InvalidArgument {
            name: "CLV time unit",
            reason: "unknown: fit the purchase model on a summary, or give it with Clv::time_unit or the model's                      in_unit, so that the horizon and the discounting are in the data's unit"
                .into(),
        })
    }

    /// The horizon in periods of the data's unit.
    ///
    /// ```
    /// use customer_lifecycle::TimeUnit;
    /// use customer_lifecycle::clv::{BetaGeo, Clv, GammaGamma, Span};
    /// let purchases = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?.in_unit(TimeUnit::Day);
    /// let spend = GammaGamma::new(6.2488, 3.7446, 15.4477)?;
    /// assert_eq!(Clv::new(&purchases, &spend).horizon(Span::Months(12)).horizon_periods()?, 365.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// When the unit is unknown or the units disagree (see [`Clv`]).
    pub fn horizon_periods(&self) -> Result<f64> {
        self.horizon_in(self.unit_with(None)?)
    }

    fn horizon_in(&self, unit: TimeUnit) -> Result<f64> {
        Ok(match (self.discounting, self.horizon) {
            (Discounting::LifetimesMonthly { months, .. }, _) => f64::from(months) * lifetimes_month(unit),
            (_, Horizon::Span(span)) => span.periods(unit),
            (_, Horizon::Periods(p)) => p,
        })
    }

    /// The steps of the discounted sum in `unit`, after checking the settings.
    fn steps(&self, unit: TimeUnit) -> Result<Steps> {
        let bad = |reason: String| Err(Error::InvalidArgument { name: "CLV settings", reason });
        if !(self.margin.is_finite() && self.margin >= 0.0) {
            return bad(format!("margin {} must be finite and ≥ 0", self.margin));
        }
        let horizon = self.horizon_in(unit)?;
        if !(horizon.is_finite() && horizon > 0.0 && horizon <= f64::from(MAX_HORIZON_PERIODS)) {
            return bad(format!(
                "the horizon must be more than 0 and at most {MAX_HORIZON_PERIODS} periods, got {horizon} {}s",
                unit.name()
            ));
        }
        match self.discounting {
            Discounting::Annual(d) => {
                if !(d.is_finite() && d > -1.0) {
                    return bad(format!("discount rate {d} must be finite and above -100 %"));
                }
                let per_year = periods_per_year(unit);
                let whole = horizon.floor() as u32;
                let mut steps: Steps = (1..=whole).map(f64::from).map(|t| (t, (1.0 + d).powf(-t / per_year))).collect();
                if horizon > f64::from(whole) {
                    steps.push((horizon, (1.0 + d).powf(-horizon / per_year)));
                }
                Ok(steps)
            }
            Discounting::LifetimesMonthly { months, rate } => {
                if !(rate.is_finite() && rate > -1.0) {
                    return bad(format!("monthly discount rate {rate} must be finite and above -100 %"));
                }
                let month = lifetimes_month(unit);
                Ok((1..=months).map(|m| (f64::from(m) * month, (1.0 + rate).powi(-(m as i32)))).collect())
            }
        }
    }

    /// Expected (undiscounted) purchases over the horizon for one customer.
    ///
    /// ```
    /// use customer_lifecycle::TimeUnit;
    /// use customer_lifecycle::clv::{BetaGeo, Clv, GammaGamma, Span};
    /// let purchases = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?.in_unit(TimeUnit::Week);
    /// let spend = GammaGamma::new(6.2488, 3.7446, 15.4477)?;
    /// let clv = Clv::new(&purchases, &spend).horizon(Span::Weeks(39));
    /// assert!((clv.expected_purchases(2.0, 30.43, 38.86)? - 1.226).abs() < 1e-3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`Clv::horizon_periods`]; as the purchase model's conditional
    /// expectation.
    pub fn expected_purchases(&self, x: f64, t_x: f64, age: f64) -> Result<f64> {
        self.purchases.conditional_expected_purchases(self.horizon_periods()?, x, t_x, age)
    }

    /// CLV of one customer with `x` repeat purchases averaging `mean_spend`:
    /// margin × E(spend) × P(alive) × Σᵢ (G(tᵢ) − G(tᵢ₋₁)) × discountᵢ,
    /// with G(t) the expected purchases in the next t periods given alive.
    ///
    /// ```
    /// use customer_lifecycle::TimeUnit;
    /// use customer_lifecycle::clv::{BetaGeo, Clv, GammaGamma};
    /// let purchases = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?.in_unit(TimeUnit::Week);
    /// let spend = GammaGamma::new(6.2488, 3.7446, 15.4477)?;
    /// let value = Clv::new(&purchases, &spend).margin(0.3).customer(2.0, 30.43, 38.86, 22.35)?;
    /// assert!(value > 0.0 && value < 100.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// Invalid settings, an unknown or disagreeing unit; as the purchase
    /// and spend models' methods.
    pub fn customer(&self, x: f64, t_x: f64, age: f64, mean_spend: f64) -> Result<f64> {
        let steps = self.steps(self.unit_with(None)?)?;
        self.value(&steps, x, t_x, age, mean_spend)
    }

    /// CLV of a new customer over the horizon from their acquisition (the
    /// value at that date, for CLV:CAC decisions): a customer with no
    /// history (x = t_x = T = 0) spending the population's mean per
    /// purchase, [`GammaGamma::mean_spend`].
    ///
    /// ```
    /// use customer_lifecycle::TimeUnit;
    /// use customer_lifecycle::clv::{BetaGeo, Clv, GammaGamma, PurchaseModel, Span};
    /// let purchases = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?.in_unit(TimeUnit::Week);
    /// let spend = GammaGamma::new(6.2488, 3.7446, 15.4477)?;
    /// let clv = Clv::new(&purchases, &spend).horizon(Span::Weeks(52)).annual_discount_rate(0.0);
    /// // Without discounting: the expected purchases of a new customer times the mean spend.
    /// let expected = purchases.expected_purchases_new_customer(52.0)? * spend.mean_spend()?;
    /// assert!((clv.new_customer()? - expected).abs() < 1e-9 * expected);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`Clv::customer`] and [`GammaGamma::mean_spend`].
    pub fn new_customer(&self) -> Result<f64> {
        self.customer(0.0, 0.0, 0.0, self.spend.mean_spend()?)
    }

    fn value(&self, steps: &[(f64, f64)], x: f64, t_x: f64, age: f64, mean_spend: f64) -> Result<f64> {
        let spend = self.spend.conditional_expected_spend(x, mean_spend)?;
        let alive = self.purchases.probability_alive(x, t_x, age)?;
        Ok(self.margin * spend * alive * self.discounted_purchases_if_alive(steps, x, age)?)
    }

    /// Σᵢ (G(tᵢ) − G(tᵢ₋₁)) × discountᵢ: a function of x and T only.
    fn discounted_purchases_if_alive(&self, steps: &[(f64, f64)], x: f64, age: f64) -> Result<f64> {
        let horizons: Vec<f64> = steps.iter().map(|s| s.0).collect();
        let mut cumulative = Vec::with_capacity(steps.len());
        self.purchases.expected_purchases_if_alive_at(&horizons, x, age, &mut cumulative)?;
        let mut previous = 0.0;
        let mut discounted = 0.0;
        for (&(_, factor), &g) in steps.iter().zip(&cumulative) {
            discounted += (g - previous) * factor;
            previous = g;
        }
        Ok(discounted)
    }

    /// How [`Clv::compute_steps`] takes each discounted sum: over every
    /// step, or — for the draws of an interval over many steps — as
    /// Σₖ G(κₖ) ωₖ over anchor knots κ (steps about 1/[`ANCHOR_RATIO`] of
    /// their horizon apart, and the last), the sum with G between the knots taken as the cubic
    /// through the four nearest (and G(0) = 0): the sum is linear in the
    /// interpolated values, so the weights ω are the same for every
    /// customer and computed once.
    fn plan<'s>(&self, steps: &'s [(f64, f64)]) -> SumPlan<'s> {
        if !(self.anchored && steps.len() > ANCHORED_FROM) {
            return SumPlan::Steps(steps);
        }
        // Knots at steps spaced in proportion to their horizon (each about
        // 1/ANCHOR_RATIO further on, at least one step): G bends on the
        // scale of the horizon itself (a power of (β + t) for Pareto/NBD,
        // of (α + T + t) for BG/NBD), so a cubic through four such knots
        // keeps its relative error alike along the whole horizon.
        let mut knots = vec![0.0];
        let mut j = 1;
        while j < steps.len() {
            knots.push(steps[j - 1].0);
            j += (j / ANCHOR_RATIO).max(1);
        }
        knots.push(steps[steps.len() - 1].0);
        let mut weights = vec![0.0; knots.len()];
        let top = knots.len() - 1;
        let mut i = 0;
        for (j, &(t, factor)) in steps.iter().enumerate() {
            // Σⱼ (gⱼ − gⱼ₋₁) δⱼ = Σⱼ gⱼ (δⱼ − δⱼ₊₁), with δ after the last 0.
            let next = steps.get(j + 1).map_or(0.0, |s| s.1);
            while i + 1 < top && knots[i + 1] < t {
                i += 1;
            }
            let start = i.saturating_sub(1).min(top - 3);
            let xs = &knots[start..start + 4];
            for q in 0..4 {
                let mut lagrange = 1.0;
                for k in 0..4 {
                    if k != q {
                        lagrange *= (t - xs[k]) / (xs[q] - xs[k]);
                    }
                }
                weights[start + q] += lagrange * (factor - next);
            }
        }
        SumPlan::Knots { horizons: knots[1..].to_vec(), weights: weights[1..].to_vec() }
    }

    /// The discounted sum of (x, T) by `plan`.
    fn discounted_by(&self, plan: &SumPlan<'_>, x: f64, age: f64) -> Result<f64> {
        match plan {
            SumPlan::Steps(steps) => self.discounted_purchases_if_alive(steps, x, age),
            SumPlan::Knots { horizons, weights } => {
                let mut at_knots = Vec::with_capacity(horizons.len());
                self.purchases.expected_purchases_if_alive_at(horizons, x, age, &mut at_knots)?;
                Ok(at_knots.iter().zip(weights).map(|(g, w)| g * w).sum())
            }
        }
    }

    /// Delta-method standard error of one customer's CLV, from the purchase
    /// model's and the spend model's covariances (the two fits are taken as
    /// independent, so their variances add).
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// # let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(
    /// #     &SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)),
    /// # )?;
    /// use customer_lifecycle::clv::{BetaGeo, Clv, GammaGamma};
    /// let (purchases, spend) = (BetaGeo::fit(&summary)?, GammaGamma::fit(&summary)?);
    /// let clv = Clv::new(&purchases, &spend);
    /// let (value, se) = (clv.customer(2.0, 30.43, 38.86, 22.35)?, clv.standard_error(2.0, 30.43, 38.86, 22.35)?);
    /// assert!(se > 0.0 && se < value);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] unless both models were fitted; as
    /// [`Clv::customer`].
    pub fn standard_error(&self, x: f64, t_x: f64, age: f64, mean_spend: f64) -> Result<f64> {
        let not_fitted =
            || Error::InvalidArgument { name: "CLV standard error", reason: "both models must be fitted".into() };
        let (purchase_params, purchase_cov) = self.purchases.estimates().ok_or_else(not_fitted)?;
        let spend_report = self.spend.report().ok_or_else(not_fitted)?;
        let via_purchases = super::fit::delta_method(purchase_params, purchase_cov, &|p: &[f64]| {
            let model = self.purchases.with_parameters(p)?;
            Clv { purchases: model.as_ref(), ..*self }.customer(x, t_x, age, mean_spend)
        })?;
        let via_spend =
            super::fit::delta_method(&spend_report.parameters, &spend_report.covariance, &|p: &[f64]| {
                let spend = GammaGamma::new(p[0], p[1], p[2])?;
                Clv { spend: &spend, ..*self }.customer(x, t_x, age, mean_spend)
            })?;
        Ok((via_purchases * via_purchases + via_spend * via_spend).sqrt())
    }

    /// CLV of every customer of a summary, in the summary's unit (which must
    /// agree with the model's): a table with the column `clv`.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// # let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(
    /// #     &SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)),
    /// # )?;
    /// use customer_lifecycle::clv::{BetaGeo, Clv, GammaGamma};
    /// let (purchases, spend) = (BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?, GammaGamma::new(6.2488, 3.7446, 15.4477)?);
    /// let values = Clv::new(&purchases, &spend).margin(0.3).compute(&summary)?; // weeks, from the summary
    /// assert_eq!(values.len(), summary.len());
    /// assert!(values.column("clv").unwrap().iter().all(|v| *v >= 0.0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`Clv::customer`]; a summary in another unit than the model's.
    pub fn compute(&self, summary: &PurchaseSummary) -> Result<CustomerTable> {
        let steps = self.steps(self.unit_with(Some(summary.periods().unit()))?)?;
        let (x, t_x, age, m) = (summary.frequency(), summary.recency(), summary.age(), summary.monetary_value());
        summary.keyed("clv", self.compute_steps(&steps, x, t_x, age, m))
    }

    /// CLV for columns of x, t_x, T and mean spend, equal to
    /// [`Clv::customer`] row by row. The discounted sum over the horizon
    /// depends on x and T alone, so it is computed once per distinct
    /// (x, T) (customers whose ages come from calendar days share it).
    ///
    /// ```
    /// use customer_lifecycle::TimeUnit;
    /// use customer_lifecycle::clv::{BetaGeo, Clv, GammaGamma};
    /// let purchases = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259)?.in_unit(TimeUnit::Week);
    /// let spend = GammaGamma::new(6.2488, 3.7446, 15.4477)?;
    /// use customer_lifecycle::ndarray::array;
    /// let clv = Clv::new(&purchases, &spend);
    /// let (x, t_x, age, m) = (array![2.0], array![30.43], array![38.86], array![22.35]);
    /// let values = clv.compute_columns(x.view(), t_x.view(), age.view(), m.view())?;
    /// assert!((values[0] - clv.customer(2.0, 30.43, 38.86, 22.35)?).abs() < 1e-9);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`Clv::customer`], and columns of different lengths.
    pub fn compute_columns(
        &self,
        frequency: ArrayView1<'_, f64>,
        recency: ArrayView1<'_, f64>,
        age: ArrayView1<'_, f64>,
        mean_spend: ArrayView1<'_, f64>,
    ) -> Result<Array1<f64>> {
        let steps = self.steps(self.unit_with(None)?)?;
        self.compute_steps(&steps, frequency, recency, age, mean_spend)
    }

    /// [`Clv::compute_columns`] for the draws of an interval: over a
    /// horizon of more than [`ANCHORED_FROM`] steps (a year of daily
    /// steps), the cumulative expectation is computed exactly at knots
    /// spaced in proportion to their horizon (26 of 365 days) and between
    /// them by cubic interpolation through the four nearest (with 0 at the
    /// start; see [`Clv::plan`]). The error is far below the interval's own
    /// sampling error (tested: below 1e-6 of the value).
    pub(crate) fn compute_columns_anchored(
        &self,
        frequency: ArrayView1<'_, f64>,
        recency: ArrayView1<'_, f64>,
        age: ArrayView1<'_, f64>,
        mean_spend: ArrayView1<'_, f64>,
    ) -> Result<Array1<f64>> {
        Clv { anchored: true, ..*self }.compute_columns(frequency, recency, age, mean_spend)
    }

    fn compute_steps(
        &self,
        steps: &[(f64, f64)],
        frequency: ArrayView1<'_, f64>,
        recency: ArrayView1<'_, f64>,
        age: ArrayView1<'_, f64>,
        mean_spend: ArrayView1<'_, f64>,
    ) -> Result<Array1<f64>> {
        let n = frequency.len();
        if recency.len() != n || age.len() != n || mean_spend.len() != n {
            return Err(Error::InvalidArgument {
                name: "CLV input",
                reason: format!("columns of lengths {n}, {}, {}, {}", recency.len(), age.len(), mean_spend.len()),
            });
        }
        // The discounted sum depends on (x, T) alone: one per distinct pair,
        // shared out between the threads. Errors keep the serial order: the
        // first failing row is reported.
        let mut slot_of: HashMap<(u64, u64), usize, WordHasher> = HashMap::with_hasher(WordHasher);
        let mut pairs: Vec<(f64, f64, usize)> = Vec::new();
        let mut slots = Vec::with_capacity(n);
        let mut out = Array1::zeros(n);
        let mut first_error: Option<(usize, Error)> = None;
        for i in 0..n {
            let (x, t_x, t) = (frequency[i], recency[i], age[i]);
            let slot = *slot_of.entry((x.to_bits(), t.to_bits())).or_insert_with(|| {
                pairs.push((x, t, i));
                pairs.len() - 1
            });
            slots.push(slot);
            let row = self
                .spend
                .conditional_expected_spend(x, mean_spend[i])
                .and_then(|spend| Ok(self.margin * spend * self.purchases.probability_alive(x, t_x, t)?));
            match row {
                Ok(v) => out[i] = v,
                Err(e) => {
                    first_error = Some((i, e));
                    break;
                }
            }
        }
        // At least 64 pairs per thread, or a thread costs more than it saves.
        let threads = self.threads.min(pairs.len() / 64);
        let plan = self.plan(steps);
        let discounted = map_in_runs(&pairs, threads, |&(x, t, _)| self.discounted_by(&plan, x, t));
        let mut values = Vec::with_capacity(discounted.len());
        for (r, &(_, _, row)) in discounted.into_iter().zip(&pairs) {
            match r {
                Ok(v) => values.push(v),
                Err(e) => {
                    if first_error.as_ref().is_none_or(|(k, _)| row < *k) {
                        first_error = Some((row, e));
                    }
                    values.push(0.0);
                }
            }
        }
        if let Some((row, e)) = first_error {
            return Err(e.at_row(row));
        }
        for (v, &slot) in out.iter_mut().zip(&slots) {
            *v *= values[slot];
        }
        Ok(out)
    }
}

/// [`Clv::compute_columns_anchored`] places its knots about 1/ANCHOR_RATIO
/// of the horizon apart (see [`Clv::plan`]).
pub(crate) const ANCHOR_RATIO: usize = 4;

/// Horizons of more steps than this are anchored (a year of weeks is not).
pub(crate) const ANCHORED_FROM: usize = 64;

/// A discounted sum's recipe (see [`Clv::plan`]).
enum SumPlan<'s> {
    /// Every step, (horizon, discount factor).
    Steps(&'s [(f64, f64)]),
    /// Knots (after 0) and each one's weight in the sum.
    Knots { horizons: Vec<f64>, weights: Vec<f64> },
}

/// Periods in one of lifetimes' months: 4.345 weeks, 30 days, 1 month.
fn lifetimes_month(unit: TimeUnit) -> f64 {
    match unit {
        TimeUnit::Week => 4.345,
        TimeUnit::Day => 30.0,
        TimeUnit::Month => 1.0,
        TimeUnit::Days(n) => 30.0 / f64::from(n.max(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clv::{BetaGeo, ParetoNbd};

    #[test]
    fn clv_is_a_number_or_a_typed_error() {
        // a = 1: the BG/NBD closed form is 0 × ∞ (CLV was Ok(NaN), then a
        // typed error); the integral gives its finite limit, between the
        // values at a = 0.99 and a = 1.01.
        let g = GammaGamma::new(6.2488, 3.7446, 15.4477).unwrap();
        let clv_at = |a: f64| {
            let p = BetaGeo::new(0.2426, 4.4136, a, 2.4259).unwrap().in_unit(TimeUnit::Week);
            Clv::new(&p, &g).customer(2.0, 30.43, 38.86, 22.35).unwrap()
        };
        let (below, at, above) = (clv_at(0.99), clv_at(1.0), clv_at(1.01));
        assert!(at.is_finite() && (above.min(below)..=above.max(below)).contains(&at), "{below} {at} {above}");
        let p = BetaGeo::new(0.2426, 4.4136, 1.0, 2.4259).unwrap().in_unit(TimeUnit::Week);
        let x = ndarray::array![2.0];
        let t_x = ndarray::array![30.43];
        let age = ndarray::array![38.86];
        let m = ndarray::array![22.35];
        let columns = Clv::new(&p, &g).compute_columns(x.view(), t_x.view(), age.view(), m.view()).unwrap();
        assert_eq!(columns[0], at);
    }

    /// The draws' anchored sums against the exact ones: within 1e-6 of
    /// the value (absolute 1e-12 below that), for day-scale BG/NBD, MBG/NBD
    /// and Pareto/NBD parameters (as fitted on a year of daily shop data)
    /// over young and old, rare and frequent customers, one- and two-year
    /// horizons, annual discounting at 0 % and 10 %.
    #[test]
    fn anchored_sums_match_the_exact_ones() {
        let g = GammaGamma::new(6.2488, 3.7446, 15.4477).unwrap();
        let bg = BetaGeo::new(1.068, 18.13, 1.076, 14.44).unwrap().in_unit(TimeUnit::Day);
        let mbg = BetaGeo::modified(2.18, 34.67, 1.012, 11.65).unwrap().in_unit(TimeUnit::Day);
        let pareto = ParetoNbd::new(0.55, 10.6, 0.61, 11.7).unwrap().in_unit(TimeUnit::Day);
        let mut rows: Vec<[f64; 4]> = Vec::new();
        for x in [0.0, 1.0, 2.0, 5.0, 20.0, 150.0] {
            for age in [0.0, 1.0, 3.0, 10.0, 45.0, 100.0, 400.0, 1095.0] {
                if x > age {
                    continue; // at most one repeat purchase a day
                }
                for share in [0.0, 0.5, 1.0] {
                    let t_x = if x == 0.0 { 0.0 } else { age * share };
                    rows.push([x, t_x, age, 40.0]);
                }
            }
        }
        let column = |j: usize| rows.iter().map(|r| r[j]).collect::<Array1<f64>>();
        let (x, t_x, age, m) = (column(0), column(1), column(2), column(3));
        let mut checked = 0;
        for model in [&bg as &dyn PurchaseModel, &mbg, &pareto] {
            for (years, rate) in [(1, 0.10), (2, 0.0), (1, 0.0)] {
                let clv = Clv::new(model, &g).horizon(Span::Years(years)).annual_discount_rate(rate);
                let exact = clv.compute_columns(x.view(), t_x.view(), age.view(), m.view()).unwrap();
                let anchored = clv.compute_columns_anchored(x.view(), t_x.view(), age.view(), m.view()).unwrap();
                for (i, (e, a)) in exact.iter().zip(&anchored).enumerate() {
                    assert!((e - a).abs() <= 1e-6 * e.abs() + 1e-12, "{} row {:?}: {e} vs {a}", model.name(), rows[i]);
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 9 * rows.len());
    }

    #[test]
    fn the_horizon_is_bounded() {
        let p = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259).unwrap().in_unit(TimeUnit::Week);
        let g = GammaGamma::new(6.2488, 3.7446, 15.4477).unwrap();
        assert!(
            Clv::new(&p, &g)
                .horizon_in_periods(f64::from(MAX_HORIZON_PERIODS) + 1.0)
                .customer(2.0, 30.43, 38.86, 22.35)
                .is_err()
        );
        assert!(Clv::new(&p, &g).horizon(Span::Days(0)).customer(2.0, 30.43, 38.86, 22.35).is_err());
        assert!(Clv::new(&p, &g).horizon(Span::Years(704)).customer(2.0, 30.43, 38.86, 22.35).is_err());
        assert!(Clv::new(&p, &g).lifetimes_compatible(9000, 0.01).customer(2.0, 30.43, 38.86, 22.35).is_err());
    }

    #[test]
    fn clv_without_discounting_is_margin_times_spend_times_purchases() {
        let p = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259).unwrap().in_unit(TimeUnit::Week);
        let g = GammaGamma::new(6.2488, 3.7446, 15.4477).unwrap();
        let clv = Clv::new(&p, &g).horizon(Span::Weeks(39)).annual_discount_rate(0.0).margin(0.5);
        let value = clv.customer(2.0, 30.43, 38.86, 22.35).unwrap();
        let expected = 0.5
            * g.conditional_expected_spend(2.0, 22.35).unwrap()
            * p.conditional_expected_purchases(39.0, 2.0, 30.43, 38.86).unwrap();
        assert!((value - expected).abs() < 1e-9, "{value} vs {expected}");
        // Discounting lowers it; a higher rate lowers it more.
        let d10 = clv.annual_discount_rate(0.10).customer(2.0, 30.43, 38.86, 22.35).unwrap();
        let d30 = clv.annual_discount_rate(0.30).customer(2.0, 30.43, 38.86, 22.35).unwrap();
        assert!(d30 < d10 && d10 < value);
    }

    /// The per-(x, T) decomposition gives the CLV of the issue's definition,
    /// margin × E[spend] × Σₖ (E[X(k)] − E[X(k−1)]) / (1+d)^(k/P), summed
    /// here from the models' conditional expectations, to 1e-12; the column
    /// function equals `customer` exactly and names a bad row.
    #[test]
    fn columns_equal_the_definition_customer_by_customer() {
        let spend = GammaGamma::new(6.2488, 3.7446, 15.4477).unwrap();
        let bgnbd = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259).unwrap().in_unit(TimeUnit::Week);
        let pareto = ParetoNbd::new(0.5533, 10.5776, 0.6062, 11.6679).unwrap().in_unit(TimeUnit::Week);
        let n = 500;
        let x: Array1<f64> = (0..n).map(|i| f64::from(i % 6)).collect();
        let age: Array1<f64> = (0..n).map(|i| 20.0 + f64::from(i % 97) * 0.25).collect();
        let t_x: Array1<f64> =
            (0..n).map(|i| if i % 6 == 0 { 0.0 } else { age[i as usize] * f64::from(i % 4) / 4.0 }).collect();
        let m: Array1<f64> = (0..n).map(|i| 10.0 + f64::from(i % 13)).collect();
        for model in [&bgnbd as &dyn PurchaseModel, &pareto] {
            let clv = Clv::new(model, &spend).horizon(Span::Weeks(12)).annual_discount_rate(0.1).margin(0.3);
            let columns = clv.compute_columns(x.view(), t_x.view(), age.view(), m.view()).unwrap();
            for i in 0..n as usize {
                let mut definition = 0.0;
                let mut previous = 0.0;
                for k in 1..=12 {
                    let k = f64::from(k);
                    let e = model.conditional_expected_purchases(k, x[i], t_x[i], age[i]).unwrap();
                    definition += (e - previous) / 1.1f64.powf(k / 52.0);
                    previous = e;
                }
                definition *= 0.3 * spend.conditional_expected_spend(x[i], m[i]).unwrap();
                assert!(
                    (columns[i] - definition).abs() < 1e-12 * definition.abs(),
                    "{}: {} vs {definition}",
                    model.name(),
                    columns[i]
                );
                assert_eq!(columns[i], clv.customer(x[i], t_x[i], age[i], m[i]).unwrap());
                let if_alive = model.expected_purchases_if_alive(12.0, x[i], age[i]).unwrap();
                let alive = model.probability_alive(x[i], t_x[i], age[i]).unwrap();
                let conditional = model.conditional_expected_purchases(12.0, x[i], t_x[i], age[i]).unwrap();
                assert!((if_alive * alive - conditional).abs() < 1e-14 * conditional.abs().max(1.0));
            }
            // Shared out between threads: the same values, bit for bit, and
            // the same first failing row.
            let threaded = clv.threads(3).compute_columns(x.view(), t_x.view(), age.view(), m.view()).unwrap();
            assert_eq!(threaded, columns);
            let mut bad = t_x.clone();
            bad[41] = -1.0;
            for threads in [1, 3] {
                let e = clv.threads(threads).compute_columns(x.view(), bad.view(), age.view(), m.view()).unwrap_err();
                assert!(matches!(e, Error::InvalidModelInput { row: 41, .. }), "{e}");
            }
            // A bad age fails both in P(alive) and in the shared sum, at
            // rows 300 and 450: the earlier row is named.
            let mut bad_age = age.clone();
            bad_age[300] = -5.0;
            bad_age[450] = -5.0;
            for threads in [1, 3] {
                let e =
                    clv.threads(threads).compute_columns(x.view(), t_x.view(), bad_age.view(), m.view()).unwrap_err();
                assert!(matches!(e, Error::InvalidModelInput { row: 300, .. }), "{e}");
            }
            let short: Array1<f64> = m.iter().take(3).copied().collect();
            assert!(clv.compute_columns(x.view(), t_x.view(), age.view(), short.view()).is_err());
        }
    }

    #[test]
    fn invalid_settings() {
        let p = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259).unwrap().in_unit(TimeUnit::Week);
        let g = GammaGamma::new(6.2488, 3.7446, 15.4477).unwrap();
        assert!(Clv::new(&p, &g).horizon_in_periods(0.0).customer(1.0, 1.0, 2.0, 3.0).is_err());
        assert!(Clv::new(&p, &g).horizon_in_periods(f64::NAN).customer(1.0, 1.0, 2.0, 3.0).is_err());
        assert!(Clv::new(&p, &g).horizon(Span::Years(u32::MAX)).customer(1.0, 1.0, 2.0, 3.0).is_err());
        assert!(Clv::new(&p, &g).lifetimes_compatible(12, f64::INFINITY).customer(1.0, 1.0, 2.0, 3.0).is_err());
        assert!(Clv::new(&p, &g).margin(-1.0).customer(1.0, 1.0, 2.0, 3.0).is_err());
        assert!(Clv::new(&p, &g).annual_discount_rate(f64::NAN).customer(1.0, 1.0, 2.0, 3.0).is_err());
        let q_below_one = GammaGamma::new(6.0, 0.9, 15.0).unwrap();
        assert!(Clv::new(&p, &q_below_one).customer(1.0, 1.0, 2.0, 3.0).is_err());
        assert_eq!(periods_per_year(TimeUnit::Days(73)), 5.0);
    }

    /// A fractional horizon has a last partial period: its value lies
    /// between the whole horizons around it and is continuous in the
    /// horizon.
    #[test]
    fn a_fractional_horizon_is_continuous() {
        let p = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259).unwrap().in_unit(TimeUnit::Week);
        let g = GammaGamma::new(6.2488, 3.7446, 15.4477).unwrap();
        let at = |h: f64| Clv::new(&p, &g).horizon_in_periods(h).customer(2.0, 30.43, 38.86, 22.35).unwrap();
        let (four, month, five) = (at(4.0), at(52.0 / 12.0), at(5.0));
        assert!(four < month && month < five, "{four} {month} {five}");
        assert!((at(4.0 + 1e-9) - four).abs() < 1e-6);
        assert_eq!(Clv::new(&p, &g).horizon(Span::Months(1)).customer(2.0, 30.43, 38.86, 22.35).unwrap(), month);
    }

    /// The same calendar horizon gives nearly the same CLV whatever the
    /// unit the data are in, once the model is in that unit (BG/NBD's rates
    /// scale with the unit: α in days is 7 α in weeks).
    #[test]
    fn a_calendar_horizon_means_the_same_in_every_unit() {
        let g = GammaGamma::new(6.2488, 3.7446, 15.4477).unwrap();
        let weeks = BetaGeo::new(0.2426, 4.4136, 0.7929, 2.4259).unwrap().in_unit(TimeUnit::Week);
        let days = BetaGeo::new(0.2426, 7.0 * 4.4136, 0.7929, 2.4259).unwrap().in_unit(TimeUnit::Day);
        let in_weeks = Clv::new(&weeks, &g).horizon(Span::Weeks(26)).customer(2.0, 30.43, 38.86, 22.35).unwrap();
        let in_days =
            Clv::new(&days, &g).horizon(Span::Weeks(26)).customer(2.0, 7.0 * 30.43, 7.0 * 38.86, 22.35).unwrap();
        // Discounting per period differs slightly (182 daily steps, 26 weekly).
        assert!((in_weeks - in_days).abs() < 2e-3 * in_weeks, "{in_weeks} vs {in_days}");
        // The default horizon is a year in the data's unit.
        assert_eq!(Clv::new(&days, &g).horizon_periods().unwrap(), 365.0);
        assert_eq!(Clv::new(&weeks, &g).horizon_periods().unwrap(), 52.0);
    }
}
