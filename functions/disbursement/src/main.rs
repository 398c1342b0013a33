//! Lambda entry point of the disbursement function: finance routes, and the
//! export queue that writes batch files.

use std::sync::Arc;

use subsidy_api::lambda::{self, BoxError};
use subsidy_core::ports::SystemClock;
use subsidy_infra::aws;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    subsidy_infra::telemetry::init(true, "info");
    let config = disbursement::Config::from_env()?;
    let sdk = aws::sdk_config().await;
    let ports = aws::ports(&sdk, &config.service, Arc::new(SystemClock)).await?;
    let app = Arc::new(disbursement::App::new(&ports));
    let dead = Arc::new(aws::SqsDeadLetters::new(aws::sqs_client(&sdk), config.dead_letter_queue));
    let router = disbursement::router(app.clone());
    lambda::serve(Some(router), disbursement::consumers(app, dead)).await
}
