//! Admins' pages: platforms (register, suspend, reactivate, rotate the secret — shown once),
//! staff users (create, disable), progress against the plan's targets, and the reconciliation
//! report with every breach code (finance staff read it too).

use super::page::{cst, page, Lang};
use super::{list_page, pager, run, see_other, After, ConsoleError, FormToken, Visitor, LIST_PAGE};
use crate::auth::Role;
use crate::http::common::{download, XLSX};
use crate::service::admin::PlatformView;
use crate::service::next_after;
use crate::service::{Gateway, ServiceError};
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::json;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/reconciliation", web::get().to(reconciliation))
        .route("/progress", web::get().to(progress))
        .route("/progress/export.xlsx", web::get().to(progress_xlsx))
        .route("/targets/2022", web::post().to(load_plan_targets))
        .route("/platforms", web::get().to(platforms))
        .route("/platforms", web::post().to(create_platform))
        .route("/platforms/{code}", web::post().to(change_platform))
        .route("/users", web::get().to(users))
        .route("/users", web::post().to(create_user))
        .route("/users/{username}", web::post().to(change_user));
}

async fn reconciliation(
    gateway: web::Data<Gateway>,
    visitor: Visitor,
) -> Result<HttpResponse, ConsoleError> {
    let lang = visitor.lang;
    visitor.require(&[Role::Admin, Role::Finance])?;
    let report = run(&gateway, lang, |g| g.reconcile()).await?;
    let clean = report.breaches.is_empty();
    let findings = |title: &str, list: &[crate::domain::reconcile::Finding]| -> Markup {
        html! {
            h2 { (title) " (" (list.len()) ")" }
            @if !list.is_empty() {
                div.table-wrap { table {
                    thead { tr {
                        th scope="col" { (lang.t("规则代码", "Invariant")) }
                        th scope="col" { (lang.t("对象", "Subject")) }
                        th scope="col" { (lang.t("说明", "Detail")) }
                    } }
                    tbody { @for f in list { tr { td { code { (f.invariant) } } td { (f.subject) } td { (f.detail) } } } }
                } }
            }
        }
    };
    let checked = &report.checked;
    Ok(page(
        lang,
        lang.t("对账", "Reconciliation"),
        Some(visitor.header()),
        html! {
            p id="verdict" {
                @if clean { span.status.clean { (lang.t("账目一致", "Clean")) } }
                @else { span.status.breached { (lang.t("发现不一致", "Breached")) } }
            }
            dl.facts {
                dt { (lang.t("已核对完成记录", "Completions checked")) } dd { (checked.completions) }
                dt { (lang.t("计数器", "Counters")) } dd { (checked.counters) }
                dt { (lang.t("申领", "Claims")) } dd { (checked.claims) }
                dt { (lang.t("发票", "Invoices")) } dd { (checked.invoices) }
                dt { (lang.t("报送", "Deliveries")) } dd { (checked.deliveries) }
                dt { (lang.t("持有或遗留的电子券", "Vouchers held or orphaned")) } dd { (checked.vouchers) }
            }
            (findings(lang.t("不一致", "Breaches"), &report.breaches))
            (findings(lang.t("待处理提示", "Notices"), &report.notices))
        },
    ))
}

