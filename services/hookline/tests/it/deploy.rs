//! The ready-made operations under deploy/: the Prometheus alert rules pass
//! `promtool check rules` and their own unit tests (`promtool test rules`), and every
//! metric a rule or a Grafana panel names is one the real binary exports, with series,
//! after traffic that delivers, fails, dead-letters and fans out.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use hookline_testkit::process::wait_until;
use hookline_testkit::receiver::{Receiver, Reply, Script};
use serde_json::{json, Value};

use crate::common::Service;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// promtool from `PROMTOOL` or the `PATH`; `None` (saying SKIPPED) when missing and
/// engines are not required (`HOOKLINE_REQUIRE_ENGINES=1` makes that a failure).
fn promtool(test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PROMTOOL").map(PathBuf::from).filter(|path| path.is_file()).or_else(|| {
        std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join("promtool")).find(|path| path.is_file())
    });
    if found.is_none() {
        if std::env::var("HOOKLINE_REQUIRE_ENGINES").as_deref() == Ok("1") {
            panic!("{test}: promtool is missing (scripts/promtool.sh install)");
        }
        println!("SKIPPED: no promtool: {test} (run scripts/promtool.sh install)");
    }
    found
}

fn run_promtool(promtool: &Path, args: &[&str]) {
    let output = Command::new(promtool).args(args).current_dir(deploy_dir()).output().expect("promtool runs");
    let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "promtool {args:?}:\n{printed}");
    println!("promtool {args:?}: {}", printed.trim());
}

#[test]
fn the_alert_rules_pass_promtool_and_their_unit_tests() {
    let Some(promtool) = promtool("the_alert_rules_pass_promtool_and_their_unit_tests") else { return };
    run_promtool(&promtool, &["check", "rules", "prometheus/alerts.yml"]);
    run_promtool(&promtool, &["test", "rules", "prometheus/alerts.test.yml"]);
}

/// The metric names in a PromQL expression: words that start like hookline's or the
/// process metrics (label values such as `hookline.retry.10s` have no underscore there).
fn metric_names(expr: &str, into: &mut BTreeSet<String>) {
    let words = expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'));
    into.extend(words.filter(|w| w.starts_with("hookline_") || w.starts_with("process_")).map(String::from));
}

/// Every expression of the alert rules and of the dashboard's panels and variables.
fn named_metrics() -> (BTreeSet<String>, BTreeSet<String>) {
    let rules: Value =
        serde_norway::from_str(&std::fs::read_to_string(deploy_dir().join("prometheus/alerts.yml")).unwrap())
            .expect("alerts.yml is YAML");
    let mut in_rules = BTreeSet::new();
    for group in rules["groups"].as_array().expect("groups") {
        for rule in group["rules"].as_array().expect("rules") {
            metric_names(rule["expr"].as_str().expect("expr"), &mut in_rules);
        }
    }
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(deploy_dir().join("grafana/hookline.json")).unwrap())
            .expect("the dashboard is JSON");
    let mut in_dashboard = BTreeSet::new();
    let panels = dashboard["panels"].as_array().expect("panels");
    for panel in panels.iter().filter(|p| p["type"] != "row") {
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{}: the data source is the variable", panel["title"]);
        for target in panel["targets"].as_array().expect("targets") {
            assert_eq!(target["datasource"]["uid"], "${datasource}", "{}", panel["title"]);
            metric_names(target["expr"].as_str().expect("expr"), &mut in_dashboard);
        }
    }
    let variables = dashboard["templating"]["list"].as_array().expect("variables");
    assert!(
        variables.iter().any(|v| v["type"] == "datasource" && v["name"] == "datasource"),
        "no data source variable"
    );
    for variable in variables.iter().filter(|v| v["type"] == "query") {
        metric_names(variable["definition"].as_str().unwrap(), &mut in_dashboard);
    }
    (in_rules, in_dashboard)
}

/// Names with at least one sample in a scrape: sample names, and the families they belong to.
fn exported(scrape: &str) -> BTreeSet<String> {
    let samples: BTreeSet<String> = scrape
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| line.split(['{', ' ']).next().unwrap().to_string())
        .collect();
    let families = scrape
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .map(|rest| rest.split(' ').next().unwrap().to_string());
    let with_samples: Vec<String> = families
        .filter(|family| {
            samples.iter().any(|s| {
                s == family
                    || s.strip_prefix(family.as_str()).is_some_and(|rest| ["_bucket", "_sum", "_count"].contains(&rest))
            })
        })
        .collect();
    samples.into_iter().chain(with_samples).collect()
}

#[tokio::test]
async fn every_metric_the_rules_and_the_dashboard_name_is_exported() {
    let (in_rules, in_dashboard) = named_metrics();
    assert!(in_rules.len() >= 6 && in_dashboard.len() >= 15, "rules {in_rules:?}, dashboard {in_dashboard:?}");

    // Traffic that makes every labelled series exist: deliveries, failures that run
    // through every tier into the dead letters, an event that fans out.
    let receiver = Receiver::start().await;
    receiver.set("/down", Script::always(Reply::Status(503)));
    let service = Service::start(&[]).await;
    let ok = service.subscribe(&receiver.url("/ok"), None, None).await;
    let down = service.subscribe(&receiver.url("/down"), None, None).await;
    service.ingest_ok(&ok, "{}", &[]).await;
    let failing = service.ingest_ok(&down, "{}", &[]).await;
    let event = service.client.post(service.url("/api/v1/events")).header("x-event-type", "order.created");
    assert_eq!(event.json(&json!({"n": 1})).send().await.unwrap().status(), 202);
    service.wait_task(&failing, "failed", Duration::from_secs(30)).await;

    let names: BTreeSet<String> = in_rules.union(&in_dashboard).cloned().collect();
    let missing = wait_until(Duration::from_secs(30), "every named metric in /metrics", || async {
        let scrape = service.client.get(service.url("/metrics")).send().await.ok()?.text().await.ok()?;
        let exported = exported(&scrape);
        let missing: Vec<&String> = names.iter().filter(|name| !exported.contains(*name)).collect();
        if missing.is_empty() {
            Some(missing.len())
        } else {
            println!("not exported yet: {missing:?}");
            None
        }
    })
    .await;
    assert_eq!(missing, 0);
    println!("{} metrics named by deploy/, all exported: {names:?}", names.len());
}
