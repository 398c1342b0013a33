//! **Capability: payout.** Owns batches, payment lines, district budgets,
//! the batch lifecycle ([`lifecycle`]) and the bank's results; the use
//! cases are [`batches::Batches`] (building) and
//! [`settlement::Settlement`] (files and results), over the shared
//! [`ledger::Ledger`]. It moves applications only through the state
//! machine (into a batch, paid, failed), in the same write as the line and
//! the budget; it never touches companies, documents or staff.
//!
//! Disbursement (国库集中支付, 据实拨付): payment batches, their lines, the
//! district budget, the bank's results, and re-issue. Never paying twice
//! and never paying an unverified account hold by construction:
//!
//! - An application enters a batch only through one conditional write that
//!   moves it `approved → in_payment_batch`, creates its line and takes the
//!   amount from the district's remaining budget, all at once. A second
//!   batch's write on the same application fails its condition, so two
//!   batch creations split the applications between them.
//! - A line is live while `pending`. An application has at most one live
//!   line, because only an `approved` application can be claimed and
//!   claiming makes it `in_payment_batch`.
//! - The payee on a line is the application's verified account: the one
//!   the district approved, or a change the district verified since. A
//!   company's bank account change after approval is recorded on each
//!   affected application and blocks its payment until verified.
//!
//! Batch states: building → ready → released → reconciled; building and
//! ready can be cancelled, which returns every claimed application.

pub mod batches;
pub mod ledger;
pub mod lifecycle;
pub mod settlement;
pub mod views;

pub use ledger::{MAX_POSTED_RESULT_FILE, MAX_RESULT_FILE, REQUEST_SHARE, RESULTS_CONTENT_TYPE, batch_file_key};
pub use views::*;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::application::Application;
use crate::audit::AuditEntry;
use crate::error::StoreError;
use crate::fields::BankAccount;
use crate::money::Fen;
use crate::ports::{Page, PageRequest, StoreResult};

/// The purpose text every treasury line carries.
pub const PURPOSE: &str = "物业服务企业疫情防控服务财政补助";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchState {
    /// Applications are being claimed (a crashed creation stays here until
    /// resumed or cancelled).
    Building,
    /// Every line is claimed and the control totals are fixed.
    Ready,
    /// Sent to the bank (by a second finance user).
    Released,
    /// Every line has the bank's answer.
    Reconciled,
    /// Cancelled before release; every application went back.
    Cancelled,
}

impl BatchState {
    pub fn as_str(self) -> &'static str {
        match self {
            BatchState::Building => "building",
            BatchState::Ready => "ready",
            BatchState::Released => "released",
            BatchState::Reconciled => "reconciled",
            BatchState::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Batch {
    pub id: String,
    pub policy_id: String,
    /// The district-level unit whose finance pays.
    pub district: String,
    pub state: BatchState,
    pub version: u64,
    pub note: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub released_by: Option<String>,
    pub released_at: Option<DateTime<Utc>>,
    /// Control totals, fixed when the batch becomes ready.
    pub line_count: u64,
    pub total: Fen,
    pub paid_count: u64,
    pub paid: Fen,
    pub failed_count: u64,
    pub failed: Fen,
    /// Eligible applications left out because the budget did not cover them.
    pub left_out_for_budget: u64,
    pub updated_at: DateTime<Utc>,
    pub audit_seq: u64,
    pub audit_head: String,
    /// The lines are frozen: set while the batch is still `building`,
    /// before its control totals are counted, so that no claim lands after
    /// the count (a resume racing the batch queue). Never unset.
    #[serde(default)]
    pub sealed: bool,
    /// Everyone who created or resumed the building of the batch: none of
    /// them may release it (maker-checker).
    #[serde(default)]
    pub builders: Vec<String>,
}

impl Batch {
    /// Whether a claim may still add a line: building and not sealed. The
    /// stores make every claim conditional on this, in the claim's own
    /// transaction.
    pub fn claimable(&self) -> bool {
        self.state == BatchState::Building && !self.sealed
    }

    /// Whether `user` built this batch (created it, or resumed it).
    pub fn built_by(&self, user: &str) -> bool {
        self.created_by == user || self.builders.iter().any(|b| b == user)
    }

    /// Whether the treasury file may exist and be served: only once a
    /// second person has released the batch.
    pub fn file_allowed(&self) -> bool {
        matches!(self.state, BatchState::Released | BatchState::Reconciled)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineStatus {
    /// With the batch; live.
    Pending,
    Paid,
    Failed,
    /// The batch was cancelled before release.
    Cancelled,
}

impl LineStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LineStatus::Pending => "pending",
            LineStatus::Paid => "paid",
            LineStatus::Failed => "failed",
            LineStatus::Cancelled => "cancelled",
        }
    }
}

/// One payment to one company for one application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentLine {
    pub id: String,
    pub batch_id: String,
    pub application_id: String,
    pub company_name: String,
    pub credit_code: String,
    pub project_name: String,
    /// In full: only the batch file shows it so.
    pub payee: BankAccount,
    pub amount: Fen,
    pub status: LineStatus,
    pub reason: Option<String>,
    /// The failed line this one re-issues.
    pub revises: Option<String>,
    pub created_at: DateTime<Utc>,
    pub settled_at: Option<DateTime<Utc>>,
}

