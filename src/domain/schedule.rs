//! A version of a payer's rate schedule: rates, saturation and limits from a training year on.

use super::{Level, Money, TrainingYear};
use rust_decimal::Decimal;

/// One amount per skill level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PerLevel {
    pub junior: Money,
    pub intermediate: Money,
    pub senior: Money,
}

impl PerLevel {
    pub fn get(&self, level: Level) -> Money {
        match level {
            Level::Junior => self.junior,
            Level::Intermediate => self.intermediate,
            Level::Senior => self.senior,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateSchedule {
    pub effective_year: TrainingYear,
    pub rates: PerLevel,
    pub saturation_per_class_hour: PerLevel,
    pub learner_annual_cap: Money,
    pub platform_annual_ceiling: Money,
    pub offline_ratio_threshold: Decimal,
    pub offline_reduction_factor: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a fraction between 0 and 1")]
pub struct NotAFraction;

/// Parses a ratio such as `"0.50"`: a share, never above one.
pub fn parse_fraction(text: &str) -> Result<Decimal, NotAFraction> {
    let value: Decimal = text.parse().map_err(|_| NotAFraction)?;
    if value < Decimal::ZERO || value > Decimal::ONE || value.scale() > 6 {
        return Err(NotAFraction);
    }
    Ok(value)
}

impl RateSchedule {
    /// The seed's figures (RULES.md §1-2), carried by a fresh install for payer `province`.
    pub fn seed_defaults(effective_year: TrainingYear) -> RateSchedule {
        RateSchedule {
            effective_year,
            rates: PerLevel {
                junior: Money::yuan(3),
                intermediate: Money::yuan(4),
                senior: Money::yuan(5),
            },
            saturation_per_class_hour: PerLevel {
                junior: Money::yuan(3000),
                intermediate: Money::yuan(4000),
                senior: Money::yuan(5000),
            },
            learner_annual_cap: Money::yuan(300),
            platform_annual_ceiling: Money::yuan(3_000_000),
            offline_ratio_threshold: Decimal::new(50, 2),
            offline_reduction_factor: Decimal::new(50, 2),
        }
    }

    /// Gross amount of a completion: class-hours × the level's rate.
    pub fn gross(&self, level: Level, class_hours: u32) -> Money {
        self.rates.get(level).times(class_hours)
    }

    /// A course's saturation: its class-hours × the level's saturation per class-hour.
    pub fn saturation_limit(&self, level: Level, class_hours: u32) -> Money {
        self.saturation_per_class_hour.get(level).times(class_hours)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_defaults_price_the_worked_example() {
        let schedule = RateSchedule::seed_defaults(TrainingYear::new(2022).unwrap());
        assert_eq!(schedule.gross(Level::Junior, 10), Money::yuan(30));
        assert_eq!(schedule.gross(Level::Senior, 50), Money::yuan(250));
        assert_eq!(schedule.gross(Level::Intermediate, 10), Money::yuan(40));
        assert_eq!(schedule.gross(Level::Intermediate, 2), Money::yuan(8));
        // A 10-hour junior course saturates at 30,000.00: 1,000 full completions.
        assert_eq!(
            schedule.saturation_limit(Level::Junior, 10),
            Money::yuan(30_000)
        );
    }

    #[test]
    fn fractions_are_between_zero_and_one() {
        assert_eq!(parse_fraction("0.50"), Ok(Decimal::new(50, 2)));
        assert!(parse_fraction("1.01").is_err());
        assert!(parse_fraction("-0.1").is_err());
        assert!(parse_fraction("half").is_err());
    }
}
