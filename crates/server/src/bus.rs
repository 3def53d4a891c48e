//! The cluster's message bus: publish/subscribe with subjects, and request/reply.
//!
//! Two implementations behind one interface, so the server has one code path whether it runs
//! alone or in a cluster: [`Bus::in_process`] (no `--nats-url`: subjects are matched inside
//! this process) and [`Bus::nats`] (core NATS: every node of a cluster connects to the same
//! NATS). Both behave alike: at-most-once delivery, per-publisher order, a request with no
//! subscriber on its subject fails at once with [`BusError::NoResponders`].
//!
//! Subjects (see docs/ARCHITECTURE.md for the whole scheme):
//! - `versus.game.<game_id>.cmd`: requests to the node that owns the game (only the owner
//!   subscribes).
//! - `versus.game.<game_id>.events`: the owner publishes every committed event, serialized
//!   once as a `ServerMessage::Event` JSON text; nodes with local subscribers listen.
//! - Later features (chat, presence, matchmaking, notifications) add their own `versus.*`
//!   subjects on the same bus.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;

/// The subject of requests to a game's owner.
pub fn game_cmd_subject(game_id: uuid::Uuid) -> String {
    format!("versus.game.{game_id}.cmd")
}

/// The subject of a game's committed events.
pub fn game_events_subject(game_id: uuid::Uuid) -> String {
    format!("versus.game.{game_id}.events")
}

/// One message received from a subscription.
#[derive(Debug, Clone)]
pub struct BusMessage {
    pub subject: String,
    pub payload: Bytes,
    /// Where to send the reply, for requests.
    pub reply: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("no one is listening on the subject")]
    NoResponders,
    #[error("the request timed out")]
    TimedOut,
    #[error("bus error: {0}")]
    Other(String),
}

/// A live subscription; dropping it unsubscribes.
pub struct Subscription {
    stream: Pin<Box<dyn Stream<Item = BusMessage> + Send>>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Subscription")
    }
}

impl Subscription {
    /// The next message; `None` when the bus closed the subscription.
    pub async fn next(&mut self) -> Option<BusMessage> {
        self.stream.next().await
    }
}

/// A cheap, cloneable handle to the bus.
#[derive(Clone)]
pub struct Bus {
    inner: BusImpl,
}

#[derive(Clone)]
enum BusImpl {
    Local(Arc<LocalBus>),
    Nats(async_nats::Client),
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.inner {
            BusImpl::Local(_) => "Bus(in-process)",
            BusImpl::Nats(_) => "Bus(nats)",
        })
    }
}

impl Bus {
    /// The in-process bus (one node, no NATS). `capacity` bounds each subscription's queue;
    /// a full queue drops messages for that subscriber, as NATS does for a slow consumer.
    pub fn in_process(capacity: usize) -> Bus {
        Bus {
            inner: BusImpl::Local(Arc::new(LocalBus {
                subs: Mutex::new(LocalSubs::default()),
                next_id: AtomicU64::new(1),
                capacity,
            })),
        }
    }

