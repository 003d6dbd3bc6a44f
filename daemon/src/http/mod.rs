//! The HTTP surface: `/healthz`, `/readyz`, `/metrics`, `POST /v1/feedback`, and the admin API:
//! alerts, silences and inhibitions; `GET /v1/models/{model}` (on-demand evaluation);
//! `GET|POST /v1/models/{model}/retrain` (the retraining loop, a manual retrain); and the
//! registry: `GET /v1/registry/{model}`, `GET /v1/registry/{model}/versions/{version}`,
//! `POST /v1/registry/{model}/promote` (`{"version": N}`), `POST /v1/registry/{model}/rollback`.
//!
//! Every route is behind the [`gate`]: limits (429, [`limit`]), then the token's role — `feedback`
//! for feedback, `read` for the admin API's `GET`s, `operator` for its other methods, `admin` for
//! promote and rollback, and `http.metrics_role` (none: open) for `/metrics` — with an audit line
//! for every mutating request. Promotions and rollbacks record the token's name as their actor.
//!
//! [`app`] builds the router from an [`AppState`], so handlers are testable without a socket.
//! Errors are one type, [`ApiError`], mapped to JSON bodies: 4xx with detail, 5xx generic (the
//! cause is logged, never returned).
//!
//! May depend on: contract, telemetry, store, kafka, registry, alert, retraining, intake.

pub mod admin;
pub mod config;
#[cfg(test)]
mod fuzz;
pub mod gate;
pub mod limit;
pub mod openapi;
pub mod review;
pub mod tls;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot};
use utoipa::ToSchema;

use crate::contract::access::Role;
use crate::contract::adapt::{Format, Record, cloudevents};
use crate::contract::event::{EventKind, ParseOptions, RejectReason, Rejection, parse_event};
use crate::contract::settings::Secrets;
use crate::http::admin::*;
use crate::http::gate::{Gate, Need};
use crate::http::limit::Limits;
use crate::intake::policy::ModelPolicy;
use crate::intake::{Control, Health, LocalFeedback};
use crate::kafka::TopicProducer;
use crate::retraining::trainer::Command as TrainerCommand;
use crate::store::AnyStore;
use crate::telemetry::metrics::Metrics;

use crate::alert::task::Command as AlertCommand;

/// A model name as a path parameter: 1 to 128 characters of `[A-Za-z0-9_.:-]` (others are
/// refused with 422 by the registry routes, and are no model's by the others: 404).
pub struct ModelName;

impl utoipa::PartialSchema for ModelName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .pattern(Some(MODEL_NAME_PATTERN))
            .into()
    }
}

impl ToSchema for ModelName {}

/// What [`crate::contract::event::valid_model_name`] accepts, as a regular expression.
pub const MODEL_NAME_PATTERN: &str = "^[A-Za-z0-9_.:-]{1,128}$";

/// Where accepted feedback goes.
#[derive(Clone)]
pub enum FeedbackSink {
    /// To the local pipeline (embedded mode).
    Local(mpsc::Sender<LocalFeedback>),
    /// Produced to the feedback topic, so every instance sees it (Kafka mode).
    Kafka(TopicProducer),
}

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Metrics catalogue.
    pub metrics: Arc<Metrics>,
    /// Readiness flags.
    pub health: Arc<Health>,
    /// Tokens and other secrets; swapped on SIGHUP.
    pub secrets: Arc<ArcSwap<Secrets>>,
    /// Which models are accepted; swapped on SIGHUP.
    pub policy: Arc<ArcSwap<ModelPolicy>>,
    /// Where feedback goes.
    pub feedback: FeedbackSink,
    /// Where KServe's logged inferences go (`POST /v1/kserve`): the local pipeline, or the
    /// topic of `[source.adapter]` in Kafka mode (`None`: no such topic; the route answers 404).
    pub kserve: Option<FeedbackSink>,
    /// Whether `POST /v1/kserve` is open (`[http] kserve_open`): KServe's logger sends no token.
    pub kserve_open: bool,
    /// Experts' claims on review items ([`review`]).
    pub claims: review::SharedClaims,
    /// How long a claim lasts (`[monitor.review] claim_seconds`).
    pub review_claim: Duration,
    /// Event parsing limits.
    pub parse: ParseOptions,
    /// Most items in one batch.
    pub max_batch_items: usize,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Time limit for a request.
    pub request_timeout: Duration,
    /// The alert task, for the admin API (`None` when alerting is disabled).
    pub alerts: Option<mpsc::Sender<AlertCommand>>,
    /// The source task, for on-demand evaluation (`GET /v1/models/{model}`).
    pub control: Option<mpsc::Sender<Control>>,
    /// The trainer, for the retraining API (`None` when no model is retrained).
    pub trainer: Option<mpsc::Sender<TrainerCommand>>,
    /// The state store and signing key, for the registry API.
    pub registry: Option<(AnyStore, crate::registry::Keys)>,
    /// Rate and concurrency limits.
    pub limits: Limits,
    /// The role `/metrics` needs (`None`: open).
    pub metrics_role: Option<Role>,
}

