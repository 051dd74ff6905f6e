//! Signed messages to platforms (Standard Webhooks): the endpoints a platform registers, the
//! messages written to the outbox in the same transaction as the change they announce, and
//! what each delivery attempt found. The HTTP side lives in `crate::outbox`.

use super::audit::record;
use super::error::Refusals;
use super::input::Reader;
use super::{new_id, utc, Gateway, ServiceError};
use crate::domain::notice::EventType;
use crate::store::models::{OutboxRow, WebhookAttemptRow, WebhookEndpointRow};
use crate::store::{billing, webhooks, DbConn};
use base64::Engine;
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use rand::RngCore;
use serde::Serialize;
use serde_json::{json, Value};
use std::net::{IpAddr, ToSocketAddrs};
use utoipa::ToSchema;

/// Endpoints a platform may hold at once: each message is written once per endpoint.
const MAX_ENDPOINTS: usize = 10;
/// After a rotation the previous secret signs beside the new one for this long.
const ROTATION_OVERLAP_HOURS: i64 = 24;
/// A failure after this long without attempts starts a new failing streak: longer than the
/// longest retry gap (ten hours and a quarter of jitter).
const QUIET_HOURS: i64 = 24;
/// The type of the message `POST …/test` sends; sent whatever the endpoint subscribed to.
pub const TEST_TYPE: &str = "webhook.test";

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEndpointView {
    pub id: String,
    pub url: String,
    #[schema(value_type = Vec<String>)]
    pub event_types: Vec<EventType>,
    /// `enabled`, or `disabled` after every delivery failed for days (`disabled_reason` says why).
    pub status: String,
    pub disabled_reason: Option<String>,
    /// Since when every delivery failed, while it does.
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// An endpoint as created or after a rotation: the only time its secret is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEndpointCreated {
    #[serde(flatten)]
    pub endpoint: WebhookEndpointView,
    /// `whsec_` and the base64 key every message is signed with. Shown once.
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookMessageQueued {
    /// The message's `webhook-id`, the same on every retry.
    pub message_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookMessageView {
    pub message_id: String,
    pub event_type: String,
    /// `pending` (retried until `next_attempt_at`), `held` (the endpoint is disabled),
    /// `delivered`, or `failed` (given up after three days, or the endpoint was deleted).
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAttemptView {
    pub message_id: String,
    pub event_type: String,
    pub attempted_at: DateTime<Utc>,
    /// `succeeded` or `failed`.
    pub outcome: String,
    /// The endpoint's HTTP status, when it answered.
    pub answer_code: Option<i32>,
    pub duration_ms: i64,
    pub error: Option<String>,
}

fn view(row: &WebhookEndpointRow) -> WebhookEndpointView {
    WebhookEndpointView {
        id: row.id.clone(),
        url: row.url.clone(),
        event_types: row
            .event_types
            .split_whitespace()
            .filter_map(EventType::parse)
            .collect(),
        status: row.status.clone(),
        disabled_reason: row.disabled_reason.clone(),
        failing_since: row.failing_since.map(utc),
        created_at: utc(row.created_at),
    }
}

/// A fresh signing secret as the specification writes it: `whsec_` and base64 of 32 bytes.
fn new_secret() -> String {
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

/// The key bytes of a stored `whsec_` secret.
pub fn secret_key(secret: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .expect("stored secrets are whsec_ and base64")
}

/// Whether an address is one the public internet routes: never loopback, private, link-local,
/// shared (carrier NAT), unspecified, multicast, broadcast, documentation or reserved space.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            let [first, second, third, _] = a.octets();
            !(a.is_loopback()
                || a.is_private()
                || a.is_link_local()
                || a.is_unspecified()
                || a.is_broadcast()
                || a.is_documentation()
                || a.is_multicast()
                || first == 0
                || first >= 240
                || (first == 100 && (second & 0xc0) == 64)
                || (first == 192 && second == 0 && third == 0)
                || (first == 198 && (second & 0xfe) == 18))
        }
        IpAddr::V6(a) => {
            let [first, second, ..] = a.segments();
            let octets = a.octets();
            let embedded = |at: usize| {
                IpAddr::V4(std::net::Ipv4Addr::new(
                    octets[at],
                    octets[at + 1],
                    octets[at + 2],
                    octets[at + 3],
                ))
            };
            if let Some(mapped) = a.to_ipv4_mapped() {
                return is_public(IpAddr::V4(mapped));
            }
            // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) reach the IPv4 address inside them:
            // that one decides. Local-use NAT64 (64:ff9b:1::/48) is never public.
            if first == 0x64 && second == 0xff9b {
                return is_public(embedded(12));
            }
            if first == 0x2002 {
                return is_public(embedded(2));
            }
            // Only global unicast (2000::/3), without Teredo (2001::/32), ORCHID
            // (2001:10::/28) and documentation space (2001:db8::/32).
            (first & 0xe000) == 0x2000
                && !(first == 0x2001
                    && (second == 0 || second == 0x0db8 || (second & 0xfff0) == 0x0010))
        }
    }
}

/// Why a platform's endpoint URL is refused, if it is: not `https://`, no host, or a host that
/// resolves to an address the public internet does not route (the gateway must not be made
/// to call into its own network). `allow_insecure` lifts both for development and tests.
pub fn target_refusal(url: &str, allow_insecure: bool) -> Option<String> {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return Some("is not an absolute URL".into());
    };
    match parsed.scheme() {
        "https" => {}
        "http" if allow_insecure => {}
        _ => return Some("must start with https://".into()),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Some("must not carry credentials".into());
    }
    let Some(host) = parsed.host_str() else {
        return Some("names no host".into());
    };
    let port = parsed.port_or_known_default().unwrap_or(443);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<IpAddr> = match (host, port).to_socket_addrs() {
        Ok(found) => found.map(|a| a.ip()).collect(),
        Err(_) => return Some("names a host that does not resolve".into()),
    };
    if addresses.is_empty() {
        return Some("names a host that does not resolve".into());
    }
    if !allow_insecure && !addresses.into_iter().all(is_public) {
        return Some("resolves to a loopback, private or link-local address".into());
    }
    None
}

