//! Counting what the AWS side costs: an SDK interceptor that records every
//! DynamoDB, SQS and S3 request the functions make, and an accountant that
//! turns the DynamoDB ones into write and read units by DynamoDB's own
//! rules, from the sizes of the items before and after each write.
//!
//! The emulator does not report consumed capacity (moto answers 1.0 for
//! everything), so the units are computed here:
//! - an item's size is the sum of its attribute names and values (strings
//!   in UTF-8 bytes, numbers (significant digits + 1) / 2 + 1, booleans and
//!   nulls 1, lists and maps 3 + 1 per element + their elements);
//! - a write costs ceil(max(size before, size after) / 1 KB) units, at
//!   least 1, twice that inside a transaction (a `ConditionCheck` is
//!   charged like a transactional write); a refused write is still charged;
//! - every global secondary index whose key the write adds or removes costs
//!   one more unit, two when it changes (all indexes here are KEYS_ONLY, so
//!   an entry is far below 1 KB and a write that keeps the keys costs none);
//! - a read costs ceil(bytes / 4 KB) units per item for gets (per request
//!   for queries and scans), half of that when eventually consistent, twice
//!   inside a transaction.
//!
//! The size after an update is read back from the emulator right after the
//! step (the accountant keeps the last known image of every item), so an
//! item written twice within one step is charged at its final size both
//! times: an upper bound.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::{BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use serde_json::Value;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Which service a request went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    DynamoDb,
    Sqs,
    S3,
    Kms,
    /// SMS: SNS's query protocol (`Action=Publish&…`, form-encoded).
    Sns,
}

tokio::task_local! {
    /// The function (its logical id in template.yaml) whose code is
    /// running: what a request made now is attributed to.
    static FUNCTION: &'static str;
}

/// Runs `f` as the code of `function` (its logical id in template.yaml):
/// every SDK request it makes is recorded against that function's role.
pub async fn as_function<F: std::future::Future>(function: &'static str, f: F) -> F::Output {
    FUNCTION.scope(function, f).await
}

/// The function whose code is running, if any.
pub fn current_function() -> Option<&'static str> {
    FUNCTION.try_with(|f| *f).ok()
}

/// One request as the SDK sent it and what came back.
#[derive(Debug, Clone)]
pub struct Call {
    pub service: Service,
    /// `PutItem`, `SendMessage`, or for S3 the HTTP method (`LIST` for a
    /// bucket listing).
    pub op: String,
    pub request: Value,
    pub response: Value,
    pub ok: bool,
    /// The function whose code made it (see [`as_function`]); `None` for
    /// what the test or an event-source mapping does.
    pub function: Option<&'static str>,
    /// S3: the request's URI (bucket, key and query).
    pub uri: String,
    /// The HTTP status (0 for a presigned request, which is signed and
    /// handed out, not sent).
    pub status: u16,
    pub presigned: bool,
}

/// The interceptor: attach it with `Clients::intercepted`.
#[derive(Debug, Clone, Default)]
pub struct Meter(Arc<Mutex<Vec<Call>>>);

impl Meter {
    pub fn calls(&self) -> Vec<Call> {
        self.0.lock().unwrap().clone()
    }
}

#[derive(Debug, Clone)]
struct InFlight {
    service: Service,
    op: String,
    request: Value,
    uri: String,
    function: Option<&'static str>,
}

impl Storable for InFlight {
    type Storer = StoreReplace<Self>;
}

/// The action of an SNS query-protocol request (`Action=Publish&…`).
fn sns_action(body: Option<&[u8]>) -> Option<String> {
    let body = std::str::from_utf8(body?).ok()?;
    url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.into_owned())
        .filter(|_| body.contains("Version=2010-03-31"))
}

fn json_body(bytes: Option<&[u8]>) -> Value {
    bytes.and_then(|b| serde_json::from_slice(b).ok()).unwrap_or(Value::Null)
}

