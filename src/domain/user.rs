//! A user account as the rest of the program sees it (never with its password hash).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    Female,
    Male,
    #[default]
    Unspecified,
}

impl Gender {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Female => "female",
            Self::Male => "male",
            Self::Unspecified => "unspecified",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "female" => Ok(Self::Female),
            "male" => Ok(Self::Male),
            "unspecified" => Ok(Self::Unspecified),
            _ => Err("must be one of female, male, unspecified".to_owned()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: Uuid,
    pub username: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub gender: Gender,
    /// Prefix of the stored avatar variants (`avatars/<id>/<version>`), if there is an avatar.
    pub avatar_key: Option<String>,
    pub is_admin: bool,
    pub is_active: bool,
    pub created_at: OffsetDateTime,
}

impl User {
    /// The account's own identifiers, which its password must not equal.
    pub fn own_identifiers(&self) -> Vec<&str> {
        [self.username.as_deref(), self.email.as_deref(), self.phone.as_deref()].into_iter().flatten().collect()
    }
}
