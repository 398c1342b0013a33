//! **Capability: live totals (汇总).** Owns the per-unit counters and the
//! logs of counted changes; the use cases are [`service::Stats`]. It only
//! reads applications (their committed images and the nightly recount).
//!
//! Live totals per jurisdiction unit (汇总), exact under at-least-once
//! delivery.
//!
//! Every application contributes to the four units of its path (community,
//! subdistrict, district-level unit, city): a count in its state's bucket
//! and, while it is live, one project, its claimed area and amount, its
//! company, and once approved its approved area and amount.
//!
//! A change moves the counters by `contribution(new image) −
//! contribution(old image)`: the stream record carries both images, so no
//! per-application state is read or kept. Each commit counts a run of
//! consecutive changes and writes, in the same transaction, one **log** of
//! the (application, version) pairs it counted, keyed by its first change.
//! Changes are redelivered from where a delivery began (a retried stream
//! batch restarts at its first record), so a redelivery starts at a logged
//! commit's first change: the log is found and its changes are skipped.
//! Logs live for [`LOG_RETENTION`], past any redelivery, and the nightly
//! recount ([`reconcile`]) repairs what a lost record left behind. Distinct
//! companies are counted with a reference count per (unit, company).
//!
//! Applications waiting at a step with a time limit are also counted by
//! the China date they entered it ([`Wait`]), so the dashboard's overdue
//! figures ([`Totals::overdue`]) are exact at any hour: the policy's limit
//! and calendar are applied on read, to these few buckets.

pub mod apply;
pub mod reconcile;
pub mod service;
pub mod views;

pub use apply::{AppliedBatch, apply_changes};
pub use reconcile::{Drift, ReconcileReport, Recount, drift, reconcile};

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::application::Application;
use crate::application::state::State;
use crate::jurisdiction::JurisdictionPath;
use crate::ports::StoreResult;

/// One figure of a unit's totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Counter {
    Companies,
    Projects,
    ClaimedArea,
    ApprovedArea,
    ClaimedAmount,
    ApprovedAmount,
    AwaitingAreaConfirmation,
    PendingCommunity,
    PendingSubdistrict,
    PendingDistrict,
    Returned,
    Rejected,
    Withdrawn,
    Approved,
    InPaymentBatch,
    Paid,
    PaymentFailed,
    /// The claimed amounts of the applications in each state still in
    /// review: what the budget forecast expects to pay at most.
    AwaitingAreaConfirmationFen,
    PendingCommunityFen,
    PendingSubdistrictFen,
    PendingDistrictFen,
    ReturnedFen,
    /// What was paid (the approved amounts of paid applications), what was
    /// recovered of it since (追回), and the applications with a recovery
    /// under way and recovered in full.
    PaidFen,
    RecoveredFen,
    Recovering,
    Recovered,
    /// Approved by the district, in the public notice window (公示).
    InPublicNotice,
}

pub const COUNTERS: usize = 27;

impl Counter {
    pub const ALL: [Counter; COUNTERS] = [
        Counter::Companies,
        Counter::Projects,
        Counter::ClaimedArea,
        Counter::ApprovedArea,
        Counter::ClaimedAmount,
        Counter::ApprovedAmount,
        Counter::AwaitingAreaConfirmation,
        Counter::PendingCommunity,
        Counter::PendingSubdistrict,
        Counter::PendingDistrict,
        Counter::Returned,
        Counter::Rejected,
        Counter::Withdrawn,
        Counter::Approved,
        Counter::InPaymentBatch,
        Counter::Paid,
        Counter::PaymentFailed,
        Counter::AwaitingAreaConfirmationFen,
        Counter::PendingCommunityFen,
        Counter::PendingSubdistrictFen,
        Counter::PendingDistrictFen,
        Counter::ReturnedFen,
        Counter::PaidFen,
        Counter::RecoveredFen,
        Counter::Recovering,
        Counter::Recovered,
        Counter::InPublicNotice,
    ];

    /// The stored and serialized name; areas are in 0.01 m², amounts in fen.
    pub fn name(self) -> &'static str {
        match self {
            Counter::Companies => "companies",
            Counter::Projects => "projects",
            Counter::ClaimedArea => "claimedAreaHundredths",
            Counter::ApprovedArea => "approvedAreaHundredths",
            Counter::ClaimedAmount => "claimedAmountFen",
            Counter::ApprovedAmount => "approvedAmountFen",
            Counter::AwaitingAreaConfirmation => "awaitingAreaConfirmation",
            Counter::PendingCommunity => "pendingCommunity",
            Counter::PendingSubdistrict => "pendingSubdistrict",
            Counter::PendingDistrict => "pendingDistrict",
            Counter::Returned => "returned",
            Counter::Rejected => "rejected",
            Counter::Withdrawn => "withdrawn",
            Counter::Approved => "approved",
            Counter::InPaymentBatch => "inPaymentBatch",
            Counter::Paid => "paid",
            Counter::PaymentFailed => "paymentFailed",
            Counter::AwaitingAreaConfirmationFen => "awaitingAreaConfirmationFen",
            Counter::PendingCommunityFen => "pendingCommunityFen",
            Counter::PendingSubdistrictFen => "pendingSubdistrictFen",
            Counter::PendingDistrictFen => "pendingDistrictFen",
            Counter::ReturnedFen => "returnedFen",
            Counter::PaidFen => "paidFen",
            Counter::RecoveredFen => "recoveredFen",
            Counter::Recovering => "recovering",
            Counter::Recovered => "recovered",
            Counter::InPublicNotice => "inPublicNotice",
        }
    }

    pub fn parse(name: &str) -> Option<Counter> {
        Counter::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The bucket counting applications in `state`; drafts are not counted.
    pub fn of_state(state: State) -> Option<Counter> {
        Some(match state {
            State::Draft => return None,
            State::AwaitingAreaConfirmation => Counter::AwaitingAreaConfirmation,
            State::PendingCommunity => Counter::PendingCommunity,
            State::PendingSubdistrict => Counter::PendingSubdistrict,
            State::PendingDistrict => Counter::PendingDistrict,
            State::InPublicNotice => Counter::InPublicNotice,
            State::Returned => Counter::Returned,
            State::Rejected => Counter::Rejected,
            State::Withdrawn => Counter::Withdrawn,
            State::Approved => Counter::Approved,
            State::InPaymentBatch => Counter::InPaymentBatch,
            State::Paid => Counter::Paid,
            State::PaymentFailed => Counter::PaymentFailed,
        })
    }

    /// The counter of claimed amounts in `state`, if it is a state still in
    /// review (a returned application may come back).
    pub fn claimed_in(state: State) -> Option<Counter> {
        Some(match state {
            State::AwaitingAreaConfirmation => Counter::AwaitingAreaConfirmationFen,
            State::PendingCommunity => Counter::PendingCommunityFen,
            State::PendingSubdistrict => Counter::PendingSubdistrictFen,
            State::PendingDistrict => Counter::PendingDistrictFen,
            State::Returned => Counter::ReturnedFen,
            _ => return None,
        })
    }

    /// The states still in review, with the counter of their applications
    /// and of their claimed amounts.
    pub const IN_REVIEW: [(Counter, Counter); 5] = [
        (Counter::AwaitingAreaConfirmation, Counter::AwaitingAreaConfirmationFen),
        (Counter::PendingCommunity, Counter::PendingCommunityFen),
        (Counter::PendingSubdistrict, Counter::PendingSubdistrictFen),
        (Counter::PendingDistrict, Counter::PendingDistrictFen),
        (Counter::Returned, Counter::ReturnedFen),
    ];

    /// The state this bucket counts, if it counts one.
    pub fn state(self) -> Option<State> {
        State::ALL.into_iter().find(|s| Counter::of_state(*s) == Some(self))
    }

    /// The states with a time limit, and the letter their waits are stored
    /// under (see [`Wait::name`]).
    const TIMED: [(Counter, char); 5] = [
        (Counter::AwaitingAreaConfirmation, 'a'),
        (Counter::PendingCommunity, 'c'),
        (Counter::PendingSubdistrict, 's'),
        (Counter::PendingDistrict, 'd'),
        (Counter::Approved, 'f'),
    ];

    /// The buckets whose applications wait at a step with a time limit.
    pub fn timed() -> impl Iterator<Item = Counter> {
        Counter::TIMED.into_iter().map(|(c, _)| c)
    }
}

