//! Events: everything a shop backend can tell the crate about a customer.

use std::collections::HashMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::consent::{Channel, ConsentChange, ConsentStatus, Purpose};
use crate::domain::customer::CustomerId;
use crate::domain::money::Money;
use crate::error::{Error, Result};

/// An event's unique id. A replayed event (same id, same content) is a
/// no-op wherever events are ingested; the same id with other content is an
/// [`Error::ConflictingDuplicate`].
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(pub String);

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for EventId {
    fn from(s: &str) -> Self {
        EventId(s.to_string())
    }
}

impl From<String> for EventId {
    fn from(s: String) -> Self {
        EventId(s)
    }
}

impl From<u64> for EventId {
    fn from(n: u64) -> Self {
        EventId(n.to_string())
    }
}

/// A Net Promoter Score answer, 0 to 10.
///
/// ```
/// use customer_lifecycle::NpsScore;
///
/// assert!(NpsScore::new(11).is_err());
/// assert!(NpsScore::new(9)?.is_promoter());
/// assert!(NpsScore::new(6)?.is_detractor());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct NpsScore(u8);

impl NpsScore {
    /// A score in 0..=10.
    ///
    /// ```
    /// use customer_lifecycle::NpsScore;
    /// assert!(NpsScore::new(10).is_ok() && NpsScore::new(11).is_err());
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] above 10.
    pub fn new(score: u8) -> Result<NpsScore> {
        if score > 10 {
            return Err(Error::InvalidArgument { name: "nps score", reason: format!("{score} is outside 0..=10") });
        }
        Ok(NpsScore(score))
    }

    /// The score.
    ///
    /// ```
    /// use customer_lifecycle::NpsScore;
    /// assert_eq!(NpsScore::new(7)?.value(), 7);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn value(self) -> u8 {
        self.0
    }

    /// 9 or 10.
    ///
    /// ```
    /// use customer_lifecycle::NpsScore;
    /// assert!(NpsScore::new(9)?.is_promoter() && !NpsScore::new(8)?.is_promoter());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_promoter(self) -> bool {
        self.0 >= 9
    }

    /// 0 to 6.
    ///
    /// ```
    /// use customer_lifecycle::NpsScore;
    /// assert!(NpsScore::new(6)?.is_detractor() && !NpsScore::new(7)?.is_detractor());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_detractor(self) -> bool {
        self.0 <= 6
    }
}

impl TryFrom<u8> for NpsScore {
    type Error = Error;
    fn try_from(v: u8) -> Result<NpsScore> {
        NpsScore::new(v)
    }
}

impl From<NpsScore> for u8 {
    fn from(s: NpsScore) -> u8 {
        s.0
    }
}

/// Engagement: the event classes a customer profile counts in rolling
/// windows ([`EventClass::engagement`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Engagement {
    /// Site or app visits.
    Visits,
    /// Product page views.
    ProductViews,
    /// Additions to the cart (and checkouts started).
    CartAdditions,
    /// Marketing e-mails opened.
    EmailOpens,
    /// Links clicked in marketing e-mails.
    EmailClicks,
}

/// What kind of event an [`EventKind`] is, without its data: the one
/// classification of events that the stage engine, its conditions, the
/// triggers and the KPIs share ([`EventKind::class`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventClass {
    /// An order ([`EventKind::OrderPlaced`]).
    Order,
    /// A return ([`EventKind::OrderReturned`]).
    Return,
    /// A product page view.
    ProductView,
    /// An addition to the cart.
    CartAddition,
    /// A checkout started.
    Checkout,
    /// A site or app visit.
    Visit,
    /// A marketing e-mail sent.
    EmailSent,
    /// A marketing e-mail opened.
    EmailOpen,
    /// A link in a marketing e-mail clicked.
    EmailClick,
    /// An unsubscribe.
    Unsubscribe,
    /// A support ticket.
    SupportTicket,
    /// An NPS answer.
    Nps,
    /// A consent decision.
    ConsentChange,
}

