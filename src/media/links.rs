//! Signed links to attachments: a chat's files are served to whoever holds a link that Parlor
//! handed to a member, and only until it expires.
//!
//! A link is the object's URL with `expires` (Unix seconds) and `signature` (HMAC-SHA256 of the
//! key and the expiry, base64url) in its query. Every instance signs with the same secret, kept
//! in the database ([`crate::store::Store::shared_secret`]), so a link one instance made opens on
//! any other. Expiries are rounded up to the next half-lifetime, so the links made in one half
//! are the same string and a client's cache keeps working; a link therefore lives between half
//! of `media.attachment_link_secs` and all of it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type Signer = Hmac<Sha256>;

/// Why a link does not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    /// No signature, a malformed one, or one for other bytes.
    Invalid,
    /// A genuine link whose time is over.
    Expired,
}

/// Signs and checks attachment links.
pub struct Links {
    secret: Vec<u8>,
    lifetime_secs: u64,
}

impl Links {
    pub fn new(secret: Vec<u8>, lifetime_secs: u64) -> Self {
        Self { secret, lifetime_secs: lifetime_secs.max(2) }
    }

    /// Links under a secret of this process alone, until the shared one is set.
    pub fn of_this_process(lifetime_secs: u64) -> Self {
        let mut secret = vec![0; 32];
        getrandom::fill(&mut secret).expect("system randomness");
        Self::new(secret, lifetime_secs)
    }

    pub fn lifetime_secs(&self) -> u64 {
        self.lifetime_secs
    }

    /// When a link made at `now` expires: the end of the next half-lifetime but one.
    pub fn expiry(&self, now: u64) -> u64 {
        let half = self.lifetime_secs / 2;
        (now / half + 2) * half
    }

    /// The query that lets `key` be read until [`Self::expiry`] of `now`.
    pub fn query(&self, key: &str, now: u64) -> String {
        let expires = self.expiry(now);
        format!(
            "expires={expires}&signature={}",
            URL_SAFE_NO_PAD.encode(self.mac(key, expires).finalize().into_bytes())
        )
    }

    /// How many seconds the link of `key` with this `expires` and `signature` has left.
    pub fn check(&self, key: &str, expires: Option<&str>, signature: Option<&str>, now: u64) -> Result<u64, LinkError> {
        let (Some(expires), Some(signature)) = (expires, signature) else { return Err(LinkError::Invalid) };
        let expires: u64 = expires.parse().map_err(|_| LinkError::Invalid)?;
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| LinkError::Invalid)?;
        // Constant-time comparison.
        self.mac(key, expires).verify_slice(&signature).map_err(|_| LinkError::Invalid)?;
        expires.checked_sub(now).filter(|left| *left > 0).ok_or(LinkError::Expired)
    }

    fn mac(&self, key: &str, expires: u64) -> Signer {
        let mut mac = Signer::new_from_slice(&self.secret).expect("HMAC takes a key of any length");
        mac.update(key.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(query: &str) -> (String, String) {
        let (expires, signature) = query.split_once('&').unwrap();
        (expires.trim_start_matches("expires=").to_owned(), signature.trim_start_matches("signature=").to_owned())
    }

    #[test]
    fn a_link_opens_until_it_expires_and_lives_between_half_and_all_of_its_lifetime() {
        let links = Links::new(b"secret".to_vec(), 3600);
        for now in [1_000_000, 1_000_001, 1_001_799, 1_001_800] {
            let expires = links.expiry(now);
            assert!((1800..=3600).contains(&(expires - now)), "{now}: {expires}");
        }
        let now = 1_000_000;
        let (expires, signature) = parts(&links.query("attachments/a/file", now));
        let left = links.check("attachments/a/file", Some(&expires), Some(&signature), now).unwrap();
        assert_eq!(left, links.expiry(now) - now);
        let end: u64 = expires.parse().unwrap();
        assert_eq!(links.check("attachments/a/file", Some(&expires), Some(&signature), end), Err(LinkError::Expired));
    }

    #[test]
    fn links_made_in_one_half_lifetime_are_the_same_string() {
        let links = Links::new(b"secret".to_vec(), 3600);
        assert_eq!(links.query("k", 1_800_000), links.query("k", 1_800_000 + 1799));
        assert_ne!(links.query("k", 1_800_000), links.query("k", 1_800_000 + 1800));
    }

    #[test]
    fn a_link_opens_nothing_else_and_nothing_under_another_secret() {
        let links = Links::new(b"secret".to_vec(), 3600);
        let now = 1_000_000;
        let (expires, signature) = parts(&links.query("attachments/a/original.jpg", now));
        let later = (expires.parse::<u64>().unwrap() + 3600).to_string();
        for (key, expires, signature) in [
            ("attachments/a/preview.jpg", expires.as_str(), signature.as_str()),
            ("attachments/a/original.jpg", later.as_str(), signature.as_str()),
            ("attachments/a/original.jpg", expires.as_str(), "AAAA"),
            ("attachments/a/original.jpg", expires.as_str(), "not base64!"),
            ("attachments/a/original.jpg", "soon", signature.as_str()),
        ] {
            assert_eq!(
                links.check(key, Some(expires), Some(signature), now),
                Err(LinkError::Invalid),
                "{key} {expires}"
            );
        }
        assert_eq!(links.check("attachments/a/original.jpg", None, Some(&signature), now), Err(LinkError::Invalid));
        assert_eq!(links.check("attachments/a/original.jpg", Some(&expires), None, now), Err(LinkError::Invalid));
        let other = Links::new(b"another".to_vec(), 3600);
        assert_eq!(
            other.check("attachments/a/original.jpg", Some(&expires), Some(&signature), now),
            Err(LinkError::Invalid)
        );
    }
}
