//! Transactions → per-customer purchase summary: frequency, recency, age

use std::io::Write;
use std::sync::Arc;

use chrono::NaiveDate;
use ndarray::{Array1, ArrayView1};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::customer::CustomerId;
use crate::domain::money::{self, Currency};
use crate::domain::table::CustomerTable;
use crate::domain::time::Periods;
use crate::error::{Error, Result};

mod customer;
mod options;
mod partial;

pub use customer::{CustomerAccumulator, SummaryRules, WindowAccumulator};
pub use options::SummaryOptions;
pub use partial::PartialSummary;

/// Version of the serialised form of [`PartialSummary`] and
/// [`PurchaseSummary`]; loading another version is an error.
pub const FORMAT_VERSION: u32 = 1;

/// The largest decimal scale an exact amount can have (`rust_decimal`'s).
pub(super) const MAX_SCALE: u32 = 28;

fn corrupt(what: impl Into<String>) -> Error {
    Error::IncompatibleSummaries { reason: what.into() }
}

fn check_version(version: u32) -> Result<()> {
    if version != FORMAT_VERSION {
        return Err(corrupt(format!("format version {version}, this build reads version {FORMAT_VERSION}")));
    }
    Ok(())
}

pub(super) fn i128_sub(a: i64, b: i64) -> i128 {
    i128::from(a) - i128::from(b)
}

pub(super) fn decimal(units: impl Into<i128>, scale: u32) -> Decimal {
    // Sums of i64 units at scale ≤ 18 always fit a Decimal (96-bit mantissa).
    money::from_minor_units(units.into(), scale).unwrap_or(Decimal::MAX)
}

/// One customer's row of a [`PurchaseSummary`].
///
/// With a calibration end, every field but `holdout` describes the
/// calibration period.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct CustomerSummary {
    /// The customer.
    pub customer: CustomerId,
    /// Repeat purchase periods (distinct purchase periods − 1); the papers' `x`.
    pub frequency: u32,
    /// First to last purchase, in the unit; the papers' `t_x`.
    pub recency: f64,
    /// First purchase to the end of the window, in the unit; the papers' `T`.
    pub age: f64,
    /// Mean value of the repeat purchase periods; 0 without repeats.
    pub monetary_value: f64,
    /// Order rows (every order, same-period ones counted separately).
    pub orders: u32,
    /// Sum of all orders, first included (exact).
    pub gross: Decimal,
    /// Sum of returns (exact).
    pub returns: Decimal,
    /// `gross − returns` (exact).
    pub net: Decimal,
    /// The holdout period, when the summary has a calibration end.
    pub holdout: Option<HoldoutSummary>,
}

impl CustomerSummary {
    /// Time from the last purchase to the end of the window, in the unit
    /// (`age − recency`).
    pub fn time_since_last_purchase(&self) -> f64 {
        self.age - self.recency
    }
}

/// A customer's holdout period.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct HoldoutSummary {
    /// Distinct purchase periods in the holdout (nothing subtracted).
    pub frequency: u32,
    /// Mean of the raw holdout orders (lifetimes' `monetary_value_holdout`).
    pub monetary_value: f64,
    /// Mean of the per-period sums in the holdout (consistent with the
    /// calibration's `monetary_value`).
    pub monetary_value_per_period: f64,
    /// Order rows in the holdout.
    pub orders: u32,
    /// Sum of holdout orders (exact).
    pub gross: Decimal,
    /// Sum of holdout returns (exact).
    pub returns: Decimal,
}

/// The summary's per-customer columns, in customer-id order.
#[derive(Clone, PartialEq, Debug, Default, Serialize, Deserialize)]
struct Columns {
    /// Shared with the results computed from the summary (RFM scores, …).
    ids: Arc<Vec<CustomerId>>,
    frequency: Vec<f64>,
    recency: Vec<f64>,
    age: Vec<f64>,
    monetary_value: Vec<f64>,
    orders: Vec<u32>,
    /// Exact units at the summary's scale.
    gross: Vec<i64>,
    returns: Vec<i64>,
}

impl Columns {
    fn with_capacity(n: usize) -> Columns {
        Columns {
            ids: Arc::new(Vec::new()),
            frequency: Vec::with_capacity(n),
            recency: Vec::with_capacity(n),
            age: Vec::with_capacity(n),
            monetary_value: Vec::with_capacity(n),
            orders: Vec::with_capacity(n),
            gross: Vec::with_capacity(n),
            returns: Vec::with_capacity(n),
        }
    }
}

