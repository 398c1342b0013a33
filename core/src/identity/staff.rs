//! The staff directory: the only source of staff authority.
//!
//! Tokens identify; the directory authorises. A token's `sub` is looked up
//! here, and a staff member acts with one of the assignments (role and
//! unit) the programme's administrators gave them, never with what the
//! token's `role` or `jurisdiction` claims say. A subject the directory
//! does not hold is not staff: it may act as a company (self-service) or,
//! with a verified phone claim, as a project manager.
//!
//! Administrators (`admin` role, bound to a unit) manage the staff of
//! their unit's subtree and can never grant a unit outside it. Every change
//! is appended to the member's audit chain (`staff:{sub}`).
//!
//! This module holds the model, the port ([`StaffStore`]), the inputs and
//! views; the use cases are [`super::directory::StaffDirectory`], over
//! only the ports they need. It knows nothing of HTTP, SQL or AWS.

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::AuditEntry;
use crate::error::Error;
use crate::identity::Role;
use crate::jurisdiction::{JurisdictionTree, Level};
use crate::ports::{Page, PageRequest, StoreResult};

/// At most this many assignments per staff member.
pub const MAX_ASSIGNMENTS: usize = 20;
/// Longest `sub` accepted (identity platforms use UUIDs or short ids).
pub const MAX_SUB_LEN: usize = 200;
/// The request header with which a caller picks one of their assignments
/// (`role` or `role:unit`); without it, the first assignment acts.
pub const ACTING_AS_HEADER: &str = "x-acting-as";

/// One role at one unit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    pub role: Role,
    pub unit: String,
}

/// A staff member as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StaffMember {
    /// The identity platform's subject (`sub` claim).
    pub sub: String,
    pub name: String,
    /// Sorted, without duplicates, at least one.
    pub assignments: Vec<Assignment>,
    pub active: bool,
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The `sub` of whoever made the last change (`cli` for the command line).
    pub updated_by: String,
    pub audit_seq: u64,
    pub audit_head: String,
}

impl StaffMember {
    pub fn audit_subject(&self) -> String {
        format!("staff:{}", self.sub)
    }

    pub(crate) fn units(&self) -> impl Iterator<Item = &str> {
        self.assignments.iter().map(|a| a.unit.as_str())
    }
}

/// Which staff a list returns. [`StaffFilter::matches`] is the one rule;
/// adapters page through the directory in `sub` order and keep the matches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaffFilter {
    /// Members with at least one assignment at one of these units (a
    /// subtree, expanded by the use case). None: any unit.
    pub units: Option<BTreeSet<String>>,
    /// Members all of whose assignments are at one of these units (the
    /// administrator's subtree: whom they may see). None: no such bound.
    pub within: Option<BTreeSet<String>>,
    pub role: Option<Role>,
    /// Case-insensitive substring of the name or the sub.
    pub text: Option<String>,
}

impl StaffFilter {
    pub fn matches(&self, m: &StaffMember) -> bool {
        let assignment_ok = m
            .assignments
            .iter()
            .any(|a| self.units.as_ref().is_none_or(|u| u.contains(&a.unit)) && self.role.is_none_or(|r| r == a.role));
        let within_ok = self.within.as_ref().is_none_or(|w| m.assignments.iter().all(|a| w.contains(&a.unit)));
        let text_ok = self.text.as_deref().is_none_or(|t| {
            let t = t.to_lowercase();
            m.name.to_lowercase().contains(&t) || m.sub.to_lowercase().contains(&t)
        });
        assignment_ok && within_ok && text_ok
    }
}

