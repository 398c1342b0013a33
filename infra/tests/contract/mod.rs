//! The storage contract: what every adapter of the storage ports must do.
//! The SQLite adapter runs it now; the DynamoDB adapter runs the same
//! functions against the emulator.

use std::sync::Arc;

use chrono::{Duration, Utc};
use subsidy_core::application::Application;
use subsidy_core::application::precheck::PrecheckReport;
use subsidy_core::application::state::State;
use subsidy_core::audit::{AuditEntry, GENESIS};
use subsidy_core::company::credit_code::CreditCode;
use subsidy_core::company::{Company, CompanyProfile, Project, ProjectDetails};
use subsidy_core::documents::{ContentType, Document, DocumentKind, DocumentStatus};
use subsidy_core::error::StoreError;
use subsidy_core::fields::{AccountNumber, BankAccount, Phone, Text};
use subsidy_core::identity::authz::Scope;
use subsidy_core::identity::{Actor, Role, Tier};
use subsidy_core::jurisdiction::{JurisdictionPath, Level};
use subsidy_core::money::Area;
use subsidy_core::policy::Policy;
use subsidy_core::ports::*;

/// The key the contract's audit entries are made with (a store keeps what
/// it is given; it never computes a MAC itself).
static AUDIT_KEY: std::sync::LazyLock<subsidy_core::audit::AuditKey> =
    std::sync::LazyLock::new(subsidy_core::audit::AuditKey::for_tests);

/// What the store does after a write without being asked, run to its end:
/// nothing on SQLite (an audit entry commits with its write); on DynamoDB,
/// the stream consumer writing out the entries that rode on application
/// items. The contract's trails are checked after it.
#[async_trait::async_trait]
pub trait Settle: Send + Sync {
    async fn settle(&self);
}

/// Nothing happens after a write (the SQLite contract's; the emulator's
/// build of this module does not use it).
#[allow(dead_code)]
pub struct Settled;

#[async_trait::async_trait]
impl Settle for Settled {
    async fn settle(&self) {}
}

/// The ports under test, usually all one adapter object.
pub struct Ports {
    pub settle: Arc<dyn Settle>,
    pub policies: Arc<dyn PolicyStore>,
    pub companies: Arc<dyn CompanyStore>,
    pub projects: Arc<dyn ProjectStore>,
    pub applications: Arc<dyn ApplicationStore>,
    pub documents: Arc<dyn DocumentStore>,
    pub prechecks: Arc<dyn PrecheckStore>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub stats: Arc<dyn subsidy_core::stats::StatsStore>,
    pub payout: Arc<dyn subsidy_core::payout::PayoutStore>,
    pub staff: Arc<dyn subsidy_core::identity::staff::StaffStore>,
    pub notices: Arc<dyn subsidy_core::notify::NoticeStore>,
    /// The SMS ledger: the job's row on SQLite, the notice's item on DynamoDB.
    pub sms: Arc<dyn subsidy_core::notify::sms::SmsLedger>,
    /// Where a job is queued before the ledger holds it: SQLite's table.
    /// On DynamoDB the job rides on SQS and the ledger is the notice's
    /// item, so none.
    pub sms_queue: Option<Arc<dyn subsidy_core::notify::sms::SmsQueue>>,
    pub eta: Arc<dyn subsidy_core::eta::EtaStore>,
    pub views: Arc<dyn subsidy_core::application::bulk::ViewLog>,
}

fn text(s: &str) -> Text {
    Text::parse(s, 200).unwrap()
}

fn uid(prefix: &str) -> String {
    format!("{prefix}{}", ulid::Ulid::new())
}

pub fn policy() -> Policy {
    Policy::from_json(include_str!("../../../config/policy-shenzhen-2020.json")).unwrap()
}

pub fn company(owner: &str, code17: &str) -> Company {
    Company {
        id: uid("C"),
        owner: owner.into(),
        profile: CompanyProfile {
            credit_code: CreditCode::with_check_character(code17).unwrap(),
            name: text("契约物业"),
            legal_representative: text("甲"),
            contact_name: text("乙"),
            contact_phone: Phone::parse("13800138000").unwrap(),
            bank_account: BankAccount {
                bank_name: text("银行"),
                account_name: text("契约物业"),
                account_number: AccountNumber::parse("1234567890").unwrap(),
            },
        },
        version: 1,
        created_at: Utc::now(),
        updated_at: Utc::now(),
        audit_seq: 0,
        audit_head: GENESIS.to_string(),
    }
}

/// The company's audit entry number `seq` (chained from `prev`).
fn company_audit(c: &Company, seq: u64, prev: &str) -> AuditEntry {
    AuditEntry::next(
        &AUDIT_KEY,
        &c.audit_subject(),
        seq,
        prev,
        Utc::now(),
        &actor(c),
        "update_profile",
        None,
        "registered",
        None,
    )
}

pub fn path(community: &str) -> JurisdictionPath {
    JurisdictionPath {
        city: "440300".into(),
        district: "440304".into(),
        subdistrict: "440304001".into(),
        community: community.into(),
    }
}

