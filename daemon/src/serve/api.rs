//! The HTTP API of `driftd serve`: the router, its handlers and their OpenAPI annotations (the
//! document is served at `GET /openapi.json`, an open route, built by [`ServeApi`] and
//! [`crate::http::openapi::shared_responses`], which adds 401, 403, 408 and 429 where they apply).

use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use driftd_retrain::{Features, Prediction, Target};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::{OpenApi, ToSchema};

use crate::contract::access::Role;
use crate::contract::event::parse_event;
use crate::http::gate::{Gate, Need};
use crate::http::openapi::{json_response, shared_responses, to_json};
use crate::http::{ApiError, Body, ErrorBody, ItemError, ModelName, PathOf, metrics_text};
use crate::serve::{ServeState, Slot};

/// `driftd serve`'s API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "driftd serve",
        description = "The HTTP API of `driftd serve`: predictions with the registry's live \
            models (bearer tokens of role `predict`), health, readiness and metrics \
            (`serve.metrics_role` when it is set)."
    ),
    paths(healthz, readyz, metrics, serve_openapi, predict),
    components(schemas(
        ErrorBody, ItemError, ServeReadiness, PredictBody, PredictBatch, PredictItem, PredictAnswer,
        AnswerItem, PredictionOut, ModelName, FeaturesSchema,
    )),
    modifiers(&Shared)
)]
pub struct ServeApi;

struct Shared;

impl utoipa::Modify for Shared {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        shared_responses(doc);
    }
}

/// This document (OpenAPI 3.1, JSON).
#[utoipa::path(get, path = "/openapi.json", tag = "health",
    responses((status = 200, description = "This document", body = Object)))]
async fn serve_openapi() -> Response {
    static JSON: LazyLock<String> = LazyLock::new(|| to_json(&ServeApi::openapi()));
    json_response(&JSON)
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "Alive", body = String, content_type = "text/plain")))]
async fn healthz() -> &'static str {
    "ok\n"
}

/// The router: predict, health, readiness, metrics and `/openapi.json`; every route behind the
/// gate.
pub fn app(state: Arc<ServeState>, max_body_bytes: usize, timeout: Duration) -> Router {
    let gate = Gate::new(state.secrets.clone(), |s| &s.serve_tokens, state.limits);
    let predict = Router::new().route("/v1/models/{model}/predict", post(predict));
    let predict = gate
        .protect(predict, Need::Role(Role::Predict))
        .route_layer(middleware::from_fn_with_state(state.clone(), count_refused))
        .layer(DefaultBodyLimit::max(max_body_bytes));
    let open = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(serve_openapi));
    let metrics_route = Router::new().route("/metrics", get(metrics));
    let metrics_need = state.metrics_role.map_or(Need::Open, Need::Role);
    gate.protect(open, Need::Open)
        .merge(gate.protect(metrics_route, metrics_need))
        .merge(predict)
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .with_state(state)
}

/// Counts predict requests the gate refused (401, 403, 429) under the model's outcome metric.
async fn count_refused(
    State(s): State<Arc<ServeState>>,
    PathOf(model): PathOf<String>,
    req: Request,
    next: Next,
) -> Response {
    let resp = next.run(req).await;
    let outcome = match resp.status() {
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::TOO_MANY_REQUESTS => "limited",
        _ => return resp,
    };
    s.count(&model, outcome);
    resp
}

/// Readiness of `driftd serve`.
#[derive(Serialize, ToSchema)]
pub struct ServeReadiness {
    /// Every served model has a live version loaded, and no shutdown has begun.
    pub ready: bool,
    /// Each served model and the version it serves (`null`: none loaded yet).
    #[schema(value_type = BTreeMap<String, Option<u64>>)]
    pub models: serde_json::Map<String, serde_json::Value>,
}

/// Readiness: 200 when every served model has a live version, else 503.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready", body = ServeReadiness),
        (status = 503, description = "Not ready (a model without a live version, or shutting down)", body = ServeReadiness),
    ))]
async fn readyz(State(s): State<Arc<ServeState>>) -> Response {
    let models = s
        .slots
        .iter()
        .map(|slot| {
            let v = slot.live.load().as_ref().map(|m| m.version);
            (slot.name.clone(), serde_json::json!(v))
        })
        .collect();
    let ready = s.ready();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(ServeReadiness { ready, models })).into_response()
}

/// Prometheus metrics, text exposition format 0.0.4.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "The metrics", body = String,
        content_type = "text/plain; version=0.0.4; charset=utf-8")),
    security((), ("bearer" = [])))]
async fn metrics(State(s): State<Arc<ServeState>>) -> Response {
    s.metrics.ready.set(i64::from(s.ready()));
    metrics_text(s.metrics.render())
}

