//! The password policy: 8–128 characters, not one of the most common passwords, and not the
//! account's own identifier.

use std::collections::HashSet;
use std::sync::LazyLock;

use secrecy::{ExposeSecret, SecretString};

/// The 10,000 most common passwords of 8 or more characters, lower-cased.
///
/// Taken from the `passwords` frequency list of zxcvbn (Python port 4.5.0, © 2016 Daniel Wolf,
/// MIT licence; the list itself from Dropbox's zxcvbn, © 2012-2016 Dan Wheeler and Dropbox, Inc.,
/// MIT licence).
static COMMON: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| include_str!("../auth/common_passwords.txt").lines().collect());

/// A password that passed the policy. Never printed: `Debug` is redacted.
#[derive(Debug, Clone)]
pub struct NewPassword(SecretString);

impl NewPassword {
    pub const MIN: usize = 8;
    pub const MAX: usize = 128;

    /// Checks the policy; `identifiers` are the account's own username, e-mail or phone.
    pub fn parse(raw: &str, identifiers: &[&str]) -> Result<Self, String> {
        let len = raw.chars().count();
        if len < Self::MIN {
            return Err(format!("must be at least {} characters", Self::MIN));
        }
        if len > Self::MAX {
            return Err(format!("must be at most {} characters", Self::MAX));
        }
        let lowered = raw.to_lowercase();
        if COMMON.contains(lowered.as_str()) {
            return Err("is one of the most common passwords; choose another".to_owned());
        }
        if identifiers.iter().any(|id| !id.is_empty() && id.to_lowercase() == lowered) {
            return Err("must not be the same as your username, e-mail or phone".to_owned());
        }
        Ok(Self(raw.into()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_is_counted_in_characters() {
        assert!(NewPassword::parse("short1!", &[]).is_err());
        assert!(NewPassword::parse("a9$kLm2q", &[]).is_ok());
        // 8 characters, 16 bytes: long enough.
        assert!(NewPassword::parse("пароль№9", &[]).is_ok());
        assert!(NewPassword::parse(&"x7".repeat(64), &[]).is_ok());
        assert!(NewPassword::parse(&"x7".repeat(65), &[]).is_err());
    }

    #[test]
    fn common_passwords_are_refused_whatever_their_case() {
        for common in ["password", "PASSWORD", "12345678", "qwertyuiop", "iloveyou", "trustno1"] {
            let err = NewPassword::parse(common, &[]).unwrap_err();
            assert!(err.contains("common"), "{common}: {err}");
        }
        assert_eq!(COMMON.len(), 10_000);
    }

    #[test]
    fn the_accounts_own_identifier_is_refused() {
        assert!(NewPassword::parse("Alice.Smith", &["alice.smith"]).is_err());
        assert!(NewPassword::parse("Alice.Smith", &["bob.jones"]).is_ok());
    }

    #[test]
    fn debug_output_does_not_show_the_password() {
        let pw = NewPassword::parse("correct horse battery", &[]).unwrap();
        assert!(!format!("{pw:?}").contains("horse"));
    }
}
