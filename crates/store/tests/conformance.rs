//! One conformance suite, run against both backends: every test below runs once on a fresh
//! SQLite file and once on a fresh PostgreSQL database (`VERSUS_TEST_POSTGRES_URL`).

use uuid::Uuid;
use versus_store::testing::{
    drop_postgres_database, fresh_postgres_database, fresh_sqlite_url, postgres_server_url,
};
use versus_store::{
    ConnectOptions, DynStore, EventRecord, JournalEntry, LeaseOutcome, LobbyQuery, NewGame,
    NewPlayer, NewSeat, NewSession, NewSessionBundle, NewToken, ProfileUpdate, SealedEmail,
    SeatResult, SessionUpdate, StoreError, connect,
};

/// A store plus whatever keeps its database alive for the test's duration.
struct TestStore {
    store: DynStore,
    _dir: Option<tempfile::TempDir>,
    /// PostgreSQL: (server URL, database URL), dropped by [`TestStore::done`].
    postgres: Option<(String, String)>,
}

impl TestStore {
    /// After a passing test: closes the pools and drops the PostgreSQL database.
    async fn done(self) {
        self.store.close().await;
        if let Some((server, url)) = &self.postgres {
            drop_postgres_database(server, url).await.unwrap();
        }
    }
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
        postgres: None,
    })
}

async fn postgres() -> Option<TestStore> {
    let server = postgres_server_url()?;
    let url = fresh_postgres_database(&server).await.unwrap();
    let store = connect(&ConnectOptions {
        url: url.clone(),
        max_connections: 4,
    })
    .await
    .unwrap();
    Some(TestStore {
        store,
        _dir: None,
        postgres: Some((server, url)),
    })
}

/// Generates `sqlite::$name` and `postgres::$name` from `async fn $name(store: DynStore)`.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                if let Some(t) = super::sqlite().await { super::$name(t.store.clone()).await; t.done().await; }
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                if let Some(t) = super::postgres().await { super::$name(t.store.clone()).await; t.done().await; }
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
    emails_under_an_old_key_are_listed_and_resealed_once,
    a_game_is_created_with_its_first_session_seats_and_journal,
    appends_carry_a_session_from_waiting_to_finished,
    a_seq_gap_or_duplicate_fails_the_whole_batch,
    client_move_ids_are_unique_per_player_within_a_session,
    a_rematch_becomes_the_current_session,
    a_malformed_session_bundle_is_refused,
    appending_to_an_unknown_session_is_not_found,
    the_lobby_filters_by_state_kind_visibility_and_player,
    the_lobby_is_newest_first_and_paged,
    live_sessions_are_the_waiting_and_in_progress_ones,
    heartbeats_are_upserted,
    a_batch_across_sessions_commits_every_entry,
    plain_appends_of_many_sessions_commit_together_and_one_refusal_refuses_all,
    a_large_batch_commits_in_one_call,
    concurrent_appends_of_one_seq_admit_exactly_one,
    concurrent_appends_to_different_sessions_all_commit,
    a_lease_is_held_by_one_node_until_it_expires_or_is_released,
    renewing_keeps_only_the_leases_a_node_still_holds,
    an_append_with_a_stale_fence_is_refused,
    orphaned_games_are_in_progress_games_with_expired_leases,
    // ratings (issue 7)
    a_rated_finish_moves_both_ratings_once_with_the_result,
    casual_games_count_in_statistics_and_aborted_ones_in_nothing,
    ranks_are_distinct_stable_and_match_the_leaderboard_order,
    // chat (issue 8)
    chat_entries_get_gap_free_seqs_per_room_and_page_both_ways,
    concurrent_chat_appends_to_one_room_get_distinct_consecutive_seqs,
    only_the_author_deletes_a_message_once,
    chat_batches_take_each_rooms_next_seqs_in_order_between_single_appends,
    concurrent_chat_batches_and_appends_share_each_rooms_sequence,
    a_chat_batch_with_a_bad_entry_or_a_deletion_writes_nothing,
    blocks_and_mutes_are_stored_per_player,
    friend_requests_become_symmetric_friendships,
    invites_are_answered_once_and_expire,
    notifications_are_paged_newest_first_and_marked_read,
    presence_is_counted_per_node_and_expires,
    presence_changes_are_claimed_once_each,
    // matchmaking (issue 9)
    matchmaking_tickets_wait_once_per_kind_pair_once_and_expire,
    // real-time kinds (issue 10)
    points_add_up_per_player_and_kind_once_per_finished_session,
);

/// What the server would store for `email` under key `key` (the store treats both parts as
/// opaque; the index is computed from the lower-cased address, as the server does).
fn sealed(key: &str, email: &str) -> SealedEmail {
    SealedEmail {
        sealed: format!("{key}:sealed-{}", email.len()),
        index: format!("{key}:{}", email.to_lowercase()),
    }
}

