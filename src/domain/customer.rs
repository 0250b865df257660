//! Customers, their ids, and the dense index the batch path works on.

use std::collections::BTreeMap;
use std::hash::BuildHasher;

use hashbrown::HashTable;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A customer's id as the shop knows it: a number or a text (including UUIDs).
///
/// Ids order numbers first (numerically), then texts (byte-wise); every
/// per-customer output of the crate is sorted in this order.
///
/// ```
/// use customer_lifecycle::CustomerId;
///
/// assert_eq!(CustomerId::from(42), CustomerId::Number(42));
/// assert_eq!(CustomerId::parse_number("00042")?, CustomerId::Number(42));
/// let uuid = CustomerId::parse_uuid("67E55044-10B1-426F-9247-BB680E5FE0C8")?;
/// assert_eq!(uuid.to_string(), "67e55044-10b1-426f-9247-bb680e5fe0c8");
/// assert!(CustomerId::Number(9) < CustomerId::from("a"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CustomerId {
    /// A numeric id.
    Number(i64),
    /// A text id, kept as given (UUIDs in canonical lower-case form when
    /// parsed with [`CustomerId::parse_uuid`]).
    Text(String),
}

impl CustomerId {
    /// Parses a decimal integer id, ignoring surrounding blanks and leading zeros.
    ///
    /// ```
    /// use customer_lifecycle::CustomerId;
    /// assert_eq!(CustomerId::parse_number(" 00042 ")?, CustomerId::Number(42));
    /// assert!(CustomerId::parse_number("42a").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the text is not an integer.
    pub fn parse_number(s: &str) -> Result<CustomerId> {
        s.trim()
            .parse::<i64>()
            .map(CustomerId::Number)
            .map_err(|_| Error::InvalidArgument { name: "customer id", reason: format!("{s:?} is not an integer") })
    }

    /// Parses a UUID in its 8-4-4-4-12 hexadecimal form (any case, optional
    /// braces) into a lower-case text id, so that differently written copies
    /// of one UUID are the same customer.
    ///
    /// ```
    /// use customer_lifecycle::CustomerId;
    /// let a = CustomerId::parse_uuid("67E55044-10B1-426F-9247-BB680E5FE0C8")?;
    /// assert_eq!(a, CustomerId::parse_uuid("67e55044-10b1-426f-9247-bb680e5fe0c8")?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the text is not a UUID.
    pub fn parse_uuid(s: &str) -> Result<CustomerId> {
        let t = s.trim();
        let t = t.strip_prefix('{').and_then(|x| x.strip_suffix('}')).unwrap_or(t);
        let groups: Vec<&str> = t.split('-').collect();
        let lens = [8, 4, 4, 4, 12];
        let ok = groups.len() == 5
            && groups.iter().zip(lens).all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()));
        if !ok {
            return Err(Error::InvalidArgument { name: "customer id", reason: format!("{s:?} is not a UUID") });
        }
        Ok(CustomerId::Text(t.to_ascii_lowercase()))
    }
}

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CustomerId::Number(n) => write!(f, "{n}"),
            CustomerId::Text(s) => f.write_str(s),
        }
    }
}

impl From<i64> for CustomerId {
    fn from(n: i64) -> Self {
        CustomerId::Number(n)
    }
}

impl From<u32> for CustomerId {
    fn from(n: u32) -> Self {
        CustomerId::Number(i64::from(n))
    }
}

impl From<i32> for CustomerId {
    fn from(n: i32) -> Self {
        CustomerId::Number(i64::from(n))
    }
}

impl From<&str> for CustomerId {
    fn from(s: &str) -> Self {
        CustomerId::Text(s.to_string())
    }
}

impl From<String> for CustomerId {
    fn from(s: String) -> Self {
        CustomerId::Text(s)
    }
}

