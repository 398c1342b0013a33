//! A fake OpenID Connect issuer for tests of bearer-token verification.
//!
//! [`TestIssuer::start`] serves `/.well-known/openid-configuration` and a
//! JWKS (`/jwks.json`) on a random loopback port, signs tokens with its RSA
//! (RS256) and EC P-256 (ES256) keys, rotates its RSA key on demand and counts
//! how often its JWKS is fetched. It also forges the tokens a verifier must
//! refuse: `alg: none`, HS256 with the public key as the secret, tampered
//! payloads and signatures, signatures by a key it never published.
//!
//! The keys are the test-only PEM fixtures in `fixtures/oidc/` (generating
//! RSA keys at test time is slow in a debug build); their JWKs are derived
//! from them here by jsonwebtoken, so nothing is hand-encoded.
//!
//! Its JWKS also holds two entries no verifier may use, as real key sets
//! sometimes do: a symmetric (`oct`) key, kid [`TestIssuer::OCT_KID`], whose
//! secret is [`TestIssuer::OCT_SECRET`], and an entry of an unknown `kty`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::{Value, json};

/// The audience the issuer's tokens are for, unless a test says otherwise.
pub const AUDIENCE: &str = "subsidy-api";

const RSA_FIXTURES: [(&str, &str); 3] = [
    ("rsa-1", include_str!("fixtures/oidc/rsa-1.pem")),
    ("rsa-2", include_str!("fixtures/oidc/rsa-2.pem")),
    ("rsa-3", include_str!("fixtures/oidc/rsa-3.pem")),
];
const EC_FIXTURE: (&str, &str) = ("ec-1", include_str!("fixtures/oidc/ec-1.pem"));
const STRANGER_EC_FIXTURE: &str = include_str!("fixtures/oidc/ec-2.pem");

/// What [`TestIssuer::rotate`] does with the RSA key it replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The old key stays in the JWKS (the usual overlap while tokens it signed expire).
    KeepOld,
    /// The old key leaves the JWKS (a revoked key).
    DropOld,
}

/// One signing key: its kid, its private key for jsonwebtoken, its public JWK.
#[derive(Clone)]
struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

impl SigningKey {
    fn rsa(kid: &str, pem: &str) -> SigningKey {
        let key = rsa::RsaPrivateKey::from_pkcs8_pem(pem).expect("RSA fixture is a PKCS#8 PEM");
        // jsonwebtoken's RustCrypto backend signs with a PKCS#1 DER RSA key.
        let der = key.to_pkcs1_der().expect("RSA key encodes");
        SigningKey::new(kid, EncodingKey::from_rsa_der(der.as_bytes()), Algorithm::RS256)
    }

    fn ec(kid: &str, pem: &str) -> SigningKey {
        let key = p256::SecretKey::from_pkcs8_pem(pem).expect("EC fixture is a P-256 PKCS#8 PEM");
        // ... and with a PKCS#8 DER EC key.
        let der = key.to_pkcs8_der().expect("EC key encodes");
        SigningKey::new(kid, EncodingKey::from_ec_der(der.as_bytes()), Algorithm::ES256)
    }

    fn new(kid: &str, encoding: EncodingKey, alg: Algorithm) -> SigningKey {
        let mut jwk = Jwk::from_encoding_key(&encoding, alg).expect("public JWK derives");
        jwk.common.key_id = Some(kid.to_string());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        SigningKey { kid: kid.to_string(), encoding, jwk: serde_json::to_value(jwk).expect("JWK serializes") }
    }
}

struct Keys {
    /// The RSA keys in the JWKS, oldest first; the last one signs by default.
    rsa: Vec<SigningKey>,
    /// RSA keys dropped from the JWKS, still able to sign (a revoked key's tokens).
    retired: Vec<SigningKey>,
    /// `None` for an RSA-only issuer.
    ec: Option<SigningKey>,
    /// The RSA fixtures not used yet.
    unused: Vec<(&'static str, &'static str)>,
}

struct Shared {
    /// What the discovery document calls the issuer.
    document_issuer: String,
    jwks_uri: String,
    keys: Mutex<Keys>,
    jwks_fetches: AtomicUsize,
    jwks_fails: AtomicBool,
}

