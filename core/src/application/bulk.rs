//! Bulk approval that keeps a human in the loop (批量通过 with 抽查).
//!
//! A reviewer approves up to [`MAX_ITEMS`] applications at once, each
//! independently, at the area under review (an area is only ever lowered
//! one by one). Above the policy's `spotCheckMinimum` eligible items, a
//! sample of `spotCheckRate` of them (at least one) must have been opened
//! in detail by the same reviewer while it waited at their tier; otherwise
//! nothing is approved and the answer names the sample to open.
//!
//! The sample is drawn from the eligible items alone (a selection padded
//! with applications that would fail anyway cannot steer it), by a seed
//! that is an HMAC of the reviewer and the eligible selection under the
//! audit key: the same selection always draws the same sample (a retry
//! cannot re-draw it), nobody without the key can predict it, and the seed
//! written on each approval's trail lets anyone recompute it: each item's
//! rank is SHA-256(seed ‖ id), and the sample is the lowest ranks.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Application;
use super::inputs::ApproveInput;
use super::state::State;
use super::views::ApplicationView;
use crate::error::Error;
use crate::identity::Tier;
use crate::ports::StoreResult;

/// At most this many items per request.
pub const MAX_ITEMS: usize = 100;

/// Who opened which application in detail, and when: what a spot check
/// asks for.
#[async_trait]
pub trait ViewLog: Send + Sync {
    /// Records that `reviewer` opened the application at `at` (the latest
    /// opening is kept).
    async fn record_view(&self, reviewer: &str, application_id: &str, at: DateTime<Utc>) -> StoreResult<()>;
    /// When `reviewer` last opened each of these applications, for those
    /// opened at all.
    async fn views_of(&self, reviewer: &str, application_ids: &[String])
    -> StoreResult<HashMap<String, DateTime<Utc>>>;
}

/// One application of the selection, at the version the reviewer saw.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BulkItem {
    pub id: String,
    pub version: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BulkApproveInput {
    #[serde(deserialize_with = "objects")]
    pub items: Vec<BulkItem>,
}

/// Items as JSON objects only: serde would also take `["id", 3]` by
/// position.
fn objects<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<BulkItem>, D::Error> {
    use serde::de::Error as _;
    let raw = Vec::<serde_json::Value>::deserialize(d)?;
    raw.into_iter()
        .enumerate()
        .map(|(i, v)| match v {
            serde_json::Value::Object(_) => {
                serde_json::from_value(v).map_err(|e| D::Error::custom(format!("items[{i}]: {e}")))
            }
            _ => Err(D::Error::custom(format!("items[{i}] must be an object with id and version"))),
        })
        .collect()
}

impl BulkApproveInput {
    /// 1 to [`MAX_ITEMS`] items, no id twice.
    pub fn check(&self) -> Result<(), Error> {
        if self.items.is_empty() {
            return Err(Error::invalid("items", "select at least one application"));
        }
        if self.items.len() > MAX_ITEMS {
            return Err(Error::invalid(
                "items",
                format!("at most {MAX_ITEMS} applications at once, not {}", self.items.len()),
            ));
        }
        let mut seen = BTreeSet::new();
        if let Some(twice) = self.items.iter().find(|i| !seen.insert(i.id.as_str())) {
            return Err(Error::invalid("items", format!("application {} is listed twice", twice.id)));
        }
        Ok(())
    }
}

/// What happened to one item.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkResult {
    pub id: String,
    /// `approved`, `conflict` (changed since the reviewer saw it),
    /// `wrong_state` (not waiting at this tier), `not_found`, or `refused`
    /// (any other reason, in `code`).
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application: Option<ApplicationView>,
}

impl BulkResult {
    pub fn approved(id: &str, application: ApplicationView) -> BulkResult {
        BulkResult {
            id: id.to_string(),
            outcome: "approved",
            code: None,
            message: None,
            application: Some(application),
        }
    }

    pub fn failed(id: &str, e: &Error) -> BulkResult {
        let outcome = match e {
            Error::VersionConflict { .. } => "conflict",
            Error::WrongState { .. } => "wrong_state",
            Error::NotFound(_) => "not_found",
            _ => "refused",
        };
        // An internal cause stays in the logs.
        let message = match e {
            Error::Internal(_) => "internal error".to_string(),
            e => e.to_string(),
        };
        BulkResult { id: id.to_string(), outcome, code: Some(e.code()), message: Some(message), application: None }
    }
}

/// The spot check a request passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpotCheck {
    /// How many items were eligible (waiting at the tier, at the version
    /// given, visible to the reviewer): the selection the sample is drawn
    /// from.
    pub selected: usize,
    /// The sample, lowest rank first.
    pub sampled: Vec<String>,
    /// The seed, hex: with the selection, everything needed to redraw it.
    pub seed: String,
}

/// The answer to a bulk approval.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkApproveView {
    /// One per item, in the order given.
    pub results: Vec<BulkResult>,
    pub approved: usize,
    /// Null when the selection was small enough to need none.
    pub spot_check: Option<SpotCheck>,
}

/// How many of `n` eligible items the sample holds under the policy: none
/// up to `minimum`, else `rate_per_mille` of them rounded up, at least one.
pub fn sample_size(n: usize, minimum: u32, rate_per_mille: u32) -> usize {
    if n <= minimum as usize {
        return 0;
    }
    (n * rate_per_mille as usize).div_ceil(1000).clamp(1, n)
}

/// What the seed is the MAC of: the reviewer, the tier, and the eligible
/// selection (ids and versions, sorted), so the same selection always
/// gives the same seed.
pub fn seed_input(reviewer: &str, tier: Tier, eligible: &[(String, u64)]) -> Vec<u8> {
    let mut sorted: Vec<String> = eligible.iter().map(|(id, v)| format!("{id}@{v}")).collect();
    sorted.sort();
    format!("spot-check\n{reviewer}\n{}\n{}", tier.as_str(), sorted.join("\n")).into_bytes()
}

