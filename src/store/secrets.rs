//! Keys that earlier versions generated into the database. They are moved out once by
//! `gateway keys export`; until then the gateway refuses to start (see `crate::keys`). And the
//! check that the ID-number key is the one the learners were found by.

use super::schema::gateway_secrets::dsl as s;
use super::schema::key_checks;
use super::{DbConn, StoreError};
use diesel::prelude::*;

/// The signing key and the ID-number hash key still held, by their stored names.
pub struct Held {
    pub signing: Option<String>,
    pub id_hash: Option<String>,
}

impl Held {
    pub fn is_empty(&self) -> bool {
        self.signing.is_none() && self.id_hash.is_none()
    }
}

pub fn held(conn: &mut DbConn) -> Result<Held, StoreError> {
    let mut find = |name: &str| -> Result<Option<String>, StoreError> {
        Ok(s::gateway_secrets
            .find(name)
            .select(s::value)
            .first(conn)
            .optional()?)
    };
    Ok(Held {
        signing: find("jwt_hs256")?,
        id_hash: find("id_number_hmac")?,
    })
}

pub fn forget(conn: &mut DbConn) -> Result<(), StoreError> {
    diesel::delete(s::gateway_secrets).execute(conn)?;
    Ok(())
}

/// The recorded check of the ID-number key, if one was recorded.
pub fn id_key_check(conn: &mut DbConn) -> Result<Option<String>, StoreError> {
    Ok(key_checks::table
        .find("id_hash")
        .select(key_checks::value)
        .first(conn)
        .optional()?)
}

/// Records the check; another process recording the same at once is no conflict.
pub fn record_id_key_check(conn: &mut DbConn, value: &str) -> Result<(), StoreError> {
    let inserted = diesel::insert_into(key_checks::table)
        .values((key_checks::name.eq("id_hash"), key_checks::value.eq(value)))
        .execute(conn)
        .map_err(StoreError::from);
    match inserted {
        Err(e) if !e.is_unique_violation() => Err(e),
        _ => Ok(()),
    }
}

/// Replaces the check: `gateway keys export` knows the key the learners were found by.
pub fn replace_id_key_check(conn: &mut DbConn, value: &str) -> Result<(), StoreError> {
    diesel::delete(key_checks::table).execute(conn)?;
    record_id_key_check(conn, value)
}
