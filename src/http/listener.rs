//! The listener: accepts connections and serves the router on each, with what a server facing
//! the public needs and `axum::serve` leaves out. A request's head must arrive within
//! `server.header_timeout_secs` (a half-sent header cannot hold a connection, nor can an idle
//! kept-alive one), one client address holds at most `server.connections_per_address`
//! connections (past that it is answered 429 and closed), the whole server at most
//! `server.max_connections` (past that 503: a server out of descriptors could not even accept,
//! and a client would wait in the listen queue for nothing; `/healthz` and `/readyz` are still
//! answered past it, on a small reserve, so that a full instance is taken out of rotation rather
//! than killed as dead), and a stopping server gives requests
//! in flight `server.shutdown_grace_secs` to finish. Bodies have their own timeouts, as layers
//! of the router ([`super::router`]).
//!
//! HTTP/1.1 only, upgrades (WebSocket) included: browsers speak HTTP/2 only over TLS, which the
//! proxy in front ends, and waiting to tell HTTP/2's preface from HTTP/1 is a read without a
//! timeout.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv6Addr};
use std::pin::pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::config::ServerConfig;

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting, runs
/// `farewell` (telling long-lived connections to go elsewhere), lets the connections finish their
/// requests (up to the grace time) and returns. `cap_per_address`: whether
/// `server.connections_per_address` applies (not behind a trusted proxy).
///
/// The listener closes before the farewell: a client told to reconnect must not reach this
/// process again, where it would meet a server already closing (a Socket.IO client would be
/// refused its namespace and, like socket.io-client, stop trying). A refused connection sends
/// it, or the proxy, to another instance.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    config: &ServerConfig,
    cap_per_address: bool,
    shutdown: impl Future<Output = ()>,
    farewell: impl Future<Output = ()>,
) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(config.header_timeout_secs));
    let cap = if cap_per_address { config.connections_per_address } else { 0 };
    let open = Connections::new(cap, config.connection_limit());
    let (stop, stopping) = watch::channel(());
    let tasks = TaskTracker::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    accept_failed(err).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let slot = match open.take(peer.ip()) {
            Ok(slot) => slot,
            Err(Over::Server) => {
                match open.take_probe() {
                    Some(probe) => tasks.spawn(serve_full(stream, peer, router.clone(), probe)),
                    None => tasks.spawn(refuse(stream, Over::Server)),
                };
                continue;
            }
            Err(over) => {
                tasks.spawn(refuse(stream, over));
                continue;
            }
        };
        let router = router.clone();
        let service =
            TowerToHyperService::new(tower::service_fn(move |mut request: Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                router.clone().oneshot(request.map(axum::body::Body::new))
            }));
        // The slot goes with the stream, so a connection upgraded to a WebSocket (whose stream
        // hyper hands over and forgets) still counts until its socket closes.
        let stream = Counted { stream, _slot: slot };
        let connection = http.serve_connection(TokioIo::new(stream), service).with_upgrades();
        let mut stopping = stopping.clone();
        tasks.spawn(async move {
            let mut connection = pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => return,
                _ = stopping.changed() => connection.as_mut().graceful_shutdown(),
            }
            let _ = connection.await;
        });
    }
    drop(listener);
    farewell.await;
    drop(stop);
    tasks.close();
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    if tokio::time::timeout(grace, tasks.wait()).await.is_err() {
        tracing::warn!(connections = tasks.len(), "requests still running at the end of the shutdown grace time");
    }
}

