//! The staff directory through HTTP, on the backend this run targets: what
//! administrators may do, what they may not (each refusal a clear 4xx with
//! nothing written), and that the directory, not the token, decides who
//! acts as staff.

use serde_json::{Value, json};
use subsidy_tests::*;

const STAFF: &str = "/api/v1/admin/staff";

fn member(name: &str, assignments: &[(&str, &str)], version: Option<u64>) -> Value {
    let a: Vec<Value> = assignments.iter().map(|(r, u)| json!({"role": r, "unit": u})).collect();
    match version {
        Some(v) => json!({"name": name, "assignments": a, "version": v}),
        None => json!({"name": name, "assignments": a}),
    }
}

/// Every sub the administrator's list holds, page by page.
async fn listed(admin: &User<'_>, query: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{STAFF}?limit=5");
        if !query.is_empty() {
            url = format!("{url}&{query}");
        }
        if let Some(c) = &cursor {
            url = format!("{url}&cursor={c}");
        }
        let page = admin.get(&url).await.ok();
        if !page["nextCursor"].is_null() {
            assert_eq!(page["items"].as_array().unwrap().len(), 5, "only the last page is short: {page}");
        }
        out.extend(page["items"].as_array().unwrap().iter().map(|m| m["sub"].as_str().unwrap().to_string()));
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
}

#[tokio::test]
async fn an_administrator_lists_creates_replaces_disables_and_enables_staff_of_its_subtree() {
    let app = TestApp::spawn().await;
    let admin = app.login("admin-futian").await;
    // Someone who also works in 大鹏新区 is not 福田区's to see, and leaves
    // no hole in its pages.
    let city = app.login("admin-city").await;
    for i in 0..7 {
        let both = member("两区兼任", &[("district", "440304"), ("district", "440398")], None);
        city.put(&format!("{STAFF}/aa-both-{i}"), both).await.ok();
    }
    let all = listed(&admin, "").await;
    assert!(!all.iter().any(|s| s.starts_with("aa-both")), "{all:?}");
    assert!(listed(&city, "").await.contains(&"aa-both-3".to_string()));
    assert!(all.contains(&"demo-community-nanyuan".to_string()), "{all:?}");
    assert!(all.contains(&"demo-finance-futian-2".to_string()), "{all:?}");
    assert!(!all.iter().any(|s| s.contains("dapeng") || s.contains("kuichong") || s == "demo-city"), "{all:?}");
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted, "sub order across pages");
    assert_eq!(listed(&admin, "role=finance").await, vec!["demo-finance-futian", "demo-finance-futian-2"]);
    assert_eq!(
        listed(&admin, "q=NANYUAN&unit=440304001").await,
        vec!["demo-community-nanyuan", "demo-subdistrict-nanyuan"]
    );

    let created = app
        .call(
            admin.token.as_deref(),
            "PUT",
            &format!("{STAFF}/new-reviewer"),
            Some(member("新初审员", &[("community", "440304001023")], None)),
            &[],
        )
        .await;
    assert_eq!(created.status.as_u16(), 201, "{}", created.body);
    let created = created.body;
    assert_eq!((created["version"].as_u64(), created["active"].as_bool()), (Some(1), Some(true)));
    assert_eq!(created["updatedBy"], "demo-admin-futian");
    assert_eq!(created["assignments"][0]["unitName"], "南华社区居委会");
    // The new reviewer acts at once, with a token that names only the subject.
    let reviewer = app.with_token(&app.token(json!({"sub": "new-reviewer"})));
    reviewer.get("/api/v1/review/community/inbox").await.ok();

    let replaced = admin
        .put(&format!("{STAFF}/new-reviewer"), member("新复核员", &[("subdistrict", "440304001")], Some(1)))
        .await
        .ok();
    assert_eq!((replaced["version"].as_u64(), replaced["name"].as_str()), (Some(2), Some("新复核员")));
    reviewer.get("/api/v1/review/community/inbox").await.expect(404, "not_found");
    reviewer.get("/api/v1/review/subdistrict/inbox").await.ok();
    assert_eq!(admin.get(&format!("{STAFF}/new-reviewer")).await.ok(), replaced);

    let disabled = admin.delete(&format!("{STAFF}/new-reviewer")).await.ok();
    assert_eq!((disabled["active"].as_bool(), disabled["version"].as_u64()), (Some(false), Some(3)));
    reviewer.get("/api/v1/review/subdistrict/inbox").await.expect(403, "account_disabled");
    // Disabling again changes nothing; the record stays listed.
    assert_eq!(admin.delete(&format!("{STAFF}/new-reviewer")).await.ok()["version"], 3);
    assert!(listed(&admin, "q=new-reviewer").await.contains(&"new-reviewer".to_string()));

    let mut enable = member("新复核员", &[("subdistrict", "440304001")], Some(3));
    enable["active"] = json!(true);
    assert_eq!(admin.put(&format!("{STAFF}/new-reviewer"), enable).await.ok()["active"], true);
    reviewer.get("/api/v1/review/subdistrict/inbox").await.ok();

    // Every change is one entry of the member's audit chain, and it verifies.
    let trail = app.services.ports.applications.audit_trail("staff:new-reviewer").await.unwrap();
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["staff_create", "staff_update", "staff_disable", "staff_update"]);
    assert!(trail.iter().all(|e| e.actor_id == "demo-admin-futian"));
    let report = app.services.audit.verify_audit(|_| {}).await.unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let demo_staff = subsidy_standalone::demo::ACCOUNTS.iter().filter(|a| a.role.is_staff()).count() as u64;
    assert_eq!(report.staff, demo_staff + 8, "the demo staff, the seven in two districts and this one");
}

