//! Resident ID numbers (GB 11643-1999): 17 digits and an ISO 7064 MOD 11-2 check character.

use chrono::NaiveDate;
use std::fmt;

/// A checked 18-character resident ID number, upper-case. `Debug` and `Display` show it masked,
/// so a stray log line never carries the full number.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdNumber(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdNumberError {
    #[error("must be 18 characters: 17 digits and a check digit or X")]
    Format,
    #[error("does not carry a real birth date")]
    BirthDate,
    #[error("carries a birth date in the future")]
    FutureBirthDate,
    #[error("check character does not match (ISO 7064 MOD 11-2)")]
    Checksum,
}

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARACTERS: &[u8; 11] = b"10X98765432";

impl IdNumber {
    /// Parses an ID number as of `today` (birth dates after it are refused).
    pub fn parse(text: &str, today: NaiveDate) -> Result<IdNumber, IdNumberError> {
        let bytes = text.as_bytes();
        if bytes.len() != 18
            || !bytes[..17].iter().all(u8::is_ascii_digit)
            || !(bytes[17].is_ascii_digit() || bytes[17] == b'X' || bytes[17] == b'x')
            || bytes[0] == b'0'
        {
            return Err(IdNumberError::Format);
        }
        let birth = NaiveDate::parse_from_str(&text[6..14], "%Y%m%d")
            .ok()
            .filter(|date| *date >= NaiveDate::from_ymd_opt(1900, 1, 1).expect("valid date"))
            .ok_or(IdNumberError::BirthDate)?;
        if birth > today {
            return Err(IdNumberError::FutureBirthDate);
        }
        let sum: u32 = bytes[..17]
            .iter()
            .zip(WEIGHTS)
            .map(|(digit, weight)| u32::from(digit - b'0') * weight)
            .sum();
        let expected = CHECK_CHARACTERS[(sum % 11) as usize];
        if bytes[17].to_ascii_uppercase() != expected {
            return Err(IdNumberError::Checksum);
        }
        Ok(IdNumber(text.to_ascii_uppercase()))
    }

    /// Appends the check character to 17 digits: how test data and the load generator make
    /// valid numbers.
    pub fn complete(first17: &str) -> String {
        let sum: u32 = first17
            .bytes()
            .zip(WEIGHTS)
            .map(|(digit, weight)| u32::from(digit.wrapping_sub(b'0')) * weight)
            .sum();
        format!("{first17}{}", CHECK_CHARACTERS[(sum % 11) as usize] as char)
    }

    /// The full number, for keyed hashing only: never log or store it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// First six and last four characters, the rest starred: `110105********002X`.
    pub fn masked(&self) -> String {
        format!("{}********{}", &self.0[..6], &self.0[14..])
    }
}

impl fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdNumber({})", self.masked())
    }
}

impl fmt::Display for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// An ID number under the gateway's key (an HMAC-SHA-256): how a learner is found again without
/// the number being kept. Stored as its 32 bytes; written as hex where it must be text (a console
/// session's subject, the content hash of an event).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LearnerHash([u8; 32]);

impl LearnerHash {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The hash as hex, in either case; anything else is none.
    pub fn from_hex(text: &str) -> Option<LearnerHash> {
        let mut bytes = [0; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(LearnerHash(bytes))
    }
}

impl From<[u8; 32]> for LearnerHash {
    fn from(digest: [u8; 32]) -> LearnerHash {
        LearnerHash(digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2022, 12, 15).unwrap()
    }

    #[test]
    fn a_learner_hash_reads_back_the_hex_it_writes_and_nothing_else() {
        let hash = LearnerHash::from([0xab; 32]);
        assert_eq!(hash.to_hex(), "ab".repeat(32));
        assert_eq!(LearnerHash::from_hex(&hash.to_hex()), Some(hash));
        assert_eq!(LearnerHash::from_hex("ab"), None, "too short");
        assert_eq!(LearnerHash::from_hex(&"zz".repeat(32)), None, "not hex");
        assert_eq!(LearnerHash::from_hex(&"ab".repeat(33)), None, "too long");
    }

    #[test]
    fn accepts_the_standard_example() {
        let id = IdNumber::parse("11010519491231002X", today()).unwrap();
        assert_eq!(id.expose(), "11010519491231002X");
        assert_eq!(id.masked(), "110105********002X");
    }

    #[test]
    fn lower_case_x_is_stored_upper_case() {
        let id = IdNumber::parse("11010519491231002x", today()).unwrap();
        assert_eq!(id.expose(), "11010519491231002X");
    }

