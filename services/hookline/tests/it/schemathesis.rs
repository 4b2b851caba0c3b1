//! Schemathesis against the real binary: requests generated from `schemas/openapi.yaml`
//! (valid and invalid ones, and sequences that follow the document's links), every
//! check but use-after-free on (no server error, documented statuses, content types and headers, bodies
//! that match their schema, valid data accepted and invalid data refused). The st
//! command comes from `SCHEMATHESIS` (scripts/schemathesis.sh installs it).

use std::time::Duration;

use tokio::process::Command;

use crate::common::Service;

/// Examples per operation and phase: the run stays within a few minutes on 2 cores.
const MAX_EXAMPLES: &str = "40";
/// Fixed, so that a failure reproduces; `HOOKLINE_SCHEMATHESIS_SEED` picks another.
const DEFAULT_SEED: &str = "20240601";
/// The `/api/v1` paths (the `/api` ones are YAML aliases of them) and the root probes.
const OPERATIONS: &str = "^/(api/v1/|health$|ready$|metrics$)";

/// Where the API's own validation goes past what a schema can say, a 400 for
/// schema-valid data is right: a target URL must name a public host (or an allowlisted
/// one), a cursor must be one a page gave out, a name or event type must hold more than
/// spaces and no control characters, a `*` may only end an event-type pattern. A
/// well-formed `If-Match` naming a version that is not the current one is rightly a
/// 412; a tenant id that is taken (or was, or is `default`), a tenant that still owns
/// subscriptions, or a tenant at its subscription cap, a 409; a tenant id that names no
/// tenant, or a subscription id that names none (dead letters), a 404. A replay names
/// exactly one of a subscription and a tenant (the operator must name one), its `until`
/// comes after its `since` (now when left out): a 400 otherwise; a subscription that is
/// disabled is a 409. A dead-letter listing's `since` not before its `until`: a 400.
const CONFIG: &str = r#"
[[operations]]
include-name = ["POST /api/v1/subscriptions"]
checks.positive_data_acceptance.expected-statuses = ["2xx", 400, 404, 409]

[[operations]]
include-name = ["POST /api/v1/tenants", "PUT /api/v1/tenants/{id}"]
checks.positive_data_acceptance.expected-statuses = ["2xx", 400, 404, 409]

[[operations]]
include-name = ["DELETE /api/v1/tenants/{id}"]
checks.positive_data_acceptance.expected-statuses = ["2xx", 404, 409]

[[operations]]
include-name = ["POST /api/v1/tenants/{id}/tokens", "POST /api/v1/events"]
checks.positive_data_acceptance.expected-statuses = ["2xx", 400, 404]

[[operations]]
include-name = ["GET /api/v1/tenants"]
checks.positive_data_acceptance.expected-statuses = ["2xx", 400]

[[operations]]
include-name = ["PUT /api/v1/subscriptions/{id}"]
checks.positive_data_acceptance.expected-statuses = ["2xx", 400, 404, 412]

[[operations]]
include-name = ["DELETE /api/v1/subscriptions/{id}", "POST /api/v1/subscriptions/{id}/secret/rotate"]
checks.positive_data_acceptance.expected-statuses = ["2xx", 404, 412]

[[operations]]
include-name = ["GET /api/v1/subscriptions", "GET /api/v1/tasks", "GET /api/v1/events", "GET /api/v1/replays", "GET /api/v1/dead-letters"]
checks.positive_data_acceptance.expected-statuses = ["2xx", 400, 404]

[[operations]]
include-name = ["POST /api/v1/replays"]
checks.positive_data_acceptance.expected-statuses = ["2xx", 400, 404, 409]
"#;

/// The st command, unless the test is to be skipped.
fn schemathesis() -> Option<String> {
    match std::env::var("SCHEMATHESIS") {
        Ok(st) if !st.is_empty() => Some(st),
        _ if std::env::var("HOOKLINE_REQUIRE_ENGINES").as_deref() == Ok("1") => {
            panic!("SCHEMATHESIS must name the st command (scripts/schemathesis.sh installs it)")
        }
        _ => {
            println!("SKIPPED: schemathesis not installed (run scripts/schemathesis.sh and set SCHEMATHESIS)");
            None
        }
    }
}

#[tokio::test]
async fn the_api_holds_to_its_openapi_document_under_generated_requests() {
    let Some(st) = schemathesis() else { return };
    // No delivery role: the generated subscriptions name arbitrary hosts, and nothing
    // may ever be sent to them.
    let service = Service::start(&[("HOOKLINE_ROLES", "api,projector")]).await;

    // Data for the generated requests to reach: subscriptions with and without a
    // secret, and a task.
    let target = "http://127.0.0.1:9/hook";
    let signed = service.subscribe(target, Some("whsec_c2NoZW1hdGhlc2lz"), None).await;
    let plain = service.subscribe(target, None, Some("order.created")).await;
    let task = service.ingest_ok(&plain, r#"{"order":1}"#, &[("X-Event-Type", "order.created")]).await;
    service.wait_task(&task, "pending", Duration::from_secs(30)).await;
    println!("subscriptions {signed} and {plain}, task {task}");

    let work = tempfile::tempdir().expect("temp dir");
    let config = work.path().join("schemathesis.toml");
    std::fs::write(&config, CONFIG).expect("writing the config");
    let spec = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/openapi.yaml");
    let seed = std::env::var("HOOKLINE_SCHEMATHESIS_SEED").unwrap_or_else(|_| DEFAULT_SEED.to_string());
    // The document's paths carry their prefix, so the base URL is the bare origin.
    let origin = service.url("");
    let report = work.path().join("report");
    let args = [
        "--config-file",
        config.to_str().expect("utf-8 path"),
        "run",
        spec,
        "--url",
        origin.trim_end_matches('/'),
        "--checks",
        "all",
        // A subscription's attempts and statistics are documented to outlive it, and the
        // stateful phase cannot be told so per operation.
        "--exclude-checks",
        "use_after_free",
        "--max-examples",
        MAX_EXAMPLES,
        "--seed",
        &seed,
        "--workers",
        "2",
        "--include-path-regex",
        OPERATIONS,
        "--generation-database",
        "none",
        "--report-dir",
        report.to_str().expect("utf-8 path"),
        "--no-color",
    ];
    println!("running: {st} {}", args.join(" "));
    // In the temporary directory: st keeps what `st replay` needs in `.schemathesis/` there.
    let output =
        Command::new(&st).args(args).current_dir(work.path()).kill_on_drop(true).output().await.expect("running st");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);

    let passed = output.status.success();
    // The findings in full when there are any, else the summary.
    let shown = match (passed, stdout.find("SUMMARY")) {
        (true, Some(at)) => &stdout[at..],
        _ => &stdout[..],
    };
    println!("{shown}");
    if !stderr.trim().is_empty() {
        println!("stderr:\n{stderr}");
    }
    assert!(passed, "schemathesis found problems (seed {seed}, exit {:?}): see above", output.status.code());
    for finding in ["Server error", "Response violates schema", "Undocumented"] {
        assert!(!stdout.contains(finding), "schemathesis reported {finding:?} yet exited 0");
    }
}
