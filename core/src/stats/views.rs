//! What callers see of the live totals (汇总): areas in m² and amounts in
//! yuan as decimal strings, with the exact integers beside them.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::jurisdiction::UnitSummary;

/// A unit's totals as shown: areas in m² and amounts in yuan as decimal
/// strings, with the exact integers beside them.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TotalsView {
    pub companies: i64,
    pub projects: i64,
    pub claimed_area: String,
    pub claimed_area_hundredths: i64,
    pub approved_area: String,
    pub approved_area_hundredths: i64,
    pub claimed_amount: String,
    pub claimed_amount_fen: i64,
    pub approved_amount: String,
    pub approved_amount_fen: i64,
    /// Applications per state (drafts are not counted).
    pub counts: std::collections::BTreeMap<&'static str, i64>,
    /// Of those, the applications past their step's time limit (办理时限),
    /// per state with a time limit.
    pub overdue: std::collections::BTreeMap<&'static str, i64>,
}

impl TotalsView {
    /// `overdue` comes from [`crate::stats::Totals::overdue`].
    pub fn of(
        t: &crate::stats::Totals,
        overdue: &std::collections::BTreeMap<crate::stats::Counter, i64>,
    ) -> TotalsView {
        use crate::money::format_hundredths;
        use crate::stats::Counter as C;
        let counts = [
            C::AwaitingAreaConfirmation,
            C::PendingCommunity,
            C::PendingSubdistrict,
            C::PendingDistrict,
            C::Returned,
            C::Rejected,
            C::Withdrawn,
            C::Approved,
            C::InPaymentBatch,
            C::Paid,
            C::PaymentFailed,
        ]
        .into_iter()
        .map(|c| (c.name(), t.get(c)))
        .collect();
        TotalsView {
            companies: t.get(C::Companies),
            projects: t.get(C::Projects),
            claimed_area: format_hundredths(t.get(C::ClaimedArea)),
            claimed_area_hundredths: t.get(C::ClaimedArea),
            approved_area: format_hundredths(t.get(C::ApprovedArea)),
            approved_area_hundredths: t.get(C::ApprovedArea),
            claimed_amount: format_hundredths(t.get(C::ClaimedAmount)),
            claimed_amount_fen: t.get(C::ClaimedAmount),
            approved_amount: format_hundredths(t.get(C::ApprovedAmount)),
            approved_amount_fen: t.get(C::ApprovedAmount),
            counts,
            overdue: overdue.iter().map(|(c, v)| (c.name(), *v)).collect(),
        }
    }
}

/// One unit's figures, and the moment they were last computed.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnitStats {
    pub unit: UnitSummary,
    /// When the counters last changed; null if nothing was ever counted here.
    pub as_of: Option<DateTime<Utc>>,
    pub totals: TotalsView,
    #[serde(skip)]
    pub raw: crate::stats::Totals,
}

/// A unit's totals with its child units, for drill-down.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsView {
    pub policy_id: String,
    #[serde(flatten)]
    pub unit: UnitStats,
    pub children: Vec<UnitStats>,
}
