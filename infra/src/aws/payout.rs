//! The payout port on DynamoDB.
//!
//! | item    | pk                            | sk             | indexed as                              |
//! |---------|-------------------------------|----------------|-----------------------------------------|
//! | batch   | `BATCH#{id}`                  | `BATCH`        | byOwner: `BATCHES#{policy}#{district}`  |
//! | line    | `BATCH#{id}`                  | `LINE#{line}`  |                                         |
//! | audit   | `BATCH#{id}`                  | `AUDIT#{seq}`  |                                         |
//! | budget  | `BUDGET#{policy}#{district}`  | `BUDGET`       |                                         |
//!
//! A claim is one transaction: the application (conditional on its
//! version) and its audit entry, the new line, and the budget (conditional
//! on `remaining ≥ amount`, which it then lowers). DynamoDB conditions
//! cannot add, so the budget keeps `remaining` itself.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use subsidy_core::application::Application;
use subsidy_core::audit::AuditEntry;
use subsidy_core::error::StoreError;
use subsidy_core::money::Fen;
use subsidy_core::payout::{
    AppWrite, Batch, Budget, BudgetKey, BudgetMove, ClaimError, LineStatus, PaymentLine, PayoutStore,
};
use subsidy_core::ports::{Page, PageRequest, StoreResult};

use super::dynamo::{DynamoStore, Item, application_item, audit_item, backend, body, body_of, index, key, n, s};

fn batch_item(b: &Batch) -> Result<Item, StoreError> {
    let mut item = key(format!("BATCH#{}", b.id), "BATCH");
    item.insert("version".into(), n(b.version));
    item.insert("body".into(), body(b)?);
    item.insert("ownerPk".into(), s(format!("BATCHES#{}#{}", b.policy_id, b.district)));
    item.insert("listSk".into(), s(&b.id));
    // Present only while a claim may add a line (`Batch::claimable`):
    // every claim's transaction checks it.
    if b.claimable() {
        item.insert("claimable".into(), AttributeValue::Bool(true));
    }
    Ok(item)
}

/// The claim's check that its batch still takes lines.
fn batch_takes_lines(table: &str, batch_id: &str) -> Result<TransactWriteItem, StoreError> {
    Ok(TransactWriteItem::builder()
        .condition_check(
            ConditionCheck::builder()
                .table_name(table)
                .set_key(Some(key(format!("BATCH#{batch_id}"), "BATCH")))
                .condition_expression("claimable = :t")
                .expression_attribute_values(":t", AttributeValue::Bool(true))
                .build()
                .map_err(backend)?,
        )
        .build())
}

fn line_item(l: &PaymentLine) -> Result<Item, StoreError> {
    let mut item = key(format!("BATCH#{}", l.batch_id), format!("LINE#{}", l.id));
    item.insert("lineStatus".into(), s(l.status.as_str()));
    item.insert("body".into(), body(l)?);
    Ok(item)
}

fn budget_key(policy: &str, district: &str) -> Item {
    key(format!("BUDGET#{policy}#{district}"), "BUDGET")
}

fn fen(item: &Item, name: &str) -> Fen {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()).and_then(Fen::new).unwrap_or_default()
}

fn put(
    table: &str,
    item: Item,
    condition: &str,
    values: HashMap<String, AttributeValue>,
    names: Option<HashMap<String, String>>,
) -> Result<TransactWriteItem, StoreError> {
    Ok(TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name(table)
                .set_item(Some(item))
                .condition_expression(condition)
                .set_expression_attribute_values((!values.is_empty()).then_some(values))
                .set_expression_attribute_names(names)
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .build()
                .map_err(backend)?,
        )
        .build())
}

/// The application's conditional write, its audit entry riding on it.
fn app_writes(
    table: &str,
    app: &Application,
    expected: u64,
    audit: &AuditEntry,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    Ok(vec![put(
        table,
        application_item(app, audit)?,
        "version = :v",
        HashMap::from([(":v".to_string(), n(expected))]),
        None,
    )?])
}

