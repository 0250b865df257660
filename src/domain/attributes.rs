//! The attributes a host keeps on a customer (name, segment labels, custom
//! fields), and how two ids' attributes merge into one person's.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The value of one attribute.
///
/// ```
/// use customer_lifecycle::AttributeValue;
/// assert!(AttributeValue::Text(String::new()).is_empty());
/// assert!(!AttributeValue::labels(["vip"]).is_empty());
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributeValue {
    /// A text (a name, a city).
    Text(String),
    /// An exact number (a loyalty balance, a count).
    Number(Decimal),
    /// Yes or no.
    Flag(bool),
    /// A set of labels (segments, interests).
    Labels(BTreeSet<String>),
}

impl AttributeValue {
    /// A set of labels.
    ///
    /// ```
    /// use customer_lifecycle::AttributeValue;
    /// assert_eq!(AttributeValue::labels(["b", "a", "b"]), AttributeValue::labels(["a", "b"]));
    /// ```
    pub fn labels<S: Into<String>>(labels: impl IntoIterator<Item = S>) -> AttributeValue {
        AttributeValue::Labels(labels.into_iter().map(Into::into).collect())
    }

    /// True for an empty or blank text and an empty set of labels: what
    /// [`MergeStrategy::NonEmpty`] passes over.
    ///
    /// ```
    /// use customer_lifecycle::AttributeValue;
    /// assert!(AttributeValue::Text("  ".into()).is_empty());
    /// assert!(!AttributeValue::Flag(false).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        match self {
            AttributeValue::Text(t) => t.trim().is_empty(),
            AttributeValue::Labels(l) => l.is_empty(),
            AttributeValue::Number(_) | AttributeValue::Flag(_) => false,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            AttributeValue::Text(_) => "text",
            AttributeValue::Number(_) => "number",
            AttributeValue::Flag(_) => "flag",
            AttributeValue::Labels(_) => "labels",
        }
    }
}

/// One attribute's value and when it was last set.
///
/// ```
/// use customer_lifecycle::{Attribute, AttributeValue};
/// use customer_lifecycle::chrono::{TimeZone, Utc};
/// let at = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
/// let city = Attribute { value: AttributeValue::Text("Lyon".into()), updated_at: at };
/// assert_eq!(city.updated_at, at);
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Attribute {
    /// The value.
    pub value: AttributeValue,
    /// When it was set.
    pub updated_at: DateTime<Utc>,
}

/// A customer's attributes by name.
///
/// ```
/// use customer_lifecycle::{Attributes, AttributeValue};
/// use customer_lifecycle::chrono::{TimeZone, Utc};
/// let at = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
/// let mut ana = Attributes::new();
/// ana.set("name", AttributeValue::Text("Ana".into()), at);
/// assert_eq!(ana.get("name").map(|a| &a.value), Some(&AttributeValue::Text("Ana".into())));
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Attributes {
    values: BTreeMap<String, Attribute>,
}

impl Attributes {
    /// No attributes.
    ///
    /// ```
    /// use customer_lifecycle::Attributes;
    /// assert!(Attributes::new().is_empty());
    /// ```
    pub fn new() -> Attributes {
        Attributes::default()
    }

    /// Sets an attribute, as of `at`.
    ///
    /// ```
    /// use customer_lifecycle::{Attributes, AttributeValue};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
    /// let mut a = Attributes::new();
    /// a.set("vip", AttributeValue::Flag(true), at);
    /// assert_eq!(a.len(), 1);
    /// ```
    pub fn set(&mut self, name: impl Into<String>, value: AttributeValue, at: DateTime<Utc>) {
        self.values.insert(name.into(), Attribute { value, updated_at: at });
    }

    /// An attribute by name.
    ///
    /// ```
    /// use customer_lifecycle::Attributes;
    /// assert!(Attributes::new().get("name").is_none());
    /// ```
    pub fn get(&self, name: &str) -> Option<&Attribute> {
        self.values.get(name)
    }

