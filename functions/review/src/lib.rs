//! The review function: 初审 (community), 复核 (subdistrict) and 审核
//! (district). One binary, deployed once per tier; a deployment serves only
//! its own tiers' routes and consumes only its own tiers' queue.
//!
//! [`router`] serves [`ROUTES`] for the given tiers; a request for another
//! tier gets the same 404 as an unknown route. [`handle_arrival`] is the
//! queue consumer: it runs the pre-checks when an application arrives.

use axum::Json;
use axum::extract::{Path, State};
use std::sync::Arc;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use subsidy_api::lambda::{Consumers, sqs_batch};
use subsidy_api::{ApiError, ApiResult, Body, Gate, Gated, Identity, PageParams, Query};
use subsidy_core::application::bulk::{BulkApproveInput, BulkApproveView};
use subsidy_core::application::dispatch::TierArrival;
use subsidy_core::application::inputs::{ActionInput, ApproveInput, PayeeRevealView, VerifyPayeeInput};
use subsidy_core::application::review::Review;
use subsidy_core::application::views::ApplicationDetail;
use subsidy_core::application::views::ApplicationView;
use subsidy_core::identity::Tier;
use subsidy_core::ports::DeadLetterQueue;
use subsidy_core::ports::Page;
use subsidy_core::service::Ports;

subsidy_api::routes! { App;
    GET "/api/v1/review/{tier}/inbox" => inbox,
    GET "/api/v1/review/{tier}/overdue-below" => overdue_below,
    POST "/api/v1/review/{tier}/applications/{id}/approve" => approve,
    POST "/api/v1/review/{tier}/bulk-approve" => bulk_approve,
    POST "/api/v1/review/{tier}/applications/{id}/return" => return_for_correction,
    POST "/api/v1/review/{tier}/applications/{id}/reject" => reject,
    POST "/api/v1/review/{tier}/applications/{id}/reveal-bank-account" => reveal_bank_account,
    POST "/api/v1/review/{tier}/applications/{id}/verify-bank-account" => verify_bank_account,
    POST "/api/v1/review/{tier}/applications/{id}/open-recovery" => open_recovery,
    POST "/api/v1/review/{tier}/applications/{id}/resolve-objections" => resolve_objections,
}

/// What the review function serves: the review capability, and the gate
/// that says who is calling. Nothing of payout, documents or stats.
pub struct App {
    pub gate: Gate,
    pub review: Review,
    /// 公示: the district resolves objections.
    pub notices: subsidy_core::application::notice::PublicNotices,
}

impl App {
    pub fn new(ports: &Ports) -> App {
        App { gate: Gate::new(ports), review: ports.review(), notices: ports.public_notices() }
    }
}

impl Gated for App {
    fn gate(&self) -> &Gate {
        &self.gate
    }
}

type AppState = Arc<App>;

/// The tiers a deployment serves.
#[derive(Clone, Debug)]
struct Served(Vec<Tier>);

impl Served {
    fn check(&self, raw: &str) -> Result<Tier, ApiError> {
        Tier::parse(raw).filter(|t| self.0.contains(t)).ok_or(ApiError::NoRoute)
    }
}

/// The review router for `tiers` (one tier in AWS, all three standalone).
pub fn router(state: AppState, tiers: &[Tier]) -> axum::Router {
    subsidy_api::finish(routes(), &state.gate).layer(axum::Extension(Served(tiers.to_vec()))).with_state(state)
}

async fn inbox(
    State(s): State<AppState>,
    axum::Extension(served): axum::Extension<Served>,
    Identity(actor): Identity,
    Path(tier): Path<String>,
    Query(q): Query<PageParams>,
) -> ApiResult<Json<Page<ApplicationView>>> {
    let tier = served.check(&tier)?;
    Ok(Json(s.review.review_inbox(&actor, tier, &q.page()?).await?))
}

