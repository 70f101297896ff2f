//! Account identifiers: username, e-mail and phone, each parsed once into a normalised newtype.
//!
//! A login identifier is classified by shape: an `@` makes it an e-mail, a leading `+` or a run of
//! digits and phone punctuation makes it a phone number, anything else is a username. Usernames are
//! plain ASCII, which rules out confusable letters (Cyrillic `а` for Latin `a`) and invisible
//! characters (zero-width spaces) by construction.

use std::fmt;

use serde::Serialize;

/// A username as the user typed it (case kept for display); compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    pub const MIN: usize = 3;
    pub const MAX: usize = 32;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let len = raw.chars().count();
        if !(Self::MIN..=Self::MAX).contains(&len) {
            return Err(format!("must be {} to {} characters", Self::MIN, Self::MAX));
        }
        if let Some(c) = raw.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '.')) {
            return Err(if c.is_ascii() {
                format!("may contain only letters, digits, '_' and '.', not {c:?}")
            } else {
                "may contain only ASCII letters, digits, '_' and '.'".to_owned()
            });
        }
        if !raw.chars().any(|c| c.is_ascii_alphabetic()) {
            // An all-digit name would be indistinguishable from a phone number at login.
            return Err("must contain at least one letter".to_owned());
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form uniqueness and login compare on.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// An e-mail address, stored and compared lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub const MAX: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        if trimmed.len() > Self::MAX {
            return Err(format!("must be at most {} characters", Self::MAX));
        }
        let options = email_address::Options::default().without_display_text().without_domain_literal();
        let parsed = email_address::EmailAddress::parse_with_options(trimmed, options)
            .map_err(|_| "is not a valid e-mail address".to_owned())?;
        // A dotless domain (`user@localhost`) is valid RFC 5322 but never a deliverable address.
        if !parsed.domain().contains('.') || trimmed.chars().any(char::is_whitespace) {
            return Err("is not a valid e-mail address".to_owned());
        }
        Ok(Self(trimmed.to_lowercase()))
    }

    /// An address for an account to have from now on (registration, a profile change): as
    /// [`Self::parse`], and neither its local part nor its domain mixes look-alike scripts or
    /// holds invisible characters ([`super::unicode::is_unmixed`]). Looking an address up
    /// (login, reset) takes it as [`Self::parse`] does, so one stored before this rule still
    /// works.
    pub fn parse_new(raw: &str) -> Result<Self, String> {
        let email = Self::parse(raw)?;
        let (local, domain) = email.0.rsplit_once('@').unwrap_or_default();
        if !(super::unicode::is_unmixed(local) && super::unicode::is_unmixed(domain)) {
            return Err(
                "must not mix look-alike letters of different scripts or contain invisible characters".to_owned()
            );
        }
        Ok(email)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A phone number in E.164 form (`+14155550123`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Phone(String);

impl Phone {
    /// Numbers must carry their country code (`+…`): Parlor has no notion of a home region.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        if !trimmed.starts_with('+') {
            return Err("must be in international format, starting with + and the country code".to_owned());
        }
        if trimmed.len() > 32 {
            return Err("is not a valid phone number".to_owned());
        }
        let number = phonenumber::parse(None, trimmed).map_err(|_| "is not a valid phone number".to_owned())?;
        if !phonenumber::is_valid(&number) {
            return Err("is not a valid phone number".to_owned());
        }
        Ok(Self(number.format().mode(phonenumber::Mode::E164).to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a user logs in with, classified by shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identifier {
    Username(Username),
    Email(Email),
    Phone(Phone),
}

impl Identifier {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err("must not be empty".to_owned());
        }
        if trimmed.contains('@') {
            Email::parse(trimmed).map(Self::Email)
        } else if looks_like_phone(trimmed) {
            Phone::parse(trimmed).map(Self::Phone)
        } else {
            Username::parse(trimmed).map(Self::Username)
        }
    }

    /// The field this identifier fills in a profile: `username`, `email` or `phone`.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Username(_) => "username",
            Self::Email(_) => "email",
            Self::Phone(_) => "phone",
        }
    }

    /// The normalised form used for lookups and rate-limit keys.
    pub fn key(&self) -> String {
        match self {
            Self::Username(name) => name.key(),
            Self::Email(email) => email.as_str().to_owned(),
            Self::Phone(phone) => phone.as_str().to_owned(),
        }
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

fn looks_like_phone(s: &str) -> bool {
    s.starts_with('+') || s.chars().all(|c| c.is_ascii_digit() || " -().".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_classified_by_shape() {
        assert!(matches!(Identifier::parse("Alice_01").unwrap(), Identifier::Username(_)));
        assert!(matches!(Identifier::parse("Alice@Example.COM").unwrap(), Identifier::Email(_)));
        assert!(matches!(Identifier::parse("+1 415 555 2671").unwrap(), Identifier::Phone(_)));
    }

    #[test]
    fn usernames_keep_their_case_but_compare_without_it() {
        let name = Username::parse("Alice.B").unwrap();
        assert_eq!(name.as_str(), "Alice.B");
        assert_eq!(name.key(), "alice.b");
    }

    #[test]
    fn usernames_outside_the_rules_are_refused() {
        for bad in ["ab", &"a".repeat(33), "has space", "dash-ed", "ünïcode", "12345"] {
            assert!(Username::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Username::parse("abc").is_ok());
        assert!(Username::parse(&"a".repeat(32)).is_ok());
    }

    #[test]
    fn confusable_and_invisible_characters_are_refused_in_usernames() {
        // Cyrillic 'а' (U+0430) looks exactly like Latin 'a'.
        assert!(Username::parse("\u{0430}dmin").is_err());
        // Zero-width space and zero-width joiner hide inside a name.
        assert!(Username::parse("ad\u{200B}min").is_err());
        assert!(Username::parse("ad\u{200D}min").is_err());
        // Fullwidth Latin letters.
        assert!(Username::parse("\u{FF41}dmin").is_err());
    }

    #[test]
    fn emails_are_validated_and_lowercased() {
        assert_eq!(Email::parse(" Bob@Example.Org ").unwrap().as_str(), "bob@example.org");
        for bad in ["bob", "bob@", "@example.org", "bob@localhost", "bob smith@example.org", "a@b@c.org"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
        let long = format!("{}@example.org", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn an_address_with_a_line_break_or_display_text_never_becomes_one_that_adds_mail_headers() {
        for bad in [
            "bob@example.org\r\nBcc: eve@evil.example",
            "bob@example.org\nBcc: eve@evil.example",
            "bob\r\n@example.org",
            "bob@exam\rple.org",
            "Bob <bob@example.org>",
            "bob@example.org, eve@evil.example",
            "\"bob\r\nBcc: eve\"@example.org",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
            assert!(Email::parse_new(bad).is_err(), "{bad:?} should be refused for a new account");
        }
        // Line breaks around an address are trimmed away, not carried into a header.
        assert_eq!(Email::parse("bob@example.org\r\n").unwrap().as_str(), "bob@example.org");
    }

    #[test]
    fn phones_are_normalised_to_e164() {
        assert_eq!(Phone::parse("+1 (415) 555-2671").unwrap().as_str(), "+14155552671");
        assert_eq!(Phone::parse("+44 20 7946 0958").unwrap().as_str(), "+442079460958");
        assert_eq!(Identifier::parse("+7 912 345-67-89").unwrap().key(), "+79123456789");
    }

    #[test]
    fn phones_without_country_code_or_invalid_are_refused() {
        assert!(Phone::parse("4155552671").is_err());
        assert!(Phone::parse("+1 000").is_err());
        assert!(Phone::parse("+999 123").is_err());
        // An all-digit login identifier is treated as a phone and needs its country code.
        assert!(Identifier::parse("4155552671").is_err());
    }

    #[test]
    fn an_empty_identifier_is_refused() {
        assert!(Identifier::parse("   ").is_err());
    }
}
