//! Invoices, their lines and numbers, the outbox to the finance bureau, and the audit trail.

use super::models::*;
use super::schema::{audit_events, completions, invoice_lines, invoice_numbers, invoices, outbox};
use super::{Cursor, DbConn, StoreError};
use crate::domain::CompletionStatus;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text, Timestamp};

type Result<T> = std::result::Result<T, StoreError>;

/// Statuses whose amounts count as invoiced (RULES.md §4).
pub const COUNTED: [&str; 4] = ["issued", "approved", "submitted", "paid"];

/// One level's accepted completions of the year to date, summed by the database: class-hours,
/// grants, the grants since revoked, and how many live ones the invoice before did not hold.
#[derive(QueryableByName, Debug)]
pub struct YearToDateRow {
    #[diesel(sql_type = Text)]
    pub level: String,
    #[diesel(sql_type = BigInt)]
    pub class_hours: i64,
    #[diesel(sql_type = BigInt)]
    pub granted_fen: i64,
    #[diesel(sql_type = BigInt)]
    pub revoked_fen: i64,
    #[diesel(sql_type = BigInt)]
    pub newly_included: i64,
}

/// The completions an invoice includes: the live accepted ones of its platform, payer and
/// year certified before its period's end as of its cut-off generation, less those the window
/// of the counted invoice before it held (certified before that one's end, recorded by its
/// cut-off). Exact at any later time: completions and revocations carry their generation.
#[derive(Clone, Debug)]
pub struct Window {
    pub platform: String,
    pub payer: String,
    pub year: i32,
    pub until: NaiveDateTime,
    pub cutoff: i64,
    /// (period end, cut-off) of the counted invoice before.
    pub covered: Option<(NaiveDateTime, i64)>,
}

pub fn platforms_with_activity(
    conn: &mut DbConn,
    payer: &str,
    year: i32,
    until: NaiveDateTime,
) -> Result<Vec<String>> {
    Ok(completions::table
        .filter(completions::payer_code.eq(payer))
        .filter(completions::training_year.eq(year))
        .filter(completions::status.eq("accepted"))
        .filter(completions::certified_at.lt(until))
        .select(completions::platform_code)
        .distinct()
        .order(completions::platform_code)
        .load(conn)?)
}

/// A platform's accepted completions of a payer's year certified before `until`, per level, as
/// the caller's snapshot sees them; `covered` is the window of the counted invoice before.
pub fn year_to_date(
    conn: &mut DbConn,
    platform: &str,
    payer: &str,
    year: i32,
    until: NaiveDateTime,
    covered: Option<(NaiveDateTime, i64)>,
) -> Result<Vec<YearToDateRow>> {
    // No invoice before: a window that holds nothing (no generation is below zero).
    let (covered_until, covered_generation) = covered.unwrap_or((until, -1));
    // Placeholders numbered in order of appearance: SQLite binds them in that order.
    Ok(diesel::sql_query(
        "SELECT level, CAST(SUM(class_hours) AS BIGINT) AS class_hours, \
                CAST(SUM(granted_fen) AS BIGINT) AS granted_fen, \
                CAST(SUM(CASE WHEN revoked_at IS NULL THEN 0 ELSE granted_fen END) AS BIGINT) AS revoked_fen, \
                CAST(SUM(CASE WHEN revoked_at IS NULL \
                               AND NOT (certified_at < $1 AND generation <= $2) \
                              THEN 1 ELSE 0 END) AS BIGINT) AS newly_included \
         FROM completions \
         WHERE platform_code = $3 AND payer_code = $4 AND training_year = $5 AND status = $6 \
           AND certified_at < $7 \
         GROUP BY level",
    )
    .bind::<Timestamp, _>(covered_until)
    .bind::<BigInt, _>(covered_generation)
    .bind::<Text, _>(platform)
    .bind::<Text, _>(payer)
    .bind::<Integer, _>(year)
    .bind::<Text, _>(CompletionStatus::Accepted.as_str())
    .bind::<Timestamp, _>(until)
    .load(conn)?)
}

