//! The embedded store: every storage port on one SQLite database in WAL mode.
//!
//! All access goes through one connection owned by one database thread;
//! SQLite serializes writers anyway, and one connection keeps every
//! transaction's view simple. Writes that arrive together commit together
//! (group commit, one savepoint each; see `group.rs`), so a durable
//! commit's fsync is shared by every writer waiting for it. A change to an application and its outbox row commit in the
//! same transaction, so a crash can lose neither one without the other.

mod eta;
mod group;
mod notices;
mod outbox;
mod payout;
mod staff;
mod stats;
mod views;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;
use serde::de::DeserializeOwned;
use subsidy_core::application::Application;
use subsidy_core::application::dispatch::ChangeRecord;
use subsidy_core::application::precheck::PrecheckReport;
use subsidy_core::application::state::State;
use subsidy_core::audit::AuditEntry;
use subsidy_core::company::{Company, Project};
use subsidy_core::documents::Document;
use subsidy_core::error::StoreError;
use subsidy_core::identity::authz::Scope;
use subsidy_core::jurisdiction::Level;
use subsidy_core::policy::Policy;
use subsidy_core::ports::*;
use tokio::sync::Notify;

pub use notices::{QueuedSms, SmsCounts};
pub use outbox::{OutboxEntry, OutboxStats};

/// How durable a commit is. `Full` survives power loss; `Normal` survives a
/// process crash (kill -9) but may lose the last commits on power loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    Full,
    Normal,
}

#[derive(Clone)]
pub struct SqliteStore {
    db: group::Db,
    /// Woken after every commit that wrote to the outbox.
    outbox_notify: Arc<Notify>,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// How many lines a batch step claims (or settles) on SQLite, which shares
/// commits among a page's claims: no time limit to keep inside, so fewer,
/// larger steps than on DynamoDB (each step lists the district's approvals
/// again).
pub const BATCH_STEP: usize = 20_000;

fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// A record's stored body: compact JSON (src/compact.rs), a BLOB.
fn to_body<T: Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    crate::compact::encode(v).map_err(backend)
}

fn from_body<T: DeserializeOwned>(b: &[u8]) -> Result<T, StoreError> {
    crate::compact::decode(b).map_err(backend)
}

/// A `body` column as stored: a compact BLOB, or JSON TEXT written before
/// bodies were compact (both are read; nothing is rewritten).
pub(crate) struct Stored(pub(crate) Vec<u8>);

impl rusqlite::types::FromSql for Stored {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        match v {
            rusqlite::types::ValueRef::Blob(b) | rusqlite::types::ValueRef::Text(b) => Ok(Stored(b.to_vec())),
            _ => Err(rusqlite::types::FromSqlError::InvalidType),
        }
    }
}

fn encode_cursor(parts: &[&str]) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(parts).expect("strings serialize"))
}

fn decode_cursor(c: &str, n: usize) -> Result<Vec<String>, StoreError> {
    let bytes = URL_SAFE_NO_PAD.decode(c).map_err(|_| StoreError::BadCursor)?;
    let parts: Vec<String> = serde_json::from_slice(&bytes).map_err(|_| StoreError::BadCursor)?;
    if parts.len() != n {
        return Err(StoreError::BadCursor);
    }
    Ok(parts)
}

fn limit_of(page: &PageRequest) -> u32 {
    page.limit.clamp(1, PageRequest::MAX_LIMIT)
}

/// Runs a query that selects `body` (plus sort columns) and builds a page.
fn page_of<T: DeserializeOwned>(rows: Vec<(Stored, Vec<String>)>, limit: u32) -> Result<Page<T>, StoreError> {
    let has_more = rows.len() > limit as usize;
    let mut items = Vec::with_capacity(rows.len().min(limit as usize));
    let mut last_key = None;
    for (body, key) in rows.into_iter().take(limit as usize) {
        items.push(from_body(&body.0)?);
        last_key = Some(key);
    }
    let next_cursor = match (has_more, last_key) {
        (true, Some(k)) => Some(encode_cursor(&k.iter().map(String::as_str).collect::<Vec<_>>())),
        _ => None,
    };
    Ok(Page { items, next_cursor })
}

/// `record_json(body)` gives a stored body's JSON text, and
/// `record_pack(json)` the stored form of JSON text, for SQL run on the
/// store's own connection (tools, and the tamper tests that edit records).
fn record_functions(conn: &Connection) -> Result<(), StoreError> {
    use rusqlite::functions::FunctionFlags;
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("record_json", 1, flags, |ctx| {
        let body: Stored = ctx.get(0)?;
        let json = crate::compact::json_of(&body.0).map_err(|e| rusqlite::Error::UserFunctionError(e.into()))?;
        String::from_utf8(json).map_err(|e| rusqlite::Error::UserFunctionError(e.into()))
    })
    .map_err(backend)?;
    conn.create_scalar_function("record_pack", 1, flags, |ctx| {
        let json: String = ctx.get(0)?;
        Ok(crate::compact::deflate(json.as_bytes()))
    })
    .map_err(backend)
}