impl Intercept for Meter {
    fn name(&self) -> &'static str {
        "CostMeter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let req = context.request();
        let target = req.headers().get("x-amz-target").unwrap_or_default();
        let (service, op) = if let Some(op) = target.strip_prefix("DynamoDB_20120810.") {
            (Service::DynamoDb, op.to_string())
        } else if let Some(op) = target.strip_prefix("AmazonSQS.") {
            (Service::Sqs, op.to_string())
        } else if let Some(op) = target.strip_prefix("TrentService.") {
            (Service::Kms, op.to_string())
        } else if let Some(op) = sns_action(req.body().bytes()) {
            (Service::Sns, op)
        } else if req.uri().contains("list-type=") {
            (Service::S3, "LIST".to_string())
        } else {
            (Service::S3, req.method().to_string())
        };
        // S3 bodies are documents; SNS bodies hold a phone number.
        let request =
            if matches!(service, Service::S3 | Service::Sns) { Value::Null } else { json_body(req.body().bytes()) };
        let uri = req.uri().to_string();
        cfg.interceptor_state().store_put(InFlight { service, op, request, uri, function: current_function() });
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(f) = cfg.load::<InFlight>().cloned() else { return Ok(()) };
        let call = |response, ok, status, presigned| Call {
            service: f.service,
            op: f.op.clone(),
            request: f.request.clone(),
            response,
            ok,
            function: f.function,
            uri: f.uri.clone(),
            status,
            presigned,
        };
        // No response: a presigned request, which is signed, not sent (the
        // client sends it, with the function's authority: recorded for the
        // permissions, not charged; documents are counted apart), or a
        // request that never reached the service.
        let Some(r) = context.response() else {
            if f.service == Service::S3 && f.uri.contains("X-Amz-Signature=") {
                self.0.lock().unwrap().push(call(Value::Null, true, 0, true));
            }
            return Ok(());
        };
        let ok = r.status().is_success();
        let response =
            if matches!(f.service, Service::S3 | Service::Sns) { Value::Null } else { json_body(r.body().bytes()) };
        self.0.lock().unwrap().push(call(response, ok, r.status().as_u16(), false));
        Ok(())
    }
}

/// The size DynamoDB bills for one attribute value (without its name).
pub fn value_size(v: &Value) -> u64 {
    let Some((t, inner)) = v.as_object().and_then(|o| o.iter().next()) else { return 0 };
    match t.as_str() {
        "S" => inner.as_str().map_or(0, |s| s.len() as u64),
        "N" => number_size(inner.as_str().unwrap_or("0")),
        "B" => inner.as_str().map_or(0, |s| (s.len() as u64 * 3) / 4),
        "BOOL" | "NULL" => 1,
        "SS" => inner.as_array().map_or(0, |a| a.iter().map(|s| s.as_str().map_or(0, |s| s.len() as u64)).sum()),
        "NS" => inner.as_array().map_or(0, |a| a.iter().map(|n| number_size(n.as_str().unwrap_or("0"))).sum()),
        "L" => 3 + inner.as_array().map_or(0, |a| a.iter().map(|e| 1 + value_size(e)).sum()),
        "M" => 3 + inner.as_object().map_or(0, |m| m.iter().map(|(k, e)| 1 + k.len() as u64 + value_size(e)).sum()),
        _ => 0,
    }
}

/// (significant digits + 1) / 2 + 1 bytes, at most 21.
fn number_size(n: &str) -> u64 {
    let digits: String = n.chars().filter(|c| c.is_ascii_digit()).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len().max(1) as u64;
    (significant.div_ceil(2) + 1).min(21)
}

/// An item's size: every attribute's name and value.
pub fn item_size(item: &Value) -> u64 {
    item.as_object().map_or(0, |m| m.iter().map(|(k, v)| k.len() as u64 + value_size(v)).sum())
}

/// Write units for one item write.
pub fn write_units(before: u64, after: u64, transactional: bool) -> u64 {
    let units = before.max(after).div_ceil(1024).max(1);
    if transactional { 2 * units } else { units }
}

/// Read units for `bytes` read in one unit of charge.
pub fn read_units(bytes: u64, consistent: bool, transactional: bool) -> f64 {
    let units = bytes.div_ceil(4096).max(1) as f64;
    units
        * if transactional {
            2.0
        } else if consistent {
            1.0
        } else {
            0.5
        }
}

