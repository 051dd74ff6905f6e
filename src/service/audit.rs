//! The append-only audit trail: who changed what money or configuration, when, before and after.

use super::{new_id, next_after, utc, Gateway, ServiceError};
use crate::auth::Principal;
use crate::store::billing::{self, AuditFilter};
use crate::store::models::AuditRow;
use crate::store::{DbConn, StoreError};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// A caller's identity as the audit trail and separation of duties see it.
pub fn actor(principal: &Principal) -> String {
    format!("{}:{}", principal.role.as_str(), principal.subject)
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

fn parsed(text: Option<String>) -> Option<Value> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

impl Gateway {
    pub fn audit_events(&self, filter: AuditFilter) -> Result<AuditPage, ServiceError> {
        let limit = filter.limit;
        let rows = self.store.read(|conn| billing::list_audit(conn, &filter))?;
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
