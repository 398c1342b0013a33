//! The second person, tried by finance officers who want to go around it,
//! on the backend this run targets: no treasury file before release, no
//! cancel after it, no line after the control totals, no release by anyone
//! who built the batch, and no results file that un-pays a paid line.

use serde_json::{Value, json};
use subsidy_core::payout::batch_file_key;
use subsidy_tests::*;

async fn lines(user: &User<'_>, batch: &str) -> Vec<Value> {
    let page = user.get(&format!("/api/v1/batches/{batch}/lines?limit=100")).await.ok();
    assert!(page["nextCursor"].is_null(), "one page is enough here");
    page["items"].as_array().unwrap().clone()
}

fn fen(v: &Value) -> i64 {
    v["fen"].as_i64().unwrap_or_else(|| panic!("money in {v}"))
}

async fn ready_batch(app: &TestApp, n: usize) -> (User<'_>, Value) {
    approved_applications(app, n).await;
    let maker = app.login("finance-futian").await;
    let batch = maker.post("/api/v1/batches", json!({"note": "复核测试"})).await.ok();
    assert_eq!(batch["state"], "ready", "{batch}");
    (maker, batch)
}

#[tokio::test]
async fn no_treasury_file_exists_or_is_served_before_a_second_person_releases_the_batch() {
    let app = TestApp::spawn().await;
    let (maker, batch) = ready_batch(&app, 2).await;
    let id = batch["id"].as_str().unwrap();
    app.drain().await;
    let checker = app.login("finance-futian-2").await;
    for user in [&maker, &checker] {
        for format in ["csv", "xlsx"] {
            user.get(&format!("/api/v1/batches/{id}/file?format={format}")).await.expect(409, "wrong_state");
        }
    }
    for ext in ["csv", "xlsx"] {
        assert!(
            app.services.ports.exports.head(&batch_file_key(id, ext), 0).await.unwrap().is_none(),
            "no {ext} written"
        );
    }
    assert_eq!(maker.get(&format!("/api/v1/batches/{id}")).await.ok()["filesReady"], false);

    checker.post(&format!("/api/v1/batches/{id}/release"), json!({"version": batch["version"]})).await.ok();
    app.drain().await;
    let link = maker.get(&format!("/api/v1/batches/{id}/file?format=csv")).await.ok();
    let csv = app.client.get(link["download"]["url"].as_str().unwrap()).send().await.unwrap().text().await.unwrap();
    assert!(csv.contains(id), "the released batch's file");
}

#[tokio::test]
async fn a_released_batch_cannot_be_cancelled() {
    let app = TestApp::spawn().await;
    let (maker, batch) = ready_batch(&app, 2).await;
    let id = batch["id"].as_str().unwrap();
    let checker = app.login("finance-futian-2").await;
    let released =
        checker.post(&format!("/api/v1/batches/{id}/release"), json!({"version": batch["version"]})).await.ok();
    let budget = maker.get("/api/v1/disbursement/budget").await.ok();
    for user in [&maker, &checker] {
        user.post(&format!("/api/v1/batches/{id}/cancel"), json!({"version": released["version"]}))
            .await
            .expect(409, "wrong_state");
    }
    let after = maker.get(&format!("/api/v1/batches/{id}")).await.ok();
    assert_eq!((after["state"].as_str(), &after["version"]), (Some("released"), &released["version"]));
    assert_eq!(maker.get("/api/v1/disbursement/budget").await.ok(), budget, "the budget did not move");
    let company = app.login("company-a").await;
    for l in lines(&maker, id).await {
        assert_eq!(company.application(l["applicationId"].as_str().unwrap()).await["state"], "in_payment_batch");
    }
    // Nothing became payable again for a second batch.
    maker.post("/api/v1/batches", json!({})).await.expect(409, "nothing_to_pay");
}

