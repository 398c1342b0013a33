//! The workflow end to end, through HTTP, on a fresh standalone stack each.

use serde_json::{Value, json};
use subsidy_tests::*;

#[tokio::test]
async fn the_happy_path_reaches_approved_with_the_amount_to_the_fen() {
    let app = TestApp::spawn().await;
    let company = app.login("company-a").await;
    let created = company.create_application("南园花园").await;
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["state"], "draft");
    assert_eq!(created["claimedArea"], "52345.67");
    assert_eq!(created["claimedAmountFen"], 5_234_567);

    company.upload_required(&id).await;
    app.drain().await; // the upload events arrive (S3 → EventBridge → the document check on AWS)
    let docs = company.application(&id).await["documents"].clone();
    assert_eq!(docs.as_array().unwrap().len(), 2);
    assert!(docs.as_array().unwrap().iter().all(|d| d["status"] == "verified"), "{docs}");

    let submitted = company.act(&id, "/api/v1/applications/{id}/submit", json!({})).await.ok();
    assert_eq!(submitted["state"], "awaiting_area_confirmation");

    let pm = app.login("pm-a").await;
    let inbox = pm.get("/api/v1/manager/inbox").await.ok();
    assert_eq!(inbox["items"][0]["id"], id.as_str());
    let confirmed = pm.act(&id, "/api/v1/applications/{id}/confirm-area", json!({})).await.ok();
    assert_eq!(confirmed["state"], "pending_community");
    assert_eq!(confirmed["confirmedArea"], "52345.67");

    for (user, tier, next) in [
        ("community-nanyuan", "community", "pending_subdistrict"),
        ("subdistrict-nanyuan", "subdistrict", "pending_district"),
        ("district-futian", "district", "approved"),
    ] {
        assert!(app.drain().await >= 1, "the arrival at {tier} is delivered");
        let reviewer = app.login(user).await;
        let inbox = reviewer.get(&format!("/api/v1/review/{tier}/inbox")).await.ok();
        assert_eq!(inbox["items"].as_array().unwrap().len(), 1, "{inbox}");
        assert_eq!(inbox["items"][0]["id"], id.as_str());
        let detail = reviewer.application(&id).await;
        let prechecks = detail["prechecks"].as_array().unwrap();
        assert!(prechecks.iter().any(|p| p["tier"] == tier), "pre-checks recorded at {tier}: {detail}");
        assert_eq!(detail["project"]["managerPhone"], "138****8001", "staff see the phone masked");
        let approved =
            reviewer.act(&id, &format!("/api/v1/review/{tier}/applications/{{id}}/approve"), json!({})).await.ok();
        assert_eq!(approved["state"], next);
    }

    let done = company.application(&id).await;
    assert_eq!(done["state"], "approved");
    assert_eq!(done["approvedArea"], "52345.67");
    assert_eq!(done["approvedAmount"], "52345.67");
    assert_eq!(done["approvedAmountFen"], 5_234_567);
    assert_eq!(done["approvals"].as_array().unwrap().len(), 3);
    assert!(done["prechecks"].as_array().unwrap().is_empty(), "pre-checks are for staff");

    let timeline = company.get(&format!("/api/v1/applications/{id}/timeline")).await.ok();
    let (own, documents): (Vec<&Value>, Vec<&Value>) =
        timeline.as_array().unwrap().iter().partition(|e| e["subject"] == id.as_str());
    let actions: Vec<&str> = own.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["create", "submit", "confirm_area", "approve", "approve", "approve"]);
    let roles: Vec<&str> = own.iter().map(|e| e["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["company", "company", "project_manager", "community", "subdistrict", "district"]);
    // The two documents' own trails: each uploaded by the company, checked by the system.
    let doc_actions: Vec<(&str, &str)> =
        documents.iter().map(|e| (e["action"].as_str().unwrap(), e["actorId"].as_str().unwrap())).collect();
    assert_eq!(doc_actions.len(), 4, "{doc_actions:?}");
    assert_eq!(doc_actions.iter().filter(|(a, who)| *a == "upload_document" && *who == "demo-company-a").count(), 2);
    assert_eq!(doc_actions.iter().filter(|(a, who)| *a == "check_document" && *who == "system").count(), 2);
    let report = app.services.audit.verify_audit(|_| {}).await.unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!((report.entries, report.documents), (6, 2));
}

#[tokio::test]
async fn returned_application_restarts_at_community_review() {
    let app = TestApp::spawn().await;
    let id = submitted_and_confirmed(&app).await;
    let community = app.login("community-nanyuan").await;
    community.act(&id, "/api/v1/review/community/applications/{id}/approve", json!({})).await.ok();
    let subdistrict = app.login("subdistrict-nanyuan").await;
    let returned = subdistrict
        .act(&id, "/api/v1/review/subdistrict/applications/{id}/return", json!({"reason": "服务合同缺少盖章页"}))
        .await
        .ok();
    assert_eq!(returned["state"], "returned");

    let company = app.login("company-a").await;
    let seen = company.application(&id).await;
    assert_eq!(seen["lastDecision"]["kind"], "returned");
    assert_eq!(seen["lastDecision"]["reason"], "服务合同缺少盖章页");
    let edited = company.act(&id, "/api/v1/applications/{id}", json!({"note": "已补充盖章页"})).await;
    assert_eq!(edited.status, 405, "edits are PATCH, not POST");
    let version = company.app_version(&id).await;
    company
        .patch(&format!("/api/v1/applications/{id}"), json!({"version": version, "note": "已补充盖章页"}))
        .await
        .ok();
    company.upload(&id, "service_contract", "application/pdf", PDF).await.ok();
    let again = company.act(&id, "/api/v1/applications/{id}/submit", json!({})).await.ok();
    assert_eq!(again["state"], "pending_community", "same area: no new confirmation needed");
    assert_eq!(again["round"], 2);
    assert_eq!(again["approvals"].as_array().unwrap().len(), 0, "approvals restart");

    app.drain().await;
    let inbox = community.get("/api/v1/review/community/inbox").await.ok();
    assert_eq!(inbox["items"][0]["id"], id.as_str());
    let detail = community.application(&id).await;
    let flags: Vec<&str> =
        detail["prechecks"][0]["checks"].as_array().unwrap().iter().map(|c| c["code"].as_str().unwrap()).collect();
    assert!(flags.contains(&"resubmission"), "{flags:?}");
}

#[tokio::test]
async fn a_changed_claim_goes_back_to_the_project_manager() {
    let app = TestApp::spawn().await;
    let id = submitted_and_confirmed(&app).await;
    let community = app.login("community-nanyuan").await;
    community.act(&id, "/api/v1/review/community/applications/{id}/return", json!({"reason": "面积有误"})).await.ok();
    let company = app.login("company-a").await;
    let version = company.app_version(&id).await;
    let edited = company
        .patch(&format!("/api/v1/applications/{id}"), json!({"version": version, "claimedArea": "50000.00"}))
        .await
        .ok();
    assert_eq!(edited["claimedAmount"], "50000.00");
    let again = company.act(&id, "/api/v1/applications/{id}/submit", json!({})).await.ok();
    assert_eq!(again["state"], "awaiting_area_confirmation");
}

#[tokio::test]
async fn a_disputed_area_returns_the_application_to_the_company() {
    let app = TestApp::spawn().await;
    let company = app.login("company-a").await;
    let id = company.create_application("南园大厦").await["id"].as_str().unwrap().to_string();
    company.upload_required(&id).await;
    company.act(&id, "/api/v1/applications/{id}/submit", json!({})).await.ok();
    let pm = app.login("pm-a").await;
    pm.act(&id, "/api/v1/applications/{id}/dispute-area", json!({})).await.expect(422, "invalid_field");
    let disputed = pm
        .act(&id, "/api/v1/applications/{id}/dispute-area", json!({"reason": "实际在管面积 18000 平方米"}))
        .await
        .ok();
    assert_eq!(disputed["state"], "returned");
    assert_eq!(disputed["lastDecision"]["kind"], "area_disputed");
}

#[tokio::test]
async fn a_rejected_application_is_terminal_and_frees_the_project() {
    let app = TestApp::spawn().await;
    let id = submitted_and_confirmed(&app).await;
    let community = app.login("community-nanyuan").await;
    community
        .act(&id, "/api/v1/review/community/applications/{id}/reject", json!({}))
        .await
        .expect(422, "invalid_field");
    let rejected = community
        .act(&id, "/api/v1/review/community/applications/{id}/reject", json!({"reason": "非住宅项目"}))
        .await
        .ok();
    assert_eq!(rejected["state"], "rejected");
    assert_eq!(rejected["lastDecision"]["reason"], "非住宅项目");
    let company = app.login("company-a").await;
    company.act(&id, "/api/v1/applications/{id}/submit", json!({})).await.expect(409, "wrong_state");
    company.act(&id, "/api/v1/applications/{id}/withdraw", json!({})).await.expect(409, "wrong_state");
    let fresh = company.create_application("南园花园").await;
    assert_ne!(fresh["id"], id.as_str(), "the project can be claimed again");
}

#[tokio::test]
async fn a_company_withdraws_before_the_district_decides_but_not_after() {
    let app = TestApp::spawn().await;
    let id = submitted_and_confirmed(&app).await;
    let company = app.login("company-a").await;
    let withdrawn = company.act(&id, "/api/v1/applications/{id}/withdraw", json!({"reason": "重复申报"})).await.ok();
    assert_eq!(withdrawn["state"], "withdrawn");
    let community = app.login("community-nanyuan").await;
    community
        .act(&id, "/api/v1/review/community/applications/{id}/approve", json!({}))
        .await
        .expect(409, "wrong_state");

    let id2 = submitted_and_confirmed(&app).await;
    for (user, tier) in
        [("community-nanyuan", "community"), ("subdistrict-nanyuan", "subdistrict"), ("district-futian", "district")]
    {
        let r = app.login(user).await;
        r.act(&id2, &format!("/api/v1/review/{tier}/applications/{{id}}/approve"), json!({})).await.ok();
    }
    company.act(&id2, "/api/v1/applications/{id}/withdraw", json!({})).await.expect(409, "wrong_state");
}

#[tokio::test]
async fn a_smaller_approved_area_recomputes_the_amount() {
    let app = TestApp::spawn().await;
    let id = submitted_and_confirmed(&app).await;
    let community = app.login("community-nanyuan").await;
    let path = "/api/v1/review/community/applications/{id}/approve";
    let r = community.act(&id, path, json!({"approvedArea": "50000.00"})).await;
    assert_eq!((r.status.as_u16(), r.field()), (422, "reason"));
    let r = community.act(&id, path, json!({"approvedArea": "60000.00", "reason": "x"})).await;
    assert_eq!((r.status.as_u16(), r.field()), (422, "approvedArea"), "more than claimed");
    let r = community.act(&id, path, json!({"approvedArea": "0", "reason": "x"})).await;
    assert_eq!((r.status.as_u16(), r.field()), (422, "approvedArea"));
    community.act(&id, path, json!({"approvedArea": "50000.01", "reason": "扣除商业面积 2345.66 平方米"})).await.ok();
    let sub = app.login("subdistrict-nanyuan").await;
    sub.act(&id, "/api/v1/review/subdistrict/applications/{id}/approve", json!({})).await.ok();
    let district = app.login("district-futian").await;
    let done = district.act(&id, "/api/v1/review/district/applications/{id}/approve", json!({})).await.ok();
    assert_eq!(done["approvedArea"], "50000.01");
    assert_eq!(done["approvedAmount"], "50000.01");
    assert_eq!(done["approvedAmountFen"], 5_000_001);
    assert_eq!(done["claimedAmountFen"], 5_234_567, "the claim is kept beside the approval");
}

#[tokio::test]
async fn submission_after_the_deadline_is_refused() {
    let app = TestApp::spawn().await;
    let company = app.login("company-a").await;
    let id = company.create_application("南园花园").await["id"].as_str().unwrap().to_string();
    company.upload_required(&id).await;
    let policy = company.get("/api/v1/policy").await.ok();
    let closes: chrono::DateTime<chrono::Utc> = policy["closesAt"].as_str().unwrap().parse().unwrap();
    app.clock.set(closes);
    let r = company.act(&id, "/api/v1/applications/{id}/submit", json!({})).await.expect(409, "window_closed");
    assert!(r["error"]["message"].as_str().unwrap().contains("closed"));
    let other = company.project_id("南园大厦").await;
    company.post("/api/v1/applications", json!({"projectId": other})).await.expect(409, "window_closed");
    assert_eq!(company.application(&id).await["state"], "draft", "nothing changed");
    app.clock.set(closes - chrono::Duration::seconds(1));
    company.act(&id, "/api/v1/applications/{id}/submit", json!({})).await.ok();
}

/// A draft takes no claim: a squatter's draft blocks nobody. The first
/// submission of an estate holds it; a later one is refused, naming the
/// holder only to the company that owns it.
#[tokio::test]
async fn the_first_submission_of_an_estate_holds_it_and_drafts_block_nobody() {
    let app = TestApp::spawn().await;
    let company = app.login("company-a").await;
    let project = company.project_id("南园花园").await;
    // Another company registers the same estate under its own name,
    // whatever the spacing, case or full-width forms, and drafts it first.
    let other = app.login("company-b").await;
    let r = other.post("/api/v1/applications", json!({"projectId": project})).await;
    assert_eq!((r.status.as_u16(), r.field()), (422, "projectId"), "nobody names another company's project");
    let mut squats = Vec::new();
    for name in ["南园花园", " 南园 花园 ", "南园\u{3000}花园"] {
        let twin = other
            .post(
                "/api/v1/projects",
                json!({"name": name, "address": "南园路 88 号", "community": "440304001020", "managedArea": "52345.67",
                       "managerName": "赵经理", "managerPhone": "13800138009"}),
            )
            .await
            .ok();
        let draft = other.post("/api/v1/applications", json!({"projectId": twin["id"]})).await.ok();
        squats.push(draft["id"].as_str().unwrap().to_string());
    }
    // The real company still drafts and submits: the drafts blocked nothing.
    let first = company.create_application("南园花园").await["id"].as_str().unwrap().to_string();
    company.upload_required(&first).await;
    company.act(&first, "/api/v1/applications/{id}/submit", json!({})).await.ok();
    // The squatter's submissions are refused, without the holder's id.
    for id in &squats {
        other.upload_required(id).await;
        let r = other.act(id, "/api/v1/applications/{id}/submit", json!({})).await;
        let body = r.expect(409, "project_already_claimed");
        assert!(body["error"].get("applicationId").is_none(), "another company's id: {body}");
        assert!(!body.to_string().contains(&first), "{body}");
        assert_eq!(other.application(id).await["state"], "draft", "nothing half submitted");
    }
    // The company's own second draft of the estate is told which holds it.
    let second = company.post("/api/v1/applications", json!({"projectId": project})).await.ok();
    let second = second["id"].as_str().unwrap().to_string();
    company.upload_required(&second).await;
    let r = company.act(&second, "/api/v1/applications/{id}/submit", json!({})).await;
    assert_eq!(r.expect(409, "project_already_claimed")["error"]["applicationId"], first.as_str());
    // A squatter's draft is withdrawn without touching the holder's claim.
    let gone = other.act(&squats[0], "/api/v1/applications/{id}/withdraw", json!({})).await.ok();
    assert_eq!(gone["state"], "withdrawn");
    let r = other.act(&squats[1], "/api/v1/applications/{id}/submit", json!({})).await;
    r.expect(409, "project_already_claimed");
    assert_eq!(company.application(&first).await["state"], "awaiting_area_confirmation");
    // Staff never see the drafts.
    let reviewer = app.login("community-nanyuan").await;
    let seen = reviewer.get("/api/v1/applications").await.ok();
    assert!(seen["items"].as_array().unwrap().iter().all(|a| a["state"] != "draft"), "{seen}");
    // The same name in another community is another estate.
    let elsewhere = other
        .post(
            "/api/v1/projects",
            json!({"name": "南园花园", "address": "南华路 1 号", "community": "440304001023", "managedArea": "1000.00",
                   "managerName": "赵经理", "managerPhone": "13800138009"}),
        )
        .await
        .ok();
    let d = other.post("/api/v1/applications", json!({"projectId": elsewhere["id"]})).await.ok();
    let d = d["id"].as_str().unwrap().to_string();
    other.upload_required(&d).await;
    other.act(&d, "/api/v1/applications/{id}/submit", json!({})).await.ok();
}

#[tokio::test]
async fn reviewers_outside_the_jurisdiction_get_404_and_empty_inboxes() {
    let app = TestApp::spawn().await;
    let id = submitted_and_confirmed(&app).await;
    let sibling = app.login("community-nanhua").await;
    sibling.get(&format!("/api/v1/applications/{id}")).await.expect(404, "not_found");
    sibling.get(&format!("/api/v1/applications/{id}/timeline")).await.expect(404, "not_found");
    let r = sibling.post(&format!("/api/v1/review/community/applications/{id}/approve"), json!({"version": 3})).await;
    let body = r.expect(404, "not_found");
    assert!(body["error"].get("currentVersion").is_none(), "a denial says nothing about the object");
    assert!(sibling.get("/api/v1/review/community/inbox").await.ok()["items"].as_array().unwrap().is_empty());
    let list = sibling.get("/api/v1/applications").await.ok();
    assert!(list["items"].as_array().unwrap().is_empty());

    // 大鹏新区 manages 葵涌 even though its code sits under 龙岗区.
    let b = app.login("company-b").await;
    let kid = b.create_application("葵涌雅苑").await["id"].as_str().unwrap().to_string();
    b.upload_required(&kid).await;
    b.act(&kid, "/api/v1/applications/{id}/submit", json!({})).await.ok();
    app.login("district-longgang").await.get(&format!("/api/v1/applications/{kid}")).await.expect(404, "not_found");
    app.login("district-dapeng").await.get(&format!("/api/v1/applications/{kid}")).await.ok();
    app.login("city").await.get(&format!("/api/v1/applications/{kid}")).await.ok();
    // Other companies never see it; drafts are invisible to staff.
    app.login("company-a").await.get(&format!("/api/v1/applications/{kid}")).await.expect(404, "not_found");
    let a = app.login("company-a").await;
    let draft = a.create_application("南园大厦").await["id"].as_str().unwrap().to_string();
    app.login("community-nanyuan").await.get(&format!("/api/v1/applications/{draft}")).await.expect(404, "not_found");
}

#[tokio::test]
async fn a_reviewer_acting_at_the_wrong_tier_is_refused() {
    let app = TestApp::spawn().await;
    let id = submitted_and_confirmed(&app).await;
    let sub = app.login("subdistrict-nanyuan").await;
    // The subdistrict's own route, while the application waits at community: 409.
    sub.act(&id, "/api/v1/review/subdistrict/applications/{id}/approve", json!({})).await.expect(409, "wrong_state");
    // Another tier's route: as if it did not exist.
    sub.act(&id, "/api/v1/review/community/applications/{id}/approve", json!({})).await.expect(404, "not_found");
    sub.get("/api/v1/review/community/inbox").await.expect(404, "not_found");
    app.login("company-a").await.get("/api/v1/review/community/inbox").await.expect(404, "not_found");
    sub.get("/api/v1/review/city/inbox").await.expect(404, "no_route");
    let city = app.login("city").await;
    city.act(&id, "/api/v1/review/district/applications/{id}/approve", json!({})).await.expect(404, "not_found");
    // A role that may never take an action gets 404 even with a stale version.
    let pm = app.login("pm-a").await;
    pm.post(&format!("/api/v1/applications/{id}/withdraw"), json!({"version": 1})).await.expect(404, "not_found");
    sub.post(&format!("/api/v1/applications/{id}/submit"), json!({"version": 1})).await.expect(404, "not_found");
    assert_eq!(app.login("company-a").await.application(&id).await["state"], "pending_community");
}

#[tokio::test]
async fn a_new_company_registers_its_profile_and_a_project() {
    let app = TestApp::spawn().await;
    let new = app.login("company-new").await;
    new.get("/api/v1/company").await.expect(404, "not_found");
    new.post(
        "/api/v1/projects",
        json!({"name": "x", "address": "y", "community": "440304001020", "managedArea": "1", "managerName": "z", "managerPhone": "13800138000"}),
    )
    .await
    .expect(409, "company_profile_required");
    let code = subsidy_core::company::credit_code::CreditCode::with_check_character("91440300MA5D00077").unwrap();
    let profile = json!({
        "creditCode": code.as_str(), "name": "深圳市新安物业有限公司", "legalRepresentative": "周新",
        "contactName": "周新", "contactPhone": "139 0013 9077",
        "bankAccount": {"bankName": "建设银行", "accountName": "深圳市新安物业有限公司", "accountNumber": "4420 1234 5678 9012"}
    });
    let created = new.put("/api/v1/company", profile.clone()).await;
    assert_eq!(created.status, 201, "registration creates");
    let c = created.ok();
    assert_eq!(c["contactPhone"], "139****9077", "masked even to its owner");
    assert_eq!(c["bankAccount"]["accountNumberMasked"], "****9012");
    assert!(!c.to_string().contains("442012345678"), "the account is never shown in full");
    new.put("/api/v1/company", profile.clone()).await.expect(422, "invalid_field");
    let mut update = profile.clone();
    update["version"] = 1.into();
    update["name"] = "深圳市新安物业服务有限公司".into();
    assert_eq!(new.put("/api/v1/company", update.clone()).await.ok()["version"], 2);
    new.put("/api/v1/company", update).await.expect(409, "version_conflict");
    // The same credit code cannot be registered by another account.
    let mut taken = profile.clone();
    let company_a_code =
        subsidy_core::company::credit_code::CreditCode::with_check_character("91440300MA5D00001").unwrap();
    taken["creditCode"] = company_a_code.as_str().into();
    taken["version"] = 2.into();
    new.put("/api/v1/company", taken).await.expect(409, "credit_code_taken");
    assert_eq!(new.get("/api/v1/company").await.ok()["creditCode"], code.as_str());
}

/// Phones are masked to everyone, their owner too, so an edit form cannot
/// send them back: an update that leaves a phone out keeps the number on
/// file; a registration or a new project without one is refused.
#[tokio::test]
async fn phones_are_masked_to_their_owner_and_an_update_without_one_keeps_it() {
    let app = TestApp::spawn().await;
    let new = app.login("company-new").await;
    let code = subsidy_core::company::credit_code::CreditCode::with_check_character("91440300MA5D00078").unwrap();
    let mut profile = json!({
        "creditCode": code.as_str(), "name": "深圳市新禾物业有限公司", "legalRepresentative": "吴禾",
        "contactName": "吴禾",
        "bankAccount": {"bankName": "建设银行", "accountName": "深圳市新禾物业有限公司", "accountNumber": "4420 1234 5678 9013"}
    });
    let refused = new.put("/api/v1/company", profile.clone()).await.expect(422, "invalid_field");
    assert_eq!(refused["error"]["field"], "contactPhone", "a registration needs a phone");
    new.get("/api/v1/company").await.expect(404, "not_found");
    profile["contactPhone"] = "13900139078".into();
    let c = new.put("/api/v1/company", profile.clone()).await.ok();
    assert_eq!(c["contactPhone"], "139****9078");

    // An update without the phone keeps it; one with a phone changes it.
    let mut update = profile.clone();
    update.as_object_mut().unwrap().remove("contactPhone");
    update["version"] = c["version"].clone();
    update["contactName"] = "吴禾二".into();
    let kept = new.put("/api/v1/company", update.clone()).await.ok();
    assert_eq!((kept["contactPhone"].as_str(), kept["contactName"].as_str()), (Some("139****9078"), Some("吴禾二")));
    let owner = subsidy_standalone::demo::actor(&app.services, "company-new").unwrap().user_id;
    let stored = app.services.ports.companies.company_of_owner(&owner).await.unwrap().unwrap();
    assert_eq!(stored.profile.contact_phone.as_str(), "13900139078", "the number on file is the whole one");
    update["version"] = kept["version"].clone();
    update["contactPhone"] = "139-0013-9079".into();
    assert_eq!(new.put("/api/v1/company", update.clone()).await.ok()["contactPhone"], "139****9079");
    update["version"] = (kept["version"].as_u64().unwrap() + 1).into();
    update["contactPhone"] = "139****9079".into();
    let r = new.put("/api/v1/company", update).await.expect(422, "invalid_field");
    assert_eq!(r["error"]["field"], "contactPhone", "a masked number is not a number");

    // Projects: the same.
    let mut project = json!({"name": "新禾花园", "address": "福田区南园路 1 号", "community": "440304001020",
                             "managedArea": "1000", "managerName": "郑经理"});
    let r = new.post("/api/v1/projects", project.clone()).await.expect(422, "invalid_field");
    assert_eq!(r["error"]["field"], "managerPhone");
    assert!(new.get("/api/v1/projects").await.ok()["items"].as_array().unwrap().is_empty(), "nothing stored");
    project["managerPhone"] = "13700137078".into();
    let p = new.post("/api/v1/projects", project.clone()).await.ok();
    assert_eq!(p["managerPhone"], "137****7078");
    let id = p["id"].as_str().unwrap();
    project["version"] = p["version"].clone();
    project["managerName"] = "郑经理二".into();
    project.as_object_mut().unwrap().remove("managerPhone");
    let kept = new.put(&format!("/api/v1/projects/{id}"), project).await.ok();
    assert_eq!((kept["managerPhone"].as_str(), kept["managerName"].as_str()), (Some("137****7078"), Some("郑经理二")));
    let stored = app.services.ports.projects.get_project(id).await.unwrap().unwrap();
    assert_eq!(stored.details.manager_phone.as_str(), "13700137078");

    // The company and the manager see the manager's phone masked on the
    // application too.
    let a = new.create_application("新禾花园").await;
    assert_eq!(a["project"]["managerPhone"], "137****7078");
}

/// Before claims moved to submission, drafts held them: such a draft, when
/// withdrawn, frees the estate.
#[tokio::test]
async fn a_draft_holding_a_claim_from_before_frees_it_when_withdrawn() {
    use subsidy_core::ports::{ClaimChange, Clock};
    let app = TestApp::spawn().await;
    let company = app.login("company-a").await;
    let id = company.create_application("南园花园").await["id"].as_str().unwrap().to_string();
    let stored = app.services.ports.applications.get_application(&id).await.unwrap().unwrap();
    // The draft takes the claim, as every draft did before.
    let actor = subsidy_standalone::demo::actor(&app.services, "company-a").unwrap();
    let audit = subsidy_core::audit::AuditEntry::next(
        app.services.ports.audit_key.get().await.unwrap(),
        &id,
        stored.audit_seq + 1,
        &stored.audit_head,
        app.clock.now(),
        &actor,
        "edit",
        Some("draft"),
        "draft",
        None,
    );
    let legacy = subsidy_core::application::Application {
        version: 2,
        audit_seq: audit.seq,
        audit_head: audit.hash.clone(),
        ..stored.clone()
    };
    app.services.ports.applications.update_application(&legacy, 1, &audit, ClaimChange::Take).await.unwrap();
    let holder = || app.services.ports.applications.claim_holder(&stored.policy_id, stored.claim());
    assert_eq!(holder().await.unwrap(), Some(id.clone()));
    assert_eq!(company.act(&id, "/api/v1/applications/{id}/withdraw", json!({})).await.ok()["state"], "withdrawn");
    assert_eq!(holder().await.unwrap(), None, "the estate is free again");
}

/// Every application's state and version, by id.
async fn states(user: &User<'_>, ids: &[String]) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for id in ids {
        let a = user.application(id).await;
        out.push((a["state"].as_str().unwrap().to_string(), a["version"].as_u64().unwrap()));
    }
    out
}

