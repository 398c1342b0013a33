//! The application state machine: every state, every transition, in one file.
//!
//! ```text
//!  draft ──submit──> awaiting_area_confirmation ──confirm──> pending_community
//!    │                       │ dispute                           │ approve
//!    │                       v                                   v
//!    │                   returned <──return── pending_subdistrict ──approve──> pending_district ──approve──> approved
//!    │                                                                  ^   (公示: with publicNoticeDays) │
//!    │                                      objection returned to 审核 └── in_public_notice ──close──────┘
//!    │                       │ (resubmit: community, or the manager again if the area changed)          │ add to batch
//!    └─ withdraw (any state before the district's decision) ──> withdrawn                                v
//!       reject (any pending tier) ──> rejected                         paid <──paid── in_payment_batch ──failed──> payment_failed
//!                                                                                       approved <──re-verified bank account──┘
//! ```
//!
//! [`apply`] takes the application, the actor and a command, and returns the
//! next application, or a typed error. It checks the
//! actor's *role*; ownership and jurisdiction are [`crate::identity::authz`]'s job and
//! are checked before. It does no I/O.

use crate::audit::{AuditEntry, Happened};
use crate::money::Fen;
use chrono::{DateTime, Utc};

pub use crate::application::ObjectionOutcome;
pub use crate::application::State;
use crate::application::{
    Application, Decision, DecisionKind, Objection, ObjectionResolution, PayeeChange, PayeeReveal, ProjectSnapshot,
    PublicNotice, TierApproval,
};
use crate::documents::DocumentKind;
use crate::error::Error;
use crate::fields::BankAccount;
use crate::fields::Text;
use crate::identity::authz::{self, Issuer};
use crate::identity::{Actor, Tier};
use crate::jurisdiction::JurisdictionPath;
use crate::money::Area;
use crate::policy::{Policy, Window};

/// What an actor asks to do to an application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Company edits a draft or returned application.
    Edit { claimed_area: Option<Area>, note: Option<Text> },
    /// Company submits (or resubmits). The use case supplies the project as
    /// it is now, the kinds of verified documents on file, and the
    /// company's bank account as it stands: at the first submission it
    /// becomes the payee every tier reviews.
    Submit {
        project: ProjectSnapshot,
        jurisdiction: JurisdictionPath,
        verified_documents: Vec<DocumentKind>,
        payee: Option<BankAccount>,
    },
    /// Project manager confirms the claimed area.
    ConfirmArea,
    /// Project manager disputes the claimed area; back to the company.
    DisputeArea { reason: Text },
    /// Reviewer approves at a tier, optionally lowering the area (with a
    /// reason). At the district, `payee` is the company's bank account as it
    /// stands, used only by an application submitted before the payee was
    /// fixed at submission; otherwise the payee reviewed since then stands.
    Approve { tier: Tier, area: Option<Area>, reason: Option<Text>, payee: Option<BankAccount> },
    /// Reviewer returns for correction (退回补正).
    Return { tier: Tier, reason: Text },
    /// Reviewer rejects; terminal.
    Reject { tier: Tier, reason: Text },
    /// Company withdraws before the district's decision; terminal.
    Withdraw { reason: Option<Text> },
    /// Finance puts an approved application into a payment batch, as a line.
    AddToBatch { batch_id: String, line_id: String },
    /// Finance takes it out again (the batch is cancelled before release).
    RemoveFromBatch,
    /// The bank reports the payment made.
    MarkPaid,
    /// The bank reports the payment failed.
    MarkPaymentFailed { reason: Text },
    /// The company asks, after submission, to be paid to another account.
    /// It is recorded on the application's trail and blocks payment until
    /// the district verifies it.
    RequestPayeeChange { account: BankAccount },
    /// Takes back a change this same request recorded, when the company's
    /// profile could not be changed with it (another application was being
    /// claimed by a batch): `previous` is what was pending before.
    UndoPayeeChange { previous: Option<PayeeChange> },
    /// A district reviewer opens the full account to verify (a pending
    /// change, or the payee after a failed payment): the one view that
    /// shows it, audited.
    RevealPayee,
    /// A district reviewer verifies the bank account, having opened it: a
    /// requested change becomes the payee, and a failed payment becomes
    /// payable again. An account whose holder is not the company (by name)
    /// needs `confirm_holder_name`.
    VerifyPayee { confirm_holder_name: bool },
    /// The company urges (催办) a step past its time limit, at most once
    /// per working day; whoever acts at that step is told.
    Urge,
    /// A district reviewer opens a recovery (追回) on a paid application:
    /// more than nothing, at most what was paid.
    OpenRecovery { amount: Fen, reason: Text },
    /// District finance confirms it: not the one who opened it.
    ConfirmRecovery,
    /// District finance records a repayment: at most what is still owed.
    RecordRepayment { date: chrono::NaiveDate, amount: Fen, bank_reference: Text },
    /// Anyone signed in objects (异议) to a public notice: once per user,
    /// inside its window. The application is held until the district
    /// resolves it.
    Object { reason: Text },
    /// A district reviewer resolves the objections waiting: dismissed (the
    /// notice goes on, its window not restarted) or returned to 审核.
    ResolveObjections { outcome: ObjectionOutcome, reason: Text },
    /// The notice's window ended with no objection waiting: payable.
    CloseNotice,
}

impl Command {
    /// Who may issue this command, whatever the application's scope (the
    /// rule itself is [`authz::may_issue`]).
    pub fn issuer(&self) -> Issuer {
        match self {
            Command::Edit { .. }
            | Command::Submit { .. }
            | Command::Withdraw { .. }
            | Command::RequestPayeeChange { .. }
            | Command::UndoPayeeChange { .. }
            | Command::Urge => Issuer::Company,
            Command::ConfirmArea | Command::DisputeArea { .. } => Issuer::ProjectManager,
            Command::Approve { tier, .. } | Command::Return { tier, .. } | Command::Reject { tier, .. } => {
                Issuer::Reviewer(*tier)
            }
            Command::AddToBatch { .. }
            | Command::RemoveFromBatch
            | Command::MarkPaid
            | Command::MarkPaymentFailed { .. } => Issuer::Finance,
            Command::RevealPayee | Command::VerifyPayee { .. } | Command::OpenRecovery { .. } => {
                Issuer::DistrictReviewer
            }
            Command::ConfirmRecovery | Command::RecordRepayment { .. } => Issuer::Finance,
            Command::Object { .. } => Issuer::Anyone,
            Command::ResolveObjections { .. } => Issuer::DistrictReviewer,
            Command::CloseNotice => Issuer::System,
        }
    }

    /// The verb used in errors and audit entries.
    pub fn action(&self) -> &'static str {
        match self {
            Command::Edit { .. } => "edit",
            Command::Submit { .. } => "submit",
            Command::ConfirmArea => "confirm_area",
            Command::DisputeArea { .. } => "dispute_area",
            Command::Approve { .. } => "approve",
            Command::Return { .. } => "return",
            Command::Reject { .. } => "reject",
            Command::Withdraw { .. } => "withdraw",
            Command::AddToBatch { .. } => "add_to_batch",
            Command::RemoveFromBatch => "remove_from_batch",
            Command::MarkPaid => "mark_paid",
            Command::MarkPaymentFailed { .. } => "mark_payment_failed",
            Command::RequestPayeeChange { .. } => "request_bank_account_change",
            Command::UndoPayeeChange { .. } => "undo_bank_account_change",
            Command::RevealPayee => "reveal_bank_account",
            Command::VerifyPayee { .. } => "verify_bank_account",
            Command::Urge => "urge",
            Command::OpenRecovery { .. } => "open_recovery",
            Command::ConfirmRecovery => "confirm_recovery",
            Command::RecordRepayment { .. } => "record_repayment",
            Command::Object { .. } => "object",
            Command::ResolveObjections { outcome: ObjectionOutcome::Dismissed, .. } => "dismiss_objection",
            Command::ResolveObjections { outcome: ObjectionOutcome::ReturnedToReview, .. } => "return_after_objection",
            Command::CloseNotice => "close_notice",
        }
    }
}

/// The result of a successful [`apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: State,
    pub next: Application,
    /// The human comment for the audit entry.
    pub comment: Option<String>,
    /// The (policy, project) claim is free again (a terminal state).
    pub releases_claim: bool,
}

