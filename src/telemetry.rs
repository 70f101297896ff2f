//! Logs and metrics: readable text on stdout, JSON lines in `<data dir>/logs/`, and Prometheus
//! counters for `/metrics`.

use std::path::Path;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the global subscriber. Keep the guard alive: dropping it flushes and stops the file
/// writer.
pub fn init(filter: &str, logs_dir: &Path) -> anyhow::Result<WorkerGuard> {
    std::fs::create_dir_all(logs_dir)?;
    let file = tracing_appender::rolling::daily(logs_dir, "parlor.json");
    let (writer, guard) = tracing_appender::non_blocking(file);
    tracing_subscriber::registry()
        .with(EnvFilter::try_new(filter)?)
        .with(
            tracing_subscriber::fmt::layer().compact().with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout())),
        )
        .with(tracing_subscriber::fmt::layer().json().flatten_event(true).with_current_span(false).with_writer(writer))
        .try_init()?;
    Ok(guard)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    /// The matched route template (`/api/v1/users/{id}`), never the raw path.
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SocketLabels {
    /// `websocket` or `socket.io`.
    pub kind: &'static str,
}

pub const WEBSOCKET: SocketLabels = SocketLabels { kind: "websocket" };
pub const SOCKET_IO: SocketLabels = SocketLabels { kind: "socket.io" };

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RequestLabels, Histogram>,
    /// Sockets open on this instance.
    pub sockets: Family<SocketLabels, Gauge>,
    /// Sockets closed because their queue was full.
    pub slow_sockets: Family<SocketLabels, Counter>,
    encoded: Mutex<String>,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("parlor");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5])
        });
        registry.register("http_requests", "HTTP requests handled", requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency", latency.clone());
        let sockets = Family::<SocketLabels, Gauge>::default();
        let slow_sockets = Family::<SocketLabels, Counter>::default();
        registry.register("sockets", "Sockets open on this instance", sockets.clone());
        registry.register("slow_sockets_closed", "Sockets closed because they stopped reading", slow_sockets.clone());
        Self { registry, requests, latency, sockets, slow_sockets, encoded: Mutex::new(String::new()) }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = self.encoded.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        out.clear();
        if prometheus_client::encoding::text::encode(&mut *out, &self.registry).is_err() {
            tracing::error!("encoding metrics failed");
        }
        out.clone()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Filled in by the auth extractor, so the log line can name the user.
#[derive(Debug, Clone, Default)]
pub struct RequestUser(std::sync::Arc<std::sync::OnceLock<uuid::Uuid>>);

impl RequestUser {
    pub fn set(&self, user_id: uuid::Uuid) {
        let _ = self.0.set(user_id);
    }

    pub fn get(&self) -> Option<uuid::Uuid> {
        self.0.get().copied()
    }
}
