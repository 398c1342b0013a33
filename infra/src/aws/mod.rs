//! The AWS adapters: DynamoDB for every storage port, S3 for documents, SQS
//! for the tier queues; and the one place the SDK clients are built.
//!
//! Local endpoints (the moto emulator in tests) come only from the standard
//! `AWS_ENDPOINT_URL`; S3 then uses path-style addressing.

pub mod disbursement;
pub mod dynamo;
pub mod s3;
pub mod sqs;
pub mod stats;

use std::sync::Arc;

use aws_config::BehaviorVersion;
use subsidy_core::Services;
use subsidy_core::jurisdiction::JurisdictionTree;
use subsidy_core::policy::Policy;
use subsidy_core::ports::{Clock, PolicyStore};

use crate::config::{self, ConfigError};

pub use dynamo::DynamoStore;
pub use s3::S3Blobs;
pub use sqs::{SqsExportQueue, SqsQueues};

/// The SDK configuration: region, credentials, endpoint, from the environment.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(BehaviorVersion::latest()).await
}

pub fn dynamo_client(sdk: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(sdk)
}

pub fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    // Emulators serve buckets by path, not by virtual host.
    let path_style = std::env::var("AWS_ENDPOINT_URL").is_ok_and(|v| !v.is_empty());
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(path_style).build())
}

pub fn sqs_client(sdk: &aws_config::SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(sdk)
}

/// What every function that serves the use cases needs from its environment.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// `TABLE_NAME`: the single table.
    pub table: String,
    /// `BUCKET_NAME`: the document bucket.
    pub bucket: String,
    /// `POLICY_JSON`: the active policy, as data (a template parameter).
    pub policy: Policy,
    /// `EXPORT_BUCKET_NAME`: reports and batch files.
    pub exports_bucket: String,
    /// `EXPORT_QUEUE_URL`: where batch files are asked for (only the
    /// functions that create batches have it).
    pub export_queue_url: Option<String>,
}

impl ServiceConfig {
    pub fn from_env() -> Result<ServiceConfig, ConfigError> {
        Ok(ServiceConfig {
            table: config::var("TABLE_NAME")?,
            bucket: config::var("BUCKET_NAME")?,
            policy: config::parsed("POLICY_JSON", Policy::from_json)?,
            exports_bucket: config::var("EXPORT_BUCKET_NAME")?,
            export_queue_url: config::var("EXPORT_QUEUE_URL").ok(),
        })
    }
}

/// The use cases on DynamoDB and S3. Stores the configured policy (an
/// idempotent put) so that every function reads the same terms.
pub async fn services(
    sdk: &aws_config::SdkConfig,
    config: &ServiceConfig,
    clock: Arc<dyn Clock>,
) -> Result<Services, subsidy_core::StoreError> {
    let store = Arc::new(DynamoStore::new(dynamo_client(sdk), &config.table));
    store.put_policy(&config.policy).await?;
    let tree = JurisdictionTree::from_json(crate::data::SHENZHEN_JURISDICTIONS)
        .map_err(|e| subsidy_core::StoreError::Backend(e.to_string()))?;
    Ok(Services {
        policies: store.clone(),
        companies: store.clone(),
        projects: store.clone(),
        applications: store.clone(),
        documents: store.clone(),
        blobs: Arc::new(S3Blobs::new(s3_client(sdk), &config.bucket)),
        exports: Arc::new(S3Blobs::new(s3_client(sdk), &config.exports_bucket)),
        export_queue: Arc::new(SqsExportQueue::new(sqs_client(sdk), config.export_queue_url.clone())),
        prechecks: store.clone(),
        idempotency: store.clone(),
        stats: store.clone(),
        disbursement: store,
        clock,
        tree: Arc::new(tree),
        policy_id: config.policy.id.clone(),
    })
}
