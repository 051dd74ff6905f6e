//! A platform's use of its annual ceiling and its offline follow-up ratio.

use super::{schedule_of, utc, Gateway, ServiceError};
use crate::domain::invoice::BillingPeriod;
use crate::domain::{FollowupRatio, Money, Reduction, TrainingYear};
use crate::store::{catalog, ledger};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct PlatformUsage {
    pub platform: String,
    pub payer: String,
    pub training_year: i32,
    #[schema(value_type = String, example = "50.00")]
    pub granted: Money,
    #[schema(value_type = String, example = "3000000.00")]
    pub ceiling: Money,
    #[schema(value_type = String, example = "2999950.00")]
    pub remaining: Money,
    /// Distinct learners with an accepted, unrevoked completion.
    pub learners: i64,
    /// Of those, how many the platform reported at offline follow-up training.
    pub learners_with_followup: i64,
    /// `learners_with_followup / learners`, or null while there are no learners.
    #[schema(value_type = Option<String>, example = "0.5")]
    pub offline_ratio: Option<String>,
    /// Whether invoices would reduce the payable amount (ratio below the threshold).
    pub reduction_applies: bool,
    /// What an invoice would pay for the year to date, after any reduction.
    #[schema(value_type = String, example = "25.00")]
    pub payable: Money,
}

impl Gateway {
    pub fn platform_usage(
        &self,
        platform: &str,
        payer: &str,
        year: TrainingYear,
    ) -> Result<PlatformUsage, ServiceError> {
        self.store.read(|conn| {
            catalog::find_platform(conn, platform)?.ok_or(ServiceError::NotFound("platform"))?;
            catalog::find_payer(conn, payer)?.ok_or(ServiceError::NotFound("payer"))?;
            let schedule = catalog::schedule_for(conn, payer, year.value())?
                .map(|row| schedule_of(&row))
                .ok_or(ServiceError::NotFound("rate schedule"))?;
            let granted =
                Money::from_fen(ledger::platform_used(conn, payer, platform, year.value())?);
            let (learners, with_followup) = ledger::followup_counts(
                conn,
                platform,
                payer,
                year.value(),
                year.first_day(),
                None,
            )?;
            let ratio = FollowupRatio {
                learners: u64::try_from(learners).unwrap_or(0),
                with_followup: u64::try_from(with_followup).unwrap_or(0),
            };
            let reduction = Reduction {
                threshold: schedule.offline_ratio_threshold,
                factor: schedule.offline_reduction_factor,
            };
            Ok(PlatformUsage {
                platform: platform.to_owned(),
                payer: payer.to_owned(),
                training_year: year.value(),
                granted,
                ceiling: schedule.platform_annual_ceiling,
                remaining: schedule.platform_annual_ceiling.remaining_after(granted),
                learners,
                learners_with_followup: with_followup,
                offline_ratio: ratio.ratio().map(ratio_text),
                reduction_applies: reduction.applies(ratio),
                payable: reduction.payable(granted, ratio),
            })
        })
    }
}

/// A ratio as a decimal string with two to four places: `"0.00"`, `"0.50"`, `"0.3333"`.
pub(super) fn ratio_text(ratio: rust_decimal::Decimal) -> String {
    let mut shown = ratio.round_dp(4).normalize();
    if shown.scale() < 2 {
        shown.rescale(2);
    }
    shown.to_string()
}

/// What a platform was granted in one month (billing period) of a training year.
#[derive(Debug, Serialize)]
pub struct MonthGrant {
    pub period: String,
    pub granted: Money,
}

impl Gateway {
    /// A platform's grants per month of a payer's training year, December to November: live
    /// accepted completions by the month their certificate was issued (China Standard Time).
    pub fn grants_by_month(
        &self,
        platform: &str,
        payer: &str,
        year: TrainingYear,
    ) -> Result<Vec<MonthGrant>, ServiceError> {
        self.store.read(|conn| {
            BillingPeriod::of_training_year(year)
                .into_iter()
                .map(|period| {
                    let window = (period.start().naive_utc(), period.end().naive_utc());
                    let fen = ledger::granted_between(conn, platform, payer, year.value(), window)?;
                    Ok(MonthGrant {
                        period: period.to_string(),
                        granted: Money::from_fen(fen),
                    })
                })
                .collect()
        })
    }
}

/// One of a platform's completions, as its staff look it up.
#[derive(Debug, Serialize)]
pub struct FoundCompletion {
    pub event_id: String,
    pub course_code: String,
    /// The learner's ID number, masked.
    pub learner: String,
    pub status: String,
    pub certified_at: Option<DateTime<Utc>>,
    pub granted: Money,
    pub limited_by: Option<String>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The most completions one search lists.
const FOUND_AT_MOST: i64 = 50;

impl Gateway {
    /// A platform's completions by event id or by the learner's masked ID number.
    pub fn search_completions(
        &self,
        platform: &str,
        text: &str,
    ) -> Result<Vec<FoundCompletion>, ServiceError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(vec![]);
        }
        let rows = self
            .store
            .read(|conn| ledger::search_completions(conn, platform, text, FOUND_AT_MOST))?;
        Ok(rows
            .into_iter()
            .map(|(row, course_code, learner)| FoundCompletion {
                event_id: row.event_id,
                course_code,
                learner,
                status: row.status,
                certified_at: row.certified_at.map(utc),
                granted: Money::from_fen(row.granted_fen),
                limited_by: row.limited_by,
                revoked_at: row.revoked_at.map(utc),
            })
            .collect())
    }
}