fn new_player(username: &str, email: &str) -> NewPlayer {
    NewPlayer {
        id: Uuid::now_v7(),
        username: username.into(),
        email: Some(sealed("k1", email)),
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
        store
            .player_by_email_index(&sealed("k1", "alice@example.COM").index)
            .await
            .unwrap()
            .unwrap()
            .id,
        created.id
    );
    assert_eq!(by_id.email_sealed.as_deref(), Some("k1:sealed-17"));
    assert!(
        store
            .player_by_email_index(&sealed("k2", "alice@example.com").index)
            .await
            .unwrap()
            .is_none()
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
    assert_eq!(found.email_sealed, None);
    assert_eq!(found.password_hash, None);
}

async fn emails_under_an_old_key_are_listed_and_resealed_once(store: DynStore) {
    let mut ids = Vec::new();
    for n in 0..3 {
        let p = store
            .create_player(new_player(&format!("p{n}"), &format!("p{n}@example.com")))
            .await
            .unwrap();
        ids.push(p.id);
    }
    let mut guest = new_player("guest-1", "x@example.com");
    guest.email = None;
    store.create_player(guest).await.unwrap();
    // Nothing is in clear, and all are under k1.
    assert!(store.emails_to_reseal(None, 10).await.unwrap().is_empty());
    assert!(
        store
            .emails_to_reseal(Some("k1"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // After a rotation to k2, each of the three is listed (paged), then resealed.
    let page = store.emails_to_reseal(Some("k2"), 2).await.unwrap();
    assert_eq!(page.len(), 2);
    assert!(page.iter().all(|row| ids.contains(&row.player_id)));
    assert_eq!(page[0].plain, None);
    assert_eq!(page[0].sealed.as_deref(), Some("k1:sealed-14"));
    for (n, id) in ids.iter().enumerate() {
        store
            .set_sealed_email(*id, sealed("k2", &format!("p{n}@example.com")))
            .await
            .unwrap();
    }
    assert!(
        store
            .emails_to_reseal(Some("k2"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let p1 = store.player_by_id(ids[1]).await.unwrap().unwrap();
    assert_eq!(p1.email_sealed.as_deref(), Some("k2:sealed-14"));
    assert_eq!(
        store
            .player_by_email_index(&sealed("k2", "P1@example.com").index)
            .await
            .unwrap()
            .map(|p| p.id),
        Some(ids[1])
    );
    // One index cannot belong to two players.
    let taken = store
        .set_sealed_email(ids[0], sealed("k2", "p1@example.com"))
        .await;
    assert!(matches!(taken, Err(StoreError::EmailTaken)), "{taken:?}");
}

// --- games, sessions and the journal -----------------------------------------------------

const T0: i64 = 1_700_000_000_000;

async fn player(store: &DynStore, username: &str) -> Uuid {
    let mut p = new_player(username, &format!("{username}@example.com"));
    p.email = None;
    store.create_player(p).await.unwrap().id
}

fn new_game(created_by: Uuid, kind: &str, visibility: &str, created_at_ms: i64) -> NewGame {
    NewGame {
        id: Uuid::now_v7(),
        kind: kind.into(),
        name: format!("{kind} game"),
        description: Some("a friendly one".into()),
        settings: r#"{"seats":2}"#.into(),
        visibility: visibility.into(),
        rated: false,
        created_by,
        created_at_ms,
    }
}

fn event(session_id: Uuid, seq: i64, event_type: &str) -> EventRecord {
    EventRecord {
        session_id,
        seq,
        at_ms: T0 + seq,
        event_type: event_type.into(),
        player_id: None,
        client_move_id: None,
        payload: format!(r#"{{"seq":{seq}}}"#),
    }
}

fn move_event(session_id: Uuid, seq: i64, player: Uuid, client_move_id: &str) -> EventRecord {
    EventRecord {
        player_id: Some(player),
        client_move_id: Some(client_move_id.into()),
        ..event(session_id, seq, "moved")
    }
}

fn seat(session_id: Uuid, seat: i64, player_id: Uuid) -> NewSeat {
    NewSeat {
        session_id,
        seat,
        player_id,
        joined_at_ms: T0 + seat,
    }
}

/// A session of `game_id` in `state`, holding `players` in seats 0, 1, … with a `created`
/// event and one `seat_taken` event per seat.
fn bundle(game_id: Uuid, number: i64, state: &str, players: &[Uuid]) -> NewSessionBundle {
    let id = Uuid::now_v7();
    let mut events = vec![event(id, 1, "created")];
    for (i, _) in players.iter().enumerate() {
        events.push(event(id, i as i64 + 2, "seat_taken"));
    }
    NewSessionBundle {
        session: NewSession {
            id,
            game_id,
            number,
            state: state.into(),
            start_time_ms: (state != "waiting").then_some(T0),
            created_at_ms: T0 + number,
        },
        seats: players
            .iter()
            .enumerate()
            .map(|(i, p)| seat(id, i as i64, *p))
            .collect(),
        events,
    }
}

/// Creates a game whose first session is in `state` with `players` seated; returns the game
/// id and the session id.
async fn game_with(
    store: &DynStore,
    creator: Uuid,
    kind: &str,
    visibility: &str,
    created_at_ms: i64,
    state: &str,
    players: &[Uuid],
) -> (Uuid, Uuid) {
    let game = new_game(creator, kind, visibility, created_at_ms);
    let first = bundle(game.id, 1, state, players);
    let ids = (game.id, first.session.id);
    store.create_game(game, first).await.unwrap();
    ids
}

fn is_conflict<T: std::fmt::Debug>(r: &Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Conflict(_)))
}

async fn a_game_is_created_with_its_first_session_seats_and_journal(store: DynStore) {
    let alice = player(&store, "alice").await;
    let bob = player(&store, "bob").await;
    let mut game = new_game(alice, "chess", "private", T0);
    game.rated = true;
    let first = bundle(game.id, 1, "waiting", &[bob, alice]);
    let (game_id, session_id) = (game.id, first.session.id);
    store
        .create_game(game.clone(), first.clone())
        .await
        .unwrap();

    let g = store.game(game_id).await.unwrap().unwrap();
    assert_eq!(g.id, game_id);
    assert_eq!(g.kind, "chess");
    assert_eq!(g.name, game.name);
    assert_eq!(g.description, game.description);
    assert_eq!(g.settings, game.settings);
    assert_eq!(g.visibility, "private");
    assert!(g.rated);
    assert_eq!(g.created_by, alice);
    assert_eq!(g.created_at_ms, T0);
    assert_eq!(g.current_session_id, Some(session_id));

    let s = store.session(session_id).await.unwrap().unwrap();
    assert_eq!(s.game_id, game_id);
    assert_eq!(s.number, 1);
    assert_eq!(s.state, "waiting");
    assert_eq!(
        (s.start_time_ms, s.end_time_ms, s.result),
        (None, None, None)
    );
    assert_eq!(s.last_seq, 3, "last_seq is the last event of the bundle");
    assert_eq!(s.created_at_ms, T0 + 1);

    let seats = store.seats(session_id).await.unwrap();
    assert_eq!(seats.len(), 2);
    assert_eq!((seats[0].seat, seats[0].player_id), (0, bob));
    assert_eq!(seats[0].username, "bob");
    assert_eq!((seats[1].seat, seats[1].player_id), (1, alice));
    assert_eq!(seats[1].username, "alice");
    assert_eq!(seats[1].joined_at_ms, T0 + 1);
    assert_eq!((seats[1].result.clone(), seats[1].score), (None, None));

    assert_eq!(store.journal(session_id, 0).await.unwrap(), first.events);
    assert_eq!(
        store.journal(session_id, 2).await.unwrap(),
        first.events[2..]
    );
    assert!(store.journal(session_id, 3).await.unwrap().is_empty());

    assert!(store.game(Uuid::now_v7()).await.unwrap().is_none());
    assert!(store.session(Uuid::now_v7()).await.unwrap().is_none());
    assert!(store.seats(Uuid::now_v7()).await.unwrap().is_empty());

    // The same game id again is a conflict and leaves the first game alone.
    let again = store
        .create_game(game.clone(), bundle(game.id, 1, "waiting", &[]))
        .await;
    assert!(is_conflict(&again), "{again:?}");
    assert_eq!(store.game(game_id).await.unwrap().unwrap(), g);

    // A game without events starts at last_seq 0.
    let empty = new_game(alice, "tictactoe", "public", T0);
    let mut b = bundle(empty.id, 1, "waiting", &[]);
    b.events.clear();
    let sid = b.session.id;
    store.create_game(empty, b).await.unwrap();
    assert_eq!(store.session(sid).await.unwrap().unwrap().last_seq, 0);
}

async fn appends_carry_a_session_from_waiting_to_finished(store: DynStore) {
    let alice = player(&store, "alice").await;
    let bob = player(&store, "bob").await;
    let (_, sid) = game_with(
        &store,
        alice,
        "tictactoe",
        "public",
        T0,
        "waiting",
        &[alice],
    )
    .await;

    // Bob sits down and the game starts, in one batch of two entries.
    store
        .append_journal(&[
            JournalEntry {
                seat: Some(seat(sid, 1, bob)),
                ..JournalEntry::event(event(sid, 3, "seat_taken"))
            },
            JournalEntry {
                session: Some(SessionUpdate {
                    state: "in_progress".into(),
                    start_time_ms: Some(T0 + 100),
                    end_time_ms: None,
                    result: None,
                }),
                ..JournalEntry::event(event(sid, 4, "started"))
            },
        ])
        .await
        .unwrap();
    let s = store.session(sid).await.unwrap().unwrap();
    assert_eq!(s.state, "in_progress");
    assert_eq!(s.start_time_ms, Some(T0 + 100));
    assert_eq!(s.last_seq, 4);
    let seats = store.seats(sid).await.unwrap();
    assert_eq!(
        seats
            .iter()
            .map(|s| (s.seat, s.player_id))
            .collect::<Vec<_>>(),
        [(0, alice), (1, bob)]
    );

    // A move (no session change), then the end.
    store
        .append_journal(&[JournalEntry::event(move_event(sid, 5, alice, "m-1"))])
        .await
        .unwrap();
    store
        .append_journal(&[JournalEntry {
            session: Some(SessionUpdate {
                state: "finished".into(),
                start_time_ms: None,
                end_time_ms: Some(T0 + 900),
                result: Some(r#"{"winner":0}"#.into()),
            }),
            seat_results: vec![
                SeatResult {
                    session_id: sid,
                    seat: 0,
                    result: "win".into(),
                    score: 1.0,
                    points: None,
                },
                SeatResult {
                    session_id: sid,
                    seat: 1,
                    result: "loss".into(),
                    score: 0.0,
                    points: None,
                },
            ],
            ..JournalEntry::event(event(sid, 6, "ended"))
        }])
        .await
        .unwrap();

    let s = store.session(sid).await.unwrap().unwrap();
    assert_eq!(s.state, "finished");
    assert_eq!(
        s.start_time_ms,
        Some(T0 + 100),
        "a None start time keeps the old one"
    );
    assert_eq!(s.end_time_ms, Some(T0 + 900));
    assert_eq!(s.result.as_deref(), Some(r#"{"winner":0}"#));
    assert_eq!(s.last_seq, 6);
    let seats = store.seats(sid).await.unwrap();
    assert_eq!(
        seats
            .iter()
            .map(|s| (s.result.as_deref(), s.score))
            .collect::<Vec<_>>(),
        [(Some("win"), Some(1.0)), (Some("loss"), Some(0.0))]
    );
    let journal = store.journal(sid, 0).await.unwrap();
    assert_eq!(
        journal.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6]
    );
    assert_eq!(
        journal
            .iter()
            .map(|e| e.event_type.as_str())
            .collect::<Vec<_>>(),
        [
            "created",
            "seat_taken",
            "seat_taken",
            "started",
            "moved",
            "ended"
        ]
    );
    assert_eq!(journal[4], move_event(sid, 5, alice, "m-1"));

    // A later update with only a state never clears the times or the result.
    store
        .append_journal(&[JournalEntry {
            session: Some(SessionUpdate {
                state: "finished".into(),
                start_time_ms: None,
                end_time_ms: None,
                result: None,
            }),
            ..JournalEntry::event(event(sid, 7, "chat"))
        }])
        .await
        .unwrap();
    let after = store.session(sid).await.unwrap().unwrap();
    assert_eq!(
        (after.start_time_ms, after.end_time_ms),
        (s.start_time_ms, s.end_time_ms)
    );
    assert_eq!(after.result, s.result);
    assert_eq!(after.last_seq, 7);
}

async fn a_seq_gap_or_duplicate_fails_the_whole_batch(store: DynStore) {
    let alice = player(&store, "alice").await;
    let bob = player(&store, "bob").await;
    let (game_id, a) =
        game_with(&store, alice, "connect4", "public", T0, "waiting", &[alice]).await;
    let (_, b) = game_with(&store, bob, "connect4", "public", T0, "in_progress", &[bob]).await;
    let rematch = bundle(game_id, 2, "waiting", &[alice]);

    let before_a = store.session(a).await.unwrap().unwrap();
    let before_b = store.session(b).await.unwrap().unwrap();
    let untouched = async |store: &DynStore| {
        assert_eq!(store.session(a).await.unwrap().unwrap(), before_a);
        assert_eq!(store.session(b).await.unwrap().unwrap(), before_b);
        assert_eq!(store.journal(a, 0).await.unwrap().len(), 2);
        assert_eq!(store.journal(b, 0).await.unwrap().len(), 2);
        assert_eq!(store.seats(a).await.unwrap().len(), 1);
        let g = store.game(game_id).await.unwrap().unwrap();
        assert_eq!(g.current_session_id, Some(a));
        assert!(store.session(rematch.session.id).await.unwrap().is_none());
    };

    // Two good entries (one seats bob, one makes a rematch) and a third with a gap.
    let good = [
        JournalEntry {
            seat: Some(seat(a, 1, bob)),
            session: Some(SessionUpdate {
                state: "in_progress".into(),
                start_time_ms: Some(T0),
                end_time_ms: None,
                result: None,
            }),
            ..JournalEntry::event(event(a, 3, "seat_taken"))
        },
        JournalEntry {
            new_session: Some(rematch.clone()),
            ..JournalEntry::event(event(b, 3, "moved"))
        },
    ];
    for bad in [
        event(b, 5, "moved"), // a gap: b is at 3 after the second entry
        event(b, 3, "moved"), // a duplicate of the second entry
        event(a, 2, "moved"), // a duplicate of a committed event
        event(a, 0, "moved"), // not a valid seq at all
    ] {
        let mut batch = good.to_vec();
        batch.push(JournalEntry::event(bad.clone()));
        let r = store.append_journal(&batch).await;
        assert!(is_conflict(&r), "{bad:?}: {r:?}");
        untouched(&store).await;
    }

    // A gap in a single-entry batch, too.
    let r = store
        .append_journal(&[JournalEntry::event(event(a, 4, "moved"))])
        .await;
    assert!(is_conflict(&r), "{r:?}");
    untouched(&store).await;

    // The good entries alone commit.
    store.append_journal(&good).await.unwrap();
    assert_eq!(store.session(a).await.unwrap().unwrap().last_seq, 3);
    assert_eq!(store.session(b).await.unwrap().unwrap().last_seq, 3);
}

async fn client_move_ids_are_unique_per_player_within_a_session(store: DynStore) {
    let alice = player(&store, "alice").await;
    let bob = player(&store, "bob").await;
    let (_, sid) = game_with(
        &store,
        alice,
        "chess",
        "public",
        T0,
        "in_progress",
        &[alice, bob],
    )
    .await;
    let (_, other) = game_with(
        &store,
        alice,
        "chess",
        "public",
        T0,
        "in_progress",
        &[alice, bob],
    )
    .await;
    store
        .append_journal(&[JournalEntry::event(move_event(sid, 4, alice, "m-1"))])
        .await
        .unwrap();

    // The same id from the same player in the same session: refused, whole batch.
    let r = store
        .append_journal(&[
            JournalEntry::event(move_event(sid, 5, bob, "b-1")),
            JournalEntry::event(move_event(sid, 6, alice, "m-1")),
        ])
        .await;
    assert!(is_conflict(&r), "{r:?}");
    assert_eq!(store.session(sid).await.unwrap().unwrap().last_seq, 4);
    assert_eq!(store.journal(sid, 4).await.unwrap(), []);

    // The same id from a different player, or in another session, is fine; so are events
    // without a client move id.
    store
        .append_journal(&[
            JournalEntry::event(move_event(sid, 5, bob, "m-1")),
            JournalEntry::event(move_event(other, 4, alice, "m-1")),
            JournalEntry::event(event(sid, 6, "clock")),
            JournalEntry::event(event(sid, 7, "clock")),
        ])
        .await
        .unwrap();
    let journal = store.journal(sid, 3).await.unwrap();
    assert_eq!(
        journal
            .iter()
            .map(|e| (e.seq, e.player_id))
            .collect::<Vec<_>>(),
        [(4, Some(alice)), (5, Some(bob)), (6, None), (7, None)]
    );
}

async fn a_rematch_becomes_the_current_session(store: DynStore) {
    let alice = player(&store, "alice").await;
    let bob = player(&store, "bob").await;
    let (game_id, first) = game_with(
        &store,
        alice,
        "tictactoe",
        "public",
        T0,
        "in_progress",
        &[alice, bob],
    )
    .await;
    let rematch = bundle(game_id, 2, "waiting", &[bob, alice]);
    let second = rematch.session.id;
    store
        .append_journal(&[
            JournalEntry {
                session: Some(SessionUpdate {
                    state: "finished".into(),
                    start_time_ms: None,
                    end_time_ms: Some(T0 + 50),
                    result: Some(r#"{"draw":true}"#.into()),
                }),
                ..JournalEntry::event(event(first, 4, "ended"))
            },
            JournalEntry {
                new_session: Some(rematch.clone()),
                ..JournalEntry::event(event(first, 5, "rematch"))
            },
            // The new session's own events may follow in the same batch.
            JournalEntry::event(event(second, 4, "chat")),
        ])
        .await
        .unwrap();

    let g = store.game(game_id).await.unwrap().unwrap();
    assert_eq!(g.current_session_id, Some(second));
    let s = store.session(second).await.unwrap().unwrap();
    assert_eq!((s.number, s.state.as_str(), s.last_seq), (2, "waiting", 4));
    assert_eq!(store.journal(second, 0).await.unwrap().len(), 4);
    assert_eq!(store.seats(second).await.unwrap()[0].player_id, bob);
    assert_eq!(
        store.session(first).await.unwrap().unwrap().state,
        "finished"
    );

    let lobby = store
        .list_games(&LobbyQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(lobby.len(), 1, "one game, shown with its current session");
    assert_eq!(lobby[0].game, g);
    assert_eq!(lobby[0].session, s);
    assert_eq!(lobby[0].seats, store.seats(second).await.unwrap());

    // A second session with an existing number is a conflict.
    let dup = bundle(game_id, 2, "waiting", &[]);
    let r = store
        .append_journal(&[JournalEntry {
            new_session: Some(dup),
            ..JournalEntry::event(event(second, 5, "rematch"))
        }])
        .await;
    assert!(is_conflict(&r), "{r:?}");
    assert_eq!(store.session(second).await.unwrap().unwrap().last_seq, 4);
}

async fn a_malformed_session_bundle_is_refused(store: DynStore) {
    let alice = player(&store, "alice").await;
    // Events of a new session must be numbered 1, 2, … without gaps.
    let game = new_game(alice, "chess", "public", T0);
    let mut first = bundle(game.id, 1, "waiting", &[alice]);
    first.events.remove(0);
    let r = store.create_game(game.clone(), first).await;
    assert!(is_conflict(&r), "{r:?}");
    // The first session must belong to the game.
    let first = bundle(Uuid::now_v7(), 1, "waiting", &[alice]);
    let r = store.create_game(game.clone(), first).await;
    assert!(is_conflict(&r), "{r:?}");
    // Two seats for one player.
    let mut first = bundle(game.id, 1, "waiting", &[alice, alice]);
    first.seats[1].seat = 1;
    let r = store.create_game(game.clone(), first).await;
    assert!(is_conflict(&r), "{r:?}");
    assert!(
        store.game(game.id).await.unwrap().is_none(),
        "nothing was written"
    );
}

async fn appending_to_an_unknown_session_is_not_found(store: DynStore) {
    let r = store
        .append_journal(&[JournalEntry::event(event(Uuid::now_v7(), 1, "moved"))])
        .await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    store
        .append_journal(&[])
        .await
        .expect("an empty batch is a no-op");
}

async fn the_lobby_filters_by_state_kind_visibility_and_player(store: DynStore) {
    let alice = player(&store, "alice").await;
    let bob = player(&store, "bob").await;
    let carol = player(&store, "carol").await;
    let (g1, _) = game_with(
        &store,
        alice,
        "chess",
        "public",
        T0 + 1,
        "waiting",
        &[alice],
    )
    .await;
    let (g2, _) = game_with(
        &store,
        bob,
        "chess",
        "public",
        T0 + 2,
        "in_progress",
        &[bob, carol],
    )
    .await;
    let (g3, _) = game_with(
        &store,
        alice,
        "connect4",
        "private",
        T0 + 3,
        "waiting",
        &[alice],
    )
    .await;
    let (g4, _) = game_with(
        &store,
        carol,
        "tictactoe",
        "public",
        T0 + 4,
        "finished",
        &[carol, alice],
    )
    .await;

    let ids = async |q: LobbyQuery| {
        let page = store
            .list_games(&LobbyQuery { limit: 50, ..q })
            .await
            .unwrap();
        for e in &page {
            assert_eq!(e.game.current_session_id, Some(e.session.id));
            assert_eq!(e.seats, store.seats(e.session.id).await.unwrap());
        }
        page.into_iter().map(|e| e.game.id).collect::<Vec<_>>()
    };
    let q = LobbyQuery::default;
    assert_eq!(ids(q()).await, [g4, g2, g1], "private games are hidden");
    assert_eq!(
        ids(LobbyQuery {
            include_private: true,
            ..q()
        })
        .await,
        [g4, g3, g2, g1]
    );
    assert_eq!(
        ids(LobbyQuery {
            state: Some("waiting".into()),
            ..q()
        })
        .await,
        [g1]
    );
    assert_eq!(
        ids(LobbyQuery {
            state: Some("waiting".into()),
            include_private: true,
            ..q()
        })
        .await,
        [g3, g1]
    );
    assert_eq!(
        ids(LobbyQuery {
            kind: Some("chess".into()),
            ..q()
        })
        .await,
        [g2, g1]
    );
    assert_eq!(
        ids(LobbyQuery {
            player_id: Some(alice),
            include_private: true,
            ..q()
        })
        .await,
        [g4, g3, g1]
    );
    assert_eq!(
        ids(LobbyQuery {
            player_id: Some(carol),
            state: Some("in_progress".into()),
            kind: Some("chess".into()),
            ..q()
        })
        .await,
        [g2]
    );
    assert_eq!(
        ids(LobbyQuery {
            kind: Some("go".into()),
            ..q()
        })
        .await,
        [] as [Uuid; 0]
    );
    let g2_entry = store
        .list_games(&LobbyQuery {
            player_id: Some(bob),
            limit: 5,
            ..q()
        })
        .await
        .unwrap();
    assert_eq!(
        g2_entry[0]
            .seats
            .iter()
            .map(|s| s.username.as_str())
            .collect::<Vec<_>>(),
        ["bob", "carol"]
    );
}

async fn the_lobby_is_newest_first_and_paged(store: DynStore) {
    let alice = player(&store, "alice").await;
    let mut games = Vec::new();
    for i in 0..7 {
        // Two games share each creation time: ties are broken by id, descending.
        let (g, _) = game_with(
            &store,
            alice,
            "chess",
            "public",
            T0 + i / 2,
            "waiting",
            &[alice],
        )
        .await;
        games.push((T0 + i / 2, g));
    }
    games.sort();
    games.reverse();
    let newest_first: Vec<Uuid> = games.into_iter().map(|(_, g)| g).collect();
    let page = async |limit, offset| {
        store
            .list_games(&LobbyQuery {
                limit,
                offset,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.game.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(page(100, 0).await, newest_first);
    assert_eq!(page(3, 0).await, newest_first[..3]);
    assert_eq!(page(3, 3).await, newest_first[3..6]);
    assert_eq!(page(3, 6).await, newest_first[6..]);
    assert!(page(3, 9).await.is_empty());
    assert!(page(0, 0).await.is_empty(), "a zero limit is an empty page");
}

async fn live_sessions_are_the_waiting_and_in_progress_ones(store: DynStore) {
    let alice = player(&store, "alice").await;
    let mut live = Vec::new();
    for (i, state) in ["waiting", "finished", "in_progress", "aborted", "waiting"]
        .into_iter()
        .enumerate()
    {
        let game = new_game(alice, "chess", "private", T0);
        let mut first = bundle(game.id, 1, state, &[alice]);
        first.session.created_at_ms = T0 + 10 - i as i64;
        let sid = first.session.id;
        store.create_game(game, first).await.unwrap();
        if matches!(state, "waiting" | "in_progress") {
            live.push(sid);
        }
    }
    live.reverse(); // oldest first: created_at falls with i
    let found = store.live_sessions().await.unwrap();
    assert_eq!(found.iter().map(|s| s.id).collect::<Vec<_>>(), live);

    // Finishing one takes it out.
    store
        .append_journal(&[JournalEntry {
            session: Some(SessionUpdate {
                state: "aborted".into(),
                start_time_ms: None,
                end_time_ms: Some(T0 + 99),
                result: None,
            }),
            ..JournalEntry::event(event(live[0], 3, "aborted"))
        }])
        .await
        .unwrap();
    let found = store.live_sessions().await.unwrap();
    assert_eq!(found.iter().map(|s| s.id).collect::<Vec<_>>(), live[1..]);
}

async fn heartbeats_are_upserted(store: DynStore) {
    assert_eq!(store.last_heartbeat("node-a").await.unwrap(), None);
    store.record_heartbeat("node-a", 1_000).await.unwrap();
    store.record_heartbeat("node-b", 5_000).await.unwrap();
    store.record_heartbeat("node-a", 2_000).await.unwrap();
    assert_eq!(store.last_heartbeat("node-a").await.unwrap(), Some(2_000));
    assert_eq!(store.last_heartbeat("node-b").await.unwrap(), Some(5_000));
}

async fn a_batch_across_sessions_commits_every_entry(store: DynStore) {
    let alice = player(&store, "alice").await;
    let mut sessions = Vec::new();
    for _ in 0..3 {
        sessions.push(
            game_with(
                &store,
                alice,
                "chess",
                "public",
                T0,
                "in_progress",
                &[alice],
            )
            .await
            .1,
        );
    }
    // Interleaved: a, b, c, a, b, c, …
    let mut batch = Vec::new();
    for seq in 3..=6 {
        for (i, &sid) in sessions.iter().enumerate() {
            batch.push(JournalEntry::event(move_event(
                sid,
                seq,
                alice,
                &format!("m-{i}-{seq}"),
            )));
        }
    }
    store.append_journal(&batch).await.unwrap();
    for sid in sessions {
        assert_eq!(store.session(sid).await.unwrap().unwrap().last_seq, 6);
        assert_eq!(
            store
                .journal(sid, 2)
                .await
                .unwrap()
                .iter()
                .map(|e| e.seq)
                .collect::<Vec<_>>(),
            [3, 4, 5, 6]
        );
    }
}

/// The multi-row path of `append_journal` (plain entries of many sessions, written with a
/// few statements): every entry lands with its session's columns, beside entries that go one
/// by one; and a gap or a stale fence in any one of them refuses the whole batch, with the
/// same error as the one-by-one path.
async fn plain_appends_of_many_sessions_commit_together_and_one_refusal_refuses_all(
    store: DynStore,
) {
    let alice = player(&store, "alice").await;
    let bob = player(&store, "bob").await;
    // 70 sessions: chunks of 64, 4, 1 and 1 rows.
    let mut games = Vec::new();
    for _ in 0..70 {
        games.push(
            game_with(
                &store,
                alice,
                "chess",
                "public",
                T0,
                "in_progress",
                &[alice],
            )
            .await,
        );
    }
    let (_, waiting) = game_with(&store, alice, "chess", "public", T0, "waiting", &[alice]).await;
    let mut batch = Vec::new();
    for seq in 3..=4 {
        for (i, &(_, sid)) in games.iter().enumerate() {
            let mut entry =
                JournalEntry::event(move_event(sid, seq, alice, &format!("m-{i}-{seq}")));
            if i == 7 && seq == 4 {
                entry.session = Some(SessionUpdate {
                    state: "finished".into(),
                    start_time_ms: None,
                    end_time_ms: Some(T0 + 99),
                    result: Some(r#"{"outcome":"draw"}"#.into()),
                });
            }
            batch.push(entry);
        }
        if seq == 3 {
            // One entry that goes one by one (it seats bob) in the middle of the batch.
            batch.push(JournalEntry {
                seat: Some(seat(waiting, 1, bob)),
                session: Some(SessionUpdate {
                    state: "in_progress".into(),
                    start_time_ms: Some(T0 + 3),
                    end_time_ms: None,
                    result: None,
                }),
                ..JournalEntry::event(event(waiting, 3, "seat_taken"))
            });
        }
    }
    store.append_journal(&batch).await.unwrap();
    for (i, &(_, sid)) in games.iter().enumerate() {
        let session = store.session(sid).await.unwrap().unwrap();
        assert_eq!(session.last_seq, 4);
        let journal = store.journal(sid, 2).await.unwrap();
        assert_eq!(journal.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4]);
        assert_eq!(
            journal[1].client_move_id.as_deref(),
            Some(format!("m-{i}-4").as_str())
        );
        assert_eq!(journal[1].player_id, Some(alice));
        if i == 7 {
            assert_eq!(session.state, "finished");
            assert_eq!(session.end_time_ms, Some(T0 + 99));
            assert_eq!(session.result.as_deref(), Some(r#"{"outcome":"draw"}"#));
        } else {
            assert_eq!(session.state, "in_progress");
        }
    }
    let seated = store.session(waiting).await.unwrap().unwrap();
    assert_eq!((seated.state.as_str(), seated.last_seq), ("in_progress", 3));
    assert_eq!(store.seats(waiting).await.unwrap().len(), 2);

    let untouched = |store: DynStore, games: Vec<(Uuid, Uuid)>| async move {
        for (_, sid) in games {
            assert_eq!(
                store.session(sid).await.unwrap().unwrap().last_seq,
                4,
                "nothing appended"
            );
            assert_eq!(store.journal(sid, 4).await.unwrap().len(), 0);
        }
    };
    // A gap in one session's entry refuses every session's entries.
    let mut gap: Vec<JournalEntry> = games
        .iter()
        .enumerate()
        .map(|(i, &(_, sid))| JournalEntry::event(move_event(sid, 5, alice, &format!("g-{i}"))))
        .collect();
    gap[40] = JournalEntry::event(move_event(games[40].1, 6, alice, "g-40"));
    let r = store.append_journal(&gap).await;
    assert!(is_conflict(&r), "{r:?}");
    untouched(store.clone(), games.clone()).await;
    // A reused client move id, too.
    let mut dup: Vec<JournalEntry> = games
        .iter()
        .enumerate()
        .map(|(i, &(_, sid))| JournalEntry::event(move_event(sid, 5, alice, &format!("d-{i}"))))
        .collect();
    dup[3] = JournalEntry::event(move_event(games[3].1, 5, alice, "m-3-4"));
    let r = store.append_journal(&dup).await;
    assert!(is_conflict(&r), "{r:?}");
    untouched(store.clone(), games.clone()).await;

    // A stale fence in one entry: Fenced, and nothing of the batch is written.
    let (game0, sid0) = games[0];
    let LeaseOutcome::Acquired { fence: old, .. } = store
        .acquire_lease(game0, "n1", 1_000, 1_000)
        .await
        .unwrap()
    else {
        panic!()
    };
    let LeaseOutcome::Acquired { fence: new, .. } = store
        .acquire_lease(game0, "n2", 5_000, 1_000)
        .await
        .unwrap()
    else {
        panic!()
    };
    let fenced = |fence: i64| -> Vec<JournalEntry> {
        games
            .iter()
            .enumerate()
            .map(|(i, &(_, sid))| JournalEntry {
                fence: (sid == sid0).then_some(fence),
                ..JournalEntry::event(move_event(sid, 5, alice, &format!("f-{i}")))
            })
            .collect()
    };
    let r = store.append_journal(&fenced(old)).await;
    assert!(matches!(r, Err(StoreError::Fenced)), "{r:?}");
    untouched(store.clone(), games.clone()).await;
    store.append_journal(&fenced(new)).await.unwrap();
    for &(_, sid) in &games {
        assert_eq!(store.session(sid).await.unwrap().unwrap().last_seq, 5);
    }
}

async fn a_large_batch_commits_in_one_call(store: DynStore) {
    let alice = player(&store, "alice").await;
    let bob = player(&store, "bob").await;
    let mut sessions = Vec::new();
    for _ in 0..50 {
        sessions.push(
            game_with(
                &store,
                alice,
                "connect4",
                "public",
                T0,
                "in_progress",
                &[alice, bob],
            )
            .await
            .1,
        );
    }
    let mut batch = Vec::new();
    for k in 0..10 {
        for &sid in &sessions {
            let who = if k % 2 == 0 { alice } else { bob };
            batch.push(JournalEntry::event(move_event(
                sid,
                4 + k,
                who,
                &format!("c-{k}"),
            )));
        }
    }
    assert_eq!(batch.len(), 500);
    store.append_journal(&batch).await.unwrap();
    for sid in sessions {
        assert_eq!(store.session(sid).await.unwrap().unwrap().last_seq, 13);
        assert_eq!(store.journal(sid, 0).await.unwrap().len(), 13);
    }
}

async fn concurrent_appends_of_one_seq_admit_exactly_one(store: DynStore) {
    let alice = player(&store, "alice").await;
    let (_, sid) = game_with(
        &store,
        alice,
        "chess",
        "public",
        T0,
        "in_progress",
        &[alice],
    )
    .await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut e = event(sid, 3, "moved");
            e.payload = format!(r#"{{"writer":{i}}}"#);
            store.append_journal(&[JournalEntry::event(e)]).await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => ok += 1,
            Err(StoreError::Conflict(_)) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(ok, 1, "exactly one writer wins seq 3");
    assert_eq!(store.journal(sid, 2).await.unwrap().len(), 1);
    assert_eq!(store.session(sid).await.unwrap().unwrap().last_seq, 3);
}

async fn concurrent_appends_to_different_sessions_all_commit(store: DynStore) {
    let alice = player(&store, "alice").await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (_, sid) = game_with(
            &store,
            alice,
            "chess",
            "public",
            T0,
            "in_progress",
            &[alice],
        )
        .await;
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for seq in 3..13 {
                store
                    .append_journal(&[JournalEntry::event(event(sid, seq, "moved"))])
                    .await
                    .unwrap();
            }
            sid
        }));
    }
    for t in tasks {
        let sid = t.await.unwrap();
        assert_eq!(store.session(sid).await.unwrap().unwrap().last_seq, 12);
    }
}

async fn a_started_game(store: &DynStore) -> (Uuid, Uuid) {
    let alice = player(store, "alice").await;
    let bob = player(store, "bob").await;
    let game = new_game(alice, "tictactoe", "public", T0);
    let first = bundle(game.id, 1, "in_progress", &[alice, bob]);
    let ids = (game.id, first.session.id);
    store.create_game(game, first).await.unwrap();
    ids
}

async fn a_lease_is_held_by_one_node_until_it_expires_or_is_released(store: DynStore) {
    let (game, _) = a_started_game(&store).await;
    let first = store.acquire_lease(game, "n1", 1_000, 5_000).await.unwrap();
    let LeaseOutcome::Acquired {
        fence: f1,
        previous_owner: None,
        ..
    } = first
    else {
        panic!("{first:?}")
    };
    let held = store.acquire_lease(game, "n2", 2_000, 5_000).await.unwrap();
    assert_eq!(
        held,
        LeaseOutcome::Held {
            owner: "n1".into(),
            expires_at_ms: 6_000
        }
    );
    // The holder may take it again (a restart of the same node); the fence still grows.
    let again = store.acquire_lease(game, "n1", 2_500, 5_000).await.unwrap();
    let LeaseOutcome::Acquired { fence: f2, .. } = again else {
        panic!("{again:?}")
    };
    assert!(f2 > f1);
    // Expired: another node takes over and learns when the holder was last alive.
    let taken = store.acquire_lease(game, "n2", 7_600, 5_000).await.unwrap();
    let LeaseOutcome::Acquired {
        fence: f3,
        previous_owner,
        previous_alive_ms,
        previous_released,
    } = taken
    else {
        panic!("{taken:?}")
    };
    assert!(f3 > f2);
    assert_eq!(previous_owner.as_deref(), Some("n1"));
    assert_eq!(previous_alive_ms, 2_500);
    assert!(!previous_released, "n1 died holding it");
    // Released on purpose: free at once for anyone.
    store.release_lease(game, "n2", f3, 8_000).await.unwrap();
    let after = store.acquire_lease(game, "n3", 8_001, 5_000).await.unwrap();
    let LeaseOutcome::Acquired {
        previous_released: true,
        previous_alive_ms: 8_000,
        ..
    } = after
    else {
        panic!("{after:?}")
    };
    let missing = store
        .acquire_lease(Uuid::now_v7(), "n1", 1, 1)
        .await
        .unwrap();
    assert_eq!(missing, LeaseOutcome::NotFound);
}

async fn renewing_keeps_only_the_leases_a_node_still_holds(store: DynStore) {
    let (g1, _) = a_started_game(&store).await;
    let alice = player(&store, "carol").await;
    let game = new_game(alice, "tictactoe", "public", T0);
    let g2 = game.id;
    store
        .create_game(game, bundle(g2, 1, "in_progress", &[alice]))
        .await
        .unwrap();
    store.acquire_lease(g1, "n1", 1_000, 5_000).await.unwrap();
    store.acquire_lease(g2, "n1", 1_000, 5_000).await.unwrap();
    let mut held = store.renew_leases("n1", 3_000, 5_000).await.unwrap();
    held.sort();
    let mut both = vec![g1, g2];
    both.sort();
    assert_eq!(held, both);
    // n1 stalls past expiry; n2 takes g2 over; n1's renewal no longer covers g2 (nor g1,
    // which expired: a node that lost touch must re-acquire, not silently renew).
    store.acquire_lease(g2, "n2", 8_500, 5_000).await.unwrap();
    assert!(
        store
            .renew_leases("n1", 9_000, 5_000)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.renew_leases("n2", 9_000, 5_000).await.unwrap(),
        vec![g2]
    );
    assert_eq!(
        store.release_all_leases("n2", 9_500, false).await.unwrap(),
        1
    );
    let next = store.acquire_lease(g2, "n3", 9_600, 5_000).await.unwrap();
    let LeaseOutcome::Acquired {
        previous_alive_ms: 9_000,
        previous_released: false,
        ..
    } = next
    else {
        panic!("{next:?}")
    };
}

async fn an_append_with_a_stale_fence_is_refused(store: DynStore) {
    let (game, sid) = a_started_game(&store).await;
    let LeaseOutcome::Acquired { fence: old, .. } =
        store.acquire_lease(game, "n1", 1_000, 1_000).await.unwrap()
    else {
        panic!()
    };
    let LeaseOutcome::Acquired { fence: new, .. } =
        store.acquire_lease(game, "n2", 5_000, 1_000).await.unwrap()
    else {
        panic!()
    };
    let last = store.session(sid).await.unwrap().unwrap().last_seq;
    let stale = JournalEntry {
        fence: Some(old),
        ..JournalEntry::event(event(sid, last + 1, "moved"))
    };
    let refused = store.append_journal(&[stale]).await;
    assert!(matches!(refused, Err(StoreError::Fenced)), "{refused:?}");
    assert_eq!(
        store.session(sid).await.unwrap().unwrap().last_seq,
        last,
        "nothing appended"
    );
    let fresh = JournalEntry {
        fence: Some(new),
        ..JournalEntry::event(event(sid, last + 1, "moved"))
    };
    store.append_journal(&[fresh]).await.unwrap();
    assert_eq!(
        store.session(sid).await.unwrap().unwrap().last_seq,
        last + 1
    );
}

async fn orphaned_games_are_in_progress_games_with_expired_leases(store: DynStore) {
    let (game, _) = a_started_game(&store).await;
    assert_eq!(
        store.orphaned_games(1_000, 10).await.unwrap(),
        vec![game],
        "never leased"
    );
    store.acquire_lease(game, "n1", 1_000, 5_000).await.unwrap();
    assert!(store.orphaned_games(2_000, 10).await.unwrap().is_empty());
    assert_eq!(store.orphaned_games(6_000, 10).await.unwrap(), vec![game]);
}

// --- ratings, statistics and leaderboards (issue 7) -----------------------------------------

/// A rated two-player session in progress (seq 3 is its last event); returns its id.
async fn rated_session(store: &DynStore, kind: &str, a: Uuid, b: Uuid, rated: bool) -> Uuid {
    let mut game = new_game(a, kind, "public", T0);
    game.rated = rated;
    let first = bundle(game.id, 1, "in_progress", &[a, b]);
    let sid = first.session.id;
    store.create_game(game, first).await.unwrap();
    sid
}

/// The `ended` entry of a session whose last seq is 3: `winner` seat, or a draw.
fn ended(sid: Uuid, winner: Option<i64>, end_ms: i64, aborted: bool) -> JournalEntry {
    let results = |seat: i64| match (aborted, winner) {
        (true, _) => ("aborted", 0.0),
        (false, None) => ("draw", 0.5),
        (false, Some(w)) if w == seat => ("win", 1.0),
        (false, Some(_)) => ("loss", 0.0),
    };
    JournalEntry {
        session: Some(SessionUpdate {
            state: if aborted { "aborted" } else { "finished" }.into(),
            start_time_ms: None,
            end_time_ms: Some(end_ms),
            result: Some("{}".into()),
        }),
        seat_results: (0..2)
            .map(|seat| SeatResult {
                session_id: sid,
                seat,
                result: results(seat).0.into(),
                score: results(seat).1,
                points: None,
            })
            .collect(),
        ..JournalEntry::event(EventRecord {
            at_ms: end_ms,
            ..event(sid, 4, "ended")
        })
    }
}

async fn a_rated_finish_moves_both_ratings_once_with_the_result(store: DynStore) {
    use versus_rules::rating::{Rating, rate_pair};
    let alice = player(&store, "alice").await;
    let bob = player(&store, "bob").await;
    let sid = rated_session(&store, "chess", alice, bob, true).await;
    store
        .append_journal(&[ended(sid, Some(1), T0 + 50, false)])
        .await
        .unwrap();
    // The same `ended` again (a retry after an unknown outcome) is refused and changes nothing.
    assert!(is_conflict(
        &store
            .append_journal(&[ended(sid, Some(1), T0 + 60, false)])
            .await
    ));
    let (a, b) = rate_pair(Rating::default(), Rating::default(), 0.0);
    let ra = store.player_ratings(alice).await.unwrap();
    let rb = store.player_ratings(bob).await.unwrap();
    assert_eq!(ra.len(), 1);
    assert!((ra[0].rating - a.rating).abs() < 1e-9 && (rb[0].rating - b.rating).abs() < 1e-9);
    assert_eq!(
        (ra[0].games, ra[0].losses, ra[0].streak, ra[0].rated_games),
        (1, 1, -1, 1)
    );
    assert_eq!(
        (rb[0].games, rb[0].wins, rb[0].streak, rb[0].peak),
        (1, 1, 1, b.score())
    );
    let board = store.leaderboard("chess", 10, 0).await.unwrap();
    assert_eq!(
        board
            .iter()
            .map(|r| (r.rank, r.rating.player_id))
            .collect::<Vec<_>>(),
        [(1, bob), (2, alice)]
    );
    assert_eq!(store.leaderboard_size("chess").await.unwrap(), 2);
    assert!(
        store
            .leaderboard("tictactoe", 10, 0)
            .await
            .unwrap()
            .is_empty()
    );
    let hist = store
        .player_history(&versus_store::HistoryQuery {
            player_id: alice,
            kind: None,
            before_session: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(hist.len(), 1);
    assert_eq!(hist[0].result, "loss");
    assert_eq!(hist[0].opponents, [(bob, "bob".to_owned())]);
    assert_eq!(hist[0].rating_before, Some(1500.0));
    assert_eq!(hist[0].rating_after, Some(a.rating));
    let points = store.rating_history(bob, "chess", 10).await.unwrap();
    assert_eq!(points.len(), 1);
    assert_eq!((points[0].session_id, points[0].at_ms), (sid, T0 + 50));
}

async fn casual_games_count_in_statistics_and_aborted_ones_in_nothing(store: DynStore) {
    let alice = player(&store, "alice").await;
    let bob = player(&store, "bob").await;
    let casual = rated_session(&store, "connect4", alice, bob, false).await;
    store
        .append_journal(&[ended(casual, None, T0 + 10, false)])
        .await
        .unwrap();
    let aborted = rated_session(&store, "connect4", alice, bob, true).await;
    store
        .append_journal(&[ended(aborted, None, T0 + 20, true)])
        .await
        .unwrap();
    let ra = store.player_ratings(alice).await.unwrap();
    assert_eq!(ra.len(), 1);
    assert_eq!((ra[0].games, ra[0].draws, ra[0].rated_games), (1, 1, 0));
    assert_eq!(ra[0].rating, 1500.0);
    assert!(
        store
            .leaderboard("connect4", 10, 0)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .leaderboard_entry("connect4", alice)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .leaderboard_around("connect4", alice, 3)
            .await
            .unwrap()
            .is_none()
    );
    let hist = store
        .player_history(&versus_store::HistoryQuery {
            player_id: alice,
            kind: Some("connect4".into()),
            before_session: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(hist.len(), 1, "aborted sessions are not history");
    assert!(!hist[0].rated && hist[0].rating_after.is_none());
}

async fn ranks_are_distinct_stable_and_match_the_leaderboard_order(store: DynStore) {
    // Six players; three pairs play one rated game each: three winners tie, three losers tie.
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(player(&store, &format!("p{i}")).await);
    }
    let mut end = T0 + 100;
    for pair in ids.chunks(2) {
        let sid = rated_session(&store, "tictactoe", pair[0], pair[1], true).await;
        end += 1;
        store
            .append_journal(&[ended(sid, Some(0), end, false)])
            .await
            .unwrap();
    }
    let board = store.leaderboard("tictactoe", 100, 0).await.unwrap();
    assert_eq!(board.len(), 6);
    // Winners first (ties by id), then losers (ties by id); ranks 1..6.
    let mut winners = vec![ids[0], ids[2], ids[4]];
    let mut losers = vec![ids[1], ids[3], ids[5]];
    winners.sort();
    losers.sort();
    let expected: Vec<Uuid> = winners.into_iter().chain(losers).collect();
    assert_eq!(
        board.iter().map(|r| r.rating.player_id).collect::<Vec<_>>(),
        expected
    );
    for (i, row) in board.iter().enumerate() {
        assert_eq!(row.rank, i as i64 + 1);
        let mine = store
            .leaderboard_entry("tictactoe", row.rating.player_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            mine.rank, row.rank,
            "the bucket rank matches the page order"
        );
    }
    let page = store.leaderboard("tictactoe", 2, 2).await.unwrap();
    assert_eq!(page.iter().map(|r| r.rank).collect::<Vec<_>>(), [3, 4]);
    // Around rank 1, rank 4 and the last.
    let around = |rows: Vec<versus_store::LeaderboardRow>| {
        rows.iter()
            .map(|r| (r.rank, r.rating.player_id))
            .collect::<Vec<_>>()
    };
    let top = store
        .leaderboard_around("tictactoe", expected[0], 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        around(top),
        [(1, expected[0]), (2, expected[1]), (3, expected[2])]
    );
    let mid = store
        .leaderboard_around("tictactoe", expected[3], 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        around(mid),
        (2..=6)
            .map(|r| (r, expected[r as usize - 1]))
            .collect::<Vec<_>>()
    );
    let last = store
        .leaderboard_around("tictactoe", expected[5], 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        around(last),
        [(4, expected[3]), (5, expected[4]), (6, expected[5])]
    );
}

// --- chat (issue 8) ----------------------------------------------------------------------------

fn chat(room: &str, author: Option<Uuid>, body: &str) -> versus_store::NewChatEntry {
    versus_store::NewChatEntry {
        room: room.into(),
        at_ms: 1_000,
        kind: if author.is_some() {
            versus_store::ChatKind::Message
        } else {
            versus_store::ChatKind::System
        },
        author_id: author,
        body: Some(body.into()),
        target_seq: None,
    }
}

async fn chat_entries_get_gap_free_seqs_per_room_and_page_both_ways(store: DynStore) {
    let alice = player(&store, "alice").await;
    assert_eq!(store.chat_last_seq("lobby").await.unwrap(), 0);
    for i in 1..=5 {
        let r = store
            .append_chat(chat("lobby", Some(alice), &format!("m{i}")))
            .await
            .unwrap();
        assert_eq!(r.seq, i);
        assert_eq!(r.author_username.as_deref(), Some("alice"));
    }
    let other = store
        .append_chat(chat("game:x:players", None, "system"))
        .await
        .unwrap();
    assert_eq!(other.seq, 1, "each room has its own sequence");
    assert_eq!(other.kind, versus_store::ChatKind::System);
    assert_eq!(store.chat_last_seq("lobby").await.unwrap(), 5);
    let seqs = |v: Vec<versus_store::ChatRecord>| v.iter().map(|r| r.seq).collect::<Vec<_>>();
    assert_eq!(seqs(store.chat_after("lobby", 2, 2).await.unwrap()), [3, 4]);
    assert_eq!(
        seqs(store.chat_before("lobby", i64::MAX, 2).await.unwrap()),
        [4, 5]
    );
    assert_eq!(
        seqs(store.chat_before("lobby", 4, 10).await.unwrap()),
        [1, 2, 3]
    );
    let one = store.chat_entry("lobby", 3).await.unwrap().unwrap();
    assert_eq!(one.body.as_deref(), Some("m3"));
    assert!(store.chat_entry("lobby", 9).await.unwrap().is_none());
}

async fn concurrent_chat_appends_to_one_room_get_distinct_consecutive_seqs(store: DynStore) {
    let alice = player(&store, "alice").await;
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .append_chat(chat("lobby", Some(alice), &format!("m{i}")))
                    .await
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap().unwrap().seq);
    }
    seqs.sort();
    assert_eq!(seqs, (1..=16).collect::<Vec<_>>());
    assert_eq!(store.chat_after("lobby", 0, 100).await.unwrap().len(), 16);
}

async fn only_the_author_deletes_a_message_once(store: DynStore) {
    let alice = player(&store, "alice").await;
    let bob = player(&store, "bob").await;
    let m = store
        .append_chat(chat("lobby", Some(alice), "oops"))
        .await
        .unwrap();
    let deletion = |author| versus_store::NewChatEntry {
        room: "lobby".into(),
        at_ms: 2_000,
        kind: versus_store::ChatKind::Deletion,
        author_id: Some(author),
        body: None,
        target_seq: Some(m.seq),
    };
    assert!(matches!(
        store.append_chat(deletion(bob)).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store.chat_last_seq("lobby").await.unwrap(),
        1,
        "a refused deletion writes nothing"
    );
    let d = store.append_chat(deletion(alice)).await.unwrap();
    assert_eq!((d.seq, d.target_seq), (2, Some(1)));
    let gone = store.chat_entry("lobby", 1).await.unwrap().unwrap();
    assert!(gone.deleted && gone.body.is_none());
    assert!(matches!(
        store.append_chat(deletion(alice)).await,
        Err(StoreError::NotFound)
    ));
}

fn chat_seqs(records: &[versus_store::ChatRecord]) -> Vec<i64> {
    records.iter().map(|r| r.seq).collect()
}

async fn chat_batches_take_each_rooms_next_seqs_in_order_between_single_appends(store: DynStore) {
    let alice = player(&store, "alice").await;
    store
        .append_chat(chat("lobby", Some(alice), "l1"))
        .await
        .unwrap();
    store
        .append_chat(chat("game:a:players", None, "a1"))
        .await
        .unwrap();
    let batch = [
        chat("game:a:players", None, "a2"),
        chat("game:b:players", None, "b1"),
        chat("game:a:players", None, "a3"),
        chat("lobby", Some(alice), "l2"),
        chat("game:b:players", None, "b2"),
    ];
    let records = store.append_chat_batch(&batch).await.unwrap();
    let got: Vec<_> = records
        .iter()
        .map(|r| (r.room.as_str(), r.seq, r.body.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(
        got,
        [
            ("game:a:players", 2, "a2"),
            ("game:b:players", 1, "b1"),
            ("game:a:players", 3, "a3"),
            ("lobby", 2, "l2"),
            ("game:b:players", 2, "b2"),
        ],
        "each room's entries take its next seqs, in the order given"
    );
    assert_eq!(records[3].author_username.as_deref(), Some("alice"));
    assert_eq!(records[3].kind, versus_store::ChatKind::Message);
    assert_eq!(records[1].author_username, None);
    assert_eq!(records[1].kind, versus_store::ChatKind::System);
    let stored = store.chat_entry("lobby", 2).await.unwrap().unwrap();
    assert_eq!(
        stored, records[3],
        "what the batch returns is what was stored"
    );
    let next = store
        .append_chat(chat("game:a:players", None, "a4"))
        .await
        .unwrap();
    assert_eq!(next.seq, 4, "a single append continues after the batch");
    assert!(store.append_chat_batch(&[]).await.unwrap().is_empty());

    // A big batch over many rooms (several statement sizes for rooms and for entries): every
    // room stays gap-free and keeps the given order.
    let rooms: Vec<String> = (0..70).map(|i| format!("game:r{i}:spectators")).collect();
    let big: Vec<_> = (0..150)
        .map(|i| chat(&rooms[i % 70], None, &format!("e{i}")))
        .collect();
    let records = store.append_chat_batch(&big).await.unwrap();
    assert_eq!(records.len(), 150);
    for (i, room) in rooms.iter().enumerate() {
        let stored = store.chat_after(room, 0, 10).await.unwrap();
        let expected: Vec<_> = (i..150).step_by(70).map(|j| format!("e{j}")).collect();
        let n = expected.len() as i64;
        assert_eq!(chat_seqs(&stored), (1..=n).collect::<Vec<_>>(), "{room}");
        let bodies: Vec<_> = stored.iter().filter_map(|r| r.body.clone()).collect();
        assert_eq!(bodies, expected, "{room}");
        assert_eq!(store.chat_last_seq(room).await.unwrap(), n);
    }
    for (i, r) in records.iter().enumerate() {
        assert_eq!(
            (r.room.as_str(), r.seq),
            (rooms[i % 70].as_str(), (i / 70) as i64 + 1)
        );
    }
}

async fn concurrent_chat_batches_and_appends_share_each_rooms_sequence(store: DynStore) {
    let rooms = [
        "lobby",
        "game:a:players",
        "game:a:spectators",
        "game:b:players",
    ];
    // Even tasks append batches (rooms in opposite orders, so two batches want the same rows
    // in different orders), odd tasks append one entry per room.
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut order = rooms.to_vec();
                if t % 4 == 0 {
                    order.reverse();
                }
                let mut out = Vec::new();
                for round in 0..5 {
                    if t % 2 == 0 {
                        let batch: Vec<_> = order
                            .iter()
                            .flat_map(|room| {
                                [
                                    chat(room, None, &format!("t{t} r{round} x")),
                                    chat(room, None, &format!("t{t} r{round} y")),
                                ]
                            })
                            .collect();
                        let records = store.append_chat_batch(&batch).await.unwrap();
                        for pair in records.chunks(2) {
                            assert_eq!(
                                pair[1].seq,
                                pair[0].seq + 1,
                                "a batch's entries in one room are consecutive, in order"
                            );
                        }
                        out.extend(records);
                    } else {
                        for room in &order {
                            out.push(
                                store
                                    .append_chat(chat(room, None, &format!("t{t} r{round}")))
                                    .await
                                    .unwrap(),
                            );
                        }
                    }
                }
                out
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    // Per room: 4 batch tasks × 5 rounds × 2 + 4 single tasks × 5 rounds = 60 entries.
    for room in rooms {
        let mut seqs: Vec<_> = all
            .iter()
            .filter(|r| r.room == room)
            .map(|r| r.seq)
            .collect();
        seqs.sort();
        assert_eq!(seqs, (1..=60).collect::<Vec<_>>(), "{room}");
        let stored = store.chat_after(room, 0, 100).await.unwrap();
        assert_eq!(chat_seqs(&stored), (1..=60).collect::<Vec<_>>(), "{room}");
        for r in stored {
            let returned = all
                .iter()
                .find(|a| a.room == room && a.seq == r.seq)
                .unwrap();
            assert_eq!(&r, returned, "{room} seq {}", r.seq);
        }
    }
}

async fn a_chat_batch_with_a_bad_entry_or_a_deletion_writes_nothing(store: DynStore) {
    let alice = player(&store, "alice").await;
    store
        .append_chat(chat("game:a:players", None, "a1"))
        .await
        .unwrap();
    let unknown_author = Uuid::now_v7();
    let failed = store
        .append_chat_batch(&[
            chat("game:a:players", None, "a2"),
            chat("game:b:players", None, "b1"),
            chat("lobby", Some(unknown_author), "from nobody"),
            chat("lobby", Some(alice), "fine"),
        ])
        .await;
    assert!(failed.is_err(), "{failed:?}");
    let deletion = versus_store::NewChatEntry {
        room: "game:a:players".into(),
        at_ms: 2_000,
        kind: versus_store::ChatKind::Deletion,
        author_id: Some(alice),
        body: None,
        target_seq: Some(1),
    };
    let refused = store
        .append_chat_batch(&[chat("game:b:players", None, "b1"), deletion])
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    for (room, last) in [("game:a:players", 1), ("game:b:players", 0), ("lobby", 0)] {
        assert_eq!(store.chat_last_seq(room).await.unwrap(), last, "{room}");
        assert_eq!(
            store.chat_after(room, 0, 10).await.unwrap().len(),
            last as usize,
            "{room}"
        );
    }
    // The good entries go in once the bad one is left out, with the seqs they would have had.
    let records = store
        .append_chat_batch(&[
            chat("game:a:players", None, "a2"),
            chat("game:b:players", None, "b1"),
            chat("lobby", Some(alice), "fine"),
        ])
        .await
        .unwrap();
    assert_eq!(chat_seqs(&records), [2, 1, 1]);
}

async fn blocks_and_mutes_are_stored_per_player(store: DynStore) {
    let alice = player(&store, "alice").await;
    let bob = player(&store, "bob").await;
    store.block_player(alice, bob, 1).await.unwrap();
    store.block_player(alice, bob, 2).await.unwrap();
    assert_eq!(store.blocked_players(alice).await.unwrap(), [bob]);
    assert!(store.blocked_players(bob).await.unwrap().is_empty());
    assert!(store.unblock_player(alice, bob).await.unwrap());
    assert!(!store.unblock_player(alice, bob).await.unwrap());
    assert!(store.active_mute(alice, 0).await.unwrap().is_none());
    store
        .mute_player(alice, 5_000, "operator", 1_000)
        .await
        .unwrap();
    let m = store.active_mute(alice, 4_999).await.unwrap().unwrap();
    assert_eq!((m.until_ms, m.reason.as_str()), (5_000, "operator"));
    assert!(
        store.active_mute(alice, 5_000).await.unwrap().is_none(),
        "over at until_ms"
    );
    store
        .mute_player(alice, 9_000, "flood", 2_000)
        .await
        .unwrap();
    assert_eq!(
        store
            .active_mute(alice, 6_000)
            .await
            .unwrap()
            .unwrap()
            .reason,
        "flood"
    );
    assert!(matches!(
        store
            .mute_player(Uuid::now_v7(), 9_000, "operator", 0)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(store.unmute_player(alice).await.unwrap());
    assert!(store.active_mute(alice, 6_000).await.unwrap().is_none());
}

// --- social (issue 9) --------------------------------------------------------------------------

async fn friend_requests_become_symmetric_friendships(store: DynStore) {
    use versus_store::FriendRequestOutcome;
    let alice = player(&store, "alice").await;
    let bob = player(&store, "bob").await;
    let carol = player(&store, "carol").await;
    assert_eq!(
        store.send_friend_request(alice, bob, 1).await.unwrap(),
        FriendRequestOutcome::Sent
    );
    assert_eq!(
        store.send_friend_request(alice, bob, 2).await.unwrap(),
        FriendRequestOutcome::Sent,
        "repeating keeps the request"
    );
    let reqs = store.friend_requests(bob).await.unwrap();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        (reqs[0].from_id, reqs[0].to_id, reqs[0].created_at_ms),
        (alice, bob, 1)
    );
    assert_eq!(reqs[0].from_username, "alice");
    assert!(
        matches!(
            store.accept_friend_request(alice, bob, 3).await,
            Err(StoreError::NotFound)
        ),
        "only the addressee accepts"
    );
    store.accept_friend_request(bob, alice, 3).await.unwrap();
    assert!(store.friend_requests(bob).await.unwrap().is_empty());
    assert!(store.are_friends(alice, bob).await.unwrap());
    assert!(store.are_friends(bob, alice).await.unwrap());
    assert_eq!(
        store.send_friend_request(bob, alice, 4).await.unwrap(),
        FriendRequestOutcome::AlreadyFriends
    );
    // Crossing requests: the second one befriends.
    store.send_friend_request(carol, alice, 5).await.unwrap();
    assert_eq!(
        store.send_friend_request(alice, carol, 6).await.unwrap(),
        FriendRequestOutcome::Accepted
    );
    let friends = store.friends(alice, 0).await.unwrap();
    let names: Vec<_> = friends.iter().map(|f| f.username.as_str()).collect();
    assert_eq!(names, ["bob", "carol"]);
    assert_eq!(friends[0].since_ms, 3);
    assert_eq!(friends[0].last_seen_ms, None);
    store.set_last_seen(bob, 77).await.unwrap();
    store.set_last_seen(bob, 78).await.unwrap();
    assert_eq!(
        store.friends(alice, 0).await.unwrap()[0].last_seen_ms,
        Some(78)
    );
    assert_eq!(store.last_seen(bob).await.unwrap(), Some(78));
    // Decline / cancel.
    let dave = player(&store, "dave").await;
    store.send_friend_request(dave, alice, 7).await.unwrap();
    assert!(store.delete_friend_request(dave, alice).await.unwrap());
    assert!(!store.delete_friend_request(dave, alice).await.unwrap());
    assert!(matches!(
        store.send_friend_request(dave, Uuid::now_v7(), 8).await,
        Err(StoreError::NotFound)
    ));
    // Removing ends both directions.
    assert!(store.remove_friend(bob, alice).await.unwrap());
    assert!(!store.are_friends(alice, bob).await.unwrap());
    assert!(!store.remove_friend(alice, bob).await.unwrap());
    assert_eq!(store.friends(bob, 0).await.unwrap().len(), 0);
    // Ending everything (a block): the friendship and requests either way.
    store.send_friend_request(dave, carol, 9).await.unwrap();
    store.send_friend_request(alice, dave, 9).await.unwrap();
    store.end_friendship(alice, carol).await.unwrap();
    store.end_friendship(dave, carol).await.unwrap();
    assert!(!store.are_friends(alice, carol).await.unwrap());
    assert!(!store.are_friends(carol, alice).await.unwrap());
    assert!(store.friend_requests(carol).await.unwrap().is_empty());
    assert_eq!(
        store.friend_requests(dave).await.unwrap().len(),
        1,
        "alice's request to dave stays"
    );
}

async fn invites_are_answered_once_and_expire(store: DynStore) {
    use versus_store::{InviteState, NewInvite};
    let alice = player(&store, "alice").await;
    let bob = player(&store, "bob").await;
    let (game, _) = game_with(
        &store,
        alice,
        "tictactoe",
        "private",
        1,
        "waiting",
        &[alice],
    )
    .await;
    let direct = NewInvite {
        id: Uuid::now_v7(),
        game_id: game,
        from_id: alice,
        to_id: Some(bob),
        code_hash: None,
        created_at_ms: 10,
        expires_at_ms: 1_000,
    };
    store.create_invite(direct.clone()).await.unwrap();
    let link = NewInvite {
        id: Uuid::now_v7(),
        to_id: None,
        code_hash: Some("ab".repeat(32)),
        created_at_ms: 11,
        ..direct.clone()
    };
    store.create_invite(link.clone()).await.unwrap();
    let got = store.invite(direct.id).await.unwrap().unwrap();
    assert_eq!(got.to_username.as_deref(), Some("bob"));
    assert_eq!(
        (got.from_username.as_str(), got.link, got.state),
        ("alice", false, InviteState::Pending)
    );
    let by_code = store
        .invite_by_code_hash(&"ab".repeat(32))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (by_code.id, by_code.link, by_code.to_id),
        (link.id, true, None)
    );
    assert!(store.invite_by_code_hash("cd").await.unwrap().is_none());
    assert_eq!(store.pending_invites(bob, 500).await.unwrap().len(), 1);
    assert_eq!(
        store.pending_invites(alice, 500).await.unwrap().len(),
        2,
        "sent ones too"
    );
    assert!(
        store.pending_invites(bob, 1_000).await.unwrap().is_empty(),
        "expired"
    );
    assert!(
        !store
            .finish_invite(direct.id, InviteState::Accepted, 1_000)
            .await
            .unwrap(),
        "expired"
    );
    assert!(
        store
            .finish_invite(direct.id, InviteState::Accepted, 999)
            .await
            .unwrap()
    );
    assert!(
        !store
            .finish_invite(direct.id, InviteState::Declined, 999)
            .await
            .unwrap(),
        "once"
    );
    assert_eq!(
        store.invite(direct.id).await.unwrap().unwrap().state,
        InviteState::Accepted
    );
    // An accept whose seat could not be taken gives the invite back, once.
    assert!(store.reopen_invite(direct.id).await.unwrap());
    assert!(!store.reopen_invite(direct.id).await.unwrap());
    assert_eq!(
        store.invite(direct.id).await.unwrap().unwrap().state,
        InviteState::Pending
    );
    assert_eq!(store.pending_invites(bob, 500).await.unwrap().len(), 1);
    assert!(
        store
            .finish_invite(direct.id, InviteState::Accepted, 999)
            .await
            .unwrap()
    );
    assert!(!store.reopen_invite(link.id).await.unwrap(), "not accepted");
    assert!(
        store
            .finish_invite(link.id, InviteState::Cancelled, 5)
            .await
            .unwrap()
    );
    assert!(store.pending_invites(alice, 5).await.unwrap().is_empty());
    assert!(
        is_conflict(
            &store
                .create_invite(NewInvite {
                    id: Uuid::now_v7(),
                    ..link
                })
                .await
        ),
        "codes are unique"
    );
}

async fn notifications_are_paged_newest_first_and_marked_read(store: DynStore) {
    use versus_store::NewNotification;
    let alice = player(&store, "alice").await;
    let bob = player(&store, "bob").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let n = store
            .create_notification(NewNotification {
                id: Uuid::now_v7(),
                player_id: alice,
                from_id: None,
                kind: "friend_request".into(),
                payload: format!("{{\"i\":{i}}}"),
                created_at_ms: i,
            })
            .await
            .unwrap();
        ids.push(n.id);
    }
    store
        .create_notification(NewNotification {
            id: Uuid::now_v7(),
            player_id: bob,
            from_id: None,
            kind: "x".into(),
            payload: "{}".into(),
            created_at_ms: 9,
        })
        .await
        .unwrap();
    let page = store.notifications(alice, None, false, 3).await.unwrap();
    assert_eq!(
        page.iter().map(|n| n.id).collect::<Vec<_>>(),
        [ids[4], ids[3], ids[2]]
    );
    assert_eq!(page[0].payload, "{\"i\":4}");
    let next = store
        .notifications(alice, Some(ids[2]), false, 3)
        .await
        .unwrap();
    assert_eq!(
        next.iter().map(|n| n.id).collect::<Vec<_>>(),
        [ids[1], ids[0]]
    );
    assert_eq!(store.unread_notifications(alice).await.unwrap(), 5);
    assert_eq!(
        store
            .mark_notifications_read(alice, Some(&[ids[0], ids[1]]), 50)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .mark_notifications_read(bob, Some(&[ids[2]]), 50)
            .await
            .unwrap(),
        0,
        "not bob's"
    );
    assert_eq!(store.unread_notifications(alice).await.unwrap(), 3);
    let unread = store.notifications(alice, None, true, 10).await.unwrap();
    assert_eq!(unread.len(), 3);
    assert_eq!(
        store.notifications(alice, None, false, 10).await.unwrap()[4].read_at_ms,
        Some(50)
    );
    assert_eq!(
        store
            .mark_notifications_read(alice, None, 60)
            .await
            .unwrap(),
        3
    );
    assert_eq!(store.unread_notifications(alice).await.unwrap(), 0);
    assert_eq!(store.unread_notifications(bob).await.unwrap(), 1);

    // Those from a player bob blocks are hidden while he does.
    let from_alice = store
        .create_notification(NewNotification {
            id: Uuid::now_v7(),
            player_id: bob,
            from_id: Some(alice),
            kind: "friend_request".into(),
            payload: "{}".into(),
            created_at_ms: 70,
        })
        .await
        .unwrap();
    assert_eq!(store.unread_notifications(bob).await.unwrap(), 2);
    store.block_player(bob, alice, 80).await.unwrap();
    assert_eq!(store.unread_notifications(bob).await.unwrap(), 1);
    let bobs = store.notifications(bob, None, false, 10).await.unwrap();
    assert_eq!(bobs.len(), 1);
    assert_ne!(bobs[0].id, from_alice.id);
    assert!(store.unblock_player(bob, alice).await.unwrap());
    assert_eq!(
        store.notifications(bob, None, true, 10).await.unwrap()[0].id,
        from_alice.id
    );
}

async fn presence_is_counted_per_node_and_expires(store: DynStore) {
    let alice = player(&store, "alice").await;
    let bob = player(&store, "bob").await;
    store.send_friend_request(alice, bob, 1).await.unwrap();
    store.accept_friend_request(bob, alice, 1).await.unwrap();
    assert!(!store.is_online(bob, 0).await.unwrap());
    store.set_node_presence(bob, "n1", 2, 1_000).await.unwrap();
    store.set_node_presence(bob, "n2", 1, 500).await.unwrap();
    assert!(store.is_online(bob, 999).await.unwrap());
    assert!(!store.is_online(bob, 1_000).await.unwrap());
    let f = &store.friends(alice, 600).await.unwrap()[0];
    assert!(f.online);
    assert_eq!(f.playing, None);
    assert_eq!(store.friend_ids(alice).await.unwrap(), [bob]);
    assert_eq!(store.refresh_node_presence("n2", 2_000).await.unwrap(), 1);
    assert_eq!(
        store.expire_presence(1_500).await.unwrap(),
        [bob],
        "n1 is dead"
    );
    assert!(
        store.is_online(bob, 1_500).await.unwrap(),
        "n2 still has bob"
    );
    store.set_node_presence(bob, "n2", 0, 2_000).await.unwrap();
    assert!(!store.is_online(bob, 1_500).await.unwrap());
    store
        .set_node_presence(alice, "n3", 1, 9_000)
        .await
        .unwrap();
    assert_eq!(store.clear_node_presence("n3").await.unwrap(), [alice]);
    assert!(!store.is_online(alice, 0).await.unwrap());
    // Playing: seated in an in-progress session.
    let (game, _) = game_with(
        &store,
        alice,
        "tictactoe",
        "public",
        1,
        "in_progress",
        &[alice, bob],
    )
    .await;
    assert_eq!(store.playing(bob).await.unwrap(), Some(game));
    assert_eq!(
        store.friends(alice, 0).await.unwrap()[0].playing,
        Some(game)
    );
    let (_, _) = game_with(
        &store,
        alice,
        "tictactoe",
        "public",
        2,
        "finished",
        &[alice],
    )
    .await;
    assert_eq!(store.playing(alice).await.unwrap(), Some(game));
}

/// What friends were last told is one row per player: a change is claimed once, whoever
/// asks, and going offline records when.
async fn presence_changes_are_claimed_once_each(store: DynStore) {
    use versus_store::AnnouncedPresence;
    let alice = player(&store, "alice").await;
    let bob = player(&store, "bob").await;
    assert_eq!(
        store.claim_presence_change(alice, 1).await.unwrap(),
        None,
        "never announced: offline already"
    );
    store
        .set_node_presence(alice, "n1", 1, 1_000)
        .await
        .unwrap();
    assert_eq!(
        store.claim_presence_change(alice, 10).await.unwrap(),
        Some(AnnouncedPresence::Online)
    );
    assert_eq!(store.claim_presence_change(alice, 11).await.unwrap(), None);
    // Another node (n2) noticing the same player changes nothing.
    store
        .set_node_presence(alice, "n2", 1, 1_000)
        .await
        .unwrap();
    assert_eq!(store.claim_presence_change(alice, 12).await.unwrap(), None);
    let (game, _) = game_with(
        &store,
        bob,
        "tictactoe",
        "public",
        1,
        "in_progress",
        &[bob, alice],
    )
    .await;
    assert_eq!(
        store.claim_presence_change(alice, 20).await.unwrap(),
        Some(AnnouncedPresence::InGame(game))
    );
    assert_eq!(store.claim_presence_change(alice, 21).await.unwrap(), None);
    assert_eq!(store.last_seen(alice).await.unwrap(), None);
    // Both nodes' rows expire at 1_000: offline, seen then.
    assert_eq!(
        store.claim_presence_change(alice, 1_000).await.unwrap(),
        Some(AnnouncedPresence::Offline)
    );
    assert_eq!(store.last_seen(alice).await.unwrap(), Some(1_000));
    assert_eq!(
        store.claim_presence_change(alice, 1_001).await.unwrap(),
        None
    );
    // Claims racing for one change: exactly one wins.
    store
        .set_node_presence(alice, "n1", 1, 9_000)
        .await
        .unwrap();
    let claims = (0..8).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.claim_presence_change(alice, 2_000).await.unwrap() })
    });
    let mut won = Vec::new();
    for c in claims {
        won.extend(c.await.unwrap());
    }
    assert_eq!(won, [AnnouncedPresence::InGame(game)]);
    assert!(matches!(
        store.claim_presence_change(Uuid::now_v7(), 1).await,
        Err(StoreError::NotFound)
    ));
}

// --- matchmaking (issue 9) -----------------------------------------------------------------

fn ticket(player_id: Uuid, kind: &str, rating: f64, at: i64) -> versus_store::NewTicket {
    versus_store::NewTicket {
        id: Uuid::now_v7(),
        player_id,
        username: "p".into(),
        kind: kind.into(),
        pool: format!("{kind}/none/casual"),
        time_control: None,
        rated: false,
        rating,
        created_at_ms: at,
        alive_until_ms: at + 1_000,
    }
}

/// Pairs every waiting ticket with the next one, creating a game for each pair.
fn pair_all(
    tickets: &[versus_store::TicketRecord],
    _blocks: &[(Uuid, Uuid)],
) -> Vec<versus_store::MatchPlan> {
    tickets
        .chunks_exact(2)
        .map(|c| {
            let game = new_game(c[0].player_id, &c[0].kind, "public", T0);
            let first = bundle(game.id, 1, "waiting", &[c[0].player_id]);
            versus_store::MatchPlan {
                tickets: [c[0].id, c[1].id],
                game,
                first,
            }
        })
        .collect()
}

async fn matchmaking_tickets_wait_once_per_kind_pair_once_and_expire(store: DynStore) {
    let mut players = Vec::new();
    for i in 0..10 {
        players.push(player(&store, &format!("mm{i}")).await);
    }
    let first = store
        .create_ticket(ticket(players[0], "chess", 1500.0, T0))
        .await
        .unwrap();
    assert_eq!(first.state, "waiting");
    assert!(is_conflict(
        &store
            .create_ticket(ticket(players[0], "chess", 1500.0, T0))
            .await
    ));
    assert!(
        store
            .create_ticket(ticket(players[0], "connect4", 1500.0, T0))
            .await
            .is_ok()
    );
    assert_eq!(
        store
            .waiting_ticket(players[0], "chess")
            .await
            .unwrap()
            .unwrap()
            .id,
        first.id
    );
    // Cancel: only the owner, only once; then a new one may be made.
    assert!(
        !store
            .end_ticket(first.id, players[1], "cancelled", T0)
            .await
            .unwrap()
    );
    assert!(
        store
            .end_ticket(first.id, players[0], "cancelled", T0)
            .await
            .unwrap()
    );
    assert!(
        !store
            .end_ticket(first.id, players[0], "cancelled", T0)
            .await
            .unwrap()
    );
    assert_eq!(
        store.ticket(first.id).await.unwrap().unwrap().state,
        "cancelled"
    );

    // Ten tickets, two passes at once: every ticket paired exactly once.
    let mut ids = Vec::new();
    for (i, p) in players.iter().enumerate() {
        ids.push(
            store
                .create_ticket(ticket(*p, "chess", 1500.0, T0 + i as i64))
                .await
                .unwrap()
                .id,
        );
    }
    assert!(
        store
            .waiting_pools()
            .await
            .unwrap()
            .contains(&"chess/none/casual".to_string())
    );
    let (a, b) = tokio::join!(
        store.pair_tickets("chess/none/casual", T0 + 10, &pair_all),
        store.pair_tickets("chess/none/casual", T0 + 10, &pair_all),
    );
    let made = a.unwrap().len() + b.unwrap().len();
    assert_eq!(made, 5);
    let mut games = std::collections::HashMap::new();
    for id in &ids {
        let t = store.ticket(*id).await.unwrap().unwrap();
        assert_eq!(t.state, "matched");
        assert!(t.opponent_id.is_some());
        *games.entry(t.game_id.unwrap()).or_insert(0) += 1;
        assert!(store.game(t.game_id.unwrap()).await.unwrap().is_some());
    }
    assert!(games.values().all(|&n| n == 2) && games.len() == 5);

    // Keep-alive and expiry: the connect4 ticket lives until T0 + 1000.
    assert_eq!(
        store
            .keep_tickets_alive(&[players[0]], T0 + 5_000)
            .await
            .unwrap(),
        1
    );
    assert!(store.expire_tickets(T0 + 4_000).await.unwrap().is_empty());
    let expired = store.expire_tickets(T0 + 6_000).await.unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].state, "expired");
    assert!(store.waiting_pools().await.unwrap().is_empty());
}

/// The `ended` entry of `sid` at `seq`: finished, with each seat's points (`None`: a kind
/// without points).
fn ended_with_points(sid: Uuid, seq: i64, points: &[Option<i64>]) -> JournalEntry {
    JournalEntry {
        session: Some(SessionUpdate {
            state: "finished".into(),
            start_time_ms: None,
            end_time_ms: Some(T0 + 900),
            result: Some(r#"{"outcome":"win","winner":0}"#.into()),
        }),
        seat_results: points
            .iter()
            .enumerate()
            .map(|(seat, p)| SeatResult {
                session_id: sid,
                seat: seat as i64,
                result: if seat == 0 { "win" } else { "loss" }.into(),
                score: if seat == 0 { 1.0 } else { 0.0 },
                points: *p,
            })
            .collect(),
        ..JournalEntry::event(event(sid, seq, "ended"))
    }
}

async fn points_add_up_per_player_and_kind_once_per_finished_session(store: DynStore) {
    let alice = player(&store, "alice").await;
    let bob = player(&store, "bob").await;
    let carol = player(&store, "carol").await;
    let board = async |store: &DynStore, kind: &str, limit: i64, offset: i64| {
        store
            .points_leaderboard(kind, limit, offset)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.username, r.points, r.sessions))
            .collect::<Vec<_>>()
    };
    assert!(board(&store, "lightcycles", 10, 0).await.is_empty());

    // A session of three: each seat's points are added with the result, in the same append.
    let (_, first) = game_with(
        &store,
        alice,
        "lightcycles",
        "public",
        T0,
        "in_progress",
        &[alice, bob, carol],
    )
    .await;
    let end = ended_with_points(first, 5, &[Some(3), Some(1), Some(0)]);
    store
        .append_journal(std::slice::from_ref(&end))
        .await
        .unwrap();
    assert_eq!(
        board(&store, "lightcycles", 10, 0).await,
        [
            ("alice".to_string(), 3, 1),
            ("bob".to_string(), 1, 1),
            ("carol".to_string(), 0, 1)
        ]
    );

    // The same entry again is refused (its seq is taken) and adds nothing.
    assert!(store.append_journal(&[end]).await.is_err());
    assert_eq!(board(&store, "lightcycles", 10, 0).await.len(), 3);
    assert_eq!(
        board(&store, "lightcycles", 10, 0).await[0],
        ("alice".to_string(), 3, 1)
    );

    // A second session adds to the same rows: points and sessions both count.
    let (_, second) = game_with(
        &store,
        carol,
        "lightcycles",
        "public",
        T0,
        "in_progress",
        &[carol, alice],
    )
    .await;
    store
        .append_journal(&[ended_with_points(second, 4, &[Some(4), Some(0)])])
        .await
        .unwrap();
    assert_eq!(
        board(&store, "lightcycles", 10, 0).await,
        [
            ("carol".to_string(), 4, 2),
            ("alice".to_string(), 3, 2),
            ("bob".to_string(), 1, 1)
        ]
    );
    // Paged: the second line alone.
    assert_eq!(
        board(&store, "lightcycles", 1, 1).await,
        [("alice".to_string(), 3, 2)]
    );

    // A failed batch adds nothing: a good `ended` entry with a gap behind it.
    let (_, third) = game_with(
        &store,
        bob,
        "lightcycles",
        "public",
        T0,
        "in_progress",
        &[bob, alice],
    )
    .await;
    let failed = store
        .append_journal(&[
            ended_with_points(third, 4, &[Some(9), Some(9)]),
            JournalEntry::event(event(third, 6, "chat")),
        ])
        .await;
    assert!(failed.is_err(), "{failed:?}");
    assert_eq!(
        board(&store, "lightcycles", 10, 0).await[2],
        ("bob".to_string(), 1, 1)
    );

    // Boards are per kind, and results without points (turn-based kinds) count in none.
    let (_, chess) = game_with(
        &store,
        alice,
        "chess",
        "public",
        T0,
        "in_progress",
        &[alice, bob],
    )
    .await;
    store
        .append_journal(&[ended_with_points(chess, 4, &[None, None])])
        .await
        .unwrap();
    assert!(board(&store, "chess", 10, 0).await.is_empty());
    assert_eq!(board(&store, "lightcycles", 10, 0).await.len(), 3);
}
