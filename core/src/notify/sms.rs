//! SMS: which notices also go as a text message, their wording, quiet
//! hours, and the sender ([`SmsSender`]) behind a [`Notifier`] port.
//!
//! Which events send an SMS is policy data ([`SmsSettings::events`]); the
//! wording is data too: templates per event and language, from the policy
//! or else the bundled `config/sms-templates.json`. A template may use only
//! the variables its event provides ([`NoticeKind::variables`]): one that
//! uses another is refused when the policy is loaded, never at send time.
//! Values are filled in once, as plain text: control characters become
//! spaces and long values are cut, and a value is never read again as a
//! template, so `{reason}` cannot smuggle in `{amount}`.
//!
//! Delivery: the notices consumer hands each SMS-bound notice to an
//! [`SmsQueue`] (SQS on AWS, a table on SQLite), at least once. The sender
//! claims the notice in an [`SmsLedger`] before it sends and marks it sent
//! after, so a job delivered twice sends once. In quiet hours (default
//! 22:00–08:00 China time) the job waits until they end; a failed send is
//! retried with backoff and then dead-lettered, and the in-app notice is
//! there all along. Phone numbers are those on file (the company's
//! contact, the project's manager); they are never logged.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveTime, TimeZone, Timelike, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;
use crate::fields::Phone;
use crate::notify::{Addressed, Notice, NoticeKind, Recipient};
use crate::policy::shanghai;
use crate::ports::{Clock, CompanyStore, StoreResult};

/// The bundled templates, used when a policy names none.
pub const BUNDLED_TEMPLATES: &str = include_str!("../../../config/sms-templates.json");

/// The languages messages are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
pub enum Lang {
    #[default]
    #[serde(rename = "zh-CN")]
    ZhCn,
    #[serde(rename = "en")]
    En,
}

impl Lang {
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::ZhCn => "zh-CN",
            Lang::En => "en",
        }
    }
}

/// Templates per event and language: `{"paid": {"zh-CN": "…"}}`. Keyed by
/// name, checked at load: maps over the enums would cost every function's
/// binary their own copy of the map code.
pub type Templates = BTreeMap<String, BTreeMap<String, String>>;

static BUNDLED: LazyLock<Templates> =
    LazyLock::new(|| serde_json::from_str(BUNDLED_TEMPLATES).expect("config/sms-templates.json parses"));

/// Hours in which no SMS is sent (China time); one due then waits until
/// they end. `from` equal to `until`: none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuietHours {
    #[serde(serialize_with = "hhmm", deserialize_with = "parse_hhmm")]
    pub from: NaiveTime,
    #[serde(serialize_with = "hhmm", deserialize_with = "parse_hhmm")]
    pub until: NaiveTime,
}

impl Default for QuietHours {
    fn default() -> QuietHours {
        QuietHours {
            from: NaiveTime::from_hms_opt(22, 0, 0).unwrap(),
            until: NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
        }
    }
}

// "HH:MM" by hand: chrono's format strings would bring their whole
// parser and formatter into every function's binary.
fn hhmm<S: Serializer>(t: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{:02}:{:02}", t.hour(), t.minute()))
}

fn parse_hhmm<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
    let s = String::deserialize(d)?;
    let two =
        |p: &str| (p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit())).then(|| p.parse::<u32>().ok()).flatten();
    s.split_once(':')
        .and_then(|(h, m)| NaiveTime::from_hms_opt(two(h)?, two(m)?, 0))
        .ok_or_else(|| serde::de::Error::custom(format!("{s:?} is not HH:MM")))
}

impl QuietHours {
    /// When a message due at `now` may go: `now`, or the end of the quiet
    /// hours it falls in.
    pub fn send_at(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let local = now.with_timezone(&shanghai());
        let t = local.time();
        let quiet = match self.from.cmp(&self.until) {
            std::cmp::Ordering::Equal => false,
            // Over midnight (22:00–08:00).
            std::cmp::Ordering::Greater => t >= self.from || t < self.until,
            std::cmp::Ordering::Less => t >= self.from && t < self.until,
        };
        if !quiet {
            return now;
        }
        let day = if t >= self.until { local.date_naive().succ_opt().expect("in range") } else { local.date_naive() };
        shanghai().from_local_datetime(&day.and_time(self.until)).single().expect("fixed offset").to_utc()
    }
}