    /// The attributes, by name.
    ///
    /// ```
    /// use customer_lifecycle::{Attributes, AttributeValue};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
    /// let mut a = Attributes::new();
    /// a.set("b", AttributeValue::Flag(true), at);
    /// a.set("a", AttributeValue::Flag(false), at);
    /// assert_eq!(a.iter().map(|(name, _)| name).collect::<Vec<_>>(), ["a", "b"]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Attribute)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// How many attributes.
    ///
    /// ```
    /// use customer_lifecycle::Attributes;
    /// assert_eq!(Attributes::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True without attributes.
    ///
    /// ```
    /// use customer_lifecycle::Attributes;
    /// assert!(Attributes::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// How the two values of one attribute merge when two ids turn out to be
/// one person (the strategies a CDP such as Apache Unomi names). Every one
/// gives the same result whichever id is passed first.
///
/// ```
/// use customer_lifecycle::MergeStrategy;
/// assert_eq!(MergeStrategy::default(), MergeStrategy::MostRecent);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MergeStrategy {
    /// The value set last; at the same instant, the greater value (so
    /// that the result does not depend on which id comes first).
    #[default]
    MostRecent,
    /// The value set first; at the same instant, the greater value.
    Oldest,
    /// A value that is not empty ([`AttributeValue::is_empty`]); of two,
    /// the most recent.
    NonEmpty,
    /// Labels: the union; numbers: the sum (a balance kept under each id);
    /// dated at the later of the two. Other kinds are refused.
    Union,
}

/// A user's merge function for one attribute: given the two values (the
/// kept id's first), the merged one. It should not depend on the order
/// for the merge to be deterministic whichever id is kept.
pub type MergeFn = Arc<dyn Fn(&Attribute, &Attribute) -> Attribute + Send + Sync>;

/// The merge rule of every attribute: a default strategy, a strategy per
/// attribute name, and user functions.
///
/// ```
/// use customer_lifecycle::{AttributeMerge, Attributes, AttributeValue, MergeStrategy};
/// use customer_lifecycle::chrono::{TimeZone, Utc};
/// let day = |d| Utc.with_ymd_and_hms(2024, 5, d, 0, 0, 0).unwrap();
/// let rule = AttributeMerge::new(MergeStrategy::MostRecent).with("segments", MergeStrategy::Union);
/// let (mut account, mut guest) = (Attributes::new(), Attributes::new());
/// account.set("name", AttributeValue::Text("Ana".into()), day(1));
/// account.set("segments", AttributeValue::labels(["newsletter"]), day(1));
/// guest.set("name", AttributeValue::Text("Ana Lima".into()), day(3));
/// guest.set("segments", AttributeValue::labels(["sale"]), day(2));
/// let person = rule.merge(&account, &guest)?;
/// assert_eq!(person.get("name").unwrap().value, AttributeValue::Text("Ana Lima".into()));
/// assert_eq!(person.get("segments").unwrap().value, AttributeValue::labels(["newsletter", "sale"]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct AttributeMerge {
    default: MergeStrategy,
    by_name: BTreeMap<String, MergeStrategy>,
    functions: BTreeMap<String, MergeFn>,
}

