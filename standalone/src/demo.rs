//! Demo accounts and demo data for `subsidy serve --demo`: the staff
//! accounts are seeded into the staff directory like any other staff.
//!
//! One account per role and level of jurisdiction, around two projects: one
//! in 福田区 南园街道 南园社区, and one in 大鹏新区 葵涌街道 — a subdistrict whose
//! statistical code sits under 龙岗区 but which 大鹏新区 manages. Seeding
//! goes through the same use cases as the API, so demo data obeys every rule.

use std::collections::HashMap;

use serde::Serialize;
use subsidy_core::Services;
use subsidy_core::company::{BankAccountInput, CompanyInput, ProjectInput};
use subsidy_core::identity::{Actor, Role};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DemoAccount {
    pub username: &'static str,
    pub role: Role,
    pub name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jurisdiction: Option<&'static str>,
    /// Shown masked, like every phone number the API answers with.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "masked_phone")]
    pub phone_number: Option<&'static str>,
    /// What the account is for, shown by `serve` and the login picker.
    pub description: &'static str,
}

impl DemoAccount {
    /// The token's subject, and the staff directory's key for staff.
    pub fn sub(&self) -> String {
        format!("demo-{}", self.username)
    }

    /// The claims a token for this account carries. They identify; the
    /// staff directory (seeded with the demo staff) authorises, so the
    /// `role` claim matters only to ask for a project manager, whose phone
    /// the demo identity platform has verified.
    pub fn claims(&self) -> HashMap<String, String> {
        let mut c = HashMap::new();
        c.insert("sub".into(), self.sub());
        c.insert("role".into(), self.role.as_str().into());
        c.insert("name".into(), self.name.into());
        c.insert("preferred_username".into(), self.username.into());
        if let Some(j) = self.jurisdiction {
            c.insert("jurisdiction".into(), j.into());
        }
        if let Some(p) = self.phone_number {
            c.insert("phone_number".into(), p.into());
            c.insert("phone_number_verified".into(), "true".into());
        }
        c
    }

    /// The claims as JSON, as a token carries them (`phone_number_verified`
    /// a boolean, as identity platforms send it).
    pub fn token_claims(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self.claims()).expect("strings serialize");
        if self.phone_number.is_some() {
            v["phone_number_verified"] = serde_json::Value::Bool(true);
        }
        v
    }

    /// The actor this account acts as (what the directory resolves its
    /// token to), for seeding and tests.
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: self.sub(),
            role: self.role,
            unit: self.jurisdiction.map(str::to_string),
            phone: self.phone_number.and_then(|p| subsidy_core::fields::Phone::parse(p).ok()),
            name: Some(self.name.into()),
            credit_code: None,
        }
    }
}

fn masked_phone<S: serde::Serializer>(phone: &Option<&'static str>, s: S) -> Result<S::Ok, S::Error> {
    let masked = phone.and_then(|p| subsidy_core::fields::Phone::parse(p).ok()).map(|p| p.masked());
    s.serialize_some(&masked.unwrap_or_default())
}

const fn account(
    username: &'static str,
    role: Role,
    name: &'static str,
    jurisdiction: Option<&'static str>,
    phone_number: Option<&'static str>,
    description: &'static str,
) -> DemoAccount {
    DemoAccount { username, role, name, jurisdiction, phone_number, description }
}

pub const ACCOUNTS: &[DemoAccount] = &[
    account("company-a", Role::Company, "安居物业 经办人", None, None, "物业服务企业，已登记，项目在福田区南园社区"),
    account("company-b", Role::Company, "鹏城物业 经办人", None, None, "物业服务企业，已登记，项目在大鹏新区葵涌社区"),
    account("company-new", Role::Company, "新企业 经办人", None, None, "物业服务企业，尚未登记企业信息"),
    account("pm-a", Role::ProjectManager, "王项目经理", None, Some("13800138001"), "南园花园、南园大厦的项目经理"),
    account("pm-b", Role::ProjectManager, "陈项目经理", None, Some("13800138002"), "葵涌雅苑的项目经理"),
    account(
        "community-nanyuan",
        Role::Community,
        "南园社区工作站",
        Some("440304001020"),
        None,
        "社区初审：福田区南园街道南园社区",
    ),
    account(
        "community-nanhua",
        Role::Community,
        "南华社区工作站",
        Some("440304001023"),
        None,
        "社区初审：南园社区的兄弟社区（看不到南园的申请）",
    ),
    account(
        "subdistrict-nanyuan",
        Role::Subdistrict,
        "南园街道办",
        Some("440304001"),
        None,
        "街道复核：福田区南园街道",
    ),
    account("district-futian", Role::District, "福田区住建局", Some("440304"), None, "区级审核：福田区"),
    account(
        "finance-futian",
        Role::Finance,
        "福田区财政（经办）",
        Some("440304"),
        None,
        "区财政：福田区，创建支付批次",
    ),
    account(
        "finance-futian-2",
        Role::Finance,
        "福田区财政（复核）",
        Some("440304"),
        None,
        "区财政：福田区，复核并发送批次（双人复核）",
    ),
    account(
        "community-kuichong",
        Role::Community,
        "葵涌社区工作站",
        Some("440307009001"),
        None,
        "社区初审：大鹏新区葵涌街道葵涌社区",
    ),
    account(
        "subdistrict-kuichong",
        Role::Subdistrict,
        "葵涌街道办",
        Some("440307009"),
        None,
        "街道复核：葵涌街道（统计编码属龙岗区，由大鹏新区管理）",
    ),
    account("district-dapeng", Role::District, "大鹏新区住建局", Some("440398"), None, "区级审核：大鹏新区"),
    account("finance-dapeng", Role::Finance, "大鹏新区财政", Some("440398"), None, "区财政：大鹏新区"),
    account(
        "district-longgang",
        Role::District,
        "龙岗区住建局",
        Some("440307"),
        None,
        "区级审核：龙岗区（看不到葵涌的申请）",
    ),
    account("city", Role::City, "深圳市住建局", Some("440300"), None, "市级：全市只读总览"),
    account("admin-city", Role::Admin, "深圳市系统管理员", Some("440300"), None, "管理员：管理全市工作人员名录"),
    account("admin-futian", Role::Admin, "福田区系统管理员", Some("440304"), None, "管理员：管理福田区工作人员名录"),
];

