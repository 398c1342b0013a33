//! The filesystem blob store: the standalone stand-in for S3.
//!
//! It issues "presigned" URLs the way S3 does: a URL carrying a signed grant
//! (HS256) that fixes the operation, the key, and for uploads the content
//! type and exact length. The standalone server's blob endpoint checks the
//! grant and moves the bytes; this type only signs, verifies and stores.
//! Keys come only from grants this store signed, and are checked again
//! before they touch a path.
//!
//! Like the versioned S3 bucket, it never serves other bytes than a check
//! read: [`BlobStore::pin`] copies the bytes under a key to a
//! content-addressed object (`objects/sha256/{hex}`) and returns its hash,
//! and a GET of that version serves the copy. An upload grant stores bytes
//! once ([`FsBlobStore::write_new`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use subsidy_core::error::StoreError;
use subsidy_core::ports::{BlobHead, BlobStore, PresignedRequest, StoreResult};
use tokio::io::AsyncReadExt;

use crate::jwt::{Hs256, TokenError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobOp {
    Put,
    Get,
}

/// What a blob URL allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobGrant {
    pub op: BlobOp,
    pub key: String,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub size: Option<u64>,
}

#[derive(Clone)]
pub struct FsBlobStore {
    root: PathBuf,
    base_url: String,
    keys: Hs256,
}

/// A key is safe when it is relative, has only plain segments, and only
/// ASCII letters, digits, '-', '_' and '.' inside segments.
fn safe_key(key: &str) -> bool {
    !key.is_empty()
        && key.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        })
}

/// Where a pinned version's bytes are kept: named by their hash.
fn object_key(version: &str) -> Result<String, StoreError> {
    match version.strip_prefix("sha256:") {
        Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(format!("objects/sha256/{hex}"))
        }
        _ => Err(StoreError::Backend(format!("not a version of this store: {version:?}"))),
    }
}

impl FsBlobStore {
    /// `base_url` is where the server serves `/blobs/{token}`.
    pub fn new(root: &Path, base_url: &str, secret: &[u8]) -> FsBlobStore {
        FsBlobStore {
            root: root.to_path_buf(),
            base_url: base_url.trim_end_matches('/').to_string(),
            keys: Hs256::new(secret, "subsidy-standalone", "subsidy-blobs"),
        }
    }

    fn path_of(&self, key: &str) -> Result<PathBuf, StoreError> {
        if !safe_key(key) {
            return Err(StoreError::Backend(format!("unsafe blob key {key:?}")));
        }
        Ok(self.root.join(key))
    }

    fn presign(
        &self,
        grant: &BlobGrant,
        ttl: Duration,
        method: &str,
        headers: Vec<(String, String)>,
    ) -> PresignedRequest {
        let now = Utc::now();
        let token = self.keys.sign(grant, now.timestamp(), ttl.as_secs() as i64);
        PresignedRequest {
            method: method.to_string(),
            url: format!("{}/blobs/{token}", self.base_url),
            headers,
            expires_at: now + chrono::Duration::from_std(ttl).unwrap_or_default(),
        }
    }

    /// Checks a token from a blob URL and returns what it allows.
    pub fn verify(&self, token: &str) -> Result<BlobGrant, TokenError> {
        let grant: BlobGrant = self.keys.verify(token)?;
        if !safe_key(&grant.key) {
            return Err(TokenError::Invalid("unsafe key".into()));
        }
        Ok(grant)
    }

