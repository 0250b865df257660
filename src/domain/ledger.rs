//! The consent ledger: every customer's consent history, the system of record.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::consent::{Channel, ConsentChange, ConsentHistory, ConsentRecord, Purpose};
use crate::domain::customer::CustomerId;
use crate::domain::event::Event;
use crate::error::{Error, Result};

/// Every customer's consent decisions, append-only, answering "may we
/// contact this customer on this channel for this purpose at this time?"
/// for any point in time.
///
/// The ledger is the system of record for consent: it takes the decisions
/// that events carry ([`ConsentLedger::record_event`], the same rule as the
/// stage engine's, [`Event::consent_change`]) and decisions from outside the
/// event stream ([`ConsentLedger::record`]: an import, a support call), and
/// it is where erasure and pseudonymisation happen. Each customer's
/// decisions are a [`ConsentHistory`], which holds the one rule of which
/// decision is in force (the latest; at the same instant the most
/// restrictive; opt-in without any). Withdrawals and objections take effect
/// at their instant: from then on, nothing for that purpose and channel is
/// allowed. Decisions may be recorded late (out of time order); answers are
/// the same as if they had come in order.
///
/// ```
/// use customer_lifecycle::{Channel, ConsentChange, ConsentLedger, ConsentStatus, CustomerId, Purpose};
/// use customer_lifecycle::chrono::{TimeZone, Utc};
///
/// let day = |d| Utc.with_ymd_and_hms(2024, 5, d, 0, 0, 0).unwrap();
/// let alice = CustomerId::from("alice");
/// let mut ledger = ConsentLedger::new();
/// ledger.record(&alice, ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Granted), day(1))?;
/// ledger.record(&alice, ConsentChange::new(Purpose::Marketing, Channel::Any, ConsentStatus::Withdrawn), day(10))?;
/// assert!(ledger.may_contact(&alice, &Channel::Email, &Purpose::Marketing, day(5)));
/// assert!(!ledger.may_contact(&alice, &Channel::Email, &Purpose::Marketing, day(10)));
/// assert!(!ledger.may_contact(&alice, &Channel::Sms, &Purpose::Marketing, day(5))); // never granted
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct ConsentLedger {
    #[serde(with = "crate::domain::customer::by_customer")]
    customers: BTreeMap<CustomerId, ConsentHistory>,
}

impl ConsentLedger {
    /// An empty ledger.
    ///
    /// ```
    /// use customer_lifecycle::ConsentLedger;
    /// assert!(ConsentLedger::new().is_empty());
    /// ```
    pub fn new() -> ConsentLedger {
        ConsentLedger::default()
    }

    /// Appends a decision made at `at`. An identical decision at the same
    /// instant (a replay) is recorded once; the result says whether
    /// anything was added.
    ///
    /// ```
    /// use customer_lifecycle::{Channel, ConsentChange, ConsentLedger, ConsentStatus, CustomerId, Purpose};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    ///
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
    /// let change = ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Granted);
    /// let mut ledger = ConsentLedger::new();
    /// assert!(ledger.record(&CustomerId::from(7), change.clone(), at)?);
    /// assert!(!ledger.record(&CustomerId::from(7), change, at)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the customer for an expiry not
    /// after `at`; nothing is recorded.
    pub fn record(&mut self, customer: &CustomerId, change: ConsentChange, at: DateTime<Utc>) -> Result<bool> {
        let mut history = self.customers.get(customer).cloned().unwrap_or_default();
        let added = history.record(change, at).map_err(|e| match e {
            Error::InvalidArgument { name, reason } => {
                Error::InvalidArgument { name, reason: format!("customer {customer}: {reason}") }
            }
            other => other,
        })?;
        if added {
            self.customers.insert(customer.clone(), history);
        }
        Ok(added)
    }

