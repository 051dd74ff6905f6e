//! The audit trail as a whole, for staff: every change the gateway recorded, newest first,
//! filtered by object, actor or action, a page at a time.

use super::page::{cst, page, Lang};
use super::{given, pager, run, ConsoleError, Visitor, LIST_PAGE};
use crate::auth::Role;
use crate::service::audit::AuditEvent;
use crate::service::Gateway;
use crate::store::billing::AuditFilter;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/audit", web::get().to(trail));
}

#[derive(Deserialize)]
struct TrailQuery {
    object_type: Option<String>,
    object_id: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    after: Option<String>,
}

/// A link to the whole trail of one object.
pub fn trail_of(object_type: &str, object_id: &str) -> String {
    format!(
        "/console/audit?{}",
        serde_urlencoded::to_string([("object_type", object_type), ("object_id", object_id)])
            .unwrap_or_default()
    )
}

/// Audit events as a table; `whole` adds the object and what changed.
pub fn events_table(lang: Lang, events: &[AuditEvent], whole: bool) -> Markup {
    html! {
        div.table-wrap { table {
            thead { tr {
                th scope="col" { (lang.t("时间（北京时间）", "Time (CST)")) }
                th scope="col" { (lang.t("操作人", "By")) }
                th scope="col" { (lang.t("操作", "Action")) }
                @if whole {
                    th scope="col" { (lang.t("对象", "Object")) }
                    th scope="col" { (lang.t("变更后", "After")) }
                }
            } }
            tbody { @for event in events { tr {
                td { (cst(event.at)) }
                td { (event.actor) }
                td { (event.action) }
                @if whole {
                    td { a href=(trail_of(&event.object_type, &event.object_id)) {
                        (event.object_type) " " (event.object_id) } }
                    td { @if let Some(after) = &event.after { code.changes { (after) } } }
                }
            } } }
        } }
    }
}

async fn trail(
    req: HttpRequest,
    gateway: web::Data<Gateway>,
    visitor: Visitor,
    query: web::Query<TrailQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let lang = visitor.lang;
    visitor.require(&[Role::Admin, Role::Finance])?;
    let query = query.into_inner();
    let filter = AuditFilter {
        object_type: given(query.object_type.clone()),
        object_id: given(query.object_id.clone()),
        actor: given(query.actor.clone()),
        action: given(query.action.clone()),
        after: given(query.after.clone()),
        limit: LIST_PAGE,
        newest_first: true,
    };
    let events = run(&gateway, lang, move |g| g.audit_events(filter)).await?;
    let field = |name: &str, label: &str, value: &Option<String>| {
        html! { label { (label) input type="text" name=(name) value=(value.clone().unwrap_or_default()) size="14"; } }
    };
    Ok(page(
        lang,
        lang.t("审计记录", "Audit trail"),
        Some(visitor.header()),
        html! {
            form.inline method="get" action="/console/audit" role="search" {
                (field("object_type", lang.t("对象类型", "Object type"), &query.object_type))
                (field("object_id", lang.t("对象编号", "Object id"), &query.object_id))
                (field("actor", lang.t("操作人", "By"), &query.actor))
                (field("action", lang.t("操作", "Action"), &query.action))
                button type="submit" { (lang.t("筛选", "Filter")) }
            }
            @if events.items.is_empty() {
                p { (lang.t("没有符合条件的记录。", "No events match.")) }
            } @else {
                (events_table(lang, &events.items, true))
            }
            (pager(lang, req.path(), req.query_string(), events.next_after))
        },
    ))
}
