//! Time units, and the two ways of measuring durations.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The unit in which recency, age and durations are expressed.
///
/// ```
/// use customer_lifecycle::TimeUnit;
///
/// assert_eq!(TimeUnit::Week.days(), Some(7));
/// assert_eq!(TimeUnit::Days(14).days(), Some(14));
/// assert_eq!(TimeUnit::Month.days(), None); // calendar months only
/// assert_eq!("week".parse::<TimeUnit>()?, TimeUnit::Week);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TimeUnit {
    /// One day.
    Day,
    /// Seven days (continuous) or a calendar week (calendar periods).
    Week,
    /// A calendar month; only meaningful with calendar periods.
    Month,
    /// A custom number of days (continuous durations only).
    Days(u32),
}

impl TimeUnit {
    /// The unit's fixed length in days, or `None` for calendar months.
    ///
    /// ```
    /// use customer_lifecycle::TimeUnit;
    /// assert_eq!(TimeUnit::Week.days(), Some(7));
    /// assert_eq!(TimeUnit::Month.days(), None); // months have no fixed length
    /// ```
    pub fn days(&self) -> Option<u32> {
        match self {
            TimeUnit::Day => Some(1),
            TimeUnit::Week => Some(7),
            TimeUnit::Month => None,
            TimeUnit::Days(n) => Some(*n),
        }
    }

    /// A short name: `day`, `week`, `month` or `N days`.
    ///
    /// ```
    /// use customer_lifecycle::TimeUnit;
    /// assert_eq!(TimeUnit::Week.name(), "week");
    /// ```
    pub fn name(&self) -> String {
        match self {
            TimeUnit::Day => "day".into(),
            TimeUnit::Week => "week".into(),
            TimeUnit::Month => "month".into(),
            TimeUnit::Days(n) => format!("{n} days"),
        }
    }
}

impl std::str::FromStr for TimeUnit {
    type Err = Error;
    fn from_str(s: &str) -> Result<TimeUnit> {
        match s.trim().to_ascii_lowercase().as_str() {
            "day" | "days" | "d" => Ok(TimeUnit::Day),
            "week" | "weeks" | "w" => Ok(TimeUnit::Week),
            "month" | "months" | "m" => Ok(TimeUnit::Month),
            other => match other.parse::<u32>() {
                Ok(n) if n > 0 => Ok(TimeUnit::Days(n)),
                _ => Err(Error::InvalidArgument {
                    name: "time unit",
                    reason: format!("{s:?} is not day, week, month or a positive number of days"),
                }),
            },
        }
    }
}

/// How durations between dates are measured (see the [module docs](super)).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DurationMode {
    /// Whole days ÷ the unit's length; same-day purchases count once.
    #[default]
    Continuous,
    /// Whole calendar periods; same-period purchases count once.
    Calendar,
}

/// Where dates come from and how they are grouped into periods.
///
/// Built by [`Periods::new`], which validates the combination of unit and
/// mode once; afterwards every mapping is infallible and cheap.
///
/// ```
/// use customer_lifecycle::{DurationMode, Periods, TimeUnit};
/// use customer_lifecycle::chrono::NaiveDate;
///
/// let weeks = Periods::new(TimeUnit::Week, DurationMode::Calendar)?;
/// let mon = NaiveDate::from_ymd_opt(1997, 1, 6).unwrap();
/// let sun = NaiveDate::from_ymd_opt(1997, 1, 12).unwrap();
/// // Monday and the following Sunday share a (Monday-based) calendar week.
/// assert_eq!(weeks.period_of_date(mon), weeks.period_of_date(sun));
/// assert!(Periods::new(TimeUnit::Month, DurationMode::Continuous).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Periods {
    unit: TimeUnit,
    mode: DurationMode,
    utc_offset_seconds: i32,
    /// An IANA zone, when chosen; it takes the place of the fixed offset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    time_zone: Option<Tz>,
    week_start: Weekday,
}

