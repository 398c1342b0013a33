//! The subsidy policy: every rule of the money and the calendar in one place.
//!
//! A policy is data (see `config/`), not code. Shenzhen 2020 paid 0.5 yuan
//! per m² per month for 2 months, took applications until 31 March and paid
//! out by the end of April; another city changes the file, not the program.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};

use crate::calendar::{TimeLimits, WorkCalendar};
use crate::documents::DocumentKind;
use crate::money::{Area, Fen};

/// Asia/Shanghai has kept UTC+8 without daylight saving since 1991, so a
/// fixed offset renders its instants exactly.
pub fn shanghai() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Policy {
    pub id: String,
    pub name: String,
    /// Fen per m² per month: 50 for 0.5 yuan.
    pub rate_fen_per_m2_month: u32,
    pub months: u32,
    /// Applications may be created and submitted from this instant...
    pub opens_at: DateTime<FixedOffset>,
    /// ...until this instant (exclusive).
    pub closes_at: DateTime<FixedOffset>,
    /// Payments must be made before this instant.
    pub payout_deadline: DateTime<FixedOffset>,
    /// A returned application may be resubmitted until this instant
    /// (exclusive), so that a return after the window closed can still be
    /// fixed. Absent in a file: `closesAt` plus [`RESUBMIT_GRACE_DAYS`].
    #[serde(default)]
    pub resubmit_until: Option<DateTime<FixedOffset>>,
    /// A failed payment may be re-issued until this instant (exclusive),
    /// so that a bank failure after the payout deadline can still be paid.
    /// Absent in a file: `payoutDeadline` plus [`REISSUE_GRACE_DAYS`].
    #[serde(default)]
    pub reissue_until: Option<DateTime<FixedOffset>>,
    /// The largest managed area one project may claim.
    pub max_project_area: Area,
    /// Document kinds an application needs before it can be submitted.
    pub required_documents: Vec<DocumentKind>,
    /// Upper bound on one uploaded document, in bytes.
    pub max_document_bytes: u64,
    /// Budget per district-level unit code, used by disbursement.
    #[serde(default)]
    pub district_budgets: BTreeMap<String, Fen>,
    /// The year's holidays and moved working days, for time limits.
    #[serde(default)]
    pub calendar: WorkCalendar,
    /// The service time limit of each step (办理时限), in working days.
    #[serde(default)]
    pub time_limits: TimeLimits,
    /// Which notices also go by SMS, in which words, outside which hours.
    #[serde(default)]
    pub sms: crate::notify::sms::SmsSettings,
    /// Bulk approval (批量通过): above this many items, a spot check.
    #[serde(default = "default_spot_check_minimum")]
    pub spot_check_minimum: u32,
    /// The share of a bulk selection that must have been opened in detail
    /// (at least one), a number from 0.001 to 1 with at most three
    /// decimals: 0.1 is 10%.
    #[serde(default = "default_spot_check_rate", with = "per_mille")]
    pub spot_check_rate: u32,
    /// The public notice (公示) after the district's 审核, in calendar
    /// days counting the day of approval: anyone signed in may object until
    /// it ends, and the application is payable once it closes. 0 (the
    /// default) skips it: approved is payable at once.
    #[serde(default)]
    pub public_notice_days: u32,
}

/// The longest public notice a policy may set.
pub const MAX_PUBLIC_NOTICE_DAYS: u32 = 30;

fn default_spot_check_minimum() -> u32 {
    10
}

fn default_spot_check_rate() -> u32 {
    100
}

/// A rate stored in thousandths, so that sample sizes are integer
/// arithmetic: written and read as the decimal number a policy author
/// types (0.1).
mod per_mille {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u32, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(f64::from(*v) / 1000.0)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        let r = f64::deserialize(d)?;
        let thousandths = r * 1000.0;
        if !(r > 0.0 && r <= 1.0) || (thousandths - thousandths.round()).abs() > 1e-6 {
            return Err(serde::de::Error::custom(format!(
                "spotCheckRate must be from 0.001 to 1 with at most three decimals, not {r}"
            )));
        }
        Ok(thousandths.round() as u32)
    }
}

