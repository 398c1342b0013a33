//! The payout port on SQLite: a claim or a settlement is one
//! transaction over the application (with its audit entry and outbox row),
//! the line and the budget.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Transaction, params};
use subsidy_core::audit::AuditEntry;
use subsidy_core::error::StoreError;
use subsidy_core::money::Fen;
use subsidy_core::payout::{
    AppWrite, Batch, Budget, BudgetKey, BudgetMove, ClaimError, LineStatus, PaymentLine, PayoutStore,
};
use subsidy_core::ports::{ClaimChange, Page, PageRequest, StoreResult};

use super::{
    SqliteStore, Stored, backend, decode_cursor, fetch_page, from_body, insert_audit, to_body, write_application,
};

fn budget_row(tx: &rusqlite::Connection, policy: &str, district: &str) -> Result<Option<Budget>, StoreError> {
    let row: Option<(i64, i64, i64, i64)> = tx
        .query_row(
            "SELECT allocated, committed, paid, remaining FROM budgets WHERE policy_id = ?1 AND district = ?2",
            params![policy, district],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()
        .map_err(backend)?;
    Ok(row.map(|(a, c, p, r)| Budget {
        allocated: Fen::new(a).unwrap_or_default(),
        committed: Fen::new(c).unwrap_or_default(),
        paid: Fen::new(p).unwrap_or_default(),
        remaining: Fen::new(r).unwrap_or_default(),
    }))
}

fn ensure_budget(tx: &Transaction<'_>, policy: &str, district: &str, allocated: Fen) -> Result<(), StoreError> {
    tx.execute(
        "INSERT OR IGNORE INTO budgets (policy_id, district, allocated, committed, paid, remaining) VALUES (?1, ?2, ?3, 0, 0, ?3)",
        params![policy, district, allocated.fen()],
    )
    .map_err(backend)?;
    Ok(())
}

fn move_budget(
    tx: &Transaction<'_>,
    policy: &str,
    district: &str,
    m: subsidy_core::payout::BudgetMove,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE budgets SET committed = committed + ?3, paid = paid + ?4, remaining = remaining + ?5 \
         WHERE policy_id = ?1 AND district = ?2",
        params![policy, district, m.committed, m.paid, m.remaining],
    )
    .map_err(backend)?;
    Ok(())
}

fn put_line(tx: &Transaction<'_>, l: &PaymentLine) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO payment_lines (batch_id, id, application_id, status, body) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (batch_id, id) DO UPDATE SET status = excluded.status, body = excluded.body",
        params![l.batch_id, l.id, l.application_id, l.status.as_str(), to_body(l)?],
    )
    .map_err(backend)?;
    Ok(())
}

fn moved(e: StoreError) -> ClaimError {
    match e {
        StoreError::VersionConflict { .. } | StoreError::NotFound => ClaimError::Moved,
        other => ClaimError::Store(other),
    }
}

#[async_trait]
impl PayoutStore for SqliteStore {
    fn parallel_writes(&self) -> usize {
        64
    }