impl SqliteStore {
    /// Opens (creating if needed) the database file, in WAL mode.
    pub fn open(path: &Path, durability: Durability) -> Result<SqliteStore, StoreError> {
        let conn = Connection::open(path).map_err(backend)?;
        Self::init(conn, durability)
    }

    /// A private in-memory database, for tests.
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        Self::init(Connection::open_in_memory().map_err(backend)?, Durability::Normal)
    }

    fn init(conn: Connection, durability: Durability) -> Result<SqliteStore, StoreError> {
        // Pages freed by delivered outbox rows can be handed back to the
        // file system ([`SqliteStore::reclaim_free_pages`]). Takes effect
        // only on a new database (before its first table); an older file
        // keeps its free pages for reuse, as before.
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL").map_err(backend)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(backend)?;
        let sync = match durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        };
        conn.pragma_update(None, "synchronous", sync).map_err(backend)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(backend)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(backend)?;
        conn.execute_batch(include_str!("schema.sql")).map_err(backend)?;
        conn.pragma_update(None, "user_version", 1).map_err(backend)?;
        record_functions(&conn)?;
        Ok(SqliteStore { db: group::Db::start(conn)?, outbox_notify: Arc::new(Notify::new()) })
    }

    /// Runs `f` with the connection on the database thread.
    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.db.read(f).await
    }

    /// Runs `f` in a transaction (shared with the writes that arrive with
    /// it, inside its own savepoint); keeps its changes if it returns Ok,
    /// and resolves once they are committed.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.db.write(f).await
    }

    /// The use cases on this store, with documents in `blobs`. (Every port
    /// of the one `Services` value; capabilities built from only the ports
    /// they need will replace it.)
    #[allow(clippy::too_many_arguments)]
    pub fn services(
        &self,
        blobs: Arc<dyn BlobStore>,
        batch_queue: Arc<dyn subsidy_core::payout::BatchQueue>,
        tree: Arc<subsidy_core::jurisdiction::JurisdictionTree>,
        clock: Arc<dyn Clock>,
        policy_id: &str,
        audit_key: subsidy_core::audit::AuditKey,
        anchors: Arc<dyn subsidy_core::audit::anchor::AnchorStore>,
    ) -> subsidy_core::Services {
        let s = Arc::new(self.clone());
        subsidy_core::Services::new(subsidy_core::service::Ports {
            audit_key: audit_key.into(),
            anchors,
            policies: s.clone(),
            companies: s.clone(),
            projects: s.clone(),
            applications: s.clone(),
            documents: s.clone(),
            exports: blobs.clone(),
            blobs,
            prechecks: s.clone(),
            idempotency: s.clone(),
            stats: s.clone(),
            payout: s.clone(),
            batch_queue,
            notices: s.clone(),
            eta: s.clone(),
            views: s.clone(),
            staff: s.clone(),
            staff_authority: s,
            clock,
            tree,
            policy_id: policy_id.to_string(),
            batch_step: Arc::new(BATCH_STEP.into()),
        })
    }

    /// Woken after each commit that added outbox rows.
    pub fn outbox_notify(&self) -> Arc<Notify> {
        self.outbox_notify.clone()
    }

    /// Every row of a table with `id` and `body`, a page at a time in id
    /// order (whole-store jobs). The cursor condition is only added when
    /// there is one, so each page seeks the primary key instead of walking
    /// it from the start.
    async fn scan_table<T: DeserializeOwned + Send + 'static>(
        &self,
        table: &'static str,
        page: &PageRequest,
    ) -> StoreResult<Page<T>> {
        let limit = limit_of(page);
        let after = page.cursor.as_deref().map(|c| decode_cursor(c, 1)).transpose()?.map(|mut v| v.remove(0));
        self.run(move |c| match after {
            Some(after) => {
                let sql = format!("SELECT body, id FROM {table} WHERE id > ?1 ORDER BY id LIMIT ?2");
                fetch_page(c, &sql, params![after, limit + 1], 1, limit)
            }
            None => {
                let sql = format!("SELECT body, id FROM {table} ORDER BY id LIMIT ?1");
                fetch_page(c, &sql, params![limit + 1], 1, limit)
            }
        })
        .await
    }

    /// Hands free pages back to the file system once there are at least
    /// `at_least` of them (delivered outbox rows leave them behind), by an
    /// incremental vacuum. Returns how many pages the file lost; 0 for a
    /// database created before auto-vacuum, whose free pages are reused.
    pub async fn reclaim_free_pages(&self, at_least: u64) -> Result<u64, StoreError> {
        self.run(move |c| {
            let count = |c: &Connection| c.query_row("PRAGMA page_count", [], |r| r.get::<_, i64>(0));
            let free: i64 = c.query_row("PRAGMA freelist_count", [], |r| r.get(0)).map_err(backend)?;
            if (free as u64) < at_least {
                return Ok(0);
            }
            let before = count(c).map_err(backend)?;
            // The pragma frees one page per step: run it to its end.
            let mut stmt = c.prepare("PRAGMA incremental_vacuum").map_err(backend)?;
            let mut rows = stmt.query([]).map_err(backend)?;
            while rows.next().map_err(backend)?.is_some() {}
            drop(rows);
            drop(stmt);
            Ok((before - count(c).map_err(backend)?).max(0) as u64)
        })
        .await
    }

    /// Folds the write-ahead log into the database file and empties it,
    /// for a clean stop: the file is then whole on its own, and shrinks by
    /// the pages an incremental vacuum gave back. Without it, a process
    /// that exits leaves the log for the next start to fold in (nothing
    /// is lost either way).
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        self.run(|c| {
            let busy: i64 = c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0)).map_err(backend)?;
            if busy != 0 { Err(backend("checkpoint: the database is busy")) } else { Ok(()) }
        })
        .await
    }

    /// For tests of tamper detection: runs raw SQL against the store.
    pub async fn execute_raw(&self, sql: &str) -> Result<usize, StoreError> {
        let sql = sql.to_string();
        self.run(move |c| c.execute(&sql, []).map_err(backend)).await
    }

    /// Counts rows of a table, for tests that check nothing was stored.
    pub async fn count(&self, table: &'static str) -> Result<u64, StoreError> {
        self.run(move |c| {
            c.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(backend)
        })
        .await
    }
}

