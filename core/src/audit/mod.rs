//! **Capability: audit.** Owns the keyed chains, their key, the daily
//! anchors ([`anchor`]) and the whole-store jobs ([`jobs::AuditJobs`]:
//! verify, anchor). Every other capability appends to a chain through
//! [`append`]; this one only reads their records.
//!
//! The audit trail: one hash chain per subject — an application (its id),
//! a document (`document:{application}:{id}`), a company (`company:{id}`),
//! a payment batch (`batch:{id}`) or a staff member (`staff:{sub}`).
//!
//! Each entry records who did what, when, from which state to which, with
//! the comment, and the MAC of the previous entry. The entry's own MAC
//! covers every field and the previous MAC, so altering, reordering or
//! removing a stored entry breaks the chain. The application carries the
//! chain's head (sequence and MAC), so truncating the tail is caught too.
//!
//! The MAC is HMAC-SHA-256 under an [`AuditKey`] that is never stored in the
//! database: whoever can write the database but not read the key cannot
//! forge an entry, nor rewrite one and recompute the chain after it (an
//! unkeyed hash could be recomputed by anyone).

pub mod anchor;
pub mod jobs;

use std::fmt;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::identity::{Actor, Role};

/// The secret the chains' MACs are keyed with. Standalone keeps it in a key
/// file of its own (`--audit-key-file`); on AWS it is derived when a
/// function starts from a KMS HMAC key (`kms:GenerateMac`), so the key
/// never leaves KMS's control and is never written anywhere.
#[derive(Clone, PartialEq, Eq)]
pub struct AuditKey([u8; 32]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an audit key needs at least 32 bytes of secret, got {0}")]
pub struct AuditKeyError(pub usize);

impl AuditKey {
    /// The least secret a key is made from.
    pub const MIN_LEN: usize = 32;

    /// A key from at least 32 secret bytes (longer input is condensed with
    /// SHA-256).
    pub fn from_bytes(secret: &[u8]) -> Result<AuditKey, AuditKeyError> {
        if secret.len() < Self::MIN_LEN {
            return Err(AuditKeyError(secret.len()));
        }
        Ok(AuditKey(if secret.len() == 32 {
            secret.try_into().expect("32 bytes")
        } else {
            Sha256::digest(secret).into()
        }))
    }

    /// A fixed, public key for tests and examples: never for real data.
    pub fn for_tests() -> AuditKey {
        AuditKey(*b"audit-key-for-tests-only-public!")
    }

    /// HMAC-SHA-256 of `bytes`, in hex.
    pub(crate) fn mac_hex(&self, bytes: &[u8]) -> String {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        m.update(bytes);
        hex::encode(m.finalize().into_bytes())
    }
}

impl fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuditKey(…)")
    }
}

/// Where an [`AuditKey`] comes from when it is not at hand when the ports
/// are built (AWS: one KMS `GenerateMac`, a network round trip that a cold
/// start should not wait for).
#[async_trait::async_trait]
pub trait AuditKeySource: Send + Sync {
    async fn derive(&self) -> Result<AuditKey, crate::error::StoreError>;
}

/// The audit key as the capabilities hold it: either ready (standalone,
/// tests) or derived once, on first use, from an [`AuditKeySource`]. A
/// failed derivation is not kept: the next use asks again.
#[derive(Clone)]
pub struct AuditKeyCell(std::sync::Arc<KeyCell>);

struct KeyCell {
    key: std::sync::OnceLock<AuditKey>,
    /// Held while deriving, so that concurrent first uses derive once.
    deriving: futures::lock::Mutex<()>,
    source: Option<std::sync::Arc<dyn AuditKeySource>>,
}

impl AuditKeyCell {
    /// A key that is already known.
    pub fn ready(key: AuditKey) -> AuditKeyCell {
        AuditKeyCell(std::sync::Arc::new(KeyCell {
            key: std::sync::OnceLock::from(key),
            deriving: futures::lock::Mutex::new(()),
            source: None,
        }))
    }

