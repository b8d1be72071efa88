//! How every handler of Orders changes an order: load it, change it, save
//! it with one if-match write; and how it publishes the events the handler
//! decided while it changed the order.

use harness::{Condition, Document, Envelope, Error, HandlerContext, HandlerError, Version};
use serde::Serialize;

use super::Orders;
use crate::Order;
use crate::ids::outgoing_id;

/// What a handler decides to publish while it changes an order: each event
/// with its topic, in order.
#[derive(Default)]
pub(crate) struct Events {
    list: Vec<(String, serde_json::Value)>,
}

impl Events {
    /// Orders is to publish `event` on `topic`, once the change is saved.
    pub(crate) fn publish<T: Serialize>(&mut self, topic: &str, event: &T) {
        // A plain struct always turns into JSON, as in `Envelope::new`.
        let body = serde_json::to_value(event).unwrap_or_default();
        self.list.push((topic.to_string(), body));
    }
}

impl Orders {
    /// Applies `change` to the order for the request `request_id` (the id in
    /// the message's body: every copy and every re-send of one request
    /// carries it), then publishes the events `change` decided. `change`
    /// gets the order and the list of events to publish.
    pub(crate) fn change_order(
        &self,
        ctx: &mut HandlerContext,
        order_id: &str,
        request_id: &str,
        change: impl FnOnce(&mut Order, &mut Events),
    ) -> Result<(), HandlerError> {
        let Some(found) = self.find_order(order_id)? else {
            // SubmitOrder may still be on its way: try again later.
            return Err(HandlerError::transient(format!(
                "order {order_id} does not exist (yet)"
            )));
        };
        let mut order = found.value;
        let mut events = Events::default();
        if order.processed.iter().any(|id| id == request_id) {
            // EXERCISE: seen before, a redelivery or a re-send. It changes
            // nothing, but publishes again (exercise 05): the last attempt
            // may have saved the change and failed to publish. What the
            // first attempt decided to publish is gone, so this asks the
            // handler again, on a copy of the order as it is *now*. The
            // order may have changed since: the answer can be different.
            change(&mut order.clone(), &mut events);
        } else {
            change(&mut order, &mut events);
            // The change and the mark go in one write: both happen, or neither.
            order.processed.push(request_id.to_string());
            self.save_order(&order, found.version)?;
        }
        for (topic, event) in events.list {
            let envelope = Envelope::new(outgoing_id(ctx, request_id, &topic), &topic, &event);
            self.publish(ctx, &envelope)?;
        }
        Ok(())
    }

    /// The order, with its version, if Orders made it.
    pub(crate) fn find_order(&self, order_id: &str) -> Result<Option<Document<Order>>, Error> {
        self.store.get::<Order>(order_id, order_id)
    }

    /// Writes the order if nobody wrote it since `version`: of two copies
    /// of one message handled at once, only one can save its change.
    /// Returns the order's new version.
    pub(crate) fn save_order(&self, order: &Order, version: Version) -> Result<Version, Error> {
        self.store.put(
            &order.cart_id,
            &order.id,
            order,
            Condition::IfMatch(version),
        )
    }

    /// Publishes `envelope` on the topic named by its type, at once (not
    /// when the handler returns), through the monkeys.
    pub(crate) fn publish(
        &self,
        ctx: &mut HandlerContext,
        envelope: &Envelope,
    ) -> Result<(), Error> {
        let topic = envelope.message_type.clone();
        self.monkeys.send(envelope, &mut |message: &Envelope| {
            ctx.publish_immediately(&topic, message.clone())
        })
    }
}
