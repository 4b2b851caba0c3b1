//! The replay operations of the document: asking for one (and a dry run), reading,
//! listing and cancelling it, and every refusal.

use std::convert::Infallible;
use std::sync::Arc;

use chrono::Utc;
use hookline_domain::replay::{ReplayEvent, ReplayState};
use hookline_domain::ReplayId;
use hookline_log::EventLog;
use serde_json::{json, Value};
use warp::{Filter, Reply};

use super::{request, text, Contract};
use crate::support::eventually;

pub(super) async fn exercise<F>(contract: &mut Contract, api: &F, prefix: &str, huge: &Value, log: &Arc<dyn EventLog>)
where
    F: Filter<Error = Infallible> + Clone + Send + Sync + 'static,
    F::Extract: Reply + Send,
{
    let subs = format!("{prefix}/subscriptions");
    let target = json!({"target_url": "http://127.0.0.1:9/replayed"});
    let sub = text(&contract.send(api, request("POST", &subs).json(&target), 201).await, "id");
    let disabled = json!({"target_url": "http://127.0.0.1:9/off", "enabled": false});
    let off = text(&contract.send(api, request("POST", &subs).json(&disabled), 201).await, "id");
    let replays = format!("{prefix}/replays");
    let since = (Utc::now() - chrono::TimeDelta::hours(1)).to_rfc3339();

    let dry = json!({"subscription_id": sub, "since": since, "status": ["failed", "pending"], "dry_run": true});
    let counted = contract.send(api, request("POST", &replays).json(&dry), 200).await;
    assert_eq!(counted.json["dry_run"], true);
    let asked =
        json!({"subscription_id": sub, "since": since, "target_url": "http://127.0.0.1:9/other", "rate_per_second": 5});
    let replay_id = text(&contract.send(api, request("POST", &replays).json(&asked), 202).await, "replay_id");
    let bad = json!({"subscription_id": sub, "status": "lost", "colour": 1});
    let refused = contract.send(api, request("POST", &replays).json(&bad), 400).await;
    assert_eq!(refused.json["errors"].as_object().map(|e| e.len()), Some(3), "{}", refused.json);
    let unknown = ReplayId::new().to_string();
    contract.send(api, request("POST", &replays).json(&json!({"subscription_id": unknown, "since": since})), 404).await;
    contract
        .send(api, request("POST", &replays).json(&json!({"tenant_id": "never-created", "since": since})), 404)
        .await;
    contract.send(api, request("POST", &replays).json(&json!({"subscription_id": off, "since": since})), 409).await;
    contract.send(api, request("POST", &replays).json(huge), 413).await;
    contract.send(api, request("POST", &replays).header("content-type", "text/plain").body("{}"), 415).await;

    let one = format!("{replays}/{replay_id}");
    let shown = contract.send(api, request("GET", &one), 200).await;
    assert_eq!(shown.json["target_url"], "http://127.0.0.1:9/other");
    contract.send(api, request("GET", format!("{replays}/nope")), 400).await;
    contract.send(api, request("GET", format!("{replays}/{unknown}")), 404).await;
    eventually("the replay in the views", || async {
        let listed = warp::test::request().path(&format!("{replays}?limit=100")).reply(api).await;
        let json: Value = serde_json::from_slice(listed.body()).ok()?;
        json["replays"].as_array()?.iter().any(|r| r["replay_id"] == replay_id.as_str()).then_some(())
    })
    .await;
    contract.send(api, request("GET", format!("{replays}?limit=1")), 200).await;
    for bad in ["limit=0", "cursor=forged", "colour=red"] {
        contract.send(api, request("GET", format!("{replays}?{bad}")), 400).await;
    }
    contract.send(api, request("GET", format!("{replays}?tenant_id=never-created")), 404).await;

    let cancelled = contract.send(api, request("DELETE", &one), 202).await;
    assert!(text(&cancelled, "message").starts_with("Replay cancelled"), "{}", cancelled.json);
    contract.send(api, request("DELETE", format!("{replays}/nope")), 400).await;
    contract.send(api, request("DELETE", format!("{replays}/{unknown}")), 404).await;
    // No replay role runs here: end it as the role would, then it cannot be cancelled.
    let ended = ReplayEvent::ReplayEnded {
        replay_id: replay_id.parse().unwrap(),
        state: ReplayState::Cancelled,
        queued: 0,
        delivered: 0,
        failed: 0,
        reason: None,
        at: Utc::now(),
    };
    log.append(vec![hookline_records::replay_record(&ended)]).await.unwrap();
    eventually("the replay ended in the views", || async {
        let shown = warp::test::request().path(&one).reply(api).await;
        let json: Value = serde_json::from_slice(shown.body()).ok()?;
        (json["state"] == "cancelled").then_some(())
    })
    .await;
    contract.send(api, request("DELETE", &one), 409).await;
}