/// The policy and the clock a transition may consult.
pub struct Ctx<'a> {
    pub policy: &'a Policy,
    pub now: DateTime<Utc>,
}

/// The one place application state changes.
pub fn apply(app: &Application, actor: &Actor, cmd: Command, ctx: &Ctx<'_>) -> Result<Transition, Error> {
    if !authz::may_issue(actor.role, cmd.issuer()) {
        // The role may never do this: to the caller the object does not exist.
        return Err(Error::NotFound("application"));
    }
    let action = cmd.action();
    let wrong_state = || Error::WrongState { state: app.state.as_str(), action };
    let mut next = app.clone();
    next.updated_at = ctx.now;
    let mut releases_claim = false;
    let mut comment: Option<String> = None;

    match cmd {
        Command::Edit { claimed_area, note } => {
            if !matches!(app.state, State::Draft | State::Returned) {
                return Err(wrong_state());
            }
            let mut changes = Vec::new();
            if let Some(area) = claimed_area {
                check_claim_limit(area, ctx.policy)?;
                if area != app.claimed_area {
                    changes.push(format!("申报面积 {} m² → {} m²", app.claimed_area, area));
                }
                next.claimed_area = area;
                next.claimed_amount = ctx.policy.amount(area);
            }
            if note.is_some() {
                if note != app.note {
                    changes.push("备注已修改".to_string());
                }
                next.note = note;
            }
            // The reviewers see what changed since the return in the timeline.
            comment = (!changes.is_empty()).then(|| changes.join("；"));
        }
        Command::Submit { project, jurisdiction, verified_documents, payee } => {
            match app.state {
                State::Draft => check_window(ctx)?,
                // A return after the window closed can still be fixed, until
                // the policy's grace ends.
                State::Returned => check_resubmission(ctx)?,
                _ => return Err(wrong_state()),
            }
            check_claim_limit(app.claimed_area, ctx.policy)?;
            let missing: Vec<&'static str> = ctx
                .policy
                .required_documents
                .iter()
                .filter(|k| !verified_documents.contains(k))
                .map(|k| k.as_str())
                .collect();
            if !missing.is_empty() {
                return Err(Error::MissingDocuments { kinds: missing });
            }
            // A new manager, or a new claim, must be confirmed again.
            let reconfirm =
                app.confirmed_area != Some(app.claimed_area) || project.manager_phone != app.project.manager_phone;
            if app.state == State::Draft {
                // The claim is taken now, under the estate's name as it
                // stands (a draft's project may have been renamed).
                next.claim_key = crate::company::claim_key(&jurisdiction.community, project.name.as_str());
                // The account to be paid is part of what every tier reviews;
                // a later change is recorded beside it for the district.
                if payee.is_some() {
                    next.payee = payee;
                }
            }
            next.project = project;
            next.jurisdiction = jurisdiction;
            next.state = if reconfirm { State::AwaitingAreaConfirmation } else { State::PendingCommunity };
            if reconfirm {
                next.confirmed_area = None;
            }
            next.round += 1;
            next.submitted_at = Some(ctx.now);
            next.approvals.clear();
            next.approved_area = None;
            next.approved_amount = None;
        }
        Command::ConfirmArea => {
            if app.state != State::AwaitingAreaConfirmation {
                return Err(wrong_state());
            }
            next.confirmed_area = Some(app.claimed_area);
            next.state = State::PendingCommunity;
        }
        Command::DisputeArea { reason } => {
            if app.state != State::AwaitingAreaConfirmation {
                return Err(wrong_state());
            }
            next.state = State::Returned;
            next.last_decision = Some(decision(DecisionKind::AreaDisputed, actor, Some(reason.clone()), ctx.now));
            comment = Some(reason.to_string());
        }
        Command::Approve { tier, area, reason, payee } => {
            if app.state != State::pending_at(tier) {
                return Err(wrong_state());
            }
            let current = app.current_area();
            let area = area.unwrap_or(current);
            if area > current {
                return Err(Error::invalid(
                    "approvedArea",
                    format!("must not exceed the area under review ({current} m²)"),
                ));
            }
            if area < current && reason.is_none() {
                return Err(Error::invalid("reason", "a reason is required when approving a smaller area"));
            }
            comment = reason.as_ref().map(|r| r.to_string());
            next.approved_area = Some(area);
            next.approvals.push(TierApproval { tier, area, reason, by: actor.user_id.clone(), at: ctx.now });
            next.state = match tier {
                Tier::Community => State::PendingSubdistrict,
                Tier::Subdistrict => State::PendingDistrict,
                Tier::District => {
                    let amount = ctx.policy.amount(area);
                    next.approved_amount = Some(amount);
                    if next.payee.is_none() {
                        next.payee = payee;
                    }
                    // 公示 first, when the policy has one: payable once it closes.
                    if ctx.policy.public_notice_days > 0 {
                        // Published again after an upheld objection: the
                        // earlier notice and its objections are kept.
                        if let Some(earlier) = next.notice.take() {
                            next.past_notices.push(earlier);
                        }
                        next.notice = Some(PublicNotice {
                            starts_at: ctx.now,
                            ends_at: ctx.policy.notice_ends(ctx.now),
                            objections: Vec::new(),
                        });
                        State::InPublicNotice
                    } else {
                        State::Approved
                    }
                }
            };
        }
        Command::Return { tier, reason } => {
            if app.state != State::pending_at(tier) {
                return Err(wrong_state());
            }
            next.state = State::Returned;
            next.approved_area = None;
            next.approvals.clear();
            next.last_decision = Some(decision(DecisionKind::Returned, actor, Some(reason.clone()), ctx.now));
            comment = Some(reason.to_string());
        }
        Command::Reject { tier, reason } => {
            if app.state != State::pending_at(tier) {
                return Err(wrong_state());
            }
            next.state = State::Rejected;
            next.last_decision = Some(decision(DecisionKind::Rejected, actor, Some(reason.clone()), ctx.now));
            comment = Some(reason.to_string());
            releases_claim = true;
        }
        Command::Withdraw { reason } => {
            let before_district_decision = matches!(
                app.state,
                State::Draft
                    | State::AwaitingAreaConfirmation
                    | State::PendingCommunity
                    | State::PendingSubdistrict
                    | State::PendingDistrict
                    | State::Returned
            );
            if !before_district_decision {
                return Err(wrong_state());
            }
            next.state = State::Withdrawn;
            next.last_decision = Some(decision(DecisionKind::Withdrawn, actor, reason.clone(), ctx.now));
            comment = reason.map(|r| r.to_string());
            releases_claim = true;
        }
        Command::AddToBatch { batch_id, line_id } => {
            if app.state != State::Approved {
                return Err(wrong_state());
            }
            check_payable_now(app, ctx)?;
            // Only a verified account is ever paid.
            if app.payee.is_none() || app.payee_change.is_some() {
                return Err(Error::PayeeNotVerified);
            }
            next.state = State::InPaymentBatch;
            next.batch_id = Some(batch_id.clone());
            next.payment_line = Some(line_id.clone());
        }
        Command::RemoveFromBatch => {
            if app.state != State::InPaymentBatch {
                return Err(wrong_state());
            }
            next.state = State::Approved;
            next.batch_id = None;
            next.payment_line = None;
        }
        Command::MarkPaid => {
            if app.state != State::InPaymentBatch {
                return Err(wrong_state());
            }
            next.state = State::Paid;
        }
        Command::MarkPaymentFailed { reason } => {
            if app.state != State::InPaymentBatch {
                return Err(wrong_state());
            }
            next.state = State::PaymentFailed;
            next.batch_id = None;
            next.failed_line = app.payment_line.clone();
            next.last_decision = Some(decision(DecisionKind::PaymentFailed, actor, Some(reason.clone()), ctx.now));
            comment = Some(reason.to_string());
        }
        Command::RequestPayeeChange { account } => {
            // While a line is out with the bank the account cannot change:
            // the bank would pay one account and the records name another.
            if app.state == State::InPaymentBatch {
                return Err(Error::PaymentInProgress);
            }
            if !app.state.payee_may_change() {
                return Err(wrong_state());
            }
            comment =
                Some(format!("{} {} {}", account.bank_name, account.account_name, account.account_number.masked()));
            next.payee_change = Some(PayeeChange { account, requested_at: ctx.now, by: actor.user_id.clone() });
            next.payee_revealed = None;
        }
        Command::UndoPayeeChange { previous } => {
            if app.payee_change.is_none() || !app.state.payee_may_change() {
                return Err(wrong_state());
            }
            comment = Some("the company's profile was not changed (a payment was in progress)".into());
            next.payee_change = previous;
            next.payee_revealed = None;
        }
        Command::RevealPayee => {
            if !app.payee_to_verify() {
                return Err(wrong_state());
            }
            comment = Some("查看完整账号以核验".into());
            next.payee_revealed = Some(PayeeReveal { by: actor.user_id.clone(), at: ctx.now });
        }
        Command::VerifyPayee { confirm_holder_name } => {
            if !app.payee_to_verify() {
                return Err(wrong_state());
            }
            // Verified only by one who has seen the account in full.
            if app.payee_revealed.as_ref().is_none_or(|r| r.by != actor.user_id) {
                return Err(Error::RevealRequired);
            }
            let account = app.account_to_verify().ok_or(Error::PayeeNotVerified)?;
            if !app.holder_is_company(account) && !confirm_holder_name {
                return Err(Error::HolderNameUnconfirmed);
            }
            if let Some(change) = &app.payee_change {
                comment = Some(format!(
                    "{} {} {}",
                    change.account.bank_name,
                    change.account.account_name,
                    change.account.account_number.masked()
                ));
                next.payee = Some(change.account.clone());
                next.payee_change = None;
            }
            next.payee_revealed = None;
            // Verified while the district still reviews: the review goes on.
            if app.state == State::PaymentFailed {
                next.state = State::Approved;
            }
        }
        Command::OpenRecovery { amount, reason } => {
            if app.state != State::Paid || app.recovery.is_some() {
                return Err(wrong_state());
            }
            let paid = app.approved_amount.unwrap_or(Fen::ZERO);
            if amount.fen() <= 0 || amount > paid {
                return Err(Error::invalid(
                    "amount",
                    format!("a recovery is more than 0.00 and at most the {paid} yuan paid"),
                ));
            }
            comment = Some(format!("追回 {amount} 元：{reason}"));
            next.recovery = Some(super::Recovery {
                amount,
                reason,
                opened_by: actor.user_id.clone(),
                opened_at: ctx.now,
                confirmed_by: None,
                confirmed_at: None,
                repayments: Vec::new(),
            });
        }
        Command::ConfirmRecovery => {
            let Some(r) = app.recovery.as_ref().filter(|r| r.confirmed_at.is_none()) else {
                return Err(wrong_state());
            };
            if r.opened_by == actor.user_id {
                return Err(Error::SameUserCannotConfirm);
            }
            comment = Some(format!("确认追回 {} 元", r.amount));
            let r = next.recovery.as_mut().expect("checked above");
            r.confirmed_by = Some(actor.user_id.clone());
            r.confirmed_at = Some(ctx.now);
        }
        Command::RecordRepayment { date, amount, bank_reference } => {
            let Some(r) = app.recovery.as_ref().filter(|r| r.status() == super::RecoveryStatus::Recovering) else {
                return Err(wrong_state());
            };
            let owed = r.owed();
            if amount.fen() <= 0 || amount > owed {
                return Err(Error::invalid(
                    "amount",
                    format!("a repayment is more than 0.00 and at most the {owed} yuan owed"),
                ));
            }
            let today = ctx.now.with_timezone(&crate::policy::shanghai()).date_naive();
            if date > today {
                return Err(Error::invalid("date", "a repayment cannot be dated after today"));
            }
            comment = Some(format!("收到追回款 {amount} 元（{date}，{bank_reference}）"));
            next.recovery.as_mut().expect("checked above").repayments.push(super::Repayment {
                date,
                amount,
                bank_reference,
                recorded_by: actor.user_id.clone(),
                recorded_at: ctx.now,
            });
        }
        Command::Object { reason } => {
            let notice = app.notice_open(ctx.now)?;
            if notice.objections.iter().any(|o| o.by == actor.user_id) {
                return Err(Error::AlreadyObjected);
            }
            comment = Some(format!("异议：{reason}"));
            let notice = next.notice.as_mut().expect("checked above");
            notice.objections.push(Objection {
                seq: u32::try_from(notice.objections.len()).unwrap_or(u32::MAX).saturating_add(1),
                by: actor.user_id.clone(),
                role: actor.role,
                reason,
                at: ctx.now,
                resolution: None,
            });
        }
        Command::ResolveObjections { outcome, reason } => {
            if app.state != State::InPublicNotice || !app.notice.as_ref().is_some_and(PublicNotice::on_hold) {
                return Err(wrong_state());
            }
            let notice = next.notice.as_mut().expect("checked above");
            let mut resolved = 0;
            for o in notice.objections.iter_mut().filter(|o| o.resolution.is_none()) {
                o.resolution = Some(ObjectionResolution {
                    outcome,
                    reason: reason.clone(),
                    by: actor.user_id.clone(),
                    at: ctx.now,
                });
                resolved += 1;
            }
            let ended = ctx.now >= notice.ends_at;
            match outcome {
                ObjectionOutcome::Dismissed => {
                    comment = Some(format!("异议不成立（{resolved} 件）：{reason}"));
                    // The window is not restarted; if it has ended, payable now.
                    if ended {
                        next.state = State::Approved;
                    }
                }
                ObjectionOutcome::ReturnedToReview => {
                    comment = Some(format!("异议成立（{resolved} 件），退回区级审核：{reason}"));
                    // Back to 审核 at the area the subdistrict approved; the
                    // district decides again (approve, return or reject).
                    if next.approvals.last().is_some_and(|a| a.tier == Tier::District) {
                        next.approvals.pop();
                    }
                    next.approved_area = next.approvals.last().map(|a| a.area);
                    next.approved_amount = None;
                    next.state = State::PendingDistrict;
                }
            }
        }
        Command::CloseNotice => {
            let Some(notice) = app.notice.as_ref().filter(|_| app.state == State::InPublicNotice) else {
                return Err(wrong_state());
            };
            if ctx.now < notice.ends_at || notice.on_hold() {
                return Err(wrong_state());
            }
            comment = Some("公示期满，无异议".into());
            next.state = State::Approved;
        }
        Command::Urge => {
            app.may_urge(ctx.policy, ctx.now)?;
            comment = Some("催办".into());
            next.urged_at = Some(ctx.now);
        }
    }

    if next.state != app.state {
        next.state_since = ctx.now;
    }
    next.version = app.version + 1;
    Ok(Transition { from: app.state, next, comment, releases_claim })
}

