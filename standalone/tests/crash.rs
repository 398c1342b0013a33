//! Crash durability: the real `subsidy serve` under load, killed with
//! SIGKILL at random moments, round after round, on one data directory.
//!
//! After every restart, every request that got a 2xx is there, at least at
//! the version it was acknowledged with. At the end, every outbox event is
//! delivered (none pending, none dead), the live totals equal a full
//! recount (`subsidy stats reconcile` finds no drift), and every audit chain
//! verifies (`subsidy audit-verify`). The figures go to
//! `target/reliability/crash.json` for docs/RELIABILITY.md.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use subsidy_bench::server::Server;
use subsidy_infra::jwt::Hs256;
use subsidy_standalone::{AUDIENCE, ISSUER};

const ROUNDS: usize = 12;
const WORKERS: usize = 8;
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0\x90wS\xde";

/// What a 2xx promised: this company's application exists at least at
/// this version.
#[derive(Clone, Debug)]
struct Ack {
    owner: String,
    application: Option<(String, u64)>,
}

fn exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_subsidy"))
}

fn serve_args(dir: &Path) -> Vec<String> {
    let d = dir.display().to_string();
    [
        "--data-dir",
        &d,
        "serve",
        "--demo",
        "--addr",
        "127.0.0.1:0",
        "--nightly-every-hours",
        "0",
        "--web-dir",
        &format!("{d}/no-web"),
    ]
    .map(String::from)
    .to_vec()
}

struct Api {
    http: reqwest::Client,
    base: String,
    keys: Hs256,
}

impl Api {
    fn token(&self, owner: &str) -> String {
        self.keys.sign(
            &json!({"sub": owner, "role": "company", "name": "经办人"}),
            chrono::Utc::now().timestamp(),
            3600,
        )
    }

    async fn send(
        &self,
        owner: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let mut req = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(self.token(owner));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let body: Value = resp.json().await.map_err(|e| e.to_string())?;
        if status.is_success() { Ok(body) } else { Err(format!("{status} {body}")) }
    }
}

/// One worker: companies through registration, project, application, two
/// documents and submission, recording each acknowledged step, until the
/// server dies under it.
async fn worker(api: Arc<Api>, acks: Arc<Mutex<Vec<Ack>>>, round: usize, w: usize) {
    for i in 0.. {
        let n = round * 100_000 + w * 10_000 + i;
        let owner = format!("crash-{n}");
        let code = subsidy_core::company::credit_code::CreditCode::with_check_character(&format!(
            "91440300{:09}",
            500_000_000 + n
        ))
        .unwrap();
        let name = format!("崩溃测试物业{n}");
        let profile = json!({"creditCode": code.as_str(), "name": name, "legalRepresentative": "法人",
            "contactName": "经办人", "contactPhone": "13800138000",
            "bankAccount": {"bankName": "中国银行", "accountName": name, "accountNumber": format!("6217{n:012}")}});
        if api.send(&owner, reqwest::Method::PUT, "/company", Some(profile)).await.is_err() {
            return;
        }
        acks.lock().unwrap().push(Ack { owner: owner.clone(), application: None });
        let project = json!({"name": format!("崩溃花园{n}"), "address": "南园路", "community": "440304001020",
            "managedArea": "1234.56", "managerName": "王项目经理", "managerPhone": "13800138001"});
        let Ok(p) = api.send(&owner, reqwest::Method::POST, "/projects", Some(project)).await else { return };
        let Ok(a) = api.send(&owner, reqwest::Method::POST, "/applications", Some(json!({"projectId": p["id"]}))).await
        else {
            return;
        };
        let id = a["id"].as_str().unwrap().to_string();
        acks.lock().unwrap().push(Ack { owner: owner.clone(), application: Some((id.clone(), 1)) });
        for (kind, ct, bytes) in [("service_contract", "application/pdf", PDF), ("area_proof", "image/png", PNG)] {
            let ticket = json!({"kind": kind, "fileName": "f.bin", "contentType": ct, "size": bytes.len()});
            let Ok(t) =
                api.send(&owner, reqwest::Method::POST, &format!("/applications/{id}/documents"), Some(ticket)).await
            else {
                return;
            };
            let url = t["upload"]["url"].as_str().unwrap();
            let put = api.http.put(url).header("content-type", ct).body(bytes.to_vec()).send().await;
            if !put.is_ok_and(|r| r.status().is_success()) {
                return;
            }
        }
        let Ok(s) = api
            .send(&owner, reqwest::Method::POST, &format!("/applications/{id}/submit"), Some(json!({"version": 1})))
            .await
        else {
            return;
        };
        let version = s["version"].as_u64().unwrap();
        acks.lock().unwrap().push(Ack { owner, application: Some((id, version)) });
    }
}