/// The counted invoice of this platform, payer and year drafted last: the next one includes
/// what its window did not.
pub fn last_counted(
    conn: &mut DbConn,
    platform: &str,
    payer: &str,
    year: i32,
) -> Result<Option<InvoiceRow>> {
    Ok(invoices::table
        .filter(invoices::platform_code.eq(platform))
        .filter(invoices::payer_code.eq(payer))
        .filter(invoices::training_year.eq(year))
        .filter(invoices::status.eq_any(COUNTED))
        .order((
            invoices::cutoff_generation.desc(),
            invoices::created_at.desc(),
        ))
        .first(conn)
        .optional()?)
}

/// The counted invoices of a payer's year: a run drafted from a snapshot writes its drafts
/// only if this is still what the snapshot saw.
pub fn counted_ids(conn: &mut DbConn, payer: &str, year: i32) -> Result<Vec<String>> {
    Ok(invoices::table
        .filter(invoices::payer_code.eq(payer))
        .filter(invoices::training_year.eq(year))
        .filter(invoices::status.eq_any(COUNTED))
        .select(invoices::id)
        .order(invoices::id)
        .load(conn)?)
}

/// Sum of counted invoices of this platform, payer and year, in fen.
pub fn previously_invoiced(
    conn: &mut DbConn,
    platform: &str,
    payer: &str,
    year: i32,
) -> Result<i64> {
    let amounts: Vec<i64> = invoices::table
        .filter(invoices::platform_code.eq(platform))
        .filter(invoices::payer_code.eq(payer))
        .filter(invoices::training_year.eq(year))
        .filter(invoices::status.eq_any(COUNTED))
        .select(invoices::amount_fen)
        .load(conn)?;
    Ok(amounts.into_iter().sum())
}

/// The latest period of a counted invoice of this platform and payer.
pub fn latest_counted_period(
    conn: &mut DbConn,
    platform: &str,
    payer: &str,
) -> Result<Option<String>> {
    Ok(invoices::table
        .filter(invoices::platform_code.eq(platform))
        .filter(invoices::payer_code.eq(payer))
        .filter(invoices::status.eq_any(COUNTED))
        .select(diesel::dsl::max(invoices::period))
        .first::<Option<String>>(conn)?)
}

/// Removes a period's drafts; their lines go with them (ON DELETE CASCADE in both dialects).
pub fn delete_drafts(conn: &mut DbConn, payer: &str, period: &str) -> Result<()> {
    diesel::delete(
        invoices::table
            .filter(invoices::payer_code.eq(payer))
            .filter(invoices::period.eq(period))
            .filter(invoices::status.eq("draft")),
    )
    .execute(conn)?;
    Ok(())
}

pub fn insert_invoice(
    conn: &mut DbConn,
    invoice: &InvoiceRow,
    lines: &[InvoiceLineRow],
) -> Result<()> {
    diesel::insert_into(invoices::table)
        .values(invoice)
        .execute(conn)?;
    // One row per statement: diesel's multi-backend connection has no batch insert.
    for line in lines {
        diesel::insert_into(invoice_lines::table)
            .values(line)
            .execute(conn)?;
    }
    Ok(())
}

pub fn find_invoice(conn: &mut DbConn, id: &str) -> Result<Option<InvoiceRow>> {
    Ok(invoices::table.find(id).first(conn).optional()?)
}

pub fn save_invoice(conn: &mut DbConn, invoice: &InvoiceRow) -> Result<()> {
    diesel::update(invoices::table.find(&invoice.id))
        .set(invoice)
        .execute(conn)?;
    Ok(())
}

