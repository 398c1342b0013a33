//! **Capability: notifications.** Owns the in-app notice, who receives it,
//! and which notices a change to an application produces ([`notices_of`]);
//! the use cases are [`service::Notices`]. It reads no other capability's
//! store: a notice is derived from the change record alone, so the stream
//! consumer (AWS) and the outbox dispatcher (standalone) produce the same
//! notices from the same records.
//!
//! **Exactly once.** A notice's id is derived from what caused it: the time
//! of the write, the application, its version and the event. A redelivered
//! change derives the same ids, and the store keeps a notice it already
//! holds as it is (read or not), so every (application, version, event)
//! gives one notice however often its record arrives.

pub mod service;
pub mod sms;

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::application::dispatch::ChangeRecord;
use crate::application::{Application, DecisionKind, State};
use crate::error::Error;
use crate::fields::Phone;
use crate::identity::staff::{StaffFilter, StaffStore};
use crate::identity::{Actor, Role};
use crate::ports::{Page, PageRequest, StoreResult};

/// What a notice tells its reader. The web client words each kind in the
/// reader's language from [`Notice::params`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// Manager: an area waits for confirmation (项目面积确认).
    AreaAwaitingConfirmation,
    /// Company: the manager confirmed the area; review begins.
    AreaConfirmed,
    /// Company: the manager disputed the area, with the reason.
    AreaDisputed,
    /// Company: a reviewer returned it for correction (退回补正), with the reason.
    Returned,
    /// Company: a reviewer rejected it, with the reason.
    Rejected,
    /// Company: the district approved it, with the amount.
    Approved,
    /// Company: the bank reported the payment made.
    Paid,
    /// Company: the bank reported the payment failed; the company checks
    /// its bank account and asks for a change if it is wrong.
    PaymentFailed,
    /// Company: the district verified a bank account change (or the
    /// account after a failed payment); payment can go ahead.
    BankAccountVerified,
    /// Whoever acts at the step now (the manager, the unit's reviewers, the
    /// district's finance): the company urged it (催办), past its time limit.
    Urged,
    /// A reviewer, once a day: how many applications arrived at their tier
    /// in their unit over the last day (`arrivals`), and how many wait
    /// there past their time limit (`overdue`); `date` is the China date.
    ReviewDigest,
    /// A reviewer of the unit above, once a day (escalation): how many
    /// applications wait at the tier below, inside their unit, overdue by
    /// more than `days` working days (`count`, `tier` the tier below).
    OverdueBelow,
    /// The district's finance, except whoever built it: a batch is ready
    /// and waits for a second person to release it (`batch`, `lines`,
    /// `amount`).
    BatchAwaitingRelease,
    /// The district's finance: a results file from the bank reported
    /// payments failed (`batch`, `failed` of them, `amount` in all); the
    /// companies are told, and the lines wait to be paid again.
    ResultsFailed,
    /// The district's finance: a recovery (追回) was opened on a paid
    /// application and waits for a finance officer to confirm it
    /// (`amount`, `company`).
    RecoveryOpened,
    /// The district's reviewers: an objection (异议) to a public notice
    /// holds an application until one of them resolves it (`company`;
    /// never who objected).
    ObjectionFiled,
}

impl NoticeKind {
    pub const ALL: [NoticeKind; 16] = [
        NoticeKind::AreaAwaitingConfirmation,
        NoticeKind::AreaConfirmed,
        NoticeKind::AreaDisputed,
        NoticeKind::Returned,
        NoticeKind::Rejected,
        NoticeKind::Approved,
        NoticeKind::Paid,
        NoticeKind::PaymentFailed,
        NoticeKind::BankAccountVerified,
        NoticeKind::Urged,
        NoticeKind::ReviewDigest,
        NoticeKind::OverdueBelow,
        NoticeKind::BatchAwaitingRelease,
        NoticeKind::ResultsFailed,
        NoticeKind::RecoveryOpened,
        NoticeKind::ObjectionFiled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::AreaAwaitingConfirmation => "area_awaiting_confirmation",
            NoticeKind::AreaConfirmed => "area_confirmed",
            NoticeKind::AreaDisputed => "area_disputed",
            NoticeKind::Returned => "returned",
            NoticeKind::Rejected => "rejected",
            NoticeKind::Approved => "approved",
            NoticeKind::Paid => "paid",
            NoticeKind::PaymentFailed => "payment_failed",
            NoticeKind::BankAccountVerified => "bank_account_verified",
            NoticeKind::Urged => "urged",
            NoticeKind::ReviewDigest => "review_digest",
            NoticeKind::OverdueBelow => "overdue_below",
            NoticeKind::BatchAwaitingRelease => "batch_awaiting_release",
            NoticeKind::ResultsFailed => "results_failed",
            NoticeKind::RecoveryOpened => "recovery_opened",
            NoticeKind::ObjectionFiled => "objection_filed",
        }
    }
}

