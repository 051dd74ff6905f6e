//! The offline follow-up reduction, applied to a platform's payable amount at invoicing.

use super::Money;
use rust_decimal::Decimal;
use serde::Serialize;

/// Distinct learners with an accepted completion, and how many of them went on offline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FollowupRatio {
    pub learners: u64,
    pub with_followup: u64,
}

impl FollowupRatio {
    /// The ratio, or `None` while a platform has no accepted learner (nothing to reduce).
    pub fn ratio(self) -> Option<Decimal> {
        (self.learners > 0)
            .then(|| Decimal::from(self.with_followup) / Decimal::from(self.learners))
    }
}

/// The reduction parameters of a rate schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reduction {
    pub threshold: Decimal,
    pub factor: Decimal,
}

impl Reduction {
    pub fn applies(self, ratio: FollowupRatio) -> bool {
        ratio.ratio().is_some_and(|r| r < self.threshold)
    }

    /// `payable_ytd`: the granted total, or at most `factor` of it, rounded down to the fen.
    pub fn payable(self, granted_ytd: Money, ratio: FollowupRatio) -> Money {
        if self.applies(ratio) {
            granted_ytd.scaled_down(self.factor)
        } else {
            granted_ytd
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HALF: Reduction = Reduction {
        threshold: Decimal::from_parts(50, 0, 0, false, 2),
        factor: Decimal::from_parts(50, 0, 0, false, 2),
    };

    #[test]
    fn worked_example_withholds_then_releases() {
        // RULES.md worked example step 5: granted 50.00; ratio 0/1 → 25.00; then 1/1 → 50.00.
        let granted = Money::yuan(50);
        let before = FollowupRatio {
            learners: 1,
            with_followup: 0,
        };
        let after = FollowupRatio {
            learners: 1,
            with_followup: 1,
        };
        assert_eq!(HALF.payable(granted, before), Money::yuan(25));
        assert_eq!(HALF.payable(granted, after), Money::yuan(50));
    }

    #[test]
    fn reduction_rounds_down_to_the_fen() {
        let ratio = FollowupRatio {
            learners: 5,
            with_followup: 2,
        };
        assert_eq!(ratio.ratio(), Some(Decimal::new(40, 2)));
        assert_eq!(
            HALF.payable(Money::parse("1234.57").unwrap(), ratio),
            Money::parse("617.28").unwrap()
        );
    }

    #[test]
    fn exactly_half_is_not_reduced() {
        let ratio = FollowupRatio {
            learners: 4,
            with_followup: 2,
        };
        assert!(!HALF.applies(ratio));
        let none = FollowupRatio {
            learners: 0,
            with_followup: 0,
        };
        assert_eq!(none.ratio(), None);
        assert!(!HALF.applies(none));
    }
}
