//! How a join store is written in its owner's record: whole (its FIFOs in order), or, when it keeps
//! a [`super::journal`], only its counters and the journal's position.

use std::collections::VecDeque;

use foldhash::HashSet;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Id, JoinStore, Stamped};

/// The fields by name, as the derived `Deserialize` reads them; each map or set in its FIFO's order
/// (insertion order: deterministic, and O(n) where sorted keys cost O(n log n) string comparisons —
/// a fifth of a monitoring run's time when a million predictions wait). A key a FIFO holds twice
/// (a prediction re-added after its joined id was forgotten) is written twice with the same value;
/// reading keeps one.
impl<P: Stamped, E: Clone + Serialize + DeserializeOwned> Serialize for JoinStore<P, E> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        if let Some(j) = &self.journal {
            // Journaled: the entries are in the journal's keys, written in the same checkpoint;
            // the record says how many segments that checkpoint leaves.
            let live = self.live();
            let mut st = s.serialize_struct("JoinStore", 4)?;
            st.serialize_field("evicted", &self.evicted)?;
            st.serialize_field("duplicate_feedback", &self.duplicate_feedback)?;
            st.serialize_field("unmatched_feedback", &self.unmatched_feedback)?;
            st.serialize_field("journal", &j.position_after(live))?;
            return st.end();
        }
        Full(self).serialize(s)
    }
}

/// A join store serialised whole, journal or not: its record when it keeps no journal, and its
/// journal's snapshot (the queues exactly, stale entries included, so the log replays onto it).
pub(super) struct Full<'a, P, E>(pub(super) &'a JoinStore<P, E>);

impl<P: Stamped, E: Clone + Serialize + DeserializeOwned> Serialize for Full<'_, P, E> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq, SerializeStruct};
        struct InOrder<'a, I>(
            std::cell::RefCell<Option<I>>,
            std::marker::PhantomData<&'a ()>,
        );
        impl<'a, I, V> Serialize for InOrder<'a, I>
        where
            I: Iterator<Item = (&'a str, V)>,
            V: Serialize,
        {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(None)?;
                for (k, v) in self.0.borrow_mut().take().into_iter().flatten() {
                    m.serialize_entry(k, &v)?;
                }
                m.end()
            }
        }
        struct Ids<'a>(&'a VecDeque<Id>, &'a HashSet<Id>);
        impl Serialize for Ids<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut q = s.serialize_seq(None)?;
                for id in self.0.iter().filter(|id| self.1.contains(*id)) {
                    q.serialize_element(id)?;
                }
                q.end()
            }
        }
        fn in_order<'a, I>(i: I) -> InOrder<'a, I> {
            InOrder(std::cell::RefCell::new(Some(i)), std::marker::PhantomData)
        }
        let j = self.0;
        let mut st = s.serialize_struct("JoinStore", 9)?;
        st.serialize_field("pending", &in_order(j.pending_in_order()))?;
        st.serialize_field("order", &j.order)?;
        st.serialize_field("early", &in_order(j.early_in_order()))?;
        st.serialize_field("early_order", &j.early_order)?;
        st.serialize_field("joined_ids", &j.joined_ids)?;
        st.serialize_field("joined", &Ids(&j.joined_ids, &j.joined))?;
        st.serialize_field("evicted", &j.evicted)?;
        st.serialize_field("duplicate_feedback", &j.duplicate_feedback)?;
        st.serialize_field("unmatched_feedback", &j.unmatched_feedback)?;
        st.end()
    }
}
