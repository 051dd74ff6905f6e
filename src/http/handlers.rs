//! The routes: each checks the caller's role, hands the input to one use case, and answers.

use super::bodies::*;
use super::caller::{Caller, Limiters};
use super::oauth;
use super::problem::{ApiError, Problem};
use crate::auth::Role;
use crate::domain::TrainingYear;
use crate::service::access::TokenGrant;
use crate::service::admin::{PayerView, PlatformView, RateScheduleView, UserView};
use crate::service::audit::actor;
use crate::service::audit::AuditPage;
use crate::service::courses::{CourseView, Upserted};
use crate::service::ingest::{CompletionResult, FollowupView, MAX_BATCH};
use crate::service::invoicing::{CompletionPage, InvoicePage, InvoiceView};
use crate::service::learners::LearnerSubsidy;
use crate::service::progress::{CityProgress, TargetView};
use crate::service::usage::PlatformUsage;
use crate::service::vouchers::{VoucherCheck, VoucherPage, VoucherView};
use crate::service::{Gateway, ServiceError};
use crate::store::billing::{AuditFilter, InvoiceFilter};
use crate::store::{Cursor, StoreError};
use actix_web::{get, patch, post, put, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::Value;
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

const STAFF: &[Role] = &[Role::Admin, Role::Finance];
/// Vouchers come from the province's voucher system, or an admin.
const VOUCHER_ISSUERS: &[Role] = &[Role::Admin, Role::VoucherSystem];
/// Who moves money: admins configure, they do not issue, approve, reject or pay.
const FINANCE: &[Role] = &[Role::Finance];
/// The largest page any list answers.
const PAGE_MAX: i64 = 100;
/// Who may read an invoice by id: staff, the bureau, and a platform (its own; others are 404).
const INVOICE_READERS: &[Role] = &[Role::Admin, Role::Finance, Role::Platform, Role::Bureau];

/// Cursor paging of the lists that answer plain arrays.
#[derive(Deserialize, IntoParams)]
pub struct Paging {
    /// The key of the last item of the previous page.
    after: Option<String>,
    /// Page size, 1 to 100 (default 100).
    limit: Option<i64>,
}

impl Paging {
    fn limit(&self) -> i64 {
        self.limit.unwrap_or(PAGE_MAX).clamp(1, PAGE_MAX)
    }

    fn cursor(&self) -> Cursor {
        Cursor {
            after: self.after.clone(),
            limit: self.limit(),
        }
    }
}

/// The page as a JSON array; a full page links to the next with `Link: <…>; rel="next"`.
fn paged<T: serde::Serialize>(
    req: &HttpRequest,
    paging: &Paging,
    items: Vec<T>,
    key: impl Fn(&T) -> String,
) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    if items.len() as i64 == paging.limit() {
        if let Some(last) = items.last() {
            let mut query: Vec<(String, String)> =
                web::Query::<Vec<(String, String)>>::from_query(req.query_string())
                    .map(|q| q.into_inner())
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|(name, _)| name != "after" && name != "limit")
                    .collect();
            query.push(("after".into(), key(last)));
            query.push(("limit".into(), paging.limit().to_string()));
            let encoded = serde_urlencoded::to_string(&query).unwrap_or_default();
            response.insert_header(("Link", format!("<{}?{encoded}>; rel=\"next\"", req.path())));
        }
    }
    response.json(items)
}

#[derive(Deserialize, IntoParams)]
pub struct YearAndPayer {
    /// Training year; defaults to the current one.
    year: Option<i32>,
    /// Payer code; defaults to `province`.
    payer: Option<String>,
    /// Staff only: whose figures (platforms see their own).
    platform: Option<String>,
}

impl YearAndPayer {
    fn year(&self, gateway: &Gateway) -> Result<TrainingYear, ApiError> {
        self.year
            .map_or_else(|| Ok(gateway.current_year()), training_year)
    }

    fn payer(&self) -> String {
        self.payer.clone().unwrap_or_else(|| "province".into())
    }

    /// The platform whose data is asked for: a platform's own, or the one staff name.
    fn platform(&self, caller: &Caller) -> Result<String, ApiError> {
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

/// Exchanges credentials for a token: JSON, or an OAuth 2.0 form (RFC 6749 §4.4, §4.3) with
/// the client authenticated by HTTP Basic or in the body. Refusals as RFC 6749 §5.2.
#[utoipa::path(tag = "auth",
    request_body(content(
        (TokenRequest = "application/json"),
        (TokenRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, body = TokenGrant), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 429, body = Problem)))]
#[post("/v1/auth/token")]
async fn issue_token(
    gateway: web::Data<Gateway>,
    limiters: web::Data<Limiters>,
    req: HttpRequest,
    body: web::Bytes,
) -> Answer {
    limiters.check_token_address(&req)?;
    let request = oauth::token_request(&req, &body)?;
    limiters.check_token_account(&request.credentials.account())?;
    let client = request.is_client();
    let grant = run(gateway, move |g| g.grant_token(request.credentials))
        .await
        .map_err(|e| oauth::refusal(client, e))?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Pragma", "no-cache"))
        .json(grant))
}

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

#[utoipa::path(tag = "admin", request_body = NewUser, security(("bearer" = [])),
    responses((status = 201, body = UserView), (status = 409, body = Problem)))]
