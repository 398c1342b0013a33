//! After release: the batch and its lines as finance reads them, the
//! treasury file, and the bank's results (imported whole, settled a step
//! at a time).

use std::collections::HashMap;

use crate::application::state::Command;
use crate::documents::{DOWNLOAD_TTL, UPLOAD_TTL};
use crate::error::{Error, StoreError};
use crate::fields::Text;
use crate::identity::Actor;
use crate::money::Fen;
use crate::payout::lifecycle::{BatchAction, decide};
use crate::payout::views::*;
use crate::payout::*;
use crate::policy::Policy;
use crate::ports::{Page, PageRequest, PresignedRequest};
use futures::{StreamExt, TryStreamExt};

use super::ledger::*;

/// A results file's bytes as text: UTF-8 (CSV), posted or uploaded.
fn results_text(bytes: &[u8]) -> Result<&str, Error> {
    std::str::from_utf8(bytes).map_err(|_| Error::invalid("file", "the result file must be UTF-8 text (CSV)"))
}

fn too_large(field: &str) -> Error {
    Error::invalid(field, format!("a results file may be at most {MAX_RESULT_FILE} bytes"))
}

/// The settlement use cases.
#[derive(Clone)]
pub struct Settlement {
    pub(crate) l: Ledger,
}

impl Settlement {
    /// A paid application of the finance user's district, for a recovery.
    async fn recovery_target(
        &self,
        actor: &Actor,
        id: &str,
    ) -> Result<(String, crate::application::Application), Error> {
        let district = self.l.finance_district(actor)?;
        match self.l.applications.get_application(id).await? {
            Some(a) if a.jurisdiction.district == district => Ok((district, a)),
            _ => Err(Error::NotFound("application")),
        }
    }

    fn recovery_view(
        &self,
        app: &crate::application::Application,
        policy: &crate::policy::Policy,
    ) -> crate::application::views::ApplicationView {
        crate::application::views::ApplicationView::of(
            app,
            &self.l.cx.tree,
            crate::application::views::Due { policy, now: self.l.cx.now() },
        )
    }

    /// District finance confirms a recovery (追回) someone else opened.
    pub async fn confirm_recovery(
        &self,
        actor: &Actor,
        id: &str,
        version: u64,
    ) -> Result<crate::application::views::ApplicationView, Error> {
        let (_, app) = self.recovery_target(actor, id).await?;
        if app.version != version {
            return Err(Error::VersionConflict { current: app.version });
        }
        let policy = self.l.cx.policy().await?;
        let (next, audit, _) = crate::application::state::step(
            self.l.cx.audit_key.get().await?,
            &app,
            actor,
            crate::application::state::Command::ConfirmRecovery,
            &policy,
            self.l.cx.now(),
        )?;
        self.l.applications.update_application(&next, app.version, &audit, crate::ports::ClaimChange::Keep).await?;
        Ok(self.recovery_view(&next, &policy))
    }

    /// District finance records a repayment of a confirmed recovery, at
    /// most what is owed; the budget gets it back in the same write.
    pub async fn record_repayment(
        &self,
        actor: &Actor,
        id: &str,
        input: &crate::application::inputs::RepaymentInput,
    ) -> Result<crate::application::views::ApplicationView, Error> {
        let amount = crate::application::inputs::yuan("amount", &input.amount)?;
        let date = chrono::NaiveDate::parse_from_str(&input.date, "%Y-%m-%d")
            .map_err(|_| Error::invalid("date", "a date as YYYY-MM-DD"))?;
        let bank_reference = crate::fields::text("bankReference", &input.bank_reference, 100)?;
        if bank_reference.to_string().trim().is_empty() {
            return Err(Error::invalid("bankReference", "the bank's reference is required"));
        }
        let (district, app) = self.recovery_target(actor, id).await?;
        if app.version != input.version {
            return Err(Error::VersionConflict { current: app.version });
        }
        let policy = self.l.cx.policy().await?;
        let cmd = crate::application::state::Command::RecordRepayment { date, amount, bank_reference };
        let (next, audit, _) = crate::application::state::step(
            self.l.cx.audit_key.get().await?,
            &app,
            actor,
            cmd,
            &policy,
            self.l.cx.now(),
        )?;
        let write = AppWrite { app: &next, expected_version: app.version, audit: &audit };
        let key = BudgetKey { policy_id: &app.policy_id, district: &district };
        let back = BudgetMove { committed: 0, paid: -amount.fen(), remaining: amount.fen() };
        match self.l.payout.repay(write, key, back).await {
            Ok(()) => Ok(self.recovery_view(&next, &policy)),
            Err(ClaimError::Moved) => {
                let current = self.l.applications.get_application(id).await?.map(|a| a.version).unwrap_or(0);
                Err(Error::VersionConflict { current })
            }
            Err(ClaimError::Store(e)) => Err(e.into()),
            Err(ClaimError::OverBudget | ClaimError::Closed) => Err(Error::internal("a repayment takes no budget")),
        }
    }