/// Escalation as the unit above sees it: the tier below's applications in
/// the caller's unit, overdue by more than the policy's `escalateAfter`.
async fn overdue_below(
    State(s): State<AppState>,
    axum::Extension(served): axum::Extension<Served>,
    Identity(actor): Identity,
    Path(tier): Path<String>,
    Query(q): Query<PageParams>,
) -> ApiResult<Json<Page<ApplicationView>>> {
    let tier = served.check(&tier)?;
    Ok(Json(s.review.overdue_below(&actor, tier, &q.page()?).await?))
}

async fn approve(
    State(s): State<AppState>,
    axum::Extension(served): axum::Extension<Served>,
    Identity(actor): Identity,
    Path((tier, id)): Path<(String, String)>,
    Body(input): Body<ApproveInput>,
) -> ApiResult<Json<ApplicationDetail>> {
    let tier = served.check(&tier)?;
    Ok(Json(s.review.approve(&actor, tier, &id, &input).await?))
}

/// 批量通过: up to 100 at once, each on its own, after the spot check.
async fn bulk_approve(
    State(s): State<AppState>,
    axum::Extension(served): axum::Extension<Served>,
    Identity(actor): Identity,
    Path(tier): Path<String>,
    Body(input): Body<BulkApproveInput>,
) -> ApiResult<Json<BulkApproveView>> {
    let tier = served.check(&tier)?;
    Ok(Json(s.review.bulk_approve(&actor, tier, &input).await?))
}

/// 追回: a district reviewer opens a recovery on a paid application.
async fn open_recovery(
    State(s): State<AppState>,
    axum::Extension(served): axum::Extension<Served>,
    Identity(actor): Identity,
    Path((tier, id)): Path<(String, String)>,
    Body(input): Body<subsidy_core::application::inputs::OpenRecoveryInput>,
) -> ApiResult<Json<ApplicationDetail>> {
    if served.check(&tier)? != Tier::District {
        return Err(ApiError::NoRoute);
    }
    Ok(Json(s.review.open_recovery(&actor, &id, &input).await?))
}

/// `POST /review/district/applications/{id}/resolve-objections`: the
/// district dismisses the objections to a public notice, or returns the
/// application to its 审核.
async fn resolve_objections(
    State(s): State<AppState>,
    axum::Extension(served): axum::Extension<Served>,
    Identity(actor): Identity,
    Path((tier, id)): Path<(String, String)>,
    Body(input): Body<subsidy_core::application::notice::ResolveObjectionsInput>,
) -> ApiResult<Json<ApplicationDetail>> {
    if served.check(&tier)? != Tier::District {
        return Err(ApiError::NoRoute);
    }
    Ok(Json(s.notices.resolve(&actor, &id, &input).await?))
}

async fn return_for_correction(
    State(s): State<AppState>,
    axum::Extension(served): axum::Extension<Served>,
    Identity(actor): Identity,
    Path((tier, id)): Path<(String, String)>,
    Body(input): Body<ActionInput>,
) -> ApiResult<Json<ApplicationDetail>> {
    let tier = served.check(&tier)?;
    Ok(Json(s.review.return_for_correction(&actor, tier, &id, &input).await?))
}

