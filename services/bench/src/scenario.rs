//! What a run does: the engines hookline runs on, how webhooks get in, and how many.

use serde::Serialize;

/// Where hookline keeps its log and views, and how the webhooks reach it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Embedded log and views; webhooks POSTed to the REST API.
    Embedded,
    /// Log on Kafka, views on CQL; webhooks POSTed to the REST API.
    Distributed,
    /// Log on Kafka, views embedded or on CQL; webhooks produced straight into
    /// `hookline.ingest` by Kafka producers.
    KafkaFanIn,
}

impl Mode {
    /// The default name of a burst's report files, `docs/bench/<name>.md` and `.json`.
    pub fn report_name(self) -> &'static str {
        match self {
            Mode::Embedded => "embedded",
            Mode::Distributed => "distributed",
            Mode::KafkaFanIn => "kafka-fan-in",
        }
    }
}

/// The scenario as the report states it.
#[derive(Clone, Debug, Serialize)]
pub struct Scenario {
    /// `embedded`, `distributed` or `kafka-fan-in`.
    pub mode: &'static str,
    /// A burst or a long run (fixed rate or steps), in words.
    pub run: String,
    /// Long runs: how long the load was to last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<u64>,
    /// The engines under hookline, in words.
    pub engines: String,
    /// How webhooks got in, in words.
    pub ingest: &'static str,
    /// Webhooks to send: a burst's count, or what a long run's schedule holds (a step run may
    /// stop before).
    pub webhooks: usize,
    /// HTTP connections, or Kafka producer tasks.
    pub senders: usize,
    /// Records per produce call (Kafka fan-in only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<usize>,
    pub subscriptions: usize,
    /// Events: how many subscriptions want each one (the deliveries each makes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fan_out: Option<usize>,
    /// Webhooks started per second; `None`: as fast as answers come (saturation), or steps.
    pub rate: Option<f64>,
    pub payload_bytes: usize,
    /// Whether every webhook carried an HMAC signature that hookline checked.
    pub signed: bool,
    /// Subscriptions ordered by key, the webhooks going round this many keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ordering_keys: Option<usize>,
    /// The benchmark's command line.
    pub command: String,
}
