//! Pareto/NBD with time-varying covariates (Bachmann, Meierer & Näf 2021):
//! contextual covariates per customer and calendar period — a season, a
//! campaign, a price change — that move the purchase and the drop-out rate
//! while they hold.
//!
//! The model and its likelihood are described at [`ParetoNbdTimeVarying`].
//!
//! Predictions given the covariates of the horizon: P(alive) at T, the
//! expected purchases in (T, T + t] and their discounted value (see
//! [`ParetoNbdTimeVarying`]).

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};
use ndarray::Array1;

use super::covariates::{
    CovariateOptions, Effects, Kind, Parametrisation, check_design, maximise_effects, read_keyed_csv,
};
use super::fit::{FitReport, WARM_START_SAMPLE};
use super::pareto_nbd::ParetoNbd;
use crate::domain::customer::{CustomerId, IdKind};
use crate::domain::table::CustomerTable;
use crate::domain::time::{Periods, date_of_day_number, day_number};
use crate::error::{CovariateProblem, Error, Result};
use crate::log::summary::{CustomerAccumulator, SummaryOptions};
use crate::log::transactions::TransactionLog;
use crate::math::parallel;
use crate::math::quadrature::gauss_legendre_unit;
use crate::math::special::{digamma, ln_gamma, trigamma};

const MODEL: &str = "Pareto/NBD with time-varying covariates";

/// The longest covariate period, in days (a century).
pub const MAX_PERIOD_DAYS: u32 = 36_600;

fn bad(reason: String) -> Error {
    Error::InvalidArgument { name: "time-varying covariates", reason }
}

/// One customer's covariate periods: consecutive periods of the table's
/// length from `first_day`, the values row by row.
#[derive(Clone, PartialEq, Debug)]
struct Series {
    first_day: i32,
    periods: usize,
    values: Vec<f64>,
}

/// Covariates per customer and calendar period, as a long table: each row
/// a customer, the first day of a period and the values of the columns in
/// that period. Every period has the table's length in days (7 for weekly
/// covariates); a customer's periods must follow each other without gaps
/// or overlaps ([`Error::CovariatePeriods`] otherwise), and cover the
/// customer's history — from the first purchase period to the end of the
/// calibration — for a fit, and the horizon too for predictions.
///
/// ```
/// use customer_lifecycle::{CustomerId, Error, CovariateProblem};
/// use customer_lifecycle::chrono::NaiveDate;
/// use customer_lifecycle::clv::TimeVaryingCovariates;
/// let day = |m, d| NaiveDate::from_ymd_opt(2024, m, d).unwrap();
/// let ana = CustomerId::from("ana@example.com");
/// let table = TimeVaryingCovariates::builder(&["campaign", "price"], 7)?
///     .row(ana.clone(), day(1, 1), &[0.0, 1.0])?
///     .row(ana.clone(), day(1, 8), &[1.0, 0.9])?
///     .build()?;
/// assert_eq!(table.value(&ana, day(1, 10), "campaign"), Some(1.0));
/// // A week left out is a gap, named with its days.
/// let e = TimeVaryingCovariates::builder(&["campaign"], 7)?
///     .row(ana.clone(), day(1, 1), &[0.0])?
///     .row(ana.clone(), day(1, 15), &[1.0])?
///     .build()
///     .unwrap_err();
/// assert!(matches!(e, Error::CovariatePeriods { problem: CovariateProblem::Gap { .. }, .. }), "{e}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Debug)]
pub struct TimeVaryingCovariates {
    names: Vec<String>,
    period_days: u32,
    index: HashMap<CustomerId, usize>,
    series: Vec<Series>,
}

/// Builds [`TimeVaryingCovariates`] row by row, in any order.
#[derive(Clone, Debug)]
pub struct TimeVaryingCovariatesBuilder {
    names: Vec<String>,
    period_days: u32,
    rows: Vec<(CustomerId, i32, Vec<f64>)>,
}

impl TimeVaryingCovariates {
    /// A builder for covariates `names` over periods of `period_days` days.
    ///
    /// ```
    /// use customer_lifecycle::clv::TimeVaryingCovariates;
    /// assert!(TimeVaryingCovariates::builder(&["campaign"], 7).is_ok());
    /// assert!(TimeVaryingCovariates::builder(&["campaign"], 0).is_err());
    /// assert!(TimeVaryingCovariates::builder(&["a", "a"], 7).is_err()); // a name twice
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for no columns, an empty or repeated
    /// name, or periods of 0 days or more than [`MAX_PERIOD_DAYS`].
    pub fn builder(names: &[&str], period_days: u32) -> Result<TimeVaryingCovariatesBuilder> {
        if names.is_empty() || period_days == 0 || period_days > MAX_PERIOD_DAYS {
            return Err(bad(format!(
                "{} columns over periods of {period_days} days (1 to {MAX_PERIOD_DAYS} days, at least one column)",
                names.len()
            )));
        }
        for (i, n) in names.iter().enumerate() {
            if n.trim().is_empty() || names[..i].contains(n) {
                return Err(bad(format!("column name {n:?} is empty or given twice")));
            }
        }
        Ok(TimeVaryingCovariatesBuilder {
            names: names.iter().map(|n| n.to_string()).collect(),
            period_days,
            rows: Vec::new(),
        })
    }

    /// Reads a long table: header `customer_id,period_start,<column>,…`,
    /// one row per customer and period, the start as an ISO date and the
    /// values as numbers (code a categorical covariate as 0/1 columns).
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, IdKind};
    /// use customer_lifecycle::chrono::NaiveDate;
    /// use customer_lifecycle::clv::TimeVaryingCovariates;
    /// let csv = "customer_id,period_start,campaign\n7,2024-01-01,0\n7,2024-01-08,1\n";
    /// let table = TimeVaryingCovariates::from_csv_reader(csv.as_bytes(), IdKind::Number, 7)?;
    /// assert_eq!(table.value(&CustomerId::from(7), NaiveDate::from_ymd_opt(2024, 1, 9).unwrap(), "campaign"), Some(1.0));
    /// assert!(TimeVaryingCovariates::from_csv_reader("customer_id,period_start,c\n7,2024-01-01,x\n".as_bytes(), IdKind::Number, 7).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the line: a header without
    /// `customer_id,period_start` first or without columns, a row of
    /// another width, an unreadable id, date or number; and the builder's
    /// errors.
    pub fn from_csv_reader<R: std::io::Read>(
        reader: R,
        id_kind: IdKind,
        period_days: u32,
    ) -> Result<TimeVaryingCovariates> {
        let mut builder: Option<TimeVaryingCovariatesBuilder> = None;
        let mut values = Vec::new();
        read_keyed_csv(reader, id_kind, &["customer_id", "period_start"], bad, |header, line, id, record| {
            let names = &header[2..];
            let b = match builder.take() {
                Some(b) => b,
                None => {
                    TimeVaryingCovariates::builder(&names.iter().map(String::as_str).collect::<Vec<_>>(), period_days)?
                }
            };
            let start = NaiveDate::parse_from_str(record[1].trim(), "%Y-%m-%d")
                .map_err(|e| bad(format!("line {line}: period_start {:?}: {e}", &record[1])))?;
            values.clear();
            for (c, v) in record.iter().skip(2).enumerate() {
                let parsed = v.trim().parse::<f64>().ok().filter(|x| x.is_finite());
                values.push(parsed.ok_or_else(|| {
                    bad(format!("line {line}: {:?} of customer {id} is {v:?}, not a finite number", names[c]))
                })?);
            }
            builder = Some(b.row(id, start, &values)?);
            Ok(())
        })
        .and_then(|header| match builder {
            Some(b) => b.build(),
            // No rows: the table of the header's columns, empty.
            None => TimeVaryingCovariates::builder(
                &header[2..].iter().map(String::as_str).collect::<Vec<_>>(),
                period_days,
            )?
            .build(),
        })
    }

    /// The column names.
    ///
    /// ```
    /// use customer_lifecycle::clv::TimeVaryingCovariates;
    /// assert_eq!(TimeVaryingCovariates::builder(&["campaign"], 7)?.build()?.names(), ["campaign"]);
    /// # Ok::<(), customer_lifecycle::Error>(())
    /// ```
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The periods' length in days.
    ///
    /// ```
    /// use customer_lifecycle::clv::TimeVaryingCovariates;
    /// assert_eq!(TimeVaryingCovariates::builder(&["campaign"], 7)?.build()?.period_days(), 7);
    /// # Ok::<(), customer_lifecycle::Error>(())
    /// ```
    pub fn period_days(&self) -> u32 {
        self.period_days
    }

    /// Customers with covariates.
    ///
    /// ```
    /// use customer_lifecycle::clv::TimeVaryingCovariates;
    /// assert_eq!(TimeVaryingCovariates::builder(&["campaign"], 7)?.build()?.len(), 0);
    /// # Ok::<(), customer_lifecycle::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// True without customers.
    ///
    /// ```
    /// use customer_lifecycle::clv::TimeVaryingCovariates;
    /// assert!(TimeVaryingCovariates::builder(&["campaign"], 7)?.build()?.is_empty());
    /// # Ok::<(), customer_lifecycle::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// The value of column `name` for `customer` on `date`, when a period
    /// covers that date.
    ///
    /// ```
    /// use customer_lifecycle::CustomerId;
    /// use customer_lifecycle::chrono::NaiveDate;
    /// use customer_lifecycle::clv::TimeVaryingCovariates;
    /// let day = |d| NaiveDate::from_ymd_opt(2024, 1, d).unwrap();
    /// let table = TimeVaryingCovariates::builder(&["campaign"], 7)?.row(CustomerId::from(1), day(1), &[1.0])?.build()?;
    /// assert_eq!(table.value(&CustomerId::from(1), day(7), "campaign"), Some(1.0));
    /// assert_eq!(table.value(&CustomerId::from(1), day(8), "campaign"), None); // after the last period
    /// # Ok::<(), customer_lifecycle::Error>(())
    /// ```
    pub fn value(&self, customer: &CustomerId, date: NaiveDate, name: &str) -> Option<f64> {
        let column = self.names.iter().position(|n| n == name)?;
        let series = &self.series[*self.index.get(customer)?];
        let offset = day_number(date) - series.first_day;
        if offset < 0 {
            return None;
        }
        let period = (offset / self.period_days as i32) as usize;
        (period < series.periods).then(|| series.values[period * self.names.len() + column])
    }

    /// The customer's periods (and their index), checked to cover the days
    /// from `origin` to `end` inclusive.
    fn covering(&self, id: &CustomerId, origin: i32, end: i32) -> Result<(usize, &Series)> {
        let index = *self
            .index
            .get(id)
            .ok_or_else(|| Error::CovariatePeriods { customer: id.to_string(), problem: CovariateProblem::Missing })?;
        let series = &self.series[index];
        let given_to = series.first_day + series.periods as i32 * self.period_days as i32;
        if series.first_day > origin || given_to <= end {
            return Err(Error::CovariatePeriods {
                customer: id.to_string(),
                problem: CovariateProblem::History {
                    needed_from: date_of_day_number(origin),
                    needed_to: date_of_day_number(end + 1),
                    given_from: date_of_day_number(series.first_day),
                    given_to: date_of_day_number(given_to),
                },
            });
        }
        Ok((index, series))
    }

    /// The positions of `names` among the columns.
    fn columns(&self, names: &[String]) -> Result<Vec<usize>> {
        names
            .iter()
            .map(|n| self.names.iter().position(|m| m == n).ok_or_else(|| bad(format!("no time-varying column {n:?}"))))
            .collect()
    }
}

