//! What the roles' consumer groups are doing, learnt by watching them through the log
//! port rather than by changing the roles: [`ObservedLog`] wraps the log, and every
//! grouped consumer it hands out reports to the [`ConsumerBook`] its assignment, its
//! commits, its polls and its paused partitions.
//!
//! Position of a partition (where the group still has work): the last offset this
//! process committed; before any commit, the offset of the first record polled (a
//! consumer resumes at its group's committed offset, so that record is exactly it);
//! for a partition that returned nothing while others were drained, its end offset at
//! that moment, marked as an estimate that the first record polled later corrects.
//! A partition whose position is not known yet has no lag sample.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use async_trait::async_trait;
use hookline_log::{
    Appended, Consumer, ConsumerSpec, EventLog, LogError, NewRecord, Record, TopicPartition, TopicSpec,
};

/// The consumer groups of this process, and its followers that read topics without a
/// group (such as the routing directory).
#[derive(Default)]
pub struct ConsumerBook {
    groups: Mutex<BTreeMap<String, GroupEntry>>,
    followers: Mutex<Vec<Follower>>,
}

/// A follower readiness waits for: its name, and whether it has caught up.
struct Follower {
    name: String,
    caught_up: Box<dyn Fn() -> bool + Send + Sync>,
}

#[derive(Default)]
struct GroupEntry {
    /// Readiness waits for this group.
    expected: bool,
    /// The group's latest consumer in this process.
    tracked: Option<Arc<Tracked>>,
}

/// One grouped consumer as the book sees it.
pub(crate) struct Tracked {
    pub group: String,
    pub topics: Vec<String>,
    /// Weak: the role owns its consumer, and dropping it must leave the group.
    consumer: Weak<dyn Consumer>,
    state: Mutex<TrackState>,
    estimating: AtomicBool,
}

#[derive(Default)]
struct TrackState {
    positions: HashMap<TopicPartition, Position>,
    paused: BTreeSet<TopicPartition>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Position {
    next: u64,
    /// Read from the end offset while the partition was idle: the first record polled corrects it.
    estimated: bool,
}

/// A consumer group's partitions and, where known, its position in each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupProgress {
    pub group: String,
    pub topics: Vec<String>,
    /// Assigned partitions and the next offset the group has to finish there, if known.
    pub partitions: Vec<(TopicPartition, Option<u64>)>,
}

impl ConsumerBook {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Declares a group a role of this process is going to consume with, so that
    /// readiness waits for its consumer to exist and have partitions.
    pub fn expect(&self, group: &str) {
        self.lock().entry(group.to_string()).or_default().expected = true;
    }

    /// Declares a follower (a reader of topics without a group, whose answers are only
    /// complete once it has read as far as its topics reached when it started), so that
    /// readiness waits until `caught_up` says it has.
    pub fn expect_follower(&self, name: &str, caught_up: impl Fn() -> bool + Send + Sync + 'static) {
        let follower = Follower { name: name.to_string(), caught_up: Box::new(caught_up) };
        self.followers.lock().unwrap_or_else(PoisonError::into_inner).push(follower);
    }

