//! What a caller sees of themselves (`GET /me`).

use serde::Serialize;

use crate::company::views::*;
use crate::identity::Role;
use crate::jurisdiction::UnitSummary;

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
