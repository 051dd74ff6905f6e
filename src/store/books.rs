//! The books for reconciliation (`gateway check`), read as streams: the database sums and
//! joins, rows arrive one at a time sorted by key, so memory stays bounded whatever the size
//! of the books. Called inside [`super::Store::snapshot`]: every query sees the same state.

use super::models::{InvoiceRow, RateScheduleRow};
use super::schema::{completions, courses, invoice_lines, invoices, outbox, rate_schedules};
use super::{DbConn, StoreError};
use crate::domain::CompletionStatus;
use diesel::connection::DefaultLoadingMode;
use diesel::pg::PgRowByRowLoadingMode;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};

type Result<T> = std::result::Result<T, StoreError>;
/// Rows read one at a time, borrowing the connection.
pub type Rows<'c, R> = Box<dyn Iterator<Item = Result<R>> + 'c>;

/// A query's rows one at a time: SQLite steps its statement; PostgreSQL needs libpq's
/// single-row mode (its default loads the whole result into memory first).
macro_rules! stream {
    ($conn:expr, $query:expr, $row:ty) => {{
        let rows: Rows<'_, $row> = match $conn {
            DbConn::Sqlite(c) => Box::new(
                $query
                    .load_iter::<$row, DefaultLoadingMode>(c)?
                    .map(|row| row.map_err(StoreError::from)),
            ),
            DbConn::Postgres(c) => Box::new(
                $query
                    .load_iter::<$row, PgRowByRowLoadingMode>(c)?
                    .map(|row| row.map_err(StoreError::from)),
            ),
        };
        Ok(rows)
    }};
}

/// Every completion's id, gross and grant.
pub fn grants(conn: &mut DbConn) -> Result<Rows<'_, (String, i64, i64)>> {
    stream!(
        conn,
        completions::table.select((
            completions::id,
            completions::gross_fen,
            completions::granted_fen,
        )),
        (String, i64, i64)
    )
}

/// A running total's key with the live grants it counts under one schedule (`None` where no
/// grant counts under the key) and the stored total (`None` where none is stored).
#[derive(QueryableByName, Debug)]
pub struct CounterRow {
    #[diesel(sql_type = Text)]
    pub payer: String,
    /// The learner, platform or course.
    #[diesel(sql_type = Text)]
    pub subject: String,
    /// None for courses, which count across years.
    #[diesel(sql_type = Nullable<Integer>)]
    pub year: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    pub schedule_id: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub granted_fen: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub stored_fen: Option<i64>,
}

#[derive(Clone, Copy, Debug)]
pub enum CounterKind {
    Learner,
    Platform,
    Course,
}

/// Live grants summed per key and schedule, beside the stored counters (a full outer join, so
/// counters without grants and grants without counters both appear), sorted by key.
pub fn counter_rows(conn: &mut DbConn, kind: CounterKind) -> Result<Rows<'_, CounterRow>> {
    // (counter table, key column, the grants' year, the counter's year, how they join)
    let (table, subject, year, stored_year, join_year) = match kind {
        CounterKind::Learner => (
            "learner_year_usage",
            "learner_id",
            "training_year",
            "c.training_year",
            "AND c.training_year = g.counted_year",
        ),
        CounterKind::Platform => (
            "platform_year_usage",
            "platform_code",
            "training_year",
            "c.training_year",
            "AND c.training_year = g.counted_year",
        ),
        // Courses count across years.
        CounterKind::Course => (
            "course_usage",
            "course_id",
            "CAST(NULL AS INTEGER)",
            "CAST(NULL AS INTEGER)",
            "",
        ),
    };
    let sql = format!(
        "SELECT COALESCE(g.payer_code, c.payer_code) AS payer, \
                CAST(COALESCE(g.{subject}, c.{subject}) AS TEXT) AS subject, \
                COALESCE(g.counted_year, {stored_year}) AS year, \
                g.schedule_id AS schedule_id, g.granted_fen AS granted_fen, \
                c.granted_fen AS stored_fen \
         FROM (SELECT payer_code, {subject}, {year} AS counted_year, schedule_id, \
                      CAST(SUM(granted_fen) AS BIGINT) AS granted_fen \
               FROM completions WHERE status = $1 AND revoked_at IS NULL \
               GROUP BY payer_code, {subject}, counted_year, schedule_id) g \
         FULL OUTER JOIN {table} c \
           ON c.payer_code = g.payer_code AND c.{subject} = g.{subject} {join_year} \
         ORDER BY payer, subject, year"
    );
    let query = diesel::sql_query(sql).bind::<Text, _>(CompletionStatus::Accepted.as_str());
    stream!(conn, query, CounterRow)
}

