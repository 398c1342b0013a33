//! 公示 through HTTP, under a policy with a 5-day public notice: the
//! window opening at the district's approval and closing on the nightly run
//! after it ends; the public list (no token, cacheable, nothing personal);
//! an objection dismissed and one upheld; the totals; and every bad input.
//! Runs on the standalone stack, and on the AWS emulator when the run
//! targets it.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use subsidy_core::ports::Clock;
use subsidy_tests::*;

const NOTICE_POLICY: &str = include_str!("../../config/policy-shenzhen-2020-notice.json");

async fn spawn() -> TestApp {
    TestApp::spawn_with_policy(NOTICE_POLICY).await
}

async fn nightly(app: &TestApp) -> aggregation::Nightly {
    subsidy_tests::metering::as_function(
        "AggregationFunction",
        aggregation::nightly(&aggregation::App::new(&app.services.ports)),
    )
    .await
    .expect("the nightly job")
}

/// Futian's public notice, read with no token.
async fn public_list(app: &TestApp) -> Reply {
    app.anonymous().get("/api/v1/public/notices?district=440304").await
}

fn ids(list: &Value) -> Vec<String> {
    list["items"].as_array().unwrap().iter().map(|i| i["applicationId"].as_str().unwrap().to_string()).collect()
}

fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("a time: {v}"))).unwrap().with_timezone(&Utc)
}

/// The start of the China day `days` after today's.
fn china_midnight_after(now: DateTime<Utc>, days: i64) -> DateTime<Utc> {
    let tz = subsidy_core::policy::shanghai();
    (now.with_timezone(&tz).date_naive() + Duration::days(days))
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_local_timezone(tz)
        .unwrap()
        .with_timezone(&Utc)
}

async fn counts(app: &TestApp) -> Value {
    app.drain().await;
    let s = app.login("district-futian").await.get("/api/v1/stats/440304").await.ok();
    s["totals"].clone()
}

async fn object(user: &User<'_>, id: &str, reason: &str) -> Reply {
    user.post(&format!("/api/v1/public/notices/{id}/objections"), json!({"reason": reason})).await
}

async fn resolve(app: &TestApp, id: &str, outcome: &str) -> Reply {
    let district = app.login("district-futian").await;
    let version = district.app_version(id).await;
    district
        .post(
            &format!("/api/v1/review/district/applications/{id}/resolve-objections"),
            json!({"version": version, "outcome": outcome, "reason": "经核实"}),
        )
        .await
}

