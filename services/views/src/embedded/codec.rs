//! A compact binary encoding of the hot rows (tasks with their payload positions,
//! attempts, events) and of the time a token was last used.
//!
//! JSON spent a third of `apply` on field names, UUID text and RFC 3339 dates, and
//! tripled the bytes written per commit. Here ids are 16 raw bytes, times are
//! seconds + nanoseconds (exact), strings and options carry a length or a flag.
//! Each value starts with a format version. Destructuring every field means that a
//! field added to a domain type fails to compile here until it is encoded.

use chrono::{DateTime, Utc};
use hookline_domain::task::LastAttempt;
use hookline_domain::{
    AttemptRecorded, EventId, LogPosition, Outcome, ReplayId, SubscriptionId, TaskId, TaskView, TenantId,
};

use super::error::EmbeddedError;
use super::stored::{PayloadAt, StoredTask};
use crate::EventView;

const VERSION: u8 = 1;
/// Task rows of this format hold the replay of the last attempt; those of format 1,
/// written before replays, do not.
const TASK_VERSION: u8 = 2;

/// A task, then where its payload is, if known (rows written before positions were
/// kept end after the task).
pub(super) fn encode_task(task: &StoredTask, out: &mut Vec<u8>) {
    let StoredTask { view, payload } = task;
    let TaskView { task_id, subscription_id, event_type, created_at, last_attempt } = view;
    out.push(TASK_VERSION);
    out.extend_from_slice(task_id.as_bytes());
    out.extend_from_slice(subscription_id.as_bytes());
    put_opt_str(out, event_type.as_deref());
    put_time(out, *created_at);
    match last_attempt {
        None => out.push(0),
        Some(LastAttempt { number, outcome, at, http_status, error, next_attempt_at, replay_id }) => {
            out.push(1);
            out.extend_from_slice(&number.to_be_bytes());
            out.push(outcome_tag(*outcome));
            put_time(out, *at);
            put_opt_status(out, *http_status);
            put_opt_str(out, error.as_deref());
            put_opt_time(out, *next_attempt_at);
            out.push(u8::from(replay_id.is_some()));
            if let Some(replay) = replay_id {
                out.extend_from_slice(replay.as_bytes());
            }
        }
    }
    if let Some(PayloadAt { since, position: LogPosition { topic, partition, offset } }) = payload {
        out.push(1);
        put_time(out, *since);
        out.extend_from_slice(&partition.to_be_bytes());
        out.extend_from_slice(&offset.to_be_bytes());
        put_opt_str(out, Some(topic));
    }
}

pub(super) fn decode_task(bytes: &[u8]) -> Result<StoredTask, EmbeddedError> {
    let (mut r, version) = Reader::of_versions(bytes, &[VERSION, TASK_VERSION])?;
    let view = TaskView {
        task_id: TaskId::from_bytes(r.array()?),
        subscription_id: SubscriptionId::from_bytes(r.array()?),
        event_type: r.opt_str()?,
        created_at: r.time()?,
        last_attempt: match r.flag()? {
            false => None,
            true => Some(LastAttempt {
                number: u32::from_be_bytes(r.array()?),
                outcome: r.outcome()?,
                at: r.time()?,
                http_status: r.opt_status()?,
                error: r.opt_str()?,
                next_attempt_at: r.opt_time()?,
                replay_id: match version {
                    VERSION => None,
                    _ => r.flag()?.then(|| r.array().map(ReplayId::from_bytes)).transpose()?,
                },
            }),
        },
    };
    let payload = match r.rest.is_empty() {
        true => None,
        false => {
            if !r.flag()? {
                return Err(corrupt("payload position flag"));
            }
            let since = r.time()?;
            let partition = u32::from_be_bytes(r.array()?);
            let offset = u64::from_be_bytes(r.array()?);
            let topic = r.opt_str()?.ok_or_else(|| corrupt("payload position without a topic"))?;
            Some(PayloadAt { since, position: LogPosition { topic, partition, offset } })
        }
    };
    r.finish(StoredTask { view, payload })
}

