//! One group of completion requests, in arrival order, in one money transaction:
//! **check** each event against the catalog and what is stored (loaded for the whole group in a
//! handful of queries), **decide** its grant in memory ([`Meter`], pure), **record** everything
//! the group added with multi-row statements. A refused request stores nothing and is undone
//! exactly, so the requests after it get the answers they would have got without it.

use super::error::{FieldError, Refusals};
use super::ingest::{CompletionEvent, CompletionResult, CLOCK_SKEW};
use super::{new_id, schedule_of, ServiceError};
use crate::clock::Clock;
use crate::domain::metering::{CourseCounter, CourseKey, LearnerId, PlatformYear};
use crate::domain::notice::{ceiling_crossings, EventType};
use crate::domain::voucher::{redeemable, Redemption, Voucher, VoucherRefusal, VoucherStatus};
use crate::domain::{
    CompletionStatus, Counters, LearnerHash, Level, Meter, Metered, Money, TrainingYear,
};
use crate::store::group::{self as rows, GroupWrites};
use crate::store::ledger;
use crate::store::models::{CompletionRow, CourseRow, LearnerRow, RateScheduleRow};
use crate::store::vouchers::{self as voucher_rows, HeldVoucher};
use crate::store::{DbConn, Stamp, Store, StoreError};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::json;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::Hash;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

/// An event parsed and keyed before it reaches the writer.
#[derive(Debug)]
pub struct Prepared {
    pub event: CompletionEvent,
    pub id_hash: LearnerHash,
    pub content_hash: Vec<u8>,
}

/// One request's events, all stored or none.
#[derive(Debug)]
pub struct Request {
    pub platform: String,
    pub events: Vec<Prepared>,
    /// Refusals name `events[i].…` in a batch, the bare field for a single event.
    pub batch: bool,
}

pub type Answer = Result<Vec<CompletionResult>, ServiceError>;

impl AsRef<Request> for Request {
    fn as_ref(&self) -> &Request {
        self
    }
}

/// Applies the requests of `batch` in order in one transaction and answers each of them. Once
/// the ledger lock is held, `join` may add to `batch` the requests that queued while this writer
/// waited for it (behind another replica's group or the invoice run), so that they do not wait
/// for another turn at the lock. `Err` only when the transaction itself failed: then nothing of
/// the group was stored, and nothing is kept.
pub fn apply<R: AsRef<Request>>(
    store: &Store,
    kept: &mut Kept,
    clock: &dyn Clock,
    batch: &mut Vec<R>,
    join: impl FnOnce(&mut Vec<R>),
) -> Result<Vec<Answer>, ServiceError> {
    let started = Instant::now();
    let mut phases = [Duration::ZERO; 4];
    let applied = store.write_group(|conn, stamp| {
        phases[0] = started.elapsed();
        join(batch);
        // Taken after the wait for the lock, so that no request is stamped before it arrived.
        let now = clock.now();
        let requests: Vec<&Request> = batch.iter().map(AsRef::as_ref).collect();
        // A panic becomes an error inside the transaction, so that it rolls back.
        catch_unwind(AssertUnwindSafe(|| {
            kept.refresh(conn, &requests, stamp)?;
            let mut group = Group::load(conn, kept, &requests, stamp.generation)?;
            phases[1] = started.elapsed();
            let answers: Vec<Answer> = requests.iter().map(|r| group.take(r, now)).collect();
            phases[2] = started.elapsed();
            let next_learner = group.next_learner;
            let recorded = group.record(conn, now)?;
            phases[3] = started.elapsed();
            Ok::<_, ServiceError>((answers, recorded, next_learner, stamp.generation))
        }))
        .unwrap_or_else(|_| {
            tracing::error!(
                "the ledger writer panicked applying a group; nothing of it was stored"
            );
            Err(ServiceError::Internal("the ledger writer panicked".into()))
        })
    });
    let answers = match applied {
        Ok((answers, recorded, next_learner, generation)) => {
            kept.committed(generation, recorded, next_learner);
            answers
        }
        Err(failure) => {
            *kept = Kept::default();
            return Err(failure);
        }
    };
    tracing::debug!(
        requests = batch.len(),
        events = batch.iter().map(|r| r.as_ref().events.len()).sum::<usize>(),
        lock_us = phases[0].as_micros(),
        load_us = (phases[1] - phases[0]).as_micros(),
        decide_us = (phases[2] - phases[1]).as_micros(),
        record_us = (phases[3] - phases[2]).as_micros(),
        commit_us = (started.elapsed() - phases[3]).as_micros(),
        "group committed"
    );
    Ok(answers)
}

/// What a request adds, kept apart until the whole request passes.
#[derive(Default)]
struct Added {
    completions: Vec<CompletionRow>,
    /// (platform, event id) → index in `completions`.
    by_event: HashMap<(String, String), usize>,
    certificates: HashSet<String>,
    /// By ID-number hash.
    learners: HashMap<Vec<u8>, LearnerRow>,
    /// The vouchers its granted completions redeemed.
    redeemed: HashSet<String>,
    /// The courses, by (platform, code) → id, that were not frozen and that its completions
    /// freeze (see `CourseRow::frozen`).
    frozen: HashMap<(String, String), String>,
    /// What the platforms are told: a course turned free, a ceiling threshold crossed.
    notices: Vec<Notice>,
}

/// A message for a platform, written with the group (see `webhooks::notify`).
struct Notice {
    platform: String,
    event: EventType,
    data: serde_json::Value,
}

