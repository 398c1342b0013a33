//! The Lambda binary fails fast, before any network call, naming the
//! variable it misses: here the dead-letter queue its poison messages go to.

#[test]
fn the_binary_refuses_to_start_without_its_dead_letter_queue() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_review"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TABLE_NAME", "t")
        .env("BUCKET_NAME", "b")
        .env("EXPORT_BUCKET_NAME", "e")
        .env("AUDIT_KEY_ID", "k")
        .env("TIER", "district")
        .env("POLICY_JSON", include_str!("../../../config/policy-shenzhen-2020.json"))
        .output()
        .expect("binary runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("missing environment variable DEAD_LETTER_QUEUE_URL"), "{stderr}");
}
