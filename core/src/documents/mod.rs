//! **Capability: documents.** Owns document records, their own audit
//! chains and the bytes' store keys; the use cases are
//! [`service::Documents`]. It reads applications (visibility, state) and
//! never changes them.
//!
//! Proof documents: kinds, accepted content types, and content sniffing.
//!
//! A document's type is decided by its bytes, never by its name or by the
//! content type a client declares. Storage keys are derived from ids only,
//! so a file name can never choose where bytes land.

pub mod service;
pub mod views;

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
    /// 追回依据: what a district reviewer attaches to a recovery (追回).
    RecoveryEvidence,
    /// 异议材料: what an objector attaches to their objection (异议) to a
    /// public notice. Shown to staff only, never to the company.
    ObjectionEvidence,
}

/// Who may attach a kind of document, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uploader {
    /// The company, to its draft or returned application.
    Company,
    /// A district reviewer, to a paid application (a recovery's evidence).
    DistrictReviewer,
    /// Whoever objected to the application's public notice, inside its window.
    Objector,
}

impl DocumentKind {
    /// The API name: "service_contract", "area_proof", "other",
    /// "recovery_evidence", "objection_evidence".
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::ServiceContract => "service_contract",
            DocumentKind::AreaProof => "area_proof",
            DocumentKind::Other => "other",
            DocumentKind::RecoveryEvidence => "recovery_evidence",
            DocumentKind::ObjectionEvidence => "objection_evidence",
        }
    }

    pub fn uploader(self) -> Uploader {
        match self {
            DocumentKind::ServiceContract | DocumentKind::AreaProof | DocumentKind::Other => Uploader::Company,
            DocumentKind::RecoveryEvidence => Uploader::DistrictReviewer,
            DocumentKind::ObjectionEvidence => Uploader::Objector,
        }
    }

    /// Whether the company (and its project manager) may see documents of
    /// this kind: all but an objector's, which could name them.
    pub fn shown_to_company(self) -> bool {
        self != DocumentKind::ObjectionEvidence
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
    /// The company removed it (from a draft or a returned application). The
    /// record, its trail and its checked bytes are kept.
    Deleted,
}

impl DocumentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentStatus::Pending => "pending",
            DocumentStatus::Verified => "verified",
            DocumentStatus::Refused => "refused",
            DocumentStatus::Deleted => "deleted",
        }
    }
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
    /// The version of the bytes the check read and verified (S3's version
    /// id, or the local store's content hash): the only bytes ever served.
    #[serde(default)]
    pub checked_version: Option<String>,
    /// Head of the document's own audit chain (upload, check, delete),
    /// subject [`Document::audit_subject`]. 0 and empty for a document from
    /// before documents were audited.
    #[serde(default)]
    pub audit_seq: u64,
    #[serde(default)]
    pub audit_head: String,
}

impl Document {
    /// The object key: derived from ids alone.
    pub fn storage_key(&self) -> String {
        storage_key(&self.application_id, &self.id)
    }

    /// The subject of the document's audit chain.
    pub fn audit_subject(&self) -> String {
        audit_subject(&self.application_id, &self.id)
    }

    /// Whether the company still has it on the application.
    pub fn is_current(&self) -> bool {
        self.status != DocumentStatus::Deleted
    }
}

/// See [`Document::audit_subject`].
pub fn audit_subject(application_id: &str, document_id: &str) -> String {
    format!("document:{application_id}:{document_id}")
}

pub fn storage_key(application_id: &str, document_id: &str) -> String {
    format!("documents/{application_id}/{document_id}")
}

/// A document's name as the client gave it, for display only: at most 200
/// characters, no folders (`/`, `\\`), no leading dot, and none of the
/// control, bidi or zero-width characters [`Text`] refuses.
pub fn file_name(input: &str) -> Result<Text, crate::error::Error> {
    let name = crate::fields::text("fileName", input, 200)?;
    if name.as_str().contains(['/', '\\']) || name.as_str().starts_with('.') {
        return Err(crate::error::Error::invalid("fileName", "must be a plain file name without folders"));
    }
    Ok(name)
}

/// The ids inside a key made by [`storage_key`], or `None` for anything else.
pub fn parse_storage_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix("documents/")?;
    let (app, doc) = rest.split_once('/')?;
    let safe = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
    (safe(app) && safe(doc)).then_some((app, doc))
}

crate::audit::chained!(Document, |d| Document::audit_subject(d));

/// How long an upload or download URL stays valid.
pub const UPLOAD_TTL: std::time::Duration = std::time::Duration::from_secs(15 * 60);
pub const DOWNLOAD_TTL: std::time::Duration = std::time::Duration::from_secs(5 * 60);
/// At most this many documents per application.
pub const MAX_DOCUMENTS: usize = 20;
/// At most this many documents of a recovery's evidence per application.
pub const MAX_RECOVERY_DOCUMENTS: usize = 10;
/// At most this many documents per objector and application.
pub const MAX_OBJECTION_DOCUMENTS: usize = 5;

/// Raw body of an upload request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UploadInput {
    pub kind: String,
    pub file_name: String,
    pub content_type: String,
    pub size: u64,
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

    proptest::proptest! {
        #[test]
        fn sniffing_any_bytes_names_a_type_only_by_its_signature(head in proptest::collection::vec(proptest::num::u8::ANY, 0..16)) {
            let expected = if head.starts_with(b"%PDF-") {
                Some(ContentType::Pdf)
            } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
                Some(ContentType::Jpeg)
            } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
                Some(ContentType::Png)
            } else {
                None
            };
            proptest::prop_assert_eq!(ContentType::sniff(&head), expected);
        }

        #[test]
        fn a_storage_key_parses_only_if_it_is_the_key_of_its_ids(key in "(documents/)?[A-Za-z0-9./\\-]{0,12}(/[A-Za-z0-9.]{0,6})?") {
            if let Some((app, doc)) = parse_storage_key(&key) {
                proptest::prop_assert_eq!(storage_key(app, doc), key.clone());
                proptest::prop_assert!(!app.contains('.') && !doc.contains('.'));
            }
        }

        #[test]
        fn an_accepted_file_name_has_no_folder_no_leading_dot_and_nothing_invisible(
            name in "[a-z./\\\\\u{0}\n\u{200B}\u{202E}\u{FEFF} 合同]{0,12}",
        ) {
            if let Ok(n) = file_name(&name) {
                let n = n.as_str();
                proptest::prop_assert!(!n.is_empty() && n.chars().count() <= 200);
                proptest::prop_assert!(!n.contains(['/', '\\']) && !n.starts_with('.'));
                let invisible = |c: char| c.is_control() || matches!(c, '\u{200B}' | '\u{202E}' | '\u{FEFF}');
                proptest::prop_assert!(!n.chars().any(invisible));
            }
        }
    }

    #[test]
    fn file_names_are_plain_and_visible() {
        assert_eq!(file_name(" 合同.pdf ").unwrap().as_str(), "合同.pdf");
        for bad in ["../../etc/passwd", "..", "a\\b.pdf", ".hidden", "合同\u{202E}fdp.exe", "a\u{0}b", "", " "] {
            assert!(file_name(bad).is_err(), "{bad:?}");
        }
        assert!(file_name(&"名".repeat(201)).is_err());
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
