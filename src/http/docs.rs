//! The root of the OpenAPI document; each route module adds its own paths.

use utoipa::openapi::security::{
    Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityRequirement, SecurityScheme,
};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Parlor",
        description = "Self-hosted user service and messenger back end.\n\n\
            Every `/api/v1` response is [JSend](https://github.com/omniti-labs/jsend): \
            `success` with `data`, `fail` (4xx) with field-keyed messages or `message` + `reason`, \
            `error` (5xx) with a `message`. `/oauth/*` speaks RFC 6749/7009 JSON for OAuth client libraries.\n\n\
            Any request may be refused before its route sees it, in JSend too: 408 `body_timeout` \
            (its body stalled or took too long), 414 `uri_too_long` (a target over 8 KiB), 431 \
            `headers_too_large` (over 32 KiB of headers), 429 `too_many_connections` (one address \
            holds too many connections), 503 `server_full` (the server holds as many connections as \
            it can; both with `Retry-After`).\n\n\
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
        (name = "presence", description = "Who is online: visible to the people who share a chat with someone, unless they hide it"),
        (name = "chats", description = "Direct chats and groups: members, roles, pins. Anyone not in a chat gets 404 for all of it"),
        (name = "messages", description = "History, sending, edits, tombstones, likes, forwards and read markers"),
        (name = "search", description = "Finding messages by their text, in any language"),
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

/// The name of the OAuth 2.0 password-flow scheme in the document.
const PASSWORD_FLOW: &str = "password";

/// Offers every bearer-token operation a second way in: a token from the OAuth 2.0 password
/// flow at `/oauth/token`. That is the flow Swagger UI's Authorize dialog speaks, so a person
/// signs in at `/docs/` with username and password (as FastAPI's generated docs let them) and
/// tries any endpoint without curl. Applied to the finished document, when every route's
/// operation is in it.
pub fn with_password_flow(mut openapi: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let flow = Flow::Password(Password::new("/oauth/token", Scopes::new()));
    let scheme = OAuth2::with_description(
        [flow],
        "Sign in with any identifier (username, e-mail or phone) and password; no client id is needed.",
    );
    let components = openapi.components.get_or_insert_with(Default::default);
    components.add_security_scheme(PASSWORD_FLOW, SecurityScheme::OAuth2(scheme));
    for item in openapi.paths.paths.values_mut() {
        let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
        for operation in operations.into_iter().flatten() {
            if let Some(security) = operation.security.as_mut().filter(|s| !s.is_empty()) {
                // Either requirement suffices: both carry the same bearer access token.
                security.push(SecurityRequirement::new(PASSWORD_FLOW, Vec::<String>::new()));
            }
        }
    }
    openapi
}
