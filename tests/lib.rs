//! The one helper for end-to-end tests: spin up a fresh standalone stack on a
//! random port with its own data directory, and talk to it over HTTP.
//!
//! The dispatcher does not run in the background here; tests call
//! [`TestApp::drain`] to deliver pending outbox events deterministically.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use subsidy_core::ports::Clock;
use subsidy_standalone::{Config, Stack};

/// A clock tests can move.
pub struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    pub fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap() = t;
    }

    pub fn advance(&self, by: chrono::Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

pub mod aws;
pub mod least_privilege;
pub mod metering;
pub mod oidc_issuer;
pub mod pii;
#[path = "sms_double.rs"]
pub mod sms;

/// Which storage the stack under test runs on.
pub enum Backend {
    /// SQLite and local files, as `make run` serves.
    Standalone { stack: Stack, dir: tempfile::TempDir },
    /// DynamoDB, S3 and SQS in the moto emulator.
    Aws(Box<aws::AwsStack>),
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub clock: Arc<TestClock>,
    pub services: Arc<subsidy_core::Services>,
    /// Signs tokens the server accepts (standalone's dev-login key).
    pub keys: Arc<subsidy_infra::jwt::Hs256>,
    pub backend: Backend,
    /// The SMS gateway the stack sends to (standalone).
    pub sms: Arc<sms::SmsDouble>,
    /// Writes the personal-data guard's counts when the app goes.
    _pii: pii::Report,
}

/// What a request got back.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    /// The error code of an error body, or "" for a success body.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    pub fn field(&self) -> &str {
        self.body["error"]["field"].as_str().unwrap_or("")
    }

    #[track_caller]
    pub fn ok(self) -> Value {
        assert!(self.status.is_success(), "expected success, got {} {}", self.status, self.body);
        self.body
    }

    #[track_caller]
    pub fn expect(self, status: u16, code: &str) -> Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        assert_eq!(self.code(), code, "{}", self.body);
        self.body
    }
}

/// True when this test run targets the AWS emulator
/// (`SUBSIDY_TEST_BACKEND=aws`, set by `make test` for the emulator pass).
pub fn aws_backend() -> bool {
    std::env::var("SUBSIDY_TEST_BACKEND").is_ok_and(|b| b == "aws")
}

impl TestApp {
    /// A fresh stack with demo accounts and data, on the backend this test
    /// run targets.
    pub async fn spawn() -> TestApp {
        if aws_backend() { TestApp::spawn_aws().await } else { TestApp::spawn_standalone().await }
    }

    /// A fresh stack on the backend this run targets, under the policy file
    /// `policy_json` (its window moved to open now, as `serve --demo`
    /// does) instead of the built-in Shenzhen policy.
    pub async fn spawn_with_policy(policy_json: &str) -> TestApp {
        if aws_backend() {
            return TestApp::on_aws_with(None, None, Some(policy_json)).await;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("policy.json");
        std::fs::write(&file, policy_json).expect("policy file");
        let config = Config { policy_file: Some(file), ..Config::for_tests(dir.path()) };
        TestApp::standalone(dir, config, Utc::now()).await
    }

    /// A fresh standalone stack, whatever the run targets (for tests that
    /// look inside SQLite or the data directory).
    pub async fn spawn_standalone() -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        TestApp::start_in(dir, Utc::now()).await
    }

    /// A fresh stack on the AWS emulator.
    pub async fn spawn_aws() -> TestApp {
        TestApp::spawn_aws_with(None).await
    }

    /// A fresh stack on the AWS emulator whose functions' requests go
    /// through `interceptor` (after the demo data is seeded).
    pub async fn spawn_aws_with(interceptor: Option<aws_sdk_dynamodb::config::SharedInterceptor>) -> TestApp {
        TestApp::on_aws(interceptor, None).await
    }