pub fn project(c: &Company, name: &str, community: &str) -> Project {
    Project {
        id: uid("P"),
        company_id: c.id.clone(),
        owner: c.owner.clone(),
        details: ProjectDetails {
            name: text(name),
            address: text("地址"),
            community: community.into(),
            managed_area: Area::parse("1000").unwrap(),
            manager_name: text("经理"),
            manager_phone: Phone::parse("13700137000").unwrap(),
        },
        jurisdiction: path(community),
        version: 1,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

fn actor(c: &Company) -> Actor {
    Actor { user_id: c.owner.clone(), role: Role::Company, unit: None, phone: None, name: None, credit_code: None }
}

/// A draft at version 1 with its first audit entry.
pub fn draft(c: &Company, p: &Project) -> (Application, AuditEntry) {
    let pol = policy();
    let now = Utc::now();
    let mut app = Application::draft(uid("A"), &pol, c, p, Area::parse("1000").unwrap(), None, now);
    let audit = AuditEntry::next(&AUDIT_KEY, &app.id, 1, GENESIS, now, &actor(c), "create", None, "draft", None);
    app.version = 1;
    app.audit_seq = 1;
    app.audit_head = audit.hash.clone();
    (app, audit)
}

/// The next version of `app` in `state`, with its audit entry.
pub fn moved(app: &Application, state: State, c: &Company) -> (Application, AuditEntry) {
    let mut next = app.clone();
    let now = Utc::now();
    next.state = state;
    next.state_since = now;
    next.version += 1;
    let audit = AuditEntry::next(
        &AUDIT_KEY,
        &app.id,
        app.audit_seq + 1,
        &app.audit_head,
        now,
        &actor(c),
        "move",
        Some(app.state.as_str()),
        state.as_str(),
        None,
    );
    next.audit_seq = audit.seq;
    next.audit_head = audit.hash.clone();
    (next, audit)
}

pub async fn companies_are_unique_per_owner_and_credit_code_and_versioned(p: &Ports) {
    let c = company(&uid("owner"), "91440300MA5D9C001");
    let first = company_audit(&c, 1, GENESIS);
    p.companies.create_company(&c, &first).await.unwrap();
    assert_eq!(p.companies.company_of_owner(&c.owner).await.unwrap().unwrap(), c);
    assert_eq!(p.companies.get_company(&c.id).await.unwrap().unwrap(), c);
    let same_owner = Company { id: uid("C"), ..company(&c.owner, "91440300MA5D9C002") };
    assert_eq!(
        p.companies.create_company(&same_owner, &company_audit(&same_owner, 1, GENESIS)).await,
        Err(StoreError::AlreadyExists)
    );
    let same_code = company(&uid("owner"), "91440300MA5D9C001");
    assert_eq!(
        p.companies.create_company(&same_code, &company_audit(&same_code, 1, GENESIS)).await,
        Err(StoreError::Unique("credit_code"))
    );

    let v2 = Company { version: 2, ..c.clone() };
    let second = company_audit(&c, 2, &first.hash);
    p.companies.update_company(&v2, 1, &second).await.unwrap();
    let v3 = Company { version: 3, ..c.clone() };
    assert_eq!(
        p.companies.update_company(&v3, 1, &company_audit(&c, 3, &second.hash)).await,
        Err(StoreError::VersionConflict { current: 2 })
    );
    let trail = p.applications.audit_trail(&c.audit_subject()).await.unwrap();
    assert_eq!(trail, vec![first, second], "profile changes are audited, and a refused one is not");
    assert_eq!(p.companies.get_company(&c.id).await.unwrap().unwrap().version, 2);
    assert_eq!(p.companies.company_of_owner("nobody").await.unwrap(), None);
}

pub async fn projects_page_by_owner_and_update_conditionally(p: &Ports) {
    let c = company(&uid("owner"), "91440300MA5D9C003");
    let mut ids = Vec::new();
    for i in 0..5 {
        let pr = project(&c, &format!("项目{i}"), "440304001020");
        p.projects.create_project(&pr).await.unwrap();
        ids.push(pr.id);
    }
    let mut seen = Vec::new();
    let mut page = PageRequest::first(2);
    loop {
        let got = p.projects.projects_of_owner(&c.owner, &page).await.unwrap();
        assert!(got.items.len() <= 2);
        seen.extend(got.items.into_iter().map(|x| x.id));
        match got.next_cursor {
            Some(cur) => page.cursor = Some(cur),
            None => break,
        }
    }
    ids.sort();
    ids.reverse();
    assert_eq!(seen, ids, "newest first, no gaps, no repeats");

    let first = p.projects.get_project(&ids[0]).await.unwrap().unwrap();
    let renamed = Project {
        version: 2,
        details: ProjectDetails { name: text("改名"), ..first.details.clone() },
        ..first.clone()
    };
    p.projects.update_project(&renamed, 1).await.unwrap();
    assert_eq!(p.projects.update_project(&renamed, 1).await, Err(StoreError::VersionConflict { current: 2 }));
    assert_eq!(p.projects.projects_named("440304001020", "改名").await.unwrap().len(), 1);
    assert!(p.projects.projects_named("440304001020", "项目0").await.unwrap().iter().all(|x| x.id != ids[0]));
    let bad = PageRequest { limit: 2, cursor: Some("garbage!".into()) };
    assert_eq!(p.projects.projects_of_owner(&c.owner, &bad).await.unwrap_err(), StoreError::BadCursor);
}

pub async fn one_live_application_holds_a_project_claim(p: &Ports) {
    let c = company(&uid("owner"), "91440300MA5D9C004");
    let other = company(&uid("owner"), "91440300MA5D9C012");
    let pr = project(&c, "认领", "440304001020");
    let same_estate = project(&other, "认领", "440304001020");
    assert_eq!(pr.claim_key(), same_estate.claim_key(), "one estate, two companies' projects");
    // Drafts take no claim: both companies may draft the estate.
    let (a, audit) = draft(&c, &pr);
    p.applications.create_application(&a, &audit).await.unwrap();
    let (b, audit_b) = draft(&other, &same_estate);
    p.applications.create_application(&b, &audit_b).await.unwrap();
    assert_eq!(p.applications.claim_holder(&a.policy_id, &pr.claim_key()).await.unwrap(), None);

    // The first to submit takes it; the second's submission is refused whole.
    let (a2, a2_audit) = moved(&a, State::AwaitingAreaConfirmation, &c);
    p.applications.update_application(&a2, 1, &a2_audit, ClaimChange::Take).await.unwrap();
    assert_eq!(p.applications.claim_holder(&a.policy_id, &pr.claim_key()).await.unwrap(), Some(a.id.clone()));
    let (b2, b2_audit) = moved(&b, State::AwaitingAreaConfirmation, &other);
    assert_eq!(
        p.applications.update_application(&b2, 1, &b2_audit, ClaimChange::Take).await,
        Err(StoreError::Claimed { application_id: a.id.clone() })
    );
    let stored_b = p.applications.get_application(&b.id).await.unwrap().unwrap();
    assert_eq!((stored_b.state, stored_b.version), (State::Draft, 1), "nothing of the refused submission is stored");
    assert_eq!(p.applications.audit_trail(&b.id).await.unwrap(), vec![audit_b.clone()]);
    // Taking a claim one holds already is fine (a retried write).
    let (a3, a3_audit) = moved(&a2, State::PendingCommunity, &c);
    p.applications.update_application(&a3, 2, &a3_audit, ClaimChange::Take).await.unwrap();

    // The other draft is withdrawn: it held nothing, and the claim stays.
    let (b_gone, b_gone_audit) = moved(&b, State::Withdrawn, &other);
    p.applications.update_application(&b_gone, 1, &b_gone_audit, ClaimChange::Keep).await.unwrap();
    assert_eq!(p.applications.claim_holder(&a.policy_id, &pr.claim_key()).await.unwrap(), Some(a.id.clone()));
    // Releasing frees it for the other company.
    let (withdrawn, w_audit) = moved(&a3, State::Withdrawn, &c);
    p.applications.update_application(&withdrawn, 3, &w_audit, ClaimChange::Release).await.unwrap();
    assert_eq!(p.applications.claim_holder(&a.policy_id, &pr.claim_key()).await.unwrap(), None);
    let (c_app, c_audit) = draft(&other, &same_estate);
    p.applications.create_application(&c_app, &c_audit).await.unwrap();
    let (c2, c2_audit) = moved(&c_app, State::AwaitingAreaConfirmation, &other);
    p.applications.update_application(&c2, 1, &c2_audit, ClaimChange::Take).await.unwrap();
    assert_eq!(p.applications.claim_holder(&a.policy_id, &pr.claim_key()).await.unwrap(), Some(c_app.id.clone()));
}

pub async fn a_stale_update_writes_nothing(p: &Ports) {
    let c = company(&uid("owner"), "91440300MA5D9C005");
    let pr = project(&c, "并发", "440304001020");
    let (a, audit) = draft(&c, &pr);
    p.applications.create_application(&a, &audit).await.unwrap();
    let (v2, audit2) = moved(&a, State::AwaitingAreaConfirmation, &c);
    p.applications.update_application(&v2, 1, &audit2, ClaimChange::Take).await.unwrap();
    let (v2b, audit2b) = moved(&a, State::Withdrawn, &c);
    assert_eq!(
        p.applications.update_application(&v2b, 1, &audit2b, ClaimChange::Release).await,
        Err(StoreError::VersionConflict { current: 2 })
    );
    let stored = p.applications.get_application(&a.id).await.unwrap().unwrap();
    assert_eq!(stored.state, State::AwaitingAreaConfirmation);
    // The newest entry is in the trail at once; the whole chain once the
    // store has settled, and never the refused write's.
    assert_eq!(p.applications.audit_trail(&a.id).await.unwrap().last(), Some(&audit2));
    p.settle.settle().await;
    assert_eq!(p.applications.audit_trail(&a.id).await.unwrap(), vec![audit, audit2]);
    assert_eq!(
        p.applications.claim_holder(&a.policy_id, &pr.claim_key()).await.unwrap(),
        Some(a.id.clone()),
        "claim kept"
    );
}

pub async fn scopes_and_inboxes_list_the_right_applications(p: &Ports) {
    let c = company(&uid("owner"), "91440300MA5D9C006");
    let community = format!("44030400{}", &ulid::Ulid::new().to_string()[22..]);
    let mut pending = Vec::new();
    for i in 0..3 {
        let pr = project(&c, &format!("收件{i}"), &community);
        let (a, audit) = draft(&c, &pr);
        p.applications.create_application(&a, &audit).await.unwrap();
        if i < 2 {
            let (n, au) = moved(&a, State::PendingCommunity, &c);
            p.applications.update_application(&n, 1, &au, ClaimChange::Keep).await.unwrap();
            pending.push(n.id.clone());
        }
    }
    let owner = p
        .applications
        .list_applications(&Scope::Owner(c.owner.clone()), &ApplicationFilter::default(), &PageRequest::first(50))
        .await
        .unwrap();
    assert_eq!(owner.items.len(), 3, "the owner sees drafts");
    let unit = Scope::Unit { level: Level::Community, code: community.clone() };
    let staff =
        p.applications.list_applications(&unit, &ApplicationFilter::default(), &PageRequest::first(50)).await.unwrap();
    assert_eq!(staff.items.len(), 2, "staff never see drafts");
    let manager = Scope::Manager("13700137000".into());
    let filtered = ApplicationFilter { state: Some(State::PendingCommunity), project_id: None };
    assert!(
        p.applications.list_applications(&manager, &filtered, &PageRequest::first(100)).await.unwrap().items.len() >= 2
    );
    let inbox = p.applications.inbox(&unit, State::PendingCommunity, &PageRequest::first(1)).await.unwrap();
    assert_eq!(inbox.items[0].id, pending[0], "oldest arrival first");
    let next = PageRequest { limit: 1, cursor: inbox.next_cursor };
    let inbox2 = p.applications.inbox(&unit, State::PendingCommunity, &next).await.unwrap();
    assert_eq!(inbox2.items[0].id, pending[1]);
    assert_eq!(inbox2.next_cursor, None);
    let other = Scope::Unit { level: Level::Community, code: "440304001023".into() };
    assert!(
        p.applications
            .inbox(&other, State::PendingCommunity, &PageRequest::first(50))
            .await
            .unwrap()
            .items
            .iter()
            .all(|a| !pending.contains(&a.id))
    );
}

pub async fn documents_and_prechecks_are_idempotent(p: &Ports) {
    let app_id = uid("A");
    let d = Document {
        id: uid("D"),
        application_id: app_id.clone(),
        kind: DocumentKind::AreaProof,
        file_name: text("面积.pdf"),
        content_type: ContentType::Pdf,
        size: 10,
        status: DocumentStatus::Pending,
        refusal: None,
        uploaded_by: "u".into(),
        created_at: Utc::now(),
        checked_version: None,
        audit_seq: 1,
        audit_head: String::new(),
    };
    let c = company(&uid("owner"), "91440300MA5D9C020");
    let entry = |doc: &Document, seq: u64, prev: &str, action: &str| {
        AuditEntry::next(
            &AUDIT_KEY,
            &doc.audit_subject(),
            seq,
            prev,
            Utc::now(),
            &actor(&c),
            action,
            None,
            doc.status.as_str(),
            None,
        )
    };
    let first = entry(&d, 1, GENESIS, "upload_document");
    let d = Document { audit_head: first.hash.clone(), ..d };
    p.documents.create_document(&d, &first).await.unwrap();
    assert_eq!(p.documents.create_document(&d, &first).await, Err(StoreError::AlreadyExists));

    // A check is conditional on the document's chain: a second check of the
    // same sequence (a redelivered upload event) writes nothing.
    let checked =
        Document { status: DocumentStatus::Verified, checked_version: Some("v1".into()), audit_seq: 2, ..d.clone() };
    let second = entry(&checked, 2, &first.hash, "check_document");
    let checked = Document { audit_head: second.hash.clone(), ..checked };
    p.documents.update_document(&checked, 1, &second).await.unwrap();
    let again = Document { checked_version: Some("v2".into()), ..checked.clone() };
    assert_eq!(
        p.documents.update_document(&again, 1, &entry(&again, 2, &first.hash, "check_document")).await,
        Err(StoreError::VersionConflict { current: 2 })
    );
    assert_eq!(p.documents.documents_of(&app_id).await.unwrap(), vec![checked.clone()]);

    // Deleted: kept, with its whole trail.
    let gone = Document { status: DocumentStatus::Deleted, audit_seq: 3, ..checked.clone() };
    let third = entry(&gone, 3, &second.hash, "delete_document");
    let gone = Document { audit_head: third.hash.clone(), ..gone };
    p.documents.update_document(&gone, 2, &third).await.unwrap();
    assert_eq!(p.documents.get_document(&app_id, &d.id).await.unwrap(), Some(gone.clone()));
    // The newest entry is in the trail at once (on DynamoDB it rides on the
    // document's item); the whole chain once the store has settled.
    assert_eq!(p.applications.audit_trail(&d.audit_subject()).await.unwrap().last(), Some(&third));
    p.settle.settle().await;
    assert_eq!(p.applications.audit_trail(&d.audit_subject()).await.unwrap(), vec![first, second, third]);
    let missing = Document { id: uid("D"), ..gone };
    assert_eq!(
        p.documents.update_document(&missing, 0, &entry(&missing, 1, GENESIS, "check_document")).await,
        Err(StoreError::NotFound)
    );

    let report = PrecheckReport {
        application_id: app_id.clone(),
        tier: Tier::Community,
        version: 3,
        round: 1,
        checked_at: Utc::now(),
        checks: vec![],
    };
    p.prechecks.put_prechecks(&report).await.unwrap();
    p.prechecks.put_prechecks(&report).await.unwrap();
    let sub = PrecheckReport { tier: Tier::Subdistrict, ..report.clone() };
    p.prechecks.put_prechecks(&sub).await.unwrap();
    let got = p.prechecks.prechecks_of(&app_id).await.unwrap();
    assert_eq!(got.iter().map(|r| r.tier).collect::<Vec<_>>(), vec![Tier::Community, Tier::Subdistrict]);
}

pub async fn idempotency_keys_lease_replay_and_refuse_mismatches(p: &Ports) {
    let key = uid("K");
    let now = Utc::now();
    let lease = now + Duration::seconds(60);
    assert_eq!(p.idempotency.begin(&key, "fp1", now, lease).await.unwrap(), Begin::Proceed);
    assert_eq!(p.idempotency.begin(&key, "fp1", now, lease).await.unwrap(), Begin::InProgress);
    assert_eq!(p.idempotency.begin(&key, "fp2", now, lease).await.unwrap(), Begin::Mismatch);
    let resp = StoredResponse { status: 201, body: "{\"id\":1}".into() };
    p.idempotency.complete(&key, &resp).await.unwrap();
    assert_eq!(p.idempotency.begin(&key, "fp1", now, lease).await.unwrap(), Begin::Replay(resp));

    let aborted = uid("K");
    assert_eq!(p.idempotency.begin(&aborted, "fp", now, lease).await.unwrap(), Begin::Proceed);
    p.idempotency.abort(&aborted).await.unwrap();
    assert_eq!(p.idempotency.begin(&aborted, "fp", now, lease).await.unwrap(), Begin::Proceed);

    let crashed = uid("K");
    assert_eq!(p.idempotency.begin(&crashed, "fp", now, now + Duration::seconds(1)).await.unwrap(), Begin::Proceed);
    let later = now + Duration::seconds(2);
    assert_eq!(
        p.idempotency.begin(&crashed, "fp", later, later + Duration::seconds(60)).await.unwrap(),
        Begin::Proceed,
        "an expired lease is taken over"
    );
}

pub async fn policies_round_trip(p: &Ports) {
    let pol = policy();
    p.policies.put_policy(&pol).await.unwrap();
    p.policies.put_policy(&pol).await.unwrap();
    assert_eq!(p.policies.get_policy(&pol.id).await.unwrap(), Some(pol));
    assert_eq!(p.policies.get_policy("missing").await.unwrap(), None);
}

pub async fn stats_commits_are_all_or_nothing_and_conditional(p: &Ports) {
    use subsidy_core::stats::*;
    let policy = uid("pol");
    let unit = UnitKey::new(&policy, "440300");
    let app_id = uid("A");
    let mut delta = Totals::default();
    delta.add(Counter::Projects, 1);
    delta.add(Counter::ClaimedAmount, 12_345);
    delta.add(Counter::Companies, 1);
    // Two applications waiting at 初审 since the same day.
    let day = |d| chrono::NaiveDate::from_ymd_opt(2020, 3, d).unwrap();
    delta.add_waiting(Wait { counter: Counter::PendingCommunity, since: day(2) }, 2);
    let key = |version| ChangeKey { application_id: app_id.clone(), version };
    let other = ChangeKey { application_id: uid("B"), version: 4 };
    let at = Utc::now();
    let first = StatsCommit {
        log: LogWrite { changes: vec![key(2), other.clone()] },
        units: vec![(unit.clone(), delta.clone())],
        refs: vec![RefWrite { key: unit.clone(), company_id: "C1".into(), old: 0, new: 1 }],
        at,
    };
    assert_eq!(p.stats.logged(&key(2)).await.unwrap(), None);
    p.stats.commit(&first).await.unwrap();
    // The same commit again: the log exists, so it is refused whole.
    assert!(matches!(p.stats.commit(&first).await, Err(StoreError::VersionConflict { .. })));
    let stored = p.stats.unit_totals(std::slice::from_ref(&unit)).await.unwrap()[&unit].clone();
    assert_eq!(stored.totals, delta, "nothing of the refused commit was applied");
    assert_eq!(stored.version, 1);
    assert!(stored.updated_at.is_some());
    assert_eq!(
        p.stats.logged(&key(2)).await.unwrap(),
        Some(vec![key(2), other.clone()]),
        "found from its first change"
    );
    assert_eq!(p.stats.company_refs(&[(unit.clone(), "C1".into())]).await.unwrap()[&(unit.clone(), "C1".into())], 1);

    // A stale reference count alone also refuses the whole commit, log included.
    let stale_ref = StatsCommit {
        log: LogWrite { changes: vec![key(3)] },
        units: vec![(unit.clone(), delta.clone())],
        refs: vec![RefWrite { key: unit.clone(), company_id: "C1".into(), old: 0, new: 1 }],
        at,
    };
    assert!(matches!(p.stats.commit(&stale_ref).await, Err(StoreError::VersionConflict { .. })));
    assert_eq!(p.stats.logged(&key(3)).await.unwrap(), None);

    // Deltas add up; a reference count can go back to zero.
    let second = StatsCommit {
        log: LogWrite { changes: vec![key(3)] },
        units: vec![(unit.clone(), Totals::default().minus(&delta))],
        refs: vec![RefWrite { key: unit.clone(), company_id: "C1".into(), old: 1, new: 0 }],
        at,
    };
    p.stats.commit(&second).await.unwrap();
    let stored = p.stats.unit_totals(std::slice::from_ref(&unit)).await.unwrap()[&unit].clone();
    assert!(stored.totals.is_zero(), "{:?}", stored.totals);
    assert_eq!(stored.totals.waiting(&Wait { counter: Counter::PendingCommunity, since: day(2) }), 0);
    assert_eq!(stored.version, 2);
    assert!(p.stats.all_refs(&policy).await.unwrap().is_empty());
    assert_eq!(p.stats.all_units(&policy).await.unwrap().len(), 1);
    let since = p.stats.logged_since(at - chrono::TimeDelta::seconds(1)).await.unwrap();
    for k in [key(2), key(3), other] {
        assert!(since.contains(&k), "{k} logged since");
    }
    assert!(
        !p.stats.logged_since(at + chrono::TimeDelta::seconds(2)).await.unwrap().contains(&key(3)),
        "nothing logged after"
    );

    // Repairs are conditional on the version read, and leave exactly what
    // they were given: a bucket back at zero (DynamoDB keeps one after its
    // `ADD`s) is gone.
    let mut repaired = Totals::default();
    repaired.add(Counter::Projects, 1);
    repaired.add_waiting(Wait { counter: Counter::Approved, since: day(3) }, 1);
    assert!(!p.stats.repair_unit(&unit, &repaired, 1, Utc::now()).await.unwrap(), "version 1 is stale");
    assert!(p.stats.repair_unit(&unit, &repaired, 2, Utc::now()).await.unwrap());
    let stored = p.stats.unit_totals(std::slice::from_ref(&unit)).await.unwrap()[&unit].totals.clone();
    assert_eq!(stored, repaired);
    assert!(!stored.has_empty_buckets());
    let fresh = UnitKey::new(&policy, "440398");
    assert!(p.stats.repair_unit(&fresh, &delta, 0, Utc::now()).await.unwrap(), "a unit never counted has version 0");
    let r = RefWrite { key: unit.clone(), company_id: "C9".into(), old: 5, new: 1 };
    assert!(!p.stats.repair_ref(&r).await.unwrap(), "the stored count is 0, not 5");
    assert!(p.stats.repair_ref(&RefWrite { old: 0, ..r }).await.unwrap());
    assert_eq!(p.stats.all_refs(&policy).await.unwrap()[&("440300".to_string(), "C9".to_string())], 1);
}

/// A batch in `building`, as `start_batch` makes it.
pub fn building_batch(id: &str, policy: &str, district: &str, by: &str) -> subsidy_core::payout::Batch {
    use subsidy_core::money::Fen;
    use subsidy_core::payout::{Batch, BatchState};
    Batch {
        id: id.into(),
        policy_id: policy.into(),
        district: district.into(),
        state: BatchState::Building,
        version: 1,
        note: None,
        created_by: by.into(),
        created_at: Utc::now(),
        released_by: None,
        released_at: None,
        line_count: 0,
        total: Fen::ZERO,
        paid_count: 0,
        paid: Fen::ZERO,
        failed_count: 0,
        failed: Fen::ZERO,
        left_out_for_budget: 0,
        updated_at: Utc::now(),
        audit_seq: 1,
        audit_head: GENESIS.into(),
        sealed: false,
        builders: vec![by.into()],
    }
}

fn batch_audit(id: &str, c: &Company) -> AuditEntry {
    AuditEntry::next(
        &AUDIT_KEY,
        &format!("batch:{id}"),
        1,
        GENESIS,
        Utc::now(),
        &actor(c),
        "create_batch",
        None,
        "building",
        None,
    )
}

pub async fn claims_and_settlements_are_conditional_and_keep_the_budget(p: &Ports) {
    use subsidy_core::money::Fen;
    use subsidy_core::payout::*;
    let c = company(&uid("owner"), "91440300MA5D9C007");
    let pr = project(&c, "付款", "440304001020");
    let (a, audit) = draft(&c, &pr);
    p.applications.create_application(&a, &audit).await.unwrap();
    let (approved, audit2) = moved(&a, State::Approved, &c);
    p.applications.update_application(&approved, 1, &audit2, ClaimChange::Keep).await.unwrap();
    let policy = uid("pol");
    let district = "440304";
    let allocated = Fen::new(150_000).unwrap();
    let write = |app, expected_version, audit| AppWrite { app, expected_version, audit };
    let key = |policy_id| BudgetKey { policy_id, district };
    let b = p.payout.budget(&policy, district, allocated).await.unwrap();
    assert_eq!((b.allocated, b.remaining, b.committed), (allocated, allocated, Fen::ZERO));

    let batch_id = uid("B");
    let batch = building_batch(&batch_id, &policy, district, &c.owner);
    p.payout.create_batch(&batch, &batch_audit(&batch_id, &c)).await.unwrap();
    let line = |id: &str, amount: i64| PaymentLine {
        id: id.into(),
        batch_id: batch_id.clone(),
        application_id: a.id.clone(),
        company_name: "契约物业".into(),
        credit_code: c.profile.credit_code.to_string(),
        project_name: "付款".into(),
        payee: c.profile.bank_account.clone(),
        amount: Fen::new(amount).unwrap(),
        status: LineStatus::Pending,
        reason: None,
        revises: None,
        created_at: Utc::now(),
        settled_at: None,
    };
    let (claimed, claim_audit) = moved(&approved, State::InPaymentBatch, &c);
    // More than the budget: refused, nothing written.
    assert_eq!(
        p.payout.claim(write(&claimed, 2, &claim_audit), &line("L0", 200_000), key(&policy), allocated).await,
        Err(ClaimError::OverBudget)
    );
    assert_eq!(p.applications.get_application(&a.id).await.unwrap().unwrap().state, State::Approved);
    assert_eq!(p.payout.get_line(&batch_id, "L0").await.unwrap(), None);
    p.payout.claim(write(&claimed, 2, &claim_audit), &line("L1", 100_000), key(&policy), allocated).await.unwrap();
    // A second claim on the same version: another batch got there first.
    assert_eq!(
        p.payout.claim(write(&claimed, 2, &claim_audit), &line("L2", 100), key(&policy), allocated).await,
        Err(ClaimError::Moved)
    );
    let b = p.payout.budget(&policy, district, allocated).await.unwrap();
    assert_eq!((b.committed.fen(), b.remaining.fen()), (100_000, 50_000));

    // A sealed batch, a ready one and a missing one take no line: the
    // claim is refused whole, whatever else holds.
    let pr2 = project(&c, "付款二", "440304001020");
    let (a2, a2_audit) = draft(&c, &pr2);
    p.applications.create_application(&a2, &a2_audit).await.unwrap();
    let (approved2, approved2_audit) = moved(&a2, State::Approved, &c);
    p.applications.update_application(&approved2, 1, &approved2_audit, ClaimChange::Keep).await.unwrap();
    let (claimed2, claim2_audit) = moved(&approved2, State::InPaymentBatch, &c);
    let sealed = subsidy_core::payout::Batch { sealed: true, version: 2, ..batch.clone() };
    p.payout.update_batch(&sealed, 1, None).await.unwrap();
    let ready = subsidy_core::payout::Batch { state: BatchState::Ready, version: 3, ..sealed.clone() };
    let other = |id: &str| PaymentLine { application_id: a2.id.clone(), ..line(id, 10) };
    for (when, b) in [("sealed", None), ("ready", Some(&ready))] {
        if let Some(b) = b {
            p.payout.update_batch(b, b.version - 1, None).await.unwrap();
        }
        assert_eq!(
            p.payout.claim(write(&claimed2, 2, &claim2_audit), &other("L3"), key(&policy), allocated).await,
            Err(ClaimError::Closed),
            "{when}"
        );
    }
    let nowhere = PaymentLine { batch_id: uid("B"), ..other("L4") };
    assert_eq!(
        p.payout.claim(write(&claimed2, 2, &claim2_audit), &nowhere, key(&policy), allocated).await,
        Err(ClaimError::Closed),
        "a batch that does not exist"
    );
    assert_eq!(p.applications.get_application(&a2.id).await.unwrap().unwrap().state, State::Approved);
    assert_eq!(p.payout.get_line(&batch_id, "L3").await.unwrap(), None);
    let b = p.payout.budget(&policy, district, allocated).await.unwrap();
    assert_eq!((b.committed.fen(), b.remaining.fen()), (100_000, 50_000), "the budget did not move");

    let (paid, paid_audit) = moved(&claimed, State::Paid, &c);
    let settled = PaymentLine { status: LineStatus::Paid, ..line("L1", 100_000) };
    let to_paid = BudgetMove { committed: -100_000, paid: 100_000, remaining: 0 };
    p.payout.settle(write(&paid, 3, &paid_audit), &settled, key(&policy), to_paid).await.unwrap();
    assert_eq!(
        p.payout.settle(write(&paid, 3, &paid_audit), &settled, key(&policy), to_paid).await,
        Err(ClaimError::Moved),
        "a settled line cannot be settled again"
    );
    let b = p.payout.budget(&policy, district, allocated).await.unwrap();
    assert_eq!((b.committed.fen(), b.paid.fen(), b.remaining.fen()), (0, 100_000, 50_000));
    assert_eq!(p.payout.get_line(&batch_id, "L1").await.unwrap().unwrap().status, LineStatus::Paid);
    let lines = p.payout.lines_of(&batch_id, &PageRequest::first(10)).await.unwrap();
    assert_eq!(lines.items.len(), 1);
}

/// Batches and payment lines page through every item, each exactly once,
/// whatever the page size: a batch's totals, its file and its results all
/// walk its lines page by page.
pub async fn batches_and_lines_page_through_every_item(p: &Ports) {
    use std::collections::BTreeSet;
    use subsidy_core::money::Fen;
    use subsidy_core::payout::{AppWrite, BudgetKey, LineStatus, PaymentLine};
    let c = company(&uid("owner"), "91440300MA5D9C00P");
    let policy = uid("pol");
    let district = "440304";
    let allocated = Fen::new(100_000_000).unwrap();
    let batch = |id: &str| building_batch(id, &policy, district, &c.owner);
    let mut batch_ids = BTreeSet::new();
    for _ in 0..5 {
        let id = uid("B");
        let audit = AuditEntry::next(
            &AUDIT_KEY,
            &format!("batch:{id}"),
            1,
            GENESIS,
            Utc::now(),
            &actor(&c),
            "create_batch",
            None,
            "building",
            None,
        );
        p.payout.create_batch(&batch(&id), &audit).await.unwrap();
        batch_ids.insert(id);
    }
    let batch_id = batch_ids.iter().next().unwrap().clone();
    let mut line_ids = BTreeSet::new();
    for i in 0..7 {
        let pr = project(&c, &format!("分页{i}"), "440304001020");
        let (a, audit) = draft(&c, &pr);
        p.applications.create_application(&a, &audit).await.unwrap();
        let (approved, audit2) = moved(&a, State::Approved, &c);
        p.applications.update_application(&approved, 1, &audit2, ClaimChange::Keep).await.unwrap();
        let (claimed, claim_audit) = moved(&approved, State::InPaymentBatch, &c);
        let line = PaymentLine {
            id: uid("L"),
            batch_id: batch_id.clone(),
            application_id: a.id.clone(),
            company_name: "契约物业".into(),
            credit_code: c.profile.credit_code.to_string(),
            project_name: format!("分页{i}"),
            payee: c.profile.bank_account.clone(),
            amount: Fen::new(100 + i).unwrap(),
            status: LineStatus::Pending,
            reason: None,
            revises: None,
            created_at: Utc::now(),
            settled_at: None,
        };
        let write = AppWrite { app: &claimed, expected_version: 2, audit: &claim_audit };
        p.payout.claim(write, &line, BudgetKey { policy_id: &policy, district }, allocated).await.unwrap();
        line_ids.insert(line.id);
    }

    for size in [1, 2, 3, 100] {
        let mut seen = Vec::new();
        let mut page = PageRequest::first(size);
        loop {
            let got = p.payout.lines_of(&batch_id, &page).await.unwrap();
            assert!(got.items.len() <= size as usize);
            seen.extend(got.items.into_iter().map(|l| l.id));
            match got.next_cursor {
                Some(cursor) => page.cursor = Some(cursor),
                None => break,
            }
            assert!(seen.len() <= 7, "paging lines of {size} does not end: {seen:?}");
        }
        assert_eq!(seen.len(), 7, "pages of {size}: every line once");
        assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), line_ids, "pages of {size}");

        let mut seen = Vec::new();
        let mut page = PageRequest::first(size);
        loop {
            let got = p.payout.batches_of(&policy, district, &page).await.unwrap();
            seen.extend(got.items.into_iter().map(|b| b.id));
            match got.next_cursor {
                Some(cursor) => page.cursor = Some(cursor),
                None => break,
            }
            assert!(seen.len() <= 5, "paging batches of {size} does not end: {seen:?}");
        }
        assert_eq!(seen.len(), 5, "pages of {size}: every batch once");
        assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), batch_ids, "pages of {size}");
        // Newest first.
        assert_eq!(seen, batch_ids.iter().rev().cloned().collect::<Vec<_>>());
    }
}

