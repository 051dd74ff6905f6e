//! The outbox side of deliveries, to the finance bureau (approved invoices) and to platforms'
//! endpoints (signed messages): leasing the due ones and recording their outcome. The HTTP part
//! lives in `crate::outbox`.

use super::audit::record;
use super::webhooks::{self, secret_key, AttemptRecord};
use super::{Gateway, ServiceError};
use crate::config::{BureauSettings, WebhookSettings};
use crate::domain::notice::EventType;
use crate::store::models::OutboxRow;
use crate::store::{billing, webhooks as endpoints};
use chrono::{Duration, NaiveDateTime, Utc};
use rand::Rng;
use serde_json::json;

/// A delivery this worker holds: where it goes and what it says.
pub struct DueDelivery {
    pub outbox_id: String,
    /// The `webhook-id`: the invoice number to the bureau (also its `Idempotency-Key`), the
    /// message id to a platform; the same on every retry.
    pub message_id: String,
    pub body: Vec<u8>,
    pub target: Target,
}

pub enum Target {
    Bureau,
    /// A platform's endpoint, with the keys that sign (after a rotation, the previous one too).
    Endpoint {
        url: String,
        keys: Vec<Vec<u8>>,
    },
}

pub enum DeliveryOutcome {
    /// 2xx, or from the bureau 409 (it already has it).
    Accepted,
    /// From the bureau another 4xx: retrying cannot help.
    Refused(String),
    /// Timeout, connection error, 5xx, or any other answer from a platform: try again later.
    Failed(String),
}

/// An outcome with what the attempt saw, for the platform's record of attempts.
pub struct Attempted {
    pub outcome: DeliveryOutcome,
    pub answer_code: Option<u16>,
    pub duration_ms: i64,
}

/// Exponential backoff from `base`, capped at `cap_ms`, plus up to a quarter of jitter.
fn backoff_ms(base: u64, attempts: i32, cap_ms: u64) -> i64 {
    let exponent = u32::try_from(attempts.clamp(0, 30)).unwrap_or(30);
    let delay = base.saturating_mul(1u64 << exponent).min(cap_ms);
    let jitter = rand::thread_rng().gen_range(0..=delay / 4);
    i64::try_from(delay + jitter).unwrap_or(i64::MAX)
}

/// The bureau is retried at most hourly; platforms at most every ten hours, which spreads
/// about twenty attempts over the three days before a message is given up.
const BUREAU_BACKOFF_CAP_MS: u64 = 3_600_000;
const PLATFORM_BACKOFF_CAP_MS: u64 = 36_000_000;

impl Gateway {
    /// Counts the outbox's deliveries by status into the metrics.
    pub fn refresh_outbox_metrics(&self) -> Result<(), ServiceError> {
        let counts = self.store.read(billing::outbox_counts)?;
        let gauges = &self.metrics.outbox_deliveries;
        gauges.reset();
        for (kind, status, count) in counts {
            gauges
                .with_label_values(&[kind.as_str(), status.as_str()])
                .set(count);
        }
        Ok(())
    }

