//! `AddItem`: the customer adds pierogi to a placed order. Orders keeps the
//! item in the order and tells Billing (who charges for it) and Marketing
//! (who counts what people like) with an `ItemAdded` event.
//!
//! The kitchen's rule: one portion per filling. Adding a filling the order
//! has already changes nothing.

use harness::{Envelope, Error, HandlerContext, HandlerError};
use serde::{Deserialize, Serialize};

use super::Orders;

/// The topic `ItemAdded` is published on.
pub const ITEM_ADDED: &str = "ItemAdded";

/// The message that asks Orders to add pierogi to a placed order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AddItem {
    /// The request's id, chosen by the order page: every copy and every
    /// re-send of this request carries it.
    pub id: String,
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
        self.change_order(&add.order_id, &add.id, |order| {
            if order.added.contains(&add.filling) {
                return false;
            }
            order.added.push(add.filling.clone());
            true
        })?;
        // Publish regardless: this may be the retry of an attempt that
        // saved the change but could not publish.
        let added = ItemAdded {
            order_id: add.order_id.clone(),
            filling: add.filling.clone(),
        };
        self.publish(ctx, &add.id, ITEM_ADDED, &added)?;
        Ok(())
    }

    /// What was added to the order after it was placed and not removed
    /// (nothing if there is no such order).
    pub fn added_to(&self, order_id: &str) -> Result<Vec<String>, Error> {
        let found = self.find_order(order_id)?;
        Ok(found
            .map(|document| document.value.added)
            .unwrap_or_default())
    }
}
