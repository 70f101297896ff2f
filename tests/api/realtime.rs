//! Live events over real sockets on a real listener: who may connect, who hears what, and that
//! ending a session or an account closes its sockets.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use futures::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{PASSWORD, TestApp, png, token};
use crate::sockets::{Seen, sio_connect, sio_connect_with, ws_connect, ws_next, ws_quiet};

/// The SPEC's bound on how long a revoked session's sockets may stay open.
const WITHIN_A_SECOND: Duration = Duration::from_secs(1);

/// The Engine.IO heartbeat: a Socket.IO client that answers every ping stays through several
/// intervals; one that stops answering is closed after an interval and a timeout.
#[tokio::test]
async fn a_socket_io_client_that_answers_pings_stays_and_one_that_does_not_is_closed() {
    let app = TestApp::with_config(|c| c.realtime.ping_interval_secs = 1).await;
    let addr = app.listen().await;
    let t = token(&app.register("alice@example.org").await, "access_token");
    let mut answering = sio_connect(addr, &t).await.unwrap();
    let mut silent = sio_connect(addr, &t).await.unwrap();
    let (stayed, closed) =
        tokio::join!(answering.quiet(Duration::from_secs(4)), silent.ignore_pings_until_closed(Duration::from_secs(4)));
    assert!(stayed, "a client answering its pings was closed");
    let pings = closed.expect("a client that never answers is still connected after 4 s");
    assert_eq!(pings, 1, "closed after the first unanswered ping");
}

/// A client may send a command the moment its CONNECT is answered. The commands are heard from
/// before that answer, not from the connect handler socketioxide spawns after it, which a busy
/// server may run later than the command arrives: that command went unanswered. Many sockets at
/// once on two worker threads, each calling as soon as it is connected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_io_command_sent_as_soon_as_the_socket_is_connected_is_answered() {
    let app = TestApp::spawn().await;
    let addr = app.listen().await;
    let t = token(&app.register("alice@example.org").await, "access_token");
    let calls = (0..64).map(|_| {
        let t = t.clone();
        tokio::spawn(async move {
            let mut sio = sio_connect(addr, &t).await.unwrap();
            sio.call("chats.list", json!({})).await
        })
    });
    for answer in futures::future::join_all(calls).await {
        let answer = answer.expect("a command sent right after connecting went unanswered");
        assert_eq!(answer["status"], "success", "{answer}");
    }
}

#[tokio::test]
async fn sockets_refuse_missing_bad_and_revoked_tokens_with_reasons() {
    let app = TestApp::spawn().await;
    let addr = app.listen().await;
    let session = app.register("alice@example.org").await;
    let t = token(&session, "access_token");

    let (status, body) = ws_connect(addr, None, None).await.err().unwrap();
    assert_eq!((status, body["data"]["reason"].as_str()), (401, Some("missing_token")), "{body}");
    let (status, body) = ws_connect(addr, Some("not.a.jwt"), None).await.err().unwrap();
    assert_eq!((status, body["status"].as_str()), (401, Some("fail")), "{body}");
    assert!(ws_connect(addr, Some(&t), None).await.is_ok());

    let refused = sio_connect_with(addr, json!({}), None).await.err().unwrap();
    assert!(refused.starts_with("missing_token:"), "{refused}");
    let refused = sio_connect(addr, "not.a.jwt").await.err().unwrap();
    assert!(refused.starts_with("invalid_token:"), "{refused}");
    assert!(sio_connect(addr, &t).await.is_ok());

    app.call(Method::POST, "/api/v1/auth/logout", &t).await;
    let (status, body) = ws_connect(addr, Some(&t), None).await.err().unwrap();
    assert_eq!((status, body["data"]["reason"].as_str()), (401, Some("session_revoked")));
    let refused = sio_connect(addr, &t).await.err().unwrap();
    assert!(refused.starts_with("session_revoked:"), "{refused}");
}

#[tokio::test]
async fn the_access_token_may_come_in_the_query_for_browsers() {
    let app = TestApp::spawn().await;
    let addr = app.listen().await;
    let t = token(&app.register("alice@example.org").await, "access_token");
    let url = format!("ws://{addr}/api/v1/ws?access_token={t}");
    assert!(tokio_tungstenite::connect_async(url).await.is_ok());
}