/// A district's budget under a policy. `remaining` is what may still be
/// committed: allocated − committed − paid.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Budget {
    pub allocated: Fen,
    pub committed: Fen,
    pub paid: Fen,
    pub remaining: Fen,
}

/// How a settlement moves the budget, in fen (signed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BudgetMove {
    pub committed: i64,
    pub paid: i64,
    pub remaining: i64,
}

/// Why a claim did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// The application changed since it was read (claimed by another batch,
    /// or its account changed): skip it.
    #[error("the application changed meanwhile")]
    Moved,
    /// The district's remaining budget does not cover the amount.
    #[error("the remaining budget does not cover this amount")]
    OverBudget,
    /// The batch takes no more lines ([`Batch::claimable`]): stop filling.
    #[error("the batch takes no more lines")]
    Closed,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An application's conditional write: the next image, the version it
/// replaces, and its audit entry.
#[derive(Debug, Clone, Copy)]
pub struct AppWrite<'a> {
    pub app: &'a Application,
    pub expected_version: u64,
    pub audit: &'a AuditEntry,
}

/// A district's budget under a policy.
#[derive(Debug, Clone, Copy)]
pub struct BudgetKey<'a> {
    pub policy_id: &'a str,
    pub district: &'a str,
}

/// Storage of batches, lines and budgets.
#[async_trait]
pub trait PayoutStore: Send + Sync {
    async fn create_batch(&self, batch: &Batch, audit: &AuditEntry) -> StoreResult<()>;
    async fn get_batch(&self, id: &str) -> StoreResult<Option<Batch>>;
    /// Conditional on `expected_version`, with the batch's next audit entry.
    async fn update_batch(&self, batch: &Batch, expected_version: u64, audit: Option<&AuditEntry>) -> StoreResult<()>;
    /// How many claims or settlements of one batch this store takes at
    /// once. One, unless the store serializes them itself without conflict:
    /// SQLite runs them on its one connection and shares commits among
    /// them; DynamoDB transactions on the shared budget item would conflict.
    fn parallel_writes(&self) -> usize {
        1
    }
    /// A district's batches, newest first.
    async fn batches_of(&self, policy_id: &str, district: &str, page: &PageRequest) -> StoreResult<Page<Batch>>;
    /// The budget; a district never paid from starts with `allocated`.
    async fn budget(&self, policy_id: &str, district: &str, allocated: Fen) -> StoreResult<Budget>;
    /// Atomically: the application (conditional on its expected version) and
    /// its audit entry, the new line, and the line's amount taken from the
    /// remaining budget (conditional on it covering the amount), all
    /// conditional on the line's batch still taking lines
    /// ([`Batch::claimable`]; `Closed` otherwise).
    async fn claim(
        &self,
        app: AppWrite<'_>,
        line: &PaymentLine,
        budget: BudgetKey<'_>,
        allocated: Fen,
    ) -> Result<(), ClaimError>;
    /// Atomically: the application (conditional) and its audit entry, the
    /// line (conditional on its stored status being `Pending`), and the
    /// budget move. `Moved` if either changed meanwhile.
    async fn settle(
        &self,
        app: AppWrite<'_>,
        line: &PaymentLine,
        budget: BudgetKey<'_>,
        m: BudgetMove,
    ) -> Result<(), ClaimError>;
    /// Atomically: the application (conditional on its expected version)
    /// and its audit entry, and the budget move: a repayment of a recovery
    /// (追回) gives back to the budget. `Moved` if the application changed.
    async fn repay(&self, app: AppWrite<'_>, budget: BudgetKey<'_>, m: BudgetMove) -> Result<(), ClaimError>;
    /// A batch's lines in creation order.
    async fn lines_of(&self, batch_id: &str, page: &PageRequest) -> StoreResult<Page<PaymentLine>>;
    async fn get_line(&self, batch_id: &str, line_id: &str) -> StoreResult<Option<PaymentLine>>;
}

