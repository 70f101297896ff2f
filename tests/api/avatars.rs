//! Avatars: both upload encodings, the served files, replacement, removal, bad images, and
//! storage failures.

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::helpers::{TestApp, access_token, png};

const VARIANTS: [&str; 4] = ["original", "50x50", "100x100", "400x400"];

/// The `/media/…` path of an avatar URL served by the app itself.
fn media_path(url: &Value) -> String {
    let url = url.as_str().expect("a URL");
    url[url.find("/media/").expect("served under /media")..].to_owned()
}

async fn fetch(app: &TestApp, url: &Value) -> crate::helpers::TestResponse {
    app.get(&media_path(url), None).await
}

#[tokio::test]
async fn a_multipart_upload_gives_four_immutable_urls() {
    let app = TestApp::spawn().await;
    let t = access_token(&app, "alice").await;
    let response = app.upload_avatar(&t, "file", &png(640, 480, [200, 30, 30])).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    let avatar = response.data()["avatar"].clone();
    assert_eq!(response.data()["url"], avatar["original"]);
    for variant in VARIANTS {
        let url = avatar[variant].as_str().unwrap();
        assert!(url.starts_with("http://127.0.0.1:8080/media/avatars/"), "{url}");
        assert!(url.ends_with(&format!("/{variant}.jpg")), "{url}");
        let file = fetch(&app, &avatar[variant]).await;
        assert_eq!(file.status, StatusCode::OK, "{variant}");
        assert_eq!(file.header("content-type"), "image/jpeg");
        assert_eq!(file.header("x-content-type-options"), "nosniff");
        assert_eq!(file.header("cache-control"), "public, max-age=31536000, immutable");
        let etag = file.header("etag").to_owned();
        assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");
        let revalidated = app
            .send(
                TestApp::request(Method::GET, &media_path(&avatar[variant]))
                    .header(header::IF_NONE_MATCH, &etag)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(revalidated.status, StatusCode::NOT_MODIFIED);
    }
    let me = app.get("/api/v1/me", Some(&t)).await;
    assert_eq!(me.data()["user"]["avatar"], avatar);
    assert_eq!(app.stored_keys().await.len(), 4);
}

#[tokio::test]
async fn base64_and_data_url_uploads_work_and_each_upload_gets_new_urls() {
    let app = TestApp::spawn().await;
    let t = access_token(&app, "bob").await;
    let encoded = STANDARD.encode(png(64, 64, [10, 200, 10]));
    let plain = app.send_json(Method::PUT, "/api/v1/me/avatar", json!({"image": encoded}), Some(&t)).await;
    assert_eq!(plain.status, StatusCode::OK, "{}", plain.text);
    let data_url = app
        .send_json(
            Method::PUT,
            "/api/v1/me/avatar",
            json!({"image": format!("data:image/png;base64,{encoded}")}),
            Some(&t),
        )
        .await;
    assert_eq!(data_url.status, StatusCode::OK, "{}", data_url.text);
    assert_ne!(plain.data()["url"], data_url.data()["url"], "the same image uploaded again still gets new keys");
}

#[tokio::test]
async fn replacing_or_removing_an_avatar_deletes_the_old_files() {
    let app = TestApp::spawn().await;
    let t = access_token(&app, "carol").await;
    let first = app.upload_avatar(&t, "file", &png(100, 100, [1, 2, 3])).await.data()["avatar"].clone();
    let second = app.upload_avatar(&t, "file", &png(120, 90, [3, 2, 1])).await.data()["avatar"].clone();
    for variant in VARIANTS {
        fetch(&app, &first[variant]).await.assert_fail(StatusCode::NOT_FOUND);
        assert_eq!(fetch(&app, &second[variant]).await.status, StatusCode::OK);
    }
    let keys = app.stored_keys().await;
    assert_eq!(keys.len(), 4, "{keys:?}");

    let removed = app.call(Method::DELETE, "/api/v1/me/avatar", &t).await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.text);
    assert_eq!(removed.data()["user"]["avatar"], Value::Null);
    assert!(app.stored_keys().await.is_empty());
    fetch(&app, &second["original"]).await.assert_fail(StatusCode::NOT_FOUND);
    // Removing when there is none is fine.
    assert_eq!(app.call(Method::DELETE, "/api/v1/me/avatar", &t).await.status, StatusCode::OK);
}

/// A real JPEG whose frame header is patched to declare 50000×50000 pixels: a decompression
/// bomb up to its payload (JPEG headers carry no checksum).
fn bomb() -> Vec<u8> {
    let image = image::RgbImage::from_pixel(8, 8, image::Rgb([0, 0, 0]));
    let mut jpeg = std::io::Cursor::new(Vec::new());
    image.write_to(&mut jpeg, image::ImageFormat::Jpeg).unwrap();
    let mut jpeg = jpeg.into_inner();
    let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).expect("a baseline frame header");
    // FF C0, length (2), precision (1), then height and width (2 each).
    jpeg[sof + 5..sof + 7].copy_from_slice(&50_000u16.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&50_000u16.to_be_bytes());
    jpeg
}

