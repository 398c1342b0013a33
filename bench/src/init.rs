//! `subsidy bench-init`: how long each Lambda function binary takes from
//! exec until it asks the runtime API for its first event, measured against
//! a local stub of the runtime API, next to a hello-world `lambda_runtime`
//! binary built the same way. No AWS account is involved: the functions are
//! given names of resources they never reach, since init touches no network.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use axum::extract::State;
use axum::routing::{get, post};
use serde::Serialize;
use tokio::sync::oneshot;

#[derive(clap::Args, Debug)]
pub struct InitArgs {
    /// A binary to measure, as name=path; `hello` is the yardstick.
    #[arg(long = "bin", required = true)]
    pub bins: Vec<String>,
    /// Cold starts per binary.
    #[arg(long, default_value_t = 30)]
    pub runs: usize,
    #[arg(long, default_value = "target/bench")]
    pub out: PathBuf,
    /// The CA bundle the functions read, as `SSL_CERT_FILE` (the children
    /// start with an empty environment, so the caller's own variable never
    /// reaches them). Without it they read the system bundle.
    #[arg(long)]
    pub ssl_cert_file: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InitResult {
    pub name: String,
    pub binary_bytes: u64,
    pub runs: usize,
    pub median_ms: f64,
    pub p90_ms: f64,
    pub min_ms: f64,
    /// Median ÷ the hello-world binary's median.
    pub ratio_to_hello: Option<f64>,
}

type Waiter = Arc<Mutex<Option<oneshot::Sender<Result<Instant, String>>>>>;

/// The first request every runtime makes: it is the end of init. The
/// answer never comes; the process is killed instead.
async fn next(State(w): State<Waiter>) -> &'static str {
    let at = Instant::now();
    if let Some(tx) = w.lock().expect("waiter lock").take() {
        let _ = tx.send(Ok(at));
    }
    std::future::pending::<()>().await;
    ""
}

async fn init_error(State(w): State<Waiter>, body: String) -> &'static str {
    if let Some(tx) = w.lock().expect("waiter lock").take() {
        let _ = tx.send(Err(body));
    }
    "{}"
}

/// KMS's GenerateMac, answered locally: the functions derive the audit
/// chains' key from the stack's KMS HMAC key at init, so the round trip is
/// part of what init costs (here on loopback; in a region a few ms more).
async fn kms_generate_mac() -> ([(axum::http::header::HeaderName, &'static str); 1], &'static str) {
    (
        [(axum::http::header::CONTENT_TYPE, "application/x-amz-json-1.1")],
        r#"{"Mac":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","KeyId":"bench","MacAlgorithm":"HMAC_SHA_256"}"#,
    )
}

pub async fn run(args: InitArgs) -> anyhow::Result<Vec<InitResult>> {
    ensure!(args.runs > 0, "--runs must be at least 1");
    let waiter: Waiter = Arc::default();
    let app = axum::Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .route("/", post(kms_generate_mac))
        .with_state(waiter.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api = listener.local_addr()?.to_string();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut results = Vec::new();
    for spec in &args.bins {
        let (name, path) = spec.split_once('=').with_context(|| format!("--bin {spec}: expected name=path"))?;
        let path = PathBuf::from(path);
        ensure!(path.is_file(), "{}: no such binary", path.display());
        let mut samples = Vec::with_capacity(args.runs);
        // One warm-up run to page the binary into the cache, like a
        // Lambda host that has the image locally.
        cold_start(&path, name, &api, &waiter, args.ssl_cert_file.as_deref()).await?;
        for _ in 0..args.runs {
            samples.push(cold_start(&path, name, &api, &waiter, args.ssl_cert_file.as_deref()).await?);
        }
        samples.sort_by(f64::total_cmp);
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        results.push(InitResult {
            name: name.to_string(),
            binary_bytes: std::fs::metadata(&path)?.len(),
            runs: samples.len(),
            median_ms: at(0.5),
            p90_ms: at(0.9),
            min_ms: samples[0],
            ratio_to_hello: None,
        });
    }
    if let Some(hello) = results.iter().find(|r| r.name == "hello").map(|r| r.median_ms) {
        for r in &mut results {
            r.ratio_to_hello = Some(r.median_ms / hello);
        }
    }
    std::fs::create_dir_all(&args.out)?;
    std::fs::write(args.out.join("bench-init.json"), serde_json::to_vec_pretty(&results)?)?;
    std::fs::write(args.out.join("bench-init.md"), markdown(&results, args.runs))?;
    Ok(results)
}

async fn cold_start(
    path: &Path,
    name: &str,
    api: &str,
    waiter: &Waiter,
    ssl_cert_file: Option<&Path>,
) -> anyhow::Result<f64> {
    let (tx, rx) = oneshot::channel();
    *waiter.lock().expect("waiter lock") = Some(tx);
    let policy = subsidy_infra::data::SHENZHEN_POLICY;
    let started = Instant::now();
    let mut command = tokio::process::Command::new(path);
    command.env_clear();
    if let Some(file) = ssl_cert_file {
        command.env("SSL_CERT_FILE", file);
    }
    let mut child = command
        .env("AWS_LAMBDA_RUNTIME_API", api)
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("TABLE_NAME", "subsidy")
        .env("BUCKET_NAME", "documents")
        .env("EXPORT_BUCKET_NAME", "exports")
        .env("EXPORT_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/000000000000/export")
        .env("QUEUE_URL_COMMUNITY", "https://sqs.us-east-1.amazonaws.com/000000000000/community")
        .env("QUEUE_URL_SUBDISTRICT", "https://sqs.us-east-1.amazonaws.com/000000000000/subdistrict")
        .env("QUEUE_URL_DISTRICT", "https://sqs.us-east-1.amazonaws.com/000000000000/district")
        .env("DEAD_LETTER_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/000000000000/dead-letters")
        .env("TIER", "community")
        .env("POLICY_JSON", policy)
        .env("AUDIT_KEY_ID", "arn:aws:kms:us-east-1:000000000000:key/bench")
        .env("AWS_ENDPOINT_URL_KMS", format!("http://{api}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", path.display()))?;
    let outcome = tokio::time::timeout(Duration::from_secs(10), rx).await;
    let _ = child.start_kill();
    let out = child.wait_with_output().await?;
    match outcome {
        Ok(Ok(Ok(at))) => Ok(at.duration_since(started).as_secs_f64() * 1000.0),
        Ok(Ok(Err(body))) => bail!("{name} reported an init error: {body}"),
        _ => bail!("{name} did not ask for an event within 10 s: {}", String::from_utf8_lossy(&out.stderr)),
    }
}

fn markdown(results: &[InitResult], runs: usize) -> String {
    let mut s = format!(
        "{runs} cold starts each, from exec to the first request for an event.\n\n| binary | size | init median | p90 | min | ÷ hello |\n|---|---:|---:|---:|---:|---:|\n"
    );
    for r in results {
        s.push_str(&format!(
            "| {} | {:.1} MB | {:.2} ms | {:.2} ms | {:.2} ms | {} |\n",
            r.name,
            r.binary_bytes as f64 / 1e6,
            r.median_ms,
            r.p90_ms,
            r.min_ms,
            r.ratio_to_hello.map_or("—".into(), |x| format!("{x:.2}×"))
        ));
    }
    s
}
