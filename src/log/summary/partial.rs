//! The mergeable accumulator: per-customer windows, [`PartialSummary`], and
//! the log's `partial_summary` and `summarize`.

use super::*;
use crate::domain::customer::{CustomerId, CustomerIndex, DenseId};
use crate::domain::money::Currency;
use crate::domain::time;
use crate::error::{Error, Result};
use crate::log::transactions::{BlockRow, CUSTOMERS_PER_BLOCK, LogBlock, TransactionKind, TransactionLog};
use crate::math::parallel::{cores, join};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What one customer did inside one window (calibration or holdout), in
/// mergeable form.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub(super) struct Window {
    /// First purchase period (meaningless while `periods == 0`).
    pub(super) first: i32,
    /// Last purchase period.
    pub(super) last: i32,
    /// Distinct purchase periods.
    pub(super) periods: u32,
    /// Order rows.
    pub(super) orders: u32,
    /// Sum of the orders in the first period.
    pub(super) first_sum: i64,
    /// Sum of all orders.
    pub(super) sum: i64,
    /// Sum of returns.
    pub(super) returns: i64,
    /// Return rows.
    pub(super) return_count: u32,
}

/// Outcome flags of the inner loop.
const OUT_OF_ORDER: u8 = 1;
const OVERFLOW: u8 = 2;

