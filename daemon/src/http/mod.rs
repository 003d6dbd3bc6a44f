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

pub mod config;
#[cfg(test)]
mod fuzz;
pub mod gate;
pub mod limit;
pub mod tls;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot};

use crate::contract::access::{Caller, Role};
use crate::contract::event::{EventKind, ParseOptions, RejectReason, parse_event};
use crate::contract::settings::Secrets;
use crate::http::gate::{Gate, Need};
use crate::http::limit::Limits;
use crate::intake::policy::ModelPolicy;
use crate::telemetry::metrics::Metrics;

use crate::alert::engine::InhibitConfig;
use crate::alert::engine::SilenceConfig;
use crate::alert::task::Command as AlertCommand;
use crate::contract::event::Rejection;
use crate::intake::Control;
use crate::intake::{Health, LocalFeedback};
use crate::kafka::TopicProducer;
use crate::registry::Registry;
use crate::registry::RegistryError;
use crate::retraining::trainer::Command as TrainerCommand;
use crate::store::AnyStore;

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
#[derive(Debug, Serialize, PartialEq, Eq)]
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
    /// 413: more items than allowed.
    TooManyItems(usize),
    /// 422: some items are invalid; none were accepted.
    InvalidItems(Vec<ItemError>),
    /// 503: the sink cannot take feedback right now.
    Unavailable(String),
    /// 404: no such resource (or the feature is disabled).
    NotFound(String),
    /// 422: a well-formed request the daemon refuses (e.g. a silence that has already ended).
    Invalid(String),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    items: Vec<ItemError>,
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
            ApiError::NotFound(d) => (StatusCode::NOT_FOUND, "not_found", Some(d), vec![]),
            ApiError::Invalid(d) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some(d), vec![]),
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
                tracing::warn!(%cause, "feedback could not be accepted");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    Some("feedback cannot be stored right now; retry later".into()),
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
    let feedback = Router::new().route("/v1/feedback", post(post_feedback));
    let feedback = gate
        .protect(feedback, Need::Role(Role::Feedback))
        .layer(DefaultBodyLimit::max(state.max_body_bytes));
    let open = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    let metrics_route = Router::new().route("/metrics", get(metrics));
    let metrics_need = state.metrics_role.map_or(Need::Open, Need::Role);
    gate.protect(open, Need::Open)
        .merge(gate.protect(metrics_route, metrics_need))
        .merge(feedback)
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

/// Sends a command to one of the daemon's tasks and waits for its answer: 404 with `absent` when
/// the task does not run, 503 when it is shutting down (`task` names it).
async fn ask_task<C, T>(
    tx: Option<&mpsc::Sender<C>>,
    absent: &str,
    task: &str,
    make: impl FnOnce(oneshot::Sender<T>) -> C,
) -> Result<T, ApiError> {
    let Some(tx) = tx else {
        return Err(ApiError::NotFound(absent.into()));
    };
    let gone = || ApiError::Unavailable(format!("{task} is shutting down"));
    let (reply, rx) = oneshot::channel();
    tx.send(make(reply)).await.map_err(|_| gone())?;
    rx.await.map_err(|_| gone())
}

/// Sends a command to the alert task and waits for its answer.
async fn ask<T>(
    s: &AppState,
    make: impl FnOnce(oneshot::Sender<T>) -> AlertCommand,
) -> Result<T, ApiError> {
    let absent = "alerting is disabled ([alerting] enabled = false)";
    ask_task(s.alerts.as_ref(), absent, "alerting", make).await
}

/// A model's monitor with its open window evaluated now.
async fn get_model(
    State(s): State<AppState>,
    axum::extract::Path(model): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    let inspect = |r| Control::Inspect(model.clone(), r);
    match ask_task(
        s.control.as_ref(),
        "no event source",
        "the event source",
        inspect,
    )
    .await?
    {
        Some(v) => Ok(Json(v).into_response()),
        None => Err(ApiError::NotFound(format!(
            "no monitor for model {model:?} (not seen yet, or monitoring is off)"
        ))),
    }
}

/// Sends a command to the trainer and waits for its answer.
async fn ask_trainer<T>(
    s: &AppState,
    make: impl FnOnce(oneshot::Sender<T>) -> TrainerCommand,
) -> Result<T, ApiError> {
    let absent = "no model is retrained here (no [models.NAME.retrain] section)";
    ask_task(s.trainer.as_ref(), absent, "the trainer", make).await
}

