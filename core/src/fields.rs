//! Small validated field types: phone numbers, bank accounts, free text.
//!
//! Each type is built only by its `parse`, so a value that exists is valid.
//! Masking for display lives here too, so every view masks the same way.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A mainland China mobile number: 11 digits starting with 1[3-9].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("must be an 11-digit mainland mobile number starting with 13-19, e.g. 13800138000")]
    Malformed,
}

impl Phone {
    /// Accepts "13800138000", "138 0013 8000", "138-0013-8000" and a "+86" prefix.
    pub fn parse(input: &str) -> Result<Phone, PhoneError> {
        let compact: String = input.trim().chars().filter(|c| *c != ' ' && *c != '-').collect();
        let digits = compact.strip_prefix("+86").or_else(|| compact.strip_prefix("0086")).unwrap_or(&compact);
        let b = digits.as_bytes();
        let ok = b.len() == 11 && b.iter().all(u8::is_ascii_digit) && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]);
        if ok { Ok(Phone(digits.to_string())) } else { Err(PhoneError::Malformed) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// "138****8000": the form shown to anyone but the number's owner.
    pub fn masked(&self) -> String {
        format!("{}****{}", &self.0[..3], &self.0[7..])
    }
}

impl TryFrom<String> for Phone {
    type Error = PhoneError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Phone::parse(&s)
    }
}

