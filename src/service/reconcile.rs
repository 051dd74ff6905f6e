//! `gateway check` and `GET /v1/reconciliation`: the books against their invariants, streamed
//! through the domain's [`Reconciler`] one key at a time from a consistent snapshot, so neither
//! memory nor the writers' wait grows with the books.

use super::{schedule_of, Gateway, ServiceError};
use crate::domain::reconcile::{
    CounterKey, DeliveryRecord, GrantRecord, InvoiceRecord, Reconciler, Reconciliation,
};
use crate::domain::{Level, Money, RateSchedule};
use crate::store::books::{self, CounterKind, CounterRow};
use crate::store::{DbConn, StoreError};
use std::collections::HashMap;

impl Gateway {
    pub fn reconcile(&self) -> Result<Reconciliation, ServiceError> {
        let report = self
            .store
            .snapshot(|conn| Ok::<_, ServiceError>(check(conn)?))?;
        for breach in &report.breaches {
            tracing::error!(invariant = breach.invariant, subject = %breach.subject, detail = %breach.detail, "reconciliation breach");
        }
        tracing::info!(status = ?report.status, breaches = report.breaches.len(), notices = report.notices.len(), "reconciliation finished");
        Ok(report)
    }
}

fn check(conn: &mut DbConn) -> Result<Reconciliation, StoreError> {
    let schedules: HashMap<String, RateSchedule> = books::schedules(conn)?
        .iter()
        .map(|row| (row.id.clone(), schedule_of(row)))
        .collect();
    let courses: HashMap<String, (Option<Level>, u32)> = books::courses(conn)?
        .into_iter()
        .map(|(id, level, hours)| (id, (level.parse().ok(), u32::try_from(hours).unwrap_or(0))))
        .collect();
    let mut reconciler = Reconciler::default();
    for grant in books::grants(conn)? {
        let (completion, gross, granted) = grant?;
        reconciler.grant(&GrantRecord {
            completion,
            gross: Money::from_fen(gross),
            granted: Money::from_fen(granted),
        });
    }
    for row in books::dangling_references(conn)? {
        let row = row?;
        reconciler.dangling(&row.completion, &row.missing);
    }
    for kind in [
        CounterKind::Learner,
        CounterKind::Platform,
        CounterKind::Course,
    ] {
        let rows = books::counter_rows(conn, kind)?;
        for_each_group(rows, counter_key(kind), |key, rows| {
            let sum = rows.iter().filter_map(|r| r.granted_fen).sum::<i64>();
            // The largest limit any of its grants was priced under.
            let limit = rows
                .iter()
                .filter_map(|r| schedules.get(r.schedule_id.as_deref()?))
                .filter_map(|schedule| limit_of(schedule, &key, &courses))
                .max();
            let stored = rows.iter().find_map(|r| r.stored_fen).map(Money::from_fen);
            reconciler.counter(&key, Money::from_fen(sum), limit, stored);
        })?;
    }
    reconciler.claim_index(books::claim_index_present(conn)?);
    let rows = books::claim_rows(conn)?;
    for_each_group(
        rows,
        |row| (row.learner, row.course.clone()),
        |(learner, course), rows| {
            let live: Vec<String> = rows.into_iter().map(|r| r.completion).collect();
            reconciler.claim(learner, &course, &live);
        },
    )?;
    let books::InvoiceBooks {
        invoices,
        lines,
        deliveries,
    } = books::invoices(conn)?;
    let mut lines_of: HashMap<String, Vec<Money>> = HashMap::new();
    for (invoice, fen) in lines {
        lines_of
            .entry(invoice)
            .or_default()
            .push(Money::from_fen(fen));
    }
    let invoices: Vec<InvoiceRecord> = invoices
        .into_iter()
        .map(|row| InvoiceRecord {
            line_amounts: lines_of.remove(&row.id).unwrap_or_default(),
            id: row.id,
            status: row.status,
            amount: Money::from_fen(row.amount_fen),
            payable_ytd: Money::from_fen(row.payable_ytd_fen),
            previously_invoiced: Money::from_fen(row.previously_invoiced_fen),
        })
        .collect();
    let deliveries: Vec<DeliveryRecord> = deliveries
        .into_iter()
        .map(|(invoice, status)| DeliveryRecord { invoice, status })
        .collect();
    reconciler.invoices(&invoices, &deliveries);
    for redemption in books::redemptions(conn)? {
        let r = redemption?;
        reconciler.redemption(&r.code, &r.status, &r.completion_id, r.valid == 1);
    }
    for orphan in books::orphaned_vouchers(conn)? {
        reconciler.orphaned_voucher(&orphan?.code);
    }
    for completion in books::unvouched(conn)? {
        reconciler.unvouched(&completion?.id);
    }
    for course in books::unfrozen_courses(conn)? {
        reconciler.unfrozen_course(&course?.id);
    }
    Ok(reconciler.finish())
}

fn counter_key(kind: CounterKind) -> impl Fn(&CounterRow) -> CounterKey {
    move |row| {
        let (payer, subject, year) = (row.payer.clone(), row.subject.clone(), row.year);
        match kind {
            CounterKind::Learner => CounterKey::Learner {
                payer,
                learner: subject,
                year: year.unwrap_or_default(),
            },
            CounterKind::Platform => CounterKey::Platform {
                payer,
                platform: subject,
                year: year.unwrap_or_default(),
            },
            CounterKind::Course => CounterKey::Course {
                payer,
                course: subject,
            },
        }
    }
}

/// The limit a schedule puts on a counter: the learner's cap, the platform's ceiling, or the
/// course's saturation for its level and class-hours.
fn limit_of(
    schedule: &RateSchedule,
    key: &CounterKey,
    courses: &HashMap<String, (Option<Level>, u32)>,
) -> Option<Money> {
    match key {
        CounterKey::Learner { .. } => Some(schedule.learner_annual_cap),
        CounterKey::Platform { .. } => Some(schedule.platform_annual_ceiling),
        CounterKey::Course { course, .. } => match courses.get(course) {
            Some((Some(level), hours)) => Some(schedule.saturation_limit(*level, *hours)),
            _ => None,
        },
    }
}

/// Calls `each` once per run of consecutive rows with the same key (the queries sort by key),
/// holding one run at a time.
fn for_each_group<R, K: PartialEq>(
    rows: impl Iterator<Item = Result<R, StoreError>>,
    key: impl Fn(&R) -> K,
    mut each: impl FnMut(K, Vec<R>),
) -> Result<(), StoreError> {
    let mut current: Option<(K, Vec<R>)> = None;
    for row in rows {
        let row = row?;
        let k = key(&row);
        match &mut current {
            Some((open, group)) if *open == k => group.push(row),
            _ => {
                if let Some((done, group)) = current.replace((k, vec![row])) {
                    each(done, group);
                }
            }
        }
    }
    if let Some((done, group)) = current {
        each(done, group);
    }
    Ok(())
}
