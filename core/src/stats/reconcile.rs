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
            *t = t.plus(&c.totals);
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
    pub counter: &'static str,
    pub stored: i64,
    pub recounted: i64,
}

/// Compares stored counters with a recount, for one policy.
pub fn drift(policy_id: &str, stored: &HashMap<String, UnitTotals>, recount: &Recount) -> Vec<Drift> {
    let mut units: std::collections::BTreeSet<&str> = stored.keys().map(String::as_str).collect();
    units.extend(recount.units.keys().filter(|k| k.policy_id == policy_id).map(|k| k.unit.as_str()));
    let mut out = Vec::new();
    for unit in units {
        let have = stored.get(unit).map(|u| u.totals).unwrap_or_default();
        let want = recount.units.get(&UnitKey::new(policy_id, unit)).copied().unwrap_or_default();
        for c in Counter::ALL {
            if have.get(c) != want.get(c) {
                out.push(Drift {
                    unit: unit.to_string(),
                    counter: c.name(),
                    stored: have.get(c),
                    recounted: want.get(c),
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
    /// Applications whose marker was behind and were applied again.
    pub reapplied: usize,
    pub repaired_units: usize,
    pub repaired_refs: usize,
    /// Repairs skipped because a live update touched the unit meanwhile
    /// (the next run checks them again).
    pub skipped: usize,
    pub computed_at: DateTime<Utc>,
}

/// Recounts every application from scratch, reports the drift, and repairs
/// the counters, without ever racing the live aggregator:
///
/// 1. Every application is applied again through [`apply_images`]. That is
///    idempotent, so it only moves what a lost record left behind, with the
///    same conditional commits as the stream consumer.
/// 2. Counters that still disagree with the sum of the markers (say, a
///    counter someone edited) are overwritten, each only if its version is
///    the one read before the markers were summed; a unit that a live
///    update touched meanwhile is left for the next run.
pub async fn reconcile(
    apps: &dyn crate::ports::ApplicationStore,
    stats: &dyn StatsStore,
    policy_id: &str,
    now: DateTime<Utc>,
) -> Result<ReconcileReport, StoreError> {
    let before = stats.all_units(policy_id).await?;
    let mut recount = Recount::default();
    let mut report = ReconcileReport { policy_id: policy_id.to_string(), computed_at: now, ..Default::default() };
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let batch = apps.scan_applications(&page).await?;
        for app in batch.items.iter().filter(|a| a.policy_id == policy_id) {
            report.applications += 1;
            if let Some(c) = Contribution::of(app) {
                recount.add(&c);
            }
        }
        let mine: Vec<Application> = batch.items.into_iter().filter(|a| a.policy_id == policy_id).collect();
        report.reapplied += apply_images(stats, &mine, now).await?.applied;
        match batch.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    report.drift = drift(policy_id, &before, &recount);

    // Versions first, then the markers: a commit in between changes the
    // version, and the repair of that unit is skipped.
    let units = stats.all_units(policy_id).await?;
    let refs = stats.all_refs(policy_id).await?;
    let mut expected = Recount::default();
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let batch = stats.scan_applied(&page).await?;
        for (_, applied) in &batch.items {
            if let Some(c) = applied.contribution.as_ref().filter(|c| c.policy_id == policy_id) {
                expected.add(c);
            }
        }
        match batch.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    let mut names: std::collections::BTreeSet<&str> = units.keys().map(String::as_str).collect();
    names.extend(expected.units.keys().map(|k| k.unit.as_str()));
    for unit in names {
        let key = UnitKey::new(policy_id, unit);
        let want = expected.units.get(&key).copied().unwrap_or_default();
        let have = units.get(unit).cloned().unwrap_or_default();
        if have.totals != want {
            if stats.repair_unit(&key, &want, have.version, now).await? {
                report.repaired_units += 1;
            } else {
                report.skipped += 1;
            }
        }
    }
    let mut ref_keys: std::collections::BTreeSet<(String, String)> = refs.keys().cloned().collect();
    ref_keys.extend(expected.refs.keys().map(|(k, c)| (k.unit.clone(), c.clone())));
    for (unit, company) in ref_keys {
        let key = UnitKey::new(policy_id, &unit);
        let want = expected.refs.get(&(key.clone(), company.clone())).copied().unwrap_or(0);
        let have = refs.get(&(unit, company.clone())).copied().unwrap_or(0);
        if have != want {
            let r = RefWrite { key, company_id: company, old: have, new: want };
            if stats.repair_ref(&r).await? {
                report.repaired_refs += 1;
            } else {
                report.skipped += 1;
            }
        }
    }
    Ok(report)
}