#[tokio::test]
async fn bad_staff_changes_get_a_clear_error_and_write_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.login("admin-futian").await;
    admin.put(&format!("{STAFF}/kept"), member("原样", &[("district", "440304")], None)).await.ok();
    let kept = admin.get(&format!("{STAFF}/kept")).await.ok();
    let before = listed(&admin, "").await;
    let trail = app.services.ports.applications.audit_trail("staff:kept").await.unwrap().len();

    let too_many: Vec<(&str, &str)> = (0..21).map(|_| ("district", "440304")).collect();
    let cases: Vec<(&str, String, Value, u16, &str, &str)> = vec![
        // 南山区 is a sibling of 福田区: not this administrator's to grant.
        (
            "a unit outside the subtree",
            format!("{STAFF}/fresh"),
            member("x", &[("district", "440305")], None),
            403,
            "forbidden",
            "assignments[0].unit",
        ),
        (
            "the city above it",
            format!("{STAFF}/fresh"),
            member("x", &[("city", "440300")], None),
            403,
            "forbidden",
            "assignments[0].unit",
        ),
        (
            "an admin of the city",
            format!("{STAFF}/fresh"),
            member("x", &[("admin", "440300")], None),
            403,
            "forbidden",
            "assignments[0].unit",
        ),
        (
            "an unknown unit",
            format!("{STAFF}/fresh"),
            member("x", &[("community", "440304001999")], None),
            422,
            "invalid_field",
            "assignments[0].unit",
        ),
        (
            "a subdistrict role on a community",
            format!("{STAFF}/fresh"),
            member("x", &[("subdistrict", "440304001020")], None),
            422,
            "invalid_field",
            "assignments[0].role",
        ),
        (
            "a community role on a district",
            format!("{STAFF}/fresh"),
            member("x", &[("community", "440304")], None),
            422,
            "invalid_field",
            "assignments[0].role",
        ),
        (
            "finance on a subdistrict",
            format!("{STAFF}/fresh"),
            member("x", &[("finance", "440304001")], None),
            422,
            "invalid_field",
            "assignments[0].role",
        ),
        (
            "a non-staff role",
            format!("{STAFF}/fresh"),
            member("x", &[("company", "440304")], None),
            422,
            "invalid_field",
            "assignments[0].role",
        ),
        (
            "an invented role",
            format!("{STAFF}/fresh"),
            member("x", &[("root", "440304")], None),
            422,
            "invalid_field",
            "assignments[0].role",
        ),
        ("no assignment", format!("{STAFF}/fresh"), member("x", &[], None), 422, "invalid_field", "assignments"),
        ("21 assignments", format!("{STAFF}/fresh"), member("x", &too_many, None), 422, "invalid_field", "assignments"),
        (
            "a blank name",
            format!("{STAFF}/fresh"),
            member("  ", &[("district", "440304")], None),
            422,
            "invalid_field",
            "name",
        ),
        (
            "a sub with a space",
            format!("{STAFF}/two%20words"),
            member("x", &[("district", "440304")], None),
            422,
            "invalid_field",
            "sub",
        ),
        (
            "a stale version",
            format!("{STAFF}/kept"),
            member("改名", &[("district", "440304")], Some(0)),
            409,
            "version_conflict",
            "",
        ),
        (
            "an old version",
            format!("{STAFF}/kept"),
            member("改名", &[("finance", "440304")], Some(7)),
            409,
            "version_conflict",
            "",
        ),
        (
            "a version for nobody",
            format!("{STAFF}/fresh"),
            member("x", &[("district", "440304")], Some(3)),
            404,
            "not_found",
            "",
        ),
        (
            "a member of another district",
            format!("{STAFF}/demo-district-dapeng"),
            member("x", &[("district", "440304")], Some(1)),
            404,
            "not_found",
            "",
        ),
        (
            "an unknown field",
            format!("{STAFF}/fresh"),
            json!({"name": "x", "assignments": [], "role": "admin"}),
            400,
            "unknown_field",
            "role",
        ),
        (
            "a number for a name",
            format!("{STAFF}/fresh"),
            json!({"name": 7, "assignments": []}),
            400,
            "invalid_type",
            "name",
        ),
    ];
    for (what, path, body, status, code, field) in cases {
        let r = admin.put(&path, body).await;
        assert_eq!((r.status.as_u16(), r.code()), (status, code), "{what}: {}", r.body);
        if !field.is_empty() {
            assert_eq!(r.field(), field, "{what}: {}", r.body);
        }
        assert!(r.body.get("error").is_some_and(|e| e["message"].as_str().is_some_and(|m| !m.is_empty())), "{what}");
    }
    // The stale writes said which version is current.
    let stale = admin.put(&format!("{STAFF}/kept"), member("改名", &[("district", "440304")], Some(0))).await;
    assert_eq!(stale.body["error"]["currentVersion"], 1);

    admin.get(&format!("{STAFF}/fresh")).await.expect(404, "not_found");
    admin.get(&format!("{STAFF}/demo-district-dapeng")).await.expect(404, "not_found");
    admin.get(&format!("{STAFF}?unit=440305")).await.expect(404, "not_found");
    admin.get(&format!("{STAFF}?unit=4403x")).await.expect(422, "invalid_field");
    admin.get(&format!("{STAFF}?role=company")).await.expect(422, "invalid_field");
    admin.get(&format!("{STAFF}?limit=0")).await.expect(400, "invalid_query");
    admin.get(&format!("{STAFF}?q={}", "长".repeat(101))).await.expect(422, "invalid_field");
    admin.delete(&format!("{STAFF}/demo-district-dapeng")).await.expect(404, "not_found");
    assert_eq!(listed(&admin, "").await, before, "nothing was created");
    assert_eq!(admin.get(&format!("{STAFF}/kept")).await.ok(), kept, "nothing was changed");
    assert_eq!(
        app.services.ports.applications.audit_trail("staff:kept").await.unwrap().len(),
        trail,
        "nothing was audited"
    );
    // 大鹏新区's reviewer is untouched and still acts.
    app.login("district-dapeng").await.get("/api/v1/review/district/inbox").await.ok();
}

