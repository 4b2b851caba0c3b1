//! Append throughput and latency against a real broker.
//!
//!     scripts/kafka.sh start
//!     KAFKA_BROKERS=127.0.0.1:19092 cargo run --release -p hookline-log-kafka --example produce_bench
//!
//! Two runs on a fresh 4-partition topic: 64 tasks each appending one record per call,
//! and 8 tasks each appending 100-record batches. Prints appends/s (records/s) and the
//! p50/p99 latency of one `append` call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hookline_log::{EventLog, NewRecord, TopicSpec};
use hookline_log_kafka::{KafkaLog, KafkaSettings};

const VALUE_BYTES: usize = 512;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let brokers = std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:19092".into());
    let log = KafkaLog::connect(KafkaSettings::new(&brokers)).await?;
    let topic = format!("bench.produce.{}", uuid::Uuid::new_v4().simple());
    log.ensure_topics(&[TopicSpec { name: topic.clone(), partitions: 4, retention: Some(Duration::from_secs(3600)) }])
        .await?;
    println!("broker {brokers}, topic {topic}, {VALUE_BYTES}-byte values");
    run(&log, &topic, "single-record appends", 64, 300, 1).await?;
    run(&log, &topic, "100-record batches", 8, 60, 100).await?;
    Ok(())
}

/// `tasks` tasks each make `calls` appends of `batch` records.
async fn run(
    log: &Arc<KafkaLog>,
    topic: &str,
    what: &str,
    tasks: usize,
    calls: usize,
    batch: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let mut running = tokio::task::JoinSet::new();
    for task in 0..tasks {
        let (log, topic) = (log.clone(), topic.to_string());
        running.spawn(async move {
            let mut latencies = Vec::with_capacity(calls);
            for call in 0..calls {
                let records = (0..batch)
                    .map(|i| NewRecord {
                        topic: topic.clone(),
                        key: format!("key-{task}-{}", (call * batch + i) % 16).into_bytes(),
                        headers: vec![("task-id".into(), format!("{task}:{call}:{i}").into_bytes())],
                        value: vec![b'x'; VALUE_BYTES],
                    })
                    .collect();
                let sent = Instant::now();
                log.append(records).await?;
                latencies.push(sent.elapsed());
            }
            Ok::<_, hookline_log::LogError>(latencies)
        });
    }
    let mut latencies = Vec::with_capacity(tasks * calls);
    while let Some(done) = running.join_next().await {
        latencies.extend(done??);
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let percentile = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
    let appends = latencies.len() as f64 / elapsed.as_secs_f64();
    println!(
        "{what}: {tasks} tasks x {calls} calls x {batch} records in {elapsed:.2?}: {appends:.0} appends/s \
         ({:.0} records/s), p50 {:.2?}, p99 {:.2?}",
        appends * batch as f64,
        percentile(50),
        percentile(99),
    );
    Ok(())
}
