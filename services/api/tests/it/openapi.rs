//! `schemas/openapi.yaml` against the real routes: a table of requests covers every
//! documented path, method and status; every answer's status must be documented for its
//! path and method, and its JSON body must validate against the documented schema. The
//! reverse is checked too: every documented operation and status (bar the server's own
//! 500/503, which a healthy embedded store never gives) is exercised, and every method a
//! path does not list answers 405 with `Allow` naming exactly the listed ones.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::num::NonZeroU32;
use std::sync::Arc;

use hookline_api::{routes, ApiConfig, ApiTokens, Probes, Rate, RateLimits, Readiness};
use hookline_domain::signature::ingest_signature;
use hookline_domain::Outcome;
use hookline_log::embedded::{EmbeddedLog, EmbeddedOptions};
use hookline_log::EventLog;
use hookline_metrics::{ConsumerBook, Registry};
use serde_json::{json, Value};
use tempfile::TempDir;
use warp::http::HeaderMap;
use warp::{Filter, Reply};

use crate::support::{attempt, eventually, Stack, PREFIXES};

mod replays;
mod tenants;

/// Where the document is registered for `$ref` resolution.
const DOC_URI: &str = "https://hookline.example/openapi.yaml";
const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];
/// Server failures a healthy store never causes: documented, not exercised.
/// Answers this test cannot provoke: server failures, and a body that takes too long
/// to arrive (the black-box test `slow_clients` provokes that one on the real binary).
const SERVER_FAILURES: [&str; 3] = [
    "#/components/responses/InternalError",
    "#/components/responses/Unavailable",
    "#/components/responses/BodyTimeout",
];
/// Refusals at the edge, documented on every operation they can happen to and the same
/// there: each exercised once, on one operation, with the settings that cause it.
const EDGE_REFUSALS: [&str; 3] = [
    "#/components/responses/Unauthorized",
    "#/components/responses/TooManyRequests",
    "#/components/responses/HeadersTooLarge",
];
const INGEST_LIMIT: usize = 1024;
const BODY: &str = r#"{"order":42}"#;
const SECRET: &str = "my-secret";
const TOKEN: &str = "an-api-token-0123456789";

fn document() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/openapi.yaml");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
}

/// JSON Pointer escaping of one reference token.
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// One request of the table.
struct Request {
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

fn request(method: &'static str, path: impl Into<String>) -> Request {
    Request { method, path: path.into(), headers: Vec::new(), body: Vec::new() }
}

impl Request {
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn body(mut self, body: impl AsRef<[u8]>) -> Self {
        self.body = body.as_ref().to_vec();
        self
    }

    fn json(self, body: &Value) -> Self {
        self.header("content-type", "application/json").body(body.to_string())
    }
}

/// An answer the document accepted.
struct Checked {
    headers: HeaderMap,
    json: Value,
}

/// The document, and what the table exercised of it.
struct Contract {
    doc: Value,
    /// (path template, method, status).
    exercised: BTreeSet<(String, String, String)>,
    /// The shared responses (`#/components/responses/…`) answers matched.
    exercised_refs: BTreeSet<String>,
}

impl Contract {
    fn new() -> Self {
        Self { doc: document(), exercised: BTreeSet::new(), exercised_refs: BTreeSet::new() }
    }

    fn paths(&self) -> &serde_json::Map<String, Value> {
        self.doc["paths"].as_object().expect("paths")
    }

    /// The documented path whose template matches `path` (no query).
    fn template(&self, path: &str) -> Option<String> {
        let segments: Vec<&str> = path.split('/').collect();
        self.paths()
            .keys()
            .find(|template| {
                let parts: Vec<&str> = template.split('/').collect();
                parts.len() == segments.len()
                    && parts.iter().zip(&segments).all(|(part, segment)| {
                        part == segment || (part.starts_with('{') && part.ends_with('}') && !segment.is_empty())
                    })
            })
            .cloned()
    }

