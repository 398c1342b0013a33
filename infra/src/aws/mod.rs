//! The AWS adapters: DynamoDB for every storage port, S3 for documents, SQS
//! for the tier queues; and the one place the SDK clients are built.
//!
//! Local endpoints (the moto emulator in tests) come only from the standard
//! `AWS_ENDPOINT_URL`; S3 then uses path-style addressing.

pub mod anchors;
pub mod dynamo;
pub mod payout;
pub mod roots;
pub mod s3;
pub mod sns;
pub mod sqs;
pub mod stats;

use std::sync::Arc;

use aws_config::BehaviorVersion;
use subsidy_core::Services;
use subsidy_core::StoreError;
use subsidy_core::jurisdiction::JurisdictionTree;
use subsidy_core::policy::Policy;
use subsidy_core::ports::{Clock, PageRequest, PolicyStore};

use crate::config::{self, ConfigError};
use subsidy_core::audit::AuditKey;

pub use dynamo::DynamoStore;
pub use s3::S3Blobs;
pub use sns::{SnsNotifier, sns_client};
pub use sqs::{SqsBatchQueue, SqsDeadLetters, SqsQueues, SqsSmsQueue};

/// The SDK configuration: region, credentials, endpoint, from the
/// environment. Every client shares one HTTPS client: rustls with ring (a
/// smaller binary than aws-lc-rs: docs/BENCHMARKS.md), trusting the roots
/// of one CA bundle ([`roots`]), or the OS store if there is none; built,
/// and the bundle read, when the first request needs a connection.
pub async fn sdk_config() -> aws_config::SdkConfig {
    let https = aws_smithy_runtime_api::client::http::SharedHttpClient::new(ConnectOnFirstUse::new(https_client));
    aws_config::defaults(BehaviorVersion::latest()).http_client(https).load().await
}

/// The HTTPS client every SDK client shares (see [`sdk_config`]).
fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
    let ssl_cert_file = std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from);
    let trust = match roots::bundle(ssl_cert_file.as_deref(), roots::BUNDLES) {
        Some(r) => {
            tracing::debug!(file = %r.file.display(), roots = r.count, skipped = r.skipped, "CA bundle");
            TrustStore::empty().with_pem_certificate(r.pem)
        }
        None => {
            tracing::warn!(?ssl_cert_file, "no usable CA bundle; falling back to the OS certificate store");
            TrustStore::default()
        }
    };
    let context = TlsContext::builder().with_trust_store(trust).build().expect("a TLS context from a trust store");
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .tls_context(context)
        .build_https()
}

/// The SDK's HTTPS client, built on first use. Two things are left out of
/// a cold start this way:
/// - reading and checking the CA bundle (every root base64-decoded and
///   parsed: a third of a function's init, docs/BENCHMARKS.md, "Init
///   time"), done when the first request needs a connector;
/// - the TLS connector the wrapped client builds and drops when each SDK
///   client is built (to load the roots early: once per SDK client, four
///   in most functions); nothing is built until a request needs it, and
///   the wrapped client caches that one.
struct ConnectOnFirstUse<C, F> {
    build: F,
    client: std::sync::OnceLock<C>,
}

impl<C, F: Fn() -> C> ConnectOnFirstUse<C, F> {
    fn new(build: F) -> Self {
        ConnectOnFirstUse { build, client: std::sync::OnceLock::new() }
    }

    fn client(&self) -> &C {
        self.client.get_or_init(&self.build)
    }
}

impl<C: std::fmt::Debug, F> std::fmt::Debug for ConnectOnFirstUse<C, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOnFirstUse").field("client", &self.client.get()).finish()
    }
}

impl<C, F> aws_smithy_runtime_api::client::http::HttpClient for ConnectOnFirstUse<C, F>
where
    C: aws_smithy_runtime_api::client::http::HttpClient,
    F: Fn() -> C + Send + Sync,
{
    fn http_connector(
        &self,
        settings: &aws_smithy_runtime_api::client::http::HttpConnectorSettings,
        components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
    ) -> aws_smithy_runtime_api::client::http::SharedHttpConnector {
        self.client().http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        // Asked per request (the user agent), never while clients are built.
        self.client().connector_metadata()
    }
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

pub fn kms_client(sdk: &aws_config::SdkConfig) -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::new(sdk)
}

