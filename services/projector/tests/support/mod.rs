//! What the projector's black-box tests share: an embedded log with the projector's
//! topics, embedded views, the projector running on them or a rebuild into fresh ones,
//! and the time as the views keep it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hookline_domain::topics;
use hookline_log::embedded::{EmbeddedLog, EmbeddedOptions};
use hookline_log::{EventLog, TopicSpec};
use hookline_metrics::Registry;
use hookline_projector::{ProjectorConfig, ProjectorDeps, ProjectorError};
use hookline_views::embedded::EmbeddedViews;
use hookline_views::{Retention, ViewStore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

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

/// The projector running on `log`, folding into fresh views at `path`.
pub struct Running {
    pub views: Arc<dyn ViewStore>,
    pub projector: JoinHandle<Result<(), ProjectorError>>,
    shutdown: CancellationToken,
}

impl Running {
    pub fn start(log: &Arc<dyn EventLog>, path: &Path) -> Self {
        let views = views(path);
        let deps = ProjectorDeps { log: log.clone(), views: views.clone(), metrics: Registry::new() };
        let shutdown = CancellationToken::new();
        let projector = tokio::spawn(hookline_projector::run(ProjectorConfig::default(), deps, shutdown.clone()));
        Self { views, projector, shutdown }
    }

    /// Stops the projector; it must stop cleanly.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.projector.await.unwrap().unwrap();
    }
}

/// Fresh views at `path` rebuilt from `log`; returns them and the records projected.
pub async fn rebuilt(log: &Arc<dyn EventLog>, path: &Path) -> (Arc<dyn ViewStore>, u64) {
    let views = views(path);
    let deps = ProjectorDeps { log: log.clone(), views: views.clone(), metrics: Registry::new() };
    let projected = hookline_projector::rebuild(&ProjectorConfig::default(), &deps).await.unwrap();
    (views, projected)
}
