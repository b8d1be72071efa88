//! EXERCISE 08: how every request of Orders changes an order and publishes
//! what it decided. The handlers (in the shop) only decide: they call
//! `change(&mut order, &mut events)` to change the order and say what to
//! publish. This function loads the order, lets the request change it,
//! saves it with an if-match write, and publishes.
//!
//! Some messages depend on the order as the request finds it
//! (`FirstItemAdded`, `CouponEarned`): whatever a request publishes must be
//! decided once, when it changes the order, and kept until it is out.

use harness::{Envelope, HandlerContext, HandlerError};
use shop::orders::documents::{Change, Events, Orders};

/// Applies `change` to the order for the request `request_id` (the id in
/// the message's body: every copy and every re-send of one request carries
/// it), then publishes the events `change` decided.
pub fn change_order(
    orders: &Orders,
    ctx: &mut HandlerContext,
    order_id: &str,
    request_id: &str,
    change: Change<'_>,
) -> Result<(), HandlerError> {
    let Some(found) = orders.find_order(order_id)? else {
        // SubmitOrder may still be on its way: try again later.
        return Err(HandlerError::transient(format!(
            "order {order_id} does not exist (yet)"
        )));
    };
    // The order, what Orders remembers with it (`processed`), and its
    // outbox: one document, written in one write.
    let mut stored = found.value;
    let mut events = Events::default();
    if stored.processed.iter().any(|id| id == request_id) {
        // EXERCISE: seen before, a redelivery or a re-send. It changes
        // nothing, but publishes again (exercise 05): the last attempt
        // may have saved the change and failed to publish. What the
        // first attempt decided to publish is gone, so this asks the
        // handler again, on a copy of the order as it is *now*. The
        // order may have changed since: the answer can be different.
        change(&mut stored.order.clone(), &mut events);
    } else {
        change(&mut stored.order, &mut events);
        // The change and the mark go in one write: both happen, or neither.
        stored.processed.push(request_id.to_string());
        orders.save_order(&stored, found.version)?;
    }
    for (topic, event) in events.list {
        let id = orders.outgoing_id(ctx, request_id, &topic);
        orders.publish(ctx, &Envelope::new(id, &topic, &event))?;
    }
    Ok(())
}
