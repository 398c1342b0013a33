//! The in-process dispatcher: the standalone stand-in for the DynamoDB
//! stream, the dispatch function, SQS and the event-source mappings.
//!
//! It reads outbox rows in sequence order, hands each batch to the same
//! aggregation consumer the table's stream feeds and to the notices
//! consumer (the dispatch function's, on AWS), routes each change with
//! the same `core::dispatch::route` the dispatch function uses, and hands
//! every message to the same consumer the tier queues feed. A row is acknowledged
//! only after all its messages succeeded, so delivery is at least once and
//! in order per application. A failure stops the pass (keeping the order);
//! after `MAX_ATTEMPTS` failures, or at once for a message that can never
//! succeed, the row is set aside as dead, the standalone dead-letter queue.

use std::sync::Arc;
use std::time::Duration;

use subsidy_core::Services;
use subsidy_core::application::dispatch::{ChangeRecord, route};
use subsidy_core::notify::sms::{Delivery, Next, Notifier, SmsJob, SmsQueue, SmsSender, SmsSettings};
use subsidy_infra::sqlite::{QueuedSms, SqliteStore};
use tokio::sync::Mutex;

pub const MAX_ATTEMPTS: u32 = 5;

/// Free pages (4 KiB each) the database keeps before the dispatcher hands
/// them back to the file system: 8 MiB.
pub const RECLAIM_AT_PAGES: u64 = 2048;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drained {
    pub delivered: u64,
    pub failed: u64,
}

pub struct Dispatcher {
    store: SqliteStore,
    services: Arc<Services>,
    /// The batch queue's consumer, as the disbursement function builds it.
    payout: disbursement::App,
    batch_queue: Arc<crate::batch_queue::LocalBatchQueue>,
    /// One pass at a time, so rows are delivered in order.
    pass: Mutex<()>,
    /// At-least-once, exercised: every export, batch and message is handed
    /// to its consumer twice (the duplicate-delivery suite turns this on).
    twice: std::sync::atomic::AtomicBool,
    /// Sends the queued SMS jobs (`sms_jobs`), through the notifier.
    sms: SmsSender,
}

impl Dispatcher {
    pub fn new(
        store: SqliteStore,
        services: Arc<Services>,
        batch_queue: Arc<crate::batch_queue::LocalBatchQueue>,
        sms: SmsSettings,
        notifier: Arc<dyn Notifier>,
    ) -> Arc<Dispatcher> {
        let payout = disbursement::App::new(&services.ports);
        let sms = SmsSender {
            settings: Arc::new(sms),
            clock: services.cx.clock.clone(),
            companies: services.ports.companies.clone(),
            ledger: Arc::new(store.clone()),
            notifier,
        };
        Arc::new(Dispatcher {
            store,
            services,
            payout,
            batch_queue,
            pass: Mutex::new(()),
            twice: Default::default(),
            sms,
        })
    }

    /// Sends the SMS due now, each job at most once at a time; a failure
    /// waits its backoff, and past the last attempt the job is dead-lettered
    /// (an error event; `GET /health` counts them). Returns how many were
    /// handled.
    async fn send_sms(&self) -> anyhow::Result<u64> {
        let now = self.services.now();
        let due = self.store.due_sms(now, 200).await?;
        // Together, as a batch's deliveries are: each job is its own row,
        // and their claims and marks then share commits instead of
        // waiting for one another's.
        let sent = futures::future::join_all(due.iter().map(|queued| self.send_one(queued))).await;
        for result in sent {
            result?;
        }
        Ok(due.len() as u64)
    }

