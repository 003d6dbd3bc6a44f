//! What the registry stores about a model: its aliases, each version's record and status, and the
//! decisions taken about it.

use std::fmt;
use std::str::FromStr;

use driftd_retrain::{ArtifactMeta, DecisionRecord};
use serde::{Deserialize, Serialize};

/// One of a model's aliases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Alias {
    /// The version that serves.
    Live,
    /// A version waiting for promotion (e.g. in shadow).
    Candidate,
    /// The version that was live before the current one (the rollback target).
    Previous,
}

impl Alias {
    /// The alias's name: `live`, `candidate` or `previous`.
    pub fn name(self) -> &'static str {
        match self {
            Alias::Live => "live",
            Alias::Candidate => "candidate",
            Alias::Previous => "previous",
        }
    }
}

impl fmt::Display for Alias {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Alias {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "live" => Ok(Alias::Live),
            "candidate" => Ok(Alias::Candidate),
            "previous" => Ok(Alias::Previous),
            _ => Err(format!("unknown alias {s:?} (live, candidate or previous)")),
        }
    }
}

/// A model's aliases (`registry/{model}/aliases`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aliases {
    /// The live version.
    pub live: Option<u64>,
    /// The candidate version.
    pub candidate: Option<u64>,
    /// The previously live version.
    pub previous: Option<u64>,
}

impl Aliases {
    /// The version an alias points to.
    pub fn get(&self, alias: Alias) -> Option<u64> {
        match alias {
            Alias::Live => self.live,
            Alias::Candidate => self.candidate,
            Alias::Previous => self.previous,
        }
    }

    pub(super) fn set(&mut self, alias: Alias, version: Option<u64>) {
        match alias {
            Alias::Live => self.live = version,
            Alias::Candidate => self.candidate = version,
            Alias::Previous => self.previous = version,
        }
    }

    /// The status these aliases give `version`; `was` is its status before (for `Retired`).
    pub(super) fn status_of(&self, version: u64, was: VersionStatus) -> VersionStatus {
        if self.live == Some(version) {
            VersionStatus::Live
        } else if self.candidate == Some(version) {
            VersionStatus::Candidate
        } else if self.previous == Some(version) {
            VersionStatus::Previous
        } else if was == VersionStatus::Registered {
            VersionStatus::Registered
        } else {
            VersionStatus::Retired
        }
    }
}

/// Where a version stands. Kept in its record, updated in the same write as the aliases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionStatus {
    /// Stored, never aliased.
    Registered,
    /// The candidate.
    Candidate,
    /// Live.
    Live,
    /// The previously live version.
    Previous,
    /// Was aliased once, no longer is.
    Retired,
}

impl fmt::Display for VersionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VersionStatus::Registered => "registered",
            VersionStatus::Candidate => "candidate",
            VersionStatus::Live => "live",
            VersionStatus::Previous => "previous",
            VersionStatus::Retired => "retired",
        })
    }
}

/// One decision about a version: a promotion, a rollback, a shadow verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionEntry {
    /// When it was made (ms since the Unix epoch).
    pub at_ms: i64,
    /// What was done: `promote`, `rollback`, `shadow`, `set_alias:candidate`, ...
    pub action: String,
    /// Why, in words.
    pub note: String,
    /// The version that was live before, for promotions and rollbacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced: Option<u64>,
    /// The shadow gate's evidence, when the decision rests on one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<DecisionRecord>,
    /// Who decided by hand: the name of the HTTP token (`[[http.tokens]]`) of a promotion or
    /// rollback through the admin API, `cli:USER` for `driftd models`; absent for the retraining
    /// loop's own decisions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
}

/// Where an imported version came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportSource {
    /// The model named in the imported artifact.
    pub model: String,
    /// Its version there.
    pub version: u64,
    /// SHA-256 of the imported bytes.
    pub checksum: String,
}

/// What the registry keeps about one version (`registry/{model}/v/{n}/meta`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionRecord {
    /// The artifact's metadata (the same as inside the signed artifact).
    pub meta: ArtifactMeta,
    /// SHA-256 of the stored artifact, hex.
    pub checksum: String,
    /// Size of the stored artifact in bytes.
    pub size_bytes: usize,
    /// Where it stands.
    pub status: VersionStatus,
    /// Decisions about it, oldest first.
    #[serde(default)]
    pub decisions: Vec<DecisionEntry>,
    /// For imported versions: the source artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported: Option<ImportSource>,
}

/// A version just stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Registered {
    /// The model.
    pub model: String,
    /// Its new version number.
    pub version: u64,
    /// SHA-256 of the artifact, hex.
    pub checksum: String,
}
