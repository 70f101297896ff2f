//! Own profile, public profiles and the user directory.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, access_token, token};

#[tokio::test]
async fn the_own_profile_has_every_field() {
    let app = TestApp::spawn().await;
    let me_token = access_token(&app, "alice@example.org").await;
    let me = app.get("/api/v1/me", Some(&me_token)).await;
    assert_eq!(me.status, StatusCode::OK);
    let user = &me.data()["user"];
    for field in ["id", "username", "email", "phone", "first_name", "last_name", "gender", "avatar", "created_at"] {
        assert!(user.get(field).is_some(), "{field} missing from {user}");
    }
    assert_eq!(user["email"], "alice@example.org");
    assert_eq!(user["gender"], "unspecified");
}

#[tokio::test]
async fn editing_the_profile_changes_only_what_is_sent() {
    let app = TestApp::spawn().await;
    let t = access_token(&app, "alice@example.org").await;
    let response = app
        .send_json(
            Method::PATCH,
            "/api/v1/me",
            json!({"username": "Alice", "first_name": "  Alice ", "gender": "female", "phone": "+1 415 555 2671"}),
            Some(&t),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    let user = &response.data()["user"];
    assert_eq!(user["username"], "Alice");
    assert_eq!(user["first_name"], "Alice");
    assert_eq!(user["gender"], "female");
    assert_eq!(user["phone"], "+14155552671");
    assert_eq!(user["email"], "alice@example.org", "untouched");

    // null clears; an empty object changes nothing.
    let cleared = app.send_json(Method::PATCH, "/api/v1/me", json!({"first_name": null}), Some(&t)).await;
    assert_eq!(cleared.data()["user"]["first_name"], serde_json::Value::Null);
    let same = app.send_json(Method::PATCH, "/api/v1/me", json!({}), Some(&t)).await;
    assert_eq!(same.data()["user"]["username"], "Alice");

    // The new identifiers sign in; the change is what GET shows.
    assert_eq!(app.login("alice", PASSWORD).await.status, StatusCode::OK);
    assert_eq!(app.login("+14155552671", PASSWORD).await.status, StatusCode::OK);
    assert_eq!(app.get("/api/v1/me", Some(&t)).await.data()["user"]["gender"], "female");
}

#[tokio::test]
async fn identifiers_stay_unique_and_valid() {
    let app = TestApp::spawn().await;
    app.register("bob").await;
    app.register("bob@example.org").await;
    let t = access_token(&app, "carol").await;
    for (body, field) in [(json!({"username": "BOB"}), "username"), (json!({"email": "Bob@Example.org"}), "email")] {
        let response = app.send_json(Method::PATCH, "/api/v1/me", body, Some(&t)).await;
        response.assert_fail(StatusCode::CONFLICT);
        assert_eq!(response.data()[field], "is already taken");
    }
    let response = app
        .send_json(
            Method::PATCH,
            "/api/v1/me",
            json!({"username": "no spaces allowed", "email": "nope", "phone": "0800 123", "gender": "other", "first_name": 7}),
            Some(&t),
        )
        .await;
    response.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
    for field in ["username", "email", "phone", "gender", "first_name"] {
        assert!(response.data().get(field).is_some(), "{field} not reported: {}", response.text);
    }
    // Nothing of a refused edit is written.
    assert_eq!(app.get("/api/v1/me", Some(&t)).await.data()["user"]["username"], "carol");
}

#[tokio::test]
async fn read_only_and_unknown_fields_are_refused_by_name() {
    let app = TestApp::spawn().await;
    let t = access_token(&app, "dave").await;
    let response = app
        .send_json(
            Method::PATCH,
            "/api/v1/me",
            json!({"id": "00000000-0000-0000-0000-000000000000", "is_admin": true, "roles": ["admin"], "avatar": null, "password": "x", "shoe_size": 44}),
            Some(&t),
        )
        .await;
    response.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
    for field in ["id", "is_admin", "roles", "avatar", "password", "shoe_size"] {
        assert!(response.data().get(field).is_some(), "{field} not reported: {}", response.text);
    }
    let me = app.get("/api/v1/me", Some(&t)).await;
    assert_ne!(me.data()["user"]["id"], "00000000-0000-0000-0000-000000000000");
}

#[tokio::test]
async fn the_last_identifier_cannot_be_removed() {
    let app = TestApp::spawn().await;
    let t = access_token(&app, "erin").await;
    let response = app.send_json(Method::PATCH, "/api/v1/me", json!({"username": null}), Some(&t)).await;
    response.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.data()["username"].as_str().unwrap().contains("needs"), "{}", response.text);
    // With an e-mail added in the same edit, the username may go.
    let swapped = app
        .send_json(Method::PATCH, "/api/v1/me", json!({"username": null, "email": "erin@example.org"}), Some(&t))
        .await;
    assert_eq!(swapped.status, StatusCode::OK, "{}", swapped.text);
    assert_eq!(app.login("erin@example.org", PASSWORD).await.status, StatusCode::OK);
    assert_eq!(app.login("erin", PASSWORD).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn editing_needs_a_token_and_a_json_object() {
    let app = TestApp::spawn().await;
    let anonymous = app.send_json(Method::PATCH, "/api/v1/me", json!({"first_name": "X"}), None).await;
    anonymous.assert_fail(StatusCode::UNAUTHORIZED);
    let t = access_token(&app, "frank").await;
    app.send_json(Method::PATCH, "/api/v1/me", json!(["first_name"]), Some(&t))
        .await
        .assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_public_profile_never_shows_email_or_phone() {
    let app = TestApp::spawn().await;
    let created = app.register("grace@example.org").await;
    let t = token(&created, "access_token");
    app.send_json(Method::PATCH, "/api/v1/me", json!({"username": "grace", "phone": "+14155552671"}), Some(&t)).await;
    let id = created["user"]["id"].as_str().unwrap();
    // Anyone may look, signed in or not — the owner included, who gets the public view too.
    for viewer in [None, Some(t.as_str())] {
        let response = app.get(&format!("/api/v1/users/{id}"), viewer).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text);
        let user = &response.data()["user"];
        assert_eq!(user["username"], "grace");
        assert!(user.get("email").is_none() && user.get("phone").is_none(), "{user}");
        assert!(!response.text.contains("grace@example.org") && !response.text.contains("4155552671"));
    }
    for missing in ["/api/v1/users/0193a1f0-0000-7000-8000-000000000000", "/api/v1/users/not-a-uuid"] {
        let response = app.get(missing, None).await;
        response.assert_fail(StatusCode::NOT_FOUND);
        assert_eq!(response.reason(), "user_not_found");
    }
}

#[tokio::test]
async fn the_directory_lists_every_id_and_counts_genders() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for (name, gender) in [
        ("user1", "female"),
        ("user2", "female"),
        ("user3", "male"),
        ("user4", "unspecified"),
        ("user5", "unspecified"),
    ] {
        let response = app
            .post_json("/api/v1/auth/register", json!({"identifier": name, "password": PASSWORD, "gender": gender}))
            .await;
        ids.push(response.data()["user"]["id"].as_str().unwrap().to_owned());
    }
    let t = token(&app.login("user1", PASSWORD).await.body["data"], "access_token");
    app.get("/api/v1/users", None).await.assert_fail(StatusCode::UNAUTHORIZED);
    let response = app.get("/api/v1/users", Some(&t)).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    let data = response.data();
    let listed: Vec<&str> = data["user_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(listed, ids, "every account, oldest first");
    assert_eq!(
        (data["count_female"].as_u64(), data["count_male"].as_u64(), data["count_unspecified"].as_u64()),
        (Some(2), Some(1), Some(2))
    );

    // A gender change moves the counts.
    let h3 = token(&app.login("user3", PASSWORD).await.body["data"], "access_token");
    app.send_json(Method::PATCH, "/api/v1/me", json!({"gender": "female"}), Some(&h3)).await;
    let after = app.get("/api/v1/users", Some(&t)).await;
    assert_eq!((after.data()["count_female"].as_u64(), after.data()["count_male"].as_u64()), (Some(3), Some(0)));
}