type ModelPath = axum::extract::Path<String>;

/// The retraining loop of a model: phase, aliases, training data, timeline.
async fn get_retrain(State(s): State<AppState>, model: ModelPath) -> Result<Response, ApiError> {
    let model = model.0;
    match ask_trainer(&s, |r| TrainerCommand::Status(model.clone(), r)).await? {
        Some(v) => Ok(Json(v).into_response()),
        None => Err(ApiError::NotFound(format!(
            "model {model:?} is not retrained here"
        ))),
    }
}

/// Requests a retrain now (it runs when the loop is idle).
async fn post_retrain(State(s): State<AppState>, model: ModelPath) -> Result<Response, ApiError> {
    let model = model.0;
    let r = ask_trainer(&s, |r| {
        TrainerCommand::Retrain(model.clone(), "admin API".into(), r)
    })
    .await?;
    match r {
        Ok(phase) => Ok((
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "model": model, "queued": true, "phase": phase })),
        )
            .into_response()),
        Err(e) => Err(ApiError::NotFound(e.to_string())),
    }
}

fn registry(s: &AppState) -> Result<Registry<AnyStore>, ApiError> {
    let Some((store, key)) = &s.registry else {
        return Err(ApiError::NotFound("no model registry".into()));
    };
    Ok(Registry::with_keys(store.clone(), key.clone()))
}

fn registry_error(e: RegistryError) -> ApiError {
    use crate::registry::RegistryError as E;
    match e {
        E::UnknownModel(_) | E::UnknownVersion { .. } | E::NoAlias { .. } => {
            ApiError::NotFound(e.to_string())
        }
        E::Store(_) => ApiError::Unavailable(e.to_string()),
        other => ApiError::Invalid(other.to_string()),
    }
}

/// A model's versions and aliases.
async fn get_versions(State(s): State<AppState>, model: ModelPath) -> Result<Response, ApiError> {
    let r = registry(&s)?;
    let versions = r.versions(&model.0).await.map_err(registry_error)?;
    let aliases = r.aliases(&model.0).await.map_err(registry_error)?;
    Ok(
        Json(serde_json::json!({ "model": model.0, "aliases": aliases, "versions": versions }))
            .into_response(),
    )
}

/// One version's record (metadata, validation metrics, decision records).
async fn get_version(
    State(s): State<AppState>,
    axum::extract::Path((model, version)): axum::extract::Path<(String, u64)>,
) -> Result<Response, ApiError> {
    let r = registry(&s)?;
    let v = r.show(&model, version).await.map_err(registry_error)?;
    Ok(Json(v).into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PromoteBody {
    version: u64,
}

/// Promotes a version by hand.
async fn post_promote(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    model: ModelPath,
    body: Bytes,
) -> Result<Response, ApiError> {
    let b: PromoteBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadBody(format!("expected {{\"version\": N}}: {e}")))?;
    swap(&s, &caller, model.0, Some(b.version)).await
}

/// Rolls back to the previous version by hand.
async fn post_rollback(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    model: ModelPath,
) -> Result<Response, ApiError> {
    swap(&s, &caller, model.0, None).await
}

/// A promotion or rollback by `caller`, who is recorded as the decision's actor.
async fn swap(
    s: &AppState,
    caller: &Caller,
    model: String,
    version: Option<u64>,
) -> Result<Response, ApiError> {
    let by = caller.name.clone();
    if s.trainer.is_some() {
        // Through the trainer: under the model's lease, with notices and the reference switch.
        let r = ask_trainer(s, |r| match version {
            Some(v) => TrainerCommand::Promote(model.clone(), v, by.clone(), r),
            None => TrainerCommand::Rollback(model.clone(), by.clone(), r),
        })
        .await?;
        return r
            .map(|v| Json(v).into_response())
            .map_err(|e| ApiError::Invalid(e.to_string()));
    }
    let r = registry(s)?;
    let note = "by hand (admin API)";
    let aliases = match version {
        Some(v) => r.promote(&model, v, note, None, Some(&by)).await,
        None => r.rollback(&model, note, Some(&by)).await,
    }
    .map_err(registry_error)?;
    Ok(Json(aliases).into_response())
}

async fn get_alerts(State(s): State<AppState>) -> Result<Response, ApiError> {
    let now = ask(&s, AlertCommand::Alerts).await?;
    Ok(Json(now).into_response())
}

async fn get_silences(State(s): State<AppState>) -> Result<Response, ApiError> {
    let silences = ask(&s, AlertCommand::Silences).await?;
    Ok(Json(serde_json::json!({ "silences": silences })).into_response())
}

async fn post_silence(State(s): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let cfg: SilenceConfig = serde_json::from_slice(&body)
        .map_err(|e| ApiError::Invalid(format!("not a silence: {e}")))?;
    match ask(&s, |r| AlertCommand::AddSilence(cfg, r)).await? {
        Ok(id) => Ok(created(&id)),
        Err(e) => Err(ApiError::Invalid(e.to_string())),
    }
}

/// 201 with the new resource's id.
fn created(id: &str) -> Response {
    (StatusCode::CREATED, Json(serde_json::json!({ "id": id }))).into_response()
}

/// 204 when the resource was there, else 404 with `missing`.
fn removed(found: bool, missing: String) -> Result<Response, ApiError> {
    if found {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::NotFound(missing))
    }
}

