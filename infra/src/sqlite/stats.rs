//! The stats port on SQLite: one transaction per commit, so counters,
//! reference counts and the log of counted changes move together.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};
use subsidy_core::error::StoreError;
use subsidy_core::ports::StoreResult;
use subsidy_core::stats::{ChangeKey, RefWrite, StatsCommit, StatsStore, Totals, UnitKey, UnitTotals};

use super::{SqliteStore, backend, ts};

fn parse_ts(s: Option<String>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(&s).ok()).map(|t| t.with_timezone(&Utc))
}

/// A unit's totals stay plain JSON: one small row per unit, read by every
/// dashboard, not a per-application cost.
fn totals_of<T: serde::de::DeserializeOwned>(t: &str) -> Result<T, StoreError> {
    serde_json::from_str(t).map_err(|e| StoreError::Backend(format!("corrupt totals: {e}")))
}

fn unit_row(tx: &rusqlite::Connection, key: &UnitKey) -> Result<Option<UnitTotals>, StoreError> {
    let row: Option<(i64, Option<String>, String)> = tx
        .prepare_cached("SELECT version, updated_at, totals FROM stats_units WHERE policy_id = ?1 AND unit = ?2")
        .map_err(backend)?
        .query_row(params![key.policy_id, key.unit], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()
        .map_err(backend)?;
    row.map(|(v, at, t)| Ok(UnitTotals { totals: totals_of(&t)?, version: v as u64, updated_at: parse_ts(at) }))
        .transpose()
}

fn set_unit(tx: &Transaction<'_>, key: &UnitKey, u: &UnitTotals) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO stats_units (policy_id, unit, version, updated_at, totals) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (policy_id, unit) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at, \
         totals = excluded.totals",
        params![
            key.policy_id,
            key.unit,
            u.version as i64,
            u.updated_at.as_ref().map(ts),
            serde_json::to_string(&u.totals).map_err(backend)?
        ],
    )
    .map_err(backend)?;
    Ok(())
}

fn ref_n(tx: &rusqlite::Connection, key: &UnitKey, company: &str) -> Result<i64, StoreError> {
    Ok(tx
        .prepare_cached("SELECT n FROM stats_refs WHERE policy_id = ?1 AND unit = ?2 AND company_id = ?3")
        .map_err(backend)?
        .query_row(params![key.policy_id, key.unit, company], |r| r.get(0))
        .optional()
        .map_err(backend)?
        .unwrap_or(0))
}

fn set_ref(tx: &Transaction<'_>, r: &RefWrite) -> Result<(), StoreError> {
    if r.new == 0 {
        tx.execute(
            "DELETE FROM stats_refs WHERE policy_id = ?1 AND unit = ?2 AND company_id = ?3",
            params![r.key.policy_id, r.key.unit, r.company_id],
        )
    } else {
        tx.execute(
            "INSERT INTO stats_refs (policy_id, unit, company_id, n) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (policy_id, unit, company_id) DO UPDATE SET n = excluded.n",
            params![r.key.policy_id, r.key.unit, r.company_id, r.new],
        )
    }
    .map_err(backend)?;
    Ok(())
}

#[async_trait]
impl StatsStore for SqliteStore {
    async fn logged(&self, change: &ChangeKey) -> StoreResult<Option<Vec<ChangeKey>>> {
        let change = change.clone();
        self.run(move |c| {
            let run: Option<i64> = c
                .prepare_cached("SELECT run FROM stats_log WHERE application_id = ?1 AND version = ?2")
                .map_err(backend)?
                .query_row(params![change.application_id, change.version as i64], |r| r.get(0))
                .optional()
                .map_err(backend)?;
            let Some(run) = run else { return Ok(None) };
            let mut stmt =
                c.prepare_cached("SELECT application_id, version FROM stats_log WHERE run = ?1").map_err(backend)?;
            let keys = stmt
                .query_map([run], |r| Ok(ChangeKey { application_id: r.get(0)?, version: r.get::<_, i64>(1)? as u64 }))
                .map_err(backend)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            Ok(Some(keys))
        })
        .await
    }

