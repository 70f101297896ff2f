//! The same sliding logs in Redis, so limits hold across instances.
//!
//! Each key is a sorted set of event instants (µs, by the Redis server's clock, so instances
//! with skewed clocks agree). One Lua script trims the window, decides and records atomically.
//! If Redis cannot be reached the limiter lets the request through and logs an error: an outage
//! of the limiter must not lock every user out.

use std::time::Duration;

use async_trait::async_trait;
use redis::Script;
use redis::aio::ConnectionManager;

use super::{RateLimiter, RetryAfter, Rule};

/// KEYS[1]: the log. ARGV: window (µs), max, mode (0 check, 1 record, 2 acquire), a unique
/// member. Returns -1 when allowed, else the microseconds until it will be.
const SLIDING_LOG: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window, max, mode = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if mode ~= 1 and count >= max then
  local oldest = redis.call('ZRANGE', KEYS[1], count - max, count - max, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + window - now)
end
if mode ~= 0 then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(max + 1))
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
end
return -1
";

pub struct RedisLimiter {
    conn: ConnectionManager,
    prefix: String,
    script: Script,
}

impl RedisLimiter {
    pub async fn new(client: redis::Client, prefix: &str) -> redis::RedisResult<Self> {
        Ok(Self {
            conn: ConnectionManager::new(client).await?,
            prefix: format!("{prefix}:limit"),
            script: Script::new(SLIDING_LOG),
        })
    }

    async fn run(&self, rule: Rule, key: &str, mode: u8) -> Result<(), RetryAfter> {
        let member = uuid::Uuid::now_v7().simple().to_string();
        let window = u64::try_from(rule.window.as_micros()).unwrap_or(u64::MAX);
        let mut conn = self.conn.clone();
        let result: redis::RedisResult<i64> = self
            .script
            .key(format!("{}:{}:{key}", self.prefix, rule.name))
            .arg(window)
            .arg(rule.max)
            .arg(mode)
            .arg(member)
            .invoke_async(&mut conn)
            .await;
        match result {
            Ok(wait) if wait >= 0 => Err(Duration::from_micros(wait.unsigned_abs())),
            Ok(_) => Ok(()),
            Err(err) => {
                tracing::error!(rule = rule.name, error = %err, "rate limiter unavailable; allowing the request");
                Ok(())
            }
        }
    }
}

#[async_trait]
impl RateLimiter for RedisLimiter {
    async fn check(&self, rule: Rule, key: &str) -> Result<(), RetryAfter> {
        self.run(rule, key, 0).await
    }

    async fn record(&self, rule: Rule, key: &str) {
        let _ = self.run(rule, key, 1).await;
    }

    async fn acquire(&self, rule: Rule, key: &str) -> Result<(), RetryAfter> {
        self.run(rule, key, 2).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A limiter on the Redis of `PARLOR_TEST_REDIS_URL` (required to answer when set) or a
    /// local one (skipped when none answers), under a fresh prefix.
    async fn limiter() -> Option<RedisLimiter> {
        let explicit = std::env::var("PARLOR_TEST_REDIS_URL").ok();
        let url = explicit.clone().unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned());
        let prefix = format!("parlor-test-{}", uuid::Uuid::now_v7().simple());
        let connect = async { RedisLimiter::new(redis::Client::open(url.as_str())?, &prefix).await };
        match tokio::time::timeout(Duration::from_secs(2), connect).await {
            Ok(Ok(limiter)) => Some(limiter),
            _ if explicit.is_some() => panic!("PARLOR_TEST_REDIS_URL={url} is not reachable"),
            _ => None,
        }
    }

    const RULE: Rule = Rule { name: "test", max: 3, window: Duration::from_millis(400) };

    #[tokio::test]
    async fn refuses_past_the_maximum_across_limiters_and_frees_up_after_the_window() {
        let Some(one) = limiter().await else {
            eprintln!("no Redis reachable: skipping");
            return;
        };
        // A second limiter on the same keys, as a second instance would have.
        let two = RedisLimiter { conn: one.conn.clone(), prefix: one.prefix.clone(), script: Script::new(SLIDING_LOG) };
        one.acquire(RULE, "k").await.unwrap();
        two.acquire(RULE, "k").await.unwrap();
        one.record(RULE, "k").await;
        let retry = two.acquire(RULE, "k").await.unwrap_err();
        assert!(retry > Duration::ZERO && retry <= RULE.window, "{retry:?}");
        assert!(one.check(RULE, "other").await.is_ok(), "keys are independent");
        tokio::time::sleep(RULE.window).await;
        assert!(two.acquire(RULE, "k").await.is_ok(), "the window slid past");
    }
}
