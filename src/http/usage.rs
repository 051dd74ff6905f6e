//! A platform's usage and a learner's remaining subsidy.

use super::caller::Caller;
use super::common::*;
use super::problem::Problem;
use crate::auth::Role;
use crate::service::learners::LearnerSubsidy;
use crate::service::usage::PlatformUsage;
use crate::service::Gateway;
use actix_web::{get, web, HttpResponse};
use utoipa_actix_web::service_config::ServiceConfig;

#[utoipa::path(tag = "platform", security(("bearer" = [])), params(YearAndPayer),
    responses((status = 200, body = PlatformUsage), (status = 404, body = Problem)))]
#[get("/v1/usage")]
async fn get_usage(
    gateway: web::Data<Gateway>,
    caller: Caller,
    query: web::Query<YearAndPayer>,
) -> Answer {
    let platform = query.platform(&caller)?;
    let year = query.year(&gateway)?;
    Ok(HttpResponse::Ok().json(
        run(gateway, move |g| {
            g.platform_usage(&platform, &query.payer(), year)
        })
        .await?,
    ))
}

#[utoipa::path(tag = "learner", security(("bearer" = [])), params(YearAndPayer),
    responses((status = 200, body = LearnerSubsidy), (status = 404, body = Problem)))]
#[get("/v1/me/subsidy")]
async fn my_subsidy(
    gateway: web::Data<Gateway>,
    caller: Caller,
    query: web::Query<YearAndPayer>,
) -> Answer {
    let learner = caller.require(&[Role::Learner])?.subject.clone();
    let year = query.year(&gateway)?;
    Ok(HttpResponse::Ok().json(
        run(gateway, move |g| {
            g.learner_subsidy(&learner, year, &query.payer())
        })
        .await?,
    ))
}

pub(super) fn routes(cfg: &mut ServiceConfig) {
    cfg.service(get_usage).service(my_subsidy);
}
