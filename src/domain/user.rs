//! A user account as the rest of the program sees it (never with its password hash).

use crate::domain::ids::UserId;
use serde::{Deserialize, Serialize};
use strum::{EnumString, IntoStaticStr};
use time::OffsetDateTime;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema, IntoStaticStr, EnumString)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Gender {
    Female,
    Male,
    #[default]
    Unspecified,
}

impl Gender {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        raw.parse().map_err(|_| "must be one of female, male, unspecified".to_owned())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
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
    /// Whether people who share a chat with this account may see when it is online.
    pub show_presence: bool,
    pub created_at: OffsetDateTime,
}

impl User {
    /// The account's own identifiers, which its password must not equal.
    pub fn own_identifiers(&self) -> Vec<&str> {
        [self.username.as_deref(), self.email.as_deref(), self.phone.as_deref()].into_iter().flatten().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genders_are_stored_by_their_lowercase_names_and_anything_else_is_refused() {
        for (gender, name) in [(Gender::Female, "female"), (Gender::Male, "male"), (Gender::Unspecified, "unspecified")]
        {
            assert_eq!(gender.as_str(), name);
            assert_eq!(Gender::parse(name), Ok(gender));
        }
        assert_eq!(Gender::parse("Female"), Err("must be one of female, male, unspecified".to_owned()));
    }
}
