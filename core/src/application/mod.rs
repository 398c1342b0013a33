//! **Capability: the application and its review.** Owns the application
//! record, its state machine ([`state`]), pre-checks, tier arrivals and the
//! inputs callers send ([`inputs`]); the use cases are
//! [`service::Applications`] (the company's side and every read) and
//! [`review::Review`] (area confirmation, 初审/复核/审核, payee
//! verification). It checks a pending document through the documents
//! capability; it never writes batches, counters or staff.
//!
//! The application aggregate: one claim by one company for one project under
//! one policy. Its state changes only through [`crate::application::state::apply`].

pub mod bulk;
pub mod dispatch;
pub mod inputs;
pub mod notice;
pub mod precheck;
pub mod review;
pub mod service;
pub mod state;
pub mod views;

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::company::{Company, Project};
use crate::fields::{BankAccount, Phone, Text};
use crate::identity::{Role, Tier};
use crate::jurisdiction::JurisdictionPath;
use crate::money::{Area, Fen};
use crate::policy::Policy;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    pub id: String,
    pub policy_id: String,
    pub company_id: String,
    /// The company's owning account; the only company user who may see it.
    pub owner: String,
    pub company_name: String,
    pub credit_code: String,
    pub project_id: String,
    /// The project's claim ([`crate::company::Project::claim_key`]) this
    /// application holds; empty in records from before claims were by name,
    /// which hold their project's id (see [`Application::claim`]).
    #[serde(default)]
    pub claim_key: String,
    /// The project as it was at the last (re)submission.
    pub project: ProjectSnapshot,
    pub jurisdiction: JurisdictionPath,
    pub state: State,
    pub version: u64,
    pub claimed_area: Area,
    pub claimed_amount: Fen,
    /// The area the project manager confirmed, if any.
    pub confirmed_area: Option<Area>,
    /// The area approved so far in this round; a tier may only lower it.
    pub approved_area: Option<Area>,
    /// Fixed when the district approves.
    pub approved_amount: Option<Fen>,
    /// The company's note to reviewers.
    pub note: Option<Text>,
    /// Tier approvals of the current round, in order.
    pub approvals: Vec<TierApproval>,
    /// Why the application was last returned, rejected or withdrawn.
    pub last_decision: Option<Decision>,
    /// 1 for the first submission, +1 for each resubmission.
    pub round: u32,
    /// Set while the application is in a payment batch (disbursement).
    pub batch_id: Option<String>,
    /// The bank account payment goes to: the company's account when the
    /// district approved, or a change the district verified since.
    #[serde(default)]
    pub payee: Option<BankAccount>,
    /// A bank account change asked for after submission (in review,
    /// approved, or after a failed payment); it blocks payment until a
    /// district reviewer verifies it.
    #[serde(default)]
    pub payee_change: Option<PayeeChange>,
    /// The district reviewer who opened the full account to verify it, and
    /// when: verification needs this purpose-bound view first, by the
    /// verifier. Cleared whenever the account to verify changes.
    #[serde(default)]
    pub payee_revealed: Option<PayeeReveal>,
    /// The payment line carrying the application now (or last).
    #[serde(default)]
    pub payment_line: Option<String>,
    /// The last line that failed; a re-issued line revises it.
    #[serde(default)]
    pub failed_line: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub submitted_at: Option<DateTime<Utc>>,
    /// When it entered its current state; inboxes are oldest first.
    pub state_since: DateTime<Utc>,
    /// When the company last urged (催办) its current step. Stored only
    /// once there is one (most applications are never urged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urged_at: Option<DateTime<Utc>>,
    /// A recovery (追回) of an overpayment, once opened on a paid
    /// application. Stored only once there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<Recovery>,
    /// The public notice (公示) of the district's approval, when the policy
    /// has a notice window: its window and the objections (异议) to it.
    /// Stored only once there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<PublicNotice>,
    /// Earlier notices of the application, with their objections, when an
    /// upheld objection sent it back to 审核 and it was published again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub past_notices: Vec<PublicNotice>,
    /// Head of the audit hash chain: last sequence number and its hash.
    pub audit_seq: u64,
    pub audit_head: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectSnapshot {
    pub name: Text,
    pub address: Text,
    pub managed_area: Area,
    pub manager_name: Text,
    pub manager_phone: Phone,
}