impl NoticeKind {
    /// The values a notice of this kind carries ([`Notice::params`]): what
    /// its wording, and an SMS template, may use.
    pub fn variables(self) -> &'static [&'static str] {
        match self {
            NoticeKind::AreaAwaitingConfirmation => &["project", "area", "company"],
            NoticeKind::AreaConfirmed => &["project", "area"],
            NoticeKind::AreaDisputed => &["project", "reason"],
            NoticeKind::Returned | NoticeKind::Rejected => &["project", "reason", "by"],
            NoticeKind::Approved | NoticeKind::Paid => &["project", "amount"],
            NoticeKind::PaymentFailed => &["project", "reason"],
            NoticeKind::BankAccountVerified => &["project"],
            NoticeKind::Urged => &["project", "company"],
            NoticeKind::ReviewDigest => &["date", "tier", "arrivals", "overdue"],
            NoticeKind::OverdueBelow => &["date", "tier", "count", "days"],
            NoticeKind::BatchAwaitingRelease => &["batch", "lines", "amount"],
            NoticeKind::ResultsFailed => &["batch", "failed", "amount"],
            NoticeKind::RecoveryOpened => &["project", "amount", "company"],
            NoticeKind::ObjectionFiled => &["project", "company"],
        }
    }
}

impl fmt::Display for NoticeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who a notice is for: a company's account, a project manager (by the
/// verified mobile number on the project, who may not have signed in yet),
/// or a staff member. `Debug` and `Display` mask the number.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Recipient {
    Company(String),
    Manager(Phone),
    Staff(String),
}

impl Recipient {
    /// The reader the caller is, in the role they act in now.
    pub fn of(actor: &Actor) -> Result<Recipient, Error> {
        match actor.role {
            Role::Company => Ok(Recipient::Company(actor.user_id.clone())),
            Role::ProjectManager => match &actor.phone {
                Some(p) => Ok(Recipient::Manager(p.clone())),
                None => Err(Error::PhoneNotVerified),
            },
            _ => Ok(Recipient::Staff(actor.user_id.clone())),
        }
    }

    /// The recipient a [`Recipient::key`] names.
    pub fn from_key(key: &str) -> Option<Recipient> {
        let (class, id) = key.split_once(':')?;
        if id.is_empty() {
            return None;
        }
        match class {
            "c" => Some(Recipient::Company(id.to_string())),
            "m" => Phone::parse(id).ok().map(Recipient::Manager),
            "s" => Some(Recipient::Staff(id.to_string())),
            _ => None,
        }
    }

    /// The storage key of the recipient's notices. It holds a manager's
    /// number (the store's partition); it is never logged.
    pub fn key(&self) -> String {
        match self {
            Recipient::Company(u) => format!("c:{u}"),
            Recipient::Manager(p) => format!("m:{}", p.as_str()),
            Recipient::Staff(u) => format!("s:{u}"),
        }
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Recipient::Company(u) => write!(f, "Company({u})"),
            Recipient::Manager(p) => write!(f, "Manager({})", p.masked()),
            Recipient::Staff(u) => write!(f, "Staff({u})"),
        }
    }
}

/// One in-app notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notice {
    /// Unique per recipient, derived from its cause (see the module docs);
    /// ids sort by time, so newest first is descending id order.
    pub id: String,
    pub kind: NoticeKind,
    #[serde(default)]
    pub application_id: Option<String>,
    /// The application version whose write caused it.
    #[serde(default)]
    pub version: Option<u64>,
    /// The values its wording fills in: `project`, `area` (m², two
    /// decimals), `amount` (yuan, two decimals), `reason`, `by` (the role
    /// that decided).
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// When what it tells of happened.
    pub at: DateTime<Utc>,
    /// When its reader first opened it.
    #[serde(default)]
    pub read_at: Option<DateTime<Utc>>,
}

/// A notice and its recipient, as the consumer stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addressed {
    pub to: Recipient,
    pub notice: Notice,
}

/// Where notices are kept, per recipient (by [`Recipient::key`]).
#[async_trait::async_trait]
pub trait NoticeStore: Send + Sync {
    /// Stores each notice its recipient does not hold yet (by id) and
    /// leaves one already held as it is, read or not. Returns how many
    /// were new. Idempotent.
    async fn put_notices(&self, notices: &[Addressed]) -> StoreResult<usize>;
    /// The recipient's notices, newest first, a page at a time.
    async fn notices(&self, recipient: &str, page: &PageRequest) -> StoreResult<Page<Notice>>;
    /// How many of the recipient's notices are unread.
    async fn unread_notices(&self, recipient: &str) -> StoreResult<u64>;
    /// Marks the recipient's notice read at `at`, keeping an earlier read
    /// time; the notice as it now stands, or `None` if the recipient has
    /// no notice with this id.
    async fn mark_notice_read(&self, recipient: &str, id: &str, at: DateTime<Utc>) -> StoreResult<Option<Notice>>;
}