    /// A fresh stack on the backend this run targets whose only accepted
    /// tokens are `issuer`'s (for `audience`): standalone with
    /// `--oidc-issuer` and no demo (no dev login, no demo data); on the
    /// emulator, behind the issuer as behind API Gateway's JWT authorizer.
    pub async fn spawn_with_oidc(issuer: &str, audience: &str) -> TestApp {
        if aws_backend() {
            let oidc = subsidy_infra::oidc::OidcVerifier::discover(issuer, audience).await.expect("discovery");
            return TestApp::on_aws(None, Some(Arc::new(oidc))).await;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let config = Config {
            demo: false,
            oidc: Some(subsidy_standalone::OidcSettings { issuer: issuer.into(), audience: audience.into() }),
            ..Config::for_tests(dir.path())
        };
        TestApp::standalone(dir, config, Utc::now()).await
    }

    async fn on_aws(
        interceptor: Option<aws_sdk_dynamodb::config::SharedInterceptor>,
        oidc: Option<Arc<subsidy_infra::oidc::OidcVerifier>>,
    ) -> TestApp {
        TestApp::on_aws_with(interceptor, oidc, None).await
    }

    async fn on_aws_with(
        interceptor: Option<aws_sdk_dynamodb::config::SharedInterceptor>,
        oidc: Option<Arc<subsidy_infra::oidc::OidcVerifier>>,
        policy_json: Option<&str>,
    ) -> TestApp {
        pii::capture_logs();
        let clock = Arc::new(TestClock(Mutex::new(Utc::now())));
        let keys = Arc::new(subsidy_infra::jwt::Hs256::new(
            b"emulator-tests-secret-emulator-te",
            subsidy_standalone::ISSUER,
            subsidy_standalone::AUDIENCE,
        ));
        let sms = sms::SmsDouble::start().await;
        let gateway = Arc::new(subsidy_infra::sms_http::HttpGateway::new(&sms.url, sms.secret.as_bytes()));
        let stack =
            aws::AwsStack::start_behind(clock.clone(), keys.clone(), interceptor, oidc, Some(gateway), policy_json)
                .await;
        learn_demo_numbers(&stack.services).await;
        TestApp {
            base: format!("http://{}", stack.addr),
            client: reqwest::Client::new(),
            clock,
            services: stack.services.clone(),
            keys,
            backend: Backend::Aws(Box::new(stack)),
            sms,
            _pii: pii::Report,
        }
    }

    async fn start_in(dir: tempfile::TempDir, now: DateTime<Utc>) -> TestApp {
        let config = Config::for_tests(dir.path());
        TestApp::standalone(dir, config, now).await
    }

    async fn standalone(dir: tempfile::TempDir, config: Config, now: DateTime<Utc>) -> TestApp {
        pii::capture_logs();
        let clock = Arc::new(TestClock(Mutex::new(now)));
        let sms = sms::SmsDouble::start().await;
        let config = Config {
            sms_gateway: Some(subsidy_standalone::SmsGatewaySettings {
                url: sms.url.clone(),
                secret: sms.secret.clone(),
            }),
            ..config
        };
        let stack = Stack::start(config, clock.clone()).await.expect("stack starts");
        learn_demo_numbers(&stack.services).await;
        TestApp {
            base: stack.url(),
            client: reqwest::Client::new(),
            clock,
            services: stack.services.clone(),
            keys: stack.keys.clone(),
            backend: Backend::Standalone { stack, dir },
            sms,
            _pii: pii::Report,
        }
    }

    /// The standalone stack; panics on the AWS backend.
    pub fn stack(&self) -> &Stack {
        match &self.backend {
            Backend::Standalone { stack, .. } => stack,
            Backend::Aws(_) => panic!("this test looks inside the standalone stack"),
        }
    }

    /// The SQLite store; panics on the AWS backend.
    pub fn sqlite(&self) -> &subsidy_infra::sqlite::SqliteStore {
        &self.stack().store
    }

    /// The standalone data directory; panics on the AWS backend.
    pub fn data_dir(&self) -> &std::path::Path {
        match &self.backend {
            Backend::Standalone { dir, .. } => dir.path(),
            Backend::Aws(_) => panic!("this test looks inside the standalone data directory"),
        }
    }

    /// The emulator stack; panics on the standalone backend.
    pub fn aws(&self) -> &aws::AwsStack {
        match &self.backend {
            Backend::Aws(a) => a,
            Backend::Standalone { .. } => panic!("this test needs the AWS emulator"),
        }
    }

    /// Stops the server and starts a new one on the same data directory, as
    /// after a crash or a redeploy (standalone).
    pub async fn restart(self) -> TestApp {
        let now = self.clock.now();
        match self.backend {
            Backend::Standalone { stack, dir } => {
                stack.stop().await.expect("stack stops");
                TestApp::start_in(dir, now).await
            }
            Backend::Aws(_) => panic!("restart is a standalone scenario"),
        }
    }

    /// Delivers every pending event, as the dispatcher (standalone) or the
    /// event-source mappings (AWS) would, and returns how many.
    pub async fn drain(&self) -> u64 {
        match &self.backend {
            Backend::Standalone { stack, .. } => {
                let d = stack.dispatcher.drain().await.expect("dispatcher pass");
                assert_eq!(d.failed, 0, "a delivery failed");
                d.delivered
            }
            Backend::Aws(a) => {
                let p = a.pump().await;
                assert_eq!(p.failures, 0, "a delivery failed: {p:?}");
                p.stream_records + p.messages
            }
        }
    }

    /// From now on every event and message is handed to its consumer twice,
    /// on either backend (the duplicate-delivery suite).
    pub fn deliver_everything_twice(&self) {
        self.deliver_twice(true)
    }

    /// Back to delivering each event and message once.
    pub fn deliver_everything_once(&self) {
        self.deliver_twice(false)
    }

    fn deliver_twice(&self, on: bool) {
        match &self.backend {
            Backend::Standalone { stack, .. } => stack.dispatcher.deliver_everything_twice(on),
            Backend::Aws(a) => a.deliver_everything_twice(on),
        }
    }

    /// How many records of a kind are stored: "applications", "claims",
    /// "companies", "projects" or "documents".
    pub async fn count(&self, table: &'static str) -> u64 {
        match &self.backend {
            Backend::Standalone { stack, .. } => stack.store.count(table).await.expect("count"),
            Backend::Aws(a) => {
                let (pk, sk) = match table {
                    "applications" => ("APP#", "APP"),
                    "claims" => ("CLAIM#", "CLAIM"),
                    "companies" => ("COMPANY#", "COMPANY"),
                    "projects" => ("PROJECT#", "PROJECT"),
                    "documents" => ("APP#", "DOC#"),
                    other => panic!("no count for {other}"),
                };
                a.store.count_kind(pk, sk).await.expect("count")
            }
        }
    }

    /// A session for a demo account.
    pub async fn login(&self, username: &str) -> User<'_> {
        let r = self.call(None, "POST", "/api/v1/auth/dev-login", Some(json!({"username": username})), &[]).await;
        let token = r.ok()["token"].as_str().expect("token").to_string();
        User { app: self, token: Some(token) }
    }