#[tokio::test]
async fn the_window_opens_at_the_districts_approval_and_the_nightly_run_after_it_ends_makes_it_payable() {
    let app = spawn().await;
    let approved_at = app.clock.now();
    let ids_ = approved_applications(&app, 2).await;
    let finance = app.login("finance-futian").await;
    let company = app.login("company-a").await;
    let mut amounts = Vec::new();
    for id in &ids_ {
        let a = company.application(id).await;
        assert_eq!(a["state"], "in_public_notice", "{a}");
        assert_eq!(time(&a["notice"]["endsAt"]), china_midnight_after(approved_at, 5));
        assert_eq!(a["notice"]["onHold"], false);
        amounts.push(a["approvedAmount"].clone());
    }

    // The public list: no token, cacheable, each with its approved amount.
    let list = public_list(&app).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.headers["cache-control"], "public, max-age=60");
    let body = list.body.clone();
    assert_eq!((body["districtName"].as_str(), body["publicNoticeDays"].as_u64()), (Some("福田区"), Some(5)));
    // Every district, to pick another with no sign-in.
    let districts: Vec<&str> =
        body["districts"].as_array().unwrap().iter().filter_map(|d| d["code"].as_str()).collect();
    assert!(districts.contains(&"440304") && districts.contains(&"440398"), "{districts:?}");
    assert!(body["items"].as_array().unwrap().iter().all(|i| i["ended"] == false));
    for (id, amount) in ids_.iter().zip(&amounts) {
        let item = body["items"].as_array().unwrap().iter().find(|i| i["applicationId"] == **id).expect("listed");
        assert_eq!(&item["approvedAmount"], amount);
        assert_eq!(item["companyName"], "深圳市安居物业服务有限公司");
        assert_eq!(item["communityName"], "南园社区居委会");
        // Nothing personal: the manager, the reviewers, the account.
        let text = item.to_string();
        for personal in ["王项目经理", "13800138001", "manager", "payee", "phone", "account"] {
            assert!(!text.contains(personal), "{personal} in {text}");
        }
    }

    // Not payable in the window, and counted as approved by the forecast.
    assert_eq!(finance.get("/api/v1/disbursement/eligible").await.ok()["count"], 0);
    let totals = counts(&app).await;
    assert_eq!(totals["counts"]["inPublicNotice"], 2);
    assert_eq!(totals["counts"]["approved"], 0);
    let mut approved_fen = 0;
    for id in &ids_ {
        approved_fen += company.application(id).await["approvedAmountFen"].as_i64().unwrap();
    }
    assert_eq!(totals["approvedAmountFen"], approved_fen, "in 公示 the amount is decided");

    // Four days on, the window is still open: the nightly run leaves it.
    app.clock.advance(Duration::days(4));
    let n = nightly(&app).await;
    assert_eq!((n.notices_closed.closed, n.notices_closed.held), (0, 0));
    assert_eq!(company.application(&ids_[0]).await["state"], "in_public_notice");

    // The first run after the end closes both; a second run finds nothing.
    // Until it runs, the list says the window ended.
    app.clock.set(china_midnight_after(approved_at, 5) + Duration::hours(1));
    let ended = public_list(&app).await.ok();
    assert!(ended["items"].as_array().unwrap().iter().all(|i| i["ended"] == true), "{ended}");
    let n = nightly(&app).await;
    assert_eq!(n.notices_closed.closed, 2, "{:?}", n.notices_closed);
    assert_eq!(nightly(&app).await.notices_closed.closed, 0);
    for id in &ids_ {
        assert_eq!(company.application(id).await["state"], "approved");
        let trail = company.get(&format!("/api/v1/applications/{id}/timeline")).await.ok();
        let close = trail.as_array().unwrap().iter().find(|e| e["action"] == "close_notice").expect("on the trail");
        assert_eq!((close["from"].as_str(), close["to"].as_str()), (Some("in_public_notice"), Some("approved")));
    }
    assert!(ids(&public_list(&app).await.ok()).is_empty(), "closed notices leave the list");
    assert_eq!(finance.get("/api/v1/disbursement/eligible").await.ok()["count"], 2);
    let totals = counts(&app).await;
    assert_eq!(
        (totals["counts"]["inPublicNotice"].as_i64(), totals["counts"]["approved"].as_i64()),
        (Some(0), Some(2))
    );
    assert_eq!(totals["approvedAmountFen"], approved_fen);
}