    /// Connects to NATS at `url` (`nats://host:4222`).
    pub async fn nats(url: &str, node: &str, capacity: usize) -> Result<Bus, BusError> {
        let client = async_nats::ConnectOptions::new()
            .name(format!("versus-{node}"))
            .subscription_capacity(capacity)
            .connection_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|e| BusError::Other(e.to_string()))?;
        Ok(Bus {
            inner: BusImpl::Nats(client),
        })
    }

    pub fn kind(&self) -> &'static str {
        match self.inner {
            BusImpl::Local(_) => "in-process",
            BusImpl::Nats(_) => "nats",
        }
    }

    pub async fn publish(&self, subject: String, payload: Bytes) -> Result<(), BusError> {
        match &self.inner {
            BusImpl::Local(bus) => {
                bus.deliver(&subject, payload, None);
                Ok(())
            }
            BusImpl::Nats(c) => c
                .publish(subject, payload)
                .await
                .map_err(|e| BusError::Other(e.to_string())),
        }
    }

    /// Subscribes to `subject` (`*` matches one token, a final `>` the rest).
    pub async fn subscribe(&self, subject: String) -> Result<Subscription, BusError> {
        match &self.inner {
            BusImpl::Local(bus) => Ok(bus.subscribe(subject)),
            BusImpl::Nats(c) => {
                let sub = c
                    .subscribe(subject)
                    .await
                    .map_err(|e| BusError::Other(e.to_string()))?;
                let stream = sub.map(|m| BusMessage {
                    subject: m.subject.to_string(),
                    payload: m.payload,
                    reply: m.reply.map(|r| r.to_string()),
                });
                Ok(Subscription {
                    stream: Box::pin(stream),
                })
            }
        }
    }

    /// Sends a request and waits up to `timeout` for the first reply.
    pub async fn request(
        &self,
        subject: String,
        payload: Bytes,
        timeout: Duration,
    ) -> Result<Bytes, BusError> {
        match &self.inner {
            BusImpl::Local(bus) => {
                let inbox = format!(
                    "_INBOX.local.{}",
                    bus.next_id.fetch_add(1, Ordering::Relaxed)
                );
                let mut sub = bus.subscribe(inbox.clone());
                if bus.deliver(&subject, payload, Some(inbox)) == 0 {
                    return Err(BusError::NoResponders);
                }
                match tokio::time::timeout(timeout, sub.next()).await {
                    Ok(Some(m)) => Ok(m.payload),
                    Ok(None) => Err(BusError::Other("the bus closed".into())),
                    Err(_) => Err(BusError::TimedOut),
                }
            }
            BusImpl::Nats(c) => {
                let req = async_nats::Request::new()
                    .payload(payload)
                    .timeout(Some(timeout));
                match c.send_request(subject, req).await {
                    Ok(m) => Ok(m.payload),
                    Err(e) => Err(match e.kind() {
                        async_nats::RequestErrorKind::NoResponders => BusError::NoResponders,
                        async_nats::RequestErrorKind::TimedOut => BusError::TimedOut,
                        _ => BusError::Other(e.to_string()),
                    }),
                }
            }
        }
    }

    /// Answers a request received on a subscription.
    pub async fn reply(&self, to: &BusMessage, payload: Bytes) {
        if let Some(reply) = &to.reply {
            let _ = self.publish(reply.clone(), payload).await;
        }
    }

    /// Waits until everything published so far has reached the server (NATS) — used before
    /// a drain completes.
    pub async fn flush(&self) {
        if let BusImpl::Nats(c) = &self.inner {
            let _ = c.flush().await;
        }
    }
}

struct LocalSub {
    id: u64,
    pattern: Vec<String>,
    tx: mpsc::Sender<BusMessage>,
}

/// Subscriptions without wildcards are indexed by their subject, so delivering a message
/// costs one hash lookup plus a scan of the (few) wildcard subscriptions — not a scan of every
/// player's inbox subscription (which made a publish cost grow with the connections).
#[derive(Default)]
struct LocalSubs {
    exact: HashMap<String, Vec<LocalSub>>,
    wild: Vec<LocalSub>,
}

struct LocalBus {
    subs: Mutex<LocalSubs>,
    next_id: AtomicU64,
    capacity: usize,
}

fn is_wild(pattern: &[String]) -> bool {
    pattern.iter().any(|t| t == "*" || t == ">")
}

impl LocalBus {
    fn subscribe(self: &Arc<Self>, subject: String) -> Subscription {
        let (tx, rx) = mpsc::channel(self.capacity.max(1));
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let pattern: Vec<String> = subject.split('.').map(str::to_owned).collect();
        let wild = is_wild(&pattern);
        {
            let mut subs = self.subs.lock().unwrap_or_else(|p| p.into_inner());
            let sub = LocalSub { id, pattern, tx };
            if wild {
                subs.wild.push(sub);
            } else {
                subs.exact.entry(subject.clone()).or_default().push(sub);
            }
        }
        let guard = Unsubscribe {
            bus: self.clone(),
            id,
            subject: (!wild).then_some(subject),
        };
        // The stream owns the receiver and the guard: dropping it unsubscribes.
        let stream = futures_util::stream::unfold((rx, guard), |(mut rx, guard)| async move {
            rx.recv().await.map(|m| (m, (rx, guard)))
        });
        Subscription {
            stream: Box::pin(stream),
        }
    }

