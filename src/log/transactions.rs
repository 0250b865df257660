//! The transaction log: orders and returns in one currency, stored by

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::customer::{CustomerId, CustomerIndex, DenseId};
use crate::domain::event::{Event, EventId, EventKind};
use crate::domain::identity::IdentityGraph;
use crate::domain::money::{self, Currency, ExchangeRates, Money};
use crate::error::{Error, Result};

/// Why a negative amount is refused.
const NEGATIVE: &str = "must not be negative (record money going back as a return)";

/// Why an amount (normalised) cannot be stored exactly, if it cannot: the
/// one rule for every row of every log, so that whether a row is accepted
/// never depends on the rows before it.
fn size_refusal(amount: Decimal) -> Option<String> {
    if amount.scale() > MAX_AMOUNT_DECIMALS {
        return Some(format!("more than {MAX_AMOUNT_DECIMALS} decimal places"));
    }
    if amount.abs() > Decimal::from(MAX_AMOUNT) {
        return Some(format!("larger than {MAX_AMOUNT} (the most one row can hold exactly)"));
    }
    None
}

/// An order's or return's amount as exact units of 10^-[`MAX_AMOUNT_DECIMALS`],
/// refused as [`TransactionLog::push`] refuses it (negative, too precise,
/// too large); `Err` holds the reason.
pub(crate) fn finest_units(amount: Decimal) -> std::result::Result<i64, String> {
    let negative = amount.is_sign_negative() && !amount.is_zero();
    if negative {
        return Err(NEGATIVE.into());
    }
    let amount = amount.normalize();
    if let Some(reason) = size_refusal(amount) {
        return Err(reason);
    }
    money::to_minor_units(amount, MAX_AMOUNT_DECIMALS).ok_or_else(|| "too large to store exactly".into())
}

impl TransactionKind {
    /// The kind a text names, as the CSV loader reads a kind column
    /// (case and surrounding spaces ignored): empty, `order` or
    /// `purchase` for an order; `return` or `refund` for a return.
    ///
    /// ```
    /// use customer_lifecycle::TransactionKind;
    /// assert_eq!(TransactionKind::parse(" Refund"), Some(TransactionKind::Return));
    /// assert_eq!(TransactionKind::parse(""), Some(TransactionKind::Order));
    /// assert_eq!(TransactionKind::parse("gift"), None);
    /// ```
    pub fn parse(text: &str) -> Option<TransactionKind> {
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "order" | "purchase" => Some(TransactionKind::Order),
            "return" | "refund" => Some(TransactionKind::Return),
            _ => None,
        }
    }
}

/// Whether a transaction is a purchase or money going back to the customer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionKind {
    /// A purchase. Counts towards frequency, recency and monetary value.
    Order,
    /// A return or refund. Counts only in the return and net totals.
    Return,
}

/// One order or return, as handed to [`TransactionLog::push`].
///
/// ```
/// use customer_lifecycle::{Currency, CustomerId, Money, Transaction};
/// use customer_lifecycle::chrono::{TimeZone, Utc};
///
/// let at = Utc.with_ymd_and_hms(2024, 2, 3, 14, 0, 0).unwrap();
/// let t = Transaction::order(CustomerId::from(1), at, Money::parse("12.50", Currency::EUR)?)
///     .with_order_id("A-1001");
/// assert_eq!(t.order_id(), Some("A-1001"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct Transaction {
    /// Whose.
    pub(crate) customer: CustomerId,
    /// When.
    pub(crate) at: DateTime<Utc>,
    /// How much (not negative).
    pub(crate) amount: Money,
    /// Order or return.
    pub(crate) kind: TransactionKind,
    /// For an order, its id: a repeated order id is the same order. For a
    /// return, the order it refers to (informational).
    pub(crate) order_id: Option<String>,
}

