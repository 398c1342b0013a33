//! Use cases: what the routers and consumers call. Each one authorizes the
//! actor, parses input into domain types before anything is stored, and
//! writes through the ports. No HTTP, SQL or AWS here.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::application::dispatch::TierArrival;
use crate::application::precheck::{self, PrecheckReport};
use crate::application::state::{self, Command, Ctx, State};
use crate::application::{Application, EditApplicationInput, NewApplicationInput, ProjectSnapshot};
use crate::audit::{AuditEntry, ChainError, verify_chain};
use crate::company::{Company, CompanyInput, CompanyProfile, Project, ProjectInput};
use crate::documents::{self, ContentType, Document, DocumentKind, DocumentStatus, SNIFF_LEN};
use crate::error::{Error, StoreError};
use crate::fields::{area, text};
use crate::identity::authz::{self, Scope};
use crate::identity::{Actor, Role, Tier};
use crate::jurisdiction::JurisdictionTree;
use crate::policy::Policy;
use crate::ports::*;
use crate::views::*;

/// How long an upload or download URL stays valid.
pub const UPLOAD_TTL: Duration = Duration::from_secs(15 * 60);
pub const DOWNLOAD_TTL: Duration = Duration::from_secs(5 * 60);
/// At most this many documents per application.
pub const MAX_DOCUMENTS: usize = 20;

/// Every port the use cases need, and the deployment's active policy id.
#[derive(Clone)]
pub struct Services {
    pub policies: Arc<dyn PolicyStore>,
    pub companies: Arc<dyn CompanyStore>,
    pub projects: Arc<dyn ProjectStore>,
    pub applications: Arc<dyn ApplicationStore>,
    pub documents: Arc<dyn DocumentStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub prechecks: Arc<dyn PrecheckStore>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub stats: Arc<dyn crate::stats::StatsStore>,
    pub disbursement: Arc<dyn crate::payout::DisbursementStore>,
    /// Files the system writes: reports and batch files.
    pub exports: Arc<dyn BlobStore>,
    pub export_queue: Arc<dyn crate::payout::ExportQueue>,
    /// The key of the audit chains' MACs (never stored in the database).
    pub audit_key: crate::audit::AuditKey,
    /// Where the chains' heads are anchored daily, out of the database
    /// writer's reach (see [`crate::audit::anchor`]).
    pub anchors: Arc<dyn crate::audit::anchor::AnchorStore>,
    /// The staff directory: the only source of staff authority.
    pub staff: Arc<dyn crate::identity::staff::StaffStore>,
    /// Where a caller's authority is read on each request: `staff` itself,
    /// or a short-lived cache in front of it (AWS: at most 60 s old).
    pub staff_authority: Arc<dyn crate::identity::staff::StaffStore>,
    pub clock: Arc<dyn Clock>,
    pub tree: Arc<JurisdictionTree>,
    pub policy_id: String,
    /// How many lines a batch claims per step (see
    /// [`Services::create_batch`]): [`crate::payout::batches::BATCH_STEP`] on
    /// DynamoDB, [`crate::payout::batches::BATCH_STEP_SQLITE`] on SQLite, unless a
    /// test makes steps small.
    pub batch_step: Arc<std::sync::atomic::AtomicUsize>,
}

/// Applies a command through the state machine and chains the audit
/// entry: the next application and its entry, not yet stored, and whether
/// the project's claim is released.
pub(crate) fn step(
    key: &crate::audit::AuditKey,
    app: &Application,
    actor: &Actor,
    cmd: Command,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<(Application, AuditEntry, bool), Error> {
    let action = match &cmd {
        Command::Submit { .. } if app.round > 0 => "resubmit",
        other => other.action(),
    };
    let t = state::apply(app, actor, cmd, &Ctx { policy, now })?;
    let releases = t.releases_claim();
    let mut next = t.next;
    let audit = AuditEntry::next(
        key,
        &app.id,
        app.audit_seq + 1,
        &app.audit_head,
        now,
        actor,
        action,
        Some(t.from.as_str()),
        next.state.as_str(),
        t.comment,
    );
    next.audit_seq = audit.seq;
    next.audit_head = audit.hash.clone();
    Ok((next, audit, releases))
}

/// The next entry of a document's own chain, and the document with its head.
fn document_step(
    key: &crate::audit::AuditKey,
    mut doc: Document,
    actor: &Actor,
    action: &str,
    from: Option<&str>,
    comment: Option<String>,
    now: DateTime<Utc>,
) -> (Document, AuditEntry) {
    let prev = if doc.audit_head.is_empty() { crate::audit::GENESIS.to_string() } else { doc.audit_head.clone() };
    let audit = AuditEntry::next(
        key,
        &doc.audit_subject(),
        doc.audit_seq + 1,
        &prev,
        now,
        actor,
        action,
        from,
        doc.status.as_str(),
        comment,
    );
    doc.audit_seq = audit.seq;
    doc.audit_head = audit.hash.clone();
    (doc, audit)
}

pub(crate) fn require_role(actor: &Actor, role: Role) -> Result<(), Error> {
    if actor.role == role { Ok(()) } else { Err(Error::NotFound("resource")) }
}

/// Raw body of an action on an application: the version the caller saw,
/// and the reason where the action takes one.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionInput {
    pub version: u64,
    #[serde(default)]
    pub reason: Option<String>,
}