/// Counters by name: `ddb.wcu`, `ddb.wcu.gsi`, `ddb.rcu`, `ddb.op.PutItem`,
/// `ddb.wcu.kind.APP/AUDIT`, `sqs.requests`, `sqs.empty_receives`,
/// `s3.class_a`, `s3.class_b`, `ddb.bytes_written`, `ddb.items_written`,
/// `ddb.app.bytes.{state}` (the application item's bytes in each state).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Usage(pub BTreeMap<String, f64>);

impl Usage {
    fn add(&mut self, key: impl Into<String>, n: f64) {
        *self.0.entry(key.into()).or_default() += n;
    }

    pub fn get(&self, key: &str) -> f64 {
        self.0.get(key).copied().unwrap_or(0.0)
    }

    /// What happened between `earlier` and this.
    pub fn since(&self, earlier: &Usage) -> Usage {
        let mut out = self.clone();
        for (k, v) in &earlier.0 {
            *out.0.entry(k.clone()).or_default() -= v;
        }
        out.0.retain(|_, v| v.abs() > 1e-9);
        out
    }
}

/// Turns the meter's calls into [`Usage`], keeping the last known image of
/// every item of the table.
pub struct Accountant {
    ddb: aws_sdk_dynamodb::Client,
    table: String,
    pk: String,
    sk: String,
    /// Index name → its key attributes.
    gsis: Vec<(String, Vec<String>)>,
    images: HashMap<String, Value>,
    seen: usize,
    pub usage: Usage,
    /// Operations the accountant does not know how to charge.
    pub unknown: Vec<String>,
}

const KNOWN_FREE: &[&str] = &["DescribeTable", "ListTables", "CreateTable", "DescribeTimeToLive"];