fn budget_update(
    table: &str,
    policy: &str,
    district: &str,
    m: BudgetMove,
    cover: Option<i64>,
) -> Result<TransactWriteItem, StoreError> {
    let mut values = HashMap::from([
        (":c".to_string(), n(m.committed)),
        (":p".to_string(), n(m.paid)),
        (":r".to_string(), n(m.remaining)),
    ]);
    let mut b = Update::builder()
        .table_name(table)
        .set_key(Some(budget_key(policy, district)))
        .update_expression("ADD #committed :c, #paid :p, #remaining :r")
        .expression_attribute_names("#committed", "committed")
        .expression_attribute_names("#paid", "paid")
        .expression_attribute_names("#remaining", "remaining");
    if let Some(amount) = cover {
        values.insert(":amt".into(), n(amount));
        b = b.condition_expression("#remaining >= :amt");
    }
    Ok(TransactWriteItem::builder()
        .update(b.set_expression_attribute_values(Some(values)).build().map_err(backend)?)
        .build())
}

/// Which action of a transaction failed its condition, if any.
fn failed_at(e: &StoreError) -> Option<usize> {
    match e {
        StoreError::Backend(m) => m.strip_prefix("condition failed at ").and_then(|i| i.parse().ok()),
        _ => None,
    }
}

impl DynamoStore {
    /// A transaction; a failed condition is reported with its position.
    async fn transact_at(&self, items: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        match self.client().transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c)) => {
                    let at = c.cancellation_reasons().iter().position(|r| r.code() == Some("ConditionalCheckFailed"));
                    Err(match at {
                        Some(i) => StoreError::Backend(format!("condition failed at {i}")),
                        None => backend(format!("transaction cancelled: {c}")),
                    })
                }
                _ => Err(backend(format!("dynamodb: {e:?}"))),
            },
        }
    }
}

#[async_trait]
impl PayoutStore for DynamoStore {
    async fn create_batch(&self, batch: &Batch, audit: &AuditEntry) -> StoreResult<()> {
        let t = self.table();
        self.transact_items(vec![
            put(t, batch_item(batch)?, "attribute_not_exists(pk)", HashMap::new(), None)?,
            put(t, audit_item(audit)?, "attribute_not_exists(pk)", HashMap::new(), None)?,
        ])
        .await
    }

    async fn get_batch(&self, id: &str) -> StoreResult<Option<Batch>> {
        self.get_item(format!("BATCH#{id}"), "BATCH").await?.map(|i| body_of(&i)).transpose()
    }

    async fn update_batch(&self, batch: &Batch, expected_version: u64, audit: Option<&AuditEntry>) -> StoreResult<()> {
        let t = self.table();
        let mut items = vec![put(
            t,
            batch_item(batch)?,
            "version = :v",
            HashMap::from([(":v".to_string(), n(expected_version))]),
            None,
        )?];
        if let Some(a) = audit {
            items.push(put(t, audit_item(a)?, "attribute_not_exists(pk)", HashMap::new(), None)?);
        }
        match self.transact_at(items).await {
            Ok(()) => Ok(()),
            Err(e) if failed_at(&e).is_some() => {
                let current = self.get_batch(&batch.id).await?.map(|b| b.version).ok_or(StoreError::NotFound)?;
                Err(StoreError::VersionConflict { current })
            }
            Err(e) => Err(e),
        }
    }

    async fn batches_of(&self, policy_id: &str, district: &str, page: &PageRequest) -> StoreResult<Page<Batch>> {
        self.index_page(index::BY_OWNER, "ownerPk", &format!("BATCHES#{policy_id}#{district}"), "listSk", false, page)
            .await
    }

