//! Extractors: the caller's identity from the request context, JSON bodies
//! and query strings with field-specific errors, and pagination.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use bytes::Bytes;
use lambda_http::request::RequestContext;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use subsidy_core::Error;
use subsidy_core::identity::Actor;
use subsidy_core::identity::directory::StaffDirectory;
use subsidy_core::identity::staff::ACTING_AS_HEADER;
use subsidy_core::ports::{IdempotencyStore, PageRequest};

use crate::error::ApiError;

/// What the layers every router shares need: the staff directory, which
/// says who a caller is, and the idempotency store. Each function's state
/// holds one beside the capabilities it serves.
#[derive(Clone)]
pub struct Gate {
    pub directory: StaffDirectory,
    pub idempotency: Arc<dyn IdempotencyStore>,
}

impl Gate {
    pub fn new(ports: &subsidy_core::service::Ports) -> Gate {
        Gate { directory: ports.directory(), idempotency: ports.idempotency.clone() }
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.directory.clock.now()
    }
}

/// A function's state: it has a [`Gate`], so its handlers can take
/// [`Identity`]. Routers hold it as `Arc<S>`.
pub trait Gated: Send + Sync + 'static {
    fn gate(&self) -> &Gate;
}

/// Largest JSON body any endpoint accepts.
pub const MAX_JSON_BODY: usize = 64 * 1024;

/// The JWT claims API Gateway's authorizer verified, if any.
pub fn claims_of(parts: &http::Extensions) -> Option<&HashMap<String, String>> {
    match parts.get::<RequestContext>()? {
        RequestContext::ApiGatewayV2(ctx) => ctx.authorizer.as_ref()?.jwt.as_ref().map(|j| &j.claims),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// A request context as API Gateway (HTTP API, JWT authorizer) builds it.
/// The standalone server inserts one after verifying its own token.
pub fn request_context(method: &http::Method, path: &str, claims: &HashMap<String, String>) -> RequestContext {
    let ctx = serde_json::json!({
        "routeKey": "$default",
        "accountId": "000000000000",
        "stage": "$default",
        "requestId": ulid_like(),
        "apiId": "standalone",
        "domainName": "localhost",
        "timeEpoch": chrono::Utc::now().timestamp_millis(),
        "http": { "method": method.as_str(), "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "" },
        "authorizer": { "jwt": { "claims": claims, "scopes": null } }
    });
    RequestContext::ApiGatewayV2(serde_json::from_value(ctx).expect("a well-formed API Gateway v2 context"))
}

fn ulid_like() -> String {
    format!("{:x}", chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default())
}

/// The authenticated caller, with the authority the staff directory gives
/// them (never what the token's role claims say). Rejects with 401 when the
/// request context has no verified claims; 403 for a disabled staff member
/// or an `X-Acting-As` the caller does not hold.
pub struct Identity(pub Actor);

impl<S: Gated> FromRequestParts<Arc<S>> for Identity {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<S>) -> Result<Self, Self::Rejection> {
        let claims = claims_of(&parts.extensions).ok_or(Error::Unauthenticated)?;
        let acting_as = match parts.headers.get(ACTING_AS_HEADER) {
            None => None,
            Some(v) => Some(v.to_str().map_err(|_| {
                ApiError::bad_request("invalid_header", "X-Acting-As must be plain text", Some(ACTING_AS_HEADER.into()))
            })?),
        };
        state.gate().directory.resolve(claims, acting_as).await.map(Identity).map_err(|e| {
            tracing::info!(reason = e.code(), "caller refused");
            ApiError::Core(e)
        })
    }
}

/// A JSON body, which must be a JSON object (every route's input is a
/// struct). Errors name the field: unknown and missing fields, wrong
/// types, and malformed JSON each get their own code; a body that is valid
/// JSON but not an object is `invalid_type`.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes =
            Bytes::from_request(req, state).await.map_err(|_| ApiError::BodyTooLarge { limit: MAX_JSON_BODY })?;
        if bytes.len() > MAX_JSON_BODY {
            return Err(ApiError::BodyTooLarge { limit: MAX_JSON_BODY });
        }
        parse_json(&bytes).map(Body)
    }
}

