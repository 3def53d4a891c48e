use std::time::Instant;
use uuid::Uuid;
use versus_store::testing::*;
use versus_store::*;

async fn run(store: DynStore, label: &str) {
    let p = store
        .create_player(NewPlayer {
            id: Uuid::now_v7(),
            username: "a".into(),
            email: None,
            password_hash: None,
            guest: true,
            created_at_ms: 0,
        })
        .await
        .unwrap()
        .id;
    let mut sessions = Vec::new();
    for _ in 0..50 {
        let g = NewGame {
            id: Uuid::now_v7(),
            kind: "chess".into(),
            name: "x".into(),
            description: None,
            settings: "{}".into(),
            visibility: "public".into(),
            rated: false,
            created_by: p,
            created_at_ms: 0,
        };
        let sid = Uuid::now_v7();
        store
            .create_game(
                g.clone(),
                NewSessionBundle {
                    session: NewSession {
                        id: sid,
                        game_id: g.id,
                        number: 1,
                        state: "in_progress".into(),
                        start_time_ms: None,
                        created_at_ms: 0,
                    },
                    seats: vec![],
                    events: vec![],
                },
            )
            .await
            .unwrap();
        sessions.push(sid);
    }
    for round in 0..5 {
        let mut batch = Vec::new();
        for k in 0..10 {
            for &sid in &sessions {
                batch.push(JournalEntry::event(EventRecord {
                    session_id: sid,
                    seq: round * 10 + k + 1,
                    at_ms: 0,
                    event_type: "moved".into(),
                    player_id: Some(p),
                    client_move_id: Some(format!("{round}-{k}")),
                    payload: r#"{"from":"e2","to":"e4"}"#.into(),
                }));
            }
        }
        let t = Instant::now();
        store.append_journal(&batch).await.unwrap();
        eprintln!("{label}: 500 entries in {:?}", t.elapsed());
    }
    let t = Instant::now();
    for _ in 0..20 {
        store
            .append_journal(&[JournalEntry::event(EventRecord {
                session_id: sessions[0],
                seq: store.session(sessions[0]).await.unwrap().unwrap().last_seq + 1,
                at_ms: 0,
                event_type: "moved".into(),
                player_id: None,
                client_move_id: None,
                payload: "{}".into(),
            })])
            .await
            .unwrap();
    }
    eprintln!(
        "{label}: 20 single appends (+20 reads) in {:?}",
        t.elapsed()
    );
    let t = Instant::now();
    let page = store
        .list_games(&LobbyQuery {
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    eprintln!("{label}: lobby page of {} in {:?}", page.len(), t.elapsed());
}

#[tokio::test]
async fn bench() {
    let dir = tempfile::tempdir().unwrap();
    let s = connect(&ConnectOptions {
        url: fresh_sqlite_url(dir.path()),
        max_connections: 4,
    })
    .await
    .unwrap();
    run(s, "sqlite").await;
    let url = fresh_postgres_database(&postgres_server_url().unwrap())
        .await
        .unwrap();
    let s = connect(&ConnectOptions {
        url,
        max_connections: 4,
    })
    .await
    .unwrap();
    run(s, "postgres").await;
}
