//! The staff directory's use cases: who the caller is
//! ([`StaffDirectory::resolve`]), and administration within the
//! administrator's own subtree, every change on the member's audit chain.
//! The model and the port are in [`super::staff`].

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::audit::GENESIS;
use crate::audit::Happened;
use crate::error::{Error, StoreError};
use crate::fields::Phone;
use crate::identity::staff::*;
use crate::identity::{Actor, Role};
use crate::jurisdiction::JurisdictionTree;
use crate::ports::{Clock, Page, PageRequest};

/// The staff directory's use cases, over only what they need.
#[derive(Clone)]
pub struct StaffDirectory {
    /// The key of the members' audit chains.
    pub key: crate::audit::AuditKeyCell,
    /// The directory itself: administration reads and writes here.
    pub store: Arc<dyn StaffStore>,
    /// What [`StaffDirectory::resolve`] reads a caller's authority from:
    /// the same store standalone (a revocation acts at once), a cache of at
    /// most 60 s in front of it on AWS. Never used for administration, so
    /// an administrator never edits a stale copy.
    pub authority: Arc<dyn StaffStore>,
    pub tree: Arc<JurisdictionTree>,
    pub clock: Arc<dyn Clock>,
}

/// The actor the command line acts as: the root unit's administrator.
pub fn cli_actor(tree: &JurisdictionTree) -> Actor {
    Actor {
        user_id: "cli".into(),
        role: Role::Admin,
        unit: Some(tree.root().code.clone()),
        phone: None,
        name: Some("command line".into()),
        credit_code: None,
    }
}

impl StaffDirectory {
    /// Who the caller is, from verified token claims: a staff member acting
    /// with one of their directory assignments (`acting_as` picks one:
    /// `role` or `role:unit`), or a non-staff subject acting as a company
    /// or, with a verified phone, as a project manager.
    ///
    /// Errors: no `sub` → 401; a disabled staff member → 403
    /// `account_disabled`; `acting_as` naming nothing the caller holds →
    /// 403 `not_assigned`; a project manager without a verified, valid phone
    /// → 403 `phone_not_verified` (the same token may act as a company).
    pub async fn resolve(&self, claims: &HashMap<String, String>, acting_as: Option<&str>) -> Result<Actor, Error> {
        let sub = claims.get("sub").filter(|s| !s.is_empty()).ok_or(Error::Unauthenticated)?;
        let name = claims.get("name").cloned();
        let acting_as = acting_as.map(str::trim).filter(|s| !s.is_empty());
        if let Some(member) = self.authority.get_staff(sub).await? {
            if !member.active {
                return Err(Error::AccountDisabled);
            }
            let chosen = match acting_as {
                None => member.assignments.iter().find(|a| self.tree.get(&a.unit).is_some()),
                Some(want) => {
                    let (role, unit) = match want.split_once(':') {
                        Some((r, u)) => (r, Some(u)),
                        None => (want, None),
                    };
                    member.assignments.iter().find(|a| {
                        a.role.as_str() == role && unit.is_none_or(|u| u == a.unit) && self.tree.get(&a.unit).is_some()
                    })
                }
            };
            let a = chosen.ok_or(Error::NotAssigned)?;
            return Ok(Actor {
                user_id: member.sub.clone(),
                role: a.role,
                unit: Some(a.unit.clone()),
                phone: None,
                name: Some(member.name.clone()),
                credit_code: None,
            });
        }
        // Not staff: whatever staff role the token claims is ignored.
        let wants_manager = match acting_as {
            Some("project_manager") => true,
            Some("company") => false,
            None => claims.get("role").map(String::as_str) == Some("project_manager"),
            Some(_) => return Err(Error::NotAssigned),
        };
        if wants_manager {
            let verified = claims.get("phone_number_verified").map(String::as_str) == Some("true");
            let phone = claims.get("phone_number").and_then(|p| Phone::parse(p).ok());
            return match (verified, phone) {
                (true, Some(phone)) => Ok(Actor {
                    user_id: sub.clone(),
                    role: Role::ProjectManager,
                    unit: None,
                    phone: Some(phone),
                    name,
                    credit_code: None,
                }),
                _ => Err(Error::PhoneNotVerified),
            };
        }
        let credit_code = claims.get("credit_code").map(|c| c.trim().to_uppercase()).filter(|c| !c.is_empty());
        Ok(Actor { user_id: sub.clone(), role: Role::Company, unit: None, phone: None, name, credit_code })
    }

