//! Identity resolution: the identifiers one person is known by, linked by
//! observed evidence into people with one canonical id each.
//!
//! A shop knows the same person as a guest checkout and a later account,
//! under two e-mail addresses, by a cookie before login. An
//! [`IdentityGraph`] holds [`Identifier`]s of several [`IdentifierKind`]s
//! and the links observed between them (a login, an order that carries
//! both, an explicit link); the people are its connected components
//! (union–find), each named by its smallest identifier — customer ids
//! before e-mails, phones, external ids and devices, then by value — so
//! that the canonical id depends on the links, never on the order they
//! arrived in. An [`IdentityPolicy`] protects the merge: a link that would
//! give one person more identifiers of a kind than its limit, or that
//! touches a blocked identifier, is refused with
//! [`Error::IdentityLinkRefused`] and changes nothing.
//!
//! Every accepted link is kept (with its source and time), so a link shown
//! wrong can be removed ([`IdentityGraph::unlink`]) and the people it
//! joined are rebuilt exactly from the links that remain. What a person's
//! *state* was under the merge (stages, summaries, consent) is rebuilt
//! from the events or the log by the floors above, which apply the graph.
//!
//! This module is identifiers only: it imports nothing above the domain
//! floor but [`CustomerId`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Utc};
use std::hash::BuildHasher;

use hashbrown::HashTable;
use serde::{Deserialize, Serialize};

use super::customer::{CustomerId, IdKind};
use crate::error::{Error, Result};

/// The longest identifier value accepted, in bytes.
pub const MAX_IDENTIFIER_BYTES: usize = 512;

/// The most links one graph holds (each is kept for exact unmerging).
pub const MAX_LINKS: usize = 100_000_000;

/// What an identifier is. The order is the canonical id's preference: a
/// person with a customer id is named by it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub enum IdentifierKind {
    /// The shop's customer id (an account, or a guest checkout's id).
    Customer,
    /// An e-mail address (trimmed and case-folded).
    Email,
    /// A phone number (digits, with a leading `+` when given).
    Phone,
    /// Another system's id, as `system:id` (a newsletter tool, a CRM).
    External,
    /// A device or cookie id.
    Device,
}

impl IdentifierKind {
    /// Every kind, in the canonical order.
    pub const ALL: [IdentifierKind; 5] = [
        IdentifierKind::Customer,
        IdentifierKind::Email,
        IdentifierKind::Phone,
        IdentifierKind::External,
        IdentifierKind::Device,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// The counts per kind of a person holding one identifier of this kind.
    fn alone(self) -> [u32; 5] {
        let mut counts = [0; 5];
        counts[self.index()] = 1;
        counts
    }

    fn name(self) -> &'static str {
        match self {
            IdentifierKind::Customer => "customer",
            IdentifierKind::Email => "email",
            IdentifierKind::Phone => "phone",
            IdentifierKind::External => "external",
            IdentifierKind::Device => "device",
        }
    }
}

impl fmt::Display for IdentifierKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One identifier: its kind and its value, normalised on construction so
/// that equal identifiers compare equal (`Anna@X.de` is `anna@x.de`).
///
/// ```
/// use customer_lifecycle::{CustomerId, Identifier, IdentifierKind};
/// assert_eq!(Identifier::email(" Anna@X.de ")?, Identifier::email("anna@x.de")?);
/// assert_eq!(Identifier::phone("+49 (30) 1234-567")?.value(), &CustomerId::from("+49301234567"));
/// assert_eq!(Identifier::customer(42).kind(), IdentifierKind::Customer);
/// assert_eq!(Identifier::external("crm", "A-7")?.to_string(), "external:crm:A-7");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize)]
pub struct Identifier {
    kind: IdentifierKind,
    value: CustomerId,
}