async fn progress(
    gateway: web::Data<Gateway>,
    visitor: Visitor,
) -> Result<HttpResponse, ConsoleError> {
    let lang = visitor.lang;
    visitor.require(&[Role::Admin])?;
    let year = gateway.current_year();
    let cities = run(&gateway, lang, move |g| g.progress(year)).await?;
    let title = format!(
        "{} {}",
        year.value(),
        lang.t("年度培训进度", "progress against the plan")
    );
    Ok(page(
        lang,
        &title,
        Some(visitor.header()),
        html! {
            form.inline method="post" action="/console/targets/2022" {
                input type="hidden" name="csrf" value=(visitor.session.csrf);
                button.secondary type="submit" { (lang.t("载入方案附件1的 2022 年目标", "Load the plan's 2022 targets (附件1)")) }
            }
            p { a href="/console/progress/export.xlsx" download { (lang.t("导出 XLSX（月报）", "Download XLSX (monthly report)")) } }
            div.table-wrap { table {
                thead { tr {
                    th scope="col" { (lang.t("城市", "City")) }
                    th.num scope="col" { (lang.t("培训人数", "Learners")) }
                    th.num scope="col" { (lang.t("目标", "Target")) }
                    th.num scope="col" { (lang.t("完成比例", "Share")) }
                    th.num scope="col" { (lang.t("取证人数", "Certified")) }
                    th scope="col" { (lang.t("进度", "Schedule")) }
                } }
                tbody {
                    @for city in &cities {
                        tr {
                            td { (city.name) " " span.note { (city.city_code) } }
                            td.num { (city.learners) }
                            td.num { (city.trainees_target.map(|t| t.to_string()).unwrap_or_default()) }
                            td.num { (city.share.as_deref().unwrap_or("—")) }
                            td.num { (city.certified) }
                            td { @if city.behind_schedule { span.status.failed { (lang.t("落后于计划", "behind the plan")) } }
                                 @else { span.status.clean { (lang.t("正常", "on schedule")) } } }
                        }
                    }
                }
            } }
        },
    ))
}

/// The plan's 附件1: each city's 2022 targets, shipped with the gateway.
const PLAN_TARGETS_2022: &str = include_str!("../../../targets/2022.json");

async fn load_plan_targets(
    gateway: web::Data<Gateway>,
    visitor: Visitor,
    form: web::Form<FormToken>,
) -> Result<HttpResponse, ConsoleError> {
    visitor.check_form(&form.csrf)?;
    let actor = crate::service::audit::actor(visitor.require(&[Role::Admin])?);
    let targets: serde_json::Value =
        serde_json::from_str(PLAN_TARGETS_2022).expect("the shipped targets are JSON");
    let year = crate::domain::TrainingYear::new(2022).expect("a training year");
    run(&gateway, visitor.lang, move |g| {
        g.set_targets(&actor, year, &targets)
    })
    .await?;
    Ok(see_other("/console/progress"))
}

async fn progress_xlsx(
    gateway: web::Data<Gateway>,
    visitor: Visitor,
) -> Result<HttpResponse, ConsoleError> {
    visitor.require(&[Role::Admin])?;
    let year = gateway.current_year();
    let file = run(&gateway, visitor.lang, move |g| g.progress_xlsx(year)).await?;
    Ok(download(XLSX, file))
}

fn platform_rows(lang: Lang, csrf: &str, platforms: &[PlatformView]) -> Markup {
    html! {
        div.table-wrap { table {
            thead { tr {
                th scope="col" { (lang.t("代码", "Code")) }
                th scope="col" { (lang.t("名称", "Name")) }
                th scope="col" { (lang.t("状态", "Status")) }
                th scope="col" { (lang.t("客户端 ID", "Client id")) }
                th scope="col" { (lang.t("操作", "Actions")) }
            } }
            tbody {
                @for p in platforms {
                    tr {
                        td { (p.code) } td { (p.name) }
                        td { @if p.status == "active" { span.status.clean { (lang.t("正常", "active")) } }
                             @else { span.status.failed { (lang.t("已暂停", "suspended")) } } }
                        td { code { (p.client_id) } }
                        td {
                            form.inline method="post" action={ "/console/platforms/" (p.code) } {
                                input type="hidden" name="csrf" value=(csrf);
                                @if p.status == "active" {
                                    button.secondary type="submit" name="change" value="suspend" { (lang.t("暂停", "Suspend")) }
                                } @else {
                                    button.secondary type="submit" name="change" value="reactivate" { (lang.t("恢复", "Reactivate")) }
                                }
                                button.secondary type="submit" name="change" value="rotate" { (lang.t("更换密钥", "Rotate secret")) }
                            }
                        }
                    }
                }
            }
        } }
    }
}

