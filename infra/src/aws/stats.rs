//! The stats port on DynamoDB.
//!
//! | item            | pk                        | sk            |
//! |-----------------|---------------------------|---------------|
//! | unit counters   | `STATS#{policy}#{unit}`   | `TOTALS`      |
//! | reference count | `STATS#{policy}#{unit}`   | `CO#{company}`|
//! | log of a run    | `APP#{id}` (first change) | `AGG#{version}`|
//!
//! A commit is one `TransactWriteItems`: the log (the changes the commit
//! counted, keyed by the first) and reference counts are conditional puts,
//! counters are `ADD`s (so concurrent shards never lose an increment) that
//! also bump the unit's version. Each unit is its own partition: no single
//! hot partition takes every commit. A log expires by TTL after
//! [`LOG_RETENTION`]; Lambda redelivers a stream batch from its first
//! record, so a log is only ever looked up by its first change.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use subsidy_core::error::StoreError;
use subsidy_core::ports::StoreResult;
use subsidy_core::stats::{
    ChangeKey, Counter, LOG_RETENTION, LogWrite, RefWrite, StatsCommit, StatsStore, Totals, UnitKey, UnitTotals, Wait,
};

use super::dynamo::{DynamoStore, Item, backend, key, n, s};

fn unit_pk(k: &UnitKey) -> String {
    format!("STATS#{}#{}", k.policy_id, k.unit)
}

fn unit_of(item: &Item) -> UnitTotals {
    let num = |name: &str| item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
    let mut totals = Totals::default();
    for c in Counter::ALL {
        totals.add(c, num(c.name()));
    }
    // Waiting buckets, the ones back at zero too (the nightly repair
    // drops those).
    for (name, v) in item {
        if let (Some(w), Some(v)) = (Wait::parse(name), v.as_n().ok().and_then(|v| v.parse::<i64>().ok())) {
            totals.add_waiting(w, v);
        }
    }
    UnitTotals {
        totals,
        version: num("version") as u64,
        updated_at: item
            .get("updatedAt")
            .and_then(|v| v.as_s().ok())
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc)),
    }
}

/// A log's (pk, sk): its first change's.
fn log_key(first: &ChangeKey) -> (String, String) {
    (format!("APP#{}", first.application_id), format!("AGG#{}", first.version))
}

/// A log's changes, as one string: `id@version,id@version,…`.
fn changes_of(item: &Item) -> Result<Vec<ChangeKey>, StoreError> {
    let list = item.get("changes").and_then(|v| v.as_s().ok()).ok_or_else(|| backend("a log without changes"))?;
    list.split(',').map(|c| c.parse::<ChangeKey>().map_err(backend)).collect()
}

fn log_put(table: &str, log: &LogWrite, at: &DateTime<Utc>) -> Result<Put, StoreError> {
    let (pk, sk) = log_key(log.first());
    let mut item = key(pk, sk);
    let list: Vec<String> = log.changes.iter().map(ToString::to_string).collect();
    item.insert("changes".into(), s(list.join(",")));
    item.insert("at".into(), n(at.timestamp()));
    item.insert("ttl".into(), n((*at + LOG_RETENTION).timestamp()));
    Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .map_err(backend)
}

fn ref_write(table: &str, r: &RefWrite) -> Result<TransactWriteItem, StoreError> {
    let k = key(unit_pk(&r.key), format!("CO#{}", r.company_id));
    let cond = |old: i64| if old == 0 { "attribute_not_exists(pk)" } else { "n = :old" };
    Ok(if r.new == 0 {
        TransactWriteItem::builder()
            .delete(
                Delete::builder()
                    .table_name(table)
                    .set_key(Some(k))
                    .condition_expression(cond(r.old))
                    .set_expression_attribute_values(
                        (r.old != 0).then(|| HashMap::from([(":old".to_string(), n(r.old))])),
                    )
                    .build()
                    .map_err(backend)?,
            )
            .build()
    } else {
        let mut item = k;
        item.insert("n".into(), n(r.new));
        item.insert("policyId".into(), s(&r.key.policy_id));
        item.insert("unitCode".into(), s(&r.key.unit));
        item.insert("companyId".into(), s(&r.company_id));
        TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(table)
                    .set_item(Some(item))
                    .condition_expression(cond(r.old))
                    .set_expression_attribute_values(
                        (r.old != 0).then(|| HashMap::from([(":old".to_string(), n(r.old))])),
                    )
                    .build()
                    .map_err(backend)?,
            )
            .build()
    })
}

