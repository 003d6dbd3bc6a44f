//! The outbox: notifications waiting to be delivered, with their retry schedule.
//!
//! A plain value (no clock, no I/O: `now` is an argument) that the daemon stores under
//! [`Outbox::KEY`] in the state store; see the parent module for the delivery guarantee built on
//! it. Its bytes are deterministic (JSON of ordered maps) so that an unchanged outbox writes the
//! same bytes.
//!
//! Retries are deterministic: after the k-th failed attempt of a notification the next one is due
//! `initial_backoff · 2^(k-1)` later, at most `max_backoff` (no jitter: there is one daemon per
//! receiver, not a herd to spread). A failure more than `give_up_after` after the notification
//! was queued drops it. Within one receiver and alert group, notifications are delivered in the
//! order they were made: a later one waits while an earlier one is retried, so a receiver never
//! sees `RESOLVED` before the `FIRING` it resolves.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::config::DeliveryConfig;
use crate::alert::Notification;

/// Longest `last_error` kept (bytes), so a chatty error cannot bloat the stored state.
const MAX_ERROR_LEN: usize = 512;

/// The queued notifications, by notification id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outbox {
    /// Format version of the stored bytes.
    #[serde(default = "format_version")]
    version: u32,
    /// By notification id.
    queued: BTreeMap<String, Queued>,
}

fn format_version() -> u32 {
    1
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox::new()
    }
}

/// A notification in the outbox and its delivery attempts so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Queued {
    /// The notification, as the engine made it.
    pub notification: Notification,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When it may be attempted (again).
    pub next_attempt_at: DateTime<Utc>,
    /// When it entered the outbox: `give_up_after` counts from here.
    pub first_queued_at: DateTime<Utc>,
    /// The last attempt's error, for logs and operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// The outbox cannot be turned into its stored form, or back.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// Serialising the outbox failed.
    #[error("cannot serialise the outbox: {0}")]
    Encode(#[source] serde_json::Error),
    /// The stored bytes are not an outbox (corrupt, or written by an incompatible version).
    #[error("the stored outbox is not readable: {0}")]
    Decode(#[source] serde_json::Error),
}

/// What [`Outbox::failed`] decided.
#[derive(Debug, Clone, PartialEq)]
pub enum FailOutcome {
    /// Kept: attempt again at `next_attempt_at`.
    Retry {
        /// Failed attempts so far, this one included.
        attempts: u32,
        /// When the next attempt is due.
        next_attempt_at: DateTime<Utc>,
    },
    /// Removed: it kept failing for `give_up_after`. The caller logs it at error level and
    /// counts it as `dropped`.
    GaveUp(Box<Queued>),
    /// No notification with this id is queued (already sent or dropped).
    NotQueued,
}

impl Outbox {
    /// The state-store key the daemon keeps the outbox under.
    pub const KEY: &str = "alert/outbox";

    /// An empty outbox.
    pub fn new() -> Self {
        Outbox {
            version: format_version(),
            queued: BTreeMap::new(),
        }
    }

    /// Queues a notification, due at once. A notification whose id is already queued is left as
    /// it is (the engine's ids are unique; a replayed push must not reset the retry schedule).
    /// Returns whether it was added.
    pub fn push(&mut self, n: Notification, now: DateTime<Utc>) -> bool {
        if self.queued.contains_key(&n.id) {
            return false;
        }
        self.queued.insert(
            n.id.clone(),
            Queued {
                notification: n,
                attempts: 0,
                next_attempt_at: now,
                first_queued_at: now,
                last_error: None,
            },
        );
        true
    }

    /// The notifications to attempt now, oldest first (by creation time, then id): of each
    /// receiver's alert group only the oldest queued one, and only if it is due.
    pub fn due(&self, now: DateTime<Utc>) -> Vec<Notification> {
        let mut due: Vec<&Queued> = self
            .heads()
            .into_iter()
            .filter(|q| q.next_attempt_at <= now)
            .collect();
        due.sort_by(|a, b| order_key(a).cmp(&order_key(b)));
        due.into_iter().map(|q| q.notification.clone()).collect()
    }

    /// When the next notification is due (`None` when the outbox is empty): the daemon sleeps
    /// until then, or until a new notification arrives.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        self.heads().iter().map(|q| q.next_attempt_at).min()
    }

    /// Removes a delivered notification. Returns whether it was queued.
    pub fn sent(&mut self, id: &str) -> bool {
        self.queued.remove(id).is_some()
    }

    /// Removes a notification that must not be retried (a permanent error).
    pub fn remove(&mut self, id: &str) -> Option<Queued> {
        self.queued.remove(id)
    }

    /// Records a failed attempt at `now`: schedules the next one, or gives up once the
    /// notification has been queued for `give_up_after`.
    pub fn failed(
        &mut self,
        id: &str,
        now: DateTime<Utc>,
        err: &str,
        delivery: &DeliveryConfig,
    ) -> FailOutcome {
        let Some(q) = self.queued.get_mut(id) else {
            return FailOutcome::NotQueued;
        };
        let wait = backoff(delivery, q.attempts);
        q.attempts = q.attempts.saturating_add(1);
        q.last_error = Some(truncate(err, MAX_ERROR_LEN));
        let age = now.signed_duration_since(q.first_queued_at);
        if age >= delta(delivery.give_up_after) {
            return match self.queued.remove(id) {
                Some(q) => FailOutcome::GaveUp(Box::new(q)),
                None => FailOutcome::NotQueued,
            };
        }
        q.next_attempt_at = now
            .checked_add_signed(delta(wait))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        FailOutcome::Retry {
            attempts: q.attempts,
            next_attempt_at: q.next_attempt_at,
        }
    }

    /// Queued notifications per receiver (for `driftd_notifications_queued`).
    pub fn len_by_receiver(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for q in self.queued.values() {
            *out.entry(q.notification.receiver.clone()).or_insert(0) += 1;
        }
        out
    }

    /// A queued notification by id.
    pub fn get(&self, id: &str) -> Option<&Queued> {
        self.queued.get(id)
    }

    /// Every queued notification, by id.
    pub fn iter(&self) -> impl Iterator<Item = &Queued> {
        self.queued.values()
    }

    /// How many notifications are queued.
    pub fn len(&self) -> usize {
        self.queued.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }

    /// The stored form: deterministic JSON.
    pub fn to_bytes(&self) -> Result<Vec<u8>, OutboxError> {
        serde_json::to_vec(self).map_err(OutboxError::Encode)
    }

    /// Reads the stored form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, OutboxError> {
        serde_json::from_slice(bytes).map_err(OutboxError::Decode)
    }

    /// Of each (receiver, group) queue, the oldest notification.
    fn heads(&self) -> Vec<&Queued> {
        let mut seen = BTreeSet::new();
        let mut all: Vec<&Queued> = self.queued.values().collect();
        all.sort_by(|a, b| order_key(a).cmp(&order_key(b)));
        all.into_iter()
            .filter(|q| {
                let n = &q.notification;
                seen.insert((n.receiver.as_str(), n.group_key.as_str()))
            })
            .collect()
    }
}

