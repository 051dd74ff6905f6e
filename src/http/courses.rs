//! A platform's courses.

use super::bodies::*;
use super::caller::Caller;
use super::common::*;
use super::problem::Problem;
use crate::service::courses::{CourseView, Upserted};
use crate::service::Gateway;
use actix_web::{get, put, web, HttpRequest, HttpResponse};
use serde_json::Value;
use utoipa_actix_web::service_config::ServiceConfig;

#[utoipa::path(tag = "platform", request_body = CourseBody, security(("bearer" = [])), params(("code" = String, Path)),
    responses((status = 201, body = CourseView), (status = 200, body = CourseView), (status = 409, body = Problem)))]
#[put("/v1/courses/{code}")]
async fn put_course(
    gateway: web::Data<Gateway>,
    caller: Caller,
    code: web::Path<String>,
    body: web::Json<Value>,
) -> Answer {
    let platform = caller.platform()?.to_owned();
    match run(gateway, move |g| g.put_course(&platform, &code, &body)).await? {
        Upserted::Created(view) => Ok(HttpResponse::Created().json(view)),
        Upserted::Updated(view) => Ok(HttpResponse::Ok().json(view)),
    }
}

/// Courses by code, a page at a time (`Link: rel="next"` while more follow).
#[utoipa::path(tag = "platform", security(("bearer" = [])), params(YearAndPayer, Paging),
    responses((status = 200, body = Vec<CourseView>)))]
#[get("/v1/courses")]
async fn list_courses(
    gateway: web::Data<Gateway>,
    caller: Caller,
    req: HttpRequest,
    query: web::Query<YearAndPayer>,
    paging: web::Query<Paging>,
) -> Answer {
    let platform = query.platform(&caller)?;
    let page = paging.cursor();
    let items = run(gateway, move |g| {
        g.list_courses(&platform, &query.payer(), &page)
    })
    .await?;
    Ok(paged(&req, &paging, items, |c| c.code.clone()))
}

#[utoipa::path(tag = "platform", security(("bearer" = [])), params(("code" = String, Path), YearAndPayer),
    responses((status = 200, body = CourseView), (status = 404, body = Problem)))]
#[get("/v1/courses/{code}")]
async fn get_course(
    gateway: web::Data<Gateway>,
    caller: Caller,
    code: web::Path<String>,
    query: web::Query<YearAndPayer>,
) -> Answer {
    let platform = query.platform(&caller)?;
    Ok(HttpResponse::Ok().json(
        run(gateway, move |g| {
            g.get_course(&platform, &code, &query.payer())
        })
        .await?,
    ))
}

pub(super) fn routes(cfg: &mut ServiceConfig) {
    cfg.service(put_course)
        .service(list_courses)
        .service(get_course);
}
