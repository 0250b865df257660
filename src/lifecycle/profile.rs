//! The incremental per-customer profile: fixed-size, no heap, updated per event.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::domain::event::{Engagement, EventClass};
use crate::domain::money;
use crate::domain::time::{self, Periods};

/// Money in the profile is held in exact integer units of 10⁻⁴ of the
/// currency (enough for every ISO 4217 currency, whose minor units stop at 3).
pub const PROFILE_SCALE: u32 = 4;

/// Days of engagement kept per kind (the rolling windows reach back this far).
pub const ENGAGEMENT_DAYS: usize = 64;

/// Engagement kinds, as many as the profile keeps windows for.
const ENGAGEMENT_KINDS: usize = 5;

/// The window slot of an engagement kind.
fn engagement_index(kind: Engagement) -> usize {
    kind as usize
}

/// Where the customer was last active ([`Profile::last_activity`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ActivityChannel {
    /// Visits, product views, cart and checkout.
    Web,
    /// E-mail opens and clicks.
    Email,
    /// Orders and returns.
    Purchase,
    /// Support tickets.
    Support,
    /// NPS answers.
    Survey,
}

const CHANNELS: usize = 5;

/// An event checked against a profile ([`Profile::totals_after`]): its local
/// day and period, computed once, and the exact totals after it (units of
/// 10⁻⁴).
#[derive(Clone, Copy)]
pub(crate) struct Totals {
    day: i32,
    period: i32,
    sums: Sums,
}

/// A profile's exact sums, units of 10⁻⁴: gross order values, discounts,
/// paid (gross − discount), the first purchase period's paid amount,
/// returned, support costs.
#[derive(Clone, Copy, PartialEq, Debug, Default, Serialize, Deserialize)]
struct Sums {
    gross: i64,
    discounts: i64,
    paid: i64,
    first_period_paid: i64,
    returned: i64,
    support_cost: i64,
}

/// One event in the engine's compact form: what the profile needs, without
/// heap data (so buffering and replaying it never allocates).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub(crate) struct CompactEvent {
    pub at: i64,
    /// `stable_hash` of the event id.
    pub id_hash: u64,
    /// Hash of the content (kind, time, amounts, ids inside).
    pub content_hash: u64,
    /// `stable_hash` of an order's order id (0 for other events): the
    /// same order under another event id is recognised while it is buffered.
    pub order_hash: u64,
    pub class: EventClass,
    /// Paid amount of an order, refunded amount of a return, cost of a ticket.
    pub amount: i64,
    /// Discount of an order.
    pub discount: i64,
    /// NPS score.
    pub score: u8,
}

/// Exact units of 10⁻⁴, or `None` when the amount is more precise or too large.
pub(crate) fn profile_units(amount: Decimal) -> Option<i64> {
    if amount.scale() <= PROFILE_SCALE {
        money::to_minor_units(amount, PROFILE_SCALE)
    } else {
        money::to_minor_units(amount.normalize(), PROFILE_SCALE)
    }
}

/// [`profile_units`] of an amount given as integer units of `10^-scale`
/// (a transaction log's storage), without going through a decimal.
pub(crate) fn profile_units_of_minor(units: i64, scale: u32) -> Option<i64> {
    if scale <= PROFILE_SCALE {
        units.checked_mul(10i64.checked_pow(PROFILE_SCALE - scale)?)
    } else {
        let divisor = 10i64.checked_pow(scale - PROFILE_SCALE)?;
        (units % divisor == 0).then(|| units / divisor)
    }
}

/// Day buckets of engagement counts: `counts[d % 64]` holds day `d` for the
/// 64 days up to `latest_day`; a bucket counts up to 255 events of a kind
/// in a day (more saturate).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct EngagementRing {
    latest_day: i32,
    counts: [[u8; ENGAGEMENT_KINDS]; ENGAGEMENT_DAYS],
}

impl Default for EngagementRing {
    fn default() -> Self {
        EngagementRing { latest_day: i32::MIN, counts: [[0; ENGAGEMENT_KINDS]; ENGAGEMENT_DAYS] }
    }
}

