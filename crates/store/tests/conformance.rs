//! One conformance suite, run against both backends: every test below runs once on a fresh
//! SQLite file and once on a fresh PostgreSQL database (`VERSUS_TEST_POSTGRES_URL`).

use uuid::Uuid;
use versus_store::testing::{fresh_postgres_database, fresh_sqlite_url, postgres_server_url};
use versus_store::{
    ConnectOptions, DynStore, NewPlayer, NewToken, ProfileUpdate, StoreError, connect,
};

/// A store plus whatever keeps its database alive for the test's duration.
struct TestStore {
    store: DynStore,
    _dir: Option<tempfile::TempDir>,
}

async fn sqlite() -> Option<TestStore> {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_sqlite_url(dir.path());
    let store = connect(&ConnectOptions {
        url,
        max_connections: 4,
    })
    .await
    .unwrap();
    Some(TestStore {
        store,
        _dir: Some(dir),
    })
}

async fn postgres() -> Option<TestStore> {
    let server = postgres_server_url()?;
    let url = fresh_postgres_database(&server).await.unwrap();
    let store = connect(&ConnectOptions {
        url,
        max_connections: 4,
    })
    .await
    .unwrap();
    Some(TestStore { store, _dir: None })
}

/// Generates `sqlite::$name` and `postgres::$name` from `async fn $name(store: DynStore)`.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                if let Some(t) = super::sqlite().await { super::$name(t.store.clone()).await; t.store.close().await; }
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                if let Some(t) = super::postgres().await { super::$name(t.store.clone()).await; t.store.close().await; }
            })*
        }
    };
}

conformance!(
    players_are_created_and_found_by_id_username_and_email,
    usernames_and_emails_are_unique_ignoring_case,
    profile_updates_set_and_clear_only_the_given_fields,
    tokens_are_found_until_revoked_or_expired,
    revoking_all_tokens_revokes_every_live_token_of_that_player_only,
    changing_the_password_revokes_every_other_token,
    guests_have_no_email_and_no_password,
);

fn new_player(username: &str, email: &str) -> NewPlayer {
    NewPlayer {
        id: Uuid::now_v7(),
        username: username.into(),
        email: Some(email.into()),
        password_hash: Some("$argon2id$fake".into()),
        guest: false,
        created_at_ms: 1_700_000_000_000,
    }
}

fn token(player_id: Uuid, hash: &str, expires_at_ms: i64) -> NewToken {
    NewToken {
        token_hash: hash.into(),
        player_id,
        created_at_ms: 1_000,
        expires_at_ms,
    }
}

async fn players_are_created_and_found_by_id_username_and_email(store: DynStore) {
    let created = store
        .create_player(new_player("Alice", "Alice@Example.com"))
        .await
        .unwrap();
    let by_id = store.player_by_id(created.id).await.unwrap().unwrap();
    assert_eq!(by_id, created);
    assert_eq!(
        store.player_by_username("alice").await.unwrap().unwrap().id,
        created.id
    );
    assert_eq!(
        store.player_by_login("ALICE").await.unwrap().unwrap().id,
        created.id
    );
    assert_eq!(
        store
            .player_by_login("alice@example.COM")
            .await
            .unwrap()
            .unwrap()
            .id,
        created.id
    );
    assert_eq!(by_id.username, "Alice", "the username keeps its case");
    assert!(store.player_by_username("bob").await.unwrap().is_none());
    assert!(store.player_by_id(Uuid::now_v7()).await.unwrap().is_none());
}

async fn usernames_and_emails_are_unique_ignoring_case(store: DynStore) {
    store
        .create_player(new_player("alice", "a@example.com"))
        .await
        .unwrap();
    let dup_name = store
        .create_player(new_player("ALICE", "other@example.com"))
        .await;
    assert!(
        matches!(dup_name, Err(StoreError::UsernameTaken)),
        "{dup_name:?}"
    );
    let dup_mail = store
        .create_player(new_player("bob", "A@EXAMPLE.com"))
        .await;
    assert!(
        matches!(dup_mail, Err(StoreError::EmailTaken)),
        "{dup_mail:?}"
    );
    assert!(
        store.player_by_username("bob").await.unwrap().is_none(),
        "a refused insert leaves nothing"
    );
}

