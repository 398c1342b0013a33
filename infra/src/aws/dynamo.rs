//! The DynamoDB single-table adapter: every storage port on one table.
//!
//! Key design (see `docs/dynamodb.md` for the write-unit cost of each
//! transition):
//!
//! | item        | pk                         | sk                 | indexed as                                   |
//! |-------------|----------------------------|--------------------|----------------------------------------------|
//! | policy      | `POLICY#{id}`              | `POLICY`           |                                              |
//! | company     | `COMPANY#{id}`             | `COMPANY`          |                                              |
//! | owner lock  | `OWNER#{owner}`            | `COMPANY`          | (one company per account)                    |
//! | credit lock | `CREDIT#{code}`            | `COMPANY`          | (one company per credit code)                |
//! | project     | `PROJECT#{id}`             | `PROJECT`          | byOwner, byName                              |
//! | application | `APP#{id}`                 | `APP`              | byOwner, byProject, byInbox, by{level}, byManager |
//! | audit entry | `APP#{id}`                 | `AUDIT#{seq:010}`  |                                              |
//! | document    | `APP#{id}`                 | `DOC#{id}`         |                                              |
//! | pre-checks  | `APP#{id}`                 | `PRECHECK#{tier}`  |                                              |
//! | claim       | `CLAIM#{policy}#{project}` | `CLAIM`            | (one live application per project)          |
//! | idempotency | `IDEM#{key}`               | `IDEM`             | (expires by TTL)                             |
//! | staff member| `STAFF`                    | `STAFF#{sub}`      | (one partition: see `dynamo/staff.rs`)       |
//! | staff audit | `STAFF#{sub}`              | `AUDIT#{seq:010}`  |                                              |
//! | notice      | `NOTE#{recipient}`         | `N#{id}`           | (expires by TTL: see `dynamo/notices.rs`)    |
//!
//! Every GSI projects keys only, so a write that does not change an index
//! key costs that index nothing; lists read the keys, then the bodies with
//! one BatchGetItem. Unit and manager keys exist only once an application is
//! submitted (staff never see drafts), and the inbox key only while it waits
//! somewhere, so those indexes are sparse.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, KeysAndAttributes, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use subsidy_core::application::Application;
use subsidy_core::application::precheck::PrecheckReport;
use subsidy_core::application::state::State;
use subsidy_core::audit::AuditEntry;
use subsidy_core::company::{Company, Project};
use subsidy_core::documents::Document;
use subsidy_core::error::StoreError;
use subsidy_core::identity::authz::Scope;
use subsidy_core::jurisdiction::Level;
use subsidy_core::policy::Policy;
use subsidy_core::ports::*;

mod eta;
mod notices;
mod staff;
mod views;

pub(crate) type Item = HashMap<String, AttributeValue>;

/// Index names, shared with `template.yaml`.
pub mod index {
    pub const BY_OWNER: &str = "byOwner";
    pub const BY_PROJECT: &str = "byProject";
    pub const BY_NAME: &str = "byName";
    pub const BY_INBOX: &str = "byInbox";
    pub const BY_COMMUNITY: &str = "byCommunity";
    pub const BY_SUBDISTRICT: &str = "bySubdistrict";
    pub const BY_DISTRICT: &str = "byDistrict";
    pub const BY_CITY: &str = "byCity";
    pub const BY_MANAGER: &str = "byManager";

    /// Every index, with its hash and range key attributes.
    pub const ALL: [(&str, &str, &str); 9] = [
        (BY_OWNER, "ownerPk", "listSk"),
        (BY_PROJECT, "projectPk", "listSk"),
        (BY_NAME, "namePk", "listSk"),
        (BY_INBOX, "inboxPk", "inboxSk"),
        (BY_COMMUNITY, "communityPk", "listSk"),
        (BY_SUBDISTRICT, "subdistrictPk", "listSk"),
        (BY_DISTRICT, "districtPk", "listSk"),
        (BY_CITY, "cityPk", "listSk"),
        (BY_MANAGER, "managerPk", "listSk"),
    ];
}

/// Idempotency records live a week.
const IDEMPOTENCY_TTL_SECS: i64 = 7 * 24 * 3600;

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(crate) fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

pub(crate) fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// The service error's code and message, for logs; SdkError's Display says
/// only "service error".
pub(crate) fn sdk<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    match e.as_service_error() {
        Some(se) => StoreError::Backend(format!(
            "dynamodb {}: {}",
            se.code().unwrap_or("error"),
            se.message().unwrap_or_default()
        )),
        None => StoreError::Backend(format!("dynamodb: {e:?}")),
    }
}

pub(crate) fn str_attr<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

pub(crate) fn num_attr(item: &Item, name: &str) -> Option<u64> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}

/// A record as its item's `body`: compact JSON (src/compact.rs), binary.
pub(crate) fn body<T: Serialize>(v: &T) -> Result<AttributeValue, StoreError> {
    Ok(AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(crate::compact::encode(v).map_err(backend)?)))
}

/// Decodes the record in an item's `body`: compact binary, or the JSON
/// string items were written with before bodies were compact.
pub fn body_of<T: DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    let stored = match item.get("body") {
        Some(AttributeValue::B(b)) => b.as_ref(),
        Some(AttributeValue::S(s)) => s.as_bytes(),
        _ => return Err(StoreError::Backend("item without body".into())),
    };
    crate::compact::decode(stored).map_err(backend)
}

pub(crate) fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

pub fn app_pk(id: &str) -> String {
    format!("APP#{id}")
}

