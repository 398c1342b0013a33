//! In-app notifications on the backend this run targets: every event tells
//! its reader exactly once, however often its change is delivered, and a
//! reader sees, counts and marks only their own notices.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use subsidy_core::ports::Clock;
use subsidy_tests::*;

/// (application, kind) → how many notices the reader holds, for these
/// applications only (the demo data has others).
async fn told(user: &User<'_>, ids: &[&str]) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/notifications?limit=100&cursor={c}"),
            None => "/api/v1/notifications?limit=100".to_string(),
        };
        let page = user.get(&path).await.ok();
        for n in page["items"].as_array().unwrap() {
            let app = n["applicationId"].as_str().unwrap_or_default().to_string();
            if ids.contains(&app.as_str()) {
                *out.entry((app, n["kind"].as_str().unwrap().to_string())).or_default() += 1;
            }
        }
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
}

async fn new_application(company: &User<'_>, name: &str) -> String {
    new_application_in(company, name, "440304001020", "13800138001").await
}

fn expect(pairs: &[(&str, &str)]) -> BTreeMap<(String, String), usize> {
    pairs.iter().map(|(a, k)| ((a.to_string(), k.to_string()), 1)).collect()
}

#[tokio::test]
async fn every_event_tells_its_reader_exactly_once_under_duplicate_delivery() {
    let app = TestApp::spawn().await;
    app.deliver_everything_twice();
    let company = app.login("company-a").await;
    let pm = app.login("pm-a").await;
    let community = app.login("community-nanyuan").await;
    let tag = app.clock.now().timestamp_micros() % 100_000;

    // Disputed by the manager; returned and rejected at 初审.
    let disputed = new_application(&company, &format!("通知争议{tag}")).await;
    pm.act(&disputed, "/api/v1/applications/{id}/dispute-area", json!({"reason": "面积不符"})).await.ok();
    let returned = new_application(&company, &format!("通知退回{tag}")).await;
    pm.act(&returned, "/api/v1/applications/{id}/confirm-area", json!({})).await.ok();
    community
        .act(&returned, "/api/v1/review/community/applications/{id}/return", json!({"reason": "合同缺页"}))
        .await
        .ok();
    let rejected = new_application(&company, &format!("通知驳回{tag}")).await;
    pm.act(&rejected, "/api/v1/applications/{id}/confirm-area", json!({})).await.ok();
    community
        .act(&rejected, "/api/v1/review/community/applications/{id}/reject", json!({"reason": "非住宅"}))
        .await
        .ok();
    app.drain().await;

    // Two approved and paid in one batch: one paid, one failed, then the
    // company's new account verified by the district.
    let names = [format!("通知付款{tag}"), format!("通知失败{tag}")];
    let paid_ids = approved_projects(&app, &company, &names).await;
    let finance = app.login("finance-futian").await;
    let batch = finance.post("/api/v1/batches", json!({"note": "通知"})).await.ok();
    let batch_id = batch["id"].as_str().unwrap().to_string();
    app.login("finance-futian-2")
        .await
        .post(&format!("/api/v1/batches/{batch_id}/release"), json!({"version": batch["version"]}))
        .await
        .ok();
    app.drain().await;
    let lines = finance.get(&format!("/api/v1/batches/{batch_id}/lines?limit=100")).await.ok();
    let lines = lines["items"].as_array().unwrap().clone();
    let line_of =
        |id: &str| lines.iter().find(|l| l["applicationId"] == id).unwrap()["id"].as_str().unwrap().to_string();
    let results = format!(
        "批次号,{batch_id}\n笔数,2\n总金额(元),{}\n行号,状态,原因\n{},成功,\n{},失败,账号不存在\n",
        batch["total"]["yuan"].as_str().unwrap(),
        line_of(&paid_ids[0]),
        line_of(&paid_ids[1]),
    );
    app.raw(
        finance.token.as_deref(),
        "POST",
        &format!("/api/v1/batches/{batch_id}/results"),
        "text/csv",
        results.into(),
    )
    .await
    .ok();
    let p = company.get("/api/v1/company").await.ok();
    company
        .put(
            "/api/v1/company",
            json!({"version": p["version"], "creditCode": p["creditCode"], "name": p["name"],
                "legalRepresentative": p["legalRepresentative"], "contactName": p["contactName"],
                "bankAccount": {"bankName": "中国建设银行深圳分行", "accountName": p["name"], "accountNumber": "6217000010009999"}}),
        )
        .await
        .ok();
    app.login("district-futian").await.reveal_and_verify(&paid_ids[1], false).await.ok();
    app.drain().await;
    // And once more, everything delivered again: nothing new.
    app.drain().await;

    let (paid, failed) = (paid_ids[0].as_str(), paid_ids[1].as_str());
    let ids = [disputed.as_str(), returned.as_str(), rejected.as_str(), paid, failed];
    assert_eq!(
        told(&company, &ids).await,
        expect(&[
            (&disputed, "area_disputed"),
            (&returned, "area_confirmed"),
            (&returned, "returned"),
            (&rejected, "area_confirmed"),
            (&rejected, "rejected"),
            (paid, "area_confirmed"),
            (paid, "approved"),
            (paid, "paid"),
            (failed, "area_confirmed"),
            (failed, "approved"),
            (failed, "payment_failed"),
            (failed, "bank_account_verified"),
        ]),
    );
    let asked: Vec<(&str, &str)> = ids.iter().map(|id| (*id, "area_awaiting_confirmation")).collect();
    assert_eq!(told(&pm, &ids).await, expect(&asked), "the manager is asked once per submission");
    // What the wording needs rides on the notice.
    let page = company.get("/api/v1/notifications?limit=100").await.ok();
    let find = |id: &str, kind: &str| -> Value {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["applicationId"] == id && n["kind"] == kind)
            .unwrap()
            .clone()
    };
    assert_eq!(find(&returned, "returned")["params"]["reason"], "合同缺页");
    assert_eq!(find(&returned, "returned")["params"]["by"], "community");
    assert_eq!(find(failed, "payment_failed")["params"]["reason"], "账号不存在");
    let approved = company.application(paid).await;
    assert_eq!(find(paid, "approved")["params"]["amount"], approved["approvedAmount"]);
    assert!(find(paid, "paid")["params"]["project"].as_str().unwrap().starts_with("通知付款"));
    // Others are told nothing of company-a's applications.
    assert!(told(&app.login("company-b").await, &ids).await.is_empty());
    assert!(told(&app.login("pm-b").await, &ids).await.is_empty());
}

