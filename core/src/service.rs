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
    pub payout: Arc<dyn crate::payout::PayoutStore>,
    /// Files the system writes: reports and batch files.
    pub exports: Arc<dyn BlobStore>,
    pub batch_queue: Arc<dyn crate::payout::BatchQueue>,
    /// Every reader's in-app notices.
    pub notices: Arc<dyn crate::notify::NoticeStore>,
    /// How long each step took (ETA): samples in, medians out.
    pub eta: Arc<dyn crate::eta::EtaStore>,
    /// Reviewers' openings in detail (bulk approval's spot checks).
    pub views: Arc<dyn crate::application::bulk::ViewLog>,
    /// The key of the audit chains' MACs (never stored in the database).
    pub audit_key: crate::audit::AuditKeyCell,
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

/// Every capability, built from the ports: what the standalone server and
/// the tests hold. A Lambda function builds only the capabilities it serves,
/// each through its own constructor on [`Ports`] (the review function never
/// constructs payout).
#[derive(Clone)]
pub struct Services {
    pub ports: Ports,
    pub cx: Context,
    pub identity: crate::identity::service::Identities,
    pub company: crate::company::service::Companies,
    pub applications: crate::application::service::Applications,
    pub review: crate::application::review::Review,
    pub public_notices: crate::application::notice::PublicNotices,
    pub documents: crate::documents::service::Documents,
    pub stats: crate::stats::service::Stats,
    pub audit: crate::audit::jobs::AuditJobs,
    pub batches: crate::payout::batches::Batches,
    pub settlement: crate::payout::settlement::Settlement,
    pub notices: crate::notify::service::Notices,
    pub eta: crate::eta::Eta,
}

impl Services {
    pub fn new(ports: Ports) -> Services {
        Services {
            cx: ports.context(),
            identity: ports.identities(),
            company: ports.companies(),
            applications: ports.applications(),
            review: ports.review(),
            public_notices: ports.public_notices(),
            documents: ports.documents(),
            stats: ports.stats(),
            audit: ports.audit(),
            batches: ports.batches(),
            settlement: ports.settlement(),
            notices: ports.notices(),
            eta: ports.eta(),
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

/// One constructor per capability, each taking only the ports that
/// capability holds.
impl Ports {
    /// What every capability shares: the policy, the audit key, the clock
    /// and the jurisdiction tree.
    pub fn context(&self) -> Context {
        Context {
            policies: self.policies.clone(),
            policy_id: self.policy_id.clone(),
            audit_key: self.audit_key.clone(),
            clock: self.clock.clone(),
            tree: self.tree.clone(),
        }
    }

    /// How long each step usually takes.
    pub fn eta(&self) -> crate::eta::Eta {
        crate::eta::Eta { cx: self.context(), store: self.eta.clone() }
    }

    /// Who is calling, and the directory's administration.
    pub fn directory(&self) -> crate::identity::directory::StaffDirectory {
        crate::identity::directory::StaffDirectory {
            key: self.audit_key.clone(),
            store: self.staff.clone(),
            authority: self.staff_authority.clone(),
            tree: self.tree.clone(),
            clock: self.clock.clone(),
        }
    }

    pub fn identities(&self) -> crate::identity::service::Identities {
        crate::identity::service::Identities {
            cx: self.context(),
            companies: self.companies.clone(),
            directory: self.directory(),
        }
    }

    pub fn companies(&self) -> crate::company::service::Companies {
        crate::company::service::Companies {
            cx: self.context(),
            companies: self.companies.clone(),
            projects: self.projects.clone(),
            applications: self.applications.clone(),
        }
    }

    pub fn documents(&self) -> crate::documents::service::Documents {
        crate::documents::service::Documents {
            cx: self.context(),
            applications: self.applications.clone(),
            documents: self.documents.clone(),
            blobs: self.blobs.clone(),
        }
    }

    pub fn applications(&self) -> crate::application::service::Applications {
        crate::application::service::Applications {
            cx: self.context(),
            applications: self.applications.clone(),
            projects: self.projects.clone(),
            companies: self.companies.clone(),
            documents: self.documents.clone(),
            prechecks: self.prechecks.clone(),
            company: self.companies(),
            checks: self.documents(),
            eta: self.eta(),
            views: self.views.clone(),
        }
    }

    pub fn public_notices(&self) -> crate::application::notice::PublicNotices {
        crate::application::notice::PublicNotices {
            cx: self.context(),
            applications: self.applications.clone(),
            documents: self.documents.clone(),
            apps: self.applications(),
        }
    }

    pub fn review(&self) -> crate::application::review::Review {
        crate::application::review::Review {
            cx: self.context(),
            applications: self.applications.clone(),
            projects: self.projects.clone(),
            companies: self.companies.clone(),
            prechecks: self.prechecks.clone(),
            views: self.views.clone(),
            apps: self.applications(),
        }
    }

    pub fn stats(&self) -> crate::stats::service::Stats {
        crate::stats::service::Stats {
            cx: self.context(),
            stats: self.stats.clone(),
            applications: self.applications.clone(),
        }
    }

    pub fn audit(&self) -> crate::audit::jobs::AuditJobs {
        crate::audit::jobs::AuditJobs {
            cx: self.context(),
            applications: self.applications.clone(),
            documents: self.documents.clone(),
            companies: self.companies.clone(),
            payout: self.payout.clone(),
            directory: self.directory(),
            anchors: self.anchors.clone(),
        }
    }

    fn ledger(&self) -> crate::payout::ledger::Ledger {
        crate::payout::ledger::Ledger {
            cx: self.context(),
            payout: self.payout.clone(),
            applications: self.applications.clone(),
            exports: self.exports.clone(),
            batch_queue: self.batch_queue.clone(),
            batch_step: self.batch_step.clone(),
            stats: self.stats.clone(),
        }
    }

    pub fn notices(&self) -> crate::notify::service::Notices {
        crate::notify::service::Notices {
            cx: self.context(),
            store: self.notices.clone(),
            applications: self.applications.clone(),
            staff: self.staff.clone(),
        }
    }

    pub fn batches(&self) -> crate::payout::batches::Batches {
        crate::payout::batches::Batches { l: self.ledger() }
    }

    pub fn settlement(&self) -> crate::payout::settlement::Settlement {
        crate::payout::settlement::Settlement { l: self.ledger() }
    }
}