/// The policy's SMS settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SmsSettings {
    /// The events that also go by SMS; none unless the policy says.
    #[serde(default)]
    pub events: Vec<NoticeKind>,
    /// The language of the messages.
    #[serde(default)]
    pub language: Lang,
    #[serde(default)]
    pub quiet_hours: QuietHours,
    /// Templates per event and language; absent, the bundled ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub templates: Option<Templates>,
}

impl SmsSettings {
    pub fn templates(&self) -> &Templates {
        self.templates.as_ref().unwrap_or(&BUNDLED)
    }

    /// What a policy may not say: every template names only variables its
    /// event provides, and every event that sends has a template in the
    /// language. The bundled templates meet both for every event in both
    /// languages (a unit test holds them to it), so only a policy's own are
    /// checked here, and a binary that sends no SMS never parses them.
    pub fn check(&self) -> Result<(), String> {
        let Some(templates) = &self.templates else { return Ok(()) };
        check_templates(templates)?;
        for kind in &self.events {
            if template(templates, *kind, self.language).is_none() {
                return Err(format!("sms event {kind} has no template in {}", self.language.as_str()));
            }
        }
        Ok(())
    }

    /// The message for a notice, if its event sends an SMS.
    pub fn render(&self, notice: &Notice) -> Option<String> {
        if !self.events.contains(&notice.kind) {
            return None;
        }
        let template = template(self.templates(), notice.kind, self.language)?;
        Some(fill(template, |var| value(self.language, var, notice.params.get(var).map(String::as_str))))
    }

    /// The jobs for the notices that go by SMS: not staff (no number on file).
    pub fn jobs(&self, notices: &[Addressed]) -> Vec<SmsJob> {
        notices
            .iter()
            .filter(|a| self.events.contains(&a.notice.kind) && !matches!(a.to, Recipient::Staff(_)))
            .map(|a| SmsJob { to: a.to.key(), notice: a.notice.clone(), failures: 0 })
            .collect()
    }
}

fn template(templates: &Templates, kind: NoticeKind, lang: Lang) -> Option<&String> {
    templates.get(kind.as_str())?.get(lang.as_str())
}

/// Every template is of a known event and language, and names only
/// variables its event provides.
fn check_templates(templates: &Templates) -> Result<(), String> {
    for (event, by_lang) in templates {
        let kind = NoticeKind::ALL
            .into_iter()
            .find(|k| k.as_str() == event)
            .ok_or_else(|| format!("sms templates name {event:?}, which is not an event"))?;
        for (lang, text) in by_lang {
            if ![Lang::ZhCn, Lang::En].iter().any(|l| l.as_str() == lang) {
                return Err(format!("sms template {kind} is in {lang:?}; the languages are zh-CN and en"));
            }
            let vars = placeholders(text).map_err(|e| format!("sms template {kind} ({lang}): {e}"))?;
            if let Some(v) = vars.iter().find(|v| !kind.variables().contains(&v.as_str())) {
                return Err(format!(
                    "sms template {kind} ({lang}) uses {{{v}}}, a variable {kind} does not provide (it provides {})",
                    kind.variables().iter().map(|v| format!("{{{v}}}")).collect::<Vec<_>>().join(", ")
                ));
            }
        }
    }
    Ok(())
}

/// The variables a template uses, in order; an unbalanced or empty brace,
/// or a name that is not `[a-z_]+`, is an error.
fn placeholders(template: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        if rest[i..].starts_with('}') {
            return Err("a '}' without its '{'".into());
        }
        let after = &rest[i + 1..];
        let end = after.find('}').ok_or("a '{' without its '}'")?;
        let name = &after[..end];
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return Err(format!("{{{name}}} is not a variable name"));
        }
        out.push(name.to_string());
        rest = &after[end + 1..];
    }
    Ok(out)
}