impl ProjectSnapshot {
    pub fn of(p: &Project) -> ProjectSnapshot {
        ProjectSnapshot {
            name: p.details.name.clone(),
            address: p.details.address.clone(),
            managed_area: p.details.managed_area,
            manager_name: p.details.manager_name.clone(),
            manager_phone: p.details.manager_phone.clone(),
        }
    }
}

/// A recovery (追回) of an overpayment found after payment: opened by a
/// district reviewer, confirmed by a district finance user who did not open
/// it (maker-checker), then repaid in one or more repayments finance
/// records, until nothing is owed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recovery {
    /// What is to be recovered: more than nothing, at most what was paid.
    pub amount: Fen,
    pub reason: Text,
    pub opened_by: String,
    pub opened_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub repayments: Vec<Repayment>,
}

/// The public notice (公示) of a district approval: from the approval
/// until `ends_at` (the end of the policy's `publicNoticeDays`-th calendar
/// day, China time, counting the day of approval), anyone signed in may
/// object. An objection not yet resolved holds the application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicNotice {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    #[serde(default)]
    pub objections: Vec<Objection>,
}

impl PublicNotice {
    /// Whether an objection waits for the district's resolution.
    pub fn on_hold(&self) -> bool {
        self.objections.iter().any(|o| o.resolution.is_none())
    }
}

/// An objection (异议) to a public notice. Who made it is kept for the
/// district, and never shown to the company.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Objection {
    /// 1 for the first objection to the application, and so on.
    pub seq: u32,
    pub by: String,
    pub role: Role,
    pub reason: Text,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<ObjectionResolution>,
}

/// How the district resolved an objection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectionResolution {
    pub outcome: ObjectionOutcome,
    pub reason: Text,
    pub by: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectionOutcome {
    /// Not upheld: the notice goes on, its window not restarted.
    Dismissed,
    /// Upheld: the application goes back to the district's 审核.
    ReturnedToReview,
}

/// One repayment the bank received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Repayment {
    /// The day the bank received it.
    pub date: chrono::NaiveDate,
    pub amount: Fen,
    pub bank_reference: Text,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

/// Where a recovery stands: 待确认, 追回中, 已追回.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecoveryStatus {
    /// Opened, waiting for a second person in finance.
    AwaitingConfirmation,
    /// Confirmed, not yet repaid in full (追回中).
    Recovering,
    /// Repaid in full (已追回).
    Recovered,
}

impl Recovery {
    pub fn repaid(&self) -> Fen {
        Fen::new(self.repayments.iter().map(|r| r.amount.fen()).sum()).expect("repayments are positive")
    }

    /// What is still owed.
    pub fn owed(&self) -> Fen {
        Fen::new(self.amount.fen() - self.repaid().fen()).expect("never repaid beyond the amount")
    }

    pub fn status(&self) -> RecoveryStatus {
        if self.confirmed_at.is_none() {
            RecoveryStatus::AwaitingConfirmation
        } else if self.owed().fen() > 0 {
            RecoveryStatus::Recovering
        } else {
            RecoveryStatus::Recovered
        }
    }
}

/// A bank account change waiting for the district's verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayeeChange {
    pub account: BankAccount,
    pub requested_at: DateTime<Utc>,
    pub by: String,
}

/// Who opened an application's full bank account, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayeeReveal {
    pub by: String,
    pub at: DateTime<Utc>,
}

/// The time limit (办理时限) of the step an application in `state` waits
/// at, in working days, if that step has one: the project manager's
/// confirmation, 初审, 复核, 审核, and finance from approval to a batch.
pub fn time_limit(policy: &Policy, state: State) -> Option<u32> {
    let l = &policy.time_limits;
    Some(match state {
        State::AwaitingAreaConfirmation => l.area_confirmation,
        State::PendingCommunity => l.community,
        State::PendingSubdistrict => l.subdistrict,
        State::PendingDistrict => l.district,
        State::Approved => l.finance,
        _ => return None,
    })
}

