//! Learners, completions (whose live accepted ones are the claims), the three limit counters and
//! offline follow-ups.
//! Functions that change counters are called only inside [`super::Store::write`].

use super::models::*;
use super::schema::{
    completions, course_usage, courses, learner_year_usage, learners, offline_followups,
    platform_year_usage,
};
use super::{DbConn, StoreError};
use chrono::{NaiveDate, NaiveDateTime};
use diesel::dsl::{count, exists};
use diesel::prelude::*;

type Result<T> = std::result::Result<T, StoreError>;

pub fn find_learner(conn: &mut DbConn, id_hash: &[u8]) -> Result<Option<LearnerRow>> {
    Ok(learners::table
        .filter(learners::id_hash.eq(id_hash))
        .first(conn)
        .optional()?)
}

pub fn insert_learner(conn: &mut DbConn, row: &LearnerRow) -> Result<()> {
    diesel::insert_into(learners::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn find_completion(
    conn: &mut DbConn,
    platform: &str,
    event_id: &str,
) -> Result<Option<CompletionRow>> {
    Ok(completions::table
        .filter(completions::platform_code.eq(platform))
        .filter(completions::event_id.eq(event_id))
        .first(conn)
        .optional()?)
}

pub fn certificate_taken(conn: &mut DbConn, certificate_no: &str) -> Result<bool> {
    Ok(diesel::select(exists(
        completions::table.filter(completions::certificate_no.eq(certificate_no)),
    ))
    .get_result(conn)?)
}

pub fn mark_revoked(
    conn: &mut DbConn,
    id: &str,
    at: NaiveDateTime,
    reason: &str,
    generation: i64,
) -> Result<()> {
    diesel::update(completions::table.find(id))
        .set((
            completions::revoked_at.eq(Some(at)),
            completions::revoke_reason.eq(Some(reason)),
            completions::revoked_generation.eq(Some(generation)),
        ))
        .execute(conn)?;
    Ok(())
}

/// The number the next new learner gets: one past the highest. Learners are added only in money
/// transactions, under the ledger lock, so no one else takes it meanwhile (the ledger writer
/// keeps counting from it while the ledger generation says nobody else wrote). Learners are never
/// deleted: a number freed by hand would be given again, with the rows that still name it.
pub fn next_learner_id(conn: &mut DbConn) -> Result<i64> {
    let highest: Option<i64> = learners::table
        .select(diesel::dsl::max(learners::id))
        .first(conn)?;
    Ok(highest.unwrap_or(0) + 1)
}

/// The granted total of a learner in a payer's training year, in fen.
pub fn learner_used(conn: &mut DbConn, payer: &str, learner_id: i64, year: i32) -> Result<i64> {
    Ok(learner_year_usage::table
        .find((payer, learner_id, year))
        .select(learner_year_usage::granted_fen)
        .first(conn)
        .optional()?
        .unwrap_or(0))
}

pub fn platform_used(conn: &mut DbConn, payer: &str, platform: &str, year: i32) -> Result<i64> {
    Ok(platform_year_usage::table
        .find((payer, platform, year))
        .select(platform_year_usage::granted_fen)
        .first(conn)
        .optional()?
        .unwrap_or(0))
}

/// A course's granted total for a payer and whether it is in the free phase.
pub fn course_used(conn: &mut DbConn, payer: &str, course_id: &str) -> Result<(i64, bool)> {
    Ok(course_usage::table
        .find((payer, course_id))
        .select((
            course_usage::granted_fen,
            course_usage::free_since.is_not_null(),
        ))
        .first(conn)
        .optional()?
        .unwrap_or((0, false)))
}

/// Adds `delta_fen` (negative on revocation) to a learner's year counter.
pub fn add_learner_used(
    conn: &mut DbConn,
    payer: &str,
    learner_id: i64,
    year: i32,
    delta_fen: i64,
) -> Result<()> {
    let target = learner_year_usage::table.find((payer, learner_id, year));
    let updated = diesel::update(target)
        .set(learner_year_usage::granted_fen.eq(learner_year_usage::granted_fen + delta_fen))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(learner_year_usage::table)
            .values((
                learner_year_usage::payer_code.eq(payer),
                learner_year_usage::learner_id.eq(learner_id),
                learner_year_usage::training_year.eq(year),
                learner_year_usage::granted_fen.eq(delta_fen),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn add_platform_used(
    conn: &mut DbConn,
    payer: &str,
    platform: &str,
    year: i32,
    delta_fen: i64,
) -> Result<()> {
    let target = platform_year_usage::table.find((payer, platform, year));
    let updated = diesel::update(target)
        .set(platform_year_usage::granted_fen.eq(platform_year_usage::granted_fen + delta_fen))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(platform_year_usage::table)
            .values((
                platform_year_usage::payer_code.eq(payer),
                platform_year_usage::platform_code.eq(platform),
                platform_year_usage::training_year.eq(year),
                platform_year_usage::granted_fen.eq(delta_fen),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Adds to a course's counter; `free_since` is set once and never cleared (the free phase is
/// for good, RULES.md §2).
pub fn add_course_used(
    conn: &mut DbConn,
    payer: &str,
    course_id: &str,
    delta_fen: i64,
    free_since: Option<NaiveDateTime>,
) -> Result<()> {
    let target = course_usage::table.find((payer, course_id));
    let updated = match free_since {
        Some(at) => diesel::update(target)
            .set((
                course_usage::granted_fen.eq(course_usage::granted_fen + delta_fen),
                course_usage::free_since.eq(Some(at)),
            ))
            .execute(conn)?,
        None => diesel::update(target)
            .set(course_usage::granted_fen.eq(course_usage::granted_fen + delta_fen))
            .execute(conn)?,
    };
    if updated == 0 {
        diesel::insert_into(course_usage::table)
            .values((
                course_usage::payer_code.eq(payer),
                course_usage::course_id.eq(course_id),
                course_usage::granted_fen.eq(delta_fen),
                course_usage::free_since.eq(free_since),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn insert_followup(conn: &mut DbConn, row: &FollowupRow) -> Result<()> {
    diesel::insert_into(offline_followups::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Distinct learners with an accepted, unrevoked completion on a platform in a payer's year
/// (certified before `certified_before`, if given), and how many of them the platform reported
/// offline on or after `followup_from`.
pub fn followup_counts(
    conn: &mut DbConn,
    platform: &str,
    payer: &str,
    year: i32,
    followup_from: NaiveDate,
    certified_before: Option<NaiveDateTime>,
) -> Result<(i64, i64)> {
    let accepted = || {
        let query = completions::table
            .filter(completions::platform_code.eq(platform))
            .filter(completions::payer_code.eq(payer))
            .filter(completions::training_year.eq(year))
            .filter(completions::status.eq("accepted"))
            .filter(completions::revoked_at.is_null())
            .into_boxed();
        match certified_before {
            Some(before) => query.filter(completions::certified_at.lt(before)),
            None => query,
        }
    };
    let learners: i64 = accepted()
        .select(count(completions::learner_id).aggregate_distinct())
        .first(conn)?;
    let with_followup: i64 = accepted()
        .filter(exists(
            offline_followups::table
                .filter(offline_followups::platform_code.eq(completions::platform_code))
                .filter(offline_followups::learner_id.eq(completions::learner_id))
                .filter(offline_followups::attended_on.ge(followup_from)),
        ))
        .select(count(completions::learner_id).aggregate_distinct())
        .first(conn)?;
    Ok((learners, with_followup))
}

/// A learner's completions in a payer's training year, with their course's code and title.
pub fn learner_completions(
    conn: &mut DbConn,
    learner_id: i64,
    payer: &str,
    year: i32,
) -> Result<Vec<(CompletionRow, String, String)>> {
    Ok(completions::table
        .inner_join(courses::table)
        .filter(completions::learner_id.eq(learner_id))
        .filter(completions::payer_code.eq(payer))
        .filter(completions::training_year.eq(year))
        .order(completions::received_at)
        .select((CompletionRow::as_select(), courses::code, courses::title))
        .load(conn)?)
}

/// A learner's unrevoked grants per platform in a payer's training year, in fen. Summed here
/// rather than in SQL: PostgreSQL sums BIGINT as NUMERIC, SQLite as INTEGER.
pub fn learner_granted_by_platform(
    conn: &mut DbConn,
    learner_id: i64,
    payer: &str,
    year: i32,
) -> Result<Vec<(String, i64)>> {
    let rows: Vec<(String, i64)> = completions::table
        .filter(completions::learner_id.eq(learner_id))
        .filter(completions::payer_code.eq(payer))
        .filter(completions::training_year.eq(year))
        .filter(completions::revoked_at.is_null())
        .select((completions::platform_code, completions::granted_fen))
        .load(conn)?;
    let mut totals = std::collections::BTreeMap::<String, i64>::new();
    for (platform, fen) in rows {
        *totals.entry(platform).or_default() += fen;
    }
    Ok(totals.into_iter().collect())
}

/// What a platform's live accepted completions of a payer's training year were granted, certified
/// within `[from, until)`: summed by the database (the window index answers), as BIGINT on both.
pub fn granted_between(
    conn: &mut DbConn,
    platform: &str,
    payer: &str,
    year: i32,
    (from, until): (NaiveDateTime, NaiveDateTime),
) -> Result<i64> {
    #[derive(QueryableByName)]
    struct Total {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        total: i64,
    }
    let Total { total } = diesel::sql_query(
        "SELECT CAST(COALESCE(SUM(granted_fen), 0) AS BIGINT) AS total FROM completions \
         WHERE payer_code = $1 AND platform_code = $2 AND training_year = $3 \
           AND certified_at >= $4 AND certified_at < $5 \
           AND status = 'accepted' AND revoked_at IS NULL",
    )
    .bind::<diesel::sql_types::Text, _>(payer)
    .bind::<diesel::sql_types::Text, _>(platform)
    .bind::<diesel::sql_types::Integer, _>(year)
    .bind::<diesel::sql_types::Timestamp, _>(from)
    .bind::<diesel::sql_types::Timestamp, _>(until)
    .get_result(conn)?;
    Ok(total)
}

/// A platform's completions with this event id, or of learners with this masked ID number:
/// each with its course code and the learner's masked ID, newest first, at most `limit`. Two
/// queries, so that each is answered by an index (the event id's, the masked ID's).
pub fn search_completions(
    conn: &mut DbConn,
    platform: &str,
    text: &str,
    limit: i64,
) -> Result<Vec<(CompletionRow, String, String)>> {
    use super::schema::{courses, learners};
    #[diesel::dsl::auto_type]
    fn of_platform<'a>(platform: &'a str) -> _ {
        completions::table
            .inner_join(courses::table)
            .inner_join(learners::table)
            .filter(completions::platform_code.eq(platform))
    }
    let columns = (
        CompletionRow::as_select(),
        courses::code,
        learners::id_masked,
    );
    let mut found: Vec<(CompletionRow, String, String)> = of_platform(platform)
        .filter(completions::event_id.eq(text))
        .select(columns)
        .load(conn)?;
    found.extend(
        of_platform(platform)
            .filter(learners::id_masked.eq(text))
            .order(completions::id.desc())
            .limit(limit)
            .select(columns)
            .load::<(CompletionRow, String, String)>(conn)?,
    );
    found.sort_by(|a, b| b.0.id.cmp(&a.0.id));
    found.dedup_by(|a, b| a.0.id == b.0.id);
    found.truncate(usize::try_from(limit).unwrap_or(0));
    Ok(found)
}
