//! Versions, idempotency, authentication, restarts, the audit chain, and
//! pagination: the properties that keep data right under real use.

use serde_json::json;
use subsidy_tests::*;

#[tokio::test]
async fn a_stale_version_gets_409_with_the_current_version() {
    let app = TestApp::spawn_standalone().await;
    let id = submitted_and_confirmed(&app).await;
    let community = app.login("community-nanyuan").await;
    let seen = community.application(&id).await["version"].as_u64().unwrap();
    let path = format!("/api/v1/review/community/applications/{id}/approve");
    let r = community.post(&path, json!({"version": seen - 1})).await;
    let body = r.expect(409, "version_conflict");
    assert_eq!(body["error"]["currentVersion"], seen);
    assert_eq!(community.application(&id).await["state"], "pending_community", "nothing changed");
    community.post(&path, json!({"version": seen})).await.ok();
    // The same version twice: the second is stale.
    let again = community.post(&path, json!({"version": seen})).await.expect(409, "version_conflict");
    assert_eq!(again["error"]["currentVersion"], seen + 1);
}

#[tokio::test]
async fn concurrent_approvals_of_one_application_let_exactly_one_through() {
    let app = TestApp::spawn_standalone().await;
    let id = submitted_and_confirmed(&app).await;
    let community = app.login("community-nanyuan").await;
    let version = community.app_version(&id).await;
    let path = format!("/api/v1/review/community/applications/{id}/approve");
    let calls = (0..8).map(|_| community.post(&path, json!({"version": version})));
    let replies = futures::future::join_all(calls).await;
    let ok = replies.iter().filter(|r| r.status.is_success()).count();
    let conflicts = replies.iter().filter(|r| r.status.as_u16() == 409).count();
    assert_eq!((ok, conflicts), (1, 7), "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
    let timeline = community.get(&format!("/api/v1/applications/{id}/timeline")).await.ok();
    assert_eq!(timeline.as_array().unwrap().iter().filter(|e| e["action"] == "approve").count(), 1);
}

#[tokio::test]
async fn an_idempotent_retry_returns_the_first_response_and_acts_once() {
    let app = TestApp::spawn_standalone().await;
    let company = app.login("company-a").await;
    let project = company.project_id("南园花园").await;
    let body = json!({"projectId": project});
    let first = company.post_with_key("/api/v1/applications", body.clone(), "create-nanyuan-1").await;
    assert_eq!(first.status, 201);
    let retry = company.post_with_key("/api/v1/applications", body.clone(), "create-nanyuan-1").await;
    assert_eq!(retry.status, 201, "the first response, not a 409 claim conflict");
    assert_eq!(retry.body, first.body);
    assert_eq!(retry.headers.get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
    assert_eq!(app.count("applications").await, 1);

    // The same key for a different request is refused.
    let other = company.project_id("南园大厦").await;
    company
        .post_with_key("/api/v1/applications", json!({"projectId": other}), "create-nanyuan-1")
        .await
        .expect(422, "idempotency_key_reused");
    // Keys are per caller: another user's identical key is independent.
    let b = app.login("company-b").await;
    let kui = b.project_id("葵涌雅苑").await;
    assert_eq!(
        b.post_with_key("/api/v1/applications", json!({"projectId": kui}), "create-nanyuan-1").await.status,
        201
    );
    // Errors are replayed too, without acting again.
    let id = first.body["id"].as_str().unwrap();
    let submit = format!("/api/v1/applications/{id}/submit");
    let e1 = company.post_with_key(&submit, json!({"version": 1}), "submit-1").await;
    let e2 = company.post_with_key(&submit, json!({"version": 1}), "submit-1").await;
    assert_eq!((e1.status.as_u16(), e2.status.as_u16()), (422, 422));
    assert_eq!(e1.body, e2.body);
    // A malformed key is refused.
    let r = app
        .call(company.token.as_deref(), "POST", &submit, Some(json!({"version": 1})), &[("Idempotency-Key", "")])
        .await;
    assert_eq!((r.status.as_u16(), r.field()), (400, "Idempotency-Key"));
}

#[tokio::test]
async fn calls_without_a_valid_token_get_401() {
    let app = TestApp::spawn_standalone().await;
    let anon = app.anonymous();
    for path in [
        "/api/v1/me",
        "/api/v1/applications",
        "/api/v1/company",
        "/api/v1/review/community/inbox",
        "/api/v1/manager/inbox",
    ] {
        let r = anon.get(path).await;
        assert_eq!((r.status.as_u16(), r.code()), (401, "unauthenticated"), "{path}");
    }
    let r = anon.post("/api/v1/applications", json!({"projectId": "x"})).await;
    assert_eq!(r.status, 401);
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"sub": "demo-company-a", "role": "company"});
    let keys = &app.keys;
    let expired = keys.sign(&claims, now - 86_400, 60);
    let future = keys.sign(&claims, now + 3_600, 60);
    let foreign = subsidy_infra::jwt::Hs256::new(
        b"not-the-server-secret-not-the-se",
        subsidy_standalone::ISSUER,
        subsidy_standalone::AUDIENCE,
    )
    .sign(&claims, now, 600);
    // The server's own key, but another issuer or audience.
    let wrong_issuer = keys.renamed("https://evil.example", subsidy_standalone::AUDIENCE).sign(&claims, now, 600);
    let wrong_audience = keys.renamed(subsidy_standalone::ISSUER, "another-api").sign(&claims, now, 600);
    let no_role = keys.sign(&json!({"sub": "x"}), now, 600);
    let bad_unit = keys.sign(&json!({"sub": "x", "role": "district", "jurisdiction": "440304001020"}), now, 600);
    let valid = keys.sign(&claims, now, 600);
    let parts: Vec<&str> = valid.split('.').collect();
    let tampered_payload = {
        use base64::Engine;
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut c: serde_json::Value = serde_json::from_slice(&e.decode(parts[1]).unwrap()).unwrap();
        c["role"] = "city".into();
        c["jurisdiction"] = "440300".into();
        format!("{}.{}.{}", parts[0], e.encode(c.to_string()), parts[2])
    };
    let alg_none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.", parts[1]);
    for (name, token) in [
        ("expired", expired),
        ("not yet valid", future),
        ("wrong key", foreign),
        ("wrong issuer", wrong_issuer),
        ("wrong audience", wrong_audience),
        ("tampered claims", tampered_payload),
        ("alg none", alg_none),
        ("garbage", "abc.def.ghi".to_string()),
    ] {
        let r = app.with_token(&token).get("/api/v1/me").await;
        assert_eq!((r.status.as_u16(), r.code()), (401, "unauthenticated"), "{name}: {}", r.body);
    }
    assert_eq!(app.with_token(&valid).get("/api/v1/me").await.status, 200);
    // A valid token identifies; its role claims authorise nothing. Without
    // a directory entry, a subject is a company at most.
    for (name, token) in [("no role", no_role), ("a staff role claim", bad_unit)] {
        let me = app.with_token(&token).get("/api/v1/me").await.ok();
        assert_eq!((me["role"].as_str(), &me["unit"]), (Some("company"), &json!(null)), "{name}: {me}");
    }
    assert_eq!(app.count("applications").await, 0);
}

