//! Parlor: a self-hosted user service and messenger back end.
//!
//! Data flows one way: request or socket command → interface (`http/`, `gateway/`) → service
//! (`auth::Accounts`, `profile::Profiles`, `chat::Chats`, `presence::Presence`) → store → database, and events go back
//! out through `realtime`. See `docs/DESIGN.md` for the layers and the reasons behind them.

pub mod admin;
pub mod app;
pub mod auth;
pub mod backup;
pub mod chat;
pub mod cli;
pub mod config;
pub mod digest;
pub mod domain;
pub mod error;
pub mod fuzzing;
pub mod gateway;
pub mod http;
pub mod json;
pub mod limits;
pub mod mail;
pub mod media;
pub mod presence;
pub mod profile;
pub mod realtime;
pub mod site;
pub mod store;
pub mod telemetry;
pub mod web;
