//! Admins' payers and their rate schedules: whether a payer requires vouchers, each schedule
//! version with what it changes from the one before, and a new version started from the
//! newest (the service decides whether it may be added, as for the API).

use super::page::{cst, level_name, page, Lang};
use super::{form_value, list_page, run, see_other, ConsoleError, Visitor};
use crate::auth::Role;
use crate::domain::Level;
use crate::service::admin::{PayerView, RateScheduleView};
use crate::service::Gateway;
use actix_web::{web, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/payers", web::get().to(payers))
        .route(
            "/payers/{code}/vouchers",
            web::post().to(voucher_requirement),
        )
        .route("/rate-schedules", web::post().to(new_version));
}

/// A schedule's terms as label → value, in a fixed order, for showing and comparing versions.
fn terms(lang: Lang, s: &RateScheduleView) -> Vec<(String, String)> {
    let text = |value: Option<&Value>| value.and_then(Value::as_str).unwrap_or_default().to_owned();
    let mut out = vec![];
    for level in Level::ALL {
        let name = level_name(lang, level.as_str());
        out.push((
            format!("{name}{}", lang.t("每学时补贴", " rate per class-hour")),
            text(s.rates.get(level.as_str())),
        ));
        out.push((
            format!(
                "{name}{}",
                lang.t("每学时饱和额", " saturation per class-hour")
            ),
            text(s.saturation_per_class_hour.get(level.as_str())),
        ));
    }
    out.push((
        lang.t("每人每年上限", "Yearly cap per learner").into(),
        s.learner_annual_cap.to_string(),
    ));
    out.push((
        lang.t("平台年度上限", "Yearly ceiling per platform").into(),
        s.platform_annual_ceiling.to_string(),
    ));
    out.push((
        lang.t("线下跟进门槛", "Follow-up threshold").into(),
        s.offline_ratio_threshold.clone(),
    ));
    out.push((
        lang.t("不足时支付比例", "Paid below the threshold").into(),
        s.offline_reduction_factor.clone(),
    ));
    out
}

/// What a version changes from the one before it (all of it for the first).
fn changes(lang: Lang, before: Option<&RateScheduleView>, after: &RateScheduleView) -> Markup {
    let new = terms(lang, after);
    let Some(before) = before else {
        return html! { span.note { (lang.t("首个版本", "first version")) } };
    };
    let old = terms(lang, before);
    let changed: Vec<_> = new
        .iter()
        .zip(old.iter())
        .filter(|(n, o)| n.1 != o.1)
        .collect();
    html! {
        @if changed.is_empty() { span.note { (lang.t("无变化", "no change")) } }
        ul.changes { @for (n, o) in changed { li { (n.0) ": " del { (o.1) } " → " ins { (n.1) } } } }
    }
}

fn payer_section(
    lang: Lang,
    csrf: &str,
    payer: &PayerView,
    versions: &[&RateScheduleView],
) -> Markup {
    let newest = versions.last();
    html! {
        section.payer {
            h2 { (payer.name) " " span.note { (payer.code) } }
            form.inline method="post" action={ "/console/payers/" (payer.code) "/vouchers" } {
                input type="hidden" name="csrf" value=(csrf);
                span { (lang.t("电子券：", "Vouchers: "))
                    @if payer.voucher_required { strong { (lang.t("必须使用", "required")) } }
                    @else { (lang.t("不需要", "not required")) } }
                @if payer.voucher_required {
                    button.secondary type="submit" name="required" value="false" { (lang.t("取消要求", "Stop requiring")) }
                } @else {
                    button.secondary type="submit" name="required" value="true" { (lang.t("要求电子券", "Require vouchers")) }
                }
            }
            div.table-wrap { table {
                thead { tr {
                    th scope="col" { (lang.t("适用年度", "From year")) }
                    th scope="col" { (lang.t("创建时间", "Created")) }
                    th scope="col" { (lang.t("相对上一版本的变化", "Changes from the version before")) }
                } }
                tbody {
                    @for (i, version) in versions.iter().enumerate() {
                        tr {
                            td { (version.effective_year) }
                            td { (cst(version.created_at)) }
                            td { (changes(lang, i.checked_sub(1).map(|j| versions[j]), version)) }
                        }
                    }
                }
            } }
            @if let Some(newest) = newest {
                details {
                    summary { (lang.t("新建版本（以最新版本为起点）", "New version (starting from the newest)")) }
                    form.stack method="post" action="/console/rate-schedules" {
                        input type="hidden" name="csrf" value=(csrf);
                        input type="hidden" name="payer" value=(payer.code);
                        label { (lang.t("适用年度", "From year"))
                            input type="number" name="effective_year" value=(newest.effective_year + 1) required; }
                        @for level in Level::ALL {
                            label { (level_name(lang, level.as_str())) (lang.t("每学时补贴", " rate per class-hour"))
                                input type="text" name={ "rate_" (level.as_str()) } required
                                    value=(newest.rates.get(level.as_str()).and_then(Value::as_str).unwrap_or_default()); }
                            label { (level_name(lang, level.as_str())) (lang.t("每学时饱和额", " saturation per class-hour"))
                                input type="text" name={ "saturation_" (level.as_str()) } required
                                    value=(newest.saturation_per_class_hour.get(level.as_str()).and_then(Value::as_str).unwrap_or_default()); }
                        }
                        label { (lang.t("每人每年上限", "Yearly cap per learner"))
                            input type="text" name="learner_annual_cap" value=(newest.learner_annual_cap) required; }
                        label { (lang.t("平台年度上限", "Yearly ceiling per platform"))
                            input type="text" name="platform_annual_ceiling" value=(newest.platform_annual_ceiling) required; }
                        label { (lang.t("线下跟进门槛", "Follow-up threshold"))
                            input type="text" name="offline_ratio_threshold" value=(newest.offline_ratio_threshold) required; }
                        label { (lang.t("不足时支付比例", "Paid below the threshold"))
                            input type="text" name="offline_reduction_factor" value=(newest.offline_reduction_factor) required; }
                        button type="submit" { (lang.t("保存新版本", "Save the new version")) }
                    }
                }
            }
        }
    }
}