#[tokio::test]
async fn data_and_pending_outbox_events_survive_a_restart() {
    let app = TestApp::spawn_standalone().await;
    let id = submitted_and_confirmed(&app).await;
    let pending = app.sqlite().outbox_stats().await.unwrap().pending;
    assert!(pending >= 3, "create, submit and confirm are waiting: {pending}");

    let app = app.restart().await;
    assert_eq!(app.sqlite().outbox_stats().await.unwrap().pending, pending, "nothing lost, nothing delivered");
    let community = app.login("community-nanyuan").await;
    let before = community.application(&id).await;
    assert_eq!(before["state"], "pending_community");
    assert!(before["prechecks"].as_array().unwrap().is_empty());
    assert_eq!(app.drain().await, pending);
    let after = community.application(&id).await;
    assert_eq!(after["prechecks"][0]["tier"], "community", "the arrival was delivered after the restart");
    assert_eq!(app.sqlite().outbox_stats().await.unwrap().pending, 0);
    // Delivering again does nothing: the consumer is idempotent.
    assert_eq!(app.drain().await, 0);
    // The documents survived too.
    let company = app.login("company-a").await;
    let doc = company.application(&id).await["documents"][0]["id"].as_str().unwrap().to_string();
    company.get(&format!("/api/v1/applications/{id}/documents/{doc}")).await.ok();
}