#[tokio::test]
async fn a_reader_counts_pages_and_marks_read_only_their_own_notices() {
    let app = TestApp::spawn().await;
    let company = app.login("company-a").await;
    let pm = app.login("pm-a").await;
    let tag = app.clock.now().timestamp_micros() % 100_000;
    let mut ids = Vec::new();
    for i in 0..3 {
        let id = new_application(&company, &format!("通知分页{tag}-{i}")).await;
        pm.act(&id, "/api/v1/applications/{id}/confirm-area", json!({})).await.ok();
        ids.push(id);
    }
    app.drain().await;

    let first = company.get("/api/v1/notifications").await.ok();
    let unread = first["unread"].as_u64().unwrap();
    assert!(unread >= 3, "{first}");
    // Newest first, a page at a time, each notice once.
    let mut seen: Vec<Value> = Vec::new();
    let mut path = "/api/v1/notifications?limit=1".to_string();
    loop {
        let page = company.get(&path).await.ok();
        assert!(page["items"].as_array().unwrap().len() <= 1);
        seen.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["nextCursor"].as_str() {
            Some(c) => path = format!("/api/v1/notifications?limit=1&cursor={c}"),
            None => break,
        }
    }
    let times: Vec<&str> = seen.iter().map(|n| n["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");
    let all_ids: Vec<&str> = seen.iter().map(|n| n["id"].as_str().unwrap()).collect();
    let mut distinct = all_ids.clone();
    distinct.dedup();
    assert_eq!(all_ids.len(), distinct.len());
    let mine = seen.iter().find(|n| n["applicationId"] == ids[0].as_str()).unwrap()["id"].as_str().unwrap().to_string();

    // Read: the count drops by one, and a second read keeps the first time.
    let read = company.post(&format!("/api/v1/notifications/{mine}/read"), json!({})).await.ok();
    assert_eq!(read["read"], true);
    let at = read["readAt"].clone();
    app.clock.advance(chrono::Duration::minutes(5));
    let again = company.post(&format!("/api/v1/notifications/{mine}/read"), json!({})).await.ok();
    assert_eq!(again["readAt"], at, "the first read time stays");
    assert_eq!(company.get("/api/v1/notifications").await.ok()["unread"].as_u64(), Some(unread - 1));

    // Nobody else reads it, and nobody else's is counted.
    for other in ["company-b", "pm-a", "community-nanyuan", "finance-futian"] {
        let u = app.login(other).await;
        let r = u.post(&format!("/api/v1/notifications/{mine}/read"), json!({})).await;
        let body = r.body.to_string();
        assert_eq!(r.expect(404, "not_found").to_string(), body);
        assert!(!body.contains(&ids[0]), "{other}: nothing of the notice in the answer");
    }
    for bad in ["nope", "0000000000000-absent", "1234567890123-..%2F..", &"9".repeat(300)] {
        company.post(&format!("/api/v1/notifications/{bad}/read"), json!({})).await.expect(404, "not_found");
    }
    let r = company.get("/api/v1/notifications?cursor=not-a-cursor").await;
    assert_eq!((r.status.as_u16(), r.field()), (422, "cursor"));
    assert_eq!(company.get("/api/v1/notifications?limit=0").await.field(), "limit");
    assert_eq!(company.get("/api/v1/notifications?bogus=1").await.code(), "invalid_query");
    app.anonymous().get("/api/v1/notifications").await.expect(401, "unauthenticated");
    // Staff have notices of their own (none yet here): an empty list.
    let staff = app.login("finance-futian").await.get("/api/v1/notifications").await.ok();
    assert_eq!((staff["unread"].as_u64(), staff["items"].as_array().map(Vec::len)), (Some(0), Some(0)));
}

async fn urge(u: &User<'_>, id: &str, version: u64) -> Reply {
    u.post(&format!("/api/v1/applications/{id}/urge"), json!({ "version": version })).await
}

/// Notices of `kind` the user holds for application `id`.
async fn count_of(user: &User<'_>, id: &str, kind: &str) -> usize {
    told(user, &[id]).await.get(&(id.to_string(), kind.to_string())).copied().unwrap_or(0)
}

#[tokio::test]
async fn the_company_urges_an_overdue_step_once_per_working_day_and_its_reviewers_are_told() {
    use chrono::{DateTime, NaiveTime, TimeZone, Utc};
    use subsidy_core::calendar::WorkCalendar;
    let app = TestApp::spawn().await;
    app.deliver_everything_twice();
    let company = app.login("company-a").await;
    let calendar: WorkCalendar =
        serde_json::from_value(company.get("/api/v1/policy").await.ok()["calendar"].clone()).unwrap();
    let pm = app.login("pm-a").await;
    let tag = app.clock.now().timestamp_micros() % 100_000;
    let id = new_application(&company, &format!("催办{tag}")).await;
    pm.act(&id, "/api/v1/applications/{id}/confirm-area", json!({})).await.ok();
    app.drain().await;
    let reviewer = app.login("community-nanyuan").await;

    // Before the time limit: refused, nothing recorded, nobody told.
    let seen = company.application(&id).await;
    assert_eq!((seen["overdue"].as_bool(), seen["mayUrge"].as_bool()), (Some(false), Some(false)));
    let version = seen["version"].as_u64().unwrap();
    let r = urge(&company, &id, version).await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "not_overdue"), "{}", r.body);
    assert_eq!(company.app_version(&id).await, version, "nothing written");

    // Past it: urged once; the timeline records it, the reviewer is told.
    let due: DateTime<Utc> = seen["dueAt"].as_str().unwrap().parse().unwrap();
    app.clock.set(due + chrono::Duration::hours(10));
    assert_eq!(company.application(&id).await["mayUrge"], true);
    // Someone else's application, or a role that cannot urge: not found.
    for other in ["company-b", "pm-a", "community-nanyuan"] {
        urge(&app.login(other).await, &id, version).await.expect(404, "not_found");
    }
    // Bodies that are not an urge: refused with a 4xx, nothing written.
    let path = format!("/api/v1/applications/{id}/urge");
    for bad in [json!({}), json!({"version": "one"}), json!({"version": version, "reason": "快"})] {
        let r = company.post(&path, bad.clone()).await;
        assert!(r.status.is_client_error() && !r.code().is_empty(), "{bad}: {} {}", r.status, r.body);
        assert_eq!(company.app_version(&id).await, version, "{bad}: nothing written");
    }
    let urged = urge(&company, &id, version).await.ok();
    assert_eq!((urged["state"].as_str(), urged["mayUrge"].as_bool()), (Some("pending_community"), Some(false)));
    assert!(urged["urgedAt"].is_string(), "{urged}");
    let r = urge(&company, &id, version + 1).await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "already_urged"), "twice in one working day: {}", r.body);
    // A stale version is refused as any stale write is.
    urge(&company, &id, version).await.expect(409, "version_conflict");
    app.drain().await;
    app.drain().await;
    let timeline = company.get(&format!("/api/v1/applications/{id}/timeline")).await.ok();
    let urges = timeline.as_array().unwrap().iter().filter(|e| e["action"] == "urge").count();
    assert_eq!(urges, 1, "{timeline}");
    assert_eq!(count_of(&reviewer, &id, "urged").await, 1, "the 初审 reviewer is told once");
    assert_eq!(count_of(&app.login("subdistrict-nanyuan").await, &id, "urged").await, 0, "not the next tier");
    assert_eq!(count_of(&company, &id, "urged").await, 0);

    // The next working day: once more, and told once more.
    let next = {
        let mut d = calendar.working_day_of(app.clock.now()).succ_opt().unwrap();
        while !calendar.is_working_day(d) {
            d = d.succ_opt().unwrap();
        }
        subsidy_core::policy::shanghai()
            .from_local_datetime(&d.and_time(NaiveTime::from_hms_opt(10, 0, 0).unwrap()))
            .unwrap()
            .to_utc()
    };
    app.clock.set(next);
    urge(&company, &id, version + 1).await.ok();
    app.drain().await;
    assert_eq!(count_of(&reviewer, &id, "urged").await, 2);
    // Urges are not new arrivals: the step's due time stands.
    assert_eq!(company.application(&id).await["dueAt"], seen["dueAt"]);
}

