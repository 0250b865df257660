//! Lifecycle KPIs, each with its formula.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::customer::CustomerId;
use crate::domain::event::{Event, EventKind, distinct_events};
use crate::domain::money::{self, Money};
use crate::error::{Error, Result};
use crate::log::transactions::{CUSTOMERS_PER_BLOCK, TransactionKind, TransactionLog};

/// Purchase KPIs of a transaction log over a window (formulas in the
/// [module docs](super)).
///
/// ```
/// use customer_lifecycle::{Currency, CustomerId, Money, PurchaseKpis, Transaction, TransactionLog};
/// use customer_lifecycle::chrono::{TimeZone, Utc};
///
/// let mut log = TransactionLog::new(Currency::USD);
/// let day = |d| Utc.with_ymd_and_hms(2024, 1, d, 12, 0, 0).unwrap();
/// let usd = |s| Money::parse(s, Currency::USD);
/// log.push(Transaction::order(CustomerId::from(1), day(2), usd("30")?))?;
/// log.push(Transaction::order(CustomerId::from(1), day(20), usd("10")?))?;
/// log.push(Transaction::order(CustomerId::from(2), day(21), usd("20")?))?;
/// log.push(Transaction::refund(CustomerId::from(2), day(25), usd("5")?))?;
/// let kpis = PurchaseKpis::compute(&log, day(16), day(31))?;
/// assert_eq!(kpis.buyers, 2);
/// assert_eq!(kpis.average_order_value, usd("15")?);
/// assert_eq!(kpis.retention_rate, Some(1.0));      // customer 1 bought in both windows
/// assert_eq!(kpis.return_rate_value, 5.0 / 30.0);  // 5 returned of 10 + 20
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct PurchaseKpis {
    /// Window start (inclusive).
    pub from: DateTime<Utc>,
    /// Window end (exclusive).
    pub to: DateTime<Utc>,
    /// Lapse window for reactivation.
    pub lapse: TimeDelta,
    /// Customers with an order in the window.
    pub buyers: u64,
    /// Orders in the window.
    pub orders: u64,
    /// Buyers with two or more orders in the window.
    pub repeat_buyers: u64,
    /// `repeat_buyers ÷ buyers`.
    pub repeat_purchase_rate: f64,
    /// `orders ÷ buyers`.
    pub purchase_frequency: f64,
    /// Order revenue in the window (before returns).
    pub revenue: Money,
    /// `revenue ÷ orders`, rounded to the currency's minor units (half to even).
    pub average_order_value: Money,
    /// Returns in the window.
    pub returns: u64,
    /// Returned amount in the window.
    pub returned: Money,
    /// `returns ÷ orders` of the window; above 1 when the window's returns
    /// are of orders placed before it.
    pub return_rate_count: f64,
    /// `returned ÷ revenue` (0 when revenue is 0); above 1 as the count.
    pub return_rate_value: f64,
    /// Customers whose first order falls in the window.
    pub new_customers: u64,
    /// Buyers of the previous window of the same length.
    pub previous_buyers: u64,
    /// Previous buyers who ordered again in the window.
    pub retained: u64,
    /// `retained ÷ previous_buyers`.
    pub retention_rate: Option<f64>,
    /// `1 − retention_rate`.
    pub churn_rate: Option<f64>,
    /// Customers lapsed at `from`.
    pub lapsed: u64,
    /// Lapsed customers who ordered in the window.
    pub reactivated: u64,
    /// `reactivated ÷ lapsed`.
    pub reactivation_rate: Option<f64>,
}

/// Per-customer state of [`PurchaseKpis::compute`] within one block.
#[derive(Clone, Copy, Default)]
struct Buyer {
    orders_in: u32,
    first: Option<i64>,
    in_previous: bool,
    last_before: Option<i64>,
}

fn ratio(numerator: u64, denominator: u64) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

