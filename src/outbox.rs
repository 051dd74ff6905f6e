//! The worker that delivers the outbox: approved invoices to the finance bureau's payment
//! system, and signed messages to the endpoints platforms registered. Both are signed as
//! Standard Webhooks specifies; neither follows redirects or reads more than 4 KiB of an answer.

use crate::config::{BureauSettings, WebhookSettings};
use crate::service::delivery::{Attempted, DeliveryOutcome, DueDelivery, Target};
use crate::service::webhooks::is_public;
use crate::service::Gateway;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The most of an answer that is read (and kept as the delivery's last error).
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

/// Resolves platforms' hosts to public addresses only, when the connection is made: a name
/// that passed the check at registration and now points into the gateway's own network (DNS
/// rebinding) finds no address to connect to.
struct PublicAddressesOnly;

impl reqwest::dns::Resolve for PublicAddressesOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!("{} resolves to no public address", name.as_str()).into());
            }
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The client that talks to platforms' endpoints: no redirects, public addresses only unless
/// insecure targets are allowed.
pub fn platform_client(webhooks: &WebhookSettings) -> anyhow::Result<reqwest::Client> {
    // No proxy from the environment: a proxy would resolve the name itself, past the check.
    let mut builder = reqwest::Client::builder()
        .timeout(Duration::from_millis(webhooks.timeout_ms))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy();
    if !webhooks.allow_insecure {
        builder = builder
            .dns_resolver(Arc::new(PublicAddressesOnly))
            .https_only(true);
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

/// Where the worker delivers: the bureau when one is configured, platforms always.
pub struct Targets {
    pub bureau: Option<(BureauSettings, reqwest::Client)>,
    pub webhooks: WebhookSettings,
    pub platforms: reqwest::Client,
}

/// Deliveries in flight at once, over all targets.
const IN_FLIGHT: usize = 32;

/// Polls the outbox until the task is aborted (after the server has stopped), which aborts the
/// deliveries in flight too; a recording already on the blocking pool still commits, and a
/// delivery cut off after sending is sent again, with the same `webhook-id`, once its lease
/// lapses. Safe with several replicas: deliveries are leased; a crash between sending and
/// recording costs at most a repeat with the same `webhook-id` (the bureau also deduplicates on
/// `Idempotency-Key`). Deliveries run on their own: a poll leases as many as there is room for
/// in flight, so an endpoint that answers slowly or not at all holds up only the deliveries to
/// it.
pub async fn run(gateway: Arc<Gateway>, targets: Targets) {
    let targets = Arc::new(targets);
    let lease = |timeout_ms: u64| i64::try_from(timeout_ms * 3).unwrap_or(i64::MAX);
    let bureau_lease_ms = targets.bureau.as_ref().map(|(b, _)| lease(b.timeout_ms));
    let platform_lease_ms = lease(targets.webhooks.timeout_ms);
    let poll_ms = targets
        .bureau
        .as_ref()
        .map_or(targets.webhooks.poll_ms, |(b, _)| {
            b.poll_ms.min(targets.webhooks.poll_ms)
        });
    // What is in flight is counted by the set itself: a poll leases only what there is room for.
    let mut in_flight = tokio::task::JoinSet::new();
    loop {
        tokio::time::sleep(Duration::from_millis(poll_ms)).await;
        while let Some(done) = in_flight.try_join_next() {
            if let Err(e) = done {
                tracing::error!(error = %e, "a delivery panicked; it will be retried after its lease");
            }
        }
        let free = IN_FLIGHT.saturating_sub(in_flight.len());
        if free == 0 {
            continue;
        }
        let leasing = gateway.clone();
        let limit = i64::try_from(free).unwrap_or(1);
        let due = match tokio::task::spawn_blocking(move || {
            leasing.lease_due_deliveries(bureau_lease_ms, platform_lease_ms, limit)
        })
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
            let (gateway, targets) = (gateway.clone(), targets.clone());
            in_flight.spawn(async move {
                let attempted = send(&targets, &delivery).await;
                let settled = tokio::task::spawn_blocking(move || {
                    let bureau = targets.bureau.as_ref().map(|(b, _)| b);
                    gateway.settle_delivery(&delivery, attempted, bureau, &targets.webhooks)
                })
                .await;
                match settled {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "recording a delivery failed; it will be retried after its lease"),
                    Err(e) => tracing::error!(error = %e, "recording a delivery panicked; it will be retried after its lease"),
                }
            });
        }
    }
}

