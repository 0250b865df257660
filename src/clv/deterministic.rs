//! Deterministic CLV: customer value minus costs, and the textbook formulas.
//!
//! * **Historic CLV** ([`ValueLedger::historic_clv`]): what each customer has
//!   been worth so far,
//!   `margin × (gross − discounts − returns) − service costs − acquisition cost`,
//!   exact in the ledger's currency.
//! * **Margin-based simple CLV** ([`simple_clv`]):
//!   `average order value × purchases per year × lifespan in years × margin`.
//! * **Retention-based CLV** ([`retention_clv`]): `m · r / (1 + d − r)`, the
//!   value of a customer who brings margin `m` per period and stays each
//!   period with probability `r`, discounted at `d` per period, with the
//!   first margin one period from now (the geometric series
//!   `Σ_{t≥1} m · rᵗ / (1 + d)ᵗ`).
//! * **Segment profitability** ([`segment_profitability`]): historic CLV
//!   summed by segment, to see which segments are worth their cost.

use std::collections::BTreeMap;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::domain::customer::CustomerId;
use crate::domain::event::{Event, EventKind, distinct_events};
use crate::domain::money::{Currency, Money};
use crate::error::{Error, Result};
use crate::log::summary::PurchaseSummary;

/// One customer's money so far, as kept by a [`ValueLedger`].
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct CustomerValue {
    /// Orders.
    pub orders: u32,
    /// Order value before discounts.
    pub gross: Decimal,
    /// Discounts granted.
    pub discounts: Decimal,
    /// Returned or refunded amounts.
    pub returns: Decimal,
    /// Cost of serving the customer (support tickets, …).
    pub service_costs: Decimal,
    /// What acquiring the customer cost.
    pub acquisition_cost: Decimal,
}

validated_serde! {
/// Per-customer revenue and costs in one currency, from events, a purchase
/// summary or entries added by hand.
///
/// ```
/// use customer_lifecycle::{Currency, CustomerId, Money};
/// use customer_lifecycle::clv::ValueLedger;
///
/// let eur = |s| Money::parse(s, Currency::EUR);
/// let mut ledger = ValueLedger::new(Currency::EUR);
/// let alice = CustomerId::from("alice");
/// ledger.add_order(&alice, eur("120")?, eur("20")?)?;   // paid 100
/// ledger.add_return(&alice, eur("10")?)?;
/// ledger.add_service_cost(&alice, eur("5")?)?;
/// ledger.add_acquisition_cost(&alice, eur("15")?)?;
/// let clv = ledger.historic_clv(0.5)?;
/// // 0.5 × (120 − 20 − 10) − 5 − 15 = 25
/// assert_eq!(clv[0].clv, eur("25.00")?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Debug)]
pub struct ValueLedger {
    currency: Currency,
    #[serde(with = "crate::domain::customer::by_customer")]
    customers: BTreeMap<CustomerId, CustomerValue>,
}
}

impl ValueLedger {
    /// A loaded ledger holds what the `add_…` methods could have recorded:
    /// no negative amount, and discounts within the gross order value.
    fn check_consistent(&self) -> Result<()> {
        for (customer, v) in &self.customers {
            let amounts = [
                ("gross", v.gross),
                ("discounts", v.discounts),
                ("returns", v.returns),
                ("service costs", v.service_costs),
                ("acquisition cost", v.acquisition_cost),
            ];
            let bad = |field: &'static str, value: Decimal, reason: &str| Error::InvalidAmount {
                field,
                value: value.to_string(),
                customer: Some(customer.to_string()),
                reason: reason.into(),
            };
            if let Some((field, value)) = amounts.into_iter().find(|(_, a)| a.is_sign_negative() && !a.is_zero()) {
                return Err(bad(field, value, "is negative in a saved value ledger"));
            }
            if v.discounts > v.gross {
                return Err(bad("discounts", v.discounts, "exceed the gross order value in a saved value ledger"));
            }
        }
        Ok(())
    }
}

