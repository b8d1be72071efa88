//! Helpers for the exercises' tests, written once. One file per area of
//! the shop, so that each can grow on its own.

pub mod front;
