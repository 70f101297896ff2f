//! The data export: a streamed ZIP of the account holder's own data and nobody else's,
//! limited per day, audited, and written no faster than it is read.

use std::collections::{BTreeSet, HashMap};
use std::io::Read;

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::helpers::{TestApp, png};

/// The archive's files and their bytes.
fn unzip(bytes: &[u8]) -> HashMap<String, Vec<u8>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a whole ZIP archive");
    let mut files = HashMap::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).unwrap();
        let mut content = Vec::new();
        file.read_to_end(&mut content).unwrap();
        files.insert(file.name().unwrap().into_owned(), content);
    }
    files
}

fn lines(file: &[u8]) -> Vec<Value> {
    std::str::from_utf8(file).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

async fn export(app: &TestApp, token: &str) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let request = TestApp::request(Method::GET, "/api/v1/me/export")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let response = app.router.clone().oneshot(request).await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.into_body().collect().await.unwrap().to_bytes().to_vec())
}

#[tokio::test]
async fn the_archive_holds_my_data_and_nobody_elses() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    app.upload_avatar(&alice.token, "file", &png(64, 64, [10, 20, 30])).await.assert_status(StatusCode::OK);
    let direct = app.direct(&alice, &bob).await;
    let group = app.group(&alice, "book club", &[&bob]).await;
    let bobs = app.say(&bob, &direct, "bob's private words").await;
    app.say(&alice, &direct, "alice writes here").await;
    app.say(&alice, &group, "and here, @bob").await;
    let bobs_id = bobs["id"].as_str().unwrap();
    let message_path = format!("/api/v1/chats/{direct}/messages/{bobs_id}");
    app.call(Method::PUT, &format!("{message_path}/reactions/%F0%9F%8E%89"), &alice.token)
        .await
        .assert_status(StatusCode::OK);
    app.call(Method::PUT, &format!("{message_path}/like"), &alice.token).await.assert_status(StatusCode::OK);
    // Bob's words forwarded by Alice are still Bob's.
    app.send_json(Method::POST, &format!("{message_path}/forward"), json!({"to_chat_id": group}), Some(&alice.token))
        .await
        .assert_status(StatusCode::CREATED);
    let upload = app.upload_attachment(&alice.token, "../notes.txt", "text/plain", b"my own notes").await;
    let attachment = upload.data()["attachment"]["id"].as_str().unwrap().to_owned();
    app.send_json(
        Method::POST,
        &format!("/api/v1/chats/{group}/messages"),
        json!({"type": "file", "attachment_id": attachment}),
        Some(&alice.token),
    )
    .await
    .assert_status(StatusCode::CREATED);
    app.upload_attachment(&bob.token, "bobs.txt", "text/plain", b"bob's file").await;

    let (status, headers, bytes) = export(&app, &alice.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/zip");
    assert!(
        headers[header::CONTENT_DISPOSITION].to_str().unwrap().starts_with("attachment; filename=\"parlor-export-")
    );
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    let files = unzip(&bytes);
    let names: BTreeSet<&str> = files.keys().map(String::as_str).collect();
    let expected: BTreeSet<String> = [
        "profile.json",
        "sessions.json",
        "chats.json",
        "messages.jsonl",
        "reactions.jsonl",
        "avatar/original.jpg",
        &format!("attachments/{attachment}/notes.txt"),
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(names, expected.iter().map(String::as_str).collect());

    let profile: Value = serde_json::from_slice(&files["profile.json"]).unwrap();
    assert_eq!((profile["id"].as_str(), profile["username"].as_str()), (Some(alice.id.as_str()), Some("alice")));
    let sessions: Value = serde_json::from_slice(&files["sessions.json"]).unwrap();
    assert_eq!(sessions.as_array().unwrap().len(), 1);
    let chats: Value = serde_json::from_slice(&files["chats.json"]).unwrap();
    let chat_ids: BTreeSet<&str> = chats.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(chat_ids, BTreeSet::from([direct.as_str(), group.as_str()]));
    assert!(chats.as_array().unwrap().iter().all(|c| c["members"].as_array().unwrap().len() == 2));

    let messages = lines(&files["messages.jsonl"]);
    let texts: Vec<Option<&str>> = messages.iter().map(|m| m["text"].as_str()).collect();
    assert_eq!(
        texts,
        [Some("alice writes here"), Some("and here, @bob"), None, None],
        "the forward and the file have no text of mine"
    );
    assert_eq!(messages[2]["forwarded_from"]["message_id"], bobs["id"]);
    assert_eq!(messages[3]["attachment_id"], json!(attachment));
    assert_eq!(messages[0]["chat_id"], json!(direct));
    let everything: Vec<u8> = files.values().flatten().copied().collect();
    let everything = String::from_utf8_lossy(&everything);
    assert!(!everything.contains("bob's private words") && !everything.contains("bob's file"), "nothing of Bob's");

    let reactions = lines(&files["reactions.jsonl"]);
    assert_eq!(reactions.len(), 2);
    assert_eq!((reactions[0]["emoji"].as_str(), &reactions[0]["message_id"]), (Some("🎉"), &bobs["id"]));
    assert_eq!((reactions[1]["emoji"].clone(), &reactions[1]["message_id"]), (Value::Null, &bobs["id"]), "the like");
    assert_eq!(files[&format!("attachments/{attachment}/notes.txt")], b"my own notes");
    assert!(image::load_from_memory(&files["avatar/original.jpg"]).is_ok());

    let trail = app.state.store.audit_trail("user", &alice.id).await.unwrap();
    assert!(trail.iter().any(|entry| entry.action == "export"), "exports are audited");
}

#[tokio::test]
async fn exports_are_limited_per_day_and_need_a_token() {
    let app = TestApp::with_config(|config| config.limits.exports_per_day = 1).await;
    let alice = app.person("alice").await;
    assert_eq!(export(&app, &alice.token).await.0, StatusCode::OK);
    let (status, headers, body) = export(&app, &alice.token).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(headers.contains_key(header::RETRY_AFTER));
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["status"], "fail");
    app.get("/api/v1/me/export", None).await.assert_fail(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_archive_is_written_only_as_fast_as_it_is_read() {
    let app = TestApp::with_config(|config| config.limits.messages_per_minute = 100_000).await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let chat = app.direct(&alice, &bob).await;
    // Text that compresses poorly: 1,200 messages make about 500 KB of archive, three pages.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..1200 {
        let text: String = (0..700)
            .map(|_| {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[(seed >> 33) as usize % 36])
            })
            .collect();
        app.say(&alice, &chat, &text).await;
    }
    let request = TestApp::request(Method::GET, "/api/v1/me/export")
        .header(header::AUTHORIZATION, format!("Bearer {}", alice.token))
        .body(Body::empty())
        .unwrap();
    let before = app.state.store.query_count();
    let response = app.router.clone().oneshot(request).await.unwrap();
    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    // A reader that stops: the writer fills the pipe and waits, reading no further pages.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let stalled = app.state.store.query_count() - before;
    let mut bytes = first.to_vec();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            bytes.extend_from_slice(&data);
        }
    }
    let finished = app.state.store.query_count() - before;
    assert!(bytes.len() > 300_000, "{} bytes", bytes.len());
    assert!(
        finished >= stalled + 3,
        "while stalled it read {stalled} statements' worth, {finished} in all: the later pages waited"
    );
    assert_eq!(lines(&unzip(&bytes)["messages.jsonl"]).len(), 1200);
}
