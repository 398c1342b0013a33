//! The SMS gateway test double: a local HTTP server that takes what the
//! standalone `HttpGateway` (or the AWS stack's sender) posts, checks the
//! signature as a real gateway would, and records every message it
//! accepted, duplicates included, so a test can count them. It can be told
//! to fail the next requests, to exercise retries.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use subsidy_infra::sms_http::{SIGNATURE_HEADER, TIMESTAMP_HEADER, signature};

/// One message the double accepted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Received {
    pub id: String,
    pub to: String,
    pub text: String,
}

pub struct SmsDouble {
    pub url: String,
    pub secret: String,
    received: Mutex<Vec<Received>>,
    refused: AtomicU32,
    fail_next: AtomicU32,
}

impl SmsDouble {
    pub async fn start() -> Arc<SmsDouble> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let double = Arc::new(SmsDouble {
            url: format!("http://{}/sms", listener.local_addr().unwrap()),
            secret: "sms-double-shared-secret".into(),
            received: Mutex::default(),
            refused: AtomicU32::new(0),
            fail_next: AtomicU32::new(0),
        });
        let me = double.clone();
        let app = axum::Router::new().route(
            "/sms",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let me = me.clone();
                async move { me.take(&headers, &body) }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.expect("the SMS double serves") });
        double
    }

    fn take(&self, headers: &HeaderMap, body: &[u8]) -> StatusCode {
        let header = |h: &str| headers.get(h).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        if header(SIGNATURE_HEADER) != signature(self.secret.as_bytes(), &header(TIMESTAMP_HEADER), body) {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return StatusCode::UNAUTHORIZED;
        }
        if self.fail_next.load(Ordering::SeqCst) > 0 {
            self.fail_next.fetch_sub(1, Ordering::SeqCst);
            return StatusCode::SERVICE_UNAVAILABLE;
        }
        match serde_json::from_slice::<Received>(body) {
            Ok(m) => {
                self.received.lock().unwrap().push(m);
                StatusCode::OK
            }
            Err(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// Every message accepted so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Requests refused for a bad signature.
    pub fn refused(&self) -> u32 {
        self.refused.load(Ordering::SeqCst)
    }

    /// Answers 503 to the next `n` signed requests.
    pub fn fail_next(&self, n: u32) {
        self.fail_next.store(n, Ordering::SeqCst);
    }
}
