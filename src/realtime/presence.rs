//! Who is online, across instances: the facts presence is made of, not who may see them.
//!
//! Each instance counts its own open sockets per user. One background task (the worker) turns
//! changes of those counts into changes of the user's state everywhere:
//!
//! - Alone (no Redis), a user is online while this instance counts a socket of theirs.
//! - With Redis, each instance claims its users: `<prefix>:presence:user:<id>` is the set of
//!   instances holding a socket of that user, `…:node:<node>` the users an instance claims, and
//!   `…:nodes` every instance with the moment its claim expires. Every third of
//!   `presence_expiry_secs` each instance renews its claim for two thirds of it (so one missed
//!   renewal is survived) and looks for claims that expired: it removes such an instance (crashed,
//!   or cut off) from its users' sets in the same script, so exactly one instance learns who went
//!   offline with it, at most `presence_expiry_secs` after the crash. A user is online while their set is
//!   not empty. An instance that finds its own claim gone (Redis restarted, or it was taken for
//!   dead) claims all its users again.
//!
//! Each script runs atomically in Redis, so of two instances racing, one sees the set go from
//! empty to not (online) or back (offline), never both or neither. The worker batches whatever
//! changed since it last ran into one script call, so a connect and a disconnect in between
//! cancel out before Redis hears of them.
//!
//! Changes are then coalesced: at most one announcement per user per `presence_quiet_secs`,
//! recorded in Redis too (`…:said:<id>`) so it holds across instances. A change inside the quiet
//! time is looked at again when it ends and announced only if it still holds, so a user whose
//! connection flaps costs one announcement per quiet time, not two per flap.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;
use tokio::sync::mpsc;
use tokio::time::Instant;
use uuid::Uuid;

use crate::domain::UserId;

/// What the worker found, for whoever tells people and keeps `last_seen_at`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct News {
    /// Users who just went offline everywhere (for `last_seen_at`), announced or not.
    pub gone_offline: Vec<UserId>,
    /// What to announce: the user, and whether they are online now.
    pub announce: Vec<(UserId, bool)>,
}

/// This instance's side of presence. Cheap calls; the worker does the rest.
pub struct Tracker {
    local: Arc<Local>,
    changed: mpsc::UnboundedSender<UserId>,
    /// Redis, and this instance's name there.
    lookup: Option<(RedisState, String)>,
}

/// Sockets open on this instance, per user.
#[derive(Default)]
struct Local {
    counts: Mutex<HashMap<UserId, u32>>,
    /// Set by [`Tracker::leave`]: the worker tells Redis nothing more.
    left: AtomicBool,
}

impl Local {
    fn update(&self, user_id: UserId, delta: i32) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(user_id).or_default();
        *count = count.saturating_add_signed(delta);
        if *count == 0 {
            counts.remove(&user_id);
        }
    }

    fn has(&self, user_id: UserId) -> bool {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner).contains_key(&user_id)
    }

    fn users(&self) -> Vec<UserId> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner).keys().copied().collect()
    }
}

/// How long claims last and announcements wait.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub expiry: Duration,
    pub quiet: Duration,
}

impl Tracker {
    /// Starts the worker (on the current Tokio runtime); it stops when the tracker is dropped.
    /// With `redis`, presence spans every instance on it. Returns the tracker and its news.
    pub async fn start(
        redis: Option<(&redis::Client, &str)>,
        timing: Timing,
    ) -> redis::RedisResult<(Self, mpsc::UnboundedReceiver<News>)> {
        let local = Arc::new(Local::default());
        let (changed, changes) = mpsc::unbounded_channel();
        let (tell, news) = mpsc::unbounded_channel();
        let state = match redis {
            Some((client, prefix)) => Some(RedisState::new(client, prefix).await?),
            None => None,
        };
        let node = Uuid::now_v7().simple().to_string();
        let lookup = state.clone().map(|redis| (redis, node.clone()));
        let worker = Worker {
            local: local.clone(),
            changes,
            news: tell,
            shared: state.map(|redis| Shared { redis, node, claimed: false }),
            timing,
            registered: HashSet::new(),
            said: HashMap::new(),
            rechecks: BTreeMap::new(),
            pending: HashSet::new(),
        };
        tokio::spawn(worker.run());
        Ok((Self { local, changed, lookup }, news))
    }