#[tokio::test]
async fn an_administrator_cannot_raise_itself_nor_leave_its_unit_without_one() {
    let app = TestApp::spawn().await;
    let admin = app.login("admin-futian").await;
    let me = admin.get(&format!("{STAFF}/demo-admin-futian")).await.ok();
    let version = me["version"].as_u64().unwrap();
    let raise = member("福田区系统管理员", &[("admin", "440304"), ("finance", "440304")], Some(version));
    admin.put(&format!("{STAFF}/demo-admin-futian"), raise).await.expect(403, "forbidden");
    admin.delete(&format!("{STAFF}/demo-admin-futian")).await.expect(409, "last_admin");
    let mut quit = member("福田区系统管理员", &[("admin", "440304")], Some(version));
    quit["active"] = json!(false);
    admin.put(&format!("{STAFF}/demo-admin-futian"), quit).await.expect(409, "last_admin");
    assert_eq!(admin.get(&format!("{STAFF}/demo-admin-futian")).await.ok(), me, "still as it was");
    // With a second administrator of 福田区, the first may step down.
    admin.put(&format!("{STAFF}/second-admin"), member("第二管理员", &[("admin", "440304")], None)).await.ok();
    admin.delete(&format!("{STAFF}/demo-admin-futian")).await.ok();
    admin.get(STAFF).await.expect(403, "account_disabled");
    let second = app.with_token(&app.token(json!({"sub": "second-admin"})));
    assert!(listed(&second, "").await.contains(&"demo-admin-futian".to_string()));
}