/// The platforms page; `shown` is a platform whose new secret this answer shows, once.
async fn platforms_page(
    gateway: &web::Data<Gateway>,
    visitor: &Visitor,
    shown: Option<PlatformView>,
    after: Option<String>,
) -> Result<HttpResponse, ConsoleError> {
    let lang = visitor.lang;
    visitor.require(&[Role::Admin])?;
    let query = after
        .as_ref()
        .map(|after| serde_urlencoded::to_string([("after", after)]).unwrap_or_default())
        .unwrap_or_default();
    let platforms = run(gateway, lang, |g| g.list_platforms(&list_page(after))).await?;
    let next = next_after(&platforms, LIST_PAGE, |p| &p.code);
    Ok(page(
        lang,
        lang.t("平台", "Platforms"),
        Some(visitor.header()),
        html! {
            @if let Some(shown) = &shown {
                div.notice role="status" {
                    p { (lang.t("平台 ", "Platform ")) strong { (shown.code) } (lang.t(" 的客户端密钥（只显示这一次）：", "'s client secret (shown this once):")) }
                    p { code id="secret" { (shown.client_secret.clone().unwrap_or_default()) } }
                }
            }
            (platform_rows(lang, &visitor.session.csrf, &platforms))
            (pager(lang, "/console/platforms", &query, next))
            h2 { (lang.t("登记平台", "Register a platform")) }
            form.stack method="post" action="/console/platforms" {
                input type="hidden" name="csrf" value=(visitor.session.csrf);
                label { (lang.t("代码", "Code")) input type="text" name="code" required pattern="[a-z0-9_-]{1,64}"; }
                label { (lang.t("名称", "Name")) input type="text" name="name" required; }
                button type="submit" { (lang.t("登记", "Register")) }
            }
        },
    ))
}

async fn platforms(
    gateway: web::Data<Gateway>,
    visitor: Visitor,
    cursor: web::Query<After>,
) -> Result<HttpResponse, ConsoleError> {
    platforms_page(&gateway, &visitor, None, cursor.into_inner().after).await
}

#[derive(Deserialize)]
struct NewPlatform {
    csrf: String,
    code: String,
    name: String,
}

async fn create_platform(
    gateway: web::Data<Gateway>,
    visitor: Visitor,
    form: web::Form<NewPlatform>,
) -> Result<HttpResponse, ConsoleError> {
    visitor.check_form(&form.csrf)?;
    let actor = crate::service::audit::actor(visitor.require(&[Role::Admin])?);
    let body = json!({"code": form.code.trim(), "name": form.name.trim()});
    let created = run(&gateway, visitor.lang, move |g| {
        g.create_platform(&actor, &body)
    })
    .await?;
    platforms_page(&gateway, &visitor, Some(created), None).await
}

#[derive(Deserialize)]
struct PlatformChange {
    csrf: String,
    change: String,
}

async fn change_platform(
    gateway: web::Data<Gateway>,
    visitor: Visitor,
    code: web::Path<String>,
    form: web::Form<PlatformChange>,
) -> Result<HttpResponse, ConsoleError> {
    visitor.check_form(&form.csrf)?;
    let actor = crate::service::audit::actor(visitor.require(&[Role::Admin])?);
    let code = code.into_inner();
    let change = form.into_inner().change;
    let rotated = run(&gateway, visitor.lang, move |g| match change.as_str() {
        "rotate" => g.rotate_platform_secret(&actor, &code).map(Some),
        "suspend" => g
            .update_platform(&actor, &code, &json!({"status": "suspended"}))
            .map(|_| None),
        "reactivate" => g
            .update_platform(&actor, &code, &json!({"status": "active"}))
            .map(|_| None),
        _ => Err(ServiceError::invalid(
            "change",
            "invalid_change",
            "must be rotate, suspend or reactivate",
        )),
    })
    .await?;
    match rotated {
        Some(view) => platforms_page(&gateway, &visitor, Some(view), None).await,
        None => Ok(see_other("/console/platforms")),
    }
}

