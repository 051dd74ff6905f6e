//! Signing in (a staff password, or a one-time link from `gateway login-link`) and out.

use super::page::{page, Lang};
use super::provider;
use super::{
    same_secret, see_other, ConsoleError, CookiePolicy, FormToken, Visitor, SESSION_COOKIE,
};
use crate::auth::random_token;
use crate::http::caller::Limiters;
use crate::service::sessions::{Opened, SESSION_HOURS};
use crate::service::{Gateway, ServiceError};
use actix_web::cookie::{time::Duration, Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

/// The sign-in form's own CSRF token, before there is a session to hold one: the form sends it
/// back in a field and the browser in this cookie, and only a page of the console can do both.
const SIGN_IN_COOKIE: &str = "gw_sign_in";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/sign-in", web::get().to(sign_in_form))
        .route("/sign-in", web::post().to(sign_in))
        .route("/link", web::get().to(link_page))
        .route("/link", web::post().to(follow_link))
        .route("/sign-out", web::post().to(sign_out));
}

/// A console cookie: only for the console's paths, never to scripts or other sites, and only
/// over TLS where the gateway is reached by `https://` (configured, or as the request says).
pub(super) fn console_cookie<'c>(req: &HttpRequest, name: &'c str, value: String) -> Cookie<'c> {
    let configured = req
        .app_data::<web::Data<CookiePolicy>>()
        .is_some_and(|policy| policy.secure);
    Cookie::build(name, value)
        .path("/console")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(configured || req.connection_info().scheme() == "https")
        .finish()
}

/// A sign-in page: its form carries a fresh token, which the browser also keeps in a cookie.
fn sign_in_page(req: &HttpRequest, lang: Lang, form: impl FnOnce(&str) -> Markup) -> HttpResponse {
    let token = random_token(24);
    let mut response = page(lang, lang.t("登录", "Sign in"), None, form(&token));
    response
        .add_cookie(&console_cookie(req, SIGN_IN_COOKIE, token))
        .expect("a valid cookie");
    response
}

/// A sign-in form must send back the token its page set: another site cannot post one, not
/// even to sign a visitor into the other site's own account.
fn check_sign_in_form(req: &HttpRequest, lang: Lang, csrf: &str) -> Result<(), ConsoleError> {
    let expected = req.cookie(SIGN_IN_COOKIE).map(|c| c.value().to_owned());
    if expected.is_some_and(|token| same_secret(&token, csrf)) {
        Ok(())
    } else {
        Err(ConsoleError::Forged(lang))
    }
}

