//! The operator's view of the shop: what a person on call wants to know at
//! 3 a.m., read from the simulated cloud without changing it.
//!
//! - [`Conversations`]: the conversation tracker. Every message grouped by
//!   the conversation it belongs to (a customer's request and everything it
//!   caused), linked to its cause, and per conversation: complete, parked
//!   (a message of it is dead-lettered: which, and why) or in progress
//!   (which messages still wait, on which queue). Tests wait for
//!   [`Conversations::all_complete_or_parked`] with [`run_until_settled`]
//!   instead of sleeping.
//! - [`Conversation::tree`]: the causation tree of one conversation, as
//!   text: each message under its cause, and per queue who handled it and
//!   how it ended (acknowledged, retried, dead-lettered and why, replayed).
//! - [`StatusReport`]: the status report: per queue ready / in flight /
//!   delivered / dead-lettered / retried and the age of the oldest ready
//!   message, a health check per [`Component`] (liveness trivial, readiness
//!   read-only, lag from the queue), and the alerts the deck asks for (dead
//!   letters, a message older than [`Thresholds`]), with colour on a terminal.
//!
//! The queue numbers underneath are the harness's
//! [`harness::Broker::queue_status`].

mod conversations;
pub mod health;
mod status;
mod tree;

pub use conversations::{
    Conversation, Conversations, Parked, Progress, TrackedMessage, Waiting, run_until_settled,
};
pub use health::{Component, Health};
pub use status::{Alert, StatusReport, Thresholds};