#[tokio::test]
async fn an_objection_holds_the_application_and_a_dismissal_goes_on_without_restarting_the_window() {
    let app = spawn().await;
    let approved_at = app.clock.now();
    let ids_ = approved_applications(&app, 2).await;
    let (early, late) = (&ids_[0], &ids_[1]);
    // Another company objects to both; so does a community reviewer.
    let other = app.login("company-b").await;
    let receipt = object(&other, early, "该项目实际未提供疫情防控服务").await;
    assert_eq!(receipt.status, 201, "{}", receipt.body);
    assert_eq!(receipt.body["seq"], 1);
    object(&other, late, "面积与实际不符").await.expect(201, "");
    object(&app.login("community-nanyuan").await, late, "社区掌握情况不符").await.expect(201, "");
    let again = object(&other, early, "再次提出").await;
    assert_eq!((again.status.as_u16(), again.code()), (409, "already_objected"));

    let list = public_list(&app).await.ok();
    assert!(list["items"].as_array().unwrap().iter().all(|i| i["onHold"] == true), "{list}");
    // The district's reviewers are told, with nothing of who objected.
    app.drain().await;
    let told = app.login("district-futian").await.get("/api/v1/notifications").await.ok();
    let filed: Vec<&Value> =
        told["items"].as_array().unwrap().iter().filter(|n| n["kind"] == "objection_filed").collect();
    assert_eq!(filed.len(), 3, "one per objection: {told}");
    assert!(!told.to_string().contains("company-b"), "{told}");

    // The district sees who objected; the company never does.
    let district = app.login("district-futian").await;
    let seen = district.application(early).await;
    let objector = seen["notice"]["objections"][0]["objector"].as_str().expect("staff see the objector").to_string();
    assert_eq!(seen["notice"]["objections"][0]["objectorRole"], "company");
    let company = app.login("company-a").await;
    let own = company.application(early).await;
    assert_eq!(own["notice"]["objections"][0]["reason"], "该项目实际未提供疫情防控服务");
    assert!(own["notice"]["objections"][0].get("objector").is_none(), "{own}");
    let trail = company.get(&format!("/api/v1/applications/{early}/timeline")).await.ok();
    assert!(!trail.to_string().contains(&objector), "the company's timeline names the objector: {trail}");
    let entry = trail.as_array().unwrap().iter().find(|e| e["action"] == "object").expect("the objection");
    assert_eq!((entry["actorId"].as_str(), &entry["role"]), (Some("objector"), &Value::Null), "{entry}");
    assert!(!own.to_string().contains(&objector));
    let staff_trail = district.get(&format!("/api/v1/applications/{early}/timeline")).await.ok();
    assert!(staff_trail.to_string().contains(&objector), "the trail keeps who objected");

    // Dismissed inside the window: the notice goes on to its own end.
    let dismissed = resolve(&app, early, "dismiss").await.ok();
    assert_eq!(dismissed["state"], "in_public_notice");
    assert_eq!(time(&dismissed["notice"]["endsAt"]), china_midnight_after(approved_at, 5), "not restarted");
    assert_eq!(dismissed["notice"]["objections"][0]["resolution"], "dismissed");

    // At the end: the dismissed one closes; the held one waits.
    app.clock.set(china_midnight_after(approved_at, 5) + Duration::hours(1));
    let n = nightly(&app).await;
    assert_eq!((n.notices_closed.closed, n.notices_closed.held), (1, 1));
    assert_eq!(company.application(early).await["state"], "approved");
    assert_eq!(company.application(late).await["state"], "in_public_notice");
    // Dismissed after the end: payable at once, both objections resolved.
    let now_payable = resolve(&app, late, "dismiss").await.ok();
    assert_eq!(now_payable["state"], "approved");
    let resolutions: Vec<&Value> =
        now_payable["notice"]["objections"].as_array().unwrap().iter().map(|o| &o["resolution"]).collect();
    assert_eq!(resolutions, [&json!("dismissed"), &json!("dismissed")]);
    let totals = counts(&app).await;
    assert_eq!(
        (totals["counts"]["inPublicNotice"].as_i64(), totals["counts"]["approved"].as_i64()),
        (Some(0), Some(2))
    );
}

