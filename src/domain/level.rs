//! Skill levels of a course, which set its rate and saturation.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// 初级工
    Junior,
    /// 中级工
    Intermediate,
    /// 高级工
    Senior,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Junior, Level::Intermediate, Level::Senior];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Junior => "junior",
            Level::Intermediate => "intermediate",
            Level::Senior => "senior",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be one of junior, intermediate, senior")]
pub struct UnknownLevel;

impl FromStr for Level {
    type Err = UnknownLevel;
    fn from_str(text: &str) -> Result<Level, UnknownLevel> {
        Level::ALL
            .into_iter()
            .find(|level| level.as_str() == text)
            .ok_or(UnknownLevel)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_its_code() {
        for level in Level::ALL {
            assert_eq!(level.as_str().parse::<Level>(), Ok(level));
        }
        assert_eq!("expert".parse::<Level>(), Err(UnknownLevel));
    }
}
