//! Two ids found to be one person: their streaming states merged.
//!
//! A [`CustomerState`] is compact: it keeps aggregates (purchase days,
//! gap statistics, day buckets of engagement), not events, and two
//! aggregates cannot be merged exactly (two orders on the same day under
//! two ids are one purchase day; the gaps between the ids' orders are
//! known to neither). So a merge replays both ids' events, which the host
//! keeps (its event store, or the transaction log), under the person's id:
//! the merged state is exactly the one that one id would have had.

use chrono::{DateTime, Utc};

use super::engine::{CustomerState, Lifecycle, Transitions};
use super::profile::CompactEvent;
use crate::domain::customer::CustomerId;
use crate::domain::event::Event;
use crate::error::{Error, Result};

/// A state and the events it was built from: what a merge needs of one id.
///
/// ```
/// use customer_lifecycle::{Currency, CustomerId, Event, EventKind};
/// use customer_lifecycle::chrono::{TimeZone, Utc};
/// use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageModel, StateWithEvents};
/// let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR))?;
/// let at = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
/// let guest = CustomerId::from("guest-81");
/// let visit = Event::new("v-1", guest.clone(), at, EventKind::SiteVisit)?;
/// let mut state = engine.new_customer(guest, at);
/// engine.apply(&mut state, &visit)?;
/// let events = [visit];
/// let part = StateWithEvents { state: &state, events: &events };
/// assert_eq!(part.events.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct StateWithEvents<'a> {
    /// The id's state.
    pub state: &'a CustomerState,
    /// Every event [`Lifecycle::apply`] accepted into it, in any order
    /// (repeats of an event are recognised as in `apply`); for a state
    /// merged before, those of every id merged into it as well (under
    /// their own ids: [`Lifecycle::merge`] does not read the events'
    /// customer).
    pub events: &'a [Event],
}

/// The result of [`Lifecycle::merge`].
#[derive(Clone, PartialEq, Debug)]
pub struct Merged {
    /// The person's state, under the kept id.
    pub state: CustomerState,
    /// The person's whole stage history as the replay found it, oldest
    /// first: it replaces what was recorded for either id.
    pub transitions: Transitions,
}

