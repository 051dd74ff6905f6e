//! The worker that forwards approved invoices to the finance bureau's payment system.

use crate::config::BureauSettings;
use crate::service::delivery::{DeliveryOutcome, DueDelivery};
use crate::service::Gateway;
use std::sync::Arc;
use std::time::Duration;

/// Polls the outbox until the process ends. Safe with several replicas: deliveries are leased,
/// and the bureau deduplicates on `Idempotency-Key`, so a crash between sending and recording
/// costs at most a repeat the bureau recognises.
pub async fn run(gateway: Arc<Gateway>, bureau: BureauSettings) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(bureau.timeout_ms))
        .build()
        .expect("HTTP client builds");
    let lease_ms = i64::try_from(bureau.timeout_ms * 3).unwrap_or(i64::MAX);
    loop {
        tokio::time::sleep(Duration::from_millis(bureau.poll_ms)).await;
        let leasing = gateway.clone();
        let due = match tokio::task::spawn_blocking(move || leasing.lease_due_deliveries(lease_ms))
            .await
        {
            Ok(Ok(due)) => due,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "outbox poll failed");
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "outbox poll panicked");
                continue;
            }
        };
        for delivery in due {
            let outcome = send(&client, &bureau.url, &delivery).await;
            let (settling, settings) = (gateway.clone(), bureau.clone());
            let settled = tokio::task::spawn_blocking(move || {
                settling.settle_delivery(&delivery, outcome, &settings)
            })
            .await;
            if let Ok(Err(e)) = settled {
                tracing::warn!(error = %e, "recording a delivery failed; it will be retried after its lease");
            }
        }
    }
}

async fn send(client: &reqwest::Client, url: &str, delivery: &DueDelivery) -> DeliveryOutcome {
    let response = client
        .post(format!("{url}/payment-requests"))
        .header("Idempotency-Key", &delivery.idempotency_key)
        .json(&delivery.payload)
        .send()
        .await;
    match response {
        Err(e) => DeliveryOutcome::Failed(format!("transport: {e}")),
        Ok(r) if r.status().is_success() || r.status() == reqwest::StatusCode::CONFLICT => {
            DeliveryOutcome::Accepted
        }
        Ok(r) => {
            let status = r.status();
            let body: String = r
                .text()
                .await
                .unwrap_or_default()
                .chars()
                .take(500)
                .collect();
            if status.is_client_error() {
                DeliveryOutcome::Refused(format!("{status}: {body}"))
            } else {
                DeliveryOutcome::Failed(format!("{status}: {body}"))
            }
        }
    }
}