    /// A key derived from `source` the first time it is needed.
    pub fn derived(source: std::sync::Arc<dyn AuditKeySource>) -> AuditKeyCell {
        AuditKeyCell(std::sync::Arc::new(KeyCell {
            key: std::sync::OnceLock::new(),
            deriving: futures::lock::Mutex::new(()),
            source: Some(source),
        }))
    }

    /// The key, derived now if it was not yet. Concurrent first uses wait
    /// for one derivation.
    pub async fn get(&self) -> Result<&AuditKey, crate::error::StoreError> {
        let cell = &*self.0;
        if let Some(key) = cell.key.get() {
            return Ok(key);
        }
        let _one = cell.deriving.lock().await;
        if let Some(key) = cell.key.get() {
            return Ok(key);
        }
        let source = cell.source.as_ref().ok_or_else(|| crate::error::StoreError::Backend("no audit key".into()))?;
        let key = source.derive().await?;
        Ok(cell.key.get_or_init(|| key))
    }

    /// Whether the key has been derived (or was given).
    pub fn is_ready(&self) -> bool {
        self.0.key.get().is_some()
    }
}

impl From<AuditKey> for AuditKeyCell {
    fn from(key: AuditKey) -> AuditKeyCell {
        AuditKeyCell::ready(key)
    }
}

impl fmt::Debug for AuditKeyCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_ready() { "AuditKeyCell(ready)" } else { "AuditKeyCell(not yet derived)" })
    }
}

/// One chain's head: its newest entry's sequence and MAC (what an anchor
/// holds, see [`crate::audit::anchor`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainHead {
    pub subject: String,
    pub seq: u64,
    pub hash: String,
}

impl ChainHead {
    pub fn of(e: &AuditEntry) -> ChainHead {
        ChainHead { subject: e.subject.clone(), seq: e.seq, hash: e.hash.clone() }
    }
}

/// The `prev_hash` of the first entry of every chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// The application id, `batch:{id}` or `company:{id}`.
    pub subject: String,
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub actor_id: String,
    pub role: Role,
    pub action: String,
    /// States by name: an application's, a batch's, or a company's.
    pub from: Option<String>,
    pub to: String,
    pub comment: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// The hashed content, in a fixed field order. Timestamps are hashed in
/// RFC 3339 with nanoseconds so that a store round trip cannot change them.
#[derive(Serialize)]
struct Hashed<'a> {
    subject: &'a str,
    seq: u64,
    at: String,
    actor_id: &'a str,
    role: Role,
    action: &'a str,
    from: Option<&'a str>,
    to: &'a str,
    comment: Option<&'a str>,
    prev_hash: &'a str,
}

impl AuditEntry {
    /// The entry that follows `prev_hash` at `seq`, with its MAC under `key`.
    #[allow(clippy::too_many_arguments)]
    pub fn next(
        key: &AuditKey,
        subject: &str,
        seq: u64,
        prev_hash: &str,
        at: DateTime<Utc>,
        actor: &Actor,
        action: &str,
        from: Option<&str>,
        to: &str,
        comment: Option<String>,
    ) -> AuditEntry {
        let mut e = AuditEntry {
            subject: subject.to_string(),
            seq,
            at,
            actor_id: actor.user_id.clone(),
            role: actor.role,
            action: action.to_string(),
            from: from.map(str::to_string),
            to: to.to_string(),
            comment,
            prev_hash: prev_hash.to_string(),
            hash: String::new(),
        };
        e.hash = e.compute_hash(key);
        e
    }

    /// The entry's MAC under `key`: what `hash` must be.
    pub fn compute_hash(&self, key: &AuditKey) -> String {
        let body = Hashed {
            subject: &self.subject,
            seq: self.seq,
            at: self.at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            actor_id: &self.actor_id,
            role: self.role,
            action: &self.action,
            from: self.from.as_deref(),
            to: &self.to,
            comment: self.comment.as_deref(),
            prev_hash: &self.prev_hash,
        };
        let bytes = serde_json::to_vec(&body).expect("plain data serializes");
        key.mac_hex(&bytes)
    }
}

