//! Least privilege, recorded: every SDK request a function's code makes on
//! the emulator, as the IAM action and resource ARN AWS would check it
//! against that function's role.
//!
//! moto checks no permissions, so the emulator suites cannot fail on a
//! denied request. Instead every [`crate::aws::AwsStack`] records what each
//! function did (see [`crate::metering::as_function`]), and when the stack
//! goes, writes it here as [`Use`]s to `target/least-privilege/uses/`.
//! `tools/iam/check.mjs` (run by `make test-emulator`) then evaluates every
//! use against the function's policies as CloudFormation would create them
//! from template.yaml (expanded by aws-sam-translator), with
//! `@cloud-copilot/iam-simulate`, and fails on any denied use and on any
//! granted action no use needs (docs/RELIABILITY.md).
//!
//! Resource names are written by their logical id in the template (the
//! table is `Table`, the document bucket `DocumentBucket`), in account
//! `123456789012`, region `us-east-1`, so every stack's uses compare with
//! the one expanded template.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::metering::{Call, Service};

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

/// One permission a function's code needed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Use {
    /// The function's logical id in template.yaml.
    pub function: String,
    /// The IAM action, e.g. `dynamodb:PutItem`.
    pub action: String,
    pub resource: String,
    /// Condition keys the request carries (`s3:prefix` for a listing).
    pub context: BTreeMap<String, String>,
    /// Why: the request that needed it (`PutItem`, `HEAD 404`, …).
    pub because: String,
}

/// The physical names of one stack's resources, by logical id.
#[derive(Debug, Clone, Default)]
pub struct Names {
    pub table: String,
    pub audit_key_arn: String,
    /// Bucket name → logical id.
    pub buckets: BTreeMap<String, String>,
    /// Queue URL → logical id.
    pub queues: BTreeMap<String, String>,
}

impl Names {
    fn bucket(&self, physical: &str) -> String {
        self.buckets.get(physical).cloned().unwrap_or_else(|| format!("UNKNOWN-BUCKET-{physical}"))
    }

    fn queue(&self, url: &str) -> String {
        self.queues.get(url).cloned().unwrap_or_else(|| format!("UNKNOWN-QUEUE-{url}"))
    }

    fn table(&self, physical: &str) -> String {
        if physical == self.table { "Table".into() } else { format!("UNKNOWN-TABLE-{physical}") }
    }
}

pub fn table_arn(logical: &str) -> String {
    format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{logical}")
}

pub fn queue_arn(logical: &str) -> String {
    format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{logical}")
}

/// The permissions one recorded call needed. Calls no function made (the
/// test's own looks, the event-source mappings' receives) need none here.
pub fn uses_of(call: &Call, names: &Names) -> Vec<Use> {
    let Some(function) = call.function else { return Vec::new() };
    let use_ = |action: &str, resource: String, context: BTreeMap<String, String>, because: String| Use {
        function: function.to_string(),
        action: action.to_string(),
        resource,
        context,
        because,
    };
    let none = BTreeMap::new;
    let r = &call.request;
    match call.service {
        Service::DynamoDb => dynamo_uses(call, names)
            .into_iter()
            .map(|(action, resource)| use_(&action, resource, none(), call.op.clone()))
            .collect(),
        Service::Sqs => match call.op.as_str() {
            "SendMessage" | "SendMessageBatch" => {
                let queue = names.queue(r["QueueUrl"].as_str().unwrap_or_default());
                vec![use_("sqs:SendMessage", queue_arn(&queue), none(), call.op.clone())]
            }
            "ChangeMessageVisibility" | "DeleteMessage" => {
                let queue = names.queue(r["QueueUrl"].as_str().unwrap_or_default());
                vec![use_(&format!("sqs:{}", call.op), queue_arn(&queue), none(), call.op.clone())]
            }
            other => vec![use_(&format!("sqs:{other}"), "*".into(), none(), call.op.clone())],
        },
        Service::Kms => {
            let key = if r["KeyId"].as_str() == Some(names.audit_key_arn.as_str()) {
                "AuditKey".to_string()
            } else {
                format!("UNKNOWN-KEY-{}", r["KeyId"])
            };
            vec![use_(
                &format!("kms:{}", call.op),
                format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{key}"),
                none(),
                call.op.clone(),
            )]
        }
        // A message straight to a phone number names no topic: IAM checks
        // it against "*".
        Service::Sns => vec![use_(&format!("sns:{}", call.op), "*".into(), none(), call.op.clone())],
        Service::S3 => s3_uses(call, names)
            .into_iter()
            .map(|(action, resource, context, because)| use_(&action, resource, context, because))
            .collect(),
    }
}

