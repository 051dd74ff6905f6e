//! Keys that earlier versions generated into the database. They are moved out once by
//! `gateway keys export`; until then the gateway refuses to start (see `crate::keys`).

use super::schema::gateway_secrets::dsl as s;
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
