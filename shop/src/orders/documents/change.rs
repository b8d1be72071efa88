//! How every handler of Orders on documents changes an order: load it,
//! change it, save it with one if-match write; and publish what the
//! handler decided while it changed the order.
//!
//! The handlers only decide (a [`Change`]); a [`ChangeOrder`] does the
//! rest. Exercises 06 and 08 write their own; [`change_order`] is the
//! shop's.

use harness::{Envelope, HandlerContext, HandlerError};
use serde::Serialize;

use super::Orders;
use crate::Order;

/// What a handler decides to publish while it changes an order: each event
/// with its topic, in order.
#[derive(Debug, Default)]
pub struct Events {
    /// The events: topic and body.
    pub list: Vec<(String, serde_json::Value)>,
}

impl Events {
    /// Orders is to publish `event` on `topic`, once the change is saved.
    pub fn publish<T: Serialize>(&mut self, topic: &str, event: &T) {
        // A plain struct always turns into JSON, as in `Envelope::new`.
        let body = serde_json::to_value(event).unwrap_or_default();
        self.list.push((topic.to_string(), body));
    }
}

/// What one request does to an order: it changes the order, and says what
/// to publish. Call it like a function: `change(&mut order, &mut events)`.
pub type Change<'a> = &'a dyn Fn(&mut Order, &mut Events);

/// How a request changes an order: `change_order(orders, ctx, order_id,
/// request_id, change)` applies `change` to the order for the request
/// `request_id` (the id in the message's body: every copy and every re-send
/// of one request carries it), then publishes what it decided.
pub type ChangeOrder =
    fn(&Orders, &mut HandlerContext, &str, &str, Change<'_>) -> Result<(), HandlerError>;

/// The shop's [`ChangeOrder`], where Marketing hears of no moments: a
/// request seen before changes nothing (exercise 06), but publishes again
/// what the handler decides now (exercise 05), with the ids the first
/// attempt gave them (exercise 07). What it decides again can differ from
/// what the first attempt decided (exercise 08 shows when that lies).
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
    let mut stored = found.value;
    let mut events = Events::default();
    if stored.processed.iter().any(|id| id == request_id) {
        // Seen before: the last attempt may have saved the change and
        // failed to publish. Ask the handler again, on a copy.
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
