//! Whether this process can do its work: the log and the views answer a cheap call
//! each, and every consumer group its roles use is consuming with partitions assigned.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hookline_domain::{topics, SubscriptionId};
use hookline_log::EventLog;
use hookline_metrics::{ConsumerBook, GroupProgress};
use hookline_views::ViewStore;

/// How long each store gets to answer before it counts as not answering.
const PATIENCE: Duration = Duration::from_secs(2);

/// The checks behind `/ready`.
pub struct Readiness {
    log: Arc<dyn EventLog>,
    views: Arc<dyn ViewStore>,
    consumers: Arc<ConsumerBook>,
}

/// What the checks found.
pub struct Verdict {
    /// Empty when ready.
    pub problems: Vec<String>,
    pub groups: Vec<GroupProgress>,
}

impl Readiness {
    pub fn new(log: Arc<dyn EventLog>, views: Arc<dyn ViewStore>, consumers: Arc<ConsumerBook>) -> Self {
        Self { log, views, consumers }
    }

    pub async fn check(&self) -> Verdict {
        let mut problems = Vec::new();
        // Every process has the subscriptions topic (the embedded log creates it, `migrate` does for Kafka).
        let log = within(self.log.end_offsets(topics::SUBSCRIPTIONS)).await;
        if let Err(problem) = log {
            problems.push(format!("log: {problem}"));
        }
        // A random id: the answer is "unknown", and getting it proves a read round trip.
        let views = within(self.views.subscription(SubscriptionId::new())).await;
        if let Err(problem) = views {
            problems.push(format!("views: {problem}"));
        }
        problems.extend(self.consumers.problems());
        Verdict { problems, groups: self.consumers.progress() }
    }
}

async fn within<T, E: std::fmt::Display>(call: impl Future<Output = Result<T, E>>) -> Result<T, String> {
    match tokio::time::timeout(PATIENCE, call).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {}s", PATIENCE.as_secs())),
    }
}
