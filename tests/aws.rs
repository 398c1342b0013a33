//! The AWS side of the test helper: the same routers wired to the DynamoDB,
//! S3 and SQS adapters against the moto emulator (`AWS_ENDPOINT_URL`).
//!
//! Resources are created from the definitions in `template.yaml`, with a
//! unique prefix per test, so the tests and the template cannot drift. What
//! Lambda's event-source mappings do in the cloud, [`AwsStack::pump`] does
//! here: it reads the table's stream, new objects and the tier queues, turns
//! them into the JSON Lambda delivers, and feeds the real consumers.
//!
//! One thing SQS does by its own clock the pump does by the test's: an SMS
//! job that waits (quiet hours, a retry's backoff) is kept by
//! [`SmsLater`] and put back on the SMS queue when the test clock reaches
//! its time. The SQS side of waiting (a delay, a visibility) has its own
//! test against the emulator, on seconds.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use subsidy_api::lambda::Failures;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, StreamSpecification, StreamViewType,
};
use serde_json::{Value, json};
use subsidy_core::Services;
use subsidy_core::identity::Tier;
use subsidy_core::notify::sms::{Notifier, SmsJob, SmsMessage, SmsRedelivery, SmsSender};
use subsidy_core::policy::Policy;
use subsidy_core::ports::Clock;
use subsidy_infra::aws::{self, Clients, DynamoStore, ServiceConfig, SqsQueues};
use subsidy_infra::jwt::Hs256;

use crate::metering::{Meter, as_function};
use tokio::sync::Mutex;

/// The whole template, as JSON (CloudFormation tags become `{"!Tag": v}`).
pub fn template() -> Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).expect("template.yaml");
    let yaml: serde_norway::Value = serde_norway::from_str(&text).expect("valid YAML");
    untag(yaml)
}

/// The stream filter of a function's `TableStream` mapping, as Lambda
/// applies it before invoking: the emulator has no event-source mappings,
/// so the harness filters each record the way the template says (the
/// subset of Lambda's filter syntax the template uses: exact strings and
/// `{"prefix": …}`, any of a list; every key of a pattern must match).
pub fn stream_filter(function: &str) -> impl Fn(&Value) -> bool + use<> {
    let t = template();
    let filters =
        t["Resources"][function]["Properties"]["Events"]["TableStream"]["Properties"]["FilterCriteria"]["Filters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
    let patterns: Vec<Value> = filters
        .iter()
        .map(|f| serde_json::from_str(f["Pattern"].as_str().expect("a pattern string")).expect("a JSON pattern"))
        .collect();
    move |record: &Value| patterns.is_empty() || patterns.iter().any(|p| filter_matches(p, record))
}

fn filter_matches(pattern: &Value, value: &Value) -> bool {
    match pattern {
        Value::Object(keys) => keys.iter().all(|(k, p)| filter_matches(p, &value[k])),
        Value::Array(any) => any.iter().any(|p| match p {
            Value::Object(rule) => match (rule.get("prefix").and_then(Value::as_str), value.as_str()) {
                (Some(prefix), Some(v)) => v.starts_with(prefix),
                (None, _) => panic!("a filter rule the harness does not know: {p}"),
                _ => false,
            },
            exact => exact == value,
        }),
        other => panic!("a filter pattern the harness does not know: {other}"),
    }
}

/// The template's resources, as JSON.
pub fn template_resources() -> Value {
    template()["Resources"].clone()
}

fn untag(v: serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(n.as_f64()).unwrap(),
        Y::String(s) => Value::String(s),
        Y::Sequence(seq) => Value::Array(seq.into_iter().map(untag).collect()),
        Y::Mapping(m) => {
            Value::Object(m.into_iter().map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), untag(v))).collect())
        }
        Y::Tagged(t) => json!({ t.tag.to_string(): untag(t.value) }),
    }
}

fn key_schema(v: &Value) -> Vec<KeySchemaElement> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(k["AttributeName"].as_str().unwrap())
                .key_type(KeyType::from(k["KeyType"].as_str().unwrap()))
                .build()
                .unwrap()
        })
        .collect()
}

/// Names of the emulator resources one test uses.
pub struct Resources {
    pub table: String,
    /// The KMS HMAC key the audit chains' key is derived from.
    pub audit_key_id: String,
    /// The document bucket.
    pub bucket: String,
    pub exports_bucket: String,
    /// The audit anchors' Object Lock bucket.
    pub anchor_bucket: String,
    /// Logical id in the template → queue URL.
    pub queues: HashMap<String, String>,
    pub stream_arn: String,
}

