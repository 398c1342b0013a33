//! The authorization matrix, generated from the route table: every route the
//! server serves (`subsidy_standalone::api_routes()`) is called by every
//! role (anonymous, two companies, two project managers, and each staff
//! level placed in the object's own unit and in a sibling unit; for routes
//! that name a unit, with the unit's own code, a child's, its parent's and a
//! sibling's). The result must be exactly what [`rule`] says: allowed (any
//! answer but 401/404), 404 with nothing of the object in the body, or 401.
//! A route [`rule`] does not know fails the test, so a new route cannot
//! escape the matrix.
//!
//! Callers are directory-backed: a staff caller's token carries only its
//! subject, and the staff directory gives the role. Beside them, callers who
//! try to go around the directory: a token claiming `finance` for a subject
//! the directory does not hold (a company at most), a disabled reviewer
//! (403 on every route), and a manager whose phone is not verified (403
//! `phone_not_verified` on every route).
//!
//! Every answer is also searched for company-a's full bank account number,
//! which only finance's treasury file may carry.
//!
//! Writes are sent with a valid body and a stale version (999) wherever
//! they take one, so an allowed write is refused by the version check and
//! the fixtures stay as they are for the next caller.

use serde_json::{Value, json};
use subsidy_tests::*;

/// Who may call a route, and over which object.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Rule {
    /// Anyone, signed in or not.
    Public,
    /// Anyone signed in.
    SignedIn,
    /// One role, no object in the path.
    Role(&'static str),
    /// The company that owns the object.
    Owner,
    /// Those who may see the application: its company, its project
    /// manager, staff whose unit contains its community.
    SeesApplication,
    /// The project manager named on the application's project.
    Manager,
    /// The reviewer of the tier in the path, within their jurisdiction.
    Tier,
    /// The reviewer of the tier in the path (their inbox lists their own
    /// jurisdiction, whatever it is).
    TierInbox,
    /// A district reviewer within their jurisdiction (bank account checks).
    DistrictReviewer,
    /// Who may open an application's documents: its company and the
    /// reviewing staff (community to city); not the project manager, not
    /// finance.
    DocumentReader,
    /// Staff whose unit contains the unit in the path.
    StaffOverUnit,
    /// Finance of the batch's district.
    BatchFinance,
    /// Finance of the application's district (recoveries, 追回).
    DistrictFinance,
    /// An administrator whose unit contains every unit the staff member in
    /// the path holds.
    StaffAdmin,
    /// The reader the notice in the path was addressed to (company-a).
    NoticeReader,
    /// The reviewer of the tier in the path, if a tier lies below it
    /// (escalation's "overdue below": subdistrict and district).
    OverdueBelow,
    /// An objection to a public notice (公示): anyone signed in may object
    /// to an application on notice. The fixture is on no notice (the
    /// matrix runs under the Shenzhen policy, which has none), so every
    /// signed-in caller is told it does not exist and the anonymous caller
    /// is asked to sign in; `notice.rs` objects to real notices. The same
    /// for reading one's own objection: nobody has one on the fixture.
    Objection,
}

