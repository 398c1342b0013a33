//! Who is calling (`me`), and the jurisdiction tree any signed-in user may
//! browse. The staff directory's own use cases are [`super::directory::StaffDirectory`].

use std::sync::Arc;

use crate::company::views::CompanyView;
use crate::context::Context;
use crate::error::Error;
use crate::identity::views::MeView;
use crate::identity::{Actor, Role};
use crate::jurisdiction::{UnitSummary, UnitView};
use crate::ports::*;

/// Who the caller is, and the units they may pick from.
#[derive(Clone)]
pub struct Identities {
    pub(crate) cx: Context,
    pub(crate) companies: Arc<dyn CompanyStore>,
    pub(crate) directory: crate::identity::directory::StaffDirectory,
}

impl Identities {
    pub async fn me(&self, actor: &Actor) -> Result<MeView, Error> {
        let company = match actor.role {
            Role::Company => self.companies.company_of_owner(&actor.user_id).await?.map(|c| CompanyView::of(&c)),
            _ => None,
        };
        let unit = actor.unit.as_deref().and_then(|c| self.cx.tree.get(c)).map(UnitSummary::of);
        let assignments = self.directory.own(actor).await?.map(|m| m.assignments).unwrap_or_default();
        Ok(MeView {
            user_id: actor.user_id.clone(),
            role: actor.role,
            name: actor.name.clone(),
            unit,
            phone: actor.phone.as_ref().map(|p| p.masked()),
            company,
            assignments,
        })
    }

    /// Any signed-in user may browse the tree: companies pick communities
    /// from it, and the codes are public statistical data.
    pub fn unit(&self, code: &str) -> Result<UnitView, Error> {
        let u = self.cx.tree.get(code).ok_or(Error::NotFound("jurisdiction"))?;
        Ok(UnitView::of(u, &self.cx.tree))
    }
}
