//! Backups: taken while messages and avatars are being written, restored into a new data
//! directory (and, on PostgreSQL, a new database), holding everything acknowledged before.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use object_store::ObjectStoreExt;
use parlor::config::Config;
use parlor::domain::{ChatId, MessageId, UserId};
use parlor::store::Store;

use crate::helpers::{TestApp, png, shared_database_url};

fn parse<T: std::str::FromStr>(id: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    id.parse().unwrap()
}

#[tokio::test]
async fn a_backup_under_write_load_restores_every_acknowledged_message_and_avatar() {
    let live = tempfile::tempdir().unwrap();
    let app = TestApp::on_file_database(live.path(), |c| c.limits.messages_per_minute = 100_000).await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let chat = app.direct(&alice, &bob).await;
    app.upload_avatar(&bob.token, "file", &png(64, 64, [200, 0, 0])).await.assert_status(axum::http::StatusCode::OK);

    let acked = Mutex::new(Vec::new());
    let stop = AtomicBool::new(false);
    let sending = async {
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let message = app.say(&alice, &chat, &format!("message {n}")).await;
            acked.lock().unwrap().push(message["id"].as_str().unwrap().to_owned());
        }
    };
    // Bob's avatar keeps changing, so old objects keep being deleted while the backup copies.
    let replacing = async {
        let mut shade = 0u8;
        while !stop.load(Ordering::Relaxed) {
            shade = shade.wrapping_add(40);
            app.upload_avatar(&bob.token, "file", &png(64, 64, [shade, 0, 200])).await;
        }
    };
    let backup_dir = tempfile::tempdir().unwrap().keep().join("backup");
    let backing_up = async {
        while acked.lock().unwrap().len() < 20 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let before = acked.lock().unwrap().clone();
        let manifest =
            parlor::backup::backup(&app.state.config, &app.state.store, &app.state.media, &backup_dir).await.unwrap();
        // A little more load after it, then stop.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        stop.store(true, Ordering::Relaxed);
        (before, manifest)
    };
    let ((), (), (before, manifest)) = tokio::join!(sending, replacing, backing_up);
    assert!(manifest.objects >= 4, "{manifest:?}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&backup_dir), 0o700, "a backup holds every secret: its owner's only");
        assert_eq!(mode(&backup_dir.join("manifest.json")), 0o600);
    }
    assert!(acked.lock().unwrap().len() > before.len(), "the sends went on during the backup");

    let fresh = tempfile::tempdir().unwrap();
    let mut config = Config { data_dir: fresh.path().to_owned(), ..Config::default() };
    if manifest.database == "postgres" {
        config.database_url = Some(shared_database_url(fresh.path()).await.into());
    }
    parlor::backup::restore(&config, &backup_dir).await.unwrap();

    let restored = Store::connect(&config.database_url()).await.unwrap();
    let chat_id: ChatId = parse(&chat);
    for id in &before {
        let found = restored.message(chat_id, parse::<MessageId>(id)).await.unwrap();
        assert!(found.is_some(), "acknowledged before the backup, missing after the restore: {id}");
    }
    let media = parlor::media::Media::from_config(&config).unwrap();
    let bob_then = restored.user(parse::<UserId>(&bob.id)).await.unwrap().unwrap();
    let prefix = bob_then.avatar_key.expect("bob had an avatar");
    for file in ["original.jpg", "50x50.jpg", "100x100.jpg", "400x400.jpg"] {
        let path = object_store::path::Path::from(format!("{prefix}/{file}"));
        let bytes = media.store().get(&path).await.unwrap().bytes().await.unwrap();
        assert!(bytes.starts_with(&[0xff, 0xd8, 0xff]), "{path} restored as a JPEG");
    }
    // The restored database opens and migrates like any other.
    restored.migrate().await.unwrap();
    assert!(parlor::backup::restore(&config, &backup_dir).await.is_err(), "never over existing data");
    assert!(
        parlor::backup::backup(&app.state.config, &app.state.store, &app.state.media, &backup_dir).await.is_err(),
        "never into a directory that is not empty"
    );
}

#[tokio::test]
async fn while_media_is_held_no_deletion_happens_until_the_hold_ends() {
    let app = TestApp::spawn().await;
    let alice = app.person("alice").await;
    app.upload_avatar(&alice.token, "file", &png(64, 64, [0, 200, 0])).await.assert_status(axum::http::StatusCode::OK);
    let first: Vec<String> = app.stored_keys().await;
    let until = time::OffsetDateTime::now_utc() + std::time::Duration::from_secs(2);
    app.state.store.hold_media("backup", until).await.unwrap();
    app.upload_avatar(&alice.token, "file", &png(64, 64, [0, 0, 200])).await.assert_status(axum::http::StatusCode::OK);
    let during = app.stored_keys().await;
    assert!(first.iter().all(|key| during.contains(key)), "the replaced avatar's files wait for the hold's end");
    assert_eq!(app.state.collector.sweep().await.unwrap(), 0, "not due before the hold ends");

    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    app.state.collector.sweep().await.unwrap();
    let after = app.stored_keys().await;
    assert!(first.iter().all(|key| !after.contains(key)), "collected once the hold is over: {after:?}");
    assert_eq!(after.len(), 4, "the new avatar stays");
}