#[tokio::test]
async fn a_browser_origin_must_be_allowed() {
    let app = TestApp::with_config(|c| c.realtime.allowed_origins = vec!["https://app.example.org".into()]).await;
    let addr = app.listen().await;
    let t = token(&app.register("alice@example.org").await, "access_token");

    let (status, body) = ws_connect(addr, Some(&t), Some("https://evil.example.net")).await.err().unwrap();
    assert_eq!((status, body["data"]["reason"].as_str()), (403, Some("origin_not_allowed")), "{body}");
    let refused = sio_connect_with(addr, json!({"token": t}), Some("https://evil.example.net")).await.err().unwrap();
    assert!(refused.starts_with("origin_not_allowed:"), "{refused}");

    assert!(ws_connect(addr, Some(&t), Some("https://app.example.org")).await.is_ok());
    assert!(sio_connect_with(addr, json!({"token": t}), Some("https://app.example.org")).await.is_ok());
    let own = format!("http://{}", app.state.config.bind);
    assert!(ws_connect(addr, Some(&t), Some(&own)).await.is_ok(), "the server's own origin is always allowed");
}

#[tokio::test]
async fn a_plain_request_to_the_websocket_route_is_a_jsend_fail() {
    let app = TestApp::spawn().await;
    let t = token(&app.register("alice@example.org").await, "access_token");
    let response = app.get("/api/v1/ws", Some(&t)).await;
    response.assert_fail(StatusCode::BAD_REQUEST);
    assert_eq!(response.reason(), "not_a_websocket");
}

#[tokio::test]
async fn an_avatar_change_reaches_every_device_of_its_owner_and_nobody_else() {
    let app = TestApp::spawn().await;
    let addr = app.listen().await;
    let laptop = app.register("alice@example.org").await;
    let phone = app.login("alice@example.org", PASSWORD).await.data().clone();
    let bob = app.register("bob@example.org").await;
    let alice_id = laptop["user"]["id"].as_str().unwrap().to_owned();

    let mut laptop_ws = ws_connect(addr, Some(&token(&laptop, "access_token")), None).await.unwrap();
    let mut phone_sio = sio_connect(addr, &token(&phone, "access_token")).await.unwrap();
    let mut bob_ws = ws_connect(addr, Some(&token(&bob, "access_token")), None).await.unwrap();
    let mut bob_sio = sio_connect(addr, &token(&bob, "access_token")).await.unwrap();

    let uploaded = app.upload_avatar(&token(&laptop, "access_token"), "file", &png(32, 32, [200, 10, 10])).await;
    assert_eq!(uploaded.status, StatusCode::OK, "{}", uploaded.text);
    let avatar = uploaded.data()["avatar"].clone();

    for seen in [ws_next(&mut laptop_ws).await, phone_sio.next().await] {
        let Seen::Event(name, data) = seen else { panic!("expected an event, got {seen:?}") };
        assert_eq!(name, "user.avatar_updated");
        assert_eq!(data["user_id"], alice_id.as_str());
        assert_eq!(data["avatar"], avatar, "the event carries the same URLs as the response");
        assert!(data["at"].as_str().is_some_and(|at| at.ends_with('Z')), "{data}");
    }

    app.call(Method::DELETE, "/api/v1/me/avatar", &token(&phone, "access_token")).await;
    let Seen::Event(name, data) = ws_next(&mut laptop_ws).await else { panic!("no removal event") };
    assert_eq!((name.as_str(), &data["avatar"]), ("user.avatar_updated", &Value::Null));

    assert!(ws_quiet(&mut bob_ws, Duration::from_millis(300)).await, "bob hears nothing of alice's avatar");
    bob_sio.emit("probe", json!({})).await;
    let Seen::Event(name, data) = bob_sio.next().await else { panic!("no answer") };
    assert_eq!((name.as_str(), data["reason"].as_str()), ("error", Some("unknown_event")), "first thing bob sees");
}