impl Application {
    /// When the step the application waits at is due (办理时限), if it
    /// waits at one with a time limit: the project manager's confirmation,
    /// 初审, 复核, 审核, and finance from approval to a batch. Counted in
    /// the policy's working days from when it entered the step.
    pub fn due_at(&self, policy: &Policy) -> Option<DateTime<Utc>> {
        let days = time_limit(policy, self.state)?;
        Some(policy.calendar.due(self.state_since, days))
    }

    /// Whether the company may urge (催办) the current step at `now`: it
    /// is past its due time, and was not urged yet on this working day.
    pub fn may_urge(&self, policy: &Policy, now: DateTime<Utc>) -> Result<(), crate::error::Error> {
        let due = self
            .due_at(policy)
            .ok_or(crate::error::Error::WrongState { state: self.state.as_str(), action: "urge" })?;
        if now <= due {
            return Err(crate::error::Error::NotOverdue { due_at: due.with_timezone(&crate::policy::shanghai()) });
        }
        let today = policy.calendar.working_day_of(now);
        if self.urged_at.is_some_and(|t| t >= self.state_since && policy.calendar.working_day_of(t) == today) {
            return Err(crate::error::Error::AlreadyUrged);
        }
        Ok(())
    }

    /// The public notice, if objections (and their evidence) are taken at
    /// `now`: the application is on notice and its window has not ended.
    /// Never published: `NotFound`; over: `NoticeClosed`.
    pub fn notice_open(&self, now: DateTime<Utc>) -> Result<&PublicNotice, crate::error::Error> {
        let notice = self.notice.as_ref().ok_or(crate::error::Error::NotFound("public notice"))?;
        if self.state != State::InPublicNotice || now >= notice.ends_at {
            return Err(crate::error::Error::NoticeClosed {
                ends_at: notice.ends_at.with_timezone(&crate::policy::shanghai()),
            });
        }
        Ok(notice)
    }

    /// The account a district reviewer verifies now: a pending change, or
    /// (after a failed payment) the payee itself.
    pub fn account_to_verify(&self) -> Option<&BankAccount> {
        self.payee_change.as_ref().map(|c| &c.account).or(self.payee.as_ref())
    }

    /// Whether the district has an account to verify: a change pending at
    /// the district's review or after approval, or a failed payment's.
    pub fn payee_to_verify(&self) -> bool {
        match self.state {
            State::PaymentFailed => true,
            State::PendingDistrict | State::InPublicNotice | State::Approved => self.payee_change.is_some(),
            _ => false,
        }
    }