/// Creates the table, queues and bucket of `template.yaml` under `prefix`.
pub async fn create_resources(sdk: &aws_config::SdkConfig, prefix: &str) -> Resources {
    let r = template_resources();
    let t = &r["Table"]["Properties"];
    let ddb = aws::dynamo_client(sdk);
    let table = format!("{prefix}-table");
    let mut create = ddb
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::from(t["BillingMode"].as_str().unwrap()))
        .set_key_schema(Some(key_schema(&t["KeySchema"])))
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(t["StreamSpecification"]["StreamViewType"].as_str().unwrap()))
                .build()
                .unwrap(),
        );
    for a in t["AttributeDefinitions"].as_array().unwrap() {
        create = create.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(a["AttributeName"].as_str().unwrap())
                .attribute_type(ScalarAttributeType::from(a["AttributeType"].as_str().unwrap()))
                .build()
                .unwrap(),
        );
    }
    for g in t["GlobalSecondaryIndexes"].as_array().unwrap() {
        create = create.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(g["IndexName"].as_str().unwrap())
                .set_key_schema(Some(key_schema(&g["KeySchema"])))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(g["Projection"]["ProjectionType"].as_str().unwrap()))
                        .build(),
                )
                .build()
                .unwrap(),
        );
    }
    let out = create.send().await.expect("table created in the emulator");
    let stream_arn = out.table_description.and_then(|d| d.latest_stream_arn).expect("the table has a stream");

    let sqs = aws::sqs_client(sdk);
    let mut queues = HashMap::new();
    let mut arns = HashMap::new();
    let defs = r.as_object().unwrap();
    // Dead-letter queues first, so redrive policies can name them.
    let mut order: Vec<(&String, &Value)> = defs.iter().filter(|(_, v)| v["Type"] == "AWS::SQS::Queue").collect();
    order.sort_by_key(|(_, v)| v["Properties"]["RedrivePolicy"].is_object());
    for (logical, def) in order {
        let name = format!("{prefix}-{logical}");
        let mut req = sqs.create_queue().queue_name(&name);
        if let Some(v) = def["Properties"]["VisibilityTimeout"].as_f64() {
            req = req.attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, (v as u64).to_string());
        }
        if let Some(rp) = def["Properties"]["RedrivePolicy"].as_object() {
            let target = rp["deadLetterTargetArn"]["!GetAtt"].as_str().unwrap().trim_end_matches(".Arn");
            let policy = json!({"deadLetterTargetArn": arns[target], "maxReceiveCount": rp["maxReceiveCount"].as_f64().unwrap() as u64});
            req = req.attributes(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy, policy.to_string());
        }
        let url = req.send().await.expect("queue created").queue_url.unwrap();
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
            .clone();
        arns.insert(logical.clone(), arn);
        queues.insert(logical.clone(), url);
    }

    let mut buckets = HashMap::new();
    for (logical, def) in defs.iter().filter(|(_, v)| v["Type"] == "AWS::S3::Bucket") {
        let name = format!("{prefix}-{logical}").to_lowercase();
        let s3 = aws::s3_client(sdk);
        let lock = &def["Properties"]["ObjectLockConfiguration"];
        s3.create_bucket()
            .bucket(&name)
            .object_lock_enabled_for_bucket(def["Properties"]["ObjectLockEnabled"] == true)
            .send()
            .await
            .expect("bucket created");
        // Object Lock's default retention as the template sets it (the
        // retention in days is a parameter; one day here).
        if lock["ObjectLockEnabled"] == "Enabled" {
            use aws_sdk_s3::types::{
                DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRetentionMode, ObjectLockRule,
            };
            let retention = DefaultRetention::builder()
                .mode(ObjectLockRetentionMode::from(lock["Rule"]["DefaultRetention"]["Mode"].as_str().unwrap()))
                .days(1)
                .build();
            let config = ObjectLockConfiguration::builder()
                .object_lock_enabled(ObjectLockEnabled::Enabled)
                .rule(ObjectLockRule::builder().default_retention(retention).build())
                .build();
            s3.put_object_lock_configuration()
                .bucket(&name)
                .object_lock_configuration(config)
                .send()
                .await
                .expect("object lock configured");
        }
        // Versioned as the template says (documents are served by version).
        if def["Properties"]["VersioningConfiguration"]["Status"] == "Enabled" {
            let on = aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build();
            s3.put_bucket_versioning().bucket(&name).versioning_configuration(on).send().await.expect("versioning");
        }
        buckets.insert(logical.clone(), name);
    }
    // The audit chains' KMS HMAC key, as the template makes it.
    let key = &defs["AuditKey"]["Properties"];
    let audit_key_id = aws::kms_client(sdk)
        .create_key()
        .key_spec(aws_sdk_kms::types::KeySpec::from(key["KeySpec"].as_str().unwrap()))
        .key_usage(aws_sdk_kms::types::KeyUsageType::from(key["KeyUsage"].as_str().unwrap()))
        .send()
        .await
        .expect("KMS key created")
        .key_metadata()
        .expect("key metadata")
        .arn()
        .expect("key arn")
        .to_string();
    Resources {
        table,
        audit_key_id,
        bucket: buckets["DocumentBucket"].clone(),
        exports_bucket: buckets["ExportsBucket"].clone(),
        anchor_bucket: buckets["AnchorBucket"].clone(),
        queues,
        stream_arn,
    }
}

