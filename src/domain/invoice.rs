//! The cumulative true-up of RULES.md §4: what an invoice pays, as a statement whose lines add
//! up to its amount.

use super::{FollowupRatio, Level, Money, Reduction, TrainingYear};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use std::fmt;

/// A billing period: a calendar month in China Standard Time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct BillingPeriod {
    year: i32,
    month: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a month such as \"2022-06\"")]
pub struct NotAPeriod;

impl BillingPeriod {
    pub fn parse(text: &str) -> Result<BillingPeriod, NotAPeriod> {
        let (year, month) = text.split_once('-').ok_or(NotAPeriod)?;
        if year.len() != 4 || month.len() != 2 {
            return Err(NotAPeriod);
        }
        let year: i32 = year.parse().map_err(|_| NotAPeriod)?;
        let month: u32 = month.parse().map_err(|_| NotAPeriod)?;
        if !(1..=12).contains(&month) || TrainingYear::new(year).is_err() {
            return Err(NotAPeriod);
        }
        Ok(BillingPeriod { year, month })
    }

    fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("valid month")
    }

    /// December belongs to the next training year.
    pub fn training_year(self) -> TrainingYear {
        TrainingYear::of_date(self.first_day())
    }

    /// The twelve periods of a training year: its December (of the year before) to November.
    pub fn of_training_year(year: TrainingYear) -> Vec<BillingPeriod> {
        let december = BillingPeriod {
            year: year.value() - 1,
            month: 12,
        };
        std::iter::once(december)
            .chain((1..=11).map(|month| BillingPeriod {
                year: year.value(),
                month,
            }))
            .collect()
    }

    /// The period's first instant: its first day, 00:00 CST.
    pub fn start(self) -> DateTime<Utc> {
        super::training_year::china_standard_time()
            .with_ymd_and_hms(self.year, self.month, 1, 0, 0, 0)
            .single()
            .expect("valid instant")
            .with_timezone(&Utc)
    }

    /// The first instant after the period: the next month's first day, 00:00 CST.
    pub fn end(self) -> DateTime<Utc> {
        let (year, month) = if self.month == 12 {
            (self.year + 1, 1)
        } else {
            (self.year, self.month + 1)
        };
        super::training_year::china_standard_time()
            .with_ymd_and_hms(year, month, 1, 0, 0, 0)
            .single()
            .expect("valid instant")
            .with_timezone(&Utc)
    }
}

impl fmt::Display for BillingPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineKind {
    /// Year-to-date class-hours and grants of one level (revoked completions included).
    Level,
    /// Grants released by revocations, negative.
    Revocations,
    /// The offline follow-up reduction while the ratio is under its threshold, negative.
    OfflineReduction,
    /// What earlier invoices of the year already claimed, negative.
    PreviouslyInvoiced,
}

impl LineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LineKind::Level => "level",
            LineKind::Revocations => "revocations",
            LineKind::OfflineReduction => "offline_reduction",
            LineKind::PreviouslyInvoiced => "previously_invoiced",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub kind: LineKind,
    pub level: Option<Level>,
    pub class_hours: Option<i64>,
    pub amount: Money,
}

/// What the year's accepted completions up to the period end add up to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct YearToDate {
    /// Per level: class-hours and grants, revoked completions included.
    pub levels: Vec<(Level, i64, Money)>,
    /// Grants of those completions since revoked.
    pub revoked: Money,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrueUp {
    pub lines: Vec<Line>,
    pub granted_ytd: Money,
    pub payable_ytd: Money,
    pub previously_invoiced: Money,
    pub amount: Money,
}