/// A record that holds the head of its own audit chain: an application, a
/// document, a company, a payment batch, a staff member.
pub trait Chained {
    /// The chain's subject (see [`AuditEntry::subject`]).
    fn audit_subject(&self) -> String;
    /// The head: the last entry's sequence and MAC (0 and [`GENESIS`], or
    /// empty, before the first).
    fn audit_head(&self) -> (u64, &str);
    fn set_audit_head(&mut self, seq: u64, hash: &str);
}

/// Implements [`Chained`] for a record with `audit_seq` and `audit_head`
/// fields, its subject given by `$subject` (a closure over the record).
macro_rules! chained {
    ($t:ty, $subject:expr) => {
        impl $crate::audit::Chained for $t {
            fn audit_subject(&self) -> String {
                let subject: fn(&$t) -> String = $subject;
                subject(self)
            }
            fn audit_head(&self) -> (u64, &str) {
                (self.audit_seq, &self.audit_head)
            }
            fn set_audit_head(&mut self, seq: u64, hash: &str) {
                self.audit_seq = seq;
                self.audit_head = hash.to_string();
            }
        }
    };
}
pub(crate) use chained;

/// What happened, for [`append`].
pub struct Happened<'a> {
    pub at: DateTime<Utc>,
    pub actor: &'a Actor,
    pub action: &'a str,
    /// The record's state before, by name (None when it is created).
    pub from: Option<&'a str>,
    pub to: &'a str,
    pub comment: Option<String>,
}

/// Chains the next entry onto `record` under `key` and moves the record's
/// head to it. The entry is stored with the record, in one write.
pub fn append<R: Chained>(key: &AuditKey, record: &mut R, h: Happened<'_>) -> AuditEntry {
    let (seq, head) = record.audit_head();
    let prev = if head.is_empty() { GENESIS.to_string() } else { head.to_string() };
    let entry = AuditEntry::next(
        key,
        &record.audit_subject(),
        seq + 1,
        &prev,
        h.at,
        h.actor,
        h.action,
        h.from,
        h.to,
        h.comment,
    );
    record.set_audit_head(entry.seq, &entry.hash);
    entry
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("{subject}: entry {seq} was altered (hash mismatch)")]
    Altered { subject: String, seq: u64 },
    #[error("{subject}: entry {seq} does not follow the previous entry")]
    Broken { subject: String, seq: u64 },
    #[error("{subject}: chain ends at {found} but the record's head is {expected}")]
    Truncated { subject: String, found: u64, expected: u64 },
    #[error("{subject}: chain head hash differs from the record's")]
    HeadMismatch { subject: String },
    #[error("{subject}: entry {seq} differs from what anchor {anchor} holds (rewritten after it was anchored)")]
    AnchorMismatch { subject: String, seq: u64, anchor: u64 },
    #[error("{subject}: entry {seq} is stamped before the last anchor's cutoff, but no anchor holds it")]
    Unanchored { subject: String, seq: u64 },
    #[error("{subject}: an anchor holds this chain, but it is gone from the store")]
    Vanished { subject: String },
    #[error("anchor {anchor}: {reason}")]
    AnchorBroken { anchor: u64, reason: String },
}

