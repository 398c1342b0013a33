//! Anchors: the audit chains' heads, written daily where the database's
//! writer cannot change them.
//!
//! A keyed MAC ([`crate::audit::AuditKey`]) stops anyone who can write the
//! database but not read the key. Someone who holds both could still
//! rewrite an entry and recompute every MAC after it. An anchor closes that
//! gap for everything older than a day: it records, for every chain that
//! grew since the previous anchor, its head (sequence and MAC) as it stood,
//! in a store that only appends (on AWS an S3 bucket under Object Lock in
//! compliance mode, standalone an append-only file). Because each entry's
//! MAC covers the one before it, the anchored head binds the whole chain up
//! to it: a rewrite anywhere before it changes the head.
//!
//! Anchors are chained too (each names the digest of the one before it and
//! carries a MAC), so one cannot be dropped, reordered or edited without
//! `audit-verify` noticing.
//!
//! **Coverage.** Anchor `n` is written at `written_at` and holds every chain
//! with an entry later than anchor `n - 1`'s `cutoff`. Its own `cutoff` is
//! `written_at - MARGIN`: an entry stamped before it was committed before
//! the anchor read the heads (no write takes [`MARGIN`] from its timestamp to
//! its commit). So every entry stamped at or before the last anchor's cutoff
//! must be held by some anchor, and `audit-verify` reports one that is not
//! (an entry slipped in later with an old timestamp).

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use crate::audit::ChainHead;
use crate::audit::{AuditEntry, AuditKey, ChainError, GENESIS};
use crate::ports::StoreResult;

/// How long a write may take from its timestamp to its commit, at most
/// (the longest a function runs): an anchor covers entries stamped up to
/// this long before it was written.
pub const MARGIN: Duration = Duration::minutes(15);

/// How far the clocks of two writers may disagree: a chain's stamps may step
/// back by this much, so the anchor job reads from this far before the last
/// cutoff (a chain anchored twice costs nothing).
pub const CLOCK_SLACK: Duration = Duration::minutes(1);

/// One day's anchor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Anchor {
    /// 1 for the first anchor, then one more each time.
    pub n: u64,
    pub written_at: DateTime<Utc>,
    /// The previous anchor's cutoff: this anchor holds every chain with an
    /// entry stamped after it (every chain, for the first anchor).
    pub since: Option<DateTime<Utc>>,
    /// Every entry stamped at or before this is held by anchors up to this one.
    pub cutoff: DateTime<Utc>,
    /// The previous anchor's digest ([`GENESIS`] for the first).
    pub prev: String,
    /// The heads, by subject.
    pub heads: Vec<ChainHead>,
    /// SHA-256 of everything above.
    pub digest: String,
    /// The digest's MAC under the audit key.
    pub mac: String,
}

/// The hashed content of an anchor, in a fixed field order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Hashed<'a> {
    n: u64,
    written_at: String,
    since: Option<String>,
    cutoff: String,
    prev: &'a str,
    heads: &'a [ChainHead],
}

fn stamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

impl Anchor {
    /// The anchor after `prev` (the first if None) holding `heads`,
    /// written at `written_at`.
    pub fn next(key: &AuditKey, prev: Option<&Anchor>, written_at: DateTime<Utc>, mut heads: Vec<ChainHead>) -> Anchor {
        heads.sort_by(|a, b| a.subject.cmp(&b.subject));
        let mut a = Anchor {
            n: prev.map_or(1, |p| p.n + 1),
            written_at,
            since: prev.map(|p| p.cutoff),
            cutoff: written_at - MARGIN,
            prev: prev.map_or_else(|| GENESIS.to_string(), |p| p.digest.clone()),
            heads,
            digest: String::new(),
            mac: String::new(),
        };
        a.digest = a.compute_digest();
        a.mac = key.mac_hex(a.digest.as_bytes());
        a
    }

    fn compute_digest(&self) -> String {
        let body = Hashed {
            n: self.n,
            written_at: stamp(&self.written_at),
            since: self.since.as_ref().map(stamp),
            cutoff: stamp(&self.cutoff),
            prev: &self.prev,
            heads: &self.heads,
        };
        hex::encode(Sha256::digest(serde_json::to_vec(&body).expect("plain data serializes")))
    }

