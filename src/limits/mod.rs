//! Abuse limits: sliding-window counters behind one [`RateLimiter`] interface.
//!
//! A sliding log (the instants of the last `max` events per key) is exact: "at most 10 failures in
//! any 15 minutes" holds at window boundaries too, where a fixed window would let 20 through. The
//! in-process implementation is for one instance; a shared store (Redis sorted sets give the same
//! semantics) implements the same trait so limits hold across instances.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::config::LimitsConfig;
use crate::error::AppError;

mod redis;
pub use self::redis::RedisLimiter;

/// At most `max` events per key within any `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub name: &'static str,
    pub max: u32,
    pub window: Duration,
}

/// How long until the key may act again.
pub type RetryAfter = Duration;

#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Refuses if `key` already had `rule.max` events within the window; counts nothing.
    async fn check(&self, rule: Rule, key: &str) -> Result<(), RetryAfter>;
    /// Counts one event for `key`.
    async fn record(&self, rule: Rule, key: &str);
    /// [`check`](Self::check) and [`record`](Self::record) as one step.
    async fn acquire(&self, rule: Rule, key: &str) -> Result<(), RetryAfter>;
}

/// The limits Parlor applies, with their configured sizes.
pub struct Limits {
    pub limiter: Box<dyn RateLimiter>,
    /// Failed logins for one account from one address.
    pub login_per_account: Rule,
    /// Failed logins from one address, all accounts.
    pub login_per_address: Rule,
    /// Failed logins for one account from every address it has no session from.
    pub login_per_account_from_new_addresses: Rule,
    pub register: Rule,
    pub refresh: Rule,
    /// Password-reset mails for one e-mail address.
    pub reset_per_account: Rule,
    /// Password-reset requests and failed confirmations from one address.
    pub reset_per_address: Rule,
    /// Messages sent (and forwarded) by one user.
    pub messages: Rule,
    /// Message searches by one user.
    pub searches: Rule,
    /// Data exports by one user.
    pub exports: Rule,
    /// Attachment uploads by one user.
    pub uploads: Rule,
    /// The quota of one user's uploads waiting for a message: how many, and their bytes.
    pub unsent_uploads: (u32, u64),
    /// Typing notices from one user; the ones over it are dropped silently.
    pub typing: Rule,
}

impl Limits {
    pub fn new(config: &LimitsConfig, limiter: Box<dyn RateLimiter>) -> Self {
        let login_window = Duration::from_secs(config.login_window_secs);
        let hour = Duration::from_secs(3600);
        Self {
            limiter,
            login_per_account: Rule {
                name: "login-account",
                max: config.login_failures_per_account,
                window: login_window,
            },
            login_per_address: Rule {
                name: "login-address",
                max: config.login_failures_per_address,
                window: login_window,
            },
            login_per_account_from_new_addresses: Rule {
                name: "login-account-new-addresses",
                max: config.login_failures_per_account_from_new_addresses,
                window: login_window,
            },
            register: Rule { name: "register", max: config.registrations_per_hour, window: hour },
            refresh: Rule { name: "refresh", max: config.refreshes_per_hour, window: hour },
            reset_per_account: Rule {
                name: "reset-account",
                max: config.password_resets_per_account_hour,
                window: hour,
            },
            reset_per_address: Rule {
                name: "reset-address",
                max: config.password_resets_per_address_hour,
                window: hour,
            },
            messages: Rule { name: "messages", max: config.messages_per_minute, window: Duration::from_secs(60) },
            searches: Rule { name: "searches", max: config.searches_per_minute, window: Duration::from_secs(60) },
            exports: Rule { name: "exports", max: config.exports_per_day, window: Duration::from_secs(24 * 3600) },
            uploads: Rule { name: "uploads", max: config.uploads_per_hour, window: hour },
            unsent_uploads: (config.unsent_uploads, config.unsent_upload_bytes),
            // Clients repeat the notice every few seconds while someone types.
            typing: Rule { name: "typing", max: 5, window: Duration::from_secs(10) },
        }
    }
}

