//! `RemoveItem`: the customer takes pierogi off a placed order. Orders
//! removes the item and publishes `ItemRemoved`. Removing a filling the
//! order does not have changes nothing.

use harness::{Envelope, HandlerContext, HandlerError};
use serde::{Deserialize, Serialize};

use super::Orders;

/// The topic `ItemRemoved` is published on.
pub const ITEM_REMOVED: &str = "ItemRemoved";

/// The message that asks Orders to take pierogi off a placed order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RemoveItem {
    /// The request's id, chosen by the order page: every copy and every
    /// re-send of this request carries it.
    pub id: String,
    /// The order.
    pub order_id: String,
    /// What to remove.
    pub filling: String,
}

/// The event that tells the world an order lost an item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemRemoved {
    /// The order.
    pub order_id: String,
    /// What was removed.
    pub filling: String,
}

impl Orders {
    /// Handles one `RemoveItem`: removes the filling from the order, and
    /// publishes `ItemRemoved`.
    pub(crate) fn remove_item(
        &self,
        ctx: &mut HandlerContext,
        message: &Envelope,
    ) -> Result<(), HandlerError> {
        let remove: RemoveItem = message.body()?;
        self.change_order(ctx, &remove.order_id, &remove.id, |order, events| {
            order.added.retain(|filling| *filling != remove.filling);
            // Whether or not there was one to remove, as for `AddItem`.
            let removed = ItemRemoved {
                order_id: remove.order_id.clone(),
                filling: remove.filling.clone(),
            };
            events.publish(ITEM_REMOVED, &removed);
        })?;
        Ok(())
    }
}
