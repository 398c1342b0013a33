//! The whole-store audit jobs: `audit-verify` walks every chain against
//! its record and the anchors; the nightly anchor writes the heads.

use crate::audit::ChainError;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::Arc;

use crate::audit::verify_chain;
use crate::context::Context;
use crate::error::Error;
use crate::ports::*;

/// The audit jobs.
#[derive(Clone)]
pub struct AuditJobs {
    pub(crate) cx: Context,
    pub(crate) applications: Arc<dyn ApplicationStore>,
    pub(crate) documents: Arc<dyn DocumentStore>,
    pub(crate) companies: Arc<dyn CompanyStore>,
    pub(crate) payout: Arc<dyn crate::payout::PayoutStore>,
    pub(crate) directory: crate::identity::directory::StaffDirectory,
    pub(crate) anchors: Arc<dyn crate::audit::anchor::AnchorStore>,
}

impl AuditJobs {
    /// Verifies every audit chain: each application's, each company's and
    /// each payment batch's, against the head its record holds. `progress`
    /// is called after each page with the number of records checked so far.
    pub async fn verify_audit(&self, mut progress: impl FnMut(u64)) -> Result<AuditReport, Error> {
        let mut report = AuditReport::default();
        let key = self.cx.audit_key.get().await?;
        let (mut anchored, failures) = crate::audit::anchor::AnchoredHeads::gather(key, &self.anchors.all().await?);
        report.anchors = anchored.anchors;
        report.anchored_until = anchored.cutoff;
        report.failures = failures;
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        loop {
            let batch = self.applications.scan_applications(&page).await?;
            for app in &batch.items {
                let trail = self.applications.audit_trail(&app.id).await?;
                report.entries += trail.len() as u64;
                report.applications += 1;
                if let Err(e) = verify_chain(key, &app.id, &trail, app.audit_seq, &app.audit_head)
                    .and_then(|()| anchored.check(&app.id, &trail))
                {
                    report.failures.push(e);
                }
                // Its documents' chains (none for a document from before
                // documents were audited).
                for doc in self.documents.documents_of(&app.id).await?.iter().filter(|d| d.audit_seq > 0) {
                    report.documents += 1;
                    self.verify_one(key, &mut report, &mut anchored, doc).await?;
                }
            }
            progress(report.applications);
            match batch.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
        }
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        loop {
            let found = self.companies.scan_companies(&page).await?;
            for c in &found.items {
                report.companies += 1;
                self.verify_one(key, &mut report, &mut anchored, c).await?;
            }
            progress(report.applications + report.companies);
            match found.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
        }
        let districts: Vec<String> = self.cx.tree.children(&self.cx.tree.root().code).map(|u| u.code.clone()).collect();
        for district in districts {
            let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
            loop {
                let found = self.payout.batches_of(&self.cx.policy_id, &district, &page).await?;
                for b in &found.items {
                    report.batches += 1;
                    self.verify_one(key, &mut report, &mut anchored, b).await?;
                }
                match found.next_cursor {
                    Some(c) => page.cursor = Some(c),
                    None => break,
                }
            }
        }
        let directory = self.directory.clone();
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        loop {
            let found = directory.scan(&page).await?;
            for m in &found.items {
                report.staff += 1;
                self.verify_one(key, &mut report, &mut anchored, m).await?;
            }
            match found.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
        }
        progress(report.applications + report.companies + report.batches + report.staff);
        report.failures.extend(anchored.vanished());
        Ok(report)
    }

    /// Checks one record's chain against the head the record holds and
    /// against the anchors.
    async fn verify_one(
        &self,
        key: &crate::audit::AuditKey,
        report: &mut AuditReport,
        anchored: &mut crate::audit::anchor::AnchoredHeads,
        record: &(impl crate::audit::Chained + Sync),
    ) -> Result<(), Error> {
        let subject = &record.audit_subject();
        let (seq, head) = record.audit_head();
        let trail = self.applications.audit_trail(subject).await?;
        report.other_entries += trail.len() as u64;
        if let Err(e) = verify_chain(key, subject, &trail, seq, head).and_then(|()| anchored.check(subject, &trail)) {
            report.failures.push(e);
        }
        Ok(())
    }

    /// The daily anchor: the head of every chain that grew since the last
    /// anchor, appended where the database's writer cannot change it (see
    /// [`crate::audit::anchor`]). Nothing is written if the last anchor is less
    /// than [`crate::audit::anchor::MARGIN`] old (a second run straight after).
    pub async fn anchor_audit(&self) -> Result<Anchored, Error> {
        let last = self.anchors.last().await?;
        let now = self.cx.now();
        if last.as_ref().is_some_and(|l| now < l.written_at + crate::audit::anchor::MARGIN) {
            return Ok(Anchored { anchor: None, heads: 0, cutoff: last.map(|l| l.cutoff), digest: None });
        }
        // A little before the last cutoff: two functions' clocks may differ
        // by a little, so a chain's stamps may step back by that much.
        let since = last.as_ref().map(|l| l.cutoff - crate::audit::anchor::CLOCK_SLACK);
        let heads = self.applications.audit_heads_since(since).await?;
        let anchor = crate::audit::anchor::Anchor::next(self.cx.audit_key.get().await?, last.as_ref(), now, heads);
        // Another run that came first makes this one fail (`AlreadyExists`):
        // nothing is replaced, and the next run goes on from its anchor.
        self.anchors.append(&anchor).await?;
        Ok(Anchored {
            anchor: Some(anchor.n),
            heads: anchor.heads.len(),
            cutoff: Some(anchor.cutoff),
            digest: Some(anchor.digest),
        })
    }
}

/// The outcome of verifying every audit chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditReport {
    pub applications: u64,
    /// Entries of the applications' chains.
    pub entries: u64,
    pub companies: u64,
    pub batches: u64,
    /// Staff directory members.
    pub staff: u64,
    /// Documents (each with its own chain).
    pub documents: u64,
    /// Entries of the documents', companies', batches' and staff members' chains.
    pub other_entries: u64,
    /// Anchors read (see [`crate::audit::anchor`]).
    pub anchors: u64,
    /// The last anchor's cutoff: every entry stamped at or before it is
    /// held by an anchor. None before the first anchor.
    pub anchored_until: Option<DateTime<Utc>>,
    pub failures: Vec<ChainError>,
}

/// What one run of the anchor job did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Anchored {
    /// The anchor's number; None if none was due (the last one is newer
    /// than the margin).
    pub anchor: Option<u64>,
    /// How many chain heads it holds.
    pub heads: usize,
    pub cutoff: Option<DateTime<Utc>>,
    pub digest: Option<String>,
}