impl EngagementRing {
    fn slot(day: i32) -> usize {
        day.rem_euclid(ENGAGEMENT_DAYS as i32) as usize
    }

    fn add(&mut self, day: i32, kind: Engagement) {
        if self.latest_day == i32::MIN || day - self.latest_day >= ENGAGEMENT_DAYS as i32 {
            self.counts = [[0; ENGAGEMENT_KINDS]; ENGAGEMENT_DAYS];
            self.latest_day = day;
        } else if day > self.latest_day {
            for d in self.latest_day + 1..=day {
                self.counts[Self::slot(d)] = [0; ENGAGEMENT_KINDS];
            }
            self.latest_day = day;
        } else if self.latest_day - day >= ENGAGEMENT_DAYS as i32 {
            return; // older than the ring: outside every window
        }
        let c = &mut self.counts[Self::slot(day)][engagement_index(kind)];
        *c = c.saturating_add(1);
    }

    /// Events of `kind` on days `(today − days, today]`.
    fn count(&self, kind: Engagement, days: u16, today: i32) -> u32 {
        if self.latest_day == i32::MIN {
            return 0;
        }
        let from = (today - i32::from(days) + 1).max(self.latest_day - ENGAGEMENT_DAYS as i32 + 1);
        let to = today.min(self.latest_day);
        (from..=to).map(|d| u32::from(self.counts[Self::slot(d)][engagement_index(kind)])).sum()
    }

    /// The first day after `today` on which the count of `kind` over the
    /// last `days` days drops (a day with events leaves the window).
    fn next_drop(&self, kind: Engagement, days: u16, today: i32) -> Option<i32> {
        if self.latest_day == i32::MIN {
            return None;
        }
        let from = (today - i32::from(days) + 1).max(self.latest_day - ENGAGEMENT_DAYS as i32 + 1);
        let to = today.min(self.latest_day);
        (from..=to).find(|&d| self.counts[Self::slot(d)][engagement_index(kind)] > 0).map(|d| d + i32::from(days))
    }
}

impl Serialize for EngagementRing {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let flat: Vec<u8> = self.counts.iter().flatten().copied().collect();
        (self.latest_day, flat).serialize(s)
    }
}

impl<'de> Deserialize<'de> for EngagementRing {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (latest_day, flat): (i32, Vec<u8>) = Deserialize::deserialize(d)?;
        if flat.len() != ENGAGEMENT_DAYS * ENGAGEMENT_KINDS {
            return Err(D::Error::custom("engagement ring of the wrong size"));
        }
        let mut ring = EngagementRing { latest_day, ..Default::default() };
        for (k, v) in flat.into_iter().enumerate() {
            ring.counts[k / ENGAGEMENT_KINDS][k % ENGAGEMENT_KINDS] = v;
        }
        Ok(ring)
    }
}

/// A customer's profile, maintained event by event: order history, money,
/// purchase cadence, last activity per channel, rolling engagement, NPS and
/// support. Fixed-size: updating it never allocates.
///
/// It also keeps what the batch [`PurchaseSummary`](crate::PurchaseSummary)
/// keeps per customer, so [`Profile::summary_row`] returns the same
/// `(x, t_x, T, monetary value)` the summary computes from the same orders.
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
pub struct Profile {
    periods: Periods,
    first_seen: i64,
    orders: u32,
    returns: u32,
    /// The exact sums.
    sums: Sums,
    support_tickets: u32,
    nps: Option<(i64, u8)>,
    first_order: Option<i64>,
    last_order: Option<i64>,
    // The summary's window: purchase periods.
    first_period: i32,
    last_period: i32,
    purchase_periods: u32,
    // Gaps in days between distinct purchase days (Welford).
    last_order_day: i32,
    gaps: u32,
    gap_mean: f64,
    gap_m2: f64,
    last_activity: [Option<i64>; CHANNELS],
    engagement: EngagementRing,
}

