//! The journal writer: one task that commits the journal appends of ALL games, grouped.
//!
//! Actors send their entries with [`JournalWriter::append`] and wait for the commit. The
//! writer takes the first waiting request, then everything else already queued (up to
//! `max_batch` entries, optionally waiting `window` for more), and commits the lot in one
//! transaction — group commit: while one commit's fsync is in flight, the next batch queues,
//! so durability costs one fsync per batch, not per move, and adds no waiting when idle.
//! If a batch fails, its requests are retried one by one so that one bad request cannot
//! fail the others.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use versus_store::{DynStore, JournalEntry, StoreError};

/// Tuning of the group commit.
#[derive(Debug, Clone, Copy)]
pub struct JournalConfig {
    /// Requests waiting for the writer (bounded: a full queue makes actors wait).
    pub queue_capacity: usize,
    /// Most entries in one transaction.
    pub max_batch: usize,
    /// Extra time to wait for more requests after the first (0: none).
    pub window: Duration,
}

struct Request {
    entries: Vec<JournalEntry>,
    reply: oneshot::Sender<Result<(), String>>,
}

/// A cloneable handle to the writer task.
#[derive(Clone, Debug)]
pub struct JournalWriter {
    tx: mpsc::Sender<Request>,
    node: Arc<str>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Request({} entries)", self.entries.len())
    }
}

/// Why an append did not commit. The caller must assume nothing about the store's state
/// beyond "not acknowledged" and reload from the journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("the journal writer has stopped")]
    Stopped,
    #[error("the append failed: {0}")]
    Failed(String),
}

impl JournalWriter {
    /// Starts the writer task. It stops when every handle is dropped.
    /// Metrics carry a `node` label, so several servers in one process (tests) or one
    /// dashboard over a cluster can tell them apart.
    pub fn spawn(
        store: DynStore,
        config: JournalConfig,
        node: &str,
    ) -> (JournalWriter, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
        let node: Arc<str> = node.into();
        let task = tokio::spawn(run(store, config, rx, node.clone()));
        (JournalWriter { tx, node }, task)
    }

    /// Commits `entries` atomically (grouped with other games' appends); returns once durable.
    pub async fn append(&self, entries: Vec<JournalEntry>) -> Result<(), JournalError> {
        let pending = metrics::gauge!("journal_pending_requests", "node" => self.node.to_string());
        pending.increment(1.0);
        let (reply, rx) = oneshot::channel();
        let result = async {
            self.tx
                .send(Request { entries, reply })
                .await
                .map_err(|_| JournalError::Stopped)?;
            rx.await
                .map_err(|_| JournalError::Stopped)?
                .map_err(JournalError::Failed)
        }
        .await;
        pending.decrement(1.0);
        result
    }
}

async fn run(
    store: DynStore,
    config: JournalConfig,
    mut rx: mpsc::Receiver<Request>,
    node: Arc<str>,
) {
    let mut batch: Vec<Request> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut entries = first.entries.len();
        batch.push(first);
        let deadline = tokio::time::Instant::now() + config.window;
        while entries < config.max_batch {
            let next = match rx.try_recv() {
                Ok(r) => Some(r),
                Err(mpsc::error::TryRecvError::Empty) if !config.window.is_zero() => {
                    tokio::time::timeout_at(deadline, rx.recv())
                        .await
                        .ok()
                        .flatten()
                }
                Err(_) => None,
            };
            match next {
                Some(r) => {
                    entries += r.entries.len();
                    batch.push(r);
                }
                None => break,
            }
        }
        commit(&store, std::mem::take(&mut batch), entries, &node).await;
    }
}

async fn commit(store: &DynStore, batch: Vec<Request>, entries: usize, node: &str) {
    let all: Vec<JournalEntry> = batch
        .iter()
        .flat_map(|r| r.entries.iter().cloned())
        .collect();
    let started = Instant::now();
    let result = store.append_journal(&all).await;
    let node = node.to_string();
    metrics::histogram!("journal_commit_duration_seconds", "node" => node.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::histogram!("journal_batch_entries", "node" => node.clone()).record(entries as f64);
    metrics::counter!("journal_commits_total", "node" => node).increment(1);
    match result {
        Ok(()) => {
            for r in batch {
                let _ = r.reply.send(Ok(()));
            }
        }
        Err(e) if batch.len() == 1 => {
            let _ = batch
                .into_iter()
                .next()
                .map(|r| r.reply.send(Err(describe(&e))));
        }
        Err(e) => {
            tracing::warn!(error = %e, requests = batch.len(), "group commit failed; retrying requests one by one");
            for r in batch {
                let result = store
                    .append_journal(&r.entries)
                    .await
                    .map_err(|e| describe(&e));
                let _ = r.reply.send(result);
            }
        }
    }
}

fn describe(e: &StoreError) -> String {
    e.to_string()
}
