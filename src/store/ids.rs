//! The id types as SeaORM column values: entities declare `pub id: ChatId`, queries compare and
//! set them as they are, and each is stored as the UUID it wraps.
//!
//! The impls are those `#[derive(DeriveValueType)]` generates for a newtype (sea-orm-macros 2.0,
//! `derives/value_type.rs`, MIT or Apache-2.0), written here so that `domain/` needs no SeaORM.

use sea_orm::sea_query::{ArrayType, ColumnType, Nullable, ValueType, ValueTypeErr};
use sea_orm::{ColIdx, DbErr, QueryResult, TryFromU64, TryGetError, TryGetable, Value};
use uuid::Uuid;

use crate::domain::{AttachmentId, ChatId, MessageId, SessionId, UserId};

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
