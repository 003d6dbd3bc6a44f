//! Rate and concurrency limits of the HTTP servers (`[http.limits]` of `driftd run`,
//! `[serve.limits]` of `driftd serve`).
//!
//! Every request first takes one of `max_concurrent` slots of its server. A request with a valid
//! token then passes its token's rate limit (`per_token_rate` per second, bursts of
//! `per_token_burst`) and takes one of `per_token_concurrent` slots of its token; any other
//! request (no token, an unknown token, an open route such as `/healthz`) passes one rate limit
//! shared by all of them (`anonymous_rate`, `anonymous_burst`), so guessing tokens is slow too. A
//! refused request is answered `429 Too Many Requests` with `Retry-After` (whole seconds: the
//! limiter's wait until a request would pass, rounded up; 1 for a full concurrency limit) and is
//! **not acknowledged**: limits are checked before the body is read, so a 429 on
//! `POST /v1/feedback` means no item of it was taken.
//!
//! Rate limits are GCRA buckets from `governor` (a well-kept crate, also behind tower-governor),
//! keyed by token name; concurrency limits are tokio semaphores taken without waiting. `0` turns a
//! limit off. Limits are read at start; a change needs a restart.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::contract::settings::{ConfigError, err};

/// `[http.limits]`, `[serve.limits]`: each field falls back to its server's default
/// ([`Limits::RUN`], [`Limits::SERVE`]); `0` turns a limit off.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Requests per second per token.
    pub per_token_rate: Option<u32>,
    /// Requests a token may send at once above its rate (the bucket's size).
    pub per_token_burst: Option<u32>,
    /// Requests of one token in progress at once.
    pub per_token_concurrent: Option<u32>,
    /// Requests per second without a valid token, all together (open routes included).
    pub anonymous_rate: Option<u32>,
    /// The anonymous bucket's size.
    pub anonymous_burst: Option<u32>,
    /// Requests in progress at once on the server, all together.
    pub max_concurrent: Option<u32>,
}

/// Limits in force (a [`LimitsConfig`] over its server's defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Requests per second per token (0: off).
    pub per_token_rate: u32,
    /// A token's bucket size.
    pub per_token_burst: u32,
    /// Requests of one token in progress at once (0: off).
    pub per_token_concurrent: u32,
    /// Requests per second without a valid token (0: off).
    pub anonymous_rate: u32,
    /// The anonymous bucket's size.
    pub anonymous_burst: u32,
    /// Requests in progress at once (0: off).
    pub max_concurrent: u32,
}

impl Limits {
    /// `driftd run`'s defaults: far above what one feedback client or operator sends (a feedback
    /// request carries up to `max_batch_items` labels), low enough that one runaway client cannot
    /// take every slot (64 of 1,024) or hammer the pipeline.
    pub const RUN: Limits = Limits {
        per_token_rate: 1_000,
        per_token_burst: 2_000,
        per_token_concurrent: 64,
        anonymous_rate: 100,
        anonymous_burst: 200,
        max_concurrent: 1_024,
    };

    /// `driftd serve`'s defaults: a predict token often carries a whole front end's traffic
    /// (`scripts/bench_serve.py` measures ~20,000 requests/s on two cores), so its rate limit only
    /// stops a runaway; concurrency keeps one token from taking every slot.
    pub const SERVE: Limits = Limits {
        per_token_rate: 100_000,
        per_token_burst: 100_000,
        per_token_concurrent: 256,
        anonymous_rate: 100,
        anonymous_burst: 200,
        max_concurrent: 1_024,
    };
}