#[tokio::test]
async fn logout_closes_that_sessions_sockets_within_a_second_and_only_those() {
    let app = TestApp::spawn().await;
    let addr = app.listen().await;
    let laptop = app.register("alice@example.org").await;
    let phone = app.login("alice@example.org", PASSWORD).await.data().clone();
    let t = token(&laptop, "access_token");
    let mut laptop_ws = ws_connect(addr, Some(&t), None).await.unwrap();
    let mut laptop_sio = sio_connect(addr, &t).await.unwrap();
    let mut phone_ws = ws_connect(addr, Some(&token(&phone, "access_token")), None).await.unwrap();

    app.call(Method::POST, "/api/v1/auth/logout", &t).await;

    let notice = tokio::time::timeout(WITHIN_A_SECOND, ws_next(&mut laptop_ws)).await.expect("closed in time");
    let Seen::Event(name, data) = notice else { panic!("expected the farewell, got {notice:?}") };
    assert_eq!(name, "session.revoked");
    assert!(data["session_id"].is_string());
    let closed = tokio::time::timeout(WITHIN_A_SECOND, ws_next(&mut laptop_ws)).await.expect("closed in time");
    assert_eq!(closed, Seen::Closed(Some((4001, "session_revoked".into()))));

    let notice = tokio::time::timeout(WITHIN_A_SECOND, laptop_sio.next()).await.expect("in time");
    assert!(matches!(&notice, Seen::Event(name, _) if name == "session.revoked"), "{notice:?}");
    let closed = tokio::time::timeout(WITHIN_A_SECOND, laptop_sio.next()).await.expect("disconnected in time");
    assert_eq!(closed, Seen::Closed(None));

    assert!(ws_quiet(&mut phone_ws, Duration::from_millis(300)).await, "the other session's socket stays open");
}

#[tokio::test]
async fn every_way_of_ending_a_session_closes_its_sockets() {
    let app = TestApp::spawn().await;
    let addr = app.listen().await;
    let first = app.register("alice@example.org").await;
    let keep = token(&first, "access_token");

    // Revoked from another device.
    let other = app.login("alice@example.org", PASSWORD).await.data().clone();
    let mut ws = ws_connect(addr, Some(&token(&other, "access_token")), None).await.unwrap();
    let sessions = app.get("/api/v1/me/sessions", Some(&keep)).await;
    let other_id =
        sessions.data()["sessions"].as_array().unwrap().iter().find(|s| s["current"] == false).unwrap()["id"].clone();
    app.call(Method::DELETE, &format!("/api/v1/me/sessions/{}", other_id.as_str().unwrap()), &keep).await;
    assert_closed(&mut ws, "session_revoked").await;

    // Ended by a password change (every other session).
    let other = app.login("alice@example.org", PASSWORD).await.data().clone();
    let mut ws = ws_connect(addr, Some(&token(&other, "access_token")), None).await.unwrap();
    let changed = app
        .send_json(
            Method::PUT,
            "/api/v1/me/password",
            json!({"current_password": PASSWORD, "new_password": "a brand new secret"}),
            Some(&keep),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_closed(&mut ws, "session_revoked").await;

    // Revoked through RFC 7009 with its refresh token.
    let other = app.login("alice@example.org", "a brand new secret").await.data().clone();
    let mut ws = ws_connect(addr, Some(&token(&other, "access_token")), None).await.unwrap();
    app.post_form("/oauth/revoke", &format!("token={}", token(&other, "refresh_token"))).await;
    assert_closed(&mut ws, "session_revoked").await;

    // Ended by replaying a rotated refresh token (rotated twice since: no race, a replay).
    let other = app.login("alice@example.org", "a brand new secret").await.data().clone();
    let refresh = token(&other, "refresh_token");
    let rotated = app.post_json("/api/v1/auth/refresh", json!({"refresh_token": refresh})).await.data().clone();
    let body = json!({"refresh_token": token(&rotated, "refresh_token")});
    let rotated = app.post_json("/api/v1/auth/refresh", body).await.data().clone();
    let mut ws = ws_connect(addr, Some(&token(&rotated, "access_token")), None).await.unwrap();
    app.post_json("/api/v1/auth/refresh", json!({"refresh_token": refresh})).await;
    assert_closed(&mut ws, "session_revoked").await;
}

async fn assert_closed(ws: &mut crate::sockets::Ws, reason: &str) {
    let deadline = tokio::time::Instant::now() + WITHIN_A_SECOND;
    loop {
        let seen = tokio::time::timeout_at(deadline, ws_next(ws)).await.expect("socket not closed within a second");
        if let Seen::Closed(frame) = seen {
            assert_eq!(frame.map(|(_, r)| r).as_deref(), Some(reason));
            return;
        }
    }
}

#[tokio::test]
async fn deleting_the_account_closes_every_socket_of_it() {
    let app = TestApp::spawn().await;
    let addr = app.listen().await;
    let laptop = app.register("alice@example.org").await;
    let phone = app.login("alice@example.org", PASSWORD).await.data().clone();
    let mut laptop_ws = ws_connect(addr, Some(&token(&laptop, "access_token")), None).await.unwrap();
    let mut phone_sio = sio_connect(addr, &token(&phone, "access_token")).await.unwrap();

    let deleted = app.call(Method::DELETE, "/api/v1/me", &token(&laptop, "access_token")).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text);

    let Seen::Event(name, _) = ws_next(&mut laptop_ws).await else { panic!("no farewell") };
    assert_eq!(name, "user.deleted");
    let closed = tokio::time::timeout(WITHIN_A_SECOND, ws_next(&mut laptop_ws)).await.expect("in time");
    assert_eq!(closed, Seen::Closed(Some((4001, "account_deleted".into()))));
    let Seen::Event(name, _) = phone_sio.next().await else { panic!("no farewell") };
    assert_eq!(name, "user.deleted");
    assert_eq!(tokio::time::timeout(WITHIN_A_SECOND, phone_sio.next()).await.expect("in time"), Seen::Closed(None));
}

