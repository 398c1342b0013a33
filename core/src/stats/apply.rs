//! Counting committed changes exactly once: each application's last
//! applied contribution and version, and the deltas a newer image makes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::*;
use crate::application::Application;
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
            let t = self.units.entry(key.clone()).or_default();
            for (counter, v) in c.totals.iter() {
                t.add(counter, sign * v);
            }
            if c.live {
                *self.refs.entry((key, c.company_id.clone())).or_default() += sign;
            }
        }
    }
}

/// Counts how one batch of application images moves the counters, and
/// commits it: exactly once per application version, however the images
/// were delivered. Images may repeat and come in any grouping; for each
/// application only the newest matters.
pub async fn apply_images(
    store: &dyn StatsStore,
    images: &[Application],
    now: DateTime<Utc>,
) -> Result<AppliedBatch, StoreError> {
    let mut newest: BTreeMap<&str, &Application> = BTreeMap::new();
    for app in images {
        match newest.get(app.id.as_str()) {
            Some(seen) if seen.version >= app.version => {}
            _ => {
                newest.insert(&app.id, app);
            }
        }
    }
    let apps: Vec<&Application> = newest.into_values().collect();
    let mut out = AppliedBatch { images: images.len(), ..AppliedBatch::default() };
    let ids: Vec<String> = apps.iter().map(|a| a.id.clone()).collect();
    let markers = store.applied(&ids).await?;
    // Group the applications that need applying into transactions of at
    // most 100 items (DynamoDB's limit), merging their deltas: units and
    // reference counts they share (the city, always) are written once.
    let mut chunks: Vec<Vec<&Application>> = Vec::new();
    let mut current: Vec<&Application> = Vec::new();
    let mut touched: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    for app in apps {
        let marker = markers.get(&app.id);
        if marker.is_some_and(|m| m.version >= app.version) {
            out.skipped += 1;
            continue;
        }
        let mut keys = std::collections::BTreeSet::new();
        for c in marker.and_then(|m| m.contribution.as_ref()).into_iter().chain(Contribution::of(app).as_ref()) {
            for k in c.units() {
                if c.live {
                    keys.insert(format!("r{}#{}#{}", k.policy_id, k.unit, c.company_id));
                }
                keys.insert(format!("u{}#{}", k.policy_id, k.unit));
            }
        }
        let merged = touched.union(&keys).count();
        if !current.is_empty() && merged + current.len() + 1 > 100 {
            chunks.push(std::mem::take(&mut current));
            touched.clear();
        }
        touched.extend(keys);
        current.push(app);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    for chunk in chunks {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match commit_chunk(store, &chunk, now).await {
                Ok((applied, writes)) => {
                    out.applied += applied;
                    out.skipped += chunk.len() - applied;
                    out.commits += usize::from(writes > 0);
                    out.writes += writes;
                    break;
                }
                // Another writer moved a marker or a reference count: re-read.
                Err(StoreError::VersionConflict { .. }) if attempt < 8 => continue,
                Err(e) => return Err(e),
            }
        }
    }
    Ok(out)
}

/// What [`apply_images`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppliedBatch {
    /// Images received.
    pub images: usize,
    /// Applications whose newer version was applied.
    pub applied: usize,
    /// Applications already up to date (repeats, stale images).
    pub skipped: usize,
    /// Transactions committed.
    pub commits: usize,
    /// Items written in all.
    pub writes: usize,
}

async fn commit_chunk(
    store: &dyn StatsStore,
    apps: &[&Application],
    now: DateTime<Utc>,
) -> Result<(usize, usize), StoreError> {
    let ids: Vec<String> = apps.iter().map(|a| a.id.clone()).collect();
    let markers = store.applied(&ids).await?;
    let mut deltas = Deltas::default();
    let mut writes = Vec::new();
    for app in apps {
        let marker = markers.get(&app.id);
        if marker.is_some_and(|m| m.version >= app.version) {
            continue;
        }
        let new = Contribution::of(app);
        if let Some(old) = marker.and_then(|m| m.contribution.as_ref()) {
            deltas.add(old, -1);
        }
        if let Some(new) = &new {
            deltas.add(new, 1);
        }
        writes.push(MarkerWrite {
            application_id: app.id.clone(),
            expected: marker.map(|m| m.version),
            applied: Applied { version: app.version, contribution: new },
        });
    }
    if writes.is_empty() {
        return Ok((0, 0));
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
    let commit = StatsCommit { markers: writes, units: deltas.units.into_iter().collect(), refs, at: now };
    let applied = commit.markers.len();
    let items = commit.items();
    store.commit(&commit).await?;
    Ok((applied, items))
}
