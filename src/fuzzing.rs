//! The parsers that read what a client sends, each behind one entry point that takes arbitrary
//! bytes. The `fuzz/` targets (libFuzzer, `scripts/fuzz-parsers`) call these, and a unit test
//! below replays every input kept under `fuzz/seeds/` and `fuzz/regressions/`, so an input that
//! once broke a parser is checked in every test run.
//!
//! Each entry point must not panic, and checks the promises its parsers make beyond that: a
//! refusal is a client error (never a 5xx), normalising is idempotent, a forged token never
//! verifies, a decoded image is within the pixel cap.

use std::str::FromStr;
use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{Request, header};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::auth::tokens::{TokenKeys, generate_signing_key};
use crate::config::AuthConfig;
use crate::domain::search::SearchQuery;
use crate::domain::{
    ChatId, ChatTitle, ClientId, Email, Emoji, Identifier, MessageId, MessageText, Phone, UserId, Username,
};
use crate::error::{AppError, FieldErrors};
use crate::media::image::{self, ImageError, PipelineLimits};

/// A fuzz target: any bytes in, a panic only when an invariant breaks.
pub type Target = fn(&[u8]);

/// Every fuzz target, by the name its `fuzz/fuzz_targets/<name>.rs` and its regression folder
/// carry.
pub const TARGETS: [(&str, Target); 6] = [
    ("identifiers", identifiers),
    ("json_bodies", json_bodies),
    ("multipart", multipart),
    ("images", images),
    ("tokens", tokens),
    ("socket_frames", socket_frames),
];

/// Ids in paths and bodies, login identifiers, names, texts, titles, emoji, search queries.
pub fn identifiers(data: &[u8]) {
    let raw = String::from_utf8_lossy(data);
    let raw = raw.as_ref();
    if let Ok(id) = UserId::from_str(raw) {
        assert_eq!(UserId::from_str(&id.to_string()).ok(), Some(id), "an id reads back as itself");
    }
    let _ = ChatId::from_str(raw);
    let _ = MessageId::from_str(raw);
    idempotent(raw, Username::parse, Username::as_str);
    idempotent(raw, Email::parse, Email::as_str);
    idempotent(raw, Email::parse_new, Email::as_str);
    idempotent(raw, Phone::parse, Phone::as_str);
    idempotent(raw, MessageText::parse, MessageText::as_str);
    idempotent(raw, ChatTitle::parse, ChatTitle::as_str);
    idempotent(raw, SearchQuery::parse, SearchQuery::folded);
    if let Ok(identifier) = Identifier::parse(raw) {
        let normal = match &identifier {
            Identifier::Username(name) => name.as_str().to_owned(),
            Identifier::Email(email) => email.as_str().to_owned(),
            Identifier::Phone(phone) => phone.as_str().to_owned(),
        };
        let again = Identifier::parse(&normal).expect("a normalised identifier parses");
        assert_eq!(again.field(), identifier.field(), "a normalised identifier keeps its kind");
        assert_eq!(again.key(), identifier.key(), "a normalised identifier keeps its key");
    }
    let _ = ClientId::parse(raw);
    if let Ok(emoji) = Emoji::parse(raw) {
        assert_eq!(Emoji::parse(emoji.as_str()).ok(), Some(emoji));
    }
    let _ = crate::domain::NewPassword::parse(raw, &["alice", "alice@example.org"]);
}

/// A value that parses reads back as itself.
fn idempotent<T: PartialEq + std::fmt::Debug, E>(raw: &str, parse: fn(&str) -> Result<T, E>, show: fn(&T) -> &str) {
    if let Ok(value) = parse(raw) {
        let again = parse(show(&value)).ok();
        assert_eq!(again.as_ref(), Some(&value), "{raw:?} normalises to a form that parses as itself");
    }
}