    /// Checks the anchor itself and its link to `prev` (the one before it,
    /// None for the first).
    pub fn check(&self, key: &AuditKey, prev: Option<&Anchor>) -> Result<(), ChainError> {
        let broken = |reason: &str| Err(ChainError::AnchorBroken { anchor: self.n, reason: reason.to_string() });
        let expected_n = prev.map_or(1, |p| p.n + 1);
        if self.n != expected_n {
            return Err(ChainError::AnchorBroken {
                anchor: expected_n,
                reason: format!("missing (the next anchor found is {})", self.n),
            });
        }
        if self.prev != prev.map_or(GENESIS, |p| p.digest.as_str()) || self.since != prev.map(|p| p.cutoff) {
            return broken("does not follow the anchor before it");
        }
        if self.cutoff != self.written_at - MARGIN {
            return broken("its cutoff is not its time less the margin");
        }
        if self.compute_digest() != self.digest {
            return broken("its content differs from its digest");
        }
        if key.mac_hex(self.digest.as_bytes()) != self.mac {
            return broken("its MAC is wrong");
        }
        Ok(())
    }
}

/// Where anchors are kept: a store that only appends.
#[async_trait]
pub trait AnchorStore: Send + Sync {
    /// The newest anchor, if any.
    async fn last(&self) -> StoreResult<Option<Anchor>>;
    /// Every anchor, oldest first.
    async fn all(&self) -> StoreResult<Vec<Anchor>>;
    /// Adds `anchor` after the last one. `AlreadyExists` if an anchor with
    /// its number is there (another writer came first); nothing is replaced.
    async fn append(&self, anchor: &Anchor) -> StoreResult<()>;
}

/// The anchor store of a process that neither anchors nor verifies (a
/// function without the anchor bucket): every call fails.
pub struct NoAnchors;

#[async_trait]
impl AnchorStore for NoAnchors {
    async fn last(&self) -> StoreResult<Option<Anchor>> {
        Err(no_anchors())
    }
    async fn all(&self) -> StoreResult<Vec<Anchor>> {
        Err(no_anchors())
    }
    async fn append(&self, _: &Anchor) -> StoreResult<()> {
        Err(no_anchors())
    }
}

fn no_anchors() -> crate::error::StoreError {
    crate::error::StoreError::Backend("this process has no anchor store configured".into())
}

/// What the anchors say about the chains, for `audit-verify`.
#[derive(Debug, Default)]
pub struct AnchoredHeads {
    by_subject: HashMap<String, Vec<(u64, String, u64)>>,
    /// The last anchor's cutoff: every entry stamped at or before it must be
    /// held by an anchor.
    pub cutoff: Option<DateTime<Utc>>,
    pub anchors: u64,
}

impl AnchoredHeads {
    /// Checks the anchors (their chain and MACs) and gathers their heads.
    /// The failures are the anchors' own.
    pub fn gather(key: &AuditKey, anchors: &[Anchor]) -> (AnchoredHeads, Vec<ChainError>) {
        let mut out = AnchoredHeads::default();
        let mut failures = Vec::new();
        let mut prev: Option<&Anchor> = None;
        for a in anchors {
            // A second anchor with a number already read: the store kept the
            // first (S3 keeps every version; the file is read in order), so
            // the second is someone else's and is not used.
            if prev.is_some_and(|p| p.n == a.n) {
                if prev != Some(a) {
                    failures.push(ChainError::AnchorBroken {
                        anchor: a.n,
                        reason: "written twice: a later copy differs from the anchor as first written".into(),
                    });
                }
                continue;
            }
            if let Err(e) = a.check(key, prev) {
                failures.push(e);
            }
            for h in &a.heads {
                out.by_subject.entry(h.subject.clone()).or_default().push((h.seq, h.hash.clone(), a.n));
            }
            out.cutoff = Some(a.cutoff);
            out.anchors += 1;
            prev = Some(a);
        }
        (out, failures)
    }