fn insert_outbox(tx: &Transaction<'_>, change: &ChangeRecord, now: &str) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO outbox (application_id, body, created_at) VALUES (?1, ?2, ?3)",
        params![change.new.id, to_body(change)?, now],
    )
    .map_err(backend)?;
    Ok(())
}

/// An audit entry as its row stores it: without what the row already says
/// (its subject and sequence number are the key) or the chain does (its
/// `prevHash` is the entry before's `hash`); [`entry_of`] puts them back.
/// The MAC covers all three, so an entry moved to another row or chain, or
/// whose predecessor changed, still fails verification.
fn audit_body(e: &AuditEntry) -> Result<Vec<u8>, StoreError> {
    let mut v = serde_json::to_value(e).map_err(backend)?;
    if let Some(m) = v.as_object_mut() {
        for field in ["subject", "seq", "prevHash"] {
            m.remove(field);
        }
    }
    to_body(&v)
}

/// An audit row's entry: `prev` is the hash of the row before it in the
/// chain (the genesis hash for the first). Rows written before entries
/// were stored lean carry all three fields, and keep them.
fn entry_of(subject: &str, seq: i64, body: &[u8], prev: &str) -> Result<AuditEntry, StoreError> {
    let mut v: serde_json::Value = from_body(body)?;
    if let Some(m) = v.as_object_mut() {
        m.entry("subject").or_insert_with(|| subject.into());
        m.entry("seq").or_insert_with(|| seq.into());
        m.entry("prevHash").or_insert_with(|| prev.into());
    }
    serde_json::from_value(v).map_err(|e| StoreError::Backend(format!("corrupt record: {e}")))
}

fn insert_audit(tx: &Transaction<'_>, e: &AuditEntry) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO audit (application_id, seq, body) VALUES (?1, ?2, ?3)",
        params![e.subject, e.seq as i64, audit_body(e)?],
    )
    .map_err(|err| match err {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
            StoreError::VersionConflict { current: e.seq.saturating_sub(1) }
        }
        other => backend(other),
    })?;
    Ok(())
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

/// The record in the `body` column of the one row `sql` selects, if any.
fn one<T: DeserializeOwned>(c: &Connection, sql: &str, p: impl rusqlite::Params) -> Result<Option<T>, StoreError> {
    let body: Option<Stored> =
        c.prepare_cached(sql).map_err(backend)?.query_row(p, |r| r.get(0)).optional().map_err(backend)?;
    body.map(|b| from_body(&b.0)).transpose()
}

/// The records in the `body` column of every row `sql` selects.
fn all<T: DeserializeOwned>(c: &Connection, sql: &str, p: impl rusqlite::Params) -> Result<Vec<T>, StoreError> {
    let mut stmt = c.prepare_cached(sql).map_err(backend)?;
    let bodies = stmt
        .query_map(p, |r| r.get::<_, Stored>(0))
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend)?;
    bodies.iter().map(|b| from_body(&b.0)).collect()
}

