//! The submission function: everything a company and a project manager do,
//! the read side of applications for every role, every reader's
//! notifications, and the staff directory's administration.
//!
//! Routes are declared once in [`ROUTES`]; [`router`] serves exactly those.
//! [`document_arrived`] is the consumer for stored document bytes (an S3
//! event in AWS, the local blob endpoint in standalone).

use std::sync::Arc;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::s3::S3Event;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use subsidy_api::lambda::Consumers;
use subsidy_api::{ApiResult, Body, Gate, Gated, Identity, PageParams, Query};
use subsidy_core::Error;
use subsidy_core::application::inputs::{ActionInput, UrgeInput};
use subsidy_core::application::notice::{ObjectionInput, ObjectionReceipt, PublicNoticeList};
use subsidy_core::application::review::Review;
use subsidy_core::application::service::Applications;
use subsidy_core::application::state::State as AppStateKind;
use subsidy_core::application::views::{ApplicationDetail, ApplicationView};
use subsidy_core::application::{EditApplicationInput, NewApplicationInput};
use subsidy_core::company::service::Companies;
use subsidy_core::company::views::{CompanyView, ProjectView};
use subsidy_core::company::{CompanyInput, ProjectInput};
use subsidy_core::context::Context;
use subsidy_core::documents::Document;
use subsidy_core::documents::UploadInput;
use subsidy_core::documents::service::Documents;
use subsidy_core::documents::views::UploadTicket;
use subsidy_core::identity::directory::StaffDirectory;
use subsidy_core::identity::service::Identities;
use subsidy_core::identity::staff::{StaffInput, StaffView};
use subsidy_core::identity::views::MeView;
use subsidy_core::jurisdiction::UnitView;
use subsidy_core::notify::service::{NoticeList, NoticeView, Notices};
use subsidy_core::policy::Policy;
use subsidy_core::ports::{ApplicationFilter, Page, PresignedRequest};
use subsidy_core::service::Ports;

subsidy_api::routes! { App;
    GET "/api/v1/me" => me,
    GET "/api/v1/policy" => policy,
    GET "/api/v1/jurisdictions/{code}" => jurisdiction,
    GET "/api/v1/company" => get_company,
    PUT "/api/v1/company" => put_company,
    GET "/api/v1/projects" => list_projects,
    POST "/api/v1/projects" => create_project,
    GET "/api/v1/projects/{id}" => get_project,
    PUT "/api/v1/projects/{id}" => update_project,
    GET "/api/v1/applications" => list_applications,
    POST "/api/v1/applications" => create_application,
    GET "/api/v1/applications/{id}" => get_application,
    PATCH "/api/v1/applications/{id}" => edit_application,
    GET "/api/v1/applications/{id}/timeline" => timeline,
    POST "/api/v1/applications/{id}/submit" => submit,
    POST "/api/v1/applications/{id}/withdraw" => withdraw,
    POST "/api/v1/applications/{id}/urge" => urge,
    POST "/api/v1/applications/{id}/documents" => request_upload,
    GET "/api/v1/applications/{id}/documents/{document_id}" => document_download,
    DELETE "/api/v1/applications/{id}/documents/{document_id}" => delete_document,
    POST "/api/v1/applications/{id}/confirm-area" => confirm_area,
    POST "/api/v1/applications/{id}/dispute-area" => dispute_area,
    GET "/api/v1/manager/inbox" => manager_inbox,
    GET "/api/v1/notifications" => list_notifications,
    POST "/api/v1/notifications/{id}/read" => read_notification,
    GET "/api/v1/public/notices" => public_notices,
    POST "/api/v1/public/notices/{id}/objections" => object,
    GET "/api/v1/public/notices/{id}/objections/mine" => my_objection,
    GET "/api/v1/admin/staff" => list_staff,
    GET "/api/v1/admin/staff/{sub}" => get_staff,
    PUT "/api/v1/admin/staff/{sub}" => put_staff,
    DELETE "/api/v1/admin/staff/{sub}" => disable_staff,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StaffListParams {
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    limit: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

/// `GET /admin/staff`: the staff of the administrator's subtree.
async fn list_staff(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Query(q): Query<StaffListParams>,
) -> ApiResult<Json<Page<StaffView>>> {
    let page = PageParams { limit: q.limit, cursor: q.cursor }.page()?;
    Ok(Json(s.directory().list(&actor, q.unit.as_deref(), q.role.as_deref(), q.q.as_deref(), &page).await?))
}

async fn get_staff(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Path(sub): Path<String>,
) -> ApiResult<Json<StaffView>> {
    Ok(Json(s.directory().get(&actor, &sub).await?))
}

/// `PUT /admin/staff/{sub}`: create (201) or replace (200, with `version`).
async fn put_staff(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Path(sub): Path<String>,
    Body(input): Body<StaffInput>,
) -> ApiResult<(StatusCode, Json<StaffView>)> {
    let (view, created) = s.directory().put(&actor, &sub, &input).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(view)))
}

