//! The chat messages of the WebSocket gateway (`chat_subscribe`, `chat_unsubscribe`,
//! `chat_send`, `chat_delete`, `chat_history`). Called by `ws.rs`; never waits inline: reads
//! and writes run as the connection's pending replies, subscriptions answer through the
//! outbox.

use std::pin::Pin;

use versus_protocol::{ClientMessage, ErrorCode, PlayerRef, ServerMessage};

use super::feed::{ChatRooms, ChatSubscriber};
use super::{ChatError, ChatService, RoomId};
use crate::games::Kick;

/// What a chat request needs of its connection.
pub struct ConnChat<'a> {
    pub chat: &'a ChatService,
    pub player: &'a PlayerRef,
    pub conn_id: u64,
    pub outbox: &'a crate::outbox::Outbox,
    pub kick: &'a Kick,
    pub rooms: &'a ChatRooms,
    pub max_rooms: usize,
}

/// How a chat request is answered.
pub enum Answer {
    /// Right away.
    Now(ServerMessage),
    /// When this future completes (a pending reply of the connection).
    Later(Pin<Box<dyn Future<Output = ServerMessage> + Send>>),
    /// Through the outbox (subscriptions).
    Outbox,
}

fn error(id: Option<String>, e: ChatError) -> ServerMessage {
    ServerMessage::Error {
        id,
        code: e.code,
        message: e.message,
        supported: Vec::new(),
    }
}

fn bad_room(id: Option<String>) -> Answer {
    Answer::Now(error(
        id,
        ChatError::new(
            ErrorCode::NotFound,
            "no such room: use lobby, game:<id>:players or game:<id>:spectators",
        ),
    ))
}

/// Handles a chat message; anything else is not for this function (`None`).
pub fn handle(c: &ConnChat<'_>, msg: ClientMessage) -> Option<Answer> {
    Some(match msg {
        ClientMessage::ChatSubscribe {
            id,
            room,
            since_seq,
        } => {
            let Some(room) = RoomId::parse(&room) else {
                return Some(bad_room(id));
            };
            {
                let mut rooms = c.rooms.lock().unwrap_or_else(|p| p.into_inner());
                if !rooms.contains(&room) && rooms.len() >= c.max_rooms {
                    return Some(Answer::Now(error(
                        id,
                        ChatError::new(
                            ErrorCode::RateLimited,
                            "too many chat rooms on this connection",
                        ),
                    )));
                }
                rooms.insert(room);
            }
            let chat = c.chat.clone();
            let player = c.player.clone();
            let outbox = c.outbox.clone();
            let kick = c.kick.clone();
            let rooms = c.rooms.clone();
            let conn_id = c.conn_id;
            tokio::spawn(async move {
                let blocks = match chat.access(&player, room, false).await {
                    Ok(()) => chat.block_set(player.id).await,
                    Err(e) => Err(e),
                };
                let sub = |blocks| ChatSubscriber {
                    conn_id,
                    request_id: id.clone(),
                    since_seq,
                    outbox: outbox.clone(),
                    kick: kick.clone(),
                    blocks,
                    rooms: rooms.clone(),
                };
                match blocks {
                    Ok(blocks) => chat.feeds().subscribe(room, sub(blocks)),
                    Err(e) => sub(Default::default()).fail(room, e.code, &e.message),
                }
            });
            Answer::Outbox
        }
        ClientMessage::ChatUnsubscribe { id, room } => {
            let Some(parsed) = RoomId::parse(&room) else {
                return Some(bad_room(id));
            };
            if !c
                .rooms
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&parsed)
            {
                return Some(Answer::Now(error(
                    id,
                    ChatError::new(ErrorCode::NotSubscribed, "not subscribed to that room"),
                )));
            }
            c.chat.feeds().unsubscribe(parsed, c.conn_id);
            Answer::Now(ServerMessage::ChatUnsubscribed { id, room })
        }
        ClientMessage::ChatSend { id, room, text } => {
            let Some(parsed) = RoomId::parse(&room) else {
                return Some(bad_room(id));
            };
            let chat = c.chat.clone();
            let player = c.player.clone();
            Answer::Later(Box::pin(async move {
                match chat.post(&player, parsed, &text).await {
                    Ok(entry) => ServerMessage::ChatAck {
                        id,
                        room,
                        seq: entry.seq,
                    },
                    Err(e) => error(id, e),
                }
            }))
        }
        ClientMessage::ChatDelete { id, room, seq } => {
            let Some(parsed) = RoomId::parse(&room) else {
                return Some(bad_room(id));
            };
            let chat = c.chat.clone();
            let player = c.player.clone();
            Answer::Later(Box::pin(async move {
                match chat.delete(&player, parsed, seq).await {
                    Ok(entry) => ServerMessage::ChatAck {
                        id,
                        room,
                        seq: entry.seq,
                    },
                    Err(e) => error(id, e),
                }
            }))
        }
        ClientMessage::ChatHistory {
            id,
            room,
            before,
            limit,
        } => {
            let Some(parsed) = RoomId::parse(&room) else {
                return Some(bad_room(id));
            };
            let chat = c.chat.clone();
            let player = c.player.clone();
            Answer::Later(Box::pin(async move {
                match chat.history(&player, parsed, before, limit).await {
                    Ok(page) => ServerMessage::ChatHistory { id, page },
                    Err(e) => error(id, e),
                }
            }))
        }
        _ => return None,
    })
}