impl EventClass {
    /// The engagement window this class counts in, if any: visits, product
    /// views, cart additions and checkouts (one window), e-mail opens,
    /// e-mail clicks.
    ///
    /// ```
    /// use customer_lifecycle::{Engagement, EventClass};
    ///
    /// assert_eq!(EventClass::Checkout.engagement(), Some(Engagement::CartAdditions));
    /// assert_eq!(EventClass::Order.engagement(), None);
    /// ```
    pub fn engagement(self) -> Option<Engagement> {
        Some(match self {
            EventClass::Visit => Engagement::Visits,
            EventClass::ProductView => Engagement::ProductViews,
            EventClass::CartAddition | EventClass::Checkout => Engagement::CartAdditions,
            EventClass::EmailOpen => Engagement::EmailOpens,
            EventClass::EmailClick => Engagement::EmailClicks,
            _ => return None,
        })
    }
}

/// What happened.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// An order was placed. The customer paid `gross − discount`.
    OrderPlaced {
        /// The shop's order id.
        order_id: String,
        /// The order's value before discounts.
        gross: Money,
        /// Discounts granted on it (same currency, at most `gross`).
        discount: Money,
        /// Number of items.
        items: u32,
    },
    /// (Part of) an order was returned or refunded.
    OrderReturned {
        /// The order the return refers to.
        order_id: String,
        /// The amount refunded (not negative).
        amount: Money,
    },
    /// A product page was viewed.
    ProductViewed {
        /// The product.
        product_id: String,
    },
    /// A product was added to the cart.
    AddedToCart {
        /// The product.
        product_id: String,
        /// How many.
        quantity: u32,
    },
    /// Checkout was started.
    CheckoutStarted,
    /// A marketing e-mail was sent.
    EmailSent {
        /// The campaign or mailing.
        campaign: String,
    },
    /// A marketing e-mail was opened.
    EmailOpened {
        /// The campaign or mailing.
        campaign: String,
    },
    /// A link in a marketing e-mail was clicked.
    EmailClicked {
        /// The campaign or mailing.
        campaign: String,
    },
    /// The customer unsubscribed from a channel.
    Unsubscribed {
        /// The channel.
        channel: Channel,
    },
    /// A support ticket was opened.
    SupportTicket {
        /// What handling it cost, when known.
        cost: Option<Money>,
    },
    /// The customer answered the NPS question.
    NpsAnswered {
        /// The answer.
        score: NpsScore,
    },
    /// The customer visited the site or app.
    SiteVisit,
    /// The customer gave, refused, withdrew or objected to consent.
    ConsentChanged(ConsentChange),
}

validated_serde! {
/// Something that happened to a customer at a time.
///
/// ```
/// use customer_lifecycle::{Currency, CustomerId, Event, EventKind, Money};
/// use customer_lifecycle::chrono::{TimeZone, Utc};
///
/// let order = Event::new(
///     "evt-1",
///     CustomerId::from(42),
///     Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 0).unwrap(),
///     EventKind::OrderPlaced {
///         order_id: "o-1".into(),
///         gross: Money::parse("50.00", Currency::EUR)?,
///         discount: Money::parse("5.00", Currency::EUR)?,
///         items: 2,
///     },
/// )?;
/// assert_eq!(order.paid_amount()?.unwrap().to_string(), "45.00 EUR");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Debug)]
pub struct Event {
    /// Unique id (replays are recognised by it).
    pub(crate) id: EventId,
    /// Whose event.
    pub(crate) customer: CustomerId,
    /// When it happened.
    pub(crate) at: DateTime<Utc>,
    /// What happened.
    pub(crate) kind: EventKind,
}
}

impl Event {
    /// A saved event loads only when it validates.
    fn check_consistent(&self) -> Result<()> {
        self.validate()
    }