    /// A socket of `user_id` opened on this instance.
    pub fn connected(&self, user_id: UserId) {
        self.local.update(user_id, 1);
        let _ = self.changed.send(user_id);
    }

    /// A socket of `user_id` closed on this instance.
    pub fn disconnected(&self, user_id: UserId) {
        self.local.update(user_id, -1);
        let _ = self.changed.send(user_id);
    }

    /// Which of `user_ids` are online anywhere. With Redis unreachable, those with a socket
    /// here (logged).
    pub async fn online(&self, user_ids: &[UserId]) -> HashSet<UserId> {
        if let Some((redis, _)) = &self.lookup
            && !user_ids.is_empty()
        {
            match redis.online(user_ids).await {
                Ok(online) => return online,
                Err(err) => {
                    tracing::error!(error = %err, "reading presence from Redis failed; answering from this instance")
                }
            }
        }
        user_ids.iter().copied().filter(|id| self.local.has(*id)).collect()
    }
}

impl Tracker {
    /// At a clean stop: withdraws this instance's claim, so its users do not wait for it to
    /// expire. Returns those who are now offline everywhere (alone: nobody else is left to tell).
    pub async fn leave(&self) -> redis::RedisResult<Vec<UserId>> {
        self.local.left.store(true, Ordering::Release);
        match &self.lookup {
            Some((redis, node)) => redis.leave(node).await,
            None => Ok(Vec::new()),
        }
    }
}

/// The answer of one coalescing check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Say {
    Now,
    Nothing,
    After(Duration),
}

/// The coalescing rule, wherever its record is kept: `said` is what was last announced, when.
fn decide(said: Option<(bool, Instant)>, online: bool, now: Instant, quiet: Duration) -> Say {
    match said {
        Some((_, at)) if now.duration_since(at) < quiet => Say::After(quiet - now.duration_since(at)),
        Some((state, _)) if state == online => Say::Nothing,
        _ => Say::Now,
    }
}

struct Shared {
    redis: RedisState,
    /// This instance's name in Redis, new at every start.
    node: String,
    /// Whether Redis holds this instance's claim (else every local user is claimed again).
    claimed: bool,
}

struct Worker {
    local: Arc<Local>,
    changes: mpsc::UnboundedReceiver<UserId>,
    news: mpsc::UnboundedSender<News>,
    shared: Option<Shared>,
    timing: Timing,
    /// Users this instance has told the registry (itself, or Redis) it holds.
    registered: HashSet<UserId>,
    /// Alone: what was last announced for each user, and when.
    said: HashMap<UserId, (bool, Instant)>,
    /// Changes inside their quiet time, to look at again when it ends.
    rechecks: BTreeMap<Instant, Vec<UserId>>,
    pending: HashSet<UserId>,
}