/// Writes a message for each of the platform's endpoints subscribed to its type, in the
/// caller's transaction: the message exists exactly when the change it announces does. A
/// disabled endpoint's message is held, and sent once the platform enables it again.
pub(super) fn notify(
    conn: &mut DbConn,
    at: NaiveDateTime,
    platform: &str,
    event: EventType,
    data: Value,
) -> Result<(), ServiceError> {
    let endpoints = webhooks::endpoints_of(conn, platform)?;
    notify_endpoints(conn, at, &endpoints, event, &data)
}

/// [`notify`] over endpoints already loaded (a group loads each platform's once).
pub(super) fn notify_endpoints(
    conn: &mut DbConn,
    at: NaiveDateTime,
    endpoints: &[WebhookEndpointRow],
    event: EventType,
    data: &Value,
) -> Result<(), ServiceError> {
    let subscribed = endpoints.iter().filter(|e| {
        e.event_types
            .split_whitespace()
            .any(|t| t == event.as_str())
    });
    let message_id = format!("msg_{}", uuid::Uuid::now_v7().simple());
    for endpoint in subscribed {
        queue(conn, at, endpoint, &message_id, event.as_str(), data)?;
    }
    Ok(())
}

/// One message to one endpoint, due now (held while the endpoint is disabled):
/// `{"type","timestamp","data"}` as first sent, kept so every retry sends the same body.
fn queue(
    conn: &mut DbConn,
    at: NaiveDateTime,
    endpoint: &WebhookEndpointRow,
    message_id: &str,
    event_type: &str,
    data: &Value,
) -> Result<(), ServiceError> {
    let body = json!({"type": event_type, "timestamp": utc(at), "data": data});
    let now = Utc::now().naive_utc();
    billing::insert_outbox(
        conn,
        &OutboxRow {
            id: new_id(),
            invoice_id: None,
            status: if endpoint.status == "enabled" {
                "pending"
            } else {
                "held"
            }
            .into(),
            attempts: 0,
            next_attempt_at: now,
            lease_until: None,
            last_error: None,
            created_at: now,
            delivered_at: None,
            kind: "platform".into(),
            endpoint_id: Some(endpoint.id.clone()),
            message_id: Some(message_id.to_owned()),
            event_type: Some(event_type.to_owned()),
            payload: Some(body.to_string()),
            resent_at: None,
        },
    )?;
    Ok(())
}

/// The event types of a registration: a non-empty list of known types, each once.
fn event_types(reader: &Reader, refusals: &mut Refusals) -> Option<Vec<EventType>> {
    let field = reader.path("event_types");
    let Some(list) = reader.raw("event_types").and_then(Value::as_array) else {
        refusals.add(&field, "required", "is required: a list of event types");
        return None;
    };
    if list.is_empty() {
        refusals.add(&field, "required", "must name at least one event type");
        return None;
    }
    let mut types = vec![];
    for (i, item) in list.iter().enumerate() {
        match item.as_str().and_then(EventType::parse) {
            Some(t) if !types.contains(&t) => types.push(t),
            Some(_) => {}
            None => refusals.add(
                &format!("{field}[{i}]"),
                "unknown_event_type",
                format!(
                    "must be one of {}",
                    EventType::ALL.map(EventType::as_str).join(", ")
                ),
            ),
        }
    }
    Some(types)
}