fn dynamo_uses(call: &Call, names: &Names) -> Vec<(String, String)> {
    let r = &call.request;
    let table = |v: &Value| table_arn(&names.table(v.as_str().unwrap_or_default()));
    let on_table = |action: &str| vec![(format!("dynamodb:{action}"), table(&r["TableName"]))];
    match call.op.as_str() {
        "Query" | "Scan" => {
            let mut arn = table(&r["TableName"]);
            if let Some(index) = r["IndexName"].as_str() {
                arn = format!("{arn}/index/{index}");
            }
            vec![(format!("dynamodb:{}", call.op), arn)]
        }
        // A transaction is authorized item by item, by each item's action.
        "TransactWriteItems" => r["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| {
                let (kind, body) = item.as_object()?.iter().next()?;
                let action = match kind.as_str() {
                    "Put" => "PutItem",
                    "Update" => "UpdateItem",
                    "Delete" => "DeleteItem",
                    "ConditionCheck" => "ConditionCheckItem",
                    _ => return None,
                };
                Some((format!("dynamodb:{action}"), table(&body["TableName"])))
            })
            .collect(),
        "TransactGetItems" => r["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|item| ("dynamodb:GetItem".to_string(), table(&item["Get"]["TableName"])))
            .collect(),
        "BatchGetItem" | "BatchWriteItem" => r["RequestItems"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(t, _)| (format!("dynamodb:{}", call.op), table(&Value::from(t.as_str()))))
            .collect(),
        op => on_table(op),
    }
}

/// Path-style S3 (`/{bucket}/{key}?{query}`), as the emulator is addressed.
fn s3_uses(call: &Call, names: &Names) -> Vec<(String, String, BTreeMap<String, String>, String)> {
    let url = match url::Url::parse(&call.uri) {
        Ok(u) => u,
        Err(_) => return vec![("s3:UNPARSED".into(), call.uri.clone(), BTreeMap::new(), call.op.clone())],
    };
    let path = url.path().trim_start_matches('/');
    let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
    let key = percent_encoding::percent_decode_str(key).decode_utf8_lossy();
    let query: BTreeMap<String, String> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let bucket = names.bucket(bucket);
    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    let object_arn = format!("arn:aws:s3:::{bucket}/{key}");
    let method = if call.op == "LIST" { "GET" } else { call.op.as_str() };
    let because = format!("{} {}{}", call.op, if call.presigned { "presigned " } else { "" }, call.status);
    let prefix = || BTreeMap::from([("s3:prefix".to_string(), query.get("prefix").cloned().unwrap_or_default())]);
    let versioned = query.contains_key("versionId");
    let mut out = Vec::new();
    match method {
        "GET" if query.contains_key("versions") => {
            out.push(("s3:ListBucketVersions".into(), bucket_arn.clone(), prefix(), because.clone()))
        }
        "GET" if key.is_empty() => out.push(("s3:ListBucket".into(), bucket_arn.clone(), prefix(), because.clone())),
        "GET" | "HEAD" => {
            let action = if versioned { "s3:GetObjectVersion" } else { "s3:GetObject" };
            out.push((action.into(), object_arn, BTreeMap::new(), because.clone()));
            // S3 tells a missing key (404) from a forbidden one (403) only
            // to a caller who may list the bucket.
            if call.status == 404 {
                out.push(("s3:ListBucket".into(), bucket_arn, BTreeMap::new(), because.clone()));
            }
        }
        "PUT" => out.push(("s3:PutObject".into(), object_arn, BTreeMap::new(), because.clone())),
        "DELETE" => {
            let action = if versioned { "s3:DeleteObjectVersion" } else { "s3:DeleteObject" };
            out.push((action.into(), object_arn, BTreeMap::new(), because.clone()));
        }
        other => out.push((format!("s3:UNMAPPED-{other}"), object_arn, BTreeMap::new(), because.clone())),
    }
    out
}