/// A live grant: a learner × course with the accepted, unrevoked completion that holds its claim,
/// sorted by learner and course (the order of the unique index `completions_by_claim`).
#[derive(QueryableByName, Debug)]
pub struct ClaimRow {
    #[diesel(sql_type = BigInt)]
    pub learner: i64,
    #[diesel(sql_type = Text)]
    pub course: String,
    #[diesel(sql_type = Text)]
    pub completion: String,
}

pub fn claim_rows(conn: &mut DbConn) -> Result<Rows<'_, ClaimRow>> {
    let query = diesel::sql_query(
        "SELECT learner_id AS learner, course_id AS course, id AS completion FROM completions \
         WHERE status = $1 AND revoked_at IS NULL ORDER BY learner, course",
    )
    .bind::<Text, _>(CompletionStatus::Accepted.as_str());
    stream!(conn, query, ClaimRow)
}

/// Whether `completions_by_claim`, the unique index that is the one-claim rule, is in place.
pub fn claim_index_present(conn: &mut DbConn) -> Result<bool> {
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = BigInt)]
        indexes: i64,
    }
    let found: Found = match conn {
        DbConn::Sqlite(c) => diesel::sql_query(
            "SELECT COUNT(*) AS indexes FROM sqlite_master \
             WHERE type = 'index' AND name = 'completions_by_claim'",
        )
        .get_result(c)?,
        DbConn::Postgres(c) => diesel::sql_query(
            "SELECT COUNT(*) AS indexes FROM pg_indexes \
             WHERE schemaname = current_schema() AND indexname = 'completions_by_claim'",
        )
        .get_result(c)?,
    };
    Ok(found.indexes > 0)
}

/// A completion naming a platform, course, learner, payer or schedule version that does not
/// exist: the foreign keys PostgreSQL does not enforce on the ledger's rows, checked here.
#[derive(QueryableByName, Debug)]
pub struct DanglingRow {
    #[diesel(sql_type = Text)]
    pub completion: String,
    #[diesel(sql_type = Text)]
    pub missing: String,
}

pub fn dangling_references(conn: &mut DbConn) -> Result<Rows<'_, DanglingRow>> {
    let query = diesel::sql_query(
        "SELECT c.id AS completion, \
                CASE WHEN p.code IS NULL THEN 'platform' WHEN co.id IS NULL THEN 'course' \
                     WHEN l.id IS NULL THEN 'learner' WHEN y.code IS NULL THEN 'payer' \
                     ELSE 'rate schedule' END AS missing \
         FROM completions c \
         LEFT JOIN platforms p ON p.code = c.platform_code \
         LEFT JOIN courses co ON co.id = c.course_id \
         LEFT JOIN learners l ON l.id = c.learner_id \
         LEFT JOIN payers y ON y.code = c.payer_code \
         LEFT JOIN rate_schedules s ON s.id = c.schedule_id \
         WHERE p.code IS NULL OR co.id IS NULL OR l.id IS NULL OR y.code IS NULL \
            OR (c.schedule_id IS NOT NULL AND s.id IS NULL)",
    );
    stream!(conn, query, DanglingRow)
}

/// A live completion that holds a voucher, and whether it may: the voucher exists, is not
/// cancelled, and is its payer's and learner's (`status` is `missing` for an unknown code).
#[derive(QueryableByName)]
pub struct Redemption {
    #[diesel(sql_type = Text)]
    pub code: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Text)]
    pub completion_id: String,
    #[diesel(sql_type = Integer)]
    pub valid: i32,
}

