//! Acquisition cohorts and their retention, revenue and order matrices.

use chrono::{FixedOffset, NaiveDate, Offset, Utc, Weekday};
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use crate::domain::money::{self, Currency, Money};
use crate::domain::time::{self, Clock, DurationMode, Periods, TimeUnit};
use crate::error::{Error, Result};
use crate::log::transactions::{CUSTOMERS_PER_BLOCK, LogBlock, TransactionKind, TransactionLog};
use crate::math::parallel::{cores, join};

/// Version of the serialised form of [`CohortAnalysis`].
pub const COHORT_FORMAT_VERSION: u32 = 1;

/// Upper bound on the cells of one matrix (cohort periods × offsets); a
/// finer unit over a long history is refused with advice instead of
/// allocating gigabytes.
pub const MAX_COHORT_CELLS: usize = 1 << 22;

/// How cohorts are formed: the calendar unit, the offset in which dates are
/// taken, the first day of weeks and the observation end.
///
/// ```
/// use customer_lifecycle::{CohortOptions, TimeUnit};
/// use customer_lifecycle::chrono::{FixedOffset, Weekday};
///
/// let weekly = CohortOptions::new(TimeUnit::Week)
///     .week_start(Weekday::Sun)
///     .utc_offset(FixedOffset::east_opt(3600).unwrap());
/// assert!(weekly.periods().is_ok());
/// assert!(CohortOptions::new(TimeUnit::Days(14)).periods().is_err()); // calendar units only
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct CohortOptions {
    unit: TimeUnit,
    utc_offset_seconds: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    time_zone: Option<chrono_tz::Tz>,
    week_start: Weekday,
    observation_end: Option<NaiveDate>,
}

impl CohortOptions {
    /// Cohorts of calendar `unit` (day, week or month), dates in UTC, weeks
    /// from Monday, observed up to the last transaction's date.
    ///
    /// ```
    /// use customer_lifecycle::{CohortOptions, TimeUnit};
    /// assert!(CohortOptions::new(TimeUnit::Month).periods().is_ok());
    /// ```
    pub fn new(unit: TimeUnit) -> CohortOptions {
        CohortOptions { unit, utc_offset_seconds: 0, time_zone: None, week_start: Weekday::Mon, observation_end: None }
    }

    /// Dates are calendar days in this fixed offset from UTC.
    ///
    /// ```
    /// use customer_lifecycle::{CohortOptions, TimeUnit};
    /// use customer_lifecycle::chrono::FixedOffset;
    /// let tokyo = FixedOffset::east_opt(9 * 3600).unwrap();
    /// assert_eq!(CohortOptions::new(TimeUnit::Day).utc_offset(tokyo).periods()?.utc_offset(), tokyo);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn utc_offset(mut self, offset: FixedOffset) -> CohortOptions {
        self.utc_offset_seconds = offset.local_minus_utc();
        self.time_zone = None;
        self
    }

    /// Dates are calendar days in this IANA time zone, daylight saving
    /// included (it replaces a fixed offset).
    ///
    /// ```
    /// use customer_lifecycle::{CohortOptions, TimeUnit};
    /// use customer_lifecycle::chrono_tz::Asia::Tokyo;
    /// assert_eq!(CohortOptions::new(TimeUnit::Day).time_zone(Tokyo).periods()?.time_zone(), Some(Tokyo));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn time_zone(mut self, zone: chrono_tz::Tz) -> CohortOptions {
        self.time_zone = Some(zone);
        self.utc_offset_seconds = 0;
        self
    }

    /// Weeks start on this day (default Monday, as ISO weeks).
    ///
    /// ```
    /// use customer_lifecycle::{CohortOptions, TimeUnit};
    /// use customer_lifecycle::chrono::Weekday;
    /// assert_eq!(CohortOptions::new(TimeUnit::Week).week_start(Weekday::Sun).periods()?.week_start(), Weekday::Sun);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn week_start(mut self, day: Weekday) -> CohortOptions {
        self.week_start = day;
        self
    }

    /// The last observed date (inclusive). Default: the last transaction's date.
    ///
    /// ```
    /// # use customer_lifecycle::{CohortAnalysis, CohortOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::chrono::NaiveDate;
    /// let log = TransactionLog::cdnow_sample()?;
    /// let end = NaiveDate::from_ymd_opt(1998, 12, 31).unwrap();
    /// let cohorts = CohortAnalysis::compute(&log, &CohortOptions::new(TimeUnit::Month).observation_end(end))?;
    /// assert_eq!(cohorts.columns(), 24);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn observation_end(mut self, date: NaiveDate) -> CohortOptions {
        self.observation_end = Some(date);
        self
    }

    /// The calendar periods these options describe.
    ///
    /// ```
    /// use customer_lifecycle::{CohortOptions, TimeUnit};
    /// use customer_lifecycle::DurationMode;
    /// assert_eq!(CohortOptions::new(TimeUnit::Month).periods()?.mode(), DurationMode::Calendar);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a unit that is not a calendar day,
    /// week or month.
    pub fn periods(&self) -> Result<Periods> {
        let offset = FixedOffset::east_opt(self.utc_offset_seconds).unwrap_or_else(|| Utc.fix());
        let periods = Periods::new(self.unit, DurationMode::Calendar)?;
        Ok(periods.in_clock(offset, self.time_zone).with_week_start(self.week_start))
    }
}

/// Which customers of a cohort count as retained in column `N` (see the
/// [module docs](super)).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RetentionMode {
    /// Ordered in period `N`.
    OnPeriod,
    /// Ordered in period `N` or later.
    OnOrAfter,
    /// Ordered in every period `0..=N`.
    Rolling,
}

validated_serde! {
/// Cohort matrices of a transaction log: active customers in three
/// retention modes, retention rates, revenue, returns, cumulative net revenue
/// per acquired customer and order counts (see the [module docs](super)).
///
/// Computed in two passes over the log's customer blocks, without sorting:
/// 10M transactions take ~100 ms on one core (see the README's benchmarks).
#[derive(Clone, PartialEq, Debug)]
pub struct CohortAnalysis {
    format_version: u32,
    periods: Periods,
    currency: Currency,
    scale: u32,
    observation_end: NaiveDate,
    /// Period index of each cohort (row).
    cohort_periods: Vec<i32>,
    sizes: Vec<u64>,
    /// Leading complete columns of each row.
    complete_columns: Vec<usize>,
    /// Counts so far (incomplete cells included), rows × offsets.
    active: Array2<u64>,
    on_or_after: Array2<u64>,
    rolling: Array2<u64>,
    orders: Array2<u64>,
    /// Sums in units of 10^-scale.
    revenue: Array2<i64>,
    returns: Array2<i64>,
}
}

