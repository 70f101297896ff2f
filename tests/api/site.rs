//! The web site's sessions, forms and pages, through the router (SPEC §3).

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, TestResponse};

/// A page request, with the session cookie when given and a form body for a POST.
pub async fn page(app: &TestApp, method: Method, path: &str, cookie: Option<&str>, form: Option<&str>) -> TestResponse {
    let mut request = TestApp::request(method, path);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, format!("parlor_session={cookie}"));
    }
    let body = match form {
        Some(form) => {
            request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            Body::from(form.to_owned())
        }
        None => Body::empty(),
    };
    app.send(request.body(body).unwrap()).await
}

/// The secret the response's `Set-Cookie` gives `parlor_session`, and the cookie's attributes.
pub fn session_cookie(response: &TestResponse) -> (String, String) {
    let set = response.header("set-cookie").to_owned();
    let value = set.strip_prefix("parlor_session=").expect("a session cookie").split(';').next().unwrap().to_owned();
    (value, set)
}

/// The `csrf_token` a page's forms carry.
pub fn csrf(response: &TestResponse) -> String {
    let marker = r#"name="csrf_token" value=""#;
    let start = response.text.find(marker).expect("a form with a CSRF token") + marker.len();
    response.text[start..].split('"').next().unwrap().to_owned()
}

/// A signed-out form post as a browser makes it: the page (`/login` or `/register`) is loaded
/// first, and its form cookie and token go with the form.
pub async fn signed_out_post(app: &TestApp, path: &str, form: &str) -> TestResponse {
    let (cookie, token) = form_cookie(app, path).await;
    let request = TestApp::request(Method::POST, path)
        .header(header::COOKIE, format!("parlor_form={cookie}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    app.send(request.body(Body::from(format!("csrf_token={token}&{form}"))).unwrap()).await
}

/// The form cookie a signed-out page sets, and the token its form carries.
pub async fn form_cookie(app: &TestApp, path: &str) -> (String, String) {
    let response = page(app, Method::GET, path, None, None).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    let set = response.header("set-cookie").to_owned();
    let cookie = set.strip_prefix("parlor_form=").expect("a form cookie").split(';').next().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attribute), "{attribute} missing: {set}");
    }
    (cookie, csrf(&response))
}

pub async fn signed_in(app: &TestApp, identifier: &str) -> String {
    app.register(identifier).await;
    let form = format!("identifier={identifier}&password={}", PASSWORD.replace(' ', "+"));
    let response = signed_out_post(app, "/login", &form).await;
    assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.text);
    session_cookie(&response).0
}

#[tokio::test]
async fn signing_in_sets_a_strict_session_cookie_and_goes_where_it_was_asked() {
    let app = TestApp::spawn().await;
    app.register("alice").await;
    let form = format!("identifier=alice&password={}&next=%2Fchats%3Fx%3D1", PASSWORD.replace(' ', "+"));
    let response = signed_out_post(&app, "/login", &form).await;
    assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.text);
    assert_eq!(response.header("location"), "/chats?x=1");
    let (secret, set_cookie) = session_cookie(&response);
    assert!(secret.len() >= 32, "{set_cookie}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{attribute} missing: {set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "not on an http public_url: {set_cookie}");

    let chats = page(&app, Method::GET, "/chats", Some(&secret), None).await;
    assert_eq!(chats.status, StatusCode::OK, "{}", chats.text);
    assert!(chats.text.contains("<h1>Chats</h1>") && chats.text.contains("alice"), "{}", chats.text);
    assert_eq!(chats.text.matches("<h1").count(), 1, "one h1 per page");

    // The web session is a session like the API's: it is listed among the account's sessions.
    let token = crate::helpers::token(&app.login("alice", PASSWORD).await.body["data"], "access_token");
    let sessions = app.get("/api/v1/me/sessions", Some(&token)).await;
    assert_eq!(sessions.data()["sessions"].as_array().unwrap().len(), 3, "{}", sessions.text);
}

