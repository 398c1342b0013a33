//! Documents that cannot be swapped, on the backend this run targets: an
//! upload URL stores bytes once, the bytes a check read are the only ones
//! ever served, and upload, check and delete are entries of the trail.

use serde_json::{Value, json};
use subsidy_tests::*;

/// A draft of 南园花园 and an upload ticket for its service contract.
async fn ticket(app: &TestApp) -> (String, Value) {
    let company = app.login("company-a").await;
    let id = company.create_application("南园花园").await["id"].as_str().unwrap().to_string();
    let t = company
        .post(
            &format!("/api/v1/applications/{id}/documents"),
            json!({"kind": "service_contract", "fileName": "合同.pdf", "contentType": "application/pdf", "size": PDF.len()}),
        )
        .await
        .ok();
    (id, t)
}

async fn download(app: &TestApp, user: &User<'_>, id: &str, doc: &str) -> Vec<u8> {
    let link = user.get(&format!("/api/v1/applications/{id}/documents/{doc}")).await.ok();
    let url = link["download"]["url"].as_str().or(link["url"].as_str()).unwrap_or_else(|| panic!("{link}"));
    app.client.get(url).send().await.unwrap().bytes().await.unwrap().to_vec()
}

/// The same length as [`PDF`], another content: what a swap would send.
fn other_pdf() -> Vec<u8> {
    let mut b = PDF.to_vec();
    let n = b.len();
    b[n - 8..n - 6].copy_from_slice(b"XX");
    b
}

#[tokio::test]
async fn an_upload_url_stores_bytes_once() {
    let app = TestApp::spawn().await;
    let (id, t) = ticket(&app).await;
    let doc = t["document"]["id"].as_str().unwrap().to_string();
    app.presigned(&t["upload"], PDF).await.ok();
    app.drain().await;
    let company = app.login("company-a").await;
    assert_eq!(company.application(&id).await["documents"][0]["status"], "verified");
    // The same URL again, within its 15 minutes, with other bytes.
    let again = app.presigned(&t["upload"], &other_pdf()).await;
    assert!(matches!(again.status.as_u16(), 409 | 412), "a second PUT was accepted: {} {}", again.status, again.body);
    app.drain().await;
    assert_eq!(download(&app, &company, &id, &doc).await, PDF, "the first bytes stand");
    let reviewer_sees = company.application(&id).await;
    assert_eq!(reviewer_sees["documents"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn bytes_written_under_the_key_after_the_check_are_never_served() {
    let app = TestApp::spawn().await;
    let (id, t) = ticket(&app).await;
    let doc = t["document"]["id"].as_str().unwrap().to_string();
    app.presigned(&t["upload"], PDF).await.ok();
    app.drain().await;
    // Someone with write access to the store puts other bytes under the key
    // (S3 keeps them as a new version; on disk the file is replaced).
    let key = subsidy_core::documents::storage_key(&id, &doc);
    match &app.backend {
        Backend::Standalone { .. } => std::fs::write(app.data_dir().join("blobs").join(&key), other_pdf()).unwrap(),
        Backend::Aws(a) => {
            subsidy_infra::aws::s3_client(&a.sdk)
                .put_object()
                .bucket(&a.resources.bucket)
                .key(&key)
                .body(other_pdf().into())
                .send()
                .await
                .unwrap();
        }
    }
    app.drain().await;
    for who in ["company-a", "community-nanyuan"] {
        let user = app.login(who).await;
        if who != "company-a" {
            let company = app.login("company-a").await;
            company.upload(&id, "area_proof", "image/png", PNG).await.ok();
            company.act(&id, "/api/v1/applications/{id}/submit", json!({})).await.ok();
            app.login("pm-a").await.act(&id, "/api/v1/applications/{id}/confirm-area", json!({})).await.ok();
        }
        assert_eq!(download(&app, &user, &id, &doc).await, PDF, "{who} is served the checked bytes");
    }
    let trail = app.login("company-a").await.get(&format!("/api/v1/applications/{id}/timeline")).await.ok();
    let check = trail.as_array().unwrap().iter().find(|e| e["action"] == "check_document").unwrap().clone();
    assert!(check["comment"].as_str().unwrap().contains("内容已核验"), "the checked version is on the trail: {check}");
}

#[tokio::test]
async fn upload_check_and_delete_are_on_the_trail_even_after_a_return() {
    let app = TestApp::spawn().await;
    let id = submitted_and_confirmed(&app).await;
    let company = app.login("company-a").await;
    let community = app.login("community-nanyuan").await;
    community.act(&id, "/api/v1/review/community/applications/{id}/return", json!({"reason": "合同不清晰"})).await.ok();
    let docs = company.application(&id).await["documents"].clone();
    let contract = docs.as_array().unwrap().iter().find(|d| d["kind"] == "service_contract").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The company removes the contract reviewers saw, and uploads another.
    company.delete(&format!("/api/v1/applications/{id}/documents/{contract}")).await.ok();
    company.upload(&id, "service_contract", "application/pdf", PDF).await.ok();
    app.drain().await;
    let seen = company.application(&id).await;
    assert!(!seen["documents"].to_string().contains(&contract), "removed from the application: {seen}");
    assert_eq!(company.get(&format!("/api/v1/applications/{id}/documents/{contract}")).await.status.as_u16(), 404);

    let trail = community.get(&format!("/api/v1/applications/{id}/timeline")).await.ok();
    let of = |subject_has: &str| -> Vec<String> {
        trail
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["subject"].as_str().unwrap().contains(subject_has))
            .map(|e| format!("{} by {}", e["action"].as_str().unwrap(), e["actorId"].as_str().unwrap()))
            .collect()
    };
    assert_eq!(
        of(&contract),
        ["upload_document by demo-company-a", "check_document by system", "delete_document by demo-company-a"],
        "the reviewer sees the removed contract's whole story"
    );
    let uploads = trail.as_array().unwrap().iter().filter(|e| e["action"] == "upload_document").count();
    assert_eq!(uploads, 3, "two at first, one after the return");
    // The record and its chain are kept, and verify.
    let kept = app.services.ports.documents.get_document(&id, &contract).await.unwrap().expect("kept");
    assert_eq!(kept.status, subsidy_core::documents::DocumentStatus::Deleted);
    let report = app.services.audit.verify_audit(|_| {}).await.unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert!(report.documents >= 3);
    // Deleting it again is not found, and nothing is added to the trail.
    company.delete(&format!("/api/v1/applications/{id}/documents/{contract}")).await.expect(404, "not_found");
    let again = community.get(&format!("/api/v1/applications/{id}/timeline")).await.ok();
    assert_eq!(again.as_array().unwrap().len(), trail.as_array().unwrap().len());
}