    /// Records the decision an event carries ([`Event::consent_change`]: a
    /// consent change, or an unsubscribe, which withdraws marketing on its
    /// channel). Other events are ignored (`Ok(false)`).
    ///
    /// ```
    /// use customer_lifecycle::{Channel, ConsentLedger, CustomerId, Event, EventKind, Purpose};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    ///
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
    /// let unsubscribe = Event::new("u1", CustomerId::from(7), at, EventKind::Unsubscribed { channel: Channel::Email })?;
    /// let mut ledger = ConsentLedger::new();
    /// assert!(ledger.record_event(&unsubscribe)?);
    /// assert!(!ledger.may_contact(&CustomerId::from(7), &Channel::Email, &Purpose::Marketing, at));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`ConsentLedger::record`]; an invalid event.
    pub fn record_event(&mut self, event: &Event) -> Result<bool> {
        event.validate()?;
        match event.consent_change() {
            Some(change) => self.record(&event.customer, change, event.at),
            None => Ok(false),
        }
    }

    /// A customer's decisions, oldest first.
    ///
    /// ```
    /// use customer_lifecycle::{ConsentLedger, CustomerId};
    /// assert!(ConsentLedger::new().history(&CustomerId::from(7)).is_empty());
    /// ```
    pub fn history(&self, customer: &CustomerId) -> &[ConsentRecord] {
        self.customers.get(customer).map_or(&[], ConsentHistory::records)
    }

    /// A customer's [`ConsentHistory`], if the ledger has any decision of theirs.
    ///
    /// ```
    /// use customer_lifecycle::{ConsentLedger, CustomerId};
    /// assert!(ConsentLedger::new().customer(&CustomerId::from(7)).is_none());
    /// ```
    pub fn customer(&self, customer: &CustomerId) -> Option<&ConsentHistory> {
        self.customers.get(customer)
    }

