//! One customer's summary, accumulated row by row in any order and merged
//! in any grouping: what a query engine's aggregate keeps per customer
//! ([`CustomerAccumulator`], with the rules of [`SummaryRules`]).
//!
//! A [`PartialSummary`](super::PartialSummary) keeps a customer's distinct
//! purchase periods as a count, which is exact when rows arrive in time
//! order within each shard and shards do not interleave. A query engine
//! hands an aggregate its rows in no order and splits them over partitions
//! at random, so the accumulator here keeps the distinct periods
//! themselves: any order of additions and any grouping of merges give the
//! same state, and the row computed from it is the one
//! [`TransactionLog::summarize`](crate::TransactionLog::summarize) gives.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::partial::{RowDays, Window};
use super::{CustomerSummary, HoldoutSummary, SummaryOptions, decimal, i128_sub};
use crate::domain::customer::CustomerId;
use crate::domain::time::Periods;
use crate::error::{Error, Result};
use crate::log::transactions::{MAX_AMOUNT_DECIMALS, TransactionKind, finest_units};

/// One window (calibration or holdout) of one customer: the distinct
/// purchase periods, the sums in exact units of 10^-[`MAX_AMOUNT_DECIMALS`]
/// and the row counts. Additions commute and merges are exact in any
/// grouping.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct WindowAccumulator {
    periods: Vec<i32>,
    first_sum: i64,
    sum: i64,
    orders: u32,
    returns: i64,
    return_count: u32,
}

impl WindowAccumulator {
    /// Rebuilds a window from its parts (as [`WindowAccumulator::purchase_periods`]
    /// and the other accessors give them), checking that some sequence of
    /// rows produces it: a state read back from storage or another process
    /// may be hostile.
    ///
    /// ```
    /// use customer_lifecycle::WindowAccumulator;
    /// let w = WindowAccumulator::from_parts(vec![3, 5], 10_000_000, 25_000_000, 3, 0, 0)?;
    /// assert_eq!(w.purchase_periods(), &[3, 5]);
    /// assert!(WindowAccumulator::from_parts(vec![5, 3], 0, 0, 2, 0, 0).is_err()); // not in order
    /// # Ok::<(), customer_lifecycle::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::IncompatibleSummaries`] for parts no rows produce: periods
    /// not strictly increasing, fewer orders than periods, orders without a
    /// period, negative sums or a first-period sum above the total.
    pub fn from_parts(
        periods: Vec<i32>,
        first_period_sum: i64,
        order_sum: i64,
        orders: u32,
        return_sum: i64,
        returns: u32,
    ) -> Result<WindowAccumulator> {
        let bad = |what: &str| Err(Error::IncompatibleSummaries { reason: format!("customer window: {what}") });
        if periods.windows(2).any(|p| p[0] >= p[1]) {
            return bad("purchase periods not strictly increasing");
        }
        if (orders as usize) < periods.len() || (periods.is_empty() && (orders != 0 || order_sum != 0)) {
            return bad("order count and purchase periods disagree");
        }
        if first_period_sum < 0 || order_sum < first_period_sum || return_sum < 0 || (returns == 0 && return_sum != 0) {
            return bad("sums that no rows produce");
        }
        Ok(WindowAccumulator {
            periods,
            first_sum: first_period_sum,
            sum: order_sum,
            orders,
            returns: return_sum,
            return_count: returns,
        })
    }

    /// The distinct purchase periods, increasing (the period numbers of
    /// [`Periods::period_of_day`]).
    ///
    /// ```
    /// # use customer_lifecycle::WindowAccumulator;
    /// assert!(WindowAccumulator::default().purchase_periods().is_empty());
    /// ```
    pub fn purchase_periods(&self) -> &[i32] {
        &self.periods
    }

    /// Sum of the orders in the first purchase period, in units of 10^-6.
    ///
    /// ```
    /// # use customer_lifecycle::WindowAccumulator;
    /// assert_eq!(WindowAccumulator::default().first_period_sum(), 0);
    /// ```
    pub fn first_period_sum(&self) -> i64 {
        self.first_sum
    }

