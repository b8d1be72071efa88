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
    // The app names the cart, once: every retry sends the same id.
    let cart_id = app.sim().new_uuid().to_string();
    let path = format!("/carts/{cart_id}");
    send_with_retries(|| app.http().put_json(&path, &body))?;
    Ok(cart_id)
}

/// Puts one item into the cart.
pub fn add_item(app: &ShopClient, cart_id: &str, name: &str) -> Result<(), Error> {
    let body = json!({ "name": name });
    let line_id = app.sim().new_uuid();
    let path = format!("/carts/{cart_id}/items/{line_id}");
    send_with_retries(|| app.http().put_json(&path, &body))?;
    Ok(())
}
