//! The dispatch function: reads the table's stream, writes out the audit
//! entry that rode on each application write to its own item, records the
//! in-app notices each change produces (`core::notify`), and sends each
//! application's arrival at a review tier to that tier's queue.
//!
//! The stream is the outbox: state changes are written once, and this
//! function is the only thing that turns them into messages. It keeps the
//! stream's order: at the first record it cannot handle it reports that
//! record as the batch failure, so Lambda retries from there (and bisects
//! on repeated failure); records before it are done. Sending the same
//! arrival twice is harmless because the review consumer ignores repeats,
//! writing an audit entry twice writes the same item, and a notice is put
//! only if absent. A batch's entries and notices are written before any of
//! its arrivals is sent: if that fails, the whole batch is retried.

use std::collections::HashMap;

use std::sync::Arc;

use aws_lambda_events::dynamodb::Event;
use aws_lambda_events::streams::DynamoDbEventResponse;
use subsidy_api::lambda::{Consumers, stream_failure};
use subsidy_core::application::dispatch::route;
use subsidy_core::identity::Tier;
use subsidy_core::identity::staff::StaffStore;
use subsidy_core::notify::NoticeStore;
use subsidy_core::ports::ArrivalQueue;
use subsidy_infra::config::{self, ConfigError};
use subsidy_infra::stream::{AuditWriteOut, change_of, pending_audit};

/// The dispatch function's environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `QUEUE_URL_COMMUNITY`, `QUEUE_URL_SUBDISTRICT`, `QUEUE_URL_DISTRICT`.
    pub queues: HashMap<Tier, String>,
    /// `TABLE_NAME`: where audit entries are written out.
    pub table: String,
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Ok(Config {
            queues: HashMap::from([
                (Tier::Community, config::var("QUEUE_URL_COMMUNITY")?),
                (Tier::Subdistrict, config::var("QUEUE_URL_SUBDISTRICT")?),
                (Tier::District, config::var("QUEUE_URL_DISTRICT")?),
            ]),
            table: config::var("TABLE_NAME")?,
        })
    }
}

/// Where the stream's consumer writes: audit entries out to their own
/// items, and the notices changes produce.
/// (And the staff directory, read for who holds a role at a unit.)
pub trait Outputs: AuditWriteOut + NoticeStore + StaffStore {}
impl<T: AuditWriteOut + NoticeStore + StaffStore> Outputs for T {}

