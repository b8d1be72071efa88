//! EXERCISE 03: asynchronous submission without lost or ghost messages.
//!
//! A submit no longer makes the order: it sends `SubmitOrder` through the
//! broker, and the Orders service makes the order when the message
//! arrives. The shop's HTTP API (`shop/src/http.rs`) calls the two
//! functions below when a customer adds a line or clicks "Submit". The
//! carts and their store are `shop::Shop` (`shop/src/front.rs`): each cart
//! has its own partition, with the idempotency records of its submits.

use harness::Error;
use shop::front::no_such_cart;
use shop::{KeyRecord, Line, Outcome, Shop, SubmitError};

/// Puts a line into the cart.
pub fn add_line(shop: &Shop, cart_id: &str, line: Line) -> Result<Outcome, Error> {
    let Some(found) = shop.find_cart(cart_id)? else {
        return Err(no_such_cart(cart_id));
    };
    let mut cart = found.value;
    // Once accepted, the cart is what `SubmitOrder` says: every copy of
    // the message, sent now or later, must carry the same items.
    if cart.accepted {
        return Ok(Outcome::Frozen);
    }
    // The same line id again is a retry, or a mistake if the item differs.
    if let Some(existing) = cart.lines.iter().find(|old| old.id == line.id) {
        if existing.name == line.name {
            return Ok(Outcome::Unchanged);
        }
        return Ok(Outcome::Conflict);
    }
    cart.lines.push(line);
    shop.save(cart_id, &cart, found.version, None)?;
    Ok(Outcome::Created)
}

/// The customer clicks "Submit": send `SubmitOrder` to the Orders service.
/// If `record` is given, it is stored under `key-<idempotency key>` once
/// the message got out.
pub fn submit(
    shop: &Shop,
    cart_id: &str,
    deliver_to: &str,
    record: Option<(&str, &KeyRecord)>,
) -> Result<(), SubmitError> {
    let Some(found) = shop.find_cart(cart_id)? else {
        return Err(SubmitError::NotFound);
    };
    let mut cart = found.value;
    if cart.submitted {
        return Err(SubmitError::AlreadySubmitted);
    }
    let mut version = found.version;
    // Step 1: decide, durably, before anything leaves. From now on the
    // cart is frozen, and a retry knows it must send.
    if !cart.accepted {
        cart.accepted = true;
        cart.deliver_to = deliver_to.to_string();
        version = shop.save(cart_id, &cart, version, None)?;
    } else if cart.deliver_to != deliver_to {
        // Accepted for another address, and a copy may be out already:
        // a 202 now would promise an order that goes elsewhere.
        return Err(SubmitError::AcceptedForAnotherAddress(cart.deliver_to));
    }
    // Step 2: send. If this fails the cart stays accepted: stuck until
    // a retry sends again, but never wrong.
    shop.send_submit_order(cart_id, &cart)?;
    // Step 3: done. If this write fails, a retry sends a second copy.
    cart.submitted = true;
    shop.save(cart_id, &cart, version, record)?;
    Ok(())
}
