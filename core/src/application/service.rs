//! A company's applications: create, edit, submit, withdraw, and every
//! read of an application (detail, lists, the timeline). The one path by
//! which an existing application changes, `Applications::transition`,
//! is here; review ([`super::review::Review`]) goes through it too.

use std::sync::Arc;

use crate::application::inputs::*;
use crate::application::state::step;
use crate::application::state::{self, Command, Ctx, State};
use crate::application::views::{ApplicationDetail, ApplicationView, Due};
use crate::application::{Application, EditApplicationInput, NewApplicationInput, ProjectSnapshot};
use crate::audit::Happened;
use crate::context::Context;
use crate::documents::views::DocumentView;
use crate::documents::{Document, DocumentKind, DocumentStatus};
use crate::error::{Error, StoreError};
use crate::fields::area;
use crate::fields::reason;
use crate::identity::authz::{self, Scope};
use crate::identity::{Actor, Role};
use crate::ports::*;

/// The application use cases of companies, and the reads every role shares.
#[derive(Clone)]
pub struct Applications {
    pub(crate) cx: Context,
    pub(crate) applications: Arc<dyn ApplicationStore>,
    pub(crate) projects: Arc<dyn ProjectStore>,
    pub(crate) companies: Arc<dyn CompanyStore>,
    pub(crate) documents: Arc<dyn DocumentStore>,
    pub(crate) prechecks: Arc<dyn PrecheckStore>,
    /// For the company's projects and profile.
    pub(crate) company: crate::company::service::Companies,
    /// A pending document is checked when the application is submitted.
    pub(crate) checks: crate::documents::service::Documents,
    /// The applicant's line on how long the current step usually takes.
    pub(crate) eta: crate::eta::Eta,
    /// Reviewers' openings in detail, which bulk approval's spot checks ask for.
    pub(crate) views: Arc<dyn crate::application::bulk::ViewLog>,
}

impl Applications {
    /// Creates a draft application for one of the caller's projects.
    pub async fn create_application(
        &self,
        actor: &Actor,
        input: &NewApplicationInput,
    ) -> Result<ApplicationDetail, Error> {
        let company = self.company.own_company(actor).await?;
        let project = self.company.own_project(actor, &input.project_id).await.map_err(|e| match e {
            Error::NotFound(_) => Error::invalid("projectId", "no such project of yours"),
            e => e,
        })?;
        let policy = self.cx.policy().await?;
        let now = self.cx.now();
        let claimed = match &input.claimed_area {
            Some(s) => area("claimedArea", s)?,
            None => project.details.managed_area,
        };
        state::check_claim_limit(claimed, &policy)?;
        let note = reason("note", &input.note)?;
        state::check_window(&Ctx { policy: &policy, now })?;
        // No claim yet: a draft holds none (see `transition`).
        let mut app =
            Application::draft(ulid::Ulid::new().to_string(), &policy, &company, &project, claimed, note, now);
        let happened =
            Happened { at: now, actor, action: "create", from: None, to: State::Draft.as_str(), comment: None };
        let audit = crate::audit::append(self.cx.audit_key.get().await?, &mut app, happened);
        app.version = 1;
        self.applications.create_application(&app, &audit).await?;
        self.detail(actor, app).await
    }

    pub async fn edit_application(
        &self,
        actor: &Actor,
        id: &str,
        input: &EditApplicationInput,
    ) -> Result<ApplicationDetail, Error> {
        self.transition(actor, id, input.version, |_| async move {
            let claimed_area = input.claimed_area.as_deref().map(|s| area("claimedArea", s)).transpose()?;
            Ok(Command::Edit { claimed_area, note: reason("note", &input.note)? })
        })
        .await
    }

