//! Transactions → per-customer purchase summary: frequency, recency, age

use std::io::Write;
use std::sync::Arc;

use chrono::NaiveDate;
use ndarray::{Array1, ArrayView1};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::customer::{CustomerId, CustomerIndex, DenseId};
use crate::domain::money::{self, Currency};
use crate::domain::time::{self, DurationMode, Periods, TimeUnit};
use crate::error::{Error, Result};
use crate::log::transactions::{BLOCK_SHIFT, TransactionKind, TransactionLog};

/// How to summarise: unit, duration mode, ends, UTC offset and week start.
///
/// ```
/// use customer_lifecycle::{SummaryOptions, TimeUnit};
/// use customer_lifecycle::chrono::NaiveDate;
///
/// let options = SummaryOptions::new(TimeUnit::Week)
///     .calibration_end(NaiveDate::from_ymd_opt(1997, 9, 30).unwrap())
///     .observation_end(NaiveDate::from_ymd_opt(1998, 6, 30).unwrap());
/// assert_eq!(options.unit(), TimeUnit::Week);
/// // Months exist only as calendar periods:
/// assert!(SummaryOptions::new(TimeUnit::Month).periods().is_err());
/// assert!(SummaryOptions::new(TimeUnit::Month).calendar_periods().periods().is_ok());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SummaryOptions {
    unit: TimeUnit,
    mode: DurationMode,
    utc_offset_seconds: i32,
    week_start: chrono::Weekday,
    observation_end: Option<NaiveDate>,
    calibration_end: Option<NaiveDate>,
}

impl SummaryOptions {
    /// Continuous durations in `unit`, dates in UTC, no calibration split,
    /// observation end = the last transaction's date.
    pub fn new(unit: TimeUnit) -> SummaryOptions {
        SummaryOptions {
            unit,
            mode: DurationMode::Continuous,
            utc_offset_seconds: 0,
            week_start: chrono::Weekday::Mon,
            observation_end: None,
            calibration_end: None,
        }
    }

    /// Measures in calendar periods instead of continuous days ÷ unit length.
    pub fn calendar_periods(mut self) -> SummaryOptions {
        self.mode = DurationMode::Calendar;
        self
    }

    /// Sets the duration mode.
    pub fn duration_mode(mut self, mode: DurationMode) -> SummaryOptions {
        self.mode = mode;
        self
    }

    /// The last day observed (inclusive). Orders after it are errors.
    pub fn observation_end(mut self, date: NaiveDate) -> SummaryOptions {
        self.observation_end = Some(date);
        self
    }

    /// The last day of the calibration period (inclusive).
    pub fn calibration_end(mut self, date: NaiveDate) -> SummaryOptions {
        self.calibration_end = Some(date);
        self
    }

    /// Dates are calendar days in this fixed UTC offset (default UTC).
    pub fn utc_offset(mut self, offset: chrono::FixedOffset) -> SummaryOptions {
        self.utc_offset_seconds = offset.local_minus_utc();
        self
    }

    /// First day of calendar weeks (default Monday, as pandas' `W`).
    pub fn week_start(mut self, day: chrono::Weekday) -> SummaryOptions {
        self.week_start = day;
        self
    }

    /// The unit.
    pub fn unit(&self) -> TimeUnit {
        self.unit
    }

    /// The observation end, if set.
    pub fn observation_end_date(&self) -> Option<NaiveDate> {
        self.observation_end
    }

    /// The calibration end, if set.
    pub fn calibration_end_date(&self) -> Option<NaiveDate> {
        self.calibration_end
    }

    /// The validated period mapping.
    ///
    /// # Errors
    /// As [`Periods::new`]; also [`Error::InvalidArgument`] for an offset
    /// beyond ±24 h.
    pub fn periods(&self) -> Result<Periods> {
        let offset = chrono::FixedOffset::east_opt(self.utc_offset_seconds).ok_or_else(|| Error::InvalidArgument {
            name: "utc offset",
            reason: format!("{} s", self.utc_offset_seconds),
        })?;
        Ok(Periods::new(self.unit, self.mode)?.with_utc_offset(offset).with_week_start(self.week_start))
    }

