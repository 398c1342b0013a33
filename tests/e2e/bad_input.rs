//! Bad input: each gets a 4xx that names the field, and nothing is stored.

use serde_json::{Value, json};
use subsidy_tests::*;

fn profile() -> Value {
    let code = subsidy_core::company::credit_code::CreditCode::with_check_character("91440300MA5D00088").unwrap();
    json!({
        "creditCode": code.as_str(), "name": "深圳市测试物业有限公司", "legalRepresentative": "吴测",
        "contactName": "吴测", "contactPhone": "13900139088",
        "bankAccount": {"bankName": "招商银行", "accountName": "深圳市测试物业有限公司", "accountNumber": "755912345678"}
    })
}

fn project() -> Value {
    json!({"name": "测试花园", "address": "南园路 1 号", "community": "440304001020", "managedArea": "1000.00",
           "managerName": "郑经理", "managerPhone": "13800138077"})
}

/// Sends each mutated body and checks status, code and field; then checks
/// that the table did not grow.
async fn refused_each(
    user: &User<'_>,
    method: &str,
    path: &str,
    table: &'static str,
    cases: Vec<(Value, u16, &str, &str)>,
) {
    let before = user.app.count(table).await;
    for (body, status, code, field) in cases {
        let r = user.app.call(user.token.as_deref(), method, path, Some(body.clone()), &[]).await;
        assert_eq!(r.status.as_u16(), status, "{body} → {}", r.body);
        assert_eq!(r.code(), code, "{body} → {}", r.body);
        assert_eq!(r.field(), field, "{body} → {}", r.body);
        assert!(!r.body["error"]["message"].as_str().unwrap_or("").is_empty());
    }
    assert_eq!(user.app.count(table).await, before, "nothing stored in {table}");
}

/// `v` with the member at `pointer` set (added if absent).
fn with(mut v: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let obj = v.pointer_mut(parent).and_then(Value::as_object_mut).unwrap_or_else(|| panic!("{pointer}"));
    obj.insert(key.to_string(), value);
    v
}

#[tokio::test]
async fn company_profiles_with_bad_fields_are_refused_field_by_field() {
    let app = TestApp::spawn_standalone().await;
    let new = app.login("company-new").await;
    let p = profile();
    let code = p["creditCode"].as_str().unwrap().to_string();
    let wrong_check = format!("{}{}", &code[..17], if code.ends_with('0') { '1' } else { '0' });
    refused_each(
        &new,
        "PUT",
        "/api/v1/company",
        "companies",
        vec![
            (with(p.clone(), "/creditCode", wrong_check.clone().into()), 422, "invalid_field", "creditCode"),
            (with(p.clone(), "/creditCode", "91440300MA5D0008".into()), 422, "invalid_field", "creditCode"),
            (with(p.clone(), "/creditCode", "91440300MA5D0008I8".into()), 422, "invalid_field", "creditCode"),
            (with(p.clone(), "/contactPhone", "1380013800".into()), 422, "invalid_field", "contactPhone"),
            (with(p.clone(), "/contactPhone", "02012345678".into()), 422, "invalid_field", "contactPhone"),
            (with(p.clone(), "/name", "   ".into()), 422, "invalid_field", "name"),
            (with(p.clone(), "/name", "物业\u{202E}公司".into()), 422, "invalid_field", "name"),
            (
                with(p.clone(), "/bankAccount/accountNumber", "12ab".into()),
                422,
                "invalid_field",
                "bankAccount.accountNumber",
            ),
            (with(p.clone(), "/contactPhone", 13900139088u64.into()), 400, "invalid_type", "contactPhone"),
            (with(p.clone(), "/surprise", json!(1)), 400, "unknown_field", "surprise"),
            (with(p.clone(), "/bankAccount/swift", json!("X")), 400, "unknown_field", "bankAccount.swift"),
        ],
    )
    .await;
    let mut missing = p.clone();
    missing.as_object_mut().unwrap().remove("name");
    refused_each(&new, "PUT", "/api/v1/company", "companies", vec![(missing, 400, "missing_field", "name")]).await;
    let wrong = new.put("/api/v1/company", with(p.clone(), "/creditCode", wrong_check.clone().into())).await;
    assert!(
        wrong.body["error"]["message"].as_str().unwrap().contains("expected"),
        "the message names the right check character"
    );
}

