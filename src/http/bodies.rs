//! Request bodies as the OpenAPI document describes them. Handlers take the JSON as a value
//! and the service reads it field by field, so that every bad field is listed in one answer;
//! these types only give the document its schemas.
#![allow(dead_code)]

use serde::Deserialize;
use utoipa::ToSchema;

/// A token request: a platform's client credentials (in the body, or as HTTP Basic) or a staff
/// user's password. Parameters the gateway does not read are ignored.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum TokenRequest {
    ClientCredentials(ClientCredentialsGrant),
    Password(PasswordGrant),
}

#[derive(Deserialize, ToSchema)]
pub enum ClientCredentialsType {
    #[serde(rename = "client_credentials")]
    ClientCredentials,
}

#[derive(Deserialize, ToSchema)]
pub enum PasswordType {
    #[serde(rename = "password")]
    Password,
}

/// RFC 6749 §4.4. Without `client_id` and `client_secret` here, the client authenticates with
/// HTTP Basic.
#[derive(Deserialize, ToSchema)]
pub struct ClientCredentialsGrant {
    grant_type: ClientCredentialsType,
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = "^[^\\x00-\\x1F\\x7F-\\x9F]*$"
    )]
    client_id: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "^[^\\x00-\\x1F\\x7F-\\x9F]*$"
    )]
    client_secret: Option<String>,
}

/// RFC 6749 §4.3, for staff users.
#[derive(Deserialize, ToSchema)]
pub struct PasswordGrant {
    grant_type: PasswordType,
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = "^[^\\x00-\\x1F\\x7F-\\x9F]*$"
    )]
    username: String,
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "^[^\\x00-\\x1F\\x7F-\\x9F]*$"
    )]
    password: String,
}

#[derive(Deserialize, ToSchema)]
pub struct CodeAndName {
    #[schema(example = "p1")]
    code: String,
    #[schema(example = "Platform One")]
    name: String,
}

#[derive(Deserialize, ToSchema)]
pub struct PlatformStatusChange {
    /// `active` or `suspended`.
    #[schema(example = "suspended")]
    status: String,
}

