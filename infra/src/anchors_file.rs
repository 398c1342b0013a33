//! Anchors in an append-only file (standalone): one JSON line per anchor.
//!
//! The file is opened for appending only and never rewritten. Keep it apart
//! from the database's writer: on another volume or host mount, and, on
//! Linux, marked append-only (`chattr +a`, which even the file's owner
//! cannot undo without root), so that whoever can change the database
//! cannot also change what was anchored. Each anchor names the digest of the
//! one before it and carries a MAC, so a line removed or edited shows as a
//! break in the anchors' own chain.
//!
//! A line cut short by a crash is skipped when read (the next anchor
//! continues from the last whole one), and the next append starts on a new
//! line.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use subsidy_core::audit::anchor::{Anchor, AnchorStore};
use subsidy_core::error::StoreError;
use subsidy_core::ports::StoreResult;

pub struct FileAnchors {
    path: PathBuf,
    /// One append at a time within the process.
    lock: tokio::sync::Mutex<()>,
}

fn io(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Backend(format!("anchors file {}: {e}", path.display()))
}

/// Every whole anchor in the file, in file order.
fn read_all(path: &Path) -> StoreResult<Vec<Anchor>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(path, e)),
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        match serde_json::from_str::<Anchor>(line) {
            Ok(a) => out.push(a),
            // A line cut short, or damaged: the anchors' chain shows the gap.
            Err(e) => tracing::warn!(file = %path.display(), line = i + 1, error = %e, "anchor line unreadable"),
        }
    }
    Ok(out)
}

impl FileAnchors {
    pub fn new(path: impl Into<PathBuf>) -> FileAnchors {
        FileAnchors { path: path.into(), lock: tokio::sync::Mutex::new(()) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[async_trait]
impl AnchorStore for FileAnchors {
    async fn last(&self) -> StoreResult<Option<Anchor>> {
        Ok(self.all().await?.pop())
    }

    async fn all(&self) -> StoreResult<Vec<Anchor>> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || read_all(&path)).await.map_err(|e| StoreError::Backend(e.to_string()))?
    }

    async fn append(&self, anchor: &Anchor) -> StoreResult<()> {
        let _one = self.lock.lock().await;
        let (path, anchor) = (self.path.clone(), anchor.clone());
        tokio::task::spawn_blocking(move || {
            if read_all(&path)?.last().is_some_and(|l| l.n >= anchor.n) {
                return Err(StoreError::AlreadyExists);
            }
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| io(&path, e))?;
            }
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .read(true)
                .open(&path)
                .map_err(|e| io(&path, e))?;
            let mut line = Vec::new();
            // After a line cut short by a crash, start on a new line.
            let len = f.metadata().map_err(|e| io(&path, e))?.len();
            if len > 0 {
                let mut last = [0u8; 1];
                f.seek(SeekFrom::Start(len - 1)).and_then(|_| f.read_exact(&mut last)).map_err(|e| io(&path, e))?;
                if last[0] != b'\n' {
                    line.push(b'\n');
                }
            }
            serde_json::to_writer(&mut line, &anchor).map_err(|e| StoreError::Backend(e.to_string()))?;
            line.push(b'\n');
            f.write_all(&line).and_then(|()| f.sync_all()).map_err(|e| io(&path, e))
        })
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use subsidy_core::audit::AuditKey;
    use subsidy_core::audit::anchor::ChainHead;

    fn anchor(prev: Option<&Anchor>, day: u32) -> Anchor {
        let at = Utc.with_ymd_and_hms(2026, 1, day, 2, 0, 0).unwrap();
        let heads = vec![ChainHead { subject: format!("app-{day}"), seq: 1, hash: "ab".repeat(32) }];
        Anchor::next(&AuditKey::for_tests(), prev, at, heads)
    }

    #[tokio::test]
    async fn appends_in_order_and_refuses_a_number_already_there() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileAnchors::new(dir.path().join("sub/anchors.jsonl"));
        assert_eq!(store.last().await.unwrap(), None);
        let a1 = anchor(None, 1);
        store.append(&a1).await.unwrap();
        let a2 = anchor(Some(&a1), 2);
        store.append(&a2).await.unwrap();
        assert_eq!(store.all().await.unwrap(), vec![a1.clone(), a2.clone()]);
        assert_eq!(store.last().await.unwrap(), Some(a2.clone()));
        // A second writer of anchor 2 (or an older one) changes nothing.
        let rival = anchor(Some(&a1), 3);
        assert_eq!(store.append(&rival).await, Err(StoreError::AlreadyExists));
        assert_eq!(store.append(&a1).await, Err(StoreError::AlreadyExists));
        assert_eq!(store.all().await.unwrap(), vec![a1, a2]);
    }

    #[tokio::test]
    async fn a_line_cut_short_is_skipped_and_the_next_anchor_starts_a_new_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("anchors.jsonl");
        let store = FileAnchors::new(&path);
        let a1 = anchor(None, 1);
        store.append(&a1).await.unwrap();
        // A crash mid-write leaves half a line.
        let a2 = anchor(Some(&a1), 2);
        let half = serde_json::to_string(&a2).unwrap();
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(&half.as_bytes()[..40]).unwrap();
        assert_eq!(store.all().await.unwrap(), vec![a1.clone()]);
        store.append(&a2).await.unwrap();
        assert_eq!(store.all().await.unwrap(), vec![a1, a2]);
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 3);
    }
}