/// Work on one batch for the batch queue (SQS on AWS, a background task in
/// standalone): the next step of its building, or its files, by its state
/// ([`Self::of`]); or the next part of a results file ([`ResultsJob`]).
/// Delivered at least once; doing a job twice is harmless.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BatchJob {
    pub batch_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<ResultsJob>,
}

impl BatchJob {
    /// Whatever the batch needs next by its state.
    pub fn of(batch_id: &str) -> BatchJob {
        BatchJob { batch_id: batch_id.to_string(), results: None }
    }
}

/// The rest of an accepted results file to settle: the file as stored in
/// the exports store, who imported it, and the first line not yet done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResultsJob {
    pub file_key: String,
    pub imported_by: String,
    pub from_line: usize,
}

/// The batch queue. At least once; a job done twice is harmless.
#[async_trait]
pub trait BatchQueue: Send + Sync {
    async fn request(&self, job: &BatchJob) -> StoreResult<()>;

    /// Asks for what the batch needs next: a building step or its files.
    async fn request_export(&self, batch_id: &str) -> StoreResult<()> {
        self.request(&BatchJob::of(batch_id)).await
    }
}

/// For deployments and tests that never create batches.
pub struct NoBatchQueue;

#[async_trait]
impl BatchQueue for NoBatchQueue {
    async fn request(&self, _job: &BatchJob) -> StoreResult<()> {
        Err(StoreError::Backend("this deployment does not write batch files".into()))
    }
}

/// One line of the bank's result file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultLine {
    pub line_id: String,
    pub paid: bool,
    pub reason: Option<String>,
}

/// A parsed result file: its control totals and its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultFile {
    pub batch_id: String,
    pub line_count: u64,
    pub total: Fen,
    pub lines: Vec<ResultLine>,
}

