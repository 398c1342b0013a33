//! Reviewers' openings in detail (`core::application::bulk::ViewLog`) on
//! SQLite: one row per (reviewer, application), the latest opening.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::params;
use subsidy_core::application::bulk::ViewLog;
use subsidy_core::ports::StoreResult;

use super::{SqliteStore, backend, ts};

#[async_trait]
impl ViewLog for SqliteStore {
    async fn record_view(&self, reviewer: &str, application_id: &str, at: DateTime<Utc>) -> StoreResult<()> {
        let (reviewer, id, at) = (reviewer.to_string(), application_id.to_string(), ts(&at));
        self.write(move |tx| {
            tx.prepare_cached(
                "INSERT INTO detail_views (reviewer, application_id, at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (reviewer, application_id) DO UPDATE SET at = max(at, excluded.at)",
            )
            .map_err(backend)?
            .execute(params![reviewer, id, at])
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn views_of(
        &self,
        reviewer: &str,
        application_ids: &[String],
    ) -> StoreResult<HashMap<String, DateTime<Utc>>> {
        let (reviewer, ids) = (reviewer.to_string(), application_ids.to_vec());
        self.run(move |c| {
            let mut stmt = c
                .prepare_cached("SELECT at FROM detail_views WHERE reviewer = ?1 AND application_id = ?2")
                .map_err(backend)?;
            let mut out = HashMap::new();
            for id in ids {
                let at: Option<String> =
                    rusqlite::OptionalExtension::optional(stmt.query_row(params![reviewer, id], |r| r.get(0)))
                        .map_err(backend)?;
                if let Some(at) = at.and_then(|s| DateTime::parse_from_rfc3339(&s).ok()) {
                    out.insert(id, at.with_timezone(&Utc));
                }
            }
            Ok(out)
        })
        .await
    }
}
