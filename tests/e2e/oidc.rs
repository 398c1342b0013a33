//! The standalone server's OIDC bearer-token verifier against a fake issuer:
//! what it accepts, what it refuses, and how it follows key rotation.
//!
//! Every refusal test also shows that the forged token is otherwise well
//! made (it verifies, or would under the naive check the attack targets), so
//! a refusal for an unrelated reason cannot make it pass.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use subsidy_infra::jwt::TokenError;
use subsidy_infra::oidc::{OidcError, OidcVerifier};
use subsidy_tests::oidc_issuer::{AUDIENCE, Rotation, TestIssuer};

/// Long enough that no refetch interval passes during a test by accident.
const AN_HOUR: Duration = Duration::from_secs(3600);

async fn verifier(issuer: &TestIssuer) -> OidcVerifier {
    OidcVerifier::discover_with(&issuer.issuer(), AUDIENCE, AN_HOUR).await.expect("discovery")
}

#[track_caller]
fn refused(result: Result<HashMap<String, String>, TokenError>) -> String {
    match result {
        Ok(claims) => panic!("accepted: {claims:?}"),
        Err(TokenError::Invalid(reason)) => reason,
    }
}

/// Verifies `token` with `jwk` and `alg` and nothing else (no iss, aud, or
/// time checks): the token is well made for that key.
#[track_caller]
fn signature_holds(token: &str, jwk: &Value, alg: Algorithm) {
    let jwk: Jwk = serde_json::from_value(jwk.clone()).expect("JWK");
    let key = DecodingKey::from_jwk(&jwk).expect("decoding key");
    let mut v = Validation::new(alg);
    v.validate_aud = false;
    v.validate_exp = false;
    v.required_spec_claims.clear();
    jsonwebtoken::decode::<Value>(token, &key, &v).expect("the token is well signed for this key");
}

