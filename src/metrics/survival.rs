//! How long customers stay: a Kaplan–Meier curve of customer lifetime.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::log::summary::PurchaseSummary;

/// One step of a [`LifetimeSurvival`] curve.
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
pub struct SurvivalStep {
    /// Lifetime (first to last purchase), in the summary's unit.
    pub time: f64,
    /// Customers whose lifetime is at least `time`.
    pub at_risk: u64,
    /// Customers who lapsed with exactly this lifetime.
    pub lapsed: u64,
    /// Customers censored at this lifetime.
    pub censored: u64,
    /// `S(time)`: the share of customers whose lifetime exceeds `time`.
    pub survival: f64,
    /// Greenwood standard error of `survival`.
    pub standard_error: f64,
}

validated_serde! {
/// The Kaplan–Meier survival curve of customer lifetime (see the
/// [module docs](super)).
///
/// ```
/// use customer_lifecycle::{Currency, CustomerId, LifetimeSurvival, Money, SummaryOptions, TimeUnit, Transaction, TransactionLog};
/// use customer_lifecycle::chrono::{NaiveDate, TimeZone, Utc};
///
/// let mut log = TransactionLog::new(Currency::USD);
/// for (customer, days) in [(1, vec![1, 11]), (2, vec![1]), (3, vec![1, 21, 88])] {
///     for day in days {
///         let at = Utc.with_ymd_and_hms(2024, 1, 1, 12, 0, 0).unwrap() + customer_lifecycle::chrono::Days::new(day - 1);
///         log.push(Transaction::order(CustomerId::from(customer), at, Money::parse("5", Currency::USD)?))?;
///     }
/// }
/// let summary = log.summarize(&SummaryOptions::new(TimeUnit::Day).observation_end(NaiveDate::from_ymd_opt(2024, 3, 31).unwrap()))?;
/// // Lapsed after 30 days without a purchase: customers 1 (lifetime 10 days) and 2 (0 days);
/// // customer 3 bought 3 days before the end and is censored at 87 days.
/// let curve = LifetimeSurvival::kaplan_meier(&summary, 30.0)?;
/// assert!((curve.survival_at(0.0) - 2.0 / 3.0).abs() < 1e-15);
/// assert!((curve.survival_at(10.0) - 1.0 / 3.0).abs() < 1e-15);
/// assert_eq!(curve.median(), Some(10.0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Debug)]
pub struct LifetimeSurvival {
    lapse: f64,
    customers: u64,
    steps: Vec<SurvivalStep>,
}
}

impl LifetimeSurvival {
    /// A loaded curve is one [`LifetimeSurvival::kaplan_meier`] could have
    /// drawn: a positive lapse window, steps at finite ascending times, no
    /// more customers lapsing or at risk than there are, and a survival
    /// that starts within 0..=1 and only falls (the lookups bisect the
    /// times and read the survival as a probability).
    fn check_consistent(&self) -> Result<()> {
        let bad = |reason: String| Error::InvalidArgument { name: "saved lifetime curve", reason };
        if !(self.lapse.is_finite() && self.lapse > 0.0) {
            return Err(bad(format!("lapse window {}", self.lapse)));
        }
        let mut lapsed = 0u64;
        let mut previous: Option<&SurvivalStep> = None;
        for s in &self.steps {
            lapsed = lapsed.saturating_add(s.lapsed);
            let in_order = previous.is_none_or(|p| p.time < s.time && s.survival <= p.survival);
            let counts = s.at_risk <= self.customers && s.lapsed.saturating_add(s.censored) <= s.at_risk;
            let numbers = s.time.is_finite()
                && s.time >= 0.0
                && (0.0..=1.0).contains(&s.survival)
                && s.standard_error.is_finite()
                && s.standard_error >= 0.0;
            if !(in_order && counts && numbers) {
                return Err(bad(format!("step {s:?}")));
            }
            previous = Some(s);
        }
        if lapsed > self.customers {
            return Err(bad(format!("{lapsed} lapsed of {} customers", self.customers)));
        }
        Ok(())
    }
}

