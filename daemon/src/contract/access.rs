//! Who may do what over HTTP: roles, named bearer tokens and the one constant-time lookup.
//!
//! A token is configured with a name (logged in audit lines and recorded as the actor of registry
//! decisions; never the secret) and one [`Role`]. Tokens are kept as SHA-256 digests next to their
//! secret: a presented token is hashed once and its digest compared with **every** stored digest
//! in constant time (`subtle`), without an early exit, so neither the position of a match nor the
//! length of a stored token leaks through timing (digests all have 32 bytes).
//!
//! Roles, and what each grants ([`Role::grants`]):
//!
//! | role | may |
//! |---|---|
//! | `feedback` | `POST /v1/feedback` |
//! | `read` | the admin API's `GET`s (alerts, silences, inhibitions, models, retraining, registry); `/metrics` when `metrics_role = "read"` |
//! | `operator` | what `read` may, and silences, inhibitions, retrain requests |
//! | `admin` | what `operator` may, and promotions, rollbacks (registry writes) |
//! | `predict` | `driftd serve`'s `POST /v1/models/{model}/predict` |
//!
//! `feedback` and `predict` stand alone: an admin token cannot post labels or ask for predictions,
//! so a client's token never needs more than its job.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

/// Shortest accepted token, in characters.
pub const MIN_TOKEN_LEN: usize = 16;

/// What a token may do. See the [module documentation](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Post feedback (labels).
    Feedback,
    /// Read the admin API (and `/metrics` when it is protected).
    Read,
    /// Read, and change silences and inhibitions, request retrains.
    Operator,
    /// Operate, and promote or roll back models.
    Admin,
    /// Ask `driftd serve` for predictions.
    Predict,
}

impl Role {
    /// Every role, in the order of the table above.
    pub const ALL: [Role; 5] = [
        Role::Feedback,
        Role::Read,
        Role::Operator,
        Role::Admin,
        Role::Predict,
    ];

    /// The role's name in the config and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Feedback => "feedback",
            Role::Read => "read",
            Role::Operator => "operator",
            Role::Admin => "admin",
            Role::Predict => "predict",
        }
    }

    /// Whether a token of this role may do what `needed` may: itself, and for `admin` also
    /// `operator` and `read`, for `operator` also `read`.
    pub fn grants(self, needed: Role) -> bool {
        self == needed
            || matches!(
                (self, needed),
                (Role::Admin, Role::Operator | Role::Read) | (Role::Operator, Role::Read)
            )
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A resolved token: its name, role, secret and the secret's digest.
#[derive(Clone)]
pub struct NamedToken {
    /// The token's name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// The secret itself (for clients such as `driftd models retrain`; never logged).
    pub secret: SecretString,
    digest: [u8; 32],
}

impl fmt::Debug for NamedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamedToken")
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Who a request authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's name.
    pub name: String,
    /// The token's role.
    pub role: Role,
}

/// The tokens of one server (`driftd run`'s HTTP or `driftd serve`).
#[derive(Clone, Default, Debug)]
pub struct Tokens {
    tokens: Vec<NamedToken>,
}

impl Tokens {
    /// The token whose secret is `presented`, compared by digest in constant time over every token
    /// (no early exit; the time does not depend on where, or whether, the token matches).
    pub fn authenticate(&self, presented: &str) -> Option<Caller> {
        let digest = digest(presented);
        let mut found = subtle::Choice::from(0);
        let mut index = 0u64;
        for (i, t) in self.tokens.iter().enumerate() {
            let hit = t.digest.ct_eq(&digest);
            index.conditional_assign(&(i as u64), hit);
            found |= hit;
        }
        let found: bool = found.into();
        found.then(|| {
            let t = &self.tokens[index as usize];
            Caller {
                name: t.name.clone(),
                role: t.role,
            }
        })
    }

    /// Every token, in config order (named ones first, then the legacy lists).
    pub fn iter(&self) -> impl Iterator<Item = &NamedToken> {
        self.tokens.iter()
    }

    /// Whether there is no token at all.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Whether some token grants `role`.
    pub fn any_grants(&self, role: Role) -> bool {
        self.tokens.iter().any(|t| t.role.grants(role))
    }

    /// Adds a token. The config's tokens come through
    /// [`resolve_tokens`](crate::contract::settings::resolve_tokens), which checks them first.
    pub fn push(&mut self, name: &str, role: Role, secret: SecretString) {
        let digest = digest(secret.expose_secret());
        self.tokens.push(NamedToken {
            name: name.to_owned(),
            role,
            secret,
            digest,
        });
    }
}