async fn users(
    req: HttpRequest,
    gateway: web::Data<Gateway>,
    visitor: Visitor,
    cursor: web::Query<After>,
) -> Result<HttpResponse, ConsoleError> {
    let lang = visitor.lang;
    visitor.require(&[Role::Admin])?;
    let after = cursor.into_inner().after;
    let users = run(&gateway, lang, |g| g.list_users(&list_page(after))).await?;
    let next = next_after(&users, LIST_PAGE, |u| &u.username);
    let csrf = &visitor.session.csrf;
    Ok(page(
        lang,
        lang.t("用户", "Users"),
        Some(visitor.header()),
        html! {
            div.table-wrap { table {
                thead { tr {
                    th scope="col" { (lang.t("用户名", "Username")) }
                    th scope="col" { (lang.t("角色", "Role")) }
                    th scope="col" { (lang.t("状态", "Status")) }
                    th scope="col" { (lang.t("创建时间", "Created")) }
                    th scope="col" { (lang.t("操作", "Actions")) }
                } }
                tbody {
                    @for user in &users {
                        tr {
                            td { (user.username) }
                            td { (user.role) @if let Some(p) = &user.platform { " · " (p) } }
                            td { @if user.status == "active" { span.status.clean { (lang.t("正常", "active")) } }
                                 @else { span.status.failed { (lang.t("已停用", "disabled")) } } }
                            td { (cst(user.created_at)) }
                            td { form.inline method="post" action={ "/console/users/" (user.username) } {
                                input type="hidden" name="csrf" value=(csrf);
                                @if user.status == "active" {
                                    button.secondary type="submit" name="status" value="disabled" { (lang.t("停用", "Disable")) }
                                } @else {
                                    button.secondary type="submit" name="status" value="active" { (lang.t("启用", "Enable")) }
                                }
                            } }
                        }
                    }
                }
            } }
            (pager(lang, req.path(), req.query_string(), next))
            h2 { (lang.t("新建用户", "New user")) }
            form.stack method="post" action="/console/users" {
                input type="hidden" name="csrf" value=(csrf);
                label { (lang.t("用户名", "Username")) input type="text" name="username" required; }
                label { (lang.t("角色", "Role")) select name="role" {
                    option value="finance" { (lang.t("财务人员", "Finance officer")) }
                    option value="admin" { (lang.t("管理员", "Administrator")) }
                    option value="platform" { (lang.t("平台工作人员", "Platform staff")) }
                } }
                label { (lang.t("所属平台（仅平台工作人员）", "Platform (platform staff only)"))
                    input type="text" name="platform"; }
                label { (lang.t("初始密码", "First password")) input type="password" name="password" required autocomplete="new-password"; }
                button type="submit" { (lang.t("创建", "Create")) }
            }
        },
    ))
}

#[derive(Deserialize)]
struct NewUser {
    csrf: String,
    username: String,
    role: String,
    password: String,
    platform: Option<String>,
}

async fn create_user(
    gateway: web::Data<Gateway>,
    visitor: Visitor,
    form: web::Form<NewUser>,
) -> Result<HttpResponse, ConsoleError> {
    visitor.check_form(&form.csrf)?;
    let actor = crate::service::audit::actor(visitor.require(&[Role::Admin])?);
    let mut body =
        json!({"username": form.username.trim(), "role": form.role, "password": form.password});
    if form.role == "platform" {
        body["platform"] = json!(form.platform.as_deref().unwrap_or_default().trim());
    }
    run(&gateway, visitor.lang, move |g| {
        g.create_user(&actor, &body)
    })
    .await?;
    Ok(see_other("/console/users"))
}

#[derive(Deserialize)]
struct UserChange {
    csrf: String,
    status: String,
}

async fn change_user(
    gateway: web::Data<Gateway>,
    visitor: Visitor,
    username: web::Path<String>,
    form: web::Form<UserChange>,
) -> Result<HttpResponse, ConsoleError> {
    visitor.check_form(&form.csrf)?;
    let actor = crate::service::audit::actor(visitor.require(&[Role::Admin])?);
    let body = json!({"status": form.status});
    run(&gateway, visitor.lang, move |g| {
        g.update_user(&actor, &username, &body)
    })
    .await?;
    Ok(see_other("/console/users"))
}