    /// Leases up to `limit` due deliveries, each for three times its target's timeout (other
    /// workers skip them meanwhile): platforms' messages always, the bureau's only where a
    /// bureau is configured (`bureau_lease_ms`).
    pub fn lease_due_deliveries(
        &self,
        bureau_lease_ms: Option<i64>,
        platform_lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<DueDelivery>, ServiceError> {
        let now = Utc::now().naive_utc();
        let kinds: &[&str] = if bureau_lease_ms.is_some() {
            &["bureau", "platform"]
        } else {
            &["platform"]
        };
        self.store.read(|conn| {
            let mut leased = vec![];
            for row in billing::due_outbox(conn, kinds, now, limit)? {
                let lease_ms = match row.kind.as_str() {
                    "bureau" => bureau_lease_ms.unwrap_or(platform_lease_ms),
                    _ => platform_lease_ms,
                };
                let until = now + Duration::milliseconds(lease_ms);
                if !billing::lease_outbox(conn, &row.id, now, until)? {
                    continue;
                }
                let due = if row.kind == "bureau" {
                    bureau_delivery(conn, &row)?
                } else {
                    platform_delivery(conn, &row, now)?
                };
                leased.extend(due);
            }
            Ok(leased)
        })
    }

    /// Records what the target answered: delivered, a permanent failure, or a later retry.
    pub fn settle_delivery(
        &self,
        delivery: &DueDelivery,
        attempted: Attempted,
        bureau: Option<&BureauSettings>,
        platforms: &WebhookSettings,
    ) -> Result<(), ServiceError> {
        let now = Utc::now().naive_utc();
        self.store.write(|conn| {
            let Some(mut row) = billing::find_outbox(conn, &delivery.outbox_id)? else {
                return Err(ServiceError::NotFound("delivery"));
            };
            if row.status != "pending" {
                return Ok(());
            }
            row.attempts += 1;
            row.lease_until = None;
            let (give_up_after, base_delay_ms, cap_ms) = match bureau {
                Some(b) if row.kind == "bureau" => {
                    (b.give_up_after_secs, b.base_delay_ms, BUREAU_BACKOFF_CAP_MS)
                }
                _ => (
                    platforms.give_up_after_secs,
                    platforms.base_delay_ms,
                    PLATFORM_BACKOFF_CAP_MS,
                ),
            };
            if row.kind == "platform" {
                let endpoint_id = row.endpoint_id.clone().unwrap_or_default();
                let endpoint = endpoints::endpoint_by_id(conn, &endpoint_id)?
                    .ok_or(ServiceError::NotFound("webhook endpoint"))?;
                let (succeeded, error) = match &attempted.outcome {
                    DeliveryOutcome::Accepted => (true, None),
                    DeliveryOutcome::Refused(e) | DeliveryOutcome::Failed(e) => {
                        (false, Some(e.clone()))
                    }
                };
                let disable_after = i64::try_from(platforms.disable_after_secs).unwrap_or(i64::MAX);
                let disabled = webhooks::record_attempt(
                    conn,
                    now,
                    AttemptRecord {
                        endpoint: &endpoint,
                        message: &row,
                        succeeded,
                        answer_code: attempted.answer_code,
                        duration_ms: attempted.duration_ms,
                        error,
                    },
                    Duration::seconds(disable_after),
                )?;
                // Disabling the endpoint held its pending messages, this one among them.
                if disabled {
                    return Ok(());
                }
            }
            match attempted.outcome {
                DeliveryOutcome::Accepted => {
                    row.status = "delivered".into();
                    row.delivered_at = Some(now);
                    row.last_error = None;
                    if row.kind == "bureau" {
                        invoice_submitted(conn, &row, now)?;
                    }
                }
                DeliveryOutcome::Refused(answer) => {
                    row.status = "failed".into();
                    row.last_error = Some(answer);
                }
                DeliveryOutcome::Failed(error) => {
                    let window_start = row.resent_at.unwrap_or(row.created_at);
                    let give_up_after = i64::try_from(give_up_after).unwrap_or(i64::MAX);
                    let gave_up = now - window_start >= Duration::seconds(give_up_after);
                    row.last_error = Some(error);
                    if gave_up {
                        row.status = "failed".into();
                    } else {
                        let delay = backoff_ms(base_delay_ms, row.attempts - 1, cap_ms);
                        row.next_attempt_at = now + Duration::milliseconds(delay);
                    }
                }
            }
            if row.status == "failed" {
                tracing::error!(
                    delivery = %row.id,
                    kind = %row.kind,
                    message = %delivery.message_id,
                    error = ?row.last_error,
                    "delivery failed for good"
                );
            }
            billing::settle_outbox(conn, &row)?;
            Ok(())
        })
    }
}

/// The bureau's delivery of an approved invoice; its id is the invoice number.
fn bureau_delivery(
    conn: &mut crate::store::DbConn,
    row: &OutboxRow,
) -> Result<Option<DueDelivery>, ServiceError> {
    let invoice_id = row.invoice_id.clone().unwrap_or_default();
    let invoice =
        billing::find_invoice(conn, &invoice_id)?.ok_or(ServiceError::NotFound("invoice"))?;
    let number = invoice.number.clone().unwrap_or_default();
    let payload = json!({
        "invoice_id": invoice.id,
        "invoice_number": number,
        "platform": invoice.platform_code,
        "payer": invoice.payer_code,
        "training_year": invoice.training_year,
        "period": invoice.period,
        "amount": crate::domain::Money::from_fen(invoice.amount_fen).to_string(),
    });
    Ok(Some(DueDelivery {
        outbox_id: row.id.clone(),
        message_id: number,
        body: serde_json::to_vec(&payload).expect("payload serialises"),
        target: Target::Bureau,
    }))
}

/// A platform's message as first written, to its endpoint, signed with the endpoint's current
/// secret and, for a day after a rotation, the previous one too. An endpoint disabled or
/// deleted meanwhile gets nothing: the message is closed instead.
fn platform_delivery(
    conn: &mut crate::store::DbConn,
    row: &OutboxRow,
    now: NaiveDateTime,
) -> Result<Option<DueDelivery>, ServiceError> {
    let endpoint_id = row.endpoint_id.clone().unwrap_or_default();
    let Some(mut endpoint) = endpoints::endpoint_by_id(conn, &endpoint_id)? else {
        return Err(ServiceError::NotFound("webhook endpoint"));
    };
    match endpoint.status.as_str() {
        "enabled" => {}
        "disabled" => {
            endpoints::hold_messages_of(conn, &endpoint_id)?;
            return Ok(None);
        }
        _ => {
            endpoints::close_messages_of(conn, &endpoint_id, "the endpoint was deleted")?;
            return Ok(None);
        }
    }
    let mut keys = vec![secret_key(&endpoint.secret)];
    match (&endpoint.previous_secret, endpoint.previous_secret_until) {
        (Some(previous), Some(until)) if until > now => keys.push(secret_key(previous)),
        (Some(_), _) => {
            // Its day of overlap is over: forgotten.
            endpoint.previous_secret = None;
            endpoint.previous_secret_until = None;
            endpoints::save_endpoint(conn, &endpoint)?;
        }
        _ => {}
    }
    Ok(Some(DueDelivery {
        outbox_id: row.id.clone(),
        message_id: row.message_id.clone().unwrap_or_default(),
        body: row.payload.clone().unwrap_or_default().into_bytes(),
        target: Target::Endpoint {
            url: endpoint.url,
            keys,
        },
    }))
}

/// The bureau has the invoice: it is submitted, and its platform is told.
fn invoice_submitted(
    conn: &mut crate::store::DbConn,
    row: &OutboxRow,
    now: NaiveDateTime,
) -> Result<(), ServiceError> {
    let invoice_id = row.invoice_id.clone().unwrap_or_default();
    let mut invoice =
        billing::find_invoice(conn, &invoice_id)?.ok_or(ServiceError::NotFound("invoice"))?;
    if invoice.status != "approved" {
        return Ok(());
    }
    invoice.status = "submitted".into();
    invoice.submitted_at = Some(now);
    billing::save_invoice(conn, &invoice)?;
    record(
        conn,
        now,
        "system:outbox",
        "invoice.submitted",
        ("invoice", &invoice.id),
        Some(json!({"status": "approved"})),
        Some(json!({"status": "submitted"})),
    )?;
    webhooks::notify(
        conn,
        now,
        &invoice.platform_code,
        EventType::InvoiceSubmitted,
        super::invoicing::notice_data(&invoice),
    )
}

#[cfg(test)]
mod tests {
    use super::backoff_ms;

    #[test]
    fn backoff_doubles_with_jitter_up_to_an_hour() {
        for attempts in 0..30 {
            let delay = backoff_ms(2000, attempts, 3_600_000);
            let exact = (2000i64 << attempts.min(20)).min(3_600_000);
            assert!(
                delay >= exact && delay <= exact + exact / 4,
                "{attempts}: {delay}"
            );
        }
    }
}