/// Days after `closesAt` a returned application may still be resubmitted,
/// unless the policy says otherwise.
pub const RESUBMIT_GRACE_DAYS: i64 = 15;
/// Days after `payoutDeadline` a failed payment may still be re-issued,
/// unless the policy says otherwise.
pub const REISSUE_GRACE_DAYS: i64 = 60;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("policy file is not valid: {0}")]
    Invalid(String),
}

/// Where an instant falls relative to the application window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    NotYetOpen,
    Open,
    Closed,
}

impl Policy {
    /// Parses and checks a policy file, filling in the grace periods it
    /// leaves out, so that the policy served and stored always names them.
    pub fn from_json(text: &str) -> Result<Policy, PolicyError> {
        let p: Policy = serde_json::from_str(text).map_err(|e| PolicyError::Invalid(e.to_string()))?;
        let p = p.with_defaults();
        p.check()?;
        Ok(p)
    }

    /// The policy with both grace periods named (their defaults if absent).
    pub fn with_defaults(self) -> Policy {
        Policy { resubmit_until: Some(self.resubmit_until()), reissue_until: Some(self.reissue_until()), ..self }
    }

    /// The last moment (exclusive) a returned application may be resubmitted.
    pub fn resubmit_until(&self) -> DateTime<FixedOffset> {
        self.resubmit_until.unwrap_or(self.closes_at + chrono::Duration::days(RESUBMIT_GRACE_DAYS))
    }

    /// The last moment (exclusive) a failed payment may be re-issued.
    pub fn reissue_until(&self) -> DateTime<FixedOffset> {
        self.reissue_until.unwrap_or(self.payout_deadline + chrono::Duration::days(REISSUE_GRACE_DAYS))
    }

    fn check(&self) -> Result<(), PolicyError> {
        let bad = |m: &str| Err(PolicyError::Invalid(m.to_string()));
        if self.id.trim().is_empty() {
            return bad("id must not be empty");
        }
        if self.rate_fen_per_m2_month == 0 || self.months == 0 {
            return bad("rateFenPerM2Month and months must be positive");
        }
        if self.opens_at >= self.closes_at {
            return bad("opensAt must be before closesAt");
        }
        if self.closes_at > self.payout_deadline {
            return bad("payoutDeadline must not be before closesAt");
        }
        if self.max_document_bytes == 0 {
            return bad("maxDocumentBytes must be positive");
        }
        if self.resubmit_until() < self.closes_at {
            return bad("resubmitUntil must not be before closesAt");
        }
        if self.reissue_until() < self.payout_deadline {
            return bad("reissueUntil must not be before payoutDeadline");
        }
        if self.public_notice_days > MAX_PUBLIC_NOTICE_DAYS {
            return bad("publicNoticeDays must be from 0 to 30");
        }
        self.calendar.check().map_err(PolicyError::Invalid)?;
        self.time_limits.check().map_err(PolicyError::Invalid)?;
        self.sms.check().map_err(PolicyError::Invalid)?;
        Ok(())
    }

    /// The subsidy for an area: area × rate × months, rounded half up to the
    /// fen once, at the end. Exact for every representable area.
    pub fn amount(&self, area: Area) -> Fen {
        // hundredths of m² × fen/m²/month × months = hundredths of a fen.
        let hundredths_of_fen = area.hundredths() as i128 * self.rate_fen_per_m2_month as i128 * self.months as i128;
        let fen = (hundredths_of_fen + 50) / 100;
        Fen::new(i64::try_from(fen).expect("area ≤ 10⁹ m² keeps the amount far inside i64"))
            .expect("a positive area gives a non-negative amount")
    }

