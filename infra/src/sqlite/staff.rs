//! The staff directory on SQLite: one row per member, its audit entry in
//! the same transaction. Lists walk the rows in `sub` order from the
//! cursor and keep those the filter matches (the directory is small: a
//! city has thousands of staff, not millions).

use async_trait::async_trait;
use rusqlite::params;
use subsidy_core::audit::AuditEntry;
use subsidy_core::error::StoreError;
use subsidy_core::identity::staff::{StaffFilter, StaffMember, StaffStore};
use subsidy_core::ports::{Page, PageRequest, StoreResult};

use super::{
    SqliteStore, Stored, backend, decode_cursor, encode_cursor, from_body, insert_audit, limit_of, one, to_body,
};

/// Rows read per step while filling a filtered page.
const STEP: u32 = 500;

#[async_trait]
impl StaffStore for SqliteStore {
    async fn get_staff(&self, sub: &str) -> StoreResult<Option<StaffMember>> {
        let sub = sub.to_string();
        self.run(move |c| one(c, "SELECT body FROM staff WHERE sub = ?1", [sub])).await
    }

    async fn put_staff(&self, member: &StaffMember, expected_version: u64, audit: &AuditEntry) -> StoreResult<()> {
        let (m, audit) = (member.clone(), audit.clone());
        let body = to_body(&m)?;
        self.write(move |tx| {
            if expected_version == 0 {
                let n = tx
                    .execute(
                        "INSERT INTO staff (sub, version, body) VALUES (?1, ?2, ?3) ON CONFLICT (sub) DO NOTHING",
                        params![m.sub, m.version as i64, body],
                    )
                    .map_err(backend)?;
                if n == 0 {
                    return Err(StoreError::AlreadyExists);
                }
            } else {
                let n = tx
                    .execute(
                        "UPDATE staff SET version = ?2, body = ?3 WHERE sub = ?1 AND version = ?4",
                        params![m.sub, m.version as i64, body, expected_version as i64],
                    )
                    .map_err(backend)?;
                if n == 0 {
                    return Err(current_version_of(tx, &m.sub)?);
                }
            }
            insert_audit(tx, &audit)
        })
        .await
    }

    async fn list_staff(&self, filter: &StaffFilter, page: &PageRequest) -> StoreResult<Page<StaffMember>> {
        let limit = limit_of(page) as usize;
        let mut after = match page.cursor.as_deref() {
            Some(c) => decode_cursor(c, 1)?.remove(0),
            None => String::new(),
        };
        let filter = filter.clone();
        self.run(move |c| {
            let mut stmt = c
                .prepare_cached("SELECT sub, body FROM staff WHERE sub > ?1 ORDER BY sub LIMIT ?2")
                .map_err(backend)?;
            let mut items = Vec::new();
            loop {
                let rows = stmt
                    .query_map(params![after, STEP], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Stored>(1)?)))
                    .map_err(backend)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(backend)?;
                let exhausted = rows.len() < STEP as usize;
                for (sub, body) in rows {
                    after = sub;
                    let m: StaffMember = from_body(&body.0)?;
                    if filter.matches(&m) {
                        if items.len() == limit {
                            // One more match exists: the page ends before it.
                            let last: &StaffMember = items.last().expect("limit is at least 1");
                            return Ok(Page { next_cursor: Some(encode_cursor(&[&last.sub])), items });
                        }
                        items.push(m);
                    }
                }
                if exhausted {
                    return Ok(Page { items, next_cursor: None });
                }
            }
        })
        .await
    }
}

fn current_version_of(tx: &rusqlite::Transaction<'_>, sub: &str) -> Result<StoreError, StoreError> {
    let v: Option<i64> =
        rusqlite::OptionalExtension::optional(
            tx.query_row("SELECT version FROM staff WHERE sub = ?1", [sub], |r| r.get(0)),
        )
        .map_err(backend)?;
    Ok(match v {
        Some(v) => StoreError::VersionConflict { current: v as u64 },
        None => StoreError::NotFound,
    })
}