/// `DELETE /admin/staff/{sub}`: disable; the record and its trail stay.
async fn disable_staff(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Path(sub): Path<String>,
) -> ApiResult<Json<StaffView>> {
    Ok(Json(s.directory().disable(&actor, &sub).await?))
}

/// What the submission function serves: companies and their projects,
/// applications (with the manager's area confirmation, which is review's),
/// documents, the caller's identity and the staff directory. Nothing of
/// payout, stats or the audit jobs.
pub struct App {
    pub gate: Gate,
    /// The active policy, among what every capability shares.
    pub cx: Context,
    pub identity: Identities,
    pub company: Companies,
    pub applications: Applications,
    pub documents: Documents,
    pub review: Review,
    pub notices: Notices,
    /// 公示: the public list and objections.
    pub public_notices: subsidy_core::application::notice::PublicNotices,
}

impl App {
    pub fn new(ports: &Ports) -> App {
        App {
            gate: Gate::new(ports),
            cx: ports.context(),
            identity: ports.identities(),
            company: ports.companies(),
            applications: ports.applications(),
            documents: ports.documents(),
            review: ports.review(),
            notices: ports.notices(),
            public_notices: ports.public_notices(),
        }
    }

    fn directory(&self) -> &StaffDirectory {
        &self.gate.directory
    }
}

impl Gated for App {
    fn gate(&self) -> &Gate {
        &self.gate
    }
}

type AppState = Arc<App>;

/// The submission router, with the shared layers applied.
pub fn router(state: AppState) -> axum::Router {
    subsidy_api::finish(routes(), &state.gate).with_state(state)
}

async fn me(State(s): State<AppState>, Identity(actor): Identity) -> ApiResult<Json<MeView>> {
    Ok(Json(s.identity.me(&actor).await?))
}

async fn policy(State(s): State<AppState>, Identity(_): Identity) -> ApiResult<Json<Policy>> {
    Ok(Json(s.cx.policy().await?))
}

async fn jurisdiction(
    State(s): State<AppState>,
    Identity(_): Identity,
    Path(code): Path<String>,
) -> ApiResult<Json<UnitView>> {
    Ok(Json(s.identity.unit(&code)?))
}

async fn get_company(State(s): State<AppState>, Identity(actor): Identity) -> ApiResult<Json<CompanyView>> {
    Ok(Json(s.company.company(&actor).await?))
}

async fn put_company(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Body(input): Body<CompanyInput>,
) -> ApiResult<(StatusCode, Json<CompanyView>)> {
    let (view, created) = s.company.put_company(&actor, &input).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(view)))
}

async fn list_projects(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Query(q): Query<PageParams>,
) -> ApiResult<Json<Page<ProjectView>>> {
    Ok(Json(s.company.projects(&actor, &q.page()?).await?))
}

async fn create_project(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Body(input): Body<ProjectInput>,
) -> ApiResult<(StatusCode, Json<ProjectView>)> {
    Ok((StatusCode::CREATED, Json(s.company.create_project(&actor, &input).await?)))
}

async fn get_project(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Path(id): Path<String>,
) -> ApiResult<Json<ProjectView>> {
    Ok(Json(s.company.project(&actor, &id).await?))
}

