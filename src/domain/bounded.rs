//! Bounded sequences for loading saved data: a list longer than its
//! structure allows is refused while it is parsed, before it is allocated.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, SeqAccess, Visitor};

/// Deserialises a `Vec<T>` of at most `MAX` elements (for
/// `#[serde(deserialize_with = "…::bounded_vec::<_, _, MAX>")]`): the
/// `MAX + 1`-th element is an error, so a hostile document cannot make the
/// loader allocate more than `MAX` elements (serde's own preallocation from
/// a length hint is capped as well).
pub(crate) fn bounded_vec<'de, D, T, const MAX: usize>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Bounded<T, const MAX: usize>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>, const MAX: usize> Visitor<'de> for Bounded<T, MAX> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a list of at most {MAX} elements")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX).min(1024));
            while let Some(element) = seq.next_element()? {
                if out.len() == MAX {
                    return Err(serde::de::Error::custom(format_args!("more than {MAX} elements")));
                }
                out.push(element);
            }
            Ok(out)
        }
    }

    deserializer.deserialize_seq(Bounded::<T, MAX>(PhantomData))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct Small {
        #[serde(deserialize_with = "bounded_vec::<_, _, 3>")]
        items: Vec<u8>,
    }

    #[test]
    fn at_most_max_elements_load() {
        assert!(serde_json::from_str::<Small>(r#"{"items":[1,2,3]}"#).is_ok_and(|s| s.items == [1, 2, 3]));
        let e = serde_json::from_str::<Small>(r#"{"items":[1,2,3,4]}"#).map(|s| s.items);
        assert!(e.is_err_and(|e| e.to_string().contains("more than 3")));
    }
}
