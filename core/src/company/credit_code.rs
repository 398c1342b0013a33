//! The unified social credit code (统一社会信用代码), GB 32100-2015.
//!
//! Eighteen characters from a 31-character alphabet (digits and capitals
//! without I, O, Z, S, V). The last character is a check character computed
//! from the first seventeen with fixed weights, modulo 31.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

/// A credit code whose length, alphabet and check character are valid.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CreditCode(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreditCodeError {
    #[error("must be exactly 18 characters, got {0}")]
    WrongLength(usize),
    #[error("character {position} ({found:?}) is not allowed; use digits and capital letters except I, O, Z, S, V")]
    BadCharacter { position: usize, found: char },
    #[error("check character is {found}, expected {expected}; please re-check the code")]
    WrongCheckCharacter { found: char, expected: char },
}

impl CreditCode {
    /// Parses a code. Surrounding spaces are ignored and lower case is
    /// accepted, since clerks type it by hand; the stored form is upper case.
    pub fn parse(input: &str) -> Result<CreditCode, CreditCodeError> {
        let s: String = input.trim().to_uppercase();
        let n = s.chars().count();
        if n != 18 {
            return Err(CreditCodeError::WrongLength(n));
        }
        let mut values = [0u32; 18];
        for (i, c) in s.chars().enumerate() {
            values[i] = value_of(c).ok_or(CreditCodeError::BadCharacter { position: i + 1, found: c })?;
        }
        let expected = check_character(&values[..17]);
        let found = s.chars().last().unwrap_or_default();
        if found != expected {
            return Err(CreditCodeError::WrongCheckCharacter { found, expected });
        }
        Ok(CreditCode(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Completes seventeen valid characters with their check character.
    /// Used by demo data and tests to make valid codes.
    pub fn with_check_character(first17: &str) -> Option<CreditCode> {
        let values: Option<Vec<u32>> = first17.chars().map(value_of).collect();
        let values = values?;
        if values.len() != 17 {
            return None;
        }
        let mut s = first17.to_string();
        s.push(check_character(&values));
        Some(CreditCode(s))
    }
}

fn value_of(c: char) -> Option<u32> {
    if !c.is_ascii() {
        return None;
    }
    ALPHABET.iter().position(|&a| a == c as u8).map(|p| p as u32)
}

fn check_character(values: &[u32]) -> char {
    let sum: u32 = values.iter().zip(WEIGHTS).map(|(v, w)| v * w).sum();
    let check = (31 - sum % 31) % 31;
    ALPHABET[check as usize] as char
}

impl fmt::Display for CreditCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for CreditCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for CreditCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        CreditCode::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_published_example_code_is_valid() {
        // The worked example printed in GB 32100-2015 explanatory material.
        assert!(CreditCode::parse("91350100M000100Y43").is_ok());
        assert_eq!(CreditCode::parse(" 91350100m000100y43 ").unwrap().as_str(), "91350100M000100Y43");
    }

    #[test]
    fn a_wrong_check_character_is_refused_and_the_expected_one_named() {
        let err = CreditCode::parse("91350100M000100Y44").unwrap_err();
        assert_eq!(err, CreditCodeError::WrongCheckCharacter { found: '4', expected: '3' });
    }

    #[test]
    fn wrong_length_and_forbidden_letters_are_refused() {
        assert_eq!(CreditCode::parse("9135010").unwrap_err(), CreditCodeError::WrongLength(7));
        assert_eq!(CreditCode::parse("").unwrap_err(), CreditCodeError::WrongLength(0));
        assert!(matches!(
            CreditCode::parse("91350100I000100Y43").unwrap_err(),
            CreditCodeError::BadCharacter { position: 9, found: 'I' }
        ));
        assert!(matches!(
            CreditCode::parse("91350100中000100Y43").unwrap_err(),
            CreditCodeError::BadCharacter { position: 9, .. }
        ));
    }

    proptest! {
        #[test]
        fn every_generated_code_parses(body in "[0-9A-HJ-NP-RTUW-Y]{17}") {
            let code = CreditCode::with_check_character(&body).unwrap();
            prop_assert_eq!(CreditCode::parse(code.as_str()).unwrap(), code);
        }

        #[test]
        fn changing_any_one_character_breaks_the_check(body in "[0-9A-HJ-NP-RTUW-Y]{17}", pos in 0usize..18, delta in 1u32..31) {
            let code = CreditCode::with_check_character(&body).unwrap();
            let mut chars: Vec<char> = code.as_str().chars().collect();
            let v = value_of(chars[pos]).unwrap();
            chars[pos] = ALPHABET[((v + delta) % 31) as usize] as char;
            let altered: String = chars.into_iter().collect();
            prop_assert!(CreditCode::parse(&altered).is_err());
        }

        #[test]
        fn whatever_parses_is_eighteen_valid_characters(s in "\\PC{0,40}") {
            if let Ok(code) = CreditCode::parse(&s) {
                prop_assert_eq!(code.as_str().len(), 18);
                prop_assert!(code.as_str().chars().all(|c| value_of(c).is_some()));
            }
        }
    }
}
