//! Standalone authentication: the layer that verifies bearer tokens and
//! puts their claims where API Gateway's JWT authorizer would, and (in demo
//! mode only) a dev login that issues HS256 tokens for the demo accounts.
//!
//! Tokens only identify. What a caller may do comes from the staff
//! directory (`subsidy_core::identity::staff`), on this path as on AWS.
//!
//! Which tokens are accepted:
//! - with `--oidc-issuer`: only the issuer's (RS256 or ES256, keys from its
//!   JWKS); this server's own HS256 tokens are refused;
//! - otherwise: this data directory's own HS256 tokens (dev-login's, in
//!   demo mode; or tokens minted by whoever holds `secret.key`).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use subsidy_api::{ApiError, ApiResult, Body};
use subsidy_core::Error;
use subsidy_infra::jwt::{Hs256, TokenError};
use subsidy_infra::oidc::OidcVerifier;

use crate::demo::{self, DemoAccount};

/// Tokens last a working day.
pub const TOKEN_TTL_SECS: i64 = 12 * 3600;

/// Who signs the tokens this server accepts.
pub enum Verifier {
    /// This data directory's HS256 key.
    Own(Arc<Hs256>),
    /// An OIDC issuer's published keys.
    Oidc(Arc<OidcVerifier>),
}

impl Verifier {
    async fn verify(&self, token: &str) -> Result<std::collections::HashMap<String, String>, TokenError> {
        match self {
            Verifier::Own(keys) => keys.verify_claims(token),
            Verifier::Oidc(oidc) => oidc.verify_claims(token).await,
        }
    }
}

#[derive(Clone)]
pub struct Auth {
    pub verifier: Arc<Verifier>,
    /// Signs dev-login tokens (demo mode).
    pub keys: Arc<Hs256>,
}

/// Verifies `Authorization: Bearer …` when present. A bad token is refused
/// here, as API Gateway refuses it before the function; a missing token
/// passes through and the handler answers 401 if it needs an identity.
pub async fn layer(State(auth): State<Auth>, mut req: Request, next: Next) -> Response {
    if let Some(h) = req.headers().get(AUTHORIZATION) {
        let token = h.to_str().ok().and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
        let claims = match token {
            Some(t) => match auth.verifier.verify(t.trim()).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::info!(reason = %e, "bearer token refused");
                    return ApiError::Core(Error::Unauthenticated).into_response();
                }
            },
            None => return ApiError::Core(Error::Unauthenticated).into_response(),
        };
        let ctx = subsidy_api::extract::request_context(req.method(), req.uri().path(), &claims);
        req.extensions_mut().insert(ctx);
    }
    next.run(req).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginInput {
    pub username: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginOutput {
    pub token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub account: &'static DemoAccount,
}

/// `POST /api/v1/auth/dev-login`: a token for a demo account. Served only
/// by `serve --demo`.
pub async fn dev_login(State(auth): State<Auth>, Body(input): Body<LoginInput>) -> ApiResult<Json<LoginOutput>> {
    let account = demo::find(input.username.trim()).ok_or_else(|| {
        ApiError::Core(Error::invalid("username", "no such demo account; see GET /api/v1/auth/dev-accounts"))
    })?;
    let token = auth.keys.sign(&account.token_claims(), chrono::Utc::now().timestamp(), TOKEN_TTL_SECS);
    Ok(Json(LoginOutput { token, token_type: "Bearer", expires_in: TOKEN_TTL_SECS, account }))
}

/// `GET /api/v1/auth/dev-accounts`: the demo accounts. Served only by
/// `serve --demo`.
pub async fn dev_accounts() -> Json<&'static [DemoAccount]> {
    Json(demo::ACCOUNTS)
}