    /// Checks one chain, as the store holds it now, against the anchors, and
    /// forgets the subject (see [`AnchoredHeads::vanished`]).
    pub fn check(&mut self, subject: &str, trail: &[AuditEntry]) -> Result<(), ChainError> {
        let anchored = self.by_subject.remove(subject).unwrap_or_default();
        for (seq, hash, anchor) in &anchored {
            let found = trail.get((*seq as usize).wrapping_sub(1));
            if found.map(|e| &e.hash) != Some(hash) {
                return Err(ChainError::AnchorMismatch { subject: subject.into(), seq: *seq, anchor: *anchor });
            }
        }
        let held = anchored.iter().map(|(seq, ..)| *seq).max().unwrap_or(0);
        if let Some(cutoff) = self.cutoff
            && let Some(e) = trail.iter().find(|e| e.seq > held && e.at <= cutoff)
        {
            return Err(ChainError::Unanchored { subject: subject.into(), seq: e.seq });
        }
        Ok(())
    }

    /// The chains some anchor holds that were not checked: gone from the store.
    pub fn vanished(self) -> Vec<ChainError> {
        let mut gone: Vec<String> = self.by_subject.into_keys().collect();
        gone.sort();
        gone.into_iter().map(|subject| ChainError::Vanished { subject }).collect()
    }
}

