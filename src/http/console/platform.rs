//! A platform's dashboard for the current training year: granted against the ceiling, the
//! offline follow-up ratio against its threshold and what the reduction withholds, what is
//! payable, and each course's way towards its saturation. The figures are `/v1/usage`'s.

use super::page::{level_name, meter, page, yuan, Lang};
use super::{run, ConsoleError, Visitor};
use crate::auth::Role;
use crate::domain::Money;
use crate::service::usage::MonthGrant;
use crate::service::Gateway;
use crate::store::Cursor;
use actix_web::{web, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/platform", web::get().to(dashboard));
}

/// The most courses the dashboard lists.
const COURSES_SHOWN: i64 = 100;

#[derive(Deserialize)]
struct Search {
    /// An event id, or a learner's masked ID number.
    q: Option<String>,
}

async fn dashboard(
    gateway: web::Data<Gateway>,
    visitor: Visitor,
    search: web::Query<Search>,
) -> Result<HttpResponse, ConsoleError> {
    let lang = visitor.lang;
    let platform = visitor
        .require(&[Role::Platform])?
        .platform
        .clone()
        .expect("platform sessions carry a platform");
    let year = gateway.current_year();
    let q = search.into_inner().q.unwrap_or_default();
    let text = q.clone();
    let (usage, courses, months, found) = run(&gateway, lang, move |g| {
        let usage = g.platform_usage(&platform, "province", year)?;
        let page = Cursor {
            after: None,
            limit: COURSES_SHOWN,
        };
        let courses = g.list_courses(&platform, "province", &page)?;
        let months = g.grants_by_month(&platform, "province", year)?;
        Ok((
            usage,
            courses,
            months,
            g.search_completions(&platform, &text)?,
        ))
    })
    .await?;
    let withheld = Money::from_fen(usage.granted.fen() - usage.payable.fen());
    let title = format!(
        "{} · {} {}",
        usage.platform,
        usage.training_year,
        lang.t("年度", "training year")
    );
    Ok(page(
        lang,
        &title,
        Some(visitor.header()),
        html! {
            (meter(
                lang.t("已获补贴 / 年度上限", "Granted of the yearly ceiling"),
                usage.granted,
                usage.ceiling,
                &format!("{} / {}", yuan(usage.granted), yuan(usage.ceiling)),
            ))
            dl.facts {
                dt { (lang.t("已获补贴", "Granted")) } dd.num id="granted" { (yuan(usage.granted)) }
                dt { (lang.t("年度剩余额度", "Ceiling remaining")) } dd.num { (yuan(usage.remaining)) }
                dt { (lang.t("学员人数", "Learners")) } dd.num id="learners" { (usage.learners) }
                dt { (lang.t("参加线下跟进培训", "At offline follow-up")) } dd.num { (usage.learners_with_followup) }
                dt { (lang.t("线下跟进比例（门槛 50%）", "Follow-up ratio (threshold 50 %)")) }
                dd.num id="ratio" { (usage.offline_ratio.as_deref().unwrap_or("—")) }
                dt { (lang.t("是否减半", "Reduction")) }
                dd {
                    @if usage.reduction_applies {
                        span.status.failed { (lang.t("适用：扣减 ", "applies: withholds ")) (yuan(withheld)) }
                    } @else {
                        span.status.clean { (lang.t("不适用", "does not apply")) }
                    }
                }
                dt { (lang.t("应付金额", "Payable")) } dd.num id="payable" { (yuan(usage.payable)) }
            }
            h2 { (lang.t("查找学习记录", "Find completions")) }
            form.inline method="get" action="/console/platform" role="search" {
                label { (lang.t("事件 ID 或脱敏身份证号", "Event id or masked ID number"))
                    input type="search" name="q" value=(q) placeholder="140105********0018"; }
                button type="submit" { (lang.t("查找", "Find")) }
            }
            @if !q.trim().is_empty() {
                @if found.is_empty() { p id="found-none" { (lang.t("没有找到。", "Nothing found.")) } }
                @else {
                    div.table-wrap { table id="found" {
                        thead { tr {
                            th scope="col" { (lang.t("事件 ID", "Event id")) }
                            th scope="col" { (lang.t("课程", "Course")) }
                            th scope="col" { (lang.t("学员", "Learner")) }
                            th scope="col" { (lang.t("状态", "Status")) }
                            th.num scope="col" { (lang.t("补贴", "Grant")) }
                        } }
                        tbody { @for c in &found { tr {
                            td { (c.event_id) } td { (c.course_code) } td { (c.learner) }
                            td { (c.status) @if c.revoked_at.is_some() { " · " (lang.t("已撤销", "revoked")) } }
                            td.num { (yuan(c.granted)) }
                        } } }
                    } }
                }
            }
            h2 { (lang.t("每月补贴", "Grants per month")) }
            (month_chart(lang, &months))
            h2 { (lang.t("课程", "Courses")) }
            div.table-wrap { table {
                thead { tr {
                    th scope="col" { (lang.t("课程", "Course")) }
                    th scope="col" { (lang.t("等级", "Level")) }
                    th.num scope="col" { (lang.t("已获补贴", "Granted")) }
                    th.num scope="col" { (lang.t("饱和额度", "Saturation")) }
                    th scope="col" { (lang.t("阶段", "Phase")) }
                } }
                tbody {
                    @for course in &courses {
                        tr {
                            td { (course.code) " " span.note { (course.title) } }
                            td { (level_name(lang, &course.level)) }
                            td.num { (yuan(course.granted_total)) }
                            td.num { (course.saturation_limit.map(yuan).unwrap_or_default()) }
                            td {
                                @if course.phase == "free" {
                                    span.status.failed { (lang.t("已饱和（免费）", "saturated (free)")) }
                                } @else {
                                    span.status { (lang.t("补贴中", "subsidised")) }
                                }
                            }
                        }
                    }
                }
            } }
            p { a href="/console/invoices" { (lang.t("查看发票", "See the invoices")) } }
        },
    ))
}

/// Grants per month as bars drawn on the server (SVG), each with its amount written above it.
fn month_chart(lang: Lang, months: &[MonthGrant]) -> Markup {
    const WIDTH: i64 = 720;
    const HEIGHT: i64 = 220;
    const BASE: i64 = 190;
    let top = months
        .iter()
        .map(|m| m.granted.fen())
        .max()
        .unwrap_or(0)
        .max(1);
    let step = WIDTH / months.len().max(1) as i64;
    html! {
        svg.chart viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img"
            aria-label=(lang.t("每月补贴柱状图", "Bar chart of grants per month")) {
            @for (i, month) in months.iter().enumerate() {
                @let x = i as i64 * step + 8;
                @let height = month.granted.fen().max(0) * 150 / top;
                rect x=(x) y=(BASE - height) width=(step - 16) height=(height) fill="#0b5cad" {
                    title { (month.period) ": " (yuan(month.granted)) }
                }
                text x=(x + (step - 16) / 2) y=(BASE - height - 4) text-anchor="middle" font-size="11" {
                    @if month.granted.fen() > 0 { (yuan(month.granted)) }
                }
                text x=(x + (step - 16) / 2) y=(HEIGHT - 12) text-anchor="middle" font-size="12" { (&month.period[2..]) }
            }
            line x1="0" y1=(BASE) x2=(WIDTH) y2=(BASE) stroke="#5b6573";
        }
    }
}