impl Identifier {
    /// A customer id, as the log and the engine key customers.
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, Identifier};
    /// assert_eq!(Identifier::customer("guest-7").value(), &CustomerId::from("guest-7"));
    /// ```
    pub fn customer(id: impl Into<CustomerId>) -> Identifier {
        Identifier { kind: IdentifierKind::Customer, value: id.into() }
    }

    /// An e-mail address, trimmed and case-folded.
    ///
    /// ```
    /// use customer_lifecycle::Identifier;
    /// assert!(Identifier::email("no-at-sign").is_err());
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] without an `@`, or too long.
    pub fn email(text: &str) -> Result<Identifier> {
        let value = IdKind::Email.parse(text)?;
        Identifier::checked(IdentifierKind::Email, value)
    }

    /// A phone number: spaces, dots, dashes, slashes and parentheses
    /// dropped, a leading `+` kept; at least five digits.
    ///
    /// ```
    /// use customer_lifecycle::Identifier;
    /// assert_eq!(Identifier::phone("030 / 12 34 56")?, Identifier::phone("030123456")?);
    /// assert!(Identifier::phone("call me").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for any other character or too few digits.
    pub fn phone(text: &str) -> Result<Identifier> {
        let trimmed = text.trim();
        let mut out = String::with_capacity(trimmed.len());
        for (i, c) in trimmed.chars().enumerate() {
            match c {
                '0'..='9' => out.push(c),
                '+' if i == 0 => out.push(c),
                ' ' | '.' | '-' | '/' | '(' | ')' => {}
                _ => {
                    return Err(Error::InvalidArgument {
                        name: "phone number",
                        reason: format!("{text:?} has the character {c:?}"),
                    });
                }
            }
        }
        if out.chars().filter(char::is_ascii_digit).count() < 5 {
            return Err(Error::InvalidArgument {
                name: "phone number",
                reason: format!("{text:?} has fewer than 5 digits"),
            });
        }
        Identifier::checked(IdentifierKind::Phone, CustomerId::Text(out))
    }

    /// A device or cookie id, trimmed, compared exactly.
    ///
    /// ```
    /// use customer_lifecycle::Identifier;
    /// assert!(Identifier::device(" c-81f3 ").is_ok());
    /// assert!(Identifier::device("  ").is_err());
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when empty or too long.
    pub fn device(text: &str) -> Result<Identifier> {
        Identifier::checked(IdentifierKind::Device, CustomerId::Text(text.trim().to_string()))
    }

    /// Another system's id, kept as `system:id`.
    ///
    /// ```
    /// use customer_lifecycle::Identifier;
    /// assert_ne!(Identifier::external("crm", "7")?, Identifier::external("newsletter", "7")?);
    /// assert!(Identifier::external("a:b", "7").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an empty system or id, a system with
    /// `:`, or too long a value.
    pub fn external(system: &str, id: &str) -> Result<Identifier> {
        let (system, id) = (system.trim(), id.trim());
        if system.is_empty() || system.contains(':') || id.is_empty() {
            return Err(Error::InvalidArgument {
                name: "external id",
                reason: format!("system {system:?} and id {id:?}: both needed, the system without ':'"),
            });
        }
        Identifier::checked(IdentifierKind::External, CustomerId::Text(format!("{system}:{id}")))
    }

    fn checked(kind: IdentifierKind, value: CustomerId) -> Result<Identifier> {
        if let CustomerId::Text(text) = &value {
            if text.is_empty() || text.len() > MAX_IDENTIFIER_BYTES {
                return Err(Error::InvalidArgument {
                    name: "identifier",
                    reason: format!("a {kind} id must have 1 to {MAX_IDENTIFIER_BYTES} bytes, got {}", text.len()),
                });
            }
        }
        Ok(Identifier { kind, value })
    }

    /// The kind.
    ///
    /// ```
    /// use customer_lifecycle::{Identifier, IdentifierKind};
    /// assert_eq!(Identifier::device("c-1")?.kind(), IdentifierKind::Device);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn kind(&self) -> IdentifierKind {
        self.kind
    }

    /// The normalised value.
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, Identifier};
    /// assert_eq!(Identifier::email("A@B.de")?.value(), &CustomerId::from("a@b.de"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn value(&self) -> &CustomerId {
        &self.value
    }

    /// The id that keys this person's rows when this identifier names it:
    /// a customer id as it is, any other kind as the text `kind:value`
    /// (`email:anna@x.de`), so that it cannot collide with a customer id.
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, Identifier};
    /// assert_eq!(Identifier::customer(7).customer_id(), CustomerId::from(7));
    /// assert_eq!(Identifier::email("a@b.de")?.customer_id(), CustomerId::from("email:a@b.de"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn customer_id(&self) -> CustomerId {
        match self.kind {
            IdentifierKind::Customer => self.value.clone(),
            _ => CustomerId::Text(self.to_string()),
        }
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.value)
    }
}

impl<'de> Deserialize<'de> for Identifier {
    /// Loaded through the constructors' checks: a saved value is normalised
    /// again, and refused as the constructor would refuse it.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Identifier, D::Error> {
        #[derive(Deserialize)]
        struct Saved {
            kind: IdentifierKind,
            value: CustomerId,
        }
        let saved = Saved::deserialize(deserializer)?;
        let text = match &saved.value {
            CustomerId::Number(n) if saved.kind == IdentifierKind::Customer => {
                return Ok(Identifier::customer(*n));
            }
            CustomerId::Number(n) => n.to_string(),
            CustomerId::Text(t) => t.clone(),
        };
        let rebuilt = match saved.kind {
            IdentifierKind::Customer => Identifier::checked(IdentifierKind::Customer, saved.value.clone()),
            IdentifierKind::Email => Identifier::email(&text),
            IdentifierKind::Phone => Identifier::phone(&text),
            IdentifierKind::Device => Identifier::device(&text),
            IdentifierKind::External => match text.split_once(':') {
                Some((system, id)) => Identifier::external(system, id),
                None => {
                    Err(Error::InvalidArgument { name: "external id", reason: format!("{text:?} is not system:id") })
                }
            },
        }
        .map_err(serde::de::Error::custom)?;
        if rebuilt.value != saved.value {
            return Err(serde::de::Error::custom(format_args!("{} is not in normal form", saved.kind)));
        }
        Ok(rebuilt)
    }
}

/// Where a link was observed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub enum LinkSource {
    /// A login: the session's device or cookie, or the guest, became the account.
    Login,
    /// An order that carried both identifiers (an e-mail on a guest checkout).
    Order,
    /// An explicit link: the host's own evidence, or an imported link file.
    Explicit,
}

/// One observed link between two identifiers.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct IdentityLink {
    /// One side.
    pub a: Identifier,
    /// The other side.
    pub b: Identifier,
    /// Where it was observed.
    pub source: LinkSource,
    /// When.
    pub at: DateTime<Utc>,
}

