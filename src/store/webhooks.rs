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

/// Sends a message again from now on. One still pending is only brought forward (a worker
/// may hold it right now: its lease stays); one delivered or given up starts over, with a new
/// retry window.
pub fn resend(conn: &mut DbConn, message: &OutboxRow, now: NaiveDateTime) -> Result<()> {
    let target = outbox::table.find(&message.id);
    if message.status == "pending" {
        diesel::update(target)
            .set(outbox::next_attempt_at.eq(now))
            .execute(conn)?;
    } else {
        diesel::update(target)
            .set((
                outbox::status.eq("pending"),
                outbox::attempts.eq(0),
                outbox::next_attempt_at.eq(now),
                outbox::lease_until.eq(None::<NaiveDateTime>),
                outbox::resent_at.eq(Some(now)),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Holds a disabled endpoint's pending messages: not sent, not given up.
pub fn hold_messages_of(conn: &mut DbConn, endpoint_id: &str) -> Result<()> {
    diesel::update(
        outbox::table
            .filter(outbox::kind.eq("platform"))
            .filter(outbox::endpoint_id.eq(endpoint_id))
            .filter(outbox::status.eq("pending")),
    )
    .set((
        outbox::status.eq("held"),
        outbox::lease_until.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?;
    Ok(())
}

/// Queues an endpoint's held messages again once it is enabled, each with a new retry window.
pub fn release_held_of(conn: &mut DbConn, endpoint_id: &str, now: NaiveDateTime) -> Result<()> {
    diesel::update(
        outbox::table
            .filter(outbox::kind.eq("platform"))
            .filter(outbox::endpoint_id.eq(endpoint_id))
            .filter(outbox::status.eq("held")),
    )
    .set((
        outbox::status.eq("pending"),
        outbox::attempts.eq(0),
        outbox::next_attempt_at.eq(now),
        outbox::resent_at.eq(Some(now)),
    ))
    .execute(conn)?;
    Ok(())
}

/// An endpoint's latest messages, newest first.
pub fn messages_of(conn: &mut DbConn, endpoint_id: &str, limit: i64) -> Result<Vec<OutboxRow>> {
    Ok(outbox::table
        .filter(outbox::kind.eq("platform"))
        .filter(outbox::endpoint_id.eq(endpoint_id))
        .order((outbox::created_at.desc(), outbox::id.desc()))
        .limit(limit)
        .load(conn)?)
}

/// Ends an endpoint's pending and held messages, saying why (it was deleted).
pub fn close_messages_of(conn: &mut DbConn, endpoint_id: &str, why: &str) -> Result<()> {
    diesel::update(
        outbox::table
            .filter(outbox::kind.eq("platform"))
            .filter(outbox::endpoint_id.eq(endpoint_id))
            .filter(outbox::status.eq_any(["pending", "held"])),
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
