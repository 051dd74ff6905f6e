//! The web console under `/console`: server-rendered pages for finance staff, platforms,
//! learners and admins, calling the same use cases as the API. A session cookie (HttpOnly,
//! SameSite=Strict, Secure behind TLS) signs the visitor in; every form carries the session's
//! CSRF token; pages send a Content-Security-Policy and run no script.

mod admin;
mod audit;
mod invoices;
mod learner;
mod page;
mod password;
mod payers;
mod platform;
pub mod provider;
mod sign_in;
mod vouchers;
mod webhooks;

use super::common::page_link;
use super::problem::ApiError;
use crate::auth::{Principal, Role};
use crate::service::sessions::Session;
use crate::service::standing::Refusal;
use crate::service::{Gateway, ServiceError};
use crate::store::Cursor;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use maud::html;
use page::{page, Lang};
use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// The session cookie.
const SESSION_COOKIE: &str = "gw_session";

/// Whether the console's cookies are `Secure` whatever the request says (the gateway is reached
/// over `https://`, through a proxy that terminates TLS).
#[derive(Clone, Copy)]
struct CookiePolicy {
    secure: bool,
}

/// What the console is configured with: whether its cookies are always `Secure`, and the
/// identity provider learners sign in through, if any.
#[derive(Clone)]
pub struct ConsoleSettings {
    pub secure_cookies: bool,
    pub provider: Option<web::Data<provider::Provider>>,
}

pub fn routes(cfg: &mut web::ServiceConfig, settings: ConsoleSettings) {
    if let Some(provider) = settings.provider {
        cfg.app_data(provider);
    }
    cfg.app_data(web::FormConfig::default().limit(64 * 1024))
        .app_data(web::Data::new(CookiePolicy {
            secure: settings.secure_cookies,
        }))
        .route("", web::get().to(home))
        .route("/", web::get().to(home))
        .route("/static/console.css", web::get().to(stylesheet))
        .route("/lang", web::get().to(switch_language))
        .configure(sign_in::routes)
        .configure(provider::routes)
        .configure(admin::routes)
        .configure(audit::routes)
        .configure(password::routes)
        .configure(payers::routes)
        .configure(invoices::routes)
        .configure(learner::routes)
        .configure(platform::routes)
        .configure(vouchers::routes)
        .configure(webhooks::routes);
}

/// Each role's first page.
async fn home(visitor: Visitor) -> HttpResponse {
    let to = match visitor.principal().role {
        Role::Finance => "/console/invoices",
        Role::Admin => "/console/platforms",
        Role::Platform => "/console/platform",
        _ => "/console/me",
    };
    see_other(to)
}

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "max-age=3600"))
        .body(page::STYLESHEET)
}

#[derive(serde::Deserialize)]
struct LanguageChoice {
    to: String,
}

/// The language switch: remembered in a cookie, then back to where the visitor was.
async fn switch_language(req: HttpRequest, choice: web::Query<LanguageChoice>) -> HttpResponse {
    let lang = Lang::parse(&choice.to);
    let back = req
        .headers()
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.find("/console").map(|at| v[at..].to_owned()))
        .unwrap_or_else(|| "/console".into());
    let mut response = see_other(&back);
    let cookie = Cookie::build(
        page::LANG_COOKIE,
        if lang == Lang::En { "en" } else { "zh" },
    )
    .path("/console")
    .same_site(SameSite::Strict)
    .http_only(true)
    .finish();
    response.add_cookie(&cookie).expect("a valid cookie");
    response
}

fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish()
}

/// A signed-in visitor, read from the session cookie; without one, pages send them to sign in.
pub struct Visitor {
    session: Session,
    /// The cookie's value, to close the session by.
    cookie: String,
    lang: Lang,
}

impl Visitor {
    fn principal(&self) -> &Principal {
        &self.session.principal
    }

    /// Refuses visitors of other roles.
    fn require(&self, roles: &[Role]) -> Result<&Principal, ConsoleError> {
        if roles.contains(&self.session.principal.role) {
            Ok(&self.session.principal)
        } else {
            Err(ConsoleError::NotForRole(self.lang))
        }
    }

    /// A form must send back its session's token: a page elsewhere cannot post for the visitor.
    fn check_form(&self, csrf: &str) -> Result<(), ConsoleError> {
        if same_secret(csrf, &self.session.csrf) {
            Ok(())
        } else {
            tracing::warn!(account = %self.session.display, "console form without its CSRF token");
            Err(ConsoleError::Forged(self.lang))
        }
    }

    fn header(&self) -> page::Header<'_> {
        page::Header {
            who: &self.session.display,
            role: self.session.principal.role,
            csrf: &self.session.csrf,
        }
    }
}

/// Compares two secrets in time independent of where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    // Digests, so that not even the lengths are compared early.
    Sha256::digest(a.as_bytes())
        .ct_eq(&Sha256::digest(b.as_bytes()))
        .into()
}