/// Applications waiting in a timed state's bucket that entered it on one
/// China date. Which of them are overdue depends only on that date and the
/// policy's time limit and calendar, so the counters keep the date, not
/// the policy's verdict: overdue counts are exact at any hour, with no
/// nightly job moving them, and stay right if a policy's limits change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Wait {
    pub counter: Counter,
    pub since: NaiveDate,
}

impl Wait {
    /// Where an application waits, if it waits at a step with a time limit.
    pub fn of(app: &Application) -> Option<Wait> {
        let counter = Counter::of_state(app.state)?;
        Counter::TIMED
            .iter()
            .any(|(c, _)| *c == counter)
            .then(|| Wait { counter, since: app.state_since.with_timezone(&crate::policy::shanghai()).date_naive() })
    }

    /// The stored name, short because every unit item carries one per
    /// (state, day): `w`, the state's letter, the date as `YYYYMMDD`.
    pub fn name(&self) -> String {
        let letter = Counter::TIMED.iter().find(|(c, _)| *c == self.counter).map(|(_, l)| *l).unwrap_or('?');
        format!("w{letter}{}", self.since.format("%Y%m%d"))
    }

    pub fn parse(name: &str) -> Option<Wait> {
        let rest = name.strip_prefix('w')?;
        let letter = rest.chars().next()?;
        let date = rest.get(1..)?;
        let counter = Counter::TIMED.iter().find(|(_, l)| *l == letter)?.0;
        if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Wait { counter, since: NaiveDate::parse_from_str(date, "%Y%m%d").ok()? })
    }

    /// When these applications' step is due under `policy`.
    pub fn due(&self, policy: &crate::policy::Policy) -> Option<DateTime<Utc>> {
        let days = crate::application::time_limit(policy, self.counter.state()?)?;
        Some(policy.calendar.due_from_day(self.since, days))
    }
}

/// A unit's figures (or a delta of them): the fixed counters, and the
/// applications waiting at a timed step by the day they entered it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    fixed: [i64; COUNTERS],
    /// A stored bucket that went back to zero stays (DynamoDB's `ADD`
    /// cannot drop it) until the nightly repair rewrites the unit.
    waiting: BTreeMap<Wait, i64>,
}

impl Totals {
    pub fn get(&self, c: Counter) -> i64 {
        self.fixed[c as usize]
    }

    pub fn add(&mut self, c: Counter, v: i64) {
        self.fixed[c as usize] += v;
    }

    pub fn waiting(&self, w: &Wait) -> i64 {
        self.waiting.get(w).copied().unwrap_or(0)
    }

    pub fn add_waiting(&mut self, w: Wait, v: i64) {
        *self.waiting.entry(w).or_default() += v;
    }

    /// Adds `sign` × `other`.
    pub fn add_all(&mut self, other: &Totals, sign: i64) {
        for (a, b) in self.fixed.iter_mut().zip(other.fixed) {
            *a += sign * b;
        }
        for (w, v) in &other.waiting {
            self.add_waiting(*w, sign * v);
        }
    }

    pub fn plus(mut self, other: &Totals) -> Totals {
        self.add_all(other, 1);
        self
    }

    pub fn minus(mut self, other: &Totals) -> Totals {
        self.add_all(other, -1);
        self
    }

    pub fn is_zero(&self) -> bool {
        self.fixed.iter().all(|v| *v == 0) && self.waiting.values().all(|v| *v == 0)
    }

    /// Whether it holds a waiting bucket at zero (stored but empty).
    pub fn has_empty_buckets(&self) -> bool {
        self.waiting.values().any(|v| *v == 0)
    }

    /// The fixed counters.
    pub fn iter(&self) -> impl Iterator<Item = (Counter, i64)> + '_ {
        Counter::ALL.into_iter().map(|c| (c, self.get(c)))
    }

    /// The waiting buckets, the empty ones too.
    pub fn waits(&self) -> impl Iterator<Item = (Wait, i64)> + '_ {
        self.waiting.iter().map(|(w, v)| (*w, *v))
    }

    /// Every figure by its stored name: the fixed counters, then the
    /// non-empty waiting buckets.
    pub fn entries(&self) -> impl Iterator<Item = (String, i64)> + '_ {
        self.iter()
            .map(|(c, v)| (c.name().to_string(), v))
            .chain(self.waiting.iter().filter(|(_, v)| **v != 0).map(|(w, v)| (w.name(), *v)))
    }

    /// Applications past their step's time limit at `now`, per timed
    /// bucket (every timed bucket is named, at zero if none).
    pub fn overdue(&self, policy: &crate::policy::Policy, now: DateTime<Utc>) -> BTreeMap<Counter, i64> {
        let mut out: BTreeMap<Counter, i64> = Counter::timed().map(|c| (c, 0)).collect();
        for (w, v) in &self.waiting {
            if w.due(policy).is_some_and(|due| now > due) {
                *out.entry(w.counter).or_default() += v;
            }
        }
        out
    }

    /// Builds totals from (name, value) pairs of counters and waiting
    /// buckets; unknown names are an error.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, i64)>) -> Result<Totals, String> {
        let mut t = Totals::default();
        for (k, v) in pairs {
            match (Counter::parse(k), Wait::parse(k)) {
                (Some(c), _) => t.add(c, v),
                (None, Some(w)) => t.add_waiting(w, v),
                (None, None) => return Err(format!("unknown counter {k}")),
            }
        }
        Ok(t)
    }
}

