//! Finance staff's invoices: the queue by status, payer, period and platform; running a period;
//! an invoice with its lines, learners, delivery and audit trail; issuing, approving, rejecting
//! and marking paid, one invoice or several at once (each checked on its own); the CSV and XLSX.
//! Which actions a page offers is the service's answer (`review_actions`), never decided here.

use super::audit::{events_table, trail_of};
use super::page::{cst, level_name, page, yuan, Lang};
use super::{form_value, given, pager, run, see_other, ConsoleError, Visitor, LIST_PAGE};
use crate::auth::{Principal, Role};
use crate::domain::money::in_capitals;
use crate::domain::review::{ReviewAction, ReviewRefusal};
use crate::http::common::{download, XLSX};
use crate::service::invoicing::InvoiceView;
use crate::service::{Gateway, ServiceError};
use crate::store::billing::{AuditFilter, InvoiceFilter};
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::json;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/invoices", web::get().to(queue))
        .route("/invoices/bulk", web::post().to(bulk))
        .route("/invoice-runs", web::post().to(run_period))
        .route("/invoices/{id}", web::get().to(invoice))
        .route("/invoices/{id}/actions", web::post().to(act))
        .route("/invoices/{id}/slip", web::get().to(slip))
        .route("/invoices/{id}/export.{format}", web::get().to(export));
}

/// Who sees invoices here: staff all of them, a platform its own.
const READERS: &[Role] = &[Role::Admin, Role::Finance, Role::Platform];

fn status_words(lang: Lang, status: &str) -> &str {
    match status {
        "draft" => lang.t("草稿", "Draft"),
        "issued" => lang.t("已开具", "Issued"),
        "approved" => lang.t("已审批", "Approved"),
        "submitted" => lang.t("已提交财政", "Submitted"),
        "paid" => lang.t("已支付", "Paid"),
        "rejected" => lang.t("已驳回", "Rejected"),
        other => other,
    }
}

fn status_badge(lang: Lang, status: &str) -> Markup {
    html! { span class={ "status " (status) } { (status_words(lang, status)) } }
}

fn action_words(lang: Lang, action: ReviewAction) -> &'static str {
    match action {
        ReviewAction::Issue => lang.t("开具", "Issue"),
        ReviewAction::Approve => lang.t("审批通过", "Approve"),
        ReviewAction::Reject => lang.t("驳回", "Reject"),
        ReviewAction::MarkPaid => lang.t("标记为已支付", "Mark paid"),
    }
}

fn action_of(text: &str) -> Option<ReviewAction> {
    ReviewAction::ALL
        .into_iter()
        .find(|a| action_name(*a) == text)
}

fn action_name(action: ReviewAction) -> &'static str {
    match action {
        ReviewAction::Issue => "issue",
        ReviewAction::Approve => "approve",
        ReviewAction::Reject => "reject",
        ReviewAction::MarkPaid => "mark_paid",
    }
}

/// Why an action is missing, in words; `None` where the status alone explains it.
fn refusal_words(lang: Lang, refusal: ReviewRefusal) -> Option<&'static str> {
    match refusal {
        ReviewRefusal::Status => None,
        ReviewRefusal::OwnIssue => Some(lang.t(
            "您开具了这张发票，须由另一位财务人员审批。",
            "You issued this invoice; another officer must approve it.",
        )),
        ReviewRefusal::BureauConfirms => Some(lang.t(
            "已接入财政支付系统：由其确认支付。",
            "A bureau is connected: its confirmation marks invoices paid.",
        )),
    }
}

#[derive(Deserialize)]
struct QueueQuery {
    status: Option<String>,
    payer: Option<String>,
    period: Option<String>,
    platform: Option<String>,
    delivery: Option<String>,
    after: Option<String>,
}