impl Gateway {
    /// Registers an endpoint for the platform's messages; its secret is shown only here.
    pub fn create_webhook_endpoint(
        &self,
        platform: &str,
        body: &Value,
    ) -> Result<WebhookEndpointCreated, ServiceError> {
        let mut refusals = Refusals::default();
        let reader = Reader::object(body, "", &mut refusals);
        let url = reader
            .as_ref()
            .and_then(|r| r.text("url", 2000, &mut refusals));
        if let Some(problem) = url
            .as_deref()
            .and_then(|u| target_refusal(u, self.webhooks.allow_insecure))
        {
            let hint = if self.webhooks.allow_insecure {
                String::new()
            } else {
                " (a public https:// address)".into()
            };
            refusals.add("url", "invalid_webhook_url", format!("{problem}{hint}"));
        }
        let types = reader.as_ref().and_then(|r| event_types(r, &mut refusals));
        refusals.into_result()?;
        let (Some(url), Some(types)) = (url, types) else {
            unreachable!("every missing part was refused above");
        };
        let now = self.now().naive_utc();
        let row = WebhookEndpointRow {
            id: new_id(),
            platform_code: platform.to_owned(),
            url,
            event_types: types
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            secret: new_secret(),
            previous_secret: None,
            previous_secret_until: None,
            status: "enabled".into(),
            disabled_reason: None,
            failing_since: None,
            created_at: now,
            updated_at: now,
        };
        self.store.write(|conn| {
            if webhooks::endpoints_of(conn, platform)?.len() >= MAX_ENDPOINTS {
                return Err(ServiceError::conflict(
                    "too_many_webhook_endpoints",
                    format!("a platform holds at most {MAX_ENDPOINTS} endpoints; delete one first"),
                ));
            }
            webhooks::insert_endpoint(conn, &row)?;
            record(
                conn,
                now,
                &format!("platform:{platform}"),
                "webhook_endpoint.created",
                ("webhook_endpoint", &row.id),
                None,
                Some(json!({"url": row.url, "event_types": row.event_types})),
            )?;
            Ok::<_, ServiceError>(())
        })?;
        tracing::info!(platform, endpoint = %row.id, url = %row.url, "webhook endpoint registered");
        Ok(WebhookEndpointCreated {
            endpoint: view(&row),
            secret: row.secret,
        })
    }

    pub fn list_webhook_endpoints(
        &self,
        platform: &str,
    ) -> Result<Vec<WebhookEndpointView>, ServiceError> {
        let rows = self
            .store
            .read(|conn| webhooks::endpoints_of(conn, platform))?;
        Ok(rows.iter().map(view).collect())
    }

    pub fn get_webhook_endpoint(
        &self,
        platform: &str,
        id: &str,
    ) -> Result<WebhookEndpointView, ServiceError> {
        self.store
            .read(|conn| own_endpoint(conn, platform, id))
            .map(|row| view(&row))
    }

    /// Deletes an endpoint: its pending messages are not sent, its secrets are forgotten; its
    /// attempts stay on record.
    pub fn delete_webhook_endpoint(&self, platform: &str, id: &str) -> Result<(), ServiceError> {
        self.change_endpoint(platform, id, "webhook_endpoint.deleted", |conn, row| {
            row.status = "deleted".into();
            row.secret = String::new();
            row.previous_secret = None;
            row.previous_secret_until = None;
            webhooks::close_messages_of(conn, &row.id, "the endpoint was deleted")?;
            Ok(())
        })?;
        Ok(())
    }

    /// A new secret, shown once; the previous one still signs beside it for a day.
    pub fn rotate_webhook_secret(
        &self,
        platform: &str,
        id: &str,
    ) -> Result<WebhookEndpointCreated, ServiceError> {
        // Deliveries run on the wall clock, so the overlap is counted on it too.
        let now = Utc::now().naive_utc();
        let row =
            self.change_endpoint(platform, id, "webhook_endpoint.secret_rotated", |_, row| {
                row.previous_secret = Some(std::mem::replace(&mut row.secret, new_secret()));
                row.previous_secret_until = Some(now + Duration::hours(ROTATION_OVERLAP_HOURS));
                Ok(())
            })?;
        Ok(WebhookEndpointCreated {
            endpoint: view(&row),
            secret: row.secret,
        })
    }