impl Window {
    /// Adds an order in period `p`; periods must arrive non-decreasing.
    #[inline(always)]
    fn add_order(&mut self, p: i32, amount: i64) -> u8 {
        // Why flags and not a `Result`: this is the innermost loop of the
        // summary (tens of millions of calls). Overflow and an out-of-order
        // period are rare, so they are or-ed into a byte and dealt with once
        // per block: the block is folded again in time order, or the whole
        // summary fails with a typed error.
        let mut flags = 0;
        if self.periods == 0 {
            self.first = p;
            self.last = p;
            self.periods = 1;
            self.first_sum = amount;
        } else if p == self.last {
            // Same period as the last order: no new purchase period; the
            // first period's sum grows while we are still in it (it is
            // excluded from the monetary value, lifetimes' definition).
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

    /// The calibration row's frequency (purchase periods − 1), recency and
    /// age from the first period, and monetary value (the mean of the
    /// repeat periods' sums), with sums in units of `1 / unit_scale`.
    #[inline]
    pub(super) fn calibration_values(
        &self,
        periods: &Periods,
        end_period: i32,
        unit_scale: f64,
    ) -> (u32, f64, f64, f64) {
        let frequency = self.periods.saturating_sub(1);
        let repeat = self.sum.wrapping_sub(self.first_sum);
        let monetary_value = if frequency == 0 { 0.0 } else { repeat as f64 / unit_scale / f64::from(frequency) };
        (frequency, periods.span(self.first, self.last), periods.span(self.first, end_period), monetary_value)
    }

    /// The holdout row's distinct purchase periods, the mean of the raw
    /// orders (lifetimes) and the mean per period.
    #[inline]
    pub(super) fn holdout_values(&self, unit_scale: f64) -> (u32, f64, f64) {
        let gross = self.sum as f64 / unit_scale;
        let per_order = if self.orders == 0 { 0.0 } else { gross / f64::from(self.orders) };
        let per_period = if self.periods == 0 { 0.0 } else { gross / f64::from(self.periods) };
        (self.periods, per_order, per_period)
    }

    /// Multiplies the sums by `factor` = 10^k, to bring two shards stored at
    /// different decimal scales to the finer one before merging.
    fn rescale(&mut self, factor: i64) -> Option<()> {
        self.first_sum = self.first_sum.checked_mul(factor)?;
        self.sum = self.sum.checked_mul(factor)?;
        self.returns = self.returns.checked_mul(factor)?;
        Some(())
    }
}

validated_serde! {
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
#[derive(Clone, Debug)]
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
}

/// Where a row falls: its day on the options' clock, and its window
/// (calibration or holdout), or after the observation end — the one rule
/// of the log's summary and of [`SummaryRules`](super::SummaryRules).
#[derive(Clone, Copy, Debug)]
pub(super) struct RowDays {
    clock: time::Clock,
    obs_day: i32,
    cal_day: i32,
}

impl RowDays {
    pub(super) fn of(options: &SummaryOptions, periods: &Periods) -> RowDays {
        RowDays {
            clock: periods.clock(),
            obs_day: options.observation_end.map_or(i32::MAX, time::day_number),
            cal_day: options.calibration_end.map_or(i32::MAX, time::day_number),
        }
    }

    /// The day of a row at `unix_seconds` and whether it is in the
    /// holdout; `Err(day)` for a row after the observation end.
    #[inline(always)]
    pub(super) fn place(&self, unix_seconds: i64) -> std::result::Result<(i32, bool), i32> {
        let day = self.clock.day_number(unix_seconds);
        if day > self.obs_day { Err(day) } else { Ok((day, day > self.cal_day)) }
    }

    /// The refusal of a row of `customer` on `day`, after the observation end.
    pub(super) fn after_end(&self, customer: String, day: i32) -> Error {
        Error::AfterObservationEnd {
            customer,
            date: time::date_of_day_number(day),
            observation_end: time::date_of_day_number(self.obs_day),
        }
    }
}

/// What folding the log's rows into windows needs.
struct Fold<'a> {
    periods: Periods,
    days: RowDays,
    ids: &'a [CustomerId],
}

impl Fold<'_> {
    /// [`Fold::blocks`] in up to `parts` contiguous parts (halves of
    /// halves, each of at least two blocks) on the cores.
    fn split(
        &self,
        blocks: &[LogBlock<'_>],
        first: usize,
        calibration: &mut [Window],
        holdout: Option<&mut [Window]>,
        parts: usize,
    ) -> Result<(i32, bool)> {
        if parts < 2 || blocks.len() < 4 {
            return self.blocks(blocks, first, calibration, holdout);
        }
        let (early, late) = blocks.split_at(blocks.len() / 2);
        let split = late[0].first_customer();
        let (cal_early, cal_late) = calibration.split_at_mut(split - first);
        let (hold_early, hold_late) = match holdout {
            Some(h) => {
                let (a, b) = h.split_at_mut(split - first);
                (Some(a), Some(b))
            }
            None => (None, None),
        };
        let (a, b) = join(
            true,
            || self.split(early, first, cal_early, hold_early, parts / 2),
            || self.split(late, split, cal_late, hold_late, parts - parts / 2),
        );
        let ((day_a, overflow_a), (day_b, overflow_b)) = (a?, b?);
        Ok((day_a.max(day_b), overflow_a || overflow_b))
    }

    /// Folds `blocks` (consecutive, the first starting at customer
    /// `first`) into the windows of their customers (`calibration[0]` is
    /// customer `first`'s); the latest day seen and whether a total
    /// overflowed.
    fn blocks(
        &self,
        blocks: &[LogBlock<'_>],
        first: usize,
        calibration: &mut [Window],
        mut holdout: Option<&mut [Window]>,
    ) -> Result<(i32, bool)> {
        let (periods, days) = (&self.periods, self.days);
        let mut max_day = i32::MIN;
        let mut overflow = false;
        for block in blocks {
            let base = block.first_customer();
            let (lo, hi) = (base - first, (base - first + CUSTOMERS_PER_BLOCK).min(calibration.len()));
            let calibration = &mut calibration[lo..hi];
            let mut holdout = holdout.as_deref_mut().map(|h| &mut h[lo..hi]);
            let mut fold = |row: BlockRow, calibration: &mut [Window], holdout: Option<&mut [Window]>| -> Result<u8> {
                let (day, in_holdout) = days.place(row.at).map_err(|day| {
                    days.after_end(self.ids.get(base + row.local).map(|id| id.to_string()).unwrap_or_default(), day)
                })?;
                max_day = max_day.max(day);
                let window = match holdout {
                    Some(h) if in_holdout => &mut h[row.local],
                    _ => &mut calibration[row.local],
                };
                Ok(match row.kind {
                    TransactionKind::Order => window.add_order(periods.period_of_day(day), row.amount),
                    TransactionKind::Return => window.add_return(row.amount),
                })
            };
            let mut flags = 0u8;
            for row in block.rows() {
                flags |= fold(row, calibration, holdout.as_deref_mut())?;
            }
            if flags & OUT_OF_ORDER != 0 {
                // Some customer's rows in this block are not in time order:
                // fold the block again in time order.
                calibration.iter_mut().for_each(|w| *w = Window::default());
                if let Some(h) = holdout.as_deref_mut() {
                    h.iter_mut().for_each(|w| *w = Window::default());
                }
                let mut order: Vec<u32> = (0..block.len() as u32).collect();
                let times = block.times();
                order.sort_by_key(|&i| times[i as usize]);
                flags = 0;
                for &i in &order {
                    flags |= fold(block.row(i as usize), calibration, holdout.as_deref_mut())?;
                }
            }
            overflow |= flags & OVERFLOW != 0;
        }
        Ok((max_day, overflow))
    }
}

impl PartialSummary {
    /// Accumulates a whole log, block by block of dense customer ids (each
    /// block's state fits in L2, see [`TransactionLog`]).
    fn from_log(log: &TransactionLog, options: &SummaryOptions) -> Result<PartialSummary> {
        PartialSummary::from_log_on(log, options, cores())
    }

    /// [`PartialSummary::from_log`] in up to `threads` parts on the cores.
    fn from_log_on(log: &TransactionLog, options: &SummaryOptions, threads: usize) -> Result<PartialSummary> {
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
        let fold = Fold { periods, days: RowDays::of(options, &periods), ids: &partial.ids };
        let blocks: Vec<LogBlock<'_>> = log.blocks().collect();
        // Blocks are independent: on a large log they are folded in
        // contiguous parts on the cores, each into its own part of the
        // windows. The result, and the error (the first in block order),
        // are the same.
        let (max_day, overflow) =
            fold.split(&blocks, 0, &mut partial.calibration, partial.holdout.as_deref_mut(), threads)?;
        if overflow {
            return Err(Error::AmountOverflow { field: "per-customer totals", customer: None });
        }
        if !log.is_empty() {
            partial.last_day = Some(max_day);
        }
        Ok(partial)
    }

    /// The options it was built with.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// let options = SummaryOptions::new(TimeUnit::Week);
    /// let log = TransactionLog::cdnow_sample()?;
    /// let partial = log.partial_summary(&options)?;
    /// assert_eq!(partial.options(), &options);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
        if self.scale > MAX_SCALE {
            return Err(corrupt(format!("decimal scale {}", self.scale)));
        }
        // Unique ids (a merge or finish relies on one position per customer).
        let mut seen = std::collections::HashSet::with_capacity(n);
        if let Some(id) = self.ids.iter().find(|id| !seen.insert(*id)) {
            return Err(corrupt(format!("customer {id} listed twice")));
        }
        let windows = self.calibration.iter().chain(self.holdout.iter().flatten());
        for w in windows {
            let ordered = w.periods == 0 || (w.first <= w.last && w.periods <= w.orders);
            if !ordered || w.first_sum < 0 || w.sum < w.first_sum || w.returns < 0 {
                return Err(corrupt("a customer window that no log produces"));
            }
        }
        Ok(())
    }

    /// Number of customers seen so far.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// let options = SummaryOptions::new(TimeUnit::Week);
    /// let log = TransactionLog::cdnow_sample()?;
    /// assert_eq!(log.partial_summary(&options)?.len(), 2357);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when no customer was seen.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// let options = SummaryOptions::new(TimeUnit::Week);
    /// let log = TransactionLog::cdnow_sample()?;
    /// assert!(!log.partial_summary(&options)?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Removes a customer (right to erasure); `true` when the customer was in
    /// it. Like every `erase` of the crate, it keeps no record of the id (a
    /// record would itself be personal data): rows of the customer added or
    /// merged in later are taken as a new customer's. Erase them at their
    /// source too; re-ingestion after an erasure is the host's deliberate act.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// let log = TransactionLog::cdnow_sample()?;
    /// let mut partial = log.partial_summary(&SummaryOptions::new(TimeUnit::Week))?;
    /// let first = log.customers().ids()[0].clone();
    /// assert!(partial.erase(&first));
    /// assert!(!partial.erase(&first));
    /// let summary = partial.finish()?;
    /// assert!(summary.get(&first).is_none());
    /// assert_eq!(summary.len(), 2356);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn erase(&mut self, customer: &CustomerId) -> bool {
        let Some(k) = self.ids.iter().position(|id| id == customer) else { return false };
        Arc::make_mut(&mut self.ids).remove(k);
        self.calibration.remove(k);
        if let Some(h) = self.holdout.as_mut() {
            h.remove(k);
        }
        true
    }