/// How a loader reads the customer-id column.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum IdKind {
    /// Decimal integers (`"00042"` and `"42"` are the same customer).
    Number,
    /// Texts, compared exactly as written.
    #[default]
    Text,
    /// UUIDs, compared case-insensitively.
    Uuid,
    /// E-mail addresses: trimmed and case-folded, so `Anna@X.de` and
    /// ` anna@x.de ` are one customer; an id without `@` is refused.
    Email,
}

impl IdKind {
    /// Reads one id.
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, IdKind};
    /// assert_eq!(IdKind::Number.parse("007")?, CustomerId::Number(7));
    /// assert_eq!(IdKind::Text.parse("007")?, CustomerId::from("007"));
    /// assert_eq!(IdKind::Email.parse(" Anna@X.de ")?, CustomerId::from("anna@x.de"));
    /// assert!(IdKind::Email.parse("guest").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`CustomerId::parse_number`] and [`CustomerId::parse_uuid`]; an
    /// empty text id is refused too.
    pub fn parse(&self, s: &str) -> Result<CustomerId> {
        match self {
            IdKind::Number => CustomerId::parse_number(s),
            IdKind::Uuid => CustomerId::parse_uuid(s),
            IdKind::Email => {
                let folded = s.trim().to_lowercase();
                if folded.contains('@') {
                    Ok(CustomerId::Text(folded))
                } else {
                    Err(Error::InvalidArgument { name: "customer id", reason: "not an e-mail address (no @)".into() })
                }
            }
            IdKind::Text => {
                if s.is_empty() {
                    Err(Error::InvalidArgument { name: "customer id", reason: "empty id".into() })
                } else {
                    Ok(CustomerId::Text(s.to_string()))
                }
            }
        }
    }
}

/// The most customers one [`CustomerIndex`] holds (2^31 − 1): the batch
/// path keeps a flag in the top bit of a dense id.
pub const MAX_CUSTOMERS: u32 = i32::MAX as u32;

/// A customer's position in a [`CustomerIndex`]: 0, 1, 2, … in order of first sight.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub struct DenseId(pub u32);

impl DenseId {
    /// The index as a `usize`, for slices.
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, CustomerIndex};
    /// let mut index = CustomerIndex::new();
    /// let ana = index.insert(CustomerId::from("ana@example.com"))?;
    /// assert_eq!(ana.index(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Maps the shop's own ids to dense indices `0..n` and back.
///
/// The batch path never hashes a string per transaction: ids are mapped once
/// at ingestion and everything downstream indexes plain vectors.
///
/// ```
/// use customer_lifecycle::{CustomerId, CustomerIndex, DenseId};
///
/// let mut index = CustomerIndex::new();
/// let a = index.insert(CustomerId::from("alice"))?;
/// let b = index.insert(CustomerId::from("bob"))?;
/// assert_eq!(index.insert(CustomerId::from("alice"))?, a);
/// assert_eq!((a, b), (DenseId(0), DenseId(1)));
/// assert_eq!(index.id(b), Some(&CustomerId::from("bob")));
/// assert_eq!(index.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(try_from = "Vec<CustomerId>", into = "Vec<CustomerId>")]
pub struct CustomerIndex {
    /// Shared so that summaries can hold the ids without copying them; the
    /// index copies on write only while a summary still holds them.
    ids: Arc<Vec<CustomerId>>,
    /// Dense ids by customer id, each slot holding a compact copy of its id.
    slots: HashTable<Slot>,
    /// foldhash, seeded at random per index: several times faster than
    /// std's SipHash on short ids, and a hostile id list cannot aim at
    /// collisions it cannot predict.
    hasher: foldhash::fast::RandomState,
}

/// A slot of the index: the id's compact key and its dense id.
#[derive(Clone, Copy, Debug)]
struct Slot {
    key: CompactKey,
    dense: u32,
}

