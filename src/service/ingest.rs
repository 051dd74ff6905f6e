//! Metering completions: each event, in arrival order, against the three limits; revocations;
//! offline follow-ups. A call applies all its events in one money transaction, so the events of
//! many requests can be grouped into one commit without changing any result.

use super::audit::record;
use super::error::{FieldError, Refusals};
use super::input::{code, Reader};
use super::learners::{learner_for, LearnerInput};
use super::{active_platform, new_id, schedule_of, utc, Gateway, ServiceError};
use crate::domain::{grant, Level, Limit, Money, Remaining, TrainingYear};
use crate::store::models::{CompletionRow, CourseRow, FollowupRow};
use crate::store::{catalog, ledger, DbConn};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use utoipa::ToSchema;

pub const MAX_BATCH: usize = 1000;

/// How far in the future a certificate time may be, for clocks that drift.
const CLOCK_SKEW: Duration = Duration::minutes(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CompletionStatus {
    Accepted,
    Uncertified,
    DuplicateClaim,
}

impl CompletionStatus {
    fn as_str(self) -> &'static str {
        match self {
            CompletionStatus::Accepted => "accepted",
            CompletionStatus::Uncertified => "uncertified",
            CompletionStatus::DuplicateClaim => "duplicate_claim",
        }
    }

    fn parse(text: &str) -> CompletionStatus {
        match text {
            "accepted" => CompletionStatus::Accepted,
            "uncertified" => CompletionStatus::Uncertified,
            _ => CompletionStatus::DuplicateClaim,
        }
    }
}

/// The answer for one event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct CompletionResult {
    pub event_id: String,
    pub status: CompletionStatus,
    pub training_year: i32,
    #[schema(value_type = String, example = "30.00")]
    pub gross: Money,
    #[schema(value_type = String, example = "30.00")]
    pub granted: Money,
    /// `learner_annual_cap`, `course_saturated`, `platform_annual_ceiling` or null.
    #[schema(value_type = Option<String>)]
    pub limited_by: Option<Limit>,
    pub replayed: bool,
    /// Set once the certificate was withdrawn and the grant released.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl CompletionResult {
    fn of(row: &CompletionRow, replayed: bool) -> CompletionResult {
        CompletionResult {
            event_id: row.event_id.clone(),
            status: CompletionStatus::parse(&row.status),
            training_year: row.training_year.unwrap_or_default(),
            gross: Money::from_fen(row.gross_fen),
            granted: Money::from_fen(row.granted_fen),
            limited_by: row.limited_by.as_deref().and_then(Limit::parse),
            replayed,
            revoked_at: row.revoked_at.map(utc),
        }
    }
}

/// A completion event as the platform sent it, parsed.
#[derive(Debug)]
struct CompletionEvent {
    event_id: String,
    course_code: String,
    learner: LearnerInput,
    class_hours: u32,
    certificate_no: Option<String>,
    certified_at: DateTime<Utc>,
    payer: String,
}

impl CompletionEvent {
    fn parse(
        value: &Value,
        prefix: &str,
        today: NaiveDate,
    ) -> Result<CompletionEvent, Vec<FieldError>> {
        let mut refusals = Refusals::default();
        let Some(event) = Reader::object(value, prefix, &mut refusals) else {
            return Err(refusals.into_errors());
        };
        let event_id = event.text("event_id", 128, &mut refusals);
        let course_code = code(&event, "course_code", &mut refusals);
        let learner = event
            .nested("learner", &mut refusals)
            .and_then(|learner| LearnerInput::parse(&learner, today, &mut refusals));
        let class_hours = event.integer("class_hours", 1..=10_000, &mut refusals);
        let certificate_no = event.optional_text("certificate_no", 64, &mut refusals);
        let certified_at = event
            .text("certified_at", 64, &mut refusals)
            .and_then(|text| {
                refusals.take(
                    &event.path("certified_at"),
                    "invalid_timestamp",
                    DateTime::parse_from_rfc3339(&text)
                        .map_err(|_| "must be RFC 3339 with an offset"),
                )
            });
        let payer = match event.optional_text("payer", 64, &mut refusals) {
            Some(None) => Some("province".to_owned()),
            Some(Some(_)) => code(&event, "payer", &mut refusals),
            None => None,
        };
        match (
            event_id,
            course_code,
            learner,
            class_hours,
            certificate_no,
            certified_at,
            payer,
        ) {
            (
                Some(event_id),
                Some(course_code),
                Some(learner),
                Some(hours),
                Some(certificate_no),
                Some(at),
                Some(payer),
            ) if refusals.is_empty() => Ok(CompletionEvent {
                event_id,
                course_code,
                learner,
                class_hours: u32::try_from(hours).expect("range checked"),
                certificate_no,
                certified_at: at.with_timezone(&Utc),
                payer,
            }),
            _ => Err(refusals.into_errors()),
        }
    }

