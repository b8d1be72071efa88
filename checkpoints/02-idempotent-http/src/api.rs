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
    ApiError, HeaderMap, InFlight, IntoResponse, Json, Response, StatusCode, SubmitRequest,
};
use shop::{Line, Outcome};

/// Creates an empty cart for `customer` under `cart_id`.
pub fn create_cart(carts: &Carts, cart_id: &str, customer: &str) -> Result<Outcome, Error> {
    let cart = Cart {
        customer: customer.to_string(),
        ..Cart::default()
    };
    // EXERCISE: the client may send the same PUT twice (a retry) or reuse
    // an id by mistake. Tell the two apart instead of failing both.
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
    // EXERCISE: a retried request adds the same line again.
    cart.lines.push(line);
    carts
        .store()
        .put(cart_id, CART, &cart, Condition::IfMatch(found.version))?;
    Ok(Outcome::Created)
}

/// `POST /carts/{cart_id}/submit`: the customer clicks "Submit".
pub fn submit(
    carts: &Carts,
    _in_flight: &InFlight,
    cart_id: &str,
    _headers: &HeaderMap,
    request: &SubmitRequest,
) -> Result<Response, ApiError> {
    // EXERCISE: honour the Idempotency-Key header, and answer 202 Accepted
    // with a Location to poll.
    let order = carts.submit(cart_id, &request.deliver_to, None)?;
    Ok((StatusCode::OK, Json(order)).into_response())
}
