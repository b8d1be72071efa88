//! EXERCISE 02, the app's side: how the shop's app names what it creates.
//!
//! Like every real client, the app retries when no answer comes back (a
//! timeout, a dropped connection): it cannot tell a request that never
//! arrived from an answer that got lost. `send_with_retries` (in
//! `shop/src/client.rs`) sends a request until an answer comes back.

use harness::Error;
use serde_json::json;
use shop::client::{ShopClient, send_with_retries};

/// Creates a cart for `customer` and returns its id.
pub fn create_cart(app: &ShopClient, customer: &str) -> Result<String, Error> {
    let body = json!({ "customer": customer });
    // EXERCISE: the server makes up the id, so a retry after a lost
    // answer makes a second cart. Make the id here and PUT the cart.
    let response = send_with_retries(|| app.http().post_json("/carts", &body))?;
    let cart: serde_json::Value = response.json()?;
    match cart["id"].as_str() {
        Some(id) => Ok(id.to_string()),
        None => Err(Error::Other(format!(
            "the shop sent a cart without an id: {cart}"
        ))),
    }
}

/// Puts one item into the cart.
pub fn add_item(app: &ShopClient, cart_id: &str, name: &str) -> Result<(), Error> {
    let body = json!({ "name": name });
    // EXERCISE: the same here, for the line's id.
    let path = format!("/carts/{cart_id}/items");
    send_with_retries(|| app.http().post_json(&path, &body))?;
    Ok(())
}
