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

/// The dispatch function's write-out, run over the whole stream so far.
struct WriteOutFromTheStream {
    sdk: aws_config::SdkConfig,
    arn: String,
    iterators: tokio::sync::Mutex<std::collections::HashMap<String, String>>,
    store: Arc<DynamoStore>,
}

#[async_trait::async_trait]
impl contract::Settle for WriteOutFromTheStream {
    async fn settle(&self) {
        use subsidy_infra::stream::AuditWriteOut;
        let mut iterators = self.iterators.lock().await;
        for batch in subsidy_tests::aws::read_stream(&self.sdk, &self.arn, &mut iterators).await {
            let event: aws_lambda_events::dynamodb::Event = serde_json::from_value(batch).unwrap();
            let entries: Vec<_> =
                event.records.iter().filter_map(|r| subsidy_infra::stream::pending_audit(r).unwrap()).collect();
            self.store.write_out(&entries).await.unwrap();
        }
    }
}

#[tokio::test]
#[ignore = "needs the AWS emulator; make test runs it through scripts/with-moto.sh"]
async fn the_dynamodb_adapter_keeps_the_storage_contract() {
    let sdk = aws::sdk_config().await;
    let resources = subsidy_tests::aws::create_resources(&sdk, &subsidy_tests::aws::unique_prefix()).await;
    let store = Arc::new(DynamoStore::new(aws::dynamo_client(&sdk), &resources.table));
    let settle = Arc::new(WriteOutFromTheStream {
        sdk: sdk.clone(),
        arn: resources.stream_arn.clone(),
        iterators: Default::default(),
        store: store.clone(),
    });
    contract::run_all(&contract::Ports {
        settle,
        policies: store.clone(),
        companies: store.clone(),
        projects: store.clone(),
        applications: store.clone(),
        documents: store.clone(),
        prechecks: store.clone(),
        idempotency: store.clone(),
        stats: store.clone(),
        payout: store.clone(),
        notices: store.clone(),
        sms: store.clone(),
        sms_queue: None,
        eta: store.clone(),
        views: store.clone(),
        staff: store,
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
    let before = services.ports.applications.get_application(&id).await.unwrap().unwrap();
    // Nothing consumed the stream yet: the trail is what rides on the item
    // (its newest entry); the stream's writes complete it, once.
    let riding = services.ports.applications.audit_trail(&id).await.unwrap();
    assert_eq!(riding.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![before.audit_seq]);

    // Every stream batch goes to dispatch twice: each arrival is queued twice.
    let batches = a.stream_batches().await;
    assert!(!batches.is_empty());
    for batch in &batches {
        for _ in 0..2 {
            let r = dispatch::handle_stream(
                &a.queues,
                &a.audit_out,
                dispatch::Derived { policy: &a.policy, sms: &a.sms_jobs },
                serde_json::from_value(batch.clone()).unwrap(),
            )
            .await;
            assert!(r.batch_item_failures.is_empty(), "{r:?}");
        }
    }
    // Every received batch goes to the consumer twice before it is deleted.
    let mut messages = 0;
    while let Some((event, handles)) = a.receive(Tier::Community).await {
        messages += handles.len();
        for _ in 0..2 {
            let r = review::handle_sqs(
                &services.review,
                Tier::Community,
                &a.dead_letters["CommunityQueue"],
                serde_json::from_value(event.clone()).unwrap(),
            )
            .await;
            assert!(r.batch_item_failures.is_empty(), "{r:?}");
        }
        a.delete(Tier::Community, &handles.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>()).await;
    }
    assert_eq!(messages, 2, "the one arrival, sent twice");

    let after = services.ports.applications.get_application(&id).await.unwrap().unwrap();
    assert_eq!(after, before, "consumers never change the application");
    let trail = services.ports.applications.audit_trail(&id).await.unwrap();
    assert_eq!(trail.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=before.audit_seq).collect::<Vec<_>>());
    assert_eq!(trail.last(), riding.last(), "the entry written out is the one that rode on the item");
    subsidy_core::audit::verify_chain(
        services.cx.audit_key.get().await.unwrap(),
        &id,
        &trail,
        before.audit_seq,
        &before.audit_head,
    )
    .expect("the chain written out by the stream verifies");
    let reports = services.ports.prechecks.prechecks_of(&id).await.unwrap();
    assert_eq!(reports.len(), 1, "one pre-check report, however often delivered");
    assert_eq!(reports[0].tier, Tier::Community);

    // The application moves on; the old arrival, delivered late, is ignored.
    let community = app.login("community-nanyuan").await;
    community.act(&id, "/api/v1/review/community/applications/{id}/approve", json!({})).await.ok();
    let stale = json!({"Records": [{
        "messageId": "late-1", "receiptHandle": "rh", "body": json!({"applicationId": id, "tier": "community", "version": before.version}).to_string(),
        "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:q", "awsRegion": "us-east-1"
    }]});
    let r = review::handle_sqs(
        &services.review,
        Tier::Community,
        &a.dead_letters["CommunityQueue"],
        serde_json::from_value(stale).unwrap(),
    )
    .await;
    assert!(r.batch_item_failures.is_empty());
    assert_eq!(services.ports.prechecks.prechecks_of(&id).await.unwrap().len(), 1);
    assert!(dead_lettered(a, "CommunityDeadLetterQueue").await.is_empty(), "a stale arrival is not poison");
    a.stop();
}

/// What a dead-letter queue holds: each message's body and its `reason`.
async fn dead_lettered(a: &subsidy_tests::aws::AwsStack, logical: &str) -> Vec<(String, String)> {
    let out = aws::sqs_client(&a.sdk)
        .receive_message()
        .queue_url(&a.resources.queues[logical])
        .message_attribute_names("All")
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    out.messages
        .unwrap_or_default()
        .iter()
        .map(|m| {
            let reason = m.message_attributes().and_then(|a| a.get("reason")).and_then(|r| r.string_value());
            (m.body().unwrap_or_default().to_string(), reason.unwrap_or_default().to_string())
        })
        .collect()
}

#[tokio::test]
#[ignore = "needs the AWS emulator; make test runs it through scripts/with-moto.sh"]
async fn a_message_that_can_never_succeed_goes_to_the_dead_letter_queue_without_burning_retries() {
    let app = TestApp::spawn_aws().await;
    let a = app.aws();
    let sqs = aws::sqs_client(&a.sdk);
    for (queue, body) in [("CommunityQueue", r#"{"applicationId": 42}"#), ("ExportQueue", "not a batch job")] {
        sqs.send_message().queue_url(&a.resources.queues[queue]).message_body(body).send().await.unwrap();
    }
    let (event, handles) = a.receive(Tier::Community).await.expect("the poison arrival");
    assert_eq!(handles.len(), 1);
    let r = subsidy_tests::metering::as_function(
        "ReviewCommunityFunction",
        review::handle_sqs(
            &app.services.review,
            Tier::Community,
            &a.dead_letters["CommunityQueue"],
            serde_json::from_value(event).unwrap(),
        ),
    )
    .await;
    assert!(r.batch_item_failures.is_empty(), "acknowledged on its first receipt, not redelivered: {r:?}");
    let dead = dead_lettered(a, "CommunityDeadLetterQueue").await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].0, r#"{"applicationId": 42}"#, "the body unchanged, so it can be redriven");
    assert!(dead[0].1.starts_with("bad message"), "the reason travels with it: {dead:?}");

    let (event, _) = a.receive_from("ExportQueue").await.expect("the poison job");
    let payout = disbursement::App::new(&app.services.ports);
    let r = subsidy_tests::metering::as_function(
        "DisbursementFunction",
        disbursement::handle_sqs(&payout, &a.dead_letters["ExportQueue"], serde_json::from_value(event).unwrap()),
    )
    .await;
    assert!(r.batch_item_failures.is_empty(), "{r:?}");
    let dead = dead_lettered(a, "ExportDeadLetterQueue").await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(dead[0].1.starts_with("bad batch-queue message"), "{dead:?}");

    // The SMS queue (the dispatch function's).
    sqs.send_message().queue_url(&a.resources.queues["SmsQueue"]).message_body("{\"to\": 1}").send().await.unwrap();
    let (event, _) = a.receive_from("SmsQueue").await.expect("the poison job");
    let r = subsidy_tests::metering::as_function(
        "DispatchFunction",
        dispatch::handle_sms(&a.sms, serde_json::from_value(event).unwrap()),
    )
    .await;
    assert!(r.batch_item_failures.is_empty(), "{r:?}");
    let dead = dead_lettered(a, "SmsDeadLetterQueue").await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].0, "{\"to\": 1}");
    assert!(dead[0].1.starts_with("not an SMS job"), "{dead:?}");
    a.stop();
}

