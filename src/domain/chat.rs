//! Chats and messages as rules: kinds, roles, who may do what, and the limits of what a message
//! may hold. No I/O; the store keeps these facts and the chat service asks these functions.

use serde::{Deserialize, Serialize};
use strum::{EnumString, IntoStaticStr};
use utoipa::ToSchema;
use uuid::Uuid;

/// A direct chat has exactly two members and is unique per pair; a group has a title and roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, IntoStaticStr, EnumString)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum ChatKind {
    Direct,
    Group,
}

impl ChatKind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn parse(raw: &str) -> Option<Self> {
        raw.parse().ok()
    }
}

/// A member's standing in a chat. Both members of a direct chat are `member`s.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema, IntoStaticStr, EnumString,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Role {
    Member,
    Admin,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn parse(raw: &str) -> Option<Self> {
        raw.parse().ok()
    }
}

/// What a member wants to do to a chat, for [`allowed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Rename,
    AddMembers,
    /// Remove another member, whose role is given.
    RemoveMember(Role),
    ChangeRoles,
    DeleteChat,
    /// Delete someone else's message.
    DeleteOthersMessage,
}

/// The one table of who may do what. Everything a member may do to their own things (send, edit
/// or delete their own message, like, pin, read, leave) needs no entry.
pub fn allowed(kind: ChatKind, role: Role, action: Action) -> bool {
    match (kind, action) {
        // A direct chat is the two people's alike: no titles, no roles, no third member; either
        // may delete it for both.
        (ChatKind::Direct, Action::DeleteChat) => true,
        (ChatKind::Direct, _) => false,
        (ChatKind::Group, Action::Rename | Action::AddMembers | Action::DeleteOthersMessage) => role >= Role::Admin,
        // Admins remove members; only the owner removes admins; nobody removes the owner.
        (ChatKind::Group, Action::RemoveMember(target)) => target < Role::Admin.max(role) && role >= Role::Admin,
        (ChatKind::Group, Action::ChangeRoles | Action::DeleteChat) => role == Role::Owner,
    }
}

/// Why [`allowed`] said no, in words for the person who asked.
pub fn refusal(kind: ChatKind, action: Action) -> &'static str {
    match action {
        Action::Rename | Action::AddMembers | Action::ChangeRoles if kind == ChatKind::Direct => {
            "a direct chat has no title, roles or other members"
        }
        Action::Rename => "only the owner or an admin may rename the group",
        Action::AddMembers => "only the owner or an admin may add members",
        Action::RemoveMember(Role::Owner) => "the owner cannot be removed; they may leave",
        Action::RemoveMember(_) => "only the owner may remove admins, and admins other members",
        Action::ChangeRoles => "only the owner may change roles",
        Action::DeleteChat => "only the owner may delete the group",
        Action::DeleteOthersMessage => "only the owner or an admin may delete others' messages",
    }
}

/// Message types. Clients send `text`, `image` and `file`; only the server writes `system`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, IntoStaticStr, EnumString)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum MessageKind {
    Text,
    Image,
    File,
    System,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn parse(raw: &str) -> Option<Self> {
        raw.parse().ok()
    }
}

/// Longest message text, in characters (Unicode scalar values).
pub const MAX_TEXT_CHARS: usize = 4000;
/// Longest group title, in characters.
pub const MAX_TITLE_CHARS: usize = 128;
/// Longest `client_id`, in bytes.
pub const MAX_CLIENT_ID_BYTES: usize = 64;

/// A message's text: not blank, at most [`MAX_TEXT_CHARS`] characters, kept as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageText(String);