impl Worker {
    async fn run(mut self) {
        let mut beat = tokio::time::interval(self.timing.expiry / 3);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut dirty = HashSet::new();
        loop {
            let next_recheck = self.rechecks.first_key_value().map(|(at, _)| *at);
            let mut heartbeat = false;
            tokio::select! {
                changed = self.changes.recv() => match changed {
                    Some(user_id) => {
                        dirty.insert(user_id);
                        while let Ok(user_id) = self.changes.try_recv() {
                            dirty.insert(user_id);
                        }
                    }
                    None => break,
                },
                _ = beat.tick() => heartbeat = true,
                () = tokio::time::sleep_until(next_recheck.unwrap_or_else(Instant::now)), if next_recheck.is_some() => {}
            }
            if self.local.left.load(Ordering::Acquire) {
                break;
            }
            let mut news = News::default();
            let mut transitions = Vec::new();
            if heartbeat && let Err(err) = self.heartbeat(&mut transitions, &mut dirty).await {
                tracing::error!(error = %err, "renewing this instance's presence claim failed; retrying");
            }
            // What could not be told stays dirty: tried again with the next change or heartbeat.
            if !dirty.is_empty()
                && let Err(err) = self.apply(&mut dirty, &mut transitions).await
            {
                tracing::error!(error = %err, users = dirty.len(), "recording presence in Redis failed; retrying");
            }
            let due = self.take_due();
            let mut candidates: Vec<(UserId, bool)> = Vec::new();
            for (user_id, online) in transitions {
                if !online {
                    news.gone_offline.push(user_id);
                }
                candidates.push((user_id, online));
            }
            if !due.is_empty() {
                let online = self.online(&due).await;
                candidates.extend(due.into_iter().map(|id| (id, online.contains(&id))));
            }
            candidates.retain(|(user_id, _)| !self.pending.contains(user_id));
            if !candidates.is_empty() {
                match self.say(&candidates).await {
                    Ok(answers) => {
                        for ((user_id, online), answer) in candidates.into_iter().zip(answers) {
                            match answer {
                                Say::Now => news.announce.push((user_id, online)),
                                Say::Nothing => {}
                                Say::After(wait) => {
                                    self.pending.insert(user_id);
                                    self.rechecks.entry(Instant::now() + wait).or_default().push(user_id);
                                }
                            }
                        }
                    }
                    Err(err) => tracing::error!(error = %err, "coalescing presence announcements failed; dropped"),
                }
            }
            if (!news.gone_offline.is_empty() || !news.announce.is_empty()) && self.news.send(news).is_err() {
                break;
            }
        }
    }

    /// Rechecks whose quiet time is over.
    fn take_due(&mut self) -> Vec<UserId> {
        let now = Instant::now();
        let mut due = Vec::new();
        while let Some(entry) = self.rechecks.first_entry() {
            if *entry.key() > now {
                break;
            }
            due.extend(entry.remove());
        }
        for user_id in &due {
            self.pending.remove(user_id);
        }
        due
    }

    /// Tells the registry what changed here, [`CHUNK`] users a call, adding who went online or
    /// offline everywhere to `transitions` and taking the users told off `dirty`. A reconnect
    /// storm brings tens of thousands at once: one script over all of them would hold Redis
    /// from every other instance meanwhile and outlast any answer timeout, and a timed-out
    /// script that did run leaves nothing to announce when tried again. After an error the
    /// users not yet told stay in `dirty`.
    async fn apply(
        &mut self,
        dirty: &mut HashSet<UserId>,
        transitions: &mut Vec<(UserId, bool)>,
    ) -> redis::RedisResult<()> {
        let changes: Vec<(UserId, bool)> = dirty
            .iter()
            .map(|id| (*id, self.local.has(*id)))
            .filter(|(id, here)| *here != self.registered.contains(id))
            .collect();
        for chunk in changes.chunks(CHUNK) {
            match &self.shared {
                None => transitions.extend_from_slice(chunk),
                Some(shared) => transitions.extend(shared.redis.apply(&shared.node, chunk).await?),
            }
            for (user_id, here) in chunk {
                if *here {
                    self.registered.insert(*user_id);
                } else {
                    self.registered.remove(user_id);
                }
                dirty.remove(user_id);
            }
        }
        // The rest had nothing to tell.
        dirty.clear();
        Ok(())
    }

