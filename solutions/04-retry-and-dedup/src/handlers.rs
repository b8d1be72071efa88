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
        // Done before: this command is a duplicate. Nothing is wrong and
        // nothing is left to do, so acknowledge it.
        return Ok(());
    }
    let mut version = found.version;
    // Step 1: decide, durably, before anything leaves. From now on the
    // cart is frozen, and a retry knows it must send.
    if !cart.accepted {
        cart.accepted = true;
        cart.deliver_to = command.deliver_to.clone();
        version = shop.save(cart_id, &cart, version, command.key_record())?;
    }
    // Step 2: send, now: `ctx.send` would hold the message back until
    // this handler returns, after step 3 said it was sent.
    ctx.send_immediately(ORDERS_QUEUE, shop.submit_order(cart_id, &cart))?;
    // Step 3: done. If this write fails, the retry sends a second copy.
    cart.submitted = true;
    shop.save(cart_id, &cart, version, None)?;
    Ok(())
}

/// Handles one `SubmitOrder` in the Orders service: makes the order.
pub fn handle_submit_order(orders: &Orders, message: &Envelope) -> Result<(), HandlerError> {
    let submit: SubmitOrder = message.body()?;
    // The cart's id is the order's id: every copy of SubmitOrder names
    // the same order, and a create-only write makes it once.
    let order = Order {
        id: submit.cart_id.clone(),
        cart_id: submit.cart_id.clone(),
        customer: submit.customer,
        items: submit.items,
        deliver_to: submit.deliver_to,
        ..Order::default()
    };
    let created = orders
        .store()
        .put(&submit.cart_id, &order.id, &order, Condition::CreateOnly);
    match created {
        Ok(_) => Ok(()),
        // Made already, by another copy: acknowledge this one.
        Err(err) if err.is_conflict() => {
            let note = format!("order {} exists: a duplicate", order.id);
            orders.sim().note(&note);
            Ok(())
        }
        Err(err) => Err(err.into()),
    }
}
