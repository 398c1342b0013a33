//! The nightly recount: every application of the policy counted again,
//! drift against the stored counters reported and repaired.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::*;
use crate::application::Application;
use crate::error::StoreError;
use crate::ports::PageRequest;

/// The counters and reference counts a set of applications should give:
/// the full recount.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recount {
    pub units: BTreeMap<UnitKey, Totals>,
    pub refs: BTreeMap<(UnitKey, String), i64>,
}

impl Recount {
    pub fn add(&mut self, c: &Contribution) {
        for key in c.units() {
            let t = self.units.entry(key.clone()).or_default();
            t.add_all(&c.totals, 1);
            if c.live {
                let n = self.refs.entry((key.clone(), c.company_id.clone())).or_default();
                if *n == 0 {
                    t.add(Counter::Companies, 1);
                }
                *n += 1;
            }
        }
    }

    pub fn of_applications<'a>(apps: impl IntoIterator<Item = &'a Application>) -> Recount {
        let mut r = Recount::default();
        for app in apps {
            if let Some(c) = Contribution::of(app) {
                r.add(&c);
            }
        }
        r
    }
}

/// One counter that differed from the recount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    pub unit: String,
    /// A counter's name, or a waiting bucket's (see [`Wait::name`]).
    pub counter: String,
    pub stored: i64,
    pub recounted: i64,
}

/// Compares stored counters with a recount, for one policy.
pub fn drift(policy_id: &str, stored: &HashMap<String, UnitTotals>, recount: &Recount) -> Vec<Drift> {
    let mut units: std::collections::BTreeSet<&str> = stored.keys().map(String::as_str).collect();
    units.extend(recount.units.keys().filter(|k| k.policy_id == policy_id).map(|k| k.unit.as_str()));
    let mut out = Vec::new();
    for unit in units {
        let have = stored.get(unit).map(|u| u.totals.clone()).unwrap_or_default();
        let want = recount.units.get(&UnitKey::new(policy_id, unit)).cloned().unwrap_or_default();
        for c in Counter::ALL {
            if have.get(c) != want.get(c) {
                out.push(Drift {
                    unit: unit.to_string(),
                    counter: c.name().to_string(),
                    stored: have.get(c),
                    recounted: want.get(c),
                });
            }
        }
        // A bucket at zero is no drift (see `Totals::has_empty_buckets`).
        let waits: std::collections::BTreeSet<Wait> = have.waits().chain(want.waits()).map(|(w, _)| w).collect();
        for w in waits {
            if have.waiting(&w) != want.waiting(&w) {
                out.push(Drift {
                    unit: unit.to_string(),
                    counter: w.name(),
                    stored: have.waiting(&w),
                    recounted: want.waiting(&w),
                });
            }
        }
    }
    out
}

/// What a reconciliation found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileReport {
    pub policy_id: String,
    pub applications: u64,
    /// Counters that differed from the full recount when the job started.
    pub drift: Vec<Drift>,
    /// Applications whose last change may still be on its way to the
    /// aggregator (changed within [`IN_FLIGHT_HORIZON`], not logged yet).
    pub in_flight: usize,
    pub repaired_units: usize,
    pub repaired_refs: usize,
    /// Repairs left for the next run: a live update touched the unit or
    /// count meanwhile, or one of its applications is in flight.
    pub skipped: usize,
    /// Logs dropped past [`LOG_RETENTION`].
    pub pruned_logs: u64,
    pub computed_at: DateTime<Utc>,
}

/// Recounts every application from scratch, reports the drift, and repairs
/// the counters, without ever racing the live aggregator:
///
/// 1. Each unit's counters and version are read first.
/// 2. Every application is counted again from its current image.
/// 3. An application that changed within [`IN_FLIGHT_HORIZON`] and whose
///    change no log names yet may still be counted by the aggregator: its
///    units are left alone this run. Past the horizon a record can no
///    longer arrive (the stream has dropped it), so a lost change is
///    repaired by the next run after it.
/// 4. A unit that differs is overwritten only if its version is still the
///    one read in step 1 (a commit meanwhile changes it, and the repair is
///    left for the next run); a reference count only if it is still the
///    value read.
pub async fn reconcile(
    apps: &dyn crate::ports::ApplicationStore,
    stats: &dyn StatsStore,
    policy_id: &str,
    now: DateTime<Utc>,
) -> Result<ReconcileReport, StoreError> {
    let units = stats.all_units(policy_id).await?;
    let refs = stats.all_refs(policy_id).await?;
    let mut recount = Recount::default();
    let mut report = ReconcileReport { policy_id: policy_id.to_string(), computed_at: now, ..Default::default() };
    let horizon = now - IN_FLIGHT_HORIZON;
    let mut recent: Vec<(ChangeKey, [String; 4])> = Vec::new();
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let batch = apps.scan_applications(&page).await?;
        for app in batch.items.iter().filter(|a| a.policy_id == policy_id) {
            report.applications += 1;
            let Some(c) = Contribution::of(app) else {
                continue; // a draft has never counted
            };
            recount.add(&c);
            if app.updated_at >= horizon {
                let p = &app.jurisdiction;
                recent.push((
                    ChangeKey::of(app),
                    [p.city.clone(), p.district.clone(), p.subdistrict.clone(), p.community.clone()],
                ));
            }
        }
        match batch.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    // Read after the scan: a change counted before this read is seen here,
    // and one counted after it moves its units' versions past step 1's.
    let logged: std::collections::HashSet<ChangeKey> =
        stats.logged_since(horizon - chrono::TimeDelta::hours(1)).await?.into_iter().collect();
    let mut unsettled: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    for (change, path) in recent {
        if !logged.contains(&change) {
            report.in_flight += 1;
            unsettled.extend(path);
        }
    }
    report.drift = drift(policy_id, &units, &recount);

    let mut names: std::collections::BTreeSet<&str> = units.keys().map(String::as_str).collect();
    names.extend(recount.units.keys().filter(|k| k.policy_id == policy_id).map(|k| k.unit.as_str()));
    for unit in names {
        let key = UnitKey::new(policy_id, unit);
        let want = recount.units.get(&key).cloned().unwrap_or_default();
        let have = units.get(unit).cloned().unwrap_or_default();
        // Equal, empty buckets included: a unit holding buckets back at
        // zero is rewritten without them, to keep its item small.
        if have.totals == want {
            continue;
        }
        if !unsettled.contains(unit) && stats.repair_unit(&key, &want, have.version, now).await? {
            report.repaired_units += 1;
        } else {
            report.skipped += 1;
        }
    }
    let mut ref_keys: std::collections::BTreeSet<(String, String)> = refs.keys().cloned().collect();
    ref_keys.extend(
        recount.refs.keys().filter(|(k, _)| k.policy_id == policy_id).map(|(k, c)| (k.unit.clone(), c.clone())),
    );
    for (unit, company) in ref_keys {
        let key = UnitKey::new(policy_id, &unit);
        let want = recount.refs.get(&(key.clone(), company.clone())).copied().unwrap_or(0);
        let have = refs.get(&(unit.clone(), company.clone())).copied().unwrap_or(0);
        if have == want {
            continue;
        }
        let r = RefWrite { key, company_id: company, old: have, new: want };
        if !unsettled.contains(&unit) && stats.repair_ref(&r).await? {
            report.repaired_refs += 1;
        } else {
            report.skipped += 1;
        }
    }
    report.pruned_logs = stats.prune_logs(now - LOG_RETENTION).await?;
    Ok(report)
}