/// The nightly job, as the aggregation function runs it.
async fn nightly(app: &TestApp) -> aggregation::Nightly {
    subsidy_tests::metering::as_function(
        "AggregationFunction",
        aggregation::nightly(&aggregation::App::new(&app.services.ports)),
    )
    .await
    .expect("the nightly job")
}

/// What a reviewer's digest should say now, read from their own inbox:
/// (arrived in the last 24 hours, past the time limit).
async fn inbox_figures(app: &TestApp, reviewer: &User<'_>, tier: &str) -> (u64, u64) {
    let now = app.clock.now();
    let (mut arrivals, mut overdue) = (0, 0);
    let mut path = format!("/api/v1/review/{tier}/inbox?limit=100");
    loop {
        let page = reviewer.get(&path).await.ok();
        for a in page["items"].as_array().unwrap() {
            let since: chrono::DateTime<chrono::Utc> = a["stateSince"].as_str().unwrap().parse().unwrap();
            arrivals += u64::from(since > now - chrono::Duration::hours(24));
            overdue += u64::from(a["overdue"] == true);
        }
        match page["nextCursor"].as_str() {
            Some(c) => path = format!("/api/v1/review/{tier}/inbox?limit=100&cursor={c}"),
            None => return (arrivals, overdue),
        }
    }
}