    #[test]
    fn refuses_bad_numbers() {
        assert_eq!(
            IdNumber::parse("110105194912310021", today()),
            Err(IdNumberError::Checksum)
        );
        assert_eq!(
            IdNumber::parse("1101051949123100", today()),
            Err(IdNumberError::Format)
        );
        assert_eq!(
            IdNumber::parse("11010519491231002Y", today()),
            Err(IdNumberError::Format)
        );
        assert_eq!(
            IdNumber::parse(&IdNumber::complete("11010519490230002"), today()),
            Err(IdNumberError::BirthDate)
        );
        assert_eq!(
            IdNumber::parse(&IdNumber::complete("11010520300101002"), today()),
            Err(IdNumberError::FutureBirthDate)
        );
        assert_eq!(
            IdNumber::parse("１１０１０５１９４９１２３１００２X", today()),
            Err(IdNumberError::Format)
        );
    }

    #[test]
    fn debug_never_shows_the_full_number() {
        let id = IdNumber::parse("11010519491231002X", today()).unwrap();
        assert!(!format!("{id:?} {id}").contains("11010519491231002X"));
    }

    /// Exhaustive over 2,000 valid numbers: every other character (0–9, X) at every position,
    /// and every swap of two different neighbours, is refused (ISO 7064 MOD 11-2 guarantees it).
    #[test]
    fn every_typo_of_2000_numbers_is_refused() {
        let mut tried = 0;
        for n in 0u32..2000 {
            let id = IdNumber::complete(&format!(
                "{:02}{:04}{}{:02}{:02}{:03}",
                11 + n % 55,
                (n * 7919) % 10_000,
                1950 + n % 55,
                1 + n % 12,
                1 + n % 28,
                (n * 31) % 1000
            ));
            assert!(IdNumber::parse(&id, today()).is_ok(), "{id}");
            let original = id.as_bytes();
            for pos in 0..18 {
                for c in b"0123456789X" {
                    if *c == original[pos] || (pos < 17 && *c == b'X') {
                        continue;
                    }
                    let mut typo = original.to_vec();
                    typo[pos] = *c;
                    let typo = String::from_utf8(typo).unwrap();
                    assert!(IdNumber::parse(&typo, today()).is_err(), "{typo}");
                    tried += 1;
                }
                if pos < 17 && original[pos] != original[pos + 1] {
                    let mut swapped = original.to_vec();
                    swapped.swap(pos, pos + 1);
                    let swapped = String::from_utf8(swapped).unwrap();
                    assert!(IdNumber::parse(&swapped, today()).is_err(), "{swapped}");
                    tried += 1;
                }
            }
        }
        assert!(tried > 2000 * 170, "{tried}");
    }

    fn valid_id() -> impl Strategy<Value = String> {
        (
            11u32..=65,
            0u32..10_000,
            1950i32..2005,
            1u32..=12,
            1u32..=28,
            0u32..1000,
        )
            .prop_map(|(province, area, year, month, day, seq)| {
                IdNumber::complete(&format!(
                    "{province:02}{area:04}{year:04}{month:02}{day:02}{seq:03}"
                ))
            })
    }

    proptest! {
        #[test]
        fn parse_never_panics(text in "\\PC{0,40}") {
            let _ = IdNumber::parse(&text, today());
        }

        #[test]
        fn every_single_digit_change_is_refused(id in valid_id(), pos in 0usize..18, delta in 1u8..10) {
            prop_assert!(IdNumber::parse(&id, today()).is_ok());
            let mut bytes = id.clone().into_bytes();
            let original = bytes[pos];
            bytes[pos] = if original == b'X' { b'0' + delta } else { b'0' + (original - b'0' + delta) % 10 };
            if bytes[pos] != original {
                let changed = String::from_utf8(bytes).unwrap();
                prop_assert!(IdNumber::parse(&changed, today()).is_err(), "{} accepted", changed);
            }
        }

        #[test]
        fn every_adjacent_swap_is_refused(id in valid_id(), pos in 0usize..17) {
            let mut bytes = id.clone().into_bytes();
            if bytes[pos] != bytes[pos + 1] {
                bytes.swap(pos, pos + 1);
                let swapped = String::from_utf8(bytes).unwrap();
                prop_assert!(IdNumber::parse(&swapped, today()).is_err(), "{} accepted", swapped);
            }
        }
    }
}
