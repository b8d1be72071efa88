//! Exercise 16: claim check, large payloads in a blob store.
//!
//! Your file is `ship_order.rs`. The rest (Shipping's stores, the label,
//! the claim check, Billing's invoice desk, the consistency report and the
//! demo) lives in the `shop` crate (`shop/src/shipping.rs` and
//! `shop/src/shipping/`); this file plugs your handler into it.

pub mod ship_order;

use harness::Sim;
use shop::shipping::Shipping;

/// Shipping, handling `ShipOrder` with this exercise's `handle_ship_order`.
pub fn shipping(sim: &Sim) -> Shipping {
    Shipping::new(sim, ship_order::handle_ship_order)
}