    fn validate(&self) -> Result<Periods> {
        let periods = self.periods()?;
        if let (Some(cal), Some(obs)) = (self.calibration_end, self.observation_end) {
            if cal >= obs {
                return Err(Error::CalibrationAfterObservationEnd { calibration_end: cal, observation_end: obs });
            }
        }
        Ok(periods)
    }
}

/// What one customer did inside one window (calibration or holdout), in
/// mergeable form.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
struct Window {
    /// First purchase period (meaningless while `periods == 0`).
    first: i32,
    /// Last purchase period.
    last: i32,
    /// Distinct purchase periods.
    periods: u32,
    /// Order rows.
    orders: u32,
    /// Sum of the orders in the first period.
    first_sum: i64,
    /// Sum of all orders.
    sum: i64,
    /// Sum of returns.
    returns: i64,
    /// Return rows.
    return_count: u32,
}

/// Outcome flags of the inner loop.
const OUT_OF_ORDER: u8 = 1;
const OVERFLOW: u8 = 2;

impl Window {
    /// Adds an order in period `p`; periods must arrive non-decreasing.
    #[inline(always)]
    fn add_order(&mut self, p: i32, amount: i64) -> u8 {
        let mut flags = 0;
        if self.periods == 0 {
            self.first = p;
            self.last = p;
            self.periods = 1;
            self.first_sum = amount;
        } else if p == self.last {
            if p == self.first {
                let (s, o) = self.first_sum.overflowing_add(amount);
                self.first_sum = s;
                flags |= o as u8 * OVERFLOW;
            }
        } else if p > self.last {
            self.last = p;
            self.periods += 1;
        } else {
            return OUT_OF_ORDER;
        }
        self.orders = self.orders.wrapping_add(1);
        let (s, o) = self.sum.overflowing_add(amount);
        self.sum = s;
        flags | (o as u8 * OVERFLOW)
    }

    #[inline(always)]
    fn add_return(&mut self, amount: i64) -> u8 {
        self.return_count = self.return_count.wrapping_add(1);
        let (s, o) = self.returns.overflowing_add(amount);
        self.returns = s;
        o as u8 * OVERFLOW
    }

    /// The two windows, the one whose periods start (then end) earlier first.
    fn ordered<'a>(&'a self, other: &'a Window) -> (&'a Window, &'a Window) {
        if (self.first, self.last) <= (other.first, other.last) { (self, other) } else { (other, self) }
    }

    /// Can `other` be merged into `self` exactly? (Their purchase periods
    /// must not interleave: they may share at most one boundary period.)
    fn mergeable(&self, other: &Window) -> bool {
        if self.periods == 0 || other.periods == 0 {
            return true;
        }
        let (lo, hi) = self.ordered(other);
        lo.last <= hi.first
    }

    /// Merges `other` (already checked with [`Window::mergeable`]); `None` on overflow.
    fn merge(&self, other: &Window) -> Option<Window> {
        let returns = self.returns.checked_add(other.returns)?;
        let return_count = self.return_count.checked_add(other.return_count)?;
        if other.periods == 0 {
            return Some(Window { returns, return_count, ..*self });
        }
        if self.periods == 0 {
            return Some(Window { returns, return_count, ..*other });
        }
        let (lo, hi) = self.ordered(other);
        let shared = u32::from(lo.last == hi.first);
        let first_sum = if hi.first == lo.first { lo.first_sum.checked_add(hi.first_sum)? } else { lo.first_sum };
        Some(Window {
            first: lo.first,
            last: hi.last,
            periods: lo.periods.checked_add(hi.periods)? - shared,
            orders: lo.orders.checked_add(hi.orders)?,
            first_sum,
            sum: lo.sum.checked_add(hi.sum)?,
            returns,
            return_count,
        })
    }

    fn rescale(&mut self, factor: i64) -> Option<()> {
        self.first_sum = self.first_sum.checked_mul(factor)?;
        self.sum = self.sum.checked_mul(factor)?;
        self.returns = self.returns.checked_mul(factor)?;
        Some(())
    }
}