    /// Enables a disabled endpoint again: the messages held meanwhile are sent, and those
    /// written from now on.
    pub fn enable_webhook_endpoint(
        &self,
        platform: &str,
        id: &str,
    ) -> Result<WebhookEndpointView, ServiceError> {
        let row = self.change_endpoint(platform, id, "webhook_endpoint.enabled", |conn, row| {
            row.status = "enabled".into();
            row.disabled_reason = None;
            row.failing_since = None;
            webhooks::release_held_of(conn, &row.id, Utc::now().naive_utc())?;
            Ok(())
        })?;
        Ok(view(&row))
    }

    /// Queues a `webhook.test` message to this endpoint alone.
    pub fn test_webhook_endpoint(
        &self,
        platform: &str,
        id: &str,
    ) -> Result<WebhookMessageQueued, ServiceError> {
        let now = self.now().naive_utc();
        let message_id = format!("msg_{}", uuid::Uuid::now_v7().simple());
        self.store.write(|conn| {
            let endpoint = enabled_endpoint(conn, platform, id)?;
            queue(
                conn,
                now,
                &endpoint,
                &message_id,
                TEST_TYPE,
                &json!({"platform": platform, "endpoint_id": endpoint.id}),
            )
        })?;
        Ok(WebhookMessageQueued { message_id })
    }

    /// Sends a message to this endpoint again, as it was first written, with a new retry window.
    pub fn resend_webhook_message(
        &self,
        platform: &str,
        id: &str,
        message_id: &str,
    ) -> Result<WebhookMessageQueued, ServiceError> {
        self.store.write(|conn| {
            let endpoint = enabled_endpoint(conn, platform, id)?;
            let message = webhooks::find_message(conn, &endpoint.id, message_id)?
                .ok_or(ServiceError::NotFound("message"))?;
            webhooks::resend(conn, &message, Utc::now().naive_utc())?;
            Ok::<_, ServiceError>(())
        })?;
        Ok(WebhookMessageQueued {
            message_id: message_id.to_owned(),
        })
    }

    /// The endpoint's latest 100 messages, newest first, with their delivery state.
    pub fn webhook_messages(
        &self,
        platform: &str,
        id: &str,
    ) -> Result<Vec<WebhookMessageView>, ServiceError> {
        let rows = self.store.read(|conn| {
            let endpoint = own_endpoint(conn, platform, id)?;
            Ok::<_, ServiceError>(webhooks::messages_of(conn, &endpoint.id, 100)?)
        })?;
        Ok(rows
            .into_iter()
            .map(|m| WebhookMessageView {
                message_id: m.message_id.unwrap_or_default(),
                event_type: m.event_type.unwrap_or_default(),
                next_attempt_at: (m.status == "pending").then(|| utc(m.next_attempt_at)),
                status: m.status,
                attempts: m.attempts,
                last_error: m.last_error,
                created_at: utc(m.created_at),
                delivered_at: m.delivered_at.map(utc),
            })
            .collect())
    }

    /// The endpoint's latest 100 delivery attempts, newest first.
    pub fn webhook_attempts(
        &self,
        platform: &str,
        id: &str,
    ) -> Result<Vec<WebhookAttemptView>, ServiceError> {
        let rows = self.store.read(|conn| {
            let endpoint = own_endpoint(conn, platform, id)?;
            Ok::<_, ServiceError>(webhooks::attempts_of(conn, &endpoint.id, 100)?)
        })?;
        Ok(rows
            .into_iter()
            .map(|a| WebhookAttemptView {
                message_id: a.message_id,
                event_type: a.event_type,
                attempted_at: utc(a.attempted_at),
                outcome: a.outcome,
                answer_code: a.answer_code,
                duration_ms: a.duration_ms,
                error: a.error,
            })
            .collect())
    }

    /// Loads the platform's endpoint, changes it, saves and audits the change.
    fn change_endpoint(
        &self,
        platform: &str,
        id: &str,
        action: &str,
        change: impl FnOnce(&mut DbConn, &mut WebhookEndpointRow) -> Result<(), ServiceError>,
    ) -> Result<WebhookEndpointRow, ServiceError> {
        let now = self.now().naive_utc();
        self.store.write(|conn| {
            let mut row = own_endpoint(conn, platform, id)?;
            let before = json!({"status": row.status});
            change(conn, &mut row)?;
            row.updated_at = now;
            webhooks::save_endpoint(conn, &row)?;
            record(
                conn,
                now,
                &format!("platform:{platform}"),
                action,
                ("webhook_endpoint", &row.id),
                Some(before),
                Some(json!({"status": row.status})),
            )?;
            tracing::info!(platform, endpoint = %row.id, "{action}");
            Ok(row)
        })
    }
}