/// An accept that failed: most often the process is out of descriptors (`EMFILE`), which a
/// closing connection will give back; wait a moment rather than spin.
async fn accept_failed(err: std::io::Error) {
    tracing::warn!(error = %err, "accepting a connection failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// A request marked as reaching a server at its connection cap: `/readyz` then answers 503.
#[derive(Debug, Clone, Copy)]
pub struct AtCapacity;

/// The paths a full server still answers: the orchestrator's probes.
const PROBES: [&str; 2] = ["/healthz", "/readyz"];

/// How many connections past `server.max_connections` may be read at once for a probe; the
/// rest are refused without reading. Taken from the descriptors the cap leaves in reserve.
const PROBE_RESERVE: u32 = 32;

/// How long a connection past the cap has to send its request head.
const PROBE_HEADER_TIMEOUT: Duration = Duration::from_secs(1);

/// Serves one request on a connection past the server's cap: a probe reaches the router,
/// marked [`AtCapacity`] (liveness answers 200, readiness 503: a full instance is alive, and
/// should get no new clients); anything else is the same 503 `server_full` as [`refuse`].
async fn serve_full(stream: TcpStream, peer: std::net::SocketAddr, router: Router, probe: Slot) {
    let service = TowerToHyperService::new(tower::service_fn(move |mut request: Request<hyper::body::Incoming>| {
        let router = router.clone();
        async move {
            if !PROBES.contains(&request.uri().path()) {
                return Ok::<_, std::convert::Infallible>(full_answer());
            }
            request.extensions_mut().insert(ConnectInfo(peer));
            request.extensions_mut().insert(AtCapacity);
            router.oneshot(request.map(axum::body::Body::new)).await
        }
    }));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(PROBE_HEADER_TIMEOUT).keep_alive(false);
    let stream = Counted { stream, _slot: probe };
    let _ = tokio::time::timeout(Duration::from_secs(5), http.serve_connection(TokioIo::new(stream), service)).await;
}

const SERVER_FULL: &str = r#"{"status":"fail","data":{"reason":"server_full","message":"the server holds as many connections as it can; try again shortly"}}"#;

fn full_answer() -> axum::response::Response {
    axum::response::Response::builder()
        .status(hyper::StatusCode::SERVICE_UNAVAILABLE)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::RETRY_AFTER, "5")
        .header(hyper::header::CONNECTION, "close")
        .body(axum::body::Body::from(SERVER_FULL))
        .expect("a static answer")
}

/// The answer to a connection over a cap: a JSend 429 (its address's cap) or 503 (the server's)
/// written without reading the request, then a short drain of what the client sent so that
/// closing does not reset the connection before the client has read the answer.
async fn refuse(mut stream: TcpStream, over: Over) {
    let (status, body, drain) = match over {
        Over::Address => (
            "429 Too Many Requests",
            r#"{"status":"fail","data":{"reason":"too_many_connections","message":"this address has too many open connections; close some and try again"}}"#,
            Duration::from_secs(5),
        ),
        // Refusals hold descriptors from the reserve while they drain: keep them short.
        Over::Server => ("503 Service Unavailable", SERVER_FULL, Duration::from_secs(1)),
    };
    let answer = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 5\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(drain, async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}

/// Which cap a refused connection is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Over {
    Address,
    Server,
}

/// Open connections, in all and per client address, for the caps.
#[derive(Clone)]
struct Connections {
    cap: u32,
    open: Arc<Mutex<HashMap<IpAddr, u32>>>,
    max_total: u32,
    total: Arc<AtomicU32>,
    probes: Arc<AtomicU32>,
}

impl Connections {
    fn new(cap: u32, max_total: u32) -> Self {
        Self { cap, open: Arc::default(), max_total, total: Arc::default(), probes: Arc::default() }
    }

    /// A place on the probe reserve past the server's cap, if one is free.
    fn take_probe(&self) -> Option<Slot> {
        if self.probes.fetch_add(1, Ordering::AcqRel) >= PROBE_RESERVE {
            self.probes.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Slot { open: None, key: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), total: Some(self.probes.clone()) })
    }

    /// A slot for a new connection from `ip`, released when dropped; refused when the server or
    /// the address already holds its cap. A cap of 0 counts nothing.
    fn take(&self, ip: IpAddr) -> Result<Slot, Over> {
        let total = if self.max_total == 0 {
            None
        } else if self.total.fetch_add(1, Ordering::AcqRel) >= self.max_total {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return Err(Over::Server);
        } else {
            Some(self.total.clone())
        };
        // From here `slot` holds the server-wide count, given back if the address is refused.
        let mut slot = Slot { open: None, key: ip, total };
        if self.cap == 0 {
            return Ok(slot);
        }
        let key = address_key(ip);
        let mut open = self.open.lock().expect("connection counts");
        let count = open.entry(key).or_default();
        if *count >= self.cap {
            return Err(Over::Address);
        }
        *count += 1;
        slot.open = Some(self.open.clone());
        slot.key = key;
        Ok(slot)
    }
}

/// A connection's stream with its place in the counts, given back when the stream is dropped.
struct Counted {
    stream: TcpStream,
    _slot: Slot,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// One counted connection.
struct Slot {
    open: Option<Arc<Mutex<HashMap<IpAddr, u32>>>>,
    key: IpAddr,
    total: Option<Arc<AtomicU32>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(total) = &self.total {
            total.fetch_sub(1, Ordering::AcqRel);
        }
        let Some(open) = &self.open else { return };
        let mut open = open.lock().expect("connection counts");
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// What a connection counts against: an IPv4 address, or an IPv6 address's /64 (one host is
/// usually given a whole /64, so counting single IPv6 addresses would cap nothing).
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                IpAddr::V6(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_v6_address_counts_by_its_64_and_a_mapped_v4_as_itself() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(other));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(address_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn an_address_holds_its_cap_and_a_closed_connection_frees_its_slot() {
        let open = Connections::new(2, 0);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let first = open.take(ip).expect("first");
        let _second = open.take(ip).expect("second");
        assert_eq!(open.take(ip).err(), Some(Over::Address), "a third is over the cap");
        assert!(open.take("192.0.2.2".parse().unwrap()).is_ok(), "another address has its own");
        drop(first);
        assert!(open.take(ip).is_ok(), "a closed connection's slot is free again");
    }

    #[test]
    fn the_probe_reserve_holds_its_size_and_a_finished_probe_gives_its_place_back() {
        let open = Connections::new(0, 1);
        let held: Vec<Slot> = (0..PROBE_RESERVE).map(|_| open.take_probe().expect("a place on the reserve")).collect();
        assert!(open.take_probe().is_none(), "the reserve is full");
        drop(held);
        assert!(open.take_probe().is_some(), "finished probes free their places");
        assert_eq!(open.total.load(Ordering::Acquire), 0, "probes do not count against the cap itself");
    }

    #[test]
    fn the_server_holds_its_cap_in_all_and_an_address_refused_gives_its_slot_back() {
        let open = Connections::new(1, 2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let first = open.take(a).expect("first");
        assert_eq!(open.take(a).err(), Some(Over::Address));
        let second = open.take("192.0.2.2".parse().unwrap()).expect("the address refusal gave its count back");
        assert_eq!(open.take("192.0.2.3".parse().unwrap()).err(), Some(Over::Server), "a third in all is over");
        drop(second);
        let third = open.take("192.0.2.3".parse().unwrap()).expect("a closed connection frees a slot in all");
        drop(first);
        assert_eq!(open.total.load(Ordering::Acquire), 1);
        drop(third);
        assert_eq!(open.total.load(Ordering::Acquire), 0);
    }
}