/// The inbox key of an application waiting somewhere: its state and the
/// unit (or manager) it waits for.
fn inbox_key(app: &Application) -> Option<String> {
    let unit = match app.state {
        State::AwaitingAreaConfirmation => app.project.manager_phone.as_str(),
        State::PendingCommunity => &app.jurisdiction.community,
        State::PendingSubdistrict => &app.jurisdiction.subdistrict,
        State::PendingDistrict => &app.jurisdiction.district,
        // The district's public notice (公示) is read from here.
        State::InPublicNotice => &app.jurisdiction.district,
        _ => return None,
    };
    Some(format!("{}#{unit}", app.state.as_str()))
}

/// The key of an application's body that carries the audit entry of the
/// write that made it, until the stream consumer writes the entry out to
/// its own item (see [`ApplicationStore::audit_trail`] below, and
/// docs/dynamodb.md, "What one transition writes").
pub use crate::stream::PENDING_AUDIT;

/// The audit entry riding on an application's item, if any (items written
/// before entries rode on them have none).
pub fn pending_audit(item: &Item) -> Result<Option<AuditEntry>, StoreError> {
    let mut record: serde_json::Value = body_of(item)?;
    match record.get_mut(PENDING_AUDIT).map(serde_json::Value::take) {
        Some(e) => serde_json::from_value(e).map(Some).map_err(backend),
        None => Ok(None),
    }
}

/// The full item of an application, with every index key it should carry,
/// and the audit entry of this write riding in its body. Readers of the
/// body as an [`Application`] ignore the entry.
pub fn application_item(app: &Application, audit: &AuditEntry) -> Result<Item, StoreError> {
    let mut item = key(app_pk(&app.id), "APP");
    item.insert("version".into(), n(app.version));
    item.insert("state".into(), s(app.state.as_str()));
    let mut record = serde_json::to_value(app).map_err(backend)?;
    record[PENDING_AUDIT] = serde_json::to_value(audit).map_err(backend)?;
    item.insert("body".into(), body(&record)?);
    item.insert("listSk".into(), s(&app.id));
    item.insert("ownerPk".into(), s(format!("{}#APP", app.owner)));
    item.insert("projectPk".into(), s(&app.project_id));
    if app.state != State::Draft {
        let j = &app.jurisdiction;
        item.insert("communityPk".into(), s(&j.community));
        item.insert("subdistrictPk".into(), s(&j.subdistrict));
        item.insert("districtPk".into(), s(&j.district));
        item.insert("cityPk".into(), s(&j.city));
        item.insert("managerPk".into(), s(app.project.manager_phone.as_str()));
    }
    if let Some(k) = inbox_key(app) {
        item.insert("inboxPk".into(), s(k));
        item.insert("inboxSk".into(), s(format!("{}#{}", ts(&app.state_since), app.id)));
    }
    Ok(item)
}

fn project_item(p: &Project) -> Result<Item, StoreError> {
    let mut item = key(format!("PROJECT#{}", p.id), "PROJECT");
    item.insert("version".into(), n(p.version));
    item.insert("body".into(), body(p)?);
    item.insert("listSk".into(), s(&p.id));
    item.insert("ownerPk".into(), s(format!("{}#PROJECT", p.owner)));
    item.insert("namePk".into(), s(format!("{}#{}", p.details.community, p.details.name.as_str())));
    Ok(item)
}

fn encode_cursor(lek: &Item) -> Result<String, StoreError> {
    let mut map = std::collections::BTreeMap::new();
    for (k, v) in lek {
        map.insert(k.clone(), v.as_s().map_err(|_| backend("non-string key in LastEvaluatedKey"))?.clone());
    }
    Ok(URL_SAFE_NO_PAD.encode(serde_json::to_vec(&map).map_err(backend)?))
}

/// Decodes a cursor into an ExclusiveStartKey, accepting only the key
/// attributes this query can return.
fn decode_cursor(c: &str, allowed: &[&str]) -> Result<Item, StoreError> {
    let bytes = URL_SAFE_NO_PAD.decode(c).map_err(|_| StoreError::BadCursor)?;
    let map: HashMap<String, String> = serde_json::from_slice(&bytes).map_err(|_| StoreError::BadCursor)?;
    if map.is_empty() || map.keys().any(|k| !allowed.contains(&k.as_str())) {
        return Err(StoreError::BadCursor);
    }
    Ok(map.into_iter().map(|(k, v)| (k, s(v))).collect())
}

/// Why a transaction was cancelled: the reasons, one per action, in order.
enum TxError {
    /// Reasons per item (code, item as it was).
    Cancelled(Vec<(Option<String>, Option<Item>)>),
    Other(StoreError),
}

fn condition(put: Put) -> TransactWriteItem {
    TransactWriteItem::builder().put(put).build()
}