fn decision(kind: DecisionKind, actor: &Actor, reason: Option<Text>, at: DateTime<Utc>) -> Decision {
    Decision { kind, role: actor.role, reason, by: actor.user_id.clone(), at }
}

/// Applications may be created and submitted only inside the window.
pub fn check_window(ctx: &Ctx<'_>) -> Result<(), Error> {
    match ctx.policy.window(ctx.now) {
        Window::Open => Ok(()),
        Window::NotYetOpen => Err(Error::WindowNotOpen { opens_at: ctx.policy.opens_at }),
        Window::Closed => Err(Error::WindowClosed { closes_at: ctx.policy.closes_at }),
    }
}

/// A returned application may be resubmitted from the window's opening
/// until the policy's `resubmitUntil`.
pub fn check_resubmission(ctx: &Ctx<'_>) -> Result<(), Error> {
    match ctx.policy.window(ctx.now) {
        Window::NotYetOpen => Err(Error::WindowNotOpen { opens_at: ctx.policy.opens_at }),
        _ if ctx.now >= ctx.policy.resubmit_until() => {
            Err(Error::WindowClosed { closes_at: ctx.policy.resubmit_until() })
        }
        _ => Ok(()),
    }
}

/// Whether an application may go into a batch now: before the payout
/// deadline; after it, only the re-issue of a failed payment, until the
/// policy's `reissueUntil`.
pub fn check_payable_now(app: &Application, ctx: &Ctx<'_>) -> Result<(), Error> {
    let p = ctx.policy;
    if ctx.now < p.payout_deadline {
        return Ok(());
    }
    if app.failed_line.is_some() && ctx.now < p.reissue_until() {
        return Ok(());
    }
    let deadline = if app.failed_line.is_some() { p.reissue_until() } else { p.payout_deadline };
    Err(Error::PayoutDeadlinePassed { deadline })
}