#[tokio::test]
async fn an_upheld_objection_returns_the_application_to_the_districts_review_and_its_usual_paths() {
    let app = spawn().await;
    let ids_ = approved_applications(&app, 2).await;
    let other = app.login("company-b").await;
    for id in &ids_ {
        object(&other, id, "同一小区重复申报").await.expect(201, "");
    }
    let before = counts(&app).await;
    assert_eq!(before["counts"]["inPublicNotice"], 2);
    for id in &ids_ {
        let back = resolve(&app, id, "return_to_review").await.ok();
        assert_eq!(back["state"], "pending_district");
        assert_eq!(back["approvedAmount"], Value::Null);
        assert_eq!(back["notice"]["objections"][0]["resolution"], "returned_to_review");
    }
    let district = app.login("district-futian").await;
    let inbox = district.get("/api/v1/review/district/inbox").await.ok();
    let listed: Vec<&str> = inbox["items"].as_array().unwrap().iter().filter_map(|i| i["id"].as_str()).collect();
    assert!(ids_.iter().all(|id| listed.contains(&id.as_str())), "back in 审核's inbox: {listed:?}");
    // The usual paths: one rejected, one approved again into a new notice.
    district
        .act(&ids_[0], "/api/v1/review/district/applications/{id}/reject", json!({"reason": "重复申报"}))
        .await
        .ok();
    let again = district.act(&ids_[1], "/api/v1/review/district/applications/{id}/approve", json!({})).await.ok();
    assert_eq!(again["state"], "in_public_notice");
    assert_eq!(again["notice"]["objections"], json!([]), "a new notice");
    // The objector's earlier objection is kept, upheld and over; they may
    // object to the new notice.
    let mine = other.get(&format!("/api/v1/public/notices/{}/objections/mine", ids_[1])).await.ok();
    assert_eq!((mine["resolution"].as_str(), mine["ended"].as_bool()), (Some("returned_to_review"), Some(true)));
    object(&other, &ids_[1], "重新公示后仍有异议").await.expect(201, "");
    let mine = other.get(&format!("/api/v1/public/notices/{}/objections/mine", ids_[1])).await.ok();
    assert_eq!((mine["reason"].as_str(), mine["ended"].as_bool()), (Some("重新公示后仍有异议"), Some(false)));
    let totals = counts(&app).await;
    assert_eq!(
        (
            totals["counts"]["inPublicNotice"].as_i64(),
            totals["counts"]["rejected"].as_i64(),
            totals["counts"]["pendingDistrict"].as_i64()
        ),
        (Some(1), Some(1), Some(0))
    );
    let stored = app.services.ports.applications.get_application(&ids_[1]).await.unwrap().unwrap();
    assert_eq!(stored.past_notices.len(), 1, "the earlier notice is kept");
    assert_eq!(stored.past_notices[0].objections[0].reason.as_str(), "同一小区重复申报");
    let trail = district.get(&format!("/api/v1/applications/{}/timeline", ids_[1])).await.ok();
    let actions: Vec<&str> = trail
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["subject"] == *ids_[1])
        .filter_map(|e| e["action"].as_str())
        .collect();
    let tail = &actions[actions.len() - 4..];
    assert_eq!(tail, ["object", "return_after_objection", "approve", "object"], "{actions:?}");
}

