//! The storage contract against the SQLite adapter, plus what only the
//! embedded store has: the outbox.

mod contract;

use std::sync::Arc;

use subsidy_core::application::state::State;
use subsidy_core::ports::ApplicationStore;
use subsidy_infra::sqlite::{Durability, SqliteStore};

fn ports(store: SqliteStore) -> contract::Ports {
    let s = Arc::new(store);
    contract::Ports {
        settle: Arc::new(contract::Settled),
        policies: s.clone(),
        companies: s.clone(),
        projects: s.clone(),
        applications: s.clone(),
        documents: s.clone(),
        prechecks: s.clone(),
        idempotency: s.clone(),
        stats: s.clone(),
        payout: s.clone(),
        notices: s.clone(),
        sms: s.clone(),
        sms_queue: Some(s.clone()),
        eta: s.clone(),
        views: s.clone(),
        staff: s,
    }
}

#[tokio::test]
async fn the_sqlite_adapter_keeps_the_storage_contract() {
    contract::run_all(&ports(SqliteStore::open_in_memory().unwrap())).await;
}

#[tokio::test]
async fn every_change_writes_one_outbox_row_in_order_and_a_refused_write_none() {
    let store = SqliteStore::open_in_memory().unwrap();
    let c = contract::company("owner-outbox", "91440300MA5D9C101");
    let p = contract::project(&c, "出箱", "440304001020");
    let (a, audit) = contract::draft(&c, &p);
    store.create_application(&a, &audit).await.unwrap();
    let (b, audit_b) = contract::moved(&a, State::AwaitingAreaConfirmation, &c);
    store.update_application(&b, 1, &audit_b, subsidy_core::ports::ClaimChange::Keep).await.unwrap();
    let (stale, audit_s) = contract::moved(&a, State::Withdrawn, &c);
    assert!(store.update_application(&stale, 1, &audit_s, subsidy_core::ports::ClaimChange::Release).await.is_err());

    let rows = store.pending_changes(10).await.unwrap();
    assert_eq!(rows.len(), 2, "the refused write left no row");
    assert!(rows[0].seq < rows[1].seq);
    assert_eq!(rows[0].change.old, None);
    assert_eq!(rows[1].change.old.as_ref().unwrap().state, State::Draft);
    assert_eq!(rows[1].change.new.state, State::AwaitingAreaConfirmation);

    store.ack_change(rows[0].seq).await.unwrap();
    store.ack_change(rows[0].seq).await.unwrap();
    assert_eq!(store.pending_changes(10).await.unwrap().len(), 1);
    assert_eq!(store.fail_change(rows[1].seq, "boom", 2).await.unwrap(), 1);
    assert_eq!(store.pending_changes(10).await.unwrap().len(), 1, "retried after one failure");
    assert_eq!(store.fail_change(rows[1].seq, "boom", 2).await.unwrap(), 2);
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!((stats.pending, stats.delivered, stats.dead), (0, 1, 1), "dead-lettered after the last attempt");
}

#[tokio::test]
async fn the_database_file_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let c = contract::company("owner-reopen", "91440300MA5D9C102");
    let p = contract::project(&c, "重开", "440304001020");
    let (a, audit) = contract::draft(&c, &p);
    {
        let store = SqliteStore::open(&path, Durability::Full).unwrap();
        store.create_application(&a, &audit).await.unwrap();
    }
    let store = SqliteStore::open(&path, Durability::Full).unwrap();
    assert_eq!(store.get_application(&a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(store.outbox_stats().await.unwrap().pending, 1);

    // A delivered row is deleted, yet still counted as delivered after a
    // reopen, and its sequence number is never handed out again.
    let seq = store.pending_changes(1).await.unwrap()[0].seq;
    store.ack_change(seq).await.unwrap();
    drop(store);
    let store = SqliteStore::open(&path, Durability::Full).unwrap();
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!((stats.pending, stats.delivered, stats.dead), (0, 1, 0));
    let (b, audit_b) = contract::moved(&a, State::AwaitingAreaConfirmation, &c);
    store.update_application(&b, 1, &audit_b, subsidy_core::ports::ClaimChange::Keep).await.unwrap();
    let rows = store.pending_changes(10).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].seq > seq, "sequence numbers are not reused after a delete");
}

