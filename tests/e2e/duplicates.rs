//! Duplicate delivery: the whole lifecycle with every event handed to its
//! consumer twice: every outbox batch and stream batch to aggregation (a
//! whole batch retried), every change to dispatch, every tier arrival to
//! review, every upload event to the document consumer, every export
//! request to the disbursement consumer. Nothing transitions twice, is
//! counted twice or is claimed twice. Runs on the standalone stack, and on
//! the AWS emulator when the run targets it.

use serde_json::json;
use subsidy_core::identity::Tier;
use subsidy_tests::*;

#[tokio::test]
async fn everything_delivered_twice_happens_once() {
    let app = TestApp::spawn().await;
    app.deliver_everything_twice();
    let company = app.login("company-a").await;
    let pm = app.login("pm-a").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let project = company
            .post(
                "/api/v1/projects",
                json!({"name": format!("重复投递{i}"), "address": "南园路", "community": "440304001020",
                       "managedArea": format!("{}.50", 2000 + i), "managerName": "王项目经理", "managerPhone": "13800138001"}),
            )
            .await
            .ok();
        let id = company.post("/api/v1/applications", json!({"projectId": project["id"]})).await.ok()["id"]
            .as_str()
            .unwrap()
            .to_string();
        company.upload_required(&id).await;
        app.drain().await;
        company.act(&id, "/api/v1/applications/{id}/submit", json!({})).await.ok();
        ids.push(id);
    }
    let mut delivered = app.drain().await;
    for id in &ids {
        pm.act(id, "/api/v1/applications/{id}/confirm-area", json!({})).await.ok();
    }
    delivered += app.drain().await;
    for (user, tier) in
        [("community-nanyuan", "community"), ("subdistrict-nanyuan", "subdistrict"), ("district-futian", "district")]
    {
        let r = app.login(user).await;
        for id in &ids {
            r.act(id, &format!("/api/v1/review/{tier}/applications/{{id}}/approve"), json!({})).await.ok();
        }
        delivered += app.drain().await;
    }
    let finance = app.login("finance-futian").await;
    let batch = finance.post("/api/v1/batches", json!({"note": "重复投递"})).await.ok();
    let batch_id = batch["id"].as_str().unwrap().to_string();
    assert_eq!(batch["lineCount"], 3, "each application claimed once: {batch}");
    let checker = app.login("finance-futian-2").await;
    checker.post(&format!("/api/v1/batches/{batch_id}/release"), json!({"version": batch["version"]})).await.ok();
    delivered += app.drain().await;
    let lines = finance.get(&format!("/api/v1/batches/{batch_id}/lines?limit=100")).await.ok();
    let lines = lines["items"].as_array().unwrap().clone();
    assert_eq!(lines.len(), 3);
    let mut results =
        format!("批次号,{batch_id}\n笔数,3\n总金额(元),{}\n行号,状态,原因\n", batch["total"]["yuan"].as_str().unwrap());
    for l in &lines {
        results.push_str(&format!("{},成功,\n", l["id"].as_str().unwrap()));
    }
    let imported = app
        .raw(
            finance.token.as_deref(),
            "POST",
            &format!("/api/v1/batches/{batch_id}/results"),
            "text/csv",
            results.into_bytes(),
        )
        .await
        .ok();
    assert_eq!((imported["paidCount"].as_u64(), imported["state"].as_str()), (Some(3), Some("reconciled")));
    delivered += app.drain().await;
    assert!(delivered > 0);

    for id in &ids {
        let timeline = company.get(&format!("/api/v1/applications/{id}/timeline")).await.ok();
        let all = timeline.as_array().unwrap();
        let actions: Vec<&str> =
            all.iter().filter(|e| e["subject"] == id.as_str()).map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(
            actions,
            ["create", "submit", "confirm_area", "approve", "approve", "approve", "add_to_batch", "mark_paid"],
            "{id}: one transition per step"
        );
        // Every upload event delivered twice: each document checked once.
        let checks = all.iter().filter(|e| e["action"] == "check_document").count();
        assert_eq!(checks, 2, "{id}: one check per document");
        let reports = app.services.ports.prechecks.prechecks_of(id).await.unwrap();
        let mut tiers: Vec<Tier> = reports.iter().map(|r| r.tier).collect();
        tiers.sort_by_key(|t| *t as u8);
        tiers.dedup();
        assert_eq!(reports.len(), tiers.len(), "{id}: one pre-check report per tier, not per delivery");
        assert_eq!(reports.len(), 3, "{id}: every tier checked");
    }
    // Counted once: the live totals equal a recount from the applications.
    let recount = app.services.stats.reconcile().await.unwrap();
    assert!(recount.drift.is_empty(), "counted twice somewhere: {:?}", recount.drift);
    // The budget holds each payment once.
    let budget = finance.get("/api/v1/disbursement/budget").await.ok();
    assert_eq!(budget["paid"]["fen"], batch["total"]["fen"], "{budget}");
    assert_eq!(budget["committed"]["fen"], 0);
    // The treasury file, written twice, is one file with three lines.
    let link = finance.get(&format!("/api/v1/batches/{batch_id}/file?format=csv")).await.ok();
    let csv = app.client.get(link["download"]["url"].as_str().unwrap()).send().await.unwrap().text().await.unwrap();
    let line_rows = csv.lines().filter(|l| lines.iter().any(|x| l.starts_with(x["id"].as_str().unwrap()))).count();
    assert_eq!(line_rows, 3, "{csv}");
    println!("duplicate delivery: {delivered} deliveries, each handed over twice");
}
