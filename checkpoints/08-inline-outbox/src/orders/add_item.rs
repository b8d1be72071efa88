//! `AddItem`: the customer adds pierogi to a placed order. Orders keeps the
//! item in the order and tells Billing (who charges for it) and Marketing
//! (who counts what people like) with an `ItemAdded` event.
//!
//! The kitchen's rule: one portion per filling. Adding a filling the order
//! has already changes nothing.
//!
//! Marketing wants to hear more: `FirstItemAdded` when the customer comes
//! back to add a first item to a placed order, and `CouponEarned` when an
//! item takes the order to 100 zł. Whether to send them depends on the
//! order as the request finds it, not only on the request.

use harness::{Envelope, Error, HandlerContext, HandlerError};
use serde::{Deserialize, Serialize};

use super::Orders;
use crate::Order;

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

impl Orders {
    /// Handles one `AddItem`: adds the filling to the order, and publishes
    /// `ItemAdded`; and `FirstItemAdded` and `CouponEarned` when it is
    /// their moment.
    pub(crate) fn add_item(
        &self,
        ctx: &mut HandlerContext,
        message: &Envelope,
    ) -> Result<(), HandlerError> {
        let add: AddItem = message.body()?;
        self.change_order(ctx, &add.order_id, &add.id, |order, events| {
            let value_before = order.value();
            let added_now = !order.added.contains(&add.filling);
            if added_now {
                order.added.push(add.filling.clone());
            }
            // Whether or not this request added it: a retry must announce
            // the item too (exercise 05).
            let added = ItemAdded {
                order_id: add.order_id.clone(),
                filling: add.filling.clone(),
            };
            events.publish(ITEM_ADDED, &added);
            // This request gave the order its first added item.
            if added_now && order.added.len() == 1 {
                let first = FirstItemAdded {
                    order_id: add.order_id.clone(),
                    filling: add.filling.clone(),
                };
                events.publish(FIRST_ITEM_ADDED, &first);
            }
            // This request took the order to 100 zł.
            if value_before < COUPON_AT && order.value() >= COUPON_AT {
                let coupon = CouponEarned {
                    order_id: add.order_id.clone(),
                };
                events.publish(COUPON_EARNED, &coupon);
            }
        })?;
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