impl DynamoStore {
    /// Every record of one kind (`pk` starting with `pk_prefix`, `sk` equal
    /// to `sk`), a page at a time, by a filtered scan (whole-store jobs).
    async fn scan_records<T: DeserializeOwned>(
        &self,
        pk_prefix: &str,
        sk: &str,
        page: &PageRequest,
    ) -> StoreResult<Page<T>> {
        let limit = page.limit.clamp(1, PageRequest::MAX_LIMIT) as usize;
        let mut start = page.cursor.as_deref().map(|c| decode_cursor(c, &["pk", "sk"])).transpose()?;
        let mut items = Vec::new();
        // Scan evaluates its Limit before the filter, so read until the page is full.
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("sk = :sk AND begins_with(pk, :p)")
                .expression_attribute_values(":sk", s(sk))
                .expression_attribute_values(":p", s(pk_prefix))
                .limit(200)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk)?;
            for item in out.items() {
                items.push(body_of::<T>(item)?);
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() && items.len() < limit => start = Some(k),
                Some(k) if !k.is_empty() => return Ok(Page { items, next_cursor: Some(encode_cursor(&k)?) }),
                _ => return Ok(Page { items, next_cursor: None }),
            }
        }
    }

    pub fn new(client: Client, table: impl Into<String>) -> DynamoStore {
        DynamoStore { client, table: table.into() }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn put(&self, item: Item, cond: Option<&str>) -> Result<Put, StoreError> {
        let mut b = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(c) = cond {
            b = b.condition_expression(c);
        }
        b.build().map_err(backend)
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), TxError> {
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c)) => {
                    Err(TxError::Cancelled(
                        c.cancellation_reasons().iter().map(|r| (r.code().map(str::to_string), r.item().cloned())).collect(),
                    ))
                }
                _ => Err(TxError::Other(sdk(e))),
            },
        }
    }

    /// One item by key, strongly consistent.
    pub(crate) async fn get_item(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        self.get(pk, sk).await
    }

    /// One page of a partition's items whose sort key begins with `prefix`.
    pub(crate) async fn partition_page<T: DeserializeOwned>(
        &self,
        pk: String,
        prefix: &str,
        page: &PageRequest,
    ) -> Result<Page<T>, StoreError> {
        let limit = page.limit.clamp(1, PageRequest::MAX_LIMIT) as i32;
        let start = page.cursor.as_deref().map(|c| decode_cursor(c, &["pk", "sk"])).transpose()?;
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :p)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":p", s(prefix))
            .consistent_read(true)
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(sdk)?;
        let items = out.items().iter().map(body_of).collect::<Result<Vec<T>, _>>()?;
        let next_cursor = match out.last_evaluated_key {
            Some(k) if !k.is_empty() => Some(encode_cursor(&k)?),
            _ => None,
        };
        Ok(Page { items, next_cursor })
    }

    async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk)?;
        Ok(out.item)
    }

    async fn get_body<T: DeserializeOwned>(&self, pk: String, sk: &str) -> Result<Option<T>, StoreError> {
        self.get(pk, sk).await?.map(|i| body_of(&i)).transpose()
    }

    /// Every item of a partition whose sort key begins with `prefix`.
    async fn partition<T: DeserializeOwned>(&self, pk: String, prefix: &str) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :p)")
                .expression_attribute_values(":pk", s(pk.clone()))
                .expression_attribute_values(":p", s(prefix))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk)?;
            for item in page.items() {
                out.push(body_of(item)?);
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
    }

    /// The items for keys (any order; absent keys are left out). Reads in
    /// batches of 100, retrying unprocessed keys.
    pub(crate) async fn batch_items(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        for chunk in keys.chunks(100) {
            let mut pending = chunk.to_vec();
            let mut rounds = 0;
            while !pending.is_empty() {
                rounds += 1;
                if rounds > 10 {
                    return Err(backend("BatchGetItem kept returning unprocessed keys"));
                }
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(pending))
                    .consistent_read(true)
                    .build()
                    .map_err(backend)?;
                let out = self.client.batch_get_item().request_items(&self.table, request).send().await.map_err(sdk)?;
                found.extend(out.responses.unwrap_or_default().remove(&self.table).unwrap_or_default());
                pending =
                    out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)).map(|k| k.keys).unwrap_or_default();
            }
        }
        Ok(found)
    }

    /// Fetches the bodies for keys, in the keys' order.
    pub(crate) async fn bodies<T: DeserializeOwned>(&self, keys: Vec<Item>) -> Result<Vec<T>, StoreError> {
        let order: Vec<String> = keys.iter().filter_map(|k| str_attr(k, "pk").map(str::to_string)).collect();
        let found: HashMap<String, Item> = self
            .batch_items(keys)
            .await?
            .into_iter()
            .filter_map(|i| str_attr(&i, "pk").map(|pk| (pk.to_string(), i.clone())))
            .collect();
        order.iter().filter_map(|pk| found.get(pk)).map(body_of).collect()
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// A transaction whose failed conditions become `VersionConflict`.
    pub(crate) async fn transact_items(&self, items: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TxError::Cancelled(reasons)) => {
                if reasons.iter().any(|r| r.0.as_deref() == Some("ConditionalCheckFailed")) {
                    Err(StoreError::VersionConflict { current: 0 })
                } else {
                    Err(backend(format!(
                        "transaction cancelled: {:?}",
                        reasons.iter().map(|r| &r.0).collect::<Vec<_>>()
                    )))
                }
            }
            Err(TxError::Other(e)) => Err(e),
        }
    }

    /// A conditional put; false if the condition failed.
    pub(crate) async fn conditional_put(
        &self,
        item: Item,
        condition: &str,
        values: HashMap<String, AttributeValue>,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(sdk(e)),
        }
    }

    /// A put conditional on the stored item's version (`attr`, compared in
    /// `condition` as `:expected`): `VersionConflict` with the stored value
    /// when another writer moved it, `NotFound` when there is no item. The
    /// failed condition returns the stored item, so no second read.
    pub(crate) async fn versioned_put(
        &self,
        item: Item,
        condition: &str,
        expected: u64,
        attr: &str,
    ) -> Result<(), StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .expression_attribute_values(":expected", n(expected))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match put {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c)) => {
                    match c.item() {
                        Some(old) => Err(StoreError::VersionConflict { current: num_attr(old, attr).unwrap_or(0) }),
                        None => Err(StoreError::NotFound),
                    }
                }
                _ => Err(sdk(e)),
            },
        }
    }

    /// One page of a keys-only index, then the bodies.
    pub(crate) async fn index_page<T: DeserializeOwned>(
        &self,
        index: &str,
        pk_attr: &str,
        pk_value: &str,
        sk_attr: &str,
        forward: bool,
        page: &PageRequest,
    ) -> Result<Page<T>, StoreError> {
        let limit = page.limit.clamp(1, PageRequest::MAX_LIMIT) as i32;
        let start = page.cursor.as_deref().map(|c| decode_cursor(c, &["pk", "sk", pk_attr, sk_attr])).transpose()?;
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#k = :v")
            .expression_attribute_names("#k", pk_attr)
            .expression_attribute_values(":v", s(pk_value))
            .scan_index_forward(forward)
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(sdk)?;
        let keys: Vec<Item> = out
            .items()
            .iter()
            .map(|i| {
                let mut k = HashMap::new();
                k.insert("pk".to_string(), i["pk"].clone());
                k.insert("sk".to_string(), i["sk"].clone());
                k
            })
            .collect();
        let next_cursor = match out.last_evaluated_key {
            Some(k) if !k.is_empty() => Some(encode_cursor(&k)?),
            _ => None,
        };
        Ok(Page { items: self.bodies(keys).await?, next_cursor })
    }

    /// Counts the items whose keys begin with these prefixes, for tests and
    /// reports. A full scan: never on a request path.
    pub async fn count_kind(&self, pk_prefix: &str, sk_prefix: &str) -> Result<u64, StoreError> {
        let mut total = 0u64;
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("begins_with(pk, :pk) AND begins_with(sk, :sk)")
                .expression_attribute_values(":pk", s(pk_prefix))
                .expression_attribute_values(":sk", s(sk_prefix))
                .select(aws_sdk_dynamodb::types::Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk)?;
            total += out.count as u64;
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(total),
            }
        }
    }
}