fn unit_add(table: &str, k: &UnitKey, delta: &Totals, at: &DateTime<Utc>) -> Result<TransactWriteItem, StoreError> {
    let mut names = HashMap::new();
    let mut values = HashMap::from([
        (":one".to_string(), n(1)),
        (":at".to_string(), s(at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))),
        (":policy".to_string(), s(&k.policy_id)),
        (":unit".to_string(), s(&k.unit)),
    ]);
    let mut adds = vec!["version :one".to_string()];
    for (i, (name, v)) in delta.entries().filter(|(_, v)| *v != 0).enumerate() {
        names.insert(format!("#c{i}"), name);
        values.insert(format!(":c{i}"), n(v));
        adds.push(format!("#c{i} :c{i}"));
    }
    let expr = format!("SET updatedAt = :at, policyId = :policy, unitCode = :unit ADD {}", adds.join(", "));
    Ok(TransactWriteItem::builder()
        .update(
            Update::builder()
                .table_name(table)
                .set_key(Some(key(unit_pk(k), "TOTALS")))
                .update_expression(expr)
                .set_expression_attribute_names((!names.is_empty()).then_some(names))
                .set_expression_attribute_values(Some(values))
                .build()
                .map_err(backend)?,
        )
        .build())
}

impl DynamoStore {
    /// Every item matching a filter, across pages.
    async fn scan_all(
        &self,
        filter: &str,
        values: HashMap<String, AttributeValue>,
        names: Option<HashMap<String, String>>,
    ) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client()
                .scan()
                .table_name(self.table())
                .filter_expression(filter)
                .set_expression_attribute_values(Some(values.clone()))
                .set_expression_attribute_names(names.clone())
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| backend(format!("dynamodb scan: {e:?}")))?;
            out.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
    }
}

#[async_trait]
impl StatsStore for DynamoStore {
    async fn logged(&self, change: &ChangeKey) -> StoreResult<Option<Vec<ChangeKey>>> {
        let (pk, sk) = log_key(change);
        match self.get_item(pk, &sk).await? {
            Some(item) => Ok(Some(changes_of(&item)?)),
            None => Ok(None),
        }
    }

    async fn company_refs(&self, keys: &[(UnitKey, String)]) -> StoreResult<HashMap<(UnitKey, String), i64>> {
        let wanted: HashMap<(String, String), (UnitKey, String)> =
            keys.iter().map(|(k, c)| ((unit_pk(k), format!("CO#{c}")), (k.clone(), c.clone()))).collect();
        let items = self.batch_items(wanted.keys().map(|(pk, sk)| key(pk.clone(), sk)).collect()).await?;
        let mut out = HashMap::new();
        for item in items {
            let pk = item.get("pk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            let sk = item.get("sk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            let v: i64 = item.get("n").and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()).unwrap_or(0);
            if let Some(k) = wanted.get(&(pk, sk)).filter(|_| v != 0) {
                out.insert(k.clone(), v);
            }
        }
        Ok(out)
    }

    async fn commit(&self, commit: &StatsCommit) -> StoreResult<()> {
        let table = self.table();
        let mut items = Vec::with_capacity(commit.items());
        items.push(TransactWriteItem::builder().put(log_put(table, &commit.log, &commit.at)?).build());
        for r in &commit.refs {
            items.push(ref_write(table, r)?);
        }
        for (k, delta) in &commit.units {
            items.push(unit_add(table, k, delta, &commit.at)?);
        }
        self.transact_items(items).await
    }