/// Per-block scratch space of [`CohortAnalysis::compute`].
struct BlockScratch {
    /// First order period of each customer of the block, relative to the
    /// first period of the log; `u32::MAX` before any order.
    first: Vec<u32>,
    /// Largest offset with an order.
    last: Vec<u32>,
    /// Whether the customer has any row in the block.
    seen: Vec<bool>,
    /// One bit per (customer, offset) with an order.
    bits: Vec<u64>,
    words: usize,
}

/// Phase 1 of [`CohortAnalysis::compute`]: the periods from the log's first
/// transaction to the observation end, and a lookup from day to period.
struct Grid {
    periods: Periods,
    /// The clock in which dates are taken.
    clock: Clock,
    min_day: i32,
    obs_day: i32,
    first_period: i32,
    /// Periods from the first to the observation end's: rows and columns.
    width: usize,
    /// Period of each day from `min_day` on, relative to `first_period`:
    /// one lookup per row instead of a calendar computation.
    period_of: Vec<u32>,
}

impl Grid {
    fn new(log: &TransactionLog, options: &CohortOptions) -> Result<Grid> {
        let periods = options.periods()?;
        if log.is_empty() {
            return Err(Error::Empty { what: "transactions to form cohorts from" });
        }
        let clock = periods.clock();
        let (mut min_at, mut max_at) = (i64::MAX, i64::MIN);
        for block in log.blocks() {
            for &at in block.times() {
                min_at = min_at.min(at);
                max_at = max_at.max(at);
            }
        }
        let min_day = clock.day_number(min_at);
        let max_day = clock.day_number(max_at);
        let obs_day = options.observation_end.map_or(max_day, time::day_number);
        if max_day > obs_day {
            return Err(after_observation_end(log, clock, obs_day));
        }
        let first_period = periods.period_of_day(min_day);
        let width = (periods.period_of_day(obs_day) - first_period + 1) as usize;
        if width.saturating_mul(width) > MAX_COHORT_CELLS {
            return Err(Error::InvalidArgument {
                name: "cohort unit",
                reason: format!(
                    "{width} {} periods from the first transaction to the observation end make a matrix of more \
                     than {MAX_COHORT_CELLS} cells: use a coarser unit",
                    periods.unit().name()
                ),
            });
        }
        let period_of = (min_day..=max_day).map(|d| (periods.period_of_day(d) - first_period) as u32).collect();
        Ok(Grid { periods, clock, min_day, obs_day, first_period, width, period_of })
    }

    /// The period of a timestamp, relative to the first.
    fn period(&self, at: i64) -> u32 {
        self.period_of[(self.clock.day_number(at) - self.min_day) as usize]
    }
}

/// Phase 2 of [`CohortAnalysis::compute`]: counts per (cohort, offset)
/// cell, row-major over a `width × width` square.
struct Tally {
    width: usize,
    sizes: Vec<u64>,
    /// Customers with an order in the cell's period.
    active: Vec<u64>,
    /// Customers whose last order is at the cell's offset (suffix sums give
    /// "in N or later").
    last_counts: Vec<u64>,
    /// Customers whose unbroken run of active periods from acquisition ends
    /// at the cell's offset (suffix sums give "in every period up to N").
    run_counts: Vec<u64>,
    orders: Vec<u64>,
    revenue: Vec<i64>,
    returns: Vec<i64>,
    overflow: bool,
}

impl BlockScratch {
    fn new(width: usize) -> BlockScratch {
        let words = width.div_ceil(64);
        BlockScratch {
            first: vec![u32::MAX; CUSTOMERS_PER_BLOCK],
            last: vec![0; CUSTOMERS_PER_BLOCK],
            seen: vec![false; CUSTOMERS_PER_BLOCK],
            bits: vec![0; CUSTOMERS_PER_BLOCK * words],
            words,
        }
    }
}

impl Tally {
    fn new(width: usize) -> Tally {
        let cells = width * width;
        Tally {
            width,
            sizes: vec![0; width],
            active: vec![0; cells],
            last_counts: vec![0; cells],
            run_counts: vec![0; cells],
            orders: vec![0; cells],
            revenue: vec![0; cells],
            returns: vec![0; cells],
            overflow: false,
        }
    }

    /// Adds one block of customers. A customer's activity is kept as a bit
    /// set over offsets (one bit per period with an order), so that several
    /// orders in a period count the customer once, and the run of active
    /// periods from acquisition is the bit set's trailing ones.
    fn add_block(
        &mut self,
        block: &LogBlock<'_>,
        grid: &Grid,
        s: &mut BlockScratch,
        log: &TransactionLog,
    ) -> Result<()> {
        let width = self.width;
        let words = s.words;
        // Pass A: each customer's first order period (the cohort).
        for row in block.rows() {
            s.seen[row.local] = true;
            if row.kind == TransactionKind::Order {
                let p = grid.period(row.at);
                s.first[row.local] = s.first[row.local].min(p);
            }
        }
        // Pass B: every row into its (cohort, offset) cell.
        for row in block.rows() {
            let c = row.local;
            let p = grid.period(row.at);
            let f = s.first[c];
            if p < f {
                // A return before the first order, or a customer with returns only.
                let dense = block.first_customer() + c;
                return Err(Error::ReturnWithoutOrder {
                    customer: log.customers().ids().get(dense).map(|id| id.to_string()).unwrap_or_default(),
                    date: time::date_of_day_number(grid.clock.day_number(row.at)),
                });
            }
            let n = (p - f) as usize;
            let cell = f as usize * width + n;
            let (total, sum) = match row.kind {
                TransactionKind::Order => {
                    self.orders[cell] += 1;
                    s.bits[c * words + n / 64] |= 1 << (n % 64);
                    s.last[c] = s.last[c].max(n as u32);
                    (&mut self.revenue[cell], row.amount)
                }
                TransactionKind::Return => (&mut self.returns[cell], row.amount),
            };
            let (value, o) = total.overflowing_add(sum);
            *total = value;
            self.overflow |= o;
        }
        // Pass C, per customer: cohort size, active offsets, run length, last
        // offset; the scratch is reset on the way for the next block.
        for c in 0..CUSTOMERS_PER_BLOCK {
            if !std::mem::take(&mut s.seen[c]) {
                continue;
            }
            let f = std::mem::replace(&mut s.first[c], u32::MAX) as usize;
            let last = std::mem::take(&mut s.last[c]) as usize;
            self.sizes[f] += 1;
            let row = f * width;
            let mut run = 0usize;
            let mut in_run = true;
            for (k, word) in s.bits[c * words..c * words + last / 64 + 1].iter_mut().enumerate() {
                let mut w = std::mem::take(word);
                if in_run {
                    let ones = w.trailing_ones() as usize;
                    run += ones;
                    in_run = ones == 64;
                }
                while w != 0 {
                    self.active[row + k * 64 + w.trailing_zeros() as usize] += 1;
                    w &= w - 1;
                }
            }
            self.run_counts[row + run - 1] += 1;
            self.last_counts[row + last] += 1;
        }
        Ok(())
    }

