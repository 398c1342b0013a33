//! Reading and acknowledging the outbox: the standalone stand-in for the
//! DynamoDB stream. Rows are delivered in sequence order; a row stays
//! pending until acknowledged, so delivery is at least once. An acknowledged
//! row is deleted, as SQS deletes a handled message: the table holds only
//! what is pending or dead, so it stays small however long the server runs
//! (each row carries the application before and after, ~3.7 KB).

use rusqlite::{OptionalExtension, params};
use subsidy_core::application::dispatch::ChangeRecord;
use subsidy_core::error::StoreError;

use super::{SqliteStore, Stored, backend, from_body};

#[derive(Debug, Clone)]
pub struct OutboxEntry {
    pub seq: i64,
    pub attempts: u32,
    pub change: ChangeRecord,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxStats {
    pub pending: u64,
    pub delivered: u64,
    pub dead: u64,
}

impl SqliteStore {
    /// The batch changes not yet handled (`batch_outbox`), oldest first.
    pub async fn pending_batch_changes(
        &self,
        limit: u32,
    ) -> Result<Vec<(i64, subsidy_core::notify::BatchChange)>, StoreError> {
        self.run(move |c| {
            let mut stmt =
                c.prepare_cached("SELECT seq, body FROM batch_outbox ORDER BY seq LIMIT ?1").map_err(backend)?;
            let rows = stmt
                .query_map([limit], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, super::Stored>(1)?)))
                .map_err(backend)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            rows.into_iter().map(|(seq, b)| Ok((seq, super::from_body(&b.0)?))).collect()
        })
        .await
    }

    /// The batch changes up to `seq` are handled.
    pub async fn batch_changes_done(&self, seq: i64) -> Result<(), StoreError> {
        self.write(move |tx| {
            tx.execute("DELETE FROM batch_outbox WHERE seq <= ?1", [seq]).map_err(backend)?;
            Ok(())
        })
        .await
    }

    /// The oldest undelivered, live rows, in sequence order.
    pub async fn pending_changes(&self, limit: u32) -> Result<Vec<OutboxEntry>, StoreError> {
        self.run(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT seq, attempts, body FROM outbox WHERE delivered_at IS NULL AND dead = 0 ORDER BY seq LIMIT ?1",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map([limit], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, Stored>(2)?)))
                .map_err(backend)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            rows.into_iter()
                .map(|(seq, attempts, body)| Ok(OutboxEntry { seq, attempts: attempts as u32, change: from_body(&body.0)? }))
                .collect()
        })
        .await
    }

    /// Marks a row delivered by deleting it. Idempotent.
    pub async fn ack_change(&self, seq: i64) -> Result<(), StoreError> {
        self.write(move |tx| {
            tx.execute("DELETE FROM outbox WHERE seq = ?1 AND dead = 0", [seq]).map_err(backend)?;
            Ok(())
        })
        .await
    }

    /// Records a failed delivery; after `max_attempts` the row is set aside
    /// as dead (the dead-letter queue of the standalone mode).
    pub async fn fail_change(&self, seq: i64, error: &str, max_attempts: u32) -> Result<u32, StoreError> {
        let error = error.to_string();
        self.write(move |tx| {
            tx.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, dead = (attempts + 1 >= ?3) WHERE seq = ?1",
                params![seq, error, max_attempts],
            )
            .map_err(backend)?;
            let attempts: Option<i64> =
                tx.query_row("SELECT attempts FROM outbox WHERE seq = ?1", [seq], |r| r.get(0)).optional().map_err(backend)?;
            Ok(attempts.unwrap_or(0) as u32)
        })
        .await
    }

    /// Pending and dead are counted from the rows left; delivered is every
    /// row ever written (the AUTOINCREMENT sequence never reuses a number)
    /// less those. Reads only the small table, so the health check stays
    /// cheap at any scale.
    pub async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        self.run(|c| {
            let (pending, dead): (i64, i64) = c
                .query_row(
                    "SELECT COALESCE(SUM(dead = 0), 0), COALESCE(SUM(dead), 0) FROM outbox WHERE delivered_at IS NULL",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(backend)?;
            let written: i64 = c
                .query_row("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'", [], |r| r.get(0))
                .optional()
                .map_err(backend)?
                .unwrap_or(0);
            Ok(OutboxStats {
                pending: pending as u64,
                delivered: (written - pending - dead).max(0) as u64,
                dead: dead as u64,
            })
        })
        .await
    }
}
