//! The disbursement use cases: what district finance does. The rules of
//! batches and lines are in [`crate::disbursement`]; this module authorizes
//! and orchestrates them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::application::Application;
use crate::audit::{AuditEntry, GENESIS};
use crate::authz::Scope;
use crate::disbursement::*;
use crate::error::{Error, StoreError};
use crate::identity::{Actor, Role};
use crate::jurisdiction::Level;
use crate::money::Fen;
use crate::policy::Policy;
use futures::{StreamExt, TryStreamExt};

/// A boxed future the store or a use case returns, run several at once.
type Pending<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

use crate::ports::{ApplicationFilter, Page, PageRequest, PresignedRequest};
use crate::service::{DOWNLOAD_TTL, require_role, step};
use crate::state::{Command, State};
use crate::views::{ApplicationView, BankAccountView};
use crate::{Services, fields::Text};

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

fn batch_subject(id: &str) -> String {
    format!("batch:{id}")
}

/// The next batch version with its audit entry appended.
fn batch_step(
    batch: &Batch,
    actor: &Actor,
    action: &str,
    to: BatchState,
    comment: Option<String>,
    now: DateTime<Utc>,
) -> (Batch, AuditEntry) {
    let audit = AuditEntry::next(
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
    amount: Option<Fen>,
}

impl Approved {
    fn of(app: &Application) -> Approved {
        Approved { since: app.state_since, id: app.id.clone(), payable: payable(app), amount: app.approved_amount }
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
        let b = self.disbursement.budget(&policy.id, district, allocated).await?;
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
            let found = self.applications.list_applications(&scope, &filter, &page).await?;
            out.extend(
                found
                    .items
                    .iter()
                    .filter(|a| a.state == State::Approved && a.policy_id == self.policy_id)
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
        let parallel = self.disbursement.parallel_writes().max(1);
        let reads: Vec<Pending<'_, Result<Option<Application>, StoreError>>> =
            keys.iter().map(|k| self.applications.get_application(&k.id)).collect();
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
        for a in &approved {
            if !a.payable {
                blocked += 1;
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
        let items = self.fetch(&on_page).await?.iter().map(|a| ApplicationView::of(a, &self.tree)).collect();
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
    pub async fn create_batch(&self, actor: &Actor, input: &NewBatchInput) -> Result<BatchView, Error> {
        let batch = self.start_batch(actor, input).await?;
        self.fill_batch(actor, &batch.id, None).await?;
        self.finish_batch(actor, &batch.id).await
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
        if now >= policy.payout_deadline {
            return Err(Error::PayoutDeadlinePassed { deadline: policy.payout_deadline });
        }
        let allocated = Self::allocated(&policy, &district)?;
        let budget = self.disbursement.budget(&policy.id, &district, allocated).await?;
        // Something payable that the budget covers? (Stops at the first.)
        let (mut payable_seen, mut fits) = (false, false);
        for a in self.approved_in(&district).await?.iter().filter(|a| a.payable) {
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
        };
        let audit = AuditEntry::next(
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
        self.disbursement.create_batch(&batch, &audit).await?;
        Ok(batch)
    }

    async fn own_batch(&self, actor: &Actor, id: &str) -> Result<Batch, Error> {
        let district = self.finance_district(actor)?;
        match self.disbursement.get_batch(id).await? {
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
        let batch = self.own_batch(actor, id).await?;
        if batch.state != BatchState::Building {
            return Err(Error::BatchWrongState { state: batch.state.as_str(), action: "add lines to" });
        }
        let policy = self.policy_by_id_pub(&batch.policy_id).await?;
        let allocated = Self::allocated(&policy, &batch.district)?;
        let mut claimed = 0;
        let mut left_out = 0;
        // Claims of a page go to the store together, as many at once as it
        // takes (see `DisbursementStore::parallel_writes`); each is still
        // its own conditional write, so nothing is claimed twice.
        let parallel = self.disbursement.parallel_writes().max(1);
        let budget = BudgetKey { policy_id: &policy.id, district: &batch.district };
        let approved = self.approved_in(&batch.district).await?;
        let candidates: Vec<&Approved> = approved.iter().filter(|a| a.payable).collect();
        let mut full = false;
        for keys in candidates.chunks(PageRequest::MAX_LIMIT as usize) {
            if full {
                break;
            }
            // Read again: the list is a moment old, and a claim must name
            // the version it replaces.
            let chunk = self.fetch(keys).await?;
            let mut prepared = Vec::new();
            for app in chunk.iter().filter(|a| payable(a)) {
                if max.is_some_and(|m| claimed + prepared.len() >= m) {
                    full = true;
                    break;
                }
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
                match step(app, actor, cmd, &policy, self.now()) {
                    Ok((next, audit, _)) => prepared.push((next, audit, line, app.version)),
                    Err(Error::PayeeNotVerified | Error::WrongState { .. }) => continue,
                    Err(e) => return Err(e),
                }
            }
            let mut claims: Vec<Pending<'_, Result<(), ClaimError>>> = Vec::with_capacity(prepared.len());
            for (next, audit, line, v) in &prepared {
                let write = AppWrite { app: next, expected_version: *v, audit };
                claims.push(self.disbursement.claim(write, line, budget, allocated));
            }
            let outcomes: Vec<Result<(), ClaimError>> =
                futures::stream::iter(claims).buffer_unordered(parallel).collect().await;
            for outcome in outcomes {
                match outcome {
                    Ok(()) => claimed += 1,
                    Err(ClaimError::Moved) => {}
                    Err(ClaimError::OverBudget) => left_out += 1,
                    Err(ClaimError::Store(e)) => return Err(e.into()),
                }
            }
        }
        if left_out > 0 {
            // Record what the budget left out (a later fill recounts it).
            let mut b = self.own_batch(actor, id).await?;
            let expected = b.version;
            b.left_out_for_budget = left_out;
            b.version += 1;
            self.disbursement.update_batch(&b, expected, None).await?;
        }
        Ok(claimed)
    }

    /// Fixes the control totals from the lines and makes the batch `ready`;
    /// then asks for its files.
    pub async fn finish_batch(&self, actor: &Actor, id: &str) -> Result<BatchView, Error> {
        let batch = self.own_batch(actor, id).await?;
        if batch.state != BatchState::Building {
            return Err(Error::BatchWrongState { state: batch.state.as_str(), action: "finish" });
        }
        let (count, total) = self.pending_totals(&batch.id).await?;
        let now = self.now();
        let (mut next, audit) =
            batch_step(&batch, actor, "batch_ready", BatchState::Ready, Some(format!("{count} 笔, {total} 元")), now);
        next.line_count = count;
        next.total = total;
        if count == 0 {
            let (cancelled, audit) = batch_step(
                &batch,
                actor,
                "cancel_batch",
                BatchState::Cancelled,
                Some("nothing was claimed".into()),
                now,
            );
            self.disbursement.update_batch(&cancelled, batch.version, Some(&audit)).await?;
            return Err(if batch.left_out_for_budget > 0 {
                let policy = self.policy_by_id_pub(&batch.policy_id).await?;
                let b = self
                    .disbursement
                    .budget(&policy.id, &batch.district, Self::allocated(&policy, &batch.district)?)
                    .await?;
                Error::BudgetExceeded { remaining: b.remaining }
            } else {
                Error::NothingToPay
            });
        }
        self.disbursement.update_batch(&next, batch.version, Some(&audit)).await?;
        self.export_queue.request_export(&next.id).await?;
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
            let lines = self.disbursement.lines_of(batch_id, &page).await?;
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

    /// Continues a batch a crash left in `building`, then finishes it.
    pub async fn resume_batch(&self, actor: &Actor, id: &str) -> Result<BatchView, Error> {
        self.fill_batch(actor, id, None).await?;
        self.finish_batch(actor, id).await
    }

    /// Cancels a batch before release: every claimed application goes back
    /// to `approved` and its amount back to the budget.
    pub async fn cancel_batch(&self, actor: &Actor, id: &str, version: u64) -> Result<BatchView, Error> {
        let batch = self.own_batch(actor, id).await?;
        if !matches!(batch.state, BatchState::Building | BatchState::Ready) {
            return Err(Error::BatchWrongState { state: batch.state.as_str(), action: "cancel" });
        }
        if batch.version != version {
            return Err(Error::VersionConflict { current: batch.version });
        }
        let policy = self.policy_by_id_pub(&batch.policy_id).await?;
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
        let (next, audit) = batch_step(&batch, actor, "cancel_batch", BatchState::Cancelled, None, self.now());
        self.disbursement.update_batch(&next, batch.version, Some(&audit)).await?;
        self.batch_view(&next).await
    }

    async fn all_lines(&self, batch_id: &str) -> Result<Vec<PaymentLine>, Error> {
        let mut out = Vec::new();
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        loop {
            let lines = self.disbursement.lines_of(batch_id, &page).await?;
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
                .applications
                .get_application(&settled.application_id)
                .await?
                .ok_or(Error::NotFound("application"))?;
            if app.state != State::InPaymentBatch || app.payment_line.as_deref() != Some(&settled.id) {
                return Ok(());
            }
            let (next, audit, _) = step(&app, actor, cmd.clone(), policy, self.now())?;
            let write = AppWrite { app: &next, expected_version: app.version, audit: &audit };
            let key = BudgetKey { policy_id: &batch.policy_id, district: &batch.district };
            match self.disbursement.settle(write, settled, key, budget).await {
                Ok(()) => return Ok(()),
                Err(ClaimError::Moved) => continue,
                Err(ClaimError::OverBudget) => return Err(Error::internal("settling cannot exceed the budget")),
                Err(ClaimError::Store(e)) => return Err(e.into()),
            }
        }
        Err(Error::internal("a payment line kept changing while it was settled"))
    }

    /// Releases a ready batch to the bank: maker-checker, so only a finance
    /// user other than its creator may.
    pub async fn release_batch(&self, actor: &Actor, id: &str, version: u64) -> Result<BatchView, Error> {
        let batch = self.own_batch(actor, id).await?;
        if batch.state != BatchState::Ready {
            return Err(Error::BatchWrongState { state: batch.state.as_str(), action: "release" });
        }
        if batch.created_by == actor.user_id {
            return Err(Error::SameUserCannotRelease);
        }
        if batch.version != version {
            return Err(Error::VersionConflict { current: batch.version });
        }
        let now = self.now();
        let (mut next, audit) = batch_step(&batch, actor, "release_batch", BatchState::Released, None, now);
        next.released_by = Some(actor.user_id.clone());
        next.released_at = Some(now);
        self.disbursement.update_batch(&next, batch.version, Some(&audit)).await?;
        self.batch_view(&next).await
    }

    /// Whether a batch's files are in the exports store: both are written
    /// before the consumer finishes, the CSV last... so the XLSX is checked.
    async fn files_ready(&self, id: &str) -> Result<bool, Error> {
        let (csv, xlsx) = (batch_file_key(id, "csv"), batch_file_key(id, "xlsx"));
        Ok(self.exports.head(&csv, 0).await?.is_some() && self.exports.head(&xlsx, 0).await?.is_some())
    }

    async fn batch_view(&self, b: &Batch) -> Result<BatchView, Error> {
        Ok(BatchView::of(b, self.files_ready(&b.id).await?))
    }

    pub async fn batch(&self, actor: &Actor, id: &str) -> Result<BatchView, Error> {
        let b = self.own_batch(actor, id).await?;
        self.batch_view(&b).await
    }

    pub async fn batches(&self, actor: &Actor, page: &PageRequest) -> Result<Page<BatchView>, Error> {
        let district = self.finance_district(actor)?;
        let page = self.disbursement.batches_of(&self.policy_id, &district, page).await?;
        let mut items = Vec::with_capacity(page.items.len());
        for b in &page.items {
            items.push(self.batch_view(b).await?);
        }
        Ok(Page { items, next_cursor: page.next_cursor })
    }

    /// A batch's lines, accounts masked.
    pub async fn batch_lines(&self, actor: &Actor, id: &str, page: &PageRequest) -> Result<Page<LineView>, Error> {
        let batch = self.own_batch(actor, id).await?;
        Ok(self.disbursement.lines_of(&batch.id, page).await?.map(|l| LineView::of(&l)))
    }

    /// A short-lived download of the batch file (`xlsx` or `csv`), the only
    /// place account numbers appear in full: finance of the district only.
    pub async fn batch_file(&self, actor: &Actor, id: &str, extension: &str) -> Result<PresignedRequest, Error> {
        let batch = self.own_batch(actor, id).await?;
        if matches!(batch.state, BatchState::Building | BatchState::Cancelled) {
            return Err(Error::BatchWrongState { state: batch.state.as_str(), action: "download the file of" });
        }
        if !self.files_ready(&batch.id).await? {
            // The request may have been lost (say, in a crash): ask again.
            self.export_queue.request_export(&batch.id).await?;
            return Err(Error::FileNotReady);
        }
        Ok(self.exports.presign_get(&batch_file_key(&batch.id, extension), DOWNLOAD_TTL).await?)
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
    /// nothing.
    pub async fn import_results(&self, actor: &Actor, id: &str, text: &str) -> Result<BatchView, Error> {
        let batch = self.own_batch(actor, id).await?;
        if !matches!(batch.state, BatchState::Released | BatchState::Reconciled) {
            return Err(Error::BatchWrongState { state: batch.state.as_str(), action: "import results into" });
        }
        let file = parse_results(text).map_err(|problems| Error::ResultsRefused { problems })?;
        let mut problems = Vec::new();
        if file.batch_id != batch.id {
            problems.push(format!("批次号 {} is not this batch ({})", file.batch_id, batch.id));
        }
        // Checked whole before anything is settled, a page at a time: the
        // lines are read again to settle them, so memory holds one page.
        let mut sum = Fen::ZERO;
        for chunk in file.lines.chunks(PageRequest::MAX_LIMIT as usize) {
            for (r, found) in chunk.iter().zip(self.lines_named(&batch.id, chunk).await?) {
                if let Some(Err(e)) = r.reason.as_deref().map(|reason| Text::parse(reason, 200)) {
                    problems.push(format!("line {}: the reason {e}", r.line_id));
                }
                match found {
                    None => problems.push(format!("line {} does not belong to batch {}", r.line_id, batch.id)),
                    Some(l) => {
                        let contradicts = match l.status {
                            LineStatus::Paid => !r.paid,
                            LineStatus::Failed => r.paid,
                            LineStatus::Cancelled => true,
                            LineStatus::Pending => false,
                        };
                        if contradicts {
                            problems.push(format!("line {} is already recorded as {}", r.line_id, l.status.as_str()));
                        }
                        sum = sum.checked_add(l.amount).unwrap_or(sum);
                    }
                }
            }
        }
        if problems.is_empty() && sum != file.total {
            problems.push(format!("总金额 {} does not match the lines listed, which sum to {}", file.total, sum));
        }
        if !problems.is_empty() {
            return Err(Error::ResultsRefused { problems });
        }
        let policy = self.policy_by_id_pub(&batch.policy_id).await?;
        let parallel = self.disbursement.parallel_writes().max(1);
        for chunk in file.lines.chunks(PageRequest::MAX_LIMIT as usize) {
            let found = self.lines_named(&batch.id, chunk).await?;
            let pending = chunk
                .iter()
                .zip(found)
                .filter_map(|(r, l)| l.filter(|l| l.status == LineStatus::Pending).map(|l| (l, r.clone())));
            let settles: Vec<Pending<'_, Result<(), Error>>> = pending
                .map(|(line, result)| -> Pending<'_, Result<(), Error>> {
                    Box::pin(self.settle_result(actor, &policy, &batch, line, result))
                })
                .collect();
            futures::stream::iter(settles).buffer_unordered(parallel).try_collect::<Vec<()>>().await?;
        }
        // Totals and state from the lines as they now stand.
        let t = self.tally(&batch.id).await?;
        let batch = self.own_batch(actor, id).await?;
        let done = t.count(LineStatus::Pending) == 0;
        let to = if done { BatchState::Reconciled } else { BatchState::Released };
        let (paid, failed) = (t.count(LineStatus::Paid), t.count(LineStatus::Failed));
        if (paid, failed, to) == (batch.paid_count, batch.failed_count, batch.state) {
            return self.batch_view(&batch).await;
        }
        let comment = format!("{paid} 笔成功, {failed} 笔失败");
        let (mut next, audit) = batch_step(&batch, actor, "import_results", to, Some(comment), self.now());
        next.paid_count = paid;
        next.paid = t.sum(LineStatus::Paid);
        next.failed_count = failed;
        next.failed = t.sum(LineStatus::Failed);
        self.disbursement.update_batch(&next, batch.version, Some(&audit)).await?;
        self.batch_view(&next).await
    }

    /// The lines a results file names, read together, in its order.
    async fn lines_named(&self, batch_id: &str, results: &[ResultLine]) -> Result<Vec<Option<PaymentLine>>, Error> {
        let parallel = self.disbursement.parallel_writes().max(1);
        let reads: Vec<Pending<'_, Result<Option<PaymentLine>, StoreError>>> =
            results.iter().map(|r| self.disbursement.get_line(batch_id, &r.line_id)).collect();
        Ok(futures::stream::iter(reads).buffered(parallel).try_collect().await?)
    }

    /// The batch as the export consumer needs it (no actor: a system job).
    pub async fn batch_for_export(&self, id: &str) -> Result<Option<Batch>, Error> {
        Ok(self.disbursement.get_batch(id).await?)
    }

    /// Every line of a batch, page by page, for the export consumer.
    pub async fn export_lines(&self, id: &str, page: &PageRequest) -> Result<Page<PaymentLine>, Error> {
        Ok(self.disbursement.lines_of(id, page).await?)
    }

    pub(crate) async fn policy_by_id_pub(&self, id: &str) -> Result<Policy, Error> {
        self.policies.get_policy(id).await?.ok_or_else(|| Error::internal(format!("policy {id} is not loaded")))
    }
}
