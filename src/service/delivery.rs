//! The outbox side of forwarding approved invoices to the finance bureau: leasing due
//! deliveries and recording their outcome. The HTTP part lives in `crate::outbox`.

use super::audit::record;
use super::{Gateway, ServiceError};
use crate::config::BureauSettings;
use crate::store::billing;
use chrono::{Duration, Utc};
use rand::Rng;
use serde_json::{json, Value};

/// A delivery this worker holds: where it goes and what it says.
pub struct DueDelivery {
    pub invoice_id: String,
    pub idempotency_key: String,
    pub payload: Value,
}

pub enum DeliveryOutcome {
    /// 2xx, or 409 (the bureau already has it).
    Accepted,
    /// Another 4xx: retrying cannot help.
    Refused(String),
    /// Timeout, connection error or 5xx: try again later.
    Failed(String),
}

/// Exponential backoff from `base`, capped at an hour, plus up to a quarter of jitter.
fn backoff_ms(base: u64, attempts: i32) -> i64 {
    let exponent = u32::try_from(attempts.clamp(0, 20)).unwrap_or(20);
    let delay = base.saturating_mul(1u64 << exponent).min(3_600_000);
    let jitter = rand::thread_rng().gen_range(0..=delay / 4);
    i64::try_from(delay + jitter).unwrap_or(i64::MAX)
}

impl Gateway {
    /// Counts the outbox's deliveries by status into the metrics.
    pub fn refresh_outbox_metrics(&self) -> Result<(), ServiceError> {
        let counts = self.store.read(billing::outbox_counts)?;
        let gauges = &self.metrics.outbox_deliveries;
        gauges.reset();
        for (status, count) in counts {
            gauges.with_label_values(&[status.as_str()]).set(count);
        }
        Ok(())
    }

    /// Leases the due deliveries (other workers skip them until the lease ends).
    pub fn lease_due_deliveries(&self, lease_ms: i64) -> Result<Vec<DueDelivery>, ServiceError> {
        let now = Utc::now().naive_utc();
        let until = now + Duration::milliseconds(lease_ms);
        self.store.read(|conn| {
            let mut leased = vec![];
            for row in billing::due_outbox(conn, now, 20)? {
                if !billing::lease_outbox(conn, &row.id, now, until)? {
                    continue;
                }
                let invoice = billing::find_invoice(conn, &row.invoice_id)?
                    .ok_or(ServiceError::NotFound("invoice"))?;
                let number = invoice.number.clone().unwrap_or_default();
                leased.push(DueDelivery {
                    invoice_id: invoice.id.clone(),
                    idempotency_key: number.clone(),
                    payload: json!({
                        "invoice_id": invoice.id,
                        "invoice_number": number,
                        "platform": invoice.platform_code,
                        "payer": invoice.payer_code,
                        "training_year": invoice.training_year,
                        "period": invoice.period,
                        "amount": crate::domain::Money::from_fen(invoice.amount_fen).to_string(),
                    }),
                });
            }
            Ok(leased)
        })
    }

    /// Records what the bureau answered: submitted, a permanent failure, or a later retry.
    pub fn settle_delivery(
        &self,
        delivery: &DueDelivery,
        outcome: DeliveryOutcome,
        bureau: &BureauSettings,
    ) -> Result<(), ServiceError> {
        let now = Utc::now().naive_utc();
        self.store.write(|conn| {
            let mut row = billing::find_outbox(conn, &delivery.invoice_id)?
                .ok_or(ServiceError::NotFound("delivery"))?;
            if row.status != "pending" {
                return Ok(());
            }
            row.attempts += 1;
            row.lease_until = None;
            match outcome {
                DeliveryOutcome::Accepted => {
                    row.status = "delivered".into();
                    row.delivered_at = Some(now);
                    row.last_error = None;
                    let mut invoice = billing::find_invoice(conn, &delivery.invoice_id)?
                        .ok_or(ServiceError::NotFound("invoice"))?;
                    if invoice.status == "approved" {
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
                    }
                }
                DeliveryOutcome::Refused(answer) => {
                    row.status = "failed".into();
                    row.last_error = Some(answer);
                }
                DeliveryOutcome::Failed(error) => {
                    let give_up_after =
                        i64::try_from(bureau.give_up_after_secs).unwrap_or(i64::MAX);
                    let gave_up = now - row.created_at >= Duration::seconds(give_up_after);
                    row.last_error = Some(error);
                    if gave_up {
                        row.status = "failed".into();
                    } else {
                        let delay = backoff_ms(bureau.base_delay_ms, row.attempts - 1);
                        row.next_attempt_at = now + Duration::milliseconds(delay);
                    }
                }
            }
            if row.status == "failed" {
                tracing::error!(
                    invoice = %delivery.invoice_id,
                    error = ?row.last_error,
                    "delivery to the bureau failed for good"
                );
            }
            billing::settle_outbox(conn, &row)?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::backoff_ms;

    #[test]
    fn backoff_doubles_with_jitter_up_to_an_hour() {
        for attempts in 0..30 {
            let delay = backoff_ms(2000, attempts);
            let exact = (2000i64 << attempts.min(20)).min(3_600_000);
            assert!(
                delay >= exact && delay <= exact + exact / 4,
                "{attempts}: {delay}"
            );
        }
    }
}