#[tokio::test]
async fn a_next_elsewhere_is_ignored_and_wrong_credentials_say_so_beside_the_form() {
    let app = TestApp::spawn().await;
    app.register("bob").await;
    let form = format!("identifier=bob&password={}&next=https%3A%2F%2Fevil.example%2F", PASSWORD.replace(' ', "+"));
    let response = signed_out_post(&app, "/login", &form).await;
    assert_eq!(response.header("location"), "/chats");

    let wrong = signed_out_post(&app, "/login", "identifier=bob&password=nope").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.header("set-cookie").is_empty());
    assert!(wrong.text.contains("identifier or password is incorrect"), "{}", wrong.text);
    assert!(wrong.text.contains(r#"value="bob""#), "the identifier is kept: {}", wrong.text);
}

#[tokio::test]
async fn signing_in_or_registering_needs_the_form_cookie_and_its_token_so_no_other_site_can_sign_a_visitor_in() {
    let app = TestApp::spawn().await;
    app.register("mallory").await;
    let login = format!("identifier=mallory&password={}", PASSWORD.replace(' ', "+"));
    let register = format!("identifier=victim&password={}", PASSWORD.replace(' ', "+"));
    let (cookie, token) = form_cookie(&app, "/login").await;
    let (_, other_token) = form_cookie(&app, "/register").await;
    for (path, form) in [("/login", &login), ("/register", &register)] {
        // Another site's post: no form cookie (SameSite=Strict), a token of its own browser, or none.
        for (with_cookie, with_token) in [
            (None, None),
            (None, Some(token.as_str())),
            (Some(cookie.as_str()), None),
            (Some(cookie.as_str()), Some(other_token.as_str())),
        ] {
            let mut request =
                TestApp::request(Method::POST, path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            if let Some(cookie) = with_cookie {
                request = request.header(header::COOKIE, format!("parlor_form={cookie}"));
            }
            let body = match with_token {
                Some(token) => format!("csrf_token={token}&{form}"),
                None => form.clone(),
            };
            let response = app.send(request.body(Body::from(body)).unwrap()).await;
            assert_eq!(
                response.status,
                StatusCode::FORBIDDEN,
                "{path} {with_cookie:?} {with_token:?}: {}",
                response.text
            );
            assert!(response.text.contains("this form has expired"), "{}", response.text);
            assert!(!response.header("set-cookie").starts_with("parlor_session="), "no session was made");
        }
    }
    assert_eq!(app.login("victim", PASSWORD).await.status, StatusCode::UNAUTHORIZED, "no account was registered");
    // The same browser's cookie and token sign in.
    let request = TestApp::request(Method::POST, "/login")
        .header(header::COOKIE, format!("parlor_form={cookie}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    let response = app.send(request.body(Body::from(format!("csrf_token={token}&{login}"))).unwrap()).await;
    assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.text);
    assert!(response.header("set-cookie").starts_with("parlor_session="));
}

#[tokio::test]
async fn signed_out_pages_redirect_to_login_with_the_way_back() {
    let app = TestApp::spawn().await;
    for cookie in [None, Some("not-a-session")] {
        let response = page(&app, Method::GET, "/chats", cookie, None).await;
        assert_eq!(response.status, StatusCode::SEE_OTHER);
        assert_eq!(response.header("location"), "/login?next=%2Fchats");
    }
    let (chat, message) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    for path in [
        format!("/chats/{chat}"),
        format!("/chats/{chat}/messages/{message}/forward"),
        "/profile".to_owned(),
        "/admin/audit".to_owned(),
    ] {
        let response = page(&app, Method::GET, &path, None, None).await;
        assert_eq!(response.status, StatusCode::SEE_OTHER, "{path}");
        assert!(response.header("location").starts_with("/login?next=%2F"), "{path}");
    }
    for path in [format!("/chats/{chat}/messages"), format!("/chats/{chat}/rename"), "/profile".to_owned()] {
        let response = page(&app, Method::POST, &path, None, Some("csrf_token=x&text=y")).await;
        assert!(location(&response).starts_with("/login?next="), "{path}");
    }
    let root = page(&app, Method::GET, "/", None, None).await;
    assert_eq!((root.status, root.header("location")), (StatusCode::SEE_OTHER, "/login"));
    let login = page(&app, Method::GET, "/login?next=/chats", None, None).await;
    assert_eq!(login.status, StatusCode::OK);
    for label in [r#"<label for="identifier">"#, r#"<label for="password">"#] {
        assert!(login.text.contains(label), "{label}: {}", login.text);
    }
}

#[tokio::test]
async fn registration_shows_the_apis_messages_beside_their_fields_and_keeps_nothing_half_done() {
    let app = TestApp::spawn().await;
    let bad = signed_out_post(&app, "/register", "identifier=carol&password=short&email=nope").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
    assert!(bad.text.contains(r#"id="password-error""#) && bad.text.contains(r#"id="email-error""#), "{}", bad.text);
    assert!(bad.header("set-cookie").is_empty());
    assert_eq!(app.login("carol", "short").await.status, StatusCode::UNAUTHORIZED, "no account was made");

    let form = format!("identifier=carol&password={}&first_name=Carol", PASSWORD.replace(' ', "+"));
    let good = signed_out_post(&app, "/register", &form).await;
    assert_eq!((good.status, good.header("location")), (StatusCode::SEE_OTHER, "/chats"), "{}", good.text);
    let (secret, _) = session_cookie(&good);
    assert_eq!(page(&app, Method::GET, "/chats", Some(&secret), None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn signing_out_needs_the_sessions_csrf_token_and_then_ends_the_session() {
    let app = TestApp::spawn().await;
    let secret = signed_in(&app, "dave").await;
    let chats = page(&app, Method::GET, "/chats", Some(&secret), None).await;
    let token = csrf(&chats);

    for form in ["", "csrf_token=forged", &format!("csrf_token={}", &token[..token.len() - 1])] {
        let refused = page(&app, Method::POST, "/logout", Some(&secret), Some(form)).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{form}");
        assert_eq!(page(&app, Method::GET, "/chats", Some(&secret), None).await.status, StatusCode::OK, "still in");
    }
    // Another session's token is no good either.
    let other = signed_in(&app, "erin").await;
    let others_token = csrf(&page(&app, Method::GET, "/chats", Some(&other), None).await);
    let refused = page(&app, Method::POST, "/logout", Some(&secret), Some(&format!("csrf_token={others_token}"))).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let out = page(&app, Method::POST, "/logout", Some(&secret), Some(&format!("csrf_token={token}"))).await;
    assert_eq!((out.status, out.header("location")), (StatusCode::SEE_OTHER, "/login"));
    assert!(out.header("set-cookie").starts_with("parlor_session=;"), "{}", out.header("set-cookie"));
    assert_eq!(page(&app, Method::GET, "/chats", Some(&secret), None).await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn ending_the_session_elsewhere_ends_the_page_session_at_once() {
    let app = TestApp::spawn().await;
    let secret = signed_in(&app, "frank").await;
    let token = crate::helpers::token(&app.login("frank", PASSWORD).await.body["data"], "access_token");
    let sessions = app.get("/api/v1/me/sessions", Some(&token)).await;
    // Every other session of the account (the registration's and the page's) signed out by API.
    for other in sessions.data()["sessions"].as_array().unwrap().iter().filter(|s| s["current"] == false) {
        let path = format!("/api/v1/me/sessions/{}", other["id"].as_str().unwrap());
        assert_eq!(app.call(Method::DELETE, &path, &token).await.status, StatusCode::OK);
    }
    assert_eq!(page(&app, Method::GET, "/chats", Some(&secret), None).await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn pages_carry_a_strict_content_security_policy_and_refuse_framing() {
    let app = TestApp::spawn().await;
    let login = page(&app, Method::GET, "/login", None, None).await;
    let csp = login.header("content-security-policy");
    for directive in ["default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'self'"] {
        assert!(csp.contains(directive), "{directive}: {csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(login.header("x-frame-options"), "DENY");
    assert_eq!(login.header("referrer-policy"), "same-origin");
    assert!(!login.text.contains("<script>") && !login.text.contains("style="), "no inline script or style");
}

/// The path a 303 answer points at.
pub fn location(response: &TestResponse) -> String {
    assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.text);
    response.header("location").to_owned()
}

#[tokio::test]
async fn a_group_started_on_the_chat_list_is_a_page_where_members_talk_like_and_delete() {
    let app = TestApp::spawn().await;
    let (gina, hank) = (signed_in(&app, "gina").await, signed_in(&app, "hank").await);
    let list = page(&app, Method::GET, "/chats", Some(&gina), None).await;
    let token = csrf(&list);
    let form = format!("csrf_token={token}&title=Book+club&members=hank");
    let chat_path = location(&page(&app, Method::POST, "/chats", Some(&gina), Some(&form)).await);
    assert!(chat_path.starts_with("/chats/"), "{chat_path}");

    let chat = page(&app, Method::GET, &chat_path, Some(&gina), None).await;
    assert_eq!(chat.status, StatusCode::OK, "{}", chat.text);
    assert!(chat.text.contains(r#"<h1 id="chat-name">Book club</h1>"#), "{}", chat.text);
    assert!(chat.text.contains(r#"<span class="name">gina</span> <span class="role">owner</span>"#), "{}", chat.text);
    assert!(chat.text.contains(r#"<span class="name">hank</span> <span class="role">member</span>"#), "{}", chat.text);

    // Hank sends; without his session's token nothing is sent.
    let hanks_token = csrf(&page(&app, Method::GET, &chat_path, Some(&hank), None).await);
    let send = format!("{chat_path}/messages");
    let forged = page(&app, Method::POST, &send, Some(&hank), Some(&format!("csrf_token={token}&text=forged"))).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let sent =
        page(&app, Method::POST, &send, Some(&hank), Some(&format!("csrf_token={hanks_token}&text=Hello+all"))).await;
    assert_eq!(location(&sent), chat_path);
    let seen = page(&app, Method::GET, &chat_path, Some(&gina), None).await;
    assert!(seen.text.contains(r#"<span class="text">Hello all</span>"#), "{}", seen.text);
    assert!(!seen.text.contains("forged"));
    let blank = page(&app, Method::POST, &send, Some(&hank), Some(&format!("csrf_token={hanks_token}&text=+++"))).await;
    assert_eq!(blank.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(blank.text.contains("text must not be blank"), "{}", blank.text);

    // Gina likes it, then deletes it as the group's owner: a tombstone stays.
    let id_marker = r#"<li id="message-"#;
    let last = seen.text.rfind(id_marker).unwrap() + id_marker.len();
    let message_id = seen.text[last..].split('"').next().unwrap().to_owned();
    let like = format!("{chat_path}/messages/{message_id}/like");
    location(&page(&app, Method::POST, &like, Some(&gina), Some(&format!("csrf_token={token}"))).await);
    let liked = page(&app, Method::GET, &chat_path, Some(&hank), None).await;
    assert!(
        liked.text.contains(&format!(r#"<span class="likes" id="likes-{message_id}">1 likes</span>"#)),
        "{}",
        liked.text
    );
    let delete = format!("{chat_path}/messages/{message_id}/delete");
    location(&page(&app, Method::POST, &delete, Some(&gina), Some(&format!("csrf_token={token}"))).await);
    let after = page(&app, Method::GET, &chat_path, Some(&hank), None).await;
    assert!(after.text.contains("<em>message deleted</em>") && !after.text.contains("Hello all"), "{}", after.text);
}

#[tokio::test]
async fn a_chat_page_edits_forwards_attaches_and_manages_members_and_the_chat_by_form_posts() {
    let app = TestApp::spawn().await;
    let (lena, milo) = (signed_in(&app, "lena").await, signed_in(&app, "milo").await);
    signed_in(&app, "nora").await;
    let token = csrf(&page(&app, Method::GET, "/chats", Some(&lena), None).await);
    let post = |path: String, cookie: &str, form: String| {
        let (app, cookie) = (&app, cookie.to_owned());
        async move { page(app, Method::POST, &path, Some(&cookie), Some(&form)).await }
    };
    let group = location(&post("/chats".into(), &lena, format!("csrf_token={token}&title=Trip&members=milo")).await);
    let direct = location(&post("/chats".into(), &lena, format!("csrf_token={token}&username=milo")).await);
    location(&post(format!("{group}/messages"), &lena, format!("csrf_token={token}&text=Leave+at+nine")).await);
    let page_text = page(&app, Method::GET, &group, Some(&lena), None).await.text;
    let marker = r#"<li id="message-"#;
    let last = page_text.rfind(marker).unwrap() + marker.len();
    let message = page_text[last..].split('"').next().unwrap().to_owned();
    let message_path = format!("{group}/messages/{message}");

    // Edit my own message; a blank edit is refused beside the form and changes nothing.
    let blank = post(format!("{message_path}/edit"), &lena, format!("csrf_token={token}&text=+")).await;
    assert_eq!(blank.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(blank.text.contains(r#"id="form-error">text: must not be blank"#), "{}", blank.text);
    location(&post(format!("{message_path}/edit"), &lena, format!("csrf_token={token}&text=Leave+at+ten")).await);
    let edited = page(&app, Method::GET, &group, Some(&milo), None).await;
    assert!(edited.text.contains(r#"<span class="text">Leave at ten</span>"#) && edited.text.contains("(edited)"));
    let milos = csrf(&edited);
    assert_eq!(
        post(format!("{message_path}/edit"), &milo, format!("csrf_token={milos}&text=mine+now")).await.status,
        StatusCode::FORBIDDEN,
        "nobody edits another's message"
    );

    // Forward it to the direct chat: the page lists my other chats, the post lands there.
    let choose = page(&app, Method::GET, &format!("{message_path}/forward"), Some(&lena), None).await;
    assert!(choose.text.contains(&format!(r#"<option value="{}">milo</option>"#, &direct[7..])), "{}", choose.text);
    let forwarded = location(
        &post(format!("{message_path}/forward"), &lena, format!("csrf_token={token}&to_chat_id={}", &direct[7..]))
            .await,
    );
    assert!(forwarded.starts_with(&format!("{direct}#message-")), "{forwarded}");
    let there = page(&app, Method::GET, &direct, Some(&milo), None).await;
    assert!(there.text.contains("forwarded") && there.text.contains("Leave at ten"), "{}", there.text);

    // A file with a caption; without a file nothing is sent.
    let boundary = "XPARLORX";
    let multipart = |with_file: bool| {
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{token}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nthe map\r\n"
        )
        .into_bytes();
        if with_file {
            body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"map.png\"\r\nContent-Type: image/png\r\n\r\n").bytes());
            body.extend(crate::helpers::png(64, 48, [10, 120, 200]));
            body.extend(b"\r\n");
        }
        body.extend(format!("--{boundary}--\r\n").bytes());
        body
    };
    let send_file = |body: Vec<u8>| {
        let request = TestApp::request(Method::POST, &format!("{group}/attachments"))
            .header(header::COOKIE, format!("parlor_session={lena}"))
            .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
            .body(Body::from(body))
            .unwrap();
        app.send(request)
    };
    let missing = send_file(multipart(false)).await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(missing.text.contains("file: choose a file to send"), "{}", missing.text);
    assert!(location(&send_file(multipart(true)).await).starts_with(&format!("{group}#message-")));
    let with_file = page(&app, Method::GET, &group, Some(&milo), None).await;
    assert!(
        with_file.text.contains(r#"alt="map.png" class="preview""#) && with_file.text.contains("the map"),
        "{}",
        with_file.text
    );

    // Members: add nora, make her an admin, remove her; a member may not remove anyone.
    let unknown = post(format!("{group}/members"), &lena, format!("csrf_token={token}&members=nobody")).await;
    assert!(unknown.text.contains("members: no such user: nobody"), "{}", unknown.text);
    location(&post(format!("{group}/members"), &lena, format!("csrf_token={token}&members=nora")).await);
    let members = page(&app, Method::GET, &group, Some(&lena), None).await;
    let nora = members
        .text
        .split(r#"data-name="nora""#)
        .next()
        .unwrap()
        .rsplit(r#"data-user-id=""#)
        .next()
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    location(&post(format!("{group}/members/{nora}/role"), &lena, format!("csrf_token={token}&role=admin")).await);
    let promoted = page(&app, Method::GET, &group, Some(&milo), None).await;
    assert!(promoted.text.contains(r#"<span class="name">nora</span> <span class="role">admin</span>"#));
    assert!(!promoted.text.contains(&format!("/members/{nora}/remove")), "milo is offered no removal");
    let refused = post(format!("{group}/members/{nora}/remove"), &milo, format!("csrf_token={milos}")).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.text.contains("only the owner may remove admins"), "{}", refused.text);
    location(&post(format!("{group}/members/{nora}/remove"), &lena, format!("csrf_token={token}")).await);

    // Rename, milo leaves, and the chat is deleted once confirmed.
    location(&post(format!("{group}/rename"), &lena, format!("csrf_token={token}&title=Summer+trip")).await);
    assert!(
        page(&app, Method::GET, &group, Some(&lena), None)
            .await
            .text
            .contains(r#"<h1 id="chat-name">Summer trip</h1>"#)
    );
    assert_eq!(location(&post(format!("{group}/leave"), &milo, format!("csrf_token={milos}")).await), "/chats");
    assert_eq!(page(&app, Method::GET, &group, Some(&milo), None).await.status, StatusCode::NOT_FOUND);
    let unconfirmed = post(format!("{group}/delete"), &lena, format!("csrf_token={token}&confirm=no")).await;
    assert_eq!(unconfirmed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        location(&post(format!("{group}/delete"), &lena, format!("csrf_token={token}&confirm=delete")).await),
        "/chats"
    );
    assert_eq!(page(&app, Method::GET, &group, Some(&lena), None).await.status, StatusCode::NOT_FOUND);

    // Typing is said by the page's script and answered with no content; it too needs the token.
    assert_eq!(
        post(format!("{direct}/typing"), &lena, format!("csrf_token={token}")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(post(format!("{direct}/typing"), &lena, "csrf_token=x".into()).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn reading_a_chat_on_its_page_clears_its_unread_count_but_only_by_a_post() {
    let app = TestApp::spawn().await;
    let (olga, pete) = (signed_in(&app, "olga").await, signed_in(&app, "pete").await);
    let token = csrf(&page(&app, Method::GET, "/chats", Some(&olga), None).await);
    let chat = location(
        &page(&app, Method::POST, "/chats", Some(&olga), Some(&format!("csrf_token={token}&username=pete"))).await,
    );
    for text in ["one", "two"] {
        let sent = page(
            &app,
            Method::POST,
            &format!("{chat}/messages"),
            Some(&olga),
            Some(&format!("csrf_token={token}&text={text}")),
        )
        .await;
        location(&sent);
    }
    let list = page(&app, Method::GET, "/chats", Some(&pete), None).await;
    assert!(list.text.contains(r#"<span class="unread">2 unread</span>"#), "{}", list.text);
    let opened = page(&app, Method::GET, &chat, Some(&pete), None).await;
    assert!(opened.text.contains("2 unread <button"), "{}", opened.text);
    assert!(
        page(&app, Method::GET, "/chats", Some(&pete), None).await.text.contains("2 unread"),
        "a GET changes nothing"
    );
    let newest = opened.text.split(r#"data-newest=""#).nth(1).unwrap().split('"').next().unwrap().to_owned();
    let petes = csrf(&opened);
    let read = page(
        &app,
        Method::POST,
        &format!("{chat}/read"),
        Some(&pete),
        Some(&format!("csrf_token={petes}&message_id={newest}")),
    )
    .await;
    assert_eq!(location(&read), chat);
    let after = page(&app, Method::GET, "/chats", Some(&pete), None).await;
    assert!(!after.text.contains("unread</span>"), "{}", after.text);
    let quiet = page(
        &app,
        Method::POST,
        &format!("{chat}/read"),
        Some(&pete),
        Some(&format!("csrf_token={petes}&message_id={newest}&quiet=1")),
    )
    .await;
    assert_eq!(quiet.status, StatusCode::NO_CONTENT);
    let forged =
        page(&app, Method::POST, &format!("{chat}/read"), Some(&pete), Some(&format!("message_id={newest}"))).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    // Pinning from the page puts the chat first on the list, with its mark.
    location(
        &page(&app, Method::POST, &format!("{chat}/pin"), Some(&pete), Some(&format!("csrf_token={petes}"))).await,
    );
    assert!(page(&app, Method::GET, "/chats", Some(&pete), None).await.text.contains("<span>pinned</span>"));
    let pinned = page(&app, Method::GET, &chat, Some(&pete), None).await;
    assert!(pinned.text.contains(">Unpin</button>"), "{}", pinned.text);
}

#[tokio::test]
async fn every_form_refuses_a_post_without_the_sessions_token_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let (quin, rosa) = (signed_in(&app, "quin").await, signed_in(&app, "rosa").await);
    let token = csrf(&page(&app, Method::GET, "/chats", Some(&quin), None).await);
    let group = location(
        &page(&app, Method::POST, "/chats", Some(&quin), Some(&format!("csrf_token={token}&title=Club&members=rosa")))
            .await,
    );
    location(
        &page(
            &app,
            Method::POST,
            &format!("{group}/messages"),
            Some(&quin),
            Some(&format!("csrf_token={token}&text=kept")),
        )
        .await,
    );
    let before = page(&app, Method::GET, &group, Some(&quin), None).await.text;
    let marker = r#"<li id="message-"#;
    let message = before[before.rfind(marker).unwrap() + marker.len()..].split('"').next().unwrap().to_owned();
    let rosa_id = before
        .split(r#"data-name="rosa""#)
        .next()
        .unwrap()
        .rsplit(r#"data-user-id=""#)
        .next()
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let forms = [
        ("/logout".to_owned(), String::new()),
        ("/chats".to_owned(), "title=Other".to_owned()),
        (format!("{group}/messages"), "text=forged".to_owned()),
        (format!("{group}/messages/{message}/like"), String::new()),
        (format!("{group}/messages/{message}/delete"), String::new()),
        (format!("{group}/messages/{message}/edit"), "text=forged".to_owned()),
        (format!("{group}/messages/{message}/forward"), format!("to_chat_id={}", &group[7..])),
        (format!("{group}/members"), "members=quin".to_owned()),
        (format!("{group}/members/{rosa_id}/remove"), String::new()),
        (format!("{group}/members/{rosa_id}/role"), "role=admin".to_owned()),
        (format!("{group}/rename"), "title=Forged".to_owned()),
        (format!("{group}/pin"), String::new()),
        (format!("{group}/read"), format!("message_id={message}")),
        (format!("{group}/leave"), String::new()),
        (format!("{group}/delete"), "confirm=delete".to_owned()),
        ("/profile".to_owned(), "first_name=Forged".to_owned()),
        ("/profile/password".to_owned(), "current_password=x&new_password=y".to_owned()),
        ("/profile/delete".to_owned(), "confirm=delete".to_owned()),
    ];
    for (path, fields) in &forms {
        for token in [
            "",
            "csrf_token=wrong&",
            &format!("csrf_token={}&", csrf(&page(&app, Method::GET, "/chats", Some(&rosa), None).await)),
        ] {
            let answer = page(&app, Method::POST, path, Some(&quin), Some(&format!("{token}{fields}"))).await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path} with {token:?}");
        }
    }
    let after = page(&app, Method::GET, &group, Some(&quin), None).await;
    assert_eq!(after.status, StatusCode::OK, "quin is still signed in and in the group");
    let strip = |html: &str| html.replace(char::is_whitespace, "");
    assert_eq!(strip(&after.text), strip(&before), "the chat page is exactly as before");
    let profile = page(&app, Method::GET, "/profile", Some(&quin), None).await;
    assert!(!profile.text.contains("Forged"));
    assert!(
        page(&app, Method::GET, "/chats", Some(&quin), None).await.text.matches(r#"<a href="/chats/"#).count() == 1
    );
}

#[tokio::test]
async fn a_chat_that_is_not_mine_or_not_a_chat_is_not_found() {
    let app = TestApp::spawn().await;
    let (ivy, jack, kim) = (signed_in(&app, "ivy").await, signed_in(&app, "jack").await, signed_in(&app, "kim").await);
    let token = csrf(&page(&app, Method::GET, "/chats", Some(&ivy), None).await);
    let chat_path = location(
        &page(&app, Method::POST, "/chats", Some(&ivy), Some(&format!("csrf_token={token}&username=jack"))).await,
    );
    assert_eq!(page(&app, Method::GET, &chat_path, Some(&jack), None).await.status, StatusCode::OK);
    assert_eq!(page(&app, Method::GET, &chat_path, Some(&kim), None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(page(&app, Method::GET, "/chats/not-a-chat", Some(&kim), None).await.status, StatusCode::NOT_FOUND);
    let unknown =
        page(&app, Method::POST, "/chats", Some(&ivy), Some(&format!("csrf_token={token}&username=nobody"))).await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unknown.text.contains("username: no such user"), "{}", unknown.text);
}

#[tokio::test]
async fn a_chat_page_loads_its_script_by_hashed_name_and_its_socket_with_the_session_cookie() {
    use futures::StreamExt as _;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

    let app = TestApp::spawn().await;
    let addr = app.listen().await;
    let (lena, mike) = (signed_in(&app, "lena").await, signed_in(&app, "mike").await);
    let token = csrf(&page(&app, Method::GET, "/chats", Some(&lena), None).await);
    let chat_path = location(
        &page(&app, Method::POST, "/chats", Some(&lena), Some(&format!("csrf_token={token}&username=mike"))).await,
    );
    let chat = page(&app, Method::GET, &chat_path, Some(&lena), None).await;

    // The script: a content-hashed name, cached for good, and no inline script on the page.
    let marker = r#"<script src=""#;
    let start = chat.text.find(marker).expect("a script") + marker.len();
    let src = chat.text[start..].split('"').next().unwrap().to_owned();
    assert!(
        src.starts_with("/static/chat.") && src.ends_with(".js") && src.len() > "/static/chat..js".len() + 8,
        "{src}"
    );
    let script = page(&app, Method::GET, &src, None, None).await;
    assert_eq!(script.status, StatusCode::OK);
    assert!(script.header("content-type").starts_with("text/javascript"));
    assert!(script.header("cache-control").contains("immutable"), "{}", script.header("cache-control"));
    assert!(script.text.contains("/api/v1/ws"));
    assert_eq!(page(&app, Method::GET, "/static/chat.js", None, None).await.status, StatusCode::NOT_FOUND);

    // The page's socket: the cookie is the credential, and other sites' pages may not use it.
    let socket = |origin: Option<&'static str>| {
        let mut request = format!("ws://{addr}/api/v1/ws").into_client_request().unwrap();
        request.headers_mut().insert("cookie", format!("parlor_session={mike}").parse().unwrap());
        if let Some(origin) = origin {
            request.headers_mut().insert("origin", origin.parse().unwrap());
        }
        tokio_tungstenite::connect_async(request)
    };
    assert!(socket(Some("https://evil.example")).await.is_err(), "a foreign origin is refused");
    let (mut ws, _) = socket(None).await.expect("the cookie opens the socket");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let send = format!("{chat_path}/messages");
    location(&page(&app, Method::POST, &send, Some(&lena), Some(&format!("csrf_token={token}&text=Live"))).await);
    let frame = tokio::time::timeout(std::time::Duration::from_secs(5), ws.next()).await.unwrap().unwrap().unwrap();
    let frame: serde_json::Value = serde_json::from_str(frame.to_text().unwrap()).unwrap();
    assert_eq!(frame["event"], "message.created", "{frame}");
    assert_eq!(frame["data"]["message"]["text"], "Live");
}

/// A multipart form with a CSRF token and one file, as the profile's picture form sends it.
async fn upload(app: &TestApp, path: &str, cookie: &str, csrf_token: &str, file: &[u8]) -> TestResponse {
    let boundary = "parlor-site-boundary-42";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{csrf_token}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"me.png\"\r\n\
         Content-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let request = TestApp::request(Method::POST, path)
        .header(header::COOKIE, format!("parlor_session={cookie}"))
        .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
        .body(Body::from(body))
        .unwrap();
    app.send(request).await
}

#[tokio::test]
async fn the_profile_page_edits_details_with_the_apis_rules_and_shows_a_new_picture() {
    let app = TestApp::spawn().await;
    let nina = signed_in(&app, "nina").await;
    let profile = page(&app, Method::GET, "/profile", Some(&nina), None).await;
    assert_eq!(profile.status, StatusCode::OK, "{}", profile.text);
    assert!(profile.text.contains(r#"id="username" name="username" value="nina""#), "{}", profile.text);
    let token = csrf(&profile);

    let forged = page(&app, Method::POST, "/profile", Some(&nina), Some("username=nina&first_name=Forged")).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let bad = format!("csrf_token={token}&username=nina&email=not-an-address&first_name=Nina");
    let refused = page(&app, Method::POST, "/profile", Some(&nina), Some(&bad)).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text.contains(r#"id="email-error""#), "{}", refused.text);
    let saved = format!("csrf_token={token}&username=nina&email=nina%40example.org&first_name=Nina&gender=female");
    assert_eq!(location(&page(&app, Method::POST, "/profile", Some(&nina), Some(&saved)).await), "/profile");
    let token_api = crate::helpers::token(&app.login("nina@example.org", PASSWORD).await.body["data"], "access_token");
    let me = app.get("/api/v1/me", Some(&token_api)).await;
    assert_eq!(
        (me.data()["user"]["first_name"].as_str(), me.data()["user"]["gender"].as_str()),
        (Some("Nina"), Some("female"))
    );

    // A picture: refused without the token, shown once uploaded.
    let picture = crate::helpers::png(64, 64, [200, 30, 30]);
    assert_eq!(upload(&app, "/profile/avatar", &nina, "forged", &picture).await.status, StatusCode::FORBIDDEN);
    assert_eq!(location(&upload(&app, "/profile/avatar", &nina, &token, &picture).await), "/profile");
    let shown = page(&app, Method::GET, "/profile", Some(&nina), None).await;
    assert!(shown.text.contains(r#"id="avatar""#) && shown.text.contains("100x100.jpg"), "{}", shown.text);
    let not_an_image = upload(&app, "/profile/avatar", &nina, &token, b"<svg/>").await;
    assert_eq!(not_an_image.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", not_an_image.text);
}

#[tokio::test]
async fn the_profile_page_changes_the_password_ends_sessions_and_deletes_the_account_once_confirmed() {
    let app = TestApp::spawn().await;
    let olga = signed_in(&app, "olga").await;
    let token = csrf(&page(&app, Method::GET, "/profile", Some(&olga), None).await);
    let api = crate::helpers::token(&app.login("olga", PASSWORD).await.body["data"], "access_token");

    let wrong = format!("csrf_token={token}&current_password=nope&new_password=another+long+passphrase");
    let refused = page(&app, Method::POST, "/profile/password", Some(&olga), Some(&wrong)).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text.contains(r#"id="current_password-error""#), "{}", refused.text);
    let right = format!(
        "csrf_token={token}&current_password={}&new_password=another+long+passphrase",
        PASSWORD.replace(' ', "+")
    );
    let changed = page(&app, Method::POST, "/profile/password", Some(&olga), Some(&right)).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert!(changed.text.contains("password changed"), "{}", changed.text);
    assert_eq!(app.get("/api/v1/me", Some(&api)).await.status, StatusCode::UNAUTHORIZED, "other sessions ended");
    assert_eq!(page(&app, Method::GET, "/profile", Some(&olga), None).await.status, StatusCode::OK, "this one stays");

    let unconfirmed =
        page(&app, Method::POST, "/profile/delete", Some(&olga), Some(&format!("csrf_token={token}&confirm=yes")))
            .await;
    assert_eq!(unconfirmed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.login("olga", "another long passphrase").await.status, StatusCode::OK, "still there");
    let deleted =
        page(&app, Method::POST, "/profile/delete", Some(&olga), Some(&format!("csrf_token={token}&confirm=delete")))
            .await;
    assert_eq!(location(&deleted), "/register");
    assert_eq!(app.login("olga", "another long passphrase").await.status, StatusCode::UNAUTHORIZED, "gone");
    assert_eq!(page(&app, Method::GET, "/profile", Some(&olga), None).await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn signing_this_browser_out_from_the_sessions_list_ends_its_page_session() {
    let app = TestApp::spawn().await;
    let pete = signed_in(&app, "pete").await;
    let profile = page(&app, Method::GET, "/profile", Some(&pete), None).await;
    let token = csrf(&profile);
    assert!(profile.text.contains("<strong>this browser</strong>"), "{}", profile.text);
    let marker = r#"<form method="post" action="/profile/sessions/"#;
    let ids: Vec<String> = profile
        .text
        .match_indices(marker)
        .map(|(i, _)| profile.text[i + marker.len()..].split('/').next().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2, "the registration's session and this browser's");
    for id in ids {
        page(
            &app,
            Method::POST,
            &format!("/profile/sessions/{id}/end"),
            Some(&pete),
            Some(&format!("csrf_token={token}")),
        )
        .await;
    }
    assert_eq!(page(&app, Method::GET, "/profile", Some(&pete), None).await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn signing_in_over_a_live_page_session_ends_it_so_a_planted_cookie_opens_nothing_afterwards() {
    let app = TestApp::spawn().await;
    let planted = signed_in(&app, "mallory").await;
    app.register("olivia").await;

    // The browser still holds the earlier cookie when Olivia signs in.
    let (form_secret, token) = form_cookie(&app, "/login").await;
    let request = TestApp::request(Method::POST, "/login")
        .header(header::COOKIE, format!("parlor_session={planted}; parlor_form={form_secret}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    let form = format!("csrf_token={token}&identifier=olivia&password={}", PASSWORD.replace(' ', "+"));
    let response = app.send(request.body(Body::from(form)).unwrap()).await;
    assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.text);
    let (fresh, _) = session_cookie(&response);
    assert_ne!(fresh, planted, "a fresh secret, never the one the browser brought");

    let chats = page(&app, Method::GET, "/chats", Some(&fresh), None).await;
    assert!(chats.text.contains("olivia") && !chats.text.contains("mallory"), "{}", chats.text);
    let old = page(&app, Method::GET, "/chats", Some(&planted), None).await;
    assert_eq!(old.status, StatusCode::SEE_OTHER, "the earlier session is over: {}", old.text);
    let token = crate::helpers::token(&app.login("mallory", PASSWORD).await.body["data"], "access_token");
    let sessions = app.get("/api/v1/me/sessions", Some(&token)).await;
    assert_eq!(
        sessions.data()["sessions"].as_array().unwrap().len(),
        2,
        "registration's and this login's: {}",
        sessions.text
    );
}

#[tokio::test]
async fn behind_tls_the_session_and_form_cookies_are_secure() {
    let app = TestApp::with_config(|config| config.public_url = Some("https://chat.example.org".to_owned())).await;
    let login = page(&app, Method::GET, "/login", None, None).await;
    assert!(login.header("set-cookie").starts_with("parlor_form="), "{}", login.header("set-cookie"));
    assert!(login.header("set-cookie").contains("; Secure"), "{}", login.header("set-cookie"));

    app.register("petra").await;
    let form = format!("identifier=petra&password={}", PASSWORD.replace(' ', "+"));
    let response = signed_out_post(&app, "/login", &form).await;
    let (_, set_cookie) = session_cookie(&response);
    for attribute in ["HttpOnly", "SameSite=Lax", "Secure"] {
        assert!(set_cookie.contains(attribute), "{attribute} missing: {set_cookie}");
    }
}

#[tokio::test]
async fn markup_in_messages_titles_and_names_is_shown_as_text_never_run() {
    let app = TestApp::spawn().await;
    let quentin = signed_in(&app, "quentin").await;
    let token = crate::helpers::token(&app.login("quentin", PASSWORD).await.body["data"], "access_token");
    let me = crate::helpers::Person {
        id: app.get("/api/v1/me", Some(&token)).await.data()["user"]["id"].as_str().unwrap().to_owned(),
        token,
    };
    let chat = app.group(&me, "<b onmouseover=alert(1)>Club</b>", &[]).await;
    app.say(&me, &chat, "<img src=x onerror=alert(2)><script>alert(3)</script>").await;
    let name = json!({"first_name": "\"><script>alert(4)</script>"});
    let edited = app.send_json(Method::PATCH, "/api/v1/me", name, Some(&me.token)).await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);

    let pages = [
        page(&app, Method::GET, "/chats", Some(&quentin), None).await,
        page(&app, Method::GET, &format!("/chats/{chat}"), Some(&quentin), None).await,
        page(&app, Method::GET, "/profile", Some(&quentin), None).await,
    ];
    for shown in &pages {
        assert_eq!(shown.status, StatusCode::OK, "{}", shown.text);
        for markup in ["<b onmouseover", "<img src=x", "<script>alert", "\"><script"] {
            assert!(!shown.text.contains(markup), "{markup} reached the page unescaped: {}", shown.text);
        }
    }
    assert!(pages[0].text.contains("&lt;b onmouseover=alert(1)&gt;Club"), "{}", pages[0].text);
    assert!(pages[1].text.contains("&lt;img src=x onerror=alert(2)&gt;&lt;script&gt;"), "{}", pages[1].text);
    assert!(pages[2].text.contains("&quot;&gt;&lt;script&gt;alert(4)"), "{}", pages[2].text);
}