    /// Renews this instance's claim and reaps expired ones. Alone, nothing to do.
    async fn heartbeat(
        &mut self,
        transitions: &mut Vec<(UserId, bool)>,
        dirty: &mut HashSet<UserId>,
    ) -> redis::RedisResult<()> {
        let Some(shared) = &mut self.shared else { return Ok(()) };
        let period = self.timing.expiry / 3;
        let beat = shared.redis.heartbeat(&shared.node, self.timing.expiry - period).await?;
        if !beat.was_claimed && shared.claimed {
            tracing::warn!("this instance's presence claim was gone from Redis; claiming its users again");
        }
        if !beat.was_claimed {
            self.registered.clear();
            dirty.extend(self.local.users());
        }
        shared.claimed = true;
        transitions.extend(beat.reaped.into_iter().map(|id| (id, false)));
        Ok(())
    }

    async fn online(&self, user_ids: &[UserId]) -> HashSet<UserId> {
        match &self.shared {
            None => user_ids.iter().copied().filter(|id| self.registered.contains(id)).collect(),
            Some(shared) => shared.redis.online(user_ids).await.unwrap_or_else(|err| {
                tracing::error!(error = %err, "reading presence from Redis failed");
                HashSet::new()
            }),
        }
    }

    async fn say(&mut self, candidates: &[(UserId, bool)]) -> redis::RedisResult<Vec<Say>> {
        let quiet = self.timing.quiet;
        match &self.shared {
            Some(shared) => shared.redis.say(candidates, quiet).await,
            None => {
                let now = Instant::now();
                Ok(candidates
                    .iter()
                    .map(|(user_id, online)| {
                        let answer = decide(self.said.get(user_id).copied(), *online, now, quiet);
                        if answer == Say::Now {
                            self.said.insert(*user_id, (*online, now));
                        }
                        answer
                    })
                    .collect())
            }
        }
    }
}

/// Presence in Redis: the scripts and a connection to run them on.
#[derive(Clone)]
struct RedisState {
    conn: ConnectionManager,
    prefix: String,
    apply: Arc<Script>,
    heartbeat: Arc<Script>,
    online: Arc<Script>,
    say: Arc<Script>,
    leave: Arc<Script>,
}

/// `now`, in milliseconds of the Redis server's clock, so instances with skewed clocks agree.
/// Most users one registry script is given: each runs alone in Redis, so a big batch is cut
/// into calls that each hold it only a moment.
const CHUNK: usize = 500;

const NOW: &str =
    "local t = redis.call('TIME')\nlocal now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n";

