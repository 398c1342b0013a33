//! The grace paths, on the backend this run targets, with the test clock: a
//! return after the window closed can still be fixed until `resubmitUntil`,
//! and a failed payment can still be re-issued after the payout deadline
//! until `reissueUntil`; nothing else gets the extra time.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use subsidy_tests::*;

async fn instant(app: &TestApp, field: &str) -> DateTime<Utc> {
    let policy = app.login("company-a").await.get("/api/v1/policy").await.ok();
    policy[field].as_str().unwrap_or_else(|| panic!("{field} in {policy}")).parse().unwrap()
}

async fn returned(app: &TestApp, id: &str) {
    let r = app.login("community-nanyuan").await;
    r.act(id, "/api/v1/review/community/applications/{id}/return", json!({"reason": "请补充材料"})).await.ok();
}

#[tokio::test]
async fn a_returned_application_is_resubmitted_until_the_grace_ends_and_nothing_new_is_filed() {
    let app = TestApp::spawn().await;
    let (closes, until) = (instant(&app, "closesAt").await, instant(&app, "resubmitUntil").await);
    assert_eq!(until - closes, Duration::days(15), "the default grace");
    let id = submitted_and_confirmed(&app).await;
    returned(&app, &id).await;
    let company = app.login("company-a").await;

    // The window has closed: no new application, but the return is fixed.
    app.clock.set(closes + Duration::days(1));
    let projects = company.get("/api/v1/projects").await.ok();
    let other = projects["items"].as_array().unwrap().iter().find(|p| p["name"] == "南园大厦").unwrap();
    company.post("/api/v1/applications", json!({"projectId": other["id"]})).await.expect(409, "window_closed");
    let again = company.act(&id, "/api/v1/applications/{id}/submit", json!({})).await.ok();
    assert_eq!(again["state"], "pending_community", "{again}");

    // Returned once more: at the grace's end it can no longer be resubmitted.
    returned(&app, &id).await;
    app.clock.set(until);
    let r = company.act(&id, "/api/v1/applications/{id}/submit", json!({})).await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "window_closed"), "{}", r.body);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("2"), "names the instant: {}", r.body);
    assert_eq!(company.application(&id).await["state"], "returned", "nothing changed");
    app.clock.set(until - Duration::seconds(1));
    assert_eq!(
        company.act(&id, "/api/v1/applications/{id}/submit", json!({})).await.ok()["state"],
        "pending_community"
    );
}

/// Releases the batch and answers `failed` for its one line; the company
/// gives a new account and the district verifies it, so the application
/// is approved again as a re-issue.
async fn fail_and_fix(app: &TestApp, batch: &Value, account: &str) -> String {
    let finance = app.login("finance-futian").await;
    let id = batch["id"].as_str().unwrap();
    app.login("finance-futian-2")
        .await
        .post(&format!("/api/v1/batches/{id}/release"), json!({"version": batch["version"]}))
        .await
        .ok();
    let lines = finance.get(&format!("/api/v1/batches/{id}/lines")).await.ok();
    let line = &lines["items"][0];
    let file = format!(
        "批次号,{id}\n笔数,1\n总金额(元),{}\n行号,状态,原因\n{},失败,账号不存在\n",
        line["amount"]["yuan"].as_str().unwrap(),
        line["id"].as_str().unwrap()
    );
    app.raw(finance.token.as_deref(), "POST", &format!("/api/v1/batches/{id}/results"), "text/csv", file.into_bytes())
        .await
        .ok();
    let company = app.login("company-a").await;
    let p = company.get("/api/v1/company").await.ok();
    let update = json!({"version": p["version"], "creditCode": p["creditCode"], "name": p["name"],
        "legalRepresentative": p["legalRepresentative"], "contactName": p["contactName"],
        "bankAccount": {"bankName": "中国建设银行深圳分行", "accountName": p["name"], "accountNumber": account}});
    company.put("/api/v1/company", update).await.ok();
    let app_id = line["applicationId"].as_str().unwrap().to_string();
    let district = app.login("district-futian").await;
    let verified = district.reveal_and_verify(&app_id, false).await.ok();
    assert_eq!(verified["state"], "approved");
    app_id
}

