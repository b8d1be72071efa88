//! Exercise 10: a model of the message handler, checked by `stateright`.
//!
//! The handler receives a message, updates the store, sends an event and
//! acknowledges the message. Any of those steps may fail, and a failed
//! message comes back from the queue to be handled again. The model checker
//! tries every order of events and every failure, and tells whether an
//! invariant can break: a ghost message, a lost message, a duplicate
//! change, an inconsistent output.
//!
//! - `handler.rs`: **your part**: the order of the steps and what each does.
//! - `message_handler.rs`: the model itself (the queue, the store, the
//!   steps, the failures and the four invariants).
//! - `attempt.rs`: what a step can do: read the store, write the change, send.
//! - `check.rs`: the checker's entry points: the shortest counterexample,
//!   the state counts, the Explorer.
//! - `report.rs`: a counterexample as a harness report with a diagram.
//! - `exactly_once.rs`: the stretch: two handlers and optimistic
//!   concurrency (the original workshop's `exactly_once.tla`).
//!
//! Nothing here uses the shop's code: the model is the algorithm alone.

mod attempt;
mod check;
pub mod exactly_once;
pub mod handler;
mod message_handler;
mod report;

pub use attempt::{Attempt, Change, ItemAdded};
pub use check::{
    Counterexample, Narrated, Stats, check_all, check_shortest, explore, explorer_url,
};
pub use message_handler::{
    Action, Config, Delivery, Handler, HandlerModel, Invariant, MessageId, State, Step,
};
pub use report::expect_invariant;