/// A payer's versions by the year they take effect from.
fn versions_of<'a>(schedules: &'a [RateScheduleView], payer: &str) -> Vec<&'a RateScheduleView> {
    let mut versions: Vec<_> = schedules.iter().filter(|s| s.payer == payer).collect();
    versions.sort_by_key(|s| (s.effective_year, s.created_at));
    versions
}

async fn payers(
    gateway: web::Data<Gateway>,
    visitor: Visitor,
) -> Result<HttpResponse, ConsoleError> {
    let lang = visitor.lang;
    visitor.require(&[Role::Admin])?;
    let (payers, schedules) = run(&gateway, lang, move |g| {
        Ok((
            g.list_payers(&list_page(None))?,
            g.list_schedules(None, &list_page(None))?,
        ))
    })
    .await?;
    Ok(page(
        lang,
        lang.t("付款方与费率", "Payers and rates"),
        Some(visitor.header()),
        html! {
            @for payer in &payers {
                (payer_section(lang, &visitor.session.csrf, payer, &versions_of(&schedules, &payer.code)))
            }
        },
    ))
}

#[derive(Deserialize)]
struct VoucherChoice {
    csrf: String,
    required: bool,
}

async fn voucher_requirement(
    gateway: web::Data<Gateway>,
    visitor: Visitor,
    code: web::Path<String>,
    form: web::Form<VoucherChoice>,
) -> Result<HttpResponse, ConsoleError> {
    visitor.check_form(&form.csrf)?;
    let actor = crate::service::audit::actor(visitor.require(&[Role::Admin])?);
    let body = json!({"voucher_required": form.required});
    run(&gateway, visitor.lang, move |g| {
        g.set_voucher_requirement(&actor, &code, &body)
    })
    .await?;
    Ok(see_other("/console/payers"))
}

async fn new_version(
    gateway: web::Data<Gateway>,
    visitor: Visitor,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, ConsoleError> {
    let field = |name: &str| form_value(&form, name);
    visitor.check_form(&field("csrf"))?;
    let actor = crate::service::audit::actor(visitor.require(&[Role::Admin])?);
    let per_level = |prefix: &str| {
        Level::ALL
            .into_iter()
            .map(|level| {
                (
                    level.as_str().to_owned(),
                    json!(field(&format!("{prefix}_{}", level.as_str()))),
                )
            })
            .collect::<serde_json::Map<_, _>>()
    };
    // The year as typed: the service refuses what is not a year, with the API's words.
    let year: Value = field("effective_year")
        .parse::<i64>()
        .map_or_else(|_| json!(field("effective_year")), |y| json!(y));
    let body = json!({
        "payer": field("payer"),
        "effective_year": year,
        "rates": per_level("rate"),
        "saturation_per_class_hour": per_level("saturation"),
        "learner_annual_cap": field("learner_annual_cap"),
        "platform_annual_ceiling": field("platform_annual_ceiling"),
        "offline_ratio_threshold": field("offline_ratio_threshold"),
        "offline_reduction_factor": field("offline_reduction_factor"),
    });
    run(&gateway, visitor.lang, move |g| {
        g.create_schedule(&actor, &body)
    })
    .await?;
    Ok(see_other("/console/payers"))
}