    /// The tally of `blocks` (consecutive), in up to `parts` contiguous
    /// parts (halves of halves, each of at least two blocks) on the cores.
    /// The parts' counts and sums add up to those of one pass exactly:
    /// counts are integers, and amounts are never negative, so a cell's
    /// revenue overflows in a part or in the merge exactly when it
    /// overflows in one pass. An error is the first block's in log order.
    fn of_blocks(blocks: &[LogBlock<'_>], grid: &Grid, log: &TransactionLog, parts: usize) -> Result<Tally> {
        if parts < 2 || blocks.len() < 4 {
            let mut tally = Tally::new(grid.width);
            let mut scratch = BlockScratch::new(grid.width);
            for block in blocks {
                tally.add_block(block, grid, &mut scratch, log)?;
            }
            return Ok(tally);
        }
        let (early, late) = blocks.split_at(blocks.len() / 2);
        let (a, b) = join(
            true,
            || Tally::of_blocks(early, grid, log, parts / 2),
            || Tally::of_blocks(late, grid, log, parts - parts / 2),
        );
        let (mut a, b) = (a?, b?);
        a.merge(&b);
        Ok(a)
    }

    /// Adds `other`'s counts and sums.
    fn merge(&mut self, other: &Tally) {
        let add = |into: &mut [u64], from: &[u64]| into.iter_mut().zip(from).for_each(|(a, b)| *a += b);
        add(&mut self.sizes, &other.sizes);
        add(&mut self.active, &other.active);
        add(&mut self.last_counts, &other.last_counts);
        add(&mut self.run_counts, &other.run_counts);
        add(&mut self.orders, &other.orders);
        let mut overflow = self.overflow || other.overflow;
        for (into, from) in [(&mut self.revenue, &other.revenue), (&mut self.returns, &other.returns)] {
            for (a, b) in into.iter_mut().zip(from) {
                let (value, o) = a.overflowing_add(*b);
                *a = value;
                overflow |= o;
            }
        }
        self.overflow = overflow;
    }

    /// Phase 3: the cohorts that acquired someone, as matrices; suffix sums
    /// give the "on or after" and "rolling" counts.
    fn into_analysis(self, grid: Grid, log: &TransactionLog) -> CohortAnalysis {
        let width = self.width;
        let rows: Vec<usize> = (0..width).filter(|&r| self.sizes[r] > 0).collect();
        let last_complete = grid.periods.period_of_day(grid.obs_day + 1) - 1 - grid.first_period;
        let take = |source: &[u64]| Array2::from_shape_fn((rows.len(), width), |(r, n)| source[rows[r] * width + n]);
        let suffix = |source: &[u64]| {
            let mut m = take(source);
            for mut row in m.rows_mut() {
                for n in (0..width.saturating_sub(1)).rev() {
                    row[n] += row[n + 1];
                }
            }
            m
        };
        let take_i64 =
            |source: &[i64]| Array2::from_shape_fn((rows.len(), width), |(r, n)| source[rows[r] * width + n]);
        CohortAnalysis {
            format_version: COHORT_FORMAT_VERSION,
            periods: grid.periods,
            currency: log.currency(),
            scale: log.scale(),
            observation_end: time::date_of_day_number(grid.obs_day),
            cohort_periods: rows.iter().map(|&r| grid.first_period + r as i32).collect(),
            sizes: rows.iter().map(|&r| self.sizes[r]).collect(),
            complete_columns: rows
                .iter()
                .map(|&r| (i64::from(last_complete) - r as i64 + 1).clamp(0, width as i64) as usize)
                .collect(),
            active: take(&self.active),
            on_or_after: suffix(&self.last_counts),
            rolling: suffix(&self.run_counts),
            orders: take(&self.orders),
            revenue: take_i64(&self.revenue),
            returns: take_i64(&self.returns),
        }
    }
}

impl CohortAnalysis {
    /// Builds the cohort matrices of `log`.
    ///
    /// ```
    /// # use customer_lifecycle::{CohortAnalysis, CohortOptions, RetentionMode, TimeUnit, TransactionLog};
    /// # let log = TransactionLog::cdnow_sample()?;
    /// let cohorts = CohortAnalysis::compute(&log, &CohortOptions::new(TimeUnit::Month))?;
    /// // The sample's customers were acquired in January, February and March 1997.
    /// assert_eq!(cohorts.cohorts().len(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a non-calendar unit or a matrix above
    /// [`MAX_COHORT_CELLS`]; [`Error::Empty`] for an empty log;
    /// [`Error::AfterObservationEnd`] for a transaction after the observation
    /// end; [`Error::ReturnWithoutOrder`] for a customer whose return
    /// precedes their first order (or who has no order);
    /// [`Error::AmountOverflow`] when a cell's revenue leaves the `i64` range
    /// of the log's minor units.
    pub fn compute(log: &TransactionLog, options: &CohortOptions) -> Result<CohortAnalysis> {
        // Three phases: the grid of periods the log spans (and its checks),
        // the per-cell counts block by block, and the matrices of the
        // cohorts that acquired someone.
        let grid = Grid::new(log, options)?;
        let blocks: Vec<LogBlock<'_>> = log.blocks().collect();
        // A part's tally is a grid of its own: parts only where the grids
        // together stay below the log's own size.
        let cells = grid.width * grid.width;
        let parts = cores().min(log.len() / cells.max(1)).min(blocks.len() / 2);
        let tally = Tally::of_blocks(&blocks, &grid, log, parts)?;
        if tally.overflow {
            return Err(Error::AmountOverflow { field: "cohort revenue", customer: None });
        }
        Ok(tally.into_analysis(grid, log))
    }