/// Stores the notices these changes produce (the consumer's whole work, on
/// both backends); a change seen before stores nothing new. A notice for a
/// unit's staff goes to each active member who holds that role there, as
/// the directory stands now. Returns how many notices were new.
pub async fn record(store: &dyn NoticeStore, staff: &dyn StaffStore, changes: &[ChangeRecord]) -> StoreResult<usize> {
    let mut notices: Vec<_> = changes.iter().flat_map(notices_of).collect();
    let mut members: BTreeMap<(Role, String), Vec<String>> = BTreeMap::new();
    for (role, unit, notice) in changes.iter().flat_map(staff_notices_of) {
        let key = (role, unit);
        if !members.contains_key(&key) {
            let found = holders(staff, key.0, &key.1).await?;
            members.insert(key.clone(), found);
        }
        for sub in &members[&key] {
            notices.push(Addressed { to: Recipient::Staff(sub.clone()), notice: notice.clone() });
        }
    }
    if notices.is_empty() {
        return Ok(0);
    }
    let new = store.put_notices(&notices).await?;
    tracing::debug!(derived = notices.len(), new, "notices recorded");
    Ok(new)
}

/// The SMS jobs these changes produce under `settings`: a pure function of
/// the changes, so a redelivery queues the same jobs (which the queue and
/// the sender's ledger de-duplicate).
pub fn sms_jobs(settings: &sms::SmsSettings, changes: &[ChangeRecord]) -> Vec<sms::SmsJob> {
    let notices: Vec<_> = changes.iter().flat_map(notices_of).collect();
    settings.jobs(&notices)
}

/// The active staff who hold `role` at `unit` (that very assignment).
async fn holders(staff: &dyn StaffStore, role: Role, unit: &str) -> StoreResult<Vec<String>> {
    let filter = StaffFilter { units: Some([unit.to_string()].into()), role: Some(role), ..Default::default() };
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    let mut out = Vec::new();
    loop {
        let got = staff.list_staff(&filter, &page).await?;
        out.extend(
            got.items
                .into_iter()
                .filter(|m| m.active && m.assignments.iter().any(|a| a.role == role && a.unit == unit))
                .map(|m| m.sub),
        );
        match got.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => return Ok(out),
        }
    }
}

/// The notices a change produces for a unit's staff, as (role, unit,
/// notice): an urge (催办) at a review tier goes to that tier's reviewers
/// of the application's unit there, and one after approval to the
/// district's finance; a recovery (追回) opened, to the district's
/// finance, one of whom must confirm it; an objection (异议) to a public
/// notice, to the district's reviewers, one of whom must resolve it.
pub fn staff_notices_of(change: &ChangeRecord) -> Vec<(Role, String, Notice)> {
    let new = &change.new;
    let objections = |a: &Application| a.notice.as_ref().map_or(0, |n| n.objections.len());
    if change.old.as_ref().is_some_and(|o| objections(new) > objections(o)) {
        let extra = [("company", new.company_name.clone())];
        return vec![(
            Role::District,
            new.jurisdiction.district.clone(),
            notice(new, NoticeKind::ObjectionFiled, &extra),
        )];
    }
    let opened = new.recovery.is_some() && change.old.as_ref().is_some_and(|o| o.recovery.is_none());
    if opened {
        let amount = new.recovery.as_ref().map(|r| r.amount.to_string()).unwrap_or_default();
        let extra = [("amount", amount), ("company", new.company_name.clone())];
        return vec![(
            Role::Finance,
            new.jurisdiction.district.clone(),
            notice(new, NoticeKind::RecoveryOpened, &extra),
        )];
    }
    if !urged(change) {
        return Vec::new();
    }
    let (role, unit) = match (new.state.tier(), new.state) {
        (Some(tier), _) => (tier.role(), new.jurisdiction.at(tier.level()).to_string()),
        (None, State::Approved) => (Role::Finance, new.jurisdiction.district.clone()),
        _ => return Vec::new(),
    };
    vec![(role, unit, notice(new, NoticeKind::Urged, &[("company", new.company_name.clone())]))]
}

/// Whether this write is the company's urge.
fn urged(change: &ChangeRecord) -> bool {
    change.new.urged_at.is_some() && change.old.as_ref().map(|o| o.urged_at) != Some(change.new.urged_at)
}

