//! The plan's targets per city and training year, and how many learners each city has.

use super::models::TargetRow;
use super::schema::targets;
use super::{DbConn, StoreError};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

type Result<T> = std::result::Result<T, StoreError>;

/// Replaces a training year's targets.
pub fn set_targets(conn: &mut DbConn, year: i32, rows: &[TargetRow]) -> Result<()> {
    diesel::delete(targets::table.filter(targets::training_year.eq(year))).execute(conn)?;
    insert_all!(conn, targets::table, rows.to_vec());
    Ok(())
}

pub fn targets_of(conn: &mut DbConn, year: i32) -> Result<Vec<TargetRow>> {
    Ok(targets::table
        .filter(targets::training_year.eq(year))
        .order(targets::city_code)
        .load(conn)?)
}

/// Per city (the first four characters of the masked ID number): distinct learners with a live
/// completion in the training year, and those with a certificate among them.
#[derive(QueryableByName)]
pub struct CityCount {
    #[diesel(sql_type = Text)]
    pub city: String,
    #[diesel(sql_type = BigInt)]
    pub learners: i64,
    #[diesel(sql_type = BigInt)]
    pub certified: i64,
}

pub fn city_counts(conn: &mut DbConn, year: i32) -> Result<Vec<CityCount>> {
    // `year` is a typed integer: formatted in, the one query serves both dialects.
    Ok(diesel::sql_query(format!(
        "SELECT SUBSTR(l.id_masked, 1, 4) AS city, \
           COUNT(DISTINCT l.id) AS learners, \
           COUNT(DISTINCT CASE WHEN c.certificate_no IS NOT NULL THEN l.id END) AS certified \
         FROM completions c JOIN learners l ON l.id = c.learner_id \
         WHERE c.training_year = {year} AND c.revoked_at IS NULL \
         GROUP BY SUBSTR(l.id_masked, 1, 4) ORDER BY city"
    ))
    .load(conn)?)
}