    /// Merges another partial summary into this one. On error `self` is unchanged.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// let options = SummaryOptions::new(TimeUnit::Week);
    /// let log = TransactionLog::cdnow_sample()?;
    /// // Two shards by customer (even and odd ids), merged, equal the one-pass summary.
    /// use customer_lifecycle::CustomerId;
    /// let (mut even, mut odd) = (TransactionLog::new(log.currency()), TransactionLog::new(log.currency()));
    /// for t in log.iter() {
    ///     let shard = if matches!(t.customer(), CustomerId::Number(n) if n % 2 == 0) { &mut even } else { &mut odd };
    ///     shard.push(t)?;
    /// }
    /// let mut merged = even.partial_summary(&options)?;
    /// merged.merge(&odd.partial_summary(&options)?)?;
    /// assert_eq!(merged.finish()?, log.summarize(&options)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
        // The ids are distinct (checked above), so the index cannot refuse
        // them; should it, `self` keeps its ids and nothing has moved.
        let mut index = CustomerIndex::try_from(self.ids.as_ref().clone())?;
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
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// let options = SummaryOptions::new(TimeUnit::Week);
    /// let log = TransactionLog::cdnow_sample()?;
    /// let summary = log.partial_summary(&options)?.finish()?;
    /// assert_eq!(summary, log.summarize(&options)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Empty`] when no order was seen; [`Error::CalibrationAfterObservationEnd`]
    /// when the (default) observation end is not after the calibration end;
    /// [`Error::ReturnWithoutOrder`] for a customer with returns but no order.
    pub fn finish(&self) -> Result<PurchaseSummary> {
        self.finish_on(cores())
    }

