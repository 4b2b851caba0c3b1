//! Lookups are counted as cache hits or misses, against real embedded views.

use std::time::Duration;

use chrono::Utc;
use hookline_domain::{Subscription, SubscriptionEvent, SubscriptionId};
use hookline_lookup::SubscriptionDirectory;
use hookline_views::embedded::EmbeddedViews;
use hookline_views::{Retention, ViewChange, ViewStore};

#[tokio::test]
async fn the_first_lookup_misses_and_later_ones_hit() {
    let dir = tempfile::tempdir().unwrap();
    let views =
        EmbeddedViews::open(&dir.path().join("views.redb"), Retention { ttl: Duration::from_secs(3600) }).unwrap();
    let now = Utc::now();
    let subscription = Subscription::new(SubscriptionId::new(), "http://127.0.0.1:9/hook", now);
    let id = subscription.id;
    views.apply(vec![ViewChange::Subscription(SubscriptionEvent::SubscriptionCreated { subscription })]).await.unwrap();
    let directory = SubscriptionDirectory::new(views, 100, Duration::from_secs(60));
    let stats = directory.cache_stats();

    assert!(directory.get(id).await.unwrap().is_some());
    assert_eq!((stats.hits(), stats.misses()), (0, 1), "the first lookup reads the view");
    assert!(directory.get(id).await.unwrap().is_some());
    assert!(directory.get(id).await.unwrap().is_some());
    assert_eq!((stats.hits(), stats.misses()), (2, 1));

    // Unknown ids are not cached, so each lookup of one misses.
    let unknown = SubscriptionId::new();
    assert!(directory.get(unknown).await.unwrap().is_none());
    assert!(directory.get(unknown).await.unwrap().is_none());
    assert_eq!((stats.hits(), stats.misses()), (2, 3));
}
