//! What one application costs on AWS, counted: the whole lifecycle of
//! `APPS` applications (each by its own new company) through the real
//! functions on the emulator, with every DynamoDB, SQS and S3 request the
//! functions and their event-source mappings make counted by an SDK
//! interceptor ([`subsidy_tests::metering`]), turned into units and
//! dollars at us-east-1 list prices.
//!
//! Needs the emulator: `make cost` (or `make test`, whose emulator pass
//! runs it). Writes `target/bench/aws-cost.json` and `.md`.

use serde_json::{Value, json};
use subsidy_core::company::credit_code::CreditCode;
use subsidy_tests::metering::{Accountant, Meter, Usage, prices};
use subsidy_tests::*;

/// Applications in the run: enough that one batch's fixed cost is shared.
const APPS: usize = 10;
/// Lambda: every invocation billed at this memory and duration (an upper
/// bound: API functions have 256 MB, and a warm handler is a few ms plus
/// its DynamoDB round trips).
const LAMBDA_GB: f64 = 0.5;
const LAMBDA_SECONDS: f64 = 0.050;

struct Phase {
    name: &'static str,
    usage: Usage,
    api_requests: u64,
    invocations: u64,
    document_puts: u64,
    downloads: u64,
}

struct Run<'a> {
    app: &'a TestApp,
    meter: Meter,
    accountant: Accountant,
    last: Usage,
    api: u64,
    invocations: u64,
    document_puts: u64,
    downloads: u64,
    phases: Vec<Phase>,
}

impl Run<'_> {
    async fn pump(&mut self) {
        let p = self.app.aws().pump().await;
        assert_eq!(p.failures, 0, "a delivery failed: {p:?}");
        self.invocations += p.invocations;
    }

    async fn call(&mut self, token: &str, method: &str, path: &str, body: Option<Value>) -> Value {
        self.api += 1;
        self.app.call(Some(token), method, path, body, &[]).await.ok()
    }

    async fn end_phase(&mut self, name: &'static str) {
        self.accountant.settle(&self.meter).await;
        let usage = self.accountant.usage.since(&self.last);
        self.last = self.accountant.usage.clone();
        self.phases.push(Phase {
            name,
            usage,
            api_requests: std::mem::take(&mut self.api),
            invocations: std::mem::take(&mut self.invocations),
            document_puts: std::mem::take(&mut self.document_puts),
            downloads: std::mem::take(&mut self.downloads),
        });
    }
}

fn company_token(app: &TestApp, i: usize) -> String {
    let now = chrono::Utc::now().timestamp();
    app.keys.sign(
        &json!({"sub": format!("cost-company-{i}"), "role": "company", "name": format!("计费企业{i}")}),
        now,
        3600,
    )
}

fn manager_token(app: &TestApp, phone: &str) -> String {
    app.manager_token(&format!("cost-pm-{phone}"), phone)
}

async fn staff_token(app: &TestApp, user: &str) -> String {
    app.login(user).await.token.expect("a token")
}

fn dollars(p: &Phase) -> (f64, f64, f64, f64, f64) {
    let u = &p.usage;
    let dynamo = u.get("ddb.wcu") * prices::DYNAMODB_WRITE_UNIT + u.get("ddb.rcu") * prices::DYNAMODB_READ_UNIT;
    let lambda = (p.api_requests + p.invocations) as f64
        * (prices::LAMBDA_REQUEST + LAMBDA_GB * LAMBDA_SECONDS * prices::LAMBDA_GB_SECOND_ARM);
    let api = p.api_requests as f64 * prices::API_GATEWAY_HTTP_REQUEST;
    let queues = u.get("sqs.requests") * prices::SQS_REQUEST;
    let s3 = u.get("s3.class_a") * prices::S3_PUT + u.get("s3.class_b") * prices::S3_GET;
    (dynamo, lambda, api, queues, s3)
}

