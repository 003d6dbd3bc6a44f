//! The model registry: numbered, signed versions of each model's trained artifacts and the aliases
//! that say which version is `live`, which is the `candidate` and which was live `previous`ly — all
//! in the [`StateStore`], so the embedded store and Redis hold it alike.
//!
//! ## Key layout
//!
//! | key | value |
//! |---|---|
//! | `registry/models` | JSON array of model names, sorted (the index) |
//! | `registry/{model}/next` | JSON number: the next version number (versions start at 1) |
//! | `registry/{model}/aliases` | JSON [`Aliases`]: `{"live": 3, "candidate": 4, "previous": 2}` (absent → `null`) |
//! | `registry/{model}/v/{n}/meta` | JSON [`VersionRecord`]: the [`ArtifactMeta`], checksum, size, [`VersionStatus`] and [`DecisionEntry`]s |
//! | `registry/{model}/v/{n}/artifact` | the sealed bytes of [`Artifact::seal_with`] (Ed25519, or HMAC-SHA256 for format 1; see [`Keys`]) |
//!
//! Model names follow the event contract (1 to 128 characters of `[A-Za-z0-9_.:-]`), so they never
//! contain `/`. With Redis every key carries the store's prefix (`driftd:registry/...`).
//!
//! ## Atomicity
//!
//! Writes that belong together are one [`StateStore::put_all`] (a redb transaction, a Redis
//! `MULTI`/`EXEC`): a new version writes its artifact, its record, `next` and the index at once; a
//! promotion or rollback writes the new aliases together with the status and decision entries of
//! the versions it touches. A reader never sees a version without its artifact or an alias naming
//! a version that is not there.
//!
//! ## Signatures
//!
//! Every artifact is sealed with the registry's key ([`MIN_KEY_BYTES`] or more, from
//! `[registry] signing_key` or the environment variable [`KEY_ENV`]). [`Registry::load`],
//! [`Registry::export`] and [`Registry::import`] verify it with [`Artifact::open_with`] and also check
//! that the artifact is the one the record describes (model, version, checksum): bytes altered in
//! the store give [`RegistryError::Artifact`] with [`ArtifactError::BadSignature`], never a loaded
//! model. Listing, showing and moving aliases need no key.
//!
//! ## Concurrency
//!
//! Each operation reads, then writes once; it assumes **one writer per model at a time**. The
//! trainer holds the model's lease (a fencing token in the state store) and writes through
//! [`crate::store::fenced::FencedStore`], so an instance that lost its lease writes nothing; the
//! CLI run by an operator is not fenced. Alias swaps are single atomic writes, so a reader always
//! sees either the old or the new aliases.
//!
//! May depend on: contract, store.

pub mod config;
mod records;

pub use records::{
    Alias, Aliases, DecisionEntry, ImportSource, Registered, VersionRecord, VersionStatus,
};

use std::collections::BTreeSet;
use std::fmt;