/// Parses the bank's result file (CSV, UTF-8, a BOM allowed):
///
/// ```text
/// 批次号,<batch id>
/// 笔数,<lines in this file>
/// 总金额(元),<sum of their amounts>
/// 行号,状态,原因
/// <line id>,成功|失败|paid|failed,<reason if failed>
/// ```
///
/// Every problem found is returned, each naming its line, so that the
/// whole file can be refused with one answer.
pub fn parse_results(text: &str) -> Result<ResultFile, Vec<String>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // The csv crate reads quoted cells ("失败","余额不足, 账户冻结") as one;
    // rows with nothing in them are passed over.
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
    let mut problems = Vec::new();
    let mut records = Vec::new();
    for r in reader.records() {
        match r {
            Ok(r) if r.iter().all(str::is_empty) => {}
            Ok(r) => records.push(r),
            Err(e) => {
                problems.push(format!("the file is not readable as CSV: {e}"));
                return Err(problems);
            }
        }
    }
    let mut rows = records.into_iter();
    let mut header = |label: &str| -> Option<String> {
        match rows.next() {
            Some(r) if r.get(0) == Some(label) => Some(r.get(1).unwrap_or("").to_string()),
            Some(_) => {
                problems.push(format!("the header must start with the row \"{label},…\""));
                None
            }
            None => {
                problems.push(format!("the row \"{label},…\" is missing"));
                None
            }
        }
    };
    let batch_id = header("批次号");
    let count = header("笔数");
    let total = header("总金额(元)");
    let columns = rows.next();
    let mut file = ResultFile {
        batch_id: batch_id.clone().unwrap_or_default(),
        line_count: 0,
        total: Fen::ZERO,
        lines: Vec::new(),
    };
    if let Some(c) = count {
        match c.parse() {
            Ok(n) => file.line_count = n,
            Err(_) => problems.push(format!("笔数 must be a whole number, not \"{c}\"")),
        }
    }
    if let Some(t) = total {
        match Fen::parse_yuan(&t) {
            Ok(f) => file.total = f,
            Err(_) => problems.push(format!("总金额 must be an amount in yuan like 12345.67, not \"{t}\"")),
        }
    }
    if columns.as_ref().is_none_or(|c| c.get(0) != Some("行号")) {
        problems.push("the columns row \"行号,状态,原因\" is missing".into());
    }
    let mut seen = std::collections::HashSet::new();
    for row in rows {
        let n = row.position().map(|p| p.line()).unwrap_or_default();
        let line_id = row.get(0).unwrap_or("").to_string();
        let paid = match row.get(1).unwrap_or("") {
            "成功" | "paid" | "PAID" => true,
            "失败" | "failed" | "FAILED" => false,
            other => {
                problems.push(format!("line {line_id} (row {n}): status must be 成功 or 失败, not \"{other}\""));
                continue;
            }
        };
        let reason = row.get(2).filter(|r| !r.is_empty()).map(str::to_string);
        if !paid && reason.is_none() {
            problems.push(format!("line {line_id} (row {n}): a failed payment needs a reason"));
        }
        if !seen.insert(line_id.clone()) {
            problems.push(format!("line {line_id} (row {n}) appears twice"));
            continue;
        }
        file.lines.push(ResultLine { line_id, paid, reason });
    }
    if file.lines.len() as u64 != file.line_count && problems.is_empty() {
        problems.push(format!("笔数 says {} lines but the file has {}", file.line_count, file.lines.len()));
    }
    if batch_id.is_some_and(|b| b.is_empty()) {
        problems.push("批次号 is empty".into());
    }
    if problems.is_empty() { Ok(file) } else { Err(problems) }
}

