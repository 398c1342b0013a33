//! Running a function on AWS Lambda: one binary answers API Gateway
//! requests with its router and, where it has event sources, record
//! batches and events with its typed [`Consumers`].
//!
//! A function's `main.rs` builds its clients once and calls [`serve`].
//! Every event reaches its consumer as `aws_lambda_events`' own type, and
//! every batch answers with that crate's partial-batch response.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use aws_lambda_events::dynamodb::Event as StreamEvent;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::s3::S3Event;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Service};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use subsidy_core::ports::DeadLetterQueue;

pub type BoxError = lambda_runtime::Error;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type Handler<E, R> = Arc<dyn Fn(E) -> BoxFuture<Result<R, BoxError>> + Send + Sync>;

fn handler<E, R, F, Fut>(f: F) -> Handler<E, R>
where
    F: Fn(E) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, BoxError>> + Send + 'static,
{
    Arc::new(move |e| Box::pin(f(e)))
}

/// The event sources a function consumes, each with its typed handler.
/// An event of a kind the function has no handler for fails the
/// invocation.
#[derive(Clone, Default)]
pub struct Consumers {
    sqs: Option<Handler<SqsEvent, SqsBatchResponse>>,
    stream: Option<Handler<StreamEvent, DynamoDbEventResponse>>,
    s3: Option<Handler<S3Event, ()>>,
    eventbridge: Option<Handler<EventBridgeEvent, Value>>,
    job: Option<Handler<String, Value>>,
}

impl Consumers {
    /// SQS batches; the handler reports the messages to redeliver.
    pub fn sqs<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(SqsEvent) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = SqsBatchResponse> + Send + 'static,
    {
        let f = Arc::new(f);
        self.sqs = Some(handler(move |e| {
            let f = f.clone();
            async move { Ok(f(e).await) }
        }));
        self
    }

    /// DynamoDB stream batches; the handler reports where to resume.
    pub fn stream<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(StreamEvent) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = DynamoDbEventResponse> + Send + 'static,
    {
        let f = Arc::new(f);
        self.stream = Some(handler(move |e| {
            let f = f.clone();
            async move { Ok(f(e).await) }
        }));
        self
    }

    /// S3 notification batches; an error makes Lambda retry the event.
    pub fn s3<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(S3Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        self.s3 = Some(handler(f));
        self
    }

    /// EventBridge events: S3's "Object Created" and the schedule's
    /// "Scheduled Event".
    pub fn eventbridge<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(EventBridgeEvent) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, BoxError>> + Send + 'static,
    {
        self.eventbridge = Some(handler(f));
        self
    }

    /// An operator's direct invocation, `{"job": NAME}`.
    pub fn job<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, BoxError>> + Send + 'static,
    {
        self.job = Some(handler(f));
        self
    }

    /// Hands `payload` to the consumer of its kind, as its typed event.
    pub async fn consume(&self, payload: Value) -> Result<Value, BoxError> {
        let kind = kind_of(&payload);
        let missing = || -> BoxError { format!("this function does not consume {kind:?} events").into() };
        match kind {
            EventKind::Sqs => {
                let f = self.sqs.as_ref().ok_or_else(missing)?;
                Ok(serde_json::to_value(f(serde_json::from_value(payload)?).await?)?)
            }
            EventKind::Stream => {
                let f = self.stream.as_ref().ok_or_else(missing)?;
                Ok(serde_json::to_value(f(serde_json::from_value(payload)?).await?)?)
            }
            EventKind::S3 => {
                let f = self.s3.as_ref().ok_or_else(missing)?;
                f(serde_json::from_value(payload)?).await?;
                Ok(Value::Null)
            }
            EventKind::EventBridge => {
                let f = self.eventbridge.as_ref().ok_or_else(missing)?;
                f(serde_json::from_value(payload)?).await
            }
            EventKind::Job => {
                let f = self.job.as_ref().ok_or_else(missing)?;
                f(payload["job"].as_str().unwrap_or_default().to_string()).await
            }
            EventKind::Http => Err(missing()),
        }
    }
}

/// The kind of event a payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Http,
    Sqs,
    Stream,
    S3,
    /// EventBridge: S3's "Object Created" and the nightly schedule.
    EventBridge,
    /// An operator's direct invocation.
    Job,
}

