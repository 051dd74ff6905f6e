//! Electronic vouchers: issued, redeemed by a completion (in its group, see `group::record`),
//! released by its revocation, cancelled by an admin; and the reconciliation's view of them.

use super::models::VoucherRow;
use super::schema::{payers, vouchers};
use super::{DbConn, StoreError};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Nullable, Text};

type Result<T> = std::result::Result<T, StoreError>;

/// The codes of these that exist already.
pub fn codes_taken(conn: &mut DbConn, codes: &[&str]) -> Result<Vec<String>> {
    Ok(vouchers::table
        .filter(vouchers::code.eq_any(codes))
        .select(vouchers::code)
        .load(conn)?)
}

pub fn insert(conn: &mut DbConn, rows: &[VoucherRow]) -> Result<()> {
    for row in rows {
        diesel::insert_into(vouchers::table)
            .values(row)
            .execute(conn)?;
    }
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

/// A voucher that is redeemed or names a completion, and whether that completion holds it: live,
/// accepted, of the voucher's payer and learner.
#[derive(QueryableByName)]
pub struct HeldVoucher {
    #[diesel(sql_type = Text)]
    pub code: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub completion_id: Option<String>,
    #[diesel(sql_type = Integer)]
    pub held: i32,
}

pub fn redeemed(conn: &mut DbConn) -> Result<Vec<HeldVoucher>> {
    Ok(diesel::sql_query(
        "SELECT v.code, v.status, v.completion_id, \
           CASE WHEN c.id IS NOT NULL AND c.status = 'accepted' AND c.revoked_at IS NULL \
                 AND c.payer_code = v.payer_code AND l.id_hash = v.learner_hash \
                THEN 1 ELSE 0 END AS held \
         FROM vouchers v \
         LEFT JOIN completions c ON c.id = v.completion_id \
         LEFT JOIN learners l ON l.id = c.learner_id \
         WHERE v.completion_id IS NOT NULL OR v.status = 'redeemed' \
         ORDER BY v.code",
    )
    .load(conn)?)
}

#[derive(QueryableByName)]
pub struct Unvouched {
    #[diesel(sql_type = Text)]
    pub id: String,
}

/// Live accepted completions of a payer that required vouchers when they were recorded, which
/// no voucher is held by.
pub fn unvouched(conn: &mut DbConn) -> Result<Vec<Unvouched>> {
    Ok(diesel::sql_query(
        "SELECT c.id FROM completions c \
         JOIN payers p ON p.code = c.payer_code \
         LEFT JOIN vouchers v ON v.completion_id = c.id \
         WHERE p.voucher_required_since IS NOT NULL \
           AND c.received_at >= p.voucher_required_since \
           AND c.status = 'accepted' AND c.revoked_at IS NULL AND v.code IS NULL \
         ORDER BY c.id",
    )
    .load(conn)?)
}