/// Deserializes a JSON object with the error shape of [`Body`].
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Syntax first, so a truncated body is reported as malformed rather
    // than by whatever field the typed pass happened to reach.
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
        return Err(ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {e}"), None));
    }
    // Then the shape: serde's derived `Deserialize` for a struct also takes
    // a JSON array, its fields by position, so `[3]` would pass for
    // `{"version": 3}`. The text is valid JSON here, so its first byte after
    // JSON whitespace says what the top-level value is.
    if !is_json_object(bytes) {
        return Err(ApiError::bad_request("invalid_type", "the body must be a JSON object", None));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        let at = |name: Option<&str>| -> Option<String> {
            let base = if path == "." { String::new() } else { path.clone() };
            match (base.is_empty(), name) {
                (true, Some(n)) => Some(n.to_string()),
                (false, Some(n)) => Some(format!("{base}.{n}")),
                (true, None) => None,
                (false, None) => Some(base),
            }
        };
        use serde_json::error::Category;
        match inner.classify() {
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {message}"), None)
            }
            Category::Data => {
                if let Some(name) = quoted_after(&message, "unknown field") {
                    // The path already ends at the unknown field.
                    let field = if path == "." { name.clone() } else { path.clone() };
                    ApiError::bad_request("unknown_field", format!("unknown field `{name}`"), Some(field))
                } else if let Some(name) = quoted_after(&message, "missing field") {
                    ApiError::bad_request("missing_field", format!("missing field `{name}`"), at(Some(&name)))
                } else {
                    ApiError::bad_request("invalid_type", message, at(None))
                }
            }
        }
    })
}

/// Whether valid JSON text `bytes` is an object: its first byte after
/// JSON whitespace (space, tab, line feed, carriage return) is `{`.
fn is_json_object(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r')) == Some(&b'{')
}

/// The name in backticks after `prefix` in a serde message.
fn quoted_after(message: &str, prefix: &str) -> Option<String> {
    let rest = message.strip_prefix(prefix)?.trim_start();
    let rest = rest.strip_prefix('`')?;
    Some(rest[..rest.find('`')?].to_string())
}

/// A query string, with unknown parameters refused and errors that name
/// the parameter.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        serde_urlencoded_compat(q).map(Query)
    }
}

fn serde_urlencoded_compat<T: DeserializeOwned>(q: &str) -> Result<T, ApiError> {
    serde_urlencoded::from_str(q).map_err(|e| {
        let m = e.to_string();
        let field = quoted_after(&m, "unknown field")
            .or_else(|| quoted_after(&m, "missing field"))
            .or_else(|| quoted_after(&m, "duplicate field"));
        ApiError::bad_request("invalid_query", format!("the query string is not valid: {m}"), field)
    })
}

/// `?limit=&cursor=`: the page to read.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    #[serde(default)]
    pub limit: Option<String>,
    #[serde(default)]
    pub cursor: Option<String>,
}