    /// What makes a resend "the same event": every field as parsed, the ID number keyed.
    fn content_hash(&self, id_hash: &str) -> String {
        let canonical = serde_json::json!([
            self.event_id,
            self.course_code,
            id_hash,
            self.learner.name,
            self.class_hours,
            self.certificate_no,
            self.certified_at.to_rfc3339(),
            self.payer,
        ]);
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }
}

/// Rows read once per transaction and reused by every event of it.
#[derive(Default)]
struct Lookups {
    courses: HashMap<String, Option<CourseRow>>,
    payers: HashMap<String, bool>,
}

impl Gateway {
    /// Applies a platform's events in order, in one transaction. Every event is checked; if any
    /// is refused, nothing is stored and every refusal is listed.
    pub fn ingest(
        &self,
        platform: &str,
        events: &[Value],
        batch: bool,
    ) -> Result<Vec<CompletionResult>, ServiceError> {
        let prefix = |i: usize| {
            if batch {
                format!("events[{i}]")
            } else {
                String::new()
            }
        };
        let today = self.today();
        let mut refusals = Refusals::default();
        let parsed: Vec<Option<CompletionEvent>> = events
            .iter()
            .enumerate()
            .map(|(i, value)| {
                CompletionEvent::parse(value, &prefix(i), today)
                    .map_err(|errors| refusals.extend(errors))
                    .ok()
            })
            .collect();
        refusals.into_result()?;
        let now = self.now();
        let results = self.store.write(|conn| {
            active_platform(conn, platform)?;
            let mut lookups = Lookups::default();
            let mut refusals = Refusals::default();
            let mut results = Vec::with_capacity(parsed.len());
            for (i, event) in parsed.iter().flatten().enumerate() {
                match self.apply(conn, &mut lookups, platform, event, now) {
                    Ok(result) => results.push(result),
                    Err(ServiceError::Invalid(errors)) => {
                        refusals.extend(errors.into_iter().map(|e| e.within(&prefix(i))).collect())
                    }
                    Err(other) => return Err(other),
                }
            }
            refusals.into_result()?;
            Ok(results)
        })?;
        for result in results.iter().filter(|r| !r.replayed) {
            self.metrics
                .completions
                .with_label_values(&[result.status.as_str()])
                .inc();
            self.metrics
                .granted_fen
                .inc_by(u64::try_from(result.granted.fen()).unwrap_or(0));
        }
        Ok(results)
    }

