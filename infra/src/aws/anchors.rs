//! Anchors on S3: one object per anchor (`anchors/{n:010}.json`) in a
//! bucket under Object Lock in compliance mode. The bucket's default
//! retention locks every object version as it is written: nobody, the
//! account's root included, can overwrite or delete it until the retention
//! ends. A put is conditional (`If-None-Match: *`), so a second writer of
//! the same number fails instead of adding a version.

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ChecksumAlgorithm;
use subsidy_core::audit::anchor::{Anchor, AnchorStore};
use subsidy_core::error::StoreError;
use subsidy_core::ports::StoreResult;

const PREFIX: &str = "anchors/";

#[derive(Clone)]
pub struct S3Anchors {
    client: Client,
    bucket: String,
}

use super::s3::backend;

/// The object key of anchor `n`: zero-padded, so keys sort by number.
pub fn anchor_key(n: u64) -> String {
    format!("{PREFIX}{n:010}.json")
}

impl S3Anchors {
    pub fn new(client: Client, bucket: impl Into<String>) -> S3Anchors {
        S3Anchors { client, bucket: bucket.into() }
    }

    /// Every version of every anchor object, by key and then oldest first.
    /// The anchor is a key's first version: a later one (a PUT without the
    /// condition, by someone with the function's role) cannot remove it,
    /// since Object Lock keeps every version, and is returned after it so
    /// that the check reports an anchor written twice.
    async fn versions(&self) -> StoreResult<Vec<(String, String)>> {
        let mut found = Vec::new();
        let (mut key_marker, mut version_marker) = (None, None);
        loop {
            let page = self
                .client
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(PREFIX)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(backend)?;
            for v in page.versions() {
                if let (Some(k), Some(id)) = (v.key(), v.version_id()) {
                    let at = v.last_modified().map(|t| (t.secs(), t.subsec_nanos())).unwrap_or_default();
                    // S3 lists a key's versions newest first: within one
                    // modification time, a later place in the listing is older.
                    let listed = found.len();
                    found.push((
                        k.to_string(),
                        at,
                        v.is_latest() == Some(true),
                        std::cmp::Reverse(listed),
                        id.to_string(),
                    ));
                }
            }
            if page.is_truncated() != Some(true) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_string);
            version_marker = page.next_version_id_marker().map(str::to_string);
        }
        // Oldest first within a key: by time, then the latest version last
        // (times are whole seconds on some stores), then listing order.
        found.sort();
        Ok(found.into_iter().map(|(k, _, _, _, id)| (k, id)).collect())
    }

    async fn read(&self, key: &str, version: &str) -> StoreResult<Anchor> {
        let got =
            self.client.get_object().bucket(&self.bucket).key(key).version_id(version).send().await.map_err(backend)?;
        let bytes = got.body.collect().await.map_err(backend)?.into_bytes();
        serde_json::from_slice(&bytes).map_err(|e| StoreError::Backend(format!("anchor {key} unreadable: {e}")))
    }
}

#[async_trait]
impl AnchorStore for S3Anchors {
    async fn last(&self) -> StoreResult<Option<Anchor>> {
        let versions = self.versions().await?;
        let Some((last_key, _)) = versions.last() else { return Ok(None) };
        let (key, first) = versions.iter().find(|(k, _)| k == last_key).expect("the last key is listed");
        Ok(Some(self.read(key, first).await?))
    }

    async fn all(&self) -> StoreResult<Vec<Anchor>> {
        let mut out = Vec::new();
        for (k, version) in self.versions().await? {
            out.push(self.read(&k, &version).await?);
        }
        Ok(out)
    }

    async fn append(&self, anchor: &Anchor) -> StoreResult<()> {
        let body = serde_json::to_vec(anchor).map_err(backend)?;
        let put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(anchor_key(anchor.n))
            .content_type("application/json")
            // Object Lock needs an integrity checksum on every put.
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .if_none_match("*")
            .body(ByteStream::from(body))
            .send()
            .await;
        match put {
            Ok(_) => Ok(()),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 412 || r.status().as_u16() == 409) => {
                Err(StoreError::AlreadyExists)
            }
            Err(e) => Err(backend(e)),
        }
    }
}