pub struct InvoiceFilter {
    pub status: Option<String>,
    pub platform: Option<String>,
    pub payer: Option<String>,
    pub year: Option<i32>,
    pub period: Option<String>,
    /// Where its delivery to the bureau stands (`pending`, `delivered`, `failed`, …).
    pub delivery: Option<String>,
    pub after: Option<String>,
    pub limit: i64,
}

pub fn list_invoices(conn: &mut DbConn, filter: &InvoiceFilter) -> Result<Vec<InvoiceRow>> {
    let mut query = invoices::table
        .order(invoices::id)
        .limit(filter.limit)
        .into_boxed();
    if let Some(status) = &filter.status {
        query = query.filter(invoices::status.eq(status.clone()));
    }
    if let Some(platform) = &filter.platform {
        query = query.filter(invoices::platform_code.eq(platform.clone()));
    }
    if let Some(payer) = &filter.payer {
        query = query.filter(invoices::payer_code.eq(payer.clone()));
    }
    if let Some(year) = filter.year {
        query = query.filter(invoices::training_year.eq(year));
    }
    if let Some(period) = &filter.period {
        query = query.filter(invoices::period.eq(period.clone()));
    }
    if let Some(delivery) = &filter.delivery {
        let delivered = outbox::table
            .filter(outbox::kind.eq("bureau"))
            .filter(outbox::status.eq(delivery.clone()))
            .select(outbox::invoice_id.assume_not_null());
        query = query.filter(invoices::id.eq_any(delivered));
    }
    if let Some(after) = &filter.after {
        query = query.filter(invoices::id.gt(after.clone()));
    }
    Ok(query.load(conn)?)
}

/// Bound parameters per `IN (…)`, well under SQLite's and PostgreSQL's limits.
const IDS_PER_QUERY: usize = 1000;

/// The lines of these invoices, each invoice's in position order.
pub fn lines_of(conn: &mut DbConn, invoice_ids: &[String]) -> Result<Vec<InvoiceLineRow>> {
    let mut lines = Vec::new();
    for ids in invoice_ids.chunks(IDS_PER_QUERY) {
        lines.extend(
            invoice_lines::table
                .filter(invoice_lines::invoice_id.eq_any(ids))
                .order((invoice_lines::invoice_id, invoice_lines::position))
                .load::<InvoiceLineRow>(conn)?,
        );
    }
    Ok(lines)
}

/// A page of the completions in a window, by event id after `after`.
type BoxedCompletions<'a> =
    completions::BoxedQuery<'a, <DbConn as diesel::Connection>::Backend, (Text, BigInt)>;

pub fn completions_of(
    conn: &mut DbConn,
    window: &Window,
    page: &Cursor,
) -> Result<Vec<(String, i64)>> {
    let in_window = || {
        let mut query = completions::table
            .filter(completions::payer_code.eq(&window.payer))
            .filter(completions::platform_code.eq(&window.platform))
            .filter(completions::training_year.eq(window.year))
            .filter(completions::status.eq(CompletionStatus::Accepted.as_str()))
            .filter(completions::certified_at.lt(window.until))
            .filter(
                completions::revoked_generation
                    .is_null()
                    .or(completions::revoked_generation.gt(window.cutoff)),
            )
            .select((completions::event_id, completions::granted_fen))
            .into_boxed();
        if let Some(after) = &page.after {
            query = query.filter(completions::event_id.gt(after.clone()));
        }
        query
    };
    let recorded_by_cutoff = completions::generation.le(window.cutoff);
    let Some((until, generation)) = window.covered else {
        // Most of the year is in the window: walking the event-id index finds a page at once.
        return Ok(in_window()
            .filter(recorded_by_cutoff)
            .order(completions::event_id)
            .limit(page.limit)
            .load(conn)?);
    };
    // A range is read on its index and then sorted: ordered by the bare column, an engine may
    // walk the event-id index instead, expecting the range's rows early in it (PostgreSQL does,
    // and reads the whole year when they come last). `event_id || ''` sorts the same.
    let page_of = |query: BoxedCompletions<'_>, conn: &mut DbConn| {
        query
            .order(completions::event_id.concat(""))
            .limit(page.limit)
            .load::<(String, i64)>(conn)
    };
    // Outside the window before: recorded since its cut-off, or recorded before it and
    // certified after its period's end. Two disjoint ranges, each on its own index, so a later
    // invoice does not walk the year's earlier completions; the page is the first of both.
    let mut rows = page_of(
        in_window()
            .filter(completions::generation.gt(generation))
            .filter(recorded_by_cutoff),
        conn,
    )?;
    if until >= window.until {
        // The invoice before ended where this one does (a period run again): nothing certified
        // after its end is certified before this one's.
        return Ok(rows);
    }
    // `generation + 0`: a condition no index answers, so the engine takes the certified_at
    // range (narrow) rather than every generation up to the one before (most of the year).
    rows.extend(page_of(
        in_window()
            .filter((completions::generation + 0_i64).le(generation))
            .filter(completions::certified_at.ge(until)),
        conn,
    )?);
    rows.sort();
    rows.truncate(usize::try_from(page.limit).unwrap_or(0));
    Ok(rows)
}

