//! Electronic vouchers: issued, redeemed by a completion (in its group, see `group::record`),
//! released by its revocation, cancelled by an admin (reconciliation reads them in `books`).

use super::models::VoucherRow;
use super::schema::{payers, vouchers};
use super::{DbConn, StoreError};
use chrono::NaiveDateTime;
use diesel::prelude::*;

type Result<T> = std::result::Result<T, StoreError>;

/// The codes of these that exist already.
pub fn codes_taken(conn: &mut DbConn, codes: &[&str]) -> Result<Vec<String>> {
    Ok(vouchers::table
        .filter(vouchers::code.eq_any(codes))
        .select(vouchers::code)
        .load(conn)?)
}

pub fn insert(conn: &mut DbConn, rows: &[VoucherRow]) -> Result<()> {
    insert_all!(conn, vouchers::table, rows.to_vec());
    Ok(())
}

pub fn find(conn: &mut DbConn, code: &str) -> Result<Option<VoucherRow>> {
    Ok(vouchers::table.find(code).first(conn).optional()?)
}

/// A learner's vouchers, by code.
pub fn of_learner(conn: &mut DbConn, learner_hash: &str) -> Result<Vec<VoucherRow>> {
    Ok(vouchers::table
        .filter(vouchers::learner_hash.eq(learner_hash))
        .order(vouchers::code)
        .load(conn)?)
}

/// A page of vouchers by code, after `after`, of a payer and in a status when given.
pub fn list(
    conn: &mut DbConn,
    payer: Option<&str>,
    status: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<VoucherRow>> {
    let mut query = vouchers::table
        .order(vouchers::code)
        .limit(limit)
        .into_boxed();
    if let Some(payer) = payer {
        query = query.filter(vouchers::payer_code.eq(payer.to_owned()));
    }
    if let Some(status) = status {
        query = query.filter(vouchers::status.eq(status.to_owned()));
    }
    if let Some(after) = after {
        query = query.filter(vouchers::code.gt(after.to_owned()));
    }
    Ok(query.load(conn)?)
}

/// The voucher a revoked completion held is usable again.
pub fn release(conn: &mut DbConn, completion_id: &str) -> Result<()> {
    diesel::update(vouchers::table.filter(vouchers::completion_id.eq(completion_id)))
        .set((
            vouchers::status.eq("issued"),
            vouchers::completion_id.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(())
}

/// Cancels an unused voucher; false when it is not `issued`.
pub fn cancel(conn: &mut DbConn, code: &str) -> Result<bool> {
    let changed = diesel::update(
        vouchers::table
            .find(code)
            .filter(vouchers::status.eq("issued")),
    )
    .set(vouchers::status.eq("cancelled"))
    .execute(conn)?;
    Ok(changed == 1)
}

/// From when on a payer requires vouchers (`None`: it no longer does).
pub fn set_requirement(
    conn: &mut DbConn,
    payer: &str,
    since: Option<NaiveDateTime>,
) -> Result<usize> {
    Ok(diesel::update(payers::table.find(payer))
        .set(payers::voucher_required_since.eq(since))
        .execute(conn)?)
}
