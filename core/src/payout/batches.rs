//! Building payment batches: what district finance does before the bank
//! (the budget, the eligible list, creating, filling, finishing, resuming,
//! cancelling and releasing a batch). Each step asks the batch lifecycle
//! ([`super::lifecycle`]) first.

use crate::application::Application;
use crate::application::state::step;
use crate::application::state::{Command, State};
use crate::audit::GENESIS;
use crate::audit::Happened;
use crate::error::{Error, StoreError};
use crate::fields::Text;
use crate::identity::Actor;
use crate::identity::authz::Scope;
use crate::jurisdiction::Level;
use crate::money::Fen;
use crate::payout::lifecycle::{BatchAction, decide};
use crate::payout::views::*;
use crate::payout::*;
use crate::ports::{ApplicationFilter, PageRequest};
use futures::{StreamExt, TryStreamExt};

use super::ledger::*;
use crate::application::views::ApplicationView;

/// The batch-building use cases.
#[derive(Clone)]
pub struct Batches {
    pub(crate) l: Ledger,
}

impl Batches {
    /// The district's budget.
    pub async fn budget(&self, actor: &Actor) -> Result<BudgetView, Error> {
        let district = self.l.finance_district(actor)?;
        self.l.budget_view(&self.l.cx.policy().await?, &district).await
    }