/// API Gateway payloads carry `requestContext`; record batches carry
/// `Records` whose `eventSource` (or `EventSource`) names the service;
/// EventBridge events carry `source` and `detail-type`.
pub fn kind_of(payload: &Value) -> EventKind {
    if payload["source"].is_string() && payload["detail-type"].is_string() && payload.get("requestContext").is_none() {
        return EventKind::EventBridge;
    }
    // An operator's direct invocation (`aws lambda invoke`, which needs
    // lambda:InvokeFunction): never an HTTP request, whose payload is
    // API Gateway's envelope with the body inside it.
    if payload.get("requestContext").is_none() && payload["job"].is_string() {
        return EventKind::Job;
    }
    let first = &payload["Records"][0];
    let source = first["eventSource"].as_str().or_else(|| first["EventSource"].as_str());
    match source {
        Some("aws:sqs") => EventKind::Sqs,
        Some("aws:s3") => EventKind::S3,
        Some("aws:dynamodb") => EventKind::Stream,
        _ => EventKind::Http,
    }
}

/// Why a message could not be handled, and whether to try it again.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ConsumerError {
    /// Retry (transient storage trouble) or dead-letter at once (a message
    /// that can never succeed).
    pub retryable: bool,
    pub message: String,
}

impl ConsumerError {
    pub fn retry(message: impl Into<String>) -> Self {
        ConsumerError { retryable: true, message: message.into() }
    }

    pub fn poison(message: impl Into<String>) -> Self {
        ConsumerError { retryable: false, message: message.into() }
    }
}

/// Consumes one SQS batch, a message at a time, the way the standalone
/// dispatcher treats its outbox: a retryable failure is reported for
/// redelivery (after the queue's `maxReceiveCount` it reaches the
/// dead-letter queue); a non-retryable one goes to `dead` at once, without
/// burning retries, and is acknowledged. If even that send fails, the
/// message is redelivered, so nothing is lost.
pub async fn sqs_batch<F, Fut>(event: SqsEvent, dead: &dyn DeadLetterQueue, handle: F) -> SqsBatchResponse
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<(), ConsumerError>>,
{
    let mut response = SqsBatchResponse::default();
    for message in event.records {
        let id = message.message_id.clone().unwrap_or_default();
        let body = message.body.unwrap_or_default();
        let Err(e) = handle(body.clone()).await else { continue };
        if e.retryable {
            tracing::error!(message_id = %id, error = %e, "message failed; it will be redelivered");
            response.add_failure(id);
            continue;
        }
        match dead.dead_letter(&body, &e.message).await {
            Ok(()) => tracing::error!(message_id = %id, error = %e, "message can never succeed; dead-lettered"),
            Err(send) => {
                tracing::error!(message_id = %id, error = %e, send_error = %send, "dead-lettering failed; it will be redelivered");
                response.add_failure(id);
            }
        }
    }
    response
}

/// A stream batch response that resumes at `sequence_number` (Lambda
/// retries from that record on).
pub fn stream_failure(sequence_number: impl Into<String>) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    let mut failure = DynamoDbBatchItemFailure::default();
    failure.item_identifier = Some(sequence_number.into());
    response.batch_item_failures.push(failure);
    response
}

/// The identifiers a partial batch response asks Lambda to retry.
pub trait Failures {
    fn failed_ids(&self) -> Vec<&str>;
}

impl Failures for SqsBatchResponse {
    fn failed_ids(&self) -> Vec<&str> {
        self.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect()
    }
}

impl Failures for DynamoDbEventResponse {
    fn failed_ids(&self) -> Vec<&str> {
        self.batch_item_failures.iter().filter_map(|f| f.item_identifier.as_deref()).collect()
    }
}

