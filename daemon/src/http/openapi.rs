//! The OpenAPI 3.1 document of `driftd run`'s HTTP API (`GET /openapi.json`, an open route),
//! generated from the code: each handler's `#[utoipa::path]` annotation (route, parameters, body,
//! the statuses it answers) and the `ToSchema` derives of the request and response types.
//! `driftd serve` builds its own document the same way (`serve::api`).
//!
//! What every route shares is added here once, by [`shared_responses`], so no handler can forget
//! it: `408` (the request time limit, no body) and `429` with `Retry-After` (the gate's limits) on
//! every operation, and on every operation that takes a bearer token `401` (with
//! `WWW-Authenticate: Bearer`) and `403` (a token whose role does not grant the route). The
//! `bearer` security scheme is the `Authorization: Bearer TOKEN` header; which role each route
//! needs is said in its description (see `contract::access` for the roles).
//!
//! `tests/e2e/openapi.rs` checks that the document lists every route the routers register and
//! runs schemathesis against live servers with it.

use std::sync::LazyLock;

use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{
    ArrayBuilder, ContentBuilder, HttpMethod, ObjectBuilder, OpenApi as Document, Ref, RefOr,
    ResponseBuilder, Schema, Type, header::HeaderBuilder,
};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::http::admin::{
    AlertList, Created, InhibitionEntry, InhibitionList, PromoteBody, RetrainQueued, SilenceList,
    Versions,
};
use crate::http::{Accepted, ErrorBody, ItemError, ModelName, Readiness};

/// `driftd run`'s API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "driftd run",
        description = "The HTTP API of `driftd run`: health, readiness, metrics, feedback and the \
            admin API. Roles: `feedback` posts feedback; `read` reads the admin API; `operator` \
            also changes silences and inhibitions and requests retrains; `admin` also promotes and \
            rolls back; `/metrics` needs `http.metrics_role` when it is set."
    ),
    paths(
        super::healthz,
        super::readyz,
        super::metrics,
        run_openapi,
        super::post_feedback,
        super::post_kserve,
        super::review::get_review,
        super::review::get_models,
        super::review::get_page,
        super::review::post_release,
        super::admin::get_alerts,
        super::admin::get_silences,
        super::admin::post_silence,
        super::admin::delete_silence,
        super::admin::get_inhibitions,
        super::admin::post_inhibit,
        super::admin::delete_inhibit,
        super::admin::get_model,
        super::admin::get_report,
        super::admin::get_retrain,
        super::admin::post_retrain,
        super::admin::get_versions,
        super::admin::get_version,
        super::admin::post_promote,
        super::admin::post_rollback,
    ),
    components(schemas(
        ErrorBody, ItemError, Readiness, Accepted, FeedbackBody, FeedbackBatch, FeedbackItem,
        LabelFeedback, ValueFeedback, LabelValue,
        AlertList, SilenceList, InhibitionList, InhibitionEntry, Created, RetrainQueued, Versions,
        PromoteBody, ModelName,
    )),
    modifiers(&Shared)
)]
pub struct RunApi;

/// This document (OpenAPI 3.1, JSON).
#[utoipa::path(get, path = "/openapi.json", tag = "health",
    responses((status = 200, description = "This document", body = Object)))]
pub async fn run_openapi() -> Response {
    run_json().await
}

/// `GET /openapi.json` of `driftd run`: the document, built once.
pub async fn run_json() -> Response {
    static JSON: LazyLock<String> = LazyLock::new(|| to_json(&RunApi::openapi()));
    json_response(&JSON)
}

/// The document as JSON text.
pub fn to_json(doc: &Document) -> String {
    serde_json::to_string(doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// A JSON answer from text that is JSON already.
pub fn json_response(text: &str) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        text.to_owned(),
    )
        .into_response()
}

/// The feedback body: one item or a non-empty array of at most `http.max_batch_items` items.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // A schema: `validate_feedback` reads the body.
pub enum FeedbackBody {
    /// One item.
    One(FeedbackItem),
    /// A batch.
    Many(FeedbackBatch),
}

/// A batch of feedback items, not empty.
#[derive(Deserialize)]
#[allow(dead_code)] // A schema.
pub struct FeedbackBatch(Vec<FeedbackItem>);

impl utoipa::PartialSchema for FeedbackBatch {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new()
            .items(Ref::from_schema_name("FeedbackItem"))
            .min_items(Some(1))
            .into()
    }
}

impl ToSchema for FeedbackBatch {}

/// One feedback item: a feedback event of contract v1 whose `kind` may be left out, with
/// exactly one of `label` (classification) and `value` (regression). Other fields are ignored.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // A schema: `validate_feedback` reads the body.
pub enum FeedbackItem {
    /// A true label.
    Label(LabelFeedback),
    /// A true value.
    Value(ValueFeedback),
}

/// Feedback with a true label (classification).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // A schema.
pub struct LabelFeedback {
    /// `feedback` (the default).
    #[schema(pattern = "^feedback$")]
    pub kind: Option<String>,
    /// The id of the prediction this labels: 1 to 256 bytes.
    #[schema(min_length = 1, max_length = 256)]
    pub id: String,
    /// The model.
    #[schema(value_type = ModelName)]
    pub model: String,
    /// When the label was given (RFC 3339).
    #[schema(format = DateTime)]
    pub ts: String,
    /// The true label.
    pub label: LabelValue,
    /// Who or what supplied the label.
    pub source: Option<String>,
}