impl Transaction {
    /// Whose transaction it is.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Money, Transaction};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    ///
    /// let t = Transaction::order(CustomerId::from(7), Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap(), Money::parse("9.99", Currency::EUR)?);
    /// assert_eq!(t.customer(), &CustomerId::from(7));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn customer(&self) -> &CustomerId {
        &self.customer
    }

    /// When it happened.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Money, Transaction};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    ///
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
    /// assert_eq!(Transaction::order(CustomerId::from(7), at, Money::parse("9.99", Currency::EUR)?).at(), at);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }

    /// How much (an order's paid amount, a return's refund).
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Money, Transaction};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    ///
    /// let t = Transaction::refund(CustomerId::from(7), Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap(), Money::parse("5", Currency::EUR)?);
    /// assert_eq!(t.amount(), Money::parse("5", Currency::EUR)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn amount(&self) -> Money {
        self.amount
    }

    /// Order or return.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Money, Transaction, TransactionKind};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    ///
    /// let t = Transaction::order(CustomerId::from(7), Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap(), Money::parse("9.99", Currency::EUR)?);
    /// assert_eq!(t.kind(), TransactionKind::Order);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn kind(&self) -> TransactionKind {
        self.kind
    }

    /// For an order, its id (a repeated order id is the same order); for a
    /// return, the order it refers to.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Money, Transaction};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    ///
    /// let t = Transaction::order(CustomerId::from(7), Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap(), Money::parse("9.99", Currency::EUR)?);
    /// assert_eq!(t.order_id(), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn order_id(&self) -> Option<&str> {
        self.order_id.as_deref()
    }

    /// A purchase.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Money, Transaction, TransactionKind};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let t = Transaction::order(CustomerId::from(7), Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap(), Money::parse("9.99", Currency::EUR)?);
    /// assert_eq!(t.kind(), TransactionKind::Order);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn order(customer: CustomerId, at: DateTime<Utc>, amount: Money) -> Transaction {
        Transaction { customer, at, amount, kind: TransactionKind::Order, order_id: None }
    }

    /// A return or refund of `amount`.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Money, Transaction, TransactionKind};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let t = Transaction::refund(CustomerId::from(7), Utc.with_ymd_and_hms(2024, 5, 3, 0, 0, 0).unwrap(), Money::parse("9.99", Currency::EUR)?);
    /// assert_eq!(t.kind(), TransactionKind::Return);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn refund(customer: CustomerId, at: DateTime<Utc>, amount: Money) -> Transaction {
        Transaction { customer, at, amount, kind: TransactionKind::Return, order_id: None }
    }

    /// Sets the order id.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Money, Transaction};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let t = Transaction::order(CustomerId::from(7), Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap(), Money::parse("9.99", Currency::EUR)?)
    ///     .with_order_id("o-1");
    /// assert_eq!(t.order_id(), Some("o-1"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_order_id(mut self, id: impl Into<String>) -> Transaction {
        self.order_id = Some(id.into());
        self
    }
}

/// The most decimal places an amount may have: sub-cent prices to the
/// millionth. The same for every row, whatever the order they arrive in.
pub const MAX_AMOUNT_DECIMALS: u32 = 6;

/// The largest amount one row may hold (in currency units): what 64-bit
/// integer units hold at [`MAX_AMOUNT_DECIMALS`] decimals, so every
/// accepted amount fits at every scale the log can reach.
pub const MAX_AMOUNT: i64 = i64::MAX / 1_000_000;

/// A log of orders and returns in one currency, the input of the batch path
/// ([`TransactionLog::summarize`]).
///
/// Storage is by column, in blocks of 8,192 consecutive dense customer ids:
/// each block holds its rows' customer offsets (`u16`), Unix seconds (`i64`),
/// amounts in exact integer units of `10^-scale` (`i64`) and kinds, in
/// arrival order. A block's per-customer state fits in the L2 cache, so
/// the summary folds each block without cache misses. The scale starts at
/// the currency's minor units and grows, exactly, when a more precise
/// amount arrives, up to [`MAX_AMOUNT_DECIMALS`]; amounts above
/// [`MAX_AMOUNT`] are refused, so whether a row is accepted never depends
/// on the rows before it. [`TransactionLog::iter`] returns rows block by block,
/// each customer's rows in arrival order.
///
/// Rows need not arrive in time order. Identical rows are distinct
/// transactions (as in lifetimes) unless they carry an order id or come from
/// events: a repeated order id or event id is recognised and ignored when its
/// content is the same, and an error when it differs.
///
/// ```
/// use customer_lifecycle::{Currency, CustomerId, Money, Transaction, TransactionLog};
/// use customer_lifecycle::chrono::{TimeZone, Utc};
///
/// let mut log = TransactionLog::new(Currency::EUR);
/// let at = Utc.with_ymd_and_hms(2024, 2, 3, 14, 0, 0).unwrap();
/// let t = Transaction::order(CustomerId::from(1), at, Money::parse("12.50", Currency::EUR)?)
///     .with_order_id("A-1");
/// assert!(log.push(t.clone())?);
/// assert!(!log.push(t)?); // the same order again: ignored
/// assert_eq!(log.len(), 1);
/// // Another currency is refused:
/// let usd = Transaction::order(CustomerId::from(1), at, Money::parse("3", Currency::USD)?);
/// assert!(log.push(usd).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct TransactionLog {
    currency: Currency,
    scale: u32,
    customers: CustomerIndex,
    blocks: Vec<Block>,
    len: usize,
    order_rows: HashMap<String, RowRef>,
    event_rows: HashMap<EventId, Option<RowRef>>,
}

/// Dense customer ids per block: 2^13. Why blocks: the readers (summary,
/// cohorts, KPIs) keep a little state per customer; 8,192 customers' state
/// fits in L2, so a block's rows are folded without cache misses, and the
/// per-row customer key shrinks to a `u16` offset.
pub(crate) const BLOCK_SHIFT: u32 = 13;

/// Customers per block.
pub(crate) const CUSTOMERS_PER_BLOCK: usize = 1 << BLOCK_SHIFT;

/// The rows of customers `b << BLOCK_SHIFT ..` `(b + 1) << BLOCK_SHIFT`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Block {
    /// Dense id minus the block's first id.
    offset: Vec<u16>,
    at: Vec<i64>,
    amount: Vec<i64>,
    kind: Vec<TransactionKind>,
}

