//! Review: the project manager's area confirmation, the three tiers'
//! 初审, 复核 and 审核 (approve, return for correction, reject), the
//! district's payee verification, the inboxes, and the pre-checks run when
//! an application arrives at a tier.

use crate::identity::authz::require_role;
use std::sync::Arc;

use crate::application::Application;
use crate::application::dispatch::TierArrival;
use crate::application::inputs::*;
use crate::application::precheck::{self, PrecheckReport};
use crate::application::state::{Command, State};
use crate::application::views::{ApplicationDetail, ApplicationView, Due};
use crate::context::Context;
use crate::error::Error;
use crate::fields::area;
use crate::fields::{reason, required_reason};
use crate::identity::authz::{self, Scope};
use crate::identity::{Actor, Role, Tier};
use crate::ports::*;

/// The review use cases.
#[derive(Clone)]
pub struct Review {
    pub(crate) cx: Context,
    pub(crate) applications: Arc<dyn ApplicationStore>,
    pub(crate) projects: Arc<dyn ProjectStore>,
    pub(crate) companies: Arc<dyn CompanyStore>,
    pub(crate) prechecks: Arc<dyn PrecheckStore>,
    /// Reviewers' openings in detail, for bulk approval's spot checks.
    pub(crate) views: Arc<dyn crate::application::bulk::ViewLog>,
    /// Every change goes through the applications' one transition path.
    pub(crate) apps: super::service::Applications,
}

impl Review {
    pub async fn confirm_area(&self, actor: &Actor, id: &str, version: u64) -> Result<ApplicationDetail, Error> {
        self.apps.transition(actor, id, version, |_| async { Ok(Command::ConfirmArea) }).await
    }

    pub async fn dispute_area(&self, actor: &Actor, id: &str, input: &ActionInput) -> Result<ApplicationDetail, Error> {
        self.apps
            .transition(actor, id, input.version, |_| async move {
                Ok(Command::DisputeArea { reason: required_reason(&input.reason)? })
            })
            .await
    }

    pub async fn approve(
        &self,
        actor: &Actor,
        tier: Tier,
        id: &str,
        input: &ApproveInput,
    ) -> Result<ApplicationDetail, Error> {
        self.apps
            .transition(actor, id, input.version, |app: Application| async move {
                let area = input.approved_area.as_deref().map(|s| area("approvedArea", s)).transpose()?;
                // The payee was fixed at submission and reviewed by every tier
                // (a later change waits beside it for the district's
                // verification); an application submitted before that takes the
                // company's account as it stands.
                let payee = match tier {
                    Tier::District if app.payee.is_none() => {
                        let company =
                            self.companies.get_company(&app.company_id).await?.ok_or(Error::NotFound("company"))?;
                        Some(company.profile.bank_account)
                    }
                    _ => None,
                };
                Ok(Command::Approve { tier, area, reason: reason("reason", &input.reason)?, payee })
            })
            .await
    }

    /// A district reviewer opens a recovery (追回) on a paid application of
    /// their jurisdiction: the amount (at most what was paid) and why. A
    /// finance user who did not open it confirms it.
    pub async fn open_recovery(
        &self,
        actor: &Actor,
        id: &str,
        input: &OpenRecoveryInput,
    ) -> Result<ApplicationDetail, Error> {
        let amount = yuan("amount", &input.amount)?;
        let reason = required_reason(&Some(input.reason.clone()))?;
        self.apps
            .transition(actor, id, input.version, |_| async move { Ok(Command::OpenRecovery { amount, reason }) })
            .await
    }

