//! Documents: upload tickets, the content check when bytes arrive, the
//! version-pinned download, and removal (kept for the audit).

use crate::audit::{AuditEntry, Happened};
use chrono::{DateTime, Utc};
use std::sync::Arc;

use crate::application::Application;
use crate::application::state::State;
use crate::context::Context;
use crate::documents::views::{DocumentView, UploadTicket};
use crate::documents::{self, ContentType, Document, DocumentKind, DocumentStatus, SNIFF_LEN, Uploader};
use crate::documents::{
    DOWNLOAD_TTL, MAX_DOCUMENTS, MAX_OBJECTION_DOCUMENTS, MAX_RECOVERY_DOCUMENTS, UPLOAD_TTL, UploadInput,
};
use crate::error::{Error, StoreError};
use crate::identity::authz::require_role;
use crate::identity::{Actor, Role};
use crate::ports::*;

const KINDS: &str = "must be service_contract, area_proof, other, recovery_evidence or objection_evidence";

/// The document use cases.
#[derive(Clone)]
pub struct Documents {
    pub(crate) cx: Context,
    pub(crate) applications: Arc<dyn ApplicationStore>,
    pub(crate) documents: Arc<dyn DocumentStore>,
    pub(crate) blobs: Arc<dyn BlobStore>,
}

impl Documents {
    async fn visible_application(&self, actor: &Actor, id: &str) -> Result<Application, Error> {
        crate::identity::authz::visible(actor, self.applications.get_application(id).await?, &self.cx.tree)
    }

    /// Registers a document and returns where to upload its bytes.
    pub async fn request_upload(
        &self,
        actor: &Actor,
        application_id: &str,
        input: &UploadInput,
    ) -> Result<UploadTicket, Error> {
        let kind: DocumentKind = serde_json::from_value(serde_json::Value::String(input.kind.clone()))
            .map_err(|_| Error::invalid("kind", KINDS))?;
        let app = self.uploadable(actor, application_id, kind).await?;
        let policy = self.cx.policy_by_id(&app.policy_id).await?;
        let file_name = crate::documents::file_name(&input.file_name)?;
        let content_type = ContentType::parse(&input.content_type).ok_or(Error::UnsupportedDocumentType)?;
        if input.size == 0 {
            return Err(Error::invalid("size", "an empty file cannot be a document"));
        }
        if input.size > policy.max_document_bytes {
            return Err(Error::DocumentTooLarge { max: policy.max_document_bytes });
        }
        // Each uploader has a quota of their own: an objector cannot fill
        // the company's, nor the company an objector's. A file the content
        // check refused takes no place in the evidence quotas: neither the
        // objector nor the reviewer can remove it.
        let existing = self.documents.documents_of(&app.id).await?;
        let counts = |d: &&Document| {
            d.is_current() && (kind.uploader() == Uploader::Company || d.status != DocumentStatus::Refused)
        };
        let current = existing.iter().filter(counts);
        let (held, max) = match kind.uploader() {
            Uploader::Company => (current.filter(|d| d.kind.uploader() == Uploader::Company).count(), MAX_DOCUMENTS),
            Uploader::DistrictReviewer => {
                (current.filter(|d| d.kind == DocumentKind::RecoveryEvidence).count(), MAX_RECOVERY_DOCUMENTS)
            }
            // Per notice: one published again after an upheld objection
            // starts a new count.
            Uploader::Objector => (
                current
                    .filter(|d| d.kind == DocumentKind::ObjectionEvidence && d.uploaded_by == actor.user_id)
                    .filter(|d| app.notice.as_ref().is_some_and(|n| d.created_at >= n.starts_at))
                    .count(),
                MAX_OBJECTION_DOCUMENTS,
            ),
        };
        if held >= max {
            return Err(Error::invalid("documents", format!("at most {max} documents of this kind")));
        }
        let doc = Document {
            id: ulid::Ulid::new().to_string(),
            application_id: app.id.clone(),
            kind,
            file_name,
            content_type,
            size: input.size,
            status: DocumentStatus::Pending,
            refusal: None,
            uploaded_by: actor.user_id.clone(),
            created_at: self.cx.now(),
            checked_version: None,
            audit_seq: 0,
            audit_head: crate::audit::GENESIS.to_string(),
        };
        let comment = format!("{} {} ({} 字节)", doc.kind.as_str(), doc.file_name, doc.size);
        let (doc, audit) = document_step(
            self.cx.audit_key.get().await?,
            doc,
            actor,
            "upload_document",
            None,
            Some(comment),
            self.cx.now(),
        );
        self.documents.create_document(&doc, &audit).await?;
        let upload = self.blobs.presign_put(&doc.storage_key(), content_type.as_str(), doc.size, UPLOAD_TTL).await?;
        Ok(UploadTicket { document: DocumentView::of(&doc), upload })
    }

