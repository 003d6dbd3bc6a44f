//! Silences (time-bounded mutes from the config or the API) and inhibition (a firing alert
//! muting related ones). Both only keep alerts out of notifications: the alerts themselves
//! still go through their lifecycle and show in [`super::Engine::alerts`].

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::config::{InhibitConfig, SilenceConfig};
use super::labels::{Fnv, matches};
use crate::contract::sample::Labels;

/// A silence as the engine holds it: its config plus an id.
///
/// Ids are deterministic: `cfg-<hash of the silence's content>` for silences from the config
/// (stable across reloads and restarts), `api-<n>` for silences created through
/// [`super::Engine::add_silence`], numbered by a counter kept in the engine state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    /// The id, used to expire it.
    pub id: String,
    /// Matchers on the alert's labels.
    #[serde(rename = "match")]
    pub matchers: Labels,
    /// When it starts; `None`: it has always been active.
    pub starts_at: Option<DateTime<Utc>>,
    /// When it ends (exclusive).
    pub ends_at: DateTime<Utc>,
    /// Why.
    pub comment: String,
    /// Who.
    pub created_by: String,
}

impl Silence {
    /// A silence from the config, with its content hash as id.
    pub(super) fn from_config(cfg: &SilenceConfig) -> Silence {
        let mut h = Fnv::new();
        for (k, v) in &cfg.matchers {
            h = h.field(k).field(v);
        }
        let start = cfg.starts_at.map(|t| t.to_rfc3339()).unwrap_or_default();
        let hash = h
            .field(&start)
            .field(&cfg.ends_at.to_rfc3339())
            .field(&cfg.comment)
            .field(&cfg.created_by)
            .hex();
        Silence::new(format!("cfg-{hash}"), cfg.clone())
    }

    pub(super) fn new(id: String, cfg: SilenceConfig) -> Silence {
        Silence {
            id,
            matchers: cfg.matchers,
            starts_at: cfg.starts_at,
            ends_at: cfg.ends_at,
            comment: cfg.comment,
            created_by: cfg.created_by,
        }
    }

    /// Whether it mutes alerts at `now`: started and not ended.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.starts_at.is_none_or(|s| s <= now) && now < self.ends_at
    }

    /// Whether it has ended at `now`.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.ends_at
    }

    /// Whether it mutes an alert with these labels at `now`.
    pub fn mutes(&self, labels: &Labels, now: DateTime<Utc>) -> bool {
        self.is_active(now) && matches(&self.matchers, labels)
    }
}

/// Why a silence or an inhibition rule from the API is refused. The message starts with the
/// field at fault (`match: …`, `ends_at: …`, `inhibit.source_match: …`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SilenceError {
    /// The silence is invalid whatever the time: no matchers, an empty label name, or an end not
    /// after its start.
    #[error("{key}: {message}")]
    Invalid {
        /// The field at fault (`match`, `ends_at`).
        key: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The silence has already ended when it is added.
    #[error("ends_at: {} is not in the future", .ends_at.to_rfc3339())]
    AlreadyEnded {
        /// Its end.
        ends_at: DateTime<Utc>,
    },
    /// The inhibition rule is invalid: every problem, as `key: message`.
    #[error("{}", .0.join("; "))]
    InvalidInhibit(Vec<String>),
}

/// Why a silence from the API is refused, if it is.
pub(super) fn check_new_silence(
    cfg: &SilenceConfig,
    now: DateTime<Utc>,
) -> Result<(), SilenceError> {
    if let Some((key, message)) = cfg.problems().into_iter().next() {
        return Err(SilenceError::Invalid { key, message });
    }
    if cfg.ends_at <= now {
        return Err(SilenceError::AlreadyEnded {
            ends_at: cfg.ends_at,
        });
    }
    Ok(())
}

/// The firing alerts that can inhibit, indexed per inhibit rule by their `equal` label values,
/// so that checking a target is a lookup rather than a scan of every alert.
pub(super) struct Inhibitor<'a> {
    rules: &'a [InhibitConfig],
    /// Per rule: `equal` values → fingerprints of firing sources with those values.
    sources: Vec<BTreeMap<Vec<&'a str>, BTreeSet<&'a str>>>,
}

impl<'a> Inhibitor<'a> {
    /// Indexes `firing`: `(fingerprint, labels)` of every firing alert.
    pub(super) fn new(
        rules: &'a [InhibitConfig],
        firing: impl Iterator<Item = (&'a str, &'a Labels)> + Clone,
    ) -> Self {
        let sources = rules
            .iter()
            .map(|rule| {
                let mut index: BTreeMap<Vec<&'a str>, BTreeSet<&'a str>> = BTreeMap::new();
                for (fp, labels) in firing.clone() {
                    if matches(&rule.source_match, labels) {
                        index
                            .entry(equal_values(rule, labels))
                            .or_default()
                            .insert(fp);
                    }
                }
                index
            })
            .collect();
        Inhibitor { rules, sources }
    }

    /// Whether the alert `(fingerprint, labels)` is inhibited by another firing alert (an
    /// alert never inhibits itself).
    pub(super) fn inhibits(&self, fp: &str, labels: &'a Labels) -> bool {
        self.rules.iter().zip(&self.sources).any(|(rule, index)| {
            matches(&rule.target_match, labels)
                && index
                    .get(&equal_values(rule, labels))
                    .is_some_and(|sources| sources.iter().any(|s| *s != fp))
        })
    }
}

/// The values of a rule's `equal` labels on an alert (absent reads as empty, as in matchers).
fn equal_values<'a>(rule: &InhibitConfig, labels: &'a Labels) -> Vec<&'a str> {
    rule.equal
        .iter()
        .map(|name| labels.get(name).map_or("", String::as_str))
        .collect()
}