    fn check_consistent(&self) -> Result<()> {
        self.periods.check_consistent()?;
        let bad = |reason: String| Error::InvalidArgument { name: "cohort analysis", reason };
        if self.format_version != COHORT_FORMAT_VERSION {
            return Err(bad(format!(
                "format version {}, this build reads version {COHORT_FORMAT_VERSION}",
                self.format_version
            )));
        }
        let rows = self.cohort_periods.len();
        let width = self.active.ncols();
        if self.sizes.len() != rows
            || self.complete_columns.len() != rows
            || self.complete_columns.iter().any(|&c| c > width)
        {
            return Err(bad("row labels do not match the matrices".into()));
        }
        for m in [&self.active, &self.on_or_after, &self.rolling, &self.orders] {
            if m.dim() != (rows, width) {
                return Err(bad("matrices of different shapes".into()));
            }
        }
        if self.revenue.dim() != (rows, width) || self.returns.dim() != (rows, width) {
            return Err(bad("matrices of different shapes".into()));
        }
        if self.periods.mode() != DurationMode::Calendar {
            return Err(bad("cohorts need calendar periods".into()));
        }
        // Rows in period order (looked up by bisection), each a cohort of
        // at least one customer (retention divides by it), and counts the
        // data could give: no more active customers than the cohort has,
        // those buying in every period 0..=n among those buying in n, and
        // those among the ones buying in n or later.
        if !self.cohort_periods.windows(2).all(|w| w[0] < w[1]) {
            return Err(bad("cohorts out of order or repeated".into()));
        }
        for (r, &size) in self.sizes.iter().enumerate() {
            if size == 0 {
                return Err(bad(format!("cohort {r} has no customer")));
            }
            for n in 0..width {
                let (active, later, rolling) = (self.active[[r, n]], self.on_or_after[[r, n]], self.rolling[[r, n]]);
                if !(rolling <= active && active <= later && later <= size) {
                    return Err(bad(format!(
                        "cohort {r}, period {n}: {rolling} in every period, {active} active, {later} then or later, of {size}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The first date of each cohort's period (the row labels).
    ///
    /// ```
    /// # use customer_lifecycle::{CohortAnalysis, CohortOptions, RetentionMode, TimeUnit, TransactionLog};
    /// # let log = TransactionLog::cdnow_sample()?;
    /// let cohorts = CohortAnalysis::compute(&log, &CohortOptions::new(TimeUnit::Month))?;
    /// use customer_lifecycle::chrono::NaiveDate;
    /// assert_eq!(cohorts.cohorts()[0], NaiveDate::from_ymd_opt(1997, 1, 1).unwrap());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cohorts(&self) -> Vec<NaiveDate> {
        self.cohort_periods.iter().map(|&p| self.periods.period_start(p)).collect()
    }

    /// A short label of row `row`: `1997-01` for months, the first date for
    /// days and weeks.
    ///
    /// ```
    /// # use customer_lifecycle::{CohortAnalysis, CohortOptions, RetentionMode, TimeUnit, TransactionLog};
    /// # let log = TransactionLog::cdnow_sample()?;
    /// let cohorts = CohortAnalysis::compute(&log, &CohortOptions::new(TimeUnit::Month))?;
    /// assert!(cohorts.label(0).is_some() && cohorts.label(3).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn label(&self, row: usize) -> Option<String> {
        let start = self.periods.period_start(*self.cohort_periods.get(row)?);
        Some(match self.periods.unit() {
            TimeUnit::Month => start.format("%Y-%m").to_string(),
            _ => start.to_string(),
        })
    }

    /// The row of the cohort whose period contains `date`.
    ///
    /// ```
    /// # use customer_lifecycle::{CohortAnalysis, CohortOptions, RetentionMode, TimeUnit, TransactionLog};
    /// # let log = TransactionLog::cdnow_sample()?;
    /// let cohorts = CohortAnalysis::compute(&log, &CohortOptions::new(TimeUnit::Month))?;
    /// use customer_lifecycle::chrono::NaiveDate;
    /// assert_eq!(cohorts.row_of(NaiveDate::from_ymd_opt(1997, 2, 14).unwrap())?, 1);
    /// assert!(cohorts.row_of(NaiveDate::from_ymd_opt(1997, 7, 1).unwrap()).is_err()); // nobody acquired then
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::EmptyCohort`] when no customer was acquired in that period.
    pub fn row_of(&self, date: NaiveDate) -> Result<usize> {
        let period = self.periods.period_of_date(date);
        self.cohort_periods
            .binary_search(&period)
            .map_err(|_| Error::EmptyCohort { period_start: self.periods.period_start(period) })
    }

    /// Customers acquired in each cohort (in a cohort whose period is still
    /// in progress: so far).
    ///
    /// ```
    /// # use customer_lifecycle::{CohortAnalysis, CohortOptions, RetentionMode, TimeUnit, TransactionLog};
    /// # let log = TransactionLog::cdnow_sample()?;
    /// let cohorts = CohortAnalysis::compute(&log, &CohortOptions::new(TimeUnit::Month))?;
    /// assert_eq!(cohorts.sizes().sum(), 2357);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sizes(&self) -> Array1<u64> {
        Array1::from(self.sizes.clone())
    }

    /// Number of columns: period offsets `0..columns()`.
    ///
    /// ```
    /// # use customer_lifecycle::{CohortAnalysis, CohortOptions, RetentionMode, TimeUnit, TransactionLog};
    /// # let log = TransactionLog::cdnow_sample()?;
    /// let cohorts = CohortAnalysis::compute(&log, &CohortOptions::new(TimeUnit::Month))?;
    /// assert_eq!(cohorts.columns(), 18); // January 1997 to June 1998
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn columns(&self) -> usize {
        self.active.ncols()
    }

    /// The periods (unit, offset, week start).
    ///
    /// ```
    /// # use customer_lifecycle::{CohortAnalysis, CohortOptions, RetentionMode, TimeUnit, TransactionLog};
    /// # let log = TransactionLog::cdnow_sample()?;
    /// let cohorts = CohortAnalysis::compute(&log, &CohortOptions::new(TimeUnit::Month))?;
    /// assert_eq!(cohorts.periods().unit(), TimeUnit::Month);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn periods(&self) -> &Periods {
        &self.periods
    }

    /// The observation end.
    ///
    /// ```
    /// # use customer_lifecycle::{CohortAnalysis, CohortOptions, RetentionMode, TimeUnit, TransactionLog};
    /// # let log = TransactionLog::cdnow_sample()?;
    /// let cohorts = CohortAnalysis::compute(&log, &CohortOptions::new(TimeUnit::Month))?;
    /// use customer_lifecycle::chrono::NaiveDate;
    /// assert_eq!(cohorts.observation_end(), NaiveDate::from_ymd_opt(1998, 6, 30).unwrap());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn observation_end(&self) -> NaiveDate {
        self.observation_end
    }

    /// The currency of the revenue matrices.
    ///
    /// ```
    /// # use customer_lifecycle::{CohortAnalysis, CohortOptions, RetentionMode, TimeUnit, TransactionLog};
    /// # let log = TransactionLog::cdnow_sample()?;
    /// let cohorts = CohortAnalysis::compute(&log, &CohortOptions::new(TimeUnit::Month))?;
    /// assert_eq!(cohorts.currency(), customer_lifecycle::Currency::USD);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// Whether cell (`row`, offset `n`) is complete: its period ended on or
    /// before the observation end.
    ///
    /// ```
    /// # use customer_lifecycle::{CohortAnalysis, CohortOptions, RetentionMode, TimeUnit, TransactionLog};
    /// # let log = TransactionLog::cdnow_sample()?;
    /// let cohorts = CohortAnalysis::compute(&log, &CohortOptions::new(TimeUnit::Month))?;
    /// assert!(cohorts.is_complete(0, 0));
    /// assert!(!cohorts.is_complete(2, 17)); // March 1997 + 17 months is past the end
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_complete(&self, row: usize, n: usize) -> bool {
        self.complete_columns.get(row).is_some_and(|&c| n < c)
    }

    /// `true` for the complete cells.
    ///
    /// ```
    /// # use customer_lifecycle::{CohortAnalysis, CohortOptions, RetentionMode, TimeUnit, TransactionLog};
    /// # let log = TransactionLog::cdnow_sample()?;
    /// let cohorts = CohortAnalysis::compute(&log, &CohortOptions::new(TimeUnit::Month))?;
    /// let mask = cohorts.complete_mask();
    /// assert!(mask[[0, 0]] && !mask[[2, 17]]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn complete_mask(&self) -> Array2<bool> {
        Array2::from_shape_fn(self.active.dim(), |(r, n)| self.is_complete(r, n))
    }

    /// A cell of one of this analysis's matrices, `None` when incomplete or
    /// out of range.
    ///
    /// ```
    /// # use customer_lifecycle::{CohortAnalysis, CohortOptions, RetentionMode, TimeUnit, TransactionLog};
    /// # let log = TransactionLog::cdnow_sample()?;
    /// let cohorts = CohortAnalysis::compute(&log, &CohortOptions::new(TimeUnit::Month))?;
    /// let retention = cohorts.retention(RetentionMode::OnPeriod);
    /// assert_eq!(cohorts.get(&retention, 0, 0), Some(1.0)); // everyone is active in their first month
    /// assert_eq!(cohorts.get(&retention, 2, 17), None); // not complete: no number, not a zero
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self, matrix: &Array2<f64>, row: usize, n: usize) -> Option<f64> {
        if self.is_complete(row, n) { matrix.get((row, n)).copied() } else { None }
    }

