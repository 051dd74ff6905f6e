//! Electronic vouchers: issued, held by the live completion that names it (written in its
//! group, freed by its revocation), cancelled by an admin (reconciliation reads them in
//! `books`).

use super::models::VoucherRow;
use super::schema::{completions, payers, vouchers};
use super::{DbConn, StoreError};
use crate::domain::voucher::VoucherStatus;
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

/// A voucher and the live completion that holds it, if one does.
pub struct HeldVoucher {
    pub voucher: VoucherRow,
    pub holder: Option<String>,
}

impl HeldVoucher {
    /// Cancelled as stored; otherwise redeemed while a live completion holds it; usable only
    /// when stored as issued and held by none.
    pub fn status(&self) -> VoucherStatus {
        match (VoucherStatus::parse(&self.voucher.status), &self.holder) {
            (Some(VoucherStatus::Cancelled), _) => VoucherStatus::Cancelled,
            (_, Some(_)) => VoucherStatus::Redeemed,
            (Some(VoucherStatus::Issued), None) => VoucherStatus::Issued,
            // Stored as redeemed, held by nothing: an earlier version's orphan (reconciliation
            // reports it), never usable again.
            (Some(VoucherStatus::Redeemed), None) => VoucherStatus::Redeemed,
            (None, None) => VoucherStatus::Cancelled,
        }
    }
}

impl From<(VoucherRow, Option<String>)> for HeldVoucher {
    fn from((voucher, holder): (VoucherRow, Option<String>)) -> HeldVoucher {
        HeldVoucher { voucher, holder }
    }
}

/// Vouchers beside the live completion holding each (`completions_by_voucher` answers, its
/// condition repeated so that PostgreSQL's planner can use it too).
#[diesel::dsl::auto_type]
fn with_holders() -> _ {
    vouchers::table.left_join(
        completions::table.on(completions::voucher_code
            .eq(vouchers::code.nullable())
            .and(completions::voucher_code.is_not_null())
            .and(completions::revoked_at.is_null())),
    )
}

fn voucher_and_holder() -> (
    diesel::dsl::AsSelect<VoucherRow, super::MultiBackend>,
    diesel::dsl::Nullable<completions::id>,
) {
    (VoucherRow::as_select(), completions::id.nullable())
}

pub fn find(conn: &mut DbConn, code: &str) -> Result<Option<HeldVoucher>> {
    Ok(with_holders()
        .filter(vouchers::code.eq(code))
        .select(voucher_and_holder())
        .first::<(VoucherRow, Option<String>)>(conn)
        .optional()?
        .map(HeldVoucher::from))
}

/// These vouchers, where they exist (the ledger writer's group loads those its events name).
pub fn named(conn: &mut DbConn, codes: &[&str]) -> Result<Vec<HeldVoucher>> {
    if codes.is_empty() {
        return Ok(vec![]);
    }
    load(
        conn,
        with_holders()
            .filter(vouchers::code.eq_any(codes))
            .select(voucher_and_holder()),
    )
}

/// A learner's vouchers, by code.
pub fn of_learner(conn: &mut DbConn, learner_hash: &[u8]) -> Result<Vec<HeldVoucher>> {
    load(
        conn,
        with_holders()
            .filter(vouchers::learner_hash.eq(learner_hash))
            .order(vouchers::code)
            .select(voucher_and_holder()),
    )
}

fn load<'q, Q>(conn: &mut DbConn, query: Q) -> Result<Vec<HeldVoucher>>
where
    Q: diesel::query_dsl::LoadQuery<'q, DbConn, (VoucherRow, Option<String>)>,
{
    Ok(query
        .load::<(VoucherRow, Option<String>)>(conn)?
        .into_iter()
        .map(HeldVoucher::from)
        .collect())
}

/// A page of vouchers by code, after `after`, of a payer and in a status when given.
pub fn list(
    conn: &mut DbConn,
    payer: Option<&str>,
    status: Option<VoucherStatus>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<HeldVoucher>> {
    let mut query = with_holders()
        .order(vouchers::code)
        .limit(limit)
        .select(voucher_and_holder())
        .into_boxed();
    if let Some(payer) = payer {
        query = query.filter(vouchers::payer_code.eq(payer.to_owned()));
    }
    // The same reading as `HeldVoucher::status`, as conditions.
    let stored = |status: VoucherStatus| vouchers::status.eq(status.as_str());
    query = match status {
        None => query,
        Some(VoucherStatus::Cancelled) => query.filter(stored(VoucherStatus::Cancelled)),
        Some(VoucherStatus::Redeemed) => query.filter(
            stored(VoucherStatus::Redeemed)
                .or(stored(VoucherStatus::Issued).and(completions::id.is_not_null())),
        ),
        Some(VoucherStatus::Issued) => query
            .filter(stored(VoucherStatus::Issued))
            .filter(completions::id.is_null()),
    };
    if let Some(after) = after {
        query = query.filter(vouchers::code.gt(after.to_owned()));
    }
    load(conn, query)
}

/// Cancels a voucher; the caller has seen, in this transaction, that it is unused.
pub fn cancel(conn: &mut DbConn, code: &str) -> Result<()> {
    diesel::update(vouchers::table.find(code))
        .set(vouchers::status.eq(VoucherStatus::Cancelled.as_str()))
        .execute(conn)?;
    Ok(())
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
