//! The AsyncAPI 3.0 document of every socket event, built from the event catalogue and the same
//! payload schemas the code serialises (utoipa), served at `/api/v1/asyncapi.json`.

use axum::Extension;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::commands::docs as commands;
use super::events::catalogue;
use crate::app::AppState;
use crate::config::Config;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(serve))
}

/// The AsyncAPI 3.0 document of every socket event: its name, payload schema and who receives it.
#[utoipa::path(
    get, path = "/asyncapi.json", tag = "realtime",
    responses((status = 200, description = "AsyncAPI 3.0 document", content_type = "application/json")),
)]
async fn serve(Extension(document): Extension<Rendered>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], document.0)
}

/// [`document`], serialised once when the router is built; served from a request extension.
#[derive(Clone)]
pub struct Rendered(bytes::Bytes);

impl Rendered {
    pub fn new(config: &Config) -> Self {
        Self(serde_json::to_vec(&document(config)).unwrap_or_default().into())
    }
}

/// The document for a server reachable at `config.public_url()`.
pub fn document(config: &Config) -> Value {
    let public = config.public_url();
    let (scheme, host) = public.split_once("://").unwrap_or(("http", public.as_str()));
    let protocol = if scheme == "https" { "wss" } else { "ws" };
    let host = host.split('/').next().unwrap_or(host);

    let mut messages = Map::new();
    let mut operations = Map::new();
    let mut schemas = Vec::new();
    // Events the server sends on `events`, commands it receives on `commands`.
    let mut channel_messages = [Map::new(), Map::new()];
    let directions = [
        (catalogue(), "events", "send", "", "Who receives it"),
        (commands(), "commands", "receive", "command.", "Then"),
    ];
    for ((docs, channel, action, key_prefix, note), channel_messages) in
        directions.into_iter().zip(&mut channel_messages)
    {
        for doc in docs {
            let payload = doc.payload_name.to_string();
            schemas.push((payload.clone(), (doc.payload)()));
            // Schemas the payload refers to (`AvatarUrls`), named as in the OpenAPI document.
            (doc.nested)(&mut schemas);
            let key = format!("{key_prefix}{}", doc.name);
            let description = format!("**{note}:** {}", doc.audience);
            let mut message = json!({
                "name": doc.name,
                "title": doc.name,
                "summary": doc.summary,
                "description": description,
                "payload": { "$ref": format!("#/components/schemas/{payload}") },
            });
            if let Some(example) = (doc.example)() {
                message["examples"] = json!([{ "name": "example", "payload": example }]);
            }
            messages.insert(key.clone(), message);
            channel_messages.insert(key.clone(), json!({ "$ref": format!("#/components/messages/{key}") }));
            operations.insert(
                format!("{action}-{}", doc.name),
                json!({
                    "action": action,
                    "channel": { "$ref": format!("#/channels/{channel}") },
                    "summary": doc.summary,
                    "description": description,
                    "messages": [{ "$ref": format!("#/channels/{channel}/messages/{key}") }],
                }),
            );
        }
    }
    let [channel_messages, command_messages] = channel_messages;
    let components: Map<String, Value> =
        schemas.into_iter().map(|(name, schema)| (name, serde_json::to_value(schema).unwrap_or(Value::Null))).collect();

    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "Parlor real-time events",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Live events for Parlor clients, over Socket.IO v4 or a plain WebSocket; \
                the same events reach both.\n\n\
                **Socket.IO** (`/socket.io/`, namespace `/`): connect with `auth: {token: \"<access token>\"}`. \
                A refused handshake gets `connect_error` whose message begins with a stable reason \
                (`missing_token`, `token_expired`, `invalid_token`, `session_revoked`, `origin_not_allowed`). \
                Each event arrives under its own name with its payload as the only argument; a command \
                is emitted under its name with its payload and an acknowledgement callback.\n\n\
                **WebSocket** (`/api/v1/ws`): authenticate with `Authorization: Bearer <access token>` or \
                `?access_token=`. Every frame is JSON text `{\"event\": \"<name>\", \"data\": <payload>}`. \
                A command is a frame `{\"event\": \"<command>\", \"data\": <payload>, \"id\": <string or number>}`, \
                answered by `{\"event\": \"ack\", \"id\": <its id>, \"data\": <JSend>}`; without an `id` it runs \
                unanswered. A connection may send 10 commands a second (configurable), in bursts of 3 seconds' \
                worth; beyond that a command is answered `rate_limited` and not run. \
                The server pings every 25 s (configurable) and closes a connection that has not answered \
                by the next ping; frames over the size limit close it with 1009.\n\n\
                **Closing.** When a session ends, its connections get `session.revoked` and are closed \
                (WebSocket close code 4001, reason `session_revoked`); a deleted account's get `user.deleted` \
                (4001, `account_deleted`). A client that stops reading until its queue is full is closed \
                (1008, `too_slow`; on Socket.IO a server disconnect) and should reconnect and refetch. \
                A stopping server closes every WebSocket with 1012 (`restarting`) and closes every Socket.IO \
                transport (socket.io-client sees `transport close`): reconnect with backoff, to another \
                instance or to this one once it is back, and refetch.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "socketio": {
                "host": host,
                "protocol": protocol,
                "pathname": "/socket.io/",
                "title": "Socket.IO v4",
                "description": "Engine.IO 4 with the websocket and polling transports; namespace `/`.",
                "security": [{ "$ref": "#/components/securitySchemes/handshakeToken" }],
            },
            "websocket": {
                "host": host,
                "protocol": protocol,
                "pathname": "/api/v1/ws",
                "title": "Plain WebSocket",
                "description": "JSON text frames `{\"event\", \"data\"}`; commands add an `id`.",
                "security": [
                    { "$ref": "#/components/securitySchemes/bearer" },
                    { "$ref": "#/components/securitySchemes/queryToken" },
                ],
            },
        },
        "channels": {
            "events": {
                "title": "Events for the connected user",
                "description": "Everything the server sends on a connection.",
                "messages": channel_messages,
            },
            "commands": {
                "title": "Commands from the client",
                "description": "What a client sends to act, over either socket: on Socket.IO an event \
                    acknowledged (if the client passes a callback) with a JSend envelope, on the plain \
                    WebSocket a frame with an `id` answered by an `ack` frame carrying the same envelope.",
                "messages": command_messages,
            },
        },
        "operations": operations,
        "components": {
            "schemas": components,
            "messages": messages,
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                    "description": "An access token from `/api/v1/auth/login` or `/oauth/token`." },
                "queryToken": { "type": "httpApiKey", "name": "access_token", "in": "query",
                    "description": "The access token in the query, for browsers (redacted in logs)." },
                "handshakeToken": { "type": "apiKey", "in": "user",
                    "description": "The access token in the Socket.IO handshake: `auth: {token}`." },
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_has_a_message_an_operation_and_its_payload_schema() {
        let doc = document(&Config::default());
        assert_eq!(doc["asyncapi"], "3.0.0");
        for event in catalogue() {
            let message = &doc["components"]["messages"][event.name];
            let schema = message["payload"]["$ref"].as_str().unwrap().rsplit('/').next().unwrap();
            assert!(doc["components"]["schemas"][schema].is_object(), "{} has no schema {schema}", event.name);
            assert!(doc["operations"][format!("send-{}", event.name)].is_object(), "{}", event.name);
        }
        assert!(doc["components"]["schemas"]["AvatarUrls"].is_object(), "nested schemas are included");
        for command in commands() {
            let operation = &doc["operations"][format!("receive-{}", command.name)];
            assert_eq!(operation["action"], "receive", "{}", command.name);
        }
    }

    #[test]
    fn every_schema_reference_resolves() {
        fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
            match value {
                Value::Object(map) => {
                    if let Some(Value::String(target)) = map.get("$ref") {
                        out.push(target);
                    }
                    map.values().for_each(|v| refs(v, out));
                }
                Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let doc = document(&Config::default());
        let mut found = Vec::new();
        refs(&doc, &mut found);
        let schemas: Vec<&&str> = found.iter().filter(|r| r.starts_with("#/components/schemas/")).collect();
        assert!(schemas.iter().any(|r| r.ends_with("/ChatView")), "chat payloads refer to ChatView");
        for target in schemas {
            let name = target.rsplit('/').next().unwrap();
            assert!(doc["components"]["schemas"][name].is_object(), "{target} does not resolve");
        }
    }
}
