//! EXERCISE 06: how every request of Orders changes an order and publishes
//! what it did. The handlers (in the shop) only decide: they call
//! `change(&mut order, &mut events)` to change the order and say what to
//! publish. This function loads the order, lets the request change it,
//! saves it with an if-match write (of two copies of one message handled
//! at once, only one can save), and publishes.

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
    // The order, and what Orders remembers with it (`processed`, the ids
    // of the requests applied to it): one document, written in one write.
    let mut stored = found.value;
    let mut events = Events::default();
    // EXERCISE: a late copy of an earlier request changes the order
    // again, and can undo a later request: the order's items cannot tell
    // "done before" from "not done yet". `request_id` can.
    let before = stored.order.clone();
    change(&mut stored.order, &mut events);
    // Adding an item the order has, or removing one it does not have,
    // changes nothing: nothing to save.
    if stored.order != before {
        orders.save_order(&stored, found.version)?;
    }
    // Publish regardless (exercise 05): this may be the retry of an
    // attempt that saved the change but could not publish.
    for (topic, event) in events.list {
        let id = orders.outgoing_id(ctx, request_id, &topic);
        orders.publish(ctx, &Envelope::new(id, &topic, &event))?;
    }
    Ok(())
}
