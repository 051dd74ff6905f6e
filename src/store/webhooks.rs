//! Platforms' webhook endpoints, their messages in the outbox and every delivery attempt.

use super::models::{OutboxRow, WebhookAttemptRow, WebhookEndpointRow};
use super::schema::{outbox, webhook_attempts, webhook_endpoints};
use super::{DbConn, StoreError};
use chrono::NaiveDateTime;
use diesel::prelude::*;

type Result<T> = std::result::Result<T, StoreError>;

pub fn insert_endpoint(conn: &mut DbConn, row: &WebhookEndpointRow) -> Result<()> {
    diesel::insert_into(webhook_endpoints::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn save_endpoint(conn: &mut DbConn, row: &WebhookEndpointRow) -> Result<()> {
    diesel::update(webhook_endpoints::table.find(&row.id))
        .set(row)
        .execute(conn)?;
    Ok(())
}

/// An endpoint of this platform that was not deleted.
pub fn find_endpoint(
    conn: &mut DbConn,
    platform: &str,
    id: &str,
) -> Result<Option<WebhookEndpointRow>> {
    Ok(webhook_endpoints::table
        .find(id)
        .filter(webhook_endpoints::platform_code.eq(platform))
        .filter(webhook_endpoints::status.ne("deleted"))
        .first(conn)
        .optional()?)
}

pub fn endpoint_by_id(conn: &mut DbConn, id: &str) -> Result<Option<WebhookEndpointRow>> {
    Ok(webhook_endpoints::table.find(id).first(conn).optional()?)
}

/// The platform's endpoints that were not deleted, oldest first.
pub fn endpoints_of(conn: &mut DbConn, platform: &str) -> Result<Vec<WebhookEndpointRow>> {
    Ok(webhook_endpoints::table
        .filter(webhook_endpoints::platform_code.eq(platform))
        .filter(webhook_endpoints::status.ne("deleted"))
        .order((webhook_endpoints::created_at, webhook_endpoints::id))
        .load(conn)?)
}

/// The platform's enabled endpoints (a message goes to those subscribed to its type).
pub fn enabled_endpoints_of(conn: &mut DbConn, platform: &str) -> Result<Vec<WebhookEndpointRow>> {
    Ok(webhook_endpoints::table
        .filter(webhook_endpoints::platform_code.eq(platform))
        .filter(webhook_endpoints::status.eq("enabled"))
        .load(conn)?)
}

/// The delivery of one message to one endpoint.
pub fn find_message(
    conn: &mut DbConn,
    endpoint_id: &str,
    message_id: &str,
) -> Result<Option<OutboxRow>> {
    Ok(outbox::table
        .filter(outbox::kind.eq("platform"))
        .filter(outbox::endpoint_id.eq(endpoint_id))
        .filter(outbox::message_id.eq(message_id))
        .first(conn)
        .optional()?)
}

/// Sends a delivered or given-up message again, from now on, with a new retry window.
pub fn resend(conn: &mut DbConn, outbox_id: &str, now: NaiveDateTime) -> Result<()> {
    diesel::update(outbox::table.find(outbox_id))
        .set((
            outbox::status.eq("pending"),
            outbox::next_attempt_at.eq(now),
            outbox::lease_until.eq(None::<NaiveDateTime>),
            outbox::resent_at.eq(Some(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Ends an endpoint's pending messages, saying why (it was disabled or deleted).
pub fn close_messages_of(conn: &mut DbConn, endpoint_id: &str, why: &str) -> Result<()> {
    diesel::update(
        outbox::table
            .filter(outbox::kind.eq("platform"))
            .filter(outbox::endpoint_id.eq(endpoint_id))
            .filter(outbox::status.eq("pending")),
    )
    .set((
        outbox::status.eq("failed"),
        outbox::lease_until.eq(None::<NaiveDateTime>),
        outbox::last_error.eq(Some(why)),
    ))
    .execute(conn)?;
    Ok(())
}

pub fn insert_attempt(conn: &mut DbConn, row: &WebhookAttemptRow) -> Result<()> {
    diesel::insert_into(webhook_attempts::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// An endpoint's latest attempts, newest first.
pub fn attempts_of(
    conn: &mut DbConn,
    endpoint_id: &str,
    limit: i64,
) -> Result<Vec<WebhookAttemptRow>> {
    Ok(webhook_attempts::table
        .filter(webhook_attempts::endpoint_id.eq(endpoint_id))
        .order((
            webhook_attempts::attempted_at.desc(),
            webhook_attempts::id.desc(),
        ))
        .limit(limit)
        .load(conn)?)
}
