//! What callers see of an application: the list row, the detail with its
//! documents and pre-checks, and the project as it stood when submitted.
//! Personal data is masked as in [`crate::company::views`].

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::application::precheck::PrecheckReport;
use crate::application::state::State;
use crate::application::{Application, Decision, TierApproval};
use crate::company::views::*;
use crate::documents::views::*;
use crate::jurisdiction::JurisdictionTree;
use crate::jurisdiction::JurisdictionView;
use crate::money::{Area, Fen};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationView {
    pub id: String,
    pub policy_id: String,
    pub state: State,
    /// The tier the application waits at, if any.
    pub pending_tier: Option<crate::identity::Tier>,
    pub version: u64,
    pub company_id: String,
    pub company_name: String,
    pub credit_code: String,
    pub project_id: String,
    pub project: ProjectSnapshotView,
    pub jurisdiction: JurisdictionView,
    pub claimed_area: Area,
    pub claimed_amount: Fen,
    pub claimed_amount_fen: i64,
    pub confirmed_area: Option<Area>,
    pub approved_area: Option<Area>,
    pub approved_amount: Option<Fen>,
    pub approved_amount_fen: Option<i64>,
    pub note: Option<String>,
    pub approvals: Vec<TierApproval>,
    pub last_decision: Option<Decision>,
    pub round: u32,
    pub batch_id: Option<String>,
    /// The verified account payment goes to (masked).
    pub payee: Option<BankAccountView>,
    /// A bank account change waits for the district's verification.
    pub payee_change_pending: bool,
    pub payment_line: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub state_since: DateTime<Utc>,
    /// When the step it waits at is due (办理时限), if it has a time limit.
    pub due_at: Option<DateTime<Utc>>,
    /// Past `dueAt` now.
    pub overdue: bool,
    /// When the company last urged (催办) this step.
    pub urged_at: Option<DateTime<Utc>>,
    /// Whether the company may urge now: overdue, and not urged yet on
    /// this working day.
    pub may_urge: bool,
    /// A recovery (追回) of an overpayment, once opened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery: Option<RecoveryView>,
    /// Its public notice (公示) and the objections to it, once published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<NoticeView>,
}

/// One entry of an application's timeline: its audit entry as shown. For
/// an objection (异议), the company and its project manager see neither
/// who objected (`actorId` is `objector`) nor their role (null).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelineEntry {
    pub subject: String,
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub actor_id: String,
    pub role: Option<crate::identity::Role>,
    pub action: String,
    pub from: Option<String>,
    pub to: String,
    pub comment: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

impl TimelineEntry {
    /// The entry, with its actor hidden when `hide_actor`.
    pub fn of(e: crate::audit::AuditEntry, hide_actor: bool) -> TimelineEntry {
        TimelineEntry {
            subject: e.subject,
            seq: e.seq,
            at: e.at,
            actor_id: if hide_actor { crate::application::service::OBJECTOR.to_string() } else { e.actor_id },
            role: (!hide_actor).then_some(e.role),
            action: e.action,
            from: e.from,
            to: e.to,
            comment: e.comment,
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

/// A public notice as shown on the application.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NoticeView {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// An objection waits for the district's resolution.
    pub on_hold: bool,
    pub objections: Vec<ObjectionView>,
}

/// An objection as shown. Who made it is shown to staff only
/// ([`NoticeView::with_objectors`]); never to the company.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectionView {
    pub seq: u32,
    pub reason: String,
    pub at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub objector: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub objector_role: Option<crate::identity::Role>,
    pub resolution: Option<crate::application::ObjectionOutcome>,
    pub resolution_reason: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
}

impl NoticeView {
    /// Without the objectors' identities: what everyone but staff sees.
    pub fn of(n: &crate::application::PublicNotice) -> NoticeView {
        NoticeView {
            starts_at: n.starts_at,
            ends_at: n.ends_at,
            on_hold: n.on_hold(),
            objections: n
                .objections
                .iter()
                .map(|o| ObjectionView {
                    seq: o.seq,
                    reason: o.reason.to_string(),
                    at: o.at,
                    objector: None,
                    objector_role: None,
                    resolution: o.resolution.as_ref().map(|r| r.outcome),
                    resolution_reason: o.resolution.as_ref().map(|r| r.reason.to_string()),
                    resolved_at: o.resolution.as_ref().map(|r| r.at),
                })
                .collect(),
        }
    }

