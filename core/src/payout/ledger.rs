//! What the payout use cases share: the ports of district finance, and
//! the reads and steps both [`super::batches::Batches`] and
//! [`super::settlement::Settlement`] take (whose batch it is, its view,
//! its lines, settling one line with its application).

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::application::Application;
use crate::application::state::step;
use crate::application::state::{Command, State};
use crate::audit::AuditEntry;
use crate::audit::Happened;
use crate::context::Context;
use crate::error::Error;
use crate::identity::authz::require_role;
use crate::identity::{Actor, Role};
use crate::money::Fen;
use crate::payout::views::*;
use crate::payout::*;
use crate::policy::Policy;
use crate::ports::{ApplicationStore, BlobStore, PageRequest};

/// The creating (or resuming) request claims a quarter of a step (the
/// adapter sets the step, `Ledger::batch_step`): the request answers
/// quickly, and the batch queue takes the rest.
pub const REQUEST_SHARE: usize = 4;

/// Who takes a step of a batch's building.
#[derive(Clone, Copy)]
pub(crate) enum Step {
    Request,
    Queue,
}

/// What one fill did.
pub(crate) struct Fill {
    pub(crate) claimed: usize,
    /// Every candidate was tried: nothing is left to claim.
    pub(crate) done: bool,
}

/// Where a batch's files live in the exports store.
pub fn batch_file_key(batch_id: &str, extension: &str) -> String {
    format!("exports/batches/{batch_id}/batch-{batch_id}.{extension}")
}

/// Where a results file is kept: uploaded there by finance (a file too
/// large to post), or written there by an import the batch queue finishes;
/// after, it is the bank's answer on record. `upload_id` is a ULID, so the
/// key is always one of this batch's and names nothing else.
pub(crate) fn results_file_key(batch_id: &str, upload_id: &ulid::Ulid) -> String {
    format!("exports/batches/{batch_id}/results-{upload_id}.csv")
}

/// The largest results file accepted, posted or uploaded: a line is well
/// under 200 bytes, so this holds some 80,000 lines or more.
pub const MAX_RESULT_FILE: usize = 16 * 1024 * 1024;

/// The largest results file that may be posted in the request body. An
/// API Gateway HTTP API passes at most 6 MB to a Lambda function, base64
/// included; a larger file is uploaded to the exports store first
/// ([`crate::payout::settlement::Settlement::results_upload`]).
pub const MAX_POSTED_RESULT_FILE: usize = 4 * 1024 * 1024;

/// The content type a results upload is signed for.
pub const RESULTS_CONTENT_TYPE: &str = "text/csv";

/// The batch queue acts for the finance officer who asked (their id in
/// the audit entries), within the batch's district.
pub(crate) fn acting_for(user_id: &str, batch: &Batch) -> Actor {
    Actor {
        user_id: user_id.to_string(),
        role: Role::Finance,
        unit: Some(batch.district.clone()),
        phone: None,
        name: None,
        credit_code: None,
    }
}

/// The next batch version with its audit entry appended.
pub(crate) fn batch_step(
    key: &crate::audit::AuditKey,
    batch: &Batch,
    actor: &Actor,
    action: &str,
    to: BatchState,
    comment: Option<String>,
    now: DateTime<Utc>,
) -> (Batch, AuditEntry) {
    let mut next = batch.clone();
    let from = Some(batch.state.as_str());
    let happened = Happened { at: now, actor, action, from, to: to.as_str(), comment };
    let audit = crate::audit::append(key, &mut next, happened);
    next.state = to;
    next.version += 1;
    next.updated_at = now;
    (next, audit)
}

/// An application that finance may pay now.
pub(crate) fn payable(app: &Application) -> bool {
    app.state == State::Approved && app.payee.is_some() && app.payee_change.is_none() && app.approved_amount.is_some()
}