    fn apply(
        &self,
        conn: &mut DbConn,
        lookups: &mut Lookups,
        platform: &str,
        event: &CompletionEvent,
        now: DateTime<Utc>,
    ) -> Result<CompletionResult, ServiceError> {
        let id_hash = self.ids.hash(&event.learner.id_number);
        let content_hash = event.content_hash(&id_hash);
        if let Some(stored) = ledger::find_completion(conn, platform, &event.event_id)? {
            return if stored.content_hash == content_hash {
                Ok(CompletionResult::of(&stored, true))
            } else {
                Err(ServiceError::invalid(
                    "event_id",
                    "event_id_conflict",
                    "was already used for a completion with different content",
                ))
            };
        }
        let mut refusals = Refusals::default();
        let course = match lookups.courses.get(&event.course_code) {
            Some(cached) => cached.clone(),
            None => {
                let found = catalog::find_course(conn, platform, &event.course_code)?;
                lookups
                    .courses
                    .insert(event.course_code.clone(), found.clone());
                found
            }
        };
        match &course {
            None => refusals.add(
                "course_code",
                "unknown_course",
                "is not a course of this platform",
            ),
            Some(course) if i64::from(event.class_hours) > i64::from(course.class_hours) => {
                refusals.add(
                    "class_hours",
                    "class_hours_exceed_course",
                    format!("exceeds the course's {} class-hours", course.class_hours),
                )
            }
            Some(_) => {}
        }
        let payer_known = match lookups.payers.get(&event.payer) {
            Some(known) => *known,
            None => {
                let known = catalog::find_payer(conn, &event.payer)?.is_some();
                lookups.payers.insert(event.payer.clone(), known);
                known
            }
        };
        if !payer_known {
            refusals.add("payer", "unknown_payer", "is not a known payer");
        }
        let year = TrainingYear::of(event.certified_at);
        if event.certified_at > now + CLOCK_SKEW {
            refusals.add("certified_at", "certified_in_future", "lies in the future");
        } else if !year.claims_open_at(now) {
            refusals.add(
                "certified_at",
                "claim_window_closed",
                format!("claims for training year {year} closed on 31 December {year}"),
            );
        }
        let schedule = if payer_known {
            let found = catalog::schedule_for(conn, &event.payer, year.value())?;
            if found.is_none() {
                refusals.add(
                    "payer",
                    "no_rate_schedule",
                    format!("has no rate schedule for training year {year}"),
                );
            }
            found
        } else {
            None
        };
        if let Some(certificate) = &event.certificate_no {
            if ledger::certificate_taken(conn, certificate)? {
                refusals.add(
                    "certificate_no",
                    "certificate_already_used",
                    "was already reported with another event",
                );
            }
        }
        let learner = match learner_for(conn, &event.learner, &id_hash, now.naive_utc())? {
            Ok(learner) => Some(learner),
            Err(refusal) => {
                refusals.extend(vec![refusal.within("learner")]);
                None
            }
        };
        refusals.into_result()?;
        let (Some(course), Some(schedule_row), Some(learner)) = (course, schedule, learner) else {
            unreachable!("every missing part was refused above");
        };
        let schedule = schedule_of(&schedule_row);
        let level: Level = course.level.parse().expect("stored level is valid");
        let gross = schedule.gross(level, event.class_hours);

        let completion_id = new_id();
        let (status, outcome) = if event.certificate_no.is_none() {
            (CompletionStatus::Uncertified, None)
        } else if ledger::claim_exists(conn, &learner.id, &course.id)? {
            (CompletionStatus::DuplicateClaim, None)
        } else {
            let payer = event.payer.as_str();
            let learner_used = ledger::learner_used(conn, payer, &learner.id, year.value())?;
            let platform_used = ledger::platform_used(conn, payer, platform, year.value())?;
            let (course_used, course_free) = ledger::course_used(conn, payer, &course.id)?;
            let saturation =
                schedule.saturation_limit(level, u32::try_from(course.class_hours).unwrap_or(0));
            let granted = grant(
                gross,
                Remaining {
                    learner: schedule
                        .learner_annual_cap
                        .remaining_after(Money::from_fen(learner_used)),
                    course: saturation.remaining_after(Money::from_fen(course_used)),
                    platform: schedule
                        .platform_annual_ceiling
                        .remaining_after(Money::from_fen(platform_used)),
                    course_free,
                },
            );
            (
                CompletionStatus::Accepted,
                Some((granted, saturation, course_used, course_free)),
            )
        };
        let granted = outcome.map(|(g, ..)| g.granted).unwrap_or(Money::ZERO);
        let row = CompletionRow {
            id: completion_id.clone(),
            platform_code: platform.to_owned(),
            event_id: event.event_id.clone(),
            content_hash,
            course_id: course.id.clone(),
            learner_id: learner.id.clone(),
            payer_code: event.payer.clone(),
            class_hours: i32::try_from(event.class_hours).expect("range checked"),
            level: course.level.clone(),
            certificate_no: event.certificate_no.clone(),
            certified_at: Some(event.certified_at.naive_utc()),
            training_year: Some(year.value()),
            status: status.as_str().to_owned(),
            gross_fen: gross.fen(),
            granted_fen: granted.fen(),
            limited_by: outcome
                .and_then(|(g, ..)| g.limited_by)
                .map(|l| l.as_str().to_owned()),
            schedule_id: Some(schedule_row.id.clone()),
            received_at: now.naive_utc(),
            revoked_at: None,
            revoke_reason: None,
        };
        ledger::insert_completion(conn, &row)?;
        let result = CompletionResult::of(&row, false);
        record(
            conn,
            row.received_at,
            &format!("platform:{platform}"),
            "completion.recorded",
            ("completion", &completion_id),
            None,
            Some(json!({
                "event_id": result.event_id, "payer": row.payer_code, "status": row.status,
                "training_year": result.training_year, "gross": result.gross, "granted": result.granted,
                "limited_by": row.limited_by,
            })),
        )?;
        if let Some((_, saturation, course_used, course_free)) = outcome {
            ledger::insert_claim(conn, &learner.id, &course.id, &completion_id)?;
            let payer = event.payer.as_str();
            let fen = granted.fen();
            ledger::add_learner_used(conn, payer, &learner.id, year.value(), fen)?;
            ledger::add_platform_used(conn, payer, platform, year.value(), fen)?;
            let now_free = !course_free && Money::from_fen(course_used + fen) >= saturation;
            ledger::add_course_used(
                conn,
                payer,
                &course.id,
                fen,
                now_free.then(|| now.naive_utc()),
            )?;
        }
        Ok(CompletionResult::of(&row, false))
    }

