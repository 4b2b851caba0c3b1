//! Cases about consumer groups: committed offsets, start positions, independence.

use std::sync::Arc;
use std::time::Duration;

use super::{append, assert_nothing_within, consumer, new_topic, poll_until, record, unique, values};
use crate::{EventLog, StartFrom, TopicPartition};

/// A new consumer of a group starts right after the group's committed offset.
pub async fn group_resumes_after_commit(log: Arc<dyn EventLog>) {
    let topic = new_topic(&log, "resume", 1).await;
    let group = unique("resume");
    append(&log, (0..10).map(|i| record(&topic, b"k", format!("v{i}").as_bytes())).collect(), "resume").await;
    let first = consumer(&log, Some(&group), &topic, StartFrom::Earliest).await;
    let got = poll_until(first.as_ref(), 10, "resume: first consumer").await;
    assert_eq!(values(&got), (0..10).map(|i| format!("v{i}")).collect::<Vec<_>>(), "resume: first consumer");
    // Done with v0..=v5 only.
    let done = &got[5];
    first
        .commit(&[(done.topic_partition(), done.offset + 1)])
        .await
        .unwrap_or_else(|e| panic!("resume: commit failed: {e}"));
    drop(first);
    append(&log, (10..12).map(|i| record(&topic, b"k", format!("v{i}").as_bytes())).collect(), "resume").await;
    let second = consumer(&log, Some(&group), &topic, StartFrom::Earliest).await;
    let resumed = poll_until(second.as_ref(), 6, "resume: second consumer").await;
    assert_eq!(
        values(&resumed),
        (6..12).map(|i| format!("v{i}")).collect::<Vec<_>>(),
        "resume: a new consumer must start right after the committed offset"
    );
}

/// Without a committed offset, Earliest starts at the first record and Latest at the end.
pub async fn earliest_and_latest(log: Arc<dyn EventLog>) {
    let topic = new_topic(&log, "start", 2).await;
    append(&log, vec![record(&topic, b"k", b"before")], "start").await;
    let earliest = consumer(&log, Some(&unique("earliest")), &topic, StartFrom::Earliest).await;
    let latest = consumer(&log, Some(&unique("latest")), &topic, StartFrom::Latest).await;
    assert_nothing_within(latest.as_ref(), Duration::from_millis(500), "start: Latest before any new record").await;
    append(&log, vec![record(&topic, b"k", b"after")], "start").await;
    let from_earliest = poll_until(earliest.as_ref(), 2, "start: Earliest").await;
    assert_eq!(values(&from_earliest), ["before", "after"], "start: Earliest reads from the first record");
    let from_latest = poll_until(latest.as_ref(), 1, "start: Latest").await;
    assert_eq!(values(&from_latest), ["after"], "start: Latest reads only records appended after it started");
}

/// Without a group, commits are no-ops and every consumer starts from `start`.
pub async fn no_group_reads_without_commits(log: Arc<dyn EventLog>) {
    let topic = new_topic(&log, "no-group", 2).await;
    append(&log, (0..5).map(|i| record(&topic, format!("k{i}").as_bytes(), b"v")).collect(), "no_group").await;
    let first = consumer(&log, None, &topic, StartFrom::Earliest).await;
    let got = poll_until(first.as_ref(), 5, "no_group: first").await;
    let offsets: Vec<(TopicPartition, u64)> = got.iter().map(|r| (r.topic_partition(), r.offset + 1)).collect();
    first.commit(&offsets).await.unwrap_or_else(|e| panic!("no_group: commit must be a no-op, got {e}"));
    // A second consumer without group may run beside the first.
    let second = consumer(&log, None, &topic, StartFrom::Earliest).await;
    let again = poll_until(second.as_ref(), 5, "no_group: second").await;
    assert_eq!(again.len(), 5, "no_group: a consumer without group must not see another's commits");
    let mut assignment = second.assignment();
    assignment.sort();
    assert_eq!(assignment, [TopicPartition::new(&topic, 0), TopicPartition::new(&topic, 1)], "no_group: assignment");
}

/// Two groups read the same records, each at its own pace and with its own commits.
pub async fn groups_are_independent(log: Arc<dyn EventLog>) {
    let topic = new_topic(&log, "independent", 1).await;
    let (group_a, group_b) = (unique("independent-a"), unique("independent-b"));
    append(&log, (0..4).map(|i| record(&topic, b"k", format!("v{i}").as_bytes())).collect(), "independent").await;
    let a = consumer(&log, Some(&group_a), &topic, StartFrom::Earliest).await;
    let read_a = poll_until(a.as_ref(), 4, "independent: group a").await;
    let last = read_a.last().expect("four records");
    a.commit(&[(last.topic_partition(), last.offset + 1)]).await.unwrap_or_else(|e| panic!("independent: {e}"));
    let b = consumer(&log, Some(&group_b), &topic, StartFrom::Earliest).await;
    let read_b = poll_until(b.as_ref(), 4, "independent: group b").await;
    assert_eq!(values(&read_b), values(&read_a), "independent: group b must read everything despite a's commit");
    drop(a);
    let a_again = consumer(&log, Some(&group_a), &topic, StartFrom::Earliest).await;
    assert_nothing_within(a_again.as_ref(), Duration::from_millis(500), "independent: group a after its commit").await;
}

/// Any process may read how far a group has committed in a topic, without joining it.
pub async fn committed_offsets_are_readable(log: Arc<dyn EventLog>) {
    let topic = new_topic(&log, "committed", 2).await;
    let group = unique("committed");
    let never = log.committed_offsets(&group, &topic).await.unwrap_or_else(|e| panic!("committed: {e}"));
    assert_eq!(never, [], "committed: a group that never committed has no offsets");
    append(&log, (0..6).map(|i| record(&topic, format!("k{i}").as_bytes(), b"v")).collect(), "committed").await;
    let member = consumer(&log, Some(&group), &topic, StartFrom::Earliest).await;
    let got = poll_until(member.as_ref(), 6, "committed: member").await;
    let first = &got[0];
    member.commit(&[(first.topic_partition(), first.offset + 1)]).await.unwrap_or_else(|e| panic!("committed: {e}"));
    let read = log.committed_offsets(&group, &topic).await.unwrap_or_else(|e| panic!("committed: {e}"));
    assert_eq!(
        read,
        [(first.partition, first.offset + 1)],
        "committed: the partition committed, at the next offset to read; the other has none"
    );
    // Reading did not join the group: its member still holds every partition.
    let mut assignment = member.assignment();
    assignment.sort();
    assert_eq!(assignment, [TopicPartition::new(&topic, 0), TopicPartition::new(&topic, 1)], "committed: assignment");
    let other = log.committed_offsets(&unique("committed-other"), &topic).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(other, [], "committed: another group's commits are its own");
}
