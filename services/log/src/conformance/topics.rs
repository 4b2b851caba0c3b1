//! Cases about topics: creation, unknown topics, end offsets.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::{append, new_topic, record, unique};
use crate::{EventLog, LogError, TopicSpec};

/// `missing_topics` names the missing ones, `ensure_topics` creates them once and leaves
/// existing topics as they are, appending to an unknown topic fails with `UnknownTopic`.
pub async fn topic_management(log: Arc<dyn EventLog>) {
    let (a, b) = (unique("topics-a"), unique("topics-b"));
    let missing = log.missing_topics(&[a.clone(), b.clone()]).await.expect("missing_topics");
    assert_eq!(missing, [a.clone(), b.clone()], "topics: both are missing before creation");
    let spec = TopicSpec { name: a.clone(), partitions: 2, retention: None };
    log.ensure_topics(std::slice::from_ref(&spec)).await.expect("ensure_topics");
    let missing = log.missing_topics(&[a.clone(), b.clone()]).await.expect("missing_topics");
    assert_eq!(missing, std::slice::from_ref(&b), "topics: only the uncreated one is missing");
    append(&log, vec![record(&a, b"k", b"kept")], "topics").await;
    log.ensure_topics(std::slice::from_ref(&spec)).await.expect("ensure_topics again must succeed");
    let wider = TopicSpec { partitions: 5, ..spec };
    log.ensure_topics(&[wider]).await.expect("ensure_topics of an existing topic must succeed");
    let ends = log.end_offsets(&a).await.expect("end_offsets");
    assert_eq!(ends.len(), 2, "topics: an existing topic keeps its partitions");
    assert_eq!(ends.iter().map(|(_, end)| end).sum::<u64>(), 1, "topics: ensure_topics must keep existing records");
    match log.append(vec![record(&b, b"k", b"v")]).await {
        Err(LogError::UnknownTopic(topic)) => assert_eq!(topic, b, "topics: UnknownTopic names the topic"),
        other => panic!("topics: append to a missing topic must fail with UnknownTopic, got {other:?}"),
    }
    assert_eq!(log.retention(&a).await.expect("retention"), None, "topics: a topic kept for ever");
    let day = Duration::from_secs(86_400);
    let c = unique("topics-c");
    log.ensure_topics(&[TopicSpec { name: c.clone(), partitions: 1, retention: Some(day) }]).await.expect("ensure");
    assert_eq!(log.retention(&c).await.expect("retention"), Some(day), "topics: retention reads back");
    assert!(matches!(log.retention(&b).await, Err(LogError::UnknownTopic(_))), "topics: retention of a missing topic");
}

/// `end_offsets` is 0 for every partition of a new topic and then the next offset to write.
pub async fn end_offsets(log: Arc<dyn EventLog>) {
    let topic = new_topic(&log, "end-offsets", 3).await;
    let mut ends = log.end_offsets(&topic).await.expect("end_offsets");
    ends.sort_unstable();
    assert_eq!(ends, [(0, 0), (1, 0), (2, 0)], "end_offsets: a new topic");
    let records = (0..20).map(|i| record(&topic, format!("k{i}").as_bytes(), b"v")).collect();
    let appended = append(&log, records, "end_offsets").await;
    let mut expected: BTreeMap<u32, u64> = (0..3).map(|p| (p, 0)).collect();
    for at in appended {
        let end = expected.entry(at.partition).or_default();
        *end = (*end).max(at.offset + 1);
    }
    let ends: BTreeMap<u32, u64> = log.end_offsets(&topic).await.expect("end_offsets").into_iter().collect();
    assert_eq!(ends, expected, "end_offsets: the offset after the last record of each partition");
}
