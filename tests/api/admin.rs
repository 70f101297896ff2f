//! The admin JSON API: deactivation ends everything of an account at once (SPEC §3).

use axum::http::{Method, StatusCode};
use parlor::domain::{NewPassword, Username};

use crate::helpers::{PASSWORD, TestApp, token};
use crate::sockets::{Seen, ws_connect, ws_next};

async fn admin_token(app: &TestApp) -> String {
    let username = Username::parse("root_admin").unwrap();
    let password = NewPassword::parse(PASSWORD, &["root_admin"]).unwrap();
    app.state.accounts.create_admin(username, None, password).await.unwrap();
    token(&app.login("root_admin", PASSWORD).await.body["data"], "access_token")
}

#[tokio::test]
async fn deactivation_ends_every_session_and_socket_at_once_and_reactivation_lets_the_account_back() {
    let app = TestApp::spawn().await;
    let addr = app.listen().await;
    let admin = admin_token(&app).await;
    let quinn = app.register("quinn").await;
    let (quinn_id, quinn_token) = (quinn["user"]["id"].as_str().unwrap().to_owned(), token(&quinn, "access_token"));
    let mut socket = ws_connect(addr, Some(&quinn_token), None).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    // Nobody but an administrator finds the route; quinn cannot deactivate herself or others.
    let deactivate = format!("/api/v1/admin/users/{quinn_id}/deactivate");
    assert_eq!(app.call(Method::POST, &deactivate, &quinn_token).await.status, StatusCode::NOT_FOUND);

    let done = app.call(Method::POST, &deactivate, &admin).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert_eq!(done.data()["user"]["is_active"], false);
    assert_eq!(app.get("/api/v1/me", Some(&quinn_token)).await.status, StatusCode::UNAUTHORIZED);
    let login = app.login("quinn", PASSWORD).await;
    assert_eq!(login.status, StatusCode::FORBIDDEN, "{}", login.text);
    assert_eq!(login.body["data"]["reason"], "account_disabled");
    loop {
        match ws_next(&mut socket).await {
            Seen::Closed(frame) => {
                assert_eq!(frame.map(|(code, _)| code), Some(4001), "closed as a revoked session");
                break;
            }
            Seen::Event(name, _) => assert_eq!(name, "session.revoked"),
        }
    }
    let trail = app.state.store.audit_trail("user", &quinn_id).await.unwrap();
    let record = trail.iter().find(|r| r.action == "deactivate").expect("the deactivation is audited");
    assert_eq!(record.before.as_ref().unwrap()["is_active"], true);
    assert_eq!(record.after.as_ref().unwrap()["is_active"], false);

    let again = app.call(Method::POST, &format!("/api/v1/admin/users/{quinn_id}/reactivate"), &admin).await;
    assert_eq!((again.status, &again.data()["user"]["is_active"]), (StatusCode::OK, &serde_json::json!(true)));
    assert_eq!(app.login("quinn", PASSWORD).await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_administrator_cannot_deactivate_themself_and_unknown_ids_are_not_found() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let me = app.get("/api/v1/me", Some(&admin)).await;
    let own = format!("/api/v1/admin/users/{}/deactivate", me.data()["user"]["id"].as_str().unwrap());
    let refused = app.call(Method::POST, &own, &admin).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(refused.body["data"]["reason"], "own_account");
    let unknown = format!("/api/v1/admin/users/{}/deactivate", uuid::Uuid::now_v7());
    assert_eq!(app.call(Method::POST, &unknown, &admin).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.call(Method::POST, "/api/v1/admin/users/nope/deactivate", &admin).await.status,
        StatusCode::NOT_FOUND
    );
}
