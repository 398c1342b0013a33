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
    /// Paid, recovered of it since (追回), and the net.
    pub paid_amount: String,
    pub paid_amount_fen: i64,
    pub recovered_amount: String,
    pub recovered_amount_fen: i64,
    pub net_paid_amount: String,
    pub net_paid_amount_fen: i64,
    /// Paid applications with a recovery under way (opened or 追回中), and
    /// recovered in full (已追回).
    pub recovering: i64,
    pub recovered: i64,
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
            C::InPublicNotice,
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
            paid_amount: format_hundredths(t.get(C::PaidFen)),
            paid_amount_fen: t.get(C::PaidFen),
            recovered_amount: format_hundredths(t.get(C::RecoveredFen)),
            recovered_amount_fen: t.get(C::RecoveredFen),
            net_paid_amount: format_hundredths(t.get(C::PaidFen) - t.get(C::RecoveredFen)),
            net_paid_amount_fen: t.get(C::PaidFen) - t.get(C::RecoveredFen),
            recovering: t.get(C::Recovering),
            recovered: t.get(C::Recovered),
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
    /// A district's budget forecast; null for other levels.
    pub forecast: Option<ForecastView>,
}

/// A district's budget forecast (预算预测), from the live counters alone:
/// everything approved (paid, in batches, waiting for one), and everything
/// still in review at its claimed amount, the most it can be approved at.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ForecastView {
    pub district: String,
    /// The policy's budget for the district (0 if it names none).
    pub allocated: crate::payout::views::Money,
    /// Approved amounts: paid (less what was recovered since), in payment
    /// batches, and waiting for a batch.
    pub approved: crate::payout::views::Money,
    /// Claimed amounts per state still in review (a returned application
    /// may come back): `awaitingAreaConfirmation`, `pendingCommunity`,
    /// `pendingSubdistrict`, `pendingDistrict`, `returned`.
    pub in_review: std::collections::BTreeMap<&'static str, crate::payout::views::Money>,
    pub in_review_total: crate::payout::views::Money,
    /// allocated − approved − in review: what would be left if everything
    /// in review were approved as claimed. Negative when it would not fit.
    pub remaining_after_review: crate::payout::views::Money,
    /// Whether `remainingAfterReview` is negative: the warning.
    pub short: bool,
    /// When the counters last changed.
    pub as_of: Option<DateTime<Utc>>,
}

impl ForecastView {
    /// The forecast of `district` from its unit's counters.
    pub fn of(
        policy: &crate::policy::Policy,
        district: &str,
        t: &crate::stats::Totals,
        as_of: Option<DateTime<Utc>>,
    ) -> ForecastView {
        use crate::payout::views::Money;
        use crate::stats::Counter;
        let allocated = policy.district_budgets.get(district).map(|f| f.fen()).unwrap_or(0);
        // What was recovered after payment is no longer spent.
        let approved = t.get(Counter::ApprovedAmount) - t.get(Counter::RecoveredFen);
        let in_review: std::collections::BTreeMap<&'static str, i64> =
            Counter::IN_REVIEW.iter().map(|(count, fen)| (count.name(), t.get(*fen))).collect();
        let total: i64 = in_review.values().sum();
        let left = allocated - approved - total;
        ForecastView {
            district: district.to_string(),
            allocated: Money::of_fen(allocated),
            approved: Money::of_fen(approved),
            in_review: in_review.into_iter().map(|(k, v)| (k, Money::of_fen(v))).collect(),
            in_review_total: Money::of_fen(total),
            remaining_after_review: Money::of_fen(left),
            short: left < 0,
            as_of,
        }
    }
}
