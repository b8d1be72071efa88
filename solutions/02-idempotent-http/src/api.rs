//! EXERCISE 02, the server's side: how the shop's HTTP API tells a retry
//! from a new request.
//!
//! The API (`shop/src/http.rs`) calls `create_cart` for
//! `PUT /carts/{cart_id}`, `add_line` for `PUT /carts/{cart_id}/items/{line_id}`
//! (and for the older `POST` routes, with an id the server made up), and
//! `submit` for `POST /carts/{cart_id}/submit`. The carts live in the shop's
//! document store (`shop/src/front/direct.rs`): `Carts::submit` makes the
//! order (exercise 01's way), and stores an idempotency record in the same
//! batch if you give it one.

use harness::{Condition, Error};
use shop::front::direct::{CART, Cart, Carts, no_such_cart};
use shop::http::{
    ApiError, HeaderMap, InFlight, Response, StatusCode, SubmitRequest, accepted, fingerprint,
    idempotency_key, stored_answer,
};
use shop::{Line, Outcome};

/// Creates an empty cart for `customer` under `cart_id`.
pub fn create_cart(carts: &Carts, cart_id: &str, customer: &str) -> Result<Outcome, Error> {
    let cart = Cart {
        customer: customer.to_string(),
        ..Cart::default()
    };
    // The client chose the id: the same cart again is a retry (nothing
    // to do); the id with another customer is a mistake (refuse it).
    match carts.store().get::<Cart>(cart_id, CART)? {
        Some(found) if found.value.customer == customer => return Ok(Outcome::Unchanged),
        Some(_) => return Ok(Outcome::Conflict),
        None => {}
    }
    carts
        .store()
        .put(cart_id, CART, &cart, Condition::CreateOnly)?;
    Ok(Outcome::Created)
}

/// Puts a line into the cart.
pub fn add_line(carts: &Carts, cart_id: &str, line: Line) -> Result<Outcome, Error> {
    let Some(found) = carts.store().get::<Cart>(cart_id, CART)? else {
        return Err(no_such_cart(cart_id));
    };
    let mut cart = found.value;
    // The same line id again is a retry, or a mistake if the item differs.
    if let Some(existing) = cart.lines.iter().find(|old| old.id == line.id) {
        if existing.name == line.name {
            return Ok(Outcome::Unchanged);
        }
        return Ok(Outcome::Conflict);
    }
    cart.lines.push(line);
    carts
        .store()
        .put(cart_id, CART, &cart, Condition::IfMatch(found.version))?;
    Ok(Outcome::Created)
}

/// `POST /carts/{cart_id}/submit`: the customer clicks "Submit".
pub fn submit(
    carts: &Carts,
    in_flight: &InFlight,
    cart_id: &str,
    headers: &HeaderMap,
    request: &SubmitRequest,
) -> Result<Response, ApiError> {
    let Some(key) = idempotency_key(headers) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "a submit needs an Idempotency-Key header: a new UUID for each submit, the same \
             for its retries",
        ));
    };
    let Some(_in_flight) = in_flight.begin(&format!("{cart_id}/{key}")) else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "a request with this Idempotency-Key is still in progress: try again later",
        ));
    };
    let fingerprint = fingerprint(cart_id, request);
    if let Some(record) = carts.key_record(cart_id, &key)? {
        if record.fingerprint != fingerprint {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "this Idempotency-Key was used for a different request: use a new key for a new \
                 request",
            ));
        }
        return Ok(stored_answer(&record));
    }
    // The answer is decided before the work (202, and where to poll) and
    // stored in the order's batch.
    let record = accepted(cart_id, fingerprint);
    carts.submit(cart_id, &request.deliver_to, Some((&key, &record)))?;
    Ok(stored_answer(&record))
}