/// The predict body: one item or a non-empty array of at most `serve.max_batch_items` items.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // A schema: `split_body` reads the body.
pub enum PredictBody {
    /// One item; the answer is one object.
    One(PredictItem),
    /// A batch; the answer is an array in the same order.
    Many(PredictBatch),
}

/// A batch of predict items, not empty.
#[derive(Deserialize)]
#[allow(dead_code)] // A schema.
pub struct PredictBatch(Vec<PredictItem>);

impl utoipa::PartialSchema for PredictBatch {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        utoipa::openapi::ArrayBuilder::new()
            .items(utoipa::openapi::Ref::from_schema_name("PredictItem"))
            .min_items(Some(1))
            .into()
    }
}

impl ToSchema for PredictBatch {}

/// One item to predict (no other field: found by schemathesis, the schema allowed extra fields
/// that `Item` refuses).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // A schema: `Item` reads it.
pub struct PredictItem {
    /// The prediction's id (1 to 256 bytes); one is made when absent.
    #[schema(min_length = 1, max_length = 256)]
    pub id: Option<String>,
    /// The features by name: numbers, strings or `null`.
    #[schema(value_type = FeaturesSchema)]
    pub features: serde_json::Value,
}

/// The OpenAPI schema of `features`: an object whose values are numbers, strings or `null`.
/// Found by schemathesis: documented as free-form objects, `{"x": {}}` was schema-valid and
/// refused with 422.
pub struct FeaturesSchema;

impl utoipa::PartialSchema for FeaturesSchema {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        use utoipa::openapi::schema::SchemaType;
        use utoipa::openapi::{ObjectBuilder, Type};
        let value = SchemaType::from_iter([Type::Number, Type::String, Type::Null]);
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(ObjectBuilder::new().schema_type(value)))
            .into()
    }
}

impl ToSchema for FeaturesSchema {}

/// The answer to one item.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)] // A schema: `Answer` is what is written.
pub struct AnswerItem {
    /// The prediction's id (the item's, or a new one).
    pub id: String,
    /// The model.
    pub model: String,
    /// The version that answered.
    pub model_version: String,
    /// The prediction.
    pub prediction: PredictionOut,
}

/// The answer: an object for an object, an array in the same order for an array.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // A schema: `answer` writes it.
pub enum PredictAnswer {
    /// For one item.
    One(AnswerItem),
    /// For a batch.
    Many(Vec<AnswerItem>),
}

/// A prediction: `{"label", "score"?}` (classification) or `{"value"}` (regression).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)] // A schema: `prediction_json` writes it.
pub struct PredictionOut {
    /// The predicted label.
    pub label: Option<String>,
    /// The positive class's score, in [0, 1].
    pub score: Option<f64>,
    /// The predicted value.
    pub value: Option<f64>,
}

/// One request item.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Item {
    #[serde(default)]
    id: Option<String>,
    features: Features,
}

/// A prediction event, contract v1.
#[derive(Serialize)]
struct EventOut<'a> {
    kind: &'static str,
    id: &'a str,
    model: &'a str,
    model_version: &'a str,
    ts: &'a str,
    features: &'a Features,
    prediction: &'a serde_json::Value,
}

/// One answer.
#[derive(Serialize)]
struct Answer<'a> {
    id: String,
    model: &'a str,
    model_version: &'a str,
    prediction: serde_json::Value,
}

fn prediction_json(p: &Prediction) -> serde_json::Value {
    match &p.target {
        Target::Label(label) => match p.score {
            Some(score) if score.is_finite() => {
                serde_json::json!({ "label": label, "score": score })
            }
            _ => serde_json::json!({ "label": label }),
        },
        Target::Value(v) => serde_json::json!({ "value": v }),
    }
}

/// Splits the body into items: one object, or a non-empty array of at most `max` of them.
pub(super) fn split_body(body: &[u8], max: usize) -> Result<(bool, Vec<&RawValue>), ApiError> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_slice(body)
                .map_err(|e| ApiError::BadBody(format!("not a JSON array: {e}")))?;
            if items.is_empty() {
                return Err(ApiError::BadBody("the batch is empty".into()));
            }
            if items.len() > max {
                return Err(ApiError::TooManyItems(max));
            }
            Ok((true, items))
        }
        Some(b'{') => Ok((
            false,
            vec![
                serde_json::from_slice(body)
                    .map_err(|e| ApiError::BadBody(format!("not a JSON object: {e}")))?,
            ],
        )),
        _ => Err(ApiError::BadBody(
            "expected {\"features\": {...}} or an array of them".into(),
        )),
    }
}