impl Added {
    fn completion(&self, platform: &str, event_id: &str) -> Option<&CompletionRow> {
        self.by_event
            .get(&(platform.to_owned(), event_id.to_owned()))
            .map(|&i| &self.completions[i])
    }

    fn push(&mut self, row: CompletionRow) {
        let key = (row.platform_code.clone(), row.event_id.clone());
        self.by_event.insert(key, self.completions.len());
        if let Some(number) = &row.certificate_no {
            self.certificates.insert(number.clone());
        }
        self.completions.push(row);
    }

    fn merge(&mut self, request: Added) {
        for row in request.completions {
            self.push(row);
        }
        self.learners.extend(request.learners);
        self.redeemed.extend(request.redeemed);
        self.frozen.extend(request.frozen);
        self.notices.extend(request.notices);
    }
}

/// What the writer keeps between groups: the catalog rows, the platform and course counters its
/// groups read or wrote, and the number the next new learner gets. The counters and the number
/// stay current while the ledger generation a group takes follows the one this writer committed
/// last (nobody else wrote in between: every write to these tables takes the ledger lock and
/// bumps it); otherwise they are read again. The catalog stays current while the last
/// transaction that was not a writer's group (`Stamp::catalog_generation`) came before this
/// writer's last group, so a replica keeps it while other replicas' groups write (they change
/// no catalog row but to freeze a course, which a writer that missed it only does again). Learners,
/// claims and stored completions are not kept: they grow without bound.
#[derive(Default)]
pub struct Kept {
    /// The generation this writer committed last, while what it keeps may be current.
    generation: Option<i64>,
    catalog: Catalog,
    counted: Counted,
}

/// What any other writer's transaction may change: read again after each.
#[derive(Default)]
struct Counted {
    /// The number the next new learner gets.
    next_learner: Option<i64>,
    platforms: Filed<PlatformYear, Money>,
    courses: Filed<CourseKey, CourseCounter>,
}

/// Counters filed by the platform or course they count for: each is read whole, once.
type Filed<K, V> = HashMap<String, HashMap<K, V>>;

/// The platform or course a counter counts for: the second field of its key, `(payer, platform,
/// year)` or `(payer, course)`.
trait Owner {
    fn owner(&self) -> &str;
}

impl Owner for PlatformYear {
    fn owner(&self) -> &str {
        &self.1
    }
}

impl Owner for CourseKey {
    fn owner(&self) -> &str {
        &self.1
    }
}

fn file<K: Owner + Hash + Eq, V>(
    filed: &mut Filed<K, V>,
    counters: impl IntoIterator<Item = (K, V)>,
) {
    for (key, value) in counters {
        filed
            .entry(key.owner().to_owned())
            .or_default()
            .insert(key, value);
    }
}

/// Each of `owners` with its counters among `loaded`; one without any yet gets none, so that it
/// is not read again.
fn filed<K: Owner + Hash + Eq, V>(
    owners: &[String],
    loaded: Vec<(K, V)>,
) -> Vec<(String, HashMap<K, V>)> {
    let mut filed: Filed<K, V> = owners.iter().map(|o| (o.clone(), HashMap::new())).collect();
    file(&mut filed, loaded);
    filed.into_iter().collect()
}

/// Copies the filed counters of these owners into `counters`.
fn copy_filed<K: Hash + Eq + Clone, V: Copy>(
    filed: &Filed<K, V>,
    owners: &[&str],
    counters: &mut HashMap<K, V>,
) {
    for owner in owners {
        if let Some(kept) = filed.get(*owner) {
            counters.extend(kept.iter().map(|(k, v)| (k.clone(), *v)));
        }
    }
}

/// The catalog rows groups named, as stored.
#[derive(Default)]
struct Catalog {
    /// Platform code → active.
    platforms: HashMap<String, bool>,
    /// (platform, course code) → course.
    courses: HashMap<(String, String), CourseRow>,
    payers: HashMap<String, Payer>,
}

struct Payer {
    /// From when on it requires vouchers.
    voucher_required_since: Option<NaiveDateTime>,
    /// Its schedule versions, newest first.
    schedules: Vec<RateScheduleRow>,
}

impl Catalog {
    fn course(&self, platform: &str, code: &str) -> Option<&CourseRow> {
        self.courses.get(&(platform.to_owned(), code.to_owned()))
    }
}