    /// The decision in force for `purpose` on `channel` at `at` ([`ConsentHistory::decision`]).
    ///
    /// ```
    /// use customer_lifecycle::{Channel, ConsentChange, ConsentLedger, ConsentStatus, CustomerId, Purpose};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    ///
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
    /// let mut ledger = ConsentLedger::new();
    /// let c = CustomerId::from(7);
    /// ledger.record(&c, ConsentChange::new(Purpose::Marketing, Channel::Any, ConsentStatus::Denied), at)?;
    /// let d = ledger.decision(&c, &Channel::Sms, &Purpose::Marketing, at).unwrap();
    /// assert_eq!(d.change.status, ConsentStatus::Denied);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn decision(
        &self,
        customer: &CustomerId,
        channel: &Channel,
        purpose: &Purpose,
        at: DateTime<Utc>,
    ) -> Option<&ConsentRecord> {
        self.customers.get(customer).and_then(|h| h.decision(channel, purpose, at))
    }

    /// May the customer be contacted on `channel` for `purpose` at `at`?
    ///
    /// ```
    /// use customer_lifecycle::{Channel, ConsentLedger, CustomerId, Purpose};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    ///
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
    /// // Opt-in: nobody may be contacted without a grant.
    /// assert!(!ConsentLedger::new().may_contact(&CustomerId::from(7), &Channel::Email, &Purpose::Marketing, at));
    /// ```
    pub fn may_contact(&self, customer: &CustomerId, channel: &Channel, purpose: &Purpose, at: DateTime<Utc>) -> bool {
        self.decision(customer, channel, purpose, at).is_some_and(|r| r.permits(at))
    }

    /// Whether the customer's decision on profiling in force at `at` is an
    /// objection (then no learned model may score them).
    ///
    /// ```
    /// use customer_lifecycle::{Channel, ConsentChange, ConsentLedger, ConsentStatus, CustomerId, Purpose};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    ///
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
    /// let mut ledger = ConsentLedger::new();
    /// let c = CustomerId::from(7);
    /// ledger.record(&c, ConsentChange::new(Purpose::Profiling, Channel::Any, ConsentStatus::Objected), at)?;
    /// assert!(ledger.objected_to_profiling(&c, at));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn objected_to_profiling(&self, customer: &CustomerId, at: DateTime<Utc>) -> bool {
        self.customers.get(customer).is_some_and(|h| h.objected_to_profiling(at))
    }

    /// Customers with at least one decision.
    ///
    /// ```
    /// use customer_lifecycle::ConsentLedger;
    /// assert_eq!(ConsentLedger::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.customers.len()
    }

    /// True when no decision is recorded.
    ///
    /// ```
    /// use customer_lifecycle::ConsentLedger;
    /// assert!(ConsentLedger::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.customers.is_empty()
    }

    /// Erases a customer's decisions; true when there were any.
    ///
    /// ```
    /// use customer_lifecycle::{ConsentLedger, CustomerId};
    /// assert!(!ConsentLedger::new().erase(&CustomerId::from(7)));
    /// ```
    pub fn erase(&mut self, customer: &CustomerId) -> bool {
        self.customers.remove(customer).is_some()
    }

    /// Joins the decisions of `from`, another id of the same person linked
    /// at `linked_at`, into those of `into`, and forgets `from`: every
    /// decision of both is kept in time order, and answers follow the rule
    /// of [`ConsentHistory::merge`] (before the link a restriction under any
    /// id wins; from the link on the person's latest decision stands).
    /// True when `from` had decisions.
    ///
    /// ```
    /// use customer_lifecycle::{Channel, ConsentChange, ConsentLedger, ConsentStatus, CustomerId, Purpose};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    ///
    /// let day = |d| Utc.with_ymd_and_hms(2024, 5, d, 0, 0, 0).unwrap();
    /// let (account, guest) = (CustomerId::from("ana@example.com"), CustomerId::from("guest-81"));
    /// let mut ledger = ConsentLedger::new();
    /// ledger.record(&account, ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Granted), day(1))?;
    /// ledger.record(&guest, ConsentChange::new(Purpose::Marketing, Channel::Any, ConsentStatus::Objected), day(2))?;
    /// assert!(ledger.merge(&account, &guest, day(5))?);
    /// assert!(ledger.history(&guest).is_empty());
    /// assert_eq!(ledger.history(&account).len(), 2);
    /// // The guest's objection holds for the person.
    /// assert!(!ledger.may_contact(&account, &Channel::Email, &Purpose::Marketing, day(6)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// Those of [`ConsentHistory::merge`]; nothing changes.
    pub fn merge(&mut self, into: &CustomerId, from: &CustomerId, linked_at: DateTime<Utc>) -> Result<bool> {
        if into == from {
            return Ok(false);
        }
        let Some(other) = self.customers.get(from) else {
            return Ok(false);
        };
        let mut history = self.customers.get(into).cloned().unwrap_or_default();
        history.merge(other, linked_at).map_err(|e| match e {
            Error::InvalidArgument { name, reason } => {
                Error::InvalidArgument { name, reason: format!("customers {into} and {from}: {reason}") }
            }
            other => other,
        })?;
        self.customers.remove(from);
        self.customers.insert(into.clone(), history);
        Ok(true)
    }

    /// Moves a customer's history under a pseudonym.
    ///
    /// ```
    /// use customer_lifecycle::{Channel, ConsentChange, ConsentLedger, ConsentStatus, CustomerId, Purpose};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    ///
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
    /// let mut ledger = ConsentLedger::new();
    /// ledger.record(&CustomerId::from(7), ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Granted), at)?;
    /// assert!(ledger.pseudonymise(&CustomerId::from(7), &CustomerId::from("p-1"))?);
    /// assert_eq!(ledger.history(&CustomerId::from("p-1")).len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the pseudonym is already a customer.
    pub fn pseudonymise(&mut self, customer: &CustomerId, pseudonym: &CustomerId) -> Result<bool> {
        crate::domain::customer::pseudonymise_key(&mut self.customers, customer, pseudonym)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::consent::ConsentStatus;
    use chrono::TimeZone;

    #[test]
    fn ledger_answers_for_any_time_in_any_recording_order() {
        let day = |d| Utc.with_ymd_and_hms(2024, 5, d, 0, 0, 0).unwrap();
        let c = CustomerId::from(7);
        let grant = ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Granted);
        let object = ConsentChange::new(Purpose::Profiling, Channel::Any, ConsentStatus::Objected);
        let withdraw = ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Withdrawn);
        let regrant = grant.clone().with_expiry(day(25));
        let entries = [(grant, day(1)), (object, day(3)), (withdraw, day(10)), (regrant, day(20))];
        let mut in_order = ConsentLedger::new();
        let mut reversed = ConsentLedger::new();
        for (change, at) in &entries {
            in_order.record(&c, change.clone(), *at).unwrap();
        }
        for (change, at) in entries.iter().rev() {
            reversed.record(&c, change.clone(), *at).unwrap();
        }
        assert_eq!(in_order, reversed);
        let email = |l: &ConsentLedger, d| l.may_contact(&c, &Channel::Email, &Purpose::Marketing, day(d));
        assert!(email(&in_order, 1));
        assert!(email(&in_order, 9));
        assert!(!email(&in_order, 10)); // withdrawn at its instant
        assert!(email(&in_order, 24));
        assert!(!email(&in_order, 25)); // expired
        assert!(!in_order.objected_to_profiling(&c, day(2)));
        assert!(in_order.objected_to_profiling(&c, day(3)));
        // Replays are recorded once; an expiry before the decision is refused.
        assert!(!in_order.record(&c, entries[0].0.clone(), entries[0].1).unwrap());
        let bad = ConsentChange::new(Purpose::Marketing, Channel::Sms, ConsentStatus::Granted).with_expiry(day(1));
        assert!(in_order.record(&c, bad, day(2)).is_err());
        // Erasure and pseudonymisation.
        let p = CustomerId::from("p-1");
        assert!(in_order.pseudonymise(&c, &p).unwrap());
        assert!(in_order.history(&c).is_empty());
        assert_eq!(in_order.history(&p).len(), 4);
        assert!(in_order.erase(&p));
        assert!(in_order.is_empty());
    }

    #[test]
    fn same_instant_decisions_do_not_depend_on_arrival() {
        let at = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
        let c = CustomerId::from("a@example.com");
        let grant = ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Granted);
        let withdraw = ConsentChange::new(Purpose::Marketing, Channel::Any, ConsentStatus::Withdrawn);
        let orders = [vec![grant.clone(), withdraw.clone(), grant.clone()], vec![withdraw.clone(), grant.clone()]];
        for order in orders {
            let mut ledger = ConsentLedger::new();
            for change in order {
                ledger.record(&c, change, at).unwrap();
            }
            assert!(!ledger.may_contact(&c, &Channel::Email, &Purpose::Marketing, at));
        }
    }

    #[test]
    fn a_saved_history_out_of_order_is_refused() {
        let day = |d| Utc.with_ymd_and_hms(2024, 5, d, 0, 0, 0).unwrap();
        let grant = ConsentChange::new(Purpose::Marketing, Channel::Email, ConsentStatus::Granted);
        let mut ledger = ConsentLedger::new();
        ledger.record(&CustomerId::from("a"), grant.clone(), day(2)).unwrap();
        ledger.record(&CustomerId::from("a"), grant, day(1)).unwrap();
        let json = serde_json::to_string(&ledger).unwrap();
        assert_eq!(serde_json::from_str::<ConsentLedger>(&json).unwrap(), ledger);
        let swapped = json.replace("2024-05-01", "X").replace("2024-05-02", "2024-05-01").replace('X', "2024-05-02");
        assert!(serde_json::from_str::<ConsentLedger>(&swapped).is_err());
    }
}