impl Limits {
    /// Counts one event for `key` under `rule`, or refuses with 429 and when to try again.
    pub async fn acquire(&self, rule: Rule, key: &str) -> Result<(), AppError> {
        self.limiter.acquire(rule, key).await.map_err(AppError::RateLimited)
    }

    /// Refuses with 429 if `key` is over `rule`; counts nothing (for limits on failures, which
    /// [`Self::record`] counts once they happen).
    pub async fn check(&self, rule: Rule, key: &str) -> Result<(), AppError> {
        self.limiter.check(rule, key).await.map_err(AppError::RateLimited)
    }

    /// Counts one event for `key` under `rule`.
    pub async fn record(&self, rule: Rule, key: &str) {
        self.limiter.record(rule, key).await;
    }
}

/// Sliding logs in process memory.
#[derive(Default)]
pub struct MemoryLimiter {
    logs: Mutex<HashMap<(&'static str, String), VecDeque<Instant>>>,
}

/// Sweep idle keys once the map holds this many.
const SWEEP_AT: usize = 100_000;

impl MemoryLimiter {
    fn with_log<T>(&self, rule: Rule, key: &str, f: impl FnOnce(&mut VecDeque<Instant>, Instant) -> T) -> T {
        let now = Instant::now();
        let mut logs = self.logs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if logs.len() >= SWEEP_AT {
            logs.retain(|_, log| {
                log.back().is_some_and(|last| now.duration_since(*last) < Duration::from_secs(24 * 3600))
            });
        }
        let log = logs.entry((rule.name, key.to_owned())).or_default();
        while log.front().is_some_and(|first| now.duration_since(*first) >= rule.window) {
            log.pop_front();
        }
        f(log, now)
    }
}

fn verdict(rule: Rule, log: &VecDeque<Instant>, now: Instant) -> Result<(), RetryAfter> {
    if log.len() < rule.max as usize {
        return Ok(());
    }
    // Free again when the oldest event that keeps the count at `max` leaves the window.
    let oldest = log[log.len() - rule.max as usize];
    Err(rule.window.saturating_sub(now.duration_since(oldest)))
}

#[async_trait]
impl RateLimiter for MemoryLimiter {
    async fn check(&self, rule: Rule, key: &str) -> Result<(), RetryAfter> {
        self.with_log(rule, key, |log, now| verdict(rule, log, now))
    }

    async fn record(&self, rule: Rule, key: &str) {
        self.with_log(rule, key, |log, now| {
            log.push_back(now);
            // Only the newest `max` events can ever matter.
            while log.len() > rule.max as usize {
                log.pop_front();
            }
        });
    }

    async fn acquire(&self, rule: Rule, key: &str) -> Result<(), RetryAfter> {
        self.with_log(rule, key, |log, now| {
            verdict(rule, log, now)?;
            log.push_back(now);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: Rule = Rule { name: "test", max: 3, window: Duration::from_millis(200) };

    #[tokio::test]
    async fn refuses_past_the_maximum_and_says_for_how_long() {
        let limiter = MemoryLimiter::default();
        for _ in 0..3 {
            limiter.acquire(RULE, "k").await.unwrap();
        }
        let retry = limiter.acquire(RULE, "k").await.unwrap_err();
        assert!(retry > Duration::ZERO && retry <= RULE.window, "{retry:?}");
        assert!(limiter.acquire(RULE, "other key").await.is_ok(), "keys are independent");
    }

    #[tokio::test]
    async fn events_leave_the_window() {
        let limiter = MemoryLimiter::default();
        for _ in 0..3 {
            limiter.record(RULE, "k").await;
        }
        assert!(limiter.check(RULE, "k").await.is_err());
        tokio::time::sleep(RULE.window).await;
        assert!(limiter.check(RULE, "k").await.is_ok());
    }

    #[tokio::test]
    async fn check_counts_nothing() {
        let limiter = MemoryLimiter::default();
        for _ in 0..10 {
            limiter.check(RULE, "k").await.unwrap();
        }
    }
}
