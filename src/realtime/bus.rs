//! The bus between instances: nothing on one instance, one Redis pub/sub channel for several.
//!
//! Every message is published as `{"node": <sender>, "message": …}` on `<prefix>:bus`; each
//! instance skips its own (it acted on them before publishing) and applies the rest. Pub/sub
//! keeps nothing for a listener that is away, so after the subscription is (re)established an
//! instance drops its whole session and user caches: any revocation it missed is then read from
//! the database on the next request.

use std::sync::Weak;
use std::time::Duration;

use futures::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Message, Realtime};

pub struct Bus {
    /// This instance, to recognise its own messages.
    node: Uuid,
    redis: Option<RedisBus>,
}

struct RedisBus {
    client: redis::Client,
    publisher: ConnectionManager,
    channel: String,
}

#[derive(Serialize)]
struct Outgoing<'a> {
    node: Uuid,
    message: &'a Message,
}

#[derive(Deserialize)]
struct Incoming {
    node: Uuid,
    message: Message,
}

impl Bus {
    /// One instance alone.
    pub fn local() -> Self {
        Self { node: Uuid::now_v7(), redis: None }
    }

    /// Over Redis at `client`, on the channel `<prefix>:bus`.
    pub async fn redis(client: redis::Client, prefix: &str) -> redis::RedisResult<Self> {
        let publisher = patient_connection(&client).await?;
        let channel = format!("{prefix}:bus");
        Ok(Self { node: Uuid::now_v7(), redis: Some(RedisBus { client, publisher, channel }) })
    }

    pub fn is_shared(&self) -> bool {
        self.redis.is_some()
    }

    /// The Redis client, for the Socket.IO adapter and the shared rate limiter.
    pub fn redis_client(&self) -> Option<&redis::Client> {
        self.redis.as_ref().map(|r| &r.client)
    }

    /// Sends `message` to the other instances. A failure is logged, not returned: the change it
    /// reports is already committed, and other instances' caches expire on their own.
    pub async fn publish(&self, message: &Message) {
        let Some(redis) = &self.redis else { return };
        let payload = match serde_json::to_vec(&Outgoing { node: self.node, message }) {
            Ok(payload) => payload,
            Err(err) => return tracing::error!(error = %err, "bus message did not serialise"),
        };
        let mut conn = redis.publisher.clone();
        let sent: redis::RedisResult<()> =
            redis::cmd("PUBLISH").arg(&redis.channel).arg(payload).query_async(&mut conn).await;
        if let Err(err) = sent {
            tracing::error!(error = %err, "publishing on the bus failed; other instances will miss this message");
        }
    }

    /// For `/readyz`.
    pub async fn ping(&self) -> Result<(), redis::RedisError> {
        let Some(redis) = &self.redis else { return Ok(()) };
        let mut conn = redis.publisher.clone();
        redis::cmd("PING").query_async::<()>(&mut conn).await
    }

    /// Applies other instances' messages to `app` until it is dropped; resubscribes after a
    /// lost connection.
    pub fn listen(&self, app: Weak<Realtime>) {
        let Some(redis) = &self.redis else { return };
        let (client, channel, node) = (redis.client.clone(), redis.channel.clone(), self.node);
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                match subscribe(&client, &channel).await {
                    Ok(pubsub) => {
                        backoff = Duration::from_millis(100);
                        let Some(live) = app.upgrade() else { return };
                        live.forget_all_locally();
                        drop(live);
                        let mut messages = pubsub.into_on_message();
                        while let Some(msg) = messages.next().await {
                            let Some(live) = app.upgrade() else { return };
                            match serde_json::from_slice::<Incoming>(msg.get_payload_bytes()) {
                                Ok(incoming) if incoming.node == node => {}
                                Ok(incoming) => live.apply(&incoming.message).await,
                                Err(err) => tracing::warn!(error = %err, "unreadable bus message skipped"),
                            }
                        }
                        tracing::warn!("bus subscription lost; resubscribing");
                    }
                    Err(err) => tracing::warn!(error = %err, retry_in = ?backoff, "bus subscription failed"),
                }
                if app.strong_count() == 0 {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        });
    }
}

/// A managed connection for calls whose answer must not be given up on in a busy moment:
/// redis-rs gives up after 500 ms by default, which a saturated machine exceeds (reconnecting
/// 100,000 sockets in `bench/fanout.sh` timed out presence scripts that Redis had in fact run,
/// and their announcements were lost). Five seconds still ends a call to a server that is gone.
pub(super) async fn patient_connection(client: &redis::Client) -> redis::RedisResult<ConnectionManager> {
    let config = ConnectionManagerConfig::new().set_response_timeout(Some(Duration::from_secs(5)));
    ConnectionManager::new_with_config(client.clone(), config).await
}

async fn subscribe(client: &redis::Client, channel: &str) -> redis::RedisResult<redis::aio::PubSub> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    Ok(pubsub)
}