    /// Whether an account's holder is the company, by name (compared as
    /// estates' names are: without spaces, case or full-width forms).
    pub fn holder_is_company(&self, account: &BankAccount) -> bool {
        crate::company::same_name(account.account_name.as_str()) == crate::company::same_name(&self.company_name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TierApproval {
    pub tier: Tier,
    pub area: Area,
    pub reason: Option<Text>,
    pub by: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub kind: DecisionKind,
    pub role: Role,
    pub reason: Option<Text>,
    pub by: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    Returned,
    Rejected,
    Withdrawn,
    AreaDisputed,
    PaymentFailed,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewApplicationInput {
    pub project_id: String,
    /// Defaults to the project's registered managed area.
    #[serde(default)]
    pub claimed_area: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EditApplicationInput {
    pub version: u64,
    #[serde(default)]
    pub claimed_area: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

impl Application {
    /// The claim this application holds in the claims store.
    pub fn claim(&self) -> &str {
        if self.claim_key.is_empty() { &self.project_id } else { &self.claim_key }
    }

    /// A new draft for a project. The caller has checked ownership and the
    /// window; the first audit entry is appended by the use case.
    pub fn draft(
        id: String,
        policy: &Policy,
        company: &Company,
        project: &Project,
        claimed_area: Area,
        note: Option<Text>,
        now: DateTime<Utc>,
    ) -> Application {
        Application {
            id,
            policy_id: policy.id.clone(),
            company_id: company.id.clone(),
            owner: company.owner.clone(),
            company_name: company.profile.name.to_string(),
            credit_code: company.profile.credit_code.to_string(),
            project_id: project.id.clone(),
            claim_key: project.claim_key(),
            project: ProjectSnapshot::of(project),
            jurisdiction: project.jurisdiction.clone(),
            state: State::Draft,
            version: 0,
            claimed_area,
            claimed_amount: policy.amount(claimed_area),
            confirmed_area: None,
            approved_area: None,
            approved_amount: None,
            note,
            approvals: Vec::new(),
            last_decision: None,
            round: 0,
            batch_id: None,
            payee: None,
            payee_change: None,
            payee_revealed: None,
            payment_line: None,
            failed_line: None,
            created_at: now,
            updated_at: now,
            submitted_at: None,
            state_since: now,
            recovery: None,
            notice: None,
            past_notices: Vec::new(),
            urged_at: None,
            audit_seq: 0,
            audit_head: crate::audit::GENESIS.to_string(),
        }
    }

    /// The area the next tier starts from: the last approved area of this
    /// round, or the claim.
    pub fn current_area(&self) -> Area {
        self.approved_area.unwrap_or(self.claimed_area)
    }

    /// Whether this application holds its project's claim: every state but
    /// the terminal refusals.
    pub fn is_live(&self) -> bool {
        !matches!(self.state, State::Rejected | State::Withdrawn)
    }
}

/// Where an application stands. It changes only through the state
/// machine ([`crate::application::state::apply`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Draft,
    AwaitingAreaConfirmation,
    PendingCommunity,
    PendingSubdistrict,
    PendingDistrict,
    /// Approved by the district, in its public notice window (公示).
    InPublicNotice,
    Approved,
    InPaymentBatch,
    Paid,
    Returned,
    Rejected,
    Withdrawn,
    PaymentFailed,
}

impl State {
    pub const ALL: [State; 13] = [
        State::Draft,
        State::AwaitingAreaConfirmation,
        State::PendingCommunity,
        State::PendingSubdistrict,
        State::PendingDistrict,
        State::InPublicNotice,
        State::Approved,
        State::InPaymentBatch,
        State::Paid,
        State::Returned,
        State::Rejected,
        State::Withdrawn,
        State::PaymentFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Draft => "draft",
            State::AwaitingAreaConfirmation => "awaiting_area_confirmation",
            State::PendingCommunity => "pending_community",
            State::PendingSubdistrict => "pending_subdistrict",
            State::PendingDistrict => "pending_district",
            State::InPublicNotice => "in_public_notice",
            State::Approved => "approved",
            State::InPaymentBatch => "in_payment_batch",
            State::Paid => "paid",
            State::Returned => "returned",
            State::Rejected => "rejected",
            State::Withdrawn => "withdrawn",
            State::PaymentFailed => "payment_failed",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub fn pending_at(tier: Tier) -> State {
        match tier {
            Tier::Community => State::PendingCommunity,
            Tier::Subdistrict => State::PendingSubdistrict,
            Tier::District => State::PendingDistrict,
        }
    }

    /// The tier an application waits at, if it waits at one.
    pub fn tier(self) -> Option<Tier> {
        match self {
            State::PendingCommunity => Some(Tier::Community),
            State::PendingSubdistrict => Some(Tier::Subdistrict),
            State::PendingDistrict => Some(Tier::District),
            _ => None,
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, State::Rejected | State::Withdrawn | State::Paid)
    }

    /// Whether the company's bank account change is recorded on an
    /// application in this state: submitted, live, and not with the bank.
    pub fn payee_may_change(self) -> bool {
        matches!(
            self,
            State::AwaitingAreaConfirmation
                | State::PendingCommunity
                | State::PendingSubdistrict
                | State::PendingDistrict
                | State::Returned
                | State::InPublicNotice
                | State::Approved
                | State::PaymentFailed
        )
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

crate::audit::chained!(Application, |a| a.id.clone());