    async fn company_refs(&self, keys: &[(UnitKey, String)]) -> StoreResult<HashMap<(UnitKey, String), i64>> {
        let keys = keys.to_vec();
        self.run(move |c| {
            let mut out = HashMap::new();
            for (k, company) in keys {
                let n = ref_n(c, &k, &company)?;
                if n != 0 {
                    out.insert((k, company), n);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn commit(&self, commit: &StatsCommit) -> StoreResult<()> {
        let commit = commit.clone();
        self.write(move |tx| {
            {
                let mut seen = tx
                    .prepare_cached("SELECT 1 FROM stats_log WHERE application_id = ?1 AND version = ?2")
                    .map_err(backend)?;
                for k in &commit.log.changes {
                    if seen.exists(params![k.application_id, k.version as i64]).map_err(backend)? {
                        return Err(StoreError::VersionConflict { current: k.version });
                    }
                }
            }
            for r in &commit.refs {
                if ref_n(tx, &r.key, &r.company_id)? != r.old {
                    return Err(StoreError::VersionConflict { current: 0 });
                }
            }
            let run: i64 =
                tx.query_row("SELECT COALESCE(MAX(run), 0) + 1 FROM stats_log", [], |r| r.get(0)).map_err(backend)?;
            {
                let mut insert = tx
                    .prepare_cached("INSERT INTO stats_log (application_id, version, run, at) VALUES (?1, ?2, ?3, ?4)")
                    .map_err(backend)?;
                for k in &commit.log.changes {
                    insert
                        .execute(params![k.application_id, k.version as i64, run, commit.at.timestamp()])
                        .map_err(backend)?;
                }
            }
            for r in &commit.refs {
                set_ref(tx, r)?;
            }
            for (key, delta) in &commit.units {
                let mut u = unit_row(tx, key)?.unwrap_or_default();
                u.totals = u.totals.plus(delta);
                u.version += 1;
                u.updated_at = Some(commit.at);
                set_unit(tx, key, &u)?;
            }
            Ok(())
        })
        .await
    }

    async fn unit_totals(&self, keys: &[UnitKey]) -> StoreResult<HashMap<UnitKey, UnitTotals>> {
        let keys = keys.to_vec();
        self.run(move |c| {
            let mut out = HashMap::new();
            for k in keys {
                if let Some(u) = unit_row(c, &k)? {
                    out.insert(k, u);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn all_units(&self, policy_id: &str) -> StoreResult<HashMap<String, UnitTotals>> {
        let policy = policy_id.to_string();
        self.run(move |c| {
            let mut stmt = c
                .prepare_cached("SELECT unit, version, updated_at, totals FROM stats_units WHERE policy_id = ?1")
                .map_err(backend)?;
            let rows = stmt
                .query_map([&policy], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                })
                .map_err(backend)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            rows.into_iter()
                .map(|(unit, v, at, t)| {
                    Ok((unit, UnitTotals { totals: totals_of(&t)?, version: v as u64, updated_at: parse_ts(at) }))
                })
                .collect()
        })
        .await
    }

    async fn all_refs(&self, policy_id: &str) -> StoreResult<HashMap<(String, String), i64>> {
        let policy = policy_id.to_string();
        self.run(move |c| {
            let mut stmt = c
                .prepare_cached("SELECT unit, company_id, n FROM stats_refs WHERE policy_id = ?1 AND n <> 0")
                .map_err(backend)?;
            let rows = stmt
                .query_map([&policy], |r| Ok(((r.get::<_, String>(0)?, r.get::<_, String>(1)?), r.get::<_, i64>(2)?)))
                .map_err(backend)?
                .collect::<Result<HashMap<_, _>, _>>()
                .map_err(backend)?;
            Ok(rows)
        })
        .await
    }

    async fn logged_since(&self, since: DateTime<Utc>) -> StoreResult<Vec<ChangeKey>> {
        self.run(move |c| {
            let mut stmt =
                c.prepare_cached("SELECT application_id, version FROM stats_log WHERE at >= ?1").map_err(backend)?;
            stmt.query_map([since.timestamp()], |r| {
                Ok(ChangeKey { application_id: r.get(0)?, version: r.get::<_, i64>(1)? as u64 })
            })
            .map_err(backend)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend)
        })
        .await
    }

    async fn prune_logs(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.write(move |tx| {
            let n = tx.execute("DELETE FROM stats_log WHERE at < ?1", [before.timestamp()]).map_err(backend)?;
            Ok(n as u64)
        })
        .await
    }

    async fn repair_unit(&self, key: &UnitKey, totals: &Totals, expected: u64, at: DateTime<Utc>) -> StoreResult<bool> {
        let (key, totals) = (key.clone(), totals.clone());
        self.write(move |tx| {
            let current = unit_row(tx, &key)?.unwrap_or_default();
            if current.version != expected {
                return Ok(false);
            }
            set_unit(tx, &key, &UnitTotals { totals, version: expected + 1, updated_at: Some(at) })?;
            Ok(true)
        })
        .await
    }

    async fn repair_ref(&self, r: &RefWrite) -> StoreResult<bool> {
        let r = r.clone();
        self.write(move |tx| {
            if ref_n(tx, &r.key, &r.company_id)? != r.old {
                return Ok(false);
            }
            set_ref(tx, &r)?;
            Ok(true)
        })
        .await
    }
}
