//! The `subsidy` binary's commands, run as a user runs them.

use std::process::Command;

use subsidy_standalone::{Config, Stack, demo, system_clock};

fn subsidy(data_dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_subsidy"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .expect("binary runs")
}

/// A data directory holding one application with a three-entry audit chain.
async fn data_dir_with_history() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let stack = Stack::start(Config::for_tests(dir.path()), system_clock()).await.unwrap();
    let s = &stack.services;
    let company = demo::actor(s, "company-a").unwrap();
    let project =
        s.company.projects(&company, &subsidy_core::ports::PageRequest::first(10)).await.unwrap().items[0].id.clone();
    let app = s
        .applications
        .create_application(
            &company,
            &subsidy_core::application::NewApplicationInput { project_id: project, claimed_area: None, note: None },
        )
        .await
        .unwrap();
    let id = app.application.id.clone();
    s.applications
        .withdraw(
            &company,
            &id,
            &subsidy_core::application::inputs::ActionInput { version: 1, reason: Some("测试".into()) },
        )
        .await
        .unwrap();
    stack.stop().await.unwrap();
    (dir, id)
}

#[tokio::test]
async fn audit_verify_passes_on_an_intact_store_and_fails_after_tampering() {
    let (dir, id) = data_dir_with_history().await;
    let ok = subsidy(dir.path(), &["audit-verify"]);
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{out}\n{}", String::from_utf8_lossy(&ok.stderr));
    assert!(out.contains("1 applications (2 entries)"), "{out}");

    let stack = Stack::start(Config { demo: false, ..Config::for_tests(dir.path()) }, system_clock()).await.unwrap();
    stack
        .store
        .execute_raw(&format!("UPDATE audit SET body = record_pack(replace(record_json(body), '测试', '篡改')) WHERE application_id = '{id}'"))
        .await
        .unwrap();
    stack.stop().await.unwrap();
    let bad = subsidy(dir.path(), &["audit-verify"]);
    let out = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(1), "{out}");
    assert!(out.contains("BROKEN") && out.contains(&id), "{out}");
}

#[test]
fn audit_verify_refuses_a_directory_without_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let r = subsidy(dir.path(), &["audit-verify"]);
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("no database"));
}

#[test]
fn accounts_lists_one_account_per_role() {
    let dir = tempfile::tempdir().unwrap();
    let r = subsidy(dir.path(), &["accounts"]);
    let out = String::from_utf8_lossy(&r.stdout);
    for role in ["company", "project_manager", "community", "subdistrict", "district", "finance", "city"] {
        assert!(out.contains(role), "{role}: {out}");
    }
}

/// The README's curl walk-through, run as a newcomer would run it against a
/// fresh server, so the README cannot drift from the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_walkthrough_runs_against_a_fresh_server() {
    let dir = tempfile::tempdir().unwrap();
    let stack = Stack::start(Config { dispatch: true, ..Config::for_tests(dir.path()) }, system_clock()).await.unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/walkthrough.sh");
    let out = tokio::process::Command::new("bash").arg(script).arg(stack.url()).output().await.expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("walk-through complete"));
    assert!(stdout.contains("approved 12000.00 12000.00 1200000"), "{stdout}");
    assert!(stdout.contains("companies 1 projects 1 approved yuan 12000.00"), "the city's live totals: {stdout}");
    assert!(stdout.contains("合计（福田区） approved 12000.00 yuan"), "the district's report: {stdout}");
    stack.stop().await.unwrap();
}