use driftd_retrain::{
    Artifact, ArtifactError, ArtifactMeta, DecisionRecord, Signer, TrainedModel, ValidationMetrics,
    Verifier,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::contract::settings::Secrets;

use crate::contract::event::valid_model_name;
use crate::registry::config::{KEY_ENV, MIN_KEY_BYTES};
use crate::store::{StateStore, StoreError};

/// The trigger recorded for versions trained with `driftd models train`.
pub const MANUAL_TRIGGER: &str = "manual";
/// The trigger recorded for imported versions.
pub const IMPORT_TRIGGER: &str = "import";

const MODELS_KEY: &str = "registry/models";

/// A registry failure.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The state store failed.
    #[error("state store: {0}")]
    Store(#[from] StoreError),
    /// The model name is not a valid model name.
    #[error("invalid model name {0:?}: 1 to 128 characters of [A-Za-z0-9_.:-]")]
    InvalidName(String),
    /// The model has no versions.
    #[error("model {0:?} is not in the registry")]
    UnknownModel(String),
    /// The version does not exist.
    #[error("model {model:?} has no version {version}")]
    UnknownVersion {
        /// The model.
        model: String,
        /// The version asked for.
        version: u64,
    },
    /// An operation needs an alias that is not set (e.g. a rollback without a previous version).
    #[error("model {model:?} has no {alias} version")]
    NoAlias {
        /// The model.
        model: String,
        /// The missing alias.
        alias: Alias,
    },
    /// Promoting the version that is already live.
    #[error("version {version} of {model:?} is already live")]
    AlreadyLive {
        /// The model.
        model: String,
        /// The version.
        version: u64,
    },
    /// No signing key is configured, but the operation signs or verifies.
    #[error(
        "no registry key: set `[registry] ed25519_signing_key` (signs; its public key verifies), `[registry] verify_keys` (verifies only), or the HMAC key `[registry] signing_key` / the environment variable {KEY_ENV} (at least {MIN_KEY_BYTES} bytes)"
    )]
    NoKey,
    /// A configured registry key cannot be used.
    #[error("registry key: {0}")]
    BadKey(ArtifactError),
    /// The signing key is too short.
    #[error("the registry signing key must be at least {MIN_KEY_BYTES} bytes long")]
    ShortKey,
    /// An artifact failed verification or could not be sealed.
    #[error("artifact of {model:?} version {version}: {source}")]
    Artifact {
        /// The model.
        model: String,
        /// The version (0 for an artifact being imported).
        version: u64,
        /// What is wrong.
        source: ArtifactError,
    },
    /// A signed artifact that is not the one its record describes (e.g. copied between keys).
    #[error("artifact of {model:?} version {version} does not match its record: {detail}")]
    Mismatch {
        /// The model.
        model: String,
        /// The version.
        version: u64,
        /// What differs.
        detail: String,
    },
    /// A registry record cannot be decoded.
    #[error("corrupt registry record {key}: {detail}")]
    Corrupt {
        /// The store key.
        key: String,
        /// The decoding error.
        detail: String,
    },
}

/// The signing key: `[registry] signing_key` (already resolved and length-checked in `secrets`),
/// else the environment variable [`KEY_ENV`]. `Ok(None)` when neither is set.
pub fn signing_key(secrets: &Secrets) -> Result<Option<SecretString>, RegistryError> {
    if let Some(k) = &secrets.registry_key {
        return Ok(Some(k.clone()));
    }
    match std::env::var(KEY_ENV) {
        Ok(v) if v.is_empty() => Ok(None),
        Ok(v) if v.len() < MIN_KEY_BYTES => Err(RegistryError::ShortKey),
        Ok(v) => Ok(Some(SecretString::from(v))),
        Err(_) => Ok(None),
    }
}

/// What signs and verifies the registry's artifacts: an Ed25519 private key
/// (`[registry] ed25519_signing_key`) or the HMAC key signs; its public key, the
/// `[registry] verify_keys`, and the HMAC key (for format-1 artifacts) verify, minus the
/// `[registry] revoked_key_ids`. `driftd serve` needs only verification keys.
#[derive(Clone, Debug, Default)]
pub struct Keys {
    /// Signs new versions (`None`: this process cannot register or import).
    pub signer: Option<Signer>,
    /// Verifies stored versions.
    pub verifier: Verifier,
}

impl Keys {
    /// The HMAC key alone (format 1), signing and verifying.
    pub fn hmac(key: &SecretString) -> Keys {
        let bytes = key.expose_secret().as_bytes();
        Keys {
            signer: Some(Signer::Hmac(bytes.to_vec())),
            verifier: Verifier::new().with_hmac(bytes),
        }
    }
}