#[tokio::test]
async fn projects_with_bad_areas_communities_or_phones_are_refused() {
    let app = TestApp::spawn_standalone().await;
    let company = app.login("company-a").await;
    let p = project();
    refused_each(
        &company,
        "POST",
        "/api/v1/projects",
        "projects",
        vec![
            (with(p.clone(), "/managedArea", "0".into()), 422, "invalid_field", "managedArea"),
            (with(p.clone(), "/managedArea", "-5".into()), 422, "invalid_field", "managedArea"),
            (with(p.clone(), "/managedArea", "99999999999".into()), 422, "invalid_field", "managedArea"),
            (with(p.clone(), "/managedArea", "5000000.01".into()), 422, "invalid_field", "managedArea"),
            (with(p.clone(), "/managedArea", "12.345".into()), 422, "invalid_field", "managedArea"),
            (with(p.clone(), "/managedArea", "1e5".into()), 422, "invalid_field", "managedArea"),
            (with(p.clone(), "/managedArea", json!(1000.5)), 400, "invalid_type", "managedArea"),
            (with(p.clone(), "/community", "440304001999".into()), 422, "invalid_field", "community"),
            (with(p.clone(), "/community", "440304001".into()), 422, "invalid_field", "community"),
            (with(p.clone(), "/community", "../../etc".into()), 422, "invalid_field", "community"),
            (with(p.clone(), "/managerPhone", "1380013800x".into()), 422, "invalid_field", "managerPhone"),
            (with(p.clone(), "/managerPhone", "".into()), 422, "invalid_field", "managerPhone"),
            (with(p.clone(), "/address", "".into()), 422, "invalid_field", "address"),
        ],
    )
    .await;
}

#[tokio::test]
async fn application_claims_with_bad_areas_are_refused() {
    let app = TestApp::spawn_standalone().await;
    let company = app.login("company-a").await;
    let project = company.project_id("南园花园").await;
    let base = json!({"projectId": project});
    refused_each(
        &company,
        "POST",
        "/api/v1/applications",
        "applications",
        vec![
            (with(base.clone(), "/claimedArea", "0".into()), 422, "invalid_field", "claimedArea"),
            (with(base.clone(), "/claimedArea", "-1".into()), 422, "invalid_field", "claimedArea"),
            (with(base.clone(), "/claimedArea", "100000000000".into()), 422, "invalid_field", "claimedArea"),
            (with(base.clone(), "/claimedArea", "6000000".into()), 422, "invalid_field", "claimedArea"),
            (with(base.clone(), "/projectId", "nope".into()), 422, "invalid_field", "projectId"),
            (with(base.clone(), "/extra", json!(true)), 400, "unknown_field", "extra"),
        ],
    )
    .await;
    assert_eq!(app.count("claims").await, 0);
}

#[tokio::test]
async fn malformed_json_is_a_400_and_stores_nothing() {
    let app = TestApp::spawn_standalone().await;
    let company = app.login("company-a").await;
    let token = company.token.as_deref();
    for body in [&b"{\"name\": "[..], b"not json", b"", b"[1,2]", b"\xff\xfe{}", b"{\"projectId\":\"a\"}}"] {
        let r = app.raw(token, "POST", "/api/v1/applications", "application/json", body.to_vec()).await;
        assert_eq!(r.status.as_u16(), 400, "{:?} → {}", String::from_utf8_lossy(body), r.body);
        assert!(["malformed_json", "invalid_type"].contains(&r.code()), "{}", r.body);
    }
    let huge = format!("{{\"projectId\":\"{}\"}}", "a".repeat(100_000));
    let r = app.raw(token, "POST", "/api/v1/applications", "application/json", huge.into_bytes()).await;
    assert_eq!((r.status.as_u16(), r.code()), (413, "body_too_large"));
    assert_eq!(app.count("applications").await, 0);
}