/// The SMS queue waits by SQS's own clock (the suites' `SmsLater` stands
/// in for it on the test clock): a job sent again with a delay is not
/// received before it, and a message held is not received again until its
/// visibility runs out. In seconds here; quiet hours are hours.
#[tokio::test]
#[ignore = "needs the AWS emulator; make test runs it through scripts/with-moto.sh"]
async fn an_sms_job_waits_on_the_queue_by_a_delay_or_by_its_visibility() {
    use subsidy_core::notify::sms::{SmsJob, SmsRedelivery};
    let app = TestApp::spawn_aws().await;
    let a = app.aws();
    let job = SmsJob {
        to: "m:13800138000".into(),
        notice: subsidy_core::notify::Notice {
            id: "0000000000001-A.1.area_awaiting_confirmation".into(),
            kind: subsidy_core::notify::NoticeKind::AreaAwaitingConfirmation,
            application_id: Some("A".into()),
            version: Some(1),
            params: Default::default(),
            at: chrono::Utc::now(),
            read_at: None,
        },
        failures: 2,
    };
    let wait = chrono::Duration::seconds(3);
    let soon = || subsidy_core::ports::Clock::now(app.clock.as_ref()) + wait;
    let after = || tokio::time::sleep(std::time::Duration::from_millis(3_500));

    subsidy_tests::metering::as_function("DispatchFunction", a.sms_jobs.resend(&job, soon())).await.unwrap();
    assert!(a.receive_from("SmsQueue").await.is_none(), "delayed");
    after().await;
    let (event, handles) = a.receive_from("SmsQueue").await.expect("there after its delay");
    let body = event["Records"][0]["body"].as_str().unwrap();
    assert_eq!(serde_json::from_str::<SmsJob>(body).unwrap(), job, "with its failures counted");

    let receipt = &handles[0].1;
    subsidy_tests::metering::as_function("DispatchFunction", a.sms_jobs.hold(&job, receipt, soon())).await.unwrap();
    assert!(a.receive_from("SmsQueue").await.is_none(), "held");
    after().await;
    let (_, again) = a.receive_from("SmsQueue").await.expect("back when its visibility ran out");
    assert_eq!(again.len(), 1);
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

#[tokio::test]
#[ignore = "needs the AWS emulator; make test runs it through scripts/with-moto.sh"]
async fn counters_from_the_dynamodb_stream_equal_the_recount_however_records_are_delivered() {
    let app = TestApp::spawn_aws().await;
    let a = app.login("company-a").await;
    let b = app.login("company-b").await;
    let (pm_a, pm_b) = (app.login("pm-a").await, app.login("pm-b").await);
    for (user, community, n) in [(&a, "440304001023", 3), (&b, "440307009002", 2)] {
        for i in 0..n {
            let (manager, phone) = if std::ptr::eq(user, &a) {
                ("王项目经理", "13800138001")
            } else {
                ("陈项目经理", "13800138002")
            };
            user.post(
                "/api/v1/projects",
                json!({"name": format!("属性项目{i}"), "address": "测试路", "community": community, "managedArea": format!("{}.25", 100 + i),
                       "managerName": manager, "managerPhone": phone}),
            )
            .await
            .ok();
        }
    }
    // Every project gets an application that moves along a random path.
    let mut rng: u64 = 0x5eed_cafe;
    let mut next = |n: u64| {
        rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (rng >> 33) % n
    };
    let mut ids = Vec::new();
    for (user, pm) in [(&a, &pm_a), (&b, &pm_b)] {
        let projects = user.get("/api/v1/projects?limit=100").await.ok();
        for p in projects["items"].as_array().unwrap() {
            let id = user.post("/api/v1/applications", json!({"projectId": p["id"]})).await.ok()["id"]
                .as_str()
                .unwrap()
                .to_string();
            ids.push(id.clone());
            if next(5) == 0 {
                continue; // stays a draft
            }
            user.upload_required(&id).await;
            user.act(&id, "/api/v1/applications/{id}/submit", json!({})).await.ok();
            if next(4) == 0 {
                continue;
            }
            pm.act(&id, "/api/v1/applications/{id}/confirm-area", json!({})).await.ok();
        }
    }
    let reviewers =
        [("community-nanyuan", "community"), ("community-nanhua", "community"), ("community-kuichong", "community")];
    for id in &ids {
        for (user, tier) in reviewers {
            let r = app.login(user).await;
            let action = ["approve", "return", "reject", "approve"][next(4) as usize];
            let body = if action == "approve" { json!({}) } else { json!({"reason": "属性测试"}) };
            let _ = r.act(id, &format!("/api/v1/review/{tier}/applications/{{id}}/{action}"), body).await;
        }
    }

    // The stream, delivered as Lambda delivers it: in order, in batches of
    // random size, a batch sometimes retried from its first record, and
    // sometimes retried with more records than the first try held.
    let mut records: Vec<serde_json::Value> = Vec::new();
    for batch in app.aws().stream_batches().await {
        records.extend(batch["Records"].as_array().unwrap().iter().cloned());
    }
    assert!(records.len() > 40, "{} records", records.len());
    let deliver = |batch: &[serde_json::Value]| {
        let event = serde_json::from_value(json!({ "Records": batch })).unwrap();
        aggregation::handle_stream(&app.services.stats, event)
    };
    let mut at = 0;
    let mut retried = 0;
    while at < records.len() {
        let n = 1 + next(records.len().min(25) as u64) as usize;
        let n = n.min(records.len() - at);
        for _ in 0..(1 + usize::from(next(4) == 0)) {
            let response = deliver(&records[at..at + n]).await;
            assert!(response.batch_item_failures.is_empty(), "{response:?}");
        }
        if next(4) == 0 {
            let more = (next(6) as usize).min(records.len() - at - n);
            let response = deliver(&records[at..at + n + more]).await;
            assert!(response.batch_item_failures.is_empty(), "{response:?}");
            at += more;
            retried += 1;
        }
        at += n;
    }
    assert!(retried > 0);

    let policy = app.services.ports.policy_id.clone();
    let stored = app.services.ports.stats.all_units(&policy).await.unwrap();
    let mut apps = Vec::new();
    for id in &ids {
        apps.push(app.services.ports.applications.get_application(id).await.unwrap().unwrap());
    }
    let d = subsidy_core::stats::drift(&policy, &stored, &subsidy_core::stats::Recount::of_applications(&apps));
    assert!(d.is_empty(), "{d:?}");
    let city = subsidy_core::stats::UnitKey::new(&policy, "440300");
    let totals = app.services.ports.stats.unit_totals(std::slice::from_ref(&city)).await.unwrap()[&city].totals.clone();
    assert!(totals.get(subsidy_core::stats::Counter::Projects) > 0);
    app.aws().stop();
}

/// The web client sends an `Idempotency-Key` with every mutation, so every
/// function that takes one keeps its key on DynamoDB (a conditional put,
/// then an update with the response): each function's mutation, keyed and
/// retried, is replayed, not done twice. (Also what the least-privilege
/// check needs to see each function do.)
#[tokio::test]
#[ignore = "needs the AWS emulator; make test runs it through scripts/with-moto.sh"]
async fn every_function_that_takes_mutations_replays_a_keyed_retry_on_dynamodb() {
    let app = TestApp::spawn_aws().await;
    let keyed_twice = |reply_1: &Reply, reply_2: &Reply, what: &str| {
        assert!(reply_1.status.is_success(), "{what}: {}", reply_1.body);
        assert_eq!((reply_2.status, &reply_2.body), (reply_1.status, &reply_1.body), "{what}: the first response");
        assert_eq!(reply_2.headers.get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"), "{what}");
    };
    let company = app.login("company-a").await;
    let project = company.project_id("南园花园").await;
    let body = json!({"projectId": project});
    let first = company.post_with_key("/api/v1/applications", body.clone(), "create-1").await;
    let again = company.post_with_key("/api/v1/applications", body, "create-1").await;
    keyed_twice(&first, &again, "submission");
    let id = first.body["id"].as_str().unwrap().to_string();
    company.upload_required(&id).await;
    company.act(&id, "/api/v1/applications/{id}/submit", json!({})).await.ok();
    app.login("pm-a").await.act(&id, "/api/v1/applications/{id}/confirm-area", json!({})).await.ok();
    for (user, tier) in
        [("community-nanyuan", "community"), ("subdistrict-nanyuan", "subdistrict"), ("district-futian", "district")]
    {
        app.drain().await;
        let reviewer = app.login(user).await;
        let body = json!({"version": reviewer.app_version(&id).await});
        let path = format!("/api/v1/review/{tier}/applications/{id}/approve");
        let first = reviewer.post_with_key(&path, body.clone(), &format!("approve-{tier}")).await;
        let again = reviewer.post_with_key(&path, body, &format!("approve-{tier}")).await;
        keyed_twice(&first, &again, tier);
    }
    app.drain().await;
    let finance = app.login("finance-futian").await;
    let first = finance.post_with_key("/api/v1/batches", json!({"note": "keyed"}), "batch-1").await;
    let again = finance.post_with_key("/api/v1/batches", json!({"note": "keyed"}), "batch-1").await;
    keyed_twice(&first, &again, "disbursement");
    assert_eq!(finance.get("/api/v1/batches").await.ok()["items"].as_array().unwrap().len(), 1, "one batch");
    app.aws().stop();
}

/// A rejection frees the project's claim (a delete inside the rejecting
/// transaction) at whichever tier it happens: each tier's function rejects
/// one application on DynamoDB, and the project can be applied for again.
#[tokio::test]
#[ignore = "needs the AWS emulator; make test runs it through scripts/with-moto.sh"]
async fn every_tier_can_reject_and_the_projects_claim_is_freed() {
    let app = TestApp::spawn_aws().await;
    let (company, pm) = (app.login("company-a").await, app.login("pm-a").await);
    let tiers =
        [("community-nanyuan", "community"), ("subdistrict-nanyuan", "subdistrict"), ("district-futian", "district")];
    for (depth, (rejecter, tier)) in tiers.iter().enumerate() {
        let (project, id) = submitted_for_new_project(&company, &pm, &format!("驳回{tier}"), "1200.00").await;
        for (approver, lower) in &tiers[..depth] {
            app.drain().await;
            app.login(approver)
                .await
                .act(&id, &format!("/api/v1/review/{lower}/applications/{{id}}/approve"), json!({}))
                .await
                .ok();
        }
        app.drain().await;
        let rejected = app
            .login(rejecter)
            .await
            .act(&id, &format!("/api/v1/review/{tier}/applications/{{id}}/reject"), json!({"reason": "不符合条件"}))
            .await
            .ok();
        assert_eq!(rejected["state"], "rejected", "{tier}");
        let again = company.post("/api/v1/applications", json!({"projectId": project["id"]})).await;
        assert_eq!(again.status, 201, "{tier}: the claim is free again: {}", again.body);
    }
    app.aws().stop();
}