    pub async fn submit(&self, actor: &Actor, id: &str, version: u64) -> Result<ApplicationDetail, Error> {
        self.transition(actor, id, version, |app: Application| async move {
            let project = self.projects.get_project(&app.project_id).await?.ok_or(Error::NotFound("project"))?;
            let mut verified_documents: Vec<DocumentKind> = Vec::new();
            for doc in self.documents.documents_of(&app.id).await?.into_iter().filter(Document::is_current) {
                let status = if doc.status == DocumentStatus::Pending {
                    // Check on first read: the arrival event may not have
                    // come yet (or ever); bytes not uploaded stay pending.
                    match self.checks.document_arrived(&doc.storage_key()).await {
                        Ok(Some(checked)) => checked.status,
                        Ok(None) | Err(Error::NotFound(_)) => DocumentStatus::Pending,
                        Err(e) => return Err(e),
                    }
                } else {
                    doc.status
                };
                if status == DocumentStatus::Verified {
                    verified_documents.push(doc.kind);
                }
            }
            // The account as it stands: at the first submission it is the
            // payee every tier reviews.
            let company = self.companies.get_company(&app.company_id).await?.ok_or(Error::NotFound("company"))?;
            Ok(Command::Submit {
                project: ProjectSnapshot::of(&project),
                jurisdiction: project.jurisdiction.clone(),
                verified_documents,
                payee: Some(company.profile.bank_account),
            })
        })
        .await
    }

    pub async fn withdraw(&self, actor: &Actor, id: &str, input: &ActionInput) -> Result<ApplicationDetail, Error> {
        self.transition(actor, id, input.version, |_| async move {
            Ok(Command::Withdraw { reason: reason("reason", &input.reason)? })
        })
        .await
    }

    /// 催办: the company urges the current step, past its time limit, at
    /// most once per working day.
    pub async fn urge(&self, actor: &Actor, id: &str, input: &UrgeInput) -> Result<ApplicationDetail, Error> {
        self.transition(actor, id, input.version, |_| async move { Ok(Command::Urge) }).await
    }

    /// The one path by which an existing application changes, checking in
    /// this order: scope (404), the request's own fields (422), the role
    /// (404), the caller's version (409), then the state machine; then the
    /// audit entry is appended and the write is conditional on the version.
    pub(crate) async fn transition<F, Fut>(
        &self,
        actor: &Actor,
        id: &str,
        expected_version: u64,
        command: F,
    ) -> Result<ApplicationDetail, Error>
    where
        F: FnOnce(Application) -> Fut,
        Fut: std::future::Future<Output = Result<Command, Error>>,
    {
        let app = self.visible_application(actor, id).await?;
        let cmd = command(app.clone()).await?;
        if !authz::may_issue(actor.role, cmd.issuer()) {
            return Err(Error::NotFound("application"));
        }
        if app.version != expected_version {
            return Err(Error::VersionConflict { current: app.version });
        }
        let policy = self.cx.policy_by_id(&app.policy_id).await?;
        let (next, audit, releases) = step(self.cx.audit_key.get().await?, &app, actor, cmd, &policy, self.cx.now())?;
        // The first submission takes the project's claim; a terminal state
        // frees it. The first to submit an estate holds it; a draft never
        // held it, so its withdrawal leaves the claim to whoever has it.
        let claim = match (app.state, releases) {
            // A draft holds no claim, unless it was created before claims
            // were taken at submission: then its withdrawal frees it.
            (State::Draft, true) => {
                let held = self.applications.claim_holder(&app.policy_id, app.claim()).await?;
                if held.as_deref() == Some(app.id.as_str()) { ClaimChange::Release } else { ClaimChange::Keep }
            }
            (_, true) => ClaimChange::Release,
            (State::Draft, false) if next.state != State::Draft => ClaimChange::Take,
            _ => ClaimChange::Keep,
        };
        match self.applications.update_application(&next, app.version, &audit, claim).await {
            Ok(()) => {}
            Err(StoreError::Claimed { application_id }) => {
                // The holder's id is said only to the company that owns it:
                // another company learns that the estate is taken, not by whom.
                let own =
                    self.applications.get_application(&application_id).await?.is_some_and(|h| h.owner == app.owner);
                return Err(Error::ProjectAlreadyClaimed { application_id: own.then_some(application_id) });
            }
            Err(e) => return Err(e.into()),
        }
        self.detail(actor, next).await
    }

