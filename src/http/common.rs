//! What the API routes share: running a use case, the roles that may call, paging, downloads.

use super::caller::Caller;
use super::problem::ApiError;
use crate::auth::Role;
use crate::domain::TrainingYear;
use crate::service::{Gateway, ServiceError};
use crate::store::{Cursor, StoreError};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

pub(super) type Answer = Result<HttpResponse, ApiError>;

/// Runs a use case on the blocking pool: diesel is synchronous.
pub(super) async fn run<T: Send + 'static>(
    gateway: web::Data<Gateway>,
    work: impl FnOnce(&Gateway) -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ApiError> {
    let gateway = gateway.into_inner();
    web::block(move || work(&gateway))
        .await
        .map_err(|e| ServiceError::Store(StoreError::Unavailable(e.to_string())))?
        .map_err(ApiError::from)
}

pub(super) const STAFF: &[Role] = &[Role::Admin, Role::Finance];
/// Vouchers come from the province's voucher system, or an admin.
pub(super) const VOUCHER_ISSUERS: &[Role] = &[Role::Admin, Role::VoucherSystem];
/// Who moves money: admins configure, they do not issue, approve, reject or pay.
pub(super) const FINANCE: &[Role] = &[Role::Finance];
/// The largest page any list answers.
pub(super) const PAGE_MAX: i64 = 100;
/// Who may read an invoice by id: staff, the bureau, and a platform (its own; others are 404).
pub(super) const INVOICE_READERS: &[Role] =
    &[Role::Admin, Role::Finance, Role::Platform, Role::Bureau];

/// Cursor paging of the lists that answer plain arrays.
#[derive(Deserialize, IntoParams)]
pub(super) struct Paging {
    /// The key of the last item of the previous page.
    pub(super) after: Option<String>,
    /// Page size, 1 to 100 (default 100).
    pub(super) limit: Option<i64>,
}

impl Paging {
    pub(super) fn limit(&self) -> i64 {
        self.limit.unwrap_or(PAGE_MAX).clamp(1, PAGE_MAX)
    }

    pub(super) fn cursor(&self) -> Cursor {
        Cursor {
            after: self.after.clone(),
            limit: self.limit(),
        }
    }
}

/// The page as a JSON array; a full page links to the next with `Link: <…>; rel="next"`.
pub(super) fn paged<T: serde::Serialize>(
    req: &HttpRequest,
    paging: &Paging,
    items: Vec<T>,
    key: impl Fn(&T) -> String,
) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    if items.len() as i64 == paging.limit() {
        if let Some(last) = items.last() {
            let next = page_link(
                req.path(),
                req.query_string(),
                Some(&key(last)),
                Some(paging.limit()),
            );
            response.insert_header(("Link", format!("<{next}>; rel=\"next\"")));
        }
    }
    response.json(items)
}

/// A list's path and query, asking for the page after `after`, or for the first page without
/// it (API lists and console pages alike).
pub(crate) fn page_link(
    path: &str,
    query: &str,
    after: Option<&str>,
    limit: Option<i64>,
) -> String {
    let mut query: Vec<(String, String)> = web::Query::<Vec<(String, String)>>::from_query(query)
        .map(|q| q.into_inner())
        .unwrap_or_default()
        .into_iter()
        .filter(|(name, _)| name != "after" && name != "limit")
        .collect();
    if let Some(after) = after {
        query.push(("after".into(), after.to_owned()));
    }
    if let Some(limit) = limit {
        query.push(("limit".into(), limit.to_string()));
    }
    let encoded = serde_urlencoded::to_string(&query).unwrap_or_default();
    format!("{path}?{encoded}")
}

#[derive(Deserialize, IntoParams)]
pub(super) struct YearAndPayer {
    /// Training year; defaults to the current one.
    pub(super) year: Option<i32>,
    /// Payer code; defaults to `province`.
    pub(super) payer: Option<String>,
    /// Staff only: whose figures (platforms see their own).
    pub(super) platform: Option<String>,
}

impl YearAndPayer {
    pub(super) fn year(&self, gateway: &Gateway) -> Result<TrainingYear, ApiError> {
        self.year
            .map_or_else(|| Ok(gateway.current_year()), training_year)
    }

    pub(super) fn payer(&self) -> String {
        self.payer.clone().unwrap_or_else(|| "province".into())
    }

    /// The platform whose data is asked for: a platform's own, or the one staff name.
    pub(super) fn platform(&self, caller: &Caller) -> Result<String, ApiError> {
        match caller.0.role {
            Role::Platform => caller.platform().map(str::to_owned),
            Role::Admin | Role::Finance => self.platform.clone().ok_or_else(|| {
                ApiError::Service(ServiceError::invalid(
                    "platform",
                    "required",
                    "is required for staff",
                ))
            }),
            _ => Err(ApiError::Forbidden),
        }
    }
}

/// A training year named in a path or query.
pub(super) fn training_year(year: i32) -> Result<TrainingYear, ApiError> {
    TrainingYear::new(year).map_err(|e| {
        ApiError::Service(ServiceError::invalid("year", "invalid_year", e.to_string()))
    })
}

pub(super) fn page_limit(limit: Option<i64>) -> i64 {
    limit.unwrap_or(50).clamp(1, PAGE_MAX)
}

pub(super) const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

pub(super) fn download(content_type: &str, (name, bytes): (String, Vec<u8>)) -> HttpResponse {
    // Names carry codes and numbers that callers chose: keep the header plain ASCII.
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{safe}\""),
        ))
        .body(bytes)
}
