//! Who is calling: roles, review tiers, and the actor built from token claims.
//!
//! Claims arrive as a flat string map, the way API Gateway's JWT authorizer
//! hands them to a function (`requestContext.authorizer.jwt.claims`). The
//! standalone server puts its own verified claims in the same place.
//!
//! | claim          | meaning                                                    |
//! |----------------|------------------------------------------------------------|
//! | `sub`          | stable user id                                             |
//! | `role`         | one of [`Role`]'s snake_case names                         |
//! | `jurisdiction` | unit code, required for every staff role                   |
//! | `phone_number` | mobile number, required for `project_manager`              |
//! | `name`         | display name (optional)                                    |

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::fields::Phone;
use crate::jurisdiction::{JurisdictionTree, Level};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Company,
    ProjectManager,
    Community,
    Subdistrict,
    District,
    Finance,
    City,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Company,
        Role::ProjectManager,
        Role::Community,
        Role::Subdistrict,
        Role::District,
        Role::Finance,
        Role::City,
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
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The level of the unit a staff role is bound to.
    pub fn unit_level(self) -> Option<Level> {
        match self {
            Role::Company | Role::ProjectManager => None,
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

/// An authenticated caller. Built only by [`Actor::from_claims`] (or
/// [`Actor::system`]), so its role, unit and phone are consistent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Actor {
    pub user_id: String,
    pub role: Role,
    /// The unit code for staff roles, checked against the tree.
    pub unit: Option<String>,
    /// The mobile number for project managers.
    pub phone: Option<Phone>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsError {
    #[error("token has no subject")]
    NoSubject,
    #[error("token has no known role")]
    NoRole,
    #[error("staff token has no jurisdiction of the right level")]
    BadJurisdiction,
    #[error("project manager token has no valid phone_number")]
    BadPhone,
}

impl Actor {
    pub fn from_claims(claims: &HashMap<String, String>, tree: &JurisdictionTree) -> Result<Actor, ClaimsError> {
        let user_id = claims.get("sub").filter(|s| !s.is_empty()).ok_or(ClaimsError::NoSubject)?.clone();
        let role = claims.get("role").and_then(|r| Role::parse(r)).ok_or(ClaimsError::NoRole)?;
        let unit = match role.unit_level() {
            Some(level) => {
                let code = claims.get("jurisdiction").ok_or(ClaimsError::BadJurisdiction)?;
                match tree.get(code) {
                    Some(u) if u.level == level => Some(code.clone()),
                    _ => return Err(ClaimsError::BadJurisdiction),
                }
            }
            None => None,
        };
        let phone = match role {
            Role::ProjectManager => {
                Some(claims.get("phone_number").and_then(|p| Phone::parse(p).ok()).ok_or(ClaimsError::BadPhone)?)
            }
            _ => None,
        };
        Ok(Actor { user_id, role, unit, phone, name: claims.get("name").cloned() })
    }

    /// The actor recorded for automatic work (pre-checks, schedules).
    pub fn system() -> Actor {
        Actor { user_id: "system".into(), role: Role::City, unit: None, phone: None, name: Some("system".into()) }
    }

    pub fn tier(&self) -> Option<Tier> {
        self.role.tier()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jurisdiction::tests::sample;

    fn claims(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn staff_claims_need_a_unit_of_their_level() {
        let t = sample();
        let ok =
            Actor::from_claims(&claims(&[("sub", "u1"), ("role", "subdistrict"), ("jurisdiction", "440307009")]), &t);
        assert_eq!(ok.unwrap().unit.as_deref(), Some("440307009"));
        let wrong_level = claims(&[("sub", "u1"), ("role", "subdistrict"), ("jurisdiction", "440307009001")]);
        assert_eq!(Actor::from_claims(&wrong_level, &t), Err(ClaimsError::BadJurisdiction));
        let unknown = claims(&[("sub", "u1"), ("role", "community"), ("jurisdiction", "999")]);
        assert_eq!(Actor::from_claims(&unknown, &t), Err(ClaimsError::BadJurisdiction));
        let missing = claims(&[("sub", "u1"), ("role", "district")]);
        assert_eq!(Actor::from_claims(&missing, &t), Err(ClaimsError::BadJurisdiction));
    }

    #[test]
    fn unknown_roles_missing_subjects_and_bad_phones_are_refused() {
        let t = sample();
        assert_eq!(Actor::from_claims(&claims(&[("sub", "u"), ("role", "admin")]), &t), Err(ClaimsError::NoRole));
        assert_eq!(Actor::from_claims(&claims(&[("role", "company")]), &t), Err(ClaimsError::NoSubject));
        let pm = claims(&[("sub", "u"), ("role", "project_manager"), ("phone_number", "12")]);
        assert_eq!(Actor::from_claims(&pm, &t), Err(ClaimsError::BadPhone));
        let pm = claims(&[("sub", "u"), ("role", "project_manager"), ("phone_number", "13800138000")]);
        assert!(Actor::from_claims(&pm, &t).is_ok());
    }

    proptest::proptest! {
        /// Whatever a token's claims say, an actor is made only with a
        /// role whose unit is a unit of that role's level in the tree, and
        /// a project manager only with a valid phone.
        #[test]
        fn any_claims_make_a_consistent_actor_or_are_refused(
            sub in proptest::option::of("[a-z]{0,3}"),
            role in proptest::option::of("(company|project_manager|community|subdistrict|district|finance|city|admin|)"),
            unit in proptest::option::of("(440300|440304|440304001|440304001020|440304001023|4403|x|)"),
            phone in proptest::option::of("(13800138000|12|)"),
        ) {
            let t = sample();
            let mut c = HashMap::new();
            for (k, v) in [("sub", sub), ("role", role), ("jurisdiction", unit), ("phone_number", phone)] {
                if let Some(v) = v {
                    c.insert(k.to_string(), v);
                }
            }
            if let Ok(a) = Actor::from_claims(&c, &t) {
                proptest::prop_assert!(!a.user_id.is_empty());
                proptest::prop_assert_eq!(a.unit.as_ref().map(|u| t.get(u).unwrap().level), a.role.unit_level());
                proptest::prop_assert_eq!(a.phone.is_some(), a.role == Role::ProjectManager);
            }
        }
    }
}
