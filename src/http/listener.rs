//! The listener: accepts connections and serves the router on each, with what a server facing
//! the public needs and `axum::serve` leaves out. A request's head must arrive within
//! `server.header_timeout_secs` (a half-sent header cannot hold a connection, nor can an idle
//! kept-alive one), one client address holds at most `server.connections_per_address`
//! connections (past that it is answered 429 and closed), and a stopping server gives requests
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
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::config::ServerConfig;

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting, lets the
/// connections finish their requests (up to the grace time) and returns. `cap_per_address`:
/// whether `server.connections_per_address` applies (not behind a trusted proxy).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    config: &ServerConfig,
    cap_per_address: bool,
    shutdown: impl Future<Output = ()>,
) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(config.header_timeout_secs));
    let cap = if cap_per_address { config.connections_per_address } else { 0 };
    let open = Connections::new(cap);
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
        let Some(slot) = open.take(peer.ip()) else {
            tasks.spawn(refuse(stream));
            continue;
        };
        let router = router.clone();
        let service =
            TowerToHyperService::new(tower::service_fn(move |mut request: Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                router.clone().oneshot(request.map(axum::body::Body::new))
            }));
        let connection = http.serve_connection(TokioIo::new(stream), service).with_upgrades();
        let mut stopping = stopping.clone();
        tasks.spawn(async move {
            let _slot = slot;
            let mut connection = pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => return,
                _ = stopping.changed() => connection.as_mut().graceful_shutdown(),
            }
            let _ = connection.await;
        });
    }
    drop(listener);
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

/// The answer to a connection over its address's cap: a JSend 429 written without reading the
/// request, then a short drain of what the client sent so that closing does not reset the
/// connection before the client has read the answer.
async fn refuse(mut stream: TcpStream) {
    const BODY: &str = r#"{"status":"fail","data":{"reason":"too_many_connections","message":"this address has too many open connections; close some and try again"}}"#;
    let answer = format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 5\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}

/// Open connections per client address, for the cap.
#[derive(Clone)]
struct Connections {
    cap: u32,
    open: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

impl Connections {
    fn new(cap: u32) -> Self {
        Self { cap, open: Arc::default() }
    }

    /// A slot for a new connection from `ip`, released when dropped; `None` when the address
    /// already holds its cap. No cap (0): always a slot, nothing counted.
    fn take(&self, ip: IpAddr) -> Option<Slot> {
        if self.cap == 0 {
            return Some(Slot { open: None, key: ip });
        }
        let key = address_key(ip);
        let mut open = self.open.lock().expect("connection counts");
        let count = open.entry(key).or_default();
        if *count >= self.cap {
            return None;
        }
        *count += 1;
        Some(Slot { open: Some(self.open.clone()), key })
    }
}

/// One counted connection.
struct Slot {
    open: Option<Arc<Mutex<HashMap<IpAddr, u32>>>>,
    key: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
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
        let open = Connections::new(2);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let first = open.take(ip).expect("first");
        let _second = open.take(ip).expect("second");
        assert!(open.take(ip).is_none(), "a third is over the cap");
        assert!(open.take("192.0.2.2".parse().unwrap()).is_some(), "another address has its own");
        drop(first);
        assert!(open.take(ip).is_some(), "a closed connection's slot is free again");
    }
}
