//! 公示: the public notice of the district's approvals, before payment.
//!
//! With a policy's `publicNoticeDays` above 0, the district's 审核 puts an
//! application in `in_public_notice` (see [`crate::application::state`])
//! instead of `approved`. Until the window ends anyone may read the
//! district's notice, without signing in ([`PublicNotices::list`]: nothing
//! personal in it), and anyone signed in may object once
//! ([`PublicNotices::object`]). An objection holds the application until
//! a district reviewer resolves it ([`PublicNotices::resolve`]); the
//! nightly job makes the rest payable when their window ends
//! ([`PublicNotices::close_due`]).

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::application::Application;
use crate::application::state::{Command, ObjectionOutcome, State, step};
use crate::application::views::ApplicationDetail;
use crate::context::Context;
use crate::error::{Error, StoreError};
use crate::fields::required_reason;
use crate::identity::authz::Scope;
use crate::identity::{Actor, Role};
use crate::jurisdiction::Level;
use crate::policy::shanghai;
use crate::ports::{ApplicationStore, ClaimChange, Page, PageRequest};

/// How often an objection retries a write that lost a race with another
/// write to the same application (another objection, a payee change). Of
/// racing writers one wins each round, so this many carry as many
/// objectors at the same instant; objections are rare, so no backoff.
const OBJECTION_ATTEMPTS: usize = 32;

/// One application on a district's public notice: what the public may
/// know. No phone, account or person's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NoticeItem {
    pub application_id: String,
    pub company_name: String,
    pub credit_code: String,
    pub project_name: String,
    pub community: String,
    pub community_name: String,
    pub subdistrict_name: String,
    pub approved_area: String,
    pub approved_amount: String,
    /// The day of publication (China date): one day's approvals are one
    /// notice.
    pub notice_date: NaiveDate,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// An objection waits for the district's resolution (异议处理中).
    pub on_hold: bool,
    /// The window has ended (objections are no longer taken); the nightly
    /// job makes it payable, unless an objection holds it.
    pub ended: bool,
}

/// A district's public notice, oldest publication first.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicNoticeList {
    pub district: String,
    pub district_name: String,
    pub public_notice_days: u32,
    pub items: Vec<NoticeItem>,
    pub next_cursor: Option<String>,
    /// Every district-level unit, to pick another notice with no sign-in.
    pub districts: Vec<crate::jurisdiction::UnitSummary>,
}

/// `POST /public/notices/{applicationId}/objections`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectionInput {
    pub reason: String,
}

/// What the objector gets back: a receipt, and nothing of the application
/// beyond its public notice.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectionReceipt {
    pub application_id: String,
    pub seq: u32,
    pub at: DateTime<Utc>,
}

/// The caller's own objection to a notice, with the evidence they
/// attached and what the content check made of it: all an objector may
/// know of the application beyond its public notice.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MyObjection {
    pub application_id: String,
    pub seq: u32,
    pub reason: String,
    pub at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// The window has ended: no more evidence may be attached.
    pub ended: bool,
    pub resolution: Option<crate::application::ObjectionOutcome>,
    pub resolution_reason: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The objection evidence this user attached (异议材料), with its check.
    pub documents: Vec<crate::documents::views::DocumentView>,
}

/// `POST /review/district/applications/{id}/resolve-objections`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResolveObjectionsInput {
    pub version: u64,
    pub outcome: String,
    pub reason: String,
}

/// What the nightly close did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NoticeCloseReport {
    /// Windows ended without an objection waiting: now payable.
    pub closed: usize,
    /// Windows ended with an objection waiting: left for the district.
    pub held: usize,
    /// Writes that lost a race; the next run tries them again.
    pub conflicts: usize,
}

/// The 公示 use cases.
#[derive(Clone)]
pub struct PublicNotices {
    pub(crate) cx: Context,
    pub(crate) applications: Arc<dyn ApplicationStore>,
    /// The objector's own evidence, for [`PublicNotices::mine`].
    pub(crate) documents: Arc<dyn crate::ports::DocumentStore>,
    /// The district's resolution goes through the one transition path.
    pub(crate) apps: super::service::Applications,
}

