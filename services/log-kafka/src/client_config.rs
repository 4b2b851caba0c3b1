//! librdkafka settings of each client. Settings the guarantees depend on are set here
//! explicitly; `KafkaSettings::overrides` come last.

use hookline_log::StartFrom;
use rdkafka::ClientConfig;

use crate::KafkaSettings;

/// Largest record: room for a whole 1 MiB webhook inside its event envelope (librdkafka's
/// and the broker's default, 1 MB, is not). Topics are created with the same limit.
pub(crate) const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

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
        .set("queued.max.messages.kbytes", "8192");
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
