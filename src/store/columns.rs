//! Domain types as SeaORM column values: entities declare `pub id: ChatId` and `pub role: Role`,
//! queries compare and set them as they are. Ids are stored as the UUIDs they wrap; the enums
//! (role, chat and message kind, gender) as their lowercase names, and a name the program does
//! not know is a read error, never a silent default.
//!
//! The impls follow what `#[derive(DeriveValueType)]` generates for a newtype (sea-orm-macros
//! 2.0, `derives/value_type.rs`, MIT or Apache-2.0), written here so that `domain/` needs no
//! SeaORM.

use sea_orm::sea_query::{ArrayType, ColumnType, Nullable, StringLen, ValueType, ValueTypeErr};
use sea_orm::{ColIdx, DbErr, QueryResult, TryFromU64, TryGetError, TryGetable, Value};
use uuid::Uuid;

use crate::domain::{
    AttachmentId, ChatId, ChatKind, Gender, MessageId, MessageKind, Role, SessionId, SystemEvent, UserId,
};

macro_rules! uuid_columns {
    ($($Id:ident),+) => {$(
        impl From<$Id> for Value {
            fn from(id: $Id) -> Self {
                id.uuid().into()
            }
        }

        impl TryGetable for $Id {
            fn try_get_by<I: ColIdx>(res: &QueryResult, idx: I) -> Result<Self, TryGetError> {
                Uuid::try_get_by(res, idx).map($Id::from_uuid)
            }
        }

        impl ValueType for $Id {
            fn try_from(v: Value) -> Result<Self, ValueTypeErr> {
                <Uuid as ValueType>::try_from(v).map($Id::from_uuid)
            }

            fn type_name() -> String {
                stringify!($Id).to_owned()
            }

            fn array_type() -> ArrayType {
                ArrayType::Uuid
            }

            fn column_type() -> ColumnType {
                ColumnType::Uuid
            }
        }

        impl Nullable for $Id {
            fn null() -> Value {
                <Uuid as Nullable>::null()
            }
        }

        impl sea_orm::IntoActiveValue<$Id> for $Id {
            fn into_active_value(self) -> sea_orm::ActiveValue<$Id> {
                sea_orm::ActiveValue::Set(self)
            }
        }

        /// Ids are UUIDs, never a database's auto-increment.
        impl TryFromU64 for $Id {
            fn try_from_u64(_: u64) -> Result<Self, DbErr> {
                Err(DbErr::ConvertFromU64(stringify!($Id)))
            }
        }
    )+};
}

uuid_columns!(UserId, SessionId, ChatId, MessageId, AttachmentId);

macro_rules! name_columns {
    ($($Enum:ident),+) => {$(
        impl From<$Enum> for Value {
            fn from(value: $Enum) -> Self {
                <&'static str>::from(value).into()
            }
        }

        impl TryGetable for $Enum {
            fn try_get_by<I: ColIdx>(res: &QueryResult, idx: I) -> Result<Self, TryGetError> {
                let name = String::try_get_by(res, idx)?;
                name.parse().map_err(|_| {
                    TryGetError::DbErr(DbErr::Type(format!(concat!("unknown ", stringify!($Enum), " `{}`"), name)))
                })
            }
        }

        impl ValueType for $Enum {
            fn try_from(v: Value) -> Result<Self, ValueTypeErr> {
                <String as ValueType>::try_from(v)?.parse().map_err(|_| ValueTypeErr)
            }

            fn type_name() -> String {
                stringify!($Enum).to_owned()
            }

            fn array_type() -> ArrayType {
                ArrayType::String
            }

            fn column_type() -> ColumnType {
                ColumnType::String(StringLen::None)
            }
        }

        impl Nullable for $Enum {
            fn null() -> Value {
                <String as Nullable>::null()
            }
        }

        impl sea_orm::IntoActiveValue<$Enum> for $Enum {
            fn into_active_value(self) -> sea_orm::ActiveValue<$Enum> {
                sea_orm::ActiveValue::Set(self)
            }
        }
    )+};
}

name_columns!(Role, ChatKind, MessageKind, Gender);

/// A system message's record, stored as JSON. A record that does not read is an error: dropping
/// it would turn the message into an empty one.
impl From<SystemEvent> for Value {
    fn from(event: SystemEvent) -> Self {
        // A plain enum of strings and UUIDs always serialises.
        serde_json::to_value(event).unwrap_or_default().into()
    }
}

impl TryGetable for SystemEvent {
    fn try_get_by<I: ColIdx>(res: &QueryResult, idx: I) -> Result<Self, TryGetError> {
        let json = serde_json::Value::try_get_by(res, idx)?;
        serde_json::from_value(json).map_err(|err| TryGetError::DbErr(DbErr::Json(err.to_string())))
    }
}

impl ValueType for SystemEvent {
    fn try_from(v: Value) -> Result<Self, ValueTypeErr> {
        serde_json::from_value(<serde_json::Value as ValueType>::try_from(v)?).map_err(|_| ValueTypeErr)
    }

    fn type_name() -> String {
        "SystemEvent".to_owned()
    }

    fn array_type() -> ArrayType {
        ArrayType::Json
    }

    fn column_type() -> ColumnType {
        ColumnType::Json
    }
}

impl Nullable for SystemEvent {
    fn null() -> Value {
        <serde_json::Value as Nullable>::null()
    }
}

impl sea_orm::IntoActiveValue<SystemEvent> for SystemEvent {
    fn into_active_value(self) -> sea_orm::ActiveValue<SystemEvent> {
        sea_orm::ActiveValue::Set(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_are_stored_by_name_and_an_unknown_name_does_not_read() {
        assert_eq!(Value::from(Role::Admin), Value::from("admin"));
        assert_eq!(<Role as ValueType>::try_from(Value::from("owner")).unwrap(), Role::Owner);
        assert_eq!(<Gender as ValueType>::try_from(Value::from("female")).unwrap(), Gender::Female);
        assert!(<Role as ValueType>::try_from(Value::from("emperor")).is_err(), "no silent default");
        assert!(<ChatKind as ValueType>::try_from(Value::from("Group")).is_err(), "names are exact");
    }

    #[test]
    fn a_system_record_is_stored_as_json_and_a_bad_one_does_not_read() {
        let event = SystemEvent::Renamed { title: "Book club".into() };
        let stored = Value::from(event.clone());
        assert_eq!(<SystemEvent as ValueType>::try_from(stored).unwrap(), event);
        let bad = Value::from(serde_json::json!({"action": "exploded"}));
        assert!(<SystemEvent as ValueType>::try_from(bad).is_err());
    }

    #[test]
    fn ids_are_stored_as_their_uuids() {
        let id = ChatId::new();
        assert_eq!(Value::from(id), Value::from(id.uuid()));
        assert_eq!(<ChatId as ValueType>::try_from(Value::from(id.uuid())).unwrap(), id);
    }
}
