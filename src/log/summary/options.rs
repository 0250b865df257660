//! How to summarise: [`SummaryOptions`].

use crate::domain::time::{DurationMode, Periods, TimeUnit};
use crate::error::{Error, Result};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

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
    pub(super) unit: TimeUnit,
    pub(super) mode: DurationMode,
    pub(super) utc_offset_seconds: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) time_zone: Option<chrono_tz::Tz>,
    pub(super) week_start: chrono::Weekday,
    pub(super) observation_end: Option<NaiveDate>,
    pub(super) calibration_end: Option<NaiveDate>,
}

impl SummaryOptions {
    /// Continuous durations in `unit`, dates in UTC, no calibration split,
    /// observation end = the last transaction's date.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// let options = SummaryOptions::new(TimeUnit::Week);
    /// assert_eq!(options.unit(), TimeUnit::Week);
    /// ```
    pub fn new(unit: TimeUnit) -> SummaryOptions {
        SummaryOptions {
            unit,
            mode: DurationMode::Continuous,
            utc_offset_seconds: 0,
            time_zone: None,
            week_start: chrono::Weekday::Mon,
            observation_end: None,
            calibration_end: None,
        }
    }

    /// Measures in calendar periods instead of continuous days ÷ unit length.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// // Months exist only as calendar periods.
    /// assert!(SummaryOptions::new(TimeUnit::Month).calendar_periods().periods().is_ok());
    /// ```
    pub fn calendar_periods(mut self) -> SummaryOptions {
        self.mode = DurationMode::Calendar;
        self
    }

    /// Sets the duration mode.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// use customer_lifecycle::DurationMode;
    /// let options = SummaryOptions::new(TimeUnit::Week).duration_mode(DurationMode::Calendar);
    /// assert_eq!(options.periods()?.mode(), DurationMode::Calendar);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn duration_mode(mut self, mode: DurationMode) -> SummaryOptions {
        self.mode = mode;
        self
    }

    /// The last day observed (inclusive). Orders after it are errors.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// let end = NaiveDate::from_ymd_opt(2024, 12, 31).unwrap();
    /// assert_eq!(SummaryOptions::new(TimeUnit::Day).observation_end(end).observation_end_date(), Some(end));
    /// ```
    pub fn observation_end(mut self, date: NaiveDate) -> SummaryOptions {
        self.observation_end = Some(date);
        self
    }

    /// The last day of the calibration period (inclusive).
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// let cal = NaiveDate::from_ymd_opt(2024, 6, 30).unwrap();
    /// assert_eq!(SummaryOptions::new(TimeUnit::Day).calibration_end(cal).calibration_end_date(), Some(cal));
    /// ```
    pub fn calibration_end(mut self, date: NaiveDate) -> SummaryOptions {
        self.calibration_end = Some(date);
        self
    }

    /// Dates are calendar days in this fixed UTC offset (default UTC).
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// use customer_lifecycle::chrono::FixedOffset;
    /// let berlin_winter = FixedOffset::east_opt(3600).unwrap();
    /// let options = SummaryOptions::new(TimeUnit::Day).utc_offset(berlin_winter);
    /// assert_eq!(options.periods()?.utc_offset(), berlin_winter);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn utc_offset(mut self, offset: chrono::FixedOffset) -> SummaryOptions {
        self.utc_offset_seconds = offset.local_minus_utc();
        self.time_zone = None;
        self
    }

    /// Dates are calendar days in this IANA time zone, daylight saving
    /// included (it replaces a fixed offset): a Berlin shop's order at
    /// 00:30 local time counts on its local day, summer and winter alike.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit};
    /// use customer_lifecycle::chrono_tz::Europe::Berlin;
    /// let options = SummaryOptions::new(TimeUnit::Day).time_zone(Berlin);
    /// assert_eq!(options.periods()?.time_zone(), Some(Berlin));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn time_zone(mut self, zone: chrono_tz::Tz) -> SummaryOptions {
        self.time_zone = Some(zone);
        self.utc_offset_seconds = 0;
        self
    }

    /// First day of calendar weeks (default Monday, as pandas' `W`).
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// use customer_lifecycle::chrono::Weekday;
    /// let options = SummaryOptions::new(TimeUnit::Week).calendar_periods().week_start(Weekday::Sun);
    /// assert_eq!(options.periods()?.week_start(), Weekday::Sun);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn week_start(mut self, day: chrono::Weekday) -> SummaryOptions {
        self.week_start = day;
        self
    }

    /// The unit.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// assert_eq!(SummaryOptions::new(TimeUnit::Day).unit(), TimeUnit::Day);
    /// ```
    pub fn unit(&self) -> TimeUnit {
        self.unit
    }

    /// The observation end, if set.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// assert_eq!(SummaryOptions::new(TimeUnit::Day).observation_end_date(), None); // the last transaction's date
    /// ```
    pub fn observation_end_date(&self) -> Option<NaiveDate> {
        self.observation_end
    }

    /// The calibration end, if set.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// assert_eq!(SummaryOptions::new(TimeUnit::Day).calibration_end_date(), None); // no holdout
    /// ```
    pub fn calibration_end_date(&self) -> Option<NaiveDate> {
        self.calibration_end
    }

    /// The validated period mapping.
    ///
    /// ```
    /// # use customer_lifecycle::{SummaryOptions, TimeUnit};
    /// # use customer_lifecycle::chrono::NaiveDate;
    /// assert!(SummaryOptions::new(TimeUnit::Month).periods().is_err()); // no continuous months
    /// assert!(SummaryOptions::new(TimeUnit::Week).periods().is_ok());
    /// ```
    ///
    /// # Errors
    /// As [`Periods::new`]; also [`Error::InvalidArgument`] for an offset
    /// beyond ±24 h.
    pub fn periods(&self) -> Result<Periods> {
        let offset = chrono::FixedOffset::east_opt(self.utc_offset_seconds).ok_or_else(|| Error::InvalidArgument {
            name: "utc offset",
            reason: format!("{} s", self.utc_offset_seconds),
        })?;
        Ok(Periods::new(self.unit, self.mode)?.in_clock(offset, self.time_zone).with_week_start(self.week_start))
    }

    pub(super) fn validate(&self) -> Result<Periods> {
        let periods = self.periods()?;
        if let (Some(cal), Some(obs)) = (self.calibration_end, self.observation_end) {
            if cal >= obs {
                return Err(Error::CalibrationAfterObservationEnd { calibration_end: cal, observation_end: obs });
            }
        }
        Ok(periods)
    }
}
