//! In-app notices on SQLite: a row per (recipient, id). A redelivered
//! notice is `INSERT OR IGNORE`d, so one already held keeps its read mark.
//! Beside them, the SMS jobs: the standalone SMS queue and the sender's
//! ledger in one row per notice.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use subsidy_core::notify::sms::{SmsJob, SmsLedger, SmsQueue};
use subsidy_core::notify::{Addressed, Notice, NoticeStore};
use subsidy_core::ports::{Page, PageRequest, StoreResult};

use super::{SqliteStore, Stored, backend, decode_cursor, from_body, limit_of, page_of, to_body, ts};

#[async_trait]
impl NoticeStore for SqliteStore {
    async fn put_notices(&self, notices: &[Addressed]) -> StoreResult<usize> {
        let rows = notices
            .iter()
            .map(|a| Ok((a.to.key(), a.notice.id.clone(), to_body(&a.notice)?)))
            .collect::<StoreResult<Vec<_>>>()?;
        self.write(move |tx| {
            let mut stmt = tx
                .prepare_cached("INSERT OR IGNORE INTO notices (recipient, id, read, body) VALUES (?1, ?2, 0, ?3)")
                .map_err(backend)?;
            let mut new = 0;
            for (to, id, body) in rows {
                new += stmt.execute(params![to, id, body]).map_err(backend)?;
            }
            Ok(new)
        })
        .await
    }

    async fn notices(&self, recipient: &str, page: &PageRequest) -> StoreResult<Page<Notice>> {
        let limit = limit_of(page);
        // The cursor is the last id shown; the next page is older.
        let before = match page.cursor.as_deref() {
            Some(c) => decode_cursor(c, 1)?.remove(0),
            None => "\u{10FFFF}".to_string(),
        };
        let recipient = recipient.to_string();
        self.run(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT body, id FROM notices WHERE recipient = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map(params![recipient, before, limit + 1], |r| {
                    Ok((r.get::<_, Stored>(0)?, vec![r.get::<_, String>(1)?]))
                })
                .map_err(backend)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            page_of(rows, limit)
        })
        .await
    }

    async fn unread_notices(&self, recipient: &str) -> StoreResult<u64> {
        let recipient = recipient.to_string();
        self.run(move |c| {
            c.prepare_cached("SELECT count(*) FROM notices WHERE recipient = ?1 AND read = 0")
                .and_then(|mut s| s.query_row([recipient], |r| r.get::<_, i64>(0)))
                .map(|n| n as u64)
                .map_err(backend)
        })
        .await
    }

    async fn mark_notice_read(&self, recipient: &str, id: &str, at: DateTime<Utc>) -> StoreResult<Option<Notice>> {
        let (recipient, id) = (recipient.to_string(), id.to_string());
        self.write(move |tx| {
            let body: Option<Stored> = tx
                .query_row("SELECT body FROM notices WHERE recipient = ?1 AND id = ?2", params![recipient, id], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(backend)?;
            let Some(body) = body else { return Ok(None) };
            let mut notice: Notice = from_body(&body.0)?;
            if notice.read_at.is_none() {
                notice.read_at = Some(at);
                tx.execute(
                    "UPDATE notices SET read = 1, body = ?3 WHERE recipient = ?1 AND id = ?2",
                    params![recipient, id, to_body(&notice)?],
                )
                .map_err(backend)?;
            }
            Ok(Some(notice))
        })
        .await
    }
}

/// An SMS job as the standalone sender takes it: the job and its failures so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedSms {
    pub job: SmsJob,
    pub attempts: u32,
}

/// How many SMS jobs are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SmsCounts {
    pub pending: u64,
    pub sent: u64,
    pub dead: u64,
}