/// Lines per status of a batch: (count, sum).
#[derive(Default)]
pub(crate) struct Tally(pub(crate) std::collections::HashMap<&'static str, (u64, Fen)>);

impl Tally {
    pub(crate) fn count(&self, s: LineStatus) -> u64 {
        self.0.get(s.as_str()).map_or(0, |t| t.0)
    }
    pub(crate) fn sum(&self, s: LineStatus) -> Fen {
        self.0.get(s.as_str()).map_or(Fen::ZERO, |t| t.1)
    }
}

/// An approved application as a batch sees it while choosing.
pub(crate) struct Approved {
    pub(crate) since: DateTime<Utc>,
    pub(crate) id: String,
    pub(crate) payable: bool,
    /// The re-issue of a failed payment (payable until `reissueUntil`).
    pub(crate) reissue: bool,
    pub(crate) amount: Option<Fen>,
}

impl Approved {
    pub(crate) fn of(app: &Application) -> Approved {
        Approved {
            since: app.state_since,
            id: app.id.clone(),
            payable: payable(app),
            reissue: app.failed_line.is_some(),
            amount: app.approved_amount,
        }
    }

    /// Payable, and inside the payout deadline, or a re-issue inside its
    /// grace ([`crate::application::state::check_payable_now`] on the whole application).
    pub(crate) fn payable_at(&self, policy: &Policy, now: DateTime<Utc>) -> bool {
        self.payable && (now < policy.payout_deadline || (self.reissue && now < policy.reissue_until()))
    }
}

/// A boxed future the store or a use case returns, run several at once.
pub(crate) type Pending<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// The ports district finance works through.
#[derive(Clone)]
pub struct Ledger {
    pub(crate) cx: Context,
    pub(crate) payout: Arc<dyn PayoutStore>,
    pub(crate) applications: Arc<dyn ApplicationStore>,
    /// Batch files, results files kept for the queue.
    pub(crate) exports: Arc<dyn BlobStore>,
    pub(crate) batch_queue: Arc<dyn BatchQueue>,
    /// How many lines a batch-queue step claims or settles: the adapter's
    /// choice (`infra::aws::BATCH_STEP`, `infra::sqlite::BATCH_STEP`).
    pub(crate) batch_step: Arc<std::sync::atomic::AtomicUsize>,
    /// The live counters, read for the budget forecast.
    pub(crate) stats: Arc<dyn crate::stats::StatsStore>,
}

impl Ledger {
    /// The district a finance user pays for.
    pub(crate) fn finance_district(&self, actor: &Actor) -> Result<String, Error> {
        require_role(actor, Role::Finance)?;
        actor.unit.clone().ok_or(Error::Unauthenticated)
    }

    pub(crate) fn allocated(policy: &Policy, district: &str) -> Result<Fen, Error> {
        policy.district_budgets.get(district).copied().ok_or(Error::NoBudget)
    }

    pub(crate) async fn budget_view(&self, policy: &Policy, district: &str) -> Result<BudgetView, Error> {
        let allocated = Self::allocated(policy, district).unwrap_or(Fen::ZERO);
        let b = self.payout.budget(&policy.id, district, allocated).await?;
        let key = crate::stats::UnitKey::new(&policy.id, district);
        let unit = self.stats.unit_totals(std::slice::from_ref(&key)).await?.remove(&key).unwrap_or_default();
        Ok(BudgetView {
            district: district.to_string(),
            allocated: Money::of(b.allocated),
            committed: Money::of(b.committed),
            paid: Money::of(b.paid),
            remaining: Money::of(b.remaining),
            forecast: crate::stats::views::ForecastView::of(policy, district, &unit.totals, unit.updated_at),
        })
    }

    pub(crate) async fn own_batch(&self, actor: &Actor, id: &str) -> Result<Batch, Error> {
        let district = self.finance_district(actor)?;
        match self.payout.get_batch(id).await? {
            Some(b) if b.district == district => Ok(b),
            _ => Err(Error::NotFound("batch")),
        }
    }

    pub(crate) async fn pending_totals(&self, batch_id: &str) -> Result<(u64, Fen), Error> {
        let t = self.tally(batch_id).await?;
        Ok((t.count(LineStatus::Pending), t.sum(LineStatus::Pending)))
    }

    /// How many lines of a batch stand in each status, and their sums,
    /// read a page at a time.
    pub(crate) async fn tally(&self, batch_id: &str) -> Result<Tally, Error> {
        let mut t = Tally::default();
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        loop {
            let lines = self.payout.lines_of(batch_id, &page).await?;
            for l in &lines.items {
                let (count, sum) = t.0.entry(l.status.as_str()).or_insert((0, Fen::ZERO));
                *count += 1;
                *sum = sum.checked_add(l.amount).ok_or_else(|| Error::internal("batch total overflow"))?;
            }
            match lines.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => return Ok(t),
            }
        }
    }

    pub(crate) async fn all_lines(&self, batch_id: &str) -> Result<Vec<PaymentLine>, Error> {
        let mut out = Vec::new();
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        loop {
            let lines = self.payout.lines_of(batch_id, &page).await?;
            out.extend(lines.items);
            match lines.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    /// Moves one line and its application together. Already-settled lines
    /// are left alone (imports and cancellations can be repeated).
    pub(crate) async fn settle_line(
        &self,
        actor: &Actor,
        policy: &Policy,
        batch: &Batch,
        settled: &PaymentLine,
        cmd: Command,
        budget: BudgetMove,
    ) -> Result<(), Error> {
        for _ in 0..5 {
            let app = self
                .applications
                .get_application(&settled.application_id)
                .await?
                .ok_or(Error::NotFound("application"))?;
            if app.state != State::InPaymentBatch || app.payment_line.as_deref() != Some(&settled.id) {
                return Ok(());
            }
            let (next, audit, _) =
                step(self.cx.audit_key.get().await?, &app, actor, cmd.clone(), policy, self.cx.now())?;
            let write = AppWrite { app: &next, expected_version: app.version, audit: &audit };
            let key = BudgetKey { policy_id: &batch.policy_id, district: &batch.district };
            match self.payout.settle(write, settled, key, budget).await {
                Ok(()) => return Ok(()),
                Err(ClaimError::Moved) => continue,
                Err(ClaimError::OverBudget | ClaimError::Closed) => {
                    return Err(Error::internal("settling neither takes budget nor adds a line"));
                }
                Err(ClaimError::Store(e)) => return Err(e.into()),
            }
        }
        Err(Error::internal("a payment line kept changing while it was settled"))
    }

    /// Whether a batch's files are in the exports store: both are written
    /// before the consumer finishes, the CSV last... so the XLSX is checked.
    pub(crate) async fn files_ready(&self, id: &str) -> Result<bool, Error> {
        let (csv, xlsx) = (batch_file_key(id, "csv"), batch_file_key(id, "xlsx"));
        Ok(self.exports.head(&csv, 0).await?.is_some() && self.exports.head(&xlsx, 0).await?.is_some())
    }

    pub(crate) async fn batch_view(&self, b: &Batch) -> Result<BatchView, Error> {
        let files = b.file_allowed() && self.files_ready(&b.id).await?;
        Ok(BatchView::of(b, files))
    }

    pub async fn batch(&self, actor: &Actor, id: &str) -> Result<BatchView, Error> {
        let b = self.own_batch(actor, id).await?;
        self.batch_view(&b).await
    }
}
