//! Adapters for the core's ports, and shared runtime plumbing.
//!
//! - [`sqlite`]: every storage port on one embedded SQLite database, with
//!   the outbox that plays the DynamoDB stream.
//! - [`fs`]: documents on the local filesystem, with signed local URLs that
//!   mimic S3 presigned requests.
//! - [`jwt`]: HS256 tokens for the standalone mode.
//! - [`oidc`]: an OIDC issuer's bearer tokens (JWKS), for the standalone
//!   server; on AWS, API Gateway's authorizer does this.
//! - [`sms_http`]: SMS through a signed HTTP gateway (standalone).
//! - [`cache`]: the per-container staff-directory cache of the functions.
//! - [`telemetry`]: tracing setup.

#[cfg(feature = "embedded")]
pub mod anchors_file;
#[cfg(feature = "aws")]
pub mod aws;
pub mod cache;
pub mod compact;
pub mod config;
pub mod data;
#[cfg(feature = "embedded")]
pub mod fs;
#[cfg(feature = "embedded")]
pub mod jwt;
#[cfg(feature = "embedded")]
pub mod oidc;
#[cfg(feature = "embedded")]
pub mod sms_http;
#[cfg(feature = "embedded")]
pub mod sqlite;
#[cfg(feature = "stream")]
pub mod stream;
pub mod telemetry;
