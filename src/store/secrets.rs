//! Keys the gateway generates on first start and keeps in its database, so that every process
//! and the CLI on the same database agree without configuration.

use super::schema::gateway_secrets::dsl as s;
use super::{DbConn, StoreError};
use diesel::prelude::*;

/// The stored value of `name`, or `fresh()` stored now. Two processes racing on first start
/// both end up with the value that won the insert.
pub fn get_or_create(
    conn: &mut DbConn,
    name: &str,
    fresh: impl FnOnce() -> String,
) -> Result<String, StoreError> {
    if let Some(value) = find(conn, name)? {
        return Ok(value);
    }
    let inserted = diesel::insert_into(s::gateway_secrets)
        .values((
            s::name.eq(name),
            s::value.eq(fresh()),
            s::created_at.eq(chrono::Utc::now().naive_utc()),
        ))
        .execute(conn)
        .map_err(StoreError::from);
    match inserted {
        Ok(_) => {}
        Err(e) if e.is_unique_violation() => {}
        Err(e) => return Err(e),
    }
    find(conn, name)?.ok_or_else(|| StoreError::Unavailable(format!("secret {name} vanished")))
}

fn find(conn: &mut DbConn, name: &str) -> Result<Option<String>, StoreError> {
    Ok(s::gateway_secrets
        .find(name)
        .select(s::value)
        .first(conn)
        .optional()?)
}