/// Handles one stream batch in order; see the module docs for failures.
pub async fn handle_stream(queue: &dyn ArrivalQueue, out: &dyn Outputs, event: Event) -> DynamoDbEventResponse {
    let first = || event.records.first().and_then(|r| r.change.sequence_number.clone()).unwrap_or_default();
    let mut entries = Vec::new();
    let mut changes = Vec::new();
    for record in &event.records {
        match (pending_audit(record), change_of(record)) {
            (Ok(entry), Ok(change)) => {
                entries.extend(entry);
                changes.extend(change);
            }
            // Reported at its own record by the loop below.
            _ => break,
        }
    }
    if let Err(e) = out.write_out(&entries).await {
        tracing::error!(error = %e, entries = entries.len(), "audit entries not written out; the batch is retried");
        return stream_failure(first());
    }
    // Each notice is put only if absent: a retried batch adds none.
    if let Err(e) = subsidy_core::notify::record(out, out, &changes).await {
        tracing::error!(error = %e, changes = changes.len(), "notices not recorded; the batch is retried");
        return stream_failure(first());
    }
    for record in &event.records {
        let seq = record.change.sequence_number.clone().unwrap_or_default();
        let outcome = match change_of(record) {
            Ok(Some(change)) => {
                let messages = route(&change);
                if messages.is_empty() {
                    Ok(())
                } else {
                    tracing::info!(application_id = %change.new.id, messages = messages.len(), "dispatching");
                    queue.publish(&messages).await.map_err(|e| e.to_string())
                }
            }
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = outcome.and_then(|()| pending_audit(record).map(drop)) {
            tracing::error!(sequence_number = %seq, error = %e, "stream record failed; the batch resumes here");
            return stream_failure(seq);
        }
    }
    DynamoDbEventResponse::default()
}

/// The dispatch function's consumer: the table's stream.
pub fn consumers(queue: Arc<dyn ArrivalQueue>, audit: Arc<dyn Outputs>) -> Consumers {
    Consumers::default().stream(move |event| {
        let (queue, audit) = (queue.clone(), audit.clone());
        async move { handle_stream(queue.as_ref(), audit.as_ref(), event).await }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use subsidy_core::application::dispatch::TierArrival;
    use subsidy_core::audit::AuditEntry;
    use subsidy_core::error::StoreError;

    use subsidy_api::lambda::Failures;

    use super::*;

    #[derive(Default)]
    struct Recorder {
        sent: Mutex<Vec<TierArrival>>,
        written: Mutex<Vec<AuditEntry>>,
        noticed: Mutex<Vec<subsidy_core::notify::Addressed>>,
        fail: bool,
        fail_audit: bool,
        fail_notices: bool,
    }

    #[async_trait]
    impl StaffStore for Recorder {
        async fn get_staff(&self, _: &str) -> Result<Option<subsidy_core::identity::staff::StaffMember>, StoreError> {
            Ok(None)
        }
        async fn put_staff(
            &self,
            _: &subsidy_core::identity::staff::StaffMember,
            _: u64,
            _: &AuditEntry,
        ) -> Result<(), StoreError> {
            unreachable!("the consumer never writes the directory")
        }
        async fn list_staff(
            &self,
            _: &subsidy_core::identity::staff::StaffFilter,
            _: &subsidy_core::ports::PageRequest,
        ) -> Result<subsidy_core::ports::Page<subsidy_core::identity::staff::StaffMember>, StoreError> {
            Ok(subsidy_core::ports::Page { items: Vec::new(), next_cursor: None })
        }
    }

    #[async_trait]
    impl NoticeStore for Recorder {
        async fn put_notices(&self, notices: &[subsidy_core::notify::Addressed]) -> Result<usize, StoreError> {
            if self.fail_notices {
                return Err(StoreError::Backend("table throttled".into()));
            }
            self.noticed.lock().unwrap().extend_from_slice(notices);
            Ok(notices.len())
        }
        async fn notices(
            &self,
            _: &str,
            _: &subsidy_core::ports::PageRequest,
        ) -> Result<subsidy_core::ports::Page<subsidy_core::notify::Notice>, StoreError> {
            unreachable!("the consumer never lists")
        }
        async fn unread_notices(&self, _: &str) -> Result<u64, StoreError> {
            unreachable!("the consumer never counts")
        }
        async fn mark_notice_read(
            &self,
            _: &str,
            _: &str,
            _: chrono::DateTime<chrono::Utc>,
        ) -> Result<Option<subsidy_core::notify::Notice>, StoreError> {
            unreachable!("the consumer never marks")
        }
    }

    #[async_trait]
    impl ArrivalQueue for Recorder {
        async fn publish(&self, messages: &[TierArrival]) -> Result<(), StoreError> {
            if self.fail {
                return Err(StoreError::Backend("queue down".into()));
            }
            self.sent.lock().unwrap().extend_from_slice(messages);
            Ok(())
        }
    }

    #[async_trait]
    impl AuditWriteOut for Recorder {
        async fn write_out(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
            if self.fail_audit {
                return Err(StoreError::Backend("table throttled".into()));
            }
            self.written.lock().unwrap().extend_from_slice(entries);
            Ok(())
        }
    }

    fn event(json: &str) -> Event {
        serde_json::from_str(json).expect("a DynamoDB stream event")
    }

    const OK: &str = include_str!("../../../events/dispatch/stream-batch-ok.json");

    fn entry(subject: &str, seq: u64) -> serde_json::Value {
        serde_json::json!({"subject": subject, "seq": seq, "at": "2020-03-02T01:02:03Z", "actorId": "pm-1",
            "role": "project_manager", "action": "confirm_area", "from": "awaiting_area_confirmation",
            "to": "pending_community", "comment": null, "prevHash": "00", "hash": format!("{seq:02}")})
    }

    /// The fixture with each application image's body stored as items are
    /// written now: compact binary, with the write's audit entry riding on
    /// it (`pending` gives the entry per record, by sequence number).
    fn with_entries(pending: impl Fn(&str, &str) -> Option<serde_json::Value>) -> Event {
        use base64::Engine;
        let mut wire: serde_json::Value = serde_json::from_str(OK).unwrap();
        for r in wire["Records"].as_array_mut().unwrap() {
            let seq = r["dynamodb"]["SequenceNumber"].as_str().unwrap().to_string();
            if r["dynamodb"]["Keys"]["sk"]["S"] != "APP" {
                continue;
            }
            let image = &mut r["dynamodb"]["NewImage"];
            let mut body: serde_json::Value = serde_json::from_str(image["body"]["S"].as_str().unwrap()).unwrap();
            if let Some(e) = pending(&seq, body["id"].as_str().unwrap()) {
                body["pendingAudit"] = e;
            }
            let stored = subsidy_infra::compact::encode(&body).unwrap();
            image["body"] = serde_json::json!({"B": base64::engine::general_purpose::STANDARD.encode(stored)});
        }
        serde_json::from_value(wire).unwrap()
    }

    #[tokio::test]
    async fn an_application_entering_a_tier_is_sent_to_that_tiers_queue() {
        let q = Recorder::default();
        let r = handle_stream(&q, &q, event(OK)).await;
        assert!(r.batch_item_failures.is_empty());
        let sent = q.sent.lock().unwrap();
        assert_eq!(sent.len(), 1, "only the change into pending_community routes; audit items and inserts do not");
        assert_eq!(sent[0].tier, Tier::Community);
        assert_eq!(sent[0].version, 3);
        assert!(q.written.lock().unwrap().is_empty(), "images from before entries rode on items carry none");
        let noticed = q.noticed.lock().unwrap();
        let kinds: Vec<_> = noticed.iter().map(|a| a.notice.kind).collect();
        assert_eq!(kinds, vec![subsidy_core::notify::NoticeKind::AreaConfirmed], "the confirmation tells the company");
    }

    #[tokio::test]
    async fn notices_that_cannot_be_stored_fail_the_whole_batch_before_anything_is_sent() {
        let q = Recorder { fail_notices: true, ..Default::default() };
        let r = handle_stream(&q, &q, event(OK)).await;
        assert_eq!(r.failed_ids(), vec!["200"], "retried from the batch's first record");
        assert!(q.sent.lock().unwrap().is_empty(), "no arrival went out");
    }

    #[tokio::test]
    async fn the_entry_riding_on_each_application_write_is_written_out_in_order() {
        let q = Recorder::default();
        let r = handle_stream(&q, &q, with_entries(|seq, id| Some(entry(id, seq.parse::<u64>().unwrap() / 100)))).await;
        assert!(r.batch_item_failures.is_empty());
        let written = q.written.lock().unwrap();
        // Records 300 and 400 are application items; 200 is an audit item.
        let got: Vec<(String, u64)> = written.iter().map(|e| (e.subject.clone(), e.seq)).collect();
        assert_eq!(
            got,
            vec![("01JDISPATCHSAMPLE00000000A".to_string(), 3), ("01JDISPATCHSAMPLE00000000B".to_string(), 4)]
        );
        assert_eq!(q.sent.lock().unwrap().len(), 1, "and the arrival is still sent");
    }

    #[tokio::test]
    async fn entries_that_cannot_be_written_out_fail_the_whole_batch_before_anything_is_sent() {
        let q = Recorder { fail_audit: true, ..Default::default() };
        let r = handle_stream(&q, &q, with_entries(|_, id| Some(entry(id, 3)))).await;
        assert_eq!(r.failed_ids(), vec!["200"], "from the batch's first record");
        assert!(q.sent.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_entry_that_does_not_parse_is_reported_at_its_record() {
        let q = Recorder::default();
        let bad = |seq: &str, id: &str| match seq {
            "400" => Some(serde_json::json!({"subject": id, "seq": "four"})),
            _ => Some(entry(id, 3)),
        };
        let r = handle_stream(&q, &q, with_entries(bad)).await;
        assert_eq!(r.failed_ids(), vec!["400"]);
        assert_eq!(q.written.lock().unwrap().len(), 1, "the entry before it was written out");
        assert_eq!(q.sent.lock().unwrap().len(), 1, "and the arrival before it sent");
    }

    #[tokio::test]
    async fn an_entry_naming_another_chain_is_refused_at_its_record_and_never_written() {
        let q = Recorder::default();
        let other = |seq: &str, id: &str| match seq {
            "400" => Some(entry("01JDISPATCHSAMPLE00000000A", 9)),
            _ => Some(entry(id, 3)),
        };
        let r = handle_stream(&q, &q, with_entries(other)).await;
        assert_eq!(r.failed_ids(), vec!["400"]);
        let written = q.written.lock().unwrap();
        assert!(written.iter().all(|e| e.seq != 9), "the foreign entry was not written: {written:?}");
    }

    /// A stream event of document items (`APP#{app}` / `DOC#{doc}`), each
    /// with `entry` riding on it, as `document_item` writes them.
    fn documents(items: &[(&str, &str, &str, serde_json::Value)]) -> Event {
        use base64::Engine;
        let records: Vec<serde_json::Value> = items
            .iter()
            .map(|(seq, app, doc, entry)| {
                let body = serde_json::json!({"id": doc, "applicationId": app, "auditSeq": entry["seq"], "pendingAudit": entry});
                let stored = base64::engine::general_purpose::STANDARD.encode(subsidy_infra::compact::encode(&body).unwrap());
                let keys = serde_json::json!({"pk": {"S": format!("APP#{app}")}, "sk": {"S": format!("DOC#{doc}")}});
                let mut image = keys.clone();
                image["body"] = serde_json::json!({"B": stored});
                serde_json::json!({"eventID": seq, "eventName": "INSERT", "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
                    "eventSourceARN": "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/x",
                    "dynamodb": {"Keys": keys, "NewImage": image, "SequenceNumber": seq, "SizeBytes": 100, "StreamViewType": "NEW_AND_OLD_IMAGES"}})
            })
            .collect();
        serde_json::from_value(serde_json::json!({"Records": records})).unwrap()
    }

    #[tokio::test]
    async fn the_entry_riding_on_a_document_write_is_written_out_to_its_own_chain_only() {
        let q = Recorder::default();
        let own = subsidy_core::documents::audit_subject("A1", "D1");
        let r = handle_stream(
            &q,
            &q,
            documents(&[("100", "A1", "D1", entry(&own, 1)), ("200", "A1", "D1", entry(&own, 2))]),
        )
        .await;
        assert!(r.batch_item_failures.is_empty(), "{r:?}");
        let got: Vec<(String, u64)> = q.written.lock().unwrap().iter().map(|e| (e.subject.clone(), e.seq)).collect();
        assert_eq!(got, vec![(own.clone(), 1), (own.clone(), 2)]);
        assert!(q.sent.lock().unwrap().is_empty(), "a document routes nothing");

        // Another document's chain, another application's document, or the
        // application's own chain, riding on a document item: refused at
        // that record, never written.
        for (i, foreign) in [
            subsidy_core::documents::audit_subject("A1", "D2"),
            subsidy_core::documents::audit_subject("A2", "D1"),
            "A1".to_string(),
        ]
        .into_iter()
        .enumerate()
        {
            let q = Recorder::default();
            let r = handle_stream(
                &q,
                &q,
                documents(&[("100", "A1", "D1", entry(&own, 1)), ("200", "A1", "D1", entry(&foreign, 9))]),
            )
            .await;
            assert_eq!(r.failed_ids(), vec!["200"], "case {i}");
            let written = q.written.lock().unwrap();
            assert!(written.iter().all(|e| e.seq != 9), "case {i}: {written:?}");
        }
    }

    #[tokio::test]
    async fn a_failed_send_reports_that_record_and_stops() {
        let q = Recorder { fail: true, ..Default::default() };
        let r = handle_stream(&q, &q, event(OK)).await;
        assert_eq!(r.failed_ids(), vec!["300"]);
    }

    #[tokio::test]
    async fn a_corrupt_record_is_reported_not_skipped() {
        let q = Recorder::default();
        let r = handle_stream(&q, &q, event(include_str!("../../../events/dispatch/stream-corrupt-fail.json"))).await;
        assert_eq!(r.failed_ids(), vec!["500"]);
        assert!(q.sent.lock().unwrap().is_empty());
    }
}