impl Accountant {
    /// `ddb` must not be metered; `table_def` is the table's `Properties`
    /// in template.yaml. Reads every item once, so writes to items that
    /// existed before metering began are charged from their real size.
    pub async fn new(ddb: aws_sdk_dynamodb::Client, table: &str, table_def: &Value) -> Accountant {
        let key_of = |schema: &Value, kind: &str| -> Option<String> {
            schema.as_array()?.iter().find(|k| k["KeyType"] == kind)?["AttributeName"].as_str().map(String::from)
        };
        let gsis = table_def["GlobalSecondaryIndexes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                let keys = g["KeySchema"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|k| k["AttributeName"].as_str().unwrap().to_string())
                    .collect();
                (g["IndexName"].as_str().unwrap().to_string(), keys)
            })
            .collect();
        let mut a = Accountant {
            pk: key_of(&table_def["KeySchema"], "HASH").expect("a partition key"),
            sk: key_of(&table_def["KeySchema"], "RANGE").expect("a sort key"),
            ddb,
            table: table.to_string(),
            gsis,
            images: HashMap::new(),
            seen: 0,
            usage: Usage::default(),
            unknown: Vec::new(),
        };
        let mut start = None;
        loop {
            let out = a.ddb.scan().table_name(table).set_exclusive_start_key(start).send().await.expect("scan");
            for item in out.items() {
                let v = wire_item(item);
                a.images.insert(a.key(&v), v);
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        a
    }

    fn key(&self, item: &Value) -> String {
        format!("{}|{}", item[&self.pk]["S"].as_str().unwrap_or(""), item[&self.sk]["S"].as_str().unwrap_or(""))
    }

    /// "APP/AUDIT": the partition key's and the sort key's first segments.
    fn kind(key: &str) -> String {
        let (pk, sk) = key.split_once('|').unwrap_or((key, ""));
        let head = |s: &str| s.split('#').next().unwrap_or("").to_string();
        format!("{}/{}", head(pk), head(sk))
    }

    async fn current(&self, key: &Value) -> Option<Value> {
        let mut req = self.ddb.get_item().table_name(&self.table).consistent_read(true);
        for (name, v) in key.as_object().unwrap() {
            req = req.key(name, attribute(v));
        }
        let out = req.send().await.expect("read back");
        out.item.map(|i| wire_item(&i))
    }

    /// Charges every call the meter saw since the last settle.
    pub async fn settle(&mut self, meter: &Meter) {
        let calls = meter.calls();
        let new: Vec<Call> = calls[self.seen..].to_vec();
        self.seen = calls.len();
        for c in new.into_iter().filter(|c| !c.presigned) {
            match c.service {
                Service::DynamoDb => self.dynamo(&c).await,
                Service::Sqs => {
                    let empty =
                        c.op == "ReceiveMessage" && c.response["Messages"].as_array().is_none_or(|m| m.is_empty());
                    self.usage.add(if empty { "sqs.empty_receives" } else { "sqs.requests" }, 1.0);
                    self.usage.add(format!("sqs.op.{}", c.op), 1.0);
                }
                Service::S3 => {
                    let class = match c.op.as_str() {
                        "GET" | "HEAD" => "s3.class_b",
                        "DELETE" => "s3.free",
                        _ => "s3.class_a",
                    };
                    self.usage.add(class, 1.0);
                    self.usage.add(format!("s3.op.{}", c.op), 1.0);
                }
                // The audit key's MAC: one per cold start, not per request.
                Service::Kms => {}
                // An SMS is priced per message and country, apart
                // (docs/BENCHMARKS.md); the request itself is free.
                Service::Sns => self.usage.add(format!("sns.op.{}", c.op), 1.0),
            }
        }
    }

    async fn dynamo(&mut self, c: &Call) {
        self.usage.add(format!("ddb.op.{}", c.op), 1.0);
        let r = &c.request;
        match c.op.as_str() {
            "PutItem" => self.write(Some(&r["Item"]), &self.key_value(&r["Item"]), false, c.ok, false).await,
            "UpdateItem" => self.write(None, &r["Key"], false, c.ok, false).await,
            "DeleteItem" => self.delete(&r["Key"], false, c.ok).await,
            "TransactWriteItems" => {
                for t in r["TransactItems"].as_array().into_iter().flatten() {
                    if let Some(p) = t.get("Put") {
                        self.write(Some(&p["Item"]), &self.key_value(&p["Item"]), true, c.ok, false).await;
                    } else if let Some(u) = t.get("Update") {
                        self.write(None, &u["Key"], true, c.ok, false).await;
                    } else if let Some(d) = t.get("Delete") {
                        self.delete(&d["Key"], true, c.ok).await;
                    } else if let Some(k) = t.get("ConditionCheck") {
                        self.write(None, &k["Key"], true, c.ok, true).await;
                    }
                }
            }
            "BatchWriteItem" => {
                for reqs in r["RequestItems"].as_object().into_iter().flat_map(|m| m.values()) {
                    for w in reqs.as_array().into_iter().flatten() {
                        if let Some(p) = w.get("PutRequest") {
                            self.write(Some(&p["Item"]), &self.key_value(&p["Item"]), false, c.ok, false).await;
                        } else if let Some(d) = w.get("DeleteRequest") {
                            self.delete(&d["Key"], false, c.ok).await;
                        }
                    }
                }
            }
            "GetItem" => {
                let size = item_size(&c.response["Item"]);
                self.usage.add("ddb.rcu", read_units(size, r["ConsistentRead"] == true, false));
            }
            "BatchGetItem" => {
                for (table, items) in c.response["Responses"].as_object().into_iter().flatten() {
                    let consistent = r["RequestItems"][table]["ConsistentRead"] == true;
                    for i in items.as_array().into_iter().flatten() {
                        self.usage.add("ddb.rcu", read_units(item_size(i), consistent, false));
                    }
                }
            }
            "TransactGetItems" => {
                for i in c.response["Responses"].as_array().into_iter().flatten() {
                    self.usage.add("ddb.rcu", read_units(item_size(&i["Item"]), true, true));
                }
            }
            "Query" | "Scan" => {
                let items = c.response["Items"].as_array().cloned().unwrap_or_default();
                let mut bytes: u64 = items.iter().map(item_size).sum();
                // A filter discards items after they are read and billed.
                let (count, scanned) = (c.response["Count"].as_u64().unwrap_or(0), c.response["ScannedCount"].as_u64());
                if let Some(scanned) = scanned.filter(|s| *s > count) {
                    let per_item = bytes.checked_div(count).unwrap_or(256);
                    bytes += (scanned - count) * per_item;
                }
                self.usage.add("ddb.rcu", read_units(bytes, r["ConsistentRead"] == true, false));
            }
            op if KNOWN_FREE.contains(&op) => {}
            op => self.unknown.push(op.to_string()),
        }
    }

    fn key_value(&self, item: &Value) -> Value {
        let mut k = serde_json::Map::new();
        for name in [&self.pk, &self.sk] {
            k.insert(name.clone(), item[name].clone());
        }
        Value::Object(k)
    }

    /// One item write: `put` is the whole new item for a put; otherwise the
    /// item is read back.
    async fn write(&mut self, put: Option<&Value>, key: &Value, txn: bool, ok: bool, check_only: bool) {
        let k = self.key(key);
        let before = self.images.get(&k).cloned();
        let after = if !ok || check_only {
            before.clone()
        } else {
            match put {
                Some(item) => Some(item.clone()),
                None => self.current(key).await,
            }
        };
        let size = |v: &Option<Value>| v.as_ref().map_or(0, item_size);
        let charged = put.map_or(size(&after), |p| item_size(p).max(size(&after)));
        let units = write_units(size(&before), charged, txn);
        self.usage.add("ddb.wcu", units as f64);
        self.usage.add("ddb.wcu.base", units as f64);
        self.usage.add(format!("ddb.wcu.kind.{}", Self::kind(&k)), units as f64);
        if ok && !check_only {
            self.usage.add("ddb.items_written", 1.0);
            self.usage.add("ddb.bytes_written", size(&after) as f64);
            self.usage.add(format!("ddb.items.kind.{}", Self::kind(&k)), 1.0);
            self.usage.add(format!("ddb.bytes.kind.{}", Self::kind(&k)), size(&after) as f64);
            // The application item's size in each state it is written in.
            if let Some(state) =
                after.as_ref().filter(|_| Self::kind(&k) == "APP/APP").and_then(|a| a["state"]["S"].as_str())
            {
                self.usage.add(format!("ddb.app.items.{state}"), 1.0);
                self.usage.add(format!("ddb.app.bytes.{state}"), size(&after) as f64);
                if size(&after) > 1024 {
                    self.usage.add(format!("ddb.app.over1k.{state}"), 1.0);
                }
            }
            self.index_writes(&k, before.as_ref(), after.as_ref());
            match after {
                Some(a) => self.images.insert(k, a),
                None => self.images.remove(&k),
            };
        }
    }

    async fn delete(&mut self, key: &Value, txn: bool, ok: bool) {
        let k = self.key(key);
        let before = self.images.get(&k).cloned();
        let units = write_units(before.as_ref().map_or(0, item_size), 0, txn);
        self.usage.add("ddb.wcu", units as f64);
        self.usage.add("ddb.wcu.base", units as f64);
        self.usage.add(format!("ddb.wcu.kind.{}", Self::kind(&k)), units as f64);
        if ok {
            self.index_writes(&k, before.as_ref(), None);
            self.images.remove(&k);
        }
    }

    fn index_writes(&mut self, k: &str, before: Option<&Value>, after: Option<&Value>) {
        let entry = |item: Option<&Value>, keys: &[String]| -> Option<Vec<Value>> {
            let item = item?;
            keys.iter().map(|name| item.get(name).cloned()).collect()
        };
        let mut units = 0;
        for (_, keys) in &self.gsis {
            units += match (entry(before, keys), entry(after, keys)) {
                (None, None) => 0,
                (Some(a), Some(b)) if a == b => 0,
                (Some(_), Some(_)) => 2,
                _ => 1,
            };
        }
        if units > 0 {
            self.usage.add("ddb.wcu", units as f64);
            self.usage.add("ddb.wcu.gsi", units as f64);
            self.usage.add(format!("ddb.wcu.kind.{}", Self::kind(k)), units as f64);
        }
    }
}

/// An item in DynamoDB's wire JSON, as the requests carry it.
fn wire_item(m: &HashMap<String, aws_sdk_dynamodb::types::AttributeValue>) -> Value {
    Value::Object(m.iter().map(|(k, v)| (k.clone(), wire(v))).collect())
}

fn wire(v: &aws_sdk_dynamodb::types::AttributeValue) -> Value {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    use serde_json::json;
    match v {
        A::S(s) => json!({"S": s}),
        A::N(n) => json!({"N": n}),
        A::Bool(b) => json!({"BOOL": b}),
        A::Null(_) => json!({"NULL": true}),
        A::M(m) => json!({"M": wire_item(m)}),
        A::L(l) => json!({"L": l.iter().map(wire).collect::<Vec<_>>()}),
        A::Ss(v) => json!({"SS": v}),
        A::Ns(v) => json!({"NS": v}),
        A::B(b) => json!({"B": "x".repeat(b.as_ref().len().div_ceil(3) * 4)}),
        _ => Value::Null,
    }
}

/// A JSON attribute value back into the SDK's type (keys are strings).
fn attribute(v: &Value) -> aws_sdk_dynamodb::types::AttributeValue {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    match v.as_object().and_then(|o| o.iter().next()) {
        Some((t, s)) if t == "N" => A::N(s.as_str().unwrap_or("0").to_string()),
        Some((_, s)) => A::S(s.as_str().unwrap_or("").to_string()),
        None => A::Null(true),
    }
}

/// us-east-1 list prices (the figures), in dollars.
pub mod prices {
    pub const DYNAMODB_WRITE_UNIT: f64 = 0.625 / 1e6;
    pub const DYNAMODB_READ_UNIT: f64 = 0.125 / 1e6;
    pub const LAMBDA_GB_SECOND_ARM: f64 = 0.000_013_333_4;
    pub const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
    pub const SQS_REQUEST: f64 = 0.40 / 1e6;
    pub const API_GATEWAY_HTTP_REQUEST: f64 = 1.00 / 1e6;
    pub const S3_PUT: f64 = 0.005 / 1e3;
    pub const S3_GET: f64 = 0.0004 / 1e3;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sizes_follow_dynamodbs_rules() {
        // Name bytes plus UTF-8 value bytes: "名" is three bytes.
        assert_eq!(item_size(&json!({"name": {"S": "abc"}})), 7);
        assert_eq!(item_size(&json!({"n": {"S": "名"}})), 4);
        // Numbers: (significant digits + 1) / 2 + 1.
        assert_eq!(value_size(&json!({"N": "1"})), 2);
        assert_eq!(value_size(&json!({"N": "12345"})), 4);
        assert_eq!(value_size(&json!({"N": "1000"})), 2, "trailing zeros are not significant");
        assert_eq!(value_size(&json!({"N": "-0.5"})), 2);
        assert_eq!(value_size(&json!({"BOOL": true})), 1);
        // Maps and lists: 3 bytes, 1 per element, and the elements.
        assert_eq!(value_size(&json!({"M": {}})), 3);
        assert_eq!(value_size(&json!({"M": {"a": {"S": "xy"}}})), 3 + 1 + 1 + 2);
        assert_eq!(value_size(&json!({"L": [{"S": "xy"}, {"N": "1"}]})), 3 + (1 + 2) + (1 + 2));
        assert_eq!(value_size(&json!({"X": 1})), 0, "an unknown type counts nothing");
    }