/// One invalid item of a feedback batch.
#[derive(Debug, Serialize, PartialEq, Eq, ToSchema)]
pub struct ItemError {
    /// Position in the batch (0 for a single object).
    pub index: usize,
    /// Machine-readable reason.
    pub reason: String,
    /// What is wrong.
    pub detail: String,
}

/// Every error an HTTP handler returns.
#[derive(Debug)]
pub enum ApiError {
    /// 401: missing or wrong bearer token.
    Unauthorized,
    /// 403: a valid token whose role does not allow the request (what it needs).
    Forbidden(String),
    /// 429: over a rate or concurrency limit; not acknowledged. `Retry-After` in seconds.
    TooManyRequests(u64),
    /// 400: the body is not JSON, or not an object or array of objects.
    BadBody(String),
    /// 400: a path parameter is not what the route takes (e.g. a version that is not a number).
    BadPath(String),
    /// 413: more items than allowed.
    TooManyItems(usize),
    /// 413: the body is larger than the route takes.
    BodyTooLarge,
    /// 422: some items are invalid; none were accepted.
    InvalidItems(Vec<ItemError>),
    /// 503: a task or the sink cannot take the request right now (the cause is logged).
    Unavailable(String),
    /// 404: no such resource (or the feature is disabled).
    NotFound(String),
    /// 422: a well-formed request the daemon refuses (e.g. a silence that has already ended).
    Invalid(String),
    /// 409: the request conflicts with the resource's state (e.g. promoting the live version).
    Conflict(String),
}

/// The body of every error answer (except 408, which has none): a machine-readable code, what is
/// wrong, and for 422 on a batch each invalid item.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// `unauthorized`, `forbidden`, `too_many_requests`, `bad_body`, `bad_path`, `not_found`,
    /// `invalid`, `conflict`, `too_many_items`, `body_too_large`, `invalid_items` or
    /// `unavailable`.
    #[schema(example = "not_found")]
    pub error: &'static str,
    /// What is wrong, for a person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Each invalid item of a batch (`invalid_items` only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<ItemError>,
}

/// The request body as bytes, refused as an [`ApiError`] (JSON like every other error) rather
/// than axum's plain-text rejection: 413 over the route's body limit, 400 for a body that breaks
/// off.
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Bytes::from_request(req, state).await {
            Ok(b) => Ok(Body(b)),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::BodyTooLarge),
            Err(e) => Err(ApiError::BadBody(body_rejection(&e))),
        }
    }
}

fn body_rejection(e: &BytesRejection) -> String {
    format!("the body could not be read: {}", e.body_text())
}

