//! The table's change stream as the consumers read it: which records are
//! applications, and their before and after images. This is the single-table
//! item shape's other reader (the DynamoDB adapter writes it); a test holds
//! the two together.

use async_trait::async_trait;
use aws_lambda_events::dynamodb::EventRecord;
use subsidy_core::application::Application;
use subsidy_core::application::dispatch::ChangeRecord;
use subsidy_core::audit::AuditEntry;
use subsidy_core::error::StoreError;

/// The sort key of an application's own item (`APP#{id}` / `APP`).
pub const APPLICATION_SK: &str = "APP";

/// The sort key of a payment batch's own item (`BATCH#{id}` / `BATCH`).
pub const BATCH_SK: &str = "BATCH";

/// The sort key prefix of a document's item, in its application's partition.
pub const DOCUMENT_SK_PREFIX: &str = "DOC#";

/// The attribute holding a record's compact JSON (src/compact.rs).
pub const BODY: &str = "body";

/// The key of an application's body that carries its last audit entry
/// (the DynamoDB adapter's `PENDING_AUDIT`).
pub const PENDING_AUDIT: &str = "pendingAudit";

fn stored_body(image: &serde_dynamo::Item) -> Result<&[u8], String> {
    match image.get(BODY) {
        Some(serde_dynamo::AttributeValue::B(b)) => Ok(b.as_slice()),
        Some(serde_dynamo::AttributeValue::S(b)) => Ok(b.as_bytes()),
        _ => Err("application image without a body".into()),
    }
}

fn application(image: &serde_dynamo::Item) -> Result<Option<Application>, String> {
    if image.is_empty() {
        return Ok(None);
    }
    crate::compact::decode(stored_body(image)?).map(Some).map_err(|e| format!("application image does not parse: {e}"))
}

/// The audit entry that rode on an application's or a document's item
/// (its new image): the stream consumer writes it out to its own item
/// ([`AuditWriteOut`]). `None` for other items, deletions, and images from
/// before entries rode on the item.
pub fn pending_audit(record: &EventRecord) -> Result<Option<AuditEntry>, String> {
    let Some(serde_dynamo::AttributeValue::S(sk)) = record.change.keys.get("sk") else { return Ok(None) };
    let document = sk.strip_prefix(DOCUMENT_SK_PREFIX);
    if (sk != APPLICATION_SK && document.is_none())
        || record.event_name == "REMOVE"
        || record.change.new_image.is_empty()
    {
        return Ok(None);
    }
    let mut body: serde_json::Value = crate::compact::decode(stored_body(&record.change.new_image)?)
        .map_err(|e| format!("image of {sk} does not parse: {e}"))?;
    let entry: AuditEntry = match body.get_mut(PENDING_AUDIT).map(serde_json::Value::take) {
        Some(e) => serde_json::from_value(e).map_err(|e| format!("pending audit entry does not parse: {e}"))?,
        None => return Ok(None),
    };
    // Written out where its subject says: only into this item's own chain
    // (an application's, or this document's), never another's (or, beyond
    // the role's reach anyway, a company's or a batch's).
    let application = match record.change.keys.get("pk") {
        Some(serde_dynamo::AttributeValue::S(pk)) => pk.strip_prefix("APP#"),
        _ => None,
    };
    let own = match (application, document) {
        (Some(app), None) => entry.subject == app,
        (Some(app), Some(doc)) => entry.subject == subsidy_core::documents::audit_subject(app, doc),
        _ => false,
    };
    if !own {
        return Err(format!(
            "the audit entry on {:?}/{sk} names another chain ({})",
            record.change.keys.get("pk"),
            entry.subject
        ));
    }
    Ok(Some(entry))
}

/// Where the stream consumer writes the audit entries that rode on
/// application items, each to its own item. Idempotent: an entry already
/// written is written again with the same content.
#[async_trait]
pub trait AuditWriteOut: Send + Sync {
    async fn write_out(&self, entries: &[AuditEntry]) -> Result<(), StoreError>;
}

/// The change an application item's stream record carries, or `None` for
/// other items (audit entries, documents, claims, counters...) and deletions.
/// The change to a payment batch a stream record carries; `None` for
/// other items and deletions.
pub fn batch_change_of(record: &EventRecord) -> Result<Option<subsidy_core::notify::BatchChange>, String> {
    let is_batch = matches!(record.change.keys.get("sk"), Some(serde_dynamo::AttributeValue::S(sk)) if sk == BATCH_SK);
    if !is_batch || record.event_name == "REMOVE" || record.change.new_image.is_empty() {
        return Ok(None);
    }
    let batch = |image: &serde_dynamo::Item| -> Result<Option<subsidy_core::payout::Batch>, String> {
        if image.is_empty() {
            return Ok(None);
        }
        crate::compact::decode(stored_body(image)?).map(Some).map_err(|e| format!("batch image does not parse: {e}"))
    };
    let new = batch(&record.change.new_image)?.ok_or("batch record without a new image")?;
    Ok(Some(subsidy_core::notify::BatchChange { old: batch(&record.change.old_image)?, new }))
}

pub fn change_of(record: &EventRecord) -> Result<Option<ChangeRecord>, String> {
    let is_application =
        matches!(record.change.keys.get("sk"), Some(serde_dynamo::AttributeValue::S(sk)) if sk == APPLICATION_SK);
    if !is_application || record.event_name == "REMOVE" {
        return Ok(None);
    }
    let Some(new) = application(&record.change.new_image)? else {
        return Err("application record without a new image".into());
    };
    Ok(Some(ChangeRecord { old: application(&record.change.old_image)?, new }))
}
