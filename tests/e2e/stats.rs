//! Live totals through HTTP: every level sees its own subtree, the figures
//! equal a full recount after any sequence of actions, the reports parse
//! back, and reconciliation repairs drift injected on purpose. Runs on the
//! standalone stack, and on the AWS emulator when the run targets it.

use std::collections::BTreeMap;

use calamine::{DataType, Reader};
use serde_json::{Value, json};
use subsidy_core::stats::{Recount, UnitKey, drift};
use subsidy_tests::*;

/// Approves an application through every tier.
async fn approve_all(app: &TestApp, id: &str) {
    for (user, tier) in
        [("community-nanyuan", "community"), ("subdistrict-nanyuan", "subdistrict"), ("district-futian", "district")]
    {
        app.drain().await;
        let r = app.login(user).await;
        r.act(id, &format!("/api/v1/review/{tier}/applications/{{id}}/approve"), json!({})).await.ok();
    }
    app.drain().await;
}

/// Every application in the store, through the port every backend has.
async fn all_applications(app: &TestApp) -> Vec<subsidy_core::application::Application> {
    let mut out = Vec::new();
    let mut page = subsidy_core::ports::PageRequest::first(100);
    loop {
        let batch = app.services.ports.applications.scan_applications(&page).await.unwrap();
        out.extend(batch.items);
        match batch.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => return out,
        }
    }
}

/// The stored counters equal a full recount, at every unit.
async fn assert_counters_equal_recount(app: &TestApp) {
    let policy = app.services.ports.policy_id.clone();
    let stored = app.services.ports.stats.all_units(&policy).await.unwrap();
    let recount = Recount::of_applications(&all_applications(app).await);
    let d = drift(&policy, &stored, &recount);
    assert!(d.is_empty(), "{d:?}");
}

fn n(v: &Value, path: &str) -> i64 {
    v.pointer(path).and_then(Value::as_i64).unwrap_or_else(|| panic!("{path} in {v}"))
}

#[tokio::test]
async fn the_totals_follow_an_application_to_approval_at_every_level() {
    let app = TestApp::spawn().await;
    let id = submitted_and_confirmed(&app).await;
    app.drain().await;
    let city = app.login("city").await;
    let before = city.get("/api/v1/stats/440300").await.ok();
    assert_eq!(n(&before, "/totals/companies"), 1);
    assert_eq!(n(&before, "/totals/projects"), 1);
    assert_eq!(n(&before, "/totals/counts/pendingCommunity"), 1);
    assert_eq!(before["totals"]["claimedArea"], "52345.67");
    assert_eq!(n(&before, "/totals/claimedAmountFen"), 5_234_567);
    assert_eq!(n(&before, "/totals/approvedAmountFen"), 0);
    assert!(before["asOf"].is_string(), "each figure says when it was computed");

    approve_all(&app, &id).await;
    for (user, code) in [
        ("city", "440300"),
        ("district-futian", "440304"),
        ("subdistrict-nanyuan", "440304001"),
        ("community-nanyuan", "440304001020"),
    ] {
        let s = app.login(user).await.get(&format!("/api/v1/stats/{code}")).await.ok();
        assert_eq!(n(&s, "/totals/counts/approved"), 1, "{user}");
        assert_eq!(n(&s, "/totals/counts/pendingCommunity"), 0, "{user}");
        assert_eq!(s["totals"]["approvedAmount"], "52345.67", "{user}");
        assert_eq!(n(&s, "/totals/companies"), 1, "{user}");
    }
    // Drill-down: the children of the city sum to the city.
    let city_now = city.get("/api/v1/stats/440300").await.ok();
    let children = city_now["children"].as_array().unwrap();
    assert_eq!(children.len(), 11);
    let sum: i64 = children.iter().map(|c| n(c, "/totals/approvedAmountFen")).sum();
    assert_eq!(sum, n(&city_now, "/totals/approvedAmountFen"));
    assert_counters_equal_recount(&app).await;
}