/// A unique, lowercase resource prefix.
pub fn unique_prefix() -> String {
    format!("t{}", ulid_like()).to_lowercase()
}

fn ulid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("{:x}{:x}{}", chrono::Utc::now().timestamp_micros(), std::process::id(), N.fetch_add(1, Ordering::SeqCst))
}

/// The routers on the AWS adapters, plus what the event-source mappings
/// would do.
pub struct AwsStack {
    pub sdk: aws_config::SdkConfig,
    pub resources: Resources,
    pub store: DynamoStore,
    /// The table as the dispatch function writes audit entries out to it
    /// (through the recording clients, unlike `store`).
    pub audit_out: DynamoStore,
    pub services: Arc<Services>,
    /// The consumers, each built as its function builds it.
    submission: subsidy_api::lambda::Consumers,
    payout: disbursement::App,
    /// Each SQS consumer's dead-letter queue, by its source queue's logical id.
    pub dead_letters: HashMap<&'static str, aws::SqsDeadLetters>,
    /// Every request the functions made, by function: written out for the
    /// least-privilege check when the stack goes.
    recorder: Meter,
    pub queues: SqsQueues,
    /// What the functions and the event-source mappings talk through
    /// (metered in the cost test); the test's own looks use `sdk`.
    pub clients: Clients,
    pub addr: std::net::SocketAddr,
    pump: Mutex<PumpState>,
    shutdown: tokio::sync::watch::Sender<bool>,
    /// Every event handed to its consumer twice (the duplicate-delivery suite).
    twice: std::sync::atomic::AtomicBool,
    /// Where the stream's consumer queues SMS jobs (the SMS queue).
    pub sms_jobs: aws::SqsSmsQueue,
    /// The SMS queue's consumer, as the dispatch function builds it (its
    /// waiting jobs kept by `sms_later`).
    pub sms: dispatch::SmsConsumer,
    pub sms_later: Arc<SmsLater>,
    /// The deployment's policy (`POLICY_JSON`).
    pub policy: Policy,
}

/// SMS jobs waiting on the test clock: what SQS's delays and visibility
/// do for the dispatch function in the cloud.
pub struct SmsLater {
    clock: Arc<dyn Clock>,
    /// The test's own client (not the function's): putting a job back is
    /// the queue's doing.
    sqs: aws_sdk_sqs::Client,
    url: String,
    waiting: std::sync::Mutex<Vec<(chrono::DateTime<chrono::Utc>, SmsJob)>>,
}

impl SmsLater {
    /// Puts the jobs whose time has come back on the queue; how many.
    async fn release_due(&self) -> u64 {
        let now = self.clock.now();
        let due: Vec<SmsJob> = {
            let mut waiting = self.waiting.lock().unwrap();
            let (due, rest): (Vec<_>, Vec<_>) = waiting.drain(..).partition(|(at, _)| *at <= now);
            *waiting = rest;
            due.into_iter().map(|(_, job)| job).collect()
        };
        for job in &due {
            let body = serde_json::to_string(job).unwrap();
            self.sqs.send_message().queue_url(&self.url).message_body(body).send().await.expect("SMS job put back");
        }
        due.len() as u64
    }

    /// How many jobs wait.
    pub fn waiting(&self) -> usize {
        self.waiting.lock().unwrap().len()
    }
}

#[async_trait::async_trait]
impl SmsRedelivery for SmsLater {
    async fn resend(&self, job: &SmsJob, at: chrono::DateTime<chrono::Utc>) -> subsidy_core::ports::StoreResult<()> {
        self.waiting.lock().unwrap().push((at, job.clone()));
        Ok(())
    }