/// A place's clock: a fixed offset from UTC, or an IANA time zone with its
/// daylight-saving rules. The one place that turns instants into local
/// days and local times into instants, for the loaders, the summary, the
/// cohorts and [`Periods`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Clock {
    /// Seconds east of UTC.
    Fixed(i32),
    /// An IANA zone.
    Named(Tz),
}

impl Clock {
    /// The clock of a fixed offset, or of a zone when one is given.
    pub(crate) fn of(utc_offset_seconds: i32, time_zone: Option<Tz>) -> Clock {
        time_zone.map_or(Clock::Fixed(utc_offset_seconds), Clock::Named)
    }

    /// Seconds east of UTC at an instant (Unix seconds).
    pub(crate) fn offset_at(&self, unix_seconds: i64) -> i32 {
        match self {
            Clock::Fixed(offset) => *offset,
            Clock::Named(tz) => match DateTime::from_timestamp(unix_seconds, 0) {
                Some(t) => tz.offset_from_utc_datetime(&t.naive_utc()).fix().local_minus_utc(),
                None => 0,
            },
        }
    }

    /// The local day number (days since 1970-01-01) of an instant.
    pub(crate) fn day_number(&self, unix_seconds: i64) -> i32 {
        day_number_of_timestamp(unix_seconds, self.offset_at(unix_seconds))
    }

    /// The first instant of a local date (midnight, or the first local time
    /// after a gap at midnight).
    pub(crate) fn start_of_day(&self, date: NaiveDate) -> DateTime<Utc> {
        let midnight = date.and_time(chrono::NaiveTime::MIN);
        self.instant(midnight).unwrap_or_else(|_| midnight.and_utc())
    }

    /// The instant of a local time. A time that occurs twice (when clocks
    /// go back) is the earlier instant; a time that does not occur (when
    /// clocks go forward) is read with the offset before the change, which
    /// lands after it (02:30 on a spring-forward night in Berlin is 03:30
    /// summer time) — the rule of RFC 5545 and of JavaScript's Temporal.
    pub(crate) fn instant(&self, local: NaiveDateTime) -> std::result::Result<DateTime<Utc>, String> {
        let out_of_range = || format!("{local} is out of range");
        match self {
            Clock::Fixed(offset) => {
                let offset = FixedOffset::east_opt(*offset).ok_or_else(out_of_range)?;
                offset.from_local_datetime(&local).single().map(|t| t.with_timezone(&Utc)).ok_or_else(out_of_range)
            }
            Clock::Named(tz) => match tz.from_local_datetime(&local) {
                chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => Ok(t.with_timezone(&Utc)),
                chrono::LocalResult::None => {
                    let gap = chrono_tz::GapInfo::new(&local, tz).and_then(|g| g.begin);
                    let (_, before) = gap.ok_or_else(out_of_range)?;
                    let utc = local - chrono::TimeDelta::seconds(i64::from(before.fix().local_minus_utc()));
                    Ok(utc.and_utc())
                }
            },
        }
    }
}

/// Days from 0001-01-01 (day 1 of the common era) to 1970-01-01.
const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

impl Periods {
    /// The invariants of a loaded value: a valid unit for the mode (no
    /// `Days(0)`, no continuous months) and an offset within a day.
    pub(crate) fn check_consistent(&self) -> Result<()> {
        Periods::new(self.unit, self.mode)?;
        if self.utc_offset_seconds.abs() >= 86_400 {
            return Err(Error::InvalidArgument {
                name: "periods",
                reason: format!("UTC offset of {} s", self.utc_offset_seconds),
            });
        }
        Ok(())
    }

