//! What finance sends and reads: batch inputs, and the budget, eligible
//! list, batch, line and import views (accounts masked; amounts in yuan
//! and fen).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::application::views::ApplicationView;
use crate::company::views::BankAccountView;
use crate::money::Fen;
use crate::payout::{Batch, BatchState, LineStatus, PaymentLine};

/// A results import accepted: the batch, and whether the batch queue
/// goes on settling the file's later lines.
#[derive(Debug, Clone, Serialize)]
pub struct Imported {
    pub batch: BatchView,
    pub settling: bool,
}

/// Where to upload a results file too large to post, and the id to import
/// it by once uploaded (`POST /batches/{id}/results/import`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultsUpload {
    pub upload_id: String,
    pub upload: crate::ports::PresignedRequest,
    /// The largest file accepted, in bytes.
    pub max_size: usize,
}

/// Raw body of a results upload request: the file's exact size in bytes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResultsUploadInput {
    pub size: Option<i64>,
}

/// Raw body of an import of an uploaded results file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UploadedResultsInput {
    pub upload_id: Option<String>,
}

/// Raw body of a batch creation.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewBatchInput {
    #[serde(default)]
    pub note: Option<String>,
}

/// Raw body of a batch action.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BatchActionInput {
    pub version: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Money {
    pub yuan: String,
    pub fen: i64,
}

impl Money {
    /// Any number of fen, a negative one too (a forecast short of budget).
    pub fn of_fen(fen: i64) -> Money {
        Money { yuan: crate::money::format_hundredths(fen), fen }
    }

    pub fn of(f: Fen) -> Money {
        Money { yuan: f.to_string(), fen: f.fen() }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetView {
    pub district: String,
    pub allocated: Money,
    pub committed: Money,
    pub paid: Money,
    pub remaining: Money,
    /// What is in flight, and what would remain after it.
    pub forecast: crate::stats::views::ForecastView,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EligibleView {
    /// Approved applications that can be paid now, oldest approval first.
    pub items: Vec<ApplicationView>,
    pub next_cursor: Option<String>,
    /// All of them, not just this page.
    pub count: u64,
    pub total: Money,
    /// Approved but waiting for the district to verify a bank account change.
    pub blocked_by_bank_change: u64,
    pub budget: BudgetView,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchView {
    pub id: String,
    pub policy_id: String,
    pub district: String,
    pub state: BatchState,
    pub version: u64,
    pub note: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub released_by: Option<String>,
    pub released_at: Option<DateTime<Utc>>,
    pub line_count: u64,
    pub total: Money,
    pub paid_count: u64,
    pub paid: Money,
    pub failed_count: u64,
    pub failed: Money,
    pub left_out_for_budget: u64,
    /// Whether the batch files are written and can be downloaded.
    pub files_ready: bool,
    pub updated_at: DateTime<Utc>,
}

impl BatchView {
    pub fn of(b: &Batch, files_ready: bool) -> BatchView {
        BatchView {
            id: b.id.clone(),
            policy_id: b.policy_id.clone(),
            district: b.district.clone(),
            state: b.state,
            version: b.version,
            note: b.note.clone(),
            created_by: b.created_by.clone(),
            created_at: b.created_at,
            released_by: b.released_by.clone(),
            released_at: b.released_at,
            line_count: b.line_count,
            total: Money::of(b.total),
            paid_count: b.paid_count,
            paid: Money::of(b.paid),
            failed_count: b.failed_count,
            failed: Money::of(b.failed),
            left_out_for_budget: b.left_out_for_budget,
            files_ready,
            updated_at: b.updated_at,
        }
    }
}

/// A payment line as the API shows it: the account masked.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LineView {
    pub id: String,
    pub batch_id: String,
    pub application_id: String,
    pub company_name: String,
    pub credit_code: String,
    pub project_name: String,
    pub payee: BankAccountView,
    pub amount: Money,
    pub status: LineStatus,
    pub reason: Option<String>,
    pub revises: Option<String>,
    pub created_at: DateTime<Utc>,
    pub settled_at: Option<DateTime<Utc>>,
}

impl LineView {
    pub fn of(l: &PaymentLine) -> LineView {
        LineView {
            id: l.id.clone(),
            batch_id: l.batch_id.clone(),
            application_id: l.application_id.clone(),
            company_name: l.company_name.clone(),
            credit_code: l.credit_code.clone(),
            project_name: l.project_name.clone(),
            payee: BankAccountView::masked(&l.payee),
            amount: Money::of(l.amount),
            status: l.status,
            reason: l.reason.clone(),
            revises: l.revises.clone(),
            created_at: l.created_at,
            settled_at: l.settled_at,
        }
    }
}
