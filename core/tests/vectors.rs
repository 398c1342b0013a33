//! The validation vectors core shares with the web client
//! (`web/src/lib/vectors.test.ts` reads the same file): credit codes,
//! areas, subsidy amounts, phone and account numbers.

use serde_json::Value;
use subsidy_core::company::credit_code::{CreditCode, CreditCodeError};
use subsidy_core::fields::{AccountNumber, Phone};
use subsidy_core::money::{Area, AreaError, DecimalError};
use subsidy_core::policy::Policy;

fn vectors(kind: &str) -> Vec<Value> {
    let all: Value = serde_json::from_str(include_str!("vectors.json")).expect("vectors.json is JSON");
    let list = all[kind].as_array().unwrap_or_else(|| panic!("no {kind} vectors")).clone();
    assert!(list.len() >= 5, "{kind}: too few vectors to mean anything");
    list
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} missing in {v}"))
}

#[test]
fn credit_codes() {
    for v in vectors("creditCode") {
        let got = CreditCode::parse(s(&v, "input"));
        match (v.get("ok"), got) {
            (Some(ok), Ok(code)) => assert_eq!(code.as_str(), ok.as_str().unwrap(), "{v}"),
            (None, Err(CreditCodeError::WrongLength(n))) => {
                assert_eq!(s(&v, "error"), "wrong_length", "{v}");
                assert_eq!(n as u64, v["length"].as_u64().unwrap(), "{v}");
            }
            (None, Err(CreditCodeError::BadCharacter { position, .. })) => {
                assert_eq!(s(&v, "error"), "bad_character", "{v}");
                assert_eq!(position as u64, v["position"].as_u64().unwrap(), "{v}");
            }
            (None, Err(CreditCodeError::WrongCheckCharacter { expected, .. })) => {
                assert_eq!(s(&v, "error"), "wrong_check_character", "{v}");
                assert_eq!(expected.to_string(), s(&v, "expected"), "{v}");
            }
            (_, got) => panic!("{v}: got {got:?}"),
        }
    }
}

#[test]
fn areas() {
    for v in vectors("area") {
        let got = Area::parse(s(&v, "input"));
        match (v.get("hundredths"), got) {
            (Some(h), Ok(a)) => assert_eq!(a.hundredths(), h.as_i64().unwrap(), "{v}"),
            (None, Err(e)) => {
                let code = match e {
                    AreaError::NotPositive => "not_positive",
                    AreaError::TooLarge | AreaError::Malformed(DecimalError::TooLarge) => "too_large",
                    AreaError::Malformed(DecimalError::TooManyDecimals) => "too_many_decimals",
                    AreaError::Malformed(DecimalError::NotANumber) => "not_a_number",
                };
                assert_eq!(code, s(&v, "error"), "{v}");
            }
            (_, got) => panic!("{v}: got {got:?}"),
        }
    }
}

#[test]
fn amounts() {
    let base: Value = serde_json::from_str(include_str!("../../config/policy-shenzhen-2020.json")).unwrap();
    for v in vectors("amount") {
        let mut p = base.clone();
        p["rateFenPerM2Month"] = v["rateFenPerM2Month"].clone();
        p["months"] = v["months"].clone();
        let policy = Policy::from_json(&p.to_string()).unwrap();
        let area = Area::from_hundredths(v["areaHundredths"].as_i64().unwrap()).unwrap();
        assert_eq!(policy.amount(area).fen(), v["fen"].as_i64().unwrap(), "{v}");
    }
}

#[test]
fn phones() {
    for v in vectors("phone") {
        match (v.get("ok"), Phone::parse(s(&v, "input"))) {
            (Some(ok), Ok(p)) => {
                assert_eq!(p.as_str(), ok.as_str().unwrap(), "{v}");
                assert_eq!(p.masked(), s(&v, "masked"), "{v}");
            }
            (None, Err(_)) => assert_eq!(s(&v, "error"), "malformed"),
            (_, got) => panic!("{v}: got {got:?}"),
        }
    }
}

#[test]
fn account_numbers() {
    for v in vectors("accountNumber") {
        match (v.get("ok"), AccountNumber::parse(s(&v, "input"))) {
            (Some(ok), Ok(a)) => {
                assert_eq!(a.as_str(), ok.as_str().unwrap(), "{v}");
                assert_eq!(a.masked(), s(&v, "masked"), "{v}");
            }
            (None, Err(_)) => assert_eq!(s(&v, "error"), "malformed"),
            (_, got) => panic!("{v}: got {got:?}"),
        }
    }
}