/// Serves HTTP events with `router` (if any) and every other event with
/// `consumers` until the Lambda runtime stops.
pub async fn serve(router: Option<axum::Router>, consumers: Consumers) -> Result<(), BoxError> {
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let router = router.clone();
        let consumers = consumers.clone();
        async move {
            let LambdaEvent { payload, context } = event;
            match (kind_of(&payload), router) {
                (EventKind::Http, Some(router)) => {
                    let request: LambdaRequest = serde_json::from_value(payload)?;
                    let mut adapter: Adapter<'_, _, _> = Adapter::from(router);
                    let response = adapter.call(LambdaEvent::new(request, context)).await?;
                    Ok(serde_json::to_value(response)?)
                }
                _ => consumers.consume(payload).await,
            }
        }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use subsidy_core::StoreError;

    use super::*;

    #[test]
    fn payloads_are_told_apart_by_their_records() {
        assert_eq!(kind_of(&serde_json::json!({"Records": [{"eventSource": "aws:sqs"}]})), EventKind::Sqs);
        assert_eq!(kind_of(&serde_json::json!({"Records": [{"eventSource": "aws:dynamodb"}]})), EventKind::Stream);
        assert_eq!(kind_of(&serde_json::json!({"Records": [{"eventSource": "aws:s3"}]})), EventKind::S3);
        assert_eq!(
            kind_of(&serde_json::json!({"source": "aws.s3", "detail-type": "Object Created"})),
            EventKind::EventBridge
        );
        assert_eq!(
            kind_of(&serde_json::json!({"source": "aws.events", "detail-type": "Scheduled Event"})),
            EventKind::EventBridge
        );
        assert_eq!(kind_of(&serde_json::json!({"version": "2.0", "requestContext": {}})), EventKind::Http);
        assert_eq!(kind_of(&serde_json::json!({"job": "audit-verify"})), EventKind::Job);
        // A request whose body says "job" is still a request.
        let http = serde_json::json!({"version": "2.0", "requestContext": {}, "body": "{\"job\":\"audit-verify\"}"});
        assert_eq!(kind_of(&http), EventKind::Http);
        assert_eq!(kind_of(&serde_json::json!({"job": 1})), EventKind::Http);
    }

    #[test]
    fn batch_responses_have_the_shape_lambda_expects() {
        let mut r = SqsBatchResponse::default();
        r.add_failure("m-1");
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": "m-1"}]})
        );
        assert_eq!(
            serde_json::to_value(stream_failure("300")).unwrap(),
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": "300"}]})
        );
    }

    #[derive(Default)]
    struct Dlq {
        sent: Mutex<Vec<(String, String)>>,
        down: bool,
    }

    #[async_trait]
    impl DeadLetterQueue for Dlq {
        async fn dead_letter(&self, body: &str, reason: &str) -> Result<(), StoreError> {
            if self.down {
                return Err(StoreError::Backend("sqs down".into()));
            }
            self.sent.lock().unwrap().push((body.into(), reason.into()));
            Ok(())
        }
    }

    fn batch(bodies: &[&str]) -> SqsEvent {
        let records: Vec<Value> = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| serde_json::json!({"messageId": format!("m-{i}"), "body": b, "eventSource": "aws:sqs"}))
            .collect();
        serde_json::from_value(serde_json::json!({ "Records": records })).unwrap()
    }

    async fn outcome(body: String) -> Result<(), ConsumerError> {
        match body.as_str() {
            "ok" => Ok(()),
            "busy" => Err(ConsumerError::retry("throttled")),
            _ => Err(ConsumerError::poison("bad message")),
        }
    }

    #[tokio::test]
    async fn a_poison_message_goes_to_the_dead_letter_queue_at_once_and_a_transient_one_is_retried() {
        let dlq = Dlq::default();
        let r = sqs_batch(batch(&["ok", "garbage", "busy"]), &dlq, outcome).await;
        assert_eq!(r.failed_ids(), vec!["m-2"], "only the transient failure is redelivered");
        assert_eq!(*dlq.sent.lock().unwrap(), vec![("garbage".to_string(), "bad message".to_string())]);
    }

    #[tokio::test]
    async fn a_poison_message_the_dead_letter_queue_cannot_take_is_redelivered_not_lost() {
        let dlq = Dlq { down: true, ..Default::default() };
        let r = sqs_batch(batch(&["garbage", "ok"]), &dlq, outcome).await;
        assert_eq!(r.failed_ids(), vec!["m-0"]);
    }

    #[tokio::test]
    async fn an_event_the_function_does_not_consume_fails_the_invocation() {
        let consumers = Consumers::default().sqs(|_| async { SqsBatchResponse::default() });
        let stream = serde_json::json!({"Records": [{"eventSource": "aws:dynamodb"}]});
        let e = consumers.consume(stream).await.unwrap_err().to_string();
        assert!(e.contains("Stream"), "{e}");
        let ok =
            consumers.consume(serde_json::json!({"Records": [{"eventSource": "aws:sqs", "messageId": "m"}]})).await;
        assert_eq!(ok.unwrap(), serde_json::json!({"batchItemFailures": []}));
    }
}
