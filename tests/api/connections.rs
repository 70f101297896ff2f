//! The connections themselves, over real TCP to the server's own listener: a client that sends
//! half a request head, idles on a kept-alive connection or trickles a body is cut off in
//! bounded time; one address holds at most its cap of connections and is told so in JSend;
//! oversized targets and headers are JSend refusals.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::TestApp;

/// Reads until the server closes the connection (at most `within`), returning what it sent and
/// how long it took; `None` if it was still open after `within`.
async fn until_closed(stream: &mut TcpStream, within: Duration) -> Option<(Vec<u8>, Duration)> {
    let start = Instant::now();
    let mut received = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    });
    read.await.ok().map(|()| (received, start.elapsed()))
}

/// The status and JSON body of one raw HTTP/1.1 answer.
fn answer(raw: &[u8]) -> (u16, Value) {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no complete answer in {text:?}"));
    let status = head.split(' ').nth(1).and_then(|code| code.parse().ok()).expect("a status line");
    (status, serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body:?}")))
}

/// A request that is not one of the probes a full server still answers.
const PLAIN_REQUEST: &[u8] = b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: parlor\r\nConnection: close\r\n\r\n";

/// One probe request on a connection of its own: its status and body.
async fn probe(addr: SocketAddr, path: &str) -> (u16, Value) {
    let mut stream = connect(addr).await;
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: parlor\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let (raw, _) = until_closed(&mut stream, Duration::from_secs(10)).await.expect("answered and closed");
    answer(&raw)
}

async fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).await.expect("connect")
}

#[tokio::test]
async fn a_half_sent_request_head_is_cut_off_after_the_header_timeout() {
    let app = TestApp::with_config(|c| c.server.header_timeout_secs = 1).await;
    let addr = app.listen().await;
    let mut stream = connect(addr).await;
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: parlor\r\nX-Slow: ").await.unwrap();
    let (_, took) = until_closed(&mut stream, Duration::from_secs(10)).await.expect("closed by the server");
    assert!(took < Duration::from_secs(5), "closed after {took:?}");

    // A connection that sends nothing at all is cut off the same way.
    let mut silent = connect(addr).await;
    until_closed(&mut silent, Duration::from_secs(10)).await.expect("a silent connection is closed too");
}

#[tokio::test]
async fn a_kept_alive_connection_left_idle_is_closed() {
    let app = TestApp::with_config(|c| c.server.header_timeout_secs = 1).await;
    let addr = app.listen().await;
    let mut stream = connect(addr).await;
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: parlor\r\n\r\n").await.unwrap();
    let mut first = [0u8; 12];
    stream.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200", "the request itself is answered");
    let (_, took) = until_closed(&mut stream, Duration::from_secs(10)).await.expect("closed once idle");
    assert!(took < Duration::from_secs(5), "closed after {took:?}");
}

/// The head of a login whose body promises `length` bytes.
fn login_head(length: usize) -> String {
    format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: parlor\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
}

#[tokio::test]
async fn a_body_that_stalls_is_answered_408_in_jsend() {
    let app = TestApp::with_config(|c| c.server.body_idle_secs = 1).await;
    let addr = app.listen().await;
    let mut stream = connect(addr).await;
    stream.write_all(login_head(200).as_bytes()).await.unwrap();
    stream.write_all(br#"{"identifier": "#).await.unwrap();
    let (raw, took) = until_closed(&mut stream, Duration::from_secs(10)).await.expect("answered and closed");
    let (status, body) = answer(&raw);
    assert_eq!(status, 408, "{body}");
    assert_eq!(body["status"], "fail");
    assert_eq!(body["data"]["reason"], "body_timeout");
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
}

#[tokio::test]
async fn a_body_that_trickles_past_the_whole_body_deadline_is_answered_408() {
    let app = TestApp::with_config(|c| {
        c.server.body_idle_secs = 10;
        c.server.body_timeout_secs = 1;
    })
    .await;
    let addr = app.listen().await;
    let mut stream = connect(addr).await;
    stream.write_all(login_head(200).as_bytes()).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    // A byte every 200 ms: never a pause as long as the idle limit, never done either.
    let trickle = tokio::spawn(async move {
        for _ in 0..100 {
            if writer.write_all(b" ").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), reader.read_to_end(&mut raw)).await.expect("answered").ok();
    trickle.abort();
    let (status, body) = answer(&raw);
    assert_eq!((status, body["data"]["reason"].as_str()), (408, Some("body_timeout")), "{body}");
}

#[tokio::test]
async fn an_address_over_its_connection_cap_is_refused_in_jsend_until_one_closes() {
    let app = TestApp::with_config(|c| c.server.connections_per_address = 3).await;
    let addr = app.listen().await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = connect(addr).await;
        // Answered, so surely accepted and counted.
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: parlor\r\n\r\n").await.unwrap();
        let mut first = [0u8; 12];
        stream.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"HTTP/1.1 200");
        held.push(stream);
    }
    let mut fourth = connect(addr).await;
    fourth.write_all(b"GET /healthz HTTP/1.1\r\nHost: parlor\r\n\r\n").await.unwrap();
    let (raw, _) = until_closed(&mut fourth, Duration::from_secs(10)).await.expect("refused and closed");
    let (status, body) = answer(&raw);
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["status"], "fail");
    assert_eq!(body["data"]["reason"], "too_many_connections");
    assert!(String::from_utf8_lossy(&raw).to_ascii_lowercase().contains("retry-after: "), "says when to retry");

    // One of the three closes: the address may connect again.
    drop(held.pop());
    until_served_again(addr, "the closed connection's slot never came back").await;
}

