//! Whole-table reads for reconciliation (`gateway check`): every grant, counter, claim,
//! invoice and delivery, keyed as stored. Called inside [`super::Store::write`] so that the
//! snapshot is consistent with every money transaction.

use super::models::{InvoiceRow, RateScheduleRow};
use super::schema::{
    claims, completions, course_usage, courses, invoice_lines, invoices, learner_year_usage,
    outbox, platform_year_usage, rate_schedules,
};
use super::{DbConn, StoreError};
use chrono::NaiveDateTime;
use diesel::prelude::*;

type Result<T> = std::result::Result<T, StoreError>;

#[derive(Queryable)]
pub struct GrantRow {
    pub id: String,
    pub payer_code: String,
    pub platform_code: String,
    pub learner_id: String,
    pub course_id: String,
    pub training_year: Option<i32>,
    pub status: String,
    pub gross_fen: i64,
    pub granted_fen: i64,
    pub revoked_at: Option<NaiveDateTime>,
    pub schedule_id: Option<String>,
}

pub struct RawBooks {
    pub grants: Vec<GrantRow>,
    /// (payer, learner, year, fen)
    pub learner_counters: Vec<(String, String, i32, i64)>,
    /// (payer, platform, year, fen)
    pub platform_counters: Vec<(String, String, i32, i64)>,
    /// (payer, course id, fen)
    pub course_counters: Vec<(String, String, i64)>,
    /// (learner, course id, completion)
    pub claims: Vec<(String, String, String)>,
    /// (course id, level, class hours)
    pub courses: Vec<(String, String, i32)>,
    pub schedules: Vec<RateScheduleRow>,
    pub invoices: Vec<InvoiceRow>,
    /// (invoice, fen)
    pub lines: Vec<(String, i64)>,
    /// (invoice, status)
    pub deliveries: Vec<(String, String)>,
}

pub fn read_all(conn: &mut DbConn) -> Result<RawBooks> {
    Ok(RawBooks {
        grants: completions::table
            .select((
                completions::id,
                completions::payer_code,
                completions::platform_code,
                completions::learner_id,
                completions::course_id,
                completions::training_year,
                completions::status,
                completions::gross_fen,
                completions::granted_fen,
                completions::revoked_at,
                completions::schedule_id,
            ))
            .load(conn)?,
        learner_counters: learner_year_usage::table
            .select((
                learner_year_usage::payer_code,
                learner_year_usage::learner_id,
                learner_year_usage::training_year,
                learner_year_usage::granted_fen,
            ))
            .load(conn)?,
        platform_counters: platform_year_usage::table
            .select((
                platform_year_usage::payer_code,
                platform_year_usage::platform_code,
                platform_year_usage::training_year,
                platform_year_usage::granted_fen,
            ))
            .load(conn)?,
        course_counters: course_usage::table
            .select((
                course_usage::payer_code,
                course_usage::course_id,
                course_usage::granted_fen,
            ))
            .load(conn)?,
        claims: claims::table
            .select((claims::learner_id, claims::course_id, claims::completion_id))
            .load(conn)?,
        courses: courses::table
            .select((courses::id, courses::level, courses::class_hours))
            .load(conn)?,
        schedules: rate_schedules::table.load(conn)?,
        invoices: invoices::table.load(conn)?,
        lines: invoice_lines::table
            .select((invoice_lines::invoice_id, invoice_lines::amount_fen))
            .load(conn)?,
        deliveries: outbox::table
            .select((outbox::invoice_id, outbox::status))
            .load(conn)?,
    })
}
