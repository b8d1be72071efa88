//! Helpers for the exercises' tests, written once: each turns what went
//! wrong into a [`harness::Failure`] report in the course's words (steps,
//! seed, replay command, diagram).

pub mod sql;
pub mod world;
