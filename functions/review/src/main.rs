//! Lambda entry point of a review function; `TIER` picks which one.

use std::sync::Arc;

use subsidy_api::lambda::{self, BoxError};
use subsidy_core::ports::SystemClock;
use subsidy_infra::aws;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    subsidy_infra::telemetry::init(true, "info");
    let config = review::Config::from_env()?;
    let sdk = aws::sdk_config().await;
    let ports = aws::ports(&sdk, &config.service, Arc::new(SystemClock)).await?;
    let app = Arc::new(review::App::new(&ports));
    let dead = Arc::new(aws::SqsDeadLetters::new(aws::sqs_client(&sdk), config.dead_letter_queue));
    let router = review::router(app.clone(), &[config.tier]);
    lambda::serve(Some(router), review::consumers(app, config.tier, dead)).await
}