impl NoticeItem {
    pub fn of(
        app: &Application,
        tree: &crate::jurisdiction::JurisdictionTree,
        now: DateTime<Utc>,
    ) -> Option<NoticeItem> {
        let notice = app.notice.as_ref()?;
        let name = |code: &str| tree.get(code).map(|u| u.name.clone()).unwrap_or_default();
        Some(NoticeItem {
            application_id: app.id.clone(),
            company_name: app.company_name.clone(),
            credit_code: app.credit_code.clone(),
            project_name: app.project.name.to_string(),
            community: app.jurisdiction.community.clone(),
            community_name: name(&app.jurisdiction.community),
            subdistrict_name: name(&app.jurisdiction.subdistrict),
            approved_area: app.approved_area?.to_string(),
            approved_amount: app.approved_amount?.to_string(),
            notice_date: notice.starts_at.with_timezone(&shanghai()).date_naive(),
            starts_at: notice.starts_at,
            ends_at: notice.ends_at,
            on_hold: notice.on_hold(),
            ended: now >= notice.ends_at,
        })
    }
}

impl PublicNotices {
    /// The district's public notice: every application in its window, by
    /// publication. No sign-in: `district` must be a district-level unit.
    pub async fn list(&self, district: Option<&str>, page: &PageRequest) -> Result<PublicNoticeList, Error> {
        let code = district.ok_or_else(|| Error::invalid("district", "required: a district code such as 440304"))?;
        let unit = self
            .cx
            .tree
            .get(code)
            .filter(|u| u.level == Level::District)
            .ok_or_else(|| Error::invalid("district", "no district-level unit has this code"))?;
        let scope = Scope::Unit { level: Level::District, code: unit.code.clone() };
        let found = self.applications.inbox(&scope, State::InPublicNotice, page).await?;
        let policy = self.cx.policy().await?;
        let now = self.cx.now();
        let districts = self.cx.tree.units().filter(|u| u.level == Level::District);
        Ok(PublicNoticeList {
            district: unit.code.clone(),
            district_name: unit.name.clone(),
            public_notice_days: policy.public_notice_days,
            items: found.items.iter().filter_map(|a| NoticeItem::of(a, &self.cx.tree, now)).collect(),
            next_cursor: found.next_cursor,
            districts: districts.map(crate::jurisdiction::UnitSummary::of).collect(),
        })
    }