/// Every contract check, in order.
pub async fn run_all(p: &Ports) {
    policies_round_trip(p).await;
    companies_are_unique_per_owner_and_credit_code_and_versioned(p).await;
    projects_page_by_owner_and_update_conditionally(p).await;
    one_live_application_holds_a_project_claim(p).await;
    a_stale_update_writes_nothing(p).await;
    scopes_and_inboxes_list_the_right_applications(p).await;
    documents_and_prechecks_are_idempotent(p).await;
    idempotency_keys_lease_replay_and_refuse_mismatches(p).await;
    stats_commits_are_all_or_nothing_and_conditional(p).await;
    claims_and_settlements_are_conditional_and_keep_the_budget(p).await;
    batches_and_lines_page_through_every_item(p).await;
    the_staff_directory_is_versioned_audited_and_pages_in_sub_order(p).await;
    notices_are_kept_once_per_id_page_newest_first_and_count_unread(p).await;
    an_sms_is_claimed_by_one_sender_at_a_time_and_once_sent_never_again(p).await;
    step_times_are_kept_once_per_change_by_unit_and_city(p).await;
    a_reviewers_latest_opening_is_kept_per_application(p).await;
}

/// Bulk approval's spot checks read when each reviewer last opened each
/// application: one entry per (reviewer, application), the latest kept
/// (an earlier opening recorded late does not move it back), none for
/// what was never opened, and nothing shared between reviewers.
pub async fn a_reviewers_latest_opening_is_kept_per_application(p: &Ports) {
    let (r1, r2) = (uid("reviewer"), uid("reviewer"));
    let (a, b, never) = (uid("A"), uid("B"), uid("N"));
    let t0 = Utc::now() - chrono::TimeDelta::hours(2);
    let t1 = t0 + chrono::TimeDelta::minutes(30);
    p.views.record_view(&r1, &a, t0).await.unwrap();
    p.views.record_view(&r1, &a, t1).await.unwrap();
    p.views.record_view(&r1, &a, t0 - chrono::TimeDelta::minutes(5)).await.unwrap();
    p.views.record_view(&r2, &b, t1).await.unwrap();
    let seen = p.views.views_of(&r1, &[a.clone(), b.clone(), never.clone()]).await.unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[&a].timestamp_micros(), t1.timestamp_micros(), "the latest opening");
    let theirs = p.views.views_of(&r2, &[a.clone(), b.clone()]).await.unwrap();
    assert_eq!(theirs.keys().collect::<Vec<_>>(), vec![&b]);
    assert!(p.views.views_of(&r1, &[]).await.unwrap().is_empty());
}

