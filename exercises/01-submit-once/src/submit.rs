//! EXERCISE 01: submit a cart exactly once.
//!
//! The shop keeps carts and their orders in one document store
//! (`shop::front::direct::Carts`). Each cart has its own partition, and the
//! order made from a cart is written into the same partition: the store can
//! only write several items atomically (a batch) when they share one.
//!
//! ```text
//! partition "cart-1":   "cart"          { customer, lines, submitted }
//!                       "order-<uuid>"  { id, cart_id, customer, items }
//! ```

use harness::Condition;
use shop::front::direct::{CART, Cart, Carts};
use shop::{Order, SubmitError};

/// The customer clicks "Submit": turn the cart into an order.
/// Returns the new order's id.
pub fn submit(carts: &Carts, cart_id: &str) -> Result<String, SubmitError> {
    let store = carts.store();
    let Some(found) = store.get::<Cart>(cart_id, CART)? else {
        return Err(SubmitError::NotFound);
    };
    let cart = found.value;
    let order = Order {
        id: format!("order-{}", carts.sim().new_uuid()),
        cart_id: cart_id.to_string(),
        customer: cart.customer.clone(),
        items: cart.items(),
        ..Order::default()
    };

    // EXERCISE: a second click, a second tab or a retry runs this again
    // and makes a second order. Mark the cart as submitted, refuse to
    // submit it twice, and make sure nobody changed the cart since we
    // read it. The cart and the order must change together or not at all.
    store.put(cart_id, &order.id, &order, Condition::Always)?;
    Ok(order.id)
}
