//! Each `Reply` kind, keep-alive and malformed requests.

use std::time::{Duration, Instant, SystemTime};

use tokio::io::AsyncReadExt;

use super::super::{Receiver, Reply, Script};
use super::{client, is_closed, read_response, send_raw};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn an_unscripted_path_answers_ok_and_every_detail_is_recorded() {
    let receiver = Receiver::start().await;
    let before = SystemTime::now();
    let response = client()
        .post(receiver.url("/hook?token=abc"))
        .header("Webhook-Id", "msg_1")
        .header("content-type", "application/json")
        .body(r#"{"n":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok");

    let requests = receiver.requests("/hook");
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/hook"));
    assert_eq!(request.query.as_deref(), Some("token=abc"));
    assert_eq!(request.header("WEBHOOK-ID"), Some("msg_1"));
    assert_eq!(request.body, br#"{"n":1}"#);
    assert_eq!(request.json().unwrap()["n"], 1);
    assert!(request.received_at >= before && request.at <= Instant::now());
    assert!(receiver.requests("/other").is_empty());
}

#[tokio::test]
async fn status_replies_carry_the_status_and_a_small_body() {
    let receiver = Receiver::start().await;
    receiver.set("/down", Script::always(Reply::Status(503)));
    receiver.set("/body", Script::always(Reply::StatusWithBody(201, b"created it".to_vec())));
    let headers = vec![("Retry-After".to_owned(), "7".to_owned()), ("X-Extra".to_owned(), "yes".to_owned())];
    receiver.set("/headers", Script::always(Reply::StatusWithHeaders(429, headers)));

    let down = client().post(receiver.url("/down")).send().await.unwrap();
    assert_eq!(down.status(), 503);
    assert_eq!(down.text().await.unwrap(), "status 503");

    let body = client().post(receiver.url("/body")).send().await.unwrap();
    assert_eq!(body.status(), 201);
    assert_eq!(body.text().await.unwrap(), "created it");

    let limited = client().post(receiver.url("/headers?page=2")).send().await.unwrap();
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "7");
    assert_eq!(limited.headers()["x-extra"], "yes");
    assert_eq!(limited.text().await.unwrap(), "status 429");
}

#[tokio::test]
async fn a_redirect_carries_the_location() {
    let receiver = Receiver::start().await;
    let target = receiver.url("/elsewhere");
    receiver.set("/moved", Script::always(Reply::Redirect(307, target.clone())));
    let response = client().post(receiver.url("/moved")).send().await.unwrap();
    assert_eq!(response.status(), 307);
    assert_eq!(response.headers()["location"], target.as_str());
}

#[tokio::test]
async fn a_script_uses_its_steps_in_order_then_the_default() {
    let receiver = Receiver::start().await;
    receiver.set("/flaky", Script::then(vec![Reply::Status(500); 2], Reply::Status(200)));
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(client().post(receiver.url("/flaky")).send().await.unwrap().status().as_u16());
    }
    assert_eq!(statuses, [500, 500, 200, 200]);
}

#[tokio::test]
async fn hang_records_the_request_and_never_answers() {
    let receiver = Receiver::start().await;
    receiver.set("/hang", Script::always(Reply::Hang));
    let mut stream = send_raw(receiver.addr(), "POST /hang HTTP/1.1\r\ncontent-length: 2\r\n\r\nhi").await;
    let recorded = receiver.wait_for("/hang", 1, WAIT).await;
    assert_eq!(recorded[0].body, b"hi");
    let mut byte = [0u8; 1];
    let answer = tokio::time::timeout(Duration::from_millis(300), stream.read(&mut byte)).await;
    assert!(answer.is_err(), "a hanging reply sent something: {answer:?}");

    let error = client().post(receiver.url("/hang")).timeout(Duration::from_millis(200)).send().await.unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert_eq!(receiver.requests("/hang").len(), 2);
}

#[tokio::test]
async fn close_records_the_request_and_closes_without_answering() {
    let receiver = Receiver::start().await;
    receiver.set("/close", Script::always(Reply::Close));
    let mut stream = send_raw(receiver.addr(), "POST /close HTTP/1.1\r\ncontent-length: 0\r\n\r\n").await;
    assert!(read_response(&mut stream).await.is_none());
    assert_eq!(receiver.requests("/close").len(), 1);

    let error = client().post(receiver.url("/close")).send().await.unwrap_err();
    assert!(!error.is_timeout() && error.status().is_none(), "{error}");
}

#[tokio::test]
async fn delay_answers_after_the_delay() {
    let receiver = Receiver::start().await;
    receiver.set("/slow", Script::always(Reply::Delay(Duration::from_millis(300), 202)));
    let started = Instant::now();
    let response = client().post(receiver.url("/slow")).send().await.unwrap();
    assert_eq!(response.status(), 202);
    assert!(started.elapsed() >= Duration::from_millis(300), "answered after {:?}", started.elapsed());
}

