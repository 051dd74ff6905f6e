//! Learners: identified by name and ID number, known to the gateway only by a keyed hash.

use super::error::{FieldError, Refusals};
use super::input::Reader;
use super::{schedule_of, utc, Gateway, ServiceError};
use crate::domain::{IdNumber, LearnerHash, Money, TrainingYear};
use crate::store::models::LearnerRow;
use crate::store::{catalog, ledger, DbConn, StoreError};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// `{"id_number", "name"}` as a platform reports a learner.
#[derive(Debug)]
pub struct LearnerInput {
    pub id_number: IdNumber,
    pub name: String,
}

impl LearnerInput {
    pub fn parse(
        reader: &Reader,
        today: NaiveDate,
        refusals: &mut Refusals,
    ) -> Option<LearnerInput> {
        let id_number = reader.text("id_number", 18, refusals).and_then(|text| {
            refusals.take(
                &reader.path("id_number"),
                "invalid_id_number",
                IdNumber::parse(&text, today),
            )
        });
        let name = reader.text("name", 64, refusals);
        Some(LearnerInput {
            id_number: id_number?,
            name: name?,
        })
    }
}

/// The learner with this ID number, created on first sight. A name that differs from the one
/// first seen with the number is refused.
pub fn learner_for(
    conn: &mut DbConn,
    input: &LearnerInput,
    id_hash: &LearnerHash,
    now: NaiveDateTime,
) -> Result<Result<LearnerRow, FieldError>, StoreError> {
    if let Some(known) = ledger::find_learner(conn, id_hash.as_bytes())? {
        if known.name != input.name {
            return Ok(Err(FieldError::new(
                "name",
                "learner_name_mismatch",
                "differs from the name first reported with this ID number",
            )));
        }
        return Ok(Ok(known));
    }
    let row = LearnerRow {
        id: ledger::next_learner_id(conn)?,
        id_hash: id_hash.as_bytes().to_vec(),
        id_masked: input.id_number.masked(),
        name: input.name.clone(),
        created_at: now,
    };
    ledger::insert_learner(conn, &row)?;
    Ok(Ok(row))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LearnerSubsidy {
    pub training_year: i32,
    pub payer: String,
    /// The learner's ID number, masked.
    pub learner: String,
    #[schema(value_type = String, example = "300.00")]
    pub cap: Money,
    #[schema(value_type = String, example = "280.00")]
    pub used: Money,
    #[schema(value_type = String, example = "20.00")]
    pub remaining: Money,
    pub by_platform: Vec<PlatformGrant>,
    pub completions: Vec<LearnerCompletion>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlatformGrant {
    pub platform: String,
    #[schema(value_type = String, example = "30.00")]
    pub granted: Money,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LearnerCompletion {
    pub platform: String,
    pub course_code: String,
    pub course_title: String,
    pub status: String,
    pub class_hours: i32,
    pub certified_at: Option<DateTime<Utc>>,
    #[schema(value_type = String, example = "30.00")]
    pub gross: Money,
    #[schema(value_type = String, example = "30.00")]
    pub granted: Money,
    pub limited_by: Option<String>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A learner as the gateway may keep them: the keyed hash of the ID number, and its masked form.
#[derive(Clone, Debug)]
pub struct LearnerKey {
    pub hash: LearnerHash,
    pub masked: String,
}

impl Gateway {
    /// The learner a token's subject (an ID number) names.
    pub fn learner_key(&self, id_number: &str) -> Result<LearnerKey, ServiceError> {
        let id_number = IdNumber::parse(id_number, self.today()).map_err(|_| {
            ServiceError::Unauthenticated("token subject is not an ID number".into())
        })?;
        Ok(LearnerKey {
            hash: self.ids.hash(&id_number),
            masked: id_number.masked(),
        })
    }

    /// A learner's cap, use and remainder in a payer's training year, across all platforms.
    pub fn learner_subsidy(
        &self,
        id_number: &str,
        year: TrainingYear,
        payer: &str,
    ) -> Result<LearnerSubsidy, ServiceError> {
        self.subsidy_of(&self.learner_key(id_number)?, year, payer)
    }

    /// The same, for a learner known by key (a console session keeps no ID number).
    pub fn subsidy_of(
        &self,
        learner: &LearnerKey,
        year: TrainingYear,
        payer: &str,
    ) -> Result<LearnerSubsidy, ServiceError> {
        let id_hash = &learner.hash;
        let masked = learner.masked.clone();
        self.store.read(|conn| {
            catalog::find_payer(conn, payer)?.ok_or(ServiceError::NotFound("payer"))?;
            let schedule = catalog::schedule_for(conn, payer, year.value())?
                .ok_or(ServiceError::NotFound("rate schedule"))?;
            let cap = schedule_of(&schedule).learner_annual_cap;
            let learner = ledger::find_learner(conn, id_hash.as_bytes())?;
            let (used, by_platform, completions) = match &learner {
                None => (Money::ZERO, vec![], vec![]),
                Some(learner) => (
                    Money::from_fen(ledger::learner_used(conn, payer, learner.id, year.value())?),
                    ledger::learner_granted_by_platform(conn, learner.id, payer, year.value())?
                        .into_iter()
                        .map(|(platform, fen)| PlatformGrant {
                            platform,
                            granted: Money::from_fen(fen),
                        })
                        .collect(),
                    ledger::learner_completions(conn, learner.id, payer, year.value())?
                        .into_iter()
                        .map(|(row, course_code, course_title)| LearnerCompletion {
                            platform: row.platform_code,
                            course_code,
                            course_title,
                            status: row.status,
                            class_hours: row.class_hours,
                            certified_at: row.certified_at.map(utc),
                            gross: Money::from_fen(row.gross_fen),
                            granted: Money::from_fen(row.granted_fen),
                            limited_by: row.limited_by,
                            revoked_at: row.revoked_at.map(utc),
                        })
                        .collect(),
                ),
            };
            Ok(LearnerSubsidy {
                training_year: year.value(),
                payer: payer.to_owned(),
                learner: masked,
                cap,
                used,
                remaining: cap.remaining_after(used),
                by_platform,
                completions,
            })
        })
    }
}
