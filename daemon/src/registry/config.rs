//! `[registry]`: the artifact signing key, and its validation.

use secrecy::ExposeSecret;
use serde::Deserialize;

use driftd_retrain::{Signer, Verifier};

use crate::contract::settings::{ConfigError, SecretSpec, Secrets, err};

/// Shortest accepted signing key, in bytes.
pub const MIN_KEY_BYTES: usize = 32;
/// The environment variable read for the signing key when `[registry] signing_key` is not set.
pub const KEY_ENV: &str = "DRIFTD_REGISTRY_KEY";
/// `[registry]`: the model registry kept in the state store (`registry/mod.rs`).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RegistryConfig {
    /// The HMAC-SHA256 key that signs and verifies model artifacts, at least
    /// [`MIN_KEY_BYTES`] bytes. Without it, the environment variable
    /// `DRIFTD_REGISTRY_KEY` is used; commands that sign or verify fail when neither is set.
    pub signing_key: Option<SecretSpec>,
    /// The Ed25519 private key that signs new versions (PKCS#8 PEM, a secret; `openssl genpkey
    /// -algorithm ed25519`). Its public key also verifies. Takes over signing from `signing_key`,
    /// which then only verifies format-1 artifacts (the migration).
    pub ed25519_signing_key: Option<SecretSpec>,
    /// Ed25519 public keys (SPKI PEM files, `openssl pkey -pubout`) that verify artifacts: what
    /// `driftd serve` needs, and, during a rotation, the old and the new key together.
    pub verify_keys: Vec<std::path::PathBuf>,
    /// Key ids (16 hex digits, as errors and `driftd models` show them) whose artifacts are
    /// refused whatever their signature.
    pub revoked_key_ids: Vec<String>,
}

impl RegistryConfig {
    /// Resolves the signing key and checks its length.
    pub fn validate(&self, e: &mut Vec<ConfigError>, secrets: &mut Secrets) {
        if let Some(spec) = &self.signing_key {
            match spec.resolve() {
                Ok(k) if k.expose_secret().len() < MIN_KEY_BYTES => err(
                    e,
                    "registry.signing_key",
                    format!(
                        "the signing key must be at least {} bytes long",
                        MIN_KEY_BYTES
                    ),
                ),
                Ok(k) => secrets.registry_key = Some(k),
                Err(m) => err(e, "registry.signing_key", m),
            }
        }
        if let Some(spec) = &self.ed25519_signing_key {
            match spec.resolve() {
                Ok(k) => match Signer::ed25519_from_pem(k.expose_secret()) {
                    Ok(_) => secrets.registry_ed25519 = Some(k),
                    Err(x) => err(e, "registry.ed25519_signing_key", x),
                },
                Err(m) => err(e, "registry.ed25519_signing_key", m),
            }
        }
        secrets.registry_verify_keys.clear();
        for (i, path) in self.verify_keys.iter().enumerate() {
            let key = format!("registry.verify_keys[{i}]");
            match std::fs::read_to_string(path) {
                Ok(pem) => match Verifier::new().with_ed25519_pem(&pem) {
                    Ok(_) => secrets.registry_verify_keys.push(pem),
                    Err(x) => err(e, key, format!("{}: {x}", path.display())),
                },
                Err(x) => err(e, key, format!("cannot read {}: {x}", path.display())),
            }
        }
        secrets.registry_revoked_key_ids.clear();
        for (i, id) in self.revoked_key_ids.iter().enumerate() {
            match Verifier::new().revoke(id) {
                Ok(_) => secrets.registry_revoked_key_ids.push(id.clone()),
                Err(x) => err(e, format!("registry.revoked_key_ids[{i}]"), x),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each unusable key is refused with its key path: a private key that is not one, an
    /// unreadable or non-key verification file, a malformed key id; usable ones are resolved.
    #[test]
    fn ed25519_keys_are_checked_with_their_key_paths() {
        use driftd_retrain::ed25519_dalek::SigningKey;
        use driftd_retrain::ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
        use driftd_retrain::ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};

        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::from_bytes(&[7; 32]);
        let public = dir.path().join("k.pub");
        std::fs::write(
            &public,
            key.verifying_key()
                .to_public_key_pem(LineEnding::LF)
                .unwrap(),
        )
        .unwrap();
        let junk = dir.path().join("junk.pub");
        std::fs::write(&junk, "not a key").unwrap();
        let check = |c: RegistryConfig| {
            let (mut e, mut s) = (Vec::new(), Secrets::default());
            c.validate(&mut e, &mut s);
            (e.into_iter().map(|x| x.path).collect::<Vec<_>>(), s)
        };
        let good = RegistryConfig {
            ed25519_signing_key: Some(SecretSpec {
                value: Some(key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string()),
                ..Default::default()
            }),
            verify_keys: vec![public.clone()],
            revoked_key_ids: vec!["0011223344556677".into()],
            ..Default::default()
        };
        let (paths, s) = check(good.clone());
        assert!(paths.is_empty(), "{paths:?}");
        assert!(s.registry_ed25519.is_some());
        assert_eq!(s.registry_verify_keys.len(), 1);
        assert_eq!(s.registry_revoked_key_ids, ["0011223344556677"]);
        let (paths, _) = check(RegistryConfig {
            ed25519_signing_key: Some(SecretSpec {
                value: Some("a password".into()),
                ..Default::default()
            }),
            verify_keys: vec![public, junk, dir.path().join("absent.pub")],
            revoked_key_ids: vec!["00112233".into()],
            ..good
        });
        assert_eq!(
            paths,
            [
                "registry.ed25519_signing_key",
                "registry.verify_keys[1]",
                "registry.verify_keys[2]",
                "registry.revoked_key_ids[0]"
            ]
        );
    }
}
