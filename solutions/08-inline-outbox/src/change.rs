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
    let mut version = found.version;
    if !stored.processed.iter().any(|id| id == request_id) {
        let mut events = Events::default();
        change(&mut stored.order, &mut events);
        // What the request publishes is decided now, once, from the
        // order as this request changes it; and kept in the order. The
        // change, the mark and the messages go in one write.
        for (topic, event) in events.list {
            let id = orders.outgoing_id(ctx, request_id, &topic);
            stored.outbox.push(Envelope::new(id, &topic, &event));
        }
        stored.processed.push(request_id.to_string());
        version = orders.save_order(&stored, version)?;
    }
    // Publish what is stored: this request's messages, or what an
    // earlier attempt (of this request or another) saved and could not
    // publish. A retry or a late copy decides nothing again.
    if stored.outbox.is_empty() {
        return Ok(());
    }
    for envelope in &stored.outbox {
        orders.publish(ctx, envelope)?;
    }
    // All out: forget them, in a second write. If it fails, a retry
    // publishes them again, with the same ids.
    stored.outbox.clear();
    orders.save_order(&stored, version)?;
    Ok(())
}
