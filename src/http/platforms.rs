//! Platforms: registered, listed, suspended, their client secret rotated.

use super::bodies::*;
use super::caller::Caller;
use super::common::*;
use super::problem::Problem;
use crate::auth::Role;
use crate::service::admin::PlatformView;
use crate::service::audit::actor;
use crate::service::Gateway;
use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use serde_json::Value;
use utoipa_actix_web::service_config::ServiceConfig;

#[utoipa::path(tag = "admin", request_body = CodeAndName, security(("bearer" = [])),
    responses((status = 201, body = PlatformView), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/v1/platforms")]
async fn create_platform(
    gateway: web::Data<Gateway>,
    caller: Caller,
    body: web::Json<Value>,
) -> Answer {
    let actor = actor(caller.require(&[Role::Admin])?);
    let view = run(gateway, move |g| g.create_platform(&actor, &body)).await?;
    Ok(HttpResponse::Created().json(view))
}

/// Platforms by code, a page at a time (`Link: rel="next"` while more follow).
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(Paging), responses((status = 200, body = Vec<PlatformView>)))]
#[get("/v1/platforms")]
async fn list_platforms(
    gateway: web::Data<Gateway>,
    caller: Caller,
    req: HttpRequest,
    paging: web::Query<Paging>,
) -> Answer {
    caller.require(STAFF)?;
    let page = paging.cursor();
    let items = run(gateway, move |g| g.list_platforms(&page)).await?;
    Ok(paged(&req, &paging, items, |p| p.code.clone()))
}

#[utoipa::path(tag = "admin", security(("bearer" = [])), params(("code" = String, Path)),
    responses((status = 200, body = PlatformView), (status = 404, body = Problem)))]
#[get("/v1/platforms/{code}")]
async fn get_platform(
    gateway: web::Data<Gateway>,
    caller: Caller,
    code: web::Path<String>,
) -> Answer {
    caller.require(STAFF)?;
    Ok(HttpResponse::Ok().json(run(gateway, move |g| g.get_platform(&code)).await?))
}

#[utoipa::path(tag = "admin", request_body = PlatformStatusChange, security(("bearer" = [])),
    params(("code" = String, Path)), responses((status = 200, body = PlatformView), (status = 404, body = Problem)))]
#[patch("/v1/platforms/{code}")]
async fn update_platform(
    gateway: web::Data<Gateway>,
    caller: Caller,
    code: web::Path<String>,
    body: web::Json<Value>,
) -> Answer {
    let actor = actor(caller.require(&[Role::Admin])?);
    Ok(HttpResponse::Ok()
        .json(run(gateway, move |g| g.update_platform(&actor, &code, &body)).await?))
}

/// A new client secret, shown in this answer only; the platform's earlier tokens stop working
/// within a second on every replica.
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(("code" = String, Path)),
    responses((status = 200, body = PlatformView), (status = 404, body = Problem)))]
#[post("/v1/platforms/{code}/rotate-secret")]
async fn rotate_platform_secret(
    gateway: web::Data<Gateway>,
    caller: Caller,
    code: web::Path<String>,
) -> Answer {
    let actor = actor(caller.require(&[Role::Admin])?);
    Ok(HttpResponse::Ok()
        .json(run(gateway, move |g| g.rotate_platform_secret(&actor, &code)).await?))
}

pub(super) fn routes(cfg: &mut ServiceConfig) {
    cfg.service(create_platform)
        .service(list_platforms)
        .service(get_platform)
        .service(update_platform)
        .service(rotate_platform_secret);
}
