//! The socket gateways, beside `http/`: Socket.IO and plain WebSocket endpoints and the AsyncAPI
//! document. Like HTTP handlers they authenticate, call the use cases for inbound commands, and
//! hand connections to the hub for delivery.

pub mod asyncapi;
pub mod commands;
pub mod events;
pub mod sio;
pub mod ws;

/// Whether a socket handshake may proceed: a browser (it sends `Origin`) must come from an allowed
/// origin; other clients send none and are not affected.
pub fn origin_allowed(config: &crate::config::Config, headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::ORIGIN)
        .is_none_or(|origin| origin.to_str().is_ok_and(|origin| config.origin_allowed(origin)))
}
