//! Daily anchors of the audit chains, on both backends: what someone who
//! can write the database *and* holds the audit key can still change, and
//! how the anchors catch it.
//!
//! The attacks here are made with the real key (`services.audit_key`), so
//! that every MAC of a rewritten chain is right and only the anchors,
//! written where the database's writer cannot reach (an Object Lock bucket,
//! an append-only file), tell the rewrite apart.

use std::collections::HashSet;

use serde_json::json;
use subsidy_core::audit::anchor::Anchor;
use subsidy_core::audit::{AuditEntry, ChainError};
use subsidy_tests::*;

/// A store with applications (with documents), a company, a released batch
/// and the demo staff, all stamped an hour before the clock is moved on, so
/// that the first anchor's cutoff is after every entry.
async fn store_with_chains() -> (TestApp, Vec<String>) {
    let app = TestApp::spawn().await;
    let ids = approved_applications(&app, 2).await;
    let finance = app.login("finance-futian").await;
    let batch = finance.post("/api/v1/batches", json!({"note": "锚定"})).await.ok();
    let checker = app.login("finance-futian-2").await;
    checker
        .post(
            &format!("/api/v1/batches/{}/release", batch["id"].as_str().unwrap()),
            json!({"version": batch["version"]}),
        )
        .await
        .ok();
    app.clock.advance(chrono::Duration::hours(1));
    (app, ids)
}

/// Writes an audit entry as it is stored, over whatever is there: raw SQL on
/// the SQLite file, a raw PutItem on the table.
async fn put_entry(app: &TestApp, e: &AuditEntry) {
    let body = serde_json::to_string(e).unwrap();
    if aws_backend() {
        let stack = app.aws();
        stack
            .clients
            .dynamo
            .put_item()
            .table_name(&stack.resources.table)
            .set_item(Some(subsidy_infra::aws::dynamo::audit_item(e).unwrap()))
            .send()
            .await
            .expect("raw put");
    } else {
        let sql = format!(
            "INSERT OR REPLACE INTO audit (application_id, seq, body) VALUES ('{}', {}, '{}')",
            e.subject,
            e.seq,
            body.replace('\'', "''")
        );
        assert_eq!(app.sqlite().execute_raw(&sql).await.unwrap(), 1);
    }
}

/// Sets an application record's chain head, as a rewrite must to pass the
/// record check.
async fn set_head(app: &TestApp, id: &str, seq: u64, hash: &str) {
    if aws_backend() {
        use aws_sdk_dynamodb::types::AttributeValue;
        let stack = app.aws();
        let client = &stack.clients.dynamo;
        let key = [
            ("pk".to_string(), AttributeValue::S(subsidy_infra::aws::dynamo::app_pk(id))),
            ("sk".to_string(), AttributeValue::S("APP".into())),
        ];
        let got = client
            .get_item()
            .table_name(&stack.resources.table)
            .set_key(Some(key.into_iter().collect()))
            .send()
            .await
            .unwrap();
        let mut item = got.item.expect("the application item");
        let stored = subsidy_infra::compact::json_of(item["body"].as_b().unwrap().as_ref()).unwrap();
        let mut body: serde_json::Value = serde_json::from_slice(&stored).unwrap();
        body["auditSeq"] = seq.into();
        body["auditHead"] = hash.into();
        let packed = subsidy_infra::compact::deflate(body.to_string().as_bytes());
        item.insert("body".into(), AttributeValue::B(packed.into()));
        client.put_item().table_name(&stack.resources.table).set_item(Some(item)).send().await.unwrap();
    } else {
        let sql = format!(
            "UPDATE applications SET body = record_pack(json_set(record_json(body), '$.auditSeq', {seq}, '$.auditHead', '{hash}')) \
             WHERE id = '{id}'"
        );
        assert_eq!(app.sqlite().execute_raw(&sql).await.unwrap(), 1);
    }
}

