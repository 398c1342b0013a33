//! The notification use cases: record the notices changes produce (the
//! stream's consumer), list a reader's own, mark one read.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::application::dispatch::ChangeRecord;
use crate::context::Context;
use crate::error::Error;
use crate::identity::Actor;
use crate::notify::{Notice, NoticeKind, NoticeStore, Recipient, is_notice_id};
use crate::ports::PageRequest;

#[derive(Clone)]
pub struct Notices {
    pub cx: Context,
    pub store: Arc<dyn NoticeStore>,
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
