//! Ports: the traits the use cases need from the outside world.
//!
//! One trait per capability. The SQLite/filesystem adapters (standalone)
//! and the DynamoDB/S3 adapters (AWS) implement the same traits and pass the
//! same contract tests. Every write that changes an application produces
//! exactly one [`crate::application::dispatch::ChangeRecord`], delivered at least once and
//! in order per application: the SQLite adapter writes it to an outbox in the
//! same transaction; on AWS the table's stream carries it.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::application::Application;
use crate::application::State;
use crate::application::precheck::PrecheckReport;
use crate::audit::AuditEntry;
use crate::company::{Company, Project};
use crate::documents::Document;
use crate::error::StoreError;
use crate::identity::authz::Scope;
use crate::policy::Policy;

pub type StoreResult<T> = Result<T, StoreError>;

/// The clock. Tests substitute a settable one.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A request for one page. `cursor` is opaque and adapter-specific.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    pub cursor: Option<String>,
}

impl PageRequest {
    pub const MAX_LIMIT: u32 = 100;
    pub const DEFAULT_LIMIT: u32 = 20;

    pub fn first(limit: u32) -> PageRequest {
        PageRequest { limit, cursor: None }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass back as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next_cursor: self.next_cursor }
    }
}

/// Policies, by id. One of them is the deployment's active policy.
#[async_trait]
pub trait PolicyStore: Send + Sync {
    async fn get_policy(&self, id: &str) -> StoreResult<Option<Policy>>;
    /// Creates or replaces a policy. Idempotent.
    async fn put_policy(&self, policy: &Policy) -> StoreResult<()>;
}

#[async_trait]
pub trait CompanyStore: Send + Sync {
    async fn get_company(&self, id: &str) -> StoreResult<Option<Company>>;
    async fn company_of_owner(&self, owner: &str) -> StoreResult<Option<Company>>;
    /// Creates a company at version 1 with the first entry of its audit
    /// chain. `AlreadyExists` if the owner has one; `Unique("credit_code")`
    /// if the code belongs to another company.
    async fn create_company(&self, company: &Company, audit: &AuditEntry) -> StoreResult<()>;
    /// Replaces the company, and appends its audit entry, if its stored
    /// version is `expected_version`; otherwise `VersionConflict` with the
    /// stored version.
    async fn update_company(&self, company: &Company, expected_version: u64, audit: &AuditEntry) -> StoreResult<()>;
    /// Every company, a page at a time (whole-store jobs: the audit check).
    async fn scan_companies(&self, page: &PageRequest) -> StoreResult<Page<Company>>;
}

#[async_trait]
pub trait ProjectStore: Send + Sync {
    async fn get_project(&self, id: &str) -> StoreResult<Option<Project>>;
    async fn create_project(&self, project: &Project) -> StoreResult<()>;
    /// Conditional on `expected_version`, like [`CompanyStore::update_company`].
    async fn update_project(&self, project: &Project, expected_version: u64) -> StoreResult<()>;
    /// A company's projects, newest first.
    async fn projects_of_owner(&self, owner: &str, page: &PageRequest) -> StoreResult<Page<Project>>;
    /// Projects of any company registered with this name in this community,
    /// for the duplicate-registration pre-check.
    async fn projects_named(&self, community: &str, name: &str) -> StoreResult<Vec<Project>>;
}

/// What an application's write does to its project's claim (one live
/// application per project and policy, taken at submission).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimChange {
    Keep,
    /// Take the claim ([`crate::application::Application::claim`]) in the
    /// same transaction: `Claimed` with the holder's id if another
    /// application holds it (holding it already is fine).
    Take,
    /// Release it. Asked only of an application that took it (a
    /// submitted one); if nobody holds it, nothing changes.
    Release,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplicationFilter {
    pub state: Option<State>,
    pub project_id: Option<String>,
}

