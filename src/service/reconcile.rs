//! `gateway check` and `GET /v1/reconciliation`: the books against their invariants.

use super::{schedule_of, Gateway, ServiceError};
use crate::domain::reconcile::{
    reconcile, Books, ClaimRecord, CounterKey, CounterRecord, DeliveryRecord, GrantRecord,
    InvoiceRecord, Reconciliation,
};
use crate::domain::{Level, Money};
use crate::store::books::{read_all, RawBooks};
use std::collections::{BTreeMap, HashMap};

impl Gateway {
    /// Reads every grant, counter, claim, invoice and delivery in one money transaction (so
    /// no metering interleaves) and checks them. Writers wait while it reads.
    pub fn reconcile(&self) -> Result<Reconciliation, ServiceError> {
        let raw = self
            .store
            .write(|conn| Ok::<_, ServiceError>(read_all(conn)?))?;
        let report = reconcile(&books_of(raw));
        for breach in &report.breaches {
            tracing::error!(invariant = breach.invariant, subject = %breach.subject, detail = %breach.detail, "reconciliation breach");
        }
        tracing::info!(status = ?report.status, breaches = report.breaches.len(), notices = report.notices.len(), "reconciliation finished");
        Ok(report)
    }
}

/// The stored rows as the domain's records, each counter with the limit its grants were priced
/// under (the largest, where a course was priced under more than one schedule).
fn books_of(raw: RawBooks) -> Books {
    let schedules: HashMap<_, _> = raw
        .schedules
        .iter()
        .map(|row| (row.id.as_str(), schedule_of(row)))
        .collect();
    let courses: HashMap<_, _> = raw
        .courses
        .iter()
        .map(|(id, level, hours)| (id.as_str(), (level.parse::<Level>().ok(), *hours)))
        .collect();
    let mut limits: BTreeMap<CounterKey, Money> = BTreeMap::new();
    let mut raise = |key: CounterKey, limit: Money| {
        let entry = limits.entry(key).or_insert(limit);
        *entry = (*entry).max(limit);
    };
    let mut grants = Vec::with_capacity(raw.grants.len());
    for row in raw.grants {
        let live = row.status == "accepted" && row.revoked_at.is_none();
        let grant = GrantRecord {
            completion: row.id,
            payer: row.payer_code,
            platform: row.platform_code,
            learner: row.learner_id,
            course: row.course_id,
            year: row.training_year.unwrap_or_default(),
            gross: Money::from_fen(row.gross_fen),
            granted: Money::from_fen(row.granted_fen),
            live,
        };
        let schedule = row.schedule_id.as_deref().and_then(|id| schedules.get(id));
        if let (true, Some(schedule)) = (live, schedule) {
            let [learner, platform, course] = grant.counters();
            raise(learner, schedule.learner_annual_cap);
            raise(platform, schedule.platform_annual_ceiling);
            if let Some((Some(level), hours)) = courses.get(grant.course.as_str()) {
                let hours = u32::try_from(*hours).unwrap_or(0);
                raise(course, schedule.saturation_limit(*level, hours));
            }
        }
        grants.push(grant);
    }
    let mut counters = vec![];
    let mut counter = |key: CounterKey, fen: i64| {
        counters.push(CounterRecord {
            limit: limits.get(&key).copied(),
            key,
            value: Money::from_fen(fen),
        })
    };
    for (payer, learner, year, fen) in raw.learner_counters {
        counter(
            CounterKey::Learner {
                payer,
                learner,
                year,
            },
            fen,
        );
    }
    for (payer, platform, year, fen) in raw.platform_counters {
        counter(
            CounterKey::Platform {
                payer,
                platform,
                year,
            },
            fen,
        );
    }
    for (payer, course, fen) in raw.course_counters {
        counter(CounterKey::Course { payer, course }, fen);
    }
    let mut lines: HashMap<String, Vec<Money>> = HashMap::new();
    for (invoice, fen) in raw.lines {
        lines.entry(invoice).or_default().push(Money::from_fen(fen));
    }
    Books {
        grants,
        counters,
        claims: raw
            .claims
            .into_iter()
            .map(|(learner, course, completion)| ClaimRecord {
                learner,
                course,
                completion,
            })
            .collect(),
        invoices: raw
            .invoices
            .into_iter()
            .map(|row| InvoiceRecord {
                line_amounts: lines.remove(&row.id).unwrap_or_default(),
                id: row.id,
                status: row.status,
                amount: Money::from_fen(row.amount_fen),
                payable_ytd: Money::from_fen(row.payable_ytd_fen),
                previously_invoiced: Money::from_fen(row.previously_invoiced_fen),
            })
            .collect(),
        deliveries: raw
            .deliveries
            .into_iter()
            .map(|(invoice, status)| DeliveryRecord { invoice, status })
            .collect(),
    }
}