impl PageParams {
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        let limit = match &self.limit {
            None => PageRequest::DEFAULT_LIMIT,
            Some(s) => match s.parse::<u32>() {
                Ok(n) if (1..=PageRequest::MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(ApiError::bad_request(
                        "invalid_query",
                        format!("limit must be a whole number from 1 to {}", PageRequest::MAX_LIMIT),
                        Some("limit".into()),
                    ));
                }
            },
        };
        Ok(PageRequest { limit, cursor: self.cursor.clone().filter(|c| !c.is_empty()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    #[allow(dead_code)]
    struct Input {
        name: String,
        bank_account: Inner,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        account_number: String,
    }

    fn err(body: &str) -> (String, Option<String>) {
        match parse_json::<Input>(body.as_bytes()).unwrap_err() {
            ApiError::BadRequest { code, field, .. } => (code.to_string(), field),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn json_errors_name_the_field() {
        assert_eq!(
            err(r#"{"name":"a","bankAccount":{"accountNumber":"1"},"x":1}"#),
            ("unknown_field".into(), Some("x".into()))
        );
        assert_eq!(
            err(r#"{"name":"a","bankAccount":{"accountNumber":"1","y":2}}"#),
            ("unknown_field".into(), Some("bankAccount.y".into()))
        );
        assert_eq!(err(r#"{"bankAccount":{"accountNumber":"1"}}"#), ("missing_field".into(), Some("name".into())));
        assert_eq!(
            err(r#"{"name":5,"bankAccount":{"accountNumber":"1"}}"#),
            ("invalid_type".into(), Some("name".into()))
        );
        assert_eq!(err(r#"{"name":"a","#).0, "malformed_json");
        assert_eq!(err("").0, "malformed_json");
        assert_eq!(err("[]").0, "invalid_type");
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Version {
        version: u64,
    }

    const NOT_AN_OBJECT: &str = "the body must be a JSON object";

    /// The code, field and message a refused body gets.
    fn refusal<T: DeserializeOwned + std::fmt::Debug>(body: &str) -> (String, Option<String>, String) {
        match parse_json::<T>(body.as_bytes()).unwrap_err() {
            ApiError::BadRequest { code, field, message } => (code.to_string(), field, message),
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn only_a_json_object_is_a_body() {
        // Arrays, including ones that fill the struct's fields by position,
        // and every other non-object value.
        for body in [
            "[3]",
            "[]",
            "[1]",
            r#"["x", 2]"#,
            "  \n\t[3]",
            "3",
            "-1.5",
            r#""x""#,
            r#"  "{}" "#,
            "null",
            "true",
            "false",
        ] {
            assert_eq!(refusal::<Version>(body), ("invalid_type".into(), None, NOT_AN_OBJECT.into()), "{body}");
        }
        assert_eq!(
            refusal::<Input>(r#"["a", {"accountNumber": "1"}]"#),
            ("invalid_type".into(), None, NOT_AN_OBJECT.into())
        );
        assert_eq!(refusal::<Input>(r#"["a", ["1"]]"#), ("invalid_type".into(), None, NOT_AN_OBJECT.into()));
        // Malformed text is still malformed, whatever it starts with.
        for body in ["[3", "", "   ", "3 4", "{} []", "\u{feff}{}"] {
            assert_eq!(refusal::<Version>(body).0, "malformed_json", "{body:?}");
        }
        // An object, with JSON whitespace around it, is a body.
        for body in [r#"{"version":3}"#, " \t\r\n{\"version\": 3} \n", "\n{\n  \"version\": 3\n}\n"] {
            assert_eq!(parse_json::<Version>(body.as_bytes()).unwrap(), Version { version: 3 }, "{body:?}");
        }
        let input: Input = parse_json(br#"  {"name":"a","bankAccount":{"accountNumber":"1"}}"#).unwrap();
        assert_eq!((input.name.as_str(), input.bank_account.account_number.as_str()), ("a", "1"));
        // An object still gets the field-by-field errors.
        assert_eq!(refusal::<Version>(r#"{"version":"3"}"#).1.as_deref(), Some("version"));
        assert_eq!(refusal::<Version>("{}").0, "missing_field");
    }

    #[tokio::test]
    async fn the_body_extractor_refuses_what_is_not_an_object_with_a_400() {
        async fn extract(body: &'static str) -> Result<Version, ApiError> {
            let req = Request::builder()
                .method("POST")
                .header("content-type", "application/json")
                .body(axum::body::Body::from(body))
                .unwrap();
            Body::<Version>::from_request(req, &()).await.map(|Body(v)| v)
        }
        for body in ["[3]", r#"["x", 2]"#, "3", r#""x""#, "null", "true"] {
            let e = extract(body).await.unwrap_err();
            assert_eq!(crate::error::status_of(&e), http::StatusCode::BAD_REQUEST, "{body}");
            match e {
                ApiError::BadRequest { code, field, message } => {
                    assert_eq!((code, field, message.as_str()), ("invalid_type", None, NOT_AN_OBJECT), "{body}");
                }
                other => panic!("{body}: {other:?}"),
            }
        }
        assert_eq!(extract(" {\"version\": 3}").await.unwrap(), Version { version: 3 });
    }

    #[test]
    fn page_limits_are_bounded() {
        let p = |l: &str| PageParams { limit: Some(l.into()), cursor: None }.page();
        assert_eq!(p("5").unwrap().limit, 5);
        for bad in ["0", "101", "-1", "abc", "1.5", ""] {
            assert!(p(bad).is_err(), "{bad}");
        }
        assert_eq!(PageParams::default().page().unwrap().limit, PageRequest::DEFAULT_LIMIT);
    }

    #[test]
    fn query_strings_refuse_unknown_and_repeated_parameters() {
        let ok: PageParams = serde_urlencoded_compat("limit=5&cursor=abc%3D").unwrap();
        assert_eq!(ok.cursor.as_deref(), Some("abc="));
        assert!(serde_urlencoded_compat::<PageParams>("limit=5&bogus=1").is_err());
        assert!(serde_urlencoded_compat::<PageParams>("limit=5&limit=6").is_err());
    }
}