/// What the audit chains' key is derived from: a fixed message, MACed by
/// the stack's KMS HMAC key.
const AUDIT_KEY_MESSAGE: &[u8] = b"subsidy audit chains, key v1";

/// The audit chains' MAC key, derived from the KMS HMAC key `key_id` with
/// one `GenerateMac` of a fixed message: the same key in every container,
/// never written anywhere, and obtainable only by a role that KMS lets
/// generate MACs with that key. Whoever can write the table but not use
/// the KMS key cannot forge or recompute an audit chain.
pub async fn audit_key(kms: &aws_sdk_kms::Client, key_id: &str) -> Result<AuditKey, subsidy_core::StoreError> {
    let out = kms
        .generate_mac()
        .key_id(key_id)
        .mac_algorithm(aws_sdk_kms::types::MacAlgorithmSpec::HmacSha256)
        .message(aws_sdk_kms::primitives::Blob::new(AUDIT_KEY_MESSAGE))
        .send()
        .await
        .map_err(|e| subsidy_core::StoreError::Backend(format!("kms: deriving the audit key: {e:?}")))?;
    let mac = out.mac().ok_or_else(|| subsidy_core::StoreError::Backend("kms: GenerateMac gave no MAC".into()))?;
    AuditKey::from_bytes(mac.as_ref()).map_err(|e| subsidy_core::StoreError::Backend(e.to_string()))
}

/// The KMS derivation of [`audit_key`], run once, when a chain first needs
/// the key.
struct KmsAuditKey {
    kms: aws_sdk_kms::Client,
    key_id: String,
}

#[async_trait::async_trait]
impl subsidy_core::audit::AuditKeySource for KmsAuditKey {
    async fn derive(&self) -> Result<AuditKey, subsidy_core::StoreError> {
        audit_key(&self.kms, &self.key_id).await
    }
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
    pub batch_queue_url: Option<String>,
    /// How old a container's view of a staff member may be
    /// ([`STAFF_CACHE_TTL`] in the functions).
    pub staff_cache_ttl: std::time::Duration,
    /// `AUDIT_KEY_ID`: the KMS HMAC key the audit chains' key is derived from.
    pub audit_key_id: String,
    /// `ANCHOR_BUCKET_NAME`: the Object Lock bucket of the audit anchors
    /// (only the function that writes them has it).
    pub anchor_bucket: Option<String>,
}

impl ServiceConfig {
    pub fn from_env() -> Result<ServiceConfig, ConfigError> {
        Ok(ServiceConfig {
            table: config::var("TABLE_NAME")?,
            bucket: config::var("BUCKET_NAME")?,
            policy: config::parsed("POLICY_JSON", Policy::from_json)?,
            exports_bucket: config::var("EXPORT_BUCKET_NAME")?,
            batch_queue_url: config::var("EXPORT_QUEUE_URL").ok(),
            staff_cache_ttl: STAFF_CACHE_TTL,
            audit_key_id: config::var("AUDIT_KEY_ID")?,
            anchor_bucket: config::var("ANCHOR_BUCKET_NAME").ok(),
        })
    }
}

/// How many lines a batch-queue message claims (or settles) on DynamoDB:
/// well inside the consumer's time limit, since DynamoDB takes a
/// district's claims one transaction at a time (a city's district is a
/// handful of steps), and a quarter of it well inside API Gateway's 30 s
/// for the request that creates the batch.
pub const BATCH_STEP: usize = 2_000;

/// How old a function's view of a staff member may be: a revocation
/// reaches every container within this time.
pub const STAFF_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// The use cases on DynamoDB and S3.
///
/// The configured policy is answered from memory (every request reads it,
/// and reading it from the table would cost a read unit each time), and is
/// stored in the table in the background, so that a batch made under it can
/// still be read after the configuration moves on. A cold start waits for
/// no round trip: the audit chains' key ([`audit_key`]) is derived in the
/// background and on first use.
pub async fn services(
    sdk: &aws_config::SdkConfig,
    config: &ServiceConfig,
    clock: Arc<dyn Clock>,
) -> Result<Services, subsidy_core::StoreError> {
    services_on(Clients::from_sdk(sdk), config, clock).await
}

/// The ports on DynamoDB, S3, SQS and KMS, from which a function builds
/// the capabilities it serves (see [`services`]).
pub async fn ports(
    sdk: &aws_config::SdkConfig,
    config: &ServiceConfig,
    clock: Arc<dyn Clock>,
) -> Result<subsidy_core::service::Ports, subsidy_core::StoreError> {
    ports_on(Clients::from_sdk(sdk), config, clock).await
}