fn check_window(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<()> {
    if from >= to {
        return Err(Error::InvalidArgument {
            name: "kpi window",
            reason: format!("from {from} is not before to {to}"),
        });
    }
    Ok(())
}

impl PurchaseKpis {
    /// The KPIs of `[from, to)`, with the lapse window for reactivation equal
    /// to the window's length.
    ///
    /// ```
    /// use customer_lifecycle::{PurchaseKpis, TransactionLog};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let log = TransactionLog::cdnow_sample()?;
    /// let (from, to) = (Utc.with_ymd_and_hms(1997, 7, 1, 0, 0, 0).unwrap(), Utc.with_ymd_and_hms(1997, 10, 1, 0, 0, 0).unwrap());
    /// let q3 = PurchaseKpis::compute(&log, from, to)?;
    /// assert_eq!(q3.new_customers, 0); // everyone was acquired in Q1
    /// assert!(q3.repeat_purchase_rate > 0.0 && q3.buyers > 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`PurchaseKpis::compute_with_lapse`].
    pub fn compute(log: &TransactionLog, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<PurchaseKpis> {
        PurchaseKpis::compute_with_lapse(log, from, to, to - from)
    }

    /// The KPIs of `[from, to)`; a customer is lapsed at `from` after `lapse`
    /// without an order.
    ///
    /// ```
    /// use customer_lifecycle::{PurchaseKpis, TransactionLog};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let log = TransactionLog::cdnow_sample()?;
    /// let (from, to) = (Utc.with_ymd_and_hms(1997, 7, 1, 0, 0, 0).unwrap(), Utc.with_ymd_and_hms(1997, 10, 1, 0, 0, 0).unwrap());
    /// use customer_lifecycle::chrono::TimeDelta;
    /// let q3 = PurchaseKpis::compute_with_lapse(&log, from, to, TimeDelta::days(180))?;
    /// assert_eq!(q3.lapse, TimeDelta::days(180));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `from ≥ to` or `lapse` is not
    /// positive; [`Error::Empty`] when nobody ordered in the window;
    /// [`Error::AmountOverflow`] when a total leaves the exact range.
    pub fn compute_with_lapse(
        log: &TransactionLog,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        lapse: TimeDelta,
    ) -> Result<PurchaseKpis> {
        check_window(from, to)?;
        if lapse <= TimeDelta::zero() {
            return Err(Error::InvalidArgument { name: "lapse window", reason: format!("{lapse} is not positive") });
        }
        // Phase 1: one pass over the log, block by block, counting the
        // window's orders and returns and each customer's place (new,
        // retained, lapsed, reactivated); phase 2: the rates.
        let k = Counts::tally(log, from.timestamp(), to.timestamp(), lapse.num_seconds());
        let (revenue, returned) = (k.revenue, k.returned);
        if k.buyers == 0 {
            return Err(Error::Empty { what: "orders in the kpi window" });
        }
        let currency = log.currency();
        let exact = |units: i128, field: &'static str| {
            money::from_minor_units(units, log.scale())
                .map(|d| Money::new(d, currency))
                .ok_or(Error::AmountOverflow { field, customer: None })
        };
        let revenue_money = exact(revenue, "kpi revenue")?;
        let aov = Money::new(
            (revenue_money.amount() / Decimal::from(k.orders))
                .round_dp_with_strategy(currency.minor_units(), rust_decimal::RoundingStrategy::MidpointNearestEven),
            currency,
        );
        let retention_rate = ratio(k.retained, k.previous);
        Ok(PurchaseKpis {
            from,
            to,
            lapse,
            buyers: k.buyers,
            orders: k.orders,
            repeat_buyers: k.repeat,
            repeat_purchase_rate: k.repeat as f64 / k.buyers as f64,
            purchase_frequency: k.orders as f64 / k.buyers as f64,
            revenue: revenue_money,
            average_order_value: aov,
            returns: k.returns,
            returned: exact(returned, "kpi returns")?,
            return_rate_count: k.returns as f64 / k.orders as f64,
            return_rate_value: if revenue == 0 { 0.0 } else { returned as f64 / revenue as f64 },
            new_customers: k.new,
            previous_buyers: k.previous,
            retained: k.retained,
            retention_rate,
            churn_rate: retention_rate.map(|r| 1.0 - r),
            lapsed: k.lapsed,
            reactivated: k.reactivated,
            reactivation_rate: ratio(k.reactivated, k.lapsed),
        })
    }
}

#[derive(Default)]
struct Counts {
    /// Exact minor units of the orders and returns in the window.
    revenue: i128,
    returned: i128,
    orders: u64,
    returns: u64,
    buyers: u64,
    repeat: u64,
    new: u64,
    previous: u64,
    retained: u64,
    lapsed: u64,
    reactivated: u64,
}

impl Counts {
    /// The counts of the window `[start, end)` (Unix seconds), against the
    /// previous window of equal length (retention) and a lapse of `lapse`
    /// seconds before the start (reactivation).
    fn tally(log: &TransactionLog, start: i64, end: i64, lapse: i64) -> Counts {
        let previous = start - (end - start);
        let lapsed_before = start.saturating_sub(lapse);
        let mut k = Counts::default();
        // Each customer's state is kept for one block of customers at a time.
        let mut state = vec![Buyer::default(); CUSTOMERS_PER_BLOCK];
        for block in log.blocks() {
            for row in block.rows() {
                let at = row.at;
                let inside = (start..end).contains(&at);
                match row.kind {
                    TransactionKind::Return => {
                        if inside {
                            k.returns += 1;
                            k.returned += i128::from(row.amount);
                        }
                    }
                    TransactionKind::Order => {
                        let b = &mut state[row.local];
                        b.first = Some(b.first.map_or(at, |f| f.min(at)));
                        if inside {
                            b.orders_in += 1;
                            k.orders += 1;
                            k.revenue += i128::from(row.amount);
                        } else if at < start {
                            b.in_previous |= at >= previous;
                            b.last_before = Some(b.last_before.map_or(at, |l| l.max(at)));
                        }
                    }
                }
            }
            // The block's customers, counted and reset for the next block.
            for b in state.iter_mut().filter(|b| b.first.is_some()) {
                let b = std::mem::take(b);
                let bought = b.orders_in > 0;
                k.buyers += u64::from(bought);
                k.repeat += u64::from(b.orders_in >= 2);
                k.new += u64::from(b.first.is_some_and(|f| (start..end).contains(&f)));
                k.previous += u64::from(b.in_previous);
                k.retained += u64::from(b.in_previous && bought);
                let lapsed = b.last_before.is_some_and(|l| l < lapsed_before);
                k.lapsed += u64::from(lapsed);
                k.reactivated += u64::from(lapsed && bought);
            }
        }
        k
    }
}

/// Engagement KPIs from events over a window (formulas in the
/// [module docs](super)).
///
/// ```
/// use customer_lifecycle::{CustomerId, EngagementKpis, Event, EventKind, NpsScore};
/// use customer_lifecycle::chrono::{TimeDelta, TimeZone, Utc};
///
/// let at = |h| Utc.with_ymd_and_hms(2024, 1, 1, h, 0, 0).unwrap();
/// let nps = |id: &str, c: i64, score| Event::new(id, CustomerId::from(c), at(9), EventKind::NpsAnswered { score: NpsScore::new(score).unwrap() });
/// let events = vec![nps("a", 1, 10)?, nps("b", 2, 8)?, nps("c", 3, 3)?, nps("d", 4, 9)?];
/// let kpis = EngagementKpis::compute(&events, at(0), at(23), TimeDelta::hours(1))?;
/// assert_eq!(kpis.nps, Some(25.0)); // (2 promoters − 1 detractor) / 4 × 100
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct EngagementKpis {
    /// Window start (inclusive).
    pub from: DateTime<Utc>,
    /// Window end (exclusive).
    pub to: DateTime<Utc>,
    /// Customers who answered the NPS question in the window.
    pub respondents: u64,
    /// Latest answer 9 or 10.
    pub promoters: u64,
    /// Latest answer 7 or 8.
    pub passives: u64,
    /// Latest answer 0 to 6.
    pub detractors: u64,
    /// `(promoters − detractors) ÷ respondents × 100`.
    pub nps: Option<f64>,
    /// Customers with a visit, view, cart addition or checkout in the window.
    pub visitors: u64,
    /// Visitors who ordered in the window.
    pub converted_visitors: u64,
    /// `converted_visitors ÷ visitors`.
    pub conversion_rate: Option<f64>,
    /// Carts that ended in an order.
    pub converted_carts: u64,
    /// Carts left without an order for the timeout.
    pub abandoned_carts: u64,
    /// Carts still open at `to`, within their timeout (not in the rate).
    pub open_carts: u64,
    /// `abandoned_carts ÷ (abandoned_carts + converted_carts)`.
    pub cart_abandonment_rate: Option<f64>,
}

/// One customer's engagement in the window, built event by event.
#[derive(Default)]
struct Engagement {
    nps: Option<(DateTime<Utc>, u8)>,
    visited: bool,
    ordered: bool,
    /// Last activity of the open cart.
    cart: Option<DateTime<Utc>>,
}

/// What one event did to a customer's cart.
#[derive(Default)]
struct CartEvents {
    abandoned: u64,
    converted: u64,
}

impl Engagement {
    /// Applies the customer's next event (in time order). A cart is an
    /// episode: opened by an addition, kept alive by checkout steps, closed
    /// by an order (converted) or by `timeout` without activity (abandoned,
    /// counted when the next event shows it).
    fn observe(&mut self, e: &Event, timeout: TimeDelta, carts: &mut CartEvents) {
        if let Some(last) = self.cart {
            if e.at - last >= timeout {
                carts.abandoned += 1;
                self.cart = None;
            }
        }
        match &e.kind {
            EventKind::NpsAnswered { score } => self.nps = Some((e.at, score.value())),
            EventKind::SiteVisit | EventKind::ProductViewed { .. } => self.visited = true,
            EventKind::AddedToCart { .. } => {
                self.visited = true;
                self.cart = Some(e.at);
            }
            EventKind::CheckoutStarted => {
                self.visited = true;
                if self.cart.is_some() {
                    self.cart = Some(e.at);
                }
            }
            EventKind::OrderPlaced { .. } => {
                self.ordered = true;
                if self.cart.take().is_some() {
                    carts.converted += 1;
                }
            }
            _ => {}
        }
    }
}

impl EngagementKpis {
    /// The KPIs of the events in `[from, to)`; carts are abandoned after
    /// `cart_timeout` without activity. Events may come in any order; a
    /// replayed event (same id, same content) counts once.
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, EngagementKpis, Event, EventKind};
    /// use customer_lifecycle::chrono::{TimeDelta, TimeZone, Utc};
    /// let at = |h| Utc.with_ymd_and_hms(2024, 5, 1, h, 0, 0).unwrap();
    /// let events = [
    ///     Event::new("v", CustomerId::from(1), at(9), EventKind::SiteVisit)?,
    ///     Event::new("c", CustomerId::from(1), at(10), EventKind::AddedToCart { product_id: "p".into(), quantity: 1 })?,
    /// ];
    /// let kpis = EngagementKpis::compute(&events, at(0), at(23), TimeDelta::hours(2))?;
    /// # let _ = kpis;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `from ≥ to` or the timeout is not
    /// positive; [`Error::InvalidEvent`] for an invalid event;
    /// [`Error::ConflictingDuplicate`] for one id with two contents;
    /// [`Error::Empty`] when no event falls in the window.
    pub fn compute(
        events: &[Event],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        cart_timeout: TimeDelta,
    ) -> Result<EngagementKpis> {
        check_window(from, to)?;
        if cart_timeout <= TimeDelta::zero() {
            return Err(Error::InvalidArgument {
                name: "cart timeout",
                reason: format!("{cart_timeout} is not positive"),
            });
        }
        let mut order: Vec<&Event> =
            distinct_events(events)?.into_iter().filter(|e| (from..to).contains(&e.at)).collect();
        if order.is_empty() {
            return Err(Error::Empty { what: "events in the kpi window" });
        }
        // Time order; ties by id, so the result does not depend on input order.
        order.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)));
        // Each customer's events in time order, then the population's rates.
        let mut customers: HashMap<&CustomerId, Engagement> = HashMap::new();
        let mut carts = CartEvents::default();
        for e in order {
            customers.entry(&e.customer).or_default().observe(e, cart_timeout, &mut carts);
        }
        let (converted_carts, abandoned_carts) = (carts.converted, carts.abandoned);
        let mut k = EngagementKpis {
            from,
            to,
            respondents: 0,
            promoters: 0,
            passives: 0,
            detractors: 0,
            nps: None,
            visitors: 0,
            converted_visitors: 0,
            conversion_rate: None,
            converted_carts,
            abandoned_carts,
            open_carts: 0,
            cart_abandonment_rate: None,
        };
        for c in customers.values() {
            if let Some((_, score)) = c.nps {
                k.respondents += 1;
                match score {
                    9..=10 => k.promoters += 1,
                    7..=8 => k.passives += 1,
                    _ => k.detractors += 1,
                }
            }
            k.visitors += u64::from(c.visited);
            k.converted_visitors += u64::from(c.visited && c.ordered);
            if let Some(last) = c.cart {
                if to - last >= cart_timeout {
                    k.abandoned_carts += 1;
                } else {
                    k.open_carts += 1;
                }
            }
        }
        k.nps = ratio(k.promoters, k.respondents).zip(ratio(k.detractors, k.respondents)).map(|(p, d)| (p - d) * 100.0);
        k.conversion_rate = ratio(k.converted_visitors, k.visitors);
        k.cart_abandonment_rate = ratio(k.abandoned_carts, k.abandoned_carts + k.converted_carts);
        Ok(k)
    }
}

