//! The dispatch binary fails fast, before any network call, naming the
//! variable that is wrong: a notifier it does not know would otherwise
//! log every SMS as sent and send none.

fn dispatch(notifier: Option<&str>, sms_queue: bool) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_dispatch"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TABLE_NAME", "t")
        .env("QUEUE_URL_COMMUNITY", "q1")
        .env("QUEUE_URL_SUBDISTRICT", "q2")
        .env("QUEUE_URL_DISTRICT", "q3")
        .env("DEAD_LETTER_QUEUE_URL", "dlq")
        .env("POLICY_JSON", include_str!("../../../config/policy-shenzhen-2020.json"));
    if sms_queue {
        cmd.env("SMS_QUEUE_URL", "sms");
    }
    if let Some(n) = notifier {
        cmd.env("SMS_NOTIFIER", n);
    }
    cmd.output().expect("binary runs")
}

#[test]
fn an_unknown_sms_notifier_is_refused_at_start() {
    for bad in ["pigeon", "SNS", "sns ", "http"] {
        let out = dispatch(Some(bad), true);
        assert!(!out.status.success(), "{bad:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("SMS_NOTIFIER") && stderr.contains("must be sns or log"), "{bad:?}: {stderr}");
    }
}

#[test]
fn the_binary_refuses_to_start_without_its_sms_queue() {
    let out = dispatch(Some("log"), false);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("missing environment variable SMS_QUEUE_URL"), "{stderr}");
}
