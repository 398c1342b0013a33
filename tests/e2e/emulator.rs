//! What only the AWS side has, proven against the moto emulator with the
//! real aws-sdk-rust clients: the storage contract on DynamoDB, redelivery
//! of stream records and SQS messages, and S3 presigned documents.
//!
//! These need the emulator, so they are ignored by a plain `cargo test`;
//! `make test` runs them through `scripts/with-moto.sh ... --include-ignored`.

#[path = "../../infra/tests/contract/mod.rs"]
mod contract;

use std::sync::Arc;

use serde_json::json;
use subsidy_core::identity::Tier;
use subsidy_infra::aws::{self, DynamoStore};
use subsidy_tests::*;

#[tokio::test]
#[ignore = "needs the AWS emulator; make test runs it through scripts/with-moto.sh"]
async fn the_dynamodb_adapter_keeps_the_storage_contract() {
    let sdk = aws::sdk_config().await;
    let resources = subsidy_tests::aws::create_resources(&sdk, &subsidy_tests::aws::unique_prefix()).await;
    let store = Arc::new(DynamoStore::new(aws::dynamo_client(&sdk), &resources.table));
    contract::run_all(&contract::Ports {
        policies: store.clone(),
        companies: store.clone(),
        projects: store.clone(),
        applications: store.clone(),
        documents: store.clone(),
        prechecks: store.clone(),
        idempotency: store,
    })
    .await;
}

#[tokio::test]
#[ignore = "needs the AWS emulator; make test runs it through scripts/with-moto.sh"]
async fn every_stream_record_and_message_delivered_twice_changes_nothing_the_second_time() {
    let app = TestApp::spawn_aws().await;
    let id = submitted_and_confirmed(&app).await;
    let a = app.aws();
    let services = &app.services;
    let before = services.applications.get_application(&id).await.unwrap().unwrap();
    let trail_before = services.applications.audit_trail(&id).await.unwrap().len();

    // Every stream batch goes to dispatch twice: each arrival is queued twice.
    let batches = a.stream_batches().await;
    assert!(!batches.is_empty());
    for batch in &batches {
        for _ in 0..2 {
            let r = dispatch::handle_stream(&a.queues, serde_json::from_value(batch.clone()).unwrap()).await;
            assert!(r.batch_item_failures.is_empty(), "{r:?}");
        }
    }
    // Every received batch goes to the consumer twice before it is deleted.
    let mut messages = 0;
    while let Some((event, handles)) = a.receive(Tier::Community).await {
        messages += handles.len();
        for _ in 0..2 {
            let r = review::handle_sqs(services, Tier::Community, serde_json::from_value(event.clone()).unwrap()).await;
            assert!(r.batch_item_failures.is_empty(), "{r:?}");
        }
        a.delete(Tier::Community, &handles.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>()).await;
    }
    assert_eq!(messages, 2, "the one arrival, sent twice");

    let after = services.applications.get_application(&id).await.unwrap().unwrap();
    assert_eq!(after, before, "consumers never change the application");
    assert_eq!(services.applications.audit_trail(&id).await.unwrap().len(), trail_before);
    let reports = services.prechecks.prechecks_of(&id).await.unwrap();
    assert_eq!(reports.len(), 1, "one pre-check report, however often delivered");
    assert_eq!(reports[0].tier, Tier::Community);

    // The application moves on; the old arrival, delivered late, is ignored.
    let community = app.login("community-nanyuan").await;
    community.act(&id, "/api/v1/review/community/applications/{id}/approve", json!({})).await.ok();
    let stale = json!({"Records": [{
        "messageId": "late-1", "receiptHandle": "rh", "body": json!({"applicationId": id, "tier": "community", "version": before.version}).to_string(),
        "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:q", "awsRegion": "us-east-1"
    }]});
    let r = review::handle_sqs(services, Tier::Community, serde_json::from_value(stale).unwrap()).await;
    assert!(r.batch_item_failures.is_empty());
    assert_eq!(services.prechecks.prechecks_of(&id).await.unwrap().len(), 1);
    a.stop();
}