#[async_trait]
impl PolicyStore for DynamoStore {
    async fn get_policy(&self, id: &str) -> StoreResult<Option<Policy>> {
        self.get_body(format!("POLICY#{id}"), "POLICY").await
    }

    async fn put_policy(&self, policy: &Policy) -> StoreResult<()> {
        let mut item = key(format!("POLICY#{}", policy.id), "POLICY");
        item.insert("body".into(), body(policy)?);
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(sdk)?;
        Ok(())
    }
}

fn company_item(c: &Company) -> Result<Item, StoreError> {
    let mut item = key(format!("COMPANY#{}", c.id), "COMPANY");
    item.insert("version".into(), n(c.version));
    item.insert("creditCode".into(), s(c.profile.credit_code.as_str()));
    item.insert("body".into(), body(c)?);
    Ok(item)
}

fn lock_item(pk: String, company_id: &str) -> Item {
    let mut item = key(pk, "COMPANY");
    item.insert("companyId".into(), s(company_id));
    item
}

#[async_trait]
impl CompanyStore for DynamoStore {
    async fn get_company(&self, id: &str) -> StoreResult<Option<Company>> {
        self.get_body(format!("COMPANY#{id}"), "COMPANY").await
    }

    async fn scan_companies(&self, page: &PageRequest) -> StoreResult<Page<Company>> {
        self.scan_records("COMPANY#", "COMPANY", page).await
    }

    async fn company_of_owner(&self, owner: &str) -> StoreResult<Option<Company>> {
        let Some(lock) = self.get(format!("OWNER#{owner}"), "COMPANY").await? else {
            return Ok(None);
        };
        let id = str_attr(&lock, "companyId").ok_or_else(|| backend("owner lock without company"))?;
        self.get_company(id).await
    }

    async fn create_company(&self, company: &Company, audit: &AuditEntry) -> StoreResult<()> {
        let absent = Some("attribute_not_exists(pk)");
        let items = vec![
            condition(self.put(company_item(company)?, absent)?),
            condition(self.put(lock_item(format!("OWNER#{}", company.owner), &company.id), absent)?),
            condition(self.put(lock_item(format!("CREDIT#{}", company.profile.credit_code), &company.id), absent)?),
            condition(self.put(audit_item(audit)?, absent)?),
        ];
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TxError::Cancelled(reasons)) => {
                let failed = |i: usize| reasons.get(i).and_then(|r| r.0.as_deref()) == Some("ConditionalCheckFailed");
                if failed(1) || failed(0) {
                    Err(StoreError::AlreadyExists)
                } else if failed(2) {
                    Err(StoreError::Unique("credit_code"))
                } else {
                    Err(backend(format!(
                        "company transaction cancelled: {:?}",
                        reasons.iter().map(|r| &r.0).collect::<Vec<_>>()
                    )))
                }
            }
            Err(TxError::Other(e)) => Err(e),
        }
    }

    async fn update_company(&self, company: &Company, expected_version: u64, audit: &AuditEntry) -> StoreResult<()> {
        let stored = self.get(format!("COMPANY#{}", company.id), "COMPANY").await?.ok_or(StoreError::NotFound)?;
        let old_code = str_attr(&stored, "creditCode").unwrap_or_default().to_string();
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(company_item(company)?))
            .condition_expression("version = :v")
            .expression_attribute_values(":v", n(expected_version))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(backend)?;
        let mut items = vec![];
        let code_changes = old_code != company.profile.credit_code.as_str();
        if code_changes {
            items.push(condition(self.put(
                lock_item(format!("CREDIT#{}", company.profile.credit_code), &company.id),
                Some("attribute_not_exists(pk)"),
            )?));
            items.push(
                TransactWriteItem::builder()
                    .delete(
                        Delete::builder()
                            .table_name(&self.table)
                            .set_key(Some(key(format!("CREDIT#{old_code}"), "COMPANY")))
                            .condition_expression("companyId = :id")
                            .expression_attribute_values(":id", s(&company.id))
                            .build()
                            .map_err(backend)?,
                    )
                    .build(),
            );
        }
        items.insert(0, condition(put));
        items.push(condition(self.put(audit_item(audit)?, Some("attribute_not_exists(pk)"))?));
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TxError::Cancelled(reasons)) => {
                let first = &reasons[0];
                if first.0.as_deref() == Some("ConditionalCheckFailed") {
                    let current = first.1.as_ref().and_then(|i| num_attr(i, "version")).unwrap_or(0);
                    Err(StoreError::VersionConflict { current })
                } else if code_changes && reasons.get(1).and_then(|r| r.0.as_deref()) == Some("ConditionalCheckFailed")
                {
                    Err(StoreError::Unique("credit_code"))
                } else {
                    Err(backend("company update cancelled"))
                }
            }
            Err(TxError::Other(e)) => Err(e),
        }
    }
}

