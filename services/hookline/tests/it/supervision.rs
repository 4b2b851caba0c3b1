//! Shutdown is bounded by its grace period: a client that never finishes sending its
//! request cannot hold the process past `HOOKLINE_SHUTDOWN_GRACE_SECONDS` (plus the few
//! seconds given to commit), and a process that had to cut work off says so by its
//! exit status.

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::common::Service;

#[tokio::test]
async fn a_stalled_request_cannot_hold_the_shutdown_past_its_grace() {
    let mut service = Service::start(&[("HOOKLINE_SHUTDOWN_GRACE_SECONDS", "2")]).await;
    let sub = service.subscribe("http://127.0.0.1:9/hook", None, None).await;

    // Headers and the start of a body that never comes whole.
    let mut stalled = TcpStream::connect(service.process.addr()).await.unwrap();
    let head = format!(
        "POST /api/ingest/{sub} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"a\":"
    );
    stalled.write_all(head.as_bytes()).await.unwrap();
    stalled.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    // Far longer than the grace: a process still running then is killed, and fails the test.
    let status = service.process.terminate(Duration::from_secs(40)).await;
    let took = started.elapsed();
    println!("shutdown with a stalled request took {took:?}, {status}");
    assert_eq!(status.signal(), None, "the process was killed: it did not stop by itself ({took:?})");
    assert!(took < Duration::from_secs(15), "shutdown took {took:?}, past the grace of 2 s (+5 s)");
    assert_eq!(status.code(), Some(1), "work was cut off at the grace: the exit status says so");
    drop(stalled);
}