#[tokio::test]
async fn a_failed_payment_is_reissued_after_the_payout_deadline_until_the_grace_ends_and_nothing_else_is_paid() {
    let app = TestApp::spawn().await;
    let (deadline, until) = (instant(&app, "payoutDeadline").await, instant(&app, "reissueUntil").await);
    assert_eq!(until - deadline, Duration::days(60), "the default grace");
    approved_applications(&app, 1).await;
    let finance = app.login("finance-futian").await;
    let first = finance.post("/api/v1/batches", json!({"note": "首批"})).await.ok();
    let reissue = fail_and_fix(&app, &first, "4420 1555 6666 7777 888").await;
    // Another application, approved but never paid, is no re-issue.
    let company = app.login("company-a").await;
    let plain = approved_projects(&app, &company, &["从未支付的项目".to_string()]).await.remove(0);

    app.clock.set(deadline + Duration::days(1));
    let eligible = finance.get("/api/v1/disbursement/eligible").await.ok();
    assert_eq!(eligible["count"], 1, "{eligible}");
    assert_eq!(eligible["items"][0]["id"], reissue.as_str());
    let second = finance.post("/api/v1/batches", json!({"note": "重发"})).await.ok();
    assert_eq!(second["lineCount"], 1, "{second}");
    let line =
        &finance.get(&format!("/api/v1/batches/{}/lines", second["id"].as_str().unwrap())).await.ok()["items"][0];
    assert_eq!(line["applicationId"], reissue.as_str());
    assert!(line["revises"].is_string(), "a revised line: {line}");
    assert_eq!(company.application(&plain).await["state"], "approved", "past the deadline, not paid");

    // Failed again, fixed again, and now the grace is over.
    fail_and_fix(&app, &second, "6222 0202 0000 9999 111").await;
    app.clock.set(until);
    let r = finance.post("/api/v1/batches", json!({})).await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "payout_deadline_passed"), "{}", r.body);
    assert_eq!(finance.get("/api/v1/disbursement/eligible").await.ok()["count"], 0);
    assert_eq!(company.application(&reissue).await["state"], "approved", "nothing changed");
    app.clock.set(until - Duration::seconds(1));
    assert_eq!(finance.post("/api/v1/batches", json!({})).await.ok()["lineCount"], 1);
}

/// The step's time limit (办理时限): `dueAt` and `overdue` on the detail and
/// in the inboxes, as the served policy's calendar and limits give them,
/// moving with the step and the test clock.
#[tokio::test]
async fn each_step_shows_when_it_is_due_and_turns_overdue_on_the_clock() {
    use subsidy_core::calendar::{TimeLimits, WorkCalendar};
    let app = TestApp::spawn().await;
    let policy = app.login("company-a").await.get("/api/v1/policy").await.ok();
    let calendar: WorkCalendar = serde_json::from_value(policy["calendar"].clone()).unwrap();
    let limits: TimeLimits = serde_json::from_value(policy["timeLimits"].clone()).unwrap();
    let at = |v: &Value, field: &str| -> DateTime<Utc> {
        v[field].as_str().unwrap_or_else(|| panic!("{field} in {v}")).parse().unwrap()
    };
    let company = app.login("company-a").await;
    let draft = company.create_application("南园花园").await;
    let id = draft["id"].as_str().unwrap().to_string();
    let seen = company.application(&id).await;
    assert_eq!((seen["dueAt"].clone(), seen["overdue"].clone()), (Value::Null, json!(false)), "a draft has no limit");

    company.upload_required(&id).await;
    company.act(&id, "/api/v1/applications/{id}/submit", json!({})).await.ok();
    let seen = company.application(&id).await;
    let due = at(&seen, "dueAt");
    assert_eq!(due, calendar.due(at(&seen, "stateSince"), limits.area_confirmation), "{seen}");
    let pm = app.login("pm-a").await;
    let inbox = pm.get("/api/v1/manager/inbox?limit=100").await.ok();
    let row = inbox["items"].as_array().unwrap().iter().find(|a| a["id"] == id.as_str()).unwrap().clone();
    assert_eq!((at(&row, "dueAt"), row["overdue"].clone()), (due, json!(false)));

    // Past it, on the clock: overdue, on the detail and in the inbox.
    app.clock.set(due + Duration::seconds(1));
    assert_eq!(company.application(&id).await["overdue"], true);
    let inbox = pm.get("/api/v1/manager/inbox?limit=100").await.ok();
    let row = inbox["items"].as_array().unwrap().iter().find(|a| a["id"] == id.as_str()).unwrap().clone();
    assert_eq!(row["overdue"], true, "{row}");

    // The next step starts its own limit: 初审.
    pm.act(&id, "/api/v1/applications/{id}/confirm-area", json!({})).await.ok();
    let seen = company.application(&id).await;
    assert_eq!(seen["state"], "pending_community");
    assert_eq!(at(&seen, "dueAt"), calendar.due(at(&seen, "stateSince"), limits.community));
    assert_eq!(seen["overdue"], false);
    let reviewer = app.login("community-nanyuan").await;
    let inbox = reviewer.get("/api/v1/review/community/inbox?limit=100").await.ok();
    let row = inbox["items"].as_array().unwrap().iter().find(|a| a["id"] == id.as_str()).unwrap().clone();
    assert_eq!(row["dueAt"], seen["dueAt"]);

    // Returned for correction: the company's turn, no limit.
    reviewer.act(&id, "/api/v1/review/community/applications/{id}/return", json!({"reason": "请补充材料"})).await.ok();
    let seen = company.application(&id).await;
    assert_eq!((seen["dueAt"].clone(), seen["overdue"].clone()), (Value::Null, json!(false)), "{seen}");
}