#[async_trait]
impl ProjectStore for DynamoStore {
    async fn get_project(&self, id: &str) -> StoreResult<Option<Project>> {
        self.get_body(format!("PROJECT#{id}"), "PROJECT").await
    }

    async fn create_project(&self, project: &Project) -> StoreResult<()> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(project_item(project)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => {
                Err(StoreError::AlreadyExists)
            }
            Err(e) => Err(sdk(e)),
        }
    }

    async fn update_project(&self, project: &Project, expected_version: u64) -> StoreResult<()> {
        self.versioned_put(project_item(project)?, "version = :expected", expected_version, "version").await
    }

    async fn projects_of_owner(&self, owner: &str, page: &PageRequest) -> StoreResult<Page<Project>> {
        self.index_page(index::BY_OWNER, "ownerPk", &format!("{owner}#PROJECT"), "listSk", false, page).await
    }

    async fn projects_named(&self, community: &str, name: &str) -> StoreResult<Vec<Project>> {
        let page = self
            .index_page(
                index::BY_NAME,
                "namePk",
                &format!("{community}#{name}"),
                "listSk",
                true,
                &PageRequest::first(50),
            )
            .await?;
        Ok(page.items)
    }
}

/// The stream consumer's half of a transition: the entries that rode on
/// application items, each to its own `AUDIT#` item, 25 to a request
/// (BatchWriteItem). A put, not a conditional one: an entry's content is
/// fixed by the version check that let its write happen, so writing it
/// again is the same item.
#[async_trait]
impl crate::stream::AuditWriteOut for DynamoStore {
    async fn write_out(&self, entries: &[AuditEntry]) -> StoreResult<()> {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        for chunk in entries.chunks(25) {
            let mut requests = chunk
                .iter()
                .map(|e| {
                    let put = PutRequest::builder().set_item(Some(audit_item(e)?)).build().map_err(backend)?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            // Unprocessed items (throttling) are sent again, with backoff.
            for attempt in 0u32.. {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, std::mem::take(&mut requests))
                    .send()
                    .await
                    .map_err(sdk)?;
                requests = out.unprocessed_items.and_then(|mut m| m.remove(&self.table)).unwrap_or_default();
                if requests.is_empty() {
                    break;
                }
                if attempt == 5 {
                    return Err(StoreError::Backend(format!("{} audit entries left unwritten", requests.len())));
                }
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
        }
        Ok(())
    }
}

pub fn audit_item(e: &AuditEntry) -> Result<Item, StoreError> {
    let mut item = key(audit_pk(&e.subject), format!("AUDIT#{:010}", e.seq));
    item.insert("body".into(), body(e)?);
    Ok(item)
}

/// The partition an audit chain lives in: its subject's own.
pub fn audit_pk(subject: &str) -> String {
    if let Some(id) = subject.strip_prefix("batch:") {
        format!("BATCH#{id}")
    } else if let Some(id) = subject.strip_prefix("company:") {
        format!("COMPANY#{id}")
    } else if let Some(sub) = subject.strip_prefix("staff:") {
        format!("STAFF#{sub}")
    } else if let Some(doc) = subject.strip_prefix("document:") {
        // Its own partition: the application's holds its documents as `DOC#`.
        format!("DOCAUDIT#{}", doc.replace(':', "#"))
    } else {
        app_pk(subject)
    }
}

fn claim_key(policy_id: &str, project_id: &str) -> Item {
    key(format!("CLAIM#{policy_id}#{project_id}"), "CLAIM")
}

#[async_trait]
impl ApplicationStore for DynamoStore {
    async fn get_application(&self, id: &str) -> StoreResult<Option<Application>> {
        self.get_body(app_pk(id), "APP").await
    }

    async fn create_application(&self, app: &Application, audit: &AuditEntry) -> StoreResult<()> {
        // One item: the audit entry rides on it (written out by the stream).
        match self.conditional_put(application_item(app, audit)?, "attribute_not_exists(pk)", HashMap::new()).await? {
            true => Ok(()),
            false => Err(StoreError::AlreadyExists),
        }
    }

    async fn update_application(
        &self,
        app: &Application,
        expected_version: u64,
        audit: &AuditEntry,
        claim: ClaimChange,
    ) -> StoreResult<()> {
        let item = application_item(app, audit)?;
        if claim == ClaimChange::Keep {
            // One conditional put: the version check is the whole guard (a
            // second writer of this version, and so of this audit sequence
            // number, fails it), and the entry rides on the item.
            return self.versioned_put(item, "version = :expected", expected_version, "version").await;
        }
        // The claim changes with the application: two items, one transaction.
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("version = :v")
            .expression_attribute_values(":v", n(expected_version))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(backend)?;
        let mut items = vec![condition(put)];
        if claim == ClaimChange::Take {
            let mut item = claim_key(&app.policy_id, app.claim());
            item.insert("applicationId".into(), s(&app.id));
            let take = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk) OR applicationId = :id")
                .expression_attribute_values(":id", s(&app.id))
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .build()
                .map_err(backend)?;
            items.push(condition(take));
        }
        if claim == ClaimChange::Release {
            items.push(
                TransactWriteItem::builder()
                    .delete(
                        Delete::builder()
                            .table_name(&self.table)
                            .set_key(Some(claim_key(&app.policy_id, app.claim())))
                            .condition_expression("attribute_not_exists(pk) OR applicationId = :id")
                            .expression_attribute_values(":id", s(&app.id))
                            .build()
                            .map_err(backend)?,
                    )
                    .build(),
            );
        }
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TxError::Cancelled(reasons)) => {
                let (code, item) = &reasons[0];
                if code.as_deref() == Some("ConditionalCheckFailed") {
                    return match item.as_ref().and_then(|i| num_attr(i, "version")) {
                        Some(current) => Err(StoreError::VersionConflict { current }),
                        None => Err(StoreError::NotFound),
                    };
                }
                if let Some((Some(code), old)) = reasons.get(1)
                    && code == "ConditionalCheckFailed"
                    && claim == ClaimChange::Take
                {
                    let holder = old.as_ref().and_then(|i| str_attr(i, "applicationId")).unwrap_or_default();
                    return Err(StoreError::Claimed { application_id: holder.to_string() });
                }
                Err(backend(format!("update cancelled: {:?}", reasons.iter().map(|r| &r.0).collect::<Vec<_>>())))
            }
            Err(TxError::Other(e)) => Err(e),
        }
    }

    async fn claim_holder(&self, policy_id: &str, project_id: &str) -> StoreResult<Option<String>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(claim_key(policy_id, project_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk)?;
        Ok(out.item.as_ref().and_then(|i| str_attr(i, "applicationId")).map(str::to_string))
    }

    async fn list_applications(
        &self,
        scope: &Scope,
        filter: &ApplicationFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Application>> {
        let (index, attr, value) = match scope {
            Scope::Owner(o) => (index::BY_OWNER, "ownerPk", format!("{o}#APP")),
            Scope::Manager(p) => (index::BY_MANAGER, "managerPk", p.clone()),
            Scope::Unit { level, code } => match level {
                Level::City => (index::BY_CITY, "cityPk", code.clone()),
                Level::District => (index::BY_DISTRICT, "districtPk", code.clone()),
                Level::Subdistrict => (index::BY_SUBDISTRICT, "subdistrictPk", code.clone()),
                Level::Community => (index::BY_COMMUNITY, "communityPk", code.clone()),
            },
        };
        let page: Page<Application> = self.index_page(index, attr, &value, "listSk", false, page).await?;
        // Filters apply after the index read: a page may hold fewer items
        // than asked, and the cursor still moves on.
        let items = page
            .items
            .into_iter()
            .filter(|a| filter.state.is_none_or(|st| a.state == st))
            .filter(|a| filter.project_id.as_ref().is_none_or(|p| &a.project_id == p))
            .collect();
        Ok(Page { items, next_cursor: page.next_cursor })
    }

    async fn inbox(&self, scope: &Scope, state: State, page: &PageRequest) -> StoreResult<Page<Application>> {
        let unit = match scope {
            Scope::Manager(p) => p.clone(),
            Scope::Unit { code, .. } => code.clone(),
            Scope::Owner(_) => return Ok(Page { items: Vec::new(), next_cursor: None }),
        };
        let page: Page<Application> = self
            .index_page(index::BY_INBOX, "inboxPk", &format!("{}#{unit}", state.as_str()), "inboxSk", true, page)
            .await?;
        // The index is eventually consistent: drop anything that moved on.
        let items = page.items.into_iter().filter(|a| a.state == state).collect();
        Ok(Page { items, next_cursor: page.next_cursor })
    }

    /// An application's written entries and, when the stream consumer has
    /// not written it out yet, the entry riding on its item (in its place
    /// by sequence number, whatever was written after it): one
    /// consistent query of the partition from `APP` to the last `AUDIT#`.
    /// A document's chain is its written entries and the entry riding on
    /// its item; other chains (companies, batches, staff) are only their
    /// written entries.
    async fn audit_trail(&self, subject: &str) -> StoreResult<Vec<AuditEntry>> {
        let pk = audit_pk(subject);
        if let Some((doc_pk, doc_sk)) = document_key(subject) {
            // The written entries, and the one riding on the document's item.
            let mut trail: Vec<AuditEntry> = self.partition(pk, "AUDIT#").await?;
            if let Some(item) = self.get(doc_pk, &doc_sk).await?
                && let Some(e) = pending_audit(&item)?
                && let Err(at) = trail.binary_search_by_key(&e.seq, |w| w.seq)
            {
                trail.insert(at, e);
            }
            return Ok(trail);
        }
        if pk != app_pk(subject) {
            return self.partition(pk, "AUDIT#").await;
        }
        let mut trail: Vec<AuditEntry> = Vec::new();
        let mut pending = None;
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :app AND :end")
                .expression_attribute_values(":pk", s(&pk))
                .expression_attribute_values(":app", s("APP"))
                // '$' follows '#': every "AUDIT#..." sorts before this.
                .expression_attribute_values(":end", s("AUDIT$"))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk)?;
            for item in page.items() {
                if str_attr(item, "sk") == Some("APP") {
                    pending = pending_audit(item)?;
                } else {
                    trail.push(body_of(item)?);
                }
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        // In its place by sequence number, unless written out already.
        if let Some(e) = pending
            && let Err(at) = trail.binary_search_by_key(&e.seq, |w| w.seq)
        {
            trail.insert(at, e);
        }
        Ok(trail)
    }

    async fn scan_applications(&self, page: &PageRequest) -> StoreResult<Page<Application>> {
        self.scan_records("APP#", "APP", page).await
    }

    /// One `Scan` of the table for the audit items (a whole-table read once
    /// a day; see docs/dynamodb.md for what it costs). Only the chains with
    /// an entry after `since` are kept, with their newest entry: stamps in a
    /// chain do not go backwards by more than the caller's slack, so a
    /// chain's newest entry is after `since` whenever an older one is.
    async fn audit_heads_since(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> StoreResult<Vec<subsidy_core::audit::anchor::ChainHead>> {
        let mut newest: HashMap<String, subsidy_core::audit::anchor::ChainHead> = HashMap::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                // Application and document items too: the entry riding on
                // one may not be written out yet (a scan reads every item
                // either way; the filter only trims what is sent back).
                .filter_expression("begins_with(sk, :a) OR sk = :app OR begins_with(sk, :doc)")
                .expression_attribute_values(":a", s("AUDIT#"))
                .expression_attribute_values(":app", s("APP"))
                .expression_attribute_values(":doc", s("DOC#"))
                .projection_expression("sk, body")
                // Eventually consistent (half the read units): the anchor
                // covers entries committed up to MARGIN (15 min) before it,
                // far longer than replication takes.
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk)?;
            for item in out.items() {
                let riding = str_attr(item, "sk").is_some_and(|sk| sk == "APP" || sk.starts_with("DOC#"));
                let e: AuditEntry = if riding {
                    match pending_audit(item)? {
                        Some(e) => e,
                        None => continue,
                    }
                } else {
                    body_of(item)?
                };
                if since.is_some_and(|t| e.at <= t) {
                    continue;
                }
                match newest.get_mut(&e.subject) {
                    Some(h) if h.seq >= e.seq => {}
                    Some(h) => *h = subsidy_core::audit::anchor::ChainHead::of(&e),
                    None => {
                        newest.insert(e.subject.clone(), subsidy_core::audit::anchor::ChainHead::of(&e));
                    }
                }
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(newest.into_values().collect())
    }
}

/// A document's item, with the audit entry of the write that made it
/// riding in its body (written out by the stream consumer, as an
/// application's is).
fn document_item(d: &Document, audit: &AuditEntry) -> Result<Item, StoreError> {
    let mut item = key(app_pk(&d.application_id), format!("DOC#{}", d.id));
    let mut record = serde_json::to_value(d).map_err(backend)?;
    record[PENDING_AUDIT] = serde_json::to_value(audit).map_err(backend)?;
    item.insert("body".into(), body(&record)?);
    // The document's own chain is its version: updates are conditional on it.
    item.insert("auditSeq".into(), n(d.audit_seq));
    Ok(item)
}

/// Where a document's chain rides: its item's (pk, sk), for a document
/// subject.
fn document_key(subject: &str) -> Option<(String, String)> {
    let (app, doc) = subject.strip_prefix("document:")?.split_once(':')?;
    Some((app_pk(app), format!("DOC#{doc}")))
}

#[async_trait]
impl DocumentStore for DynamoStore {
    async fn create_document(&self, doc: &Document, audit: &AuditEntry) -> StoreResult<()> {
        // One item: the audit entry rides on it (written out by the stream).
        match self.conditional_put(document_item(doc, audit)?, "attribute_not_exists(pk)", HashMap::new()).await? {
            true => Ok(()),
            false => Err(StoreError::AlreadyExists),
        }
    }

    async fn get_document(&self, application_id: &str, id: &str) -> StoreResult<Option<Document>> {
        self.get_body(app_pk(application_id), &format!("DOC#{id}")).await
    }

    async fn documents_of(&self, application_id: &str) -> StoreResult<Vec<Document>> {
        self.partition(app_pk(application_id), "DOC#").await
    }

    async fn update_document(&self, doc: &Document, expected_seq: u64, audit: &AuditEntry) -> StoreResult<()> {
        // A document from before documents were audited has no auditSeq.
        let cond = if expected_seq == 0 {
            "attribute_exists(pk) AND (attribute_not_exists(auditSeq) OR auditSeq = :expected)"
        } else {
            "auditSeq = :expected"
        };
        // One conditional put: the chain's sequence number is the guard (a
        // second writer of this entry fails it), and the entry rides on it.
        self.versioned_put(document_item(doc, audit)?, cond, expected_seq, "auditSeq").await
    }
}

#[async_trait]
impl PrecheckStore for DynamoStore {
    async fn put_prechecks(&self, report: &PrecheckReport) -> StoreResult<()> {
        let mut item = key(app_pk(&report.application_id), format!("PRECHECK#{}", report.tier.as_str()));
        item.insert("body".into(), body(report)?);
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(sdk)?;
        Ok(())
    }

    async fn prechecks_of(&self, application_id: &str) -> StoreResult<Vec<PrecheckReport>> {
        let mut reports: Vec<PrecheckReport> = self.partition(app_pk(application_id), "PRECHECK#").await?;
        reports.sort_by_key(|r| r.tier);
        Ok(reports)
    }
}

#[async_trait]
impl IdempotencyStore for DynamoStore {
    async fn begin(
        &self,
        key_: &str,
        fingerprint: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Begin> {
        let mut item = key(format!("IDEM#{key_}"), "IDEM");
        item.insert("fingerprint".into(), s(fingerprint));
        item.insert("running".into(), AttributeValue::Bool(true));
        item.insert("leaseUntil".into(), s(ts(&lease_until)));
        item.insert("ttl".into(), n(now.timestamp() + IDEMPOTENCY_TTL_SECS));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            // New, or a crashed attempt of the same request whose lease ran out.
            .condition_expression(
                "attribute_not_exists(pk) OR (running = :t AND leaseUntil < :now AND fingerprint = :fp)",
            )
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":now", s(ts(&now)))
            .expression_attribute_values(":fp", s(fingerprint))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Begin::Proceed),
            Err(e) => match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c)) => {
                    let Some(old) = c.item() else { return Ok(Begin::InProgress) };
                    if str_attr(old, "fingerprint") != Some(fingerprint) {
                        return Ok(Begin::Mismatch);
                    }
                    let running = old.get("running").and_then(|v| v.as_bool().ok()).copied().unwrap_or(true);
                    match (running, num_attr(old, "status"), str_attr(old, "response")) {
                        (false, Some(status), Some(body)) => {
                            Ok(Begin::Replay(StoredResponse { status: status as u16, body: body.to_string() }))
                        }
                        _ => Ok(Begin::InProgress),
                    }
                }
                _ => Err(sdk(e)),
            },
        }
    }

    async fn complete(&self, key_: &str, response: &StoredResponse) -> StoreResult<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("IDEM#{key_}"), "IDEM")))
            .update_expression("SET #run = :f, #st = :s, #resp = :b")
            .expression_attribute_names("#run", "running")
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#resp", "response")
            .expression_attribute_values(":f", AttributeValue::Bool(false))
            .expression_attribute_values(":s", n(response.status))
            .expression_attribute_values(":b", s(&response.body))
            .send()
            .await
            .map_err(sdk)?;
        Ok(())
    }

    async fn abort(&self, key_: &str) -> StoreResult<()> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("IDEM#{key_}"), "IDEM")))
            .condition_expression("#run = :t")
            .expression_attribute_names("#run", "running")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(sdk(e)),
        }
    }
}