/// The notices one committed change to an application produces: at most
/// one per event, each for the one reader it concerns.
pub fn notices_of(change: &ChangeRecord) -> Vec<Addressed> {
    let new = &change.new;
    let old_state = change.old.as_ref().map(|o| o.state);
    let entered = |s: State| new.state == s && old_state != Some(s);
    let company = || Recipient::Company(new.owner.clone());
    let decision = new.last_decision.as_ref();
    let decided = |k: DecisionKind| decision.is_some_and(|d| d.kind == k);
    let mut out = Vec::new();
    let mut add = |to: Recipient, kind: NoticeKind, extra: &[(&str, String)]| {
        out.push(Addressed { to, notice: notice(new, kind, extra) });
    };
    let reason = || decision.and_then(|d| d.reason.as_ref()).map(|r| r.as_str().to_string()).unwrap_or_default();
    let by = || decision.map(|d| d.role.as_str().to_string()).unwrap_or_default();

    if urged(change) && new.state == State::AwaitingAreaConfirmation {
        add(
            Recipient::Manager(new.project.manager_phone.clone()),
            NoticeKind::Urged,
            &[("company", new.company_name.clone())],
        );
    }
    if entered(State::AwaitingAreaConfirmation) {
        add(
            Recipient::Manager(new.project.manager_phone.clone()),
            NoticeKind::AreaAwaitingConfirmation,
            &[("area", new.claimed_area.to_string()), ("company", new.company_name.clone())],
        );
    }
    if old_state == Some(State::AwaitingAreaConfirmation) && new.state == State::PendingCommunity {
        let area = new.confirmed_area.unwrap_or(new.claimed_area);
        add(company(), NoticeKind::AreaConfirmed, &[("area", area.to_string())]);
    }
    if entered(State::Returned) && decided(DecisionKind::AreaDisputed) {
        add(company(), NoticeKind::AreaDisputed, &[("reason", reason())]);
    }
    if entered(State::Returned) && decided(DecisionKind::Returned) {
        add(company(), NoticeKind::Returned, &[("reason", reason()), ("by", by())]);
    }
    if entered(State::Rejected) && decided(DecisionKind::Rejected) {
        add(company(), NoticeKind::Rejected, &[("reason", reason()), ("by", by())]);
    }
    // The district's 审核: approved, or published first (公示) with its
    // amount decided. The notice's close makes it payable without a word.
    if (entered(State::Approved) || entered(State::InPublicNotice)) && old_state == Some(State::PendingDistrict) {
        let amount = new.approved_amount.map(|a| a.to_string()).unwrap_or_default();
        add(company(), NoticeKind::Approved, &[("amount", amount)]);
    }
    if entered(State::Paid) {
        let amount = new.approved_amount.map(|a| a.to_string()).unwrap_or_default();
        add(company(), NoticeKind::Paid, &[("amount", amount)]);
    }
    if entered(State::PaymentFailed) {
        add(company(), NoticeKind::PaymentFailed, &[("reason", reason())]);
    }
    if let Some(old) = &change.old {
        // A requested change became the payee, or a failed payment's
        // account was verified and the application is payable again. (The
        // company taking back its own request changes no payee.)
        let change_verified = old.payee_change.as_ref().is_some_and(|c| new.payee.as_ref() == Some(&c.account))
            && new.payee_change.is_none();
        let failure_cleared = old.state == State::PaymentFailed && new.state == State::Approved;
        if change_verified || failure_cleared {
            add(company(), NoticeKind::BankAccountVerified, &[]);
        }
    }
    out
}

fn notice(app: &Application, kind: NoticeKind, extra: &[(&str, String)]) -> Notice {
    let mut params = BTreeMap::from([("project".to_string(), app.project.name.as_str().to_string())]);
    params.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
    Notice {
        id: notice_id(app.updated_at, &format!("{}.{}.{}", app.id, app.version, kind.as_str())),
        kind,
        application_id: Some(app.id.clone()),
        version: Some(app.version),
        params,
        at: app.updated_at,
        read_at: None,
    }
}

/// A committed change to a payment batch, as the stream (AWS) or the
/// batch outbox (standalone) carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchChange {
    pub old: Option<crate::payout::Batch>,
    pub new: crate::payout::Batch,
}

