//! Counting committed changes exactly once: the deltas between each
//! change's old and new image, committed with a log of what was counted.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::*;
use crate::application::dispatch::ChangeRecord;
use crate::error::StoreError;

/// Per-unit deltas and per-(unit, company) reference deltas of one change.
#[derive(Debug, Default)]
struct Deltas {
    units: BTreeMap<UnitKey, Totals>,
    refs: BTreeMap<(UnitKey, String), i64>,
}

impl Deltas {
    fn add(&mut self, c: &Contribution, sign: i64) {
        for key in c.units() {
            self.units.entry(key.clone()).or_default().add_all(&c.totals, sign);
            if c.live {
                *self.refs.entry((key, c.company_id.clone())).or_default() += sign;
            }
        }
    }
}

/// Counts a run of committed changes, in delivery order: exactly once per
/// (application, version), as long as a redelivery starts where an earlier
/// delivery began, or the store finds a log from any of its changes (see
/// [`StatsStore::logged`]). Changes are committed in runs of consecutive
/// changes, each with its log, at most 100 items per commit (DynamoDB's
/// limit); units and reference counts the run shares (the city, always) are
/// written once per commit.
pub async fn apply_changes(
    store: &dyn StatsStore,
    changes: &[ChangeRecord],
    now: DateTime<Utc>,
) -> Result<AppliedBatch, StoreError> {
    apply_in_runs(store, changes, now, MAX_ITEMS).await
}

/// DynamoDB's limit of items per transaction.
const MAX_ITEMS: usize = 100;

/// [`apply_changes`] with commits of at most `max_items` items (tests use
/// small ones, to cut deliveries into many runs).
pub(crate) async fn apply_in_runs(
    store: &dyn StatsStore,
    changes: &[ChangeRecord],
    now: DateTime<Utc>,
    max_items: usize,
) -> Result<AppliedBatch, StoreError> {
    // A change listed twice in one delivery counts once. A change between
    // two drafts moves nothing, and is left out of the runs (the same way in
    // every delivery, so runs still begin where they began).
    let mut seen = std::collections::HashSet::new();
    let mut out = AppliedBatch { images: changes.len(), ..AppliedBatch::default() };
    let changes: Vec<&ChangeRecord> = changes
        .iter()
        .filter(|c| seen.insert(ChangeKey::of(&c.new)))
        .filter(|c| Contribution::of(&c.new).is_some() || c.old.as_ref().and_then(Contribution::of).is_some())
        .collect();
    out.skipped = out.images - changes.len();
    let mut i = 0;
    let mut attempt = 0;
    while i < changes.len() {
        if let Some(done) = store.logged(&ChangeKey::of(&changes[i].new)).await? {
            // Counted by an earlier delivery: skip what its commit counted.
            let done: std::collections::HashSet<ChangeKey> = done.into_iter().collect();
            let start = i;
            while i < changes.len() && done.contains(&ChangeKey::of(&changes[i].new)) {
                i += 1;
            }
            // A log that does not name its own key is corrupt: skip the change
            // rather than loop (the nightly recount repairs the counters).
            i = i.max(start + 1);
            out.skipped += i - start;
            attempt = 0;
            continue;
        }
        let end = run_end(&changes, i, max_items);
        attempt += 1;
        match commit_run(store, &changes[i..end], now).await {
            Ok(writes) => {
                out.applied += end - i;
                out.commits += 1;
                out.writes += writes;
                i = end;
                attempt = 0;
            }
            // A concurrent delivery logged the run, or another writer moved
            // a reference count: look again.
            Err(StoreError::VersionConflict { .. }) if attempt < 8 => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Where the run that begins at `start` ends: as many consecutive changes
/// as fit in one commit of at most `max_items` items (the log, the units
/// and the reference counts it touches).
fn run_end(changes: &[&ChangeRecord], start: usize, max_items: usize) -> usize {
    let mut touched = std::collections::BTreeSet::new();
    let mut end = start;
    while end < changes.len() {
        let c = changes[end];
        let mut keys = Vec::new();
        for contribution in c.old.as_ref().and_then(Contribution::of).iter().chain(Contribution::of(&c.new).iter()) {
            for k in contribution.units() {
                if contribution.live {
                    keys.push(format!("r{}#{}#{}", k.policy_id, k.unit, contribution.company_id));
                }
                keys.push(format!("u{}#{}", k.policy_id, k.unit));
            }
        }
        keys.retain(|k| !touched.contains(k));
        keys.sort();
        keys.dedup();
        if end > start && 1 + touched.len() + keys.len() > max_items {
            break;
        }
        touched.extend(keys);
        end += 1;
    }
    end
}

/// What [`apply_changes`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppliedBatch {
    /// Changes received.
    pub images: usize,
    /// Changes counted now.
    pub applied: usize,
    /// Changes an earlier delivery had counted, repeats within the
    /// delivery, and changes between drafts (which move nothing).
    pub skipped: usize,
    /// Transactions committed.
    pub commits: usize,
    /// Items written in all.
    pub writes: usize,
}

/// Commits one run: per application, its contribution before the run's
/// first change of it leaves, and its contribution after the last arrives.
async fn commit_run(store: &dyn StatsStore, run: &[&ChangeRecord], now: DateTime<Utc>) -> Result<usize, StoreError> {
    let mut first_old: BTreeMap<&str, Option<Contribution>> = BTreeMap::new();
    let mut last_new: BTreeMap<&str, Option<Contribution>> = BTreeMap::new();
    for c in run {
        first_old.entry(c.new.id.as_str()).or_insert_with(|| c.old.as_ref().and_then(Contribution::of));
        last_new.insert(c.new.id.as_str(), Contribution::of(&c.new));
    }
    let mut deltas = Deltas::default();
    for (id, new) in &last_new {
        if let Some(old) = first_old.get(id).and_then(Option::as_ref) {
            deltas.add(old, -1);
        }
        if let Some(new) = new {
            deltas.add(new, 1);
        }
    }
    let ref_keys: Vec<(UnitKey, String)> =
        deltas.refs.iter().filter(|(_, d)| **d != 0).map(|(k, _)| k.clone()).collect();
    let current = store.company_refs(&ref_keys).await?;
    let mut refs = Vec::new();
    for key in ref_keys {
        let d = deltas.refs[&key];
        let old = current.get(&key).copied().unwrap_or(0);
        let new = old + d;
        let companies = i64::from(new > 0) - i64::from(old > 0);
        deltas.units.entry(key.0.clone()).or_default().add(Counter::Companies, companies);
        refs.push(RefWrite { key: key.0, company_id: key.1, old, new });
    }
    let units: Vec<(UnitKey, Totals)> = deltas.units.into_iter().filter(|(_, t)| !t.is_zero()).collect();
    let log = LogWrite { changes: run.iter().map(|c| ChangeKey::of(&c.new)).collect() };
    let commit = StatsCommit { log, units, refs, at: now };
    let items = commit.items();
    store.commit(&commit).await?;
    Ok(items)
}
