//! Writers at once on one SQLite file (the embedded default with a pool of connections): every
//! transaction that writes waits its turn instead of failing with `database is locked`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use parlor::app::{App, AppState};
use parlor::config::Config;
use serde_json::{Value, json};
use tower::ServiceExt;

async fn call(router: &axum::Router, method: Method, path: &str, token: &str, body: Option<Value>) -> StatusCode {
    let mut request =
        Request::builder().method(method).uri(path).header(header::AUTHORIZATION, format!("Bearer {token}"));
    if body.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    router.clone().oneshot(request.body(body).unwrap()).await.unwrap().status()
}

#[tokio::test]
async fn transactions_that_read_then_write_wait_their_turn_on_a_sqlite_file() {
    let data_dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", data_dir.path().join("parlor.db").display());
    let config = Config { data_dir: data_dir.path().to_owned(), database_url: Some(url.into()), ..Config::default() };
    let state = AppState(Arc::new(App::from_config(config).await.unwrap()));
    let router = parlor::http::router(state).await.unwrap();
    let mut tokens = Vec::new();
    for i in 0..24 {
        let body = json!({"identifier": format!("writer{i}"), "password": crate::helpers::PASSWORD});
        let request = Request::post("/api/v1/auth/register")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let bytes = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
        let session: Value = serde_json::from_slice(&bytes).unwrap();
        tokens.push(session["data"]["access_token"].as_str().unwrap().to_owned());
    }
    // Profile edits (read the row, then write it), logouts and account deletions, all at once.
    for round in 0..3 {
        let calls = tokens.iter().enumerate().map(|(i, token)| {
            let router = &router;
            async move {
                match (i + round) % 3 {
                    0 => {
                        call(router, Method::PATCH, "/api/v1/me", token, Some(json!({"first_name": format!("W{i}")})))
                            .await
                    }
                    1 => call(router, Method::PATCH, "/api/v1/me", token, Some(json!({"last_name": "Writer"}))).await,
                    _ => call(router, Method::GET, "/api/v1/me/sessions", token, None).await,
                }
            }
        });
        let statuses = futures::future::join_all(calls).await;
        assert!(statuses.iter().all(|s| *s == StatusCode::OK), "round {round}: {statuses:?}");
    }
    let last = tokens.iter().enumerate().map(|(i, token)| {
        let router = &router;
        async move {
            if i % 2 == 0 {
                call(router, Method::POST, "/api/v1/auth/logout", token, None).await
            } else {
                call(router, Method::DELETE, "/api/v1/me", token, None).await
            }
        }
    });
    let statuses = futures::future::join_all(last).await;
    assert!(statuses.iter().all(|s| *s == StatusCode::OK), "{statuses:?}");
}

/// A file's eight readers are open from the start and stay open (descriptors do not step up as
/// load arrives), commits leave the log alone well past SQLite's default mark of 1,000 pages, and
/// a checkpoint on a reader copies all of it, after which the next write starts the log again.
#[tokio::test]
async fn a_sqlite_file_keeps_its_readers_open_and_checkpoints_beside_its_writers() {
    use parlor::store::{Checkpointed, Store};
    use sea_orm::ConnectionTrait;

    let data_dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", data_dir.path().join("parlor.db").display());
    let store = Store::connect(&url).await.unwrap();
    assert_eq!(store.connection().get_sqlite_connection_pool().size(), 8);

    let db = store.connection();
    db.execute_unprepared("CREATE TABLE filler (b BLOB)").await.unwrap();
    // Three commits of 2,048-odd pages each: with SQLite's default mark of 1,000 each would have
    // been checkpointed in its commit and the next would have started the log again.
    for _ in 0..3 {
        db.execute_unprepared("INSERT INTO filler VALUES (zeroblob(8 * 1024 * 1024))").await.unwrap();
    }
    let Some(Checkpointed::Done { log, copied }) = store.checkpoint().await.unwrap() else { panic!("no checkpoint") };
    assert!(log > 6_000, "three commits' pages should still be in the log: {log}");
    assert_eq!(copied, log, "nothing reads, so all of it is copied");

    db.execute_unprepared("INSERT INTO filler VALUES (x'00')").await.unwrap();
    let after = store.checkpoint().await.unwrap();
    assert!(
        matches!(after, Some(Checkpointed::Done { log, .. }) if log < 10),
        "the write after a full checkpoint starts the log again: {after:?}"
    );
    let wal = data_dir.path().join("parlor.db-wal");
    let size = std::fs::metadata(&wal).unwrap().len();
    assert!(size <= 16 * 1024 * 1024, "and cuts the file back: {size} bytes");
    assert_eq!(store.connection().get_sqlite_connection_pool().size(), 8);

    let memory = Store::connect("sqlite::memory:").await.unwrap();
    assert_eq!(memory.checkpoint().await.unwrap(), None);
}
