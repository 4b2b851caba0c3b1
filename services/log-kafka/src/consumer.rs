//! A consumer of the log on a librdkafka `StreamConsumer`.
//!
//! Cancel safety: librdkafka keeps fetched records in its queue until the stream hands
//! one out, and `poll` has no await point between taking a record from the stream and
//! returning it. The only records held here are the few taken while waiting to join
//! the group (`carried`), returned first.
//!
//! Pause: librdkafka itself discards the records it prefetched for a paused partition
//! and, on resume, fetches again from the record after the last one handed out. A
//! record of a paused partition handed out anyway (pause racing a poll) or carried is
//! dropped here, and resume seeks back to it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use futures::FutureExt;
use hookline_log::{Consumer, ConsumerSpec, LogError, Record, TopicPartition};
use rdkafka::consumer::{CommitMode, Consumer as _, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::util::Timeout;
use tokio::time::Instant;

use crate::events::ConsumerEvents;
use crate::{client_config, errors, KafkaSettings};

/// How long `start` waits for the group to hand out a first assignment.
const JOIN_DEADLINE: Duration = Duration::from_secs(30);
/// How long `start` waits for that when the group is shared: a rebalance may be held up
/// by a member that died (until its session times out), and joining goes on while polling.
const SHARED_JOIN_WAIT: Duration = Duration::from_secs(5);
/// How long `commit` waits for the group coordinator to confirm.
const COMMIT_DEADLINE: Duration = Duration::from_secs(15);

pub(crate) struct KafkaConsumer {
    /// `Option` only so that `Drop` can close it off the async runtime.
    stream: Option<Arc<StreamConsumer<ConsumerEvents>>>,
    /// `false` for a throwaway group (`ConsumerSpec::group == None`): commits are no-ops.
    commits: bool,
    state: Mutex<PollState>,
}

#[derive(Default)]
struct PollState {
    /// Records taken from the stream while joining, not yet returned.
    carried: VecDeque<Record>,
    paused: BTreeSet<TopicPartition>,
    /// For a paused partition, the first record dropped here: resume seeks back to it.
    rewind: BTreeMap<TopicPartition, u64>,
}

impl KafkaConsumer {
    /// Subscribes and waits until the group has handed out a first assignment.
    pub(crate) async fn start(
        settings: &KafkaSettings,
        spec: ConsumerSpec,
        instance_id: Option<String>,
    ) -> Result<Arc<KafkaConsumer>, LogError> {
        let commits = spec.group.is_some();
        let group = spec.group.clone().unwrap_or_else(|| format!("hookline.nogroup.{}", uuid::Uuid::new_v4().simple()));
        let (events, mut joined) = ConsumerEvents::new(group.clone(), spec.start);
        let stream: StreamConsumer<ConsumerEvents> =
            client_config::consumer(settings, &group, spec.start, instance_id.as_deref())
                .create_with_context(events)
                .map_err(|e| LogError::Invalid(format!("kafka consumer settings: {e}")))?;
        let topics: Vec<&str> = spec.topics.iter().map(String::as_str).collect();
        stream.subscribe(&topics).map_err(|e| LogError::Invalid(format!("subscribing to {topics:?}: {e}")))?;
        let consumer = KafkaConsumer { stream: Some(Arc::new(stream)), commits, state: Mutex::default() };

        // Rebalance callbacks run only while the stream is polled, so poll until one has.
        // A throwaway group has this consumer alone and must be assigned before a `Latest`
        // start means anything; a shared group may take longer, and that is no error.
        let deadline = Instant::now() + if commits { SHARED_JOIN_WAIT } else { JOIN_DEADLINE };
        loop {
            tokio::select! {
                biased;
                _ = joined.wait_for(|joined| *joined) => break,
                next = consumer.stream().recv() => match next {
                    Ok(message) => {
                        let record = to_record(&message);
                        consumer.lock().carried.push_back(record);
                    }
                    Err(error) => tracing::warn!(%group, %error, "kafka consumer error while joining"),
                },
                _ = tokio::time::sleep_until(deadline), if commits => {
                    tracing::info!(%group, "kafka consumer still joining its group; going on");
                    break;
                }
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(LogError::Unavailable(format!(
                        "kafka consumer of {topics:?} got no assignment in group {group} within {JOIN_DEADLINE:?}"
                    )));
                }
            }
        }
        Ok(Arc::new(consumer))
    }

    fn stream(&self) -> &Arc<StreamConsumer<ConsumerEvents>> {
        self.stream.as_ref().expect("the stream is taken only on drop")
    }

    fn lock(&self) -> MutexGuard<'_, PollState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Keeps `message` unless its partition is paused (then resume must seek back to it).
    fn admit(&self, message: &BorrowedMessage<'_>, out: &mut Vec<Record>) {
        let record = to_record(message);
        let tp = record.topic_partition();
        let mut state = self.lock();
        if state.paused.contains(&tp) {
            let first = state.rewind.entry(tp).or_insert(record.offset);
            *first = (*first).min(record.offset);
        } else {
            out.push(record);
        }
    }

    /// Takes what the stream has ready, up to `max` records in `out`; returns the last
    /// error met on the way.
    fn take_ready(&self, out: &mut Vec<Record>, max: usize) -> Option<KafkaError> {
        let mut last_error = None;
        while out.len() < max {
            match self.stream().recv().now_or_never() {
                Some(Ok(message)) => self.admit(&message, out),
                Some(Err(error)) => last_error = Some(error),
                None => break,
            }
        }
        last_error
    }

    fn assigned(&self) -> Result<Vec<TopicPartition>, LogError> {
        let assignment = self.stream().assignment().map_err(|e| errors::unavailable("reading the assignment", &e))?;
        Ok(assignment
            .elements()
            .iter()
            .filter_map(|tp| Some(TopicPartition::new(tp.topic(), u32::try_from(tp.partition()).ok()?)))
            .collect())
    }

    fn ensure_assigned(&self, tp: &TopicPartition) -> Result<(), LogError> {
        if self.assigned()?.contains(tp) {
            Ok(())
        } else {
            Err(LogError::Invalid(format!("partition {tp} is not assigned to this consumer")))
        }
    }
}

