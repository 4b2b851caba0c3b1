//! What one followed record says, read from only the fields the overview needs: a
//! task's payload or an attempt's response body is skipped, never copied. Decoding
//! happens outside the overview's lock; a record that does not decode says nothing.

use chrono::{DateTime, TimeDelta, Utc};
use hookline_domain::{
    topics, AttemptRecorded, EventAccepted, EventId, Outcome, SubscriptionId, TaskAccepted, TaskDeadLettered, TenantId,
};
use hookline_log::Record;
use hookline_routing::Directory;
use serde::Deserialize;

use crate::failing::{AttemptSeen, ERROR_CHARS};
use crate::ring::Happened;

/// The header a dead-letter copy of an undecodable record carries: not a task's dead letter.
const COPY_ERROR_HEADER: &str = "hookline-error";

/// What a record adds: to whose history, and to the failing subscriptions.
pub(crate) struct Observed {
    pub tenant: Option<TenantId>,
    pub happened: Happened,
    pub attempt: Option<AttemptSeen>,
}

#[derive(Deserialize)]
struct EventHead {
    tenant_id: TenantId,
}

#[derive(Deserialize)]
struct TaskHead {
    subscription_id: SubscriptionId,
    #[serde(default)]
    event_id: Option<EventId>,
}

#[derive(Deserialize)]
struct DeadLetterHead {
    task: TaskHead,
}

#[derive(Deserialize)]
struct AttemptHead {
    subscription_id: SubscriptionId,
    outcome: Outcome,
    http_status: Option<u16>,
    error: Option<String>,
    latency_ms: u64,
    attempted_at: DateTime<Utc>,
    task_accepted_at: DateTime<Utc>,
}

pub(crate) fn observe(record: &Record, routing: &Directory) -> Option<Observed> {
    let kind = record.header(topics::EVENT_HEADER)?;
    let observed = |tenant, happened| Some(Observed { tenant, happened, attempt: None });
    match record.topic.as_str() {
        topics::FANOUT if kind == EventAccepted::KIND.as_bytes() => {
            let event: EventHead = serde_json::from_slice(&record.value).ok()?;
            observed(Some(event.tenant_id), Happened::Accepted)
        }
        topics::DELIVERIES if kind == TaskAccepted::KIND.as_bytes() => {
            let task: TaskHead = serde_json::from_slice(&record.value).ok()?;
            // A task of an event sent to a tenant was counted with its event.
            task.event_id.is_none().then_some(())?;
            observed(routing.owner(task.subscription_id), Happened::Accepted)
        }
        topics::DLQ if kind == TaskDeadLettered::KIND.as_bytes() && record.header(COPY_ERROR_HEADER).is_none() => {
            let dead: DeadLetterHead = serde_json::from_slice(&record.value).ok()?;
            observed(routing.owner(dead.task.subscription_id), Happened::DeadLettered)
        }
        topics::ATTEMPTS if kind == AttemptRecorded::KIND.as_bytes() => {
            let attempt: AttemptHead = serde_json::from_slice(&record.value).ok()?;
            Some(attempt_observed(attempt, routing))
        }
        _ => None,
    }
}

fn attempt_observed(attempt: AttemptHead, routing: &Directory) -> Observed {
    let succeeded = attempt.outcome == Outcome::Success;
    let finished =
        attempt.attempted_at + TimeDelta::milliseconds(i64::try_from(attempt.latency_ms).unwrap_or(i64::MAX));
    let end_to_end_ms = succeeded.then(|| (finished - attempt.task_accepted_at).num_milliseconds().max(0) as f64);
    let tenant = routing.owner(attempt.subscription_id);
    Observed {
        tenant: tenant.clone(),
        happened: Happened::Attempt { succeeded, attempt_ms: attempt.latency_ms as f64, end_to_end_ms },
        attempt: Some(AttemptSeen {
            subscription: attempt.subscription_id,
            tenant,
            succeeded,
            at: attempt.attempted_at,
            status: attempt.http_status,
            error: attempt.error.map(|e| e.chars().take(ERROR_CHARS).collect()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use hookline_domain::TaskId;
    use hookline_log::NewRecord;
    use serde_json::value::RawValue;

    use super::*;

    fn read(record: NewRecord) -> Record {
        let NewRecord { topic, key, headers, value } = record;
        Record { topic, partition: 0, offset: 0, timestamp_ms: 0, key, headers, value }
    }

    fn task(event_id: Option<EventId>) -> TaskAccepted {
        TaskAccepted {
            task_id: TaskId::new(),
            subscription_id: SubscriptionId::new(),
            event_type: None,
            accepted_at: Utc::now(),
            payload: RawValue::from_string(r#"{"big":"payload"}"#.into()).unwrap(),
            event_id,
            ordering_key: None,
            trace: None,
        }
    }

    #[test]
    fn each_topic_says_what_happened_and_copies_say_nothing() {
        let routing = Directory::new();
        let webhook = read(hookline_records::task_accepted_record(&task(None)));
        assert_eq!(observe(&webhook, &routing).map(|o| o.happened), Some(Happened::Accepted));
        let of_event = read(hookline_records::task_accepted_record(&task(Some(EventId::new()))));
        assert!(observe(&of_event, &routing).is_none(), "counted with its event");

        let event = EventAccepted {
            event_id: EventId::new(),
            tenant_id: "acme".parse().unwrap(),
            event_type: "order.created".into(),
            accepted_at: Utc::now(),
            idempotency_key: None,
            subscriptions: vec![],
            payload: RawValue::from_string("{}".into()).unwrap(),
            ordering_key: None,
            trace: None,
        };
        let observed = observe(&read(hookline_records::event_accepted_record(&event)), &routing).unwrap();
        assert_eq!((observed.tenant, observed.happened), (Some(event.tenant_id), Happened::Accepted));

        let dead = TaskDeadLettered { task: task(None), attempts: 4, last_error: None, failed_at: Utc::now() };
        let dead =
            read(hookline_records::event_record(topics::DLQ, dead.task.subscription_id, TaskDeadLettered::KIND, &dead));
        assert_eq!(observe(&dead, &routing).map(|o| o.happened), Some(Happened::DeadLettered));
        let mut copy = dead.clone();
        copy.headers.push((COPY_ERROR_HEADER.into(), b"undecodable".to_vec()));
        assert!(observe(&copy, &routing).is_none(), "a copy of an undecodable record is no task's dead letter");

        let accepted_at = Utc::now() - TimeDelta::seconds(3);
        let attempt = AttemptRecorded {
            task_id: TaskId::new(),
            subscription_id: SubscriptionId::new(),
            attempt_number: 2,
            outcome: Outcome::Success,
            http_status: Some(200),
            error: None,
            latency_ms: 120,
            response_body: Some("ok".into()),
            attempted_at: accepted_at + TimeDelta::seconds(2),
            next_attempt_at: None,
            task_accepted_at: accepted_at,
            event_type: None,
            replay_id: None,
        };
        let record = read(hookline_records::event_record(
            topics::ATTEMPTS,
            attempt.subscription_id,
            AttemptRecorded::KIND,
            &attempt,
        ));
        let observed = observe(&record, &routing).unwrap();
        assert_eq!(
            observed.happened,
            Happened::Attempt { succeeded: true, attempt_ms: 120.0, end_to_end_ms: Some(2120.0) }
        );
        assert!(observed.attempt.is_some_and(|seen| seen.succeeded && seen.status == Some(200)));
        let mut undecodable = record;
        undecodable.value = b"{".to_vec();
        assert!(observe(&undecodable, &routing).is_none());
    }
}
