//! In-app notices on DynamoDB.
//!
//! | item   | pk                   | sk       | attributes                    |
//! |--------|----------------------|----------|-------------------------------|
//! | notice | `NOTE#{recipient}`   | `N#{id}` | body, readAt (once read), ttl |
//!
//! A reader's notices are one partition; ids sort by time, so newest first
//! is a backwards Query. A notice is put only if absent (1 WCU), so a
//! redelivered change leaves the first put, read mark and all. The body
//! never changes: reading sets `readAt` beside it. The unread count is a
//! Query of the partition that counts items without `readAt` (a reader
//! holds tens of notices, a few KB: a read unit or two). Notices expire a
//! year after they were written (TTL): the programme is long over by then.
//!
//! The notice's SMS ledger is on its item too: `smsLease` (until when a
//! sender holds it) and `smsSentAt` (sent; never again). A claim is one
//! conditional update, so of two deliveries of the same job one sends.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};
use subsidy_core::error::StoreError;
use subsidy_core::notify::sms::SmsLedger;
use subsidy_core::notify::{Addressed, Notice, NoticeStore};
use subsidy_core::ports::{Page, PageRequest, StoreResult};

use super::*;

/// Seconds a notice is kept (its `ttl`).
const NOTICE_TTL_SECS: i64 = 366 * 24 * 3600;

fn notice_pk(recipient: &str) -> String {
    format!("NOTE#{recipient}")
}

fn notice_sk(id: &str) -> String {
    format!("N#{id}")
}

fn notice_of(item: &Item) -> Result<Notice, StoreError> {
    let mut notice: Notice = body_of(item)?;
    if let Some(at) = str_attr(item, "readAt") {
        notice.read_at = Some(DateTime::parse_from_rfc3339(at).map_err(backend)?.with_timezone(&Utc));
    }
    Ok(notice)
}

impl DynamoStore {
    async fn put_notice(&self, a: &Addressed) -> StoreResult<bool> {
        let mut item = key(notice_pk(&a.to.key()), notice_sk(&a.notice.id));
        item.insert("body".into(), body(&a.notice)?);
        item.insert("ttl".into(), n(a.notice.at.timestamp() + NOTICE_TTL_SECS));
        self.conditional_put(item, "attribute_not_exists(pk)", Default::default()).await
    }

    /// Sets the SMS ledger's attributes on a notice (`update`, with
    /// `values`); a notice that is gone (expired) is left so.
    async fn update_ledger(&self, to: &str, id: &str, update: &str, values: Option<Item>) -> StoreResult<()> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(notice_pk(to), notice_sk(id))))
            .update_expression(update)
            .condition_expression("attribute_exists(pk)")
            .set_expression_attribute_values(values)
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|c| c.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(sdk(e)),
        }
    }
}

#[async_trait]
impl NoticeStore for DynamoStore {
    async fn put_notices(&self, notices: &[Addressed]) -> StoreResult<usize> {
        let puts = futures::future::join_all(notices.iter().map(|a| self.put_notice(a))).await;
        let mut new = 0;
        for put in puts {
            new += usize::from(put?);
        }
        Ok(new)
    }

    async fn notices(&self, recipient: &str, page: &PageRequest) -> StoreResult<Page<Notice>> {
        let limit = page.limit.clamp(1, PageRequest::MAX_LIMIT) as i32;
        let pk = notice_pk(recipient);
        // The cursor names only a sort key: the partition is always the
        // caller's own, whatever a cursor says.
        let start = match page.cursor.as_deref() {
            Some(c) => {
                let sk = String::from_utf8(URL_SAFE_NO_PAD.decode(c).map_err(|_| StoreError::BadCursor)?)
                    .map_err(|_| StoreError::BadCursor)?;
                if !sk.starts_with("N#") {
                    return Err(StoreError::BadCursor);
                }
                Some(key(pk.clone(), sk))
            }
            None => None,
        };
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :p)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":p", s("N#"))
            .scan_index_forward(false)
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(sdk)?;
        let items = out.items().iter().map(notice_of).collect::<Result<Vec<_>, _>>()?;
        let next_cursor =
            out.last_evaluated_key.as_ref().and_then(|k| str_attr(k, "sk")).map(|sk| URL_SAFE_NO_PAD.encode(sk));
        Ok(Page { items, next_cursor })
    }

    async fn unread_notices(&self, recipient: &str) -> StoreResult<u64> {
        let mut count = 0u64;
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :p)")
                .filter_expression("attribute_not_exists(readAt)")
                .expression_attribute_values(":pk", s(notice_pk(recipient)))
                .expression_attribute_values(":p", s("N#"))
                .select(aws_sdk_dynamodb::types::Select::Count)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk)?;
            count += out.count().max(0) as u64;
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(count),
            }
        }
    }

    async fn mark_notice_read(&self, recipient: &str, id: &str, at: DateTime<Utc>) -> StoreResult<Option<Notice>> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(notice_pk(recipient), notice_sk(id))))
            .update_expression("SET readAt = if_not_exists(readAt, :at)")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":at", s(ts(&at)))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match out {
            Ok(out) => out.attributes.as_ref().map(notice_of).transpose(),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(None),
            Err(e) => Err(sdk(e)),
        }
    }
}

#[async_trait]
impl SmsLedger for DynamoStore {
    async fn claim_sms(&self, to: &str, id: &str, now: DateTime<Utc>, lease_until: DateTime<Utc>) -> StoreResult<bool> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(notice_pk(to), notice_sk(id))))
            .update_expression("SET smsLease = :until")
            // The notice is there (its job comes after it), not sent, and
            // no other sender's lease is running.
            .condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(smsSentAt) \
                 AND (attribute_not_exists(smsLease) OR smsLease < :now)",
            )
            .expression_attribute_values(":until", s(ts(&lease_until)))
            .expression_attribute_values(":now", s(ts(&now)))
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(sdk(e)),
        }
    }

    async fn release_sms(&self, to: &str, id: &str) -> StoreResult<()> {
        self.update_ledger(to, id, "REMOVE smsLease", None).await
    }

    async fn sms_sent(&self, to: &str, id: &str, at: DateTime<Utc>) -> StoreResult<()> {
        let values = Item::from([(":at".to_string(), s(ts(&at)))]);
        self.update_ledger(to, id, "SET smsSentAt = :at REMOVE smsLease", Some(values)).await
    }
}
