//! What the projector's black-box tests share: an embedded log with the projector's
//! topics, embedded views, and the time as the views keep it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hookline_domain::topics;
use hookline_log::embedded::{EmbeddedLog, EmbeddedOptions};
use hookline_log::{EventLog, TopicSpec};
use hookline_views::embedded::EmbeddedViews;
use hookline_views::{Retention, ViewStore};

/// An embedded log under `dir` with the topics the projector reads: two partitions
/// each, but one for the replays, as hookline makes them.
pub async fn log(dir: &Path) -> Arc<dyn EventLog> {
    let log: Arc<dyn EventLog> = EmbeddedLog::open(&dir.join("log"), EmbeddedOptions::default()).unwrap();
    let specs: Vec<TopicSpec> = hookline_projector::topics()
        .into_iter()
        .map(|name| {
            let partitions = if name == topics::REPLAYS { 1 } else { 2 };
            TopicSpec { name, partitions, retention: None }
        })
        .collect();
    log.ensure_topics(&specs).await.unwrap();
    log
}

pub fn views(path: &Path) -> Arc<dyn ViewStore> {
    EmbeddedViews::open(path, Retention { ttl: Duration::from_secs(3600) }).unwrap()
}

/// Now, to the millisecond the views keep.
pub fn now_ms() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap()
}
