//! The one error type of the use cases.
//!
//! Each variant names the HTTP status it maps to; the mapping itself is one
//! function in the `subsidy-api` crate. `code()` is the stable, translatable
//! identifier clients switch on. `Internal` carries a cause for the logs that
//! is never shown to a client.

use chrono::{DateTime, FixedOffset};

use crate::money::Fen;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// 401: no valid identity.
    #[error("authentication required")]
    Unauthenticated,
    /// 403: the caller may not do this, and knowing why leaks nothing (an
    /// administrator granting a unit outside their jurisdiction).
    #[error("{message}")]
    Forbidden { field: Option<String>, message: String },
    /// 403: the staff member's account has been disabled.
    #[error("this staff account has been disabled")]
    AccountDisabled,
    /// 409: verifying a bank account needs its full view opened first, by
    /// the verifier (`reveal-bank-account`).
    #[error("open the full account (reveal-bank-account) before verifying it")]
    RevealRequired,
    /// 422: the account's holder is not the company by name; verifying it
    /// needs an explicit confirmation.
    #[error("the account's holder name differs from the company's name; confirm it (confirmHolderName) to verify")]
    HolderNameUnconfirmed,
    /// 403: the caller asked to act with a role they do not hold.
    #[error("you do not hold the role you asked to act as")]
    NotAssigned,
    /// 403: the caller asked to act as a project manager, but the identity
    /// platform has not verified their phone (or gave none): they may act
    /// as a company instead (`X-Acting-As: company`).
    #[error("a project manager needs a mobile number the identity platform has verified")]
    PhoneNotVerified,
    /// 409: the change would leave a unit without an active administrator.
    #[error("you are the last active administrator of this unit; add another first")]
    LastAdmin,
    /// 422: the company's credit code differs from the one the identity
    /// platform's legal-person login gave.
    #[error("the credit code must be the one your legal-person login carries")]
    CreditCodeMismatch,
    /// 404: absent, or outside the caller's scope. Never says which.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 422: a field failed validation.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// 409: the caller's version is stale.
    #[error("the record was changed by someone else; reload it (current version {current})")]
    VersionConflict { current: u64 },
    /// 409: another live application holds this project under this policy.
    /// Its id is given only to the company that owns it.
    #[error("this project already has a live application under this policy")]
    ProjectAlreadyClaimed { application_id: Option<String> },
    /// 409: the action does not apply in the application's current state.
    #[error("cannot {action} an application that is {state}")]
    WrongState { state: &'static str, action: &'static str },
    /// 409: the application window has closed.
    #[error("the application window closed at {closes_at}")]
    WindowClosed { closes_at: DateTime<FixedOffset> },
    /// 409: the application window has not opened yet.
    #[error("the application window opens at {opens_at}")]
    WindowNotOpen { opens_at: DateTime<FixedOffset> },
    /// 409: the caller must register a company profile first.
    #[error("register the company profile first")]
    CompanyProfileRequired,
    /// 409: another account registered this credit code.
    #[error("this unified social credit code is registered by another account")]
    CreditCodeTaken,
    /// 409: the project is under review and cannot change now.
    #[error(
        "the project is under review in application {application_id}; it can change when the application is returned"
    )]
    ProjectLocked { application_id: String },
    /// 422: required documents are missing or unverified.
    #[error("required documents are missing or not yet verified: {}", kinds.join(", "))]
    MissingDocuments { kinds: Vec<&'static str> },
    /// 413: the declared or uploaded document is too large.
    #[error("documents may be at most {max} bytes")]
    DocumentTooLarge { max: u64 },
    /// 415: only PDF, JPEG and PNG are accepted.
    #[error("only PDF, JPEG and PNG documents are accepted")]
    UnsupportedDocumentType,
    /// 422: the uploaded bytes are not what was declared.
    #[error("{0}")]
    DocumentRefused(String),
    /// 409: a request with this Idempotency-Key is still being processed.
    #[error("a request with this Idempotency-Key is still in progress")]
    IdempotencyInProgress,
    /// 422: this Idempotency-Key was used for a different request.
    #[error("this Idempotency-Key was already used for a different request")]
    IdempotencyKeyReused,
    /// 409: payments are due before the payout deadline, which has passed.
    #[error("the payout deadline passed at {deadline}; no new payments can be made")]
    PayoutDeadlinePassed { deadline: DateTime<FixedOffset> },
    /// 409: the application's bank account waits for the district's verification.
    #[error("the bank account has not been verified by the district")]
    PayeeNotVerified,
    /// 409: a payment line is with the bank; the account cannot change now.
    #[error("a payment is in progress; the bank account can change once the bank has answered")]
    PaymentInProgress,
    /// 409: urging (催办) before the step's time limit has passed.
    #[error("this step is not overdue yet: it is due by {due_at}")]
    NotOverdue { due_at: DateTime<FixedOffset> },
    /// 409: whoever opened a recovery cannot confirm it (maker-checker).
    #[error("a recovery must be confirmed by a finance user other than the one who opened it")]
    SameUserCannotConfirm,
    /// 409: a bulk approval's spot check (抽查): these sampled applications
    /// must be opened in detail first. Nothing was approved.
    #[error("spot check: open these {} applications in detail first, then approve the same selection again", sample.len())]
    SpotCheckRequired { sample: Vec<String> },
    /// 409: the public notice's window (公示期) ended at `ends_at`:
    /// objections are no longer taken.
    #[error("the public notice closed at {ends_at}; objections are no longer taken")]
    NoticeClosed { ends_at: DateTime<FixedOffset> },
    /// 409: this user has objected to this notice already.
    #[error("you have already objected to this public notice")]
    AlreadyObjected,
    /// 409: the step was urged already on this working day.
    #[error("this step was already urged today; you can urge again on the next working day")]
    AlreadyUrged,
    /// 409: the district has no budget under this policy.
    #[error("no budget is allocated to this district")]
    NoBudget,
    /// 409: paying would exceed the district's remaining budget.
    #[error("the remaining budget ({remaining} yuan) does not cover any eligible application")]
    BudgetExceeded { remaining: Fen },
    /// 409: no application is waiting for payment.
    #[error("no approved application is waiting for payment")]
    NothingToPay,
    /// 409: the batch is not in a state that allows this.
    #[error("cannot {action} a batch that is {state}")]
    BatchWrongState { state: &'static str, action: &'static str },
    /// 409: maker-checker: whoever created or resumed a batch cannot release it.
    #[error("a batch must be released by another finance user than those who created or resumed it")]
    SameUserCannotRelease,
    /// 409: the batch file is still being written.
    #[error("the batch file is still being written; try again shortly")]
    FileNotReady,
    /// 422: a bank result file that cannot be imported; nothing was changed.
    #[error("the result file was refused whole: {}", problems.join("; "))]
    ResultsRefused { problems: Vec<String> },
    /// 500: a fault inside the system; the text goes to the logs only.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Invalid { field: field.into(), message: message.into() }
    }

    pub fn internal(cause: impl std::fmt::Display) -> Error {
        Error::Internal(cause.to_string())
    }

    /// The stable code clients translate.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Unauthenticated => "unauthenticated",
            Error::NotFound(_) => "not_found",
            Error::Forbidden { .. } => "forbidden",
            Error::AccountDisabled => "account_disabled",
            Error::NotAssigned => "not_assigned",
            Error::PhoneNotVerified => "phone_not_verified",
            Error::RevealRequired => "reveal_required",
            Error::HolderNameUnconfirmed => "holder_name_unconfirmed",
            Error::LastAdmin => "last_admin",
            Error::CreditCodeMismatch => "credit_code_mismatch",
            Error::Invalid { .. } => "invalid_field",
            Error::VersionConflict { .. } => "version_conflict",
            Error::ProjectAlreadyClaimed { .. } => "project_already_claimed",
            Error::WrongState { .. } => "wrong_state",
            Error::WindowClosed { .. } => "window_closed",
            Error::WindowNotOpen { .. } => "window_not_open",
            Error::CompanyProfileRequired => "company_profile_required",
            Error::CreditCodeTaken => "credit_code_taken",
            Error::ProjectLocked { .. } => "project_locked",
            Error::MissingDocuments { .. } => "missing_documents",
            Error::DocumentTooLarge { .. } => "document_too_large",
            Error::UnsupportedDocumentType => "unsupported_document_type",
            Error::DocumentRefused(_) => "document_refused",
            Error::IdempotencyInProgress => "idempotency_in_progress",
            Error::IdempotencyKeyReused => "idempotency_key_reused",
            Error::PayoutDeadlinePassed { .. } => "payout_deadline_passed",
            Error::PayeeNotVerified => "payee_not_verified",
            Error::PaymentInProgress => "payment_in_progress",
            Error::NotOverdue { .. } => "not_overdue",
            Error::AlreadyUrged => "already_urged",
            Error::NoticeClosed { .. } => "notice_closed",
            Error::AlreadyObjected => "already_objected",
            Error::SpotCheckRequired { .. } => "spot_check_required",
            Error::NoBudget => "no_budget",
            Error::BudgetExceeded { .. } => "budget_exceeded",
            Error::NothingToPay => "nothing_to_pay",
            Error::BatchWrongState { .. } => "wrong_state",
            Error::SameUserCannotRelease | Error::SameUserCannotConfirm => "maker_checker",
            Error::FileNotReady => "file_not_ready",
            Error::ResultsRefused { .. } => "results_refused",
            Error::Internal(_) => "internal",
        }
    }

    /// The field a client should highlight, when there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::Invalid { field, .. } => Some(field),
            Error::Forbidden { field, .. } => field.as_deref(),
            Error::CreditCodeMismatch => Some("creditCode"),
            Error::HolderNameUnconfirmed => Some("confirmHolderName"),
            Error::MissingDocuments { .. } => Some("documents"),
            Error::DocumentTooLarge { .. } => Some("size"),
            Error::UnsupportedDocumentType => Some("contentType"),
            Error::DocumentRefused(_) => Some("content"),
            Error::ResultsRefused { .. } => Some("file"),
            _ => None,
        }
    }
}

