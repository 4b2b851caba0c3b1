//! Memory is bounded by configuration, not by how many webhooks went through; disk is
//! bounded by retention (docs/memory.md).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hookline_testkit::bench::{self, BenchConfig, StatsReport};
use hookline_testkit::process::wait_until;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::common::Service;

/// Webhooks the memory test sends at most…
const WEBHOOKS: usize = 100_000;
/// …and for how long (longer only while fewer than [`ENOUGH_WEBHOOKS`] were sent, on a
/// slow machine, up to [`LONGEST_LOAD_TIME`]).
const LOAD_TIME: Duration = Duration::from_secs(90);
const LONGEST_LOAD_TIME: Duration = Duration::from_secs(240);
/// Bytes of padding in each webhook.
const PADDING: usize = 4000;
/// Fewer than this and the run proves nothing: with the views' former 1 GiB page cache
/// the process passed [`PEAK_RSS_MB`] well before this many.
const ENOUGH_WEBHOOKS: usize = 20_000;
/// Keep-alive connections sending at once.
const CONNECTIONS: usize = 16;
/// Anonymous resident memory allowed under load with the caps below…
const PEAK_RSS_MB: u64 = 100;
/// …and once idle.
const IDLE_RSS_MB: u64 = 80;
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// Small caps, so that the bound holds however many webhooks go through (the records a
/// delivery source holds are counted in records: fewer in flight, fewer held).
const SMALL_CAPS: &[(&str, &str)] = &[
    ("HOOKLINE_VIEWS_CACHE_BYTES", "8388608"),
    ("HOOKLINE_LOG_TAIL_BYTES", "2097152"),
    ("HOOKLINE_MAX_IN_FLIGHT", "64"),
];

/// The anonymous resident memory of process `pid` (its heap and stacks, not the
/// mapped binary, whose size depends on the build), in MB.
fn rss_mb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let line = status.lines().find(|l| l.starts_with("RssAnon:")).expect("RssAnon line");
    line.split_whitespace().nth(1).expect("RssAnon value").parse::<u64>().expect("RssAnon kB") / 1024
}

/// Bytes of disk the files under `dir` take.
fn disk_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => disk_bytes(&entry.path()),
            Ok(meta) => meta.blocks() * 512,
            // Deleted by retention meanwhile.
            Err(_) => 0,
        })
        .sum()
}

/// The benchmark receiver on 127.0.0.1: answers 200 at once and only counts.
struct CountingReceiver {
    url: String,
    stop: CancellationToken,
}

impl CountingReceiver {
    async fn start() -> CountingReceiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the receiver");
        let url = format!("http://{}", listener.local_addr().expect("receiver address"));
        let stop = CancellationToken::new();
        tokio::spawn(bench::run(listener, BenchConfig::default(), stop.clone()));
        CountingReceiver { url, stop }
    }

    async fn delivered(&self, client: &reqwest::Client) -> u64 {
        let stats: StatsReport = client.get(format!("{}/stats", self.url)).send().await.unwrap().json().await.unwrap();
        stats.distinct_ids
    }
}

impl Drop for CountingReceiver {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// How many webhooks to send, and for how long.
#[derive(Clone, Copy)]
struct Load {
    /// At most this many…
    count: usize,
    /// …for this long, unless fewer than `at_least` were sent by then…
    time: Duration,
    at_least: usize,
    /// …and never longer than this.
    longest: Duration,
    /// Per connection and second; `None`: as fast as answered.
    rate: Option<f64>,
}

/// Sends `body` to `sub` over `CONNECTIONS` keep-alive connections as `load` says;
/// returns how many were queued.
async fn send_webhooks(service: &Service, sub: &str, body: &str, load: Load) -> usize {
    let url = service.url(&format!("/api/ingest/{sub}"));
    let started = Instant::now();
    let go_on = move |sent: usize| {
        let elapsed = started.elapsed();
        sent < load.count && elapsed < load.longest && (elapsed < load.time || sent < load.at_least)
    };
    let sent = Arc::new(AtomicUsize::new(0));
    let senders: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (client, url, body, sent) = (service.client.clone(), url.clone(), body.to_string(), sent.clone());
            tokio::spawn(async move {
                let mut pace = load.rate.map(|rate| tokio::time::interval(Duration::from_secs_f64(1.0 / rate)));
                while go_on(sent.fetch_add(1, Ordering::SeqCst)) {
                    if let Some(pace) = pace.as_mut() {
                        pace.tick().await;
                    }
                    let resp = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await
                        .expect("ingest");
                    assert_eq!(resp.status(), 202, "ingest answered {}", resp.text().await.unwrap_or_default());
                }
                // The claim that ended the loop sent nothing.
                sent.fetch_sub(1, Ordering::SeqCst);
            })
        })
        .collect();
    for sender in senders {
        sender.await.expect("sender");
    }
    sent.load(Ordering::SeqCst).min(load.count)
}