#[post("/v1/users")]
async fn create_user(
    gateway: web::Data<Gateway>,
    caller: Caller,
    body: web::Json<Value>,
) -> Answer {
    let actor = actor(caller.require(&[Role::Admin])?);
    Ok(HttpResponse::Created().json(run(gateway, move |g| g.create_user(&actor, &body)).await?))
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

/// Staff users by username, a page at a time.
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(Paging), responses((status = 200, body = Vec<UserView>)))]
#[get("/v1/users")]
async fn list_users(
    gateway: web::Data<Gateway>,
    caller: Caller,
    req: HttpRequest,
    paging: web::Query<Paging>,
) -> Answer {
    caller.require(&[Role::Admin])?;
    let page = paging.cursor();
    let items = run(gateway, move |g| g.list_users(&page)).await?;
    Ok(paged(&req, &paging, items, |u| u.username.clone()))
}

/// Disables or re-enables a staff user; their tokens stop working within a second.
#[utoipa::path(tag = "admin", request_body = UserStatusChange, security(("bearer" = [])),
    params(("username" = String, Path)), responses((status = 200, body = UserView), (status = 404, body = Problem)))]
#[patch("/v1/users/{username}")]
async fn update_user(
    gateway: web::Data<Gateway>,
    caller: Caller,
    username: web::Path<String>,
    body: web::Json<Value>,
) -> Answer {
    let actor = actor(caller.require(&[Role::Admin])?);
    Ok(HttpResponse::Ok()
        .json(run(gateway, move |g| g.update_user(&actor, &username, &body)).await?))
}

/// Sets a password: an admin for any user, a user for themselves with `current_password`.
/// The user's other tokens stop working.
#[utoipa::path(tag = "admin", request_body = PasswordChange, security(("bearer" = [])),
    params(("username" = String, Path)), responses((status = 200, body = UserView), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[put("/v1/users/{username}/password")]
async fn change_password(
    gateway: web::Data<Gateway>,
    caller: Caller,
    username: web::Path<String>,
    body: web::Json<Value>,
) -> Answer {
    let principal = caller.require(STAFF)?.clone();
    Ok(HttpResponse::Ok().json(
        run(gateway, move |g| {
            g.change_password(&principal, &username, &body)
        })
        .await?,
    ))
}

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

/// A training year named in a path or query.
fn training_year(year: i32) -> Result<TrainingYear, ApiError> {
    TrainingYear::new(year).map_err(|e| {
        ApiError::Service(ServiceError::invalid("year", "invalid_year", e.to_string()))
    })
}

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

/// The learner's own vouchers.
#[utoipa::path(tag = "learner", security(("bearer" = [])), responses((status = 200, body = Vec<VoucherView>)))]
#[get("/v1/me/vouchers")]
async fn my_vouchers(gateway: web::Data<Gateway>, caller: Caller) -> Answer {
    let principal = caller.require(&[Role::Learner])?.clone();
    Ok(HttpResponse::Ok().json(run(gateway, move |g| g.my_vouchers(&principal)).await?))
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

/// One event (answered with one result) or `{"events": [...]}` (answered with `{"results": [...]}`).
#[utoipa::path(tag = "platform", request_body = CompletionsBody, security(("bearer" = [])),
    responses((status = 200, body = CompletionsAnswer), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/v1/completions")]
async fn post_completions(
    gateway: web::Data<Gateway>,
    caller: Caller,
    body: web::Json<Value>,
) -> Answer {
    let platform = caller.platform()?;
    match body.into_inner() {
        Value::Object(mut body) if body.contains_key("events") => match body.remove("events") {
            Some(Value::Array(events)) if (1..=MAX_BATCH).contains(&events.len()) => {
                let results = gateway.ingest(platform, &events, true).await?;
                Ok(HttpResponse::Ok().json(CompletionsAnswer::Batch(BatchResults { results })))
            }
            _ => Err(ApiError::Service(ServiceError::invalid(
                "events",
                "invalid_batch",
                format!("must be an array of 1 to {MAX_BATCH} events"),
            ))),
        },
        body => {
            let mut results = gateway.ingest(platform, &[body], false).await?;
            let result = results.pop().expect("one event, one result");
            Ok(HttpResponse::Ok().json(CompletionsAnswer::One(result)))
        }
    }
}

#[utoipa::path(tag = "platform", request_body = RevokeBody, security(("bearer" = [])), params(("event_id" = String, Path)),
    responses((status = 200, body = CompletionResult), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[post("/v1/completions/{event_id}/revoke")]
async fn revoke_completion(
    gateway: web::Data<Gateway>,
    caller: Caller,
    event_id: web::Path<String>,
    body: web::Json<Value>,
) -> Answer {
    let platform = caller.platform()?.to_owned();
    Ok(
        HttpResponse::Ok()
            .json(run(gateway, move |g| g.revoke(&platform, &event_id, &body)).await?),
    )
}

#[utoipa::path(tag = "platform", request_body = FollowupBody, security(("bearer" = [])),
    responses((status = 201, body = FollowupView), (status = 422, body = Problem)))]
#[post("/v1/offline-followups")]
async fn post_followup(
    gateway: web::Data<Gateway>,
    caller: Caller,
    body: web::Json<Value>,
) -> Answer {
    let platform = caller.platform()?.to_owned();
    Ok(HttpResponse::Created()
        .json(run(gateway, move |g| g.record_followup(&platform, &body)).await?))
}

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
pub struct InvoiceQuery {
    status: Option<String>,
    platform: Option<String>,
    payer: Option<String>,
    year: Option<i32>,
    period: Option<String>,
    /// Cursor: the `next_after` of the previous page.
    after: Option<String>,
    /// Page size, 1 to 100 (default 50).
    limit: Option<i64>,
}

fn page_limit(limit: Option<i64>) -> i64 {
    limit.unwrap_or(50).clamp(1, PAGE_MAX)
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

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

fn download(content_type: &str, (name, bytes): (String, Vec<u8>)) -> HttpResponse {
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