crate::audit::chained!(Batch, |b| format!("batch:{}", b.id));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_job_is_the_queue_message_both_consumers_read() {
        // The shape the SQS messages already in flight have.
        let plain: BatchJob = serde_json::from_str(r#"{"batchId":"01B"}"#).unwrap();
        assert_eq!(plain, BatchJob::of("01B"));
        assert_eq!(serde_json::to_string(&plain).unwrap(), r#"{"batchId":"01B"}"#);
        let job = BatchJob {
            batch_id: "01B".into(),
            results: Some(ResultsJob {
                file_key: "exports/batches/01B/r.csv".into(),
                imported_by: "u".into(),
                from_line: 500,
            }),
        };
        let text = serde_json::to_string(&job).unwrap();
        assert_eq!(serde_json::from_str::<BatchJob>(&text).unwrap(), job);
        // Anything else is refused (the consumer fails the message, which
        // goes to the dead-letter queue after its retries).
        for bad in [
            r#"{}"#,
            r#"{"batchId":"01B","extra":1}"#,
            r#"{"batchId":"01B","results":{"fileKey":"k","importedBy":"u"}}"#,
            r#"{"batchId":"01B","results":{"fileKey":"k","importedBy":"u","fromLine":-1}}"#,
            r#"not json"#,
        ] {
            assert!(serde_json::from_str::<BatchJob>(bad).is_err(), "{bad}");
        }
    }

    const GOOD: &str = "\u{feff}批次号,B1\n笔数,2\n总金额(元),300.50\n行号,状态,原因\nL1,成功,\nL2,失败,户名不符\n";

    #[test]
    fn a_result_file_parses_with_its_control_totals() {
        let f = parse_results(GOOD).unwrap();
        assert_eq!((f.batch_id.as_str(), f.line_count, f.total.fen()), ("B1", 2, 30_050));
        assert_eq!(f.lines[1], ResultLine { line_id: "L2".into(), paid: false, reason: Some("户名不符".into()) });
    }

    #[test]
    fn quoted_cells_are_read_whole_as_the_bank_writes_them() {
        let quoted = "批次号,\"B1\"\n笔数,2\n总金额(元),\"300.50\"\n行号,状态,原因\n\"L1\",\"成功\",\"\"\n\"L2\",\"失败\",\"余额不足, 账户冻结\"\n";
        let f = parse_results(quoted).unwrap();
        assert_eq!(f.lines[1].reason.as_deref(), Some("余额不足, 账户冻结"));
        assert_eq!((f.batch_id.as_str(), f.total.fen()), ("B1", 30_050));
        // Windows line ends and blank lines between rows change nothing.
        assert_eq!(parse_results(&GOOD.replace('\n', "\r\n\r\n")).unwrap(), parse_results(GOOD).unwrap());
    }

    #[test]
    fn a_bad_result_file_reports_every_problem_with_its_line() {
        let dup = GOOD.replace("L2,失败,户名不符", "L1,失败,户名不符");
        assert!(parse_results(&dup).unwrap_err().iter().any(|p| p.contains("L1") && p.contains("twice")));
        let no_reason = GOOD.replace("L2,失败,户名不符", "L2,失败,");
        assert!(parse_results(&no_reason).unwrap_err()[0].contains("L2"));
        let bad_status = GOOD.replace("L1,成功,", "L1,maybe,");
        assert!(parse_results(&bad_status).unwrap_err()[0].contains("L1"));
        let count = GOOD.replace("笔数,2", "笔数,3");
        assert!(parse_results(&count).unwrap_err()[0].contains("笔数"));
        let total = GOOD.replace("300.50", "300.505");
        assert!(parse_results(&total).unwrap_err()[0].contains("总金额"));
        assert!(!parse_results("").unwrap_err().is_empty());
        assert!(!parse_results("行号,状态,原因\nL1,成功,\n").unwrap_err().is_empty());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn line() -> impl Strategy<Value = (String, bool, String)> {
            ("[0-9A-Z]{26}", any::<bool>(), "[a-z\u{4e00}-\u{4e2f}]{1,12}")
        }

        proptest! {
            /// Whatever arrives, the parser answers: a file or its problems,
            /// never a panic, and never a file with problems in it.
            #[test]
            fn any_text_parses_or_is_refused_with_reasons(text in "\\PC{0,400}") {
                match parse_results(&text) {
                    Ok(f) => prop_assert_eq!(f.lines.len() as u64, f.line_count),
                    Err(problems) => prop_assert!(!problems.is_empty()),
                }
            }

            /// A file written by the rules parses back to exactly its lines
            /// and control totals, with or without a BOM and blank lines.
            #[test]
            fn a_well_formed_file_parses_back_exactly(
                lines in proptest::collection::vec(line(), 0..40),
                fen in 0i64..10_000_000_000,
                bom in any::<bool>(),
            ) {
                let mut unique = std::collections::HashSet::new();
                let lines: Vec<_> = lines.into_iter().filter(|(id, _, _)| unique.insert(id.clone())).collect();
                let total = Fen::new(fen).unwrap();
                let mut text = format!("{}批次号,B9\n笔数,{}\n总金额(元),{}\n\n行号,状态,原因\n", if bom { "\u{feff}" } else { "" }, lines.len(), total);
                for (id, paid, reason) in &lines {
                    text.push_str(&format!("{id},{},{}\n", if *paid { "成功" } else { "失败" }, if *paid { "" } else { reason }));
                }
                let f = parse_results(&text).unwrap();
                prop_assert_eq!(&f.batch_id, "B9");
                prop_assert_eq!(f.total, total);
                prop_assert_eq!(f.lines.len(), lines.len());
                for (got, (id, paid, reason)) in f.lines.iter().zip(&lines) {
                    prop_assert_eq!(&got.line_id, id);
                    prop_assert_eq!(got.paid, *paid);
                    prop_assert_eq!(got.reason.as_deref(), (!paid).then_some(reason.as_str()));
                }
            }
        }
    }
}
