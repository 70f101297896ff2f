//! Unread counts, derived from totals instead of written to every member: exact while sends,
//! deletions, joins, leaves and read markers race, and carried over from the stored counts of
//! the schema before.

use axum::http::{Method, StatusCode};
use sea_orm::sea_query::Query;
use sea_orm::{ConnectionTrait, Database};
use sea_orm_migration::MigratorTrait;
use serde_json::{Value, json};

use crate::helpers::{Person, TestApp, shared_database_url};

/// Every message of a chat, oldest first, tombstones included.
async fn whole_history(app: &TestApp, who: &Person, chat: &str) -> Vec<Value> {
    let mut messages = Vec::new();
    let mut query = "limit=100".to_owned();
    loop {
        let page = app.history(who, chat, &query).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        messages.extend(page.data()["messages"].as_array().unwrap().iter().cloned());
        match page.data()["next_before"].as_str() {
            Some(before) => query = format!("limit=100&before={before}"),
            None => break,
        }
    }
    messages.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    messages
}

/// What `who`'s unread count must be, counted from the history: live messages by others after
/// their read marker.
async fn recounted(app: &TestApp, who: &Person, chat: &str) -> u64 {
    let view = app.get(&format!("/api/v1/chats/{chat}"), Some(&who.token)).await;
    let members = view.data()["chat"]["members"].as_array().unwrap().clone();
    let me = members.iter().find(|m| m["id"] == who.id.as_str()).expect("a member");
    let marker = me["last_read_message_id"].as_str().map(str::to_owned);
    whole_history(app, who, chat)
        .await
        .iter()
        .filter(|m| marker.as_deref().is_none_or(|marker| m["id"].as_str().unwrap() > marker))
        .filter(|m| m["deleted"] != true && m["author"]["id"] != who.id.as_str())
        .count() as u64
}

/// `who`'s unread count as the whole chat list shows it.
async fn listed(app: &TestApp, who: &Person, chat: &str) -> u64 {
    listed_at(app, who, chat, "/api/v1/chats").await
}

/// The same from a list read at `path` (a page of it counts in the page's own statement).
async fn listed_at(app: &TestApp, who: &Person, chat: &str, path: &str) -> u64 {
    let list = app.get(path, Some(&who.token)).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    let chats = list.data()["chats"].as_array().unwrap().clone();
    chats.iter().find(|c| c["id"] == chat).expect("in the list")["unread_count"].as_u64().unwrap()
}

#[tokio::test]
async fn unread_counts_stay_exact_while_sends_deletions_joins_leaves_and_reads_race() {
    let app = TestApp::spawn().await;
    let names = ["alice", "bob", "carol", "dave", "erin", "frank"];
    let mut people = Vec::new();
    for name in names {
        people.push(app.person(name).await);
    }
    let [alice, bob, carol, dave, erin, frank] = &people[..] else { unreachable!() };
    let chat = app.group(alice, "race", &[bob, carol, frank]).await;
    let mut seeded = Vec::new();
    for i in 0..6 {
        seeded.push(app.say(bob, &chat, &format!("seed {i}")).await["id"].as_str().unwrap().to_owned());
    }
    let (app, chat) = (&app, chat.as_str());
    let delete = |who: &Person, mid: String| {
        let path = format!("/api/v1/chats/{chat}/messages/{mid}");
        let token = who.token.clone();
        async move { app.call(Method::DELETE, &path, &token).await.status }
    };
    let read = |who: &Person, mid: String| {
        let path = format!("/api/v1/chats/{chat}/read");
        let token = who.token.clone();
        async move { app.send_json(Method::POST, &path, json!({"message_id": mid}), Some(&token)).await.status }
    };
    let members = |who: &Person, user: &Person, add: bool| {
        let token = who.token.clone();
        let id = user.id.clone();
        async move {
            if add {
                let path = format!("/api/v1/chats/{chat}/members");
                app.send_json(Method::POST, &path, json!({"user_ids": [id]}), Some(&token)).await.status
            } else {
                app.call(Method::DELETE, &format!("/api/v1/chats/{chat}/members/{id}"), &token).await.status
            }
        }
    };
    let senders = async {
        futures::future::join_all([alice, bob, carol].into_iter().map(|who| async move {
            let mut mine = Vec::new();
            for i in 0..12 {
                mine.push(app.say(who, chat, &format!("{i}")).await["id"].as_str().unwrap().to_owned());
            }
            // Each deletes a third of their own as they go on.
            for mid in mine.iter().step_by(3) {
                assert_eq!(delete(who, mid.clone()).await, StatusCode::OK);
            }
        }))
        .await
    };
    let others = async {
        // The owner deletes some of bob's seeds, read by some and not by others.
        for mid in seeded.iter().step_by(2) {
            assert_eq!(delete(alice, mid.clone()).await, StatusCode::OK);
        }
        assert!(members(alice, dave, true).await.is_success());
        assert!(members(alice, erin, true).await.is_success());
        assert_eq!(members(frank, frank, false).await, StatusCode::OK, "frank leaves");
        assert_eq!(read(carol, seeded[3].clone()).await, StatusCode::OK);
        assert_eq!(members(erin, erin, false).await, StatusCode::OK, "erin leaves again");
        assert!(members(alice, frank, true).await.is_success(), "frank comes back");
    };
    let marking = async {
        for mid in &seeded {
            assert_eq!(read(bob, mid.clone()).await, StatusCode::OK);
        }
    };
    tokio::join!(senders, others, marking);
    // And a marker moved to the newest message leaves nothing unread.
    let newest = whole_history(app, dave, chat).await.last().unwrap()["id"].as_str().unwrap().to_owned();
    assert_eq!(read(dave, newest).await, StatusCode::OK);

    for who in [alice, bob, carol, dave, frank] {
        let expected = recounted(app, who, chat).await;
        assert_eq!(listed(app, who, chat).await, expected, "{}'s count in the list", who.id);
        let paged = listed_at(app, who, chat, "/api/v1/chats?limit=10").await;
        assert_eq!(paged, expected, "{}'s count in a page of the list", who.id);
        let view = app.get(&format!("/api/v1/chats/{chat}"), Some(&who.token)).await;
        assert_eq!(view.data()["chat"]["unread_count"].as_u64().unwrap(), expected, "{}'s count in the chat", who.id);
    }
    assert_eq!(listed(app, dave, chat).await, 0);
    assert!(listed(app, bob, chat).await > 0, "bob read only the seeds");
}

