//! A password account changes its own password: staff, and platform users. The change ends
//! every session and token of the account, this one too, so the visitor signs in again.

use super::page::{page, Lang};
use super::{run, see_other, ConsoleError, Visitor};
use crate::auth::Role;
use crate::http::caller::Limiters;
use crate::service::{Gateway, ServiceError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use maud::html;
use serde::Deserialize;
use serde_json::json;

/// The roles whose accounts have passwords.
pub(super) const PASSWORD_ACCOUNTS: &[Role] = &[Role::Admin, Role::Finance, Role::Platform];

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/password", web::get().to(form))
        .route("/password", web::post().to(change));
}

fn form_page(visitor: &Visitor, status: StatusCode, problem: Option<&str>) -> HttpResponse {
    let lang = visitor.lang;
    let mut response = page(
        lang,
        lang.t("修改密码", "Change your password"),
        Some(visitor.header()),
        html! {
            @if let Some(problem) = problem { p.error role="alert" { (problem) } }
            form.stack method="post" action="/console/password" {
                input type="hidden" name="csrf" value=(visitor.session.csrf);
                label { (lang.t("当前密码", "Current password"))
                    input type="password" name="current_password" autocomplete="current-password" required; }
                label { (lang.t("新密码（至少 12 个字符）", "New password (12 characters or more)"))
                    input type="password" name="password" autocomplete="new-password" minlength="12" required; }
                label { (lang.t("再次输入新密码", "New password again"))
                    input type="password" name="repeated" autocomplete="new-password" minlength="12" required; }
                button type="submit" { (lang.t("修改", "Change")) }
            }
            p.note { (lang.t("修改后所有已登录的会话都将退出，请用新密码重新登录。",
                "Every session of your account ends with the change: sign in again with the new password.")) }
        },
    );
    *response.status_mut() = status;
    response
}

async fn form(gateway: web::Data<Gateway>, visitor: Visitor) -> Result<HttpResponse, ConsoleError> {
    let principal = visitor.require(PASSWORD_ACCOUNTS)?.clone();
    let lang = visitor.lang;
    if run(&gateway, lang, move |g| g.has_password(&principal)).await? {
        return Ok(form_page(&visitor, StatusCode::OK, None));
    }
    Ok(page(
        lang,
        lang.t("修改密码", "Change your password"),
        Some(visitor.header()),
        html! {
            p { (lang.t("此账户没有密码：它通过一次性登录链接登录。",
                "This account has no password: it signs in with one-time links.")) }
        },
    ))
}

#[derive(Deserialize)]
struct Change {
    csrf: String,
    current_password: String,
    password: String,
    repeated: String,
}

async fn change(
    gateway: web::Data<Gateway>,
    limiters: web::Data<Limiters>,
    visitor: Visitor,
    form: web::Form<Change>,
) -> Result<HttpResponse, ConsoleError> {
    visitor.check_form(&form.csrf)?;
    let principal = visitor.require(PASSWORD_ACCOUNTS)?.clone();
    let lang: Lang = visitor.lang;
    let Change {
        current_password,
        password,
        repeated,
        ..
    } = form.into_inner();
    if password != repeated {
        return Ok(form_page(
            &visitor,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(lang.t("两次输入的新密码不一致。", "The two new passwords differ.")),
        ));
    }
    // Guessing the current password here is no cheaper than at the token endpoint.
    limiters
        .check_token_account(&format!("user:{}", principal.subject))
        .map_err(ConsoleError::api(lang))?;
    let body = json!({"current_password": current_password, "password": password});
    let username = principal.subject.clone();
    let changed = run(&gateway, lang, move |g| {
        // A wrong current password or a weak new one: the form again, saying which.
        match g.change_password(&principal, &username, &body) {
            Ok(_) => Ok(None),
            Err(ServiceError::Invalid(errors)) => Ok(Some(errors)),
            Err(other) => Err(other),
        }
    })
    .await?;
    let Some(refused) = changed else {
        return Ok(see_other("/console/sign-in?password=changed"));
    };
    let words = match refused.first().map(|e| e.code) {
        Some("wrong_password") => lang.t("当前密码不正确。", "The current password is not right."),
        Some("weak_password") => lang.t(
            "新密码至少需要 12 个字符。",
            "The new password needs 12 characters or more.",
        ),
        _ => lang.t("密码未修改。", "The password was not changed."),
    };
    Ok(form_page(
        &visitor,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some(words),
    ))
}
