//! Lambda entry point of the dispatch function (the table's stream, and
//! the SMS queue).

use std::sync::Arc;

use subsidy_api::lambda::{self, BoxError};
use subsidy_core::notify::sms::{LogNotifier, Notifier, SmsSender};
use subsidy_core::ports::SystemClock;
use subsidy_infra::aws;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    subsidy_infra::telemetry::init(true, "info");
    let config = dispatch::Config::from_env()?;
    let sdk = aws::sdk_config().await;
    let sqs = aws::sqs_client(&sdk);
    let clock = Arc::new(SystemClock);
    let queues = Arc::new(aws::SqsQueues::new(sqs.clone(), config.queues));
    let table = Arc::new(aws::DynamoStore::new(aws::dynamo_client(&sdk), config.table));
    let sms_queue = Arc::new(aws::SqsSmsQueue::new(sqs.clone(), config.sms_queue, clock.clone()));
    let notifier: Arc<dyn Notifier> =
        if config.sns { Arc::new(aws::SnsNotifier::new(aws::sns_client(&sdk))) } else { Arc::new(LogNotifier) };
    let policy = Arc::new(config.policy);
    let sms = dispatch::SmsConsumer {
        sender: SmsSender {
            settings: Arc::new(policy.sms.clone()),
            clock,
            companies: table.clone(),
            ledger: table.clone(),
            notifier,
        },
        queue: sms_queue.clone(),
        dead: Arc::new(aws::SqsDeadLetters::new(sqs, config.sms_dead_letters)),
    };
    lambda::serve(None, dispatch::consumers(queues, table, policy, sms_queue, sms)).await
}
