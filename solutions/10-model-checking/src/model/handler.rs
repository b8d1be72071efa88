//! The message handler, as the model checker sees it.
//!
//! The handler takes a message `m` from the queue (Receive) and then runs
//! `STEPS` in order. Each step is atomic. The checker tries each step both
//! ways: it works, or it fails; a failed step changes nothing, and `m` goes
//! back to the queue to be handled again from the top, in a new attempt.
//! `Step::Ack` is the broker's: once it worked, the queue forgets `m`.

use handler_model::{Attempt, Step};

/// The steps after Receive, in the order the handler runs them.
pub const STEPS: &[Step] = &[Step::UpdateStore, Step::Send, Step::Ack];

/// `Step::UpdateStore`: the business change, in one database transaction.
pub fn update_store(attempt: &mut Attempt) {
    // A retry of a message whose change is stored already: change nothing.
    // The check and the write are one step (one transaction), so nothing
    // can slip in between them.
    if attempt.stored_change().is_some() {
        return;
    }
    attempt.save_change();
}

/// `Step::Send`: the outgoing `ItemAdded` event.
pub fn send(attempt: &mut Attempt) {
    // Send what the store recorded, not what this attempt would compute:
    // every copy sent on a retry then says the same thing (the outbox).
    if let Some(change) = attempt.stored_change() {
        attempt.send(change.event());
    }
}