#[tokio::test]
async fn bad_objections_and_resolutions_get_a_clear_4xx_and_change_nothing() {
    let app = spawn().await;
    let approved_at = app.clock.now();
    let id = approved_applications(&app, 1).await.remove(0);
    let pending = submitted_and_confirmed(&app).await;
    let other = app.login("company-b").await;
    let version = app.login("company-a").await.app_version(&id).await;

    let path = format!("/api/v1/public/notices/{id}/objections");
    let cases: Vec<(Reply, u16, &str)> = vec![
        (app.anonymous().post(&path, json!({"reason": "匿名"})).await, 401, "unauthenticated"),
        (object(&other, &id, "").await, 422, "invalid_field"),
        (object(&other, &id, &"长".repeat(501)).await, 422, "invalid_field"),
        (other.post(&path, json!({"reason": "x", "name": "张三"})).await, 400, "unknown_field"),
        (other.post(&path, json!(["x"])).await, 400, "invalid_type"),
        (object(&other, &pending, "未公示的申请").await, 404, "not_found"),
        (object(&other, "01J00000000000000000000000", "不存在").await, 404, "not_found"),
        (object(&app.login("admin-city").await, &id, "管理员").await, 404, "not_found"),
        (resolve(&app, &id, "dismiss").await, 409, "wrong_state"),
        (app.anonymous().get("/api/v1/public/notices").await, 422, "invalid_field"),
        (app.anonymous().get("/api/v1/public/notices?district=440304001").await, 422, "invalid_field"),
        (app.anonymous().get("/api/v1/public/notices?district=999999").await, 422, "invalid_field"),
        (app.anonymous().get("/api/v1/public/notices?district=440304&sort=amount").await, 400, "invalid_query"),
    ];
    for (i, (reply, status, code)) in cases.iter().enumerate() {
        assert_eq!((reply.status.as_u16(), reply.code()), (*status, *code), "case {i}: {}", reply.body);
    }
    object(&other, &id, "面积有误").await.expect(201, "");
    let district = app.login("district-futian").await;
    let v = district.app_version(&id).await;
    let resolve_path = format!("/api/v1/review/district/applications/{id}/resolve-objections");
    let subdistrict = app.login("subdistrict-nanyuan").await;
    let sub_path = format!("/api/v1/review/subdistrict/applications/{id}/resolve-objections");
    let cases: Vec<(Reply, u16, &str)> = vec![
        (
            district.post(&resolve_path, json!({"version": v, "outcome": "uphold", "reason": "x"})).await,
            422,
            "invalid_field",
        ),
        (
            district.post(&resolve_path, json!({"version": v, "outcome": "dismiss", "reason": ""})).await,
            422,
            "invalid_field",
        ),
        (district.post(&resolve_path, json!({"version": v, "outcome": "dismiss"})).await, 400, "missing_field"),
        (
            district.post(&resolve_path, json!({"version": v - 1, "outcome": "dismiss", "reason": "x"})).await,
            409,
            "version_conflict",
        ),
        (
            subdistrict.post(&sub_path, json!({"version": v, "outcome": "dismiss", "reason": "x"})).await,
            404,
            "no_route",
        ),
        (other.post(&resolve_path, json!({"version": v, "outcome": "dismiss", "reason": "x"})).await, 404, "not_found"),
    ];
    for (i, (reply, status, code)) in cases.iter().enumerate() {
        assert_eq!((reply.status.as_u16(), reply.code()), (*status, *code), "resolve case {i}: {}", reply.body);
    }
    // After the window: refused, whoever asks.
    app.clock.set(china_midnight_after(approved_at, 5));
    let late = object(&app.login("company-new").await, &id, "迟到的异议").await;
    assert_eq!((late.status.as_u16(), late.code()), (409, "notice_closed"), "{}", late.body);
    // Nothing changed by any refused request: one objection, the version after it.
    let a = district.application(&id).await;
    assert_eq!(a["version"].as_u64(), Some(version + 1));
    assert_eq!(a["notice"]["objections"].as_array().unwrap().len(), 1);
    assert_eq!(a["state"], "in_public_notice");
}