#[tokio::test]
async fn the_unread_counts_stored_before_the_totals_are_carried_over() {
    let dir = tempfile::tempdir().unwrap();
    let url = shared_database_url(dir.path()).await;
    let db = Database::connect(url.as_str()).await.unwrap();
    // The schema as it was before the totals: unread counts stored on each membership.
    parlor::store::migration::Migrator::up(&db, Some(15)).await.unwrap();
    let at = time::OffsetDateTime::now_utc();
    let (chat, ann, ben, cy) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7(), uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let mut users = Query::insert()
        .into_table("users")
        .columns(["id", "username", "username_key", "password_hash", "created_at", "updated_at"])
        .to_owned();
    for (id, name) in [(ann, "ann"), (ben, "ben"), (cy, "cy")] {
        users.values_panic([id.into(), name.into(), name.into(), "x".into(), at.into(), at.into()]);
    }
    let chats = Query::insert()
        .into_table("chats")
        .columns(["id", "kind", "title", "created_at", "last_activity_at"])
        .values_panic([chat.into(), "group".into(), "old".into(), at.into(), at.into()])
        .to_owned();
    // By Ben, Ben, Ann, Cy, Ben, Ann; the second and the fifth are deleted.
    let ids: Vec<uuid::Uuid> = (0..6).map(|_| uuid::Uuid::now_v7()).collect();
    let mut messages = Query::insert()
        .into_table("messages")
        .columns(["id", "chat_id", "author_id", "kind", "text", "created_at", "deleted_at"])
        .to_owned();
    for (i, (author, deleted)) in
        [(ben, false), (ben, true), (ann, false), (cy, false), (ben, true), (ann, false)].into_iter().enumerate()
    {
        let text = (!deleted).then(|| format!("m{i}"));
        messages.values_panic([
            ids[i].into(),
            chat.into(),
            author.into(),
            "text".into(),
            text.into(),
            at.into(),
            deleted.then_some(at).into(),
        ]);
    }
    // Ann read up to the third, Ben nothing, Cy everything: the counts that schema kept.
    let stored = [(ann, Some(ids[2]), 1), (ben, None, 3), (cy, Some(ids[5]), 0)];
    let mut members = Query::insert()
        .into_table("chat_members")
        .columns(["chat_id", "user_id", "role", "joined_at", "last_read_id", "unread_count"])
        .to_owned();
    for (user, marker, unread) in stored {
        members.values_panic([chat.into(), user.into(), "member".into(), at.into(), marker.into(), unread.into()]);
    }
    for insert in [users, chats, messages, members] {
        db.execute(&insert).await.unwrap();
    }
    db.close().await.unwrap();

    let store = parlor::store::Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    for (user, _, unread) in stored {
        let counts = store.unread_counts(user.into(), &[chat.into()]).await.unwrap();
        assert_eq!(counts.get(&chat.into()), Some(&(unread as u64)), "{user}");
    }
    // And the totals go on from there: a new message is unread for all but its author.
    let renamed = parlor::domain::chat::SystemEvent::Renamed { title: "new".into() };
    let new = parlor::store::NewMessage::system(chat.into(), cy.into(), renamed);
    store.send_message(new).await.unwrap().expect("sent");
    let after: Vec<u64> = {
        let mut counts = Vec::new();
        for user in [ann, ben, cy] {
            counts.push(store.unread_counts(user.into(), &[chat.into()]).await.unwrap()[&chat.into()]);
        }
        counts
    };
    assert_eq!(after, [2, 4, 0]);
}