#[tokio::test]
async fn a_staff_member_with_two_assignments_picks_one_and_no_other() {
    let app = TestApp::spawn().await;
    let city = app.login("admin-city").await;
    city.put(
        &format!("{STAFF}/two-hats"),
        member("两岗", &[("admin", "440304001020"), ("community", "440304001020")], None),
    )
    .await
    .ok();
    let token = app.token(json!({"sub": "two-hats"}));
    let as_ = |who: &'static str| [("x-acting-as", who)];
    let call = |path: &'static str, h: [(&'static str, &'static str); 1]| {
        let token = token.clone();
        let app = &app;
        async move { app.call(Some(&token), "GET", path, None, &h).await }
    };
    // Without the header, the first assignment (community) acts.
    let me = app.with_token(&token).get("/api/v1/me").await.ok();
    assert_eq!(me["role"], "community");
    assert_eq!(me["assignments"].as_array().unwrap().len(), 2);
    assert_eq!(call("/api/v1/admin/staff", as_("admin")).await.status.as_u16(), 200);
    assert_eq!(call("/api/v1/review/community/inbox", as_("community:440304001020")).await.status.as_u16(), 200);
    for bad in ["finance", "community:440304001023", "admin:440304", "company", "city:440300", "x:y:z"] {
        let r = call("/api/v1/me", as_(bad)).await;
        assert_eq!((r.status.as_u16(), r.code()), (403, "not_assigned"), "{bad}: {}", r.body);
    }
    // An administrator sees no applications and no totals.
    let listed = call("/api/v1/applications", as_("admin")).await;
    assert_eq!(listed.body["items"], json!([]), "{}", listed.body);
    assert_eq!(call("/api/v1/stats/440304001020", as_("admin")).await.status.as_u16(), 404);
}

#[tokio::test]
async fn claims_grant_nothing_the_directory_does_not() {
    let app = TestApp::spawn().await;
    // Finance of 福田区 by the token's word only.
    let forged =
        app.token(json!({"sub": "claims-finance", "role": "finance", "jurisdiction": "440304", "name": "冒充财政"}));
    let user = app.with_token(&forged);
    assert_eq!(user.get("/api/v1/me").await.ok()["role"], "company");
    user.get("/api/v1/batches").await.expect(404, "not_found");
    user.post("/api/v1/batches", json!({"note": "冒充"})).await.expect(404, "not_found");
    user.get("/api/v1/disbursement/budget").await.expect(404, "not_found");
    // An administrator by the token's word only.
    let forged_admin = app.token(json!({"sub": "claims-admin", "role": "admin", "jurisdiction": "440300"}));
    let r = app
        .with_token(&forged_admin)
        .put(&format!("{STAFF}/claims-finance"), member("x", &[("finance", "440304")], None))
        .await;
    r.expect(404, "not_found");
    user.get("/api/v1/batches").await.expect(404, "not_found");
    // A staff member of the directory acting through the X-Acting-As header
    // cannot pick a role the directory did not give them either.
    let finance = app.login("finance-futian").await;
    let r = app.call(finance.token.as_deref(), "GET", STAFF, None, &[("x-acting-as", "admin")]).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "not_assigned"), "{}", r.body);
}