/// JSON request bodies, read as every route and socket command reads them, then validated as
/// their handlers validate them before any I/O.
pub fn json_bodies(data: &[u8]) {
    use crate::chat::{NewChat, SendMessage};
    use crate::gateway::commands::{
        ChatCommand, EditCommand, HistoryCommand, ListCommand, MessageCommand, ReactCommand, ReadCommand, SendCommand,
    };
    use crate::http::auth::{
        LoginRequest, PasswordResetConfirm, PasswordResetRequest, RefreshRequest, RegisterRequest,
    };

    body::<RegisterRequest>(data);
    body::<LoginRequest>(data);
    body::<RefreshRequest>(data);
    body::<PasswordResetRequest>(data);
    body::<PasswordResetConfirm>(data);
    body::<NewChat>(data);
    body::<ListCommand>(data);
    body::<ChatCommand>(data);
    body::<ReadCommand>(data);
    body::<MessageCommand>(data);
    body::<ReactCommand>(data);
    body::<serde_json::Map<String, Value>>(data);
    if let Some(message) = body::<SendMessage>(data) {
        client_error(message.draft().err());
    }
    if let Some(command) = body::<SendCommand>(data) {
        client_error(command.message.draft().err());
    }
    if let Some(command) = body::<EditCommand>(data) {
        let _ = MessageText::parse(&command.text);
    }
    if let Some(command) = body::<HistoryCommand>(data) {
        let mut errors = FieldErrors::new();
        let (_, limit) = crate::chat::history_page(command.before, command.after, command.limit, &mut errors);
        assert!((1..=crate::chat::MAX_PAGE).contains(&limit), "a page is 1–{} long", crate::chat::MAX_PAGE);
    }
    // The OAuth endpoints read forms, not JSON.
    let _ = serde_urlencoded::from_bytes::<crate::http::oauth::TokenForm>(data);
    let _ = serde_urlencoded::from_bytes::<crate::http::oauth::RevokeForm>(data);
}

fn body<T: DeserializeOwned>(data: &[u8]) -> Option<T> {
    match crate::json::parse_json::<T>(data) {
        Ok(value) => Some(value),
        Err(err) => {
            client_error(Some(err));
            None
        }
    }
}

/// A refusal is a client's fault: a 4xx with a reason, never a server error.
fn client_error(err: Option<AppError>) {
    if let Some(err) = err {
        assert!(err.refusal().is_some(), "a bad body is refused as the client's fault, not {err:?}");
    }
}

/// A `multipart/form-data` upload read as the avatar and attachment routes read it: the bytes
/// after the first line are the body, the first line is the boundary.
pub fn multipart(data: &[u8]) {
    let (boundary, body) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (String::from_utf8_lossy(&data[..at]).into_owned(), data[at + 1..].to_vec()),
        None => ("X".to_owned(), data.to_vec()),
    };
    let Ok(request) = Request::post("/")
        .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
        .body(Body::from(body))
    else {
        return; // not a header value a client could send
    };
    const MAX: usize = 1024;
    let outcome = runtime().block_on(crate::http::extract::multipart_file(request, &(), "file", MAX));
    match outcome {
        Ok((_, bytes)) => assert!(bytes.len() <= MAX, "a file is at most the route's limit"),
        Err(err) => client_error(Some(err)),
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| tokio::runtime::Builder::new_current_thread().build().expect("a runtime"))
}

/// Image sniffing, header inspection and the full pipelines (avatar and attachment), under a
/// small pixel cap so the cap's path is reached.
pub fn images(data: &[u8]) {
    const MAX_PIXELS: u64 = 64 * 64;
    let limits = PipelineLimits { max_pixels: MAX_PIXELS, jpeg_quality: 80 };
    let sniffed = image::sniff(data);
    match image::inspect(data, MAX_PIXELS) {
        Ok((format, width, height)) => {
            assert_eq!(Some(format), sniffed, "the inspected format is the sniffed one");
            assert!(u64::from(width) * u64::from(height) <= MAX_PIXELS && width > 0 && height > 0);
        }
        Err(ImageError::TooLarge { width, height, .. }) => assert!(u64::from(width) * u64::from(height) > MAX_PIXELS),
        Err(_) => {}
    }
    if let Ok(variants) = image::process(data, limits) {
        let (original, squares) = variants.split_first().expect("an original");
        assert!(u64::from(original.width) * u64::from(original.height) <= MAX_PIXELS);
        for square in squares {
            assert!(square.width == square.height && image::SQUARES.contains(&square.width), "{}", square.name);
        }
    }
    if let Ok([original, preview]) = image::attachment(data, limits) {
        assert!(u64::from(original.width) * u64::from(original.height) <= MAX_PIXELS);
        assert!(preview.width <= image::PREVIEW_SIDE && preview.height <= image::PREVIEW_SIDE);
    }
}