/// The notices a change to a batch produces for the district's finance,
/// with whom each is not for: a batch that became ready waits for a second
/// person, so not for anyone who built it (they may not release it); a
/// results file that reported failed payments, for all of them.
pub fn batch_notices_of(change: &BatchChange) -> Vec<(Notice, Vec<String>)> {
    use crate::payout::BatchState;
    let (old, new) = (change.old.as_ref(), &change.new);
    let mut out = Vec::new();
    let batch_notice = |kind: NoticeKind, params: &[(&str, String)]| Notice {
        id: notice_id(new.updated_at, &format!("{}.{}.{}", new.id, new.version, kind.as_str())),
        kind,
        application_id: None,
        version: Some(new.version),
        params: params.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        at: new.updated_at,
        read_at: None,
    };
    if new.state == BatchState::Ready && old.map(|o| o.state) != Some(BatchState::Ready) {
        let mut builders = new.builders.clone();
        builders.push(new.created_by.clone());
        let params =
            [("batch", new.id.clone()), ("lines", new.line_count.to_string()), ("amount", new.total.to_string())];
        out.push((batch_notice(NoticeKind::BatchAwaitingRelease, &params), builders));
    }
    let failed_before = old.map_or(0, |o| o.failed_count);
    if new.failed_count > failed_before {
        let params = [
            ("batch", new.id.clone()),
            ("failed", (new.failed_count - failed_before).to_string()),
            (
                "amount",
                new.failed
                    .checked_sub(old.map_or(crate::money::Fen::ZERO, |o| o.failed))
                    .unwrap_or(new.failed)
                    .to_string(),
            ),
        ];
        out.push((batch_notice(NoticeKind::ResultsFailed, &params), Vec::new()));
    }
    out
}

/// Stores the notices these batch changes produce, each for every active
/// finance member of the batch's district but those it is not for; a
/// change seen before stores nothing new. Returns how many were new.
pub async fn record_batches(
    store: &dyn NoticeStore,
    staff: &dyn StaffStore,
    changes: &[BatchChange],
) -> StoreResult<usize> {
    let mut notices = Vec::new();
    let mut members: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for change in changes {
        for (notice, not_for) in batch_notices_of(change) {
            let district = &change.new.district;
            if !members.contains_key(district) {
                members.insert(district.clone(), holders(staff, Role::Finance, district).await?);
            }
            for sub in members[district].iter().filter(|s| !not_for.contains(s)) {
                notices.push(Addressed { to: Recipient::Staff(sub.clone()), notice: notice.clone() });
            }
        }
    }
    if notices.is_empty() {
        return Ok(0);
    }
    store.put_notices(&notices).await
}

/// `{milliseconds since the epoch, 13 digits}-{cause}`: unique per cause,
/// ordered by time.
pub fn notice_id(at: DateTime<Utc>, cause: &str) -> String {
    format!("{:013}-{cause}", at.timestamp_millis().max(0))
}