/// The holdout columns.
#[derive(Clone, PartialEq, Debug, Default, Serialize, Deserialize)]
struct HoldoutColumns {
    frequency: Vec<f64>,
    monetary_value: Vec<f64>,
    monetary_value_per_period: Vec<f64>,
    orders: Vec<u32>,
    gross: Vec<i64>,
    returns: Vec<i64>,
}

impl HoldoutColumns {
    fn with_capacity(n: usize) -> HoldoutColumns {
        HoldoutColumns {
            frequency: Vec::with_capacity(n),
            monetary_value: Vec::with_capacity(n),
            monetary_value_per_period: Vec::with_capacity(n),
            orders: Vec::with_capacity(n),
            gross: Vec::with_capacity(n),
            returns: Vec::with_capacity(n),
        }
    }
}

validated_serde! {
/// Per-customer purchase summary of a transaction log, sorted by customer id.
///
/// Built by [`TransactionLog::summarize`](crate::TransactionLog::summarize) or [`PartialSummary::finish`]; see
/// the [module docs](super) for the definitions. Stored by column: the
/// model inputs are zero-copy [`ArrayView1`]s ([`frequency`](Self::frequency),
/// [`recency`](Self::recency), [`age`](Self::age),
/// [`monetary_value`](Self::monetary_value)), and [`row`](Self::row),
/// [`rows`](Self::rows) and [`get`](Self::get) give one customer at a time.
#[derive(Clone, PartialEq, Debug)]
pub struct PurchaseSummary {
    format_version: u32,
    currency: Currency,
    scale: u32,
    periods: Periods,
    observation_end: NaiveDate,
    calibration_end: Option<NaiveDate>,
    duration_holdout: Option<f64>,
    customers_first_seen_in_holdout: usize,
    columns: Columns,
    holdout: Option<HoldoutColumns>,
}
}

impl PurchaseSummary {
    fn check_consistent(&self) -> Result<()> {
        check_version(self.format_version)?;
        let c = &self.columns;
        let n = c.ids.len();
        let lengths = [c.frequency.len(), c.recency.len(), c.age.len(), c.monetary_value.len(), c.orders.len()];
        if lengths.iter().any(|&l| l != n) || c.gross.len() != n || c.returns.len() != n {
            return Err(corrupt("summary columns differ in length"));
        }
        if let Some(h) = &self.holdout {
            let lengths = [h.frequency.len(), h.monetary_value.len(), h.monetary_value_per_period.len()];
            if lengths.iter().any(|&l| l != n) || h.orders.len() != n || h.gross.len() != n || h.returns.len() != n {
                return Err(corrupt("holdout columns differ in length"));
            }
        }
        if self.holdout.is_some() != self.calibration_end.is_some()
            || self.duration_holdout.is_some() != self.calibration_end.is_some()
        {
            return Err(corrupt("holdout columns do not match the calibration end"));
        }
        if !c.ids.windows(2).all(|w| w[0] < w[1]) {
            return Err(corrupt("customer ids are not sorted and unique"));
        }
        self.periods.check_consistent()?;
        // The values a summary can hold: whole repeat counts, recency within
        // age, finite and not negative; the models read them unchecked.
        let non_negative = |v: f64| v.is_finite() && v >= 0.0;
        for k in 0..n {
            let (x, t_x, t, m) = (c.frequency[k], c.recency[k], c.age[k], c.monetary_value[k]);
            if !(non_negative(x)
                && x.fract() == 0.0
                && non_negative(t_x)
                && non_negative(t)
                && t_x <= t
                && non_negative(m))
            {
                return Err(corrupt(format!("customer {}: x {x}, t_x {t_x}, T {t}, monetary value {m}", c.ids[k])));
            }
            if c.gross[k] < 0 || c.returns[k] < 0 {
                return Err(corrupt(format!("customer {}: negative totals", c.ids[k])));
            }
        }
        if let Some(h) = &self.holdout {
            let values = h.frequency.iter().chain(&h.monetary_value).chain(&h.monetary_value_per_period);
            if !values.copied().all(non_negative) || !self.duration_holdout.is_some_and(non_negative) {
                return Err(corrupt("holdout values negative or not finite"));
            }
        }
        if self.scale > MAX_SCALE {
            return Err(corrupt(format!("decimal scale {}", self.scale)));
        }
        Ok(())
    }

