//! Payers, rate schedules, platforms, staff users and courses.

use super::models::*;
use super::schema::{completions, courses, payers, platforms, rate_schedules, staff_users};
use super::{Cursor, DbConn, StoreError};
use diesel::prelude::*;

type Result<T> = std::result::Result<T, StoreError>;

pub fn insert_payer(conn: &mut DbConn, row: &PayerRow) -> Result<()> {
    diesel::insert_into(payers::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn find_payer(conn: &mut DbConn, code: &str) -> Result<Option<PayerRow>> {
    Ok(payers::table.find(code).first(conn).optional()?)
}

pub fn list_payers(conn: &mut DbConn, page: &Cursor) -> Result<Vec<PayerRow>> {
    let mut query = payers::table
        .order(payers::code)
        .limit(page.limit)
        .into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(payers::code.gt(after.clone()));
    }
    Ok(query.load(conn)?)
}

pub fn list_schedules(
    conn: &mut DbConn,
    payer: Option<&str>,
    page: &Cursor,
) -> Result<Vec<RateScheduleRow>> {
    let mut query = rate_schedules::table
        .order(rate_schedules::id)
        .limit(page.limit)
        .into_boxed();
    if let Some(payer) = payer {
        query = query.filter(rate_schedules::payer_code.eq(payer.to_owned()));
    }
    if let Some(after) = &page.after {
        query = query.filter(rate_schedules::id.gt(after.clone()));
    }
    Ok(query.load(conn)?)
}

/// The version in force for a training year: the latest one effective on or before it.
pub fn schedule_for(conn: &mut DbConn, payer: &str, year: i32) -> Result<Option<RateScheduleRow>> {
    Ok(rate_schedules::table
        .filter(rate_schedules::payer_code.eq(payer))
        .filter(rate_schedules::effective_year.le(year))
        .order(rate_schedules::effective_year.desc())
        .first(conn)
        .optional()?)
}

pub fn find_schedule_by_year(
    conn: &mut DbConn,
    payer: &str,
    effective_year: i32,
) -> Result<Option<RateScheduleRow>> {
    Ok(rate_schedules::table
        .filter(rate_schedules::payer_code.eq(payer))
        .filter(rate_schedules::effective_year.eq(effective_year))
        .first(conn)
        .optional()?)
}

/// The latest training year any completion of this payer was priced in.
pub fn last_priced_year(conn: &mut DbConn, payer: &str) -> Result<Option<i32>> {
    Ok(completions::table
        .filter(completions::payer_code.eq(payer))
        .filter(completions::schedule_id.is_not_null())
        .select(diesel::dsl::max(completions::training_year))
        .first::<Option<i32>>(conn)?)
}

pub fn replace_schedule(
    conn: &mut DbConn,
    old_id: Option<&str>,
    row: &RateScheduleRow,
) -> Result<()> {
    if let Some(old_id) = old_id {
        diesel::delete(rate_schedules::table.find(old_id)).execute(conn)?;
    }
    diesel::insert_into(rate_schedules::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn insert_platform(conn: &mut DbConn, row: &PlatformRow) -> Result<()> {
    diesel::insert_into(platforms::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn find_platform(conn: &mut DbConn, code: &str) -> Result<Option<PlatformRow>> {
    Ok(platforms::table.find(code).first(conn).optional()?)
}

pub fn find_platform_by_client(conn: &mut DbConn, client_id: &str) -> Result<Option<PlatformRow>> {
    Ok(platforms::table
        .filter(platforms::client_id.eq(client_id))
        .first(conn)
        .optional()?)
}

pub fn list_platforms(conn: &mut DbConn, page: &Cursor) -> Result<Vec<PlatformRow>> {
    let mut query = platforms::table
        .order(platforms::code)
        .limit(page.limit)
        .into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(platforms::code.gt(after.clone()));
    }
    Ok(query.load(conn)?)
}

pub fn set_platform_status(
    conn: &mut DbConn,
    code: &str,
    status: &str,
    at: chrono::NaiveDateTime,
) -> Result<()> {
    diesel::update(platforms::table.find(code))
        .set((platforms::status.eq(status), platforms::updated_at.eq(at)))
        .execute(conn)?;
    Ok(())
}

/// A new client secret: every token issued before it stops working.
pub fn rotate_platform_secret(
    conn: &mut DbConn,
    code: &str,
    secret_hash: &str,
    at: chrono::NaiveDateTime,
) -> Result<()> {
    diesel::update(platforms::table.find(code))
        .set((
            platforms::client_secret_hash.eq(secret_hash),
            platforms::token_version.eq(platforms::token_version + 1),
            platforms::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Every platform's standing: code, status, token version.
pub fn platform_standing(conn: &mut DbConn) -> Result<Vec<(String, String, i64)>> {
    Ok(platforms::table
        .select((platforms::code, platforms::status, platforms::token_version))
        .load(conn)?)
}

/// Every staff user's standing: username, role, status, token version.
/// (username, role, status, token version, platform) of every user.
pub type UserStanding = (String, String, String, i64, Option<String>);

pub fn staff_standing(conn: &mut DbConn) -> Result<Vec<UserStanding>> {
    Ok(staff_users::table
        .select((
            staff_users::username,
            staff_users::role,
            staff_users::status,
            staff_users::token_version,
            staff_users::platform_code,
        ))
        .load(conn)?)
}

/// Disables or re-enables a user; either way the tokens issued before stop working.
pub fn set_staff_status(conn: &mut DbConn, username: &str, status: &str) -> Result<()> {
    diesel::update(staff_users::table.find(username))
        .set((
            staff_users::status.eq(status),
            staff_users::token_version.eq(staff_users::token_version + 1),
        ))
        .execute(conn)?;
    Ok(())
}

/// A new password: the tokens issued before it stop working.
pub fn set_staff_password(conn: &mut DbConn, username: &str, password_hash: &str) -> Result<()> {
    diesel::update(staff_users::table.find(username))
        .set((
            staff_users::password_hash.eq(password_hash),
            staff_users::token_version.eq(staff_users::token_version + 1),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn list_staff_users(conn: &mut DbConn, page: &Cursor) -> Result<Vec<StaffUserRow>> {
    let mut query = staff_users::table
        .order(staff_users::username)
        .limit(page.limit)
        .into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(staff_users::username.gt(after.clone()));
    }
    Ok(query.load(conn)?)
}

pub fn insert_staff_user(conn: &mut DbConn, row: &StaffUserRow) -> Result<()> {
    diesel::insert_into(staff_users::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn find_staff_user(conn: &mut DbConn, username: &str) -> Result<Option<StaffUserRow>> {
    Ok(staff_users::table.find(username).first(conn).optional()?)
}

pub fn find_course(conn: &mut DbConn, platform: &str, code: &str) -> Result<Option<CourseRow>> {
    Ok(courses::table
        .filter(courses::platform_code.eq(platform))
        .filter(courses::code.eq(code))
        .first(conn)
        .optional()?)
}

pub fn list_courses(conn: &mut DbConn, platform: &str, page: &Cursor) -> Result<Vec<CourseRow>> {
    let mut query = courses::table
        .filter(courses::platform_code.eq(platform.to_owned()))
        .order(courses::code)
        .limit(page.limit)
        .into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(courses::code.gt(after.clone()));
    }
    Ok(query.load(conn)?)
}

pub fn insert_course(conn: &mut DbConn, row: &CourseRow) -> Result<()> {
    diesel::insert_into(courses::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn update_course(conn: &mut DbConn, row: &CourseRow) -> Result<()> {
    diesel::update(courses::table.find(&row.id))
        .set((
            courses::title.eq(&row.title),
            courses::level.eq(&row.level),
            courses::class_hours.eq(row.class_hours),
            courses::updated_at.eq(row.updated_at),
        ))
        .execute(conn)?;
    Ok(())
}
