//! Exercise 09: a generic outbox over a relational store. Orders (in the
//! shop, `shop::orders`) keeps its orders in SQLite, and every request it
//! handles goes through the middleware of `src/outbox.rs`, the file you
//! edit. This file plugs it into the shop.

pub mod outbox;

use harness::Sim;
use shop::orders::Orders;

/// An Orders service whose requests go through this exercise's outbox
/// middleware ([`outbox::handle`]).
pub fn orders(sim: &Sim) -> Orders {
    Orders::with_middleware(sim, outbox::handle)
}
