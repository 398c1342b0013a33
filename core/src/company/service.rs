//! A company's own profile and its projects. A bank account change is also
//! recorded on the company's live applications (see `put_company`); this
//! capability reads and writes applications only for that, and to lock a
//! project under review.

use std::sync::Arc;

use crate::application::Application;
use crate::application::state::step;
use crate::application::state::{Command, State};
use crate::audit::Happened;
use crate::company::views::{CompanyView, ProjectView};
use crate::company::{Company, CompanyInput, CompanyProfile, Project, ProjectInput};
use crate::context::Context;
use crate::error::{Error, StoreError};
use crate::identity::authz::Scope;
use crate::identity::authz::require_role;
use crate::identity::{Actor, Role};
use crate::ports::*;

/// The company profile and projects use cases.
#[derive(Clone)]
pub struct Companies {
    pub(crate) cx: Context,
    pub(crate) companies: Arc<dyn CompanyStore>,
    pub(crate) projects: Arc<dyn ProjectStore>,
    pub(crate) applications: Arc<dyn ApplicationStore>,
}

impl Companies {
    pub async fn company(&self, actor: &Actor) -> Result<CompanyView, Error> {
        require_role(actor, Role::Company)?;
        let c = self.companies.company_of_owner(&actor.user_id).await?.ok_or(Error::NotFound("company"))?;
        Ok(CompanyView::of(&c))
    }

    /// Registers the caller's company, or updates it (then `version` is
    /// required). Says whether it was created. Every change is appended to
    /// the company's audit chain. A bank account change after approval is
    /// also recorded on each approved application, where it blocks payment
    /// until a district reviewer verifies it; while a payment is with the
    /// bank, the account cannot change at all.
    pub async fn put_company(&self, actor: &Actor, input: &CompanyInput) -> Result<(CompanyView, bool), Error> {
        require_role(actor, Role::Company)?;
        let existing = self.companies.company_of_owner(&actor.user_id).await?;
        let profile = input.parse(existing.as_ref().map(|c| &c.profile))?;
        // A legal-person login names the company: no other code may be registered under it.
        if let Some(code) = &actor.credit_code
            && code != profile.credit_code.as_str()
        {
            return Err(Error::CreditCodeMismatch);
        }
        let now = self.cx.now();
        let account = |p: &CompanyProfile| {
            let b = &p.bank_account;
            format!("{} {} {}", b.bank_name, b.account_name, b.account_number.masked())
        };
        match existing {
            None => {
                let mut c = Company {
                    id: ulid::Ulid::new().to_string(),
                    owner: actor.user_id.clone(),
                    profile,
                    version: 1,
                    created_at: now,
                    updated_at: now,
                    audit_seq: 0,
                    audit_head: crate::audit::GENESIS.to_string(),
                };
                let comment = Some(account(&c.profile));
                let happened =
                    Happened { at: now, actor, action: "register_company", from: None, to: "registered", comment };
                let audit = crate::audit::append(self.cx.audit_key.get().await?, &mut c, happened);
                match self.companies.create_company(&c, &audit).await {
                    Ok(()) => Ok((CompanyView::of(&c), true)),
                    // Two first registrations raced: the other one won.
                    Err(StoreError::AlreadyExists) => Err(Error::VersionConflict { current: 1 }),
                    Err(e) => Err(e.into()),
                }
            }
            Some(existing) => {
                let expected =
                    input.version.ok_or_else(|| Error::invalid("version", "required when updating the profile"))?;
                if expected != existing.version {
                    return Err(Error::VersionConflict { current: existing.version });
                }
                let bank_changed = existing.profile.bank_account != profile.bank_account;
                if bank_changed {
                    self.record_payee_change(actor, &existing, &profile.bank_account).await?;
                }
                let (action, comment) = if bank_changed {
                    ("change_bank_account", Some(format!("{} → {}", account(&existing.profile), account(&profile))))
                } else {
                    ("update_profile", None)
                };
                let mut c = Company { profile, version: expected + 1, updated_at: now, ..existing };
                let happened = Happened { at: now, actor, action, from: Some("registered"), to: "registered", comment };
                let audit = crate::audit::append(self.cx.audit_key.get().await?, &mut c, happened);
                self.companies.update_company(&c, expected, &audit).await?;
                Ok((CompanyView::of(&c), false))
            }
        }
    }