pub(super) fn encode_attempt(attempt: &AttemptRecorded, out: &mut Vec<u8>) {
    let AttemptRecorded {
        task_id,
        subscription_id,
        attempt_number,
        outcome,
        http_status,
        error,
        latency_ms,
        response_body,
        attempted_at,
        next_attempt_at,
        task_accepted_at,
        event_type,
        replay_id,
    } = attempt;
    out.push(VERSION);
    out.extend_from_slice(task_id.as_bytes());
    out.extend_from_slice(subscription_id.as_bytes());
    out.extend_from_slice(&attempt_number.to_be_bytes());
    out.push(outcome_tag(*outcome));
    put_opt_status(out, *http_status);
    put_opt_str(out, error.as_deref());
    out.extend_from_slice(&latency_ms.to_be_bytes());
    put_opt_str(out, response_body.as_deref());
    put_time(out, *attempted_at);
    put_opt_time(out, *next_attempt_at);
    put_time(out, *task_accepted_at);
    put_opt_str(out, event_type.as_deref());
    // Came later: absent (no bytes left) in attempts stored before replays.
    if let Some(replay) = replay_id {
        out.extend_from_slice(replay.as_bytes());
    }
}

pub(super) fn decode_attempt(bytes: &[u8]) -> Result<AttemptRecorded, EmbeddedError> {
    let mut r = Reader::new(bytes)?;
    let attempt = AttemptRecorded {
        task_id: TaskId::from_bytes(r.array()?),
        subscription_id: SubscriptionId::from_bytes(r.array()?),
        attempt_number: u32::from_be_bytes(r.array()?),
        outcome: r.outcome()?,
        http_status: r.opt_status()?,
        error: r.opt_str()?,
        latency_ms: u64::from_be_bytes(r.array()?),
        response_body: r.opt_str()?,
        attempted_at: r.time()?,
        next_attempt_at: r.opt_time()?,
        task_accepted_at: r.time()?,
        event_type: r.opt_str()?,
        replay_id: None,
    };
    let replay_id = match r.rest.is_empty() {
        true => None,
        false => Some(ReplayId::from_bytes(r.array()?)),
    };
    r.finish(AttemptRecorded { replay_id, ..attempt })
}

/// An event, without payload (the log holds it).
pub(super) fn encode_event(event: &EventView, out: &mut Vec<u8>) {
    let EventView { event_id, tenant_id, event_type, accepted_at, idempotency_key, subscriptions, payload_at } = event;
    out.push(VERSION);
    out.extend_from_slice(event_id.as_bytes());
    put_opt_str(out, Some(tenant_id.as_str()));
    put_opt_str(out, Some(event_type));
    put_time(out, *accepted_at);
    put_opt_str(out, idempotency_key.as_deref());
    // An event goes to the tenant's subscriptions, far fewer than 4 billion.
    out.extend_from_slice(&u32::try_from(subscriptions.len()).unwrap_or(u32::MAX).to_be_bytes());
    for subscription in subscriptions {
        out.extend_from_slice(subscription.as_bytes());
    }
    let LogPosition { topic, partition, offset } = payload_at;
    put_opt_str(out, Some(topic));
    out.extend_from_slice(&partition.to_be_bytes());
    out.extend_from_slice(&offset.to_be_bytes());
}

pub(super) fn decode_event(bytes: &[u8]) -> Result<EventView, EmbeddedError> {
    let mut r = Reader::new(bytes)?;
    let event_id = EventId::from_bytes(r.array()?);
    let tenant = r.opt_str()?.ok_or_else(|| corrupt("event without a tenant"))?;
    let tenant_id = TenantId::parse(&tenant).map_err(|e| corrupt(&format!("event tenant: {e}")))?;
    let event_type = r.opt_str()?.ok_or_else(|| corrupt("event without a type"))?;
    let accepted_at = r.time()?;
    let idempotency_key = r.opt_str()?;
    let count = u32::from_be_bytes(r.array()?) as usize;
    // Each takes 16 bytes: a count the row cannot hold is refused before allocating.
    if r.rest.len() < count.saturating_mul(16) {
        return Err(corrupt("row ends early"));
    }
    let subscriptions = (0..count).map(|_| r.array().map(SubscriptionId::from_bytes)).collect::<Result<_, _>>()?;
    let topic = r.opt_str()?.ok_or_else(|| corrupt("event position without a topic"))?;
    let partition = u32::from_be_bytes(r.array()?);
    let offset = u64::from_be_bytes(r.array()?);
    let payload_at = LogPosition { topic, partition, offset };
    r.finish(EventView { event_id, tenant_id, event_type, accepted_at, idempotency_key, subscriptions, payload_at })
}

/// A time on its own (when a token was last used).
pub(super) fn encode_time(at: DateTime<Utc>) -> Vec<u8> {
    let mut out = vec![VERSION];
    put_time(&mut out, at);
    out
}

pub(super) fn decode_time(bytes: &[u8]) -> Result<DateTime<Utc>, EmbeddedError> {
    let mut r = Reader::new(bytes)?;
    let at = r.time()?;
    r.finish(at)
}