#[cfg(test)]
mod cursor_properties {
    use super::{decode_cursor, encode_cursor, s};
    use proptest::prelude::*;
    use subsidy_core::error::StoreError;

    proptest! {
        /// A cursor made from a LastEvaluatedKey reads back to that key.
        #[test]
        fn an_encoded_key_decodes_to_itself(pk in "\\PC{1,40}", sk in "\\PC{0,40}") {
            let key = std::collections::HashMap::from([("pk".to_string(), s(&pk)), ("sk".to_string(), s(&sk))]);
            let back = decode_cursor(&encode_cursor(&key).unwrap(), &["pk", "sk"]).unwrap();
            prop_assert_eq!(back, key);
        }

        /// Anything a client sends is a bad cursor unless it is a map of
        /// the allowed key attributes only: never a panic, never a key the
        /// query could not have returned.
        #[test]
        fn any_other_text_is_a_bad_cursor_or_allowed_keys(text in "\\PC{0,80}") {
            match decode_cursor(&text, &["pk", "sk"]) {
                Ok(k) => prop_assert!(!k.is_empty() && k.keys().all(|n| n == "pk" || n == "sk")),
                Err(e) => prop_assert_eq!(e, StoreError::BadCursor),
            }
        }

        #[test]
        fn a_key_with_other_attributes_is_refused(other in "[a-z]{1,8}") {
            prop_assume!(other != "pk" && other != "sk");
            let key = std::collections::HashMap::from([("pk".to_string(), s("x")), (other, s("y"))]);
            prop_assert_eq!(decode_cursor(&encode_cursor(&key).unwrap(), &["pk", "sk"]).unwrap_err(), StoreError::BadCursor);
        }
    }
}