/// Path parameters, refused as an [`ApiError`] (400 `bad_path`, JSON) rather than axum's
/// plain-text rejection: e.g. a version that is not a number, or a segment that is not UTF-8
/// once percent-decoded.
pub struct PathOf<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathOf<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| PathOf(p.0))
            .map_err(|e| ApiError::BadPath(e.body_text()))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error, detail, items) = match self {
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", None, vec![]),
            ApiError::Forbidden(d) => (StatusCode::FORBIDDEN, "forbidden", Some(d), vec![]),
            ApiError::TooManyRequests(secs) => {
                let mut resp = (
                    StatusCode::TOO_MANY_REQUESTS,
                    Json(ErrorBody {
                        error: "too_many_requests",
                        detail: Some(format!(
                            "over a rate or concurrency limit; nothing was accepted; retry after {secs} s"
                        )),
                        items: vec![],
                    }),
                )
                    .into_response();
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                return resp;
            }
            ApiError::BadBody(d) => (StatusCode::BAD_REQUEST, "bad_body", Some(d), vec![]),
            ApiError::BadPath(d) => (StatusCode::BAD_REQUEST, "bad_path", Some(d), vec![]),
            ApiError::BodyTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                Some("the body is larger than this route takes".into()),
                vec![],
            ),
            ApiError::NotFound(d) => (StatusCode::NOT_FOUND, "not_found", Some(d), vec![]),
            ApiError::Invalid(d) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some(d), vec![]),
            ApiError::Conflict(d) => (StatusCode::CONFLICT, "conflict", Some(d), vec![]),
            ApiError::TooManyItems(max) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_many_items",
                Some(format!("at most {max} items per request")),
                vec![],
            ),
            ApiError::InvalidItems(items) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_items",
                Some("no item was accepted; fix the listed items and resend".into()),
                items,
            ),
            ApiError::Unavailable(cause) => {
                tracing::warn!(%cause, "a request could not be served");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    Some("the request cannot be served right now; retry later".into()),
                    vec![],
                )
            }
        };
        let mut resp = (
            status,
            Json(ErrorBody {
                error,
                detail,
                items,
            }),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

/// The router: every route behind the [`gate`] with what it needs.
pub fn app(state: AppState) -> Router {
    let gate = Gate::new(state.secrets.clone(), |s| &s.http_tokens, state.limits);
    let admin = Router::new()
        .route("/v1/alerts", get(get_alerts))
        .route("/v1/silences", get(get_silences).post(post_silence))
        .route("/v1/silences/{id}", axum::routing::delete(delete_silence))
        .route("/v1/models/{model}", get(get_model))
        .route("/v1/models/{model}/report", get(get_report))
        .route(
            "/v1/models/{model}/retrain",
            get(get_retrain).post(post_retrain),
        )
        .route("/v1/registry/{model}", get(get_versions))
        .route("/v1/registry/{model}/versions/{version}", get(get_version))
        .route("/v1/inhibitions", get(get_inhibitions).post(post_inhibit))
        .route(
            "/v1/inhibitions/{id}",
            axum::routing::delete(delete_inhibit),
        );
    let admin = gate
        .protect(admin, Need::ReadOrOperate)
        .layer(DefaultBodyLimit::max(64 * 1024));
    let registry_writes = Router::new()
        .route("/v1/registry/{model}/promote", post(post_promote))
        .route("/v1/registry/{model}/rollback", post(post_rollback));
    let registry_writes = gate
        .protect(registry_writes, Need::Role(Role::Admin))
        .layer(DefaultBodyLimit::max(64 * 1024));
    let feedback = Router::new()
        .route("/v1/feedback", post(post_feedback))
        .route("/v1/review", get(review::get_models))
        .route("/v1/models/{model}/review", get(review::get_review))
        .route(
            "/v1/models/{model}/review/{id}/release",
            post(review::post_release),
        );
    let feedback = gate
        .protect(feedback, Need::Role(Role::Feedback))
        .layer(DefaultBodyLimit::max(state.max_body_bytes));
    let kserve = Router::new().route("/v1/kserve", post(post_kserve));
    let kserve_need = if state.kserve_open {
        Need::Open
    } else {
        Need::Role(Role::Feedback)
    };
    let kserve = gate
        .protect(kserve, kserve_need)
        .layer(DefaultBodyLimit::max(state.max_body_bytes));
    let open = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(openapi::run_json))
        .route("/review", get(review::get_page));
    let metrics_route = Router::new().route("/metrics", get(metrics));
    let metrics_need = state.metrics_role.map_or(Need::Open, Need::Role);
    gate.protect(open, Need::Open)
        .merge(gate.protect(metrics_route, metrics_need))
        .merge(feedback)
        .merge(kserve)
        .merge(admin)
        .merge(registry_writes)
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            state.request_timeout,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .with_state(state)
}

async fn count_requests(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let resp = next.run(req).await;
    s.metrics
        .http_requests
        .with_label_values(&[route.as_str(), resp.status().as_str()])
        .inc();
    resp
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "Alive", body = String, content_type = "text/plain")))]
async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness and what it is made of.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// Ready to take traffic: started, source and state store up, not shutting down.
    pub ready: bool,
    /// The event source is connected.
    pub source: bool,
    /// The state store is reachable.
    pub state_store: bool,
    /// The daemon has finished starting.
    pub started: bool,
    /// A shutdown has begun.
    pub shutting_down: bool,
}

/// Readiness: 200 when ready, else 503, with the flags either way.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready (starting, a dependency down, or shutting down)", body = Readiness),
    ))]