impl Block {
    fn len(&self) -> usize {
        self.at.len()
    }
}

/// One block of the log as its readers see it: the log's small internal
/// interface, so that the metrics never touch the storage itself.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LogBlock<'a> {
    first: usize,
    block: &'a Block,
}

/// One row of a block.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BlockRow {
    /// The customer's place in the block (dense id minus the block's first).
    pub local: usize,
    /// Unix seconds.
    pub at: i64,
    /// Exact minor units of the log's scale.
    pub amount: i64,
    /// Order or return.
    pub kind: TransactionKind,
}

impl<'a> LogBlock<'a> {
    /// Rows in the block.
    pub(crate) fn len(&self) -> usize {
        self.block.len()
    }

    /// The dense id of the block's first customer.
    pub(crate) fn first_customer(&self) -> usize {
        self.first
    }

    /// Row `i`, in insertion order.
    #[inline]
    pub(crate) fn row(&self, i: usize) -> BlockRow {
        let b = self.block;
        BlockRow { local: usize::from(b.offset[i]), at: b.at[i], amount: b.amount[i], kind: b.kind[i] }
    }

    /// The rows, in insertion order (zipped columns: no bounds checks).
    #[inline]
    pub(crate) fn rows(&self) -> impl Iterator<Item = BlockRow> + 'a {
        let b = self.block;
        b.offset.iter().zip(&b.at).zip(&b.amount).zip(&b.kind).map(|(((&offset, &at), &amount), &kind)| BlockRow {
            local: usize::from(offset),
            at,
            amount,
            kind,
        })
    }

    /// The rows' times, in insertion order.
    pub(crate) fn times(&self) -> &'a [i64] {
        &self.block.at
    }
}

/// Where a row is stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct RowRef {
    block: u32,
    index: u32,
}

impl TransactionLog {
    /// An empty log in `currency`.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, TransactionLog};
    /// let log = TransactionLog::new(Currency::EUR);
    /// assert!(log.is_empty());
    /// ```
    pub fn new(currency: Currency) -> TransactionLog {
        TransactionLog {
            currency,
            scale: currency.minor_units(),
            customers: CustomerIndex::new(),
            blocks: Vec::new(),
            len: 0,
            order_rows: HashMap::new(),
            event_rows: HashMap::new(),
        }
    }

