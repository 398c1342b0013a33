//! Money and area as exact integers.
//!
//! Money is a whole number of fen (0.01 yuan); area is a whole number of
//! hundredths of a square metre. Neither type ever touches a float. Both
//! serialize as decimal strings ("12345.67") so that no JSON client can
//! round them; the raw integers are exposed separately where a client needs
//! to do arithmetic.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The largest area the type can hold: 10⁹ m². The policy sets a far lower
/// limit per project; this bound only keeps arithmetic far from overflow.
pub const MAX_AREA_M2: i64 = 1_000_000_000;

/// An amount of money in fen. Non-negative by construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Fen(i64);

impl Fen {
    pub const ZERO: Fen = Fen(0);

    /// Builds an amount from fen. Negative amounts do not exist in this domain.
    pub fn new(fen: i64) -> Option<Fen> {
        (fen >= 0).then_some(Fen(fen))
    }

    pub fn fen(self) -> i64 {
        self.0
    }

    /// Parses "1234.5", "1234.50" or "1234" (yuan) exactly.
    pub fn parse_yuan(s: &str) -> Result<Fen, DecimalError> {
        parse_hundredths(s, i64::MAX / 100).map(Fen)
    }

    pub fn checked_add(self, other: Fen) -> Option<Fen> {
        self.0.checked_add(other.0).map(Fen)
    }

    pub fn checked_sub(self, other: Fen) -> Option<Fen> {
        self.0.checked_sub(other.0).and_then(Fen::new)
    }
}

impl fmt::Display for Fen {
    /// Yuan with exactly two decimals: "24691.34".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hundredths(f, self.0)
    }
}

/// A floor area in hundredths of a square metre, strictly positive and at
/// most [`MAX_AREA_M2`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Area(i64);

impl Area {
    /// Builds an area from hundredths of a square metre.
    pub fn from_hundredths(h: i64) -> Result<Area, AreaError> {
        if h <= 0 {
            return Err(AreaError::NotPositive);
        }
        if h > MAX_AREA_M2 * 100 {
            return Err(AreaError::TooLarge);
        }
        Ok(Area(h))
    }

    /// Parses a decimal number of square metres with at most two decimals.
    pub fn parse(s: &str) -> Result<Area, AreaError> {
        let s = s.trim();
        if let Some(rest) = s.strip_prefix('-') {
            // Say "not positive" rather than "malformed" for "-5".
            return match parse_hundredths(rest, MAX_AREA_M2 * 100) {
                Ok(_) | Err(DecimalError::TooLarge) => Err(AreaError::NotPositive),
                Err(e) => Err(AreaError::Malformed(e)),
            };
        }
        match parse_hundredths(s, MAX_AREA_M2 * 100) {
            Ok(h) => Area::from_hundredths(h),
            Err(DecimalError::TooLarge) => Err(AreaError::TooLarge),
            Err(e) => Err(AreaError::Malformed(e)),
        }
    }

    pub fn hundredths(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Area {
    /// Square metres with exactly two decimals: "12345.67".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hundredths(f, self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AreaError {
    #[error("area must be greater than zero")]
    NotPositive,
    #[error("area must not exceed {MAX_AREA_M2} m²")]
    TooLarge,
    #[error("{0}")]
    Malformed(DecimalError),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    #[error("must be a decimal number like \"12345.67\"")]
    NotANumber,
    #[error("at most two decimal places are allowed")]
    TooManyDecimals,
    #[error("number is too large")]
    TooLarge,
}

/// Parses an unsigned decimal with at most two fractional digits into hundredths.
fn parse_hundredths(s: &str, max: i64) -> Result<i64, DecimalError> {
    let s = s.trim();
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) || (s.contains('.') && frac.is_empty()) {
        return Err(DecimalError::NotANumber);
    }
    if frac.len() > 2 {
        return Err(DecimalError::TooManyDecimals);
    }
    let int = int.trim_start_matches('0');
    if int.len() > 17 {
        return Err(DecimalError::TooLarge);
    }
    let whole: i64 = if int.is_empty() { 0 } else { int.parse().map_err(|_| DecimalError::TooLarge)? };
    let mut cents: i64 = if frac.is_empty() { 0 } else { frac.parse().map_err(|_| DecimalError::NotANumber)? };
    if frac.len() == 1 {
        cents *= 10;
    }
    let total = whole.checked_mul(100).and_then(|w| w.checked_add(cents)).ok_or(DecimalError::TooLarge)?;
    if total > max {
        return Err(DecimalError::TooLarge);
    }
    Ok(total)
}

/// Formats a whole number of hundredths as a decimal: 1234567 → "12345.67".
pub fn format_hundredths(v: i64) -> String {
    struct H(i64);
    impl fmt::Display for H {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write_hundredths(f, self.0)
        }
    }
    H(v).to_string()
}