    /// Why the expected groups are not all consuming, or the expected followers have not
    /// all caught up; empty when they are and have.
    pub fn problems(&self) -> Vec<String> {
        let mut problems: Vec<String> = self
            .followers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|follower| !(follower.caught_up)())
            .map(|follower| format!("{} has not caught up with the log yet", follower.name))
            .collect();
        let groups = self.lock();
        for (group, entry) in groups.iter().filter(|(_, entry)| entry.expected) {
            let consumer = entry.tracked.as_ref().and_then(|tracked| tracked.consumer.upgrade());
            match consumer {
                None => problems.push(format!("consumer group {group} is not running")),
                Some(consumer) if consumer.assignment().is_empty() => {
                    problems.push(format!("consumer group {group} has no partitions assigned"))
                }
                Some(_) => {}
            }
        }
        problems
    }

    /// The live groups, with their assigned partitions and known positions. Positions
    /// of partitions no longer assigned are forgotten (another member may move them).
    pub fn progress(&self) -> Vec<GroupProgress> {
        let tracked: Vec<Arc<Tracked>> = self.lock().values().filter_map(|entry| entry.tracked.clone()).collect();
        tracked
            .into_iter()
            .filter_map(|tracked| {
                let assignment = tracked.consumer.upgrade()?.assignment();
                let mut state = tracked.lock();
                state.positions.retain(|tp, _| assignment.contains(tp));
                let partitions =
                    assignment.into_iter().map(|tp| (tp.clone(), state.positions.get(&tp).map(|p| p.next))).collect();
                Some(GroupProgress { group: tracked.group.clone(), topics: tracked.topics.clone(), partitions })
            })
            .collect()
    }

    fn track(&self, tracked: Arc<Tracked>) {
        let group = tracked.group.clone();
        self.lock().entry(group).or_default().tracked = Some(tracked);
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, GroupEntry>> {
        self.groups.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Tracked {
    fn lock(&self) -> MutexGuard<'_, TrackState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes a poll's records. Returns the assigned, unpaused partitions still without a
    /// position that this poll left out, when it drained every partition (fewer records
    /// than asked for): those were at their end.
    fn polled(&self, records: &[Record], max: usize, assignment: Vec<TopicPartition>) -> Vec<TopicPartition> {
        let mut state = self.lock();
        let mut seen = BTreeSet::new();
        for record in records {
            let tp = record.topic_partition();
            if !seen.insert(tp.clone()) {
                continue;
            }
            let position = state.positions.entry(tp).or_insert(Position { next: record.offset, estimated: false });
            if position.estimated {
                // The first record after an estimate is exactly where the consumer was.
                *position = Position { next: position.next.min(record.offset), estimated: false };
            }
        }
        if records.len() >= max {
            return Vec::new();
        }
        assignment
            .into_iter()
            .filter(|tp| !seen.contains(tp) && !state.paused.contains(tp) && !state.positions.contains_key(tp))
            .collect()
    }

    fn estimated(&self, tp: TopicPartition, end: u64) {
        self.lock().positions.entry(tp).or_insert(Position { next: end, estimated: true });
    }

    fn committed(&self, offsets: &[(TopicPartition, u64)]) {
        let mut state = self.lock();
        for (tp, offset) in offsets {
            let position = state.positions.entry(tp.clone()).or_insert(Position { next: *offset, estimated: false });
            let next = if position.estimated { *offset } else { position.next.max(*offset) };
            *position = Position { next, estimated: false };
        }
    }
}

/// The log, with every grouped consumer reporting to a [`ConsumerBook`].
pub struct ObservedLog {
    inner: Arc<dyn EventLog>,
    book: Arc<ConsumerBook>,
}

impl ObservedLog {
    pub fn wrap(inner: Arc<dyn EventLog>, book: Arc<ConsumerBook>) -> Arc<dyn EventLog> {
        Arc::new(Self { inner, book })
    }
}

#[async_trait]
impl EventLog for ObservedLog {
    async fn ensure_topics(&self, topics: &[TopicSpec]) -> Result<(), LogError> {
        self.inner.ensure_topics(topics).await
    }

    async fn missing_topics(&self, topics: &[String]) -> Result<Vec<String>, LogError> {
        self.inner.missing_topics(topics).await
    }

    async fn append(&self, records: Vec<NewRecord>) -> Result<Vec<Appended>, LogError> {
        self.inner.append(records).await
    }

    async fn consumer(&self, spec: ConsumerSpec) -> Result<Arc<dyn Consumer>, LogError> {
        let Some(group) = spec.group.clone() else {
            // Without a group there is nothing committed and no lag to speak of.
            return self.inner.consumer(spec).await;
        };
        let topics = spec.topics.clone();
        let inner = self.inner.consumer(spec).await?;
        let tracked = Arc::new(Tracked {
            group,
            topics,
            consumer: Arc::downgrade(&inner),
            state: Mutex::new(TrackState::default()),
            estimating: AtomicBool::new(false),
        });
        self.book.track(tracked.clone());
        Ok(Arc::new(ObservedConsumer { inner, tracked, log: self.inner.clone() }))
    }

    async fn end_offsets(&self, topic: &str) -> Result<Vec<(u32, u64)>, LogError> {
        self.inner.end_offsets(topic).await
    }

    async fn committed_offsets(&self, group: &str, topic: &str) -> Result<Vec<(u32, u64)>, LogError> {
        self.inner.committed_offsets(group, topic).await
    }

    async fn retention(&self, topic: &str) -> Result<Option<Duration>, LogError> {
        self.inner.retention(topic).await
    }

    async fn read(&self, tp: &TopicPartition, offset: u64) -> Result<Option<Record>, LogError> {
        self.inner.read(tp, offset).await
    }

    fn max_record_bytes(&self) -> usize {
        self.inner.max_record_bytes()
    }

    fn record_bytes(&self, record: &NewRecord) -> usize {
        self.inner.record_bytes(record)
    }
}

struct ObservedConsumer {
    inner: Arc<dyn Consumer>,
    tracked: Arc<Tracked>,
    log: Arc<dyn EventLog>,
}

impl ObservedConsumer {
    /// Reads the end offsets of idle partitions in a task of its own, so that `poll`
    /// stays cancel-safe (it returns as soon as the inner poll does).
    fn estimate(&self, idle: Vec<TopicPartition>) {
        if idle.is_empty() || self.tracked.estimating.swap(true, Ordering::AcqRel) {
            return;
        }
        let (tracked, log) = (self.tracked.clone(), self.log.clone());
        tokio::spawn(async move {
            let topics: BTreeSet<&str> = idle.iter().map(|tp| tp.topic.as_str()).collect();
            for topic in topics {
                match log.end_offsets(topic).await {
                    Ok(ends) => {
                        for tp in idle.iter().filter(|tp| tp.topic == topic) {
                            if let Some((_, end)) = ends.iter().find(|(partition, _)| *partition == tp.partition) {
                                tracked.estimated(tp.clone(), *end);
                            }
                        }
                    }
                    Err(e) => tracing::debug!(topic, error = %e, "end offsets for lag unavailable"),
                }
            }
            tracked.estimating.store(false, Ordering::Release);
        });
    }
}

#[async_trait]
impl Consumer for ObservedConsumer {
    async fn poll(&self, max: usize, timeout: Duration) -> Result<Vec<Record>, LogError> {
        let records = self.inner.poll(max, timeout).await?;
        let idle = self.tracked.polled(&records, max, self.inner.assignment());
        self.estimate(idle);
        Ok(records)
    }

    fn pause(&self, tp: &TopicPartition) -> Result<(), LogError> {
        self.inner.pause(tp)?;
        self.tracked.lock().paused.insert(tp.clone());
        Ok(())
    }

    fn resume(&self, tp: &TopicPartition) -> Result<(), LogError> {
        self.inner.resume(tp)?;
        self.tracked.lock().paused.remove(tp);
        Ok(())
    }

    async fn commit(&self, offsets: &[(TopicPartition, u64)]) -> Result<(), LogError> {
        self.inner.commit(offsets).await?;
        self.tracked.committed(offsets);
        Ok(())
    }

    fn assignment(&self) -> Vec<TopicPartition> {
        self.inner.assignment()
    }
}