impl fmt::Debug for AttributeMerge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttributeMerge")
            .field("default", &self.default)
            .field("by_name", &self.by_name)
            .field("functions", &self.functions.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl AttributeMerge {
    /// Every attribute merged by `default`.
    ///
    /// ```
    /// use customer_lifecycle::{AttributeMerge, MergeStrategy};
    /// let rule = AttributeMerge::new(MergeStrategy::NonEmpty);
    /// assert_eq!(rule.strategy("name"), Some(MergeStrategy::NonEmpty));
    /// ```
    pub fn new(default: MergeStrategy) -> AttributeMerge {
        AttributeMerge { default, ..AttributeMerge::default() }
    }

    /// Merges attribute `name` by `strategy`.
    ///
    /// ```
    /// use customer_lifecycle::{AttributeMerge, MergeStrategy};
    /// let rule = AttributeMerge::new(MergeStrategy::MostRecent).with("first_order_channel", MergeStrategy::Oldest);
    /// assert_eq!(rule.strategy("first_order_channel"), Some(MergeStrategy::Oldest));
    /// ```
    pub fn with(mut self, name: impl Into<String>, strategy: MergeStrategy) -> AttributeMerge {
        let name = name.into();
        self.functions.remove(&name);
        self.by_name.insert(name, strategy);
        self
    }

    /// Merges attribute `name` by a function of the two values (the kept
    /// id's first).
    ///
    /// ```
    /// use customer_lifecycle::{Attribute, AttributeMerge, Attributes, AttributeValue, MergeStrategy};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
    /// // The longer of two names.
    /// let rule = AttributeMerge::new(MergeStrategy::MostRecent).with_function("name", |a: &Attribute, b: &Attribute| {
    ///     let len = |x: &Attribute| match &x.value { AttributeValue::Text(t) => t.len(), _ => 0 };
    ///     if (len(b), &b.value) > (len(a), &a.value) { b.clone() } else { a.clone() }
    /// });
    /// let (mut a, mut b) = (Attributes::new(), Attributes::new());
    /// a.set("name", AttributeValue::Text("Ana Lima".into()), at);
    /// b.set("name", AttributeValue::Text("Ana".into()), at);
    /// assert_eq!(rule.merge(&a, &b)?.get("name").unwrap().value, AttributeValue::Text("Ana Lima".into()));
    /// assert_eq!(rule.strategy("name"), None); // a function, not a strategy
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_function(
        mut self,
        name: impl Into<String>,
        merge: impl Fn(&Attribute, &Attribute) -> Attribute + Send + Sync + 'static,
    ) -> AttributeMerge {
        let name = name.into();
        self.by_name.remove(&name);
        self.functions.insert(name, Arc::new(merge));
        self
    }

    /// The strategy for attribute `name`; `None` when a user function
    /// merges it.
    ///
    /// ```
    /// use customer_lifecycle::{AttributeMerge, MergeStrategy};
    /// assert_eq!(AttributeMerge::default().strategy("anything"), Some(MergeStrategy::MostRecent));
    /// ```
    pub fn strategy(&self, name: &str) -> Option<MergeStrategy> {
        if self.functions.contains_key(name) {
            return None;
        }
        Some(self.by_name.get(name).copied().unwrap_or(self.default))
    }

    /// The person's attributes from those of two of their ids (`kept`
    /// first): an attribute only one id has is taken as it is; one both
    /// have merges by its strategy or function.
    ///
    /// ```
    /// use customer_lifecycle::{AttributeMerge, Attributes, AttributeValue, MergeStrategy};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let day = |d| Utc.with_ymd_and_hms(2024, 5, d, 0, 0, 0).unwrap();
    /// let rule = AttributeMerge::new(MergeStrategy::NonEmpty);
    /// let (mut a, mut b) = (Attributes::new(), Attributes::new());
    /// a.set("phone", AttributeValue::Text("+33612345678".into()), day(1));
    /// b.set("phone", AttributeValue::Text(String::new()), day(9)); // cleared on the guest form
    /// b.set("city", AttributeValue::Text("Lyon".into()), day(9));
    /// let person = rule.merge(&a, &b)?;
    /// assert_eq!(person.get("phone").unwrap().value, AttributeValue::Text("+33612345678".into()));
    /// assert_eq!(person.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the attribute when
    /// [`MergeStrategy::Union`] meets values other than two label sets or
    /// two numbers, or when a sum overflows; nothing is returned then.
    pub fn merge(&self, kept: &Attributes, other: &Attributes) -> Result<Attributes> {
        let mut values = kept.values.clone();
        for (name, b) in &other.values {
            let merged = match values.get(name) {
                None => b.clone(),
                Some(a) => match self.functions.get(name) {
                    Some(f) => f(a, b),
                    None => merge_two(name, self.strategy(name).unwrap_or(self.default), a, b)?,
                },
            };
            values.insert(name.clone(), merged);
        }
        Ok(Attributes { values })
    }
}

fn merge_two(name: &str, strategy: MergeStrategy, a: &Attribute, b: &Attribute) -> Result<Attribute> {
    // Ties broken by the value, so that the order of the ids never matters.
    let recent = |a: &Attribute, b: &Attribute| {
        if (b.updated_at, &b.value) > (a.updated_at, &a.value) { b.clone() } else { a.clone() }
    };
    Ok(match strategy {
        MergeStrategy::MostRecent => recent(a, b),
        MergeStrategy::Oldest => {
            if (b.updated_at, std::cmp::Reverse(&b.value)) < (a.updated_at, std::cmp::Reverse(&a.value)) {
                b.clone()
            } else {
                a.clone()
            }
        }
        MergeStrategy::NonEmpty => match (a.value.is_empty(), b.value.is_empty()) {
            (false, true) => a.clone(),
            (true, false) => b.clone(),
            _ => recent(a, b),
        },
        MergeStrategy::Union => {
            let updated_at = a.updated_at.max(b.updated_at);
            let value = match (&a.value, &b.value) {
                (AttributeValue::Labels(x), AttributeValue::Labels(y)) => {
                    AttributeValue::Labels(x.union(y).cloned().collect())
                }
                (AttributeValue::Number(x), AttributeValue::Number(y)) => {
                    AttributeValue::Number(x.checked_add(*y).ok_or_else(|| Error::InvalidArgument {
                        name: "attribute merge",
                        reason: format!("attribute {name:?}: {x} + {y} overflows"),
                    })?)
                }
                (x, y) => {
                    return Err(Error::InvalidArgument {
                        name: "attribute merge",
                        reason: format!(
                            "attribute {name:?}: a union of {} and {} (labels or numbers only)",
                            x.kind(),
                            y.kind()
                        ),
                    });
                }
            };
            Attribute { value, updated_at }
        }
    })
}
