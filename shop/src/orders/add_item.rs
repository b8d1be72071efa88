//! `AddItem`: the customer adds pierogi to a placed order. Orders keeps the
//! item in the order and tells Billing (who charges for it) and Marketing
//! (who counts what people like) with an `ItemAdded` event.
//!
//! The kitchen's rule: one portion per filling. Adding a filling the order
//! has already changes nothing, and announces nothing.
//!
//! Marketing wants to hear more: `FirstItemAdded` when the customer comes
//! back to add a first item to a placed order, and `CouponEarned` when an
//! item takes the order to 100 zł. Whether to send them depends on the
//! order as the request finds it, not only on the request.

use harness::Error;
use serde::{Deserialize, Serialize};

use super::must_be_placed;
use crate::Order;
use crate::outbox::{Outgoing, Request};

/// The topic `ItemAdded` is published on.
pub const ITEM_ADDED: &str = "ItemAdded";

/// The topic `FirstItemAdded` is published on.
pub const FIRST_ITEM_ADDED: &str = "FirstItemAdded";

/// The topic `CouponEarned` is published on.
pub const COUPON_EARNED: &str = "CouponEarned";

/// What one portion costs, in grosze.
pub const PORTION_PRICE: u64 = 2_500;

/// An item that takes an order to this value (in grosze) or more earns the
/// customer a coupon: 100 zł.
pub const COUPON_AT: u64 = 10_000;

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

/// The event that tells Marketing a customer came back to a placed order:
/// the first item added to it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FirstItemAdded {
    /// The order.
    pub order_id: String,
    /// What was added.
    pub filling: String,
}

/// The event that tells Marketing an order reached 100 zł: its customer
/// gets a coupon.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CouponEarned {
    /// The order.
    pub order_id: String,
}

impl Order {
    /// What the order is worth, in grosze: every portion, ordered with the
    /// cart or added since.
    pub fn value(&self) -> u64 {
        (self.items.len() + self.added.len()) as u64 * PORTION_PRICE
    }
}

impl Request for AddItem {
    fn request_id(&self) -> String {
        self.id.clone()
    }

    fn order_id(&self) -> &str {
        &self.order_id
    }
}

/// Handles `AddItem`: the filling joins the order, and the world hears of
/// it; and `FirstItemAdded` and `CouponEarned` go out when it is their
/// moment.
pub fn add_item(order: &mut Order, add: &AddItem, outgoing: &mut Outgoing) -> Result<(), Error> {
    must_be_placed(order, &add.order_id)?;
    if order.added.contains(&add.filling) {
        return Ok(()); // one portion per filling: nothing changes
    }
    let value_before = order.value();
    order.added.push(add.filling.clone());
    let added = ItemAdded {
        order_id: add.order_id.clone(),
        filling: add.filling.clone(),
    };
    outgoing.publish(ITEM_ADDED, &added);
    // This request gave the order its first added item.
    if order.added.len() == 1 {
        let first = FirstItemAdded {
            order_id: add.order_id.clone(),
            filling: add.filling.clone(),
        };
        outgoing.publish(FIRST_ITEM_ADDED, &first);
    }
    // This request took the order to 100 zł.
    if value_before < COUPON_AT && order.value() >= COUPON_AT {
        let coupon = CouponEarned {
            order_id: add.order_id.clone(),
        };
        outgoing.publish(COUPON_EARNED, &coupon);
    }
    Ok(())
}