/// Customer acquisition cost: `spend ÷ new_customers`, rounded to the
/// currency's minor units (half to even).
///
/// ```
/// use customer_lifecycle::{Currency, Money};
/// use customer_lifecycle::metrics::customer_acquisition_cost;
///
/// let cac = customer_acquisition_cost(Money::parse("1000", Currency::EUR)?, 40)?;
/// assert_eq!(cac, Money::parse("25.00", Currency::EUR)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::InvalidAmount`] for a negative spend; [`Error::InvalidArgument`]
/// for zero new customers.
pub fn customer_acquisition_cost(spend: Money, new_customers: u64) -> Result<Money> {
    if spend.is_negative() {
        return Err(Error::InvalidAmount {
            field: "acquisition spend",
            value: spend.to_string(),
            customer: None,
            reason: "must not be negative".into(),
        });
    }
    if new_customers == 0 {
        return Err(Error::InvalidArgument {
            name: "new customers",
            reason: "no customer was acquired: the acquisition cost per customer is undefined".into(),
        });
    }
    let cac = spend.amount() / Decimal::from(new_customers);
    Ok(Money::new(
        cac.round_dp_with_strategy(spend.currency().minor_units(), rust_decimal::RoundingStrategy::MidpointNearestEven),
        spend.currency(),
    ))
}