impl LifetimeSurvival {
    /// The curve of `summary`'s customers with lapse window `lapse` (in the
    /// summary's unit). With a calibration/holdout split the calibration
    /// window is used.
    ///
    /// ```
    /// use customer_lifecycle::{LifetimeSurvival, SummaryOptions, TimeUnit, TransactionLog};
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let lifetime = LifetimeSurvival::kaplan_meier(&summary, 26.0)?; // lapsed after half a year without a purchase
    /// // One-time buyers lapse at their last purchase, time 0: the curve starts below 1.
    /// assert!(lifetime.survival_at(52.0) < lifetime.survival_at(0.0) && lifetime.survival_at(0.0) < 1.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `lapse` is not a positive finite number.
    pub fn kaplan_meier(summary: &PurchaseSummary, lapse: f64) -> Result<LifetimeSurvival> {
        if !(lapse.is_finite() && lapse > 0.0) {
            return Err(Error::InvalidArgument {
                name: "lapse window",
                reason: format!("{lapse} is not a positive number of {}s", summary.periods().unit().name()),
            });
        }
        let recency = summary.recency();
        let age = summary.age();
        // (lifetime, lapsed) per customer; the comparison allows for the
        // rounding of day counts divided by the unit's length.
        let mut lifetimes: Vec<(f64, bool)> =
            recency.iter().zip(age.iter()).map(|(&t_x, &t)| (t_x, t - t_x >= lapse * (1.0 - 1e-12))).collect();
        lifetimes.sort_by(|a, b| a.0.total_cmp(&b.0));
        let n = lifetimes.len() as u64;
        let mut steps = Vec::new();
        let mut survival = 1.0;
        let mut greenwood = 0.0;
        let mut i = 0;
        while i < lifetimes.len() {
            let time = lifetimes[i].0;
            let at_risk = n - i as u64;
            let (mut lapsed, mut censored) = (0u64, 0u64);
            while i < lifetimes.len() && lifetimes[i].0 == time {
                if lifetimes[i].1 {
                    lapsed += 1
                } else {
                    censored += 1
                }
                i += 1;
            }
            if lapsed > 0 {
                survival *= 1.0 - lapsed as f64 / at_risk as f64;
                if lapsed < at_risk {
                    greenwood += lapsed as f64 / (at_risk as f64 * (at_risk - lapsed) as f64);
                }
            }
            let standard_error = if survival > 0.0 { survival * greenwood.sqrt() } else { 0.0 };
            steps.push(SurvivalStep { time, at_risk, lapsed, censored, survival, standard_error });
        }
        Ok(LifetimeSurvival { lapse, customers: n, steps })
    }