    /// When a public notice published at `from` ends: the start of the
    /// China day `publicNoticeDays` after the day of `from` (the day of
    /// publication is the first day), so that one day's approvals share
    /// one end.
    pub fn notice_ends(&self, from: DateTime<Utc>) -> DateTime<Utc> {
        let tz = shanghai();
        let day = from.with_timezone(&tz).date_naive() + chrono::Duration::days(i64::from(self.public_notice_days));
        day.and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_local_timezone(tz).single())
            .expect("UTC+8 has no gaps")
            .with_timezone(&Utc)
    }

    pub fn window(&self, now: DateTime<Utc>) -> Window {
        if now < self.opens_at {
            Window::NotYetOpen
        } else if now < self.closes_at {
            Window::Open
        } else {
            Window::Closed
        }
    }

    /// The same terms with the calendar moved so the window opens at
    /// `opens_at`, keeping its length and the payout delay. Demo data uses
    /// this to run the real Shenzhen terms today.
    pub fn shifted_to_open_at(&self, opens_at: DateTime<Utc>) -> Policy {
        let tz = shanghai();
        let shift = opens_at - self.opens_at.with_timezone(&Utc);
        Policy {
            opens_at: (self.opens_at + shift).with_timezone(&tz),
            closes_at: (self.closes_at + shift).with_timezone(&tz),
            payout_deadline: (self.payout_deadline + shift).with_timezone(&tz),
            resubmit_until: Some((self.resubmit_until() + shift).with_timezone(&tz)),
            reissue_until: Some((self.reissue_until() + shift).with_timezone(&tz)),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy() -> Policy {
        Policy::from_json(include_str!("../../config/policy-shenzhen-2020.json")).unwrap()
    }

    #[test]
    fn the_public_notice_is_off_in_shenzhen_and_ends_at_the_start_of_the_day_after_its_last() {
        assert_eq!(policy().public_notice_days, 0, "the seed describes no notice period");
        let notice = Policy::from_json(include_str!("../../config/policy-shenzhen-2020-notice.json")).unwrap();
        assert_eq!(notice.public_notice_days, 5);
        // Approved 10 March 23:30 China time: 10–14 March, ends 15 March 00:00.
        let at = DateTime::parse_from_rfc3339("2020-03-10T23:30:00+08:00").unwrap().with_timezone(&Utc);
        let ends = DateTime::parse_from_rfc3339("2020-03-15T00:00:00+08:00").unwrap().with_timezone(&Utc);
        assert_eq!(notice.notice_ends(at), ends);
        // 00:10 the next day is a day later.
        let next = DateTime::parse_from_rfc3339("2020-03-11T00:10:00+08:00").unwrap().with_timezone(&Utc);
        assert_eq!(notice.notice_ends(next) - ends, chrono::Duration::days(1));
    }

    #[test]
    fn a_notice_longer_than_thirty_days_or_negative_is_refused() {
        let mut v: serde_json::Value =
            serde_json::from_str(include_str!("../../config/policy-shenzhen-2020.json")).unwrap();
        for bad in [serde_json::json!(31), serde_json::json!(-1), serde_json::json!(2.5), serde_json::json!("5")] {
            v["publicNoticeDays"] = bad.clone();
            assert!(Policy::from_json(&v.to_string()).is_err(), "{bad} accepted");
        }
        v["publicNoticeDays"] = serde_json::json!(30);
        assert_eq!(Policy::from_json(&v.to_string()).unwrap().public_notice_days, 30);
    }

    #[test]
    fn shenzhen_pays_one_yuan_per_square_metre_in_total() {
        let p = policy();
        assert_eq!(p.amount(Area::parse("1").unwrap()).fen(), 100);
        assert_eq!(p.amount(Area::parse("12345.67").unwrap()).to_string(), "12345.67");
        // The seed figure: 223 million m² is 223 million yuan.
        assert_eq!(p.amount(Area::parse("223000000").unwrap()).to_string(), "223000000.00");
    }

    #[test]
    fn spot_checks_default_to_ten_items_and_ten_percent_and_a_rate_is_a_share() {
        let p = policy();
        assert_eq!((p.spot_check_minimum, p.spot_check_rate), (10, 100));
        let file = include_str!("../../config/policy-shenzhen-2020.json");
        let mut v: serde_json::Value = serde_json::from_str(file).unwrap();
        v["spotCheckRate"] = serde_json::json!(0.25);
        v["spotCheckMinimum"] = serde_json::json!(0);
        let set = Policy::from_json(&v.to_string()).unwrap();
        assert_eq!((set.spot_check_minimum, set.spot_check_rate), (0, 250));
        // Served as typed, and read back the same.
        let served = serde_json::to_value(&set).unwrap();
        assert_eq!(served["spotCheckRate"], serde_json::json!(0.25));
        assert_eq!(Policy::from_json(&served.to_string()).unwrap(), set);
        for bad in [
            serde_json::json!(0),
            serde_json::json!(-0.1),
            serde_json::json!(1.5),
            serde_json::json!(0.0005),
            serde_json::json!("0.1"),
        ] {
            v["spotCheckRate"] = bad.clone();
            let e = Policy::from_json(&v.to_string()).unwrap_err().to_string();
            assert!(e.contains("spotCheckRate") || e.contains("invalid type"), "{bad}: {e}");
        }
        v["spotCheckRate"] = serde_json::json!(1);
        assert_eq!(Policy::from_json(&v.to_string()).unwrap().spot_check_rate, 1000, "everything checked");
    }

    #[test]
    fn the_grace_periods_default_from_the_deadlines_and_must_not_end_before_them() {
        let file = include_str!("../../config/policy-shenzhen-2020.json");
        let p = policy();
        assert_eq!(p.resubmit_until, Some(p.closes_at + chrono::Duration::days(RESUBMIT_GRACE_DAYS)));
        assert_eq!(p.reissue_until, Some(p.payout_deadline + chrono::Duration::days(REISSUE_GRACE_DAYS)));
        // A file without them gets the same defaults, and shows them when served.
        let mut v: serde_json::Value = serde_json::from_str(file).unwrap();
        v.as_object_mut().unwrap().remove("resubmitUntil");
        v.as_object_mut().unwrap().remove("reissueUntil");
        let bare = Policy::from_json(&v.to_string()).unwrap();
        assert_eq!(bare, p);
        assert!(serde_json::to_string(&bare).unwrap().contains("\"resubmitUntil\":\"2020-04-16T00:00:00+08:00\""));
        // A policy may give more time, never less than the deadline it extends.
        v["reissueUntil"] = "2020-12-31T00:00:00+08:00".into();
        assert_eq!(
            Policy::from_json(&v.to_string()).unwrap().reissue_until().to_rfc3339(),
            "2020-12-31T00:00:00+08:00"
        );
        for (field, too_early) in
            [("resubmitUntil", "2020-03-31T00:00:00+08:00"), ("reissueUntil", "2020-04-30T00:00:00+08:00")]
        {
            let mut bad = v.clone();
            bad[field] = too_early.into();
            let e = Policy::from_json(&bad.to_string()).unwrap_err().to_string();
            assert!(e.contains(field), "{field}: {e}");
        }
        let mut bad = v.clone();
        bad["resubmitUntil"] = "next week".into();
        assert!(Policy::from_json(&bad.to_string()).is_err());
        // Moving the calendar moves them too.
        let moved = p.shifted_to_open_at(Utc::now());
        assert_eq!(moved.resubmit_until() - moved.closes_at, p.resubmit_until() - p.closes_at);
        assert_eq!(moved.reissue_until() - moved.payout_deadline, p.reissue_until() - p.payout_deadline);
    }

    #[test]
    fn rounding_is_half_up_once_at_the_end() {
        let mut p = policy();
        p.rate_fen_per_m2_month = 35;
        p.months = 1;
        // 0.01 m² × 35 fen = 0.35 fen → 0; 0.02 m² → 0.70 → 1; 0.10 m² → 3.5 → 4.
        assert_eq!(p.amount(Area::from_hundredths(1).unwrap()).fen(), 0);
        assert_eq!(p.amount(Area::from_hundredths(2).unwrap()).fen(), 1);
        assert_eq!(p.amount(Area::from_hundredths(10).unwrap()).fen(), 4);
    }

    #[test]
    fn the_window_is_closed_at_its_closing_instant() {
        let p = policy();
        let closes = p.closes_at.with_timezone(&Utc);
        assert_eq!(p.window(closes - chrono::Duration::seconds(1)), Window::Open);
        assert_eq!(p.window(closes), Window::Closed);
        assert_eq!(p.window(p.opens_at.with_timezone(&Utc) - chrono::Duration::seconds(1)), Window::NotYetOpen);
        // 31 March 2020 ends at 24:00 in Shenzhen, which is 16:00 UTC.
        assert_eq!(closes.to_rfc3339(), "2020-03-31T16:00:00+00:00");
    }

    #[test]
    fn a_shifted_policy_keeps_its_terms_and_durations() {
        let p = policy();
        let now = Utc::now();
        let s = p.shifted_to_open_at(now);
        assert_eq!(s.window(now), Window::Open);
        assert_eq!(s.closes_at - s.opens_at, p.closes_at - p.opens_at);
        assert_eq!(s.payout_deadline - s.closes_at, p.payout_deadline - p.closes_at);
        assert_eq!(s.rate_fen_per_m2_month, 50);
    }

    #[test]
    fn invalid_policy_files_are_refused_with_a_reason() {
        let mut j: serde_json::Value =
            serde_json::from_str(include_str!("../../config/policy-shenzhen-2020.json")).unwrap();
        j["rateFenPerM2Month"] = 0.into();
        assert!(Policy::from_json(&j.to_string()).is_err());
        let mut j2: serde_json::Value =
            serde_json::from_str(include_str!("../../config/policy-shenzhen-2020.json")).unwrap();
        j2["closesAt"] = "2020-01-01T00:00:00+08:00".into();
        assert!(Policy::from_json(&j2.to_string()).is_err());
        let mut j3: serde_json::Value =
            serde_json::from_str(include_str!("../../config/policy-shenzhen-2020.json")).unwrap();
        j3["surprise"] = 1.into();
        assert!(Policy::from_json(&j3.to_string()).is_err());
    }

    #[test]
    fn sms_settings_that_cannot_be_sent_are_refused_when_the_policy_is_loaded() {
        let file = || -> serde_json::Value {
            serde_json::from_str(include_str!("../../config/policy-shenzhen-2020.json")).unwrap()
        };
        let refused = |j: serde_json::Value| match Policy::from_json(&j.to_string()) {
            Err(PolicyError::Invalid(why)) => why,
            Ok(_) => panic!("accepted: {j}"),
        };
        // The file sends SMS, with the bundled templates.
        let p = Policy::from_json(&file().to_string()).unwrap();
        assert!(p.sms.events.contains(&crate::notify::NoticeKind::Paid) && p.sms.templates.is_none());
        // A template that uses a variable its event does not provide.
        let mut j = file();
        j["sms"]["templates"] = serde_json::json!({"paid": {"zh-CN": "{project}已拨付{reason}"}});
        let why = refused(j);
        assert!(why.contains("{reason}") && why.contains("paid"), "{why}");
        // An event that sends with no template in the language.
        let mut j = file();
        j["sms"]["templates"] = serde_json::json!({"paid": {"en": "{project} paid {amount}"}});
        assert!(refused(j).contains("has no template in"));
        // Unknown events, languages, fields and malformed hours.
        for (path, bad) in [
            ("events", serde_json::json!(["paid", "teleported"])),
            ("language", serde_json::json!("fr")),
            ("quietHours", serde_json::json!({"from": "22:00", "until": "8am"})),
            ("surprise", serde_json::json!(true)),
        ] {
            let mut j = file();
            j["sms"][path] = bad;
            refused(j);
        }
    }

    #[test]
    fn calendars_and_time_limits_that_cannot_be_right_are_refused_with_a_reason() {
        let file = || -> serde_json::Value {
            serde_json::from_str(include_str!("../../config/policy-shenzhen-2020.json")).unwrap()
        };
        let refused = |j: serde_json::Value| match Policy::from_json(&j.to_string()) {
            Err(PolicyError::Invalid(why)) => why,
            Ok(_) => panic!("accepted: {j}"),
        };
        let mut j = file();
        j["calendar"]["workingWeekends"] = serde_json::json!(["2020-01-01"]);
        assert!(refused(j).contains("both a holiday and a working weekend day"));
        let mut j = file();
        j["calendar"]["workingWeekends"] = serde_json::json!(["2020-03-04"]);
        assert!(refused(j).contains("only a Saturday or Sunday"));
        for bad in ["2020-02-30", "not a date", "2020-1-1x"] {
            let mut j = file();
            j["calendar"]["holidays"] = serde_json::json!([bad]);
            assert!(!refused(j).is_empty(), "{bad}");
        }
        let mut j = file();
        j["calendar"]["days"] = serde_json::json!([]);
        assert!(refused(j).contains("unknown field"));
        let mut j = file();
        j["timeLimits"]["community"] = 0.into();
        assert!(refused(j).contains("timeLimits.community"));
        let mut j = file();
        j["timeLimits"]["district"] = (-1).into();
        assert!(!refused(j).is_empty());
        let mut j = file();
        j["timeLimits"].as_object_mut().unwrap().remove("finance");
        assert!(refused(j).contains("finance"), "a limit left out of a listed set is an error, not a default");

        // Left out whole, both default: no holidays, and the default limits.
        let mut j = file();
        j.as_object_mut().unwrap().remove("calendar");
        j.as_object_mut().unwrap().remove("timeLimits");
        let p = Policy::from_json(&j.to_string()).unwrap();
        assert!(p.calendar.holidays.is_empty());
        assert_eq!(p.time_limits, crate::calendar::TimeLimits::default());
        assert_eq!(policy().time_limits.community, 5);
        assert_eq!(policy().calendar.holidays.len(), 30);
    }

    proptest! {
        /// At 0.5 yuan × 2 months the subsidy is 1 yuan per m²: the amount
        /// in fen must equal the area in hundredths of m², with no rounding.
        #[test]
        fn the_amount_is_exact_for_any_area_up_to_a_billion_square_metres(h in 1i64..=100_000_000_000) {
            let p = policy();
            let area = Area::from_hundredths(h).unwrap();
            // 1 yuan per m² in total: the amount in fen equals the area in hundredths.
            prop_assert_eq!(p.amount(area).fen(), h);
            prop_assert_eq!(p.amount(area).to_string(), area.to_string());
        }

        #[test]
        fn any_rate_rounds_half_up_and_never_overflows(h in 1i64..=100_000_000_000, rate in 1u32..=10_000, months in 1u32..=24) {
            let mut p = policy();
            p.rate_fen_per_m2_month = rate;
            p.months = months;
            let exact = h as i128 * rate as i128 * months as i128; // hundredths of a fen
            let got = p.amount(Area::from_hundredths(h).unwrap()).fen() as i128;
            // got is the nearest fen, ties upward: 100·got − 50 ≤ exact < 100·got + 50.
            prop_assert!(100 * got - 50 <= exact && exact < 100 * got + 50, "h={} got={}", h, got);
        }

        #[test]
        fn amounts_are_additive_to_within_rounding(a in 1i64..=1_000_000_000, b in 1i64..=1_000_000_000) {
            let p = policy();
            let sum = p.amount(Area::from_hundredths(a + b).unwrap()).fen();
            let parts = p.amount(Area::from_hundredths(a).unwrap()).fen() + p.amount(Area::from_hundredths(b).unwrap()).fen();
            prop_assert_eq!(sum, parts);
        }
    }
}
