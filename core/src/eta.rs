//! **Capability: how long a step usually takes (ETA).** For the step an
//! application waits at, the median time that step took in the same unit
//! over the last [`WINDOW_DAYS`] days, in working days, e.g.
//! "社区初审通常需要 2 个工作日"; with fewer than [`MIN_SAMPLES`] there, the
//! city-wide median of the step.
//!
//! A **sample** is one application leaving a timed step (the manager's
//! confirmation, 初审, 复核, 审核, finance from approval to a batch),
//! derived from the change record alone ([`samples_of`]), so the stream
//! consumer (AWS) and the outbox dispatcher (standalone) record the same
//! samples. Its length counts like a time limit: the least number of
//! working days `d` with the step done by `calendar.due(entered, d)`, so a
//! step done the day it began took 0, and one done on the next working day
//! took 1. The store keeps each (unit, step, application) once, so a
//! redelivered change adds nothing, and keeps a city-wide count per step,
//! day and length beside it. Reading is a range of one unit's samples and
//! at most that many days of the city's counts: never the applications.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::application::dispatch::ChangeRecord;
use crate::application::{Application, State};
use crate::calendar::WorkCalendar;
use crate::context::Context;
use crate::error::Error;
use crate::jurisdiction::Level;
use crate::ports::StoreResult;

/// The days a median looks back over, today included.
pub const WINDOW_DAYS: i64 = 14;
/// Fewer samples than this in the unit, and the city's median is given.
pub const MIN_SAMPLES: u64 = 10;
/// Samples longer than this count as this long (a step left for months
/// says nothing more about the usual time).
pub const LONGEST: u32 = 60;

/// A step with a time limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    AreaConfirmation,
    Community,
    Subdistrict,
    District,
    Finance,
}

impl Step {
    pub const ALL: [Step; 5] =
        [Step::AreaConfirmation, Step::Community, Step::Subdistrict, Step::District, Step::Finance];

    /// The step an application in `state` waits at.
    pub fn of(state: State) -> Option<Step> {
        match state {
            State::AwaitingAreaConfirmation => Some(Step::AreaConfirmation),
            State::PendingCommunity => Some(Step::Community),
            State::PendingSubdistrict => Some(Step::Subdistrict),
            State::PendingDistrict => Some(Step::District),
            State::Approved => Some(Step::Finance),
            _ => None,
        }
    }

    /// The level of the unit whose times the step is measured in: the
    /// community for the manager's confirmation (the estate's own), the
    /// district-level unit for finance.
    pub fn level(self) -> Level {
        match self {
            Step::AreaConfirmation | Step::Community => Level::Community,
            Step::Subdistrict => Level::Subdistrict,
            Step::District | Step::Finance => Level::District,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Step::AreaConfirmation => "area_confirmation",
            Step::Community => "community",
            Step::Subdistrict => "subdistrict",
            Step::District => "district",
            Step::Finance => "finance",
        }
    }

    pub fn parse(s: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One application's time at one step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    pub unit: String,
    pub step: Step,
    /// The China date the step ended.
    pub day: NaiveDate,
    /// The change that ended it, `{application}.{version}`: a sample's
    /// identity (an application may pass a step again after a return).
    pub cause: String,
    pub working_days: u32,
}

/// The working days a step begun at `from` and done at `to` took (see the
/// module docs), at most [`LONGEST`].
pub fn working_days(
    calendar: &WorkCalendar,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
) -> u32 {
    (0..LONGEST).find(|d| calendar.due(from, *d) >= to).unwrap_or(LONGEST)
}

/// The sample a change gives: the application left a timed step.
pub fn sample_of(change: &ChangeRecord, calendar: &WorkCalendar) -> Option<Sample> {
    let old = change.old.as_ref()?;
    let new = &change.new;
    let step = Step::of(old.state)?;
    if new.state == old.state {
        return None;
    }
    let ended = new.state_since;
    Some(Sample {
        unit: old.jurisdiction.at(step.level()).to_string(),
        step,
        day: ended.with_timezone(&crate::policy::shanghai()).date_naive(),
        cause: format!("{}.{}", new.id, new.version),
        working_days: working_days(calendar, old.state_since, ended),
    })
}

/// The samples these changes give.
pub fn samples_of(changes: &[ChangeRecord], calendar: &WorkCalendar) -> Vec<Sample> {
    changes.iter().filter_map(|c| sample_of(c, calendar)).collect()
}

/// Working days → how many samples.
pub type Histogram = BTreeMap<u32, u64>;

/// The median of a histogram (the upper one of an even count), and the
/// count; `None` when empty.
pub fn median(h: &Histogram) -> Option<(u32, u64)> {
    let n: u64 = h.values().sum();
    if n == 0 {
        return None;
    }
    let mut seen = 0;
    for (days, count) in h {
        seen += count;
        if seen > n / 2 {
            return Some((*days, n));
        }
    }
    None
}

#[async_trait]
pub trait EtaStore: Send + Sync {
    /// Records each sample once (one recorded before changes nothing): in
    /// its unit, and in the city's count for its step and day.
    async fn put_eta_samples(&self, samples: &[Sample]) -> StoreResult<()>;
    /// The samples of a step that ended on `since` or later, at `unit`, or
    /// city-wide with `None`.
    async fn eta_histogram(&self, unit: Option<&str>, step: Step, since: NaiveDate) -> StoreResult<Histogram>;
}

/// Where the figure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Unit,
    City,
}