async fn get_inhibitions(State(s): State<AppState>) -> Result<Response, ApiError> {
    let rules = ask(&s, AlertCommand::Inhibitions).await?;
    let rules: Vec<serde_json::Value> = rules
        .into_iter()
        .map(|(id, rule)| serde_json::json!({ "id": id, "rule": rule }))
        .collect();
    Ok(Json(serde_json::json!({ "inhibitions": rules })).into_response())
}

async fn post_inhibit(State(s): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let cfg: InhibitConfig = serde_json::from_slice(&body)
        .map_err(|e| ApiError::Invalid(format!("not an inhibition rule: {e}")))?;
    match ask(&s, |r| AlertCommand::AddInhibit(cfg, r)).await? {
        Ok(id) => Ok(created(&id)),
        Err(e) => Err(ApiError::Invalid(e.to_string())),
    }
}

async fn delete_inhibit(
    State(s): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    let found = ask(&s, |r| AlertCommand::RemoveInhibit(id.clone(), r)).await?;
    removed(
        found,
        format!("no inhibition rule {id:?} added through the API"),
    )
}

async fn delete_silence(
    State(s): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    let found = ask(&s, |r| AlertCommand::ExpireSilence(id.clone(), r)).await?;
    removed(found, format!("no active silence {id:?}"))
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(s): State<AppState>) -> Response {
    let h = &s.health;
    let body = serde_json::json!({
        "ready": h.ready(),
        "source": h.source_up.load(Ordering::Relaxed),
        "state_store": h.store_up.load(Ordering::Relaxed),
        "started": h.started.load(Ordering::Relaxed),
        "shutting_down": h.shutting_down.load(Ordering::Relaxed),
    });
    let status = if h.ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn metrics(State(s): State<AppState>) -> Response {
    s.metrics.ready.set(i64::from(s.health.ready()));
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        s.metrics.render(),
    )
        .into_response()
}

/// Validates a feedback body (one object or an array of objects) and returns each item as a
/// complete feedback event. All-or-nothing: any invalid item fails the whole request.
pub fn validate_feedback(
    body: &[u8],
    parse: &ParseOptions,
    policy: &ModelPolicy,
    max_items: usize,
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
            Ok(()) => out.push(with_kind_feedback(bytes)),
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
/// `http::fuzz`, an item with `"kind": null` was acknowledged and then dead-lettered).
fn with_kind_feedback(obj: &[u8]) -> Vec<u8> {
    let v: Result<serde_json::Map<String, serde_json::Value>, _> = serde_json::from_slice(obj);
    match v {
        Ok(mut m) if m.get("kind").is_none_or(serde_json::Value::is_null) => {
            m.insert("kind".into(), serde_json::Value::from("feedback"));
            serde_json::to_vec(&m).unwrap_or_else(|_| obj.to_vec())
        }
        _ => obj.to_vec(),
    }
}

#[derive(Serialize)]
struct Accepted {
    accepted: usize,
}

async fn post_feedback(State(s): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let items = match validate_feedback(&body, &s.parse, &s.policy.load(), s.max_batch_items) {
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
    match &s.feedback {
        FeedbackSink::Local(tx) => {
            let (ack, done) = oneshot::channel();
            tx.send(LocalFeedback { items, ack })
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
                        "the broker did not acknowledge the feedback in time".into(),
                    ));
                }
            }
        }
    }
    s.metrics
        .feedback_http_items
        .with_label_values(&["accepted"])
        .inc_by(n as u64);
    Ok((StatusCode::ACCEPTED, Json(Accepted { accepted: n })).into_response())
}
