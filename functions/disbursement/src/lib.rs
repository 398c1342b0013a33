//! The disbursement function: what district finance does (国库集中支付,
//! 据实拨付), and the consumer that writes batch files.
//!
//! [`router`] serves [`ROUTES`]; [`export`] builds a large batch on a
//! step at a time and writes a batch's treasury file (CSV and XLSX,
//! streamed line by line) to the exports store. On AWS it consumes the
//! export queue ([`handle_sqs`]); standalone calls it from the in-process
//! dispatcher.

pub mod files;

use std::sync::Arc;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use subsidy_api::lambda::{ConsumerError, Consumers, sqs_batch};
use subsidy_api::{ApiError, ApiResult, Body, Gate, Gated, Identity, PageParams, Query};
use subsidy_core::Error;
use subsidy_core::payout::batches::Batches;
use subsidy_core::payout::settlement::Settlement;
use subsidy_core::payout::{
    BatchActionInput, BatchView, BudgetView, EligibleView, Imported, LineView, NewBatchInput, ResultsUpload,
    ResultsUploadInput, UploadedResultsInput, batch_file_key,
};
use subsidy_core::payout::{BatchJob, BatchState};
use subsidy_core::ports::{BlobStore, DeadLetterQueue, Page, PageRequest, PresignedRequest};
use subsidy_core::service::Ports;

subsidy_api::routes! { App;
    GET "/api/v1/disbursement/budget" => budget,
    GET "/api/v1/disbursement/eligible" => eligible,
    POST "/api/v1/disbursement/applications/{id}/confirm-recovery" => confirm_recovery,
    POST "/api/v1/disbursement/applications/{id}/repayments" => record_repayment,
    GET "/api/v1/batches" => list_batches,
    POST "/api/v1/batches" => create_batch,
    GET "/api/v1/batches/{id}" => get_batch,
    GET "/api/v1/batches/{id}/lines" => lines,
    POST "/api/v1/batches/{id}/resume" => resume,
    POST "/api/v1/batches/{id}/cancel" => cancel,
    POST "/api/v1/batches/{id}/release" => release,
    GET "/api/v1/batches/{id}/file" => file,
    POST "/api/v1/batches/{id}/results" => results,
    POST "/api/v1/batches/{id}/results/upload" => results_upload,
    POST "/api/v1/batches/{id}/results/import" => import_uploaded,
}

/// What the disbursement function serves: payout (batches and their
/// settlement), the exports store its files go to, and the gate.
pub struct App {
    pub gate: Gate,
    pub batches: Batches,
    pub settlement: Settlement,
    /// Where treasury files are written.
    pub exports: Arc<dyn BlobStore>,
}

impl App {
    pub fn new(ports: &Ports) -> App {
        App {
            gate: Gate::new(ports),
            batches: ports.batches(),
            settlement: ports.settlement(),
            exports: ports.exports.clone(),
        }
    }
}

impl Gated for App {
    fn gate(&self) -> &Gate {
        &self.gate
    }
}

type AppState = Arc<App>;

/// The disbursement router, with the shared layers applied.
pub fn router(state: AppState) -> axum::Router {
    subsidy_api::finish(routes(), &state.gate)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_POSTED_RESULT_FILE))
        .with_state(state)
}

/// The largest result file accepted in a request body; a larger one (up
/// to `MAX_RESULT_FILE`) is uploaded first and imported by its id.
pub use subsidy_core::payout::{MAX_POSTED_RESULT_FILE, MAX_RESULT_FILE};

async fn budget(State(s): State<AppState>, Identity(actor): Identity) -> ApiResult<Json<BudgetView>> {
    Ok(Json(s.batches.budget(&actor).await?))
}

async fn eligible(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Query(q): Query<PageParams>,
) -> ApiResult<Json<EligibleView>> {
    Ok(Json(s.batches.eligible(&actor, &q.page()?).await?))
}

async fn list_batches(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Query(q): Query<PageParams>,
) -> ApiResult<Json<Page<BatchView>>> {
    Ok(Json(s.settlement.batches(&actor, &q.page()?).await?))
}

async fn create_batch(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Body(input): Body<NewBatchInput>,
) -> ApiResult<(StatusCode, Json<BatchView>)> {
    let batch = s.batches.create_batch(&actor, &input).await?;
    Ok((still_building(&batch).unwrap_or(StatusCode::CREATED), Json(batch)))
}

/// 202 for a batch the queue is still building (the caller watches it
/// with `GET /batches/{id}` until it is `ready`).
fn still_building(batch: &BatchView) -> Option<StatusCode> {
    (batch.state == BatchState::Building).then_some(StatusCode::ACCEPTED)
}

