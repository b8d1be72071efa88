//! `RemoveItem`: the customer takes pierogi off a placed order. Orders
//! removes the item and publishes `ItemRemoved`. Removing a filling the
//! order does not have changes nothing.

use harness::Error;
use serde::{Deserialize, Serialize};

use super::must_be_placed;
use crate::Order;
use crate::outbox::{Outgoing, Request};

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

impl Request for RemoveItem {
    fn request_id(&self) -> String {
        self.id.clone()
    }

    fn order_id(&self) -> &str {
        &self.order_id
    }
}

/// Handles `RemoveItem`: the filling leaves the order, and the world hears
/// of it.
pub fn remove_item(
    order: &mut Order,
    remove: &RemoveItem,
    outgoing: &mut Outgoing,
) -> Result<(), Error> {
    must_be_placed(order, &remove.order_id)?;
    order.added.retain(|filling| *filling != remove.filling);
    // Whether or not there was one to remove: the request is answered.
    let removed = ItemRemoved {
        order_id: remove.order_id.clone(),
        filling: remove.filling.clone(),
    };
    outgoing.publish(ITEM_REMOVED, &removed);
    Ok(())
}