async fn digests(user: &User<'_>) -> Vec<Value> {
    let page = user.get("/api/v1/notifications?limit=100").await.ok();
    page["items"].as_array().unwrap().iter().filter(|n| n["kind"] == "review_digest").cloned().collect()
}

#[tokio::test]
async fn each_reviewer_gets_one_digest_a_day_of_new_arrivals_and_overdue_items_in_their_unit() {
    let app = TestApp::spawn().await;
    let company = app.login("company-a").await;
    let pm = app.login("pm-a").await;
    let tag = app.clock.now().timestamp_micros() % 100_000;
    // One waits past its time limit at 初审, one arrived today.
    let old = new_application(&company, &format!("汇总旧{tag}")).await;
    pm.act(&old, "/api/v1/applications/{id}/confirm-area", json!({})).await.ok();
    app.clock.advance(chrono::Duration::days(12));
    let new = new_application(&company, &format!("汇总新{tag}")).await;
    pm.act(&new, "/api/v1/applications/{id}/confirm-area", json!({})).await.ok();
    app.drain().await;

    let reviewer = app.login("community-nanyuan").await;
    let (arrivals, overdue) = inbox_figures(&app, &reviewer, "community").await;
    assert!(arrivals >= 1 && overdue >= 1, "({arrivals}, {overdue})");
    // A reviewer of a community with nothing waiting gets no digest.
    let quiet_sub = format!("digest-quiet-{tag}");
    let quiet = app.with_token(&app.staff_token(&quiet_sub, "community", "440304001023").await);
    let quiet_figures = inbox_figures(&app, &quiet, "community").await;

    let run = nightly(&app).await;
    assert!(run.digest.units >= 2, "{:?}", run.digest);
    nightly(&app).await; // the same day again: nothing new
    let got = digests(&reviewer).await;
    assert_eq!(got.len(), 1, "one digest a day: {got:?}");
    assert_eq!(got[0]["params"]["arrivals"], arrivals.to_string());
    assert_eq!(got[0]["params"]["overdue"], overdue.to_string());
    assert_eq!(got[0]["params"]["tier"], "community");
    assert_eq!(got[0]["applicationId"], Value::Null);
    let quiet_digests = digests(&quiet).await;
    match quiet_figures {
        (0, 0) => assert!(quiet_digests.is_empty(), "nothing to report, nothing sent: {quiet_digests:?}"),
        (a, o) => assert_eq!(quiet_digests[0]["params"]["arrivals"], a.to_string(), "{o}"),
    }
    // Not the company's, not the next tier's figures.
    assert!(digests(&company).await.is_empty());

    // The next day: a second digest.
    app.clock.advance(chrono::Duration::days(1));
    nightly(&app).await;
    assert_eq!(digests(&reviewer).await.len(), 2);
}