/// A profile's purchase summary row, as [`PurchaseSummary`](crate::PurchaseSummary) computes it.
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
pub struct SummaryRow {
    /// Repeat purchase periods, `x`.
    pub frequency: u32,
    /// First to last purchase, `t_x`, in the unit.
    pub recency: f64,
    /// First purchase to `now`, `T`, in the unit.
    pub age: f64,
    /// Mean value of the repeat purchase periods (0 without repeats).
    pub monetary_value: f64,
}

impl Profile {
    pub(crate) fn new(periods: Periods, first_seen: i64) -> Profile {
        Profile {
            periods,
            first_seen,
            orders: 0,
            returns: 0,
            sums: Sums::default(),
            support_tickets: 0,
            nps: None,
            first_order: None,
            last_order: None,
            first_period: 0,
            last_period: 0,
            purchase_periods: 0,
            last_order_day: 0,
            gaps: 0,
            gap_mean: 0.0,
            gap_m2: 0.0,
            last_activity: [None; CHANNELS],
            engagement: EngagementRing::default(),
        }
    }

    /// The invariants the profile's code relies on, for a loaded state.
    pub(crate) fn check_consistent(&self) -> std::result::Result<(), String> {
        let totals = [
            self.sums.gross,
            self.sums.discounts,
            self.sums.paid,
            self.sums.first_period_paid,
            self.sums.returned,
            self.sums.support_cost,
        ];
        if totals.iter().any(|&t| t < 0) || self.sums.paid > self.sums.gross || self.sums.discounts > self.sums.gross {
            return Err("profile totals negative or inconsistent".into());
        }
        if !(self.gap_mean.is_finite() && self.gap_mean >= 0.0 && self.gap_m2.is_finite() && self.gap_m2 >= 0.0) {
            return Err("profile gap statistics not finite".into());
        }
        if self.purchase_periods > 0 && self.first_period > self.last_period {
            return Err("first purchase period after the last".into());
        }
        // Day numbers of representable dates (chrono's range), or none yet.
        let day = self.engagement.latest_day;
        if day != i32::MIN && !(-100_000_000..=100_000_000).contains(&day) {
            return Err(format!("engagement day {day} outside the range of dates"));
        }
        Ok(())
    }

    /// The profile's totals after `e`, or `None` when one of them would
    /// overflow. Pure, so that the engine can refuse an event before
    /// anything in the state moves (a failed call leaves no trace).
    #[inline]
    pub(crate) fn totals_after(&self, e: &CompactEvent) -> Option<Totals> {
        let day = time::day_number_of_timestamp(e.at, self.periods.utc_offset().local_minus_utc());
        let period = if e.class == EventClass::Order { self.periods.period_of_day(day) } else { 0 };
        let mut t = self.sums;
        match e.class {
            EventClass::Order => {
                t.gross = t.gross.checked_add(e.amount.checked_add(e.discount)?)?;
                t.discounts = t.discounts.checked_add(e.discount)?;
                t.paid = t.paid.checked_add(e.amount)?;
                if self.purchase_periods == 0 {
                    t.first_period_paid = e.amount;
                } else if period == self.first_period {
                    t.first_period_paid = t.first_period_paid.checked_add(e.amount)?;
                }
            }
            EventClass::Return => t.returned = t.returned.checked_add(e.amount)?,
            EventClass::SupportTicket => t.support_cost = t.support_cost.checked_add(e.amount)?,
            _ => {}
        }
        Some(Totals { day, period, sums: t })
    }

