//! Attachments: sniffed uploads, image previews, attaching once by the uploader only, and the
//! stored objects going when nothing shows them any more.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, png};

/// The storage key of a media URL (without a link's query).
fn key_of(url: &Value) -> String {
    let path = url.as_str().unwrap().split("/media/").nth(1).unwrap();
    path.split('?').next().unwrap().to_owned()
}

/// The path and query of a media URL, to GET it from the app.
fn link_of(url: &Value) -> String {
    let url = url.as_str().unwrap();
    url[url.find("/media/").unwrap()..].to_owned()
}

#[tokio::test]
async fn an_image_upload_gets_a_preview_and_is_attached_once_by_its_uploader() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let chat = app.direct(&alice, &bob).await;

    let uploaded =
        app.upload_attachment(&alice.token, "../../beach.png", "text/plain", &png(800, 600, [0, 90, 200])).await;
    assert_eq!(uploaded.status, StatusCode::CREATED, "{}", uploaded.text);
    let attachment = uploaded.data()["attachment"].clone();
    assert_eq!(
        (attachment["type"].as_str(), attachment["content_type"].as_str(), attachment["file_name"].as_str()),
        (Some("image"), Some("image/jpeg"), Some("beach.png")),
        "sniffed, not taken from the claimed type; the name loses its directories"
    );
    assert_eq!((attachment["width"].as_u64(), attachment["height"].as_u64()), (Some(800), Some(600)));
    let preview = app.get(&link_of(&attachment["preview_url"]), None).await;
    assert_eq!(preview.status, StatusCode::OK);
    let decoded = image::load_from_memory(&preview_bytes(&app, &attachment["preview_url"]).await).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (400, 300), "fits 400 with its aspect kept");

    let path = format!("/api/v1/chats/{chat}/messages");
    let send = async |who: &crate::helpers::Person, body: Value| {
        app.send_json(Method::POST, &path, body, Some(&who.token)).await
    };
    let stolen = send(&bob, json!({"type": "image", "attachment_id": attachment["id"]})).await;
    stolen.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(stolen.data()["attachment_id"].is_string());
    let sent = send(&alice, json!({"type": "image", "attachment_id": attachment["id"], "text": "the beach"})).await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.text);
    assert_eq!(key_of(&sent.data()["message"]["attachment"]["url"]), key_of(&attachment["url"]));
    assert_eq!(sent.data()["message"]["text"], "the beach", "a caption");
    let again = send(&alice, json!({"type": "image", "attachment_id": attachment["id"]})).await;
    again.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
    let history = app.history(&bob, &chat, "").await;
    assert_eq!(key_of(&history.data()["messages"][0]["attachment"]["preview_url"]), key_of(&attachment["preview_url"]));
}