    /// `value(row, n)` in complete cells, NaN elsewhere.
    fn masked(&self, value: impl Fn(usize, usize) -> f64) -> Array2<f64> {
        Array2::from_shape_fn(self.active.dim(), |(r, n)| if self.is_complete(r, n) { value(r, n) } else { f64::NAN })
    }

    fn counts(&self, mode: RetentionMode) -> &Array2<u64> {
        match mode {
            RetentionMode::OnPeriod => &self.active,
            RetentionMode::OnOrAfter => &self.on_or_after,
            RetentionMode::Rolling => &self.rolling,
        }
    }

    /// Customers of each cohort retained in each column (NaN where incomplete).
    ///
    /// ```
    /// # use customer_lifecycle::{CohortAnalysis, CohortOptions, RetentionMode, TimeUnit, TransactionLog};
    /// # let log = TransactionLog::cdnow_sample()?;
    /// let cohorts = CohortAnalysis::compute(&log, &CohortOptions::new(TimeUnit::Month))?;
    /// let active = cohorts.active_customers(RetentionMode::OnPeriod);
    /// assert_eq!(active[[0, 0]], cohorts.sizes()[0] as f64);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn active_customers(&self, mode: RetentionMode) -> Array2<f64> {
        let counts = self.counts(mode);
        self.masked(|r, n| counts[[r, n]] as f64)
    }

    /// Retained customers ÷ cohort size (NaN where incomplete).
    ///
    /// ```
    /// # use customer_lifecycle::{CohortAnalysis, CohortOptions, RetentionMode, TimeUnit, TransactionLog};
    /// # let log = TransactionLog::cdnow_sample()?;
    /// let cohorts = CohortAnalysis::compute(&log, &CohortOptions::new(TimeUnit::Month))?;
    /// let r = cohorts.retention(RetentionMode::OnOrAfter);
    /// assert!(r[[0, 1]] >= r[[0, 2]]); // 'in N or later' cannot rise with N
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn retention(&self, mode: RetentionMode) -> Array2<f64> {
        let counts = self.counts(mode);
        self.masked(|r, n| counts[[r, n]] as f64 / self.sizes[r] as f64)
    }