    /// The lapse window.
    ///
    /// ```
    /// use customer_lifecycle::{LifetimeSurvival, SummaryOptions, TimeUnit, TransactionLog};
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let lifetime = LifetimeSurvival::kaplan_meier(&summary, 26.0)?; // lapsed after half a year without a purchase
    /// assert_eq!(lifetime.lapse(), 26.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lapse(&self) -> f64 {
        self.lapse
    }

    /// Customers in the estimate.
    ///
    /// ```
    /// use customer_lifecycle::{LifetimeSurvival, SummaryOptions, TimeUnit, TransactionLog};
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let lifetime = LifetimeSurvival::kaplan_meier(&summary, 26.0)?; // lapsed after half a year without a purchase
    /// assert_eq!(lifetime.customers(), 2357);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn customers(&self) -> u64 {
        self.customers
    }

    /// Customers who lapsed (the others are censored).
    ///
    /// ```
    /// use customer_lifecycle::{LifetimeSurvival, SummaryOptions, TimeUnit, TransactionLog};
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let lifetime = LifetimeSurvival::kaplan_meier(&summary, 26.0)?; // lapsed after half a year without a purchase
    /// assert!(lifetime.lapsed() > 0 && lifetime.lapsed() <= lifetime.customers());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lapsed(&self) -> u64 {
        self.steps.iter().map(|s| s.lapsed).sum()
    }

    /// The curve, one step per distinct lifetime (lapsed or censored).
    ///
    /// ```
    /// use customer_lifecycle::{LifetimeSurvival, SummaryOptions, TimeUnit, TransactionLog};
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let lifetime = LifetimeSurvival::kaplan_meier(&summary, 26.0)?; // lapsed after half a year without a purchase
    /// assert!(lifetime.steps().windows(2).all(|w| w[1].survival <= w[0].survival));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn steps(&self) -> &[SurvivalStep] {
        &self.steps
    }

    /// `S(t)`: the estimated share of customers whose lifetime exceeds `t`
    /// (1 before the first step; after the last step, the last value).
    ///
    /// ```
    /// use customer_lifecycle::{LifetimeSurvival, SummaryOptions, TimeUnit, TransactionLog};
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let lifetime = LifetimeSurvival::kaplan_meier(&summary, 26.0)?; // lapsed after half a year without a purchase
    /// assert!(lifetime.survival_at(10.0) >= lifetime.survival_at(20.0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn survival_at(&self, t: f64) -> f64 {
        let k = self.steps.partition_point(|s| s.time <= t);
        if k == 0 { 1.0 } else { self.steps[k - 1].survival }
    }

    /// The median lifetime: the first time at which `S(t) ≤ 0.5`, or `None`
    /// when the curve never gets there (too many customers censored).
    ///
    /// ```
    /// use customer_lifecycle::{LifetimeSurvival, SummaryOptions, TimeUnit, TransactionLog};
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// let lifetime = LifetimeSurvival::kaplan_meier(&summary, 26.0)?; // lapsed after half a year without a purchase
    /// let median = lifetime.median().unwrap();
    /// assert!(lifetime.survival_at(median) <= 0.5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn median(&self) -> Option<f64> {
        self.steps.iter().find(|s| s.survival <= 0.5).map(|s| s.time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::customer::CustomerId;
    use crate::domain::money::{Currency, Money};
    use crate::domain::time::TimeUnit;
    use crate::log::summary::SummaryOptions;
    use crate::log::transactions::{Transaction, TransactionLog};
    use chrono::{Days, NaiveDate, TimeZone, Utc};
    use rust_decimal::Decimal;

    /// Customers by purchase days (day 0 = 2024-01-01), observed to day 100.
    fn summary(customers: &[&[u64]]) -> PurchaseSummary {
        let mut log = TransactionLog::new(Currency::USD);
        let start = Utc.with_ymd_and_hms(2024, 1, 1, 12, 0, 0).unwrap();
        for (c, days) in customers.iter().enumerate() {
            for &d in *days {
                let t = Transaction::order(
                    CustomerId::from(c as i64),
                    start + Days::new(d),
                    Money::new(Decimal::ONE, Currency::USD),
                );
                log.push(t).unwrap();
            }
        }
        let end = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + Days::new(100);
        log.summarize(&SummaryOptions::new(TimeUnit::Day).observation_end(end)).unwrap()
    }

    #[test]
    fn hand_computed_curve_with_ties_and_censoring() {
        // L = 20. Lifetimes (lapsed?): 0 (yes), 0 (yes), 10 (yes), 10 (no: last day 90),
        // 30 (yes), 50 (no: last day 95), 60 (yes).
        let s = summary(&[&[0], &[5], &[0, 10], &[80, 90], &[0, 30], &[45, 95], &[10, 70]]);
        let curve = LifetimeSurvival::kaplan_meier(&s, 20.0).unwrap();
        let times: Vec<f64> = curve.steps().iter().map(|s| s.time).collect();
        assert_eq!(times, [0.0, 10.0, 30.0, 50.0, 60.0]);
        // t=0: n=7, d=2 → 5/7. t=10: n=5, d=1 (one censored) → 5/7·4/5 = 4/7.
        // t=30: n=3, d=1 → 4/7·2/3 = 8/21. t=50: censored. t=60: n=1, d=1 → 0.
        let expected = [5.0 / 7.0, 4.0 / 7.0, 8.0 / 21.0, 8.0 / 21.0, 0.0];
        for (step, e) in curve.steps().iter().zip(expected) {
            assert!((step.survival - e).abs() < 1e-15, "{step:?} vs {e}");
        }
        assert_eq!(curve.steps()[1].at_risk, 5);
        assert_eq!(curve.steps()[1].censored, 1);
        assert_eq!(curve.lapsed(), 5);
        assert_eq!(curve.customers(), 7);
        // Greenwood at t=10: S² (2/(7·5) + 1/(5·4)).
        let se = (4.0f64 / 7.0) * (2.0 / 35.0 + 1.0 / 20.0f64).sqrt();
        assert!((curve.steps()[1].standard_error - se).abs() < 1e-15);
        assert_eq!(curve.steps()[4].standard_error, 0.0);
        assert_eq!(curve.median(), Some(30.0));
        assert_eq!(curve.survival_at(-1.0), 1.0);
        assert!((curve.survival_at(29.9) - 4.0 / 7.0).abs() < 1e-15);
        assert_eq!(curve.survival_at(1e9), 0.0);
    }

    #[test]
    fn everyone_censored_has_no_median() {
        let s = summary(&[&[90], &[95, 99]]);
        let curve = LifetimeSurvival::kaplan_meier(&s, 20.0).unwrap();
        assert_eq!(curve.lapsed(), 0);
        assert_eq!(curve.survival_at(100.0), 1.0);
        assert_eq!(curve.median(), None);
    }

    #[test]
    fn lapse_window_must_be_positive() {
        let s = summary(&[&[0]]);
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                LifetimeSurvival::kaplan_meier(&s, bad),
                Err(Error::InvalidArgument { name: "lapse window", .. })
            ));
        }
    }

    #[test]
    fn exactly_l_without_purchase_has_lapsed_in_weeks() {
        // Last purchase 70 days = 10 weeks before the end: lapsed at L = 10 weeks.
        let mut log = TransactionLog::new(Currency::USD);
        let at = Utc.with_ymd_and_hms(2024, 1, 1, 12, 0, 0).unwrap();
        log.push(Transaction::order(CustomerId::from(1), at, Money::new(Decimal::ONE, Currency::USD))).unwrap();
        let end = NaiveDate::from_ymd_opt(2024, 3, 11).unwrap();
        let s = log.summarize(&SummaryOptions::new(TimeUnit::Week).observation_end(end)).unwrap();
        assert_eq!(LifetimeSurvival::kaplan_meier(&s, 10.0).unwrap().lapsed(), 1);
        assert_eq!(LifetimeSurvival::kaplan_meier(&s, 10.1).unwrap().lapsed(), 0);
    }
}
