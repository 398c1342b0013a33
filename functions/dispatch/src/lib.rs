//! The dispatch function: reads the table's stream, writes out the audit
//! entry that rode on each application write to its own item, records the
//! in-app notices each change produces (`core::notify`), queues the SMS
//! those notices send, and sends each application's arrival at a review
//! tier to that tier's queue. It also consumes the SMS queue
//! ([`handle_sms`]): each job is sent once, through the notifier.
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
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_lambda_events::streams::DynamoDbEventResponse;
use subsidy_api::lambda::{Consumers, stream_failure};
use subsidy_core::application::dispatch::route;
use subsidy_core::eta::EtaStore;
use subsidy_core::identity::Tier;
use subsidy_core::identity::staff::StaffStore;
use subsidy_core::notify::NoticeStore;
use subsidy_core::notify::sms::{Next, SMS_LONGEST_DELAY, SmsJob, SmsQueue, SmsRedelivery, SmsSender};
use subsidy_core::policy::Policy;
use subsidy_core::ports::{ArrivalQueue, DeadLetterQueue};
use subsidy_infra::config::{self, ConfigError};
use subsidy_infra::stream::{AuditWriteOut, batch_change_of, change_of, pending_audit};

/// The dispatch function's environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `QUEUE_URL_COMMUNITY`, `QUEUE_URL_SUBDISTRICT`, `QUEUE_URL_DISTRICT`.
    pub queues: HashMap<Tier, String>,
    /// `TABLE_NAME`: where audit entries are written out.
    pub table: String,
    /// `POLICY_JSON`: which notices send an SMS, their wording, quiet hours.
    pub policy: Policy,
    /// `SMS_QUEUE_URL`: the SMS jobs.
    pub sms_queue: String,
    /// `DEAD_LETTER_QUEUE_URL`: the jobs given up.
    pub sms_dead_letters: String,
    /// `SMS_NOTIFIER`: `sns` sends through Amazon SNS; `log` (the default)
    /// only logs that a message would go.
    pub sns: bool,
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
            policy: config::parsed("POLICY_JSON", Policy::from_json)?,
            sms_queue: config::var("SMS_QUEUE_URL")?,
            sms_dead_letters: config::var("DEAD_LETTER_QUEUE_URL")?,
            sns: match config::var("SMS_NOTIFIER").as_deref() {
                Ok("sns") => true,
                Ok("log") | Err(_) => false,
                Ok(_) => {
                    return Err(ConfigError::Invalid { name: "SMS_NOTIFIER", reason: "must be sns or log".into() });
                }
            },
        })
    }
}

/// What a batch's changes derive by the policy: the SMS their notices
/// send (queued), and how long the steps they ended took (its calendar).
#[derive(Clone, Copy)]
pub struct Derived<'a> {
    pub policy: &'a Policy,
    pub sms: &'a dyn SmsQueue,
}

/// Where the stream's consumer writes: audit entries out to their own
/// items, and the notices changes produce.
/// (And the staff directory, read for who holds a role at a unit.)
/// (And the steps' times, for the applicant's ETA.)
pub trait Outputs: AuditWriteOut + NoticeStore + StaffStore + EtaStore {}
impl<T: AuditWriteOut + NoticeStore + StaffStore + EtaStore> Outputs for T {}

