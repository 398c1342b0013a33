//! HS256 tokens for the standalone mode: dev-login access tokens, and the
//! signed grants inside local "presigned" blob URLs.
//!
//! In the cloud, API Gateway's JWT authorizer verifies the identity
//! platform's tokens and this module's verifier is not used. Standalone
//! verifies its own tokens with the same rules: one algorithm, issuer,
//! audience, expiry and not-before, all required.

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Issuer and audience of standalone tokens.
pub const STANDALONE_ISSUER: &str = "subsidy-standalone";
pub const STANDALONE_AUDIENCE: &str = "subsidy-api";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is invalid: {0}")]
    Invalid(String),
}

/// One HMAC key with a fixed issuer and audience.
#[derive(Clone)]
pub struct Hs256 {
    encoding: EncodingKey,
    decoding: DecodingKey,
    issuer: String,
    audience: String,
}

impl Hs256 {
    pub fn new(secret: &[u8], issuer: &str, audience: &str) -> Hs256 {
        Hs256 {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            issuer: issuer.to_string(),
            audience: audience.to_string(),
        }
    }

    /// The same key under another issuer and audience (tests of tokens a
    /// server must refuse although their signature is right).
    pub fn renamed(&self, issuer: &str, audience: &str) -> Hs256 {
        Hs256 { issuer: issuer.to_string(), audience: audience.to_string(), ..self.clone() }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Signs `claims` after adding `iss`, `aud`, `iat`, `nbf` and `exp`.
    pub fn sign<T: Serialize>(&self, claims: &T, now: i64, ttl_secs: i64) -> String {
        let mut v = serde_json::to_value(claims).expect("claims serialize");
        let obj = v.as_object_mut().expect("claims are an object");
        obj.insert("iss".into(), self.issuer.clone().into());
        obj.insert("aud".into(), self.audience.clone().into());
        obj.insert("iat".into(), now.into());
        obj.insert("nbf".into(), now.into());
        obj.insert("exp".into(), (now + ttl_secs).into());
        encode(&Header::new(Algorithm::HS256), &v, &self.encoding).expect("HS256 signing cannot fail")
    }

    /// Verifies signature, algorithm, issuer, audience, `exp` and `nbf`.
    pub fn verify<T: DeserializeOwned>(&self, token: &str) -> Result<T, TokenError> {
        let mut v = Validation::new(Algorithm::HS256);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.audience]);
        v.set_required_spec_claims(&["exp", "nbf", "iss", "aud"]);
        v.validate_nbf = true;
        v.leeway = 5;
        decode::<T>(token, &self.decoding, &v).map(|d| d.claims).map_err(|e| TokenError::Invalid(e.to_string()))
    }

    /// Verifies a token and flattens its claims to strings, the way API
    /// Gateway's JWT authorizer presents them to a function.
    pub fn verify_claims(&self, token: &str) -> Result<HashMap<String, String>, TokenError> {
        Ok(flatten(self.verify(token)?))
    }
}

/// Claims as API Gateway's JWT authorizer presents them to a function:
/// strings as they are, anything else as its JSON text (`true`, `3`,
/// `["a","b"]`). Every verifier flattens this way, so handlers cannot tell
/// which one ran.
pub fn flatten(claims: serde_json::Map<String, serde_json::Value>) -> HashMap<String, String> {
    claims
        .into_iter()
        .map(|(k, v)| {
            let s = match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            (k, s)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys() -> Hs256 {
        Hs256::new(b"0123456789abcdef0123456789abcdef", "iss-a", "aud-a")
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    #[test]
    fn a_signed_token_verifies_and_its_claims_flatten_to_strings() {
        let t = keys().sign(&json!({"sub": "u1", "role": "company", "n": 3}), now(), 60);
        let c = keys().verify_claims(&t).unwrap();
        assert_eq!(c["sub"], "u1");
        assert_eq!(c["n"], "3");
        assert_eq!(c["iss"], "iss-a");
    }

    #[test]
    fn expired_future_foreign_and_unsigned_tokens_are_refused() {
        let k = keys();
        let expired = k.sign(&json!({"sub": "u"}), now() - 3600, 60);
        assert!(k.verify_claims(&expired).is_err());
        let future = k.sign(&json!({"sub": "u"}), now() + 3600, 60);
        assert!(k.verify_claims(&future).is_err(), "not yet valid");
        let other_key =
            Hs256::new(b"another-secret-another-secret-xx", "iss-a", "aud-a").sign(&json!({"sub": "u"}), now(), 60);
        assert!(k.verify_claims(&other_key).is_err());
        let wrong_aud =
            Hs256::new(b"0123456789abcdef0123456789abcdef", "iss-a", "aud-b").sign(&json!({"sub": "u"}), now(), 60);
        assert!(k.verify_claims(&wrong_aud).is_err());
        let wrong_iss =
            Hs256::new(b"0123456789abcdef0123456789abcdef", "iss-b", "aud-a").sign(&json!({"sub": "u"}), now(), 60);
        assert!(k.verify_claims(&wrong_iss).is_err());
        // alg: none, with the payload of a valid token.
        let valid = k.sign(&json!({"sub": "u", "role": "city"}), now(), 60);
        let payload = valid.split('.').nth(1).unwrap();
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert!(k.verify_claims(&none).is_err());
        assert!(k.verify_claims("garbage").is_err());
    }

    proptest::proptest! {
        /// Any text that is not a token this key signed is refused, without
        /// a panic: random text, and a signed token with one character
        /// changed anywhere (header, claims or signature).
        #[test]
        fn only_the_untouched_signed_token_verifies(
            junk in "[A-Za-z0-9._=-]{0,80}",
            at in proptest::num::usize::ANY,
            to in "[A-Za-z0-9_-]",
        ) {
            let k = keys();
            proptest::prop_assert!(k.verify_claims(&junk).is_err());
            let t = k.sign(&json!({"sub": "u1", "role": "company"}), now(), 60);
            let at = at % t.len();
            let mut tampered = t.clone();
            tampered.replace_range(at..=at, &to);
            // Base64url's last character of a part can carry unused bits:
            // a change there may decode to the same bytes, and is the token.
            let same_bytes = |a: &str, b: &str| {
                use base64::Engine;
                let d = |s: &str| s.split('.').map(|p| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).ok()).collect::<Vec<_>>();
                d(a) == d(b)
            };
            if tampered != t && !same_bytes(&tampered, &t) {
                proptest::prop_assert!(k.verify_claims(&tampered).is_err(), "{tampered}");
            }
        }
    }
}
