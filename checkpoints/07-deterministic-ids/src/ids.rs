//! EXERCISE 07: the ids of the messages a handler sends. A receiver that deduplicates
//! recognises a copy by its message id, and nothing else: a message sent
//! again must come with the id it had the first time.
//!
//! Every handler of the shop names the ids of what it sends here: Orders
//! for its events, Billing and Marketing for the letters they ask the
//! mailer to send.

use harness::{HandlerContext, MessageId};

/// The id of the message of type `message_type` that the endpoint now
/// handling `ctx` sends because of the incoming message `incoming`.
/// `incoming` is the id the endpoint deduplicates that message by: the
/// request's own id for a request to Orders (every copy and every re-send
/// carries it), the message id for an event.
pub fn outgoing_id(ctx: &HandlerContext, incoming: &str, message_type: &str) -> MessageId {
    // EXERCISE: a fresh random id, every time. When a retry or a late copy
    // of `incoming` sends this message again, it comes with a new id, and
    // the receiver cannot tell that it is a copy.
    let _ = (incoming, message_type);
    ctx.new_message_id()
}