    /// [`PartialSummary::finish`] in up to `threads` parts on the cores.
    fn finish_on(&self, threads: usize) -> Result<PurchaseSummary> {
        // 1. The ends: the observation end (the last transaction's date by
        //    default), the calibration end before it, and the period that
        //    closes the calibration window, from which ages are measured.
        // Every way to a partial summary (a log, a merge, a validated load)
        // leaves it consistent; the tests check that here.
        debug_assert!(self.check_consistent().is_ok());
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

        // 2. One row per customer with a calibration order, in customer-id
        //    order. A customer seen only in the holdout is counted, not
        //    listed (lifetimes' rule); returns without an order are errors.
        //    Customers are read in id order, so each row is a random access
        //    into the windows and the ids: on a large summary contiguous
        //    parts of the order are built on the cores, then joined (the
        //    same rows, and the first error in id order).
        let order = IdOrder::of(&self.ids);
        let n = self.ids.len();
        let ends = Ends { periods: &periods, end_period, unit_scale, window_end, observation_end };
        let (mut c, ids, h_columns, first_seen_in_holdout) = self.rows_split(&order, 0..n, n, &ends, threads)?;
        c.ids = Arc::new(ids);
        if c.ids.is_empty() {
            return Err(Error::Empty { what: "orders in the calibration period" });
        }

        // 3. The summary.
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

impl Columns {
    /// One customer's calibration row from their window: frequency = purchase
    /// periods − 1, recency and age from the first period, monetary value =
    /// the mean of the repeat periods' sums.
    #[inline]
    fn push_window(&mut self, w: &Window, periods: &Periods, end_period: i32, unit_scale: f64) {
        let (frequency, recency, age, monetary_value) = w.calibration_values(periods, end_period, unit_scale);
        self.frequency.push(f64::from(frequency));
        self.recency.push(recency);
        self.age.push(age);
        self.monetary_value.push(monetary_value);
        self.orders.push(w.orders);
        self.gross.push(w.sum);
        self.returns.push(w.returns);
    }
}

impl Columns {
    /// Appends another range's rows.
    fn append(&mut self, mut other: Columns) {
        self.frequency.append(&mut other.frequency);
        self.recency.append(&mut other.recency);
        self.age.append(&mut other.age);
        self.monetary_value.append(&mut other.monetary_value);
        self.orders.append(&mut other.orders);
        self.gross.append(&mut other.gross);
        self.returns.append(&mut other.returns);
    }
}

impl HoldoutColumns {
    /// Appends another range's rows.
    fn append(&mut self, mut other: HoldoutColumns) {
        self.frequency.append(&mut other.frequency);
        self.monetary_value.append(&mut other.monetary_value);
        self.monetary_value_per_period.append(&mut other.monetary_value_per_period);
        self.orders.append(&mut other.orders);
        self.gross.append(&mut other.gross);
        self.returns.append(&mut other.returns);
    }
}

impl HoldoutColumns {
    /// One customer's holdout row: distinct purchase periods, and the mean
    /// of the raw orders (lifetimes) beside the mean per period.
    #[inline]
    fn push_window(&mut self, h: &Window, unit_scale: f64) {
        let (frequency, monetary_value, per_period) = h.holdout_values(unit_scale);
        self.frequency.push(f64::from(frequency));
        self.monetary_value.push(monetary_value);
        self.monetary_value_per_period.push(per_period);
        self.orders.push(h.orders);
        self.gross.push(h.sum);
        self.returns.push(h.returns);
    }
}

/// Customers below which a summary's rows are built on one thread.
const MIN_CUSTOMERS_PER_THREAD: usize = 1 << 15;

/// The ends of a summary's windows, as [`PartialSummary::rows`] needs them.
struct Ends<'a> {
    periods: &'a Periods,
    end_period: i32,
    unit_scale: f64,
    window_end: NaiveDate,
    observation_end: NaiveDate,
}

/// Summary rows of a range of customers in id order: calibration columns,
/// ids, holdout columns, customers first seen in the holdout.
type Rows = (Columns, Vec<CustomerId>, Option<HoldoutColumns>, usize);

impl PartialSummary {
    /// [`PartialSummary::rows`] in up to `parts` contiguous parts of the id
    /// order (halves of halves, each of at least `MIN_CUSTOMERS_PER_THREAD`
    /// customers) on the cores, joined in order: the same rows, and the
    /// first error in id order. The first part's columns have room for
    /// `capacity` rows, so the others append without moving them.
    fn rows_split(
        &self,
        order: &IdOrder,
        range: std::ops::Range<usize>,
        capacity: usize,
        e: &Ends<'_>,
        parts: usize,
    ) -> Result<Rows> {
        if parts < 2 || range.len() < MIN_CUSTOMERS_PER_THREAD * 2 {
            return self.rows(order, range, capacity, e);
        }
        let mid = range.start + range.len() / 2;
        let (first, second) = join(
            true,
            || self.rows_split(order, range.start..mid, capacity, e, parts / 2),
            || self.rows_split(order, mid..range.end, range.end - mid, e, parts - parts / 2),
        );
        let (mut first, second) = (first?, second?);
        first.0.append(second.0);
        first.1.extend(second.1);
        if let (Some(a), Some(b)) = (first.2.as_mut(), second.2) {
            a.append(b);
        }
        Ok((first.0, first.1, first.2, first.3 + second.3))
    }

