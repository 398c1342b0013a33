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
