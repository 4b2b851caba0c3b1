//! librdkafka settings of each client. Settings the guarantees depend on are set here
//! explicitly; `KafkaSettings::overrides` come last.

use hookline_log::StartFrom;
use rdkafka::ClientConfig;

use crate::KafkaSettings;

/// Largest record: room for a whole 1 MiB webhook inside its event envelope (librdkafka's
/// and the broker's default, 1 MB, is not). Topics are created with the same limit.
pub(crate) const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// librdkafka settings hookline's guarantees depend on, and why: `KAFKA_CONFIG` may not
/// set them (overrides are applied last, so one would silently win).
const PROTECTED: &[(&str, &str)] = &[
    ("enable.auto.commit", "offsets are committed only once a record's outcome is durable"),
    ("enable.auto.offset.store", "offsets are stored only once a record's outcome is durable"),
    ("auto.commit.enable", "offsets are committed only once a record's outcome is durable"),
    ("enable.idempotence", "the producer must not duplicate or reorder records on retries"),
    ("acks", "a 202 means every in-sync replica has the record (acks=all)"),
    ("request.required.acks", "a 202 means every in-sync replica has the record (acks=all)"),
    ("group.id", "each role names its own consumer group"),
    ("allow.auto.create.topics", "topics are created by `hookline migrate` only"),
];

/// Why `key` may not be overridden, when hookline's guarantees depend on it (names are
/// compared as librdkafka does, case and `_`/`.` aside).
pub fn protected_setting(key: &str) -> Option<&'static str> {
    let key = key.trim().to_ascii_lowercase().replace('_', ".");
    PROTECTED.iter().find(|(name, _)| *name == key).map(|(_, why)| *why)
}

/// One problem per override that sets a protected setting.
pub fn refused_overrides(overrides: &[(String, String)]) -> Vec<String> {
    overrides
        .iter()
        .filter_map(|(key, _)| {
            protected_setting(key).map(|why| format!("KAFKA_CONFIG may not set {key}: hookline sets it itself ({why})"))
        })
        .collect()
}

/// The admin client: creates topics.
pub(crate) fn admin(settings: &KafkaSettings) -> ClientConfig {
    let mut config = common(settings);
    apply_overrides(&mut config, settings);
    config
}

/// Settings every client shares.
fn common(settings: &KafkaSettings) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &settings.brokers)
        .set("client.id", &settings.client_id)
        // Topics are created by `ensure_topics` only: a typo must fail, not create a topic.
        .set("allow.auto.create.topics", "false");
    config
}

/// The shared producer: durable, ordered, compressed, Kafka-compatible partitioning.
pub(crate) fn producer(settings: &KafkaSettings) -> ClientConfig {
    let mut config = common(settings);
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "zstd")
        .set("linger.ms", "5")
        .set("message.max.bytes", MAX_MESSAGE_BYTES.to_string())
        // murmur2 like the Java client and the embedded adapter; random only for null keys.
        .set("partitioner", "murmur2_random")
        // An append fails (retryably) rather than waiting for ever on a dead cluster.
        .set("message.timeout.ms", "30000")
        // `ensure_topics` waits until this producer sees new topics, so an append to a
        // topic still unknown after a second really targets a missing topic.
        .set("topic.metadata.propagation.max.ms", "1000")
        // Notice soon a topic created by another process after a failed append.
        .set("topic.metadata.refresh.interval.ms", "30000");
    apply_overrides(&mut config, settings);
    config
}

/// The consumer that reads single records by position: assigned, never subscribed, so
/// it joins no group and commits nothing; an offset already deleted is an error, not a
/// jump to another record.
pub(crate) fn reader(settings: &KafkaSettings) -> ClientConfig {
    let mut config = common(settings);
    config
        .set("group.id", "hookline.reader")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "error")
        // One record is wanted: fetch little beyond it.
        .set("fetch.max.bytes", MAX_MESSAGE_BYTES.to_string())
        // A fetch still waiting on the broker for records past the last one read holds
        // up the next read (of another offset) until it returns: the broker's default
        // wait made every other read of a replay take 500 ms.
        .set("fetch.wait.max.ms", "10")
        .set("queued.max.messages.kbytes", "8192");
    apply_overrides(&mut config, settings);
    config
}

/// The consumer that reads `group`'s committed offsets: never subscribed nor assigned,
/// so it joins no group and commits nothing.
pub(crate) fn offsets_reader(settings: &KafkaSettings, group: &str) -> ClientConfig {
    let mut config = common(settings);
    config.set("group.id", group).set("enable.auto.commit", "false").set("enable.auto.offset.store", "false");
    apply_overrides(&mut config, settings);
    config
}

/// A consumer of `group`: offsets stored and committed only by explicit commits.
pub(crate) fn consumer(
    settings: &KafkaSettings,
    group: &str,
    start: StartFrom,
    instance_id: Option<&str>,
) -> ClientConfig {
    let mut config = common(settings);
    config
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set(
            "auto.offset.reset",
            match start {
                StartFrom::Earliest => "earliest",
                StartFrom::Latest => "latest",
            },
        )
        // Adding a consumer moves only the partitions that change owner.
        .set("partition.assignment.strategy", "cooperative-sticky")
        // A member that died (kill -9, lost host) hands its partitions on after 10 s rather
        // than the default 45 s; a restarted static member within that time keeps them.
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "2000");
    if let Some(id) = instance_id {
        config.set("group.instance.id", id);
    }
    apply_overrides(&mut config, settings);
    config
}

/// The producer's record size limit, as `LogError::TooLarge` reports it.
pub(crate) fn max_message_bytes(settings: &KafkaSettings) -> usize {
    settings
        .overrides
        .iter()
        .rev()
        .find(|(key, _)| key == "message.max.bytes")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(MAX_MESSAGE_BYTES)
}

fn apply_overrides(config: &mut ClientConfig, settings: &KafkaSettings) {
    for (key, value) in &settings.overrides {
        config.set(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overrides(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn settings_the_guarantees_depend_on_cannot_be_overridden() {
        let refused = refused_overrides(&overrides(&[
            ("linger.ms", "20"),
            ("enable.auto.commit", "true"),
            ("ACKS", "1"),
            ("request_required_acks", "0"),
            ("enable.idempotence", "false"),
            ("compression.type", "lz4"),
        ]));
        assert_eq!(refused.len(), 4, "{refused:?}");
        assert!(refused[0].starts_with("KAFKA_CONFIG may not set enable.auto.commit: hookline sets it itself"));
        assert!(refused[1].contains("ACKS") && refused[1].contains("acks=all"));
        assert!(refused_overrides(&overrides(&[("linger.ms", "20"), ("fetch.max.bytes", "1")])).is_empty());
    }
}