/// Whether `id` could be a notice id (anything else is refused before a
/// store is asked): the time prefix and a cause of id-safe characters.
pub fn is_notice_id(id: &str) -> bool {
    let Some((millis, cause)) = id.split_once('-') else { return false };
    millis.len() == 13
        && millis.bytes().all(|b| b.is_ascii_digit())
        && !cause.is_empty()
        && cause.len() <= 200
        && cause.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::application::Decision;
    use crate::identity::Tier;
    use crate::money::Fen;
    use crate::testkit::*;

    fn change(old: Option<Application>, new: Application) -> ChangeRecord {
        ChangeRecord { old, new }
    }

    fn moved(from: State, to: State) -> (Application, Application) {
        let old = at_state(draft("1000"), from);
        let mut new = at_state(draft("1000"), to);
        new.version = old.version + 1;
        (old, new)
    }

    fn decided(app: &mut Application, kind: DecisionKind, role: Role, reason: &str) {
        app.last_decision =
            Some(Decision { kind, role, reason: Some(text(reason)), by: "u-1".into(), at: app.updated_at });
    }

    fn kinds(v: &[Addressed]) -> Vec<(NoticeKind, String)> {
        v.iter().map(|a| (a.notice.kind, a.to.key())).collect()
    }

    #[test]
    fn a_submission_asks_the_projects_manager_to_confirm_the_area() {
        let (old, new) = moved(State::Draft, State::AwaitingAreaConfirmation);
        let got = notices_of(&change(Some(old), new.clone()));
        assert_eq!(
            kinds(&got),
            vec![(NoticeKind::AreaAwaitingConfirmation, format!("m:{}", new.project.manager_phone.as_str()))]
        );
        assert_eq!(got[0].notice.params["area"], "1000.00");
        assert_eq!(got[0].notice.application_id.as_deref(), Some(new.id.as_str()));
    }

    #[test]
    fn each_company_event_tells_the_owner_once_with_what_it_needs() {
        let owner = format!("c:{}", draft("1").owner);
        let (old, new) = moved(State::AwaitingAreaConfirmation, State::PendingCommunity);
        assert_eq!(kinds(&notices_of(&change(Some(old), new))), vec![(NoticeKind::AreaConfirmed, owner.clone())]);

        let (old, mut new) = moved(State::PendingSubdistrict, State::Returned);
        decided(&mut new, DecisionKind::Returned, Role::Subdistrict, "合同缺页");
        let got = notices_of(&change(Some(old), new));
        assert_eq!(kinds(&got), vec![(NoticeKind::Returned, owner.clone())]);
        assert_eq!(
            (got[0].notice.params["reason"].as_str(), got[0].notice.params["by"].as_str()),
            ("合同缺页", "subdistrict")
        );

        let (old, mut new) = moved(State::AwaitingAreaConfirmation, State::Returned);
        decided(&mut new, DecisionKind::AreaDisputed, Role::ProjectManager, "面积不符");
        assert_eq!(kinds(&notices_of(&change(Some(old), new))), vec![(NoticeKind::AreaDisputed, owner.clone())]);

        let (old, mut new) = moved(State::PendingCommunity, State::Rejected);
        decided(&mut new, DecisionKind::Rejected, Role::Community, "非住宅项目");
        assert_eq!(kinds(&notices_of(&change(Some(old), new))), vec![(NoticeKind::Rejected, owner.clone())]);

        let (old, mut new) = moved(State::PendingDistrict, State::Approved);
        new.approved_amount = Some(Fen::new(123_456).unwrap());
        let got = notices_of(&change(Some(old), new));
        assert_eq!(kinds(&got), vec![(NoticeKind::Approved, owner.clone())]);
        assert_eq!(got[0].notice.params["amount"], "1234.56");

        let (old, mut new) = moved(State::InPaymentBatch, State::Paid);
        new.approved_amount = Some(Fen::new(100).unwrap());
        assert_eq!(kinds(&notices_of(&change(Some(old), new))), vec![(NoticeKind::Paid, owner.clone())]);

        let (old, mut new) = moved(State::InPaymentBatch, State::PaymentFailed);
        decided(&mut new, DecisionKind::PaymentFailed, Role::Finance, "账户已销户");
        assert_eq!(kinds(&notices_of(&change(Some(old), new))), vec![(NoticeKind::PaymentFailed, owner.clone())]);

        let (old, new) = moved(State::PaymentFailed, State::Approved);
        assert_eq!(kinds(&notices_of(&change(Some(old), new))), vec![(NoticeKind::BankAccountVerified, owner)]);
    }

    #[test]
    fn moves_that_tell_nobody_produce_no_notice() {
        for (from, to) in [
            (State::PendingCommunity, State::PendingSubdistrict),
            (State::PendingSubdistrict, State::PendingDistrict),
            (State::Approved, State::InPaymentBatch),
            (State::InPaymentBatch, State::Approved),
            (State::Draft, State::Draft),
            (State::PendingCommunity, State::Withdrawn),
        ] {
            let (old, new) = moved(from, to);
            assert!(notices_of(&change(Some(old), new)).is_empty(), "{from:?} -> {to:?}");
        }
        // An insert (a new draft) tells nobody either.
        assert!(notices_of(&change(None, draft("5"))).is_empty());
        // Approved at community is not the district's approval.
        let (old, new) = moved(State::PendingCommunity, State::Approved);
        assert!(notices_of(&change(Some(old), new)).is_empty());
    }

    #[test]
    fn a_verified_account_change_tells_the_company_and_an_undone_one_does_not() {
        let old_app = at_state(draft("1000"), State::Approved);
        let mut account = company_record().profile.bank_account;
        account.account_number = crate::fields::AccountNumber::parse("6225880123456789").unwrap();
        let mut old = old_app.clone();
        old.payee_change = Some(crate::application::PayeeChange {
            account: account.clone(),
            requested_at: old.updated_at,
            by: "u".into(),
        });
        let mut verified = old_app.clone();
        verified.payee = Some(account);
        verified.version += 1;
        let got = notices_of(&change(Some(old.clone()), verified));
        assert_eq!(got.iter().map(|a| a.notice.kind).collect::<Vec<_>>(), vec![NoticeKind::BankAccountVerified]);
        let mut undone = old_app;
        undone.version += 1;
        assert!(notices_of(&change(Some(old), undone)).is_empty());
    }

    #[test]
    fn a_redelivered_change_derives_the_same_ids_and_each_version_its_own() {
        let (old, mut new) = moved(State::PendingDistrict, State::Returned);
        decided(&mut new, DecisionKind::Returned, Role::District, "x");
        let c = change(Some(old.clone()), new.clone());
        assert_eq!(notices_of(&c), notices_of(&c.clone()));
        let mut later = new.clone();
        later.version += 2;
        let ids = |c: &ChangeRecord| notices_of(c).into_iter().map(|a| a.notice.id).collect::<Vec<_>>();
        assert_ne!(ids(&c), ids(&change(Some(old), later)));
        assert!(ids(&c).iter().all(|id| is_notice_id(id)), "{:?}", ids(&c));
    }

    #[test]
    fn ids_sort_by_time_and_nothing_else_passes_for_one() {
        let t = in_window(&policy());
        let a = notice_id(t, "z.1.paid");
        let b = notice_id(t + chrono::Duration::milliseconds(1), "a.1.paid");
        assert!(a < b);
        for bad in [
            "",
            "x",
            "123-abc",
            "12345678901234-x",
            "0000000000000-",
            "0000000000000-a/b",
            "0000000000000-a b",
            "000000000000a-x",
            &format!("0000000000000-{}", "a".repeat(201)),
        ] {
            assert!(!is_notice_id(bad), "{bad}");
        }
        assert!(is_notice_id("1583110923000-01JX.3.approved"));
    }

    #[test]
    fn a_managers_number_is_masked_when_a_recipient_is_printed() {
        let r = Recipient::Manager(Phone::parse("13800138000").unwrap());
        assert_eq!(format!("{r:?}"), "Manager(138****8000)");
        assert_eq!(r.key(), "m:13800138000");
        let _ = Tier::ALL;
    }

    #[test]
    fn the_reader_is_the_caller_in_the_role_they_act_in() {
        assert_eq!(Recipient::of(&company()).unwrap().key(), format!("c:{}", company().user_id));
        assert!(Recipient::of(&manager()).unwrap().key().starts_with("m:1"));
        assert_eq!(Recipient::of(&finance()).unwrap().key(), format!("s:{}", finance().user_id));
        let mut no_phone = manager();
        no_phone.phone = None;
        assert!(matches!(Recipient::of(&no_phone), Err(Error::PhoneNotVerified)));
    }

    fn urged(state: State) -> ChangeRecord {
        let old = at_state(draft("1000"), state);
        let mut new = old.clone();
        new.version += 1;
        new.urged_at = Some(new.updated_at);
        change(Some(old), new)
    }

    #[test]
    fn an_urge_tells_whoever_acts_at_the_step_now() {
        let path = path();
        for (state, role, unit) in [
            (State::PendingCommunity, Role::Community, path.community.clone()),
            (State::PendingSubdistrict, Role::Subdistrict, path.subdistrict.clone()),
            (State::PendingDistrict, Role::District, path.district.clone()),
            (State::Approved, Role::Finance, path.district.clone()),
        ] {
            let c = urged(state);
            assert!(notices_of(&c).is_empty(), "{state:?}: nobody by name");
            let got = staff_notices_of(&c);
            assert_eq!(got.len(), 1, "{state:?}");
            assert_eq!((got[0].0, got[0].1.as_str(), got[0].2.kind), (role, unit.as_str(), NoticeKind::Urged));
        }
        // Awaiting the area: the manager, by the project's number.
        let c = urged(State::AwaitingAreaConfirmation);
        assert!(staff_notices_of(&c).is_empty());
        let got = notices_of(&c);
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].notice.kind, got[0].to.key().starts_with("m:")), (NoticeKind::Urged, true));
        // A write that keeps the last urge is not an urge.
        let mut again = urged(State::PendingCommunity);
        again.old.as_mut().unwrap().urged_at = again.new.urged_at;
        assert!(staff_notices_of(&again).is_empty() && notices_of(&again).is_empty());
    }

    #[test]
    fn a_recovery_opened_tells_the_districts_finance_once_and_the_company_hears_of_approval_before_公示() {
        let old = at_state(draft("1000"), State::Paid);
        let mut new = old.clone();
        new.version += 1;
        new.recovery = Some(crate::application::Recovery {
            amount: crate::money::Fen::parse_yuan("300.00").unwrap(),
            reason: text("面积不实"),
            opened_by: "district-1".into(),
            opened_at: new.updated_at,
            confirmed_by: None,
            confirmed_at: None,
            repayments: Vec::new(),
        });
        let c = change(Some(old), new.clone());
        let got = staff_notices_of(&c);
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].0, got[0].1.as_str(), got[0].2.kind), (Role::Finance, "440307", NoticeKind::RecoveryOpened));
        assert_eq!(got[0].2.params["amount"], "300.00");
        // An objection: the district's reviewers, and nothing of the objector.
        let in_notice = at_state(draft("1000"), State::InPublicNotice);
        let mut objected = in_notice.clone();
        objected.version += 1;
        objected.notice = Some(crate::application::PublicNotice {
            starts_at: objected.updated_at,
            ends_at: objected.updated_at,
            objections: vec![crate::application::Objection {
                seq: 1,
                by: "objector-sub".into(),
                role: Role::Company,
                reason: text("不实"),
                at: objected.updated_at,
                resolution: None,
            }],
        });
        let got = staff_notices_of(&change(Some(in_notice), objected.clone()));
        assert_eq!(
            (got[0].0, got[0].1.as_str(), got[0].2.kind),
            (Role::District, "440307", NoticeKind::ObjectionFiled)
        );
        assert!(!format!("{:?}", got[0].2).contains("objector-sub"));
        assert!(notices_of(&change(Some(objected.clone()), objected)).is_empty());
        // Its confirmation is no new recovery.
        let mut confirmed = new.clone();
        confirmed.version += 1;
        assert!(staff_notices_of(&change(Some(new), confirmed)).is_empty());
        // 审核 with a public notice: the company hears of the approval then,
        // and not again when the notice closes.
        let pending = at_state(draft("1000"), State::PendingDistrict);
        let published = at_state(pending.clone(), State::InPublicNotice);
        let got = notices_of(&change(Some(pending), published.clone()));
        assert_eq!(got.iter().map(|a| a.notice.kind).collect::<Vec<_>>(), [NoticeKind::Approved]);
        let payable = at_state(published.clone(), State::Approved);
        assert!(notices_of(&change(Some(published), payable)).is_empty());
    }

    fn batch(state: crate::payout::BatchState, version: u64) -> crate::payout::Batch {
        let at: DateTime<Utc> = "2020-04-01T02:00:00Z".parse().unwrap();
        crate::payout::Batch {
            id: "B1".into(),
            policy_id: "p".into(),
            district: "440304".into(),
            state,
            version,
            note: None,
            created_by: "maker".into(),
            created_at: at,
            released_by: None,
            released_at: None,
            line_count: 3,
            total: crate::money::Fen::parse_yuan("3000.00").unwrap(),
            paid_count: 0,
            paid: crate::money::Fen::ZERO,
            failed_count: 0,
            failed: crate::money::Fen::ZERO,
            left_out_for_budget: 0,
            updated_at: at + chrono::Duration::seconds(version as i64),
            audit_seq: version,
            audit_head: String::new(),
            sealed: true,
            builders: vec!["resumer".into()],
        }
    }

    #[test]
    fn a_ready_batch_tells_finance_but_not_its_builders_and_failed_results_tell_all_finance() {
        use crate::payout::BatchState;
        let ready = BatchChange { old: Some(batch(BatchState::Building, 4)), new: batch(BatchState::Ready, 5) };
        let got = batch_notices_of(&ready);
        assert_eq!(got.len(), 1);
        let (n, not_for) = &got[0];
        assert_eq!(n.kind, NoticeKind::BatchAwaitingRelease);
        assert_eq!(
            (n.params["batch"].as_str(), n.params["lines"].as_str(), n.params["amount"].as_str()),
            ("B1", "3", "3000.00")
        );
        assert_eq!(not_for, &vec!["resumer".to_string(), "maker".to_string()], "who built it may not release it");
        assert!(n.id.ends_with("-B1.5.batch_awaiting_release") && is_notice_id(&n.id), "{}", n.id);
        // Redelivered: the same notice (the same id).
        assert_eq!(batch_notices_of(&ready), got);
        // A later write of a ready batch (its files, say) tells nobody again.
        let again = BatchChange { old: Some(batch(BatchState::Ready, 5)), new: batch(BatchState::Ready, 6) };
        assert!(batch_notices_of(&again).is_empty());

        // Results: two of three failed, then one more on a second file.
        let released = batch(BatchState::Released, 7);
        let mut first = batch(BatchState::Released, 8);
        (first.failed_count, first.failed, first.paid_count) =
            (2, crate::money::Fen::parse_yuan("2000.00").unwrap(), 1);
        let got = batch_notices_of(&BatchChange { old: Some(released.clone()), new: first.clone() });
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0.kind, NoticeKind::ResultsFailed);
        assert_eq!((got[0].0.params["failed"].as_str(), got[0].0.params["amount"].as_str()), ("2", "2000.00"));
        assert!(got[0].1.is_empty(), "every finance member");
        let mut second = batch(BatchState::Reconciled, 9);
        (second.failed_count, second.failed) = (3, crate::money::Fen::parse_yuan("3000.00").unwrap());
        let got = batch_notices_of(&BatchChange { old: Some(first), new: second });
        assert_eq!((got[0].0.params["failed"].as_str(), got[0].0.params["amount"].as_str()), ("1", "1000.00"));
        // All paid: nothing for finance.
        let mut paid = batch(BatchState::Reconciled, 8);
        (paid.paid_count, paid.paid) = (3, crate::money::Fen::parse_yuan("3000.00").unwrap());
        assert!(batch_notices_of(&BatchChange { old: Some(released), new: paid }).is_empty());
        // Created, cancelled: nothing.
        assert!(batch_notices_of(&BatchChange { old: None, new: batch(BatchState::Building, 1) }).is_empty());
        let cancelled = BatchChange { old: Some(batch(BatchState::Ready, 5)), new: batch(BatchState::Cancelled, 6) };
        assert!(batch_notices_of(&cancelled).is_empty());
    }
}