#[tokio::test]
async fn a_company_with_several_projects_counts_once_per_unit() {
    let app = TestApp::spawn().await;
    let a = app.login("company-a").await;
    let pm = app.login("pm-a").await;
    // Two projects in 南园社区, and a third in 南华社区 (same subdistrict).
    let third = a
        .post(
            "/api/v1/projects",
            json!({"name": "南华公寓", "address": "南华路 3 号", "community": "440304001023", "managedArea": "1000",
                   "managerName": "王项目经理", "managerPhone": "13800138001"}),
        )
        .await
        .ok();
    for project in ["南园花园", "南园大厦", "南华公寓"] {
        let id = a.create_application(project).await["id"].as_str().unwrap().to_string();
        a.upload_required(&id).await;
        a.act(&id, "/api/v1/applications/{id}/submit", json!({})).await.ok();
        pm.act(&id, "/api/v1/applications/{id}/confirm-area", json!({})).await.ok();
    }
    let b = app.login("company-b").await;
    let kid = b.create_application("葵涌雅苑").await["id"].as_str().unwrap().to_string();
    b.upload_required(&kid).await;
    b.act(&kid, "/api/v1/applications/{id}/submit", json!({})).await.ok();
    app.drain().await;
    let _ = third;

    let city = app.login("city").await;
    let s = city.get("/api/v1/stats/440304001").await.ok();
    assert_eq!(n(&s, "/totals/companies"), 1, "company-a once in its subdistrict");
    assert_eq!(n(&s, "/totals/projects"), 3);
    let kids: BTreeMap<String, Value> = s["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["unit"]["code"].as_str().unwrap().to_string(), c.clone()))
        .collect();
    assert_eq!(n(&kids["440304001020"], "/totals/companies"), 1);
    assert_eq!(n(&kids["440304001020"], "/totals/projects"), 2);
    assert_eq!(n(&kids["440304001023"], "/totals/companies"), 1);
    let whole = city.get("/api/v1/stats/440300").await.ok();
    assert_eq!(n(&whole, "/totals/companies"), 2);
    assert_eq!(n(&whole, "/totals/projects"), 4);
    // 葵涌 counts under 大鹏新区, not under 龙岗区.
    let dapeng = app.login("district-dapeng").await.get("/api/v1/stats/440398").await.ok();
    assert_eq!(n(&dapeng, "/totals/projects"), 1);
    assert_eq!(n(&dapeng, "/totals/counts/awaitingAreaConfirmation"), 1);
    let longgang = app.login("district-longgang").await.get("/api/v1/stats/440307").await.ok();
    assert_eq!(n(&longgang, "/totals/projects"), 0);
    assert_counters_equal_recount(&app).await;
}

#[tokio::test]
async fn each_level_reads_only_its_own_subtree() {
    let app = TestApp::spawn().await;
    let cases = [
        ("community-nanyuan", "440304001020", 200),
        ("community-nanyuan", "440304001023", 404),   // sibling
        ("community-nanyuan", "440304001", 404),      // parent
        ("subdistrict-nanyuan", "440304001020", 200), // child
        ("subdistrict-nanyuan", "440304001", 200),
        ("subdistrict-nanyuan", "440304", 404),
        ("district-futian", "440304001", 200),
        ("district-futian", "440300", 404),
        ("district-longgang", "440307009", 404), // 葵涌 belongs to 大鹏新区
        ("district-dapeng", "440307009", 200),
        ("finance-futian", "440304", 200),
        ("city", "440398", 200),
        ("city", "999999", 404),
        ("company-a", "440304001020", 404),
        ("pm-a", "440304001020", 404),
    ];
    for (user, code, want) in cases {
        let r = app.login(user).await.get(&format!("/api/v1/stats/{code}")).await;
        assert_eq!(r.status.as_u16(), want, "{user} → {code}: {}", r.body);
        if want == 404 {
            assert!(r.body.get("totals").is_none(), "a denial carries no figures");
        }
    }
    assert_eq!(app.anonymous().get("/api/v1/stats/440300").await.status, 401);
    for (user, code, want) in [("community-nanhua", "440304001020", 404), ("subdistrict-nanyuan", "440304001020", 200)]
    {
        let r = app.login(user).await.get(&format!("/api/v1/stats/{code}/report?format=csv")).await;
        assert_eq!(r.status.as_u16(), want, "{user} report {code}");
    }
}

#[tokio::test]
async fn the_summary_report_parses_back_and_its_rows_sum_to_the_total() {
    let app = TestApp::spawn().await;
    let id = submitted_and_confirmed(&app).await;
    approve_all(&app, &id).await;
    let b = app.login("company-b").await;
    let kid = b.create_application("葵涌雅苑").await["id"].as_str().unwrap().to_string();
    b.upload_required(&kid).await;
    b.act(&kid, "/api/v1/applications/{id}/submit", json!({})).await.ok();
    app.drain().await;
    let city = app.login("city").await;
    let token = city.token.clone().unwrap();

    let csv_bytes = app
        .client
        .get(format!("{}/api/v1/stats/440300/report?format=csv", app.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(csv_bytes.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(csv_bytes.headers()["content-disposition"].to_str().unwrap().contains(".csv"));
    let bytes = csv_bytes.bytes().await.unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "UTF-8 with a BOM");
    let mut reader = csv::Reader::from_reader(&bytes[3..]);
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 12, "11 district-level units and the total");
    assert!(rows.iter().any(|r| &r[1] == "大鹏新区") && rows.iter().any(|r| &r[1] == "深汕特别合作区"));
    assert_eq!(&rows[11][1], "合计（深圳市）");
    let cents = |s: &str| s.replace('.', "").parse::<i64>().unwrap();
    for col in 2..19 {
        let sum: i64 = rows[..11].iter().map(|r| cents(&r[col])).sum();
        assert_eq!(sum, cents(&rows[11][col]), "column {col}");
    }
    assert_eq!(&rows[11][6], "83546.17", "52345.67 + 31200.50 claimed");

    let xlsx =
        app.client.get(format!("{}/api/v1/stats/440300/report", app.base)).bearer_auth(&token).send().await.unwrap();
    let bytes = xlsx.bytes().await.unwrap().to_vec();
    let mut book = calamine::Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
    let range = book.worksheet_range("汇总表").unwrap();
    assert_eq!(range.get((0, 1)).unwrap().to_string(), "单位名称");
    let names: Vec<String> = (1..=12).map(|r| range.get((r, 1)).unwrap().to_string()).collect();
    assert!(names.contains(&"福田区".to_string()) && names.contains(&"大鹏新区".to_string()));
    let fen = |r: usize, c: usize| (range.get((r, c)).unwrap().as_f64().unwrap() * 100.0).round() as i64;
    assert_eq!(fen(12, 7), 5_234_567, "approved amount of the total row, to the fen");
    for col in 2..19 {
        let sum: i64 = (1..=11).map(|r| fen(r, col)).sum();
        assert_eq!(sum, fen(12, col), "column {col}");
    }
    city.get("/api/v1/stats/440300/report?format=pdf").await.expect(400, "invalid_query");
}

#[tokio::test]
async fn the_nightly_job_repairs_injected_drift_and_stores_the_daily_reports() {
    let app = TestApp::spawn().await;
    let id = submitted_and_confirmed(&app).await;
    app.drain().await;
    // Drift on purpose: a counter changed behind the aggregator's back, and
    // a lost record (an application's marker deleted).
    let policy = app.services.ports.policy_id.clone();
    let key = UnitKey::new(&policy, "440304");
    let stored = app.services.ports.stats.unit_totals(std::slice::from_ref(&key)).await.unwrap()[&key].clone();
    let mut bad = stored.totals;
    bad.add(subsidy_core::stats::Counter::ClaimedAmount, 1_000_000);
    assert!(app.services.ports.stats.repair_unit(&key, &bad, stored.version, chrono::Utc::now()).await.unwrap());
    let city = app.login("city").await;
    let wrong = city.get("/api/v1/stats/440304").await.ok();
    assert_eq!(n(&wrong, "/totals/claimedAmountFen"), 5_234_567 + 1_000_000, "the drift shows");

    let nightly = subsidy_tests::metering::as_function(
        "AggregationFunction",
        aggregation::nightly(&aggregation::App::new(&app.services.ports)),
    )
    .await
    .unwrap();
    assert!(
        nightly
            .reconcile
            .drift
            .iter()
            .any(|d| d.unit == "440304" && d.counter == "claimedAmountFen" && d.recounted == 5_234_567),
        "{:?}",
        nightly.reconcile.drift
    );
    assert!(nightly.reconcile.repaired_units >= 1);
    let right = city.get("/api/v1/stats/440304").await.ok();
    assert_eq!(n(&right, "/totals/claimedAmountFen"), 5_234_567);
    assert_counters_equal_recount(&app).await;
    let again = subsidy_tests::metering::as_function(
        "AggregationFunction",
        aggregation::nightly(&aggregation::App::new(&app.services.ports)),
    )
    .await
    .unwrap();
    assert!(again.reconcile.drift.is_empty(), "{:?}", again.reconcile.drift);

    // The day's reports are stored and downloadable by the unit's staff only.
    assert_eq!(nightly.reports_written, 2 * 95, "city, 11 districts and 83 subdistricts, xlsx and csv");
    let date = nightly.date.to_string();
    let links = app.login("district-futian").await.get(&format!("/api/v1/stats/440304/reports/{date}")).await.ok();
    let csv = app.client.get(links["csv"]["url"].as_str().unwrap()).send().await.unwrap().bytes().await.unwrap();
    assert!(csv.starts_with(b"\xEF\xBB\xBF"), "the stored CSV");
    assert!(String::from_utf8_lossy(&csv).contains("南园街道"));
    app.login("district-dapeng")
        .await
        .get(&format!("/api/v1/stats/440304/reports/{date}"))
        .await
        .expect(404, "not_found");
    app.login("district-futian").await.get("/api/v1/stats/440304/reports/2001-01-01").await.expect(404, "not_found");
    app.login("district-futian").await.get("/api/v1/stats/440304/reports/yesterday").await.expect(422, "invalid_field");
    let _ = id;
}

/// Overdue figures per timed state, from the applications themselves: what
/// the counters must give at `now`.
async fn overdue_truth(app: &TestApp, unit: &str) -> BTreeMap<String, i64> {
    use subsidy_core::stats::Counter;
    let policy = app.services.ports.policies.get_policy(&app.services.ports.policy_id).await.unwrap().unwrap();
    let now = subsidy_core::ports::Clock::now(app.clock.as_ref());
    let mut out: BTreeMap<String, i64> = Counter::timed().map(|c| (c.name().to_string(), 0)).collect();
    for a in all_applications(app).await {
        let p = &a.jurisdiction;
        if ![&p.city, &p.district, &p.subdistrict, &p.community].contains(&&unit.to_string()) {
            continue;
        }
        if a.due_at(&policy).is_some_and(|d| now > d) {
            *out.get_mut(Counter::of_state(a.state).unwrap().name()).unwrap() += 1;
        }
    }
    out
}

fn overdue_of(v: &Value) -> BTreeMap<String, i64> {
    serde_json::from_value(v["totals"]["overdue"].clone()).unwrap()
}

/// The dashboard's overdue figures: per unit, per state of the funnel and
/// per child unit, exact against the applications' own due times as the
/// clock moves, a step moves, and the nightly repair runs.
#[tokio::test]
async fn overdue_counts_per_unit_and_child_unit_follow_the_time_limits_exactly() {
    let app = TestApp::spawn().await;
    let company = app.login("company-a").await;
    let pm = app.login("pm-a").await;
    let city = app.login("city").await;
    let units = [
        ("city", "440300"),
        ("district-futian", "440304"),
        ("subdistrict-nanyuan", "440304001"),
        ("community-nanyuan", "440304001020"),
    ];
    let check = |label: &'static str| {
        let (app, units) = (&app, &units);
        async move {
            app.drain().await;
            for (user, code) in units {
                let view = app.login(user).await.get(&format!("/api/v1/stats/{code}")).await.ok();
                assert_eq!(overdue_of(&view), overdue_truth(app, code).await, "{label}: {code}");
                // Per child unit: each child's own truth, and they sum to the unit.
                let mut sum: BTreeMap<String, i64> = BTreeMap::new();
                for child in view["children"].as_array().unwrap() {
                    let c = child["unit"]["code"].as_str().unwrap();
                    let figures: BTreeMap<String, i64> =
                        serde_json::from_value(child["totals"]["overdue"].clone()).unwrap();
                    if figures.values().any(|v| *v != 0) {
                        assert_eq!(figures, overdue_truth(app, c).await, "{label}: child {c}");
                    }
                    for (k, v) in figures {
                        *sum.entry(k).or_default() += v;
                    }
                }
                if !view["children"].as_array().unwrap().is_empty() {
                    assert_eq!(sum, overdue_of(&view), "{label}: the children of {code} sum to it");
                }
            }
        }
    };

    // One waits at 初审, one for its manager's confirmation.
    let (_, old) = submitted_for_new_project(&company, &pm, "逾期旧苑", "1000.00").await;
    let project = company
        .post(
            "/api/v1/projects",
            json!({"name": "逾期待确认苑", "address": "南园路", "community": "440304001020", "managedArea": "800.00",
                   "managerName": "王项目经理", "managerPhone": "13800138001"}),
        )
        .await
        .ok();
    let unconfirmed = company.post("/api/v1/applications", json!({"projectId": project["id"]})).await.ok()["id"]
        .as_str()
        .unwrap()
        .to_string();
    company.upload_required(&unconfirmed).await;
    company.act(&unconfirmed, "/api/v1/applications/{id}/submit", json!({})).await.ok();
    check("nothing due yet").await;
    let none = city.get("/api/v1/stats/440300").await.ok();
    assert!(overdue_of(&none).values().all(|v| *v == 0), "{none}");
    assert_eq!(overdue_of(&none).len(), 5, "every state with a time limit is named");

    // Twelve days on (past 5 working days and 3), a new one arrives.
    app.clock.advance(chrono::Duration::days(12));
    let (_, new) = submitted_for_new_project(&company, &pm, "逾期新苑", "1000.00").await;
    check("twelve days on").await;
    let now = city.get("/api/v1/stats/440300").await.ok();
    assert_eq!(n(&now, "/totals/overdue/pendingCommunity"), 1, "the old one, not the new: {now}");
    assert_eq!(n(&now, "/totals/overdue/awaitingAreaConfirmation"), 1);
    assert_eq!(n(&now, "/totals/counts/pendingCommunity"), 2);

    // 初审 passes the old one: it leaves 初审's overdue figure, and at 复核
    // it is not due yet.
    let reviewer = app.login("community-nanyuan").await;
    reviewer.act(&old, "/api/v1/review/community/applications/{id}/approve", json!({})).await.ok();
    check("the old one moved on").await;
    let moved = city.get("/api/v1/stats/440300").await.ok();
    assert_eq!(n(&moved, "/totals/overdue/pendingCommunity"), 0);
    assert_eq!(n(&moved, "/totals/overdue/pendingSubdistrict"), 0);

    // Eight more days: both are overdue, each at its own step.
    app.clock.advance(chrono::Duration::days(8));
    check("eight days more").await;
    let later = city.get("/api/v1/stats/440300").await.ok();
    assert_eq!(n(&later, "/totals/overdue/pendingCommunity"), 1, "{new} {later}");
    assert_eq!(n(&later, "/totals/overdue/pendingSubdistrict"), 1);

    // The nightly repair leaves the figures as they are.
    subsidy_tests::metering::as_function(
        "AggregationFunction",
        aggregation::nightly(&aggregation::App::new(&app.services.ports)),
    )
    .await
    .expect("the nightly job");
    check("after the nightly repair").await;
    assert_counters_equal_recount(&app).await;
}

/// A district's forecast from the applications themselves: allocated,
/// approved, and claimed per state still in review.
async fn forecast_truth(app: &TestApp, district: &str) -> (i64, i64, BTreeMap<String, i64>) {
    use subsidy_core::application::state::State;
    let policy = app.services.ports.policies.get_policy(&app.services.ports.policy_id).await.unwrap().unwrap();
    let allocated = policy.district_budgets.get(district).map(|f| f.fen()).unwrap_or(0);
    let (mut approved, mut review) = (0, BTreeMap::new());
    for s in ["awaitingAreaConfirmation", "pendingCommunity", "pendingSubdistrict", "pendingDistrict", "returned"] {
        review.insert(s.to_string(), 0);
    }
    for a in all_applications(app).await.iter().filter(|a| a.jurisdiction.district == district) {
        let key = match a.state {
            State::AwaitingAreaConfirmation => "awaitingAreaConfirmation",
            State::PendingCommunity => "pendingCommunity",
            State::PendingSubdistrict => "pendingSubdistrict",
            State::PendingDistrict => "pendingDistrict",
            State::Returned => "returned",
            State::Approved | State::InPaymentBatch | State::Paid | State::PaymentFailed => {
                approved += a.approved_amount.map(|f| f.fen()).unwrap_or(0);
                continue;
            }
            _ => continue,
        };
        *review.get_mut(key).unwrap() += a.claimed_amount.fen();
    }
    (allocated, approved, review)
}

/// Checks a forecast (from the budget or the dashboard) against the truth.
fn assert_forecast(f: &Value, truth: &(i64, i64, BTreeMap<String, i64>), label: &str) {
    let (allocated, approved, review) = truth;
    assert_eq!(n(f, "/allocated/fen"), *allocated, "{label}: {f}");
    assert_eq!(n(f, "/approved/fen"), *approved, "{label}: {f}");
    let got: BTreeMap<String, i64> =
        f["inReview"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v["fen"].as_i64().unwrap())).collect();
    assert_eq!(&got, review, "{label}");
    let total: i64 = review.values().sum();
    assert_eq!(n(f, "/inReviewTotal/fen"), total, "{label}");
    let left = allocated - approved - total;
    assert_eq!(n(f, "/remainingAfterReview/fen"), left, "{label}");
    assert_eq!(f["remainingAfterReview"]["yuan"], subsidy_core::money::format_hundredths(left), "{label}");
    assert_eq!(f["short"], left < 0, "{label}");
}