    pub async fn batch(&self, actor: &Actor, id: &str) -> Result<BatchView, Error> {
        self.l.batch(actor, id).await
    }

    pub async fn batches(&self, actor: &Actor, page: &PageRequest) -> Result<Page<BatchView>, Error> {
        let district = self.l.finance_district(actor)?;
        let page = self.l.payout.batches_of(&self.l.cx.policy_id, &district, page).await?;
        let mut items = Vec::with_capacity(page.items.len());
        for b in &page.items {
            items.push(self.l.batch_view(b).await?);
        }
        Ok(Page { items, next_cursor: page.next_cursor })
    }

    /// A batch's lines, accounts masked.
    pub async fn batch_lines(&self, actor: &Actor, id: &str, page: &PageRequest) -> Result<Page<LineView>, Error> {
        let batch = self.l.own_batch(actor, id).await?;
        Ok(self.l.payout.lines_of(&batch.id, page).await?.map(|l| LineView::of(&l)))
    }

    /// A short-lived download of the batch file (`xlsx` or `csv`), the only
    /// place account numbers appear in full: finance of the district only.
    pub async fn batch_file(&self, actor: &Actor, id: &str, extension: &str) -> Result<PresignedRequest, Error> {
        let batch = self.l.own_batch(actor, id).await?;
        // No treasury file exists before a second person releases the batch.
        decide(&batch, &actor.user_id, BatchAction::DownloadFile)?;
        if !self.l.files_ready(&batch.id).await? {
            // The request may have been lost (say, in a crash): ask again.
            self.l.batch_queue.request_export(&batch.id).await?;
            return Err(Error::FileNotReady);
        }
        Ok(self.l.exports.presign_get(&batch_file_key(&batch.id, extension), None, DOWNLOAD_TTL).await?)
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
        let now = self.l.cx.now();
        if result.paid {
            let settled = PaymentLine { status: LineStatus::Paid, settled_at: Some(now), ..line };
            let budget = BudgetMove { committed: -m, paid: m, remaining: 0 };
            self.l.settle_line(actor, policy, batch, &settled, Command::MarkPaid, budget).await
        } else {
            let reason = result.reason.clone().unwrap_or_default();
            let text = Text::parse(&reason, 200).map_err(|e| Error::invalid("reason", e.to_string()))?;
            let settled =
                PaymentLine { status: LineStatus::Failed, reason: Some(reason), settled_at: Some(now), ..line };
            let budget = BudgetMove { committed: -m, paid: 0, remaining: m };
            self.l
                .settle_line(actor, policy, batch, &settled, Command::MarkPaymentFailed { reason: text }, budget)
                .await
        }
    }

    /// Imports the bank's result file. The whole file is checked first: a
    /// line that is not the batch's, a control total that does not match,
    /// a duplicate, or a line whose answer contradicts an earlier import,
    /// and nothing is changed. Then paid lines become paid, failed lines
    /// payment-failed with the bank's reason; a line already settled the
    /// same way is left alone, so importing the same file twice changes
    /// nothing. The request settles a quarter of a step (`Ledger::batch_step`) itself;
    /// a longer file is kept in the exports store and the batch queue
    /// settles the rest a step at a time ([`Self::settle_results`]), then
    /// fixes the batch's totals and state. Importing the same file again
    /// finishes an import a crash cut short.
    pub async fn import_results(&self, actor: &Actor, id: &str, bytes: &[u8]) -> Result<Imported, Error> {
        let batch = self.importable(actor, id).await?;
        self.import(actor, batch, results_text(bytes)?, None).await
    }