/// The CLV:CAC ratio (a common rule of thumb wants ≥ 3).
///
/// ```
/// use customer_lifecycle::{Currency, Money};
/// use customer_lifecycle::metrics::clv_to_cac;
///
/// let ratio = clv_to_cac(Money::parse("150", Currency::EUR)?, Money::parse("50", Currency::EUR)?)?;
/// assert_eq!(ratio, 3.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::MixedCurrency`]; [`Error::InvalidAmount`] when the CAC is not
/// positive.
pub fn clv_to_cac(average_clv: Money, cac: Money) -> Result<f64> {
    if average_clv.currency() != cac.currency() {
        return Err(Error::MixedCurrency {
            expected: average_clv.currency().to_string(),
            found: cac.currency().to_string(),
        });
    }
    if cac.is_negative() || cac.amount().is_zero() {
        return Err(Error::InvalidAmount {
            field: "customer acquisition cost",
            value: cac.to_string(),
            customer: None,
            reason: "must be positive for a CLV:CAC ratio".into(),
        });
    }
    Ok(average_clv.to_f64() / cac.to_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::NpsScore;
    use crate::domain::money::Currency;
    use crate::log::transactions::Transaction;
    use chrono::TimeZone;

    fn day(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap() + TimeDelta::days(i64::from(d) - 1)
    }

    fn usd(s: &str) -> Money {
        Money::parse(s, Currency::USD).unwrap()
    }

    /// Window: days 21..31 (10 days); previous window 11..21; lapse 10 days.
    fn log() -> TransactionLog {
        let mut log = TransactionLog::new(Currency::USD);
        let mut order =
            |c: i64, d: u32, a: &str| log.push(Transaction::order(CustomerId::from(c), day(d), usd(a))).unwrap();
        order(1, 12, "10"); // previous window, back in window: retained
        order(1, 22, "20");
        order(1, 25, "30");
        order(2, 15, "40"); // previous window, not back: churned
        order(3, 2, "5"); // lapsed (last order day 2 < 11), back on day 23: reactivated
        order(3, 23, "15");
        order(4, 3, "7"); // lapsed, not back
        order(5, 28, "25"); // new in the window
        order(6, 40, "99"); // after the window: ignored, but first order ever after it
        log.push(Transaction::refund(CustomerId::from(1), day(26), usd("6"))).unwrap();
        log.push(Transaction::refund(CustomerId::from(2), day(16), usd("40"))).unwrap(); // outside
        log
    }

    #[test]
    fn hand_computed_purchase_kpis() {
        let k = PurchaseKpis::compute(&log(), day(21), day(31)).unwrap();
        assert_eq!(k.buyers, 3); // 1, 3, 5
        assert_eq!(k.orders, 4);
        assert_eq!(k.repeat_buyers, 1);
        assert_eq!(k.repeat_purchase_rate, 1.0 / 3.0);
        assert_eq!(k.purchase_frequency, 4.0 / 3.0);
        assert_eq!(k.revenue, usd("90"));
        assert_eq!(k.average_order_value, usd("22.50"));
        assert_eq!(k.returns, 1);
        assert_eq!(k.returned, usd("6"));
        assert_eq!(k.return_rate_count, 0.25);
        assert_eq!(k.return_rate_value, 6.0 / 90.0);
        assert_eq!(k.new_customers, 1);
        assert_eq!(k.previous_buyers, 2);
        assert_eq!(k.retained, 1);
        assert_eq!(k.retention_rate, Some(0.5));
        assert_eq!(k.churn_rate, Some(0.5));
        assert_eq!(k.lapsed, 2);
        assert_eq!(k.reactivated, 1);
        assert_eq!(k.reactivation_rate, Some(0.5));
        // A 20-day lapse window: customers 3 and 4 (last orders on days 2 and 3) are not lapsed
        // at day 21 (day 2 is the boundary).
        let long = PurchaseKpis::compute_with_lapse(&log(), day(21), day(31), TimeDelta::days(19)).unwrap();
        assert_eq!(long.lapsed, 0);
        assert_eq!(long.reactivation_rate, None);
    }

    #[test]
    fn undefined_rates_are_none_and_bad_windows_errors() {
        let k = PurchaseKpis::compute(&log(), day(2), day(3)).unwrap();
        assert_eq!(k.previous_buyers, 0);
        assert_eq!(k.retention_rate, None);
        assert!(matches!(PurchaseKpis::compute(&log(), day(50), day(60)), Err(Error::Empty { .. })));
        assert!(PurchaseKpis::compute(&log(), day(5), day(5)).is_err());
        assert!(PurchaseKpis::compute_with_lapse(&log(), day(5), day(9), TimeDelta::zero()).is_err());
        assert!(matches!(
            PurchaseKpis::compute(&TransactionLog::new(Currency::USD), day(1), day(9)),
            Err(Error::Empty { .. })
        ));
    }

    fn event(id: &str, c: i64, at: DateTime<Utc>, kind: EventKind) -> Event {
        Event::new(id, CustomerId::from(c), at, kind).unwrap()
    }

    fn hour(h: i64) -> DateTime<Utc> {
        day(1) + TimeDelta::hours(h)
    }

    fn cart(id: &str, c: i64, h: i64) -> Event {
        event(id, c, hour(h), EventKind::AddedToCart { product_id: "p".into(), quantity: 1 })
    }

    fn order(id: &str, c: i64, h: i64) -> Event {
        event(
            id,
            c,
            hour(h),
            EventKind::OrderPlaced { order_id: id.into(), gross: usd("10"), discount: usd("0"), items: 1 },
        )
    }

    #[test]
    fn hand_computed_engagement_kpis() {
        let nps = |id: &str, c: i64, h: i64, s: u8| {
            event(id, c, hour(h), EventKind::NpsAnswered { score: NpsScore::new(s).unwrap() })
        };
        let events = vec![
            // Customer 1: cart at 1h, order at 1h30 → converted cart, converted visitor.
            cart("c1", 1, 1),
            order("o1", 1, 2),
            // Customer 2: cart at 1h, nothing for 3h, cart again at 5h, checkout at 6h, order at 7h:
            // first cart abandoned (timeout 2h), second converted.
            cart("c2", 2, 1),
            cart("c2b", 2, 5),
            event("k2", 2, hour(6), EventKind::CheckoutStarted),
            order("o2", 2, 7),
            // Customer 3: views only → visitor, not converted; cart at 22h still open at 23h (window end).
            event("v3", 3, hour(3), EventKind::ProductViewed { product_id: "p".into() }),
            cart("c3", 3, 22),
            // Customer 4: cart at 10h, never orders → abandoned at the end.
            cart("c4", 4, 10),
            // NPS: customer 1 answers 3 then 10 (latest counts), 2 answers 7, 5 answers 0.
            nps("n1", 1, 4, 3),
            nps("n1b", 1, 8, 10),
            nps("n2", 2, 9, 7),
            nps("n5", 5, 9, 0),
            // Outside the window.
            order("o9", 9, 30),
        ];
        // Shuffle: the result must not depend on the input order; and replay one event.
        let mut shuffled: Vec<Event> = events.iter().rev().cloned().collect();
        shuffled.push(events[0].clone());
        for input in [&events, &shuffled] {
            let k = EngagementKpis::compute(input, hour(0), hour(23), TimeDelta::hours(2)).unwrap();
            assert_eq!((k.respondents, k.promoters, k.passives, k.detractors), (3, 1, 1, 1));
            assert_eq!(k.nps, Some(0.0));
            assert_eq!(k.visitors, 4);
            assert_eq!(k.converted_visitors, 2);
            assert_eq!(k.conversion_rate, Some(0.5));
            assert_eq!((k.converted_carts, k.abandoned_carts, k.open_carts), (2, 2, 1));
            assert_eq!(k.cart_abandonment_rate, Some(0.5));
        }
    }

    #[test]
    fn engagement_bad_input() {
        let e = cart("c1", 1, 1);
        let mut conflicting = e.clone();
        conflicting.at = hour(2);
        assert!(matches!(
            EngagementKpis::compute(&[e.clone(), conflicting], hour(0), hour(9), TimeDelta::hours(1)),
            Err(Error::ConflictingDuplicate { .. })
        ));
        assert!(matches!(
            EngagementKpis::compute(std::slice::from_ref(&e), hour(5), hour(9), TimeDelta::hours(1)),
            Err(Error::Empty { .. })
        ));
        assert!(EngagementKpis::compute(std::slice::from_ref(&e), hour(0), hour(9), TimeDelta::zero()).is_err());
        let mut invalid = order("o", 1, 1);
        invalid.kind = EventKind::OrderPlaced { order_id: "o".into(), gross: usd("1"), discount: usd("2"), items: 1 };
        assert!(matches!(
            EngagementKpis::compute(&[invalid], hour(0), hour(9), TimeDelta::hours(1)),
            Err(Error::InvalidEvent { .. })
        ));
        // Only carts, no NPS: NPS is None, not NaN.
        let k = EngagementKpis::compute(&[e], hour(0), hour(9), TimeDelta::hours(1)).unwrap();
        assert_eq!(k.nps, None);
    }

    #[test]
    fn cac_and_ratio() {
        assert_eq!(customer_acquisition_cost(usd("100"), 3).unwrap(), usd("33.33"));
        assert!(matches!(customer_acquisition_cost(usd("-1"), 3), Err(Error::InvalidAmount { .. })));
        assert!(customer_acquisition_cost(usd("100"), 0).is_err());
        assert_eq!(clv_to_cac(usd("90"), usd("30")).unwrap(), 3.0);
        assert!(clv_to_cac(usd("90"), usd("0")).is_err());
        assert!(matches!(
            clv_to_cac(usd("90"), Money::parse("30", Currency::EUR).unwrap()),
            Err(Error::MixedCurrency { .. })
        ));
    }
}