/// Deletes an application's record and chain.
async fn delete_application(app: &TestApp, id: &str) {
    if aws_backend() {
        use aws_sdk_dynamodb::types::AttributeValue;
        let stack = app.aws();
        let client = &stack.clients.dynamo;
        let trail = app.services.ports.applications.audit_trail(id).await.unwrap();
        let sks = std::iter::once("APP".to_string()).chain(trail.iter().map(|e| format!("AUDIT#{:010}", e.seq)));
        for sk in sks {
            client
                .delete_item()
                .table_name(&stack.resources.table)
                .key("pk", AttributeValue::S(subsidy_infra::aws::dynamo::app_pk(id)))
                .key("sk", AttributeValue::S(sk))
                .send()
                .await
                .unwrap();
        }
    } else {
        for sql in [
            format!("DELETE FROM applications WHERE id = '{id}'"),
            format!("DELETE FROM audit WHERE application_id = '{id}'"),
        ] {
            assert!(app.sqlite().execute_raw(&sql).await.unwrap() > 0);
        }
    }
}

/// Rewrites a chain from entry 2 on with the real key, as an attacker who
/// holds it would, and sets the record's head: every MAC agrees.
async fn rewrite_with_the_key(app: &TestApp, id: &str) {
    let mut chain = app.services.ports.applications.audit_trail(id).await.unwrap();
    assert!(chain.len() >= 3, "{}", chain.len());
    chain[1].comment = Some("改写的审核意见".into());
    let mut prev = chain[0].hash.clone();
    for e in chain.iter_mut().skip(1) {
        e.prev_hash = prev.clone();
        e.hash = e.compute_hash(app.services.ports.audit_key.get().await.unwrap());
        prev = e.hash.clone();
    }
    for e in &chain {
        put_entry(app, e).await;
    }
    set_head(app, id, chain.len() as u64, &prev).await;
    // Without anchors, this rewrite would pass: the chain itself verifies.
    let stored = app.services.ports.applications.audit_trail(id).await.unwrap();
    let head = stored.last().unwrap();
    assert_eq!(
        subsidy_core::audit::verify_chain(
            app.services.ports.audit_key.get().await.unwrap(),
            id,
            &stored,
            head.seq,
            &head.hash
        ),
        Ok(())
    );
}

#[tokio::test]
async fn the_anchor_holds_every_chain_and_then_only_those_that_grew() {
    let (app, ids) = store_with_chains().await;
    let first = app.services.audit.anchor_audit().await.unwrap();
    assert_eq!(first.anchor, Some(1));
    let report = app.services.audit.verify_audit(|_| {}).await.unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!((report.anchors, report.anchored_until), (1, first.cutoff));
    // One head per chain audit-verify walks: every kind of chain is anchored.
    let chains = report.applications + report.documents + report.companies + report.batches + report.staff;
    assert_eq!(first.heads as u64, chains, "{report:?}");
    let anchor = app.services.ports.anchors.last().await.unwrap().unwrap();
    let prefixes: HashSet<&str> =
        anchor.heads.iter().map(|h| h.subject.split(':').next().unwrap()).filter(|p| p.len() < 12).collect();
    for kind in ["document", "company", "batch", "staff"] {
        assert!(prefixes.contains(kind), "{kind} chains anchored: {prefixes:?}");
    }

    // Run again at once: nothing is due, nothing is written.
    let again = app.services.audit.anchor_audit().await.unwrap();
    assert_eq!(again.anchor, None);
    assert_eq!(app.services.ports.anchors.all().await.unwrap().len(), 1);

    // A day later, after one new application went through review: the
    // next anchor holds the chains that grew, and not the others.
    app.clock.advance(chrono::Duration::hours(23));
    let company = app.login("company-a").await;
    let fresh = approved_projects(&app, &company, &["锚定次日项目".to_string()]).await.remove(0);
    app.clock.advance(chrono::Duration::hours(1));
    let second = app.services.audit.anchor_audit().await.unwrap();
    assert_eq!(second.anchor, Some(2));
    let anchor = app.services.ports.anchors.last().await.unwrap().unwrap();
    let subjects: HashSet<String> = anchor.heads.iter().map(|h| h.subject.clone()).collect();
    assert!(subjects.contains(&fresh), "{subjects:?}");
    assert!(subjects.iter().any(|s| s.starts_with(&format!("document:{fresh}:"))), "its documents: {subjects:?}");
    for untouched in &ids {
        assert!(!subjects.contains(untouched), "{untouched} did not change: {subjects:?}");
    }
    assert!(anchor.heads.len() < first.heads, "{} of {}", anchor.heads.len(), first.heads);
    assert_eq!(anchor.since, first.cutoff);
    let report = app.services.audit.verify_audit(|_| {}).await.unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.anchors, 2);
}