#[tokio::test]
#[ignore = "needs the AWS emulator: make cost, or the emulator pass of make test"]
async fn one_application_costs_what_the_interceptor_counts() {
    let meter = Meter::default();
    let app = TestApp::spawn_aws_with(Some(aws_sdk_dynamodb::config::SharedInterceptor::new(meter.clone()))).await;
    let stack = app.aws();
    let table_def = aws::template_resources()["Table"]["Properties"].clone();
    let accountant =
        Accountant::new(aws_sdk_dynamodb::Client::new(&stack.sdk), &stack.resources.table, &table_def).await;
    // Let the seeding's background writes land before counting starts.
    app.drain().await;
    let mut run = Run {
        app: &app,
        meter: meter.clone(),
        accountant,
        last: Usage::default(),
        api: 0,
        invocations: 0,
        document_puts: 0,
        downloads: 0,
        phases: Vec::new(),
    };
    run.accountant.settle(&meter).await;
    run.last = run.accountant.usage.clone();

    let companies: Vec<String> = (0..APPS).map(|i| company_token(&app, i)).collect();
    let phones: Vec<String> = (0..APPS).map(|i| format!("137{:08}", 4200 + i)).collect();
    for (i, token) in companies.iter().enumerate() {
        let code = CreditCode::with_check_character(&format!("91440300{:09}", 300_000_000 + i)).unwrap();
        let name = format!("计费物业服务有限公司{i}");
        let body = json!({"creditCode": code.as_str(), "name": name, "legalRepresentative": "法定代表人",
            "contactName": "经办人", "contactPhone": phones[i],
            "bankAccount": {"bankName": "中国工商银行深圳分行", "accountName": name, "accountNumber": format!("6222{:015}", 4200 + i)}});
        run.call(token, "PUT", "/api/v1/company", Some(body)).await;
    }
    run.pump().await;
    run.end_phase("register the company").await;

    let mut apps = Vec::new();
    for (i, token) in companies.iter().enumerate() {
        let project = run
            .call(
                token,
                "POST",
                "/api/v1/projects",
                Some(json!({"name": format!("计费花园{i}"), "address": "南园路",
                "community": "440304001020", "managedArea": format!("{}.25", 20_000 + 311 * i),
                "managerName": "王项目经理", "managerPhone": phones[i]})),
            )
            .await;
        let a = run.call(token, "POST", "/api/v1/applications", Some(json!({"projectId": project["id"]}))).await;
        let id = a["id"].as_str().unwrap().to_string();
        for (kind, ct, bytes) in [("service_contract", "application/pdf", PDF), ("area_proof", "image/png", PNG)] {
            let ticket = run
                .call(token, "POST", &format!("/api/v1/applications/{id}/documents"),
                    Some(json!({"kind": kind, "fileName": format!("{kind}.bin"), "contentType": ct, "size": bytes.len()})))
                .await;
            let url = ticket["upload"]["url"].as_str().unwrap();
            app.raw(None, "PUT", url, ct, bytes.to_vec()).await.ok();
            run.document_puts += 1;
        }
        apps.push(id);
    }
    run.pump().await;
    run.end_phase("project, application, two documents").await;

    // Every step reads the application first, as the screens do.
    let steps: [(&str, &str); 5] = [
        ("submit", "/api/v1/applications/{id}/submit"),
        ("confirm the area (project manager)", "/api/v1/applications/{id}/confirm-area"),
        ("初审 community", "/api/v1/review/community/applications/{id}/approve"),
        ("复核 subdistrict", "/api/v1/review/subdistrict/applications/{id}/approve"),
        ("审核 district", "/api/v1/review/district/applications/{id}/approve"),
    ];
    let reviewers = [
        staff_token(&app, "community-nanyuan").await,
        staff_token(&app, "subdistrict-nanyuan").await,
        staff_token(&app, "district-futian").await,
    ];
    for (n, (name, path)) in steps.iter().enumerate() {
        for (i, id) in apps.iter().enumerate() {
            let token = match n {
                0 => companies[i].clone(),
                1 => manager_token(&app, &phones[i]),
                _ => reviewers[n - 2].clone(),
            };
            let detail = run.call(&token, "GET", &format!("/api/v1/applications/{id}"), None).await;
            run.call(&token, "POST", &path.replace("{id}", id), Some(json!({"version": detail["version"]}))).await;
        }
        run.pump().await;
        run.end_phase(name).await;
    }

    let maker = staff_token(&app, "finance-futian").await;
    let checker = staff_token(&app, "finance-futian-2").await;
    let batch = run.call(&maker, "POST", "/api/v1/batches", Some(json!({"note": "计费批次"}))).await;
    let batch_id = batch["id"].as_str().unwrap().to_string();
    assert_eq!(batch["lineCount"], APPS as u64, "{batch}");
    run.call(
        &checker,
        "POST",
        &format!("/api/v1/batches/{batch_id}/release"),
        Some(json!({"version": batch["version"]})),
    )
    .await;
    run.pump().await;
    let file = run.call(&maker, "GET", &format!("/api/v1/batches/{batch_id}/file?format=csv"), None).await;
    let url = file["download"]["url"].as_str().unwrap_or_else(|| panic!("a file link: {file}"));
    let csv = app.client.get(url).send().await.unwrap().text().await.unwrap();
    run.downloads += 1;
    let mut results = format!("\u{feff}批次号,{batch_id}\n");
    let mut rows = String::new();
    let mut count = 0;
    for l in csv.lines() {
        let line_id = l.split(',').next().unwrap();
        if ulid::Ulid::from_string(line_id).is_ok() {
            rows.push_str(&format!("{line_id},成功,\n"));
            count += 1;
        }
    }
    assert_eq!(count, APPS, "every line is in the treasury file:\n{csv}");
    results.push_str(&format!(
        "笔数,{count}\n总金额(元),{}\n行号,状态,原因\n{rows}",
        batch["total"]["yuan"].as_str().unwrap()
    ));
    run.api += 1;
    app.raw(Some(&maker), "POST", &format!("/api/v1/batches/{batch_id}/results"), "text/csv", results.into_bytes())
        .await
        .ok();
    run.pump().await;
    run.end_phase("batch, release, treasury file, bank results").await;

    let city = staff_token(&app, "city").await;
    run.call(&city, "GET", "/api/v1/stats/440300", None).await;
    run.end_phase("one live-totals read (not per application)").await;

    // What the accountant could not charge would make the figures wrong.
    assert!(run.accountant.unknown.is_empty(), "operations without a price: {:?}", run.accountant.unknown);
    report(&run.phases);
}

