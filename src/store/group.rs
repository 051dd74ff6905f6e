//! Set-based reads and writes for a group of completions: a handful of queries to load what a
//! group names, multi-row inserts, and each changed counter written once. Called only inside
//! [`super::Store::write`], so the counters read here are the ones committed last.

use super::models::{CompletionRow, CourseRow, LearnerRow, PlatformRow, RateScheduleRow};
use super::schema::{
    completions, course_usage, courses, learner_year_usage, learners, payers, platform_year_usage,
    platforms, rate_schedules,
};
use super::{DbConn, StoreError};
use crate::domain::metering::{ClaimKey, CourseCounter, CourseKey, LearnerYear, PlatformYear};
use crate::domain::{CompletionStatus, Counters, Money};
use chrono::NaiveDateTime;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::serialize::ToSql;
use diesel::sql_types::{Array, BigInt, HasSqlType, Integer, Nullable, Text, Timestamp};

type Result<T> = std::result::Result<T, StoreError>;

pub fn platforms_named(conn: &mut DbConn, codes: &[&str]) -> Result<Vec<PlatformRow>> {
    Ok(platforms::table
        .filter(platforms::code.eq_any(codes))
        .load(conn)?)
}

/// The courses of these platforms with these codes (a superset when several platforms share a
/// group; the caller keys them by both).
pub fn courses_named(
    conn: &mut DbConn,
    platform_codes: &[&str],
    codes: &[&str],
) -> Result<Vec<CourseRow>> {
    Ok(courses::table
        .filter(courses::platform_code.eq_any(platform_codes))
        .filter(courses::code.eq_any(codes))
        .load(conn)?)
}

/// The payers named, with from when on each requires vouchers.
pub fn payers_named(
    conn: &mut DbConn,
    codes: &[&str],
) -> Result<Vec<(String, Option<NaiveDateTime>)>> {
    Ok(payers::table
        .filter(payers::code.eq_any(codes))
        .select((payers::code, payers::voucher_required_since))
        .load(conn)?)
}

/// Every schedule version of these payers, newest first.
pub fn schedules_of(conn: &mut DbConn, payer_codes: &[&str]) -> Result<Vec<RateScheduleRow>> {
    Ok(rate_schedules::table
        .filter(rate_schedules::payer_code.eq_any(payer_codes))
        .order(rate_schedules::effective_year.desc())
        .load(conn)?)
}

/// Stored completions with these event ids on these platforms (a superset when several
/// platforms share a group: the caller keys them by both), or with these certificate numbers:
/// both checks in one round trip, each side an index lookup.
pub fn completions_named(
    conn: &mut DbConn,
    platform_codes: &[&str],
    event_ids: &[&str],
    certificates: &[&str],
) -> Result<Vec<CompletionRow>> {
    let by_event = completions::platform_code
        .eq_any(platform_codes)
        .and(completions::event_id.eq_any(event_ids));
    let query = completions::table.into_boxed();
    let query = if certificates.is_empty() {
        query.filter(by_event)
    } else {
        query.filter(by_event.or(completions::certificate_no.eq_any(certificates)))
    };
    Ok(query.load(conn)?)
}

pub fn learners_hashed(conn: &mut DbConn, id_hashes: &[&[u8]]) -> Result<Vec<LearnerRow>> {
    Ok(learners::table
        .filter(learners::id_hash.eq_any(id_hashes))
        .load(conn)?)
}

/// The claims of these learners on these courses, and their counters in these payers' years
/// (the platform and course counters are the writer's to add, see `service::group::Kept`).
pub fn learner_counters(
    conn: &mut DbConn,
    payer_codes: &[&str],
    years: &[i32],
    learner_ids: &[i64],
    course_ids: &[&str],
) -> Result<Counters> {
    let mut counters = Counters::default();
    if learner_ids.is_empty() {
        return Ok(counters);
    }
    // A claim is a live accepted completion (the unique index `completions_by_claim`).
    let claimed: Vec<ClaimKey> = completions::table
        .filter(completions::learner_id.eq_any(learner_ids))
        .filter(completions::course_id.eq_any(course_ids))
        .filter(completions::status.eq(CompletionStatus::Accepted.as_str()))
        .filter(completions::revoked_at.is_null())
        .select((completions::learner_id, completions::course_id))
        .load(conn)?;
    // Every key column bound: the primary key answers, whatever else the learners have.
    let learners: Vec<(String, i64, i32, i64)> = learner_year_usage::table
        .filter(learner_year_usage::payer_code.eq_any(payer_codes))
        .filter(learner_year_usage::learner_id.eq_any(learner_ids))
        .filter(learner_year_usage::training_year.eq_any(years))
        .load(conn)?;
    counters.claims.extend(claimed);
    counters.learners.extend(
        learners
            .into_iter()
            .map(|(payer, learner, year, fen)| ((payer, learner, year), Money::from_fen(fen))),
    );
    Ok(counters)
}