impl Serialize for Totals {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let map: BTreeMap<String, i64> = self.entries().collect();
        map.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Totals {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map: BTreeMap<String, i64> = BTreeMap::deserialize(d)?;
        Totals::from_pairs(map.iter().map(|(k, v)| (k.as_str(), *v))).map_err(serde::de::Error::custom)
    }
}

/// What one application adds to each unit of its path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contribution {
    pub policy_id: String,
    pub path: JurisdictionPath,
    pub company_id: String,
    /// Whether it holds its project (and so counts its company).
    pub live: bool,
    /// Everything but `companies`, which comes from the reference counts.
    pub totals: Totals,
}

impl Contribution {
    /// The contribution of an application image; drafts contribute nothing.
    pub fn of(app: &Application) -> Option<Contribution> {
        let bucket = Counter::of_state(app.state)?;
        let mut totals = Totals::default();
        totals.add(bucket, 1);
        let live = app.is_live();
        if live {
            totals.add(Counter::Projects, 1);
            totals.add(Counter::ClaimedArea, app.claimed_area.hundredths());
            totals.add(Counter::ClaimedAmount, app.claimed_amount.fen());
        }
        if let Some(c) = Counter::claimed_in(app.state) {
            totals.add(c, app.claimed_amount.fen());
        }
        if app.state == State::Paid {
            totals.add(Counter::PaidFen, app.approved_amount.map(|f| f.fen()).unwrap_or(0));
            if let Some(r) = &app.recovery {
                totals.add(Counter::RecoveredFen, r.repaid().fen());
                match r.status() {
                    crate::application::RecoveryStatus::Recovered => totals.add(Counter::Recovered, 1),
                    _ => totals.add(Counter::Recovering, 1),
                }
            }
        }
        // In 公示 the amount is decided: the forecast counts it as approved.
        let approved = matches!(
            app.state,
            State::InPublicNotice | State::Approved | State::InPaymentBatch | State::Paid | State::PaymentFailed
        );
        if let (true, Some(area), Some(amount)) = (approved, app.approved_area, app.approved_amount) {
            totals.add(Counter::ApprovedArea, area.hundredths());
            totals.add(Counter::ApprovedAmount, amount.fen());
        }
        if let Some(w) = Wait::of(app) {
            totals.add_waiting(w, 1);
        }
        Some(Contribution {
            policy_id: app.policy_id.clone(),
            path: app.jurisdiction.clone(),
            company_id: app.company_id.clone(),
            live,
            totals,
        })
    }

    fn units(&self) -> [UnitKey; 4] {
        let p = &self.path;
        [&p.city, &p.district, &p.subdistrict, &p.community].map(|u| UnitKey::new(&self.policy_id, u))
    }
}

/// A unit's counters are kept per policy.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UnitKey {
    pub policy_id: String,
    pub unit: String,
}

impl UnitKey {
    pub fn new(policy_id: &str, unit: &str) -> UnitKey {
        UnitKey { policy_id: policy_id.to_string(), unit: unit.to_string() }
    }
}

/// One counted change: an application at a version. Each version of an
/// application is one change, delivered at least once.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChangeKey {
    pub application_id: String,
    pub version: u64,
}

impl ChangeKey {
    pub fn of(app: &Application) -> ChangeKey {
        ChangeKey { application_id: app.id.clone(), version: app.version }
    }
}

impl std::fmt::Display for ChangeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.application_id, self.version)
    }
}

impl std::str::FromStr for ChangeKey {
    type Err = String;
    fn from_str(s: &str) -> Result<ChangeKey, String> {
        let (id, v) = s.rsplit_once('@').ok_or_else(|| format!("not a change key: {s:?}"))?;
        let version = v.parse().map_err(|_| format!("not a change key: {s:?}"))?;
        if id.is_empty() {
            return Err(format!("not a change key: {s:?}"));
        }
        Ok(ChangeKey { application_id: id.to_string(), version })
    }
}

/// How long a commit's log is kept: longer than any redelivery can come
/// (a DynamoDB stream keeps records 24 hours; the outbox retries within
/// minutes before a row is dead-lettered).
pub const LOG_RETENTION: chrono::TimeDelta = chrono::TimeDelta::hours(48);

/// How long after a change its record may still be on its way to the
/// aggregator: the stream's 24 hours of retention, and an hour's margin.
/// The nightly recount leaves a unit alone while one of its applications
/// changed within this horizon and its change is not logged yet.
pub const IN_FLIGHT_HORIZON: chrono::TimeDelta = chrono::TimeDelta::hours(25);

/// The log a commit writes: the changes it counted, in delivery order,
/// keyed by the first. Written only if no log has that key (a concurrent
/// redelivery committed first: `VersionConflict`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogWrite {
    pub changes: Vec<ChangeKey>,
}

impl LogWrite {
    pub fn first(&self) -> &ChangeKey {
        &self.changes[0]
    }
}

/// A unit's stored counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitTotals {
    pub totals: Totals,
    /// Bumped by every commit that touches the unit.
    pub version: u64,
    pub updated_at: Option<DateTime<Utc>>,
}

/// Sets a (unit, company) reference count from `old` to `new`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefWrite {
    pub key: UnitKey,
    pub company_id: String,
    pub old: i64,
    pub new: i64,
}

/// One all-or-nothing aggregation write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsCommit {
    pub log: LogWrite,
    /// Deltas added to each unit (and the unit's version bumped).
    pub units: Vec<(UnitKey, Totals)>,
    pub refs: Vec<RefWrite>,
    pub at: DateTime<Utc>,
}