async fn an_sms_is_claimed_by_one_sender_at_a_time_and_once_sent_never_again(p: &Ports) {
    use subsidy_core::notify::Recipient;
    use subsidy_core::notify::sms::SmsJob;
    let to = Recipient::Manager(Phone::parse("13912340000").unwrap());
    let queued = notice(to.clone(), 1_583_100_000_000, &format!("{}.2.approved", uid("S")));
    p.notices.put_notices(std::slice::from_ref(&queued)).await.unwrap();
    if let Some(q) = &p.sms_queue {
        q.enqueue(&[SmsJob { to: to.key(), notice: queued.notice.clone(), failures: 0 }]).await.unwrap();
    }
    let (key, id) = (to.key(), queued.notice.id.clone());
    let t0 = Utc::now();
    let lease = Duration::seconds(120);
    let claim = |at: chrono::DateTime<Utc>| p.sms.claim_sms(&key, &id, at, at + lease);

    assert!(!p.sms.claim_sms(&key, "0000000000000-absent", t0, t0 + lease).await.unwrap(), "nothing queued");
    assert!(claim(t0).await.unwrap(), "the first sender");
    assert!(!claim(t0 + Duration::seconds(10)).await.unwrap(), "held by the first");
    assert!(claim(t0 + Duration::seconds(121)).await.unwrap(), "a lease run out is free (its sender stopped)");
    p.sms.release_sms(&key, &id).await.unwrap();
    assert!(claim(t0 + Duration::seconds(122)).await.unwrap(), "released after a failed send");
    p.sms.sms_sent(&key, &id, t0 + Duration::seconds(123)).await.unwrap();
    p.sms.release_sms(&key, &id).await.unwrap();
    assert!(!claim(t0 + Duration::days(1)).await.unwrap(), "sent: never again, lease or not");
}