impl TimeVaryingCovariatesBuilder {
    /// Adds the values of one customer's period starting `start`.
    ///
    /// ```
    /// use customer_lifecycle::CustomerId;
    /// use customer_lifecycle::chrono::NaiveDate;
    /// use customer_lifecycle::clv::TimeVaryingCovariates;
    /// let b = TimeVaryingCovariates::builder(&["campaign"], 7)?;
    /// let day = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    /// assert!(b.clone().row(CustomerId::from(1), day, &[f64::NAN]).is_err()); // never NaN
    /// assert!(b.clone().row(CustomerId::from(1), day, &[1.0, 2.0]).is_err()); // one column
    /// assert!(b.row(CustomerId::from(1), day, &[1.0]).is_ok());
    /// # Ok::<(), customer_lifecycle::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for another number of values than
    /// columns, or a value that is not finite (naming the customer).
    pub fn row(
        mut self,
        customer: CustomerId,
        start: NaiveDate,
        values: &[f64],
    ) -> Result<TimeVaryingCovariatesBuilder> {
        if values.len() != self.names.len() {
            return Err(bad(format!(
                "customer {customer}, period {start}: {} values for {} columns",
                values.len(),
                self.names.len()
            )));
        }
        if let Some((c, v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(bad(format!("customer {customer}, period {start}: {:?} is {v}", self.names[c])));
        }
        self.rows.push((customer, day_number(start), values.to_vec()));
        Ok(self)
    }

    /// The table, each customer's periods in order.
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, Error, CovariateProblem};
    /// use customer_lifecycle::chrono::NaiveDate;
    /// use customer_lifecycle::clv::TimeVaryingCovariates;
    /// let day = |d| NaiveDate::from_ymd_opt(2024, 1, d).unwrap();
    /// let e = TimeVaryingCovariates::builder(&["campaign"], 7)?
    ///     .row(CustomerId::from(1), day(1), &[0.0])?
    ///     .row(CustomerId::from(1), day(5), &[1.0])? // starts before the first ends
    ///     .build()
    ///     .unwrap_err();
    /// assert!(matches!(e, Error::CovariatePeriods { problem: CovariateProblem::Overlap { .. }, .. }));
    /// # Ok::<(), customer_lifecycle::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::CovariatePeriods`] naming the customer and the days, for a
    /// gap between two periods or a period that overlaps the one before.
    pub fn build(self) -> Result<TimeVaryingCovariates> {
        let TimeVaryingCovariatesBuilder { names, period_days, mut rows } = self;
        rows.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        let length = period_days as i32;
        let k = names.len();
        let mut index = HashMap::new();
        let mut series: Vec<Series> = Vec::new();
        let mut start = 0;
        while start < rows.len() {
            let customer = &rows[start].0;
            let end = start + rows[start..].iter().take_while(|r| &r.0 == customer).count();
            let first_day = rows[start].1;
            let mut values = Vec::with_capacity((end - start) * k);
            for (j, row) in rows[start..end].iter().enumerate() {
                let expected = first_day + j as i32 * length;
                let problem = if row.1 < expected {
                    Some(CovariateProblem::Overlap { start: date_of_day_number(row.1) })
                } else if row.1 > expected {
                    Some(CovariateProblem::Gap { from: date_of_day_number(expected), to: date_of_day_number(row.1) })
                } else {
                    None
                };
                if let Some(problem) = problem {
                    return Err(Error::CovariatePeriods { customer: customer.to_string(), problem });
                }
                values.extend_from_slice(&row.2);
            }
            index.insert(customer.clone(), series.len());
            series.push(Series { first_day, periods: end - start, values });
            start = end;
        }
        Ok(TimeVaryingCovariates { names, period_days, index, series })
    }
}

/// One customer's history as the time-varying model sees it.
#[derive(Clone, PartialEq, Debug)]
struct Customer {
    id: CustomerId,
    x: f64,
    t_x: f64,
    age: f64,
    /// Day number of the start of the first purchase period (u = 0).
    origin: i32,
    /// The calibration's end day (u = T), as a day number.
    end: i32,
    /// The days of the repeat purchases (their periods' first days).
    purchases: Vec<i32>,
    series: usize,
}

/// The customers of a transaction log with their time-varying covariates,
/// checked and aligned once for fits and predictions: the purchase history
/// (as [`TransactionLog::summarize`] counts it, with the purchase days)
/// and the covariate periods of each customer.
///
/// Time runs in the summary's unit from the start of each customer's first
/// purchase period; a covariate period of 7 days in a summary in weeks is
/// one unit long. The unit needs a fixed length in days (days, weeks, or
/// N days; not calendar months).
///
/// ```
/// use customer_lifecycle::{CustomerId, Money, SummaryOptions, TimeUnit, Transaction, TransactionLog, Currency};
/// use customer_lifecycle::chrono::{Duration, NaiveDate, TimeZone, Utc};
/// use customer_lifecycle::clv::{TimeVaryingCovariates, TimeVaryingHistory};
/// let mut log = TransactionLog::new(Currency::EUR);
/// let at = |d| Utc.with_ymd_and_hms(2024, 1, d, 12, 0, 0).unwrap();
/// log.push(Transaction::order(CustomerId::from(1), at(2), Money::parse("10", Currency::EUR)?))?;
/// log.push(Transaction::order(CustomerId::from(1), at(20), Money::parse("12", Currency::EUR)?))?;
/// let options = SummaryOptions::new(TimeUnit::Week).observation_end(NaiveDate::from_ymd_opt(2024, 1, 31).unwrap());
/// let mut weeks = TimeVaryingCovariates::builder(&["campaign"], 7)?;
/// for w in 0..5 {
///     weeks = weeks.row(CustomerId::from(1), NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + Duration::weeks(w), &[(w % 2) as f64])?;
/// }
/// let history = TimeVaryingHistory::new(&log, &options, &weeks.build()?)?;
/// assert_eq!(history.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Debug)]
pub struct TimeVaryingHistory {
    customers: Vec<Customer>,
    covariates: TimeVaryingCovariates,
    /// Days per unit of the summary.
    unit_days: f64,
}

impl TimeVaryingHistory {
    /// The customers of `log` summarised with `options` (which need an
    /// observation end), with their periods of `covariates`.
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, Error, CovariateProblem, SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::chrono::NaiveDate;
    /// use customer_lifecycle::clv::{TimeVaryingCovariates, TimeVaryingHistory};
    /// let log = TransactionLog::cdnow_sample()?;
    /// let options = SummaryOptions::new(TimeUnit::Week).observation_end(NaiveDate::from_ymd_opt(1998, 6, 30).unwrap());
    /// let empty = TimeVaryingCovariates::builder(&["season"], 7)?.build()?;
    /// let e = TimeVaryingHistory::new(&log, &options, &empty).unwrap_err();
    /// assert!(matches!(e, Error::CovariatePeriods { problem: CovariateProblem::Missing, .. }), "{e}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`SummaryOptions::rules`] and the summary's row checks;
    /// [`Error::InvalidArgument`] for a unit without a fixed length;
    /// [`Error::CovariatePeriods`] naming the first customer without
    /// covariates or whose periods do not cover the history.
    pub fn new(
        log: &TransactionLog,
        options: &SummaryOptions,
        covariates: &TimeVaryingCovariates,
    ) -> Result<TimeVaryingHistory> {
        let rules = options.rules()?;
        let periods: Periods = *rules.periods();
        let unit_days = f64::from(periods.unit().days().ok_or_else(|| Error::InvalidArgument {
            name: "time unit",
            reason: format!("{MODEL} needs a unit of fixed length (days or weeks), not {}", periods.unit().name()),
        })?);
        let mut accumulators: HashMap<CustomerId, CustomerAccumulator> = HashMap::new();
        for t in log.iter() {
            let acc = accumulators.entry(t.customer().clone()).or_default();
            rules.add(acc, t.customer(), t.at(), t.kind(), t.amount().amount())?;
        }
        let mut accumulators: Vec<(CustomerId, CustomerAccumulator)> = accumulators.into_iter().collect();
        accumulators.sort_by(|a, b| a.0.cmp(&b.0));
        let day_of_period = |p: i32| day_number(periods.period_start(p));
        let mut customers = Vec::with_capacity(accumulators.len());
        for (id, acc) in &accumulators {
            let Some(row) = rules.summary(acc)? else { continue };
            let purchase_periods = acc.calibration().purchase_periods();
            let Some(&first) = purchase_periods.first() else { continue };
            let origin = day_of_period(first);
            let end = origin + (row.age * unit_days).round() as i32;
            let (series_index, _) = covariates.covering(id, origin, end)?;
            customers.push(Customer {
                id: id.clone(),
                x: f64::from(row.frequency),
                t_x: row.recency,
                age: row.age,
                origin,
                end,
                purchases: purchase_periods[1..].iter().map(|&p| day_of_period(p)).collect(),
                series: series_index,
            });
        }
        if customers.is_empty() {
            return Err(Error::Empty { what: "customers with purchases in the calibration window" });
        }
        Ok(TimeVaryingHistory { customers, covariates: covariates.clone(), unit_days })
    }