impl FromRequest for Visitor {
    type Error = ConsoleError;
    type Future = Pin<Box<dyn Future<Output = Result<Visitor, ConsoleError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let lang = Lang::of(req);
        let gateway = req
            .app_data::<web::Data<Gateway>>()
            .expect("gateway is registered")
            .clone();
        let cookie = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
        Box::pin(async move {
            let cookie = cookie.ok_or(ConsoleError::SignIn)?;
            let standing = gateway.clone();
            let value = cookie.clone();
            let session = web::block(move || gateway.session(&value))
                .await
                .map_err(|e| ServiceError::Internal(e.to_string()))
                .and_then(|found| found)
                .map_err(ConsoleError::service(lang))?
                .ok_or(ConsoleError::SignIn)?;
            match standing.standing().admits(&session.principal) {
                Ok(()) => Ok(Visitor {
                    session,
                    cookie,
                    lang,
                }),
                Err(Refusal::Revoked | Refusal::PlatformSuspended) => Err(ConsoleError::SignIn),
            }
        })
    }
}

/// Why a console page could not be shown; rendered as a page, never as JSON.
#[derive(Debug)]
pub enum ConsoleError {
    /// No session, or it expired or was revoked: back to sign-in.
    SignIn,
    NotForRole(Lang),
    /// A form without its session's CSRF token.
    Forged(Lang),
    /// A use case refused or failed: its status and safe sentence, the cause logged.
    Refused {
        lang: Lang,
        status: StatusCode,
        message: String,
    },
}

impl fmt::Display for ConsoleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConsoleError::SignIn => write!(f, "sign-in needed"),
            ConsoleError::NotForRole(_) => write!(f, "not open to this role"),
            ConsoleError::Forged(_) => write!(f, "form without its CSRF token"),
            ConsoleError::Refused { message, .. } => write!(f, "{message}"),
        }
    }
}

impl ConsoleError {
    /// The API's refusal, as a page: the same status and sentence, the cause logged once.
    fn api(lang: Lang) -> impl Fn(ApiError) -> ConsoleError {
        move |e| {
            let (status, code, detail, _) = e.logged_parts();
            ConsoleError::Refused {
                lang,
                status,
                message: format!("{detail} ({code})"),
            }
        }
    }

    fn service(lang: Lang) -> impl Fn(ServiceError) -> ConsoleError {
        move |e| ConsoleError::api(lang)(ApiError::Service(e))
    }
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConsoleError::SignIn => StatusCode::SEE_OTHER,
            ConsoleError::NotForRole(_) | ConsoleError::Forged(_) => StatusCode::FORBIDDEN,
            ConsoleError::Refused { status, .. } => *status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (lang, status, message) = match self {
            ConsoleError::SignIn => {
                let mut response = see_other("/console/sign-in");
                let mut gone = Cookie::build(SESSION_COOKIE, "").path("/console").finish();
                gone.make_removal();
                response.add_cookie(&gone).expect("a valid cookie");
                return response;
            }
            ConsoleError::NotForRole(lang) => (
                *lang,
                StatusCode::FORBIDDEN,
                lang.t("此页面不对您的角色开放。", "This page is not open to your role.")
                    .to_owned(),
            ),
            ConsoleError::Forged(lang) => (
                *lang,
                StatusCode::FORBIDDEN,
                lang.t(
                    "表单已失效（缺少安全令牌），请刷新页面后重试。",
                    "The form was refused: it did not carry its security token. Reload the page and try again.",
                )
                .to_owned(),
            ),
            ConsoleError::Refused {
                lang,
                status,
                message,
            } => (*lang, *status, message.clone()),
        };
        let mut response = page(
            lang,
            lang.t("无法完成", "Could not be done"),
            None,
            html! {
                p.error role="alert" { (message) }
                p { a href="/console" { (lang.t("返回", "Back")) } }
            },
        );
        *response.status_mut() = status;
        response
    }
}

/// A filter's value as typed, trimmed; an empty field filters nothing.
fn given(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// A form that carries nothing but its CSRF token (a button's action).
#[derive(serde::Deserialize)]
struct FormToken {
    csrf: String,
}

/// How many entries a console list shows at a time.
const LIST_PAGE: i64 = 100;

/// A list's cursor in a page's query: the key of the last entry of the page before.
#[derive(serde::Deserialize)]
struct After {
    after: Option<String>,
}

/// The page of a list after `after`, the first without it.
fn list_page(after: Option<String>) -> Cursor {
    Cursor {
        after,
        limit: LIST_PAGE,
    }
}

/// Links back to a list's first page (once past it) and on to the next (while one may follow),
/// keeping the filters of the list's `query`.
fn pager(lang: Lang, path: &str, query: &str, next: Option<String>) -> maud::Markup {
    let past_first = web::Query::<After>::from_query(query).is_ok_and(|q| q.after.is_some());
    html! {
        @if past_first || next.is_some() {
            nav.pager aria-label=(lang.t("翻页", "Pages")) {
                @if past_first {
                    a href=(page_link(path, query, None, None)) { (lang.t("第一页", "First page")) }
                }
                @if let Some(after) = next {
                    a rel="next" href=(page_link(path, query, Some(&after), None)) { (lang.t("下一页", "Next page")) }
                }
            }
        }
    }
}

/// A field of a form read as pairs (forms with repeated or per-level fields), trimmed.
fn form_value(form: &[(String, String)], name: &str) -> String {
    form.iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.trim().to_owned())
        .unwrap_or_default()
}

/// Runs a use case on the blocking pool, as the API's routes do.
async fn run<T: Send + 'static>(
    gateway: &web::Data<Gateway>,
    lang: Lang,
    work: impl FnOnce(&Gateway) -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ConsoleError> {
    let gateway = gateway.clone().into_inner();
    web::block(move || work(&gateway))
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))
        .and_then(|done| done)
        .map_err(ConsoleError::service(lang))
}