    /// The event's id (replays are recognised by it).
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, Event, EventId, EventKind};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    ///
    /// let e = Event::new("evt-7", CustomerId::from(1), Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap(), EventKind::SiteVisit)?;
    /// assert_eq!(e.id(), &EventId::from("evt-7"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn id(&self) -> &EventId {
        &self.id
    }

    /// Whose event it is.
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, Event, EventKind};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    ///
    /// let e = Event::new("evt-7", CustomerId::from(1), Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap(), EventKind::SiteVisit)?;
    /// assert_eq!(e.customer(), &CustomerId::from(1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn customer(&self) -> &CustomerId {
        &self.customer
    }

    /// When it happened.
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, Event, EventKind};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    ///
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
    /// assert_eq!(Event::new("evt-7", CustomerId::from(1), at, EventKind::SiteVisit)?.at(), at);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }

    /// What happened.
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, Event, EventKind};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    ///
    /// let e = Event::new("evt-7", CustomerId::from(1), Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap(), EventKind::SiteVisit)?;
    /// assert_eq!(e.kind(), &EventKind::SiteVisit);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn kind(&self) -> &EventKind {
        &self.kind
    }

    /// A validated event (see [`Event::validate`]).
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Event, EventKind, Money};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    /// let order = EventKind::OrderPlaced { order_id: "o-1".into(), gross: Money::parse("40", Currency::EUR)?, discount: Money::parse("5", Currency::EUR)?, items: 2 };
    /// let e = Event::new("evt-1", CustomerId::from("ana@example.com"), at, order)?;
    /// assert_eq!(e.customer(), &CustomerId::from("ana@example.com"));
    /// assert!(Event::new("", CustomerId::from(1), at, EventKind::SiteVisit).is_err()); // an id is required
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidEvent`] when its content is inconsistent.
    pub fn new(id: impl Into<EventId>, customer: CustomerId, at: DateTime<Utc>, kind: EventKind) -> Result<Event> {
        let event = Event { id: id.into(), customer, at, kind };
        event.validate()?;
        Ok(event)
    }

    /// Checks the content: amounts not negative, discount in the order's
    /// currency and at most its gross value, ids not empty. Events built
    /// field by field (or deserialised) should be validated before use;
    /// every ingesting function of the crate does so.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Event, EventKind, Money};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    /// let order = EventKind::OrderPlaced { order_id: "o-1".into(), gross: Money::parse("40", Currency::EUR)?, discount: Money::parse("5", Currency::EUR)?, items: 2 };
    /// let e = Event::new("evt-1", CustomerId::from(1), at, order)?;
    /// assert!(e.validate().is_ok());
    /// // A discount above the gross amount never makes an event: `new` validates too.
    /// let bad = EventKind::OrderPlaced { order_id: "o-2".into(), gross: Money::parse("5", Currency::EUR)?, discount: Money::parse("9", Currency::EUR)?, items: 1 };
    /// assert!(Event::new("evt-2", CustomerId::from(1), at, bad).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidEvent`] naming the event and the problem.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| Error::InvalidEvent { event_id: self.id.0.clone(), reason };
        if self.id.0.is_empty() {
            return Err(bad("empty event id".into()));
        }
        match &self.kind {
            EventKind::OrderPlaced { order_id, gross, discount, .. } => {
                if order_id.is_empty() {
                    return Err(bad("empty order id".into()));
                }
                if gross.is_negative() {
                    return Err(bad(format!("negative gross amount {gross}")));
                }
                if discount.is_negative() {
                    return Err(bad(format!("negative discount {discount}")));
                }
                if gross.currency() != discount.currency() {
                    return Err(bad(format!("discount in {} but order in {}", discount.currency(), gross.currency())));
                }
                if discount.amount() > gross.amount() {
                    return Err(bad(format!("discount {discount} exceeds gross amount {gross}")));
                }
            }
            EventKind::OrderReturned { order_id, amount } => {
                if order_id.is_empty() {
                    return Err(bad("empty order id".into()));
                }
                if amount.is_negative() {
                    return Err(bad(format!("negative return amount {amount}")));
                }
            }
            EventKind::SupportTicket { cost: Some(cost) } if cost.is_negative() => {
                return Err(bad(format!("negative support cost {cost}")));
            }
            EventKind::ConsentChanged(change) if change.expires_at.is_some_and(|e| e <= self.at) => {
                return Err(bad(format!("a consent expiring before it is given ({})", self.at)));
            }
            _ => {}
        }
        Ok(())
    }

    /// What the customer paid for an order (`gross − discount`), or the
    /// refunded amount of a return; `None` for other events.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Event, EventKind, Money};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    /// let order = EventKind::OrderPlaced { order_id: "o-1".into(), gross: Money::parse("40", Currency::EUR)?, discount: Money::parse("5", Currency::EUR)?, items: 2 };
    /// let e = Event::new("evt-1", CustomerId::from(1), at, order)?;
    /// assert_eq!(e.paid_amount()?, Some(Money::parse("35", Currency::EUR)?));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::MixedCurrency`] when the discount's currency differs from the order's.
    pub fn paid_amount(&self) -> Result<Option<Money>> {
        match &self.kind {
            EventKind::OrderPlaced { gross, discount, .. } => gross.checked_sub(*discount).map(Some),
            EventKind::OrderReturned { amount, .. } => Ok(Some(*amount)),
            _ => Ok(None),
        }
    }

    /// The consent decision this event carries, if any: a
    /// [`EventKind::ConsentChanged`] carries its own; an
    /// [`EventKind::Unsubscribed`] withdraws marketing on its channel (source
    /// `"unsubscribe"`). This is the one place that rule lives: the consent
    /// ledger and the stage engine both record what it returns.
    ///
    /// ```
    /// use customer_lifecycle::{Channel, ConsentStatus, CustomerId, Event, EventKind, Purpose};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    ///
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
    /// let e = Event::new("u1", CustomerId::from(7), at, EventKind::Unsubscribed { channel: Channel::Email })?;
    /// let change = e.consent_change().unwrap();
    /// assert_eq!((change.purpose, change.status), (Purpose::Marketing, ConsentStatus::Withdrawn));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn consent_change(&self) -> Option<ConsentChange> {
        match &self.kind {
            EventKind::ConsentChanged(change) => Some(change.clone()),
            EventKind::Unsubscribed { channel } => Some(
                ConsentChange::new(Purpose::Marketing, channel.clone(), ConsentStatus::Withdrawn)
                    .with_source("unsubscribe"),
            ),
            _ => None,
        }
    }
}