async fn step_times_are_kept_once_per_change_by_unit_and_city(p: &Ports) {
    use subsidy_core::eta::{Sample, Step};
    let (a, b) = (uid("eta-a-"), uid("eta-b-"));
    let day = chrono::NaiveDate::from_ymd_opt(2020, 3, 20).unwrap();
    let sample = |unit: &str, cause: &str, day: chrono::NaiveDate, working_days: u32| Sample {
        unit: unit.into(),
        step: Step::Finance,
        day,
        cause: cause.into(),
        working_days,
    };
    let samples = vec![
        sample(&a, "A1.5", day, 1),
        sample(&a, "A2.5", day, 2),
        sample(&a, "A3.5", day - Duration::days(1), 2),
        sample(&b, "B1.5", day, 5),
        // Before the window.
        sample(&a, "A4.5", day - Duration::days(20), 9),
    ];
    p.eta.put_eta_samples(&samples).await.unwrap();
    // Delivered again, and one in a second delivery: nothing counts twice.
    p.eta.put_eta_samples(&samples[1..3]).await.unwrap();
    p.eta.put_eta_samples(&samples).await.unwrap();
    let since = day - Duration::days(13);
    let h = |pairs: &[(u32, u64)]| pairs.iter().copied().collect::<subsidy_core::eta::Histogram>();
    assert_eq!(p.eta.eta_histogram(Some(&a), Step::Finance, since).await.unwrap(), h(&[(1, 1), (2, 2)]));
    assert_eq!(p.eta.eta_histogram(Some(&b), Step::Finance, since).await.unwrap(), h(&[(5, 1)]));
    assert_eq!(p.eta.eta_histogram(None, Step::Finance, since).await.unwrap(), h(&[(1, 1), (2, 2), (5, 1)]));
    // Another step, another unit, a later window: none of these.
    assert!(p.eta.eta_histogram(Some(&a), Step::District, since).await.unwrap().is_empty());
    assert!(p.eta.eta_histogram(Some(&uid("eta-c-")), Step::Finance, since).await.unwrap().is_empty());
    let later = p.eta.eta_histogram(Some(&a), Step::Finance, day).await.unwrap();
    assert_eq!(later, h(&[(1, 1), (2, 1)]), "only what ended on or after the day");
    // The same application again at the step, after a return: a new sample.
    p.eta.put_eta_samples(&[sample(&a, "A1.9", day, 3)]).await.unwrap();
    assert_eq!(p.eta.eta_histogram(Some(&a), Step::Finance, since).await.unwrap(), h(&[(1, 1), (2, 2), (3, 1)]));
}