/// The SDK clients the use cases talk through.
#[derive(Clone, Debug)]
pub struct Clients {
    pub dynamo: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub kms: aws_sdk_kms::Client,
}

impl Clients {
    pub fn from_sdk(sdk: &aws_config::SdkConfig) -> Clients {
        Clients { dynamo: dynamo_client(sdk), s3: s3_client(sdk), sqs: sqs_client(sdk), kms: kms_client(sdk) }
    }

    /// Clients that run `interceptor` on every request and response (the
    /// cost test counts DynamoDB units, SQS and S3 requests with one; the
    /// least-privilege check records every action each function takes).
    pub fn intercepted(
        sdk: &aws_config::SdkConfig,
        interceptors: &[aws_sdk_dynamodb::config::SharedInterceptor],
    ) -> Clients {
        let path_style = std::env::var("AWS_ENDPOINT_URL").is_ok_and(|v| !v.is_empty());
        let mut dynamo = aws_sdk_dynamodb::config::Builder::from(sdk);
        let mut s3 = aws_sdk_s3::config::Builder::from(sdk).force_path_style(path_style);
        let mut sqs = aws_sdk_sqs::config::Builder::from(sdk);
        let mut kms = aws_sdk_kms::config::Builder::from(sdk);
        for i in interceptors {
            dynamo.push_interceptor(i.clone());
            s3.push_interceptor(i.clone());
            sqs.push_interceptor(i.clone());
            kms.push_interceptor(i.clone());
        }
        Clients {
            dynamo: aws_sdk_dynamodb::Client::from_conf(dynamo.build()),
            s3: aws_sdk_s3::Client::from_conf(s3.build()),
            sqs: aws_sdk_sqs::Client::from_conf(sqs.build()),
            kms: aws_sdk_kms::Client::from_conf(kms.build()),
        }
    }
}

/// [`services`] on the given clients.
pub async fn services_on(
    clients: Clients,
    config: &ServiceConfig,
    clock: Arc<dyn Clock>,
) -> Result<Services, subsidy_core::StoreError> {
    let dynamo = clients.dynamo.clone();
    let mut ports = ports_on(clients, config, clock).await?;
    ports.notices = Arc::new(DynamoStore::new(dynamo.clone(), &config.table));
    ports.eta = Arc::new(DynamoStore::new(dynamo, &config.table));
    Ok(Services::new(ports))
}

/// Notices are kept by the functions that serve them (submission reads and
/// marks them; the nightly job writes the digest; dispatch writes the rest
/// through its own store): [`ports_on`] gives the others none, so their
/// binaries carry none of the notices' storage code (a function's zip
/// stays within 4 MiB: docs/BENCHMARKS.md, "Package sizes").
struct NoNotices;