    async fn hold(
        &self,
        job: &SmsJob,
        receipt: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> subsidy_core::ports::StoreResult<()> {
        // Out of sight until `at`: gone from the queue now, back then.
        // (A second delivery of the same message finds it gone already.)
        let _ = self.sqs.delete_message().queue_url(&self.url).receipt_handle(receipt).send().await;
        self.waiting.lock().unwrap().push((at, job.clone()));
        Ok(())
    }
}

/// The SMS the stack's sender sends: to the test's recording gateway
/// (which may fail a send), then through SNS on the emulator, as the
/// dispatch function sends with `SMS_NOTIFIER=sns` (so the role's grant is
/// exercised).
struct RecordedSns {
    gateway: Option<Arc<dyn Notifier>>,
    sns: aws::SnsNotifier,
}

#[async_trait::async_trait]
impl Notifier for RecordedSns {
    async fn send(&self, message: &SmsMessage) -> Result<(), String> {
        if let Some(g) = &self.gateway {
            g.send(message).await?;
        }
        self.sns.send(message).await
    }
}

#[derive(Default)]
struct PumpState {
    /// Shard id → the next iterator to read from.
    iterators: HashMap<String, String>,
    seen_objects: HashSet<String>,
}

/// The records of every shard of a table's stream since `iterators` left
/// off (from its start the first time), one Lambda event per shard.
pub async fn read_stream(
    sdk: &aws_config::SdkConfig,
    arn: &str,
    iterators: &mut HashMap<String, String>,
) -> Vec<Value> {
    let streams = aws_sdk_dynamodbstreams::Client::new(sdk);
    let shards = streams
        .describe_stream()
        .stream_arn(arn)
        .send()
        .await
        .unwrap()
        .stream_description
        .unwrap()
        .shards
        .unwrap_or_default();
    let mut batches = Vec::new();
    for shard in shards {
        let id = shard.shard_id.unwrap();
        let iterator = match iterators.get(&id) {
            Some(i) => i.clone(),
            None => streams
                .get_shard_iterator()
                .stream_arn(arn)
                .shard_id(&id)
                .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
                .send()
                .await
                .unwrap()
                .shard_iterator
                .unwrap(),
        };
        let out = streams.get_records().shard_iterator(&iterator).send().await.unwrap();
        let records: Vec<Value> = out.records().iter().map(|r| lambda_json::stream_record(r, arn)).collect();
        if let Some(next) = out.next_shard_iterator {
            iterators.insert(id, next);
        }
        if !records.is_empty() {
            batches.push(json!({ "Records": records }));
        }
    }
    batches
}

/// Stream records and queue messages in the JSON shapes Lambda delivers.
pub mod lambda_json {
    use aws_sdk_dynamodbstreams::types::{AttributeValue, Record};
    use serde_json::{Map, Value, json};

    pub fn attribute(v: &AttributeValue) -> Value {
        match v {
            AttributeValue::S(s) => json!({"S": s}),
            AttributeValue::N(n) => json!({"N": n}),
            AttributeValue::Bool(b) => json!({"BOOL": b}),
            AttributeValue::Null(_) => json!({"NULL": true}),
            AttributeValue::M(m) => json!({"M": item(m)}),
            AttributeValue::L(l) => json!({"L": l.iter().map(attribute).collect::<Vec<_>>()}),
            AttributeValue::Ss(v) => json!({"SS": v}),
            AttributeValue::Ns(v) => json!({"NS": v}),
            // Lambda delivers binary attributes in base64, as the wire does.
            AttributeValue::B(b) => {
                use base64::Engine;
                json!({"B": base64::engine::general_purpose::STANDARD.encode(b.as_ref())})
            }
            other => panic!("attribute type not used by this table: {other:?}"),
        }
    }

    pub fn item(m: &std::collections::HashMap<String, AttributeValue>) -> Value {
        Value::Object(m.iter().map(|(k, v)| (k.clone(), attribute(v))).collect::<Map<_, _>>())
    }

    /// One DynamoDB stream record as a Lambda event record.
    pub fn stream_record(r: &Record, stream_arn: &str) -> Value {
        let d = r.dynamodb.as_ref().expect("a stream record has a body");
        let mut body = json!({
            "ApproximateCreationDateTime": d.approximate_creation_date_time.map(|t| t.secs()).unwrap_or(0),
            "Keys": item(d.keys.as_ref().expect("keys")),
            "SequenceNumber": d.sequence_number.clone().unwrap_or_default(),
            "SizeBytes": d.size_bytes.unwrap_or(0),
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        });
        if let Some(n) = &d.new_image {
            body["NewImage"] = item(n);
        }
        if let Some(o) = &d.old_image {
            body["OldImage"] = item(o);
        }
        json!({
            "eventID": r.event_id.clone().unwrap_or_default(),
            "eventName": r.event_name.as_ref().map(|n| n.as_str().to_string()).unwrap_or_default(),
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": body,
            "eventSourceARN": stream_arn,
        })
    }

    /// One SQS message as a Lambda event record.
    pub fn sqs_record(m: &aws_sdk_sqs::types::Message, queue_arn: &str) -> Value {
        json!({
            "messageId": m.message_id.clone().unwrap_or_default(),
            "receiptHandle": m.receipt_handle.clone().unwrap_or_default(),
            "body": m.body.clone().unwrap_or_default(),
            "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0", "SenderId": "test", "ApproximateFirstReceiveTimestamp": "0"},
            "messageAttributes": {},
            "md5OfBody": m.md5_of_body.clone().unwrap_or_default(),
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": "us-east-1",
        })
    }

    /// EventBridge's "Object Created" event for an upload.
    pub fn object_created(bucket: &str, key: &str, size: i64) -> Value {
        json!({
            "version": "0", "id": "test", "detail-type": "Object Created", "source": "aws.s3",
            "account": "000000000000", "time": "2026-11-27T00:00:00Z", "region": "us-east-1", "resources": [],
            "detail": {"version": "0", "bucket": {"name": bucket}, "object": {"key": key, "size": size}, "reason": "PutObject"}
        })
    }
}