    /// A token for a staff member whom this puts into the staff directory
    /// first (created if absent) with one assignment: tokens identify, the
    /// directory authorises. The token's claims carry nothing of the role.
    pub async fn staff_token(&self, sub: &str, role: &str, unit: &str) -> String {
        let role = subsidy_core::identity::Role::parse(role).expect("a staff role");
        self.services.directory().seed(sub, &format!("{role} {unit}"), &[(role, unit)]).await.expect("directory seed");
        self.keys.sign(&json!({"sub": sub, "name": format!("{role} {unit}")}), Utc::now().timestamp(), 3600)
    }

    /// A token the standalone server accepts with these claims (identity
    /// only: a staff role claim grants nothing).
    pub fn token(&self, claims: Value) -> String {
        self.keys.sign(&claims, Utc::now().timestamp(), 3600)
    }

    /// A project manager's token, with the verified phone the identity
    /// platform must provide.
    pub fn manager_token(&self, sub: &str, phone: &str) -> String {
        self.token(json!({"sub": sub, "role": "project_manager", "phone_number": phone,
            "phone_number_verified": true, "name": "项目经理"}))
    }

    pub fn anonymous(&self) -> User<'_> {
        User { app: self, token: None }
    }

    pub fn with_token(&self, token: &str) -> User<'_> {
        User { app: self, token: Some(token.to_string()) }
    }

    pub async fn call(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let url = if path.starts_with("http") { path.to_string() } else { format!("{}{}", self.base, path) };
        let mut req = self.client.request(method.parse().expect("method"), url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = &body {
            req = req.json(b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body read");
        if let Some(b) = &body
            && status.is_success()
        {
            pii::learn_from_request(b);
        }
        pii::check_answer(method, path, &text);
        let body =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        Reply { status, body, headers }
    }

    /// Makes a presigned request (`{method, url, headers}`) as a client
    /// must: with every header it names (S3 refuses the request otherwise).
    pub async fn presigned(&self, request: &Value, bytes: &[u8]) -> Reply {
        let method = request["method"].as_str().expect("method");
        let mut req = self.client.request(method.parse().expect("method"), request["url"].as_str().expect("url"));
        for pair in request["headers"].as_array().expect("headers") {
            let (k, v) = (pair[0].as_str().unwrap(), pair[1].as_str().unwrap());
            if !k.eq_ignore_ascii_case("content-length") {
                req = req.header(k, v);
            }
        }
        let resp = req.body(bytes.to_vec()).send().await.expect("request sent");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body read");
        let body =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        Reply { status, body, headers }
    }

    /// Sends raw bytes (for malformed bodies and uploads).
    pub async fn raw(&self, token: Option<&str>, method: &str, url: &str, content_type: &str, bytes: Vec<u8>) -> Reply {
        let url = if url.starts_with("http") { url.to_string() } else { format!("{}{}", self.base, url) };
        let sent: Option<Value> = serde_json::from_slice(&bytes).ok();
        let mut req =
            self.client.request(method.parse().expect("method"), &url).header("content-type", content_type).body(bytes);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body read");
        if let Some(b) = &sent
            && status.is_success()
        {
            pii::learn_from_request(b);
        }
        pii::check_answer(method, &url, &text);
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply { status, body, headers }
    }
}

/// Teaches the personal-data guard the demo data's full numbers: the
/// companies' contact phones and accounts, their managers' phones.
async fn learn_demo_numbers(services: &subsidy_core::Services) {
    for account in subsidy_standalone::demo::ACCOUNTS {
        if let Some(p) = account.phone_number {
            pii::learn(p);
        }
        if account.role != subsidy_core::identity::Role::Company {
            continue;
        }
        let actor = subsidy_standalone::demo::actor(services, account.username).expect("demo actor");
        if let Some(c) = services.ports.companies.company_of_owner(&actor.user_id).await.expect("company read") {
            pii::learn(c.profile.contact_phone.as_str());
            pii::learn(c.profile.bank_account.account_number.as_str());
            let page = subsidy_core::ports::PageRequest::first(100);
            for p in
                services.ports.projects.projects_of_owner(&actor.user_id, &page).await.expect("projects read").items
            {
                pii::learn(p.details.manager_phone.as_str());
            }
        }
    }
}

/// A signed-in demo user.
pub struct User<'a> {
    pub app: &'a TestApp,
    pub token: Option<String>,
}

/// A minimal valid PDF, PNG and JPEG.
pub const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n";
pub const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0\x90wS\xde";
pub const JPEG: &[u8] = b"\xff\xd8\xff\xe0\0\x10JFIF\0\x01\x01\0\0\x01\0\x01\0\0\xff\xd9";

impl User<'_> {
    pub async fn get(&self, path: &str) -> Reply {
        self.app.call(self.token.as_deref(), "GET", path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.app.call(self.token.as_deref(), "POST", path, Some(body), &[]).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.app.call(self.token.as_deref(), "PUT", path, Some(body), &[]).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.app.call(self.token.as_deref(), "PATCH", path, Some(body), &[]).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.app.call(self.token.as_deref(), "DELETE", path, None, &[]).await
    }

    pub async fn post_with_key(&self, path: &str, body: Value, key: &str) -> Reply {
        self.app.call(self.token.as_deref(), "POST", path, Some(body), &[("Idempotency-Key", key)]).await
    }

    /// The id of the caller's project with this name.
    pub async fn project_id(&self, name: &str) -> String {
        let page = self.get("/api/v1/projects").await.ok();
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no project {name}"))["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Creates a draft for the named project and returns it.
    pub async fn create_application(&self, project: &str) -> Value {
        let id = self.project_id(project).await;
        self.post("/api/v1/applications", json!({"projectId": id})).await.ok()
    }

    /// Asks for an upload URL and sends the bytes; returns the upload reply.
    pub async fn upload(&self, app_id: &str, kind: &str, content_type: &str, bytes: &[u8]) -> Reply {
        let ticket = self
            .post(
                &format!("/api/v1/applications/{app_id}/documents"),
                json!({"kind": kind, "fileName": format!("{kind}.bin"), "contentType": content_type, "size": bytes.len()}),
            )
            .await
            .ok();
        self.app.presigned(&ticket["upload"], bytes).await
    }

    /// Uploads the two required documents.
    pub async fn upload_required(&self, app_id: &str) {
        self.upload(app_id, "service_contract", "application/pdf", PDF).await.ok();
        self.upload(app_id, "area_proof", "image/png", PNG).await.ok();
    }

    pub async fn application(&self, id: &str) -> Value {
        self.get(&format!("/api/v1/applications/{id}")).await.ok()
    }

    /// POSTs an action with the application's current version.
    pub async fn act(&self, id: &str, action_path: &str, mut body: Value) -> Reply {
        let version = self.app_version(id).await;
        body["version"] = version.into();
        self.post(&action_path.replace("{id}", id), body).await
    }

    /// A district reviewer opens the application's full account, then
    /// verifies it (`confirm` for a holder who is not the company by name).
    /// Returns the verification's reply.
    pub async fn reveal_and_verify(&self, id: &str, confirm: bool) -> Reply {
        let base = format!("/api/v1/review/district/applications/{id}");
        let opened = self.act(id, &format!("{base}/reveal-bank-account"), json!({})).await.ok();
        let version = opened["version"].clone();
        self.post(&format!("{base}/verify-bank-account"), json!({"version": version, "confirmHolderName": confirm}))
            .await
    }

    pub async fn app_version(&self, id: &str) -> u64 {
        self.get(&format!("/api/v1/applications/{id}")).await.body["version"].as_u64().unwrap_or(0)
    }
}

/// Drives a fresh application for company-a's 南园花园 to `pending_community`.
pub async fn submitted_and_confirmed(app: &TestApp) -> String {
    let company = app.login("company-a").await;
    let created = company.create_application("南园花园").await;
    let id = created["id"].as_str().unwrap().to_string();
    company.upload_required(&id).await;
    company.act(&id, "/api/v1/applications/{id}/submit", json!({})).await.ok();
    let pm = app.login("pm-a").await;
    pm.act(&id, "/api/v1/applications/{id}/confirm-area", json!({})).await.ok();
    id
}

/// Creates a project of `company` in 南园社区 managed by `pm` (pm-a), applies
/// for it, uploads the required documents, submits, and has the manager
/// confirm the area: the application waits at `pending_community`.
/// Returns the project and the application's id.
pub async fn submitted_for_new_project(company: &User<'_>, pm: &User<'_>, name: &str, area: &str) -> (Value, String) {
    let project = company
        .post(
            "/api/v1/projects",
            json!({"name": name, "address": "南园路", "community": "440304001020", "managedArea": area,
                   "managerName": "王项目经理", "managerPhone": "13800138001"}),
        )
        .await
        .ok();
    let id = company.post("/api/v1/applications", json!({"projectId": project["id"]})).await.ok()["id"]
        .as_str()
        .unwrap()
        .to_string();
    company.upload_required(&id).await;
    company.act(&id, "/api/v1/applications/{id}/submit", json!({})).await.ok();
    pm.act(&id, "/api/v1/applications/{id}/confirm-area", json!({})).await.ok();
    (project, id)
}

/// Creates `n` more projects of company-a in 南园社区 and takes an
/// application for each through every tier to `approved`. Returns their ids.
pub async fn approved_applications(app: &TestApp, n: usize) -> Vec<String> {
    let company = app.login("company-a").await;
    let names: Vec<String> =
        (0..n).map(|i| format!("付款项目{i}-{}", app.clock.now().timestamp_micros() % 100_000)).collect();
    approved_projects(app, &company, &names).await
}

/// Creates one project per name for `company` in 南园社区 (pm-a manages
/// them) and takes an application for each through every tier to
/// `approved`. Returns their ids.
pub async fn approved_projects(app: &TestApp, company: &User<'_>, names: &[String]) -> Vec<String> {
    let pm = app.login("pm-a").await;
    let mut ids = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let area = format!("{}.{:02}", 1000 + 37 * i, (13 * i) % 100);
        ids.push(submitted_for_new_project(company, &pm, name, &area).await.1);
    }
    for (user, tier) in
        [("community-nanyuan", "community"), ("subdistrict-nanyuan", "subdistrict"), ("district-futian", "district")]
    {
        let r = app.login(user).await;
        for id in &ids {
            r.act(id, &format!("/api/v1/review/{tier}/applications/{{id}}/approve"), json!({})).await.ok();
        }
    }
    app.drain().await;
    ids
}
