//! Versus wire types: every JSON body the REST API accepts or returns, the error codes, and
//! (from the live-games work on) every WebSocket message.
//!
//! This crate owns the *shape* of what crosses the wire and nothing else: no I/O, no tokio, no
//! axum, no database. The server, the load generator, the tests and the web client's generated
//! types all use these definitions, so a change here is a protocol change: add fields as
//! optional, never rename or remove one without a new protocol version.

// No `unwrap`/`expect` outside tests (no panic may depend on what a client sent);
// each remaining one is allowed where it is, with its reason. Tests may use both.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod accounts;
pub mod chat;
pub mod error;
pub mod games;
pub mod matchmaking;
pub mod ratings;
pub mod realtime;
pub mod social;
pub mod ws;

pub use accounts::*;
pub use chat::*;
pub use error::{ErrorCode, FieldError, Problem};
pub use games::*;
pub use matchmaking::*;
pub use ratings::*;
pub use social::*;
pub use ws::*;