/// The budget forecast: what is in flight per review state and what would
/// remain, equal to a recount of the applications on finance's budget and
/// on the district dashboard, as applications move through review; and
/// the warning once one large claim would not fit.
#[tokio::test]
async fn the_budget_forecast_counts_what_is_in_review_and_warns_when_it_would_not_fit() {
    let app = TestApp::spawn().await;
    let company = app.login("company-a").await;
    let pm = app.login("pm-a").await;
    let finance = app.login("finance-futian").await;
    let district = app.login("district-futian").await;
    let check = |label: &'static str| {
        let (app, finance, district) = (&app, &finance, &district);
        async move {
            app.drain().await;
            let truth = forecast_truth(app, "440304").await;
            let budget = finance.get("/api/v1/disbursement/budget").await.ok();
            assert_forecast(&budget["forecast"], &truth, &format!("{label}, finance"));
            let stats = district.get("/api/v1/stats/440304").await.ok();
            assert_forecast(&stats["forecast"], &truth, &format!("{label}, dashboard"));
            truth
        }
    };
    // Only a district-level unit has a forecast.
    let sub = app.login("subdistrict-nanyuan").await.get("/api/v1/stats/440304001").await.ok();
    assert_eq!(sub["forecast"], Value::Null, "{sub}");
    assert_eq!(app.login("city").await.get("/api/v1/stats/440300").await.ok()["forecast"], Value::Null);
    let empty = check("nothing yet").await;
    assert!(empty.2.values().all(|v| *v == 0));

    // One at each step: 初审, 复核, returned, approved.
    let mut ids = Vec::new();
    for (i, area) in ["1000.00", "2000.00", "3000.00", "4000.00"].iter().enumerate() {
        ids.push(submitted_for_new_project(&company, &pm, &format!("预测苑{i}"), area).await.1);
    }
    let community = app.login("community-nanyuan").await;
    app.drain().await;
    community.act(&ids[1], "/api/v1/review/community/applications/{id}/approve", json!({})).await.ok();
    community
        .act(&ids[2], "/api/v1/review/community/applications/{id}/return", json!({"reason": "请补充面积证明"}))
        .await
        .ok();
    approve_all(&app, &ids[3]).await;
    let moving = check("one at each step").await;
    assert_eq!(moving.2["pendingCommunity"], 100_000, "1000 m² × 0.5 × 2 months = 1000.00 yuan");
    assert_eq!(moving.2["pendingSubdistrict"], 200_000);
    assert_eq!(moving.2["returned"], 300_000);
    assert_eq!(moving.1, 400_000);

    // Claims past the district's whole budget (30 million yuan; a project
    // is at most 5 million m², so 5 million yuan): the warning.
    let mut huge = Vec::new();
    for i in 0..7 {
        huge.push(submitted_for_new_project(&company, &pm, &format!("预测巨苑{i}"), "5000000.00").await.1);
    }
    let short = check("claims past the budget").await;
    assert!(short.0 - short.1 - short.2.values().sum::<i64>() < 0);
    assert_eq!(finance.get("/api/v1/disbursement/budget").await.ok()["forecast"]["short"], true);
    // Two rejected: they leave the forecast, and the warning goes.
    for id in &huge[..2] {
        community
            .act(id, "/api/v1/review/community/applications/{id}/reject", json!({"reason": "面积不实"}))
            .await
            .ok();
    }
    let after = check("two large claims rejected").await;
    assert_eq!(after.2["pendingCommunity"], moving.2["pendingCommunity"] + 5 * 500_000_000);
    assert_eq!(district.get("/api/v1/stats/440304").await.ok()["forecast"]["short"], false);
    assert_counters_equal_recount(&app).await;
}
