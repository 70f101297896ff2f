//! Search and export benchmark for `bench/search.sh`: the whole application in this process
//! (release build) on the database named, requests through the full router.
//!
//! ```text
//! search_load <database url> [messages, default 1000000]
//! ```
//!
//! 1. Seeds N messages of mixed-language text (English, Russian, German, Japanese, Chinese, by
//!    weight) in bulk at schema version 10, over 1,000 chats: one of N/10 messages, the rest
//!    even. Then runs the last migrations, which index every text: the time they take is the
//!    upgrade's.
//! 2. Search p50/p99 over 200 requests each, first page of 20, for a reader in 200 of the chats
//!    (the big one among them): a rare word, a common word and a Japanese phrase, across all my
//!    chats and within the big chat; and the second page of the common word.
//! 3. Send throughput into a direct chat, one at a time and 8 at a time, with the index, and
//!    again after dropping the trigram index (the FTS5 table and its triggers on SQLite, the
//!    GIN index on PostgreSQL): what indexing costs a send.
//! 4. The data export of the author of the big chat's N/10 messages: time, archive size and
//!    the process's peak RSS above its size before; the archive is then checked whole.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{Method, Request, StatusCode, header};
use futures::StreamExt;
use http_body_util::BodyExt;
use parlor::app::{AppBuilder, AppState};
use parlor::auth::{ClientInfo, TokenKeys};
use parlor::config::Config;
use parlor::domain::UserId;
use parlor::store::Store;
use parlor::store::migration::Migrator;
use sea_orm::sea_query::Query;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, TransactionTrait};
use sea_orm_migration::MigratorTrait;
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

const CHATS: usize = 1000;
/// The reader is in this many chats, the big one among them.
const READER_CHATS: usize = 200;
const RARE: &str = "xylophone";
const COMMON: &str = "meeting";
const PHRASE: &str = "東京タワー";

const EN: &[&str] = &[
    "the",
    "and",
    "meeting",
    "tomorrow",
    "project",
    "coffee",
    "lunch",
    "report",
    "please",
    "thanks",
    "office",
    "train",
    "weekend",
    "photo",
    "music",
    "deadline",
    "client",
    "budget",
    "review",
    "party",
    "birthday",
    "dinner",
    "movie",
    "game",
    "weather",
    "rain",
    "sunny",
    "flight",
    "hotel",
    "ticket",
    "doctor",
    "school",
    "homework",
    "family",
    "friend",
    "call",
    "later",
    "today",
    "morning",
    "evening",
    "night",
    "great",
    "good",
    "sorry",
    "update",
    "release",
    "server",
    "database",
    "search",
    "issue",
    "bug",
    "fix",
    "deploy",
    "test",
    "build",
    "design",
    "idea",
    "question",
    "answer",
    "friendship",
];
const RU: &[&str] = &[
    "привет",
    "завтра",
    "встреча",
    "проект",
    "кофе",
    "обед",
    "отчёт",
    "пожалуйста",
    "спасибо",
    "офис",
    "поезд",
    "выходные",
    "фото",
    "музыка",
    "срок",
    "клиент",
    "бюджет",
    "обзор",
    "вечеринка",
    "день",
    "рождения",
    "ужин",
    "фильм",
    "игра",
    "погода",
    "дождь",
    "солнечно",
    "рейс",
    "гостиница",
    "билет",
    "Москва",
    "как",
    "дела",
];
const DE: &[&str] = &[
    "morgen",
    "Besprechung",
    "Projekt",
    "Kaffee",
    "Mittagessen",
    "Bericht",
    "bitte",
    "danke",
    "Büro",
    "Zug",
    "Wochenende",
    "Grüße",
    "Straße",
    "schön",
    "Köln",
    "München",
    "Fußball",
    "und",
    "der",
    "die",
    "das",
];
const JA: &[&str] = &[
    "明日",
    "会議",
    "プロジェクト",
    "コーヒー",
    "昼ご飯",
    "報告",
    "お願いします",
    "ありがとう",
    "事務所",
    "電車",
    "週末",
    "写真",
    "音楽",
    "締め切り",
    "東京",
    "大阪",
    "京都",
    "天気",
    "雨",
    "晴れ",
    "映画",
    "友達",
    "家族",
    "今日",
    "今晩",
    "は",
    "に",
    "を",
    "で",
    "タワー",
];
const ZH: &[&str] = &[
    "明天",
    "会议",
    "项目",
    "咖啡",
    "午饭",
    "报告",
    "请",
    "谢谢",
    "办公室",
    "火车",
    "周末",
    "照片",
    "音乐",
    "截止日期",
    "北京",
    "上海",
    "天气",
    "下雨",
    "电影",
    "朋友",
    "家人",
    "今天",
    "晚上",
    "我们",
    "去",
];