#[tokio::test]
async fn redelivered_and_stale_arrivals_change_nothing() {
    let app = TestApp::spawn_standalone().await;
    let id = submitted_and_confirmed(&app).await;
    app.drain().await;
    let services = &app.services;
    let version = app.login("company-a").await.app_version(&id).await;
    let msg = subsidy_core::application::dispatch::TierArrival {
        application_id: id.clone(),
        tier: subsidy_core::identity::Tier::Community,
        version,
    };
    let first = services.ports.prechecks.prechecks_of(&id).await.unwrap();
    review::handle_arrival(&services.review, &msg).await.unwrap();
    review::handle_arrival(&services.review, &msg).await.unwrap();
    let again = services.ports.prechecks.prechecks_of(&id).await.unwrap();
    assert_eq!(again.len(), first.len(), "one report per tier, however often delivered");
    let stale =
        subsidy_core::application::dispatch::TierArrival { tier: subsidy_core::identity::Tier::District, ..msg };
    review::handle_arrival(&services.review, &stale).await.unwrap();
    assert!(
        services
            .ports
            .prechecks
            .prechecks_of(&id)
            .await
            .unwrap()
            .iter()
            .all(|r| r.tier != subsidy_core::identity::Tier::District)
    );
}

#[tokio::test]
async fn the_audit_chain_verifies_until_a_stored_entry_is_altered() {
    let app = TestApp::spawn_standalone().await;
    let id = submitted_and_confirmed(&app).await;
    let report = app.services.audit.verify_audit(|_| {}).await.unwrap();
    assert_eq!((report.applications, report.entries, report.failures.len()), (1, 3, 0));

    app.sqlite()
        .execute_raw(&format!("UPDATE audit SET body = record_pack(replace(record_json(body), '\"role\":\"project_manager\"', '\"role\":\"city\"')) WHERE application_id = '{id}' AND seq = 3"))
        .await
        .unwrap();
    let report = app.services.audit.verify_audit(|_| {}).await.unwrap();
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    assert!(report.failures[0].to_string().contains("entry 3"), "{}", report.failures[0]);

    // Deleting the last entry is caught by the head the application holds.
    let app2 = TestApp::spawn_standalone().await;
    let id2 = submitted_and_confirmed(&app2).await;
    app2.sqlite().execute_raw(&format!("DELETE FROM audit WHERE application_id = '{id2}' AND seq = 3")).await.unwrap();
    let report = app2.services.audit.verify_audit(|_| {}).await.unwrap();
    assert_eq!(report.failures.len(), 1);
}

#[tokio::test]
async fn lists_page_with_a_cursor_without_gaps_or_repeats() {
    let app = TestApp::spawn_standalone().await;
    let company = app.login("company-a").await;
    for i in 0..7 {
        company
            .post(
                "/api/v1/projects",
                json!({"name": format!("分页项目{i}"), "address": "南园路", "community": "440304001020", "managedArea": "100",
                       "managerName": "王", "managerPhone": "13800138001"}),
            )
            .await
            .ok();
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/projects?limit=3&cursor={c}"),
            None => "/api/v1/projects?limit=3".to_string(),
        };
        let page = company.get(&path).await.ok();
        pages += 1;
        for p in page["items"].as_array().unwrap() {
            seen.push(p["id"].as_str().unwrap().to_string());
        }
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 9, "7 new plus 2 demo projects");
    assert_eq!(pages, 3);
    let unique: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len());
}