    async fn create_batch(&self, batch: &Batch, audit: &AuditEntry) -> StoreResult<()> {
        let (b, audit) = (batch.clone(), audit.clone());
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO batches (id, policy_id, district, version, body) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![b.id, b.policy_id, b.district, b.version as i64, to_body(&b)?],
            )
            .map_err(backend)?;
            insert_audit(tx, &audit)
        })
        .await
    }

    async fn get_batch(&self, id: &str) -> StoreResult<Option<Batch>> {
        self.get_one("SELECT body FROM batches WHERE id = ?1", vec![id.into()]).await
    }

    async fn update_batch(&self, batch: &Batch, expected_version: u64, audit: Option<&AuditEntry>) -> StoreResult<()> {
        let (b, audit) = (batch.clone(), audit.cloned());
        let notify = self.outbox_notify();
        let told = self
            .write(move |tx| {
                let old: Option<Stored> = tx
                    .query_row(
                        "SELECT body FROM batches WHERE id = ?1 AND version = ?2",
                        params![b.id, expected_version as i64],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(backend)?;
                let n = tx
                    .execute(
                        "UPDATE batches SET version = ?2, body = ?3 WHERE id = ?1 AND version = ?4",
                        params![b.id, b.version as i64, to_body(&b)?, expected_version as i64],
                    )
                    .map_err(backend)?;
                if n == 0 {
                    let v: Option<i64> = tx
                        .query_row("SELECT version FROM batches WHERE id = ?1", [&b.id], |r| r.get(0))
                        .optional()
                        .map_err(backend)?;
                    return Err(v
                        .map(|v| StoreError::VersionConflict { current: v as u64 })
                        .unwrap_or(StoreError::NotFound));
                }
                if let Some(a) = &audit {
                    insert_audit(tx, a)?;
                }
                // Only the changes that tell finance something take a row.
                let change =
                    subsidy_core::notify::BatchChange { old: old.map(|o| from_body(&o.0)).transpose()?, new: b };
                let tells = !subsidy_core::notify::batch_notices_of(&change).is_empty();
                if tells {
                    tx.execute(
                        "INSERT INTO batch_outbox (body, created_at) VALUES (?1, ?2)",
                        params![to_body(&change)?, super::ts(&change.new.updated_at)],
                    )
                    .map_err(backend)?;
                }
                Ok(tells)
            })
            .await?;
        if told {
            notify.notify_one();
        }
        Ok(())
    }

    async fn batches_of(&self, policy_id: &str, district: &str, page: &PageRequest) -> StoreResult<Page<Batch>> {
        let (policy, district) = (policy_id.to_string(), district.to_string());
        let limit = page.limit.clamp(1, PageRequest::MAX_LIMIT);
        let after = page.cursor.as_deref().map(|c| decode_cursor(c, 1)).transpose()?.map(|mut v| v.remove(0));
        self.run(move |c| {
            let sql = "SELECT body, id FROM batches WHERE policy_id = ?1 AND district = ?2 AND (?3 IS NULL OR id < ?3) \
                       ORDER BY id DESC LIMIT ?4";
            fetch_page(c, sql, params![policy, district, after, limit + 1], 1, limit)
        })
        .await
    }

    async fn budget(&self, policy_id: &str, district: &str, allocated: Fen) -> StoreResult<Budget> {
        let (policy, district) = (policy_id.to_string(), district.to_string());
        self.write(move |tx| {
            ensure_budget(tx, &policy, &district, allocated)?;
            budget_row(tx, &policy, &district)?.ok_or(StoreError::NotFound)
        })
        .await
    }

    async fn claim(
        &self,
        w: AppWrite<'_>,
        line: &PaymentLine,
        key: BudgetKey<'_>,
        allocated: Fen,
    ) -> Result<(), ClaimError> {
        let (app, expected_version, audit, line) = (w.app.clone(), w.expected_version, w.audit.clone(), line.clone());
        let (policy, district) = (key.policy_id.to_string(), key.district.to_string());
        let notify = self.outbox_notify();
        let result = self
            .write(move |tx| {
                // In the claim's own transaction: a batch sealed (or gone)
                // meanwhile takes no line, so its totals stay final.
                let batch: Option<Stored> = tx
                    .query_row("SELECT body FROM batches WHERE id = ?1", [&line.batch_id], |r| r.get(0))
                    .optional()
                    .map_err(backend)?;
                let claimable = match batch {
                    Some(body) => from_body::<Batch>(&body.0)?.claimable(),
                    None => false,
                };
                if !claimable {
                    return Ok(Err(ClaimError::Closed));
                }
                ensure_budget(tx, &policy, &district, allocated)?;
                let budget = budget_row(tx, &policy, &district)?.ok_or_else(|| backend("the budget row is missing"))?;
                if budget.remaining < line.amount {
                    return Ok(Err(ClaimError::OverBudget));
                }
                // A failure from here on undoes this write's savepoint.
                write_application(tx, &app, expected_version, &audit, ClaimChange::Keep)?;
                put_line(tx, &line)?;
                let m = line.amount.fen();
                move_budget(tx, &policy, &district, BudgetMove { committed: m, paid: 0, remaining: -m })?;
                Ok(Ok(()))
            })
            .await
            .unwrap_or_else(|e| Err(moved(e)));
        if result.is_ok() {
            notify.notify_one();
        }
        result
    }

    async fn settle(
        &self,
        w: AppWrite<'_>,
        line: &PaymentLine,
        key: BudgetKey<'_>,
        budget: BudgetMove,
    ) -> Result<(), ClaimError> {
        let (app, expected_version, audit, line) = (w.app.clone(), w.expected_version, w.audit.clone(), line.clone());
        let (policy, district) = (key.policy_id.to_string(), key.district.to_string());
        let notify = self.outbox_notify();
        let result = self
            .write(move |tx| {
                let status: Option<String> = tx
                    .query_row(
                        "SELECT status FROM payment_lines WHERE batch_id = ?1 AND id = ?2",
                        params![line.batch_id, line.id],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(backend)?;
                if status.as_deref() != Some(LineStatus::Pending.as_str()) {
                    return Ok(Err(ClaimError::Moved));
                }
                // A failure from here on undoes this write's savepoint.
                write_application(tx, &app, expected_version, &audit, ClaimChange::Keep)?;
                put_line(tx, &line)?;
                move_budget(tx, &policy, &district, budget)?;
                Ok(Ok(()))
            })
            .await
            .unwrap_or_else(|e| Err(moved(e)));
        if result.is_ok() {
            notify.notify_one();
        }
        result
    }

    async fn repay(&self, w: AppWrite<'_>, key: BudgetKey<'_>, budget: BudgetMove) -> Result<(), ClaimError> {
        let (app, expected_version, audit) = (w.app.clone(), w.expected_version, w.audit.clone());
        let (policy, district) = (key.policy_id.to_string(), key.district.to_string());
        let notify = self.outbox_notify();
        let result = self
            .write(move |tx| {
                write_application(tx, &app, expected_version, &audit, ClaimChange::Keep)?;
                move_budget(tx, &policy, &district, budget)?;
                Ok(Ok(()))
            })
            .await
            .unwrap_or_else(|e| Err(moved(e)));
        if result.is_ok() {
            notify.notify_one();
        }
        result
    }

    async fn lines_of(&self, batch_id: &str, page: &PageRequest) -> StoreResult<Page<PaymentLine>> {
        let batch = batch_id.to_string();
        let limit = page.limit.clamp(1, PageRequest::MAX_LIMIT);
        let after = page.cursor.as_deref().map(|c| decode_cursor(c, 1)).transpose()?.map(|mut v| v.remove(0));
        self.run(move |c| {
            let sql = "SELECT body, id FROM payment_lines WHERE batch_id = ?1 AND (?2 IS NULL OR id > ?2) ORDER BY id LIMIT ?3";
            fetch_page(c, sql, params![batch, after, limit + 1], 1, limit)
        })
        .await
    }

    async fn get_line(&self, batch_id: &str, line_id: &str) -> StoreResult<Option<PaymentLine>> {
        self.get_one(
            "SELECT body FROM payment_lines WHERE batch_id = ?1 AND id = ?2",
            vec![batch_id.into(), line_id.into()],
        )
        .await
    }
}