/// Verifies one chain (an application's id, `company:{id}` or
/// `batch:{id}`) against the head its record holds.
pub fn verify_chain(
    key: &AuditKey,
    subject: &str,
    entries: &[AuditEntry],
    head_seq: u64,
    head_hash: &str,
) -> Result<(), ChainError> {
    let mut prev = GENESIS.to_string();
    for (i, e) in entries.iter().enumerate() {
        let expected_seq = i as u64 + 1;
        if e.subject != subject || e.seq != expected_seq || e.prev_hash != prev {
            return Err(ChainError::Broken { subject: subject.into(), seq: expected_seq });
        }
        if e.compute_hash(key) != e.hash {
            return Err(ChainError::Altered { subject: subject.into(), seq: e.seq });
        }
        prev = e.hash.clone();
    }
    let found = entries.len() as u64;
    if found != head_seq {
        return Err(ChainError::Truncated { subject: subject.into(), found, expected: head_seq });
    }
    if prev != head_hash {
        return Err(ChainError::HeadMismatch { subject: subject.into() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{company, reviewer};

    /// A key source that counts its derivations and fails the first
    /// `failures` of them.
    struct Counting {
        calls: std::sync::atomic::AtomicUsize,
        failures: usize,
    }

    #[async_trait::async_trait]
    impl AuditKeySource for Counting {
        async fn derive(&self) -> Result<AuditKey, crate::error::StoreError> {
            let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            // Yield, so that concurrent first uses overlap the derivation.
            tokio::task::yield_now().await;
            if n < self.failures {
                return Err(crate::error::StoreError::Backend("kms unavailable".into()));
            }
            Ok(AuditKey::from_bytes(&[9; 32]).unwrap())
        }
    }

    #[tokio::test]
    async fn a_derived_key_is_derived_once_however_many_ask_at_first() {
        let source = std::sync::Arc::new(Counting { calls: 0.into(), failures: 0 });
        let cell = AuditKeyCell::derived(source.clone());
        assert!(!cell.is_ready(), "nothing is derived until asked");
        let asks: Vec<_> = (0..8).map(|_| cell.clone()).collect();
        let keys = futures::future::join_all(asks.iter().map(|c| c.get())).await;
        assert!(keys.iter().all(|k| *k.as_ref().unwrap() == &AuditKey::from_bytes(&[9; 32]).unwrap()));
        assert_eq!(source.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(cell.is_ready());
        cell.get().await.unwrap();
        assert_eq!(source.calls.load(std::sync::atomic::Ordering::SeqCst), 1, "a derived key is kept");
    }

    #[tokio::test]
    async fn a_failed_derivation_is_not_kept_and_the_next_use_asks_again() {
        let source = std::sync::Arc::new(Counting { calls: 0.into(), failures: 1 });
        let cell = AuditKeyCell::derived(source.clone());
        let err = cell.get().await.unwrap_err();
        assert!(err.to_string().contains("kms unavailable"), "{err}");
        assert!(!cell.is_ready());
        assert_eq!(cell.get().await.unwrap(), &AuditKey::from_bytes(&[9; 32]).unwrap());
        assert_eq!(source.calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_ready_key_is_the_key_it_was_given() {
        let cell = AuditKeyCell::from(AuditKey::for_tests());
        assert!(cell.is_ready());
        assert_eq!(cell.get().await.unwrap(), &AuditKey::for_tests());
        assert_ne!(cell.get().await.unwrap(), &AuditKey::from_bytes(&[9; 32]).unwrap());
        assert_eq!(format!("{cell:?}"), "AuditKeyCell(ready)", "the key never appears in a debug print");
    }

    fn chain(n: u64) -> Vec<AuditEntry> {
        let mut prev = GENESIS.to_string();
        let mut out = Vec::new();
        for seq in 1..=n {
            let actor = if seq % 2 == 0 { reviewer(crate::identity::Tier::Community) } else { company() };
            let e = AuditEntry::next(
                &AuditKey::for_tests(),
                "A1",
                seq,
                &prev,
                Utc::now(),
                &actor,
                "submit",
                Some("draft"),
                "pending_community",
                Some(format!("c{seq}")),
            );
            prev = e.hash.clone();
            out.push(e);
        }
        out
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let c = chain(5);
        let head = c.last().unwrap().hash.clone();
        let k = AuditKey::for_tests();
        assert_eq!(verify_chain(&k, "A1", &c, 5, &head), Ok(()));
        assert_eq!(verify_chain(&k, "A1", &[], 0, GENESIS), Ok(()));
    }

    #[test]
    fn altering_any_field_of_any_entry_is_detected() {
        let c = chain(4);
        let head = c.last().unwrap().hash.clone();
        type Tamper = fn(&mut AuditEntry);
        let tampers: [Tamper; 7] = [
            |e| e.comment = Some("edited".into()),
            |e| e.actor_id = "mallory".into(),
            |e| e.role = Role::City,
            |e| e.to = "approved".into(),
            |e| e.from = None,
            |e| e.at += chrono::Duration::nanoseconds(1),
            |e| e.action = "approve".into(),
        ];
        for i in 0..c.len() {
            for t in tampers {
                let mut bad = c.clone();
                t(&mut bad[i]);
                assert!(verify_chain(&AuditKey::for_tests(), "A1", &bad, 4, &head).is_err(), "entry {i}");
            }
        }
    }

    #[test]
    fn rehashing_a_tampered_entry_still_breaks_the_chain() {
        let k = AuditKey::for_tests();
        let c = chain(3);
        let head = c.last().unwrap().hash.clone();
        let mut bad = c.clone();
        bad[1].comment = Some("forged".into());
        bad[1].hash = bad[1].compute_hash(&k);
        assert!(matches!(verify_chain(&k, "A1", &bad, 3, &head), Err(ChainError::Broken { seq: 3, .. })));
        let mut last = c.clone();
        last[2].comment = Some("forged".into());
        last[2].hash = last[2].compute_hash(&k);
        assert!(matches!(verify_chain(&k, "A1", &last, 3, &head), Err(ChainError::HeadMismatch { .. })));
    }

    /// What the database's writer can do without the key: rewrite an entry
    /// and recompute every link after it, and the head in the record, with
    /// any key but the right one (or plain SHA-256, as the chain once was).
    #[test]
    fn a_chain_rewritten_and_recomputed_without_the_key_fails() {
        let k = AuditKey::for_tests();
        let c = chain(4);
        for forger in [AuditKey::from_bytes(&[7u8; 32]).unwrap(), AuditKey::from_bytes(&[0u8; 64]).unwrap()] {
            let mut forged = c.clone();
            forged[1].comment = Some("forged".into());
            let mut prev = forged[0].hash.clone();
            for e in forged.iter_mut().skip(1) {
                e.prev_hash = prev.clone();
                e.hash = e.compute_hash(&forger);
                prev = e.hash.clone();
            }
            assert!(
                matches!(verify_chain(&k, "A1", &forged, 4, &prev), Err(ChainError::Altered { seq: 2, .. })),
                "but not under the real one"
            );
        }
        // The unkeyed SHA-256 of an entry is not its MAC either.
        let mut plain = c.clone();
        for e in plain.iter_mut() {
            let body = serde_json::to_vec(&serde_json::json!({"seq": e.seq})).unwrap();
            e.hash = hex::encode(Sha256::digest(&body));
        }
        assert!(verify_chain(&k, "A1", &plain, 4, &plain[3].hash).is_err());
    }

    #[test]
    fn a_key_needs_32_secret_bytes_and_never_prints_them() {
        assert_eq!(AuditKey::from_bytes(&[1u8; 31]), Err(AuditKeyError(31)));
        assert_ne!(AuditKey::from_bytes(&[1u8; 32]).unwrap(), AuditKey::from_bytes(&[2u8; 32]).unwrap());
        assert_eq!(format!("{:?}", AuditKey::from_bytes(b"0123456789abcdef0123456789abcdef").unwrap()), "AuditKey(…)");
    }

    #[test]
    fn removing_or_reordering_entries_is_detected() {
        let c = chain(3);
        let head = c.last().unwrap().hash.clone();
        let k = AuditKey::for_tests();
        assert!(matches!(verify_chain(&k, "A1", &c[..2], 3, &head), Err(ChainError::Truncated { .. })));
        let mut swapped = c.clone();
        swapped.swap(0, 1);
        assert!(verify_chain(&k, "A1", &swapped, 3, &head).is_err());
        assert!(verify_chain(&k, "A1", &c[1..], 3, &head).is_err());
    }
}