    /// Stores bytes atomically: a temporary file, fsync, then rename, so a
    /// crash leaves either the old state or the whole new file.
    pub async fn write(&self, key: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.path_of(key)?;
        let dir = path.parent().expect("keys have a parent").to_path_buf();
        let tmp = dir.join(format!(".{}.tmp", ulid::Ulid::new()));
        let bytes = bytes.to_vec();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            use std::io::Write;
            std::fs::create_dir_all(&dir)?;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            std::fs::File::open(&dir)?.sync_all()?;
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))?
        .map_err(|e| StoreError::Backend(e.to_string()))
    }

    /// [`Self::write`], but only if nothing is stored under `key` yet
    /// (`AlreadyExists` otherwise): what an upload URL allows, once.
    pub async fn write_new(&self, key: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.path_of(key)?;
        let dir = path.parent().expect("keys have a parent").to_path_buf();
        let tmp = dir.join(format!(".{}.tmp", ulid::Ulid::new()));
        let bytes = bytes.to_vec();
        tokio::task::spawn_blocking(move || -> Result<(), StoreError> {
            use std::io::Write;
            let io = |e: std::io::Error| StoreError::Backend(e.to_string());
            std::fs::create_dir_all(&dir).map_err(io)?;
            let mut f = std::fs::File::create(&tmp).map_err(io)?;
            f.write_all(&bytes).map_err(io)?;
            f.sync_all().map_err(io)?;
            // A hard link fails if the name exists: the first upload wins.
            let linked = std::fs::hard_link(&tmp, &path);
            std::fs::remove_file(&tmp).map_err(io)?;
            match linked {
                Ok(()) => std::fs::File::open(&dir).and_then(|d| d.sync_all()).map_err(io),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(StoreError::AlreadyExists),
                Err(e) => Err(io(e)),
            }
        })
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))?
    }

    pub async fn read(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match tokio::fs::read(self.path_of(key)?).await {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::Backend(e.to_string())),
        }
    }
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        ttl: Duration,
    ) -> StoreResult<PresignedRequest> {
        self.path_of(key)?;
        let grant = BlobGrant {
            op: BlobOp::Put,
            key: key.to_string(),
            content_type: Some(content_type.to_string()),
            size: Some(size),
        };
        let headers = vec![
            ("Content-Type".to_string(), content_type.to_string()),
            ("Content-Length".to_string(), size.to_string()),
        ];
        Ok(self.presign(&grant, ttl, "PUT", headers))
    }

    async fn presign_get(&self, key: &str, version: Option<&str>, ttl: Duration) -> StoreResult<PresignedRequest> {
        self.path_of(key)?;
        let key = match version {
            Some(v) => object_key(v)?,
            None => key.to_string(),
        };
        let grant = BlobGrant { op: BlobOp::Get, key, content_type: None, size: None };
        Ok(self.presign(&grant, ttl, "GET", Vec::new()))
    }

    async fn pin(&self, key: &str) -> StoreResult<Option<String>> {
        let Some(bytes) = self.read(key).await? else {
            return Ok(None);
        };
        let version = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes)));
        let object = object_key(&version)?;
        if self.read(&object).await?.is_none() {
            self.write(&object, &bytes).await?;
        }
        Ok(Some(version))
    }

    async fn head(&self, key: &str, n: usize) -> StoreResult<Option<BlobHead>> {
        let path = self.path_of(key)?;
        let mut f = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::Backend(e.to_string())),
        };
        let size = f.metadata().await.map_err(|e| StoreError::Backend(e.to_string()))?.len();
        let mut head = Vec::with_capacity(n);
        (&mut f).take(n as u64).read_to_end(&mut head).await.map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok(Some(BlobHead { size, head }))
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, _content_type: &str) -> StoreResult<()> {
        self.write(key, &bytes).await
    }

    async fn put_file(&self, key: &str, source: &Path, _content_type: &str) -> StoreResult<()> {
        let path = self.path_of(key)?;
        let dir = path.parent().expect("keys have a parent").to_path_buf();
        let tmp = dir.join(format!(".{}.tmp", ulid::Ulid::new()));
        let source = source.to_path_buf();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            std::fs::copy(&source, &tmp)?;
            std::fs::File::open(&tmp)?.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            std::fs::File::open(&dir)?.sync_all()?;
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))?
        .map_err(|e| StoreError::Backend(e.to_string()))
    }

    async fn delete(&self, key: &str) -> StoreResult<()> {
        match tokio::fs::remove_file(self.path_of(key)?).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::Backend(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &Path) -> FsBlobStore {
        FsBlobStore::new(dir, "http://127.0.0.1:1", b"0123456789abcdef0123456789abcdef")
    }

    #[tokio::test]
    async fn a_presigned_put_carries_a_grant_that_fixes_type_and_length() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let req = s.presign_put("documents/A/D", "image/png", 123, Duration::from_secs(60)).await.unwrap();
        assert_eq!(req.method, "PUT");
        let token = req.url.rsplit('/').next().unwrap();
        let g = s.verify(token).unwrap();
        assert_eq!(
            g,
            BlobGrant {
                op: BlobOp::Put,
                key: "documents/A/D".into(),
                content_type: Some("image/png".into()),
                size: Some(123)
            }
        );
        assert!(s.verify(&format!("{token}x")).is_err(), "a tampered token is refused");
    }

    #[tokio::test]
    async fn bytes_round_trip_and_head_reports_size_and_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        s.write("documents/A/D", b"%PDF-1.7 hello").await.unwrap();
        let h = s.head("documents/A/D", 5).await.unwrap().unwrap();
        assert_eq!((h.size, h.head.as_slice()), (14, &b"%PDF-"[..]));
        s.delete("documents/A/D").await.unwrap();
        assert_eq!(s.head("documents/A/D", 5).await.unwrap(), None);
        s.delete("documents/A/D").await.unwrap();
    }

    #[tokio::test]
    async fn keys_that_could_escape_the_root_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        for bad in ["../x", "documents/../../etc/passwd", "/etc/passwd", "a//b", "a/./b", "", "a/b c", "a\\b"] {
            assert!(s.write(bad, b"x").await.is_err(), "{bad}");
            assert!(s.presign_get(bad, None, Duration::from_secs(1)).await.is_err(), "{bad}");
        }
    }
}
