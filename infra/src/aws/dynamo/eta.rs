//! How long each step took (`core::eta`) on DynamoDB.
//!
//! | item             | pk                         | sk              | attributes            |
//! |------------------|----------------------------|-----------------|-----------------------|
//! | sample (marker)  | `ETA#{unit}#{step}`        | `{day}#{cause}` | d (working days), ttl |
//! | a unit's counts  | `ETA#{unit}#{step}#D`      | `{day}`         | h{d} (count), ttl     |
//! | the city's counts| `ETA#CITY#{step}#D`        | `{day}`         | h{d} (count), ttl     |
//!
//! A sample is put only if absent (1 WCU); only a new one adds to its
//! unit's and the city's count of its day and length (an `ADD` each, 1 WCU),
//! so a redelivered change adds nothing. Were the function to stop between
//! the put and the adds, that one sample would be missing from the counts:
//! never counted twice. A read, the unit's or the city's, is a Query of at
//! most 14 small items, however many applications the unit (a district,
//! for 审核 and finance) finished. Everything expires 30 days on (TTL),
//! past the window.

use async_trait::async_trait;
use chrono::NaiveDate;
use subsidy_core::eta::{EtaStore, Histogram, Sample, Step};
use subsidy_core::ports::StoreResult;

use super::*;

/// Seconds a sample and a city count are kept (`ttl`).
const ETA_TTL_SECS: i64 = 30 * 24 * 3600;

fn sample_pk(unit: &str, step: Step) -> String {
    format!("ETA#{unit}#{}", step.as_str())
}

/// The day counts of a unit's step (or the city's: unit `CITY`).
fn counts_pk(unit: &str, step: Step) -> String {
    format!("ETA#{unit}#{}#D", step.as_str())
}

/// The city's pseudo-unit (no unit code is letters).
const CITY: &str = "CITY";

fn expires(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp() + ETA_TTL_SECS
}

impl DynamoStore {
    async fn put_sample(&self, sample: &Sample) -> StoreResult<()> {
        let mut item = key(sample_pk(&sample.unit, sample.step), format!("{}#{}", sample.day, sample.cause));
        item.insert("d".into(), n(sample.working_days));
        item.insert("ttl".into(), n(expires(sample.day)));
        if !self.conditional_put(item, "attribute_not_exists(pk)", Default::default()).await? {
            return Ok(());
        }
        let adds = [sample.unit.as_str(), CITY].map(|unit| self.count_sample(unit, sample));
        for add in futures::future::join_all(adds).await {
            add?;
        }
        Ok(())
    }

    /// Adds one to the count of the sample's day and length at `unit`.
    async fn count_sample(&self, unit: &str, sample: &Sample) -> StoreResult<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(counts_pk(unit, sample.step), sample.day.to_string())))
            .update_expression("ADD #h :one SET #ttl = :ttl")
            .expression_attribute_names("#h", format!("h{}", sample.working_days))
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":ttl", n(expires(sample.day)))
            .send()
            .await
            .map_err(sdk)?;
        Ok(())
    }

    /// Every item of `pk` whose sort key is `since` or later.
    async fn eta_items(&self, pk: String, since: NaiveDate) -> StoreResult<Vec<Item>> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk >= :since")
                .expression_attribute_values(":pk", s(pk.clone()))
                .expression_attribute_values(":since", s(since.to_string()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk)?;
            out.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
    }
}

fn number(v: Option<&AttributeValue>) -> Option<u64> {
    match v {
        Some(AttributeValue::N(n)) => n.parse().ok(),
        _ => None,
    }
}

#[async_trait]
impl EtaStore for DynamoStore {
    async fn put_eta_samples(&self, samples: &[Sample]) -> StoreResult<()> {
        for put in futures::future::join_all(samples.iter().map(|s| self.put_sample(s))).await {
            put?;
        }
        Ok(())
    }

    async fn eta_histogram(&self, unit: Option<&str>, step: Step, since: NaiveDate) -> StoreResult<Histogram> {
        let mut h = Histogram::new();
        for item in self.eta_items(counts_pk(unit.unwrap_or(CITY), step), since).await? {
            for (name, v) in &item {
                if let (Some(d), Some(count)) =
                    (name.strip_prefix('h').and_then(|d| d.parse::<u32>().ok()), number(Some(v)))
                {
                    *h.entry(d).or_default() += count;
                }
            }
        }
        Ok(h)
    }
}
