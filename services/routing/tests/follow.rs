//! The directory folds the tenants and subscriptions topics of a real (embedded) log:
//! what was written before it started, what is written while it runs, and a writer
//! waiting for its own append.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use hookline_domain::event_types::parse_patterns;
use hookline_domain::tenant::{token_digest, TenantLimits};
use hookline_domain::{
    topics, Subscription, SubscriptionEvent, SubscriptionId, Tenant, TenantEvent, TenantId, TenantToken, TokenId,
};
use hookline_log::embedded::{EmbeddedLog, EmbeddedOptions};
use hookline_log::{EventLog, TopicSpec};
use hookline_records::{subscription_record, tenant_record};
use hookline_routing::Directory;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(5);

async fn log(dir: &tempfile::TempDir) -> Arc<dyn EventLog> {
    let log: Arc<dyn EventLog> = EmbeddedLog::open(&dir.path().join("log"), EmbeddedOptions::default()).unwrap();
    let spec = |name: &str, partitions| TopicSpec { name: name.to_string(), partitions, retention: None };
    log.ensure_topics(&[spec(topics::TENANTS, 4), spec(topics::SUBSCRIPTIONS, 4)]).await.unwrap();
    log
}

fn tenant(id: &str) -> Tenant {
    let at = Utc::now();
    Tenant {
        id: TenantId::parse(id).unwrap(),
        name: id.into(),
        limits: TenantLimits::default(),
        created_at: at,
        updated_at: at,
    }
}

fn subscription(tenant: &str, patterns: &[&str]) -> Subscription {
    let base = Subscription::new(SubscriptionId::new(), "https://example.com/h", Utc::now());
    Subscription { tenant_id: TenantId::parse(tenant).unwrap(), ..base }
        .with_patterns(Some(parse_patterns("event_types", patterns).unwrap()))
}

#[tokio::test]
async fn what_was_written_before_and_after_the_start_is_folded() {
    let dir = tempfile::tempdir().unwrap();
    let log = log(&dir).await;
    let early = subscription("acme", &["order.*"]);
    log.append(vec![
        tenant_record(&TenantEvent::TenantCreated { tenant: tenant("acme") }),
        subscription_record(&SubscriptionEvent::SubscriptionCreated { subscription: early.clone() }),
    ])
    .await
    .unwrap();

    let directory = Arc::new(Directory::new());
    let shutdown = CancellationToken::new();
    let follower = tokio::spawn({
        let (directory, log, shutdown) = (directory.clone(), log.clone(), shutdown.clone());
        async move { directory.follow(log, shutdown).await }
    });
    tokio::time::timeout(WAIT, directory.caught_up()).await.expect("caught up with what was there");
    let acme = TenantId::parse("acme").unwrap();
    assert!(directory.tenant(&acme).is_some());
    assert_eq!(directory.matching(&acme, "order.created"), vec![early.id]);

    // A writer appends, waits for its own record, and sees it at once.
    let token = TenantToken::of(TokenId::new(), acme.clone(), None, "hlt_0123456789abcdef", Utc::now());
    let late = subscription("acme", &["order.created"]);
    let positions = log
        .append(vec![
            tenant_record(&TenantEvent::TokenCreated { token: token.clone() }),
            subscription_record(&SubscriptionEvent::SubscriptionCreated { subscription: late.clone() }),
        ])
        .await
        .unwrap();
    directory.wait_for(topics::TENANTS, &positions[0], WAIT).await.unwrap();
    directory.wait_for(topics::SUBSCRIPTIONS, &positions[1], WAIT).await.unwrap();
    assert_eq!(directory.token_by_digest(&token_digest(b"hlt_0123456789abcdef")).map(|t| t.id), Some(token.id));
    let mut both = vec![early.id, late.id];
    both.sort();
    assert_eq!(directory.matching(&acme, "order.created"), both);
    assert_eq!(directory.owner(late.id), Some(acme.clone()));
    assert_eq!(directory.live_subscriptions(&acme), 2);

    // A revocation stops the token on this process as soon as it is read.
    let revoked = log
        .append(vec![tenant_record(&TenantEvent::TokenRevoked {
            tenant_id: acme,
            token_id: token.id,
            revoked_at: Utc::now(),
        })])
        .await
        .unwrap();
    directory.wait_for(topics::TENANTS, &revoked[0], WAIT).await.unwrap();
    assert!(directory.token_by_digest(&token.digest).is_none());

    shutdown.cancel();
    follower.await.unwrap().unwrap();
}

#[tokio::test]
async fn an_empty_log_is_caught_up_at_once_and_waiting_past_it_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let log = log(&dir).await;
    let directory = Arc::new(Directory::new());
    let shutdown = CancellationToken::new();
    tokio::spawn({
        let (directory, log, shutdown) = (directory.clone(), log.clone(), shutdown.clone());
        async move { directory.follow(log, shutdown).await }
    });
    tokio::time::timeout(WAIT, directory.caught_up()).await.expect("nothing to read");
    assert!(directory.tenant(&TenantId::default()).is_some(), "the default tenant always exists");
    let never = hookline_log::Appended { partition: 0, offset: 10 };
    assert!(directory.wait_for(topics::TENANTS, &never, Duration::from_millis(200)).await.is_err());
    shutdown.cancel();
}