async fn get_batch(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Path(id): Path<String>,
) -> ApiResult<Json<BatchView>> {
    Ok(Json(s.settlement.batch(&actor, &id).await?))
}

async fn lines(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Path(id): Path<String>,
    Query(q): Query<PageParams>,
) -> ApiResult<Json<Page<LineView>>> {
    Ok(Json(s.settlement.batch_lines(&actor, &id, &q.page()?).await?))
}

async fn resume(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<BatchView>)> {
    let batch = s.batches.resume_batch(&actor, &id).await?;
    Ok((still_building(&batch).unwrap_or(StatusCode::OK), Json(batch)))
}

async fn cancel(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Path(id): Path<String>,
    Body(input): Body<BatchActionInput>,
) -> ApiResult<Json<BatchView>> {
    Ok(Json(s.batches.cancel_batch(&actor, &id, input.version).await?))
}

/// 追回: a second person in finance confirms the recovery a district
/// reviewer opened.
async fn confirm_recovery(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Path(id): Path<String>,
    Body(input): Body<BatchActionInput>,
) -> ApiResult<Json<subsidy_core::application::views::ApplicationView>> {
    Ok(Json(s.settlement.confirm_recovery(&actor, &id, input.version).await?))
}

/// 追回: a repayment the bank received, at most what is owed.
async fn record_repayment(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Path(id): Path<String>,
    Body(input): Body<subsidy_core::application::inputs::RepaymentInput>,
) -> ApiResult<Json<subsidy_core::application::views::ApplicationView>> {
    Ok(Json(s.settlement.record_repayment(&actor, &id, &input).await?))
}

async fn release(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Path(id): Path<String>,
    Body(input): Body<BatchActionInput>,
) -> ApiResult<Json<BatchView>> {
    Ok(Json(s.batches.release_batch(&actor, &id, input.version).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FormatParam {
    #[serde(default)]
    format: Option<String>,
}

#[derive(Debug, Serialize)]
struct Download {
    download: PresignedRequest,
}

/// `GET /batches/{id}/file?format=xlsx|csv`: a short-lived download URL.
async fn file(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Path(id): Path<String>,
    Query(q): Query<FormatParam>,
) -> ApiResult<Json<Download>> {
    let ext = match q.format.as_deref().unwrap_or("xlsx") {
        e @ ("xlsx" | "csv") => e,
        other => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("format must be xlsx or csv, not `{other}`"),
                Some("format".into()),
            ));
        }
    };
    Ok(Json(Download { download: s.settlement.batch_file(&actor, &id, ext).await? }))
}

/// `POST /batches/{id}/results`: the bank's result file, as its CSV text
/// (at most `MAX_POSTED_RESULT_FILE` bytes; a larger one is uploaded).
async fn results(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Path(id): Path<String>,
    body: axum::body::Body,
) -> ApiResult<(StatusCode, Json<BatchView>)> {
    // Read here, not by the `Bytes` extractor, so that a file over the
    // limit gets the API's own 413 with its code, not a plain-text one.
    let body = axum::body::to_bytes(body, MAX_POSTED_RESULT_FILE)
        .await
        .map_err(|_| ApiError::BodyTooLarge { limit: MAX_POSTED_RESULT_FILE })?;
    imported(s.settlement.import_results(&actor, &id, &body).await?)
}

/// 202 when the batch queue settles the file's later lines, then the batch.
fn imported(imported: Imported) -> ApiResult<(StatusCode, Json<BatchView>)> {
    let status = if imported.settling { StatusCode::ACCEPTED } else { StatusCode::OK };
    Ok((status, Json(imported.batch)))
}

/// `POST /batches/{id}/results/upload` with `{size}`: where to PUT a
/// results file too large to post, and the id to import it by.
async fn results_upload(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Path(id): Path<String>,
    Body(input): Body<ResultsUploadInput>,
) -> ApiResult<(StatusCode, Json<ResultsUpload>)> {
    Ok((StatusCode::CREATED, Json(s.settlement.results_upload(&actor, &id, &input).await?)))
}

/// `POST /batches/{id}/results/import` with `{uploadId}`: imports an
/// uploaded results file, exactly as a posted one.
async fn import_uploaded(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Path(id): Path<String>,
    Body(input): Body<UploadedResultsInput>,
) -> ApiResult<(StatusCode, Json<BatchView>)> {
    imported(s.settlement.import_uploaded_results(&actor, &id, &input).await?)
}