/// Raw body of `verify-bank-account`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyPayeeInput {
    pub version: u64,
    /// Needed when the account's holder is not the company by name.
    #[serde(default)]
    pub confirm_holder_name: Option<bool>,
}

/// The full account a district reviewer verifies, as `reveal-bank-account`
/// answers it: the account on file, and the change to verify, unmasked.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PayeeRevealView {
    pub application_id: String,
    /// The application's version after the reveal (send it to verify).
    pub version: u64,
    pub company_name: String,
    pub credit_code: String,
    pub payee: Option<RevealedAccount>,
    pub change: Option<RevealedAccount>,
    /// Whether the account to verify is held by the company, by name; if
    /// not, verifying needs `confirmHolderName: true`.
    pub holder_name_matches: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RevealedAccount {
    pub bank_name: String,
    pub account_name: String,
    pub account_number: String,
}

impl RevealedAccount {
    fn of(a: &crate::fields::BankAccount) -> RevealedAccount {
        RevealedAccount {
            bank_name: a.bank_name.to_string(),
            account_name: a.account_name.to_string(),
            account_number: a.account_number.as_str().to_string(),
        }
    }
}

impl PayeeRevealView {
    pub fn of(app: &Application) -> PayeeRevealView {
        PayeeRevealView {
            application_id: app.id.clone(),
            version: app.version,
            company_name: app.company_name.clone(),
            credit_code: app.credit_code.clone(),
            payee: app.payee.as_ref().map(RevealedAccount::of),
            change: app.payee_change.as_ref().map(|c| RevealedAccount::of(&c.account)),
            holder_name_matches: app.account_to_verify().is_none_or(|a| app.holder_is_company(a)),
        }
    }
}

/// Raw body of an approval.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApproveInput {
    pub version: u64,
    #[serde(default)]
    pub approved_area: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// Raw body of an upload request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UploadInput {
    pub kind: String,
    pub file_name: String,
    pub content_type: String,
    pub size: u64,
}

/// The outcome of verifying every audit chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditReport {
    pub applications: u64,
    /// Entries of the applications' chains.
    pub entries: u64,
    pub companies: u64,
    pub batches: u64,
    /// Staff directory members.
    pub staff: u64,
    /// Documents (each with its own chain).
    pub documents: u64,
    /// Entries of the documents', companies', batches' and staff members' chains.
    pub other_entries: u64,
    /// Anchors read (see [`crate::audit::anchor`]).
    pub anchors: u64,
    /// The last anchor's cutoff: every entry stamped at or before it is
    /// held by an anchor. None before the first anchor.
    pub anchored_until: Option<DateTime<Utc>>,
    pub failures: Vec<ChainError>,
}

/// What one run of the anchor job did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Anchored {
    /// The anchor's number; None if none was due (the last one is newer
    /// than the margin).
    pub anchor: Option<u64>,
    /// How many chain heads it holds.
    pub heads: usize,
    pub cutoff: Option<DateTime<Utc>>,
    pub digest: Option<String>,
}

fn reason(field: &str, r: &Option<String>) -> Result<Option<crate::fields::Text>, Error> {
    r.as_deref().map(|s| text(field, s, 500)).transpose()
}

fn required_reason(r: &Option<String>) -> Result<crate::fields::Text, Error> {
    reason("reason", r)?.ok_or_else(|| Error::invalid("reason", "a reason is required"))
}