fn rule(method: &str, path: &str) -> Option<Rule> {
    use Rule::*;
    let p = path.trim_start_matches("/api/v1");
    Some(match (method, p) {
        ("GET", "/health") | ("POST", "/auth/dev-login") | ("GET", "/auth/dev-accounts") => Public,
        // 公示: the one route of the API without a token.
        ("GET", "/public/notices") => Public,
        ("POST", "/public/notices/{id}/objections") | ("GET", "/public/notices/{id}/objections/mine") => Objection,
        ("GET", "/me")
        | ("GET", "/policy")
        | ("GET", "/jurisdictions/{code}")
        | ("GET", "/applications")
        | ("GET", "/notifications") => SignedIn,
        ("POST", "/notifications/{id}/read") => NoticeReader,
        ("GET" | "PUT", "/company") | ("GET" | "POST", "/projects") | ("POST", "/applications") => Role("company"),
        ("GET" | "PUT", "/projects/{id}") => Owner,
        ("PATCH", "/applications/{id}")
        | ("POST", "/applications/{id}/submit")
        | ("POST", "/applications/{id}/withdraw")
        | ("POST", "/applications/{id}/urge")
        | ("POST", "/applications/{id}/documents")
        | ("DELETE", "/applications/{id}/documents/{document_id}") => Owner,
        ("GET", "/applications/{id}") | ("GET", "/applications/{id}/timeline") => SeesApplication,
        ("GET", "/applications/{id}/documents/{document_id}") => DocumentReader,
        ("POST", "/applications/{id}/confirm-area") | ("POST", "/applications/{id}/dispute-area") => Manager,
        ("GET", "/manager/inbox") => Role("project_manager"),
        // A reviewer of the tier may send any selection; what is not theirs
        // comes back `not_found` per item (nothing of it in the answer).
        ("GET", "/review/{tier}/inbox") | ("POST", "/review/{tier}/bulk-approve") => TierInbox,
        ("GET", "/review/{tier}/overdue-below") => OverdueBelow,
        ("POST", "/review/{tier}/applications/{id}/verify-bank-account")
        | ("POST", "/review/{tier}/applications/{id}/reveal-bank-account")
        | ("POST", "/review/{tier}/applications/{id}/open-recovery")
        | ("POST", "/review/{tier}/applications/{id}/resolve-objections") => DistrictReviewer,
        ("POST", "/disbursement/applications/{id}/confirm-recovery")
        | ("POST", "/disbursement/applications/{id}/repayments") => DistrictFinance,
        ("POST", p) if p.starts_with("/review/{tier}/applications/{id}/") => Tier,
        ("GET", p) if p.starts_with("/stats/{code}") => StaffOverUnit,
        ("GET", "/disbursement/budget") | ("GET", "/disbursement/eligible") => Role("finance"),
        ("GET" | "POST", "/batches") => Role("finance"),
        (_, p) if p.starts_with("/batches/{id}") => BatchFinance,
        ("GET", "/admin/staff") => Role("admin"),
        (_, "/admin/staff/{sub}") => StaffAdmin,
        _ => return None,
    })
}

/// A caller: a name for reports, a token, and what it is.
struct Caller {
    name: String,
    token: Option<String>,
    role: &'static str,
    /// Staff: their unit. Company: its owner id. Manager: the phone.
    unit: Option<String>,
    /// How every route but the public ones refuses this caller, whatever
    /// the rule: a disabled staff member (403) or an identity that makes no
    /// actor (401).
    refused: Option<(u16, &'static str)>,
}

/// Relation of the object's unit to the caller's unit.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Relation {
    Own,
    Child,
    Parent,
    Sibling,
}

struct Fixture {
    app: String,
    version: u64,
    document: String,
    project: String,
    batch: String,
    /// A staff member in 南园社区 whom only administrators touch.
    staff: String,
    /// A notice addressed to company-a.
    notice: String,
}

/// A staff caller: put into the directory, with a token that names only
/// the subject.
async fn staff(app: &TestApp, role: &'static str, unit: &str) -> Caller {
    let token = app.staff_token(&format!("matrix-{role}-{unit}"), role, unit).await;
    Caller { name: format!("{role}@{unit}"), token: Some(token), role, unit: Some(unit.to_string()), refused: None }
}

async fn demo(app: &TestApp, username: &str, role: &'static str) -> Caller {
    Caller { name: username.to_string(), token: app.login(username).await.token, role, unit: None, refused: None }
}

