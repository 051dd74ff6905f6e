//! The append-only audit trail: who changed what money or configuration, when, before and after.

use super::{new_id, next_after, utc, Gateway, ServiceError};
use crate::auth::Principal;
use crate::domain::Money;
use crate::store::billing::{self, AuditFilter};
use crate::store::models::{AuditRow, CompletionRow};
use crate::store::{DbConn, StoreError};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

/// A caller's identity as the audit trail and separation of duties see it.
pub fn actor(principal: &Principal) -> String {
    format!("{}:{}", principal.role.as_str(), principal.subject)
}

/// The account behind a recorded actor (`role:account`). Separation of duties compares
/// accounts, whatever role a token names: staff usernames are the accounts' keys, never
/// renamed or reused (accounts are disabled, not deleted).
pub fn account_of(actor: &str) -> &str {
    actor.split_once(':').map_or(actor, |(_, account)| account)
}

/// Records one change inside the caller's transaction, so it commits or rolls back with it.
pub fn record(
    conn: &mut DbConn,
    at: NaiveDateTime,
    actor: &str,
    action: &str,
    object: (&str, &str),
    before: Option<Value>,
    after: Option<Value>,
) -> Result<(), StoreError> {
    billing::insert_audit(
        conn,
        &AuditRow {
            id: new_id(),
            at,
            actor: actor.to_owned(),
            action: action.to_owned(),
            object_type: object.0.to_owned(),
            object_id: object.1.to_owned(),
            before_state: before.map(|v| v.to_string()),
            after_state: after.map(|v| v.to_string()),
        },
    )
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEvent {
    /// Time-ordered: pass the last one as `after` for the next page.
    pub id: String,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEvent>,
    /// The cursor of the next page, or null at the end.
    pub next_after: Option<String>,
}

/// The audit action of a completion's recording.
const RECORDED: &str = "completion.recorded";

/// A completion's recording as the audit trail shows it. Derived from the completion row,
/// which records who (the platform), when and what, rather than stored a second time: a copy
/// per completion would be the largest row in the books.
fn recorded(row: CompletionRow) -> AuditRow {
    AuditRow {
        // Time-ordered like the audit trail's own ids: both are UUIDv7.
        id: row.id.clone(),
        at: row.received_at,
        actor: format!("platform:{}", row.platform_code),
        action: RECORDED.to_owned(),
        object_type: "completion".to_owned(),
        object_id: row.id,
        before_state: None,
        after_state: Some(
            json!({
                "event_id": row.event_id, "payer": row.payer_code, "status": row.status,
                "training_year": row.training_year,
                "gross": Money::from_fen(row.gross_fen),
                "granted": Money::from_fen(row.granted_fen),
                "limited_by": row.limited_by,
            })
            .to_string(),
        ),
    }
}

/// The recordings a filter asks for: the completions of one platform (actor `platform:X`) or
/// one completion, all of them when unfiltered, none when it names another kind of event.
fn recordings(conn: &mut DbConn, filter: &AuditFilter) -> Result<Vec<AuditRow>, StoreError> {
    let other_type = filter
        .object_type
        .as_deref()
        .is_some_and(|t| t != "completion");
    let other_action = filter.action.as_deref().is_some_and(|a| a != RECORDED);
    let platform = match filter.actor.as_deref() {
        Some(actor) => match actor.strip_prefix("platform:") {
            Some(code) => Some(code),
            None => return Ok(vec![]),
        },
        None => None,
    };
    if other_type || other_action {
        return Ok(vec![]);
    }
    Ok(billing::completions_by_id(
        conn,
        platform,
        filter.object_id.as_deref(),
        filter.after.as_deref(),
        filter.limit,
        filter.newest_first,
    )?
    .into_iter()
    .map(recorded)
    .collect())
}

fn parsed(text: Option<String>) -> Option<Value> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

impl Gateway {
    pub fn audit_events(&self, filter: AuditFilter) -> Result<AuditPage, ServiceError> {
        let limit = filter.limit;
        let rows = self.store.read(|conn| {
            let mut rows = billing::list_audit(conn, &filter)?;
            rows.extend(recordings(conn, &filter)?);
            if filter.newest_first {
                rows.sort_by(|a, b| b.id.cmp(&a.id));
            } else {
                rows.sort_by(|a, b| a.id.cmp(&b.id));
            }
            rows.truncate(usize::try_from(limit).unwrap_or(0));
            Ok::<_, ServiceError>(rows)
        })?;
        let next_after = next_after(&rows, limit, |r| &r.id);
        Ok(AuditPage {
            items: rows
                .into_iter()
                .map(|row| AuditEvent {
                    id: row.id,
                    at: utc(row.at),
                    actor: row.actor,
                    action: row.action,
                    object_type: row.object_type,
                    object_id: row.object_id,
                    before: parsed(row.before_state),
                    after: parsed(row.after_state),
                })
                .collect(),
            next_after,
        })
    }
}