/// Every counter of these platforms: all payers, all years.
pub fn platform_counters(
    conn: &mut DbConn,
    platform_codes: &[&str],
) -> Result<Vec<(PlatformYear, Money)>> {
    let rows: Vec<(String, String, i32, i64)> = platform_year_usage::table
        .filter(platform_year_usage::platform_code.eq_any(platform_codes))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(payer, platform, year, fen)| ((payer, platform, year), Money::from_fen(fen)))
        .collect())
}

/// Every counter and free phase of these courses: all payers.
pub fn course_counters(
    conn: &mut DbConn,
    course_ids: &[&str],
) -> Result<Vec<(CourseKey, CourseCounter)>> {
    let rows: Vec<(String, String, i64, Option<NaiveDateTime>)> = course_usage::table
        .filter(course_usage::course_id.eq_any(course_ids))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(payer, course, fen, free_since)| {
            let counter = CourseCounter {
                granted: Money::from_fen(fen),
                free: free_since.is_some(),
            };
            ((payer, course), counter)
        })
        .collect())
}

/// Marks these courses as having completions (see `CourseRow::frozen`).
pub fn freeze_courses(conn: &mut DbConn, ids: &[&str]) -> Result<()> {
    if !ids.is_empty() {
        let unfrozen = courses::id.eq_any(ids).and(courses::frozen.eq(false));
        diesel::update(courses::table.filter(unfrozen))
            .set(courses::frozen.eq(true))
            .execute(conn)?;
    }
    Ok(())
}

/// What a group adds: new learners, completions (each its own audit entry, and each accepted one
/// its claim), and the counters as they stand after the group (`before` says which rows exist
/// already).
pub struct GroupWrites<'a> {
    pub learners: Vec<LearnerRow>,
    pub completions: Vec<CompletionRow>,
    pub before: &'a Counters,
    pub after: &'a Counters,
    /// When a course that turned free in this group did so.
    pub now: NaiveDateTime,
}

pub fn record(conn: &mut DbConn, writes: &GroupWrites) -> Result<()> {
    insert_all!(conn, learners::table, writes.learners);
    insert_all!(conn, completions::table, writes.completions);
    record_counters(conn, writes)
}

/// A counter row to insert (it did not exist) or to update (it did), with its new value.
struct Changed<'a, K, V> {
    inserts: Vec<(&'a K, &'a V)>,
    updates: Vec<(&'a K, &'a V)>,
}

/// The new rows in their key's order: a group's new learners have the highest numbers, so their
/// counters are appended at the right end of the primary key's B-tree, whose pages then fill up
/// instead of splitting in half (as they did in the maps' random order).
fn changed<'a, K: std::hash::Hash + Ord, V: PartialEq>(
    before: &std::collections::HashMap<K, V>,
    after: &'a std::collections::HashMap<K, V>,
) -> Changed<'a, K, V> {
    let mut out = Changed {
        inserts: Vec::new(),
        updates: Vec::new(),
    };
    for (key, value) in after {
        match before.get(key) {
            None => out.inserts.push((key, value)),
            Some(old) if old != value => out.updates.push((key, value)),
            Some(_) => {}
        }
    }
    out.inserts.sort_unstable_by_key(|&(key, _)| key);
    out
}

fn record_counters(conn: &mut DbConn, writes: &GroupWrites) -> Result<()> {
    let learners = changed(&writes.before.learners, &writes.after.learners);
    let platforms = changed(&writes.before.platforms, &writes.after.platforms);
    let courses = changed(&writes.before.courses, &writes.after.courses);
    let free_since = |c: &CourseCounter| c.free.then_some(writes.now);

    let rows: Vec<_> = learners
        .inserts
        .iter()
        .map(|((payer, learner, year), fen)| {
            (
                learner_year_usage::payer_code.eq(payer),
                learner_year_usage::learner_id.eq(*learner),
                learner_year_usage::training_year.eq(*year),
                learner_year_usage::granted_fen.eq(fen.fen()),
            )
        })
        .collect();
    insert_all!(conn, learner_year_usage::table, rows);
    let rows: Vec<_> = platforms
        .inserts
        .iter()
        .map(|((payer, platform, year), fen)| {
            (
                platform_year_usage::payer_code.eq(payer),
                platform_year_usage::platform_code.eq(platform),
                platform_year_usage::training_year.eq(*year),
                platform_year_usage::granted_fen.eq(fen.fen()),
            )
        })
        .collect();
    insert_all!(conn, platform_year_usage::table, rows);
    let rows: Vec<_> = courses
        .inserts
        .iter()
        .map(|((payer, course), counter)| {
            (
                course_usage::payer_code.eq(payer),
                course_usage::course_id.eq(course),
                course_usage::granted_fen.eq(counter.granted.fen()),
                course_usage::free_since.eq(free_since(counter)),
            )
        })
        .collect();
    insert_all!(conn, course_usage::table, rows);
    update_counters(
        conn,
        &learners.updates,
        &platforms.updates,
        &courses.updates,
        writes.now,
    )
}

