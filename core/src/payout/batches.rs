//! The disbursement use cases: what district finance does. The rules of
//! batches and lines are in [`crate::payout`]; this module authorizes
//! and orchestrates them.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::application::Application;
use crate::audit::{AuditEntry, GENESIS};
use crate::error::{Error, StoreError};
use crate::identity::authz::Scope;
use crate::identity::{Actor, Role};
use crate::jurisdiction::Level;
use crate::money::Fen;
use crate::payout::lifecycle::{BatchAction, decide};
use crate::payout::*;
use crate::policy::Policy;
use futures::{StreamExt, TryStreamExt};

/// A boxed future the store or a use case returns, run several at once.
type Pending<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

use crate::application::state::{Command, State};
use crate::ports::{ApplicationFilter, Page, PageRequest, PresignedRequest};
use crate::service::{DOWNLOAD_TTL, require_role, step};
use crate::views::{ApplicationView, BankAccountView};
use crate::{Services, fields::Text};

/// How many lines a batch-queue message claims (or settles) on DynamoDB:
/// well inside the consumer's time limit, since DynamoDB takes a
/// district's claims one transaction at a time; a city's district is a
/// handful of steps.
pub const BATCH_STEP: usize = 2_000;

/// The same on SQLite, which shares commits among a page's claims: no time
/// limit to keep inside, so fewer, larger steps (each step lists the
/// district's approvals again).
pub const BATCH_STEP_SQLITE: usize = 20_000;

/// The creating (or resuming) request claims a quarter of a step: it must
/// answer well inside API Gateway's 30 seconds.
pub const REQUEST_SHARE: usize = 4;

/// A results import accepted: the batch, and whether the batch queue
/// goes on settling the file's later lines.
#[derive(Debug, Clone, Serialize)]
pub struct Imported {
    pub batch: BatchView,
    pub settling: bool,
}

/// Who takes a step of a batch's building.
#[derive(Clone, Copy)]
enum Step {
    Request,
    Queue,
}

