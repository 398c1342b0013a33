//! template.yaml agrees with the code: the routes each function serves, the
//! binaries it builds, the table's indexes, the policy, and the rules every
//! queue and log group must follow.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

/// The template as JSON, with CloudFormation tags kept as `{"!Tag": value}`.
fn template() -> Value {
    subsidy_tests::aws::template()
}

fn resources(t: &Value) -> &serde_json::Map<String, Value> {
    t["Resources"].as_object().expect("Resources")
}

fn http_routes(function: &Value) -> BTreeSet<(String, String)> {
    function["Properties"]["Events"]
        .as_object()
        .map(|events| {
            events
                .values()
                .filter(|e| e["Type"] == "HttpApi")
                .map(|e| {
                    (
                        e["Properties"]["Method"].as_str().unwrap().to_string(),
                        e["Properties"]["Path"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn routes(table: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    table.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect()
}

#[test]
fn each_function_serves_exactly_its_routers_routes() {
    let t = template();
    let r = resources(&t);
    assert_eq!(http_routes(&r["SubmissionFunction"]), routes(submission::ROUTES));
    for tier in ["community", "subdistrict", "district"] {
        let name = format!("Review{}{}Function", tier[..1].to_uppercase(), &tier[1..]);
        let expected: BTreeSet<_> =
            review::ROUTES.iter().map(|(m, p)| (m.to_string(), p.replace("{tier}", tier))).collect();
        assert_eq!(http_routes(&r[&name]), expected, "{name}");
        assert_eq!(r[&name]["Properties"]["Environment"]["Variables"]["TIER"], tier);
    }
    assert_eq!(http_routes(&r["AggregationFunction"]), routes(aggregation::ROUTES));
    assert_eq!(http_routes(&r["DisbursementFunction"]), routes(disbursement::ROUTES));
    assert!(http_routes(&r["DispatchFunction"]).is_empty());
    // No route is served twice, and the standalone-only routes are not deployed.
    let mut all = Vec::new();
    for f in r.values().filter(|v| v["Type"] == "AWS::Serverless::Function") {
        all.extend(http_routes(f));
    }
    let unique: BTreeSet<_> = all.iter().cloned().collect();
    assert_eq!(unique.len(), all.len());
    for (m, p) in subsidy_standalone::STANDALONE_ROUTES {
        assert!(!unique.contains(&(m.to_string(), p.to_string())), "{m} {p} is standalone only");
    }
}

#[test]
fn every_function_builds_a_workspace_binary_for_arm64() {
    let t = template();
    assert_eq!(t["Globals"]["Function"]["Runtime"], "provided.al2023");
    assert_eq!(t["Globals"]["Function"]["Architectures"], serde_json::json!(["arm64"]));
    assert_eq!(t["Globals"]["Function"]["Handler"], "bootstrap");
    assert_eq!(t["Globals"]["Function"]["Tracing"], "Active");
    let functions: Vec<_> = resources(&t).iter().filter(|(_, v)| v["Type"] == "AWS::Serverless::Function").collect();
    assert_eq!(functions.len(), 7, "submission, three review tiers, dispatch, aggregation, disbursement");
    for (name, f) in functions {
        assert_eq!(f["Metadata"]["BuildMethod"], "rust-cargolambda", "{name}");
        let binary = f["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap();
        assert!(
            ["submission", "review", "dispatch", "aggregation", "disbursement"].contains(&binary),
            "{name}: {binary}"
        );
        let group = f["Properties"]["LoggingConfig"]["LogGroup"]["!Ref"].as_str().expect("an explicit log group");
        assert_eq!(resources(&t)[group]["Properties"]["RetentionInDays"]["!Ref"], "LogRetentionDays");
    }
    let allowed = t["Parameters"]["LogRetentionDays"]["AllowedValues"].as_array().unwrap();
    assert!(allowed.iter().all(|v| v.as_f64().unwrap() >= 180.0), "logs are kept at least 180 days");
}

#[test]
fn the_table_has_the_indexes_the_adapter_queries() {
    let t = template();
    let table = &resources(&t)["Table"]["Properties"];
    let declared: HashMap<String, (String, String, String)> = table["GlobalSecondaryIndexes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let ks = g["KeySchema"].as_array().unwrap();
            (
                g["IndexName"].as_str().unwrap().to_string(),
                (
                    ks[0]["AttributeName"].as_str().unwrap().to_string(),
                    ks[1]["AttributeName"].as_str().unwrap().to_string(),
                    g["Projection"]["ProjectionType"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect();
    let expected: HashMap<String, (String, String, String)> = subsidy_infra::aws::dynamo::index::ALL
        .iter()
        .map(|(n, h, r)| (n.to_string(), (h.to_string(), r.to_string(), "KEYS_ONLY".to_string())))
        .collect();
    assert_eq!(declared, expected);
    assert_eq!(table["StreamSpecification"]["StreamViewType"], "NEW_AND_OLD_IMAGES");
    assert_eq!(table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true);
    assert_eq!(table["SSESpecification"]["SSEEnabled"], true);
    assert_eq!(table["DeletionProtectionEnabled"], true);
}

#[test]
fn the_default_policy_parameter_is_the_policy_file() {
    let t = template();
    let default = t["Parameters"]["PolicyJson"]["Default"].as_str().unwrap();
    let from_template = subsidy_core::policy::Policy::from_json(default).unwrap();
    let from_file = subsidy_core::policy::Policy::from_json(subsidy_infra::data::SHENZHEN_POLICY).unwrap();
    assert_eq!(from_template, from_file);
}

#[test]
fn every_queue_has_a_dead_letter_queue_and_every_dead_letter_queue_an_alarm() {
    let t = template();
    let r = resources(&t);
    let queues: Vec<&String> = r.iter().filter(|(_, v)| v["Type"] == "AWS::SQS::Queue").map(|(k, _)| k).collect();
    let alarmed: BTreeSet<String> = r
        .values()
        .filter(|v| v["Type"] == "AWS::CloudWatch::Alarm")
        .filter_map(|a| {
            a["Properties"]["Dimensions"][0]["Value"]["!GetAtt"]
                .as_str()
                .map(|s| s.trim_end_matches(".QueueName").to_string())
        })
        .collect();
    let mut dead_letter = BTreeSet::new();
    for q in &queues {
        if let Some(target) = r[*q]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["!GetAtt"].as_str() {
            dead_letter.insert(target.trim_end_matches(".Arn").to_string());
        }
    }
    for q in &queues {
        let is_dlq = dead_letter.contains(*q) || q.contains("DeadLetter") || q.as_str() == "StreamFailureQueue";
        if is_dlq {
            assert!(alarmed.contains(*q), "{q} has no alarm");
        } else {
            assert!(r[*q]["Properties"]["RedrivePolicy"].is_object(), "{q} has no dead-letter queue");
        }
    }
    assert_eq!(dead_letter.len(), 5, "one per tier queue, the export queue and the SMS queue");
}

/// A consumer sends a message that can never succeed straight to the
/// dead-letter queue its source queue redrives to (not burning the
/// retries): so every SQS consumer is told that queue, and may send to it,
/// and to no other dead-letter queue. moto checks no permissions, so this
/// is where a missing grant would show before AWS.
#[test]
fn every_sqs_consumer_may_dead_letter_to_its_own_queues_dead_letter_queue() {
    let t = template();
    let r = resources(&t);
    let mut consumers = 0;
    for (name, f) in r.iter().filter(|(_, v)| v["Type"] == "AWS::Serverless::Function") {
        let sources: Vec<&str> = f["Properties"]["Events"]
            .as_object()
            .map(|e| e.values().filter(|e| e["Type"] == "SQS").collect::<Vec<_>>())
            .unwrap_or_default()
            .iter()
            .map(|e| e["Properties"]["Queue"]["!GetAtt"].as_str().unwrap().trim_end_matches(".Arn"))
            .collect();
        let env = &f["Properties"]["Environment"]["Variables"]["DEAD_LETTER_QUEUE_URL"]["!Ref"];
        let sends: BTreeSet<&str> = f["Properties"]["Policies"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["SQSSendMessagePolicy"]["QueueName"]["!GetAtt"].as_str())
            .map(|q| q.trim_end_matches(".QueueName"))
            .filter(|q| q.contains("DeadLetter"))
            .collect();
        match sources.as_slice() {
            [] => {
                assert!(env.is_null(), "{name} consumes no queue but is told a dead-letter queue");
                assert!(sends.is_empty(), "{name} consumes no queue but may send to {sends:?}");
            }
            [queue] => {
                consumers += 1;
                let dlq = r[*queue]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["!GetAtt"]
                    .as_str()
                    .unwrap()
                    .trim_end_matches(".Arn");
                assert_eq!(env.as_str(), Some(dlq), "{name}'s DEAD_LETTER_QUEUE_URL");
                assert_eq!(sends, BTreeSet::from([dlq]), "{name} may send to exactly its dead-letter queue");
            }
            more => panic!("{name} consumes several queues {more:?}; one dead-letter queue each is not wired"),
        }
    }
    assert_eq!(consumers, 5, "the three review tiers, disbursement, and dispatch (SMS)");
}

#[test]
fn the_stream_mappings_keep_order_bisect_and_have_an_on_failure_destination() {
    let t = template();
    for f in ["DispatchFunction", "AggregationFunction"] {
        let stream = &resources(&t)[f]["Properties"]["Events"]["TableStream"]["Properties"];
        assert_eq!(stream["StartingPosition"], "TRIM_HORIZON", "{f}");
        // Aggregation finds what it counted by the first record of a run: a
        // retried batch must begin where the batch began, so it is never
        // split, and one batch per shard at a time.
        let bisect = f == "DispatchFunction";
        assert_eq!(stream["BisectBatchOnFunctionError"], bisect, "{f}");
        if !bisect {
            assert!(stream["ParallelizationFactor"].as_u64().unwrap_or(1) == 1, "{f}");
            assert_eq!(
                resources(&t)["Table"]["Properties"]["TimeToLiveSpecification"]["AttributeName"],
                "ttl",
                "the logs of counted changes expire by TTL"
            );
        }
        assert_eq!(stream["FunctionResponseTypes"], serde_json::json!(["ReportBatchItemFailures"]), "{f}");
        assert!(stream["DestinationConfig"]["OnFailure"]["Destination"].is_object(), "{f}");
        let filter = stream["FilterCriteria"]["Filters"][0]["Pattern"].as_str().unwrap();
        assert!(filter.contains("\"APP\""), "{f} reads only application items");
    }
    let schedule = &resources(&t)["AggregationFunction"]["Properties"]["Events"]["Nightly"]["Properties"];
    assert_eq!(schedule["Schedule"], "cron(0 17 * * ? *)", "01:00 in Shenzhen");
    for tier in ["Community", "Subdistrict", "District"] {
        let sqs = &resources(&t)[&format!("Review{tier}Function")]["Properties"]["Events"]["Arrivals"]["Properties"];
        assert_eq!(sqs["FunctionResponseTypes"], serde_json::json!(["ReportBatchItemFailures"]));
        assert_eq!(sqs["Queue"]["!GetAtt"], format!("{tier}Queue.Arn"));
    }
}

#[test]
fn the_web_client_is_served_from_a_private_bucket_only_cloudfront_reads() {
    let t = template();
    let r = resources(&t);
    let bucket = &r["WebBucket"]["Properties"];
    for flag in ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"] {
        assert_eq!(bucket["PublicAccessBlockConfiguration"][flag], true, "WebBucket {flag}");
    }
    assert!(bucket.get("WebsiteConfiguration").is_none(), "no public website endpoint");

    let dist = &r["WebDistribution"]["Properties"]["DistributionConfig"];
    let origin = &dist["Origins"][0];
    assert_eq!(
        origin["OriginAccessControlId"]["!If"],
        serde_json::json!(["IsChina", {"!Ref": "AWS::NoValue"}, {"!GetAtt": "WebOriginAccessControl.Id"}])
    );
    assert_eq!(dist["DefaultRootObject"], "index.html");
    assert_eq!(dist["DefaultCacheBehavior"]["ViewerProtocolPolicy"], "redirect-to-https");

    // The only reader the bucket allows is this distribution: by its ARN
    // (origin access control), or in China by its origin access identity.
    let statements = r["WebBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"].as_array().unwrap();
    let reader = statements.iter().find_map(|s| s["!If"].as_array()).expect("the reader depends on the partition");
    assert_eq!(reader[0], "IsChina");
    let (china, global) = (&reader[1], &reader[2]);
    for allow in [china, global] {
        assert_eq!(
            (&allow["Effect"], &allow["Action"]),
            (&serde_json::json!("Allow"), &serde_json::json!("s3:GetObject"))
        );
    }
    assert_eq!(china["Principal"]["CanonicalUser"]["!GetAtt"], "WebOriginAccessIdentity.S3CanonicalUserId");
    assert_eq!(global["Principal"]["Service"], "cloudfront.amazonaws.com");
    let source = global["Condition"]["StringEquals"]["AWS:SourceArn"]["!Sub"].as_str().unwrap();
    assert!(source.ends_with(":distribution/${WebDistribution}"), "{source}");
    assert!(statements.iter().filter(|s| s["Effect"] == "Allow").count() == 0, "no other reader");

    // index.html and config.json are never cached at the edge; hashed assets are.
    const CACHING_DISABLED: &str = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad";
    const CACHING_OPTIMIZED: &str = "658327ea-f89d-4fab-a63d-7e88639e58f6";
    assert_eq!(dist["DefaultCacheBehavior"]["CachePolicyId"], CACHING_DISABLED);
    let behaviors = dist["CacheBehaviors"].as_array().unwrap();
    assert_eq!(behaviors.len(), 1);
    assert_eq!(behaviors[0]["PathPattern"], "/assets/*");
    assert_eq!(behaviors[0]["CachePolicyId"], CACHING_OPTIMIZED);
}

/// A browser sends only the headers CORS allows: every request header the
/// API reads must be in the HTTP API's `AllowHeaders` (moto checks no CORS,
/// so this is where a missing one is caught).
#[test]
fn the_api_allows_every_request_header_it_reads() {
    let t = template();
    let cors = &resources(&t)["HttpApi"]["Properties"]["CorsConfiguration"];
    let allowed: BTreeSet<String> =
        cors["AllowHeaders"].as_array().unwrap().iter().map(|h| h.as_str().unwrap().to_lowercase()).collect();
    for header in ["authorization", "content-type", "idempotency-key", subsidy_core::identity::staff::ACTING_AS_HEADER]
    {
        assert!(allowed.contains(header), "{header} is not in AllowHeaders {allowed:?}");
    }
    let methods: BTreeSet<&str> =
        cors["AllowMethods"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    let used: BTreeSet<&str> = subsidy_standalone::api_routes().into_iter().map(|(m, _)| m).collect();
    assert!(used.is_subset(&methods), "{used:?} ⊄ {methods:?}");
}

/// The first administrator: a stack parameter the submission function
/// reads at start (the directory is otherwise empty on a new stack).
#[test]
fn the_submission_function_is_told_the_first_administrator() {
    let t = template();
    assert_eq!(t["Parameters"]["InitialAdminSub"]["Default"], "");
    let vars = &resources(&t)["SubmissionFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(vars["INITIAL_ADMIN_SUB"], serde_json::json!({"!Ref": "InitialAdminSub"}));
}

/// Every route of every function sits behind the JWT authorizer: it is the
/// HTTP API's default, and no route turns it off (moto runs no authorizer,
/// so only the template can show this), except the public notice (公示):
/// `GET /api/v1/public/notices`, and only it, with `Authorizer: NONE`.
#[test]
fn every_route_is_behind_the_jwt_authorizer_but_the_public_notice() {
    let t = template();
    let r = resources(&t);
    let auth = &r["HttpApi"]["Properties"]["Auth"];
    assert_eq!(auth["DefaultAuthorizer"], "JwtAuthorizer");
    let jwt = &auth["Authorizers"]["JwtAuthorizer"]["JwtConfiguration"];
    assert_eq!(
        (jwt["issuer"].clone(), jwt["audience"].clone()),
        (serde_json::json!({"!Ref": "JwtIssuer"}), serde_json::json!({"!Ref": "JwtAudience"}))
    );
    let mut routes = 0;
    let mut public = Vec::new();
    for (name, res) in r {
        for (event, e) in res["Properties"]["Events"].as_object().into_iter().flatten() {
            if e["Type"] == "HttpApi" {
                routes += 1;
                let p = &e["Properties"];
                match p.get("Auth") {
                    None => {}
                    Some(auth) => {
                        assert_eq!(auth, &serde_json::json!({"Authorizer": "NONE"}), "{name}.{event}");
                        public.push(format!(
                            "{name} {} {}",
                            p["Method"].as_str().unwrap(),
                            p["Path"].as_str().unwrap()
                        ));
                    }
                }
            }
        }
    }
    assert!(routes >= 40, "{routes} routes");
    assert_eq!(public, ["SubmissionFunction GET /api/v1/public/notices"], "the only routes without a token");
}

/// Documents are uploaded once (`If-None-Match: *` in the presigned PUT)
/// and served by version: the browser must be allowed to send the header,
/// and every function that reads documents may read a version. Neither is
/// checked by the emulator.
#[test]
fn documents_are_uploaded_once_and_read_by_version() {
    let t = template();
    let r = resources(&t);
    let rules = &r["DocumentBucket"]["Properties"]["CorsConfiguration"]["CorsRules"][0];
    let headers: BTreeSet<&str> =
        rules["AllowedHeaders"].as_array().unwrap().iter().map(|h| h.as_str().unwrap()).collect();
    for h in ["content-type", "content-length", "if-none-match"] {
        assert!(headers.contains(h), "{h} not allowed by the document bucket's CORS: {headers:?}");
    }
    assert_eq!(r["DocumentBucket"]["Properties"]["VersioningConfiguration"]["Status"], "Enabled");
    let mut readers = 0;
    for (name, res) in r {
        for statement in res["Properties"]["Policies"].as_array().into_iter().flatten() {
            for st in statement["Statement"].as_array().into_iter().flatten() {
                let on_documents = st["Resource"].to_string().contains("DocumentBucket.Arn}/documents/*");
                let actions: Vec<&str> = match &st["Action"] {
                    Value::Array(a) => a.iter().filter_map(|x| x.as_str()).collect(),
                    Value::String(s) => vec![s.as_str()],
                    _ => vec![],
                };
                if on_documents && actions.contains(&"s3:GetObject") {
                    readers += 1;
                    assert!(actions.contains(&"s3:GetObjectVersion"), "{name} reads documents but not their versions");
                }
            }
        }
    }
    // Only submission serves documents (every role reads them through it);
    // the least-privilege check found the review functions' grant unused.
    assert_eq!(readers, 1, "{readers} functions read documents");
}

/// The audit chains' key comes from a KMS HMAC key that outlives the stack;
/// every function that builds the use cases derives it at start, so each
/// may generate MACs with it (and nothing else may; moto checks neither).
#[test]
fn every_function_that_writes_audit_entries_may_derive_the_audit_key() {
    let t = template();
    let r = resources(&t);
    let key = &r["AuditKey"];
    assert_eq!(key["Type"], "AWS::KMS::Key");
    assert_eq!(
        (key["Properties"]["KeySpec"].as_str(), key["Properties"]["KeyUsage"].as_str()),
        (Some("HMAC_256"), Some("GENERATE_VERIFY_MAC"))
    );
    assert_eq!((key["DeletionPolicy"].as_str(), key["UpdateReplacePolicy"].as_str()), (Some("Retain"), Some("Retain")));
    assert_eq!(
        t["Globals"]["Function"]["Environment"]["Variables"]["AUDIT_KEY_ID"],
        serde_json::json!({"!GetAtt": "AuditKey.Arn"})
    );
    let may_mac = |name: &str| {
        r[name]["Properties"]["Policies"].as_array().into_iter().flatten().any(|p| {
            p["Statement"].as_array().into_iter().flatten().any(|st| {
                st["Action"] == "kms:GenerateMac" && st["Resource"] == serde_json::json!({"!GetAtt": "AuditKey.Arn"})
            })
        })
    };
    for name in subsidy_tests::aws::SERVING_FUNCTIONS {
        assert!(may_mac(name), "{name} cannot derive the audit key");
    }
    assert!(!may_mac("DispatchFunction"), "dispatch writes no audit entry and needs no key");
}

/// The audit anchors' bucket locks every object version in compliance mode
/// (moto applies the lock the test stack sets, but does not read the
/// template): only the aggregation function writes there, only under
/// `anchors/`, and no function may delete, relax a lock or change the
/// bucket's configuration.
/// The dispatch function writes out the audit entries that rode on
/// application items, puts notices and reads who holds a role at a unit,
/// and sends their SMS: it may batch-write into application partitions
/// (`APP#…`) and document chains, put and update in notice partitions
/// (`NOTE#…`), query the directory's one partition, read a company's
/// contact, and nothing else (moto evaluates no condition).
#[test]
fn the_stream_writes_audit_entries_out_only_into_application_and_document_partitions() {
    let t = template();
    let r = resources(&t);
    let dispatch = &r["DispatchFunction"]["Properties"];
    assert_eq!(dispatch["Environment"]["Variables"]["TABLE_NAME"], Value::Null, "from the globals");
    assert_eq!(
        t["Globals"]["Function"]["Environment"]["Variables"]["TABLE_NAME"],
        serde_json::json!({"!Ref": "Table"})
    );
    let table_statements: Vec<&Value> = dispatch["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["Statement"].as_array().into_iter().flatten())
        .filter(|st| st["Resource"].to_string().contains("Table"))
        .collect();
    let got: Vec<(String, Value, Value)> = table_statements
        .iter()
        .map(|st| {
            assert_eq!(st["Effect"], "Allow");
            assert_eq!(st["Resource"], serde_json::json!({"!GetAtt": "Table.Arn"}), "the table, not its indexes");
            (st["Sid"].as_str().unwrap().to_string(), st["Action"].clone(), st["Condition"].clone())
        })
        .collect();
    let like = |keys: &[&str]| serde_json::json!({"ForAllValues:StringLike": {"dynamodb:LeadingKeys": keys}});
    assert_eq!(
        got,
        vec![
            // Never a claim, a budget, a batch or a staff member.
            ("AuditWriteOut".to_string(), Value::from("dynamodb:BatchWriteItem"), like(&["APP#*", "DOCAUDIT#*"])),
            ("Notices".to_string(), Value::from("dynamodb:PutItem"), like(&["NOTE#*"])),
            (
                "StaffHolders".to_string(),
                Value::from("dynamodb:Query"),
                serde_json::json!({"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["STAFF"]}})
            ),
            // An SMS's claim and mark, on its notice; a company's number.
            ("SmsLedger".to_string(), Value::from("dynamodb:UpdateItem"), like(&["NOTE#*"])),
            // A step's time, and the city's count of them.
            ("StepTimes".to_string(), serde_json::json!(["dynamodb:PutItem", "dynamodb:UpdateItem"]), like(&["ETA#*"])),
            ("CompanyContact".to_string(), Value::from("dynamodb:GetItem"), like(&["OWNER#*", "COMPANY#*"])),
        ]
    );
}

#[test]
fn audit_anchors_go_to_a_compliance_locked_bucket_only_aggregation_writes() {
    let t = template();
    let r = resources(&t);
    let bucket = &r["AnchorBucket"];
    let p = &bucket["Properties"];
    assert_eq!(p["ObjectLockEnabled"], true);
    assert_eq!(p["ObjectLockConfiguration"]["ObjectLockEnabled"], "Enabled");
    let retention = &p["ObjectLockConfiguration"]["Rule"]["DefaultRetention"];
    assert_eq!(retention["Mode"], "COMPLIANCE", "governance mode can be bypassed with a permission");
    assert_eq!(retention["Days"], serde_json::json!({"!Ref": "AnchorRetentionDays"}));
    let days = &t["Parameters"]["AnchorRetentionDays"];
    assert!(days["Default"].as_f64().unwrap() >= 365.0 && days["MinValue"].as_f64().unwrap() >= 1.0, "{days}");
    assert_eq!(p["VersioningConfiguration"]["Status"], "Enabled");
    assert_eq!(p["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"], true);
    assert_eq!(
        (bucket["DeletionPolicy"].as_str(), bucket["UpdateReplacePolicy"].as_str()),
        (Some("Retain"), Some("Retain"))
    );
    assert!(p["LifecycleConfiguration"].is_null(), "no lifecycle rule expires anchors");

    // What infra/src/aws/anchors.rs calls: ListObjectVersions, GetObject
    // by version, conditional PutObject (moto checks no permission).
    let mut granted: BTreeSet<&str> = BTreeSet::new();
    let aggregation = &r["AggregationFunction"]["Properties"];
    assert_eq!(
        aggregation["Environment"]["Variables"]["ANCHOR_BUCKET_NAME"],
        serde_json::json!({"!Ref": "AnchorBucket"})
    );
    for (name, res) in r {
        for statement in res["Properties"]["Policies"].as_array().into_iter().flatten() {
            for st in statement["Statement"].as_array().into_iter().flatten() {
                if !st["Resource"].to_string().contains("AnchorBucket") {
                    continue;
                }
                assert_eq!(name, "AggregationFunction", "only the nightly job touches the anchors");
                let actions: Vec<&str> = match &st["Action"] {
                    Value::Array(a) => a.iter().filter_map(|x| x.as_str()).collect(),
                    Value::String(s) => vec![s.as_str()],
                    _ => vec![],
                };
                for a in &actions {
                    assert!(
                        ["s3:PutObject", "s3:GetObject", "s3:GetObjectVersion", "s3:ListBucketVersions"].contains(a),
                        "{name} may {a} on the anchors"
                    );
                }
                granted.extend(actions.iter().copied());
                if actions.contains(&"s3:PutObject") {
                    assert_eq!(st["Resource"], serde_json::json!({"!Sub": "${AnchorBucket.Arn}/anchors/*"}));
                }
            }
        }
    }
    let needed: BTreeSet<&str> = ["s3:PutObject", "s3:GetObjectVersion", "s3:ListBucketVersions"].into_iter().collect();
    assert_eq!(granted, needed);
}

/// Finance's browser fetches the presigned batch file and report URLs
/// cross-origin, and PUTs a large results file to a presigned upload URL:
/// without a CORS rule on the exports bucket the browser blocks both (moto
/// checks no CORS). GET and PUT from the client's origin only, and every
/// header the S3 adapter's signed upload makes the browser send is allowed
/// (the browser sets Content-Length and Host itself; they need no rule).
#[tokio::test]
async fn the_exports_bucket_lets_the_clients_origin_download_and_upload_results_and_nothing_else() {
    use subsidy_core::ports::BlobStore;
    let t = template();
    let rules = &resources(&t)["ExportsBucket"]["Properties"]["CorsConfiguration"]["CorsRules"];
    let rules = rules.as_array().expect("the exports bucket has CORS rules");
    assert_eq!(rules.len(), 1);
    let methods: BTreeSet<&str> =
        rules[0]["AllowedMethods"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    assert_eq!(methods, ["GET", "PUT"].into_iter().collect(), "downloads and results uploads only");
    assert_eq!(rules[0]["AllowedOrigins"], serde_json::json!([{"!Ref": "AllowedOrigin"}]));
    let allowed: BTreeSet<String> = rules[0]["AllowedHeaders"]
        .as_array()
        .expect("the upload's headers are allowed")
        .iter()
        .map(|h| h.as_str().unwrap().to_ascii_lowercase())
        .collect();
    assert!(!allowed.contains("*"), "only the headers an upload signs");

    // What the S3 adapter signs (presigning is offline: no endpoint is called).
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("cn-north-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new("AKID", "secret", None, None, "test"))
        .build();
    let s3 = subsidy_infra::aws::s3::S3Blobs::new(aws_sdk_s3::Client::from_conf(config), "exports");
    let key = "exports/batches/B/results-01J00000000000000000000000.csv";
    let upload = s3
        .presign_put(key, subsidy_core::payout::RESULTS_CONTENT_TYPE, 1234, std::time::Duration::from_secs(900))
        .await
        .unwrap();
    assert_eq!(upload.method, "PUT");
    let sent: BTreeSet<String> = upload
        .headers
        .iter()
        .map(|(k, _)| k.to_ascii_lowercase())
        .filter(|k| !["content-length", "host"].contains(&k.as_str()))
        .collect();
    assert!(sent.contains("content-type") && sent.contains("if-none-match"), "{sent:?}");
    let missing: Vec<&String> = sent.difference(&allowed).collect();
    assert!(missing.is_empty(), "the browser's preflight would be refused for {missing:?}");
}

/// CloudWatch alarms (and EventBridge) publish to an encrypted topic only
/// if the key's policy lets their service principals use it; the
/// AWS-managed `alias/aws/sns` key does not, so alarms would reach nobody.
#[test]
fn the_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use() {
    let t = template();
    let r = resources(&t);
    let key_ref = &r["AlarmTopic"]["Properties"]["KmsMasterKeyId"]["!Ref"];
    let key = key_ref.as_str().expect("the alarm topic's key is a key of this stack, not an AWS-managed alias");
    assert_eq!(r[key]["Type"], "AWS::KMS::Key");
    let statements = r[key]["Properties"]["KeyPolicy"]["Statement"].as_array().unwrap();
    let lets = |service: &str| {
        statements.iter().any(|s| {
            let principals = &s["Principal"]["Service"];
            let named = principals.as_array().map_or(principals == service, |a| a.iter().any(|p| p == service));
            let actions: Vec<&str> = match &s["Action"] {
                Value::Array(a) => a.iter().filter_map(|a| a.as_str()).collect(),
                one => one.as_str().into_iter().collect(),
            };
            s["Effect"] == "Allow"
                && named
                && actions.contains(&"kms:Decrypt")
                && actions.contains(&"kms:GenerateDataKey*")
        })
    };
    assert!(lets("cloudwatch.amazonaws.com"), "CloudWatch may encrypt to the topic");
    assert!(lets("events.amazonaws.com"), "EventBridge may encrypt to the topic");
}

/// S3 answers a HEAD (or GET) of a missing key with 403, not 404, unless
/// the caller may list the bucket: every function that asks whether an
/// object exists yet (a batch's files, a day's report) may list its bucket.
#[test]
fn functions_that_look_for_objects_not_yet_written_may_list_the_bucket() {
    let t = template();
    let r = resources(&t);
    for function in ["AggregationFunction", "DisbursementFunction"] {
        let statements: Vec<&Value> = r[function]["Properties"]["Policies"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["Statement"].as_array())
            .flatten()
            .collect();
        let lists = statements.iter().any(|s| {
            s["Effect"] == "Allow"
                && s["Action"] == "s3:ListBucket"
                && s["Resource"]["!GetAtt"] == "ExportsBucket.Arn"
                && s["Condition"].is_null()
        });
        assert!(lists, "{function} may list the exports bucket, so a missing object is a 404");
    }
}

fn functions(r: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    r.iter().filter(|(_, v)| v["Type"] == "AWS::Serverless::Function").collect()
}

fn events_of<'a>(f: &'a Value, kind: &str) -> Vec<&'a Value> {
    f["Properties"]["Events"]
        .as_object()
        .map(|e| e.values().filter(|e| e["Type"] == kind).collect())
        .unwrap_or_default()
}

/// The alarms on `metric` (in `namespace`), by the resource their first
/// dimension names.
fn alarmed(r: &serde_json::Map<String, Value>, namespace: &str, metric: &str) -> BTreeSet<String> {
    r.values()
        .filter(|a| a["Type"] == "AWS::CloudWatch::Alarm")
        .map(|a| &a["Properties"])
        .filter(|p| p["Namespace"] == namespace && p["MetricName"] == metric)
        .filter_map(|p| p["Dimensions"][0]["Value"]["!Ref"].as_str().map(str::to_string))
        .collect()
}

/// Every asynchronous path ends somewhere a person is told: a document
/// check and the nightly run that fail for good go to a dead-letter queue
/// with an alarm, and so does a schedule delivery that never reaches the
/// function.
#[test]
fn every_asynchronous_invocation_has_a_failure_path_with_an_alarm() {
    let t = template();
    let r = resources(&t);
    let alarmed_queues: BTreeSet<String> = r
        .values()
        .filter(|a| a["Type"] == "AWS::CloudWatch::Alarm" && a["Properties"]["Namespace"] == "AWS/SQS")
        .filter_map(|a| a["Properties"]["Dimensions"][0]["Value"]["!GetAtt"].as_str())
        .map(|q| q.trim_end_matches(".QueueName").to_string())
        .collect();
    let mut asynchronous = 0;
    for (name, f) in functions(r) {
        let rules = events_of(f, "EventBridgeRule").into_iter().chain(events_of(f, "Schedule")).collect::<Vec<_>>();
        if rules.is_empty() {
            continue;
        }
        asynchronous += 1;
        let on_failure = &f["Properties"]["EventInvokeConfig"]["DestinationConfig"]["OnFailure"];
        assert_eq!(on_failure["Type"], "SQS", "{name} has an on-failure destination");
        let queue = on_failure["Destination"]["!GetAtt"].as_str().unwrap().trim_end_matches(".Arn");
        assert!(alarmed_queues.contains(queue), "{name}'s failures land in {queue}, which has an alarm");
        for rule in rules {
            let dlq = rule["Properties"]["DeadLetterConfig"]["Arn"]["!GetAtt"].as_str();
            let dlq =
                dlq.unwrap_or_else(|| panic!("{name}: every rule has a dead-letter queue")).trim_end_matches(".Arn");
            assert!(alarmed_queues.contains(dlq), "{name}: {dlq} has an alarm");
            assert!(rule["Properties"]["RetryPolicy"]["MaximumRetryAttempts"].is_number(), "{name}: a retry policy");
            let lets_events_send = r.values().any(|p| {
                p["Type"] == "AWS::SQS::QueuePolicy"
                    && p["Properties"]["Queues"][0]["!Ref"] == dlq
                    && p["Properties"]["PolicyDocument"]["Statement"].as_array().unwrap().iter().any(|s| {
                        s["Principal"]["Service"] == "events.amazonaws.com" && s["Action"] == "sqs:SendMessage"
                    })
            });
            assert!(lets_events_send, "{name}: EventBridge may send to {dlq}");
        }
    }
    assert_eq!(asynchronous, 2, "submission (document uploads) and aggregation (the nightly run)");
}

/// The nightly run's alarms treat a day without figures as breaching: a
/// run that did not happen is as loud as drift. And each metric they watch
/// is one the nightly run emits.
#[test]
fn a_nightly_run_that_did_not_happen_raises_an_alarm() {
    let t = template();
    let r = resources(&t);
    let line: Value = serde_json::from_str(&aggregation::nightly_metrics(0, chrono::Utc::now())).unwrap();
    let emitted: Vec<&str> = line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap())
        .collect();
    let nightly: Vec<&Value> = r
        .values()
        .filter(|a| a["Type"] == "AWS::CloudWatch::Alarm" && a["Properties"]["Namespace"] == "Subsidy")
        .collect();
    let watched: BTreeSet<&str> = nightly.iter().map(|a| a["Properties"]["MetricName"].as_str().unwrap()).collect();
    assert_eq!(watched, BTreeSet::from(["NightlyCompleted", "StatsDrift"]));
    for a in nightly {
        let p = &a["Properties"];
        assert_eq!(p["TreatMissingData"], "breaching", "{}", p["MetricName"]);
        assert!(emitted.contains(&p["MetricName"].as_str().unwrap()), "the nightly run emits {}", p["MetricName"]);
        assert_eq!(p["Period"].as_f64(), Some(86400.0));
    }
}

/// A function that fails or is throttled, a stream consumer that falls
/// behind, and an API answering 5xx each raise an alarm.
#[test]
fn every_function_has_error_and_throttle_alarms_and_every_stream_consumer_an_iterator_age_alarm() {
    let t = template();
    let r = resources(&t);
    let (errors, throttles) = (alarmed(r, "AWS/Lambda", "Errors"), alarmed(r, "AWS/Lambda", "Throttles"));
    let ages = alarmed(r, "AWS/Lambda", "IteratorAge");
    for (name, f) in functions(r) {
        assert!(errors.contains(name.as_str()), "{name} has an Errors alarm");
        assert!(throttles.contains(name.as_str()), "{name} has a Throttles alarm");
        assert_eq!(!events_of(f, "DynamoDB").is_empty(), ages.contains(name.as_str()), "{name}: IteratorAge alarm");
    }
    let age = r.values().find(|a| a["Properties"]["MetricName"] == "IteratorAge").unwrap();
    assert_eq!(age["Properties"]["Threshold"].as_f64(), Some(60000.0), "over 60 s behind");
    assert!(alarmed(r, "AWS/ApiGateway", "5xx").contains("HttpApi"), "the API's 5xx");
}

/// Load on the API cannot starve the consumers: the API is throttled, every
/// stream and queue consumer has reserved concurrency, and every queue
/// mapping a ceiling of its own.
#[test]
fn the_api_is_throttled_and_every_consumer_has_concurrency_of_its_own() {
    let t = template();
    let r = resources(&t);
    let route = &r["HttpApi"]["Properties"]["DefaultRouteSettings"];
    assert_eq!(route["ThrottlingBurstLimit"]["!Ref"], "ApiBurstLimit");
    assert_eq!(route["ThrottlingRateLimit"]["!Ref"], "ApiRateLimit");
    let mut consumers = 0;
    for (name, f) in functions(r) {
        let (sqs, streams) = (events_of(f, "SQS"), events_of(f, "DynamoDB"));
        if sqs.is_empty() && streams.is_empty() {
            continue;
        }
        consumers += 1;
        let reserved = &f["Properties"]["ReservedConcurrentExecutions"]["!If"];
        let param = if streams.is_empty() { "QueueConsumerConcurrency" } else { "StreamConsumerConcurrency" };
        assert_eq!(reserved[1]["!Ref"], param, "{name} reserves {param}");
        for m in sqs {
            let most = &m["Properties"]["ScalingConfig"]["MaximumConcurrency"];
            if streams.is_empty() {
                assert_eq!(most["!Ref"], "QueueMaximumConcurrency", "{name}");
            } else {
                // A queue beside the stream takes the least SQS allows of
                // the stream's reservation.
                assert_eq!(most.as_f64(), Some(2.0), "{name}");
            }
        }
    }
    assert_eq!(consumers, 6, "dispatch, aggregation, three review tiers, disbursement");
}

/// Every string of the template, walked (keys excluded).
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

/// The stack deploys to the AWS China regions too: no ARN names the
/// global partition, and the web hosting uses origin access control where
/// CloudFront has it and an origin access identity in China, where it does
/// not (`make check-template` lints all three regions).
#[test]
fn the_stack_deploys_to_the_china_partition() {
    let t = template();
    let mut all = Vec::new();
    strings(&t, &mut all);
    let literal: Vec<&String> = all.iter().filter(|s| s.contains("arn:aws:") || s.contains("arn:aws-cn:")).collect();
    assert!(literal.is_empty(), "ARNs use ${{AWS::Partition}}: {literal:?}");
    let r = resources(&t);
    let is_china = &t["Conditions"]["IsChina"];
    let regions: BTreeSet<&str> = is_china["!Or"]
        .as_array()
        .expect("IsChina is decided by region, which cfn-lint evaluates")
        .iter()
        .map(|e| e["!Equals"][1].as_str().unwrap())
        .collect();
    assert_eq!(regions, BTreeSet::from(["cn-north-1", "cn-northwest-1"]));
    assert_eq!(r["WebOriginAccessControl"]["Condition"], "NotChina");
    assert_eq!(r["WebOriginAccessIdentity"]["Condition"], "IsChina");
    let origin = &r["WebDistribution"]["Properties"]["DistributionConfig"]["Origins"][0];
    assert_eq!(origin["OriginAccessControlId"]["!If"][0], "IsChina");
    assert_eq!(origin["S3OriginConfig"]["OriginAccessIdentity"]["!If"][0], "IsChina");
    let script = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/check-template.sh")).unwrap();
    assert!(script.contains("--regions us-east-1 cn-north-1 cn-northwest-1"), "the lint covers the China regions");
}

/// The record outlives the stack and the outage: log groups are kept when
/// the stack goes, queues keep messages as long as their dead-letter
/// queues, access logs say who called what from where, and no browser
/// origin but the client's is allowed.
#[test]
fn logs_are_kept_queues_outlast_an_outage_and_only_the_clients_origin_is_allowed() {
    let t = template();
    let r = resources(&t);
    for (name, g) in r.iter().filter(|(_, v)| v["Type"] == "AWS::Logs::LogGroup") {
        assert_eq!(
            (&g["DeletionPolicy"], &g["UpdateReplacePolicy"]),
            (&Value::from("Retain"), &Value::from("Retain")),
            "{name}"
        );
    }
    for (name, q) in r.iter().filter(|(_, v)| v["Type"] == "AWS::SQS::Queue") {
        assert_eq!(q["Properties"]["MessageRetentionPeriod"].as_f64(), Some(1_209_600.0), "{name} keeps 14 days");
    }
    let format = r["HttpApi"]["Properties"]["AccessLogSettings"]["Format"].as_str().unwrap();
    let format: Value = serde_json::from_str(format).expect("the access log line is JSON");
    for (field, variable) in [
        ("sourceIp", "$context.identity.sourceIp"),
        ("sub", "$context.authorizer.claims.sub"),
        ("method", "$context.httpMethod"),
        ("path", "$context.path"),
        ("status", "$context.status"),
    ] {
        assert_eq!(format[field], variable, "the access log carries {field}");
    }
    let origin = &t["Parameters"]["AllowedOrigin"];
    assert!(origin.get("Default").is_none(), "the deployer names the client's origin; there is no default");
    assert_eq!(origin["AllowedPattern"], r"^https://[^*/\s]+$", "one https origin, never a wildcard");
}

/// `make check-template` runs cfn-lint with the serverless rules; what it
/// still reports is waived in the template with the reason beside it. The
/// waivers are exactly these, so a new one is a decision this test shows.
#[test]
fn the_serverless_rules_waivers_are_the_reviewed_ones() {
    let t = template();
    let mut waived: Vec<(String, String)> = Vec::new();
    for (name, r) in resources(&t) {
        for check in r["Metadata"]["cfn-lint"]["config"]["ignore_checks"].as_array().into_iter().flatten() {
            waived.push((check.as_str().unwrap().to_string(), name.clone()));
        }
    }
    let by_check = |c: &str| waived.iter().filter(|(k, _)| k == c).map(|(_, n)| n.as_str()).collect::<BTreeSet<_>>();
    let functions: BTreeSet<&str> = functions(resources(&t)).into_iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(by_check("WS1004"), functions, "every function logs to its own group, with retention");
    assert_eq!(by_check("WS1002"), BTreeSet::from(["AggregationFunction", "SubmissionFunction"]), "API plus events");
    assert!(by_check("ES6000").iter().all(|q| q.contains("DeadLetter") || *q == "StreamFailureQueue"), "only DLQs");
    let other: Vec<_> = waived.iter().filter(|(k, _)| !["WS1004", "WS1002", "ES6000"].contains(&k.as_str())).collect();
    assert!(other.is_empty(), "an unreviewed waiver: {other:?}");
    let script = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/check-template.sh")).unwrap();
    assert!(script.contains("-a cfn_lint_serverless.rules"));
}

/// The operations dashboard shows the business figures the consumers emit
/// and every metric an alarm watches, by the names the code and the alarms
/// use (a renamed metric would leave a blank graph).
#[test]
fn the_dashboard_shows_the_business_figures_and_every_alarmed_metric() {
    let t = template();
    let r = resources(&t);
    let body = r["OperationsDashboard"]["Properties"]["DashboardBody"]["!Sub"].as_str().expect("a dashboard");
    let body: Value = serde_json::from_str(body).expect("the dashboard body is JSON");
    let shown: BTreeSet<(String, String)> = body["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|w| w["properties"]["metrics"].as_array().unwrap().iter())
        .map(|m| (m[0].as_str().unwrap().to_string(), m[1].as_str().unwrap().to_string()))
        .collect();
    let emitted = |line: &str| -> Vec<String> {
        let v: Value = serde_json::from_str(line).unwrap();
        v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap().into())
            .collect()
    };
    let event: aws_lambda_events::dynamodb::Event =
        serde_json::from_str(include_str!("../../events/dispatch/stream-batch-ok.json")).unwrap();
    let app = event.records.iter().find_map(|r| subsidy_infra::stream::change_of(r).ok().flatten()).unwrap().new;
    let paid = subsidy_core::application::dispatch::ChangeRecord {
        old: Some(subsidy_core::application::Application {
            state: subsidy_core::application::State::InPaymentBatch,
            ..app.clone()
        }),
        new: subsidy_core::application::Application { state: subsidy_core::application::State::Paid, ..app },
    };
    let business = aggregation::business_metrics(&[paid], chrono::Utc::now()).unwrap();
    for name in emitted(&business).into_iter().chain(emitted(&aggregation::nightly_metrics(0, chrono::Utc::now()))) {
        assert!(shown.contains(&("Subsidy".to_string(), name.clone())), "the dashboard shows Subsidy/{name}");
    }
    for a in r.values().filter(|a| a["Type"] == "AWS::CloudWatch::Alarm") {
        let p = &a["Properties"];
        let metric = (p["Namespace"].as_str().unwrap().to_string(), p["MetricName"].as_str().unwrap().to_string());
        assert!(shown.contains(&metric), "the dashboard shows {metric:?}, which an alarm watches");
    }
}

/// A queue EventBridge may send to takes only this account's rules: the
/// service principal alone would let any account's rule send there.
#[test]
fn eventbridge_may_send_to_a_dead_letter_queue_only_from_this_account() {
    let t = template();
    let mut policies = 0;
    for p in resources(&t).values().filter(|p| p["Type"] == "AWS::SQS::QueuePolicy") {
        for s in p["Properties"]["PolicyDocument"]["Statement"].as_array().unwrap() {
            if s["Principal"]["Service"] == "events.amazonaws.com" {
                policies += 1;
                assert_eq!(s["Condition"]["StringEquals"]["aws:SourceAccount"]["!Ref"], "AWS::AccountId", "{s}");
            }
        }
    }
    assert_eq!(policies, 2, "the document-event and the async dead-letter queues");
}

/// Lambda refuses an SQS event source whose queue's visibility timeout is
/// shorter than the function's timeout (moto creates no mapping, so only
/// here would it show before a deploy): every queue a function consumes
/// keeps a message out of sight at least as long as the function may run.
#[test]
fn every_consumed_queue_hides_a_message_at_least_as_long_as_its_consumer_runs() {
    let t = template();
    let r = resources(&t);
    let default_timeout = t["Globals"]["Function"]["Timeout"].as_f64().expect("a global timeout");
    let mut checked = 0;
    for (name, f) in functions(r) {
        let timeout = f["Properties"]["Timeout"].as_f64().unwrap_or(default_timeout);
        for e in events_of(f, "SQS") {
            let queue = e["Properties"]["Queue"]["!GetAtt"].as_str().unwrap().trim_end_matches(".Arn");
            // SQS's default, 30 s, when the template sets none.
            let visibility = r[queue]["Properties"]["VisibilityTimeout"].as_f64().unwrap_or(30.0);
            assert!(
                visibility >= timeout,
                "{name}: {queue} hides a message {visibility} s, the function runs {timeout} s"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 5, "three review tiers, disbursement, and dispatch (its SMS queue)");
}