/// Year counters `(payer, key, year)` that exist already get their new values in one
/// `UPDATE … FROM UNNEST`; `K` is the key's type (a learner's number, a platform's code).
fn update_year_counters<KeyType, K>(
    pg: &mut PgConnection,
    table: &str,
    key: &str,
    rows: &[(&(String, K, i32), &Money)],
) -> Result<()>
where
    KeyType: diesel::query_builder::QueryId + 'static,
    Pg: HasSqlType<KeyType>,
    K: ToSql<KeyType, Pg> + std::fmt::Debug,
{
    if rows.is_empty() {
        return Ok(());
    }
    diesel::sql_query(format!(
        "UPDATE {table} AS u SET granted_fen = v.fen \
         FROM UNNEST($1::text[], $2, $3::int4[], $4::int8[]) AS v(payer, k, year, fen) \
         WHERE u.payer_code = v.payer AND u.{key} = v.k AND u.training_year = v.year"
    ))
    .bind::<Array<Text>, _>(rows.iter().map(|(k, _)| &k.0).collect::<Vec<_>>())
    .bind::<Array<KeyType>, _>(rows.iter().map(|(k, _)| &k.1).collect::<Vec<_>>())
    .bind::<Array<Integer>, _>(rows.iter().map(|(k, _)| k.2).collect::<Vec<_>>())
    .bind::<Array<BigInt>, _>(rows.iter().map(|(_, v)| v.fen()).collect::<Vec<_>>())
    .execute(pg)?;
    Ok(())
}

/// Counters that exist already get their new values: on PostgreSQL one `UPDATE … FROM UNNEST`
/// per table (one round trip whatever the group's size), on embedded SQLite one prepared
/// statement per row (no round trip to save). `free_since` is only ever set, never cleared.
fn update_counters(
    conn: &mut DbConn,
    learners: &[(&LearnerYear, &Money)],
    platforms: &[(&PlatformYear, &Money)],
    courses: &[(&CourseKey, &CourseCounter)],
    now: NaiveDateTime,
) -> Result<()> {
    let free_since = |c: &CourseCounter| c.free.then_some(now);
    match conn {
        DbConn::Postgres(pg) => {
            update_year_counters::<BigInt, _>(pg, "learner_year_usage", "learner_id", learners)?;
            update_year_counters::<Text, _>(pg, "platform_year_usage", "platform_code", platforms)?;
            if !courses.is_empty() {
                diesel::sql_query(
                    "UPDATE course_usage AS u SET granted_fen = v.fen, \
                     free_since = COALESCE(u.free_since, v.free_since) \
                     FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::timestamp[]) \
                     AS v(payer, course, fen, free_since) \
                     WHERE u.payer_code = v.payer AND u.course_id = v.course",
                )
                .bind::<Array<Text>, _>(courses.iter().map(|(k, _)| &k.0).collect::<Vec<_>>())
                .bind::<Array<Text>, _>(courses.iter().map(|(k, _)| &k.1).collect::<Vec<_>>())
                .bind::<Array<BigInt>, _>(
                    courses
                        .iter()
                        .map(|(_, c)| c.granted.fen())
                        .collect::<Vec<_>>(),
                )
                .bind::<Array<Nullable<Timestamp>>, _>(
                    courses
                        .iter()
                        .map(|(_, c)| free_since(c))
                        .collect::<Vec<_>>(),
                )
                .execute(pg)?;
            }
        }
        DbConn::Sqlite(lite) => {
            for ((payer, learner, year), fen) in learners {
                diesel::update(learner_year_usage::table.find((payer, learner, year)))
                    .set(learner_year_usage::granted_fen.eq(fen.fen()))
                    .execute(lite)?;
            }
            for ((payer, platform, year), fen) in platforms {
                diesel::update(platform_year_usage::table.find((payer, platform, year)))
                    .set(platform_year_usage::granted_fen.eq(fen.fen()))
                    .execute(lite)?;
            }
            for ((payer, course), counter) in courses {
                diesel::sql_query(
                    "UPDATE course_usage SET granted_fen = ?, free_since = COALESCE(free_since, ?) \
                     WHERE payer_code = ? AND course_id = ?",
                )
                .bind::<BigInt, _>(counter.granted.fen())
                .bind::<Nullable<Timestamp>, _>(free_since(counter))
                .bind::<Text, _>(payer)
                .bind::<Text, _>(course)
                .execute(lite)?;
            }
        }
    }
    Ok(())
}