/// Version of the serialised form of [`PartialSummary`] and
/// [`PurchaseSummary`]; loading another version is an error.
pub const FORMAT_VERSION: u32 = 1;

fn corrupt(what: impl Into<String>) -> Error {
    Error::IncompatibleSummaries { reason: what.into() }
}

fn check_version(version: u32) -> Result<()> {
    if version != FORMAT_VERSION {
        return Err(corrupt(format!("format version {version}, this build reads version {FORMAT_VERSION}")));
    }
    Ok(())
}

validated_serde!(PartialSummary);
validated_serde!(PurchaseSummary);

/// A summary still open for merging: accumulate shards of a log
/// independently, [`merge`](PartialSummary::merge) them in any order and
/// grouping, then [`finish`](PartialSummary::finish).
///
/// Merging is exact when, for every customer, the shards' purchase periods
/// do not interleave — which holds whenever shards split the data by
/// customer, by contiguous time ranges, or both. Interleaving periods (say,
/// rows dealt out round-robin) cannot be merged exactly and give
/// [`Error::OverlappingShards`] rather than a wrong count.
///
/// ```
/// use customer_lifecycle::{Currency, CustomerId, Money, SummaryOptions, TimeUnit, Transaction, TransactionLog};
/// use customer_lifecycle::chrono::{TimeZone, Utc};
///
/// let day = |d| Utc.with_ymd_and_hms(2024, 1, d, 12, 0, 0).unwrap();
/// let usd = |s| Money::parse(s, Currency::USD);
/// let mut january = TransactionLog::new(Currency::USD);
/// january.push(Transaction::order(CustomerId::from(1), day(2), usd("10")?))?;
/// let mut later = TransactionLog::new(Currency::USD);
/// later.push(Transaction::order(CustomerId::from(1), day(20), usd("30")?))?;
///
/// let options = SummaryOptions::new(TimeUnit::Day);
/// let mut partial = january.partial_summary(&options)?;
/// partial.merge(&later.partial_summary(&options)?)?;
/// let summary = partial.finish()?;
/// assert_eq!(summary.row(0).unwrap().frequency, 1);
/// assert_eq!(summary.row(0).unwrap().recency, 18.0);
/// assert_eq!(summary.row(0).unwrap().monetary_value, 30.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct PartialSummary {
    format_version: u32,
    options: SummaryOptions,
    currency: Currency,
    scale: u32,
    /// Customer ids by dense position (shared with the log's index).
    ids: Arc<Vec<CustomerId>>,
    calibration: Vec<Window>,
    holdout: Option<Vec<Window>>,
    last_day: Option<i32>,
}