    /// The pointer of a response object, following a `$ref` to the components.
    fn response_pointer(&self, pointer: String) -> String {
        let response = self.doc.pointer(&pointer).expect("a response");
        match response.get("$ref").and_then(Value::as_str) {
            Some(target) => target.trim_start_matches('#').to_string(),
            None => pointer,
        }
    }

    /// Fails unless `body` validates against the schema at `pointer` (within the document).
    fn validate(&self, pointer: &str, body: &Value, what: &str) {
        let resource = jsonschema::Resource::from_contents(self.doc.clone()).expect("the document as a resource");
        // Braces (of path templates) are not allowed in a URI fragment unencoded.
        let fragment = pointer.replace('{', "%7B").replace('}', "%7D");
        let schema = json!({ "$ref": format!("{DOC_URI}#{fragment}") });
        let validator = jsonschema::options()
            .with_resource(DOC_URI, resource)
            .should_validate_formats(true)
            .build(&schema)
            .unwrap_or_else(|e| panic!("{pointer} is not a valid schema: {e}"));
        let errors: Vec<String> = validator.iter_errors(body).map(|e| format!("{e} at {}", e.instance_path)).collect();
        assert!(errors.is_empty(), "{what}: {body} does not match {pointer}: {errors:?}");
    }

    /// Checks an answer against the response object at `pointer`: its content type,
    /// its headers and its body.
    fn check_response(&self, pointer: &str, headers: &HeaderMap, body: &[u8], what: &str) -> Value {
        let pointer = self.response_pointer(pointer.to_string());
        let response = self.doc.pointer(&pointer).expect("a response");
        for name in ["link", "x-next-cursor", "allow", "retry-after", "etag"] {
            if headers.contains_key(name) {
                let documented = response["headers"]
                    .as_object()
                    .is_some_and(|documented| documented.keys().any(|key| key.eq_ignore_ascii_case(name)));
                assert!(documented, "{what}: header {name} is not documented at {pointer}");
            }
        }
        let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        if response.get("content").is_none() {
            assert!(body.is_empty() && content_type.is_empty(), "{what}: a body where {pointer} documents none");
            return Value::Null;
        }
        let content = response["content"].as_object().unwrap_or_else(|| panic!("{what}: no content at {pointer}"));
        let media = content
            .keys()
            .find(|media| media.as_str() == content_type)
            .unwrap_or_else(|| panic!("{what}: content type {content_type:?} not documented at {pointer}"));
        if media != "application/json" {
            return Value::Null;
        }
        let json: Value = serde_json::from_slice(body).unwrap_or_else(|e| panic!("{what}: not JSON ({e})"));
        self.validate(&format!("{pointer}/content/{}/schema", escape(media)), &json, what);
        json
    }

    /// Sends `request`, checks the status is `expected` and documented for the path and
    /// method, and the answer matches the documented response.
    async fn send<F>(&mut self, filter: &F, request: Request, expected: u16) -> Checked
    where
        F: Filter<Error = Infallible> + Clone + Send + Sync + 'static,
        F::Extract: Reply + Send,
    {
        let what = format!("{} {}", request.method, request.path);
        let path = request.path.split('?').next().unwrap_or_default();
        let template = self.template(path).unwrap_or_else(|| panic!("{what}: path not documented"));
        let method = request.method.to_ascii_lowercase();
        let mut builder = warp::test::request().method(request.method).path(&request.path);
        for (name, value) in &request.headers {
            builder = builder.header(*name, value.as_str());
        }
        let response = builder.body(request.body).reply(filter).await;
        let status = response.status().as_u16().to_string();
        assert_eq!(response.status().as_u16(), expected, "{what}: {:?}", response.body());
        let pointer = format!("/paths/{}/{method}/responses/{status}", escape(&template));
        assert!(self.doc.pointer(&pointer).is_some(), "{what}: status {status} is not documented ({pointer})");
        let json = self.check_response(&pointer, response.headers(), response.body(), &what);
        if let Some(shared) = self.doc.pointer(&pointer).and_then(|r| r.get("$ref")).and_then(Value::as_str) {
            self.exercised_refs.insert(shared.to_string());
        }
        self.exercised.insert((template, method, status));
        Checked { headers: response.headers().clone(), json }
    }