    /// Sum of all orders, in units of 10^-6.
    ///
    /// ```
    /// # use customer_lifecycle::WindowAccumulator;
    /// assert_eq!(WindowAccumulator::default().order_sum(), 0);
    /// ```
    pub fn order_sum(&self) -> i64 {
        self.sum
    }

    /// Order rows.
    ///
    /// ```
    /// # use customer_lifecycle::WindowAccumulator;
    /// assert_eq!(WindowAccumulator::default().orders(), 0);
    /// ```
    pub fn orders(&self) -> u32 {
        self.orders
    }

    /// Sum of returns, in units of 10^-6.
    ///
    /// ```
    /// # use customer_lifecycle::WindowAccumulator;
    /// assert_eq!(WindowAccumulator::default().return_sum(), 0);
    /// ```
    pub fn return_sum(&self) -> i64 {
        self.returns
    }

    /// Return rows.
    ///
    /// ```
    /// # use customer_lifecycle::WindowAccumulator;
    /// assert_eq!(WindowAccumulator::default().returns(), 0);
    /// ```
    pub fn returns(&self) -> u32 {
        self.return_count
    }

    /// Adds an order of `units` in `period`; `None` on overflow, and then
    /// the window is unchanged (every sum is checked before any is stored).
    fn add_order(&mut self, period: i32, units: i64) -> Option<()> {
        let sum = self.sum.checked_add(units)?;
        let orders = self.orders.checked_add(1)?;
        let slot = self.periods.binary_search(&period);
        let first_sum = match slot {
            Ok(0) => self.first_sum.checked_add(units)?,
            Err(0) => units,
            _ => self.first_sum,
        };
        if let Err(k) = slot {
            self.periods.insert(k, period);
        }
        (self.sum, self.orders, self.first_sum) = (sum, orders, first_sum);
        Some(())
    }

    /// Adds a return of `units`; `None` on overflow (the window unchanged).
    fn add_return(&mut self, units: i64) -> Option<()> {
        let returns = self.returns.checked_add(units)?;
        self.return_count = self.return_count.checked_add(1)?;
        self.returns = returns;
        Some(())
    }

    /// The merge of two windows; `None` on overflow.
    fn merged(&self, other: &WindowAccumulator) -> Option<WindowAccumulator> {
        let first_sum = match (self.periods.first(), other.periods.first()) {
            (Some(a), Some(b)) if a == b => self.first_sum.checked_add(other.first_sum)?,
            (Some(a), Some(b)) if a < b => self.first_sum,
            (Some(_), Some(_)) | (None, _) => other.first_sum,
            (Some(_), None) => self.first_sum,
        };
        // The union of two short increasing lists.
        let mut periods = [self.periods.as_slice(), other.periods.as_slice()].concat();
        periods.sort_unstable();
        periods.dedup();
        Some(WindowAccumulator {
            periods,
            first_sum,
            sum: self.sum.checked_add(other.sum)?,
            orders: self.orders.checked_add(other.orders)?,
            returns: self.returns.checked_add(other.returns)?,
            return_count: self.return_count.checked_add(other.return_count)?,
        })
    }

    /// The summary's own window form.
    fn window(&self) -> Window {
        Window {
            first: self.periods.first().copied().unwrap_or(0),
            last: self.periods.last().copied().unwrap_or(0),
            periods: self.periods.len() as u32,
            orders: self.orders,
            first_sum: self.first_sum,
            sum: self.sum,
            returns: self.returns,
            return_count: self.return_count,
        }
    }
}