/// What a storage adapter can report. Adapters never invent domain errors;
/// the use cases translate these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A conditional write found another version.
    #[error("version conflict, current version {current}")]
    VersionConflict { current: u64 },
    /// A create found the record already there.
    #[error("already exists")]
    AlreadyExists,
    /// The (policy, project) claim is held by another live application.
    #[error("claimed by {application_id}")]
    Claimed { application_id: String },
    /// A unique attribute (such as a credit code) is taken.
    #[error("unique constraint on {0}")]
    Unique(&'static str),
    #[error("not found")]
    NotFound,
    /// A pagination cursor that this adapter did not issue.
    #[error("invalid cursor")]
    BadCursor,
    /// Anything else: I/O, corruption, throttling.
    #[error("storage backend: {0}")]
    Backend(String),
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        match e {
            StoreError::VersionConflict { current } => Error::VersionConflict { current },
            // Whose application it is, the use case decides (see `transition`).
            StoreError::Claimed { .. } => Error::ProjectAlreadyClaimed { application_id: None },
            StoreError::Unique("credit_code") => Error::CreditCodeTaken,
            StoreError::BadCursor => Error::invalid("cursor", "this cursor is not valid; start from the first page"),
            StoreError::NotFound => Error::NotFound("record"),
            other => Error::Internal(other.to_string()),
        }
    }
}