/// The merge protection of an [`IdentityGraph`]: the most identifiers of
/// each kind one person may hold, and identifiers that never link.
///
/// The defaults: 2 customer ids (a guest checkout and the account), 5
/// e-mails, 5 phones, 10 external ids and 20 devices or cookies. A device
/// shared by a household then joins at most two accounts; where guests are
/// known by cookies or e-mails rather than customer ids, a limit of 1
/// customer id stops a shared device from gluing any two accounts.
///
/// ```
/// use customer_lifecycle::{Identifier, IdentifierKind, IdentityPolicy};
/// let policy = IdentityPolicy::default().with_limit(IdentifierKind::Customer, 1).block(Identifier::device("shared-kiosk")?);
/// assert_eq!(policy.limit(IdentifierKind::Customer), Some(1));
/// assert_eq!(IdentityPolicy::unlimited().limit(IdentifierKind::Device), None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct IdentityPolicy {
    limits: BTreeMap<IdentifierKind, u32>,
    blocked: BTreeSet<Identifier>,
}

impl Default for IdentityPolicy {
    fn default() -> IdentityPolicy {
        let limits = [
            (IdentifierKind::Customer, 2),
            (IdentifierKind::Email, 5),
            (IdentifierKind::Phone, 5),
            (IdentifierKind::External, 10),
            (IdentifierKind::Device, 20),
        ];
        IdentityPolicy { limits: limits.into_iter().collect(), blocked: BTreeSet::new() }
    }
}

impl IdentityPolicy {
    /// No limits and no blocked identifiers (for links already vetted, such
    /// as a merge file from a CRM).
    ///
    /// ```
    /// use customer_lifecycle::{IdentifierKind, IdentityPolicy};
    /// assert!(IdentifierKind::ALL.iter().all(|k| IdentityPolicy::unlimited().limit(*k).is_none()));
    /// ```
    pub fn unlimited() -> IdentityPolicy {
        IdentityPolicy { limits: BTreeMap::new(), blocked: BTreeSet::new() }
    }

    /// At most `limit` identifiers of `kind` per person (at least 1).
    ///
    /// ```
    /// use customer_lifecycle::{IdentifierKind, IdentityPolicy};
    /// assert_eq!(IdentityPolicy::unlimited().with_limit(IdentifierKind::Email, 3).limit(IdentifierKind::Email), Some(3));
    /// ```
    pub fn with_limit(mut self, kind: IdentifierKind, limit: u32) -> IdentityPolicy {
        self.limits.insert(kind, limit.max(1));
        self
    }

    /// No limit for `kind`.
    ///
    /// ```
    /// use customer_lifecycle::{IdentifierKind, IdentityPolicy};
    /// assert_eq!(IdentityPolicy::default().without_limit(IdentifierKind::Customer).limit(IdentifierKind::Customer), None);
    /// ```
    pub fn without_limit(mut self, kind: IdentifierKind) -> IdentityPolicy {
        self.limits.remove(&kind);
        self
    }

    /// Never links `identifier` (a shop's shared test account, a kiosk).
    ///
    /// ```
    /// use customer_lifecycle::{Identifier, IdentityPolicy};
    /// let kiosk = Identifier::device("kiosk")?;
    /// assert!(IdentityPolicy::default().block(kiosk.clone()).is_blocked(&kiosk));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn block(mut self, identifier: Identifier) -> IdentityPolicy {
        self.blocked.insert(identifier);
        self
    }

    /// The limit for `kind`, `None` for none.
    ///
    /// ```
    /// use customer_lifecycle::{IdentifierKind, IdentityPolicy};
    /// assert_eq!(IdentityPolicy::default().limit(IdentifierKind::Customer), Some(2));
    /// ```
    pub fn limit(&self, kind: IdentifierKind) -> Option<u32> {
        self.limits.get(&kind).copied()
    }

    /// Whether `identifier` is blocked.
    ///
    /// ```
    /// use customer_lifecycle::{Identifier, IdentityPolicy};
    /// assert!(!IdentityPolicy::default().is_blocked(&Identifier::customer(1)));
    /// ```
    pub fn is_blocked(&self, identifier: &Identifier) -> bool {
        self.blocked.contains(identifier)
    }
}

/// What [`IdentityGraph::link`] did.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum LinkOutcome {
    /// Two people became one, named `canonical`.
    Merged {
        /// The merged person's canonical identifier.
        canonical: Identifier,
        /// The canonical identifiers the two had before.
        from: [Identifier; 2],
    },
    /// Both were already one person; the link is kept as further evidence
    /// (most links are: every login repeats one).
    AlreadyLinked,
}

/// A link as stored: the two identifiers' indices.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Edge {
    a: u32,
    b: u32,
    source: LinkSource,
    at: i64,
}

/// What one accepted link did, in indices (the public [`LinkOutcome`]
/// names the identifiers).
enum Joined {
    /// Two people became one: the smallest identifiers they had, the new root.
    Merged {
        before: [u32; 2],
        root: u32,
    },
    Already,
}

/// How many links [`IdentityGraph::link_all`] looks up at once: enough
/// reads under way to hide the memory's latency, few enough that what they
/// bring stays in the core's cache until the links are applied.
const LINK_BATCH: usize = 256;