    /// Applies one event, in time order, with the totals
    /// [`Profile::totals_after`] computed for it.
    #[inline]
    pub(crate) fn apply(&mut self, e: &CompactEvent, totals: Totals) {
        let (day, period) = (totals.day, totals.period);
        self.sums = totals.sums;
        match e.class {
            EventClass::Order => {
                self.orders = self.orders.saturating_add(1);
                if self.purchase_periods == 0 {
                    self.first_period = period;
                    self.last_period = period;
                    self.purchase_periods = 1;
                    self.first_order = Some(e.at);
                    self.last_order_day = day;
                } else {
                    if period > self.last_period {
                        self.last_period = period;
                        self.purchase_periods += 1;
                    }
                    if day > self.last_order_day {
                        let gap = f64::from(day - self.last_order_day);
                        self.gaps += 1;
                        let delta = gap - self.gap_mean;
                        self.gap_mean += delta / f64::from(self.gaps);
                        self.gap_m2 += delta * (gap - self.gap_mean);
                        self.last_order_day = day;
                    }
                }
                self.last_order = Some(e.at);
                self.last_activity[ActivityChannel::Purchase as usize] = Some(e.at);
            }
            EventClass::Return => {
                self.returns = self.returns.saturating_add(1);
                self.last_activity[ActivityChannel::Purchase as usize] = Some(e.at);
            }
            EventClass::SupportTicket => {
                self.support_tickets = self.support_tickets.saturating_add(1);
                self.last_activity[ActivityChannel::Support as usize] = Some(e.at);
            }
            EventClass::Nps => {
                self.nps = Some((e.at, e.score));
                self.last_activity[ActivityChannel::Survey as usize] = Some(e.at);
            }
            class => {
                // Engagement counts in its window; e-mail sent, unsubscribe
                // and consent change leave the profile alone.
                if let Some(kind) = class.engagement() {
                    self.engagement.add(day, kind);
                    let channel = match kind {
                        Engagement::EmailOpens | Engagement::EmailClicks => ActivityChannel::Email,
                        _ => ActivityChannel::Web,
                    };
                    self.last_activity[channel as usize] = Some(e.at);
                }
            }
        }
    }

    fn money(&self, units: i64) -> Decimal {
        money::from_minor_units(i128::from(units), PROFILE_SCALE).unwrap_or(Decimal::MAX).normalize()
    }

    /// The periods of [`Profile::summary_row`].
    pub fn periods(&self) -> &Periods {
        &self.periods
    }

