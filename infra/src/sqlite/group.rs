//! Group commit: writes that arrive while another group is committing wait
//! and then commit together, in one transaction and one fsync, each inside
//! its own savepoint so that one write's failure rolls back that write
//! alone. With `synchronous=FULL` the fsync is the cost of a commit, so the
//! throughput grows with the number of writers instead of stopping at one
//! fsync per write; each caller still hears back only after its write is
//! durable.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, Transaction, TransactionBehavior};
use subsidy_core::error::StoreError;
use tokio::sync::oneshot;

use super::backend;

/// Called once the group's fate is known: with the commit's result.
type Deliver = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
/// Runs one write in the open transaction (or, given `None`, reports that
/// the transaction could not be opened) and returns how to answer it.
type Job = Box<dyn FnOnce(Option<&Transaction<'_>>) -> Deliver + Send>;

/// The most writes one transaction takes, to bound a group's latency.
const MAX_GROUP: usize = 512;

#[derive(Default)]
struct Pending {
    jobs: Vec<Job>,
    /// Whether a thread is committing groups now.
    leader: bool,
}

#[derive(Clone, Default)]
pub(super) struct GroupCommit {
    pending: Arc<Mutex<Pending>>,
}

impl GroupCommit {
    /// Runs `f` in the next group's transaction; resolves after the commit.
    pub(super) async fn write<T, F>(&self, conn: &Arc<Mutex<Connection>>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T, StoreError>>();
        let job: Job = Box::new(move |t: Option<&Transaction<'_>>| {
            let Some(t) = t else {
                return Box::new(move |commit: Result<(), StoreError>| {
                    let _ = tx.send(Err(commit.err().unwrap_or_else(|| backend("no transaction"))));
                });
            };
            let out = in_savepoint(t, f);
            Box::new(move |commit: Result<(), StoreError>| {
                let _ = tx.send(commit.and(out));
            })
        });
        let lead = {
            let mut p = self.pending.lock().map_err(|_| backend("group commit lock poisoned"))?;
            p.jobs.push(job);
            !std::mem::replace(&mut p.leader, true)
        };
        if lead {
            let (this, conn) = (self.clone(), conn.clone());
            tokio::task::spawn_blocking(move || this.lead(&conn));
        }
        rx.await.map_err(|_| backend("the writer thread stopped"))?
    }

    /// Commits groups until no write is waiting.
    fn lead(&self, conn: &Mutex<Connection>) {
        loop {
            let jobs = {
                let Ok(mut p) = self.pending.lock() else { return };
                if p.jobs.is_empty() {
                    p.leader = false;
                    return;
                }
                let n = p.jobs.len().min(MAX_GROUP);
                p.jobs.drain(..n).collect::<Vec<_>>()
            };
            // The connection is held only while the group runs and commits;
            // the answers go out after it is released.
            let answers: Vec<(Deliver, Result<(), StoreError>)> = {
                let mut guard = match conn.lock() {
                    Ok(g) => g,
                    Err(poisoned) => poisoned.into_inner(),
                };
                match guard.transaction_with_behavior(TransactionBehavior::Immediate) {
                    Ok(t) => {
                        let delivers: Vec<Deliver> = jobs.into_iter().map(|job| job(Some(&t))).collect();
                        let commit = t.commit().map_err(backend);
                        delivers.into_iter().map(|d| (d, commit.clone())).collect()
                    }
                    Err(e) => {
                        let err = backend(e);
                        jobs.into_iter().map(|job| (job(None), Err(err.clone()))).collect()
                    }
                }
            };
            for (deliver, commit) in answers {
                deliver(commit);
            }
        }
    }
}

/// Runs `f` inside a savepoint: kept if it succeeds, undone if it fails or
/// panics, so the rest of the group is unaffected.
fn in_savepoint<T, F>(t: &Transaction<'_>, f: F) -> Result<T, StoreError>
where
    F: FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
{
    t.execute_batch("SAVEPOINT w").map_err(backend)?;
    let out = catch_unwind(AssertUnwindSafe(|| f(t))).unwrap_or_else(|_| Err(backend("a write panicked")));
    let end = if out.is_ok() { "RELEASE w" } else { "ROLLBACK TO w; RELEASE w" };
    t.execute_batch(end).map_err(backend)?;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Arc<Mutex<Connection>> {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)").unwrap();
        Arc::new(Mutex::new(c))
    }

    fn rows(c: &Arc<Mutex<Connection>>) -> Vec<(String, i64)> {
        let c = c.lock().unwrap();
        let mut s = c.prepare("SELECT k, v FROM t ORDER BY k").unwrap();
        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_writes_all_land_and_a_failing_one_alone_is_undone() {
        let c = conn();
        let g = GroupCommit::default();
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let (g, c) = (g.clone(), c.clone());
                tokio::spawn(async move {
                    g.write(&c, move |t| {
                        t.execute("INSERT INTO t (k, v) VALUES (?1, ?2)", rusqlite::params![format!("k{i:03}"), i])
                            .map_err(backend)?;
                        if i % 10 == 7 {
                            // Written, then refused: the savepoint takes it back.
                            return Err(StoreError::VersionConflict { current: i });
                        }
                        Ok(i)
                    })
                    .await
                })
            })
            .collect();
        let mut ok = 0;
        for (i, t) in tasks.into_iter().enumerate() {
            match t.await.unwrap() {
                Ok(v) => {
                    assert_eq!(v, i as u64);
                    ok += 1;
                }
                Err(e) => assert_eq!((i % 10, e), (7, StoreError::VersionConflict { current: i as u64 })),
            }
        }
        assert_eq!(ok, 180);
        let stored = rows(&c);
        assert_eq!(stored.len(), 180);
        assert!(stored.iter().all(|(_, v)| v % 10 != 7), "no refused write was kept");
    }

    #[tokio::test]
    async fn a_panicking_write_fails_alone_and_the_writer_goes_on() {
        let c = conn();
        let g = GroupCommit::default();
        let r = g
            .write(&c, |t| -> Result<(), StoreError> {
                t.execute("INSERT INTO t (k, v) VALUES ('a', 1)", []).map_err(backend)?;
                panic!("bug in a write");
            })
            .await;
        assert!(matches!(r, Err(StoreError::Backend(m)) if m.contains("panicked")));
        g.write(&c, |t| t.execute("INSERT INTO t (k, v) VALUES ('b', 2)", []).map_err(backend)).await.unwrap();
        assert_eq!(rows(&c), [("b".to_string(), 2)]);
    }

    #[tokio::test]
    async fn a_constraint_violation_is_the_writers_error_and_nothing_of_it_stays() {
        let c = conn();
        let g = GroupCommit::default();
        g.write(&c, |t| t.execute("INSERT INTO t (k, v) VALUES ('a', 1)", []).map_err(backend)).await.unwrap();
        let r = g
            .write(&c, |t| {
                t.execute("INSERT INTO t (k, v) VALUES ('z', 9)", []).map_err(backend)?;
                t.execute("INSERT INTO t (k, v) VALUES ('a', 2)", []).map_err(backend)
            })
            .await;
        assert!(r.is_err());
        assert_eq!(rows(&c), [("a".to_string(), 1)]);
    }
}
