//! Verifying an OpenID Connect issuer's bearer tokens, for the standalone
//! server.
//!
//! On AWS this module is not used: API Gateway's JWT authorizer checks the
//! identity platform's tokens before a function runs, and the function reads
//! the claims from the request context. The standalone server has no gateway
//! in front of it, so it does the same job here and puts the flattened claims
//! in the same place (DESIGN.md §3, "Handlers are axum routers").
//!
//! What it is: discovery (`{issuer}/.well-known/openid-configuration`), the
//! issuer's JWKS fetched and cached, and per token a check of algorithm, key,
//! signature, `iss`, `aud`, `exp` and `nbf`. What it is not: an OIDC client.
//! It does no login flow, no token exchange, no userinfo or introspection
//! call, no revocation check, and it never decides what a caller may do:
//! authority is looked up in the staff directory afterwards, as on AWS.
//!
//! The rules:
//!
//! - **Algorithms.** Only RS256 and ES256 are accepted. `none`, every HMAC
//!   algorithm and everything else are refused before any key is looked up,
//!   whatever the token's header says. Each key in the JWKS is usable for
//!   exactly one algorithm, fixed by its `kty` (RSA → RS256, EC P-256 →
//!   ES256), and the token's `alg` must be that one: an RSA key never checks
//!   an ES256 token, an EC key never an RS256 one. A key whose own `alg`
//!   names another algorithm, whose `use` is not `sig`, whose `key_ops` lacks
//!   `verify`, or that is symmetric (`oct`) is not usable at all. This is what
//!   defeats algorithm confusion (an HS256 token "signed" with the public key
//!   as the HMAC secret): the header never chooses how the key is used.
//! - **Claims.** `iss` must equal the issuer, `aud` must contain the audience,
//!   `exp` and `nbf` are required; the clock leeway is 5 s, as in
//!   [`crate::jwt`].
//! - **Keys.** The header's `kid` picks the key. When it names a key the
//!   cache lacks, the JWKS is fetched again (that is how the issuer's key
//!   rotation reaches a running server), but at most once per refetch
//!   interval, so a flood of tokens with invented kids costs at most one
//!   fetch per interval. The first refetch after discovery is allowed at
//!   once. A token still unknown after that is refused. A token without a
//!   `kid` is accepted only when the JWKS holds exactly one usable key, and
//!   never triggers a refetch.
//! - **Cache lifetime.** Keys are replaced only by a successful refetch, and
//!   a refetch happens only for an unknown kid. A key the issuer removes
//!   stays trusted here until then (or until a restart). A refetch that fails
//!   or yields no usable key keeps the previous keys.
//! - **Issuer spelling.** OIDC Discovery §4.3 wants the document's `issuer`
//!   to be identical to the URL it was fetched under. We tolerate one trailing
//!   slash of difference between the configured issuer and the document's
//!   (providers disagree on it, and people type it either way), and from then
//!   on use the document's spelling: that is what the issuer writes into its
//!   tokens' `iss`, which must then match exactly.
//!
//! Token contents are never logged. A refusal is logged at info with the
//! token's kid (truncated) and the reason.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;

use crate::jwt::{TokenError, flatten};

/// The minimum interval between two JWKS refetches that [`OidcVerifier::discover`] uses.
pub const DEFAULT_REFETCH_INTERVAL: Duration = Duration::from_secs(60);

/// Whole-request timeout of every fetch: a hung issuer must not hold a
/// request (or startup) forever.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Same leeway as the standalone HS256 tokens in [`crate::jwt`].
const LEEWAY_SECS: u64 = 5;

/// The allow-list. Adding an algorithm here is not enough: `key_of` decides
/// which key types may serve it.
const ALLOWED: [Algorithm; 2] = [Algorithm::RS256, Algorithm::ES256];

/// Kids come from the caller; a log line gets at most this many characters of one.
const KID_LOG_CHARS: usize = 64;

/// Why discovery failed. Every message names the URL concerned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    /// The request could not be made or got no answer (DNS, connection, TLS, timeout).
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// The server answered with a status other than 2xx.
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    /// The body is not the JSON document expected there.
    #[error("{url} did not return a valid {what}: {reason}")]
    BadJson { url: String, what: &'static str, reason: String },
    /// The discovery document names another issuer than the one configured.
    #[error("{url} names issuer {found:?}, but the configured issuer is {expected:?}")]
    IssuerMismatch { url: String, expected: String, found: String },
    /// The discovery document has no (or an empty) `jwks_uri`.
    #[error("{url} has no jwks_uri")]
    NoJwksUri { url: String },
    /// The JWKS holds no RS256 or ES256 signing key this module can use.
    #[error("{url} holds no usable RS256 or ES256 signing key")]
    NoUsableKey { url: String },
}