/// Posts one delivery, signed; its `webhook-id` is the same on every retry.
async fn send(targets: &Targets, delivery: &DueDelivery) -> Attempted {
    let id = &delivery.message_id;
    let timestamp = chrono::Utc::now().timestamp();
    let started = Instant::now();
    let (request, is_bureau) = match &delivery.target {
        Target::Bureau => {
            let Some((bureau, client)) = &targets.bureau else {
                unreachable!("bureau deliveries are leased only with a bureau configured");
            };
            let request = client
                .post(format!("{}/payment-requests", bureau.url))
                .header("Idempotency-Key", id)
                .header(
                    "webhook-signature",
                    signature(&bureau.signing_secret.0, id, timestamp, &delivery.body),
                );
            (request, true)
        }
        Target::Endpoint { url, keys } => {
            if let Some(refusal) = literal_refusal(url, &targets.webhooks) {
                return Attempted {
                    outcome: DeliveryOutcome::Failed(refusal),
                    answer_code: None,
                    duration_ms: 0,
                };
            }
            let signatures: Vec<String> = keys
                .iter()
                .map(|key| signature(key, id, timestamp, &delivery.body))
                .collect();
            let request = targets
                .platforms
                .post(url)
                .header("webhook-signature", signatures.join(" "));
            (request, false)
        }
    };
    let response = request
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(delivery.body.clone())
        .send()
        .await;
    let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let (outcome, answer_code) = match response {
        Err(e) => (DeliveryOutcome::Failed(format!("transport: {e}")), None),
        Ok(r) => {
            let status = r.status();
            let accepted =
                status.is_success() || is_bureau && status == reqwest::StatusCode::CONFLICT;
            let outcome = if accepted {
                DeliveryOutcome::Accepted
            } else {
                let answer = answer_start(r).await;
                // A redirect is not followed: the target is configuration, not its answer.
                // The bureau's other 4xx are final; a platform's receiver may be fixed, so
                // every failure of theirs is retried.
                if is_bureau && status.is_client_error() {
                    DeliveryOutcome::Refused(format!("{status}: {answer}"))
                } else {
                    DeliveryOutcome::Failed(format!("{status}: {answer}"))
                }
            };
            (outcome, Some(status.as_u16()))
        }
    };
    Attempted {
        outcome,
        answer_code,
        duration_ms,
    }
}

/// An endpoint written as an address bypasses the resolver: checked here instead.
fn literal_refusal(url: &str, webhooks: &WebhookSettings) -> Option<String> {
    if webhooks.allow_insecure {
        return None;
    }
    let parsed = reqwest::Url::parse(url).ok()?;
    let host = parsed
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let ip: IpAddr = host.parse().ok()?;
    (!is_public(ip)).then(|| format!("{ip} is not a public address"))
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
    fn an_address_written_in_the_url_is_checked_at_delivery() {
        let settings = |allow_insecure| WebhookSettings {
            allow_insecure,
            timeout_ms: 1000,
            poll_ms: 1000,
            base_delay_ms: 1000,
            give_up_after_secs: 1,
            disable_after_secs: 1,
        };
        let strict = settings(false);
        assert!(literal_refusal("https://127.0.0.1/hook", &strict).is_some());
        assert!(literal_refusal("https://[::1]:8443/hook", &strict).is_some());
        assert!(literal_refusal("https://[64:ff9b::a00:1]/hook", &strict).is_some());
        assert!(literal_refusal("https://8.8.8.8/hook", &strict).is_none());
        // A name goes through the resolver, which drops non-public addresses.
        assert!(literal_refusal("https://hooks.example.cn/hook", &strict).is_none());
        assert!(literal_refusal("http://127.0.0.1/hook", &settings(true)).is_none());
    }

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
