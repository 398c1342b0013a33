//! The local blob endpoint: what S3 does for presigned URLs, on the local
//! filesystem. `PUT /blobs/{token}` stores bytes if the request matches the
//! signed grant exactly (content type and length) and nothing was stored
//! under the key yet (409 `already_uploaded`). A document's key then goes
//! to the same document-arrival consumer an S3 event would trigger; an
//! upload to the exports store (a bank's results file, imported by its id
//! afterwards) is only stored, as S3 would store it.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use subsidy_api::ApiError;
use subsidy_core::documents::{ContentType, DocumentStatus};
use subsidy_core::{Error, Services};
use subsidy_infra::fs::{BlobOp, FsBlobStore};

#[derive(Clone)]
pub struct Blobs {
    pub store: Arc<FsBlobStore>,
    pub services: Arc<Services>,
}

fn forbidden(code: &'static str, message: &str) -> Response {
    (StatusCode::FORBIDDEN, Json(json!({"error": {"code": code, "message": message}}))).into_response()
}

pub async fn put(State(b): State<Blobs>, Path(token): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(grant) = b.store.verify(&token) else {
        return forbidden("invalid_signature", "the upload URL is invalid or has expired; request a new one");
    };
    if grant.op != BlobOp::Put {
        return forbidden("invalid_signature", "this URL does not allow uploads");
    }
    // A document type in its canonical spelling (`image/jpg` is JPEG);
    // any other type exactly as signed, as S3 compares it.
    let sent_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|t| ContentType::parse(t).map_or_else(|| t.to_string(), |c| c.as_str().to_string()));
    if sent_type.is_none() || sent_type != grant.content_type {
        return forbidden("signature_mismatch", "Content-Type must be exactly the type declared for this upload");
    }
    if Some(body.len() as u64) != grant.size {
        return forbidden("signature_mismatch", "the body length must be exactly the size declared for this upload");
    }
    // One successful PUT per upload, as S3 with If-None-Match: * — bytes
    // once checked are never replaced under their key.
    match b.store.write_new(&grant.key, &body).await {
        Ok(()) => {}
        Err(subsidy_core::StoreError::AlreadyExists) => {
            let body = json!({"error": {"code": "already_uploaded",
                "message": "these bytes were already uploaded; request a new upload URL for another file"}});
            return (StatusCode::CONFLICT, Json(body)).into_response();
        }
        Err(e) => return ApiError::Core(e.into()).into_response(),
    }
    if grant.key.starts_with("exports/") {
        return StatusCode::OK.into_response();
    }
    match submission::document_arrived(&b.services.documents, &grant.key).await {
        Ok(Some(doc)) if doc.status == DocumentStatus::Verified => {
            (StatusCode::OK, Json(json!({"documentId": doc.id, "status": "verified"}))).into_response()
        }
        Ok(Some(doc)) => {
            ApiError::Core(Error::DocumentRefused(doc.refusal.unwrap_or_else(|| "文件被拒绝".into()))).into_response()
        }
        Ok(None) => forbidden("invalid_signature", "this upload is no longer expected"),
        Err(e) => ApiError::Core(e).into_response(),
    }
}

pub async fn get(State(b): State<Blobs>, Path(token): Path<String>) -> Response {
    let grant = match b.store.verify(&token) {
        Ok(g) if g.op == BlobOp::Get => g,
        _ => return forbidden("invalid_signature", "the download URL is invalid or has expired"),
    };
    match b.store.read(&grant.key).await {
        Ok(Some(bytes)) => {
            let ct = ContentType::sniff(&bytes).map(|t| t.as_str()).unwrap_or("application/octet-stream");
            ([(header::CONTENT_TYPE, ct), (header::X_CONTENT_TYPE_OPTIONS, "nosniff")], bytes).into_response()
        }
        Ok(None) => ApiError::Core(Error::NotFound("document")).into_response(),
        Err(e) => ApiError::Core(e.into()).into_response(),
    }
}
