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
    let mut cart = found.value;
    if cart.submitted {
        return Err(SubmitError::AlreadySubmitted);
    }
    cart.submitted = true;
    let order = Order {
        id: format!("order-{}", carts.sim().new_uuid()),
        cart_id: cart_id.to_string(),
        customer: cart.customer.clone(),
        items: cart.items(),
        ..Order::default()
    };

    // One atomic batch in the cart's partition: the flag and the order
    // are written together or not at all. `IfMatch` refuses the batch if
    // another tab wrote the cart since we read it; `CreateOnly` refuses to
    // overwrite an order that exists.
    let mut batch = store.batch(cart_id);
    batch.put(CART, &cart, Condition::IfMatch(found.version));
    batch.put(&order.id, &order, Condition::CreateOnly);
    batch.commit()?;
    Ok(order.id)
}
