use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

/// A connected pair: the client socket and the server side wrapped in an `HttpConnection`.
async fn pair() -> (TcpStream, HttpConnection) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, HttpConnection::new(server))
}

#[tokio::test]
async fn reads_pipelined_requests_with_bodies_then_a_clean_close() {
    let (mut client, mut conn) = pair().await;
    client
        .write_all(b"POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\n\r\nPOST /c HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi")
        .await
        .unwrap();
    client.shutdown().await.unwrap();

    let first = conn.read_request().await.unwrap().unwrap();
    assert_eq!((first.head.path(), &first.body[..]), ("/a", &b"hello"[..]));
    let second = conn.read_request().await.unwrap().unwrap();
    assert_eq!((second.head.method.as_str(), second.head.path(), second.body.len()), ("GET", "/b", 0));
    let third = conn.read_request().await.unwrap().unwrap();
    assert_eq!((third.head.path(), &third.body[..]), ("/c", &b"hi"[..]));
    assert!(conn.read_request().await.unwrap().is_none());
}

#[tokio::test]
async fn a_body_arriving_in_pieces_is_reassembled() {
    let (mut client, mut conn) = pair().await;
    let reader = tokio::spawn(async move { conn.read_request().await.unwrap().unwrap() });
    client.write_all(b"POST /x HTTP/1.1\r\nContent-Le").await.unwrap();
    client.write_all(b"ngth: 6\r\n\r\nabc").await.unwrap();
    client.write_all(b"def").await.unwrap();
    assert_eq!(&reader.await.unwrap().body[..], b"abcdef");
}

#[tokio::test]
async fn expect_continue_is_answered_before_the_body_is_read() {
    let (mut client, mut conn) = pair().await;
    let reader = tokio::spawn(async move { conn.read_request().await.unwrap().unwrap() });
    client.write_all(b"POST /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n").await.unwrap();
    let mut interim = [0u8; 25];
    client.read_exact(&mut interim).await.unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    client.write_all(b"abc").await.unwrap();
    assert_eq!(&reader.await.unwrap().body[..], b"abc");
}

#[tokio::test]
async fn a_request_cut_short_is_truncated() {
    let (mut client, mut conn) = pair().await;
    client.write_all(b"POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc").await.unwrap();
    client.shutdown().await.unwrap();
    assert!(matches!(conn.read_request().await, Err(ReadError::Truncated)));

    let (mut client, mut conn) = pair().await;
    client.write_all(b"GET /x HTTP/1.1\r\n").await.unwrap();
    client.shutdown().await.unwrap();
    assert!(matches!(conn.read_request().await, Err(ReadError::Truncated)));
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_413_before_it_is_read() {
    let (mut client, mut conn) = pair().await;
    let head = format!("POST /x HTTP/1.1\r\nContent-Length: {}\r\n\r\n", MAX_BODY_BYTES + 1);
    client.write_all(head.as_bytes()).await.unwrap();
    let Err(ReadError::Parse(error)) = conn.read_request().await else { panic!("expected a parse error") };
    conn.refuse(&error).await.unwrap();
    drop(conn);
    let mut answer = String::new();
    client.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 413 Content Too Large\r\n"), "{answer}");
    assert!(answer.contains("connection: close\r\n"), "{answer}");
    assert!(answer.ends_with(&format!("exceeds the limit of {MAX_BODY_BYTES} bytes")), "{answer}");
}
