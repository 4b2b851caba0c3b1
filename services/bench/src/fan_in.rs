//! Fan-in straight into Kafka: producer tasks append raw webhooks to `hookline.ingest`
//! in the format the ingest role reads (key = subscription id, header `event_type`,
//! header `signature` for a subscription with a secret, value = the JSON body), through
//! the same Kafka adapter hookline uses (idempotent, `acks=all`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use hookline_domain::signature::ingest_signature;
use hookline_domain::topics;
use hookline_ingest::{EVENT_TYPE_HEADER, SIGNATURE_HEADER};
use hookline_log::namespace::Namespaced;
use hookline_log::{EventLog, NewRecord};
use hookline_log_kafka::{KafkaLog, KafkaSettings};

use crate::{pace, payload};

/// The event type every produced webhook carries.
const EVENT_TYPE: &str = "bench.fan_in";

/// A subscription the producers write to.
#[derive(Clone)]
pub struct Target {
    pub id: String,
    /// Its secret, when the records are to be signed.
    pub secret: Option<String>,
}

/// What to produce: `webhooks` records spread round-robin over `targets`, by `producers`
/// tasks, `batch` records per append, each body an order event of `payload_bytes` stamped
/// when it is produced.
pub struct Plan {
    pub targets: Vec<Target>,
    pub webhooks: usize,
    pub producers: usize,
    pub batch: usize,
    pub payload_bytes: usize,
    /// Records started per second over all producers; `None`: as fast as appends return.
    pub rate: Option<f64>,
}

/// The producers' connection to the cluster, in the run's namespace.
pub struct Producers {
    log: Arc<dyn EventLog>,
}

impl Producers {
    pub async fn connect(brokers: &str, namespace: &str) -> anyhow::Result<Producers> {
        let settings = KafkaSettings { client_id: "hookline-bench".into(), ..KafkaSettings::new(brokers) };
        let kafka = KafkaLog::connect(settings).await.with_context(|| format!("connecting to Kafka at {brokers}"))?;
        Ok(Producers { log: Namespaced::new(kafka, namespace) })
    }

    /// Produces the plan and returns the milliseconds each append took (one per batch,
    /// until every record of the batch was acknowledged).
    pub async fn produce(&self, plan: Plan) -> anyhow::Result<Vec<f64>> {
        let plan = Arc::new(plan);
        let next = Arc::new(AtomicUsize::new(0));
        let mut producers = Vec::with_capacity(plan.producers);
        for index in 0..plan.producers {
            let (log, plan, next) = (self.log.clone(), plan.clone(), next.clone());
            producers.push(tokio::spawn(async move { producer(&*log, &plan, index, &next).await }));
        }
        let mut latencies_ms = Vec::new();
        for producer in producers {
            latencies_ms.extend(producer.await??);
        }
        Ok(latencies_ms)
    }

    /// Records the ingest role refused (copied to `hookline.ingest.rejected`) in this namespace.
    pub async fn rejected(&self) -> anyhow::Result<u64> {
        let ends = self.log.end_offsets(topics::INGEST_REJECTED).await?;
        Ok(ends.iter().map(|(_, end)| end).sum())
    }
}

/// One producer's share: takes batches of record numbers until they run out.
async fn producer(log: &dyn EventLog, plan: &Plan, index: usize, next: &AtomicUsize) -> anyhow::Result<Vec<f64>> {
    // With a rate, each tick starts one batch.
    let mut ticker = plan.rate.map(|rate| pace::ticker(rate / plan.batch as f64, index, plan.producers));
    let mut latencies_ms = Vec::new();
    loop {
        let first = next.fetch_add(plan.batch, Ordering::Relaxed);
        if first >= plan.webhooks {
            return Ok(latencies_ms);
        }
        if let Some(ticker) = ticker.as_mut() {
            ticker.tick().await;
        }
        let records = (first..plan.webhooks.min(first + plan.batch))
            .map(|n| record(&plan.targets[n % plan.targets.len()], n as u64, plan.payload_bytes))
            .collect();
        let started = Instant::now();
        log.append(records).await.context("producing to hookline.ingest")?;
        latencies_ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
}

/// Webhook number `sequence` for `target`, stamped now.
fn record(target: &Target, sequence: u64, payload_bytes: usize) -> NewRecord {
    let mut body = String::new();
    payload::order_event(&mut body, pace::now_us(), sequence, payload_bytes);
    let body = body.into_bytes();
    let mut headers = vec![(EVENT_TYPE_HEADER.to_string(), EVENT_TYPE.as_bytes().to_vec())];
    if let Some(secret) = &target.secret {
        headers.push((SIGNATURE_HEADER.to_string(), ingest_signature(secret, &body).into_bytes()));
    }
    NewRecord { topic: topics::INGEST.to_string(), key: target.id.as_bytes().to_vec(), headers, value: body }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_what_the_ingest_role_reads() {
        let target = Target { id: "0191f1d2-7c4e-7a34-9b1e-3f2a5c6d7e8f".into(), secret: Some("s3cret".into()) };
        let record = record(&target, 7, 1_024);
        assert_eq!(record.topic, "hookline.ingest");
        assert_eq!(record.key, target.id.as_bytes());
        let header = |name: &str| record.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        assert_eq!(header("event_type").as_deref(), Some(EVENT_TYPE.as_bytes()));
        let signature = header("signature").expect("a signature");
        hookline_domain::signature::verify_ingest("s3cret", &record.value, Some(signature.as_slice()))
            .expect("it verifies");
        let body: serde_json::Value = serde_json::from_slice(&record.value).expect("JSON");
        assert!(body["sent_at_us"].as_u64().is_some() && body["type"] == "order.created", "{body}");
        assert_eq!(record.value.len(), 1_024);

        let unsigned = super::record(&Target { secret: None, ..target }, 8, 1_024);
        assert!(unsigned.headers.iter().all(|(name, _)| name != "signature"));
    }
}