    /// Customers (those with calibration purchases), in id order.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// use customer_lifecycle::clv::{TimeVaryingCovariates, TimeVaryingHistory};
    /// # let log = TransactionLog::cdnow_sample()?;
    /// # let options = SummaryOptions::new(TimeUnit::Week).observation_end(NaiveDate::from_ymd_opt(1998, 6, 30).unwrap());
    /// let everyone = TimeVaryingCovariates::constant_weeks(&log, &options, "season", 0.0, 80)?;
    /// let history = TimeVaryingHistory::new(&log, &options, &everyone)?;
    /// assert_eq!(history.len(), log.summarize(&options)?.len());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        self.customers.len()
    }

    /// True without customers (never: [`TimeVaryingHistory::new`] refuses
    /// a log without calibration purchases).
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// use customer_lifecycle::clv::{TimeVaryingCovariates, TimeVaryingHistory};
    /// # let log = TransactionLog::cdnow_sample()?;
    /// # let options = SummaryOptions::new(TimeUnit::Week).observation_end(NaiveDate::from_ymd_opt(1998, 6, 30).unwrap());
    /// let everyone = TimeVaryingCovariates::constant_weeks(&log, &options, "season", 0.0, 80)?;
    /// assert!(!TimeVaryingHistory::new(&log, &options, &everyone)?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.customers.is_empty()
    }

    /// The customers' ids, in the order of every table the model returns.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// use customer_lifecycle::clv::{TimeVaryingCovariates, TimeVaryingHistory};
    /// # let log = TransactionLog::cdnow_sample()?;
    /// # let options = SummaryOptions::new(TimeUnit::Week).observation_end(NaiveDate::from_ymd_opt(1998, 6, 30).unwrap());
    /// let everyone = TimeVaryingCovariates::constant_weeks(&log, &options, "season", 0.0, 80)?;
    /// let history = TimeVaryingHistory::new(&log, &options, &everyone)?;
    /// assert_eq!(history.ids(), log.summarize(&options)?.ids());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ids(&self) -> Vec<CustomerId> {
        self.customers.iter().map(|c| c.id.clone()).collect()
    }

    /// The customers' pieces for `purchase` and `dropout` columns, to the
    /// end of the calibration and `horizon` units beyond it (an error when
    /// the periods do not reach so far).
    fn paths(&self, purchase: &[String], dropout: &[String], horizon: f64) -> Result<Paths> {
        let (pc, dc) = (self.covariates.columns(purchase)?, self.covariates.columns(dropout)?);
        let k = self.covariates.names.len();
        let length = self.covariates.period_days as i32;
        let mut paths = Paths {
            kp: pc.len(),
            kd: dc.len(),
            customers: Vec::with_capacity(self.customers.len()),
            pieces: Vec::new(),
            zp: Vec::new(),
            zd: Vec::new(),
            timing: Vec::new(),
        };
        let horizon_days = (horizon * self.unit_days).ceil() as i64;
        for c in &self.customers {
            let series = &self.covariates.series[c.series];
            let given_to = series.first_day + series.periods as i32 * length;
            let reach = i64::from(c.end).saturating_add(horizon_days);
            if horizon > 0.0 && i64::from(given_to) < reach {
                return Err(Error::CovariatePeriods {
                    customer: c.id.to_string(),
                    problem: CovariateProblem::Horizon {
                        needed_to: date_of_day_number(reach.clamp(i32::MIN as i64, i32::MAX as i64) as i32),
                        given_to: date_of_day_number(given_to),
                    },
                });
            }
            let first_piece = paths.pieces.len();
            let row = |period: usize, columns: &[usize], out: &mut Vec<f64>| {
                out.extend(columns.iter().map(|&j| series.values[period * k + j]));
            };
            // Pieces: the covariate periods cut at 0, T and T + horizon.
            let mut period = ((c.origin - series.first_day) / length) as usize;
            let period_end =
                |p: usize| f64::from(series.first_day + (p as i32 + 1) * length - c.origin) / self.unit_days;
            let mut start = 0.0;
            let mut fit_pieces = 0;
            for (stage, stage_end) in [c.age, c.age + horizon].into_iter().enumerate() {
                while start < stage_end {
                    if period >= series.periods {
                        return Err(Error::CovariatePeriods {
                            customer: c.id.to_string(),
                            problem: CovariateProblem::Horizon {
                                needed_to: date_of_day_number(reach.clamp(i32::MIN as i64, i32::MAX as i64) as i32),
                                given_to: date_of_day_number(given_to),
                            },
                        });
                    }
                    let end = period_end(period).min(stage_end);
                    paths.pieces.push(Piece { start, length: end - start });
                    row(period, &pc, &mut paths.zp);
                    row(period, &dc, &mut paths.zd);
                    fit_pieces += usize::from(stage == 0);
                    if end >= period_end(period) {
                        period += 1;
                    }
                    start = end;
                }
            }
            for &day in &c.purchases {
                let p = ((day - series.first_day) / length) as usize;
                row(p, &pc, &mut paths.timing);
            }
            // The purchase sums: fold the rows just pushed into one.
            let x = c.purchases.len();
            let kp = paths.kp;
            let at = paths.timing.len() - x * kp;
            let mut sum = vec![0.0; kp];
            for j in 0..x {
                for (s, v) in sum.iter_mut().zip(&paths.timing[at + j * kp..at + (j + 1) * kp]) {
                    *s += v;
                }
            }
            paths.timing.truncate(at);
            paths.timing.extend(sum);
            paths.customers.push(PathInfo {
                x: c.x,
                t_x: c.t_x,
                age: c.age,
                first: first_piece,
                fit: fit_pieces,
                all: paths.pieces.len() - first_piece,
            });
        }
        Ok(paths)
    }
}

impl TimeVaryingCovariates {
    /// One column of the same `value` for every customer of `log` (as
    /// summarised with `options`, which need an observation end) in
    /// `weeks` weekly periods from the Monday on or before the log's first
    /// day — a start for covariates that are filled in per period, and
    /// the shape of a contextual covariate shared by everyone.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// use customer_lifecycle::clv::TimeVaryingCovariates;
    /// let log = TransactionLog::cdnow_sample()?;
    /// let options = SummaryOptions::new(TimeUnit::Week).observation_end(NaiveDate::from_ymd_opt(1998, 6, 30).unwrap());
    /// let table = TimeVaryingCovariates::constant_weeks(&log, &options, "season", 1.0, 80)?;
    /// assert_eq!(table.len(), log.summarize(&options)?.len());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`TransactionLog::summarize`]; [`Error::InvalidArgument`] for a
    /// value that is not finite or 0 weeks.
    pub fn constant_weeks(
        log: &TransactionLog,
        options: &SummaryOptions,
        name: &str,
        value: f64,
        weeks: usize,
    ) -> Result<TimeVaryingCovariates> {
        if !value.is_finite() || weeks == 0 {
            return Err(bad(format!("{weeks} weeks of {value}")));
        }
        let summary = log.summarize(options)?;
        let first = log.time_span().map(|(a, _)| summary.periods().date_of(a)).ok_or(Error::Empty { what: "log" })?;
        let monday = day_number(first) - first.weekday().num_days_from_monday() as i32;
        let series = Series { first_day: monday, periods: weeks, values: vec![value; weeks] };
        let index = summary.ids().iter().enumerate().map(|(i, id)| (id.clone(), i)).collect();
        Ok(TimeVaryingCovariates {
            names: vec![name.to_string()],
            period_days: 7,
            index,
            series: vec![series; summary.len()],
        })
    }
}

/// A stretch of constant covariates in a customer's time.
#[derive(Clone, Copy, PartialEq, Debug)]
struct Piece {
    start: f64,
    length: f64,
}

#[derive(Clone, Copy, PartialEq, Debug)]
struct PathInfo {
    x: f64,
    t_x: f64,
    age: f64,
    /// The customer's first piece.
    first: usize,
    /// Pieces up to T.
    fit: usize,
    /// Pieces up to T + the horizon.
    all: usize,
}

/// The customers' pieces and covariate rows, flat.
#[derive(Clone, PartialEq, Debug)]
struct Paths {
    kp: usize,
    kd: usize,
    customers: Vec<PathInfo>,
    pieces: Vec<Piece>,
    /// Purchase covariates, piece by piece.
    zp: Vec<f64>,
    /// Drop-out covariates, piece by piece.
    zd: Vec<f64>,
    /// Per customer, Σ z_P over the repeat purchases.
    timing: Vec<f64>,
}

/// Nodes for a piece on which the integrand's factors grow by e = the
/// larger relative growth of α + A and β + C, and its logarithm changes by
/// at most `change`: 10⁻¹² relative (measured against 40-digit quadrature
/// over the ranges; see the module tests). `None`: halve the piece.
fn nodes_for(e: f64, change: f64) -> Option<usize> {
    let row: [usize; 4] = if e <= 0.1 {
        [4, 5, 6, 7]
    } else if e <= 0.3 {
        [5, 6, 7, 8]
    } else if e <= 1.0 {
        [8, 8, 9, 10]
    } else {
        return None;
    };
    if change <= 0.1 || (e <= 0.3 && change <= 0.25) {
        Some(row[0])
    } else if change <= 0.5 {
        Some(row[1])
    } else if change <= 1.0 {
        Some(row[2])
    } else if change <= 2.0 {
        Some(row[3])
    } else {
        None
    }
}

/// What [`Paths::total`] computes: the value, or with its gradient and Hessian.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Want {
    Value,
    Hessian,
}

/// Index of (i, j) in the upper triangle of a symmetric 6 × 6, row-major.
const fn sym(i: usize, j: usize) -> usize {
    let (i, j) = if i <= j { (i, j) } else { (j, i) };
    i * 6 - i * (i + 1) / 2 + j
}

/// A piece's sums over its nodes: Σw, Σw φᵢ, Σw (φᵢφⱼ + ηᵢⱼ) (upper
/// triangle) and Σw ζ for the two second-derivative matrices.
#[derive(Clone, Copy, Debug, Default)]
struct NodeSums {
    w: f64,
    g: [f64; 6],
    m: [f64; 21],
    za: f64,
    zc: f64,
    hessian: bool,
}

/// The second derivatives of a node's ψ in the six vectors (the nonzero
/// ηᵢⱼ of i ≤ j) and the weights of ∂²A/∂γ_P² and ∂²C/∂γ_D².
#[derive(Clone, Copy, Debug, Default)]
struct Eta {
    e01: f64,
    e04: f64,
    e11: f64,
    e14: f64,
    e44: f64,
    e22: f64,
    e23: f64,
    e25: f64,
    e33: f64,
    e35: f64,
    e55: f64,
    za: f64,
    zc: f64,
}