    /// The caller's batch, if they may import results into it now.
    async fn importable(&self, actor: &Actor, id: &str) -> Result<Batch, Error> {
        let batch = self.l.own_batch(actor, id).await?;
        decide(&batch, &actor.user_id, BatchAction::ImportResults)?;
        Ok(batch)
    }

    /// A short-lived upload of a results file of `size` bytes to the
    /// exports store, for a file too large to post
    /// ([`MAX_POSTED_RESULT_FILE`]). The URL is signed for one key of this
    /// batch, the CSV type and the exact size, and stores bytes once. Only
    /// who may import may ask.
    pub async fn results_upload(
        &self,
        actor: &Actor,
        id: &str,
        input: &ResultsUploadInput,
    ) -> Result<ResultsUpload, Error> {
        let batch = self.importable(actor, id).await?;
        let size = match input.size {
            None => return Err(Error::invalid("size", "give the file's size in bytes")),
            Some(n) if n < 1 => return Err(Error::invalid("size", "the file is empty")),
            Some(n) if n as u64 > MAX_RESULT_FILE as u64 => return Err(too_large("size")),
            Some(n) => n as u64,
        };
        let upload_id = ulid::Ulid::new();
        let key = results_file_key(&batch.id, &upload_id);
        let upload = self.l.exports.presign_put(&key, RESULTS_CONTENT_TYPE, size, UPLOAD_TTL).await?;
        Ok(ResultsUpload { upload_id: upload_id.to_string(), upload, max_size: MAX_RESULT_FILE })
    }

    /// [`Self::import_results`] of a file uploaded through
    /// [`Self::results_upload`] for this batch. An id that names no upload
    /// of this batch (another batch's, one never uploaded) is refused whole.
    pub async fn import_uploaded_results(
        &self,
        actor: &Actor,
        id: &str,
        input: &UploadedResultsInput,
    ) -> Result<Imported, Error> {
        let batch = self.importable(actor, id).await?;
        let raw = input.upload_id.as_deref().ok_or_else(|| Error::invalid("uploadId", "give the upload's id"))?;
        let upload_id =
            ulid::Ulid::from_string(raw).map_err(|_| Error::invalid("uploadId", "not an upload id of this system"))?;
        let key = results_file_key(&batch.id, &upload_id);
        let not_uploaded = || Error::ResultsRefused {
            problems: vec![format!(
                "no file was uploaded as {upload_id} for batch {}: upload it, then import it",
                batch.id
            )],
        };
        let kept = self.l.exports.head(&key, MAX_RESULT_FILE).await?.ok_or_else(not_uploaded)?;
        if kept.size > MAX_RESULT_FILE as u64 {
            return Err(too_large("file"));
        }
        self.import(actor, batch, results_text(&kept.head)?, Some(key)).await
    }

    /// An import checked whole, then settled; `kept` names the file in the
    /// exports store when it is there already (uploaded).
    async fn import(&self, actor: &Actor, batch: Batch, text: &str, kept: Option<String>) -> Result<Imported, Error> {
        let id = batch.id.as_str();
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
        let policy = self.l.cx.policy_by_id(&batch.policy_id).await?;
        let share = (self.l.batch_step.load(std::sync::atomic::Ordering::Relaxed) / REQUEST_SHARE).max(1);
        match self.settle_lines(actor, &policy, &batch, &file.lines, 0, share).await? {
            None => Ok(Imported { batch: self.close_import(actor, id).await?, settling: false }),
            Some(next) => {
                // The rest through the batch queue, from the file as kept.
                let file_key = match kept {
                    Some(key) => key,
                    None => {
                        let key = results_file_key(&batch.id, &ulid::Ulid::new());
                        self.l.exports.put(&key, text.as_bytes().to_vec(), "text/csv; charset=utf-8").await?;
                        key
                    }
                };
                let results = ResultsJob { file_key, imported_by: actor.user_id.clone(), from_line: next };
                self.l.batch_queue.request(&BatchJob { batch_id: batch.id.clone(), results: Some(results) }).await?;
                let batch = self.l.batch_view(&self.l.own_batch(actor, id).await?).await?;
                Ok(Imported { batch, settling: true })
            }
        }
    }

