//! Every change is written to the audit log, in the same transaction, without secrets.

use serde_json::json;
use uuid::Uuid;

use crate::helpers::{TestApp, token};

#[tokio::test]
async fn registration_login_and_logout_are_audited_without_secrets() {
    let app = TestApp::spawn().await;
    let data = app
        .post_json(
            "/api/v1/auth/register",
            json!({"identifier": "amy@example.org", "password": crate::helpers::PASSWORD}),
        )
        .await;
    let data = data.data().clone();
    let user_id = data["user"]["id"].as_str().unwrap().to_owned();

    let trail = app.state.store.audit_trail("user", &user_id).await.unwrap();
    assert_eq!(trail.len(), 1);
    let created = &trail[0];
    assert_eq!(created.action, "create");
    assert_eq!(created.actor_id, Some(Uuid::parse_str(&user_id).unwrap().into()));
    let after = created.after.as_ref().expect("after snapshot");
    assert_eq!(after["email"], "amy@example.org");
    let printed = after.to_string();
    assert!(!printed.contains("argon2") && !printed.contains("password"), "{printed}");
    assert!(created.before.is_none());

    let access = token(&data, "access_token");
    let claims = app.state.auth.keys.current().verify(&access).unwrap();
    app.post_json_from("/api/v1/auth/logout", json!({}), Some(&access), None).await;
    let sessions = app.state.store.audit_trail("session", &claims.sid.to_string()).await.unwrap();
    let actions: Vec<&str> = sessions.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, ["create", "logout"]);
    assert!(sessions[1].after.is_none() && sessions[1].before.is_some());
    for record in &sessions {
        let text = format!("{:?} {:?}", record.before, record.after);
        assert!(!text.contains(&token(&data, "refresh_token")), "refresh token leaked into the audit log");
    }
}

#[tokio::test]
async fn a_refresh_is_audited_as_a_session_change() {
    let app = TestApp::spawn().await;
    let data = app.register("ben").await;
    let sid = app.state.auth.keys.current().verify(&token(&data, "access_token")).unwrap().sid;
    app.post_json("/api/v1/auth/refresh", json!({"refresh_token": token(&data, "refresh_token")})).await;
    let trail = app.state.store.audit_trail("session", &sid.to_string()).await.unwrap();
    let refresh = trail.iter().find(|r| r.action == "refresh").expect("refresh audited");
    assert_ne!(refresh.before.as_ref().unwrap()["last_used_at"], refresh.after.as_ref().unwrap()["last_used_at"]);
}
