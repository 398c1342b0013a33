//! The standalone export queue: the stand-in for the SQS export queue. The
//! dispatcher drains it and calls the same export consumer the Lambda
//! function runs. A request lost in a crash is asked for again the first
//! time someone wants the file (see `Services::batch_file`).

use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;
use subsidy_core::disbursement::ExportQueue;
use subsidy_core::ports::StoreResult;

#[derive(Default)]
pub struct LocalExportQueue {
    pending: Mutex<VecDeque<String>>,
    pub notify: tokio::sync::Notify,
}

impl LocalExportQueue {
    /// Takes every waiting request, oldest first.
    pub fn take(&self) -> Vec<String> {
        self.pending.lock().expect("export queue lock").drain(..).collect()
    }

    /// Puts a request back after a failure, to be retried.
    pub fn retry(&self, batch_id: String) {
        self.pending.lock().expect("export queue lock").push_back(batch_id);
    }
}

#[async_trait]
impl ExportQueue for LocalExportQueue {
    async fn request_export(&self, batch_id: &str) -> StoreResult<()> {
        let mut q = self.pending.lock().expect("export queue lock");
        if !q.iter().any(|b| b == batch_id) {
            q.push_back(batch_id.to_string());
        }
        drop(q);
        self.notify.notify_one();
        Ok(())
    }
}
