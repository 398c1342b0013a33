//! Payee integrity, on the backend this run targets: the account to be paid
//! is fixed at submission and reviewed by every tier; a change at any later
//! point is on the application's trail and blocks payment until a district
//! reviewer, having opened the account in full, verifies it.

use serde_json::{Value, json};
use subsidy_tests::*;

/// The company changes its bank account (the holder's name as given).
async fn change_bank(company: &User<'_>, number: &str, holder: Option<&str>) {
    let p = company.get("/api/v1/company").await.ok();
    let name = holder.map(str::to_string).unwrap_or_else(|| p["name"].as_str().unwrap().to_string());
    let update = json!({"version": p["version"], "creditCode": p["creditCode"], "name": p["name"],
        "legalRepresentative": p["legalRepresentative"], "contactName": p["contactName"],
        "bankAccount": {"bankName": "中国建设银行深圳分行", "accountName": name, "accountNumber": number}});
    company.put("/api/v1/company", update).await.ok();
}

/// The timeline once the store has settled: on DynamoDB an entry that is
/// not the newest is on the timeline once the stream has written it out
/// (docs/dynamodb.md, "What one transition writes").
async fn trail(user: &User<'_>, id: &str) -> Vec<Value> {
    user.app.drain().await;
    user.get(&format!("/api/v1/applications/{id}/timeline")).await.ok().as_array().unwrap().clone()
}

fn last4(number: &str) -> String {
    format!("****{}", &number[number.len() - 4..])
}

#[tokio::test]
async fn a_change_at_every_review_state_is_on_the_trail_and_pays_nobody_until_the_district_verifies_it() {
    let app = TestApp::spawn().await;
    let company = app.login("company-a").await;
    let reviewed = company.get("/api/v1/company").await.ok()["bankAccount"]["accountNumberMasked"].clone();
    let id = company.create_application("南园花园").await["id"].as_str().unwrap().to_string();
    company.upload_required(&id).await;
    company.act(&id, "/api/v1/applications/{id}/submit", json!({})).await.ok();
    let pm = app.login("pm-a").await;
    let community = app.login("community-nanyuan").await;
    let subdistrict = app.login("subdistrict-nanyuan").await;
    let district = app.login("district-futian").await;
    let accounts = ["6217000010000001", "6217000010000002", "6217000010000003", "6217000010000004", "6217000010000005"];

    // awaiting_area_confirmation
    change_bank(&company, accounts[0], None).await;
    pm.act(&id, "/api/v1/applications/{id}/confirm-area", json!({})).await.ok();
    // pending_community, then returned for correction
    change_bank(&company, accounts[1], None).await;
    community.act(&id, "/api/v1/review/community/applications/{id}/return", json!({"reason": "补充材料"})).await.ok();
    change_bank(&company, accounts[2], None).await;
    company.act(&id, "/api/v1/applications/{id}/submit", json!({})).await.ok();
    community.act(&id, "/api/v1/review/community/applications/{id}/approve", json!({})).await.ok();
    // pending_subdistrict, pending_district
    change_bank(&company, accounts[3], None).await;
    subdistrict.act(&id, "/api/v1/review/subdistrict/applications/{id}/approve", json!({})).await.ok();
    change_bank(&company, accounts[4], None).await;
    app.drain().await; // the district's pre-checks on arrival

    let seen = district.application(&id).await;
    assert_eq!((seen["state"].as_str(), seen["payeeChangePending"].as_bool()), (Some("pending_district"), Some(true)));
    assert_eq!(seen["payee"]["accountNumberMasked"], reviewed, "the reviewed account stands: {seen}");
    let entries = trail(&company, &id).await;
    let changes = entries.iter().filter(|e| e["action"] == "request_bank_account_change").count();
    assert_eq!(changes, 5, "one trail entry per change, at each review state");
    for n in &accounts {
        assert!(entries.iter().any(|e| e["comment"].as_str().unwrap_or("").contains(&last4(n))), "{n}");
        assert!(!entries.iter().any(|e| e.to_string().contains(n)), "the trail masks the number");
    }
    let flags = seen["prechecks"].to_string();
    assert!(flags.contains("payee_changed_since_submission"), "{flags}");

    // Approved with the reviewed account: not payable while the change waits.
    district.act(&id, "/api/v1/review/district/applications/{id}/approve", json!({})).await.ok();
    app.drain().await;
    let finance = app.login("finance-futian").await;
    let eligible = finance.get("/api/v1/disbursement/eligible").await.ok();
    assert!(!eligible["items"].to_string().contains(&id), "{eligible}");
    assert!(eligible["blockedByBankChange"].as_u64().unwrap() >= 1, "{eligible}");

    // Opened in full by the verifier, then verified: payable, to the last account.
    district.reveal_and_verify(&id, false).await.ok();
    let batch = finance.post("/api/v1/batches", json!({})).await.ok();
    let lines = finance.get(&format!("/api/v1/batches/{}/lines", batch["id"].as_str().unwrap())).await.ok();
    let line = lines["items"].as_array().unwrap().iter().find(|l| l["applicationId"] == id.as_str()).unwrap().clone();
    assert_eq!(line["payee"]["accountNumberMasked"], last4(accounts[4]));
}