/// Predictions with the model's live version; one event emitted per answer before it is sent.
#[utoipa::path(post, path = "/v1/models/{model}/predict", tag = "predict",
    params(("model" = ModelName, Path, description = "The served model")),
    request_body(content = PredictBody, content_type = "application/json"),
    responses(
        (status = 200, description = "An object for an object, an array of them (same order) for an array", body = PredictAnswer),
        (status = 400, description = "Not a JSON object or a non-empty array", body = ErrorBody),
        (status = 404, description = "The model is not served", body = ErrorBody),
        (status = 413, description = "Over `serve.max_body_bytes`, or more than `serve.max_batch_items` items", body = ErrorBody),
        (status = 422, description = "Some items are invalid; nothing was emitted", body = ErrorBody),
        (status = 503, description = "No live version loaded yet, or the event could not be emitted", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn predict(
    State(s): State<Arc<ServeState>>,
    PathOf(model): PathOf<String>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let Some(slot) = s.slot(&model) else {
        return Err(ApiError::NotFound(format!("model {model:?} is not served")));
    };
    let started = Instant::now();
    let result = answer(&s, slot, &body).await;
    s.metrics
        .predict_duration
        .observe(started.elapsed().as_secs_f64());
    let outcome = match &result {
        Ok(_) => "ok",
        Err(ApiError::Unavailable(_)) => "unavailable",
        Err(_) => "invalid",
    };
    s.count(&model, outcome);
    result
}

async fn answer(s: &ServeState, slot: &Slot, body: &[u8]) -> Result<Response, ApiError> {
    // One model for the whole request, even if a swap happens meanwhile.
    let Some(served) = slot.live.load_full() else {
        return Err(ApiError::Unavailable(format!(
            "model {:?} has no live version loaded yet",
            slot.name
        )));
    };
    let (batch, raw) = split_body(body, s.max_batch_items)?;
    // Every invalid item is listed: shapes first, then the event contract on the rest.
    let mut errors = Vec::new();
    let mut items = Vec::with_capacity(raw.len());
    for (index, r) in raw.iter().enumerate() {
        match serde_json::from_str::<Item>(r.get()) {
            Ok(item) => items.push((index, item)),
            Err(e) => errors.push(ItemError {
                index,
                reason: "invalid_item".into(),
                detail: e.to_string(),
            }),
        }
    }
    let predictions = served
        .model
        .predict_rows(items.iter().map(|(_, i)| &i.features));
    let version = served.version.to_string();
    let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut lines = Vec::with_capacity(items.len());
    let mut answers = Vec::with_capacity(items.len());
    for ((index, item), p) in items.into_iter().zip(&predictions) {
        let id = item.id.unwrap_or_else(|| s.ids.next());
        let prediction = prediction_json(p);
        let line = serde_json::to_vec(&EventOut {
            kind: "prediction",
            id: &id,
            model: &slot.name,
            model_version: &version,
            ts: &ts,
            features: &item.features,
            prediction: &prediction,
        })
        .map_err(|e| ApiError::Unavailable(format!("encoding an event: {e}")))?;
        // The event must be one driftd accepts (e.g. an id of at most 256 bytes).
        if let Err(rej) = parse_event(&line, &s.parse) {
            errors.push(ItemError {
                index,
                reason: rej.reason.as_str().to_owned(),
                detail: rej.detail,
            });
            continue;
        }
        lines.push(line);
        answers.push(Answer {
            id,
            model: &slot.name,
            model_version: &version,
            prediction,
        });
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.index);
        return Err(ApiError::InvalidItems(errors));
    }
    s.sink
        .emit(lines)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let body = if batch {
        serde_json::to_value(&answers)
    } else {
        serde_json::to_value(&answers[0])
    }
    .map_err(|e| ApiError::Unavailable(format!("encoding the answer: {e}")))?;
    Ok(Json(body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by schemathesis: the predict body and answer are untagged (an object or an array,
    /// not `{"One": ...}`), an item has no field but `id` and `features`, and features are
    /// numbers, strings or `null`.
    #[test]
    fn the_predict_schemas_are_the_ones_the_handler_reads_and_writes() {
        let d: serde_json::Value = serde_json::from_str(&to_json(&ServeApi::openapi())).unwrap();
        let s = &d["components"]["schemas"];
        assert_eq!(
            s["PredictBody"]["oneOf"].as_array().unwrap().len(),
            2,
            "{s}"
        );
        assert_eq!(
            s["PredictAnswer"]["oneOf"].as_array().unwrap().len(),
            2,
            "{s}"
        );
        assert_eq!(s["PredictItem"]["additionalProperties"], false, "{s}");
        let values = &s["FeaturesSchema"]["additionalProperties"]["type"];
        assert_eq!(values, &serde_json::json!(["number", "string", "null"]));
        let paths: Vec<&String> = d["paths"].as_object().unwrap().keys().collect();
        assert_eq!(
            paths,
            [
                "/healthz",
                "/metrics",
                "/openapi.json",
                "/readyz",
                "/v1/models/{model}/predict"
            ]
        );
    }
}