/// The functions (logical ids in template.yaml) that serve the use cases:
/// each builds the ports at its cold start and derives the audit key from
/// KMS.
/// Dispatch, which only forwards the stream to the queues, is not one.
pub const SERVING_FUNCTIONS: [&str; 6] = [
    "SubmissionFunction",
    "ReviewCommunityFunction",
    "ReviewSubdistrictFunction",
    "ReviewDistrictFunction",
    "AggregationFunction",
    "DisbursementFunction",
];

/// The review function deployed for `tier`.
pub fn review_function(tier: Tier) -> &'static str {
    match tier {
        Tier::Community => "ReviewCommunityFunction",
        Tier::Subdistrict => "ReviewSubdistrictFunction",
        Tier::District => "ReviewDistrictFunction",
    }
}

fn tier_queue(tier: Tier) -> &'static str {
    match tier {
        Tier::Community => "CommunityQueue",
        Tier::Subdistrict => "SubdistrictQueue",
        Tier::District => "DistrictQueue",
    }
}

/// What one pump pass delivered.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pumped {
    pub objects: u64,
    pub stream_records: u64,
    pub messages: u64,
    pub failures: u64,
    /// Consumer function invocations: one per object event, per queue
    /// batch, and two per stream batch (dispatch and aggregation).
    pub invocations: u64,
}

impl Pumped {
    pub fn total(&self) -> u64 {
        self.objects + self.stream_records + self.messages
    }
}

impl AwsStack {
    /// Creates the resources, seeds the demo data through the use cases, and
    /// serves the routers (with the dev login standing in for API Gateway's
    /// authorizer) on a random loopback port.
    pub async fn start(clock: Arc<dyn Clock>, keys: Arc<Hs256>) -> AwsStack {
        AwsStack::start_with(clock, keys, None).await
    }

    /// [`Self::start`], with the functions' requests going through
    /// `interceptor` once the demo data is seeded.
    pub async fn start_with(
        clock: Arc<dyn Clock>,
        keys: Arc<Hs256>,
        interceptor: Option<aws_sdk_dynamodb::config::SharedInterceptor>,
    ) -> AwsStack {
        AwsStack::start_behind(clock, keys, interceptor, None, None, None).await
    }

