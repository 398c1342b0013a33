//! The tier queues on SQS.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use subsidy_core::application::dispatch::TierArrival;
use subsidy_core::error::StoreError;
use subsidy_core::identity::Tier;
use subsidy_core::ports::{ArrivalQueue, StoreResult};

#[derive(Clone)]
pub struct SqsQueues {
    client: Client,
    urls: HashMap<Tier, String>,
}

impl SqsQueues {
    pub fn new(client: Client, urls: HashMap<Tier, String>) -> SqsQueues {
        SqsQueues { client, urls }
    }
}

#[async_trait]
impl ArrivalQueue for SqsQueues {
    async fn publish(&self, messages: &[TierArrival]) -> StoreResult<()> {
        for tier in Tier::ALL {
            let url = self.urls.get(&tier);
            let batch: Vec<&TierArrival> = messages.iter().filter(|m| m.tier == tier).collect();
            if batch.is_empty() {
                continue;
            }
            let url = url.ok_or_else(|| StoreError::Backend(format!("no queue configured for tier {tier}")))?;
            send_all(&self.client, url, &batch).await?;
        }
        Ok(())
    }
}

/// Sends each of `messages`, as JSON, in batches of ten (SQS's most).
async fn send_all<T: serde::Serialize>(client: &Client, url: &str, messages: &[T]) -> StoreResult<()> {
    for chunk in messages.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let body = serde_json::to_string(m).map_err(|e| StoreError::Backend(e.to_string()))?;
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .build()
                    .map_err(|e| StoreError::Backend(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = client
            .send_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| StoreError::Backend(format!("sqs: {e:?}")))?;
        if !out.failed().is_empty() {
            return Err(StoreError::Backend(format!("sqs: {} messages not sent", out.failed().len())));
        }
    }
    Ok(())
}

/// The export (batch) queue: asks the disbursement function to build a
/// batch on, write its files, or settle a results file. Functions without
/// the queue configured refuse to ask.
#[derive(Clone)]
pub struct SqsBatchQueue {
    client: Client,
    url: Option<String>,
}

impl SqsBatchQueue {
    pub fn new(client: Client, url: Option<String>) -> SqsBatchQueue {
        SqsBatchQueue { client, url }
    }
}

#[async_trait]
impl subsidy_core::payout::BatchQueue for SqsBatchQueue {
    async fn request(&self, job: &subsidy_core::payout::BatchJob) -> StoreResult<()> {
        let url = self.url.as_ref().ok_or_else(|| StoreError::Backend("EXPORT_QUEUE_URL is not configured".into()))?;
        let body = serde_json::to_string(job).map_err(|e| StoreError::Backend(e.to_string()))?;
        self.client
            .send_message()
            .queue_url(url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| StoreError::Backend(format!("sqs: {e:?}")))?;
        Ok(())
    }
}

/// A consumer's dead-letter queue (the one its source queue's redrive
/// policy names): where a message that can never succeed goes at once.
/// The reason travels as a message attribute, the body unchanged, so the
/// message can be redriven as it was once the cause is fixed.
#[derive(Clone)]
pub struct SqsDeadLetters {
    client: Client,
    url: String,
}

impl SqsDeadLetters {
    pub fn new(client: Client, url: impl Into<String>) -> SqsDeadLetters {
        SqsDeadLetters { client, url: url.into() }
    }
}

/// SQS refuses message attributes longer than this (256 KiB in all); a
/// reason is a line of text, cut well short of it.
const MAX_REASON: usize = 1024;

#[async_trait]
impl subsidy_core::ports::DeadLetterQueue for SqsDeadLetters {
    async fn dead_letter(&self, body: &str, reason: &str) -> StoreResult<()> {
        let reason = aws_sdk_sqs::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value(if reason.is_empty() { "unknown" } else { &reason[..reason.floor_char_boundary(MAX_REASON)] })
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(if body.is_empty() { "(empty)" } else { body })
            .message_attributes("reason", reason)
            .send()
            .await
            .map_err(|e| StoreError::Backend(format!("sqs: {e:?}")))?;
        Ok(())
    }
}

/// The SMS queue: jobs from the notices consumer, consumed by the dispatch
/// function. A job that must wait comes back by SQS's own clock: a retry
/// (at most 8 minutes off) is sent again with a delay and the job's failure
/// count one more; a job held through quiet hours (hours off) stays the
/// same message, out of sight until they end (its visibility). The queue's
/// `maxReceiveCount` only backs this up: a job dead-letters through the
/// sender's own count (`core::notify::sms::SMS_MAX_ATTEMPTS`).
#[derive(Clone)]
pub struct SqsSmsQueue {
    client: Client,
    url: String,
    clock: std::sync::Arc<dyn subsidy_core::ports::Clock>,
}

impl SqsSmsQueue {
    pub fn new(client: Client, url: impl Into<String>, clock: std::sync::Arc<dyn subsidy_core::ports::Clock>) -> Self {
        SqsSmsQueue { client, url: url.into(), clock }
    }

    /// Whole seconds from now to `at`, within `0..=max`.
    fn seconds_until(&self, at: chrono::DateTime<chrono::Utc>, max: chrono::Duration) -> i32 {
        let secs = ((at - self.clock.now()).num_milliseconds() + 999).div_euclid(1000);
        secs.clamp(0, max.num_seconds()) as i32
    }
}

fn job_body(job: &subsidy_core::notify::sms::SmsJob) -> StoreResult<String> {
    serde_json::to_string(job).map_err(|e| StoreError::Backend(e.to_string()))
}

#[async_trait]
impl subsidy_core::notify::sms::SmsQueue for SqsSmsQueue {
    async fn enqueue(&self, jobs: &[subsidy_core::notify::sms::SmsJob]) -> StoreResult<()> {
        send_all(&self.client, &self.url, jobs).await
    }
}

#[async_trait]
impl subsidy_core::notify::sms::SmsRedelivery for SqsSmsQueue {
    async fn resend(
        &self,
        job: &subsidy_core::notify::sms::SmsJob,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<()> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(job_body(job)?)
            .delay_seconds(self.seconds_until(at, subsidy_core::notify::sms::SMS_LONGEST_DELAY))
            .send()
            .await
            .map_err(|e| StoreError::Backend(format!("sqs: {e:?}")))?;
        Ok(())
    }

    async fn hold(
        &self,
        _: &subsidy_core::notify::sms::SmsJob,
        receipt: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<()> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(self.seconds_until(at, subsidy_core::notify::sms::SMS_LONGEST_HOLD))
            .send()
            .await
            .map_err(|e| StoreError::Backend(format!("sqs: {e:?}")))?;
        Ok(())
    }
}
