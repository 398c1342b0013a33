//! Builders shared by core's unit tests.

use chrono::{DateTime, Utc};

use crate::application::Application;
use crate::application::state::{Command, Ctx, State};
use crate::company::credit_code::CreditCode;
use crate::company::{Company, CompanyProfile, Project, ProjectDetails};
use crate::documents::DocumentKind;
use crate::fields::{AccountNumber, BankAccount, Phone, Text};
use crate::identity::{Actor, Role, Tier};
use crate::jurisdiction::JurisdictionPath;
use crate::money::Area;
use crate::policy::Policy;

pub fn policy() -> Policy {
    Policy::from_json(include_str!("../../config/policy-shenzhen-2020.json")).unwrap()
}

pub fn in_window(p: &Policy) -> DateTime<Utc> {
    p.opens_at.to_utc() + chrono::Duration::days(1)
}

pub fn ctx_at(p: &Policy, now: DateTime<Utc>) -> Ctx<'_> {
    Ctx { policy: p, now }
}

pub fn text(s: &str) -> Text {
    Text::parse(s, 500).unwrap()
}

pub fn area(s: &str) -> Area {
    Area::parse(s).unwrap()
}

pub fn path() -> JurisdictionPath {
    JurisdictionPath {
        city: "440300".into(),
        district: "440307".into(),
        subdistrict: "440307003".into(),
        community: "440307003001".into(),
    }
}

pub fn company_record() -> Company {
    Company {
        id: "C1".into(),
        owner: "company-user".into(),
        profile: CompanyProfile {
            credit_code: CreditCode::parse("91350100M000100Y43").unwrap(),
            name: text("测试物业"),
            legal_representative: text("张三"),
            contact_name: text("李四"),
            contact_phone: Phone::parse("13800138000").unwrap(),
            bank_account: BankAccount {
                bank_name: text("工商银行"),
                account_name: text("测试物业"),
                account_number: AccountNumber::parse("6222020000001234").unwrap(),
            },
        },
        version: 1,
        created_at: Utc::now(),
        updated_at: Utc::now(),
        audit_seq: 0,
        audit_head: crate::audit::GENESIS.to_string(),
    }
}

pub fn project() -> Project {
    Project {
        id: "P1".into(),
        company_id: "C1".into(),
        owner: "company-user".into(),
        details: ProjectDetails {
            name: text("阳光花园"),
            address: text("平湖街道1号"),
            community: "440307003001".into(),
            managed_area: area("1000000"),
            manager_name: text("王五"),
            manager_phone: Phone::parse("13700137000").unwrap(),
        },
        jurisdiction: path(),
        version: 1,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

pub fn draft(claimed: &str) -> Application {
    let p = policy();
    let a = area(claimed);
    let mut app = Application::draft("A1".into(), &p, &company_record(), &project(), a, None, Utc::now());
    app.version = 1;
    // As if the district had approved payment to the company's account.
    app.payee = Some(company_record().profile.bank_account);
    app
}

pub fn at_state(mut app: Application, s: State) -> Application {
    app.state = s;
    app
}

pub fn company() -> Actor {
    Actor {
        user_id: "company-user".into(),
        role: Role::Company,
        unit: None,
        phone: None,
        name: None,
        credit_code: None,
    }
}

pub fn manager() -> Actor {
    Actor {
        user_id: "pm-user".into(),
        role: Role::ProjectManager,
        unit: None,
        phone: Some(Phone::parse("13700137000").unwrap()),
        name: None,
        credit_code: None,
    }
}

pub fn staff(role: Role, unit: &str) -> Actor {
    Actor {
        user_id: format!("{role}-{unit}"),
        role,
        unit: Some(unit.into()),
        phone: None,
        name: None,
        credit_code: None,
    }
}

pub fn reviewer(tier: Tier) -> Actor {
    let p = path();
    staff(tier.role(), p.at(tier.level()))
}

pub fn finance() -> Actor {
    staff(Role::Finance, "440307")
}

pub fn approve(tier: Tier) -> Command {
    Command::Approve { tier, area: None, reason: None, payee: None }
}

pub fn submit_cmd(app: &Application) -> Command {
    Command::Submit {
        project: app.project.clone(),
        jurisdiction: app.jurisdiction.clone(),
        verified_documents: vec![DocumentKind::ServiceContract, DocumentKind::AreaProof],
        payee: Some(company_record().profile.bank_account),
    }
}

/// A district reviewer opens the account, then verifies it.
pub fn revealed_and_verified(app: &Application, confirm_holder_name: bool) -> Result<Application, crate::Error> {
    let p = policy();
    let ctx = crate::application::state::Ctx { policy: &p, now: app.updated_at };
    let d = reviewer(Tier::District);
    let opened = crate::application::state::apply(app, &d, Command::RevealPayee, &ctx)?.next;
    Ok(crate::application::state::apply(&opened, &d, Command::VerifyPayee { confirm_holder_name }, &ctx)?.next)
}
