//! Use cases: what the routers and consumers call. Each one authorizes the
//! actor, parses input into domain types before anything is stored, and
//! writes through the ports. No HTTP, SQL or AWS here.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::context::Context;
use crate::error::Error;
use crate::jurisdiction::JurisdictionTree;
use crate::policy::Policy;
use crate::ports::*;

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
    /// `create_batch`): the adapter's own `BATCH_STEP`, unless a test
    /// makes steps small.
    pub batch_step: Arc<std::sync::atomic::AtomicUsize>,
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