/// A customer's historic CLV ([`ValueLedger::historic_clv`]).
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct HistoricClv {
    /// The customer.
    pub customer: CustomerId,
    /// `gross − discounts − returns`.
    pub net_revenue: Money,
    /// `margin × net_revenue`, rounded to the currency's minor units.
    pub contribution: Money,
    /// Service costs.
    pub service_costs: Money,
    /// Acquisition cost.
    pub acquisition_cost: Money,
    /// `contribution − service_costs − acquisition_cost`.
    pub clv: Money,
}

/// A margin in `0..=1` as an exact decimal (the shortest decimal that
/// round-trips the `f64`, so `0.3` is exactly 0.3).
fn margin_decimal(margin: f64) -> Result<Decimal> {
    if !(0.0..=1.0).contains(&margin) {
        return Err(Error::InvalidArgument { name: "margin", reason: format!("{margin} is outside 0..=1") });
    }
    Decimal::from_str(&margin.to_string())
        .or_else(|_| Decimal::from_f64_retain(margin).ok_or(()))
        .map_err(|_| Error::InvalidArgument { name: "margin", reason: format!("{margin} is not representable") })
}

impl ValueLedger {
    /// An empty ledger.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Money};
    /// use customer_lifecycle::clv::ValueLedger;
    /// let eur = |s| Money::parse(s, Currency::EUR);
    /// let ana = CustomerId::from("ana@example.com");
    /// let mut ledger = ValueLedger::new(Currency::EUR);
    /// ledger.add_order(&ana, eur("100")?, eur("10")?)?;
    /// assert_eq!(ledger.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(currency: Currency) -> ValueLedger {
        ValueLedger { currency, customers: BTreeMap::new() }
    }

    /// The currency.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Money};
    /// use customer_lifecycle::clv::ValueLedger;
    /// let eur = |s| Money::parse(s, Currency::EUR);
    /// let ana = CustomerId::from("ana@example.com");
    /// let mut ledger = ValueLedger::new(Currency::EUR);
    /// ledger.add_order(&ana, eur("100")?, eur("10")?)?;
    /// assert_eq!(ledger.currency(), Currency::EUR);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// Customers in the ledger.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Money};
    /// use customer_lifecycle::clv::ValueLedger;
    /// let eur = |s| Money::parse(s, Currency::EUR);
    /// let ana = CustomerId::from("ana@example.com");
    /// let mut ledger = ValueLedger::new(Currency::EUR);
    /// ledger.add_order(&ana, eur("100")?, eur("10")?)?;
    /// assert_eq!(ledger.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        self.customers.len()
    }

    /// `true` without customers.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Money};
    /// use customer_lifecycle::clv::ValueLedger;
    /// let eur = |s| Money::parse(s, Currency::EUR);
    /// let ana = CustomerId::from("ana@example.com");
    /// let mut ledger = ValueLedger::new(Currency::EUR);
    /// ledger.add_order(&ana, eur("100")?, eur("10")?)?;
    /// assert!(!ledger.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.customers.is_empty()
    }

    /// One customer's entry.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Money};
    /// use customer_lifecycle::clv::ValueLedger;
    /// let eur = |s| Money::parse(s, Currency::EUR);
    /// let ana = CustomerId::from("ana@example.com");
    /// let mut ledger = ValueLedger::new(Currency::EUR);
    /// ledger.add_order(&ana, eur("100")?, eur("10")?)?;
    /// let v = ledger.get(&ana).unwrap();
    /// assert_eq!((v.orders, v.gross, v.discounts), (1, "100".parse()?, "10".parse()?));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self, customer: &CustomerId) -> Option<&CustomerValue> {
        self.customers.get(customer)
    }

    /// Removes a customer (right to erasure); `true` when they were there.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Money};
    /// use customer_lifecycle::clv::ValueLedger;
    /// let eur = |s| Money::parse(s, Currency::EUR);
    /// let ana = CustomerId::from("ana@example.com");
    /// let mut ledger = ValueLedger::new(Currency::EUR);
    /// ledger.add_order(&ana, eur("100")?, eur("10")?)?;
    /// assert!(ledger.erase(&ana));
    /// assert!(ledger.get(&ana).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn erase(&mut self, customer: &CustomerId) -> bool {
        self.customers.remove(customer).is_some()
    }

    /// Moves a customer's entry under a pseudonym.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Money};
    /// use customer_lifecycle::clv::ValueLedger;
    /// let eur = |s| Money::parse(s, Currency::EUR);
    /// let ana = CustomerId::from("ana@example.com");
    /// let mut ledger = ValueLedger::new(Currency::EUR);
    /// ledger.add_order(&ana, eur("100")?, eur("10")?)?;
    /// assert!(ledger.pseudonymise(&ana, &CustomerId::from("p-1"))?);
    /// assert!(ledger.get(&CustomerId::from("p-1")).is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the pseudonym is already a customer.
    pub fn pseudonymise(&mut self, customer: &CustomerId, pseudonym: &CustomerId) -> Result<bool> {
        crate::domain::customer::pseudonymise_key(&mut self.customers, customer, pseudonym)
    }

    /// Orders and returns of a purchase summary (its calibration window when
    /// split), without discounts or costs.
    ///
    /// ```
    /// use customer_lifecycle::{SummaryOptions, TimeUnit, TransactionLog};
    /// use customer_lifecycle::clv::ValueLedger;
    /// let summary = TransactionLog::cdnow_sample()?.summarize(&SummaryOptions::new(TimeUnit::Week))?;
    /// assert_eq!(ValueLedger::from_summary(&summary).len(), 2357);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_summary(summary: &PurchaseSummary) -> ValueLedger {
        let customers = summary
            .rows()
            .map(|r| {
                let value =
                    CustomerValue { orders: r.orders, gross: r.gross, returns: r.returns, ..Default::default() };
                (r.customer, value)
            })
            .collect();
        ValueLedger { currency: summary.currency(), customers }
    }

    /// Orders (gross and discount), returns and support-ticket costs of
    /// `events`; other events are ignored. A replayed event (same id and
    /// content) counts once.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Event, EventKind, Money};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// use customer_lifecycle::clv::ValueLedger;
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    /// let ticket = Event::new("t-1", CustomerId::from(1), at, EventKind::SupportTicket { cost: Some(Money::parse("12", Currency::EUR)?) })?;
    /// let ledger = ValueLedger::from_events(&[ticket.clone(), ticket], Currency::EUR)?; // a replay counts once
    /// assert_eq!(ledger.get(&CustomerId::from(1)).unwrap().service_costs, "12".parse()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidEvent`], [`Error::ConflictingDuplicate`],
    /// [`Error::MixedCurrency`] for an amount in another currency.
    pub fn from_events(events: &[Event], currency: Currency) -> Result<ValueLedger> {
        let mut ledger = ValueLedger::new(currency);
        for e in distinct_events(events)? {
            match &e.kind {
                EventKind::OrderPlaced { gross, discount, .. } => ledger.add_order(&e.customer, *gross, *discount)?,
                EventKind::OrderReturned { amount, .. } => ledger.add_return(&e.customer, *amount)?,
                EventKind::SupportTicket { cost: Some(cost) } => ledger.add_service_cost(&e.customer, *cost)?,
                _ => {}
            }
        }
        Ok(ledger)
    }

    fn amount(&self, field: &'static str, customer: &CustomerId, amount: Money) -> Result<Decimal> {
        if amount.currency() != self.currency {
            return Err(Error::MixedCurrency {
                expected: self.currency.to_string(),
                found: amount.currency().to_string(),
            });
        }
        if amount.is_negative() {
            return Err(Error::InvalidAmount {
                field,
                value: amount.to_string(),
                customer: Some(customer.to_string()),
                reason: "must not be negative".into(),
            });
        }
        Ok(amount.amount())
    }

    fn add(
        &mut self,
        field: &'static str,
        customer: &CustomerId,
        amount: Money,
        slot: fn(&mut CustomerValue) -> &mut Decimal,
    ) -> Result<()> {
        let amount = self.amount(field, customer, amount)?;
        let entry = self.customers.entry(customer.clone()).or_default();
        let total = slot(entry);
        *total =
            total.checked_add(amount).ok_or(Error::AmountOverflow { field, customer: Some(customer.to_string()) })?;
        Ok(())
    }

    /// Adds an order of `gross` before a `discount` (at most `gross`).
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Money};
    /// use customer_lifecycle::clv::ValueLedger;
    /// let eur = |s| Money::parse(s, Currency::EUR);
    /// let ana = CustomerId::from("ana@example.com");
    /// let mut ledger = ValueLedger::new(Currency::EUR);
    /// ledger.add_order(&ana, eur("100")?, eur("10")?)?;
    /// assert!(ledger.add_order(&ana, eur("10")?, eur("20")?).is_err()); // discount above gross
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// Negative amounts, another currency, a discount above the gross value.
    pub fn add_order(&mut self, customer: &CustomerId, gross: Money, discount: Money) -> Result<()> {
        let (g, d) = (self.amount("gross", customer, gross)?, self.amount("discount", customer, discount)?);
        if d > g {
            return Err(Error::InvalidAmount {
                field: "discount",
                value: discount.to_string(),
                customer: Some(customer.to_string()),
                reason: format!("exceeds the order's gross value {gross}"),
            });
        }
        self.add("gross", customer, gross, |v| &mut v.gross)?;
        self.add("discount", customer, discount, |v| &mut v.discounts)?;
        let entry = self.customers.entry(customer.clone()).or_default();
        entry.orders = entry.orders.saturating_add(1);
        Ok(())
    }

    /// Adds a return or refund.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Money};
    /// use customer_lifecycle::clv::ValueLedger;
    /// let eur = |s| Money::parse(s, Currency::EUR);
    /// let ana = CustomerId::from("ana@example.com");
    /// let mut ledger = ValueLedger::new(Currency::EUR);
    /// ledger.add_order(&ana, eur("100")?, eur("10")?)?;
    /// ledger.add_return(&ana, eur("30")?)?;
    /// assert_eq!(ledger.get(&ana).unwrap().returns, "30".parse()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// A negative amount or another currency.
    pub fn add_return(&mut self, customer: &CustomerId, amount: Money) -> Result<()> {
        self.add("return", customer, amount, |v| &mut v.returns)
    }

    /// Adds a cost of serving the customer.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Money};
    /// use customer_lifecycle::clv::ValueLedger;
    /// let eur = |s| Money::parse(s, Currency::EUR);
    /// let ana = CustomerId::from("ana@example.com");
    /// let mut ledger = ValueLedger::new(Currency::EUR);
    /// ledger.add_order(&ana, eur("100")?, eur("10")?)?;
    /// ledger.add_service_cost(&ana, eur("7.50")?)?;
    /// assert_eq!(ledger.get(&ana).unwrap().service_costs, "7.50".parse()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// A negative amount or another currency.
    pub fn add_service_cost(&mut self, customer: &CustomerId, cost: Money) -> Result<()> {
        self.add("service cost", customer, cost, |v| &mut v.service_costs)
    }

    /// Adds to what acquiring the customer cost.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Money};
    /// use customer_lifecycle::clv::ValueLedger;
    /// let eur = |s| Money::parse(s, Currency::EUR);
    /// let ana = CustomerId::from("ana@example.com");
    /// let mut ledger = ValueLedger::new(Currency::EUR);
    /// ledger.add_order(&ana, eur("100")?, eur("10")?)?;
    /// ledger.add_acquisition_cost(&ana, eur("15")?)?;
    /// assert_eq!(ledger.get(&ana).unwrap().acquisition_cost, "15".parse()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// A negative amount or another currency.
    pub fn add_acquisition_cost(&mut self, customer: &CustomerId, cost: Money) -> Result<()> {
        self.add("acquisition cost", customer, cost, |v| &mut v.acquisition_cost)
    }

    /// Every customer's historic CLV with gross `margin` on net revenue, in
    /// customer-id order. Money is exact; the contribution is rounded to
    /// the currency's minor units (half to even).
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Money};
    /// use customer_lifecycle::clv::ValueLedger;
    /// let eur = |s| Money::parse(s, Currency::EUR);
    /// let ana = CustomerId::from("ana@example.com");
    /// let mut ledger = ValueLedger::new(Currency::EUR);
    /// ledger.add_order(&ana, eur("100")?, eur("10")?)?;
    /// ledger.add_acquisition_cost(&ana, eur("15")?)?;
    /// let rows = ledger.historic_clv(0.3)?;
    /// // 0.3 × (100 − 10) − 15
    /// assert_eq!(rows[0].clv, eur("12")?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a margin outside `0..=1`;
    /// [`Error::Empty`] for an empty ledger; [`Error::AmountOverflow`].
    pub fn historic_clv(&self, margin: f64) -> Result<Vec<HistoricClv>> {
        let m = margin_decimal(margin)?;
        if self.customers.is_empty() {
            return Err(Error::Empty { what: "customers in the value ledger" });
        }
        let money = |d: Decimal| Money::new(d, self.currency);
        self.customers
            .iter()
            .map(|(customer, v)| {
                let overflow = || Error::AmountOverflow { field: "historic clv", customer: Some(customer.to_string()) };
                let net =
                    v.gross.checked_sub(v.discounts).and_then(|n| n.checked_sub(v.returns)).ok_or_else(overflow)?;
                let contribution = net
                    .checked_mul(m)
                    .ok_or_else(overflow)?
                    .round_dp_with_strategy(self.currency.minor_units(), RoundingStrategy::MidpointNearestEven);
                let clv = contribution
                    .checked_sub(v.service_costs)
                    .and_then(|c| c.checked_sub(v.acquisition_cost))
                    .ok_or_else(overflow)?;
                Ok(HistoricClv {
                    customer: customer.clone(),
                    net_revenue: money(net),
                    contribution: money(contribution),
                    service_costs: money(v.service_costs),
                    acquisition_cost: money(v.acquisition_cost),
                    clv: money(clv),
                })
            })
            .collect()
    }
}

