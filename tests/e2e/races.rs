//! Races through HTTP: many requests for the same thing at the same moment.
//! Exactly one wins, the rest get 409, and nothing is half done. Runs on the
//! standalone stack, and on the AWS emulator when the run targets it.
//! (Concurrent batch creations never sharing an application are in
//! `disbursement.rs`: `parallel_batch_creations_split_the_applications_without_overlap`.)

use serde_json::{Value, json};
use subsidy_tests::*;

/// How many identical requests each race sends at once.
const N: usize = 8;

#[tokio::test]
async fn of_n_identical_approvals_exactly_one_succeeds() {
    let app = TestApp::spawn().await;
    let id = submitted_and_confirmed(&app).await;
    app.drain().await;
    let reviewer = app.login("community-nanyuan").await;
    let version = reviewer.app_version(&id).await;
    let path = format!("/api/v1/review/community/applications/{id}/approve");
    let replies = futures::future::join_all((0..N).map(|_| reviewer.post(&path, json!({"version": version})))).await;
    let won = replies.iter().filter(|r| r.status.is_success()).count();
    assert_eq!(won, 1, "{:?}", replies.iter().map(|r| (r.status, r.code().to_string())).collect::<Vec<_>>());
    for r in replies.iter().filter(|r| !r.status.is_success()) {
        assert_eq!(r.status.as_u16(), 409, "{}", r.body);
        assert!(matches!(r.code(), "version_conflict" | "wrong_state"), "{}", r.body);
        assert!(r.body.get("id").is_none(), "a refusal carries no application: {}", r.body);
    }
    let after = reviewer.application(&id).await;
    assert_eq!(after["version"], version + 1, "one transition, not {N}");
    assert_eq!(after["state"], "pending_subdistrict");
    let timeline = reviewer.get(&format!("/api/v1/applications/{id}/timeline")).await.ok();
    let approvals = timeline.as_array().unwrap().iter().filter(|e| e["action"] == "approve").count();
    assert_eq!(approvals, 1, "one audit entry for the one approval");
}

/// Drafts take no claim; submissions race for it.
#[tokio::test]
async fn of_n_drafts_for_one_project_submitted_at_once_exactly_one_holds_it() {
    let app = TestApp::spawn().await;
    let company = app.login("company-a").await;
    let project = company
        .post(
            "/api/v1/projects",
            json!({"name": "并发花园", "address": "南园路1号", "community": "440304001020",
                   "managedArea": "12000.00", "managerName": "王项目经理", "managerPhone": "13800138001"}),
        )
        .await
        .ok();
    let mut drafts = Vec::new();
    for _ in 0..N {
        let d = company.post("/api/v1/applications", json!({"projectId": project["id"]})).await.ok();
        let id = d["id"].as_str().unwrap().to_string();
        company.upload_required(&id).await;
        drafts.push(id);
    }
    let paths: Vec<String> = drafts.iter().map(|id| format!("/api/v1/applications/{id}/submit")).collect();
    let replies = futures::future::join_all(paths.iter().map(|p| company.post(p, json!({"version": 1})))).await;
    let won: Vec<&Reply> = replies.iter().filter(|r| r.status.is_success()).collect();
    assert_eq!(won.len(), 1, "{:?}", replies.iter().map(|r| (r.status, r.code().to_string())).collect::<Vec<_>>());
    let winner = won[0].body["id"].as_str().unwrap();
    for r in replies.iter().filter(|r| !r.status.is_success()) {
        assert_eq!((r.status.as_u16(), r.code()), (409, "project_already_claimed"), "{}", r.body);
        assert_eq!(r.body["error"]["applicationId"], winner, "its own company is told which: {}", r.body);
    }
    for id in drafts.iter().filter(|id| *id != winner) {
        let d = company.application(id).await;
        assert_eq!((d["state"].as_str(), d["version"].as_u64()), (Some("draft"), Some(1)), "nothing half submitted");
    }
}