    /// [`Self::start_with`]; with `oidc`, the routers stand behind that
    /// issuer's tokens (as behind API Gateway's JWT authorizer), with no
    /// dev login.
    ///
    /// SMS go through SNS on the emulator and, with `sms_gateway`, to it
    /// first (the test's recording double).
    ///
    /// The policy is `policy_json` (the built-in Shenzhen policy if None),
    /// its window moved to open an hour ago, as `serve --demo` does.
    pub async fn start_behind(
        clock: Arc<dyn Clock>,
        keys: Arc<Hs256>,
        interceptor: Option<aws_sdk_dynamodb::config::SharedInterceptor>,
        oidc: Option<Arc<subsidy_infra::oidc::OidcVerifier>>,
        sms_gateway: Option<Arc<dyn Notifier>>,
        policy_json: Option<&str>,
    ) -> AwsStack {
        std::env::var("AWS_ENDPOINT_URL").expect("the AWS emulator: run through scripts/with-moto.sh (make test does)");
        let sdk = aws::sdk_config().await;
        let resources = create_resources(&sdk, &unique_prefix()).await;
        let file = Policy::from_json(policy_json.unwrap_or(subsidy_infra::data::SHENZHEN_POLICY)).unwrap();
        let policy = Policy {
            id: format!("{}-demo", file.id),
            ..file.shifted_to_open_at(clock.now() - chrono::Duration::hours(1))
        };
        let config = ServiceConfig {
            table: resources.table.clone(),
            bucket: resources.bucket.clone(),
            policy,
            exports_bucket: resources.exports_bucket.clone(),
            batch_queue_url: Some(resources.queues["ExportQueue"].clone()),
            // The suites revoke and expect the next request refused, as
            // standalone does; the cache's at-most-60-s promise is
            // infra::cache's own test (docs/RELIABILITY.md).
            staff_cache_ttl: std::time::Duration::ZERO,
            audit_key_id: resources.audit_key_id.clone(),
            anchor_bucket: Some(resources.anchor_bucket.clone()),
        };
        let seeding = Arc::new(aws::services(&sdk, &config, clock.clone()).await.expect("services on the emulator"));
        subsidy_standalone::demo::seed(&seeding).await.expect("demo data");
        // Every stack records what each function does, for the
        // least-privilege check (crate::least_privilege).
        let recorder = Meter::default();
        let mut interceptors = vec![aws_sdk_dynamodb::config::SharedInterceptor::new(recorder.clone())];
        interceptors.extend(interceptor);
        let clients = Clients::intercepted(&sdk, &interceptors);
        // Each function's start, as its main.rs does it, with the audit
        // key's MAC from KMS that each container derives (in the background
        // from init on), recorded against its own role; the stack then
        // serves every function from one set of ports.
        for function in SERVING_FUNCTIONS {
            as_function(function, async {
                let ports = aws::ports_on(clients.clone(), &config, clock.clone()).await.expect("a cold start");
                ports.audit_key.get().await.expect("the audit key from KMS");
            })
            .await;
        }
        let services = Arc::new(
            aws::services_on(clients.clone(), &config, clock.clone()).await.expect("services on the emulator"),
        );
        let mut sns = aws_sdk_sns::config::Builder::from(&sdk);
        for i in &interceptors {
            sns.push_interceptor(i.clone());
        }
        let sns = aws::SnsNotifier::new(aws_sdk_sns::Client::from_conf(sns.build()));
        let sms_jobs = aws::SqsSmsQueue::new(clients.sqs.clone(), &resources.queues["SmsQueue"], clock.clone());
        let sms_later = Arc::new(SmsLater {
            clock: clock.clone(),
            sqs: aws::sqs_client(&sdk),
            url: resources.queues["SmsQueue"].clone(),
            waiting: Default::default(),
        });
        let audit_out = DynamoStore::new(clients.dynamo.clone(), &resources.table);
        let sms = dispatch::SmsConsumer {
            sender: SmsSender {
                settings: Arc::new(config.policy.sms.clone()),
                clock,
                companies: Arc::new(audit_out.clone()),
                ledger: Arc::new(audit_out.clone()),
                notifier: Arc::new(RecordedSns { gateway: sms_gateway, sns }),
            },
            queue: sms_later.clone(),
            dead: Arc::new(aws::SqsDeadLetters::new(clients.sqs.clone(), &resources.queues["SmsDeadLetterQueue"])),
        };
        let queues = SqsQueues::new(
            clients.sqs.clone(),
            HashMap::from([
                (Tier::Community, resources.queues["CommunityQueue"].clone()),
                (Tier::Subdistrict, resources.queues["SubdistrictQueue"].clone()),
                (Tier::District, resources.queues["DistrictQueue"].clone()),
            ]),
        );
        let health = axum::Router::new()
            .route("/api/v1/health", axum::routing::get(|| async { axum::Json(json!({"status": "ok"})) }));
        let app = match oidc {
            Some(oidc) => subsidy_standalone::api_router_oidc(services.clone(), oidc, keys, health),
            None => subsidy_standalone::api_router(services.clone(), keys, health),
        }
        .layer(axum::middleware::from_fn(as_the_function_serving_it));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (shutdown, mut rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.changed().await;
                })
                .await
        });
        let dead_letters = [
            ("CommunityQueue", "CommunityDeadLetterQueue"),
            ("SubdistrictQueue", "SubdistrictDeadLetterQueue"),
            ("DistrictQueue", "DistrictDeadLetterQueue"),
            ("ExportQueue", "ExportDeadLetterQueue"),
            ("SmsQueue", "SmsDeadLetterQueue"),
        ]
        .into_iter()
        .map(|(queue, dlq)| (queue, aws::SqsDeadLetters::new(clients.sqs.clone(), &resources.queues[dlq])))
        .collect();
        AwsStack {
            store: DynamoStore::new(aws::dynamo_client(&sdk), &resources.table),
            audit_out,
            sdk,
            resources,
            submission: submission::consumers(Arc::new(submission::App::new(&services.ports))),
            payout: disbursement::App::new(&services.ports),
            dead_letters,
            recorder,
            services,
            queues,
            clients,
            addr,
            pump: Mutex::new(PumpState::default()),
            shutdown,
            twice: Default::default(),
            sms_jobs,
            sms,
            sms_later,
            policy: config.policy.clone(),
        }
    }

    /// From now on, every object event, stream batch and queue batch goes
    /// to its consumer twice (and a queue batch is deleted only after both).
    pub fn deliver_everything_twice(&self, on: bool) {
        self.twice.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    fn times(&self) -> usize {
        if self.twice.load(std::sync::atomic::Ordering::Relaxed) { 2 } else { 1 }
    }

    pub fn stop(&self) {
        let _ = self.shutdown.send(true);
    }

    /// Reads every stream record written since the last read, in order, as
    /// Lambda event batches (one per shard read).
    pub async fn stream_batches(&self) -> Vec<Value> {
        let mut state = self.pump.lock().await;
        read_stream(&self.sdk, &self.resources.stream_arn, &mut state.iterators).await
    }

    /// One SQS receive from a tier queue, as a Lambda event (or None).
    pub async fn receive(&self, tier: Tier) -> Option<(Value, Vec<(String, String)>)> {
        self.receive_from(tier_queue(tier)).await
    }

    /// One SQS receive from a queue of the template, as a Lambda event.
    pub async fn receive_from(&self, logical: &str) -> Option<(Value, Vec<(String, String)>)> {
        let url = &self.resources.queues[logical];
        let sqs = &self.clients.sqs;
        let out =
            sqs.receive_message().queue_url(url).max_number_of_messages(10).wait_time_seconds(0).send().await.unwrap();
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return None;
        }
        let arn = format!("arn:aws:sqs:us-east-1:000000000000:{logical}");
        let records: Vec<Value> = messages.iter().map(|m| lambda_json::sqs_record(m, &arn)).collect();
        let handles = messages
            .iter()
            .map(|m| (m.message_id.clone().unwrap_or_default(), m.receipt_handle.clone().unwrap_or_default()))
            .collect();
        Some((json!({ "Records": records }), handles))
    }

    /// How many messages a queue of the template holds (visible ones).
    pub async fn queue_depth(&self, logical: &str) -> u64 {
        let out = aws::sqs_client(&self.sdk)
            .get_queue_attributes()
            .queue_url(&self.resources.queues[logical])
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .expect("queue attributes");
        out.attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// Deletes received messages, as the event-source mapping does for the
    /// ones a batch did not report as failed.
    pub async fn delete(&self, tier: Tier, receipts: &[String]) {
        self.delete_from(tier_queue(tier), receipts).await
    }

    pub async fn delete_from(&self, logical: &str, receipts: &[String]) {
        let sqs = &self.clients.sqs;
        for r in receipts {
            sqs.delete_message().queue_url(&self.resources.queues[logical]).receipt_handle(r).send().await.unwrap();
        }
    }

    /// Objects uploaded since the last look, as EventBridge events.
    pub async fn new_object_events(&self) -> Vec<Value> {
        let s3 = aws::s3_client(&self.sdk);
        let out = s3.list_objects_v2().bucket(&self.resources.bucket).send().await.unwrap();
        let mut state = self.pump.lock().await;
        let mut events = Vec::new();
        for o in out.contents() {
            let key = o.key().unwrap_or_default().to_string();
            if state.seen_objects.insert(key.clone()) {
                events.push(lambda_json::object_created(&self.resources.bucket, &key, o.size().unwrap_or(0)));
            }
        }
        events
    }

    /// One pass of everything the event-source mappings would deliver:
    /// uploads to the submission consumer, stream batches to dispatch, tier
    /// queue batches to review. Repeats until nothing is left.
    pub async fn pump(&self) -> Pumped {
        let mut total = Pumped::default();
        for _ in 0..50 {
            let mut pass = Pumped::default();
            for event in self.new_object_events().await {
                for _ in 1..self.times() {
                    as_function("SubmissionFunction", self.submission.consume(event.clone()))
                        .await
                        .expect("document consumer");
                }
                as_function("SubmissionFunction", self.submission.consume(event)).await.expect("document consumer");
                pass.objects += 1;
                pass.invocations += 1;
            }
            let (to_dispatch, to_aggregation) =
                (stream_filter("DispatchFunction"), stream_filter("AggregationFunction"));
            for batch in self.stream_batches().await {
                let records = batch["Records"].as_array().unwrap();
                pass.stream_records += records.len() as u64;
                // Two event-source mappings read the stream: dispatch and
                // aggregation, each through its filter.
                let dispatched: Vec<&Value> = records.iter().filter(|r| to_dispatch(r)).collect();
                let counted: Vec<&Value> = records.iter().filter(|r| to_aggregation(r)).collect();
                pass.invocations += u64::from(!dispatched.is_empty()) + u64::from(!counted.is_empty());
                for _ in 0..self.times() {
                    if !dispatched.is_empty() {
                        let event =
                            serde_json::from_value(json!({ "Records": dispatched })).expect("a Lambda DynamoDB event");
                        let sms = dispatch::Derived { policy: &self.policy, sms: &self.sms_jobs };
                        let response = as_function(
                            "DispatchFunction",
                            dispatch::handle_stream(&self.queues, &self.audit_out, sms, event),
                        )
                        .await;
                        pass.failures += response.batch_item_failures.len() as u64;
                    }
                    if !counted.is_empty() {
                        let event =
                            serde_json::from_value(json!({ "Records": counted })).expect("a Lambda DynamoDB event");
                        let response =
                            as_function("AggregationFunction", aggregation::handle_stream(&self.services.stats, event))
                                .await;
                        pass.failures += response.batch_item_failures.len() as u64;
                    }
                }
            }
            for tier in Tier::ALL {
                while let Some((event, handles)) = self.receive(tier).await {
                    pass.messages += handles.len() as u64;
                    pass.invocations += 1;
                    for _ in 1..self.times() {
                        let again = serde_json::from_value(event.clone()).expect("a Lambda SQS event");
                        let r = review::handle_sqs(
                            &self.services.review,
                            tier,
                            &self.dead_letters[tier_queue(tier)],
                            again,
                        )
                        .await;
                        pass.failures += r.failed_ids().len() as u64;
                    }
                    let event = serde_json::from_value(event).expect("a Lambda SQS event");
                    let response =
                        review::handle_sqs(&self.services.review, tier, &self.dead_letters[tier_queue(tier)], event)
                            .await;
                    let failed: HashSet<&str> = response.failed_ids().into_iter().collect();
                    pass.failures += failed.len() as u64;
                    let done: Vec<String> = handles
                        .iter()
                        .filter(|(id, _)| !failed.contains(id.as_str()))
                        .map(|(_, r)| r.clone())
                        .collect();
                    self.delete(tier, &done).await;
                    if !failed.is_empty() {
                        break;
                    }
                }
            }
            // The SMS queue (dispatch's), with the jobs whose wait is over.
            pass.messages += self.sms_later.release_due().await;
            while let Some((event, handles)) = self.receive_from("SmsQueue").await {
                pass.messages += handles.len() as u64;
                pass.invocations += 1;
                for _ in 1..self.times() {
                    let again = serde_json::from_value(event.clone()).expect("a Lambda SQS event");
                    as_function("DispatchFunction", dispatch::handle_sms(&self.sms, again)).await;
                }
                let event = serde_json::from_value(event).expect("a Lambda SQS event");
                let response = as_function("DispatchFunction", dispatch::handle_sms(&self.sms, event)).await;
                // Reported failed: held out of sight (`SmsLater` took it
                // off the queue), or to come again.
                let failed: HashSet<&str> = response.failed_ids().into_iter().collect();
                let done: Vec<String> =
                    handles.iter().filter(|(id, _)| !failed.contains(id.as_str())).map(|(_, r)| r.clone()).collect();
                self.delete_from("SmsQueue", &done).await;
                if !failed.is_empty() {
                    break;
                }
            }
            while let Some((event, handles)) = self.receive_from("ExportQueue").await {
                pass.messages += handles.len() as u64;
                pass.invocations += 1;
                for _ in 1..self.times() {
                    let again = serde_json::from_value(event.clone()).expect("a Lambda SQS event");
                    let r = as_function(
                        "DisbursementFunction",
                        disbursement::handle_sqs(&self.payout, &self.dead_letters["ExportQueue"], again),
                    )
                    .await;
                    pass.failures += r.failed_ids().len() as u64;
                }
                let event = serde_json::from_value(event).expect("a Lambda SQS event");
                let response = as_function(
                    "DisbursementFunction",
                    disbursement::handle_sqs(&self.payout, &self.dead_letters["ExportQueue"], event),
                )
                .await;
                let failed: HashSet<&str> = response.failed_ids().into_iter().collect();
                pass.failures += failed.len() as u64;
                let done: Vec<String> =
                    handles.iter().filter(|(id, _)| !failed.contains(id.as_str())).map(|(_, r)| r.clone()).collect();
                self.delete_from("ExportQueue", &done).await;
                if !failed.is_empty() {
                    break;
                }
            }
            total.objects += pass.objects;
            total.stream_records += pass.stream_records;
            total.messages += pass.messages;
            total.failures += pass.failures;
            total.invocations += pass.invocations;
            if pass.total() == 0 {
                break;
            }
        }
        total
    }
}