impl NodeSums {
    fn add(&mut self, w: f64, phi: &[f64; 6], eta: Option<&Eta>) {
        self.w += w;
        let wp = [w * phi[0], w * phi[1], w * phi[2], w * phi[3], w * phi[4], w * phi[5]];
        for (g, v) in self.g.iter_mut().zip(&wp) {
            *g += v;
        }
        if let Some(e) = eta {
            self.hessian = true;
            let mut at = 0;
            for (i, wi) in wp.iter().enumerate() {
                for pj in &phi[i..] {
                    self.m[at] += wi * pj;
                    at += 1;
                }
            }
            self.m[sym(0, 1)] += w * e.e01;
            self.m[sym(0, 4)] += w * e.e04;
            self.m[sym(1, 1)] += w * e.e11;
            self.m[sym(1, 4)] += w * e.e14;
            self.m[sym(4, 4)] += w * e.e44;
            self.m[sym(2, 2)] += w * e.e22;
            self.m[sym(2, 3)] += w * e.e23;
            self.m[sym(2, 5)] += w * e.e25;
            self.m[sym(3, 3)] += w * e.e33;
            self.m[sym(3, 5)] += w * e.e35;
            self.m[sym(5, 5)] += w * e.e55;
            self.za += w * e.za;
            self.zc += w * e.zc;
        }
    }
}

/// One customer's running derivatives (∂A/∂γ_P, ∂C/∂γ_D and their second
/// derivatives at the current piece; Σ w ∇ψ and Σ w (∇ψ∇ψᵀ + ∇²ψ)), and
/// the totals over the customers evaluated so far.
struct Derivatives {
    kp: usize,
    kd: usize,
    want_hessian: bool,
    da: Vec<f64>,
    dc: Vec<f64>,
    da2: Vec<f64>,
    dc2: Vec<f64>,
    gradient: Vec<f64>,
    hessian: Vec<f64>,
    total_gradient: Vec<f64>,
    total_hessian: Vec<f64>,
}

impl Derivatives {
    fn new(kp: usize, kd: usize, want_hessian: bool) -> Derivatives {
        let k = 4 + kp + kd;
        let hk = if want_hessian { k * k } else { 0 };
        Derivatives {
            kp,
            kd,
            want_hessian,
            da: vec![0.0; kp],
            dc: vec![0.0; kd],
            da2: vec![0.0; kp * kp],
            dc2: vec![0.0; kd * kd],
            gradient: vec![0.0; k],
            hessian: vec![0.0; hk],
            total_gradient: vec![0.0; k],
            total_hessian: vec![0.0; hk],
        }
    }

    /// A new customer.
    fn start(&mut self, kp: usize, kd: usize) {
        debug_assert!(kp == self.kp && kd == self.kd);
        for v in [&mut self.da, &mut self.dc, &mut self.da2, &mut self.dc2, &mut self.gradient, &mut self.hessian] {
            v.iter_mut().for_each(|x| *x = 0.0);
        }
    }

    /// Past a piece: A grew by `da_step` = a·d with covariates `zp`, C by `dc_step`.
    fn advance(&mut self, da_step: f64, zp: &[f64], dc_step: f64, zd: &[f64]) {
        let (kp, kd) = (self.kp, self.kd);
        for (d, z) in self.da.iter_mut().zip(zp) {
            *d += da_step * z;
        }
        for (d, z) in self.dc.iter_mut().zip(zd) {
            *d += dc_step * z;
        }
        if self.want_hessian {
            for u in 0..kp {
                for v in 0..kp {
                    self.da2[u * kp + v] += da_step * zp[u] * zp[v];
                }
            }
            for u in 0..kd {
                for v in 0..kd {
                    self.dc2[u * kd + v] += dc_step * zd[u] * zd[v];
                }
            }
        }
    }

    /// Adds a piece's sums, expanded on its vectors b₀…b₅ = e_r, e_α + ∂A,
    /// e_s, e_β + ∂C, z_P, z_D (empty z: the alive term, whose φ₄ = φ₅ = 0):
    /// ∇ += Σᵢ Gᵢ bᵢ, ∇² += Σᵢⱼ Mᵢⱼ bᵢ bⱼᵀ + ζ_A ∂²A + ζ_C ∂²C, the upper
    /// triangle only (mirrored at [`Derivatives::finish`]).
    fn expand(&mut self, sums: &NodeSums, zp: &[f64], zd: &[f64]) {
        let (kp, kd) = (self.kp, self.kd);
        let k = 4 + kp + kd;
        let (pa, da) = (4, 4 + kp);
        let g = &sums.g;
        let zp_of = |l: usize| zp.get(l).copied().unwrap_or(0.0);
        let zd_of = |l: usize| zd.get(l).copied().unwrap_or(0.0);
        for (t, v) in self.gradient.iter_mut().zip(&g[..4]) {
            *t += v;
        }
        for l in 0..kp {
            self.gradient[pa + l] += g[1] * self.da[l] + g[4] * zp_of(l);
        }
        for l in 0..kd {
            self.gradient[da + l] += g[3] * self.dc[l] + g[5] * zd_of(l);
        }
        if !(self.want_hessian && sums.hessian) {
            return;
        }
        let m = |i: usize, j: usize| sums.m[sym(i, j)];
        let h = &mut self.hessian;
        for i in 0..4 {
            for j in i..4 {
                h[i * k + j] += m(i, j);
            }
            // With the purchase and the drop-out blocks.
            let (m1, m4, m3, m5) = (m(i, 1), m(i, 4), m(i, 3), m(i, 5));
            for l in 0..kp {
                h[i * k + pa + l] += m1 * self.da[l] + m4 * zp_of(l);
            }
            for l in 0..kd {
                h[i * k + da + l] += m3 * self.dc[l] + m5 * zd_of(l);
            }
        }
        let (m11, m14, m44) = (m(1, 1), m(1, 4), m(4, 4));
        let (m13, m15, m34, m45) = (m(1, 3), m(1, 5), m(3, 4), m(4, 5));
        let (m33, m35, m55) = (m(3, 3), m(3, 5), m(5, 5));
        for u in 0..kp {
            let (au, zu) = (self.da[u], zp_of(u));
            let row = (pa + u) * k;
            for v in u..kp {
                let (av, zv) = (self.da[v], zp_of(v));
                h[row + pa + v] +=
                    m11 * au * av + m14 * (au * zv + zu * av) + m44 * zu * zv + sums.za * self.da2[u * kp + v];
            }
            for v in 0..kd {
                let (cv, wv) = (self.dc[v], zd_of(v));
                h[row + da + v] += m13 * au * cv + m15 * au * wv + m34 * zu * cv + m45 * zu * wv;
            }
        }
        for u in 0..kd {
            let (cu, wu) = (self.dc[u], zd_of(u));
            let row = (da + u) * k;
            for v in u..kd {
                let (cv, wv) = (self.dc[v], zd_of(v));
                h[row + da + v] +=
                    m33 * cu * cv + m35 * (cu * wv + wu * cv) + m55 * wu * wv + sums.zc * self.dc2[u * kd + v];
            }
        }
    }

    /// The customer's ∇ ln L and ∇² ln L from the sums (S = `total`, in
    /// the reference's scale) and the closed-form terms; added to the totals.
    fn finish(&mut self, total: f64, [r, alpha, s, beta, x]: [f64; 5], timing: &[f64]) {
        let k = 4 + self.kp + self.kd;
        let inv = 1.0 / total;
        // ∇ ln S = G/S; ∇² ln S = H/S − G Gᵀ/S².
        let g: Vec<f64> = self.gradient.iter().map(|v| v * inv).collect();
        let mut own = g.clone();
        own[0] += digamma(r + x) - digamma(r) + alpha.ln();
        own[1] += r / alpha;
        own[2] += beta.ln();
        own[3] += s / beta;
        for (o, t) in own[4..4 + self.kp].iter_mut().zip(timing) {
            *o += t;
        }
        for (t, o) in self.total_gradient.iter_mut().zip(&own) {
            *t += o;
        }
        if self.want_hessian {
            for u in 0..k {
                for v in u..k {
                    let value = self.hessian[u * k + v] * inv - g[u] * g[v];
                    self.total_hessian[u * k + v] += value;
                    if v != u {
                        self.total_hessian[v * k + u] += value;
                    }
                }
            }
            self.total_hessian[0] += trigamma(r + x) - trigamma(r);
            self.total_hessian[1] += 1.0 / alpha;
            self.total_hessian[k] += 1.0 / alpha;
            self.total_hessian[k + 1] -= r / (alpha * alpha);
            self.total_hessian[2 * k + 3] += 1.0 / beta;
            self.total_hessian[3 * k + 2] += 1.0 / beta;
            self.total_hessian[3 * k + 3] -= s / (beta * beta);
        }
    }
}

/// One customer's evaluation: ln L, P(alive) and (when asked) ∂ ln L.
struct Evaluation {
    ln_l: f64,
    p_alive: f64,
    /// (α + A(T), β + C(T)) and C(T): the state at T for predictions.
    at_end: (f64, f64),
}