/// One customer's mergeable summary state: the calibration window and the
/// holdout window (empty without a calibration end), with the customer it
/// belongs to. Build it with [`SummaryRules::add`], combine with
/// [`CustomerAccumulator::merge`], read the row with [`SummaryRules::summary`].
///
/// ```
/// use customer_lifecycle::{CustomerAccumulator, CustomerId, SummaryOptions, TimeUnit, TransactionKind};
/// use customer_lifecycle::chrono::{NaiveDate, TimeZone, Utc};
/// use customer_lifecycle::rust_decimal::Decimal;
///
/// let rules = SummaryOptions::new(TimeUnit::Day)
///     .observation_end(NaiveDate::from_ymd_opt(2024, 1, 31).unwrap())
///     .rules()?;
/// let ana = CustomerId::from("ana@example.com");
/// let day = |d| Utc.with_ymd_and_hms(2024, 1, d, 12, 0, 0).unwrap();
/// // Two partitions see Ana's orders in no particular order…
/// let (mut a, mut b) = (CustomerAccumulator::default(), CustomerAccumulator::default());
/// rules.add(&mut a, &ana, day(20), TransactionKind::Order, Decimal::new(3000, 2))?;
/// rules.add(&mut b, &ana, day(2), TransactionKind::Order, Decimal::new(1000, 2))?;
/// rules.add(&mut a, &ana, day(11), TransactionKind::Order, Decimal::new(2000, 2))?;
/// a.merge(&b)?;
/// let row = rules.summary(&a)?.expect("Ana ordered");
/// assert_eq!((row.frequency, row.recency, row.age, row.monetary_value), (2, 18.0, 29.0, 25.0));
/// # Ok::<(), customer_lifecycle::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct CustomerAccumulator {
    customer: Option<CustomerId>,
    calibration: WindowAccumulator,
    holdout: WindowAccumulator,
}

impl CustomerAccumulator {
    /// Rebuilds an accumulator from its parts, checked as
    /// [`WindowAccumulator::from_parts`] checks windows.
    ///
    /// ```
    /// use customer_lifecycle::{CustomerAccumulator, CustomerId, WindowAccumulator};
    /// let w = WindowAccumulator::from_parts(vec![7], 5_000_000, 5_000_000, 1, 0, 0)?;
    /// let acc = CustomerAccumulator::from_parts(Some(CustomerId::from(3)), w.clone(), WindowAccumulator::default())?;
    /// assert_eq!(acc.calibration(), &w);
    /// assert!(CustomerAccumulator::from_parts(None, w, WindowAccumulator::default()).is_err()); // rows of nobody
    /// # Ok::<(), customer_lifecycle::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::IncompatibleSummaries`] for windows with rows but no customer.
    pub fn from_parts(
        customer: Option<CustomerId>,
        calibration: WindowAccumulator,
        holdout: WindowAccumulator,
    ) -> Result<CustomerAccumulator> {
        let empty = |w: &WindowAccumulator| w.orders == 0 && w.return_count == 0;
        if customer.is_none() && !(empty(&calibration) && empty(&holdout)) {
            return Err(Error::IncompatibleSummaries { reason: "customer window with rows but no customer".into() });
        }
        Ok(CustomerAccumulator { customer, calibration, holdout })
    }

    /// The customer, once a row was added.
    ///
    /// ```
    /// # use customer_lifecycle::CustomerAccumulator;
    /// assert!(CustomerAccumulator::default().customer().is_none());
    /// ```
    pub fn customer(&self) -> Option<&CustomerId> {
        self.customer.as_ref()
    }

    /// The calibration window (the whole observation without a calibration end).
    ///
    /// ```
    /// # use customer_lifecycle::CustomerAccumulator;
    /// assert_eq!(CustomerAccumulator::default().calibration().orders(), 0);
    /// ```
    pub fn calibration(&self) -> &WindowAccumulator {
        &self.calibration
    }

    /// The holdout window (empty without a calibration end).
    ///
    /// ```
    /// # use customer_lifecycle::CustomerAccumulator;
    /// assert_eq!(CustomerAccumulator::default().holdout().orders(), 0);
    /// ```
    pub fn holdout(&self) -> &WindowAccumulator {
        &self.holdout
    }