async fn queue(
    req: HttpRequest,
    gateway: web::Data<Gateway>,
    visitor: Visitor,
    query: web::Query<QueueQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let lang = visitor.lang;
    let principal = visitor.require(READERS)?.clone();
    let query = query.into_inner();
    let filter = InvoiceFilter {
        status: given(query.status.clone()),
        platform: given(query.platform.clone()),
        payer: given(query.payer.clone()),
        year: None,
        period: given(query.period.clone()),
        delivery: given(query.delivery.clone()),
        after: given(query.after.clone()),
        limit: LIST_PAGE,
    };
    let listed = run(&gateway, lang, move |g| g.list_invoices(&principal, filter)).await?;
    let invoices = listed.items;
    let finance = visitor.principal().role == Role::Finance;
    let staff = matches!(visitor.principal().role, Role::Finance | Role::Admin);
    let selected = |value: &str| query.status.as_deref() == Some(value);
    Ok(page(
        lang,
        lang.t("发票", "Invoices"),
        Some(visitor.header()),
        html! {
            form.inline method="get" action="/console/invoices" role="search" {
                label { (lang.t("状态", "Status"))
                    select name="status" {
                        option value="" { (lang.t("全部", "All")) }
                        @for status in ["draft", "issued", "approved", "submitted", "paid", "rejected"] {
                            option value=(status) selected[selected(status)] { (status_words(lang, status)) }
                        }
                    }
                }
                label { (lang.t("报送", "Delivery"))
                    select name="delivery" {
                        option value="" { (lang.t("全部", "All")) }
                        option value="failed" selected[query.delivery.as_deref() == Some("failed")] { (lang.t("报送失败", "Delivery failed")) }
                        option value="pending" selected[query.delivery.as_deref() == Some("pending")] { (lang.t("待报送", "Pending")) }
                    }
                }
                label { (lang.t("付款方", "Payer"))
                    input type="text" name="payer" value=(query.payer.clone().unwrap_or_default()) size="10"; }
                label { (lang.t("账期（年-月）", "Period (YYYY-MM)"))
                    input type="text" name="period" value=(query.period.clone().unwrap_or_default()) size="8" pattern="[0-9]{4}-[0-9]{2}"; }
                @if staff {
                    label { (lang.t("平台", "Platform"))
                        input type="text" name="platform" value=(query.platform.clone().unwrap_or_default()) size="10"; }
                }
                button type="submit" { (lang.t("筛选", "Filter")) }
            }
            @if staff {
                details {
                    summary { (lang.t("生成账期发票", "Run a period")) }
                    form.inline method="post" action="/console/invoice-runs" {
                        input type="hidden" name="csrf" value=(visitor.session.csrf);
                        label { (lang.t("付款方", "Payer")) input type="text" name="payer" value="province" size="10" required; }
                        label { (lang.t("账期（年-月）", "Period (YYYY-MM)")) input type="text" name="period" size="8" required pattern="[0-9]{4}-[0-9]{2}"; }
                        button type="submit" { (lang.t("生成草稿", "Draft the invoices")) }
                    }
                }
            }
            form method="post" action="/console/invoices/bulk" {
                input type="hidden" name="csrf" value=(visitor.session.csrf);
                div.table-wrap { table {
                    thead { tr {
                        @if finance { th scope="col" { span.visually-hidden { (lang.t("选择", "Select")) } } }
                        th scope="col" { (lang.t("编号", "Number")) }
                        th scope="col" { (lang.t("平台", "Platform")) }
                        th scope="col" { (lang.t("付款方", "Payer")) }
                        th scope="col" { (lang.t("账期", "Period")) }
                        th scope="col" { (lang.t("状态", "Status")) }
                        th.num scope="col" { (lang.t("金额", "Amount")) }
                        th scope="col" { (lang.t("报送", "Delivery")) }
                    } }
                    tbody {
                        @for invoice in &invoices {
                            tr {
                                @if finance {
                                    td { input type="checkbox" name="id" value=(invoice.id)
                                        aria-label={ (lang.t("选择 ", "Select ")) (invoice.number.clone().unwrap_or_else(|| invoice.id.clone())) }; }
                                }
                                td { a href={ "/console/invoices/" (invoice.id) } {
                                    (invoice.number.clone().unwrap_or_else(|| lang.t("（草稿）", "(draft)").to_owned())) } }
                                td { (invoice.platform) }
                                td { (invoice.payer) }
                                td { (invoice.period) }
                                td { (status_badge(lang, &invoice.status)) }
                                td.num { (yuan(invoice.amount)) }
                                td { (invoice.delivery.as_ref().map(|d| d.status.as_str()).unwrap_or("—")) }
                            }
                        }
                    }
                } }
                @if invoices.is_empty() { p { (lang.t("没有符合条件的发票。", "No invoices match.")) } }
                @if finance && !invoices.is_empty() {
                    div.inline {
                        label { (lang.t("对选中的发票", "For the selected invoices"))
                            select name="action" {
                                option value="issue" { (action_words(lang, ReviewAction::Issue)) }
                                option value="approve" { (action_words(lang, ReviewAction::Approve)) }
                            }
                        }
                        button type="submit" { (lang.t("逐张执行", "Apply to each")) }
                    }
                }
            }
            (pager(lang, req.path(), req.query_string(), listed.next_after))
        },
    ))
}