fn check_finite_non_negative(name: &'static str, value: f64) -> Result<()> {
    if !(value.is_finite() && value >= 0.0) {
        return Err(Error::InvalidArgument { name, reason: format!("{value} must be finite and ≥ 0") });
    }
    Ok(())
}

/// Margin-based simple CLV: `average_order_value × purchases_per_year ×
/// lifespan_years × margin`.
///
/// ```
/// use customer_lifecycle::clv::simple_clv;
///
/// // 50 per order, 4 orders a year, 3 years, 30 % margin.
/// assert!((simple_clv(50.0, 4.0, 3.0, 0.3)? - 180.0).abs() < 1e-12);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::InvalidArgument`] for negative or non-finite inputs, or a
/// margin outside `0..=1`.
pub fn simple_clv(average_order_value: f64, purchases_per_year: f64, lifespan_years: f64, margin: f64) -> Result<f64> {
    check_finite_non_negative("average order value", average_order_value)?;
    check_finite_non_negative("purchases per year", purchases_per_year)?;
    check_finite_non_negative("lifespan", lifespan_years)?;
    margin_decimal(margin)?;
    Ok(average_order_value * purchases_per_year * lifespan_years * margin)
}

/// Retention-based CLV: `m · r / (1 + d − r)`, the geometric series `Σ_{t≥1} m · rᵗ / (1 + d)ᵗ`
/// (first margin one period from now).
///
/// ```
/// use customer_lifecycle::clv::retention_clv;
///
/// // 100 margin a year, 80 % yearly retention, 10 % discount rate: 100·0.8/0.3.
/// assert!((retention_clv(100.0, 0.8, 0.1)? - 800.0 / 3.0).abs() < 1e-9);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::InvalidArgument`] for a negative or non-finite margin or
/// discount rate, a retention rate outside `0..=1`, or `r = 1` with `d = 0`
/// (an infinite value).
pub fn retention_clv(margin_per_period: f64, retention_rate: f64, discount_rate: f64) -> Result<f64> {
    check_finite_non_negative("margin per period", margin_per_period)?;
    check_finite_non_negative("discount rate", discount_rate)?;
    if !(0.0..=1.0).contains(&retention_rate) {
        return Err(Error::InvalidArgument {
            name: "retention rate",
            reason: format!("{retention_rate} is outside 0..=1"),
        });
    }
    let denominator = 1.0 + discount_rate - retention_rate;
    if denominator <= 0.0 {
        return Err(Error::InvalidArgument {
            name: "retention rate",
            reason: "a retention rate of 1 without discounting makes the value infinite".into(),
        });
    }
    Ok(margin_per_period * retention_rate / denominator)
}