impl Paths {
    /// Evaluates customer `i` at p = (r, α, s, β, γ_P, γ_D); with
    /// `derivatives`, adds the gradient of ln L to its `gradient` and (when
    /// it holds one) the Hessian to its `hessian` (row-major).
    ///
    /// ln L = γ_P·Σz_P(tⱼ) + ln Γ(r+x) − ln Γ(r) + r ln α + s ln β + ln S,
    /// S = Σₜ e^{ψₜ} over the alive term and the integral's nodes. Every
    /// ∇ψₜ is a combination Σᵢ φᵢ bᵢ of six vectors fixed on a piece —
    /// e_r, e_α + ∂A/∂γ_P, e_s, e_β + ∂C/∂γ_D, z_P, z_D — and every ∇²ψₜ
    /// one of their outer products plus the pieces' ∂²A/∂γ_P², ∂²C/∂γ_D²;
    /// so a piece sums scalars over its nodes and expands them into the
    /// parameters once.
    fn evaluate(&self, i: usize, p: &[f64], mut derivatives: Option<&mut Derivatives>) -> Evaluation {
        let (kp, kd) = (self.kp, self.kd);
        let (r, alpha, s, beta) = (p[0], p[1], p[2], p[3]);
        let (gp, gd) = (&p[4..4 + kp], &p[4 + kp..4 + kp + kd]);
        let info = self.customers[i];
        let (x, t_x) = (info.x, info.t_x);
        let m = r + x;
        let n1 = s + 1.0;
        let want_hessian = derivatives.as_ref().is_some_and(|d| d.want_hessian);
        if let Some(d) = derivatives.as_deref_mut() {
            d.start(kp, kd);
        }
        let (mut a_cum, mut c_cum) = (0.0f64, 0.0f64);
        // The reference ψ_ref = −m ln P(t_x) − s ln Q(t_x), set on reaching t_x.
        let mut reference: Option<(f64, f64, f64)> = None; // (ln P_x, ln Q_x, Q_x)
        let mut w_sum = 0.0;
        let nan = Evaluation { ln_l: f64::NAN, p_alive: f64::NAN, at_end: (f64::NAN, f64::NAN) };
        let pieces = &self.pieces[info.first..info.first + info.fit];
        for (k, piece) in pieces.iter().enumerate() {
            let row = info.first + k;
            let zp = &self.zp[row * kp..(row + 1) * kp];
            let zd = &self.zd[row * kd..(row + 1) * kd];
            let a = if kp == 0 { 1.0 } else { gp.iter().zip(zp).map(|(g, z)| g * z).sum::<f64>().exp() };
            let c = if kd == 0 { 1.0 } else { gd.iter().zip(zd).map(|(g, z)| g * z).sum::<f64>().exp() };
            let (u0, u1) = (piece.start, piece.start + piece.length);
            if reference.is_none() && t_x < u1 {
                let px = alpha + a_cum + a * (t_x - u0);
                let qx = beta + c_cum + c * (t_x - u0);
                reference = Some((px.ln(), qx.ln(), qx));
            }
            if let Some((ln_px, ln_qx, qx)) = reference {
                let lo = u0.max(t_x);
                let mut sums = NodeSums::default();
                let mut v = lo;
                let scale = s * c / qx;
                let mut guard = 0;
                while v < u1 {
                    let p0 = alpha + a_cum + a * (v - u0);
                    let q0 = beta + c_cum + c * (v - u0);
                    let mut h = u1 - v;
                    let nodes = loop {
                        let (e1, e2) = (a * h / p0, c * h / q0);
                        if !(e1.is_finite() && e2.is_finite()) {
                            return nan;
                        }
                        if let Some(n) = nodes_for(e1.max(e2), m * e1 + n1 * e2) {
                            break n;
                        }
                        h *= 0.5;
                    };
                    for &(u, w) in gauss_legendre_unit(nodes) {
                        let offset = v - u0 + h * u;
                        let pp = p0 + a * h * u;
                        let qq = q0 + c * h * u;
                        let (ln_p, ln_q) = (pp.ln(), qq.ln());
                        let weight = w * h * scale * (-m * (ln_p - ln_px) - n1 * (ln_q - ln_qx)).exp();
                        if derivatives.is_none() {
                            sums.w += weight;
                        } else {
                            let (ip, iq) = (1.0 / pp, 1.0 / qq);
                            let (ao, co) = (a * offset, c * offset);
                            let phi = [-ln_p, -m * ip, 1.0 / s - ln_q, -n1 * iq, -m * ao * ip, 1.0 - n1 * co * iq];
                            let eta = want_hessian.then(|| Eta {
                                e01: -ip,
                                e04: -ao * ip,
                                e11: m * ip * ip,
                                e14: m * ao * ip * ip,
                                e44: m * ao * ao * ip * ip - m * ao * ip,
                                e22: -1.0 / (s * s),
                                e23: -iq,
                                e25: -co * iq,
                                e33: n1 * iq * iq,
                                e35: n1 * co * iq * iq,
                                e55: n1 * co * co * iq * iq - n1 * co * iq,
                                za: -m * ip,
                                zc: -n1 * iq,
                            });
                            sums.add(weight, &phi, eta.as_ref());
                        }
                    }
                    v += h;
                    guard += 1;
                    if guard > 100_000 {
                        return nan;
                    }
                }
                w_sum += sums.w;
                if let Some(d) = derivatives.as_deref_mut() {
                    d.expand(&sums, zp, zd);
                }
            }
            a_cum += a * piece.length;
            c_cum += c * piece.length;
            if let Some(d) = derivatives.as_deref_mut() {
                d.advance(a * piece.length, zp, c * piece.length, zd);
            }
        }
        let (pt, qt) = (alpha + a_cum, beta + c_cum);
        let (ln_pt, ln_qt) = (pt.ln(), qt.ln());
        let (ln_px, ln_qx, _) = reference.unwrap_or((ln_pt, ln_qt, qt));
        let w_alive = (-m * (ln_pt - ln_px) - s * (ln_qt - ln_qx)).exp();
        let total = w_sum + w_alive;
        let timing = &self.timing[i * kp..(i + 1) * kp];
        let linear: f64 = gp.iter().zip(timing).map(|(g, z)| g * z).sum();
        let ln_l = linear + ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln() + s * beta.ln() - m * ln_px - s * ln_qx
            + total.ln();
        if let Some(d) = derivatives {
            // The alive term: a node at T with its own φ and η.
            let mut sums = NodeSums::default();
            let (ip, iq) = (1.0 / pt, 1.0 / qt);
            let phi = [-ln_pt, -m * ip, -ln_qt, -s * iq, 0.0, 0.0];
            let eta = Eta {
                e01: -ip,
                e11: m * ip * ip,
                e23: -iq,
                e33: s * iq * iq,
                za: -m * ip,
                zc: -s * iq,
                ..Eta::default()
            };
            sums.add(w_alive, &phi, want_hessian.then_some(&eta));
            d.expand(&sums, &[], &[]);
            d.finish(total, [r, alpha, s, beta, x], timing);
        }
        Evaluation { ln_l, p_alive: w_alive / total, at_end: (pt, qt) }
    }

    /// Σ ln L over everyone, with its gradient and Hessian when asked, on
    /// every core (contiguous runs summed in order: the same result on any
    /// number of threads).
    fn total(&self, p: &[f64], want: Want) -> (f64, Vec<f64>, Vec<f64>) {
        let k = p.len();
        let n = self.customers.len();
        let runs = (parallel::cores() * 4).clamp(1, n.div_ceil(256).max(1));
        let bounds: Vec<(usize, usize)> = (0..runs).map(|j| (j * n / runs, (j + 1) * n / runs)).collect();
        let parts = parallel::map_in_runs(&bounds, parallel::cores(), |&(lo, hi)| {
            let mut d = Derivatives::new(self.kp, self.kd, want == Want::Hessian);
            let mut sum = 0.0;
            for i in lo..hi {
                let e = self.evaluate(i, p, (want != Want::Value).then_some(&mut d));
                sum += e.ln_l;
            }
            (sum, d.total_gradient, d.total_hessian)
        });
        let mut value = 0.0;
        let mut gradient = vec![0.0; if want == Want::Value { 0 } else { k }];
        let mut hessian = vec![0.0; if want == Want::Hessian { k * k } else { 0 }];
        for (v, g, h) in parts {
            value += v;
            for (a, b) in gradient.iter_mut().zip(&g) {
                *a += b;
            }
            for (a, b) in hessian.iter_mut().zip(&h) {
                *a += b;
            }
        }
        (value, gradient, hessian)
    }

    /// Every customer's second process factor for predictions: the
    /// expected purchases in (T, T + t] given alive, per unit of λ, and
    /// their value discounted continuously at `rate` per unit:
    /// ∫ a(u) e^{−rate (u − T)} ((β + C(T)) / (β + C(u)))^s du over the
    /// pieces beyond T.
    fn future(&self, i: usize, p: &[f64], horizon: f64, rate: f64, q_end: f64) -> f64 {
        let (kp, kd) = (self.kp, self.kd);
        let s = p[2];
        let (gp, gd) = (&p[4..4 + kp], &p[4 + kp..4 + kp + kd]);
        let info = self.customers[i];
        let mut q0 = q_end;
        let mut total = 0.0;
        for row in info.first + info.fit..info.first + info.all {
            let piece = self.pieces[row];
            if piece.start >= info.age + horizon {
                break;
            }
            let length = piece.length.min(info.age + horizon - piece.start);
            let zp = &self.zp[row * kp..(row + 1) * kp];
            let zd = &self.zd[row * kd..(row + 1) * kd];
            let a = if kp == 0 { 1.0 } else { gp.iter().zip(zp).map(|(g, z)| g * z).sum::<f64>().exp() };
            let c = if kd == 0 { 1.0 } else { gd.iter().zip(zd).map(|(g, z)| g * z).sum::<f64>().exp() };
            let delay = piece.start - info.age;
            if rate == 0.0 {
                // ∫₀ᵈ (Q_T/(q0 + c v))^s dv in closed form.
                let l = (c * length / q0).ln_1p();
                let y = (1.0 - s) * l;
                let ratio = if y.abs() < 1e-8 { 1.0 + 0.5 * y } else { y.exp_m1() / y };
                total += a * (q0 / c) * (q_end / q0).powf(s) * l * ratio;
            } else {
                let mut v = 0.0;
                while v < length {
                    let qv = q0 + c * v;
                    let mut h = length - v;
                    let nodes = loop {
                        let e = c * h / qv;
                        if let Some(n) = nodes_for(e, s * e + rate * h) {
                            break n;
                        }
                        h *= 0.5;
                    };
                    for &(u, w) in gauss_legendre_unit(nodes) {
                        let at = v + h * u;
                        total += a * w * h * (-rate * (delay + at)).exp() * (q_end / (q0 + c * at)).powf(s);
                    }
                    v += h;
                }
            }
            q0 += c * length;
        }
        total
    }
}

/// Pareto/NBD with time-varying covariates in the purchase and drop-out
/// processes: r, α, s, β and the effects γ_P, γ_D, each effect per unit
/// of its covariate while the covariate holds.
///
/// # The model
///
/// A customer observed on [0, T] (in the summary's unit, from the start of
/// their first purchase period) buys at rate λ·a(u) while alive and drops
/// out at rate μ·c(u), with
///
/// * a(u) = exp(γ_P · z_P(u)) and c(u) = exp(γ_D · z_D(u)), constant on each
///   covariate period (a piecewise-constant rate);
/// * λ ~ Gamma(r, α) and μ ~ Gamma(s, β) across customers, as in the
///   Pareto/NBD.
///
/// A positive purchase effect raises the purchase rate while the covariate
/// holds, a positive drop-out effect raises the drop-out rate — the signs of
/// [`ParetoNbdCovariates`](super::ParetoNbdCovariates), whose model this is
/// when the covariates do not change over time (the tests check that to
/// rounding). With A(u) = ∫₀ᵘ a, C(u) = ∫₀ᵘ c and the repeat purchases at
/// t₁ … t_x (the last at t_x), integrating λ and μ out of the density of
/// the purchase times gives the likelihood
///
/// L = e^{γ_P · Σⱼ z_P(tⱼ)} Γ(r+x)/Γ(r) α^r β^s
///     [ (α + A(T))^−(r+x) (β + C(T))^−s
///       + s ∫_{t_x}^T c(u) (α + A(u))^−(r+x) (β + C(u))^−(s+1) du ].
///
/// The integral runs over the covariate periods between t_x and T; on each
/// the integrand is smooth, and Gauss–Legendre rules of 4 to 10 nodes,
/// chosen from how much the integrand changes over the piece (a piece that
/// changes too much is halved), give it to 10⁻¹² relative. The gradient and
/// the Hessian are exact (the derivatives of the integrand under the
/// integral, on the same nodes, in the same pass); the fit is maximum
/// likelihood over all customers on every core.
///
///
/// Predictions use each customer's covariates over the horizon, which the
/// [`TimeVaryingCovariates`] must hold (future campaigns, seasons, planned
/// prices): P(alive) at the end of the calibration, the conditional
/// expected purchases in (T, T + t]
/// (r + x)/(α + A(T)) · P(alive) · ∫_T^{T+t} a(u) ((β + C(T))/(β + C(u)))^s du,
/// and the same discounted continuously (the discounted expected
/// transactions over the horizon the covariates cover; with covariates to
/// a long horizon and a discount rate, the DERT).
///
/// ```
/// use customer_lifecycle::clv::{ParetoNbd, ParetoNbdTimeVarying};
/// let model = ParetoNbdTimeVarying::new(&ParetoNbd::new(0.55, 10.6, 0.61, 11.7)?, vec![("campaign".into(), 0.4)], vec![])?;
/// assert_eq!(model.purchase_effects(), [("campaign".to_string(), 0.4)]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Debug)]
pub struct ParetoNbdTimeVarying {
    base: ParetoNbd,
    purchase: Effects,
    dropout: Effects,
    report: Option<FitReport>,
}