    /// Approved, unpaid applications of the caller's district, with their
    /// total and the budget.
    pub async fn eligible(&self, actor: &Actor, page: &PageRequest) -> Result<EligibleView, Error> {
        let district = self.l.finance_district(actor)?;
        let policy = self.l.cx.policy().await?;
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
        let now = self.l.cx.now();
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
        let due = crate::application::views::Due { policy: &policy, now };
        let items = self.fetch(&on_page).await?.iter().map(|a| ApplicationView::of(a, &self.l.cx.tree, due)).collect();
        let end = end.min(count);
        Ok(EligibleView {
            items,
            next_cursor: (end < count).then(|| end.to_string()),
            count: count as u64,
            total: Money::of(total),
            blocked_by_bank_change: blocked,
            budget: self.l.budget_view(&policy, &district).await?,
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
            let found = self.l.applications.list_applications(&scope, &filter, &page).await?;
            out.extend(
                found
                    .items
                    .iter()
                    .filter(|a| a.state == State::Approved && a.policy_id == self.l.cx.policy_id)
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
        let parallel = self.l.payout.parallel_writes().max(1);
        let reads: Vec<Pending<'_, Result<Option<Application>, StoreError>>> =
            keys.iter().map(|k| self.l.applications.get_application(&k.id)).collect();
        let found: Vec<Option<Application>> = futures::stream::iter(reads).buffered(parallel).try_collect().await?;
        Ok(found.into_iter().flatten().collect())
    }

    /// Creates a batch of every payable application of the caller's
    /// district that the remaining budget covers, and fixes its control
    /// totals. Refused past the payout deadline, without a budget, or when
    /// nothing can be paid.
    ///
    /// The request claims the first step (`Ledger::batch_step`) / [`REQUEST_SHARE`]
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
        let step = self.l.batch_step.load(std::sync::atomic::Ordering::Relaxed).max(1);
        let max = match who {
            Step::Queue => step,
            Step::Request => (step / REQUEST_SHARE).max(1),
        };
        let fill = self.fill(actor, id, Some(max)).await?;
        if fill.done {
            return self.finish_batch(actor, id).await;
        }
        self.l.batch_queue.request_export(id).await?;
        self.l.batch(actor, id).await
    }

    /// The batch queue's work on a batch in `building`: one step, on
    /// behalf of the finance officer who created it (whose name the audit
    /// entries carry). A batch in any other state is left alone; one that
    /// found nothing to claim is cancelled (see [`Self::finish_batch`]),
    /// which is an outcome, not a failure to retry. Returns the batch.
    pub async fn build_batch(&self, id: &str) -> Result<Option<BatchView>, Error> {
        let Some(batch) = self.l.payout.get_batch(id).await? else {
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
                Ok(self.l.payout.get_batch(id).await?.map(|b| BatchView::of(&b, false)))
            }
            Err(e) => Err(e),
        }
    }

    /// Every batch of the active policy still in `building`, for the
    /// standalone server to queue again at start (its queue lives in
    /// memory). A district's batches are few, newest first.
    pub async fn building_batches(&self) -> Result<Vec<String>, Error> {
        let mut out = Vec::new();
        let root = self.l.cx.tree.root().code.clone();
        for district in self.l.cx.tree.children(&root).map(|u| u.code.clone()).collect::<Vec<_>>() {
            let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
            loop {
                let batches = self.l.payout.batches_of(&self.l.cx.policy_id, &district, &page).await?;
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
        let district = self.l.finance_district(actor)?;
        let note = input
            .note
            .as_deref()
            .map(|n| Text::parse(n, 200))
            .transpose()
            .map_err(|e| Error::invalid("note", e.to_string()))?;
        let policy = self.l.cx.policy().await?;
        let now = self.l.cx.now();
        if now >= policy.reissue_until() {
            return Err(Error::PayoutDeadlinePassed { deadline: policy.reissue_until() });
        }
        let allocated = Ledger::allocated(&policy, &district)?;
        let budget = self.l.payout.budget(&policy.id, &district, allocated).await?;
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
        let to = BatchState::Building.as_str();
        let happened = Happened { at: now, actor, action: "create_batch", from: None, to, comment: batch.note.clone() };
        let audit = crate::audit::append(self.l.cx.audit_key.get().await?, &mut batch, happened);
        self.l.payout.create_batch(&batch, &audit).await?;
        Ok(batch)
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
        let batch = self.l.own_batch(actor, id).await?;
        decide(&batch, &actor.user_id, BatchAction::Fill)?;
        if batch.sealed {
            // Its totals are being counted: only finishing is left.
            return Ok(Fill { claimed: 0, done: true });
        }
        let policy = self.l.cx.policy_by_id(&batch.policy_id).await?;
        let allocated = Ledger::allocated(&policy, &batch.district)?;
        let cap = max.unwrap_or(usize::MAX);
        let mut claimed = 0;
        let mut left_out = 0;
        // Claims of a page go to the store together, as many at once as it
        // takes (see `PayoutStore::parallel_writes`); each is still
        // its own conditional write, so nothing is claimed twice.
        let parallel = self.l.payout.parallel_writes().max(1);
        let budget = BudgetKey { policy_id: &policy.id, district: &batch.district };
        let approved = self.approved_in(&batch.district).await?;
        let now = self.l.cx.now();
        let candidates: Vec<&Approved> = approved.iter().filter(|a| a.payable_at(&policy, now)).collect();
        let key = self.l.cx.audit_key.get().await?;
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
                        created_at: self.l.cx.now(),
                        settled_at: None,
                    };
                    let cmd = Command::AddToBatch { batch_id: batch.id.clone(), line_id: line.id.clone() };
                    match step(key, app, actor, cmd, &policy, self.l.cx.now()) {
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
                if self.l.payout.get_batch(&batch.id).await?.is_none_or(|b| !b.claimable()) {
                    break 'pages;
                }
                let mut claims: Vec<Pending<'_, Result<(), ClaimError>>> = Vec::with_capacity(prepared.len());
                for (next, audit, line, v) in &prepared {
                    let write = AppWrite { app: next, expected_version: *v, audit };
                    claims.push(self.l.payout.claim(write, line, budget, allocated));
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
            let mut b = self.l.own_batch(actor, id).await?;
            let expected = b.version;
            b.left_out_for_budget = left_out;
            b.version += 1;
            self.l.payout.update_batch(&b, expected, None).await?;
        }
        Ok(Fill { claimed, done })
    }

    /// Seals the batch (no claim lands after this), fixes the control
    /// totals from its lines and makes it `ready`. Its files are written
    /// only once a second person has released it.
    pub async fn finish_batch(&self, actor: &Actor, id: &str) -> Result<BatchView, Error> {
        let mut batch = self.l.own_batch(actor, id).await?;
        decide(&batch, &actor.user_id, BatchAction::Seal)?;
        if !batch.sealed {
            let expected = batch.version;
            batch.sealed = true;
            batch.version += 1;
            batch.updated_at = self.l.cx.now();
            self.l.payout.update_batch(&batch, expected, None).await?;
        }
        // Every claim that will ever land in this batch has landed: the
        // count below is final.
        let (count, total) = self.l.pending_totals(&batch.id).await?;
        let to = decide(&batch, &actor.user_id, BatchAction::Finish { lines: count })?;
        let now = self.l.cx.now();
        let (mut next, audit) = batch_step(
            self.l.cx.audit_key.get().await?,
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
                self.l.cx.audit_key.get().await?,
                &batch,
                actor,
                "cancel_batch",
                BatchState::Cancelled,
                Some("nothing was claimed".into()),
                now,
            );
            self.l.payout.update_batch(&cancelled, batch.version, Some(&audit)).await?;
            return Err(if batch.left_out_for_budget > 0 {
                let policy = self.l.cx.policy_by_id(&batch.policy_id).await?;
                let b = self
                    .l
                    .payout
                    .budget(&policy.id, &batch.district, Ledger::allocated(&policy, &batch.district)?)
                    .await?;
                Error::BudgetExceeded { remaining: b.remaining }
            } else {
                Error::NothingToPay
            });
        }
        self.l.payout.update_batch(&next, batch.version, Some(&audit)).await?;
        self.l.batch_view(&next).await
    }

    /// Continues a batch left in `building` (by a crash, or a queue
    /// message given up on): one step now, the rest through the queue, as
    /// at creation.
    pub async fn resume_batch(&self, actor: &Actor, id: &str) -> Result<BatchView, Error> {
        let mut batch = self.l.own_batch(actor, id).await?;
        decide(&batch, &actor.user_id, BatchAction::Resume)?;
        if !batch.built_by(&actor.user_id) {
            // Whoever fills the batch is one of its makers: not its checker.
            let expected = batch.version;
            batch.builders.push(actor.user_id.clone());
            batch.version += 1;
            self.l.payout.update_batch(&batch, expected, None).await?;
        }
        self.advance_batch(actor, id, Step::Request).await
    }

    /// Cancels a batch before release: every claimed application goes back
    /// to `approved` and its amount back to the budget.
    pub async fn cancel_batch(&self, actor: &Actor, id: &str, version: u64) -> Result<BatchView, Error> {
        let batch = self.l.own_batch(actor, id).await?;
        decide(&batch, &actor.user_id, BatchAction::Cancel)?;
        if batch.version != version {
            return Err(Error::VersionConflict { current: batch.version });
        }
        let policy = self.l.cx.policy_by_id(&batch.policy_id).await?;
        for line in self.l.all_lines(&batch.id).await?.into_iter().filter(|l| l.status == LineStatus::Pending) {
            let m = line.amount.fen();
            let settled =
                PaymentLine { status: LineStatus::Cancelled, settled_at: Some(self.l.cx.now()), ..line.clone() };
            self.l
                .settle_line(
                    actor,
                    &policy,
                    &batch,
                    &settled,
                    Command::RemoveFromBatch,
                    BudgetMove { committed: -m, paid: 0, remaining: m },
                )
                .await?;
        }
        let batch = self.l.own_batch(actor, id).await?;
        let (next, audit) = batch_step(
            self.l.cx.audit_key.get().await?,
            &batch,
            actor,
            "cancel_batch",
            BatchState::Cancelled,
            None,
            self.l.cx.now(),
        );
        self.l.payout.update_batch(&next, batch.version, Some(&audit)).await?;
        self.l.batch_view(&next).await
    }

    /// Releases a ready batch to the bank: maker-checker, so only a finance
    /// user who neither created nor resumed it may. Only then are its
    /// files written.
    pub async fn release_batch(&self, actor: &Actor, id: &str, version: u64) -> Result<BatchView, Error> {
        let batch = self.l.own_batch(actor, id).await?;
        decide(&batch, &actor.user_id, BatchAction::Release)?;
        if batch.version != version {
            return Err(Error::VersionConflict { current: batch.version });
        }
        let now = self.l.cx.now();
        let (mut next, audit) = batch_step(
            self.l.cx.audit_key.get().await?,
            &batch,
            actor,
            "release_batch",
            BatchState::Released,
            None,
            now,
        );
        next.released_by = Some(actor.user_id.clone());
        next.released_at = Some(now);
        self.l.payout.update_batch(&next, batch.version, Some(&audit)).await?;
        self.l.batch_queue.request_export(&next.id).await?;
        self.l.batch_view(&next).await
    }
}