impl PartialSummary {
    /// Accumulates a whole log, block by block of dense customer ids (each
    /// block's state fits in L2, see [`TransactionLog`]).
    fn from_log(log: &TransactionLog, options: &SummaryOptions) -> Result<PartialSummary> {
        let periods = options.validate()?;
        let n = log.customers().len();
        let mut partial = PartialSummary {
            format_version: FORMAT_VERSION,
            options: *options,
            currency: log.currency(),
            scale: log.scale(),
            ids: log.customers().shared_ids(),
            calibration: vec![Window::default(); n],
            holdout: options.calibration_end.map(|_| vec![Window::default(); n]),
            last_day: None,
        };
        let offset = periods.utc_offset().local_minus_utc();
        let obs_day = options.observation_end.map_or(i32::MAX, time::day_number);
        let cal_day = options.calibration_end.map_or(i32::MAX, time::day_number);
        let mut max_day = i32::MIN;
        let mut overflow = false;
        for (b, block) in log.blocks().iter().enumerate() {
            let base = b << BLOCK_SHIFT;
            let end = (base + (1 << BLOCK_SHIFT)).min(n);
            let calibration = &mut partial.calibration[base..end];
            let mut holdout = partial.holdout.as_mut().map(|h| &mut h[base..end]);
            let mut fold = |i: usize, calibration: &mut [Window], holdout: Option<&mut [Window]>| -> Result<u8> {
                let day = time::day_number_of_timestamp(block.at[i], offset);
                if day > obs_day {
                    let dense = base + usize::from(block.offset[i]);
                    return Err(Error::AfterObservationEnd {
                        customer: partial.ids.get(dense).map(|id| id.to_string()).unwrap_or_default(),
                        date: time::date_of_day_number(day),
                        observation_end: time::date_of_day_number(obs_day),
                    });
                }
                max_day = max_day.max(day);
                let local = usize::from(block.offset[i]);
                let window = match holdout {
                    Some(h) if day > cal_day => &mut h[local],
                    _ => &mut calibration[local],
                };
                Ok(match block.kind[i] {
                    TransactionKind::Order => window.add_order(periods.period_of_day(day), block.amount[i]),
                    TransactionKind::Return => window.add_return(block.amount[i]),
                })
            };
            let mut flags = 0u8;
            for i in 0..block.len() {
                flags |= fold(i, calibration, holdout.as_deref_mut())?;
            }
            if flags & OUT_OF_ORDER != 0 {
                // Some customer's rows in this block are not in time order:
                // fold the block again in time order.
                calibration.iter_mut().for_each(|w| *w = Window::default());
                if let Some(h) = holdout.as_deref_mut() {
                    h.iter_mut().for_each(|w| *w = Window::default());
                }
                let mut order: Vec<u32> = (0..block.len() as u32).collect();
                order.sort_by_key(|&i| block.at[i as usize]);
                flags = 0;
                for &i in &order {
                    flags |= fold(i as usize, calibration, holdout.as_deref_mut())?;
                }
            }
            overflow |= flags & OVERFLOW != 0;
        }
        if overflow {
            return Err(Error::AmountOverflow { field: "per-customer totals", customer: None });
        }
        if !log.is_empty() {
            partial.last_day = Some(max_day);
        }
        Ok(partial)
    }

    /// The options it was built with.
    pub fn options(&self) -> &SummaryOptions {
        &self.options
    }

    fn check_consistent(&self) -> Result<()> {
        check_version(self.format_version)?;
        self.options.validate()?;
        let n = self.ids.len();
        if self.calibration.len() != n || self.holdout.as_ref().is_some_and(|h| h.len() != n) {
            return Err(corrupt("state and customer ids differ in length"));
        }
        if self.holdout.is_some() != self.options.calibration_end.is_some() {
            return Err(corrupt("holdout state does not match the calibration end"));
        }
        Ok(())
    }

    /// Number of customers seen so far.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when no customer was seen.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Merges another partial summary into this one. On error `self` is unchanged.
    ///
    /// # Errors
    /// [`Error::IncompatibleSummaries`] when options or currency differ;
    /// [`Error::OverlappingShards`] when a customer's purchase periods
    /// interleave between the two; [`Error::AmountOverflow`].
    pub fn merge(&mut self, other: &PartialSummary) -> Result<()> {
        self.check_consistent()?;
        other.check_consistent()?;
        if self.options != other.options {
            return Err(Error::IncompatibleSummaries { reason: "summary options differ".into() });
        }
        if self.currency != other.currency {
            return Err(Error::IncompatibleSummaries {
                reason: format!("currencies differ ({} and {})", self.currency, other.currency),
            });
        }
        let overflow = || Error::AmountOverflow { field: "per-customer totals", customer: None };
        // Check first, so that a failed merge leaves `self` untouched.
        let (self_factor, other_factor) = match self.scale.cmp(&other.scale) {
            std::cmp::Ordering::Less => (10i64.checked_pow(other.scale - self.scale).ok_or_else(overflow)?, 1),
            _ => (1, 10i64.checked_pow(self.scale - other.scale).ok_or_else(overflow)?),
        };
        if self_factor != 1 {
            for w in self.calibration.iter().chain(self.holdout.iter().flatten()) {
                {
                    let mut c = *w;
                    c.rescale(self_factor)
                }
                .ok_or_else(overflow)?;
            }
        }
        let mut index = CustomerIndex::from(Arc::unwrap_or_clone(std::mem::take(&mut self.ids)));
        let result = self.merge_with_index(other, &mut index, self_factor, other_factor);
        self.ids = Arc::new(Vec::from(index));
        result
    }

