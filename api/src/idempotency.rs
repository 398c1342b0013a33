//! `Idempotency-Key` on mutations: a retry with the same key returns the
//! first response and never acts twice.
//!
//! The key is scoped to the caller (`sub`). The first request with a key
//! takes a lease on it, runs, and stores its response; a retry with the same
//! method, path and body replays that response. A retry while the first is
//! still running gets 409; the same key on a different request gets 422. A
//! 5xx is not stored, so a retry after a fault runs again. If the process
//! dies mid-request the lease expires and a retry runs again; the versioned
//! writes underneath make that safe for every state change.

use axum::body::Body as AxumBody;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subsidy_core::Error;
use subsidy_core::ports::{Begin, StoredResponse};

use crate::error::ApiError;
use crate::extract::{Gate, claims_of};

/// The largest request body a keyed request may carry: a posted results
/// file is the largest mutation. Larger files are uploaded, not posted.
pub const MAX_KEYED_BODY: usize = subsidy_core::payout::MAX_POSTED_RESULT_FILE;

pub const HEADER: &str = "idempotency-key";
/// How long a running request holds its key.
pub const LEASE: chrono::Duration = chrono::Duration::seconds(60);
/// Responses larger than this are not kept (none of ours are).
const MAX_STORED_RESPONSE: usize = 1024 * 1024;

pub async fn layer(State(state): State<Gate>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let Some(raw_key) = req.headers().get(HEADER) else {
        return next.run(req).await;
    };
    let key = match raw_key.to_str() {
        Ok(k) if (1..=200).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()) => k.to_string(),
        _ => {
            return ApiError::bad_request(
                "invalid_header",
                "Idempotency-Key must be 1 to 200 visible ASCII characters",
                Some("Idempotency-Key".into()),
            )
            .into_response();
        }
    };
    // Without an identity the handler answers 401; nothing to remember.
    let Some(sub) = claims_of(req.extensions()).and_then(|c| c.get("sub")).cloned() else {
        return next.run(req).await;
    };

    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_KEYED_BODY).await {
        Ok(b) => b,
        Err(_) => return ApiError::BodyTooLarge { limit: MAX_KEYED_BODY }.into_response(),
    };
    let mut h = Sha256::new();
    h.update(parts.method.as_str());
    h.update([0]);
    h.update(parts.uri.path());
    h.update([0]);
    h.update(parts.uri.query().unwrap_or(""));
    h.update([0]);
    h.update(&bytes);
    let fingerprint = hex::encode(h.finalize());
    let scoped = format!("{sub}\u{1f}{key}");

    let now = state.now();
    match state.idempotency.begin(&scoped, &fingerprint, now, now + LEASE).await {
        Err(e) => return ApiError::Core(e.into()).into_response(),
        Ok(Begin::Replay(stored)) => return replay(stored),
        Ok(Begin::InProgress) => return ApiError::Core(Error::IdempotencyInProgress).into_response(),
        Ok(Begin::Mismatch) => return ApiError::Core(Error::IdempotencyKeyReused).into_response(),
        Ok(Begin::Proceed) => {}
    }

    let response = next.run(Request::from_parts(parts, AxumBody::from(bytes))).await;
    let (rparts, rbody) = response.into_parts();
    let rbytes = match axum::body::to_bytes(rbody, MAX_STORED_RESPONSE).await {
        Ok(b) => b,
        Err(e) => {
            let _ = state.idempotency.abort(&scoped).await;
            return ApiError::Core(Error::internal(format!("response body: {e}"))).into_response();
        }
    };
    let outcome = if rparts.status.is_server_error() {
        state.idempotency.abort(&scoped).await
    } else {
        let stored =
            StoredResponse { status: rparts.status.as_u16(), body: String::from_utf8_lossy(&rbytes).into_owned() };
        state.idempotency.complete(&scoped, &stored).await
    };
    if let Err(e) = outcome {
        tracing::error!(error.cause = %e, "could not record idempotency outcome");
    }
    Response::from_parts(rparts, AxumBody::from(rbytes))
}

fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut r = (status, stored.body).into_response();
    r.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    r
}
