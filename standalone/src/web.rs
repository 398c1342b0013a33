//! The web client's files (`web/dist`), served at `/` beside the API.
//!
//! Every path outside `/api/` and `/blobs/` is a file of the built client;
//! an unknown one gets `index.html`, so a reload on a client route works.
//! Hashed assets are cached for a year; everything else is revalidated, so
//! a new build reaches phones on their next visit.

use std::path::Path;

use axum::extract::Request;
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

/// A fallback handler serving `dir`.
pub fn service(dir: &Path) -> axum::routing::MethodRouter {
    let pages = ServeDir::new(dir).fallback(ServeFile::new(dir.join("index.html")));
    // A missing hashed asset is a 404, never index.html cached for a year.
    let assets = ServeDir::new(dir);
    axum::routing::any(move |req: Request| serve(pages.clone(), assets.clone(), req))
}

async fn serve(pages: ServeDir<ServeFile>, assets: ServeDir, req: Request) -> Response {
    let path = req.uri().path();
    let api = path == "/api" || path.starts_with("/api/") || path.starts_with("/blobs/");
    if api || !(req.method() == Method::GET || req.method() == Method::HEAD) {
        return subsidy_api::error::ApiError::NoRoute.into_response();
    }
    let immutable = path.starts_with("/assets/");
    let res = if immutable { assets.oneshot(req).await } else { pages.oneshot(req).await };
    let mut res = match res {
        Ok(res) => res.into_response(),
        Err(never) => match never {},
    };
    if !res.status().is_success() {
        return res;
    }
    let h = res.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if immutable { "public, max-age=31536000, immutable" } else { "no-cache" }),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    res
}

#[cfg(test)]
mod tests {
    use axum::body::{Body, to_bytes};
    use axum::http::{Request, StatusCode};

    use super::*;

    /// A built client in `<tmp>/site`, with a file beside it that must stay private.
    fn site() -> (tempfile::TempDir, axum::Router) {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path().join("site");
        std::fs::create_dir_all(site.join("assets")).unwrap();
        std::fs::write(site.join("index.html"), "<!doctype html><title>补助</title>").unwrap();
        std::fs::write(site.join("config.json"), r#"{"apiBase":""}"#).unwrap();
        std::fs::write(site.join("assets/index-abc123.js"), "console.log(1)").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "s3cret").unwrap();
        let router = axum::Router::new().fallback_service(service(&site));
        (dir, router)
    }

    async fn call(router: &axum::Router, method: &str, uri: &str) -> (StatusCode, axum::http::HeaderMap, String) {
        let req = Request::builder().method(method).uri(uri).body(Body::empty()).unwrap();
        let res = router.clone().oneshot(req).await.unwrap();
        let (parts, body) = res.into_parts();
        let body = String::from_utf8(to_bytes(body, 1 << 20).await.unwrap().to_vec()).unwrap();
        (parts.status, parts.headers, body)
    }

    #[tokio::test]
    async fn the_root_serves_the_client_revalidated_each_visit() {
        let (_dir, router) = site();
        let (status, headers, body) = call(&router, "GET", "/").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("补助"));
        assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
        let (status, headers, body) = call(&router, "GET", "/config.json").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, r#"{"apiBase":""}"#);
        assert_eq!(headers[header::CACHE_CONTROL], "no-cache", "a deployment's config is never cached for long");
    }

    #[tokio::test]
    async fn hashed_assets_are_cached_for_a_year() {
        let (_dir, router) = site();
        let (status, headers, body) = call(&router, "GET", "/assets/index-abc123.js").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "console.log(1)");
        assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=31536000, immutable");
        assert!(headers[header::CONTENT_TYPE].to_str().unwrap().contains("javascript"));
        let (status, _, body) = call(&router, "HEAD", "/assets/index-abc123.js").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, ""));
    }

    #[tokio::test]
    async fn a_missing_asset_is_not_found_and_not_cached() {
        let (_dir, router) = site();
        let (status, headers, body) = call(&router, "GET", "/assets/index-old999.js").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(!body.contains("补助"));
        assert!(headers.get(header::CACHE_CONTROL).is_none());
    }

    #[tokio::test]
    async fn an_unknown_page_gets_the_client_so_a_reload_works() {
        let (_dir, router) = site();
        let (status, _, body) = call(&router, "GET", "/company/applications").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("补助"));
    }

    #[tokio::test]
    async fn api_paths_and_writes_never_get_the_client() {
        let (_dir, router) = site();
        for (method, uri) in [
            ("GET", "/api/v1/nonexistent"),
            ("GET", "/api"),
            ("GET", "/blobs/unknown"),
            ("POST", "/"),
            ("PUT", "/index.html"),
            ("DELETE", "/assets/index-abc123.js"),
        ] {
            let (status, headers, body) = call(&router, method, uri).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {uri}");
            assert!(headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("application/json"), "{method} {uri}");
            assert!(body.contains("\"no_route\""), "{method} {uri}: {body}");
        }
    }

    #[tokio::test]
    async fn paths_cannot_escape_the_client_directory() {
        let (_dir, router) = site();
        for uri in ["/../secret.txt", "/%2e%2e/secret.txt", "/assets/..%2f..%2fsecret.txt"] {
            let (_, _, body) = call(&router, "GET", uri).await;
            assert!(!body.contains("s3cret"), "{uri} leaked a file outside the client");
        }
    }
}