#[async_trait]
pub trait ApplicationStore: Send + Sync {
    async fn get_application(&self, id: &str) -> StoreResult<Option<Application>>;
    /// Atomically: the application (version 1), the first audit entry and
    /// the change record. A draft takes no claim: two companies may draft
    /// the same estate, and the first to submit it holds it.
    async fn create_application(&self, app: &Application, audit: &AuditEntry) -> StoreResult<()>;
    /// Atomically, if the stored version is `expected_version`: the new
    /// application, the audit entry, the change record, and `claim` (see
    /// [`ClaimChange`]). Else `VersionConflict` with the stored version, or
    /// `Claimed` with the holder's id, and nothing is written.
    async fn update_application(
        &self,
        app: &Application,
        expected_version: u64,
        audit: &AuditEntry,
        claim: ClaimChange,
    ) -> StoreResult<()>;
    /// The live application holding (policy, project), if any.
    /// The application holding a claim ([`crate::company::Project::claim_key`]).
    async fn claim_holder(&self, policy_id: &str, claim: &str) -> StoreResult<Option<String>>;
    /// Applications in scope, newest first. Drafts only for `Scope::Owner`.
    async fn list_applications(
        &self,
        scope: &Scope,
        filter: &ApplicationFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Application>>;
    /// Applications waiting at `tier` inside the unit (or, for
    /// `Scope::Manager`, awaiting that manager), oldest arrival first.
    async fn inbox(&self, scope: &Scope, state: State, page: &PageRequest) -> StoreResult<Page<Application>>;
    /// An audit chain, in sequence order: an application's (by its id), or
    /// any other subject's (`batch:{id}`, `company:{id}`).
    async fn audit_trail(&self, subject: &str) -> StoreResult<Vec<AuditEntry>>;
    /// Every application, in id order, for whole-store jobs (audit verify).
    async fn scan_applications(&self, page: &PageRequest) -> StoreResult<Page<Application>>;
    /// The head (newest entry) of every audit chain, of any subject, that
    /// has an entry stamped after `since` (every chain if None): what the
    /// daily anchor holds. A whole-store job, run once a day.
    async fn audit_heads_since(
        &self,
        since: Option<chrono::DateTime<chrono::Utc>>,
    ) -> StoreResult<Vec<crate::audit::ChainHead>>;
}

/// Document metadata. The bytes live in a [`BlobStore`].
#[async_trait]
pub trait DocumentStore: Send + Sync {
    /// Atomically: the new document and the first entry of its audit chain.
    async fn create_document(&self, doc: &Document, audit: &AuditEntry) -> StoreResult<()>;
    async fn get_document(&self, application_id: &str, id: &str) -> StoreResult<Option<Document>>;
    /// Every document of an application, deleted ones included, in id order.
    async fn documents_of(&self, application_id: &str) -> StoreResult<Vec<Document>>;
    /// Atomically, if the stored document's `audit_seq` is `expected_seq`:
    /// the new document (its check, or its deletion) and the next entry of
    /// its audit chain. `VersionConflict` with the stored sequence otherwise,
    /// and nothing is written.
    async fn update_document(&self, doc: &Document, expected_seq: u64, audit: &AuditEntry) -> StoreResult<()>;
}

/// A request the client must make to move bytes: an upload or download URL
/// with the headers it must send. Signed so it cannot be altered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PresignedRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub expires_at: DateTime<Utc>,
}

/// What a blob store knows of a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobHead {
    pub size: u64,
    /// The first bytes, at most as many as asked for.
    pub head: Vec<u8>,
}

/// Object storage for documents: the filesystem or S3.
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// A PUT whose signature fixes the key, the content type and the exact
    /// content length, and that succeeds once: a second PUT to the key is
    /// refused (S3: `If-None-Match: *`; the local store: the same rule).
    /// The use case decides which types it accepts (documents: PDF, JPEG
    /// and PNG only; a bank's results file: CSV).
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        ttl: Duration,
    ) -> StoreResult<PresignedRequest>;
    /// A GET of the object, or of exactly `version` of it (as [`Self::pin`]
    /// returned): a later write under the key is never what it serves.
    async fn presign_get(&self, key: &str, version: Option<&str>, ttl: Duration) -> StoreResult<PresignedRequest>;
    /// Fixes the bytes now under `key` as an immutable version and returns
    /// its id (S3's version id; the local store's content hash, under which
    /// it keeps a copy). `None` if there is no object.
    async fn pin(&self, key: &str) -> StoreResult<Option<String>>;
    /// The object's size and first `n` bytes, or `None` if absent.
    async fn head(&self, key: &str, n: usize) -> StoreResult<Option<BlobHead>>;
    /// Deletes the object. Deleting an absent object is not an error.
    async fn delete(&self, key: &str) -> StoreResult<()>;
    /// Stores bytes the system itself produced (reports, exports).
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> StoreResult<()>;
    /// Stores a file the system wrote, streaming it from disk.
    async fn put_file(&self, key: &str, path: &std::path::Path, content_type: &str) -> StoreResult<()>;
}

#[async_trait]
pub trait PrecheckStore: Send + Sync {
    /// Stores the report for (application, tier), replacing an older one.
    /// Idempotent: the same report twice leaves one.
    async fn put_prechecks(&self, report: &PrecheckReport) -> StoreResult<()>;
    async fn prechecks_of(&self, application_id: &str) -> StoreResult<Vec<PrecheckReport>>;
}

/// A response kept for an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// No record: this request owns the key now and must complete or abort.
    Proceed,
    /// The first request finished: return its response.
    Replay(StoredResponse),
    /// Another request with this key is running (or crashed less than a lease ago).
    InProgress,
    /// The key was used with a different request fingerprint.
    Mismatch,
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` for a request with `fingerprint`, with a lease that
    /// expires at `lease_until` (after a crash, the key frees itself).
    async fn begin(
        &self,
        key: &str,
        fingerprint: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Begin>;
    /// Stores the final response; later `begin`s replay it.
    async fn complete(&self, key: &str, response: &StoredResponse) -> StoreResult<()>;
    /// Releases the key without a response, so a retry runs again.
    async fn abort(&self, key: &str) -> StoreResult<()>;
}

/// Where a queue message that can never be handled goes at once, without
/// burning its retries (SQS in AWS: the queue's own dead-letter queue).
/// Standalone needs none: its dispatcher dead-letters outbox rows itself.
#[async_trait]
pub trait DeadLetterQueue: Send + Sync {
    /// Sends `body` with `reason` to the dead-letter queue. An error means
    /// it is not there, and the caller lets the message be redelivered.
    async fn dead_letter(&self, body: &str, reason: &str) -> StoreResult<()>;
}

/// The tier queues (SQS in AWS). Standalone needs none: its dispatcher
/// calls the consumer directly.
#[async_trait]
pub trait ArrivalQueue: Send + Sync {
    /// Sends each message to the queue of its tier. At least once; a failed
    /// send is an error, and the caller retries the whole change.
    async fn publish(&self, messages: &[crate::application::dispatch::TierArrival]) -> StoreResult<()>;
}
