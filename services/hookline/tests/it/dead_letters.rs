//! Dead letters on the real binary: the listing shows the tasks that failed for good
//! with when and why, newest first, paged and narrowed by time; `/metrics` counts them
//! by subscription with a bounded number of series. Embedded, and on Kafka + CQL with
//! the api and delivery roles in separate processes.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hookline_testkit::process::wait_until;
use hookline_testkit::receiver::{Receiver, Reply, Script};
use serde_json::Value;

use crate::common::{engines, Deployment, Service};

const T: Duration = Duration::from_secs(30);
/// One attempt in all: a task against a failing receiver is dead-lettered at once.
const ONE_ATTEMPT: &[(&str, &str)] = &[("MAX_RETRIES", "1")];
const ON_ENGINES: &str = "on_kafka_and_cql_the_api_lists_dead_letters_and_the_delivery_process_counts_them";
/// How many subscriptions get a series of their own (the delivery role's cap).
const SERIES_CAP: usize = 50;
const BY_SUBSCRIPTION: &str = "hookline_delivery_dead_letters_by_subscription_total";

fn task_ids(listed: &Value) -> Vec<String> {
    let items = listed["dead_letters"].as_array().unwrap_or_else(|| panic!("no dead_letters in {listed}"));
    items.iter().map(|d| d["task_id"].as_str().unwrap().to_string()).collect()
}