    /// When the customer was first seen.
    pub fn first_seen(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.first_seen, 0).unwrap_or_default()
    }

    /// Orders.
    pub fn orders(&self) -> u32 {
        self.orders
    }

    /// Returns.
    pub fn returns(&self) -> u32 {
        self.returns
    }

    /// Σ order values before discounts.
    pub fn gross(&self) -> Decimal {
        self.money(self.sums.gross)
    }

    /// Σ discounts.
    pub fn discounts(&self) -> Decimal {
        self.money(self.sums.discounts)
    }

    /// Σ returned amounts.
    pub fn returned(&self) -> Decimal {
        self.money(self.sums.returned)
    }

    /// Σ paid − Σ returned.
    pub fn net_spend(&self) -> Decimal {
        self.money(self.sums.paid.saturating_sub(self.sums.returned))
    }

    pub(crate) fn net_units(&self) -> i64 {
        self.sums.paid.saturating_sub(self.sums.returned)
    }

    /// Discounts ÷ gross order value (0 without orders).
    pub fn discount_share(&self) -> f64 {
        if self.sums.gross == 0 { 0.0 } else { self.sums.discounts as f64 / self.sums.gross as f64 }
    }

    /// Support tickets and their recorded cost.
    pub fn support(&self) -> (u32, Decimal) {
        (self.support_tickets, self.money(self.sums.support_cost))
    }

    /// The latest NPS answer and when it was given.
    pub fn nps(&self) -> Option<(DateTime<Utc>, u8)> {
        self.nps.map(|(at, s)| (DateTime::from_timestamp(at, 0).unwrap_or_default(), s))
    }

    pub(crate) fn nps_score(&self) -> Option<u8> {
        self.nps.map(|(_, s)| s)
    }

    /// First order.
    pub fn first_order(&self) -> Option<DateTime<Utc>> {
        self.first_order.and_then(|t| DateTime::from_timestamp(t, 0))
    }

    /// Last order.
    pub fn last_order(&self) -> Option<DateTime<Utc>> {
        self.last_order.and_then(|t| DateTime::from_timestamp(t, 0))
    }

    pub(crate) fn last_order_secs(&self) -> Option<i64> {
        self.last_order
    }

    /// Mean and standard deviation (sample, n − 1) of the gaps in days
    /// between distinct purchase days, and how many gaps there were.
    pub fn inter_purchase_days(&self) -> (f64, f64, u32) {
        let sd = if self.gaps > 1 { (self.gap_m2 / f64::from(self.gaps - 1)).sqrt() } else { 0.0 };
        (self.gap_mean, sd, self.gaps)
    }

    /// Last activity on a channel.
    pub fn last_activity(&self, channel: ActivityChannel) -> Option<DateTime<Utc>> {
        self.last_activity[channel as usize].and_then(|t| DateTime::from_timestamp(t, 0))
    }

    /// The latest activity on any channel (or when first seen).
    pub(crate) fn last_any_activity(&self) -> i64 {
        self.last_activity.iter().flatten().copied().max().unwrap_or(self.first_seen)
    }

    /// Engagement events of `kind` in the last `days` days (≤ 64) up to `now`, by calendar day.
    pub fn engagement(&self, kind: Engagement, days: u16, now: DateTime<Utc>) -> u32 {
        self.engagement.count(kind, days.min(ENGAGEMENT_DAYS as u16), self.periods.day_of(now))
    }

    pub(crate) fn engagement_at(&self, kind: Engagement, days: u16, now: i64) -> u32 {
        let today = time::day_number_of_timestamp(now, self.periods.utc_offset().local_minus_utc());
        self.engagement.count(kind, days, today)
    }

    /// The first instant after `now` at which the `days`-day count of `kind` drops.
    pub(crate) fn engagement_next_drop(&self, kind: Engagement, days: u16, now: i64) -> Option<i64> {
        let offset = self.periods.utc_offset().local_minus_utc();
        let today = time::day_number_of_timestamp(now, offset);
        self.engagement.next_drop(kind, days, today).map(|d| i64::from(d) * 86_400 - i64::from(offset))
    }

    /// The purchase summary row at `now` (`None` before the first order).
    pub fn summary_row(&self, now: DateTime<Utc>) -> Option<SummaryRow> {
        self.summary_row_secs(now.timestamp())
    }

    pub(crate) fn summary_row_secs(&self, now: i64) -> Option<SummaryRow> {
        if self.purchase_periods == 0 {
            return None;
        }
        let day = time::day_number_of_timestamp(now, self.periods.utc_offset().local_minus_utc());
        let end = self.periods.period_of_day(day);
        let frequency = self.purchase_periods - 1;
        let repeat = self.sums.paid - self.sums.first_period_paid;
        let unit = 10f64.powi(PROFILE_SCALE as i32);
        Some(SummaryRow {
            frequency,
            recency: self.periods.span(self.first_period, self.last_period),
            age: self.periods.span(self.first_period, end),
            monetary_value: if frequency == 0 { 0.0 } else { repeat as f64 / unit / f64::from(frequency) },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engagement_ring_counts_and_expires() {
        let mut r = EngagementRing::default();
        r.add(100, Engagement::ProductViews);
        r.add(100, Engagement::ProductViews);
        r.add(103, Engagement::ProductViews);
        r.add(90, Engagement::EmailOpens);
        assert_eq!(r.count(Engagement::ProductViews, 7, 103), 3);
        assert_eq!(r.count(Engagement::ProductViews, 3, 103), 1);
        assert_eq!(r.count(Engagement::EmailOpens, 64, 103), 1);
        assert_eq!(r.next_drop(Engagement::ProductViews, 7, 103), Some(107));
        // 70 days later the ring has moved on.
        r.add(173, Engagement::Visits);
        assert_eq!(r.count(Engagement::ProductViews, 64, 173), 0);
        assert_eq!(r.count(Engagement::Visits, 1, 173), 1);
        for _ in 0..300 {
            r.add(173, Engagement::Visits);
        }
        assert_eq!(r.count(Engagement::Visits, 1, 173), 255);
    }
}
