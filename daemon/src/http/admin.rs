//! The admin API of `driftd run`: alerts, silences and inhibitions (answered by the alert task),
//! on-demand evaluation of a model (the source task), the retraining loop (the trainer) and the
//! registry (promote, roll back, versions). Handlers send a command to the task that owns the
//! state and wait for its answer; none of them locks shared state.
//!
//! Each handler carries its `#[utoipa::path]` annotation: what [`super::openapi`] documents is
//! what the handler says it answers. Statuses every route shares (401, 403, 408, 429) are added
//! there once.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use utoipa::ToSchema;

use crate::alert::engine::{InhibitConfig, SilenceConfig};
use crate::alert::task::{AddError, Command as AlertCommand};
use crate::contract::access::Caller;
use crate::http::{ApiError, AppState, Body, ErrorBody, ModelName, PathOf};
use crate::intake::Control;
use crate::registry::{Registry, RegistryError};
use crate::retraining::trainer::Command as TrainerCommand;
use crate::store::AnyStore;

/// Sends a command to one of the daemon's tasks and waits for its answer: 404 with `absent` when
/// the task does not run, 503 when it is shutting down (`task` names it).
pub(super) async fn ask_task<C, T>(
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

/// A silence or inhibition rule the alert task refused: 422 when it is wrong as sent, 503 when
/// the state store did not take it (it was undone; the same request may succeed later).
fn add_error(e: AddError) -> ApiError {
    match e {
        AddError::Rejected(_) => ApiError::Invalid(e.to_string()),
        AddError::StoreUnavailable => ApiError::Unavailable(e.to_string()),
    }
}

/// A model's monitor with its open window evaluated now.
#[utoipa::path(get, path = "/v1/models/{model}", tag = "admin",
    params(("model" = ModelName, Path, description = "The model's name")),
    responses(
        (status = 200, description = "The model's monitor: detectors, windows and counts, the open window evaluated now", body = Object),
        (status = 404, description = "No event source, or no monitor for this model", body = ErrorBody),
        (status = 503, description = "The event source is shutting down", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(super) async fn get_model(
    State(s): State<AppState>,
    PathOf(model): PathOf<String>,
) -> Result<Response, ApiError> {
    let v = ask_model(&s, &model, |r| Control::Inspect(model.clone(), r)).await?;
    Ok(Json(v).into_response())
}

/// Asks the source task about a model's monitor (`make` builds the question): 404 when there is
/// no event source or no monitor for the model, 503 while it shuts down.
pub(super) async fn ask_model<T>(
    s: &AppState,
    model: &str,
    make: impl FnOnce(oneshot::Sender<Option<T>>) -> Control,
) -> Result<T, ApiError> {
    ask_task(
        s.control.as_ref(),
        "no event source",
        "the event source",
        make,
    )
    .await?
    .ok_or_else(|| {
        ApiError::NotFound(format!(
            "no monitor for model {model:?} (not seen yet, or monitoring is off)"
        ))
    })
}

/// A model's report: one self-contained HTML page with SVG charts (drift timeline, each
/// feature's reference against the current window, the tests, labels and accuracy over time).
#[utoipa::path(get, path = "/v1/models/{model}/report", tag = "admin",
    params(("model" = ModelName, Path, description = "The model's name")),
    responses(
        (status = 200, description = "The report (text/html; nothing is fetched when it is viewed)", content_type = "text/html", body = String),
        (status = 404, description = "No event source, or no monitor for this model", body = ErrorBody),
        (status = 503, description = "The event source is shutting down", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(super) async fn get_report(
    State(s): State<AppState>,
    PathOf(model): PathOf<String>,
) -> Result<Response, ApiError> {
    let html = ask_model(&s, &model, |r| Control::Report(model.clone(), r)).await?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response())
}

/// Sends a command to the trainer and waits for its answer.
async fn ask_trainer<T>(
    s: &AppState,
    make: impl FnOnce(oneshot::Sender<T>) -> TrainerCommand,
) -> Result<T, ApiError> {
    let absent = "no model is retrained here (no [models.NAME.retrain] section)";
    ask_task(s.trainer.as_ref(), absent, "the trainer", make).await
}

/// The retraining loop of a model: phase, aliases, training data, timeline.
#[utoipa::path(get, path = "/v1/models/{model}/retrain", tag = "admin",
    params(("model" = ModelName, Path, description = "The model's name")),
    responses(
        (status = 200, description = "The retraining loop: phase, aliases, training data, timeline", body = Object),
        (status = 404, description = "No model is retrained here, or not this one", body = ErrorBody),
        (status = 503, description = "The trainer is shutting down", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(super) async fn get_retrain(
    State(s): State<AppState>,
    PathOf(model): PathOf<String>,
) -> Result<Response, ApiError> {
    match ask_trainer(&s, |r| TrainerCommand::Status(model.clone(), r)).await? {
        Some(v) => Ok(Json(v).into_response()),
        None => Err(ApiError::NotFound(format!(
            "model {model:?} is not retrained here"
        ))),
    }
}

/// The answer to a retrain request.
#[derive(Serialize, ToSchema)]
pub struct RetrainQueued {
    /// The model.
    pub model: String,
    /// Always `true`: the retrain runs when the loop is idle.
    pub queued: bool,
    /// The loop's phase when the request was taken.
    pub phase: String,
}

/// Requests a retrain now (it runs when the loop is idle).
#[utoipa::path(post, path = "/v1/models/{model}/retrain", tag = "admin",
    params(("model" = ModelName, Path, description = "The model's name")),
    responses(
        (status = 202, description = "Queued", body = RetrainQueued),
        (status = 404, description = "No model is retrained here, or not this one", body = ErrorBody),
        (status = 503, description = "The trainer is shutting down", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(super) async fn post_retrain(
    State(s): State<AppState>,
    PathOf(model): PathOf<String>,
) -> Result<Response, ApiError> {
    let r = ask_trainer(&s, |r| {
        TrainerCommand::Retrain(model.clone(), "admin API".into(), r)
    })
    .await?;
    match r {
        Ok(phase) => Ok((
            StatusCode::ACCEPTED,
            Json(RetrainQueued {
                model,
                queued: true,
                phase,
            }),
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
        // Found by schemathesis: a well-formed promotion of the live version was a 422.
        E::AlreadyLive { .. } => ApiError::Conflict(e.to_string()),
        other => ApiError::Invalid(other.to_string()),
    }
}

/// A model's versions and aliases.
#[derive(Serialize, ToSchema)]
pub struct Versions {
    /// The model.
    pub model: String,
    /// Its aliases (`live`, `previous`, `shadow`, …) and the versions they name.
    #[schema(value_type = Object)]
    pub aliases: serde_json::Value,
    /// Every version's record, oldest first.
    #[schema(value_type = Vec<Object>)]
    pub versions: serde_json::Value,
}

/// A model's versions and aliases.
#[utoipa::path(get, path = "/v1/registry/{model}", tag = "registry",
    params(("model" = ModelName, Path, description = "The model's name")),
    responses(
        (status = 200, description = "Versions and aliases", body = Versions),
        (status = 404, description = "No registry, or no such model", body = ErrorBody),
        (status = 422, description = "The registry refused the request", body = ErrorBody),
        (status = 503, description = "The state store is unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(super) async fn get_versions(
    State(s): State<AppState>,
    PathOf(model): PathOf<String>,
) -> Result<Response, ApiError> {
    let r = registry(&s)?;
    let versions = r.versions(&model).await.map_err(registry_error)?;
    let aliases = r.aliases(&model).await.map_err(registry_error)?;
    Ok(Json(Versions {
        aliases: to_json(aliases)?,
        versions: to_json(versions)?,
        model,
    })
    .into_response())
}

/// One version's record (metadata, validation metrics, decision records).
#[utoipa::path(get, path = "/v1/registry/{model}/versions/{version}", tag = "registry",
    params(
        ("model" = ModelName, Path, description = "The model's name"),
        ("version" = u64, Path, description = "The version number"),
    ),
    responses(
        (status = 200, description = "The version's record", body = Object),
        (status = 400, description = "The version is not a number", body = ErrorBody),
        (status = 404, description = "No registry, or no such model or version", body = ErrorBody),
        (status = 422, description = "The registry refused the request", body = ErrorBody),
        (status = 503, description = "The state store is unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(super) async fn get_version(
    State(s): State<AppState>,
    PathOf((model, version)): PathOf<(String, u64)>,
) -> Result<Response, ApiError> {
    let r = registry(&s)?;
    let v = r.show(&model, version).await.map_err(registry_error)?;
    Ok(Json(v).into_response())
}

/// The body of a promotion.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromoteBody {
    /// The version to make `live` (`2` or `2.0`: JSON Schema's integers include integral
    /// floats, and so does this).
    #[serde(deserialize_with = "integral")]
    pub version: u64,
}

/// A non-negative integer written as an integer or as an integral float (`2.0`). Found by
/// schemathesis: `{"version": 1620.0}` conforms to the documented `integer` and was refused
/// with 400.
fn integral<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Number {
        Int(u64),
        Float(f64),
    }
    match Number::deserialize(d)? {
        Number::Int(n) => Ok(n),
        // Below 2^53 every integral f64 is exact.
        Number::Float(f) if f >= 0.0 && f.fract() == 0.0 && f < 9_007_199_254_740_992.0 => {
            Ok(f as u64)
        }
        Number::Float(f) => Err(serde::de::Error::custom(format!(
            "{f} is not a version (a non-negative integer)"
        ))),
    }
}

/// Promotes a version by hand.
#[utoipa::path(post, path = "/v1/registry/{model}/promote", tag = "registry",
    params(("model" = ModelName, Path, description = "The model's name")),
    request_body(content = PromoteBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Promoted: the model's aliases, or the trainer's decision record", body = Object),
        (status = 400, description = "Not `{\"version\": N}`", body = ErrorBody),
        (status = 404, description = "No registry, or no such model or version", body = ErrorBody),
        (status = 409, description = "The version is already live", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
        (status = 422, description = "Refused (e.g. a version that fails verification)", body = ErrorBody),
        (status = 503, description = "The state store is unavailable, or the trainer is shutting down", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(super) async fn post_promote(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathOf(model): PathOf<String>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let b: PromoteBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadBody(format!("expected {{\"version\": N}}: {e}")))?;
    swap(&s, &caller, model, Some(b.version)).await
}

/// Rolls back to the previous version by hand.
#[utoipa::path(post, path = "/v1/registry/{model}/rollback", tag = "registry",
    params(("model" = ModelName, Path, description = "The model's name")),
    responses(
        (status = 200, description = "Rolled back: the model's aliases, or the trainer's decision record", body = Object),
        (status = 404, description = "No registry, no such model, or no previous version", body = ErrorBody),
        (status = 422, description = "Refused", body = ErrorBody),
        (status = 503, description = "The state store is unavailable, or the trainer is shutting down", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(super) async fn post_rollback(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathOf(model): PathOf<String>,
) -> Result<Response, ApiError> {
    swap(&s, &caller, model, None).await
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

/// The active alerts, and where the alert engine stands.
#[derive(Serialize, ToSchema)]
pub struct AlertList {
    /// Each alert: name, labels, state, since when.
    #[schema(value_type = Vec<Object>)]
    pub alerts: serde_json::Value,
    /// The engine's last evaluation (RFC 3339); absent before the first.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub evaluated_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Notifications queued or being delivered: with 0, every notification due by
    /// `evaluated_at` has been delivered.
    pub undelivered: usize,
}

/// The silences in force or to come.
#[derive(Serialize, ToSchema)]
pub struct SilenceList {
    /// Each silence: its id, matchers, times, comment and author.
    #[schema(value_type = Vec<Object>)]
    pub silences: serde_json::Value,
}

/// One inhibition rule added through the API.
#[derive(Serialize, ToSchema)]
pub struct InhibitionEntry {
    /// Its id (for `DELETE /v1/inhibitions/{id}`).
    pub id: String,
    /// The rule.
    pub rule: InhibitConfig,
}

/// The inhibition rules added through the API.
#[derive(Serialize, ToSchema)]
pub struct InhibitionList {
    /// The rules.
    pub inhibitions: Vec<InhibitionEntry>,
}

/// The id of a resource just created.
#[derive(Serialize, ToSchema)]
pub struct Created {
    /// The id.
    pub id: String,
}

fn to_json(v: impl Serialize) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(v).map_err(|e| ApiError::Unavailable(format!("encoding the answer: {e}")))
}

/// The active alerts.
#[utoipa::path(get, path = "/v1/alerts", tag = "alerting",
    responses(
        (status = 200, description = "The active alerts", body = AlertList),
        (status = 404, description = "Alerting is disabled", body = ErrorBody),
        (status = 503, description = "Alerting is shutting down", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(super) async fn get_alerts(State(s): State<AppState>) -> Result<Response, ApiError> {
    let now = ask(&s, AlertCommand::Alerts).await?;
    Ok(Json(AlertList {
        alerts: to_json(now.alerts)?,
        evaluated_at: now.evaluated_at,
        undelivered: now.undelivered,
    })
    .into_response())
}

/// The silences.
#[utoipa::path(get, path = "/v1/silences", tag = "alerting",
    responses(
        (status = 200, description = "The silences", body = SilenceList),
        (status = 404, description = "Alerting is disabled", body = ErrorBody),
        (status = 503, description = "Alerting is shutting down", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(super) async fn get_silences(State(s): State<AppState>) -> Result<Response, ApiError> {
    let silences = to_json(ask(&s, AlertCommand::Silences).await?)?;
    Ok(Json(SilenceList { silences }).into_response())
}

/// Adds a silence.
#[utoipa::path(post, path = "/v1/silences", tag = "alerting",
    request_body(content = SilenceConfig, content_type = "application/json"),
    responses(
        (status = 201, description = "Added", body = Created),
        (status = 404, description = "Alerting is disabled", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
        (status = 422, description = "Not a silence, or one refused (no matcher, already ended, …)", body = ErrorBody),
        (status = 503, description = "The state store did not take it, or alerting is shutting down", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(super) async fn post_silence(
    State(s): State<AppState>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let cfg: SilenceConfig = serde_json::from_slice(&body)
        .map_err(|e| ApiError::Invalid(format!("not a silence: {e}")))?;
    let id = ask(&s, |r| AlertCommand::AddSilence(cfg, r))
        .await?
        .map_err(add_error)?;
    Ok(created(id))
}

/// 201 with the new resource's id.
fn created(id: String) -> Response {
    (StatusCode::CREATED, Json(Created { id })).into_response()
}

/// 204 when the resource was there, else 404 with `missing`.
fn removed(found: bool, missing: String) -> Result<Response, ApiError> {
    if found {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::NotFound(missing))
    }
}

/// The inhibition rules added through the API.
#[utoipa::path(get, path = "/v1/inhibitions", tag = "alerting",
    responses(
        (status = 200, description = "The rules added through the API", body = InhibitionList),
        (status = 404, description = "Alerting is disabled", body = ErrorBody),
        (status = 503, description = "Alerting is shutting down", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(super) async fn get_inhibitions(State(s): State<AppState>) -> Result<Response, ApiError> {
    let rules = ask(&s, AlertCommand::Inhibitions).await?;
    let inhibitions = rules
        .into_iter()
        .map(|(id, rule)| InhibitionEntry { id, rule })
        .collect();
    Ok(Json(InhibitionList { inhibitions }).into_response())
}

/// Adds an inhibition rule.
#[utoipa::path(post, path = "/v1/inhibitions", tag = "alerting",
    request_body(content = InhibitConfig, content_type = "application/json"),
    responses(
        (status = 201, description = "Added", body = Created),
        (status = 404, description = "Alerting is disabled", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
        (status = 422, description = "Not an inhibition rule, or one refused (no matcher, …)", body = ErrorBody),
        (status = 503, description = "The state store did not take it, or alerting is shutting down", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(super) async fn post_inhibit(
    State(s): State<AppState>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let cfg: InhibitConfig = serde_json::from_slice(&body)
        .map_err(|e| ApiError::Invalid(format!("not an inhibition rule: {e}")))?;
    let id = ask(&s, |r| AlertCommand::AddInhibit(cfg, r))
        .await?
        .map_err(add_error)?;
    Ok(created(id))
}

/// Removes an inhibition rule added through the API.
#[utoipa::path(delete, path = "/v1/inhibitions/{id}", tag = "alerting",
    params(("id" = String, Path, description = "The rule's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "Alerting is disabled, or no such rule", body = ErrorBody),
        (status = 503, description = "Alerting is shutting down", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(super) async fn delete_inhibit(
    State(s): State<AppState>,
    PathOf(id): PathOf<String>,
) -> Result<Response, ApiError> {
    let found = ask(&s, |r| AlertCommand::RemoveInhibit(id.clone(), r)).await?;
    removed(
        found,
        format!("no inhibition rule {id:?} added through the API"),
    )
}

/// Expires a silence now.
#[utoipa::path(delete, path = "/v1/silences/{id}", tag = "alerting",
    params(("id" = String, Path, description = "The silence's id")),
    responses(
        (status = 204, description = "Expired"),
        (status = 404, description = "Alerting is disabled, or no such active silence", body = ErrorBody),
        (status = 503, description = "Alerting is shutting down", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(super) async fn delete_silence(
    State(s): State<AppState>,
    PathOf(id): PathOf<String>,
) -> Result<Response, ApiError> {
    let found = ask(&s, |r| AlertCommand::ExpireSilence(id.clone(), r)).await?;
    removed(found, format!("no active silence {id:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by schemathesis: an integral float is a JSON Schema integer, so a promotion of
    /// `1620.0` is one of version 1620; fractions, negatives and text stay refused.
    #[test]
    fn a_silence_the_store_did_not_take_is_503_and_a_wrong_one_422() {
        let status = |e| axum::response::IntoResponse::into_response(add_error(e)).status();
        assert_eq!(
            status(AddError::StoreUnavailable),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let wrong = crate::alert::engine::SilenceError::Invalid {
            key: "match",
            message: "must not be empty".into(),
        };
        assert_eq!(
            status(AddError::Rejected(wrong)),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }

    #[test]
    fn promoting_the_live_version_is_a_conflict() {
        let e = RegistryError::AlreadyLive {
            model: "churn".into(),
            version: 1,
        };
        let resp = axum::response::IntoResponse::into_response(registry_error(e));
        assert_eq!(resp.status(), StatusCode::CONFLICT);
    }

    #[test]
    fn a_promotion_takes_a_version_written_as_an_integral_float() {
        let v = |body: &str| serde_json::from_str::<PromoteBody>(body).map(|b| b.version);
        assert_eq!(v(r#"{"version": 1620.0}"#).unwrap(), 1620);
        assert_eq!(v(r#"{"version": 2}"#).unwrap(), 2);
        for bad in [
            r#"{"version": 1.5}"#,
            r#"{"version": -1}"#,
            r#"{"version": -1.0}"#,
            r#"{"version": "2"}"#,
            r#"{"version": 1e300}"#,
            r#"{"version": 2, "x": 1}"#,
        ] {
            assert!(v(bad).is_err(), "{bad}");
        }
    }
}