/// The template with each `{var}` replaced, once, by `value(var)`. Only
/// called on templates [`placeholders`] accepted.
fn fill(template: &str, value: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let end = after.find('}').unwrap_or(after.len());
        out.push_str(&value(&after[..end]));
        rest = after.get(end + 1..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

/// Characters of one value at most.
const MAX_VALUE_CHARS: usize = 60;

/// A value as a message shows it: role codes by name, control characters
/// as spaces, cut to [`MAX_VALUE_CHARS`].
fn value(lang: Lang, var: &str, raw: Option<&str>) -> String {
    let raw = raw.unwrap_or("").trim();
    let named = match var {
        "by" | "tier" => role_name(lang, raw).unwrap_or(raw),
        _ => raw,
    };
    let clean: String = named.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let mut cut: String = clean.chars().take(MAX_VALUE_CHARS).collect();
    if clean.chars().count() > MAX_VALUE_CHARS {
        cut.push('…');
    }
    cut
}

fn role_name(lang: Lang, code: &str) -> Option<&'static str> {
    Some(match (lang, code) {
        (Lang::ZhCn, "community") => "社区",
        (Lang::ZhCn, "subdistrict") => "街道",
        (Lang::ZhCn, "district") => "区",
        (Lang::ZhCn, "finance") => "区财政",
        (Lang::ZhCn, "project_manager") => "项目经理",
        (Lang::En, "community") => "The community",
        (Lang::En, "subdistrict") => "The subdistrict",
        (Lang::En, "district") => "The district",
        (Lang::En, "finance") => "District finance",
        (Lang::En, "project_manager") => "The project manager",
        _ => return None,
    })
}

/// One notice to send as an SMS: its reader's key and the notice. The
/// number is looked up when it is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SmsJob {
    pub to: String,
    pub notice: Notice,
    /// Attempts that failed so far (a queue that cannot count them for the
    /// job sends it again with this one more).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failures: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One message for the gateway. `Debug` masks the number.
#[derive(Clone, PartialEq, Eq)]
pub struct SmsMessage {
    pub to: Phone,
    pub text: String,
    /// The notice's id: the same message sent twice carries the same id,
    /// for a gateway that de-duplicates.
    pub id: String,
}

impl std::fmt::Debug for SmsMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsMessage").field("to", &self.to.masked()).field("chars", &self.text.chars().count()).finish()
    }
}

/// Sends a text message: an SMS gateway (AWS: SNS; standalone: a signed
/// HTTP POST), or only a log line.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Sends, or fails with why (the sender retries).
    async fn send(&self, message: &SmsMessage) -> Result<(), String>;
}

/// The default notifier: logs that a message would go (masked number and
/// length), and sends nothing.
pub struct LogNotifier;

#[async_trait]
impl Notifier for LogNotifier {
    async fn send(&self, message: &SmsMessage) -> Result<(), String> {
        tracing::info!(event = "sms_logged", to = %message.to.masked(), chars = message.text.chars().count(), id = %message.id, "SMS (log only, not sent)");
        Ok(())
    }
}

/// Where SMS jobs wait to be sent (at least once).
#[async_trait]
pub trait SmsQueue: Send + Sync {
    async fn enqueue(&self, jobs: &[SmsJob]) -> StoreResult<()>;
}

/// A queue that brings a job back later (AWS: SQS, whose longest delay is
/// 15 minutes and longest visibility 12 hours).
#[async_trait]
pub trait SmsRedelivery: Send + Sync {
    /// Sends `job` again, to arrive at `at` (at most [`SMS_LONGEST_DELAY`]
    /// from now).
    async fn resend(&self, job: &SmsJob, at: DateTime<Utc>) -> StoreResult<()>;
    /// Keeps the message in hand (`receipt`, carrying `job`) out of sight
    /// until `at` (at most [`SMS_LONGEST_HOLD`] from now); it is not deleted.
    async fn hold(&self, job: &SmsJob, receipt: &str, at: DateTime<Utc>) -> StoreResult<()>;
}

/// SQS's longest message delay.
pub const SMS_LONGEST_DELAY: Duration = Duration::minutes(15);
/// SQS's longest visibility timeout.
pub const SMS_LONGEST_HOLD: Duration = Duration::hours(12);

