//! Ids as types of their own: a chat id cannot be passed where a user id is wanted, and the
//! actor of a change (always first in a signature) cannot be swapped with its target. On the
//! wire and in the database each is the UUID it wraps (`serde(transparent)`); wire types
//! (views, event payloads) carry plain `Uuid`s.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! ids {
    ($( $(#[$doc:meta])* $Name:ident ),+ $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $Name(Uuid);

        impl $Name {
            /// A new id: a UUIDv7, so ids sort by creation time.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub const fn uuid(self) -> Uuid {
                self.0
            }
        }

        impl Default for $Name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<Uuid> for $Name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl From<$Name> for Uuid {
            fn from(id: $Name) -> Self {
                id.0
            }
        }

        impl fmt::Display for $Name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $Name {
            type Err = uuid::Error;

            fn from_str(raw: &str) -> Result<Self, Self::Err> {
                raw.parse().map(Self)
            }
        }
    )+};
}

ids! {
    /// An account.
    UserId,
    /// A login session (one device); its tokens name it as `sid`.
    SessionId,
    /// A direct chat or a group.
    ChatId,
    /// A message of a chat.
    MessageId,
    /// An uploaded file or image.
    AttachmentId,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_its_uuid_on_the_wire_and_in_text() {
        let uuid = Uuid::now_v7();
        let id = ChatId::from(uuid);
        assert_eq!(serde_json::to_value(id).unwrap(), serde_json::json!(uuid.to_string()));
        assert_eq!(serde_json::from_value::<ChatId>(serde_json::json!(uuid)).unwrap(), id);
        assert_eq!(id.to_string(), uuid.to_string());
        assert_eq!(uuid.to_string().parse::<ChatId>().unwrap(), id);
        assert!("chat".parse::<ChatId>().is_err());
    }

    #[test]
    fn new_ids_sort_by_creation() {
        let (first, second) = (MessageId::new(), MessageId::new());
        assert!(first < second);
    }
}