/// The concrete path and body for a route over the fixture.
fn call_for(method: &str, route: &str, f: &Fixture, tier: &str, code: &str, date: &str) -> (String, Option<Value>) {
    let path = route
        .replace("{tier}", tier)
        .replace("{code}", code)
        .replace("{date}", date)
        .replace("{document_id}", &f.document)
        .replace("{sub}", &f.staff);
    let path = if path == "/api/v1/public/notices" {
        format!("{path}?district=440304")
    } else if path.starts_with("/api/v1/projects/") {
        path.replace("{id}", &f.project)
    } else if path.starts_with("/api/v1/batches/") {
        path.replace("{id}", &f.batch)
    } else if path.starts_with("/api/v1/notifications/") {
        path.replace("{id}", &f.notice)
    } else {
        path.replace("{id}", &f.app)
    };
    let stale = json!({"version": 999});
    let body = match (method, route.trim_start_matches("/api/v1")) {
        ("GET" | "DELETE", _) => None,
        ("POST", "/auth/dev-login") => Some(json!({"username": "company-a"})),
        ("PUT", "/company") => {
            Some(json!({"creditCode": "91440300MA5D9C1T4B", "name": "矩阵物业", "legalRepresentative": "法人",
            "contactName": "经办人", "contactPhone": "13800138000", "version": 999,
            "bankAccount": {"bankName": "中国银行", "accountName": "矩阵物业", "accountNumber": "6217000012345678"}}))
        }
        ("POST" | "PUT", "/projects" | "/projects/{id}") => Some(json!({"name": "矩阵花园", "address": "南园路",
            "community": "440304001020", "managedArea": "100.00", "managerName": "王项目经理",
            "managerPhone": "13800138001", "version": 999})),
        ("POST", "/applications") => Some(json!({"projectId": f.project})),
        ("POST", "/review/{tier}/bulk-approve") => Some(json!({"items": [{"id": f.app, "version": 999}]})),
        ("POST", p) if p.ends_with("/open-recovery") => {
            Some(json!({"version": 999, "amount": "1.00", "reason": "矩阵测试"}))
        }
        ("POST", p) if p.ends_with("/objections") => Some(json!({"reason": "矩阵测试"})),
        ("POST", p) if p.ends_with("/resolve-objections") => {
            Some(json!({"version": 999, "outcome": "dismiss", "reason": "矩阵测试"}))
        }
        ("POST", p) if p.ends_with("/repayments") => {
            Some(json!({"version": 999, "date": "2020-05-01", "amount": "1.00", "bankReference": "矩阵"}))
        }
        ("PATCH", _) => Some(json!({"version": 999, "claimedArea": "100.00"})),
        ("POST", "/applications/{id}/documents") => {
            Some(json!({"kind": "service_contract", "fileName": "a.pdf", "contentType": "application/pdf", "size": 10}))
        }
        ("POST", p)
            if p.ends_with("/withdraw")
                || p.ends_with("/dispute-area")
                || p.ends_with("/return")
                || p.ends_with("/reject") =>
        {
            Some(json!({"version": 999, "reason": "矩阵测试"}))
        }
        ("POST", "/batches") => Some(json!({"note": "矩阵"})),
        ("POST", "/batches/{id}/results") => Some(Value::String("批次号,x\n".into())),
        ("POST", "/batches/{id}/results/upload") => Some(json!({"size": 10})),
        ("POST", "/batches/{id}/results/import") => Some(json!({"uploadId": "01J00000000000000000000000"})),
        ("PUT", "/admin/staff/{sub}") => Some(
            json!({"name": "矩阵初审员", "assignments": [{"role": "community", "unit": "440304001020"}], "version": 999}),
        ),
        _ => Some(stale),
    };
    (path, body)
}

fn expected(rule: Rule, c: &Caller, tier: &str, relation: Relation, f_owner: &str, f_phone: &str) -> bool {
    let staff_sees = matches!(relation, Relation::Own | Relation::Child);
    match rule {
        Rule::Public => true,
        _ if c.token.is_none() || c.refused.is_some() => false,
        Rule::SignedIn => true,
        Rule::Role(r) => c.role == r,
        Rule::Owner => c.role == "company" && c.unit.as_deref() == Some(f_owner),
        Rule::SeesApplication => match c.role {
            "company" => c.unit.as_deref() == Some(f_owner),
            "project_manager" => c.unit.as_deref() == Some(f_phone),
            "admin" => false,
            _ => staff_sees,
        },
        Rule::Manager => c.role == "project_manager" && c.unit.as_deref() == Some(f_phone),
        Rule::Tier => c.role == tier && staff_sees,
        Rule::TierInbox => c.role == tier,
        Rule::DistrictReviewer => c.role == "district" && tier == "district" && staff_sees,
        Rule::DocumentReader => match c.role {
            "company" => c.unit.as_deref() == Some(f_owner),
            "community" | "subdistrict" | "district" | "city" => staff_sees,
            _ => false,
        },
        Rule::StaffOverUnit => !matches!(c.role, "company" | "project_manager" | "admin") && staff_sees,
        Rule::BatchFinance | Rule::DistrictFinance => c.role == "finance" && staff_sees,
        Rule::StaffAdmin => c.role == "admin" && staff_sees,
        Rule::NoticeReader => c.role == "company" && c.unit.as_deref() == Some(f_owner),
        Rule::OverdueBelow => c.role == tier && tier != "community",
        Rule::Objection => false,
    }
}

