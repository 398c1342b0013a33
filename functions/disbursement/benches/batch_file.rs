//! Writing a 100,000-line treasury file: time, and how much the process's
//! peak memory grows (it should stay flat: lines are streamed to disk).
//!
//!     cargo bench -p disbursement --no-default-features --bench batch_file

use std::time::Instant;

use chrono::Utc;
use disbursement::files::{CsvFile, XlsxFile};
use subsidy_core::fields::{AccountNumber, BankAccount, Text};
use subsidy_core::money::Fen;
use subsidy_core::payout::{Batch, BatchState, LineStatus, PaymentLine};

/// The process's peak resident memory so far, in KiB (Linux).
fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    // `cargo test --all-targets` runs benchmarks once as tests: keep that quick.
    let n: u64 = if std::env::args().any(|a| a == "--bench") { 100_000 } else { 1_000 };
    let now = Utc::now();
    let batch = Batch {
        id: "01BENCHBATCH00000000000000".into(),
        policy_id: "p".into(),
        district: "440304".into(),
        state: BatchState::Ready,
        version: 2,
        note: None,
        created_by: "bench".into(),
        created_at: now,
        released_by: None,
        released_at: None,
        line_count: n,
        total: Fen::new(n as i64 * 1_234_567).unwrap(),
        paid_count: 0,
        paid: Fen::ZERO,
        failed_count: 0,
        failed: Fen::ZERO,
        left_out_for_budget: 0,
        updated_at: now,
        audit_seq: 1,
        audit_head: String::new(),
        sealed: true,
        builders: vec!["bench".into()],
    };
    let payee = BankAccount {
        bank_name: Text::parse("中国工商银行深圳分行", 100).unwrap(),
        account_name: Text::parse("深圳市安居物业服务有限公司", 100).unwrap(),
        account_number: AccountNumber::parse("4000021234567890123").unwrap(),
    };
    let dir = tempfile::tempdir().unwrap();
    let before = peak_kib();
    let started = Instant::now();
    let mut csv = CsvFile::create(&dir.path().join("b.csv"), &batch).unwrap();
    let mut xlsx = XlsxFile::create(&batch).unwrap();
    for i in 0..n {
        // One line at a time, as the export consumer reads them page by page.
        let line = PaymentLine {
            id: format!("01LINE{i:020}"),
            batch_id: batch.id.clone(),
            application_id: format!("01APP{i:021}"),
            company_name: "深圳市安居物业服务有限公司".into(),
            credit_code: "91440300MA5D000015".into(),
            project_name: format!("南园花园{i}"),
            payee: payee.clone(),
            amount: Fen::new(1_234_567).unwrap(),
            status: LineStatus::Pending,
            reason: None,
            revises: None,
            created_at: now,
            settled_at: None,
        };
        csv.line(&line).unwrap();
        xlsx.line(&line).unwrap();
    }
    csv.finish().unwrap();
    xlsx.finish(&dir.path().join("b.xlsx")).unwrap();
    let elapsed = started.elapsed();
    let size = |f: &str| std::fs::metadata(dir.path().join(f)).map(|m| m.len()).unwrap_or(0);
    println!(
        "{n} lines: {:.2} s; CSV {:.1} MB, XLSX {:.1} MB; peak memory grew {:.1} MB ({} KiB → {} KiB)",
        elapsed.as_secs_f64(),
        size("b.csv") as f64 / 1e6,
        size("b.xlsx") as f64 / 1e6,
        (peak_kib().saturating_sub(before)) as f64 / 1024.0,
        before,
        peak_kib()
    );
}