#[tokio::test]
async fn an_oversized_frame_closes_the_socket_with_1009_and_bad_frames_get_errors() {
    let app = TestApp::with_config(|c| c.realtime.max_frame_bytes = 4096).await;
    let addr = app.listen().await;
    let t = token(&app.register("alice@example.org").await, "access_token");
    let mut ws = ws_connect(addr, Some(&t), None).await.unwrap();

    ws.send(Message::text("{not json")).await.unwrap();
    let Seen::Event(name, data) = ws_next(&mut ws).await else { panic!("no error event") };
    assert_eq!((name.as_str(), data["reason"].as_str()), ("error", Some("bad_frame")));
    ws.send(Message::text(r#"{"event":"chat.explode","data":{}}"#)).await.unwrap();
    let Seen::Event(_, data) = ws_next(&mut ws).await else { panic!("no error event") };
    assert_eq!(data["reason"], "unknown_event");
    ws.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    let Seen::Event(_, data) = ws_next(&mut ws).await else { panic!("no error event") };
    assert_eq!(data["reason"], "bad_frame");

    let big = json!({"event": "x", "data": "a".repeat(5000)}).to_string();
    ws.send(Message::text(big)).await.unwrap();
    assert_eq!(ws_next(&mut ws).await, Seen::Closed(Some((1009, "frame_too_large".into()))));
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_and_the_others_still_hear() {
    let app = TestApp::with_config(|c| c.realtime.queue_len = 4).await;
    let addr = app.listen().await;
    let session = app.register("alice@example.org").await;
    let alice: parlor::domain::UserId = session["user"]["id"].as_str().unwrap().parse().unwrap();
    let t = token(&session, "access_token");
    let mut reader = ws_connect(addr, Some(&t), None).await.unwrap();
    let _stalled = ws_connect(addr, Some(&t), None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(app.state.realtime.hub.ws_count(), 2);

    // Large events fill the stalled client's socket buffers, then its queue.
    #[derive(serde::Serialize)]
    struct Tick {
        filler: String,
    }
    impl parlor::realtime::Event for Tick {
        fn name(&self) -> &'static str {
            "test.tick"
        }
    }
    let payload = Tick { filler: "x".repeat(64 * 1024) };
    let to = parlor::realtime::Audience::Users(vec![alice]);
    let mut heard = 0;
    for _ in 0..200 {
        app.state.realtime.emit(to.clone(), &payload).await;
        let Seen::Event(name, _) = ws_next(&mut reader).await else { panic!("the reader was closed") };
        assert_eq!(name, "test.tick");
        heard += 1;
        if app.state.realtime.hub.ws_count() == 1 {
            break;
        }
    }
    assert_eq!(app.state.realtime.hub.ws_count(), 1, "the stalled client was dropped after {heard} events");
}

#[tokio::test]
async fn the_asyncapi_document_lists_the_events() {
    let app = TestApp::spawn().await;
    let doc = app.get("/api/v1/asyncapi.json", None).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert_eq!(doc.body["asyncapi"], "3.0.0");
    for event in ["user.avatar_updated", "session.revoked", "user.deleted", "error"] {
        assert!(doc.body["components"]["messages"][event].is_object(), "{event} missing");
    }
    let openapi = app.get("/api/v1/openapi.json", None).await;
    assert!(openapi.body["paths"]["/api/v1/ws"]["get"].is_object());
    assert!(openapi.body["paths"]["/api/v1/asyncapi.json"]["get"].is_object());
    assert!(openapi.body["info"]["description"].as_str().unwrap().contains("/api/v1/asyncapi.json"));
}

#[tokio::test]
async fn open_sockets_are_counted_in_the_metrics() {
    let app = TestApp::spawn().await;
    let addr = app.listen().await;
    let t = token(&app.register("alice@example.org").await, "access_token");
    let gauge = |kind: &str| format!("parlor_sockets{{kind=\"{kind}\"}} ");
    let mut ws = ws_connect(addr, Some(&t), None).await.unwrap();
    let mut sio = sio_connect(addr, &t).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let metrics = app.get("/metrics", None).await.text;
    assert!(metrics.contains(&format!("{}1", gauge("websocket"))), "{metrics}");
    assert!(metrics.contains(&format!("{}1", gauge("socket.io"))), "{metrics}");

    app.call(Method::POST, "/api/v1/auth/logout", &t).await;
    assert_closed(&mut ws, "session_revoked").await;
    while sio.next().await != Seen::Closed(None) {}
    tokio::time::sleep(Duration::from_millis(200)).await;
    let metrics = app.get("/metrics", None).await.text;
    assert!(metrics.contains(&format!("{}0", gauge("websocket"))), "{metrics}");
    assert!(metrics.contains(&format!("{}0", gauge("socket.io"))), "{metrics}");
}

#[tokio::test]
async fn a_stopping_server_tells_every_socket_to_reconnect() {
    let app = TestApp::spawn().await;
    let addr = app.listen().await;
    let t = token(&app.register("alice@example.org").await, "access_token");
    let mut ws = ws_connect(addr, Some(&t), None).await.unwrap();
    let mut sio = sio_connect(addr, &t).await.unwrap();
    assert_eq!((app.state.realtime.hub.ws_count(), app.state.realtime.hub.sio_count()), (1, 1));

    app.state.realtime.hub.close_everything().await;
    let closed = tokio::time::timeout(WITHIN_A_SECOND, ws_next(&mut ws)).await.expect("in time");
    assert_eq!(closed, Seen::Closed(Some((1012, "restarting".into()))), "RFC 6455's service restart");
    let closed = tokio::time::timeout(WITHIN_A_SECOND, sio.next()).await.expect("in time");
    assert_eq!(closed, Seen::Closed(None), "the transport closes; no disconnect packet, so the client reconnects");
    assert_eq!((app.state.realtime.hub.ws_count(), app.state.realtime.hub.sio_count()), (0, 0));
}

#[tokio::test]
async fn a_stopping_server_closes_its_listener_before_telling_sockets_to_reconnect_so_none_comes_back_to_it() {
    let app = TestApp::spawn().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let (router, config, state) = (app.router.clone(), app.state.config.server.clone(), app.state.clone());
    // The farewell as `parlor serve` runs it, held open until the test has tried to come back.
    let farewell = async move {
        state.realtime.hub.close_everything().await;
        let _ = released.await;
    };
    let server = tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        parlor::http::listener::serve(listener, router, &config, true, shutdown, farewell).await
    });
    let t = token(&app.register("alice@example.org").await, "access_token");
    let mut ws = ws_connect(addr, Some(&t), None).await.unwrap();
    let mut sio = sio_connect(addr, &t).await.unwrap();

    stop.send(()).unwrap();
    let closed = tokio::time::timeout(WITHIN_A_SECOND, ws_next(&mut ws)).await.expect("in time");
    assert_eq!(closed, Seen::Closed(Some((1012, "restarting".into()))));
    let closed = tokio::time::timeout(WITHIN_A_SECOND, sio.next()).await.expect("in time");
    assert_eq!(closed, Seen::Closed(None));
    // A client coming straight back is refused at connect (and tries another instance), rather
    // than reaching a server whose Socket.IO namespaces are already gone.
    let again = tokio::net::TcpStream::connect(addr).await.expect_err("the listener is closed by now");
    assert_eq!(again.kind(), std::io::ErrorKind::ConnectionRefused, "{again}");

    release.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server).await.expect("serve returns once the farewell ends").unwrap();
}
