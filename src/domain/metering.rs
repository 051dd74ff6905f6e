//! Deciding completions against the counters: each event, in arrival order, sees every grant
//! decided before it. The service loads the counters a group of events touches, [`Meter`]
//! decides every event in memory, and the store records what changed. A refused request is
//! undone exactly ([`Meter::rollback`]), so the requests after it see the counters as if it had
//! never come.

use super::{grant, Limit, Money, Remaining};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use utoipa::ToSchema;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CompletionStatus {
    Accepted,
    Uncertified,
    DuplicateClaim,
}

impl CompletionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CompletionStatus::Accepted => "accepted",
            CompletionStatus::Uncertified => "uncertified",
            CompletionStatus::DuplicateClaim => "duplicate_claim",
        }
    }

    pub fn parse(text: &str) -> Option<CompletionStatus> {
        [
            CompletionStatus::Accepted,
            CompletionStatus::Uncertified,
            CompletionStatus::DuplicateClaim,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }
}

/// A learner as the books number them.
pub type LearnerId = i64;
/// A learner's grants from one payer in one training year: `(payer, learner, year)`.
pub type LearnerYear = (String, LearnerId, i32);
/// A platform's grants from one payer in one training year: `(payer, platform, year)`.
pub type PlatformYear = (String, String, i32);
/// A course's grants from one payer: `(payer, course)`.
pub type CourseKey = (String, String);
/// One paid claim per learner × course, whoever pays: `(learner, course)`.
pub type ClaimKey = (LearnerId, String);

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CourseCounter {
    pub granted: Money,
    /// Reached its saturation once: free for good, whatever the counter says after revocations.
    pub free: bool,
}

/// The counters and claims of the keys a group of events touches. A key that is absent has
/// nothing granted yet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub learners: HashMap<LearnerYear, Money>,
    pub platforms: HashMap<PlatformYear, Money>,
    pub courses: HashMap<CourseKey, CourseCounter>,
    pub claims: HashSet<ClaimKey>,
}

/// One completion as the limits see it: whose it is and what it is worth.
#[derive(Clone, Copy, Debug)]
pub struct Metered<'a> {
    pub payer: &'a str,
    pub platform: &'a str,
    pub learner: LearnerId,
    pub course: &'a str,
    pub year: i32,
    /// Without a certificate nothing is paid (RULES.md §1).
    pub certified: bool,
    pub gross: Money,
    /// The course's saturation under the schedule in force.
    pub saturation: Money,
    pub learner_cap: Money,
    pub platform_ceiling: Money,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub status: CompletionStatus,
    pub granted: Money,
    pub limited_by: Option<Limit>,
    /// This grant brought the course to its saturation: from now on it is free.
    pub course_turned_free: bool,
}

/// A value as it was before a decision changed it, to put back on rollback.
#[derive(Debug)]
enum Undo {
    Learner(LearnerYear, Option<Money>),
    Platform(PlatformYear, Option<Money>),
    Course(CourseKey, Option<CourseCounter>),
    Claim(ClaimKey),
}

/// Decides completions in order over [`Counters`], keeping what it changed so that a refused
/// request can be taken back.
#[derive(Debug, Default)]
pub struct Meter {
    counters: Counters,
    undo: Vec<Undo>,
}

/// A point to roll back to: the decisions made after it are undone.
#[derive(Clone, Copy, Debug)]
pub struct Mark(usize);