    /// Bulk approval (批量通过) with its spot check: see [`crate::application::bulk`].
    /// Each item is approved independently, in the order given, at the area
    /// under review; the answer has one result per item. A spot check not
    /// passed approves nothing (409 `spot_check_required`, naming the
    /// sampled applications the reviewer has not opened yet).
    pub async fn bulk_approve(
        &self,
        actor: &Actor,
        tier: Tier,
        input: &crate::application::bulk::BulkApproveInput,
    ) -> Result<crate::application::bulk::BulkApproveView, Error> {
        use crate::application::bulk::{self, BulkResult, SpotCheck};
        if !authz::may_issue(actor.role, authz::Issuer::Reviewer(tier)) {
            return Err(Error::NotFound("inbox"));
        }
        input.check()?;
        // The eligible selection: visible, waiting here, at the version seen.
        let loaded =
            futures::future::join_all(input.items.iter().map(|i| self.apps.visible_application(actor, &i.id))).await;
        let mut eligible: Vec<(String, u64, chrono::DateTime<chrono::Utc>)> = Vec::new();
        for (item, app) in input.items.iter().zip(&loaded) {
            match app {
                Ok(a) if bulk::eligible(a, tier, item.version) => {
                    eligible.push((a.id.clone(), a.version, a.state_since))
                }
                Ok(_) | Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e.clone()),
            }
        }
        let policy = self.cx.policy().await?;
        let k = bulk::sample_size(eligible.len(), policy.spot_check_minimum, policy.spot_check_rate);
        let check = if k == 0 {
            None
        } else {
            let key = self.cx.audit_key.get().await?;
            let pairs: Vec<(String, u64)> = eligible.iter().map(|(id, v, _)| (id.clone(), *v)).collect();
            let seed = key.mac_hex(&bulk::seed_input(&actor.user_id, tier, &pairs));
            let ids: Vec<String> = pairs.into_iter().map(|(id, _)| id).collect();
            let sampled = bulk::draw(&seed, &ids, k);
            let opened = self.views.views_of(&actor.user_id, &sampled).await?;
            let since: std::collections::HashMap<&str, chrono::DateTime<chrono::Utc>> =
                eligible.iter().map(|(id, _, at)| (id.as_str(), *at)).collect();
            // Opened while it waited at this tier, not at an earlier pass.
            let unopened: Vec<String> = sampled
                .iter()
                .filter(|id| opened.get(id.as_str()).is_none_or(|at| *at < since[id.as_str()]))
                .cloned()
                .collect();
            if !unopened.is_empty() {
                return Err(Error::SpotCheckRequired { sample: unopened });
            }
            Some(SpotCheck { selected: eligible.len(), sampled, seed })
        };
        let mut results = Vec::with_capacity(input.items.len());
        for item in &input.items {
            let reason = bulk::trail_reason(&check, &item.id);
            results.push(match self.approve(actor, tier, &item.id, &bulk::approve_input(item, reason)).await {
                Ok(detail) => BulkResult::approved(&item.id, detail.application),
                Err(e) => BulkResult::failed(&item.id, &e),
            });
        }
        let approved = results.iter().filter(|r| r.outcome == "approved").count();
        Ok(bulk::BulkApproveView { results, approved, spot_check: check })
    }

    pub async fn return_for_correction(
        &self,
        actor: &Actor,
        tier: Tier,
        id: &str,
        input: &ActionInput,
    ) -> Result<ApplicationDetail, Error> {
        self.apps
            .transition(actor, id, input.version, |_| async move {
                Ok(Command::Return { tier, reason: required_reason(&input.reason)? })
            })
            .await
    }

    /// A district reviewer verifies the application's bank account, having
    /// opened it ([`Self::reveal_payee`]): a change the company asked for
    /// becomes the payee, and a failed payment becomes payable again. An
    /// account whose holder is not the company by name needs
    /// `confirm_holder_name`.
    pub async fn verify_payee(
        &self,
        actor: &Actor,
        id: &str,
        input: &VerifyPayeeInput,
    ) -> Result<ApplicationDetail, Error> {
        let confirm_holder_name = input.confirm_holder_name.unwrap_or(false);
        self.apps
            .transition(actor, id, input.version, |_| async move { Ok(Command::VerifyPayee { confirm_holder_name }) })
            .await
    }

    /// The district reviewer's purpose-bound view of the account to verify,
    /// in full: the one place outside the treasury file where the number is
    /// shown. Opening it is an entry on the application's trail, and what a
    /// verification needs first.
    pub async fn reveal_payee(&self, actor: &Actor, id: &str, version: u64) -> Result<PayeeRevealView, Error> {
        self.apps.transition(actor, id, version, |_| async { Ok(Command::RevealPayee) }).await?;
        let app = self.applications.get_application(id).await?.ok_or(Error::NotFound("application"))?;
        Ok(PayeeRevealView::of(&app))
    }

    pub async fn reject(
        &self,
        actor: &Actor,
        tier: Tier,
        id: &str,
        input: &ActionInput,
    ) -> Result<ApplicationDetail, Error> {
        self.apps
            .transition(actor, id, input.version, |_| async move {
                Ok(Command::Reject { tier, reason: required_reason(&input.reason)? })
            })
            .await
    }

    /// A reviewer's inbox at their own tier, oldest first.
    pub async fn review_inbox(
        &self,
        actor: &Actor,
        tier: Tier,
        page: &PageRequest,
    ) -> Result<Page<ApplicationView>, Error> {
        if !authz::may_issue(actor.role, authz::Issuer::Reviewer(tier)) {
            return Err(Error::NotFound("inbox"));
        }
        self.inbox(actor, State::pending_at(tier), page).await
    }

    /// Escalation, as the unit above sees it ("overdue below"): the
    /// applications waiting at the tier below the caller's, inside the
    /// caller's unit, overdue by more than the policy's `escalateAfter`
    /// working days. It informs; the caller cannot act on them (the
    /// review routes stay the child tier's). Community reviewers have no
    /// tier below: 404.
    pub async fn overdue_below(
        &self,
        actor: &Actor,
        tier: Tier,
        page: &PageRequest,
    ) -> Result<Page<ApplicationView>, Error> {
        if !authz::may_issue(actor.role, authz::Issuer::Reviewer(tier)) {
            return Err(Error::NotFound("overdue below"));
        }
        let below = match tier {
            Tier::Community => return Err(Error::NotFound("overdue below")),
            Tier::Subdistrict => Tier::Community,
            Tier::District => Tier::Subdistrict,
        };
        let scope = Scope::of(actor, &self.cx.tree)?;
        let policy = self.cx.policy().await?;
        let now = self.cx.now();
        let limit = page.limit.clamp(1, PageRequest::MAX_LIMIT);
        let filter = ApplicationFilter { state: Some(State::pending_at(below)), project_id: None };
        let mut items = Vec::new();
        let mut cursor = page.cursor.clone();
        // Each read asks for no more than the page still needs, so nothing
        // read is left out of this page and the next.
        loop {
            let need = limit - items.len() as u32;
            let got =
                self.applications.list_applications(&scope, &filter, &PageRequest { limit: need, cursor }).await?;
            items.extend(got.items.into_iter().filter(|a| escalated(a, &policy, now)));
            cursor = got.next_cursor;
            if cursor.is_none() || items.len() as u32 >= limit {
                break;
            }
        }
        let due = Due { policy: &policy, now };
        Ok(Page {
            items: items.iter().map(|a| ApplicationView::of(a, &self.cx.tree, due)).collect(),
            next_cursor: cursor,
        })
    }

    /// A project manager's pending area confirmations, oldest first.
    pub async fn manager_inbox(&self, actor: &Actor, page: &PageRequest) -> Result<Page<ApplicationView>, Error> {
        require_role(actor, Role::ProjectManager)?;
        self.inbox(actor, State::AwaitingAreaConfirmation, page).await
    }

    async fn inbox(&self, actor: &Actor, state: State, page: &PageRequest) -> Result<Page<ApplicationView>, Error> {
        let scope = Scope::of(actor, &self.cx.tree)?;
        let page = self.applications.inbox(&scope, state, page).await?;
        let policy = self.cx.policy().await?;
        let due = Due { policy: &policy, now: self.cx.now() };
        Ok(page.map(|a| ApplicationView::of(&a, &self.cx.tree, due)))
    }

    /// Runs the pre-checks when an application arrives at a tier, on the
    /// application as it is now (a bank account change since the arrival is
    /// seen). Stale messages (the application left the tier) are
    /// acknowledged and ignored, so redelivery is harmless: the report is
    /// always of the current application.
    pub async fn on_arrival(&self, msg: &TierArrival) -> Result<Option<PrecheckReport>, Error> {
        let Some(app) = self.applications.get_application(&msg.application_id).await? else {
            return Ok(None);
        };
        if app.state != State::pending_at(msg.tier) || app.version < msg.version {
            return Ok(None);
        }
        let project = self.projects.get_project(&app.project_id).await?;
        let mut same_name = Vec::new();
        for p in self.projects.projects_named(&app.jurisdiction.community, app.project.name.as_str()).await? {
            // By name; or by the project's id, for claims from before
            // claims were by name.
            let mut holder = None;
            for claim in [p.claim_key(), p.id.clone()] {
                if let Some(h) = self.applications.claim_holder(&app.policy_id, &claim).await? {
                    holder = self.applications.get_application(&h).await?.filter(|a| a.project_id == p.id);
                    if holder.is_some() {
                        break;
                    }
                }
            }
            same_name.push((p, holder));
        }
        let report = PrecheckReport {
            application_id: app.id.clone(),
            tier: msg.tier,
            version: app.version,
            round: app.round,
            checked_at: self.cx.now(),
            checks: precheck::run(&app, project.as_ref(), &same_name),
        };
        self.prechecks.put_prechecks(&report).await?;
        Ok(Some(report))
    }
}

/// Whether an application is overdue at its step by more than the
/// policy's `escalateAfter` working days.
pub fn escalated(
    a: &crate::application::Application,
    policy: &crate::policy::Policy,
    now: chrono::DateTime<chrono::Utc>,
) -> bool {
    a.due_at(policy).is_some_and(|d| policy.calendar.working_days_overdue(d, now) > policy.time_limits.escalate_after)
}
