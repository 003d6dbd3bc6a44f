//! The reference profiles in checkpoints: written once under their own key, not in every record.
//!
//! A closed reference (the per-feature summaries every look compares against: about two thirds of
//! a 25-feature monitor's record) never changes until a new one is built — a promotion's training
//! data, a reference file, or a restart with another window. The daemon's monitors therefore keep
//! their profiles *apart*: the monitor's own record carries only the reference's id
//! (`reference_id`, a counter bumped whenever the profiles are replaced or dropped), and the
//! profiles go to `monitor/MODEL/reference` in the checkpoint that first holds them, in the same
//! atomic write as the record. A restore reads that key and uses it only if its id is the record's
//! (an older reference left in the store is never taken for a newer one). Records written before
//! this carry their profiles inline and still restore.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ModelMonitor;
use super::Profiles;

/// Profiles that serialise as `null` when they are stored apart (see [the module](self)).
#[derive(Debug, Clone, Default)]
pub(super) struct Apart {
    pub(super) profiles: Option<Profiles>,
    /// Stored under their own key instead of in the record.
    apart: bool,
}

impl Serialize for Apart {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.apart {
            s.serialize_none()
        } else {
            self.profiles.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for Apart {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Apart {
            profiles: Option::deserialize(d)?,
            apart: false,
        })
    }
}

/// The stored form of a reference kept apart.
#[derive(Serialize, Deserialize)]
struct Stored<P> {
    id: u64,
    profiles: P,
}

/// The key of a model's reference profiles under `monitor_key` (e.g. `monitor/churn`).
pub fn reference_key(monitor_key: &str) -> String {
    format!("{monitor_key}/reference")
}

impl ModelMonitor {
    /// Keeps the reference profiles apart from the monitor's record from now on (the daemon's
    /// checkpoints; see [the module](self)).
    pub fn store_reference_apart(&mut self) {
        self.profiles.apart = true;
    }

    /// Which reference the monitor holds: changes whenever its profiles are replaced or dropped.
    pub fn reference_id(&self) -> u64 {
        self.reference_id
    }

    /// The profiles to write under [`reference_key`] when they are kept apart and `written` (the
    /// id last stored) is not the current one; `None` otherwise.
    pub fn reference_entry(&self, written: Option<u64>) -> Option<Vec<u8>> {
        let p = self.profiles.profiles.as_ref()?;
        if !self.profiles.apart || written == Some(self.reference_id) {
            return None;
        }
        let stored = Stored {
            id: self.reference_id,
            profiles: p,
        };
        Some(serde_json::to_vec(&stored).expect("profiles serialise"))
    }

    /// Whether a restored record names profiles kept apart, which [`ModelMonitor::restore_reference`]
    /// must bring back.
    pub fn needs_reference(&self) -> bool {
        self.profiles.profiles.is_none() && self.reference.is_none()
    }

    /// Starts collecting a new reference (the stored profiles of a restored record were not
    /// found: only a damaged store does that).
    pub fn restart_reference(&mut self) {
        self.reference = Some(super::ReferenceBuffer::default());
        self.profiles.profiles = None;
        self.reference_id += 1;
    }

    /// Restores the profiles kept apart from the bytes stored under [`reference_key`] (if any).
    /// Profiles of another reference than the record's are ignored. Returns whether they were
    /// taken.
    pub fn restore_reference(&mut self, bytes: Option<&[u8]>) -> Result<bool, serde_json::Error> {
        let Some(bytes) = bytes else {
            return Ok(false);
        };
        let stored: Stored<Profiles> = serde_json::from_slice(bytes)?;
        if stored.id != self.reference_id {
            return Ok(false);
        }
        self.profiles.profiles = Some(stored.profiles);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::event::{ParseOptions, parse_event};
    use crate::monitor::MonitorSettings;

    fn feed(m: &mut ModelMonitor, s: &MonitorSettings, from: u64, n: u64) {
        for i in from..from + n {
            let line = format!(
                r#"{{"kind":"prediction","id":"p{i}","model":"m","ts":"2026-01-01T00:00:00Z","features":{{"x":{},"c":"v{}"}},"prediction":{{"score":0.{}}}}}"#,
                (i * 7919 % 1000) as f64 / 100.0,
                i % 3,
                i % 10
            );
            m.observe(
                &parse_event(line.as_bytes(), &ParseOptions::default()).unwrap(),
                s,
            );
        }
    }

    /// Kept apart, the profiles leave the record and are written once; the record and that key
    /// restore a monitor equal to the original, which continues exactly like it; a newer
    /// reference is never confused with an older one left in the store; an old record with its
    /// profiles inline still restores.
    #[test]
    fn the_reference_is_written_once_and_restores_with_its_record() {
        let s = MonitorSettings {
            reference_events: 500,
            ..Default::default()
        };
        let mut a = ModelMonitor::new("m", "1", &s);
        feed(&mut a, &s, 0, 800);
        assert!(a.has_reference());
        let inline = serde_json::to_vec(&a).unwrap();
        a.store_reference_apart();
        let record = serde_json::to_vec(&a).unwrap();
        let stored = a.reference_entry(None).expect("new profiles are written");
        assert!(
            record.len() + stored.len() / 2 < inline.len(),
            "the record without its profiles: {} bytes, with them {}, the profiles {}",
            record.len(),
            inline.len(),
            stored.len()
        );
        assert!(
            a.reference_entry(Some(a.reference_id())).is_none(),
            "and only once"
        );

        let mut b: ModelMonitor = serde_json::from_slice(&record).unwrap();
        assert!(b.needs_reference());
        assert!(b.restore_reference(Some(&stored)).unwrap());
        assert!(!b.needs_reference());
        // An old record, profiles inline, needs nothing else.
        let c: ModelMonitor = serde_json::from_slice(&inline).unwrap();
        assert!(!c.needs_reference());
        let (mut a2, mut c2) = (a.clone(), c);
        for m in [&mut a2, &mut b, &mut c2] {
            m.store_reference_apart();
            feed(m, &s, 800, 1_500);
        }
        let va = serde_json::to_value(&a2).unwrap();
        assert_eq!(va, serde_json::to_value(&b).unwrap());
        assert_eq!(va, serde_json::to_value(&c2).unwrap());

        // A new reference (e.g. after a promotion): a restore never takes the older profiles.
        let rows: Vec<String> = (0..50)
            .map(|i| format!(r#"{{"kind":"prediction","id":"r{i}","model":"m","ts":"2026-01-01T00:00:00Z","features":{{"x":{i}}}}}"#))
            .collect();
        a.set_reference(
            rows.iter()
                .map(|l| parse_event(l.as_bytes(), &ParseOptions::default()).unwrap()),
            &s,
        );
        let newer = serde_json::to_vec(&a).unwrap();
        let mut d: ModelMonitor = serde_json::from_slice(&newer).unwrap();
        assert!(
            !d.restore_reference(Some(&stored)).unwrap(),
            "older profiles ignored"
        );
        let fresh = a
            .reference_entry(Some(0))
            .expect("the new profiles are written");
        assert!(d.restore_reference(Some(&fresh)).unwrap());
        assert!(d.has_reference());
    }
}
