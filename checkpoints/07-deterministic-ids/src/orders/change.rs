//! How every handler of Orders changes an order: load it, change it, save
//! it with one if-match write; and how it publishes what it did.

use harness::{Condition, Document, Envelope, Error, HandlerContext, HandlerError, Version};
use serde::Serialize;

use super::Orders;
use crate::Order;
use crate::ids::outgoing_id;

impl Orders {
    /// Applies `change` to the order for the request `request_id` (the id in
    /// the message's body: every copy and every re-send of one request
    /// carries it). `change` says whether it changed anything: adding an
    /// item the order has, or removing one it does not have, changes
    /// nothing. Returns whether the order changed.
    pub(crate) fn change_order(
        &self,
        order_id: &str,
        request_id: &str,
        change: impl FnOnce(&mut Order) -> bool,
    ) -> Result<bool, HandlerError> {
        let Some(found) = self.find_order(order_id)? else {
            // SubmitOrder may still be on its way: try again later.
            return Err(HandlerError::transient(format!(
                "order {order_id} does not exist (yet)"
            )));
        };
        let mut order = found.value;
        // Seen before: a redelivery or a re-send, however late it comes. It
        // was applied then; applied again now it could undo a later request.
        if order.processed.iter().any(|id| id == request_id) {
            return Ok(false);
        }
        let changed = change(&mut order);
        // The change and the mark go in one write: both happen, or neither.
        order.processed.push(request_id.to_string());
        self.save_order(&order, found.version)?;
        Ok(changed)
    }

    /// The order, with its version, if Orders made it.
    pub(crate) fn find_order(&self, order_id: &str) -> Result<Option<Document<Order>>, Error> {
        self.store.get::<Order>(order_id, order_id)
    }

    /// Writes the order if nobody wrote it since `version`: of two copies
    /// of one message handled at once, only one can save its change.
    pub(crate) fn save_order(&self, order: &Order, version: Version) -> Result<(), Error> {
        self.store.put(
            &order.cart_id,
            &order.id,
            order,
            Condition::IfMatch(version),
        )?;
        Ok(())
    }

    /// Publishes `event` on `topic` at once (not when the handler returns),
    /// through the monkeys, as the message Orders sends for the request
    /// `request_id`.
    pub(crate) fn publish<T: Serialize>(
        &self,
        ctx: &mut HandlerContext,
        request_id: &str,
        topic: &str,
        event: &T,
    ) -> Result<(), Error> {
        let id = outgoing_id(ctx, request_id, topic);
        let envelope = Envelope::new(id, topic, event);
        self.monkeys.send(&envelope, &mut |message: &Envelope| {
            ctx.publish_immediately(topic, message.clone())
        })
    }
}