impl Lifecycle {
    /// Merges the states of two ids of one person, linked at `linked_at`,
    /// into one state under `kept`'s id.
    ///
    /// Exact by replay: the events of both ids are applied, under the kept
    /// id and in time order, to a state first seen when the earlier of the
    /// two was, and the clock is moved to the later of the two clocks. The
    /// profile (orders, spend, cadence, engagement, NPS, support), the
    /// stage and its history are then those one id with all the events
    /// would have; an order both ids carried (same event id and content)
    /// counts once. The consent decisions of both are joined by the rule
    /// of [`ConsentHistory::merge`](crate::ConsentHistory::merge): before the
    /// link a restriction under either id wins, from it on the person's
    /// latest decision stands.
    ///
    /// Each id's events are first replayed alone and must rebuild its
    /// state: an incomplete or foreign event list is refused rather than
    /// merged into a wrong person. A merge costs about three applies per
    /// event (see the README's figures).
    ///
    /// Anonymous to known is the same call: the engagement of a device or
    /// cookie id before the login joins the person, and the stage is
    /// recomputed with it.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, CustomerId, Event, EventKind, Money};
    /// use customer_lifecycle::chrono::{TimeDelta, TimeZone, Utc};
    /// use customer_lifecycle::lifecycle::{EngineOptions, Lifecycle, StageModel, StateWithEvents};
    /// let engine = Lifecycle::new(StageModel::ecommerce(), EngineOptions::new(Currency::EUR))?;
    /// let t0 = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
    /// let order = |id: &str, who: &CustomerId, at| -> Result<Event, customer_lifecycle::Error> {
    ///     let kind = EventKind::OrderPlaced { order_id: id.into(), gross: Money::parse("40", Currency::EUR)?, discount: Money::parse("0", Currency::EUR)?, items: 1 };
    ///     Event::new(id, who.clone(), at, kind)
    /// };
    /// let (account, guest) = (CustomerId::from("ana@example.com"), CustomerId::from("guest-81"));
    /// // A guest checkout, then an order on the account a month later.
    /// let guest_events = [order("o-1", &guest, t0)?];
    /// let account_events = [order("o-2", &account, t0 + TimeDelta::days(30))?];
    /// let mut guest_state = engine.new_customer(guest.clone(), t0);
    /// engine.apply(&mut guest_state, &guest_events[0])?;
    /// let mut account_state = engine.new_customer(account.clone(), t0 + TimeDelta::days(30));
    /// engine.apply(&mut account_state, &account_events[0])?;
    /// assert_eq!(engine.model().stage_name(account_state.stage()), "new");
    ///
    /// let merged = engine.merge(
    ///     StateWithEvents { state: &account_state, events: &account_events },
    ///     StateWithEvents { state: &guest_state, events: &guest_events },
    ///     t0 + TimeDelta::days(30),
    /// )?;
    /// assert_eq!(merged.state.customer(), &account);
    /// assert_eq!(merged.state.profile().orders(), 2);
    /// assert_eq!(engine.model().stage_name(merged.state.stage()), "active"); // a repeat buyer
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when a state is of another engine, when
    /// the two states are of the same id, or when an id's events do not
    /// rebuild its state (naming the id); the errors of
    /// [`Lifecycle::apply`] for the events (an event id under both ids
    /// with different content is [`Error::ConflictingDuplicate`]); those
    /// of [`ConsentHistory::merge`](crate::ConsentHistory::merge). Nothing
    /// is returned on an error, and the inputs are never changed.
    pub fn merge(
        &self,
        kept: StateWithEvents<'_>,
        other: StateWithEvents<'_>,
        linked_at: DateTime<Utc>,
    ) -> Result<Merged> {
        self.check_state(kept.state)?;
        self.check_state(other.state)?;
        if kept.state.customer() == other.state.customer() {
            return Err(Error::InvalidArgument {
                name: "merge",
                reason: format!("both states are of customer {}", kept.state.customer()),
            });
        }
        // Each event in its compact form once, in the order the engine
        // settles events: time, then id hash.
        let mut events: Vec<(CompactEvent, &Event, bool)> = Vec::with_capacity(kept.events.len() + other.events.len());
        // The events may be of any id: a state merged before took the
        // events of the ids merged into it. A foreign event fails the
        // rebuild check below.
        for (part, is_kept) in [(&kept, true), (&other, false)] {
            for e in part.events {
                events.push((self.compact(e)?, e, is_kept));
            }
        }
        events.sort_by_key(|(c, _, _)| (c.at, c.id_hash));
        for (part, is_kept) in [(&kept, true), (&other, false)] {
            let own = events.iter().filter(|(_, _, k)| *k == is_kept).map(|&(c, e, _)| (c, e));
            let id = part.state.customer();
            let (rebuilt, _) = self.replay_events(id, own, part.state.profile().first_seen(), part.state.clock())?;
            let same = rebuilt.profile() == part.state.profile()
                && rebuilt.stage() == part.state.stage()
                && rebuilt.stage_since() == part.state.stage_since();
            if !same {
                return Err(Error::InvalidArgument {
                    name: "merge",
                    reason: format!(
                        "customer {id}: the {} events given do not rebuild its state (give every event it took)",
                        part.events.len()
                    ),
                });
            }
        }
        let first_seen = kept.state.profile().first_seen().min(other.state.profile().first_seen());
        let clock = kept.state.clock().max(other.state.clock());
        let all = events.iter().map(|&(c, e, _)| (c, e));
        let (mut state, transitions) = self.replay_events(kept.state.customer(), all, first_seen, clock)?;
        let mut consent = kept.state.consent().clone();
        consent.merge(other.state.consent(), linked_at)?;
        state.consent = consent;
        Ok(Merged { state, transitions })
    }

    /// A fresh state under `person`, first seen at `first_seen`, with
    /// `events` (compact forms beside the events, in the engine's order)
    /// applied, and the clock moved to `clock`; with the stage history the
    /// replay found.
    fn replay_events<'e>(
        &self,
        person: &CustomerId,
        events: impl Iterator<Item = (CompactEvent, &'e Event)>,
        first_seen: DateTime<Utc>,
        clock: DateTime<Utc>,
    ) -> Result<(CustomerState, Transitions)> {
        let mut state = self.new_customer(person.clone(), first_seen);
        let mut history = Transitions::default();
        for (compact, event) in events {
            let applied = self.apply_compact(&mut state, event, compact)?;
            if applied.restated {
                // The replayed transitions from the event's time on
                // supersede those recorded for that span.
                let kept: Vec<_> = history.iter().filter(|t| t.at < event.at).collect();
                history = Transitions::default();
                for t in &kept {
                    history.push_transition(t);
                }
            }
            for t in applied.transitions.iter() {
                history.push_transition(&t);
            }
        }
        if clock > state.clock() {
            for t in self.advance_to(&mut state, clock)?.iter() {
                history.push_transition(&t);
            }
        }
        Ok((state, history))
    }
}