    /// With the objectors' identities, for the staff who resolve them.
    pub fn with_objectors(mut self, n: &crate::application::PublicNotice) -> NoticeView {
        for (v, o) in self.objections.iter_mut().zip(&n.objections) {
            v.objector = Some(o.by.clone());
            v.objector_role = Some(o.role);
        }
        self
    }
}

/// A recovery as shown: amounts in yuan, where it stands, each repayment.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryView {
    pub amount: crate::money::Fen,
    pub reason: String,
    /// `awaiting_confirmation`, `recovering` (追回中) or `recovered` (已追回).
    pub status: crate::application::RecoveryStatus,
    pub repaid: crate::money::Fen,
    pub owed: crate::money::Fen,
    pub opened_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub repayments: Vec<RepaymentView>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RepaymentView {
    pub date: chrono::NaiveDate,
    pub amount: crate::money::Fen,
    pub bank_reference: String,
    pub recorded_at: DateTime<Utc>,
}

impl RecoveryView {
    pub fn of(r: &crate::application::Recovery) -> RecoveryView {
        RecoveryView {
            amount: r.amount,
            reason: r.reason.to_string(),
            status: r.status(),
            repaid: r.repaid(),
            owed: r.owed(),
            opened_at: r.opened_at,
            confirmed_at: r.confirmed_at,
            repayments: r
                .repayments
                .iter()
                .map(|p| RepaymentView {
                    date: p.date,
                    amount: p.amount,
                    bank_reference: p.bank_reference.to_string(),
                    recorded_at: p.recorded_at,
                })
                .collect(),
        }
    }
}

/// What a view needs to say when a step is due: the policy's calendar and
/// limits, and the time now.
#[derive(Debug, Clone, Copy)]
pub struct Due<'a> {
    pub policy: &'a crate::policy::Policy,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectSnapshotView {
    pub name: String,
    pub address: String,
    pub managed_area: Area,
    pub manager_name: String,
    /// Masked: "138****8000".
    pub manager_phone: String,
}

impl ApplicationView {
    pub fn of(a: &Application, tree: &JurisdictionTree, due: Due<'_>) -> ApplicationView {
        let due_at = a.due_at(due.policy);
        ApplicationView {
            id: a.id.clone(),
            policy_id: a.policy_id.clone(),
            state: a.state,
            pending_tier: a.state.tier(),
            version: a.version,
            company_id: a.company_id.clone(),
            company_name: a.company_name.clone(),
            credit_code: a.credit_code.clone(),
            project_id: a.project_id.clone(),
            project: ProjectSnapshotView {
                name: a.project.name.to_string(),
                address: a.project.address.to_string(),
                managed_area: a.project.managed_area,
                manager_name: a.project.manager_name.to_string(),
                manager_phone: a.project.manager_phone.masked(),
            },
            jurisdiction: JurisdictionView::of(&a.jurisdiction, tree),
            claimed_area: a.claimed_area,
            claimed_amount: a.claimed_amount,
            claimed_amount_fen: a.claimed_amount.fen(),
            confirmed_area: a.confirmed_area,
            approved_area: a.approved_area,
            approved_amount: a.approved_amount,
            approved_amount_fen: a.approved_amount.map(Fen::fen),
            note: a.note.as_ref().map(|n| n.to_string()),
            approvals: a.approvals.clone(),
            last_decision: a.last_decision.clone(),
            round: a.round,
            batch_id: a.batch_id.clone(),
            payee: a.payee.as_ref().map(BankAccountView::masked),
            payee_change_pending: a.payee_change.is_some(),
            payment_line: a.payment_line.clone(),
            created_at: a.created_at,
            updated_at: a.updated_at,
            submitted_at: a.submitted_at,
            state_since: a.state_since,
            due_at,
            overdue: due_at.is_some_and(|d| due.now > d),
            urged_at: a.urged_at.filter(|t| *t >= a.state_since),
            may_urge: a.may_urge(due.policy, due.now).is_ok(),
            recovery: a.recovery.as_ref().map(RecoveryView::of),
            notice: a.notice.as_ref().map(NoticeView::of),
        }
    }
}

/// One application with its documents and, for staff, its pre-checks.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationDetail {
    #[serde(flatten)]
    pub application: ApplicationView,
    pub documents: Vec<DocumentView>,
    pub prechecks: Vec<PrecheckReport>,
    /// To the company: how long the current step usually takes (its
    /// unit's median over 14 days, else the city's); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta: Option<crate::eta::EtaView>,
}