    fn merge_with_index(
        &mut self,
        other: &PartialSummary,
        index: &mut CustomerIndex,
        self_factor: i64,
        other_factor: i64,
    ) -> Result<()> {
        let overflow = || Error::AmountOverflow { field: "per-customer totals", customer: None };
        let scaled = |w: &Window, f: i64| -> Result<Window> {
            let mut w = *w;
            w.rescale(f).ok_or_else(overflow)?;
            Ok(w)
        };
        let mut merged: Vec<(Option<DenseId>, Window, Option<Window>)> = Vec::with_capacity(other.len());
        for (j, id) in other.ids.iter().enumerate() {
            let target = index.get(id);
            let oc = scaled(&other.calibration[j], other_factor)?;
            let oh = match &other.holdout {
                Some(h) => Some(scaled(&h[j], other_factor)?),
                None => None,
            };
            let (c, h) = match target {
                Some(t) => {
                    let sc = scaled(&self.calibration[t.index()], self_factor)?;
                    let conflict = |a: &Window, b: &Window| -> Result<Window> {
                        if !a.mergeable(b) {
                            return Err(Error::OverlappingShards { customer: id.to_string() });
                        }
                        a.merge(b).ok_or(Error::AmountOverflow {
                            field: "per-customer totals",
                            customer: Some(id.to_string()),
                        })
                    };
                    let c = conflict(&sc, &oc)?;
                    let h = match (&self.holdout, oh) {
                        (Some(sh), Some(oh)) => Some(conflict(&scaled(&sh[t.index()], self_factor)?, &oh)?),
                        _ => None,
                    };
                    (c, h)
                }
                None => (oc, oh),
            };
            merged.push((target, c, h));
        }
        // Apply.
        if self_factor != 1 {
            for w in self.calibration.iter_mut().chain(self.holdout.iter_mut().flatten()) {
                w.rescale(self_factor).ok_or_else(overflow)?;
            }
            self.scale = other.scale;
        }
        for ((target, c, h), id) in merged.into_iter().zip(other.ids.iter()) {
            let t = match target {
                Some(t) => t,
                None => {
                    let t = index.insert(id.clone())?;
                    self.calibration.push(Window::default());
                    if let Some(hv) = self.holdout.as_mut() {
                        hv.push(Window::default());
                    }
                    t
                }
            };
            self.calibration[t.index()] = c;
            if let (Some(hv), Some(h)) = (self.holdout.as_mut(), h) {
                hv[t.index()] = h;
            }
        }
        self.last_day = match (self.last_day, other.last_day) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        Ok(())
    }

