//! What callers see of a document, and the ticket an upload is made with.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::documents::{ContentType, Document, DocumentKind, DocumentStatus};
use crate::ports::PresignedRequest;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentView {
    pub id: String,
    pub kind: DocumentKind,
    pub file_name: String,
    pub content_type: ContentType,
    pub size: u64,
    pub status: DocumentStatus,
    pub refusal: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl DocumentView {
    pub fn of(d: &Document) -> DocumentView {
        DocumentView {
            id: d.id.clone(),
            kind: d.kind,
            file_name: d.file_name.to_string(),
            content_type: d.content_type,
            size: d.size,
            status: d.status,
            refusal: d.refusal.clone(),
            created_at: d.created_at,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadTicket {
    pub document: DocumentView,
    /// Send the file's bytes with exactly this method, URL and headers.
    pub upload: PresignedRequest,
}
