//! The admin pages: operators only (everyone else 404), the same service and rules as the admin
//! JSON API, CSRF on every change, and the audit log readable with its diffs (SPEC §3).

use axum::http::{Method, StatusCode};
use parlor::domain::{NewPassword, Username};

use crate::helpers::{PASSWORD, TestApp, TestResponse};
use crate::site::{csrf, location, page, session_cookie, signed_in, signed_out_post};

/// An administrator's page session.
async fn operator(app: &TestApp) -> String {
    let username = Username::parse("operator").unwrap();
    let password = NewPassword::parse(PASSWORD, &["operator"]).unwrap();
    app.state.accounts.create_admin(username, None, password).await.unwrap();
    let form = format!("identifier=operator&password={}", PASSWORD.replace(' ', "+"));
    let response = signed_out_post(app, "/login", &form).await;
    session_cookie(&response).0
}

async fn get(app: &TestApp, path: &str, cookie: &str) -> TestResponse {
    page(app, Method::GET, path, Some(cookie), None).await
}

async fn post(app: &TestApp, path: &str, cookie: &str, form: &str) -> TestResponse {
    page(app, Method::POST, path, Some(cookie), Some(form)).await
}

#[tokio::test]
async fn every_admin_page_is_not_found_for_members_and_sends_strangers_to_login() {
    let app = TestApp::spawn().await;
    let mallory = signed_in(&app, "mallory").await;
    let victim = app.person("victim").await;
    let chat = app.group(&victim, "Private", &[]).await;
    let message = app.say(&victim, &chat, "mine").await["id"].as_str().unwrap().to_owned();
    let token = csrf(&get(&app, "/chats", &mallory).await);
    let form = format!("csrf_token={token}&confirm=delete");
    let pages = [
        "/admin".to_owned(),
        "/admin/users?q=v".to_owned(),
        format!("/admin/users/{}", victim.id),
        "/admin/chats".to_owned(),
        format!("/admin/chats/{chat}"),
        format!("/admin/messages?chat_id={chat}"),
        "/admin/audit".to_owned(),
    ];
    let forms = [
        format!("/admin/users/{}/deactivate", victim.id),
        format!("/admin/users/{}/delete", victim.id),
        format!("/admin/chats/{chat}/delete"),
        format!("/admin/messages/{message}/delete"),
    ];
    for path in &pages {
        assert_eq!(get(&app, path, &mallory).await.status, StatusCode::NOT_FOUND, "{path}");
        let stranger = page(&app, Method::GET, path, None, None).await;
        assert!(location(&stranger).starts_with("/login?next="), "{path}");
    }
    for path in &forms {
        assert_eq!(post(&app, path, &mallory, &form).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(app.login("victim", PASSWORD).await.status, StatusCode::OK, "still there, still active");
    assert_eq!(crate::helpers::texts(&app.history(&victim, &chat, "").await)[0], "mine");
}

#[tokio::test]
async fn an_operator_finds_and_deactivates_an_account_whose_page_session_ends_at_once() {
    let app = TestApp::spawn().await;
    let admin = operator(&app).await;
    let nina = signed_in(&app, "nina_k").await;
    signed_in(&app, "oscar").await;

    let search = get(&app, "/admin/users?q=NINA", &admin).await;
    assert_eq!(search.status, StatusCode::OK, "{}", search.text);
    assert!(search.text.contains("nina_k") && !search.text.contains("oscar"), "{}", search.text);
    assert_eq!(search.text.matches("<h1").count(), 1);
    assert!(search.text.contains(r#"href="/admin">Admin</a>"#), "the header links the admin for operators");
    let nina_id = search.text.split("/admin/users/").nth(1).unwrap().split('"').next().unwrap().to_owned();

    let view = get(&app, &format!("/admin/users/{nina_id}"), &admin).await;
    assert!(view.text.contains("<h1>nina_k</h1>") && view.text.contains("id=\"deactivate\""), "{}", view.text);
    let token = csrf(&view);
    let path = format!("/admin/users/{nina_id}/deactivate");
    assert_eq!(post(&app, &path, &admin, "csrf_token=wrong").await.status, StatusCode::FORBIDDEN);
    assert_eq!(get(&app, "/chats", &nina).await.status, StatusCode::OK, "a refused form changed nothing");

    let done = post(&app, &path, &admin, &format!("csrf_token={token}")).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert!(done.text.contains("The account is deactivated.") && done.text.contains("id=\"reactivate\""));
    let after = get(&app, "/chats", &nina).await;
    assert!(location(&after).starts_with("/login"), "her page session ended with the deactivation");
    assert_eq!(app.login("nina_k", PASSWORD).await.status, StatusCode::FORBIDDEN);

    let again = post(&app, &format!("/admin/users/{nina_id}/reactivate"), &admin, &format!("csrf_token={token}")).await;
    assert!(again.text.contains("The account is active again."), "{}", again.text);
    assert_eq!(app.login("nina_k", PASSWORD).await.status, StatusCode::OK);

    let bad = get(&app, "/admin/users?after=nope", &admin).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn deleting_an_account_needs_confirmation_and_the_audit_page_shows_the_deletion_with_its_diff() {
    let app = TestApp::spawn().await;
    let admin = operator(&app).await;
    let pat = app.person("pat_q").await;
    let view = get(&app, &format!("/admin/users/{}", pat.id), &admin).await;
    let token = csrf(&view);
    let path = format!("/admin/users/{}/delete", pat.id);

    let unconfirmed = post(&app, &path, &admin, &format!("csrf_token={token}&confirm=yes")).await;
    assert_eq!(unconfirmed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unconfirmed.text.contains("type “delete” to confirm"), "{}", unconfirmed.text);
    assert_eq!(app.get("/api/v1/me", Some(&pat.token)).await.status, StatusCode::OK);

    let deleted = post(&app, &path, &admin, &format!("csrf_token={token}&confirm=delete")).await;
    assert_eq!(location(&deleted), "/admin/audit?entity=user&action=delete");
    assert_eq!(app.get("/api/v1/me", Some(&pat.token)).await.status, StatusCode::UNAUTHORIZED);
    let audit = get(&app, "/admin/audit?entity=user&action=delete", &admin).await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.text);
    assert!(audit.text.contains(&format!("user {}", pat.id)), "{}", audit.text);
    assert!(audit.text.contains(r#"<strong class="action">delete</strong>"#));
    assert!(audit.text.contains(">operator</a>"), "the operator is named as the actor");
    assert!(
        audit
            .text
            .contains(r#"<th scope="row">username</th><td class="before">[deleted]</td><td class="after">—</td>"#),
        "{}",
        audit.text
    );
}

#[tokio::test]
async fn chats_and_messages_are_moderated_from_their_pages() {
    let app = TestApp::spawn().await;
    let admin = operator(&app).await;
    let (ann, bob) = (app.person("ann").await, app.person("bob").await);
    let chat = app.group(&ann, "Garden club", &[&bob]).await;
    let spam = app.say(&bob, &chat, "cheap pills").await["id"].as_str().unwrap().to_owned();

    let chats = get(&app, "/admin/chats", &admin).await;
    assert!(chats.text.contains("Garden club") && chats.text.contains("<td>2</td>"), "{}", chats.text);
    let detail = get(&app, &format!("/admin/chats/{chat}"), &admin).await;
    assert!(
        detail.text.contains(">ann</a>") && detail.text.contains(r#"<span class="role">owner</span>"#),
        "{}",
        detail.text
    );

    let found = get(&app, &format!("/admin/messages?chat_id={chat}&author_id={}", bob.id), &admin).await;
    assert!(found.text.contains("cheap pills"), "{}", found.text);
    let token = csrf(&found);
    let back = format!("/admin/messages?chat_id={chat}");
    let form = format!("csrf_token={token}&back={}", back.replace('?', "%3F").replace('=', "%3D"));
    let removed = post(&app, &format!("/admin/messages/{spam}/delete"), &admin, &form).await;
    assert_eq!(location(&removed), format!("{back}#message-{spam}"));
    let history = app.history(&ann, &chat, "").await;
    assert!(
        history.data()["messages"].as_array().unwrap().iter().any(|m| m["id"] == spam.as_str() && m["deleted"] == true)
    );
    let bad = get(&app, "/admin/messages?chat_id=garden", &admin).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad.text.contains(r#"<span id="chat_id-error" class="field-error">must be a chat id</span>"#),
        "{}",
        bad.text
    );

    let path = format!("/admin/chats/{chat}/delete");
    assert_eq!(post(&app, &path, &admin, "confirm=delete").await.status, StatusCode::FORBIDDEN, "no CSRF token");
    assert_eq!(
        post(&app, &path, &admin, &format!("csrf_token={token}")).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let deleted = post(&app, &path, &admin, &format!("csrf_token={token}&confirm=delete")).await;
    assert_eq!(location(&deleted), "/admin/chats");
    assert_eq!(app.history(&ann, &chat, "").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_audit_page_filters_and_pages_and_names_bad_filters_beside_their_fields() {
    let app = TestApp::spawn().await;
    let admin = operator(&app).await;
    let ann = app.person("ann").await;
    for name in ["One", "Two", "Three"] {
        let changed =
            app.send_json(Method::PATCH, "/api/v1/me", serde_json::json!({"first_name": name}), Some(&ann.token)).await;
        assert_eq!(changed.status, StatusCode::OK);
    }
    let first = get(&app, &format!("/admin/audit?actor_id={}&action=update&limit=2", ann.id), &admin).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert!(first.text.contains(r#"<td class="before">Two</td><td class="after">Three</td>"#), "{}", first.text);
    assert!(!first.text.contains(r#"<td class="after">One</td>"#));
    let next = first
        .text
        .split(r#"<a href=""#)
        .filter_map(|s| s.split('"').next())
        .find(|h| h.contains("before="))
        .unwrap()
        .replace("&amp;", "&")
        .replace("&#x2f;", "/");
    let second = get(&app, &next, &admin).await;
    assert!(
        second.text.contains(r#"<td class="after">One</td>"#) && !second.text.contains("Older entries"),
        "{}",
        second.text
    );

    let bad = get(&app, "/admin/audit?since=last+week&entity=user", &admin).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text.contains(r#"id="since-error""#) && bad.text.contains(r#"value="user""#), "{}", bad.text);
    let local = get(&app, "/admin/audit?since=2000-01-01T00%3A00&until=2000-01-02T00%3A00", &admin).await;
    assert!(local.status == StatusCode::OK && local.text.contains("No entries match."), "{}", local.text);
}