/// Feedback with a true value (regression).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // A schema.
pub struct ValueFeedback {
    /// `feedback` (the default).
    #[schema(pattern = "^feedback$")]
    pub kind: Option<String>,
    /// The id of the prediction this labels: 1 to 256 bytes.
    #[schema(min_length = 1, max_length = 256)]
    pub id: String,
    /// The model.
    #[schema(value_type = ModelName)]
    pub model: String,
    /// When the value was observed (RFC 3339).
    #[schema(format = DateTime)]
    pub ts: String,
    /// The true value, finite.
    pub value: f64,
    /// Who or what supplied the value.
    pub source: Option<String>,
}

/// A label: a string, or a number or boolean taken as its string form.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // A schema.
pub enum LabelValue {
    /// As it is.
    Text(String),
    /// `1` and `1.0` are the label `"1"`.
    Number(f64),
    /// `"true"` or `"false"`.
    Flag(bool),
}

/// Adds the `bearer` scheme and the responses every route shares.
struct Shared;

impl Modify for Shared {
    fn modify(&self, doc: &mut Document) {
        shared_responses(doc);
    }
}

/// Adds the `bearer` security scheme, `408` and `429` (with `Retry-After`) to every operation,
/// and `401` and `403` to every operation that takes a bearer token. Both servers' documents go
/// through it.
pub fn shared_responses(doc: &mut Document) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
    );
    let error = || {
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build()
    };
    let integer = || ObjectBuilder::new().schema_type(Type::Integer).build();
    let string = || ObjectBuilder::new().schema_type(Type::String).build();
    let limited = ResponseBuilder::new()
        .description("Over a rate or concurrency limit; nothing was taken. Retry after `Retry-After` seconds.")
        .content("application/json", error())
        .header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Some(integer()))
                .description(Some("Seconds to wait"))
                .build(),
        )
        .build();
    let timeout = ResponseBuilder::new()
        .description("The request took longer than the server's request time limit (no body)")
        .build();
    let unauthorized = ResponseBuilder::new()
        .description("No bearer token, or one the server does not know")
        .content("application/json", error())
        .header(
            "WWW-Authenticate",
            HeaderBuilder::new().schema(Some(string())).build(),
        )
        .build();
    let forbidden = ResponseBuilder::new()
        .description("A valid token whose role does not grant this route")
        .content("application/json", error())
        .build();
    for item in doc.paths.paths.values_mut() {
        for method in [HttpMethod::Get, HttpMethod::Post, HttpMethod::Delete] {
            let op = match method {
                HttpMethod::Get => item.get.as_mut(),
                HttpMethod::Post => item.post.as_mut(),
                _ => item.delete.as_mut(),
            };
            let Some(op) = op else { continue };
            let r = &mut op.responses.responses;
            r.insert("408".into(), timeout.clone().into());
            r.insert("429".into(), limited.clone().into());
            let bearer = serde_json::to_string(&op.security).is_ok_and(|s| s.contains("bearer"));
            if bearer {
                r.insert("401".into(), unauthorized.clone().into());
                r.insert("403".into(), forbidden.clone().into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> serde_json::Value {
        serde_json::from_str(&to_json(&RunApi::openapi())).unwrap()
    }

    /// Every operation answers 408 and 429 (with `Retry-After`); those that take a token 401 and
    /// 403; the open ones neither.
    #[test]
    fn every_operation_has_the_shared_statuses() {
        let d = doc();
        let mut n = 0;
        for (path, item) in d["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                n += 1;
                let r = &op["responses"];
                assert!(
                    r["408"].is_object() && r["429"].is_object(),
                    "{method} {path}"
                );
                assert!(r["429"]["headers"]["Retry-After"].is_object());
                let open =
                    ["/healthz", "/readyz", "/openapi.json", "/review"].contains(&path.as_str());
                assert_eq!(r["401"].is_object(), !open, "{method} {path}");
                assert_eq!(r["403"].is_object(), !open, "{method} {path}");
            }
        }
        assert_eq!(n, 25);
        assert_eq!(
            d["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
    }

    /// Found by schemathesis: `{"label": null, "value": null}` conformed to the document and was
    /// refused (422): an item has exactly one of `label` and `value`.
    #[test]
    fn a_feedback_item_needs_a_label_or_a_value() {
        let d = doc();
        let s = &d["components"]["schemas"];
        let required = |name: &str| s[name]["required"].as_array().unwrap().clone();
        assert!(required("LabelFeedback").contains(&"label".into()));
        assert!(required("ValueFeedback").contains(&"value".into()));
        assert_eq!(s["FeedbackItem"]["oneOf"].as_array().unwrap().len(), 2);
        assert_eq!(s["FeedbackBatch"]["minItems"], 1);
    }

    /// Found by schemathesis: matchers are not empty and name a label; a model in a path is a
    /// valid model name.
    #[test]
    fn matchers_and_model_names_are_as_the_daemon_checks_them() {
        let d = doc();
        let s = &d["components"]["schemas"];
        assert!(
            s["SilenceConfig"]["required"]
                .as_array()
                .unwrap()
                .contains(&"match".into())
        );
        let m = serde_json::to_value(
            <crate::alert::engine::MatchersSchema as utoipa::PartialSchema>::schema(),
        )
        .unwrap();
        assert_eq!(m["minProperties"], 1);
        assert_eq!(m["propertyNames"]["minLength"], 1);
        assert_eq!(s["ModelName"]["pattern"], crate::http::MODEL_NAME_PATTERN);
        for (name, ok) in [
            ("churn", true),
            ("a.b:c-d_1", true),
            ("", false),
            ("õ", false),
        ] {
            assert_eq!(crate::contract::event::valid_model_name(name), ok, "{name}");
        }
    }
}
