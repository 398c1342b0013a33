//! Proof documents: kinds, accepted content types, and content sniffing.
//!
//! A document's type is decided by its bytes, never by its name or by the
//! content type a client declares. Storage keys are derived from ids only,
//! so a file name can never choose where bytes land.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::fields::Text;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    /// 物业服务合同
    ServiceContract,
    /// 面积证明
    AreaProof,
    /// 其他材料
    Other,
}

impl DocumentKind {
    /// The API name: "service_contract", "area_proof", "other".
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::ServiceContract => "service_contract",
            DocumentKind::AreaProof => "area_proof",
            DocumentKind::Other => "other",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ContentType {
    #[serde(rename = "application/pdf")]
    Pdf,
    #[serde(rename = "image/jpeg")]
    Jpeg,
    #[serde(rename = "image/png")]
    Png,
}

impl ContentType {
    pub fn parse(s: &str) -> Option<ContentType> {
        match s.trim().to_ascii_lowercase().as_str() {
            "application/pdf" => Some(ContentType::Pdf),
            "image/jpeg" | "image/jpg" => Some(ContentType::Jpeg),
            "image/png" => Some(ContentType::Png),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ContentType::Pdf => "application/pdf",
            ContentType::Jpeg => "image/jpeg",
            ContentType::Png => "image/png",
        }
    }

    /// Identifies a file from its first bytes. [`SNIFF_LEN`] bytes suffice.
    pub fn sniff(head: &[u8]) -> Option<ContentType> {
        if head.starts_with(b"%PDF-") {
            Some(ContentType::Pdf)
        } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(ContentType::Jpeg)
        } else if head.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
            Some(ContentType::Png)
        } else {
            None
        }
    }
}

/// How many leading bytes [`ContentType::sniff`] needs.
pub const SNIFF_LEN: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentStatus {
    /// An upload URL was issued; no verified bytes yet.
    Pending,
    /// The bytes arrived and are of the declared type and size.
    Verified,
    /// The bytes arrived but were not what was declared; they were deleted.
    Refused,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    pub id: String,
    pub application_id: String,
    pub kind: DocumentKind,
    /// The name the client gave, for display only.
    pub file_name: Text,
    pub content_type: ContentType,
    pub size: u64,
    pub status: DocumentStatus,
    pub refusal: Option<String>,
    pub uploaded_by: String,
    pub created_at: DateTime<Utc>,
}

impl Document {
    /// The object key: derived from ids alone.
    pub fn storage_key(&self) -> String {
        storage_key(&self.application_id, &self.id)
    }
}

pub fn storage_key(application_id: &str, document_id: &str) -> String {
    format!("documents/{application_id}/{document_id}")
}

/// The ids inside a key made by [`storage_key`], or `None` for anything else.
pub fn parse_storage_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix("documents/")?;
    let (app, doc) = rest.split_once('/')?;
    let safe = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
    (safe(app) && safe(doc)).then_some((app, doc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing_uses_magic_bytes() {
        assert_eq!(ContentType::sniff(b"%PDF-1.7\n"), Some(ContentType::Pdf));
        assert_eq!(ContentType::sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]), Some(ContentType::Jpeg));
        assert_eq!(ContentType::sniff(b"\x89PNG\r\n\x1a\n...."), Some(ContentType::Png));
    }

    #[test]
    fn lookalikes_and_empty_files_are_not_recognised() {
        assert_eq!(ContentType::sniff(b""), None);
        assert_eq!(ContentType::sniff(b"PDF-1.7"), None);
        assert_eq!(ContentType::sniff(b" %PDF-1.7"), None, "leading junk is not a PDF");
        assert_eq!(ContentType::sniff(b"GIF89a"), None);
        assert_eq!(ContentType::sniff(b"MZ\x90\x00"), None);
        assert_eq!(ContentType::sniff(b"\x89PNG\r\n"), None, "truncated signature");
        assert_eq!(ContentType::sniff(b"<html>%PDF-"), None);
    }

    #[test]
    fn declared_content_types_are_an_allow_list() {
        assert_eq!(ContentType::parse("image/JPEG"), Some(ContentType::Jpeg));
        assert_eq!(ContentType::parse("image/gif"), None);
        assert_eq!(ContentType::parse("application/pdf; charset=x"), None);
        assert_eq!(ContentType::parse("text/html"), None);
    }

    #[test]
    fn storage_keys_round_trip_and_refuse_traversal() {
        let k = storage_key("01ABC", "01DEF");
        assert_eq!(parse_storage_key(&k), Some(("01ABC", "01DEF")));
        assert_eq!(parse_storage_key("documents/../etc/passwd"), None);
        assert_eq!(parse_storage_key("documents/a/b/c"), None);
        assert_eq!(parse_storage_key("other/a/b"), None);
        assert_eq!(parse_storage_key("documents//b"), None);
    }
}