#[tokio::test]
async fn a_server_at_its_connection_cap_refuses_at_once_in_jsend_yet_answers_its_probes() {
    let app = TestApp::with_config(|c| c.server.max_connections = 2).await;
    let addr = app.listen().await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = connect(addr).await;
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: parlor\r\n\r\n").await.unwrap();
        let mut first = [0u8; 12];
        stream.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"HTTP/1.1 200");
        held.push(stream);
    }
    let mut third = connect(addr).await;
    third.write_all(PLAIN_REQUEST).await.unwrap();
    let (raw, _) = until_closed(&mut third, Duration::from_secs(10)).await.expect("refused and closed");
    let (status, body) = answer(&raw);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["data"]["reason"], "server_full");
    assert!(String::from_utf8_lossy(&raw).to_ascii_lowercase().contains("retry-after: "), "says when to retry");

    // The orchestrator's probes are still answered: alive, and not ready for more clients.
    let (status, body) = probe(addr, "/healthz").await;
    assert_eq!((status, &body["status"]), (200, &Value::from("ok")), "{body}");
    let (status, body) = probe(addr, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["checks"]["connections"], "full", "{body}");
    assert_eq!(body["checks"]["database"], "ok", "{body}");

    drop(held.pop());
    until_served_again(addr, "the closed connection's place never came back").await;
}

#[tokio::test]
async fn websockets_count_against_the_caps_for_as_long_as_they_are_open() {
    let app = TestApp::with_config(|c| {
        c.server.max_connections = 2;
        c.server.connections_per_address = 2;
    })
    .await;
    let addr = app.listen().await;
    let token = crate::helpers::token(&app.register("wanda").await, "access_token");
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(crate::sockets::ws_connect(addr, Some(&token), None).await.expect("a socket"));
    }
    // Upgraded connections are no longer hyper's, but they still hold their places.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = connect(addr).await;
    third.write_all(PLAIN_REQUEST).await.unwrap();
    let (raw, _) = until_closed(&mut third, Duration::from_secs(10)).await.expect("refused and closed");
    let (status, body) = answer(&raw);
    assert!(status == 503 || status == 429, "{status} {body}");

    drop(held.pop());
    until_served_again(addr, "a closed socket's place never came back").await;
}

#[test]
fn the_automatic_connection_cap_leaves_descriptors_for_everything_else() {
    let config = parlor::config::ServerConfig::default();
    let limit = config.connection_limit();
    // This process's own limit, read independently of the code under test.
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    if let Some(soft) = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<u64>().ok())
    {
        assert_eq!(u64::from(limit), soft.saturating_sub(parlor::config::DESCRIPTOR_RESERVE).max(1));
    }
    let set = parlor::config::ServerConfig { max_connections: 7, ..config };
    assert_eq!(set.connection_limit(), 7);
}

#[tokio::test]
async fn an_oversized_target_or_header_section_is_a_jsend_refusal_through_the_listener() {
    let app = TestApp::spawn().await;
    let addr = app.listen().await;
    for (request, status, reason) in [
        (format!("GET /api/v1/users?q={} HTTP/1.1\r\n", "a".repeat(20_000)), 414, "uri_too_long"),
        (format!("GET /healthz HTTP/1.1\r\nCookie: {}\r\n", "a".repeat(40_000)), 431, "headers_too_large"),
    ] {
        let mut stream = connect(addr).await;
        stream.write_all(format!("{request}Host: parlor\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
        let (raw, _) = until_closed(&mut stream, Duration::from_secs(10)).await.expect("answered");
        let (got, body) = answer(&raw);
        assert_eq!(
            (got, body["status"].as_str(), body["data"]["reason"].as_str()),
            (status, Some("fail"), Some(reason))
        );
    }
    // Within the limits, the same requests are served.
    let fine = app.get(&format!("/healthz?pad={}", "a".repeat(4_000)), None).await;
    fine.assert_status(StatusCode::OK);
}

#[tokio::test]
async fn the_api_documentation_page_has_a_content_security_policy() {
    let app = TestApp::spawn().await;
    let page = app.get("/docs/", None).await;
    page.assert_status(StatusCode::OK);
    let policy = page.header("content-security-policy");
    for directive in ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"] {
        assert!(policy.contains(directive), "{directive} in {policy}");
    }
}

/// Waits (up to 5 s) until a new connection to `addr` is served again, once a held one closed.
async fn until_served_again(addr: SocketAddr, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut again = connect(addr).await;
        again.write_all(PLAIN_REQUEST).await.unwrap();
        let (raw, _) = until_closed(&mut again, Duration::from_secs(10)).await.expect("answered");
        if raw.starts_with(b"HTTP/1.1 200") {
            return;
        }
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
