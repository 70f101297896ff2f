//! Validated newtypes and product rules, with no I/O: parsed once at the edge, trusted inside.

pub mod chat;
pub mod identifier;
pub mod ids;
pub mod mention;
pub mod password;
pub mod search;
pub mod unicode;
pub mod user;

pub use chat::{ChatKind, ChatTitle, ClientId, Emoji, MessageKind, MessageText, Role, SystemEvent};
pub use identifier::{Email, Identifier, Phone, Username};
pub use ids::{AttachmentId, ChatId, MessageId, SessionId, UserId};
pub use password::NewPassword;
pub use user::{Gender, User};
