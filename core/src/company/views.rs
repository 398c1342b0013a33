//! What callers see of a company and its projects, with personal data
//! masked for everyone who does not need it in full.
//!
//! Phone numbers and bank account numbers are never shown in full in a
//! view, not even to the company that entered them: "138****8000",
//! "****1234". Only finance's disbursement file carries account numbers in
//! full. Updates may leave a phone out to keep the number on file.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::company::{Company, Project};
use crate::jurisdiction::JurisdictionTree;
use crate::jurisdiction::JurisdictionView;
use crate::money::Area;

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
