//! Slow clients at the edge: a thousand uploads that trickle in hold little memory,
//! are answered 408 once the body deadline passes, and other clients are served
//! meanwhile.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::Service;

const SLOW: usize = 1000;

/// Resident memory of a process, from `/proc`.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("process status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS");
    line.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()).expect("a size in kB") * 1024
}

#[tokio::test]
async fn a_thousand_slow_uploads_hold_little_memory_get_408_and_do_not_block_others() {
    let service =
        Service::start(&[("HOOKLINE_MAX_CONNECTIONS", "1200"), ("HOOKLINE_BODY_READ_TIMEOUT_SECONDS", "4")]).await;
    let sub = service.subscribe("http://127.0.0.1:9/slow", None, None).await;
    let addr = service.process.addr();
    let before = rss_bytes(service.process.pid());

    // Each declares a body near the limit and sends its first bytes, then stalls.
    let head = format!(
        "POST /api/ingest/{sub} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000000\r\n\r\n["
    );
    let mut slow = Vec::with_capacity(SLOW);
    for _ in 0..SLOW {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(head.as_bytes()).await.expect("write the head");
        stream.write_all(&[b'1'; 4096]).await.expect("write a first chunk");
        slow.push(stream);
    }
    let opened = Instant::now();

    // Others are served meanwhile.
    let (status, _) = service.get("/api/subscriptions").await;
    assert_eq!(status, 200);
    let task = service.ingest_ok(&sub, r#"{"fast":true}"#, &[]).await;
    assert!(!task.is_empty());
    let held = rss_bytes(service.process.pid());
    println!("{SLOW} slow uploads open: RSS {} MB before, {} MB with them", before / (1 << 20), held / (1 << 20));
    assert!(held < before + 100 * (1 << 20), "slow uploads took {} MB", (held - before) / (1 << 20));

    // Each is answered 408 with a JSON message once its body deadline has passed.
    let answers = slow.into_iter().map(|mut stream| async move {
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(30), async {
            let mut buffer = [0u8; 1024];
            loop {
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => answer.extend_from_slice(&buffer[..n]),
                }
                if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
                    break;
                }
            }
        })
        .await;
        (read.is_ok(), String::from_utf8_lossy(&answer).to_string())
    });
    let answers = futures::future::join_all(answers).await;
    let waited = opened.elapsed();
    for (in_time, answer) in &answers {
        assert!(in_time, "no answer within 30 s");
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("Request body not received within 4 s"), "{answer}");
    }
    assert!(waited >= Duration::from_secs(3), "answered after {waited:?}, before the deadline");
    let (status, _) = service.get("/api/subscriptions").await;
    assert_eq!(status, 200, "still serving");
}