/// The first [`KEY_BYTES`] bytes of a text id and its length (or a number
/// and a tag), kept in the hash table itself: a lookup compares ids of up
/// to 24 bytes — numbers, most e-mail addresses, 19-digit ids as text —
/// without following a pointer to the id's text (that second cache miss
/// per row was half of the CSV loader's time), and a longer id only when
/// its first 24 bytes and its length match.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct CompactKey {
    head: [u8; KEY_BYTES],
    /// The text's length, or [`NUMBER_TAG`] for a number.
    len: u64,
}

const KEY_BYTES: usize = 24;

/// The hasher of a [`CustomerIndex`].
pub(crate) type IdHasher = foldhash::fast::RandomState;

/// An id's hash and compact key, as the index looks it up.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LookupKey {
    hash: u64,
    key: CompactKey,
}

/// The index's hash of an id.
fn hash_id(hasher: &foldhash::fast::RandomState, id: &CustomerId) -> u64 {
    match id {
        CustomerId::Number(n) => hasher.hash_one(n),
        CustomerId::Text(t) => hasher.hash_one(t.as_bytes()),
    }
}
const NUMBER_TAG: u64 = u64::MAX;

impl CompactKey {
    fn of(id: &CustomerId) -> CompactKey {
        let mut head = [0; KEY_BYTES];
        match id {
            CustomerId::Number(n) => {
                head[..8].copy_from_slice(&n.to_le_bytes());
                CompactKey { head, len: NUMBER_TAG }
            }
            CustomerId::Text(t) => {
                let b = t.as_bytes();
                let k = b.len().min(KEY_BYTES);
                head[..k].copy_from_slice(&b[..k]);
                CompactKey { head, len: b.len() as u64 }
            }
        }
    }

    /// Whether equal keys mean equal ids (no longer text to compare).
    fn is_whole(&self) -> bool {
        self.len == NUMBER_TAG || self.len <= KEY_BYTES as u64
    }
}

impl CustomerIndex {
    /// An empty index.
    ///
    /// ```
    /// use customer_lifecycle::CustomerIndex;
    /// assert!(CustomerIndex::new().is_empty());
    /// ```
    pub fn new() -> CustomerIndex {
        CustomerIndex::default()
    }

