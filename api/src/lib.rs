//! HTTP glue shared by every function's router.
//!
//! - [`error`]: the error body and the one error → status mapping.
//! - [`extract`]: identity from the API Gateway request context, JSON and
//!   query extraction with field-specific errors, pagination.
//! - [`idempotency`]: the `Idempotency-Key` middleware.
//!
//! Handlers read identity only from the request context that API Gateway's
//! JWT authorizer fills in; the standalone server fills in the same context
//! after verifying its own tokens, so handlers cannot tell the difference.

pub mod error;
pub mod extract;
pub mod idempotency;
pub mod lambda;

pub use error::{ApiError, no_route};
pub use extract::{Body, Gate, Gated, Identity, PageParams, Query};

/// Handler result type.
pub type ApiResult<T> = Result<T, ApiError>;

/// Applies the layers every API router shares: idempotency on mutations and
/// the JSON 404/405 bodies.
pub fn finish<S: Clone + Send + Sync + 'static>(router: axum::Router<S>, gate: &Gate) -> axum::Router<S> {
    router
        .layer(axum::middleware::from_fn_with_state(gate.clone(), idempotency::layer))
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
}

/// Declares a router's routes once: builds `ROUTES`, the (method, path)
/// table that the OpenAPI and authorization tests walk, and `routes()`, the
/// axum router serving exactly those routes, over the function's state
/// type `$state` (held as `Arc<$state>`).
#[macro_export]
macro_rules! routes {
    ($state:ty; $($method:ident $path:literal => $handler:path),* $(,)?) => {
        /// Every route this router serves, as (method, path).
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        fn routes() -> ::axum::Router<::std::sync::Arc<$state>> {
            ::axum::Router::new()
                $(.route($path, ::axum::routing::on(::axum::routing::MethodFilter::$method, $handler)))*
        }
    };
}