/// The directory's storage.
#[async_trait]
pub trait StaffStore: Send + Sync {
    async fn get_staff(&self, sub: &str) -> StoreResult<Option<StaffMember>>;
    /// Creates the member when `expected_version` is 0 (`AlreadyExists` if
    /// the sub is there), else replaces it if its stored version is
    /// `expected_version` (`VersionConflict` with the stored version, or
    /// `NotFound`). The audit entry is written in the same transaction.
    async fn put_staff(&self, member: &StaffMember, expected_version: u64, audit: &AuditEntry) -> StoreResult<()>;
    /// Members matching `filter`, in `sub` order, a page at a time. A page
    /// may hold fewer than `limit` items only when it is the last.
    async fn list_staff(&self, filter: &StaffFilter, page: &PageRequest) -> StoreResult<Page<StaffMember>>;
}

/// Raw body of `PUT /admin/staff/{sub}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StaffInput {
    pub name: String,
    pub assignments: Vec<AssignmentInput>,
    /// The version last seen; absent or 0 to create.
    #[serde(default)]
    pub version: Option<u64>,
    /// Absent: active.
    #[serde(default)]
    pub active: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssignmentInput {
    pub role: String,
    pub unit: String,
}

/// A staff member as the API shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StaffView {
    pub sub: String,
    pub name: String,
    pub assignments: Vec<AssignmentView>,
    pub active: bool,
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentView {
    pub role: Role,
    pub unit: String,
    pub unit_name: String,
}

impl StaffView {
    pub fn of(m: &StaffMember, tree: &JurisdictionTree) -> StaffView {
        StaffView {
            sub: m.sub.clone(),
            name: m.name.clone(),
            assignments: m
                .assignments
                .iter()
                .map(|a| AssignmentView {
                    role: a.role,
                    unit: a.unit.clone(),
                    unit_name: tree.get(&a.unit).map(|u| u.name.clone()).unwrap_or_default(),
                })
                .collect(),
            active: m.active,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
            updated_by: m.updated_by.clone(),
        }
    }
}

/// Whether a role may be assigned at a unit of this level.
pub fn role_fits_level(role: Role, level: Level) -> bool {
    match role {
        Role::Admin => true,
        other => other.unit_level() == Some(level),
    }
}

/// A subject id: non-empty, bounded, no whitespace or control characters.
pub fn parse_sub(sub: &str) -> Result<String, Error> {
    if sub.is_empty() || sub.chars().count() > MAX_SUB_LEN || sub.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::invalid(
            "sub",
            format!("a subject is 1 to {MAX_SUB_LEN} characters without spaces or control characters"),
        ));
    }
    Ok(sub.to_string())
}

/// Parses assignments: known staff roles, units in the tree, roles that fit
/// their unit's level, at least one, no more than [`MAX_ASSIGNMENTS`].
/// Returns them sorted and without duplicates.
pub fn parse_assignments(input: &[AssignmentInput], tree: &JurisdictionTree) -> Result<Vec<Assignment>, Error> {
    if input.is_empty() {
        return Err(Error::invalid("assignments", "at least one assignment is required"));
    }
    if input.len() > MAX_ASSIGNMENTS {
        return Err(Error::invalid("assignments", format!("at most {MAX_ASSIGNMENTS} assignments")));
    }
    let mut out = BTreeSet::new();
    for (i, a) in input.iter().enumerate() {
        let role = Role::parse(a.role.trim()).filter(|r| r.is_staff()).ok_or_else(|| {
            Error::invalid(
                format!("assignments[{i}].role"),
                "must be one of community, subdistrict, district, finance, city, admin",
            )
        })?;
        let unit = tree
            .get(a.unit.trim())
            .ok_or_else(|| Error::invalid(format!("assignments[{i}].unit"), "no such unit in the jurisdiction tree"))?;
        if !role_fits_level(role, unit.level) {
            return Err(Error::invalid(
                format!("assignments[{i}].role"),
                format!("a {} role cannot be assigned at a {:?} unit", role.as_str(), unit.level).to_lowercase(),
            ));
        }
        out.insert(Assignment { role, unit: unit.code.clone() });
    }
    Ok(out.into_iter().collect())
}

crate::audit::chained!(StaffMember, |m| StaffMember::audit_subject(m));
