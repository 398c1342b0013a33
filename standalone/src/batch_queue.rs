//! The standalone batch queue: the stand-in for the SQS batch queue (`ExportQueue` in the template). The
//! dispatcher drains it and calls the same consumer the Lambda function
//! runs. It lives in memory: a file request lost in a crash is asked for
//! again the first time someone wants the file (see
//! `Settlement::batch_file`), a batch left building is queued again when the
//! server starts, and a results import left half settled is finished by
//! importing the same file again (it settles only what is still pending).

use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;
use subsidy_core::payout::{BatchJob, BatchQueue};
use subsidy_core::ports::StoreResult;

#[derive(Default)]
pub struct LocalBatchQueue {
    pending: Mutex<VecDeque<BatchJob>>,
    pub notify: tokio::sync::Notify,
}

impl LocalBatchQueue {
    /// Takes every waiting job, oldest first.
    pub fn take(&self) -> Vec<BatchJob> {
        self.pending.lock().expect("export queue lock").drain(..).collect()
    }

    /// Puts a job back after a failure, to be retried.
    pub fn retry(&self, job: BatchJob) {
        self.pending.lock().expect("export queue lock").push_back(job);
    }
}

#[async_trait]
impl BatchQueue for LocalBatchQueue {
    async fn request(&self, job: &BatchJob) -> StoreResult<()> {
        let mut q = self.pending.lock().expect("export queue lock");
        if !q.contains(job) {
            q.push_back(job.clone());
        }
        drop(q);
        self.notify.notify_one();
        Ok(())
    }
}
