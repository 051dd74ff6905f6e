//! Electronic vouchers, for admins: the list by payer and status a page at a time, one issued
//! by hand (the province's voucher system issues them in bulk through the API), an unused one
//! cancelled. What is allowed is the service's to say, as for the API.

use super::page::{cst, level_name, page};
use super::{
    form_value, given, pager, run, see_other, ConsoleError, FormToken, Visitor, LIST_PAGE,
};
use crate::auth::Role;
use crate::service::audit::actor;
use crate::service::Gateway;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::Deserialize;
use serde_json::{json, Value};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/vouchers", web::get().to(list))
        .route("/vouchers", web::post().to(issue))
        .route("/vouchers/{code}/cancel", web::post().to(cancel));
}

#[derive(Deserialize)]
struct ListQuery {
    payer: Option<String>,
    status: Option<String>,
    after: Option<String>,
}

async fn list(
    req: HttpRequest,
    gateway: web::Data<Gateway>,
    visitor: Visitor,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let lang = visitor.lang;
    visitor.require(&[Role::Admin])?;
    let ListQuery {
        payer,
        status,
        after,
    } = query.into_inner();
    let (payer, status) = (given(payer), given(status));
    let listed = run(&gateway, lang, {
        let (payer, status) = (payer.clone(), status.clone());
        move |g| g.list_vouchers(payer, status, given(after), LIST_PAGE)
    })
    .await?;
    let csrf = &visitor.session.csrf;
    let status_words = |status: &str| match status {
        "issued" => lang.t("未使用", "issued").to_owned(),
        "redeemed" => lang.t("已使用", "redeemed").to_owned(),
        "cancelled" => lang.t("已作废", "cancelled").to_owned(),
        other => other.to_owned(),
    };
    Ok(page(
        lang,
        lang.t("电子券", "Vouchers"),
        Some(visitor.header()),
        html! {
            form.inline method="get" action="/console/vouchers" role="search" {
                label { (lang.t("付款方", "Payer"))
                    input type="text" name="payer" value=(payer.clone().unwrap_or_default()) size="10"; }
                label { (lang.t("状态", "Status"))
                    select name="status" {
                        option value="" { (lang.t("全部", "All")) }
                        @for s in ["issued", "redeemed", "cancelled"] {
                            option value=(s) selected[status.as_deref() == Some(s)] { (status_words(s)) }
                        }
                    }
                }
                button type="submit" { (lang.t("筛选", "Filter")) }
            }
            div.table-wrap { table {
                thead { tr {
                    th scope="col" { (lang.t("券号", "Code")) }
                    th scope="col" { (lang.t("付款方", "Payer")) }
                    th scope="col" { (lang.t("学员", "Learner")) }
                    th scope="col" { (lang.t("有效期（北京时间）", "Valid (CST)")) }
                    th scope="col" { (lang.t("限定", "Only for")) }
                    th scope="col" { (lang.t("状态", "Status")) }
                    th scope="col" { (lang.t("操作", "Actions")) }
                } }
                tbody { @for v in &listed.items { tr {
                    td { (v.code) }
                    td { (v.payer) }
                    td { (v.learner) }
                    td { (cst(v.valid_from)) " – " (cst(v.valid_until)) }
                    td { @if let Some(level) = &v.level { (level_name(lang, level)) " " }
                         @if let Some(course) = &v.course_code { (course) } }
                    td { span class={ "status " (v.status) } { (status_words(&v.status)) } }
                    td { @if v.status == "issued" {
                        form.inline method="post" action={ "/console/vouchers/" (in_path(&v.code)) "/cancel" } {
                            input type="hidden" name="csrf" value=(csrf);
                            button.secondary type="submit" aria-label={ (lang.t("作废 ", "Cancel ")) (v.code) } { (lang.t("作废", "Cancel")) }
                        }
                    } }
                } } }
            } }
            @if listed.items.is_empty() { p { (lang.t("没有符合条件的电子券。", "No vouchers match.")) } }
            (pager(lang, req.path(), req.query_string(), listed.next_after))
            h2 { (lang.t("发放一张电子券", "Issue one voucher")) }
            form.stack method="post" action="/console/vouchers" {
                input type="hidden" name="csrf" value=(csrf);
                label { (lang.t("券号", "Code")) input type="text" name="code" required; }
                label { (lang.t("付款方", "Payer")) input type="text" name="payer" required; }
                label { (lang.t("学员身份证号", "Learner's ID number")) input type="text" name="id_number" required autocomplete="off"; }
                label { (lang.t("生效（北京时间）", "Valid from (CST)")) input type="datetime-local" name="valid_from" required; }
                label { (lang.t("截止（北京时间）", "Valid until (CST)")) input type="datetime-local" name="valid_until" required; }
                label { (lang.t("限定等级（可选）", "Only for level (optional)"))
                    select name="level" {
                        option value="" { (lang.t("不限", "Any")) }
                        @for level in ["junior", "intermediate", "senior"] { option value=(level) { (level_name(lang, level)) } }
                    }
                }
                label { (lang.t("限定课程代码（可选）", "Only for course code (optional)")) input type="text" name="course_code"; }
                button type="submit" { (lang.t("发放", "Issue")) }
            }
        },
    ))
}

/// A voucher code as one segment of a path (codes are free text).
fn in_path(code: &str) -> String {
    utf8_percent_encode(code, NON_ALPHANUMERIC).to_string()
}

/// A browser's `datetime-local` value, read as China Standard Time; without seconds, the
/// minute's first (`from`) or last (`until`).
fn china_time(value: &str, seconds: &str) -> String {
    let with_seconds = if value.len() == 16 {
        format!("{value}:{seconds}")
    } else {
        value.to_owned()
    };
    format!("{with_seconds}+08:00")
}

async fn issue(
    gateway: web::Data<Gateway>,
    visitor: Visitor,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, ConsoleError> {
    visitor.check_form(&form_value(&form, "csrf"))?;
    let actor = actor(visitor.require(&[Role::Admin])?);
    let optional = |name: &str| Some(form_value(&form, name)).filter(|v| !v.is_empty());
    let body: Value = json!({
        "code": form_value(&form, "code"),
        "payer": form_value(&form, "payer"),
        "id_number": form_value(&form, "id_number"),
        "valid_from": china_time(&form_value(&form, "valid_from"), "00"),
        "valid_until": china_time(&form_value(&form, "valid_until"), "59"),
        "level": optional("level"),
        "course_code": optional("course_code"),
    });
    run(&gateway, visitor.lang, move |g| {
        g.issue_vouchers(&actor, &body)
    })
    .await?;
    Ok(see_other("/console/vouchers"))
}

async fn cancel(
    gateway: web::Data<Gateway>,
    visitor: Visitor,
    code: web::Path<String>,
    form: web::Form<FormToken>,
) -> Result<HttpResponse, ConsoleError> {
    visitor.check_form(&form.csrf)?;
    let actor = actor(visitor.require(&[Role::Admin])?);
    let code = code.into_inner();
    run(&gateway, visitor.lang, move |g| {
        g.cancel_voucher(&actor, &code)
    })
    .await?;
    Ok(see_other("/console/vouchers"))
}
