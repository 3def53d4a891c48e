//! The server's integration tests: one test binary (one link, one process), one module per
//! area of the API, each test against a real server on port 0 with its own database, on
//! SQLite and on PostgreSQL. See `helpers.rs` for how to write one.
//!
//! Run: `cargo test -p versus-server --test api` (set `VERSUS_TEST_POSTGRES_URL` for the
//! PostgreSQL half, `TEST_LOG=1` to see the server's logs).

// A test binary has no public API; `pub` marks what helpers offer the other modules.
#![allow(unreachable_pub)]

#[macro_use]
mod helpers;

mod accounts;
mod authz;
mod chat;
mod cli;
mod floods;
mod games;
mod input_limits;
mod matchmaking;
mod ratings;
mod realtime;
mod sealed_emails;
mod secrets_in_logs;
mod slow_clients;
mod social;
mod system;
mod tokens_at_rest;
mod transport;
mod websocket;
mod ws_client;