/// The next `hh:mm` China time at or after now on the test clock.
fn next_china(app: &TestApp, hh: u32, mm: u32) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    let china = subsidy_core::policy::shanghai();
    let now = app.clock.now();
    let mut day = now.with_timezone(&china).date_naive();
    loop {
        let t = china.from_local_datetime(&day.and_hms_opt(hh, mm, 0).unwrap()).unwrap().to_utc();
        if t >= now {
            return t;
        }
        day = day.succ_opt().unwrap();
    }
}

/// SMS through the recording double: on standalone as the signed HTTP
/// gateway; on the emulator before SNS, the SMS queue carrying the jobs
/// (their waits on the test clock: `aws::SmsLater`).
#[tokio::test]
async fn an_sms_goes_once_per_event_to_the_number_on_file_after_quiet_hours_and_through_retries() {
    let app = TestApp::spawn().await;
    app.clock.set(next_china(&app, 10, 0));
    app.deliver_everything_twice();
    let company = app.login("company-a").await;
    let pm = app.login("pm-a").await;
    let tag = app.clock.now().timestamp_micros() % 100_000;
    let project = format!("短信{tag}");

    // Submitted: the manager, at the project's number; disputed: the
    // company, at its contact number on file. Each once, delivered twice.
    let id = new_application(&company, &project).await;
    app.drain().await;
    pm.act(&id, "/api/v1/applications/{id}/dispute-area", json!({"reason": "面积与合同不符"})).await.ok();
    app.drain().await;
    app.drain().await;
    let got = app.sms.received();
    let to: Vec<&str> = got.iter().map(|m| m.to.as_str()).collect();
    assert_eq!(to, vec!["13800138001", "13900139001"], "{got:?}");
    assert!(got[0].text.contains(&project) && got[0].text.contains("确认项目面积"), "{}", got[0].text);
    assert!(got[1].text.contains("面积与合同不符"), "{}", got[1].text);
    assert_eq!(app.sms.refused(), 0, "every request signed");
    // Events the policy does not send by SMS send none: the company's
    // confirmation notice is in-app only.
    company.act(&id, "/api/v1/applications/{id}/submit", json!({})).await.ok();
    app.drain().await;
    pm.act(&id, "/api/v1/applications/{id}/confirm-area", json!({})).await.ok();
    app.drain().await;
    assert_eq!(app.sms.received().len(), 3, "the resubmission asked the manager; the confirmation sent nothing");
    assert_eq!(count_of(&company, &id, "area_confirmed").await, 1);

    // Quiet hours: returned at 23:00, sent at 08:00, not before.
    app.clock.set(next_china(&app, 23, 0));
    let community = app.login("community-nanyuan").await;
    community.act(&id, "/api/v1/review/community/applications/{id}/return", json!({"reason": "缺少合同"})).await.ok();
    app.drain().await;
    assert_eq!(app.sms.received().len(), 3, "held in quiet hours");
    assert_eq!(count_of(&company, &id, "returned").await, 1, "the in-app notice is there at once");
    app.clock.set(next_china(&app, 7, 59));
    app.drain().await;
    assert_eq!(app.sms.received().len(), 3, "still quiet at 07:59");
    app.clock.set(next_china(&app, 8, 0));
    app.drain().await;
    let got = app.sms.received();
    assert_eq!((got.len(), got[3].to.as_str()), (4, "13900139001"));
    assert!(got[3].text.contains("缺少合同") && got[3].text.contains("社区"), "{}", got[3].text);

    // A gateway that fails twice: retried after its backoff, sent once.
    // (Delivered once from here: a duplicate delivery on AWS is a second
    // attempt at once, and the count of attempts is what is tested.)
    app.deliver_everything_once();
    app.sms.fail_next(2);
    company.act(&id, "/api/v1/applications/{id}/submit", json!({})).await.ok();
    app.drain().await;
    community.act(&id, "/api/v1/review/community/applications/{id}/return", json!({"reason": "再补材料"})).await.ok();
    app.drain().await;
    assert_eq!(app.sms.received().len(), 4, "the first attempt failed");
    app.clock.advance(chrono::Duration::seconds(31));
    app.drain().await;
    assert_eq!(app.sms.received().len(), 4, "the second too");
    app.clock.advance(chrono::Duration::seconds(61));
    app.drain().await;
    let got = app.sms.received();
    assert_eq!(got.len(), 5, "the third went");
    assert!(got[4].text.contains("再补材料"), "{}", got[4].text);
    assert_eq!(dead_sms(&app).await, 0);

    // A gateway that never answers well: dead-lettered after the last
    // attempt; the in-app notice stands.
    app.sms.fail_next(1000);
    company.act(&id, "/api/v1/applications/{id}/submit", json!({})).await.ok();
    app.drain().await;
    community.act(&id, "/api/v1/review/community/applications/{id}/reject", json!({"reason": "不符合条件"})).await.ok();
    for _ in 0..8 {
        app.drain().await;
        app.clock.advance(chrono::Duration::minutes(10));
    }
    assert_eq!(app.sms.received().len(), 5);
    assert_eq!(dead_sms(&app).await, 1);
    if aws_backend() {
        assert_eq!(app.aws().sms_later.waiting(), 0, "nothing waits on");
    } else {
        let counts = app.sqlite().sms_counts().await.unwrap();
        assert_eq!(counts.pending, 0, "{counts:?}");
        let health = app.anonymous().get("/api/v1/health").await.ok();
        assert_eq!(health["sms"]["dead"], 1, "{health}");
    }
    assert_eq!(count_of(&company, &id, "rejected").await, 1, "told in-app all the same");
}

