//! Turning a polled record into work: a task and the number of the attempt to make.

use chrono::{DateTime, Utc};
use hookline_domain::{ReplayMark, RetryScheduled, TaskAccepted};
use hookline_log::Record;

/// What a source topic carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    /// `hookline.deliveries`: `TaskAccepted`, due at once, attempt 1.
    FirstAttempts,
    /// A retry tier: `RetryScheduled`, due at its `due_at`.
    RetryTier,
}

/// One attempt to make.
#[derive(Debug)]
pub struct Work {
    pub task: TaskAccepted,
    pub attempt: u32,
    /// When the attempt may be made; `None`: now.
    pub due_at: Option<DateTime<Utc>>,
    /// The replay that queued the attempt (or the one it retries): where to send, and
    /// the replay id its attempt records.
    pub replay: Option<ReplayMark>,
}

/// Decodes a record; `Err` carries why it cannot be worked on.
pub fn decode(kind: SourceKind, record: &Record) -> Result<Work, String> {
    match kind {
        SourceKind::FirstAttempts => serde_json::from_slice::<TaskAccepted>(&record.value)
            .map(|task| Work { task, attempt: 1, due_at: None, replay: None })
            .map_err(|e| format!("not a TaskAccepted: {e}")),
        SourceKind::RetryTier => {
            let retry = serde_json::from_slice::<RetryScheduled>(&record.value)
                .map_err(|e| format!("not a RetryScheduled: {e}"))?;
            // Attempt 1 comes back this way when it was parked for a disabled subscription.
            if retry.attempt < 1 {
                return Err(format!("retry of attempt {} (attempts start at 1)", retry.attempt));
            }
            Ok(Work { task: retry.task, attempt: retry.attempt, due_at: Some(retry.due_at), replay: retry.replay })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(value: &str) -> Record {
        Record {
            topic: "t".into(),
            partition: 0,
            offset: 0,
            timestamp_ms: 0,
            key: Vec::new(),
            headers: Vec::new(),
            value: value.as_bytes().to_vec(),
        }
    }

    const TASK: &str = r#"{"task_id":"0190a5b4-7f43-7cc2-9a3e-2b1f6c8d9e01","subscription_id":"0190a5b4-7f43-7cc2-9a3e-2b1f6c8d9e02","accepted_at":"2024-01-01T00:00:00Z","payload":{"b":1,"a":12345678901234567890123}}"#;

    #[test]
    fn first_attempts_keep_the_raw_payload() {
        let work = decode(SourceKind::FirstAttempts, &record(TASK)).unwrap();
        assert_eq!(work.attempt, 1);
        assert_eq!(work.due_at, None);
        assert_eq!(work.task.payload.get(), r#"{"b":1,"a":12345678901234567890123}"#);
    }

    #[test]
    fn retries_carry_attempt_and_due_time() {
        let value = format!(r#"{{"task":{TASK},"attempt":3,"due_at":"2024-01-01T00:00:30Z"}}"#);
        let work = decode(SourceKind::RetryTier, &record(&value)).unwrap();
        assert_eq!(work.attempt, 3);
        assert_eq!(work.due_at.unwrap().to_rfc3339(), "2024-01-01T00:00:30+00:00");
    }

    #[test]
    fn wrong_shapes_are_refused_with_a_reason() {
        assert!(decode(SourceKind::FirstAttempts, &record("not json")).unwrap_err().contains("TaskAccepted"));
        assert!(decode(SourceKind::RetryTier, &record(TASK)).is_err());
        let zero = format!(r#"{{"task":{TASK},"attempt":0,"due_at":"2024-01-01T00:00:30Z"}}"#);
        assert!(decode(SourceKind::RetryTier, &record(&zero)).unwrap_err().contains("attempt 0"));
        let parked = format!(r#"{{"task":{TASK},"attempt":1,"due_at":"2024-01-01T00:00:30Z"}}"#);
        assert_eq!(decode(SourceKind::RetryTier, &record(&parked)).unwrap().attempt, 1);
    }
}