impl ParetoNbdTimeVarying {
    /// A model with given parameters: the base Pareto/NBD (a customer whose
    /// covariates are 0 throughout) and the named effects.
    ///
    /// ```
    /// use customer_lifecycle::clv::{ParetoNbd, ParetoNbdTimeVarying};
    /// let base = ParetoNbd::new(0.55, 10.6, 0.61, 11.7)?;
    /// assert!(ParetoNbdTimeVarying::new(&base, vec![("campaign".into(), f64::NAN)], vec![]).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an effect that is not finite or a
    /// column named twice in one process.
    pub fn new(base: &ParetoNbd, purchase: Effects, dropout: Effects) -> Result<ParetoNbdTimeVarying> {
        for effects in [&purchase, &dropout] {
            for (i, (name, value)) in effects.iter().enumerate() {
                if !value.is_finite() || effects[..i].iter().any(|(n, _)| n == name) {
                    return Err(Error::InvalidArgument {
                        name: "covariate effects",
                        reason: format!("{name:?} = {value}: not finite, or named twice"),
                    });
                }
            }
        }
        Ok(ParetoNbdTimeVarying { base: base.clone(), purchase, dropout, report: None })
    }

    /// Fits the model by maximum likelihood to `history`, with the columns,
    /// penalties, constraints and optimiser options of `options` (as
    /// [`ParetoNbdCovariates::fit`](super::ParetoNbdCovariates::fit)). The
    /// fit starts from the Pareto/NBD without covariates; on more than
    /// 80,000 customers, from the time-varying fit to an evenly spaced
    /// sample of 20,000 of them.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// use customer_lifecycle::clv::{CovariateOptions, ParetoNbd, ParetoNbdTimeVarying, TimeVaryingCovariates, TimeVaryingHistory};
    /// let log = TransactionLog::cdnow_sample()?;
    /// let options = SummaryOptions::new(TimeUnit::Week).observation_end(NaiveDate::from_ymd_opt(1998, 6, 30).unwrap());
    /// // A covariate that never moves cannot be told from α: refused.
    /// let flat = TimeVaryingCovariates::constant_weeks(&log, &options, "season", 1.0, 80)?;
    /// let history = TimeVaryingHistory::new(&log, &options, &flat)?;
    /// assert!(ParetoNbdTimeVarying::fit(&history, &CovariateOptions::new().purchase(&["season"])).is_err());
    /// // Without covariates, the fit is the Pareto/NBD's.
    /// let plain = ParetoNbdTimeVarying::fit(&history, &CovariateOptions::new())?;
    /// let reference = ParetoNbd::fit(&log.summarize(&options)?)?;
    /// let (a, b) = (plain.base().parameters(), reference.parameters());
    /// for (x, y) in [(a.0, b.0), (a.1, b.1), (a.2, b.2), (a.3, b.3)] {
    ///     assert!((x - y).abs() < 1e-6 * y, "{a:?} {b:?}");
    /// }
    /// let (la, lb) = (plain.report().unwrap().log_likelihood, reference.report().unwrap().log_likelihood);
    /// assert!((la - lb).abs() < 1e-9 * lb.abs(), "{la} {lb}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a column the table does not have or
    /// an inconsistent option; [`Error::NotIdentifiable`] for a covariate
    /// constant over all customers and periods, collinear covariates, or
    /// data that cannot identify the model; [`Error::FitFailed`] when the
    /// optimiser does not converge.
    pub fn fit(history: &TimeVaryingHistory, options: &CovariateOptions) -> Result<ParetoNbdTimeVarying> {
        let paths = history.paths(&options.purchase, &options.dropout, 0.0)?;
        check_design(MODEL, "purchase", &options.purchase, &paths.zp, paths.pieces.len())?;
        check_design(MODEL, "drop-out", &options.dropout, &paths.zd, paths.pieces.len())?;
        let n = paths.customers.len();
        if n < 2 || paths.customers.iter().all(|c| c.x == 0.0) {
            return Err(Error::NotIdentifiable {
                model: MODEL,
                reason: "it needs at least two customers and someone with a repeat purchase".into(),
            });
        }
        let map = Parametrisation::new(Kind::Pareto, options)?;
        let column = |f: fn(&PathInfo) -> f64| paths.customers.iter().map(f).collect::<Array1<f64>>();
        let (x, t_x, age) = (column(|c| c.x), column(|c| c.t_x), column(|c| c.age));
        let mut start: Option<Vec<f64>> = None;
        if !options.fit.has_initial() && n > 4 * WARM_START_SAMPLE {
            let stride = n / WARM_START_SAMPLE;
            let sample = paths.sample(stride);
            start = fit_paths(&sample, &map, options, None, [x.view(), t_x.view(), age.view()], stride)
                .ok()
                .map(|r| r.parameters);
        }
        let report = fit_paths(&paths, &map, options, start, [x.view(), t_x.view(), age.view()], 1)?;
        let p = map.expand(&report.parameters);
        let (kp, kd) = (paths.kp, paths.kd);
        let named = |names: &[String], values: &[f64]| names.iter().cloned().zip(values.iter().copied()).collect();
        let base = ParetoNbd::new(p[0], p[1], p[2], p[3])?;
        Ok(ParetoNbdTimeVarying {
            base,
            purchase: named(&options.purchase, &p[4..4 + kp]),
            dropout: named(&options.dropout, &p[4 + kp..4 + kp + kd]),
            report: Some(report),
        })
    }