#[tokio::test]
async fn bad_query_parameters_and_cursors_are_refused() {
    let app = TestApp::spawn_standalone().await;
    let company = app.login("company-a").await;
    assert_eq!(company.get("/api/v1/applications?limit=0").await.field(), "limit");
    assert_eq!(company.get("/api/v1/applications?limit=1000").await.status, 400);
    assert_eq!(company.get("/api/v1/applications?state=flying").await.field(), "state");
    assert_eq!(company.get("/api/v1/applications?bogus=1").await.code(), "invalid_query");
    let r = company.get("/api/v1/applications?cursor=not-a-cursor").await;
    assert_eq!((r.status.as_u16(), r.field()), (422, "cursor"));
}

#[tokio::test]
async fn oversize_and_wrong_type_documents_are_refused() {
    let app = TestApp::spawn_standalone().await;
    let company = app.login("company-a").await;
    let id = company.create_application("南园花园").await["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/applications/{id}/documents");
    let doc =
        json!({"kind": "service_contract", "fileName": "合同.pdf", "contentType": "application/pdf", "size": 1000});
    refused_each(
        &company,
        "POST",
        &path,
        "documents",
        vec![
            (with(doc.clone(), "/size", json!(10 * 1024 * 1024 + 1)), 413, "document_too_large", "size"),
            (with(doc.clone(), "/size", json!(0)), 422, "invalid_field", "size"),
            (with(doc.clone(), "/size", json!(-1)), 400, "invalid_type", "size"),
            (with(doc.clone(), "/contentType", "image/gif".into()), 415, "unsupported_document_type", "contentType"),
            (with(doc.clone(), "/contentType", "text/html".into()), 415, "unsupported_document_type", "contentType"),
            (with(doc.clone(), "/kind", "selfie".into()), 422, "invalid_field", "kind"),
            (with(doc.clone(), "/fileName", "../../etc/passwd".into()), 422, "invalid_field", "fileName"),
            (with(doc.clone(), "/fileName", "a\\b.pdf".into()), 422, "invalid_field", "fileName"),
            (with(doc.clone(), "/fileName", "合同\u{202E}fdp.exe".into()), 422, "invalid_field", "fileName"),
            (with(doc.clone(), "/fileName", "合同\u{0}.pdf".into()), 422, "invalid_field", "fileName"),
            (with(doc.clone(), "/fileName", "合同\n.pdf".into()), 422, "invalid_field", "fileName"),
            (with(doc.clone(), "/fileName", "合\u{200B}同.pdf".into()), 422, "invalid_field", "fileName"),
            (with(doc.clone(), "/fileName", "..".into()), 422, "invalid_field", "fileName"),
            (with(doc.clone(), "/fileName", "".into()), 422, "invalid_field", "fileName"),
            (
                with(doc.clone(), "/fileName", format!("{}.pdf", "长".repeat(300)).into()),
                422,
                "invalid_field",
                "fileName",
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn uploaded_bytes_must_match_the_declared_type_and_size() {
    let app = TestApp::spawn_standalone().await;
    let company = app.login("company-a").await;
    let id = company.create_application("南园花园").await["id"].as_str().unwrap().to_string();

    // Declared a PDF, sent a PNG: refused on arrival, bytes deleted.
    let r = company.upload(&id, "service_contract", "application/pdf", &[PNG, &[0u8; 64]].concat()).await;
    assert_eq!((r.status.as_u16(), r.code()), (422, "document_refused"), "{}", r.body);
    // Declared a JPEG, sent an HTML page: refused.
    let html = b"<html><script>alert(1)</script></html>".to_vec();
    let r = company.upload(&id, "other", "image/jpeg", &html).await;
    assert_eq!(r.code(), "document_refused");
    // A polyglot that starts like HTML and carries a PDF header later: refused.
    let polyglot = [b"<!DOCTYPE html>".as_slice(), PDF].concat();
    assert_eq!(company.upload(&id, "other", "application/pdf", &polyglot).await.code(), "document_refused");
    let docs = company.application(&id).await["documents"].clone();
    assert!(docs.as_array().unwrap().iter().all(|d| d["status"] == "refused"), "{docs}");
    let blobs = std::fs::read_dir(app.data_dir().join("blobs/documents").join(&id)).map(|d| d.count()).unwrap_or(0);
    assert_eq!(blobs, 0, "refused bytes are deleted");

    // The URL fixes the length and the type: anything else is refused before storing.
    let ticket = company
        .post(
            &format!("/api/v1/applications/{id}/documents"),
            json!({"kind": "area_proof", "fileName": "a.png", "contentType": "image/png", "size": PNG.len()}),
        )
        .await
        .ok();
    let url = ticket["upload"]["url"].as_str().unwrap();
    let r = app.raw(None, "PUT", url, "image/png", [PNG, b"extra"].concat()).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "signature_mismatch"));
    let r = app.raw(None, "PUT", url, "application/pdf", PNG.to_vec()).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "signature_mismatch"));
    let r = app.raw(None, "PUT", &format!("{url}x"), "image/png", PNG.to_vec()).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "invalid_signature"));
    let r = app.raw(None, "PUT", url, "image/png", PNG.to_vec()).await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.body);

    // Submission still needs a verified service contract.
    let r = company.act(&id, "/api/v1/applications/{id}/submit", json!({})).await.expect(422, "missing_documents");
    assert_eq!(r["error"]["field"], "documents");
}