/// The deliveries of these invoices (at most one each).
pub fn outbox_of(conn: &mut DbConn, invoice_ids: &[String]) -> Result<Vec<OutboxRow>> {
    let mut rows = Vec::new();
    for ids in invoice_ids.chunks(IDS_PER_QUERY) {
        rows.extend(
            outbox::table
                .filter(outbox::kind.eq("bureau"))
                .filter(outbox::invoice_id.eq_any(ids))
                .load::<OutboxRow>(conn)?,
        );
    }
    Ok(rows)
}

/// Deliveries by kind (bureau, platform) and status, for the metrics.
pub fn outbox_counts(conn: &mut DbConn) -> Result<Vec<(String, String, i64)>> {
    Ok(outbox::table
        .group_by((outbox::kind, outbox::status))
        .select((outbox::kind, outbox::status, diesel::dsl::count_star()))
        .load(conn)?)
}

/// The next gapless number of a payer's training year.
pub fn next_number(conn: &mut DbConn, payer: &str, year: i32) -> Result<i64> {
    let target = invoice_numbers::table.find((payer, year));
    let updated = diesel::update(target)
        .set(invoice_numbers::last_number.eq(invoice_numbers::last_number + 1))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(invoice_numbers::table)
            .values((
                invoice_numbers::payer_code.eq(payer),
                invoice_numbers::training_year.eq(year),
                invoice_numbers::last_number.eq(1i64),
            ))
            .execute(conn)?;
    }
    Ok(target.select(invoice_numbers::last_number).first(conn)?)
}

