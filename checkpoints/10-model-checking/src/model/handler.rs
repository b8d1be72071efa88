//! The message handler, as the model checker sees it.
//!
//! The handler takes a message `m` from the queue (Receive) and then runs
//! `STEPS` in order. Each step is atomic. The checker tries each step both
//! ways: it works, or it fails; a failed step changes nothing, and `m` goes
//! back to the queue to be handled again from the top, in a new attempt.
//! `Step::Ack` is the broker's: once it worked, the queue forgets `m`.
//!
//! EXERCISE: `cargo xtask verify 10` names the invariant that breaks and
//! shows the shortest run that breaks it. Change the order of `STEPS` and
//! what the two functions do until every invariant holds.

use handler_model::{Attempt, Step};

/// The steps after Receive, in the order the handler runs them.
pub const STEPS: &[Step] = &[Step::Send, Step::UpdateStore, Step::Ack];

/// `Step::UpdateStore`: the business change, in one database transaction.
pub fn update_store(attempt: &mut Attempt) {
    attempt.save_change();
}

/// `Step::Send`: the outgoing `ItemAdded` event.
pub fn send(attempt: &mut Attempt) {
    let event = attempt.new_event();
    attempt.send(event);
}