    /// Periods of `unit` measured in `mode`, dates in UTC, weeks starting on Monday.
    ///
    /// ```
    /// use customer_lifecycle::{DurationMode, Periods, TimeUnit};
    /// use customer_lifecycle::chrono::{NaiveDate, TimeZone, Utc, Weekday};
    /// let weeks = Periods::new(TimeUnit::Week, DurationMode::Calendar)?;
    /// assert!(Periods::new(TimeUnit::Month, DurationMode::Continuous).is_err()); // no continuous months
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for continuous months, calendar periods of a
    /// custom number of days, or `Days(0)`.
    pub fn new(unit: TimeUnit, mode: DurationMode) -> Result<Periods> {
        match (unit, mode) {
            (TimeUnit::Days(0), _) => {
                Err(Error::InvalidArgument { name: "time unit", reason: "a unit of zero days".into() })
            }
            (TimeUnit::Month, DurationMode::Continuous) => Err(Error::InvalidArgument {
                name: "time unit",
                reason: "a month has no fixed length: use calendar periods for months, or days/weeks".into(),
            }),
            (TimeUnit::Days(_), DurationMode::Calendar) => Err(Error::InvalidArgument {
                name: "time unit",
                reason: "calendar periods exist for day, week and month only".into(),
            }),
            _ => Ok(Periods { unit, mode, utc_offset_seconds: 0, time_zone: None, week_start: Weekday::Mon }),
        }
    }

    /// Continuous weeks in UTC (a combination [`Periods::new`] always accepts).
    pub(crate) fn continuous_weeks() -> Periods {
        Periods {
            unit: TimeUnit::Week,
            mode: DurationMode::Continuous,
            utc_offset_seconds: 0,
            time_zone: None,
            week_start: Weekday::Mon,
        }
    }

