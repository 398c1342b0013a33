//! The notification use cases: record the notices changes produce (the
//! stream's consumer), list a reader's own, mark one read.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::application::State;
use crate::application::dispatch::ChangeRecord;
use crate::context::Context;
use crate::error::Error;
use crate::identity::Actor;
use crate::identity::Tier;
use crate::notify::{Addressed, Notice, NoticeKind, NoticeStore, Recipient, is_notice_id, notice_id};
use crate::ports::PageRequest;

#[derive(Clone)]
pub struct Notices {
    pub cx: Context,
    pub store: Arc<dyn NoticeStore>,
    /// The units' inboxes, read by the daily digest.
    pub applications: Arc<dyn crate::ports::ApplicationStore>,
    /// Who holds a role at a unit: the readers of a unit's notices.
    pub staff: Arc<dyn crate::identity::staff::StaffStore>,
}

/// One notice as its reader sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NoticeView {
    pub id: String,
    pub kind: NoticeKind,
    pub application_id: Option<String>,
    pub params: BTreeMap<String, String>,
    pub at: DateTime<Utc>,
    pub read: bool,
    pub read_at: Option<DateTime<Utc>>,
}

impl From<Notice> for NoticeView {
    fn from(n: Notice) -> NoticeView {
        NoticeView {
            id: n.id,
            kind: n.kind,
            application_id: n.application_id,
            params: n.params,
            at: n.at,
            read: n.read_at.is_some(),
            read_at: n.read_at,
        }
    }
}

/// What the daily digest did: units with reviewers looked at, notices new.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DigestReport {
    pub units: u64,
    pub sent: usize,
    /// Escalation notices new (see `escalate`).
    pub escalations: usize,
}

/// `GET /notifications`: a page of the reader's notices, newest first,
/// and how many of all of them are unread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NoticeList {
    pub items: Vec<NoticeView>,
    pub next_cursor: Option<String>,
    pub unread: u64,
}

impl Notices {
    /// Stores the notices these changes produce; a change seen before
    /// stores nothing new. Returns how many notices were new.
    pub async fn record(&self, changes: &[ChangeRecord]) -> Result<usize, Error> {
        Ok(crate::notify::record(self.store.as_ref(), self.staff.as_ref(), changes).await?)
    }

    /// The reviewers' daily digest (run by the nightly job): for each unit
    /// and tier with reviewers, how many applications arrived in the last
    /// 24 hours and how many wait past their time limit; one notice a day
    /// to each active reviewer there, none when both are zero. Its id is
    /// the (China) day's, so a second run that day adds nothing.
    pub async fn daily_digest(&self) -> Result<DigestReport, Error> {
        use crate::identity::authz::Scope;
        let now = self.cx.now();
        let policy = self.cx.policy().await?;
        let day = now.with_timezone(&crate::policy::shanghai()).date_naive();
        let day_start = day
            .and_time(chrono::NaiveTime::MIN)
            .and_local_timezone(crate::policy::shanghai())
            .single()
            .expect("a fixed offset has one local time")
            .to_utc();
        // Every active reviewer, by the (tier, unit) they review.
        let mut reviewers: BTreeMap<(Tier, String), Vec<String>> = BTreeMap::new();
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        loop {
            let got = self.staff.list_staff(&Default::default(), &page).await?;
            for m in got.items.into_iter().filter(|m| m.active) {
                for a in &m.assignments {
                    if let Some(tier) = a.role.tier() {
                        reviewers.entry((tier, a.unit.clone())).or_default().push(m.sub.clone());
                    }
                }
            }
            match got.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
        }
        let escalations = self.escalate(&reviewers, &policy, now, day, day_start).await?;
        let mut report = DigestReport { escalations, ..Default::default() };
        for ((tier, unit), subs) in reviewers {
            let scope = Scope::Unit { level: tier.level(), code: unit.clone() };
            let (mut arrivals, mut overdue) = (0u64, 0u64);
            let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
            loop {
                let got = self.applications.inbox(&scope, State::pending_at(tier), &page).await?;
                for a in &got.items {
                    arrivals += u64::from(a.state_since > now - chrono::Duration::hours(24));
                    overdue += u64::from(a.due_at(&policy).is_some_and(|d| now > d));
                }
                match got.next_cursor {
                    Some(c) => page.cursor = Some(c),
                    None => break,
                }
            }
            report.units += 1;
            if arrivals == 0 && overdue == 0 {
                continue;
            }
            let notice = Notice {
                id: notice_id(day_start, &format!("digest.{}.{unit}.{day}", tier.as_str())),
                kind: NoticeKind::ReviewDigest,
                application_id: None,
                version: None,
                params: BTreeMap::from([
                    ("arrivals".to_string(), arrivals.to_string()),
                    ("overdue".to_string(), overdue.to_string()),
                    ("date".to_string(), day.to_string()),
                    ("tier".to_string(), tier.as_str().to_string()),
                ]),
                at: now,
                read_at: None,
            };
            let addressed: Vec<_> =
                subs.into_iter().map(|s| Addressed { to: Recipient::Staff(s), notice: notice.clone() }).collect();
            report.sent += self.store.put_notices(&addressed).await?;
        }
        tracing::info!(units = report.units, sent = report.sent, escalations = report.escalations, "review digests");
        Ok(report)
    }