/// A resume pressed while the batch queue builds: whatever order the two
/// builders interleave in, the ready batch's lines are exactly its control
/// totals, and the one who resumed is a maker too.
#[tokio::test]
async fn a_resume_racing_the_queue_never_adds_a_line_outside_the_totals() {
    let app = TestApp::spawn().await;
    approved_applications(&app, 9).await;
    app.services.ports.batch_step.store(4, std::sync::atomic::Ordering::Relaxed);
    let maker = app.login("finance-futian").await;
    let created = maker.post("/api/v1/batches", json!({"note": "竞态"})).await;
    assert_eq!(created.status.as_u16(), 202, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    let resumer = app.login("finance-futian-2").await;
    let mut rounds = 0;
    loop {
        let b = maker.get(&format!("/api/v1/batches/{id}")).await.ok();
        if b["state"] != "building" {
            break;
        }
        rounds += 1;
        assert!(rounds < 30, "still building after {rounds} rounds");
        // The queue's step and a resume, at once.
        let resume_path = format!("/api/v1/batches/{id}/resume");
        let resume = resumer.post(&resume_path, json!({}));
        let (_, r) = tokio::join!(app.drain(), resume);
        assert!(r.status.is_success() || r.code() == "wrong_state", "{}", r.body);
    }
    let b = maker.get(&format!("/api/v1/batches/{id}")).await.ok();
    assert_eq!(b["state"], "ready", "{b}");
    let ls = lines(&maker, &id).await;
    let pending: Vec<&Value> = ls.iter().filter(|l| l["status"] == "pending").collect();
    assert_eq!(pending.len() as u64, b["lineCount"].as_u64().unwrap(), "lines = the control count");
    assert_eq!(pending.iter().map(|l| fen(&l["amount"])).sum::<i64>(), fen(&b["total"]), "lines = the control total");
    assert_eq!(b["lineCount"], 9);
    // Neither the creator nor the one who resumed may release it.
    for user in [&maker, &resumer] {
        user.post(&format!("/api/v1/batches/{id}/release"), json!({"version": b["version"]}))
            .await
            .expect(409, "maker_checker");
    }
    let third = app.with_token(&app.staff_token("finance-futian-3", "finance", "440304").await);
    third.post(&format!("/api/v1/batches/{id}/release"), json!({"version": b["version"]})).await.ok();
}

#[tokio::test]
async fn a_resume_makes_its_user_a_maker_who_cannot_release() {
    let app = TestApp::spawn().await;
    approved_applications(&app, 5).await;
    app.services.ports.batch_step.store(4, std::sync::atomic::Ordering::Relaxed);
    let maker = app.login("finance-futian").await;
    let created = maker.post("/api/v1/batches", json!({})).await;
    let id = created.body["id"].as_str().unwrap().to_string();
    // finance-futian-2 finishes the building by hand, never touching the queue.
    let helper = app.login("finance-futian-2").await;
    let mut b = created.body.clone();
    while b["state"] == "building" {
        b = helper.post(&format!("/api/v1/batches/{id}/resume"), json!({})).await.ok();
    }
    assert_eq!(b["state"], "ready");
    let r = helper.post(&format!("/api/v1/batches/{id}/release"), json!({"version": b["version"]})).await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "maker_checker"), "{}", r.body);
    assert_eq!(maker.get(&format!("/api/v1/batches/{id}")).await.ok()["state"], "ready", "still not released");
}

#[tokio::test]
async fn a_results_file_that_turns_a_paid_line_failed_is_refused_whole() {
    let app = TestApp::spawn().await;
    let (maker, batch) = ready_batch(&app, 2).await;
    let id = batch["id"].as_str().unwrap();
    app.login("finance-futian-2")
        .await
        .post(&format!("/api/v1/batches/{id}/release"), json!({"version": batch["version"]}))
        .await
        .ok();
    let ls = lines(&maker, id).await;
    let (l0, l1) = (ls[0]["id"].as_str().unwrap(), ls[1]["id"].as_str().unwrap());
    let amount = |l: &Value| l["amount"]["yuan"].as_str().unwrap().to_string();
    let file = |rows: &[(&str, &str, &str)], total: &str| {
        let mut s = format!("批次号,{id}\n笔数,{}\n总金额(元),{total}\n行号,状态,原因\n", rows.len());
        for (l, st, why) in rows {
            s.push_str(&format!("{l},{st},{why}\n"));
        }
        s
    };
    let results = format!("/api/v1/batches/{id}/results");
    let import = |text: String| app.raw(maker.token.as_deref(), "POST", &results, "text/csv", text.into_bytes());
    import(file(&[(l0, "成功", "")], &amount(&ls[0]))).await.ok();
    let before = maker.get(&format!("/api/v1/batches/{id}")).await.ok();
    let budget = maker.get("/api/v1/disbursement/budget").await.ok();
    // The flip, alone and hidden among good lines, quoted as a bank writes it.
    let two = subsidy_core::money::Fen::new(fen(&ls[0]["amount"]) + fen(&ls[1]["amount"])).unwrap().to_string();
    for text in [
        file(&[(l0, "失败", "退票")], &amount(&ls[0])),
        file(&[(l1, "成功", ""), (l0, "失败", "\"户名不符, 退票\"")], &two),
    ] {
        let r = import(text).await;
        assert_eq!((r.status.as_u16(), r.code()), (422, "results_refused"), "{}", r.body);
        assert!(r.body["error"]["problems"].to_string().contains("already recorded as paid"), "{}", r.body);
    }
    assert_eq!(maker.get(&format!("/api/v1/batches/{id}")).await.ok(), before, "nothing changed");
    assert_eq!(maker.get("/api/v1/disbursement/budget").await.ok(), budget);
    let company = app.login("company-a").await;
    assert_eq!(company.application(ls[0]["applicationId"].as_str().unwrap()).await["state"], "paid");
    assert_eq!(company.application(ls[1]["applicationId"].as_str().unwrap()).await["state"], "in_payment_batch");
}