/// The distinct events of a batch, in input order: every event validated,
/// a replay (same id, same content) kept once, the same id with other
/// content refused. The one rule for batch readers of events (KPIs, the
/// value ledger); the stage engine applies it per customer as events come.
///
/// # Errors
/// [`Error::InvalidEvent`] for an event that does not validate;
/// [`Error::ConflictingDuplicate`] naming the id seen with two contents.
pub(crate) fn distinct_events(events: &[Event]) -> Result<Vec<&Event>> {
    let mut seen: HashMap<&EventId, &Event> = HashMap::with_capacity(events.len());
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        e.validate()?;
        match seen.get(&e.id) {
            Some(first) if *first == e => {}
            Some(_) => {
                return Err(Error::ConflictingDuplicate {
                    kind: "event id",
                    id: e.id.0.clone(),
                    reason: "same id, different content".into(),
                });
            }
            None => {
                seen.insert(&e.id, e);
                out.push(e);
            }
        }
    }
    Ok(out)
}

impl EventKind {
    /// The order id of an order placed; `None` for every other kind (a
    /// return names the order it returns, but places none).
    pub(crate) fn placed_order_id(&self) -> Option<&str> {
        match self {
            EventKind::OrderPlaced { order_id, .. } => Some(order_id),
            _ => None,
        }
    }