#[async_trait::async_trait]
impl subsidy_core::notify::NoticeStore for NoNotices {
    async fn put_notices(&self, _: &[subsidy_core::notify::Addressed]) -> Result<usize, StoreError> {
        Err(StoreError::Backend("this function keeps no notices".into()))
    }
    async fn notices(
        &self,
        _: &str,
        _: &PageRequest,
    ) -> Result<subsidy_core::ports::Page<subsidy_core::notify::Notice>, StoreError> {
        Err(StoreError::Backend("this function keeps no notices".into()))
    }
    async fn unread_notices(&self, _: &str) -> Result<u64, StoreError> {
        Err(StoreError::Backend("this function keeps no notices".into()))
    }
    async fn mark_notice_read(
        &self,
        _: &str,
        _: &str,
        _: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<subsidy_core::notify::Notice>, StoreError> {
        Err(StoreError::Backend("this function keeps no notices".into()))
    }
}

/// The notices, read and written: the submission function's. And the
/// steps' usual times (ETA), which it reads for a company's detail view.
pub fn serve_notices(ports: &mut subsidy_core::service::Ports, sdk: &aws_config::SdkConfig, config: &ServiceConfig) {
    ports.notices = Arc::new(DynamoStore::new(dynamo_client(sdk), &config.table));
    ports.eta = Arc::new(DynamoStore::new(dynamo_client(sdk), &config.table));
}

/// The steps' usual times are read by the function that serves a
/// company's detail view (submission: [`serve_notices`]) and written by
/// dispatch through its own store; the others have none, so they carry
/// none of its storage code. A reader without it gets no figure.
struct NoEta;

#[async_trait::async_trait]
impl subsidy_core::eta::EtaStore for NoEta {
    async fn put_eta_samples(&self, _: &[subsidy_core::eta::Sample]) -> Result<(), StoreError> {
        Err(StoreError::Backend("this function keeps no step times".into()))
    }
    async fn eta_histogram(
        &self,
        _: Option<&str>,
        _: subsidy_core::eta::Step,
        _: chrono::NaiveDate,
    ) -> Result<subsidy_core::eta::Histogram, StoreError> {
        Ok(Default::default())
    }
}

/// The notices, written only (the nightly digest): reads answer an error.
pub fn serve_notice_writes(
    ports: &mut subsidy_core::service::Ports,
    sdk: &aws_config::SdkConfig,
    config: &ServiceConfig,
) {
    struct Writes(DynamoStore);
    #[async_trait::async_trait]
    impl subsidy_core::notify::NoticeStore for Writes {
        async fn put_notices(&self, n: &[subsidy_core::notify::Addressed]) -> Result<usize, StoreError> {
            <DynamoStore as subsidy_core::notify::NoticeStore>::put_notices(&self.0, n).await
        }
        async fn notices(
            &self,
            r: &str,
            p: &PageRequest,
        ) -> Result<subsidy_core::ports::Page<subsidy_core::notify::Notice>, StoreError> {
            NoNotices.notices(r, p).await
        }
        async fn unread_notices(&self, r: &str) -> Result<u64, StoreError> {
            NoNotices.unread_notices(r).await
        }
        async fn mark_notice_read(
            &self,
            r: &str,
            id: &str,
            at: chrono::DateTime<chrono::Utc>,
        ) -> Result<Option<subsidy_core::notify::Notice>, StoreError> {
            NoNotices.mark_notice_read(r, id, at).await
        }
    }
    ports.notices = Arc::new(Writes(DynamoStore::new(dynamo_client(sdk), &config.table)));
}

/// [`ports`] on the given clients.
pub async fn ports_on(
    clients: Clients,
    config: &ServiceConfig,
    clock: Arc<dyn Clock>,
) -> Result<subsidy_core::service::Ports, subsidy_core::StoreError> {
    let store = Arc::new(DynamoStore::new(clients.dynamo, &config.table));
    let policies = Arc::new(ConfiguredPolicy { policy: config.policy.clone(), store: store.clone() });
    // Parsed on first use, not in the cold start (its tests parse it).
    let tree = JurisdictionTree::lazy(crate::data::SHENZHEN_JURISDICTIONS);
    // Derived on first use, not in the cold start: the one network round
    // trip init had. The warm-up below starts it.
    let audit_key = subsidy_core::audit::AuditKeyCell::derived(Arc::new(KmsAuditKey {
        kms: clients.kms.clone(),
        key_id: config.audit_key_id.clone(),
    }));
    // Warm-up, beside the cold start: store the configured policy, derive
    // the audit key, and so build the HTTPS client and open the connections
    // the first requests use, while Lambda is still in init. On this
    // machine's two cores that work lengthens init from 3.0 to 5.3 ms
    // (docs/BENCHMARKS.md, "Init time"); it overlaps the network round trips
    // a first request would otherwise wait for, which are far longer.
    let (background, policy, warm) = (store.clone(), config.policy.clone(), audit_key.clone());
    tokio::spawn(async move {
        let (stored, derived) = tokio::join!(background.put_policy(&policy), warm.get());
        if let Err(e) = stored {
            tracing::warn!(error = %e, policy = %policy.id, "storing the configured policy failed; it is served from memory");
        }
        if let Err(e) = derived {
            tracing::warn!(error = %e, "deriving the audit key failed; the first write asks again");
        }
    });
    let anchors: Arc<dyn subsidy_core::audit::anchor::AnchorStore> = match &config.anchor_bucket {
        Some(bucket) => Arc::new(anchors::S3Anchors::new(clients.s3.clone(), bucket)),
        None => Arc::new(subsidy_core::audit::anchor::NoAnchors),
    };
    Ok(subsidy_core::service::Ports {
        audit_key,
        anchors,
        policies,
        companies: store.clone(),
        projects: store.clone(),
        applications: store.clone(),
        documents: store.clone(),
        blobs: Arc::new(S3Blobs::new(clients.s3.clone(), &config.bucket)),
        exports: Arc::new(S3Blobs::new(clients.s3, &config.exports_bucket)),
        batch_queue: Arc::new(SqsBatchQueue::new(clients.sqs, config.batch_queue_url.clone())),
        prechecks: store.clone(),
        idempotency: store.clone(),
        stats: store.clone(),
        payout: store.clone(),
        notices: Arc::new(NoNotices),
        eta: Arc::new(NoEta),
        views: store.clone(),
        staff: store.clone(),
        staff_authority: Arc::new(crate::cache::CachedStaff::new(store, config.staff_cache_ttl)),
        clock,
        tree: Arc::new(tree),
        policy_id: config.policy.id.clone(),
        batch_step: Arc::new(BATCH_STEP.into()),
    })
}

/// The configured policy from memory; any other policy from the table.
struct ConfiguredPolicy {
    policy: Policy,
    store: Arc<DynamoStore>,
}

#[async_trait::async_trait]
impl PolicyStore for ConfiguredPolicy {
    async fn get_policy(&self, id: &str) -> subsidy_core::ports::StoreResult<Option<Policy>> {
        if id == self.policy.id {
            return Ok(Some(self.policy.clone()));
        }
        self.store.get_policy(id).await
    }