    /// Withdraws a certificate: the grant is released from the learner's, the course's and the
    /// platform's counters, and the learner may claim the course again.
    pub fn revoke(
        &self,
        platform: &str,
        event_id: &str,
        body: &Value,
    ) -> Result<CompletionResult, ServiceError> {
        let mut refusals = Refusals::default();
        let reason = Reader::object(body, "", &mut refusals)
            .and_then(|body| body.text("reason", 500, &mut refusals));
        refusals.into_result()?;
        let reason = reason.expect("refused above when missing");
        let now = self.now();
        let result = self.store.write(|conn| {
            active_platform(conn, platform)?;
            let row = ledger::find_completion(conn, platform, event_id)?
                .ok_or(ServiceError::NotFound("completion"))?;
            if row.revoked_at.is_some() {
                return Err(ServiceError::conflict(
                    "already_revoked",
                    format!("completion {event_id} was already revoked"),
                ));
            }
            ledger::mark_revoked(conn, &row.id, now.naive_utc(), &reason)?;
            record(
                conn,
                now.naive_utc(),
                &format!("platform:{platform}"),
                "completion.revoked",
                ("completion", &row.id),
                Some(json!({"granted": Money::from_fen(row.granted_fen), "revoked": false})),
                Some(json!({"released": Money::from_fen(row.granted_fen), "revoked": true, "reason": reason})),
            )?;
            if row.status == CompletionStatus::Accepted.as_str() {
                let year = row.training_year.expect("accepted completions have a year");
                let released = -row.granted_fen;
                ledger::release_claim(conn, &row.id)?;
                ledger::add_learner_used(conn, &row.payer_code, &row.learner_id, year, released)?;
                ledger::add_platform_used(conn, &row.payer_code, platform, year, released)?;
                ledger::add_course_used(conn, &row.payer_code, &row.course_id, released, None)?;
            }
            let revoked = ledger::find_completion(conn, platform, event_id)?
                .ok_or(ServiceError::NotFound("completion"))?;
            Ok(CompletionResult::of(&revoked, false))
        })?;
        self.metrics
            .revoked_fen
            .inc_by(u64::try_from(result.granted.fen()).unwrap_or(0));
        tracing::info!(platform, event_id, released = %result.granted, "completion revoked");
        Ok(result)
    }