/// A small deterministic generator, so every run seeds the same text.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Skewed towards the first words, as word use is.
    fn word<'a>(&mut self, words: &[&'a str]) -> &'a str {
        let a = self.below(words.len());
        let b = self.below(words.len());
        words[a.min(b)]
    }
}

/// One message's text: a language by weight, 4 to 18 words; one in 100,000 has the rare word,
/// one Japanese text in 500 has the phrase.
fn text(rng: &mut Rng) -> String {
    let words = 4 + rng.below(15);
    let (vocabulary, spaced): (&[&str], bool) = match rng.below(100) {
        0..50 => (EN, true),
        50..65 => (RU, true),
        65..75 => (DE, true),
        75..90 => (JA, false),
        _ => (ZH, false),
    };
    let mut parts: Vec<String> = (0..words).map(|_| rng.word(vocabulary).to_owned()).collect();
    if rng.below(100_000) == 0 {
        parts.insert(rng.below(parts.len()), RARE.to_owned());
    }
    if !spaced && vocabulary.len() == JA.len() && rng.below(500) == 0 {
        parts.insert(rng.below(parts.len()), PHRASE.to_owned());
    }
    if spaced { parts.join(" ") } else { parts.concat() + "。" }
}

/// Accounts, chats and memberships at schema version 10, in bulk. Returns the reader, the
/// writer of the big chat, and everyone.
async fn seed_people_and_chats(db: &DatabaseConnection) -> (Uuid, Uuid, Vec<Uuid>, Vec<Uuid>) {
    let at = parlor::store::now();
    let people: Vec<Uuid> = (0..52).map(|_| Uuid::now_v7()).collect();
    let mut users = Query::insert()
        .into_table("users")
        .columns(["id", "username", "username_key", "password_hash", "created_at", "updated_at"])
        .to_owned();
    for (i, id) in people.iter().enumerate() {
        let name = match i {
            0 => "reader".to_owned(),
            1 => "writer".to_owned(),
            i => format!("person{i}"),
        };
        users.values_panic([
            (*id).into(),
            name.clone().into(),
            name.into(),
            "$argon2id$unused".into(),
            at.into(),
            at.into(),
        ]);
    }
    db.execute(&users).await.unwrap();
    let chats: Vec<Uuid> = (0..CHATS).map(|_| Uuid::now_v7()).collect();
    for batch in chats.chunks(500) {
        let mut insert = Query::insert()
            .into_table("chats")
            .columns(["id", "kind", "title", "created_at", "last_activity_at"])
            .to_owned();
        for id in batch {
            insert.values_panic([(*id).into(), "group".into(), "bench".into(), at.into(), at.into()]);
        }
        db.execute(&insert).await.unwrap();
    }
    let mut rng = Rng(7);
    let mut members =
        Query::insert().into_table("chat_members").columns(["chat_id", "user_id", "role", "joined_at"]).to_owned();
    let mut rows = 0;
    for (c, chat) in chats.iter().enumerate() {
        // The reader in the first 200, the writer in the big one, three others in each.
        let mut in_chat = vec![];
        if c < READER_CHATS {
            in_chat.push(people[0]);
        }
        if c == 0 {
            in_chat.push(people[1]);
        }
        while in_chat.len() < 5 {
            let other = people[2 + rng.below(people.len() - 2)];
            if !in_chat.contains(&other) {
                in_chat.push(other);
            }
        }
        for (i, user) in in_chat.into_iter().enumerate() {
            members.values_panic([
                (*chat).into(),
                user.into(),
                if i == 0 { "owner" } else { "member" }.into(),
                at.into(),
            ]);
            rows += 1;
        }
        if rows >= 500 {
            db.execute(&members).await.unwrap();
            members = Query::insert()
                .into_table("chat_members")
                .columns(["chat_id", "user_id", "role", "joined_at"])
                .to_owned();
            rows = 0;
        }
    }
    if rows > 0 {
        db.execute(&members).await.unwrap();
    }
    (people[0], people[1], people, chats)
}

