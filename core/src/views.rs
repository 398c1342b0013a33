//! What callers see: the JSON shapes of the API, with personal data masked
//! for everyone who does not need it in full.
//!
//! Phone numbers and bank account numbers are never shown in full in a
//! view, not even to the company that entered them: "138****8000",
//! "****1234". Only finance's disbursement file carries account numbers in
//! full. Updates may leave a phone out to keep the number on file.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::application::precheck::PrecheckReport;
use crate::application::state::State;
use crate::application::{Application, Decision, TierApproval};
use crate::company::{Company, Project};
use crate::documents::{ContentType, Document, DocumentKind, DocumentStatus};
use crate::identity::Role;
use crate::jurisdiction::{JurisdictionPath, JurisdictionTree, Level, Unit};
use crate::money::{Area, Fen};
use crate::ports::PresignedRequest;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CompanyView {
    pub id: String,
    pub credit_code: String,
    pub name: String,
    pub legal_representative: String,
    pub contact_name: String,
    /// Masked: "138****8000".
    pub contact_phone: String,
    pub bank_account: BankAccountView,
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BankAccountView {
    pub bank_name: String,
    pub account_name: String,
    /// Always masked: "****1234".
    pub account_number_masked: String,
}

impl BankAccountView {
    pub fn masked(b: &crate::fields::BankAccount) -> BankAccountView {
        BankAccountView {
            bank_name: b.bank_name.to_string(),
            account_name: b.account_name.to_string(),
            account_number_masked: b.account_number.masked(),
        }
    }
}

impl CompanyView {
    /// The owner's view: the phone and the account masked.
    pub fn of(c: &Company) -> CompanyView {
        let p = &c.profile;
        CompanyView {
            id: c.id.clone(),
            credit_code: p.credit_code.to_string(),
            name: p.name.to_string(),
            legal_representative: p.legal_representative.to_string(),
            contact_name: p.contact_name.to_string(),
            contact_phone: p.contact_phone.masked(),
            bank_account: BankAccountView::masked(&p.bank_account),
            version: c.version,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JurisdictionView {
    #[serde(flatten)]
    pub codes: JurisdictionPath,
    pub names: JurisdictionNames,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JurisdictionNames {
    pub city: String,
    pub district: String,
    pub subdistrict: String,
    pub community: String,
}

impl JurisdictionView {
    pub fn of(path: &JurisdictionPath, tree: &JurisdictionTree) -> JurisdictionView {
        let name = |level| tree.get(path.at(level)).map(|u| u.name.clone()).unwrap_or_default();
        JurisdictionView {
            codes: path.clone(),
            names: JurisdictionNames {
                city: name(Level::City),
                district: name(Level::District),
                subdistrict: name(Level::Subdistrict),
                community: name(Level::Community),
            },
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectView {
    pub id: String,
    pub company_id: String,
    pub name: String,
    pub address: String,
    pub community: String,
    pub jurisdiction: JurisdictionView,
    pub managed_area: Area,
    pub manager_name: String,
    /// Masked: "138****8000".
    pub manager_phone: String,
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ProjectView {
    /// Projects are shown only to their owner, who entered the phone.
    pub fn of(p: &Project, tree: &JurisdictionTree) -> ProjectView {
        ProjectView {
            id: p.id.clone(),
            company_id: p.company_id.clone(),
            name: p.details.name.to_string(),
            address: p.details.address.to_string(),
            community: p.details.community.clone(),
            jurisdiction: JurisdictionView::of(&p.jurisdiction, tree),
            managed_area: p.details.managed_area,
            manager_name: p.details.manager_name.to_string(),
            manager_phone: p.details.manager_phone.masked(),
            version: p.version,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

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
    pub fn of(a: &Application, tree: &JurisdictionTree) -> ApplicationView {
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
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentView {
    pub id: String,
    pub kind: DocumentKind,
    pub file_name: String,
    pub content_type: ContentType,
    pub size: u64,
    pub status: DocumentStatus,
    pub refusal: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl DocumentView {
    pub fn of(d: &Document) -> DocumentView {
        DocumentView {
            id: d.id.clone(),
            kind: d.kind,
            file_name: d.file_name.to_string(),
            content_type: d.content_type,
            size: d.size,
            status: d.status,
            refusal: d.refusal.clone(),
            created_at: d.created_at,
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
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadTicket {
    pub document: DocumentView,
    /// Send the file's bytes with exactly this method, URL and headers.
    pub upload: PresignedRequest,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnitView {
    pub code: String,
    pub name: String,
    pub level: Level,
    pub parent: Option<String>,
    pub children: Vec<UnitSummary>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnitSummary {
    pub code: String,
    pub name: String,
    pub level: Level,
}

impl UnitView {
    pub fn of(u: &Unit, tree: &JurisdictionTree) -> UnitView {
        UnitView {
            code: u.code.clone(),
            name: u.name.clone(),
            level: u.level,
            parent: u.parent.clone(),
            children: tree
                .children(&u.code)
                .map(|c| UnitSummary { code: c.code.clone(), name: c.name.clone(), level: c.level })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MeView {
    pub user_id: String,
    pub role: Role,
    pub name: Option<String>,
    pub unit: Option<UnitSummary>,
    /// Masked: the caller knows their own number.
    pub phone: Option<String>,
    pub company: Option<CompanyView>,
    /// A staff member's directory assignments (pick one with the
    /// `X-Acting-As: role:unit` header); empty for everyone else.
    pub assignments: Vec<crate::identity::staff::AssignmentView>,
}

/// A unit's totals as shown: areas in m² and amounts in yuan as decimal
/// strings, with the exact integers beside them.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TotalsView {
    pub companies: i64,
    pub projects: i64,
    pub claimed_area: String,
    pub claimed_area_hundredths: i64,
    pub approved_area: String,
    pub approved_area_hundredths: i64,
    pub claimed_amount: String,
    pub claimed_amount_fen: i64,
    pub approved_amount: String,
    pub approved_amount_fen: i64,
    /// Applications per state (drafts are not counted).
    pub counts: std::collections::BTreeMap<&'static str, i64>,
}

impl TotalsView {
    pub fn of(t: &crate::stats::Totals) -> TotalsView {
        use crate::money::format_hundredths;
        use crate::stats::Counter as C;
        let counts = [
            C::AwaitingAreaConfirmation,
            C::PendingCommunity,
            C::PendingSubdistrict,
            C::PendingDistrict,
            C::Returned,
            C::Rejected,
            C::Withdrawn,
            C::Approved,
            C::InPaymentBatch,
            C::Paid,
            C::PaymentFailed,
        ]
        .into_iter()
        .map(|c| (c.name(), t.get(c)))
        .collect();
        TotalsView {
            companies: t.get(C::Companies),
            projects: t.get(C::Projects),
            claimed_area: format_hundredths(t.get(C::ClaimedArea)),
            claimed_area_hundredths: t.get(C::ClaimedArea),
            approved_area: format_hundredths(t.get(C::ApprovedArea)),
            approved_area_hundredths: t.get(C::ApprovedArea),
            claimed_amount: format_hundredths(t.get(C::ClaimedAmount)),
            claimed_amount_fen: t.get(C::ClaimedAmount),
            approved_amount: format_hundredths(t.get(C::ApprovedAmount)),
            approved_amount_fen: t.get(C::ApprovedAmount),
            counts,
        }
    }
}

/// One unit's figures, and the moment they were last computed.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnitStats {
    pub unit: UnitSummary,
    /// When the counters last changed; null if nothing was ever counted here.
    pub as_of: Option<DateTime<Utc>>,
    pub totals: TotalsView,
    #[serde(skip)]
    pub raw: crate::stats::Totals,
}

/// A unit's totals with its child units, for drill-down.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsView {
    pub policy_id: String,
    #[serde(flatten)]
    pub unit: UnitStats,
    pub children: Vec<UnitStats>,
}
