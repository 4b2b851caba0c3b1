//! Every event, as serde writes it, validates against its JSON Schema in `schemas/events/`.

use std::path::PathBuf;

use chrono::Utc;
use hookline_domain::event_types::parse_patterns;
use hookline_domain::events::{
    AttemptRecorded, EventAccepted, Outcome, RetryScheduled, SubscriptionEvent, TaskAccepted, TaskDeadLettered,
};
use hookline_domain::operational::DisableCause;
use hookline_domain::replay::{
    ReplayCursor, ReplayEvent, ReplayMark, ReplayRequested, ReplayScope, ReplaySelection, ReplayState, ReplayStatus,
};
use hookline_domain::tenant::{Tenant, TenantEvent, TenantId, TenantLimits, TenantToken, TokenId};
use hookline_domain::{
    DeliverySettings, EventId, OperationalData, OperationalEvent, OrderingMode, ReplayId, ScheduleChoice, Secret,
    Subscription, SubscriptionId, TaskId, TraceContext,
};
use serde_json::value::RawValue;
use serde_json::Value;

const BASE: &str = "https://hookline.example/schemas/events/";

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas/events")
}

fn load(name: &str) -> Value {
    let path = schema_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

fn validator(schema_name: &str) -> jsonschema::Validator {
    let common = jsonschema::Resource::from_contents(load("common.json")).expect("common schema");
    jsonschema::options()
        .with_resource(format!("{BASE}common.json"), common)
        .should_validate_formats(true)
        .build(&load(schema_name))
        .unwrap_or_else(|e| panic!("{schema_name} is not a valid schema: {e}"))
}

fn assert_valid(schema_name: &str, event: &impl serde::Serialize) {
    let instance = serde_json::to_value(event).unwrap();
    let validator = validator(schema_name);
    let errors: Vec<String> = validator.iter_errors(&instance).map(|e| format!("{e} at {}", e.instance_path)).collect();
    assert!(errors.is_empty(), "{schema_name} rejects {instance}: {errors:?}");
}

fn assert_invalid(schema_name: &str, instance: &Value) {
    assert!(!validator(schema_name).is_valid(instance), "{schema_name} accepts {instance}");
}

fn subscription(secret: Option<&str>) -> Subscription {
    let patterns = secret.map(|_| parse_patterns("event_types", &["order.created", "invoice.*"]).unwrap());
    Subscription {
        id: SubscriptionId::new(),
        tenant_id: TenantId::parse("acme").unwrap(),
        event_types: None,
        target_url: "https://example.com/hook".into(),
        secret: secret.map(Secret::new),
        event_type_filter: secret.map(|_| "order.created".to_string()),
        created_at: Utc::now(),
        updated_at: Utc::now(),
        // A disabled subscription with its reason, and an enabled one without.
        enabled: secret.is_none(),
        disabled_reason: secret.map(|_| "receiver answered 410 Gone".to_string()),
        // A secret in its first rotation grace, with the one it replaced.
        previous_secret: secret.map(|_| Secret::new("hlenc:v1:AAAA")),
        previous_secret_expires_at: secret.map(|_| Utc::now()),
        version: 3,
        write_id: secret.map(|_| uuid::Uuid::new_v4()),
        ordering: if secret.is_some() { OrderingMode::Key } else { OrderingMode::None },
        // Every delivery setting, or none.
        delivery: match secret {
            Some(_) => DeliverySettings {
                headers: [("X-Api-Key".to_string(), Secret::new("hlenc:v1:AAAA"))].into(),
                timeout_ms: Some(1000),
                retry_schedule: Some(ScheduleChoice::Delays(vec![5, 300])),
                rate_limit_per_second: Some(5),
                max_in_flight: Some(8),
            },
            None => DeliverySettings::default(),
        },
    }
    .with_patterns(patterns)
}

fn task(event_type: Option<&str>) -> TaskAccepted {
    TaskAccepted {
        task_id: TaskId::new(),
        subscription_id: SubscriptionId::new(),
        event_type: event_type.map(str::to_string),
        accepted_at: Utc::now(),
        payload: RawValue::from_string(r#"{"n": 123456789012345678901234567890, "a": [1, "x"]}"#.into()).unwrap(),
        event_id: None,
        // A task with an ordering key, and one without.
        ordering_key: event_type.map(|_| "customer-42".to_string()),
        trace: None,
    }
}

fn attempt(outcome: Outcome, with_details: bool) -> AttemptRecorded {
    AttemptRecorded {
        task_id: TaskId::new(),
        subscription_id: SubscriptionId::new(),
        attempt_number: 2,
        outcome,
        http_status: with_details.then_some(503),
        error: with_details.then(|| "HTTP 503".to_string()),
        latency_ms: 12,
        response_body: with_details.then(|| "busy".to_string()),
        attempted_at: Utc::now(),
        next_attempt_at: with_details.then(Utc::now),
        task_accepted_at: Utc::now(),
        event_type: with_details.then(|| "order.created".to_string()),
        replay_id: None,
    }
}

#[test]
fn subscription_events_match_their_schema() {
    for secret in [None, Some("s3cret")] {
        assert_valid(
            "SubscriptionEvent.json",
            &SubscriptionEvent::SubscriptionCreated { subscription: subscription(secret) },
        );
        assert_valid(
            "SubscriptionEvent.json",
            &SubscriptionEvent::SubscriptionUpdated { subscription: subscription(secret) },
        );
    }
    // A schedule named rather than listed.
    let mut named = subscription(Some("s3cret"));
    named.delivery.retry_schedule =
        Some(ScheduleChoice::Named(hookline_domain::delivery_settings::NamedSchedule::Production));
    assert_valid("SubscriptionEvent.json", &SubscriptionEvent::SubscriptionUpdated { subscription: named });
    // Events written before `enabled` existed still validate.
    let mut old =
        serde_json::to_value(SubscriptionEvent::SubscriptionCreated { subscription: subscription(None) }).unwrap();
    let fields = old["subscription"].as_object_mut().unwrap();
    fields.remove("enabled");
    fields.remove("disabled_reason");
    assert_valid("SubscriptionEvent.json", &old);
    assert_valid(
        "SubscriptionEvent.json",
        &SubscriptionEvent::SubscriptionDeleted {
            id: SubscriptionId::new(),
            deleted_at: Utc::now(),
            version: 0,
            write_id: None,
        },
    );
    assert_valid(
        "SubscriptionEvent.json",
        &SubscriptionEvent::SubscriptionDeleted {
            id: SubscriptionId::new(),
            deleted_at: Utc::now(),
            version: 4,
            write_id: Some(uuid::Uuid::new_v4()),
        },
    );
}

#[test]
fn task_events_match_their_schemas() {
    for event_type in [None, Some("order.créé")] {
        assert_valid("TaskAccepted.json", &task(event_type));
        assert_valid(
            "RetryScheduled.json",
            &RetryScheduled { task: task(event_type), attempt: 3, due_at: Utc::now(), replay: None },
        );
        for target_url in [None, Some("https://elsewhere.example/hook".to_string())] {
            let replay = Some(ReplayMark { replay_id: ReplayId::new(), target_url });
            assert_valid(
                "RetryScheduled.json",
                &RetryScheduled { task: task(event_type), attempt: 2, due_at: Utc::now(), replay },
            );
        }
        assert_valid(
            "TaskDeadLettered.json",
            &TaskDeadLettered {
                task: task(event_type),
                attempts: 5,
                last_error: Some("HTTP 500".into()),
                failed_at: Utc::now(),
            },
        );
    }
    // The schema holds ordering keys to what ingest accepts.
    let mut too_long = serde_json::to_value(task(Some("order.created"))).unwrap();
    too_long["ordering_key"] = "k".repeat(256).into();
    assert_invalid("TaskAccepted.json", &too_long);
    too_long["ordering_key"] = "tab\there".into();
    assert_invalid("TaskAccepted.json", &too_long);
}

#[test]
fn events_sent_to_tenants_and_their_tasks_match_their_schemas() {
    let event = EventAccepted {
        event_id: EventId::new(),
        tenant_id: TenantId::parse("acme").unwrap(),
        event_type: "order.created".into(),
        accepted_at: Utc::now(),
        idempotency_key: Some("order-1".into()),
        subscriptions: vec![SubscriptionId::new(), SubscriptionId::new()],
        payload: RawValue::from_string(r#"{"id": 1}"#.into()).unwrap(),
        ordering_key: Some("customer-42".into()),
        trace: None,
    };
    assert_valid("EventAccepted.json", &event);
    assert_valid("TaskAccepted.json", &event.task_for(event.subscriptions[0]));
    assert_valid(
        "EventAccepted.json",
        &EventAccepted { subscriptions: Vec::new(), idempotency_key: None, ordering_key: None, ..event },
    );
}

#[test]
fn traced_tasks_and_events_match_their_schemas() {
    let traces = [
        TraceContext::from_headers(Some(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), None),
        TraceContext::from_headers(
            Some(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"),
            Some(b"congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"),
        ),
    ];
    for trace in traces {
        let trace = trace.expect("a valid traceparent");
        let traced = TaskAccepted { trace: Some(trace.clone()), ..task(Some("order.created")) };
        assert_valid("TaskAccepted.json", &traced);
        // Retries and dead letters hold the task, and with it its trace.
        let retry = RetryScheduled { task: traced.clone(), attempt: 2, due_at: Utc::now(), replay: None };
        assert_eq!(serde_json::to_value(&retry).unwrap()["task"]["trace"]["traceparent"], trace.traceparent.as_str());
        assert_valid("RetryScheduled.json", &retry);
        assert_valid(
            "TaskDeadLettered.json",
            &TaskDeadLettered { task: traced, attempts: 5, last_error: None, failed_at: Utc::now() },
        );
        let event = EventAccepted {
            event_id: EventId::new(),
            tenant_id: TenantId::parse("acme").unwrap(),
            event_type: "order.created".into(),
            accepted_at: Utc::now(),
            idempotency_key: None,
            ordering_key: None,
            subscriptions: vec![SubscriptionId::new()],
            payload: RawValue::from_string("{}".into()).unwrap(),
            trace: Some(trace.clone()),
        };
        assert_valid("EventAccepted.json", &event);
        assert_eq!(event.task_for(event.subscriptions[0]).trace, Some(trace));
    }
    // What hookline never writes: an uppercase or all-zero traceparent, an oversized tracestate.
    for (traceparent, tracestate) in [
        ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01", None),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff", None),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", Some("k=".to_string() + &"v".repeat(600))),
    ] {
        let mut value = serde_json::to_value(task(None)).unwrap();
        value["trace"] = serde_json::json!({ "traceparent": traceparent, "tracestate": tracestate });
        if tracestate.is_none() {
            value["trace"].as_object_mut().unwrap().remove("tracestate");
        }
        let common = jsonschema::Resource::from_contents(load("common.json")).unwrap();
        let validator = jsonschema::options()
            .with_resource(format!("{BASE}common.json"), common)
            .build(&load("TaskAccepted.json"))
            .unwrap();
        assert!(!validator.is_valid(&value), "{value}");
    }
}

#[test]
fn tenant_events_match_their_schema() {
    let at = Utc::now();
    let acme = TenantId::parse("acme").unwrap();
    let limits = TenantLimits { events_per_second: Some(50), max_subscriptions: Some(10) };
    let tenant = Tenant { id: acme.clone(), name: "Acme".into(), limits, created_at: at, updated_at: at };
    let token = TenantToken::of(TokenId::new(), acme.clone(), Some("ci".into()), "hlt_abcdefghijklmnop", at);
    for event in [
        TenantEvent::TenantCreated { tenant: tenant.clone() },
        TenantEvent::TenantUpdated { tenant: Tenant { limits: TenantLimits::default(), ..tenant } },
        TenantEvent::TenantDeleted { id: acme.clone(), deleted_at: at },
        TenantEvent::TokenCreated { token: token.clone() },
        TenantEvent::TokenCreated { token: TenantToken { name: None, ..token.clone() } },
        TenantEvent::TokenRevoked { tenant_id: acme, token_id: token.id, revoked_at: at },
    ] {
        assert_valid("TenantEvent.json", &event);
    }
}

#[test]
fn attempts_match_their_schema() {
    for outcome in [Outcome::Success, Outcome::FailedAttempt, Outcome::PermanentlyFailed] {
        for details in [false, true] {
            assert_valid("AttemptRecorded.json", &attempt(outcome, details));
            let replayed = AttemptRecorded { replay_id: Some(ReplayId::new()), ..attempt(outcome, details) };
            assert_valid("AttemptRecorded.json", &replayed);
        }
    }
}

#[test]
fn operational_events_match_their_schema() {
    let (tenant, at) = (TenantId::parse("acme").unwrap(), Utc::now());
    let live = subscription(None);
    let disabled =
        live.next_version(uuid::Uuid::new_v4()).disabled("receiver answered 410 Gone at 2026-01-02T03:04:05Z", at);
    let enabled = Subscription { enabled: true, disabled_reason: None, ..disabled.next_version(uuid::Uuid::new_v4()) };
    let mut events = vec![
        OperationalEvent::of_change(&live, &disabled, DisableCause::Gone).unwrap(),
        OperationalEvent::of_change(&disabled, &enabled, DisableCause::ByHand).unwrap(),
    ];
    for cause in [DisableCause::SustainedFailure, DisableCause::ByHand] {
        events.push(OperationalEvent::of_change(&live, &disabled, cause).unwrap());
    }
    let decision = |data| OperationalEvent {
        event_id: OperationalEvent::id_for(&tenant, b"x"),
        tenant_id: tenant.clone(),
        timestamp: at,
        data,
    };
    for last_error in [Some("HTTP 500".to_string()), None] {
        events.push(decision(OperationalData::TasksExhausted {
            subscription_id: live.id,
            count: 150,
            first_failed_at: at,
            last_failed_at: at,
            last_error,
            task_ids: (0..100).map(|_| TaskId::new()).collect(),
        }));
    }
    events.push(decision(OperationalData::ReplayCompleted {
        replay_id: ReplayId::new(),
        state: ReplayState::Completed,
        matched: 10,
        queued: 10,
        delivered: 9,
        failed: 1,
    }));
    for event in &events {
        assert_valid("OperationalEvent.json", event);
    }
    // The type names the shape of data: one type's data under another is refused.
    let mut mixed = serde_json::to_value(&events[0]).unwrap();
    mixed["type"] = "hookline.task.exhausted".into();
    let common = jsonschema::Resource::from_contents(load("common.json")).unwrap();
    let validator = jsonschema::options()
        .with_resource(format!("{BASE}common.json"), common)
        .build(&load("OperationalEvent.json"))
        .unwrap();
    assert!(!validator.is_valid(&mixed));
}

#[test]
fn replay_events_match_their_schema() {
    let (id, at) = (ReplayId::new(), Utc::now());
    let sub = SubscriptionId::new();
    let selection = |scope, event_types: Option<&[&str]>| ReplaySelection {
        scope,
        since: at - chrono::TimeDelta::hours(6),
        until: at,
        statuses: ReplayStatus::ALL.to_vec(),
        event_types: event_types.map(|patterns| parse_patterns("event_types", patterns).unwrap()),
    };
    let requested = ReplayRequested {
        replay_id: id,
        tenant_id: TenantId::parse("acme").unwrap(),
        selection: selection(ReplayScope::Subscription(sub), None),
        subscriptions: vec![sub],
        target_url: None,
        rate_per_second: 10,
        matched: 1200,
        requested_at: at,
    };
    let of_tenant = ReplayRequested {
        selection: ReplaySelection {
            statuses: vec![ReplayStatus::Failed],
            ..selection(ReplayScope::Tenant(TenantId::parse("acme").unwrap()), Some(&["order.*", "invoice.paid"]))
        },
        subscriptions: vec![sub, SubscriptionId::new()],
        target_url: Some("https://elsewhere.example/hook".into()),
        ..requested.clone()
    };
    let cursor = ReplayCursor { subscription_index: 1, page: Some("1700000000000_0190a5b4".into()) };
    for event in [
        ReplayEvent::ReplayRequested(requested),
        ReplayEvent::ReplayRequested(of_tenant),
        ReplayEvent::ReplayProgressed { replay_id: id, queued: 500, next: Some(cursor), at },
        ReplayEvent::ReplayProgressed {
            replay_id: id,
            queued: 600,
            next: Some(ReplayCursor { subscription_index: 0, page: None }),
            at,
        },
        ReplayEvent::ReplayProgressed { replay_id: id, queued: 1200, next: None, at },
        ReplayEvent::ReplayCancelled { replay_id: id, at },
        ReplayEvent::ReplayEnded {
            replay_id: id,
            state: ReplayState::Completed,
            queued: 1200,
            delivered: 1150,
            failed: 50,
            reason: None,
            at,
        },
        ReplayEvent::ReplayEnded {
            replay_id: id,
            state: ReplayState::Failed,
            queued: 3,
            delivered: 0,
            failed: 0,
            reason: Some("the subscription was deleted".into()),
            at,
        },
    ] {
        assert_valid("ReplayEvent.json", &event);
    }
}

#[test]
fn schemas_reject_what_is_not_an_event() {
    let mut broken = serde_json::to_value(attempt(Outcome::Success, true)).unwrap();
    broken["outcome"] = "maybe".into();
    let common = jsonschema::Resource::from_contents(load("common.json")).unwrap();
    let validator = jsonschema::options()
        .with_resource(format!("{BASE}common.json"), common)
        .build(&load("AttemptRecorded.json"))
        .unwrap();
    assert!(!validator.is_valid(&broken));
}