/// Verifies one OIDC issuer's access or ID tokens for one audience.
///
/// Cheap to clone (the key cache is shared between clones); `Send + Sync`.
#[derive(Clone)]
pub struct OidcVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    /// The discovery document's spelling (see the module doc).
    issuer: String,
    audience: String,
    jwks_uri: String,
    http: reqwest::Client,
    refetch_interval: Duration,
    /// Read on every token, so a plain lock around a shared snapshot: readers
    /// clone the `Arc` and never hold the lock across an await.
    keys: RwLock<Arc<KeySet>>,
    /// When the last refetch started (`None`: none since discovery). Held
    /// across the fetch, so concurrent tokens with unknown kids queue behind
    /// one fetch instead of each making their own.
    last_refetch: tokio::sync::Mutex<Option<Instant>>,
}

impl fmt::Debug for OidcVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = self.keys();
        f.debug_struct("OidcVerifier")
            .field("issuer", &self.inner.issuer)
            .field("audience", &self.inner.audience)
            .field("jwks_uri", &self.inner.jwks_uri)
            .field("kids", &keys.named.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A usable key: what it verifies with, and the one algorithm it may verify.
#[derive(Clone)]
struct Key {
    alg: Algorithm,
    decoding: DecodingKey,
}

/// The usable keys of one JWKS.
struct KeySet {
    named: HashMap<String, Key>,
    /// The key a token without a kid may use: set only when the JWKS holds
    /// exactly one usable key, kid or not.
    sole: Option<Key>,
}

impl KeySet {
    fn is_empty(&self) -> bool {
        self.named.is_empty() && self.sole.is_none()
    }
}

#[derive(Deserialize)]
struct DiscoveryDocument {
    issuer: String,
    #[serde(default)]
    jwks_uri: Option<String>,
}

/// The JWKS with each key left raw: one key of a type we cannot parse (an
/// encryption key, a new `kty`) must not make the others unusable, which
/// deserializing straight into `jsonwebtoken::jwk::JwkSet` would do.
#[derive(Deserialize)]
struct RawJwks {
    keys: Vec<serde_json::Value>,
}

impl OidcVerifier {
    /// Discovers `issuer` with the default refetch interval (60 s).
    ///
    /// Fetches `{issuer}/.well-known/openid-configuration` (one trailing
    /// slash of `issuer` dropped first, as OIDC Discovery §4.1 asks), checks
    /// that its `issuer` is the configured one (one trailing slash of
    /// difference tolerated), reads `jwks_uri` and fetches the JWKS, which
    /// must hold at least one usable key. Tokens must then carry `aud`
    /// containing `audience`.
    pub async fn discover(issuer: &str, audience: &str) -> Result<OidcVerifier, OidcError> {
        OidcVerifier::discover_with(issuer, audience, DEFAULT_REFETCH_INTERVAL).await
    }

    /// [`OidcVerifier::discover`], with `refetch_interval` as the minimum time
    /// between two JWKS refetches triggered by unknown kids.
    pub async fn discover_with(
        issuer: &str,
        audience: &str,
        refetch_interval: Duration,
    ) -> Result<OidcVerifier, OidcError> {
        let url = discovery_url(issuer);
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .map_err(|e| OidcError::Unreachable { url: url.clone(), reason: error_chain(&e) })?;
        let body = fetch(&http, &url).await?;
        let doc: DiscoveryDocument = serde_json::from_slice(&body).map_err(|e| OidcError::BadJson {
            url: url.clone(),
            what: "OpenID provider configuration",
            reason: e.to_string(),
        })?;
        if !same_issuer(issuer, &doc.issuer) {
            return Err(OidcError::IssuerMismatch { url, expected: issuer.to_string(), found: doc.issuer });
        }
        let jwks_uri = match doc.jwks_uri {
            Some(u) if !u.trim().is_empty() => u,
            _ => return Err(OidcError::NoJwksUri { url }),
        };
        let keys = fetch_keys(&http, &jwks_uri).await?;
        tracing::info!(issuer = %doc.issuer, jwks_uri = %jwks_uri, keys = keys.named.len(), "OIDC issuer discovered");
        Ok(OidcVerifier {
            inner: Arc::new(Inner {
                issuer: doc.issuer,
                audience: audience.to_string(),
                jwks_uri,
                http,
                refetch_interval,
                keys: RwLock::new(Arc::new(keys)),
                last_refetch: tokio::sync::Mutex::new(None),
            }),
        })
    }

    /// The issuer as its discovery document spells it: the exact value
    /// tokens' `iss` must have.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// Verifies a bearer token (without the `Bearer ` prefix) and returns its
    /// claims flattened to strings, exactly as
    /// [`crate::jwt::Hs256::verify_claims`] does: strings as they are, any
    /// other JSON value as its JSON text (`true` → `"true"`, `3` → `"3"`).
    ///
    /// Refuses (see the module doc for the rules): an algorithm other than
    /// RS256 or ES256; a kid unknown after the allowed refetch; a missing kid
    /// unless the JWKS holds one usable key; a key of the other type; a bad
    /// signature; wrong `iss` or `aud`; missing or out-of-date `exp` or `nbf`.
    /// The error's text never contains the token.
    pub async fn verify_claims(&self, token: &str) -> Result<HashMap<String, String>, TokenError> {
        let header = match decode_header(token) {
            Ok(h) => h,
            // `alg: none` ends here too: jsonwebtoken has no such algorithm.
            Err(e) => return Err(refuse(None, format!("unreadable header: {e}"))),
        };
        let kid = header.kid.as_deref();
        if !ALLOWED.contains(&header.alg) {
            return Err(refuse(kid, format!("algorithm {:?} is not allowed", header.alg)));
        }
        let key = self.key_for(kid).await.map_err(|reason| refuse(kid, reason))?;
        if key.alg != header.alg {
            return Err(refuse(kid, format!("the key is for {:?}, the token says {:?}", key.alg, header.alg)));
        }
        let mut v = Validation::new(key.alg);
        v.set_issuer(&[&self.inner.issuer]);
        v.set_audience(&[&self.inner.audience]);
        v.set_required_spec_claims(&["exp", "nbf", "iss", "aud"]);
        v.validate_exp = true;
        v.validate_nbf = true;
        v.leeway = LEEWAY_SECS;
        let claims = decode::<serde_json::Map<String, serde_json::Value>>(token, &key.decoding, &v)
            .map_err(|e| refuse(kid, e.to_string()))?
            .claims;
        Ok(flatten(claims))
    }

    fn keys(&self) -> Arc<KeySet> {
        // A poisoned lock only means a writer panicked between two whole
        // snapshots; the snapshot inside is still one or the other.
        self.inner.keys.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The key a token's kid names, refetching the JWKS once if allowed.
    async fn key_for(&self, kid: Option<&str>) -> Result<Key, String> {
        let Some(kid) = kid else {
            return self.keys().sole.clone().ok_or_else(|| {
                "the token has no kid and the issuer's key set does not hold exactly one usable key".to_string()
            });
        };
        if let Some(k) = self.keys().named.get(kid) {
            return Ok(k.clone());
        }
        let mut last = self.inner.last_refetch.lock().await;
        // Whoever held the lock before us may just have fetched this kid.
        if let Some(k) = self.keys().named.get(kid) {
            return Ok(k.clone());
        }
        if last.is_some_and(|t| t.elapsed() < self.inner.refetch_interval) {
            return Err("unknown kid, and the key set was refetched too recently to try again".to_string());
        }
        // Counted from the start, so a slow or failing issuer is not asked again sooner.
        *last = Some(Instant::now());
        match fetch_keys(&self.inner.http, &self.inner.jwks_uri).await {
            Ok(set) => {
                tracing::info!(jwks_uri = %self.inner.jwks_uri, keys = set.named.len(), "OIDC key set refetched");
                *self.inner.keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(set);
            }
            Err(e) => tracing::warn!(error = %e, "OIDC key set refetch failed; keeping the previous keys"),
        }
        drop(last);
        self.keys().named.get(kid).cloned().ok_or_else(|| "unknown kid, also after refetching the key set".to_string())
    }
}

/// Logs a refusal (kid and reason, never the token) and makes its error.
fn refuse(kid: Option<&str>, reason: String) -> TokenError {
    let kid = kid.map(|k| k.chars().take(KID_LOG_CHARS).collect::<String>());
    tracing::info!(kid = ?kid, reason = %reason, "bearer token refused");
    TokenError::Invalid(reason)
}

/// OIDC Discovery §4.1: any terminating "/" of the issuer is removed before
/// the well-known path is appended.
fn discovery_url(issuer: &str) -> String {
    format!("{}/.well-known/openid-configuration", issuer.strip_suffix('/').unwrap_or(issuer))
}

/// Equal, or equal once one trailing slash is dropped from each.
fn same_issuer(configured: &str, document: &str) -> bool {
    configured.strip_suffix('/').unwrap_or(configured) == document.strip_suffix('/').unwrap_or(document)
}

async fn fetch(http: &reqwest::Client, url: &str) -> Result<Vec<u8>, OidcError> {
    let resp = http
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| OidcError::Unreachable { url: url.to_string(), reason: error_chain(&e) })?;
    let status = resp.status();
    if !status.is_success() {
        return Err(OidcError::Status { url: url.to_string(), status: status.as_u16() });
    }
    let body =
        resp.bytes().await.map_err(|e| OidcError::Unreachable { url: url.to_string(), reason: error_chain(&e) })?;
    Ok(body.to_vec())
}

async fn fetch_keys(http: &reqwest::Client, jwks_uri: &str) -> Result<KeySet, OidcError> {
    let body = fetch(http, jwks_uri).await?;
    let set = parse_jwks(&body).map_err(|reason| OidcError::BadJson {
        url: jwks_uri.to_string(),
        what: "JWK set",
        reason,
    })?;
    if set.is_empty() {
        return Err(OidcError::NoUsableKey { url: jwks_uri.to_string() });
    }
    Ok(set)
}

/// The usable keys of a JWKS document; unusable keys are skipped (logged at debug).
fn parse_jwks(body: &[u8]) -> Result<KeySet, String> {
    let raw: RawJwks = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let mut named = HashMap::new();
    let mut usable = Vec::new();
    for value in raw.keys {
        let jwk = match serde_json::from_value::<Jwk>(value) {
            Ok(j) => j,
            Err(e) => {
                tracing::debug!(error = %e, "JWKS entry skipped: not a JWK this module reads");
                continue;
            }
        };
        let kid = jwk.common.key_id.clone();
        let key = match key_of(&jwk) {
            Ok(k) => k,
            Err(why) => {
                tracing::debug!(kid = ?kid, why, "JWKS entry skipped");
                continue;
            }
        };
        if let Some(kid) = kid {
            if named.contains_key(&kid) {
                // Which of two keys a kid means is not ours to guess; the first stays.
                tracing::warn!(kid = %kid, "JWKS has two usable keys with one kid; using the first");
                continue;
            }
            named.insert(kid, key.clone());
        }
        usable.push(key);
    }
    let sole = if usable.len() == 1 { usable.pop() } else { None };
    Ok(KeySet { named, sole })
}

/// The key a JWK makes, and the one algorithm it may verify, or why it is not usable.
fn key_of(jwk: &Jwk) -> Result<Key, &'static str> {
    if jwk.common.public_key_use.as_ref().is_some_and(|u| *u != PublicKeyUse::Signature) {
        return Err("its use is not sig");
    }
    if jwk.common.key_operations.as_ref().is_some_and(|ops| !ops.contains(&KeyOperations::Verify)) {
        return Err("its key_ops lack verify");
    }
    // The key's type alone decides its algorithm; the token's header never does.
    let (alg, declared) = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => (Algorithm::RS256, KeyAlgorithm::RS256),
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
            (Algorithm::ES256, KeyAlgorithm::ES256)
        }
        AlgorithmParameters::EllipticCurve(_) => return Err("an EC curve other than P-256"),
        AlgorithmParameters::OctetKey(_) => return Err("a symmetric key"),
        AlgorithmParameters::OctetKeyPair(_) => return Err("an OKP key"),
    };
    // RFC 7517 §4.4: a key's `alg` names the algorithm it is meant for; an RSA
    // key meant for RS512 or PS256 must not check RS256 tokens.
    if jwk.common.key_algorithm.is_some_and(|a| a != declared) {
        return Err("its alg is not the one its kty allows here");
    }
    let decoding = DecodingKey::from_jwk(jwk).map_err(|_| "its parameters are not valid base64url")?;
    Ok(Key { alg, decoding })
}

/// An error and its sources: reqwest's own text is often just "error sending
/// request", with the useful part ("connection refused") a source below.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = inner.source();
    }
    s
}
