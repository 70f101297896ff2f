//! Password reset by e-mail: a short-lived, single-use code, stored only as a hash.
//!
//! Asking for a code answers the same, in the same time, whether or not the address has an
//! account: the lookup, the code and the mail all happen after the answer, in a task of their
//! own. Confirming answers `invalid_code` alike for an unknown address, a wrong code and a dead
//! one; only after the right code does it say anything about the new password.

use std::time::Duration;

use super::ClientInfo;
use super::accounts::Accounts;
use crate::domain::UserId;
use crate::domain::{Email, Identifier, NewPassword};
use crate::error::AppError;
use crate::store::{ResetOutcome, now};

/// A code is good for this long.
pub const CODE_TTL: Duration = Duration::from_secs(15 * 60);
/// Wrong tries before a code dies.
pub const MAX_TRIES: u32 = 5;
/// Digits in a code: 10⁸ possibilities against 5 tries.
pub const CODE_DIGITS: usize = 8;

/// The stored form of a code: bound to its account, so equal codes of two accounts differ.
pub fn code_hash(user_id: UserId, code: &str) -> String {
    crate::digest::sha256_hex(&[user_id.uuid().as_bytes().as_slice(), code.as_bytes()].concat())
}

fn new_code() -> anyhow::Result<String> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no system randomness: {e}"))?;
    Ok(format!("{:0width$}", u64::from_le_bytes(bytes) % 10u64.pow(CODE_DIGITS as u32), width = CODE_DIGITS))
}

fn invalid_code() -> AppError {
    AppError::bad_request("invalid_code", "the code is wrong or has expired; request a new one")
}

impl Accounts {
    /// Validates the request and rate limits it; the rest happens in the background.
    pub async fn request_password_reset(&self, email: &str, client: &ClientInfo) -> Result<(), AppError> {
        let limits = &self.limits;
        let ip = client.ip.to_string();
        limits.acquire(limits.reset_per_address, &ip).await?;
        let email = Email::parse(email).map_err(|m| AppError::invalid("email", m))?;
        // Keyed by the address as given, account or not, so a 429 says nothing about existence.
        limits.acquire(limits.reset_per_account, email.as_str()).await?;
        let accounts = self.clone();
        tokio::spawn(async move {
            if let Err(err) = accounts.send_reset_code(&email).await {
                tracing::error!(error = ?err, "password reset mail failed");
            }
        });
        Ok(())
    }

    async fn send_reset_code(&self, email: &Email) -> anyhow::Result<()> {
        let Some((user, _)) = self.store.find_login(&Identifier::Email(email.clone())).await? else {
            tracing::info!("password reset asked for an address without an account");
            return Ok(());
        };
        if !user.is_active {
            return Ok(());
        }
        let code = new_code()?;
        self.store.put_reset_code(user.id, code_hash(user.id, &code), now() + CODE_TTL).await?;
        let minutes = CODE_TTL.as_secs() / 60;
        let body = format!(
            "Your Parlor password reset code is\n\n    {code}\n\n\
             It works once, for {minutes} minutes. If you did not ask for it, ignore this message:\n\
             your password has not changed.\n"
        );
        self.mailer.send(email.as_str(), "Your Parlor password reset code", body).await?;
        tracing::info!(user_id = %user.id, "password reset code sent");
        Ok(())
    }

    /// Checks the code and sets the new password; every session of the account ends.
    pub async fn confirm_password_reset(
        &self,
        email: &str,
        code: &str,
        new_password: &str,
        client: &ClientInfo,
    ) -> Result<(), AppError> {
        let limits = &self.limits;
        let ip = client.ip.to_string();
        limits.check(limits.reset_per_address, &ip).await?;
        let email = Email::parse(email).map_err(|m| AppError::invalid("email", m))?;
        let failed = || async {
            limits.record(limits.reset_per_address, &ip).await;
            invalid_code()
        };
        let code = code.trim();
        if code.len() != CODE_DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(failed().await);
        }
        let Some((user, _)) = self.store.find_login(&Identifier::Email(email)).await? else {
            return Err(failed().await);
        };
        let hash = code_hash(user.id, code);
        if self.store.check_reset_code(user.id, &hash, MAX_TRIES).await? != ResetOutcome::Valid {
            return Err(failed().await);
        }
        let password = NewPassword::parse(new_password, &user.own_identifiers())
            .map_err(|m| AppError::invalid("new_password", m))?;
        let password_hash = self.auth.hasher.hash(password.expose()).await?;
        let Some(ended) = self.store.redeem_reset_code(user.id, &hash, password_hash).await? else {
            return Err(invalid_code());
        };
        for session_id in &ended {
            self.auth.forget_session(user.id, *session_id);
        }
        tracing::info!(user_id = %user.id, sessions_ended = ended.len(), "password reset");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_eight_digits_and_vary() {
        let codes: Vec<String> = (0..50).map(|_| new_code().unwrap()).collect();
        assert!(codes.iter().all(|c| c.len() == CODE_DIGITS && c.bytes().all(|b| b.is_ascii_digit())));
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert!(distinct.len() > 45, "{codes:?}");
    }

    #[test]
    fn the_stored_hash_depends_on_the_account() {
        let (a, b) = (UserId::new(), UserId::new());
        assert_ne!(code_hash(a, "12345678"), code_hash(b, "12345678"));
        assert_eq!(code_hash(a, "12345678").len(), 64);
    }
}