    /// Dates are calendar days in this fixed offset from UTC.
    ///
    /// ```
    /// use customer_lifecycle::{DurationMode, Periods, TimeUnit};
    /// use customer_lifecycle::chrono::{NaiveDate, TimeZone, Utc, Weekday};
    /// let weeks = Periods::new(TimeUnit::Week, DurationMode::Calendar)?;
    /// use customer_lifecycle::chrono::FixedOffset;
    /// let late = Utc.with_ymd_and_hms(2024, 5, 1, 23, 30, 0).unwrap();
    /// let berlin = weeks.with_utc_offset(FixedOffset::east_opt(2 * 3600).unwrap());
    /// assert_eq!(berlin.date_of(late), NaiveDate::from_ymd_opt(2024, 5, 2).unwrap());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_utc_offset(mut self, offset: FixedOffset) -> Periods {
        self.utc_offset_seconds = offset.local_minus_utc();
        self.time_zone = None;
        self
    }

    /// Dates are calendar days in this IANA time zone, daylight saving
    /// included (it replaces a fixed offset).
    ///
    /// ```
    /// use customer_lifecycle::{DurationMode, Periods, TimeUnit};
    /// use customer_lifecycle::chrono::{NaiveDate, TimeZone, Utc};
    /// use customer_lifecycle::chrono_tz::Europe::Berlin;
    /// let days = Periods::new(TimeUnit::Day, DurationMode::Calendar)?.with_time_zone(Berlin);
    /// // 23:30 UTC is the next day in Berlin, summer (+2) and winter (+1) alike.
    /// let summer = Utc.with_ymd_and_hms(2024, 7, 1, 23, 30, 0).unwrap();
    /// let winter = Utc.with_ymd_and_hms(2024, 1, 1, 23, 30, 0).unwrap();
    /// assert_eq!(days.date_of(summer), NaiveDate::from_ymd_opt(2024, 7, 2).unwrap());
    /// assert_eq!(days.date_of(winter), NaiveDate::from_ymd_opt(2024, 1, 2).unwrap());
    /// // 22:30 UTC is the same day in winter, the next in summer.
    /// let summer = Utc.with_ymd_and_hms(2024, 7, 1, 22, 30, 0).unwrap();
    /// let winter = Utc.with_ymd_and_hms(2024, 1, 1, 22, 30, 0).unwrap();
    /// assert_eq!(days.date_of(summer), NaiveDate::from_ymd_opt(2024, 7, 2).unwrap());
    /// assert_eq!(days.date_of(winter), NaiveDate::from_ymd_opt(2024, 1, 1).unwrap());
    /// assert_eq!(days.time_zone(), Some(Berlin));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_time_zone(mut self, zone: Tz) -> Periods {
        self.time_zone = Some(zone);
        self.utc_offset_seconds = 0;
        self
    }

    /// These periods in a zone when one is given, else at the fixed offset:
    /// the one way the option types turn their clock settings into periods.
    pub(crate) fn in_clock(self, offset: FixedOffset, zone: Option<Tz>) -> Periods {
        match zone {
            Some(zone) => self.with_time_zone(zone),
            None => self.with_utc_offset(offset),
        }
    }

    /// The IANA time zone, when one was chosen.
    ///
    /// ```
    /// use customer_lifecycle::{DurationMode, Periods, TimeUnit};
    /// assert_eq!(Periods::new(TimeUnit::Day, DurationMode::Calendar)?.time_zone(), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn time_zone(&self) -> Option<Tz> {
        self.time_zone
    }

    /// The clock that dates are taken in.
    pub(crate) fn clock(&self) -> Clock {
        Clock::of(self.utc_offset_seconds, self.time_zone)
    }

    /// Calendar weeks start on this day (default Monday, as pandas' `W`).
    ///
    /// ```
    /// use customer_lifecycle::{DurationMode, Periods, TimeUnit};
    /// use customer_lifecycle::chrono::{NaiveDate, TimeZone, Utc, Weekday};
    /// let weeks = Periods::new(TimeUnit::Week, DurationMode::Calendar)?;
    /// let sundays = weeks.with_week_start(Weekday::Sun);
    /// assert_eq!(sundays.week_start(), Weekday::Sun);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_week_start(mut self, day: Weekday) -> Periods {
        self.week_start = day;
        self
    }

    /// The unit.
    ///
    /// ```
    /// use customer_lifecycle::{DurationMode, Periods, TimeUnit};
    /// use customer_lifecycle::chrono::{NaiveDate, TimeZone, Utc, Weekday};
    /// let weeks = Periods::new(TimeUnit::Week, DurationMode::Calendar)?;
    /// assert_eq!(weeks.unit(), TimeUnit::Week);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unit(&self) -> TimeUnit {
        self.unit
    }

    /// The mode.
    ///
    /// ```
    /// use customer_lifecycle::{DurationMode, Periods, TimeUnit};
    /// use customer_lifecycle::chrono::{NaiveDate, TimeZone, Utc, Weekday};
    /// let weeks = Periods::new(TimeUnit::Week, DurationMode::Calendar)?;
    /// assert_eq!(weeks.mode(), DurationMode::Calendar);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn mode(&self) -> DurationMode {
        self.mode
    }

    /// The fixed UTC offset in which dates are taken (UTC when an IANA
    /// zone is chosen: see [`Periods::time_zone`]).
    ///
    /// ```
    /// use customer_lifecycle::{DurationMode, Periods, TimeUnit};
    /// use customer_lifecycle::chrono::{NaiveDate, TimeZone, Utc, Weekday};
    /// let weeks = Periods::new(TimeUnit::Week, DurationMode::Calendar)?;
    /// assert_eq!(weeks.utc_offset().local_minus_utc(), 0); // UTC unless chosen
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn utc_offset(&self) -> FixedOffset {
        FixedOffset::east_opt(self.utc_offset_seconds).unwrap_or_else(|| Utc.fix())
    }

    /// The first day of calendar weeks.
    ///
    /// ```
    /// use customer_lifecycle::{DurationMode, Periods, TimeUnit};
    /// use customer_lifecycle::chrono::{NaiveDate, TimeZone, Utc, Weekday};
    /// let weeks = Periods::new(TimeUnit::Week, DurationMode::Calendar)?;
    /// assert_eq!(weeks.week_start(), Weekday::Mon);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn week_start(&self) -> Weekday {
        self.week_start
    }

    /// The day number (days since 1970-01-01) of a timestamp's date in the offset.
    ///
    /// ```
    /// use customer_lifecycle::{DurationMode, Periods, TimeUnit};
    /// use customer_lifecycle::chrono::{NaiveDate, TimeZone, Utc, Weekday};
    /// let weeks = Periods::new(TimeUnit::Week, DurationMode::Calendar)?;
    /// assert_eq!(weeks.day_of(Utc.with_ymd_and_hms(1970, 1, 2, 12, 0, 0).unwrap()), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn day_of(&self, at: DateTime<Utc>) -> i32 {
        self.clock().day_number(at.timestamp())
    }

    /// The date of a timestamp in the offset.
    ///
    /// ```
    /// use customer_lifecycle::{DurationMode, Periods, TimeUnit};
    /// use customer_lifecycle::chrono::{NaiveDate, TimeZone, Utc, Weekday};
    /// let weeks = Periods::new(TimeUnit::Week, DurationMode::Calendar)?;
    /// assert_eq!(weeks.date_of(Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()), NaiveDate::from_ymd_opt(2024, 5, 1).unwrap());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn date_of(&self, at: DateTime<Utc>) -> NaiveDate {
        date_of_day_number(self.day_of(at))
    }

    /// The instant a local date begins in the periods' offset or zone: the
    /// bound to cut a log at so that it holds whole local days (with
    /// [`TransactionLog::before`](crate::TransactionLog::before)).
    ///
    /// ```
    /// use customer_lifecycle::{DurationMode, Periods, TimeUnit};
    /// use customer_lifecycle::chrono::{NaiveDate, TimeZone, Utc};
    /// use customer_lifecycle::chrono_tz::Europe::Berlin;
    /// let days = Periods::new(TimeUnit::Day, DurationMode::Continuous)?.with_time_zone(Berlin);
    /// let day = NaiveDate::from_ymd_opt(2024, 7, 1).unwrap();
    /// assert_eq!(days.start_of_day(day), Utc.with_ymd_and_hms(2024, 6, 30, 22, 0, 0).unwrap());
    /// assert_eq!(days.date_of(days.start_of_day(day)), day);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start_of_day(&self, date: NaiveDate) -> DateTime<Utc> {
        self.clock().start_of_day(date)
    }

    /// The period index of a date: consecutive periods have consecutive
    /// indices. In continuous mode the period is the day.
    ///
    /// ```
    /// use customer_lifecycle::{DurationMode, Periods, TimeUnit};
    /// use customer_lifecycle::chrono::{NaiveDate, TimeZone, Utc, Weekday};
    /// let weeks = Periods::new(TimeUnit::Week, DurationMode::Calendar)?;
    /// let (mon, sun) = (NaiveDate::from_ymd_opt(2024, 4, 29).unwrap(), NaiveDate::from_ymd_opt(2024, 5, 5).unwrap());
    /// assert_eq!(weeks.period_of_date(mon), weeks.period_of_date(sun)); // one calendar week
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn period_of_date(&self, date: NaiveDate) -> i32 {
        self.period_of_day(day_number(date))
    }

    /// The period index of a day number.
    ///
    /// ```
    /// use customer_lifecycle::{DurationMode, Periods, TimeUnit};
    /// use customer_lifecycle::chrono::{NaiveDate, TimeZone, Utc, Weekday};
    /// let weeks = Periods::new(TimeUnit::Week, DurationMode::Calendar)?;
    /// let day = weeks.day_of(Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap());
    /// assert_eq!(weeks.period_of_day(day), weeks.period_of_date(NaiveDate::from_ymd_opt(2024, 5, 1).unwrap()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn period_of_day(&self, day: i32) -> i32 {
        match (self.mode, self.unit) {
            (DurationMode::Continuous, _) | (DurationMode::Calendar, TimeUnit::Day) => day,
            (DurationMode::Calendar, TimeUnit::Week) => (day + self.week_shift()).div_euclid(7),
            (DurationMode::Calendar, _) => {
                let d = date_of_day_number(day);
                d.year() * 12 + d.month0() as i32
            }
        }
    }

    /// The first date of a period.
    ///
    /// ```
    /// use customer_lifecycle::{DurationMode, Periods, TimeUnit};
    /// use customer_lifecycle::chrono::{NaiveDate, TimeZone, Utc, Weekday};
    /// let weeks = Periods::new(TimeUnit::Week, DurationMode::Calendar)?;
    /// let p = weeks.period_of_date(NaiveDate::from_ymd_opt(2024, 5, 1).unwrap());
    /// assert_eq!(weeks.period_start(p), NaiveDate::from_ymd_opt(2024, 4, 29).unwrap()); // its Monday
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn period_start(&self, period: i32) -> NaiveDate {
        match (self.mode, self.unit) {
            (DurationMode::Continuous, _) | (DurationMode::Calendar, TimeUnit::Day) => date_of_day_number(period),
            (DurationMode::Calendar, TimeUnit::Week) => date_of_day_number(period * 7 - self.week_shift()),
            (DurationMode::Calendar, _) => {
                let year = period.div_euclid(12);
                let month = period.rem_euclid(12) as u32 + 1;
                NaiveDate::from_ymd_opt(year, month, 1).unwrap_or(NaiveDate::MIN)
            }
        }
    }

    /// Days to add to a day number so that the week start falls on a
    /// multiple of 7 (1970-01-01, day 0, was a Thursday).
    fn week_shift(&self) -> i32 {
        (Weekday::Thu.num_days_from_monday() as i32 - self.week_start.num_days_from_monday() as i32).rem_euclid(7)
    }

    /// The duration from period `from` to period `to`, in the unit.
    ///
    /// ```
    /// use customer_lifecycle::{DurationMode, Periods, TimeUnit};
    /// use customer_lifecycle::chrono::{NaiveDate, TimeZone, Utc, Weekday};
    /// let weeks = Periods::new(TimeUnit::Week, DurationMode::Calendar)?;
    /// let continuous = Periods::new(TimeUnit::Week, DurationMode::Continuous)?;
    /// assert_eq!(continuous.span(0, 14), 2.0); // days ÷ 7
    /// assert_eq!(weeks.span(3, 5), 2.0); // whole calendar weeks
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn span(&self, from: i32, to: i32) -> f64 {
        let periods = f64::from(to) - f64::from(from);
        match self.mode {
            DurationMode::Calendar => periods,
            DurationMode::Continuous => periods / f64::from(self.unit.days().unwrap_or(1)),
        }
    }
}

