//! The aggregation function: live totals per jurisdiction (汇总).
//!
//! - [`router`] serves the stats of a unit and its children, and its
//!   summary report (汇总表) as XLSX or CSV, on demand or as stored daily.
//! - [`handle_stream`] counts committed changes (the table's stream on AWS,
//!   the outbox in standalone), exactly once per application version.
//! - [`nightly`] recounts from scratch, logs and repairs any drift, and
//!   writes the day's reports to the exports store.

pub mod report;

use std::sync::Arc;

use aws_lambda_events::dynamodb::Event;
use aws_lambda_events::streams::DynamoDbEventResponse;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use subsidy_api::lambda::{BoxError, Consumers, stream_failure};
use subsidy_api::{ApiError, ApiResult, Gate, Gated, Identity, Query};
use subsidy_core::Error;
use subsidy_core::audit::jobs::AuditJobs;
use subsidy_core::identity::{Actor, Role};
use subsidy_core::jurisdiction::JurisdictionTree;
use subsidy_core::jurisdiction::Level;
use subsidy_core::policy::shanghai;
use subsidy_core::ports::{BlobStore, PresignedRequest};
use subsidy_core::service::Ports;
use subsidy_core::stats::ReconcileReport;
use subsidy_core::stats::service::Stats;
use subsidy_core::stats::views::StatsView;
use subsidy_infra::stream::change_of;

subsidy_api::routes! { App;
    GET "/api/v1/stats/{code}" => stats,
    GET "/api/v1/stats/{code}/report" => report_now,
    GET "/api/v1/stats/{code}/reports/{date}" => daily_report,
}

/// What the aggregation function serves: stats, the audit jobs of the
/// nightly run, the store the daily reports go to, and the gate.
pub struct App {
    pub gate: Gate,
    pub stats: Stats,
    pub audit: AuditJobs,
    /// Where the daily reports are kept: the exports store (on AWS the
    /// exports bucket, whose `exports/reports/*` this function may write),
    /// never the document store.
    pub reports: Arc<dyn BlobStore>,
    pub tree: Arc<JurisdictionTree>,
    /// The reviewers' daily digest, sent by the nightly job.
    pub notices: subsidy_core::notify::service::Notices,
    /// 公示: the nightly job closes the windows that have ended.
    pub public_notices: subsidy_core::application::notice::PublicNotices,
}