    async fn budget(&self, policy_id: &str, district: &str, allocated: Fen) -> StoreResult<Budget> {
        let k = budget_key(policy_id, district);
        if self.get_item(format!("BUDGET#{policy_id}#{district}"), "BUDGET").await?.is_none() {
            let mut item = k.clone();
            item.insert("allocated".into(), n(allocated.fen()));
            item.insert("committed".into(), n(0));
            item.insert("paid".into(), n(0));
            item.insert("remaining".into(), n(allocated.fen()));
            self.conditional_put(item, "attribute_not_exists(pk)", HashMap::new()).await?;
        }
        let item =
            self.get_item(format!("BUDGET#{policy_id}#{district}"), "BUDGET").await?.ok_or(StoreError::NotFound)?;
        Ok(Budget {
            allocated: fen(&item, "allocated"),
            committed: fen(&item, "committed"),
            paid: fen(&item, "paid"),
            remaining: fen(&item, "remaining"),
        })
    }

    async fn claim(
        &self,
        w: AppWrite<'_>,
        line: &PaymentLine,
        key: BudgetKey<'_>,
        allocated: Fen,
    ) -> Result<(), ClaimError> {
        let (policy_id, district) = (key.policy_id, key.district);
        self.budget(policy_id, district, allocated).await?;
        let t = self.table();
        let m = line.amount.fen();
        // The batch's check first: a closed batch is reported as such,
        // whatever else failed with it.
        let mut items = vec![batch_takes_lines(t, &line.batch_id)?];
        items.extend(app_writes(t, w.app, w.expected_version, w.audit)?);
        items.push(put(t, line_item(line)?, "attribute_not_exists(pk)", HashMap::new(), None)?);
        let budget_at = items.len();
        items.push(budget_update(
            t,
            policy_id,
            district,
            BudgetMove { committed: m, paid: 0, remaining: -m },
            Some(m),
        )?);
        match self.transact_at(items).await {
            Ok(()) => Ok(()),
            Err(e) => match failed_at(&e) {
                Some(0) => Err(ClaimError::Closed),
                Some(i) if i == budget_at => Err(ClaimError::OverBudget),
                Some(_) => Err(ClaimError::Moved),
                None => Err(ClaimError::Store(e)),
            },
        }
    }

    async fn settle(
        &self,
        w: AppWrite<'_>,
        line: &PaymentLine,
        key: BudgetKey<'_>,
        budget: BudgetMove,
    ) -> Result<(), ClaimError> {
        let (policy_id, district) = (key.policy_id, key.district);
        let t = self.table();
        let mut items = app_writes(t, w.app, w.expected_version, w.audit)?;
        items.push(put(
            t,
            line_item(line)?,
            "#st = :pending",
            HashMap::from([(":pending".to_string(), s(LineStatus::Pending.as_str()))]),
            Some(HashMap::from([("#st".to_string(), "lineStatus".to_string())])),
        )?);
        items.push(budget_update(t, policy_id, district, budget, None)?);
        match self.transact_at(items).await {
            Ok(()) => Ok(()),
            Err(e) if failed_at(&e).is_some() => Err(ClaimError::Moved),
            Err(e) => Err(ClaimError::Store(e)),
        }
    }

    async fn repay(&self, w: AppWrite<'_>, key: BudgetKey<'_>, budget: BudgetMove) -> Result<(), ClaimError> {
        let t = self.table();
        let mut items = app_writes(t, w.app, w.expected_version, w.audit)?;
        items.push(budget_update(t, key.policy_id, key.district, budget, None)?);
        match self.transact_at(items).await {
            Ok(()) => Ok(()),
            Err(e) if failed_at(&e).is_some() => Err(ClaimError::Moved),
            Err(e) => Err(ClaimError::Store(e)),
        }
    }

    async fn lines_of(&self, batch_id: &str, page: &PageRequest) -> StoreResult<Page<PaymentLine>> {
        self.partition_page(format!("BATCH#{batch_id}"), "LINE#", page).await
    }

    async fn get_line(&self, batch_id: &str, line_id: &str) -> StoreResult<Option<PaymentLine>> {
        self.get_item(format!("BATCH#{batch_id}"), &format!("LINE#{line_id}")).await?.map(|i| body_of(&i)).transpose()
    }
}