    /// The base model (a customer whose covariates are 0 throughout).
    ///
    /// ```
    /// use customer_lifecycle::clv::{ParetoNbd, ParetoNbdTimeVarying};
    /// let base = ParetoNbd::new(0.55, 10.6, 0.61, 11.7)?;
    /// assert_eq!(ParetoNbdTimeVarying::new(&base, vec![], vec![])?.base().parameters(), base.parameters());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn base(&self) -> &ParetoNbd {
        &self.base
    }

    /// The purchase effects γ_P, by column.
    ///
    /// ```
    /// use customer_lifecycle::clv::{ParetoNbd, ParetoNbdTimeVarying};
    /// let m = ParetoNbdTimeVarying::new(&ParetoNbd::new(0.55, 10.6, 0.61, 11.7)?, vec![("campaign".into(), 0.4)], vec![])?;
    /// assert_eq!(m.purchase_effects().len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn purchase_effects(&self) -> &[(String, f64)] {
        &self.purchase
    }

    /// The drop-out effects γ_D, by column.
    ///
    /// ```
    /// use customer_lifecycle::clv::{ParetoNbd, ParetoNbdTimeVarying};
    /// let m = ParetoNbdTimeVarying::new(&ParetoNbd::new(0.55, 10.6, 0.61, 11.7)?, vec![], vec![("price".into(), 0.2)])?;
    /// assert_eq!(m.dropout_effects(), [("price".to_string(), 0.2)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dropout_effects(&self) -> &[(String, f64)] {
        &self.dropout
    }

    /// The fit report (r, α, s, β, then the estimated effects, with
    /// standard errors and covariance), when the model was fitted.
    ///
    /// ```
    /// use customer_lifecycle::clv::{ParetoNbd, ParetoNbdTimeVarying};
    /// assert!(ParetoNbdTimeVarying::new(&ParetoNbd::new(0.55, 10.6, 0.61, 11.7)?, vec![], vec![])?.report().is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn report(&self) -> Option<&FitReport> {
        self.report.as_ref()
    }

    fn point(&self) -> Vec<f64> {
        let (r, alpha, s, beta) = self.base.parameters();
        let mut p = vec![r, alpha, s, beta];
        p.extend(self.purchase.iter().map(|(_, v)| v));
        p.extend(self.dropout.iter().map(|(_, v)| v));
        p
    }

    fn paths(&self, history: &TimeVaryingHistory, horizon: f64) -> Result<Paths> {
        let names = |e: &Effects| e.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        history.paths(&names(&self.purchase), &names(&self.dropout), horizon)
    }

    /// The total log-likelihood of the history's customers.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// use customer_lifecycle::clv::{ParetoNbd, ParetoNbdTimeVarying, TimeVaryingCovariates, TimeVaryingHistory};
    /// let log = TransactionLog::cdnow_sample()?;
    /// let options = SummaryOptions::new(TimeUnit::Week).observation_end(NaiveDate::from_ymd_opt(1998, 6, 30).unwrap());
    /// let zero = TimeVaryingCovariates::constant_weeks(&log, &options, "season", 0.0, 80)?;
    /// let history = TimeVaryingHistory::new(&log, &options, &zero)?;
    /// let base = ParetoNbd::new(0.55, 10.6, 0.61, 11.7)?;
    /// // An effect of a covariate that is 0 throughout changes nothing.
    /// let model = ParetoNbdTimeVarying::new(&base, vec![("season".into(), 2.0)], vec![])?;
    /// let summary = log.summarize(&options)?;
    /// let (x, t_x, t) = (summary.frequency(), summary.recency(), summary.age());
    /// let plain = (0..summary.len()).map(|i| base.log_likelihood(x[i], t_x[i], t[i])).sum::<customer_lifecycle::Result<f64>>()?;
    /// assert!((model.log_likelihood(&history)? - plain).abs() < 1e-9 * plain.abs());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an effect's column the table does not
    /// have; [`Error::NonFinite`] where the likelihood is not finite.
    pub fn log_likelihood(&self, history: &TimeVaryingHistory) -> Result<f64> {
        let paths = self.paths(history, 0.0)?;
        let (value, _, _) = paths.total(&self.point(), Want::Value);
        if value.is_finite() { Ok(value) } else { Err(Error::NonFinite { field: "log-likelihood", value }) }
    }

    /// P(alive) at the end of the calibration of every customer of the
    /// history.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// use customer_lifecycle::clv::{ParetoNbd, ParetoNbdTimeVarying, TimeVaryingCovariates, TimeVaryingHistory};
    /// let log = TransactionLog::cdnow_sample()?;
    /// let options = SummaryOptions::new(TimeUnit::Week).observation_end(NaiveDate::from_ymd_opt(1998, 6, 30).unwrap());
    /// let zero = TimeVaryingCovariates::constant_weeks(&log, &options, "season", 0.0, 80)?;
    /// let history = TimeVaryingHistory::new(&log, &options, &zero)?;
    /// let base = ParetoNbd::new(0.55, 10.6, 0.61, 11.7)?;
    /// let alive = ParetoNbdTimeVarying::new(&base, vec![], vec![("season".into(), 1.0)])?.probability_alive_all(&history)?;
    /// let plain = base.probability_alive_all(&log.summarize(&options)?)?;
    /// assert!((alive.column("p_alive").unwrap()[3] - plain.column("p_alive").unwrap()[3]).abs() < 1e-12);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`ParetoNbdTimeVarying::log_likelihood`].
    pub fn probability_alive_all(&self, history: &TimeVaryingHistory) -> Result<CustomerTable> {
        let paths = self.paths(history, 0.0)?;
        let p = self.point();
        let values = self.per_customer(&paths, history, "P(alive)", |i| paths.evaluate(i, &p, None).p_alive)?;
        CustomerTable::new(history.ids()).with_column("p_alive", values)
    }

    /// Expected purchases of every customer of the history in the `t`
    /// units after the calibration, given the covariates over that horizon.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// use customer_lifecycle::clv::{ParetoNbd, ParetoNbdTimeVarying, TimeVaryingCovariates, TimeVaryingHistory};
    /// let log = TransactionLog::cdnow_sample()?;
    /// let options = SummaryOptions::new(TimeUnit::Week).observation_end(NaiveDate::from_ymd_opt(1998, 6, 30).unwrap());
    /// let zero = TimeVaryingCovariates::constant_weeks(&log, &options, "season", 0.0, 130)?;
    /// let history = TimeVaryingHistory::new(&log, &options, &zero)?;
    /// let base = ParetoNbd::new(0.55, 10.6, 0.61, 11.7)?;
    /// let model = ParetoNbdTimeVarying::new(&base, vec![("season".into(), 0.3)], vec![])?;
    /// let expected = model.conditional_expected_purchases_all(39.0, &history)?;
    /// let plain = base.conditional_expected_purchases_all(39.0, &log.summarize(&options)?)?;
    /// let (a, b) = (expected.column("expected_purchases").unwrap()[5], plain.column("expected_purchases").unwrap()[5]);
    /// assert!((a - b).abs() < 1e-10 * b, "{a} {b}");
    /// // Beyond the covariates' last period: refused, naming the customer.
    /// assert!(model.conditional_expected_purchases_all(104.0, &history).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`ParetoNbdTimeVarying::log_likelihood`]; [`Error::InvalidArgument`]
    /// for a horizon that is negative or not finite;
    /// [`Error::CovariatePeriods`] naming a customer whose periods end
    /// before the horizon.
    pub fn conditional_expected_purchases_all(&self, t: f64, history: &TimeVaryingHistory) -> Result<CustomerTable> {
        self.expected(t, 0.0, history, "expected_purchases")
    }

    /// The expected purchases of [`conditional_expected_purchases_all`]
    /// discounted continuously at `rate` per unit (e^{−rate·(u − T)} for a
    /// purchase at u): the discounted expected transactions over the horizon,
    /// the DERT of a long one.
    ///
    /// [`conditional_expected_purchases_all`]: ParetoNbdTimeVarying::conditional_expected_purchases_all
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// use customer_lifecycle::clv::{ParetoNbd, ParetoNbdTimeVarying, TimeVaryingCovariates, TimeVaryingHistory};
    /// let log = TransactionLog::cdnow_sample()?;
    /// let options = SummaryOptions::new(TimeUnit::Week).observation_end(NaiveDate::from_ymd_opt(1998, 6, 30).unwrap());
    /// let zero = TimeVaryingCovariates::constant_weeks(&log, &options, "season", 0.0, 130)?;
    /// let history = TimeVaryingHistory::new(&log, &options, &zero)?;
    /// let model = ParetoNbdTimeVarying::new(&ParetoNbd::new(0.55, 10.6, 0.61, 11.7)?, vec![], vec![])?;
    /// let plain = model.conditional_expected_purchases_all(39.0, &history)?;
    /// let discounted = model.discounted_expected_purchases_all(0.002, 39.0, &history)?;
    /// assert!(discounted.column("discounted_purchases").unwrap()[5] < plain.column("expected_purchases").unwrap()[5]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`ParetoNbdTimeVarying::conditional_expected_purchases_all`], and
    /// for a rate that is negative or not finite.
    pub fn discounted_expected_purchases_all(
        &self,
        rate: f64,
        t: f64,
        history: &TimeVaryingHistory,
    ) -> Result<CustomerTable> {
        if !(rate.is_finite() && rate >= 0.0) {
            return Err(Error::InvalidArgument {
                name: "discount rate",
                reason: format!("{rate} is not a finite rate ≥ 0"),
            });
        }
        self.expected(t, rate, history, "discounted_purchases")
    }

    fn expected(&self, t: f64, rate: f64, history: &TimeVaryingHistory, column: &str) -> Result<CustomerTable> {
        if !(t.is_finite() && t >= 0.0) {
            return Err(Error::InvalidArgument { name: "horizon", reason: format!("{t} is not a finite time ≥ 0") });
        }
        let paths = self.paths(history, t)?;
        let p = self.point();
        let r = p[0];
        let values = self.per_customer(&paths, history, "expected purchases", |i| {
            let e = paths.evaluate(i, &p, None);
            let (pt, qt) = e.at_end;
            let x = paths.customers[i].x;
            e.p_alive * (r + x) / pt * paths.future(i, &p, t, rate, qt)
        })?;
        CustomerTable::new(history.ids()).with_column(column, values)
    }

    /// `f` of every customer, refusing a value that is not finite (naming
    /// the customer).
    fn per_customer(
        &self,
        paths: &Paths,
        history: &TimeVaryingHistory,
        what: &str,
        f: impl Fn(usize) -> f64 + Sync,
    ) -> Result<Array1<f64>> {
        let n = paths.customers.len();
        let runs = (parallel::cores() * 4).clamp(1, n.max(1));
        let bounds: Vec<(usize, usize)> = (0..runs).map(|j| (j * n / runs, (j + 1) * n / runs)).collect();
        let parts =
            parallel::map_in_runs(&bounds, parallel::cores(), |&(lo, hi)| (lo..hi).map(&f).collect::<Vec<f64>>());
        let values: Array1<f64> = parts.into_iter().flatten().collect();
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::InvalidModelInput {
                model: MODEL,
                row: i,
                customer: Some(history.customers[i].id.to_string()),
                reason: format!("the {what} are not finite at these parameters"),
            });
        }
        Ok(values)
    }
}