#[tokio::test]
async fn a_congested_path_slows_down_past_its_capacity_and_counts_what_is_in_flight() {
    let receiver = Receiver::start().await;
    let base = Duration::from_millis(200);
    receiver.set("/busy", Script::always(Reply::Congested { capacity: 2, base }));
    let send = |receiver: Receiver| async move {
        let started = Instant::now();
        let response = client().post(receiver.url("/busy")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        started.elapsed()
    };
    // Three at once on three connections: the third to arrive is one past the capacity.
    let sent: Vec<_> = (0..3).map(|_| tokio::spawn(send(receiver.clone()))).collect();
    let mut took = Vec::new();
    for one in sent {
        took.push(one.await.expect("sent"));
    }
    took.sort();
    let mut seen: Vec<usize> = receiver.requests("/busy").iter().map(|r| r.in_flight).collect();
    seen.sort();
    assert_eq!(seen, [1, 2, 3]);
    // The one past the capacity waited a base more (lower bounds: a busy machine only adds).
    assert!(took[0] >= base && took[2] >= base * 2, "{took:?}");
    // Answered: nothing in flight any more.
    send(receiver.clone()).await;
    assert_eq!(receiver.requests("/busy").last().map(|r| r.in_flight), Some(1));
}

#[tokio::test]
async fn drip_sends_the_head_at_once_then_one_byte_per_interval() {
    let receiver = Receiver::start().await;
    let every = Duration::from_millis(60);
    receiver.set("/drip", Script::always(Reply::Drip { status: 200, bytes: 5, every }));
    let mut stream = send_raw(receiver.addr(), "GET /drip HTTP/1.1\r\n\r\n").await;

    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    let head_at = Instant::now();
    assert!(String::from_utf8(head).unwrap().contains("content-length: 5\r\n"));
    let mut body = [0u8; 5];
    stream.read_exact(&mut body).await.unwrap();
    assert_eq!(&body, b"xxxxx");
    // The head came before any body byte was due; the five bytes took at least four more intervals.
    assert!(head_at.elapsed() >= every * 4, "body took {:?}", head_at.elapsed());
}

#[tokio::test]
async fn huge_streams_the_whole_announced_body() {
    let receiver = Receiver::start().await;
    let bytes = 20 * 1024 * 1024;
    receiver.set("/huge", Script::always(Reply::Huge { status: 200, bytes }));
    let mut response = client().get(receiver.url("/huge")).send().await.unwrap();
    assert_eq!(response.content_length(), Some(bytes));
    let mut read = 0u64;
    while let Some(chunk) = response.chunk().await.unwrap() {
        read += chunk.len() as u64;
    }
    assert_eq!(read, bytes);
}

#[tokio::test]
async fn keep_alive_serves_many_requests_on_one_connection() {
    let receiver = Receiver::start().await;
    let client = client();
    for _ in 0..5 {
        assert_eq!(client.post(receiver.url("/a")).body("x").send().await.unwrap().text().await.unwrap(), "ok");
    }
    assert_eq!(receiver.connections(), 1);

    // Pipelined on a raw socket: both answered, in order, on the same connection.
    receiver.set("/p2", Script::always(Reply::Status(204)));
    let mut stream = send_raw(receiver.addr(), "GET /p1 HTTP/1.1\r\n\r\nGET /p2 HTTP/1.1\r\n\r\n").await;
    let first = read_response(&mut stream).await.unwrap();
    let second = read_response(&mut stream).await.unwrap();
    assert_eq!((first.status(), &first.body[..]), (200, &b"ok"[..]));
    assert_eq!((second.status(), &second.body[..]), (204, &b"status 204"[..]));
    assert_eq!(receiver.connections(), 2);
}

#[tokio::test]
async fn connection_close_and_http_1_0_end_the_connection_after_the_answer() {
    let receiver = Receiver::start().await;
    for raw in ["GET /c HTTP/1.1\r\nConnection: close\r\n\r\n", "GET /c HTTP/1.0\r\n\r\n"] {
        let mut stream = send_raw(receiver.addr(), raw).await;
        let response = read_response(&mut stream).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.header("connection"), Some("close"));
        assert!(is_closed(&mut stream).await, "{raw:?} left the connection open");
    }
}

#[tokio::test]
async fn malformed_and_chunked_requests_get_400_and_a_close() {
    let receiver = Receiver::start().await;
    for raw in ["POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "NOT HTTP\r\n\r\n"] {
        let mut stream = send_raw(receiver.addr(), raw).await;
        let response = read_response(&mut stream).await.unwrap();
        assert_eq!(response.status(), 400, "{raw:?}");
        assert!(is_closed(&mut stream).await);
    }
    assert!(receiver.requests("/x").is_empty());
}
