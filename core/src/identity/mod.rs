//! **Capability: identity.** Owns the actor, authorization ([`authz`]:
//! every visibility and role rule) and the staff directory ([`staff`],
//! [`directory`]); the use cases are [`service::Identities`] and
//! [`directory::StaffDirectory`]. It reads companies only to show a
//! company user their own.
//!
//! Who is calling: roles, review tiers, and the actor a request acts as.
//!
//! Tokens identify; the staff directory authorises. Claims arrive as a flat
//! string map, the way API Gateway's JWT authorizer hands them to a function
//! (`requestContext.authorizer.jwt.claims`); the standalone server puts its
//! own verified claims in the same place. [`crate::identity::directory::StaffDirectory::resolve`]
//! turns them into an [`Actor`]:
//!
//! | claim                   | meaning                                                       |
//! |-------------------------|---------------------------------------------------------------|
//! | `sub`                   | stable user id; staff are looked up by it in the directory    |
//! | `role`                  | ignored for staff; `project_manager` asks to act as a manager |
//! | `phone_number`          | a manager's mobile number, used only when verified            |
//! | `phone_number_verified` | must be `true` for a manager                                  |
//! | `credit_code`           | a legal-person login's credit code: a company must register it |
//! | `name`                  | display name (optional)                                       |

pub mod authz;
pub mod directory;
pub mod service;
pub mod staff;
pub mod views;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::fields::Phone;
use crate::jurisdiction::Level;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Company,
    ProjectManager,
    Community,
    Subdistrict,
    District,
    Finance,
    City,
    /// Manages the staff directory of its unit's subtree; sees no applications.
    Admin,
}

impl Role {
    pub const ALL: [Role; 8] = [
        Role::Company,
        Role::ProjectManager,
        Role::Community,
        Role::Subdistrict,
        Role::District,
        Role::Finance,
        Role::City,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Company => "company",
            Role::ProjectManager => "project_manager",
            Role::Community => "community",
            Role::Subdistrict => "subdistrict",
            Role::District => "district",
            Role::Finance => "finance",
            Role::City => "city",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether the role is held through the staff directory.
    pub fn is_staff(self) -> bool {
        !matches!(self, Role::Company | Role::ProjectManager)
    }

    /// The level of the unit a staff role is bound to (an admin may be
    /// bound to a unit of any level: see [`crate::identity::staff::role_fits_level`]).
    pub fn unit_level(self) -> Option<Level> {
        match self {
            Role::Company | Role::ProjectManager | Role::Admin => None,
            Role::Community => Some(Level::Community),
            Role::Subdistrict => Some(Level::Subdistrict),
            Role::District | Role::Finance => Some(Level::District),
            Role::City => Some(Level::City),
        }
    }

    /// The review tier a role decides at, if any.
    pub fn tier(self) -> Option<Tier> {
        match self {
            Role::Community => Some(Tier::Community),
            Role::Subdistrict => Some(Tier::Subdistrict),
            Role::District => Some(Tier::District),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The three review tiers: 初审 (community), 复核 (subdistrict), 审核 (district).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Community,
    Subdistrict,
    District,
}

impl Tier {
    pub const ALL: [Tier; 3] = [Tier::Community, Tier::Subdistrict, Tier::District];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Community => "community",
            Tier::Subdistrict => "subdistrict",
            Tier::District => "district",
        }
    }

    pub fn parse(s: &str) -> Option<Tier> {
        Tier::ALL.into_iter().find(|t| t.as_str() == s)
    }

    pub fn level(self) -> Level {
        match self {
            Tier::Community => Level::Community,
            Tier::Subdistrict => Level::Subdistrict,
            Tier::District => Level::District,
        }
    }

    pub fn role(self) -> Role {
        match self {
            Tier::Community => Role::Community,
            Tier::Subdistrict => Role::Subdistrict,
            Tier::District => Role::District,
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An authenticated caller, acting with one role. Built by
/// [`crate::identity::directory::StaffDirectory::resolve`] from verified claims and the
/// directory (or [`Actor::system`]), so its role, unit and phone are
/// consistent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Actor {
    pub user_id: String,
    pub role: Role,
    /// The unit code for staff roles, from the directory.
    pub unit: Option<String>,
    /// The verified mobile number for project managers.
    pub phone: Option<Phone>,
    pub name: Option<String>,
    /// A company's credit code from a legal-person login (`credit_code`
    /// claim): the company it registers must carry this code.
    #[serde(skip)]
    pub credit_code: Option<String>,
}

impl Actor {
    /// The actor recorded for automatic work (pre-checks, schedules).
    pub fn system() -> Actor {
        Actor {
            user_id: "system".into(),
            role: Role::City,
            unit: None,
            phone: None,
            name: Some("system".into()),
            credit_code: None,
        }
    }

    pub fn tier(&self) -> Option<Tier> {
        self.role.tier()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_parses_back_from_its_name_and_nothing_else_parses() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        for bad in ["", "Admin", "root", "finance ", "project-manager"] {
            assert_eq!(Role::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_company_and_manager_are_not_staff() {
        let not_staff: Vec<_> = Role::ALL.into_iter().filter(|r| !r.is_staff()).collect();
        assert_eq!(not_staff, vec![Role::Company, Role::ProjectManager]);
        assert_eq!(Role::Admin.unit_level(), None);
        assert_eq!(Role::Finance.unit_level(), Some(Level::District));
    }
}
