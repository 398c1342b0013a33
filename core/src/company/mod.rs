//! **Capability: companies and projects.** Owns the company profile (its
//! bank account and audit chain), projects and credit codes; the use cases
//! are [`service::Companies`]. It touches applications only to record a
//! bank-account change on the live ones and to lock a project under
//! review; never documents, payout, the live totals or the staff directory.
//!
//! Companies and their projects, with the raw inputs clients send for them.
//!
//! Raw inputs hold plain strings so that JSON decoding only checks shape;
//! `parse` then turns them into domain types and names the first bad field.

pub mod credit_code;
pub mod service;
pub mod views;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::company::credit_code::CreditCode;
use crate::error::Error;
use crate::fields::{AccountNumber, BankAccount, Phone, Text, area, phone, text};
use crate::jurisdiction::{JurisdictionPath, JurisdictionTree};
use crate::money::Area;

/// A property-management company (物业服务企业), owned by one user account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Company {
    pub id: String,
    /// The `sub` of the account that registered the company.
    pub owner: String,
    #[serde(flatten)]
    pub profile: CompanyProfile,
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Head of the company's audit chain (profile and bank-account changes).
    #[serde(default)]
    pub audit_seq: u64,
    #[serde(default = "genesis")]
    pub audit_head: String,
}

fn genesis() -> String {
    crate::audit::GENESIS.to_string()
}

impl Company {
    /// The subject of the company's audit chain.
    pub fn audit_subject(&self) -> String {
        format!("company:{}", self.id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompanyProfile {
    pub credit_code: CreditCode,
    pub name: Text,
    pub legal_representative: Text,
    pub contact_name: Text,
    pub contact_phone: Phone,
    pub bank_account: BankAccount,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CompanyInput {
    pub credit_code: String,
    pub name: String,
    pub legal_representative: String,
    pub contact_name: String,
    /// Required when registering. Views show it masked, so an update may
    /// leave it out to keep the number on file.
    #[serde(default)]
    pub contact_phone: Option<String>,
    pub bank_account: BankAccountInput,
    /// Required when updating an existing profile.
    #[serde(default)]
    pub version: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BankAccountInput {
    pub bank_name: String,
    pub account_name: String,
    pub account_number: String,
}

/// A phone from an input that may leave it out to keep `current` (views
/// show phones masked, so a client cannot send the number back unchanged).
fn phone_or_current(field: &str, value: Option<&str>, current: Option<&Phone>) -> Result<Phone, Error> {
    match (value, current) {
        (Some(v), _) => phone(field, v),
        (None, Some(c)) => Ok(c.clone()),
        (None, None) => Err(Error::invalid(field, "required")),
    }
}

impl CompanyInput {
    /// Parses the input; `current` is the profile on file when updating.
    pub fn parse(&self, current: Option<&CompanyProfile>) -> Result<CompanyProfile, Error> {
        Ok(CompanyProfile {
            credit_code: CreditCode::parse(&self.credit_code)
                .map_err(|e| Error::invalid("creditCode", e.to_string()))?,
            name: text("name", &self.name, 100)?,
            legal_representative: text("legalRepresentative", &self.legal_representative, 50)?,
            contact_name: text("contactName", &self.contact_name, 50)?,
            contact_phone: phone_or_current(
                "contactPhone",
                self.contact_phone.as_deref(),
                current.map(|c| &c.contact_phone),
            )?,
            bank_account: BankAccount {
                bank_name: text("bankAccount.bankName", &self.bank_account.bank_name, 100)?,
                account_name: text("bankAccount.accountName", &self.bank_account.account_name, 100)?,
                account_number: AccountNumber::parse(&self.bank_account.account_number)
                    .map_err(|e| Error::invalid("bankAccount.accountNumber", e.to_string()))?,
            },
        })
    }
}

/// A residential project (物业项目/小区) managed by a company.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    pub id: String,
    pub company_id: String,
    pub owner: String,
    #[serde(flatten)]
    pub details: ProjectDetails,
    pub jurisdiction: JurisdictionPath,
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Project {
    /// What makes two projects the same residential project, whichever
    /// company registered it: its community and its name, compared without
    /// spaces, case or full-width forms ("南园 花园", "南园花园" and
    /// "南园花园 " are one project). One live application per policy may
    /// hold it (the claim).
    pub fn claim_key(&self) -> String {
        claim_key(&self.details.community, self.details.name.as_str())
    }
}

/// See [`Project::claim_key`].
pub fn claim_key(community: &str, name: &str) -> String {
    format!("{community}#{}", same_name(name))
}

/// A name as compared for sameness: without spaces, case or full-width
/// forms. Estates' names are compared so, and an account holder's name
/// with the company's.
pub fn same_name(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            // Full-width ASCII forms (Ｂ, １, ＃) to their ASCII letters.
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            c => c,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectDetails {
    pub name: Text,
    pub address: Text,
    pub community: String,
    /// The managed floor area registered for the project (在管面积).
    pub managed_area: Area,
    pub manager_name: Text,
    pub manager_phone: Phone,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProjectInput {
    pub name: String,
    pub address: String,
    pub community: String,
    pub managed_area: String,
    pub manager_name: String,
    /// Required when creating. Views show it masked, so an update may leave
    /// it out to keep the number on file.
    #[serde(default)]
    pub manager_phone: Option<String>,
    /// Required when updating.
    #[serde(default)]
    pub version: Option<u64>,
}

impl ProjectInput {
    /// Parses the input; the community must be a community of the tree.
    /// `current` is the project on file when updating.
    pub fn parse(
        &self,
        tree: &JurisdictionTree,
        max_area: Area,
        current: Option<&ProjectDetails>,
    ) -> Result<(ProjectDetails, JurisdictionPath), Error> {
        let name = text("name", &self.name, 100)?;
        let address = text("address", &self.address, 200)?;
        let path = tree.path_of_community(self.community.trim()).ok_or_else(|| {
            Error::invalid("community", "unknown community code; use a 12-digit community code of this city")
        })?;
        let managed_area = area("managedArea", &self.managed_area)?;
        if managed_area > max_area {
            return Err(Error::invalid("managedArea", format!("must not exceed {max_area} m² for one project")));
        }
        let details = ProjectDetails {
            name,
            address,
            community: path.community.clone(),
            managed_area,
            manager_name: text("managerName", &self.manager_name, 50)?,
            manager_phone: phone_or_current(
                "managerPhone",
                self.manager_phone.as_deref(),
                current.map(|c| &c.manager_phone),
            )?,
        };
        Ok((details, path))
    }
}

#[cfg(test)]
mod claim_tests {
    use super::claim_key;

    #[test]
    fn one_estate_is_one_claim_however_its_name_is_typed() {
        let k = claim_key("440304001020", "南园花园A座");
        for same in ["南园花园A座", " 南园 花园 A座 ", "南园花园\u{3000}a座", "南园花园Ａ座", "南园花园ａ座"]
        {
            assert_eq!(claim_key("440304001020", same), k, "{same:?}");
        }
        assert_ne!(claim_key("440304001023", "南园花园A座"), k, "another community is another estate");
        assert_ne!(claim_key("440304001020", "南园花园B座"), k);
        assert_ne!(claim_key("440304001020", "南园花园"), k);
    }
}

crate::audit::chained!(Company, |c| Company::audit_subject(c));
