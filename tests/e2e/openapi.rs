//! The OpenAPI document lists exactly the routes the routers serve, and
//! every listed route is really served.

use std::collections::BTreeSet;

use subsidy_tests::TestApp;

fn documented() -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.yaml"))
        .expect("docs/openapi.yaml");
    let doc: serde_norway::Value = serde_norway::from_str(&text).expect("valid YAML");
    let paths = doc["paths"].as_mapping().expect("paths");
    let mut out = BTreeSet::new();
    for (path, item) in paths {
        for (method, _) in item.as_mapping().expect("path item") {
            let m = method.as_str().unwrap();
            if ["get", "put", "post", "patch", "delete", "head", "options"].contains(&m) {
                out.insert((m.to_uppercase(), path.as_str().unwrap().to_string()));
            }
        }
    }
    out
}

fn served() -> BTreeSet<(String, String)> {
    subsidy_standalone::api_routes().into_iter().map(|(m, p)| (m.to_string(), p.to_string())).collect()
}

#[test]
fn the_openapi_document_lists_exactly_the_served_routes() {
    let (doc, served) = (documented(), served());
    let undocumented: Vec<_> = served.difference(&doc).collect();
    let phantom: Vec<_> = doc.difference(&served).collect();
    assert!(
        undocumented.is_empty() && phantom.is_empty(),
        "served but undocumented: {undocumented:?}\ndocumented but not served: {phantom:?}"
    );
    assert!(served.len() >= 25, "{}", served.len());
}

#[tokio::test]
async fn every_route_in_the_table_is_answered_by_its_handler() {
    let app = TestApp::spawn().await;
    for (method, path) in served() {
        let concrete = path
            .replace("{tier}", "community")
            .replace("{code}", "440300")
            .replace("{id}", "01XNOSUCHID")
            .replace("{document_id}", "01XNOSUCHDOC");
        let r = app.call(None, &method, &concrete, Some(serde_json::json!({})), &[]).await;
        assert!(!["no_route", "method_not_allowed"].contains(&r.code()), "{method} {path}: {}", r.body);
    }
}
