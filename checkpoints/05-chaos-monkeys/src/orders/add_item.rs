//! `AddItem`: the customer adds pierogi to a placed order. Orders keeps the
//! item in the order and tells Billing (who charges for it) and Marketing
//! (who counts what people like) with an `ItemAdded` event.
//!
//! The kitchen's rule: one portion per filling. An `AddItem` for a filling
//! the order has already is a duplicate, and changes nothing.

use harness::{Condition, Document, Envelope, Error, HandlerContext, HandlerError};
use serde::{Deserialize, Serialize};

use super::Orders;
use crate::Order;

/// The topic `ItemAdded` is published on.
pub const ITEM_ADDED: &str = "ItemAdded";

/// The message that asks Orders to add pierogi to a placed order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AddItem {
    /// The order (its id is the id of the cart it was made from).
    pub order_id: String,
    /// What to add: `meat`, `ruskie`, `swiss cheese` …
    pub filling: String,
}

/// The event that tells the world an order got one more item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemAdded {
    /// The order.
    pub order_id: String,
    /// What was added.
    pub filling: String,
}

impl Orders {
    /// Handles one `AddItem`: adds the filling to the order, and publishes
    /// `ItemAdded`.
    pub(crate) fn add_item(
        &self,
        ctx: &mut HandlerContext,
        message: &Envelope,
    ) -> Result<(), HandlerError> {
        let add: AddItem = message.body()?;
        let Some(found) = self.find_order(&add.order_id)? else {
            // SubmitOrder may still be on its way: try again later.
            return Err(HandlerError::transient(format!(
                "order {} does not exist (yet)",
                add.order_id
            )));
        };
        let mut order = found.value;
        // One portion per filling: if the order has it, this AddItem is a
        // duplicate and there is nothing to do.
        if order.added.contains(&add.filling) {
            return Ok(());
        }
        // EXERCISE: Billing hears of the item at once — but what if the
        // save below fails? And once you save first: what if the publish
        // fails, and the broker gives the AddItem back for another try?
        self.publish_item_added(ctx, &add)?;
        order.added.push(add.filling.clone());
        self.save_order(&order, found.version)?;
        Ok(())
    }

    /// What was added to the order after it was placed (nothing if there
    /// is no such order).
    pub fn added_to(&self, order_id: &str) -> Result<Vec<String>, Error> {
        let found = self.find_order(order_id)?;
        Ok(found
            .map(|document| document.value.added)
            .unwrap_or_default())
    }

    /// The order, with its version, if Orders made it.
    fn find_order(&self, order_id: &str) -> Result<Option<Document<Order>>, Error> {
        self.store.get::<Order>(order_id, order_id)
    }

    /// Writes the order if nobody wrote it since `version`: of two copies
    /// of one message handled at once, only one can save its change.
    fn save_order(&self, order: &Order, version: harness::Version) -> Result<(), Error> {
        self.store.put(
            &order.cart_id,
            &order.id,
            order,
            Condition::IfMatch(version),
        )?;
        Ok(())
    }

    /// Publishes `ItemAdded` at once (not when the handler returns), through
    /// the monkeys.
    fn publish_item_added(&self, ctx: &mut HandlerContext, add: &AddItem) -> Result<(), Error> {
        let added = ItemAdded {
            order_id: add.order_id.clone(),
            filling: add.filling.clone(),
        };
        let event = Envelope::new(ctx.new_message_id(), ITEM_ADDED, &added);
        self.monkeys.send(&event, &mut |message: &Envelope| {
            ctx.publish_immediately(ITEM_ADDED, message.clone())
        })
    }
}
