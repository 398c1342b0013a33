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
    let mut ports = aws::ports(&sdk, &config.service, Arc::new(SystemClock)).await?;
    aws::serve_notices(&mut ports, &sdk, &config.service);
    let app = Arc::new(submission::App::new(&ports));
    submission::bootstrap(&app.gate.directory, config.initial_admin.as_deref()).await?;
    let router = submission::router(app.clone());
    lambda::serve(Some(router), submission::consumers(app)).await
}
