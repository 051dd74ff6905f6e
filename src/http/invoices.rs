//! Invoices: the run, the queue, the finance transitions, payment, exports.

use super::bodies::*;
use super::caller::Caller;
use super::common::*;
use super::problem::{ApiError, Problem};
use crate::auth::Role;
use crate::service::invoicing::{CompletionPage, InvoicePage, InvoiceView};
use crate::service::{Gateway, ServiceError};
use crate::store::billing::InvoiceFilter;
use actix_web::{get, post, web, HttpResponse};
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

#[derive(Deserialize, IntoParams)]
pub struct InvoiceQuery {
    status: Option<String>,
    platform: Option<String>,
    payer: Option<String>,
    year: Option<i32>,
    period: Option<String>,
    /// Where the delivery to the bureau stands: `pending`, `delivered`, `failed` or
    /// `paid_by_hand` (only approved invoices have one).
    delivery: Option<String>,
    /// Cursor: the `next_after` of the previous page.
    after: Option<String>,
    /// Page size, 1 to 100 (default 50).
    limit: Option<i64>,
}

/// Drafts the period's invoices, one per platform with activity.
#[utoipa::path(tag = "finance", request_body = InvoiceRunBody, security(("bearer" = [])),
    responses((status = 201, body = Vec<InvoiceView>), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/v1/invoice-runs")]
async fn run_invoices(
    gateway: web::Data<Gateway>,
    caller: Caller,
    body: web::Json<Value>,
) -> Answer {
    let principal = caller.require(STAFF)?.clone();
    let drafts = run(gateway, move |g| g.run_invoices(&principal, &body)).await?;
    Ok(HttpResponse::Created().json(drafts))
}

#[utoipa::path(tag = "finance", security(("bearer" = [])), params(InvoiceQuery),
    responses((status = 200, body = InvoicePage)))]
#[get("/v1/invoices")]
async fn list_invoices(
    gateway: web::Data<Gateway>,
    caller: Caller,
    query: web::Query<InvoiceQuery>,
) -> Answer {
    let principal = caller.require(INVOICE_READERS)?.clone();
    let query = query.into_inner();
    let filter = InvoiceFilter {
        status: query.status,
        platform: query.platform,
        payer: query.payer,
        year: query.year,
        period: query.period,
        delivery: query.delivery,
        after: query.after,
        limit: page_limit(query.limit),
    };
    Ok(HttpResponse::Ok().json(run(gateway, move |g| g.list_invoices(&principal, filter)).await?))
}

#[utoipa::path(tag = "finance", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = InvoiceView), (status = 404, body = Problem)))]
#[get("/v1/invoices/{id}")]
async fn get_invoice(gateway: web::Data<Gateway>, caller: Caller, id: web::Path<String>) -> Answer {
    let principal = caller.require(INVOICE_READERS)?.clone();
    Ok(HttpResponse::Ok().json(run(gateway, move |g| g.get_invoice(&principal, &id)).await?))
}

/// The completions an invoice newly includes, by event id, a page at a time.
#[utoipa::path(tag = "finance", security(("bearer" = [])), params(("id" = String, Path), Paging),
    responses((status = 200, body = CompletionPage), (status = 404, body = Problem)))]
#[get("/v1/invoices/{id}/completions")]
async fn get_invoice_completions(
    gateway: web::Data<Gateway>,
    caller: Caller,
    id: web::Path<String>,
    paging: web::Query<Paging>,
) -> Answer {
    let principal = caller.require(INVOICE_READERS)?.clone();
    let page = paging.cursor();
    Ok(HttpResponse::Ok().json(
        run(gateway, move |g| {
            g.invoice_completions(&principal, &id, &page)
        })
        .await?,
    ))
}

#[utoipa::path(tag = "finance", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = InvoiceView), (status = 409, body = Problem)))]
#[post("/v1/invoices/{id}/issue")]
async fn issue_invoice(
    gateway: web::Data<Gateway>,
    caller: Caller,
    id: web::Path<String>,
) -> Answer {
    let principal = caller.require(FINANCE)?.clone();
    Ok(HttpResponse::Ok().json(run(gateway, move |g| g.issue_invoice(&principal, &id)).await?))
}

/// Approves an issued invoice: never by the user who issued it.
#[utoipa::path(tag = "finance", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = InvoiceView), (status = 403, body = Problem), (status = 409, body = Problem)))]
#[post("/v1/invoices/{id}/approve")]
async fn approve_invoice(
    gateway: web::Data<Gateway>,
    caller: Caller,
    id: web::Path<String>,
) -> Answer {
    let principal = caller.require(FINANCE)?.clone();
    Ok(HttpResponse::Ok().json(run(gateway, move |g| g.approve_invoice(&principal, &id)).await?))
}