#[derive(Deserialize)]
struct RunForm {
    csrf: String,
    payer: String,
    period: String,
}

async fn run_period(
    gateway: web::Data<Gateway>,
    visitor: Visitor,
    form: web::Form<RunForm>,
) -> Result<HttpResponse, ConsoleError> {
    visitor.check_form(&form.csrf)?;
    let principal = visitor.require(&[Role::Admin, Role::Finance])?.clone();
    let body = json!({"payer": form.payer.trim(), "period": form.period.trim()});
    run(&gateway, visitor.lang, move |g| {
        g.run_invoices(&principal, &body)
    })
    .await?;
    Ok(see_other(&format!(
        "/console/invoices?status=draft&period={}",
        urlencode(form.period.trim())
    )))
}

fn urlencode(text: &str) -> String {
    serde_urlencoded::to_string([("", text)])
        .map(|s| s.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

async fn invoice(
    gateway: web::Data<Gateway>,
    visitor: Visitor,
    id: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let lang = visitor.lang;
    let principal = visitor.require(READERS)?.clone();
    let id = id.into_inner();
    let (invoice, actions, trail) = run(&gateway, lang, move |g| {
        let invoice = g.get_invoice(&principal, &id)?;
        let actions = g.review_actions(&principal, &invoice);
        let trail = match principal.role {
            Role::Admin | Role::Finance => {
                g.audit_events(AuditFilter {
                    object_type: Some("invoice".into()),
                    object_id: Some(id.clone()),
                    actor: None,
                    action: None,
                    after: None,
                    limit: 100,
                    newest_first: false,
                })?
                .items
            }
            _ => vec![],
        };
        Ok((invoice, actions, trail))
    })
    .await?;
    let title = format!(
        "{} {}",
        lang.t("发票", "Invoice"),
        invoice
            .number
            .clone()
            .unwrap_or_else(|| lang.t("（草稿）", "(draft)").to_owned())
    );
    let finance = visitor.principal().role == Role::Finance;
    Ok(page(
        lang,
        &title,
        Some(visitor.header()),
        html! {
            dl.facts {
                dt { (lang.t("状态", "Status")) } dd id="status" { (status_badge(lang, &invoice.status)) }
                dt { (lang.t("平台", "Platform")) } dd { (invoice.platform) }
                dt { (lang.t("付款方", "Payer")) } dd { (invoice.payer) }
                dt { (lang.t("账期", "Period")) } dd { (invoice.period) " (" (invoice.training_year) ")" }
                dt { (lang.t("本期金额", "Amount")) } dd.num.big id="amount" { (yuan(invoice.amount)) }
                dt { (lang.t("学员人数", "Learners")) } dd { (invoice.learners) }
                dt { (lang.t("线下跟进比例（门槛 50%）", "Offline follow-up ratio (threshold 50 %)")) }
                dd { (invoice.offline_ratio.as_deref().unwrap_or("—")) " · "
                     (invoice.learners_with_followup) " / " (invoice.learners) }
            }
            h2 { (lang.t("明细", "Lines")) }
            (lines_table(lang, &invoice, html! {
                tr { th scope="row" colspan="2" { (lang.t("合计", "Total")) } td.num { (yuan(invoice.amount)) } }
            }))
            p {
                a href={ "/console/invoices/" (invoice.id) "/slip" } { (lang.t("打印审批单", "Print the approval slip")) }
                " · "
                a href={ "/console/invoices/" (invoice.id) "/export.csv" } download { (lang.t("下载 CSV", "Download CSV")) }
                " · "
                a href={ "/console/invoices/" (invoice.id) "/export.xlsx" } download { (lang.t("下载 XLSX", "Download XLSX")) }
            }
            (history(lang, &invoice))
            @if finance { (action_forms(lang, &visitor.session.csrf, &invoice, &actions)) }
            @else if visitor.principal().role == Role::Admin {
                p.note { (lang.t("管理员负责配置；开具、审批与支付由财务人员办理。",
                    "Admins configure; finance officers issue, approve and pay.")) }
            }
            @if !trail.is_empty() {
                h2 { (lang.t("审计记录", "Audit trail")) }
                (events_table(lang, &trail, false))
                p { a href=(trail_of("invoice", &invoice.id)) { (lang.t("完整审计记录", "The whole trail")) } }
            }
        },
    ))
}

/// An invoice's statement lines, with the rows that total them.
fn lines_table(lang: Lang, invoice: &InvoiceView, totals: Markup) -> Markup {
    html! {
        div.table-wrap { table {
            thead { tr {
                th scope="col" { (lang.t("项目", "Line")) }
                th.num scope="col" { (lang.t("学时", "Class hours")) }
                th.num scope="col" { (lang.t("金额", "Amount")) }
            } }
            tbody {
                @for line in &invoice.lines {
                    tr {
                        td { (line_words(lang, &line.kind)) @if let Some(level) = &line.level { " · " (level_name(lang, level)) } }
                        td.num { (line.class_hours.map(|h| h.to_string()).unwrap_or_default()) }
                        td.num { (yuan(line.amount)) }
                    }
                }
            }
            tfoot { (totals) }
        } }
    }
}

fn line_words(lang: Lang, kind: &str) -> &str {
    match kind {
        "level" => lang.t("等级补贴", "Level"),
        "revocations" => lang.t("撤销冲减", "Revocations"),
        "offline_reduction" => lang.t("线下跟进不足减半", "Offline follow-up reduction"),
        "previously_invoiced" => lang.t("以前发票已结算", "Previously invoiced"),
        other => other,
    }
}

/// Who moved the invoice along, and when; and where its delivery to the bureau stands.
fn history(lang: Lang, invoice: &InvoiceView) -> Markup {
    let steps = [
        (
            lang.t("生成", "Drafted"),
            Some(invoice.created_at),
            Some(&invoice.created_by),
        ),
        (
            lang.t("开具", "Issued"),
            invoice.issued_at,
            invoice.issued_by.as_ref(),
        ),
        (
            lang.t("审批", "Approved"),
            invoice.approved_at,
            invoice.approved_by.as_ref(),
        ),
        (
            lang.t("驳回", "Rejected"),
            invoice.rejected_at,
            invoice.rejected_by.as_ref(),
        ),
        (lang.t("提交财政", "Submitted"), invoice.submitted_at, None),
        (lang.t("支付", "Paid"), invoice.paid_at, None),
    ];
    html! {
        h2 { (lang.t("流转", "History")) }
        dl.facts {
            @for (label, at, by) in steps {
                @if let Some(at) = at {
                    dt { (label) } dd { (cst(at)) @if let Some(by) = by { " · " (by) } }
                }
            }
            @if let Some(reason) = &invoice.reject_reason { dt { (lang.t("驳回理由", "Reason")) } dd { (reason) } }
            @if let Some(reference) = &invoice.payment_reference { dt { (lang.t("支付凭证", "Payment reference")) } dd { (reference) } }
            @if let Some(delivery) = &invoice.delivery {
                dt { (lang.t("报送财政", "Delivery to the bureau")) }
                dd { (delivery.status) " · " (delivery.attempts) (lang.t(" 次尝试", " attempts"))
                     @if let Some(error) = &delivery.last_error { " · " span.refusal { (error) } } }
            }
        }
    }
}

/// The actions the service says are open, each its own form; the others said in words where
/// the status alone does not explain them.
fn action_forms(
    lang: Lang,
    csrf: &str,
    invoice: &InvoiceView,
    actions: &[(ReviewAction, Result<(), ReviewRefusal>)],
) -> Markup {
    html! {
        h2 { (lang.t("操作", "Actions")) }
        div.actions {
            @for (action, open) in actions {
                @match open {
                    Ok(()) => {
                        form method="post" action={ "/console/invoices/" (invoice.id) "/actions" } {
                            input type="hidden" name="csrf" value=(csrf);
                            input type="hidden" name="action" value=(action_name(*action));
                            @if *action == ReviewAction::Reject {
                                label { (lang.t("驳回理由", "Reason")) input type="text" name="reason" required; }
                            }
                            @if *action == ReviewAction::MarkPaid {
                                label { (lang.t("支付凭证号", "Payment reference")) input type="text" name="reference" required; }
                            }
                            button type="submit" name="do" value=(action_name(*action)) { (action_words(lang, *action)) }
                        }
                    }
                    Err(refusal) => {
                        @if let Some(words) = refusal_words(lang, *refusal) {
                            p.refusal id={ "why-not-" (action_name(*action)) } {
                                (action_words(lang, *action)) (lang.t("：", ": ")) (words)
                            }
                        }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct ActionForm {
    csrf: String,
    action: String,
    reason: Option<String>,
    reference: Option<String>,
}

/// Takes one action on one invoice.
fn take(
    g: &Gateway,
    principal: &Principal,
    id: &str,
    action: ReviewAction,
    reason: Option<String>,
    reference: Option<String>,
) -> Result<InvoiceView, ServiceError> {
    match action {
        ReviewAction::Issue => g.issue_invoice(principal, id),
        ReviewAction::Approve => g.approve_invoice(principal, id),
        ReviewAction::Reject => g.reject_invoice(principal, id, &json!({ "reason": reason })),
        ReviewAction::MarkPaid => {
            g.mark_invoice_paid(principal, id, &json!({ "reference": reference }))
        }
    }
}

async fn act(
    gateway: web::Data<Gateway>,
    visitor: Visitor,
    id: web::Path<String>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, ConsoleError> {
    visitor.check_form(&form.csrf)?;
    let principal = visitor.require(&[Role::Finance])?.clone();
    let form = form.into_inner();
    let action = action_of(&form.action).ok_or_else(|| {
        ConsoleError::service(visitor.lang)(ServiceError::invalid(
            "action",
            "invalid_action",
            "must be issue, approve, reject or mark_paid",
        ))
    })?;
    let id = id.into_inner();
    let back = format!("/console/invoices/{id}");
    run(&gateway, visitor.lang, move |g| {
        take(g, &principal, &id, action, form.reason, form.reference)
    })
    .await?;
    Ok(see_other(&back))
}

/// Several invoices at once: each is issued or approved on its own, and the page says which
/// went through and why the others did not.
async fn bulk(
    gateway: web::Data<Gateway>,
    visitor: Visitor,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, ConsoleError> {
    let lang = visitor.lang;
    let field = |name: &str| form_value(&form, name);
    visitor.check_form(&field("csrf"))?;
    let principal = visitor.require(&[Role::Finance])?.clone();
    let action = match action_of(&field("action")) {
        Some(action @ (ReviewAction::Issue | ReviewAction::Approve)) => action,
        _ => {
            return Err(ConsoleError::service(lang)(ServiceError::invalid(
                "action",
                "invalid_action",
                "must be issue or approve",
            )))
        }
    };
    let ids: Vec<String> = form
        .iter()
        .filter(|(key, _)| key == "id")
        .map(|(_, value)| value.clone())
        .collect();
    let outcomes = run(&gateway, lang, move |g| {
        Ok(ids
            .into_iter()
            .map(|id| {
                let outcome = take(g, &principal, &id, action, None, None)
                    .map_err(|e| ConsoleError::service(lang)(e).to_string());
                (id, outcome)
            })
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(page(
        lang,
        action_words(lang, action),
        Some(visitor.header()),
        html! {
            @if outcomes.is_empty() { p { (lang.t("没有选中发票。", "No invoice was selected.")) } }
            ul {
                @for (id, outcome) in &outcomes {
                    li {
                        a href={ "/console/invoices/" (id) } { (id) } " — "
                        @match outcome {
                            Ok(view) => { (status_badge(lang, &view.status)) " " (view.number.clone().unwrap_or_default()) }
                            Err(why) => { span.refusal { (lang.t("未完成：", "not done: ")) (why) } }
                        }
                    }
                }
            }
            p { a href="/console/invoices" { (lang.t("返回发票列表", "Back to the invoices")) } }
        },
    ))
}

/// The invoice as CSV or XLSX (`export.csv`, `export.xlsx`), as the API exports it.
async fn export(
    gateway: web::Data<Gateway>,
    visitor: Visitor,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let principal = visitor.require(READERS)?.clone();
    let (id, format) = path.into_inner();
    let xlsx = match format.as_str() {
        "csv" => false,
        "xlsx" => true,
        _ => {
            return Err(ConsoleError::service(visitor.lang)(ServiceError::NotFound(
                "export",
            )))
        }
    };
    let file = run(&gateway, visitor.lang, move |g| {
        if xlsx {
            g.invoice_xlsx(&principal, &id)
        } else {
            g.invoice_csv(&principal, &id)
        }
    })
    .await?;
    Ok(download(
        if xlsx {
            XLSX
        } else {
            "text/csv; charset=utf-8"
        },
        file,
    ))
}

/// The approval slip finance files on paper (A4): the invoice, its lines, the amount in
/// figures and in capitals (大写), the schedule version that priced it, who issued and who
/// approved it, and room for signatures.
async fn slip(
    gateway: web::Data<Gateway>,
    visitor: Visitor,
    id: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let lang = visitor.lang;
    let principal = visitor.require(&[Role::Admin, Role::Finance])?.clone();
    let id = id.into_inner();
    let (invoice, schedule) = run(&gateway, lang, move |g| {
        let invoice = g.get_invoice(&principal, &id)?;
        let schedule = g.schedule_in_effect(&invoice.payer, invoice.training_year)?;
        Ok((invoice, schedule))
    })
    .await?;
    let signed = |label: &str, by: &Option<String>, at: Option<chrono::DateTime<chrono::Utc>>| {
        html! {
            dt { (label) }
            dd { (by.clone().unwrap_or_else(|| "—".into())) @if let Some(at) = at { " · " (cst(at)) } }
        }
    };
    Ok(page(
        lang,
        lang.t(
            "职业技能培训补贴结算审批单",
            "Training subsidy approval slip",
        ),
        Some(visitor.header()),
        html! {
            p.note.no-print { (lang.t("用浏览器的打印功能（Ctrl+P）打印本页，A4 纸。", "Print this page with the browser (Ctrl+P), on A4.")) }
            dl.facts {
                dt { (lang.t("发票编号", "Invoice number")) } dd { (invoice.number.clone().unwrap_or_else(|| lang.t("（草稿）", "(draft)").to_owned())) }
                dt { (lang.t("平台", "Platform")) } dd { (invoice.platform) }
                dt { (lang.t("付款方", "Payer")) } dd { (invoice.payer) }
                dt { (lang.t("账期", "Period")) } dd { (invoice.period) }
                dt { (lang.t("状态", "Status")) } dd { (status_words(lang, &invoice.status)) }
                dt { (lang.t("费率版本", "Rate schedule")) }
                dd { (schedule.effective_year) (lang.t(" 年起适用 · ", " onwards · ")) code { (schedule.id) } " · " (cst(schedule.created_at)) }
            }
            (lines_table(lang, &invoice, html! {
                tr { th scope="row" colspan="2" { (lang.t("金额（小写）", "Amount")) } td.num id="figures" { (yuan(invoice.amount)) } }
                tr { th scope="row" colspan="2" { (lang.t("金额（大写）", "Amount in capitals")) } td.num id="capitals" { "人民币" (in_capitals(invoice.amount)) } }
            }))
            dl.facts {
                (signed(lang.t("开具人", "Issued by"), &invoice.issued_by, invoice.issued_at))
                (signed(lang.t("审批人", "Approved by"), &invoice.approved_by, invoice.approved_at))
            }
            div.signatures {
                p { (lang.t("经办人签字：", "Prepared by:")) " ____________________ " (lang.t("日期：", "Date:")) " ____________" }
                p { (lang.t("审核人签字：", "Approved by:")) " ____________________ " (lang.t("日期：", "Date:")) " ____________" }
            }
        },
    ))
}