    /// Merges another accumulator of the same customer (or an empty one)
    /// into this one; any grouping and order of merges give the same state.
    /// On error `self` is unchanged.
    ///
    /// ```
    /// # use customer_lifecycle::{CustomerAccumulator, CustomerId, SummaryOptions, TimeUnit, TransactionKind};
    /// # use customer_lifecycle::chrono::{NaiveDate, TimeZone, Utc};
    /// # use customer_lifecycle::rust_decimal::Decimal;
    /// # let rules = SummaryOptions::new(TimeUnit::Day).observation_end(NaiveDate::from_ymd_opt(2024, 2, 1).unwrap()).rules()?;
    /// let at = Utc.with_ymd_and_hms(2024, 1, 5, 9, 0, 0).unwrap();
    /// let (mut a, mut b) = (CustomerAccumulator::default(), CustomerAccumulator::default());
    /// rules.add(&mut a, &CustomerId::from(1), at, TransactionKind::Order, Decimal::ONE)?;
    /// rules.add(&mut b, &CustomerId::from(2), at, TransactionKind::Order, Decimal::ONE)?;
    /// assert!(a.merge(&b).is_err()); // two customers
    /// # Ok::<(), customer_lifecycle::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::IncompatibleSummaries`] for two customers;
    /// [`Error::AmountOverflow`] when a total overflows.
    pub fn merge(&mut self, other: &CustomerAccumulator) -> Result<()> {
        let customer = match (&self.customer, &other.customer) {
            (Some(a), Some(b)) if a != b => {
                return Err(Error::IncompatibleSummaries { reason: format!("customers {a} and {b} merged") });
            }
            (a, b) => a.clone().or_else(|| b.clone()),
        };
        let overflow = || Error::AmountOverflow {
            field: "per-customer totals",
            customer: customer.as_ref().map(|c| c.to_string()),
        };
        let calibration = self.calibration.merged(&other.calibration).ok_or_else(overflow)?;
        let holdout = self.holdout.merged(&other.holdout).ok_or_else(overflow)?;
        *self = CustomerAccumulator { customer, calibration, holdout };
        Ok(())
    }
}

/// The rules that turn one customer's rows into their summary row, from
/// [`SummaryOptions::rules`]: which period a row falls in, whether it is in
/// the calibration or the holdout window, and where the windows end. The
/// options must name the observation end (a per-customer fold cannot wait
/// for the log's last date).
#[derive(Clone, Debug)]
pub struct SummaryRules {
    options: SummaryOptions,
    periods: Periods,
    days: RowDays,
    observation_end: NaiveDate,
    window_end: NaiveDate,
    end_period: i32,
}

/// The unit scale of [`WindowAccumulator`]'s sums.
const UNIT_SCALE: f64 = 1e6;
const _: () = assert!(MAX_AMOUNT_DECIMALS == 6);

impl SummaryOptions {
    /// The per-customer rules of these options (see [`SummaryRules`]).
    ///
    /// ```
    /// use customer_lifecycle::{SummaryOptions, TimeUnit};
    /// use customer_lifecycle::chrono::NaiveDate;
    /// assert!(SummaryOptions::new(TimeUnit::Week).rules().is_err()); // no observation end
    /// let end = NaiveDate::from_ymd_opt(2024, 12, 31).unwrap();
    /// assert_eq!(SummaryOptions::new(TimeUnit::Week).observation_end(end).rules()?.observation_end(), end);
    /// # Ok::<(), customer_lifecycle::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] without an observation end; as
    /// [`SummaryOptions::periods`]; [`Error::CalibrationAfterObservationEnd`].
    pub fn rules(&self) -> Result<SummaryRules> {
        let periods = self.validate()?;
        let observation_end = self.observation_end.ok_or_else(|| Error::InvalidArgument {
            name: "observation end",
            reason: "a per-customer summary needs the observation end set in the options".into(),
        })?;
        let window_end = self.calibration_end.unwrap_or(observation_end);
        Ok(SummaryRules {
            options: *self,
            days: RowDays::of(self, &periods),
            observation_end,
            window_end,
            end_period: periods.period_of_date(window_end),
            periods,
        })
    }
}

impl SummaryRules {
    /// The options the rules come from.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// let options = SummaryOptions::new(TimeUnit::Day).observation_end(NaiveDate::from_ymd_opt(2024, 6, 30).unwrap());
    /// assert_eq!(options.rules()?.options(), &options);
    /// # Ok::<(), customer_lifecycle::Error>(())
    /// ```
    pub fn options(&self) -> &SummaryOptions {
        &self.options
    }

    /// The periods (unit, duration mode, clock) rows are counted in.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// let rules = SummaryOptions::new(TimeUnit::Week).observation_end(NaiveDate::from_ymd_opt(2024, 6, 30).unwrap()).rules()?;
    /// assert_eq!(rules.periods().unit(), TimeUnit::Week);
    /// # Ok::<(), customer_lifecycle::Error>(())
    /// ```
    pub fn periods(&self) -> &Periods {
        &self.periods
    }

