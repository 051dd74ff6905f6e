//! The grant of one certified completion under the three accrual-time limits.

use super::Money;
use serde::Serialize;

/// The limit that bound a grant, in the order RULES.md §2 ranks them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    LearnerAnnualCap,
    CourseSaturated,
    PlatformAnnualCeiling,
}

impl Limit {
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::LearnerAnnualCap => "learner_annual_cap",
            Limit::CourseSaturated => "course_saturated",
            Limit::PlatformAnnualCeiling => "platform_annual_ceiling",
        }
    }

    pub fn parse(text: &str) -> Option<Limit> {
        [
            Limit::LearnerAnnualCap,
            Limit::CourseSaturated,
            Limit::PlatformAnnualCeiling,
        ]
        .into_iter()
        .find(|limit| limit.as_str() == text)
    }
}

/// What is left under each limit when a completion arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Remaining {
    pub learner: Money,
    pub course: Money,
    pub platform: Money,
    /// A course that reached its saturation once is free for good, whatever its counter says.
    pub course_free: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    pub granted: Money,
    pub limited_by: Option<Limit>,
}

/// `granted = min(gross, learner, course, platform)`; the binding limit is the first, in rule
/// order, whose remainder is what was granted when that is less than the gross amount.
pub fn grant(gross: Money, remaining: Remaining) -> Grant {
    if remaining.course_free {
        return Grant {
            granted: Money::ZERO,
            limited_by: Some(Limit::CourseSaturated),
        };
    }
    let limits = [
        (Limit::LearnerAnnualCap, remaining.learner),
        (Limit::CourseSaturated, remaining.course),
        (Limit::PlatformAnnualCeiling, remaining.platform),
    ];
    let granted = limits
        .iter()
        .map(|(_, left)| (*left).max(Money::ZERO))
        .fold(gross, Money::min);
    let limited_by = (granted < gross)
        .then(|| {
            limits
                .iter()
                .find(|(_, left)| (*left).max(Money::ZERO) == granted)
        })
        .flatten()
        .map(|(limit, _)| *limit);
    Grant {
        granted,
        limited_by,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn yuan(text: &str) -> Money {
        Money::parse(text).unwrap()
    }

    fn remaining(learner: &str, course: &str, platform: &str) -> Remaining {
        Remaining {
            learner: yuan(learner),
            course: yuan(course),
            platform: yuan(platform),
            course_free: false,
        }
    }

    #[test]
    fn a_partial_grant_is_bound_by_the_learner_cap() {
        // RULES.md §2: 296.00 used, 2-hour intermediate course (gross 8.00) → 4.00.
        let grant = grant(yuan("8.00"), remaining("4.00", "8000.00", "3000000.00"));
        assert_eq!(grant.granted, yuan("4.00"));
        assert_eq!(grant.limited_by, Some(Limit::LearnerAnnualCap));
    }

    #[test]
    fn nothing_binds_when_everything_has_room() {
        let grant = grant(yuan("30.00"), remaining("300.00", "30000.00", "3000000.00"));
        assert_eq!(grant.granted, yuan("30.00"));
        assert_eq!(grant.limited_by, None);
    }

    #[test]
    fn limits_binding_at_once_are_reported_in_rule_order() {
        let both = grant(yuan("10.00"), remaining("5.00", "5.00", "5.00"));
        assert_eq!(both.limited_by, Some(Limit::LearnerAnnualCap));
        let course_and_platform = grant(yuan("10.00"), remaining("9.00", "5.00", "5.00"));
        assert_eq!(course_and_platform.limited_by, Some(Limit::CourseSaturated));
        let platform = grant(yuan("10.00"), remaining("9.00", "8.00", "2.50"));
        assert_eq!(platform.granted, yuan("2.50"));
        assert_eq!(platform.limited_by, Some(Limit::PlatformAnnualCeiling));
    }

    #[test]
    fn the_tighter_limit_binds_even_if_an_earlier_one_is_short_too() {
        let grant = grant(yuan("8.00"), remaining("6.00", "4.00", "100.00"));
        assert_eq!(grant.granted, yuan("4.00"));
        assert_eq!(grant.limited_by, Some(Limit::CourseSaturated));
    }

    #[test]
    fn a_course_in_the_free_phase_earns_nothing() {
        let mut left = remaining("300.00", "100.00", "3000000.00");
        left.course_free = true;
        let grant = grant(yuan("30.00"), left);
        assert_eq!(grant.granted, Money::ZERO);
        assert_eq!(grant.limited_by, Some(Limit::CourseSaturated));
    }

    #[test]
    fn worked_example_grants() {
        // RULES.md worked example, steps 1-3 for learner A.
        let step1 = grant(yuan("30.00"), remaining("300.00", "30000.00", "3000000.00"));
        assert_eq!((step1.granted, step1.limited_by), (yuan("30.00"), None));
        let step2 = grant(
            yuan("250.00"),
            remaining("270.00", "250000.00", "3000000.00"),
        );
        assert_eq!((step2.granted, step2.limited_by), (yuan("250.00"), None));
        let step3 = grant(yuan("40.00"), remaining("20.00", "40000.00", "2999970.00"));
        assert_eq!(
            (step3.granted, step3.limited_by),
            (yuan("20.00"), Some(Limit::LearnerAnnualCap))
        );
    }

    fn money() -> impl Strategy<Value = Money> {
        (0i64..1_000_000).prop_map(Money::from_fen)
    }

    proptest! {
        #[test]
        fn never_exceeds_any_limit_or_the_gross(gross in money(), l in money(), c in money(), p in money()) {
            let g = grant(gross, Remaining { learner: l, course: c, platform: p, course_free: false });
            prop_assert!(g.granted <= gross && g.granted <= l && g.granted <= c && g.granted <= p);
            prop_assert!(g.granted >= Money::ZERO);
            // Exactly one of: the full gross, or the binding limit's remainder.
            match g.limited_by {
                None => prop_assert_eq!(g.granted, gross),
                Some(Limit::LearnerAnnualCap) => prop_assert_eq!(g.granted, l),
                Some(Limit::CourseSaturated) => prop_assert_eq!(g.granted, c),
                Some(Limit::PlatformAnnualCeiling) => prop_assert_eq!(g.granted, p),
            }
        }

        #[test]
        fn sequential_grants_fill_a_cap_exactly(grosses in proptest::collection::vec(money(), 1..50), cap in money()) {
            let mut used = Money::ZERO;
            for gross in grosses {
                let g = grant(gross, Remaining { learner: cap.remaining_after(used), course: Money::yuan(1_000_000), platform: Money::yuan(1_000_000), course_free: false });
                used = used + g.granted;
                prop_assert!(used <= cap);
            }
        }
    }
}
