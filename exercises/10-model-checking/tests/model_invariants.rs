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
        "an event went out about a change that the store never got. Look at the \
         order of STEPS: what has to be true before an event may leave?",
    );
}

/// A lost message: the queue forgot a message whose event never went out.
#[test]
fn no_lost_messages() {
    expect_invariant(
        HANDLER,
        Invariant::NoLostMessages,
        "the queue forgot the message (it was acknowledged) but its event never went \
         out, and nothing will send it now. Look at when Ack runs, and at what a retry \
         still does.",
    );
}

/// Duplicate processing: a retry changes the store a second time.
#[test]
fn no_duplicate_processing() {
    expect_invariant(
        HANDLER,
        Invariant::NoDuplicateProcessing,
        "a retry (after a failed acknowledgement, say) ran update_store again and the \
         store changed twice. What can a retry find out about the attempt before it?",
    );
}

/// Inconsistent output: a retry sends an event that says something else.
#[test]
fn consistent_output() {
    expect_invariant(
        HANDLER,
        Invariant::ConsistentOutput,
        "two attempts at the same message sent events that say different things. \
         Where does the event that send builds get its data from?",
    );
}