    /// The log's currency.
    ///
    /// ```
    /// # use customer_lifecycle::{Currency, CustomerId, Money, Transaction, TransactionLog};
    /// # use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    /// let mut log = TransactionLog::new(Currency::EUR);
    /// log.push(Transaction::order(CustomerId::from("ana@example.com"), at, Money::parse("19.90", Currency::EUR)?))?;
    /// assert_eq!(log.currency(), Currency::EUR);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// Number of rows.
    ///
    /// ```
    /// # use customer_lifecycle::{Currency, CustomerId, Money, Transaction, TransactionLog};
    /// # use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    /// let mut log = TransactionLog::new(Currency::EUR);
    /// log.push(Transaction::order(CustomerId::from("ana@example.com"), at, Money::parse("19.90", Currency::EUR)?))?;
    /// assert_eq!(log.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the log has no rows.
    ///
    /// ```
    /// # use customer_lifecycle::{Currency, CustomerId, Money, Transaction, TransactionLog};
    /// # use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    /// let mut log = TransactionLog::new(Currency::EUR);
    /// log.push(Transaction::order(CustomerId::from("ana@example.com"), at, Money::parse("19.90", Currency::EUR)?))?;
    /// assert!(!log.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The customers seen, in order of first appearance.
    ///
    /// ```
    /// # use customer_lifecycle::{Currency, CustomerId, Money, Transaction, TransactionLog};
    /// # use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    /// let mut log = TransactionLog::new(Currency::EUR);
    /// log.push(Transaction::order(CustomerId::from("ana@example.com"), at, Money::parse("19.90", Currency::EUR)?))?;
    /// assert_eq!(log.customers().len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn customers(&self) -> &CustomerIndex {
        &self.customers
    }

    /// Decimal places of the stored integer amounts.
    ///
    /// ```
    /// # use customer_lifecycle::{Currency, CustomerId, Money, Transaction, TransactionLog};
    /// # use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    /// let mut log = TransactionLog::new(Currency::EUR);
    /// log.push(Transaction::order(CustomerId::from("ana@example.com"), at, Money::parse("19.90", Currency::EUR)?))?;
    /// assert_eq!(log.scale(), 2); // cents
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn scale(&self) -> u32 {
        self.scale
    }

    /// Adds a transaction. Returns `false` when it repeats an order already
    /// in the log (same order id, same content) and was therefore ignored.
    ///
    /// ```
    /// # use customer_lifecycle::{Currency, CustomerId, Money, Transaction, TransactionLog};
    /// # use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    /// let mut log = TransactionLog::new(Currency::EUR);
    /// let order = Transaction::order(CustomerId::from("bo@example.com"), at, Money::parse("5", Currency::EUR)?).with_order_id("o-7");
    /// assert!(log.push(order.clone())?);
    /// assert!(!log.push(order)?); // the same order id and content again: a replay
    /// // Without an order id, equal rows are distinct orders (CDNOW has such rows).
    /// let plain = Transaction::order(CustomerId::from("ana@example.com"), at, Money::parse("19.90", Currency::EUR)?);
    /// assert!(log.push(plain)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::MixedCurrency`] for another currency; [`Error::InvalidAmount`]
    /// for a negative amount or one too large for exact storage;
    /// [`Error::ConflictingDuplicate`] for an order id already used with other
    /// content; [`Error::TooManyCustomers`].
    pub fn push(&mut self, t: Transaction) -> Result<bool> {
        self.push_ref(&t, None)
    }

    /// [`TransactionLog::push`] of a borrowed transaction (the loaders keep
    /// the row's id buffer for the next row), with the customer's dense id
    /// when the caller already looked it up (`None`: looked up here). The
    /// loaders look up a batch of rows' customers in one tight loop first,
    /// so that the memory waits of the lookups overlap instead of queueing
    /// one per row behind its parsing.
    pub(crate) fn push_ref(&mut self, t: &Transaction, known: Option<DenseId>) -> Result<bool> {
        self.push_row(&t.customer, t.at, t.amount, t.kind, t.order_id.as_deref(), known).map(|row| row.is_some())
    }

    /// Adds a transaction in any currency, converted to the log's currency
    /// with `rates` at the transaction's time (see [`Money::convert`]).
    ///
    /// ```
    /// # use customer_lifecycle::{Currency, CustomerId, Money, Transaction, TransactionLog};
    /// # use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    /// let mut log = TransactionLog::new(Currency::EUR);
    /// log.push(Transaction::order(CustomerId::from("ana@example.com"), at, Money::parse("19.90", Currency::EUR)?))?;
    /// use customer_lifecycle::FixedRates;
    /// let rates = FixedRates::new().with_rate(Currency::USD, Currency::EUR, "0.9".parse()?)?;
    /// let usd = Transaction::order(CustomerId::from("bo@example.com"), at, Money::parse("10", Currency::USD)?);
    /// assert!(log.push_converted(usd, &rates)?);
    /// assert_eq!(log.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`TransactionLog::push`], plus [`Error::MissingExchangeRate`].
    pub fn push_converted(&mut self, mut t: Transaction, rates: &dyn ExchangeRates) -> Result<bool> {
        t.amount = t.amount.convert(self.currency, t.at, rates)?;
        self.push(t)
    }

    /// Adds the transaction an event describes: an order (the amount paid,
    /// gross − discount) or a return. Other kinds of event carry no money and
    /// return `Ok(false)`. A replayed event (same id and content) is ignored
    /// and returns `Ok(false)`.
    ///
    /// ```
    /// # use customer_lifecycle::{Currency, CustomerId, Money, Transaction, TransactionLog};
    /// # use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    /// let mut log = TransactionLog::new(Currency::EUR);
    /// log.push(Transaction::order(CustomerId::from("ana@example.com"), at, Money::parse("19.90", Currency::EUR)?))?;
    /// use customer_lifecycle::{Event, EventKind};
    /// let order = EventKind::OrderPlaced { order_id: "o-2".into(), gross: Money::parse("30", Currency::EUR)?, discount: Money::parse("5", Currency::EUR)?, items: 1 };
    /// assert!(log.push_event(&Event::new("e-2", CustomerId::from("ana@example.com"), at, order)?)?);
    /// assert!(!log.push_event(&Event::new("e-9", CustomerId::from("ana@example.com"), at, EventKind::SiteVisit)?)?); // no money
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidEvent`] when the event does not validate;
    /// [`Error::ConflictingDuplicate`] when its id was seen with other content;
    /// otherwise as [`TransactionLog::push`].
    pub fn push_event(&mut self, event: &Event) -> Result<bool> {
        event.validate()?;
        // What was paid (gross − discount) or refunded: `Event::paid_amount`, the one rule.
        let Some(amount) = event.paid_amount()? else { return Ok(false) };
        let (kind, order_id) = match &event.kind {
            EventKind::OrderPlaced { order_id, .. } => (TransactionKind::Order, Some(order_id.as_str())),
            _ => (TransactionKind::Return, None),
        };
        if let Some(&seen) = self.event_rows.get(&event.id) {
            let same = seen.is_some_and(|row| self.row_matches(row, &event.customer, event.at, amount, kind));
            return if same {
                Ok(false)
            } else {
                Err(Error::ConflictingDuplicate {
                    kind: "event id",
                    id: event.id.0.clone(),
                    reason: "same id, different customer, time, amount or kind".into(),
                })
            };
        }
        let row = self.push_row(&event.customer, event.at, amount, kind, order_id, None)?;
        self.event_rows
            .insert(event.id.clone(), row.or_else(|| order_id.and_then(|o| self.order_rows.get(o).copied())));
        Ok(row.is_some())
    }

    /// Adds a row; `known`, when given, is the dense id the index holds for
    /// `customer` (ids are never removed while rows are pushed, so a dense
    /// id found before stays right).
    fn push_row(
        &mut self,
        customer: &CustomerId,
        at: DateTime<Utc>,
        amount: Money,
        kind: TransactionKind,
        order_id: Option<&str>,
        known: Option<DenseId>,
    ) -> Result<Option<RowRef>> {
        if amount.currency() != self.currency {
            return Err(Error::MixedCurrency {
                expected: self.currency.to_string(),
                found: amount.currency().to_string(),
            });
        }
        let field = match kind {
            TransactionKind::Order => "order amount",
            TransactionKind::Return => "return amount",
        };
        if amount.is_negative() {
            return Err(Error::InvalidAmount {
                field,
                value: amount.amount().to_string(),
                customer: Some(customer.to_string()),
                reason: NEGATIVE.into(),
            });
        }
        if kind == TransactionKind::Order {
            if let Some(id) = order_id {
                if let Some(&row) = self.order_rows.get(id) {
                    if self.row_matches(row, customer, at, amount, kind) {
                        return Ok(None);
                    }
                    return Err(Error::ConflictingDuplicate {
                        kind: "order id",
                        id: id.to_string(),
                        reason: "same order id, different customer, time or amount".into(),
                    });
                }
            }
        }
        let units = self.units_of(amount.amount(), field, customer)?;
        let dense = match known {
            Some(dense) => dense,
            None => self.customers.insert_ref(customer)?,
        };
        let b = (dense.0 >> BLOCK_SHIFT) as usize;
        if b >= self.blocks.len() {
            self.blocks.resize_with(b + 1, Block::default);
        }
        let block = &mut self.blocks[b];
        let row = RowRef { block: b as u32, index: block.len() as u32 };
        block.offset.push((dense.0 & ((1 << BLOCK_SHIFT) - 1)) as u16);
        block.at.push(at.timestamp());
        block.amount.push(units);
        block.kind.push(kind);
        self.len += 1;
        if let (TransactionKind::Order, Some(id)) = (kind, order_id) {
            self.order_rows.insert(id.to_string(), row);
        }
        Ok(Some(row))
    }

    /// Integer units of `amount` at the log's scale, raising the scale when needed.
    fn units_of(&mut self, amount: Decimal, field: &'static str, customer: &CustomerId) -> Result<i64> {
        let refuse = |reason: String| Error::InvalidAmount {
            field,
            value: amount.to_string(),
            customer: Some(customer.to_string()),
            reason,
        };
        let too_large = || refuse("too large or too precise to store exactly as 64-bit minor units".into());
        // The common case: no more decimals than the log keeps (so no
        // raise of its scale, and at most MAX_AMOUNT_DECIMALS of them), the
        // size checked on the units themselves: the rules below, without
        // normalising the decimal.
        if amount.scale() <= self.scale {
            let factor = 10i128.pow(self.scale - amount.scale());
            let units = amount.mantissa().checked_mul(factor);
            let limit = i128::from(MAX_AMOUNT) * 10i128.pow(self.scale);
            if let Some(units) = units.filter(|u| u.abs() <= limit) {
                return i64::try_from(units).map_err(|_| too_large());
            }
        }
        let amount = amount.normalize();
        // One rule for every row, whatever came before: at most
        // MAX_AMOUNT_DECIMALS decimals and at most MAX_AMOUNT in size, so
        // that every accepted amount fits at every scale the log can reach
        // and raising the scale never overflows a stored row. (Without it a
        // very precise amount made later large ones fail, and the reverse
        // order refused the precise one instead.)
        if let Some(reason) = size_refusal(amount) {
            return Err(refuse(reason));
        }
        if amount.scale() > self.scale {
            let extra = amount.scale() - self.scale;
            let factor = 10i64.checked_pow(extra).ok_or_else(too_large)?;
            // Check every row first, so that a refused amount changes nothing.
            for block in &self.blocks {
                for &a in &block.amount {
                    a.checked_mul(factor).ok_or_else(too_large)?;
                }
            }
            for block in &mut self.blocks {
                block.amount.iter_mut().for_each(|a| *a *= factor);
            }
            self.scale = amount.scale();
        }
        money::to_minor_units(amount, self.scale).ok_or_else(too_large)
    }

    fn row_matches(
        &self,
        row: RowRef,
        customer: &CustomerId,
        at: DateTime<Utc>,
        amount: Money,
        kind: TransactionKind,
    ) -> bool {
        let block = &self.blocks[row.block as usize];
        let i = row.index as usize;
        let dense = (row.block << BLOCK_SHIFT) | u32::from(block.offset[i]);
        let same_customer = self.customers.id(DenseId(dense)) == Some(customer);
        let same_amount = money::to_minor_units(amount.amount().normalize(), self.scale) == Some(block.amount[i]);
        same_customer && block.at[i] == at.timestamp() && same_amount && block.kind[i] == kind
    }

    /// All rows as [`Transaction`]s (without order ids): block by block of
    /// dense customer ids, each customer's rows in arrival order.
    ///
    /// ```
    /// # use customer_lifecycle::{Currency, CustomerId, Money, Transaction, TransactionLog};
    /// # use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    /// let mut log = TransactionLog::new(Currency::EUR);
    /// log.push(Transaction::order(CustomerId::from("ana@example.com"), at, Money::parse("19.90", Currency::EUR)?))?;
    /// let t = log.iter().next().unwrap();
    /// assert_eq!(t.amount(), Money::parse("19.90", Currency::EUR)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = Transaction> + '_ {
        self.blocks.iter().enumerate().flat_map(move |(b, block)| {
            (0..block.len()).filter_map(move |i| {
                let dense = ((b as u32) << BLOCK_SHIFT) | u32::from(block.offset[i]);
                let customer = self.customers.id(DenseId(dense))?.clone();
                let at = DateTime::from_timestamp(block.at[i], 0)?;
                let amount =
                    Money::new(money::from_minor_units(i128::from(block.amount[i]), self.scale)?, self.currency);
                Some(Transaction { customer, at, amount, kind: block.kind[i], order_id: None })
            })
        })
    }

    /// A copy with each row's customer mapped by `map` (`None` drops the
    /// row), keeping order ids and event ids of the rows kept.
    fn rebuilt(&self, map: impl Fn(&CustomerId) -> Option<CustomerId>) -> Result<TransactionLog> {
        let mut order_of: HashMap<RowRef, &str> = HashMap::with_capacity(self.order_rows.len());
        for (id, row) in &self.order_rows {
            order_of.insert(*row, id.as_str());
        }
        let mut out = TransactionLog::new(self.currency);
        out.scale = self.scale;
        let mut moved: HashMap<RowRef, RowRef> = HashMap::new();
        for (b, block) in self.blocks.iter().enumerate() {
            for i in 0..block.len() {
                let dense = ((b as u32) << BLOCK_SHIFT) | u32::from(block.offset[i]);
                let Some(customer) = self.customers.id(DenseId(dense)).and_then(&map) else { continue };
                let old = RowRef { block: b as u32, index: i as u32 };
                let at = DateTime::from_timestamp(block.at[i], 0).unwrap_or_default();
                let amount = Money::new(
                    money::from_minor_units(i128::from(block.amount[i]), self.scale).unwrap_or_default(),
                    self.currency,
                );
                let order_id = if block.kind[i] == TransactionKind::Order { order_of.get(&old).copied() } else { None };
                if let Some(new) = out.push_row(&customer, at, amount, block.kind[i], order_id, None)? {
                    moved.insert(old, new);
                }
            }
        }
        for (event, row) in &self.event_rows {
            match row {
                Some(row) => {
                    if let Some(new) = moved.get(row) {
                        out.event_rows.insert(event.clone(), Some(*new));
                    }
                }
                None => {
                    out.event_rows.insert(event.clone(), None);
                }
            }
        }
        Ok(out)
    }

    /// Removes a customer and every row of theirs (right to erasure),
    /// with the order and event ids of those rows; `true` when the customer
    /// was in the log. Other customers' dense ids may change. No record of
    /// the id is kept (it would itself be personal data), so the customer's
    /// events pushed again later are accepted as a new customer's: erase
    /// them at their source too.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Money, Transaction, TransactionLog};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    ///
    /// let at = Utc.with_ymd_and_hms(2024, 1, 1, 12, 0, 0).unwrap();
    /// let mut log = TransactionLog::new(Currency::USD);
    /// log.push(Transaction::order(CustomerId::from("ann"), at, Money::parse("5", Currency::USD)?))?;
    /// log.push(Transaction::order(CustomerId::from("bob"), at, Money::parse("7", Currency::USD)?))?;
    /// assert!(log.erase(&CustomerId::from("ann"))?);
    /// assert_eq!(log.len(), 1);
    /// assert!(log.customers().get(&CustomerId::from("ann")).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// None in practice (the rows were valid).
    pub fn erase(&mut self, customer: &CustomerId) -> Result<bool> {
        if self.customers.get(customer).is_none() {
            return Ok(false);
        }
        *self = self.rebuilt(|c| (c != customer).then(|| c.clone()))?;
        Ok(true)
    }

    /// Replaces a customer's id by a pseudonym in every row.
    ///
    /// ```
    /// # use customer_lifecycle::{Currency, CustomerId, Money, Transaction, TransactionLog};
    /// # use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    /// let mut log = TransactionLog::new(Currency::EUR);
    /// log.push(Transaction::order(CustomerId::from("ana@example.com"), at, Money::parse("19.90", Currency::EUR)?))?;
    /// assert!(log.pseudonymise(&CustomerId::from("ana@example.com"), &CustomerId::from("p-1"))?);
    /// assert_eq!(log.iter().next().unwrap().customer(), &CustomerId::from("p-1"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the pseudonym is already a customer.
    pub fn pseudonymise(&mut self, customer: &CustomerId, pseudonym: &CustomerId) -> Result<bool> {
        if self.customers.get(pseudonym).is_some() {
            return Err(Error::InvalidArgument {
                name: "pseudonym",
                reason: format!("{pseudonym} is already a customer of the log"),
            });
        }
        if self.customers.get(customer).is_none() {
            return Ok(false);
        }
        *self = self.rebuilt(|c| Some(if c == customer { pseudonym.clone() } else { c.clone() }))?;
        Ok(true)
    }

    /// The log keyed by person: every row under its customer's canonical id
    /// in `graph` ([`IdentityGraph::resolve`]; ids the graph does not know
    /// stay as they are). A person's rows under several ids become one
    /// customer's, so the summary, RFM, cohorts, KPIs and CLV of the result
    /// are those of the log written with one id per person. Order and event
    /// ids carry over (an order id is already unique across the log).
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Identifier, IdentityGraph, IdentityPolicy, LinkSource, Money, Transaction, TransactionLog};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let day = |d| Utc.with_ymd_and_hms(2024, 1, d, 12, 0, 0).unwrap();
    /// let mut log = TransactionLog::new(Currency::EUR);
    /// log.push(Transaction::order(CustomerId::from("guest-7"), day(1), Money::parse("20", Currency::EUR)?))?;
    /// log.push(Transaction::order(CustomerId::from("ana"), day(9), Money::parse("35", Currency::EUR)?))?;
    /// let mut graph = IdentityGraph::new(IdentityPolicy::default());
    /// graph.link(&Identifier::customer("guest-7"), &Identifier::customer("ana"), LinkSource::Login, day(9))?;
    /// let people = log.resolved(&graph)?;
    /// assert_eq!(people.customers().len(), 1);
    /// assert!(people.iter().all(|t| t.customer() == &CustomerId::from("ana")));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// None in practice (the rows were valid in this log); typed as `push`.
    pub fn resolved(&self, graph: &IdentityGraph) -> Result<TransactionLog> {
        self.rebuilt(|c| Some(graph.resolve(c)))
    }

    /// A new log with the rows dated before `end` (for analyses "as of" an
    /// earlier date; a summary refuses rows after its observation end).
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Money, Transaction, TransactionLog};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    ///
    /// let day = |d| Utc.with_ymd_and_hms(2024, 1, d, 12, 0, 0).unwrap();
    /// let mut log = TransactionLog::new(Currency::USD);
    /// log.push(Transaction::order(CustomerId::from(1), day(1), Money::parse("5", Currency::USD)?))?;
    /// log.push(Transaction::order(CustomerId::from(1), day(9), Money::parse("7", Currency::USD)?))?;
    /// assert_eq!(log.before(day(5))?.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// None in practice (the rows were valid in this log); typed as `push`.
    pub fn before(&self, end: DateTime<Utc>) -> Result<TransactionLog> {
        let mut out = TransactionLog::new(self.currency);
        for t in self.iter().filter(|t| t.at < end) {
            out.push(t)?;
        }
        Ok(out)
    }

    /// The times of the earliest and the latest row (`None` for an empty log).
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Money, Transaction, TransactionLog};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let day = |d| Utc.with_ymd_and_hms(2024, 1, d, 12, 0, 0).unwrap();
    /// let mut log = TransactionLog::new(Currency::EUR);
    /// assert_eq!(log.time_span(), None);
    /// for (who, d) in [("ana", 9), ("bo", 2), ("ana", 20)] {
    ///     log.push(Transaction::order(CustomerId::from(who), day(d), Money::parse("5", Currency::EUR)?))?;
    /// }
    /// assert_eq!(log.time_span(), Some((day(2), day(20))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn time_span(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let times = self.blocks.iter().flat_map(|b| b.at.iter().copied());
        let (lo, hi) = times.fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
        Some((DateTime::from_timestamp(lo, 0)?, DateTime::from_timestamp(hi, 0)?)).filter(|_| lo <= hi)
    }

    /// The blocks, in order of their first customer: the interface of the
    /// summary, the cohorts and the KPIs to the log.
    pub(crate) fn blocks(&self) -> impl Iterator<Item = LogBlock<'_>> {
        self.blocks.iter().enumerate().map(|(b, block)| LogBlock { first: b << BLOCK_SHIFT, block })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::EventKind;
    use crate::domain::money::FixedRates;
    use chrono::TimeZone;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, day, 12, 0, 0).unwrap()
    }

    fn usd(s: &str) -> Money {
        Money::parse(s, Currency::USD).unwrap()
    }

    #[test]
    fn identical_rows_without_order_id_are_distinct() {
        let mut log = TransactionLog::new(Currency::USD);
        let t = Transaction::order(CustomerId::from(1), at(1), usd("5"));
        assert!(log.push(t.clone()).unwrap());
        assert!(log.push(t).unwrap());
        assert_eq!(log.len(), 2);
    }

    #[test]
    fn repeated_order_id_is_idempotent_or_conflicting() {
        let mut log = TransactionLog::new(Currency::USD);
        let t = Transaction::order(CustomerId::from(1), at(1), usd("5")).with_order_id("o1");
        assert!(log.push(t.clone()).unwrap());
        assert!(!log.push(t.clone()).unwrap());
        let mut changed = t;
        changed.amount = usd("6");
        assert!(matches!(log.push(changed), Err(Error::ConflictingDuplicate { .. })));
        assert_eq!(log.len(), 1);
    }

    #[test]
    fn negative_amounts_are_refused_with_context() {
        let mut log = TransactionLog::new(Currency::USD);
        let e = log.push(Transaction::order(CustomerId::from(9), at(1), usd("-1"))).unwrap_err();
        assert!(e.to_string().contains("customer 9"), "{e}");
        assert!(log.push(Transaction::refund(CustomerId::from(9), at(1), usd("-1"))).is_err());
        assert!(log.is_empty());
    }

    #[test]
    fn zero_value_orders_are_kept() {
        let mut log = TransactionLog::new(Currency::USD);
        assert!(log.push(Transaction::order(CustomerId::from(1), at(1), usd("0"))).unwrap());
        assert_eq!(log.len(), 1);
    }

    proptest::proptest! {
        /// Whether an amount is accepted depends on the amount alone, never
        /// on the rows before it: forwards and backwards, the same rows are
        /// accepted, exactly those of at most 6 decimals and at most
        /// MAX_AMOUNT, and the stored values are the amounts.
        #[test]
        fn acceptance_does_not_depend_on_order(
            amounts in proptest::collection::vec((0i64..i64::MAX, 0u32..12), 1..40),
        ) {
            let decimals: Vec<Decimal> = amounts.iter().map(|&(m, e)| Decimal::new(m >> (e * 4), e)).collect();
            let accepted = |order: &mut dyn Iterator<Item = &Decimal>| -> Vec<Decimal> {
                let mut log = TransactionLog::new(Currency::EUR);
                let mut out: Vec<Decimal> = order
                    .filter(|d| {
                        let t = Transaction::order(CustomerId::from(1), DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default(), Money::new(**d, Currency::EUR));
                        log.push(t).is_ok()
                    })
                    .copied()
                    .collect();
                out.sort();
                let mut stored: Vec<Decimal> = log.iter().map(|t| t.amount().amount()).collect();
                stored.sort();
                assert_eq!(stored.iter().map(|d| d.normalize()).collect::<Vec<_>>(), out.iter().map(|d| d.normalize()).collect::<Vec<_>>());
                out
            };
            let forwards = accepted(&mut decimals.iter());
            let backwards = accepted(&mut decimals.iter().rev());
            proptest::prop_assert_eq!(&forwards, &backwards);
            let mut rule: Vec<Decimal> = decimals
                .iter()
                .filter(|d| d.normalize().scale() <= MAX_AMOUNT_DECIMALS && d.abs() <= Decimal::from(MAX_AMOUNT))
                .copied()
                .collect();
            rule.sort();
            proptest::prop_assert_eq!(forwards, rule);
        }
    }

    #[test]
    fn scale_grows_exactly() {
        let mut log = TransactionLog::new(Currency::USD);
        log.push(Transaction::order(CustomerId::from(1), at(1), usd("1.25"))).unwrap();
        log.push(Transaction::order(CustomerId::from(1), at(2), usd("0.125"))).unwrap();
        assert_eq!(log.scale(), 3);
        assert_eq!(log.iter().next().unwrap().amount, usd("1.25"));
        assert_eq!(log.iter().nth(1).unwrap().amount, usd("0.125"));
        let huge = Money::new(Decimal::MAX, Currency::USD);
        assert!(matches!(
            log.push(Transaction::order(CustomerId::from(1), at(2), huge)),
            Err(Error::InvalidAmount { .. })
        ));
    }

    #[test]
    fn mixed_currencies_convert_with_rates() {
        let mut log = TransactionLog::new(Currency::USD);
        let eur = Transaction::order(CustomerId::from(1), at(1), Money::parse("10", Currency::EUR).unwrap());
        assert!(matches!(log.push(eur.clone()), Err(Error::MixedCurrency { .. })));
        let rates = FixedRates::new().with_rate(Currency::EUR, Currency::USD, Decimal::new(11, 1)).unwrap();
        assert!(log.push_converted(eur, &rates).unwrap());
        assert_eq!(log.iter().next().unwrap().amount, usd("11"));
    }

    #[test]
    fn events_are_idempotent_by_id() {
        let mut log = TransactionLog::new(Currency::USD);
        let e = Event::new(
            "e1",
            CustomerId::from(1),
            at(1),
            EventKind::OrderPlaced { order_id: "o1".into(), gross: usd("10"), discount: usd("2"), items: 1 },
        )
        .unwrap();
        assert!(log.push_event(&e).unwrap());
        assert!(!log.push_event(&e).unwrap());
        assert_eq!(log.iter().next().unwrap().amount, usd("8"));
        let mut conflicting = e.clone();
        conflicting.at = at(2);
        assert!(matches!(log.push_event(&conflicting), Err(Error::ConflictingDuplicate { .. })));
        let visit = Event::new("e2", CustomerId::from(1), at(1), EventKind::SiteVisit).unwrap();
        assert!(!log.push_event(&visit).unwrap());
        let ret = Event::new(
            "e3",
            CustomerId::from(1),
            at(3),
            EventKind::OrderReturned { order_id: "o1".into(), amount: usd("8") },
        )
        .unwrap();
        assert!(log.push_event(&ret).unwrap());
        assert!(!log.push_event(&ret).unwrap());
        assert_eq!(log.len(), 2);
    }
}