/// What one fill did.
struct Fill {
    claimed: usize,
    /// Every candidate was tried: nothing is left to claim.
    done: bool,
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

/// Where a batch's files live in the exports store.
pub fn batch_file_key(batch_id: &str, extension: &str) -> String {
    format!("exports/batches/{batch_id}/batch-{batch_id}.{extension}")
}

/// Where a results file too large for one request is kept while the batch
/// queue settles it (and after, as the bank's answer on record).
fn results_file_key(batch_id: &str) -> String {
    format!("exports/batches/{batch_id}/results-{}.csv", ulid::Ulid::new())
}

/// The largest results file accepted: a line is well under 200 bytes.
pub const MAX_RESULT_FILE: usize = 16 * 1024 * 1024;

/// The batch queue acts for the finance officer who asked (their id in
/// the audit entries), within the batch's district.
fn acting_for(user_id: &str, batch: &Batch) -> Actor {
    Actor {
        user_id: user_id.to_string(),
        role: Role::Finance,
        unit: Some(batch.district.clone()),
        phone: None,
        name: None,
        credit_code: None,
    }
}

fn batch_subject(id: &str) -> String {
    format!("batch:{id}")
}

/// The next batch version with its audit entry appended.
fn batch_step(
    key: &crate::audit::AuditKey,
    batch: &Batch,
    actor: &Actor,
    action: &str,
    to: BatchState,
    comment: Option<String>,
    now: DateTime<Utc>,
) -> (Batch, AuditEntry) {
    let audit = AuditEntry::next(
        key,
        &batch_subject(&batch.id),
        batch.audit_seq + 1,
        &batch.audit_head,
        now,
        actor,
        action,
        Some(batch.state.as_str()),
        to.as_str(),
        comment,
    );
    let mut next = batch.clone();
    next.state = to;
    next.version += 1;
    next.updated_at = now;
    next.audit_seq = audit.seq;
    next.audit_head = audit.hash.clone();
    (next, audit)
}

/// An application that finance may pay now.
fn payable(app: &Application) -> bool {
    app.state == State::Approved && app.payee.is_some() && app.payee_change.is_none() && app.approved_amount.is_some()
}

/// Lines per status of a batch: (count, sum).
#[derive(Default)]
struct Tally(std::collections::HashMap<&'static str, (u64, Fen)>);

impl Tally {
    fn count(&self, s: LineStatus) -> u64 {
        self.0.get(s.as_str()).map_or(0, |t| t.0)
    }
    fn sum(&self, s: LineStatus) -> Fen {
        self.0.get(s.as_str()).map_or(Fen::ZERO, |t| t.1)
    }
}

/// An approved application as a batch sees it while choosing.
struct Approved {
    since: DateTime<Utc>,
    id: String,
    payable: bool,
    /// The re-issue of a failed payment (payable until `reissueUntil`).
    reissue: bool,
    amount: Option<Fen>,
}

impl Approved {
    fn of(app: &Application) -> Approved {
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
    fn payable_at(&self, policy: &Policy, now: DateTime<Utc>) -> bool {
        self.payable && (now < policy.payout_deadline || (self.reissue && now < policy.reissue_until()))
    }
}

impl Services {
    /// The district a finance user pays for.
    fn finance_district(&self, actor: &Actor) -> Result<String, Error> {
        require_role(actor, Role::Finance)?;
        actor.unit.clone().ok_or(Error::Unauthenticated)
    }

    fn allocated(policy: &Policy, district: &str) -> Result<Fen, Error> {
        policy.district_budgets.get(district).copied().ok_or(Error::NoBudget)
    }

    async fn budget_view(&self, policy: &Policy, district: &str) -> Result<BudgetView, Error> {
        let allocated = Self::allocated(policy, district).unwrap_or(Fen::ZERO);
        let b = self.ports.disbursement.budget(&policy.id, district, allocated).await?;
        Ok(BudgetView {
            district: district.to_string(),
            allocated: Money::of(b.allocated),
            committed: Money::of(b.committed),
            paid: Money::of(b.paid),
            remaining: Money::of(b.remaining),
        })
    }

    /// Every approved application of a district under this policy, oldest
    /// approval first (the order batches take them in), as [`Approved`]
    /// keys: what ordering, counting and choosing need, ~100 bytes each
    /// instead of the whole application. Batches read the applications
    /// again a page at a time ([`Self::fetch`]), fresh for their claims.
    ///
    /// Read whole and sorted here: the adapters' lists are ordered by id,
    /// and DynamoDB's inbox index does not cover approved applications.
    async fn approved_in(&self, district: &str) -> Result<Vec<Approved>, Error> {
        let scope = Scope::Unit { level: Level::District, code: district.to_string() };
        let filter = ApplicationFilter { state: Some(State::Approved), project_id: None };
        let mut out = Vec::new();
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        loop {
            let found = self.ports.applications.list_applications(&scope, &filter, &page).await?;
            out.extend(
                found
                    .items
                    .iter()
                    .filter(|a| a.state == State::Approved && a.policy_id == self.ports.policy_id)
                    .map(Approved::of),
            );
            match found.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
        }
        out.sort_by(|a, b| (a.since, &a.id).cmp(&(b.since, &b.id)));
        Ok(out)
    }

    /// The applications behind `keys`, read together, in their order;
    /// one deleted since is left out.
    async fn fetch(&self, keys: &[&Approved]) -> Result<Vec<Application>, Error> {
        let parallel = self.ports.disbursement.parallel_writes().max(1);
        let reads: Vec<Pending<'_, Result<Option<Application>, StoreError>>> =
            keys.iter().map(|k| self.ports.applications.get_application(&k.id)).collect();
        let found: Vec<Option<Application>> = futures::stream::iter(reads).buffered(parallel).try_collect().await?;
        Ok(found.into_iter().flatten().collect())
    }

    /// The district's budget.
    pub async fn budget(&self, actor: &Actor) -> Result<BudgetView, Error> {
        let district = self.finance_district(actor)?;
        self.budget_view(&self.policy().await?, &district).await
    }

    /// Approved, unpaid applications of the caller's district, with their
    /// total and the budget.
    pub async fn eligible(&self, actor: &Actor, page: &PageRequest) -> Result<EligibleView, Error> {
        let district = self.finance_district(actor)?;
        let policy = self.policy().await?;
        let start: usize = match &page.cursor {
            Some(c) => c
                .parse()
                .map_err(|_| Error::invalid("cursor", "this cursor is not valid; start from the first page"))?,
            None => 0,
        };
        let end = start + page.limit as usize;
        let (mut count, mut blocked, mut total) = (0usize, 0u64, Fen::ZERO);
        let mut on_page = Vec::new();
        let approved = self.approved_in(&district).await?;
        let now = self.now();
        for a in &approved {
            if !a.payable {
                blocked += 1;
                continue;
            }
            if !a.payable_at(&policy, now) {
                // Past the payout deadline: only re-issues are payable.
                continue;
            }
            if (start..end).contains(&count) {
                on_page.push(a);
            }
            count += 1;
            if let Some(amount) = a.amount {
                total = total.checked_add(amount).unwrap_or(total);
            }
        }
        let items = self.fetch(&on_page).await?.iter().map(|a| ApplicationView::of(a, &self.ports.tree)).collect();
        let end = end.min(count);
        Ok(EligibleView {
            items,
            next_cursor: (end < count).then(|| end.to_string()),
            count: count as u64,
            total: Money::of(total),
            blocked_by_bank_change: blocked,
            budget: self.budget_view(&policy, &district).await?,
        })
    }

    /// Creates a batch of every payable application of the caller's
    /// district that the remaining budget covers, and fixes its control
    /// totals. Refused past the payout deadline, without a budget, or when
    /// nothing can be paid.
    ///
    /// The request claims the first [`BATCH_STEP`] / [`REQUEST_SHARE`]
    /// lines itself: a batch that small comes back `ready`. A larger one comes back `building`,
    /// and the batch queue takes it on a step at a time
    /// ([`Self::build_batch`]) until it is `ready`; the caller watches
    /// its state. So no request grows with the district.
    pub async fn create_batch(&self, actor: &Actor, input: &NewBatchInput) -> Result<BatchView, Error> {
        let batch = self.start_batch(actor, input).await?;
        self.advance_batch(actor, &batch.id, Step::Request).await
    }

    /// One step of a batch in `building`: claims up to the step's number
    /// of lines; finishes the batch when nothing is left to claim,
    /// otherwise asks the batch queue to go on.
    async fn advance_batch(&self, actor: &Actor, id: &str, who: Step) -> Result<BatchView, Error> {
        let step = self.ports.batch_step.load(std::sync::atomic::Ordering::Relaxed).max(1);
        let max = match who {
            Step::Queue => step,
            Step::Request => (step / REQUEST_SHARE).max(1),
        };
        let fill = self.fill(actor, id, Some(max)).await?;
        if fill.done {
            return self.finish_batch(actor, id).await;
        }
        self.ports.export_queue.request_export(id).await?;
        self.batch(actor, id).await
    }

    /// The batch queue's work on a batch in `building`: one step, on
    /// behalf of the finance officer who created it (whose name the audit
    /// entries carry). A batch in any other state is left alone; one that
    /// found nothing to claim is cancelled (see [`Self::finish_batch`]),
    /// which is an outcome, not a failure to retry. Returns the batch.
    pub async fn build_batch(&self, id: &str) -> Result<Option<BatchView>, Error> {
        let Some(batch) = self.ports.disbursement.get_batch(id).await? else {
            return Ok(None);
        };
        if decide(&batch, &batch.created_by, BatchAction::Fill).is_err() {
            return Ok(None);
        }
        let builder = acting_for(&batch.created_by, &batch);
        match self.advance_batch(&builder, id, Step::Queue).await {
            Ok(view) => Ok(Some(view)),
            Err(Error::NothingToPay | Error::BudgetExceeded { .. }) => {
                tracing::info!(batch_id = %id, "batch cancelled: nothing left to claim");
                Ok(self.batch_for_export(id).await?.map(|b| BatchView::of(&b, false)))
            }
            Err(e) => Err(e),
        }
    }

    /// Every batch of the active policy still in `building`, for the
    /// standalone server to queue again at start (its queue lives in
    /// memory). A district's batches are few, newest first.
    pub async fn building_batches(&self) -> Result<Vec<String>, Error> {
        let mut out = Vec::new();
        let root = self.ports.tree.root().code.clone();
        for district in self.ports.tree.children(&root).map(|u| u.code.clone()).collect::<Vec<_>>() {
            let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
            loop {
                let batches = self.ports.disbursement.batches_of(&self.ports.policy_id, &district, &page).await?;
                out.extend(batches.items.iter().filter(|b| b.state == BatchState::Building).map(|b| b.id.clone()));
                match batches.next_cursor {
                    Some(c) => page.cursor = Some(c),
                    None => break,
                }
            }
        }
        Ok(out)
    }

    /// The first step of [`Self::create_batch`]: checks, and an empty batch
    /// in `building`.
    pub async fn start_batch(&self, actor: &Actor, input: &NewBatchInput) -> Result<Batch, Error> {
        let district = self.finance_district(actor)?;
        let note = input
            .note
            .as_deref()
            .map(|n| Text::parse(n, 200))
            .transpose()
            .map_err(|e| Error::invalid("note", e.to_string()))?;
        let policy = self.policy().await?;
        let now = self.now();
        if now >= policy.reissue_until() {
            return Err(Error::PayoutDeadlinePassed { deadline: policy.reissue_until() });
        }
        let allocated = Self::allocated(&policy, &district)?;
        let budget = self.ports.disbursement.budget(&policy.id, &district, allocated).await?;
        let approved = self.approved_in(&district).await?;
        // After the payout deadline only re-issues of failed payments may
        // be paid, until the policy's grace ends.
        if now >= policy.payout_deadline && !approved.iter().any(|a| a.payable_at(&policy, now)) {
            return Err(Error::PayoutDeadlinePassed { deadline: policy.payout_deadline });
        }
        // Something payable that the budget covers? (Stops at the first.)
        let (mut payable_seen, mut fits) = (false, false);
        for a in approved.iter().filter(|a| a.payable_at(&policy, now)) {
            payable_seen = true;
            fits = a.amount.is_none_or(|m| m <= budget.remaining);
            if fits {
                break;
            }
        }
        if !payable_seen {
            return Err(Error::NothingToPay);
        }
        if !fits {
            return Err(Error::BudgetExceeded { remaining: budget.remaining });
        }
        let id = ulid::Ulid::new().to_string();
        let mut batch = Batch {
            id: id.clone(),
            policy_id: policy.id.clone(),
            district,
            state: BatchState::Building,
            version: 1,
            note: note.map(|n| n.to_string()),
            created_by: actor.user_id.clone(),
            created_at: now,
            released_by: None,
            released_at: None,
            line_count: 0,
            total: Fen::ZERO,
            paid_count: 0,
            paid: Fen::ZERO,
            failed_count: 0,
            failed: Fen::ZERO,
            left_out_for_budget: 0,
            updated_at: now,
            audit_seq: 0,
            audit_head: GENESIS.to_string(),
            sealed: false,
            builders: vec![actor.user_id.clone()],
        };
        let audit = AuditEntry::next(
            &self.ports.audit_key,
            &batch_subject(&id),
            1,
            GENESIS,
            now,
            actor,
            "create_batch",
            None,
            BatchState::Building.as_str(),
            batch.note.clone(),
        );
        batch.audit_seq = 1;
        batch.audit_head = audit.hash.clone();
        self.ports.disbursement.create_batch(&batch, &audit).await?;
        Ok(batch)
    }

    async fn own_batch(&self, actor: &Actor, id: &str) -> Result<Batch, Error> {
        let district = self.finance_district(actor)?;
        match self.ports.disbursement.get_batch(id).await? {
            Some(b) if b.district == district => Ok(b),
            _ => Err(Error::NotFound("batch")),
        }
    }

    /// Claims payable applications for a batch in `building`, one
    /// conditional write each, at most `max` of them (all when `None`).
    /// Returns how many it claimed. Another batch's claims are skipped, so
    /// concurrent batches never overlap; a crash leaves only whole claims,
    /// and running this again continues where it stopped.
    pub async fn fill_batch(&self, actor: &Actor, id: &str, max: Option<usize>) -> Result<usize, Error> {
        Ok(self.fill(actor, id, max).await?.claimed)
    }

    async fn fill(&self, actor: &Actor, id: &str, max: Option<usize>) -> Result<Fill, Error> {
        let batch = self.own_batch(actor, id).await?;
        decide(&batch, &actor.user_id, BatchAction::Fill)?;
        if batch.sealed {
            // Its totals are being counted: only finishing is left.
            return Ok(Fill { claimed: 0, done: true });
        }
        let policy = self.cx.policy_by_id(&batch.policy_id).await?;
        let allocated = Self::allocated(&policy, &batch.district)?;
        let cap = max.unwrap_or(usize::MAX);
        let mut claimed = 0;
        let mut left_out = 0;
        // Claims of a page go to the store together, as many at once as it
        // takes (see `DisbursementStore::parallel_writes`); each is still
        // its own conditional write, so nothing is claimed twice.
        let parallel = self.ports.disbursement.parallel_writes().max(1);
        let budget = BudgetKey { policy_id: &policy.id, district: &batch.district };
        let approved = self.approved_in(&batch.district).await?;
        let now = self.now();
        let candidates: Vec<&Approved> = approved.iter().filter(|a| a.payable_at(&policy, now)).collect();
        'pages: for keys in candidates.chunks(PageRequest::MAX_LIMIT as usize) {
            // Read again: the list is a moment old, and a claim must name
            // the version it replaces.
            let chunk = self.fetch(keys).await?;
            let payable_now: Vec<&Application> = chunk.iter().filter(|a| payable(a)).collect();
            let mut rest = payable_now.into_iter().peekable();
            // Only claims that land count against the cap: what the budget
            // or another batch took is passed over, and the next ones tried.
            while rest.peek().is_some() {
                if claimed >= cap {
                    break 'pages;
                }
                let mut prepared = Vec::new();
                while prepared.len() < cap - claimed {
                    let Some(app) = rest.next() else { break };
                    let line = PaymentLine {
                        id: ulid::Ulid::new().to_string(),
                        batch_id: batch.id.clone(),
                        application_id: app.id.clone(),
                        company_name: app.company_name.clone(),
                        credit_code: app.credit_code.clone(),
                        project_name: app.project.name.to_string(),
                        payee: app.payee.clone().ok_or(Error::PayeeNotVerified)?,
                        amount: app.approved_amount.ok_or_else(|| Error::internal("approved without an amount"))?,
                        status: LineStatus::Pending,
                        reason: None,
                        revises: app.failed_line.clone(),
                        created_at: self.now(),
                        settled_at: None,
                    };
                    let cmd = Command::AddToBatch { batch_id: batch.id.clone(), line_id: line.id.clone() };
                    match step(&self.ports.audit_key, app, actor, cmd, &policy, self.now()) {
                        Ok((next, audit, _)) => prepared.push((next, audit, line, app.version)),
                        Err(
                            Error::PayeeNotVerified | Error::WrongState { .. } | Error::PayoutDeadlinePassed { .. },
                        ) => {
                            continue;
                        }
                        Err(e) => return Err(e),
                    }
                }
                // Another builder of this batch (the queue, and a resume
                // pressed meanwhile) may have sealed it: spare the page.
                // What makes that safe is not this read but each claim,
                // which the store makes conditional on the batch still
                // taking lines (`ClaimError::Closed`).
                if self.ports.disbursement.get_batch(&batch.id).await?.is_none_or(|b| !b.claimable()) {
                    break 'pages;
                }
                let mut claims: Vec<Pending<'_, Result<(), ClaimError>>> = Vec::with_capacity(prepared.len());
                for (next, audit, line, v) in &prepared {
                    let write = AppWrite { app: next, expected_version: *v, audit };
                    claims.push(self.ports.disbursement.claim(write, line, budget, allocated));
                }
                let outcomes: Vec<Result<(), ClaimError>> =
                    futures::stream::iter(claims).buffer_unordered(parallel).collect().await;
                let mut closed = false;
                for outcome in outcomes {
                    match outcome {
                        Ok(()) => claimed += 1,
                        Err(ClaimError::Moved) => {}
                        Err(ClaimError::OverBudget) => left_out += 1,
                        Err(ClaimError::Closed) => closed = true,
                        Err(ClaimError::Store(e)) => return Err(e.into()),
                    }
                }
                if closed {
                    return Ok(Fill { claimed, done: true });
                }
            }
        }
        // Under the cap, every candidate was tried; at it, the next step
        // finds out (and finishes when it claims nothing).
        let done = claimed < cap;
        if left_out > 0 {
            // Record what the budget left out (a later fill recounts it).
            let mut b = self.own_batch(actor, id).await?;
            let expected = b.version;
            b.left_out_for_budget = left_out;
            b.version += 1;
            self.ports.disbursement.update_batch(&b, expected, None).await?;
        }
        Ok(Fill { claimed, done })
    }

    /// Seals the batch (no claim lands after this), fixes the control
    /// totals from its lines and makes it `ready`. Its files are written
    /// only once a second person has released it.
    pub async fn finish_batch(&self, actor: &Actor, id: &str) -> Result<BatchView, Error> {
        let mut batch = self.own_batch(actor, id).await?;
        decide(&batch, &actor.user_id, BatchAction::Seal)?;
        if !batch.sealed {
            let expected = batch.version;
            batch.sealed = true;
            batch.version += 1;
            batch.updated_at = self.now();
            self.ports.disbursement.update_batch(&batch, expected, None).await?;
        }
        // Every claim that will ever land in this batch has landed: the
        // count below is final.
        let (count, total) = self.pending_totals(&batch.id).await?;
        let to = decide(&batch, &actor.user_id, BatchAction::Finish { lines: count })?;
        let now = self.now();
        let (mut next, audit) = batch_step(
            &self.ports.audit_key,
            &batch,
            actor,
            "batch_ready",
            BatchState::Ready,
            Some(format!("{count} 笔, {total} 元")),
            now,
        );
        next.line_count = count;
        next.total = total;
        if to == BatchState::Cancelled {
            let (cancelled, audit) = batch_step(
                &self.ports.audit_key,
                &batch,
                actor,
                "cancel_batch",
                BatchState::Cancelled,
                Some("nothing was claimed".into()),
                now,
            );
            self.ports.disbursement.update_batch(&cancelled, batch.version, Some(&audit)).await?;
            return Err(if batch.left_out_for_budget > 0 {
                let policy = self.cx.policy_by_id(&batch.policy_id).await?;
                let b = self
                    .ports
                    .disbursement
                    .budget(&policy.id, &batch.district, Self::allocated(&policy, &batch.district)?)
                    .await?;
                Error::BudgetExceeded { remaining: b.remaining }
            } else {
                Error::NothingToPay
            });
        }
        self.ports.disbursement.update_batch(&next, batch.version, Some(&audit)).await?;
        self.batch_view(&next).await
    }

    async fn pending_totals(&self, batch_id: &str) -> Result<(u64, Fen), Error> {
        let t = self.tally(batch_id).await?;
        Ok((t.count(LineStatus::Pending), t.sum(LineStatus::Pending)))
    }

    /// How many lines of a batch stand in each status, and their sums,
    /// read a page at a time.
    async fn tally(&self, batch_id: &str) -> Result<Tally, Error> {
        let mut t = Tally::default();
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        loop {
            let lines = self.ports.disbursement.lines_of(batch_id, &page).await?;
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

    /// Continues a batch left in `building` (by a crash, or a queue
    /// message given up on): one step now, the rest through the queue, as
    /// at creation.
    pub async fn resume_batch(&self, actor: &Actor, id: &str) -> Result<BatchView, Error> {
        let mut batch = self.own_batch(actor, id).await?;
        decide(&batch, &actor.user_id, BatchAction::Resume)?;
        if !batch.built_by(&actor.user_id) {
            // Whoever fills the batch is one of its makers: not its checker.
            let expected = batch.version;
            batch.builders.push(actor.user_id.clone());
            batch.version += 1;
            self.ports.disbursement.update_batch(&batch, expected, None).await?;
        }
        self.advance_batch(actor, id, Step::Request).await
    }

    /// Cancels a batch before release: every claimed application goes back
    /// to `approved` and its amount back to the budget.
    pub async fn cancel_batch(&self, actor: &Actor, id: &str, version: u64) -> Result<BatchView, Error> {
        let batch = self.own_batch(actor, id).await?;
        decide(&batch, &actor.user_id, BatchAction::Cancel)?;
        if batch.version != version {
            return Err(Error::VersionConflict { current: batch.version });
        }
        let policy = self.cx.policy_by_id(&batch.policy_id).await?;
        for line in self.all_lines(&batch.id).await?.into_iter().filter(|l| l.status == LineStatus::Pending) {
            let m = line.amount.fen();
            let settled = PaymentLine { status: LineStatus::Cancelled, settled_at: Some(self.now()), ..line.clone() };
            self.settle_line(
                actor,
                &policy,
                &batch,
                &settled,
                Command::RemoveFromBatch,
                BudgetMove { committed: -m, paid: 0, remaining: m },
            )
            .await?;
        }
        let batch = self.own_batch(actor, id).await?;
        let (next, audit) =
            batch_step(&self.ports.audit_key, &batch, actor, "cancel_batch", BatchState::Cancelled, None, self.now());
        self.ports.disbursement.update_batch(&next, batch.version, Some(&audit)).await?;
        self.batch_view(&next).await
    }

    async fn all_lines(&self, batch_id: &str) -> Result<Vec<PaymentLine>, Error> {
        let mut out = Vec::new();
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        loop {
            let lines = self.ports.disbursement.lines_of(batch_id, &page).await?;
            out.extend(lines.items);
            match lines.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    /// Moves one line and its application together. Already-settled lines
    /// are left alone (imports and cancellations can be repeated).
    async fn settle_line(
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
                .ports
                .applications
                .get_application(&settled.application_id)
                .await?
                .ok_or(Error::NotFound("application"))?;
            if app.state != State::InPaymentBatch || app.payment_line.as_deref() != Some(&settled.id) {
                return Ok(());
            }
            let (next, audit, _) = step(&self.ports.audit_key, &app, actor, cmd.clone(), policy, self.now())?;
            let write = AppWrite { app: &next, expected_version: app.version, audit: &audit };
            let key = BudgetKey { policy_id: &batch.policy_id, district: &batch.district };
            match self.ports.disbursement.settle(write, settled, key, budget).await {
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

    /// Releases a ready batch to the bank: maker-checker, so only a finance
    /// user who neither created nor resumed it may. Only then are its
    /// files written.
    pub async fn release_batch(&self, actor: &Actor, id: &str, version: u64) -> Result<BatchView, Error> {
        let batch = self.own_batch(actor, id).await?;
        decide(&batch, &actor.user_id, BatchAction::Release)?;
        if batch.version != version {
            return Err(Error::VersionConflict { current: batch.version });
        }
        let now = self.now();
        let (mut next, audit) =
            batch_step(&self.ports.audit_key, &batch, actor, "release_batch", BatchState::Released, None, now);
        next.released_by = Some(actor.user_id.clone());
        next.released_at = Some(now);
        self.ports.disbursement.update_batch(&next, batch.version, Some(&audit)).await?;
        self.ports.export_queue.request_export(&next.id).await?;
        self.batch_view(&next).await
    }

    /// Whether a batch's files are in the exports store: both are written
    /// before the consumer finishes, the CSV last... so the XLSX is checked.
    async fn files_ready(&self, id: &str) -> Result<bool, Error> {
        let (csv, xlsx) = (batch_file_key(id, "csv"), batch_file_key(id, "xlsx"));
        Ok(self.ports.exports.head(&csv, 0).await?.is_some() && self.ports.exports.head(&xlsx, 0).await?.is_some())
    }

    async fn batch_view(&self, b: &Batch) -> Result<BatchView, Error> {
        let files = b.file_allowed() && self.files_ready(&b.id).await?;
        Ok(BatchView::of(b, files))
    }

    pub async fn batch(&self, actor: &Actor, id: &str) -> Result<BatchView, Error> {
        let b = self.own_batch(actor, id).await?;
        self.batch_view(&b).await
    }

    pub async fn batches(&self, actor: &Actor, page: &PageRequest) -> Result<Page<BatchView>, Error> {
        let district = self.finance_district(actor)?;
        let page = self.ports.disbursement.batches_of(&self.ports.policy_id, &district, page).await?;
        let mut items = Vec::with_capacity(page.items.len());
        for b in &page.items {
            items.push(self.batch_view(b).await?);
        }
        Ok(Page { items, next_cursor: page.next_cursor })
    }

    /// A batch's lines, accounts masked.
    pub async fn batch_lines(&self, actor: &Actor, id: &str, page: &PageRequest) -> Result<Page<LineView>, Error> {
        let batch = self.own_batch(actor, id).await?;
        Ok(self.ports.disbursement.lines_of(&batch.id, page).await?.map(|l| LineView::of(&l)))
    }

    /// A short-lived download of the batch file (`xlsx` or `csv`), the only
    /// place account numbers appear in full: finance of the district only.
    pub async fn batch_file(&self, actor: &Actor, id: &str, extension: &str) -> Result<PresignedRequest, Error> {
        let batch = self.own_batch(actor, id).await?;
        // No treasury file exists before a second person releases the batch.
        decide(&batch, &actor.user_id, BatchAction::DownloadFile)?;
        if !self.files_ready(&batch.id).await? {
            // The request may have been lost (say, in a crash): ask again.
            self.ports.export_queue.request_export(&batch.id).await?;
            return Err(Error::FileNotReady);
        }
        Ok(self.ports.exports.presign_get(&batch_file_key(&batch.id, extension), None, DOWNLOAD_TTL).await?)
    }

    /// Records one line of the bank's results: paid, or failed with the reason.
    async fn settle_result(
        &self,
        actor: &Actor,
        policy: &Policy,
        batch: &Batch,
        line: PaymentLine,
        result: ResultLine,
    ) -> Result<(), Error> {
        let m = line.amount.fen();
        let now = self.now();
        if result.paid {
            let settled = PaymentLine { status: LineStatus::Paid, settled_at: Some(now), ..line };
            let budget = BudgetMove { committed: -m, paid: m, remaining: 0 };
            self.settle_line(actor, policy, batch, &settled, Command::MarkPaid, budget).await
        } else {
            let reason = result.reason.clone().unwrap_or_default();
            let text = Text::parse(&reason, 200).map_err(|e| Error::invalid("reason", e.to_string()))?;
            let settled =
                PaymentLine { status: LineStatus::Failed, reason: Some(reason), settled_at: Some(now), ..line };
            let budget = BudgetMove { committed: -m, paid: 0, remaining: m };
            self.settle_line(actor, policy, batch, &settled, Command::MarkPaymentFailed { reason: text }, budget).await
        }
    }

    /// Imports the bank's result file. The whole file is checked first: a
    /// line that is not the batch's, a control total that does not match,
    /// a duplicate, or a line whose answer contradicts an earlier import,
    /// and nothing is changed. Then paid lines become paid, failed lines
    /// payment-failed with the bank's reason; a line already settled the
    /// same way is left alone, so importing the same file twice changes
    /// nothing. The request settles a quarter of a [`BATCH_STEP`] itself;
    /// a longer file is kept in the exports store and the batch queue
    /// settles the rest a step at a time ([`Self::settle_results`]), then
    /// fixes the batch's totals and state. Importing the same file again
    /// finishes an import a crash cut short.
    pub async fn import_results(&self, actor: &Actor, id: &str, text: &str) -> Result<Imported, Error> {
        let batch = self.own_batch(actor, id).await?;
        decide(&batch, &actor.user_id, BatchAction::ImportResults)?;
        let file = parse_results(text).map_err(|problems| Error::ResultsRefused { problems })?;
        let mut problems = Vec::new();
        if file.batch_id != batch.id {
            problems.push(format!("批次号 {} is not this batch ({})", file.batch_id, batch.id));
        }
        // Checked whole before anything is settled, against the batch's
        // lines read in pages (a status and an amount each): one query per
        // page, not one read per line, so a district's file is checked in
        // seconds on either backend.
        let on_file = self.line_states(&batch.id).await?;
        let mut sum = Fen::ZERO;
        for r in &file.lines {
            if let Some(Err(e)) = r.reason.as_deref().map(|reason| Text::parse(reason, 200)) {
                problems.push(format!("line {}: the reason {e}", r.line_id));
            }
            match on_file.get(r.line_id.as_str()) {
                None => problems.push(format!("line {} does not belong to batch {}", r.line_id, batch.id)),
                Some(&(status, amount)) => {
                    let contradicts = match status {
                        LineStatus::Paid => !r.paid,
                        LineStatus::Failed => r.paid,
                        LineStatus::Cancelled => true,
                        LineStatus::Pending => false,
                    };
                    if contradicts {
                        problems.push(format!("line {} is already recorded as {}", r.line_id, status.as_str()));
                    }
                    sum = sum.checked_add(amount).unwrap_or(sum);
                }
            }
        }
        if problems.is_empty() && sum != file.total {
            problems.push(format!("总金额 {} does not match the lines listed, which sum to {}", file.total, sum));
        }
        if !problems.is_empty() {
            return Err(Error::ResultsRefused { problems });
        }
        let policy = self.cx.policy_by_id(&batch.policy_id).await?;
        let share = (self.ports.batch_step.load(std::sync::atomic::Ordering::Relaxed) / REQUEST_SHARE).max(1);
        match self.settle_lines(actor, &policy, &batch, &file.lines, 0, share).await? {
            None => Ok(Imported { batch: self.close_import(actor, id).await?, settling: false }),
            Some(next) => {
                // The rest through the batch queue, from the file as kept.
                let file_key = results_file_key(&batch.id);
                self.ports.exports.put(&file_key, text.as_bytes().to_vec(), "text/csv; charset=utf-8").await?;
                let results = ResultsJob { file_key, imported_by: actor.user_id.clone(), from_line: next };
                self.ports
                    .export_queue
                    .request(&BatchJob { batch_id: batch.id.clone(), results: Some(results) })
                    .await?;
                let batch = self.batch_view(&self.own_batch(actor, id).await?).await?;
                Ok(Imported { batch, settling: true })
            }
        }
    }

    /// The batch queue's part of a results import: the next lines of the
    /// file, on behalf of the finance officer who imported it; then the
    /// batch's totals and state. Nothing for a batch no longer `released`.
    pub async fn settle_results(&self, batch_id: &str, job: &ResultsJob) -> Result<Option<BatchView>, Error> {
        let Some(batch) = self.ports.disbursement.get_batch(batch_id).await? else {
            return Ok(None);
        };
        if decide(&batch, &job.imported_by, BatchAction::SettleLines).is_err() {
            return Ok(None);
        }
        let actor = acting_for(&job.imported_by, &batch);
        let kept = self
            .ports
            .exports
            .head(&job.file_key, MAX_RESULT_FILE)
            .await?
            .ok_or_else(|| Error::internal(format!("the results file {} is gone", job.file_key)))?;
        let text = String::from_utf8(kept.head).map_err(Error::internal)?;
        let file = parse_results(&text).map_err(|p| Error::internal(format!("a kept results file: {p:?}")))?;
        let policy = self.cx.policy_by_id(&batch.policy_id).await?;
        let step = self.ports.batch_step.load(std::sync::atomic::Ordering::Relaxed).max(1);
        match self.settle_lines(&actor, &policy, &batch, &file.lines, job.from_line, step).await? {
            None => self.close_import(&actor, batch_id).await.map(Some),
            Some(next) => {
                let results = ResultsJob { from_line: next, ..job.clone() };
                self.ports
                    .export_queue
                    .request(&BatchJob { batch_id: batch.id.clone(), results: Some(results) })
                    .await?;
                Ok(None)
            }
        }
    }

    /// Settles the still-pending lines of `results[from..]`, a page at a
    /// time, `max` lines of the file at most: `None` when the file is done,
    /// or where the next step starts.
    async fn settle_lines(
        &self,
        actor: &Actor,
        policy: &Policy,
        batch: &Batch,
        results: &[ResultLine],
        from: usize,
        max: usize,
    ) -> Result<Option<usize>, Error> {
        let parallel = self.ports.disbursement.parallel_writes().max(1);
        let (mut i, mut settled) = (from.min(results.len()), 0);
        while i < results.len() {
            if settled >= max {
                return Ok(Some(i));
            }
            // A page, or what is left of the step if less.
            let end = (i + (PageRequest::MAX_LIMIT as usize).min(max - settled)).min(results.len());
            let chunk = &results[i..end];
            let found = self.lines_named(&batch.id, chunk).await?;
            let pending: Vec<(PaymentLine, ResultLine)> = chunk
                .iter()
                .zip(found)
                .filter_map(|(r, l)| l.filter(|l| l.status == LineStatus::Pending).map(|l| (l, r.clone())))
                .collect();
            settled += pending.len();
            let settles: Vec<Pending<'_, Result<(), Error>>> = pending
                .into_iter()
                .map(|(line, result)| -> Pending<'_, Result<(), Error>> {
                    Box::pin(self.settle_result(actor, policy, batch, line, result))
                })
                .collect();
            futures::stream::iter(settles).buffer_unordered(parallel).try_collect::<Vec<()>>().await?;
            i = end;
        }
        Ok(None)
    }

    /// After an import: the batch's totals and state from the lines as
    /// they now stand (`reconciled` once none is pending).
    async fn close_import(&self, actor: &Actor, id: &str) -> Result<BatchView, Error> {
        let t = self.tally(id).await?;
        let batch = self.own_batch(actor, id).await?;
        let to = decide(&batch, &actor.user_id, BatchAction::CloseImport { pending: t.count(LineStatus::Pending) })?;
        let (paid, failed) = (t.count(LineStatus::Paid), t.count(LineStatus::Failed));
        if (paid, failed, to) == (batch.paid_count, batch.failed_count, batch.state) {
            return self.batch_view(&batch).await;
        }
        let comment = format!("{paid} 笔成功, {failed} 笔失败");
        let (mut next, audit) =
            batch_step(&self.ports.audit_key, &batch, actor, "import_results", to, Some(comment), self.now());
        next.paid_count = paid;
        next.paid = t.sum(LineStatus::Paid);
        next.failed_count = failed;
        next.failed = t.sum(LineStatus::Failed);
        self.ports.disbursement.update_batch(&next, batch.version, Some(&audit)).await?;
        self.batch_view(&next).await
    }

    /// Every line of a batch by id: its status and amount.
    async fn line_states(&self, batch_id: &str) -> Result<HashMap<String, (LineStatus, Fen)>, Error> {
        let mut out = HashMap::new();
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        loop {
            let lines = self.ports.disbursement.lines_of(batch_id, &page).await?;
            out.extend(lines.items.into_iter().map(|l| (l.id, (l.status, l.amount))));
            match lines.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    /// The lines a results file names, read together, in its order.
    async fn lines_named(&self, batch_id: &str, results: &[ResultLine]) -> Result<Vec<Option<PaymentLine>>, Error> {
        let parallel = self.ports.disbursement.parallel_writes().max(1);
        let reads: Vec<Pending<'_, Result<Option<PaymentLine>, StoreError>>> =
            results.iter().map(|r| self.ports.disbursement.get_line(batch_id, &r.line_id)).collect();
        Ok(futures::stream::iter(reads).buffered(parallel).try_collect().await?)
    }

    /// The batch as the export consumer needs it (no actor: a system job).
    pub async fn batch_for_export(&self, id: &str) -> Result<Option<Batch>, Error> {
        Ok(self.ports.disbursement.get_batch(id).await?)
    }

    /// Every line of a batch, page by page, for the export consumer.
    pub async fn export_lines(&self, id: &str, page: &PageRequest) -> Result<Page<PaymentLine>, Error> {
        Ok(self.ports.disbursement.lines_of(id, page).await?)
    }
}