    /// Records a bank account change on every submitted, live application
    /// of the company (in review, approved, or whose payment failed), on
    /// its trail, for the district to verify. Refused whole if a payment
    /// is with the bank. Each application changes through the state
    /// machine, conditionally on its version, so a batch claiming it at the
    /// same moment either sees the change (and skips it) or wins (and the
    /// change is refused as a payment in progress on retry).
    async fn record_payee_change(
        &self,
        actor: &Actor,
        company: &Company,
        account: &crate::fields::BankAccount,
    ) -> Result<(), Error> {
        let scope = Scope::Owner(company.owner.clone());
        let mut apps = Vec::new();
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        loop {
            let batch = self.applications.list_applications(&scope, &ApplicationFilter::default(), &page).await?;
            apps.extend(batch.items);
            match batch.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
        }
        if apps.iter().any(|a| a.state == State::InPaymentBatch) {
            return Err(Error::PaymentInProgress);
        }
        // Recorded one application at a time, each conditional on its
        // version. If one fails (a batch claimed it meanwhile), the ones
        // already recorded are taken back before the refusal is returned:
        // a refused change leaves no application blocked on it.
        let mut recorded: Vec<(Application, Option<crate::application::PayeeChange>)> = Vec::new();
        // Every submitted, live application: a change while in review is on
        // its trail too, and waits for the district's verification.
        for app in apps.into_iter().filter(|a| a.state.payee_may_change()) {
            let outcome = async {
                let policy = self.cx.policy_by_id(&app.policy_id).await?;
                let cmd = Command::RequestPayeeChange { account: account.clone() };
                let (next, audit, _) = step(self.cx.audit_key.get().await?, &app, actor, cmd, &policy, self.cx.now())?;
                self.applications.update_application(&next, app.version, &audit, ClaimChange::Keep).await?;
                Ok::<_, Error>(next)
            }
            .await;
            match outcome {
                Ok(next) => recorded.push((next, app.payee_change.clone())),
                Err(e) => {
                    self.undo_payee_changes(actor, recorded).await;
                    return Err(match e {
                        // The application moved under us: into a batch, most likely.
                        Error::VersionConflict { .. } => Error::PaymentInProgress,
                        other => other,
                    });
                }
            }
        }
        Ok(())
    }

    /// Takes back changes [`Self::record_payee_change`] recorded. One that
    /// cannot be taken back (the application moved again) stays visible to
    /// the district reviewer, who must verify it before any payment.
    async fn undo_payee_changes(
        &self,
        actor: &Actor,
        recorded: Vec<(Application, Option<crate::application::PayeeChange>)>,
    ) {
        for (app, previous) in recorded {
            let undone = async {
                let policy = self.cx.policy_by_id(&app.policy_id).await?;
                let (next, audit, _) = step(
                    self.cx.audit_key.get().await?,
                    &app,
                    actor,
                    Command::UndoPayeeChange { previous },
                    &policy,
                    self.cx.now(),
                )?;
                self.applications.update_application(&next, app.version, &audit, ClaimChange::Keep).await?;
                Ok::<_, Error>(())
            }
            .await;
            if let Err(e) = undone {
                tracing::error!(application_id = %app.id, error = %e, "a refused bank account change could not be taken back");
            }
        }
    }

    pub(crate) async fn own_company(&self, actor: &Actor) -> Result<Company, Error> {
        require_role(actor, Role::Company)?;
        self.companies.company_of_owner(&actor.user_id).await?.ok_or(Error::CompanyProfileRequired)
    }

    pub async fn create_project(&self, actor: &Actor, input: &ProjectInput) -> Result<ProjectView, Error> {
        let company = self.own_company(actor).await?;
        let policy = self.cx.policy().await?;
        let (details, jurisdiction) = input.parse(&self.cx.tree, policy.max_project_area, None)?;
        let now = self.cx.now();
        let p = Project {
            id: ulid::Ulid::new().to_string(),
            company_id: company.id,
            owner: actor.user_id.clone(),
            details,
            jurisdiction,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        self.projects.create_project(&p).await?;
        Ok(ProjectView::of(&p, &self.cx.tree))
    }

    pub(crate) async fn own_project(&self, actor: &Actor, id: &str) -> Result<Project, Error> {
        require_role(actor, Role::Company)?;
        match self.projects.get_project(id).await? {
            Some(p) if p.owner == actor.user_id => Ok(p),
            _ => Err(Error::NotFound("project")),
        }
    }

    pub async fn project(&self, actor: &Actor, id: &str) -> Result<ProjectView, Error> {
        Ok(ProjectView::of(&self.own_project(actor, id).await?, &self.cx.tree))
    }

    pub async fn projects(&self, actor: &Actor, page: &PageRequest) -> Result<Page<ProjectView>, Error> {
        require_role(actor, Role::Company)?;
        let page = self.projects.projects_of_owner(&actor.user_id, page).await?;
        Ok(page.map(|p| ProjectView::of(&p, &self.cx.tree)))
    }

    /// Edits a project. Refused while an application for it is under
    /// review: reviewers must see what the manager confirmed.
    pub async fn update_project(&self, actor: &Actor, id: &str, input: &ProjectInput) -> Result<ProjectView, Error> {
        let existing = self.own_project(actor, id).await?;
        let expected = input.version.ok_or_else(|| Error::invalid("version", "required when updating a project"))?;
        let policy = self.cx.policy().await?;
        let (details, jurisdiction) = input.parse(&self.cx.tree, policy.max_project_area, Some(&existing.details))?;
        if expected != existing.version {
            return Err(Error::VersionConflict { current: existing.version });
        }
        if let Some(holder) = self.applications.claim_holder(&self.cx.policy_id, &existing.claim_key()).await? {
            let app = self.applications.get_application(&holder).await?.filter(|a| a.project_id == id);
            // Under review: locked. A draft may change, but not into another
            // project: its claim is this project's name.
            let renamed = crate::company::claim_key(&details.community, details.name.as_str()) != existing.claim_key();
            if app.is_some_and(|a| renamed || !matches!(a.state, State::Draft | State::Returned)) {
                return Err(Error::ProjectLocked { application_id: holder });
            }
        }
        let p = Project { details, jurisdiction, version: expected + 1, updated_at: self.cx.now(), ..existing };
        self.projects.update_project(&p, expected).await?;
        Ok(ProjectView::of(&p, &self.cx.tree))
    }
}