    /// The rows of the customers at `range` of the id order, in columns
    /// with room for `capacity` rows.
    fn rows(&self, order: &IdOrder, range: std::ops::Range<usize>, capacity: usize, e: &Ends<'_>) -> Result<Rows> {
        let n = capacity;
        let mut c = Columns::with_capacity(n);
        let mut ids = Vec::with_capacity(n);
        let mut h_columns = self.holdout.as_ref().map(|_| HoldoutColumns::with_capacity(n));
        let mut first_seen_in_holdout = 0;
        for k in range {
            let i = order.position(k);
            let w = &self.calibration[i];
            let h = self.holdout.as_ref().map(|h| &h[i]);
            if w.orders == 0 {
                let id = &self.ids[i];
                if w.return_count > 0 {
                    return Err(Error::ReturnWithoutOrder { customer: id.to_string(), date: e.window_end });
                }
                match h {
                    Some(h) if h.orders > 0 => first_seen_in_holdout += 1,
                    Some(h) if h.return_count > 0 => {
                        return Err(Error::ReturnWithoutOrder { customer: id.to_string(), date: e.observation_end });
                    }
                    _ => {}
                }
                continue;
            }
            ids.push(order.id(k, &self.ids));
            c.push_window(w, e.periods, e.end_period, e.unit_scale);
            if let (Some(hc), Some(h)) = (h_columns.as_mut(), h) {
                hc.push_window(h, e.unit_scale);
            }
        }
        Ok((c, ids, h_columns, first_seen_in_holdout))
    }
}

/// The customer-id order of a summary's dense positions.
enum IdOrder {
    /// The positions are already in order.
    Identity,
    /// Numeric ids within a 2^32 range: sorted `(id − min) << 32 | position`.
    Packed { min: i64, packed: Vec<u64> },
    /// Numeric ids over a wider range: `(id − min, position)`, sorted.
    Wide { min: i64, pairs: Vec<(u64, u32)> },
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
            Some((min, max)) => {
                // Random 63-bit ids: radix-sorted too, on the 64-bit offsets
                // (a comparison sort was half of the summary's time).
                let mut pairs: Vec<(u64, u32)> = ids
                    .iter()
                    .enumerate()
                    .map(|(i, id)| match id {
                        CustomerId::Number(n) => (n.wrapping_sub(min) as u64, i as u32),
                        CustomerId::Text(_) => (0, i as u32),
                    })
                    .collect();
                let bits = 64 - ((max.wrapping_sub(min)) as u64).leading_zeros();
                crate::math::sort::radix_sort_by_key(&mut pairs, |p| p.0, 0, bits);
                IdOrder::Wide { min, pairs }
            }
            None => IdOrder::Positions(text_order(ids)),
        }
    }

    /// The dense position of the `k`-th customer in id order.
    #[inline]
    fn position(&self, k: usize) -> usize {
        match self {
            IdOrder::Identity => k,
            IdOrder::Packed { packed, .. } => (packed[k] & 0xFFFF_FFFF) as usize,
            IdOrder::Wide { pairs, .. } => pairs[k].1 as usize,
            IdOrder::Positions(p) => p[k] as usize,
        }
    }

    /// The `k`-th customer id in order (for packed numbers, without reading `ids`).
    #[inline]
    fn id(&self, k: usize, ids: &[CustomerId]) -> CustomerId {
        match self {
            IdOrder::Packed { min, packed } => CustomerId::Number(min.wrapping_add((packed[k] >> 32) as i64)),
            IdOrder::Wide { min, pairs } => CustomerId::Number(min.wrapping_add(pairs[k].0 as i64)),
            _ => ids[self.position(k)].clone(),
        }
    }
}

