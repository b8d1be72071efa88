//! `AddItem`: the customer adds pierogi to a placed order. Orders keeps the
//! item in the order and tells Billing (who charges for it) and Marketing
//! (who counts what people like) with an `ItemAdded` event; the first item
//! of an order also makes a `FirstItemAdded`, for Marketing's welcome offer.
//!
//! The kitchen's rule: one portion per filling. Adding a filling the order
//! has already changes nothing, and announces nothing.

use harness::Error;
use serde::{Deserialize, Serialize};

use super::must_be_placed;
use crate::Order;
use crate::outbox::{Outgoing, Request};

/// The topic `ItemAdded` is published on.
pub const ITEM_ADDED: &str = "ItemAdded";

/// The topic `FirstItemAdded` is published on.
pub const FIRST_ITEM_ADDED: &str = "FirstItemAdded";

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

/// The event that tells Marketing an order got its first item: derived
/// from the order as this request found it, not from the request alone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FirstItemAdded {
    /// The order.
    pub order_id: String,
    /// The first item.
    pub filling: String,
}

impl Request for AddItem {
    fn request_id(&self) -> String {
        self.id.clone()
    }

    fn state_key(&self) -> &str {
        &self.order_id
    }
}

/// Handles `AddItem`: the filling joins the order, and the world hears of it.
pub fn add_item(order: &mut Order, add: &AddItem, outgoing: &mut Outgoing) -> Result<(), Error> {
    must_be_placed(order, &add.order_id)?;
    if order.added.contains(&add.filling) {
        return Ok(()); // one portion per filling: nothing changes
    }
    order.added.push(add.filling.clone());
    let added = ItemAdded {
        order_id: add.order_id.clone(),
        filling: add.filling.clone(),
    };
    outgoing.publish(ITEM_ADDED, &added);
    if order.added.len() == 1 {
        let first = FirstItemAdded {
            order_id: add.order_id.clone(),
            filling: add.filling.clone(),
        };
        outgoing.publish(FIRST_ITEM_ADDED, &first);
    }
    Ok(())
}
