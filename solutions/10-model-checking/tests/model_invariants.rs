//! Exercise 10: each test switches on one invariant of the original TLA+
//! specification, and the model checker looks for a run of the handler in
//! `src/model/handler.rs` that breaks it: every order of steps, every
//! failure, every retry. When it finds one, the test fails with the
//! shortest such run, step by step.

use handler_model::{Invariant, expect_invariant};
use model_checking::HANDLER;

/// A ghost message: an event announces a change the store does not have.
#[test]
fn no_ghost_messages() {
    expect_invariant(
        HANDLER,
        Invariant::NoGhostMessages,
        "an event may only tell about a change the store has. \
         Reorder STEPS: update the store first, then send.",
    );
}

/// A lost message: the queue forgot a message whose event never went out.
#[test]
fn no_lost_messages() {
    expect_invariant(
        HANDLER,
        Invariant::NoLostMessages,
        "acknowledge only once the change is stored and the event sent (keep Ack last), \
         and let a retry send again: do not skip the send because the store has the change.",
    );
}

/// Duplicate processing: a retry changes the store a second time.
#[test]
fn no_duplicate_processing() {
    expect_invariant(
        HANDLER,
        Invariant::NoDuplicateProcessing,
        "a retry (after a failed acknowledgement, say) runs update_store again. Guard it: \
         when attempt.stored_change() finds the change, write nothing.",
    );
}

/// Inconsistent output: a retry sends an event that says something else.
#[test]
fn consistent_output() {
    expect_invariant(
        HANDLER,
        Invariant::ConsistentOutput,
        "each attempt builds its event with its own data. Send what the store recorded: \
         the event of attempt.stored_change() (change.event()), not attempt.new_event().",
    );
}