/// Days since 1970-01-01 of a date.
pub(crate) fn day_number(date: NaiveDate) -> i32 {
    date.num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE
}

/// The date of a day number (saturating at chrono's range ends).
pub(crate) fn date_of_day_number(day: i32) -> NaiveDate {
    let ce = day.saturating_add(UNIX_EPOCH_DAYS_FROM_CE);
    NaiveDate::from_num_days_from_ce_opt(ce).unwrap_or(if ce < 0 { NaiveDate::MIN } else { NaiveDate::MAX })
}

/// Day number of a Unix timestamp (seconds) in a fixed offset.
#[inline]
pub(crate) fn day_number_of_timestamp(unix_seconds: i64, offset_seconds: i32) -> i32 {
    ((unix_seconds + i64::from(offset_seconds)).div_euclid(86_400)) as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn day_numbers() {
        assert_eq!(day_number(d(1970, 1, 1)), 0);
        assert_eq!(day_number(d(1969, 12, 31)), -1);
        assert_eq!(date_of_day_number(day_number(d(1997, 9, 30))), d(1997, 9, 30));
    }

    #[test]
    fn calendar_weeks_match_pandas() {
        // pandas W periods run Monday..Sunday; 1997-01-01 was a Wednesday in the
        // week starting Monday 1996-12-30.
        let p = Periods::new(TimeUnit::Week, DurationMode::Calendar).unwrap();
        let w = p.period_of_date(d(1997, 1, 1));
        assert_eq!(p.period_start(w), d(1996, 12, 30));
        assert_eq!(p.period_of_date(d(1997, 1, 5)), w);
        assert_eq!(p.period_of_date(d(1997, 1, 6)), w + 1);
        // The CDNOW customer first buying 1997-01-01 has T = 78 calendar weeks at 1998-06-30.
        assert_eq!(p.span(w, p.period_of_date(d(1998, 6, 30))), 78.0);
        let sunday = p.with_week_start(Weekday::Sun);
        let w = sunday.period_of_date(d(1997, 1, 1));
        assert_eq!(sunday.period_start(w), d(1996, 12, 29));
        assert_eq!(sunday.period_of_date(d(1997, 1, 4)), w);
        assert_eq!(sunday.period_of_date(d(1997, 1, 5)), w + 1);
    }

    #[test]
    fn calendar_weeks_before_1970() {
        let p = Periods::new(TimeUnit::Week, DurationMode::Calendar).unwrap();
        for day in -40..40 {
            let date = date_of_day_number(day);
            let start = p.period_start(p.period_of_day(day));
            assert_eq!(start.weekday(), Weekday::Mon);
            assert!(start <= date && (date - start).num_days() < 7);
        }
    }

    #[test]
    fn calendar_months() {
        let p = Periods::new(TimeUnit::Month, DurationMode::Calendar).unwrap();
        let jan = p.period_of_date(d(1997, 1, 31));
        let feb = p.period_of_date(d(1997, 2, 1));
        assert_eq!(feb - jan, 1);
        assert_eq!(p.period_start(feb), d(1997, 2, 1));
        assert_eq!(p.span(jan, p.period_of_date(d(1998, 1, 1))), 12.0);
    }

    #[test]
    fn continuous_weeks_are_days_over_seven() {
        let p = Periods::new(TimeUnit::Week, DurationMode::Continuous).unwrap();
        let a = p.period_of_date(d(1997, 1, 1));
        let b = p.period_of_date(d(1997, 9, 30));
        assert_eq!(p.span(a, b), 272.0 / 7.0);
        let fortnight = Periods::new(TimeUnit::Days(14), DurationMode::Continuous).unwrap();
        assert_eq!(fortnight.span(0, 21), 1.5);
    }

    #[test]
    fn offset_moves_the_date() {
        let at = Utc.with_ymd_and_hms(2024, 1, 1, 23, 30, 0).unwrap();
        let p = Periods::new(TimeUnit::Day, DurationMode::Continuous).unwrap();
        assert_eq!(p.date_of(at), d(2024, 1, 1));
        let cet = p.with_utc_offset(FixedOffset::east_opt(3600).unwrap());
        assert_eq!(cet.date_of(at), d(2024, 1, 2));
        let before_epoch = Utc.with_ymd_and_hms(1969, 12, 31, 23, 0, 0).unwrap();
        assert_eq!(p.date_of(before_epoch), d(1969, 12, 31));
    }

    #[test]
    fn invalid_combinations() {
        assert!(Periods::new(TimeUnit::Month, DurationMode::Continuous).is_err());
        assert!(Periods::new(TimeUnit::Days(3), DurationMode::Calendar).is_err());
        assert!(Periods::new(TimeUnit::Days(0), DurationMode::Continuous).is_err());
        assert!("fortnight".parse::<TimeUnit>().is_err());
        assert_eq!("14".parse::<TimeUnit>().unwrap(), TimeUnit::Days(14));
    }
}
