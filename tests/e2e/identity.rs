//! Sign-in through an OIDC issuer, end to end over HTTP, on the backend this
//! run targets: standalone with `--oidc-issuer`, or the emulator stack
//! behind the issuer as behind API Gateway's JWT authorizer. The issuer is
//! a local JWKS server on loopback (`subsidy_tests::oidc_issuer`).
//!
//! Tokens identify; the staff directory authorises. Every forged token is
//! refused with 401 and stores nothing.

use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use subsidy_core::identity::Role;
use subsidy_tests::oidc_issuer::{AUDIENCE, Rotation, TestIssuer};
use subsidy_tests::*;

async fn stack() -> (TestIssuer, TestApp) {
    let issuer = TestIssuer::start().await;
    let app = TestApp::spawn_with_oidc(&issuer.issuer(), AUDIENCE).await;
    (issuer, app)
}

fn with(issuer: &TestIssuer, extra: Value) -> Value {
    let mut c = issuer.claims();
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

const COMPANY: &str = "/api/v1/company";

fn profile(code: &str) -> Value {
    json!({"creditCode": code, "name": "统一身份物业", "legalRepresentative": "法人", "contactName": "经办人",
        "contactPhone": "13700137000",
        "bankAccount": {"bankName": "中国银行", "accountName": "统一身份物业", "accountNumber": "6217000012345670"}})
}

#[tokio::test]
async fn rs256_and_es256_tokens_identify_and_the_directory_not_the_claims_authorises() {
    let (issuer, app) = stack().await;
    app.services.directory().seed("oidc-reviewer", "南园初审员", &[(Role::Community, "440304001020")]).await.unwrap();
    // The token claims finance of the whole city; the directory says 南园社区's reviewer.
    let claims = with(&issuer, json!({"sub": "oidc-reviewer", "role": "finance", "jurisdiction": "440300"}));
    for token in [
        issuer.sign(Algorithm::RS256, &issuer.rsa_kid(), &claims),
        issuer.sign(Algorithm::ES256, &issuer.ec_kid(), &claims),
    ] {
        let user = app.with_token(&token);
        let me = user.get("/api/v1/me").await.ok();
        assert_eq!(
            (me["role"].as_str(), me["unit"]["code"].as_str()),
            (Some("community"), Some("440304001020")),
            "{me}"
        );
        assert_eq!(me["assignments"][0]["unitName"], "南园社区居委会", "{me}");
        user.get("/api/v1/review/community/inbox").await.ok();
        user.get("/api/v1/batches").await.expect(404, "not_found");
        user.get("/api/v1/stats/440300").await.expect(404, "not_found");
    }
    // A subject the directory does not hold is no staff, whatever it claims.
    let stranger = with(&issuer, json!({"sub": "oidc-stranger", "role": "district", "jurisdiction": "440304"}));
    let user = app.with_token(&issuer.sign(Algorithm::RS256, &issuer.rsa_kid(), &stranger));
    assert_eq!(user.get("/api/v1/me").await.ok()["role"], "company");
    user.get("/api/v1/review/district/inbox").await.expect(404, "not_found");
}

#[tokio::test]
async fn with_an_issuer_the_servers_own_tokens_and_the_dev_login_are_refused() {
    let (_issuer, app) = stack().await;
    // A token signed with the server's own key, for a real staff member.
    app.services.directory().seed("own-key", "财政", &[(Role::Finance, "440304")]).await.unwrap();
    let own = app.token(json!({"sub": "own-key"}));
    app.with_token(&own).get("/api/v1/me").await.expect(401, "unauthenticated");
    app.with_token(&own).get("/api/v1/batches").await.expect(401, "unauthenticated");
    let r = app.anonymous().post("/api/v1/auth/dev-login", json!({"username": "finance-futian"})).await;
    assert_eq!(r.status.as_u16(), 404, "{}", r.body);
    assert_eq!(app.anonymous().get("/api/v1/auth/dev-accounts").await.status.as_u16(), 404);
}

#[tokio::test]
async fn forged_expired_and_foreign_tokens_are_refused_and_store_nothing() {
    let (issuer, app) = stack().await;
    let companies = app.count("companies").await;
    let code = subsidy_core::company::credit_code::CreditCode::with_check_character("91440300MA5D00061").unwrap();
    let good = with(&issuer, json!({"sub": "oidc-forger"}));
    let kid = issuer.rsa_kid();
    let mut forged: Vec<(String, String)> = vec![
        ("alg none".into(), TestIssuer::forge_unsigned("none", &kid, &good, "")),
        (
            "wrong issuer".into(),
            issuer.sign(
                Algorithm::RS256,
                &kid,
                &with(&issuer, json!({"iss": "https://idp.elsewhere.example", "sub": "oidc-forger"})),
            ),
        ),
        (
            "wrong audience".into(),
            issuer.sign(Algorithm::RS256, &kid, &with(&issuer, json!({"aud": "another-app", "sub": "oidc-forger"}))),
        ),
        (
            "expired".into(),
            issuer.sign(
                Algorithm::RS256,
                &kid,
                &with(&issuer, json!({"exp": 1_600_000_000, "nbf": 1_599_990_000, "sub": "oidc-forger"})),
            ),
        ),
        (
            "not yet valid".into(),
            issuer.sign(
                Algorithm::RS256,
                &kid,
                &with(&issuer, json!({"nbf": 4_000_000_000_i64, "exp": 4_000_000_300_i64, "sub": "oidc-forger"})),
            ),
        ),
        (
            "tampered payload".into(),
            TestIssuer::tamper_payload(&issuer.sign(Algorithm::RS256, &kid, &good), |c| {
                c["sub"] = json!("someone-else")
            }),
        ),
        (
            "tampered signature".into(),
            TestIssuer::tamper_signature(&issuer.sign(Algorithm::ES256, &issuer.ec_kid(), &good)),
        ),
        ("a key never published".into(), issuer.sign_as_stranger(&issuer.ec_kid(), &good)),
        ("garbage".into(), "abc.def.ghi".into()),
    ];
    for (form, secret) in issuer.rsa_public_key_forms() {
        forged.push((
            format!("HS256 with the public key ({form}) as secret"),
            TestIssuer::forge_hs256(&kid, &good, &secret),
        ));
    }
    for (name, token) in &forged {
        let r = app.with_token(token).put(COMPANY, profile(code.as_str())).await;
        assert_eq!((r.status.as_u16(), r.code()), (401, "unauthenticated"), "{name}: {}", r.body);
    }
    assert_eq!(app.count("companies").await, companies, "no forged token stored anything");
    // The same request with a genuine token is accepted: the refusals were the tokens'.
    app.with_token(&issuer.sign(Algorithm::RS256, &kid, &good)).put(COMPANY, profile(code.as_str())).await.ok();
    assert_eq!(app.count("companies").await, companies + 1);
}

#[tokio::test]
async fn a_key_the_issuer_rotates_in_is_accepted_without_a_restart() {
    let (issuer, app) = stack().await;
    let claims = with(&issuer, json!({"sub": "oidc-rotation"}));
    let old = issuer.rsa_kid();
    app.with_token(&issuer.sign(Algorithm::RS256, &old, &claims)).get("/api/v1/me").await.ok();
    let new = issuer.rotate(Rotation::DropOld);
    app.with_token(&issuer.sign(Algorithm::RS256, &new, &claims)).get("/api/v1/me").await.ok();
    // The dropped key's tokens are refused now that the set was refetched.
    app.with_token(&issuer.sign(Algorithm::RS256, &old, &claims))
        .get("/api/v1/me")
        .await
        .expect(401, "unauthenticated");
}

#[tokio::test]
async fn a_disabled_staff_member_is_refused_on_the_next_request() {
    let (issuer, app) = stack().await;
    let directory = app.services.directory();
    directory.seed("oidc-district", "福田审核", &[(Role::District, "440304")]).await.unwrap();
    directory.seed("oidc-admin", "福田管理员", &[(Role::Admin, "440304")]).await.unwrap();
    let reviewer = app.with_token(&issuer.sign(
        Algorithm::RS256,
        &issuer.rsa_kid(),
        &with(&issuer, json!({"sub": "oidc-district"})),
    ));
    let admin =
        app.with_token(&issuer.sign(Algorithm::ES256, &issuer.ec_kid(), &with(&issuer, json!({"sub": "oidc-admin"}))));
    reviewer.get("/api/v1/review/district/inbox").await.ok();
    let disabled = admin.delete("/api/v1/admin/staff/oidc-district").await.ok();
    assert_eq!(disabled["active"], false);
    reviewer.get("/api/v1/review/district/inbox").await.expect(403, "account_disabled");
    reviewer.get("/api/v1/me").await.expect(403, "account_disabled");
}

#[tokio::test]
async fn a_project_manager_needs_the_issuer_to_have_verified_the_phone() {
    let (issuer, app) = stack().await;
    let pm = |verified: Value| {
        issuer.sign(
            Algorithm::RS256,
            &issuer.rsa_kid(),
            &with(&issuer, json!({"sub": "oidc-pm", "role": "project_manager", "phone_number": "13800138001", "phone_number_verified": verified})),
        )
    };
    for unverified in [json!(false), json!("false"), Value::Null] {
        let token = pm(unverified.clone());
        app.with_token(&token).get("/api/v1/manager/inbox").await.expect(403, "phone_not_verified");
        // The same person may still act as a company.
        let me = app.call(Some(&token), "GET", "/api/v1/me", None, &[("x-acting-as", "company")]).await.ok();
        assert_eq!(me["role"], "company");
    }
    let inbox = app.with_token(&pm(json!(true))).get("/api/v1/manager/inbox").await.ok();
    assert!(inbox["items"].is_array(), "{inbox}");
}

#[tokio::test]
async fn a_legal_person_login_registers_only_its_own_credit_code() {
    let (issuer, app) = stack().await;
    let own = subsidy_core::company::credit_code::CreditCode::with_check_character("91440300MA5D00053").unwrap();
    let other = subsidy_core::company::credit_code::CreditCode::with_check_character("91440300MA5D00045").unwrap();
    let claims = with(&issuer, json!({"sub": "oidc-legal-person", "credit_code": own.as_str().to_lowercase()}));
    let user = app.with_token(&issuer.sign(Algorithm::RS256, &issuer.rsa_kid(), &claims));
    let companies = app.count("companies").await;
    let r = user.put(COMPANY, profile(other.as_str())).await;
    assert_eq!((r.status.as_u16(), r.code(), r.field()), (422, "credit_code_mismatch", "creditCode"), "{}", r.body);
    assert_eq!(app.count("companies").await, companies, "nothing stored");
    let saved = user.put(COMPANY, profile(own.as_str())).await.ok();
    assert_eq!(saved["creditCode"], own.as_str());
}