/// `count` messages: a tenth in the big chat by the writer, the rest spread over the other
/// chats by other people, interleaved in time as a live server would write them.
async fn seed_messages(db: &DatabaseConnection, count: usize, writer: Uuid, people: &[Uuid], chats: &[Uuid]) {
    let started = Instant::now();
    let at = parlor::store::now();
    let mut rng = Rng(42);
    let mut written = 0;
    while written < count {
        let txn = db.begin().await.unwrap();
        for _ in 0..4 {
            let mut insert = Query::insert()
                .into_table("messages")
                .columns(["id", "chat_id", "author_id", "kind", "text", "created_at"])
                .to_owned();
            for _ in 0..500.min(count - written) {
                let (chat, author) = if written % 10 == 0 {
                    (chats[0], writer)
                } else {
                    (chats[1 + rng.below(chats.len() - 1)], people[2 + rng.below(people.len() - 2)])
                };
                insert.values_panic([
                    Uuid::now_v7().into(),
                    chat.into(),
                    author.into(),
                    "text".into(),
                    text(&mut rng).into(),
                    at.into(),
                ]);
                written += 1;
            }
            txn.execute(&insert).await.unwrap();
            if written == count {
                break;
            }
        }
        txn.commit().await.unwrap();
    }
    println!("  seeded {count} messages in {:.1} s", started.elapsed().as_secs_f64());
}

/// p50 and p99 of `samples`, in milliseconds.
fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1000.0;
    (at(0.50), at(0.99))
}

struct Bench {
    router: axum::Router,
}