async fn reject(
    State(s): State<AppState>,
    axum::Extension(served): axum::Extension<Served>,
    Identity(actor): Identity,
    Path((tier, id)): Path<(String, String)>,
    Body(input): Body<ActionInput>,
) -> ApiResult<Json<ApplicationDetail>> {
    let tier = served.check(&tier)?;
    Ok(Json(s.review.reject(&actor, tier, &id, &input).await?))
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct VersionInput {
    version: u64,
}

/// Only the district tier opens and verifies bank accounts.
fn district_only(served: &Served, tier: &str) -> Result<(), ApiError> {
    if served.check(tier)? != Tier::District {
        return Err(ApiError::Core(subsidy_core::Error::NotFound("application")));
    }
    Ok(())
}

/// The district opens the full account it is to verify: the one view that
/// shows it, recorded on the application's trail.
async fn reveal_bank_account(
    State(s): State<AppState>,
    axum::Extension(served): axum::Extension<Served>,
    Identity(actor): Identity,
    Path((tier, id)): Path<(String, String)>,
    Body(input): Body<VersionInput>,
) -> ApiResult<Json<PayeeRevealView>> {
    district_only(&served, &tier)?;
    Ok(Json(s.review.reveal_payee(&actor, &id, input.version).await?))
}

/// The district verifies an application's bank account (after a change, or
/// after a failed payment), having opened it.
async fn verify_bank_account(
    State(s): State<AppState>,
    axum::Extension(served): axum::Extension<Served>,
    Identity(actor): Identity,
    Path((tier, id)): Path<(String, String)>,
    Body(input): Body<VerifyPayeeInput>,
) -> ApiResult<Json<ApplicationDetail>> {
    district_only(&served, &tier)?;
    Ok(Json(s.review.verify_payee(&actor, &id, &input).await?))
}

pub use subsidy_api::lambda::ConsumerError;

/// Consumes one tier-arrival message: records pre-checks for the reviewer.
/// Stale and repeated messages are acknowledged without effect.
pub async fn handle_arrival(review: &Review, msg: &TierArrival) -> Result<(), ConsumerError> {
    match review.on_arrival(msg).await {
        Ok(Some(report)) => {
            tracing::info!(
                application_id = %msg.application_id,
                tier = %msg.tier,
                flags = report.checks.len(),
                "pre-checks recorded; application waits in the inbox"
            );
            Ok(())
        }
        Ok(None) => {
            tracing::debug!(application_id = %msg.application_id, tier = %msg.tier, "stale arrival ignored");
            Ok(())
        }
        Err(e @ subsidy_core::Error::Internal(_)) => Err(ConsumerError::retry(e.to_string())),
        Err(e) => Err(ConsumerError::poison(e.to_string())),
    }
}

/// The review function's environment.
#[cfg(feature = "lambda")]
#[derive(Debug, Clone)]
pub struct Config {
    pub service: subsidy_infra::aws::ServiceConfig,
    /// `TIER`: community, subdistrict or district.
    pub tier: Tier,
    /// `DEAD_LETTER_QUEUE_URL`: this tier queue's dead-letter queue.
    pub dead_letter_queue: String,
}

#[cfg(feature = "lambda")]
impl Config {
    pub fn from_env() -> Result<Config, subsidy_infra::config::ConfigError> {
        Ok(Config {
            service: subsidy_infra::aws::ServiceConfig::from_env()?,
            tier: subsidy_infra::config::parsed("TIER", |t| {
                Tier::parse(t).ok_or("must be community, subdistrict or district")
            })?,
            dead_letter_queue: subsidy_infra::config::var("DEAD_LETTER_QUEUE_URL")?,
        })
    }
}

/// Consumes one SQS batch from this tier's queue (see
/// [`subsidy_api::lambda::sqs_batch`]): a message that fails for a
/// transient reason is redelivered; one that can never succeed (garbage,
/// another tier's message, an application that does not exist) goes to
/// `dead` at once.
pub async fn handle_sqs(review: &Review, tier: Tier, dead: &dyn DeadLetterQueue, event: SqsEvent) -> SqsBatchResponse {
    sqs_batch(event, dead, |body| async move {
        let msg = parse_arrival(&body)?;
        if msg.tier != tier {
            return Err(ConsumerError::poison(format!("a {} message on the {tier} queue", msg.tier)));
        }
        handle_arrival(review, &msg).await
    })
    .await
}

/// The review function's consumer: this tier's queue.
pub fn consumers(app: AppState, tier: Tier, dead: Arc<dyn DeadLetterQueue>) -> Consumers {
    Consumers::default().sqs(move |event| {
        let (app, dead) = (app.clone(), dead.clone());
        async move { handle_sqs(&app.review, tier, dead.as_ref(), event).await }
    })
}

/// Decodes a queue message body. A body that does not parse can never
/// succeed, so it is not retryable.
pub fn parse_arrival(body: &str) -> Result<TierArrival, ConsumerError> {
    serde_json::from_str(body).map_err(|e| ConsumerError::poison(format!("bad message: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_arrival_event_parses_and_garbage_is_not_retryable() {
        let m = parse_arrival(include_str!("../../../events/review/tier-arrival-community-ok.json")).unwrap();
        assert_eq!(m.tier, Tier::Community);
        let e = parse_arrival("{\"applicationId\":1}").unwrap_err();
        assert!(!e.retryable);
    }

    #[test]
    fn the_sample_sqs_batch_parses_as_lambda_delivers_it() {
        let event: SqsEvent =
            serde_json::from_str(include_str!("../../../events/review/sqs-batch-poison-partial.json")).unwrap();
        assert_eq!(event.records.len(), 2);
        let first = parse_arrival(event.records[0].body.as_deref().unwrap()).unwrap();
        assert_eq!(first.tier, Tier::Community);
        assert!(parse_arrival(event.records[1].body.as_deref().unwrap()).is_err(), "the second is a poison message");
    }

    fn services() -> (tempfile::TempDir, subsidy_core::Services) {
        use subsidy_core::jurisdiction::JurisdictionTree;
        let dir = tempfile::tempdir().unwrap();
        let tree = Arc::new(JurisdictionTree::from_json(subsidy_infra::data::SHENZHEN_JURISDICTIONS).unwrap());
        let blobs = Arc::new(subsidy_infra::fs::FsBlobStore::new(dir.path(), "http://localhost", &[7; 32]));
        let store = subsidy_infra::sqlite::SqliteStore::open_in_memory().unwrap();
        let s = store.services(
            blobs,
            Arc::new(subsidy_core::payout::NoBatchQueue),
            tree,
            Arc::new(subsidy_core::ports::SystemClock),
            "p",
            subsidy_core::audit::AuditKey::for_tests(),
            Arc::new(subsidy_core::audit::anchor::NoAnchors),
        );
        (dir, s)
    }

    /// A dead-letter queue that records what it is sent.
    #[derive(Default)]
    struct Dlq(std::sync::Mutex<Vec<String>>);

    #[async_trait::async_trait]
    impl DeadLetterQueue for Dlq {
        async fn dead_letter(&self, _body: &str, reason: &str) -> Result<(), subsidy_core::StoreError> {
            self.0.lock().unwrap().push(reason.to_string());
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_poison_message_goes_to_the_dead_letter_queue_without_retries() {
        use subsidy_api::lambda::Failures;
        let (_dir, s) = services();
        let event: SqsEvent =
            serde_json::from_str(include_str!("../../../events/review/sqs-batch-poison-partial.json")).unwrap();
        let dlq = Dlq::default();
        let r = handle_sqs(&s.review, Tier::Community, &dlq, event).await;
        assert!(r.failed_ids().is_empty(), "nothing is redelivered: {r:?}");
        let sent = dlq.0.lock().unwrap();
        assert_eq!(sent.len(), 1, "the stale arrival is acknowledged, the poison one dead-lettered: {sent:?}");
        assert!(sent[0].starts_with("bad message"), "{sent:?}");
    }

    #[tokio::test]
    async fn a_message_for_another_tier_is_refused() {
        let (_dir, s) = services();
        let event: SqsEvent =
            serde_json::from_str(include_str!("../../../events/review/sqs-batch-poison-partial.json")).unwrap();
        let dlq = Dlq::default();
        handle_sqs(&s.review, Tier::District, &dlq, event).await;
        let sent = dlq.0.lock().unwrap();
        assert_eq!(sent[0], "a community message on the district queue");
        assert_eq!(sent.len(), 2);
    }

    #[test]
    fn a_deployment_serves_only_its_own_tiers() {
        let served = Served(vec![Tier::Subdistrict]);
        assert_eq!(served.check("subdistrict").unwrap(), Tier::Subdistrict);
        assert!(served.check("community").is_err());
        assert!(served.check("city").is_err());
    }
}
