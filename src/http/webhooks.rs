//! A platform's webhook endpoints: register, list, delete, rotate the secret, send a test,
//! see the attempts, resend a message. Every route is the calling platform's own.

use super::bodies::WebhookEndpointBody;
use super::caller::Caller;
use super::common::{run, Answer};
use super::problem::Problem;
use crate::service::webhooks::{
    WebhookAttemptView, WebhookEndpointCreated, WebhookEndpointView, WebhookMessageQueued,
    WebhookMessageView,
};
use crate::service::Gateway;
use actix_web::{delete, get, post, web, HttpResponse};
use serde_json::Value;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(create_endpoint)
        .service(list_endpoints)
        .service(get_endpoint)
        .service(delete_endpoint)
        .service(rotate_secret)
        .service(enable_endpoint)
        .service(send_test)
        .service(list_attempts)
        .service(list_messages)
        .service(resend_message);
}

/// Registers an endpoint; the answer shows its signing secret, once.
#[utoipa::path(tag = "webhooks", request_body = WebhookEndpointBody, security(("bearer" = [])),
    responses((status = 201, body = WebhookEndpointCreated), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/v1/webhook-endpoints")]
async fn create_endpoint(
    gateway: web::Data<Gateway>,
    caller: Caller,
    body: web::Json<Value>,
) -> Answer {
    let platform = caller.platform()?.to_owned();
    Ok(HttpResponse::Created().json(
        run(gateway, move |g| {
            g.create_webhook_endpoint(&platform, &body)
        })
        .await?,
    ))
}

#[utoipa::path(tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, body = Vec<WebhookEndpointView>)))]
#[get("/v1/webhook-endpoints")]
async fn list_endpoints(gateway: web::Data<Gateway>, caller: Caller) -> Answer {
    let platform = caller.platform()?.to_owned();
    Ok(HttpResponse::Ok().json(run(gateway, move |g| g.list_webhook_endpoints(&platform)).await?))
}

#[utoipa::path(tag = "webhooks", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = WebhookEndpointView), (status = 404, body = Problem)))]
#[get("/v1/webhook-endpoints/{id}")]
async fn get_endpoint(
    gateway: web::Data<Gateway>,
    caller: Caller,
    id: web::Path<String>,
) -> Answer {
    let platform = caller.platform()?.to_owned();
    Ok(HttpResponse::Ok()
        .json(run(gateway, move |g| g.get_webhook_endpoint(&platform, &id)).await?))
}

/// Deletes an endpoint; its pending messages are not sent.
#[utoipa::path(tag = "webhooks", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
#[delete("/v1/webhook-endpoints/{id}")]
async fn delete_endpoint(
    gateway: web::Data<Gateway>,
    caller: Caller,
    id: web::Path<String>,
) -> Answer {
    let platform = caller.platform()?.to_owned();
    run(gateway, move |g| g.delete_webhook_endpoint(&platform, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A new signing secret, shown once; the previous one keeps signing beside it for a day.
#[utoipa::path(tag = "webhooks", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = WebhookEndpointCreated), (status = 404, body = Problem)))]
#[post("/v1/webhook-endpoints/{id}/rotate-secret")]
async fn rotate_secret(
    gateway: web::Data<Gateway>,
    caller: Caller,
    id: web::Path<String>,
) -> Answer {
    let platform = caller.platform()?.to_owned();
    Ok(HttpResponse::Ok()
        .json(run(gateway, move |g| g.rotate_webhook_secret(&platform, &id)).await?))
}

/// Enables an endpoint that was disabled after failing for days.
#[utoipa::path(tag = "webhooks", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = WebhookEndpointView), (status = 404, body = Problem)))]
#[post("/v1/webhook-endpoints/{id}/enable")]
async fn enable_endpoint(
    gateway: web::Data<Gateway>,
    caller: Caller,
    id: web::Path<String>,
) -> Answer {
    let platform = caller.platform()?.to_owned();
    Ok(HttpResponse::Ok()
        .json(run(gateway, move |g| g.enable_webhook_endpoint(&platform, &id)).await?))
}

/// Queues a `webhook.test` message to this endpoint.
#[utoipa::path(tag = "webhooks", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 202, body = WebhookMessageQueued), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[post("/v1/webhook-endpoints/{id}/test")]
async fn send_test(gateway: web::Data<Gateway>, caller: Caller, id: web::Path<String>) -> Answer {
    let platform = caller.platform()?.to_owned();
    Ok(HttpResponse::Accepted()
        .json(run(gateway, move |g| g.test_webhook_endpoint(&platform, &id)).await?))
}

/// The endpoint's latest 100 delivery attempts, newest first.
#[utoipa::path(tag = "webhooks", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Vec<WebhookAttemptView>), (status = 404, body = Problem)))]
#[get("/v1/webhook-endpoints/{id}/attempts")]
async fn list_attempts(
    gateway: web::Data<Gateway>,
    caller: Caller,
    id: web::Path<String>,
) -> Answer {
    let platform = caller.platform()?.to_owned();
    Ok(HttpResponse::Ok().json(run(gateway, move |g| g.webhook_attempts(&platform, &id)).await?))
}

/// The endpoint's latest 100 messages, newest first, with their delivery state.
#[utoipa::path(tag = "webhooks", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Vec<WebhookMessageView>), (status = 404, body = Problem)))]
#[get("/v1/webhook-endpoints/{id}/messages")]
async fn list_messages(
    gateway: web::Data<Gateway>,
    caller: Caller,
    id: web::Path<String>,
) -> Answer {
    let platform = caller.platform()?.to_owned();
    Ok(HttpResponse::Ok().json(run(gateway, move |g| g.webhook_messages(&platform, &id)).await?))
}

/// Sends a message to this endpoint again, with the same `webhook-id` and body.
#[utoipa::path(tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path), ("msg_id" = String, Path)),
    responses((status = 202, body = WebhookMessageQueued), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[post("/v1/webhook-endpoints/{id}/messages/{msg_id}/resend")]
async fn resend_message(
    gateway: web::Data<Gateway>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Answer {
    let platform = caller.platform()?.to_owned();
    let (id, message) = path.into_inner();
    Ok(HttpResponse::Accepted().json(
        run(gateway, move |g| {
            g.resend_webhook_message(&platform, &id, &message)
        })
        .await?,
    ))
}
