//! SMS through an HTTP gateway: most Chinese SMS providers take a signed
//! HTTP request. The standalone deployment's [`Notifier`] when a gateway is
//! configured (`serve --sms-gateway-url`, `SUBSIDY_SMS_GATEWAY_SECRET`).
//!
//! The request: `POST {url}` with a JSON body `{"id", "to", "text"}`, a
//! `X-Sms-Timestamp` header (Unix seconds) and `X-Sms-Signature`: the hex
//! HMAC-SHA-256, keyed with the shared secret, of `{timestamp}\n{body}`.
//! Any 2xx is sent; anything else (or no answer in 10 s) is a failure the
//! sender retries. `id` is the notice's: a gateway may de-duplicate on it.

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subsidy_core::notify::sms::{Notifier, SmsMessage};

pub const SIGNATURE_HEADER: &str = "x-sms-signature";
pub const TIMESTAMP_HEADER: &str = "x-sms-timestamp";

pub struct HttpGateway {
    client: reqwest::Client,
    url: String,
    secret: Vec<u8>,
}

impl HttpGateway {
    pub fn new(url: impl Into<String>, secret: impl Into<Vec<u8>>) -> HttpGateway {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .expect("an HTTP client with a timeout builds");
        HttpGateway { client, url: url.into(), secret: secret.into() }
    }
}

/// The signature of a request: hex HMAC-SHA-256 of `{timestamp}\n{body}`.
pub fn signature(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b"\n");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[async_trait]
impl Notifier for HttpGateway {
    async fn send(&self, message: &SmsMessage) -> Result<(), String> {
        let body = serde_json::to_vec(&serde_json::json!({
            "id": message.id, "to": message.to.as_str(), "text": message.text,
        }))
        .map_err(|e| e.to_string())?;
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let answer = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, &timestamp)
            .header(SIGNATURE_HEADER, signature(&self.secret, &timestamp, &body))
            .body(body)
            .send()
            .await
            // The error names the URL, never the number (it is in the body).
            .map_err(|e| format!("the SMS gateway did not answer: {}", e.without_url()))?;
        if answer.status().is_success() { Ok(()) } else { Err(format!("the SMS gateway answered {}", answer.status())) }
    }
}