/// An objector's evidence (异议材料): attached by the objector, inside the
/// window, after objecting; shown to the district, never to the company,
/// whose quota it does not touch.
#[tokio::test]
async fn an_objectors_evidence_is_for_the_district_and_never_reaches_the_company() {
    let app = spawn().await;
    let approved_at = app.clock.now();
    let id = approved_applications(&app, 1).await.remove(0);
    let other = app.login("company-b").await;
    let company = app.login("company-a").await;
    let docs = format!("/api/v1/applications/{id}/documents");
    let ticket =
        json!({"kind": "objection_evidence", "fileName": "现场照片.png", "contentType": "image/png", "size": 8});
    // Not before objecting; not by the company for its own kinds after approval.
    other.post(&docs, ticket.clone()).await.expect(404, "not_found");
    object(&other, &id, "现场无物业服务").await.expect(201, "");
    let before = company.application(&id).await["documents"].as_array().unwrap().len();
    let uploaded = other.upload(&id, "objection_evidence", "application/pdf", PDF).await;
    assert!(uploaded.status.is_success(), "{}", uploaded.body);
    app.drain().await;

    let district = app.login("district-futian").await;
    let seen = district.application(&id).await;
    let evidence: Vec<&Value> =
        seen["documents"].as_array().unwrap().iter().filter(|d| d["kind"] == "objection_evidence").collect();
    assert_eq!(evidence.len(), 1);
    assert_eq!(evidence[0]["status"], "verified");
    let evidence_id = evidence[0]["id"].as_str().unwrap().to_string();
    district.get(&format!("{docs}/{evidence_id}")).await.ok();

    // The company: not in its detail, not on its timeline, not downloadable.
    let own = company.application(&id).await;
    assert_eq!(own["documents"].as_array().unwrap().len(), before);
    assert!(!own.to_string().contains(&evidence_id));
    let trail = company.get(&format!("/api/v1/applications/{id}/timeline")).await.ok();
    assert!(!trail.to_string().contains(&evidence_id), "{trail}");
    company.get(&format!("{docs}/{evidence_id}")).await.expect(404, "not_found");
    company.delete(&format!("{docs}/{evidence_id}")).await.expect(404, "not_found");

    // A file the check refuses takes no place; at most five per objector;
    // none after the window.
    let refused = other.upload(&id, "objection_evidence", "application/pdf", b"not a pdf at all").await;
    assert!(refused.status.is_success() || refused.status.as_u16() == 422, "{}", refused.body);
    app.drain().await;
    let statuses: Vec<Value> = district.application(&id).await["documents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"] == "objection_evidence")
        .map(|d| d["status"].clone())
        .collect();
    assert_eq!(statuses, [json!("verified"), json!("refused")], "the check refused the second");
    // The objector reads their own objection and what the check made of
    // their files; nobody else has one to read, not even the company.
    let mine = other.get(&format!("/api/v1/public/notices/{id}/objections/mine")).await.ok();
    assert_eq!(
        (mine["seq"].as_u64(), mine["reason"].as_str(), mine["ended"].as_bool()),
        (Some(1), Some("现场无物业服务"), Some(false))
    );
    let checked: Vec<&str> =
        mine["documents"].as_array().unwrap().iter().filter_map(|d| d["status"].as_str()).collect();
    assert_eq!(checked, ["verified", "refused"]);
    assert!(mine.get("objector").is_none() && !mine.to_string().contains("13800138001"), "{mine}");
    company.get(&format!("/api/v1/public/notices/{id}/objections/mine")).await.expect(404, "not_found");
    district.get(&format!("/api/v1/public/notices/{id}/objections/mine")).await.expect(404, "not_found");
    app.anonymous().get(&format!("/api/v1/public/notices/{id}/objections/mine")).await.expect(401, "unauthenticated");
    for _ in 0..4 {
        other.post(&docs, ticket.clone()).await.ok();
    }
    other.post(&docs, ticket.clone()).await.expect(422, "invalid_field");
    app.clock.set(china_midnight_after(approved_at, 5));
    let late = app.login("community-nanyuan").await;
    late.post(&docs, ticket.clone()).await.expect(404, "not_found");
    district.post(&docs, ticket).await.expect(404, "not_found");
}

/// Objections racing each other on one notice: each is recorded once, in
/// some order, none lost to another's write; the same user's two racing
/// objections leave one.
#[tokio::test]
async fn racing_objections_are_each_recorded_once() {
    let app = spawn().await;
    let id = approved_applications(&app, 1).await.remove(0);
    let names = ["company-b", "company-new", "community-nanyuan", "subdistrict-nanyuan", "pm-b", "finance-futian"];
    let mut users = Vec::new();
    for n in names {
        users.push(app.login(n).await);
    }
    let replies = futures::future::join_all(users.iter().map(|u| object(u, &id, "并发异议"))).await;
    assert!(replies.iter().all(|r| r.status == 201), "{:?}", replies.iter().map(|r| &r.body).collect::<Vec<_>>());
    let twice = futures::future::join_all([object(&users[0], &id, "再来"), object(&users[0], &id, "又来")]).await;
    assert!(twice.iter().all(|r| r.status == 409 && r.code() == "already_objected"), "objected already");
    let district = app.login("district-futian").await;
    let seen = district.application(&id).await;
    let objections = seen["notice"]["objections"].as_array().unwrap();
    let mut seqs: Vec<u64> = objections.iter().map(|o| o["seq"].as_u64().unwrap()).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=names.len() as u64).collect::<Vec<_>>());
    let objectors: std::collections::BTreeSet<&str> =
        objections.iter().filter_map(|o| o["objector"].as_str()).collect();
    assert_eq!(objectors.len(), names.len(), "one each");
    // On DynamoDB each write's entry rides on the item until the stream
    // writes it out: once delivered, every one is on the trail.
    app.drain().await;
    let trail = district.get(&format!("/api/v1/applications/{id}/timeline")).await.ok();
    let entries = trail.as_array().unwrap().iter().filter(|e| e["action"] == "object").count();
    assert_eq!(entries, names.len(), "one audit entry each");
}