#[async_trait]
impl Consumer for KafkaConsumer {
    async fn poll(&self, max: usize, timeout: Duration) -> Result<Vec<Record>, LogError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let deadline = Instant::now() + timeout;
        let mut out: Vec<Record> = {
            let mut state = self.lock();
            let take = state.carried.len().min(max);
            state.carried.drain(..take).collect()
        };
        while out.is_empty() {
            match tokio::time::timeout_at(deadline, self.stream().recv()).await {
                Err(_elapsed) => return Ok(out),
                Ok(Ok(message)) => self.admit(&message, &mut out),
                Ok(Err(KafkaError::PartitionEOF(_))) => {}
                Ok(Err(error)) => {
                    // librdkafka queues one error per failed connection attempt: take
                    // the whole backlog now, so that a consumer whose broker came back
                    // returns the records behind it rather than one stale error per poll.
                    let last = self.take_ready(&mut out, max).unwrap_or(error);
                    if out.is_empty() {
                        return Err(errors::unavailable("polling", &last));
                    }
                }
            }
        }
        // Then whatever is ready now, without waiting (and without an await point).
        self.take_ready(&mut out, max);
        Ok(out)
    }

    fn pause(&self, tp: &TopicPartition) -> Result<(), LogError> {
        self.ensure_assigned(tp)?;
        let mut state = self.lock();
        // Under the lock: a record of `tp` taken by a concurrent poll is either returned
        // before this or dropped by `admit` after it.
        self.stream()
            .pause(&one_partition(tp, Offset::Invalid)?)
            .map_err(|e| LogError::Invalid(format!("pausing {tp}: {e}")))?;
        state.paused.insert(tp.clone());
        let PollState { carried, rewind, .. } = &mut *state;
        carried.retain(|record| {
            if record.topic == tp.topic && record.partition == tp.partition {
                let first = rewind.entry(tp.clone()).or_insert(record.offset);
                *first = (*first).min(record.offset);
                false
            } else {
                true
            }
        });
        Ok(())
    }

    fn resume(&self, tp: &TopicPartition) -> Result<(), LogError> {
        self.ensure_assigned(tp)?;
        let mut state = self.lock();
        if let Some(offset) = state.rewind.remove(tp) {
            let offset = i64::try_from(offset).map_err(|_| LogError::Invalid(format!("offset {offset} of {tp}")))?;
            // Seeking while still paused: fetching restarts there once resumed.
            self.stream()
                .seek(&tp.topic, partition_number(tp)?, Offset::Offset(offset), Timeout::After(Duration::ZERO))
                .map_err(|e| errors::unavailable(&format!("seeking {tp} back to {offset}"), &e))?;
        }
        self.stream()
            .resume(&one_partition(tp, Offset::Invalid)?)
            .map_err(|e| LogError::Invalid(format!("resuming {tp}: {e}")))?;
        state.paused.remove(tp);
        Ok(())
    }

    async fn commit(&self, offsets: &[(TopicPartition, u64)]) -> Result<(), LogError> {
        if !self.commits {
            return Ok(());
        }
        let assigned = self.assigned()?;
        let mut tpl = TopicPartitionList::new();
        for (tp, next) in offsets.iter().filter(|(tp, _)| assigned.contains(tp)) {
            let next = i64::try_from(*next).map_err(|_| LogError::Invalid(format!("offset {next} of {tp}")))?;
            tpl.add_partition_offset(&tp.topic, partition_number(tp)?, Offset::Offset(next))
                .map_err(|e| LogError::Invalid(format!("offset {next} of {tp}: {e}")))?;
        }
        if tpl.count() == 0 {
            return Ok(());
        }
        let stream = self.stream().clone();
        // librdkafka's synchronous commit has no deadline of its own (it waits for a
        // coordinator); a commit still pending past ours may land later, which is harmless.
        let committing = tokio::task::spawn_blocking(move || stream.commit(&tpl, CommitMode::Sync));
        tokio::time::timeout(COMMIT_DEADLINE, committing)
            .await
            .map_err(|_| LogError::Unavailable(format!("kafka commit not confirmed within {COMMIT_DEADLINE:?}")))?
            .map_err(|e| LogError::Unavailable(format!("kafka commit task failed: {e}")))?
            .map_err(|e| errors::unavailable("committing", &e))
    }

    fn assignment(&self) -> Vec<TopicPartition> {
        self.assigned().unwrap_or_else(|error| {
            tracing::warn!(%error, "reading the kafka assignment failed");
            Vec::new()
        })
    }
}