    /// Computes the per-customer summary.
    ///
    /// # Errors
    /// [`Error::Empty`] when no order was seen; [`Error::CalibrationAfterObservationEnd`]
    /// when the (default) observation end is not after the calibration end;
    /// [`Error::ReturnWithoutOrder`] for a customer with returns but no order.
    pub fn finish(&self) -> Result<PurchaseSummary> {
        self.check_consistent()?;
        let periods = self.options.validate()?;
        let last_day = self.last_day.ok_or(Error::Empty { what: "transaction log" })?;
        let observation_end = self.options.observation_end.unwrap_or_else(|| time::date_of_day_number(last_day));
        if let Some(cal) = self.options.calibration_end {
            if cal >= observation_end {
                return Err(Error::CalibrationAfterObservationEnd { calibration_end: cal, observation_end });
            }
        }
        let calibration_end = self.options.calibration_end;
        let window_end = calibration_end.unwrap_or(observation_end);
        let end_period = periods.period_of_date(window_end);
        let unit_scale = 10f64.powi(self.scale as i32);

        // Rows come out in customer-id order.
        let order = IdOrder::of(&self.ids);
        let n = self.ids.len();
        let mut c = Columns::with_capacity(n);
        let mut ids = Vec::with_capacity(n);
        let mut h_columns = self.holdout.as_ref().map(|_| HoldoutColumns::with_capacity(n));
        let mut first_seen_in_holdout = 0;
        for k in 0..n {
            let i = order.position(k);
            let w = &self.calibration[i];
            let h = self.holdout.as_ref().map(|h| &h[i]);
            if w.orders == 0 {
                let id = &self.ids[i];
                if w.return_count > 0 {
                    return Err(Error::ReturnWithoutOrder { customer: id.to_string(), date: window_end });
                }
                match h {
                    Some(h) if h.orders > 0 => first_seen_in_holdout += 1,
                    Some(h) if h.return_count > 0 => {
                        return Err(Error::ReturnWithoutOrder { customer: id.to_string(), date: observation_end });
                    }
                    _ => {}
                }
                continue;
            }
            let frequency = w.periods.saturating_sub(1);
            let repeat = w.sum.wrapping_sub(w.first_sum);
            ids.push(order.id(k, &self.ids));
            c.frequency.push(f64::from(frequency));
            c.recency.push(periods.span(w.first, w.last));
            c.age.push(periods.span(w.first, end_period));
            c.monetary_value.push(if frequency == 0 { 0.0 } else { repeat as f64 / unit_scale / f64::from(frequency) });
            c.orders.push(w.orders);
            c.gross.push(w.sum);
            c.returns.push(w.returns);
            if let (Some(hc), Some(h)) = (h_columns.as_mut(), h) {
                let gross = h.sum as f64 / unit_scale;
                hc.frequency.push(f64::from(h.periods));
                hc.monetary_value.push(if h.orders == 0 { 0.0 } else { gross / f64::from(h.orders) });
                hc.monetary_value_per_period.push(if h.periods == 0 { 0.0 } else { gross / f64::from(h.periods) });
                hc.orders.push(h.orders);
                hc.gross.push(h.sum);
                hc.returns.push(h.returns);
            }
        }
        c.ids = Arc::new(ids);
        if c.ids.is_empty() {
            return Err(Error::Empty { what: "orders in the calibration period" });
        }
        let duration_holdout =
            calibration_end.map(|c| periods.span(periods.period_of_date(c), periods.period_of_date(observation_end)));
        Ok(PurchaseSummary {
            format_version: FORMAT_VERSION,
            currency: self.currency,
            scale: self.scale,
            periods,
            observation_end,
            calibration_end,
            duration_holdout,
            customers_first_seen_in_holdout: first_seen_in_holdout,
            columns: c,
            holdout: h_columns,
        })
    }
}

fn i128_sub(a: i64, b: i64) -> i128 {
    i128::from(a) - i128::from(b)
}

fn decimal(units: impl Into<i128>, scale: u32) -> Decimal {
    // Sums of i64 units at scale ≤ 18 always fit a Decimal (96-bit mantissa).
    money::from_minor_units(units.into(), scale).unwrap_or(Decimal::MAX)
}

/// The customer-id order of a summary's dense positions.
enum IdOrder {
    /// The positions are already in order.
    Identity,
    /// Numeric ids within a 2^32 range: sorted `(id − min) << 32 | position`.
    Packed { min: i64, packed: Vec<u64> },
    /// Positions in order.
    Positions(Vec<u32>),
}

impl IdOrder {
    /// Sorts; numeric ids by an LSD radix sort over their range.
    fn of(ids: &[CustomerId]) -> IdOrder {
        if ids.windows(2).all(|w| w[0] <= w[1]) {
            return IdOrder::Identity;
        }
        let mut bounds = Some((i64::MAX, i64::MIN));
        for id in ids {
            match (id, bounds.as_mut()) {
                (CustomerId::Number(n), Some((lo, hi))) => {
                    *lo = (*lo).min(*n);
                    *hi = (*hi).max(*n);
                }
                _ => {
                    bounds = None;
                    break;
                }
            }
        }
        match bounds {
            Some((min, max)) if (i128::from(max) - i128::from(min)) < (1 << 32) => {
                let mut packed: Vec<u64> = ids
                    .iter()
                    .enumerate()
                    .map(|(i, id)| match id {
                        CustomerId::Number(n) => ((n.wrapping_sub(min) as u64) << 32) | i as u64,
                        CustomerId::Text(_) => i as u64,
                    })
                    .collect();
                let bits = 64 - ((max.wrapping_sub(min)) as u64).leading_zeros();
                crate::math::sort::radix_sort_by_key(&mut packed, |&v| v, 32, 32 + bits);
                IdOrder::Packed { min, packed }
            }
            _ => {
                let mut positions: Vec<u32> = (0..ids.len() as u32).collect();
                positions.sort_unstable_by(|&a, &b| ids[a as usize].cmp(&ids[b as usize]));
                IdOrder::Positions(positions)
            }
        }
    }