impl ParetoNbdTimeVarying {
    /// Simulates a transaction log from the model: each customer of
    /// `acquisitions` makes a first purchase of `order` on their date, then
    /// buys at rate λ·a(u) until they drop out at rate μ·c(u) (λ, μ drawn
    /// from the model's gamma distributions, a and c from their covariates
    /// period by period), up to the observation end of `options`, whose
    /// unit the model's rates are in. Repeat purchases fall on the day
    /// they happen (two on one day count once, as in any log). Seeded: the
    /// same seed gives the same log.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Money, SummaryOptions, TimeUnit};
    /// use customer_lifecycle::chrono::NaiveDate;
    /// use customer_lifecycle::clv::{ParetoNbd, ParetoNbdTimeVarying, TimeVaryingCovariates, TimeVaryingHistory};
    /// let day = |m, d| NaiveDate::from_ymd_opt(2024, m, d).unwrap();
    /// let options = SummaryOptions::new(TimeUnit::Week).observation_end(day(12, 29));
    /// let mut table = TimeVaryingCovariates::builder(&["campaign"], 7)?;
    /// let mut acquisitions = Vec::new();
    /// for c in 0..200i64 {
    ///     let id = CustomerId::from(c);
    ///     for w in 0..52 {
    ///         table = table.row(id.clone(), day(1, 1) + chrono::Duration::weeks(w), &[(w % 4 == 0) as u8 as f64])?;
    ///     }
    ///     acquisitions.push((id, day(1, 1) + chrono::Duration::days((c % 90) as i64)));
    /// }
    /// let table = table.build()?;
    /// let model = ParetoNbdTimeVarying::new(&ParetoNbd::new(0.8, 6.0, 0.5, 20.0)?, vec![("campaign".into(), 1.0)], vec![])?;
    /// let log = model.simulate(&acquisitions, &table, &options, Money::parse("20", Currency::EUR)?, 7)?;
    /// assert_eq!(TimeVaryingHistory::new(&log, &options, &table)?.len(), 200);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for options without an observation end or
    /// a unit without a fixed length, an effect's column the table does
    /// not have, an acquisition after the observation end, or rates that
    /// overflow (more than a million expected purchases in a period);
    /// [`Error::CovariatePeriods`] for a customer without periods to the
    /// observation end.
    pub fn simulate(
        &self,
        acquisitions: &[(CustomerId, NaiveDate)],
        covariates: &TimeVaryingCovariates,
        options: &SummaryOptions,
        order: crate::domain::money::Money,
        seed: u64,
    ) -> Result<TransactionLog> {
        use rand_distr::{Distribution, Exp1, Gamma};
        let periods = options.periods()?;
        let end = options.observation_end_date().ok_or_else(|| Error::InvalidArgument {
            name: "summary options",
            reason: "a simulation needs the observation end".into(),
        })?;
        let unit_days = f64::from(periods.unit().days().ok_or_else(|| Error::InvalidArgument {
            name: "time unit",
            reason: format!("{MODEL} needs a unit of fixed length, not {}", periods.unit().name()),
        })?);
        let names = |e: &Effects| e.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        let (pc, dc) = (covariates.columns(&names(&self.purchase))?, covariates.columns(&names(&self.dropout))?);
        let (r, alpha, s, beta) = self.base.parameters();
        let rate = Gamma::new(r, 1.0 / alpha).map_err(|e| super::simulate::distribution_error("rate", e))?;
        let death = Gamma::new(s, 1.0 / beta).map_err(|e| super::simulate::distribution_error("drop-out rate", e))?;
        let mut g = super::simulate::rng(seed);
        let mut log = TransactionLog::new(order.currency());
        let k = covariates.names.len();
        let length = covariates.period_days as i32;
        let end_day = day_number(end);
        for (id, acquired) in acquisitions {
            let first = day_number(*acquired);
            if first > end_day {
                return Err(Error::InvalidArgument {
                    name: "acquisitions",
                    reason: format!("customer {id} is acquired on {acquired}, after the observation end {end}"),
                });
            }
            let origin = day_number(periods.period_start(periods.period_of_date(*acquired)));
            let (_, series) = covariates.covering(id, origin, end_day)?;
            let at = |day: i32| periods.start_of_day(date_of_day_number(day)) + chrono::Duration::hours(12);
            log.push(crate::log::transactions::Transaction::order(id.clone(), at(first), order))?;
            let lambda: f64 = rate.sample(&mut g);
            let mu: f64 = death.sample(&mut g);
            let effect = |effects: &Effects, columns: &[usize], period: usize| -> f64 {
                effects.iter().zip(columns).map(|((_, e), &c)| e * series.values[period * k + c]).sum::<f64>().exp()
            };
            // Walk the periods: the drop-out hazard and the purchase arrivals
            // in their cumulative scales.
            let mut death_left: f64 = Exp1.sample(&mut g);
            let mut next_purchase: f64 = Exp1.sample(&mut g);
            let horizon = f64::from(end_day - origin) / unit_days;
            let mut period = ((origin - series.first_day) / length) as usize;
            let mut u = 0.0;
            'walk: while u < horizon && period < series.periods {
                let period_end = f64::from(series.first_day + (period as i32 + 1) * length - origin) / unit_days;
                let mut piece_end = period_end.min(horizon);
                let a = lambda * effect(&self.purchase, &pc, period);
                let c = mu * effect(&self.dropout, &dc, period);
                // A rate no log can hold (or none at all) is refused, not looped on.
                if !(a.is_finite() && c.is_finite() && a * (piece_end - u) <= 1e6) {
                    return Err(Error::InvalidArgument {
                        name: "simulation",
                        reason: format!(
                            "customer {id}: purchase rate {a} and drop-out rate {c} per unit in the period from {}",
                            date_of_day_number(series.first_day + period as i32 * length)
                        ),
                    });
                }
                let mut alive = true;
                if c * (piece_end - u) >= death_left {
                    piece_end = u + death_left / c;
                    alive = false;
                } else {
                    death_left -= c * (piece_end - u);
                }
                while a * (piece_end - u) >= next_purchase {
                    u += next_purchase / a;
                    next_purchase = Exp1.sample(&mut g);
                    let day = origin + (u * unit_days).floor() as i32;
                    if day > first && day <= end_day {
                        log.push(crate::log::transactions::Transaction::order(id.clone(), at(day), order))?;
                    }
                }
                next_purchase -= a * (piece_end - u);
                u = piece_end;
                if !alive {
                    break 'walk;
                }
                period += 1;
            }
        }
        Ok(log)
    }
}

impl Paths {
    /// Every `stride`-th customer.
    fn sample(&self, stride: usize) -> Paths {
        let mut out = Paths {
            kp: self.kp,
            kd: self.kd,
            customers: Vec::new(),
            pieces: Vec::new(),
            zp: Vec::new(),
            zd: Vec::new(),
            timing: Vec::new(),
        };
        for i in (0..self.customers.len()).step_by(stride.max(1)) {
            let info = self.customers[i];
            let first = out.pieces.len();
            let range = info.first..info.first + info.all;
            out.pieces.extend_from_slice(&self.pieces[range.clone()]);
            out.zp.extend_from_slice(&self.zp[range.start * self.kp..range.end * self.kp]);
            out.zd.extend_from_slice(&self.zd[range.start * self.kd..range.end * self.kd]);
            out.timing.extend_from_slice(&self.timing[i * self.kp..(i + 1) * self.kp]);
            out.customers.push(PathInfo { first, ..info });
        }
        out
    }
}

/// The fit to `paths` from `start` (or from the Pareto/NBD fit without
/// covariates to the columns, every `stride`-th customer's, effects 0).
fn fit_paths(
    paths: &Paths,
    map: &Parametrisation,
    options: &CovariateOptions,
    start: Option<Vec<f64>>,
    columns: [ndarray::ArrayView1<'_, f64>; 3],
    stride: usize,
) -> Result<FitReport> {
    let pass = |p: &[f64]| paths.total(p, Want::Hessian);
    let start = match start {
        Some(s) => Some(s),
        None => {
            let sampled: [Array1<f64>; 3] = columns.map(|c| c.iter().step_by(stride.max(1)).copied().collect());
            Kind::Pareto.free_fit([sampled[0].view(), sampled[1].view(), sampled[2].view()]).map(|b| map.with_zeros(b))
        }
    };
    maximise_effects(MODEL, map, &pass, start, paths.customers.len() as f64, &options.fit)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixture's rows as paths, one customer each, with the point.
    fn fixture() -> Vec<(Vec<f64>, Paths, f64)> {
        let text = std::fs::read_to_string(format!(
            "{}/tests/fixtures/pareto_nbd_time_varying.csv",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        text.lines()
            .skip(1)
            .map(|line| {
                let f: Vec<&str> = line.split(',').collect();
                let num = |i: usize| f[i].parse::<f64>().unwrap();
                let point: Vec<f64> = (1..8).map(num).collect();
                let (x, t_x, age) = (num(8), num(9), num(10));
                let timing = vec![num(11), num(12)];
                let mut paths = Paths {
                    kp: 2,
                    kd: 1,
                    customers: Vec::new(),
                    pieces: Vec::new(),
                    zp: Vec::new(),
                    zd: Vec::new(),
                    timing,
                };
                for piece in f[13].split(';') {
                    let v: Vec<f64> = piece.split(':').map(|s| s.parse().unwrap()).collect();
                    paths.pieces.push(Piece { start: v[0], length: v[1] });
                    paths.zp.extend_from_slice(&v[2..4]);
                    paths.zd.push(v[4]);
                }
                let count = paths.pieces.len();
                paths.customers.push(PathInfo { x, t_x, age, first: 0, fit: count, all: count });
                (point, paths, num(14))
            })
            .collect()
    }

    #[test]
    fn likelihood_matches_mpmath() {
        let rows = fixture();
        assert_eq!(rows.len(), 120);
        let mut worst = 0.0f64;
        for (point, paths, expected) in &rows {
            let got = paths.evaluate(0, point, None).ln_l;
            let error = (got - expected).abs() / expected.abs().max(1.0);
            worst = worst.max(error);
            assert!(error < 1e-10, "{point:?}: {got} against {expected}");
        }
        assert!(worst > 0.0); // the comparison ran on values, not on copies
    }

    #[test]
    fn gradient_and_hessian_match_differences() {
        for (point, paths, _) in fixture().iter().step_by(5) {
            let k = point.len();
            let derivatives = |q: &[f64]| {
                let mut d = Derivatives::new(2, 1, true);
                let with = paths.evaluate(0, q, Some(&mut d));
                let without = paths.evaluate(0, q, None);
                assert_eq!((with.ln_l, with.p_alive), (without.ln_l, without.p_alive));
                (d.total_gradient, d.total_hessian)
            };
            let (g, h) = derivatives(point);
            for j in 0..k {
                let step = 1e-6 * point[j].abs().max(1.0);
                let at = |d: f64| {
                    let mut q = point.clone();
                    q[j] += d;
                    q
                };
                let value = |q: &[f64]| paths.evaluate(0, q, None).ln_l;
                let numeric = (value(&at(step)) - value(&at(-step))) / (2.0 * step);
                assert!(
                    (g[j] - numeric).abs() < 1e-6 * numeric.abs().max(1.0),
                    "{point:?} [{j}]: {} vs {numeric}",
                    g[j]
                );
                let (up, down) = (derivatives(&at(step)).0, derivatives(&at(-step)).0);
                for i in 0..k {
                    let numeric = (up[i] - down[i]) / (2.0 * step);
                    let got = h[i * k + j];
                    assert!(
                        (got - numeric).abs() < 1e-5 * numeric.abs().max(1.0),
                        "{point:?} H[{i}][{j}]: {got} vs {numeric}"
                    );
                }
            }
        }
    }

    #[test]
    fn piece_rule_meets_its_accuracy_on_hard_pieces() {
        // Against tanh-sinh in log space on one piece of length 1: steep
        // starts (α, β small against a period), many purchases, s near 0.
        use crate::math::quadrature::tanh_sinh_nodes;
        use crate::math::special::log_add_exp;
        for &(alpha, beta, x, s) in
            &[(0.05, 0.3, 40.0, 0.4), (0.5, 0.05, 0.0, 2.5), (10.0, 12.0, 2.0, 0.6), (0.01, 0.01, 15.0, 0.05)]
        {
            let paths = Paths {
                kp: 0,
                kd: 0,
                customers: vec![PathInfo { x, t_x: 0.0, age: 1.0, first: 0, fit: 1, all: 1 }],
                pieces: vec![Piece { start: 0.0, length: 1.0 }],
                zp: vec![],
                zd: vec![],
                timing: vec![],
            };
            let r = 0.5;
            let m = r + x;
            let got = paths.evaluate(0, &[r, alpha, s, beta], None).ln_l;
            let g = |u: f64| s.ln() - m * (alpha + u).ln() - (s + 1.0) * (beta + u).ln();
            let nodes = tanh_sinh_nodes(&g, 0.0, 1.0).unwrap();
            let top = nodes.iter().map(|n| n.1).fold(f64::NEG_INFINITY, f64::max);
            let integral = top + nodes.iter().map(|n| (n.1 - top).exp()).sum::<f64>().ln();
            let alive = -m * (alpha + 1.0).ln() - s * (beta + 1.0).ln();
            let expected = ln_gamma(m) - ln_gamma(r) + r * alpha.ln() + s * beta.ln() + log_add_exp(alive, integral);
            assert!((got - expected).abs() < 1e-11 * expected.abs().max(1.0), "{got} vs {expected}");
        }
    }
}
