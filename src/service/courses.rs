//! A platform's courses and their saturation state.

use super::error::Refusals;
use super::input::Reader;
use super::{active_platform, new_id, schedule_of, utc, Gateway, ServiceError};
use crate::domain::{Level, Money};
use crate::store::models::CourseRow;
use crate::store::{catalog, ledger, Cursor, DbConn};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct CourseView {
    pub code: String,
    pub platform: String,
    pub title: String,
    /// `junior`, `intermediate` or `senior`.
    pub level: String,
    pub class_hours: i32,
    /// The payer whose counter the figures below are.
    pub payer: String,
    #[schema(value_type = String, example = "1200.00")]
    pub granted_total: Money,
    /// Class-hours × the level's saturation per class-hour, by the payer's current schedule.
    #[schema(value_type = Option<String>, example = "30000.00")]
    pub saturation_limit: Option<Money>,
    /// `subsidised`, or `free` once the course reached its saturation (for good).
    pub phase: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Whether PUT created the course or changed it.
pub enum Upserted {
    Created(CourseView),
    Updated(CourseView),
}

impl Gateway {
    /// Creates or updates a course. Level and class-hours are frozen once a completion exists.
    pub fn put_course(
        &self,
        platform: &str,
        code: &str,
        body: &Value,
    ) -> Result<Upserted, ServiceError> {
        let mut refusals = Refusals::default();
        let reader = Reader::object(body, "", &mut refusals);
        let title = reader
            .as_ref()
            .and_then(|r| r.text("title", 200, &mut refusals));
        let level = reader
            .as_ref()
            .and_then(|r| r.text("level", 16, &mut refusals))
            .and_then(|text| refusals.take("level", "invalid_level", text.parse::<Level>()));
        let hours = reader
            .as_ref()
            .and_then(|r| r.integer("class_hours", 1..=10_000, &mut refusals));
        if code.is_empty()
            || code.len() > 64
            || !code
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            refusals.add(
                "code",
                "invalid_code",
                "may hold only letters, digits, '-', '_' and '.'",
            );
        }
        refusals.into_result()?;
        let (title, level, hours) = (
            title.expect("checked"),
            level.expect("checked"),
            hours.expect("checked"),
        );
        let class_hours = i32::try_from(hours).expect("range checked");
        let now = self.stamp();
        let (row, created) = self.store.write(|conn| {
            active_platform(conn, platform)?;
            match catalog::find_course(conn, platform, code)? {
                None => {
                    let row = CourseRow {
                        id: new_id(),
                        platform_code: platform.to_owned(),
                        code: code.to_owned(),
                        title,
                        level: level.as_str().to_owned(),
                        class_hours,
                        created_at: now,
                        updated_at: now,
                        frozen: false,
                    };
                    catalog::insert_course(conn, &row)?;
                    Ok((row, true))
                }
                Some(mut row) => {
                    let reshaped = row.level != level.as_str() || row.class_hours != class_hours;
                    if reshaped && row.frozen {
                        return Err(ServiceError::conflict(
                            "course_frozen",
                            format!("course {code} has completions: its level and class-hours can no longer change"),
                        ));
                    }
                    row.title = title;
                    row.level = level.as_str().to_owned();
                    row.class_hours = class_hours;
                    row.updated_at = now;
                    catalog::update_course(conn, &row)?;
                    Ok((row, false))
                }
            }
        })?;
        let view = self
            .store
            .read(|conn| self.course_view(conn, row, "province"))?;
        Ok(if created {
            Upserted::Created(view)
        } else {
            Upserted::Updated(view)
        })
    }

    pub fn list_courses(
        &self,
        platform: &str,
        payer: &str,
        page: &Cursor,
    ) -> Result<Vec<CourseView>, ServiceError> {
        self.store.read(|conn| {
            catalog::find_payer(conn, payer)?.ok_or(ServiceError::NotFound("payer"))?;
            catalog::list_courses(conn, platform, page)?
                .into_iter()
                .map(|row| self.course_view(conn, row, payer))
                .collect()
        })
    }

    pub fn get_course(
        &self,
        platform: &str,
        code: &str,
        payer: &str,
    ) -> Result<CourseView, ServiceError> {
        self.store.read(|conn| {
            catalog::find_payer(conn, payer)?.ok_or(ServiceError::NotFound("payer"))?;
            let row = catalog::find_course(conn, platform, code)?
                .ok_or(ServiceError::NotFound("course"))?;
            self.course_view(conn, row, payer)
        })
    }

    fn course_view(
        &self,
        conn: &mut DbConn,
        row: CourseRow,
        payer: &str,
    ) -> Result<CourseView, ServiceError> {
        let (granted, free) = ledger::course_used(conn, payer, &row.id)?;
        let level: Level = row.level.parse().expect("stored level is valid");
        let saturation_limit = catalog::schedule_for(conn, payer, self.current_year().value())?
            .map(|s| {
                schedule_of(&s).saturation_limit(level, u32::try_from(row.class_hours).unwrap_or(0))
            });
        Ok(CourseView {
            code: row.code,
            platform: row.platform_code,
            title: row.title,
            level: row.level,
            class_hours: row.class_hours,
            payer: payer.to_owned(),
            granted_total: Money::from_fen(granted),
            saturation_limit,
            phase: if free { "free" } else { "subsidised" }.to_owned(),
            created_at: utc(row.created_at),
            updated_at: utc(row.updated_at),
        })
    }
}