/// ARGV: prefix, node, then (user, 1 | 0) pairs: this node holds / no longer holds the user.
/// Returns [user, 1 | 0] for each user whose set went from empty to not, or back.
const APPLY: &str = r"
local p, node, out = ARGV[1], ARGV[2], {}
for i = 3, #ARGV, 2 do
  local user, key = ARGV[i], p .. ':user:' .. ARGV[i]
  if ARGV[i + 1] == '1' then
    redis.call('SADD', p .. ':node:' .. node, user)
    if redis.call('SADD', key, node) == 1 and redis.call('SCARD', key) == 1 then
      out[#out + 1] = {user, 1}
    end
  else
    redis.call('SREM', p .. ':node:' .. node, user)
    if redis.call('SREM', key, node) == 1 and redis.call('SCARD', key) == 0 then
      out[#out + 1] = {user, 0}
    end
  end
end
return out
";

/// Removes a node's claim; appends to `out` the users who were online only through it.
const REAP: &str = r"
local function reap(p, node, out)
  redis.call('ZREM', p .. ':nodes', node)
  for _, user in ipairs(redis.call('SMEMBERS', p .. ':node:' .. node)) do
    local key = p .. ':user:' .. user
    if redis.call('SREM', key, node) == 1 and redis.call('SCARD', key) == 0 then
      out[#out + 1] = user
    end
  end
  redis.call('DEL', p .. ':node:' .. node)
end
";

/// ARGV: prefix, node, expiry (ms). Renews the node's claim and reaps up to 16 expired ones.
/// Returns [whether the node's claim was there (1 | 0), [users who went offline with the reaped]].
const HEARTBEAT: &str = r"
local p, node, expiry = ARGV[1], ARGV[2], tonumber(ARGV[3])
local was = redis.call('ZSCORE', p .. ':nodes', node)
local out = {}
for _, dead in ipairs(redis.call('ZRANGEBYSCORE', p .. ':nodes', '-inf', now, 'LIMIT', 0, 16)) do
  if dead ~= node then reap(p, dead, out) end
end
redis.call('ZADD', p .. ':nodes', now + expiry, node)
return {was and 1 or 0, out}
";

/// ARGV: prefix, node. A clean stop: the node's users leave now rather than at expiry.
const LEAVE: &str = r"
local out = {}
reap(ARGV[1], ARGV[2], out)
return out
";

/// ARGV: prefix, users. Returns 1 or 0 for each: online anywhere or not.
const ONLINE: &str = r"
local out = {}
for i = 2, #ARGV do
  out[#out + 1] = redis.call('EXISTS', ARGV[1] .. ':user:' .. ARGV[i])
end
return out
";

/// ARGV: prefix, quiet (ms), then (user, 1 | 0) pairs. For each: -1 announce now (recorded),
/// -2 nothing to announce, or the milliseconds until the quiet time ends.
const SAY: &str = r"
local p, quiet, out = ARGV[1], tonumber(ARGV[2]), {}
for i = 3, #ARGV, 2 do
  local key = p .. ':said:' .. ARGV[i]
  local said = redis.call('HMGET', key, 's', 'at')
  if said[2] and now - tonumber(said[2]) < quiet then
    out[#out + 1] = quiet - (now - tonumber(said[2]))
  elseif said[1] == ARGV[i + 1] then
    out[#out + 1] = -2
  else
    redis.call('HSET', key, 's', ARGV[i + 1], 'at', now)
    redis.call('PEXPIRE', key, 86400000)
    out[#out + 1] = -1
  end
end
return out
";

struct Beat {
    was_claimed: bool,
    reaped: Vec<UserId>,
}

impl RedisState {
    async fn new(client: &redis::Client, prefix: &str) -> redis::RedisResult<Self> {
        Ok(Self {
            conn: super::bus::patient_connection(client).await?,
            prefix: format!("{prefix}:presence"),
            apply: Arc::new(Script::new(APPLY)),
            heartbeat: Arc::new(Script::new(&format!("{NOW}{REAP}{HEARTBEAT}"))),
            online: Arc::new(Script::new(ONLINE)),
            say: Arc::new(Script::new(&format!("{NOW}{SAY}"))),
            leave: Arc::new(Script::new(&format!("{REAP}{LEAVE}"))),
        })
    }

    async fn apply(&self, node: &str, changes: &[(UserId, bool)]) -> redis::RedisResult<Vec<(UserId, bool)>> {
        let mut call = self.apply.prepare_invoke();
        call.arg(&self.prefix).arg(node);
        for (user_id, here) in changes {
            call.arg(user_id.to_string()).arg(u8::from(*here));
        }
        let flat: Vec<(String, u8)> = call.invoke_async(&mut self.conn.clone()).await?;
        Ok(flat.into_iter().filter_map(|(id, online)| Some((id.parse().ok()?, online == 1))).collect())
    }

    async fn heartbeat(&self, node: &str, expiry: Duration) -> redis::RedisResult<Beat> {
        let expiry = u64::try_from(expiry.as_millis()).unwrap_or(u64::MAX);
        let mut call = self.heartbeat.prepare_invoke();
        call.arg(&self.prefix).arg(node).arg(expiry);
        let (was, reaped): (u8, Vec<String>) = call.invoke_async(&mut self.conn.clone()).await?;
        Ok(Beat { was_claimed: was == 1, reaped: reaped.iter().filter_map(|id| id.parse().ok()).collect() })
    }

    async fn leave(&self, node: &str) -> redis::RedisResult<Vec<UserId>> {
        let mut call = self.leave.prepare_invoke();
        call.arg(&self.prefix).arg(node);
        let gone: Vec<String> = call.invoke_async(&mut self.conn.clone()).await?;
        Ok(gone.iter().filter_map(|id| id.parse().ok()).collect())
    }

    async fn online(&self, user_ids: &[UserId]) -> redis::RedisResult<HashSet<UserId>> {
        let mut online = HashSet::new();
        for chunk in user_ids.chunks(CHUNK) {
            let mut call = self.online.prepare_invoke();
            call.arg(&self.prefix);
            for user_id in chunk {
                call.arg(user_id.to_string());
            }
            let flags: Vec<u8> = call.invoke_async(&mut self.conn.clone()).await?;
            online.extend(chunk.iter().zip(flags).filter(|(_, on)| *on == 1).map(|(id, _)| *id));
        }
        Ok(online)
    }

    async fn say(&self, candidates: &[(UserId, bool)], quiet: Duration) -> redis::RedisResult<Vec<Say>> {
        let mut says = Vec::with_capacity(candidates.len());
        for chunk in candidates.chunks(CHUNK) {
            let mut call = self.say.prepare_invoke();
            call.arg(&self.prefix).arg(u64::try_from(quiet.as_millis()).unwrap_or(u64::MAX));
            for (user_id, online) in chunk {
                call.arg(user_id.to_string()).arg(u8::from(*online));
            }
            let answers: Vec<i64> = call.invoke_async(&mut self.conn.clone()).await?;
            says.extend(answers.into_iter().map(|answer| match answer {
                -1 => Say::Now,
                -2 => Say::Nothing,
                wait => Say::After(Duration::from_millis(wait.unsigned_abs())),
            }));
        }
        Ok(says)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUIET: Duration = Duration::from_secs(10);

    #[test]
    fn the_first_change_is_announced_at_once_and_the_next_waits_for_the_quiet_time() {
        let t0 = Instant::now();
        assert_eq!(decide(None, true, t0, QUIET), Say::Now);
        assert_eq!(
            decide(Some((true, t0)), false, t0 + Duration::from_secs(4), QUIET),
            Say::After(Duration::from_secs(6))
        );
        assert_eq!(decide(Some((true, t0)), false, t0 + QUIET, QUIET), Say::Now);
        assert_eq!(decide(Some((true, t0)), true, t0 + QUIET, QUIET), Say::Nothing, "back as announced");
        assert_eq!(decide(Some((true, t0)), false, t0, Duration::ZERO), Say::Now, "no quiet time");
    }

    async fn next(news: &mut mpsc::UnboundedReceiver<News>) -> News {
        tokio::time::timeout(Duration::from_secs(5), news.recv()).await.expect("news in time").expect("worker alive")
    }

    #[tokio::test(start_paused = true)]
    async fn alone_a_user_is_online_while_any_socket_is_open_and_flapping_is_announced_once() {
        let timing = Timing { expiry: Duration::from_secs(30), quiet: QUIET };
        let (tracker, mut news) = Tracker::start(None, timing).await.unwrap();
        let me = UserId::new();
        tracker.connected(me);
        tracker.connected(me);
        assert_eq!(next(&mut news).await.announce, vec![(me, true)]);
        assert!(tracker.online(&[me]).await.contains(&me));
        tracker.disconnected(me);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(tracker.online(&[me]).await.contains(&me), "one socket is still open");
        tracker.disconnected(me);
        let offline = next(&mut news).await;
        assert_eq!(offline.gone_offline, vec![me], "last_seen_at is kept at once");
        assert!(offline.announce.is_empty(), "inside the quiet time");
        assert!(tracker.online(&[me]).await.is_empty());
        // Back within the quiet time: by its end nothing changed, so nothing is said.
        tracker.connected(me);
        tokio::time::sleep(QUIET).await;
        tracker.disconnected(me);
        let later = next(&mut news).await;
        assert_eq!(later.gone_offline, vec![me]);
        assert_eq!(later.announce, vec![(me, false)], "the quiet time had passed");
    }
}
