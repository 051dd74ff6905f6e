//! A platform's webhook endpoints: registered (the signing secret shown once), tested, the
//! secret rotated, enabled again after failing, deleted; each with its latest messages (sent
//! again on request) and delivery attempts.

use super::page::{cst, page, Lang};
use super::{form_value, run, see_other, ConsoleError, FormToken, Visitor};
use crate::auth::Role;
use crate::domain::notice::EventType;
use crate::service::webhooks::{WebhookEndpointCreated, WebhookEndpointView};
use crate::service::Gateway;
use actix_web::{web, HttpResponse};
use maud::{html, Markup};
use serde_json::json;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/webhooks", web::get().to(endpoints))
        .route("/webhooks", web::post().to(register))
        .route("/webhooks/{id}", web::get().to(endpoint))
        .route("/webhooks/{id}/{action}", web::post().to(change))
        .route(
            "/webhooks/{id}/messages/{message}/resend",
            web::post().to(resend),
        );
}

/// The visitor's platform: these pages are platform staff's own.
fn platform_of(visitor: &Visitor) -> Result<String, ConsoleError> {
    Ok(visitor
        .require(&[Role::Platform])?
        .platform
        .clone()
        .expect("platform sessions carry a platform"))
}

fn status_badge(lang: Lang, endpoint: &WebhookEndpointView) -> Markup {
    let (class, words) = if endpoint.status == "enabled" {
        ("status clean", lang.t("启用", "enabled"))
    } else {
        ("status failed", lang.t("已停用", "disabled"))
    };
    html! { span class=(class) { (words) } }
}

