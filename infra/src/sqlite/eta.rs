//! How long each step took (`core::eta`) on SQLite: a row per sample,
//! `INSERT OR IGNORE`d, so a redelivered change adds nothing. The city's
//! counts are a grouped range of the same rows (by step and day, indexed).

use async_trait::async_trait;
use chrono::NaiveDate;
use rusqlite::params;
use subsidy_core::eta::{EtaStore, Histogram, Sample, Step};
use subsidy_core::ports::StoreResult;

use super::{SqliteStore, backend};

#[async_trait]
impl EtaStore for SqliteStore {
    async fn put_eta_samples(&self, samples: &[Sample]) -> StoreResult<()> {
        let rows: Vec<_> = samples
            .iter()
            .map(|s| (s.unit.clone(), s.step.as_str(), s.cause.clone(), s.day.to_string(), s.working_days))
            .collect();
        self.write(move |tx| {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO eta_samples (unit, step, cause, day, days) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(backend)?;
            for (unit, step, cause, day, days) in rows {
                stmt.execute(params![unit, step, cause, day, days]).map_err(backend)?;
            }
            Ok(())
        })
        .await
    }

    async fn eta_histogram(&self, unit: Option<&str>, step: Step, since: NaiveDate) -> StoreResult<Histogram> {
        let (unit, step, since) = (unit.map(str::to_string), step.as_str(), since.to_string());
        self.run(move |c| {
            let rows: Vec<(u32, u64)> = match &unit {
                Some(unit) => c
                    .prepare_cached(
                        "SELECT days, count(*) FROM eta_samples WHERE unit = ?1 AND step = ?2 AND day >= ?3 GROUP BY days",
                    )
                    .map_err(backend)?
                    .query_map(params![unit, step, since], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(backend)?
                    .collect::<Result<_, _>>()
                    .map_err(backend)?,
                None => c
                    .prepare_cached("SELECT days, count(*) FROM eta_samples WHERE step = ?1 AND day >= ?2 GROUP BY days")
                    .map_err(backend)?
                    .query_map(params![step, since], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(backend)?
                    .collect::<Result<_, _>>()
                    .map_err(backend)?,
            };
            Ok(rows.into_iter().collect())
        })
        .await
    }
}