async fn update_project(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Path(id): Path<String>,
    Body(input): Body<ProjectInput>,
) -> ApiResult<Json<ProjectView>> {
    Ok(Json(s.company.update_project(&actor, &id, &input).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ListParams {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    project_id: Option<String>,
    #[serde(default)]
    limit: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NoticeParams {
    #[serde(default)]
    district: Option<String>,
    #[serde(default)]
    limit: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

/// How long a public notice may be cached (by browsers and any CDN in
/// front): objections and closings show within this.
pub const NOTICE_CACHE_CONTROL: &str = "public, max-age=60";

/// `GET /public/notices?district=`: a district's 公示, with no sign-in
/// (the one route without a token), cacheable, and nothing personal.
async fn public_notices(
    State(s): State<AppState>,
    Query(q): Query<NoticeParams>,
) -> ApiResult<([(axum::http::HeaderName, &'static str); 1], Json<PublicNoticeList>)> {
    let page = PageParams { limit: q.limit, cursor: q.cursor }.page()?;
    let list = s.public_notices.list(q.district.as_deref().filter(|d| !d.is_empty()), &page).await?;
    Ok(([(axum::http::header::CACHE_CONTROL, NOTICE_CACHE_CONTROL)], Json(list)))
}

/// `POST /public/notices/{id}/objections`: an objection (异议) by anyone
/// signed in.
async fn object(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Path(id): Path<String>,
    Body(input): Body<ObjectionInput>,
) -> ApiResult<(StatusCode, Json<ObjectionReceipt>)> {
    Ok((StatusCode::CREATED, Json(s.public_notices.object(&actor, &id, &input).await?)))
}

/// `GET /public/notices/{id}/objections/mine`: the caller's own objection
/// and the evidence they attached, with its check.
async fn my_objection(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Path(id): Path<String>,
) -> ApiResult<Json<subsidy_core::application::notice::MyObjection>> {
    Ok(Json(s.public_notices.mine(&actor, &id).await?))
}

async fn list_applications(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Query(q): Query<ListParams>,
) -> ApiResult<Json<Page<ApplicationView>>> {
    let state = match q.state.as_deref() {
        None | Some("") => None,
        Some(st) => Some(AppStateKind::parse(st).ok_or_else(|| {
            subsidy_api::ApiError::bad_request("invalid_query", format!("unknown state `{st}`"), Some("state".into()))
        })?),
    };
    let filter = ApplicationFilter { state, project_id: q.project_id.filter(|p| !p.is_empty()) };
    let page = PageParams { limit: q.limit, cursor: q.cursor }.page()?;
    Ok(Json(s.applications.applications(&actor, &filter, &page).await?))
}

async fn create_application(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Body(input): Body<NewApplicationInput>,
) -> ApiResult<(StatusCode, Json<ApplicationDetail>)> {
    Ok((StatusCode::CREATED, Json(s.applications.create_application(&actor, &input).await?)))
}

async fn get_application(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Path(id): Path<String>,
) -> ApiResult<Json<ApplicationDetail>> {
    Ok(Json(s.applications.application(&actor, &id).await?))
}

async fn edit_application(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Path(id): Path<String>,
    Body(input): Body<EditApplicationInput>,
) -> ApiResult<Json<ApplicationDetail>> {
    Ok(Json(s.applications.edit_application(&actor, &id, &input).await?))
}

async fn timeline(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<subsidy_core::application::views::TimelineEntry>>> {
    Ok(Json(s.applications.timeline(&actor, &id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct VersionInput {
    version: u64,
}

async fn submit(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Path(id): Path<String>,
    Body(input): Body<VersionInput>,
) -> ApiResult<Json<ApplicationDetail>> {
    Ok(Json(s.applications.submit(&actor, &id, input.version).await?))
}

async fn withdraw(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Path(id): Path<String>,
    Body(input): Body<ActionInput>,
) -> ApiResult<Json<ApplicationDetail>> {
    Ok(Json(s.applications.withdraw(&actor, &id, &input).await?))
}

/// `POST /applications/{id}/urge`: 催办, past the step's time limit, once
/// per working day.
async fn urge(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Path(id): Path<String>,
    Body(input): Body<UrgeInput>,
) -> ApiResult<Json<ApplicationDetail>> {
    Ok(Json(s.applications.urge(&actor, &id, &input).await?))
}

async fn request_upload(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Path(id): Path<String>,
    Body(input): Body<UploadInput>,
) -> ApiResult<(StatusCode, Json<UploadTicket>)> {
    Ok((StatusCode::CREATED, Json(s.documents.request_upload(&actor, &id, &input).await?)))
}

#[derive(serde::Serialize)]
struct Download {
    download: PresignedRequest,
}

async fn document_download(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Path((id, document_id)): Path<(String, String)>,
) -> ApiResult<Json<Download>> {
    Ok(Json(Download { download: s.documents.document_download(&actor, &id, &document_id).await? }))
}

async fn delete_document(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Path((id, document_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.documents.delete_document(&actor, &id, &document_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn confirm_area(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Path(id): Path<String>,
    Body(input): Body<VersionInput>,
) -> ApiResult<Json<ApplicationDetail>> {
    Ok(Json(s.review.confirm_area(&actor, &id, input.version).await?))
}

async fn dispute_area(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Path(id): Path<String>,
    Body(input): Body<ActionInput>,
) -> ApiResult<Json<ApplicationDetail>> {
    Ok(Json(s.review.dispute_area(&actor, &id, &input).await?))
}

async fn manager_inbox(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Query(q): Query<PageParams>,
) -> ApiResult<Json<Page<ApplicationView>>> {
    Ok(Json(s.review.manager_inbox(&actor, &q.page()?).await?))
}

/// `GET /notifications`: the caller's own notices, newest first, with
/// how many are unread.
async fn list_notifications(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Query(q): Query<PageParams>,
) -> ApiResult<Json<NoticeList>> {
    Ok(Json(s.notices.list(&actor, &q.page()?).await?))
}

/// `POST /notifications/{id}/read`: marks one of the caller's notices
/// read; anyone else's is 404.
async fn read_notification(
    State(s): State<AppState>,
    Identity(actor): Identity,
    Path(id): Path<String>,
) -> ApiResult<Json<NoticeView>> {
    Ok(Json(s.notices.mark_read(&actor, &id).await?))
}

/// The submission function's environment.
#[cfg(feature = "lambda")]
#[derive(Debug, Clone)]
pub struct Config {
    pub service: subsidy_infra::aws::ServiceConfig,
    /// `INITIAL_ADMIN_SUB` (optional): the subject of the deployment's
    /// first administrator, added to the staff directory at start if absent.
    pub initial_admin: Option<String>,
}

#[cfg(feature = "lambda")]
impl Config {
    pub fn from_env() -> Result<Config, subsidy_infra::config::ConfigError> {
        Ok(Config {
            service: subsidy_infra::aws::ServiceConfig::from_env()?,
            initial_admin: subsidy_infra::config::var("INITIAL_ADMIN_SUB").ok().filter(|s| !s.trim().is_empty()),
        })
    }
}

/// At start: the first administrator into the staff directory, if the
/// stack names one and the directory lacks them (one read per cold start).
pub async fn bootstrap(directory: &StaffDirectory, initial_admin: Option<&str>) -> Result<(), Error> {
    if let Some(sub) = initial_admin
        && directory.bootstrap_admin(sub).await?
    {
        tracing::info!("the first administrator was added to the staff directory");
    }
    Ok(())
}

/// Consumes S3 "object created" events for the document bucket: checks each
/// uploaded document. An error makes Lambda retry the event; the check is
/// idempotent, so a retry is harmless.
pub async fn handle_s3(documents: &Documents, event: S3Event) -> Result<(), Error> {
    for record in event.records {
        // Document keys are plain ASCII (ids and slashes), so S3's URL
        // encoding of keys leaves them unchanged.
        let Some(key) = record.s3.object.key.as_deref() else { continue };
        document_arrived(documents, key).await?;
    }
    Ok(())
}

/// The object key of an EventBridge "Object Created" event from S3, the
/// way the template routes uploads to this function.
pub fn eventbridge_key(event: &EventBridgeEvent) -> Option<&str> {
    (event.source == "aws.s3").then(|| event.detail["object"]["key"].as_str()).flatten()
}

/// The document consumer for Lambda: EventBridge "Object Created" events
/// (as deployed) and S3 notification batches both work.
pub fn consumers(app: AppState) -> Consumers {
    let notified = app.clone();
    Consumers::default()
        .eventbridge(move |event| {
            let app = app.clone();
            async move {
                let key = eventbridge_key(&event)
                    .ok_or_else(|| format!("not an S3 object event: {:?} from {}", event.detail_type, event.source))?;
                document_arrived(&app.documents, key).await?;
                Ok(serde_json::Value::Null)
            }
        })
        .s3(move |event| {
            let app = notified.clone();
            async move { Ok(handle_s3(&app.documents, event).await?) }
        })
}

/// Consumer for stored document bytes: verifies them against what was
/// declared. Safe to call any number of times for the same key.
pub async fn document_arrived(documents: &Documents, key: &str) -> Result<Option<Document>, Error> {
    let doc = documents.document_arrived(key).await?;
    if let Some(d) = &doc {
        tracing::info!(application_id = %d.application_id, document_id = %d.id, status = ?d.status, "document checked");
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use http_body_util::BodyExt;
    use subsidy_core::jurisdiction::JurisdictionTree;
    use subsidy_core::ports::SystemClock;
    use subsidy_infra::fs::FsBlobStore;
    use subsidy_infra::sqlite::SqliteStore;
    use tower::ServiceExt;

    /// Feeds an API Gateway HTTP API event, as Lambda delivers it, to the router.
    async fn invoke(event: &str) -> (u16, serde_json::Value) {
        let dir = tempfile::tempdir().unwrap();
        let tree =
            Arc::new(JurisdictionTree::from_json(include_str!("../../../data/jurisdictions/shenzhen.json")).unwrap());
        let store = SqliteStore::open_in_memory().unwrap();
        let blobs = Arc::new(FsBlobStore::new(dir.path(), "http://localhost", b"0123456789abcdef0123456789abcdef"));
        let services = Arc::new(store.services(
            blobs,
            Arc::new(subsidy_core::payout::NoBatchQueue),
            tree,
            Arc::new(SystemClock),
            "p",
            subsidy_core::audit::AuditKey::for_tests(),
            Arc::new(subsidy_core::audit::anchor::NoAnchors),
        ));
        let request = lambda_http::request::from_str(event).expect("a valid API Gateway event");
        let response = super::router(Arc::new(super::App::new(&services.ports))).oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn identity_comes_from_the_api_gateway_authorizer_claims() {
        let (status, body) = invoke(include_str!("../../../events/submission/apigw-get-me-company-ok.json")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["userId"], "demo-company-a");
        assert_eq!(body["role"], "company");
    }

    #[tokio::test]
    async fn an_s3_event_for_an_unknown_document_is_acknowledged_and_its_bytes_removed() {
        let dir = tempfile::tempdir().unwrap();
        let tree = Arc::new(JurisdictionTree::from_json(subsidy_infra::data::SHENZHEN_JURISDICTIONS).unwrap());
        let blobs = Arc::new(FsBlobStore::new(dir.path(), "http://localhost", b"0123456789abcdef0123456789abcdef"));
        let key = "documents/01JAPPLICATION00000000000A/01JDOCUMENT000000000000000";
        blobs.write(key, b"%PDF-1.4 stray").await.unwrap();
        let services = SqliteStore::open_in_memory().unwrap().services(
            blobs.clone(),
            Arc::new(subsidy_core::payout::NoBatchQueue),
            tree,
            Arc::new(SystemClock),
            "p",
            subsidy_core::audit::AuditKey::for_tests(),
            Arc::new(subsidy_core::audit::anchor::NoAnchors),
        );
        let event: aws_lambda_events::s3::S3Event =
            serde_json::from_str(include_str!("../../../events/submission/s3-object-created-ok.json")).unwrap();
        super::handle_s3(&services.documents, event).await.unwrap();
        assert_eq!(blobs.read(key).await.unwrap(), None, "bytes nobody asked for are deleted");
    }

    #[tokio::test]
    async fn the_configured_first_administrator_is_added_once_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let tree = Arc::new(JurisdictionTree::from_json(subsidy_infra::data::SHENZHEN_JURISDICTIONS).unwrap());
        let blobs = Arc::new(FsBlobStore::new(dir.path(), "http://localhost", b"0123456789abcdef0123456789abcdef"));
        let services = SqliteStore::open_in_memory().unwrap().services(
            blobs,
            Arc::new(subsidy_core::payout::NoBatchQueue),
            tree,
            Arc::new(SystemClock),
            "p",
            subsidy_core::audit::AuditKey::for_tests(),
            Arc::new(subsidy_core::audit::anchor::NoAnchors),
        );
        super::bootstrap(&services.directory(), None).await.unwrap();
        assert!(
            services.directory().scan(&subsidy_core::ports::PageRequest::first(10)).await.unwrap().items.is_empty()
        );
        super::bootstrap(&services.directory(), Some("first-admin")).await.unwrap();
        super::bootstrap(&services.directory(), Some("first-admin")).await.unwrap();
        let m = services.ports.staff.get_staff("first-admin").await.unwrap().expect("added");
        assert_eq!((m.version, m.assignments[0].role.as_str(), m.assignments[0].unit.as_str()), (1, "admin", "440300"));
    }

    #[test]
    fn the_eventbridge_upload_event_names_the_document_key() {
        let v: aws_lambda_events::eventbridge::EventBridgeEvent =
            serde_json::from_str(include_str!("../../../events/submission/eventbridge-object-created-ok.json"))
                .unwrap();
        assert_eq!(super::eventbridge_key(&v), Some("documents/01JAPPLICATION00000000000A/01JDOCUMENT000000000000000"));
        let other: aws_lambda_events::eventbridge::EventBridgeEvent =
            serde_json::from_value(serde_json::json!({"source": "aws.ec2", "detail-type": "x", "detail": {}})).unwrap();
        assert_eq!(super::eventbridge_key(&other), None);
    }

    #[tokio::test]
    async fn an_event_without_authorizer_claims_is_unauthenticated() {
        let (status, body) =
            invoke(include_str!("../../../events/submission/apigw-get-me-no-authorizer-401.json")).await;
        assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthenticated")));
        let (status, body) =
            invoke(include_str!("../../../events/submission/apigw-get-manager-inbox-unverified-phone-403.json")).await;
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("phone_not_verified")));
    }
}