impl LimitsConfig {
    /// The limits in force: each field given, else `defaults`'.
    pub fn resolve(&self, defaults: Limits) -> Limits {
        Limits {
            per_token_rate: self.per_token_rate.unwrap_or(defaults.per_token_rate),
            per_token_burst: self.per_token_burst.unwrap_or(defaults.per_token_burst),
            per_token_concurrent: self
                .per_token_concurrent
                .unwrap_or(defaults.per_token_concurrent),
            anonymous_rate: self.anonymous_rate.unwrap_or(defaults.anonymous_rate),
            anonymous_burst: self.anonymous_burst.unwrap_or(defaults.anonymous_burst),
            max_concurrent: self.max_concurrent.unwrap_or(defaults.max_concurrent),
        }
    }

    /// Records a problem at `path.KEY` for a bucket size of 0 (a rate of 0 turns the limit off;
    /// a bucket of 0 would refuse everything).
    pub fn validate(&self, e: &mut Vec<ConfigError>, path: &str) {
        for (key, v) in [
            ("per_token_burst", self.per_token_burst),
            ("anonymous_burst", self.anonymous_burst),
        ] {
            if v == Some(0) {
                err(
                    e,
                    format!("{path}.{key}"),
                    "must be at least 1 (a rate of 0 turns the limit off)",
                );
            }
        }
    }
}

/// Why a request was refused (429).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Over a rate limit; a request would pass after this wait.
    Rate(Duration),
    /// Every slot of a concurrency limit is taken.
    Busy,
}

impl Refusal {
    /// `Retry-After`, in whole seconds (at least 1).
    pub fn retry_after_secs(self) -> u64 {
        match self {
            Refusal::Rate(wait) => wait.as_secs_f64().ceil().max(1.0) as u64,
            Refusal::Busy => 1,
        }
    }
}

/// Slots a request holds until its response is ready.
#[derive(Debug, Default)]
pub struct Permit {
    _global: Option<OwnedSemaphorePermit>,
    _token: Option<OwnedSemaphorePermit>,
}

/// One server's limiters.
pub struct Limiter {
    limits: Limits,
    per_token: Option<DefaultKeyedRateLimiter<String>>,
    anonymous: Option<DefaultDirectRateLimiter>,
    global: Option<Arc<Semaphore>>,
    /// One semaphore per token name (names are few: the configured tokens).
    token_slots: Mutex<HashMap<String, Arc<Semaphore>>>,
    clock: DefaultClock,
}

fn quota(rate: u32, burst: u32) -> Option<Quota> {
    let rate = NonZeroU32::new(rate)?;
    let burst = NonZeroU32::new(burst).unwrap_or(rate);
    Some(Quota::per_second(rate).allow_burst(burst))
}

