//! Progress against the plan's annual targets (seed plan §三 and 附件1): each city is given a
//! number of people to train; 60 % is due by the end of September and all of it by the end of
//! November of the training year.

use super::TrainingYear;
use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};

/// A learner's city: the first four digits of the ID number (1401 太原 … 1411 吕梁), which the
/// masked form keeps.
pub fn city_of(id_number_or_masked: &str) -> &str {
    id_number_or_masked.get(..4).unwrap_or(id_number_or_masked)
}

/// The share of its target the plan expects a city to have reached on `today`: nothing
/// before the end of September, 60 % after it, all of it after the end of November.
pub fn expected_share(year: TrainingYear, today: NaiveDate) -> Decimal {
    let milestone = |month, day| NaiveDate::from_ymd_opt(year.value(), month, day);
    if milestone(11, 30).is_some_and(|end| today > end) {
        Decimal::ONE
    } else if milestone(9, 30).is_some_and(|end| today > end) {
        Decimal::new(6, 1)
    } else {
        Decimal::ZERO
    }
}

/// `reached ÷ target`, rounded down to four decimals; none without a target.
pub fn share(reached: u64, target: u64) -> Option<Decimal> {
    (target > 0).then(|| {
        (Decimal::from(reached) / Decimal::from(target))
            .round_dp_with_strategy(4, RoundingStrategy::ToZero)
    })
}

/// Whether a city is behind the plan's schedule on `today`.
pub fn behind(reached: u64, target: u64, year: TrainingYear, today: NaiveDate) -> bool {
    share(reached, target).is_some_and(|share| share < expected_share(year, today))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn the_schedule_asks_sixty_percent_after_september_and_all_after_november() {
        let year = TrainingYear::new(2022).unwrap();
        assert_eq!(expected_share(year, day(2022, 6, 1)), Decimal::ZERO);
        assert_eq!(expected_share(year, day(2022, 9, 30)), Decimal::ZERO);
        assert_eq!(expected_share(year, day(2022, 10, 1)), Decimal::new(6, 1));
        assert_eq!(expected_share(year, day(2022, 11, 30)), Decimal::new(6, 1));
        assert_eq!(expected_share(year, day(2022, 12, 1)), Decimal::ONE);
    }

    #[test]
    fn a_city_is_behind_when_its_share_is_below_the_schedule() {
        // 附件1: 太原市 is to train 35,000.
        let year = TrainingYear::new(2022).unwrap();
        assert_eq!(share(21_000, 35_000), Some(Decimal::new(6, 1)));
        assert!(!behind(21_000, 35_000, year, day(2022, 10, 15)));
        assert!(behind(20_999, 35_000, year, day(2022, 10, 15)));
        assert!(!behind(0, 35_000, year, day(2022, 7, 1)), "nothing due yet");
        assert!(behind(34_999, 35_000, year, day(2022, 12, 1)));
        assert_eq!(share(1, 3), Some(Decimal::new(3333, 4)), "rounded down");
        assert_eq!(share(5, 0), None);
        assert!(
            !behind(5, 0, year, day(2022, 12, 1)),
            "no target, not behind"
        );
    }

    #[test]
    fn the_city_is_the_first_four_digits() {
        assert_eq!(city_of("140105********0101"), "1401");
        assert_eq!(city_of("11010519491231002X"), "1101");
        assert_eq!(city_of("14"), "14");
    }
}
