//! Payers and their versioned rate schedules.

use super::bodies::*;
use super::caller::Caller;
use super::common::*;
use super::problem::Problem;
use crate::auth::Role;
use crate::service::admin::{PayerView, RateScheduleView};
use crate::service::audit::actor;
use crate::service::Gateway;
use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

/// Whether a payer pays completions only against electronic vouchers, from now on.
#[utoipa::path(tag = "admin", request_body = PayerChange, security(("bearer" = [])),
    params(("code" = String, Path)), responses((status = 200, body = PayerView), (status = 404, body = Problem)))]
#[patch("/v1/payers/{code}")]
async fn update_payer(
    gateway: web::Data<Gateway>,
    caller: Caller,
    code: web::Path<String>,
    body: web::Json<Value>,
) -> Answer {
    let actor = actor(caller.require(&[Role::Admin])?);
    Ok(HttpResponse::Ok().json(
        run(gateway, move |g| {
            g.set_voucher_requirement(&actor, &code, &body)
        })
        .await?,
    ))
}

#[utoipa::path(tag = "admin", request_body = CodeAndName, security(("bearer" = [])),
    responses((status = 201, body = PayerView), (status = 409, body = Problem)))]
#[post("/v1/payers")]
async fn create_payer(
    gateway: web::Data<Gateway>,
    caller: Caller,
    body: web::Json<Value>,
) -> Answer {
    let actor = actor(caller.require(&[Role::Admin])?);
    Ok(HttpResponse::Created().json(run(gateway, move |g| g.create_payer(&actor, &body)).await?))
}

/// Payers by code, a page at a time (`Link: rel="next"` while more follow).
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(Paging), responses((status = 200, body = Vec<PayerView>)))]
#[get("/v1/payers")]
async fn list_payers(
    gateway: web::Data<Gateway>,
    caller: Caller,
    req: HttpRequest,
    paging: web::Query<Paging>,
) -> Answer {
    caller.require(STAFF)?;
    let page = paging.cursor();
    let items = run(gateway, move |g| g.list_payers(&page)).await?;
    Ok(paged(&req, &paging, items, |p| p.code.clone()))
}

#[utoipa::path(tag = "admin", request_body = NewRateSchedule, security(("bearer" = [])),
    responses((status = 201, body = RateScheduleView), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/v1/rate-schedules")]
async fn create_schedule(
    gateway: web::Data<Gateway>,
    caller: Caller,
    body: web::Json<Value>,
) -> Answer {
    let actor = actor(caller.require(&[Role::Admin])?);
    Ok(
        HttpResponse::Created()
            .json(run(gateway, move |g| g.create_schedule(&actor, &body)).await?),
    )
}

#[derive(Deserialize, IntoParams)]
pub struct PayerFilter {
    /// Only this payer's versions.
    payer: Option<String>,
}

/// Schedule versions in creation order, a page at a time (`Link: rel="next"` while more follow).
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(PayerFilter, Paging),
    responses((status = 200, body = Vec<RateScheduleView>)))]
#[get("/v1/rate-schedules")]
async fn list_schedules(
    gateway: web::Data<Gateway>,
    caller: Caller,
    req: HttpRequest,
    query: web::Query<PayerFilter>,
    paging: web::Query<Paging>,
) -> Answer {
    caller.require(STAFF)?;
    let page = paging.cursor();
    let items = run(gateway, move |g| {
        g.list_schedules(query.payer.as_deref(), &page)
    })
    .await?;
    Ok(paged(&req, &paging, items, |s| s.id.clone()))
}

pub(super) fn routes(cfg: &mut ServiceConfig) {
    cfg.service(update_payer)
        .service(create_payer)
        .service(list_payers)
        .service(create_schedule)
        .service(list_schedules);
}