pub fn check_claim_limit(area: Area, policy: &Policy) -> Result<(), Error> {
    if area > policy.max_project_area {
        return Err(Error::invalid(
            "claimedArea",
            format!("must not exceed {} m² for one project", policy.max_project_area),
        ));
    }
    Ok(())
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
    let t = apply(app, actor, cmd, &Ctx { policy, now })?;
    let releases = t.releases_claim;
    let mut next = t.next;
    let to = next.state.as_str();
    let happened = Happened { at: now, actor, action, from: Some(t.from.as_str()), to, comment: t.comment };
    let audit = crate::audit::append(key, &mut next, happened);
    Ok((next, audit, releases))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;

    fn submit(app: &Application, ctx: &Ctx<'_>) -> Result<Transition, Error> {
        apply(app, &company(), submit_cmd(app), ctx)
    }

    #[test]
    fn the_happy_path_reaches_approved_with_the_amount_to_the_fen() {
        let p = policy();
        let ctx = ctx_at(&p, in_window(&p));
        let mut app = draft("1234.56");
        for (actor, cmd, expected) in [
            (company(), submit_cmd(&app), State::AwaitingAreaConfirmation),
            (manager(), Command::ConfirmArea, State::PendingCommunity),
            (reviewer(Tier::Community), approve(Tier::Community), State::PendingSubdistrict),
            (reviewer(Tier::Subdistrict), approve(Tier::Subdistrict), State::PendingDistrict),
            (reviewer(Tier::District), approve(Tier::District), State::Approved),
        ] {
            let t = apply(&app, &actor, cmd, &ctx).unwrap();
            assert_eq!(t.next.state, expected);
            assert_eq!(t.next.version, app.version + 1);
            app = t.next;
        }
        assert_eq!(app.approved_amount.unwrap().to_string(), "1234.56");
        assert_eq!(app.approvals.len(), 3);
    }

    #[test]
    fn a_smaller_approved_area_needs_a_reason_and_recomputes_the_amount() {
        let p = policy();
        let ctx = ctx_at(&p, in_window(&p));
        let app = at_state(draft("1000.00"), State::PendingDistrict);
        let smaller = Command::Approve { tier: Tier::District, area: Some(area("800.50")), reason: None, payee: None };
        let err = apply(&app, &reviewer(Tier::District), smaller, &ctx).unwrap_err();
        assert_eq!(err.field(), Some("reason"));
        let smaller = Command::Approve {
            tier: Tier::District,
            area: Some(area("800.50")),
            reason: Some(text("部分面积为商业")),
            payee: None,
        };
        let t = apply(&app, &reviewer(Tier::District), smaller, &ctx).unwrap();
        assert_eq!(t.next.approved_amount.unwrap().to_string(), "800.50");
        assert_eq!(t.next.approved_amount, Some(p.amount(area("800.50"))));
    }

    #[test]
    fn a_tier_cannot_approve_more_than_the_tier_before_it() {
        let p = policy();
        let ctx = ctx_at(&p, in_window(&p));
        let mut app = at_state(draft("1000.00"), State::PendingSubdistrict);
        app.approved_area = Some(area("900.00"));
        let more = Command::Approve {
            tier: Tier::Subdistrict,
            area: Some(area("950.00")),
            reason: Some(text("x")),
            payee: None,
        };
        let err = apply(&app, &reviewer(Tier::Subdistrict), more, &ctx).unwrap_err();
        assert_eq!(err.field(), Some("approvedArea"));
        let same = apply(&app, &reviewer(Tier::Subdistrict), approve(Tier::Subdistrict), &ctx).unwrap();
        assert_eq!(same.next.approved_area, Some(area("900.00")));
    }

    #[test]
    fn returned_application_restarts_at_community_review() {
        let p = policy();
        let ctx = ctx_at(&p, in_window(&p));
        let mut app = at_state(draft("1000.00"), State::PendingSubdistrict);
        app.confirmed_area = Some(app.claimed_area);
        app.approved_area = Some(area("900.00"));
        let t = apply(
            &app,
            &reviewer(Tier::Subdistrict),
            Command::Return { tier: Tier::Subdistrict, reason: text("合同缺页") },
            &ctx,
        )
        .unwrap();
        assert_eq!(t.next.state, State::Returned);
        assert_eq!(t.next.approved_area, None);
        assert_eq!(t.next.last_decision.as_ref().unwrap().kind, DecisionKind::Returned);
        let again = submit(&t.next, &ctx).unwrap();
        assert_eq!(again.next.state, State::PendingCommunity);
        assert_eq!(again.next.round, app.round + 1);
    }

    #[test]
    fn a_changed_claim_goes_back_to_the_project_manager_on_resubmission() {
        let p = policy();
        let ctx = ctx_at(&p, in_window(&p));
        let mut app = at_state(draft("1000.00"), State::Returned);
        app.confirmed_area = Some(app.claimed_area);
        let edited =
            apply(&app, &company(), Command::Edit { claimed_area: Some(area("990.00")), note: None }, &ctx).unwrap();
        assert_eq!(edited.next.claimed_amount.to_string(), "990.00");
        let again = submit(&edited.next, &ctx).unwrap();
        assert_eq!(again.next.state, State::AwaitingAreaConfirmation);
    }

    #[test]
    fn an_edit_records_what_changed_for_the_reviewers() {
        let p = policy();
        let ctx = ctx_at(&p, in_window(&p));
        let app = at_state(draft("1000.00"), State::Returned);
        let both = Command::Edit { claimed_area: Some(area("990.00")), note: Some(text("已补充合同")) };
        let t = apply(&app, &company(), both, &ctx).unwrap();
        assert_eq!(t.comment.as_deref(), Some("申报面积 1000.00 m² → 990.00 m²；备注已修改"));
        // Sending the same values again changes nothing, and says nothing.
        let same = Command::Edit { claimed_area: Some(area("990.00")), note: Some(text("已补充合同")) };
        let t2 = apply(&t.next, &company(), same, &ctx).unwrap();
        assert_eq!(t2.comment, None);
    }

    #[test]
    fn disputing_the_area_returns_the_application_to_the_company() {
        let p = policy();
        let ctx = ctx_at(&p, in_window(&p));
        let app = at_state(draft("1000.00"), State::AwaitingAreaConfirmation);
        let t =
            apply(&app, &manager(), Command::DisputeArea { reason: text("实际在管面积为 800 平方米") }, &ctx).unwrap();
        assert_eq!(t.next.state, State::Returned);
        assert_eq!(t.next.last_decision.unwrap().kind, DecisionKind::AreaDisputed);
    }

    #[test]
    fn reject_and_withdraw_are_terminal_and_release_the_claim() {
        let p = policy();
        let ctx = ctx_at(&p, in_window(&p));
        let app = at_state(draft("10"), State::PendingCommunity);
        let r = apply(
            &app,
            &reviewer(Tier::Community),
            Command::Reject { tier: Tier::Community, reason: text("非住宅项目") },
            &ctx,
        )
        .unwrap();
        assert_eq!(r.next.state, State::Rejected);
        assert!(r.releases_claim);
        let w = apply(&app, &company(), Command::Withdraw { reason: None }, &ctx).unwrap();
        assert_eq!(w.next.state, State::Withdrawn);
        assert!(w.releases_claim);
        for terminal in [r.next, w.next] {
            for cmd in [submit_cmd(&terminal), Command::Withdraw { reason: None }] {
                assert!(matches!(apply(&terminal, &company(), cmd, &ctx), Err(Error::WrongState { .. })));
            }
        }
    }

    #[test]
    fn withdrawal_is_refused_once_the_district_has_decided() {
        let p = policy();
        let ctx = ctx_at(&p, in_window(&p));
        for s in [State::Approved, State::InPaymentBatch, State::Paid, State::PaymentFailed, State::Rejected] {
            let app = at_state(draft("10"), s);
            let err = apply(&app, &company(), Command::Withdraw { reason: None }, &ctx).unwrap_err();
            assert!(matches!(err, Error::WrongState { .. }), "{s}");
        }
    }

    #[test]
    fn a_reviewer_acting_at_the_wrong_tier_is_refused() {
        let p = policy();
        let ctx = ctx_at(&p, in_window(&p));
        let app = at_state(draft("10"), State::PendingCommunity);
        // Right role for the route, wrong state: 409.
        let err = apply(&app, &reviewer(Tier::Subdistrict), approve(Tier::Subdistrict), &ctx).unwrap_err();
        assert!(matches!(err, Error::WrongState { state: "pending_community", .. }));
        // A role deciding at a tier that is not its own: not found.
        let err = apply(&app, &reviewer(Tier::Subdistrict), approve(Tier::Community), &ctx).unwrap_err();
        assert_eq!(err, Error::NotFound("application"));
    }

    #[test]
    fn roles_cannot_take_each_others_actions() {
        let p = policy();
        let ctx = ctx_at(&p, in_window(&p));
        let app = at_state(draft("10"), State::AwaitingAreaConfirmation);
        assert_eq!(apply(&app, &company(), Command::ConfirmArea, &ctx).unwrap_err(), Error::NotFound("application"));
        let pending = at_state(draft("10"), State::PendingCommunity);
        assert_eq!(
            apply(&pending, &company(), approve(Tier::Community), &ctx).unwrap_err(),
            Error::NotFound("application")
        );
        assert_eq!(
            apply(&pending, &manager(), Command::Withdraw { reason: None }, &ctx).unwrap_err(),
            Error::NotFound("application")
        );
    }

    #[test]
    fn submission_outside_the_window_is_refused() {
        let p = policy();
        let app = draft("10");
        let late = ctx_at(&p, p.closes_at.to_utc());
        assert!(matches!(submit(&app, &late), Err(Error::WindowClosed { .. })));
        let early = ctx_at(&p, p.opens_at.to_utc() - chrono::Duration::seconds(1));
        assert!(matches!(submit(&app, &early), Err(Error::WindowNotOpen { .. })));
    }

    #[test]
    fn a_returned_application_may_be_resubmitted_until_the_grace_ends_but_no_new_one() {
        let p = policy();
        assert_eq!(p.resubmit_until(), p.closes_at + chrono::Duration::days(crate::policy::RESUBMIT_GRACE_DAYS));
        let returned = at_state(draft("10"), State::Returned);
        let after_close = ctx_at(&p, p.closes_at.to_utc() + chrono::Duration::days(3));
        assert!(matches!(submit(&draft("10"), &after_close), Err(Error::WindowClosed { .. })), "a first submission");
        assert!(submit(&returned, &after_close).is_ok(), "a resubmission inside the grace");
        let last = ctx_at(&p, p.resubmit_until().to_utc() - chrono::Duration::seconds(1));
        assert!(submit(&returned, &last).is_ok());
        let over = ctx_at(&p, p.resubmit_until().to_utc());
        assert_eq!(submit(&returned, &over).unwrap_err(), Error::WindowClosed { closes_at: p.resubmit_until() });
        let early = ctx_at(&p, p.opens_at.to_utc() - chrono::Duration::seconds(1));
        assert!(matches!(submit(&returned, &early), Err(Error::WindowNotOpen { .. })));
    }

    #[test]
    fn submission_needs_every_required_document() {
        let p = policy();
        let ctx = ctx_at(&p, in_window(&p));
        let app = draft("10");
        let cmd = Command::Submit {
            project: app.project.clone(),
            jurisdiction: app.jurisdiction.clone(),
            verified_documents: vec![DocumentKind::ServiceContract],
            payee: None,
        };
        assert_eq!(
            apply(&app, &company(), cmd, &ctx).unwrap_err(),
            Error::MissingDocuments { kinds: vec![DocumentKind::AreaProof.as_str()] }
        );
    }

    #[test]
    fn payment_states_follow_the_bank() {
        let p = policy();
        let ctx = ctx_at(&p, in_window(&p));
        let app = at_state(draft("10"), State::Approved);
        let add = |b: &str| Command::AddToBatch { batch_id: b.into(), line_id: format!("{b}-L1") };
        let batched = apply(&app, &finance(), add("b1"), &ctx).unwrap().next;
        assert_eq!(batched.payment_line.as_deref(), Some("b1-L1"));
        assert_eq!(batched.state, State::InPaymentBatch);
        let failed =
            apply(&batched, &finance(), Command::MarkPaymentFailed { reason: text("户名不符") }, &ctx).unwrap().next;
        assert_eq!(failed.state, State::PaymentFailed);
        assert_eq!(failed.batch_id, None);
        assert_eq!(failed.failed_line.as_deref(), Some("b1-L1"));
        assert!(apply(&failed, &finance(), add("b2"), &ctx).is_err());
        let opened = apply(&failed, &reviewer(Tier::District), Command::RevealPayee, &ctx).unwrap().next;
        let again =
            apply(&opened, &reviewer(Tier::District), Command::VerifyPayee { confirm_holder_name: false }, &ctx)
                .unwrap()
                .next;
        assert_eq!(again.state, State::Approved);
        // Past the payout deadline only a re-issue goes into a batch, and
        // only until the policy's grace ends.
        let late = ctx_at(&p, p.payout_deadline.to_utc());
        assert_eq!(apply(&again, &finance(), add("b3"), &late).unwrap().next.state, State::InPaymentBatch);
        assert_eq!(
            apply(&app, &finance(), add("b4"), &late).unwrap_err(),
            Error::PayoutDeadlinePassed { deadline: p.payout_deadline }
        );
        let later = ctx_at(&p, p.reissue_until().to_utc());
        assert_eq!(
            apply(&again, &finance(), add("b5"), &later).unwrap_err(),
            Error::PayoutDeadlinePassed { deadline: p.reissue_until() }
        );
        let just_before = ctx_at(&p, p.reissue_until().to_utc() - chrono::Duration::seconds(1));
        assert!(apply(&again, &finance(), add("b6"), &just_before).is_ok());
        let back = apply(&batched, &finance(), Command::RemoveFromBatch, &ctx).unwrap().next;
        assert_eq!((back.state, back.batch_id), (State::Approved, None));
        let paid = apply(&batched, &finance(), Command::MarkPaid, &ctx).unwrap().next;
        assert!(paid.state.is_terminal());
    }

    #[test]
    fn a_bank_change_after_approval_blocks_payment_until_the_district_verifies_it() {
        let p = policy();
        let ctx = ctx_at(&p, in_window(&p));
        let app = at_state(draft("10"), State::Approved);
        let mut account = app.payee.clone().unwrap();
        account.account_number = crate::fields::AccountNumber::parse("9999888877776666").unwrap();
        let changed = apply(&app, &company(), Command::RequestPayeeChange { account: account.clone() }, &ctx).unwrap();
        assert!(changed.comment.as_deref().unwrap().contains("****6666"), "the audit comment masks the account");
        let changed = changed.next;
        let add = Command::AddToBatch { batch_id: "b".into(), line_id: "l".into() };
        assert_eq!(apply(&changed, &finance(), add.clone(), &ctx).unwrap_err(), Error::PayeeNotVerified);
        let verify = Command::VerifyPayee { confirm_holder_name: false };
        // Not without the full view opened, and not on another's view.
        assert_eq!(
            apply(&changed, &reviewer(Tier::District), verify.clone(), &ctx).unwrap_err(),
            Error::RevealRequired
        );
        let opened = apply(&changed, &reviewer(Tier::District), Command::RevealPayee, &ctx).unwrap().next;
        let mut colleague = reviewer(Tier::District);
        colleague.user_id = "another-district-reviewer".into();
        assert_eq!(apply(&opened, &colleague, verify.clone(), &ctx).unwrap_err(), Error::RevealRequired);
        let verified = apply(&opened, &reviewer(Tier::District), verify, &ctx).unwrap().next;
        assert_eq!(verified.payee.as_ref(), Some(&account));
        assert_eq!(verified.payee_revealed, None, "a view serves one verification");
        assert_eq!(verified.payee_change, None);
        assert!(apply(&verified, &finance(), add.clone(), &ctx).is_ok());
        // Nothing to verify, and no change while a line is with the bank.
        assert!(matches!(
            apply(&app, &reviewer(Tier::District), Command::VerifyPayee { confirm_holder_name: true }, &ctx),
            Err(Error::WrongState { .. })
        ));
        assert!(matches!(
            apply(&app, &reviewer(Tier::District), Command::RevealPayee, &ctx),
            Err(Error::WrongState { .. })
        ));
        let batched = apply(&app, &finance(), add, &ctx).unwrap().next;
        assert_eq!(
            apply(&batched, &company(), Command::RequestPayeeChange { account }, &ctx).unwrap_err(),
            Error::PaymentInProgress
        );
    }

    #[test]
    fn an_undone_bank_change_restores_what_was_pending_and_only_a_pending_one_can_be_undone() {
        let p = policy();
        let ctx = ctx_at(&p, in_window(&p));
        let app = at_state(draft("10"), State::Approved);
        let mut account = app.payee.clone().unwrap();
        account.account_number = crate::fields::AccountNumber::parse("9999888877776666").unwrap();
        let first =
            apply(&app, &company(), Command::RequestPayeeChange { account: account.clone() }, &ctx).unwrap().next;
        account.account_number = crate::fields::AccountNumber::parse("1111222233334444").unwrap();
        let second = apply(&first, &company(), Command::RequestPayeeChange { account }, &ctx).unwrap().next;
        let undo = |previous| Command::UndoPayeeChange { previous };
        let back = apply(&second, &company(), undo(first.payee_change.clone()), &ctx).unwrap().next;
        assert_eq!(back.payee_change, first.payee_change, "the earlier pending change is pending again");
        let none = apply(&first, &company(), undo(None), &ctx).unwrap().next;
        assert_eq!(none.payee_change, None);
        let add = Command::AddToBatch { batch_id: "b".into(), line_id: "l".into() };
        assert!(apply(&none, &finance(), add, &ctx).is_ok(), "payable again");
        assert!(matches!(apply(&app, &company(), undo(None), &ctx), Err(Error::WrongState { .. })), "nothing to undo");
        assert!(apply(&second, &reviewer(Tier::District), undo(None), &ctx).is_err(), "only the company undoes");
    }

    /// The account is part of what each tier approves: fixed at the first
    /// submission; a change in review is recorded beside it (on the trail)
    /// and waits for the district, whose approval pays nobody until it has
    /// opened and verified the change.
    #[test]
    fn a_change_during_review_is_recorded_and_must_be_verified_before_payment() {
        let p = policy();
        let ctx = ctx_at(&p, in_window(&p));
        let mut app = draft("10");
        app.payee = None;
        let submitted = apply(&app, &company(), submit_cmd(&app), &ctx).unwrap().next;
        let reviewed = company_record().profile.bank_account;
        assert_eq!(submitted.payee.as_ref(), Some(&reviewed), "fixed at submission");
        let mut other = reviewed.clone();
        other.account_number = crate::fields::AccountNumber::parse("6217000011112222").unwrap();
        for s in [State::AwaitingAreaConfirmation, State::PendingCommunity, State::PendingSubdistrict, State::Returned]
        {
            let at = at_state(submitted.clone(), s);
            let t = apply(&at, &company(), Command::RequestPayeeChange { account: other.clone() }, &ctx).unwrap();
            assert_eq!((t.next.state, t.next.payee.as_ref()), (s, Some(&reviewed)), "{s}: the reviewed payee stands");
            assert!(t.next.payee_change.is_some() && t.comment.unwrap().contains("****2222"), "{s}");
            // Not verifiable before the district's review.
            assert!(apply(&t.next, &reviewer(Tier::District), Command::RevealPayee, &ctx).is_err(), "{s}");
        }
        let at_district = at_state(submitted.clone(), State::PendingDistrict);
        let changed =
            apply(&at_district, &company(), Command::RequestPayeeChange { account: other.clone() }, &ctx).unwrap().next;
        // Approved with the reviewed account, and not payable while the change waits.
        let approved = apply(&changed, &reviewer(Tier::District), approve(Tier::District), &ctx).unwrap().next;
        assert_eq!((approved.state, approved.payee.as_ref()), (State::Approved, Some(&reviewed)));
        let add = Command::AddToBatch { batch_id: "b".into(), line_id: "l".into() };
        assert_eq!(apply(&approved, &finance(), add.clone(), &ctx).unwrap_err(), Error::PayeeNotVerified);
        // The district may also verify it during its own review.
        let during = revealed_and_verified(&changed, false).unwrap();
        assert_eq!(
            (during.state, during.payee.as_ref(), &during.payee_change),
            (State::PendingDistrict, Some(&other), &None)
        );
        let verified = revealed_and_verified(&approved, false).unwrap();
        assert_eq!(verified.payee.as_ref(), Some(&other));
        assert!(apply(&verified, &finance(), add, &ctx).is_ok());
    }

    #[test]
    fn an_account_held_by_someone_else_needs_an_explicit_confirmation() {
        let p = policy();
        let ctx = ctx_at(&p, in_window(&p));
        let app = at_state(draft("10"), State::Approved);
        let mut personal = app.payee.clone().unwrap();
        personal.account_name = text("张三");
        let changed =
            apply(&app, &company(), Command::RequestPayeeChange { account: personal.clone() }, &ctx).unwrap().next;
        assert_eq!(revealed_and_verified(&changed, false).unwrap_err(), Error::HolderNameUnconfirmed);
        assert_eq!(revealed_and_verified(&changed, true).unwrap().payee, Some(personal.clone()));
        // Spacing, case and full-width forms are the same name.
        let mut spaced = personal;
        spaced.account_name = text(" 测试 物业 ");
        let same = apply(&app, &company(), Command::RequestPayeeChange { account: spaced }, &ctx).unwrap().next;
        assert!(revealed_and_verified(&same, false).is_ok());
    }

    #[test]
    fn a_district_approval_fixes_the_account_it_approved() {
        let p = policy();
        let ctx = ctx_at(&p, in_window(&p));
        let mut app = at_state(draft("10"), State::PendingDistrict);
        app.payee = None;
        let account = company_record().profile.bank_account;
        let cmd = Command::Approve { tier: Tier::District, area: None, reason: None, payee: Some(account.clone()) };
        let t = apply(&app, &reviewer(Tier::District), cmd, &ctx).unwrap();
        assert_eq!(t.next.payee, Some(account));
    }

    #[test]
    fn every_state_refuses_every_command_it_does_not_list() {
        // Exhaustive: for each state and command, a success must be one of
        // the arrows of the diagram above.
        let p = policy();
        let ctx = ctx_at(&p, in_window(&p));
        let allowed = |s: State, action: &str| -> bool {
            matches!(
                (s, action),
                (State::Draft | State::Returned, "edit" | "submit" | "withdraw")
                    | (State::AwaitingAreaConfirmation, "confirm_area" | "dispute_area" | "withdraw")
                    | (
                        State::PendingCommunity | State::PendingSubdistrict | State::PendingDistrict,
                        "approve" | "return" | "reject" | "withdraw"
                    )
                    | (
                        State::AwaitingAreaConfirmation
                            | State::PendingCommunity
                            | State::PendingSubdistrict
                            | State::PendingDistrict
                            | State::InPublicNotice
                            | State::Returned,
                        "request_bank_account_change"
                    )
                    | (State::Approved, "add_to_batch" | "request_bank_account_change")
                    | (State::InPaymentBatch, "mark_paid" | "mark_payment_failed" | "remove_from_batch")
                    | (State::PaymentFailed, "reveal_bank_account" | "request_bank_account_change")
            )
        };
        let mut checked = 0;
        for s in State::ALL {
            let app = at_state(draft("10"), s);
            let tier = s.tier().unwrap_or(Tier::Community);
            let cmds: Vec<(Actor, Command)> = vec![
                (company(), Command::Edit { claimed_area: None, note: None }),
                (company(), submit_cmd(&app)),
                (company(), Command::Withdraw { reason: None }),
                (manager(), Command::ConfirmArea),
                (manager(), Command::DisputeArea { reason: text("x") }),
                (reviewer(tier), approve(tier)),
                (reviewer(tier), Command::Return { tier, reason: text("x") }),
                (reviewer(tier), Command::Reject { tier, reason: text("x") }),
                (finance(), Command::AddToBatch { batch_id: "b".into(), line_id: "l".into() }),
                (finance(), Command::RemoveFromBatch),
                (finance(), Command::MarkPaid),
                (finance(), Command::MarkPaymentFailed { reason: text("x") }),
                (company(), Command::RequestPayeeChange { account: company_record().profile.bank_account }),
                (reviewer(Tier::District), Command::RevealPayee),
                (reviewer(Tier::District), Command::VerifyPayee { confirm_holder_name: true }),
                // With no notice published, nothing of 公示 applies
                // (`public_notice` below has the arrows that do).
                (company(), Command::Object { reason: text("x") }),
                (
                    reviewer(Tier::District),
                    Command::ResolveObjections { outcome: ObjectionOutcome::Dismissed, reason: text("x") },
                ),
                (staff(crate::identity::Role::City, "440300"), Command::CloseNotice),
            ];
            for (actor, cmd) in cmds {
                let action = cmd.action();
                let result = apply(&app, &actor, cmd, &ctx);
                assert_eq!(result.is_ok(), allowed(s, action), "{s} {action}: {result:?}");
                if let Err(e) = result {
                    let no_notice = action == "object" && matches!(e, Error::NotFound("public notice"));
                    assert!(
                        no_notice
                            || matches!(e, Error::WrongState { .. } | Error::PaymentInProgress | Error::RevealRequired),
                        "{s} {action}: {e:?}"
                    );
                }
                checked += 1;
            }
        }
        assert_eq!(checked, State::ALL.len() * 18);
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn a_recovery_needs_a_second_person_and_is_repaid_up_to_what_is_owed() {
        let p = policy();
        let ctx = Ctx { policy: &p, now: at("2020-06-10T10:00:00+08:00") };
        let mut paid = at_state(draft("1000"), State::Paid);
        paid.approved_amount = Some(paid.claimed_amount);
        let district = reviewer(Tier::District);
        let fen = |y: &str| Fen::parse_yuan(y).unwrap();
        let reason = Text::parse("重复申报", 100).unwrap();
        let open = |amount| Command::OpenRecovery { amount, reason: reason.clone() };
        // At most what was paid; only a paid application; only the district.
        assert!(matches!(apply(&paid, &district, open(fen("1000.01")), &ctx), Err(Error::Invalid { .. })));
        assert!(matches!(apply(&paid, &district, open(fen("0.00")), &ctx), Err(Error::Invalid { .. })));
        let approved = at_state(draft("1000"), State::Approved);
        assert!(matches!(apply(&approved, &district, open(fen("1.00")), &ctx), Err(Error::WrongState { .. })));
        assert!(matches!(apply(&paid, &finance(), open(fen("1.00")), &ctx), Err(Error::NotFound(_))));
        let opened = apply(&paid, &district, open(fen("1000.00")), &ctx).unwrap().next;
        assert_eq!(opened.state, State::Paid, "the application stays paid");
        assert!(matches!(apply(&opened, &district, open(fen("1.00")), &ctx), Err(Error::WrongState { .. })));

        // Confirmed by finance, never by whoever opened it.
        let mut two_hats = finance();
        two_hats.user_id = district.user_id.clone();
        assert!(matches!(apply(&opened, &two_hats, Command::ConfirmRecovery, &ctx), Err(Error::SameUserCannotConfirm)));
        let repay = |amount, date: &str| Command::RecordRepayment {
            date: date.parse().unwrap(),
            amount,
            bank_reference: Text::parse("HK1", 100).unwrap(),
        };
        assert!(matches!(
            apply(&opened, &finance(), repay(fen("1.00"), "2020-06-01"), &ctx),
            Err(Error::WrongState { .. })
        ));
        let confirmed = apply(&opened, &finance(), Command::ConfirmRecovery, &ctx).unwrap().next;
        assert_eq!(confirmed.recovery.as_ref().unwrap().status(), crate::application::RecoveryStatus::Recovering);

        // Repaid in parts, never beyond what is owed, never dated ahead.
        let part = apply(&confirmed, &finance(), repay(fen("400.00"), "2020-06-01"), &ctx).unwrap().next;
        assert_eq!(part.recovery.as_ref().unwrap().owed(), fen("600.00"));
        assert!(matches!(
            apply(&part, &finance(), repay(fen("600.01"), "2020-06-02"), &ctx),
            Err(Error::Invalid { .. })
        ));
        assert!(matches!(apply(&part, &finance(), repay(fen("1.00"), "2020-06-11"), &ctx), Err(Error::Invalid { .. })));
        let done = apply(&part, &finance(), repay(fen("600.00"), "2020-06-10"), &ctx).unwrap().next;
        let r = done.recovery.as_ref().unwrap();
        assert_eq!(
            (r.status(), r.repaid(), r.owed()),
            (crate::application::RecoveryStatus::Recovered, fen("1000.00"), Fen::ZERO)
        );
        assert!(matches!(
            apply(&done, &finance(), repay(fen("0.01"), "2020-06-10"), &ctx),
            Err(Error::WrongState { .. })
        ));
    }

    /// Pending 初审 since Monday 2 March 2020 09:00: due by the end of
    /// Monday 9 March.
    fn waiting_since_monday() -> Application {
        let mut a = at_state(draft("1000"), State::PendingCommunity);
        a.state_since = at("2020-03-02T09:00:00+08:00");
        a
    }

    #[test]
    fn the_company_urges_only_past_the_time_limit_and_once_per_working_day() {
        let p = policy();
        let a = waiting_since_monday();
        let urge = |app: &Application, now: &str| apply(app, &company(), Command::Urge, &ctx_at(&p, at(now)));
        // Not before the end of Monday 9 March.
        assert!(matches!(urge(&a, "2020-03-09T23:59:59+08:00"), Err(Error::NotOverdue { .. })));
        let t = urge(&a, "2020-03-10T09:00:00+08:00").unwrap();
        assert_eq!(
            (t.from, t.next.state, t.next.version),
            (State::PendingCommunity, State::PendingCommunity, a.version + 1)
        );
        assert_eq!(t.next.urged_at, Some(at("2020-03-10T09:00:00+08:00")));
        assert_eq!(t.next.state_since, a.state_since, "an urge is not a new step");
        assert_eq!(t.comment.as_deref(), Some("催办"));
        // The same working day, even a minute before its end: refused.
        assert!(matches!(urge(&t.next, "2020-03-10T23:59:00+08:00"), Err(Error::AlreadyUrged)));
        // The next working day: again.
        let t2 = urge(&t.next, "2020-03-11T00:00:01+08:00").unwrap();
        // Urged on Friday 13th; Saturday and Sunday count toward Monday 16th:
        // one urge over the weekend, none more on Monday.
        let fri = urge(&t2.next, "2020-03-13T10:00:00+08:00").unwrap();
        let sat = urge(&fri.next, "2020-03-14T10:00:00+08:00").unwrap();
        assert!(matches!(urge(&sat.next, "2020-03-15T10:00:00+08:00"), Err(Error::AlreadyUrged)));
        assert!(matches!(urge(&sat.next, "2020-03-16T10:00:00+08:00"), Err(Error::AlreadyUrged)));
        assert!(urge(&sat.next, "2020-03-17T10:00:00+08:00").is_ok());
    }

    #[test]
    fn only_the_company_urges_and_only_a_step_with_a_time_limit() {
        let p = policy();
        let a = waiting_since_monday();
        let later = at("2020-03-20T10:00:00+08:00");
        for actor in [manager(), reviewer(Tier::Community), finance(), staff(crate::identity::Role::City, "440300")] {
            assert!(
                matches!(apply(&a, &actor, Command::Urge, &ctx_at(&p, later)), Err(Error::NotFound(_))),
                "{actor:?}"
            );
        }
        for state in
            [State::Draft, State::Returned, State::Rejected, State::Withdrawn, State::InPaymentBatch, State::Paid]
        {
            let b = at_state(a.clone(), state);
            assert!(
                matches!(apply(&b, &company(), Command::Urge, &ctx_at(&p, later)), Err(Error::WrongState { .. })),
                "{state:?}"
            );
        }
    }

    mod public_notice {
        use super::*;
        use crate::application::ObjectionOutcome as O;

        fn notice_policy() -> Policy {
            Policy { public_notice_days: 5, ..policy() }
        }

        fn t(s: &str) -> DateTime<Utc> {
            DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
        }

        /// Approved by the district on Tuesday 10 March 2020, 15:00.
        fn in_notice(p: &Policy) -> Application {
            let mut app = at_state(draft("1000.00"), State::PendingSubdistrict);
            for tier in [Tier::Subdistrict, Tier::District] {
                let lowered = Command::Approve {
                    tier,
                    area: Some(area(if tier == Tier::Subdistrict { "900.00" } else { "800.00" })),
                    reason: Some(text("部分为商业面积")),
                    payee: None,
                };
                app = apply(&app, &reviewer(tier), lowered, &ctx_at(p, t("2020-03-10T15:00:00+08:00"))).unwrap().next;
            }
            app
        }

        fn object(app: &Application, actor: &Actor, at: &str) -> Result<Transition, Error> {
            apply(
                app,
                actor,
                Command::Object { reason: text("该小区实际未提供服务") },
                &ctx_at(&notice_policy(), t(at)),
            )
        }

        fn resolve(app: &Application, outcome: O, at: &str) -> Result<Transition, Error> {
            let cmd = Command::ResolveObjections { outcome, reason: text("已核实") };
            apply(app, &reviewer(Tier::District), cmd, &ctx_at(&notice_policy(), t(at)))
        }

        fn close(app: &Application, at: &str) -> Result<Transition, Error> {
            apply(app, &staff(Role::City, "440300"), Command::CloseNotice, &ctx_at(&notice_policy(), t(at)))
        }

        use crate::identity::Role;

        #[test]
        fn with_a_notice_period_the_district_approval_is_published_first_with_its_amount_fixed() {
            let p = notice_policy();
            let app = in_notice(&p);
            assert_eq!(app.state, State::InPublicNotice);
            assert_eq!(app.approved_amount, Some(p.amount(area("800.00"))));
            let n = app.notice.as_ref().unwrap();
            assert_eq!((n.starts_at, n.ends_at), (t("2020-03-10T15:00:00+08:00"), t("2020-03-15T00:00:00+08:00")));
            // Without one (Shenzhen's own policy), payable at once.
            let mut app = at_state(draft("1000.00"), State::PendingDistrict);
            app = apply(
                &app,
                &reviewer(Tier::District),
                approve(Tier::District),
                &ctx_at(&policy(), in_window(&policy())),
            )
            .unwrap()
            .next;
            assert_eq!((app.state, app.notice.is_none()), (State::Approved, true));
        }

        #[test]
        fn anyone_signed_in_objects_once_inside_the_window_and_it_holds_the_application() {
            let app = in_notice(&notice_policy());
            let first = object(&app, &company(), "2020-03-12T09:00:00+08:00").unwrap();
            assert_eq!(first.next.state, State::InPublicNotice);
            assert!(first.next.notice.as_ref().unwrap().on_hold());
            assert!(matches!(
                object(&first.next, &company(), "2020-03-12T10:00:00+08:00"),
                Err(Error::AlreadyObjected)
            ));
            // Another user, of any role, may object too.
            let second = object(&first.next, &finance(), "2020-03-14T23:59:59+08:00").unwrap();
            let objections = &second.next.notice.as_ref().unwrap().objections;
            assert_eq!(objections.iter().map(|o| o.seq).collect::<Vec<_>>(), [1, 2]);
            assert_eq!(objections[1].by, finance().user_id);
            // At the window's end, and after it, no more.
            for at in ["2020-03-15T00:00:00+08:00", "2020-03-20T00:00:00+08:00"] {
                assert!(matches!(object(&app, &manager(), at), Err(Error::NoticeClosed { .. })), "{at}");
            }
            // Once it is payable the notice is closed; never published: not found.
            let closed = close(&app, "2020-03-15T01:00:00+08:00").unwrap().next;
            assert!(matches!(
                object(&closed, &manager(), "2020-03-12T09:00:00+08:00"),
                Err(Error::NoticeClosed { .. })
            ));
            let never = at_state(draft("1.00"), State::Approved);
            assert!(matches!(object(&never, &manager(), "2020-03-12T09:00:00+08:00"), Err(Error::NotFound(_))));
        }

        #[test]
        fn a_dismissed_objection_lets_the_notice_go_on_without_restarting_its_window() {
            let app = in_notice(&notice_policy());
            let held = object(&app, &company(), "2020-03-12T09:00:00+08:00").unwrap().next;
            assert!(matches!(close(&held, "2020-03-15T01:00:00+08:00"), Err(Error::WrongState { .. })), "held");
            let dismissed = resolve(&held, O::Dismissed, "2020-03-13T09:00:00+08:00").unwrap().next;
            assert_eq!(dismissed.state, State::InPublicNotice);
            assert_eq!(dismissed.notice.as_ref().unwrap().ends_at, t("2020-03-15T00:00:00+08:00"));
            assert!(matches!(close(&dismissed, "2020-03-14T23:00:00+08:00"), Err(Error::WrongState { .. })));
            let payable = close(&dismissed, "2020-03-15T01:00:00+08:00").unwrap().next;
            assert_eq!(payable.state, State::Approved);
            // Dismissed after the window ended: payable at once.
            let late = resolve(&held, O::Dismissed, "2020-03-16T09:00:00+08:00").unwrap();
            assert_eq!(late.next.state, State::Approved);
            // Nothing waits: nothing to resolve.
            assert!(matches!(resolve(&app, O::Dismissed, "2020-03-13T09:00:00+08:00"), Err(Error::WrongState { .. })));
        }

        #[test]
        fn an_upheld_objection_returns_the_application_to_the_districts_review_at_the_subdistricts_area() {
            let app = in_notice(&notice_policy());
            let held = object(&app, &company(), "2020-03-12T09:00:00+08:00").unwrap().next;
            let back = resolve(&held, O::ReturnedToReview, "2020-03-13T09:00:00+08:00").unwrap().next;
            assert_eq!(back.state, State::PendingDistrict);
            assert_eq!((back.approved_area, back.approved_amount), (Some(area("900.00")), None));
            assert_eq!(back.approvals.last().map(|a| a.tier), Some(Tier::Subdistrict));
            // The district decides again, as usual: a return goes to the company.
            let cmd = Command::Return { tier: Tier::District, reason: text("补充材料") };
            let returned =
                apply(&back, &reviewer(Tier::District), cmd, &ctx_at(&notice_policy(), t("2020-03-13T10:00:00+08:00")));
            assert_eq!(returned.unwrap().next.state, State::Returned);
            // Approved again: a new notice, the earlier one kept with its objection.
            let again = apply(
                &back,
                &reviewer(Tier::District),
                approve(Tier::District),
                &ctx_at(&notice_policy(), t("2020-03-16T10:00:00+08:00")),
            )
            .unwrap()
            .next;
            assert_eq!(again.notice.as_ref().unwrap().objections.len(), 0);
            assert_eq!(again.past_notices.len(), 1);
            assert_eq!(again.past_notices[0].objections[0].resolution.as_ref().unwrap().outcome, O::ReturnedToReview);
            assert_eq!(again.notice.as_ref().unwrap().ends_at, t("2020-03-21T00:00:00+08:00"));
        }

        #[test]
        fn only_a_district_reviewer_resolves_and_only_the_system_closes() {
            let app = in_notice(&notice_policy());
            let held = object(&app, &company(), "2020-03-12T09:00:00+08:00").unwrap().next;
            let cmd = || Command::ResolveObjections { outcome: O::Dismissed, reason: text("x") };
            let at = ctx_at_owned(t("2020-03-13T09:00:00+08:00"));
            for actor in [company(), manager(), finance(), reviewer(Tier::Subdistrict), staff(Role::City, "440300")] {
                assert!(
                    matches!(apply(&held, &actor, cmd(), &ctx_at(&at.0, at.1)), Err(Error::NotFound(_))),
                    "{actor:?}"
                );
            }
            for actor in [company(), reviewer(Tier::District), finance()] {
                let ctx = ctx_at(&at.0, t("2020-03-16T09:00:00+08:00"));
                assert!(
                    matches!(apply(&app, &actor, Command::CloseNotice, &ctx), Err(Error::NotFound(_))),
                    "{actor:?}"
                );
            }
        }

        fn ctx_at_owned(now: DateTime<Utc>) -> (Policy, DateTime<Utc>) {
            (notice_policy(), now)
        }
    }
}