    /// Escalation: each reviewer of a subdistrict or district is told, once
    /// a day, how many applications wait at the tier below inside their
    /// unit overdue by more than the policy's `escalateAfter` working days
    /// (the "overdue below" view lists them). Returns the notices new.
    async fn escalate(
        &self,
        reviewers: &BTreeMap<(Tier, String), Vec<String>>,
        policy: &crate::policy::Policy,
        now: DateTime<Utc>,
        day: chrono::NaiveDate,
        day_start: DateTime<Utc>,
    ) -> Result<usize, Error> {
        use crate::identity::authz::Scope;
        use crate::ports::ApplicationFilter;
        let mut sent = 0;
        for ((tier, unit), subs) in reviewers {
            let below = match tier {
                Tier::Community => continue,
                Tier::Subdistrict => Tier::Community,
                Tier::District => Tier::Subdistrict,
            };
            let scope = Scope::Unit { level: tier.level(), code: unit.clone() };
            let filter = ApplicationFilter { state: Some(State::pending_at(below)), project_id: None };
            let mut count = 0u64;
            let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
            loop {
                let got = self.applications.list_applications(&scope, &filter, &page).await?;
                count +=
                    got.items.iter().filter(|a| crate::application::review::escalated(a, policy, now)).count() as u64;
                match got.next_cursor {
                    Some(c) => page.cursor = Some(c),
                    None => break,
                }
            }
            if count == 0 {
                continue;
            }
            let notice = Notice {
                id: notice_id(day_start, &format!("escalation.{}.{unit}.{day}", tier.as_str())),
                kind: NoticeKind::OverdueBelow,
                application_id: None,
                version: None,
                params: BTreeMap::from([
                    ("count".to_string(), count.to_string()),
                    ("days".to_string(), policy.time_limits.escalate_after.to_string()),
                    ("date".to_string(), day.to_string()),
                    ("tier".to_string(), below.as_str().to_string()),
                ]),
                at: now,
                read_at: None,
            };
            let addressed: Vec<_> =
                subs.iter().map(|s| Addressed { to: Recipient::Staff(s.clone()), notice: notice.clone() }).collect();
            sent += self.store.put_notices(&addressed).await?;
        }
        Ok(sent)
    }

    /// The caller's own notices, whoever they are.
    pub async fn list(&self, actor: &Actor, page: &PageRequest) -> Result<NoticeList, Error> {
        let key = Recipient::of(actor)?.key();
        let (page, unread) = futures::join!(self.store.notices(&key, page), self.store.unread_notices(&key));
        let page = page?;
        Ok(NoticeList {
            items: page.items.into_iter().map(NoticeView::from).collect(),
            next_cursor: page.next_cursor,
            unread: unread?,
        })
    }

    /// Marks one of the caller's notices read. Someone else's notice, or
    /// no notice at all, is 404 alike.
    pub async fn mark_read(&self, actor: &Actor, id: &str) -> Result<NoticeView, Error> {
        let key = Recipient::of(actor)?.key();
        if !is_notice_id(id) {
            return Err(Error::NotFound("notification"));
        }
        match self.store.mark_notice_read(&key, id, self.cx.now()).await? {
            Some(n) => Ok(n.into()),
            None => Err(Error::NotFound("notification")),
        }
    }
}
