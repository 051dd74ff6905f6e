//! Console sessions and one-time sign-in links, each known only by the hash of its secret.

use super::models::{SessionRow, SignInLinkRow};
use super::schema::{console_links, console_sessions};
use super::{DbConn, StoreError};
use chrono::NaiveDateTime;
use diesel::prelude::*;

type Result<T> = std::result::Result<T, StoreError>;

/// Opens a session, and forgets the sessions that have expired meanwhile.
pub fn open(conn: &mut DbConn, row: &SessionRow) -> Result<()> {
    diesel::delete(console_sessions::table.filter(console_sessions::expires_at.le(row.created_at)))
        .execute(conn)?;
    diesel::insert_into(console_sessions::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// The session, while it has not expired.
pub fn live(conn: &mut DbConn, id_hash: &str, now: NaiveDateTime) -> Result<Option<SessionRow>> {
    Ok(console_sessions::table
        .find(id_hash)
        .filter(console_sessions::expires_at.gt(now))
        .first(conn)
        .optional()?)
}

pub fn close(conn: &mut DbConn, id_hash: &str) -> Result<()> {
    diesel::delete(console_sessions::table.find(id_hash)).execute(conn)?;
    Ok(())
}

/// Adds a link, and forgets the links that have expired meanwhile.
pub fn add_link(conn: &mut DbConn, row: &SignInLinkRow, now: NaiveDateTime) -> Result<()> {
    diesel::delete(console_links::table.filter(console_links::expires_at.le(now))).execute(conn)?;
    diesel::insert_into(console_links::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Uses up a link: it is gone whether or not it was still valid.
pub fn take_link(
    conn: &mut DbConn,
    token_hash: &str,
    now: NaiveDateTime,
) -> Result<Option<SignInLinkRow>> {
    let row: Option<SignInLinkRow> = console_links::table
        .find(token_hash)
        .first(conn)
        .optional()?;
    diesel::delete(console_links::table.find(token_hash)).execute(conn)?;
    Ok(row.filter(|link| link.expires_at > now))
}