impl Kept {
    /// Starts a group with this stamp: forgets the counters if someone else wrote since this
    /// writer's last commit, and the catalog if someone may have changed it since, then reads
    /// what the requests name and is not kept.
    fn refresh(
        &mut self,
        conn: &mut DbConn,
        requests: &[&Request],
        stamp: Stamp,
    ) -> Result<(), ServiceError> {
        // Current again only once this group commits.
        let last = self.generation.take();
        if last != Some(stamp.generation - 1) {
            self.counted = Counted::default();
        }
        if last.is_none_or(|last| stamp.catalog_generation >= last) {
            self.catalog = Catalog::default();
        }
        if self.counted.next_learner.is_none() {
            self.counted.next_learner = Some(ledger::next_learner_id(conn)?);
        }
        let events = || {
            requests.iter().flat_map(|r| {
                r.events
                    .iter()
                    .map(move |p| (r.platform.as_str(), &p.event))
            })
        };
        let catalog = &mut self.catalog;
        fill(
            &mut catalog.platforms,
            requests.iter().map(|r| r.platform.clone()),
            |codes| {
                let rows = rows::platforms_named(conn, &strs(codes))?;
                Ok(rows
                    .into_iter()
                    .map(|p| (p.code, p.status == "active"))
                    .collect())
            },
        )?;
        fill(
            &mut catalog.courses,
            events().map(|(platform, e)| (platform.to_owned(), e.course_code.clone())),
            |pairs| {
                let platforms = distinct(pairs.iter().map(|(p, _)| p.as_str()));
                let codes = distinct(pairs.iter().map(|(_, c)| c.as_str()));
                let rows = rows::courses_named(conn, &platforms, &codes)?;
                Ok(rows
                    .into_iter()
                    .map(|c| ((c.platform_code.clone(), c.code.clone()), c))
                    .collect())
            },
        )?;
        fill(
            &mut catalog.payers,
            events().map(|(_, e)| e.payer.clone()),
            |codes| {
                let codes = strs(codes);
                // Each payer's share of the versions stays newest first.
                let mut schedules: HashMap<String, Vec<RateScheduleRow>> = HashMap::new();
                for schedule in rows::schedules_of(conn, &codes)? {
                    schedules
                        .entry(schedule.payer_code.clone())
                        .or_default()
                        .push(schedule);
                }
                let rows = rows::payers_named(conn, &codes)?;
                Ok(rows
                    .into_iter()
                    .map(|(code, voucher_required_since)| {
                        let payer = Payer {
                            voucher_required_since,
                            schedules: schedules.remove(&code).unwrap_or_default(),
                        };
                        (code, payer)
                    })
                    .collect())
            },
        )?;
        // Counters only of the platforms and courses that exist.
        fill(
            &mut self.counted.platforms,
            requests
                .iter()
                .filter(|r| catalog.platforms.contains_key(&r.platform))
                .map(|r| r.platform.clone()),
            |codes| Ok(filed(codes, rows::platform_counters(conn, &strs(codes))?)),
        )?;
        fill(
            &mut self.counted.courses,
            events()
                .filter_map(|(platform, e)| catalog.course(platform, &e.course_code))
                .map(|c| c.id.clone()),
            |ids| Ok(filed(ids, rows::course_counters(conn, &strs(ids))?)),
        )?;
        Ok(())
    }

    /// The group that wrote `generation` committed with these counters and froze these
    /// courses: that is how they are stored now.
    fn committed(&mut self, generation: i64, recorded: Recorded, next_learner: i64) {
        let Recorded { counters, frozen } = recorded;
        for key in frozen {
            if let Some(course) = self.catalog.courses.get_mut(&key) {
                course.frozen = true;
            }
        }
        file(&mut self.counted.platforms, counters.platforms);
        file(&mut self.counted.courses, counters.courses);
        self.counted.next_learner = Some(next_learner);
        self.generation = Some(generation);
    }

    /// Adds the kept counters of these platforms and courses.
    fn add_counters(&self, counters: &mut Counters, platform_codes: &[&str], course_ids: &[&str]) {
        copy_filed(
            &self.counted.platforms,
            platform_codes,
            &mut counters.platforms,
        );
        copy_filed(&self.counted.courses, course_ids, &mut counters.courses);
    }
}

/// Reads, in one query, what `kept` lacks among the `wanted` keys, and keeps what `load` returns.
/// Loaders return only keys that exist, so codes a client makes up do not grow what is kept.
fn fill<K: Hash + Eq + Ord + Clone, V>(
    kept: &mut HashMap<K, V>,
    wanted: impl Iterator<Item = K>,
    load: impl FnOnce(&[K]) -> Result<Vec<(K, V)>, StoreError>,
) -> Result<(), StoreError> {
    let missing: Vec<K> = wanted
        .filter(|key| !kept.contains_key(key))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if !missing.is_empty() {
        kept.extend(load(&missing)?);
    }
    Ok(())
}

fn strs(keys: &[String]) -> Vec<&str> {
    keys.iter().map(String::as_str).collect()
}

/// The group's view of the books: what its events name, as stored, plus what it added so far.
struct Group<'k> {
    catalog: &'k Catalog,
    /// The vouchers the events name, as stored, with their live holders.
    vouchers: HashMap<String, HeldVoucher>,
    stored: HashMap<(String, String), CompletionRow>,
    certificates: HashSet<String>,
    learners: HashMap<Vec<u8>, LearnerRow>,
    /// The number the next new learner gets; a refused request's learners leave a gap.
    next_learner: i64,
    meter: Meter,
    loaded: crate::domain::Counters,
    added: Added,
    /// The ledger generation this group's transaction writes.
    generation: i64,
}

/// New learners in the order they were numbered, so that their rows are appended.
fn by_number(mut learners: Vec<LearnerRow>) -> Vec<LearnerRow> {
    learners.sort_unstable_by_key(|l| l.id);
    learners
}

/// Each key once, in order: the lists a group's set queries bind.
fn distinct<'a, K: Ord + ?Sized>(keys: impl Iterator<Item = &'a K>) -> Vec<&'a K> {
    keys.collect::<BTreeSet<_>>().into_iter().collect()
}

impl<'k> Group<'k> {
    /// Reads what the writer does not keep (learners, claims, vouchers, stored completions and
    /// certificates), one query per kind of row.
    fn load(
        conn: &mut DbConn,
        kept: &'k Kept,
        requests: &[&Request],
        generation: i64,
    ) -> Result<Group<'k>, ServiceError> {
        let events = || requests.iter().flat_map(|r| r.events.iter());
        let platform_codes = distinct(requests.iter().map(|r| r.platform.as_str()));
        let event_ids = distinct(events().map(|p| p.event.event_id.as_str()));
        let payer_codes = distinct(events().map(|p| p.event.payer.as_str()));
        let hashes = distinct(events().map(|p| p.id_hash.as_bytes()));
        let certificates = distinct(events().filter_map(|p| p.event.certificate_no.as_deref()));
        let voucher_codes = distinct(events().filter_map(|p| p.event.voucher_code.as_deref()));
        let course_ids = distinct(requests.iter().flat_map(|r| {
            r.events
                .iter()
                .filter_map(|p| kept.catalog.course(&r.platform, &p.event.course_code))
                .map(|c| c.id.as_str())
        }));