impl Drop for AwsStack {
    fn drop(&mut self) {
        let r = &self.resources;
        let names = crate::least_privilege::Names {
            table: r.table.clone(),
            audit_key_arn: r.audit_key_id.clone(),
            buckets: [
                (r.bucket.clone(), "DocumentBucket"),
                (r.exports_bucket.clone(), "ExportsBucket"),
                (r.anchor_bucket.clone(), "AnchorBucket"),
            ]
            .into_iter()
            .map(|(b, l)| (b, l.to_string()))
            .collect(),
            queues: r.queues.iter().map(|(logical, url)| (url.clone(), logical.clone())).collect(),
        };
        let uses: Vec<_> =
            self.recorder.calls().iter().flat_map(|c| crate::least_privilege::uses_of(c, &names)).collect();
        crate::least_privilege::write(&format!("{}-{}", std::process::id(), r.table), &uses);
    }
}

/// The function (logical id in template.yaml) that serves `method path`, as
/// API Gateway routes it.
pub fn function_of(method: &str, path: &str) -> Option<&'static str> {
    let matches = |routes: &[(&str, &str)]| {
        routes.iter().any(|(m, pattern)| {
            let (p, q): (Vec<&str>, Vec<&str>) = (pattern.split('/').collect(), path.split('/').collect());
            *m == method && p.len() == q.len() && p.iter().zip(&q).all(|(a, b)| a.starts_with('{') || a == b)
        })
    };
    if matches(submission::ROUTES) {
        return Some("SubmissionFunction");
    }
    if matches(aggregation::ROUTES) {
        return Some("AggregationFunction");
    }
    if matches(disbursement::ROUTES) {
        return Some("DisbursementFunction");
    }
    if matches(review::ROUTES) {
        return path.split('/').nth(4).and_then(Tier::parse).map(review_function);
    }
    None
}

/// Runs each API request as the code of the function API Gateway would
/// route it to (see [`crate::metering::as_function`]).
async fn as_the_function_serving_it(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    match function_of(req.method().as_str(), req.uri().path()) {
        Some(f) => crate::metering::as_function(f, next.run(req)).await,
        None => next.run(req).await,
    }
}
