//! The training year: 1 December Y-1 00:00 to 30 November Y 24:00, China Standard Time.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// China Standard Time has been UTC+8 all year round since 1991: a fixed offset is exact.
pub fn china_standard_time() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("valid offset")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TrainingYear(i32);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a training year between 2000 and 2100")]
pub struct TrainingYearOutOfRange;

impl TrainingYear {
    pub fn new(year: i32) -> Result<TrainingYear, TrainingYearOutOfRange> {
        if (2000..=2100).contains(&year) {
            Ok(TrainingYear(year))
        } else {
            Err(TrainingYearOutOfRange)
        }
    }

    /// The training year an instant falls in: December counts towards the next year.
    pub fn of(instant: DateTime<Utc>) -> TrainingYear {
        Self::of_date(instant.with_timezone(&china_standard_time()).date_naive())
    }

    /// The training year of a calendar day in China.
    pub fn of_date(day: NaiveDate) -> TrainingYear {
        if day.month() == 12 {
            TrainingYear(day.year() + 1)
        } else {
            TrainingYear(day.year())
        }
    }

    pub fn value(self) -> i32 {
        self.0
    }

    /// 1 December of the previous calendar year: the first day of this training year.
    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.0 - 1, 12, 1).expect("valid date")
    }

    /// The first instant after the claim window: 1 January Y+1 00:00 CST.
    pub fn claim_deadline(self) -> DateTime<Utc> {
        china_standard_time()
            .with_ymd_and_hms(self.0 + 1, 1, 1, 0, 0, 0)
            .single()
            .expect("valid instant")
            .with_timezone(&Utc)
    }

    /// Claims for year Y close at 31 December Y 24:00 CST.
    pub fn claims_open_at(self, now: DateTime<Utc>) -> bool {
        now < self.claim_deadline()
    }
}

impl fmt::Display for TrainingYear {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn december_in_china_belongs_to_the_next_year() {
        // RULES.md §3: 2022-11-30T17:30:00Z is 2022-12-01 01:30 in Shanxi → 2023.
        assert_eq!(TrainingYear::of(utc("2022-11-30T17:30:00Z")).value(), 2023);
        assert_eq!(TrainingYear::of(utc("2022-11-30T15:59:59Z")).value(), 2022);
        assert_eq!(TrainingYear::of(utc("2022-11-30T16:00:00Z")).value(), 2023);
        assert_eq!(
            TrainingYear::of(utc("2022-06-01T10:00:00+08:00")).value(),
            2022
        );
        assert_eq!(TrainingYear::of(utc("2021-11-30T16:00:00Z")).value(), 2022);
    }

    #[test]
    fn claims_close_at_new_year_in_china() {
        let year = TrainingYear::new(2022).unwrap();
        assert!(year.claims_open_at(utc("2022-12-31T15:59:59Z")));
        assert!(!year.claims_open_at(utc("2022-12-31T16:00:00Z")));
        assert_eq!(
            year.first_day(),
            NaiveDate::from_ymd_opt(2021, 12, 1).unwrap()
        );
    }

    #[test]
    fn refuses_absurd_years() {
        assert!(TrainingYear::new(1999).is_err());
        assert!(TrainingYear::new(2101).is_err());
        assert!(TrainingYear::new(2022).is_ok());
    }
}
