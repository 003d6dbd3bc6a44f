//! The review queue over HTTP, for the experts who label: `GET /v1/models/{model}/review` gives
//! the next predictions most worth a label (from the model's queue, see
//! [`crate::monitor::review`]) and claims them for the caller for `[monitor.review]
//! claim_seconds`, so two experts are not offered the same item; `POST
//! /v1/models/{model}/review/{id}/release` gives one back (a skip). Labels go through `POST
//! /v1/feedback` as any other, with the token's name as their `source` when they carry none.
//! Claims live in this process (wall clock); a restart frees them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Json;
use axum::extract::{Extension, Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{ApiError, AppState, ErrorBody, ModelName, PathOf};
use crate::contract::access::Caller;
use crate::intake::Control;

/// Who holds which item until when: (model, id) → (the token's name, until).
#[derive(Debug, Default)]
pub struct Claims {
    held: HashMap<(String, String), (String, Instant)>,
}

/// The claims of one `driftd run`, shared by its handlers.
pub type SharedClaims = Arc<Mutex<Claims>>;

impl Claims {
    fn purge(&mut self, now: Instant) {
        self.held.retain(|_, (_, until)| *until > now);
    }

    /// The ids of `model` that others than `who` hold now.
    pub fn held_by_others(&mut self, model: &str, who: &str, now: Instant) -> Vec<String> {
        self.purge(now);
        self.held
            .iter()
            .filter(|((m, _), (by, _))| m == model && by != who)
            .map(|((_, id), _)| id.clone())
            .collect()
    }

    /// Claims `id` of `model` for `who` until `until` (renewing their own claim).
    pub fn claim(&mut self, model: &str, id: &str, who: &str, until: Instant) {
        self.held
            .insert((model.to_owned(), id.to_owned()), (who.to_owned(), until));
    }

    /// Gives `id` back if `who` holds it; whether it did.
    pub fn release(&mut self, model: &str, id: &str, who: &str) -> bool {
        let key = (model.to_owned(), id.to_owned());
        if self.held.get(&key).is_some_and(|(by, _)| by == who) {
            self.held.remove(&key);
            return true;
        }
        false
    }
}

/// The experts' page: one item at a time, its features and the model's answer, labels by key
/// (`1`–`9`), skip (`s`), and the labels' figures. Plain HTML with a little script, nothing
/// fetched but this daemon's API (with the token the expert types, kept in the tab).
pub(super) const PAGE: &str = include_str!("review.html");

/// The review page ([`PAGE`]); open: it holds no data, its script asks the API with the token.
#[utoipa::path(get, path = "/review", tag = "feedback",
    responses((status = 200, description = "The experts' page (text/html)", content_type = "text/html", body = String)))]
pub(super) async fn get_page() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
        PAGE,
    )
        .into_response()
}

/// The caller's name and the models with a review queue, largest first.
#[utoipa::path(get, path = "/v1/review", tag = "feedback",
    responses(
        (status = 200, description = "`{\"caller\": name, \"models\": [{\"model\", \"items\"}]}`", body = Object),
        (status = 404, description = "No event source", body = ErrorBody),
        (status = 503, description = "The event source is shutting down", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(super) async fn get_models(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    let models = super::admin::ask_task(
        s.control.as_ref(),
        "no event source",
        "the event source",
        Control::ReviewModels,
    )
    .await?;
    let models: Vec<serde_json::Value> = models
        .into_iter()
        .map(|(m, n)| serde_json::json!({ "model": m, "items": n }))
        .collect();
    Ok(Json(serde_json::json!({ "caller": caller.name, "models": models })).into_response())
}

/// How many items to take.
#[derive(Debug, Deserialize, IntoParams)]
pub(super) struct ReviewQuery {
    /// Most items (1 to 50; default 5).
    limit: Option<usize>,
}

/// The next predictions of a model most worth a human label, claimed for the caller.
#[utoipa::path(get, path = "/v1/models/{model}/review", tag = "feedback",
    params(("model" = ModelName, Path, description = "The model's name"), ReviewQuery),
    responses(
        (status = 200, description = "The items (id, ts, features, prediction, weight, inclusion_probability, reasons, claimed_until), the queue's size, and the labels' figures (coverage, accuracy with its 95 % Wilson interval, labels by source, agreement)", body = Object),
        (status = 404, description = "No event source, or no monitor for this model", body = ErrorBody),
        (status = 503, description = "The event source is shutting down", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(super) async fn get_review(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathOf(model): PathOf<String>,
    Query(q): Query<ReviewQuery>,
) -> Result<Response, ApiError> {
    let limit = q.limit.unwrap_or(5).clamp(1, 50);
    let now = Instant::now();
    let exclude = lock(&s.claims).held_by_others(&model, &caller.name, now);
    let mut v = super::admin::ask_model(&s, &model, |reply| Control::Review {
        model: model.clone(),
        exclude,
        limit,
        reply,
    })
    .await?;
    let until = now + s.review_claim;
    let until_wall = chrono::Utc::now() + s.review_claim;
    let mut claims = lock(&s.claims);
    for item in v["items"].as_array_mut().into_iter().flatten() {
        if let Some(id) = item["id"].as_str() {
            claims.claim(&model, id, &caller.name, until);
        }
        item["claimed_until"] = until_wall
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            .into();
    }
    Ok(Json(v).into_response())
}

/// Gives a claimed item back (the expert skips it): it is offered to others again.
#[utoipa::path(post, path = "/v1/models/{model}/review/{id}/release", tag = "feedback",
    params(("model" = ModelName, Path, description = "The model's name"),
           ("id" = String, Path, description = "The prediction's id")),
    responses((status = 200, description = "`{\"released\": true}` when the caller held it", body = Object)),
    security(("bearer" = [])))]
pub(super) async fn post_release(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathOf((model, id)): PathOf<(String, String)>,
) -> Response {
    let released = lock(&s.claims).release(&model, &id, &caller.name);
    Json(serde_json::json!({ "released": released })).into_response()
}

fn lock(c: &SharedClaims) -> std::sync::MutexGuard<'_, Claims> {
    c.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn two_experts_hold_different_items_and_an_expired_claim_frees_its_item() {
        let mut c = Claims::default();
        let t0 = Instant::now();
        c.claim("m", "a", "ana", t0 + Duration::from_secs(10));
        assert_eq!(c.held_by_others("m", "ben", t0), ["a"]);
        assert!(
            c.held_by_others("m", "ana", t0).is_empty(),
            "her own claim is hers"
        );
        assert!(c.held_by_others("other", "ben", t0).is_empty());
        assert!(!c.release("m", "a", "ben"), "only the holder releases");
        assert!(
            c.held_by_others("m", "ben", t0 + Duration::from_secs(11))
                .is_empty(),
            "expired"
        );
        c.claim("m", "b", "ana", t0 + Duration::from_secs(10));
        assert!(c.release("m", "b", "ana"));
        assert!(c.held_by_others("m", "ben", t0).is_empty());
    }
}
