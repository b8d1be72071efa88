//! EXERCISE 17: what makes the whole system operable. Everything works on
//! a sunny day; these three functions decide what happens on the others.
//!
//! - `classify`: a failure the next attempt may not see (a store that
//!   blinked, a conflict) is worth retrying; a message that can never
//!   succeed as it is (a body that cannot be read, a filling nobody cooks,
//!   a street no courier knows) is a poison message: retrying it only
//!   delays everything behind it. It belongs in the dead-letter queue at
//!   once, where a person looks, with a reason that says what is wrong.
//! - `on_declined`: the saga's step when the provider declines a payment.
//!   A compensation is a new business action (the kitchen gives the stock
//!   back), and it must happen once, and only for an order that is not
//!   paid: the decline may come twice, or late.
//! - `restore`: the runbook's Restore step, once a person fixed the cause:
//!   put the order's dead letters back where they came from, so that the
//!   process completes, exactly once.
//!
//! The saga calls the first two (`shop/src/system/saga.rs`); the operator
//! calls the third (`System::restore`).

use harness::{Broker, Error, HandlerError, MessageId};
use shop::system::saga::PaymentDeclined;
use shop::system::{Command, Problem, SagaOrder, Stage, Step};

/// What the broker does with a failure: `HandlerError::transient` gives the
/// message back, to be tried again (up to `shop::system::MAX_ATTEMPTS`
/// times); `HandlerError::unrecoverable` dead-letters it at once.
pub fn classify(problem: &Problem) -> HandlerError {
    let reason = problem.to_string();
    match problem {
        // Understood, and wrong for good: a person must fix the data.
        Problem::Invalid(_) => HandlerError::unrecoverable(reason),
        // A body that is not what its type says reads the same next time.
        Problem::Failed(Error::BadBody { .. }) => HandlerError::unrecoverable(reason),
        // A store, the broker, a conflict: the next attempt may pass.
        Problem::Failed(_) => HandlerError::transient(reason),
    }
}

/// The saga's step when the provider declines the payment of `order`: the
/// new stage and the commands to send.
pub fn on_declined(order: &SagaOrder, _declined: &PaymentDeclined) -> Step {
    match order.stage {
        // Before the pivot: undo what was done, once.
        Stage::PaymentRequested => Step::to(Stage::Cancelled, &[Command::ReleaseStock]),
        // Cancelled already (a second decline), or paid (the pivot is
        // behind us: only forward), or not started: nothing to undo.
        Stage::Submitted | Stage::Paid | Stage::Shipped | Stage::Cancelled => {
            Step::stay(order.stage)
        }
    }
}

/// Restore: puts the dead letters of `order_id`'s conversation (their
/// correlation id) back on their queues, once the cause is fixed. Returns
/// the ids of the messages put back.
pub fn restore(broker: &Broker, order_id: &str) -> Result<Vec<MessageId>, Error> {
    let mut sent = Vec::new();
    for queue in broker.queue_names() {
        for letter in broker.dead_letters(&queue)? {
            if letter.envelope.correlation_id() != Some(order_id) {
                continue;
            }
            // The same message back on its queue, out of the dead-letter
            // queue: its id, its token, its claim check, its correlation.
            broker.replay_dead_letter(&queue, letter.envelope.id)?;
            sent.push(letter.envelope.id);
        }
    }
    Ok(sent)
}