impl Limiter {
    /// Limiters for `limits`.
    pub fn new(limits: Limits) -> Limiter {
        Limiter {
            limits,
            per_token: quota(limits.per_token_rate, limits.per_token_burst).map(RateLimiter::keyed),
            anonymous: quota(limits.anonymous_rate, limits.anonymous_burst)
                .map(RateLimiter::direct),
            global: (limits.max_concurrent > 0)
                .then(|| Arc::new(Semaphore::new(limits.max_concurrent as usize))),
            token_slots: Mutex::new(HashMap::new()),
            clock: DefaultClock::default(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Takes a slot of the server's concurrency limit.
    pub fn enter(&self) -> Result<Permit, Refusal> {
        let global = match &self.global {
            Some(s) => Some(s.clone().try_acquire_owned().map_err(|_| Refusal::Busy)?),
            None => None,
        };
        Ok(Permit {
            _global: global,
            _token: None,
        })
    }

    /// Passes the shared bucket of requests without a valid token.
    pub fn anonymous(&self) -> Result<(), Refusal> {
        match &self.anonymous {
            Some(l) => l
                .check()
                .map_err(|n| Refusal::Rate(n.wait_time_from(self.clock.now()))),
            None => Ok(()),
        }
    }

    /// Passes `token`'s rate limit and takes one of its slots into `permit`.
    pub fn token(&self, token: &str, permit: &mut Permit) -> Result<(), Refusal> {
        if let Some(l) = &self.per_token {
            l.check_key(&token.to_owned())
                .map_err(|n| Refusal::Rate(n.wait_time_from(self.clock.now())))?;
        }
        if self.limits.per_token_concurrent > 0 {
            let sem = {
                let mut slots = self
                    .token_slots
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                slots
                    .entry(token.to_owned())
                    .or_insert_with(|| {
                        Arc::new(Semaphore::new(self.limits.per_token_concurrent as usize))
                    })
                    .clone()
            };
            permit._token = Some(sem.try_acquire_owned().map_err(|_| Refusal::Busy)?);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rate: u32, burst: u32, concurrent: u32) -> Limits {
        Limits {
            per_token_rate: rate,
            per_token_burst: burst,
            per_token_concurrent: concurrent,
            anonymous_rate: rate,
            anonymous_burst: burst,
            max_concurrent: concurrent * 2,
        }
    }

    #[test]
    fn a_token_gets_its_burst_then_a_wait_and_other_tokens_are_untouched() {
        let l = Limiter::new(limits(1, 3, 100));
        let mut p = l.enter().unwrap();
        for _ in 0..3 {
            l.token("a", &mut p).unwrap();
            p._token = None;
        }
        let Err(Refusal::Rate(wait)) = l.token("a", &mut p) else {
            panic!("the fourth request within a second must be refused");
        };
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert_eq!(Refusal::Rate(wait).retry_after_secs(), 1);
        assert_eq!(
            Refusal::Rate(Duration::from_millis(2_001)).retry_after_secs(),
            3
        );
        l.token("b", &mut p).unwrap();
    }

    #[test]
    fn concurrency_slots_are_held_by_permits_and_come_back() {
        let l = Limiter::new(limits(0, 1, 2));
        let mut held: Vec<Permit> = Vec::new();
        for _ in 0..2 {
            let mut p = l.enter().unwrap();
            l.token("a", &mut p).unwrap();
            held.push(p);
        }
        let mut p = l.enter().unwrap();
        assert_eq!(l.token("a", &mut p), Err(Refusal::Busy));
        // The server's limit (4): two held, this one, one more; then full.
        let _q = l.enter().unwrap();
        assert!(matches!(l.enter(), Err(Refusal::Busy)));
        held.pop();
        drop(p);
        let mut p = l.enter().unwrap();
        l.token("a", &mut p).unwrap();
    }

    #[test]
    fn zero_turns_limits_off_and_the_anonymous_bucket_is_shared() {
        let off = Limiter::new(limits(0, 1, 0));
        let mut p = off.enter().unwrap();
        for _ in 0..10_000 {
            off.token("a", &mut p).unwrap();
            off.anonymous().unwrap();
        }
        let l = Limiter::new(limits(1, 2, 10));
        l.anonymous().unwrap();
        l.anonymous().unwrap();
        assert!(matches!(l.anonymous(), Err(Refusal::Rate(_))));
    }

    #[test]
    fn config_falls_back_to_the_servers_defaults_and_refuses_empty_buckets() {
        let c = LimitsConfig {
            per_token_rate: Some(5),
            max_concurrent: Some(0),
            ..LimitsConfig::default()
        };
        let r = c.resolve(Limits::RUN);
        assert_eq!(r.per_token_rate, 5);
        assert_eq!(r.max_concurrent, 0);
        assert_eq!(r.per_token_burst, Limits::RUN.per_token_burst);
        assert_eq!(
            LimitsConfig::default().resolve(Limits::SERVE),
            Limits::SERVE
        );
        let mut e = Vec::new();
        LimitsConfig {
            per_token_burst: Some(0),
            anonymous_burst: Some(0),
            ..LimitsConfig::default()
        }
        .validate(&mut e, "http.limits");
        let paths: Vec<&str> = e.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            ["http.limits.per_token_burst", "http.limits.anonymous_burst"]
        );
    }
}