    /// The dense id of `id`, adding it if new.
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, CustomerIndex};
    /// let mut index = CustomerIndex::new();
    /// let ana = index.insert(CustomerId::from("ana@example.com"))?;
    /// assert_eq!(index.insert(CustomerId::from("ana@example.com"))?, ana); // known: the same dense id
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::TooManyCustomers`] past [`MAX_CUSTOMERS`].
    pub fn insert(&mut self, id: CustomerId) -> Result<DenseId> {
        let (hash, key) = self.key(&id);
        match self.find(hash, &key, &id) {
            Some(p) => Ok(DenseId(p)),
            None => self.add(hash, key, id),
        }
    }

    /// [`CustomerIndex::insert`] of a borrowed id: copied only when new (the
    /// loaders see each customer many times).
    pub(crate) fn insert_ref(&mut self, id: &CustomerId) -> Result<DenseId> {
        let (hash, key) = self.key(id);
        match self.find(hash, &key, id) {
            Some(p) => Ok(DenseId(p)),
            None => self.add(hash, key, id.clone()),
        }
    }

    /// What a lookup of `id` hashes and compares, computed apart from the
    /// index (a loader's reading thread does it for the thread that owns
    /// the index) with the index's [`IdHasher`].
    pub(crate) fn lookup_key(hasher: &IdHasher, id: &CustomerId) -> LookupKey {
        LookupKey { hash: hash_id(hasher, id), key: CompactKey::of(id) }
    }

    /// The index's hasher (random per index), for [`CustomerIndex::lookup_key`].
    pub(crate) fn hasher(&self) -> IdHasher {
        self.hasher.clone()
    }

    /// The dense ids of `ids` (`None` for those not in the index), into
    /// `out`: a tight loop of lookups whose memory waits overlap. Each
    /// id comes with its [`LookupKey`] from this index's hasher.
    pub(crate) fn find_each<'a>(
        &self,
        ids: impl Iterator<Item = (&'a CustomerId, &'a LookupKey)>,
        out: &mut Vec<Option<DenseId>>,
    ) {
        out.clear();
        out.extend(ids.map(|(id, k)| self.find(k.hash, &k.key, id).map(DenseId)));
    }

    fn key(&self, id: &CustomerId) -> (u64, CompactKey) {
        (hash_id(&self.hasher, id), CompactKey::of(id))
    }

    fn find(&self, hash: u64, key: &CompactKey, id: &CustomerId) -> Option<u32> {
        let ids = &self.ids;
        self.slots.find(hash, |s| s.key == *key && (key.is_whole() || ids[s.dense as usize] == *id)).map(|s| s.dense)
    }

    fn add(&mut self, hash: u64, key: CompactKey, id: CustomerId) -> Result<DenseId> {
        let p = u32::try_from(self.ids.len())
            .ok()
            .filter(|p| *p < MAX_CUSTOMERS)
            .ok_or(Error::TooManyCustomers { limit: u64::from(MAX_CUSTOMERS) })?;
        let (ids, hasher) = (&self.ids, &self.hasher);
        self.slots.insert_unique(hash, Slot { key, dense: p }, |s| hash_id(hasher, &ids[s.dense as usize]));
        Arc::make_mut(&mut self.ids).push(id);
        Ok(DenseId(p))
    }

    /// The dense id of `id`, if known.
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, CustomerIndex};
    /// let mut index = CustomerIndex::new();
    /// let ana = index.insert(CustomerId::from("ana@example.com"))?;
    /// assert_eq!(index.get(&CustomerId::from("ana@example.com")), Some(ana));
    /// assert_eq!(index.get(&CustomerId::from("bo@example.com")), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self, id: &CustomerId) -> Option<DenseId> {
        let (hash, key) = self.key(id);
        self.find(hash, &key, id).map(DenseId)
    }

    /// The shop id behind a dense id.
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, CustomerIndex};
    /// let mut index = CustomerIndex::new();
    /// let ana = index.insert(CustomerId::from("ana@example.com"))?;
    /// assert_eq!(index.id(ana), Some(&CustomerId::from("ana@example.com")));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn id(&self, dense: DenseId) -> Option<&CustomerId> {
        self.ids.get(dense.index())
    }

    /// Number of customers.
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, CustomerIndex};
    /// let mut index = CustomerIndex::new();
    /// let ana = index.insert(CustomerId::from("ana@example.com"))?;
    /// assert_eq!(index.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when no customer has been added.
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, CustomerIndex};
    /// let mut index = CustomerIndex::new();
    /// let ana = index.insert(CustomerId::from("ana@example.com"))?;
    /// assert!(!index.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// All ids in dense order.
    ///
    /// ```
    /// use customer_lifecycle::{CustomerId, CustomerIndex};
    /// let mut index = CustomerIndex::new();
    /// let ana = index.insert(CustomerId::from("ana@example.com"))?;
    /// assert_eq!(index.ids(), &[CustomerId::from("ana@example.com")]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ids(&self) -> &[CustomerId] {
        &self.ids
    }

    /// The ids, shared without copying.
    pub(crate) fn shared_ids(&self) -> Arc<Vec<CustomerId>> {
        Arc::clone(&self.ids)
    }
}

impl TryFrom<Vec<CustomerId>> for CustomerIndex {
    type Error = Error;

    /// A loaded index keeps every id at its saved position: an id saved
    /// twice (which would shift every later customer's dense id) or more
    /// ids than an index holds are refused, not dropped.
    fn try_from(ids: Vec<CustomerId>) -> Result<Self> {
        let mut index = CustomerIndex::new();
        for (k, id) in ids.into_iter().enumerate() {
            if index.insert(id.clone())?.0 as usize != k {
                return Err(Error::InvalidArgument {
                    name: "saved customer index",
                    reason: format!("customer {id} appears twice"),
                });
            }
        }
        Ok(index)
    }
}