/// 批量通过 with its spot check: twelve at 初审 (over the policy's minimum
/// of ten) draw a sample of two (10%, rounded up) that the same reviewer
/// must have opened; until then nothing is approved, the same selection
/// always names the same sample, padding it with applications that would
/// fail does not change it, and another reviewer's opening does not count.
/// Then all twelve pass at once, and each trail holds what redraws the
/// sample.
#[tokio::test]
async fn a_bulk_approval_over_the_minimum_waits_for_its_random_sample_to_be_opened() {
    let app = TestApp::spawn().await;
    let company = app.login("company-a").await;
    let pm = app.login("pm-a").await;
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(submitted_for_new_project(&company, &pm, &format!("抽查苑{i:02}"), "1000.00").await.1);
    }
    app.drain().await;
    let reviewer = app.login("community-nanyuan").await;
    let colleague = app.with_token(&app.staff_token("spot-check-colleague", "community", "440304001020").await);
    let mut selection = Vec::new();
    for id in &ids {
        selection.push(json!({"id": id, "version": reviewer.app_version(id).await}));
    }
    let path = "/api/v1/review/community/bulk-approve";
    // `reviewer` reads every state below, so opens each in detail: the
    // selection is sent by a colleague who has opened none of them.
    let before = states(&reviewer, &ids).await;
    let fresh = app.with_token(&app.staff_token("spot-check-reviewer", "community", "440304001020").await);
    let refused = fresh.post(path, json!({"items": selection})).await.expect(409, "spot_check_required");
    let sample: Vec<String> =
        refused["error"]["sample"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    assert_eq!(sample.len(), 2, "10% of 12, rounded up: {}", refused);
    assert!(sample.iter().all(|s| ids.contains(s)));
    assert_eq!(states(&reviewer, &ids).await, before, "nothing approved, nothing changed");
    // The same selection, again and in another order: the same sample.
    let mut reordered = selection.clone();
    reordered.reverse();
    let again = fresh.post(path, json!({"items": reordered})).await.expect(409, "spot_check_required");
    assert_eq!(again["error"]["sample"], refused["error"]["sample"]);
    // Padded with applications that would fail anyway (unknown, or at a
    // stale version): the sample is drawn from the eligible ones, unchanged.
    let mut padded = selection.clone();
    padded.push(json!({"id": "01JNOSUCHAPPLICATION00000", "version": 2}));
    padded.push(json!({"id": "01JNOSUCHAPPLICATION00001", "version": 5}));
    let padded_reply = fresh.post(path, json!({"items": padded})).await.expect(409, "spot_check_required");
    assert_eq!(padded_reply["error"]["sample"], refused["error"]["sample"]);

    // A colleague opens the first: it does not count for this reviewer.
    colleague.application(&sample[0]).await;
    let still = fresh.post(path, json!({"items": selection})).await.expect(409, "spot_check_required");
    assert_eq!(still["error"]["sample"], refused["error"]["sample"]);
    // The reviewer opens the first: only the second is named now.
    fresh.application(&sample[0]).await;
    let one_left = fresh.post(path, json!({"items": selection})).await.expect(409, "spot_check_required");
    assert_eq!(one_left["error"]["sample"], json!([sample[1]]));
    assert_eq!(states(&reviewer, &ids).await, before);

    // Both opened: all twelve pass, each on its own.
    fresh.application(&sample[1]).await;
    let done = fresh.post(path, json!({"items": selection})).await.ok();
    assert_eq!(done["approved"], 12, "{done}");
    let results = done["results"].as_array().unwrap();
    assert_eq!(results.iter().map(|r| r["id"].as_str().unwrap().to_string()).collect::<Vec<_>>(), ids);
    assert!(results.iter().all(|r| r["outcome"] == "approved" && r["application"]["state"] == "pending_subdistrict"));
    let check = &done["spotCheck"];
    assert_eq!(check["selected"], 12);
    assert_eq!(check["sampled"], json!(sample));
    // Anyone can redraw the sample from the seed and the selection.
    let seed = check["seed"].as_str().unwrap();
    assert_eq!(seed.len(), 64);
    assert_eq!(subsidy_core::application::bulk::draw(seed, &ids, 2), sample);
    // Each trail says so.
    for id in &ids {
        let timeline = reviewer.get(&format!("/api/v1/applications/{id}/timeline")).await.ok();
        let approval = timeline.as_array().unwrap().iter().find(|e| e["action"] == "approve").unwrap().clone();
        let text = approval.to_string();
        assert!(text.contains(seed), "{text}");
        let marked = if sample.contains(id) { "本件为抽查样本" } else { "本件非抽查样本" };
        assert!(text.contains(marked) && text.contains("12 件中抽查 2 件"), "{text}");
    }
    // Sent again: nothing waits at 初审 any more, nothing to check, and
    // every item says why.
    let late = fresh.post(path, json!({"items": selection})).await.ok();
    assert_eq!(late["approved"], 0);
    assert_eq!(late["spotCheck"], Value::Null);
    assert!(
        late["results"].as_array().unwrap().iter().all(|r| r["outcome"] == "conflict" || r["outcome"] == "wrong_state"),
        "{late}"
    );
}

/// Up to the minimum, no spot check at all.
#[tokio::test]
async fn a_bulk_approval_up_to_the_minimum_needs_no_opening() {
    let app = TestApp::spawn().await;
    let company = app.login("company-a").await;
    let pm = app.login("pm-a").await;
    let mut items = Vec::new();
    for i in 0..10 {
        let id = submitted_for_new_project(&company, &pm, &format!("免抽查苑{i}"), "1000.00").await.1;
        items.push(json!({"id": id, "version": company.app_version(&id).await}));
    }
    app.drain().await;
    let fresh = app.with_token(&app.staff_token("no-spot-check", "community", "440304001020").await);
    let done = fresh.post("/api/v1/review/community/bulk-approve", json!({"items": items})).await.ok();
    assert_eq!((done["approved"].as_u64(), &done["spotCheck"]), (Some(10), &Value::Null), "{done}");
}
