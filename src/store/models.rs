//! Rows as diesel reads and writes them. Conversions to domain values live with their queries.

use super::schema::*;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

#[derive(Queryable, Selectable, Insertable, Clone, Debug)]
#[diesel(table_name = payers)]
pub struct PayerRow {
    pub code: String,
    pub name: String,
    pub created_at: NaiveDateTime,
    /// From when on its completions are paid only against a voucher; `None`: never.
    pub voucher_required_since: Option<NaiveDateTime>,
}

#[derive(Queryable, Selectable, Insertable, Clone, Debug)]
#[diesel(table_name = targets, treat_none_as_default_value = false)]
pub struct TargetRow {
    pub training_year: i32,
    pub city_code: String,
    pub name: String,
    pub trainees: i64,
    pub certificates: i64,
}

#[derive(Queryable, Selectable, Insertable, Clone, Debug)]
#[diesel(table_name = vouchers, treat_none_as_default_value = false)]
pub struct VoucherRow {
    pub code: String,
    pub payer_code: String,
    pub learner_hash: Vec<u8>,
    pub learner_masked: String,
    pub valid_from: NaiveDateTime,
    pub valid_until: NaiveDateTime,
    pub level: Option<String>,
    pub course_code: Option<String>,
    /// `issued` or `cancelled`; whether it is redeemed is read from the completions.
    pub status: String,
    pub created_at: NaiveDateTime,
    pub created_by: String,
}

#[derive(Queryable, Selectable, Insertable, Clone, Debug)]
#[diesel(table_name = rate_schedules)]
pub struct RateScheduleRow {
    pub id: String,
    pub payer_code: String,
    pub effective_year: i32,
    pub junior_rate_fen: i64,
    pub intermediate_rate_fen: i64,
    pub senior_rate_fen: i64,
    pub junior_saturation_fen: i64,
    pub intermediate_saturation_fen: i64,
    pub senior_saturation_fen: i64,
    pub learner_annual_cap_fen: i64,
    pub platform_annual_ceiling_fen: i64,
    pub offline_ratio_threshold: String,
    pub offline_reduction_factor: String,
    pub created_at: NaiveDateTime,
}

#[derive(Queryable, Selectable, Insertable, Clone, Debug)]
#[diesel(table_name = platforms)]
pub struct PlatformRow {
    pub code: String,
    pub name: String,
    pub status: String,
    pub client_id: String,
    pub client_secret_hash: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Tokens issued before this version no longer work (the secret was rotated).
    pub token_version: i64,
}

#[derive(Queryable, Selectable, Insertable, Clone, Debug)]
#[diesel(table_name = staff_users)]
pub struct StaffUserRow {
    pub username: String,
    pub role: String,
    pub password_hash: String,
    pub created_at: NaiveDateTime,
    /// `active` or `disabled`.
    pub status: String,
    /// Tokens issued before this version no longer work (password changed, user disabled).
    pub token_version: i64,
    /// The platform a user of role `platform` speaks for.
    pub platform_code: Option<String>,
}

#[derive(Queryable, Selectable, Insertable, Clone, Debug)]
#[diesel(table_name = courses)]
pub struct CourseRow {
    pub id: String,
    pub platform_code: String,
    pub code: String,
    pub title: String,
    pub level: String,
    pub class_hours: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Set by the ledger writer in the group that stores the course's first completion: from
    /// then on its level and class hours are fixed.
    pub frozen: bool,
}

#[derive(Queryable, Selectable, Insertable, Clone, Debug)]
#[diesel(table_name = learners, treat_none_as_default_value = false)]
pub struct LearnerRow {
    /// Numbered in the order learners were first seen, by the ledger writer.
    pub id: i64,
    pub id_hash: Vec<u8>,
    pub id_masked: String,
    pub name: String,
    pub created_at: NaiveDateTime,
}

#[derive(Queryable, Selectable, Insertable, Clone, Debug)]
#[diesel(table_name = completions, treat_none_as_default_value = false)]
pub struct CompletionRow {
    pub id: String,
    pub platform_code: String,
    pub event_id: String,
    pub content_hash: Vec<u8>,
    pub course_id: String,
    pub learner_id: i64,
    pub payer_code: String,
    pub class_hours: i32,
    pub level: String,
    pub certificate_no: Option<String>,
    pub certified_at: Option<NaiveDateTime>,
    pub training_year: Option<i32>,
    pub status: String,
    pub gross_fen: i64,
    pub granted_fen: i64,
    pub limited_by: Option<String>,
    pub schedule_id: Option<String>,
    pub received_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub revoke_reason: Option<String>,
    /// The ledger generation whose transaction recorded it.
    pub generation: i64,
    /// The ledger generation whose transaction revoked it.
    pub revoked_generation: Option<i64>,
    /// The voucher it redeemed (accepted completions of a payer that requires them); a
    /// voucher is held while its completion is live.
    pub voucher_code: Option<String>,
}

#[derive(Queryable, Selectable, Insertable, Clone, Debug)]
#[diesel(table_name = offline_followups)]
pub struct FollowupRow {
    pub id: String,
    pub platform_code: String,
    pub learner_id: i64,
    pub attended_on: NaiveDate,
    pub program: String,
    pub created_at: NaiveDateTime,
}

