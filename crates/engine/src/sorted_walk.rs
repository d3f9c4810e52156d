//! Looking names up in a map sorted by name when the names are asked in ascending order,
//! as the snapshot asks the book's records for every service on every pass: a
//! walk beside the map, one string comparison or two per name, where a search from the
//! root costs about log₂ n comparisons each (14 at ten thousand services).

use std::collections::BTreeMap;
use std::iter::Peekable;

/// A cursor over a [`BTreeMap`] keyed by name. Asking for a name lower than the last one
/// asked finds nothing: the walk never goes back.
pub(crate) struct SortedWalk<'a, V> {
    entries: Peekable<std::collections::btree_map::Iter<'a, String, V>>,
}

impl<'a, V> SortedWalk<'a, V> {
    pub(crate) fn new(map: &'a BTreeMap<String, V>) -> SortedWalk<'a, V> {
        SortedWalk {
            entries: map.iter().peekable(),
        }
    }

    /// The value of `name`, for names asked in ascending order.
    pub(crate) fn get(&mut self, name: &str) -> Option<&'a V> {
        // Equality first: it is the common case, and cheaper than an ordering (lengths
        // compared before any byte).
        while let Some((key, value)) = self.entries.peek() {
            if key.as_str() == name {
                return Some(*value);
            }
            if key.as_str() > name {
                return None;
            }
            self.entries.next();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Asked in ascending order (repeats included), the walk answers as the map does.
        #[test]
        fn a_walk_answers_as_the_map_does(
            map in proptest::collection::btree_map("[a-e]{1,3}", 0u8..9, 0..20),
            mut asked in proptest::collection::vec("[a-e]{1,3}", 0..30),
        ) {
            asked.sort();
            let mut walk = SortedWalk::new(&map);
            for name in &asked {
                prop_assert_eq!(walk.get(name), map.get(name));
            }
        }
    }
}