#[async_trait]
impl SmsQueue for SqliteStore {
    async fn enqueue(&self, jobs: &[SmsJob]) -> StoreResult<()> {
        let rows = jobs
            .iter()
            .map(|j| Ok((j.to.clone(), j.notice.id.clone(), to_body(j)?, ts(&j.notice.at))))
            .collect::<StoreResult<Vec<_>>>()?;
        self.write(move |tx| {
            let mut stmt = tx
                .prepare_cached("INSERT OR IGNORE INTO sms_jobs (recipient, id, body, due_at) VALUES (?1, ?2, ?3, ?4)")
                .map_err(backend)?;
            for (to, id, body, due) in rows {
                stmt.execute(params![to, id, body, due]).map_err(backend)?;
            }
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl SmsLedger for SqliteStore {
    async fn claim_sms(&self, to: &str, id: &str, now: DateTime<Utc>, lease_until: DateTime<Utc>) -> StoreResult<bool> {
        let (to, id, now, until) = (to.to_string(), id.to_string(), ts(&now), ts(&lease_until));
        self.write(move |tx| {
            let claimed = tx
                .execute(
                    "UPDATE sms_jobs SET state = 'sending', lease_until = ?4 WHERE recipient = ?1 AND id = ?2 \
                     AND (state = 'pending' OR (state = 'sending' AND lease_until < ?3))",
                    params![to, id, now, until],
                )
                .map_err(backend)?;
            Ok(claimed == 1)
        })
        .await
    }

    async fn release_sms(&self, to: &str, id: &str) -> StoreResult<()> {
        let (to, id) = (to.to_string(), id.to_string());
        self.write(move |tx| {
            tx.execute(
                "UPDATE sms_jobs SET state = 'pending', lease_until = NULL WHERE recipient = ?1 AND id = ?2 AND state = 'sending'",
                params![to, id],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn sms_sent(&self, to: &str, id: &str, _at: DateTime<Utc>) -> StoreResult<()> {
        let (to, id) = (to.to_string(), id.to_string());
        self.write(move |tx| {
            tx.execute(
                "UPDATE sms_jobs SET state = 'sent', lease_until = NULL WHERE recipient = ?1 AND id = ?2",
                params![to, id],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }
}

impl SqliteStore {
    /// Jobs due by `now` (pending, or claimed by a sender whose lease ran
    /// out), oldest due first.
    pub async fn due_sms(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<Vec<QueuedSms>> {
        let now = ts(&now);
        self.run(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT body, attempts FROM sms_jobs WHERE state IN ('pending', 'sending') AND due_at <= ?1 \
                     AND (state = 'pending' OR lease_until < ?1) ORDER BY due_at LIMIT ?2",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map(params![now, limit], |r| Ok((r.get::<_, Stored>(0)?, r.get::<_, u32>(1)?)))
                .map_err(backend)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            rows.into_iter().map(|(b, attempts)| Ok(QueuedSms { job: from_body(&b.0)?, attempts })).collect()
        })
        .await
    }

    /// The job waits until `at`: quiet hours (`failed` None), or a retry
    /// after a failure, which counts as an attempt.
    pub async fn sms_later(&self, job: &SmsJob, at: DateTime<Utc>, failed: Option<&str>) -> StoreResult<()> {
        let (to, id, at, error) = (job.to.clone(), job.notice.id.clone(), ts(&at), failed.map(str::to_string));
        self.write(move |tx| {
            tx.execute(
                "UPDATE sms_jobs SET state = 'pending', lease_until = NULL, due_at = ?3, \
                 attempts = attempts + (?4 IS NOT NULL), last_error = coalesce(?4, last_error) \
                 WHERE recipient = ?1 AND id = ?2 AND state != 'sent'",
                params![to, id, at, error],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    /// The job ends: sent (nothing to send counts as done) or dead-lettered.
    pub async fn sms_done(&self, job: &SmsJob, dead: Option<&str>) -> StoreResult<()> {
        let (to, id) = (job.to.clone(), job.notice.id.clone());
        let (state, error) = match dead {
            Some(e) => ("dead", Some(e.to_string())),
            None => ("sent", None),
        };
        self.write(move |tx| {
            tx.execute(
                "UPDATE sms_jobs SET state = ?3, lease_until = NULL, attempts = attempts + (?3 = 'dead'), \
                 last_error = coalesce(?4, last_error) WHERE recipient = ?1 AND id = ?2 AND state != 'sent'",
                params![to, id, state, error],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    pub async fn sms_counts(&self) -> StoreResult<SmsCounts> {
        self.run(|c| {
            let mut out = SmsCounts::default();
            let mut stmt = c.prepare_cached("SELECT state, count(*) FROM sms_jobs GROUP BY state").map_err(backend)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .map_err(backend)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            for (state, n) in rows {
                match state.as_str() {
                    "sent" => out.sent += n as u64,
                    "dead" => out.dead += n as u64,
                    _ => out.pending += n as u64,
                }
            }
            Ok(out)
        })
        .await
    }
}