pub fn find(username: &str) -> Option<&'static DemoAccount> {
    ACCOUNTS.iter().find(|a| a.username == username)
}

/// The actor a demo account acts as.
pub fn actor(_services: &Services, username: &str) -> anyhow::Result<Actor> {
    let a = find(username).ok_or_else(|| anyhow::anyhow!("no demo account {username}"))?;
    Ok(a.actor())
}

/// Puts every demo staff account into the staff directory, leaving alone
/// those already there (an administrator may have changed them since).
pub async fn seed_staff(services: &Services) -> anyhow::Result<()> {
    let directory = services.directory();
    for a in ACCOUNTS.iter().filter(|a| a.role.is_staff()) {
        let unit = a.jurisdiction.ok_or_else(|| anyhow::anyhow!("staff account {} has no unit", a.username))?;
        directory.seed(&a.sub(), a.name, &[(a.role, unit)]).await?;
    }
    Ok(())
}

fn company_input(name: &str, code17: &str, rep: &str, phone: &str, account: &str) -> CompanyInput {
    let code =
        subsidy_core::company::credit_code::CreditCode::with_check_character(code17).expect("demo code is well formed");
    CompanyInput {
        credit_code: code.to_string(),
        name: name.into(),
        legal_representative: rep.into(),
        contact_name: rep.into(),
        contact_phone: Some(phone.into()),
        bank_account: BankAccountInput {
            bank_name: "中国工商银行深圳分行".into(),
            account_name: name.into(),
            account_number: account.into(),
        },
        version: None,
    }
}

fn project_input(name: &str, address: &str, community: &str, area: &str, manager: &str, phone: &str) -> ProjectInput {
    ProjectInput {
        name: name.into(),
        address: address.into(),
        community: community.into(),
        managed_area: area.into(),
        manager_name: manager.into(),
        manager_phone: Some(phone.into()),
        version: None,
    }
}

/// Seeds the demo companies and projects. Returns false (and does nothing)
/// if the store already holds them.
pub async fn seed(services: &Services) -> anyhow::Result<bool> {
    seed_staff(services).await?;
    let a = actor(services, "company-a")?;
    if services.ports.companies.company_of_owner(&a.user_id).await?.is_some() {
        return Ok(false);
    }
    services
        .company
        .put_company(
            &a,
            &company_input(
                "深圳市安居物业服务有限公司",
                "91440300MA5D00001",
                "刘安居",
                "13900139001",
                "4000021234567890123",
            ),
        )
        .await?;
    services
        .company
        .create_project(
            &a,
            &project_input(
                "南园花园",
                "福田区南园街道南园路 88 号",
                "440304001020",
                "52345.67",
                "王项目经理",
                "13800138001",
            ),
        )
        .await?;
    services
        .company
        .create_project(
            &a,
            &project_input(
                "南园大厦",
                "福田区南园街道深南中路 1001 号",
                "440304001020",
                "18800.00",
                "王项目经理",
                "13800138001",
            ),
        )
        .await?;
    let b = actor(services, "company-b")?;
    services
        .company
        .put_company(
            &b,
            &company_input(
                "深圳市鹏城物业管理有限公司",
                "91440300MA5D00002",
                "陈鹏城",
                "13900139002",
                "6222020200001234567",
            ),
        )
        .await?;
    services
        .company
        .create_project(
            &b,
            &project_input(
                "葵涌雅苑",
                "大鹏新区葵涌街道葵新北路 12 号",
                "440307009001",
                "31200.50",
                "陈项目经理",
                "13800138002",
            ),
        )
        .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_demo_staff_account_holds_a_unit_of_its_level() {
        let tree = subsidy_core::jurisdiction::JurisdictionTree::from_json(crate::SHENZHEN_JSON).unwrap();
        for a in ACCOUNTS {
            match a.jurisdiction.and_then(|j| tree.get(j)) {
                Some(u) => assert!(subsidy_core::identity::staff::role_fits_level(a.role, u.level), "{}", a.username),
                None => assert!(!a.role.is_staff(), "{} has no unit", a.username),
            }
            assert_eq!(a.phone_number.is_some(), a.role == Role::ProjectManager, "{}", a.username);
        }
        let names: std::collections::HashSet<_> = ACCOUNTS.iter().map(|a| a.username).collect();
        assert_eq!(names.len(), ACCOUNTS.len(), "usernames are unique");
    }

    #[test]
    fn every_role_has_a_demo_account() {
        for role in Role::ALL {
            assert!(ACCOUNTS.iter().any(|a| a.role == role), "{role}");
        }
    }
}