/// Every acknowledged write is there; returns how many were checked.
async fn check_acknowledged(api: &Api, acks: &[Ack], round: usize) -> usize {
    for a in acks {
        let company = api.send(&a.owner, reqwest::Method::GET, "/company", None).await;
        assert!(company.is_ok(), "round {round}: acknowledged company of {} is gone: {company:?}", a.owner);
        if let Some((id, version)) = &a.application {
            let app = api
                .send(&a.owner, reqwest::Method::GET, &format!("/applications/{id}"), None)
                .await
                .unwrap_or_else(|e| panic!("round {round}: acknowledged application {id} is gone: {e}"));
            let stored = app["version"].as_u64().unwrap();
            assert!(stored >= *version, "round {round}: {id} acknowledged at v{version}, found v{stored}");
        }
    }
    acks.len()
}

async fn outbox(api: &Api) -> (u64, u64) {
    let h: Value = api.http.get(format!("{}/health", api.base)).send().await.unwrap().json().await.unwrap();
    (h["outbox"]["pending"].as_u64().unwrap(), h["outbox"]["dead"].as_u64().unwrap())
}

fn subsidy(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(exe()).arg("--data-dir").arg(dir).args(args).output().expect("the subsidy binary runs");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_write_survives_sigkill_and_everything_reconciles() {
    let dir = tempfile::tempdir().unwrap();
    let key = [7u8; 32];
    std::fs::write(dir.path().join("secret.key"), hex::encode(key)).unwrap();
    let keys = Hs256::new(&key, ISSUER, AUDIENCE);
    let acks: Arc<Mutex<Vec<Ack>>> = Arc::default();
    let mut rng = rand::rngs::StdRng::seed_from_u64(20_201_127);
    let mut checked = 0;
    for round in 0..ROUNDS {
        let server = Server::spawn(&exe(), &serve_args(dir.path()), "API:").await.expect("the server starts");
        let api = Arc::new(Api { http: reqwest::Client::new(), base: server.url.clone(), keys: keys.clone() });
        let so_far = acks.lock().unwrap().clone();
        checked += check_acknowledged(&api, &so_far, round).await;
        let tasks: Vec<_> = (0..WORKERS).map(|w| tokio::spawn(worker(api.clone(), acks.clone(), round, w))).collect();
        // A random moment: mid-request, mid-commit, mid-delivery.
        tokio::time::sleep(Duration::from_millis(rng.random_range(150..1_200))).await;
        server.kill().await.unwrap();
        for t in tasks {
            t.await.unwrap();
        }
    }
    // The last restart: everything acknowledged is there, and every change
    // is delivered.
    let server = Server::spawn(&exe(), &serve_args(dir.path()), "API:").await.unwrap();
    let api = Api { http: reqwest::Client::new(), base: server.url.clone(), keys: keys.clone() };
    let all = acks.lock().unwrap().clone();
    checked += check_acknowledged(&api, &all, ROUNDS).await;
    let mut delivered = false;
    for _ in 0..600 {
        let (pending, dead) = outbox(&api).await;
        assert_eq!(dead, 0, "a change was dead-lettered");
        if pending == 0 {
            delivered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(delivered, "the outbox never drained");
    server.stop().await.unwrap();

    let (ok, out) = subsidy(dir.path(), &["stats", "reconcile"]);
    assert!(ok, "{out}");
    assert!(out.contains("drift: 0 counters"), "the live totals differ from a recount:\n{out}");
    let (ok, out) = subsidy(dir.path(), &["audit-verify"]);
    assert!(ok && out.contains("OK: every chain verifies"), "{out}");

    let applications = all.iter().filter(|a| a.application.is_some()).count();
    assert!(applications > ROUNDS, "the load did some work each round: {applications}");
    let report = json!({"rounds": ROUNDS, "workers": WORKERS, "acknowledgedWrites": all.len(),
        "acknowledgedApplicationWrites": applications, "checksAfterRestarts": checked});
    println!("crash durability: {report}");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/reliability");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("crash.json"), serde_json::to_string_pretty(&report).unwrap()).unwrap();
}
