//! In-app notices on SQLite: a row per (recipient, id). A redelivered
//! notice is `INSERT OR IGNORE`d, so one already held keeps its read mark.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use subsidy_core::notify::{Addressed, Notice, NoticeStore};
use subsidy_core::ports::{Page, PageRequest, StoreResult};

use super::{SqliteStore, Stored, backend, decode_cursor, from_body, limit_of, page_of, to_body};

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