impl MessageText {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.trim().is_empty() {
            return Err("must not be blank".to_owned());
        }
        let chars = raw.chars().count();
        if chars > MAX_TEXT_CHARS {
            return Err(format!("must be at most {MAX_TEXT_CHARS} characters (it is {chars})"));
        }
        if raw.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r')) {
            return Err("must not contain control characters".to_owned());
        }
        if !super::unicode::shows_something(raw) {
            return Err("must contain visible characters".to_owned());
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A group's title: trimmed, 1–[`MAX_TITLE_CHARS`] characters, one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatTitle(String);

impl ChatTitle {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let title = raw.trim();
        if title.is_empty() {
            return Err("must not be blank".to_owned());
        }
        if title.chars().count() > MAX_TITLE_CHARS {
            return Err(format!("must be at most {MAX_TITLE_CHARS} characters"));
        }
        if title.chars().any(char::is_control) {
            return Err("must be one line without control characters".to_owned());
        }
        super::unicode::label_rule(title)?;
        Ok(Self(title.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// The client's own id for a message it sends, which makes a retry return the first result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientId(String);

impl ClientId {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() || raw.len() > MAX_CLIENT_ID_BYTES {
            return Err(format!("must be 1–{MAX_CLIENT_ID_BYTES} bytes"));
        }
        if !raw.chars().all(|c| c.is_ascii_graphic()) {
            return Err("must be printable ASCII without spaces".to_owned());
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// What a `system` message records; the client words it in the reader's language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum SystemEvent {
    /// The group was created with this title.
    Created {
        title: String,
    },
    /// The group was renamed.
    Renamed {
        title: String,
    },
    MembersAdded {
        user_ids: Vec<Uuid>,
    },
    MemberLeft {
        user_id: Uuid,
    },
    MemberRemoved {
        user_id: Uuid,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_roles_are_stored_and_read_by_their_lowercase_names() {
        for (kind, name) in [(ChatKind::Direct, "direct"), (ChatKind::Group, "group")] {
            assert_eq!((kind.as_str(), ChatKind::parse(name)), (name, Some(kind)));
        }
        for (role, name) in [(Role::Member, "member"), (Role::Admin, "admin"), (Role::Owner, "owner")] {
            assert_eq!((role.as_str(), Role::parse(name)), (name, Some(role)));
        }
        let kinds = [
            (MessageKind::Text, "text"),
            (MessageKind::Image, "image"),
            (MessageKind::File, "file"),
            (MessageKind::System, "system"),
        ];
        for (kind, name) in kinds {
            assert_eq!((kind.as_str(), MessageKind::parse(name)), (name, Some(kind)));
        }
        assert_eq!(Role::parse("Owner"), None, "names are exact");
        assert_eq!(ChatKind::parse(""), None);
    }

    #[test]
    fn only_owners_and_admins_manage_groups_and_nobody_manages_a_direct_chat() {
        use Action::*;
        use ChatKind::*;
        use Role::*;
        for action in [Rename, AddMembers, DeleteOthersMessage] {
            assert!(!allowed(Group, Member, action), "{action:?}");
            assert!(allowed(Group, Admin, action), "{action:?}");
            assert!(allowed(Group, Owner, action), "{action:?}");
            assert!(!allowed(Direct, Member, action), "{action:?}");
        }
        for action in [ChangeRoles, DeleteChat] {
            assert!(!allowed(Group, Admin, action), "{action:?}");
            assert!(allowed(Group, Owner, action), "{action:?}");
        }
        assert!(allowed(Direct, Member, DeleteChat), "either member deletes a direct chat");
        assert!(!allowed(Direct, Member, ChangeRoles));
    }

    #[test]
    fn admins_remove_members_owners_remove_admins_nobody_removes_the_owner() {
        use Role::*;
        let removes = |who, whom| allowed(ChatKind::Group, who, Action::RemoveMember(whom));
        assert!(removes(Admin, Member));
        assert!(!removes(Admin, Admin));
        assert!(!removes(Admin, Owner));
        assert!(removes(Owner, Member));
        assert!(removes(Owner, Admin));
        assert!(!removes(Owner, Owner));
        assert!(!removes(Member, Member));
    }

    #[test]
    fn text_is_kept_as_written_within_its_limit() {
        assert_eq!(MessageText::parse("  hi\n").unwrap().as_str(), "  hi\n");
        assert!(MessageText::parse(" \n\t").is_err());
        assert!(MessageText::parse(&"é".repeat(MAX_TEXT_CHARS)).is_ok(), "characters, not bytes");
        assert!(MessageText::parse(&"a".repeat(MAX_TEXT_CHARS + 1)).is_err());
        assert!(MessageText::parse("bell\u{7}").is_err());
    }

    #[test]
    fn titles_are_trimmed_single_lines() {
        assert_eq!(ChatTitle::parse("  Book club ").unwrap().as_str(), "Book club");
        assert!(ChatTitle::parse("   ").is_err());
        assert!(ChatTitle::parse("two\nlines").is_err());
        assert!(ChatTitle::parse(&"t".repeat(MAX_TITLE_CHARS + 1)).is_err());
    }

    #[test]
    fn client_ids_are_short_printable_tokens() {
        assert!(ClientId::parse("7f3c-01").is_ok());
        assert!(ClientId::parse("").is_err());
        assert!(ClientId::parse("has space").is_err());
        assert!(ClientId::parse(&"x".repeat(MAX_CLIENT_ID_BYTES + 1)).is_err());
    }
}

/// One emoji of the Unicode emoji set (skin tones and unqualified spellings included), kept in
/// its fully qualified spelling, so `❤` and `❤️` are one reaction. Anything else (text, two
/// emoji, a lone skin tone) is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Emoji(&'static str);

impl Emoji {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        emojis::get(raw).map(|emoji| Self(emoji.as_str())).ok_or("must be one emoji")
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }
}

#[cfg(test)]
mod emoji_tests {
    use super::Emoji;

    #[test]
    fn one_emoji_in_any_spelling_is_one_reaction_and_nothing_else_is() {
        for ok in ["👍", "🎉", "🇿🇦", "👍🏽", "👩‍👩‍👧", "❤️"] {
            assert_eq!(Emoji::parse(ok).map(Emoji::as_str), Ok(ok), "{ok}");
        }
        assert_eq!(Emoji::parse("❤").unwrap(), Emoji::parse("❤️").unwrap(), "unqualified and qualified agree");
        for bad in ["", "a", "👍👍", "👍 ", ":+1:", "\u{1F3FD}", "thumbs", "\u{FE0F}"] {
            assert!(Emoji::parse(bad).is_err(), "{bad:?}");
        }
    }
}