    #[test]
    fn write_units_round_up_per_kilobyte_and_double_in_transactions() {
        assert_eq!(write_units(0, 1, false), 1);
        assert_eq!(write_units(0, 1024, false), 1);
        assert_eq!(write_units(0, 1025, false), 2);
        assert_eq!(write_units(3000, 100, false), 3, "the larger of before and after");
        assert_eq!(write_units(0, 1025, true), 4);
        assert_eq!(write_units(0, 0, false), 1, "a write costs at least one unit");
    }

    #[test]
    fn read_units_round_up_per_four_kilobytes() {
        assert_eq!(read_units(0, false, false), 0.5);
        assert_eq!(read_units(4096, true, false), 1.0);
        assert_eq!(read_units(4097, true, false), 2.0);
        assert_eq!(read_units(4097, false, false), 1.0);
        assert_eq!(read_units(100, false, true), 2.0);
    }

    #[test]
    fn usage_since_keeps_only_what_changed() {
        let mut a = Usage::default();
        a.add("ddb.wcu", 3.0);
        let mut b = a.clone();
        b.add("ddb.wcu", 2.0);
        b.add("sqs.requests", 1.0);
        let d = b.since(&a);
        assert_eq!(d.get("ddb.wcu"), 2.0);
        assert_eq!(d.get("sqs.requests"), 1.0);
        assert_eq!(b.since(&b), Usage::default());
    }
}