    /// An objection (异议) by anyone signed in: once per user and notice,
    /// inside the window. The objector need not see the application; what
    /// they learn is what the notice shows.
    pub async fn object(&self, actor: &Actor, id: &str, input: &ObjectionInput) -> Result<ObjectionReceipt, Error> {
        if actor.role == Role::Admin {
            // Administrators manage staff and see no applications.
            return Err(Error::NotFound("public notice"));
        }
        let reason = required_reason(&Some(input.reason.clone()))?;
        let key = self.cx.audit_key.get().await?;
        // An application's policy never changes: read once, not per attempt.
        let mut policy: Option<crate::policy::Policy> = None;
        for _ in 0..OBJECTION_ATTEMPTS {
            let app = self.applications.get_application(id).await?.ok_or(Error::NotFound("public notice"))?;
            let policy = match &policy {
                Some(p) => p,
                None => policy.insert(self.cx.policy_by_id(&app.policy_id).await?),
            };
            let now = self.cx.now();
            let (next, audit, _) = step(key, &app, actor, Command::Object { reason: reason.clone() }, policy, now)?;
            match self.applications.update_application(&next, app.version, &audit, ClaimChange::Keep).await {
                Ok(()) => {
                    let seq = next.notice.as_ref().and_then(|n| n.objections.last()).map_or(0, |o| o.seq);
                    return Ok(ObjectionReceipt { application_id: next.id, seq, at: now });
                }
                // Someone else wrote first: read again and retry (a second
                // objection of this user is then refused by the machine).
                Err(StoreError::VersionConflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::internal("the application kept changing; try again"))
    }

    /// The caller's own objection to the application's notice, and the
    /// evidence they attached; 404 if they made none (whether or not the
    /// application exists).
    pub async fn mine(&self, actor: &Actor, id: &str) -> Result<MyObjection, Error> {
        let app = self.applications.get_application(id).await?.ok_or(Error::NotFound("objection"))?;
        // The latest notice this user objected to: the current one, or one
        // before an upheld objection sent the application back to 审核.
        let (notice, o, current) = app
            .notice
            .iter()
            .map(|n| (n, true))
            .chain(app.past_notices.iter().rev().map(|n| (n, false)))
            .find_map(|(n, current)| n.objections.iter().rev().find(|o| o.by == actor.user_id).map(|o| (n, o, current)))
            .ok_or(Error::NotFound("objection"))?;
        let documents = self
            .documents
            .documents_of(&app.id)
            .await?
            .iter()
            .filter(|d| {
                d.is_current()
                    && d.kind == crate::documents::DocumentKind::ObjectionEvidence
                    && d.uploaded_by == actor.user_id
                    && d.created_at >= notice.starts_at
                    && d.created_at < notice.ends_at
            })
            .map(crate::documents::views::DocumentView::of)
            .collect();
        Ok(MyObjection {
            application_id: app.id.clone(),
            seq: o.seq,
            reason: o.reason.to_string(),
            at: o.at,
            ends_at: notice.ends_at,
            ended: !current || app.notice_open(self.cx.now()).is_err(),
            resolution: o.resolution.as_ref().map(|r| r.outcome),
            resolution_reason: o.resolution.as_ref().map(|r| r.reason.to_string()),
            resolved_at: o.resolution.as_ref().map(|r| r.at),
            documents,
        })
    }

    /// A district reviewer resolves the objections waiting on an
    /// application of their jurisdiction: `dismiss` (the notice goes on,
    /// its window not restarted; payable at once if it has ended) or
    /// `return_to_review` (back to 审核).
    pub async fn resolve(
        &self,
        actor: &Actor,
        id: &str,
        input: &ResolveObjectionsInput,
    ) -> Result<ApplicationDetail, Error> {
        let outcome = match input.outcome.as_str() {
            "dismiss" => ObjectionOutcome::Dismissed,
            "return_to_review" => ObjectionOutcome::ReturnedToReview,
            _ => return Err(Error::invalid("outcome", "dismiss or return_to_review")),
        };
        let reason = required_reason(&Some(input.reason.clone()))?;
        self.apps
            .transition(actor, id, input.version, |_| async move { Ok(Command::ResolveObjections { outcome, reason }) })
            .await
    }

    /// The nightly close: every notice whose window has ended with no
    /// objection waiting becomes payable (`approved`). Run by the system.
    pub async fn close_due(&self) -> Result<NoticeCloseReport, Error> {
        let system = Actor::system();
        // Policies by id, read once per run, not once per application.
        let mut policies: std::collections::HashMap<String, crate::policy::Policy> = std::collections::HashMap::new();
        let key = self.cx.audit_key.get().await?;
        let now = self.cx.now();
        let mut report = NoticeCloseReport::default();
        let districts: Vec<String> =
            self.cx.tree.units().filter(|u| u.level == Level::District).map(|u| u.code.clone()).collect();
        for code in districts {
            let scope = Scope::Unit { level: Level::District, code };
            let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
            loop {
                let Page { items, next_cursor } = self.applications.inbox(&scope, State::InPublicNotice, &page).await?;
                for app in items {
                    let Some(notice) = &app.notice else { continue };
                    if now < notice.ends_at {
                        continue;
                    }
                    if notice.on_hold() {
                        report.held += 1;
                        continue;
                    }
                    if !policies.contains_key(&app.policy_id) {
                        policies.insert(app.policy_id.clone(), self.cx.policy_by_id(&app.policy_id).await?);
                    }
                    let policy = &policies[&app.policy_id];
                    let (next, audit, _) = step(key, &app, &system, Command::CloseNotice, policy, now)?;
                    match self.applications.update_application(&next, app.version, &audit, ClaimChange::Keep).await {
                        Ok(()) => report.closed += 1,
                        Err(StoreError::VersionConflict { .. }) => report.conflicts += 1,
                        Err(e) => return Err(e.into()),
                    }
                }
                match next_cursor {
                    Some(c) => page.cursor = Some(c),
                    None => break,
                }
            }
        }
        Ok(report)
    }
}
