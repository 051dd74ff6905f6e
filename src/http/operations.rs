//! Health, readiness, the audit trail and reconciliation.

use super::bodies::*;
use super::caller::Caller;
use super::common::*;
use super::problem::{ApiError, Problem};
use crate::service::audit::AuditPage;
use crate::service::{Gateway, ServiceError};
use crate::store::billing::AuditFilter;
use crate::store::StoreError;
use actix_web::{get, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

/// The process is up.
#[utoipa::path(tag = "operations", responses((status = 200, body = Health)))]
#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// The database answers.
#[utoipa::path(tag = "operations", responses((status = 200, body = Readiness), (status = 503, body = Problem)))]
#[get("/readyz")]
async fn readyz(gateway: web::Data<Gateway>) -> Answer {
    let backend = gateway.backend();
    let ready = run(gateway, |g| Ok(g.ready())).await?;
    if ready {
        Ok(HttpResponse::Ok().json(Readiness {
            status: "ready",
            database: backend,
        }))
    } else {
        Err(ApiError::Service(ServiceError::Store(
            StoreError::Unavailable("readiness probe failed".into()),
        )))
    }
}

#[derive(Deserialize, IntoParams)]
pub struct AuditQuery {
    object_type: Option<String>,
    object_id: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    /// Cursor: the `next_after` of the previous page.
    after: Option<String>,
    /// Page size, 1 to 100 (default 50).
    limit: Option<i64>,
}

#[utoipa::path(tag = "admin", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, body = AuditPage)))]
#[get("/v1/audit-events")]
async fn audit_events(
    gateway: web::Data<Gateway>,
    caller: Caller,
    query: web::Query<AuditQuery>,
) -> Answer {
    caller.require(STAFF)?;
    let query = query.into_inner();
    let filter = AuditFilter {
        object_type: query.object_type,
        object_id: query.object_id,
        actor: query.actor,
        action: query.action,
        after: query.after,
        limit: page_limit(query.limit),
        newest_first: false,
    };
    Ok(HttpResponse::Ok().json(run(gateway, move |g| g.audit_events(filter)).await?))
}

/// Checks the books: counters against grants, limits, one claim per learner and course,
/// invoice arithmetic, one bureau delivery per approved invoice. Same as `gateway check`.
#[utoipa::path(tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = crate::http::bodies::ReconciliationReport)))]
#[get("/v1/reconciliation")]
async fn reconciliation(gateway: web::Data<Gateway>, caller: Caller) -> Answer {
    caller.require(STAFF)?;
    Ok(HttpResponse::Ok().json(run(gateway, |g| g.reconcile()).await?))
}

pub(super) fn routes(cfg: &mut ServiceConfig) {
    cfg.service(healthz)
        .service(readyz)
        .service(audit_events)
        .service(reconciliation);
}