#[derive(Deserialize, ToSchema)]
pub struct NewUser {
    #[schema(example = "fin1")]
    username: String,
    /// `finance`, `admin`, or `platform` (platform staff, who sign in to the console).
    #[schema(example = "finance")]
    role: String,
    /// At least 12 characters.
    password: String,
    /// For a `platform` user: the platform they speak for.
    platform: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct PerLevelAmounts {
    #[schema(example = "3.00")]
    junior: String,
    #[schema(example = "4.00")]
    intermediate: String,
    #[schema(example = "5.00")]
    senior: String,
}

#[derive(Deserialize, ToSchema)]
pub struct NewRateSchedule {
    #[schema(example = "province")]
    payer: String,
    #[schema(example = 2023)]
    effective_year: i32,
    rates: PerLevelAmounts,
    saturation_per_class_hour: PerLevelAmounts,
    #[schema(example = "300.00")]
    learner_annual_cap: String,
    #[schema(example = "3000000.00")]
    platform_annual_ceiling: String,
    #[schema(example = "0.50")]
    offline_ratio_threshold: String,
    #[schema(example = "0.50")]
    offline_reduction_factor: String,
}

#[derive(Deserialize, ToSchema)]
pub struct CourseBody {
    #[schema(example = "Welding basics")]
    title: String,
    /// `junior`, `intermediate` or `senior`.
    #[schema(example = "junior")]
    level: String,
    #[schema(example = 10)]
    class_hours: i32,
}

#[derive(Deserialize, ToSchema)]
pub struct LearnerBody {
    /// 18-character resident ID number with a valid MOD 11-2 check character.
    #[schema(example = "11010519491231002X")]
    id_number: String,
    #[schema(example = "张三")]
    name: String,
}

#[derive(Deserialize, ToSchema)]
pub struct CompletionEventBody {
    /// The platform's own unique id: the idempotency key.
    #[schema(example = "p1-000123")]
    event_id: String,
    #[schema(example = "weld-101")]
    course_code: String,
    learner: LearnerBody,
    #[schema(example = 10)]
    class_hours: i32,
    /// Null: uncertified, earns nothing.
    #[schema(example = "SX2022-000123")]
    certificate_no: Option<String>,
    #[schema(example = "2022-06-01T10:00:00+08:00")]
    certified_at: String,
    /// Defaults to `province`.
    #[schema(example = "province")]
    payer: Option<String>,
    /// The electronic voucher this completion redeems: required where the payer requires
    /// vouchers (422 `voucher_required`, `voucher_invalid`, `voucher_redeemed`,
    /// `voucher_expired` otherwise).
    #[schema(example = "TY2022-000001")]
    voucher_code: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct CompletionBatchBody {
    /// 1 to 1,000 events, applied in order.
    events: Vec<CompletionEventBody>,
}

#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum CompletionsBody {
    One(CompletionEventBody),
    Batch(CompletionBatchBody),
}

#[derive(Deserialize, ToSchema)]
pub struct RevokeBody {
    #[schema(example = "certificate withdrawn by the assessment body")]
    reason: String,
}

#[derive(Deserialize, ToSchema)]
pub struct FollowupBody {
    learner: LearnerBody,
    #[schema(example = "2022-07-01")]
    attended_on: String,
    #[schema(example = "Welding workshop, Taiyuan")]
    program: String,
}

#[derive(Deserialize, ToSchema)]
pub struct InvoiceRunBody {
    #[schema(example = "2022-06")]
    period: String,
    /// Defaults to `province`.
    #[schema(example = "province")]
    payer: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct ReasonBody {
    #[schema(example = "class-hours do not match the platform's records")]
    reason: String,
}

#[derive(Deserialize, ToSchema)]
pub struct UserStatusChange {
    /// `active` or `disabled`.
    #[schema(example = "disabled")]
    status: String,
}

#[derive(Deserialize, ToSchema)]
pub struct PasswordChange {
    /// At least 12 characters.
    password: String,
    /// Required when users change their own password.
    current_password: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct PaymentBody {
    #[schema(example = "BUREAU-TX-0001")]
    reference: String,
}

/// The bureau's confirmation: its payment reference, and the number and amount it paid, which
/// must be the invoice's (409 `payment_mismatch` otherwise).
#[derive(Deserialize, ToSchema)]
pub struct BureauPaymentBody {
    #[schema(example = "BUREAU-TX-0001")]
    reference: String,
    #[schema(example = "PROVINCE-2026-000001")]
    number: String,
    #[schema(example = "617.28")]
    amount: String,
}

/// The answer of `GET /v1/reconciliation` (built by `domain::reconcile`).
#[derive(serde::Serialize, ToSchema)]
pub struct ReconciliationReport {
    /// `clean` or `breached`.
    #[schema(example = "clean")]
    status: String,
    checked: ReconciliationCounts,
    breaches: Vec<ReconciliationFinding>,
    /// Money waiting on a person (a delivery the bureau refused); not a breach.
    notices: Vec<ReconciliationFinding>,
}

#[derive(serde::Serialize, ToSchema)]
pub struct ReconciliationCounts {
    completions: u64,
    counters: u64,
    claims: u64,
    invoices: u64,
    deliveries: u64,
    vouchers: u64,
}

#[derive(serde::Serialize, ToSchema)]
pub struct ReconciliationFinding {
    /// Stable code: counter_mismatch, counter_missing, over_limit, paid_twice,
    /// claim_index_missing, grant_out_of_range, invoice_lines_mismatch, invoice_true_up_mismatch,
    /// delivery_missing, delivery_duplicated, delivery_inconsistent, delivery_unexpected,
    /// delivery_orphaned, voucher_mismatch, voucher_orphaned, voucher_missing, reference_missing,
    /// course_unfrozen; notices:
    /// delivery_failed.
    #[schema(example = "counter_mismatch")]
    invariant: String,
    subject: String,
    detail: String,
}

/// The answer of `POST /v1/completions`: one result for one event, `{"results": [...]}` (in the
/// order of the events) for a batch.
#[derive(serde::Serialize, ToSchema)]
#[serde(untagged)]
pub enum CompletionsAnswer {
    One(crate::service::ingest::CompletionResult),
    Batch(BatchResults),
}

#[derive(serde::Serialize, ToSchema)]
pub struct BatchResults {
    pub results: Vec<crate::service::ingest::CompletionResult>,
}

/// `GET /healthz`: the process answers.
#[derive(serde::Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// `GET /readyz`: the database answers too.
#[derive(serde::Serialize, ToSchema)]
pub struct Readiness {
    /// Always `ready` (otherwise the answer is a 503 problem).
    #[schema(example = "ready")]
    pub status: &'static str,
    /// `sqlite` or `postgres`.
    #[schema(example = "sqlite")]
    pub database: &'static str,
}

/// One voucher to issue.
#[derive(Deserialize, ToSchema)]
pub struct VoucherBody {
    #[schema(example = "TY2022-000001")]
    code: String,
    #[schema(example = "taiyuan")]
    payer: String,
    /// The learner: the resident ID number is kept only as its keyed hash and masked form, the
    /// name not at all.
    learner: Option<LearnerBody>,
    /// Instead of `learner`: the bare ID number (as in `gateway vouchers import`).
    #[schema(example = "11010519491231002X")]
    id_number: Option<String>,
    #[schema(example = "2022-03-01T00:00:00+08:00")]
    valid_from: String,
    #[schema(example = "2022-11-30T23:59:59+08:00")]
    valid_until: String,
    /// Only for this level (`junior`, `intermediate`, `senior`).
    level: Option<String>,
    /// Only for this course code.
    course_code: Option<String>,
}

/// One voucher, or `{"vouchers": [...]}` with 1 to 1,000.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum VouchersBody {
    One(VoucherBody),
    Batch { vouchers: Vec<VoucherBody> },
}

#[derive(Deserialize, ToSchema)]
pub struct PayerChange {
    /// True: from now on its completions are paid only against a voucher.
    voucher_required: bool,
}

/// One city's targets for a training year (seed plan 附件1).
#[derive(Deserialize, ToSchema)]
pub struct TargetBody {
    /// The four digits that begin the city's ID numbers.
    #[schema(example = "1401")]
    city_code: String,
    #[schema(example = "太原市")]
    name: String,
    /// People to train.
    #[schema(example = 35000)]
    trainees: i64,
    /// Certificates to issue.
    #[schema(example = 36000)]
    certificates: i64,
}

#[derive(Deserialize, ToSchema)]
pub struct WebhookEndpointBody {
    /// `https://` to a public address (plain `http://` and private addresses only where the
    /// gateway runs with `GATEWAY_WEBHOOKS_ALLOW_INSECURE=true`).
    #[schema(example = "https://platform.example.cn/hooks/subsidy")]
    url: String,
    /// `invoice.issued`, `invoice.approved`, `invoice.rejected`, `invoice.submitted`,
    /// `invoice.paid`, `course.saturated`, `platform.ceiling_warning`,
    /// `platform.ceiling_reached`, `completion.revoked`.
    #[schema(example = json!(["invoice.approved", "platform.ceiling_warning"]))]
    event_types: Vec<String>,
}
