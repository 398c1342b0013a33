//! What every capability reads: the clock, the active policy, the
//! jurisdiction tree and the audit chains' key.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::audit::AuditKeyCell;
use crate::error::Error;
use crate::jurisdiction::JurisdictionTree;
use crate::policy::Policy;
use crate::ports::{Clock, PolicyStore};

#[derive(Clone)]
pub struct Context {
    pub policies: Arc<dyn PolicyStore>,
    /// The deployment's active policy.
    pub policy_id: String,
    /// The key of the audit chains' MACs (never stored in the database).
    pub audit_key: AuditKeyCell,
    pub clock: Arc<dyn Clock>,
    pub tree: Arc<JurisdictionTree>,
}

impl Context {
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The active policy.
    pub async fn policy(&self) -> Result<Policy, Error> {
        self.policy_by_id(&self.policy_id).await
    }

    /// A stored policy, its grace periods named (one stored before they
    /// existed gets their defaults).
    pub async fn policy_by_id(&self, id: &str) -> Result<Policy, Error> {
        let p =
            self.policies.get_policy(id).await?.ok_or_else(|| Error::internal(format!("policy {id} is not loaded")))?;
        Ok(p.with_defaults())
    }
}