    /// Every method a documented path does not list answers 405, `Allow` naming exactly
    /// the listed ones; an undocumented path answers 404.
    async fn check_refusals<F>(&self, filter: &F)
    where
        F: Filter<Error = Infallible> + Clone + Send + Sync + 'static,
        F::Extract: Reply + Send,
    {
        let id = uuid::Uuid::now_v7().to_string();
        for (template, item) in self.paths() {
            let path = template.replace("{id}", &id).replace("{token_id}", &id);
            let listed: BTreeSet<String> =
                METHODS.iter().filter(|m| item.get(**m).is_some()).map(|m| m.to_ascii_uppercase()).collect();
            for method in METHODS.iter().map(|m| m.to_ascii_uppercase()).filter(|m| !listed.contains(m)) {
                let what = format!("{method} {path}");
                let response = warp::test::request().method(&method).path(&path).reply(filter).await;
                assert_eq!(response.status().as_u16(), 405, "{what}");
                let allow: BTreeSet<String> =
                    response.headers()["allow"].to_str().unwrap().split(',').map(|m| m.trim().to_string()).collect();
                assert_eq!(allow, listed, "{what}: Allow differs from the documented methods");
                self.check_response(
                    "/components/responses/MethodNotAllowed",
                    response.headers(),
                    response.body(),
                    &what,
                );
            }
        }
        for path in ["/api/v2/subscriptions", "/api/subscriptions/a/b", "/nope"] {
            assert!(self.template(path).is_none(), "{path} is documented");
            let response = warp::test::request().path(path).reply(filter).await;
            assert_eq!(response.status().as_u16(), 404, "{path}");
            self.check_response("/components/responses/RouteNotFound", response.headers(), response.body(), path);
        }
    }

