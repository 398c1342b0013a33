//! The yardstick: the least an HTTP endpoint backed by SQLite can do. One
//! axum route that parses a small JSON body and inserts one row, on one
//! connection behind a mutex on a blocking thread, in WAL mode with the
//! same `synchronous` setting as the server: the shape of the real store,
//! without any of its work. Submit throughput is reported as a ratio of it,
//! which holds on a noisy machine where absolute figures do not.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use rusqlite::Connection;
use subsidy_infra::sqlite::Durability;

#[derive(serde::Deserialize)]
struct Row {
    id: String,
    version: u64,
}

type Db = Arc<Mutex<Connection>>;

/// Serves `POST /insert` until the process ends; prints `Baseline: <url>`.
pub async fn serve(db_path: &Path, addr: SocketAddr, durability: Durability) -> anyhow::Result<()> {
    let conn = Connection::open(db_path).with_context(|| format!("opening {}", db_path.display()))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", if durability == Durability::Full { "FULL" } else { "NORMAL" })?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS rows (id TEXT NOT NULL, version INTEGER NOT NULL, at TEXT NOT NULL)",
    )?;
    let db: Db = Arc::new(Mutex::new(conn));
    let app = axum::Router::new().route("/insert", post(insert)).with_state(db);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("Baseline: http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

async fn insert(State(db): State<Db>, Json(row): Json<Row>) -> Result<Json<serde_json::Value>, StatusCode> {
    tokio::task::spawn_blocking(move || {
        let conn = db.lock().map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
        conn.execute(
            "INSERT INTO rows (id, version, at) VALUES (?1, ?2, datetime('now'))",
            rusqlite::params![row.id, row.version as i64],
        )
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
        Ok(Json(serde_json::json!({"id": row.id, "version": row.version + 1})))
    })
    .await
    .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
}
