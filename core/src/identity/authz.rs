//! Authorization, in one place: who may see which object (role plus
//! jurisdiction or ownership, always by walking the tree), and which role
//! may issue which command ([`may_issue`], [`require_role`]).
//!
//! Out of scope is reported as not found, so a caller learns nothing about
//! objects outside their scope. Whether an action fits the object's state
//! is the state machine's question ([`crate::application::state::apply`]).

use crate::application::Application;
use crate::application::State;
use crate::error::Error;
use crate::identity::{Actor, Role, Tier};
use crate::jurisdiction::{JurisdictionTree, Level};

/// Who may issue a command to an application, whatever its scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Issuer {
    /// The company that owns it.
    Company,
    /// The project manager named on it.
    ProjectManager,
    /// A reviewer of this tier (初审, 复核 or 审核).
    Reviewer(Tier),
    /// District finance.
    Finance,
    /// A district reviewer (payee verification).
    DistrictReviewer,
    /// Anyone signed in, whatever their role (an objection to a public
    /// notice, 异议).
    Anyone,
    /// The system's own scheduled jobs, which act as the city (closing a
    /// public notice whose window ended).
    System,
}

/// Whether `role` may ever issue a command of `issuer`'s kind: the one role
/// rule of every application command, checked by the state machine and,
/// before the version, by the use cases (so a role that may never act gets
/// 404, not 409).
pub fn may_issue(role: Role, issuer: Issuer) -> bool {
    match issuer {
        Issuer::Company => role == Role::Company,
        Issuer::ProjectManager => role == Role::ProjectManager,
        Issuer::Reviewer(tier) => role.tier() == Some(tier),
        Issuer::Finance => role == Role::Finance,
        Issuer::DistrictReviewer => role == Role::District,
        Issuer::Anyone => true,
        Issuer::System => role == Role::City,
    }
}

/// The use cases of one role only: any other role gets 404 (it learns
/// nothing of what exists).
pub fn require_role(actor: &Actor, role: Role) -> Result<(), Error> {
    if actor.role == role { Ok(()) } else { Err(Error::NotFound("resource")) }
}

/// Which applications a list query may return for an actor. Adapters turn
/// this into an index lookup; [`can_see`] is the same rule for one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// A company's own applications, drafts included.
    Owner(String),
    /// Submitted applications of the projects a manager is named on.
    Manager(String),
    /// Submitted applications inside a unit of the tree.
    Unit { level: Level, code: String },
}

impl Scope {
    pub fn of(actor: &Actor, tree: &JurisdictionTree) -> Result<Scope, Error> {
        Ok(match actor.role {
            Role::Company => Scope::Owner(actor.user_id.clone()),
            Role::ProjectManager => {
                Scope::Manager(actor.phone.as_ref().ok_or(Error::Unauthenticated)?.as_str().to_string())
            }
            // Administrators manage staff; they see no applications.
            Role::Admin => return Err(Error::NotFound("application")),
            _ => {
                let code = actor.unit.clone().ok_or(Error::Unauthenticated)?;
                let level = tree.get(&code).ok_or(Error::Unauthenticated)?.level;
                Scope::Unit { level, code }
            }
        })
    }

    /// Staff and managers never see drafts: a draft is the company's own
    /// work in progress until it is submitted.
    pub fn includes_drafts(&self) -> bool {
        matches!(self, Scope::Owner(_))
    }
}

/// Whether the actor may see this application at all.
pub fn can_see(actor: &Actor, app: &Application, tree: &JurisdictionTree) -> bool {
    match actor.role {
        Role::Company => app.owner == actor.user_id,
        Role::ProjectManager => app.state != State::Draft && actor.phone.as_ref() == Some(&app.project.manager_phone),
        Role::Admin => false,
        _ => {
            app.state != State::Draft
                && actor.unit.as_deref().is_some_and(|unit| tree.contains(unit, &app.jurisdiction.community))
        }
    }
}

/// [`can_see`], as the error callers return.
pub fn require_visible(actor: &Actor, app: &Application, tree: &JurisdictionTree) -> Result<(), Error> {
    if can_see(actor, app, tree) { Ok(()) } else { Err(Error::NotFound("application")) }
}

/// Whether the actor may see the jurisdiction unit `code` (for staff views
/// and unit lookups): its own unit and everything under it.
pub fn can_see_unit(actor: &Actor, code: &str, tree: &JurisdictionTree) -> bool {
    actor.unit.as_deref().is_some_and(|unit| tree.contains(unit, code))
}

/// The application read by id if `actor` may see it; 404 otherwise,
/// whether it is absent or outside the actor's scope.
pub fn visible(actor: &Actor, found: Option<Application>, tree: &JurisdictionTree) -> Result<Application, Error> {
    let app = found.ok_or(Error::NotFound("application"))?;
    require_visible(actor, &app, tree)?;
    Ok(app)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Tier;
    use crate::jurisdiction::tests::sample;
    use crate::testkit::*;

    #[test]
    fn a_company_sees_only_its_own_applications() {
        let t = sample();
        let app = at_state(draft("10"), State::Draft);
        assert!(can_see(&company(), &app, &t));
        let mut other = company();
        other.user_id = "someone-else".into();
        assert!(!can_see(&other, &app, &t));
    }

    #[test]
    fn reviewers_see_their_jurisdiction_and_nothing_beside_or_above_it() {
        let t = sample();
        let app = at_state(draft("10"), State::PendingCommunity); // community 440307003001
        assert!(can_see(&reviewer(Tier::Community), &app, &t));
        assert!(can_see(&reviewer(Tier::Subdistrict), &app, &t));
        assert!(can_see(&reviewer(Tier::District), &app, &t));
        let sibling = staff(Role::Community, "440307003002");
        assert!(!can_see(&sibling, &app, &t), "a sibling community");
        let other_district = staff(Role::District, "440398");
        assert!(!can_see(&other_district, &app, &t), "大鹏新区 does not see 龙岗");
        assert!(can_see(&staff(Role::City, "440300"), &app, &t));
    }

    #[test]
    fn drafts_are_private_to_the_company() {
        let t = sample();
        let app = at_state(draft("10"), State::Draft);
        assert!(!can_see(&reviewer(Tier::Community), &app, &t));
        assert!(!can_see(&manager(), &app, &t));
        assert!(!can_see(&staff(Role::City, "440300"), &app, &t));
    }

    #[test]
    fn a_manager_sees_only_projects_naming_their_phone() {
        let t = sample();
        let app = at_state(draft("10"), State::AwaitingAreaConfirmation);
        assert!(can_see(&manager(), &app, &t));
        let mut other = manager();
        other.phone = Some(crate::fields::Phone::parse("13900139000").unwrap());
        assert!(!can_see(&other, &app, &t));
    }
}
