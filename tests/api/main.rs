//! The integration suite: the whole router over a real database (SQLite in memory, or the
//! PostgreSQL server named by `PARLOR_TEST_DATABASE_URL`).

#![allow(clippy::unwrap_used)] // helpers outside #[test] functions may unwrap too

mod accounts;
mod admin;
mod attachments;
mod audit;
mod avatars;
mod backup;
mod bad_input;
mod chat_events;
mod chats;
mod commands;
mod concurrency;
mod connections;
mod deletion;
mod export;
mod hangups;
mod helpers;
mod keys;
mod limits;
mod mentions;
mod messages;
mod oauth;
mod ops;
mod presence;
mod profile;
mod reactions;
mod realtime;
mod reset;
mod search;
mod sessions;
mod site;
mod site_admin;
mod sockets;
mod unread;