/// The batch queue's consumer: one job (see [`BatchJob`]).
pub async fn work(app: &App, job: &BatchJob) -> Result<bool, Error> {
    match &job.results {
        Some(results) => Ok(app.settlement.settle_results(&job.batch_id, results).await?.is_some()),
        None => export(app, &job.batch_id).await,
    }
}

/// The batch queue's consumer: does what a batch needs next. A batch in
/// `building` gets its next step of claims ([`Batches::build_batch`],
/// which queues the batch again until it is `ready`); a released batch
/// gets its files, a ready or cancelled one nothing. Delivering a message
/// twice is harmless either way.
pub async fn export(app: &App, batch_id: &str) -> Result<bool, Error> {
    let Some(batch) = app.settlement.batch_for_export(batch_id).await? else {
        return Ok(false);
    };
    match batch.state {
        BatchState::Building => Ok(app.batches.build_batch(batch_id).await?.is_some()),
        // No treasury file exists before a second person releases the batch.
        _ if !batch.file_allowed() => Ok(false),
        _ => write_files(app, batch).await,
    }
}

/// Writes a batch's CSV and XLSX to the exports store and records them on
/// the batch. Lines are read a page at a time and written straight to
/// temporary files, so memory stays flat whatever the batch size. Writing
/// again is harmless (same keys, same content).
async fn write_files(app: &App, batch: subsidy_core::payout::Batch) -> Result<bool, Error> {
    let dir = tempfile::tempdir().map_err(Error::internal)?;
    let (csv_path, xlsx_path) = (dir.path().join("batch.csv"), dir.path().join("batch.xlsx"));
    let mut csv = files::CsvFile::create(&csv_path, &batch).map_err(Error::internal)?;
    let mut xlsx = files::XlsxFile::create(&batch).map_err(Error::internal)?;
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    let mut written = 0u64;
    loop {
        let lines = app.settlement.export_lines(&batch.id, &page).await?;
        for l in &lines.items {
            csv.line(l).map_err(Error::internal)?;
            xlsx.line(l).map_err(Error::internal)?;
            written += 1;
        }
        match lines.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    csv.finish().map_err(Error::internal)?;
    let xlsx_path2 = xlsx_path.clone();
    tokio::task::spawn_blocking(move || xlsx.finish(&xlsx_path2))
        .await
        .map_err(Error::internal)?
        .map_err(Error::internal)?;
    // The CSV is stored last: the batch counts as ready once both are there.
    app.exports
        .put_file(
            &batch_file_key(&batch.id, "xlsx"),
            &xlsx_path,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
        .await?;
    app.exports.put_file(&batch_file_key(&batch.id, "csv"), &csv_path, "text/csv; charset=utf-8").await?;
    tracing::info!(batch_id = %batch.id, lines = written, "batch files written");
    Ok(true)
}

/// Consumes the export (batch) queue: one job per message (a step of a
/// batch's building, its files, or a part of a results file). A message
/// that is not a job goes to `dead` at once; a job that fails is
/// redelivered (every job is safe to run again).
pub async fn handle_sqs(app: &App, dead: &dyn DeadLetterQueue, event: SqsEvent) -> SqsBatchResponse {
    sqs_batch(event, dead, |body| async move {
        let job: BatchJob =
            serde_json::from_str(&body).map_err(|e| ConsumerError::poison(format!("bad batch-queue message: {e}")))?;
        work(app, &job).await.map(drop).map_err(|e| ConsumerError::retry(format!("batch {}: {e}", job.batch_id)))
    })
    .await
}

/// The disbursement function's environment.
#[cfg(feature = "lambda")]
#[derive(Debug, Clone)]
pub struct Config {
    pub service: subsidy_infra::aws::ServiceConfig,
    /// `DEAD_LETTER_QUEUE_URL`: the batch queue's dead-letter queue.
    pub dead_letter_queue: String,
}

#[cfg(feature = "lambda")]
impl Config {
    pub fn from_env() -> Result<Config, subsidy_infra::config::ConfigError> {
        Ok(Config {
            service: subsidy_infra::aws::ServiceConfig::from_env()?,
            dead_letter_queue: subsidy_infra::config::var("DEAD_LETTER_QUEUE_URL")?,
        })
    }
}

/// The disbursement function's consumer: the batch queue.
pub fn consumers(app: AppState, dead: Arc<dyn DeadLetterQueue>) -> Consumers {
    Consumers::default().sqs(move |event| {
        let (app, dead) = (app.clone(), dead.clone());
        async move { handle_sqs(&app, dead.as_ref(), event).await }
    })
}
