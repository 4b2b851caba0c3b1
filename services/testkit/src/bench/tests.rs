//! The benchmark receiver over real sockets.

use std::net::SocketAddr;

use super::*;

/// Runs a benchmark receiver on a free port; it stops when the returned token is cancelled.
async fn start(config: BenchConfig) -> (SocketAddr, CancellationToken, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(run(listener, config, shutdown.clone()));
    (addr, shutdown, server)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn deliver(client: &reqwest::Client, addr: SocketAddr, id: &str, body: String) -> u16 {
    let response = client.post(format!("http://{addr}/hook")).header("webhook-id", id).body(body).send().await.unwrap();
    response.status().as_u16()
}

async fn stats(client: &reqwest::Client, addr: SocketAddr) -> StatsReport {
    let response = client.get(format!("http://{addr}/stats")).send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "application/json");
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as u64
}

#[tokio::test]
async fn counts_deliveries_duplicates_and_latency_then_resets() {
    let (addr, shutdown, server) = start(BenchConfig::default()).await;
    let client = client();
    let sent_at = now_us() - 5_000;
    for id in ["msg_1", "msg_2", "msg_1", "msg_3"] {
        let body = format!(r#"{{"sent_at_us":{sent_at},"id":"{id}"}}"#);
        assert_eq!(deliver(&client, addr, id, body).await, 200);
    }
    let report = stats(&client, addr).await;
    assert_eq!((report.requests, report.ok, report.failed), (4, 4, 0));
    assert_eq!((report.distinct_ids, report.duplicates), (3, 1));
    assert_eq!(report.latency_us.samples, 4);
    // Sent 5 ms before the first request; the whole test takes well under a minute.
    assert!(report.latency_us.p50 >= 5_000 && report.latency_us.max < 60_000_000, "{report:?}");
    let (first, last) = (report.first_at_us.unwrap(), report.last_at_us.unwrap());
    assert!(sent_at < first && first <= last, "{report:?}");

    let reset = client.post(format!("http://{addr}/reset")).send().await.unwrap();
    assert_eq!(reset.status(), 200);
    let cleared = stats(&client, addr).await;
    assert_eq!((cleared.requests, cleared.distinct_ids, cleared.latency_us.samples), (0, 0, 0));
    assert_eq!(cleared.first_at_us, None);

    shutdown.cancel();
    server.await.unwrap();
    assert!(client.get(format!("http://{addr}/stats")).send().await.is_err(), "still serving after shutdown");
}

#[tokio::test]
async fn a_window_reports_the_latency_since_the_last_one() {
    let (addr, _shutdown, _server) = start(BenchConfig::default()).await;
    let client = client();
    let take_window = || async {
        let response = client.post(format!("http://{addr}/window")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        serde_json::from_slice::<WindowReport>(&response.bytes().await.unwrap()).unwrap()
    };
    let body = format!(r#"{{"sent_at_us":{}}}"#, now_us() - 5_000);
    deliver(&client, addr, "a", body).await;
    let first = take_window().await;
    assert_eq!((first.totals.distinct_ids, first.window_latency_us.samples), (1, 1));
    assert!(first.window_latency_us.p99 >= 5_000, "{first:?}");
    deliver(&client, addr, "b", "{}".into()).await;
    let second = take_window().await;
    assert_eq!((second.totals.distinct_ids, second.window_latency_us.samples), (2, 0));
}

#[tokio::test]
async fn answers_the_configured_status_and_fail_rate() {
    let (addr, _shutdown, _server) = start(BenchConfig { status: 202, ..BenchConfig::default() }).await;
    assert_eq!(deliver(&client(), addr, "a", "{}".into()).await, 202);

    let (addr, _shutdown, _server) = start(BenchConfig { fail_rate: 1.0, ..BenchConfig::default() }).await;
    let client = client();
    for id in ["a", "b", "c"] {
        assert_eq!(deliver(&client, addr, id, "{}".into()).await, 500);
    }
    let report = stats(&client, addr).await;
    assert_eq!((report.requests, report.ok, report.failed), (3, 0, 3));
}

#[tokio::test]
async fn a_partial_fail_rate_fails_about_that_share() {
    let (addr, _shutdown, _server) = start(BenchConfig { fail_rate: 0.3, ..BenchConfig::default() }).await;
    let client = client();
    for i in 0..400 {
        deliver(&client, addr, &format!("m{i}"), String::new()).await;
    }
    let report = stats(&client, addr).await;
    // 400 draws at 30 %: the count is 120 ± 9 (one standard deviation); 60..180 is > 6 sigma.
    assert!((60..=180).contains(&report.failed), "{report:?}");
    assert_eq!(report.ok + report.failed, 400);
}

#[tokio::test]
async fn latency_delays_the_answer() {
    let latency = Duration::from_millis(200);
    let (addr, _shutdown, _server) = start(BenchConfig { latency, ..BenchConfig::default() }).await;
    let started = std::time::Instant::now();
    assert_eq!(deliver(&client(), addr, "a", "{}".into()).await, 200);
    assert!(started.elapsed() >= latency);
}

#[tokio::test]
async fn other_routes_are_refused() {
    let (addr, _shutdown, _server) = start(BenchConfig::default()).await;
    let client = client();
    assert_eq!(client.get(format!("http://{addr}/hook")).send().await.unwrap().status(), 404);
    assert_eq!(client.delete(format!("http://{addr}/hook")).send().await.unwrap().status(), 405);
    assert_eq!(stats(&client, addr).await.requests, 0);
}
