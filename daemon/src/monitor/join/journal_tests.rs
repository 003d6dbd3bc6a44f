//! The journal: a store rebuilt from its checkpoints is the store, and a checkpoint's size does not
//! grow with the number of waiting predictions.

use std::collections::HashMap;

use driftd_detectors::synth::Rng;

use super::*;

type Store = JoinStore<Pending, Early>;

/// A key-value map standing in for the state store (the real stores' atomic writes are tested in
/// `store/tests.rs` and end to end).
#[derive(Default)]
struct Kv(HashMap<String, Vec<u8>>);

impl Kv {
    /// One checkpoint of `s`: its record and its journal's keys, applied atomically.
    fn checkpoint(&mut self, s: &mut Store) -> usize {
        let (puts, deletes) = s.checkpoint_writes("j");
        let record = serde_json::to_vec(&*s).unwrap();
        let mut bytes = record.len();
        for k in deletes {
            self.0.remove(&k);
        }
        for (k, v) in puts {
            bytes += v.len();
            self.0.insert(k, v);
        }
        self.0.insert("record".into(), record);
        s.checkpoint_committed();
        bytes
    }

    fn restore(&self) -> Store {
        let mut s: Store = serde_json::from_slice(&self.0["record"]).unwrap();
        let values: Vec<_> = s
            .journal_keys("j")
            .iter()
            .map(|k| self.0.get(k).cloned())
            .collect();
        s.restore_journal(values).unwrap();
        s
    }
}

fn pending(ts_ms: i64) -> Pending {
    Pending {
        predicted: Predicted::Label("1".into()),
        score: Some(0.5),
        ts_ms,
    }
}

/// One random operation of a monitor's life on `s` at time `t`; returns what it observed.
fn step(s: &mut Store, rng: &mut Rng, t: i64, b: Bounds) -> String {
    let id = format!("p{}", (rng.uniform() * 3_000.0) as u64);
    let out = match (rng.uniform() * 5.0) as u32 {
        0 | 1 => {
            if s.is_pending(&id) || s.is_joined(&id) {
                "dup".into()
            } else if let Some(e) = s.take_early(&id) {
                s.mark_joined(&id);
                format!("early {e:?}")
            } else {
                s.add_pending(&id, pending(t));
                "wait".into()
            }
        }
        2 | 3 => {
            if s.is_joined(&id) {
                "joined".into()
            } else if let Some(p) = s.take_pending(&id) {
                s.mark_joined(&id);
                format!("join {}", p.ts_ms)
            } else if !s.has_early(&id) {
                s.add_early(&id, (Target::Label("0".into()), t));
                "early".into()
            } else {
                "again".into()
            }
        }
        _ => format!("len {}", s.len()),
    };
    s.enforce(b, t);
    format!("{out} {} {} {}", s.evicted, s.unmatched_feedback, s.len())
}

fn same(a: &Store, b: &Store) {
    let pa: Vec<_> = a.pending_in_order().collect();
    let pb: Vec<_> = b.pending_in_order().collect();
    assert_eq!(pa, pb);
    let ea: Vec<_> = a.early_in_order().collect();
    let eb: Vec<_> = b.early_in_order().collect();
    assert_eq!(ea, eb);
    assert_eq!(a.joined, b.joined);
    assert_eq!(a.joined_ids, b.joined_ids);
    assert_eq!(a.early_order, b.early_order);
    assert_eq!(
        (a.evicted, a.unmatched_feedback, a.duplicate_feedback),
        (b.evicted, b.unmatched_feedback, b.duplicate_feedback)
    );
}

#[test]
fn a_store_restored_from_its_journal_continues_exactly() {
    let b = Bounds {
        max: 400,
        dedupe: 300,
        ttl_ms: 50_000,
    };
    let mut rng = Rng::new(11);
    let mut s = Store::default();
    s.journaled();
    let mut kv = Kv::default();
    let (mut segments, mut snapshots) = (0, 0);
    for round in 0..60 {
        for i in 0..(50 + round * 7) {
            step(&mut s, &mut rng, (round * 1_000 + i) as i64 * 10, b);
        }
        let had = s.journal.as_ref().unwrap().segments;
        kv.checkpoint(&mut s);
        let now = s.journal.as_ref().unwrap().segments;
        if now == 0 {
            snapshots += 1;
        } else if now > had {
            segments += 1;
        }
        let mut r = kv.restore();
        same(&s, &r);
        // Both continue the same way, with the restored one journaled too.
        let mut r2 = Rng::new(round as u64);
        let mut r3 = Rng::new(round as u64);
        let mut s2 = s.clone();
        for i in 0..200 {
            let t = (round * 1_000 + 500 + i) as i64 * 10;
            assert_eq!(step(&mut s2, &mut r2, t, b), step(&mut r, &mut r3, t, b));
        }
        same(&s2, &r);
    }
    assert!(
        segments > 20 && snapshots >= 2,
        "{segments} segments, {snapshots} snapshots"
    );
}

#[test]
fn a_checkpoint_writes_what_changed_not_what_waits() {
    // 1,000 new predictions per checkpoint, none labelled (labels come days later or never): the
    // bytes written per checkpoint stay flat as the waiting predictions grow 10k → 100k.
    let b = Bounds {
        max: 1_000_000,
        dedupe: 100_000,
        ttl_ms: i64::MAX / 4,
    };
    let mut s = Store::default();
    s.journaled();
    let mut kv = Kv::default();
    let mut sizes = Vec::new();
    let mut n = 0u64;
    for _ in 0..100 {
        for _ in 0..1_000 {
            s.add_pending(&format!("prediction-{n:08}"), pending(n as i64));
            s.enforce(b, n as i64);
            n += 1;
        }
        sizes.push((s.len(), kv.checkpoint(&mut s)));
    }
    let at = |waiting: usize| sizes.iter().find(|(w, _)| *w == waiting).unwrap().1;
    let (small, large) = (at(10_000), at(100_000));
    assert!(
        large < small * 11 / 10,
        "bytes per checkpoint: {small} with 10k waiting, {large} with 100k"
    );
    // The one-shot serialisation would have grown tenfold.
    let mut full = s.clone();
    full.journal = None;
    assert!(serde_json::to_vec(&full).unwrap().len() > 50 * large);
    // And the store restores.
    assert_eq!(kv.restore().len(), 100_000);
}