    /// Records that a learner attended offline follow-up training with this platform.
    pub fn record_followup(
        &self,
        platform: &str,
        body: &Value,
    ) -> Result<FollowupView, ServiceError> {
        let today = self.today();
        let mut refusals = Refusals::default();
        let reader = Reader::object(body, "", &mut refusals);
        let learner = reader
            .as_ref()
            .and_then(|r| r.nested("learner", &mut refusals))
            .and_then(|l| LearnerInput::parse(&l, today, &mut refusals));
        let attended_on = reader
            .as_ref()
            .and_then(|r| r.text("attended_on", 10, &mut refusals))
            .and_then(|text| {
                let parsed = NaiveDate::parse_from_str(&text, "%Y-%m-%d")
                    .map_err(|_| "must be a date such as 2022-07-01")
                    .and_then(|d| {
                        if d > today {
                            Err("lies in the future")
                        } else {
                            Ok(d)
                        }
                    });
                refusals.take("attended_on", "invalid_date", parsed)
            });
        let program = reader
            .as_ref()
            .and_then(|r| r.text("program", 200, &mut refusals));
        refusals.into_result()?;
        let (Some(learner), Some(attended_on), Some(program)) = (learner, attended_on, program)
        else {
            unreachable!("every missing part was refused above");
        };
        let now = self.stamp();
        let id_hash = self.ids.hash(&learner.id_number);
        self.store.write(|conn| {
            active_platform(conn, platform)?;
            let learner_row = learner_for(conn, &learner, &id_hash, now)?
                .map_err(|e| ServiceError::Invalid(vec![e.within("learner")]))?;
            let row = FollowupRow {
                id: new_id(),
                platform_code: platform.to_owned(),
                learner_id: learner_row.id,
                attended_on,
                program,
                created_at: now,
            };
            ledger::insert_followup(conn, &row)?;
            Ok(FollowupView {
                id: row.id,
                learner: learner_row.id_masked,
                attended_on: row.attended_on,
                program: row.program,
            })
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FollowupView {
    pub id: String,
    /// The learner's ID number, masked.
    pub learner: String,
    pub attended_on: NaiveDate,
    pub program: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            // Floats arrive as JSON numbers; the parser must refuse them (no money is a float).
            any::<f64>().prop_map(|f| json!(f)),
            ".{0,40}".prop_map(Value::from),
            "[0-9X]{17,19}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::from),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("event_id".to_owned()),
                        Just("course_code".to_owned()),
                        Just("learner".to_owned()),
                        Just("id_number".to_owned()),
                        Just("class_hours".to_owned()),
                        Just("certified_at".to_owned()),
                        ".{0,12}"
                    ],
                    inner,
                    0..8
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn valid() -> Value {
        json!({
            "event_id": "e1",
            "course_code": "C1",
            "learner": {"id_number": "110101199003074477", "name": "张三"},
            "class_hours": 10,
            "certificate_no": "CERT-1",
            "certified_at": "2022-06-01T10:00:00+08:00",
        })
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2022, 12, 15).unwrap()
    }

    #[test]
    fn a_valid_event_parses() {
        let event = CompletionEvent::parse(&valid(), "", today()).unwrap();
        assert_eq!((event.class_hours, event.payer.as_str()), (10, "province"));
    }

    proptest! {
        /// Arbitrary JSON never panics the parser; a refusal names fields under its prefix.
        #[test]
        fn arbitrary_json_never_panics(value in any_json()) {
            if let Err(errors) = CompletionEvent::parse(&value, "events[3]", today()) {
                prop_assert!(!errors.is_empty());
                prop_assert!(errors.iter().all(|e| e.field.starts_with("events[3]")));
            }
        }

        /// Any one field of a valid event replaced by arbitrary JSON: parsed, or refused
        /// naming that field (never another, never a panic).
        #[test]
        fn one_bad_field_is_named(
            field in prop_oneof![
                Just("event_id"), Just("course_code"), Just("learner"), Just("class_hours"),
                Just("certificate_no"), Just("certified_at"), Just("payer")
            ],
            replacement in any_json(),
        ) {
            let mut event = valid();
            event[field] = replacement;
            if let Err(errors) = CompletionEvent::parse(&event, "", today()) {
                prop_assert!(
                    errors.iter().all(|e| e.field.starts_with(field)),
                    "{:?}", errors
                );
            }
        }
    }
}
