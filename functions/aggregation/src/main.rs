//! Lambda entry point of the aggregation function: stats routes, the
//! table's stream, and the nightly schedule.

use std::sync::Arc;

use subsidy_api::lambda::{self, BoxError};
use subsidy_core::ports::SystemClock;
use subsidy_infra::aws;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    subsidy_infra::telemetry::init(true, "info");
    let config = aws::ServiceConfig::from_env()?;
    let sdk = aws::sdk_config().await;
    let services = Arc::new(aws::services(&sdk, &config, Arc::new(SystemClock)).await?);
    let router = aggregation::router(services.clone());
    lambda::serve(Some(router), Some(aggregation::records(services))).await
}
