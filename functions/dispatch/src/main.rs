//! Lambda entry point of the dispatch function (DynamoDB stream consumer).

use std::sync::Arc;

use subsidy_api::lambda::{self, BoxError};
use subsidy_infra::aws;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    subsidy_infra::telemetry::init(true, "info");
    let config = dispatch::Config::from_env()?;
    let sdk = aws::sdk_config().await;
    let queues = Arc::new(aws::SqsQueues::new(aws::sqs_client(&sdk), config.queues));
    let table = Arc::new(aws::DynamoStore::new(aws::dynamo_client(&sdk), config.table));
    lambda::serve(None, dispatch::consumers(queues, table)).await
}
