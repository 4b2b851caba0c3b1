//! Throughput and latency of the embedded log on this machine, with real fsyncs:
//! single-record appends from 64 concurrent tasks (group commit), then a consumer
//! tailing 1 KiB records as they are appended, then one catching up from the files.
//!
//! `cargo run -p hookline-log --release --example append_bench [data-dir]`

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookline_log::embedded::{EmbeddedLog, EmbeddedOptions};
use hookline_log::{ConsumerSpec, EventLog, LogError, NewRecord, StartFrom, TopicSpec};

const TASKS: usize = 64;
const APPENDS_PER_TASK: usize = 500;
const READ_RECORDS: usize = 200_000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), LogError> {
    let temp = tempfile::TempDir::new()?;
    let dir = std::env::args().nth(1).map_or_else(|| temp.path().to_path_buf(), Into::into);
    println!("data directory: {}", dir.display());
    let log = EmbeddedLog::open(&dir, EmbeddedOptions::default())?;
    for partitions in [1, 8] {
        concurrent_appends(&log, partitions).await?;
    }
    tail_reads(&log).await?;
    drop(log);
    catch_up_reads(&dir).await
}

fn record(topic: &str, key: String, value_len: usize) -> NewRecord {
    NewRecord { topic: topic.into(), key: key.into_bytes(), headers: Vec::new(), value: vec![b'x'; value_len] }
}

async fn concurrent_appends(log: &Arc<EmbeddedLog>, partitions: u32) -> Result<(), LogError> {
    let topic = format!("bench.appends.{partitions}");
    log.ensure_topics(&[TopicSpec { name: topic.clone(), partitions, retention: None }]).await?;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let (log, topic) = (log.clone(), topic.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(APPENDS_PER_TASK);
            for i in 0..APPENDS_PER_TASK {
                let sent = Instant::now();
                log.append(vec![record(&topic, format!("key-{task}-{}", i % 16), 200)]).await?;
                latencies.push(sent.elapsed());
            }
            Ok::<_, LogError>(latencies)
        });
    }
    let mut latencies = Vec::with_capacity(TASKS * APPENDS_PER_TASK);
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done.expect("append task panicked")?);
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    println!(
        "appends, {TASKS} tasks, 1 record of 200 B each, {partitions} partition(s): {:.0} appends/s, \
         p50 {:?}, p99 {:?}, max {:?}",
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 50),
        percentile(&latencies, 99),
        latencies.last().copied().unwrap_or_default(),
    );
    Ok(())
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted.get((sorted.len() * p / 100).min(sorted.len().saturating_sub(1))).copied().unwrap_or_default()
}

/// Producers appending 1 KiB records in calls of 100 while a consumer tails them; the
/// consumer keeps up if it finishes right after the last append.
async fn tail_reads(log: &Arc<EmbeddedLog>) -> Result<(), LogError> {
    const PRODUCERS: usize = 4;
    let topic = "bench.reads".to_string();
    log.ensure_topics(&[TopicSpec { name: topic.clone(), partitions: 4, retention: None }]).await?;
    let spec = ConsumerSpec { group: None, topics: vec![topic.clone()], start: StartFrom::Earliest };
    let consumer = log.consumer(spec).await?;
    let started = Instant::now();
    let mut producers = tokio::task::JoinSet::new();
    for producer in 0..PRODUCERS {
        let (log, topic) = (log.clone(), topic.clone());
        producers.spawn(async move {
            for batch in 0..READ_RECORDS / 100 / PRODUCERS {
                let records = (0..100).map(|i| record(&topic, format!("key-{producer}-{}", (batch + i) % 64), 1024));
                log.append(records.collect()).await?;
            }
            Ok::<_, LogError>(Instant::now())
        });
    }
    let mut read = 0;
    while read < READ_RECORDS {
        read += consumer.poll(1000, Duration::from_secs(5)).await?.len();
    }
    let consumed = started.elapsed();
    let mut produced = Duration::ZERO;
    while let Some(done) = producers.join_next().await {
        produced = produced.max(done.expect("producer panicked")?.duration_since(started));
    }
    println!(
        "tailing consumer, 1 KiB records, {PRODUCERS} producers appending 100 per call meanwhile: \
         {:.0} records/s appended, {:.0} records/s consumed, last record read {:?} after the last append",
        READ_RECORDS as f64 / produced.as_secs_f64(),
        READ_RECORDS as f64 / consumed.as_secs_f64(),
        consumed.saturating_sub(produced),
    );
    Ok(())
}

/// After reopening, nothing is in memory: every record comes from the segment files.
async fn catch_up_reads(dir: &Path) -> Result<(), LogError> {
    let log = EmbeddedLog::open(dir, EmbeddedOptions::default())?;
    let spec = ConsumerSpec { group: None, topics: vec!["bench.reads".into()], start: StartFrom::Earliest };
    let consumer = log.consumer(spec).await?;
    let started = Instant::now();
    let mut read = 0;
    while read < READ_RECORDS {
        read += consumer.poll(1000, Duration::from_secs(5)).await?.len();
    }
    let elapsed = started.elapsed();
    println!(
        "catching-up consumer after reopen, 1 KiB records from files: {:.0} records/s ({READ_RECORDS} in {elapsed:?})",
        READ_RECORDS as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}