    /// The application a document of `kind` may be attached to by `actor`
    /// now: the company's to its own draft or returned application; a
    /// district reviewer's recovery evidence to a paid one in their
    /// jurisdiction; an objector's evidence to an application on public
    /// notice they objected to, inside the window. Anyone else: 404.
    async fn uploadable(&self, actor: &Actor, id: &str, kind: DocumentKind) -> Result<Application, Error> {
        match kind.uploader() {
            Uploader::Company => {
                require_role(actor, Role::Company)?;
                let app = self.visible_application(actor, id).await?;
                if !matches!(app.state, State::Draft | State::Returned) {
                    return Err(Error::WrongState { state: app.state.as_str(), action: "add documents to" });
                }
                Ok(app)
            }
            Uploader::DistrictReviewer => {
                require_role(actor, Role::District)?;
                let app = self.visible_application(actor, id).await?;
                if app.state != State::Paid {
                    return Err(Error::WrongState { state: app.state.as_str(), action: "add recovery evidence to" });
                }
                Ok(app)
            }
            Uploader::Objector => {
                // The objector need not see the application: only their
                // own objection to its notice lets them attach to it.
                let app = self.applications.get_application(id).await?.ok_or(Error::NotFound("application"))?;
                let notice = app.notice.as_ref().filter(|n| n.objections.iter().any(|o| o.by == actor.user_id));
                if notice.is_none() || actor.role == Role::Admin {
                    return Err(Error::NotFound("application"));
                }
                app.notice_open(self.cx.now())?;
                Ok(app)
            }
        }
    }

    /// Verifies bytes that arrived at `key`: the size must be the declared
    /// size and the magic bytes the declared type. Otherwise the bytes are
    /// deleted and the document marked refused, with the reason. Idempotent;
    /// an S3 event (AWS) or the local upload endpoint (standalone) calls it.
    pub async fn document_arrived(&self, key: &str) -> Result<Option<Document>, Error> {
        let Some((app_id, doc_id)) = documents::parse_storage_key(key) else {
            return Ok(None);
        };
        let Some(mut doc) = self.documents.get_document(app_id, doc_id).await? else {
            // Bytes without metadata: nobody asked for this upload.
            self.blobs.delete(key).await?;
            return Ok(None);
        };
        if doc.status != DocumentStatus::Pending {
            return Ok(Some(doc));
        }
        let head = self.blobs.head(key, SNIFF_LEN).await?.ok_or(Error::NotFound("document content"))?;
        let refusal = if head.size != doc.size {
            Some(format!("文件大小 {} 字节与申报的 {} 字节不符", head.size, doc.size))
        } else {
            match ContentType::sniff(&head.head) {
                Some(t) if t == doc.content_type => None,
                Some(t) => Some(format!("文件内容是 {}，与申报的 {} 不符", t.as_str(), doc.content_type.as_str())),
                None => Some("文件内容不是 PDF、JPEG 或 PNG".to_string()),
            }
        };
        let status = if refusal.is_some() { DocumentStatus::Refused } else { DocumentStatus::Verified };
        if refusal.is_some() {
            self.blobs.delete(key).await?;
        } else {
            // The bytes just checked are the only ones ever served: a write
            // under the key afterwards changes nothing a reviewer opens.
            doc.checked_version = Some(self.blobs.pin(key).await?.ok_or(Error::NotFound("document content"))?);
        }
        let from = doc.status.as_str();
        let expected = doc.audit_seq;
        doc.status = status;
        doc.refusal = refusal.clone();
        let comment = refusal.or_else(|| doc.checked_version.as_ref().map(|v| format!("内容已核验 {v}")));
        let (doc, audit) = document_step(
            self.cx.audit_key.get().await?,
            doc,
            &Actor::system(),
            "check_document",
            Some(from),
            comment,
            self.cx.now(),
        );
        match self.documents.update_document(&doc, expected, &audit).await {
            Ok(()) => Ok(Some(doc)),
            // Checked by another delivery meanwhile: its outcome stands.
            Err(StoreError::VersionConflict { .. }) => Ok(self.documents.get_document(app_id, doc_id).await?),
            Err(e) => Err(e.into()),
        }
    }