impl Drop for KafkaConsumer {
    /// Closing leaves the group (or, with static membership, keeps the member for a
    /// restart); it blocks on the broker, so it runs off the async workers when it can.
    fn drop(&mut self) {
        let Some(stream) = self.stream.take() else { return };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(move || drop(stream))),
            Err(_) => drop(stream),
        }
    }
}

pub(crate) fn to_record(message: &BorrowedMessage<'_>) -> Record {
    let headers = message
        .headers()
        .map(|headers| {
            headers
                .iter()
                .map(|header| (header.key.to_string(), header.value.map(<[u8]>::to_vec).unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    Record {
        topic: message.topic().to_string(),
        // librdkafka hands out only real partitions and offsets (never negative).
        partition: u32::try_from(message.partition()).unwrap_or_default(),
        offset: u64::try_from(message.offset()).unwrap_or_default(),
        timestamp_ms: message.timestamp().to_millis().unwrap_or_default(),
        key: message.key().map(<[u8]>::to_vec).unwrap_or_default(),
        headers,
        value: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
    }
}

fn partition_number(tp: &TopicPartition) -> Result<i32, LogError> {
    i32::try_from(tp.partition).map_err(|_| LogError::Invalid(format!("no partition {tp} in kafka")))
}

pub(crate) fn one_partition(tp: &TopicPartition, offset: Offset) -> Result<TopicPartitionList, LogError> {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&tp.topic, partition_number(tp)?, offset)
        .map_err(|e| LogError::Invalid(format!("partition {tp}: {e}")))?;
    Ok(tpl)
}
