//! With an encryption key, the subscription tables hold sealed text in their secret
//! columns, never the secret, and reads give it back for the directory to open.
//! Needs a CQL node (`SCYLLA_NODES`, as printed by `scripts/cassandra.sh start`).

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use hookline_domain::{Secret, Subscription, SubscriptionEvent, SubscriptionId, SubscriptionState};
use hookline_secrets::{SecretSealer, SEALED_PREFIX};
use hookline_views::{Retention, ViewChange, ViewStore};
use hookline_views_scylla::{migrate, ScyllaSettings, ScyllaViews};
use scylla::client::session_builder::SessionBuilder;

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

#[tokio::test]
async fn secret_columns_hold_sealed_text() {
    let nodes: Vec<String> = match std::env::var("SCYLLA_NODES") {
        Ok(nodes) if !nodes.trim().is_empty() => nodes.split(',').map(|n| n.trim().to_string()).collect(),
        _ if std::env::var("HOOKLINE_REQUIRE_ENGINES").as_deref() == Ok("1") => {
            panic!("SCYLLA_NODES is not set and HOOKLINE_REQUIRE_ENGINES=1")
        }
        _ => {
            println!("SKIPPED: SCYLLA_NODES not set (run scripts/cassandra.sh start)");
            return;
        }
    };
    // The conformance suite's prefix, so that its clean-up drops a keyspace left behind.
    let keyspace = format!("hookline_test_{}_{}", Utc::now().timestamp(), rand::random::<u32>());
    let settings = ScyllaSettings { nodes: nodes.clone(), keyspace: keyspace.clone(), ..ScyllaSettings::default() };
    migrate(&settings).await.expect("migrate");
    let views = ScyllaViews::connect(&settings, Retention { ttl: Duration::from_secs(3600) }).await.expect("connect");

    let sealer = SecretSealer::from_base64_key(KEY).unwrap();
    let now = Utc::now();
    let plain = Subscription {
        secret: Some(Secret::new("old-secret")),
        ..Subscription::new(SubscriptionId::new(), "https://example.com/hook", now)
    }
    .with_rotated_secret(Some(Secret::new("new-secret")), TimeDelta::hours(1), now);
    let event = sealer.seal_event(&SubscriptionEvent::SubscriptionCreated { subscription: plain.clone() });
    views.apply(vec![ViewChange::Subscription(event)]).await.expect("apply");

    let session = SessionBuilder::new().known_nodes(&nodes).build().await.expect("session");
    for (table, key) in [("subscriptions", "id = ?"), ("subscriptions_listing", "shard = 0 AND id = ?")] {
        let query = format!("SELECT secret, previous_secret FROM {keyspace}.{table} WHERE {key}");
        let rows = if table == "subscriptions" {
            session.query_unpaged(query, (plain.id.0,)).await
        } else {
            session.query_unpaged(query, (plain.id.as_bytes().to_vec(),)).await
        };
        let rows = rows.expect("select").into_rows_result().expect("rows");
        let (secret, previous): (String, String) = rows.single_row().expect("one row");
        for stored in [&secret, &previous] {
            assert!(stored.starts_with(SEALED_PREFIX), "{table} holds {stored}");
            assert!(!stored.contains("secret"), "{table} holds a secret in plaintext");
        }
    }

    // Read back sealed, opened with the key.
    let Some(SubscriptionState::Live(stored)) = views.subscription(plain.id).await.expect("read") else {
        panic!("the subscription is not live")
    };
    let opened = sealer.open_subscription(stored).expect("opens");
    assert_eq!(opened.secret, plain.secret);
    assert_eq!(opened.previous_secret, plain.previous_secret);
    // CQL timestamps keep milliseconds.
    let expires = opened.previous_secret_expires_at.expect("expiry").timestamp_millis();
    assert_eq!(expires, plain.previous_secret_expires_at.unwrap().timestamp_millis());
    let listed = views.subscriptions(10, None).await.expect("list");
    assert_eq!(sealer.open_subscription(listed.items[0].clone()).expect("opens").secret, plain.secret);

    session.query_unpaged(format!("DROP KEYSPACE IF EXISTS {keyspace}"), &[]).await.expect("drop the keyspace");
}