    /// A short-lived download URL, for the owning company and for staff who
    /// review in this jurisdiction; the district's finance, who confirm a
    /// recovery, open its evidence (追回依据) and nothing else.
    pub async fn document_download(
        &self,
        actor: &Actor,
        application_id: &str,
        document_id: &str,
    ) -> Result<PresignedRequest, Error> {
        if actor.role == Role::ProjectManager {
            return Err(Error::NotFound("document"));
        }
        self.visible_application(actor, application_id).await?;
        let doc = self.documents.get_document(application_id, document_id).await?.ok_or(Error::NotFound("document"))?;
        let readable = match actor.role {
            Role::Company => doc.kind.shown_to_company(),
            Role::Finance => doc.kind == DocumentKind::RecoveryEvidence,
            _ => true,
        };
        if doc.status != DocumentStatus::Verified || !readable {
            return Err(Error::NotFound("document"));
        }
        // Exactly the bytes the check read (a document checked before
        // versions were kept is served as it is stored).
        Ok(self.blobs.presign_get(&doc.storage_key(), doc.checked_version.as_deref(), DOWNLOAD_TTL).await?)
    }

    pub async fn delete_document(&self, actor: &Actor, application_id: &str, document_id: &str) -> Result<(), Error> {
        require_role(actor, Role::Company)?;
        let app = self.visible_application(actor, application_id).await?;
        let doc = self
            .documents
            .get_document(application_id, document_id)
            .await?
            .filter(Document::is_current)
            // The company removes its own kinds only: never a recovery's
            // or an objector's evidence.
            .filter(|d| d.kind.uploader() == Uploader::Company)
            .ok_or(Error::NotFound("document"))?;
        if !matches!(app.state, State::Draft | State::Returned) {
            return Err(Error::WrongState { state: app.state.as_str(), action: "remove documents from" });
        }
        // Removed from the application, not from the record: the document,
        // its trail and its checked bytes stay for the audit.
        let (from, expected) = (doc.status.as_str(), doc.audit_seq);
        let comment = format!("{} {}", doc.kind.as_str(), doc.file_name);
        let gone = Document { status: DocumentStatus::Deleted, ..doc };
        let (gone, audit) = document_step(
            self.cx.audit_key.get().await?,
            gone,
            actor,
            "delete_document",
            Some(from),
            Some(comment),
            self.cx.now(),
        );
        self.documents.update_document(&gone, expected, &audit).await?;
        Ok(())
    }
}

/// The next entry of a document's own chain, and the document with its head.
pub(crate) fn document_step(
    key: &crate::audit::AuditKey,
    mut doc: Document,
    actor: &Actor,
    action: &str,
    from: Option<&str>,
    comment: Option<String>,
    now: DateTime<Utc>,
) -> (Document, AuditEntry) {
    let to = doc.status.as_str();
    let audit = crate::audit::append(key, &mut doc, Happened { at: now, actor, action, from, to, comment });
    (doc, audit)
}
