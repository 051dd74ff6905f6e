//! Money: yuan with exactly two decimals, backed by `rust_decimal`; stored as integer fen.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::iter::Sum;
use std::ops::{Add, Neg, Sub};

/// An exact amount of yuan. Always carries scale 2, so `Display` prints `"617.28"`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(Decimal);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("must be a decimal amount of yuan such as \"300.00\"")]
    NotAnAmount,
    #[error("must have at most two decimals (fen)")]
    TooPrecise,
    #[error("must not be negative")]
    Negative,
    #[error("is too large")]
    TooLarge,
}

/// The largest amount we accept from outside: a trillion yuan, far above any real limit and
/// far below where fen overflow an `i64`.
const MAX_INPUT_FEN: i64 = 100_000_000_000_000;

impl Money {
    pub const ZERO: Money = Money(Decimal::from_parts(0, 0, 0, false, 2));

    pub fn from_fen(fen: i64) -> Money {
        Money(Decimal::new(fen, 2))
    }

    /// Whole yuan, for defaults written in the rules.
    pub fn yuan(yuan: i64) -> Money {
        Money::from_fen(yuan * 100)
    }

    pub fn fen(self) -> i64 {
        // Scale is always 2, so the mantissa is the amount in fen.
        (self.0 * Decimal::ONE_HUNDRED)
            .to_i64()
            .expect("money always fits i64 fen")
    }

    pub fn as_decimal(self) -> Decimal {
        self.0
    }

    /// Parses a non-negative amount with at most two decimals: the only money a caller sends.
    pub fn parse(text: &str) -> Result<Money, MoneyError> {
        let trimmed = text.trim();
        if trimmed.is_empty() || trimmed.contains(['e', 'E']) || trimmed != text {
            return Err(MoneyError::NotAnAmount);
        }
        let value: Decimal = trimmed.parse().map_err(|_| MoneyError::NotAnAmount)?;
        if value.is_sign_negative() && !value.is_zero() {
            return Err(MoneyError::Negative);
        }
        if value.normalize().scale() > 2 {
            return Err(MoneyError::TooPrecise);
        }
        let money = Money(value.round_dp(2));
        if money.0 > Decimal::new(MAX_INPUT_FEN, 2) {
            return Err(MoneyError::TooLarge);
        }
        Ok(Money::from_fen(money.fen()))
    }

    /// `self × hours`, exact.
    pub fn times(self, hours: u32) -> Money {
        self.checked_times(hours).expect("money overflow")
    }

    /// `self × hours`, or `None` past what fen in an `i64` hold.
    pub fn checked_times(self, hours: u32) -> Option<Money> {
        self.fen()
            .checked_mul(i64::from(hours))
            .map(Money::from_fen)
    }

    /// `self + rhs`, or `None` on overflow: money never wraps.
    pub fn checked_add(self, rhs: Money) -> Option<Money> {
        self.fen().checked_add(rhs.fen()).map(Money::from_fen)
    }

    /// `self − rhs`, or `None` on overflow.
    pub fn checked_sub(self, rhs: Money) -> Option<Money> {
        self.fen().checked_sub(rhs.fen()).map(Money::from_fen)
    }

