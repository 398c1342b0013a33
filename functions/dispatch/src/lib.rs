//! The dispatch function: reads the table's stream and sends each
//! application's arrival at a review tier to that tier's queue.
//!
//! The stream is the outbox: state changes are written once, and this
//! function is the only thing that turns them into messages. It keeps the
//! stream's order: at the first record it cannot handle it reports that
//! record as the batch failure, so Lambda retries from there (and bisects
//! on repeated failure); records before it are done. Sending the same
//! arrival twice is harmless because the review consumer ignores repeats.

use std::collections::HashMap;

use std::sync::Arc;

use aws_lambda_events::dynamodb::Event;
use aws_lambda_events::streams::DynamoDbEventResponse;
use subsidy_api::lambda::{Consumers, stream_failure};
use subsidy_core::application::dispatch::route;
use subsidy_core::identity::Tier;
use subsidy_core::ports::ArrivalQueue;
use subsidy_infra::config::{self, ConfigError};
use subsidy_infra::stream::change_of;

/// The dispatch function's environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `QUEUE_URL_COMMUNITY`, `QUEUE_URL_SUBDISTRICT`, `QUEUE_URL_DISTRICT`.
    pub queues: HashMap<Tier, String>,
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Ok(Config {
            queues: HashMap::from([
                (Tier::Community, config::var("QUEUE_URL_COMMUNITY")?),
                (Tier::Subdistrict, config::var("QUEUE_URL_SUBDISTRICT")?),
                (Tier::District, config::var("QUEUE_URL_DISTRICT")?),
            ]),
        })
    }
}

/// Handles one stream batch in order; see the module docs for failures.
pub async fn handle_stream(queue: &dyn ArrivalQueue, event: Event) -> DynamoDbEventResponse {
    for record in &event.records {
        let seq = record.change.sequence_number.clone().unwrap_or_default();
        let outcome = match change_of(record) {
            Ok(Some(change)) => {
                let messages = route(&change);
                if messages.is_empty() {
                    Ok(())
                } else {
                    tracing::info!(application_id = %change.new.id, messages = messages.len(), "dispatching");
                    queue.publish(&messages).await.map_err(|e| e.to_string())
                }
            }
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = outcome {
            tracing::error!(sequence_number = %seq, error = %e, "stream record failed; the batch resumes here");
            return stream_failure(seq);
        }
    }
    DynamoDbEventResponse::default()
}

/// The dispatch function's consumer: the table's stream.
pub fn consumers(queue: Arc<dyn ArrivalQueue>) -> Consumers {
    Consumers::default().stream(move |event| {
        let queue = queue.clone();
        async move { handle_stream(queue.as_ref(), event).await }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use subsidy_core::application::dispatch::TierArrival;
    use subsidy_core::error::StoreError;

    use subsidy_api::lambda::Failures;

    use super::*;

    #[derive(Default)]
    struct Recorder {
        sent: Mutex<Vec<TierArrival>>,
        fail: bool,
    }

    #[async_trait]
    impl ArrivalQueue for Recorder {
        async fn publish(&self, messages: &[TierArrival]) -> Result<(), StoreError> {
            if self.fail {
                return Err(StoreError::Backend("queue down".into()));
            }
            self.sent.lock().unwrap().extend_from_slice(messages);
            Ok(())
        }
    }

    fn event(json: &str) -> Event {
        serde_json::from_str(json).expect("a DynamoDB stream event")
    }

    #[tokio::test]
    async fn an_application_entering_a_tier_is_sent_to_that_tiers_queue() {
        let q = Recorder::default();
        let r = handle_stream(&q, event(include_str!("../../../events/dispatch/stream-batch-ok.json"))).await;
        assert!(r.batch_item_failures.is_empty());
        let sent = q.sent.lock().unwrap();
        assert_eq!(sent.len(), 1, "only the change into pending_community routes; audit items and inserts do not");
        assert_eq!(sent[0].tier, Tier::Community);
        assert_eq!(sent[0].version, 3);
    }

    #[tokio::test]
    async fn a_failed_send_reports_that_record_and_stops() {
        let q = Recorder { fail: true, ..Default::default() };
        let r = handle_stream(&q, event(include_str!("../../../events/dispatch/stream-batch-ok.json"))).await;
        assert_eq!(r.failed_ids(), vec!["300"]);
    }

    #[tokio::test]
    async fn a_corrupt_record_is_reported_not_skipped() {
        let q = Recorder::default();
        let r = handle_stream(&q, event(include_str!("../../../events/dispatch/stream-corrupt-fail.json"))).await;
        assert_eq!(r.failed_ids(), vec!["500"]);
        assert!(q.sent.lock().unwrap().is_empty());
    }
}