fn report(phases: &[Phase]) {
    let per_app = |x: f64| x / APPS as f64;
    let lifecycle: Vec<&Phase> = phases.iter().filter(|p| !p.name.starts_with("one live")).collect();
    let sum = |f: &dyn Fn(&Phase) -> f64| lifecycle.iter().map(|p| f(p)).sum::<f64>();
    let wcu = per_app(sum(&|p| p.usage.get("ddb.wcu")));
    let gsi = per_app(sum(&|p| p.usage.get("ddb.wcu.gsi")));
    let rcu = per_app(sum(&|p| p.usage.get("ddb.rcu")));
    let (mut d, mut l, mut a, mut q, mut s) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for p in &lifecycle {
        let (d1, l1, a1, q1, s1) = dollars(p);
        (d, l, a, q, s) = (d + d1, l + l1, a + a1, q + q1, s + s1);
    }
    let total = per_app(d + l + a + q + s);
    let docs = per_app(sum(&|p| p.document_puts as f64)) * prices::S3_PUT;

    let mut md = String::from(
        "| step (per application) | write units | of them GSI | read units | API requests | consumer invocations | SQS requests | S3 class A / B |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for p in phases {
        let u = &p.usage;
        md.push_str(&format!(
            "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} / {:.1} |\n",
            p.name,
            per_app(u.get("ddb.wcu")),
            per_app(u.get("ddb.wcu.gsi")),
            per_app(u.get("ddb.rcu")),
            per_app(p.api_requests as f64),
            per_app(p.invocations as f64),
            per_app(u.get("sqs.requests")),
            per_app(u.get("s3.class_a")),
            per_app(u.get("s3.class_b")),
        ));
    }
    // Write units, writes and bytes written, by item kind.
    let mut kinds: Vec<(String, [f64; 3])> = Vec::new();
    for p in &lifecycle {
        for (k, v) in &p.usage.0 {
            let (kind, slot) = if let Some(kind) = k.strip_prefix("ddb.wcu.kind.") {
                (kind, 0)
            } else if let Some(kind) = k.strip_prefix("ddb.items.kind.") {
                (kind, 1)
            } else if let Some(kind) = k.strip_prefix("ddb.bytes.kind.") {
                (kind, 2)
            } else {
                continue;
            };
            match kinds.iter_mut().find(|(n, _)| n == kind) {
                Some(e) => e.1[slot] += v,
                None => {
                    let mut e = [0.0; 3];
                    e[slot] = *v;
                    kinds.push((kind.to_string(), e));
                }
            }
        }
    }
    kinds.sort_by(|a, b| b.1[0].total_cmp(&a.1[0]));
    md.push_str("\n| item kind (pk/sk prefix) | write units per application | writes per application | mean item size, bytes |\n|---|---:|---:|---:|\n");
    for (k, [units, writes, bytes]) in &kinds {
        let mean = if *writes > 0.0 { bytes / writes } else { 0.0 };
        md.push_str(&format!("| `{k}` | {:.1} | {:.1} | {mean:.0} |\n", per_app(*units), per_app(*writes)));
    }
    // The application item in each state: what decides 1 or 2 units a write.
    let mut states: Vec<(String, [f64; 3])> = Vec::new();
    for p in &lifecycle {
        for (k, v) in &p.usage.0 {
            let Some(rest) = k.strip_prefix("ddb.app.") else { continue };
            let (slot, state) = match rest.split_once('.') {
                Some(("items", st)) => (0, st),
                Some(("bytes", st)) => (1, st),
                Some(("over1k", st)) => (2, st),
                _ => continue,
            };
            match states.iter_mut().find(|(n, _)| n == state) {
                Some(e) => e.1[slot] += v,
                None => {
                    let mut e = [0.0; 3];
                    e[slot] = *v;
                    states.push((state.to_string(), e));
                }
            }
        }
    }
    md.push_str(
        "\n| application item, in state | writes | mean size, bytes | writes over 1 KB |\n|---|---:|---:|---:|\n",
    );
    for (st, [items, bytes, over]) in &states {
        md.push_str(&format!("| `{st}` | {items:.0} | {:.0} | {over:.0} |\n", bytes / items.max(1.0)));
    }
    md.push_str(&format!(
        "\n**Per application lifecycle: {wcu:.1} write units ({gsi:.1} of them index writes), {rcu:.1} read units; \
         ${total:.7}** = DynamoDB ${:.7} + Lambda ${:.7} + API Gateway ${:.7} + SQS ${:.7} + S3 ${:.7}. \
         Documents (two presigned PUTs) ${docs:.7} more. Lambda billed at {LAMBDA_GB} GB × {} ms per invocation \
         (an upper bound); SQS empty receives by the pollers are a fixed cost per queue, not per application: \
         {:.0} in this run.\n",
        per_app(d),
        per_app(l),
        per_app(a),
        per_app(q),
        per_app(s),
        LAMBDA_SECONDS * 1000.0,
        sum(&|p| p.usage.get("sqs.empty_receives")),
    ));
    println!("{md}");
    let json = json!({
        "applications": APPS,
        "applicationItem": states.iter().map(|(st, [items, bytes, over])| json!({"state": st, "writes": items,
            "meanBytes": bytes / items.max(1.0), "writesOver1k": over})).collect::<Vec<_>>(),
        "perApplication": {"writeUnits": wcu, "indexWriteUnits": gsi, "readUnits": rcu, "dollars": total,
            "dollarsBy": {"dynamodb": per_app(d), "lambda": per_app(l), "apiGateway": per_app(a), "sqs": per_app(q), "s3": per_app(s)},
            "documentDollars": docs},
        "phases": phases.iter().map(|p| json!({"name": p.name, "usage": p.usage, "apiRequests": p.api_requests,
            "invocations": p.invocations, "documentPuts": p.document_puts, "downloads": p.downloads})).collect::<Vec<_>>(),
        "assumptions": {"lambdaGb": LAMBDA_GB, "lambdaSeconds": LAMBDA_SECONDS},
    });
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("aws-cost.md"), &md).unwrap();
    std::fs::write(dir.join("aws-cost.json"), serde_json::to_string_pretty(&json).unwrap()).unwrap();
    // Sanity the figures must pass to mean anything: every application
    // was written at least once per state it went through.
    assert!(wcu >= 9.0, "fewer write units than transitions: {wcu}");
}
