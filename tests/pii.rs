//! The personal-data guard every suite runs under.
//!
//! Phone numbers and bank account numbers are shown masked in every answer
//! of the API; only finance's batch file carries account numbers in full.
//! The guard learns the full numbers the suites enter (the demo data's, and
//! every `contactPhone`, `managerPhone` and `accountNumber` of a request
//! that succeeded) and then searches every answer [`crate::TestApp`] reads,
//! and every log line the process writes while the suites run, for any of
//! them. A hit fails the test that made the request, naming the route.
//!
//! (The system stores no ID numbers, so there are none to search for.)

use std::collections::BTreeSet;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use serde_json::Value;
use subsidy_core::fields::{AccountNumber, Phone};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The full numbers learned so far, shared by every test of a process.
fn secrets() -> &'static Mutex<BTreeSet<String>> {
    static SECRETS: OnceLock<Mutex<BTreeSet<String>>> = OnceLock::new();
    SECRETS.get_or_init(|| Mutex::new(BTreeSet::new()))
}

/// Log lines that carried a full number, as found (masked in the report).
static LEAKED_LOGS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static ANSWERS_CHECKED: AtomicU64 = AtomicU64::new(0);
static LOG_LINES_CHECKED: AtomicU64 = AtomicU64::new(0);

/// How much the guard has searched in this process: (answers, log lines).
pub fn checked() -> (u64, u64) {
    (ANSWERS_CHECKED.load(Ordering::Relaxed), LOG_LINES_CHECKED.load(Ordering::Relaxed))
}

/// Writes how much this test binary has searched so far to
/// `target/reliability/pii-<binary>[-aws].txt` when dropped (each
/// [`crate::TestApp`] holds one), for docs/RELIABILITY.md.
pub struct Report;

impl Drop for Report {
    fn drop(&mut self) {
        let exe = std::env::current_exe().ok();
        let stem = exe.as_ref().and_then(|e| e.file_stem()).and_then(|s| s.to_str()).unwrap_or("tests");
        let binary = stem.rsplit_once('-').map_or(stem, |(name, _hash)| name);
        let backend = if crate::aws_backend() { "-aws" } else { "" };
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/reliability");
        let (answers, lines) = checked();
        let _ = std::fs::create_dir_all(&dir).and_then(|()| {
            std::fs::write(
                dir.join(format!("pii-{binary}{backend}.txt")),
                format!("{answers} answers, {lines} log lines\n"),
            )
        });
    }
}

/// Remembers a full phone or account number to search for.
pub fn learn(number: &str) {
    if let Ok(p) = Phone::parse(number) {
        secrets().lock().unwrap().insert(p.as_str().to_string());
    } else if let Ok(a) = AccountNumber::parse(number) {
        secrets().lock().unwrap().insert(a.as_str().to_string());
    }
}

/// Learns the numbers a request body enters.
pub fn learn_from_request(body: &Value) {
    match body {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("contactPhone" | "managerPhone" | "accountNumber" | "phone_number", Value::String(s)) => learn(s),
                    _ => learn_from_request(v),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(learn_from_request),
        _ => {}
    }
}

/// The first learned number `text` contains, in full (never to be printed:
/// reports show it through [`mask`] and [`redacted`]).
fn first_secret(text: &str) -> Option<String> {
    secrets().lock().unwrap().iter().find(|s| text.contains(s.as_str())).cloned()
}

/// `text` with `number` taken out, for a report that must not repeat it.
fn redacted(text: &str, number: &str) -> String {
    text.replace(number, "…")
}

fn mask(s: &str) -> String {
    format!("{}…{}", &s[..3], &s[s.len() - 4..])
}