#[tokio::test]
async fn every_route_answers_every_role_in_every_scope_exactly_as_the_rules_say() {
    let app = TestApp::spawn().await;
    // Fixtures: an application of company-a in 南园社区 pending 初审 with its
    // documents, company-a's project, and a ready batch of 福田区.
    let paid = approved_applications(&app, 1).await;
    assert_eq!(paid.len(), 1);
    let finance = app.login("finance-futian").await;
    let batch = finance.post("/api/v1/batches", json!({"note": "矩阵批次"})).await.ok();
    let id = submitted_and_confirmed(&app).await;
    app.drain().await;
    let company = app.login("company-a").await;
    let detail = company.application(&id).await;
    let notices = company.get("/api/v1/notifications").await.ok();
    let notice = notices["items"][0]["id"].as_str().expect("company-a was told of its confirmed area").to_string();
    let fixture = Fixture {
        notice,
        app: id.clone(),
        version: detail["version"].as_u64().unwrap(),
        document: detail["documents"][0]["id"].as_str().unwrap().to_string(),
        project: detail["projectId"].as_str().unwrap().to_string(),
        batch: batch["id"].as_str().unwrap().to_string(),
        staff: "matrix-target".into(),
    };
    app.staff_token(&fixture.staff, "community", "440304001020").await;
    assert!(fixture.version < 999);
    let me = company.get("/api/v1/me").await.ok();
    let owner = me["userId"].as_str().or(me["id"].as_str()).unwrap_or("demo-company-a").to_string();
    let phone = "13800138001";
    // The daily 汇总表 exist for every unit once the nightly job has run.
    let nightly = subsidy_tests::metering::as_function(
        "AggregationFunction",
        aggregation::nightly(&aggregation::App::new(&app.services.ports)),
    )
    .await
    .expect("the nightly job");
    let date = nightly.date.to_string();

    // Callers. For objects located in 南园社区 (440304001020), 南园街道
    // (440304001), 福田区 (440304): the unit that contains them and a sibling.
    let mut callers: Vec<(Caller, Relation)> = vec![(
        Caller { name: "anonymous".into(), token: None, role: "anonymous", unit: None, refused: None },
        Relation::Sibling,
    )];
    let mut a = demo(&app, "company-a", "company").await;
    a.unit = Some(owner.clone());
    callers.push((a, Relation::Own));
    let mut b = demo(&app, "company-b", "company").await;
    b.unit = Some("not-the-owner".into());
    callers.push((b, Relation::Sibling));
    let mut pm = demo(&app, "pm-a", "project_manager").await;
    pm.unit = Some(phone.into());
    callers.push((pm, Relation::Own));
    let mut pm_b = demo(&app, "pm-b", "project_manager").await;
    pm_b.unit = Some("13800138002".into());
    callers.push((pm_b, Relation::Sibling));
    for (role, own, sibling, relation_of_own) in [
        ("community", "440304001020", "440304001023", Relation::Own),
        ("subdistrict", "440304001", "440304002", Relation::Child),
        ("district", "440304", "440307", Relation::Child),
        ("finance", "440304", "440398", Relation::Child),
        ("city", "440300", "", Relation::Child),
        ("admin", "440304", "440307", Relation::Child),
    ] {
        callers.push((staff(&app, role, own).await, relation_of_own));
        if !sibling.is_empty() {
            callers.push((staff(&app, role, sibling).await, Relation::Sibling));
        }
    }
    // Going around the directory. A token that claims finance of 福田区 for
    // a subject the directory does not hold is a (non-owner) company.
    let claims_finance =
        app.token(json!({"sub": "matrix-claims-finance", "role": "finance", "jurisdiction": "440304"}));
    // It registers a company, as any signed-in subject may.
    let code = subsidy_core::company::credit_code::CreditCode::with_check_character("91440300MA5D00077").unwrap();
    app.with_token(&claims_finance)
        .put(
            "/api/v1/company",
            json!({"creditCode": code.as_str(), "name": "声称财政物业", "legalRepresentative": "法人",
                "contactName": "经办人", "contactPhone": "13700137000",
                "bankAccount": {"bankName": "中国银行", "accountName": "声称财政物业", "accountNumber": "6217000012345670"}}),
        )
        .await
        .ok();
    callers.push((
        Caller {
            name: "finance by claims only".into(),
            token: Some(claims_finance),
            role: "company",
            unit: Some("not-the-owner".into()),
            refused: None,
        },
        Relation::Own,
    ));
    // A reviewer of this very community, disabled by an administrator.
    let disabled_sub = "matrix-community-440304001020";
    let disabled_token = app.staff_token(&format!("{disabled_sub}-disabled"), "community", "440304001020").await;
    let admin = app.staff_token("matrix-admin-city", "admin", "440300").await;
    app.with_token(&admin).delete(&format!("/api/v1/admin/staff/{disabled_sub}-disabled")).await.ok();
    callers.push((
        Caller {
            name: "disabled community reviewer".into(),
            token: Some(disabled_token),
            role: "community",
            unit: Some("440304001020".into()),
            refused: Some((403, "account_disabled")),
        },
        Relation::Own,
    ));
    // pm-a's own phone, but not verified by the identity platform.
    let unverified = app.token(json!({"sub": "matrix-pm-unverified", "role": "project_manager",
        "phone_number": phone, "phone_number_verified": false}));
    callers.push((
        Caller {
            name: "manager with an unverified phone".into(),
            token: Some(unverified),
            role: "project_manager",
            unit: Some(phone.into()),
            refused: Some((403, "phone_not_verified")),
        },
        Relation::Own,
    ));

    let routes = subsidy_standalone::api_routes();
    let unknown: Vec<String> =
        routes.iter().filter(|(m, p)| rule(m, p).is_none()).map(|(m, p)| format!("{m} {p}")).collect();
    assert!(unknown.is_empty(), "routes without a rule: {unknown:?}");

    let mut cells = 0;
    let mut wrong = Vec::new();
    for (method, route) in &routes {
        let r = rule(method, route).unwrap();
        for (c, relation) in &callers {
            // Unit routes: the caller's own unit, a child, the parent, a sibling.
            let codes: Vec<(String, Relation)> = if route.contains("{code}") {
                let is_staff = !matches!(c.role, "company" | "project_manager" | "anonymous");
                let own = c.unit.clone().filter(|_| is_staff).unwrap_or("440304001020".into());
                let mut v = vec![(own.clone(), Relation::Own)];
                let children = app.services.ports.tree.children(&own).map(|u| u.code.clone()).next();
                if let Some(child) = children {
                    v.push((child, Relation::Child));
                }
                if let Some(parent) = app.services.ports.tree.get(&own).and_then(|u| u.parent.clone()) {
                    let sibling = app.services.ports.tree.children(&parent).map(|u| u.code.clone()).find(|s| *s != own);
                    v.push((parent, Relation::Parent));
                    if let Some(s) = sibling {
                        v.push((s, Relation::Sibling));
                    }
                }
                v
            } else {
                vec![("440304001020".to_string(), *relation)]
            };
            let tiers: &[&str] =
                if route.contains("{tier}") { &["community", "subdistrict", "district"] } else { &["-"] };
            for tier in tiers {
                for (code, rel) in &codes {
                    let (path, body) = call_for(method, route, &fixture, tier, code, &date);
                    let reply = match &body {
                        Some(Value::String(text)) => {
                            app.raw(c.token.as_deref(), method, &path, "text/csv", text.clone().into_bytes()).await
                        }
                        _ => app.call(c.token.as_deref(), method, &path, body.clone(), &[]).await,
                    };
                    cells += 1;
                    let allow = expected(r, c, tier, *rel, &owner, phone);
                    let status = reply.status.as_u16();
                    // A report that does not exist for a unit the caller may
                    // see is the one 404 that is an answer, not a denial.
                    let missing_report = status == 404 && reply.body["error"]["message"] == "report not found";
                    let ok = match (allow, status, c.refused) {
                        (false, s, Some((want, code))) => s == want && reply.code() == code,
                        (true, s, _) => s != 401 && s != 403 && (s != 404 || missing_report),
                        (false, 401, _) => c.token.is_none(),
                        (false, 404, _) => c.token.is_some() && !reply.body.to_string().contains(&fixture.app),
                        (false, _, _) => false,
                    };
                    // Personal data: company-a's bank account never appears
                    // whole in an answer (only finance's treasury file has it).
                    if reply.body.to_string().contains("4000021234567890123") {
                        wrong.push(format!(
                            "{method} {path} as {}: the full bank account number in {}",
                            c.name, reply.body
                        ));
                    }
                    if !ok {
                        wrong.push(format!(
                            "{method} {path} as {} ({rel:?}): expected {}, got {status} {}",
                            c.name,
                            if allow {
                                "allowed"
                            } else if let Some((403, code)) = c.refused {
                                code
                            } else if c.token.is_none() || c.refused.is_some() {
                                "401"
                            } else {
                                "404"
                            },
                            reply.body
                        ));
                    }
                }
            }
        }
    }
    println!("authorization matrix: {} routes, {} callers, {cells} cells", routes.len(), callers.len());
    assert!(wrong.is_empty(), "{} of {cells} cells differ:\n{}", wrong.len(), wrong.join("\n"));
}
