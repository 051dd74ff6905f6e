//! Electronic vouchers: issued, listed, cancelled, checked by platforms, seen by learners.

use super::bodies::*;
use super::caller::Caller;
use super::common::*;
use super::problem::Problem;
use crate::auth::Role;
use crate::service::audit::actor;
use crate::service::vouchers::{VoucherCheck, VoucherPage, VoucherView};
use crate::service::{Gateway, ServiceError};
use actix_web::{get, post, web, HttpResponse};
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

/// Issues electronic vouchers: one, or `{"vouchers": [...]}` with up to 1,000, all or none.
#[utoipa::path(tag = "vouchers", request_body = VouchersBody, security(("bearer" = [])),
    responses((status = 201, body = Vec<VoucherView>), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/v1/vouchers")]
async fn issue_vouchers(
    gateway: web::Data<Gateway>,
    caller: Caller,
    body: web::Json<Value>,
) -> Answer {
    let actor = actor(caller.require(VOUCHER_ISSUERS)?);
    Ok(HttpResponse::Created().json(run(gateway, move |g| g.issue_vouchers(&actor, &body)).await?))
}

#[derive(Deserialize, IntoParams)]
pub struct VoucherListQuery {
    payer: Option<String>,
    /// `issued`, `redeemed` or `cancelled`.
    status: Option<String>,
    /// Cursor: the `next_after` of the previous page.
    after: Option<String>,
    /// Page size, 1 to 100 (default 50).
    limit: Option<i64>,
}

/// Vouchers by code, a page at a time.
#[utoipa::path(tag = "vouchers", security(("bearer" = [])), params(VoucherListQuery),
    responses((status = 200, body = VoucherPage), (status = 422, body = Problem)))]
#[get("/v1/vouchers")]
async fn list_vouchers(
    gateway: web::Data<Gateway>,
    caller: Caller,
    query: web::Query<VoucherListQuery>,
) -> Answer {
    caller.require(VOUCHER_ISSUERS)?;
    let VoucherListQuery {
        payer,
        status,
        after,
        limit,
    } = query.into_inner();
    let limit = page_limit(limit);
    Ok(HttpResponse::Ok().json(
        run(gateway, move |g| {
            g.list_vouchers(payer, status, after, limit)
        })
        .await?,
    ))
}

/// Withdraws an unused voucher.
#[utoipa::path(tag = "vouchers", security(("bearer" = [])), params(("code" = String, Path)),
    responses((status = 200, body = VoucherView), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[post("/v1/vouchers/{code}/cancel")]
async fn cancel_voucher(
    gateway: web::Data<Gateway>,
    caller: Caller,
    code: web::Path<String>,
) -> Answer {
    let actor = actor(caller.require(&[Role::Admin])?);
    Ok(HttpResponse::Ok().json(run(gateway, move |g| g.cancel_voucher(&actor, &code)).await?))
}

#[derive(Deserialize, IntoParams)]
pub struct VoucherQuery {
    /// The learner who would use it (required).
    id_number: Option<String>,
}

/// A platform checks a voucher before the course: usable by this learner now, or not.
#[utoipa::path(tag = "vouchers", security(("bearer" = [])), params(("code" = String, Path), VoucherQuery),
    responses((status = 200, body = VoucherCheck)))]
#[get("/v1/vouchers/{code}")]
async fn check_voucher(
    gateway: web::Data<Gateway>,
    caller: Caller,
    code: web::Path<String>,
    query: web::Query<VoucherQuery>,
) -> Answer {
    caller.platform()?;
    let id_number = query
        .into_inner()
        .id_number
        .ok_or_else(|| ServiceError::invalid("id_number", "required", "is required"))?;
    Ok(HttpResponse::Ok().json(run(gateway, move |g| g.check_voucher(&code, &id_number)).await?))
}

/// The learner's own vouchers.
#[utoipa::path(tag = "learner", security(("bearer" = [])), responses((status = 200, body = Vec<VoucherView>)))]
#[get("/v1/me/vouchers")]
async fn my_vouchers(gateway: web::Data<Gateway>, caller: Caller) -> Answer {
    let principal = caller.require(&[Role::Learner])?.clone();
    Ok(HttpResponse::Ok().json(run(gateway, move |g| g.my_vouchers(&principal)).await?))
}

pub(super) fn routes(cfg: &mut ServiceConfig) {
    cfg.service(issue_vouchers)
        .service(list_vouchers)
        .service(cancel_voucher)
        .service(check_voucher)
        .service(my_vouchers);
}