    /// The observation end.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// let end = NaiveDate::from_ymd_opt(2024, 6, 30).unwrap();
    /// assert_eq!(SummaryOptions::new(TimeUnit::Day).observation_end(end).rules()?.observation_end(), end);
    /// # Ok::<(), customer_lifecycle::Error>(())
    /// ```
    pub fn observation_end(&self) -> NaiveDate {
        self.observation_end
    }

    /// Adds one row of `customer` at `at` to `acc` (which must be empty or
    /// the same customer's). On error `acc` is unchanged.
    ///
    /// ```
    /// # use customer_lifecycle::{CustomerAccumulator, CustomerId, SummaryOptions, TimeUnit, TransactionKind};
    /// # use customer_lifecycle::chrono::{NaiveDate, TimeZone, Utc};
    /// # use customer_lifecycle::rust_decimal::Decimal;
    /// let rules = SummaryOptions::new(TimeUnit::Day).observation_end(NaiveDate::from_ymd_opt(2024, 1, 31).unwrap()).rules()?;
    /// let mut acc = CustomerAccumulator::default();
    /// let late = Utc.with_ymd_and_hms(2024, 2, 1, 9, 0, 0).unwrap();
    /// let e = rules.add(&mut acc, &CustomerId::from(9), late, TransactionKind::Order, Decimal::TEN).unwrap_err();
    /// assert!(e.to_string().contains("9"), "{e}"); // names the customer
    /// assert_eq!(acc, CustomerAccumulator::default());
    /// # Ok::<(), customer_lifecycle::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::AfterObservationEnd`] for a row after the observation end;
    /// [`Error::InvalidAmount`] for an amount a log refuses (negative, more
    /// than [`MAX_AMOUNT_DECIMALS`] decimals, too large);
    /// [`Error::IncompatibleSummaries`] when `acc` is another customer's;
    /// [`Error::AmountOverflow`].
    pub fn add(
        &self,
        acc: &mut CustomerAccumulator,
        customer: &CustomerId,
        at: DateTime<Utc>,
        kind: TransactionKind,
        amount: Decimal,
    ) -> Result<()> {
        if let Some(c) = acc.customer.as_ref().filter(|c| *c != customer) {
            return Err(Error::IncompatibleSummaries {
                reason: format!("a row of customer {customer} added to {c}'s"),
            });
        }
        let CustomerAccumulator { customer: own, calibration, holdout } = acc;
        self.fold_row(customer, calibration, holdout, at, kind, amount)?;
        own.get_or_insert_with(|| customer.clone());
        Ok(())
    }

    /// Adds a further row of the customer `acc` already holds (as
    /// [`SummaryRules::add`] with that customer, without a copy of the id:
    /// the hot loop of an engine's aggregate).
    ///
    /// ```
    /// # use customer_lifecycle::{CustomerAccumulator, CustomerId, SummaryOptions, TimeUnit, TransactionKind};
    /// # use customer_lifecycle::chrono::{NaiveDate, TimeZone, Utc};
    /// # use customer_lifecycle::rust_decimal::Decimal;
    /// let rules = SummaryOptions::new(TimeUnit::Day).observation_end(NaiveDate::from_ymd_opt(2024, 1, 31).unwrap()).rules()?;
    /// let at = |d| Utc.with_ymd_and_hms(2024, 1, d, 9, 0, 0).unwrap();
    /// let mut acc = CustomerAccumulator::default();
    /// assert!(rules.add_same_customer(&mut acc, at(3), TransactionKind::Order, Decimal::ONE).is_err()); // nobody yet
    /// rules.add(&mut acc, &CustomerId::from(4), at(3), TransactionKind::Order, Decimal::ONE)?;
    /// rules.add_same_customer(&mut acc, at(9), TransactionKind::Order, Decimal::TWO)?;
    /// assert_eq!(rules.summary(&acc)?.unwrap().frequency, 1);
    /// # Ok::<(), customer_lifecycle::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`SummaryRules::add`]; [`Error::InvalidArgument`] for an
    /// accumulator that holds no customer yet.
    pub fn add_same_customer(
        &self,
        acc: &mut CustomerAccumulator,
        at: DateTime<Utc>,
        kind: TransactionKind,
        amount: Decimal,
    ) -> Result<()> {
        let CustomerAccumulator { customer, calibration, holdout } = acc;
        let customer = customer.as_ref().ok_or_else(|| Error::InvalidArgument {
            name: "customer accumulator",
            reason: "holds no customer yet: add its first row with SummaryRules::add".into(),
        })?;
        self.fold_row(customer, calibration, holdout, at, kind, amount)
    }