/// Creation time, then id: the order notifications were made in.
fn order_key(q: &Queued) -> (DateTime<Utc>, &str) {
    (q.notification.created, q.notification.id.as_str())
}

/// The wait after a notification's `failures_before + 1`-th failure:
/// `initial_backoff · 2^failures_before`, at most `max_backoff`.
pub fn backoff(delivery: &DeliveryConfig, failures_before: u32) -> Duration {
    let factor = 2u32.checked_pow(failures_before).unwrap_or(u32::MAX);
    delivery
        .initial_backoff
        .checked_mul(factor)
        .unwrap_or(Duration::MAX)
        .min(delivery.max_backoff)
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Status;
    use crate::alert::sinks::render::tests::{alert, notification, t};

    fn n(id: &str, group: &str, minute: u32) -> Notification {
        let mut n = notification(
            Status::Firing,
            vec![alert("FeatureDrift", "age", Status::Firing, 0.3)],
        );
        n.id = id.into();
        n.group_key = group.into();
        n.created = t(10, minute);
        n
    }

    fn secs(s: i64) -> TimeDelta {
        TimeDelta::seconds(s)
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let d = DeliveryConfig::default();
        let waits: Vec<u64> = (0..12).map(|k| backoff(&d, k).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(backoff(&d, u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn failures_follow_the_backoff_sequence_then_give_up() {
        let d = DeliveryConfig {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            give_up_after: Duration::from_secs(60),
        };
        let mut ob = Outbox::new();
        let start = t(10, 0);
        assert!(ob.push(n("a", "g", 0), start));
        let mut now = start;
        let mut waits = Vec::new();
        loop {
            assert_eq!(ob.due(now).len(), 1, "due at {now}");
            match ob.failed("a", now, "503", &d) {
                FailOutcome::Retry {
                    next_attempt_at, ..
                } => {
                    waits.push((next_attempt_at - now).num_seconds());
                    assert!(ob.due(next_attempt_at - secs(1)).is_empty());
                    assert_eq!(ob.next_due(), Some(next_attempt_at));
                    now = next_attempt_at;
                }
                FailOutcome::GaveUp(q) => {
                    assert_eq!(q.attempts, 10);
                    assert_eq!(q.last_error.as_deref(), Some("503"));
                    assert_eq!(q.notification.id, "a");
                    break;
                }
                FailOutcome::NotQueued => panic!("lost"),
            }
        }
        // 1+2+4+8+10+10+10+10 = 55 s; the ninth failure (at 55 s) still retries, the tenth at
        // 65 s >= 60 s gives up.
        assert_eq!(waits, [1, 2, 4, 8, 10, 10, 10, 10, 10]);
        assert!(ob.is_empty());
        assert_eq!(ob.failed("a", now, "x", &d), FailOutcome::NotQueued);
    }

    #[test]
    fn a_later_notification_of_the_group_waits_for_the_earlier() {
        let d = DeliveryConfig::default();
        let mut ob = Outbox::new();
        let now = t(10, 0);
        ob.push(n("g1-2", "g1", 2), now);
        ob.push(n("g1-1", "g1", 1), now);
        ob.push(n("g2-1", "g2", 3), now);
        let ids = |v: Vec<Notification>| v.into_iter().map(|n| n.id).collect::<Vec<_>>();
        assert_eq!(ids(ob.due(now)), ["g1-1", "g2-1"]);
        ob.failed("g1-1", now, "down", &d);
        assert_eq!(ids(ob.due(now)), ["g2-1"]);
        assert_eq!(ob.next_due(), Some(now));
        assert!(ob.sent("g2-1"));
        assert_eq!(ob.next_due(), Some(now + secs(1)));
        assert!(ob.sent("g1-1"));
        assert_eq!(ids(ob.due(now)), ["g1-2"]);
        assert!(!ob.sent("g1-1"));
    }

    #[test]
    fn push_is_idempotent_and_counts_by_receiver() {
        let d = DeliveryConfig::default();
        let mut ob = Outbox::new();
        let now = t(10, 0);
        assert!(ob.push(n("a", "g", 0), now));
        ob.failed("a", now, "x", &d);
        assert!(!ob.push(n("a", "g", 0), now));
        assert_eq!(ob.get("a").unwrap().attempts, 1);
        let mut other = n("b", "g", 1);
        other.receiver = "hook".into();
        ob.push(other, now);
        assert_eq!(
            ob.len_by_receiver(),
            BTreeMap::from([("hook".to_owned(), 1), ("oncall".to_owned(), 1)])
        );
        assert_eq!(ob.remove("b").unwrap().notification.receiver, "hook");
        assert_eq!(ob.len(), 1);
    }

    #[test]
    fn serde_round_trip_is_exact_and_deterministic() {
        let d = DeliveryConfig::default();
        let mut ob = Outbox::new();
        let now = t(10, 0);
        ob.push(n("b", "g2", 1), now);
        ob.push(n("a", "g1", 0), now);
        ob.failed("a", now, "connection refused", &d);
        let bytes = ob.to_bytes().unwrap();
        let back = Outbox::from_bytes(&bytes).unwrap();
        assert_eq!(back, ob);
        assert_eq!(back.to_bytes().unwrap(), bytes);
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.find("\"a\"").unwrap() < text.find("\"b\"").unwrap());
    }

    #[test]
    fn non_finite_values_survive_a_round_trip() {
        let mut ob = Outbox::new();
        for (id, v) in [
            ("a", f64::INFINITY),
            ("b", f64::NAN),
            ("c", f64::NEG_INFINITY),
        ] {
            let mut x = n(id, id, 0);
            x.alerts[0].value = v;
            ob.push(x, t(10, 0));
        }
        let back = Outbox::from_bytes(&ob.to_bytes().unwrap()).unwrap();
        let value = |id: &str| back.get(id).unwrap().notification.alerts[0].value;
        assert_eq!(value("a"), f64::INFINITY);
        assert!(value("b").is_nan());
        assert_eq!(value("c"), f64::NEG_INFINITY);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(Outbox::from_bytes(b"").is_err());
        assert!(Outbox::from_bytes(b"{\"queued\": 7}").is_err());
        assert!(Outbox::from_bytes(b"[1,2]").is_err());
        assert!(Outbox::from_bytes(b"{\"queued\": {\"a\": {\"notification\": 1}}}").is_err());
        assert_eq!(
            Outbox::from_bytes(b"{\"queued\": {}}").unwrap(),
            Outbox::new()
        );
    }

    #[test]
    fn long_errors_are_truncated_on_a_char_boundary() {
        let s = "é".repeat(600);
        let t = truncate(&s, MAX_ERROR_LEN);
        assert!(t.len() <= MAX_ERROR_LEN + '…'.len_utf8());
        assert!(t.ends_with('…'));
    }
}