    /// Number of customers (rows).
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// assert_eq!(summary.len(), 2357);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        self.columns.ids.len()
    }

    /// True when there are no rows (never, for a finished summary).
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// assert!(!summary.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.columns.ids.is_empty()
    }

    /// The customer ids, sorted; position `k` is row `k`.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// assert_eq!(summary.ids().len(), summary.len());
    /// assert!(summary.ids().windows(2).all(|w| w[0] < w[1])); // ordered by customer
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ids(&self) -> &[CustomerId] {
        &self.columns.ids
    }

    /// Names the customer in a model-input error about one of this
    /// summary's rows (the column functions know only the row).
    pub(crate) fn naming<T>(&self, result: Result<T>) -> Result<T> {
        result.map_err(|e| e.naming_customer(&self.columns.ids))
    }

    /// A per-customer result as a table keyed by this summary's customers
    /// (their ids shared, not copied), errors naming the customer.
    pub(crate) fn keyed(&self, name: &str, values: Result<Array1<f64>>) -> Result<CustomerTable> {
        CustomerTable::over(self.shared_ids()).with_column(name, self.naming(values)?)
    }

    /// The ids, shared without copying.
    pub(crate) fn shared_ids(&self) -> Arc<Vec<CustomerId>> {
        Arc::clone(&self.columns.ids)
    }

    /// Row `k` (in customer-id order), or `None` past the end.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// # let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    /// let summary = TransactionLog::cdnow_sample()?.summarize(
    ///     &SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)),
    /// )?;
    /// let first = summary.row(0).unwrap();
    /// assert_eq!(first.frequency, 2);
    /// assert!((first.recency - 30.43).abs() < 0.01 && (first.age - 38.86).abs() < 0.01);
    /// assert!(summary.row(summary.len()).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn row(&self, k: usize) -> Option<CustomerSummary> {
        (k < self.len()).then(|| self.build_row(k))
    }

    /// Row `k`, for `k < len`.
    fn build_row(&self, k: usize) -> CustomerSummary {
        let c = &self.columns;
        let customer = c.ids[k].clone();
        let holdout = self.holdout.as_ref().map(|h| HoldoutSummary {
            frequency: h.frequency[k] as u32,
            monetary_value: h.monetary_value[k],
            monetary_value_per_period: h.monetary_value_per_period[k],
            orders: h.orders[k],
            gross: decimal(h.gross[k], self.scale),
            returns: decimal(h.returns[k], self.scale),
        });
        CustomerSummary {
            customer,
            frequency: c.frequency[k] as u32,
            recency: c.recency[k],
            age: c.age[k],
            monetary_value: c.monetary_value[k],
            orders: c.orders[k],
            gross: decimal(c.gross[k], self.scale),
            returns: decimal(c.returns[k], self.scale),
            net: decimal(i128_sub(c.gross[k], c.returns[k]), self.scale),
            holdout,
        }
    }

    /// All rows, in customer-id order.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let repeaters = summary.rows().filter(|r| r.frequency > 0).count();
    /// assert!(repeaters > 0 && repeaters < summary.len());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rows(&self) -> impl ExactSizeIterator<Item = CustomerSummary> + '_ {
        (0..self.len()).map(move |k| self.build_row(k))
    }

    /// The row of one customer.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let id = summary.ids()[5].clone();
    /// assert_eq!(summary.get(&id).unwrap().customer, id);
    /// assert!(summary.get(&customer_lifecycle::CustomerId::from("nobody")).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self, customer: &CustomerId) -> Option<CustomerSummary> {
        self.position(customer).and_then(|k| self.row(k))
    }

    /// The row number of one customer.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let id = summary.ids()[5].clone();
    /// assert_eq!(summary.position(&id), Some(5));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn position(&self, customer: &CustomerId) -> Option<usize> {
        self.columns.ids.binary_search(customer).ok()
    }

    /// The currency of the totals.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// assert_eq!(summary.currency(), customer_lifecycle::Currency::USD);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// Unit, duration mode, offset and week start.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// assert_eq!(summary.periods().unit(), TimeUnit::Week);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn periods(&self) -> &Periods {
        &self.periods
    }

    /// The observation end (inclusive).
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// # let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    /// let summary = TransactionLog::cdnow_sample()?.summarize(
    ///     &SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)),
    /// )?;
    /// assert_eq!(summary.observation_end(), date(1998, 6, 30));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn observation_end(&self) -> NaiveDate {
        self.observation_end
    }

    /// The calibration end (inclusive), if split.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// # let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    /// let summary = TransactionLog::cdnow_sample()?.summarize(
    ///     &SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)),
    /// )?;
    /// assert_eq!(summary.calibration_end(), Some(date(1997, 9, 30)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn calibration_end(&self) -> Option<NaiveDate> {
        self.calibration_end
    }

    /// Length of the holdout period in the unit, if split.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// # let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    /// let summary = TransactionLog::cdnow_sample()?.summarize(
    ///     &SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)),
    /// )?;
    /// // 273 days from 1997-09-30 to 1998-06-30, in weeks.
    /// assert!((summary.duration_holdout().unwrap() - 273.0 / 7.0).abs() < 1e-9);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn duration_holdout(&self) -> Option<f64> {
        self.duration_holdout
    }

    /// The first day of each customer's first purchase period, in the rows'
    /// order: the calibration's end period less the age T (the acquisition
    /// date, for cohorts; in continuous mode the purchase day itself). In
    /// calendar months it is the month's first day.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// # let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    /// let summary = TransactionLog::cdnow_sample()?.summarize(
    ///     &SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)),
    /// )?;
    /// let first = summary.first_purchase_dates();
    /// // Every CDNOW sample customer first bought in Q1 1997.
    /// assert!(first.iter().all(|d| *d >= date(1997, 1, 1) && *d <= date(1997, 3, 31)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn first_purchase_dates(&self) -> Vec<NaiveDate> {
        let end = self.calibration_end.unwrap_or(self.observation_end);
        let end_period = self.periods.period_of_date(end);
        let per_unit = match self.periods.mode() {
            crate::domain::time::DurationMode::Calendar => 1.0,
            crate::domain::time::DurationMode::Continuous => f64::from(self.periods.unit().days().unwrap_or(1)),
        };
        self.age().iter().map(|t| self.periods.period_start(end_period - (t * per_unit).round() as i32)).collect()
    }

    /// Customers whose first order falls in the holdout period; they have no
    /// calibration data and are not among the rows (as in lifetimes).
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// # let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    /// let summary = TransactionLog::cdnow_sample()?.summarize(
    ///     &SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)),
    /// )?;
    /// // Every CDNOW sample customer first bought in Q1 1997.
    /// assert_eq!(summary.customers_first_seen_in_holdout(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn customers_first_seen_in_holdout(&self) -> usize {
        self.customers_first_seen_in_holdout
    }

    /// The `frequency` (`x`) column.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let x = summary.frequency();
    /// assert!(x.iter().all(|&v| v >= 0.0 && v.fract() == 0.0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn frequency(&self) -> ArrayView1<'_, f64> {
        ArrayView1::from(&self.columns.frequency[..])
    }

    /// The `recency` (`t_x`) column.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let (t_x, age) = (summary.recency(), summary.age());
    /// assert!(t_x.iter().zip(age.iter()).all(|(r, t)| r <= t));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recency(&self) -> ArrayView1<'_, f64> {
        ArrayView1::from(&self.columns.recency[..])
    }

    /// The `age` (`T`) column.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// assert!(summary.age().iter().all(|&t| t > 0.0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn age(&self) -> ArrayView1<'_, f64> {
        ArrayView1::from(&self.columns.age[..])
    }

    /// The `monetary_value` column.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let (x, m) = (summary.frequency(), summary.monetary_value());
    /// // 0 for customers without a repeat purchase, as in lifetimes.
    /// assert!(x.iter().zip(m.iter()).all(|(&x, &m)| x > 0.0 || m == 0.0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn monetary_value(&self) -> ArrayView1<'_, f64> {
        ArrayView1::from(&self.columns.monetary_value[..])
    }

    /// Orders per customer (every order row of the window).
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// assert!(summary.orders().iter().all(|&n| n >= 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn orders(&self) -> &[u32] {
        &self.columns.orders
    }

    /// Net spend (gross − returns) per customer, as the nearest `f64`s.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let net = summary.net_spend();
    /// assert_eq!(net.len(), summary.len());
    /// assert!(net.sum() > 0.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn net_spend(&self) -> Array1<f64> {
        self.net_spend_iter().collect()
    }

    /// [`PurchaseSummary::net_spend`] without allocating.
    pub(crate) fn net_spend_iter(&self) -> impl ExactSizeIterator<Item = f64> + '_ {
        let unit = 10f64.powi(self.scale as i32);
        self.columns.gross.iter().zip(&self.columns.returns).map(move |(g, r)| (g - r) as f64 / unit)
    }

    /// Removes a customer's row (right to erasure); `true` when there was one.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// let mut summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let id = summary.ids()[0].clone();
    /// assert!(summary.erase(&id));
    /// assert!(summary.get(&id).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn erase(&mut self, customer: &CustomerId) -> bool {
        let Some(k) = self.position(customer) else { return false };
        let c = &mut self.columns;
        Arc::make_mut(&mut c.ids).remove(k);
        c.frequency.remove(k);
        c.recency.remove(k);
        c.age.remove(k);
        c.monetary_value.remove(k);
        c.orders.remove(k);
        c.gross.remove(k);
        c.returns.remove(k);
        if let Some(h) = self.holdout.as_mut() {
            h.frequency.remove(k);
            h.monetary_value.remove(k);
            h.monetary_value_per_period.remove(k);
            h.orders.remove(k);
            h.gross.remove(k);
            h.returns.remove(k);
        }
        true
    }

    /// Returned ÷ ordered value per customer (0 without order value).
    pub(crate) fn return_rate_iter(&self) -> impl ExactSizeIterator<Item = f64> + '_ {
        self.columns
            .gross
            .iter()
            .zip(&self.columns.returns)
            .map(|(&g, &r)| if g > 0 { r as f64 / g as f64 } else { 0.0 })
    }

    /// The `frequency_holdout` column, if split.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// # let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    /// let summary = TransactionLog::cdnow_sample()?.summarize(
    ///     &SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)),
    /// )?;
    /// let holdout = summary.frequency_holdout().unwrap();
    /// assert_eq!(holdout.len(), summary.len());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn frequency_holdout(&self) -> Option<ArrayView1<'_, f64>> {
        self.holdout.as_ref().map(|h| ArrayView1::from(&h.frequency[..]))
    }

    /// The `monetary_value_holdout` column (lifetimes' mean of raw holdout orders), if split.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// # let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    /// let summary = TransactionLog::cdnow_sample()?.summarize(
    ///     &SummaryOptions::new(TimeUnit::Week).calibration_end(date(1997, 9, 30)).observation_end(date(1998, 6, 30)),
    /// )?;
    /// assert!(summary.monetary_value_holdout().unwrap().iter().all(|&m| m >= 0.0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn monetary_value_holdout(&self) -> Option<ArrayView1<'_, f64>> {
        self.holdout.as_ref().map(|h| ArrayView1::from(&h.monetary_value[..]))
    }

    /// Writes the summary as CSV with lifetimes' column names:
    /// `customer_id,frequency,recency,T,monetary_value` without a
    /// calibration end; with one, `customer_id,frequency_cal,recency_cal,
    /// T_cal,monetary_value_cal,frequency_holdout,monetary_value_holdout,
    /// duration_holdout`. Floats are written in their shortest exact form.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// # let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let mut out = Vec::new();
    /// summary.write_csv(&mut out)?;
    /// let text = String::from_utf8(out)?;
    /// assert!(text.starts_with("customer_id,frequency,recency,T,monetary_value"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`] when writing fails.
    pub fn write_csv<W: Write>(&self, out: W) -> Result<()> {
        let io = |e: std::io::Error| Error::Io { path: "summary csv".into(), source: e };
        let mut out = std::io::BufWriter::new(out);
        let c = &self.columns;
        match (&self.holdout, self.duration_holdout) {
            (Some(h), Some(d)) => {
                writeln!(
                    out,
                    "customer_id,frequency_cal,recency_cal,T_cal,monetary_value_cal,frequency_holdout,monetary_value_holdout,duration_holdout"
                )
                .map_err(io)?;
                for k in 0..self.len() {
                    writeln!(
                        out,
                        "{},{},{},{},{},{},{},{}",
                        csv_id(&c.ids[k]),
                        c.frequency[k],
                        c.recency[k],
                        c.age[k],
                        c.monetary_value[k],
                        h.frequency[k],
                        h.monetary_value[k],
                        d
                    )
                    .map_err(io)?;
                }
            }
            _ => {
                writeln!(out, "customer_id,frequency,recency,T,monetary_value").map_err(io)?;
                for k in 0..self.len() {
                    writeln!(
                        out,
                        "{},{},{},{},{}",
                        csv_id(&c.ids[k]),
                        c.frequency[k],
                        c.recency[k],
                        c.age[k],
                        c.monetary_value[k]
                    )
                    .map_err(io)?;
                }
            }
        }
        out.flush().map_err(io)
    }
}