fn own_endpoint(
    conn: &mut DbConn,
    platform: &str,
    id: &str,
) -> Result<WebhookEndpointRow, ServiceError> {
    webhooks::find_endpoint(conn, platform, id)?.ok_or(ServiceError::NotFound("webhook endpoint"))
}

fn enabled_endpoint(
    conn: &mut DbConn,
    platform: &str,
    id: &str,
) -> Result<WebhookEndpointRow, ServiceError> {
    let endpoint = own_endpoint(conn, platform, id)?;
    if endpoint.status != "enabled" {
        return Err(ServiceError::conflict(
            "webhook_endpoint_disabled",
            "the endpoint is disabled; enable it first",
        ));
    }
    Ok(endpoint)
}

/// What an attempt to deliver a platform's message found, for its record.
pub struct AttemptRecord<'a> {
    pub endpoint: &'a WebhookEndpointRow,
    pub message: &'a OutboxRow,
    pub succeeded: bool,
    pub answer_code: Option<u16>,
    pub duration_ms: i64,
    pub error: Option<String>,
}

/// Records an attempt, and keeps the endpoint's failing streak: cleared by a success, and the
/// endpoint disabled (its pending messages held) once the streak reaches `disable_after`.
/// True when this attempt disabled it.
pub(super) fn record_attempt(
    conn: &mut DbConn,
    now: NaiveDateTime,
    attempt: AttemptRecord,
    disable_after: Duration,
) -> Result<bool, ServiceError> {
    let message = attempt.message;
    let previous = webhooks::attempts_of(conn, &attempt.endpoint.id, 1)?;
    webhooks::insert_attempt(
        conn,
        &WebhookAttemptRow {
            id: new_id(),
            endpoint_id: attempt.endpoint.id.clone(),
            outbox_id: message.id.clone(),
            message_id: message.message_id.clone().unwrap_or_default(),
            event_type: message.event_type.clone().unwrap_or_default(),
            attempted_at: now,
            outcome: if attempt.succeeded {
                "succeeded"
            } else {
                "failed"
            }
            .into(),
            answer_code: attempt.answer_code.map(i32::from),
            duration_ms: attempt.duration_ms,
            error: attempt.error.clone(),
        },
    )?;
    let mut endpoint = attempt.endpoint.clone();
    if attempt.succeeded {
        if endpoint.failing_since.take().is_some() {
            webhooks::save_endpoint(conn, &endpoint)?;
        }
        return Ok(false);
    }
    // A streak is of attempts close together: after a quiet day (longer than any retry
    // gap) a failure starts a new one rather than continuing one from long ago.
    let quiet = previous
        .first()
        .is_none_or(|p| now - p.attempted_at > Duration::hours(QUIET_HOURS));
    if quiet {
        endpoint.failing_since = None;
    }
    let since = *endpoint.failing_since.get_or_insert(now);
    let disabled = now - since >= disable_after && endpoint.status == "enabled";
    if disabled {
        endpoint.status = "disabled".into();
        endpoint.disabled_reason = Some(format!(
            "every delivery failed since {}; the last: {}",
            utc(since).to_rfc3339(),
            attempt.error.as_deref().unwrap_or("no answer")
        ));
        webhooks::hold_messages_of(conn, &endpoint.id)?;
        tracing::error!(endpoint = %endpoint.id, platform = %endpoint.platform_code, "webhook endpoint disabled after failing for days");
    }
    endpoint.updated_at = now;
    webhooks::save_endpoint(conn, &endpoint)?;
    Ok(disabled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_publicly_routed_addresses_are_targets() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::7f00:1",
            "64:ff9b::a00:8",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "2001::1",
            "2001:db8::1",
            "fec0::1",
            "100::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn endpoint_urls_must_be_https_to_a_public_host() {
        assert!(target_refusal("http://8.8.8.8/hook", false).is_some());
        assert!(target_refusal("https://127.0.0.1/hook", false).is_some());
        assert!(target_refusal("https://[::1]/hook", false).is_some());
        assert!(target_refusal("https://169.254.169.254/latest", false).is_some());
        assert!(target_refusal("https://localhost/hook", false).is_some());
        assert!(target_refusal("https://user:pw@8.8.8.8/hook", false).is_some());
        assert!(target_refusal("ftp://8.8.8.8/hook", false).is_some());
        assert!(target_refusal("not a url", false).is_some());
        assert_eq!(target_refusal("https://8.8.8.8/hook", false), None);
        // Development and tests may post to a receiver on loopback.
        assert_eq!(target_refusal("http://127.0.0.1:9/hook", true), None);
    }
}