/// Fails if an answer, or a log line written since, carries a full number.
/// `url` is what was requested: a presigned download of finance's batch
/// file is the one place account numbers are in full.
pub fn check_answer(method: &str, url: &str, text: &str) {
    ANSWERS_CHECKED.fetch_add(1, Ordering::Relaxed);
    // The treasury file, and the district reviewer's purpose-bound view of
    // the account to verify, carry it in full; nothing else does.
    let purpose_bound =
        url.contains("/exports/batches/") || (url.ends_with("/reveal-bank-account") && method == "POST");
    if !purpose_bound && let Some(hit) = first_secret(text) {
        panic!("{method} {url}: the answer carries the full number {}: {}", mask(&hit), redacted(text, &hit));
    }
    assert_no_leaked_logs();
}

/// Fails if any log line so far carried a full number.
pub fn assert_no_leaked_logs() {
    let leaked = LEAKED_LOGS.lock().unwrap();
    assert!(leaked.is_empty(), "log lines carry full personal numbers: {leaked:?}");
}

/// What a log line leaks, reported without the number itself.
fn scan_line(line: &str) -> Option<String> {
    let hit = first_secret(line)?;
    Some(format!("{} in: {}", mask(&hit), redacted(line, &hit)))
}

/// A log writer that searches every line for learned numbers and keeps
/// nothing else (the test harness does not capture a subscriber's output).
pub struct ScanWriter;

impl io::Write for ScanWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        for line in text.lines() {
            LOG_LINES_CHECKED.fetch_add(1, Ordering::Relaxed);
            if let Some(leak) = scan_line(line) {
                LEAKED_LOGS.lock().unwrap().push(leak);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Installs the scanning subscriber once per process: this workspace's
/// crates at trace level (everything they could log), the rest at info.
pub fn capture_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let ours = ["subsidy_core", "subsidy_infra", "subsidy_standalone", "subsidy_api"]
            .into_iter()
            .chain(["submission", "review", "dispatch", "aggregation", "disbursement", "tower_http"])
            .map(|c| format!("{c}=trace"))
            .collect::<Vec<_>>()
            .join(",");
        let filter = subsidy_infra::telemetry::filter(Some(&format!("info,{ours}")), "info");
        let _ = tracing_subscriber::registry()
            .with(filter)
            .with(tracing_subscriber::fmt::layer().with_writer(|| ScanWriter))
            .try_init();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_only_well_formed_numbers_from_the_fields_that_carry_them() {
        learn_from_request(&serde_json::json!({
            "contactPhone": "139 0013 9555", "name": "13900139556",
            "bankAccount": {"accountNumber": "6222-0200-5555-1234"},
            "items": [{"managerPhone": "13900139557"}, {"managerPhone": "12"}]
        }));
        assert_eq!(first_secret("x13900139555x").as_deref(), Some("13900139555"));
        assert_eq!(first_secret("6222020055551234").as_deref(), Some("6222020055551234"));
        assert_eq!(first_secret("13900139557").as_deref(), Some("13900139557"));
        assert_eq!(first_secret("13900139556"), None, "a name is not a phone field");
        assert_eq!(first_secret("139****9555 ****1234"), None, "masked forms pass");
    }

    #[test]
    #[should_panic(expected = "carries the full number 139…9558")]
    fn an_answer_with_a_full_number_fails() {
        learn("13900139558");
        check_answer("GET", "/api/v1/company", r#"{"contactPhone":"13900139558"}"#);
    }

    #[test]
    fn a_log_line_with_a_full_number_is_reported_without_it() {
        learn("6222020055557777");
        let leak = scan_line("INFO payee=6222020055557777 batch=B1").expect("found");
        assert_eq!(leak, "622…7777 in: INFO payee=… batch=B1");
        assert_eq!(scan_line("INFO payee=****7777 phone=139****9555"), None);
    }

    #[test]
    fn the_batch_file_download_may_carry_account_numbers() {
        learn("6222020055559999");
        check_answer("GET", "http://h/exports/batches/B1/batch-B1.csv?X-Amz=1", "6222020055559999,100.00");
    }
}