    async fn put_policy(&self, policy: &Policy) -> subsidy_core::ports::StoreResult<()> {
        self.store.put_policy(policy).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use aws_smithy_runtime_api::box_error::BoxError;
    use aws_smithy_runtime_api::client::http::{
        HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
    };
    use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::client::runtime_components::{RuntimeComponents, RuntimeComponentsBuilder};
    use aws_smithy_types::config_bag::ConfigBag;

    use super::ConnectOnFirstUse;

    /// An HTTP client that counts what the SDK asks of it; its connector
    /// fails every request.
    #[derive(Debug, Default, Clone)]
    struct Counting {
        validations: Arc<AtomicUsize>,
        connectors: Arc<AtomicUsize>,
    }

    #[derive(Debug)]
    struct Refuse;

    impl HttpConnector for Refuse {
        fn call(&self, _: HttpRequest) -> HttpConnectorFuture {
            HttpConnectorFuture::ready(Err(ConnectorError::other("no network in this test".into(), None)))
        }
    }

    impl HttpClient for Counting {
        fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
            self.connectors.fetch_add(1, Ordering::SeqCst);
            SharedHttpConnector::new(Refuse)
        }

        fn validate_base_client_config(&self, _: &RuntimeComponentsBuilder, _: &ConfigBag) -> Result<(), BoxError> {
            self.validations.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    fn sqs(http: SharedHttpClient) -> aws_sdk_sqs::Client {
        let conf = aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .region(aws_sdk_sqs::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new("a", "b", None, None, "test"))
            .http_client(http)
            .build();
        aws_sdk_sqs::Client::from_conf(conf)
    }

    #[tokio::test]
    async fn building_clients_builds_no_connector_and_the_first_request_builds_one() {
        // The SDK validates a client's HTTP client when the client is built;
        // the plain HTTPS client builds (and drops) a TLS connector there.
        let bare = Counting::default();
        let _ = sqs(SharedHttpClient::new(bare.clone()));
        assert_eq!(bare.validations.load(Ordering::SeqCst), 1, "the SDK asks at construction");

        let inner = Counting::default();
        let built = Arc::new(AtomicUsize::new(0));
        let (count, of) = (built.clone(), inner.clone());
        let http = SharedHttpClient::new(ConnectOnFirstUse::new(move || {
            count.fetch_add(1, Ordering::SeqCst);
            of.clone()
        }));
        let clients: Vec<_> = (0..4).map(|_| sqs(http.clone())).collect();
        assert_eq!(
            built.load(Ordering::SeqCst),
            0,
            "the HTTPS client (and its CA bundle) is not built with the clients"
        );
        assert_eq!(inner.validations.load(Ordering::SeqCst), 0, "no connector work while clients are built");
        assert_eq!(inner.connectors.load(Ordering::SeqCst), 0);

        let sent = clients[0].list_queues().send().await;
        assert!(sent.is_err(), "the test connector refuses every request");
        assert!(inner.connectors.load(Ordering::SeqCst) >= 1, "a request asks for a connector");
        let _ = clients[1].list_queues().send().await;
        assert_eq!(built.load(Ordering::SeqCst), 1, "built once, shared by every client");
    }
}
