//! The Lambda binary fails fast, naming the variable it misses.

#[test]
fn the_binary_names_the_missing_variable_and_exits() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_submission"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .expect("binary runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("missing environment variable TABLE_NAME"), "{stderr}");
}

#[test]
fn an_invalid_policy_is_refused_at_start() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_submission"))
        .env_clear()
        .env("TABLE_NAME", "t")
        .env("BUCKET_NAME", "b")
        .env("POLICY_JSON", "{\"id\": \"x\"}")
        .output()
        .expect("binary runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("POLICY_JSON is invalid"), "{stderr}");
}