impl From<CustomerIndex> for Vec<CustomerId> {
    fn from(index: CustomerIndex) -> Self {
        Arc::unwrap_or_clone(index.ids)
    }
}

/// A customer: who they are, when and through which channel they were
/// acquired, and free-form attributes.
///
/// ```
/// use customer_lifecycle::{Customer, CustomerId};
/// use customer_lifecycle::chrono::{TimeZone, Utc};
///
/// let c = Customer::new(CustomerId::from(7), Utc.with_ymd_and_hms(2024, 5, 1, 9, 0, 0).unwrap())
///     .with_channel("newsletter")
///     .with_attribute("country", "DE");
/// assert_eq!(c.acquisition_channel(), Some("newsletter"));
/// assert_eq!(c.attribute("country"), Some("DE"));
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Customer {
    id: CustomerId,
    acquired_at: DateTime<Utc>,
    acquisition_channel: Option<String>,
    attributes: BTreeMap<String, String>,
}

impl Customer {
    /// A customer acquired at `acquired_at`.
    ///
    /// ```
    /// use customer_lifecycle::{Customer, CustomerId};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let at = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
    /// let customer = Customer::new(CustomerId::from(7), at).with_channel("newsletter").with_attribute("tier", "gold");
    /// assert_eq!(customer.id(), &CustomerId::from(7));
    /// ```
    pub fn new(id: CustomerId, acquired_at: DateTime<Utc>) -> Customer {
        Customer { id, acquired_at, acquisition_channel: None, attributes: BTreeMap::new() }
    }

    /// Sets the acquisition channel (e.g. `"search"`, `"referral"`).
    ///
    /// ```
    /// use customer_lifecycle::{Customer, CustomerId};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let at = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
    /// let customer = Customer::new(CustomerId::from(7), at).with_channel("newsletter").with_attribute("tier", "gold");
    /// assert_eq!(customer.acquisition_channel(), Some("newsletter"));
    /// ```
    pub fn with_channel(mut self, channel: impl Into<String>) -> Customer {
        self.acquisition_channel = Some(channel.into());
        self
    }

    /// Sets an attribute.
    ///
    /// ```
    /// use customer_lifecycle::{Customer, CustomerId};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let at = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
    /// let customer = Customer::new(CustomerId::from(7), at).with_channel("newsletter").with_attribute("tier", "gold");
    /// assert_eq!(customer.attribute("tier"), Some("gold"));
    /// ```
    pub fn with_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Customer {
        self.attributes.insert(key.into(), value.into());
        self
    }

    /// The id.
    ///
    /// ```
    /// use customer_lifecycle::{Customer, CustomerId};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let at = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
    /// let customer = Customer::new(CustomerId::from(7), at).with_channel("newsletter").with_attribute("tier", "gold");
    /// assert_eq!(customer.id(), &CustomerId::Number(7));
    /// ```
    pub fn id(&self) -> &CustomerId {
        &self.id
    }

    /// When the customer was acquired.
    ///
    /// ```
    /// use customer_lifecycle::{Customer, CustomerId};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let at = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
    /// let customer = Customer::new(CustomerId::from(7), at).with_channel("newsletter").with_attribute("tier", "gold");
    /// assert_eq!(customer.acquired_at(), at);
    /// ```
    pub fn acquired_at(&self) -> DateTime<Utc> {
        self.acquired_at
    }

    /// The acquisition channel, if known.
    ///
    /// ```
    /// use customer_lifecycle::{Customer, CustomerId};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let at = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
    /// let customer = Customer::new(CustomerId::from(7), at).with_channel("newsletter").with_attribute("tier", "gold");
    /// assert_eq!(customer.acquisition_channel(), Some("newsletter"));
    /// ```
    pub fn acquisition_channel(&self) -> Option<&str> {
        self.acquisition_channel.as_deref()
    }

