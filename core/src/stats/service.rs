//! The live totals (汇总): a unit's view for its staff, the stream
//! consumer's counting, and the nightly recount.

use std::sync::Arc;

use crate::context::Context;
use crate::error::Error;
use crate::identity::authz::{self};
use crate::identity::{Actor, Role};
use crate::jurisdiction::UnitSummary;
use crate::ports::*;
use crate::stats::views::{StatsView, TotalsView, UnitStats};

/// The live-totals use cases.
#[derive(Clone)]
pub struct Stats {
    pub(crate) cx: Context,
    pub(crate) stats: Arc<dyn crate::stats::StatsStore>,
    pub(crate) applications: Arc<dyn ApplicationStore>,
}

impl Stats {
    /// A staff member's view of a unit inside their jurisdiction, with its
    /// children. Reads only pre-aggregated counters: the same cost at a
    /// thousand applications as at a million.
    pub async fn stats(&self, actor: &Actor, code: &str) -> Result<StatsView, Error> {
        if matches!(actor.role, Role::Company | Role::ProjectManager | Role::Admin)
            || !authz::can_see_unit(actor, code, &self.cx.tree)
        {
            return Err(Error::NotFound("jurisdiction"));
        }
        let unit = self.cx.tree.get(code).ok_or(Error::NotFound("jurisdiction"))?;
        let children: Vec<&crate::jurisdiction::Unit> = self.cx.tree.children(code).collect();
        let keys: Vec<crate::stats::UnitKey> = std::iter::once(unit)
            .chain(children.iter().copied())
            .map(|u| crate::stats::UnitKey::new(&self.cx.policy_id, &u.code))
            .collect();
        let stored = self.stats.unit_totals(&keys).await?;
        let policy = self.cx.policy().await?;
        let now = self.cx.now();
        let view = |u: &crate::jurisdiction::Unit| {
            let t = stored.get(&crate::stats::UnitKey::new(&self.cx.policy_id, &u.code)).cloned().unwrap_or_default();
            UnitStats {
                unit: UnitSummary::of(u),
                as_of: t.updated_at,
                totals: TotalsView::of(&t.totals, &t.totals.overdue(&policy, now)),
                raw: t.totals,
            }
        };
        let own = view(unit);
        let forecast = (unit.level == crate::jurisdiction::Level::District)
            .then(|| crate::stats::views::ForecastView::of(&policy, &unit.code, &own.raw, own.as_of));
        Ok(StatsView {
            policy_id: self.cx.policy_id.clone(),
            unit: own,
            children: children.into_iter().map(view).collect(),
            forecast,
        })
    }

    /// The aggregation consumer: counts a batch of committed changes.
    pub async fn aggregate(
        &self,
        changes: &[crate::application::dispatch::ChangeRecord],
    ) -> Result<crate::stats::AppliedBatch, Error> {
        Ok(crate::stats::apply_changes(self.stats.as_ref(), changes, self.cx.now()).await?)
    }

    /// Recounts the active policy from scratch, reports drift, repairs.
    pub async fn reconcile(&self) -> Result<crate::stats::ReconcileReport, Error> {
        Ok(crate::stats::reconcile(self.applications.as_ref(), self.stats.as_ref(), &self.cx.policy_id, self.cx.now())
            .await?)
    }
}
