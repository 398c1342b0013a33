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
    let mut ports = aws::ports(&sdk, &config, Arc::new(SystemClock)).await?;
    // The nightly digest writes notices; nothing here reads them.
    aws::serve_notice_writes(&mut ports, &sdk, &config);
    let app = Arc::new(aggregation::App::new(&ports));
    let router = aggregation::router(app.clone());
    lambda::serve(Some(router), aggregation::consumers(app)).await
}