/// One page: `sql` selects `body` then `keys` sort-key columns, and at most
/// `limit + 1` rows, so that a next page can be detected.
fn fetch_page<T: DeserializeOwned>(
    c: &Connection,
    sql: &str,
    p: impl rusqlite::Params,
    keys: usize,
    limit: u32,
) -> Result<Page<T>, StoreError> {
    let mut stmt = c.prepare_cached(sql).map_err(backend)?;
    let rows = stmt
        .query_map(p, |r| {
            Ok((r.get::<_, Stored>(0)?, (1..=keys).map(|i| r.get(i)).collect::<Result<Vec<String>, _>>()?))
        })
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend)?;
    page_of(rows, limit)
}

impl SqliteStore {
    async fn get_one<T: DeserializeOwned + Send + 'static>(
        &self,
        sql: &'static str,
        args: Vec<String>,
    ) -> StoreResult<Option<T>> {
        self.run(move |c| one(c, sql, rusqlite::params_from_iter(args))).await
    }

    async fn get_all<T: DeserializeOwned + Send + 'static>(
        &self,
        sql: &'static str,
        args: Vec<String>,
    ) -> StoreResult<Vec<T>> {
        self.run(move |c| all(c, sql, rusqlite::params_from_iter(args))).await
    }
}

#[async_trait]
impl PolicyStore for SqliteStore {
    async fn get_policy(&self, id: &str) -> StoreResult<Option<Policy>> {
        self.get_one("SELECT body FROM policies WHERE id = ?1", vec![id.into()]).await
    }

    async fn put_policy(&self, policy: &Policy) -> StoreResult<()> {
        let (id, body) = (policy.id.clone(), to_body(policy)?);
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO policies (id, body) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET body = excluded.body",
                params![id, body],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl CompanyStore for SqliteStore {
    async fn get_company(&self, id: &str) -> StoreResult<Option<Company>> {
        self.get_one("SELECT body FROM companies WHERE id = ?1", vec![id.into()]).await
    }

    async fn scan_companies(&self, page: &PageRequest) -> StoreResult<Page<Company>> {
        self.scan_table("companies", page).await
    }

    async fn company_of_owner(&self, owner: &str) -> StoreResult<Option<Company>> {
        self.get_one("SELECT body FROM companies WHERE owner = ?1", vec![owner.into()]).await
    }

    async fn create_company(&self, company: &Company, audit: &AuditEntry) -> StoreResult<()> {
        let c = company.clone();
        let audit = audit.clone();
        let body = to_body(&c)?;
        self.write(move |tx| {
            insert_audit(tx, &audit)?;
            let owner_taken: bool = tx
                .query_row("SELECT 1 FROM companies WHERE owner = ?1", [&c.owner], |_| Ok(true))
                .optional()
                .map_err(backend)?
                .unwrap_or(false);
            if owner_taken {
                return Err(StoreError::AlreadyExists);
            }
            tx.execute(
                "INSERT INTO companies (id, owner, credit_code, version, body) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![c.id, c.owner, c.profile.credit_code.as_str(), c.version as i64, body],
            )
            .map_err(|e| if is_unique_violation(&e) { StoreError::Unique("credit_code") } else { backend(e) })?;
            Ok(())
        })
        .await
    }

    async fn update_company(&self, company: &Company, expected_version: u64, audit: &AuditEntry) -> StoreResult<()> {
        let c = company.clone();
        let audit = audit.clone();
        let body = to_body(&c)?;
        self.write(move |tx| {
            let n = tx
                .execute(
                    "UPDATE companies SET credit_code = ?2, version = ?3, body = ?4 WHERE id = ?1 AND version = ?5",
                    params![c.id, c.profile.credit_code.as_str(), c.version as i64, body, expected_version as i64],
                )
                .map_err(|e| if is_unique_violation(&e) { StoreError::Unique("credit_code") } else { backend(e) })?;
            if n == 0 {
                return Err(current_version(tx, "companies", &c.id)?);
            }
            insert_audit(tx, &audit)?;
            Ok(())
        })
        .await
    }
}

/// The error for a conditional write that matched no row.
fn current_version(tx: &Transaction<'_>, table: &str, id: &str) -> Result<StoreError, StoreError> {
    let v: Option<i64> = tx
        .query_row(&format!("SELECT version FROM {table} WHERE id = ?1"), [id], |r| r.get(0))
        .optional()
        .map_err(backend)?;
    Ok(match v {
        Some(v) => StoreError::VersionConflict { current: v as u64 },
        None => StoreError::NotFound,
    })
}

#[async_trait]
impl ProjectStore for SqliteStore {
    async fn get_project(&self, id: &str) -> StoreResult<Option<Project>> {
        self.get_one("SELECT body FROM projects WHERE id = ?1", vec![id.into()]).await
    }

    async fn create_project(&self, project: &Project) -> StoreResult<()> {
        let p = project.clone();
        let body = to_body(&p)?;
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO projects (id, owner, community, name, version, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![p.id, p.owner, p.details.community, p.details.name.as_str(), p.version as i64, body],
            )
            .map_err(|e| if is_unique_violation(&e) { StoreError::AlreadyExists } else { backend(e) })?;
            Ok(())
        })
        .await
    }

