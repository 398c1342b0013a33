//! Working days (工作日) and service time limits (办理时限).
//!
//! Chinese government service promises a time limit per step, counted in
//! working days: Monday to Friday in China time, less the public holidays
//! the State Council announces each year, plus the weekend days it moves
//! work to (调休). Which days those are is data in the policy, not code.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use serde::{Deserialize, Serialize};

use crate::policy::shanghai;

/// The year's days off and moved working days.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkCalendar {
    /// Public holidays: no work, even on a weekday.
    #[serde(default)]
    pub holidays: BTreeSet<NaiveDate>,
    /// Weekend days that are working days (调休).
    #[serde(default)]
    pub working_weekends: BTreeSet<NaiveDate>,
}

impl WorkCalendar {
    /// Whether `day` is a working day.
    pub fn is_working_day(&self, day: NaiveDate) -> bool {
        if self.working_weekends.contains(&day) {
            return true;
        }
        !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) && !self.holidays.contains(&day)
    }

    /// When a step that began at `from` is due, given `days` working days:
    /// the end (24:00 China time) of the `days`-th working day after the
    /// day it began. The day it began does not count, whatever the hour, so
    /// a step begun any time on a Monday with two days is due at the end of
    /// Wednesday, and one begun on a Saturday at the end of Tuesday.
    pub fn due(&self, from: DateTime<Utc>, days: u32) -> DateTime<Utc> {
        self.due_from_day(from.with_timezone(&shanghai()).date_naive(), days)
    }

    /// [`WorkCalendar::due`] of a step begun at any hour of the China
    /// date `day`: the hour never matters, so counters keep only the day.
    pub fn due_from_day(&self, day: NaiveDate, days: u32) -> DateTime<Utc> {
        let mut day = day;
        let mut left = days;
        while left > 0 {
            day = day.succ_opt().expect("dates far inside chrono's range");
            if self.is_working_day(day) {
                left -= 1;
            }
        }
        end_of(day)
    }

    /// Whole working days past `due` at `now`: 0 until the first working
    /// day after it has ended.
    pub fn working_days_overdue(&self, due: DateTime<Utc>, now: DateTime<Utc>) -> u32 {
        if now <= due {
            return 0;
        }
        // `due` is the end of a day: count the working days that ended
        // after it and by `now`.
        let mut day = (due - Duration::seconds(1)).with_timezone(&shanghai()).date_naive();
        let mut n = 0;
        loop {
            day = day.succ_opt().expect("dates far inside chrono's range");
            if end_of(day) > now {
                return n;
            }
            if self.is_working_day(day) {
                n += 1;
            }
        }
    }

    /// The working day an instant counts toward: its China date if that
    /// is a working day, else the next working day (an urge on a Saturday
    /// counts toward Monday).
    pub fn working_day_of(&self, t: DateTime<Utc>) -> NaiveDate {
        let mut day = t.with_timezone(&shanghai()).date_naive();
        while !self.is_working_day(day) {
            day = day.succ_opt().expect("dates far inside chrono's range");
        }
        day
    }

    /// What a policy file may not say.
    pub fn check(&self) -> Result<(), String> {
        if let Some(d) = self.holidays.intersection(&self.working_weekends).next() {
            return Err(format!("{d} is both a holiday and a working weekend day"));
        }
        if let Some(d) = self.working_weekends.iter().find(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)) {
            return Err(format!(
                "workingWeekends lists {d}, a {:?}: only a Saturday or Sunday can be moved",
                d.weekday()
            ));
        }
        Ok(())
    }
}

/// 24:00 of `day` in China time.
fn end_of(day: NaiveDate) -> DateTime<Utc> {
    let next = day.succ_opt().expect("dates far inside chrono's range");
    shanghai()
        .from_local_datetime(&next.and_time(NaiveTime::MIN))
        .single()
        .expect("a fixed offset has one local time")
        .with_timezone(&Utc)
}

/// The service time limit of each step, in working days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TimeLimits {
    /// The project manager's confirmation of the area.
    pub area_confirmation: u32,
    /// 初审, the community's first review.
    pub community: u32,
    /// 复核, the subdistrict's re-review.
    pub subdistrict: u32,
    /// 审核, the district's audit.
    pub district: u32,
    /// District finance, from approval to a payment batch.
    pub finance: u32,
    /// Escalation: an application overdue at a review tier by more than
    /// this many working days is listed to the unit above.
    #[serde(default = "default_escalate_after")]
    pub escalate_after: u32,
}

fn default_escalate_after() -> u32 {
    3
}

impl Default for TimeLimits {
    fn default() -> TimeLimits {
        TimeLimits {
            area_confirmation: 3,
            community: 5,
            subdistrict: 5,
            district: 5,
            finance: 10,
            escalate_after: default_escalate_after(),
        }
    }
}