    /// The kind's [`EventClass`].
    ///
    /// ```
    /// use customer_lifecycle::{EventClass, EventKind};
    ///
    /// assert_eq!(EventKind::SiteVisit.class(), EventClass::Visit);
    /// assert_eq!(EventKind::ProductViewed { product_id: "sku-1".into() }.class(), EventClass::ProductView);
    /// ```
    pub fn class(&self) -> EventClass {
        match self {
            EventKind::OrderPlaced { .. } => EventClass::Order,
            EventKind::OrderReturned { .. } => EventClass::Return,
            EventKind::ProductViewed { .. } => EventClass::ProductView,
            EventKind::AddedToCart { .. } => EventClass::CartAddition,
            EventKind::CheckoutStarted => EventClass::Checkout,
            EventKind::EmailSent { .. } => EventClass::EmailSent,
            EventKind::EmailOpened { .. } => EventClass::EmailOpen,
            EventKind::EmailClicked { .. } => EventClass::EmailClick,
            EventKind::Unsubscribed { .. } => EventClass::Unsubscribe,
            EventKind::SupportTicket { .. } => EventClass::SupportTicket,
            EventKind::NpsAnswered { .. } => EventClass::Nps,
            EventKind::SiteVisit => EventClass::Visit,
            EventKind::ConsentChanged(_) => EventClass::ConsentChange,
        }
    }

    /// The product an event is about: a view or a cart addition.
    ///
    /// ```
    /// use customer_lifecycle::EventKind;
    ///
    /// assert_eq!(EventKind::AddedToCart { product_id: "sku-1".into(), quantity: 2 }.product(), Some("sku-1"));
    /// assert_eq!(EventKind::SiteVisit.product(), None);
    /// ```
    pub fn product(&self) -> Option<&str> {
        match self {
            EventKind::ProductViewed { product_id } | EventKind::AddedToCart { product_id, .. } => {
                Some(product_id.as_str())
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::Currency;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
    }

    fn order(gross: &str, discount: &str, dc: Currency) -> EventKind {
        EventKind::OrderPlaced {
            order_id: "o".into(),
            gross: Money::parse(gross, Currency::USD).unwrap(),
            discount: Money::parse(discount, dc).unwrap(),
            items: 1,
        }
    }

    #[test]
    fn distinct_events_keep_replays_once_and_refuse_conflicts() {
        let at = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        let visit = Event::new("v1", CustomerId::from(1), at, EventKind::SiteVisit).unwrap();
        let other = Event::new("v2", CustomerId::from(1), at, EventKind::SiteVisit).unwrap();
        let batch = [visit.clone(), other.clone(), visit.clone()];
        let distinct = distinct_events(&batch).unwrap();
        assert_eq!(distinct, [&visit, &other]);
        let conflict = Event::new("v1", CustomerId::from(2), at, EventKind::SiteVisit).unwrap();
        assert!(matches!(distinct_events(&[visit, conflict]), Err(Error::ConflictingDuplicate { .. })));
    }

    #[test]
    fn invalid_orders_are_refused() {
        let c = CustomerId::from(1);
        assert!(Event::new("e", c.clone(), at(), order("-1", "0", Currency::USD)).is_err());
        assert!(Event::new("e", c.clone(), at(), order("10", "-1", Currency::USD)).is_err());
        assert!(Event::new("e", c.clone(), at(), order("10", "11", Currency::USD)).is_err());
        assert!(Event::new("e", c.clone(), at(), order("10", "1", Currency::EUR)).is_err());
        assert!(Event::new("", c.clone(), at(), EventKind::SiteVisit).is_err());
        let ret = EventKind::OrderReturned { order_id: "o".into(), amount: Money::parse("-5", Currency::USD).unwrap() };
        assert!(Event::new("e", c.clone(), at(), ret).is_err());
        let ticket = EventKind::SupportTicket { cost: Some(Money::parse("-5", Currency::USD).unwrap()) };
        assert!(Event::new("e", c.clone(), at(), ticket).is_err());
        // Zero-value orders are fine.
        assert!(Event::new("e", c, at(), order("0", "0", Currency::USD)).is_ok());
    }

    #[test]
    fn nps_out_of_range_fails_to_deserialise() {
        assert!(serde_json::from_str::<NpsScore>("11").is_err());
        assert_eq!(serde_json::from_str::<NpsScore>("10").unwrap().value(), 10);
    }

    #[test]
    fn events_round_trip_through_serde() {
        let e =
            Event::new("e1", CustomerId::from("c"), at(), EventKind::NpsAnswered { score: NpsScore::new(8).unwrap() })
                .unwrap();
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.contains(r#""type":"nps_answered""#), "{json}");
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), e);
    }
}