impl App {
    pub fn new(ports: &Ports) -> App {
        App {
            gate: Gate::new(ports),
            stats: ports.stats(),
            audit: ports.audit(),
            reports: ports.exports.clone(),
            tree: ports.tree.clone(),
            notices: ports.notices(),
            public_notices: ports.public_notices(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.gate.now()
    }
}

impl Gated for App {
    fn gate(&self) -> &Gate {
        &self.gate
    }
}

type AppState = Arc<App>;

/// The aggregation router, with the shared layers applied.
pub fn router(state: AppState) -> axum::Router {
    subsidy_api::finish(routes(), &state.gate).with_state(state)
}

async fn stats(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Path(code): Path<String>,
) -> ApiResult<Json<StatsView>> {
    Ok(Json(s.stats.stats(&actor, &code).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FormatParam {
    #[serde(default)]
    format: Option<String>,
}

/// Which file a report is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Xlsx,
    Csv,
}

impl Format {
    fn parse(s: Option<&str>) -> Result<Format, ApiError> {
        match s.unwrap_or("xlsx") {
            "xlsx" => Ok(Format::Xlsx),
            "csv" => Ok(Format::Csv),
            other => Err(ApiError::bad_request(
                "invalid_query",
                format!("format must be xlsx or csv, not `{other}`"),
                Some("format".into()),
            )),
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Xlsx => "xlsx",
            Format::Csv => "csv",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }

    pub fn render(self, view: &StatsView) -> Result<Vec<u8>, Error> {
        match self {
            Format::Xlsx => report::xlsx(view),
            Format::Csv => report::csv(view),
        }
        .map_err(Error::internal)
    }
}

/// The day a report belongs to: the calendar day in Shenzhen.
pub fn report_date(now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&shanghai()).date_naive()
}

/// Where the daily report of a unit is kept in the exports store.
pub fn report_key(date: NaiveDate, code: &str, format: Format) -> String {
    format!("exports/reports/{date}/{code}.{}", format.extension())
}

/// `GET /stats/{code}/report?format=xlsx|csv`: the report as of now.
async fn report_now(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Path(code): Path<String>,
    Query(q): Query<FormatParam>,
) -> ApiResult<Response> {
    let format = Format::parse(q.format.as_deref())?;
    let view = s.stats.stats(&actor, &code).await?;
    let bytes = format.render(&view)?;
    let name = format!("summary-{code}-{}.{}", report_date(s.now()), format.extension());
    let mut r = bytes.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    r.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")).map_err(Error::internal)?,
    );
    Ok(r)
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DailyReport {
    date: NaiveDate,
    unit: String,
    xlsx: PresignedRequest,
    csv: PresignedRequest,
}

/// `GET /stats/{code}/reports/{date}`: download URLs of a stored daily report.
async fn daily_report(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Path((code, date)): Path<(String, String)>,
) -> ApiResult<Json<DailyReport>> {
    let date = NaiveDate::parse_from_str(&date, "%Y-%m-%d")
        .map_err(|_| Error::invalid("date", "must be a date like 2020-03-02"))?;
    // Authorizes the unit exactly as the live figures do.
    s.stats.stats(&actor, &code).await?;
    let xlsx_key = report_key(date, &code, Format::Xlsx);
    if s.reports.head(&xlsx_key, 0).await?.is_none() {
        return Err(Error::NotFound("report").into());
    }
    let ttl = subsidy_core::documents::DOWNLOAD_TTL;
    Ok(Json(DailyReport {
        date,
        unit: code.clone(),
        xlsx: s.reports.presign_get(&xlsx_key, None, ttl).await?,
        csv: s.reports.presign_get(&report_key(date, &code, Format::Csv), None, ttl).await?,
    }))
}

/// Counts one stream batch. Aggregation is idempotent per application
/// version, so on failure the whole batch is retried from its first record.
pub async fn handle_stream(stats: &Stats, event: Event) -> DynamoDbEventResponse {
    let mut changes = Vec::new();
    let mut first_bad = None;
    for record in &event.records {
        match change_of(record) {
            Ok(Some(c)) => changes.push(c),
            Ok(None) => {}
            Err(e) => {
                tracing::error!(sequence_number = ?record.change.sequence_number, error = %e, "stream record does not parse");
                first_bad = record.change.sequence_number.clone();
                break;
            }
        }
    }
    match stats.aggregate(&changes).await {
        Ok(done) => {
            tracing::info!(applied = done.applied, skipped = done.skipped, writes = done.writes, "counted");
            if let Some(line) = business_metrics(&changes, Utc::now()) {
                println!("{line}");
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "aggregation failed; the batch will be retried");
            return match event.records.first().and_then(|r| r.change.sequence_number.clone()) {
                Some(first) => stream_failure(first),
                None => DynamoDbEventResponse::default(),
            };
        }
    }
    match first_bad {
        Some(seq) => stream_failure(seq),
        None => DynamoDbEventResponse::default(),
    }
}

/// What the nightly job did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Nightly {
    pub reconcile: ReconcileReport,
    pub reports_written: usize,
    pub date: NaiveDate,
    /// The day's audit anchor (see subsidy_core::audit::anchor).
    pub anchor: subsidy_core::audit::jobs::Anchored,
    /// The reviewers' daily digest.
    pub digest: subsidy_core::notify::service::DigestReport,
    /// The public notices (公示) whose window ended: made payable, or left
    /// held by an objection.
    pub notices_closed: subsidy_core::application::notice::NoticeCloseReport,
}

/// Recounts, repairs, and writes the day's reports for the city, every
/// district-level unit and every subdistrict; closes the public notices
/// (公示) whose window ended; anchors the audit chains; sends the
/// reviewers' daily digest.
pub async fn nightly(app: &App) -> Result<Nightly, Error> {
    let reconcile = app.stats.reconcile().await?;
    for d in &reconcile.drift {
        tracing::warn!(event = "stats_drift", unit = %d.unit, counter = d.counter, stored = d.stored, recounted = d.recounted, "counter drift repaired");
    }
    let root = app.tree.root().clone();
    let system = Actor {
        user_id: "system".into(),
        role: Role::City,
        unit: Some(root.code.clone()),
        phone: None,
        name: None,
        credit_code: None,
    };
    let date = report_date(app.now());
    let mut written = 0;
    let units: Vec<String> = app.tree.units().filter(|u| u.level != Level::Community).map(|u| u.code.clone()).collect();
    for code in units {
        let view = app.stats.stats(&system, &code).await?;
        for format in [Format::Xlsx, Format::Csv] {
            app.reports.put(&report_key(date, &code, format), format.render(&view)?, format.content_type()).await?;
            written += 1;
        }
    }
    // After the reports (the day's figures as they stood at midnight), and
    // before the anchor, which then holds the closings' entries. A notice
    // closed by a run that fails later stays closed; the retry closes the rest.
    let notices_closed = app.public_notices.close_due().await?;
    // Last, so that a failure here leaves the counts and reports done; the
    // next run anchors everything since the last anchor.
    let anchor = app.audit.anchor_audit().await?;
    // The day's digest, after the anchor: a failure fails the run, which is
    // retried whole, and a digest already sent today is not sent again.
    let digest = app.notices.daily_digest().await?;
    Ok(Nightly { reconcile, reports_written: written, date, anchor, digest, notices_closed })
}

/// An operator's job, run by invoking the function directly with
/// `{"job": "audit-verify"}` or `{"job": "audit-anchor"}` (the standalone
/// `subsidy audit-verify` and `audit-anchor`). `audit-verify` answers the
/// counts and every failure, and fails the invocation if there is one.
pub async fn job(audit: &AuditJobs, name: &str) -> Result<serde_json::Value, Error> {
    match name {
        "audit-anchor" => Ok(serde_json::to_value(audit.anchor_audit().await?).map_err(json_error)?),
        "audit-verify" => {
            let r = audit.verify_audit(|_| {}).await?;
            let failures: Vec<String> = r.failures.iter().map(ToString::to_string).collect();
            for f in &failures {
                tracing::error!(event = "audit_broken", failure = %f, "audit chain broken");
            }
            let report = serde_json::json!({
                "applications": r.applications, "entries": r.entries, "documents": r.documents,
                "companies": r.companies, "batches": r.batches, "staff": r.staff, "otherEntries": r.other_entries,
                "anchors": r.anchors, "anchoredUntil": r.anchored_until, "failures": failures,
            });
            if failures.is_empty() {
                Ok(report)
            } else {
                Err(Error::invalid("audit", format!("{} broken: {report}", failures.len())))
            }
        }
        other => Err(Error::invalid("job", format!("unknown job {other:?}; audit-verify or audit-anchor"))),
    }
}

fn json_error(e: serde_json::Error) -> Error {
    Error::invalid("job", e.to_string())
}

/// An Embedded Metric Format line, written when a nightly run completes:
/// CloudWatch turns it into the metrics `Subsidy/StatsDrift` (how many
/// counters the recount repaired) and `Subsidy/NightlyCompleted` (1)
/// without an API call. Their alarms treat a day without them as
/// breaching: the run did not happen, or did not finish.
pub fn nightly_metrics(drift: usize, now: DateTime<Utc>) -> String {
    serde_json::json!({
        "_aws": {
            "Timestamp": now.timestamp_millis(),
            "CloudWatchMetrics": [{"Namespace": "Subsidy", "Dimensions": [["Function"]], "Metrics": [
                {"Name": "StatsDrift", "Unit": "Count"},
                {"Name": "NightlyCompleted", "Unit": "Count"}
            ]}]
        },
        "Function": "aggregation",
        "StatsDrift": drift,
        "NightlyCompleted": 1,
    })
    .to_string()
}

/// The business figures of the operations dashboard, as one Embedded
/// Metric Format line per stream batch (none if the batch moved nothing):
/// `Subsidy/ApplicationsSubmitted` (a draft or a returned application
/// submitted), `ApplicationsApproved` (the district's 审核 approval) and
/// `ApplicationsPaid` (the bank's result). A redelivered batch counts again:
/// these are for watching the hour, the live totals are exact.
pub fn business_metrics(
    changes: &[subsidy_core::application::dispatch::ChangeRecord],
    now: DateTime<Utc>,
) -> Option<String> {
    use subsidy_core::application::State;
    let (mut submitted, mut approved, mut paid) = (0u64, 0u64, 0u64);
    for c in changes {
        let old = c.old.as_ref().map(|a| a.state);
        let new = c.new.state;
        if matches!(old, Some(State::Draft | State::Returned))
            && !matches!(new, State::Draft | State::Returned | State::Withdrawn)
        {
            submitted += 1;
        }
        if old == Some(State::PendingDistrict) && new == State::Approved {
            approved += 1;
        }
        if old != Some(State::Paid) && new == State::Paid {
            paid += 1;
        }
    }
    if submitted + approved + paid == 0 {
        return None;
    }
    Some(
        serde_json::json!({
            "_aws": {
                "Timestamp": now.timestamp_millis(),
                "CloudWatchMetrics": [{"Namespace": "Subsidy", "Dimensions": [["Function"]], "Metrics": [
                    {"Name": "ApplicationsSubmitted", "Unit": "Count"},
                    {"Name": "ApplicationsApproved", "Unit": "Count"},
                    {"Name": "ApplicationsPaid", "Unit": "Count"}
                ]}]
            },
            "Function": "aggregation",
            "ApplicationsSubmitted": submitted,
            "ApplicationsApproved": approved,
            "ApplicationsPaid": paid,
        })
        .to_string(),
    )
}

/// The aggregation function's consumers: the table's stream, the nightly
/// schedule, and operators' jobs.
pub fn consumers(app: AppState) -> Consumers {
    let (stream, nightly_app, jobs) = (app.clone(), app.clone(), app);
    Consumers::default()
        .stream(move |event| {
            let app = stream.clone();
            async move { handle_stream(&app.stats, event).await }
        })
        .eventbridge(move |event| {
            let app = nightly_app.clone();
            async move {
                if event.detail_type != "Scheduled Event" {
                    return Err(BoxError::from(format!(
                        "unexpected event {:?} from {}",
                        event.detail_type, event.source
                    )));
                }
                let n = nightly(&app).await?;
                println!("{}", nightly_metrics(n.reconcile.drift.len(), app.now()));
                Ok(serde_json::to_value(n)?)
            }
        })
        .job(move |name| {
            let app = jobs.clone();
            async move { Ok(job(&app.audit, &name).await?) }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_belongs_to_the_day_in_shenzhen() {
        let late_utc: DateTime<Utc> = "2020-03-01T17:30:00Z".parse().unwrap();
        assert_eq!(report_date(late_utc).to_string(), "2020-03-02");
        assert_eq!(report_key(report_date(late_utc), "440398", Format::Csv), "exports/reports/2020-03-02/440398.csv");
    }

    #[test]
    fn the_nightly_metrics_are_embedded_metric_format() {
        let v: serde_json::Value = serde_json::from_str(&nightly_metrics(3, Utc::now())).unwrap();
        assert_eq!(v["StatsDrift"], 3);
        assert_eq!(v["NightlyCompleted"], 1);
        let names: Vec<&str> = v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["StatsDrift", "NightlyCompleted"], "every figure the line carries is declared");
    }

    /// On AWS the exports bucket and the document bucket are two buckets,
    /// and this function may write only the first: the nightly reports must
    /// go through the exports port.
    #[tokio::test]
    async fn the_nightly_reports_go_to_the_exports_store_not_the_document_store() {
        use subsidy_core::ports::PolicyStore;
        use subsidy_infra::fs::FsBlobStore;
        let (docs_dir, exports_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let documents = Arc::new(FsBlobStore::new(docs_dir.path(), "http://localhost", &[7; 32]));
        let exports = Arc::new(FsBlobStore::new(exports_dir.path(), "http://localhost", &[8; 32]));
        let store = subsidy_infra::sqlite::SqliteStore::open_in_memory().unwrap();
        let policy = subsidy_core::policy::Policy::from_json(subsidy_infra::data::SHENZHEN_POLICY).unwrap();
        store.put_policy(&policy).await.unwrap();
        let services = store.services(
            documents.clone(),
            Arc::new(subsidy_core::payout::NoBatchQueue),
            Arc::new(JurisdictionTree::from_json(subsidy_infra::data::SHENZHEN_JURISDICTIONS).unwrap()),
            Arc::new(subsidy_core::ports::SystemClock),
            &policy.id,
            subsidy_core::audit::AuditKey::for_tests(),
            Arc::new(subsidy_infra::anchors_file::FileAnchors::new(docs_dir.path().join("anchors.jsonl"))),
        );
        let mut ports = services.ports.clone();
        ports.exports = exports.clone();
        let app = App::new(&ports);
        let n = nightly(&app).await.unwrap();
        assert!(n.reports_written > 0);
        let key = report_key(n.date, "440300", Format::Csv);
        assert!(exports.read(&key).await.unwrap().is_some(), "the city's report is in the exports store");
        assert_eq!(documents.read(&key).await.unwrap(), None, "and nothing in the document store");
    }

    #[test]
    fn the_business_metrics_count_submissions_approvals_and_payments_once_each() {
        use subsidy_core::application::State;
        use subsidy_core::application::dispatch::ChangeRecord;
        // An application as the stream carries it (the dispatch sample).
        let event: Event = serde_json::from_str(include_str!("../../../events/dispatch/stream-batch-ok.json")).unwrap();
        let app = event.records.iter().find_map(|r| change_of(r).ok().flatten()).expect("an application change").new;
        let change = |old: Option<State>, new: State| ChangeRecord {
            old: old.map(|s| subsidy_core::application::Application { state: s, ..app.clone() }),
            new: subsidy_core::application::Application { state: new, ..app.clone() },
        };
        assert_eq!(business_metrics(&[change(None, State::Draft)], Utc::now()), None, "a new draft is not news");
        let changes = [
            change(Some(State::Draft), State::AwaitingAreaConfirmation),
            change(Some(State::Returned), State::PendingCommunity),
            change(Some(State::Draft), State::Withdrawn),
            change(Some(State::PendingDistrict), State::Approved),
            change(Some(State::InPaymentBatch), State::Approved),
            change(Some(State::InPaymentBatch), State::Paid),
            change(Some(State::Paid), State::Paid),
        ];
        let v: serde_json::Value = serde_json::from_str(&business_metrics(&changes, Utc::now()).unwrap()).unwrap();
        assert_eq!(
            (v["ApplicationsSubmitted"].as_u64(), v["ApplicationsApproved"].as_u64(), v["ApplicationsPaid"].as_u64()),
            (Some(2), Some(1), Some(1))
        );
        let declared: Vec<&str> = v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(declared, ["ApplicationsSubmitted", "ApplicationsApproved", "ApplicationsPaid"]);
    }

    #[test]
    fn only_xlsx_and_csv_are_formats() {
        assert_eq!(Format::parse(None).unwrap(), Format::Xlsx);
        assert_eq!(Format::parse(Some("csv")).unwrap(), Format::Csv);
        assert!(Format::parse(Some("pdf")).is_err());
    }
}
