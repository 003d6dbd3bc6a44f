//! What one checkpoint of a monitor's join store writes, and how long it takes, as the
//! predictions waiting for labels grow from 10,000 to 1,000,000 (no labels: they come days later
//! or never), with incremental checkpoints (the daemon's journal, `monitor/join/journal.rs`) beside
//! the whole-store serialisation they replaced, in the same run:
//!
//! ```sh
//! cargo bench -p driftd --bench checkpoint
//! ```
//!
//! Each checkpoint follows 10,000 new predictions. Printed per size: bytes and milliseconds of
//! one checkpoint, journal and whole store.

use std::time::Instant;

use driftd::monitor::join::{Bounds, JoinStore, Pending, Predicted};

const PER_CHECKPOINT: u64 = 10_000;

fn pending(ts_ms: i64) -> Pending {
    Pending {
        predicted: Predicted::Label("1".into()),
        score: Some(0.73),
        ts_ms,
    }
}

fn main() {
    let bounds = Bounds {
        max: 1_000_000,
        dedupe: 100_000,
        ttl_ms: 7 * 24 * 3600 * 1000,
    };
    let mut store: JoinStore = JoinStore::default();
    store.journaled();
    // The first checkpoint of a journaled store is a snapshot (of nothing, here).
    let _ = store.checkpoint_writes("monitor/m/join");
    store.checkpoint_committed();
    let mut n = 0u64;
    println!(
        "{:>10} {:>14} {:>10} {:>14} {:>10}",
        "waiting", "journal bytes", "ms", "whole bytes", "ms"
    );
    for target in [10_000usize, 100_000, 1_000_000] {
        while store.len() < target {
            // A checkpoint after every PER_CHECKPOINT predictions, as the daemon would.
            for _ in 0..PER_CHECKPOINT {
                store.add_pending(&format!("8a87c812-6938-4fa3-{n:012}"), pending(n as i64));
                store.enforce(bounds, n as i64);
                n += 1;
            }
            if store.len() < target {
                let _ = store.checkpoint_writes("monitor/m/join");
                store.checkpoint_committed();
            }
        }
        let started = Instant::now();
        let (puts, _) = store.checkpoint_writes("monitor/m/join");
        let record = serde_json::to_vec(&store).expect("serialises");
        let journal_ms = started.elapsed().as_secs_f64() * 1e3;
        let journal_bytes: usize = record.len() + puts.iter().map(|(_, v)| v.len()).sum::<usize>();
        store.checkpoint_committed();
        let mut whole = store.clone();
        whole.unjournaled();
        let started = Instant::now();
        let whole_bytes = serde_json::to_vec(&whole).expect("serialises").len();
        let whole_ms = started.elapsed().as_secs_f64() * 1e3;
        println!(
            "{:>10} {:>14} {:>10.2} {:>14} {:>10.2}",
            store.len(),
            journal_bytes,
            journal_ms,
            whole_bytes,
            whole_ms
        );
    }
}