impl Services {
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The staff directory's use cases (who is calling, administration).
    pub fn directory(&self) -> crate::identity::staff::StaffDirectory {
        crate::identity::staff::StaffDirectory {
            key: self.audit_key.clone(),
            store: self.staff.clone(),
            authority: self.staff_authority.clone(),
            tree: self.tree.clone(),
            clock: self.clock.clone(),
        }
    }

    /// The active policy.
    pub async fn policy(&self) -> Result<Policy, Error> {
        self.policy_by_id(&self.policy_id).await
    }

    /// A stored policy, its grace periods named (one stored before they
    /// existed gets their defaults).
    pub(crate) async fn policy_by_id(&self, id: &str) -> Result<Policy, Error> {
        let p =
            self.policies.get_policy(id).await?.ok_or_else(|| Error::internal(format!("policy {id} is not loaded")))?;
        Ok(p.with_defaults())
    }

    // ---- identity and reference data ----

    pub async fn me(&self, actor: &Actor) -> Result<MeView, Error> {
        let company = match actor.role {
            Role::Company => self.companies.company_of_owner(&actor.user_id).await?.map(|c| CompanyView::of(&c)),
            _ => None,
        };
        let unit = actor.unit.as_deref().and_then(|c| self.tree.get(c)).map(|u| UnitSummary {
            code: u.code.clone(),
            name: u.name.clone(),
            level: u.level,
        });
        let assignments = self.directory().own(actor).await?.map(|m| m.assignments).unwrap_or_default();
        Ok(MeView {
            user_id: actor.user_id.clone(),
            role: actor.role,
            name: actor.name.clone(),
            unit,
            phone: actor.phone.as_ref().map(|p| p.masked()),
            company,
            assignments,
        })
    }

    /// Any signed-in user may browse the tree: companies pick communities
    /// from it, and the codes are public statistical data.
    pub fn unit(&self, code: &str) -> Result<UnitView, Error> {
        let u = self.tree.get(code).ok_or(Error::NotFound("jurisdiction"))?;
        Ok(UnitView::of(u, &self.tree))
    }