/// Access-token verification. Any input is refused, and so is any change to a genuine token:
/// the input's bytes are XORed into it.
pub fn tokens(data: &[u8]) {
    let (keys, genuine) = token_keys();
    if let Ok(text) = std::str::from_utf8(data) {
        assert!(keys.verify(text).is_err() || text == genuine, "an arbitrary string is not a token");
    }
    let mut forged = genuine.as_bytes().to_vec();
    for (at, byte) in data.iter().enumerate() {
        forged[at % genuine.len()] ^= byte;
    }
    if let Ok(forged) = std::str::from_utf8(&forged)
        && forged != genuine
    {
        assert!(keys.verify(forged).is_err(), "a changed token does not verify: {forged}");
    }
    let _ = crate::auth::tokens::refresh_token_hash(&String::from_utf8_lossy(data));
}

fn token_keys() -> &'static (TokenKeys, String) {
    static KEYS: OnceLock<(TokenKeys, String)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let config = AuthConfig::default();
        let keys = TokenKeys::from_keys(&[generate_signing_key().expect("a key")], &config).expect("keys");
        let token = keys.issue(UserId::new(), crate::domain::SessionId::new()).expect("a token");
        (keys, token)
    })
}

/// Socket frames: a plain WebSocket text frame as the gateway reads it, and the same bytes as an
/// Engine.IO packet carrying a Socket.IO packet; an event's payload is then read as its command.
pub fn socket_frames(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(frame) = crate::gateway::ws::read_frame(&text) {
        command(&frame.event, frame.data);
    }
    socket_io(&text);
}

fn socket_io(text: &str) {
    use engineioxide_core::{Packet, ProtocolVersion};
    use socketioxide_core::packet::PacketData;
    use socketioxide_core::parser::{Parse, ParseConfig, ParserState};

    let Ok(Packet::Message(message)) = Packet::parse(ProtocolVersion::V4, text.to_owned()) else { return };
    let state = ParserState::default();
    let parser = socketioxide_parser_common::CommonParser;
    let Ok(packet) = parser.decode_str(&ParseConfig::default(), &state, message) else { return };
    if let PacketData::Event(mut value, _) = packet.inner {
        let Ok(event) = parser.read_event(&value) else { return };
        let event = event.to_owned();
        if let Ok((payload,)) = parser.decode_value::<(Value,)>(&mut value, true) {
            command(&event, payload);
        }
    }
}

/// A command's payload read as the command reads it.
fn command(name: &str, data: Value) {
    let Ok(bytes) = serde_json::to_vec(&data) else { return };
    if crate::gateway::commands::NAMES.contains(&name) {
        json_bodies(&bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_takes_empty_and_simple_inputs() {
        for (_, target) in TARGETS {
            for input in [&b""[..], b"{}", b"42[\"message.send\",{}]", b"alice@example.org"] {
                target(input);
            }
        }
    }

    /// Every kept input of every target: the seeds the fuzzers start from, and each input a
    /// fuzzer found that once failed.
    #[test]
    fn every_kept_input_passes_its_target() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        let mut replayed = 0;
        for (name, target) in TARGETS {
            for kind in ["seeds", "regressions"] {
                let Ok(entries) = std::fs::read_dir(root.join(kind).join(name)) else { continue };
                for entry in entries {
                    let path = entry.expect("a directory entry").path();
                    let input = std::fs::read(&path).expect("a kept input");
                    let outcome = std::panic::catch_unwind(|| target(&input));
                    assert!(outcome.is_ok(), "{} fails its target", path.display());
                    replayed += 1;
                }
            }
        }
        assert!(replayed >= TARGETS.len(), "the seeds are found ({replayed} inputs)");
    }

    #[test]
    fn a_genuine_token_verifies_and_a_changed_one_does_not() {
        let (keys, genuine) = token_keys();
        assert!(keys.verify(genuine).is_ok());
        tokens(b"\x01");
    }
}
