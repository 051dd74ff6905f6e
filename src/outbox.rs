//! The worker that forwards approved invoices to the finance bureau's payment system.

use crate::config::BureauSettings;
use crate::service::delivery::{DeliveryOutcome, DueDelivery};
use crate::service::Gateway;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;

/// The most of a bureau's answer that is read (and kept as the delivery's last error).
const ANSWER_BYTES: usize = 4096;

/// The client that talks to the bureau: its timeout, no redirects (a delivery goes where it was
/// configured to, or nowhere), the extra root certificates and the client certificate if set.
pub fn client(bureau: &BureauSettings) -> anyhow::Result<reqwest::Client> {
    let read = |path: &std::path::Path| {
        std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
    };
    let mut builder = reqwest::Client::builder()
        .timeout(Duration::from_millis(bureau.timeout_ms))
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = &bureau.ca_file {
        for certificate in reqwest::Certificate::from_pem_bundle(&read(path)?)? {
            builder = builder.add_root_certificate(certificate);
        }
    }
    if let Some(path) = &bureau.client_identity_file {
        builder = builder.identity(reqwest::Identity::from_pem(&read(path)?)?);
    }
    Ok(builder.build()?)
}

/// A Standard Webhooks signature: `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body`.
fn signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// Polls the outbox until the process ends. Safe with several replicas: deliveries are leased,
/// and the bureau deduplicates on `Idempotency-Key`, so a crash between sending and recording
/// costs at most a repeat the bureau recognises.
pub async fn run(gateway: Arc<Gateway>, bureau: BureauSettings, client: reqwest::Client) {
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
            let outcome = send(&client, &bureau, &delivery).await;
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

/// Posts one delivery, signed; its `webhook-id` is the invoice number, the same on every retry.
async fn send(
    client: &reqwest::Client,
    bureau: &BureauSettings,
    delivery: &DueDelivery,
) -> DeliveryOutcome {
    let body = serde_json::to_vec(&delivery.payload).expect("payload serialises");
    let id = &delivery.idempotency_key;
    let timestamp = chrono::Utc::now().timestamp();
    let response = client
        .post(format!("{}/payment-requests", bureau.url))
        .header("Idempotency-Key", id)
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header(
            "webhook-signature",
            signature(&bureau.signing_secret.0, id, timestamp, &body),
        )
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await;
    match response {
        Err(e) => DeliveryOutcome::Failed(format!("transport: {e}")),
        Ok(r) if r.status().is_success() || r.status() == reqwest::StatusCode::CONFLICT => {
            DeliveryOutcome::Accepted
        }
        Ok(r) => {
            let status = r.status();
            let answer = answer_start(r).await;
            // A redirect is not followed: the bureau's address is configuration, not its answer.
            if status.is_client_error() {
                DeliveryOutcome::Refused(format!("{status}: {answer}"))
            } else {
                DeliveryOutcome::Failed(format!("{status}: {answer}"))
            }
        }
    }
}

/// The first bytes of an answer, never more, however much the bureau sends.
async fn answer_start(mut response: reqwest::Response) -> String {
    let mut read = Vec::new();
    while read.len() < ANSWER_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => read.extend_from_slice(&chunk),
            _ => break,
        }
    }
    read.truncate(ANSWER_BYTES);
    String::from_utf8_lossy(&read).chars().take(500).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_as_the_standard_webhooks_example_does() {
        // The specification's published example.
        let key = base64::engine::general_purpose::STANDARD
            .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap();
        assert_eq!(
            signature(
                &key,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }
}
