//! Helpers for the exercises' tests, written once: each turns what went
//! wrong into a [`harness::Failure`] report in the course's words (steps,
//! seed, replay command, diagram). One file per area of the shop, so that
//! each can grow on its own.

pub mod front;
pub mod kv;
pub mod payments;
pub mod shipping;
pub mod sql;
pub mod storm;
pub mod tokens;
pub mod world;