async fn profile_updates_set_and_clear_only_the_given_fields(store: DynStore) {
    let p = store
        .create_player(new_player("carol", "c@example.com"))
        .await
        .unwrap();
    let set = ProfileUpdate {
        display_name: Some(Some("Carol C".into())),
        bio: Some(Some("hello".into())),
        avatar_url: None,
    };
    let after = store.update_profile(p.id, set, 2).await.unwrap();
    assert_eq!(after.display_name.as_deref(), Some("Carol C"));
    assert_eq!(after.bio.as_deref(), Some("hello"));
    assert_eq!(after.avatar_url, None);
    let clear = ProfileUpdate {
        bio: Some(None),
        ..Default::default()
    };
    let after = store.update_profile(p.id, clear, 3).await.unwrap();
    assert_eq!(
        after.display_name.as_deref(),
        Some("Carol C"),
        "untouched field kept"
    );
    assert_eq!(after.bio, None);
    let missing = store
        .update_profile(Uuid::now_v7(), ProfileUpdate::default(), 4)
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound)));
}

async fn tokens_are_found_until_revoked_or_expired(store: DynStore) {
    let p = store
        .create_player(new_player("dave", "d@example.com"))
        .await
        .unwrap();
    store.create_token(token(p.id, "h1", 10_000)).await.unwrap();
    let (t, who) = store.token_player("h1", 5_000).await.unwrap().unwrap();
    assert_eq!(t.player_id, p.id);
    assert_eq!(who.id, p.id);
    assert!(
        store.token_player("h1", 10_000).await.unwrap().is_none(),
        "expired at expires_at"
    );
    assert!(store.token_player("nope", 5_000).await.unwrap().is_none());
    assert!(store.revoke_token("h1", 6_000).await.unwrap());
    assert!(
        !store.revoke_token("h1", 6_001).await.unwrap(),
        "second revoke is a no-op"
    );
    assert!(store.token_player("h1", 6_500).await.unwrap().is_none());
}

async fn revoking_all_tokens_revokes_every_live_token_of_that_player_only(store: DynStore) {
    let a = store
        .create_player(new_player("erin", "e@example.com"))
        .await
        .unwrap();
    let b = store
        .create_player(new_player("frank", "f@example.com"))
        .await
        .unwrap();
    for h in ["a1", "a2", "a3"] {
        store.create_token(token(a.id, h, 100_000)).await.unwrap();
    }
    store
        .create_token(token(b.id, "b1", 100_000))
        .await
        .unwrap();
    store.revoke_token("a3", 50).await.unwrap();
    assert_eq!(store.revoke_all_tokens(a.id, 60).await.unwrap(), 2);
    for h in ["a1", "a2", "a3"] {
        assert!(store.token_player(h, 70).await.unwrap().is_none());
    }
    assert!(store.token_player("b1", 70).await.unwrap().is_some());
}

async fn changing_the_password_revokes_every_other_token(store: DynStore) {
    let p = store
        .create_player(new_player("gina", "g@example.com"))
        .await
        .unwrap();
    for h in ["g1", "g2"] {
        store.create_token(token(p.id, h, 100_000)).await.unwrap();
    }
    store
        .change_password(p.id, "$argon2id$new", Some("g1"), 10)
        .await
        .unwrap();
    assert!(store.token_player("g1", 20).await.unwrap().is_some());
    assert!(store.token_player("g2", 20).await.unwrap().is_none());
    let after = store.player_by_id(p.id).await.unwrap().unwrap();
    assert_eq!(after.password_hash.as_deref(), Some("$argon2id$new"));
}

async fn guests_have_no_email_and_no_password(store: DynStore) {
    let mut g = new_player("guest-1234", "unused@example.com");
    g.email = None;
    g.password_hash = None;
    g.guest = true;
    let created = store.create_player(g.clone()).await.unwrap();
    let mut g2 = g;
    g2.id = Uuid::now_v7();
    g2.username = "guest-5678".into();
    store
        .create_player(g2)
        .await
        .expect("two guests without email do not collide");
    let found = store.player_by_id(created.id).await.unwrap().unwrap();
    assert!(found.guest);
    assert_eq!(found.email, None);
    assert_eq!(found.password_hash, None);
}
