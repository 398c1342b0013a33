//! The database thread. One thread owns the connection and takes jobs from
//! a channel: no blocking-pool task per query and no lock for callers to
//! contend on (profiling the bench showed nearly half the server's CPU going
//! to waking threads that queued on the connection's mutex).
//!
//! Writes that arrive together commit together (group commit): one
//! transaction and one fsync for all of them, each inside its own savepoint
//! so that one write's failure rolls back that write alone. With
//! `synchronous=FULL` the fsync is the cost of a commit, so throughput grows
//! with the number of writers; each caller still hears back only after its
//! write is durable. Reads taken in the same pass run first, outside the
//! transaction, so no read ever sees a write that is not yet committed.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;

use rusqlite::{Connection, Transaction, TransactionBehavior};
use subsidy_core::error::StoreError;
use tokio::sync::oneshot;

use super::backend;

/// Called once the group's fate is known: with the commit's result.
type Deliver = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
/// Runs one write in the open transaction (or, given `None`, reports that
/// the transaction could not be opened) and returns how to answer it.
type WriteJob = Box<dyn FnOnce(Option<&Transaction<'_>>) -> Deliver + Send>;
type ReadJob = Box<dyn FnOnce(&mut Connection) + Send>;

enum Job {
    Read(ReadJob),
    Write(WriteJob),
}

/// The most writes one transaction takes, to bound a group's latency.
const MAX_GROUP: usize = 512;

/// A handle on the database thread; the thread ends (and closes the
/// connection) when the last handle is dropped.
#[derive(Clone)]
pub(super) struct Db {
    jobs: mpsc::Sender<Job>,
}

impl Db {
    pub(super) fn start(conn: Connection) -> Result<Db, StoreError> {
        let (jobs, rx) = mpsc::channel();
        std::thread::Builder::new().name("sqlite".into()).spawn(move || serve(conn, rx)).map_err(backend)?;
        Ok(Db { jobs })
    }

    /// Runs `f` on the connection, outside any write transaction.
    pub(super) async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T, StoreError>>();
        let job: ReadJob = Box::new(move |c: &mut Connection| {
            let out = catch_unwind(AssertUnwindSafe(|| f(c))).unwrap_or_else(|_| Err(backend("a read panicked")));
            let _ = tx.send(out);
        });
        self.jobs.send(Job::Read(job)).map_err(|_| backend("the database thread stopped"))?;
        rx.await.map_err(|_| backend("the database thread stopped"))?
    }

    /// Runs `f` in the next group's transaction; resolves after the commit.
    pub(super) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T, StoreError>>();
        let job: WriteJob = Box::new(move |t: Option<&Transaction<'_>>| {
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
        self.jobs.send(Job::Write(job)).map_err(|_| backend("the database thread stopped"))?;
        rx.await.map_err(|_| backend("the database thread stopped"))?
    }
}

/// The thread: waits for a job, takes every job already queued with it,
/// runs the reads, then commits the writes as one group.
fn serve(mut conn: Connection, rx: mpsc::Receiver<Job>) {
    let mut reads: Vec<ReadJob> = Vec::new();
    let mut writes: Vec<WriteJob> = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(job) = next {
            match job {
                Job::Read(r) => reads.push(r),
                Job::Write(w) => writes.push(w),
            }
            next = if writes.len() < MAX_GROUP { rx.try_recv().ok() } else { None };
        }
        for r in reads.drain(..) {
            r(&mut conn);
        }
        if writes.is_empty() {
            continue;
        }
        let answers: Vec<(Deliver, Result<(), StoreError>)> =
            match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
                Ok(t) => {
                    let delivers: Vec<Deliver> = writes.drain(..).map(|job| job(Some(&t))).collect();
                    let commit = t.commit().map_err(backend);
                    delivers.into_iter().map(|d| (d, commit.clone())).collect()
                }
                Err(e) => {
                    let err = backend(e);
                    writes.drain(..).map(|job| (job(None), Err(err.clone()))).collect()
                }
            };
        for (deliver, commit) in answers {
            deliver(commit);
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

    fn db() -> Db {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)").unwrap();
        Db::start(c).unwrap()
    }

    async fn rows(db: &Db) -> Vec<(String, i64)> {
        db.read(|c| {
            let mut s = c.prepare("SELECT k, v FROM t ORDER BY k").map_err(backend)?;
            let rows = s.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend)
        })
        .await
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_writes_all_land_and_a_failing_one_alone_is_undone() {
        let g = db();
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let g = g.clone();
                tokio::spawn(async move {
                    g.write(move |t| {
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
        let stored = rows(&g).await;
        assert_eq!(stored.len(), 180);
        assert!(stored.iter().all(|(_, v)| v % 10 != 7), "no refused write was kept");
    }

    #[tokio::test]
    async fn a_panicking_write_fails_alone_and_the_writer_goes_on() {
        let g = db();
        let r = g
            .write(|t| -> Result<(), StoreError> {
                t.execute("INSERT INTO t (k, v) VALUES ('a', 1)", []).map_err(backend)?;
                panic!("bug in a write");
            })
            .await;
        assert!(matches!(r, Err(StoreError::Backend(m)) if m.contains("panicked")));
        g.write(|t| t.execute("INSERT INTO t (k, v) VALUES ('b', 2)", []).map_err(backend)).await.unwrap();
        assert_eq!(rows(&g).await, [("b".to_string(), 2)]);
        let r = g.read(|_| -> Result<(), StoreError> { panic!("bug in a read") }).await;
        assert!(matches!(r, Err(StoreError::Backend(m)) if m.contains("panicked")));
        assert_eq!(rows(&g).await.len(), 1, "the thread serves on after a panic");
    }

    #[tokio::test]
    async fn a_constraint_violation_is_the_writers_error_and_nothing_of_it_stays() {
        let g = db();
        g.write(|t| t.execute("INSERT INTO t (k, v) VALUES ('a', 1)", []).map_err(backend)).await.unwrap();
        let r = g
            .write(|t| {
                t.execute("INSERT INTO t (k, v) VALUES ('z', 9)", []).map_err(backend)?;
                t.execute("INSERT INTO t (k, v) VALUES ('a', 2)", []).map_err(backend)
            })
            .await;
        assert!(r.is_err());
        assert_eq!(rows(&g).await, [("a".to_string(), 1)]);
    }
}