/// The SMS jobs given up: the SMS dead-letter queue on AWS, the table's
/// dead rows on standalone.
async fn dead_sms(app: &TestApp) -> u64 {
    if aws_backend() {
        app.aws().queue_depth("SmsDeadLetterQueue").await
    } else {
        app.sqlite().sms_counts().await.unwrap().dead
    }
}

#[tokio::test]
async fn an_application_long_overdue_is_listed_and_told_to_the_unit_above_which_cannot_act_on_it() {
    use subsidy_core::calendar::{TimeLimits, WorkCalendar};
    let app = TestApp::spawn().await;
    let company = app.login("company-a").await;
    let policy = company.get("/api/v1/policy").await.ok();
    let calendar: WorkCalendar = serde_json::from_value(policy["calendar"].clone()).unwrap();
    let limits: TimeLimits = serde_json::from_value(policy["timeLimits"].clone()).unwrap();
    let pm = app.login("pm-a").await;
    let tag = app.clock.now().timestamp_micros() % 100_000;
    // One waits at 初审 from now, one from eight days later; then sixteen
    // days pass: the first is long overdue, the second barely or not.
    let long = new_application(&company, &format!("督办久{tag}")).await;
    pm.act(&long, "/api/v1/applications/{id}/confirm-area", json!({})).await.ok();
    app.clock.advance(chrono::Duration::days(8));
    let recent = new_application(&company, &format!("督办近{tag}")).await;
    pm.act(&recent, "/api/v1/applications/{id}/confirm-area", json!({})).await.ok();
    app.clock.advance(chrono::Duration::days(8));
    app.drain().await;
    let escalated = |a: &Value| {
        let due: chrono::DateTime<chrono::Utc> = a["dueAt"].as_str().unwrap().parse().unwrap();
        calendar.working_days_overdue(due, app.clock.now()) > limits.escalate_after
    };
    assert!(escalated(&company.application(&long).await), "sixteen days at a five-day step");
    assert!(!escalated(&company.application(&recent).await), "eight days at a five-day step");

    // The subdistrict above sees the one, not the other.
    let subdistrict = app.login("subdistrict-nanyuan").await;
    let below = subdistrict.get("/api/v1/review/subdistrict/overdue-below?limit=100").await.ok();
    let ids: Vec<&str> = below["items"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![long.as_str()], "{below}");
    assert_eq!(below["items"][0]["overdue"], true);
    // A page at a time: one per page, then none.
    let first = subdistrict.get("/api/v1/review/subdistrict/overdue-below?limit=1").await.ok();
    assert_eq!(first["items"].as_array().unwrap().len(), 1);
    // It informs; acting stays 初审's.
    subdistrict
        .act(&long, "/api/v1/review/community/applications/{id}/approve", json!({}))
        .await
        .expect(404, "not_found");
    // Nothing waits overdue at 复核 under the district; community has no
    // tier below; another subdistrict sees nothing of 南园's.
    let district = app.login("district-futian").await;
    let none = district.get("/api/v1/review/district/overdue-below").await.ok();
    assert!(none["items"].as_array().unwrap().is_empty(), "{none}");
    app.login("community-nanyuan").await.get("/api/v1/review/community/overdue-below").await.expect(404, "not_found");
    company.get("/api/v1/review/subdistrict/overdue-below").await.expect(404, "not_found");
    let sibling = app.with_token(&app.staff_token(&format!("sibling-{tag}"), "subdistrict", "440304002").await);
    let theirs = sibling.get("/api/v1/review/subdistrict/overdue-below").await.ok();
    assert!(!theirs.to_string().contains(&long), "{theirs}");

    // The nightly job tells the subdistrict's reviewers, once a day.
    nightly(&app).await;
    nightly(&app).await;
    let told: Vec<Value> = subdistrict.get("/api/v1/notifications?limit=100").await.ok()["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "overdue_below")
        .cloned()
        .collect();
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0]["params"]["count"], "1");
    assert_eq!(told[0]["params"]["tier"], "community");
    assert_eq!(told[0]["params"]["days"], limits.escalate_after.to_string());
    let district_told = district.get("/api/v1/notifications?limit=100").await.ok();
    assert!(!district_told.to_string().contains("overdue_below"), "nothing overdue below the district");
}