/// One segment's line of [`segment_profitability`].
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct SegmentProfit {
    /// The segment's name.
    pub segment: String,
    /// Customers in it.
    pub customers: u64,
    /// Σ net revenue.
    pub net_revenue: Money,
    /// Σ contribution (margin × net revenue).
    pub contribution: Money,
    /// Σ service and acquisition costs.
    pub costs: Money,
    /// Σ historic CLV = contribution − costs.
    pub profit: Money,
    /// `profit ÷ customers`, rounded to the currency's minor units.
    pub profit_per_customer: Money,
    /// `profit > 0`: the segment pays for what it costs.
    pub worth_its_cost: bool,
}

/// Name of the segment of customers [`segment_profitability`] finds no segment for.
pub const UNSEGMENTED: &str = "unsegmented";

/// Historic CLV summed by segment, most profitable first (ties by name).
/// Customers for whom `segment_of` returns `None` are grouped under
/// [`UNSEGMENTED`].
///
/// ```
/// use customer_lifecycle::{Currency, CustomerId, Money};
/// use customer_lifecycle::clv::{ValueLedger, segment_profitability};
///
/// let eur = |s| Money::parse(s, Currency::EUR);
/// let mut ledger = ValueLedger::new(Currency::EUR);
/// ledger.add_order(&CustomerId::from(1), eur("100")?, eur("0")?)?;
/// ledger.add_order(&CustomerId::from(2), eur("10")?, eur("0")?)?;
/// ledger.add_service_cost(&CustomerId::from(2), eur("8")?)?;
/// let rows = ledger.historic_clv(0.5)?;
/// let table = segment_profitability(&rows, |c| Some(if *c == CustomerId::from(1) { "vip".into() } else { "rest".into() }))?;
/// assert_eq!(table[0].segment, "vip");
/// assert!(!table[1].worth_its_cost); // 0.5 × 10 − 8 < 0
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::Empty`] without rows; [`Error::MixedCurrency`];
/// [`Error::AmountOverflow`].
pub fn segment_profitability(
    rows: &[HistoricClv],
    segment_of: impl Fn(&CustomerId) -> Option<String>,
) -> Result<Vec<SegmentProfit>> {
    let first = rows.first().ok_or(Error::Empty { what: "customers for segment profitability" })?;
    let currency = first.clv.currency();
    let zero = Money::zero(currency);
    let mut segments: BTreeMap<String, SegmentProfit> = BTreeMap::new();
    for row in rows {
        let name = segment_of(&row.customer).unwrap_or_else(|| UNSEGMENTED.to_string());
        // The name is copied once per segment, not once per customer.
        if !segments.contains_key(&name) {
            let new = SegmentProfit {
                segment: name.clone(),
                customers: 0,
                net_revenue: zero,
                contribution: zero,
                costs: zero,
                profit: zero,
                profit_per_customer: zero,
                worth_its_cost: false,
            };
            segments.insert(name.clone(), new);
        }
        let Some(s) = segments.get_mut(&name) else { continue };
        s.customers += 1;
        s.net_revenue = s.net_revenue.checked_add(row.net_revenue)?;
        s.contribution = s.contribution.checked_add(row.contribution)?;
        s.costs = s.costs.checked_add(row.service_costs)?.checked_add(row.acquisition_cost)?;
        s.profit = s.profit.checked_add(row.clv)?;
    }
    let mut table: Vec<SegmentProfit> = segments
        .into_values()
        .map(|mut s| {
            let per = s.profit.amount() / Decimal::from(s.customers);
            s.profit_per_customer = Money::new(
                per.round_dp_with_strategy(currency.minor_units(), RoundingStrategy::MidpointNearestEven),
                currency,
            );
            s.worth_its_cost = s.profit.amount() > Decimal::ZERO;
            s
        })
        .collect();
    table.sort_by(|a, b| b.profit.amount().cmp(&a.profit.amount()).then_with(|| a.segment.cmp(&b.segment)));
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn eur(s: &str) -> Money {
        Money::parse(s, Currency::EUR).unwrap()
    }

    #[test]
    fn historic_clv_by_hand() {
        let mut l = ValueLedger::new(Currency::EUR);
        let a = CustomerId::from(1);
        let b = CustomerId::from(2);
        l.add_order(&a, eur("100"), eur("10")).unwrap();
        l.add_order(&a, eur("50"), eur("0")).unwrap();
        l.add_return(&a, eur("20")).unwrap();
        l.add_service_cost(&a, eur("7.50")).unwrap();
        l.add_acquisition_cost(&a, eur("12")).unwrap();
        l.add_order(&b, eur("33.33"), eur("0")).unwrap();
        let rows = l.historic_clv(0.3).unwrap();
        // a: net = 150 − 10 − 20 = 120; contribution = 36; clv = 36 − 7.5 − 12 = 16.50.
        assert_eq!(rows[0].net_revenue, eur("120"));
        assert_eq!(rows[0].contribution, eur("36.0"));
        assert_eq!(rows[0].clv, eur("16.50"));
        // b: 0.3 × 33.33 = 9.999 → 10.00 (half to even at 2 places).
        assert_eq!(rows[1].contribution, eur("10.00"));
        assert_eq!(l.get(&a).unwrap().orders, 2);
        // Margin 1 is revenue CLV.
        assert_eq!(l.historic_clv(1.0).unwrap()[0].clv, eur("100.50"));
    }

    #[test]
    fn ledger_from_events_matches_manual_entries() {
        let at = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        let c = CustomerId::from("x");
        let ev = |id: &str, kind| Event::new(id, c.clone(), at, kind).unwrap();
        let order =
            ev("o", EventKind::OrderPlaced { order_id: "1".into(), gross: eur("80"), discount: eur("8"), items: 2 });
        let events = vec![
            order.clone(),
            order, // replayed
            ev("r", EventKind::OrderReturned { order_id: "1".into(), amount: eur("12") }),
            ev("t", EventKind::SupportTicket { cost: Some(eur("3")) }),
            ev("t2", EventKind::SupportTicket { cost: None }),
            ev("v", EventKind::SiteVisit),
        ];
        let ledger = ValueLedger::from_events(&events, Currency::EUR).unwrap();
        let v = ledger.get(&c).unwrap();
        assert_eq!(
            (v.orders, v.gross, v.discounts, v.returns, v.service_costs),
            (1, eur("80").amount(), eur("8").amount(), eur("12").amount(), eur("3").amount())
        );
        let mut conflicting = events[0].clone();
        conflicting.at = at + chrono::TimeDelta::hours(1);
        assert!(matches!(
            ValueLedger::from_events(&[events[0].clone(), conflicting], Currency::EUR),
            Err(Error::ConflictingDuplicate { .. })
        ));
        assert!(matches!(ValueLedger::from_events(&events, Currency::USD), Err(Error::MixedCurrency { .. })));
    }

    #[test]
    fn bad_costs_and_margins_are_typed_errors() {
        let mut l = ValueLedger::new(Currency::EUR);
        let c = CustomerId::from(1);
        assert!(matches!(l.add_service_cost(&c, eur("-1")), Err(Error::InvalidAmount { .. })));
        assert!(matches!(l.add_acquisition_cost(&c, eur("-0.01")), Err(Error::InvalidAmount { .. })));
        assert!(matches!(l.add_order(&c, eur("5"), eur("6")), Err(Error::InvalidAmount { field: "discount", .. })));
        assert!(l.is_empty());
        assert!(matches!(l.historic_clv(0.5), Err(Error::Empty { .. })));
        l.add_order(&c, eur("5"), eur("0")).unwrap();
        for bad in [-0.1, 1.1, f64::NAN] {
            assert!(matches!(l.historic_clv(bad), Err(Error::InvalidArgument { name: "margin", .. })));
            assert!(simple_clv(1.0, 1.0, 1.0, bad).is_err());
        }
        assert!(simple_clv(-1.0, 1.0, 1.0, 0.5).is_err());
        assert!(simple_clv(1.0, f64::INFINITY, 1.0, 0.5).is_err());
        assert!(retention_clv(1.0, 1.0, 0.0).is_err());
        assert!(retention_clv(1.0, 1.2, 0.1).is_err());
        assert!(retention_clv(-1.0, 0.5, 0.1).is_err());
        assert!(retention_clv(1.0, 0.5, -0.1).is_err());
        assert!(segment_profitability(&[], |_| None).is_err());
    }

    #[test]
    fn retention_clv_is_the_discounted_series() {
        let (m, r, d) = (40.0, 0.7, 0.12);
        let series: f64 = (1..2000).map(|t| m * f64::powi(r / (1.0 + d), t)).sum();
        assert!((retention_clv(m, r, d).unwrap() - series).abs() < 1e-9);
        assert_eq!(retention_clv(m, 0.0, d).unwrap(), 0.0);
        assert!((retention_clv(m, 1.0, 0.1).unwrap() - 400.0).abs() < 1e-9);
    }

    #[test]
    fn segment_table_by_hand() {
        let mut l = ValueLedger::new(Currency::EUR);
        for (id, gross, cost) in [(1, "100", "0"), (2, "60", "10"), (3, "10", "9"), (4, "5", "0")] {
            let c = CustomerId::from(id);
            l.add_order(&c, eur(gross), eur("0")).unwrap();
            l.add_service_cost(&c, eur(cost)).unwrap();
        }
        let rows = l.historic_clv(0.5).unwrap();
        let seg = |c: &CustomerId| match c {
            CustomerId::Number(1) | CustomerId::Number(2) => Some("loyal".to_string()),
            CustomerId::Number(3) => Some("one_off".to_string()),
            _ => None,
        };
        let table = segment_profitability(&rows, seg).unwrap();
        let names: Vec<&str> = table.iter().map(|s| s.segment.as_str()).collect();
        assert_eq!(names, ["loyal", UNSEGMENTED, "one_off"]);
        // loyal: 50 + 30 − 10 = 70 over 2 customers.
        assert_eq!(table[0].profit, eur("70.0"));
        assert_eq!(table[0].costs, eur("10"));
        assert_eq!(table[0].profit_per_customer, eur("35.00"));
        assert!(table[0].worth_its_cost);
        // one_off: 5 − 9 = −4.
        assert_eq!(table[2].profit, eur("-4.0"));
        assert!(!table[2].worth_its_cost);
        assert_eq!(table[1].customers, 1);
    }
}