/// The registry's keys from the resolved configuration (see [`Keys`]); the HMAC key from
/// `[registry] signing_key` or [`KEY_ENV`]. Empty when nothing is configured.
pub fn registry_keys(secrets: &Secrets) -> Result<Keys, RegistryError> {
    let hmac = signing_key(secrets)?;
    let mut keys = hmac.as_ref().map(Keys::hmac).unwrap_or_default();
    if let Some(pem) = &secrets.registry_ed25519 {
        let signer =
            Signer::ed25519_from_pem(pem.expose_secret()).map_err(RegistryError::BadKey)?;
        if let Some(public) = signer.verifying_key() {
            keys.verifier = keys.verifier.with_ed25519(public);
        }
        keys.signer = Some(signer);
    }
    for pem in &secrets.registry_verify_keys {
        keys.verifier = keys
            .verifier
            .with_ed25519_pem(pem)
            .map_err(RegistryError::BadKey)?;
    }
    for id in &secrets.registry_revoked_key_ids {
        keys.verifier = keys.verifier.revoke(id).map_err(RegistryError::BadKey)?;
    }
    Ok(keys)
}

/// The model registry over a state store. Cheap to clone when the store is.
#[derive(Clone)]
pub struct Registry<S: StateStore> {
    store: S,
    keys: Keys,
}

impl<S: StateStore> fmt::Debug for Registry<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn corrupt(key: &str, e: impl fmt::Display) -> RegistryError {
    RegistryError::Corrupt {
        key: key.to_owned(),
        detail: e.to_string(),
    }
}

fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    // The registry's own types always serialise (no maps with non-string keys, floats are finite
    // or encoded as null by serde_json's `Value`).
    serde_json::to_vec(v).unwrap_or_else(|e| unreachable!("registry records serialise: {e}"))
}

fn meta_key(model: &str, version: u64) -> String {
    format!("registry/{model}/v/{version}/meta")
}

fn artifact_key(model: &str, version: u64) -> String {
    format!("registry/{model}/v/{version}/artifact")
}

fn aliases_key(model: &str) -> String {
    format!("registry/{model}/aliases")
}

fn next_key(model: &str) -> String {
    format!("registry/{model}/next")
}

impl<S: StateStore> Registry<S> {
    /// A registry over `store`. `key` signs and verifies artifacts; without one, only listing,
    /// showing and alias moves work ([`RegistryError::NoKey`] otherwise).
    pub fn new(store: S, key: Option<SecretString>) -> Result<Self, RegistryError> {
        if key
            .as_ref()
            .is_some_and(|k| k.expose_secret().len() < MIN_KEY_BYTES)
        {
            return Err(RegistryError::ShortKey);
        }
        let keys = key.as_ref().map(Keys::hmac).unwrap_or_default();
        Ok(Registry { store, keys })
    }

    /// A registry over `store` with these keys ([`registry_keys`]).
    pub fn with_keys(store: S, keys: Keys) -> Self {
        Registry { store, keys }
    }

    /// The underlying store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// What signs new versions, or [`RegistryError::NoKey`] when nothing is configured to.
    pub fn signer(&self) -> Result<&Signer, RegistryError> {
        self.keys.signer.as_ref().ok_or(RegistryError::NoKey)
    }

    /// What verifies stored versions, or [`RegistryError::NoKey`] when it holds no key.
    pub fn verifier(&self) -> Result<&Verifier, RegistryError> {
        if self.keys.verifier.is_empty() {
            return Err(RegistryError::NoKey);
        }
        Ok(&self.keys.verifier)
    }

    fn check_name(model: &str) -> Result<(), RegistryError> {
        if valid_model_name(model) {
            Ok(())
        } else {
            Err(RegistryError::InvalidName(model.to_owned()))
        }
    }