async fn readyz(State(s): State<AppState>) -> Response {
    let h = &s.health;
    let body = Readiness {
        ready: h.ready(),
        source: h.source_up.load(Ordering::Relaxed),
        state_store: h.store_up.load(Ordering::Relaxed),
        started: h.started.load(Ordering::Relaxed),
        shutting_down: h.shutting_down.load(Ordering::Relaxed),
    };
    let status = if body.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// Prometheus metrics, text exposition format 0.0.4.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "The metrics", body = String,
        content_type = "text/plain; version=0.0.4; charset=utf-8")),
    security((), ("bearer" = [])))]
async fn metrics(State(s): State<AppState>) -> Response {
    s.metrics.ready.set(i64::from(s.health.ready()));
    metrics_text(s.metrics.render())
}

/// The Prometheus text answer (both servers).
pub fn metrics_text(body: String) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// Validates a feedback body (one object or an array of objects) and returns each item as a
/// complete feedback event, its `source` set to `source` (the caller) where it gives none.
/// All-or-nothing: any invalid item fails the whole request.
pub fn validate_feedback(
    body: &[u8],
    parse: &ParseOptions,
    policy: &ModelPolicy,
    max_items: usize,
    source: Option<&str>,
) -> Result<Vec<Vec<u8>>, ApiError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace()).copied();
    let raw_items: Vec<&RawValue> = match first {
        Some(b'[') => serde_json::from_slice(body)
            .map_err(|e| ApiError::BadBody(format!("not a JSON array of objects: {e}")))?,
        Some(b'{') => vec![
            serde_json::from_slice(body)
                .map_err(|e| ApiError::BadBody(format!("not a JSON object: {e}")))?,
        ],
        _ => {
            return Err(ApiError::BadBody(
                "expected a feedback object or an array of them".into(),
            ));
        }
    };
    if raw_items.is_empty() {
        return Err(ApiError::BadBody("the batch is empty".into()));
    }
    if raw_items.len() > max_items {
        return Err(ApiError::TooManyItems(max_items));
    }
    let mut errors = Vec::new();
    let mut out = Vec::with_capacity(raw_items.len());
    let opts = ParseOptions {
        default_kind: Some(EventKind::Feedback),
        ..*parse
    };
    for (index, raw) in raw_items.iter().enumerate() {
        let bytes = raw.get().as_bytes();
        let checked = parse_event(bytes, &opts).and_then(|ev| {
            if ev.kind() != EventKind::Feedback {
                return Err(Rejection::new(
                    RejectReason::UnknownKind,
                    "only feedback events can be posted here",
                ));
            }
            policy.check(&ev.model)?;
            Ok(())
        });
        match checked {
            Ok(()) => out.push(complete_feedback(bytes, source)),
            Err(r) => errors.push(ItemError {
                index,
                reason: r.reason.as_str().to_owned(),
                detail: r.detail,
            }),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ApiError::InvalidItems(errors))
    }
}

/// Makes `kind` explicit, so the item is a complete event wherever it goes next (an absent or
/// `null` kind is taken as feedback here, but the pipeline parses without that default: found by
/// `http::fuzz`, an item with `"kind": null` was acknowledged and then dead-lettered); and sets
/// `source` (who labelled it: the caller's token name) when the item gives none. One parse.
fn complete_feedback(obj: &[u8], source: Option<&str>) -> Vec<u8> {
    let Ok(mut m) = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(obj)
    else {
        return obj.to_vec();
    };
    let absent = |m: &serde_json::Map<String, serde_json::Value>, k: &str| {
        m.get(k).is_none_or(serde_json::Value::is_null)
    };
    let mut changed = false;
    if absent(&m, "kind") {
        m.insert("kind".into(), serde_json::Value::from("feedback"));
        changed = true;
    }
    if let Some(name) = source.filter(|_| absent(&m, "source")) {
        m.insert("source".into(), serde_json::Value::from(name));
        changed = true;
    }
    if changed {
        serde_json::to_vec(&m).unwrap_or_else(|_| obj.to_vec())
    } else {
        obj.to_vec()
    }
}

/// The answer to accepted feedback.
#[derive(Serialize, ToSchema)]
pub struct Accepted {
    /// How many items were taken (all of them).
    pub accepted: usize,
}

