//! Reviewers' openings in detail (`core::application::bulk::ViewLog`) on
//! DynamoDB.
//!
//! | item          | pk                 | sk      | attributes       |
//! |---------------|--------------------|---------|------------------|
//! | an opening    | `VIEW#{reviewer}`  | `APP#{id}` | openedAt, ttl |
//!
//! One put per opening (kept only if later than the one stored); a spot
//! check reads its sample with one `BatchGetItem`. Openings expire after 60
//! days (TTL), past any review step.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use subsidy_core::application::bulk::ViewLog;
use subsidy_core::ports::StoreResult;

use super::*;

const VIEW_TTL_SECS: i64 = 60 * 24 * 3600;

fn view_pk(reviewer: &str) -> String {
    format!("VIEW#{reviewer}")
}

#[async_trait]
impl ViewLog for DynamoStore {
    async fn record_view(&self, reviewer: &str, application_id: &str, at: DateTime<Utc>) -> StoreResult<()> {
        let mut item = key(view_pk(reviewer), format!("APP#{application_id}"));
        item.insert("openedAt".into(), s(ts(&at)));
        item.insert("ttl".into(), n(at.timestamp() + VIEW_TTL_SECS));
        // A later opening already stored stands (the put is then refused).
        self.conditional_put(
            item,
            "attribute_not_exists(pk) OR openedAt < :at",
            HashMap::from([(":at".to_string(), s(ts(&at)))]),
        )
        .await?;
        Ok(())
    }

    async fn views_of(
        &self,
        reviewer: &str,
        application_ids: &[String],
    ) -> StoreResult<HashMap<String, DateTime<Utc>>> {
        let keys = application_ids.iter().map(|id| key(view_pk(reviewer), format!("APP#{id}"))).collect();
        let mut out = HashMap::new();
        for item in self.batch_items(keys).await? {
            let (Some(id), Some(at)) =
                (str_attr(&item, "sk").and_then(|sk| sk.strip_prefix("APP#")), str_attr(&item, "openedAt"))
            else {
                continue;
            };
            if let Ok(at) = DateTime::parse_from_rfc3339(at) {
                out.insert(id.to_string(), at.with_timezone(&Utc));
            }
        }
        Ok(out)
    }
}