/// A running fake issuer; stops serving when dropped.
pub struct TestIssuer {
    issuer: String,
    shared: Arc<Shared>,
    stranger: SigningKey,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestIssuer {
    /// Kid of the symmetric key the JWKS publishes as a trap.
    pub const OCT_KID: &'static str = "oct-1";
    /// Secret of that symmetric key.
    pub const OCT_SECRET: &'static [u8] = b"a-symmetric-key-in-a-public-set!";

    /// An issuer with one RSA key (`rsa-1`) and one EC P-256 key (`ec-1`).
    pub async fn start() -> TestIssuer {
        TestIssuer::launch(true, None).await
    }

    /// An issuer whose only usable key is one RSA key (`rsa-1`).
    pub async fn start_rsa_only() -> TestIssuer {
        TestIssuer::launch(false, None).await
    }

    /// An issuer whose discovery document names `document_issuer` instead of
    /// its own URL (a misconfigured or impostor issuer).
    pub async fn start_naming(document_issuer: &str) -> TestIssuer {
        TestIssuer::launch(true, Some(document_issuer.to_string())).await
    }

    async fn launch(with_ec: bool, document_issuer: Option<String>) -> TestIssuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("loopback port");
        let addr: SocketAddr = listener.local_addr().expect("bound address");
        let issuer = format!("http://{addr}");
        let mut unused: Vec<_> = RSA_FIXTURES.to_vec();
        unused.reverse();
        let (kid, pem) = unused.pop().expect("an RSA fixture");
        let keys = Keys {
            rsa: vec![SigningKey::rsa(kid, pem)],
            retired: Vec::new(),
            ec: with_ec.then(|| SigningKey::ec(EC_FIXTURE.0, EC_FIXTURE.1)),
            unused,
        };
        let shared = Arc::new(Shared {
            document_issuer: document_issuer.unwrap_or_else(|| issuer.clone()),
            jwks_uri: format!("{issuer}/jwks.json"),
            keys: Mutex::new(keys),
            jwks_fetches: AtomicUsize::new(0),
            jwks_fails: AtomicBool::new(false),
        });
        let app = axum::Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks.json", get(jwks))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("test issuer serves");
        });
        TestIssuer { issuer, shared, stranger: SigningKey::ec("stranger", STRANGER_EC_FIXTURE), server }
    }

    /// The issuer URL (`http://127.0.0.1:<port>`, no trailing slash).
    pub fn issuer(&self) -> String {
        self.issuer.clone()
    }

    /// The kid of the RSA key that signs RS256 tokens now.
    pub fn rsa_kid(&self) -> String {
        self.keys().rsa.last().expect("an RSA key").kid.clone()
    }

    /// The kid of the EC key; panics for an RSA-only issuer.
    pub fn ec_kid(&self) -> String {
        self.keys().ec.as_ref().expect("this issuer has an EC key").kid.clone()
    }

    /// How many times the JWKS has been fetched (discovery's fetch included).
    pub fn jwks_fetches(&self) -> usize {
        self.shared.jwks_fetches.load(Ordering::SeqCst)
    }

    /// While `true`, the JWKS answers 503 (its fetches are still counted).
    pub fn fail_jwks(&self, fail: bool) {
        self.shared.jwks_fails.store(fail, Ordering::SeqCst);
    }

    /// Adds the next RSA fixture key to the JWKS and makes it the one that
    /// signs RS256 tokens; returns its kid. With [`Rotation::DropOld`] the
    /// previous RSA keys leave the JWKS (they can still sign, see [`TestIssuer::sign`]).
    /// Panics when the fixtures run out (two rotations per issuer).
    pub fn rotate(&self, old: Rotation) -> String {
        let mut keys = self.keys();
        let (kid, pem) = keys.unused.pop().expect("TestIssuer has three RSA fixtures: at most two rotations");
        let new = SigningKey::rsa(kid, pem);
        if old == Rotation::DropOld {
            let dropped: Vec<_> = keys.rsa.drain(..).collect();
            keys.retired.extend(dropped);
        }
        keys.rsa.push(new);
        kid.to_string()
    }

    /// Claims of a valid token: `iss`, `aud`, `sub`, `iat`, `nbf` now and
    /// `exp` in five minutes. Tests change them before signing.
    pub fn claims(&self) -> Value {
        let now = now();
        json!({
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": "user-1",
            "iat": now,
            "nbf": now,
            "exp": now + 300,
        })
    }

    /// Signs `claims` with header `alg` and `kid`.
    ///
    /// The signing key is the issuer's key with that kid when the kid names
    /// one of `alg`'s family (published or dropped); otherwise its current
    /// key of `alg`'s family. So `sign(ES256, &rsa_kid, ..)` is an EC
    /// signature under an RSA key's kid, and `sign(RS256, "nope", ..)` an
    /// RSA signature under a kid nobody published. `alg` may be any RSA or
    /// EC algorithm jsonwebtoken signs with these keys (RS512, PS256 ...);
    /// HMAC and `none` have their own forging helpers.
    pub fn sign(&self, alg: Algorithm, kid: &str, claims: &Value) -> String {
        let key = self.signing_key(alg, Some(kid));
        let mut header = Header::new(alg);
        header.kid = Some(kid.to_string());
        jsonwebtoken::encode(&header, claims, &key.encoding).expect("token signs")
    }

    /// [`TestIssuer::sign`] with no `kid` in the header, by the current key of `alg`'s family.
    pub fn sign_without_kid(&self, alg: Algorithm, claims: &Value) -> String {
        let key = self.signing_key(alg, None);
        jsonwebtoken::encode(&Header::new(alg), claims, &key.encoding).expect("token signs")
    }

    /// An ES256 token under `kid`, signed by a P-256 key this issuer never publishes.
    pub fn sign_as_stranger(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.to_string());
        jsonwebtoken::encode(&header, claims, &self.stranger.encoding).expect("token signs")
    }

    /// An unsigned token: header `{"alg": <alg_text>, "typ": "JWT", "kid": kid}`,
    /// the claims, and `signature` (usually empty) as the third part.
    pub fn forge_unsigned(alg_text: &str, kid: &str, claims: &Value, signature: &str) -> String {
        let header = json!({"alg": alg_text, "typ": "JWT", "kid": kid});
        format!("{}.{}.{signature}", encode_part(&header), encode_part(claims))
    }

    /// An HS256 token under `kid` whose HMAC secret is `secret`, for the
    /// algorithm-confusion attack (pass one of [`TestIssuer::rsa_public_key_forms`]).
    pub fn forge_hs256(kid: &str, claims: &Value, secret: &[u8]) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.to_string());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).expect("token signs")
    }

    /// The current RSA key's public half in every form an attacker might
    /// feed a confused verifier as an HMAC secret, each with a name: SPKI
    /// PEM, PKCS#1 PEM, SPKI DER, PKCS#1 DER, the JWK's JSON, the raw modulus.
    pub fn rsa_public_key_forms(&self) -> Vec<(&'static str, Vec<u8>)> {
        let keys = self.keys();
        let current = keys.rsa.last().expect("an RSA key");
        let pem = RSA_FIXTURES.iter().find(|(kid, _)| *kid == current.kid).expect("fixture of the current key").1;
        let public = rsa::RsaPrivateKey::from_pkcs8_pem(pem).expect("RSA fixture").to_public_key();
        let n = B64.decode(current.jwk["n"].as_str().expect("n")).expect("n decodes");
        vec![
            ("SPKI PEM", public.to_public_key_pem(LineEnding::LF).expect("PEM").into_bytes()),
            ("PKCS#1 PEM", public.to_pkcs1_pem(LineEnding::LF).expect("PEM").into_bytes()),
            ("SPKI DER", public.to_public_key_der().expect("DER").as_bytes().to_vec()),
            ("PKCS#1 DER", public.to_pkcs1_der().expect("DER").as_bytes().to_vec()),
            ("JWK JSON", current.jwk.to_string().into_bytes()),
            ("modulus", n),
        ]
    }

    /// The public JWK the issuer publishes for `kid`, if it does.
    pub fn published_jwk(&self, kid: &str) -> Option<Value> {
        let keys = self.keys();
        keys.rsa.iter().chain(keys.ec.iter()).find(|k| k.kid == kid).map(|k| k.jwk.clone())
    }

    /// `token` with its claims replaced by `change(claims)`, header and
    /// signature kept.
    pub fn tamper_payload(token: &str, change: impl FnOnce(&mut Value)) -> String {
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3, "a compact JWS");
        let mut claims: Value = serde_json::from_slice(&B64.decode(parts[1]).expect("payload decodes")).expect("JSON");
        change(&mut claims);
        format!("{}.{}.{}", parts[0], encode_part(&claims), parts[2])
    }

    /// `token` with one bit of its signature's first byte flipped.
    pub fn tamper_signature(token: &str) -> String {
        let (signed, signature) = token.rsplit_once('.').expect("a compact JWS");
        let mut bytes = B64.decode(signature).expect("signature decodes");
        bytes[0] ^= 0x01;
        format!("{signed}.{}", B64.encode(bytes))
    }

    fn keys(&self) -> std::sync::MutexGuard<'_, Keys> {
        self.shared.keys.lock().expect("issuer keys")
    }

    fn signing_key(&self, alg: Algorithm, kid: Option<&str>) -> SigningKey {
        let keys = self.keys();
        let family: Vec<&SigningKey> = match alg {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => keys.rsa.iter().chain(keys.retired.iter()).collect(),
            Algorithm::ES256 => keys.ec.iter().collect(),
            other => panic!("TestIssuer::sign does not sign {other:?}; use a forge helper"),
        };
        let current = match alg {
            Algorithm::ES256 => keys.ec.as_ref().expect("this issuer has an EC key"),
            _ => keys.rsa.last().expect("an RSA key"),
        };
        kid.and_then(|kid| family.into_iter().find(|k| k.kid == kid)).unwrap_or(current).clone()
    }
}

fn encode_part(value: &Value) -> String {
    B64.encode(serde_json::to_vec(value).expect("JSON serializes"))
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

async fn discovery(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(json!({
        "issuer": shared.document_issuer,
        "jwks_uri": shared.jwks_uri,
        "authorization_endpoint": format!("{}/authorize", shared.document_issuer),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
    }))
    .into_response()
}

async fn jwks(State(shared): State<Arc<Shared>>) -> Response {
    shared.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    if shared.jwks_fails.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let mut set: Vec<Value> = {
        let keys = shared.keys.lock().expect("issuer keys");
        keys.rsa.iter().chain(keys.ec.iter()).map(|k| k.jwk.clone()).collect()
    };
    set.push(
        json!({"kty": "oct", "kid": TestIssuer::OCT_KID, "alg": "HS256", "k": B64.encode(TestIssuer::OCT_SECRET)}),
    );
    set.push(json!({"kty": "XYZ", "kid": "from-the-future", "use": "sig"}));
    axum::Json(json!({ "keys": set })).into_response()
}