    async fn send_one(&self, queued: &QueuedSms) -> anyhow::Result<()> {
        // The table counts the job's failures; the sender decides from them.
        let job = SmsJob { failures: queued.attempts, ..queued.job.clone() };
        for _ in 0..self.times() {
            match self.sms.attempt(&job).await {
                Next::Done(Delivery::Sent | Delivery::Nothing) => self.store.sms_done(&job, None).await?,
                // Another sender holds it, or it was sent: leave it be.
                Next::Done(_) => {}
                Next::Hold(at) => self.store.sms_later(&job, at, None).await?,
                Next::Retry { at, error, .. } => {
                    self.store.sms_later(&job, at, Some(&error)).await?;
                    return Ok(());
                }
                Next::Dead(error) => {
                    self.store.sms_done(&job, Some(&error)).await?;
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Records finance's notices from the payment batches' changes (the
    /// batch outbox), then deletes those rows; a failure leaves them for
    /// the next pass (the notices are idempotent by id).
    async fn tell_finance(&self) -> anyhow::Result<()> {
        let pending = self.store.pending_batch_changes(100).await?;
        let Some(&(last, _)) = pending.last() else { return Ok(()) };
        let changes: Vec<_> = pending.into_iter().map(|(_, c)| c).collect();
        let notices = &self.services.notices;
        for _ in 0..self.times() {
            if let Err(e) =
                subsidy_core::notify::record_batches(notices.store.as_ref(), notices.staff.as_ref(), &changes).await
            {
                tracing::warn!(error = %e, batches = changes.len(), "recording finance's notices failed; will retry");
                return Ok(());
            }
        }
        self.store.batch_changes_done(last).await?;
        Ok(())
    }

    /// From now on, deliver everything twice (see the field).
    pub fn deliver_everything_twice(&self, on: bool) {
        self.twice.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    fn times(&self) -> usize {
        if self.twice.load(std::sync::atomic::Ordering::Relaxed) { 2 } else { 1 }
    }

    /// Does the batch jobs asked for; a failure is retried next pass.
    async fn export_files(&self) -> u64 {
        let mut done = 0;
        let jobs = self.batch_queue.take();
        let times = self.times();
        for job in jobs.iter().flat_map(|j| std::iter::repeat_n(j.clone(), times)) {
            match disbursement::work(&self.payout, &job).await {
                Ok(_) => done += 1,
                Err(e) => {
                    tracing::warn!(batch_id = %job.batch_id, error = %e, "batch job failed; will retry");
                    self.batch_queue.retry(job);
                }
            }
        }
        done
    }

    async fn deliver(&self, change: &ChangeRecord) -> Result<(), review::ConsumerError> {
        for msg in route(change) {
            for _ in 0..self.times() {
                review::handle_arrival(&self.services.review, &msg).await?;
            }
        }
        Ok(())
    }

    /// Delivers every pending row, in order, until none is left or one fails.
    pub async fn drain(&self) -> anyhow::Result<Drained> {
        let _pass = self.pass.lock().await;
        let mut out = Drained::default();
        loop {
            out.delivered += self.export_files().await;
            // SMS go beside the events: not counted as deliveries.
            self.send_sms().await?;
            self.tell_finance().await?;
            let batch = self.store.pending_changes(100).await?;
            if batch.is_empty() {
                if out.delivered > 0 {
                    // The rows just deleted left free pages: past 8 MiB of
                    // them, the file gives them back.
                    match self.store.reclaim_free_pages(RECLAIM_AT_PAGES).await {
                        Ok(0) => {}
                        Ok(pages) => tracing::info!(pages, "database pages reclaimed"),
                        Err(e) => tracing::warn!(error = %e, "reclaiming free pages failed"),
                    }
                }
                return Ok(out);
            }
            // The aggregation consumer takes the whole batch at once (it merges
            // deltas); it is idempotent, so a retried batch counts nothing twice.
            let changes: Vec<_> = batch.iter().map(|e| e.change.clone()).collect();
            let mut aggregated = Ok(Default::default());
            for _ in 0..self.times() {
                aggregated = self.services.stats.aggregate(&changes).await;
                if aggregated.is_err() {
                    break;
                }
            }
            if let Err(e) = aggregated {
                let first = batch[0].seq;
                let attempts = self.store.fail_change(first, &format!("aggregation: {e}"), MAX_ATTEMPTS).await?;
                tracing::warn!(seq = first, attempts, error = %e, "aggregation failed");
                out.failed += 1;
                return Ok(out);
            }
            // The notices consumer, like the stream's: idempotent per
            // notice, so a batch retried (or delivered twice) adds none.
            let mut noticed = Ok(0);
            for _ in 0..self.times() {
                noticed = self.services.notices.record(&changes).await;
                // And the steps they ended, for the applicant's ETA (each
                // sample kept once).
                if noticed.is_ok() {
                    noticed = self.services.eta.record(&changes).await;
                }
                if noticed.is_err() {
                    break;
                }
            }
            // And the SMS those notices send, queued (idempotent per notice).
            if noticed.is_ok() {
                let jobs = subsidy_core::notify::sms_jobs(&self.sms.settings, &changes);
                if !jobs.is_empty() {
                    noticed = SmsQueue::enqueue(&self.store, &jobs).await.map(|()| 0).map_err(Into::into);
                }
            }
            if let Err(e) = noticed {
                let first = batch[0].seq;
                let attempts = self.store.fail_change(first, &format!("notices: {e}"), MAX_ATTEMPTS).await?;
                tracing::warn!(seq = first, attempts, error = %e, "recording notices failed");
                out.failed += 1;
                return Ok(out);
            }
            // The messages are independent (as on SQS, where order is not
            // kept either): deliver them together, then acknowledge together,
            // so their writes share commits instead of waiting in line.
            let delivered = futures::future::join_all(batch.iter().map(|e| self.deliver(&e.change))).await;
            let mut acks = Vec::new();
            let mut failed = false;
            for (entry, result) in batch.iter().zip(delivered) {
                match result {
                    Ok(()) => acks.push(self.store.ack_change(entry.seq)),
                    Err(e) => {
                        let max = if e.retryable { MAX_ATTEMPTS } else { 1 };
                        let attempts = self.store.fail_change(entry.seq, &e.message, max).await?;
                        tracing::warn!(seq = entry.seq, attempts, retryable = e.retryable, error = %e, "delivery failed");
                        out.failed += 1;
                        failed = true;
                    }
                }
            }
            for ack in futures::future::join_all(acks).await {
                ack?;
                out.delivered += 1;
            }
            if failed {
                return Ok(out);
            }
        }
    }

    pub async fn exclusive<T>(&self, job: impl std::future::Future<Output = T>) -> T {
        let _pass = self.pass.lock().await;
        job.await
    }

    /// Runs until `shutdown` fires: drains after each commit that wrote to
    /// the outbox, and at least every second (to retry failures).
    pub fn spawn(self: &Arc<Self>, shutdown: tokio::sync::watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        let notify = me.store.outbox_notify();
        let mut shutdown = shutdown;
        tokio::spawn(async move {
            loop {
                if let Err(e) = me.drain().await {
                    tracing::error!(error = %e, "dispatcher pass failed");
                }
                tokio::select! {
                    _ = notify.notified() => {}
                    _ = me.batch_queue.notify.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.changed() => return,
                }
            }
        })
    }
}