/// `subscription_id` label → value of every by-subscription sample.
async fn dead_letter_series(service: &Service) -> BTreeMap<String, f64> {
    let text = service.client.get(service.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let prefix = format!("{BY_SUBSCRIPTION}{{subscription_id=\"");
    text.lines()
        .filter_map(|line| {
            let (label, value) = line.strip_prefix(&prefix)?.split_once("\"} ")?;
            Some((label.to_string(), value.parse().ok()?))
        })
        .collect()
}

#[tokio::test]
async fn failed_tasks_are_listed_with_their_error_and_counted_by_subscription() {
    let receiver = Receiver::start().await;
    receiver.set("/down", Script::always(Reply::Status(503)));
    receiver.set("/gone", Script::always(Reply::Status(410)));
    let service = Service::start(ONE_ATTEMPT).await;
    let down = service.subscribe(&receiver.url("/down"), None, None).await;
    let gone = service.subscribe(&receiver.url("/gone"), None, None).await;
    let ok = service.subscribe(&receiver.url("/ok"), None, None).await;

    let first = service.ingest_ok(&down, r#"{"n":1}"#, &[("X-Event-Type", "order.created")]).await;
    let failed_first = service.wait_task(&first, "failed", T).await;
    let second = service.ingest_ok(&down, r#"{"n":2}"#, &[]).await;
    service.wait_task(&second, "failed", T).await;
    let gone_task = service.ingest_ok(&gone, "{}", &[]).await;
    service.wait_task(&gone_task, "failed", T).await;
    let delivered = service.ingest_ok(&ok, "{}", &[]).await;
    service.wait_task(&delivered, "succeeded", T).await;

    // Every dead letter, newest first; the delivered task is none.
    let (code, all) = service.get("/api/v1/dead-letters").await;
    assert_eq!(code, 200, "{all}");
    assert_eq!(task_ids(&all), [gone_task.as_str(), second.as_str(), first.as_str()]);
    assert_eq!(all["next_cursor"], Value::Null);
    let oldest = &all["dead_letters"][2];
    assert_eq!(oldest["subscription_id"], down.as_str());
    assert_eq!(oldest["event_type"], "order.created");
    assert_eq!((&oldest["attempts"], &oldest["last_http_status"]), (&Value::from(1), &Value::from(503)));
    assert_eq!(oldest["last_error"], failed_first["last_error"]);
    assert!(oldest["last_error"].as_str().unwrap().contains("503"), "{oldest}");
    assert_eq!(oldest["failed_at"], failed_first["last_attempt_at"], "failed when its last attempt was made");
    assert_eq!(oldest["accepted_at"], failed_first["created_at"]);
    assert_eq!(all["dead_letters"][0]["last_http_status"], 410);

    // One subscription's, a page at a time.
    let (_, page) = service.get(&format!("/api/dead-letters?subscription_id={down}&limit=1")).await;
    assert_eq!(task_ids(&page), [second.as_str()]);
    let cursor = page["next_cursor"].as_str().expect("a next page").to_string();
    let (_, page) = service.get(&format!("/api/dead-letters?subscription_id={down}&limit=1&cursor={cursor}")).await;
    assert_eq!(task_ids(&page), [first.as_str()]);

    // Narrowed by when they failed: since included, until not.
    let failed_at = |listed: &Value, i: usize| listed["dead_letters"][i]["failed_at"].as_str().unwrap().to_string();
    // The only character of an API timestamp that a query string must escape.
    let at = |text: &str| text.replace('+', "%2B");
    let second_failed = failed_at(&all, 1);
    let (_, since) = service.get(&format!("/api/v1/dead-letters?since={}", at(&second_failed))).await;
    assert_eq!(task_ids(&since), [gone_task.as_str(), second.as_str()]);
    let (_, until) = service.get(&format!("/api/v1/dead-letters?until={}", at(&second_failed))).await;
    assert_eq!(task_ids(&until), [first.as_str()]);

    let (code, refused) = service.get("/api/v1/dead-letters?since=last-tuesday").await;
    assert_eq!(code, 400);
    assert!(refused["message"].as_str().unwrap().contains("RFC 3339"), "{refused}");

    // /metrics: one series per subscription that dead-lettered, the rest at 0 under "other".
    let series = wait_until(T, "the dead letters counted", || async {
        let series = dead_letter_series(&service).await;
        (series.get(&down) == Some(&2.0) && series.get(&gone) == Some(&1.0)).then_some(series)
    })
    .await;
    assert_eq!(series.len(), 3, "down, gone and other: {series:?}");
    assert_eq!(series.get("other"), Some(&0.0));

    // More subscriptions dead-letter than get a series: the ones past the cap share "other".
    let extra = SERIES_CAP;
    for n in 0..extra {
        let sub = service.subscribe(&receiver.url("/down"), None, None).await;
        service.ingest_ok(&sub, &format!(r#"{{"n":{n}}}"#), &[]).await;
    }
    let total = 3.0 + extra as f64;
    let series = wait_until(T, "every dead letter counted", || async {
        let series = dead_letter_series(&service).await;
        (series.values().sum::<f64>() == total).then_some(series)
    })
    .await;
    assert_eq!(series.len(), SERIES_CAP + 1, "{SERIES_CAP} subscriptions and other: {series:?}");
    assert_eq!((series.get(&down), series.get("other")), (Some(&2.0), Some(&2.0)), "{series:?}");
    let ids_listed = wait_until(T, "every dead letter listed", || async {
        let (_, listed) = service.get("/api/v1/dead-letters?limit=100").await;
        (task_ids(&listed).len() == 3 + extra).then_some(listed)
    })
    .await;
    let newest: DateTime<Utc> = ids_listed["dead_letters"][0]["accepted_at"].as_str().unwrap().parse().unwrap();
    let oldest: DateTime<Utc> = ids_listed["dead_letters"][2 + extra]["accepted_at"].as_str().unwrap().parse().unwrap();
    assert!(newest > oldest, "newest first");
}

#[tokio::test]
async fn on_kafka_and_cql_the_api_lists_dead_letters_and_the_delivery_process_counts_them() {
    let Some(engines) = engines(ON_ENGINES) else { return };
    let receiver = Receiver::start().await;
    receiver.set("/down", Script::always(Reply::Status(500)));
    let deployment = Deployment::new(&engines, ONE_ATTEMPT).await;
    let api = deployment.start("api,projector", &[]).await;
    let delivery = deployment.start("delivery", &[]).await;
    let down = api.subscribe(&receiver.url("/down"), None, None).await;
    let first = api.ingest_ok(&down, r#"{"n":1}"#, &[]).await;
    let failed_first = api.wait_task(&first, "failed", T).await;
    let second = api.ingest_ok(&down, r#"{"n":2}"#, &[]).await;
    let failed_second = api.wait_task(&second, "failed", T).await;

    let (code, listed) = api.get(&format!("/api/v1/dead-letters?subscription_id={down}")).await;
    assert_eq!(code, 200, "{listed}");
    assert_eq!(task_ids(&listed), [second.as_str(), first.as_str()]);
    assert_eq!(listed["dead_letters"][1]["failed_at"], failed_first["last_attempt_at"]);
    assert_eq!(listed["dead_letters"][1]["last_http_status"], 500);
    // Until the second failed: the walk starts there in the CQL listing too.
    let until = failed_second["last_attempt_at"].as_str().unwrap().replace('+', "%2B");
    let (_, before) = api.get(&format!("/api/v1/dead-letters?until={until}")).await;
    assert_eq!(task_ids(&before), [first.as_str()]);

    // The delivery process dead-lettered them: its /metrics counts them.
    let series = wait_until(T, "the dead letters counted by the delivery process", || async {
        let series = dead_letter_series(&delivery).await;
        (series.get(&down) == Some(&2.0)).then_some(series)
    })
    .await;
    assert_eq!(series.get("other"), Some(&0.0), "{series:?}");
    assert!(dead_letter_series(&api).await.is_empty(), "the api process dead-letters nothing: no such family");
}