    /// Order revenue (before returns) of each cohort in each period, in the
    /// currency's units (NaN where incomplete).
    ///
    /// ```
    /// # use customer_lifecycle::{CohortAnalysis, CohortOptions, RetentionMode, TimeUnit, TransactionLog};
    /// # let log = TransactionLog::cdnow_sample()?;
    /// let cohorts = CohortAnalysis::compute(&log, &CohortOptions::new(TimeUnit::Month))?;
    /// assert!(cohorts.revenue()[[0, 0]] > 0.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn revenue(&self) -> Array2<f64> {
        self.masked_money(&self.revenue)
    }

    /// Returned amounts of each cohort, by the period of the return (NaN where incomplete).
    ///
    /// ```
    /// # use customer_lifecycle::{CohortAnalysis, CohortOptions, RetentionMode, TimeUnit, TransactionLog};
    /// # let log = TransactionLog::cdnow_sample()?;
    /// let cohorts = CohortAnalysis::compute(&log, &CohortOptions::new(TimeUnit::Month))?;
    /// assert_eq!(cohorts.returns()[[0, 0]], 0.0); // CDNOW has no returns
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn returns(&self) -> Array2<f64> {
        self.masked_money(&self.returns)
    }

    /// A matrix of exact units in the currency's units, NaN where incomplete.
    fn masked_money(&self, units: &Array2<i64>) -> Array2<f64> {
        let unit = 10f64.powi(self.scale as i32);
        self.masked(|r, n| units[[r, n]] as f64 / unit)
    }

    /// The exact order revenue of one cell (complete or not).
    ///
    /// ```
    /// # use customer_lifecycle::{CohortAnalysis, CohortOptions, RetentionMode, TimeUnit, TransactionLog};
    /// # let log = TransactionLog::cdnow_sample()?;
    /// let cohorts = CohortAnalysis::compute(&log, &CohortOptions::new(TimeUnit::Month))?;
    /// let exact = cohorts.revenue_exact(0, 0).unwrap();
    /// assert!((exact.to_f64() - cohorts.revenue()[[0, 0]]).abs() < 1e-6);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn revenue_exact(&self, row: usize, n: usize) -> Option<Money> {
        let units = *self.revenue.get((row, n))?;
        Some(Money::new(money::from_minor_units(i128::from(units), self.scale)?, self.currency))
    }

    /// Cumulative net revenue (orders − returns) per acquired customer: the
    /// average customer of the cohort has brought this much by the end of
    /// column `N` (NaN where incomplete).
    ///
    /// ```
    /// # use customer_lifecycle::{CohortAnalysis, CohortOptions, RetentionMode, TimeUnit, TransactionLog};
    /// # let log = TransactionLog::cdnow_sample()?;
    /// let cohorts = CohortAnalysis::compute(&log, &CohortOptions::new(TimeUnit::Month))?;
    /// let c = cohorts.cumulative_revenue_per_customer();
    /// assert!(c[[0, 5]] >= c[[0, 4]]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cumulative_revenue_per_customer(&self) -> Array2<f64> {
        let unit = 10f64.powi(self.scale as i32);
        let mut out = Array2::from_elem(self.active.dim(), f64::NAN);
        for r in 0..self.sizes.len() {
            let mut total = 0i128;
            for n in 0..self.complete_columns[r] {
                total += i128::from(self.revenue[[r, n]]) - i128::from(self.returns[[r, n]]);
                out[[r, n]] = total as f64 / unit / self.sizes[r] as f64;
            }
        }
        out
    }

    /// Orders of each cohort in each period (NaN where incomplete).
    ///
    /// ```
    /// # use customer_lifecycle::{CohortAnalysis, CohortOptions, RetentionMode, TimeUnit, TransactionLog};
    /// # let log = TransactionLog::cdnow_sample()?;
    /// let cohorts = CohortAnalysis::compute(&log, &CohortOptions::new(TimeUnit::Month))?;
    /// assert!(cohorts.orders()[[0, 0]] >= cohorts.sizes()[0] as f64);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn orders(&self) -> Array2<f64> {
        self.masked(|r, n| self.orders[[r, n]] as f64)
    }

    /// The complete cells as an Arrow record batch in long form, one row
    /// per cohort and period: `cohort` (its first day, `Date32`),
    /// `period` (N), `size`, `active`, `on_or_after` and `rolling` (customers
    /// retained in each mode), `orders`, `revenue` and `returns` (in the
    /// currency's units). Feature `arrow`.
    ///
    /// ```
    /// # use customer_lifecycle::{CohortAnalysis, CohortOptions, TimeUnit, TransactionLog};
    /// let cohorts = CohortAnalysis::compute(&TransactionLog::cdnow_sample()?, &CohortOptions::new(TimeUnit::Month))?;
    /// let batch = cohorts.to_record_batch()?;
    /// let complete = cohorts.complete_mask().iter().filter(|&&c| c).count();
    /// assert_eq!((batch.num_rows(), batch.schema().field(3).name().as_str()), (complete, "active"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Columnar`] if Arrow refuses the batch.
    #[cfg(feature = "arrow")]
    pub fn to_record_batch(&self) -> Result<arrow_array::RecordBatch> {
        use arrow_array::{ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch};
        use std::sync::Arc;
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
        let cohorts = self.cohorts();
        let sizes = self.sizes();
        let (revenue, returns, orders) = (self.revenue(), self.returns(), self.orders());
        let cells: Vec<(usize, usize)> = (0..cohorts.len())
            .flat_map(|r| (0..self.columns()).map(move |n| (r, n)))
            .filter(|&(r, n)| self.is_complete(r, n))
            .collect();
        let counts = |m: &Array2<u64>| -> ArrayRef {
            Arc::new(Int64Array::from_iter_values(cells.iter().map(|&(r, n)| m[[r, n]] as i64)))
        };
        let floats = |m: &Array2<f64>| -> ArrayRef {
            Arc::new(Float64Array::from_iter_values(cells.iter().map(|&(r, n)| m[[r, n]])))
        };
        RecordBatch::try_from_iter([
            (
                "cohort",
                Arc::new(Date32Array::from_iter_values(
                    cells.iter().map(|&(r, _)| (cohorts[r] - epoch).num_days() as i32),
                )) as ArrayRef,
            ),
            ("period", Arc::new(Int64Array::from_iter_values(cells.iter().map(|&(_, n)| n as i64))) as ArrayRef),
            ("size", Arc::new(Int64Array::from_iter_values(cells.iter().map(|&(r, _)| sizes[r] as i64))) as ArrayRef),
            ("active", counts(&self.active)),
            ("on_or_after", counts(&self.on_or_after)),
            ("rolling", counts(&self.rolling)),
            ("orders", floats(&orders)),
            ("revenue", floats(&revenue)),
            ("returns", floats(&returns)),
        ])
        .map_err(|e| crate::domain::table::columnar("cohort batch", e))
    }

    /// Writes [`CohortAnalysis::to_record_batch`] as a Parquet file.
    /// Feature `arrow`.
    ///
    /// ```
    /// # use customer_lifecycle::{CohortAnalysis, CohortOptions, TimeUnit, TransactionLog};
    /// let cohorts = CohortAnalysis::compute(&TransactionLog::cdnow_sample()?, &CohortOptions::new(TimeUnit::Month))?;
    /// let path = std::env::temp_dir().join(format!("clm-doc-cohorts-{}.parquet", std::process::id()));
    /// cohorts.write_parquet(&path)?;
    /// assert!(std::fs::metadata(&path)?.len() > 0);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be created; [`Error::Columnar`]
    /// when writing fails.
    #[cfg(feature = "arrow")]
    pub fn write_parquet(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        crate::domain::table::write_parquet(&self.to_record_batch()?, path.as_ref())
    }

    /// The average retention curve: for each offset `N`, retained customers
    /// ÷ acquired customers summed over the cohorts whose cell `N` is
    /// complete (so larger cohorts weigh more, and incomplete cells not at
    /// all). The curve stops at the last offset with a complete cell.
    ///
    /// ```
    /// # use customer_lifecycle::{CohortAnalysis, CohortOptions, RetentionMode, TimeUnit, TransactionLog};
    /// # let log = TransactionLog::cdnow_sample()?;
    /// let cohorts = CohortAnalysis::compute(&log, &CohortOptions::new(TimeUnit::Month))?;
    /// let curve = cohorts.average_retention(RetentionMode::OnPeriod);
    /// assert_eq!(curve.rate[0], 1.0);
    /// assert!(curve.rate[1] < 0.5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn average_retention(&self, mode: RetentionMode) -> RetentionCurve {
        let counts = self.counts(mode);
        let columns = self.complete_columns.iter().copied().max().unwrap_or(0);
        let mut retained = Array1::zeros(columns);
        let mut customers = Array1::zeros(columns);
        let mut cohorts = Array1::zeros(columns);
        for (r, &complete) in self.complete_columns.iter().enumerate() {
            for n in 0..complete {
                retained[n] += counts[[r, n]];
                customers[n] += self.sizes[r];
                cohorts[n] += 1;
            }
        }
        let rate = Array1::from_shape_fn(columns, |n| retained[n] as f64 / customers[n] as f64);
        RetentionCurve { rate, retained, customers, cohorts }
    }
}