/// What [`IdentityGraph::link_all`] did with a list of links.
///
/// ```
/// use customer_lifecycle::{IdentityGraph, IdentityPolicy, LinkTally};
/// let tally = IdentityGraph::new(IdentityPolicy::default()).link_all(&[]);
/// assert_eq!(tally.merged + tally.already_linked + tally.refused.len(), 0);
/// # let _: LinkTally = tally;
/// ```
#[derive(Debug, Default)]
pub struct LinkTally {
    /// Links that joined two people.
    pub merged: usize,
    /// Links between identifiers already of one person (kept as evidence).
    pub already_linked: usize,
    /// The refused links: each one's position in the list and why
    /// ([`Error::IdentityLinkRefused`], or [`Error::InvalidArgument`] /
    /// [`Error::TooManyCustomers`] past the graph's size limits).
    pub refused: Vec<(usize, Error)>,
}

/// The identity graph: identifiers, the links between them, and the people
/// they form: connected groups of identifiers, each named by its smallest.
///
/// ```
/// use customer_lifecycle::{Identifier, IdentityGraph, IdentityPolicy, LinkSource};
/// use customer_lifecycle::chrono::{TimeZone, Utc};
/// let at = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
/// let (guest, account, mail) = (Identifier::customer("guest-7"), Identifier::customer(1042), Identifier::email("ana@x.de")?);
/// let mut graph = IdentityGraph::new(IdentityPolicy::default());
/// graph.link(&guest, &mail, LinkSource::Order, at)?;   // the guest checkout gave an e-mail
/// graph.link(&mail, &account, LinkSource::Login, at)?; // the account logged in with it
/// assert_eq!(graph.canonical(&guest), Some(&account)); // 1042 < "guest-7": numbers first
/// assert_eq!(graph.people(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct IdentityGraph {
    policy: IdentityPolicy,
    identifiers: Vec<Identifier>,
    /// Each identifier's index, found by its hash (randomly seeded) and
    /// compared with `identifiers`: the identifier is stored once.
    index: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
    /// Union–find parents; a root is its own parent.
    parent: Vec<u32>,
    /// Per root: the person's count of identifiers of each kind.
    counts: Vec<[u32; 5]>,
    /// Per root: the person's smallest identifier.
    smallest: Vec<u32>,
    edges: Vec<Edge>,
    people: usize,
}

impl PartialEq for IdentityGraph {
    /// Equal policies, identifiers and links (in the order they came).
    fn eq(&self, other: &IdentityGraph) -> bool {
        self.policy == other.policy && self.saved() == other.saved()
    }
}

impl IdentityGraph {
    /// An empty graph with `policy`.
    ///
    /// ```
    /// use customer_lifecycle::{IdentityGraph, IdentityPolicy};
    /// assert_eq!(IdentityGraph::new(IdentityPolicy::default()).people(), 0);
    /// ```
    pub fn new(policy: IdentityPolicy) -> IdentityGraph {
        IdentityGraph {
            policy,
            identifiers: Vec::new(),
            index: HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
            parent: Vec::new(),
            counts: Vec::new(),
            smallest: Vec::new(),
            edges: Vec::new(),
            people: 0,
        }
    }

    /// An empty graph with `policy` and room for `identifiers` identifiers
    /// and `links` links (a host loading a file of links knows about how
    /// many): nothing is reallocated or rehashed until then.
    ///
    /// ```
    /// use customer_lifecycle::{IdentityGraph, IdentityPolicy};
    /// let graph = IdentityGraph::with_capacity(IdentityPolicy::default(), 4_000, 10_000);
    /// assert!(graph.is_empty());
    /// ```
    pub fn with_capacity(policy: IdentityPolicy, identifiers: usize, links: usize) -> IdentityGraph {
        let mut graph = IdentityGraph::new(policy);
        graph.identifiers.reserve(identifiers);
        graph.index.reserve(identifiers, |_| 0);
        graph.parent.reserve(identifiers);
        graph.counts.reserve(identifiers);
        graph.smallest.reserve(identifiers);
        graph.edges.reserve(links.min(MAX_LINKS));
        graph
    }

    /// The policy.
    ///
    /// ```
    /// use customer_lifecycle::{IdentifierKind, IdentityGraph, IdentityPolicy};
    /// assert_eq!(IdentityGraph::new(IdentityPolicy::unlimited()).policy().limit(IdentifierKind::Email), None);
    /// ```
    pub fn policy(&self) -> &IdentityPolicy {
        &self.policy
    }