#[tokio::test]
async fn verification_needs_the_verifiers_own_full_view_and_a_confirmed_foreign_holder() {
    let app = TestApp::spawn().await;
    let ids = approved_applications(&app, 1).await;
    let id = &ids[0];
    let company = app.login("company-a").await;
    change_bank(&company, "6217000099998888", Some("张三")).await;
    let district = app.login("district-futian").await;
    let base = format!("/api/v1/review/district/applications/{id}");
    let before = district.application(id).await;

    // Without the full view: refused, nothing changes.
    let r = district.post(&format!("{base}/verify-bank-account"), json!({"version": before["version"]})).await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "reveal_required"), "{}", r.body);
    assert_eq!(district.application(id).await["version"], before["version"]);

    // Who may open it: the district reviewer of the unit, nobody else.
    for who in ["company-a", "community-nanyuan", "subdistrict-nanyuan", "finance-futian", "district-dapeng", "city"] {
        let u = app.login(who).await;
        let r = u.post(&format!("{base}/reveal-bank-account"), json!({"version": before["version"]})).await;
        assert_eq!(r.status.as_u16(), 404, "{who}: {}", r.body);
        assert!(!r.body.to_string().contains("6217000099998888"), "{who}");
    }
    let community_path = base.replace("/district/", "/community/");
    app.login("community-nanyuan")
        .await
        .post(&format!("{community_path}/reveal-bank-account"), json!({"version": before["version"]}))
        .await
        .expect(404, "not_found");

    // A colleague's view does not count for the verifier.
    let colleague = app.with_token(&app.staff_token("district-futian-2", "district", "440304").await);
    let seen = colleague.post(&format!("{base}/reveal-bank-account"), json!({"version": before["version"]})).await.ok();
    assert_eq!(seen["change"]["accountNumber"], "6217000099998888");
    assert_eq!(
        (seen["change"]["accountName"].as_str(), seen["holderNameMatches"].as_bool()),
        (Some("张三"), Some(false))
    );
    assert!(seen["payee"]["accountNumber"].as_str().unwrap().len() >= 16, "the account on file, in full: {seen}");
    let r = district.post(&format!("{base}/verify-bank-account"), json!({"version": seen["version"]})).await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "reveal_required"), "{}", r.body);

    // The verifier's own view; a holder who is not the company needs a confirmation.
    let mine = district.post(&format!("{base}/reveal-bank-account"), json!({"version": seen["version"]})).await.ok();
    let r = district.post(&format!("{base}/verify-bank-account"), json!({"version": mine["version"]})).await;
    assert_eq!(
        (r.status.as_u16(), r.code(), r.field()),
        (422, "holder_name_unconfirmed", "confirmHolderName"),
        "{}",
        r.body
    );
    let r = district
        .post(&format!("{base}/verify-bank-account"), json!({"version": mine["version"], "confirmHolderName": false}))
        .await;
    assert_eq!(r.code(), "holder_name_unconfirmed");
    let done = district
        .post(&format!("{base}/verify-bank-account"), json!({"version": mine["version"], "confirmHolderName": true}))
        .await
        .ok();
    assert_eq!(
        (done["payeeChangePending"].as_bool(), done["payee"]["accountNumberMasked"].as_str()),
        (Some(false), Some("****8888"))
    );

    // Each opening is on the trail, by whom; and nothing to verify now.
    let entries = trail(&company, id).await;
    let reveals: Vec<&str> = entries
        .iter()
        .filter(|e| e["action"] == "reveal_bank_account")
        .map(|e| e["actorId"].as_str().unwrap())
        .collect();
    assert_eq!(reveals, ["district-futian-2", "demo-district-futian"]);
    let r = district.post(&format!("{base}/reveal-bank-account"), json!({"version": done["version"]})).await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "wrong_state"), "{}", r.body);
    let r = district.post(&format!("{base}/reveal-bank-account"), json!({"version": 1})).await;
    assert_eq!(r.code(), "version_conflict");
    let r = district
        .post(&format!("{base}/verify-bank-account"), json!({"version": done["version"], "confirm": true}))
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "unknown_field"));
}