    /// Delivers to every matching subscriber; returns how many matched.
    fn deliver(&self, subject: &str, payload: Bytes, reply: Option<String>) -> usize {
        let tokens: Vec<&str> = subject.split('.').collect();
        let subs = self.subs.lock().unwrap_or_else(|p| p.into_inner());
        let exact = subs.exact.get(subject).into_iter().flatten();
        let wild = subs.wild.iter().filter(|s| matches(&s.pattern, &tokens));
        let mut matched = 0;
        for s in exact.chain(wild) {
            matched += 1;
            let msg = BusMessage {
                subject: subject.to_owned(),
                payload: payload.clone(),
                reply: reply.clone(),
            };
            if s.tx.try_send(msg).is_err() {
                metrics::counter!("bus_dropped_messages_total").increment(1);
            }
        }
        matched
    }
}

struct Unsubscribe {
    bus: Arc<LocalBus>,
    id: u64,
    /// The subject of a subscription without wildcards (where it is indexed).
    subject: Option<String>,
}

impl Drop for Unsubscribe {
    fn drop(&mut self) {
        let mut subs = self.bus.subs.lock().unwrap_or_else(|p| p.into_inner());
        match &self.subject {
            Some(subject) => {
                if let Some(list) = subs.exact.get_mut(subject) {
                    list.retain(|s| s.id != self.id);
                    if list.is_empty() {
                        subs.exact.remove(subject);
                    }
                }
            }
            None => subs.wild.retain(|s| s.id != self.id),
        }
    }
}

/// NATS subject matching: `*` one token, `>` one or more trailing tokens.
fn matches(pattern: &[String], subject: &[&str]) -> bool {
    for (i, p) in pattern.iter().enumerate() {
        if p == ">" {
            return subject.len() > i;
        }
        match subject.get(i) {
            Some(t) if p == "*" || p == t => {}
            _ => return false,
        }
    }
    pattern.len() == subject.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_match_like_nats() {
        let p = |s: &str| s.split('.').map(str::to_owned).collect::<Vec<_>>();
        let t = |s: &'static str| s.split('.').collect::<Vec<_>>();
        assert!(matches(&p("a.b.c"), &t("a.b.c")));
        assert!(!matches(&p("a.b.c"), &t("a.b")));
        assert!(matches(&p("a.*.c"), &t("a.x.c")));
        assert!(matches(&p("a.>"), &t("a.x.y")));
        assert!(!matches(&p("a.>"), &t("a")));
        assert!(!matches(&p("a.*"), &t("a.x.y")));
    }

    #[tokio::test]
    async fn the_in_process_bus_publishes_requests_and_reports_no_responders() {
        let bus = Bus::in_process(16);
        let mut sub = bus.subscribe("versus.game.*.cmd".into()).await.unwrap();
        let mut events = bus.subscribe("versus.game.1.events".into()).await.unwrap();
        bus.publish("versus.game.1.events".into(), Bytes::from_static(b"e1"))
            .await
            .unwrap();
        assert_eq!(
            events.next().await.unwrap().payload,
            Bytes::from_static(b"e1")
        );
        let server = bus.clone();
        tokio::spawn(async move {
            let m = sub.next().await.unwrap();
            server.reply(&m, Bytes::from_static(b"pong")).await;
        });
        let r = bus
            .request(
                "versus.game.7.cmd".into(),
                Bytes::from_static(b"ping"),
                Duration::from_secs(5),
            )
            .await;
        assert_eq!(r.unwrap(), Bytes::from_static(b"pong"));
        drop(events);
        let none = bus
            .request(
                "versus.game.7.events".into(),
                Bytes::new(),
                Duration::from_secs(1),
            )
            .await;
        assert!(matches!(none, Err(BusError::NoResponders)));
    }
}