        let learners: HashMap<_, _> = rows::learners_hashed(conn, &hashes)?
            .into_iter()
            .map(|l| (l.id_hash.clone(), l))
            .collect();
        let learner_ids: Vec<i64> = learners.values().map(|l| l.id).collect();
        let years: Vec<i32> = events()
            .map(|p| TrainingYear::of(p.event.certified_at).value())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let stored = rows::completions_named(conn, &platform_codes, &event_ids, &certificates)?;
        let mut loaded =
            rows::learner_counters(conn, &payer_codes, &years, &learner_ids, &course_ids)?;
        kept.add_counters(&mut loaded, &platform_codes, &course_ids);
        Ok(Group {
            catalog: &kept.catalog,
            vouchers: voucher_rows::named(conn, &voucher_codes)?
                .into_iter()
                .map(|v| (v.voucher.code.clone(), v))
                .collect(),
            certificates: stored
                .iter()
                .filter_map(|c| c.certificate_no.clone())
                .collect(),
            stored: stored
                .into_iter()
                .map(|c| ((c.platform_code.clone(), c.event_id.clone()), c))
                .collect(),
            learners,
            meter: Meter::new(loaded.clone()),
            loaded,
            added: Added::default(),
            next_learner: kept.counted.next_learner.expect("read by Kept::refresh"),
            generation,
        })
    }

    /// Answers one request: every event stored, or the request refused with every reason.
    fn take(&mut self, request: &Request, now: DateTime<Utc>) -> Answer {
        match self.catalog.platforms.get(&request.platform) {
            None => return Err(ServiceError::NotFound("platform")),
            Some(false) => {
                return Err(ServiceError::Forbidden {
                    code: "platform_suspended",
                    detail: format!("platform {} is suspended", request.platform),
                })
            }
            Some(true) => {}
        }
        let mark = self.meter.mark();
        let mut added = Added::default();
        let mut refusals = Refusals::default();
        let mut results = Vec::with_capacity(request.events.len());
        for (i, prepared) in request.events.iter().enumerate() {
            match self.meter_one(&request.platform, prepared, &mut added, now) {
                Ok(result) => results.push(result),
                Err(errors) => {
                    let prefix = if request.batch {
                        format!("events[{i}]")
                    } else {
                        String::new()
                    };
                    refusals.extend(errors.into_iter().map(|e| e.within(&prefix)).collect());
                }
            }
        }
        if let Err(refused) = refusals.into_result() {
            self.meter.rollback(mark);
            return Err(refused);
        }
        self.added.merge(added);
        Ok(results)
    }

    /// A completion stored before, or added earlier in this group or this request.
    fn completion<'a>(
        &'a self,
        request: &'a Added,
        platform: &str,
        event_id: &str,
    ) -> Option<&'a CompletionRow> {
        request
            .completion(platform, event_id)
            .or_else(|| self.added.completion(platform, event_id))
            .or_else(|| self.stored.get(&(platform.to_owned(), event_id.to_owned())))
    }

    /// Check, then decide: a replay answers as first answered; anything refused names its field.
    fn meter_one(
        &mut self,
        platform: &str,
        prepared: &Prepared,
        request: &mut Added,
        now: DateTime<Utc>,
    ) -> Result<CompletionResult, Vec<FieldError>> {
        let event = &prepared.event;
        if let Some(earlier) = self.completion(request, platform, &event.event_id) {
            return if earlier.content_hash == prepared.content_hash {
                Ok(CompletionResult::of(earlier, true))
            } else {
                Err(vec![FieldError::new(
                    "event_id",
                    "event_id_conflict",
                    "was already used for a completion with different content",
                )])
            };
        }
        let mut refusals = Refusals::default();
        let course = self.catalog.course(platform, &event.course_code).cloned();
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
        let payer = self.catalog.payers.get(&event.payer);
        let payer_known = payer.is_some();
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
        // The version in force: the latest effective on or before the training year.
        let schedule = payer
            .and_then(|p| {
                p.schedules
                    .iter()
                    .find(|s| s.effective_year <= year.value())
            })
            .cloned();
        if payer_known && schedule.is_none() {
            refusals.add(
                "payer",
                "no_rate_schedule",
                format!("has no rate schedule for training year {year}"),
            );
        }
        if let Some(number) = &event.certificate_no {
            if self.certificates.contains(number)
                || self.added.certificates.contains(number)
                || request.certificates.contains(number)
            {
                refusals.add(
                    "certificate_no",
                    "certificate_already_used",
                    "was already reported with another event",
                );
            }
        }
        let learner = self.learner(prepared, request, now);
        if let Err(mismatch) = &learner {
            refusals.extend(vec![mismatch.clone().within("learner")]);
        }
        if !refusals.is_empty() {
            return Err(refusals.into_errors());
        }
        let (Some(course), Some(schedule_row), Ok(learner_id)) = (course, schedule, learner) else {
            unreachable!("every missing part was refused above");
        };
        let level: Level = course.level.parse().expect("stored level is valid");
        self.voucher_check(prepared, request, level, now)
            .map_err(|refusal| {
                vec![FieldError::new(
                    "voucher_code",
                    refusal.code(),
                    refusal.message(),
                )]
            })?;
        let schedule = schedule_of(&schedule_row);
        let course_hours = u32::try_from(course.class_hours).unwrap_or(0);
        let gross = schedule.gross(level, event.class_hours);
        let platform_year = (event.payer.clone(), platform.to_owned(), year.value());
        let platform_before = self.platform_granted(&platform_year);
        let decision = self.meter.decide(&Metered {
            payer: &event.payer,
            platform,
            learner: learner_id,
            course: &course.id,
            year: year.value(),
            certified: event.certificate_no.is_some(),
            gross,
            saturation: schedule.saturation_limit(level, course_hours),
            learner_cap: schedule.learner_annual_cap,
            platform_ceiling: schedule.platform_annual_ceiling,
        });
        let row = CompletionRow {
            id: new_id(),
            platform_code: platform.to_owned(),
            event_id: event.event_id.clone(),
            content_hash: prepared.content_hash.clone(),
            course_id: course.id,
            learner_id,
            payer_code: event.payer.clone(),
            class_hours: i32::try_from(event.class_hours).expect("range checked"),
            level: course.level,
            certificate_no: event.certificate_no.clone(),
            certified_at: Some(event.certified_at.naive_utc()),
            training_year: Some(year.value()),
            status: decision.status.as_str().to_owned(),
            gross_fen: gross.fen(),
            granted_fen: decision.granted.fen(),
            limited_by: decision.limited_by.map(|l| l.as_str().to_owned()),
            schedule_id: Some(schedule_row.id),
            received_at: now.naive_utc(),
            revoked_at: None,
            revoke_reason: None,
            generation: self.generation,
            revoked_generation: None,
            // A granted completion redeems its voucher; a duplicate claim or an uncertified
            // event leaves it for the one that will be paid.
            voucher_code: event
                .voucher_code
                .clone()
                .filter(|_| decision.status == CompletionStatus::Accepted),
        };
        let result = CompletionResult::of(&row, false);
        if !course.frozen {
            let key = (platform.to_owned(), event.course_code.clone());
            request.frozen.insert(key, row.course_id.clone());
        }
        if decision.course_turned_free {
            request.notices.push(Notice {
                platform: platform.to_owned(),
                event: EventType::CourseSaturated,
                data: json!({
                    "platform": platform,
                    "payer": event.payer,
                    "course_code": event.course_code,
                    "saturation": schedule.saturation_limit(level, course_hours),
                    "by_event_id": event.event_id,
                }),
            });
        }
        let ceiling = schedule.platform_annual_ceiling;
        let platform_after = self.platform_granted(&platform_year);
        for event_type in ceiling_crossings(platform_before, platform_after, ceiling) {
            request.notices.push(Notice {
                platform: platform.to_owned(),
                event: event_type,
                data: json!({
                    "platform": platform,
                    "payer": event.payer,
                    "training_year": year.value(),
                    "granted": platform_after,
                    "ceiling": ceiling,
                    "by_event_id": event.event_id,
                }),
            });
        }
        if let Some(code) = &row.voucher_code {
            request.redeemed.insert(code.clone());
        }
        request.push(row);
        Ok(result)
    }

    /// A voucher the event names must be redeemable by it, and a payer that requires vouchers
    /// pays nothing without one. Redemptions earlier in this group count.
    fn voucher_check(
        &self,
        prepared: &Prepared,
        request: &Added,
        level: Level,
        now: DateTime<Utc>,
    ) -> Result<(), VoucherRefusal> {
        let event = &prepared.event;
        let required = self
            .catalog
            .payers
            .get(&event.payer)
            .and_then(|p| p.voucher_required_since)
            .is_some_and(|since| since <= now.naive_utc());
        let Some(code) = &event.voucher_code else {
            return if required {
                Err(VoucherRefusal::Required)
            } else {
                Ok(())
            };
        };
        let stored = self.vouchers.get(code);
        let taken = request.redeemed.contains(code) || self.added.redeemed.contains(code);
        let voucher = stored.map(|held| {
            let v = &held.voucher;
            Voucher {
                payer: &v.payer_code,
                learner: &v.learner_hash,
                valid_from: v.valid_from.and_utc(),
                valid_until: v.valid_until.and_utc(),
                level: v.level.as_deref().and_then(|l| l.parse().ok()),
                course: v.course_code.as_deref(),
                status: match held.status() {
                    VoucherStatus::Issued if taken => VoucherStatus::Redeemed,
                    status => status,
                },
            }
        });
        redeemable(
            voucher.as_ref(),
            &Redemption {
                payer: &event.payer,
                learner: prepared.id_hash.as_bytes(),
                certified_at: event.certified_at,
                level,
                course: &event.course_code,
            },
        )
    }

    /// The learner's id, first seen now or before; a name that differs from the one first
    /// reported with the ID number is refused.
    fn learner(
        &mut self,
        prepared: &Prepared,
        request: &mut Added,
        now: DateTime<Utc>,
    ) -> Result<LearnerId, FieldError> {
        let input = &prepared.event.learner;
        let hash = prepared.id_hash.as_bytes();
        let known = request
            .learners
            .get(hash)
            .or_else(|| self.added.learners.get(hash))
            .or_else(|| self.learners.get(hash));
        match known {
            Some(known) if known.name != input.name => Err(FieldError::new(
                "name",
                "learner_name_mismatch",
                "differs from the name first reported with this ID number",
            )),
            Some(known) => Ok(known.id),
            None => {
                let row = LearnerRow {
                    id: self.next_learner,
                    id_hash: hash.to_vec(),
                    id_masked: input.id_number.masked(),
                    name: input.name.clone(),
                    created_at: now.naive_utc(),
                };
                self.next_learner += 1;
                let id = row.id;
                request.learners.insert(row.id_hash.clone(), row);
                Ok(id)
            }
        }
    }

    /// What the platform's year has granted so far in this group's view.
    fn platform_granted(&self, key: &crate::domain::metering::PlatformYear) -> Money {
        self.meter
            .counters()
            .platforms
            .get(key)
            .copied()
            .unwrap_or(Money::ZERO)
    }

    /// Writes what the group added: learners, completions (the audit trail derives their
    /// recording from the rows, see `audit::recorded`; the accepted ones are the claims), each
    /// counter it changed, once, and the messages its platforms are sent. Answers the counters
    /// as they now stand.
    fn record(self, conn: &mut DbConn, now: DateTime<Utc>) -> Result<Recorded, ServiceError> {
        // Each platform's endpoints are loaded once, and only when it has something to hear.
        let mut endpoints = HashMap::new();
        for notice in &self.added.notices {
            if !endpoints.contains_key(&notice.platform) {
                let loaded = crate::store::webhooks::endpoints_of(conn, &notice.platform)?;
                endpoints.insert(notice.platform.clone(), loaded);
            }
            super::webhooks::notify_endpoints(
                conn,
                now.naive_utc(),
                &endpoints[&notice.platform],
                notice.event,
                &notice.data,
            )?;
        }
        // The courses whose first completions these are: their level and hours are fixed now.
        let (frozen, ids): (Vec<_>, Vec<_>) = self.added.frozen.into_iter().unzip();
        rows::freeze_courses(conn, &strs(&ids))?;
        rows::record(
            conn,
            &GroupWrites {
                learners: by_number(self.added.learners.into_values().collect()),
                completions: self.added.completions,
                before: &self.loaded,
                after: self.meter.counters(),
                now: now.naive_utc(),
            },
        )?;
        Ok(Recorded {
            counters: self.meter.into_counters(),
            frozen,
        })
    }
}