    /// `self × factor`, rounded down to the fen: a reduced amount never exceeds its cap.
    pub fn scaled_down(self, factor: Decimal) -> Money {
        let exact = self.0 * factor;
        Money::from_fen(
            (exact.round_dp_with_strategy(2, RoundingStrategy::ToNegativeInfinity)
                * Decimal::ONE_HUNDRED)
                .to_i64()
                .expect("scaled money fits i64 fen"),
        )
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// What is left of a limit after `used`; never negative.
    pub fn remaining_after(self, used: Money) -> Money {
        (self - used).max(Money::ZERO)
    }
}

/// The operators stop (a panic, which rolls back the money transaction it happens in) rather
/// than wrap, in every build: amounts come from bounded inputs, so an overflow is a bug.
impl Add for Money {
    type Output = Money;
    fn add(self, rhs: Money) -> Money {
        self.checked_add(rhs).expect("money overflow")
    }
}

impl Sub for Money {
    type Output = Money;
    fn sub(self, rhs: Money) -> Money {
        self.checked_sub(rhs).expect("money overflow")
    }
}

impl Neg for Money {
    type Output = Money;
    fn neg(self) -> Money {
        Money::from_fen(self.fen().checked_neg().expect("money overflow"))
    }
}

impl Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, Add::add)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2}", self.0)
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Money({self})")
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Money, D::Error> {
        let text = String::deserialize(deserializer)?;
        Money::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The amount in figures as finance writes it: `¥1,234.56`; a credit as `-¥25.00`.
pub fn in_figures(money: Money) -> String {
    let fen = money.fen();
    let digits = (fen.unsigned_abs() / 100).to_string();
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let sign = if fen < 0 { "-" } else { "" };
    format!("{sign}¥{grouped}.{:02}", fen.unsigned_abs() % 100)
}

/// The amount in Chinese capital numerals (大写), as finance paperwork writes it beside the
/// figures: 617.28 → 陆佰壹拾柒元贰角捌分, 100.00 → 壹佰元整, 1,000,001.00 → 壹佰万零壹元整.
pub fn in_capitals(money: Money) -> String {
    const DIGITS: [char; 10] = ['零', '壹', '贰', '叁', '肆', '伍', '陆', '柒', '捌', '玖'];
    const PLACES: [&str; 4] = ["", "拾", "佰", "仟"];
    // 万亿 is written 万 … 亿: the 亿 follows the 万亿 group's own digits and those of the 亿 group.
    const GROUPS: [&str; 4] = ["", "万", "亿", "万"];
    let fen = money.fen();
    let mut out = String::new();
    if fen < 0 {
        out.push('负');
    }
    let fen = fen.unsigned_abs();
    let (yuan, jiao, cents) = (fen / 100, (fen / 10 % 10) as usize, (fen % 10) as usize);
    // Groups of four digits, highest first; a run of zeros between digits is one 零.
    let groups: Vec<u64> = {
        let mut rest = yuan;
        let mut groups = vec![];
        while rest > 0 {
            groups.push(rest % 10_000);
            rest /= 10_000;
        }
        groups.into_iter().rev().collect()
    };
    let mut zero_pending = false;
    for (i, group) in groups.iter().enumerate() {
        let rank = groups.len() - 1 - i;
        if *group == 0 {
            zero_pending = true;
            continue;
        }
        for place in (0..4).rev() {
            let digit = (group / 10u64.pow(place as u32) % 10) as usize;
            if digit == 0 {
                zero_pending |= !out.is_empty() && out != "负";
                continue;
            }
            if zero_pending {
                out.push('零');
                zero_pending = false;
            }
            out.push(DIGITS[digit]);
            out.push_str(PLACES[place]);
        }
        // Sums of many inputs may pass 万亿; nothing near 10^16 yuan, where `i64` fen end.
        out.push_str(GROUPS[rank.min(3)]);
        // A 万亿 group whose 亿 group is empty still ends in 亿.
        if rank == 3 && groups.get(i + 1) == Some(&0) {
            out.push('亿');
        }
    }
    if yuan > 0 {
        out.push('元');
    }
    match (jiao, cents) {
        (0, 0) if yuan == 0 => out.push_str("零元整"),
        (0, 0) => out.push('整'),
        (0, c) => {
            if yuan > 0 {
                out.push('零');
            }
            out.push(DIGITS[c]);
            out.push('分');
        }
        (j, 0) => {
            out.push(DIGITS[j]);
            out.push('角');
        }
        (j, c) => {
            out.push(DIGITS[j]);
            out.push('角');
            out.push(DIGITS[c]);
            out.push('分');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn prints_two_decimals() {
        assert_eq!(Money::from_fen(61728).to_string(), "617.28");
        assert_eq!(Money::yuan(300).to_string(), "300.00");
        assert_eq!(Money::ZERO.to_string(), "0.00");
        assert_eq!((-Money::from_fen(2500)).to_string(), "-25.00");
    }

    #[test]
    fn parses_amounts_of_yuan() {
        assert_eq!(Money::parse("3").unwrap(), Money::yuan(3));
        assert_eq!(Money::parse("3.5").unwrap(), Money::from_fen(350));
        assert_eq!(Money::parse("617.28").unwrap().fen(), 61728);
        assert_eq!(Money::parse("1.230").unwrap().fen(), 123);
    }

    #[test]
    fn refuses_what_is_not_money() {
        assert_eq!(Money::parse("1.234"), Err(MoneyError::TooPrecise));
        assert_eq!(Money::parse("-1.00"), Err(MoneyError::Negative));
        assert_eq!(Money::parse("1e3"), Err(MoneyError::NotAnAmount));
        assert_eq!(Money::parse(" 1"), Err(MoneyError::NotAnAmount));
        assert_eq!(Money::parse(""), Err(MoneyError::NotAnAmount));
        assert_eq!(Money::parse("abc"), Err(MoneyError::NotAnAmount));
        assert_eq!(Money::parse("99999999999999999"), Err(MoneyError::TooLarge));
    }

    #[test]
    fn reductions_round_down_to_the_fen() {
        // RULES.md §5: granted 1,234.57 with factor 0.50 → payable 617.28.
        let granted = Money::parse("1234.57").unwrap();
        assert_eq!(
            granted.scaled_down(Decimal::new(50, 2)),
            Money::parse("617.28").unwrap()
        );
    }

    proptest! {
        #[test]
        fn arithmetic_near_the_limits_is_exact_or_refused(
            a in (i64::MAX - 1_000_000)..=i64::MAX,
            b in 0..=2_000_000i64,
            hours in 1..=4u32,
        ) {
            let (big, small) = (Money::from_fen(a), Money::from_fen(b));
            let sum = i128::from(a) + i128::from(b);
            match big.checked_add(small) {
                Some(money) => prop_assert_eq!(i128::from(money.fen()), sum),
                None => prop_assert!(sum > i128::from(i64::MAX)),
            }
            let difference = -i128::from(a) - i128::from(b);
            match (-big).checked_sub(small) {
                Some(money) => prop_assert_eq!(i128::from(money.fen()), difference),
                None => prop_assert!(difference < i128::from(i64::MIN)),
            }
            let product = i128::from(a) * i128::from(hours);
            match big.checked_times(hours) {
                Some(money) => prop_assert_eq!(i128::from(money.fen()), product),
                None => prop_assert!(product > i128::from(i64::MAX)),
            }
            // The operators never wrap: they give the exact sum or stop.
            let added = std::panic::catch_unwind(|| big + small);
            prop_assert_eq!(added.is_ok(), sum <= i128::from(i64::MAX));
            if let Ok(money) = added {
                prop_assert_eq!(i128::from(money.fen()), sum);
            }
        }

        #[test]
        fn fen_round_trip(fen in -MAX_INPUT_FEN..MAX_INPUT_FEN) {
            let money = Money::from_fen(fen);
            prop_assert_eq!(money.fen(), fen);
            if fen >= 0 {
                prop_assert_eq!(Money::parse(&money.to_string()).unwrap(), money);
            }
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,24}") {
            let _ = Money::parse(&text);
        }

        #[test]
        fn scaled_down_never_exceeds_the_exact_product(fen in 0i64..MAX_INPUT_FEN, pct in 0u32..=100) {
            let factor = Decimal::new(i64::from(pct), 2);
            let reduced = Money::from_fen(fen).scaled_down(factor);
            prop_assert!(reduced.as_decimal() <= Money::from_fen(fen).as_decimal() * factor);
            prop_assert!(Money::from_fen(fen).as_decimal() * factor - reduced.as_decimal() < Decimal::new(1, 2));
        }
    }

    #[test]
    fn capitals_as_finance_writes_them() {
        let cases = [
            (61_728, "陆佰壹拾柒元贰角捌分"),
            (10_000, "壹佰元整"),
            (1_000, "壹拾元整"),
            (100_000_100, "壹佰万零壹元整"),
            (30_000_000, "叁拾万元整"),
            (300_000_000, "叁佰万元整"),
            (10_050, "壹佰元伍角"),
            (10_005, "壹佰元零伍分"),
            (100_700, "壹仟零柒元整"),
            (1_001_000, "壹万零壹拾元整"),
            (50, "伍角"),
            (5, "伍分"),
            (0, "零元整"),
            (10_000_000_000, "壹亿元整"),
            (10_000_100_000, "壹亿零壹仟元整"),
            (10_001_000_000, "壹亿零壹万元整"),
            (150_000_000_000_000, "壹万伍仟亿元整"),
            (100_000_000_000_000, "壹万亿元整"),
            (100_000_001_000_000, "壹万亿零壹万元整"),
            (100_050_000_000_000, "壹万零伍亿元整"),
            (105_000_000_000_000, "壹万零伍佰亿元整"),
            (-2_500, "负贰拾伍元整"),
        ];
        for (fen, words) in cases {
            assert_eq!(in_capitals(Money::from_fen(fen)), words, "{fen} fen");
        }
    }

    #[test]
    fn money_reads_as_finance_writes_it() {
        assert_eq!(in_figures(Money::from_fen(123_456)), "¥1,234.56");
        assert_eq!(in_figures(Money::from_fen(300_000_000)), "¥3,000,000.00");
        assert_eq!(in_figures(Money::from_fen(5)), "¥0.05");
        assert_eq!(in_figures(Money::from_fen(-2_500)), "-¥25.00");
    }
}