    /// The caller's own directory record, if they are staff (for `/me`).
    pub async fn own(&self, actor: &Actor) -> Result<Option<StaffView>, Error> {
        if !actor.role.is_staff() {
            return Ok(None);
        }
        Ok(self.store.get_staff(&actor.user_id).await?.map(|m| StaffView::of(&m, &self.tree)))
    }

    fn admin_unit<'a>(&self, actor: &'a Actor) -> Result<&'a str, Error> {
        match (actor.role, actor.unit.as_deref()) {
            (Role::Admin, Some(u)) => Ok(u),
            _ => Err(Error::NotFound("resource")),
        }
    }

    fn subtree(&self, root: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut stack = vec![root.to_string()];
        while let Some(code) = stack.pop() {
            stack.extend(self.tree.children(&code).map(|c| c.code.clone()));
            out.insert(code);
        }
        out
    }

    /// Whether every unit the member holds lies in the admin's subtree:
    /// an admin sees and changes only such members.
    fn manages(&self, admin_unit: &str, m: &StaffMember) -> bool {
        m.units().all(|u| self.tree.contains(admin_unit, u))
    }

    /// `GET /admin/staff`: the staff of the admin's subtree (or of `unit`
    /// inside it), optionally of one role or matching a text.
    pub async fn list(
        &self,
        actor: &Actor,
        unit: Option<&str>,
        role: Option<&str>,
        text: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<StaffView>, Error> {
        let admin = self.admin_unit(actor)?;
        let root = match unit.map(str::trim).filter(|u| !u.is_empty()) {
            Some(u) if self.tree.get(u).is_none() => return Err(Error::invalid("unit", "no such unit")),
            Some(u) if !self.tree.contains(admin, u) => return Err(Error::NotFound("jurisdiction")),
            Some(u) => u,
            None => admin,
        };
        let role = match role.map(str::trim).filter(|r| !r.is_empty()) {
            Some(r) => Some(
                Role::parse(r).filter(|r| r.is_staff()).ok_or_else(|| Error::invalid("role", "not a staff role"))?,
            ),
            None => None,
        };
        let text = text.map(str::trim).filter(|t| !t.is_empty()).map(str::to_string);
        if text.as_ref().is_some_and(|t| t.chars().count() > 100) {
            return Err(Error::invalid("q", "at most 100 characters"));
        }
        // A member who also holds a unit outside the admin's subtree is not
        // theirs to see: the store leaves them out before it fills a page,
        // so a page is short only when it is the last.
        let filter = StaffFilter { units: Some(self.subtree(root)), within: Some(self.subtree(admin)), role, text };
        let found = self.store.list_staff(&filter, page).await?;
        debug_assert!(found.items.iter().all(|m| self.manages(admin, m)));
        Ok(found.map(|m| StaffView::of(&m, &self.tree)))
    }

    /// `GET /admin/staff/{sub}`.
    pub async fn get(&self, actor: &Actor, sub: &str) -> Result<StaffView, Error> {
        let admin = self.admin_unit(actor)?;
        let m = self.store.get_staff(sub).await?.filter(|m| self.manages(admin, m)).ok_or(Error::NotFound("staff"))?;
        Ok(StaffView::of(&m, &self.tree))
    }

    /// `PUT /admin/staff/{sub}`: creates or replaces a member. Says whether
    /// it was created.
    pub async fn put(&self, actor: &Actor, sub: &str, input: &StaffInput) -> Result<(StaffView, bool), Error> {
        let admin = self.admin_unit(actor)?.to_string();
        let sub = parse_sub(sub)?;
        let name = crate::fields::text("name", &input.name, 100)?.as_str().to_string();
        // A member who holds a unit outside the admin's subtree is not
        // theirs: 404, before anything about the new assignments is said.
        let current = self.store.get_staff(&sub).await?;
        if let Some(c) = &current
            && !self.manages(&admin, c)
        {
            return Err(Error::NotFound("staff"));
        }
        let assignments = parse_assignments(&input.assignments, &self.tree)?;
        // Indexed as sent, like parse_assignments' errors (it sorts).
        for (i, a) in input.assignments.iter().enumerate() {
            if !self.tree.contains(&admin, a.unit.trim()) {
                return Err(Error::Forbidden {
                    field: Some(format!("assignments[{i}].unit")),
                    message: "an administrator can grant only units inside their own jurisdiction".into(),
                });
            }
        }
        let active = input.active.unwrap_or(true);
        if sub == actor.user_id {
            let held: BTreeSet<&Assignment> = current.iter().flat_map(|c| c.assignments.iter()).collect();
            if assignments.iter().any(|a| !held.contains(a)) {
                return Err(Error::Forbidden {
                    field: Some("assignments".into()),
                    message: "an administrator cannot grant roles to themselves; another administrator must".into(),
                });
            }
            let keeps_admin = active && assignments.iter().any(|a| a.role == Role::Admin && a.unit == admin);
            if !keeps_admin {
                self.refuse_last_admin(&sub, &admin).await?;
            }
        }
        let expected = input.version.unwrap_or(0);
        let now = self.clock.now();
        let (member, action, from) = match &current {
            None if expected != 0 => return Err(Error::NotFound("staff")),
            None => (
                StaffMember {
                    sub: sub.clone(),
                    name,
                    assignments,
                    active,
                    version: 1,
                    created_at: now,
                    updated_at: now,
                    updated_by: actor.user_id.clone(),
                    audit_seq: 0,
                    audit_head: GENESIS.into(),
                },
                "staff_create",
                None,
            ),
            Some(c) if expected != c.version => return Err(Error::VersionConflict { current: c.version }),
            Some(c) => (
                StaffMember {
                    name,
                    assignments,
                    active,
                    version: c.version + 1,
                    updated_at: now,
                    updated_by: actor.user_id.clone(),
                    ..c.clone()
                },
                "staff_update",
                Some(state_name(c.active)),
            ),
        };
        let created = current.is_none();
        let stored = self.write(actor, member, expected, action, from).await?;
        Ok((StaffView::of(&stored, &self.tree), created))
    }

    /// `DELETE /admin/staff/{sub}`: disables a member; the record and its
    /// trail are kept. Disabling a disabled member changes nothing.
    pub async fn disable(&self, actor: &Actor, sub: &str) -> Result<StaffView, Error> {
        let admin = self.admin_unit(actor)?.to_string();
        let current =
            self.store.get_staff(sub).await?.filter(|m| self.manages(&admin, m)).ok_or(Error::NotFound("staff"))?;
        if !current.active {
            return Ok(StaffView::of(&current, &self.tree));
        }
        if sub == actor.user_id {
            self.refuse_last_admin(sub, &admin).await?;
        }
        let expected = current.version;
        let member = StaffMember {
            active: false,
            version: current.version + 1,
            updated_at: self.clock.now(),
            updated_by: actor.user_id.clone(),
            ..current
        };
        let stored = self.write(actor, member, expected, "staff_disable", Some("active")).await?;
        Ok(StaffView::of(&stored, &self.tree))
    }

    /// 409 unless another active administrator holds `unit`.
    async fn refuse_last_admin(&self, sub: &str, unit: &str) -> Result<(), Error> {
        let filter = StaffFilter {
            units: Some(BTreeSet::from([unit.to_string()])),
            role: Some(Role::Admin),
            ..Default::default()
        };
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        loop {
            let found = self.store.list_staff(&filter, &page).await?;
            if found.items.iter().any(|m| m.active && m.sub != sub) {
                return Ok(());
            }
            match found.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => return Err(Error::LastAdmin),
            }
        }
    }

    async fn write(
        &self,
        actor: &Actor,
        mut member: StaffMember,
        expected: u64,
        action: &str,
        from: Option<&str>,
    ) -> Result<StaffMember, Error> {
        let summary =
            member.assignments.iter().map(|a| format!("{}@{}", a.role.as_str(), a.unit)).collect::<Vec<_>>().join(", ");
        let comment = Some(format!("{}: {summary}", member.name));
        let (at, to) = (member.updated_at, state_name(member.active));
        let audit =
            crate::audit::append(self.key.get().await?, &mut member, Happened { at, actor, action, from, to, comment });
        match self.store.put_staff(&member, expected, &audit).await {
            Ok(()) => Ok(member),
            Err(StoreError::AlreadyExists) => {
                let current = self.store.get_staff(&member.sub).await?.map(|m| m.version).unwrap_or(1);
                Err(Error::VersionConflict { current })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The command line's `staff add`: creates the member, or adds the
    /// assignment to an existing one (and enables them). Acts as the root's
    /// administrator, for the first admin and for scripts.
    pub async fn cli_add(&self, sub: &str, name: Option<&str>, role: &str, unit: &str) -> Result<StaffView, Error> {
        let actor = cli_actor(&self.tree);
        let current = self.store.get_staff(sub).await?;
        let mut assignments: Vec<AssignmentInput> = current
            .iter()
            .flat_map(|c| c.assignments.iter())
            .map(|a| AssignmentInput { role: a.role.as_str().into(), unit: a.unit.clone() })
            .collect();
        assignments.push(AssignmentInput { role: role.into(), unit: unit.into() });
        let name = match (name, &current) {
            (Some(n), _) => n.to_string(),
            (None, Some(c)) => c.name.clone(),
            (None, None) => return Err(Error::invalid("name", "a new staff member needs a name")),
        };
        let input = StaffInput { name, assignments, version: current.as_ref().map(|c| c.version), active: Some(true) };
        Ok(self.put(&actor, sub, &input).await?.0)
    }

    /// The command line's `staff disable`.
    pub async fn cli_disable(&self, sub: &str) -> Result<StaffView, Error> {
        self.disable(&cli_actor(&self.tree), sub).await
    }

    /// The command line's `staff list`: every member, or a unit's subtree.
    pub async fn cli_list(&self, unit: Option<&str>) -> Result<Vec<StaffView>, Error> {
        let actor = cli_actor(&self.tree);
        let mut out = Vec::new();
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        loop {
            let found = self.list(&actor, unit, None, None, &page).await?;
            out.extend(found.items);
            match found.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    /// Every member, a page at a time (the audit check).
    pub async fn scan(&self, page: &PageRequest) -> Result<Page<StaffMember>, Error> {
        Ok(self.store.list_staff(&StaffFilter::default(), page).await?)
    }

    /// The deployment's first administrator, named by configuration (the
    /// cloud stack's `InitialAdminSub`): an admin of the tree's root,
    /// created if absent and left alone if present, so that what
    /// administrators changed since (a rename, a disable) stands. The
    /// creation is audited with the actor `bootstrap`. Says whether it
    /// created the member.
    pub async fn bootstrap_admin(&self, sub: &str) -> Result<bool, Error> {
        if self.store.get_staff(sub).await?.is_some() {
            return Ok(false);
        }
        let input = StaffInput {
            name: "初始管理员".into(),
            assignments: vec![AssignmentInput {
                role: Role::Admin.as_str().into(),
                unit: self.tree.root().code.clone(),
            }],
            version: None,
            active: Some(true),
        };
        let actor = Actor { user_id: "bootstrap".into(), ..cli_actor(&self.tree) };
        match self.put(&actor, sub, &input).await {
            Ok(_) => Ok(true),
            // Another container created them first.
            Err(Error::VersionConflict { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Seeds a member directly (demo data): created if absent, left alone
    /// if present, so restarts keep what administrators changed since.
    pub async fn seed(&self, sub: &str, name: &str, assignments: &[(Role, &str)]) -> Result<(), Error> {
        if self.store.get_staff(sub).await?.is_some() {
            return Ok(());
        }
        let input = StaffInput {
            name: name.into(),
            assignments: assignments
                .iter()
                .map(|(r, u)| AssignmentInput { role: r.as_str().into(), unit: u.to_string() })
                .collect(),
            version: None,
            active: Some(true),
        };
        let actor = Actor { user_id: "seed".into(), ..cli_actor(&self.tree) };
        self.put(&actor, sub, &input).await.map(|_| ())
    }
}

fn state_name(active: bool) -> &'static str {
    if active { "active" } else { "disabled" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditEntry;
    use crate::jurisdiction::tests::sample;
    use crate::ports::StoreResult;
    use async_trait::async_trait;
    use chrono::{DateTime, Utc};
    use std::sync::Mutex;

    #[derive(Default)]
    struct MemStaff(Mutex<Vec<StaffMember>>);

    #[async_trait]
    impl StaffStore for MemStaff {
        async fn get_staff(&self, sub: &str) -> StoreResult<Option<StaffMember>> {
            Ok(self.0.lock().unwrap().iter().find(|m| m.sub == sub).cloned())
        }
        async fn put_staff(&self, m: &StaffMember, expected: u64, _a: &AuditEntry) -> StoreResult<()> {
            let mut all = self.0.lock().unwrap();
            match (all.iter().position(|x| x.sub == m.sub), expected) {
                (Some(_), 0) => Err(StoreError::AlreadyExists),
                (None, 0) => {
                    all.push(m.clone());
                    Ok(())
                }
                (None, _) => Err(StoreError::NotFound),
                (Some(i), v) if all[i].version != v => Err(StoreError::VersionConflict { current: all[i].version }),
                (Some(i), _) => {
                    all[i] = m.clone();
                    Ok(())
                }
            }
        }
        async fn list_staff(&self, f: &StaffFilter, _p: &PageRequest) -> StoreResult<Page<StaffMember>> {
            let mut v: Vec<_> = self.0.lock().unwrap().iter().filter(|m| f.matches(m)).cloned().collect();
            v.sort_by(|a, b| a.sub.cmp(&b.sub));
            Ok(Page { items: v, next_cursor: None })
        }
    }

    struct Fixed;
    impl Clock for Fixed {
        fn now(&self) -> DateTime<Utc> {
            "2020-02-20T02:00:00Z".parse().unwrap()
        }
    }

    fn dir() -> StaffDirectory {
        let store = Arc::new(MemStaff::default());
        StaffDirectory {
            key: crate::audit::AuditKey::for_tests().into(),
            store: store.clone(),
            authority: store,
            tree: Arc::new(sample()),
            clock: Arc::new(Fixed),
        }
    }

    fn claims(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn input(name: &str, a: &[(&str, &str)], version: Option<u64>) -> StaffInput {
        StaffInput {
            name: name.into(),
            assignments: a.iter().map(|(r, u)| AssignmentInput { role: r.to_string(), unit: u.to_string() }).collect(),
            version,
            active: None,
        }
    }

    async fn admin_of(d: &StaffDirectory, sub: &str, unit: &str) -> Actor {
        d.seed(sub, "管理员", &[(Role::Admin, unit)]).await.unwrap();
        d.resolve(&claims(&[("sub", sub)]), None).await.unwrap()
    }

    #[tokio::test]
    async fn the_directory_not_the_token_decides_a_staff_role() {
        let d = dir();
        d.seed("u1", "复核员", &[(Role::Subdistrict, "440307009")]).await.unwrap();
        let a =
            d.resolve(&claims(&[("sub", "u1"), ("role", "finance"), ("jurisdiction", "440300")]), None).await.unwrap();
        assert_eq!((a.role, a.unit.as_deref()), (Role::Subdistrict, Some("440307009")));
        // A subject the directory does not hold is no staff, whatever it claims.
        let b =
            d.resolve(&claims(&[("sub", "u2"), ("role", "finance"), ("jurisdiction", "440398")]), None).await.unwrap();
        assert_eq!((b.role, b.unit), (Role::Company, None));
    }

    #[tokio::test]
    async fn a_disabled_member_and_a_foreign_assignment_are_refused() {
        let d = dir();
        let admin = admin_of(&d, "adm", "440300").await;
        d.put(&admin, "u1", &input("初审员", &[("community", "440307003001")], None)).await.unwrap();
        let ok = d.resolve(&claims(&[("sub", "u1")]), Some("community")).await.unwrap();
        assert_eq!(ok.role, Role::Community);
        assert_eq!(d.resolve(&claims(&[("sub", "u1")]), Some("district")).await, Err(Error::NotAssigned));
        assert_eq!(d.resolve(&claims(&[("sub", "u1")]), Some("community:440304001023")).await, Err(Error::NotAssigned));
        d.disable(&admin, "u1").await.unwrap();
        assert_eq!(d.resolve(&claims(&[("sub", "u1")]), None).await, Err(Error::AccountDisabled));
    }

    #[tokio::test]
    async fn a_manager_needs_a_verified_valid_phone() {
        let d = dir();
        let base = [("sub", "pm"), ("role", "project_manager"), ("phone_number", "13800138000")];
        assert_eq!(d.resolve(&claims(&base), None).await, Err(Error::PhoneNotVerified));
        let mut c = claims(&base);
        c.insert("phone_number_verified".into(), "false".into());
        assert_eq!(d.resolve(&c, None).await, Err(Error::PhoneNotVerified));
        // The same token may act as a company.
        assert_eq!(d.resolve(&c, Some("company")).await.unwrap().role, Role::Company);
        c.insert("phone_number_verified".into(), "true".into());
        assert_eq!(d.resolve(&c, None).await.unwrap().role, Role::ProjectManager);
        c.insert("phone_number".into(), "12".into());
        assert_eq!(d.resolve(&c, None).await, Err(Error::PhoneNotVerified));
        assert_eq!(d.resolve(&claims(&[("role", "company")]), None).await, Err(Error::Unauthenticated));
    }

    #[tokio::test]
    async fn an_admin_grants_only_inside_its_subtree_and_roles_that_fit_the_level() {
        let d = dir();
        let admin = admin_of(&d, "adm", "440307").await;
        let outside = d.put(&admin, "u1", &input("x", &[("district", "440398")], None)).await.unwrap_err();
        assert!(matches!(outside, Error::Forbidden { .. }), "{outside:?}");
        let above = d.put(&admin, "u1", &input("x", &[("city", "440300")], None)).await.unwrap_err();
        assert!(matches!(above, Error::Forbidden { .. }), "{above:?}");
        let level = d.put(&admin, "u1", &input("x", &[("subdistrict", "440307003001")], None)).await.unwrap_err();
        assert_eq!(level.code(), "invalid_field");
        let unknown = d.put(&admin, "u1", &input("x", &[("community", "440307003999")], None)).await.unwrap_err();
        assert_eq!(unknown.field(), Some("assignments[0].unit"));
        let bad_role = d.put(&admin, "u1", &input("x", &[("company", "440307")], None)).await.unwrap_err();
        assert_eq!(bad_role.field(), Some("assignments[0].role"));
        assert!(d.put(&admin, "u1", &input("x", &[], None)).await.is_err());
        assert!(d.put(&admin, "u 1", &input("x", &[("district", "440307")], None)).await.is_err());
        assert!(d.put(&admin, "u1", &input(" ", &[("district", "440307")], None)).await.is_err());
        // Nothing was written by any of these.
        assert!(d.store.get_staff("u1").await.unwrap().is_none());
        let (v, created) = d.put(&admin, "u1", &input("区审核", &[("district", "440307")], None)).await.unwrap();
        assert!(created);
        assert_eq!((v.version, v.assignments[0].unit.as_str()), (1, "440307"));
        assert_eq!(v.assignments[0].unit_name, d.tree.get("440307").unwrap().name);
    }

    #[tokio::test]
    async fn a_refused_unit_is_named_by_its_position_as_sent() {
        let d = dir();
        let admin = admin_of(&d, "adm", "440307").await;
        // Sorted, the district comes first; as sent, the foreign finance unit does.
        let e =
            d.put(&admin, "u1", &input("x", &[("finance", "440398"), ("district", "440307")], None)).await.unwrap_err();
        assert_eq!(e.field(), Some("assignments[0].unit"), "{e:?}");
        let e =
            d.put(&admin, "u1", &input("x", &[("district", "440307"), ("finance", "440398")], None)).await.unwrap_err();
        assert_eq!(e.field(), Some("assignments[1].unit"), "{e:?}");
    }

    #[tokio::test]
    async fn stale_versions_conflict_and_creates_do_not_overwrite() {
        let d = dir();
        let admin = admin_of(&d, "adm", "440300").await;
        d.put(&admin, "u1", &input("a", &[("district", "440307")], None)).await.unwrap();
        let again = d.put(&admin, "u1", &input("b", &[("district", "440307")], None)).await.unwrap_err();
        assert_eq!(again, Error::VersionConflict { current: 1 });
        let (v2, _) = d.put(&admin, "u1", &input("b", &[("finance", "440307")], Some(1))).await.unwrap();
        assert_eq!(v2.version, 2);
        let stale = d.put(&admin, "u1", &input("c", &[("district", "440307")], Some(1))).await.unwrap_err();
        assert_eq!(stale, Error::VersionConflict { current: 2 });
    }

    #[tokio::test]
    async fn an_admin_cannot_see_or_change_a_member_who_also_holds_a_unit_outside() {
        let d = dir();
        let city = admin_of(&d, "city-adm", "440300").await;
        let futian = admin_of(&d, "futian-adm", "440307").await;
        d.put(&city, "u1", &input("两区", &[("district", "440307"), ("district", "440398")], None)).await.unwrap();
        assert_eq!(d.get(&futian, "u1").await.unwrap_err(), Error::NotFound("staff"));
        let strip = d.put(&futian, "u1", &input("两区", &[("district", "440307")], Some(1))).await.unwrap_err();
        assert_eq!(strip, Error::NotFound("staff"));
        assert_eq!(d.disable(&futian, "u1").await.unwrap_err(), Error::NotFound("staff"));
        let listed = d.list(&futian, None, None, None, &PageRequest::first(50)).await.unwrap();
        assert!(listed.items.iter().all(|m| m.sub != "u1"));
        assert_eq!(
            d.list(&futian, Some("440398"), None, None, &PageRequest::first(50)).await.unwrap_err().code(),
            "not_found"
        );
    }

    #[tokio::test]
    async fn an_admin_cannot_grant_itself_roles_nor_leave_its_unit_without_an_admin() {
        let d = dir();
        let admin = admin_of(&d, "adm", "440307").await;
        let grant =
            d.put(&admin, "adm", &input("管理员", &[("admin", "440307"), ("finance", "440307")], Some(1))).await;
        assert!(matches!(grant, Err(Error::Forbidden { .. })), "{grant:?}");
        assert_eq!(d.disable(&admin, "adm").await.unwrap_err(), Error::LastAdmin);
        d.put(&admin, "adm2", &input("管理员二", &[("admin", "440307")], None)).await.unwrap();
        d.disable(&admin, "adm").await.unwrap();
        assert_eq!(d.resolve(&claims(&[("sub", "adm")]), None).await, Err(Error::AccountDisabled));
    }

    #[tokio::test]
    async fn staff_who_are_not_admins_manage_no_one() {
        let d = dir();
        d.seed("fin", "财政", &[(Role::Finance, "440307")]).await.unwrap();
        let fin = d.resolve(&claims(&[("sub", "fin")]), None).await.unwrap();
        assert_eq!(
            d.put(&fin, "x", &input("x", &[("district", "440307")], None)).await.unwrap_err().code(),
            "not_found"
        );
        assert_eq!(d.list(&fin, None, None, None, &PageRequest::first(5)).await.unwrap_err().code(), "not_found");
    }

    #[tokio::test]
    async fn the_first_administrator_is_created_once_and_then_left_alone() {
        let d = dir();
        assert!(d.bootstrap_admin("first").await.unwrap());
        let admin = d.resolve(&claims(&[("sub", "first")]), None).await.unwrap();
        assert_eq!((admin.role, admin.unit.as_deref()), (Role::Admin, Some("440300")));
        assert_eq!(d.store.get_staff("first").await.unwrap().unwrap().updated_by, "bootstrap");
        d.put(&admin, "second", &input("第二", &[("admin", "440300")], None)).await.unwrap();
        let second = d.resolve(&claims(&[("sub", "second")]), None).await.unwrap();
        d.disable(&second, "first").await.unwrap();
        assert!(!d.bootstrap_admin("first").await.unwrap(), "a cold start does not undo a disable");
        assert_eq!(d.resolve(&claims(&[("sub", "first")]), None).await, Err(Error::AccountDisabled));
        assert!(d.bootstrap_admin(" bad sub").await.is_err());
    }

    #[test]
    fn a_filter_matches_by_unit_role_and_text() {
        let m = StaffMember {
            sub: "abc".into(),
            name: "南园社区".into(),
            assignments: vec![Assignment { role: Role::Community, unit: "440307003001".into() }],
            active: true,
            version: 1,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            updated_by: "x".into(),
            audit_seq: 1,
            audit_head: GENESIS.into(),
        };
        assert!(StaffFilter::default().matches(&m));
        let units = |u: &str| Some(BTreeSet::from([u.to_string()]));
        assert!(StaffFilter { units: units("440307003001"), ..Default::default() }.matches(&m));
        assert!(!StaffFilter { units: units("440307003002"), ..Default::default() }.matches(&m));
        assert!(!StaffFilter { role: Some(Role::District), ..Default::default() }.matches(&m));
        assert!(StaffFilter { text: Some("ABC".into()), ..Default::default() }.matches(&m));
        assert!(StaffFilter { text: Some("南园".into()), ..Default::default() }.matches(&m));
        assert!(!StaffFilter { text: Some("南华".into()), ..Default::default() }.matches(&m));
        assert!(StaffFilter { within: units("440307003001"), ..Default::default() }.matches(&m));
        let two = StaffMember {
            assignments: vec![
                Assignment { role: Role::Community, unit: "440307003001".into() },
                Assignment { role: Role::District, unit: "440398".into() },
            ],
            ..m
        };
        assert!(StaffFilter { units: units("440307003001"), ..Default::default() }.matches(&two));
        assert!(!StaffFilter { within: units("440307003001"), ..Default::default() }.matches(&two), "one unit outside");
    }
}
