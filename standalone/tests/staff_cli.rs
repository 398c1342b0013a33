//! Who may sign in to a standalone server, and the `staff` commands, run as
//! an operator runs them: on the data directory of a running server.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use subsidy_standalone::{Config, Stack, system_clock};

fn subsidy(data_dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_subsidy"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .expect("binary runs")
}

fn text(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A production-like server: no demo, tokens only from `secret.key`.
async fn server(dir: &std::path::Path) -> Stack {
    Stack::start(Config { demo: false, ..Config::for_tests(dir) }, system_clock()).await.expect("stack starts")
}

async fn get(stack: &Stack, token: &str, path: &str) -> (u16, Value) {
    let r = reqwest::Client::new().get(format!("{}{path}", stack.url())).bearer_auth(token).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn token(stack: &Stack, sub: &str) -> String {
    stack.keys.sign(
        &json!({"sub": sub, "role": "finance", "jurisdiction": "440304"}),
        chrono::Utc::now().timestamp(),
        600,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_demo_there_is_no_dev_login_and_nobody_is_staff_until_the_directory_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let stack = server(dir.path()).await;
    let client = reqwest::Client::new();
    let login = client
        .post(format!("{}/api/v1/auth/dev-login", stack.url()))
        .json(&json!({"username": "finance-futian"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status().as_u16(), 404);
    let accounts = client.get(format!("{}/api/v1/auth/dev-accounts", stack.url())).send().await.unwrap();
    assert_eq!(accounts.status().as_u16(), 404);
    // No demo staff were seeded: the demo finance subject is nobody here.
    let (status, _) = get(&stack, &token(&stack, "demo-finance-futian"), "/api/v1/batches").await;
    assert_eq!(status, 404);
    stack.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_commands_change_a_running_servers_directory_at_once_and_are_audited() {
    let dir = tempfile::tempdir().unwrap();
    let stack = server(dir.path()).await;
    let finance = token(&stack, "li.finance");
    assert_eq!(get(&stack, &finance, "/api/v1/batches").await.0, 404, "not staff yet");

    let add = subsidy(
        dir.path(),
        &["staff", "add", "--sub", "li.finance", "--name", "李财政", "--role", "finance", "--unit", "440304"],
    );
    assert!(add.status.success(), "{}", text(&add));
    assert!(text(&add).contains("finance@440304"), "{}", text(&add));
    assert_eq!(get(&stack, &finance, "/api/v1/batches").await.0, 200, "staff at once, on the running server");

    // A second assignment for the same person; then the list shows both.
    let more = subsidy(dir.path(), &["staff", "add", "--sub", "li.finance", "--role", "admin", "--unit", "440304"]);
    assert!(more.status.success(), "{}", text(&more));
    let list = subsidy(dir.path(), &["staff", "list", "--unit", "440304"]);
    let out = text(&list);
    assert!(list.status.success() && out.contains("li.finance") && out.contains("admin@440304"), "{out}");
    let elsewhere = subsidy(dir.path(), &["staff", "list", "--unit", "440398"]);
    assert!(elsewhere.status.success() && !text(&elsewhere).contains("li.finance"), "{}", text(&elsewhere));

    let disable = subsidy(dir.path(), &["staff", "disable", "--sub", "li.finance"]);
    assert!(disable.status.success() && text(&disable).contains("disabled"), "{}", text(&disable));
    let (status, body) = get(&stack, &finance, "/api/v1/batches").await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("account_disabled")), "revoked at once");

    // The member's chain holds the three changes, and audit-verify walks it.
    stack.stop().await.unwrap();
    let verify = subsidy(dir.path(), &["audit-verify"]);
    assert!(verify.status.success(), "{}", text(&verify));
    assert!(text(&verify).contains("1 staff members (3 entries)"), "{}", text(&verify));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_staff_commands_say_what_is_wrong_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    server(dir.path()).await.stop().await.unwrap();
    let cases: [(&[&str], &str); 7] = [
        (
            &["staff", "add", "--sub", "a", "--name", "甲", "--role", "community", "--unit", "440304"],
            "assignments[0].role",
        ),
        (
            &["staff", "add", "--sub", "a", "--name", "甲", "--role", "finance", "--unit", "999999"],
            "assignments[0].unit",
        ),
        (
            &["staff", "add", "--sub", "a", "--name", "甲", "--role", "company", "--unit", "440304"],
            "assignments[0].role",
        ),
        (&["staff", "add", "--sub", "a", "--role", "finance", "--unit", "440304"], "(name)"),
        (&["staff", "add", "--sub", "a b", "--name", "甲", "--role", "finance", "--unit", "440304"], "(sub)"),
        (&["staff", "disable", "--sub", "nobody"], "not found"),
        (&["staff", "list", "--unit", "4403x"], "(unit)"),
    ];
    for (args, says) in cases {
        let r = subsidy(dir.path(), args);
        assert_eq!(r.status.code(), Some(2), "{args:?}: {}", text(&r));
        assert!(String::from_utf8_lossy(&r.stderr).contains(says), "{args:?}: {}", text(&r));
    }
    let list = subsidy(dir.path(), &["staff", "list"]);
    assert!(list.status.success());
    assert_eq!(String::from_utf8_lossy(&list.stdout).trim(), "", "nobody was added");
    let verify = subsidy(dir.path(), &["audit-verify"]);
    assert!(text(&verify).contains("0 staff members"), "{}", text(&verify));
    // Without a database there is nothing to change.
    let empty = tempfile::tempdir().unwrap();
    let r = subsidy(empty.path(), &["staff", "list"]);
    assert!(!r.status.success() && text(&r).contains("no database"), "{}", text(&r));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_finds_a_rewritten_staff_entry() {
    let dir = tempfile::tempdir().unwrap();
    server(dir.path()).await.stop().await.unwrap();
    let add = subsidy(
        dir.path(),
        &["staff", "add", "--sub", "wang", "--name", "王审核", "--role", "district", "--unit", "440304"],
    );
    assert!(add.status.success(), "{}", text(&add));
    let stack = server(dir.path()).await;
    stack.store.execute_raw("UPDATE audit SET body = record_pack(replace(record_json(body), 'district@440304', 'city@440300')) WHERE application_id = 'staff:wang'").await.unwrap();
    stack.stop().await.unwrap();
    let verify = subsidy(dir.path(), &["audit-verify"]);
    assert_eq!(verify.status.code(), Some(1), "{}", text(&verify));
    assert!(text(&verify).contains("BROKEN") && text(&verify).contains("staff:wang"), "{}", text(&verify));
}

/// Starts `subsidy serve` with `args` and expects it to refuse to start:
/// returns what it printed. A server that starts anyway is killed and fails
/// the test.
fn refuses_to_serve(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_subsidy"))
        .arg("--data-dir")
        .arg(dir.path())
        .arg("serve")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let give_up = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > give_up {
            child.kill().unwrap();
            panic!("serve {args:?} started instead of refusing");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "serve {args:?} exited 0");
    assert!(!dir.path().join("subsidy.db").exists(), "serve {args:?} created a database before refusing");
    text(&out)
}

#[test]
fn the_demo_refuses_a_network_address_unless_asked_and_never_beside_an_issuer() {
    let out = refuses_to_serve(&["--demo", "--addr", "0.0.0.0:0"]);
    assert!(out.contains("loopback") && out.contains("--demo-on-network"), "{out}");
    let out = refuses_to_serve(&["--demo", "--addr", "[::]:0"]);
    assert!(out.contains("loopback"), "{out}");
    let out = refuses_to_serve(&["--demo", "--oidc-issuer", "http://127.0.0.1:9/", "--oidc-audience", "x"]);
    assert!(out.contains("exclude each other"), "{out}");
    let out = refuses_to_serve(&["--oidc-issuer", "http://127.0.0.1:9"]);
    assert!(out.contains("--oidc-audience"), "{out}");
    let out = refuses_to_serve(&["--demo-on-network"]);
    assert!(out.contains("--demo"), "{out}");
    // An issuer that cannot be reached fails the start, naming it.
    let out = refuses_to_serve(&["--oidc-issuer", "http://127.0.0.1:9", "--oidc-audience", "subsidy-api"]);
    assert!(out.contains("http://127.0.0.1:9"), "{out}");
}

#[test]
fn the_demo_on_a_network_address_is_allowed_when_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config { addr: "0.0.0.0:0".parse().unwrap(), demo_on_network: true, ..Config::for_tests(dir.path()) };
    assert!(config.check().is_ok());
    let refused = Config { demo_on_network: false, ..config };
    assert!(refused.check().unwrap_err().to_string().contains("loopback"));
}
