//! Completions as platforms report them: parsing and keying events before they reach the
//! writer ([`super::writer`]), revocations, and offline follow-ups.

use super::audit::record;
use super::error::{FieldError, Refusals};
use super::group::{Prepared, Request};
use super::input::{code, Reader};
use super::learners::{learner_for, LearnerInput};
use super::{active_platform, new_id, utc, Gateway, ServiceError};
use crate::domain::notice::EventType;
use crate::domain::{CompletionStatus, LearnerHash, Limit, Money};
use crate::store::ledger;
use crate::store::models::{CompletionRow, FollowupRow};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

pub const MAX_BATCH: usize = 1000;

/// How far in the future a certificate time may be, for clocks that drift.
pub(super) const CLOCK_SKEW: Duration = Duration::minutes(5);

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
    pub(super) fn of(row: &CompletionRow, replayed: bool) -> CompletionResult {
        CompletionResult {
            event_id: row.event_id.clone(),
            status: CompletionStatus::parse(&row.status).expect("stored status is valid"),
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
pub struct CompletionEvent {
    pub event_id: String,
    pub course_code: String,
    pub learner: LearnerInput,
    pub class_hours: u32,
    pub certificate_no: Option<String>,
    pub certified_at: DateTime<Utc>,
    pub payer: String,
    /// The electronic voucher it redeems, where the payer requires one.
    pub voucher_code: Option<String>,
}

impl CompletionEvent {
    pub(super) fn parse(
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
        let voucher_code = event.optional_text("voucher_code", 64, &mut refusals);
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
            voucher_code,
        ) {
            (
                Some(event_id),
                Some(course_code),
                Some(learner),
                Some(hours),
                Some(certificate_no),
                Some(at),
                Some(payer),
                Some(voucher_code),
            ) if refusals.is_empty() => Ok(CompletionEvent {
                event_id,
                course_code,
                learner,
                class_hours: u32::try_from(hours).expect("range checked"),
                certificate_no,
                certified_at: at.with_timezone(&Utc),
                payer,
                voucher_code,
            }),
            _ => Err(refusals.into_errors()),
        }
    }

    /// What makes a resend "the same event": every field as parsed, the ID number keyed. The
    /// voucher joins only when named, so events stored before vouchers keep their hash.
    pub(super) fn content_hash(&self, id_hash: &LearnerHash) -> Vec<u8> {
        let mut canonical = serde_json::json!([
            self.event_id,
            self.course_code,
            id_hash.to_hex(),
            self.learner.name,
            self.class_hours,
            self.certificate_no,
            self.certified_at.to_rfc3339(),
            self.payer,
        ]);
        if let (Some(voucher), Some(fields)) = (&self.voucher_code, canonical.as_array_mut()) {
            fields.push(serde_json::json!(voucher));
        }
        Sha256::digest(canonical.to_string().as_bytes()).to_vec()
    }
}

impl Gateway {
    /// Meters a platform's events in order: parsed and keyed here, then applied by the writer
    /// in one money transaction with whatever else is queued. If any event is refused, nothing
    /// of the request is stored and every refusal is listed.
    pub async fn ingest(
        &self,
        platform: &str,
        events: &[Value],
        batch: bool,
    ) -> Result<Vec<CompletionResult>, ServiceError> {
        let today = self.today();
        let mut refusals = Refusals::default();
        let mut prepared = Vec::with_capacity(events.len());
        for (i, value) in events.iter().enumerate() {
            let prefix = if batch {
                format!("events[{i}]")
            } else {
                String::new()
            };
            match CompletionEvent::parse(value, &prefix, today) {
                Ok(event) => {
                    let id_hash = self.ids.hash(&event.learner.id_number);
                    let content_hash = event.content_hash(&id_hash);
                    prepared.push(Prepared {
                        event,
                        id_hash,
                        content_hash,
                    });
                }
                Err(errors) => refusals.extend(errors),
            }
        }
        refusals.into_result()?;
        let answer = self.writer.submit(Request {
            platform: platform.to_owned(),
            events: prepared,
            batch,
        })?;
        let results = answer
            .await
            .map_err(|_| ServiceError::Internal("the ledger writer dropped a request".into()))??;
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
        let result = self.store.write_stamped(|conn, generation| {
            active_platform(conn, platform)?;
            let row = ledger::find_completion(conn, platform, event_id)?
                .ok_or(ServiceError::NotFound("completion"))?;
            if row.revoked_at.is_some() {
                return Err(ServiceError::conflict(
                    "already_revoked",
                    format!("completion {event_id} was already revoked"),
                ));
            }
            // Its voucher, if it held one, is usable again (while valid): a revoked completion
            // holds none.
            ledger::mark_revoked(conn, &row.id, now.naive_utc(), &reason, generation)?;
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
                ledger::add_learner_used(conn, &row.payer_code, row.learner_id, year, released)?;
                ledger::add_platform_used(conn, &row.payer_code, platform, year, released)?;
                ledger::add_course_used(conn, &row.payer_code, &row.course_id, released, None)?;
            }
            super::webhooks::notify(
                conn,
                now.naive_utc(),
                platform,
                EventType::CompletionRevoked,
                json!({
                    "platform": platform,
                    "event_id": event_id,
                    "payer": row.payer_code,
                    "training_year": row.training_year,
                    "released": Money::from_fen(row.granted_fen),
                    "reason": reason,
                }),
            )?;
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

    /// What a resend is compared with, fixed since events were first stored: the learner's hash
    /// in it is hex, also now that the hash is kept as bytes, or no event stored before could be
    /// resent.
    #[test]
    fn the_content_hash_is_the_one_stored_events_carry() {
        let event = CompletionEvent::parse(&valid(), "", today()).unwrap();
        let canonical = format!(
            r#"["e1","C1","{}","张三",10,"CERT-1","2022-06-01T02:00:00+00:00","province"]"#,
            "0f".repeat(32)
        );
        assert_eq!(
            event.content_hash(&LearnerHash::from([0x0f; 32])),
            Sha256::digest(canonical.as_bytes()).to_vec()
        );
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