impl Bench {
    async fn fetch(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> (StatusCode, Bytes) {
        let mut request =
            Request::builder().method(method).uri(path).header(header::AUTHORIZATION, format!("Bearer {token}"));
        let body = match body {
            Some(json) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        let response = self.router.clone().oneshot(request.body(body).unwrap()).await.unwrap();
        let status = response.status();
        (status, response.into_body().collect().await.unwrap().to_bytes())
    }

    /// p50/p99 of `runs` searches after 30 untimed ones, and how many results the page had.
    async fn search(&self, token: &str, query: &str, runs: usize) -> (f64, f64, usize, Option<String>) {
        let path = format!("/api/v1/search/messages?{query}");
        for _ in 0..30 {
            self.fetch(Method::GET, &path, token, None).await;
        }
        let mut samples = Vec::with_capacity(runs);
        let mut last = Bytes::new();
        for _ in 0..runs {
            let started = Instant::now();
            let (status, body) = self.fetch(Method::GET, &path, token, None).await;
            samples.push(started.elapsed());
            assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
            last = body;
        }
        let (p50, p99) = percentiles(samples);
        let page: Value = serde_json::from_slice(&last).unwrap();
        let results = page["data"]["results"].as_array().unwrap().len();
        (p50, p99, results, page["data"]["next_before"].as_str().map(str::to_owned))
    }

    /// Messages per second into `chat`, sequentially and 8 at a time.
    async fn sends(&self, chat: Uuid, token: &str) -> (f64, f64) {
        let path = format!("/api/v1/chats/{chat}/messages");
        let mut rng = Rng(99);
        let texts: Vec<String> = (0..4000).map(|_| text(&mut rng)).collect();
        let started = Instant::now();
        for text in &texts[..2000] {
            let (status, _) = self.fetch(Method::POST, &path, token, Some(json!({"text": text}))).await;
            assert_eq!(status, StatusCode::CREATED);
        }
        let one = 2000.0 / started.elapsed().as_secs_f64();
        let started = Instant::now();
        let sent = futures::stream::iter(&texts[2000..])
            .map(|text| self.fetch(Method::POST, &path, token, Some(json!({"text": text}))))
            .buffer_unordered(8)
            .collect::<Vec<_>>()
            .await;
        assert!(sent.iter().all(|(status, _)| *status == StatusCode::CREATED));
        (one, 2000.0 / started.elapsed().as_secs_f64())
    }
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|line| line.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, rest @ ..] = args.as_slice() else { anyhow::bail!("usage: search_load <database url> [messages]") };
    let count: usize = rest.first().map(|n| n.parse()).transpose()?.unwrap_or(1_000_000);
    let db = Database::connect(url.as_str()).await?;
    let backend = db.get_database_backend();
    println!(
        "== {} ({})",
        if backend == DbBackend::Postgres { "postgres" } else { "sqlite" },
        url.split('@').next_back().unwrap_or(url)
    );

    // 1. Seed at version 10, then upgrade.
    Migrator::up(&db, Some(10)).await?;
    let (reader, writer, people, chats) = seed_people_and_chats(&db).await;
    seed_messages(&db, count, writer, &people, &chats).await;
    let started = Instant::now();
    Migrator::up(&db, None).await?;
    println!("  migration (index {count} texts, find mentions): {:.1} s", started.elapsed().as_secs_f64());
    let tidy = match backend {
        DbBackend::Postgres => "VACUUM ANALYZE",
        _ => "ANALYZE",
    };
    db.execute_unprepared(tidy).await?;
    let size = match backend {
        DbBackend::Postgres => {
            let row = db
                .query_one_raw(sea_orm::Statement::from_string(
                    backend,
                    "SELECT pg_total_relation_size('message_search') AS search, pg_total_relation_size('messages') AS messages",
                ))
                .await?
                .unwrap();
            (row.try_get::<i64>("", "search")?, row.try_get::<i64>("", "messages")?)
        }
        _ => {
            let row = db
                .query_one_raw(sea_orm::Statement::from_string(
                    backend,
                    "SELECT (SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'message_search%' OR name LIKE 'sqlite_autoindex_message_search%' OR name = 'ix_message_search_chat') AS search, \
                     (SELECT sum(pgsize) FROM dbstat WHERE name = 'messages' OR name LIKE 'sqlite_autoindex_messages%' OR name LIKE 'ix_messages%') AS messages",
                ))
                .await?
                .unwrap();
            (row.try_get::<i64>("", "search").unwrap_or(0), row.try_get::<i64>("", "messages").unwrap_or(0))
        }
    };
    println!(
        "  on disk: search index {:.0} MB, messages with their indexes {:.0} MB",
        size.0 as f64 / 1e6,
        size.1 as f64 / 1e6
    );

    let data_dir = tempfile::tempdir()?;
    let mut config = Config { data_dir: data_dir.path().to_owned(), ..Config::default() };
    config.limits.messages_per_minute = u32::MAX;
    config.limits.searches_per_minute = u32::MAX;
    config.limits.exports_per_day = u32::MAX;
    let store = Store::connect(url).await?;
    store.migrate().await?;
    let keys = TokenKeys::from_keys(&[parlor::auth::tokens::generate_signing_key()?], &config.auth)?;
    let app = AppState(Arc::new(AppBuilder::new(config, store, keys).build().await?));
    let router = parlor::http::router(app.clone()).await?;
    let bench = Bench { router };
    let client = ClientInfo { ip: [127, 0, 0, 1].into(), user_agent: Some("search_load".into()) };
    let token = |user: Uuid| {
        let app = app.clone();
        let client = client.clone();
        async move { app.auth.open_session(UserId::from(user), &client).await.unwrap().access_token }
    };
    let (reader_token, writer_token) = (token(reader).await, token(writer).await);

    // 2. Search.
    let big = chats[0];
    let encoded = |q: &str| q.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
    for (what, q) in [("rare word", RARE), ("common word", COMMON), ("Japanese phrase", PHRASE)] {
        for (scope, extra) in [("all my chats", String::new()), ("the big chat", format!("&chat_id={big}"))] {
            let (p50, p99, found, _) = bench.search(&reader_token, &format!("q={}{extra}", encoded(q)), 200).await;
            println!(
                "  search {what:<16} {q:<10} in {scope:<13}: p50 {p50:6.2} ms  p99 {p99:6.2} ms  ({found} on the first page)"
            );
        }
    }
    let (_, _, _, next) = bench.search(&reader_token, &format!("q={COMMON}"), 1).await;
    let second = format!("q={COMMON}&before={}", next.unwrap());
    let (p50, p99, found, _) = bench.search(&reader_token, &second, 200).await;
    println!("  search common word, second page, all my chats: p50 {p50:6.2} ms  p99 {p99:6.2} ms  ({found})");

    // 3. Sends with and without the trigram index.
    let direct = app.chats.open_direct_chat(reader.into(), writer.into()).await.unwrap().0.id;
    let (one, eight) = bench.sends(direct, &reader_token).await;
    println!("  send, indexed:               {one:5.0} messages/s one at a time, {eight:5.0} messages/s 8 at a time");
    let unindex = match backend {
        DbBackend::Postgres => vec!["DROP INDEX ix_message_search_body"],
        _ => vec![
            "DROP TRIGGER message_search_indexed",
            "DROP TRIGGER message_search_unindexed",
            "DROP TRIGGER message_search_reindexed",
            "DROP TABLE message_search_fts",
        ],
    };
    for statement in unindex {
        db.execute_unprepared(statement).await?;
    }
    let (one, eight) = bench.sends(direct, &reader_token).await;
    println!("  send, trigram index dropped: {one:5.0} messages/s one at a time, {eight:5.0} messages/s 8 at a time");

    // 4. Export of the big chat's author.
    let baseline = status_kib("VmRSS:");
    std::fs::write("/proc/self/clear_refs", "5")?; // resets VmHWM to the current RSS
    let started = Instant::now();
    let request = Request::builder()
        .uri("/api/v1/me/export")
        .header(header::AUTHORIZATION, format!("Bearer {writer_token}"))
        .body(Body::empty())?;
    let response = bench.router.clone().oneshot(request).await?;
    assert_eq!(response.status(), StatusCode::OK);
    // Onto disk as it arrives, so this client holds no more of it than the server does.
    let path = data_dir.path().join("export.zip");
    let mut file = std::fs::File::create(&path)?;
    let mut body = response.into_body();
    let mut size = 0;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            size += data.len();
            std::io::Write::write_all(&mut file, &data)?;
        }
    }
    drop(file);
    let elapsed = started.elapsed().as_secs_f64();
    let peak = status_kib("VmHWM:");
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&path)?)?;
    let mut messages = String::new();
    zip.by_name("messages.jsonl")?.read_to_string(&mut messages)?;
    println!(
        "  export, {} messages: {elapsed:.1} s, {:.1} MB archive; peak RSS {:.1} MB above the {:.0} MB before",
        messages.lines().count(),
        size as f64 / 1e6,
        peak.saturating_sub(baseline) as f64 / 1024.0,
        baseline as f64 / 1024.0,
    );
    Ok(())
}
