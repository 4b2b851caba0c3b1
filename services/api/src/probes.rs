//! `GET /metrics` (Prometheus text format 0.0.4) and `GET /ready`, served by every
//! process whatever its roles.

use std::sync::Arc;

use hookline_metrics::{Registry, CONTENT_TYPE};
use serde_json::json;
use warp::http::header::CONTENT_TYPE as CONTENT_TYPE_HEADER;
use warp::http::{HeaderValue, StatusCode};
use warp::reply::{Reply, Response};

use crate::readiness::Readiness;

/// What `/metrics` and `/ready` answer from.
#[derive(Clone)]
pub struct Probes {
    pub registry: Arc<Registry>,
    pub readiness: Arc<Readiness>,
}

pub(crate) async fn metrics(probes: Probes) -> Response {
    let mut response = warp::reply::with_status(probes.registry.render(), StatusCode::OK).into_response();
    response.headers_mut().insert(CONTENT_TYPE_HEADER, HeaderValue::from_static(CONTENT_TYPE));
    response
}

/// 200 `{"status":"ready","consumer_groups":[…]}`, or 503 `{"status":"not ready","problems":[…]}`.
pub(crate) async fn ready(probes: Probes) -> Response {
    let verdict = probes.readiness.check().await;
    if !verdict.problems.is_empty() {
        tracing::debug!(problems = ?verdict.problems, "not ready");
        let body = json!({ "status": "not ready", "problems": verdict.problems });
        return warp::reply::with_status(warp::reply::json(&body), StatusCode::SERVICE_UNAVAILABLE).into_response();
    }
    let groups: Vec<_> = verdict
        .groups
        .iter()
        .map(|group| json!({ "group": group.group, "partitions": group.partitions.len() }))
        .collect();
    warp::reply::json(&json!({ "status": "ready", "consumer_groups": groups })).into_response()
}
