//! SeaORM entities: the tables, private to the store.

pub mod attachment;
pub mod audit_log;
pub mod chat;
pub mod chat_member;
pub mod media_garbage;
pub mod media_hold;
pub mod message;
pub mod message_like;
pub mod message_mention;
pub mod message_reaction;
pub mod message_search;
pub mod password_reset;
pub mod refresh_token;
pub mod server_secret;
pub mod session;
pub mod signing_key;
pub mod user;
pub mod user_presence;