/// What the sign-in form says above itself: why the last try failed, or news.
enum Said<'a> {
    Nothing,
    Problem(&'a str),
    Notice(&'a str),
}

fn form_page(req: &HttpRequest, lang: Lang, status: StatusCode, said: Said) -> HttpResponse {
    let mut response = sign_in_page(req, lang, |token| {
        html! {
                @match said {
                    Said::Problem(problem) => p.error role="alert" { (problem) },
                    Said::Notice(notice) => p.notice role="status" { (notice) },
                    Said::Nothing => {},
                }
                form.stack method="post" action="/console/sign-in" {
                    input type="hidden" name="csrf" value=(token);
                    label { (lang.t("用户名", "Username"))
                        input type="text" name="username" autocomplete="username" required autofocus; }
                    label { (lang.t("密码", "Password"))
                        input type="password" name="password" autocomplete="current-password" required; }
                    button type="submit" { (lang.t("登录", "Sign in")) }
                }
                @if provider::offered(req) {
                    section.stack aria-labelledby="learners" {
                        h2 #learners { (lang.t("学员", "Learners")) }
                        a.button href="/console/idp" { (lang.t("通过实名认证平台登录", "Sign in through the identity provider")) }
                    }
                } @else {
                    p.note { (lang.t(
                        "学员请使用管理员提供的一次性登录链接。",
                        "Learners sign in with the one-time link an administrator gives them.")) }
                }
        }
    });
    *response.status_mut() = status;
    response
}

async fn sign_in_form(req: HttpRequest) -> HttpResponse {
    let lang = Lang::of(&req);
    // After a password change every session of the account has ended, this one too.
    let said = if req.query_string() == "password=changed" {
        Said::Notice(lang.t(
            "密码已修改，请用新密码登录。",
            "Your password was changed: sign in with the new one.",
        ))
    } else {
        Said::Nothing
    };
    form_page(&req, lang, StatusCode::OK, said)
}

#[derive(Deserialize)]
struct Credentials {
    csrf: String,
    username: String,
    password: String,
}

async fn sign_in(
    req: HttpRequest,
    gateway: web::Data<Gateway>,
    limiters: web::Data<Limiters>,
    form: web::Form<Credentials>,
) -> Result<HttpResponse, ConsoleError> {
    let lang = Lang::of(&req);
    check_sign_in_form(&req, lang, &form.csrf)?;
    // The token endpoint's limits: guessing passwords here is no cheaper than there.
    limiters
        .check_token_address(&req)
        .map_err(ConsoleError::api(lang))?;
    limiters
        .check_token_account(&format!("user:{}", form.username))
        .map_err(ConsoleError::api(lang))?;
    let Credentials {
        username, password, ..
    } = form.into_inner();
    let opened = web::block({
        let gateway = gateway.clone();
        move || gateway.sign_in(&username, &password)
    })
    .await
    .map_err(|e| ConsoleError::service(lang)(ServiceError::Internal(e.to_string())))?;
    match opened {
        Ok(opened) => Ok(signed_in(&req, opened)),
        // Only wrong credentials are the visitor's to retry; any other failure is a failure.
        Err(ServiceError::Unauthenticated(_)) => Ok(form_page(
            &req,
            lang,
            StatusCode::UNAUTHORIZED,
            Said::Problem(lang.t(
                "用户名或密码不正确。",
                "The username or password is not right.",
            )),
        )),
        Err(other) => Err(ConsoleError::service(lang)(other)),
    }
}

/// The session cookie, and on to the visitor's first page.
fn signed_in(req: &HttpRequest, opened: Opened) -> HttpResponse {
    let mut response = see_other("/console");
    open_session_cookie(req, &mut response, opened);
    let mut used = console_cookie(req, SIGN_IN_COOKIE, String::new());
    used.make_removal();
    response.add_cookie(&used).expect("a valid cookie");
    response
}

/// Gives the browser the cookie of a session just opened.
pub(super) fn open_session_cookie(req: &HttpRequest, response: &mut HttpResponse, opened: Opened) {
    let mut session = console_cookie(req, SESSION_COOKIE, opened.cookie);
    session.set_max_age(Duration::hours(SESSION_HOURS));
    response.add_cookie(&session).expect("a valid cookie");
}

#[derive(Deserialize)]
struct LinkToken {
    token: String,
}

#[derive(Deserialize)]
struct LinkForm {
    csrf: String,
    token: String,
}

/// A link is used up by the button, not by opening it: a mail scanner that follows links
/// does not spend it.
async fn link_page(req: HttpRequest, link: web::Query<LinkToken>) -> HttpResponse {
    let lang = Lang::of(&req);
    sign_in_page(&req, lang, |csrf| {
        html! {
            form.stack method="post" action="/console/link" {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="token" value=(link.token);
                p { (lang.t("此链接只能使用一次，15 分钟内有效。", "This link works once, within 15 minutes.")) }
                button type="submit" { (lang.t("登录控制台", "Sign in to the console")) }
            }
        }
    })
}

async fn follow_link(
    req: HttpRequest,
    gateway: web::Data<Gateway>,
    form: web::Form<LinkForm>,
) -> Result<HttpResponse, ConsoleError> {
    let lang = Lang::of(&req);
    check_sign_in_form(&req, lang, &form.csrf)?;
    let token = form.into_inner().token;
    let opened = super::run(&gateway, lang, move |g| g.follow_sign_in_link(&token)).await?;
    Ok(signed_in(&req, opened))
}

async fn sign_out(
    gateway: web::Data<Gateway>,
    visitor: Visitor,
    form: web::Form<FormToken>,
) -> Result<HttpResponse, ConsoleError> {
    visitor.check_form(&form.csrf)?;
    let cookie = visitor.cookie.clone();
    super::run(&gateway, visitor.lang, move |g| g.sign_out(&cookie)).await?;
    Err(ConsoleError::SignIn)
}