#[derive(Queryable, Selectable, Insertable, AsChangeset, Clone, Debug)]
#[diesel(table_name = invoices, treat_none_as_null = true)]
pub struct InvoiceRow {
    pub id: String,
    pub number: Option<String>,
    pub platform_code: String,
    pub payer_code: String,
    pub training_year: i32,
    pub period: String,
    pub status: String,
    pub amount_fen: i64,
    pub granted_ytd_fen: i64,
    pub payable_ytd_fen: i64,
    pub previously_invoiced_fen: i64,
    pub learners: i64,
    pub learners_with_followup: i64,
    pub created_at: NaiveDateTime,
    pub created_by: String,
    pub issued_at: Option<NaiveDateTime>,
    pub issued_by: Option<String>,
    pub approved_at: Option<NaiveDateTime>,
    pub approved_by: Option<String>,
    pub rejected_at: Option<NaiveDateTime>,
    pub rejected_by: Option<String>,
    pub reject_reason: Option<String>,
    pub submitted_at: Option<NaiveDateTime>,
    pub paid_at: Option<NaiveDateTime>,
    pub paid_by: Option<String>,
    pub payment_reference: Option<String>,
    /// The ledger generation of the snapshot it was drafted from: it includes nothing later.
    pub cutoff_generation: i64,
    /// The window of the counted invoice before it (its period's end and cut-off): what that
    /// one included, this one does not.
    pub covered_until: Option<NaiveDateTime>,
    pub covered_generation: Option<i64>,
    /// How many completions it newly includes.
    pub completions_total: i64,
}

#[derive(Queryable, Selectable, Insertable, Clone, Debug)]
#[diesel(table_name = invoice_lines)]
pub struct InvoiceLineRow {
    pub invoice_id: String,
    pub position: i32,
    pub kind: String,
    pub level: Option<String>,
    pub class_hours: Option<i64>,
    pub amount_fen: i64,
}

/// A delivery waiting, done or given up: to the bureau (`kind` "bureau", the invoice it
/// forwards) or to a platform's endpoint (`kind` "platform", the message and its body).
#[derive(Queryable, Selectable, Insertable, Clone, Debug)]
#[diesel(table_name = outbox, treat_none_as_default_value = false)]
pub struct OutboxRow {
    pub id: String,
    pub invoice_id: Option<String>,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub lease_until: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub delivered_at: Option<NaiveDateTime>,
    pub kind: String,
    pub endpoint_id: Option<String>,
    pub message_id: Option<String>,
    pub event_type: Option<String>,
    pub payload: Option<String>,
    pub resent_at: Option<NaiveDateTime>,
}

#[derive(Queryable, Selectable, Insertable, AsChangeset, Clone)]
#[diesel(
    table_name = webhook_endpoints,
    treat_none_as_default_value = false,
    treat_none_as_null = true
)]
pub struct WebhookEndpointRow {
    pub id: String,
    pub platform_code: String,
    pub url: String,
    pub event_types: String,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<NaiveDateTime>,
    pub status: String,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Never prints the secrets.
impl std::fmt::Debug for WebhookEndpointRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookEndpointRow")
            .field("id", &self.id)
            .field("platform_code", &self.platform_code)
            .field("url", &self.url)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

#[derive(Queryable, Selectable, Insertable, Clone, Debug)]
#[diesel(table_name = webhook_attempts, treat_none_as_default_value = false)]
pub struct WebhookAttemptRow {
    pub id: String,
    pub endpoint_id: String,
    pub outbox_id: String,
    pub message_id: String,
    pub event_type: String,
    pub attempted_at: NaiveDateTime,
    pub outcome: String,
    pub answer_code: Option<i32>,
    pub duration_ms: i64,
    pub error: Option<String>,
}

#[derive(Queryable, Selectable, Insertable, Clone, Debug)]
#[diesel(table_name = audit_events, treat_none_as_default_value = false)]
pub struct AuditRow {
    pub id: String,
    pub at: NaiveDateTime,
    pub actor: String,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub before_state: Option<String>,
    pub after_state: Option<String>,
}

#[derive(Queryable, Selectable, Insertable, Clone, Debug)]
#[diesel(table_name = console_sessions, treat_none_as_default_value = false)]
pub struct SessionRow {
    pub id_hash: String,
    pub role: String,
    /// A staff username or platform client; a learner's keyed ID hash.
    pub subject: String,
    /// What pages and logs show: the subject, or a learner's masked ID number.
    pub display: String,
    pub platform_code: Option<String>,
    pub account_version: i64,
    pub csrf_token: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

#[derive(Queryable, Selectable, Insertable, Clone, Debug)]
#[diesel(table_name = console_links, treat_none_as_default_value = false)]
pub struct SignInLinkRow {
    pub token_hash: String,
    pub role: String,
    pub subject: String,
    pub display: String,
    pub platform_code: Option<String>,
    pub expires_at: NaiveDateTime,
}
