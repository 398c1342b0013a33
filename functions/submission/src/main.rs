//! Lambda entry point of the submission function: API routes for companies,
//! project managers and application reads; S3 events for uploaded documents.

use std::sync::Arc;

use subsidy_api::lambda::{self, BoxError};
use subsidy_core::ports::SystemClock;
use subsidy_infra::aws;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    subsidy_infra::telemetry::init(true, "info");
    let config = submission::Config::from_env()?;
    let sdk = aws::sdk_config().await;
    let services = Arc::new(aws::services(&sdk, &config.service, Arc::new(SystemClock)).await?);
    submission::bootstrap(&services, config.initial_admin.as_deref()).await?;
    let router = submission::router(services.clone());
    lambda::serve(Some(router), Some(submission::records(services))).await
}