/// The heads to anchor from a set of entries: the newest entry of each chain.
pub fn heads_of<'a>(entries: impl IntoIterator<Item = &'a AuditEntry>) -> Vec<ChainHead> {
    let mut newest: HashMap<&str, &AuditEntry> = HashMap::new();
    for e in entries {
        let slot = newest.entry(e.subject.as_str()).or_insert(e);
        if e.seq > slot.seq {
            *slot = e;
        }
    }
    newest.into_values().map(ChainHead::of).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::company;

    fn at(min: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().with_timezone(&Utc) + Duration::minutes(min)
    }

    fn chain(key: &AuditKey, subject: &str, times: &[i64]) -> Vec<AuditEntry> {
        let actor = company();
        let mut out: Vec<AuditEntry> = Vec::new();
        for (i, t) in times.iter().enumerate() {
            let prev = out.last().map_or(GENESIS.to_string(), |e| e.hash.clone());
            out.push(AuditEntry::next(key, subject, i as u64 + 1, &prev, at(*t), &actor, "a", None, "s", None));
        }
        out
    }

    #[test]
    fn anchors_chain_and_check() {
        let key = AuditKey::for_tests();
        let a1 = Anchor::next(&key, None, at(100), vec![]);
        let a2 = Anchor::next(&key, Some(&a1), at(2000), vec![]);
        assert_eq!((a1.n, a2.n), (1, 2));
        assert_eq!(a2.since, Some(a1.cutoff));
        assert!(a1.check(&key, None).is_ok());
        assert!(a2.check(&key, Some(&a1)).is_ok());
        // Out of order, or skipping one.
        assert!(a2.check(&key, None).is_err());
        let a3 = Anchor::next(&key, Some(&a2), at(4000), vec![]);
        assert!(a3.check(&key, Some(&a1)).is_err());
    }

    #[test]
    fn an_edited_anchor_fails_and_a_recomputed_one_needs_the_key() {
        let key = AuditKey::for_tests();
        let c = chain(&key, "app-1", &[0, 1]);
        let a = Anchor::next(&key, None, at(100), heads_of(&c));
        let mut edited = a.clone();
        edited.heads[0].seq = 1;
        assert!(matches!(edited.check(&key, None), Err(ChainError::AnchorBroken { anchor: 1, .. })));
        // Recomputing the digest is not enough without the key.
        edited.digest = edited.compute_digest();
        assert!(matches!(edited.check(&key, None), Err(ChainError::AnchorBroken { .. })));
        let other = AuditKey::from_bytes(&[7; 32]).unwrap();
        edited.mac = other.mac_hex(edited.digest.as_bytes());
        assert!(edited.check(&key, None).is_err());
        assert!(a.check(&key, None).is_ok());
    }

    #[test]
    fn a_chain_rewritten_with_the_key_differs_from_its_anchor() {
        let key = AuditKey::for_tests();
        let c = chain(&key, "app-1", &[0, 1, 2]);
        let a = Anchor::next(&key, None, at(100), heads_of(&c));
        let (mut heads, failures) = AnchoredHeads::gather(&key, std::slice::from_ref(&a));
        assert!(failures.is_empty());
        // Rewritten from entry 2 on, every MAC recomputed with the key.
        let actor = company();
        let mut rewritten = c[..1].to_vec();
        for i in 1..3u64 {
            let prev = rewritten.last().unwrap().hash.clone();
            let e = AuditEntry::next(&key, "app-1", i + 1, &prev, at(i as i64), &actor, "b", None, "s", None);
            rewritten.push(e);
        }
        assert_eq!(
            heads.check("app-1", &rewritten),
            Err(ChainError::AnchorMismatch { subject: "app-1".into(), seq: 3, anchor: 1 })
        );
        // The original passes.
        let (mut heads, _) = AnchoredHeads::gather(&key, std::slice::from_ref(&a));
        assert_eq!(heads.check("app-1", &c), Ok(()));
        assert!(heads.vanished().is_empty());
    }

    #[test]
    fn entries_before_the_cutoff_must_be_held_and_anchored_chains_must_remain() {
        let key = AuditKey::for_tests();
        let c = chain(&key, "app-1", &[0, 1]);
        let a = Anchor::next(&key, None, at(100), heads_of(&c[..1]));
        // Entry 2 is stamped before the cutoff (85) but no anchor holds it:
        // it was slipped in later with an old timestamp.
        let (mut heads, _) = AnchoredHeads::gather(&key, std::slice::from_ref(&a));
        assert_eq!(heads.check("app-1", &c), Err(ChainError::Unanchored { subject: "app-1".into(), seq: 2 }));
        // An entry after the cutoff is simply not anchored yet.
        let late = chain(&key, "app-2", &[90]);
        assert_eq!(heads.check("app-2", &late), Ok(()));
        // A chain an anchor holds that is gone from the store.
        let (heads, _) = AnchoredHeads::gather(&key, std::slice::from_ref(&a));
        assert_eq!(heads.vanished(), vec![ChainError::Vanished { subject: "app-1".into() }]);
    }

    #[test]
    fn a_second_anchor_with_a_number_already_read_is_reported_and_not_used() {
        let key = AuditKey::for_tests();
        let c = chain(&key, "app-1", &[0, 1]);
        let real = Anchor::next(&key, None, at(100), heads_of(&c));
        // The same anchor read twice (a copy) is no failure.
        let (_, failures) = AnchoredHeads::gather(&key, &[real.clone(), real.clone()]);
        assert!(failures.is_empty(), "{failures:?}");
        // A forged second copy, MAC right (the forger holds the key).
        let forged = Anchor::next(&key, None, at(100), heads_of(&c[..1]));
        let (mut heads, failures) = AnchoredHeads::gather(&key, &[real, forged]);
        assert!(matches!(&failures[..], [ChainError::AnchorBroken { anchor: 1, reason }] if reason.contains("twice")));
        // The first copy's heads are the ones checked.
        assert_eq!(
            heads.check("app-1", &c[..1]),
            Err(ChainError::AnchorMismatch { subject: "app-1".into(), seq: 2, anchor: 1 })
        );
    }

    #[test]
    fn heads_of_takes_the_newest_entry_of_each_chain() {
        let key = AuditKey::for_tests();
        let mut entries = chain(&key, "a", &[0, 1, 2]);
        entries.extend(chain(&key, "b", &[0]));
        entries.reverse();
        let mut heads = heads_of(&entries);
        heads.sort_by(|x, y| x.subject.cmp(&y.subject));
        assert_eq!(heads.iter().map(|h| (h.subject.as_str(), h.seq)).collect::<Vec<_>>(), vec![("a", 3), ("b", 1)]);
        assert_eq!(
            (heads[0].hash.as_str(), heads[1].hash.as_str()),
            (entries[1].hash.as_str(), entries[0].hash.as_str())
        );
    }
}
