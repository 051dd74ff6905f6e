//! How far the online platforms carry each city towards the plan's targets.

use super::audit::record;
use super::error::Refusals;
use super::input::Reader;
use super::invoicing::workbook;
use super::{Gateway, ServiceError};
use crate::domain::progress::{behind, share};
use crate::domain::TrainingYear;
use crate::store::models::TargetRow;
use crate::store::progress;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Learners whose ID number is not of a city with a target.
const ELSEWHERE: (&str, &str) = ("other", "outside the province");

#[derive(Debug, Serialize, ToSchema)]
pub struct TargetView {
    #[schema(example = "1401")]
    pub city_code: String,
    #[schema(example = "太原市")]
    pub name: String,
    #[schema(example = 35000)]
    pub trainees: i64,
    #[schema(example = 36000)]
    pub certificates: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CityProgress {
    /// The first four digits of the ID number, or `other`.
    #[schema(example = "1401")]
    pub city_code: String,
    #[schema(example = "太原市")]
    pub name: String,
    /// Distinct learners with a live completion in the training year.
    pub learners: i64,
    /// Those of them with a certificate.
    pub certified: i64,
    pub trainees_target: Option<i64>,
    pub certificates_target: Option<i64>,
    /// `learners ÷ trainees_target`, rounded down to four decimals.
    #[schema(value_type = Option<String>, example = "0.6000")]
    pub share: Option<String>,
    /// Below what the plan's schedule asks by today (60 % after September, all after November).
    pub behind_schedule: bool,
}

fn target_input(
    value: &Value,
    prefix: &str,
    year: i32,
    refusals: &mut Refusals,
) -> Option<TargetRow> {
    let reader = Reader::object(value, prefix, refusals)?;
    let city_code = reader.text("city_code", 4, refusals).filter(|code| {
        let digits = code.len() == 4 && code.chars().all(|c| c.is_ascii_digit());
        if !digits {
            refusals.add(
                &reader.path("city_code"),
                "invalid_city_code",
                "must be the four digits that begin the city's ID numbers",
            );
        }
        digits
    });
    let name = reader.text("name", 64, refusals);
    let trainees = reader.integer("trainees", 0..=100_000_000, refusals);
    let certificates = reader.integer("certificates", 0..=100_000_000, refusals);
    Some(TargetRow {
        training_year: year,
        city_code: city_code?,
        name: name?,
        trainees: trainees?,
        certificates: certificates?,
    })
}

impl Gateway {
    /// Replaces a training year's targets, all or none.
    pub fn set_targets(
        &self,
        actor: &str,
        year: TrainingYear,
        body: &Value,
    ) -> Result<Vec<TargetView>, ServiceError> {
        let items = body.as_array().ok_or_else(|| {
            ServiceError::invalid("", "invalid_type", "must be an array of city targets")
        })?;
        let mut refusals = Refusals::default();
        let mut rows: Vec<TargetRow> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            if let Some(row) = target_input(item, &format!("[{i}]"), year.value(), &mut refusals) {
                if rows.iter().any(|r| r.city_code == row.city_code) {
                    refusals.add(
                        &format!("[{i}].city_code"),
                        "duplicate_city",
                        "is listed twice",
                    );
                }
                rows.push(row);
            }
        }
        refusals.into_result()?;
        let now = self.stamp();
        self.store.write(|conn| {
            progress::set_targets(conn, year.value(), &rows)?;
            record(
                conn,
                now,
                actor,
                "targets.set",
                ("targets", &year.value().to_string()),
                None,
                Some(json!({"cities": rows.len()})),
            )?;
            Ok::<_, ServiceError>(())
        })?;
        Ok(rows
            .into_iter()
            .map(|r| TargetView {
                city_code: r.city_code,
                name: r.name,
                trainees: r.trainees,
                certificates: r.certificates,
            })
            .collect())
    }

    /// Per city with a target (and one row for learners of elsewhere): learners, certified,
    /// the targets, the share reached and whether the city is behind the schedule today.
    pub fn progress(&self, year: TrainingYear) -> Result<Vec<CityProgress>, ServiceError> {
        let (targets, counts) = self.store.read(|conn| {
            Ok::<_, ServiceError>((
                progress::targets_of(conn, year.value())?,
                progress::city_counts(conn, year.value())?,
            ))
        })?;
        let today = self.today();
        let mut counted: BTreeMap<String, (i64, i64)> = counts
            .into_iter()
            .map(|c| (c.city, (c.learners, c.certified)))
            .collect();
        let mut cities: Vec<CityProgress> = targets
            .into_iter()
            .map(|t| {
                let (learners, certified) = counted.remove(&t.city_code).unwrap_or((0, 0));
                let (reached, target) = (count(learners), count(t.trainees));
                CityProgress {
                    share: share(reached, target).map(|s| format!("{s:.4}")),
                    behind_schedule: behind(reached, target, year, today),
                    city_code: t.city_code,
                    name: t.name,
                    learners,
                    certified,
                    trainees_target: Some(t.trainees),
                    certificates_target: Some(t.certificates),
                }
            })
            .collect();
        let (learners, certified) = counted
            .into_values()
            .fold((0, 0), |(l, c), (learners, certified)| {
                (l + learners, c + certified)
            });
        if learners > 0 {
            cities.push(CityProgress {
                city_code: ELSEWHERE.0.into(),
                name: ELSEWHERE.1.into(),
                learners,
                certified,
                trainees_target: None,
                certificates_target: None,
                share: None,
                behind_schedule: false,
            });
        }
        Ok(cities)
    }

    /// The progress table as an Excel workbook, for the monthly report.
    pub fn progress_xlsx(&self, year: TrainingYear) -> Result<(String, Vec<u8>), ServiceError> {
        let header = [
            "city_code",
            "name",
            "learners",
            "certified",
            "trainees_target",
            "certificates_target",
            "share",
            "behind_schedule",
        ];
        let optional = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
        let rows: Vec<Vec<String>> = std::iter::once(header.map(str::to_owned).to_vec())
            .chain(self.progress(year)?.into_iter().map(|c| {
                vec![
                    c.city_code,
                    c.name,
                    c.learners.to_string(),
                    c.certified.to_string(),
                    optional(c.trainees_target),
                    optional(c.certificates_target),
                    c.share.unwrap_or_default(),
                    c.behind_schedule.to_string(),
                ]
            }))
            .collect();
        let name = format!("progress-{year}");
        Ok((format!("{name}.xlsx"), workbook(&[(name, rows)])?))
    }
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}