impl StatsCommit {
    /// How many stored items it writes (DynamoDB allows 100 per transaction).
    pub fn items(&self) -> usize {
        1 + self.units.len() + self.refs.len()
    }
}

/// Storage of the counters, the reference counts and the logs.
#[async_trait]
pub trait StatsStore: Send + Sync {
    /// The changes counted by the commit whose log holds `change`, if any.
    /// Every store finds a log from its first change; a store may also find
    /// it from any change in it (SQLite does, so its outbox may redeliver
    /// from anywhere).
    async fn logged(&self, change: &ChangeKey) -> StoreResult<Option<Vec<ChangeKey>>>;
    async fn company_refs(&self, keys: &[(UnitKey, String)]) -> StoreResult<HashMap<(UnitKey, String), i64>>;
    /// All of it or nothing. `VersionConflict` if the log already exists or
    /// a reference count's stored value is not the expected one (another
    /// writer moved it): the caller re-reads and recomputes.
    async fn commit(&self, commit: &StatsCommit) -> StoreResult<()>;
    async fn unit_totals(&self, keys: &[UnitKey]) -> StoreResult<HashMap<UnitKey, UnitTotals>>;
    /// Every unit of a policy that has counters.
    async fn all_units(&self, policy_id: &str) -> StoreResult<HashMap<String, UnitTotals>>;
    /// Every non-zero reference count of a policy: (unit, company) → n.
    async fn all_refs(&self, policy_id: &str) -> StoreResult<HashMap<(String, String), i64>>;
    /// Every change logged by a commit at or after `since`.
    async fn logged_since(&self, since: DateTime<Utc>) -> StoreResult<Vec<ChangeKey>>;
    /// Drops the logs of commits before `before`; how many went. (DynamoDB
    /// expires them itself.)
    async fn prune_logs(&self, before: DateTime<Utc>) -> StoreResult<u64>;
    /// Overwrites a unit's totals if its version is still `expected`.
    /// Returns whether it did.
    async fn repair_unit(&self, key: &UnitKey, totals: &Totals, expected: u64, at: DateTime<Utc>) -> StoreResult<bool>;
    /// Sets a reference count if it is still `old`. Returns whether it did.
    async fn repair_ref(&self, r: &RefWrite) -> StoreResult<bool>;
}

#[cfg(test)]
pub(crate) mod memory {
    //! An in-memory [`StatsStore`] for core's tests.
    use std::sync::Mutex;

    use super::*;
    use crate::error::StoreError;

    /// A log: its changes, and when it was written.
    type Log = (Vec<ChangeKey>, DateTime<Utc>);

    /// Finds a log from its first change only, as DynamoDB does.
    #[derive(Default)]
    pub struct MemoryStats {
        pub units: Mutex<HashMap<UnitKey, UnitTotals>>,
        pub refs: Mutex<HashMap<(UnitKey, String), i64>>,
        pub logs: Mutex<BTreeMap<ChangeKey, Log>>,
        pub commits: Mutex<Vec<usize>>,
        /// `Some(n)`: the commit after the next `n` fails (a crash).
        pub fail_in: Mutex<Option<usize>>,
    }

    #[async_trait]
    impl StatsStore for MemoryStats {
        async fn logged(&self, change: &ChangeKey) -> StoreResult<Option<Vec<ChangeKey>>> {
            Ok(self.logs.lock().unwrap().get(change).map(|(c, _)| c.clone()))
        }

        async fn company_refs(&self, keys: &[(UnitKey, String)]) -> StoreResult<HashMap<(UnitKey, String), i64>> {
            let r = self.refs.lock().unwrap();
            Ok(keys.iter().filter_map(|k| r.get(k).map(|n| (k.clone(), *n))).collect())
        }

        async fn commit(&self, c: &StatsCommit) -> StoreResult<()> {
            {
                let mut fail = self.fail_in.lock().unwrap();
                match *fail {
                    Some(0) => {
                        *fail = None;
                        return Err(StoreError::Backend("injected crash".into()));
                    }
                    Some(n) => *fail = Some(n - 1),
                    None => {}
                }
            }
            let mut logs = self.logs.lock().unwrap();
            let mut refs = self.refs.lock().unwrap();
            if logs.contains_key(c.log.first()) {
                return Err(StoreError::VersionConflict { current: 0 });
            }
            for r in &c.refs {
                if refs.get(&(r.key.clone(), r.company_id.clone())).copied().unwrap_or(0) != r.old {
                    return Err(StoreError::VersionConflict { current: 0 });
                }
            }
            logs.insert(c.log.first().clone(), (c.log.changes.clone(), c.at));
            for r in &c.refs {
                refs.insert((r.key.clone(), r.company_id.clone()), r.new);
            }
            let mut units = self.units.lock().unwrap();
            for (k, d) in &c.units {
                let u = units.entry(k.clone()).or_default();
                u.totals.add_all(d, 1);
                u.version += 1;
                u.updated_at = Some(c.at);
            }
            self.commits.lock().unwrap().push(c.items());
            Ok(())
        }

        async fn unit_totals(&self, keys: &[UnitKey]) -> StoreResult<HashMap<UnitKey, UnitTotals>> {
            let u = self.units.lock().unwrap();
            Ok(keys.iter().filter_map(|k| u.get(k).map(|t| (k.clone(), t.clone()))).collect())
        }

        async fn all_units(&self, policy_id: &str) -> StoreResult<HashMap<String, UnitTotals>> {
            let u = self.units.lock().unwrap();
            Ok(u.iter().filter(|(k, _)| k.policy_id == policy_id).map(|(k, v)| (k.unit.clone(), v.clone())).collect())
        }

        async fn all_refs(&self, policy_id: &str) -> StoreResult<HashMap<(String, String), i64>> {
            let r = self.refs.lock().unwrap();
            Ok(r.iter()
                .filter(|((k, _), n)| k.policy_id == policy_id && **n != 0)
                .map(|((k, c), n)| ((k.unit.clone(), c.clone()), *n))
                .collect())
        }

        async fn logged_since(&self, since: DateTime<Utc>) -> StoreResult<Vec<ChangeKey>> {
            let logs = self.logs.lock().unwrap();
            Ok(logs.values().filter(|(_, at)| *at >= since).flat_map(|(c, _)| c.iter().cloned()).collect())
        }

        async fn prune_logs(&self, before: DateTime<Utc>) -> StoreResult<u64> {
            let mut logs = self.logs.lock().unwrap();
            let n = logs.len();
            logs.retain(|_, (_, at)| *at >= before);
            Ok((n - logs.len()) as u64)
        }

