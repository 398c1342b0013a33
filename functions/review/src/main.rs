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
    let services = Arc::new(aws::services(&sdk, &config.service, Arc::new(SystemClock)).await?);
    let router = review::router(services.clone(), &[config.tier]);
    lambda::serve(Some(router), Some(review::records(services, config.tier))).await
}