async fn preview_bytes(app: &TestApp, url: &Value) -> Vec<u8> {
    use object_store::ObjectStoreExt;
    let path = object_store::path::Path::from(key_of(url));
    app.storage.get(&path).await.unwrap().bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn anything_else_is_a_file_of_its_sniffed_type_kept_byte_for_byte() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let chat = app.direct(&alice, &bob).await;
    let pdf = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";
    let uploaded = app.upload_attachment(&alice.token, "report.jpg", "image/jpeg", pdf).await;
    assert_eq!(uploaded.status, StatusCode::CREATED, "{}", uploaded.text);
    let attachment = uploaded.data()["attachment"].clone();
    assert_eq!(
        (attachment["type"].as_str(), attachment["content_type"].as_str()),
        (Some("file"), Some("application/pdf"))
    );
    assert_eq!((attachment["preview_url"].clone(), attachment["size"].as_u64()), (Value::Null, Some(pdf.len() as u64)));
    assert_eq!(preview_bytes(&app, &attachment["url"]).await, pdf, "stored as uploaded");
    let served = app.get(&link_of(&attachment["url"]), None).await;
    assert_eq!((served.status, served.header("content-type")), (StatusCode::OK, "application/octet-stream"));
    assert_eq!(served.header("x-content-type-options"), "nosniff");
    assert_eq!(served.header("content-disposition"), "attachment", "downloaded, never rendered");

    let path = format!("/api/v1/chats/{chat}/messages");
    let as_image = app
        .send_json(Method::POST, &path, json!({"type": "image", "attachment_id": attachment["id"]}), Some(&alice.token))
        .await;
    as_image.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
    let as_file = app
        .send_json(Method::POST, &path, json!({"type": "file", "attachment_id": attachment["id"]}), Some(&alice.token))
        .await;
    assert_eq!(as_file.status, StatusCode::CREATED, "{}", as_file.text);
    let text_with_file = app
        .send_json(Method::POST, &path, json!({"text": "x", "attachment_id": attachment["id"]}), Some(&alice.token))
        .await;
    text_with_file.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn bad_uploads_are_refused_with_the_right_status() {
    let app = TestApp::with_config(|c| c.media.attachment_bytes = 4096).await;
    let alice = app.person("alice").await;
    app.upload_attachment(&alice.token, "big.bin", "application/octet-stream", &[7u8; 5000])
        .await
        .assert_fail(StatusCode::PAYLOAD_TOO_LARGE);
    app.upload_attachment(&alice.token, "empty.txt", "text/plain", b"")
        .await
        .assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
    let json = app.send_json(Method::POST, "/api/v1/attachments", json!({"file": "x"}), Some(&alice.token)).await;
    json.assert_fail(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let broken_png = &png(10, 10, [1, 2, 3])[..40];
    let kept = app.upload_attachment(&alice.token, "broken.png", "image/png", broken_png).await;
    assert_eq!(
        (kept.status, kept.data()["attachment"]["type"].as_str()),
        (StatusCode::CREATED, Some("file")),
        "{}",
        kept.text
    );
    assert!(app.stored_keys().await.iter().all(|k| !k.contains("big")), "nothing half-written");
}

#[tokio::test]
async fn an_attachments_objects_go_when_no_message_shows_it() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let chat = app.direct(&alice, &bob).await;
    let other = app.group(&bob, "elsewhere", &[&alice]).await;
    let send_photo = async |colour| {
        let uploaded = app.upload_attachment(&alice.token, "p.png", "image/png", &png(20, 20, colour)).await;
        let id = uploaded.data()["attachment"]["id"].clone();
        let path = format!("/api/v1/chats/{chat}/messages");
        let sent =
            app.send_json(Method::POST, &path, json!({"type": "image", "attachment_id": id}), Some(&alice.token)).await;
        sent.data()["message"]["id"].as_str().unwrap().to_owned()
    };
    let first = send_photo([255, 0, 0]).await;
    let second = send_photo([0, 255, 0]).await;
    assert_eq!(app.stored_keys().await.len(), 4, "two images, two files each");

    // A forward shares the attachment: deleting the original keeps the files.
    let forward = format!("/api/v1/chats/{chat}/messages/{second}/forward");
    app.send_json(Method::POST, &forward, json!({"to_chat_id": other}), Some(&bob.token)).await;
    app.call(Method::DELETE, &format!("/api/v1/chats/{chat}/messages/{second}"), &alice.token).await;
    assert_eq!(app.stored_keys().await.len(), 4);

    app.call(Method::DELETE, &format!("/api/v1/chats/{chat}/messages/{first}"), &alice.token).await;
    assert_eq!(app.stored_keys().await.len(), 2, "the unshared one is deleted with its message");
    app.call(Method::DELETE, &format!("/api/v1/chats/{other}"), &bob.token).await;
    assert_eq!(app.stored_keys().await, Vec::<String>::new(), "the forward's chat took the last one with it");
}

/// Uploads `n` small files for `token`, each expected to be stored; returns their ids.
async fn upload_files(app: &TestApp, token: &str, n: usize) -> Vec<Value> {
    let mut ids = Vec::new();
    for i in 0..n {
        let uploaded = app.upload_attachment(token, &format!("f{i}.txt"), "text/plain", b"some notes").await;
        uploaded.assert_status(StatusCode::CREATED);
        ids.push(uploaded.data()["attachment"]["id"].clone());
    }
    ids
}

#[tokio::test]
async fn uploads_waiting_for_a_message_have_a_quota_that_sending_one_frees() {
    let app = TestApp::with_config(|c| c.limits.unsent_uploads = 3).await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let chat = app.direct(&alice, &bob).await;
    let ids = upload_files(&app, &alice.token, 3).await;

    let refused = app.upload_attachment(&alice.token, "more.txt", "text/plain", b"more").await;
    refused.assert_fail(StatusCode::CONFLICT);
    assert_eq!(refused.body["data"]["reason"], "upload_quota", "{}", refused.body);
    let theirs = app.upload_attachment(&bob.token, "b.txt", "text/plain", b"bob's").await;
    theirs.assert_status(StatusCode::CREATED);

    // One is sent: its place is free again.
    let sent = app
        .send_json(
            Method::POST,
            &format!("/api/v1/chats/{chat}/messages"),
            json!({"type": "file", "attachment_id": ids[0]}),
            Some(&alice.token),
        )
        .await;
    sent.assert_status(StatusCode::CREATED);
    app.upload_attachment(&alice.token, "more.txt", "text/plain", b"more").await.assert_status(StatusCode::CREATED);
}

#[tokio::test]
async fn the_bytes_waiting_for_a_message_are_counted_too() {
    let app = TestApp::with_config(|c| {
        c.media.attachment_bytes = 4096;
        c.limits.unsent_upload_bytes = 5000;
    })
    .await;
    let alice = app.person("alice").await;
    let first = app.upload_attachment(&alice.token, "a.bin", "application/octet-stream", &[7u8; 3000]).await;
    first.assert_status(StatusCode::CREATED);
    let second = app.upload_attachment(&alice.token, "b.bin", "application/octet-stream", &[7u8; 3000]).await;
    second.assert_fail(StatusCode::CONFLICT);
    assert_eq!(second.body["data"]["reason"], "upload_quota");
    let small = app.upload_attachment(&alice.token, "c.bin", "application/octet-stream", &[7u8; 1000]).await;
    small.assert_status(StatusCode::CREATED);
    assert_eq!(app.stored_keys().await.len(), 2, "the refused upload stored nothing");
}

#[tokio::test]
async fn uploads_past_the_hourly_rate_are_429_with_retry_after() {
    let app = TestApp::with_config(|c| c.limits.uploads_per_hour = 2).await;
    let alice = app.person("alice").await;
    upload_files(&app, &alice.token, 2).await;
    let refused = app.upload_attachment(&alice.token, "third.txt", "text/plain", b"third").await;
    refused.assert_fail(StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.header("retry-after").parse::<u64>().is_ok_and(|secs| secs > 0));
}

#[tokio::test]
async fn an_upload_that_expired_unsent_is_forgotten_with_its_objects() {
    use sea_orm::ConnectionTrait;
    use sea_orm::sea_query::Query;

    let app = TestApp::spawn().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let chat = app.direct(&alice, &bob).await;
    let ids = upload_files(&app, &alice.token, 2).await;
    let path = format!("/api/v1/chats/{chat}/messages");
    app.send_json(Method::POST, &path, json!({"type": "file", "attachment_id": ids[1]}), Some(&alice.token))
        .await
        .assert_status(StatusCode::CREATED);
    // Both uploads are a day and two hours old; only the first was never sent.
    let db = app.state.store.connection();
    let long_ago = time::OffsetDateTime::now_utc() - time::Duration::hours(26);
    for statement in [
        Query::update().table("attachments").value("created_at", long_ago).to_owned(),
        Query::update().table("media_garbage").value("not_before", long_ago).to_owned(),
    ] {
        db.execute(&statement).await.expect("age the uploads");
    }
    assert_eq!(app.stored_keys().await.len(), 2);

    app.state.collector.sweep().await.expect("sweep");
    assert_eq!(app.state.store.forget_expired_uploads(1000).await.expect("forget"), 1, "only the unsent one");
    let unsent = parlor::domain::AttachmentId::from_uuid(ids[0].as_str().unwrap().parse().unwrap());
    let left = app.state.store.attachments(&[unsent]).await.expect("attachments");
    assert!(left.is_empty(), "its row is gone");
    let keys = app.stored_keys().await;
    assert_eq!(keys.len(), 1, "its object is gone, the sent one's stays: {keys:?}");
    assert!(keys[0].contains(&ids[1].as_str().unwrap().replace('-', "")), "{keys:?}");
    let history = app.history(&alice, &chat, "").await;
    assert_eq!(history.data()["messages"].as_array().map(Vec::len), Some(1), "the sent file is still there");
}

#[tokio::test]
async fn an_attachment_opens_only_through_a_valid_link_and_is_cached_privately() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let chat = app.direct(&alice, &bob).await;
    let uploaded = app.upload_attachment(&alice.token, "beach.png", "image/png", &png(64, 48, [9, 9, 9])).await;
    let attachment = uploaded.data()["attachment"].clone();
    let sent = app
        .send_json(
            Method::POST,
            &format!("/api/v1/chats/{chat}/messages"),
            json!({"type": "image", "attachment_id": attachment["id"]}),
            Some(&alice.token),
        )
        .await;
    sent.assert_status(StatusCode::CREATED);
    let history = app.history(&bob, &chat, "").await;
    let shown = history.data()["messages"][0]["attachment"].clone();

    for url in [&shown["url"], &shown["preview_url"]] {
        let served = app.get(&link_of(url), None).await;
        served.assert_status(StatusCode::OK);
        let cache = served.header("cache-control");
        let max_age: u64 = cache.strip_prefix("private, max-age=").expect(cache).parse().unwrap();
        assert!((1800..=3600).contains(&max_age), "no longer than the link lives: {cache}");
    }

    let (original, preview) = (key_of(&shown["url"]), key_of(&shown["preview_url"]));
    let query = |url: &Value| link_of(url).split_once('?').unwrap().1.to_owned();
    let expired = {
        let long_ago = time::OffsetDateTime::now_utc().unix_timestamp() as u64 - 7200;
        app.state.media.links().query(&original, long_ago)
    };
    for (path, reason) in [
        (format!("/media/{original}"), "media_link_invalid"),
        (format!("/media/{original}?{}", query(&shown["preview_url"])), "media_link_invalid"),
        (format!("/media/{original}?expires=99999999999&signature=AAAA"), "media_link_invalid"),
        (format!("/media/{original}?expires=%ZZ&signature"), "media_link_invalid"),
        (format!("/media/{}?{}", original.to_uppercase(), query(&shown["url"])), "media_link_invalid"),
        (format!("/media/{original}?{expired}"), "media_link_expired"),
    ] {
        let refused = app.get(&path, None).await;
        refused.assert_fail(StatusCode::FORBIDDEN);
        assert_eq!(refused.reason(), reason, "{path}");
    }
    // The preview's own link still opens it; avatars need no link at all.
    app.get(&format!("/media/{preview}?{}", query(&shown["preview_url"])), None).await.assert_status(StatusCode::OK);
}

#[tokio::test]
async fn instances_on_one_database_sign_links_with_one_secret() {
    let dir = tempfile::tempdir().unwrap();
    let url = crate::helpers::shared_database_url(dir.path()).await;
    let (a, b) =
        (parlor::store::Store::connect(&url).await.unwrap(), parlor::store::Store::connect(&url).await.unwrap());
    a.migrate().await.unwrap();
    let (first, second) = tokio::join!(a.shared_secret("attachment_links"), b.shared_secret("attachment_links"));
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(first.len(), 32);
    assert_eq!(first, second, "two instances starting at once agree on one secret");
    assert_eq!(b.shared_secret("attachment_links").await.unwrap(), first, "and keep it");
    assert_ne!(a.shared_secret("another").await.unwrap(), first);
}