/// Samples `sample` every second until `done` fires; returns the largest value seen.
fn sample_max(sample: impl Fn() -> u64 + Send + 'static, done: CancellationToken) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SAMPLE_EVERY);
        let mut max = 0;
        loop {
            tokio::select! {
                _ = done.cancelled() => return max.max(sample()),
                _ = tick.tick() => max = max.max(sample()),
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resident_memory_stays_within_the_caps_under_sustained_load_and_falls_back_when_idle() {
    let receiver = CountingReceiver::start().await;
    let service = Service::start(SMALL_CAPS).await;
    let sub = service.subscribe(&format!("{}/hook", receiver.url), None, None).await;
    let pid = service.process.pid();
    let load_done = CancellationToken::new();
    let peak = sample_max(move || rss_mb(pid), load_done.clone());

    let body = format!(r#"{{"event":"order.created","padding":"{}"}}"#, "x".repeat(PADDING));
    let load =
        Load { count: WEBHOOKS, time: LOAD_TIME, at_least: ENOUGH_WEBHOOKS, longest: LONGEST_LOAD_TIME, rate: None };
    let sent = send_webhooks(&service, &sub, &body, load).await;
    wait_until(Duration::from_secs(120), &format!("{sent} deliveries"), || async {
        (receiver.delivered(&service.client).await >= sent as u64).then_some(())
    })
    .await;
    load_done.cancel();
    let peak_mb = peak.await.expect("sampler");
    println!("{sent} webhooks sent and delivered; peak RSS {peak_mb} MB");
    assert!(sent >= ENOUGH_WEBHOOKS, "only {sent} webhooks in {LOAD_TIME:?}: too few to show a bound");
    assert!(peak_mb <= PEAK_RSS_MB, "RSS reached {peak_mb} MB under load (bound {PEAK_RSS_MB} MB)");

    let idle_mb =
        wait_until(Duration::from_secs(30), &format!("RSS to fall to {IDLE_RSS_MB} MB once idle"), || async {
            let now = rss_mb(pid);
            (now <= IDLE_RSS_MB).then_some(now)
        })
        .await;
    println!("idle RSS {idle_mb} MB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_use_stops_growing_under_a_short_retention() {
    const SEGMENT: u64 = 256 << 10;
    const RETENTION_BYTES: u64 = 1 << 20;
    let receiver = CountingReceiver::start().await;
    let data = tempfile::tempdir().expect("temp dir");
    let service = Service::start_in(
        data.path(),
        &[
            // Records and rows are kept 18 s, and the log at most 1 MiB per partition.
            ("LOG_RETENTION_HOURS", "0.005"),
            ("HOOKLINE_TOPIC_RETENTION_HOURS", "0.005"),
            ("HOOKLINE_PURGE_INTERVAL_SECONDS", "1"),
            ("HOOKLINE_LOG_RETENTION_BYTES", "1048576"),
            ("HOOKLINE_LOG_SEGMENT_BYTES", "262144"),
        ],
    )
    .await;
    let data_dir = data.path().to_path_buf();
    let sub = service.subscribe(&format!("{}/hook", receiver.url), None, None).await;
    let body = format!(r#"{{"event":"order.created","padding":"{}"}}"#, "x".repeat(1000));

    // A first stretch fills the retention; over the second, the disk must not grow. The
    // rate (64 a second) is one a debug build keeps up with on a busy machine: the views'
    // size follows the rate times their retention.
    let stretch = Duration::from_secs(30);
    let load = Load { count: usize::MAX, time: stretch, at_least: 0, longest: stretch, rate: Some(4.0) };
    let filled = send_webhooks(&service, &sub, &body, load).await;
    let log_dir = data_dir.join("log");
    let (dir, log) = (data_dir.clone(), log_dir.clone());
    let after_fill = (disk_bytes(&dir), disk_bytes(&log));
    let done = CancellationToken::new();
    let largest_data = sample_max(move || disk_bytes(&dir), done.clone());
    let largest_log = sample_max(move || disk_bytes(&log), done.clone());
    let more = send_webhooks(&service, &sub, &body, load).await;
    done.cancel();
    let (largest_data, largest_log) = (largest_data.await.unwrap(), largest_log.await.unwrap());
    println!(
        "{filled} then {more} webhooks; after the first stretch: data {} KiB, log {} KiB; \
         largest over the second: data {} KiB, log {} KiB",
        after_fill.0 >> 10,
        after_fill.1 >> 10,
        largest_data >> 10,
        largest_log >> 10
    );
    assert!(more >= filled / 2, "the second stretch sent only {more} webhooks (the first {filled})");
    // Every partition of every topic: at most its size retention, and the group files.
    let topics = log_partitions(&log_dir);
    let log_bound = topics * RETENTION_BYTES + (64 << 10);
    assert!(largest_log <= log_bound, "the log took {largest_log} bytes, over {log_bound} ({topics} partitions)");
    // The views reuse the pages their expired rows leave: they grow by a few segments' worth at most.
    let data_bound = after_fill.0 + 4 * SEGMENT + (after_fill.0 - after_fill.1) / 2;
    assert!(largest_data <= data_bound, "the data directory grew from {} to {largest_data} bytes", after_fill.0);
}

/// Partition directories under the log's topics.
fn log_partitions(log_dir: &Path) -> u64 {
    let topics = std::fs::read_dir(log_dir.join("topics")).expect("topics");
    topics
        .flatten()
        .map(|topic| std::fs::read_dir(topic.path()).unwrap().flatten().filter(|p| p.path().is_dir()).count() as u64)
        .sum()
}