        async fn repair_unit(
            &self,
            key: &UnitKey,
            totals: &Totals,
            expected: u64,
            at: DateTime<Utc>,
        ) -> StoreResult<bool> {
            let mut u = self.units.lock().unwrap();
            let e = u.entry(key.clone()).or_default();
            if e.version != expected {
                return Ok(false);
            }
            *e = UnitTotals { totals: totals.clone(), version: expected + 1, updated_at: Some(at) };
            Ok(true)
        }

        async fn repair_ref(&self, r: &RefWrite) -> StoreResult<bool> {
            let mut refs = self.refs.lock().unwrap();
            let e = refs.entry((r.key.clone(), r.company_id.clone())).or_default();
            if *e != r.old {
                return Ok(false);
            }
            *e = r.new;
            Ok(true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::memory::MemoryStats;
    use super::*;
    use crate::application::dispatch::ChangeRecord;
    use crate::error::StoreError;
    use crate::ports::{Page, PageRequest};
    use crate::testkit::*;
    use proptest::prelude::*;

    fn app(id: &str, company: &str, community: &str, state: State, version: u64, area: &str) -> Application {
        let mut a = at_state(draft(area), state);
        a.id = id.into();
        a.company_id = company.into();
        a.version = version;
        a.jurisdiction.community = community.into();
        a.jurisdiction.subdistrict = community[..9].into();
        if matches!(state, State::Approved | State::Paid) {
            a.approved_area = Some(a.claimed_area);
            a.approved_amount = Some(a.claimed_amount);
        }
        a
    }

    async fn totals(store: &MemoryStats, unit: &str) -> Totals {
        let key = UnitKey::new(&policy().id, unit);
        store
            .unit_totals(std::slice::from_ref(&key))
            .await
            .unwrap()
            .get(&key)
            .map(|u| u.totals.clone())
            .unwrap_or_default()
    }

    #[test]
    fn a_draft_contributes_nothing_and_a_live_application_everything() {
        assert_eq!(Contribution::of(&draft("10")), None);
        let c = Contribution::of(&app("A", "C", "440307003001", State::PendingCommunity, 2, "10.50")).unwrap();
        assert_eq!(c.totals.get(Counter::PendingCommunity), 1);
        assert_eq!(c.totals.get(Counter::Projects), 1);
        assert_eq!(c.totals.get(Counter::ClaimedArea), 1050);
        assert_eq!(c.totals.get(Counter::ClaimedAmount), 1050);
        let rejected = Contribution::of(&app("A", "C", "440307003001", State::Rejected, 3, "10.50")).unwrap();
        assert!(!rejected.live);
        assert_eq!(rejected.totals.get(Counter::Projects), 0);
        assert_eq!(rejected.totals.get(Counter::Rejected), 1);
    }

    /// The changes a stream carries for these images, in order: each with
    /// the image of the same application before it.
    fn stream(images: &[Application]) -> Vec<ChangeRecord> {
        let mut last: BTreeMap<String, Application> = BTreeMap::new();
        images.iter().map(|a| ChangeRecord { old: last.insert(a.id.clone(), a.clone()), new: a.clone() }).collect()
    }

    #[tokio::test]
    async fn a_redelivered_change_counts_once() {
        let s = MemoryStats::default();
        let c = stream(&[
            app("A", "C", "440307003001", State::PendingCommunity, 2, "100"),
            app("A", "C", "440307003001", State::PendingSubdistrict, 3, "100"),
        ]);
        let first = apply_changes(&s, &c[..1], Utc::now()).await.unwrap();
        assert_eq!((first.applied, first.commits), (1, 1));
        // The batch retried with a record more; twice; the record listed
        // twice in one delivery; the second record alone.
        let retried = apply_changes(&s, &c, Utc::now()).await.unwrap();
        assert_eq!((retried.applied, retried.skipped), (1, 1), "{retried:?}");
        let again = apply_changes(&s, &c, Utc::now()).await.unwrap();
        assert_eq!((again.applied, again.skipped, again.commits), (0, 2, 0));
        apply_changes(&s, &[c[1].clone(), c[1].clone()], Utc::now()).await.unwrap();
        let city = totals(&s, "440300").await;
        assert_eq!(city.get(Counter::PendingCommunity), 0);
        assert_eq!(city.get(Counter::PendingSubdistrict), 1);
        assert_eq!(city.get(Counter::Projects), 1);
        assert_eq!(city.get(Counter::Companies), 1);
        assert_eq!(city.get(Counter::ClaimedAmount), 10_000);
    }

    #[tokio::test]
    async fn a_redelivery_that_does_not_begin_a_run_is_counted_again_so_stores_must_find_runs() {
        // What the "redeliveries begin where deliveries began" rule guards
        // against: a store that finds a log from its first change only,
        // handed the second change of a run on its own, counts it again.
        // (SQLite finds a log from any change; Lambda never does this.)
        let s = MemoryStats::default();
        let c = stream(&[
            app("A", "C", "440307003001", State::PendingCommunity, 2, "1"),
            app("B", "C", "440307003001", State::PendingCommunity, 2, "1"),
        ]);
        apply_changes(&s, &c, Utc::now()).await.unwrap();
        apply_changes(&s, &c[1..], Utc::now()).await.unwrap();
        assert_eq!(totals(&s, "440300").await.get(Counter::PendingCommunity), 3);
    }

    #[tokio::test]
    async fn a_crash_between_runs_is_retried_from_the_first_record_and_counts_once() {
        let s = MemoryStats::default();
        let images: Vec<Application> = (0..12)
            .map(|i| app(&format!("A{i}"), &format!("C{i}"), "440307003001", State::PendingCommunity, 2, "1"))
            .collect();
        let c = stream(&images);
        // Runs of at most 12 items (a log, 4 units, reference counts): the
        // third commit fails, after two runs were committed.
        *s.fail_in.lock().unwrap() = Some(2);
        let err = apply::apply_in_runs(&s, &c, Utc::now(), 12).await.unwrap_err();
        assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
        assert_eq!(s.logs.lock().unwrap().len(), 2);
        let retry = apply::apply_in_runs(&s, &c, Utc::now(), 12).await.unwrap();
        assert!(retry.skipped > 0 && retry.applied > 0, "{retry:?}");
        assert_eq!(retry.skipped + retry.applied, 12);
        assert_eq!(totals(&s, "440300").await.get(Counter::PendingCommunity), 12);
        assert_eq!(totals(&s, "440300").await.get(Counter::Companies), 12);
    }

    #[tokio::test]
    async fn changes_between_drafts_are_not_logged() {
        let s = MemoryStats::default();
        let mut d = app("A", "C", "440307003001", State::Draft, 1, "1");
        let v1 = d.clone();
        d.version = 2;
        let r = apply_changes(&s, &stream(&[v1, d]), Utc::now()).await.unwrap();
        assert_eq!((r.applied, r.skipped, r.commits), (0, 2, 0));
        assert!(s.logs.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_company_with_several_projects_in_one_unit_counts_once() {
        let s = MemoryStats::default();
        let images = vec![
            app("A1", "C1", "440307003001", State::PendingCommunity, 2, "1"),
            app("A2", "C1", "440307003001", State::PendingCommunity, 2, "1"),
            app("A3", "C1", "440307003002", State::PendingCommunity, 2, "1"),
            app("A4", "C2", "440307003002", State::PendingCommunity, 2, "1"),
            // C1 withdraws one of its two projects in 440307003001, then the other.
            app("A1", "C1", "440307003001", State::Withdrawn, 3, "1"),
            app("A2", "C1", "440307003001", State::Rejected, 3, "1"),
        ];
        let c = stream(&images);
        apply_changes(&s, &c[..4], Utc::now()).await.unwrap();
        assert_eq!(totals(&s, "440307003001").await.get(Counter::Companies), 1);
        assert_eq!(totals(&s, "440307003002").await.get(Counter::Companies), 2);
        assert_eq!(totals(&s, "440300").await.get(Counter::Companies), 2);
        assert_eq!(totals(&s, "440300").await.get(Counter::Projects), 4);
        apply_changes(&s, &c[4..5], Utc::now()).await.unwrap();
        assert_eq!(totals(&s, "440307003001").await.get(Counter::Companies), 1);
        apply_changes(&s, &c[5..], Utc::now()).await.unwrap();
        assert_eq!(totals(&s, "440307003001").await.get(Counter::Companies), 0);
        assert_eq!(totals(&s, "440300").await.get(Counter::Companies), 2, "C1 still has A3 in the city");
    }

    #[tokio::test]
    async fn the_city_takes_one_write_per_batch_not_per_event() {
        let s = MemoryStats::default();
        let images: Vec<Application> =
            (0..7).map(|i| app(&format!("A{i}"), "C", "440307003001", State::PendingCommunity, 2, "1")).collect();
        let r = apply_changes(&s, &stream(&images), Utc::now()).await.unwrap();
        assert_eq!(r.commits, 1);
        // One log, 4 units (the city once), 4 reference counts.
        assert_eq!(r.writes, 1 + 4 + 4);
        assert!(s.commits.lock().unwrap().iter().all(|n| *n <= 100));
    }

    /// Just enough of an application store for reconciliation: a scan.
    struct Scan(Vec<Application>);

    #[async_trait]
    impl crate::ports::ApplicationStore for Scan {
        async fn get_application(&self, _: &str) -> StoreResult<Option<Application>> {
            unreachable!()
        }
        async fn create_application(&self, _: &Application, _: &crate::audit::AuditEntry) -> StoreResult<()> {
            unreachable!()
        }
        async fn update_application(
            &self,
            _: &Application,
            _: u64,
            _: &crate::audit::AuditEntry,
            _: crate::ports::ClaimChange,
        ) -> StoreResult<()> {
            unreachable!()
        }
        async fn claim_holder(&self, _: &str, _: &str) -> StoreResult<Option<String>> {
            unreachable!()
        }
        async fn list_applications(
            &self,
            _: &crate::identity::authz::Scope,
            _: &crate::ports::ApplicationFilter,
            _: &PageRequest,
        ) -> StoreResult<Page<Application>> {
            unreachable!()
        }
        async fn inbox(
            &self,
            _: &crate::identity::authz::Scope,
            _: State,
            _: &PageRequest,
        ) -> StoreResult<Page<Application>> {
            unreachable!()
        }
        async fn audit_trail(&self, _: &str) -> StoreResult<Vec<crate::audit::AuditEntry>> {
            unreachable!()
        }
        async fn scan_applications(&self, _: &PageRequest) -> StoreResult<Page<Application>> {
            Ok(Page { items: self.0.clone(), next_cursor: None })
        }
        async fn audit_heads_since(
            &self,
            _: Option<chrono::DateTime<Utc>>,
        ) -> StoreResult<Vec<crate::audit::anchor::ChainHead>> {
            unreachable!()
        }
    }

    #[tokio::test]
    async fn reconciliation_reports_and_repairs_injected_drift() {
        let s = MemoryStats::default();
        let now = Utc::now();
        let apps = vec![
            app("A1", "C1", "440307003001", State::PendingCommunity, 2, "100"),
            app("A2", "C1", "440307003002", State::Approved, 6, "50"),
            app("A3", "C2", "440307003002", State::Rejected, 3, "20"),
        ];
        apply_changes(&s, &stream(&apps), now).await.unwrap();
        let clean = reconcile(&Scan(apps.clone()), &s, &policy().id, now).await.unwrap();
        assert!(clean.drift.is_empty() && clean.repaired_units == 0 && clean.in_flight == 0, "{clean:?}");

        // A counter edited by hand, and a change whose record never arrived.
        let edited = UnitKey::new(&policy().id, "440307003002");
        s.units.lock().unwrap().get_mut(&edited).unwrap().totals.add(Counter::ClaimedAmount, 999);
        let mut late = apps.clone();
        let mut lost = app("A4", "C3", "440307009001", State::PendingSubdistrict, 4, "7");
        lost.updated_at = now;
        late.push(lost);
        let r = reconcile(&Scan(late.clone()), &s, &policy().id, now).await.unwrap();
        assert!(r.drift.iter().any(|d| d.unit == "440307003002" && d.counter == "claimedAmountFen"), "{r:?}");
        assert!(r.drift.iter().any(|d| d.unit == "440307009001" && d.counter == "pendingSubdistrict"));
        // Its record may still arrive: its four units wait; the edited one,
        // on no path of an application in flight, is repaired.
        assert_eq!((r.in_flight, r.repaired_units, r.repaired_refs), (1, 1, 0), "{r:?}");
        let stored = s.all_units(&policy().id).await.unwrap();
        let want = Recount::of_applications(&late);
        assert_eq!(stored["440307003002"].totals, want.units[&edited]);
        let city = UnitKey::new(&policy().id, "440300");
        assert_eq!(stored["440300"].totals, Recount::of_applications(&apps).units[&city], "the city waits");

        // Past the horizon it can no longer arrive: everything is repaired.
        let later = now + IN_FLIGHT_HORIZON + chrono::TimeDelta::minutes(1);
        let r = reconcile(&Scan(late.clone()), &s, &policy().id, later).await.unwrap();
        assert_eq!(r.in_flight, 0);
        assert!(r.repaired_units >= 4 && r.repaired_refs >= 1, "{r:?}");
        let after = s.all_units(&policy().id).await.unwrap();
        assert!(drift(&policy().id, &after, &Recount::of_applications(&late)).is_empty());
        let again = reconcile(&Scan(late), &s, &policy().id, later).await.unwrap();
        assert!(again.drift.is_empty() && again.repaired_units == 0 && again.skipped == 0, "{again:?}");
    }

    #[tokio::test]
    async fn a_logged_change_is_settled_and_old_logs_are_pruned() {
        let s = MemoryStats::default();
        let now = Utc::now();
        let mut a = app("A1", "C1", "440307003001", State::PendingCommunity, 2, "100");
        a.updated_at = now;
        apply_changes(&s, &stream(std::slice::from_ref(&a)), now).await.unwrap();
        // Edited by hand while its application changed recently: the log
        // says its change was counted, so the repair goes ahead.
        let unit = UnitKey::new(&policy().id, "440307003001");
        s.units.lock().unwrap().get_mut(&unit).unwrap().totals.add(Counter::Projects, 5);
        let r = reconcile(&Scan(vec![a.clone()]), &s, &policy().id, now).await.unwrap();
        assert_eq!((r.in_flight, r.repaired_units, r.pruned_logs), (0, 1, 0), "{r:?}");
        let r = reconcile(&Scan(vec![a]), &s, &policy().id, now + LOG_RETENTION + chrono::TimeDelta::seconds(1))
            .await
            .unwrap();
        assert_eq!(r.pruned_logs, 1);
        assert!(s.logs.lock().unwrap().is_empty());
    }

    fn china(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_wait_is_stored_under_a_short_name_and_only_that_name_parses() {
        let w = Wait { counter: Counter::PendingSubdistrict, since: NaiveDate::from_ymd_opt(2020, 3, 31).unwrap() };
        assert_eq!(w.name(), "ws20200331");
        assert_eq!(Wait::parse("ws20200331"), Some(w));
        assert_eq!(Wait::parse("wf20200101").map(|w| w.counter), Some(Counter::Approved));
        for bad in
            ["withdrawn", "w", "ws", "wx20200331", "ws2020033", "ws202003311", "ws20201331", "ws2020-3-31", "s20200331"]
        {
            assert_eq!(Wait::parse(bad), None, "{bad}");
            assert!(Totals::from_pairs([(bad, 1)]).is_err() || bad == "withdrawn", "{bad}");
        }
        // Untimed states have no wait, so no name.
        let mut a = app("A", "C", "440307003001", State::Returned, 2, "1");
        assert_eq!(Wait::of(&a), None);
        a.state = State::PendingDistrict;
        a.state_since = china("2020-03-31T23:59:59+08:00");
        assert_eq!(Wait::of(&a).map(|w| w.name()), Some("wd20200331".into()), "the China date, not UTC's");
    }

    #[test]
    fn overdue_counts_follow_the_calendar_over_a_weekend_and_a_holiday() {
        // 初审 has 5 working days. Entered Tuesday 31 March 2020: Wed 1,
        // Thu 2, Fri 3, then Qingming (Sat 4 to Mon 6), then Tue 7, Wed 8.
        let p = policy();
        let mut t = Totals::default();
        let since = |d| NaiveDate::from_ymd_opt(2020, 3, d).unwrap();
        t.add_waiting(Wait { counter: Counter::PendingCommunity, since: since(31) }, 3);
        t.add_waiting(Wait { counter: Counter::PendingCommunity, since: since(30) }, 1);
        // Approval to batch has 10 working days: far from due.
        t.add_waiting(Wait { counter: Counter::Approved, since: since(31) }, 7);
        let overdue = |at| t.overdue(&p, china(at));
        let community = |at| overdue(at)[&Counter::PendingCommunity];
        assert_eq!(community("2020-04-07T23:59:59+08:00"), 0, "Monday 30's five days end Tuesday 7");
        assert_eq!(community("2020-04-08T00:00:01+08:00"), 1);
        assert_eq!(community("2020-04-08T23:59:59+08:00"), 1, "Tuesday 31's end Wednesday 8");
        assert_eq!(community("2020-04-09T00:00:01+08:00"), 4);
        let all = overdue("2020-04-09T00:00:01+08:00");
        assert_eq!(all[&Counter::Approved], 0);
        assert_eq!(all.keys().copied().collect::<Vec<_>>(), Counter::timed().collect::<Vec<_>>(), "every timed state");
        assert_eq!(overdue("2020-04-20T00:00:00+08:00")[&Counter::Approved], 7);
    }

    #[tokio::test]
    async fn a_step_moves_its_wait_and_a_change_inside_a_step_does_not() {
        let s = MemoryStats::default();
        let mut a = app("A", "C", "440307003001", State::PendingCommunity, 2, "1");
        a.state_since = china("2020-03-02T10:00:00+08:00");
        let mut urged = a.clone();
        urged.version = 3;
        urged.urged_at = Some(china("2020-03-20T10:00:00+08:00"));
        let mut next = urged.clone();
        next.version = 4;
        next.state = State::PendingSubdistrict;
        next.state_since = china("2020-03-21T10:00:00+08:00");
        let c = stream(&[a.clone(), urged]);
        apply_changes(&s, &c, Utc::now()).await.unwrap();
        let community =
            Wait { counter: Counter::PendingCommunity, since: NaiveDate::from_ymd_opt(2020, 3, 2).unwrap() };
        for unit in ["440300", "440307", "440307003", "440307003001"] {
            assert_eq!(totals(&s, unit).await.waiting(&community), 1, "{unit}");
        }
        let mut c = stream(&[a, next.clone()]);
        c.remove(0);
        c[0].old.as_mut().unwrap().version = 3;
        apply_changes(&s, &c, Utc::now()).await.unwrap();
        let t = totals(&s, "440307003001").await;
        assert_eq!(t.waiting(&community), 0);
        assert!(t.has_empty_buckets(), "ADD leaves the bucket, at zero");
        let subdistrict =
            Wait { counter: Counter::PendingSubdistrict, since: NaiveDate::from_ymd_opt(2020, 3, 21).unwrap() };
        assert_eq!(t.waiting(&subdistrict), 1);

        // The nightly repair drops the empty bucket, and reports no drift.
        let later = Utc::now() + IN_FLIGHT_HORIZON + chrono::TimeDelta::minutes(1);
        let r = reconcile(&Scan(vec![next.clone()]), &s, &policy().id, later).await.unwrap();
        assert!(r.drift.is_empty(), "{r:?}");
        assert_eq!(r.repaired_units, 4, "{r:?}");
        let t = totals(&s, "440307003001").await;
        assert!(!t.has_empty_buckets() && t.waiting(&subdistrict) == 1, "{t:?}");
    }

    /// A wait counted by hand, not by the nightly recount: drift names it.
    #[tokio::test]
    async fn a_lost_wait_is_drift_and_is_repaired() {
        let s = MemoryStats::default();
        let now = Utc::now();
        let a = app("A1", "C1", "440307003001", State::PendingDistrict, 2, "100");
        apply_changes(&s, &stream(std::slice::from_ref(&a)), now).await.unwrap();
        let unit = UnitKey::new(&policy().id, "440307003");
        let w = Wait::of(&a).unwrap();
        s.units.lock().unwrap().get_mut(&unit).unwrap().totals.add_waiting(w, -1);
        let r = reconcile(&Scan(vec![a]), &s, &policy().id, now + IN_FLIGHT_HORIZON * 2).await.unwrap();
        assert_eq!(r.drift.len(), 1, "{r:?}");
        assert_eq!(
            (r.drift[0].unit.as_str(), r.drift[0].counter.clone(), r.drift[0].stored),
            ("440307003", w.name(), 0)
        );
        assert_eq!(totals(&s, "440307003").await.waiting(&w), 1);
    }

    #[test]
    fn claimed_amounts_are_counted_per_state_in_review_and_the_forecast_subtracts_them() {
        let c = Contribution::of(&app("A", "C", "440307003001", State::Returned, 3, "10.50")).unwrap();
        assert_eq!(c.totals.get(Counter::ReturnedFen), 1050);
        assert_eq!(c.totals.get(Counter::PendingCommunityFen), 0);
        let approved = Contribution::of(&app("A", "C", "440307003001", State::Approved, 6, "10.50")).unwrap();
        assert!(Counter::IN_REVIEW.iter().all(|(_, fen)| approved.totals.get(*fen) == 0), "approved is out of review");

        let p = policy();
        let mut t = Totals::default();
        t.add(Counter::ApprovedAmount, 10_000_000_000);
        t.add(Counter::PendingDistrictFen, 1_500_000_000);
        t.add(Counter::ReturnedFen, 25);
        let f = views::ForecastView::of(&p, "440307", &t, None);
        assert_eq!(f.allocated.fen, 4_000_000_000, "Longgang's 40 million");
        assert_eq!(f.in_review_total.fen, 1_500_000_025);
        assert_eq!(f.in_review["pendingDistrict"].fen, 1_500_000_000);
        assert_eq!(f.in_review.len(), 5);
        assert_eq!(f.remaining_after_review.yuan, "-75000000.25");
        assert!(f.short);
        // A district the policy gives no budget: 0 allocated, short at once.
        let none = views::ForecastView::of(&p, "449999", &t, None);
        assert_eq!((none.allocated.fen, none.short), (0, true));
        let fits = views::ForecastView::of(&p, "440307", &Totals::default(), None);
        assert_eq!((fits.remaining_after_review.fen, fits.short), (4_000_000_000, false));
    }

    /// One step: (application slot, company, community, state index).
    type Step = (usize, usize, usize, u8);

    /// A random workflow over many companies, projects and communities, and
    /// a seed for how it is delivered.
    fn scenario() -> impl Strategy<Value = (Vec<Step>, u64)> {
        (proptest::collection::vec((0usize..6, 0usize..5, 0usize..4, 0u8..12), 1..60), any::<u64>())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

        /// The stream delivered as Lambda delivers it: batches in order; a
        /// batch retried from its first record, sometimes with more records
        /// than before; a crash between two commits of a batch, then the
        /// retry. Commits are cut small, so a batch spans several. The
        /// counters equal the recount at every level.
        #[test]
        fn counters_equal_the_recount_however_batches_are_retried((steps, seed) in scenario()) {
            let communities = ["440307003001", "440307003002", "440307009001", "440398000001"];
            let mut apps: BTreeMap<usize, Application> = BTreeMap::new();
            let mut images: Vec<Application> = Vec::new();
            for (i, (slot, company, community, state)) in steps.iter().enumerate() {
                let version = apps.get(slot).map(|a| a.version + 1).unwrap_or(1);
                let state = State::ALL[*state as usize];
                let mut a = app(&format!("A{slot}"), &format!("C{company}"), communities[*community], state, version, &format!("{}.{:02}", 10 + i, i % 100));
                // Steps begin on different days, some in the same state.
                a.state_since = Utc::now() - chrono::TimeDelta::hours(7 * (i % 9) as i64);
                apps.insert(*slot, a.clone());
                images.push(a);
            }
            let changes = stream(&images);
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let s = MemoryStats::default();
            rt.block_on(async {
                let mut at = 0;
                let mut rng = seed;
                while at < changes.len() {
                    rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    let left = changes.len() - at;
                    let n = 1 + (rng >> 33) as usize % left.min(9);
                    if rng % 7 == 0 {
                        // A crash after the first commit of the batch.
                        *s.fail_in.lock().unwrap() = Some(1);
                        let _ = apply::apply_in_runs(&s, &changes[at..at + n], Utc::now(), 16).await;
                        *s.fail_in.lock().unwrap() = None;
                    }
                    apply::apply_in_runs(&s, &changes[at..at + n], Utc::now(), 16).await.unwrap();
                    if rng % 5 == 0 {
                        // Retried anyway (the checkpoint was lost), with up to
                        // three records more.
                        let more = ((rng >> 20) as usize % 4).min(left - n);
                        apply::apply_in_runs(&s, &changes[at..at + n + more], Utc::now(), 16).await.unwrap();
                        at += more;
                    }
                    at += n;
                }
            });
            let recount = Recount::of_applications(apps.values());
            let stored = rt.block_on(s.all_units(&policy().id)).unwrap();
            let d = drift(&policy().id, &stored, &recount);
            prop_assert!(d.is_empty(), "{d:?}");
        }
    }
}
