//! Routing of change records to the review tiers' queues.
//!
//! A change record is one committed write to an application: its image
//! before and after, the shape of a DynamoDB stream record with
//! NEW_AND_OLD_IMAGES. The standalone outbox stores the same thing. This
//! module decides, purely, which queue messages a change produces; the
//! dispatch function (AWS) and the in-process dispatcher (standalone) only
//! move them.

use serde::{Deserialize, Serialize};

use crate::application::Application;
use crate::identity::Tier;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeRecord {
    pub old: Option<Application>,
    pub new: Application,
}

/// "This application has arrived at this tier": the message a tier's queue
/// carries. The consumer ignores it if the application has moved on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TierArrival {
    pub application_id: String,
    pub tier: Tier,
    /// The application version that arrived.
    pub version: u64,
}

/// The messages a change produces: one arrival when the application enters
/// a pending tier, none otherwise (a resubmission that lands in the same
/// tier again still changes state through `returned`, so it counts).
pub fn route(change: &ChangeRecord) -> Vec<TierArrival> {
    let entered = change.old.as_ref().map(|o| o.state) != Some(change.new.state);
    match change.new.state.tier() {
        Some(tier) if entered => {
            vec![TierArrival { application_id: change.new.id.clone(), tier, version: change.new.version }]
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::application::state::State;
    use crate::testkit::*;

    #[test]
    fn entering_a_tier_routes_one_arrival_to_that_tier() {
        let old = at_state(draft("10"), State::AwaitingAreaConfirmation);
        let mut new = at_state(draft("10"), State::PendingCommunity);
        new.version = 3;
        let msgs = route(&ChangeRecord { old: Some(old), new: new.clone() });
        assert_eq!(msgs, vec![TierArrival { application_id: new.id.clone(), tier: Tier::Community, version: 3 }]);
    }

    #[test]
    fn changes_that_do_not_enter_a_tier_route_nothing() {
        let a = at_state(draft("10"), State::PendingCommunity);
        assert!(route(&ChangeRecord { old: Some(a.clone()), new: a.clone() }).is_empty(), "same state");
        let approved = at_state(draft("10"), State::Approved);
        assert!(
            route(&ChangeRecord { old: Some(at_state(draft("10"), State::PendingDistrict)), new: approved }).is_empty()
        );
        assert!(route(&ChangeRecord { old: None, new: draft("10") }).is_empty(), "a new draft");
    }

    #[test]
    fn the_sample_event_in_events_parses() {
        let m: TierArrival =
            serde_json::from_str(include_str!("../../../events/review/tier-arrival-community-ok.json")).unwrap();
        assert_eq!(m.tier, Tier::Community);
        assert!(serde_json::from_str::<TierArrival>(r#"{"applicationId":"a","tier":"city","version":1}"#).is_err());
    }
}