/// Every notice of `kind` the user holds, newest first (all pages).
async fn of_kind(user: &User<'_>, kind: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut path = "/api/v1/notifications?limit=100".to_string();
    loop {
        let page = user.get(&path).await.ok();
        out.extend(page["items"].as_array().unwrap().iter().filter(|n| n["kind"] == kind).cloned());
        match page["nextCursor"].as_str() {
            Some(c) => path = format!("/api/v1/notifications?limit=100&cursor={c}"),
            None => return out,
        }
    }
}

/// Finance: a batch that became ready tells the district's finance
/// officers who did not build it (the second person), once under duplicate
/// delivery; failed payments in a results file tell all of them. Nobody
/// of another district hears of either.
#[tokio::test]
async fn finance_is_told_of_a_batch_awaiting_a_second_person_and_of_failed_payments() {
    let app = TestApp::spawn().await;
    app.deliver_everything_twice();
    approved_applications(&app, 2).await;
    let maker = app.login("finance-futian").await;
    let checker = app.login("finance-futian-2").await;
    let elsewhere = app.login("finance-dapeng").await;
    let batch = maker.post("/api/v1/batches", json!({"note": "通知"})).await.ok();
    assert_eq!(batch["state"], "ready", "{batch}");
    let id = batch["id"].as_str().unwrap();
    app.drain().await;
    app.drain().await;
    let told = of_kind(&checker, "batch_awaiting_release").await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!((told[0]["params"]["batch"].as_str(), told[0]["params"]["lines"].as_str()), (Some(id), Some("2")));
    assert_eq!(told[0]["params"]["amount"], batch["total"]["yuan"], "{told:?} {batch}");
    assert!(told[0]["applicationId"].is_null());
    assert!(of_kind(&maker, "batch_awaiting_release").await.is_empty(), "the maker may not release it");
    assert!(of_kind(&elsewhere, "batch_awaiting_release").await.is_empty());
    assert!(of_kind(&app.login("company-a").await, "batch_awaiting_release").await.is_empty());

    // Released, and the bank's file: one paid, one failed.
    let released =
        checker.post(&format!("/api/v1/batches/{id}/release"), json!({"version": batch["version"]})).await.ok();
    assert_eq!(released["state"], "released");
    let lines = checker.get(&format!("/api/v1/batches/{id}/lines?limit=100")).await.ok()["items"].clone();
    let lines = lines.as_array().unwrap();
    let (paid, failed) = (&lines[0], &lines[1]);
    let file = format!(
        "\u{feff}批次号,{id}\n笔数,2\n总金额(元),{}\n行号,状态,原因\n{},成功,\n{},失败,账号不存在\n",
        batch["total"]["yuan"].as_str().unwrap(),
        paid["id"].as_str().unwrap(),
        failed["id"].as_str().unwrap()
    );
    let r = app
        .raw(maker.token.as_deref(), "POST", &format!("/api/v1/batches/{id}/results"), "text/csv", file.into_bytes())
        .await;
    assert!(r.status.is_success(), "{} {}", r.status, r.body);
    app.drain().await;
    app.drain().await;
    for who in [&maker, &checker] {
        let told = of_kind(who, "results_failed").await;
        assert_eq!(told.len(), 1, "{told:?}");
        assert_eq!(told[0]["params"]["failed"], "1");
        assert_eq!(told[0]["params"]["amount"], failed["amount"]["yuan"]);
    }
    assert!(of_kind(&elsewhere, "results_failed").await.is_empty());
    assert_eq!(of_kind(&checker, "batch_awaiting_release").await.len(), 1, "a release tells nobody again");
}