/// What a group's transaction stored that the writer keeps: the counters after it, and the
/// courses it froze, by (platform, code).
struct Recorded {
    counters: Counters,
    frozen: Vec<(String, String)>,
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::domain::IdNumber;
    use crate::store::models::PlatformRow;
    use crate::store::schema::{course_usage, learner_year_usage, learners, platform_year_usage};
    use crate::store::{catalog, DatabaseUrl, StoreError};
    use chrono::{NaiveDate, TimeZone};
    use diesel::prelude::*;
    use proptest::prelude::*;
    use serde_json::json;
    use sha2::{Digest, Sha256};
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};

    pub(in crate::service) fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2022, 12, 15, 2, 0, 0).unwrap()
    }

    /// A store on the SQLite file `name`, as one process (replica) of the gateway opens it.
    pub(in crate::service) fn replica(dir: &std::path::Path, name: &str) -> Store {
        Store::open(
            &DatabaseUrl::Sqlite(dir.join(name)),
            2,
            Duration::from_secs(5),
        )
        .unwrap()
    }

    /// A store with platforms P and Q (Q suspended), three courses each, the seed schedule.
    pub(in crate::service) fn store(dir: &std::path::Path, name: &str) -> Store {
        let store = replica(dir, name);
        store
            .write(|conn| {
                let at = now().naive_utc();
                for (code, status) in [("P", "active"), ("Q", "suspended")] {
                    catalog::insert_platform(
                        conn,
                        &PlatformRow {
                            code: code.into(),
                            name: code.into(),
                            status: status.into(),
                            client_id: format!("client-{code}"),
                            client_secret_hash: String::new(),
                            created_at: at,
                            updated_at: at,
                            token_version: 0,
                        },
                    )?;
                    for (i, level) in ["junior", "intermediate", "senior"].iter().enumerate() {
                        catalog::insert_course(
                            conn,
                            &CourseRow {
                                id: format!("{code}-course-{i}"),
                                platform_code: code.into(),
                                code: format!("C{i}"),
                                title: "course".into(),
                                level: (*level).into(),
                                class_hours: 10,
                                created_at: at,
                                updated_at: at,
                                frozen: false,
                            },
                        )?;
                    }
                }
                Ok::<_, StoreError>(())
            })
            .unwrap();
        store
    }

    /// (learner, course, class hours, resend, certified, unknown course)
    type Spec = (u8, u8, u8, u8, bool, bool);

    /// Event `n`: few learners and courses so that claims, caps and saturation bind, with the
    /// odd resend of an earlier event id and the odd refusal (unknown course).
    fn prepared(spec: &Spec, n: usize) -> Prepared {
        let (learner, course, hours, resend, certified, bad_course) = *spec;
        let event_id = if resend < 40 {
            format!("e{}", resend % 8)
        } else {
            format!("e-{n}")
        };
        let value = json!({
            "event_id": event_id,
            "course_code": if bad_course { "nope".to_owned() } else { format!("C{course}") },
            "learner": {
                "id_number": IdNumber::complete(&format!("11010519900101{:03}", 100 + learner)),
                "name": format!("学员{learner}"),
            },
            "class_hours": hours,
            "certificate_no": certified.then(|| format!("CERT-{event_id}")),
            "certified_at": "2022-06-01T10:00:00+08:00",
        });
        let today = NaiveDate::from_ymd_opt(2022, 12, 15).unwrap();
        let event = CompletionEvent::parse(&value, "", today).expect("a well-formed event");
        let id_hash = LearnerHash::from(<[u8; 32]>::from(Sha256::digest(
            event.learner.id_number.expose(),
        )));
        let content_hash = event.content_hash(&id_hash);
        Prepared {
            event,
            id_hash,
            content_hash,
        }
    }

    /// A request of one to three events; those led by learner 7 go to the suspended platform.
    fn request(specs: &[Spec], n: usize) -> Request {
        Request {
            platform: if specs[0].0 == 7 { "Q" } else { "P" }.into(),
            events: specs
                .iter()
                .enumerate()
                .map(|(i, spec)| prepared(spec, n * 4 + i))
                .collect(),
            batch: specs.len() > 1,
        }
    }

    fn answers(store: &Store, kept: &mut Kept, group: &[Request]) -> Vec<String> {
        joined_answers(store, kept, group, group.len())
    }

    /// The first `taken` requests of `group` as taken before the ledger lock, the rest as
    /// joining once it is held.
    fn joined_answers(
        store: &Store,
        kept: &mut Kept,
        group: &[Request],
        taken: usize,
    ) -> Vec<String> {
        let mut refs: Vec<&Request> = group[..taken].iter().collect();
        let joining = &group[taken..];
        apply(store, kept, &ManualClock::at(now()), &mut refs, |refs| {
            refs.extend(joining)
        })
        .unwrap()
        .iter()
        .map(|answer| format!("{answer:?}"))
        .collect()
    }

    pub(in crate::service) fn event(learner: u8) -> Request {
        request(&[(learner, 0, 10, 99, true, false)], usize::from(learner))
    }

    /// What another writer changes between two groups (here: suspending the platform) is what
    /// the next group sees, although the writer keeps catalog rows.
    #[test]
    fn what_others_write_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path(), "books.db");
        let mut kept = Kept::default();
        let first = answers(&store, &mut kept, &[event(1)]);
        assert!(first[0].starts_with("Ok("), "{first:?}");
        assert!(kept.catalog.platforms.contains_key("P") && kept.generation.is_some());
        let second = answers(&store, &mut kept, &[event(2)]);
        assert!(second[0].starts_with("Ok("), "{second:?}");

        store
            .write(|conn| {
                use crate::store::schema::platforms;
                diesel::update(platforms::table.find("P"))
                    .set(platforms::status.eq("suspended"))
                    .execute(conn)?;
                Ok::<_, StoreError>(())
            })
            .unwrap();
        let refused = answers(&store, &mut kept, &[event(3)]);
        assert!(refused[0].contains("platform_suspended"), "{refused:?}");
    }

    /// Another replica's group moves the ledger generation but leaves the catalog: this writer
    /// then reads the counters again and keeps the catalog rows (here shown by a change made by
    /// hand, around the ledger lock, that it does not see); any other write makes it read them.
    #[test]
    fn a_replica_keeps_the_catalog_while_only_groups_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path(), "books.db");
        let other = replica(dir.path(), "books.db");
        let (mut kept, mut others) = (Kept::default(), Kept::default());
        answers(&store, &mut kept, &[event(1)]);
        answers(&other, &mut others, &[event(2)]);
        store
            .read(|conn| {
                use crate::store::schema::platforms;
                diesel::update(platforms::table.find("P"))
                    .set(platforms::status.eq("suspended"))
                    .execute(conn)
                    .map_err(StoreError::from)
            })
            .unwrap();

        let kept_catalog = answers(&store, &mut kept, &[event(3)]);
        assert!(kept_catalog[0].starts_with("Ok("), "{kept_catalog:?}");
        let stored: i64 = store
            .read(|conn| {
                platform_year_usage::table
                    .select(platform_year_usage::granted_fen)
                    .first(conn)
                    .map_err(StoreError::from)
            })
            .unwrap();
        let counted = kept.counted.platforms["P"].values().next().unwrap().fen();
        assert_eq!(
            (stored, counted),
            (3 * 3_000, 3 * 3_000),
            "the counters read again"
        );

        // An empty money transaction: the ledger row updated as any other write (an older
        // gateway's too) updates it.
        store.write(|_| Ok::<_, StoreError>(())).unwrap();
        let refused = answers(&store, &mut kept, &[event(4)]);
        assert!(refused[0].contains("platform_suspended"), "{refused:?}");
    }

    /// A group whose transaction fails stores nothing and leaves nothing kept: what it read and
    /// decided is not trusted by the next group.
    #[test]
    fn a_failed_group_keeps_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path(), "books.db");
        let mut kept = Kept::default();
        answers(&store, &mut kept, &[event(1)]);
        assert!(kept.generation.is_some() && !kept.counted.platforms.is_empty());

        store
            .write(|conn| {
                diesel::connection::SimpleConnection::batch_execute(
                    conn,
                    "CREATE TRIGGER refuse BEFORE INSERT ON completions \
                     BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
                )?;
                Ok::<_, StoreError>(())
            })
            .unwrap();
        let second = event(2);
        let failed = apply(
            &store,
            &mut kept,
            &ManualClock::at(now()),
            &mut vec![&second],
            |_| (),
        );
        assert!(failed.is_err());
        assert!(kept.generation.is_none());
        assert!(kept.catalog.platforms.is_empty() && kept.counted.platforms.is_empty());
    }

    /// Requests that queue while the writer waits for the ledger lock (here held by another
    /// replica) join its group: they are taken only once the lock is held, and committed with
    /// the first in one transaction.
    #[test]
    fn requests_queued_during_the_wait_for_the_lock_join_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path(), "books.db");
        let other = replica(dir.path(), "books.db");
        let (locked, lock_held) = std::sync::mpsc::channel();
        let released = AtomicBool::new(false);
        let (first, joining) = (event(1), event(2));
        std::thread::scope(|scope| {
            scope.spawn(|| {
                other
                    .write(|_| {
                        locked.send(()).unwrap();
                        std::thread::sleep(Duration::from_millis(300));
                        released.store(true, SeqCst);
                        Ok::<_, StoreError>(())
                    })
                    .unwrap();
            });
            lock_held.recv().unwrap();
            let mut batch = vec![&first];
            let answers = apply(
                &store,
                &mut Kept::default(),
                &ManualClock::at(now()),
                &mut batch,
                |batch| {
                    assert!(released.load(SeqCst));
                    batch.push(&joining);
                },
            )
            .unwrap();
            assert_eq!(batch.len(), 2);
            assert!(answers.iter().all(Result::is_ok), "{answers:?}");
        });
        assert_one_transaction(&store, 2);
    }

    /// The books hold `completions` completions, all written by one money transaction (each
    /// is stamped with the ledger generation that wrote it).
    pub(in crate::service) fn assert_one_transaction(store: &Store, completions: usize) {
        let generations: Vec<i64> = store
            .read(|conn| {
                use crate::store::schema::completions;
                completions::table
                    .select(completions::generation)
                    .load(conn)
                    .map_err(StoreError::from)
            })
            .unwrap();
        assert_eq!(generations.len(), completions);
        assert!(
            generations.windows(2).all(|w| w[0] == w[1]),
            "{generations:?}"
        );
    }

    type Snapshot = (
        Vec<(Vec<u8>, i32, i64)>,
        Vec<(String, i32, i64)>,
        Vec<(String, i64, bool)>,
        Vec<String>,
    );

    /// Every counter, keyed by what is the same in both stores (ID hash, course id), and the
    /// frozen courses.
    fn counters(store: &Store) -> Snapshot {
        use crate::store::schema::courses;
        store
            .read(|conn| {
                let by_learner = learner_year_usage::table
                    .inner_join(learners::table.on(learners::id.eq(learner_year_usage::learner_id)))
                    .select((
                        learners::id_hash,
                        learner_year_usage::training_year,
                        learner_year_usage::granted_fen,
                    ))
                    .order(learners::id_hash)
                    .load(conn)?;
                let by_platform = platform_year_usage::table
                    .select((
                        platform_year_usage::platform_code,
                        platform_year_usage::training_year,
                        platform_year_usage::granted_fen,
                    ))
                    .order(platform_year_usage::platform_code)
                    .load(conn)?;
                let by_course = course_usage::table
                    .select((
                        course_usage::course_id,
                        course_usage::granted_fen,
                        course_usage::free_since.is_not_null(),
                    ))
                    .order(course_usage::course_id)
                    .load(conn)?;
                let frozen = courses::table
                    .filter(courses::frozen)
                    .select(courses::id)
                    .order(courses::id)
                    .load(conn)?;
                Ok::<_, StoreError>((by_learner, by_platform, by_course, frozen))
            })
            .unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Requests applied in random groups, part of each joining once the lock is held,
        /// answer and count exactly as applied one by one, refused requests included.
        #[test]
        fn grouping_changes_no_result(
            specs in prop::collection::vec(
                prop::collection::vec(
                    (0u8..8, 0u8..3, 1u8..=10, 0u8..100, prop::bool::weighted(0.9), prop::bool::weighted(0.05)),
                    1..4,
                ),
                1..60,
            ),
            cuts in prop::collection::vec(any::<bool>(), 60),
            by_other in prop::collection::vec(prop::bool::weighted(0.3), 60),
            taken_first in prop::collection::vec(1usize..4, 60),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let requests: Vec<Request> =
                specs.iter().enumerate().map(|(n, s)| request(s, n)).collect();
            let alone = store(dir.path(), "alone.db");
            let mut kept = Kept::default();
            let expected: Vec<String> = requests
                .chunks(1)
                .flat_map(|single| answers(&alone, &mut kept, single))
                .collect();

            // Two writers on the grouped books, as two replicas: each keeps its own counters
            // and must notice the other's groups.
            let grouped = store(dir.path(), "grouped.db");
            let other = replica(dir.path(), "grouped.db");
            let writers = [&grouped, &other];
            let mut kept = [Kept::default(), Kept::default()];
            let mut got = vec![];
            let mut start = 0;
            for end in 1..=requests.len() {
                if end == requests.len() || cuts[end] {
                    let writer = usize::from(by_other[start]);
                    let taken = taken_first[start].min(end - start);
                    got.extend(joined_answers(
                        writers[writer],
                        &mut kept[writer],
                        &requests[start..end],
                        taken,
                    ));
                    start = end;
                }
            }
            prop_assert_eq!(got, expected);
            let books = counters(&grouped);
            prop_assert_eq!(&books, &counters(&alone));
            // Frozen are exactly the courses with completions, whichever writer stored the first.
            let completed: Vec<String> = grouped
                .read(|conn| {
                    use crate::store::schema::completions;
                    let ids = completions::table
                        .select(completions::course_id)
                        .distinct()
                        .order(completions::course_id)
                        .load(conn)?;
                    Ok::<_, StoreError>(ids)
                })
                .unwrap();
            prop_assert_eq!(books.3, completed);
        }
    }
}