impl Meter {
    pub fn new(counters: Counters) -> Meter {
        Meter {
            counters,
            undo: Vec::new(),
        }
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub fn into_counters(self) -> Counters {
        self.counters
    }

    pub fn mark(&self) -> Mark {
        Mark(self.undo.len())
    }

    /// Undoes every decision made since `mark`, newest first.
    pub fn rollback(&mut self, mark: Mark) {
        for undo in self.undo.drain(mark.0..).rev() {
            match undo {
                Undo::Learner(key, before) => restore(&mut self.counters.learners, key, before),
                Undo::Platform(key, before) => restore(&mut self.counters.platforms, key, before),
                Undo::Course(key, before) => restore(&mut self.counters.courses, key, before),
                Undo::Claim(key) => {
                    self.counters.claims.remove(&key);
                }
            }
        }
    }

    /// Decides one completion and books its grant: `granted = min(gross, what is left under
    /// each limit)`, zero without a certificate, for a second claim of the course, or once the
    /// course is free.
    pub fn decide(&mut self, event: &Metered) -> Decision {
        let nothing = |status| Decision {
            status,
            granted: Money::ZERO,
            limited_by: None,
            course_turned_free: false,
        };
        if !event.certified {
            return nothing(CompletionStatus::Uncertified);
        }
        let claim = (event.learner, event.course.to_owned());
        if self.counters.claims.contains(&claim) {
            return nothing(CompletionStatus::DuplicateClaim);
        }
        let learner_key = (event.payer.to_owned(), event.learner, event.year);
        let platform_key = (
            event.payer.to_owned(),
            event.platform.to_owned(),
            event.year,
        );
        let course_key = (event.payer.to_owned(), event.course.to_owned());
        let learner_used = self.counters.learners.get(&learner_key).copied();
        let platform_used = self.counters.platforms.get(&platform_key).copied();
        let course = self.counters.courses.get(&course_key).copied();
        let course_now = course.unwrap_or_default();
        let decided = grant(
            event.gross,
            Remaining {
                learner: event
                    .learner_cap
                    .remaining_after(learner_used.unwrap_or_default()),
                course: event.saturation.remaining_after(course_now.granted),
                platform: event
                    .platform_ceiling
                    .remaining_after(platform_used.unwrap_or_default()),
                course_free: course_now.free,
            },
        );
        let granted = decided.granted;
        let course_turned_free =
            !course_now.free && course_now.granted + granted >= event.saturation;
        self.counters.claims.insert(claim.clone());
        self.undo.push(Undo::Claim(claim));
        self.counters.learners.insert(
            learner_key.clone(),
            learner_used.unwrap_or_default() + granted,
        );
        self.undo.push(Undo::Learner(learner_key, learner_used));
        self.counters.platforms.insert(
            platform_key.clone(),
            platform_used.unwrap_or_default() + granted,
        );
        self.undo.push(Undo::Platform(platform_key, platform_used));
        self.counters.courses.insert(
            course_key.clone(),
            CourseCounter {
                granted: course_now.granted + granted,
                free: course_now.free || course_turned_free,
            },
        );
        self.undo.push(Undo::Course(course_key, course));
        Decision {
            status: CompletionStatus::Accepted,
            granted,
            limited_by: decided.limited_by,
            course_turned_free,
        }
    }
}

fn restore<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>, key: K, before: Option<V>) {
    match before {
        Some(value) => map.insert(key, value),
        None => map.remove(&key),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn yuan(text: &str) -> Money {
        Money::parse(text).unwrap()
    }

    fn event<'a>(learner: LearnerId, course: &'a str, gross: &str) -> Metered<'a> {
        Metered {
            payer: "province",
            platform: "P",
            learner,
            course,
            year: 2022,
            certified: true,
            gross: yuan(gross),
            saturation: yuan("100.00"),
            learner_cap: yuan("300.00"),
            platform_ceiling: yuan("3000000.00"),
        }
    }

    #[test]
    fn the_worked_example_for_learner_a() {
        // RULES.md: 30.00, then 250.00, then 40.00 of which 20.00 fits under the cap.
        let mut meter = Meter::default();
        let wide = |course, gross| Metered {
            saturation: yuan("300000.00"),
            ..event(1, course, gross)
        };
        let steps = [
            wide("C1", "30.00"),
            wide("C2", "250.00"),
            wide("C3", "40.00"),
        ];
        let granted: Vec<_> = steps.iter().map(|e| meter.decide(e).granted).collect();
        assert_eq!(granted, [yuan("30.00"), yuan("250.00"), yuan("20.00")]);
        let key = ("province".to_owned(), 1, 2022);
        assert_eq!(meter.counters().learners[&key], yuan("300.00"));
    }

    #[test]
    fn a_course_turns_free_at_its_saturation_and_stays_free() {
        let mut meter = Meter::default();
        let first = meter.decide(&event(1, "C", "60.00"));
        assert!(!first.course_turned_free);
        let second = meter.decide(&event(2, "C", "60.00"));
        assert_eq!(second.granted, yuan("40.00"));
        assert_eq!(second.limited_by, Some(Limit::CourseSaturated));
        assert!(second.course_turned_free);
        let third = meter.decide(&event(3, "C", "1.00"));
        assert_eq!(
            (third.granted, third.course_turned_free),
            (Money::ZERO, false)
        );
    }

    #[test]
    fn second_claims_and_uncertified_events_earn_nothing() {
        let mut meter = Meter::default();
        meter.decide(&event(1, "C", "10.00"));
        let again = meter.decide(&event(1, "C", "10.00"));
        assert_eq!(again.status, CompletionStatus::DuplicateClaim);
        let uncertified = Metered {
            certified: false,
            ..event(2, "C", "10.00")
        };
        assert_eq!(
            meter.decide(&uncertified).status,
            CompletionStatus::Uncertified
        );
        assert!(!meter.counters().claims.contains(&(2, "C".into())));
    }

    #[test]
    fn statuses_round_trip() {
        for status in [
            CompletionStatus::Accepted,
            CompletionStatus::Uncertified,
            CompletionStatus::DuplicateClaim,
        ] {
            assert_eq!(CompletionStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(CompletionStatus::parse("paid"), None);
    }

    /// (learner, course, gross in fen, certified), over few keys so that limits bind.
    fn events() -> impl Strategy<Value = Vec<(u8, u8, i64, bool)>> {
        prop::collection::vec(
            (0u8..4, 0u8..4, 1i64..15_000, prop::bool::weighted(0.9)),
            0..40,
        )
    }

    fn metered<'a>(e: &(u8, u8, i64, bool), names: &'a [String]) -> Metered<'a> {
        Metered {
            payer: "province",
            platform: if e.0.is_multiple_of(2) { "P" } else { "Q" },
            learner: LearnerId::from(e.0),
            course: &names[usize::from(e.1)],
            year: 2022,
            certified: e.3,
            gross: Money::from_fen(e.2),
            saturation: yuan("150.00"),
            learner_cap: yuan("300.00"),
            platform_ceiling: yuan("250.00"),
        }
    }

    proptest! {
        /// Requests refused and rolled back leave the counters, and every later decision,
        /// exactly as if they had never come.
        #[test]
        fn rollback_is_an_exact_mirror(
            sequence in events(),
            refused in prop::collection::vec(prop::bool::weighted(0.3), 40),
        ) {
            let names: Vec<String> = (0..4).map(|i| format!("k{i}")).collect();
            let mut with_refusals = Meter::default();
            let mut without = Meter::default();
            for (i, e) in sequence.iter().enumerate() {
                let event = metered(e, &names);
                let mark = with_refusals.mark();
                let decided = with_refusals.decide(&event);
                if refused[i] {
                    with_refusals.rollback(mark);
                } else {
                    prop_assert_eq!(decided, without.decide(&event));
                }
                prop_assert_eq!(with_refusals.counters(), without.counters());
            }
        }

        /// Whatever the order, no counter passes its limit and counters add up to the grants.
        #[test]
        fn limits_hold_and_counters_add_up(sequence in events()) {
            let names: Vec<String> = (0..4).map(|i| format!("k{i}")).collect();
            let mut meter = Meter::default();
            let mut total = Money::ZERO;
            for e in &sequence {
                total = total + meter.decide(&metered(e, &names)).granted;
            }
            let counters = meter.counters();
            prop_assert!(counters.learners.values().all(|&m| m <= yuan("300.00")));
            prop_assert!(counters.platforms.values().all(|&m| m <= yuan("250.00")));
            prop_assert!(counters.courses.values().all(|c| c.granted <= yuan("150.00")));
            prop_assert_eq!(counters.learners.values().copied().sum::<Money>(), total);
            prop_assert_eq!(counters.platforms.values().copied().sum::<Money>(), total);
            prop_assert_eq!(counters.courses.values().map(|c| c.granted).sum::<Money>(), total);
        }
    }
}
