//! The table's change stream as the consumers read it: which records are
//! applications, and their before and after images. This is the single-table
//! item shape's other reader (the DynamoDB adapter writes it); a test holds
//! the two together.

use aws_lambda_events::dynamodb::EventRecord;
use subsidy_core::application::Application;
use subsidy_core::application::dispatch::ChangeRecord;

/// The sort key of an application's own item (`APP#{id}` / `APP`).
pub const APPLICATION_SK: &str = "APP";
/// The attribute holding a record's JSON.
pub const BODY: &str = "body";

fn application(image: &serde_dynamo::Item) -> Result<Option<Application>, String> {
    if image.is_empty() {
        return Ok(None);
    }
    let body = match image.get(BODY) {
        Some(serde_dynamo::AttributeValue::S(b)) => b,
        _ => return Err("application image without a body".into()),
    };
    serde_json::from_str(body).map(Some).map_err(|e| format!("application image does not parse: {e}"))
}

/// The change an application item's stream record carries, or `None` for
/// other items (audit entries, documents, claims, counters...) and deletions.
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