/// "This step usually takes `working_days` working days".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EtaView {
    pub step: Step,
    pub working_days: u32,
    pub scope: Scope,
    /// How many samples the median is of.
    pub samples: u64,
}

/// The use cases.
#[derive(Clone)]
pub struct Eta {
    pub cx: Context,
    pub store: Arc<dyn EtaStore>,
}

impl Eta {
    /// The usual time of the step `app` waits at: its unit's median over
    /// the window, else the city's; `None` for an application at no timed
    /// step, or a step nobody has finished in the window.
    pub async fn of(&self, app: &Application) -> Result<Option<EtaView>, Error> {
        let Some(step) = Step::of(app.state) else { return Ok(None) };
        let today = self.cx.now().with_timezone(&crate::policy::shanghai()).date_naive();
        let since = today - Duration::days(WINDOW_DAYS - 1);
        let unit = app.jurisdiction.at(step.level());
        let local = self.store.eta_histogram(Some(unit), step, since).await?;
        if let Some((working_days, samples)) = median(&local).filter(|(_, n)| *n >= MIN_SAMPLES) {
            return Ok(Some(EtaView { step, working_days, scope: Scope::Unit, samples }));
        }
        let city = self.store.eta_histogram(None, step, since).await?;
        Ok(median(&city).map(|(working_days, samples)| EtaView { step, working_days, scope: Scope::City, samples }))
    }

    /// Records the samples these changes give (the consumers' part).
    pub async fn record(&self, changes: &[ChangeRecord]) -> Result<usize, Error> {
        let policy = self.cx.policy().await?;
        let samples = samples_of(changes, &policy.calendar);
        if !samples.is_empty() {
            self.store.put_eta_samples(&samples).await?;
        }
        Ok(samples.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(u32, u64)]) -> Histogram {
        pairs.iter().copied().collect()
    }

    #[test]
    fn the_median_is_the_middle_sample_and_the_upper_one_of_an_even_count() {
        assert_eq!(median(&h(&[])), None);
        assert_eq!(median(&h(&[(3, 1)])), Some((3, 1)));
        assert_eq!(median(&h(&[(1, 2), (2, 1), (9, 2)])), Some((2, 5)));
        assert_eq!(median(&h(&[(1, 1), (4, 1)])), Some((4, 2)));
        assert_eq!(median(&h(&[(0, 7), (30, 3)])), Some((0, 10)));
    }

    #[test]
    fn a_step_is_measured_in_working_days_as_a_time_limit_counts_them() {
        let cal = WorkCalendar::default();
        let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        // Monday 2 March 2020, China time.
        let monday = at("2020-03-02T09:00:00+08:00");
        assert_eq!(working_days(&cal, monday, at("2020-03-02T17:00:00+08:00")), 0, "the same day");
        assert_eq!(working_days(&cal, monday, at("2020-03-03T10:00:00+08:00")), 1);
        // Friday to Monday: the weekend does not count.
        let friday = at("2020-03-06T09:00:00+08:00");
        assert_eq!(working_days(&cal, friday, at("2020-03-09T10:00:00+08:00")), 1);
        assert_eq!(working_days(&cal, monday, at("2020-09-01T10:00:00+08:00")), LONGEST);
    }
}