/// Which notices' messages were sent: the sender's claim and mark.
#[async_trait]
pub trait SmsLedger: Send + Sync {
    /// Claims the notice's message for sending until `lease_until`: false
    /// if it was sent, or another sender holds a lease that has not run out.
    async fn claim_sms(&self, to: &str, id: &str, now: DateTime<Utc>, lease_until: DateTime<Utc>) -> StoreResult<bool>;
    /// Gives a claim back after a failed send, for the retry.
    async fn release_sms(&self, to: &str, id: &str) -> StoreResult<()>;
    /// Marks the message sent; it is never sent again.
    async fn sms_sent(&self, to: &str, id: &str, at: DateTime<Utc>) -> StoreResult<()>;
}

/// What became of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// Sent before (a duplicate job), or being sent by another.
    AlreadySent,
    /// Quiet hours: try again at this time.
    Later(DateTime<Utc>),
    /// Nothing to send: the event no longer sends, or no number on file.
    Nothing,
}

/// How long a claim holds while its message is sent.
pub const SMS_LEASE_SECS: i64 = 120;
/// Attempts before a message is dead-lettered.
pub const SMS_MAX_ATTEMPTS: u32 = 6;

/// The wait before attempt `attempt + 1` (after `attempt` failures):
/// 30 s, 1, 2, 4, 8 min.
pub fn backoff(attempt: u32) -> Duration {
    Duration::seconds(30 << attempt.min(10).saturating_sub(1))
}

/// The sender: renders, waits out quiet hours, finds the number on file,
/// sends once.
#[derive(Clone)]
pub struct SmsSender {
    /// The policy's SMS settings (a deployment has one policy).
    pub settings: Arc<SmsSettings>,
    pub clock: Arc<dyn Clock>,
    pub companies: Arc<dyn CompanyStore>,
    pub ledger: Arc<dyn SmsLedger>,
    pub notifier: Arc<dyn Notifier>,
}

impl SmsSender {
    pub async fn deliver(&self, job: &SmsJob) -> Result<Delivery, Error> {
        let Some(text) = self.settings.render(&job.notice) else { return Ok(Delivery::Nothing) };
        let now = self.clock.now();
        let at = self.settings.quiet_hours.send_at(now);
        if at > now {
            return Ok(Delivery::Later(at));
        }
        let to = match Recipient::from_key(&job.to) {
            Some(Recipient::Manager(p)) => p,
            Some(Recipient::Company(owner)) => match self.companies.company_of_owner(&owner).await? {
                Some(c) => c.profile.contact_phone,
                None => return Ok(Delivery::Nothing),
            },
            Some(Recipient::Staff(_)) | None => return Ok(Delivery::Nothing),
        };
        if !self.ledger.claim_sms(&job.to, &job.notice.id, now, now + Duration::seconds(SMS_LEASE_SECS)).await? {
            return Ok(Delivery::AlreadySent);
        }
        let message = SmsMessage { to, text, id: job.notice.id.clone() };
        if let Err(e) = self.notifier.send(&message).await {
            self.ledger.release_sms(&job.to, &job.notice.id).await?;
            return Err(Error::internal(format!("the SMS gateway refused or failed: {e}")));
        }
        self.ledger.sms_sent(&job.to, &job.notice.id, self.clock.now()).await?;
        tracing::info!(event = "sms_sent", kind = %job.notice.kind, id = %job.notice.id, "SMS sent");
        Ok(Delivery::Sent)
    }

    /// One attempt at a job, and what its queue is to do next: the retry
    /// schedule and the dead letter are decided here, for every queue.
    pub async fn attempt(&self, job: &SmsJob) -> Next {
        match self.deliver(job).await {
            Ok(Delivery::Later(at)) => Next::Hold(at),
            Ok(done) => Next::Done(done),
            Err(e) => {
                let failures = job.failures + 1;
                let error = e.to_string();
                if failures >= SMS_MAX_ATTEMPTS {
                    tracing::error!(event = "sms_dead_lettered", id = %job.notice.id, kind = %job.notice.kind, attempts = failures, error = %error, "SMS given up");
                    Next::Dead(error)
                } else {
                    tracing::warn!(id = %job.notice.id, attempts = failures, error = %error, "SMS failed; will retry");
                    let at = self.clock.now() + backoff(failures);
                    Next::Retry { at, job: SmsJob { failures, ..job.clone() }, error }
                }
            }
        }
    }
}