    async fn get_json<T: for<'de> Deserialize<'de>>(
        &self,
        key: &str,
    ) -> Result<Option<T>, RegistryError> {
        match self.store.get(key).await? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| corrupt(key, e)),
        }
    }

    /// The names of every model with at least one version, sorted.
    pub async fn list_models(&self) -> Result<Vec<String>, RegistryError> {
        Ok(self
            .get_json::<Vec<String>>(MODELS_KEY)
            .await?
            .unwrap_or_default())
    }

    async fn next_version(&self, model: &str) -> Result<u64, RegistryError> {
        Ok(self.get_json::<u64>(&next_key(model)).await?.unwrap_or(1))
    }

    /// A model's aliases (all unset for a model without versions).
    pub async fn aliases(&self, model: &str) -> Result<Aliases, RegistryError> {
        Self::check_name(model)?;
        Ok(self
            .get_json::<Aliases>(&aliases_key(model))
            .await?
            .unwrap_or_default())
    }

    /// One version's record.
    pub async fn show(&self, model: &str, version: u64) -> Result<VersionRecord, RegistryError> {
        Self::check_name(model)?;
        self.get_json(&meta_key(model, version))
            .await?
            .ok_or_else(|| RegistryError::UnknownVersion {
                model: model.to_owned(),
                version,
            })
    }

    /// Every version's record, oldest first. [`RegistryError::UnknownModel`] when it has none.
    pub async fn versions(&self, model: &str) -> Result<Vec<VersionRecord>, RegistryError> {
        Self::check_name(model)?;
        let next = self.next_version(model).await?;
        let mut out = Vec::new();
        for v in 1..next {
            if let Some(r) = self.get_json(&meta_key(model, v)).await? {
                out.push(r);
            }
        }
        if out.is_empty() {
            return Err(RegistryError::UnknownModel(model.to_owned()));
        }
        Ok(out)
    }

    /// Signs `trained` and stores it as the model's next version (status `registered`; no alias
    /// moves). `parent_version` is the live version at the time. One atomic write: artifact,
    /// record, `next` and the model index.
    pub async fn register(
        &self,
        model: &str,
        trained: &TrainedModel,
        validation: Option<ValidationMetrics>,
        trigger: &str,
    ) -> Result<Registered, RegistryError> {
        Self::check_name(model)?;
        let key = self.signer()?;
        let version = self.next_version(model).await?;
        let mut meta = ArtifactMeta::describe(model, version, trained, now_ms(), trigger);
        meta.validation = validation;
        meta.parent_version = self.aliases(model).await?.live;
        let bytes =
            Artifact::seal_with(trained, key, &meta).map_err(|source| RegistryError::Artifact {
                model: model.to_owned(),
                version,
                source,
            })?;
        self.store_version(meta, bytes, None).await
    }

    async fn store_version(
        &self,
        meta: ArtifactMeta,
        bytes: Vec<u8>,
        imported: Option<ImportSource>,
    ) -> Result<Registered, RegistryError> {
        let model = meta.model.clone();
        let version = meta.version;
        let checksum = Artifact::checksum(&bytes);
        let record = VersionRecord {
            meta,
            checksum: checksum.clone(),
            size_bytes: bytes.len(),
            status: VersionStatus::Registered,
            decisions: Vec::new(),
            imported,
        };
        let mut models: BTreeSet<String> = self.list_models().await?.into_iter().collect();
        models.insert(model.clone());
        let models: Vec<String> = models.into_iter().collect();
        self.store
            .put_all(vec![
                (artifact_key(&model, version), bytes),
                (meta_key(&model, version), to_json(&record)),
                (next_key(&model), to_json(&(version + 1))),
                (MODELS_KEY.to_owned(), to_json(&models)),
            ])
            .await?;
        tracing::info!(model = %model, version, checksum = %checksum, "model version registered");
        Ok(Registered {
            model,
            version,
            checksum,
        })
    }

    /// The stored artifact bytes of a version, verified (signature, and that it is the artifact
    /// its record describes), with the decoded model and metadata.
    async fn verified(
        &self,
        model: &str,
        version: u64,
    ) -> Result<(Vec<u8>, TrainedModel, ArtifactMeta), RegistryError> {
        let key = self.verifier()?;
        let record = self.show(model, version).await?;
        let bytes = self
            .store
            .get(&artifact_key(model, version))
            .await?
            .ok_or_else(|| RegistryError::Mismatch {
                model: model.to_owned(),
                version,
                detail: "the artifact is missing from the store".into(),
            })?;
        let (trained, meta) =
            Artifact::open_with(&bytes, key).map_err(|source| RegistryError::Artifact {
                model: model.to_owned(),
                version,
                source,
            })?;
        let mismatch = |detail: String| RegistryError::Mismatch {
            model: model.to_owned(),
            version,
            detail,
        };
        if meta.model != model || meta.version != version {
            return Err(mismatch(format!(
                "the artifact is {:?} version {}",
                meta.model, meta.version
            )));
        }
        let checksum = Artifact::checksum(&bytes);
        if checksum != record.checksum {
            return Err(mismatch(format!(
                "checksum {checksum}, the record says {}",
                record.checksum
            )));
        }
        Ok((bytes, trained, meta))
    }

    /// Loads a version, verifying its signature. A tampered artifact is an error, never a model.
    pub async fn load(
        &self,
        model: &str,
        version: u64,
    ) -> Result<(TrainedModel, ArtifactMeta), RegistryError> {
        let (_, trained, meta) = self.verified(model, version).await?;
        Ok((trained, meta))
    }

    /// Loads the version an alias points to.
    pub async fn load_alias(
        &self,
        model: &str,
        alias: Alias,
    ) -> Result<(TrainedModel, ArtifactMeta), RegistryError> {
        let version =
            self.aliases(model)
                .await?
                .get(alias)
                .ok_or_else(|| RegistryError::NoAlias {
                    model: model.to_owned(),
                    alias,
                })?;
        self.load(model, version).await
    }

    /// The artifact bytes of a version, verified first (so a tampered artifact never leaves).
    pub async fn export(&self, model: &str, version: u64) -> Result<Vec<u8>, RegistryError> {
        Ok(self.verified(model, version).await?.0)
    }

    /// Verifies an artifact signed with this registry's key and stores its model as the next
    /// version of `model` (re-sealed with this model name and version number, trigger `import`;
    /// the source's name, version and checksum are kept in the record). How a first model gets in.
    pub async fn import(&self, model: &str, bytes: &[u8]) -> Result<Registered, RegistryError> {
        Self::check_name(model)?;
        let key = self.signer()?;
        let (trained, source_meta) =
            Artifact::open_with(bytes, self.verifier()?).map_err(|source| {
                RegistryError::Artifact {
                    model: model.to_owned(),
                    version: 0,
                    source,
                }
            })?;
        let version = self.next_version(model).await?;
        let imported = ImportSource {
            model: source_meta.model.clone(),
            version: source_meta.version,
            checksum: Artifact::checksum(bytes),
        };
        let meta = ArtifactMeta {
            model: model.to_owned(),
            version,
            parent_version: self.aliases(model).await?.live,
            created_ms: now_ms(),
            trigger: IMPORT_TRIGGER.to_owned(),
            ..source_meta
        };
        let sealed = Artifact::seal_with(&trained, key, &meta).map_err(|source| {
            RegistryError::Artifact {
                model: model.to_owned(),
                version,
                source,
            }
        })?;
        self.store_version(meta, sealed, Some(imported)).await
    }

    /// Appends a decision to a version's record (one write).
    pub async fn add_decision(
        &self,
        model: &str,
        version: u64,
        entry: DecisionEntry,
    ) -> Result<(), RegistryError> {
        let mut record = self.show(model, version).await?;
        record.decisions.push(entry);
        self.store
            .put_all(vec![(meta_key(model, version), to_json(&record))])
            .await?;
        Ok(())
    }

    /// Writes new aliases, the status of every version whose alias changed, and `decision` on
    /// its version: one atomic write.
    async fn swap_aliases(
        &self,
        model: &str,
        old: Aliases,
        new: Aliases,
        decision: Option<(u64, DecisionEntry)>,
    ) -> Result<(), RegistryError> {
        let touched: BTreeSet<u64> = [
            old.live,
            old.candidate,
            old.previous,
            new.live,
            new.candidate,
            new.previous,
        ]
        .into_iter()
        .flatten()
        .chain(decision.as_ref().map(|d| d.0))
        .collect();
        let mut entries = vec![(aliases_key(model), to_json(&new))];
        let mut decision = decision;
        for v in touched {
            let Some(mut record) = self.get_json::<VersionRecord>(&meta_key(model, v)).await?
            else {
                continue;
            };
            let status = new.status_of(v, record.status);
            let mut changed = status != record.status;
            record.status = status;
            if let Some((_, entry)) = decision.take_if(|d| d.0 == v) {
                record.decisions.push(entry);
                changed = true;
            }
            if changed {
                entries.push((meta_key(model, v), to_json(&record)));
            }
        }
        self.store.put_all(entries).await?;
        tracing::info!(
            model,
            live = ?new.live,
            candidate = ?new.candidate,
            previous = ?new.previous,
            "model aliases changed"
        );
        Ok(())
    }

    async fn require_version(&self, model: &str, version: u64) -> Result<(), RegistryError> {
        self.show(model, version).await.map(|_| ())
    }

    /// Points `alias` at `version` (or clears it with `None`). One atomic write.
    pub async fn set_alias(
        &self,
        model: &str,
        alias: Alias,
        version: Option<u64>,
    ) -> Result<Aliases, RegistryError> {
        if let Some(v) = version {
            self.require_version(model, v).await?;
        }
        let old = self.aliases(model).await?;
        let mut new = old;
        new.set(alias, version);
        let decision = version.map(|v| {
            (
                v,
                DecisionEntry {
                    at_ms: now_ms(),
                    action: format!("set_alias:{alias}"),
                    note: String::new(),
                    replaced: old.get(alias),
                    record: None,
                    actor: None,
                },
            )
        });
        self.swap_aliases(model, old, new, decision).await?;
        Ok(new)
    }

    /// Makes `version` live: the old live version becomes `previous`, and the candidate alias is
    /// cleared if it pointed at `version`. The decision (with `note`, the shadow gate's `record`,
    /// if any, and the `actor` who decided by hand) goes on the version's record in the same
    /// atomic write.
    pub async fn promote(
        &self,
        model: &str,
        version: u64,
        note: &str,
        record: Option<DecisionRecord>,
        actor: Option<&str>,
    ) -> Result<Aliases, RegistryError> {
        self.require_version(model, version).await?;
        let old = self.aliases(model).await?;
        if old.live == Some(version) {
            return Err(RegistryError::AlreadyLive {
                model: model.to_owned(),
                version,
            });
        }
        let new = Aliases {
            live: Some(version),
            candidate: old.candidate.filter(|&c| c != version),
            previous: old.live.or(old.previous.filter(|&p| p != version)),
        };
        let entry = DecisionEntry {
            at_ms: now_ms(),
            action: "promote".into(),
            note: note.to_owned(),
            replaced: old.live,
            record,
            actor: actor.map(str::to_owned),
        };
        self.swap_aliases(model, old, new, Some((version, entry)))
            .await?;
        Ok(new)
    }

    /// Swaps `live` and `previous` (the decision, with `note` and `actor`, goes on the version
    /// that becomes live).
    /// [`RegistryError::NoAlias`] without a previous version.
    pub async fn rollback(
        &self,
        model: &str,
        note: &str,
        actor: Option<&str>,
    ) -> Result<Aliases, RegistryError> {
        let old = self.aliases(model).await?;
        let target = old.previous.ok_or_else(|| RegistryError::NoAlias {
            model: model.to_owned(),
            alias: Alias::Previous,
        })?;
        let new = Aliases {
            live: Some(target),
            candidate: old.candidate.filter(|&c| c != target),
            previous: old.live,
        };
        let entry = DecisionEntry {
            at_ms: now_ms(),
            action: "rollback".into(),
            note: note.to_owned(),
            replaced: old.live,
            record: None,
            actor: actor.map(str::to_owned),
        };
        self.swap_aliases(model, old, new, Some((target, entry)))
            .await?;
        Ok(new)
    }
}

#[cfg(test)]
mod tests;
