//! The bench's HTTP client: every request timed into a histogram per
//! endpoint, every failure an error naming the endpoint and the answer.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use serde_json::Value;

/// Latencies per endpoint label ("POST /applications/{id}/submit"), in µs.
#[derive(Clone, Default)]
pub struct Latencies(Arc<Mutex<BTreeMap<&'static str, Histogram<u64>>>>);

impl Latencies {
    pub fn record(&self, endpoint: &'static str, took: Duration) {
        let mut map = self.0.lock().expect("latency lock");
        let h = map
            .entry(endpoint)
            .or_insert_with(|| Histogram::new_with_bounds(1, 600_000_000, 3).expect("histogram bounds"));
        h.saturating_record(took.as_micros().max(1) as u64);
    }

    pub fn snapshot(&self) -> BTreeMap<&'static str, Histogram<u64>> {
        self.0.lock().expect("latency lock").clone()
    }
}

#[derive(Clone)]
pub struct Client {
    pub base: String,
    http: reqwest::Client,
    pub latencies: Latencies,
}

pub enum Body<'a> {
    None,
    Json(&'a Value),
    Bytes(&'a str, Vec<u8>),
}

impl Client {
    pub fn new(base: &str, concurrency: usize) -> Client {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(concurrency.max(1))
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(600))
            .build()
            .expect("http client");
        Client { base: base.trim_end_matches('/').to_string(), http, latencies: Latencies::default() }
    }

    /// Sends a request, records its latency under `endpoint`, and returns
    /// the JSON answer; a non-2xx answer is an error.
    pub async fn call(
        &self,
        endpoint: &'static str,
        token: Option<&str>,
        method: reqwest::Method,
        path: &str,
        body: Body<'_>,
    ) -> anyhow::Result<Value> {
        let url = if path.starts_with("http") { path.to_string() } else { format!("{}{path}", self.base) };
        let mut req = self.http.request(method.clone(), &url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req = match body {
            Body::None => req,
            Body::Json(v) => req.json(v),
            Body::Bytes(content_type, bytes) => req.header("content-type", content_type).body(bytes),
        };
        let started = Instant::now();
        let resp = req.send().await.with_context(|| format!("{endpoint}: {method} {url}"))?;
        let status = resp.status();
        let bytes = resp.bytes().await.with_context(|| format!("{endpoint}: reading the answer"))?;
        self.latencies.record(endpoint, started.elapsed());
        if !status.is_success() {
            bail!("{endpoint}: {method} {url} answered {status}: {}", String::from_utf8_lossy(&bytes));
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into())))
    }

    pub async fn get(&self, endpoint: &'static str, token: &str, path: &str) -> anyhow::Result<Value> {
        self.call(endpoint, Some(token), reqwest::Method::GET, path, Body::None).await
    }

    pub async fn post(&self, endpoint: &'static str, token: &str, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.call(endpoint, Some(token), reqwest::Method::POST, path, Body::Json(body)).await
    }

    pub async fn put(&self, endpoint: &'static str, token: &str, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.call(endpoint, Some(token), reqwest::Method::PUT, path, Body::Json(body)).await
    }

    /// Downloads bytes (a presigned link), timed like the rest.
    pub async fn download(&self, endpoint: &'static str, url: &str) -> anyhow::Result<Vec<u8>> {
        let started = Instant::now();
        let resp = self.http.get(url).send().await.with_context(|| format!("{endpoint}: GET {url}"))?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        self.latencies.record(endpoint, started.elapsed());
        if !status.is_success() {
            bail!("{endpoint}: GET {url} answered {status}");
        }
        Ok(bytes.to_vec())
    }
}

/// The version an answer carries, for the next optimistic-concurrency call.
pub fn version(v: &Value) -> anyhow::Result<u64> {
    v["version"].as_u64().with_context(|| format!("no version in {v}"))
}

pub fn id(v: &Value) -> anyhow::Result<String> {
    Ok(v["id"].as_str().with_context(|| format!("no id in {v}"))?.to_string())
}