/// Posts labels: one feedback object or an array of them, all or nothing; 202 once durable.
#[utoipa::path(post, path = "/v1/feedback", tag = "feedback",
    request_body(content = openapi::FeedbackBody, content_type = "application/json"),
    responses(
        (status = 202, description = "Every item was taken and is durable", body = Accepted),
        (status = 400, description = "Not a JSON object or a non-empty array of objects", body = ErrorBody),
        (status = 413, description = "Over `http.max_body_bytes`, or more than `http.max_batch_items` items", body = ErrorBody),
        (status = 422, description = "Some items are invalid; none was taken", body = ErrorBody),
        (status = 503, description = "The pipeline or the feedback topic cannot take it now", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn post_feedback(
    State(s): State<AppState>,
    caller: Option<axum::extract::Extension<crate::contract::access::Caller>>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    // Who labelled it: the token's name, unless the item says.
    let source = caller.as_ref().map(|c| c.name.as_str());
    let items =
        match validate_feedback(&body, &s.parse, &s.policy.load(), s.max_batch_items, source) {
            Ok(items) => items,
            Err(e) => {
                let n = match &e {
                    ApiError::InvalidItems(items) => items.len() as u64,
                    _ => 1,
                };
                s.metrics
                    .feedback_http_items
                    .with_label_values(&["rejected"])
                    .inc_by(n);
                return Err(e);
            }
        };
    let n = items.len();
    deliver(&s, &s.feedback, items, Format::DriftdV1).await?;
    s.metrics
        .feedback_http_items
        .with_label_values(&["accepted"])
        .inc_by(n as u64);
    Ok((StatusCode::ACCEPTED, Json(Accepted { accepted: n })).into_response())
}

/// Takes one inference half from KServe's payload logger (`spec.predictor.logger.url`): a
/// CloudEvent in binary mode (`Ce-*` headers, the logged body as is) or structured mode; 202 once
/// durable. The request and the response of an inference are joined by the pipeline (see
/// [`crate::contract::adapt`]).
#[utoipa::path(post, path = "/v1/kserve", tag = "feedback",
    request_body(content = Object, content_type = "application/json", description = "The logged request or response body (binary mode, with Ce-Id, Ce-Type, Ce-Time, Ce-Inferenceservicename headers), or a structured-mode CloudEvent (application/cloudevents+json)"),
    responses(
        (status = 202, description = "Taken and durable", body = Accepted),
        (status = 404, description = "Kafka mode without `[source.adapter] format = \"kserve-cloudevents\"`", body = ErrorBody),
        (status = 413, description = "Over `http.max_body_bytes`", body = ErrorBody),
        (status = 422, description = "Not a KServe inference CloudEvent (the reason says why)", body = ErrorBody),
        (status = 503, description = "The pipeline or the topic cannot take it now", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn post_kserve(
    State(s): State<AppState>,
    headers: axum::http::HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let Some(sink) = &s.kserve else {
        return Err(ApiError::NotFound(
            "KServe logs go to Kafka here: set [source.adapter] format = \"kserve-cloudevents\" with a topic".into(),
        ));
    };
    let rec = Record {
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.as_bytes().to_vec()))
            .collect(),
        body: body.to_vec(),
        ..Record::default()
    };
    let line =
        cloudevents::to_structured(&rec, chrono::Utc::now().timestamp_millis()).map_err(|r| {
            s.metrics
                .rejected
                .with_label_values(&[r.reason.as_str()])
                .inc();
            ApiError::Invalid(r.to_string())
        })?;
    deliver(&s, sink, vec![line], Format::KserveCloudevents).await?;
    Ok((StatusCode::ACCEPTED, Json(Accepted { accepted: 1 })).into_response())
}

/// Hands items to the pipeline (answered once checkpointed) or produces them to Kafka (answered
/// once acknowledged).
async fn deliver(
    s: &AppState,
    sink: &FeedbackSink,
    items: Vec<Vec<u8>>,
    format: Format,
) -> Result<(), ApiError> {
    match sink {
        FeedbackSink::Local(tx) => {
            let (ack, done) = oneshot::channel();
            tx.send(LocalFeedback { items, format, ack })
                .await
                .map_err(|_| ApiError::Unavailable("the pipeline has stopped".into()))?;
            match done.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(ApiError::Unavailable(e.to_string())),
                Err(_) => return Err(ApiError::Unavailable("the pipeline has stopped".into())),
            }
        }
        // Answered before the request's own time limit: a refusal is always a clear 503. If the
        // deadline passes with a record in flight, the broker may still store it; a resent label
        // with the same id is joined once.
        FeedbackSink::Kafka(p) => {
            let deadline = config::feedback_answer_deadline(s.request_timeout);
            match tokio::time::timeout(deadline, p.send_all(items)).await {
                Ok(sent) => sent.map_err(|e| ApiError::Unavailable(e.to_string()))?,
                Err(_) => {
                    return Err(ApiError::Unavailable(
                        "the broker did not acknowledge the items in time".into(),
                    ));
                }
            }
        }
    }
    Ok(())
}