/// What a job's queue does after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Sent, sent before or by another, or nothing to send.
    Done(Delivery),
    /// Quiet hours: the job waits until then (not a failure).
    Hold(DateTime<Utc>),
    /// Failed: `job` (counting this failure) goes again at `at`.
    Retry { at: DateTime<Utc>, job: SmsJob, error: String },
    /// Failed the last time: dead-letter the job, with why. Its in-app
    /// notice stands.
    Dead(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(kind: NoticeKind, params: &[(&str, &str)]) -> Notice {
        Notice {
            id: "1583000000000-A.3.x".into(),
            kind,
            application_id: Some("A".into()),
            version: Some(3),
            params: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            at: Utc::now(),
            read_at: None,
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn sending(kinds: &[NoticeKind]) -> SmsSettings {
        SmsSettings { events: kinds.to_vec(), ..Default::default() }
    }

    #[test]
    fn the_bundled_templates_use_only_what_each_event_provides_and_cover_every_event() {
        check_templates(&BUNDLED).unwrap();
        for kind in NoticeKind::ALL {
            for lang in [Lang::ZhCn, Lang::En] {
                assert!(template(&BUNDLED, kind, lang).is_some(), "{kind} {}", lang.as_str());
            }
        }
        // So a policy that names none may send every event, in either language.
        let all = sending(&NoticeKind::ALL);
        all.check().unwrap();
        SmsSettings { language: Lang::En, ..all }.check().unwrap();
    }

    #[test]
    fn a_template_with_a_variable_its_event_lacks_is_refused() {
        let mut t = BUNDLED.clone();
        t.get_mut("paid").unwrap().insert("zh-CN".into(), "「{project}」已拨付，原因{reason}".into());
        let s = SmsSettings { templates: Some(t), ..sending(&[NoticeKind::Paid]) };
        let e = s.check().unwrap_err();
        assert!(e.contains("zh-CN"), "{e}");
        assert!(e.contains("{reason}") && e.contains("paid") && e.contains("{amount}"), "{e}");
        for bad in ["{project", "project}", "{}", "{Project}", "{a-b}", "{{project}}"] {
            let mut t = BUNDLED.clone();
            t.get_mut("paid").unwrap().insert("en".into(), bad.into());
            let s = SmsSettings { templates: Some(t), ..Default::default() };
            assert!(s.check().is_err(), "{bad}");
        }
    }

    #[test]
    fn templates_of_unknown_events_or_languages_are_refused() {
        let mut t = BUNDLED.clone();
        t.insert("teleported".into(), BTreeMap::from([("zh-CN".to_string(), "{project}".to_string())]));
        let e = SmsSettings { templates: Some(t), ..Default::default() }.check().unwrap_err();
        assert!(e.contains("teleported"), "{e}");
        let mut t = BUNDLED.clone();
        t.get_mut("paid").unwrap().insert("fr".into(), "{project}".into());
        let e = SmsSettings { templates: Some(t), ..Default::default() }.check().unwrap_err();
        assert!(e.contains("\"fr\""), "{e}");
    }

    #[test]
    fn an_event_that_sends_needs_a_template_in_the_language() {
        let mut t = BUNDLED.clone();
        t.get_mut("approved").unwrap().remove("en");
        let s = SmsSettings { templates: Some(t.clone()), language: Lang::En, ..sending(&[NoticeKind::Approved]) };
        assert!(s.check().unwrap_err().contains("approved has no template"));
        // Not sending it: no template needed.
        assert!(SmsSettings { templates: Some(t), language: Lang::En, ..Default::default() }.check().is_ok());
    }

    #[test]
    fn values_fill_in_once_as_plain_text() {
        let s = sending(&[NoticeKind::Returned]);
        let n = notice(
            NoticeKind::Returned,
            &[("project", "南园花园"), ("reason", "缺页{amount}\n请补\u{0007}"), ("by", "subdistrict")],
        );
        let text = s.render(&n).unwrap();
        assert_eq!(text, "「南园花园」的补助申请被街道退回补正：缺页{amount} 请补 。请登录修改后重新提交。");
        let long = notice(NoticeKind::Returned, &[("project", &"长".repeat(100)), ("reason", "x"), ("by", "x")]);
        assert!(s.render(&long).unwrap().contains(&format!("{}…", "长".repeat(60))));
        // An event that does not send renders nothing.
        assert_eq!(s.render(&notice(NoticeKind::Paid, &[])), None);
    }

    #[test]
    fn quiet_hours_hold_a_message_until_they_end() {
        let q = QuietHours::default();
        assert_eq!(q.send_at(at("2020-03-02T21:59:59+08:00")), at("2020-03-02T21:59:59+08:00"));
        assert_eq!(q.send_at(at("2020-03-02T22:00:00+08:00")), at("2020-03-03T08:00:00+08:00"));
        assert_eq!(q.send_at(at("2020-03-03T03:00:00+08:00")), at("2020-03-03T08:00:00+08:00"));
        assert_eq!(q.send_at(at("2020-03-03T08:00:00+08:00")), at("2020-03-03T08:00:00+08:00"));
        let day = QuietHours {
            from: NaiveTime::from_hms_opt(12, 0, 0).unwrap(),
            until: NaiveTime::from_hms_opt(14, 0, 0).unwrap(),
        };
        assert_eq!(day.send_at(at("2020-03-02T13:00:00+08:00")), at("2020-03-02T14:00:00+08:00"));
        assert_eq!(day.send_at(at("2020-03-02T23:00:00+08:00")), at("2020-03-02T23:00:00+08:00"));
        let none = QuietHours { from: q.until, until: q.until };
        assert_eq!(none.send_at(at("2020-03-02T23:00:00+08:00")), at("2020-03-02T23:00:00+08:00"));
        assert!(serde_json::from_str::<QuietHours>(r#"{"from":"25:00","until":"08:00"}"#).is_err());
        assert!(serde_json::from_str::<QuietHours>(r#"{"from":"22:00"}"#).is_err());
        for bad in ["7:00", "07:0", "0700", "07:00:00", "aa:bb", "24:00", "07:60", ""] {
            let json = format!(r#"{{"from":"{bad}","until":"08:00"}}"#);
            assert!(serde_json::from_str::<QuietHours>(&json).is_err(), "{bad}");
        }
        let round = serde_json::to_string(&q).unwrap();
        assert_eq!(round, r#"{"from":"22:00","until":"08:00"}"#);
        assert_eq!(serde_json::from_str::<QuietHours>(&round).unwrap(), q);
    }

    #[test]
    fn only_sending_events_for_readers_with_a_number_on_file_become_jobs() {
        let s = sending(&[NoticeKind::Paid, NoticeKind::Urged]);
        let a = |to: Recipient, kind| Addressed { to, notice: notice(kind, &[]) };
        let jobs = s.jobs(&[
            a(Recipient::Company("u".into()), NoticeKind::Paid),
            a(Recipient::Company("u".into()), NoticeKind::Approved),
            a(Recipient::Staff("s".into()), NoticeKind::Urged),
            a(Recipient::Manager(Phone::parse("13800138000").unwrap()), NoticeKind::Urged),
        ]);
        let to: Vec<&str> = jobs.iter().map(|j| j.to.as_str()).collect();
        assert_eq!(to, vec!["c:u", "m:13800138000"]);
    }

    #[test]
    fn a_message_prints_without_its_number_and_backoff_doubles() {
        let m = SmsMessage { to: Phone::parse("13800138000").unwrap(), text: "你好".into(), id: "x".into() };
        assert!(!format!("{m:?}").contains("13800138000"));
        let waits: Vec<i64> = (1..=5).map(|a| backoff(a).num_seconds()).collect();
        assert_eq!(waits, vec![30, 60, 120, 240, 480]);
    }
}