    // ---- company profile ----

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
        let now = self.now();
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
                let audit = AuditEntry::next(
                    &self.audit_key,
                    &c.audit_subject(),
                    1,
                    &c.audit_head,
                    now,
                    actor,
                    "register_company",
                    None,
                    "registered",
                    Some(account(&c.profile)),
                );
                c.audit_seq = 1;
                c.audit_head = audit.hash.clone();
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
                let audit = AuditEntry::next(
                    &self.audit_key,
                    &existing.audit_subject(),
                    existing.audit_seq + 1,
                    &existing.audit_head,
                    now,
                    actor,
                    action,
                    Some("registered"),
                    "registered",
                    comment,
                );
                let c = Company {
                    profile,
                    version: expected + 1,
                    updated_at: now,
                    audit_seq: audit.seq,
                    audit_head: audit.hash.clone(),
                    ..existing
                };
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
                let policy = self.policy_by_id(&app.policy_id).await?;
                let cmd = Command::RequestPayeeChange { account: account.clone() };
                let (next, audit, _) = step(&self.audit_key, &app, actor, cmd, &policy, self.now())?;
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
                let policy = self.policy_by_id(&app.policy_id).await?;
                let (next, audit, _) =
                    step(&self.audit_key, &app, actor, Command::UndoPayeeChange { previous }, &policy, self.now())?;
                self.applications.update_application(&next, app.version, &audit, ClaimChange::Keep).await?;
                Ok::<_, Error>(())
            }
            .await;
            if let Err(e) = undone {
                tracing::error!(application_id = %app.id, error = %e, "a refused bank account change could not be taken back");
            }
        }
    }

    async fn own_company(&self, actor: &Actor) -> Result<Company, Error> {
        require_role(actor, Role::Company)?;
        self.companies.company_of_owner(&actor.user_id).await?.ok_or(Error::CompanyProfileRequired)
    }

    // ---- projects ----

    pub async fn create_project(&self, actor: &Actor, input: &ProjectInput) -> Result<ProjectView, Error> {
        let company = self.own_company(actor).await?;
        let policy = self.policy().await?;
        let (details, jurisdiction) = input.parse(&self.tree, policy.max_project_area, None)?;
        let now = self.now();
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
        Ok(ProjectView::of(&p, &self.tree))
    }

    async fn own_project(&self, actor: &Actor, id: &str) -> Result<Project, Error> {
        require_role(actor, Role::Company)?;
        match self.projects.get_project(id).await? {
            Some(p) if p.owner == actor.user_id => Ok(p),
            _ => Err(Error::NotFound("project")),
        }
    }

    pub async fn project(&self, actor: &Actor, id: &str) -> Result<ProjectView, Error> {
        Ok(ProjectView::of(&self.own_project(actor, id).await?, &self.tree))
    }

    pub async fn projects(&self, actor: &Actor, page: &PageRequest) -> Result<Page<ProjectView>, Error> {
        require_role(actor, Role::Company)?;
        let page = self.projects.projects_of_owner(&actor.user_id, page).await?;
        Ok(page.map(|p| ProjectView::of(&p, &self.tree)))
    }

    /// Edits a project. Refused while an application for it is under
    /// review: reviewers must see what the manager confirmed.
    pub async fn update_project(&self, actor: &Actor, id: &str, input: &ProjectInput) -> Result<ProjectView, Error> {
        let existing = self.own_project(actor, id).await?;
        let expected = input.version.ok_or_else(|| Error::invalid("version", "required when updating a project"))?;
        let policy = self.policy().await?;
        let (details, jurisdiction) = input.parse(&self.tree, policy.max_project_area, Some(&existing.details))?;
        if expected != existing.version {
            return Err(Error::VersionConflict { current: existing.version });
        }
        if let Some(holder) = self.applications.claim_holder(&self.policy_id, &existing.claim_key()).await? {
            let app = self.applications.get_application(&holder).await?.filter(|a| a.project_id == id);
            // Under review: locked. A draft may change, but not into another
            // project: its claim is this project's name.
            let renamed = crate::company::claim_key(&details.community, details.name.as_str()) != existing.claim_key();
            if app.is_some_and(|a| renamed || !matches!(a.state, State::Draft | State::Returned)) {
                return Err(Error::ProjectLocked { application_id: holder });
            }
        }
        let p = Project { details, jurisdiction, version: expected + 1, updated_at: self.now(), ..existing };
        self.projects.update_project(&p, expected).await?;
        Ok(ProjectView::of(&p, &self.tree))
    }

    // ---- applications: commands ----

    /// Creates a draft application for one of the caller's projects.
    pub async fn create_application(
        &self,
        actor: &Actor,
        input: &NewApplicationInput,
    ) -> Result<ApplicationDetail, Error> {
        let company = self.own_company(actor).await?;
        let project = self.own_project(actor, &input.project_id).await.map_err(|e| match e {
            Error::NotFound(_) => Error::invalid("projectId", "no such project of yours"),
            e => e,
        })?;
        let policy = self.policy().await?;
        let now = self.now();
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
        let audit = AuditEntry::next(
            &self.audit_key,
            &app.id,
            1,
            &app.audit_head,
            now,
            actor,
            "create",
            None,
            State::Draft.as_str(),
            None,
        );
        app.version = 1;
        app.audit_seq = 1;
        app.audit_head = audit.hash.clone();
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
                    match self.document_arrived(&doc.storage_key()).await {
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

    pub async fn confirm_area(&self, actor: &Actor, id: &str, version: u64) -> Result<ApplicationDetail, Error> {
        self.transition(actor, id, version, |_| async { Ok(Command::ConfirmArea) }).await
    }

    pub async fn dispute_area(&self, actor: &Actor, id: &str, input: &ActionInput) -> Result<ApplicationDetail, Error> {
        self.transition(actor, id, input.version, |_| async move {
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
        self.transition(actor, id, input.version, |app: Application| async move {
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

    pub async fn return_for_correction(
        &self,
        actor: &Actor,
        tier: Tier,
        id: &str,
        input: &ActionInput,
    ) -> Result<ApplicationDetail, Error> {
        self.transition(actor, id, input.version, |_| async move {
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
        self.transition(actor, id, input.version, |_| async move { Ok(Command::VerifyPayee { confirm_holder_name }) })
            .await
    }

    /// The district reviewer's purpose-bound view of the account to verify,
    /// in full: the one place outside the treasury file where the number is
    /// shown. Opening it is an entry on the application's trail, and what a
    /// verification needs first.
    pub async fn reveal_payee(&self, actor: &Actor, id: &str, version: u64) -> Result<PayeeRevealView, Error> {
        self.transition(actor, id, version, |_| async { Ok(Command::RevealPayee) }).await?;
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
        self.transition(actor, id, input.version, |_| async move {
            Ok(Command::Reject { tier, reason: required_reason(&input.reason)? })
        })
        .await
    }

    /// The one path by which an existing application changes, checking in
    /// this order: scope (404), the request's own fields (422), the role
    /// (404), the caller's version (409), then the state machine; then the
    /// audit entry is appended and the write is conditional on the version.
    async fn transition<F, Fut>(
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
        if !cmd.role_may(actor.role) {
            return Err(Error::NotFound("application"));
        }
        if app.version != expected_version {
            return Err(Error::VersionConflict { current: app.version });
        }
        let policy = self.policy_by_id(&app.policy_id).await?;
        let (next, audit, releases) = step(&self.audit_key, &app, actor, cmd, &policy, self.now())?;
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

    async fn visible_application(&self, actor: &Actor, id: &str) -> Result<Application, Error> {
        let app = self.applications.get_application(id).await?.ok_or(Error::NotFound("application"))?;
        authz::require_visible(actor, &app, &self.tree)?;
        Ok(app)
    }

    // ---- applications: queries ----

    async fn detail(&self, actor: &Actor, app: Application) -> Result<ApplicationDetail, Error> {
        let documents = self
            .documents
            .documents_of(&app.id)
            .await?
            .iter()
            .filter(|d| d.is_current())
            .map(DocumentView::of)
            .collect();
        let prechecks = if actor.role.tier().is_some() || actor.role == Role::City {
            self.prechecks.prechecks_of(&app.id).await?
        } else {
            Vec::new()
        };
        Ok(ApplicationDetail { application: ApplicationView::of(&app, &self.tree), documents, prechecks })
    }

    pub async fn application(&self, actor: &Actor, id: &str) -> Result<ApplicationDetail, Error> {
        let app = self.visible_application(actor, id).await?;
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
        let scope = Scope::of(actor, &self.tree)?;
        let page = self.applications.list_applications(&scope, filter, page).await?;
        Ok(page.map(|a| ApplicationView::of(&a, &self.tree)))
    }

    /// A reviewer's inbox at their own tier, oldest first.
    pub async fn review_inbox(
        &self,
        actor: &Actor,
        tier: Tier,
        page: &PageRequest,
    ) -> Result<Page<ApplicationView>, Error> {
        if actor.tier() != Some(tier) {
            return Err(Error::NotFound("inbox"));
        }
        self.inbox(actor, State::pending_at(tier), page).await
    }

    /// A project manager's pending area confirmations, oldest first.
    pub async fn manager_inbox(&self, actor: &Actor, page: &PageRequest) -> Result<Page<ApplicationView>, Error> {
        require_role(actor, Role::ProjectManager)?;
        self.inbox(actor, State::AwaitingAreaConfirmation, page).await
    }

    async fn inbox(&self, actor: &Actor, state: State, page: &PageRequest) -> Result<Page<ApplicationView>, Error> {
        let scope = Scope::of(actor, &self.tree)?;
        let page = self.applications.inbox(&scope, state, page).await?;
        Ok(page.map(|a| ApplicationView::of(&a, &self.tree)))
    }

    /// The audit timeline of one application: its own chain and its
    /// documents' chains (upload, check, delete), in time order.
    pub async fn timeline(&self, actor: &Actor, id: &str) -> Result<Vec<AuditEntry>, Error> {
        self.visible_application(actor, id).await?;
        let mut entries = self.applications.audit_trail(id).await?;
        for doc in self.documents.documents_of(id).await? {
            entries.extend(self.applications.audit_trail(&doc.audit_subject()).await?);
        }
        entries.sort_by_key(|e| e.at);
        Ok(entries)
    }

    // ---- documents ----

    /// Registers a document and returns where to upload its bytes.
    pub async fn request_upload(
        &self,
        actor: &Actor,
        application_id: &str,
        input: &UploadInput,
    ) -> Result<UploadTicket, Error> {
        require_role(actor, Role::Company)?;
        let app = self.visible_application(actor, application_id).await?;
        let policy = self.policy_by_id(&app.policy_id).await?;
        let kind: DocumentKind = serde_json::from_value(serde_json::Value::String(input.kind.clone()))
            .map_err(|_| Error::invalid("kind", "must be service_contract, area_proof or other"))?;
        let file_name = crate::documents::file_name(&input.file_name)?;
        let content_type = ContentType::parse(&input.content_type).ok_or(Error::UnsupportedDocumentType)?;
        if input.size == 0 {
            return Err(Error::invalid("size", "an empty file cannot be a document"));
        }
        if input.size > policy.max_document_bytes {
            return Err(Error::DocumentTooLarge { max: policy.max_document_bytes });
        }
        if !matches!(app.state, State::Draft | State::Returned) {
            return Err(Error::WrongState { state: app.state.as_str(), action: "add documents to" });
        }
        let existing = self.documents.documents_of(&app.id).await?;
        if existing.iter().filter(|d| d.is_current()).count() >= MAX_DOCUMENTS {
            return Err(Error::invalid("documents", format!("at most {MAX_DOCUMENTS} documents per application")));
        }
        let doc = Document {
            id: ulid::Ulid::new().to_string(),
            application_id: app.id.clone(),
            kind,
            file_name,
            content_type,
            size: input.size,
            status: DocumentStatus::Pending,
            refusal: None,
            uploaded_by: actor.user_id.clone(),
            created_at: self.now(),
            checked_version: None,
            audit_seq: 0,
            audit_head: crate::audit::GENESIS.to_string(),
        };
        let comment = format!("{} {} ({} 字节)", doc.kind.as_str(), doc.file_name, doc.size);
        let (doc, audit) =
            document_step(&self.audit_key, doc, actor, "upload_document", None, Some(comment), self.now());
        self.documents.create_document(&doc, &audit).await?;
        let upload = self.blobs.presign_put(&doc.storage_key(), content_type, doc.size, UPLOAD_TTL).await?;
        Ok(UploadTicket { document: DocumentView::of(&doc), upload })
    }

    /// Verifies bytes that arrived at `key`: the size must be the declared
    /// size and the magic bytes the declared type. Otherwise the bytes are
    /// deleted and the document marked refused, with the reason. Idempotent;
    /// an S3 event (AWS) or the local upload endpoint (standalone) calls it.
    pub async fn document_arrived(&self, key: &str) -> Result<Option<Document>, Error> {
        let Some((app_id, doc_id)) = documents::parse_storage_key(key) else {
            return Ok(None);
        };
        let Some(mut doc) = self.documents.get_document(app_id, doc_id).await? else {
            // Bytes without metadata: nobody asked for this upload.
            self.blobs.delete(key).await?;
            return Ok(None);
        };
        if doc.status != DocumentStatus::Pending {
            return Ok(Some(doc));
        }
        let head = self.blobs.head(key, SNIFF_LEN).await?.ok_or(Error::NotFound("document content"))?;
        let refusal = if head.size != doc.size {
            Some(format!("文件大小 {} 字节与申报的 {} 字节不符", head.size, doc.size))
        } else {
            match ContentType::sniff(&head.head) {
                Some(t) if t == doc.content_type => None,
                Some(t) => Some(format!("文件内容是 {}，与申报的 {} 不符", t.as_str(), doc.content_type.as_str())),
                None => Some("文件内容不是 PDF、JPEG 或 PNG".to_string()),
            }
        };
        let status = if refusal.is_some() { DocumentStatus::Refused } else { DocumentStatus::Verified };
        if refusal.is_some() {
            self.blobs.delete(key).await?;
        } else {
            // The bytes just checked are the only ones ever served: a write
            // under the key afterwards changes nothing a reviewer opens.
            doc.checked_version = Some(self.blobs.pin(key).await?.ok_or(Error::NotFound("document content"))?);
        }
        let from = doc.status.as_str();
        let expected = doc.audit_seq;
        doc.status = status;
        doc.refusal = refusal.clone();
        let comment = refusal.or_else(|| doc.checked_version.as_ref().map(|v| format!("内容已核验 {v}")));
        let (doc, audit) =
            document_step(&self.audit_key, doc, &Actor::system(), "check_document", Some(from), comment, self.now());
        match self.documents.update_document(&doc, expected, &audit).await {
            Ok(()) => Ok(Some(doc)),
            // Checked by another delivery meanwhile: its outcome stands.
            Err(StoreError::VersionConflict { .. }) => Ok(self.documents.get_document(app_id, doc_id).await?),
            Err(e) => Err(e.into()),
        }
    }

    /// A short-lived download URL, for the owning company and for staff who
    /// review in this jurisdiction.
    pub async fn document_download(
        &self,
        actor: &Actor,
        application_id: &str,
        document_id: &str,
    ) -> Result<PresignedRequest, Error> {
        if matches!(actor.role, Role::ProjectManager | Role::Finance) {
            return Err(Error::NotFound("document"));
        }
        self.visible_application(actor, application_id).await?;
        let doc = self.documents.get_document(application_id, document_id).await?.ok_or(Error::NotFound("document"))?;
        if doc.status != DocumentStatus::Verified {
            return Err(Error::NotFound("document"));
        }
        // Exactly the bytes the check read (a document checked before
        // versions were kept is served as it is stored).
        Ok(self.blobs.presign_get(&doc.storage_key(), doc.checked_version.as_deref(), DOWNLOAD_TTL).await?)
    }

    pub async fn delete_document(&self, actor: &Actor, application_id: &str, document_id: &str) -> Result<(), Error> {
        require_role(actor, Role::Company)?;
        let app = self.visible_application(actor, application_id).await?;
        let doc = self
            .documents
            .get_document(application_id, document_id)
            .await?
            .filter(Document::is_current)
            .ok_or(Error::NotFound("document"))?;
        if !matches!(app.state, State::Draft | State::Returned) {
            return Err(Error::WrongState { state: app.state.as_str(), action: "remove documents from" });
        }
        // Removed from the application, not from the record: the document,
        // its trail and its checked bytes stay for the audit.
        let (from, expected) = (doc.status.as_str(), doc.audit_seq);
        let comment = format!("{} {}", doc.kind.as_str(), doc.file_name);
        let gone = Document { status: DocumentStatus::Deleted, ..doc };
        let (gone, audit) =
            document_step(&self.audit_key, gone, actor, "delete_document", Some(from), Some(comment), self.now());
        self.documents.update_document(&gone, expected, &audit).await?;
        Ok(())
    }

    // ---- consumers ----

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
            checked_at: self.now(),
            checks: precheck::run(&app, project.as_ref(), &same_name),
        };
        self.prechecks.put_prechecks(&report).await?;
        Ok(Some(report))
    }

    // ---- live totals (汇总) ----

    /// A staff member's view of a unit inside their jurisdiction, with its
    /// children. Reads only pre-aggregated counters: the same cost at a
    /// thousand applications as at a million.
    pub async fn stats(&self, actor: &Actor, code: &str) -> Result<StatsView, Error> {
        if matches!(actor.role, Role::Company | Role::ProjectManager | Role::Admin)
            || !authz::can_see_unit(actor, code, &self.tree)
        {
            return Err(Error::NotFound("jurisdiction"));
        }
        let unit = self.tree.get(code).ok_or(Error::NotFound("jurisdiction"))?;
        let children: Vec<&crate::jurisdiction::Unit> = self.tree.children(code).collect();
        let keys: Vec<crate::stats::UnitKey> = std::iter::once(unit)
            .chain(children.iter().copied())
            .map(|u| crate::stats::UnitKey::new(&self.policy_id, &u.code))
            .collect();
        let stored = self.stats.unit_totals(&keys).await?;
        let view = |u: &crate::jurisdiction::Unit| {
            let t = stored.get(&crate::stats::UnitKey::new(&self.policy_id, &u.code)).cloned().unwrap_or_default();
            UnitStats {
                unit: UnitSummary { code: u.code.clone(), name: u.name.clone(), level: u.level },
                as_of: t.updated_at,
                totals: TotalsView::of(&t.totals),
                raw: t.totals,
            }
        };
        Ok(StatsView {
            policy_id: self.policy_id.clone(),
            unit: view(unit),
            children: children.into_iter().map(view).collect(),
        })
    }

    /// The aggregation consumer: counts a batch of committed changes.
    pub async fn aggregate(
        &self,
        changes: &[crate::application::dispatch::ChangeRecord],
    ) -> Result<crate::stats::AppliedBatch, Error> {
        let images: Vec<Application> = changes.iter().map(|c| c.new.clone()).collect();
        Ok(crate::stats::apply_images(self.stats.as_ref(), &images, self.now()).await?)
    }

    /// Recounts the active policy from scratch, reports drift, repairs.
    pub async fn reconcile(&self) -> Result<crate::stats::ReconcileReport, Error> {
        Ok(crate::stats::reconcile(self.applications.as_ref(), self.stats.as_ref(), &self.policy_id, self.now())
            .await?)
    }

    // ---- whole-store jobs ----

    /// Verifies every audit chain: each application's, each company's and
    /// each payment batch's, against the head its record holds. `progress`
    /// is called after each page with the number of records checked so far.
    pub async fn verify_audit(&self, mut progress: impl FnMut(u64)) -> Result<AuditReport, Error> {
        let mut report = AuditReport::default();
        let (mut anchored, failures) =
            crate::audit::anchor::AnchoredHeads::gather(&self.audit_key, &self.anchors.all().await?);
        report.anchors = anchored.anchors;
        report.anchored_until = anchored.cutoff;
        report.failures = failures;
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        loop {
            let batch = self.applications.scan_applications(&page).await?;
            for app in &batch.items {
                let trail = self.applications.audit_trail(&app.id).await?;
                report.entries += trail.len() as u64;
                report.applications += 1;
                if let Err(e) = verify_chain(&self.audit_key, &app.id, &trail, app.audit_seq, &app.audit_head)
                    .and_then(|()| anchored.check(&app.id, &trail))
                {
                    report.failures.push(e);
                }
                // Its documents' chains (none for a document from before
                // documents were audited).
                for doc in self.documents.documents_of(&app.id).await?.iter().filter(|d| d.audit_seq > 0) {
                    report.documents += 1;
                    self.verify_one(&mut report, &mut anchored, &doc.audit_subject(), doc.audit_seq, &doc.audit_head)
                        .await?;
                }
            }
            progress(report.applications);
            match batch.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
        }
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        loop {
            let found = self.companies.scan_companies(&page).await?;
            for c in &found.items {
                report.companies += 1;
                self.verify_one(&mut report, &mut anchored, &c.audit_subject(), c.audit_seq, &c.audit_head).await?;
            }
            progress(report.applications + report.companies);
            match found.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
        }
        let districts: Vec<String> = self.tree.children(&self.tree.root().code).map(|u| u.code.clone()).collect();
        for district in districts {
            let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
            loop {
                let found = self.disbursement.batches_of(&self.policy_id, &district, &page).await?;
                for b in &found.items {
                    report.batches += 1;
                    self.verify_one(&mut report, &mut anchored, &format!("batch:{}", b.id), b.audit_seq, &b.audit_head)
                        .await?;
                }
                match found.next_cursor {
                    Some(c) => page.cursor = Some(c),
                    None => break,
                }
            }
        }
        let directory = self.directory();
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        loop {
            let found = directory.scan(&page).await?;
            for m in &found.items {
                report.staff += 1;
                self.verify_one(&mut report, &mut anchored, &m.audit_subject(), m.audit_seq, &m.audit_head).await?;
            }
            match found.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
        }
        progress(report.applications + report.companies + report.batches + report.staff);
        report.failures.extend(anchored.vanished());
        Ok(report)
    }

    async fn verify_one(
        &self,
        report: &mut AuditReport,
        anchored: &mut crate::audit::anchor::AnchoredHeads,
        subject: &str,
        seq: u64,
        head: &str,
    ) -> Result<(), Error> {
        let trail = self.applications.audit_trail(subject).await?;
        report.other_entries += trail.len() as u64;
        if let Err(e) =
            verify_chain(&self.audit_key, subject, &trail, seq, head).and_then(|()| anchored.check(subject, &trail))
        {
            report.failures.push(e);
        }
        Ok(())
    }

    /// The daily anchor: the head of every chain that grew since the last
    /// anchor, appended where the database's writer cannot change it (see
    /// [`crate::audit::anchor`]). Nothing is written if the last anchor is less
    /// than [`crate::audit::anchor::MARGIN`] old (a second run straight after).
    pub async fn anchor_audit(&self) -> Result<Anchored, Error> {
        let last = self.anchors.last().await?;
        let now = self.now();
        if last.as_ref().is_some_and(|l| now < l.written_at + crate::audit::anchor::MARGIN) {
            return Ok(Anchored { anchor: None, heads: 0, cutoff: last.map(|l| l.cutoff), digest: None });
        }
        // A little before the last cutoff: two functions' clocks may differ
        // by a little, so a chain's stamps may step back by that much.
        let since = last.as_ref().map(|l| l.cutoff - crate::audit::anchor::CLOCK_SLACK);
        let heads = self.applications.audit_heads_since(since).await?;
        let anchor = crate::audit::anchor::Anchor::next(&self.audit_key, last.as_ref(), now, heads);
        // Another run that came first makes this one fail (`AlreadyExists`):
        // nothing is replaced, and the next run goes on from its anchor.
        self.anchors.append(&anchor).await?;
        Ok(Anchored {
            anchor: Some(anchor.n),
            heads: anchor.heads.len(),
            cutoff: Some(anchor.cutoff),
            digest: Some(anchor.digest),
        })
    }
}