/// A customer id as a CSV field (quoted when it holds a comma, quote or newline).
pub(crate) fn csv_id(id: &CustomerId) -> String {
    let s = id.to_string();
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::Money;
    use crate::domain::time::TimeUnit;
    use crate::log::transactions::{Transaction, TransactionLog};
    use chrono::{DateTime, TimeZone, Utc};

    fn at(m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, m, d, 12, 0, 0).unwrap()
    }

    fn date(m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, m, d).unwrap()
    }

    fn usd(s: &str) -> Money {
        Money::parse(s, Currency::USD).unwrap()
    }

    fn log(rows: &[(i64, DateTime<Utc>, &str)]) -> TransactionLog {
        let mut log = TransactionLog::new(Currency::USD);
        for (c, t, a) in rows {
            log.push(Transaction::order(CustomerId::from(*c), *t, usd(a))).unwrap();
        }
        log
    }

    #[test]
    fn same_day_orders_merge_and_first_period_is_excluded() {
        let l = log(&[(1, at(1, 1), "10"), (1, at(1, 1), "5"), (1, at(1, 3), "4"), (1, at(1, 3), "6")]);
        let s = l.summarize(&SummaryOptions::new(TimeUnit::Day).observation_end(date(1, 10))).unwrap();
        let r = s.row(0).unwrap();
        assert_eq!((r.frequency, r.recency, r.age, r.monetary_value), (1, 2.0, 9.0, 10.0));
        assert_eq!(r.orders, 4);
        assert_eq!(r.gross, Decimal::from(25));
    }

    #[test]
    fn days_are_local_days_of_the_time_zone_summer_and_winter() {
        use chrono::TimeZone;
        // A Berlin shop: orders at 00:30 local time, which is the previous
        // day in UTC (22:30 in summer, 23:30 in winter).
        let utc = |m, d, h| Utc.with_ymd_and_hms(2024, m, d, h, 30, 0).unwrap();
        let l =
            log(&[(1, utc(7, 1, 22), "10"), (1, utc(7, 3, 22), "5"), (2, utc(1, 1, 23), "4"), (2, utc(1, 3, 23), "6")]);
        let berlin =
            SummaryOptions::new(TimeUnit::Day).observation_end(date(7, 10)).time_zone(chrono_tz::Europe::Berlin);
        let s = l.summarize(&berlin).unwrap();
        let (first, second) = (s.row(0).unwrap(), s.row(1).unwrap());
        // Local first days 2 July and 2 January; the end is 10 July local.
        assert_eq!((first.recency, first.age), (2.0, 8.0));
        assert_eq!((second.recency, second.age), (2.0, 190.0));
        // In UTC the same orders fall a day earlier: one more day of age.
        let s = l.summarize(&SummaryOptions::new(TimeUnit::Day).observation_end(date(7, 10))).unwrap();
        assert_eq!(s.row(0).unwrap().age, 9.0);
        // The zone survives a save and reload of the options.
        let json = serde_json::to_string(&berlin).unwrap();
        assert!(json.contains("Europe/Berlin"), "{json}");
        assert_eq!(serde_json::from_str::<SummaryOptions>(&json).unwrap(), berlin);
    }

    #[test]
    fn out_of_order_rows_give_the_in_order_result() {
        let rows = [(1, at(1, 1), "10"), (2, at(1, 2), "1"), (1, at(1, 5), "4"), (1, at(1, 9), "6")];
        let mut shuffled = rows;
        shuffled.reverse();
        let opts = SummaryOptions::new(TimeUnit::Day).observation_end(date(1, 10));
        assert_eq!(log(&rows).summarize(&opts).unwrap(), log(&shuffled).summarize(&opts).unwrap());
    }

    #[test]
    fn many_blocks_out_of_order_give_the_in_order_result() {
        // 20,000 customers span three storage blocks; reversed rows force the
        // per-block time-order fallback.
        let mut rows = Vec::new();
        for c in 0..20_000i64 {
            for d in 0..3u32 {
                rows.push((c * 7919 % 20_000, at(1 + d * 3 + (c % 3) as u32, 1), if d == 1 { "2.50" } else { "1" }));
            }
        }
        let opts = SummaryOptions::new(TimeUnit::Week).calibration_end(date(6, 1)).observation_end(date(12, 31));
        let in_order = log(&rows).summarize(&opts).unwrap();
        rows.reverse();
        let reversed = log(&rows).summarize(&opts).unwrap();
        assert_eq!(in_order, reversed);
        assert_eq!(in_order.len(), 20_000);
        assert!(in_order.ids().windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn returns_enter_totals_only() {
        let mut l = log(&[(1, at(1, 1), "10"), (1, at(1, 5), "20")]);
        l.push(Transaction::refund(CustomerId::from(1), at(1, 6), usd("7.5"))).unwrap();
        let s = l.summarize(&SummaryOptions::new(TimeUnit::Day)).unwrap();
        let r = s.row(0).unwrap();
        assert_eq!((r.frequency, r.monetary_value), (1, 20.0));
        assert_eq!(r.returns, Decimal::new(75, 1));
        assert_eq!(r.net, Decimal::new(225, 1));
        assert_eq!(s.observation_end(), date(1, 6)); // default: last transaction date
    }

    #[test]
    fn return_without_order_is_an_error() {
        let mut l = log(&[(1, at(1, 1), "10")]);
        l.push(Transaction::refund(CustomerId::from(2), at(1, 2), usd("1"))).unwrap();
        assert!(matches!(l.summarize(&SummaryOptions::new(TimeUnit::Day)), Err(Error::ReturnWithoutOrder { .. })));
    }

    #[test]
    fn holdout_columns() {
        let l = log(&[
            (1, at(1, 1), "10"),
            (1, at(1, 20), "30"),
            (1, at(2, 5), "8"),
            (1, at(2, 5), "4"),
            (1, at(2, 6), "3"),
            (2, at(2, 7), "100"), // first order in the holdout: left out
        ]);
        let opts = SummaryOptions::new(TimeUnit::Day).calibration_end(date(1, 31)).observation_end(date(2, 29));
        let s = l.summarize(&opts).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s.customers_first_seen_in_holdout(), 1);
        assert_eq!(s.duration_holdout(), Some(29.0));
        let r = s.row(0).unwrap();
        assert_eq!((r.frequency, r.recency, r.age), (1, 19.0, 30.0));
        let h = r.holdout.as_ref().unwrap();
        assert_eq!(h.frequency, 2);
        assert_eq!(h.monetary_value, 5.0); // (8 + 4 + 3) / 3 raw orders
        assert_eq!(h.monetary_value_per_period, 7.5); // (12 + 3) / 2 periods
    }

    #[test]
    fn bad_ends() {
        let l = log(&[(1, at(1, 1), "10"), (1, at(3, 1), "10")]);
        let e = l.summarize(&SummaryOptions::new(TimeUnit::Day).observation_end(date(2, 1))).unwrap_err();
        assert!(matches!(e, Error::AfterObservationEnd { .. }), "{e}");
        assert!(e.to_string().contains("customer 1"));
        let e = l
            .summarize(&SummaryOptions::new(TimeUnit::Day).calibration_end(date(3, 1)).observation_end(date(3, 1)))
            .unwrap_err();
        assert!(matches!(e, Error::CalibrationAfterObservationEnd { .. }));
        // Default observation end (3/1) not after the calibration end.
        let e = l.summarize(&SummaryOptions::new(TimeUnit::Day).calibration_end(date(3, 2))).unwrap_err();
        assert!(matches!(e, Error::CalibrationAfterObservationEnd { .. }));
        assert!(matches!(
            TransactionLog::new(Currency::USD).summarize(&SummaryOptions::new(TimeUnit::Day)),
            Err(Error::Empty { .. })
        ));
        assert!(l.summarize(&SummaryOptions::new(TimeUnit::Month)).is_err());
    }

    #[test]
    fn calendar_months() {
        let l = log(&[(1, at(1, 31), "10"), (1, at(2, 1), "20"), (1, at(2, 28), "5")]);
        let s =
            l.summarize(&SummaryOptions::new(TimeUnit::Month).calendar_periods().observation_end(date(5, 2))).unwrap();
        let r = s.row(0).unwrap();
        assert_eq!((r.frequency, r.recency, r.age, r.monetary_value), (1, 1.0, 4.0, 25.0));
    }

    #[test]
    fn rows_are_sorted_by_customer_id() {
        let mut l = TransactionLog::new(Currency::USD);
        for id in [CustomerId::from("b"), CustomerId::from(10), CustomerId::from("a"), CustomerId::from(2)] {
            l.push(Transaction::order(id, at(1, 1), usd("1"))).unwrap();
        }
        let s = l.summarize(&SummaryOptions::new(TimeUnit::Day)).unwrap();
        let ids: Vec<String> = s.rows().map(|r| r.customer.to_string()).collect();
        assert_eq!(ids, ["2", "10", "a", "b"]);
        assert!(s.get(&CustomerId::from("a")).is_some());
        assert!(s.get(&CustomerId::from("z")).is_none());
    }

    #[test]
    fn merge_refuses_interleaving_and_mismatched_options() {
        let opts = SummaryOptions::new(TimeUnit::Day);
        let a = log(&[(1, at(1, 1), "1"), (1, at(1, 5), "1")]).partial_summary(&opts).unwrap();
        let b = log(&[(1, at(1, 3), "1")]).partial_summary(&opts).unwrap();
        let mut m = a.clone();
        assert!(matches!(m.merge(&b), Err(Error::OverlappingShards { .. })));
        assert_eq!(m.finish().unwrap(), a.finish().unwrap()); // unchanged
        let c = log(&[(1, at(1, 3), "1")]).partial_summary(&SummaryOptions::new(TimeUnit::Week)).unwrap();
        assert!(matches!(m.merge(&c), Err(Error::IncompatibleSummaries { .. })));
    }

    #[test]
    fn merge_aligns_scales() {
        let opts = SummaryOptions::new(TimeUnit::Day);
        let a = log(&[(1, at(1, 1), "1.5"), (1, at(1, 2), "2.25")]);
        let b = log(&[(1, at(1, 3), "0.125")]);
        let mut m = a.partial_summary(&opts).unwrap();
        m.merge(&b.partial_summary(&opts).unwrap()).unwrap();
        let r = m.finish().unwrap().row(0).unwrap();
        assert_eq!(r.gross, Decimal::new(3875, 3));
        assert_eq!(r.monetary_value, (2.25 + 0.125) / 2.0);
    }

    #[test]
    fn serde_round_trips_and_refuses_tampering() {
        let l = log(&[(1, at(1, 1), "10"), (1, at(1, 8), "20.5"), (2, at(1, 3), "1")]);
        let opts = SummaryOptions::new(TimeUnit::Week).calibration_end(date(1, 5)).observation_end(date(1, 15));
        let s = l.summarize(&opts).unwrap();
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<PurchaseSummary>(&json).unwrap(), s);
        let bumped = json.replacen("\"format_version\":1", "\"format_version\":2", 1);
        let e = serde_json::from_str::<PurchaseSummary>(&bumped).unwrap_err();
        assert!(e.to_string().contains("format version 2"), "{e}");
        let short = json.replacen("\"frequency\":[1.0,0.0]", "\"frequency\":[1.0]", 1);
        assert_ne!(short, json);
        assert!(serde_json::from_str::<PurchaseSummary>(&short).is_err());

        let p = l.partial_summary(&opts).unwrap();
        let json = serde_json::to_string(&p).unwrap();
        let back: PartialSummary = serde_json::from_str(&json).unwrap();
        assert_eq!(back.finish().unwrap(), s);
        let no_holdout = json.replacen("\"holdout\":[", "\"holdout\":null,\"unused\":[", 1);
        assert_ne!(no_holdout, json);
        assert!(serde_json::from_str::<PartialSummary>(&no_holdout).is_err());
    }

    #[test]
    fn csv_output_uses_lifetimes_names() {
        let l = log(&[(1, at(1, 1), "10"), (1, at(1, 8), "20")]);
        let mut out = Vec::new();
        l.summarize(&SummaryOptions::new(TimeUnit::Week).observation_end(date(1, 15)))
            .unwrap()
            .write_csv(&mut out)
            .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "customer_id,frequency,recency,T,monetary_value\n1,1,1,2,20\n");
    }
}