/// The load generator, at a size a test can afford: the whole lifecycle
/// through HTTP on a fresh server, and the totals it checks agree.
#[test]
fn bench_drives_the_whole_lifecycle_and_checks_the_totals() {
    let out = tempfile::tempdir().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_subsidy"))
        .args(["bench", "--projects", "150", "--concurrency", "8", "--fast-commit", "--no-baseline", "--out"])
        .arg(out.path())
        .output()
        .expect("binary runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "bench failed: {stderr}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("bench-150.json")).unwrap()).unwrap();
    assert_eq!(report["projects"], 150);
    assert_eq!(report["companies"], 78, "Shenzhen's ratio of companies to projects");
    let t = &report["totals"];
    assert_eq!((t["projects"].as_i64(), t["paid"].as_i64()), (Some(150), Some(150)));
    assert_eq!(t["claimedAreaHundredths"], t["expectedAreaHundredths"]);
    assert_eq!(t["approvedAmountFen"], t["expectedAmountFen"]);
    // Every step of the lifecycle was timed.
    let endpoints: Vec<&str> =
        report["latencies"].as_array().unwrap().iter().map(|l| l["endpoint"].as_str().unwrap()).collect();
    for e in [
        "PUT /company",
        "POST /applications/{id}/submit",
        "POST /applications/{id}/confirm-area",
        "POST /review/district/applications/{id}/approve",
        "POST /batches/{id}/results",
    ] {
        assert!(endpoints.contains(&e), "{e} missing from {endpoints:?}");
    }
    let md = std::fs::read_to_string(out.path().join("bench-150.md")).unwrap();
    assert!(md.contains("Totals agree"), "{md}");
}

#[test]
fn bench_refuses_a_size_it_cannot_run() {
    let out = tempfile::tempdir().unwrap();
    for args in [&["bench", "--projects", "0"][..], &["bench", "--concurrency", "0"], &["bench", "--scale", "planet"]] {
        let run = Command::new(env!("CARGO_BIN_EXE_subsidy")).args(args).arg("--out").arg(out.path()).output().unwrap();
        assert!(!run.status.success(), "{args:?} was accepted");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(stderr.contains("projects") || stderr.contains("concurrency") || stderr.contains("planet"), "{stderr}");
    }
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0, "nothing written");
}

/// `audit-anchor` writes the day's anchor to the anchors file, `audit-verify`
/// reads it back, and an anchors file edited by hand (a head changed, its
/// digest recomputed, as someone without the key would) fails the check.
#[tokio::test]
async fn audit_anchor_writes_the_file_that_audit_verify_checks() {
    let (dir, _) = data_dir_with_history().await;
    // Before any anchor, verify says so and passes.
    let before = subsidy(dir.path(), &["audit-verify"]);
    let out = String::from_utf8_lossy(&before.stdout);
    assert!(before.status.success() && out.contains("anchors: none yet"), "{out}");

    let anchors = dir.path().join("elsewhere/anchors.jsonl");
    let anchors_arg = anchors.to_str().unwrap();
    let written = subsidy(dir.path(), &["--anchors-file", anchors_arg, "audit-anchor"]);
    let out = String::from_utf8_lossy(&written.stdout);
    assert!(written.status.success(), "{out}{}", String::from_utf8_lossy(&written.stderr));
    assert!(out.starts_with("anchor 1: "), "{out}");
    // A second run within the margin writes nothing.
    let again = subsidy(dir.path(), &["--anchors-file", anchors_arg, "audit-anchor"]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("no anchor due"));
    assert_eq!(std::fs::read_to_string(&anchors).unwrap().lines().count(), 1);

    let ok = subsidy(dir.path(), &["--anchors-file", anchors_arg, "audit-verify"]);
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{out}");
    assert!(out.contains("anchors: 1 in") && out.contains("OK: every chain verifies"), "{out}");

    // A head changed in the file: its digest and MAC no longer agree.
    let text = std::fs::read_to_string(&anchors).unwrap();
    let mut anchor: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    anchor["heads"][0]["seq"] = 1.into();
    std::fs::write(&anchors, format!("{anchor}\n")).unwrap();
    let bad = subsidy(dir.path(), &["--anchors-file", anchors_arg, "audit-verify"]);
    let out = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(1), "{out}");
    assert!(out.contains("BROKEN: anchor 1: its content differs from its digest"), "{out}");
}