/// The size-weighted average of the cohorts' retention rates by offset
/// ([`CohortAnalysis::average_retention`]).
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct RetentionCurve {
    /// Retained ÷ acquired, by offset.
    pub rate: Array1<f64>,
    /// Retained customers summed over the contributing cohorts.
    pub retained: Array1<u64>,
    /// Acquired customers of the contributing cohorts.
    pub customers: Array1<u64>,
    /// Number of cohorts whose cell was complete.
    pub cohorts: Array1<u64>,
}

/// The first transaction after the observation end, as an error.
fn after_observation_end(log: &TransactionLog, clock: Clock, obs_day: i32) -> Error {
    for block in log.blocks() {
        for row in block.rows() {
            let day = clock.day_number(row.at);
            if day > obs_day {
                let dense = block.first_customer() + row.local;
                return Error::AfterObservationEnd {
                    customer: log.customers().ids().get(dense).map(|id| id.to_string()).unwrap_or_default(),
                    date: time::date_of_day_number(day),
                    observation_end: time::date_of_day_number(obs_day),
                };
            }
        }
    }
    Error::Empty { what: "transactions after the observation end" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::customer::CustomerId;
    use crate::log::transactions::Transaction;
    use chrono::{DateTime, TimeZone};

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap()
    }

    fn usd(s: &str) -> Money {
        Money::parse(s, Currency::USD).unwrap()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// Six customers over four months, checked by hand below.
    fn log() -> TransactionLog {
        let mut log = TransactionLog::new(Currency::USD);
        let rows = [
            // January cohort: customers 1..=4
            (1, at(2024, 1, 3), "10"),
            (1, at(2024, 2, 3), "20"),
            (1, at(2024, 3, 3), "30"),
            (2, at(2024, 1, 10), "5"),
            (2, at(2024, 3, 10), "5"),
            (2, at(2024, 3, 11), "5"),
            (3, at(2024, 1, 31), "8"),
            (4, at(2024, 1, 15), "1"),
            (4, at(2024, 2, 15), "1"),
            // February cohort: customers 5, 6
            (5, at(2024, 2, 1), "100"),
            (5, at(2024, 4, 2), "50"),
            (6, at(2024, 2, 29), "7"),
        ];
        // Insert out of time order on purpose.
        for (c, t, a) in rows.iter().rev() {
            log.push(Transaction::order(CustomerId::from(*c), *t, usd(a))).unwrap();
        }
        log.push(Transaction::refund(CustomerId::from(1), at(2024, 3, 20), usd("4"))).unwrap();
        log
    }

    fn analysis() -> CohortAnalysis {
        let options = CohortOptions::new(TimeUnit::Month).observation_end(date(2024, 4, 10));
        CohortAnalysis::compute(&log(), &options).unwrap()
    }

    #[test]
    fn hand_computed_monthly_matrices() {
        let a = analysis();
        assert_eq!(a.cohorts(), [date(2024, 1, 1), date(2024, 2, 1)]);
        assert_eq!(a.sizes().to_vec(), [4, 2]);
        assert_eq!(a.columns(), 4); // Jan..Apr
        // Complete: Jan cohort offsets 0..=2 (Jan, Feb, Mar); Feb cohort 0..=1 (Feb, Mar).
        assert_eq!(a.complete_columns, [3, 2]);
        let on = a.active_customers(RetentionMode::OnPeriod);
        assert_eq!(on.row(0).iter().take(3).copied().collect::<Vec<_>>(), [4.0, 2.0, 2.0]);
        assert!(on[[0, 3]].is_nan());
        assert_eq!(on.row(1).iter().take(2).copied().collect::<Vec<_>>(), [2.0, 0.0]);
        assert!(on[[1, 2]].is_nan());
        // On or after: Jan cohort: offset 1 → customers 1, 2, 4; offset 2 → 1, 2.
        let after = a.active_customers(RetentionMode::OnOrAfter);
        assert_eq!(after.row(0).iter().take(3).copied().collect::<Vec<_>>(), [4.0, 3.0, 2.0]);
        // Customer 5 orders again in April (offset 2, incomplete), so counts at offset 1.
        assert_eq!(after.row(1).iter().take(2).copied().collect::<Vec<_>>(), [2.0, 1.0]);
        // Rolling: Jan cohort: offset 1 → 1, 4; offset 2 → 1.
        let rolling = a.active_customers(RetentionMode::Rolling);
        assert_eq!(rolling.row(0).iter().take(3).copied().collect::<Vec<_>>(), [4.0, 2.0, 1.0]);
        assert_eq!(rolling.row(1).iter().take(2).copied().collect::<Vec<_>>(), [2.0, 0.0]);
        let retention = a.retention(RetentionMode::OnPeriod);
        assert_eq!(retention[[0, 1]], 0.5);
        assert_eq!(a.get(&retention, 1, 1), Some(0.0));
        assert_eq!(a.get(&retention, 1, 2), None);

        let revenue = a.revenue();
        assert_eq!(revenue[[0, 0]], 24.0);
        assert_eq!(revenue[[0, 1]], 21.0);
        assert_eq!(revenue[[0, 2]], 40.0);
        assert_eq!(revenue[[1, 0]], 107.0);
        assert!(revenue[[1, 2]].is_nan()); // April: incomplete, though 50 is known so far
        assert_eq!(a.revenue_exact(1, 2), Some(usd("50")));
        assert_eq!(a.returns()[[0, 2]], 4.0);
        let cumulative = a.cumulative_revenue_per_customer();
        assert_eq!(cumulative[[0, 0]], 6.0);
        assert_eq!(cumulative[[0, 1]], 45.0 / 4.0);
        assert_eq!(cumulative[[0, 2]], (45.0 + 36.0) / 4.0);
        assert_eq!(cumulative[[1, 1]], 53.5);
        assert_eq!(a.orders()[[0, 2]], 3.0);
        assert_eq!(a.orders()[[0, 0]], 4.0);
    }

    #[test]
    fn average_curve_weighs_complete_cells_only() {
        let a = analysis();
        let curve = a.average_retention(RetentionMode::OnPeriod);
        assert_eq!(curve.rate.len(), 3);
        assert_eq!(curve.rate[0], 1.0);
        // Offset 1: (2 + 0) / (4 + 2); offset 2: Jan cohort only, 2 / 4.
        assert_eq!(curve.rate[1], 2.0 / 6.0);
        assert_eq!(curve.rate[2], 0.5);
        assert_eq!(curve.cohorts.to_vec(), [2, 2, 1]);
        assert_eq!(curve.customers.to_vec(), [6, 6, 4]);
    }

    #[test]
    fn labels_and_lookup() {
        let a = analysis();
        assert_eq!(a.label(0).as_deref(), Some("2024-01"));
        assert_eq!(a.row_of(date(2024, 2, 17)).unwrap(), 1);
        let err = a.row_of(date(2024, 3, 5)).unwrap_err();
        assert!(matches!(err, Error::EmptyCohort { period_start } if period_start == date(2024, 3, 1)), "{err}");
        assert!(err.to_string().contains("2024-03-01"), "{err}");
    }

    #[test]
    fn weekly_and_daily_cohorts_with_offsets() {
        // 2024-01-07 is a Sunday; with Sunday weeks it starts the second week.
        let mut log = TransactionLog::new(Currency::USD);
        log.push(Transaction::order(CustomerId::from(1), at(2024, 1, 6), usd("1"))).unwrap();
        log.push(Transaction::order(CustomerId::from(2), at(2024, 1, 7), usd("1"))).unwrap();
        let monday = CohortAnalysis::compute(&log, &CohortOptions::new(TimeUnit::Week)).unwrap();
        assert_eq!(monday.cohorts(), [date(2024, 1, 1)]);
        let sunday =
            CohortAnalysis::compute(&log, &CohortOptions::new(TimeUnit::Week).week_start(Weekday::Sun)).unwrap();
        assert_eq!(sunday.cohorts(), [date(2023, 12, 31), date(2024, 1, 7)]);
        // 12:00 UTC is the next day at UTC+13.
        let east = CohortOptions::new(TimeUnit::Day).utc_offset(FixedOffset::east_opt(13 * 3600).unwrap());
        let daily = CohortAnalysis::compute(&log, &east).unwrap();
        assert_eq!(daily.cohorts(), [date(2024, 1, 7), date(2024, 1, 8)]);
        // Observed to the last transaction's date, which is complete.
        assert!(daily.is_complete(1, 0));
    }

    #[test]
    fn bad_input_is_typed() {
        let empty = TransactionLog::new(Currency::USD);
        assert!(matches!(
            CohortAnalysis::compute(&empty, &CohortOptions::new(TimeUnit::Month)),
            Err(Error::Empty { .. })
        ));
        assert!(CohortAnalysis::compute(&log(), &CohortOptions::new(TimeUnit::Days(3))).is_err());
        let early = CohortOptions::new(TimeUnit::Month).observation_end(date(2024, 3, 31));
        assert!(matches!(CohortAnalysis::compute(&log(), &early), Err(Error::AfterObservationEnd { .. })));
        let daily_decades = {
            let mut log = log();
            log.push(Transaction::order(CustomerId::from(9), at(2040, 1, 1), usd("1"))).unwrap();
            log
        };
        assert!(matches!(
            CohortAnalysis::compute(&daily_decades, &CohortOptions::new(TimeUnit::Day)),
            Err(Error::InvalidArgument { name: "cohort unit", .. })
        ));
        let mut returns_first = TransactionLog::new(Currency::USD);
        returns_first.push(Transaction::refund(CustomerId::from(3), at(2024, 1, 1), usd("1"))).unwrap();
        returns_first.push(Transaction::order(CustomerId::from(3), at(2024, 2, 1), usd("1"))).unwrap();
        let err = CohortAnalysis::compute(&returns_first, &CohortOptions::new(TimeUnit::Month)).unwrap_err();
        assert!(matches!(err, Error::ReturnWithoutOrder { .. }), "{err}");
    }

    #[test]
    fn serde_round_trip_and_validation() {
        let a = analysis();
        let json = serde_json::to_string(&a).unwrap();
        let back: CohortAnalysis = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a);
        let tampered = json.replace("\"format_version\":1", "\"format_version\":9");
        assert!(serde_json::from_str::<CohortAnalysis>(&tampered).is_err());
    }

    /// The bitmap path against a direct computation, on many customers
    /// spread over several blocks and more than 64 weekly offsets.
    #[test]
    fn matches_a_direct_computation() {
        let mut log = TransactionLog::new(Currency::USD);
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let start = at(2022, 1, 3).timestamp();
        let mut rows = Vec::new();
        for _ in 0..60_000 {
            let c = (next() % 20_000) as i64;
            let day = (next() % 600) as i64;
            rows.push((c, start + day * 86_400));
        }
        for &(c, t) in &rows {
            log.push(Transaction::order(CustomerId::from(c), DateTime::from_timestamp(t, 0).unwrap(), usd("1")))
                .unwrap();
        }
        let a = CohortAnalysis::compute(&log, &CohortOptions::new(TimeUnit::Week)).unwrap();
        // Direct: per customer the sorted set of weeks.
        let week = |t: i64| (t - start).div_euclid(7 * 86_400) as usize;
        let mut weeks: std::collections::BTreeMap<i64, std::collections::BTreeSet<usize>> = Default::default();
        for &(c, t) in &rows {
            weeks.entry(c).or_default().insert(week(t));
        }
        let width = a.columns();
        let cohorts = a.cohorts();
        let mut on = Array2::<u64>::zeros((cohorts.len(), width));
        let mut after = on.clone();
        let mut rolling = on.clone();
        for set in weeks.values() {
            let first = *set.iter().next().unwrap();
            let row = a.row_of(date(2022, 1, 3) + chrono::Days::new(first as u64 * 7)).unwrap();
            let last = *set.iter().last().unwrap();
            for n in 0..width {
                on[[row, n]] += u64::from(set.contains(&(first + n)));
                after[[row, n]] += u64::from(last >= first + n);
                rolling[[row, n]] += u64::from((0..=n).all(|k| set.contains(&(first + k))));
            }
        }
        assert_eq!(a.active, on);
        assert_eq!(a.on_or_after, after);
        assert_eq!(a.rolling, rolling);
        assert_eq!(a.sizes().sum(), 20_000.min(weeks.len() as u64));
    }
}
