//! Tamper evidence: altering, deleting or reordering any stored audit entry
//! of any chain (an application's, a company's, a payment batch's) is found
//! by the verification `subsidy audit-verify` runs, and an untouched store
//! verifies. Standalone: the attacks are raw SQL on the SQLite file, as
//! someone with the server's disk would make them.

use serde_json::json;
use subsidy_tests::*;

/// A store with every kind of chain: two approved applications, a company
/// registered and then edited, and a released batch. Returns the subjects.
async fn store_with_chains() -> (TestApp, [String; 3]) {
    let app = TestApp::spawn_standalone().await;
    let ids = approved_applications(&app, 2).await;
    let token = app.keys.sign(
        &json!({"sub": "tamper-owner", "role": "company", "name": "经办人"}),
        chrono::Utc::now().timestamp(),
        600,
    );
    let company = app.with_token(&token);
    let mut profile = json!({"creditCode": "91440300MA5D9C1T4B", "name": "防篡改物业有限公司",
        "legalRepresentative": "法人", "contactName": "经办人", "contactPhone": "13800138000",
        "bankAccount": {"bankName": "中国银行", "accountName": "防篡改物业有限公司", "accountNumber": "6217000012345678"}});
    let me = company.put("/api/v1/company", profile.clone()).await.ok();
    profile["contactName"] = "新经办人".into();
    profile["version"] = me["version"].clone();
    company.put("/api/v1/company", profile).await.ok();
    let finance = app.login("finance-futian").await;
    let batch = finance.post("/api/v1/batches", json!({"note": "防篡改"})).await.ok();
    let checker = app.login("finance-futian-2").await;
    checker
        .post(
            &format!("/api/v1/batches/{}/release", batch["id"].as_str().unwrap()),
            json!({"version": batch["version"]}),
        )
        .await
        .ok();
    let subjects = [
        ids[0].clone(),
        format!("company:{}", me["id"].as_str().unwrap()),
        format!("batch:{}", batch["id"].as_str().unwrap()),
    ];
    (app, subjects)
}

/// The SQL statements of one attack on the chain of a subject.
type Attack = fn(&str) -> Vec<String>;

async fn sql(app: &TestApp, statement: String) {
    let changed = app.sqlite().execute_raw(&statement).await.expect("raw SQL");
    assert!(changed > 0, "the attack changed nothing: {statement}");
}

#[tokio::test]
async fn an_untouched_store_verifies_every_kind_of_chain() {
    let (app, _) = store_with_chains().await;
    let report = app.services.audit.verify_audit(|_| {}).await.unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert!(report.applications >= 2 && report.companies >= 1 && report.batches == 1, "{report:?}");
    assert!(report.other_entries >= 3, "company and batch entries were walked: {report:?}");
}

#[tokio::test]
async fn every_attack_on_every_chain_is_detected() {
    let attacks: [(&str, Attack); 5] = [
        ("alter what was done", |s| {
            vec![format!(
                "UPDATE audit SET body = record_pack(json_set(record_json(body), '$.action', 'approve')) WHERE application_id = '{s}' AND seq = 1"
            )]
        }),
        ("alter who acted", |s| {
            vec![format!(
                "UPDATE audit SET body = record_pack(json_set(record_json(body), '$.actorId', 'someone-else')) WHERE application_id = '{s}' AND seq = 1"
            )]
        }),
        ("delete the first entry", |s| vec![format!("DELETE FROM audit WHERE application_id = '{s}' AND seq = 1")]),
        ("delete the last entry", |s| {
            vec![format!(
                "DELETE FROM audit WHERE application_id = '{s}' AND seq = (SELECT MAX(seq) FROM audit WHERE application_id = '{s}')"
            )]
        }),
        ("swap two entries", |s| {
            vec![
                format!("UPDATE audit SET seq = -1 WHERE application_id = '{s}' AND seq = 1"),
                format!("UPDATE audit SET seq = 1 WHERE application_id = '{s}' AND seq = 2"),
                format!("UPDATE audit SET seq = 2 WHERE application_id = '{s}' AND seq = -1"),
            ]
        }),
    ];
    let mut detected = 0;
    for kind in 0..3 {
        for (name, attack) in &attacks {
            let (app, subjects) = store_with_chains().await;
            let subject = &subjects[kind];
            for statement in attack(subject) {
                sql(&app, statement).await;
            }
            let report = app.services.audit.verify_audit(|_| {}).await.unwrap();
            assert_eq!(report.failures.len(), 1, "{name} on {subject}: {:?}", report.failures);
            assert!(report.failures[0].to_string().starts_with(subject.as_str()), "{name}: {}", report.failures[0]);
            detected += 1;
        }
    }
    assert_eq!(detected, 15);
}

/// The attacker with the database but not the key: rewrites an entry,
/// recomputes every link after it (with the unkeyed SHA-256 the chains once
/// used, or with a key of their own) and the head in the application's
/// record, so that every hash agrees with the next. audit-verify still
/// fails, on the rewritten entry.
#[tokio::test]
async fn a_rewritten_chain_with_every_hash_recomputed_is_still_detected() {
    use subsidy_core::audit::{AuditEntry, AuditKey};
    let (app, subjects) = store_with_chains().await;
    let id = &subjects[0];
    let original = app.services.ports.applications.audit_trail(id).await.unwrap();
    assert!(original.len() >= 4, "{}", original.len());
    type Forge = Box<dyn Fn(&AuditEntry) -> String>;
    let forgers: [(&str, Forge); 2] = [
        (
            "a key of the attacker's",
            Box::new(|e: &AuditEntry| e.compute_hash(&AuditKey::from_bytes(&[9u8; 32]).unwrap())),
        ),
        (
            "plain SHA-256",
            Box::new(|e: &AuditEntry| {
                use sha2::Digest;
                let mut unhashed = e.clone();
                unhashed.hash = String::new();
                hex::encode(sha2::Sha256::digest(serde_json::to_vec(&unhashed).unwrap()))
            }),
        ),
    ];
    for (how, forge) in &forgers {
        let mut chain = original.clone();
        // The district's approval becomes a smaller amount's, say.
        chain[1].comment = Some("改写的审核意见".into());
        let mut prev = chain[0].hash.clone();
        for e in chain.iter_mut().skip(1) {
            e.prev_hash = prev.clone();
            e.hash = forge(e);
            prev = e.hash.clone();
        }
        for e in &chain {
            let body = serde_json::to_string(e).unwrap().replace('\'', "''");
            sql(
                &app,
                format!(
                    "UPDATE audit SET body = record_pack('{body}') WHERE application_id = '{id}' AND seq = {}",
                    e.seq
                ),
            )
            .await;
        }
        sql(&app, format!(
            "UPDATE applications SET body = record_pack(json_set(record_json(body), '$.auditHead', '{prev}')) WHERE id = '{id}'"
        ))
            .await;
        let report = app.services.audit.verify_audit(|_| {}).await.unwrap();
        assert_eq!(report.failures.len(), 1, "{how}: {:?}", report.failures);
        assert_eq!(
            report.failures[0],
            subsidy_core::audit::ChainError::Altered { subject: id.clone(), seq: 2 },
            "{how}: the first rewritten entry is named"
        );
    }
}