fn outcome_tag(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Success => 0,
        Outcome::FailedAttempt => 1,
        Outcome::PermanentlyFailed => 2,
    }
}

fn put_time(out: &mut Vec<u8>, at: DateTime<Utc>) {
    out.extend_from_slice(&at.timestamp().to_be_bytes());
    out.extend_from_slice(&at.timestamp_subsec_nanos().to_be_bytes());
}

fn put_opt_time(out: &mut Vec<u8>, at: Option<DateTime<Utc>>) {
    out.push(u8::from(at.is_some()));
    if let Some(at) = at {
        put_time(out, at);
    }
}

fn put_opt_status(out: &mut Vec<u8>, status: Option<u16>) {
    out.push(u8::from(status.is_some()));
    if let Some(status) = status {
        out.extend_from_slice(&status.to_be_bytes());
    }
}

fn put_opt_str(out: &mut Vec<u8>, text: Option<&str>) {
    out.push(u8::from(text.is_some()));
    if let Some(text) = text {
        // Strings come from bounded fields (response bodies are capped well below 4 GiB).
        let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&text.as_bytes()[..len as usize]);
    }
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Result<Self, EmbeddedError> {
        Self::of_versions(bytes, &[VERSION]).map(|(reader, _)| reader)
    }

    /// A reader of a row in one of `versions`, and the row's version.
    fn of_versions(bytes: &'a [u8], versions: &[u8]) -> Result<(Self, u8), EmbeddedError> {
        match bytes.split_first() {
            Some((version, rest)) if versions.contains(version) => Ok((Self { rest }, *version)),
            Some((version, _)) => Err(corrupt(&format!("unknown row format {version}"))),
            None => Err(corrupt("empty row")),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], EmbeddedError> {
        if self.rest.len() < n {
            return Err(corrupt("row ends early"));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], EmbeddedError> {
        let mut array = [0; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    fn flag(&mut self) -> Result<bool, EmbeddedError> {
        match self.array::<1>()? {
            [0] => Ok(false),
            [1] => Ok(true),
            [other] => Err(corrupt(&format!("flag {other}"))),
        }
    }

    fn outcome(&mut self) -> Result<Outcome, EmbeddedError> {
        match self.array::<1>()? {
            [0] => Ok(Outcome::Success),
            [1] => Ok(Outcome::FailedAttempt),
            [2] => Ok(Outcome::PermanentlyFailed),
            [other] => Err(corrupt(&format!("outcome {other}"))),
        }
    }

    fn time(&mut self) -> Result<DateTime<Utc>, EmbeddedError> {
        let secs = i64::from_be_bytes(self.array()?);
        let nanos = u32::from_be_bytes(self.array()?);
        DateTime::from_timestamp(secs, nanos).ok_or_else(|| corrupt("time out of range"))
    }

    fn opt_time(&mut self) -> Result<Option<DateTime<Utc>>, EmbeddedError> {
        self.flag()?.then(|| self.time()).transpose()
    }

    fn opt_status(&mut self) -> Result<Option<u16>, EmbeddedError> {
        self.flag()?.then(|| self.array().map(u16::from_be_bytes)).transpose()
    }

    fn opt_str(&mut self) -> Result<Option<String>, EmbeddedError> {
        if !self.flag()? {
            return Ok(None);
        }
        let len = u32::from_be_bytes(self.array()?) as usize;
        let bytes = self.take(len)?;
        let text = std::str::from_utf8(bytes).map_err(|_| corrupt("string is not UTF-8"))?;
        Ok(Some(text.to_string()))
    }

    fn finish<T>(self, value: T) -> Result<T, EmbeddedError> {
        if self.rest.is_empty() {
            Ok(value)
        } else {
            Err(corrupt("trailing bytes"))
        }
    }
}

fn corrupt(what: &str) -> EmbeddedError {
    EmbeddedError::Corrupt(format!("row: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(outcome: Outcome, optional: bool) -> AttemptRecorded {
        let at = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap();
        AttemptRecorded {
            task_id: TaskId::new(),
            subscription_id: SubscriptionId::new(),
            attempt_number: 3,
            outcome,
            http_status: optional.then_some(503),
            error: optional.then(|| "boom é".to_string()),
            latency_ms: 17,
            response_body: optional.then(|| "{\"a\":1}".to_string()),
            attempted_at: at,
            next_attempt_at: optional.then_some(at + chrono::TimeDelta::seconds(30)),
            task_accepted_at: DateTime::from_timestamp(-5, 1).unwrap(),
            event_type: optional.then(|| "order.created".to_string()),
            replay_id: optional.then(ReplayId::new),
        }
    }

    #[test]
    fn attempts_and_tasks_round_trip_exactly() {
        for outcome in [Outcome::Success, Outcome::FailedAttempt, Outcome::PermanentlyFailed] {
            for optional in [true, false] {
                let a = attempt(outcome, optional);
                let mut bytes = Vec::new();
                encode_attempt(&a, &mut bytes);
                assert_eq!(decode_attempt(&bytes).unwrap(), a);

                let position = LogPosition { topic: "hookline.dlq".into(), partition: 3, offset: u64::MAX - 7 };
                let payload = optional.then_some(PayloadAt { since: a.attempted_at, position });
                for view in [TaskView::from_attempt(&a), TaskView { last_attempt: None, ..TaskView::from_attempt(&a) }]
                {
                    let task = StoredTask { view, payload: payload.clone() };
                    let mut bytes = Vec::new();
                    encode_task(&task, &mut bytes);
                    assert_eq!(decode_task(&bytes).unwrap(), task);
                }
            }
        }
    }

    fn event(optional: bool) -> EventView {
        EventView {
            event_id: EventId::new(),
            tenant_id: TenantId::parse("acme_1").unwrap(),
            event_type: "order.créé".into(),
            accepted_at: DateTime::from_timestamp(-3, 999_999_999).unwrap(),
            idempotency_key: optional.then(|| "key-1".to_string()),
            subscriptions: if optional { vec![SubscriptionId::new(), SubscriptionId::new()] } else { Vec::new() },
            payload_at: LogPosition { topic: "hookline.fanout".into(), partition: 7, offset: u64::MAX - 1 },
        }
    }

    #[test]
    fn task_rows_of_before_replays_still_decode() {
        let a = AttemptRecorded { replay_id: None, ..attempt(Outcome::Success, true) };
        let task = StoredTask { view: TaskView::from_attempt(&a), payload: None };
        let mut bytes = Vec::new();
        encode_task(&task, &mut bytes);
        // Format 1 ends the last attempt without the replay flag (here the last byte).
        assert_eq!(bytes.pop(), Some(0));
        bytes[0] = 1;
        assert_eq!(decode_task(&bytes).unwrap(), task);
    }

    #[test]
    fn events_and_times_round_trip_exactly_and_damage_is_corrupt() {
        for optional in [true, false] {
            let e = event(optional);
            let mut bytes = Vec::new();
            encode_event(&e, &mut bytes);
            assert_eq!(decode_event(&bytes).unwrap(), e);
            for cut in 0..bytes.len() {
                assert!(decode_event(&bytes[..cut]).is_err(), "an event row cut at {cut} must not decode");
            }
        }
        let at = DateTime::from_timestamp(1_700_000_000, 5).unwrap();
        assert_eq!(decode_time(&encode_time(at)).unwrap(), at);
        assert!(decode_time(&encode_time(at)[..5]).is_err());
    }

    #[test]
    fn damaged_rows_are_corrupt_not_panics() {
        let mut bytes = Vec::new();
        let replayed = attempt(Outcome::Success, true);
        encode_attempt(&replayed, &mut bytes);
        // The replay id is the optional last field: without it, a row of before replays.
        let without_replay = bytes.len() - 16;
        for cut in (0..bytes.len()).filter(|&cut| cut != without_replay) {
            assert!(decode_attempt(&bytes[..cut]).is_err(), "a row cut at {cut} must not decode");
        }
        assert_eq!(decode_attempt(&bytes[..without_replay]).unwrap(), AttemptRecorded { replay_id: None, ..replayed });
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_attempt(&longer).is_err());
        bytes[0] = 9;
        assert!(decode_attempt(&bytes).is_err());

        let a = attempt(Outcome::FailedAttempt, true);
        let position = LogPosition { topic: "hookline.deliveries".into(), partition: 1, offset: 2 };
        let task = StoredTask {
            view: TaskView::from_attempt(&a),
            payload: Some(PayloadAt { since: a.task_accepted_at, position }),
        };
        let mut bytes = Vec::new();
        encode_task(&task, &mut bytes);
        let without_position = {
            let mut old = Vec::new();
            encode_task(&StoredTask { payload: None, ..task.clone() }, &mut old);
            old.len()
        };
        for cut in (0..bytes.len()).filter(|&cut| cut != without_position) {
            assert!(decode_task(&bytes[..cut]).is_err(), "a task row cut at {cut} must not decode");
        }
        assert_eq!(decode_task(&bytes[..without_position]).unwrap().payload, None, "a row of before positions");
    }
}