/// Handles one stream batch in order; see the module docs for failures.
pub async fn handle_stream(
    queue: &dyn ArrivalQueue,
    out: &dyn Outputs,
    derived: Derived<'_>,
    event: Event,
) -> DynamoDbEventResponse {
    let first = || event.records.first().and_then(|r| r.change.sequence_number.clone()).unwrap_or_default();
    let mut entries = Vec::new();
    let mut changes = Vec::new();
    let mut batches = Vec::new();
    for record in &event.records {
        match (pending_audit(record), change_of(record), batch_change_of(record)) {
            (Ok(entry), Ok(change), Ok(batch)) => {
                entries.extend(entry);
                changes.extend(change);
                batches.extend(batch);
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
    // And finance's, from the payment batches' changes.
    if let Err(e) = subsidy_core::notify::record_batches(out, out, &batches).await {
        tracing::error!(error = %e, batches = batches.len(), "batch notices not recorded; the batch is retried");
        return stream_failure(first());
    }
    // Their SMS, after them (a job is sent only for a notice that is
    // there); a retried batch queues them again, and the ledger sends once.
    let jobs = subsidy_core::notify::sms_jobs(&derived.policy.sms, &changes);
    if !jobs.is_empty()
        && let Err(e) = derived.sms.enqueue(&jobs).await
    {
        tracing::error!(error = %e, jobs = jobs.len(), "SMS jobs not queued; the batch is retried");
        return stream_failure(first());
    }
    // The steps these changes ended, for the applicant's ETA (each sample
    // kept once).
    let samples = subsidy_core::eta::samples_of(&changes, &derived.policy.calendar);
    if !samples.is_empty()
        && let Err(e) = out.put_eta_samples(&samples).await
    {
        tracing::error!(error = %e, samples = samples.len(), "step times not recorded; the batch is retried");
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
        let outcome = outcome.and_then(|()| batch_change_of(record).map(drop));
        if let Err(e) = outcome.and_then(|()| pending_audit(record).map(drop)) {
            tracing::error!(sequence_number = %seq, error = %e, "stream record failed; the batch resumes here");
            return stream_failure(seq);
        }
    }
    DynamoDbEventResponse::default()
}

/// The SMS queue's consumer: the sender, and where a job goes when it
/// waits or is given up.
#[derive(Clone)]
pub struct SmsConsumer {
    pub sender: SmsSender,
    pub queue: Arc<dyn SmsRedelivery>,
    pub dead: Arc<dyn DeadLetterQueue>,
}

/// Handles one batch of SMS jobs, together. A job sent, sent before, or
/// with nothing to send is acknowledged. One that waits (quiet hours, a
/// retry's backoff) comes back through the queue: sent again with a delay
/// when that is within SQS's 15 minutes (a retry carries its failure
/// count), else kept out of sight until then (reported failed, so Lambda
/// keeps it). One given up, or not a job at all, goes to the dead-letter
/// queue. Whatever cannot be done now is reported failed, for redelivery.
pub async fn handle_sms(sms: &SmsConsumer, event: SqsEvent) -> SqsBatchResponse {
    let one = |message: SqsMessage| async move {
        let id = message.message_id.unwrap_or_default();
        let body = message.body.unwrap_or_default();
        let receipt = message.receipt_handle.unwrap_or_default();
        let kept = match serde_json::from_str::<SmsJob>(&body) {
            Err(e) => sms.dead.dead_letter(&body, &format!("not an SMS job: {e}")).await.map(|()| false),
            Ok(job) => match sms.sender.attempt(&job).await {
                Next::Done(_) => Ok(false),
                Next::Hold(at) if at - sms.sender.clock.now() <= SMS_LONGEST_DELAY => {
                    sms.queue.resend(&job, at).await.map(|()| false)
                }
                Next::Hold(at) => sms.queue.hold(&job, &receipt, at).await.map(|()| true),
                Next::Retry { at, job, .. } => sms.queue.resend(&job, at).await.map(|()| false),
                Next::Dead(error) => sms.dead.dead_letter(&body, &error).await.map(|()| false),
            },
        };
        match kept {
            Ok(false) => None,
            Ok(true) => Some(id),
            Err(e) => {
                tracing::error!(message_id = %id, error = %e, "SMS job not settled; it will be redelivered");
                Some(id)
            }
        }
    };
    let mut response = SqsBatchResponse::default();
    for id in futures::future::join_all(event.records.into_iter().map(one)).await.into_iter().flatten() {
        response.add_failure(id);
    }
    response
}

/// The dispatch function's consumers: the table's stream, and the SMS queue.
pub fn consumers(
    queue: Arc<dyn ArrivalQueue>,
    audit: Arc<dyn Outputs>,
    policy: Arc<Policy>,
    sms_jobs: Arc<dyn SmsQueue>,
    sms: SmsConsumer,
) -> Consumers {
    let sms = Arc::new(sms);
    Consumers::default()
        .stream(move |event| {
            let (queue, audit, policy, jobs) = (queue.clone(), audit.clone(), policy.clone(), sms_jobs.clone());
            async move {
                handle_stream(queue.as_ref(), audit.as_ref(), Derived { policy: &policy, sms: jobs.as_ref() }, event)
                    .await
            }
        })
        .sqs(move |event| {
            let sms = sms.clone();
            async move { handle_sms(&sms, event).await }
        })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use subsidy_core::notify::sms::SmsSettings;

    use async_trait::async_trait;
    use subsidy_core::application::dispatch::TierArrival;
    use subsidy_core::audit::AuditEntry;
    use subsidy_core::error::StoreError;

    use subsidy_api::lambda::Failures;

    use super::*;

    struct Recorder {
        /// Which events send an SMS (and the calendar).
        policy: Policy,
        queued: Mutex<Vec<SmsJob>>,
        fail_sms: bool,
        sent: Mutex<Vec<TierArrival>>,
        written: Mutex<Vec<AuditEntry>>,
        noticed: Mutex<Vec<subsidy_core::notify::Addressed>>,
        sampled: Mutex<Vec<subsidy_core::eta::Sample>>,
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

    impl Default for Recorder {
        fn default() -> Recorder {
            Recorder {
                policy: Policy { sms: SmsSettings::default(), ..test_policy() },
                queued: Default::default(),
                fail_sms: false,
                sent: Default::default(),
                written: Default::default(),
                noticed: Default::default(),
                sampled: Default::default(),
                fail: false,
                fail_audit: false,
                fail_notices: false,
            }
        }
    }

    /// The Shenzhen policy, as deployed.
    fn test_policy() -> Policy {
        Policy::from_json(subsidy_infra::data::SHENZHEN_POLICY).unwrap()
    }

    impl Recorder {
        fn sms(&self) -> Derived<'_> {
            Derived { policy: &self.policy, sms: self }
        }
    }

    #[async_trait]
    impl EtaStore for Recorder {
        async fn put_eta_samples(&self, samples: &[subsidy_core::eta::Sample]) -> Result<(), StoreError> {
            self.sampled.lock().unwrap().extend_from_slice(samples);
            Ok(())
        }
        async fn eta_histogram(
            &self,
            _: Option<&str>,
            _: subsidy_core::eta::Step,
            _: chrono::NaiveDate,
        ) -> Result<subsidy_core::eta::Histogram, StoreError> {
            unreachable!("the consumer never reads step times")
        }
    }

    #[async_trait]
    impl SmsQueue for Recorder {
        async fn enqueue(&self, jobs: &[SmsJob]) -> Result<(), StoreError> {
            if self.fail_sms {
                return Err(StoreError::Backend("queue down".into()));
            }
            self.queued.lock().unwrap().extend_from_slice(jobs);
            Ok(())
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
        let r = handle_stream(&q, &q, q.sms(), event(OK)).await;
        assert!(r.batch_item_failures.is_empty());
        let sent = q.sent.lock().unwrap();
        assert_eq!(sent.len(), 1, "only the change into pending_community routes; audit items and inserts do not");
        assert_eq!(sent[0].tier, Tier::Community);
        assert_eq!(sent[0].version, 3);
        assert!(q.written.lock().unwrap().is_empty(), "images from before entries rode on items carry none");
        let noticed = q.noticed.lock().unwrap();
        let kinds: Vec<_> = noticed.iter().map(|a| a.notice.kind).collect();
        assert_eq!(kinds, vec![subsidy_core::notify::NoticeKind::AreaConfirmed], "the confirmation tells the company");
        let sampled = q.sampled.lock().unwrap();
        assert_eq!(sampled.len(), 1, "the manager's confirmation ended: {sampled:?}");
        assert_eq!(sampled[0].step, subsidy_core::eta::Step::AreaConfirmation);
    }

    #[tokio::test]
    async fn notices_that_cannot_be_stored_fail_the_whole_batch_before_anything_is_sent() {
        let q = Recorder { fail_notices: true, ..Default::default() };
        let r = handle_stream(&q, &q, q.sms(), event(OK)).await;
        assert_eq!(r.failed_ids(), vec!["200"], "retried from the batch's first record");
        assert!(q.sent.lock().unwrap().is_empty(), "no arrival went out");
    }

    #[tokio::test]
    async fn the_entry_riding_on_each_application_write_is_written_out_in_order() {
        let q = Recorder::default();
        let r =
            handle_stream(&q, &q, q.sms(), with_entries(|seq, id| Some(entry(id, seq.parse::<u64>().unwrap() / 100))))
                .await;
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
        let r = handle_stream(&q, &q, q.sms(), with_entries(|_, id| Some(entry(id, 3)))).await;
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
        let r = handle_stream(&q, &q, q.sms(), with_entries(bad)).await;
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
        let r = handle_stream(&q, &q, q.sms(), with_entries(other)).await;
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
            q.sms(),
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
                q.sms(),
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
        let r = handle_stream(&q, &q, q.sms(), event(OK)).await;
        assert_eq!(r.failed_ids(), vec!["300"]);
    }

    #[tokio::test]
    async fn a_corrupt_record_is_reported_not_skipped() {
        let q = Recorder::default();
        let r =
            handle_stream(&q, &q, q.sms(), event(include_str!("../../../events/dispatch/stream-corrupt-fail.json")))
                .await;
        assert_eq!(r.failed_ids(), vec!["500"]);
        assert!(q.sent.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn the_sms_a_batchs_notices_send_are_queued_and_a_queue_that_fails_fails_the_batch() {
        let settings =
            SmsSettings { events: vec![subsidy_core::notify::NoticeKind::AreaConfirmed], ..Default::default() };
        let policy = Policy { sms: settings, ..test_policy() };
        let q = Recorder { policy: policy.clone(), ..Default::default() };
        let r = handle_stream(&q, &q, q.sms(), event(OK)).await;
        assert!(r.batch_item_failures.is_empty());
        let queued = q.queued.lock().unwrap().clone();
        assert_eq!(queued.len(), 1, "the confirmation, to the company");
        assert!(queued[0].to.starts_with("c:") && queued[0].failures == 0, "{:?}", queued[0].to);

        // Not an SMS event: nothing queued.
        let q = Recorder::default();
        handle_stream(&q, &q, q.sms(), event(OK)).await;
        assert!(q.queued.lock().unwrap().is_empty());

        let q = Recorder { policy, fail_sms: true, ..Default::default() };
        let r = handle_stream(&q, &q, q.sms(), event(OK)).await;
        assert_eq!(r.failed_ids(), vec!["200"], "retried from the batch's first record");
        assert!(q.sent.lock().unwrap().is_empty(), "no arrival went out");
    }

    mod sms {
        use std::collections::HashMap;
        use std::sync::Mutex;

        use async_trait::async_trait;
        use chrono::{DateTime, TimeZone, Utc};
        use subsidy_core::error::StoreError;
        use subsidy_core::notify::sms::{Notifier, SmsLedger, SmsMessage};
        use subsidy_core::notify::{Notice, NoticeKind};
        use subsidy_core::ports::{Clock, StoreResult};

        use super::super::*;

        struct At(DateTime<Utc>);
        impl Clock for At {
            fn now(&self) -> DateTime<Utc> {
                self.0
            }
        }

        /// The ledger, notifier, redelivery and dead letters, recorded.
        #[derive(Default)]
        struct World {
            sent_at: Mutex<HashMap<String, DateTime<Utc>>>,
            texts: Mutex<Vec<SmsMessage>>,
            fail_sends: bool,
            resent: Mutex<Vec<(SmsJob, DateTime<Utc>)>>,
            held: Mutex<Vec<(String, DateTime<Utc>)>>,
            dead: Mutex<Vec<(String, String)>>,
        }

        #[async_trait]
        impl SmsLedger for World {
            async fn claim_sms(&self, _: &str, id: &str, _: DateTime<Utc>, _: DateTime<Utc>) -> StoreResult<bool> {
                Ok(!self.sent_at.lock().unwrap().contains_key(id))
            }
            async fn release_sms(&self, _: &str, _: &str) -> StoreResult<()> {
                Ok(())
            }
            async fn sms_sent(&self, _: &str, id: &str, at: DateTime<Utc>) -> StoreResult<()> {
                self.sent_at.lock().unwrap().insert(id.to_string(), at);
                Ok(())
            }
        }

        #[async_trait]
        impl Notifier for World {
            async fn send(&self, message: &SmsMessage) -> Result<(), String> {
                if self.fail_sends {
                    return Err("gateway down".into());
                }
                self.texts.lock().unwrap().push(message.clone());
                Ok(())
            }
        }

        #[async_trait]
        impl SmsRedelivery for World {
            async fn resend(&self, job: &SmsJob, at: DateTime<Utc>) -> StoreResult<()> {
                self.resent.lock().unwrap().push((job.clone(), at));
                Ok(())
            }
            async fn hold(&self, _: &SmsJob, receipt: &str, at: DateTime<Utc>) -> StoreResult<()> {
                self.held.lock().unwrap().push((receipt.to_string(), at));
                Ok(())
            }
        }

        #[async_trait]
        impl DeadLetterQueue for World {
            async fn dead_letter(&self, body: &str, reason: &str) -> StoreResult<()> {
                self.dead.lock().unwrap().push((body.to_string(), reason.to_string()));
                Ok(())
            }
        }

        /// Company lookups never happen here: every job is a manager's.
        struct NoCompanies;
        #[async_trait]
        impl subsidy_core::ports::CompanyStore for NoCompanies {
            async fn get_company(&self, _: &str) -> StoreResult<Option<subsidy_core::company::Company>> {
                unreachable!()
            }
            async fn company_of_owner(&self, _: &str) -> StoreResult<Option<subsidy_core::company::Company>> {
                Err(StoreError::Backend("not in this test".into()))
            }
            async fn create_company(
                &self,
                _: &subsidy_core::company::Company,
                _: &subsidy_core::audit::AuditEntry,
            ) -> StoreResult<()> {
                unreachable!()
            }
            async fn update_company(
                &self,
                _: &subsidy_core::company::Company,
                _: u64,
                _: &subsidy_core::audit::AuditEntry,
            ) -> StoreResult<()> {
                unreachable!()
            }
            async fn scan_companies(
                &self,
                _: &subsidy_core::ports::PageRequest,
            ) -> StoreResult<subsidy_core::ports::Page<subsidy_core::company::Company>> {
                unreachable!()
            }
        }

        /// China time on 2020-03-02 (a Monday).
        fn china(h: u32, m: u32) -> DateTime<Utc> {
            subsidy_core::policy::shanghai().with_ymd_and_hms(2020, 3, 2, h, m, 0).unwrap().to_utc()
        }

        fn job(id: &str, failures: u32) -> SmsJob {
            SmsJob {
                to: "m:13800138000".into(),
                notice: Notice {
                    id: id.into(),
                    kind: NoticeKind::AreaAwaitingConfirmation,
                    application_id: Some("A1".into()),
                    version: Some(1),
                    params: [
                        ("project".to_string(), "阳光花园".to_string()),
                        ("area".to_string(), "1000.00".to_string()),
                    ]
                    .into(),
                    at: china(9, 0),
                    read_at: None,
                },
                failures,
            }
        }

        fn consumer(world: &std::sync::Arc<World>, now: DateTime<Utc>) -> SmsConsumer {
            SmsConsumer {
                sender: SmsSender {
                    settings: std::sync::Arc::new(subsidy_core::notify::sms::SmsSettings {
                        events: vec![NoticeKind::AreaAwaitingConfirmation],
                        ..Default::default()
                    }),
                    clock: std::sync::Arc::new(At(now)),
                    companies: std::sync::Arc::new(NoCompanies),
                    ledger: world.clone(),
                    notifier: world.clone(),
                },
                queue: world.clone(),
                dead: world.clone(),
            }
        }

        fn batch(bodies: &[String]) -> SqsEvent {
            let records: Vec<serde_json::Value> = bodies
                .iter()
                .enumerate()
                .map(|(i, b)| serde_json::json!({"messageId": format!("m-{i}"), "receiptHandle": format!("r-{i}"), "body": b, "eventSource": "aws:sqs"}))
                .collect();
            serde_json::from_value(serde_json::json!({"Records": records})).unwrap()
        }

        fn body(job: &SmsJob) -> String {
            serde_json::to_string(job).unwrap()
        }

        #[tokio::test]
        async fn a_job_delivered_twice_sends_once_and_both_are_acknowledged() {
            let world = std::sync::Arc::new(World::default());
            let r =
                handle_sms(&consumer(&world, china(10, 0)), batch(&[body(&job("n1", 0)), body(&job("n1", 0))])).await;
            assert!(r.batch_item_failures.is_empty(), "{r:?}");
            let texts = world.texts.lock().unwrap();
            assert_eq!(texts.len(), 1);
            assert_eq!(texts[0].to.as_str(), "13800138000");
            assert!(texts[0].text.contains("阳光花园"), "{}", texts[0].text);
        }

        #[tokio::test]
        async fn quiet_hours_keep_the_message_out_of_sight_until_eight_or_send_it_again_when_that_is_near() {
            let world = std::sync::Arc::new(World::default());
            // 23:00: nine hours off, beyond a delay: the message is held
            // (reported failed so Lambda keeps it) until 08:00.
            let r = handle_sms(&consumer(&world, china(23, 0)), batch(&[body(&job("n1", 0))])).await;
            let failed: Vec<&str> = r.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
            assert_eq!(failed, vec!["m-0"]);
            let eight = subsidy_core::policy::shanghai().with_ymd_and_hms(2020, 3, 3, 8, 0, 0).unwrap().to_utc();
            assert_eq!(*world.held.lock().unwrap(), vec![("r-0".to_string(), eight)]);
            assert!(world.texts.lock().unwrap().is_empty() && world.resent.lock().unwrap().is_empty());

            // 07:50: ten minutes off: sent again with a delay, and this one
            // acknowledged.
            let world = std::sync::Arc::new(World::default());
            let r = handle_sms(&consumer(&world, china(7, 50)), batch(&[body(&job("n1", 0))])).await;
            assert!(r.batch_item_failures.is_empty());
            let resent = world.resent.lock().unwrap();
            assert_eq!((resent.len(), resent[0].0.failures), (1, 0), "a hold is no failure");
            assert_eq!(resent[0].1, china(8, 0));
        }

        #[tokio::test]
        async fn a_failed_send_comes_again_after_its_backoff_counting_the_failure_and_the_last_is_dead_lettered() {
            let world = std::sync::Arc::new(World { fail_sends: true, ..Default::default() });
            let now = china(10, 0);
            let r = handle_sms(&consumer(&world, now), batch(&[body(&job("n1", 0)), body(&job("n2", 2))])).await;
            assert!(r.batch_item_failures.is_empty(), "resent, so acknowledged");
            let mut resent = world.resent.lock().unwrap().clone();
            resent.sort_by_key(|(j, _)| j.notice.id.clone());
            assert_eq!(resent[0].0.failures, 1);
            assert_eq!(resent[0].1, now + chrono::Duration::seconds(30));
            assert_eq!(resent[1].0.failures, 3);
            assert_eq!(resent[1].1, now + chrono::Duration::minutes(2));

            let last = job("n3", subsidy_core::notify::sms::SMS_MAX_ATTEMPTS - 1);
            let r = handle_sms(&consumer(&world, now), batch(&[body(&last)])).await;
            assert!(r.batch_item_failures.is_empty());
            let dead = world.dead.lock().unwrap();
            assert_eq!(dead.len(), 1);
            assert_eq!(dead[0].0, body(&last), "the body as it came, for a redrive");
            assert!(dead[0].1.contains("gateway down"), "{}", dead[0].1);
            assert_eq!(world.resent.lock().unwrap().len(), 2, "not sent again");
        }

        #[tokio::test]
        async fn a_body_that_is_not_a_job_is_dead_lettered_at_once_and_the_rest_of_the_batch_goes() {
            let world = std::sync::Arc::new(World::default());
            let bad = ["", "null", "[]", "{\"to\": \"m:13800138000\"}", "{\"unknown\": 1}"];
            let mut bodies: Vec<String> = bad.iter().map(|b| b.to_string()).collect();
            bodies.push(body(&job("n1", 0)));
            let r = handle_sms(&consumer(&world, china(10, 0)), batch(&bodies)).await;
            assert!(r.batch_item_failures.is_empty(), "{r:?}");
            let dead = world.dead.lock().unwrap();
            assert_eq!(dead.len(), bad.len());
            assert!(dead.iter().all(|(_, why)| why.starts_with("not an SMS job")), "{dead:?}");
            assert_eq!(world.texts.lock().unwrap().len(), 1, "the good one went");
        }

        #[tokio::test]
        async fn a_job_that_cannot_be_settled_is_reported_for_redelivery() {
            struct Stuck;
            #[async_trait]
            impl SmsRedelivery for Stuck {
                async fn resend(&self, _: &SmsJob, _: DateTime<Utc>) -> StoreResult<()> {
                    Err(StoreError::Backend("sqs down".into()))
                }
                async fn hold(&self, _: &SmsJob, _: &str, _: DateTime<Utc>) -> StoreResult<()> {
                    Err(StoreError::Backend("sqs down".into()))
                }
            }
            let world = std::sync::Arc::new(World { fail_sends: true, ..Default::default() });
            let mut c = consumer(&world, china(10, 0));
            c.queue = std::sync::Arc::new(Stuck);
            let r = handle_sms(&c, batch(&[body(&job("n1", 0))])).await;
            assert_eq!(r.batch_item_failures.len(), 1, "kept, to come again after its visibility timeout");
        }
    }
}