fn notice(to: subsidy_core::notify::Recipient, millis: i64, cause: &str) -> subsidy_core::notify::Addressed {
    use subsidy_core::notify::*;
    let at = chrono::DateTime::from_timestamp_millis(millis).unwrap();
    Addressed {
        to,
        notice: Notice {
            id: notice_id(at, cause),
            kind: NoticeKind::Approved,
            application_id: Some(cause.into()),
            version: Some(3),
            params: [("amount".to_string(), "1.00".to_string())].into(),
            at,
            read_at: None,
        },
    }
}

async fn notices_are_kept_once_per_id_page_newest_first_and_count_unread(p: &Ports) {
    use subsidy_core::notify::Recipient;
    let me = Recipient::Company(uid("notice-owner-"));
    let other = Recipient::Manager(Phone::parse("13912345678").unwrap());
    let mine: Vec<_> = (0..5).map(|i| notice(me.clone(), 1_583_000_000_000 + i, &format!("A{i}.3.approved"))).collect();
    assert_eq!(p.notices.put_notices(&mine).await.unwrap(), 5);
    assert_eq!(p.notices.put_notices(&[notice(other.clone(), 1_583_000_000_000, "B.1.paid")]).await.unwrap(), 1);
    assert_eq!(p.notices.unread_notices(&me.key()).await.unwrap(), 5);

    // Read one, then deliver everything again: nothing new, and the read
    // mark (with its first time) stays.
    let t1 = Utc::now();
    let read = p.notices.mark_notice_read(&me.key(), &mine[1].notice.id, t1).await.unwrap().unwrap();
    assert_eq!(read.read_at.map(|t| t.timestamp_millis()), Some(t1.timestamp_millis()));
    let again = p.notices.mark_notice_read(&me.key(), &mine[1].notice.id, t1 + Duration::hours(1)).await.unwrap();
    assert_eq!(again.unwrap().read_at.map(|t| t.timestamp_millis()), Some(t1.timestamp_millis()), "first read kept");
    assert_eq!(p.notices.put_notices(&mine).await.unwrap(), 0, "a redelivery stores nothing new");
    assert_eq!(p.notices.unread_notices(&me.key()).await.unwrap(), 4);

    // Newest first, two at a time, every notice once.
    let mut seen = Vec::new();
    let mut page = PageRequest::first(2);
    loop {
        let got = p.notices.notices(&me.key(), &page).await.unwrap();
        assert!(got.items.len() <= 2);
        seen.extend(got.items.iter().map(|n| (n.id.clone(), n.read_at.is_some())));
        match got.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    let expected: Vec<_> = mine.iter().rev().map(|a| (a.notice.id.clone(), a.notice.id == mine[1].notice.id)).collect();
    assert_eq!(seen, expected);

    // Another reader's notice is not found by id, and is not counted.
    let theirs = p.notices.notices(&other.key(), &PageRequest::first(10)).await.unwrap().items;
    assert_eq!(theirs.len(), 1);
    assert_eq!(p.notices.mark_notice_read(&me.key(), &theirs[0].id, t1).await.unwrap(), None);
    assert_eq!(p.notices.unread_notices(&other.key()).await.unwrap(), 1, "still unread");
    assert_eq!(p.notices.mark_notice_read(&me.key(), "0000000000000-absent", t1).await.unwrap(), None);
    // A cursor this store did not issue is refused.
    let bad = PageRequest { limit: 2, cursor: Some("!!not-a-cursor".into()) };
    assert!(matches!(p.notices.notices(&me.key(), &bad).await, Err(StoreError::BadCursor)));
}

fn staff_member(sub: &str, role: Role, unit: &str, version: u64) -> subsidy_core::identity::staff::StaffMember {
    subsidy_core::identity::staff::StaffMember {
        sub: sub.into(),
        name: format!("员工{sub}"),
        assignments: vec![subsidy_core::identity::staff::Assignment { role, unit: unit.into() }],
        active: true,
        version,
        created_at: Utc::now(),
        updated_at: Utc::now(),
        updated_by: "contract".into(),
        audit_seq: version,
        audit_head: GENESIS.into(),
    }
}

fn staff_audit(m: &subsidy_core::identity::staff::StaffMember, prev: &str) -> AuditEntry {
    let admin = Actor {
        user_id: "admin".into(),
        role: Role::Admin,
        unit: Some("440300".into()),
        phone: None,
        name: None,
        credit_code: None,
    };
    AuditEntry::next(
        &AUDIT_KEY,
        &m.audit_subject(),
        m.audit_seq,
        prev,
        Utc::now(),
        &admin,
        "staff_update",
        None,
        "active",
        None,
    )
}

/// Creates are exclusive, replaces conditional on the version, each write
/// appends its audit entry in the same transaction (a refused write none),
/// and lists page through every match in `sub` order.
pub async fn the_staff_directory_is_versioned_audited_and_pages_in_sub_order(p: &Ports) {
    use subsidy_core::identity::staff::StaffFilter;
    let prefix = uid("S");
    let sub = |i: usize| format!("{prefix}-{i:02}");
    let first = staff_member(&sub(0), Role::Community, "440304001020", 1);
    let a1 = staff_audit(&first, GENESIS);
    p.staff.put_staff(&first, 0, &a1).await.unwrap();
    assert_eq!(p.staff.get_staff(&sub(0)).await.unwrap(), Some(first.clone()));
    assert_eq!(p.staff.put_staff(&first, 0, &staff_audit(&first, GENESIS)).await, Err(StoreError::AlreadyExists));
    let second =
        subsidy_core::identity::staff::StaffMember { active: false, version: 2, audit_seq: 2, ..first.clone() };
    let a2 = staff_audit(&second, &a1.hash);
    p.staff.put_staff(&second, 1, &a2).await.unwrap();
    let stale =
        subsidy_core::identity::staff::StaffMember { version: 2, audit_seq: 2, name: "陈旧".into(), ..first.clone() };
    assert_eq!(
        p.staff.put_staff(&stale, 1, &staff_audit(&stale, &a1.hash)).await,
        Err(StoreError::VersionConflict { current: 2 })
    );
    let missing = staff_member(&sub(99), Role::City, "440300", 2);
    assert_eq!(p.staff.put_staff(&missing, 1, &staff_audit(&missing, GENESIS)).await, Err(StoreError::NotFound));
    assert_eq!(p.staff.get_staff(&sub(99)).await.unwrap(), None);
    assert!(!p.staff.get_staff(&sub(0)).await.unwrap().unwrap().active);
    let trail = p.applications.audit_trail(&first.audit_subject()).await.unwrap();
    assert_eq!(trail, vec![a1, a2], "one entry per accepted write, none for the refused ones");

    // Twelve more; every third a district reviewer of 福田区.
    for i in 1..=12 {
        let (role, unit) = if i % 3 == 0 { (Role::District, "440304") } else { (Role::Community, "440304001023") };
        let m = staff_member(&sub(i), role, unit, 1);
        p.staff.put_staff(&m, 0, &staff_audit(&m, GENESIS)).await.unwrap();
    }
    let filter = StaffFilter { role: Some(Role::District), text: Some(prefix.to_lowercase()), ..Default::default() };
    let mut page = PageRequest::first(2);
    let mut seen = Vec::new();
    loop {
        let got = p.staff.list_staff(&filter, &page).await.unwrap();
        assert!(got.items.len() <= 2);
        seen.extend(got.items.iter().map(|m| m.sub.clone()));
        match got.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, vec![sub(3), sub(6), sub(9), sub(12)], "every match once, in sub order");
    let bad = PageRequest { limit: 2, cursor: Some("not-a-cursor".into()) };
    assert!(p.staff.list_staff(&filter, &bad).await.is_err(), "a foreign cursor is refused");
}
