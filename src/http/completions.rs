//! Completion webhooks, revocations and offline follow-ups.

use super::bodies::*;
use super::caller::Caller;
use super::common::*;
use super::problem::{ApiError, Problem};
use crate::service::ingest::{CompletionResult, FollowupView, MAX_BATCH};
use crate::service::{Gateway, ServiceError};
use actix_web::{post, web, HttpResponse};
use serde_json::Value;
use utoipa_actix_web::service_config::ServiceConfig;

/// One event (answered with one result) or `{"events": [...]}` (answered with `{"results": [...]}`).
#[utoipa::path(tag = "platform", request_body = CompletionsBody, security(("bearer" = [])),
    responses((status = 200, body = CompletionsAnswer), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/v1/completions")]
async fn post_completions(
    gateway: web::Data<Gateway>,
    caller: Caller,
    body: web::Json<Value>,
) -> Answer {
    let platform = caller.platform()?;
    match body.into_inner() {
        Value::Object(mut body) if body.contains_key("events") => match body.remove("events") {
            Some(Value::Array(events)) if (1..=MAX_BATCH).contains(&events.len()) => {
                let results = gateway.ingest(platform, &events, true).await?;
                Ok(HttpResponse::Ok().json(CompletionsAnswer::Batch(BatchResults { results })))
            }
            _ => Err(ApiError::Service(ServiceError::invalid(
                "events",
                "invalid_batch",
                format!("must be an array of 1 to {MAX_BATCH} events"),
            ))),
        },
        body => {
            let mut results = gateway.ingest(platform, &[body], false).await?;
            let result = results.pop().expect("one event, one result");
            Ok(HttpResponse::Ok().json(CompletionsAnswer::One(result)))
        }
    }
}

#[utoipa::path(tag = "platform", request_body = RevokeBody, security(("bearer" = [])), params(("event_id" = String, Path)),
    responses((status = 200, body = CompletionResult), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[post("/v1/completions/{event_id}/revoke")]
async fn revoke_completion(
    gateway: web::Data<Gateway>,
    caller: Caller,
    event_id: web::Path<String>,
    body: web::Json<Value>,
) -> Answer {
    let platform = caller.platform()?.to_owned();
    Ok(
        HttpResponse::Ok()
            .json(run(gateway, move |g| g.revoke(&platform, &event_id, &body)).await?),
    )
}

#[utoipa::path(tag = "platform", request_body = FollowupBody, security(("bearer" = [])),
    responses((status = 201, body = FollowupView), (status = 422, body = Problem)))]
#[post("/v1/offline-followups")]
async fn post_followup(
    gateway: web::Data<Gateway>,
    caller: Caller,
    body: web::Json<Value>,
) -> Answer {
    let platform = caller.platform()?.to_owned();
    Ok(HttpResponse::Created()
        .json(run(gateway, move |g| g.record_followup(&platform, &body)).await?))
}

pub(super) fn routes(cfg: &mut ServiceConfig) {
    cfg.service(post_completions)
        .service(revoke_completion)
        .service(post_followup);
}