#[tokio::test]
async fn an_rs256_token_from_the_issuer_is_accepted_and_its_claims_flatten_to_strings() {
    let issuer = TestIssuer::start().await;
    let v = verifier(&issuer).await;
    let mut claims = issuer.claims();
    claims["aud"] = json!(["someone-else", AUDIENCE]);
    claims["email_verified"] = json!(true);
    claims["level"] = json!(3);
    claims["groups"] = json!(["a", "b"]);
    let token = issuer.sign(Algorithm::RS256, &issuer.rsa_kid(), &claims);
    let c = v.verify_claims(&token).await.expect("accepted");
    assert_eq!(c["sub"], "user-1");
    assert_eq!(c["iss"], issuer.issuer());
    assert_eq!(c["email_verified"], "true");
    assert_eq!(c["level"], "3");
    assert_eq!(c["groups"], r#"["a","b"]"#);
    assert_eq!(c["aud"], format!(r#"["someone-else","{AUDIENCE}"]"#));
    assert_eq!(v.issuer(), issuer.issuer());
}

#[tokio::test]
async fn an_es256_token_from_the_issuer_is_accepted() {
    let issuer = TestIssuer::start().await;
    let v = verifier(&issuer).await;
    let token = issuer.sign(Algorithm::ES256, &issuer.ec_kid(), &issuer.claims());
    let c = v.verify_claims(&token).await.expect("accepted");
    assert_eq!(c["sub"], "user-1");
    assert_eq!(c["aud"], AUDIENCE);
}

#[tokio::test]
async fn a_key_added_after_discovery_verifies_after_one_refetch() {
    let issuer = TestIssuer::start().await;
    let v = verifier(&issuer).await;
    let old_kid = issuer.rsa_kid();
    assert_eq!(issuer.jwks_fetches(), 1, "discovery fetched the JWKS once");

    let new_kid = issuer.rotate(Rotation::KeepOld);
    assert_ne!(new_kid, old_kid);
    let token = issuer.sign(Algorithm::RS256, &new_kid, &issuer.claims());
    v.verify_claims(&token).await.expect("the new key's token is accepted");
    assert_eq!(issuer.jwks_fetches(), 2, "one refetch for the new kid");

    // Both keys are now cached: neither costs another fetch.
    v.verify_claims(&token).await.expect("again");
    v.verify_claims(&issuer.sign(Algorithm::RS256, &old_kid, &issuer.claims())).await.expect("the old key still");
    assert_eq!(issuer.jwks_fetches(), 2);
}

#[tokio::test]
async fn a_key_the_issuer_dropped_is_refused_once_the_key_set_is_refetched() {
    let issuer = TestIssuer::start().await;
    let v = verifier(&issuer).await;
    let old_kid = issuer.rsa_kid();
    let old_token = issuer.sign(Algorithm::RS256, &old_kid, &issuer.claims());
    v.verify_claims(&old_token).await.expect("accepted before the rotation");

    let new_kid = issuer.rotate(Rotation::DropOld);
    v.verify_claims(&issuer.sign(Algorithm::RS256, &new_kid, &issuer.claims())).await.expect("new key accepted");
    let reason = refused(v.verify_claims(&old_token).await);
    assert!(reason.contains("unknown kid"), "{reason}");
}

#[tokio::test]
async fn tokens_with_unknown_kids_within_the_interval_cause_at_most_one_refetch() {
    let issuer = TestIssuer::start().await;
    let v = verifier(&issuer).await;
    assert_eq!(issuer.jwks_fetches(), 1);

    for i in 0..30 {
        let token = issuer.sign(Algorithm::RS256, &format!("invented-{i}"), &issuer.claims());
        refused(v.verify_claims(&token).await);
    }
    // And a burst at once, racing each other for the refetch.
    let burst = (0..30).map(|i| {
        let v = v.clone();
        let token = issuer.sign(Algorithm::ES256, &format!("burst-{i}"), &issuer.claims());
        tokio::spawn(async move { v.verify_claims(&token).await })
    });
    for result in futures::future::join_all(burst).await {
        refused(result.expect("task"));
    }
    assert_eq!(issuer.jwks_fetches(), 2, "discovery's fetch and exactly one refetch");

    // The limit holds for a genuine new key too, until the interval passes.
    let new_kid = issuer.rotate(Rotation::KeepOld);
    let reason = refused(v.verify_claims(&issuer.sign(Algorithm::RS256, &new_kid, &issuer.claims())).await);
    assert!(reason.contains("too recently"), "{reason}");
    assert_eq!(issuer.jwks_fetches(), 2);
}

#[tokio::test]
async fn once_the_interval_has_passed_an_unknown_kid_may_refetch_again() {
    let issuer = TestIssuer::start().await;
    let interval = Duration::from_millis(50);
    let v = OidcVerifier::discover_with(&issuer.issuer(), AUDIENCE, interval).await.expect("discovery");
    refused(v.verify_claims(&issuer.sign(Algorithm::RS256, "invented-1", &issuer.claims())).await);
    assert_eq!(issuer.jwks_fetches(), 2);

    // Sleeping at least the interval makes the next refetch allowed
    // whatever the machine's speed: only a lower bound is relied on.
    tokio::time::sleep(interval * 2).await;
    let new_kid = issuer.rotate(Rotation::KeepOld);
    v.verify_claims(&issuer.sign(Algorithm::RS256, &new_kid, &issuer.claims())).await.expect("accepted");
    assert_eq!(issuer.jwks_fetches(), 3);
}

#[tokio::test]
async fn a_failed_refetch_keeps_the_keys_already_known() {
    let issuer = TestIssuer::start().await;
    let v = verifier(&issuer).await;
    issuer.fail_jwks(true);
    refused(v.verify_claims(&issuer.sign(Algorithm::RS256, "invented", &issuer.claims())).await);
    assert_eq!(issuer.jwks_fetches(), 2, "the refetch was tried");
    v.verify_claims(&issuer.sign(Algorithm::RS256, &issuer.rsa_kid(), &issuer.claims())).await.expect("RSA key kept");
    v.verify_claims(&issuer.sign(Algorithm::ES256, &issuer.ec_kid(), &issuer.claims())).await.expect("EC key kept");
}

#[tokio::test]
async fn an_unknown_kid_is_refused_after_the_refetch() {
    let issuer = TestIssuer::start().await;
    let v = verifier(&issuer).await;
    let token = issuer.sign(Algorithm::RS256, "nobody-published-this", &issuer.claims());
    signature_holds(&token, &issuer.published_jwk(&issuer.rsa_kid()).unwrap(), Algorithm::RS256);
    let reason = refused(v.verify_claims(&token).await);
    assert!(reason.contains("unknown kid, also after refetching"), "{reason}");
    assert_eq!(issuer.jwks_fetches(), 2, "it did refetch before refusing");
}

#[tokio::test]
async fn a_token_with_alg_none_is_refused() {
    let issuer = TestIssuer::start().await;
    let v = verifier(&issuer).await;
    let kid = issuer.rsa_kid();
    let valid = issuer.sign(Algorithm::RS256, &kid, &issuer.claims());
    v.verify_claims(&valid).await.expect("the claims themselves are acceptable");
    let real_signature = valid.rsplit('.').next().unwrap();
    for alg in ["none", "None", "NONE", "nOnE"] {
        for signature in ["", real_signature] {
            let forged = TestIssuer::forge_unsigned(alg, &kid, &issuer.claims(), signature);
            refused(v.verify_claims(&forged).await);
        }
    }
}

#[tokio::test]
async fn an_hs256_token_signed_with_the_issuers_public_key_is_refused() {
    let issuer = TestIssuer::start().await;
    let v = verifier(&issuer).await;
    let kid = issuer.rsa_kid();
    for (form, secret) in issuer.rsa_public_key_forms() {
        let forged = TestIssuer::forge_hs256(&kid, &issuer.claims(), &secret);
        // The forgery is what a verifier that lets the header pick HS256 would accept.
        let mut naive = Validation::new(Algorithm::HS256);
        naive.set_audience(&[AUDIENCE]);
        jsonwebtoken::decode::<Value>(&forged, &DecodingKey::from_secret(&secret), &naive).expect("well forged");
        let reason = refused(v.verify_claims(&forged).await);
        assert!(reason.contains("not allowed"), "{form}: {reason}");
    }
    // Under the kid of the symmetric key the JWKS (wrongly) publishes, too.
    let forged = TestIssuer::forge_hs256(TestIssuer::OCT_KID, &issuer.claims(), TestIssuer::OCT_SECRET);
    refused(v.verify_claims(&forged).await);
}

#[tokio::test]
async fn algorithms_outside_rs256_and_es256_are_refused_even_with_a_good_signature() {
    let issuer = TestIssuer::start().await;
    let v = verifier(&issuer).await;
    let kid = issuer.rsa_kid();
    let jwk = issuer.published_jwk(&kid).unwrap();
    for alg in [Algorithm::RS384, Algorithm::RS512, Algorithm::PS256, Algorithm::PS512] {
        let token = issuer.sign(alg, &kid, &issuer.claims());
        signature_holds(&token, &jwk, alg);
        let reason = refused(v.verify_claims(&token).await);
        assert!(reason.contains("not allowed"), "{alg:?}: {reason}");
    }
    for alg in ["HS384", "HS512", "EdDSA", "ES384", "ES512", "RSA-OAEP", "dir", ""] {
        refused(v.verify_claims(&TestIssuer::forge_unsigned(alg, &kid, &issuer.claims(), "c2ln")).await);
    }
}

#[tokio::test]
async fn an_rsa_kid_with_an_es256_header_is_refused() {
    let issuer = TestIssuer::start().await;
    let v = verifier(&issuer).await;
    let token = issuer.sign(Algorithm::ES256, &issuer.rsa_kid(), &issuer.claims());
    signature_holds(&token, &issuer.published_jwk(&issuer.ec_kid()).unwrap(), Algorithm::ES256);
    let reason = refused(v.verify_claims(&token).await);
    assert!(reason.contains("the key is for RS256"), "{reason}");
    assert_eq!(issuer.jwks_fetches(), 1, "a known kid costs no refetch");
}

#[tokio::test]
async fn an_ec_kid_with_an_rs256_header_is_refused() {
    let issuer = TestIssuer::start().await;
    let v = verifier(&issuer).await;
    let token = issuer.sign(Algorithm::RS256, &issuer.ec_kid(), &issuer.claims());
    signature_holds(&token, &issuer.published_jwk(&issuer.rsa_kid()).unwrap(), Algorithm::RS256);
    let reason = refused(v.verify_claims(&token).await);
    assert!(reason.contains("the key is for ES256"), "{reason}");
}

#[tokio::test]
async fn a_token_from_another_issuer_is_refused() {
    let issuer = TestIssuer::start().await;
    let v = verifier(&issuer).await;
    for iss in [json!("https://impostor.example"), json!(format!("{}/", issuer.issuer())), json!(null)] {
        let mut claims = issuer.claims();
        claims["iss"] = iss.clone();
        refused(v.verify_claims(&issuer.sign(Algorithm::RS256, &issuer.rsa_kid(), &claims)).await);
    }
    let mut claims = issuer.claims();
    claims.as_object_mut().unwrap().remove("iss");
    refused(v.verify_claims(&issuer.sign(Algorithm::RS256, &issuer.rsa_kid(), &claims)).await);
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused() {
    let issuer = TestIssuer::start().await;
    let v = verifier(&issuer).await;
    for aud in [json!("another-api"), json!(["another-api", "a-third"]), json!([])] {
        let mut claims = issuer.claims();
        claims["aud"] = aud;
        refused(v.verify_claims(&issuer.sign(Algorithm::ES256, &issuer.ec_kid(), &claims)).await);
    }
    let mut claims = issuer.claims();
    claims.as_object_mut().unwrap().remove("aud");
    refused(v.verify_claims(&issuer.sign(Algorithm::ES256, &issuer.ec_kid(), &claims)).await);
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let issuer = TestIssuer::start().await;
    let v = verifier(&issuer).await;
    let mut claims = issuer.claims();
    let now = claims["iat"].as_u64().unwrap();
    claims["nbf"] = json!(now - 3600);
    claims["exp"] = json!(now - 60);
    let reason = refused(v.verify_claims(&issuer.sign(Algorithm::RS256, &issuer.rsa_kid(), &claims)).await);
    assert!(reason.to_lowercase().contains("expired"), "{reason}");
}

#[tokio::test]
async fn a_token_whose_nbf_is_in_the_future_is_refused() {
    let issuer = TestIssuer::start().await;
    let v = verifier(&issuer).await;
    let mut claims = issuer.claims();
    let now = claims["iat"].as_u64().unwrap();
    claims["nbf"] = json!(now + 600);
    claims["exp"] = json!(now + 1200);
    let reason = refused(v.verify_claims(&issuer.sign(Algorithm::ES256, &issuer.ec_kid(), &claims)).await);
    assert!(reason.to_lowercase().contains("immature"), "{reason}");
}

#[tokio::test]
async fn a_token_without_exp_or_nbf_is_refused() {
    let issuer = TestIssuer::start().await;
    let v = verifier(&issuer).await;
    for missing in ["exp", "nbf"] {
        let mut claims = issuer.claims();
        claims.as_object_mut().unwrap().remove(missing);
        let reason = refused(v.verify_claims(&issuer.sign(Algorithm::RS256, &issuer.rsa_kid(), &claims)).await);
        assert!(reason.contains(missing), "{missing}: {reason}");
    }
}

#[tokio::test]
async fn a_tampered_payload_is_refused() {
    let issuer = TestIssuer::start().await;
    let v = verifier(&issuer).await;
    for (alg, kid) in [(Algorithm::RS256, issuer.rsa_kid()), (Algorithm::ES256, issuer.ec_kid())] {
        let token = issuer.sign(alg, &kid, &issuer.claims());
        v.verify_claims(&token).await.expect("untouched, it is accepted");
        let tampered = TestIssuer::tamper_payload(&token, |c| c["sub"] = json!("admin"));
        let reason = refused(v.verify_claims(&tampered).await);
        assert!(reason.to_lowercase().contains("signature"), "{alg:?}: {reason}");
    }
}

#[tokio::test]
async fn a_tampered_signature_is_refused() {
    let issuer = TestIssuer::start().await;
    let v = verifier(&issuer).await;
    for (alg, kid) in [(Algorithm::RS256, issuer.rsa_kid()), (Algorithm::ES256, issuer.ec_kid())] {
        let token = issuer.sign(alg, &kid, &issuer.claims());
        v.verify_claims(&token).await.expect("untouched, it is accepted");
        refused(v.verify_claims(&TestIssuer::tamper_signature(&token)).await);
        let (signed, _) = token.rsplit_once('.').unwrap();
        refused(v.verify_claims(&format!("{signed}.")).await);
    }
}

#[tokio::test]
async fn a_token_signed_by_a_key_the_issuer_never_published_is_refused() {
    let issuer = TestIssuer::start().await;
    let v = verifier(&issuer).await;
    let token = issuer.sign_as_stranger(&issuer.ec_kid(), &issuer.claims());
    let reason = refused(v.verify_claims(&token).await);
    assert!(reason.to_lowercase().contains("signature"), "{reason}");
}

#[tokio::test]
async fn a_token_without_a_kid_is_accepted_only_when_the_issuer_has_exactly_one_usable_key() {
    let two_keys = TestIssuer::start().await;
    let v = verifier(&two_keys).await;
    let reason = refused(v.verify_claims(&two_keys.sign_without_kid(Algorithm::RS256, &two_keys.claims())).await);
    assert!(reason.contains("no kid"), "{reason}");
    assert_eq!(two_keys.jwks_fetches(), 1, "a token without a kid never refetches");

    // The symmetric and unknown-kty entries of its JWKS do not count.
    let one_key = TestIssuer::start_rsa_only().await;
    let v = verifier(&one_key).await;
    let token = one_key.sign_without_kid(Algorithm::RS256, &one_key.claims());
    assert_eq!(v.verify_claims(&token).await.expect("accepted")["sub"], "user-1");
    // Even then the key's own algorithm rules.
    let forged = TestIssuer::forge_unsigned("none", "", &one_key.claims(), "");
    refused(v.verify_claims(&forged).await);
}

#[tokio::test]
async fn text_that_is_not_a_token_is_refused() {
    let issuer = TestIssuer::start().await;
    let v = verifier(&issuer).await;
    for junk in ["", "garbage", "a.b", "a.b.c", "...", "Bearer x.y.z", "eyJhbGciOiJSUzI1NiJ9.e30"] {
        refused(v.verify_claims(junk).await);
    }
}

#[tokio::test]
async fn a_trailing_slash_on_the_configured_issuer_is_tolerated() {
    let issuer = TestIssuer::start().await;
    let v = OidcVerifier::discover(&format!("{}/", issuer.issuer()), AUDIENCE).await.expect("discovery");
    // Tokens must still carry the issuer exactly as its document spells it.
    assert_eq!(v.issuer(), issuer.issuer());
    v.verify_claims(&issuer.sign(Algorithm::RS256, &issuer.rsa_kid(), &issuer.claims())).await.expect("accepted");
}

#[tokio::test]
async fn discovery_fails_clearly_when_the_document_names_another_issuer() {
    let issuer = TestIssuer::start_naming("https://impostor.example").await;
    let err = OidcVerifier::discover(&issuer.issuer(), AUDIENCE).await.expect_err("refused");
    let url = format!("{}/.well-known/openid-configuration", issuer.issuer());
    assert_eq!(
        err,
        OidcError::IssuerMismatch {
            url: url.clone(),
            expected: issuer.issuer(),
            found: "https://impostor.example".to_string()
        }
    );
    let message = err.to_string();
    assert!(message.contains(&url) && message.contains("impostor.example"), "{message}");
    assert_eq!(issuer.jwks_fetches(), 0, "nothing is fetched from an impostor's jwks_uri");
}

#[tokio::test]
async fn discovery_fails_clearly_when_the_issuer_is_unreachable() {
    // A port that was just free: bound, then released, so nothing listens.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let issuer = format!("http://{addr}");
    let err = OidcVerifier::discover(&issuer, AUDIENCE).await.expect_err("refused");
    assert!(matches!(err, OidcError::Unreachable { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&format!("{issuer}/.well-known/openid-configuration")), "{message}");
}

#[tokio::test]
async fn discovery_fails_clearly_when_there_is_no_discovery_document() {
    let issuer = TestIssuer::start().await;
    let wrong = format!("{}/tenant-9", issuer.issuer());
    let err = OidcVerifier::discover(&wrong, AUDIENCE).await.expect_err("refused");
    assert_eq!(err, OidcError::Status { url: format!("{wrong}/.well-known/openid-configuration"), status: 404 });
    assert!(err.to_string().contains("404"), "{err}");
}

/// Collects what tracing writes, for the log test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Everything this test binary logs. A global subscriber, not a scoped
/// one: the other tests of the binary log from their own threads at the
/// same time, and a callsite first reached there before a scoped
/// subscriber exists can stay disabled for it.
fn captured_log() -> &'static Captured {
    static LOG: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber of this binary");
        captured
    })
}

#[tokio::test]
async fn refusals_are_logged_with_kid_and_reason_but_never_the_token() {
    let captured = captured_log();
    let issuer = TestIssuer::start().await;
    let v = verifier(&issuer).await;
    let mut claims = issuer.claims();
    claims["email"] = json!("secret.person@example.com");
    let good = issuer.sign(Algorithm::RS256, &issuer.rsa_kid(), &claims);
    v.verify_claims(&good).await.expect("accepted");
    let forged = [
        TestIssuer::tamper_payload(&good, |c| c["sub"] = json!("admin")),
        TestIssuer::tamper_signature(&good),
        issuer.sign(Algorithm::RS256, "kid-for-the-log", &claims),
        TestIssuer::forge_hs256(&issuer.rsa_kid(), &claims, b"whatever"),
        TestIssuer::forge_unsigned("none", &issuer.rsa_kid(), &claims, ""),
    ];
    for token in &forged {
        refused(v.verify_claims(token).await);
    }

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("bearer token refused"), "{log}");
    assert!(log.contains("kid-for-the-log"), "{log}");
    assert!(log.contains("not allowed"), "{log}");
    for token in forged.iter().chain([&good]) {
        for part in token.split('.').filter(|p| p.len() > 8) {
            assert!(!log.contains(part), "a token part was logged: {part}\n{log}");
        }
    }
    assert!(!log.contains("secret.person"), "{log}");
}
