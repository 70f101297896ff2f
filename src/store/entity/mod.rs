//! SeaORM entities: the tables, private to the store.

pub mod audit_log;
pub mod media_garbage;
pub mod password_reset;
pub mod refresh_token;
pub mod session;
pub mod user;