/// The sample of `k` items: the lowest SHA-256(seed ‖ id), lowest first.
pub fn draw(seed: &str, ids: &[String], k: usize) -> Vec<String> {
    let mut ranked: Vec<([u8; 32], &String)> = ids
        .iter()
        .map(|id| {
            let mut h = Sha256::new();
            h.update(seed.as_bytes());
            h.update(b"\n");
            h.update(id.as_bytes());
            (h.finalize().into(), id)
        })
        .collect();
    ranked.sort();
    ranked.into_iter().take(k).map(|(_, id)| id.clone()).collect()
}

/// Whether the application counts toward the selection: waiting at the
/// tier at the version the reviewer saw.
pub(crate) fn eligible(app: &Application, tier: Tier, version: u64) -> bool {
    app.state == State::pending_at(tier) && app.version == version
}

/// The reason written on each approval's trail: the selection's size, the
/// sample's, whether this one was in it, and the seed.
pub(crate) fn trail_reason(check: &Option<SpotCheck>, id: &str) -> String {
    match check {
        None => "批量通过".to_string(),
        Some(c) => format!(
            "批量通过（{} 件中抽查 {} 件，本件{}抽查样本；抽查种子 {}）",
            c.selected,
            c.sampled.len(),
            if c.sampled.iter().any(|s| s == id) { "为" } else { "非" },
            c.seed
        ),
    }
}

/// The input one approval of a bulk request gets: no area (the one under
/// review stands) and the trail's reason.
pub(crate) fn approve_input(item: &BulkItem, reason: String) -> ApproveInput {
    ApproveInput { version: item.version, approved_area: None, reason: Some(reason) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("A{i:03}")).collect()
    }

    #[test]
    fn the_sample_is_the_policy_rate_rounded_up_above_the_minimum() {
        assert_eq!(sample_size(10, 10, 100), 0, "up to the minimum, no spot check");
        assert_eq!(sample_size(11, 10, 100), 2, "10% of 11 is 1.1: two");
        assert_eq!(sample_size(30, 10, 100), 3, "exactly 3, not 4 (no floating point)");
        assert_eq!(sample_size(12, 10, 1), 1, "at least one");
        assert_eq!(sample_size(100, 0, 1000), 100);
        assert_eq!(sample_size(1, 0, 100), 1);
    }

    #[test]
    fn the_same_selection_draws_the_same_sample_and_another_seed_another() {
        let all = ids(50);
        let a = draw("seed-a", &all, 5);
        assert_eq!(a, draw("seed-a", &all, 5), "reproducible");
        let mut reversed = all.clone();
        reversed.reverse();
        assert_eq!(a, draw("seed-a", &reversed, 5), "order of the request does not matter");
        assert_ne!(a, draw("seed-b", &all, 5));
        assert_eq!(a.len(), 5);
        assert!(a.iter().all(|id| all.contains(id)));
        // A larger sample extends the smaller one: ranks, not a reshuffle.
        assert_eq!(&draw("seed-a", &all, 8)[..5], &a[..]);
    }

    #[test]
    fn every_item_is_drawn_about_equally_often() {
        // 2,000 seeds, 20 items, samples of 2: each item about 200 times.
        let all = ids(20);
        let mut hits: HashMap<String, usize> = HashMap::new();
        for s in 0..2000 {
            for id in draw(&format!("seed-{s}"), &all, 2) {
                *hits.entry(id).or_default() += 1;
            }
        }
        assert_eq!(hits.len(), 20);
        assert!(hits.values().all(|n| (120..=280).contains(n)), "{hits:?}");
    }

    #[test]
    fn the_seed_covers_the_reviewer_the_tier_and_each_version() {
        let sel = vec![("A".to_string(), 3), ("B".to_string(), 4)];
        let base = seed_input("r1", Tier::Community, &sel);
        let mut swapped = sel.clone();
        swapped.reverse();
        assert_eq!(base, seed_input("r1", Tier::Community, &swapped));
        assert_ne!(base, seed_input("r2", Tier::Community, &sel));
        assert_ne!(base, seed_input("r1", Tier::District, &sel));
        assert_ne!(base, seed_input("r1", Tier::Community, &[("A".to_string(), 3), ("B".to_string(), 5)]));
    }

    #[test]
    fn a_selection_is_one_to_a_hundred_distinct_items_and_nothing_else() {
        let of = |n: usize| BulkApproveInput {
            items: (0..n).map(|i| BulkItem { id: format!("A{i}"), version: 1 }).collect(),
        };
        assert!(of(1).check().is_ok());
        assert!(of(100).check().is_ok());
        for bad in [of(0), of(101)] {
            assert!(matches!(bad.check(), Err(Error::Invalid { ref field, .. }) if field == "items"));
        }
        let mut twice = of(3);
        twice.items[2].id = "A0".into();
        assert!(matches!(twice.check(), Err(Error::Invalid { .. })));
        // An area cannot be lowered in bulk: an item takes id and version only.
        let lowered = serde_json::from_str::<BulkApproveInput>(
            r#"{"items": [{"id": "A", "version": 2, "approvedArea": "10.00"}]}"#,
        );
        assert!(lowered.is_err());
        for bad in
            [r#"{"items": [["A", 2]]}"#, r#"{"items": ["A"]}"#, r#"{"items": [{"id": "A"}]}"#, r#"{"items": {}}"#]
        {
            assert!(serde_json::from_str::<BulkApproveInput>(bad).is_err(), "{bad}");
        }
    }
}