    async fn unit_totals(&self, keys: &[UnitKey]) -> StoreResult<HashMap<UnitKey, UnitTotals>> {
        let by_pk: HashMap<String, UnitKey> = keys.iter().map(|k| (unit_pk(k), k.clone())).collect();
        let items = self.batch_items(by_pk.keys().map(|pk| key(pk.clone(), "TOTALS")).collect()).await?;
        Ok(items
            .iter()
            .filter_map(|i| {
                let pk = i.get("pk")?.as_s().ok()?;
                Some((by_pk.get(pk)?.clone(), unit_of(i)))
            })
            .collect())
    }

    async fn all_units(&self, policy_id: &str) -> StoreResult<HashMap<String, UnitTotals>> {
        let items = self
            .scan_all(
                "begins_with(pk, :p) AND sk = :t",
                HashMap::from([(":p".to_string(), s(format!("STATS#{policy_id}#"))), (":t".to_string(), s("TOTALS"))]),
                None,
            )
            .await?;
        Ok(items
            .iter()
            .filter_map(|i| i.get("unitCode").and_then(|u| u.as_s().ok()).map(|u| (u.clone(), unit_of(i))))
            .collect())
    }

    async fn all_refs(&self, policy_id: &str) -> StoreResult<HashMap<(String, String), i64>> {
        let items = self
            .scan_all(
                "begins_with(pk, :p) AND begins_with(sk, :c)",
                HashMap::from([(":p".to_string(), s(format!("STATS#{policy_id}#"))), (":c".to_string(), s("CO#"))]),
                None,
            )
            .await?;
        Ok(items
            .iter()
            .filter_map(|i| {
                let unit = i.get("unitCode")?.as_s().ok()?.clone();
                let company = i.get("companyId")?.as_s().ok()?.clone();
                let v: i64 = i.get("n")?.as_n().ok()?.parse().ok()?;
                (v != 0).then_some(((unit, company), v))
            })
            .collect())
    }

    async fn logged_since(&self, since: DateTime<Utc>) -> StoreResult<Vec<ChangeKey>> {
        let items = self
            .scan_all(
                "begins_with(sk, :agg) AND #at >= :since",
                HashMap::from([(":agg".to_string(), s("AGG#")), (":since".to_string(), n(since.timestamp()))]),
                Some(HashMap::from([("#at".to_string(), "at".to_string())])),
            )
            .await?;
        let mut out = Vec::new();
        for i in &items {
            out.extend(changes_of(i)?);
        }
        Ok(out)
    }

    async fn prune_logs(&self, _before: DateTime<Utc>) -> StoreResult<u64> {
        // The table's TTL (`ttl`) deletes them, without a write unit.
        Ok(0)
    }

    async fn repair_unit(&self, k: &UnitKey, totals: &Totals, expected: u64, at: DateTime<Utc>) -> StoreResult<bool> {
        let mut item = key(unit_pk(k), "TOTALS");
        // A put: buckets back at zero are dropped.
        for (name, v) in totals.entries() {
            item.insert(name, n(v));
        }
        item.insert("version".into(), n(expected + 1));
        item.insert("updatedAt".into(), s(at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)));
        item.insert("policyId".into(), s(&k.policy_id));
        item.insert("unitCode".into(), s(&k.unit));
        let cond = if expected == 0 { "attribute_not_exists(pk) OR version = :v" } else { "version = :v" };
        self.conditional_put(item, cond, HashMap::from([(":v".to_string(), n(expected))])).await
    }

    async fn repair_ref(&self, r: &RefWrite) -> StoreResult<bool> {
        match self.transact_items(vec![ref_write(self.table(), r)?]).await {
            Ok(()) => Ok(true),
            Err(StoreError::VersionConflict { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
