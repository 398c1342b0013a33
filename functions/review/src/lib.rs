//! The review function: 初审 (community), 复核 (subdistrict) and 审核
//! (district). One binary, deployed once per tier; a deployment serves only
//! its own tiers' routes and consumes only its own tiers' queue.
//!
//! [`router`] serves [`ROUTES`] for the given tiers; a request for another
//! tier gets the same 404 as an unknown route. [`handle_arrival`] is the
//! queue consumer: it runs the pre-checks when an application arrives.

use axum::Json;
use axum::extract::{Path, State};
use subsidy_api::{ApiError, ApiResult, AppState, Body, Identity, PageParams, Query};
use subsidy_core::Services;
use subsidy_core::dispatch::TierArrival;
use subsidy_core::identity::Tier;
use subsidy_core::ports::Page;
use subsidy_core::service::{ActionInput, ApproveInput};
use subsidy_core::views::{ApplicationDetail, ApplicationView};

subsidy_api::routes! {
    GET "/api/v1/review/{tier}/inbox" => inbox,
    POST "/api/v1/review/{tier}/applications/{id}/approve" => approve,
    POST "/api/v1/review/{tier}/applications/{id}/return" => return_for_correction,
    POST "/api/v1/review/{tier}/applications/{id}/reject" => reject,
}

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
    subsidy_api::finish(routes(), state.clone()).layer(axum::Extension(Served(tiers.to_vec()))).with_state(state)
}

async fn inbox(
    State(s): State<AppState>,
    axum::Extension(served): axum::Extension<Served>,
    Identity(actor): Identity,
    Path(tier): Path<String>,
    Query(q): Query<PageParams>,
) -> ApiResult<Json<Page<ApplicationView>>> {
    let tier = served.check(&tier)?;
    Ok(Json(s.review_inbox(&actor, tier, &q.page()?).await?))
}

async fn approve(
    State(s): State<AppState>,
    axum::Extension(served): axum::Extension<Served>,
    Identity(actor): Identity,
    Path((tier, id)): Path<(String, String)>,
    Body(input): Body<ApproveInput>,
) -> ApiResult<Json<ApplicationDetail>> {
    let tier = served.check(&tier)?;
    Ok(Json(s.approve(&actor, tier, &id, &input).await?))
}

async fn return_for_correction(
    State(s): State<AppState>,
    axum::Extension(served): axum::Extension<Served>,
    Identity(actor): Identity,
    Path((tier, id)): Path<(String, String)>,
    Body(input): Body<ActionInput>,
) -> ApiResult<Json<ApplicationDetail>> {
    let tier = served.check(&tier)?;
    Ok(Json(s.return_for_correction(&actor, tier, &id, &input).await?))
}

async fn reject(
    State(s): State<AppState>,
    axum::Extension(served): axum::Extension<Served>,
    Identity(actor): Identity,
    Path((tier, id)): Path<(String, String)>,
    Body(input): Body<ActionInput>,
) -> ApiResult<Json<ApplicationDetail>> {
    let tier = served.check(&tier)?;
    Ok(Json(s.reject(&actor, tier, &id, &input).await?))
}

/// Why a message could not be handled, and whether to try it again.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ConsumerError {
    /// Retry (transient storage trouble) or dead-letter (a bad message).
    pub retryable: bool,
    pub message: String,
}

/// Consumes one tier-arrival message: records pre-checks for the reviewer.
/// Stale and repeated messages are acknowledged without effect.
pub async fn handle_arrival(services: &Services, msg: &TierArrival) -> Result<(), ConsumerError> {
    match services.on_arrival(msg).await {
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
        Err(e @ subsidy_core::Error::Internal(_)) => Err(ConsumerError { retryable: true, message: e.to_string() }),
        Err(e) => Err(ConsumerError { retryable: false, message: e.to_string() }),
    }
}

/// Decodes a queue message body. A body that does not parse can never
/// succeed, so it is not retryable.
pub fn parse_arrival(body: &str) -> Result<TierArrival, ConsumerError> {
    serde_json::from_str(body).map_err(|e| ConsumerError { retryable: false, message: format!("bad message: {e}") })
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
    fn a_deployment_serves_only_its_own_tiers() {
        let served = Served(vec![Tier::Subdistrict]);
        assert_eq!(served.check("subdistrict").unwrap(), Tier::Subdistrict);
        assert!(served.check("community").is_err());
        assert!(served.check("city").is_err());
    }
}
