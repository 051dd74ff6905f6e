//! Progress against the plan's annual targets per city.

use super::bodies::*;
use super::caller::Caller;
use super::common::*;
use super::problem::{ApiError, Problem};
use crate::auth::Role;
use crate::domain::TrainingYear;
use crate::service::audit::actor;
use crate::service::progress::{CityProgress, TargetView};
use crate::service::Gateway;
use actix_web::{get, put, web, HttpResponse};
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

/// Replaces a training year's targets per city (the plan's 附件1; `targets/2022.json` holds 2022's).
#[utoipa::path(tag = "admin", request_body = Vec<TargetBody>, security(("bearer" = [])),
    params(("year" = i32, Path)), responses((status = 200, body = Vec<TargetView>), (status = 422, body = Problem)))]
#[put("/v1/targets/{year}")]
async fn set_targets(
    gateway: web::Data<Gateway>,
    caller: Caller,
    year: web::Path<i32>,
    body: web::Json<Value>,
) -> Answer {
    let actor = actor(caller.require(&[Role::Admin])?);
    let year = training_year(year.into_inner())?;
    Ok(HttpResponse::Ok().json(run(gateway, move |g| g.set_targets(&actor, year, &body)).await?))
}

#[derive(Deserialize, IntoParams)]
pub struct ProgressQuery {
    /// Training year (default: the current one).
    year: Option<i32>,
}

impl ProgressQuery {
    fn year(&self, gateway: &Gateway) -> Result<TrainingYear, ApiError> {
        self.year
            .map_or_else(|| Ok(gateway.current_year()), training_year)
    }
}

/// How far the online platforms carry each city towards its targets.
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(ProgressQuery),
    responses((status = 200, body = Vec<CityProgress>)))]
#[get("/v1/progress")]
async fn get_progress(
    gateway: web::Data<Gateway>,
    caller: Caller,
    query: web::Query<ProgressQuery>,
) -> Answer {
    caller.require(STAFF)?;
    let year = query.year(&gateway)?;
    Ok(HttpResponse::Ok().json(run(gateway, move |g| g.progress(year)).await?))
}

/// The progress table as an Excel workbook, for the monthly report.
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(ProgressQuery),
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Vec<u8>)))]
#[get("/v1/progress/export.xlsx")]
async fn export_progress_xlsx(
    gateway: web::Data<Gateway>,
    caller: Caller,
    query: web::Query<ProgressQuery>,
) -> Answer {
    caller.require(STAFF)?;
    let year = query.year(&gateway)?;
    Ok(download(
        XLSX,
        run(gateway, move |g| g.progress_xlsx(year)).await?,
    ))
}

pub(super) fn routes(cfg: &mut ServiceConfig) {
    cfg.service(set_targets)
        .service(get_progress)
        .service(export_progress_xlsx);
}