/// Positions in customer-id order when some ids are text: radix-sorted on
/// the first eight bytes of each text (numbers, which sort before any
/// text, on a key below every text's), then each run of equal keys by a
/// full comparison.
fn text_order(ids: &[CustomerId]) -> Vec<u32> {
    let key = |id: &CustomerId| match id {
        CustomerId::Number(_) => 0,
        CustomerId::Text(t) => {
            let mut head = [0u8; 8];
            let b = t.as_bytes();
            head[..b.len().min(8)].copy_from_slice(&b[..b.len().min(8)]);
            // Shifted by one so that every text's key is above the numbers' 0;
            // texts whose first eight bytes agree tie and are compared below.
            (u64::from_be_bytes(head) >> 1) + 1
        }
    };
    let mut pairs: Vec<(u64, u32)> = ids.iter().enumerate().map(|(i, id)| (key(id), i as u32)).collect();
    crate::math::sort::radix_sort_by_key(&mut pairs, |p| p.0, 0, 64);
    let mut positions: Vec<u32> = pairs.iter().map(|p| p.1).collect();
    let mut start = 0;
    while start < pairs.len() {
        let end = start + pairs[start..].iter().take_while(|p| p.0 == pairs[start].0).count();
        if end - start > 1 {
            positions[start..end].sort_unstable_by(|&a, &b| ids[a as usize].cmp(&ids[b as usize]));
        }
        start = end;
    }
    positions
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
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// let partial = TransactionLog::cdnow_sample()?.partial_summary(&SummaryOptions::new(TimeUnit::Day))?;
    /// assert_eq!(partial.finish()?.len(), 2357);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`TransactionLog::summarize`], except those only [`PartialSummary::finish`] can tell.
    pub fn partial_summary(&self, options: &SummaryOptions) -> Result<PartialSummary> {
        PartialSummary::from_log(self, options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::TimeUnit;
    use chrono::TimeZone;
    use proptest::prelude::*;

    /// 80,000 shop customers (e-mail ids, so the text order is taken;
    /// returns; a calibration split), with `edit` adding rows.
    fn shop_log(edit: impl Fn(&mut TransactionLog)) -> TransactionLog {
        use crate::domain::money::Money;
        use crate::log::Transaction;
        use chrono::{TimeDelta, Utc};
        let t0 = Utc.with_ymd_and_hms(2023, 1, 1, 9, 0, 0).unwrap();
        let mut log = TransactionLog::new(Currency::EUR);
        for i in 0..240_000u32 {
            let c = (i * 7_919) % 80_000;
            let id = CustomerId::Text(format!("shopper{c}@example.com"));
            let at = t0 + TimeDelta::days(i64::from(i % 700)) + TimeDelta::hours(i64::from(c % 24));
            let amount = Money::new(rust_decimal::Decimal::new(i64::from(100 + i % 9_000), 2), Currency::EUR);
            let t = if i % 11 == 0 { Transaction::refund(id, at, amount) } else { Transaction::order(id, at, amount) };
            log.push(t).unwrap();
        }
        // Customers first seen after the calibration end, early and late in id order.
        let holdout = Utc.with_ymd_and_hms(2024, 9, 1, 12, 0, 0).unwrap();
        for k in 0..300 {
            for name in [format!("a-new-{k}@example.com"), format!("zz-new-{k}@example.com")] {
                let amount = Money::new(rust_decimal::Decimal::new(1_999, 2), Currency::EUR);
                log.push(Transaction::order(CustomerId::Text(name), holdout, amount)).unwrap();
            }
        }
        edit(&mut log);
        log
    }

    #[test]
    fn two_halves_summarise_as_one() {
        let cal = chrono::NaiveDate::from_ymd_opt(2024, 6, 30).unwrap();
        let options = SummaryOptions::new(TimeUnit::Week).calibration_end(cal);
        let log = shop_log(|_| {});
        let one = PartialSummary::from_log_on(&log, &options, 1).unwrap();
        let summary = one.finish_on(1).unwrap();
        assert!(summary.len() > 2 * MIN_CUSTOMERS_PER_THREAD);
        for parts in [2, 3, 4, 7] {
            let many = PartialSummary::from_log_on(&log, &options, parts).unwrap();
            assert_eq!(one.calibration, many.calibration);
            assert_eq!(one.holdout, many.holdout);
            assert_eq!(one.last_day, many.last_day);
            assert_eq!(summary, many.finish_on(parts).unwrap());
        }
        assert_eq!(summary.customers_first_seen_in_holdout(), 600);
        // The first error in id order, whichever half holds it: a return
        // without an order for a customer early and one late in the order.
        let at = chrono::Utc.with_ymd_and_hms(2023, 3, 1, 0, 0, 0).unwrap();
        let eur = crate::domain::money::Money::new(rust_decimal::Decimal::ONE, Currency::EUR);
        for (who, also) in [("zz-late@example.com", None), ("zz-late@example.com", Some("aa-early@example.com"))] {
            let log = shop_log(|log| {
                for w in std::iter::once(who).chain(also) {
                    log.push(crate::log::Transaction::refund(CustomerId::from(w), at, eur)).unwrap();
                }
            });
            let partial = PartialSummary::from_log_on(&log, &options, 2).unwrap();
            let errors = [
                partial.finish_on(1).unwrap_err(),
                partial.finish_on(2).unwrap_err(),
                partial.finish_on(4).unwrap_err(),
            ];
            let expected = also.unwrap_or(who);
            for e in &errors {
                assert!(matches!(e, Error::ReturnWithoutOrder { customer, .. } if customer == expected), "{e}");
            }
        }
        // A row after the observation end, in a late block and an early one.
        let obs = chrono::NaiveDate::from_ymd_opt(2024, 12, 31).unwrap();
        let late = chrono::Utc.with_ymd_and_hms(2025, 2, 1, 0, 0, 0).unwrap();
        let log = shop_log(|log| {
            log.push(crate::log::Transaction::order(CustomerId::from("new-late@example.com"), late, eur)).unwrap();
            log.push(crate::log::Transaction::order(CustomerId::from("shopper3@example.com"), late, eur)).unwrap();
        });
        let options = SummaryOptions::new(TimeUnit::Week).observation_end(obs);
        for threads in [1, 2, 4] {
            match PartialSummary::from_log_on(&log, &options, threads) {
                Err(Error::AfterObservationEnd { customer, .. }) => assert_eq!(customer, "shopper3@example.com"),
                other => panic!("{other:?}"),
            }
        }
    }

    fn id() -> impl Strategy<Value = CustomerId> {
        prop_oneof![
            any::<i64>().prop_map(CustomerId::Number),
            (0i64..50).prop_map(CustomerId::Number),
            // Long shared prefixes, embedded NULs, multi-byte text.
            "(customer-0|customer-1|a|ab|é)[\\x00a-c]{0,12}".prop_map(CustomerId::Text),
        ]
    }

    proptest! {
        /// Every ordering path (narrow and wide numbers, texts, mixed ids)
        /// puts the ids in the order a comparison sort does.
        #[test]
        fn ids_are_put_in_order(ids in prop::collection::vec(id(), 0..300), numbers_only in any::<bool>()) {
            let mut ids: Vec<CustomerId> = if numbers_only {
                ids.into_iter().filter(|i| matches!(i, CustomerId::Number(_))).collect()
            } else {
                ids
            };
            ids.sort_unstable();
            ids.dedup();
            // A permutation (7919 is prime and above n), so that the
            // identity path is not taken.
            let n = ids.len();
            let shuffled: Vec<CustomerId> = (0..n).map(|i| ids[(i * 7919 + 3) % n].clone()).collect();
            let mut expected = shuffled.clone();
            expected.sort();
            let order = IdOrder::of(&shuffled);
            let got: Vec<CustomerId> = (0..shuffled.len()).map(|k| order.id(k, &shuffled)).collect();
            prop_assert_eq!(&got, &expected);
            let by_position: Vec<CustomerId> = (0..shuffled.len()).map(|k| shuffled[order.position(k)].clone()).collect();
            prop_assert_eq!(by_position, expected);
        }
    }
}