impl From<Phone> for String {
    fn from(p: Phone) -> String {
        p.0
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Trimmed, non-empty, bounded text without control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Text(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {0} characters")]
    TooLong(usize),
    #[error("must not contain control or invisible formatting characters")]
    ControlCharacter,
}

impl Text {
    pub fn parse(input: &str, max_chars: usize) -> Result<Text, TextError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(TextError::Empty);
        }
        if s.chars().count() > max_chars {
            return Err(TextError::TooLong(max_chars));
        }
        if s.chars().any(is_forbidden_char) {
            return Err(TextError::ControlCharacter);
        }
        Ok(Text(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Control characters, and the invisible bidi and zero-width characters that
/// make one name look like another.
fn is_forbidden_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A company's settlement account (对公账户).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BankAccount {
    pub bank_name: Text,
    pub account_name: Text,
    pub account_number: AccountNumber,
}

/// A bank account number: 8 to 32 digits. Spaces and hyphens are dropped.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountNumber(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountNumberError {
    #[error("must be 8 to 32 digits")]
    Malformed,
}

impl AccountNumber {
    pub fn parse(input: &str) -> Result<AccountNumber, AccountNumberError> {
        let digits: String = input.trim().chars().filter(|c| *c != ' ' && *c != '-').collect();
        let ok = (8..=32).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
        if ok { Ok(AccountNumber(digits)) } else { Err(AccountNumberError::Malformed) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// "****1234": only the last four digits are ever shown in views.
    pub fn masked(&self) -> String {
        format!("****{}", &self.0[self.0.len() - 4..])
    }
}

impl TryFrom<String> for AccountNumber {
    type Error = AccountNumberError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        AccountNumber::parse(&s)
    }
}

impl From<AccountNumber> for String {
    fn from(a: AccountNumber) -> String {
        a.0
    }
}

/// A request field parsed as [`Text`] of at most `max` characters, or a 422
/// naming the field.
pub(crate) fn text(field: &str, value: &str, max: usize) -> Result<Text, crate::error::Error> {
    Text::parse(value, max).map_err(|e| crate::error::Error::invalid(field, e.to_string()))
}

/// A request field parsed as a [`Phone`], or a 422 naming the field.
pub(crate) fn phone(field: &str, value: &str) -> Result<Phone, crate::error::Error> {
    Phone::parse(value).map_err(|e| crate::error::Error::invalid(field, e.to_string()))
}

/// A request field parsed as an area in m², or a 422 naming the field.
pub(crate) fn area(field: &str, value: &str) -> Result<crate::money::Area, crate::error::Error> {
    crate::money::Area::parse(value).map_err(|e| crate::error::Error::invalid(field, e.to_string()))
}

pub(crate) fn reason(field: &str, r: &Option<String>) -> Result<Option<Text>, crate::error::Error> {
    r.as_deref().map(|s| text(field, s, 500)).transpose()
}

pub(crate) fn required_reason(r: &Option<String>) -> Result<Text, crate::error::Error> {
    reason("reason", r)?.ok_or_else(|| crate::error::Error::invalid("reason", "a reason is required"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn mobile_numbers_in_common_shapes_parse_to_eleven_digits() {
        for ok in
            ["13800138000", "138 0013 8000", "138-0013-8000", "+8613800138000", "+86 138 0013 8000", "19912345678"]
        {
            assert_eq!(Phone::parse(ok).unwrap().as_str().len(), 11, "{ok}");
        }
    }

    #[test]
    fn malformed_phone_numbers_are_refused() {
        for bad in [
            "",
            "1380013800",
            "138001380001",
            "12800138000",
            "23800138000",
            "1380013800a",
            "010-12345678",
            "+1 13800138000",
            "１３８００１３８０００",
        ] {
            assert_eq!(Phone::parse(bad), Err(PhoneError::Malformed), "{bad}");
        }
    }

    #[test]
    fn phones_and_accounts_are_masked_for_display() {
        assert_eq!(Phone::parse("13800138000").unwrap().masked(), "138****8000");
        assert_eq!(AccountNumber::parse("6222 0200 0000 1234").unwrap().masked(), "****1234");
    }

    #[test]
    fn account_numbers_must_be_digits_of_sane_length() {
        assert!(AccountNumber::parse("1234567").is_err());
        assert!(AccountNumber::parse("123456789012345678901234567890123").is_err());
        assert!(AccountNumber::parse("62220200x0001234").is_err());
        assert!(AccountNumber::parse("12345678").is_ok());
    }

    #[test]
    fn text_is_trimmed_bounded_and_free_of_invisible_characters() {
        assert_eq!(Text::parse("  万科物业 ", 10).unwrap().as_str(), "万科物业");
        assert_eq!(Text::parse("   ", 10), Err(TextError::Empty));
        assert_eq!(Text::parse("一二三四五六", 5), Err(TextError::TooLong(5)));
        assert_eq!(Text::parse("万科\u{202E}物业", 50), Err(TextError::ControlCharacter));
        assert_eq!(Text::parse("a\u{0}b", 50), Err(TextError::ControlCharacter));
        assert_eq!(Text::parse("万\u{200B}科", 50), Err(TextError::ControlCharacter));
    }

    proptest! {
        #[test]
        fn a_parsed_phone_is_always_eleven_ascii_digits(s in "\\PC{0,20}") {
            if let Ok(p) = Phone::parse(&s) {
                prop_assert_eq!(p.as_str().len(), 11);
                prop_assert!(p.as_str().bytes().all(|b| b.is_ascii_digit()));
            }
        }

        #[test]
        fn a_phone_parses_the_same_however_it_is_spaced_and_masks_its_middle(
            second in 3u8..=9, rest in "[0-9]{9}", seps in proptest::collection::vec("[ -]?", 11), plus86 in proptest::bool::ANY,
        ) {
            let digits = format!("1{second}{rest}");
            let spaced: String = digits.chars().zip(&seps).map(|(c, sep)| format!("{c}{sep}")).collect();
            let input = if plus86 { format!("+86 {spaced}") } else { spaced };
            let p = Phone::parse(&input).unwrap();
            prop_assert_eq!(p.as_str(), digits.as_str());
            let masked = p.masked();
            prop_assert_eq!(&masked[3..7], "****");
            prop_assert_eq!(format!("{}{}", &masked[..3], &masked[7..]), format!("{}{}", &digits[..3], &digits[7..]));
        }

        #[test]
        fn a_parsed_account_number_is_8_to_32_digits_and_shows_only_its_last_four(s in "[0-9 a-]{0,40}") {
            match AccountNumber::parse(&s) {
                Ok(a) => {
                    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
                    prop_assert_eq!(a.as_str(), digits.as_str());
                    prop_assert!((8..=32).contains(&digits.len()));
                    prop_assert_eq!(a.masked(), format!("****{}", &digits[digits.len() - 4..]));
                }
                Err(_) => {
                    let digits = s.chars().filter(char::is_ascii_digit).count();
                    prop_assert!(s.contains('a') || !(8..=32).contains(&digits));
                }
            }
        }

        #[test]
        fn parsed_text_never_holds_control_bidi_or_zero_width_characters(
            s in "[a-z 万科\\u{0}\t\n\u{7F}\u{200B}\u{200F}\u{202A}\u{202E}\u{2066}\u{FEFF}]{0,12}",
        ) {
            if let Ok(t) = Text::parse(&s, 50) {
                let invisible = |c: char| {
                    c.is_control() || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
                };
                prop_assert!(!t.as_str().chars().any(invisible));
                prop_assert_eq!(t.as_str(), s.trim());
            }
        }

        #[test]
        fn parsed_text_is_never_empty_and_never_longer_than_allowed(s in "\\PC{0,30}", max in 1usize..20) {
            if let Ok(t) = Text::parse(&s, max) {
                prop_assert!(!t.as_str().is_empty());
                prop_assert!(t.as_str().chars().count() <= max);
            }
        }
    }
}