pub fn insert_outbox(conn: &mut DbConn, row: &OutboxRow) -> Result<()> {
    diesel::insert_into(outbox::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn find_outbox(conn: &mut DbConn, id: &str) -> Result<Option<OutboxRow>> {
    Ok(outbox::table.find(id).first(conn).optional()?)
}

/// Pending deliveries of these kinds that are due and not leased by another worker.
pub fn due_outbox(
    conn: &mut DbConn,
    kinds: &[&str],
    now: NaiveDateTime,
    limit: i64,
) -> Result<Vec<OutboxRow>> {
    Ok(outbox::table
        .filter(outbox::status.eq("pending"))
        .filter(outbox::kind.eq_any(kinds))
        .filter(outbox::next_attempt_at.le(now))
        .filter(
            outbox::lease_until
                .is_null()
                .or(outbox::lease_until.lt(now)),
        )
        .order(outbox::next_attempt_at)
        .limit(limit)
        .load(conn)?)
}

/// Takes a delivery for `until`; false when another worker holds it.
pub fn lease_outbox(
    conn: &mut DbConn,
    id: &str,
    now: NaiveDateTime,
    until: NaiveDateTime,
) -> Result<bool> {
    let taken = diesel::update(
        outbox::table
            .find(id)
            .filter(outbox::status.eq("pending"))
            .filter(
                outbox::lease_until
                    .is_null()
                    .or(outbox::lease_until.lt(now)),
            ),
    )
    .set(outbox::lease_until.eq(Some(until)))
    .execute(conn)?;
    Ok(taken == 1)
}

pub fn settle_outbox(conn: &mut DbConn, row: &OutboxRow) -> Result<()> {
    diesel::update(outbox::table.find(&row.id))
        .set((
            outbox::status.eq(&row.status),
            outbox::attempts.eq(row.attempts),
            outbox::next_attempt_at.eq(row.next_attempt_at),
            outbox::lease_until.eq(row.lease_until),
            outbox::last_error.eq(&row.last_error),
            outbox::delivered_at.eq(row.delivered_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Ends a pending delivery that must not be sent.
pub fn close_outbox(conn: &mut DbConn, invoice_id: &str, status: &str) -> Result<()> {
    diesel::update(
        outbox::table
            .filter(outbox::kind.eq("bureau"))
            .filter(outbox::invoice_id.eq(invoice_id))
            .filter(outbox::status.eq("pending")),
    )
    .set((
        outbox::status.eq(status),
        outbox::lease_until.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?;
    Ok(())
}

pub fn insert_audit(conn: &mut DbConn, row: &AuditRow) -> Result<()> {
    diesel::insert_into(audit_events::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub struct AuditFilter {
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub after: Option<String>,
    pub limit: i64,
    /// Newest first (`after` then pages back in time), as people read a trail; else oldest
    /// first, as the API pages it.
    pub newest_first: bool,
}

/// Completions in id order (time order: ids are UUIDv7), of one platform or one id when asked,
/// after a cursor: the audit trail's "recorded" events are these rows.
pub fn completions_by_id(
    conn: &mut DbConn,
    platform: Option<&str>,
    id: Option<&str>,
    after: Option<&str>,
    limit: i64,
    newest_first: bool,
) -> Result<Vec<CompletionRow>> {
    let mut query = completions::table.limit(limit).into_boxed();
    query = if newest_first {
        query.order(completions::id.desc())
    } else {
        query.order(completions::id)
    };
    if let Some(platform) = platform {
        query = query.filter(completions::platform_code.eq(platform.to_owned()));
    }
    if let Some(id) = id {
        query = query.filter(completions::id.eq(id.to_owned()));
    }
    match (after, newest_first) {
        (Some(after), true) => query = query.filter(completions::id.lt(after.to_owned())),
        (Some(after), false) => query = query.filter(completions::id.gt(after.to_owned())),
        (None, _) => {}
    }
    Ok(query.load(conn)?)
}

pub fn list_audit(conn: &mut DbConn, filter: &AuditFilter) -> Result<Vec<AuditRow>> {
    let mut query = audit_events::table.limit(filter.limit).into_boxed();
    query = if filter.newest_first {
        query.order(audit_events::id.desc())
    } else {
        query.order(audit_events::id)
    };
    if let Some(v) = &filter.object_type {
        query = query.filter(audit_events::object_type.eq(v.clone()));
    }
    if let Some(v) = &filter.object_id {
        query = query.filter(audit_events::object_id.eq(v.clone()));
    }
    if let Some(v) = &filter.actor {
        query = query.filter(audit_events::actor.eq(v.clone()));
    }
    if let Some(v) = &filter.action {
        query = query.filter(audit_events::action.eq(v.clone()));
    }
    match (&filter.after, filter.newest_first) {
        (Some(v), true) => query = query.filter(audit_events::id.lt(v.clone())),
        (Some(v), false) => query = query.filter(audit_events::id.gt(v.clone())),
        (None, _) => {}
    }
    Ok(query.load(conn)?)
}