pub fn redemptions(conn: &mut DbConn) -> Result<Rows<'_, Redemption>> {
    let query = diesel::sql_query(
        "SELECT c.voucher_code AS code, COALESCE(v.status, 'missing') AS status, \
           c.id AS completion_id, \
           CASE WHEN v.status = 'issued' AND c.status = 'accepted' \
                 AND v.payer_code = c.payer_code AND l.id_hash = v.learner_hash \
                THEN 1 ELSE 0 END AS valid \
         FROM completions c \
         LEFT JOIN vouchers v ON v.code = c.voucher_code \
         LEFT JOIN learners l ON l.id = c.learner_id \
         WHERE c.voucher_code IS NOT NULL AND c.revoked_at IS NULL \
         ORDER BY c.voucher_code",
    );
    stream!(conn, query, Redemption)
}

#[derive(QueryableByName)]
pub struct Orphan {
    #[diesel(sql_type = Text)]
    pub code: String,
}

/// Vouchers stored as redeemed: since redemption is read from the completions, only an earlier
/// version's voucher whose completion was not live when the books were upgraded is stored so.
pub fn orphaned_vouchers(conn: &mut DbConn) -> Result<Rows<'_, Orphan>> {
    let query =
        diesel::sql_query("SELECT code FROM vouchers WHERE status = 'redeemed' ORDER BY code");
    stream!(conn, query, Orphan)
}

/// A row's id.
#[derive(QueryableByName)]
pub struct Id {
    #[diesel(sql_type = Text)]
    pub id: String,
}

/// Live accepted completions of a payer that required vouchers when they were recorded, which
/// hold no voucher.
pub fn unvouched(conn: &mut DbConn) -> Result<Rows<'_, Id>> {
    let query = diesel::sql_query(
        "SELECT c.id FROM completions c \
         JOIN payers p ON p.code = c.payer_code \
         WHERE p.voucher_required_since IS NOT NULL \
           AND c.received_at >= p.voucher_required_since \
           AND c.status = 'accepted' AND c.revoked_at IS NULL AND c.voucher_code IS NULL \
         ORDER BY c.id",
    );
    stream!(conn, query, Id)
}

/// Courses with completions that are not marked frozen, so that their level and hours could still
/// change under those completions: one pass over the completions, each looking up its course.
pub fn unfrozen_courses(conn: &mut DbConn) -> Result<Rows<'_, Id>> {
    let query = diesel::sql_query(
        "SELECT DISTINCT co.id FROM completions c JOIN courses co ON co.id = c.course_id \
         WHERE NOT co.frozen ORDER BY co.id",
    );
    stream!(conn, query, Id)
}

/// (course id, level, class hours) of every course: the saturation limits need them.
pub fn courses(conn: &mut DbConn) -> Result<Vec<(String, String, i32)>> {
    Ok(courses::table
        .select((courses::id, courses::level, courses::class_hours))
        .load(conn)?)
}

pub fn schedules(conn: &mut DbConn) -> Result<Vec<RateScheduleRow>> {
    Ok(rate_schedules::table.load(conn)?)
}

/// Every invoice, its line amounts and its deliveries: a few per platform and month.
pub struct InvoiceBooks {
    pub invoices: Vec<InvoiceRow>,
    /// (invoice, fen)
    pub lines: Vec<(String, i64)>,
    /// (invoice, status)
    pub deliveries: Vec<(String, String)>,
}

pub fn invoices(conn: &mut DbConn) -> Result<InvoiceBooks> {
    Ok(InvoiceBooks {
        invoices: invoices::table.load(conn)?,
        lines: invoice_lines::table
            .select((invoice_lines::invoice_id, invoice_lines::amount_fen))
            .load(conn)?,
        deliveries: outbox::table
            .filter(outbox::kind.eq("bureau"))
            .select((outbox::invoice_id.assume_not_null(), outbox::status))
            .load(conn)?,
    })
}
