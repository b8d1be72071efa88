//! EXERCISE 07: the ids of the messages a handler sends. A receiver that deduplicates
//! recognises a copy by its message id, and nothing else: a message sent
//! again must come with the id it had the first time.
//!
//! Every handler of the shop names the ids of what it sends here: Orders
//! for its events, Billing and Marketing for the letters they ask the
//! mailer to send.

use harness::{HandlerContext, MessageId};
use uuid::Uuid;

/// The namespace of the shop's derived ids. Any fixed UUID would do; it
/// only keeps our ids apart from other systems' name-based UUIDs.
const SHOP: Uuid = Uuid::from_u128(0x5049_4552_4f47_4900_0000_0000_0000_0007);

/// The id of the message of type `message_type` that the endpoint now
/// handling `ctx` sends because of the incoming message `incoming`.
/// `incoming` is the id the endpoint deduplicates that message by: the
/// request's own id for a request to Orders (every copy and every re-send
/// carries it), the message id for an event.
pub fn outgoing_id(ctx: &HandlerContext, incoming: &str, message_type: &str) -> MessageId {
    // Derived, not drawn: the same incoming message, handled again by the
    // same endpoint, sends the same message with the same id. Each part of
    // the name keeps two different messages apart:
    // - the incoming id: what the message answers;
    // - the endpoint: Billing and Marketing both handle one PaymentBooked;
    // - the type: one handler may send several messages.
    let name = format!("{incoming}/{}/{message_type}", ctx.endpoint());
    MessageId::from_uuid(Uuid::new_v5(&SHOP, name.as_bytes()))
}