#[tokio::test]
#[ignore = "needs the AWS emulator; make test runs it through scripts/with-moto.sh"]
async fn a_presigned_upload_fixes_type_and_length_and_bad_content_is_refused_on_arrival() {
    let app = TestApp::spawn_aws().await;
    let company = app.login("company-a").await;
    let id = company.create_application("南园花园").await["id"].as_str().unwrap().to_string();
    let ticket = company
        .post(
            &format!("/api/v1/applications/{id}/documents"),
            json!({"kind": "service_contract", "fileName": "合同.pdf", "contentType": "application/pdf", "size": PNG.len()}),
        )
        .await
        .ok();
    let url = ticket["upload"]["url"].as_str().unwrap();
    assert_eq!(ticket["upload"]["method"], "PUT");
    let signed = url.split("X-Amz-SignedHeaders=").nth(1).unwrap().split('&').next().unwrap().replace("%3B", ";");
    assert!(signed.contains("content-length") && signed.contains("content-type"), "signed headers: {signed}");
    assert!(url.contains("X-Amz-Expires=900"), "valid for 15 minutes: {url}");

    // A PNG declared as a PDF: S3 takes it, the arrival check refuses it.
    let put = app.raw(None, "PUT", url, "application/pdf", PNG.to_vec()).await;
    assert_eq!(put.status, 200, "{}", put.body);
    app.drain().await;
    let docs = company.application(&id).await["documents"].clone();
    assert_eq!(docs[0]["status"], "refused", "{docs}");
    let s3 = aws::s3_client(&app.aws().sdk);
    let listed = s3.list_objects_v2().bucket(&app.aws().resources.bucket).send().await.unwrap();
    assert_eq!(listed.key_count().unwrap_or(0), 0, "the refused bytes are deleted");

    // Real documents verify, and reviewers in scope (only) get a download URL.
    company.upload_required(&id).await;
    app.drain().await;
    company.act(&id, "/api/v1/applications/{id}/submit", json!({})).await.ok();
    app.login("pm-a").await.act(&id, "/api/v1/applications/{id}/confirm-area", json!({})).await.ok();
    let detail = company.application(&id).await;
    let verified = detail["documents"].as_array().unwrap().iter().find(|d| d["status"] == "verified").unwrap().clone();
    let path = format!("/api/v1/applications/{id}/documents/{}", verified["id"].as_str().unwrap());
    let url =
        app.login("community-nanyuan").await.get(&path).await.ok()["download"]["url"].as_str().unwrap().to_string();
    let bytes = app.client.get(&url).send().await.unwrap().bytes().await.unwrap();
    assert!(bytes.starts_with(b"%PDF-") || bytes.starts_with(b"\x89PNG"), "the stored document comes back");
    app.login("community-nanhua").await.get(&path).await.expect(404, "not_found");
    app.login("pm-a").await.get(&path).await.expect(404, "not_found");
    app.aws().stop();
}

#[tokio::test]
#[ignore = "needs the AWS emulator; make test runs it through scripts/with-moto.sh"]
async fn documents_left_pending_are_checked_on_first_read_at_submission() {
    let app = TestApp::spawn_aws().await;
    let company = app.login("company-a").await;
    let id = company.create_application("南园花园").await["id"].as_str().unwrap().to_string();
    company.upload_required(&id).await;
    // No upload event is delivered (say EventBridge is late): submission checks the bytes itself.
    let docs = company.application(&id).await["documents"].clone();
    assert!(docs.as_array().unwrap().iter().all(|d| d["status"] == "pending"));
    let submitted = company.act(&id, "/api/v1/applications/{id}/submit", json!({})).await.ok();
    assert_eq!(submitted["state"], "awaiting_area_confirmation");
    assert!(submitted["documents"].as_array().unwrap().iter().all(|d| d["status"] == "verified"), "{submitted}");
    app.aws().stop();
}