fn write_hundredths(f: &mut fmt::Formatter<'_>, v: i64) -> fmt::Result {
    let sign = if v < 0 { "-" } else { "" };
    let a = v.unsigned_abs();
    write!(f, "{sign}{}.{:02}", a / 100, a % 100)
}

impl Serialize for Fen {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Fen {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Fen::parse_yuan(&s).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Area {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Area {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Area::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_parses_exact_decimals() {
        assert_eq!(Area::parse("12345.67").unwrap().hundredths(), 1_234_567);
        assert_eq!(Area::parse("12345.6").unwrap().hundredths(), 1_234_560);
        assert_eq!(Area::parse("12345").unwrap().hundredths(), 1_234_500);
        assert_eq!(Area::parse("0.01").unwrap().hundredths(), 1);
        assert_eq!(Area::parse(" 7 ").unwrap().to_string(), "7.00");
    }

    #[test]
    fn area_rejects_zero_negative_and_absurd_values() {
        assert_eq!(Area::parse("0"), Err(AreaError::NotPositive));
        assert_eq!(Area::parse("0.00"), Err(AreaError::NotPositive));
        assert_eq!(Area::parse("-5"), Err(AreaError::NotPositive));
        assert_eq!(Area::parse("1000000000.01"), Err(AreaError::TooLarge));
        assert_eq!(Area::parse("99999999999999999999999"), Err(AreaError::TooLarge));
        assert!(Area::parse("1000000000").is_ok());
    }

    #[test]
    fn area_rejects_malformed_text() {
        for bad in ["", "abc", "1.234", "1e5", "1,000", "1.", ".5", "--1", "1.2.3", "+5", "١٢٣"] {
            assert!(
                matches!(Area::parse(bad), Err(AreaError::Malformed(_))),
                "{bad:?} should be malformed, got {:?}",
                Area::parse(bad)
            );
        }
    }

    #[test]
    fn fen_displays_as_yuan_with_two_decimals() {
        assert_eq!(Fen::new(2_469_134).unwrap().to_string(), "24691.34");
        assert_eq!(Fen::new(5).unwrap().to_string(), "0.05");
        assert_eq!(Fen::parse_yuan("0.5").unwrap().fen(), 50);
        assert!(Fen::new(-1).is_none());
    }

    #[test]
    fn hundredths_format_with_two_decimals_and_a_sign() {
        assert_eq!(format_hundredths(22_300_000_000), "223000000.00");
        assert_eq!(format_hundredths(0), "0.00");
        assert_eq!(format_hundredths(-5), "-0.05");
    }

    #[test]
    fn area_round_trips_through_json_as_a_string() {
        let a = Area::parse("223000000.00").unwrap();
        let j = serde_json::to_string(&a).unwrap();
        assert_eq!(j, "\"223000000.00\"");
        assert_eq!(serde_json::from_str::<Area>(&j).unwrap(), a);
        assert!(serde_json::from_str::<Area>("12.5").is_err(), "a JSON number is refused");
    }
}
