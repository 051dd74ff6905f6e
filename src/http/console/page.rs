//! The console's page shell and its words: Simplified Chinese by default, English by the
//! browser's `Accept-Language` or the switch; times in China Standard Time; money as `¥1,234.56`.

use crate::auth::Role;
pub use crate::domain::money::in_figures as yuan;
use crate::domain::{Level, Money};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use chrono::{DateTime, FixedOffset, Utc};
use maud::{html, Markup, DOCTYPE};

/// The cookie that remembers the language switch.
pub const LANG_COOKIE: &str = "gw_lang";

/// Pages load nothing from elsewhere and run no script: the stylesheet is the console's own.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    /// The switch's choice, else the browser's first preference, else Chinese.
    pub fn of(req: &HttpRequest) -> Lang {
        if let Some(cookie) = req.cookie(LANG_COOKIE) {
            return Lang::parse(cookie.value());
        }
        let preferred = req
            .headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .unwrap_or("");
        Lang::parse(preferred)
    }

    pub fn parse(text: &str) -> Lang {
        if text.trim().to_ascii_lowercase().starts_with("en") {
            Lang::En
        } else {
            Lang::Zh
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The same words in the page's language.
    pub fn t<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
}

/// China Standard Time, to the minute.
pub fn cst(at: DateTime<Utc>) -> String {
    let china = FixedOffset::east_opt(8 * 3600).expect("a valid offset");
    at.with_timezone(&china)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// A skill level in the page's words (初级 / 中级 / 高级).
pub fn level_name(lang: Lang, level: &str) -> &str {
    match level.parse::<Level>() {
        Ok(Level::Junior) => lang.t("初级", "junior"),
        Ok(Level::Intermediate) => lang.t("中级", "intermediate"),
        Ok(Level::Senior) => lang.t("高级", "senior"),
        Err(_) => level,
    }
}

pub fn role_name(lang: Lang, role: Role) -> &'static str {
    match role {
        Role::Admin => lang.t("管理员", "Administrator"),
        Role::Finance => lang.t("财务人员", "Finance officer"),
        Role::Platform => lang.t("平台", "Platform"),
        Role::Learner => lang.t("学员", "Learner"),
        Role::Bureau => lang.t("财政部门", "Finance bureau"),
        Role::VoucherSystem => lang.t("电子券系统", "Voucher system"),
    }
}

/// Who is signed in, for the page header.
pub struct Header<'a> {
    /// The account's name; a learner's masked ID number.
    pub who: &'a str,
    pub role: Role,
    pub csrf: &'a str,
}

/// A whole page: the shell, the navigation for the visitor's role, and the content.
pub fn page(lang: Lang, title: &str, header: Option<Header>, content: Markup) -> HttpResponse {
    let nav: Vec<(&str, &str)> = match header.as_ref().map(|h| h.role) {
        Some(Role::Finance) => vec![
            ("/console/invoices", lang.t("发票", "Invoices")),
            ("/console/reconciliation", lang.t("对账", "Reconciliation")),
            ("/console/audit", lang.t("审计", "Audit")),
        ],
        Some(Role::Admin) => vec![
            ("/console/platforms", lang.t("平台", "Platforms")),
            ("/console/users", lang.t("用户", "Users")),
            (
                "/console/payers",
                lang.t("付款方与费率", "Payers and rates"),
            ),
            ("/console/invoices", lang.t("发票", "Invoices")),
            ("/console/vouchers", lang.t("电子券", "Vouchers")),
            ("/console/progress", lang.t("培训进度", "Progress")),
            ("/console/reconciliation", lang.t("对账", "Reconciliation")),
            ("/console/audit", lang.t("审计", "Audit")),
        ],
        Some(Role::Platform) => vec![
            ("/console/platform", lang.t("概览", "Dashboard")),
            ("/console/invoices", lang.t("发票", "Invoices")),
            ("/console/webhooks", lang.t("消息推送", "Webhooks")),
        ],
        Some(Role::Learner) => vec![("/console/me", lang.t("我的补贴", "My subsidy"))],
        _ => vec![],
    };
    let other = match lang {
        Lang::Zh => ("en", "English"),
        Lang::En => ("zh", "中文"),
    };
    let markup = html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (lang.t("职业技能培训补贴结算网关", "Subsidy billing gateway")) }
                link rel="stylesheet" href="/console/static/console.css";
            }
            body {
                header.top {
                    a.brand href="/console" { (lang.t("补贴结算", "Subsidy billing")) }
                    nav aria-label=(lang.t("主导航", "Main")) {
                        @for (href, label) in &nav { a href=(href) { (label) } }
                    }
                    div.session {
                        a href={ "/console/lang?to=" (other.0) } lang=(other.0) { (other.1) }
                        @if let Some(h) = &header {
                            span.who { (h.who) " · " (role_name(lang, h.role)) }
                            @if super::password::PASSWORD_ACCOUNTS.contains(&h.role) {
                                a href="/console/password" { (lang.t("修改密码", "Password")) }
                            }
                            form method="post" action="/console/sign-out" {
                                input type="hidden" name="csrf" value=(h.csrf);
                                button type="submit" { (lang.t("退出", "Sign out")) }
                            }
                        }
                    }
                }
                main { h1 { (title) } (content) }
            }
        }
    };
    html_response(markup)
}

pub fn html_response(markup: Markup) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Referrer-Policy", "same-origin"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(markup.into_string())
}

/// A bar with its figures in words beside it, so that nothing is told by the bar alone.
pub fn meter(label: &str, part: Money, whole: Money, words: &str) -> Markup {
    let (part, whole) = (part.fen().max(0), whole.fen().max(1));
    let percent = (part.saturating_mul(100) / whole).min(100);
    html! {
        div.meter {
            label { (label) }
            progress max="100" value=(percent) aria-label=(label) { (percent) "%" }
            span { (words) }
        }
    }
}

/// The stylesheet, served from the binary.
pub const STYLESHEET: &str = include_str!("console.css");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_china_standard_time() {
        let at = DateTime::parse_from_rfc3339("2022-06-30T16:30:00Z").unwrap();
        assert_eq!(cst(at.with_timezone(&Utc)), "2022-07-01 00:30");
    }

    #[test]
    fn chinese_unless_english_is_asked_for() {
        assert_eq!(Lang::parse("en-GB"), Lang::En);
        assert_eq!(Lang::parse("zh-CN"), Lang::Zh);
        assert_eq!(Lang::parse(""), Lang::Zh);
        assert_eq!(Lang::parse("fr"), Lang::Zh);
    }
}
