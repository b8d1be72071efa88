//! EXERCISE 05 (part 2): `AddItem`, the customer adds pierogi to a placed
//! order. Orders keeps the item in the order and tells Billing (who charges
//! for it) and Marketing (who counts what people like) with an `ItemAdded`
//! event. Two resources, the orders store and the broker, and no
//! transaction spans both.
//!
//! The kitchen's rule: one portion per filling. An `AddItem` for a filling
//! the order has already is a duplicate, and changes nothing.

use harness::{Envelope, HandlerContext, HandlerError};
use shop::orders::documents::Orders;
use shop::orders::{AddItem, ITEM_ADDED, ItemAdded};

/// Handles one `AddItem`: adds the filling to the order, and publishes
/// `ItemAdded`.
pub fn add_item(
    orders: &Orders,
    ctx: &mut HandlerContext,
    message: &Envelope,
) -> Result<(), HandlerError> {
    let add: AddItem = message.body()?;
    let Some(found) = orders.find_order(&add.order_id)? else {
        // SubmitOrder may still be on its way: try again later.
        return Err(HandlerError::transient(format!(
            "order {} does not exist (yet)",
            add.order_id
        )));
    };
    // The order as the store keeps it (`stored.order`).
    let mut stored = found.value;
    let added = ItemAdded {
        order_id: add.order_id.clone(),
        filling: add.filling.clone(),
    };
    // One portion per filling: if the order has it, this AddItem is a
    // duplicate and there is nothing to do.
    if stored.order.added.contains(&add.filling) {
        return Ok(());
    }
    // EXERCISE: Billing hears of the item at once — but what if the save
    // below fails? And once you save first: what if the publish fails, and
    // the broker gives the AddItem back for another try?
    orders.publish_event(ctx, &add.id, ITEM_ADDED, &added)?;
    stored.order.added.push(add.filling.clone());
    orders.save_order(&stored, found.version)?;
    Ok(())
}