    async fn update_project(&self, project: &Project, expected_version: u64) -> StoreResult<()> {
        let p = project.clone();
        let body = to_body(&p)?;
        self.write(move |tx| {
            let n = tx
                .execute(
                    "UPDATE projects SET community = ?2, name = ?3, version = ?4, body = ?5 WHERE id = ?1 AND version = ?6",
                    params![
                        p.id,
                        p.details.community,
                        p.details.name.as_str(),
                        p.version as i64,
                        body,
                        expected_version as i64
                    ],
                )
                .map_err(backend)?;
            if n == 0 {
                return Err(current_version(tx, "projects", &p.id)?);
            }
            Ok(())
        })
        .await
    }

    async fn projects_of_owner(&self, owner: &str, page: &PageRequest) -> StoreResult<Page<Project>> {
        let owner = owner.to_string();
        let limit = limit_of(page);
        let after = page.cursor.as_deref().map(|c| decode_cursor(c, 1)).transpose()?.map(|mut v| v.remove(0));
        self.run(move |c| {
            let sql =
                "SELECT body, id FROM projects WHERE owner = ?1 AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3";
            fetch_page(c, sql, params![owner, after, limit + 1], 1, limit)
        })
        .await
    }

    async fn projects_named(&self, community: &str, name: &str) -> StoreResult<Vec<Project>> {
        let sql = "SELECT body FROM projects WHERE community = ?1 AND name = ?2 ORDER BY id LIMIT 50";
        self.get_all(sql, vec![community.into(), name.into()]).await
    }
}

fn app_columns(a: &Application) -> Result<[rusqlite::types::Value; 13], StoreError> {
    use rusqlite::types::Value::*;
    Ok([
        Text(a.id.clone()),
        Text(a.policy_id.clone()),
        Text(a.project_id.clone()),
        Text(a.owner.clone()),
        Text(a.project.manager_phone.as_str().to_string()),
        Text(a.jurisdiction.city.clone()),
        Text(a.jurisdiction.district.clone()),
        Text(a.jurisdiction.subdistrict.clone()),
        Text(a.jurisdiction.community.clone()),
        Text(a.state.as_str().to_string()),
        Text(ts(&a.state_since)),
        Integer(a.version as i64),
        Blob(to_body(a)?),
    ])
}

/// Inside a transaction: the conditional update of an application, its
/// audit entry, what it does to its project's claim, and the outbox row.
/// Every change to an application goes through here.
pub(crate) fn write_application(
    tx: &Transaction<'_>,
    app: &Application,
    expected_version: u64,
    audit: &AuditEntry,
    claim: ClaimChange,
) -> Result<(), StoreError> {
    let old = get_app(tx, &app.id)?.ok_or(StoreError::NotFound)?;
    if old.version != expected_version {
        return Err(StoreError::VersionConflict { current: old.version });
    }
    if claim == ClaimChange::Take {
        let holder: Option<String> = tx
            .query_row(
                "SELECT application_id FROM claims WHERE policy_id = ?1 AND project_id = ?2",
                params![app.policy_id, app.claim()],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)?;
        match holder {
            Some(h) if h != app.id => return Err(StoreError::Claimed { application_id: h }),
            Some(_) => {}
            None => {
                tx.execute(
                    "INSERT INTO claims (policy_id, project_id, application_id) VALUES (?1, ?2, ?3)",
                    params![app.policy_id, app.claim(), app.id],
                )
                .map_err(backend)?;
            }
        }
    }
    let [id, policy_id, project_id, owner, phone, city, district, subdistrict, community, state, since, version, body] =
        app_columns(app)?;
    tx.execute(
        "UPDATE applications SET policy_id = ?2, project_id = ?3, owner = ?4, manager_phone = ?5, city = ?6, \
         district = ?7, subdistrict = ?8, community = ?9, state = ?10, state_since = ?11, version = ?12, \
         body = ?13 WHERE id = ?1 AND version = ?14",
        params![
            id,
            policy_id,
            project_id,
            owner,
            phone,
            city,
            district,
            subdistrict,
            community,
            state,
            since,
            version,
            body,
            expected_version as i64
        ],
    )
    .map_err(backend)?;
    if claim == ClaimChange::Release {
        tx.execute(
            "DELETE FROM claims WHERE policy_id = ?1 AND project_id = ?2 AND application_id = ?3",
            params![app.policy_id, app.claim(), app.id],
        )
        .map_err(backend)?;
    }
    insert_audit(tx, audit)?;
    insert_outbox(tx, &ChangeRecord { old: Some(old), new: app.clone() }, &ts(&app.updated_at))?;
    Ok(())
}