/// SHA-256 of a token.
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Whether `name` is a valid token name: 1 to 64 characters of `[A-Za-z0-9_.:-]`.
pub fn valid_token_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::settings::{Legacy, SecretSpec, TokenConfig, resolve_tokens};

    fn spec(v: &str) -> SecretSpec {
        SecretSpec {
            value: Some(v.into()),
            ..SecretSpec::default()
        }
    }

    fn named(name: &str, role: Role, v: &str) -> TokenConfig {
        TokenConfig {
            name: name.into(),
            role,
            token: spec(v),
        }
    }

    #[test]
    fn admin_implies_operator_and_read_operator_implies_read_and_nothing_else() {
        use Role::*;
        let mut granted = Vec::new();
        for have in Role::ALL {
            for need in Role::ALL {
                if have.grants(need) {
                    granted.push((have.as_str(), need.as_str()));
                }
            }
        }
        assert_eq!(
            granted,
            [
                ("feedback", "feedback"),
                ("read", "read"),
                ("operator", "read"),
                ("operator", "operator"),
                ("admin", "read"),
                ("admin", "operator"),
                ("admin", "admin"),
                ("predict", "predict"),
            ]
        );
        assert!(!Admin.grants(Feedback) && !Admin.grants(Predict) && !Read.grants(Operator));
    }

    #[test]
    fn authentication_finds_the_token_and_nothing_near_it() {
        let mut t = Tokens::default();
        t.push("ci", Role::Operator, "operator-token-0123456789".into());
        t.push("boss", Role::Admin, "admin-token-0123456789ab".into());
        let caller = t.authenticate("admin-token-0123456789ab").unwrap();
        assert_eq!(
            caller,
            Caller {
                name: "boss".into(),
                role: Role::Admin
            }
        );
        assert_eq!(
            t.authenticate("operator-token-0123456789").unwrap().name,
            "ci"
        );
        for near in [
            "admin-token-0123456789aB",  // one character off
            "admin-token-0123456789a",   // one shorter
            "admin-token-0123456789abc", // one longer
            "",
            " admin-token-0123456789ab",
        ] {
            assert_eq!(t.authenticate(near), None, "{near:?}");
        }
        assert_eq!(Tokens::default().authenticate(""), None);
    }

    #[test]
    fn named_and_legacy_tokens_resolve_with_their_names_and_roles() {
        let mut e = Vec::new();
        let mut out = Tokens::default();
        let fb = [spec("legacy-feedback-0123456789")];
        let adm = [spec("legacy-admin-0123456789")];
        resolve_tokens(
            &mut e,
            "http",
            &[named("ci", Role::Operator, "ci-token-0123456789")],
            &[
                Legacy {
                    key: "feedback_tokens",
                    role: Role::Feedback,
                    specs: &fb,
                },
                Legacy {
                    key: "admin_tokens",
                    role: Role::Admin,
                    specs: &adm,
                },
            ],
            &[Role::Feedback, Role::Read, Role::Operator, Role::Admin],
            &mut out,
        );
        assert!(e.is_empty(), "{e:?}");
        let got: Vec<(&str, Role)> = out.iter().map(|t| (t.name.as_str(), t.role)).collect();
        assert_eq!(
            got,
            [
                ("ci", Role::Operator),
                ("feedback_tokens.0", Role::Feedback),
                ("admin_tokens.0", Role::Admin)
            ]
        );
        assert_eq!(
            out.authenticate("legacy-admin-0123456789").unwrap().name,
            "admin_tokens.0"
        );
        assert!(out.any_grants(Role::Read) && !out.any_grants(Role::Predict));
    }

    #[test]
    fn bad_tokens_are_refused_with_their_key_paths() {
        let mut e = Vec::new();
        let mut out = Tokens::default();
        let fb = [spec("same-secret-0123456789"), spec("short")];
        resolve_tokens(
            &mut e,
            "http",
            &[
                named("ci", Role::Operator, "ci-token-0123456789"),
                named("ci", Role::Read, "another-token-0123456789"),
                named("bad name!", Role::Read, "third-token-0123456789"),
                named("p", Role::Predict, "predict-token-0123456789"),
                named("short", Role::Read, "fifteen-chars-x"),
                named("twin", Role::Read, "same-secret-0123456789"),
                TokenConfig {
                    name: "unset".into(),
                    role: Role::Read,
                    token: SecretSpec {
                        env: Some("DRIFTD_SURELY_UNSET_TOKEN_VARIABLE".into()),
                        ..SecretSpec::default()
                    },
                },
            ],
            &[Legacy {
                key: "feedback_tokens",
                role: Role::Feedback,
                specs: &fb,
            }],
            &[Role::Feedback, Role::Read, Role::Operator, Role::Admin],
            &mut out,
        );
        let paths: Vec<&str> = e.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "http.tokens.1.name",
                "http.tokens.2.name",
                "http.tokens.3.role",
                "http.tokens.4.token",
                "http.tokens.6.token",
                "http.feedback_tokens.0",
                "http.feedback_tokens.1",
            ],
            "{e:?}"
        );
        assert!(e[0].message.contains("already the name of http.tokens.0"));
        assert!(e[2].message.contains("\"predict\" has no use here"));
        assert!(e[3].message.contains("at least 16 characters"));
        assert!(e[4].message.contains("DRIFTD_SURELY_UNSET_TOKEN_VARIABLE"));
        assert!(
            e[5].message
                .contains("the same secret as http.tokens.5.token")
        );
        // No message quotes a secret.
        for m in &e {
            assert!(!m.message.contains("0123456789"), "{m}");
        }
        let names: Vec<&str> = out.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["ci", "twin"]);
    }

    #[test]
    fn the_roles_parse_from_their_config_names_and_nothing_else() {
        for r in Role::ALL {
            let v: Role = serde_json::from_value(serde_json::json!(r.as_str())).unwrap();
            assert_eq!(v, r);
        }
        assert!(serde_json::from_value::<Role>(serde_json::json!("root")).is_err());
    }
}
