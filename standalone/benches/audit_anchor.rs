//! What the nightly audit anchor costs on SQLite: reading the heads of the
//! chains that grew since the last anchor, from a store of 10,000 and
//! 100,000 chains of 8 entries each (80,000 and 800,000 entries).
//!
//! - `first`: the first anchor, which holds every chain;
//! - `daily`: a later one, when 1 % of the chains grew since the last.
//!
//!     cargo bench -p subsidy-standalone --bench audit_anchor

use chrono::{DateTime, Utc};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use subsidy_core::ports::ApplicationStore;
use subsidy_infra::sqlite::{Durability, SqliteStore};

/// A store of `chains` chains of 8 entries, all stamped on 1 January except
/// the last entry of every hundredth chain, stamped on 2 January.
fn seeded(chains: u64, rt: &tokio::runtime::Runtime) -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("bench.db"), Durability::Normal).unwrap();
    let sql = format!(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < {total}) \
         INSERT INTO audit (application_id, seq, body) SELECT 'app-' || (i / 8), i % 8 + 1, json_object( \
           'subject', 'app-' || (i / 8), 'seq', i % 8 + 1, \
           'at', CASE WHEN i % 8 = 7 AND (i / 8) % 100 = 0 THEN '2026-01-02T00:00:00.5Z' ELSE '2026-01-01T00:00:00Z' END, \
           'actorId', 'u', 'role', 'company', 'action', 'submit', 'from', 'draft', 'to', 'pending_community', \
           'comment', NULL, 'prevHash', printf('%064d', i), 'hash', printf('%064d', i + 1)) FROM n",
        total = chains * 8
    );
    rt.block_on(store.execute_raw(&sql)).unwrap();
    (dir, store)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut group = c.benchmark_group("audit_heads_since");
    group.sample_size(10);
    let day_one: DateTime<Utc> = "2026-01-01T12:00:00Z".parse().unwrap();
    for chains in [10_000u64, 100_000] {
        let (_dir, store) = seeded(chains, &rt);
        let all = rt.block_on(store.audit_heads_since(None)).unwrap();
        assert_eq!(all.len() as u64, chains);
        let grew = rt.block_on(store.audit_heads_since(Some(day_one))).unwrap();
        assert_eq!(grew.len() as u64, chains / 100);
        group.bench_with_input(BenchmarkId::new("first", chains), &chains, |b, _| {
            b.iter(|| rt.block_on(store.audit_heads_since(None)).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("daily", chains), &chains, |b, _| {
            b.iter(|| rt.block_on(store.audit_heads_since(Some(day_one))).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
