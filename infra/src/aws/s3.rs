//! Documents on S3: presigned PUT and GET, and the first bytes for the
//! content check.
//!
//! aws-sdk-rust has no presigned POST, so uploads are presigned PUTs whose
//! signature covers `content-type`, `content-length` and `if-none-match: *`:
//! S3 refuses the upload if the client sends another type or length than it
//! declared, and refuses a second PUT to the key (412), so an upload URL
//! stores bytes once. The bucket is versioned: the version a document check
//! read is recorded ([`BlobStore::pin`]) and downloads serve that version
//! only, whatever is written under the key later.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::presigning::PresigningConfig;
use chrono::Utc;
use subsidy_core::error::StoreError;
use subsidy_core::ports::{BlobHead, BlobStore, PresignedRequest, StoreResult};

#[derive(Clone)]
pub struct S3Blobs {
    client: Client,
    bucket: String,
}

pub(crate) fn backend(e: impl std::fmt::Debug) -> StoreError {
    StoreError::Backend(format!("s3: {e:?}"))
}

fn presigned(req: aws_sdk_s3::presigning::PresignedRequest, ttl: Duration) -> PresignedRequest {
    PresignedRequest {
        method: req.method().to_string(),
        url: req.uri().to_string(),
        headers: req.headers().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        expires_at: Utc::now() + chrono::Duration::from_std(ttl).unwrap_or_default(),
    }
}

impl S3Blobs {
    pub fn new(client: Client, bucket: impl Into<String>) -> S3Blobs {
        S3Blobs { client, bucket: bucket.into() }
    }
}

#[async_trait]
impl BlobStore for S3Blobs {
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        ttl: Duration,
    ) -> StoreResult<PresignedRequest> {
        let config = PresigningConfig::expires_in(ttl).map_err(backend)?;
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(size as i64)
            .if_none_match("*")
            .presigned(config)
            .await
            .map_err(backend)?;
        let mut out = presigned(req, ttl);
        if !out.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("if-none-match")) {
            out.headers.push(("if-none-match".into(), "*".into()));
        }
        // The browser sets Content-Length itself; say it anyway so clients know.
        if !out.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-length")) {
            out.headers.push(("content-length".into(), size.to_string()));
        }
        Ok(out)
    }

    async fn presign_get(&self, key: &str, version: Option<&str>, ttl: Duration) -> StoreResult<PresignedRequest> {
        let config = PresigningConfig::expires_in(ttl).map_err(backend)?;
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .set_version_id(version.map(str::to_string))
            .presigned(config)
            .await
            .map_err(backend)?;
        Ok(presigned(req, ttl))
    }

    async fn pin(&self, key: &str) -> StoreResult<Option<String>> {
        match self.client.head_object().bucket(&self.bucket).key(key).send().await {
            // An unversioned bucket's objects have the version "null".
            Ok(h) => Ok(Some(h.version_id().unwrap_or("null").to_string())),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_not_found()) => Ok(None),
            Err(e) => Err(backend(e)),
        }
    }

    async fn head(&self, key: &str, n: usize) -> StoreResult<Option<BlobHead>> {
        let head = match self.client.head_object().bucket(&self.bucket).key(key).send().await {
            Ok(h) => h,
            Err(e) if e.as_service_error().is_some_and(|se| se.is_not_found()) => return Ok(None),
            Err(e) => return Err(backend(e)),
        };
        let size = head.content_length().unwrap_or(0).max(0) as u64;
        if size == 0 || n == 0 {
            return Ok(Some(BlobHead { size, head: Vec::new() }));
        }
        // The first bytes of the very version whose size was read.
        let got = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .set_version_id(head.version_id().map(str::to_string))
            .range(format!("bytes=0-{}", n - 1))
            .send()
            .await
            .map_err(backend)?;
        let bytes = got.body.collect().await.map_err(backend)?.into_bytes();
        Ok(Some(BlobHead { size, head: bytes[..bytes.len().min(n)].to_vec() }))
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> StoreResult<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(bytes.into())
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn put_file(&self, key: &str, path: &std::path::Path, content_type: &str) -> StoreResult<()> {
        let body = aws_sdk_s3::primitives::ByteStream::from_path(path).await.map_err(backend)?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(body)
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> StoreResult<()> {
        self.client.delete_object().bucket(&self.bucket).key(key).send().await.map_err(backend)?;
        Ok(())
    }
}