    /// The dense position of the `k`-th customer in id order.
    #[inline]
    fn position(&self, k: usize) -> usize {
        match self {
            IdOrder::Identity => k,
            IdOrder::Packed { packed, .. } => (packed[k] & 0xFFFF_FFFF) as usize,
            IdOrder::Positions(p) => p[k] as usize,
        }
    }

    /// The `k`-th customer id in order (for packed numbers, without reading `ids`).
    #[inline]
    fn id(&self, k: usize, ids: &[CustomerId]) -> CustomerId {
        match self {
            IdOrder::Packed { min, packed } => CustomerId::Number(min.wrapping_add((packed[k] >> 32) as i64)),
            _ => ids[self.position(k)].clone(),
        }
    }
}

impl TransactionLog {
    /// Summarises the log: one row per customer, sorted by customer id.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Money, SummaryOptions, TimeUnit, Transaction, TransactionLog};
    /// use customer_lifecycle::chrono::{NaiveDate, TimeZone, Utc};
    ///
    /// let mut log = TransactionLog::new(Currency::USD);
    /// for (day, amount) in [(1, "20"), (1, "5"), (8, "10"), (22, "30")] {
    ///     let at = Utc.with_ymd_and_hms(2024, 1, day, 12, 0, 0).unwrap();
    ///     log.push(Transaction::order(CustomerId::from(7), at, Money::parse(amount, Currency::USD)?))?;
    /// }
    /// let end = NaiveDate::from_ymd_opt(2024, 1, 29).unwrap();
    /// let summary = log.summarize(&SummaryOptions::new(TimeUnit::Week).observation_end(end))?;
    /// let row = summary.row(0).unwrap();
    /// assert_eq!(row.frequency, 2);          // Jan 8 and Jan 22; Jan 1 is the first purchase
    /// assert_eq!(row.recency, 3.0);          // 21 days
    /// assert_eq!(row.age, 4.0);              // 28 days
    /// assert_eq!(row.monetary_value, 20.0);  // mean of 10 and 30
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// Invalid options ([`Error::InvalidArgument`],
    /// [`Error::CalibrationAfterObservationEnd`]), an order after the
    /// observation end ([`Error::AfterObservationEnd`]), an empty log
    /// ([`Error::Empty`]), returns without orders
    /// ([`Error::ReturnWithoutOrder`]), totals overflowing.
    pub fn summarize(&self, options: &SummaryOptions) -> Result<PurchaseSummary> {
        self.partial_summary(options)?.finish()
    }