/// Writes `uses` (deduplicated) to `target/least-privilege/uses/{name}.json`.
pub fn write(name: &str, uses: &[Use]) {
    let mut uses = uses.to_vec();
    uses.sort();
    uses.dedup();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/least-privilege/uses");
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(dir.join(format!("{name}.json")), serde_json::to_vec_pretty(&uses).unwrap_or_default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(service: Service, op: &str, request: Value, uri: &str, status: u16) -> Call {
        Call {
            service,
            op: op.into(),
            request,
            response: Value::Null,
            ok: status < 400,
            function: Some("F"),
            uri: uri.into(),
            status,
            presigned: false,
        }
    }

    fn names() -> Names {
        Names {
            table: "t1-table".into(),
            audit_key_arn: "arn:aws:kms:us-east-1:123456789012:key/abc".into(),
            buckets: BTreeMap::from([("t1-exports".into(), "ExportsBucket".into())]),
            queues: BTreeMap::from([("http://localhost/123456789012/t1-ExportQueue".into(), "ExportQueue".into())]),
        }
    }

    fn actions(c: &Call) -> Vec<(String, String)> {
        uses_of(c, &names()).into_iter().map(|u| (u.action, u.resource)).collect()
    }

    #[test]
    fn a_transaction_needs_each_items_own_action_and_an_index_query_the_index() {
        let txn = json!({"TransactItems": [
            {"Put": {"TableName": "t1-table"}}, {"ConditionCheck": {"TableName": "t1-table"}}, {"Update": {"TableName": "t1-table"}}
        ]});
        let t = table_arn("Table");
        assert_eq!(
            actions(&call(Service::DynamoDb, "TransactWriteItems", txn, "", 200)),
            vec![
                ("dynamodb:PutItem".into(), t.clone()),
                ("dynamodb:ConditionCheckItem".into(), t.clone()),
                ("dynamodb:UpdateItem".into(), t.clone())
            ]
        );
        let q = json!({"TableName": "t1-table", "IndexName": "byOwner"});
        assert_eq!(
            actions(&call(Service::DynamoDb, "Query", q, "", 200)),
            vec![("dynamodb:Query".into(), format!("{t}/index/byOwner"))]
        );
    }

    #[test]
    fn a_head_of_a_missing_object_also_needs_the_listing_and_versions_need_their_own_actions() {
        let head =
            call(Service::S3, "HEAD", Value::Null, "http://localhost:5000/t1-exports/exports/reports/a.csv", 404);
        assert_eq!(
            actions(&head),
            vec![
                ("s3:GetObject".into(), "arn:aws:s3:::ExportsBucket/exports/reports/a.csv".into()),
                ("s3:ListBucket".into(), "arn:aws:s3:::ExportsBucket".into())
            ]
        );
        let get = call(Service::S3, "GET", Value::Null, "http://localhost:5000/t1-exports/k?versionId=v1", 200);
        assert_eq!(actions(&get), vec![("s3:GetObjectVersion".into(), "arn:aws:s3:::ExportsBucket/k".into())]);
        let list =
            call(Service::S3, "GET", Value::Null, "http://localhost:5000/t1-exports?versions&prefix=anchors%2F", 200);
        let u = uses_of(&list, &names());
        assert_eq!((u[0].action.as_str(), u[0].context["s3:prefix"].as_str()), ("s3:ListBucketVersions", "anchors/"));
    }

    #[test]
    fn a_send_names_its_queue_and_what_no_function_did_needs_nothing() {
        let send = call(
            Service::Sqs,
            "SendMessage",
            json!({"QueueUrl": "http://localhost/123456789012/t1-ExportQueue"}),
            "",
            200,
        );
        assert_eq!(actions(&send), vec![("sqs:SendMessage".into(), queue_arn("ExportQueue"))]);
        let mut receive = call(Service::Sqs, "ReceiveMessage", json!({}), "", 200);
        receive.function = None;
        assert!(uses_of(&receive, &names()).is_empty());
        let unknown = call(Service::S3, "PUT", Value::Null, "http://localhost:5000/elsewhere/k", 200);
        assert!(actions(&unknown)[0].1.contains("UNKNOWN-BUCKET"), "a bucket not of the stack is never matched");
    }

    use serde_json::json;
}