    /// One attribute.
    ///
    /// ```
    /// use customer_lifecycle::{Customer, CustomerId};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let at = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
    /// let customer = Customer::new(CustomerId::from(7), at).with_channel("newsletter").with_attribute("tier", "gold");
    /// assert_eq!(customer.attribute("region"), None);
    /// ```
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }

    /// All attributes, sorted by key.
    ///
    /// ```
    /// use customer_lifecycle::{Customer, CustomerId};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let at = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
    /// let customer = Customer::new(CustomerId::from(7), at).with_channel("newsletter").with_attribute("tier", "gold");
    /// assert_eq!(customer.attributes().len(), 1);
    /// ```
    pub fn attributes(&self) -> &BTreeMap<String, String> {
        &self.attributes
    }
}

/// Serde for maps keyed by [`CustomerId`], as a list of `[id, value]`
/// pairs. A JSON object would turn every key into text, so that
/// `Number(42)` came back as `Text("42")`: an objection, a grant or an
/// erasure would then miss the customer. Every structure of the crate keyed
/// by customer uses this (`#[serde(with = "…::by_customer")]`); loading
/// refuses a customer listed twice.
pub(crate) mod by_customer {
    use std::collections::BTreeMap;

    use serde::de::{Deserialize, Deserializer, Error as _};
    use serde::ser::{Serialize, SerializeSeq, Serializer};

    use super::CustomerId;

    pub(crate) fn serialize<V: Serialize, S: Serializer>(
        map: &BTreeMap<CustomerId, V>,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(map.len()))?;
        for pair in map {
            seq.serialize_element(&pair)?;
        }
        seq.end()
    }

    pub(crate) fn deserialize<'de, V: Deserialize<'de>, D: Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<BTreeMap<CustomerId, V>, D::Error> {
        let pairs = Vec::<(CustomerId, V)>::deserialize(deserializer)?;
        let mut map = BTreeMap::new();
        for (id, value) in pairs {
            if map.insert(id.clone(), value).is_some() {
                return Err(D::Error::custom(format!("customer {id} is listed twice")));
            }
        }
        Ok(map)
    }
}

/// Moves a customer's entry of a per-customer map under a pseudonym
/// (`Ok(false)` when the customer has none).
///
/// # Errors
/// [`Error::InvalidArgument`] when the pseudonym already has an entry.
pub(crate) fn pseudonymise_key<V>(
    map: &mut std::collections::BTreeMap<CustomerId, V>,
    customer: &CustomerId,
    pseudonym: &CustomerId,
) -> Result<bool> {
    if map.contains_key(pseudonym) {
        return Err(Error::InvalidArgument { name: "pseudonym", reason: format!("{pseudonym} is already a customer") });
    }
    Ok(match map.remove(customer) {
        Some(value) => {
            map.insert(pseudonym.clone(), value);
            true
        }
        None => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_parsing() {
        assert_eq!(IdKind::Number.parse(" 0007 ").unwrap(), CustomerId::Number(7));
        assert!(IdKind::Number.parse("7a").is_err());
        assert!(IdKind::Text.parse("").is_err());
        assert!(IdKind::Uuid.parse("not-a-uuid").is_err());
        assert_eq!(
            IdKind::Uuid.parse("{67E55044-10B1-426F-9247-BB680E5FE0C8}").unwrap(),
            IdKind::Uuid.parse("67e55044-10b1-426f-9247-bb680e5fe0c8").unwrap()
        );
    }

    #[test]
    fn index_round_trips_through_serde() {
        let mut index = CustomerIndex::new();
        index.insert(CustomerId::from(3)).unwrap();
        index.insert(CustomerId::from("x")).unwrap();
        let json = serde_json::to_string(&index).unwrap();
        assert_eq!(json, r#"[3,"x"]"#);
        let back: CustomerIndex = serde_json::from_str(&json).unwrap();
        assert_eq!(back.get(&CustomerId::from("x")), Some(DenseId(1)));
        assert_eq!(back.id(DenseId(0)), Some(&CustomerId::Number(3)));
    }
}