#[tokio::test]
async fn a_chain_rewritten_with_the_key_is_found_by_its_anchor() {
    let (app, ids) = store_with_chains().await;
    app.services.audit.anchor_audit().await.unwrap();
    let anchored = app.services.ports.applications.audit_trail(&ids[0]).await.unwrap().len() as u64;
    rewrite_with_the_key(&app, &ids[0]).await;
    let report = app.services.audit.verify_audit(|_| {}).await.unwrap();
    assert_eq!(report.failures, vec![ChainError::AnchorMismatch { subject: ids[0].clone(), seq: anchored, anchor: 1 }]);
}

#[tokio::test]
async fn an_entry_slipped_in_with_an_old_stamp_is_found() {
    let (app, ids) = store_with_chains().await;
    app.services.audit.anchor_audit().await.unwrap();
    // A day on, the attacker appends an entry stamped before the anchor,
    // as if it had always been there.
    app.clock.advance(chrono::Duration::days(1));
    let trail = app.services.ports.applications.audit_trail(&ids[1]).await.unwrap();
    let last = trail.last().unwrap();
    let reviewer = subsidy_core::identity::Actor::system();
    let forged = AuditEntry::next(
        app.services.ports.audit_key.get().await.unwrap(),
        &ids[1],
        last.seq + 1,
        &last.hash,
        last.at,
        &reviewer,
        "return",
        Some("approved"),
        "returned",
        Some("补记".into()),
    );
    put_entry(&app, &forged).await;
    set_head(&app, &ids[1], forged.seq, &forged.hash).await;
    let report = app.services.audit.verify_audit(|_| {}).await.unwrap();
    assert_eq!(report.failures, vec![ChainError::Unanchored { subject: ids[1].clone(), seq: forged.seq }]);
}

#[tokio::test]
async fn an_application_deleted_whole_is_found() {
    let (app, ids) = store_with_chains().await;
    app.services.audit.anchor_audit().await.unwrap();
    delete_application(&app, &ids[0]).await;
    let report = app.services.audit.verify_audit(|_| {}).await.unwrap();
    assert!(report.failures.contains(&ChainError::Vanished { subject: ids[0].clone() }), "{:?}", report.failures);
    // Its documents' chains are gone from the walk too; nothing else fails.
    for f in &report.failures {
        match f {
            ChainError::Vanished { subject } => {
                assert!(subject == &ids[0] || subject.starts_with(&format!("document:{}:", ids[0])), "{subject}")
            }
            other => panic!("only the deleted application's chains: {other}"),
        }
    }
}

