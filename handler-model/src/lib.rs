//! # The handler model: exercise 10's model checker
//!
//! A model of the message handler that the [`stateright`] model checker
//! explores, after the original workshop's TLA+ specification
//! `MessageHandler.tla`. The handler receives a message, updates the store,
//! sends an event and acknowledges the message. Any of those steps may fail,
//! and a failed message comes back from the queue to be handled again. The
//! checker tries every order of events and every failure, and tells whether
//! an invariant can break: a ghost message, a lost message, a duplicate
//! change, an inconsistent output.
//!
//! The lesson of exercise 10 is the handler itself: the order of its steps
//! and what two of them do. The exercise fills in a [`HandlerSteps`] with
//! plain functions over an [`Attempt`]; this crate does the rest, and uses
//! none of the shop's code (the model is the algorithm alone).
//!
//! ```
//! use handler_model::{Attempt, Config, HandlerModel, HandlerSteps, Invariant, Step};
//!
//! // The handler as exercise 10 starts: send first, then update the store.
//! fn update_store(attempt: &mut Attempt) {
//!     attempt.save_change();
//! }
//! fn send(attempt: &mut Attempt) {
//!     let event = attempt.new_event();
//!     attempt.send(event);
//! }
//! let handler = HandlerSteps {
//!     order: &[Step::Send, Step::UpdateStore, Step::Ack],
//!     update_store,
//!     send,
//! };
//!
//! let invariant = Invariant::NoGhostMessages;
//! let model = HandlerModel::only(handler, Config::DEFAULT, invariant);
//! let counterexample = handler_model::check_shortest(model, invariant.name()).unwrap_err();
//! assert_eq!(counterexample.steps.len(), 3);
//! assert_eq!(counterexample.steps[2], "handler 1's store update fails: m1 goes back to the queue (attempt 2 next)");
//! ```
//!
//! A test of the exercise calls [`expect_invariant`], which fails with the
//! shortest counterexample as a harness report (steps, Explorer link,
//! diagram); the exercise's example `explore` serves the Explorer with [`explore::command`].
//!
//! - `attempt.rs`: what a step of the lesson can do: read the store, write
//!   the change, send.
//! - `message_handler.rs`: the model (the queue, the handlers, the store,
//!   the steps and their failures); `invariants.rs`: the four invariants;
//!   `narrate.rs`: its steps in the course's words.
//! - `check.rs`: the checker's entry points: the shortest counterexample,
//!   the state counts.
//! - `report.rs`: a counterexample as a harness report with a diagram.
//! - `explore.rs`: the Explorer, and the `explore` command of exercise 10.
//! - `exactly_once.rs`: the stretch: two handlers and optimistic
//!   concurrency (the original workshop's `exactly_once.tla`).

#![warn(missing_docs)]

mod attempt;
mod check;
pub mod exactly_once;
pub mod explore;
mod invariants;
mod message_handler;
mod narrate;
mod report;

pub use attempt::{Attempt, Change, ItemAdded, Misstep};
pub use check::{Counterexample, Narrated, Stats, check_all, check_shortest};
pub use explore::explorer_url;
pub use invariants::Invariant;
pub use message_handler::{
    Action, Config, Delivery, Handler, HandlerModel, HandlerSteps, MessageId, State, Step,
};
pub use report::{LESSON_FILE, expect_invariant};
