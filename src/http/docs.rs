//! The root of the OpenAPI document; each route module adds its own paths.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Parlor",
        description = "Self-hosted user service and messenger back end.\n\n\
            Every `/api/v1` response is [JSend](https://github.com/omniti-labs/jsend): \
            `success` with `data`, `fail` (4xx) with field-keyed messages or `message` + `reason`, \
            `error` (5xx) with a `message`. `/oauth/*` speaks RFC 6749/7009 JSON for OAuth client libraries.\n\n\
            Authenticate with `Authorization: Bearer <access_token>`. Access tokens are EdDSA JWTs \
            (15 minutes), verifiable with `/.well-known/jwks.json`; refresh tokens are single-use.\n\n\
            **Live events** arrive over Socket.IO (`/socket.io/`) or a plain WebSocket (`/api/v1/ws`); \
            every event, its payload and who receives it are in the \
            [AsyncAPI document](/api/v1/asyncapi.json).",
        license(name = "MIT"),
    ),
    paths(crate::http::media::get_media),
    modifiers(&BearerAuth),
    components(schemas(crate::web::JSendFail, crate::web::JSendError)),
    tags(
        (name = "auth", description = "Accounts and token pairs"),
        (name = "profile", description = "Your own profile"),
        (name = "users", description = "Other people's public profiles and the directory"),
        (name = "chats", description = "Direct chats and groups: members, roles, pins. Anyone not in a chat gets 404 for all of it"),
        (name = "messages", description = "History, sending, edits, tombstones, likes, forwards and read markers"),
        (name = "media", description = "Stored media, when Parlor serves them itself"),
        (name = "realtime", description = "Live events; see the AsyncAPI document at /api/v1/asyncapi.json"),
        (name = "oauth", description = "Standard OAuth 2.0 endpoints"),
        (name = "admin", description = "Operators: administrators' bearer tokens only; everyone else gets 404"),
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}