#[tokio::test]
async fn a_document_is_downloadable_by_the_owner_and_reviewers_only() {
    let app = TestApp::spawn_standalone().await;
    let id = submitted_and_confirmed(&app).await;
    let company = app.login("company-a").await;
    let doc = company.application(&id).await["documents"][0]["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/applications/{id}/documents/{doc}");
    let url = company.get(&path).await.ok()["download"]["url"].as_str().unwrap().to_string();
    let bytes = app.client.get(&url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(&bytes[..], PDF);
    app.login("community-nanyuan").await.get(&path).await.ok();
    app.login("community-nanhua").await.get(&path).await.expect(404, "not_found");
    app.login("pm-a").await.get(&path).await.expect(404, "not_found");
    app.login("company-b").await.get(&path).await.expect(404, "not_found");
    // Documents cannot change once the application is under review.
    company.delete(&path).await.expect(409, "wrong_state");
}

/// Sends `body` as JSON and checks it is refused as not an object: 400
/// `invalid_type`, no field, a message that says so.
async fn refused_as_not_an_object(user: &User<'_>, method: &str, path: &str, body: &[u8]) {
    let r = user.app.raw(user.token.as_deref(), method, path, "application/json", body.to_vec()).await;
    let sent = String::from_utf8_lossy(body);
    assert_eq!(
        (r.status.as_u16(), r.code(), r.field()),
        (400, "invalid_type", ""),
        "{method} {path} {sent} → {}",
        r.body
    );
    assert!(r.body["error"]["message"].as_str().unwrap_or("").contains("JSON object"), "{sent} → {}", r.body);
}

/// serde's derived `Deserialize` takes a JSON array for a struct, its
/// fields by position; no route does. Arrays, including ones that would
/// fill the input, and other non-object values are refused on each
/// mutation route, and nothing changes.
#[tokio::test]
async fn bodies_that_are_not_json_objects_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let id = submitted_and_confirmed(&app).await;
    let company = app.login("company-a").await;
    let version = company.app_version(&id).await;
    let others: [&[u8]; 8] = [b"[1]", br#"["x", 2]"#, b"[]", b" \n [1]", b"3", br#""x""#, b"null", b"true"];

    // The company's urge, with its version by position (before the time
    // limit, so an urge that got through would be a 409, not a 400).
    let urge = format!("/api/v1/applications/{id}/urge");
    for body in [format!("[{version}]").into_bytes()].iter().map(Vec::as_slice).chain(others) {
        refused_as_not_an_object(&company, "POST", &urge, body).await;
    }

    // A reviewer's approval: `[version]` would otherwise approve.
    let reviewer = app.login("community-nanyuan").await;
    let approve = format!("/api/v1/review/community/applications/{id}/approve");
    let positional = [format!("[{version}]"), format!(r#"[{version}, null, "同意"]"#)];
    for body in positional.iter().map(|b| b.as_bytes()).chain(others) {
        refused_as_not_an_object(&reviewer, "POST", &approve, body).await;
    }
    let seen = company.application(&id).await;
    assert_eq!((seen["version"].as_u64(), seen["state"].as_str()), (Some(version), Some("pending_community")));

    // The company's profile, every field by position.
    let profile = company.get("/api/v1/company").await.ok();
    let positional = json!([
        profile["creditCode"],
        "改名物业有限公司",
        profile["legalRepresentative"],
        profile["contactName"],
        null,
        [profile["bankAccount"]["bankName"], profile["bankAccount"]["accountName"], "755912345678"],
        profile["version"]
    ]);
    for body in [positional.to_string().into_bytes()].iter().map(Vec::as_slice).chain(others) {
        refused_as_not_an_object(&company, "PUT", "/api/v1/company", body).await;
    }
    let after = company.get("/api/v1/company").await.ok();
    assert_eq!((&after["version"], &after["name"]), (&profile["version"], &profile["name"]), "profile unchanged");

    // An administrator's staff member, assignments and all by position.
    let admin = app.login("admin-futian").await;
    let staff = "/api/v1/admin/staff/array-body-staff";
    let positional = json!(["数组初审员", [["community", "440304001023"]]]).to_string();
    for body in [positional.as_bytes()].into_iter().chain(others) {
        refused_as_not_an_object(&admin, "PUT", staff, body).await;
    }
    admin.get(staff).await.expect(404, "not_found");

    // The same inputs as objects still go through.
    admin
        .put(staff, json!({"name": "数组初审员", "assignments": [{"role": "community", "unit": "440304001023"}]}))
        .await
        .ok();
    reviewer.post(&approve, json!({ "version": version })).await.ok();
}

/// A bulk approval that is not a selection of 1 to 100 distinct
/// applications, each an object with its id and version and nothing else,
/// is refused whole: nothing approved.
#[tokio::test]
async fn bulk_approvals_that_are_not_a_clean_selection_are_refused_and_approve_nothing() {
    let app = TestApp::spawn().await;
    let id = submitted_and_confirmed(&app).await;
    app.drain().await;
    let reviewer = app.login("community-nanyuan").await;
    let version = reviewer.app_version(&id).await;
    let path = "/api/v1/review/community/bulk-approve";
    let many: Vec<Value> = (0..101).map(|i| json!({"id": format!("01J{i:023}"), "version": 1})).collect();
    for (body, code) in [
        (json!({"items": many}), "invalid_field"),
        (json!({"items": []}), "invalid_field"),
        (json!({"items": [{"id": id, "version": version}, {"id": id, "version": version}]}), "invalid_field"),
    ] {
        let r = reviewer.post(path, body.clone()).await;
        assert_eq!((r.status.as_u16(), r.code()), (422, code), "{body}: {}", r.body);
        assert_eq!(r.body["error"]["field"], "items");
    }
    for body in [
        json!({"items": [{"id": id, "version": version, "approvedArea": "1.00"}]}),
        json!({"items": [[id, version]]}),
        json!({"items": [{"id": id}]}),
        json!({"items": [{"id": id, "version": "1"}]}),
        json!({"items": {"id": id, "version": version}}),
        json!({"selection": [{"id": id, "version": version}]}),
        json!([{"id": id, "version": version}]),
    ] {
        let r = reviewer.post(path, body.clone()).await;
        assert!(matches!(r.status.as_u16(), 400 | 422), "{body}: {} {}", r.status, r.body);
    }
    let seen = reviewer.application(&id).await;
    assert_eq!((seen["version"].as_u64(), seen["state"].as_str()), (Some(version), Some("pending_community")));
    // Another tier's reviewer, and a company: not theirs to send.
    app.login("district-futian")
        .await
        .post(path, json!({"items": [{"id": id, "version": version}]}))
        .await
        .expect(404, "not_found");
    app.login("company-a")
        .await
        .post(path, json!({"items": [{"id": id, "version": version}]}))
        .await
        .expect(404, "not_found");
}