/// `amount = payable_ytd − previously invoiced`, with the lines that explain it.
pub fn true_up(
    ytd: &YearToDate,
    ratio: FollowupRatio,
    reduction: Reduction,
    previously_invoiced: Money,
) -> TrueUp {
    let mut lines: Vec<Line> = ytd
        .levels
        .iter()
        .map(|(level, hours, granted)| Line {
            kind: LineKind::Level,
            level: Some(*level),
            class_hours: Some(*hours),
            amount: *granted,
        })
        .collect();
    let gross_granted: Money = ytd.levels.iter().map(|(_, _, granted)| *granted).sum();
    if !ytd.revoked.is_zero() {
        lines.push(Line {
            kind: LineKind::Revocations,
            level: None,
            class_hours: None,
            amount: -ytd.revoked,
        });
    }
    let granted_ytd = gross_granted - ytd.revoked;
    let payable_ytd = reduction.payable(granted_ytd, ratio);
    if payable_ytd != granted_ytd {
        lines.push(Line {
            kind: LineKind::OfflineReduction,
            level: None,
            class_hours: None,
            amount: payable_ytd - granted_ytd,
        });
    }
    if !previously_invoiced.is_zero() {
        lines.push(Line {
            kind: LineKind::PreviouslyInvoiced,
            level: None,
            class_hours: None,
            amount: -previously_invoiced,
        });
    }
    TrueUp {
        lines,
        granted_ytd,
        payable_ytd,
        previously_invoiced,
        amount: payable_ytd - previously_invoiced,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_training_year_has_twelve_periods_from_december() {
        let periods = BillingPeriod::of_training_year(TrainingYear::new(2022).unwrap());
        let names: Vec<String> = periods.iter().map(ToString::to_string).collect();
        assert_eq!(names.first().map(String::as_str), Some("2021-12"));
        assert_eq!(names.last().map(String::as_str), Some("2022-11"));
        assert_eq!(names.len(), 12);
        for pair in periods.windows(2) {
            assert_eq!(pair[0].end(), pair[1].start(), "back to back");
            assert_eq!(pair[1].training_year().value(), 2022);
        }
    }

    use super::*;
    use proptest::prelude::*;
    use rust_decimal::Decimal;

    const HALF: Reduction = Reduction {
        threshold: Decimal::from_parts(50, 0, 0, false, 2),
        factor: Decimal::from_parts(50, 0, 0, false, 2),
    };

    fn yuan(text: &str) -> Money {
        Money::parse(text).unwrap()
    }

    #[test]
    fn periods_know_their_training_year_and_end() {
        let june = BillingPeriod::parse("2022-06").unwrap();
        assert_eq!(june.training_year().value(), 2022);
        assert_eq!(june.end().to_rfc3339(), "2022-06-30T16:00:00+00:00");
        let december = BillingPeriod::parse("2022-12").unwrap();
        assert_eq!(december.training_year().value(), 2023);
        assert_eq!(december.end().to_rfc3339(), "2022-12-31T16:00:00+00:00");
        assert_eq!(june.to_string(), "2022-06");
        for bad in ["2022-13", "2022-6", "22-06", "June", "2022-00", "1999-01"] {
            assert!(BillingPeriod::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn worked_example_withholds_then_releases() {
        // RULES.md worked example step 5 for platform P: 30.00 junior + 20.00 intermediate.
        let ytd = YearToDate {
            levels: vec![
                (Level::Junior, 10, yuan("30.00")),
                (Level::Intermediate, 10, yuan("20.00")),
            ],
            revoked: Money::ZERO,
        };
        let first = true_up(
            &ytd,
            FollowupRatio {
                learners: 1,
                with_followup: 0,
            },
            HALF,
            Money::ZERO,
        );
        assert_eq!(
            (first.granted_ytd, first.payable_ytd, first.amount),
            (yuan("50.00"), yuan("25.00"), yuan("25.00"))
        );
        assert_eq!(first.lines.last().unwrap().kind, LineKind::OfflineReduction);
        let second = true_up(
            &ytd,
            FollowupRatio {
                learners: 1,
                with_followup: 1,
            },
            HALF,
            first.amount,
        );
        assert_eq!(
            (second.payable_ytd, second.amount),
            (yuan("50.00"), yuan("25.00"))
        );
        assert_eq!(second.lines.last().unwrap().amount, -yuan("25.00"));
    }

    #[test]
    fn reduction_rounds_down_and_a_fall_gives_a_credit_note() {
        let ytd = YearToDate {
            levels: vec![(Level::Senior, 247, yuan("1234.57"))],
            revoked: Money::ZERO,
        };
        let reduced = true_up(
            &ytd,
            FollowupRatio {
                learners: 5,
                with_followup: 2,
            },
            HALF,
            Money::ZERO,
        );
        assert_eq!(reduced.payable_ytd, yuan("617.28"));
        let credit = true_up(
            &ytd,
            FollowupRatio {
                learners: 5,
                with_followup: 2,
            },
            HALF,
            yuan("1234.57"),
        );
        assert_eq!(credit.amount, -yuan("617.29"));
    }

    proptest! {
        #[test]
        fn lines_always_add_up_to_the_amount(
            levels in proptest::collection::vec((0i64..1000, 0i64..10_000_000), 0..3),
            revoked_share in 0i64..=100,
            learners in 0u64..50, with in 0u64..50, previously in -1_000_000i64..10_000_000,
        ) {
            let levels: Vec<_> = levels.into_iter().zip(Level::ALL).map(|((h, fen), level)| (level, h, Money::from_fen(fen))).collect();
            let total: i64 = levels.iter().map(|(_, _, m)| m.fen()).sum();
            let ytd = YearToDate { levels, revoked: Money::from_fen(total * revoked_share / 100) };
            let ratio = FollowupRatio { learners, with_followup: with.min(learners) };
            let t = true_up(&ytd, ratio, HALF, Money::from_fen(previously));
            prop_assert_eq!(t.lines.iter().map(|l| l.amount).sum::<Money>(), t.amount);
            prop_assert!(t.payable_ytd <= t.granted_ytd);
        }
    }
}
