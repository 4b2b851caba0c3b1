//! Stopping, resuming and dropping the receiver; waiting for requests.

use std::time::Duration;

use tokio::net::TcpStream;

use super::super::{Receiver, Reply, Script};
use super::{client, is_closed, send_raw};
use crate::wait::wait_until;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn stop_closes_everything_and_refuses_then_resume_serves_on_the_same_port() {
    let receiver = Receiver::start().await;
    let addr = receiver.addr();
    receiver.set("/hook", Script::then(vec![Reply::Hang], Reply::Status(204)));
    let mut hung = send_raw(addr, "POST /hook HTTP/1.1\r\ncontent-length: 0\r\n\r\n").await;
    receiver.wait_for("/hook", 1, WAIT).await;

    receiver.stop().await;
    assert!(is_closed(&mut hung).await, "the hung connection survived stop");
    let refused = TcpStream::connect(addr).await;
    assert!(refused.is_err(), "a stopped receiver accepted a connection");
    assert!(client().post(receiver.url("/hook")).send().await.unwrap_err().is_connect());

    receiver.resume().await;
    assert_eq!(receiver.addr(), addr);
    // The script carried on where it was; the recorded requests were kept.
    let response = client().post(receiver.url("/hook")).send().await.unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(receiver.requests("/hook").len(), 2);

    receiver.stop().await;
    receiver.stop().await;
    receiver.resume().await;
    receiver.resume().await;
    assert_eq!(client().post(receiver.url("/hook")).send().await.unwrap().status(), 204);
}

#[tokio::test]
async fn dropping_the_last_handle_closes_hung_connections_and_the_port() {
    let receiver = Receiver::start().await;
    let addr = receiver.addr();
    receiver.set("/hang", Script::always(Reply::Hang));
    let mut hung = send_raw(addr, "GET /hang HTTP/1.1\r\n\r\n").await;
    receiver.wait_for("/hang", 1, WAIT).await;

    let clone = receiver.clone();
    drop(receiver);
    assert_eq!(client().get(clone.url("/still")).send().await.unwrap().status(), 200, "a clone keeps it serving");

    drop(clone);
    assert!(tokio::time::timeout(WAIT, is_closed(&mut hung)).await.unwrap(), "the hung connection survived the drop");
    wait_until(WAIT, "the port to refuse connections", || async { TcpStream::connect(addr).await.err() }).await;
}

#[tokio::test]
async fn wait_for_returns_once_enough_requests_arrived() {
    let receiver = Receiver::start().await;
    let sender = receiver.clone();
    tokio::spawn(async move {
        for i in 0..3 {
            client().post(sender.url("/later")).body(format!("{i}")).send().await.unwrap();
        }
    });
    let received = receiver.wait_for("/later", 3, WAIT).await;
    let bodies: Vec<&[u8]> = received.iter().map(|r| r.body.as_slice()).collect();
    assert_eq!(bodies, [b"0", b"1", b"2"]);
    assert_eq!(receiver.connections(), 3);
}

#[tokio::test]
#[should_panic(expected = "for 2 requests on /missing, 0 arrived (all paths: {\"/other\": 1})")]
async fn wait_for_panics_saying_what_arrived() {
    let receiver = Receiver::start().await;
    client().get(receiver.url("/other")).send().await.unwrap();
    receiver.wait_for("/missing", 2, Duration::from_millis(100)).await;
}