    /// The batch queue's part of a results import: the next lines of the
    /// file, on behalf of the finance officer who imported it; then the
    /// batch's totals and state. Nothing for a batch no longer `released`.
    pub async fn settle_results(&self, batch_id: &str, job: &ResultsJob) -> Result<Option<BatchView>, Error> {
        let Some(batch) = self.l.payout.get_batch(batch_id).await? else {
            return Ok(None);
        };
        if decide(&batch, &job.imported_by, BatchAction::SettleLines).is_err() {
            return Ok(None);
        }
        let actor = acting_for(&job.imported_by, &batch);
        let kept = self
            .l
            .exports
            .head(&job.file_key, MAX_RESULT_FILE)
            .await?
            .ok_or_else(|| Error::internal(format!("the results file {} is gone", job.file_key)))?;
        let text = String::from_utf8(kept.head).map_err(Error::internal)?;
        let file = parse_results(&text).map_err(|p| Error::internal(format!("a kept results file: {p:?}")))?;
        let policy = self.l.cx.policy_by_id(&batch.policy_id).await?;
        let step = self.l.batch_step.load(std::sync::atomic::Ordering::Relaxed).max(1);
        match self.settle_lines(&actor, &policy, &batch, &file.lines, job.from_line, step).await? {
            None => self.close_import(&actor, batch_id).await.map(Some),
            Some(next) => {
                let results = ResultsJob { from_line: next, ..job.clone() };
                self.l.batch_queue.request(&BatchJob { batch_id: batch.id.clone(), results: Some(results) }).await?;
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
        let parallel = self.l.payout.parallel_writes().max(1);
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
        let t = self.l.tally(id).await?;
        let batch = self.l.own_batch(actor, id).await?;
        let to = decide(&batch, &actor.user_id, BatchAction::CloseImport { pending: t.count(LineStatus::Pending) })?;
        let (paid, failed) = (t.count(LineStatus::Paid), t.count(LineStatus::Failed));
        if (paid, failed, to) == (batch.paid_count, batch.failed_count, batch.state) {
            return self.l.batch_view(&batch).await;
        }
        let comment = format!("{paid} 笔成功, {failed} 笔失败");
        let (mut next, audit) = batch_step(
            self.l.cx.audit_key.get().await?,
            &batch,
            actor,
            "import_results",
            to,
            Some(comment),
            self.l.cx.now(),
        );
        next.paid_count = paid;
        next.paid = t.sum(LineStatus::Paid);
        next.failed_count = failed;
        next.failed = t.sum(LineStatus::Failed);
        self.l.payout.update_batch(&next, batch.version, Some(&audit)).await?;
        self.l.batch_view(&next).await
    }

    /// Every line of a batch by id: its status and amount.
    async fn line_states(&self, batch_id: &str) -> Result<HashMap<String, (LineStatus, Fen)>, Error> {
        let mut out = HashMap::new();
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        loop {
            let lines = self.l.payout.lines_of(batch_id, &page).await?;
            out.extend(lines.items.into_iter().map(|l| (l.id, (l.status, l.amount))));
            match lines.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    /// The lines a results file names, read together, in its order.
    async fn lines_named(&self, batch_id: &str, results: &[ResultLine]) -> Result<Vec<Option<PaymentLine>>, Error> {
        let parallel = self.l.payout.parallel_writes().max(1);
        let reads: Vec<Pending<'_, Result<Option<PaymentLine>, StoreError>>> =
            results.iter().map(|r| self.l.payout.get_line(batch_id, &r.line_id)).collect();
        Ok(futures::stream::iter(reads).buffered(parallel).try_collect().await?)
    }

    /// The batch as the export consumer needs it (no actor: a system job).
    pub async fn batch_for_export(&self, id: &str) -> Result<Option<Batch>, Error> {
        Ok(self.l.payout.get_batch(id).await?)
    }

    /// Every line of a batch, page by page, for the export consumer.
    pub async fn export_lines(&self, id: &str, page: &PageRequest) -> Result<Page<PaymentLine>, Error> {
        Ok(self.l.payout.lines_of(id, page).await?)
    }
}