/// The endpoints page; `shown` is an endpoint whose new secret this answer shows, once.
async fn endpoints_page(
    gateway: &web::Data<Gateway>,
    visitor: &Visitor,
    shown: Option<WebhookEndpointCreated>,
) -> Result<HttpResponse, ConsoleError> {
    let lang = visitor.lang;
    let platform = platform_of(visitor)?;
    let list = run(gateway, lang, move |g| g.list_webhook_endpoints(&platform)).await?;
    let csrf = &visitor.session.csrf;
    Ok(page(
        lang,
        lang.t("消息推送", "Webhooks"),
        Some(visitor.header()),
        html! {
            @if let Some(shown) = &shown {
                div.notice role="status" {
                    p { (shown.endpoint.url) (lang.t(" 的签名密钥（只显示这一次）：", ": its signing secret (shown this once):")) }
                    p { code id="secret" { (shown.secret) } }
                }
            }
            div.table-wrap { table {
                thead { tr {
                    th scope="col" { (lang.t("地址", "URL")) }
                    th scope="col" { (lang.t("消息类型", "Messages")) }
                    th scope="col" { (lang.t("状态", "Status")) }
                    th scope="col" { (lang.t("操作", "Actions")) }
                } }
                tbody { @for e in &list { tr {
                    td { a href={ "/console/webhooks/" (e.id) } { (e.url) } }
                    td { (e.event_types.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ")) }
                    td { (status_badge(lang, e))
                         @if let Some(reason) = &e.disabled_reason { " " span.refusal { (reason) } }
                         @if let Some(since) = e.failing_since { " " span.note { (lang.t("失败始于 ", "failing since ")) (cst(since)) } } }
                    td { form.inline method="post" action={ "/console/webhooks/" (e.id) "/test" } {
                            input type="hidden" name="csrf" value=(csrf);
                            @if e.status != "enabled" {
                                button.secondary type="submit" formaction={ "/console/webhooks/" (e.id) "/enable" } { (lang.t("重新启用", "Enable")) }
                            } @else {
                                button.secondary type="submit" { (lang.t("发送测试", "Send a test")) }
                            }
                            button.secondary type="submit" formaction={ "/console/webhooks/" (e.id) "/rotate" } { (lang.t("更换密钥", "Rotate the secret")) }
                        }
                        // Deleting gives up the endpoint's waiting messages for good: a second click.
                        details {
                            summary { (lang.t("删除", "Delete")) }
                            form.inline method="post" action={ "/console/webhooks/" (e.id) "/delete" } {
                                input type="hidden" name="csrf" value=(csrf);
                                span.note { (lang.t("未送达的消息将不再发送。", "Messages not yet delivered will not be sent.")) }
                                button type="submit" { (lang.t("确认删除", "Delete it")) }
                            }
                        } }
                } } }
            } }
            @if list.is_empty() { p { (lang.t("尚未登记推送地址。", "No endpoint is registered.")) } }
            h2 { (lang.t("登记推送地址", "Register an endpoint")) }
            form.stack method="post" action="/console/webhooks" {
                input type="hidden" name="csrf" value=(csrf);
                label { (lang.t("地址（https://）", "URL (https://)")) input type="url" name="url" required; }
                fieldset {
                    legend { (lang.t("接收的消息", "Messages to receive")) }
                    @for t in EventType::ALL {
                        label.check { input type="checkbox" name="event_type" value=(t.as_str()); " " (t.as_str()) }
                    }
                }
                button type="submit" { (lang.t("登记", "Register")) }
            }
        },
    ))
}

async fn endpoints(
    gateway: web::Data<Gateway>,
    visitor: Visitor,
) -> Result<HttpResponse, ConsoleError> {
    endpoints_page(&gateway, &visitor, None).await
}

async fn register(
    gateway: web::Data<Gateway>,
    visitor: Visitor,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, ConsoleError> {
    visitor.check_form(&form_value(&form, "csrf"))?;
    let platform = platform_of(&visitor)?;
    let types: Vec<&str> = form
        .iter()
        .filter(|(name, _)| name == "event_type")
        .map(|(_, value)| value.as_str())
        .collect();
    let body = json!({"url": form_value(&form, "url"), "event_types": types});
    let created = run(&gateway, visitor.lang, move |g| {
        g.create_webhook_endpoint(&platform, &body)
    })
    .await?;
    endpoints_page(&gateway, &visitor, Some(created)).await
}

async fn change(
    gateway: web::Data<Gateway>,
    visitor: Visitor,
    path: web::Path<(String, String)>,
    form: web::Form<FormToken>,
) -> Result<HttpResponse, ConsoleError> {
    visitor.check_form(&form.csrf)?;
    let platform = platform_of(&visitor)?;
    let lang = visitor.lang;
    let (id, action) = path.into_inner();
    let shown = run(&gateway, lang, move |g| {
        Ok(match action.as_str() {
            "test" => g.test_webhook_endpoint(&platform, &id).map(|_| None)?,
            "enable" => g.enable_webhook_endpoint(&platform, &id).map(|_| None)?,
            "rotate" => Some(g.rotate_webhook_secret(&platform, &id)?),
            "delete" => g.delete_webhook_endpoint(&platform, &id).map(|_| None)?,
            _ => return Err(crate::service::ServiceError::NotFound("action")),
        })
    })
    .await?;
    match shown {
        Some(created) => endpoints_page(&gateway, &visitor, Some(created)).await,
        None => Ok(see_other("/console/webhooks")),
    }
}

/// One endpoint: its latest messages, each sent again on request, and its latest attempts.
async fn endpoint(
    gateway: web::Data<Gateway>,
    visitor: Visitor,
    id: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let lang = visitor.lang;
    let platform = platform_of(&visitor)?;
    let id = id.into_inner();
    let (endpoint, messages, attempts) = run(&gateway, lang, {
        let id = id.clone();
        move |g| {
            Ok((
                g.get_webhook_endpoint(&platform, &id)?,
                g.webhook_messages(&platform, &id)?,
                g.webhook_attempts(&platform, &id)?,
            ))
        }
    })
    .await?;
    let csrf = &visitor.session.csrf;
    Ok(page(
        lang,
        &endpoint.url,
        Some(visitor.header()),
        html! {
            p { (status_badge(lang, &endpoint)) " " a href="/console/webhooks" { (lang.t("全部推送地址", "All endpoints")) } }
            h2 { (lang.t("最近的消息", "Latest messages")) }
            div.table-wrap { table {
                thead { tr {
                    th scope="col" { (lang.t("时间（北京时间）", "Time (CST)")) }
                    th scope="col" { (lang.t("类型", "Type")) }
                    th scope="col" { "webhook-id" }
                    th scope="col" { (lang.t("状态", "Status")) }
                    th.num scope="col" { (lang.t("尝试次数", "Attempts")) }
                    th scope="col" { (lang.t("操作", "Actions")) }
                } }
                tbody { @for m in &messages { tr {
                    td { (cst(m.created_at)) }
                    td { (m.event_type) }
                    td { code { (m.message_id) } }
                    td { span class={ "status " (m.status) } { (m.status) }
                         @if let Some(error) = &m.last_error { " " span.refusal { (error) } } }
                    td.num { (m.attempts) }
                    td { form.inline method="post" action={ "/console/webhooks/" (id) "/messages/" (m.message_id) "/resend" } {
                        input type="hidden" name="csrf" value=(csrf);
                        button.secondary type="submit" { (lang.t("重新发送", "Send again")) }
                    } }
                } } }
            } }
            h2 { (lang.t("最近的投递", "Latest attempts")) }
            div.table-wrap { table {
                thead { tr {
                    th scope="col" { (lang.t("时间（北京时间）", "Time (CST)")) }
                    th scope="col" { "webhook-id" }
                    th scope="col" { (lang.t("结果", "Outcome")) }
                    th.num scope="col" { (lang.t("应答", "Answer")) }
                    th.num scope="col" { (lang.t("耗时（毫秒）", "Took (ms)")) }
                } }
                tbody { @for a in &attempts { tr {
                    td { (cst(a.attempted_at)) }
                    td { code { (a.message_id) } }
                    td { span class={ "status " (a.outcome) } { (a.outcome) }
                         @if let Some(error) = &a.error { " " span.refusal { (error) } } }
                    td.num { (a.answer_code.map(|c| c.to_string()).unwrap_or_default()) }
                    td.num { (a.duration_ms) }
                } } }
            } }
        },
    ))
}

async fn resend(
    gateway: web::Data<Gateway>,
    visitor: Visitor,
    path: web::Path<(String, String)>,
    form: web::Form<FormToken>,
) -> Result<HttpResponse, ConsoleError> {
    visitor.check_form(&form.csrf)?;
    let platform = platform_of(&visitor)?;
    let (id, message) = path.into_inner();
    let back = format!("/console/webhooks/{id}");
    run(&gateway, visitor.lang, move |g| {
        g.resend_webhook_message(&platform, &id, &message)
    })
    .await?;
    Ok(see_other(&back))
}