#[tokio::test]
async fn bad_images_are_refused_with_a_reason_and_change_nothing() {
    let app = TestApp::spawn().await;
    let t = access_token(&app, "dave").await;
    let good = png(32, 32, [9, 9, 9]);
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>"#.to_vec();
    for (bytes, status, reason) in [
        (svg, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_image"),
        (b"GIF89a".to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_image"),
        (Vec::new(), StatusCode::UNPROCESSABLE_ENTITY, "empty_image"),
        (good[..good.len() / 2].to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_image"),
        (bomb(), StatusCode::UNPROCESSABLE_ENTITY, "image_too_large"),
    ] {
        let response = app.upload_avatar(&t, "file", &bytes).await;
        response.assert_fail(status);
        assert_eq!(response.reason(), reason, "{}", response.text);
    }
    let no_file = app.upload_avatar(&t, "picture", &good).await;
    no_file.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(no_file.data()["file"], "is required");
    let bad_base64 = app.send_json(Method::PUT, "/api/v1/me/avatar", json!({"image": "%%%"}), Some(&t)).await;
    bad_base64.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad_base64.data().get("image").is_some());
    let no_image = app.send_json(Method::PUT, "/api/v1/me/avatar", json!({"picture": "x"}), Some(&t)).await;
    no_image.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
    let raw = app
        .send(
            TestApp::request(Method::PUT, "/api/v1/me/avatar")
                .header(header::AUTHORIZATION, format!("Bearer {t}"))
                .header(header::CONTENT_TYPE, "image/png")
                .body(Body::from(good.clone()))
                .unwrap(),
        )
        .await;
    raw.assert_fail(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let garbled = app
        .send(
            TestApp::request(Method::PUT, "/api/v1/me/avatar")
                .header(header::AUTHORIZATION, format!("Bearer {t}"))
                .header(header::CONTENT_TYPE, "multipart/form-data; boundary=x")
                .body(Body::from("this is not multipart"))
                .unwrap(),
        )
        .await;
    garbled.assert_fail(StatusCode::BAD_REQUEST);
    app.send(TestApp::request(Method::PUT, "/api/v1/me/avatar").body(Body::from(good)).unwrap())
        .await
        .assert_fail(StatusCode::UNAUTHORIZED);

    assert_eq!(app.get("/api/v1/me", Some(&t)).await.data()["user"]["avatar"], Value::Null);
    assert!(app.stored_keys().await.is_empty());
}

#[tokio::test]
async fn an_oversized_file_is_a_413_in_either_encoding() {
    let app = TestApp::with_config(|c| c.media.avatar_bytes = 4096).await;
    let t = access_token(&app, "erin").await;
    let big = png(256, 256, [0, 0, 0]).into_iter().chain(std::iter::repeat_n(0u8, 8192)).collect::<Vec<u8>>();
    let multipart = app.upload_avatar(&t, "file", &big).await;
    multipart.assert_fail(StatusCode::PAYLOAD_TOO_LARGE);
    let json = app.send_json(Method::PUT, "/api/v1/me/avatar", json!({"image": STANDARD.encode(&big)}), Some(&t)).await;
    json.assert_fail(StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn a_storage_failure_part_way_keeps_the_old_avatar_and_leaves_no_orphans() {
    let app = TestApp::spawn().await;
    let t = access_token(&app, "frank").await;
    let old = app.upload_avatar(&t, "file", &png(50, 50, [1, 1, 1])).await.data()["avatar"].clone();
    let old_keys = app.stored_keys().await;

    app.storage.fail_puts_after(2);
    let failed = app.upload_avatar(&t, "file", &png(60, 60, [2, 2, 2])).await;
    assert_eq!(failed.status, StatusCode::SERVICE_UNAVAILABLE, "{}", failed.text);
    assert_eq!(failed.body["status"], "error");
    app.storage.heal();

    assert_eq!(app.get("/api/v1/me", Some(&t)).await.data()["user"]["avatar"], old);
    assert_eq!(app.stored_keys().await, old_keys, "the two objects written were removed again");
    for variant in VARIANTS {
        assert_eq!(fetch(&app, &old[variant]).await.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn old_files_left_by_a_storage_outage_are_swept_later() {
    let app = TestApp::spawn().await;
    let t = access_token(&app, "grace").await;
    app.upload_avatar(&t, "file", &png(50, 50, [1, 1, 1])).await;
    app.storage.fail_deletes();
    let new = app.upload_avatar(&t, "file", &png(50, 50, [2, 2, 2])).await;
    assert_eq!(new.status, StatusCode::OK, "the new avatar is set even if the old files cannot be deleted yet");
    assert_eq!(app.stored_keys().await.len(), 8);

    // Still down: the sweep retries and fails, keeping the entry.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(app.state.collector.sweep().await.unwrap(), 1);
    assert_eq!(app.stored_keys().await.len(), 8);

    app.storage.heal();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(app.state.collector.sweep().await.unwrap(), 1);
    let keys = app.stored_keys().await;
    assert_eq!(keys.len(), 4, "{keys:?}");
    let current = new.data()["avatar"]["original"].as_str().unwrap();
    assert!(keys.iter().all(|k| current.contains(k.rsplit_once('/').unwrap().0)), "only the current avatar is left");
    assert_eq!(app.state.collector.sweep().await.unwrap(), 0, "nothing left to sweep");
}

#[tokio::test]
async fn a_public_media_url_is_used_for_the_links() {
    let app = TestApp::with_config(|c| c.public_media_url = Some("https://cdn.example.net/parlor/".to_owned())).await;
    let t = access_token(&app, "heidi").await;
    let response = app.upload_avatar(&t, "file", &png(20, 20, [5, 5, 5])).await;
    let url = response.data()["avatar"]["50x50"].as_str().unwrap();
    assert!(url.starts_with("https://cdn.example.net/parlor/avatars/") && url.ends_with("/50x50.jpg"), "{url}");
}

#[tokio::test]
async fn media_paths_outside_the_store_are_404() {
    let app = TestApp::spawn().await;
    for path in
        ["/media/avatars/nope/original.jpg", "/media/../Cargo.toml", "/media/avatars//x.jpg", "/media/%2e%2e/secret"]
    {
        let response = app.get(path, None).await;
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{path}: {}", response.text);
    }
}
