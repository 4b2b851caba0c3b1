//! Sealed secrets in the views are opened by the directory with its key, and refused
//! (as an error naming the subscription) without it or with another key.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use hookline_domain::{Secret, Subscription, SubscriptionEvent, SubscriptionId, SubscriptionState};
use hookline_lookup::SubscriptionDirectory;
use hookline_secrets::SecretSealer;
use hookline_views::embedded::EmbeddedViews;
use hookline_views::{Retention, ViewChange, ViewError, ViewStore};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const OTHER_KEY: &str = "HxwdHhscGRoXGBUWExQREg8QDQ4LDAkKBwgFBgMEAQI=";

fn directory(views: &Arc<EmbeddedViews>, sealer: SecretSealer) -> SubscriptionDirectory {
    SubscriptionDirectory::new(views.clone(), 100, Duration::from_secs(60)).with_sealer(sealer)
}

#[tokio::test]
async fn sealed_secrets_open_only_with_the_key_that_sealed_them() {
    let dir = tempfile::tempdir().unwrap();
    let views =
        EmbeddedViews::open(&dir.path().join("views.redb"), Retention { ttl: Duration::from_secs(3600) }).unwrap();
    let now = Utc::now();
    let plain = Subscription {
        secret: Some(Secret::new("s3cret")),
        ..Subscription::new(SubscriptionId::new(), "http://127.0.0.1:9/hook", now)
    };
    let id = plain.id;
    let key = SecretSealer::from_base64_key(KEY).unwrap();
    let stored = key.seal_subscription(&plain);
    assert!(SecretSealer::is_sealed(stored.secret.as_ref().unwrap()));
    views
        .apply(vec![ViewChange::Subscription(SubscriptionEvent::SubscriptionCreated { subscription: stored })])
        .await
        .unwrap();

    let found = directory(&views, key).get(id).await.unwrap().unwrap();
    assert_eq!(found.as_ref(), &SubscriptionState::Live(plain));

    for sealer in [SecretSealer::without_key(), SecretSealer::from_base64_key(OTHER_KEY).unwrap()] {
        match directory(&views, sealer).get(id).await {
            Err(ViewError::Corrupt(message)) => {
                assert!(message.contains(&id.to_string()), "{message}");
                assert!(message.contains("HOOKLINE_ENCRYPTION_KEY"), "{message}");
                assert!(!message.contains("s3cret"));
            }
            other => panic!("expected a corrupt-data error, got {other:?}"),
        }
    }
}
