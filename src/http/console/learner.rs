//! A learner's page: this training year's subsidy (cap, used, remaining) and each completion,
//! with the limit that cut a grant said in words. Laid out for a phone.

use super::page::{cst, meter, page, yuan, Lang};
use super::{run, ConsoleError, Visitor};
use crate::auth::Role;
use crate::domain::limits::Limit;
use crate::domain::voucher::VoucherStatus;
use crate::domain::CompletionStatus;
use crate::service::Gateway;
use actix_web::{web, HttpResponse};
use maud::html;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/me", web::get().to(my_subsidy));
}

fn limit_words(lang: Lang, limit: Limit) -> &'static str {
    match limit {
        Limit::LearnerAnnualCap => lang.t(
            "已达到本培训年度每人 300 元的补贴上限",
            "you reached the yearly cap per learner",
        ),
        Limit::CourseSaturated => lang.t(
            "该课程的补贴已饱和，之后免费学习",
            "the course reached its saturation and is now free",
        ),
        Limit::PlatformAnnualCeiling => lang.t(
            "该平台本年度的补贴总额已达上限",
            "the platform reached its yearly ceiling",
        ),
    }
}

fn status_words(lang: Lang, status: &str) -> &'static str {
    match CompletionStatus::parse(status) {
        Some(CompletionStatus::Accepted) => lang.t("已认定", "Accepted"),
        Some(CompletionStatus::Uncertified) => lang.t("未取得证书", "No certificate"),
        Some(CompletionStatus::DuplicateClaim) => lang.t("重复申领", "Claimed before"),
        None => lang.t("未知", "Unknown"),
    }
}

fn voucher_words(lang: Lang, status: &str) -> &'static str {
    match VoucherStatus::parse(status) {
        Some(VoucherStatus::Issued) => lang.t("可使用", "usable"),
        Some(VoucherStatus::Redeemed) => lang.t("已兑现", "redeemed"),
        Some(VoucherStatus::Cancelled) => lang.t("已作废", "cancelled"),
        None => lang.t("未知", "unknown"),
    }
}

async fn my_subsidy(
    gateway: web::Data<Gateway>,
    visitor: Visitor,
) -> Result<HttpResponse, ConsoleError> {
    let lang = visitor.lang;
    visitor.require(&[Role::Learner])?;
    // A learner's session names them by their hash; one that does not is no session to keep.
    let learner = visitor.session.learner().ok_or(ConsoleError::SignIn)?;
    let year = gateway.current_year();
    let (subsidy, vouchers) = run(&gateway, lang, move |g| {
        Ok((
            g.subsidy_of(&learner, year, "province")?,
            g.vouchers_of(&learner.hash)?,
        ))
    })
    .await?;
    let title = format!(
        "{} {}",
        subsidy.training_year,
        lang.t("年度培训补贴", "training subsidy")
    );
    Ok(page(
        lang,
        &title,
        Some(visitor.header()),
        html! {
            p.big id="remaining" { (lang.t("剩余 ", "Remaining ")) (yuan(subsidy.remaining)) }
            (meter(
                lang.t("已使用", "Used"),
                subsidy.used,
                subsidy.cap,
                &format!("{} / {}", yuan(subsidy.used), yuan(subsidy.cap)),
            ))
            p.note { (lang.t("身份证号 ", "ID number ")) (subsidy.learner) }
            @if !vouchers.is_empty() {
                h2 { (lang.t("电子券", "Vouchers")) }
                ul.vouchers {
                    @for v in &vouchers {
                        li {
                            code { (v.code) } " · " (voucher_words(lang, &v.status))
                            " · " (lang.t("有效期至 ", "valid until ")) (cst(v.valid_until))
                            @if let Some(course) = &v.course_code { " · " (lang.t("限课程 ", "course ")) (course) }
                        }
                    }
                }
            }
            h2 { (lang.t("学习记录", "Completions")) }
            @if subsidy.completions.is_empty() {
                p { (lang.t("本年度还没有记录。", "None this year yet.")) }
            }
            @for c in &subsidy.completions {
                article.completion {
                    h3 { (c.course_title) " " span.note { (c.course_code) " · " (c.platform) } }
                    dl.facts {
                        dt { (lang.t("状态", "Status")) }
                        dd {
                            span class={ "status " (c.status) } { (status_words(lang, &c.status)) }
                            @if c.revoked_at.is_some() { " " span.status.rejected { (lang.t("已撤销", "Revoked")) } }
                        }
                        dt { (lang.t("学时", "Class hours")) } dd { (c.class_hours) }
                        @if let Some(at) = c.certified_at { dt { (lang.t("发证时间", "Certified")) } dd { (cst(at)) } }
                        dt { (lang.t("补贴", "Grant")) } dd.num { (yuan(c.granted)) " / " (yuan(c.gross)) }
                        @if let Some(limit) = c.limited_by.as_deref().and_then(Limit::parse) {
                            dt { (lang.t("为何减少", "Why less")) } dd { (limit_words(lang, limit)) }
                        }
                    }
                }
            }
        },
    ))
}
