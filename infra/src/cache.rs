//! A per-process cache in front of the staff directory, for the Lambda
//! functions: every request resolves its caller, and a DynamoDB read per
//! request would cost more than the request itself. An entry is at most
//! [`CachedStaff::ttl`] old, so a revocation reaches every container within
//! that time (60 s on AWS, as promised in docs/RELIABILITY.md). Standalone
//! reads SQLite directly and revokes at once.
//!
//! Absent members are cached too (a company's every request asks), and
//! writes through this process drop their entry at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

// tokio's clock, so a test can let a minute pass without waiting for it.
use tokio::time::Instant;

use async_trait::async_trait;
use subsidy_core::audit::AuditEntry;
use subsidy_core::identity::staff::{StaffFilter, StaffMember, StaffStore};
use subsidy_core::ports::{Page, PageRequest, StoreResult};

/// At most this many subjects are remembered; past it the cache starts over.
const MAX_ENTRIES: usize = 10_000;

pub struct CachedStaff {
    inner: Arc<dyn StaffStore>,
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, Option<StaffMember>)>>,
}

impl CachedStaff {
    pub fn new(inner: Arc<dyn StaffStore>, ttl: Duration) -> CachedStaff {
        CachedStaff { inner, ttl, entries: Mutex::new(HashMap::new()) }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn fresh(&self, sub: &str) -> Option<Option<StaffMember>> {
        let entries = self.entries.lock().expect("cache lock");
        entries.get(sub).filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, m)| m.clone())
    }
}

#[async_trait]
impl StaffStore for CachedStaff {
    async fn get_staff(&self, sub: &str) -> StoreResult<Option<StaffMember>> {
        if let Some(hit) = self.fresh(sub) {
            return Ok(hit);
        }
        let found = self.inner.get_staff(sub).await?;
        let mut entries = self.entries.lock().expect("cache lock");
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(sub.to_string(), (Instant::now(), found.clone()));
        Ok(found)
    }

    async fn put_staff(&self, member: &StaffMember, expected_version: u64, audit: &AuditEntry) -> StoreResult<()> {
        self.entries.lock().expect("cache lock").remove(&member.sub);
        let r = self.inner.put_staff(member, expected_version, audit).await;
        self.entries.lock().expect("cache lock").remove(&member.sub);
        r
    }

    async fn list_staff(&self, filter: &StaffFilter, page: &PageRequest) -> StoreResult<Page<StaffMember>> {
        self.inner.list_staff(filter, page).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Counts reads; holds one member whose name the test changes.
    struct Counting {
        reads: AtomicU64,
        member: Mutex<Option<StaffMember>>,
    }

    #[async_trait]
    impl StaffStore for Counting {
        async fn get_staff(&self, _sub: &str) -> StoreResult<Option<StaffMember>> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            Ok(self.member.lock().unwrap().clone())
        }
        async fn put_staff(&self, m: &StaffMember, _v: u64, _a: &AuditEntry) -> StoreResult<()> {
            *self.member.lock().unwrap() = Some(m.clone());
            Ok(())
        }
        async fn list_staff(&self, _f: &StaffFilter, _p: &PageRequest) -> StoreResult<Page<StaffMember>> {
            Ok(Page { items: vec![], next_cursor: None })
        }
    }

    fn member(active: bool) -> StaffMember {
        StaffMember {
            sub: "u1".into(),
            name: "n".into(),
            assignments: vec![],
            active,
            version: 1,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
            updated_by: "x".into(),
            audit_seq: 1,
            audit_head: String::new(),
        }
    }

    fn audit() -> AuditEntry {
        serde_json::from_value(serde_json::json!({
            "subject": "staff:u1", "seq": 2, "at": "2020-02-20T00:00:00Z", "actorId": "a", "role": "admin",
            "action": "staff_disable", "from": "active", "to": "disabled", "comment": null,
            "prevHash": "", "hash": ""
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn reads_within_the_ttl_are_served_from_memory_and_later_ones_are_not() {
        let inner = Arc::new(Counting { reads: AtomicU64::new(0), member: Mutex::new(Some(member(true))) });
        let cache = CachedStaff::new(inner.clone(), Duration::from_secs(3600));
        for _ in 0..5 {
            assert!(cache.get_staff("u1").await.unwrap().unwrap().active);
        }
        assert_eq!(inner.reads.load(Ordering::SeqCst), 1);
        let expired = CachedStaff::new(inner.clone(), Duration::ZERO);
        expired.get_staff("u1").await.unwrap();
        expired.get_staff("u1").await.unwrap();
        assert_eq!(inner.reads.load(Ordering::SeqCst), 3, "a zero ttl caches nothing");
    }

    /// The promise to an administrator on AWS: a member disabled through
    /// another container (this cache never saw the write) is refused here
    /// once the ttl has passed, and not a moment later.
    #[tokio::test(start_paused = true)]
    async fn a_revocation_made_elsewhere_is_seen_once_the_ttl_has_passed() {
        let inner = Arc::new(Counting { reads: AtomicU64::new(0), member: Mutex::new(Some(member(true))) });
        let cache = CachedStaff::new(inner.clone(), Duration::from_secs(60));
        assert!(cache.get_staff("u1").await.unwrap().unwrap().active);
        inner.put_staff(&member(false), 1, &audit()).await.unwrap();
        tokio::time::advance(Duration::from_secs(59)).await;
        assert!(cache.get_staff("u1").await.unwrap().unwrap().active, "at most a minute old: still the cached copy");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(!cache.get_staff("u1").await.unwrap().unwrap().active, "a minute on, the revocation is seen");
        assert_eq!(inner.reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_write_through_the_cache_is_seen_at_once() {
        let inner = Arc::new(Counting { reads: AtomicU64::new(0), member: Mutex::new(Some(member(true))) });
        let cache = CachedStaff::new(inner.clone(), Duration::from_secs(3600));
        assert!(cache.get_staff("u1").await.unwrap().unwrap().active);
        cache.put_staff(&member(false), 1, &audit()).await.unwrap();
        assert!(!cache.get_staff("u1").await.unwrap().unwrap().active);
    }
}