    /// The number of identifiers.
    ///
    /// ```
    /// use customer_lifecycle::{Identifier, IdentityGraph, IdentityPolicy};
    /// let mut graph = IdentityGraph::new(IdentityPolicy::default());
    /// graph.add(&Identifier::customer(1))?;
    /// assert_eq!(graph.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        self.identifiers.len()
    }

    /// Whether the graph has no identifiers.
    ///
    /// ```
    /// use customer_lifecycle::{IdentityGraph, IdentityPolicy};
    /// assert!(IdentityGraph::new(IdentityPolicy::default()).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.identifiers.is_empty()
    }

    /// The number of people (connected groups of identifiers).
    ///
    /// ```
    /// use customer_lifecycle::{Identifier, IdentityGraph, IdentityPolicy};
    /// let mut graph = IdentityGraph::new(IdentityPolicy::default());
    /// graph.add(&Identifier::customer(1))?;
    /// graph.add(&Identifier::customer(2))?;
    /// assert_eq!(graph.people(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn people(&self) -> usize {
        self.people
    }

    /// The links, in the order they were accepted.
    ///
    /// ```
    /// use customer_lifecycle::{Identifier, IdentityGraph, IdentityPolicy, LinkSource};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
    /// let mut graph = IdentityGraph::new(IdentityPolicy::default());
    /// graph.link(&Identifier::customer(1), &Identifier::customer(2), LinkSource::Explicit, at)?;
    /// assert_eq!(graph.links().len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn links(&self) -> Vec<IdentityLink> {
        self.edges
            .iter()
            .map(|e| IdentityLink {
                a: self.identifiers[e.a as usize].clone(),
                b: self.identifiers[e.b as usize].clone(),
                source: e.source,
                at: DateTime::from_timestamp(e.at, 0).unwrap_or_default(),
            })
            .collect()
    }

    /// Adds an identifier as a person of its own (nothing when known);
    /// returns its person's canonical identifier.
    ///
    /// ```
    /// use customer_lifecycle::{Identifier, IdentityGraph, IdentityPolicy};
    /// let mut graph = IdentityGraph::new(IdentityPolicy::default());
    /// assert_eq!(graph.add(&Identifier::customer(5))?, Identifier::customer(5));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::TooManyCustomers`] beyond 2³¹ − 1 identifiers.
    pub fn add(&mut self, identifier: &Identifier) -> Result<Identifier> {
        let i = self.intern(identifier, self.hash_of(identifier))?;
        let root = self.find(i);
        Ok(self.identifiers[self.smallest[root as usize] as usize].clone())
    }

    fn hash_of(&self, identifier: &Identifier) -> u64 {
        self.hasher.hash_one(identifier)
    }

    /// The index of `identifier`, whose hash is `hash`.
    fn lookup(&self, identifier: &Identifier, hash: u64) -> Option<u32> {
        self.index.find(hash, |&i| self.identifiers[i as usize] == *identifier).copied()
    }

    /// Room for `new` more identifiers (at most 2³¹ − 1 in all).
    fn room_for(&self, new: usize) -> Result<()> {
        if self.identifiers.len() + new > super::customer::MAX_CUSTOMERS as usize {
            return Err(Error::TooManyCustomers { limit: u64::from(super::customer::MAX_CUSTOMERS) });
        }
        Ok(())
    }

    /// The index of `identifier` (hash `hash`), added when new.
    fn intern(&mut self, identifier: &Identifier, hash: u64) -> Result<u32> {
        if let Some(i) = self.lookup(identifier, hash) {
            return Ok(i);
        }
        self.room_for(1)?;
        let i = u32::try_from(self.identifiers.len())
            .map_err(|_| Error::TooManyCustomers { limit: u64::from(super::customer::MAX_CUSTOMERS) })?;
        self.identifiers.push(identifier.clone());
        let (identifiers, hasher) = (&self.identifiers, &self.hasher);
        self.index.insert_unique(hash, i, |&j| hasher.hash_one(&identifiers[j as usize]));
        self.parent.push(i);
        self.counts.push(identifier.kind.alone());
        self.smallest.push(i);
        self.people += 1;
        Ok(i)
    }

    /// The root of `i`'s set, halving the path on the way.
    fn find(&mut self, mut i: u32) -> u32 {
        while self.parent[i as usize] != i {
            let grand = self.parent[self.parent[i as usize] as usize];
            self.parent[i as usize] = grand;
            i = grand;
        }
        i
    }

    /// The root without changing the paths (for `&self` queries).
    fn root(&self, mut i: u32) -> u32 {
        while self.parent[i as usize] != i {
            i = self.parent[i as usize];
        }
        i
    }

    /// Why joining two people with these counts of identifiers per kind
    /// would break the policy, if it would.
    fn breach(&self, ca: [u32; 5], cb: [u32; 5]) -> Option<String> {
        IdentifierKind::ALL.iter().find_map(|&kind| {
            let total = ca[kind.index()] + cb[kind.index()];
            let limit = self.policy.limit(kind)?;
            (total > limit).then(|| format!("the person would hold {total} {kind} ids, the limit is {limit}"))
        })
    }

    /// Records that `a` and `b` belong to one person, observed at `at` by
    /// `source`. All or nothing: a refused link adds neither identifier.
    ///
    /// ```
    /// use customer_lifecycle::{Error, Identifier, IdentityGraph, IdentityPolicy, LinkOutcome, LinkSource};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    /// let mut graph = IdentityGraph::new(IdentityPolicy::default());
    /// let tablet = Identifier::device("tablet-1")?;
    /// for account in [1, 2] {
    ///     graph.link(&tablet, &Identifier::customer(account), LinkSource::Login, at)?;
    /// }
    /// // A third account on the family tablet would give one person three customer ids.
    /// let refused = graph.link(&tablet, &Identifier::customer(3), LinkSource::Login, at);
    /// assert!(matches!(refused, Err(Error::IdentityLinkRefused { .. })));
    /// assert_eq!(graph.len(), 3); // customer 3 was not added
    /// assert_eq!(graph.link(&Identifier::customer(1), &tablet, LinkSource::Login, at)?, LinkOutcome::AlreadyLinked);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::IdentityLinkRefused`] for a blocked identifier, a link of an
    /// identifier to itself, or one past the policy's limits;
    /// [`Error::InvalidArgument`] beyond [`MAX_LINKS`];
    /// [`Error::TooManyCustomers`] when its new identifiers would pass
    /// 2³¹ − 1 (then neither is added).
    pub fn link(
        &mut self,
        a: &Identifier,
        b: &Identifier,
        source: LinkSource,
        at: DateTime<Utc>,
    ) -> Result<LinkOutcome> {
        let hashes = (self.hash_of(a), self.hash_of(b));
        let known = (self.lookup(a, hashes.0), self.lookup(b, hashes.1));
        match self.link_known(a, b, hashes, known, source, at.timestamp())? {
            Joined::Already => Ok(LinkOutcome::AlreadyLinked),
            Joined::Merged { before, root } => Ok(LinkOutcome::Merged {
                canonical: self.identifiers[self.smallest[root as usize] as usize].clone(),
                from: before.map(|i| self.identifiers[i as usize].clone()),
            }),
        }
    }

    /// Records `links` in their order, exactly as [`IdentityGraph::link`]
    /// called on each would (the same graph, the same refusals), and
    /// tallies what they did. A refused link is listed with its position
    /// and the graph goes on with the next; nothing of it is kept.
    ///
    /// This is the way to load a file of links: the graph looks the links'
    /// identifiers up a few hundred at a time, so that their memory reads
    /// overlap instead of following one another (on a graph larger than
    /// the processor's caches, several times faster than one `link` per
    /// link).
    ///
    /// ```
    /// use customer_lifecycle::{Identifier, IdentityGraph, IdentityLink, IdentityPolicy, LinkSource};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    /// let link = |a: i64, b: i64| IdentityLink { a: Identifier::customer(a), b: Identifier::customer(b), source: LinkSource::Explicit, at };
    /// let mut graph = IdentityGraph::new(IdentityPolicy::default());
    /// // The third link would give one person three customer ids (the default limit is two).
    /// let tally = graph.link_all(&[link(1, 2), link(2, 1), link(2, 3)]);
    /// assert_eq!((tally.merged, tally.already_linked), (1, 1));
    /// assert_eq!(tally.refused.len(), 1);
    /// assert_eq!(tally.refused[0].0, 2);
    /// assert_eq!(graph.people(), 1);
    /// ```
    pub fn link_all(&mut self, links: &[IdentityLink]) -> LinkTally {
        let mut tally = LinkTally::default();
        let mut hashes: Vec<u64> = Vec::with_capacity(2 * LINK_BATCH);
        let mut known: Vec<Option<u32>> = Vec::with_capacity(2 * LINK_BATCH);
        for (c, chunk) in links.chunks(LINK_BATCH).enumerate() {
            let side = |j: usize| if j & 1 == 0 { &chunk[j / 2].a } else { &chunk[j / 2].b };
            // Each pass below reads, for every identifier of the chunk, what
            // the one before found; the reads of one pass do not depend on
            // each other, so the processor has many under way at once.
            hashes.clear();
            hashes.extend((0..2 * chunk.len()).map(|j| self.hash_of(side(j))));
            // The first entry whose hash tag matches: almost always the
            // identifier itself, checked in the next pass.
            known.clear();
            known.extend(hashes.iter().map(|&h| self.index.iter_hash(h).next().copied()));
            for (j, slot) in known.iter_mut().enumerate() {
                if let Some(i) = *slot {
                    if self.identifiers[i as usize] != *side(j) {
                        *slot = self.lookup(side(j), hashes[j]);
                    }
                }
            }
            // Warm the union–find entries the links will read in order.
            let mut warm = 0u32;
            for &i in known.iter().flatten() {
                warm ^= self.parent[i as usize];
            }
            for &i in known.iter().flatten() {
                warm ^= self.counts[self.root(i) as usize][0];
            }
            std::hint::black_box(warm);
            for (k, link) in chunk.iter().enumerate() {
                let (ha, hb) = (hashes[2 * k], hashes[2 * k + 1]);
                // An identifier first seen earlier in this chunk was added since.
                let ka = known[2 * k].or_else(|| self.lookup(&link.a, ha));
                let kb = known[2 * k + 1].or_else(|| self.lookup(&link.b, hb));
                match self.link_known(&link.a, &link.b, (ha, hb), (ka, kb), link.source, link.at.timestamp()) {
                    Ok(Joined::Merged { .. }) => tally.merged += 1,
                    Ok(Joined::Already) => tally.already_linked += 1,
                    Err(e) => tally.refused.push((c * LINK_BATCH + k, e)),
                }
            }
        }
        tally
    }

    /// [`IdentityGraph::link`] once the two identifiers' hashes and indices
    /// (`None`: not in the graph) are known.
    fn link_known(
        &mut self,
        a: &Identifier,
        b: &Identifier,
        (ha, hb): (u64, u64),
        known: (Option<u32>, Option<u32>),
        source: LinkSource,
        at: i64,
    ) -> Result<Joined> {
        let refuse = |reason: String| Error::IdentityLinkRefused { a: a.to_string(), b: b.to_string(), reason };
        if a == b {
            return Err(refuse("an identifier cannot be linked to itself".into()));
        }
        for side in [a, b] {
            if self.policy.is_blocked(side) {
                return Err(refuse(format!("{side} is blocked")));
            }
        }
        if self.edges.len() >= MAX_LINKS {
            return Err(Error::InvalidArgument { name: "identity links", reason: format!("at most {MAX_LINKS}") });
        }
        // Check before anything moves: an unknown side counts one of its kind.
        let counts = |graph: &mut IdentityGraph, side: Option<u32>, id: &Identifier| match side {
            Some(i) => {
                let root = graph.find(i);
                (Some(root), graph.counts[root as usize])
            }
            None => (None, id.kind.alone()),
        };
        let (ra, ca) = counts(self, known.0, a);
        let (rb, cb) = counts(self, known.1, b);
        let same = ra.is_some() && ra == rb;
        if !same {
            if let Some(reason) = self.breach(ca, cb) {
                return Err(refuse(reason));
            }
        }
        // Room for both new sides, or neither is added.
        self.room_for(usize::from(known.0.is_none()) + usize::from(known.1.is_none()))?;
        let ia = match known.0 {
            Some(i) => i,
            None => self.intern(a, ha)?,
        };
        let ib = match known.1 {
            Some(i) => i,
            None => self.intern(b, hb)?,
        };
        self.edges.push(Edge { a: ia, b: ib, source, at });
        if same {
            return Ok(Joined::Already);
        }
        let before = [ia, ib].map(|i| {
            let root = self.find(i);
            self.smallest[root as usize]
        });
        let root = self.union(ia, ib);
        Ok(Joined::Merged { before, root })
    }

    /// Joins two sets (by size of the counts), returning the new root.
    fn union(&mut self, a: u32, b: u32) -> u32 {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return ra;
        }
        let size = |c: &[u32; 5]| c.iter().sum::<u32>();
        let (big, small) =
            if size(&self.counts[ra as usize]) >= size(&self.counts[rb as usize]) { (ra, rb) } else { (rb, ra) };
        self.parent[small as usize] = big;
        let moved = self.counts[small as usize];
        for (c, m) in self.counts[big as usize].iter_mut().zip(moved) {
            *c += m;
        }
        let (sb, ss) = (self.smallest[big as usize], self.smallest[small as usize]);
        if self.identifiers[ss as usize] < self.identifiers[sb as usize] {
            self.smallest[big as usize] = ss;
        }
        self.people -= 1;
        big
    }

    /// The canonical identifier of `identifier`'s person, `None` when the
    /// graph does not know it.
    ///
    /// ```
    /// use customer_lifecycle::{Identifier, IdentityGraph, IdentityPolicy};
    /// let graph = IdentityGraph::new(IdentityPolicy::default());
    /// assert_eq!(graph.canonical(&Identifier::customer(1)), None);
    /// ```
    pub fn canonical(&self, identifier: &Identifier) -> Option<&Identifier> {
        let i = self.lookup(identifier, self.hash_of(identifier))?;
        Some(&self.identifiers[self.smallest[self.root(i) as usize] as usize])
    }

    /// The id that keys a customer's rows after resolution: the canonical
    /// identifier's [`Identifier::customer_id`] for a known customer id,
    /// the id itself for an unknown one. This is the identity map the log
    /// applies at ingestion or to re-key an existing log.
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, Identifier, IdentityGraph, IdentityPolicy, LinkSource};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    /// let mut graph = IdentityGraph::new(IdentityPolicy::default());
    /// graph.link(&Identifier::customer("guest-9"), &Identifier::customer("ana"), LinkSource::Explicit, at)?;
    /// assert_eq!(graph.resolve(&CustomerId::from("guest-9")), CustomerId::from("ana"));
    /// assert_eq!(graph.resolve(&CustomerId::from("bo")), CustomerId::from("bo"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn resolve(&self, customer: &CustomerId) -> CustomerId {
        // The index is keyed by identifiers: one is built (the id cloned) per lookup.
        let key = Identifier { kind: IdentifierKind::Customer, value: customer.clone() };
        match self.canonical(&key) {
            Some(canonical) => canonical.customer_id(),
            None => customer.clone(),
        }
    }

    /// Every identifier of `identifier`'s person, in canonical order (the
    /// canonical one first); empty when unknown. Linear in the graph's size.
    ///
    /// ```
    /// use customer_lifecycle::{Identifier, IdentityGraph, IdentityPolicy, LinkSource};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    /// let mut graph = IdentityGraph::new(IdentityPolicy::default());
    /// let mail = Identifier::email("a@b.de")?;
    /// graph.link(&mail, &Identifier::customer(3), LinkSource::Order, at)?;
    /// assert_eq!(graph.identifiers_of(&mail), [Identifier::customer(3), mail]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn identifiers_of(&self, identifier: &Identifier) -> Vec<Identifier> {
        let Some(i) = self.lookup(identifier, self.hash_of(identifier)) else { return Vec::new() };
        let root = self.root(i);
        let mut out: Vec<Identifier> = (0..self.identifiers.len() as u32)
            .filter(|&j| self.root(j) == root)
            .map(|j| self.identifiers[j as usize].clone())
            .collect();
        out.sort();
        out
    }

    /// Removes every link between `a` and `b` (shown wrong) and rebuilds
    /// the person they were in from the links that remain: exact, since
    /// every link is kept. Returns the canonical identifiers of the people
    /// that result (one when other links still join them, else two or
    /// more), in canonical order. Linear in the graph's size (a rare,
    /// corrective call).
    ///
    /// ```
    /// use customer_lifecycle::{Identifier, IdentityGraph, IdentityPolicy, LinkSource};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    /// let (one, two) = (Identifier::customer(1), Identifier::customer(2));
    /// let mut graph = IdentityGraph::new(IdentityPolicy::default());
    /// graph.link(&one, &two, LinkSource::Explicit, at)?;
    /// assert_eq!(graph.unlink(&one, &two)?, [one.clone(), two.clone()]);
    /// assert_eq!(graph.people(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when there is no link between them.
    pub fn unlink(&mut self, a: &Identifier, b: &Identifier) -> Result<Vec<Identifier>> {
        let missing =
            || Error::InvalidArgument { name: "identity link", reason: format!("no link between {a} and {b}") };
        let (ia, ib) = match (self.lookup(a, self.hash_of(a)), self.lookup(b, self.hash_of(b))) {
            (Some(ia), Some(ib)) => (ia, ib),
            _ => return Err(missing()),
        };
        let before = self.edges.len();
        self.edges.retain(|e| !((e.a == ia && e.b == ib) || (e.a == ib && e.b == ia)));
        if self.edges.len() == before {
            return Err(missing());
        }
        let root = self.root(ia);
        let members: Vec<u32> = (0..self.identifiers.len() as u32).filter(|&j| self.root(j) == root).collect();
        self.people -= 1;
        for &m in &members {
            self.parent[m as usize] = m;
            self.counts[m as usize] = self.identifiers[m as usize].kind.alone();
            self.smallest[m as usize] = m;
            self.people += 1;
        }
        let inside: BTreeSet<u32> = members.iter().copied().collect();
        let replay: Vec<(u32, u32)> = self.edges.iter().filter(|e| inside.contains(&e.a)).map(|e| (e.a, e.b)).collect();
        for (x, y) in replay {
            self.union(x, y);
        }
        let mut people: Vec<Identifier> = members
            .iter()
            .filter(|&&m| self.root(m) == m)
            .map(|&m| self.identifiers[self.smallest[m as usize] as usize].clone())
            .collect();
        people.sort();
        Ok(people)
    }

    /// Erases `identifier`'s person: every identifier of theirs and every
    /// link that touches them are forgotten. Returns those identifiers, so
    /// that the host erases each one everywhere else (the log, the engine,
    /// consent); empty when unknown. The graph is rebuilt from its other
    /// links: linear in its size.
    ///
    /// ```
    /// use customer_lifecycle::{Identifier, IdentityGraph, IdentityPolicy, LinkSource};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    /// let mut graph = IdentityGraph::new(IdentityPolicy::default());
    /// let mail = Identifier::email("a@b.de")?;
    /// graph.link(&mail, &Identifier::customer(3), LinkSource::Order, at)?;
    /// graph.add(&Identifier::customer(4))?;
    /// assert_eq!(graph.erase(&mail), [Identifier::customer(3), mail.clone()]);
    /// assert_eq!((graph.len(), graph.people(), graph.links().len()), (1, 1, 0));
    /// assert_eq!(graph.canonical(&mail), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn erase(&mut self, identifier: &Identifier) -> Vec<Identifier> {
        let gone = self.identifiers_of(identifier);
        if gone.is_empty() {
            return gone;
        }
        let forget: BTreeSet<&Identifier> = gone.iter().collect();
        let mut saved = self.saved();
        saved.identifiers.retain(|i| !forget.contains(i));
        saved.links.retain(|l| !forget.contains(&l.a) && !forget.contains(&l.b));
        // Rebuilt from what is left: the links were accepted under this
        // policy and stay within it with fewer identifiers.
        if let Ok(graph) = IdentityGraph::from_saved(saved) {
            *self = graph;
        }
        gone
    }

    fn saved(&self) -> SavedGraph {
        let linked: BTreeSet<u32> = self.edges.iter().flat_map(|e| [e.a, e.b]).collect();
        SavedGraph {
            format_version: FORMAT_VERSION,
            policy: self.policy.clone(),
            identifiers: (0..self.identifiers.len() as u32)
                .filter(|i| !linked.contains(i))
                .map(|i| self.identifiers[i as usize].clone())
                .collect(),
            links: self.links(),
        }
    }

    fn from_saved(saved: SavedGraph) -> Result<IdentityGraph> {
        if saved.format_version != FORMAT_VERSION {
            return Err(Error::InvalidArgument {
                name: "identity graph",
                reason: format!("format version {}, this crate reads {FORMAT_VERSION}", saved.format_version),
            });
        }
        let mut graph = IdentityGraph::new(saved.policy);
        if let Some((_, refused)) = graph.link_all(&saved.links).refused.into_iter().next() {
            return Err(refused);
        }
        for identifier in &saved.identifiers {
            graph.add(identifier)?;
        }
        Ok(graph)
    }
}

const FORMAT_VERSION: u32 = 1;

/// The saved form: the policy, the links in order and the identifiers
/// without links; loading replays the links through [`IdentityGraph::link_all`],
/// so a tampered file gets every check a live link gets.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
struct SavedGraph {
    format_version: u32,
    policy: IdentityPolicy,
    #[serde(deserialize_with = "super::bounded::bounded_vec::<_, _, 100_000_000>")]
    identifiers: Vec<Identifier>,
    #[serde(deserialize_with = "super::bounded::bounded_vec::<_, _, 100_000_000>")]
    links: Vec<IdentityLink>,
}

impl Serialize for IdentityGraph {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        self.saved().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for IdentityGraph {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<IdentityGraph, D::Error> {
        IdentityGraph::from_saved(SavedGraph::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}