impl TimeLimits {
    pub fn check(&self) -> Result<(), String> {
        for (name, days) in [
            ("areaConfirmation", self.area_confirmation),
            ("community", self.community),
            ("subdistrict", self.subdistrict),
            ("district", self.district),
            ("finance", self.finance),
            ("escalateAfter", self.escalate_after),
        ] {
            if !(1..=60).contains(&days) {
                return Err(format!("timeLimits.{name} must be 1 to 60 working days, not {days}"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// The 2020 calendar as the Shenzhen policy file lists it.
    fn cal_2020() -> WorkCalendar {
        let policy = crate::policy::Policy::from_json(include_str!("../../config/policy-shenzhen-2020.json")).unwrap();
        policy.calendar
    }

    #[test]
    fn weekends_and_holidays_are_off_and_moved_weekends_are_on() {
        let c = cal_2020();
        assert!(c.is_working_day(d("2020-03-02")), "a Monday");
        assert!(!c.is_working_day(d("2020-03-07")), "a Saturday");
        assert!(!c.is_working_day(d("2020-04-06")), "清明, a Monday");
        assert!(!c.is_working_day(d("2020-01-31")), "the Spring Festival as extended, a Friday");
        assert!(c.is_working_day(d("2020-01-19")), "a Sunday worked for the Spring Festival");
        assert!(c.is_working_day(d("2020-04-26")), "a Sunday worked for 劳动节");
        assert!(!c.is_working_day(d("2020-02-01")), "the Saturday to be worked, cancelled by the extension");
    }

    #[test]
    fn a_step_is_due_at_the_end_of_its_last_working_day() {
        let c = cal_2020();
        // Monday 2 March 09:00 + 2 days: the end of Wednesday 4 March.
        assert_eq!(c.due(at("2020-03-02T09:00:00+08:00"), 2), at("2020-03-05T00:00:00+08:00"));
        // Late on a Monday is still Monday in China time (16:30 UTC is 00:30 Tuesday there).
        assert_eq!(c.due(at("2020-03-02T15:59:59Z"), 1), at("2020-03-04T00:00:00+08:00"));
        assert_eq!(c.due(at("2020-03-02T16:00:00Z"), 1), at("2020-03-05T00:00:00+08:00"));
        // Over a weekend: Friday 6 March + 1 is Monday 9 March.
        assert_eq!(c.due(at("2020-03-06T10:00:00+08:00"), 1), at("2020-03-10T00:00:00+08:00"));
        // Begun on a Saturday: + 2 is Tuesday.
        assert_eq!(c.due(at("2020-03-07T10:00:00+08:00"), 2), at("2020-03-11T00:00:00+08:00"));
        // Over 清明 (Sat 4 – Mon 6 April): Friday 3 April + 1 is Tuesday 7 April.
        assert_eq!(c.due(at("2020-04-03T10:00:00+08:00"), 1), at("2020-04-08T00:00:00+08:00"));
        // Over 劳动节 (1–5 May) with the moved Sunday 26 April and Saturday 9 May:
        // Friday 24 April + 3 is Sun 26 April, Mon 27, Tue 28.
        assert_eq!(c.due(at("2020-04-24T10:00:00+08:00"), 3), at("2020-04-29T00:00:00+08:00"));
        // Thursday 30 April + 2 is Wednesday 6 May and Thursday 7 May.
        assert_eq!(c.due(at("2020-04-30T10:00:00+08:00"), 2), at("2020-05-08T00:00:00+08:00"));
        // Zero days: the end of the day it began.
        assert_eq!(c.due(at("2020-03-02T09:00:00+08:00"), 0), at("2020-03-03T00:00:00+08:00"));
    }

    #[test]
    fn overdue_counts_the_working_days_ended_since() {
        let c = cal_2020();
        let due = at("2020-04-03T00:00:00+08:00"); // the end of Thursday 2 April
        assert_eq!(c.working_days_overdue(due, at("2020-04-02T23:59:59+08:00")), 0, "not yet due");
        assert_eq!(c.working_days_overdue(due, at("2020-04-03T12:00:00+08:00")), 0, "Friday not over yet");
        assert_eq!(c.working_days_overdue(due, at("2020-04-04T00:00:00+08:00")), 1, "Friday is over");
        // Saturday to Monday (清明) add nothing.
        assert_eq!(c.working_days_overdue(due, at("2020-04-07T00:00:00+08:00")), 1);
        assert_eq!(c.working_days_overdue(due, at("2020-04-08T00:00:00+08:00")), 2, "Tuesday is over");
    }

    #[test]
    fn a_calendar_that_contradicts_itself_is_refused() {
        let both = WorkCalendar { holidays: [d("2020-01-19")].into(), working_weekends: [d("2020-01-19")].into() };
        assert!(both.check().unwrap_err().contains("both"));
        let weekday = WorkCalendar { holidays: BTreeSet::new(), working_weekends: [d("2020-03-02")].into() };
        assert!(weekday.check().unwrap_err().contains("Saturday or Sunday"));
        assert!(cal_2020().check().is_ok());
    }

    #[test]
    fn each_waiting_state_has_its_steps_limit_and_the_others_none() {
        use crate::application::state::State;
        let p = crate::testkit::policy();
        let since = at("2020-03-02T09:00:00+08:00"); // a Monday
        for (state, days) in [
            (State::AwaitingAreaConfirmation, 3),
            (State::PendingCommunity, 5),
            (State::PendingSubdistrict, 5),
            (State::PendingDistrict, 5),
            (State::Approved, 10),
        ] {
            let mut a = crate::testkit::at_state(crate::testkit::draft("10"), state);
            a.state_since = since;
            assert_eq!(a.due_at(&p), Some(p.calendar.due(since, days)), "{state:?}");
        }
        for state in
            [State::Draft, State::Returned, State::Rejected, State::Withdrawn, State::InPaymentBatch, State::Paid]
        {
            let a = crate::testkit::at_state(crate::testkit::draft("10"), state);
            assert_eq!(a.due_at(&p), None, "{state:?}");
        }
        // 初审 from Monday 2 March: five working days end on Monday 9 March.
        let mut a = crate::testkit::at_state(crate::testkit::draft("10"), State::PendingCommunity);
        a.state_since = since;
        assert_eq!(a.due_at(&p), Some(at("2020-03-10T00:00:00+08:00")));
    }

    #[test]
    fn time_limits_are_bounded() {
        assert!(TimeLimits::default().check().is_ok());
        assert!(TimeLimits { community: 0, ..TimeLimits::default() }.check().unwrap_err().contains("community"));
        assert!(TimeLimits { finance: 61, ..TimeLimits::default() }.check().unwrap_err().contains("finance"));
    }
}
