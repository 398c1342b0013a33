//! Automatic pre-checks (预审提示), run when an application arrives at a
//! review tier. They never decide anything: they flag what a reviewer
//! should look at, and the reviewer sees them beside the application.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::application::Application;
use crate::company::Project;
use crate::identity::Tier;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth a look; common and often fine.
    Info,
    /// Likely a problem; check before approving.
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Precheck {
    pub code: String,
    pub severity: Severity,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrecheckReport {
    pub application_id: String,
    pub tier: Tier,
    /// The application version the checks looked at.
    pub version: u64,
    pub round: u32,
    pub checked_at: DateTime<Utc>,
    pub checks: Vec<Precheck>,
}

/// Runs every check. `project` is the project as it is now (None if it was
/// deleted); `same_name` are projects with the same name in the same
/// community, and `holders` the live applications of those projects.
pub fn run(
    app: &Application,
    project: Option<&Project>,
    same_name: &[(Project, Option<Application>)],
) -> Vec<Precheck> {
    let mut out = Vec::new();
    let registered = project.map(|p| p.details.managed_area).unwrap_or(app.project.managed_area);
    if app.claimed_area > registered {
        out.push(Precheck {
            code: "area_above_registered".into(),
            severity: Severity::Warning,
            message: format!("申报面积 {} m² 超过项目登记在管面积 {} m²", app.claimed_area, registered),
        });
    }
    for (other, holder) in same_name {
        if other.id == app.project_id {
            continue;
        }
        if let Some(h) = holder.as_ref().filter(|h| h.id != app.id && h.is_live()) {
            out.push(Precheck {
                code: "project_claimed_elsewhere".into(),
                severity: Severity::Warning,
                message: format!(
                    "同一社区已有同名项目「{}」由 {} 申报（申请 {}），请核实是否重复申报",
                    other.details.name, h.company_name, h.id
                ),
            });
        }
    }
    if let Some(approved) = app.approved_area.filter(|a| *a < app.claimed_area) {
        out.push(Precheck {
            code: "area_reduced_by_earlier_tier".into(),
            severity: Severity::Info,
            message: format!("上一级核定面积 {} m²，低于申报面积 {} m²", approved, app.claimed_area),
        });
    }
    if app.round > 1 {
        let reason = app.last_decision.as_ref().and_then(|d| d.reason.as_ref()).map(|r| r.to_string());
        out.push(Precheck {
            code: "resubmission".into(),
            severity: Severity::Info,
            message: match reason {
                Some(r) => format!("第 {} 次提交；上次退回原因：{}", app.round, r),
                None => format!("第 {} 次提交", app.round),
            },
        });
    }
    if let Some(change) = &app.payee_change {
        out.push(Precheck {
            code: "payee_changed_since_submission".into(),
            severity: Severity::Warning,
            message: format!(
                "提交后收款账户已变更为 {} {}（{}），须由区级核验后方可支付",
                change.account.bank_name,
                change.account.account_name,
                change.account.account_number.masked()
            ),
        });
    }
    if let Some(account) = app.account_to_verify().filter(|a| !app.holder_is_company(a)) {
        out.push(Precheck {
            code: "payee_holder_differs".into(),
            severity: Severity::Warning,
            message: format!(
                "收款账户户名「{}」与企业名称「{}」不一致；区级核验时须确认",
                account.account_name, app.company_name
            ),
        });
    }
    if project.is_some_and(|p| p.details.manager_phone != app.project.manager_phone) {
        out.push(Precheck {
            code: "manager_changed".into(),
            severity: Severity::Info,
            message: "项目经理在提交后已变更".into(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::application::state::State;
    use crate::testkit::*;

    #[test]
    fn a_claim_above_the_registered_area_is_flagged() {
        let mut app = at_state(draft("2000.00"), State::PendingCommunity);
        app.project.managed_area = area("1500.00");
        let checks = run(&app, None, &[]);
        assert!(checks.iter().any(|c| c.code == "area_above_registered" && c.severity == Severity::Warning));
        app.claimed_area = area("1500.00");
        assert!(run(&app, None, &[]).is_empty());
    }

    #[test]
    fn a_changed_payee_and_a_holder_who_is_not_the_company_are_flagged_without_the_number() {
        let mut app = at_state(draft("10"), State::PendingDistrict);
        assert!(run(&app, None, &[]).is_empty(), "the company's own account");
        let mut account = app.payee.clone().unwrap();
        account.account_name = crate::fields::Text::parse("张三", 200).unwrap();
        account.account_number = crate::fields::AccountNumber::parse("6217000011112222").unwrap();
        app.payee_change =
            Some(crate::application::PayeeChange { account, requested_at: app.updated_at, by: "c".into() });
        let checks = run(&app, None, &[]);
        let codes: Vec<&str> = checks.iter().map(|c| c.code.as_str()).collect();
        assert_eq!(codes, ["payee_changed_since_submission", "payee_holder_differs"]);
        assert!(checks.iter().all(|c| c.severity == Severity::Warning));
        let text = format!("{checks:?}");
        assert!(text.contains("****2222") && !text.contains("6217000011112222"), "{text}");
    }

    #[test]
    fn the_same_project_registered_by_another_company_is_flagged() {
        let app = at_state(draft("10"), State::PendingCommunity);
        let mut twin = project();
        twin.id = "P-OTHER".into();
        let mut holder = at_state(draft("10"), State::PendingSubdistrict);
        holder.id = "A-OTHER".into();
        holder.company_name = "另一家物业".into();
        let checks = run(&app, None, &[(twin.clone(), Some(holder.clone()))]);
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].code, "project_claimed_elsewhere");
        holder.state = State::Rejected;
        assert!(run(&app, None, &[(twin, Some(holder))]).is_empty(), "a rejected claim is not a conflict");
    }
}
