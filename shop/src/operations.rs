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
//!
//! The queue numbers underneath are the harness's
//! [`harness::Broker::queue_status`].

mod conversations;

pub use conversations::{
    Conversation, Conversations, Parked, Progress, TrackedMessage, Waiting, run_until_settled,
};
