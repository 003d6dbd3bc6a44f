//! The map of waiting predictions, by id: a compact one.
//!
//! With labels that come late or never, this map holds up to `join_max_entries` predictions per
//! model (a million by default), and its memory is most of the daemon's. A `HashMap<Id, P>` keeps
//! each entry in its table: every bucket is an entry's size (about 80 bytes), half of the buckets
//! are empty after each doubling, and each doubling writes all entries into new memory — first
//! touches that cost a sixth of a monitoring run when a million wait. Here the entries live in a
//! slab (a `Vec`, holes reused) and the hash table holds only their slab positions (8 bytes a
//! bucket), so the table's doublings move a tenth as many bytes and the entries never move.
//! Hand-written over `hashbrown::HashTable` (the raw table std's `HashMap` is built on) because no
//! crate offers a map whose buckets index a slab; tested against `HashMap` (below).

use std::hash::BuildHasher;

use foldhash::fast::RandomState;
use hashbrown::HashTable;
use serde::de::{Deserialize, DeserializeOwned, Deserializer, MapAccess, Visitor};

use super::Id;

/// Waiting predictions by id, with `HashMap` semantics (no order).
#[derive(Clone)]
pub(super) struct PendingMap<P> {
    /// The entries; `None` is a hole (its position is in `free`).
    slots: Vec<Option<(Id, P)>>,
    free: Vec<usize>,
    /// Positions in `slots`, hashed by their entry's id.
    index: HashTable<usize>,
    hasher: RandomState,
}

impl<P> Default for PendingMap<P> {
    fn default() -> Self {
        PendingMap {
            slots: Vec::new(),
            free: Vec::new(),
            index: HashTable::new(),
            hasher: RandomState::default(),
        }
    }
}

impl<P> std::fmt::Debug for PendingMap<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingMap")
            .field("len", &self.len())
            .field("slots", &self.slots.len())
            .finish()
    }
}

/// The id of the entry at `i` (a position the index holds is never a hole).
fn id_at<P>(slots: &[Option<(Id, P)>], i: usize) -> &str {
    slots[i].as_ref().map_or("", |(id, _)| id.as_str())
}

impl<P> PendingMap<P> {
    /// Entries.
    pub(super) fn len(&self) -> usize {
        self.index.len()
    }

    fn position(&self, id: &str) -> Option<usize> {
        let h = self.hasher.hash_one(id);
        self.index
            .find(h, |&i| id_at(&self.slots, i) == id)
            .copied()
    }

    /// The entry of `id`.
    pub(super) fn get(&self, id: &str) -> Option<&P> {
        let i = self.position(id)?;
        self.slots[i].as_ref().map(|(_, p)| p)
    }

    /// Whether `id` has an entry.
    pub(super) fn contains_key(&self, id: &str) -> bool {
        self.position(id).is_some()
    }

    /// Adds `id` unless it has an entry; returns whether it was added.
    pub(super) fn insert_new(&mut self, id: Id, p: P) -> bool {
        let h = self.hasher.hash_one(id.as_str());
        let PendingMap {
            slots,
            free,
            index,
            hasher,
        } = self;
        if index.find(h, |&i| id_at(slots, i) == id.as_str()).is_some() {
            return false;
        }
        let i = match free.pop() {
            Some(i) => {
                slots[i] = Some((id, p));
                i
            }
            None => {
                slots.push(Some((id, p)));
                slots.len() - 1
            }
        };
        index.insert_unique(h, i, |&j| hasher.hash_one(id_at(slots, j)));
        true
    }

    /// Sets the entry of `id` (added, or replaced).
    pub(super) fn insert(&mut self, id: Id, p: P) {
        match self.position(id.as_str()) {
            Some(i) => self.slots[i] = Some((id, p)),
            None => {
                self.insert_new(id, p);
            }
        }
    }

    /// Removes the entry of `id`.
    pub(super) fn remove(&mut self, id: &str) -> Option<P> {
        let h = self.hasher.hash_one(id);
        let slots = &self.slots;
        let entry = self.index.find_entry(h, |&i| id_at(slots, i) == id).ok()?;
        let (i, _) = entry.remove();
        self.free.push(i);
        self.slots[i].take().map(|(_, p)| p)
    }
}

/// Read as the JSON map of id to entry that `HashMap<Id, P>` wrote (old checkpoints) and that
/// [`super::record`] writes.
impl<'de, P: DeserializeOwned> Deserialize<'de> for PendingMap<P> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<P>(std::marker::PhantomData<P>);
        impl<'de, P: DeserializeOwned> Visitor<'de> for V<P> {
            type Value = PendingMap<P>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map of id to waiting prediction")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = PendingMap::default();
                while let Some((id, p)) = map.next_entry::<Id, P>()? {
                    out.insert(id, p);
                }
                Ok(out)
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Random inserts, re-inserts, lookups and removals give what a `HashMap` gives, holes
    /// reused; a serialised map reads back.
    #[test]
    fn behaves_like_a_hash_map() {
        let mut ours: PendingMap<u64> = PendingMap::default();
        let mut std_map: HashMap<String, u64> = HashMap::new();
        let mut x = 0x853c_49e6_748f_ea9bu64;
        for step in 0..200_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Ids from a small range so that hits, misses and reuse all happen; some long ones.
            let n = x % 5_000;
            let id = if n.is_multiple_of(7) {
                format!("a-rather-long-prediction-id-beyond-inline-{n}")
            } else {
                format!("p{n}")
            };
            match (x >> 20) % 5 {
                0 | 1 => assert_eq!(
                    ours.insert_new(Id::new(&id), step),
                    !std_map.contains_key(&id) && std_map.insert(id.clone(), step).is_none()
                ),
                2 => {
                    ours.insert(Id::new(&id), step);
                    std_map.insert(id.clone(), step);
                }
                3 => assert_eq!(ours.remove(&id), std_map.remove(&id)),
                _ => assert_eq!(ours.get(&id), std_map.get(&id)),
            }
            assert_eq!(ours.contains_key(&id), std_map.contains_key(&id));
            assert_eq!(ours.len(), std_map.len());
        }
        assert!(
            ours.slots.len() <= 5_000,
            "holes are reused: {}",
            ours.slots.len()
        );
        let json = serde_json::to_string(&std_map).unwrap();
        let back: PendingMap<u64> = serde_json::from_str(&json).unwrap();
        assert_eq!(back.len(), std_map.len());
        for (k, v) in &std_map {
            assert_eq!(back.get(k), Some(v));
        }
    }
}