    /// Folds one row of `customer` into the windows; on error nothing changed.
    fn fold_row(
        &self,
        customer: &CustomerId,
        calibration: &mut WindowAccumulator,
        holdout: &mut WindowAccumulator,
        at: DateTime<Utc>,
        kind: TransactionKind,
        amount: Decimal,
    ) -> Result<()> {
        let field = match kind {
            TransactionKind::Order => "order amount",
            TransactionKind::Return => "return amount",
        };
        let units = finest_units(amount).map_err(|reason| Error::InvalidAmount {
            field,
            value: amount.to_string(),
            customer: Some(customer.to_string()),
            reason,
        })?;
        let (day, in_holdout) =
            self.days.place(at.timestamp()).map_err(|day| self.days.after_end(customer.to_string(), day))?;
        let window = if in_holdout { holdout } else { calibration };
        match kind {
            TransactionKind::Order => window.add_order(self.periods.period_of_day(day), units),
            TransactionKind::Return => window.add_return(units),
        }
        .ok_or_else(|| Error::AmountOverflow { field: "per-customer totals", customer: Some(customer.to_string()) })?;
        Ok(())
    }

    /// The customer's summary row: what
    /// [`TransactionLog::summarize`](crate::TransactionLog::summarize) gives
    /// for them from the same rows and options (bit for bit, as long as a
    /// customer's sums stay below 2^53 units of 10^-6, about 9 billion).
    /// `None` for a customer without calibration orders (one first seen in
    /// the holdout, or an empty accumulator), whom the summary counts but
    /// does not list. The sums are exact at scale 6.
    ///
    /// ```
    /// # use customer_lifecycle::{CustomerAccumulator, SummaryOptions, TimeUnit};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// # let rules = SummaryOptions::new(TimeUnit::Day).observation_end(NaiveDate::from_ymd_opt(2024, 1, 31).unwrap()).rules()?;
    /// assert_eq!(rules.summary(&CustomerAccumulator::default())?, None);
    /// # Ok::<(), customer_lifecycle::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::ReturnWithoutOrder`] for returns in a window without orders
    /// (a holdout return of a customer first seen in the holdout with orders
    /// there is allowed, as in the summary).
    pub fn summary(&self, acc: &CustomerAccumulator) -> Result<Option<CustomerSummary>> {
        let (c, h) = (acc.calibration.window(), acc.holdout.window());
        let Some(customer) = acc.customer.clone() else { return Ok(None) };
        if c.orders == 0 {
            if c.return_count > 0 {
                return Err(Error::ReturnWithoutOrder { customer: customer.to_string(), date: self.window_end });
            }
            if h.orders == 0 && h.return_count > 0 {
                return Err(Error::ReturnWithoutOrder { customer: customer.to_string(), date: self.observation_end });
            }
            return Ok(None);
        }
        let (frequency, recency, age, monetary_value) =
            c.calibration_values(&self.periods, self.end_period, UNIT_SCALE);
        let holdout = self.options.calibration_end.map(|_| {
            let (frequency, monetary_value, monetary_value_per_period) = h.holdout_values(UNIT_SCALE);
            HoldoutSummary {
                frequency,
                monetary_value,
                monetary_value_per_period,
                orders: h.orders,
                gross: decimal(h.sum, MAX_AMOUNT_DECIMALS),
                returns: decimal(h.returns, MAX_AMOUNT_DECIMALS),
            }
        });
        Ok(Some(CustomerSummary {
            customer,
            frequency,
            recency,
            age,
            monetary_value,
            orders: c.orders,
            gross: decimal(c.sum, MAX_AMOUNT_DECIMALS),
            returns: decimal(c.returns, MAX_AMOUNT_DECIMALS),
            net: decimal(i128_sub(c.sum, c.returns), MAX_AMOUNT_DECIMALS),
            holdout,
        }))
    }
}