    /// Every documented operation and status was exercised, bar the server's failures.
    fn assert_all_exercised(&self) {
        let mut missing = Vec::new();
        for (template, item) in self.paths() {
            for method in METHODS {
                let Some(operation) = item.get(method) else { continue };
                for (status, response) in operation["responses"].as_object().expect("responses") {
                    let shared = response.get("$ref").and_then(Value::as_str);
                    let failure = shared.is_some_and(|r| SERVER_FAILURES.contains(&r));
                    let edge_seen =
                        shared.is_some_and(|r| EDGE_REFUSALS.contains(&r) && self.exercised_refs.contains(r));
                    let key = (template.clone(), method.to_string(), status.clone());
                    if !failure && !edge_seen && !self.exercised.contains(&key) {
                        missing.push(format!("{method} {template} {status}"));
                    }
                }
            }
        }
        assert!(missing.is_empty(), "documented but never exercised: {missing:#?}");
    }
}

fn text(answer: &Checked, field: &str) -> String {
    answer.json[field].as_str().unwrap_or_else(|| panic!("no {field} in {}", answer.json)).to_string()
}

#[tokio::test]
async fn the_routes_answer_as_the_openapi_document_says() {
    let stack = Stack::start(INGEST_LIMIT).await;
    let api = routes(stack.config(), stack.deps.clone());
    let mut contract = Contract::new();
    let unknown = || uuid::Uuid::now_v7().to_string();
    let huge = json!({ "target_url": "x".repeat(70 * 1024) });
    let plain = |method, path: String| request(method, path).header("content-type", "text/plain").body("{}");

    for prefix in PREFIXES {
        let subs = format!("{prefix}/subscriptions");
        let target =
            json!({"target_url": "http://127.0.0.1:9/hook", "secret": SECRET, "event_type_filter": "order.created"});
        let signed = contract.send(&api, request("POST", &subs).json(&target), 201).await;
        let signed_id = text(&signed, "id");
        let open_req = json!({"target_url": "http://127.0.0.1:9/open", "enabled": false});
        let open = contract.send(&api, request("POST", &subs).json(&open_req), 201).await;
        assert_eq!(open.json["disabled_reason"], "disabled by user");
        let open_id = text(&open, "id");
        let shaped_req = json!({"target_url": "http://127.0.0.1:9/shaped", "headers": {"X-Api-Key": "k3y"},
            "timeout_ms": 1000, "retry_schedule": [5, 10], "rate_limit_per_second": 5, "max_in_flight": 8});
        let shaped = contract.send(&api, request("POST", &subs).json(&shaped_req), 201).await;
        assert_eq!((&shaped.json["headers"]["X-Api-Key"], &shaped.json["max_in_flight"]), (&json!("k3y"), &json!(8)));
        let reset = json!({"headers": null, "timeout_ms": null, "retry_schedule": "production",
            "rate_limit_per_second": null, "max_in_flight": "auto"});
        let shaped_one = format!("{subs}/{}", text(&shaped, "id"));
        let reset = contract.send(&api, request("PUT", &shaped_one).json(&reset), 200).await;
        assert_eq!(
            (&reset.json["retry_schedule"], &reset.json["max_in_flight"]),
            (&json!("production"), &json!("auto"))
        );
        let owned = json!({"target_url": "http://127.0.0.1:9/owned", "headers": {"Webhook-Id": "x"}, "timeout_ms": 1});
        let refused = contract.send(&api, request("POST", &subs).json(&owned), 400).await;
        assert!(
            refused.json["errors"]["headers"].as_str().is_some_and(|e| e.contains("Webhook-Id")),
            "{}",
            refused.json
        );
        assert!(refused.json["errors"]["timeout_ms"].is_string(), "{}", refused.json);
        let invalid = contract.send(&api, request("POST", &subs).json(&json!({"colour": 1, "secret": ""})), 400).await;
        assert_eq!(invalid.json["errors"].as_object().map(|e| e.len()), Some(3), "{}", invalid.json);
        contract.send(&api, request("POST", &subs).header("content-type", "application/json").body("{"), 400).await;
        contract.send(&api, plain("POST", subs.clone()), 415).await;
        contract.send(&api, request("POST", &subs).json(&huge), 413).await;

        contract.send(&api, request("GET", &subs), 200).await;
        let page = contract.send(&api, request("GET", format!("{subs}?limit=1")), 200).await;
        let cursor = page.headers["x-next-cursor"].to_str().unwrap().to_string();
        let cursor = form_urlencoded::byte_serialize(cursor.as_bytes()).collect::<String>();
        contract.send(&api, request("GET", format!("{subs}?limit=1000&cursor={cursor}")), 200).await;
        for bad in ["limit=0", "limit=1001", "cursor=forged", "colour=red", "enabled=no"] {
            contract.send(&api, request("GET", format!("{subs}?{bad}")), 400).await;
        }
        let disabled = contract.send(&api, request("GET", format!("{subs}?enabled=false")), 200).await;
        let disabled = disabled.json.as_array().unwrap();
        assert!(disabled.iter().all(|s| s["enabled"] == json!(false)), "only disabled ones: {disabled:?}");
        assert!(disabled.iter().any(|s| s["id"] == json!(open_id)), "the disabled one is listed: {disabled:?}");

        let one = |id: &str| format!("{subs}/{id}");
        contract.send(&api, request("GET", one(&signed_id)), 200).await;
        contract.send(&api, request("GET", one("nope")), 400).await;
        contract.send(&api, request("GET", one(&unknown())), 404).await;
        let enabled = contract.send(&api, request("PUT", one(&open_id)).json(&json!({"enabled": true})), 200).await;
        assert_eq!((&enabled.json["enabled"], &enabled.json["disabled_reason"]), (&json!(true), &Value::Null));
        let rotate = |id: &str| format!("{subs}/{id}/secret/rotate");
        let generated = contract.send(&api, request("POST", rotate(&open_id)), 200).await;
        assert!(text(&generated, "secret").starts_with("whsec_"));
        let graced = request("POST", rotate(&open_id)).json(&json!({"grace_seconds": 60}));
        assert!(contract.send(&api, graced, 200).await.json["previous_secret_expires_at"].is_string());
        contract.send(&api, request("POST", rotate(&open_id)).json(&json!({"grace_seconds": -1})), 400).await;
        contract.send(&api, request("POST", rotate("nope")), 400).await;
        contract.send(&api, request("POST", rotate(&unknown())), 404).await;
        contract.send(&api, request("POST", rotate(&open_id)).json(&huge), 413).await;
        contract.send(&api, plain("POST", rotate(&open_id)), 415).await;
        contract.send(&api, request("PUT", one(&open_id)).json(&json!({"secret": null})), 200).await;
        contract.send(&api, request("PUT", one(&open_id)).json(&json!({"target_url": null})), 400).await;
        contract.send(&api, request("PUT", one("nope")).json(&json!({})), 400).await;
        contract.send(&api, request("PUT", one(&unknown())).json(&json!({})), 404).await;
        contract.send(&api, plain("PUT", one(&open_id)), 415).await;
        contract.send(&api, request("PUT", one(&open_id)).json(&huge), 413).await;
        // A version that is not the current one.
        let stale = |method, path: String| request(method, path).header("if-match", "\"1\"");
        contract.send(&api, stale("PUT", one(&open_id)).json(&json!({"event_type_filter": "x"})), 412).await;
        contract.send(&api, stale("POST", rotate(&open_id)), 412).await;
        contract.send(&api, stale("DELETE", one(&open_id)), 412).await;

        let ingest =
            |id: &str| request("POST", format!("{prefix}/ingest/{id}")).header("content-type", "application/json");
        let signature = ingest_signature(SECRET, BODY.as_bytes());
        let queued = ingest(&signed_id)
            .header("x-hub-signature-256", &signature)
            .header("x-event-type", "order.created")
            .body(BODY);
        let queued = contract.send(&api, queued, 202).await;
        let task = text(&queued, "task_id");
        let filtered =
            ingest(&signed_id).header("x-hub-signature-256", &signature).header("x-event-type", "other").body(BODY);
        assert!(contract.send(&api, filtered, 202).await.json.get("task_id").is_none());
        contract.send(&api, ingest(&signed_id).body(BODY), 401).await;
        contract.send(&api, ingest(&open_id).header("x-event-type", "a\tb").body(BODY), 400).await;
        contract.send(&api, ingest("nope").body(BODY), 400).await;
        contract.send(&api, ingest(&unknown()).body(BODY), 404).await;
        contract.send(&api, plain("POST", format!("{prefix}/ingest/{open_id}")), 415).await;
        contract.send(&api, ingest(&open_id).body("{not json"), 415).await;
        contract.send(&api, ingest(&open_id).body(format!("[\"{}\"]", "x".repeat(INGEST_LIMIT))), 413).await;

        let task_path = format!("{prefix}/status/delivery_tasks/{task}");
        let pending = contract.send(&api, request("GET", &task_path), 200).await;
        assert_eq!(pending.json["status"], "pending");
        stack.record_attempt(&attempt(&task, &signed_id, 1, Outcome::FailedAttempt, 503)).await;
        stack.record_attempt(&attempt(&task, &signed_id, 2, Outcome::PermanentlyFailed, 410)).await;
        let attempts_path = format!("{prefix}/status/subscriptions/{signed_id}/attempts");
        eventually("both attempts in the views", || async {
            let body = warp::test::request().path(&attempts_path).reply(&api).await;
            let json: Value = serde_json::from_slice(body.body()).ok()?;
            (json.as_array().is_some_and(|a| a.len() == 2)).then_some(())
        })
        .await;
        let failed = contract.send(&api, request("GET", &task_path), 200).await;
        assert_eq!(
            (failed.json["status"].clone(), failed.json["attempts"].as_array().map(Vec::len)),
            (json!("failed"), Some(2))
        );
        contract.send(&api, request("GET", format!("{prefix}/status/delivery_tasks/42")), 400).await;
        contract.send(&api, request("GET", format!("{prefix}/status/delivery_tasks/{}", unknown())), 404).await;
        let recent = contract.send(&api, request("GET", format!("{attempts_path}?limit=1")), 200).await;
        assert_eq!(recent.json.as_array().map(Vec::len), Some(1));
        contract.send(&api, request("GET", format!("{attempts_path}?limit=1001")), 400).await;
        contract.send(&api, request("GET", format!("{prefix}/status/subscriptions/nope/attempts")), 400).await;
        let never = format!("{prefix}/status/subscriptions/{}/attempts", unknown());
        contract.send(&api, request("GET", never), 404).await;

        let tasks = format!("{prefix}/tasks");
        let failed_only = format!("{tasks}?subscription_id={signed_id}&status=failed&limit=1");
        let listed = contract.send(&api, request("GET", failed_only), 200).await;
        assert_eq!(listed.json["tasks"][0]["task_id"], task.as_str(), "{}", listed.json);
        for bad in ["limit=0", "limit=101", "status=lost", "subscription_id=nope", "cursor=forged", "colour=red"] {
            contract.send(&api, request("GET", format!("{tasks}?{bad}")), 400).await;
        }
        let dead_letters = format!("{prefix}/dead-letters");
        let of_signed = format!("{dead_letters}?subscription_id={signed_id}&since=2000-01-01T00:00:00Z&limit=1");
        let listed = contract.send(&api, request("GET", of_signed), 200).await;
        let dead_letter = &listed.json["dead_letters"][0];
        assert_eq!(
            (&dead_letter["task_id"], &dead_letter["attempts"], &dead_letter["last_http_status"]),
            (&json!(task), &json!(2), &json!(410)),
            "{}",
            listed.json
        );
        let before =
            contract.send(&api, request("GET", format!("{dead_letters}?until=2000-01-01T00:00:00Z")), 200).await;
        assert_eq!(before.json["dead_letters"], json!([]), "none failed before 2000");
        contract.send(&api, request("GET", format!("{dead_letters}?subscription_id={}", unknown())), 404).await;
        for bad in [
            "limit=0",
            "limit=101",
            "since=yesterday",
            "since=2024-01-02T00:00:00Z&until=2024-01-01T00:00:00Z",
            "subscription_id=nope",
            "cursor=forged",
            "colour=red",
        ] {
            contract.send(&api, request("GET", format!("{dead_letters}?{bad}")), 400).await;
        }
        let retry = |id: &str| format!("{tasks}/{id}/retry");
        let queued = contract.send(&api, request("POST", retry(&task)), 202).await;
        assert_eq!(queued.json["attempt_number"], 3);
        // Asked again before the attempt is made: the same attempt is not queued twice.
        let again = contract.send(&api, request("POST", retry(&task)), 409).await;
        assert!(text(&again, "message").contains("already queued"), "{}", again.json);
        let pending = contract.send(&api, ingest(&open_id).body(BODY), 202).await;
        contract.send(&api, request("POST", retry(&text(&pending, "task_id"))), 409).await;
        contract.send(&api, request("POST", retry("nope")), 400).await;
        contract.send(&api, request("POST", retry(&unknown())), 404).await;
        let stats = contract.send(&api, request("GET", format!("{subs}/{signed_id}/stats")), 200).await;
        assert_eq!(stats.json["window"]["attempts"], 2);
        contract.send(&api, request("GET", format!("{subs}/nope/stats")), 400).await;
        contract.send(&api, request("GET", format!("{subs}/{}/stats", unknown())), 404).await;

        let overview = format!("{prefix}/overview");
        eventually("the overview to count the failed attempts", || async {
            let body = warp::test::request().path(&overview).reply(&api).await;
            let json: Value = serde_json::from_slice(body.body()).ok()?;
            (json["failing_subscriptions"][0]["subscription_id"] == signed_id.as_str()).then_some(())
        })
        .await;
        let seen = contract.send(&api, request("GET", &overview), 200).await;
        assert!(seen.json["totals"]["failed"].as_u64() >= Some(2), "{}", seen.json);
        contract.send(&api, request("GET", format!("{overview}?tenant_id=default")), 200).await;
        for bad in ["colour=red", "tenant_id=Not%20a%20tenant"] {
            contract.send(&api, request("GET", format!("{overview}?{bad}")), 400).await;
        }
        contract.send(&api, request("GET", format!("{overview}?tenant_id=nobody")), 404).await;

        contract.send(&api, request("DELETE", one(&open_id)), 200).await;
        contract.send(&api, request("DELETE", one(&open_id)), 404).await;
        contract.send(&api, request("DELETE", one("nope")), 400).await;
        contract.send(&api, request("GET", format!("{prefix}/health")), 200).await;

        tenants::exercise(&mut contract, &api, prefix, &huge).await;
        replays::exercise(&mut contract, &api, prefix, &huge, &stack.log).await;
    }

    contract.send(&api, request("GET", "/health"), 200).await;
    contract.send(&api, request("GET", "/metrics"), 200).await;
    eventually("ready once the projector consumes", || async {
        let response = warp::test::request().path("/ready").reply(&api).await;
        (response.status().as_u16() == 200).then_some(())
    })
    .await;
    contract.send(&api, request("GET", "/ready"), 200).await;
    let (_empty_log_dir, deps) = unready_deps(&stack);
    let unready = routes(stack.config(), deps);
    contract.send(&unready, request("GET", "/ready"), 503).await;

    // The edge refusals, with tokens and a tight rate limit configured.
    let guarded_config = ApiConfig {
        tokens: ApiTokens::parse(&[TOKEN]).unwrap(),
        rate_limits: RateLimits {
            api: Some(Rate { per_second: NonZeroU32::MIN, burst: NonZeroU32::MIN }),
            ingest_per_subscription: None,
        },
        ..stack.config()
    };
    let guarded = routes(guarded_config, stack.deps.clone());
    contract.send(&guarded, request("GET", "/api/v1/subscriptions"), 401).await;
    // The refused call spent nothing: the one token of the burst is the next caller's.
    let authorized = || request("GET", "/api/v1/subscriptions").header("authorization", format!("Bearer {TOKEN}"));
    contract.send(&guarded, authorized(), 200).await;
    contract.send(&guarded, authorized(), 429).await;
    contract.send(&guarded, request("GET", "/api/health").header("x-padding", "p".repeat(20_000)), 431).await;

    contract.check_refusals(&api).await;
    contract.assert_all_exercised();
}

/// The stack's ports, but readiness over a log nobody created topics in.
fn unready_deps(stack: &Stack) -> (TempDir, hookline_api::ApiDeps) {
    let dir = TempDir::new().unwrap();
    let empty: Arc<dyn EventLog> = EmbeddedLog::open(&dir.path().join("log"), EmbeddedOptions::default()).unwrap();
    let readiness = Arc::new(Readiness::new(empty, stack.deps.views.clone(), ConsumerBook::new()));
    let mut deps = stack.deps.clone();
    deps.probes = Probes { registry: Registry::new(), readiness };
    (dir, deps)
}