    pub(crate) async fn visible_application(&self, actor: &Actor, id: &str) -> Result<Application, Error> {
        crate::identity::authz::visible(actor, self.applications.get_application(id).await?, &self.cx.tree)
    }

    pub(crate) async fn detail(&self, actor: &Actor, app: Application) -> Result<ApplicationDetail, Error> {
        let documents = self
            .documents
            .documents_of(&app.id)
            .await?
            .iter()
            .filter(|d| d.is_current())
            // An objector's evidence is for staff: it could name them.
            .filter(|d| d.kind.shown_to_company() || reviewing_staff(actor))
            .map(DocumentView::of)
            .collect();
        let prechecks = if reviewing_staff(actor) { self.prechecks.prechecks_of(&app.id).await? } else { Vec::new() };
        // For the applicant only: staff have their inboxes' due dates.
        let eta = if actor.role == Role::Company { self.eta.of(&app).await? } else { None };
        let policy = self.cx.policy().await?;
        let due = Due { policy: &policy, now: self.cx.now() };
        let mut application = ApplicationView::of(&app, &self.cx.tree, due);
        // Who objected is for the staff who resolve it, never the company.
        if let (Some(view), Some(notice)) = (application.notice.take(), &app.notice) {
            application.notice = Some(if reviewing_staff(actor) { view.with_objectors(notice) } else { view });
        }
        Ok(ApplicationDetail { application, documents, prechecks, eta })
    }

    pub async fn application(&self, actor: &Actor, id: &str) -> Result<ApplicationDetail, Error> {
        let app = self.visible_application(actor, id).await?;
        // A reviewer opening one that waits at their own tier: what a bulk
        // approval's spot check asks for (see `bulk`).
        if app.state.tier().is_some_and(|t| t.role() == actor.role) {
            self.views.record_view(&actor.user_id, &app.id, self.cx.now()).await?;
        }
        self.detail(actor, app).await
    }

    pub async fn applications(
        &self,
        actor: &Actor,
        filter: &ApplicationFilter,
        page: &PageRequest,
    ) -> Result<Page<ApplicationView>, Error> {
        if actor.role == Role::Admin {
            return Ok(Page { items: vec![], next_cursor: None });
        }
        let scope = Scope::of(actor, &self.cx.tree)?;
        let page = self.applications.list_applications(&scope, filter, page).await?;
        let policy = self.cx.policy().await?;
        let due = Due { policy: &policy, now: self.cx.now() };
        Ok(page.map(|a| ApplicationView::of(&a, &self.cx.tree, due)))
    }

    /// The audit timeline of one application: its own chain and its
    /// documents' chains (upload, check, delete), in time order.
    pub async fn timeline(
        &self,
        actor: &Actor,
        id: &str,
    ) -> Result<Vec<crate::application::views::TimelineEntry>, Error> {
        self.visible_application(actor, id).await?;
        let mut entries = self.applications.audit_trail(id).await?;
        for doc in self.documents.documents_of(id).await? {
            if doc.kind.shown_to_company() || reviewing_staff(actor) {
                entries.extend(self.applications.audit_trail(&doc.audit_subject()).await?);
            }
        }
        entries.sort_by_key(|e| e.at);
        // The objector's identity is kept on the trail, and not shown to
        // the company or the project manager.
        let hide = !reviewing_staff(actor);
        Ok(entries
            .into_iter()
            .map(|e| {
                let objection = e.action == "object";
                crate::application::views::TimelineEntry::of(e, hide && objection)
            })
            .collect())
    }
}

/// What the company sees in place of an objector's id.
pub const OBJECTOR: &str = "objector";

/// Staff of the reviewing tiers and the city: they see the pre-checks, who
/// objected to a public notice and the objectors' evidence; the company and
/// its project manager never see who objected.
fn reviewing_staff(actor: &Actor) -> bool {
    actor.role.tier().is_some() || actor.role == Role::City
}
