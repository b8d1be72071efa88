//! Exercise 04: automatic retries and receiver-side deduplication.
//!
//! Your file is `src/handlers.rs`. Everything else — carts, the HTTP API,
//! the app, the Orders service — lives in the shop crate (`shop/src/front.rs`,
//! `shop/src/front/orders.rs`, `shop/src/http.rs`, `shop/src/client.rs`).

pub mod handlers;

use harness::World;
use shop::Shop;
use shop::front::orders::Orders;

/// Adds the shop and the Orders service to the world, each with this
/// exercise's handler.
pub fn add_handlers(world: &mut World, shop: &Shop, orders: &Orders) {
    shop.add_to_with(world, handlers::handle_send_submit_order);
    orders.add_to_with(world, handlers::handle_submit_order);
}
