//! Every API Gateway sample in `events/` goes through lambda_http's own
//! request conversion into the function's router, against demo data, and
//! must get the status its file name promises (`-ok` is any 2xx).

use std::path::PathBuf;
use std::sync::Arc;

use lambda_http::tower::ServiceExt;
use subsidy_core::identity::Tier;
use subsidy_tests::TestApp;

fn samples(function: &str) -> Vec<PathBuf> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../events")).join(function);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("apigw-"))
        .collect();
    files.sort();
    files
}

fn expected(path: &std::path::Path) -> Option<u16> {
    let stem = path.file_stem().unwrap().to_string_lossy().to_string();
    let last = stem.rsplit('-').next().unwrap();
    if last == "ok" { None } else { Some(last.parse().expect("name ends in -ok or -<status>")) }
}

async fn run(app: &TestApp, function: &str) -> usize {
    let files = samples(function);
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let request = lambda_http::request::from_str(&text).expect("a valid API Gateway v2 event");
        let router = match function {
            "submission" => submission::router(Arc::new(submission::App::new(&app.services.ports))),
            "aggregation" => aggregation::router(Arc::new(aggregation::App::new(&app.services.ports))),
            _ => {
                let tier = request.uri().path().split('/').nth(4).and_then(Tier::parse).expect("a tier in the path");
                review::router(Arc::new(review::App::new(&app.services.ports)), &[tier])
            }
        };
        let response = router.oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        match expected(path) {
            None => assert!((200..300).contains(&status), "{}: {status}", path.display()),
            Some(want) => assert_eq!(status, want, "{}", path.display()),
        }
    }
    files.len()
}

#[tokio::test]
async fn every_submission_sample_event_gets_the_status_its_name_promises() {
    let app = TestApp::spawn_standalone().await;
    assert!(run(&app, "submission").await >= 8);
}

#[tokio::test]
async fn every_aggregation_sample_event_gets_the_status_its_name_promises() {
    let app = TestApp::spawn_standalone().await;
    assert!(run(&app, "aggregation").await >= 4);
    let schedule: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../events/aggregation/schedule-nightly-ok.json"
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(subsidy_api::lambda::kind_of(&schedule), subsidy_api::lambda::EventKind::EventBridge);
    let out =
        aggregation::consumers(Arc::new(aggregation::App::new(&app.services.ports))).consume(schedule).await.unwrap();
    assert_eq!(out["reportsWritten"], 190, "the nightly job ran: {out}");
}

#[tokio::test]
async fn every_review_sample_event_gets_the_status_its_name_promises() {
    let app = TestApp::spawn_standalone().await;
    assert!(run(&app, "review").await >= 4);
}
