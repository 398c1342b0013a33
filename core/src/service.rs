//! Use cases: what the routers and consumers call. Each one authorizes the
//! actor, parses input into domain types before anything is stored, and
//! writes through the ports. No HTTP, SQL or AWS here.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::application::Application;
use crate::application::state::{self, Command, Ctx};
use crate::audit::Happened;
use crate::audit::{AuditEntry, ChainError};
use crate::context::Context;
use crate::documents::Document;
use crate::error::Error;
use crate::fields::text;
use crate::identity::{Actor, Role};
use crate::jurisdiction::JurisdictionTree;
use crate::policy::Policy;
use crate::ports::*;

/// How long an upload or download URL stays valid.
pub const UPLOAD_TTL: Duration = Duration::from_secs(15 * 60);
pub const DOWNLOAD_TTL: Duration = Duration::from_secs(5 * 60);
/// At most this many documents per application.
pub const MAX_DOCUMENTS: usize = 20;

/// Every port a deployment provides, and its active policy id: what the
/// adapters hand over ([`Services::new`] builds the use cases from it).
#[derive(Clone)]
pub struct Ports {
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
    /// `create_batch`): [`crate::payout::BATCH_STEP`] on
    /// DynamoDB, [`crate::payout::BATCH_STEP_SQLITE`] on SQLite, unless a
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
    let to = next.state.as_str();
    let happened = Happened { at: now, actor, action, from: Some(t.from.as_str()), to, comment: t.comment };
    let audit = crate::audit::append(key, &mut next, happened);
    Ok((next, audit, releases))
}

/// The next entry of a document's own chain, and the document with its head.
pub(crate) fn document_step(
    key: &crate::audit::AuditKey,
    mut doc: Document,
    actor: &Actor,
    action: &str,
    from: Option<&str>,
    comment: Option<String>,
    now: DateTime<Utc>,
) -> (Document, AuditEntry) {
    let to = doc.status.as_str();
    let audit = crate::audit::append(key, &mut doc, Happened { at: now, actor, action, from, to, comment });
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

pub(crate) fn reason(field: &str, r: &Option<String>) -> Result<Option<crate::fields::Text>, Error> {
    r.as_deref().map(|s| text(field, s, 500)).transpose()
}

pub(crate) fn required_reason(r: &Option<String>) -> Result<crate::fields::Text, Error> {
    reason("reason", r)?.ok_or_else(|| Error::invalid("reason", "a reason is required"))
}

/// The use cases, one capability each, every one built over only the ports
/// it needs.
#[derive(Clone)]
pub struct Services {
    pub ports: Ports,
    pub cx: Context,
    pub identity: crate::identity::service::Identities,
    pub company: crate::company::service::Companies,
    pub applications: crate::application::service::Applications,
    pub review: crate::application::review::Review,
    pub documents: crate::documents::service::Documents,
    pub stats: crate::stats::service::Stats,
    pub audit: crate::audit::jobs::AuditJobs,
    pub batches: crate::payout::batches::Batches,
    pub settlement: crate::payout::settlement::Settlement,
}

impl Services {
    pub fn new(ports: Ports) -> Services {
        let p = &ports;
        let cx = Context {
            policies: p.policies.clone(),
            policy_id: p.policy_id.clone(),
            audit_key: p.audit_key.clone(),
            clock: p.clock.clone(),
            tree: p.tree.clone(),
        };
        let directory = crate::identity::directory::StaffDirectory {
            key: p.audit_key.clone(),
            store: p.staff.clone(),
            authority: p.staff_authority.clone(),
            tree: p.tree.clone(),
            clock: p.clock.clone(),
        };
        let company = crate::company::service::Companies {
            cx: cx.clone(),
            companies: p.companies.clone(),
            projects: p.projects.clone(),
            applications: p.applications.clone(),
        };
        let documents = crate::documents::service::Documents {
            cx: cx.clone(),
            applications: p.applications.clone(),
            documents: p.documents.clone(),
            blobs: p.blobs.clone(),
        };
        let applications = crate::application::service::Applications {
            cx: cx.clone(),
            applications: p.applications.clone(),
            projects: p.projects.clone(),
            companies: p.companies.clone(),
            documents: p.documents.clone(),
            prechecks: p.prechecks.clone(),
            company: company.clone(),
            checks: documents.clone(),
        };
        let ledger = crate::payout::ledger::Ledger {
            cx: cx.clone(),
            disbursement: p.disbursement.clone(),
            applications: p.applications.clone(),
            exports: p.exports.clone(),
            export_queue: p.export_queue.clone(),
            batch_step: p.batch_step.clone(),
        };
        Services {
            batches: crate::payout::batches::Batches { l: ledger.clone() },
            settlement: crate::payout::settlement::Settlement { l: ledger },
            identity: crate::identity::service::Identities {
                cx: cx.clone(),
                companies: p.companies.clone(),
                directory: directory.clone(),
            },
            review: crate::application::review::Review {
                cx: cx.clone(),
                applications: p.applications.clone(),
                projects: p.projects.clone(),
                companies: p.companies.clone(),
                prechecks: p.prechecks.clone(),
                apps: applications.clone(),
            },
            stats: crate::stats::service::Stats {
                cx: cx.clone(),
                stats: p.stats.clone(),
                applications: p.applications.clone(),
            },
            audit: crate::audit::jobs::AuditJobs {
                cx: cx.clone(),
                applications: p.applications.clone(),
                documents: p.documents.clone(),
                companies: p.companies.clone(),
                disbursement: p.disbursement.clone(),
                directory,
                anchors: p.anchors.clone(),
            },
            company,
            documents,
            applications,
            cx,
            ports,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.cx.now()
    }

    /// The staff directory's use cases (who is calling, administration).
    pub fn directory(&self) -> crate::identity::directory::StaffDirectory {
        self.identity.directory.clone()
    }

    /// The active policy.
    pub async fn policy(&self) -> Result<Policy, Error> {
        self.cx.policy().await
    }
}