fn get_app(c: &Connection, id: &str) -> Result<Option<Application>, StoreError> {
    one(c, "SELECT body FROM applications WHERE id = ?1", [id])
}

/// The WHERE clause (with `?1` bound to the scope's value) for a scope.
fn scope_clause(scope: &Scope) -> (&'static str, String) {
    match scope {
        Scope::Owner(o) => ("owner = ?1", o.clone()),
        Scope::Manager(p) => ("manager_phone = ?1 AND state <> 'draft'", p.clone()),
        Scope::Unit { level, code } => (
            match level {
                Level::City => "city = ?1 AND state <> 'draft'",
                Level::District => "district = ?1 AND state <> 'draft'",
                Level::Subdistrict => "subdistrict = ?1 AND state <> 'draft'",
                Level::Community => "community = ?1 AND state <> 'draft'",
            },
            code.clone(),
        ),
    }
}

#[async_trait]
impl ApplicationStore for SqliteStore {
    async fn get_application(&self, id: &str) -> StoreResult<Option<Application>> {
        let id = id.to_string();
        self.run(move |c| get_app(c, &id)).await
    }

    async fn create_application(&self, app: &Application, audit: &AuditEntry) -> StoreResult<()> {
        let (app, audit) = (app.clone(), audit.clone());
        let cols = app_columns(&app)?;
        let notify = self.outbox_notify.clone();
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO applications (id, policy_id, project_id, owner, manager_phone, city, district, subdistrict, \
                 community, state, state_since, version, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                rusqlite::params_from_iter(cols),
            )
            .map_err(|e| if is_unique_violation(&e) { StoreError::AlreadyExists } else { backend(e) })?;
            insert_audit(tx, &audit)?;
            insert_outbox(tx, &ChangeRecord { old: None, new: app.clone() }, &ts(&app.updated_at))?;
            Ok(())
        })
        .await?;
        notify.notify_one();
        Ok(())
    }

    async fn update_application(
        &self,
        app: &Application,
        expected_version: u64,
        audit: &AuditEntry,
        claim: ClaimChange,
    ) -> StoreResult<()> {
        let (app, audit) = (app.clone(), audit.clone());
        let notify = self.outbox_notify.clone();
        self.write(move |tx| write_application(tx, &app, expected_version, &audit, claim)).await?;
        notify.notify_one();
        Ok(())
    }

    async fn claim_holder(&self, policy_id: &str, project_id: &str) -> StoreResult<Option<String>> {
        let (policy_id, project_id) = (policy_id.to_string(), project_id.to_string());
        self.run(move |c| {
            c.query_row(
                "SELECT application_id FROM claims WHERE policy_id = ?1 AND project_id = ?2",
                params![policy_id, project_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn list_applications(
        &self,
        scope: &Scope,
        filter: &ApplicationFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Application>> {
        let (clause, value) = scope_clause(scope);
        let state = filter.state.map(|s| s.as_str().to_string());
        let project = filter.project_id.clone();
        let limit = limit_of(page);
        let after = page.cursor.as_deref().map(|c| decode_cursor(c, 1)).transpose()?.map(|mut v| v.remove(0));
        self.run(move |c| {
            // Only the conditions that apply, each one an index can seek on
            // ("?2 IS NULL OR state = ?2" cannot be), so that a page walks
            // the unit's (level, id) index from the cursor down and stops at
            // the limit. A page cost 0.9 s at 91,000 applications in a
            // district when SQLite had to sort the unit's rows each time.
            let mut sql = format!("SELECT body, id FROM applications WHERE {clause}");
            let mut args: Vec<rusqlite::types::Value> = vec![value.into()];
            for (column, v) in [("state = ?", state), ("project_id = ?", project), ("id < ?", after)] {
                if let Some(v) = v {
                    args.push(v.into());
                    sql.push_str(&format!(" AND {column}{}", args.len()));
                }
            }
            args.push(i64::from(limit + 1).into());
            sql.push_str(&format!(" ORDER BY id DESC LIMIT ?{}", args.len()));
            fetch_page(c, &sql, rusqlite::params_from_iter(args), 1, limit)
        })
        .await
    }

    async fn inbox(&self, scope: &Scope, state: State, page: &PageRequest) -> StoreResult<Page<Application>> {
        let (clause, value) = scope_clause(scope);
        let limit = limit_of(page);
        let after = page.cursor.as_deref().map(|c| decode_cursor(c, 2)).transpose()?;
        let (after_since, after_id) = match after {
            Some(v) => (Some(v[0].clone()), Some(v[1].clone())),
            None => (None, None),
        };
        self.run(move |c| {
            let sql = format!(
                "SELECT body, state_since, id FROM applications WHERE {clause} AND state = ?2 \
                 AND (?3 IS NULL OR (state_since, id) > (?3, ?4)) ORDER BY state_since, id LIMIT ?5"
            );
            fetch_page(c, &sql, params![value, state.as_str(), after_since, after_id, limit + 1], 2, limit)
        })
        .await
    }

    async fn audit_trail(&self, application_id: &str) -> StoreResult<Vec<AuditEntry>> {
        let subject = application_id.to_string();
        self.run(move |c| {
            let mut stmt = c
                .prepare_cached("SELECT seq, body FROM audit WHERE application_id = ?1 ORDER BY seq")
                .map_err(backend)?;
            let rows = stmt
                .query_map([&subject], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Stored>(1)?)))
                .map_err(backend)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            let mut trail: Vec<AuditEntry> = Vec::with_capacity(rows.len());
            for (seq, body) in rows {
                let prev = trail.last().map_or(subsidy_core::audit::GENESIS, |e| e.hash.as_str());
                let e = entry_of(&subject, seq, &body.0, prev)?;
                trail.push(e);
            }
            Ok(trail)
        })
        .await
    }

    async fn scan_applications(&self, page: &PageRequest) -> StoreResult<Page<Application>> {
        self.scan_table("applications", page).await
    }

    async fn audit_heads_since(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> StoreResult<Vec<subsidy_core::audit::anchor::ChainHead>> {
        // Each chain's newest entry, kept when it is after `since`: stamps
        // in a chain do not go backwards by more than the caller's slack,
        // so a chain's newest entry is after `since` whenever an older one
        // is (the DynamoDB adapter keeps the same rule). One pass over the
        // primary key; only the heads kept are held in memory.
        self.run(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT a.application_id, a.seq, a.body FROM audit a JOIN (SELECT application_id, MAX(seq) AS seq FROM audit \
                     GROUP BY application_id) h ON a.application_id = h.application_id AND a.seq = h.seq",
                )
                .map_err(backend)?;
            let mut rows = stmt.query([]).map_err(backend)?;
            let mut heads = Vec::new();
            while let Some(row) = rows.next().map_err(backend)? {
                let (subject, seq): (String, i64) = (row.get(0).map_err(backend)?, row.get(1).map_err(backend)?);
                // A head's predecessor does not matter here (ChainHead is
                // subject, sequence and hash).
                let e = entry_of(&subject, seq, &row.get::<_, Stored>(2).map_err(backend)?.0, "")?;
                if since.is_none_or(|t| e.at > t) {
                    heads.push(subsidy_core::audit::anchor::ChainHead::of(&e));
                }
            }
            Ok(heads)
        })
        .await
    }
}

#[async_trait]
impl DocumentStore for SqliteStore {
    async fn create_document(&self, doc: &Document, audit: &AuditEntry) -> StoreResult<()> {
        let (app, id, body, audit) = (doc.application_id.clone(), doc.id.clone(), to_body(doc)?, audit.clone());
        self.write(move |tx| {
            tx.execute("INSERT INTO documents (application_id, id, body) VALUES (?1, ?2, ?3)", params![app, id, body])
                .map_err(|e| if is_unique_violation(&e) { StoreError::AlreadyExists } else { backend(e) })?;
            insert_audit(tx, &audit)
        })
        .await
    }

    async fn get_document(&self, application_id: &str, id: &str) -> StoreResult<Option<Document>> {
        let sql = "SELECT body FROM documents WHERE application_id = ?1 AND id = ?2";
        self.get_one(sql, vec![application_id.into(), id.into()]).await
    }

    async fn documents_of(&self, application_id: &str) -> StoreResult<Vec<Document>> {
        self.get_all("SELECT body FROM documents WHERE application_id = ?1 ORDER BY id", vec![application_id.into()])
            .await
    }

    async fn update_document(&self, doc: &Document, expected_seq: u64, audit: &AuditEntry) -> StoreResult<()> {
        let (doc, audit) = (doc.clone(), audit.clone());
        self.write(move |tx| {
            let stored: Document = one(
                tx,
                "SELECT body FROM documents WHERE application_id = ?1 AND id = ?2",
                params![doc.application_id, doc.id],
            )?
            .ok_or(StoreError::NotFound)?;
            if stored.audit_seq != expected_seq {
                return Err(StoreError::VersionConflict { current: stored.audit_seq });
            }
            tx.execute(
                "UPDATE documents SET body = ?3 WHERE application_id = ?1 AND id = ?2",
                params![doc.application_id, doc.id, to_body(&doc)?],
            )
            .map_err(backend)?;
            insert_audit(tx, &audit)
        })
        .await
    }
}

#[async_trait]
impl PrecheckStore for SqliteStore {
    async fn put_prechecks(&self, report: &PrecheckReport) -> StoreResult<()> {
        let (app, tier, body) = (report.application_id.clone(), report.tier.as_str(), to_body(report)?);
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO prechecks (application_id, tier, body) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (application_id, tier) DO UPDATE SET body = excluded.body",
                params![app, tier, body],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn prechecks_of(&self, application_id: &str) -> StoreResult<Vec<PrecheckReport>> {
        let mut reports: Vec<PrecheckReport> =
            self.get_all("SELECT body FROM prechecks WHERE application_id = ?1", vec![application_id.into()]).await?;
        reports.sort_by_key(|r| r.tier);
        Ok(reports)
    }
}

#[async_trait]
impl IdempotencyStore for SqliteStore {
    async fn begin(
        &self,
        key: &str,
        fingerprint: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Begin> {
        let (key, fp, now, lease) = (key.to_string(), fingerprint.to_string(), ts(&now), ts(&lease_until));
        self.write(move |tx| {
            let row: Option<(String, bool, String, Option<i64>, Option<String>)> = tx
                .query_row(
                    "SELECT fingerprint, running, lease_until, status, body FROM idempotency WHERE key = ?1",
                    [&key],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                )
                .optional()
                .map_err(backend)?;
            match row {
                None => {
                    tx.execute(
                        "INSERT INTO idempotency (key, fingerprint, running, lease_until) VALUES (?1, ?2, 1, ?3)",
                        params![key, fp, lease],
                    )
                    .map_err(backend)?;
                    Ok(Begin::Proceed)
                }
                Some((stored_fp, _, _, _, _)) if stored_fp != fp => Ok(Begin::Mismatch),
                Some((_, false, _, Some(status), Some(body))) => {
                    Ok(Begin::Replay(StoredResponse { status: status as u16, body }))
                }
                Some((_, _, lease_until, _, _)) if lease_until > now => Ok(Begin::InProgress),
                Some(_) => {
                    // The first attempt's lease ran out (it crashed): take over.
                    tx.execute(
                        "UPDATE idempotency SET running = 1, lease_until = ?2, status = NULL, body = NULL WHERE key = ?1",
                        params![key, lease],
                    )
                    .map_err(backend)?;
                    Ok(Begin::Proceed)
                }
            }
        })
        .await
    }

    async fn complete(&self, key: &str, response: &StoredResponse) -> StoreResult<()> {
        let (key, status, body) = (key.to_string(), response.status as i64, response.body.clone());
        self.write(move |tx| {
            tx.execute(
                "UPDATE idempotency SET running = 0, status = ?2, body = ?3 WHERE key = ?1",
                params![key, status, body],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn abort(&self, key: &str) -> StoreResult<()> {
        let key = key.to_string();
        self.write(move |tx| {
            tx.execute("DELETE FROM idempotency WHERE key = ?1 AND running = 1", [&key]).map_err(backend)?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod cursor_properties {
    use super::{decode_cursor, encode_cursor};
    use proptest::prelude::*;
    use subsidy_core::error::StoreError;

    proptest! {
        /// A cursor this store wrote reads back to its parts.
        #[test]
        fn an_encoded_cursor_decodes_to_its_parts(parts in proptest::collection::vec("\\PC{0,40}", 1..4)) {
            let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
            prop_assert_eq!(decode_cursor(&encode_cursor(&refs), parts.len()).unwrap(), parts);
        }

        /// Anything else a client sends is refused as a bad cursor, never
        /// a panic or another error.
        #[test]
        fn any_other_text_is_a_bad_cursor_or_a_cursor(text in "\\PC{0,80}", n in 1usize..4) {
            match decode_cursor(&text, n) {
                Ok(parts) => prop_assert_eq!(parts.len(), n),
                Err(e) => prop_assert_eq!(e, StoreError::BadCursor),
            }
        }

        /// The right encoding with the wrong number of parts is refused.
        #[test]
        fn a_cursor_of_another_shape_is_refused(parts in proptest::collection::vec("[a-z0-9]{1,10}", 1..4)) {
            let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
            prop_assert_eq!(decode_cursor(&encode_cursor(&refs), parts.len() + 1).unwrap_err(), StoreError::BadCursor);
        }
    }
}
