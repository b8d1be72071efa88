//! EXERCISE 04: automatic retries and receiver-side deduplication.
//!
//! The two handlers of this exercise. The broker runs each one again
//! whenever it fails, so each one must be harmless when it runs again:
//!
//! - `handle_send_submit_order`: the shop's own command, queued by the HTTP
//!   submit. It accepts the cart, sends `SubmitOrder` and marks the cart
//!   submitted.
//! - `handle_submit_order`: the Orders service makes the order.
//!
//! The carts and their store are `shop::Shop` (`shop/src/front.rs`); the
//! Orders service's store is `shop::front::orders::Orders`.

use harness::{Condition, Envelope, HandlerContext, HandlerError};
use shop::front::orders::Orders;
use shop::{ORDERS_QUEUE, Order, SendSubmitOrder, Shop, SubmitOrder};

/// Handles one `SendSubmitOrder`: accept the cart, send `SubmitOrder`,
/// mark the cart submitted. An error gives the command back to the broker,
/// which delivers it again: the retries are automatic.
pub fn handle_send_submit_order(
    shop: &Shop,
    ctx: &mut HandlerContext,
    message: &Envelope,
) -> Result<(), HandlerError> {
    let command: SendSubmitOrder = message.body()?;
    let cart_id = command.cart_id.as_str();
    let Some(found) = shop.find_cart(cart_id)? else {
        return Err(HandlerError::unrecoverable(format!(
            "there is no cart {cart_id}"
        )));
    };
    let mut cart = found.value;
    if cart.submitted {
        // EXERCISE: this command was done before (it is a duplicate).
        // Is it an error that nobody can fix, to be dead-lettered?
        return Err(HandlerError::unrecoverable(format!(
            "cart {cart_id} was submitted already"
        )));
    }
    let mut version = found.version;
    // Step 1: decide, durably, before anything leaves. From now on the
    // cart is frozen, and a retry knows it must send.
    if !cart.accepted {
        cart.accepted = true;
        cart.deliver_to = command.deliver_to.clone();
        version = shop.save(cart_id, &cart, version, command.key_record())?;
    }
    // Step 2: send. EXERCISE: `ctx.send` holds the message back until
    // this handler returns `Ok`, and sends it only then — after step 3.
    ctx.send(ORDERS_QUEUE, shop.submit_order(cart_id, &cart))?;
    // Step 3: done.
    cart.submitted = true;
    shop.save(cart_id, &cart, version, None)?;
    Ok(())
}

/// Handles one `SubmitOrder` in the Orders service: makes the order.
pub fn handle_submit_order(orders: &Orders, message: &Envelope) -> Result<(), HandlerError> {
    let submit: SubmitOrder = message.body()?;
    // EXERCISE: each copy of SubmitOrder makes an order with a new id.
    // Which id would make the store refuse the second one?
    let order = Order {
        id: format!("order-{}", orders.sim().new_uuid()),
        cart_id: submit.cart_id.clone(),
        customer: submit.customer,
        items: submit.items,
        deliver_to: submit.deliver_to,
        ..Order::default()
    };
    orders
        .store()
        .put(&submit.cart_id, &order.id, &order, Condition::CreateOnly)?;
    Ok(())
}