#[tokio::test]
async fn of_n_companies_submitting_one_estate_at_once_exactly_one_wins_and_no_one_learns_whose() {
    let app = TestApp::spawn().await;
    let mut companies = Vec::new();
    for i in 0..N {
        let token = app.token(json!({"sub": format!("race-owner-{i}")}));
        let code = subsidy_core::company::credit_code::CreditCode::with_check_character(&format!(
            "91440300{:09}",
            700_000_000 + i
        ))
        .unwrap();
        let name = format!("竞争物业{i}有限公司");
        let c = app.with_token(&token);
        c.put(
            "/api/v1/company",
            json!({"creditCode": code.as_str(), "name": name, "legalRepresentative": "法人", "contactName": "经办人",
                   "contactPhone": "13800138000",
                   "bankAccount": {"bankName": "中国银行", "accountName": name, "accountNumber": format!("62170000{i:08}")}}),
        )
        .await
        .ok();
        // Each registers the estate itself, spelled its own way, and drafts
        // an application for it: drafts block nobody.
        let spelled = if i % 2 == 0 { "争抢花园".to_string() } else { format!(" 争抢 花园{}", " ".repeat(i)) };
        let project = c
            .post(
                "/api/v1/projects",
                json!({"name": spelled, "address": "南园路9号", "community": "440304001020", "managedArea": "8000.00",
                       "managerName": "王项目经理", "managerPhone": "13800138001"}),
            )
            .await
            .ok();
        let draft = c.post("/api/v1/applications", json!({"projectId": project["id"]})).await.ok();
        let id = draft["id"].as_str().unwrap().to_string();
        c.upload_required(&id).await;
        companies.push((token, id));
    }
    let users: Vec<(User<'_>, String)> =
        companies.iter().map(|(t, id)| (app.with_token(t), format!("/api/v1/applications/{id}/submit"))).collect();
    let replies = futures::future::join_all(users.iter().map(|(u, path)| u.post(path, json!({"version": 1})))).await;
    let won: Vec<&Reply> = replies.iter().filter(|r| r.status.is_success()).collect();
    assert_eq!(won.len(), 1, "{:?}", replies.iter().map(|r| (r.status, r.code().to_string())).collect::<Vec<_>>());
    let winner = won[0].body["id"].as_str().unwrap();
    for r in replies.iter().filter(|r| !r.status.is_success()) {
        assert_eq!((r.status.as_u16(), r.code()), (409, "project_already_claimed"), "{}", r.body);
        assert!(r.body["error"].get("applicationId").is_none(), "another company's id leaked: {}", r.body);
        assert!(!r.body.to_string().contains(winner), "{}", r.body);
    }
}

/// company-a's profile as a PUT body, with another account number.
fn profile_with_account(me: &Value, number: &str) -> Value {
    json!({
        "creditCode": me["creditCode"], "name": me["name"], "legalRepresentative": me["legalRepresentative"],
        "contactName": me["contactName"],
        "bankAccount": {"bankName": me["bankAccount"]["bankName"], "accountName": me["bankAccount"]["accountName"],
                        "accountNumber": number},
        "version": me["version"],
    })
}

#[tokio::test]
async fn a_bank_account_change_racing_a_batch_never_pays_an_unverified_or_replaced_account() {
    const NEW: &str = "6217000099998888";
    // Each round starts one of the two a little later (negative: the batch
    // waits), so that rounds fall on both sides of the claims and between.
    let delays: &[i64] = if aws_backend() { &[-200, 150, 400, 800] } else { &[-16, -4, 0, 1, 2, 4, 8] };
    for (round, delay) in delays.iter().enumerate() {
        let wait = |ms: i64| tokio::time::sleep(std::time::Duration::from_millis(ms.max(0) as u64));
        let app = TestApp::spawn().await;
        let ids = approved_applications(&app, 3).await;
        let company = app.login("company-a").await;
        let me = company.get("/api/v1/company").await.ok();
        let finance = app.login("finance-futian").await;
        let (change, batch) = tokio::join!(
            async {
                wait(*delay).await;
                company.put("/api/v1/company", profile_with_account(&me, NEW)).await
            },
            async {
                wait(-delay).await;
                finance.post("/api/v1/batches", json!({"note": format!("竞态{round}")})).await
            },
        );
        eprintln!("round {round}: change {} {}, batch {} {}", change.status, change.code(), batch.status, batch.code());
        let mut paid_here = Vec::new();
        if batch.status.is_success() {
            let id = batch.body["id"].as_str().unwrap();
            let lines = finance.get(&format!("/api/v1/batches/{id}/lines?limit=100")).await.ok();
            for l in lines["items"].as_array().unwrap() {
                let masked = l["payee"]["accountNumberMasked"].as_str().unwrap();
                assert!(!masked.ends_with("8888"), "round {round}: a line pays the unverified account: {l}");
                if ids.iter().any(|i| l["applicationId"] == i.as_str()) {
                    paid_here.push(l["applicationId"].clone());
                }
            }
        } else {
            assert_eq!(batch.code(), "nothing_to_pay", "round {round}: {}", batch.body);
        }
        if change.status.is_success() {
            // Accepted: the old account was replaced, so no batch may pay it.
            assert!(paid_here.is_empty(), "round {round}: the change was accepted yet the old account is paid");
            for id in &ids {
                assert_eq!(company.application(id).await["payeeChangePending"], true, "round {round}");
            }
        } else {
            assert_eq!(change.status.as_u16(), 409, "round {round}: {}", change.body);
            assert_eq!(change.code(), "payment_in_progress", "{}", change.body);
            let after = company.get("/api/v1/company").await.ok();
            assert!(!after["bankAccount"]["accountNumberMasked"].as_str().unwrap().ends_with("8888"));
            // Refused means refused: no application holds half of the change.
            for id in &ids {
                let a = company.application(id).await;
                assert_eq!(a["payeeChangePending"], false, "round {round}: refused change left on {id}: {a}");
            }
        }
    }
}

/// Two reviewers of one community bulk-approve overlapping selections at
/// once (each under the spot-check minimum): every application is approved
/// exactly once, each answer accounts for every item, and what one won the
/// other reports as a conflict or no longer waiting.
#[tokio::test]
async fn two_reviewers_bulk_approving_overlapping_selections_approve_each_application_once() {
    let app = TestApp::spawn().await;
    let company = app.login("company-a").await;
    let pm = app.login("pm-a").await;
    let mut ids = Vec::new();
    for i in 0..9 {
        ids.push(submitted_for_new_project(&company, &pm, &format!("并发批量苑{i}"), "1000.00").await.1);
    }
    app.drain().await;
    let first = app.login("community-nanyuan").await;
    let second = app.with_token(&app.staff_token("bulk-race-second", "community", "440304001020").await);
    let mut versions = Vec::new();
    for id in &ids {
        versions.push(first.app_version(id).await);
    }
    let items = |range: std::ops::Range<usize>| json!({"items": range.map(|i| json!({"id": ids[i], "version": versions[i]})).collect::<Vec<_>>()});
    // 0..6 and 3..9: 3, 4 and 5 in both.
    let (a, b) = tokio::join!(
        first.post("/api/v1/review/community/bulk-approve", items(0..6)),
        second.post("/api/v1/review/community/bulk-approve", items(3..9)),
    );
    let (a, b) = (a.ok(), b.ok());
    let mut approved: std::collections::BTreeMap<String, usize> = Default::default();
    for answer in [&a, &b] {
        assert_eq!(answer["results"].as_array().unwrap().len(), 6, "{answer}");
        for r in answer["results"].as_array().unwrap() {
            match r["outcome"].as_str().unwrap() {
                "approved" => *approved.entry(r["id"].as_str().unwrap().to_string()).or_default() += 1,
                "conflict" | "wrong_state" => {}
                other => panic!("unexpected outcome {other}: {r}"),
            }
        }
        let n = answer["results"].as_array().unwrap().iter().filter(|r| r["outcome"] == "approved").count();
        assert_eq!(answer["approved"], n);
    }
    assert_eq!(approved.len(), 9, "every application approved: {approved:?}");
    assert!(approved.values().all(|n| *n == 1), "none twice: {approved:?}");
    for id in &ids {
        let after = first.application(id).await;
        assert_eq!(after["state"], "pending_subdistrict");
        let timeline = first.get(&format!("/api/v1/applications/{id}/timeline")).await.ok();
        let approvals = timeline.as_array().unwrap().iter().filter(|e| e["action"] == "approve").count();
        assert_eq!(approvals, 1, "{id}: one audit entry");
    }
}