    /// Accumulates the log into a [`PartialSummary`] for merging with others.
    ///
    /// # Errors
    /// As [`TransactionLog::summarize`], except those only [`PartialSummary::finish`] can tell.
    pub fn partial_summary(&self, options: &SummaryOptions) -> Result<PartialSummary> {
        PartialSummary::from_log(self, options)
    }
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

/// Per-customer purchase summary of a transaction log, sorted by customer id.
///
/// Built by [`TransactionLog::summarize`] or [`PartialSummary::finish`]; see
/// the [module docs](super) for the definitions. Stored by column: the
/// model inputs are zero-copy [`ArrayView1`]s ([`frequency`](Self::frequency),
/// [`recency`](Self::recency), [`age`](Self::age),
/// [`monetary_value`](Self::monetary_value)), and [`row`](Self::row),
/// [`rows`](Self::rows) and [`get`](Self::get) give one customer at a time.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(remote = "Self")]
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
        Ok(())
    }

    /// Number of customers (rows).
    pub fn len(&self) -> usize {
        self.columns.ids.len()
    }

    /// True when there are no rows (never, for a finished summary).
    pub fn is_empty(&self) -> bool {
        self.columns.ids.is_empty()
    }

    /// The customer ids, sorted; position `k` is row `k`.
    pub fn ids(&self) -> &[CustomerId] {
        &self.columns.ids
    }

    /// The ids, shared without copying.
    pub(crate) fn shared_ids(&self) -> Arc<Vec<CustomerId>> {
        Arc::clone(&self.columns.ids)
    }

    /// Row `k` (in customer-id order), or `None` past the end.
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
    pub fn rows(&self) -> impl ExactSizeIterator<Item = CustomerSummary> + '_ {
        (0..self.len()).map(move |k| self.build_row(k))
    }

    /// The row of one customer.
    pub fn get(&self, customer: &CustomerId) -> Option<CustomerSummary> {
        self.position(customer).and_then(|k| self.row(k))
    }

    /// The row number of one customer.
    pub fn position(&self, customer: &CustomerId) -> Option<usize> {
        self.columns.ids.binary_search(customer).ok()
    }

    /// The currency of the totals.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// Unit, duration mode, offset and week start.
    pub fn periods(&self) -> &Periods {
        &self.periods
    }

    /// The observation end (inclusive).
    pub fn observation_end(&self) -> NaiveDate {
        self.observation_end
    }

    /// The calibration end (inclusive), if split.
    pub fn calibration_end(&self) -> Option<NaiveDate> {
        self.calibration_end
    }

    /// Length of the holdout period in the unit, if split.
    pub fn duration_holdout(&self) -> Option<f64> {
        self.duration_holdout
    }

    /// Customers whose first order falls in the holdout period; they have no
    /// calibration data and are not among the rows (as in lifetimes).
    pub fn customers_first_seen_in_holdout(&self) -> usize {
        self.customers_first_seen_in_holdout
    }

    /// The `frequency` (`x`) column.
    pub fn frequency(&self) -> ArrayView1<'_, f64> {
        ArrayView1::from(&self.columns.frequency[..])
    }

    /// The `recency` (`t_x`) column.
    pub fn recency(&self) -> ArrayView1<'_, f64> {
        ArrayView1::from(&self.columns.recency[..])
    }

    /// The `age` (`T`) column.
    pub fn age(&self) -> ArrayView1<'_, f64> {
        ArrayView1::from(&self.columns.age[..])
    }

    /// The `monetary_value` column.
    pub fn monetary_value(&self) -> ArrayView1<'_, f64> {
        ArrayView1::from(&self.columns.monetary_value[..])
    }

    /// Orders per customer (every order row of the window).
    pub fn orders(&self) -> &[u32] {
        &self.columns.orders
    }

    /// Net spend (gross − returns) per customer, as the nearest `f64`s.
    pub fn net_spend(&self) -> Array1<f64> {
        self.net_spend_iter().collect()
    }

    /// [`PurchaseSummary::net_spend`] without allocating.
    pub(crate) fn net_spend_iter(&self) -> impl ExactSizeIterator<Item = f64> + '_ {
        let unit = 10f64.powi(self.scale as i32);
        self.columns.gross.iter().zip(&self.columns.returns).map(move |(g, r)| (g - r) as f64 / unit)
    }

    /// Removes a customer's row (right to erasure); `true` when there was one.
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
    pub fn frequency_holdout(&self) -> Option<ArrayView1<'_, f64>> {
        self.holdout.as_ref().map(|h| ArrayView1::from(&h.frequency[..]))
    }

    /// The `monetary_value_holdout` column (lifetimes' mean of raw holdout orders), if split.
    pub fn monetary_value_holdout(&self) -> Option<ArrayView1<'_, f64>> {
        self.holdout.as_ref().map(|h| ArrayView1::from(&h.monetary_value[..]))
    }

    /// Writes the summary as CSV with lifetimes' column names:
    /// `customer_id,frequency,recency,T,monetary_value` without a
    /// calibration end; with one, `customer_id,frequency_cal,recency_cal,
    /// T_cal,monetary_value_cal,frequency_holdout,monetary_value_holdout,
    /// duration_holdout`. Floats are written in their shortest exact form.
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
    use crate::log::transactions::Transaction;
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