#[utoipa::path(tag = "finance", request_body = ReasonBody, security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = InvoiceView), (status = 409, body = Problem)))]
#[post("/v1/invoices/{id}/reject")]
async fn reject_invoice(
    gateway: web::Data<Gateway>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Answer {
    let principal = caller.require(FINANCE)?.clone();
    Ok(HttpResponse::Ok()
        .json(run(gateway, move |g| g.reject_invoice(&principal, &id, &body)).await?))
}

#[utoipa::path(tag = "finance", request_body = PaymentBody, security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = InvoiceView), (status = 409, body = Problem)))]
#[post("/v1/invoices/{id}/mark-paid")]
async fn mark_invoice_paid(
    gateway: web::Data<Gateway>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Answer {
    let principal = caller.require(FINANCE)?.clone();
    Ok(HttpResponse::Ok().json(
        run(gateway, move |g| {
            g.mark_invoice_paid(&principal, &id, &body)
        })
        .await?,
    ))
}

/// The finance bureau confirms it paid the invoice.
#[utoipa::path(tag = "bureau", request_body = BureauPaymentBody, security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = InvoiceView), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[post("/v1/invoices/{id}/payment")]
async fn confirm_payment(
    gateway: web::Data<Gateway>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Answer {
    let principal = caller.require(&[Role::Bureau])?.clone();
    Ok(HttpResponse::Ok()
        .json(run(gateway, move |g| g.confirm_payment(&principal, &id, &body)).await?))
}

/// The invoice as CSV (UTF-8 with BOM).
#[utoipa::path(tag = "finance", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = Problem)))]
#[get("/v1/invoices/{id}/export.csv")]
async fn export_invoice_csv(
    gateway: web::Data<Gateway>,
    caller: Caller,
    id: web::Path<String>,
) -> Answer {
    let principal = caller.require(INVOICE_READERS)?.clone();
    let export = run(gateway, move |g| g.invoice_csv(&principal, &id)).await?;
    Ok(download("text/csv; charset=utf-8", export))
}

/// The invoice as an Excel workbook.
#[utoipa::path(tag = "finance", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Vec<u8>),
        (status = 404, body = Problem)))]
#[get("/v1/invoices/{id}/export.xlsx")]
async fn export_invoice_xlsx(
    gateway: web::Data<Gateway>,
    caller: Caller,
    id: web::Path<String>,
) -> Answer {
    let principal = caller.require(INVOICE_READERS)?.clone();
    Ok(download(
        XLSX,
        run(gateway, move |g| g.invoice_xlsx(&principal, &id)).await?,
    ))
}

#[derive(Deserialize, IntoParams)]
pub struct RunQuery {
    /// Required; optional here only so that a caller without the role hears 403 first.
    #[param(example = "2022-06", required = true)]
    period: Option<String>,
    /// Defaults to `province`.
    payer: Option<String>,
}

/// A run's invoices (one payer's period) as an Excel workbook: a summary and a sheet each.
#[utoipa::path(tag = "finance", security(("bearer" = [])), params(RunQuery),
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Vec<u8>),
        (status = 422, body = Problem)))]
#[get("/v1/invoice-runs/export.xlsx")]
async fn export_run_xlsx(
    gateway: web::Data<Gateway>,
    caller: Caller,
    query: web::Query<RunQuery>,
) -> Answer {
    let principal = caller.require(STAFF)?.clone();
    let payer = query.payer.clone().unwrap_or_else(|| "province".into());
    let period = query.period.clone().ok_or_else(|| {
        ApiError::Service(ServiceError::invalid("period", "required", "is required"))
    })?;
    Ok(download(
        XLSX,
        run(gateway, move |g| g.run_xlsx(&principal, &payer, &period)).await?,
    ))
}

pub(super) fn routes(cfg: &mut ServiceConfig) {
    cfg.service(run_invoices)
        .service(list_invoices)
        .service(get_invoice)
        .service(get_invoice_completions)
        .service(issue_invoice)
        .service(approve_invoice)
        .service(reject_invoice)
        .service(mark_invoice_paid)
        .service(confirm_payment)
        .service(export_invoice_csv)
        .service(export_invoice_xlsx)
        .service(export_run_xlsx);
}
