//! The HTTP error body and the one mapping from errors to status codes.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use subsidy_core::Error;

/// Every error an HTTP handler can return.
#[derive(Debug)]
pub enum ApiError {
    /// A use-case error; its status comes from [`status_of`].
    Core(Error),
    /// 400: the request could not be read (bad JSON, bad query, bad header).
    BadRequest { code: &'static str, message: String, field: Option<String> },
    /// 413: the body is larger than the endpoint accepts.
    BodyTooLarge { limit: usize },
    /// 404: no such route.
    NoRoute,
    /// 405: the route exists without this method.
    MethodNotAllowed,
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        ApiError::Core(e)
    }
}

impl From<subsidy_core::StoreError> for ApiError {
    fn from(e: subsidy_core::StoreError) -> ApiError {
        ApiError::Core(e.into())
    }
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>, field: Option<String>) -> ApiError {
        ApiError::BadRequest { code, message: message.into(), field }
    }
}

/// The one place errors become status codes.
pub fn status_of(e: &ApiError) -> StatusCode {
    match e {
        ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
        ApiError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        ApiError::NoRoute => StatusCode::NOT_FOUND,
        ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ApiError::Core(core) => match core {
            Error::Unauthenticated => StatusCode::UNAUTHORIZED,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Forbidden { .. } | Error::AccountDisabled | Error::NotAssigned | Error::PhoneNotVerified => {
                StatusCode::FORBIDDEN
            }
            Error::CreditCodeMismatch | Error::HolderNameUnconfirmed => StatusCode::UNPROCESSABLE_ENTITY,
            Error::LastAdmin => StatusCode::CONFLICT,
            Error::Invalid { .. } | Error::MissingDocuments { .. } | Error::DocumentRefused(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Error::IdempotencyKeyReused | Error::ResultsRefused { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Error::PayoutDeadlinePassed { .. }
            | Error::PayeeNotVerified
            | Error::PaymentInProgress
            | Error::NotOverdue { .. }
            | Error::AlreadyUrged
            | Error::NoticeClosed { .. }
            | Error::AlreadyObjected
            | Error::SpotCheckRequired { .. }
            | Error::NoBudget
            | Error::BudgetExceeded { .. }
            | Error::NothingToPay
            | Error::BatchWrongState { .. }
            | Error::SameUserCannotRelease
            | Error::SameUserCannotConfirm
            | Error::RevealRequired
            | Error::FileNotReady => StatusCode::CONFLICT,
            Error::VersionConflict { .. }
            | Error::ProjectAlreadyClaimed { .. }
            | Error::WrongState { .. }
            | Error::WindowClosed { .. }
            | Error::WindowNotOpen { .. }
            | Error::CompanyProfileRequired
            | Error::CreditCodeTaken
            | Error::ProjectLocked { .. }
            | Error::IdempotencyInProgress => StatusCode::CONFLICT,
            Error::DocumentTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedDocumentType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        },
    }
}

#[derive(Serialize)]
struct Envelope {
    error: ErrorBody,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    code: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    /// With `version_conflict`: the version to reload.
    #[serde(skip_serializing_if = "Option::is_none")]
    current_version: Option<u64>,
    /// With `project_already_claimed` and `project_locked`: the application
    /// that holds the project.
    #[serde(skip_serializing_if = "Option::is_none")]
    application_id: Option<String>,
    /// With `results_refused`: every problem found, each naming its line.
    #[serde(skip_serializing_if = "Option::is_none")]
    problems: Option<Vec<String>>,
    /// With `spot_check_required`: the sampled applications to open.
    #[serde(skip_serializing_if = "Option::is_none")]
    sample: Option<Vec<String>>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status_of(&self);
        let body = match self {
            ApiError::Core(Error::Internal(cause)) => {
                // The cause goes to the logs, never to the client.
                tracing::error!(error.cause = %cause, "internal error");
                ErrorBody {
                    code: "internal",
                    message: "an internal error occurred; please try again later".into(),
                    field: None,
                    current_version: None,
                    application_id: None,
                    problems: None,
                    sample: None,
                }
            }
            ApiError::Core(e) => ErrorBody {
                code: e.code(),
                message: e.to_string(),
                field: e.field().map(str::to_string),
                current_version: match &e {
                    Error::VersionConflict { current } => Some(*current),
                    _ => None,
                },
                application_id: match &e {
                    Error::ProjectAlreadyClaimed { application_id } => application_id.clone(),
                    Error::ProjectLocked { application_id } => Some(application_id.clone()),
                    _ => None,
                },
                problems: match &e {
                    Error::ResultsRefused { problems } => Some(problems.clone()),
                    _ => None,
                },
                sample: match &e {
                    Error::SpotCheckRequired { sample } => Some(sample.clone()),
                    _ => None,
                },
            },
            ApiError::BadRequest { code, message, field } => ErrorBody {
                code,
                message,
                field,
                current_version: None,
                application_id: None,
                problems: None,
                sample: None,
            },
            ApiError::BodyTooLarge { limit } => ErrorBody {
                code: "body_too_large",
                message: format!("the request body must be at most {limit} bytes"),
                field: None,
                current_version: None,
                application_id: None,
                problems: None,
                sample: None,
            },
            ApiError::NoRoute => ErrorBody {
                code: "no_route",
                message: "no such endpoint".into(),
                field: None,
                current_version: None,
                application_id: None,
                problems: None,
                sample: None,
            },
            ApiError::MethodNotAllowed => ErrorBody {
                code: "method_not_allowed",
                message: "this endpoint does not accept this method".into(),
                field: None,
                current_version: None,
                application_id: None,
                problems: None,
                sample: None,
            },
        };
        (status, Json(Envelope { error: body })).into_response()
    }
}

/// Router fallback: unknown paths get the error body too.
pub async fn no_route() -> ApiError {
    ApiError::NoRoute
}
