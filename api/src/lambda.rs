//! Running a function on AWS Lambda: one binary answers API Gateway
//! requests with its router and, where it has an event source, record
//! batches (SQS, S3, DynamoDB streams) with its consumer.
//!
//! A function's `main.rs` builds its clients once and calls [`serve`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Service};
use lambda_runtime::{LambdaEvent, service_fn};
use serde::Serialize;
use serde_json::Value;

pub type BoxError = lambda_runtime::Error;

/// A consumer of record batches: gets the raw event, returns the response
/// Lambda expects (for SQS and streams, the partial batch failures).
pub type Records = Arc<dyn Fn(Value) -> Pin<Box<dyn Future<Output = Result<Value, BoxError>> + Send>> + Send + Sync>;

/// The kind of event a payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Http,
    Records(&'static str),
}

/// API Gateway payloads carry `requestContext`; record batches carry
/// `Records` whose `eventSource` (or `EventSource`) names the service.
pub fn kind_of(payload: &Value) -> EventKind {
    if payload["source"] == "aws.s3" && payload.get("detail-type").is_some() {
        return EventKind::Records("s3");
    }
    if payload["source"] == "aws.events" && payload["detail-type"] == "Scheduled Event" {
        return EventKind::Records("schedule");
    }
    // An operator's direct invocation (`aws lambda invoke`, which needs
    // lambda:InvokeFunction): never an HTTP request, whose payload is
    // API Gateway's envelope with the body inside it.
    if payload.get("requestContext").is_none() && payload["job"].is_string() {
        return EventKind::Records("job");
    }
    let first = &payload["Records"][0];
    let source = first["eventSource"].as_str().or_else(|| first["EventSource"].as_str());
    match source {
        Some("aws:sqs") => EventKind::Records("sqs"),
        Some("aws:s3") => EventKind::Records("s3"),
        Some("aws:dynamodb") => EventKind::Records("dynamodb"),
        _ => EventKind::Http,
    }
}

/// Partial batch response: the records to retry. The same shape serves SQS
/// (`itemIdentifier` = message id) and streams (= sequence number).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    pub batch_item_failures: Vec<ItemFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemFailure {
    pub item_identifier: String,
}

impl BatchResponse {
    pub fn fail(&mut self, id: impl Into<String>) {
        self.batch_item_failures.push(ItemFailure { item_identifier: id.into() });
    }

    pub fn failed_ids(&self) -> Vec<&str> {
        self.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect()
    }
}

/// Serves HTTP events with `router` (if any) and record batches with
/// `records` (if any) until the Lambda runtime stops.
pub async fn serve(router: Option<axum::Router>, records: Option<Records>) -> Result<(), BoxError> {
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let router = router.clone();
        let records = records.clone();
        async move {
            let LambdaEvent { payload, context } = event;
            match (kind_of(&payload), router, records) {
                (EventKind::Records(_), _, Some(records)) => records(payload).await,
                (EventKind::Http, Some(router), _) => {
                    let request: LambdaRequest = serde_json::from_value(payload)?;
                    let mut adapter: Adapter<'_, _, _> = Adapter::from(router);
                    let response = adapter.call(LambdaEvent::new(request, context)).await?;
                    Ok(serde_json::to_value(response)?)
                }
                (kind, _, _) => Err(format!("this function does not handle {kind:?} events").into()),
            }
        }
    }))
    .await
}

/// Wraps an async consumer as [`Records`].
pub fn records<F, Fut>(f: F) -> Records
where
    F: Fn(Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, BoxError>> + Send + 'static,
{
    Arc::new(move |v| Box::pin(f(v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_told_apart_by_their_records() {
        assert_eq!(kind_of(&serde_json::json!({"Records": [{"eventSource": "aws:sqs"}]})), EventKind::Records("sqs"));
        assert_eq!(
            kind_of(&serde_json::json!({"Records": [{"eventSource": "aws:dynamodb"}]})),
            EventKind::Records("dynamodb")
        );
        assert_eq!(kind_of(&serde_json::json!({"Records": [{"eventSource": "aws:s3"}]})), EventKind::Records("s3"));
        assert_eq!(
            kind_of(&serde_json::json!({"source": "aws.s3", "detail-type": "Object Created"})),
            EventKind::Records("s3")
        );
        assert_eq!(
            kind_of(&serde_json::json!({"source": "aws.events", "detail-type": "Scheduled Event"})),
            EventKind::Records("schedule")
        );
        assert_eq!(kind_of(&serde_json::json!({"version": "2.0", "requestContext": {}})), EventKind::Http);
        assert_eq!(kind_of(&serde_json::json!({"job": "audit-verify"})), EventKind::Records("job"));
        // A request whose body says "job" is still a request.
        let http = serde_json::json!({"version": "2.0", "requestContext": {}, "body": "{\"job\":\"audit-verify\"}"});
        assert_eq!(kind_of(&http), EventKind::Http);
        assert_eq!(kind_of(&serde_json::json!({"job": 1})), EventKind::Http);
    }

    #[test]
    fn a_batch_response_has_the_shape_lambda_expects() {
        let mut r = BatchResponse::default();
        r.fail("m-1");
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": "m-1"}]})
        );
    }
}
