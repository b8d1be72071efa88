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
    // EXERCISE: once the shop accepted the cart for ordering, it must
    // not change (answer `Outcome::Frozen`).
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
/// If `record` is given, it is stored under `key-<idempotency key>` with
/// the cart.
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
    // EXERCISE: if the send fails, the cart is marked submitted already:
    // a retry is refused (or replayed) and SubmitOrder never goes out.
    // Sending first is no better. Make it: accepted → send → submitted.
    // Once accepted, the address is decided too: a new click with another
    // one must not get a 202 for an order that goes elsewhere.
    cart.submitted = true;
    cart.deliver_to = deliver_to.to_string();
    shop.save(cart_id, &cart, found.version, record)?;
    shop.send_submit_order(cart_id, &cart)?;
    Ok(())
}
