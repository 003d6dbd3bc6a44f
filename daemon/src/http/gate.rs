//! The one gate in front of every route of `driftd run`'s HTTP server and of `driftd serve`:
//! limits, authentication, roles and the audit log, as a route layer (before the body is read).
//!
//! For each request, in this order:
//!
//! 1. a slot of the server's concurrency limit (`max_concurrent`), else 429;
//! 2. the bearer token, looked up by digest in constant time
//!    ([`Tokens::authenticate`](crate::contract::access::Tokens::authenticate)). A valid token
//!    passes its own rate and concurrency limits, anything else the shared anonymous bucket
//!    (see [`super::limit`]), else 429 with `Retry-After`;
//! 3. the route's [`Need`]: open routes let everyone in; otherwise no or an unknown token is
//!    **401**, a valid token whose role does not grant the need is **403**;
//! 4. the handler, with the [`Caller`] in the request's extensions;
//! 5. for every request that is not a `GET`/`HEAD`/`OPTIONS` and came with a valid token, an
//!    audit line on the tracing target `driftd::audit` (token name, role, method, path, status;
//!    never the token), whatever the outcome (403s and 429s included).

use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

use crate::contract::access::{Caller, Role, Tokens};
use crate::contract::settings::Secrets;
use crate::http::ApiError;
use crate::http::limit::{Limiter, Limits};

/// The tracing target of audit lines.
pub const AUDIT_TARGET: &str = "driftd::audit";

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing: health, readiness, an open `/metrics` (still limited as anonymous requests).
    Open,
    /// A token whose role grants this one.
    Role(Role),
    /// `read` for `GET` and `HEAD`, `operator` for anything else (the admin API's alerting and
    /// retraining routes).
    ReadOrOperate,
}

impl Need {
    /// The role a request with `method` needs, if any.
    pub fn role(self, method: &Method) -> Option<Role> {
        match self {
            Need::Open => None,
            Need::Role(r) => Some(r),
            Need::ReadOrOperate if method == Method::GET || method == Method::HEAD => {
                Some(Role::Read)
            }
            Need::ReadOrOperate => Some(Role::Operator),
        }
    }
}

/// One server's gate: its tokens (swapped on SIGHUP with the secrets) and its limiters.
#[derive(Clone)]
pub struct Gate {
    inner: Arc<Inner>,
}

struct Inner {
    secrets: Arc<ArcSwap<Secrets>>,
    tokens: fn(&Secrets) -> &Tokens,
    limiter: Limiter,
}

impl Gate {
    /// A gate checking the tokens `tokens` picks out of `secrets` (e.g. `|s| &s.http_tokens`),
    /// under `limits`.
    pub fn new(
        secrets: Arc<ArcSwap<Secrets>>,
        tokens: fn(&Secrets) -> &Tokens,
        limits: Limits,
    ) -> Gate {
        Gate {
            inner: Arc::new(Inner {
                secrets,
                tokens,
                limiter: Limiter::new(limits),
            }),
        }
    }

    /// `router`'s routes behind this gate, each needing `need`.
    pub fn protect<S: Clone + Send + Sync + 'static>(
        &self,
        router: Router<S>,
        need: Need,
    ) -> Router<S> {
        router.route_layer(middleware::from_fn_with_state((self.clone(), need), guard))
    }

    /// Who `headers`' bearer token belongs to, if anyone.
    fn caller(&self, headers: &HeaderMap) -> Option<Caller> {
        let token = bearer(headers)?;
        (self.inner.tokens)(&self.inner.secrets.load()).authenticate(token)
    }
}

/// The token of an `Authorization: Bearer TOKEN` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

async fn guard(State((gate, need)): State<(Gate, Need)>, mut req: Request, next: Next) -> Response {
    let limiter = &gate.inner.limiter;
    let mut permit = match limiter.enter() {
        Ok(p) => p,
        Err(r) => return ApiError::TooManyRequests(r.retry_after_secs()).into_response(),
    };
    let caller = gate.caller(req.headers());
    let passed = match &caller {
        Some(c) => limiter.token(&c.name, &mut permit),
        None => limiter.anonymous(),
    };
    let outcome = match (passed, need.role(req.method()), &caller) {
        (Err(r), _, _) => Err(ApiError::TooManyRequests(r.retry_after_secs())),
        (Ok(()), None, _) => Ok(()),
        (Ok(()), Some(_), None) => Err(ApiError::Unauthorized),
        (Ok(()), Some(needed), Some(c)) if !c.role.grants(needed) => {
            Err(ApiError::Forbidden(format!(
                "the token {:?} has the role {:?}; this request needs {:?}",
                c.name,
                c.role.as_str(),
                needed.as_str()
            )))
        }
        (Ok(()), Some(_), Some(_)) => Ok(()),
    };
    let audited = caller
        .clone()
        .filter(|_| !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS));
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let resp = match outcome {
        Ok(()) => {
            if let Some(c) = caller {
                req.extensions_mut().insert(c);
            }
            next.run(req).await
        }
        Err(e) => e.into_response(),
    };
    drop(permit);
    if let Some(c) = audited {
        tracing::info!(
            target: AUDIT_TARGET,
            token = %c.name,
            role = %c.role,
            method = %method,
            path = %path,
            status = resp.status().as_u16(),
            "audit"
        );
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admin_apis_reads_need_read_and_its_writes_operator() {
        assert_eq!(Need::ReadOrOperate.role(&Method::GET), Some(Role::Read));
        assert_eq!(Need::ReadOrOperate.role(&Method::HEAD), Some(Role::Read));
        for m in [Method::POST, Method::DELETE, Method::PUT, Method::PATCH] {
            assert_eq!(Need::ReadOrOperate.role(&m), Some(Role::Operator), "{m}");
        }
        assert_eq!(Need::Open.role(&Method::POST), None);
        assert_eq!(
            Need::Role(Role::Admin).role(&Method::GET),
            Some(Role::Admin)
        );
    }

    #[test]
    fn only_a_well_formed_bearer_header_yields_a_token() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer  tok ".parse().unwrap());
        assert_eq!(bearer(&h), Some("tok"));
    }
}