#[cfg(test)]
mod stream_shape {
    //! The stream's reader ([`crate::stream`]) and this writer agree on what
    //! an application item looks like.
    use super::*;

    #[test]
    fn an_application_item_is_what_the_stream_reader_takes_for_one() {
        use base64::Engine;
        let fixture = include_str!("../../../events/dispatch/stream-batch-ok.json");
        let event: aws_lambda_events::dynamodb::Event = serde_json::from_str(fixture).expect("fixture");
        // The fixture's bodies are JSON strings, as items were written before
        // bodies were compact: they are still read.
        let app =
            event.records.iter().find_map(|r| crate::stream::change_of(r).ok().flatten()).expect("an application").new;
        let entry: AuditEntry = serde_json::from_value(serde_json::json!({"subject": app.id, "seq": app.audit_seq,
            "at": "2020-03-02T01:02:03Z", "actorId": "pm-1", "role": "project_manager", "action": "confirm_area",
            "from": "awaiting_area_confirmation", "to": "pending_community", "comment": null, "prevHash": "00",
            "hash": app.audit_head}))
        .unwrap();
        let item = application_item(&app, &entry).unwrap();
        assert_eq!(str_attr(&item, "sk"), Some(crate::stream::APPLICATION_SK));
        assert_eq!(body_of::<Application>(&item).unwrap(), app, "the entry riding on it is not part of the record");
        assert_eq!(pending_audit(&item).unwrap(), Some(entry.clone()));
        // The item's binary body, as the stream delivers it (base64 in the
        // event's JSON), is the same application to the stream's reader.
        let Some(AttributeValue::B(stored)) = item.get(crate::stream::BODY) else { panic!("a binary body") };
        let mut wire: serde_json::Value = serde_json::from_str(fixture).unwrap();
        let record = wire["Records"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|r| r["dynamodb"]["Keys"]["sk"]["S"] == "APP" && r["dynamodb"]["NewImage"]["body"]["S"].is_string())
            .unwrap();
        record["dynamodb"]["NewImage"]["body"] =
            serde_json::json!({"B": base64::engine::general_purpose::STANDARD.encode(stored.as_ref())});
        let event: aws_lambda_events::dynamodb::Event = serde_json::from_value(wire).unwrap();
        let read = event.records.iter().find_map(|r| crate::stream::change_of(r).ok().flatten()).unwrap().new;
        assert_eq!(read, app);
        let riding = event.records.iter().find_map(|r| crate::stream::pending_audit(r).ok().flatten());
        assert_eq!(riding, Some(entry));
    }
}
