//! The staff directory on DynamoDB.
//!
//! | item         | pk             | sk               |
//! |--------------|----------------|------------------|
//! | staff member | `STAFF`        | `STAFF#{sub}`    |
//! | audit entry  | `STAFF#{sub}`  | `AUDIT#{seq:010}`|
//!
//! Every member lives in the one `STAFF` partition, so a list is a Query
//! in `sub` order rather than a scan of the table; a directory is small
//! (a city's few thousand staff) and changes rarely, and the functions
//! read a member at most once a minute per container (see
//! [`crate::cache::CachedStaff`]), far under a partition's 3,000 reads a
//! second. The audit entry is written in the same transaction as the
//! member, in the member's own partition.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Put, ReturnValuesOnConditionCheckFailure};
use subsidy_core::audit::AuditEntry;
use subsidy_core::error::StoreError;
use subsidy_core::identity::staff::{StaffFilter, StaffMember, StaffStore};
use subsidy_core::ports::{Page, PageRequest, StoreResult};

use super::*;

const PK: &str = "STAFF";

fn staff_sk(sub: &str) -> String {
    format!("STAFF#{sub}")
}

fn staff_item(m: &StaffMember) -> Result<Item, StoreError> {
    let mut item = key(PK, staff_sk(&m.sub));
    item.insert("version".into(), n(m.version));
    item.insert("body".into(), super::body(m)?);
    Ok(item)
}

#[async_trait]
impl StaffStore for DynamoStore {
    async fn get_staff(&self, sub: &str) -> StoreResult<Option<StaffMember>> {
        self.get_body(PK.to_string(), &staff_sk(sub)).await
    }

    async fn put_staff(&self, member: &StaffMember, expected_version: u64, audit: &AuditEntry) -> StoreResult<()> {
        let mut put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(staff_item(member)?))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        put = if expected_version == 0 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("version = :v").expression_attribute_values(":v", n(expected_version))
        };
        let items = vec![
            condition(put.build().map_err(backend)?),
            condition(self.put(audit_item(audit)?, Some("attribute_not_exists(pk)"))?),
        ];
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TxError::Cancelled(reasons)) => {
                let first = &reasons[0];
                if first.0.as_deref() != Some("ConditionalCheckFailed") {
                    return Err(backend("staff write cancelled"));
                }
                match (expected_version, first.1.as_ref().and_then(|i| num_attr(i, "version"))) {
                    (0, _) => Err(StoreError::AlreadyExists),
                    (_, Some(current)) => Err(StoreError::VersionConflict { current }),
                    (_, None) => Err(StoreError::NotFound),
                }
            }
            Err(TxError::Other(e)) => Err(e),
        }
    }

    async fn list_staff(&self, filter: &StaffFilter, page: &PageRequest) -> StoreResult<Page<StaffMember>> {
        let limit = page.limit.clamp(1, PageRequest::MAX_LIMIT) as usize;
        let mut start = match page.cursor.as_deref() {
            Some(c) => {
                let k = decode_cursor(c, &["pk", "sk"])?;
                let ours =
                    str_attr(&k, "pk") == Some(PK) && str_attr(&k, "sk").is_some_and(|s| s.starts_with("STAFF#"));
                if !ours {
                    return Err(StoreError::BadCursor);
                }
                Some(k)
            }
            None => None,
        };
        let mut items: Vec<StaffMember> = Vec::new();
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :p)")
                .expression_attribute_values(":pk", s(PK))
                .expression_attribute_values(":p", s("STAFF#"))
                .consistent_read(true)
                .limit(200)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk)?;
            for item in out.items() {
                let m: StaffMember = body_of(item)?;
                if filter.matches(&m) {
                    if items.len() == limit {
                        let last = items.last().expect("limit is at least 1");
                        let cursor = encode_cursor(&key(PK, staff_sk(&last.sub)))?;
                        return Ok(Page { items, next_cursor: Some(cursor) });
                    }
                    items.push(m);
                }
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(Page { items, next_cursor: None }),
            }
        }
    }
}