#[tokio::test]
async fn delivered_rows_give_their_pages_back_to_the_file_past_a_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let store = SqliteStore::open(&path, Durability::Normal).unwrap();
    let c = contract::company("owner-reclaim", "91440300MA5D9C103");
    let p = contract::project(&c, "回收", "440304001020");
    // Enough rows to free a few hundred pages once delivered.
    for _ in 0..1500 {
        let (a, audit) = contract::draft(&c, &p);
        store.create_application(&a, &audit).await.unwrap();
    }
    loop {
        let rows = store.pending_changes(100).await.unwrap();
        if rows.is_empty() {
            break;
        }
        for r in rows {
            store.ack_change(r.seq).await.unwrap();
        }
    }
    // Below the threshold nothing moves; at it the free pages leave the
    // file (SQLite truncates it at the next checkpoint), and what it holds
    // is intact.
    assert_eq!(store.reclaim_free_pages(u64::MAX).await.unwrap(), 0);
    let pages = store.reclaim_free_pages(1).await.unwrap();
    assert!(pages >= 50, "{pages} pages");
    assert_eq!(store.reclaim_free_pages(1).await.unwrap(), 0, "nothing left to give back");
    drop(store);
    let store = SqliteStore::open(&path, Durability::Normal).unwrap();
    assert_eq!(store.reclaim_free_pages(1).await.unwrap(), 0, "and none came back on reopening");
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!((stats.pending, stats.delivered), (0, 1500));
    assert_eq!(store.count("applications").await.unwrap(), 1500);
}

#[tokio::test]
async fn an_audit_row_stores_neither_its_key_nor_its_predecessors_hash_and_reads_back_whole() {
    let store = SqliteStore::open_in_memory().unwrap();
    let c = contract::company("owner-lean", "91440300MA5D9C104");
    let p = contract::project(&c, "精简", "440304001020");
    let (a, audit) = contract::draft(&c, &p);
    store.create_application(&a, &audit).await.unwrap();
    let (b, audit_b) = contract::moved(&a, State::AwaitingAreaConfirmation, &c);
    store.update_application(&b, 1, &audit_b, subsidy_core::ports::ClaimChange::Keep).await.unwrap();
    // What the row holds: no subject, sequence number or previous hash.
    let sql = format!(
        "UPDATE audit SET body = record_pack(record_json(body)) WHERE application_id = '{}' \
         AND json_extract(record_json(body), '$.subject') IS NULL \
         AND json_extract(record_json(body), '$.seq') IS NULL \
         AND json_extract(record_json(body), '$.prevHash') IS NULL \
         AND json_extract(record_json(body), '$.hash') IS NOT NULL",
        a.id
    );
    assert_eq!(store.execute_raw(&sql).await.unwrap(), 2, "both rows are lean");
    assert_eq!(store.audit_trail(&a.id).await.unwrap(), vec![audit.clone(), audit_b.clone()]);
    assert_eq!(audit_b.prev_hash, audit.hash, "the previous hash read back is the chain's");
}

#[tokio::test]
async fn a_checkpoint_leaves_the_database_file_whole_and_the_log_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let store = SqliteStore::open(&path, Durability::Full).unwrap();
    let c = contract::company("owner-checkpoint", "91440300MA5D9C105");
    let p = contract::project(&c, "检查点", "440304001020");
    let (a, audit) = contract::draft(&c, &p);
    store.create_application(&a, &audit).await.unwrap();
    let wal = path.with_extension("db-wal");
    assert!(std::fs::metadata(&wal).unwrap().len() > 0, "the write is in the log first");
    store.checkpoint().await.unwrap();
    assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0, "folded into the database file");
    assert_eq!(store.get_application(&a.id).await.unwrap(), Some(a));
}