#[tokio::test]
async fn an_anchor_cannot_be_rewritten_where_it_is_kept() {
    let (app, ids) = store_with_chains().await;
    app.services.audit.anchor_audit().await.unwrap();
    let original = app.services.ports.anchors.last().await.unwrap().unwrap();
    // The attacker rewrites a chain, then an anchor to match it: a new
    // anchor 1 with the new head, digest and MAC right (they hold the key).
    rewrite_with_the_key(&app, &ids[0]).await;
    let mut heads = Vec::new();
    for h in &original.heads {
        if h.subject == ids[0] {
            let trail = app.services.ports.applications.audit_trail(&ids[0]).await.unwrap();
            heads.push(subsidy_core::audit::anchor::ChainHead::of(&trail[h.seq as usize - 1]));
        } else {
            heads.push(h.clone());
        }
    }
    let forged = Anchor::next(app.services.ports.audit_key.get().await.unwrap(), None, original.written_at, heads);
    assert_ne!(forged.digest, original.digest);
    if aws_backend() {
        let stack = app.aws();
        let s3 = &stack.clients.s3;
        let bucket = &stack.resources.anchor_bucket;
        let key = subsidy_infra::aws::anchors::anchor_key(1);
        // The function's own conditional put refuses the number.
        assert_eq!(app.services.ports.anchors.append(&forged).await, Err(subsidy_core::StoreError::AlreadyExists));
        // An unconditional PUT only adds a version; the first stays.
        s3.put_object()
            .bucket(bucket)
            .key(&key)
            .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
            .body(serde_json::to_vec(&forged).unwrap().into())
            .send()
            .await
            .expect("a second version is written");
        // And no version can be deleted: compliance mode.
        let versions = s3.list_object_versions().bucket(bucket).prefix(&key).send().await.unwrap();
        assert_eq!(versions.versions().len(), 2);
        for v in versions.versions() {
            let deleted = s3.delete_object().bucket(bucket).key(&key).version_id(v.version_id().unwrap()).send().await;
            let code = deleted.as_ref().err().and_then(|e| e.as_service_error()).and_then(|e| e.meta().code());
            assert_eq!(code, Some("AccessDenied"), "a locked version was deleted: {deleted:?}");
        }
    } else {
        // Standalone, the file is only appended to: the forged anchor 1 goes
        // after the real one, which stays first.
        assert_eq!(app.services.ports.anchors.append(&forged).await, Err(subsidy_core::StoreError::AlreadyExists));
        let path = app.data_dir().join("audit-anchors.jsonl");
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        std::io::Write::write_all(&mut f, format!("{}\n", serde_json::to_string(&forged).unwrap()).as_bytes()).unwrap();
    }
    let report = app.services.audit.verify_audit(|_| {}).await.unwrap();
    assert!(
        report.failures.contains(&ChainError::AnchorMismatch {
            subject: ids[0].clone(),
            seq: original.heads.iter().find(|h| h.subject == ids[0]).unwrap().seq,
            anchor: 1
        }),
        "{:?}",
        report.failures
    );
    assert!(
        report
            .failures
            .iter()
            .any(|f| matches!(f, ChainError::AnchorBroken { anchor: 1, reason } if reason.contains("twice"))),
        "{:?}",
        report.failures
    );
}

/// On AWS there is no shell on the database's host: the operator invokes the
/// aggregation function with `{"job": "audit-anchor"}` or
/// `{"job": "audit-verify"}`. The same jobs, on both backends; a broken
/// chain fails the invocation and names the chain.
#[tokio::test]
async fn the_operator_jobs_anchor_and_verify() {
    let (app, ids) = store_with_chains().await;
    let anchored = subsidy_tests::metering::as_function(
        "AggregationFunction",
        aggregation::job(&app.services.audit, "audit-anchor"),
    )
    .await
    .unwrap();
    assert_eq!(anchored["anchor"], 1);
    let report = subsidy_tests::metering::as_function(
        "AggregationFunction",
        aggregation::job(&app.services.audit, "audit-verify"),
    )
    .await
    .unwrap();
    assert_eq!((report["anchors"].as_u64(), report["failures"].as_array().map(Vec::len)), (Some(1), Some(0)));
    assert!(report["applications"].as_u64().unwrap() >= 2, "{report}");

    rewrite_with_the_key(&app, &ids[0]).await;
    let broken = subsidy_tests::metering::as_function(
        "AggregationFunction",
        aggregation::job(&app.services.audit, "audit-verify"),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(broken.contains(&ids[0]) && broken.contains("anchor 1"), "{broken}");
    let unknown = subsidy_tests::metering::as_function(
        "AggregationFunction",
        aggregation::job(&app.services.audit, "drop-table"),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(unknown.contains("unknown job"), "{unknown}");
}