/// A project and its application, submitted, in `community` (the manager
/// at `phone`).
async fn new_application_in(company: &User<'_>, name: &str, community: &str, phone: &str) -> String {
    let project = company
        .post(
            "/api/v1/projects",
            json!({"name": name, "address": "南园路", "community": community, "managedArea": "1500.00",
                   "managerName": "王项目经理", "managerPhone": phone}),
        )
        .await
        .ok();
    let id = company.post("/api/v1/applications", json!({"projectId": project["id"]})).await.ok()["id"]
        .as_str()
        .unwrap()
        .to_string();
    company.upload_required(&id).await;
    company.act(&id, "/api/v1/applications/{id}/submit", json!({})).await.ok();
    id
}

/// The applicant's ETA: from ten 初审 in its community that took two
/// working days each, "usually 2 working days" there; in a community with
/// none, the city's figure; at a step nobody finished lately, none; and
/// staff are not shown it. Every delivery doubled: no sample counts twice.
#[tokio::test]
async fn the_applicant_sees_how_long_its_step_usually_takes_in_its_unit_or_else_the_city() {
    use chrono::{Datelike, Weekday};
    let app = TestApp::spawn().await;
    app.deliver_everything_twice();
    // A Monday, 10:00 China time, on the test clock.
    let mut monday = next_china(&app, 10, 0);
    while monday.with_timezone(&subsidy_core::policy::shanghai()).weekday() != Weekday::Mon {
        monday += chrono::Duration::days(1);
    }
    app.clock.set(monday);
    let company = app.login("company-a").await;
    let pm = app.login("pm-a").await;
    let community = app.login("community-nanyuan").await;
    let tag = app.clock.now().timestamp_micros() % 100_000;
    let mut ids = Vec::new();
    for i in 0..10 {
        let id = new_application(&company, &format!("时长{tag}-{i}")).await;
        pm.act(&id, "/api/v1/applications/{id}/confirm-area", json!({})).await.ok();
        ids.push(id);
    }
    app.drain().await;
    // Wednesday: each 初审 took two working days.
    app.clock.advance(chrono::Duration::days(2));
    for id in &ids {
        community.act(id, "/api/v1/review/community/applications/{id}/approve", json!({})).await.ok();
    }
    app.drain().await;
    app.drain().await;

    let waiting = new_application(&company, &format!("时长{tag}-新")).await;
    pm.act(&waiting, "/api/v1/applications/{id}/confirm-area", json!({})).await.ok();
    app.drain().await;
    let eta = &company.application(&waiting).await["eta"];
    assert_eq!(*eta, json!({"step": "community", "workingDays": 2, "scope": "unit", "samples": 10}), "{eta}");
    // Staff have their inboxes' time limits instead.
    assert!(community.application(&waiting).await.get("eta").is_none());

    // Another community, with no 初审 finished there: the city's figure.
    let other = app.login("company-b").await;
    let elsewhere = new_application_in(&other, &format!("时长{tag}-葵涌"), "440307009001", "13800138002").await;
    app.login("pm-b").await.act(&elsewhere, "/api/v1/applications/{id}/confirm-area", json!({})).await.ok();
    app.drain().await;
    let eta = &other.application(&elsewhere).await["eta"];
    assert_eq!((eta["scope"].as_str(), eta["workingDays"].as_u64()), (Some("city"), Some(2)), "{eta}");
    assert!(eta["samples"].as_u64().unwrap() >= 10, "{eta}");

    // 复核, which nobody finished in the window: no figure.
    assert!(company.application(&ids[0]).await.get("eta").is_none(), "at 复核, none yet");
    // Fifteen days on, the samples are out of the window: no figure.
    app.clock.advance(chrono::Duration::days(15));
    assert!(company.application(&waiting).await.get("eta").is_none());
}
