//! Exercise 11: every interleaving of the real code. Orders (in the shop,
//! `shop::orders`) has two workers now, and every request goes through the
//! short-step middleware of `src/outbox.rs`, the file you edit. This file
//! plugs it into the shop.

pub mod outbox;

use harness::Sim;
use shop::orders::Orders;

/// An Orders service whose requests go through this exercise's outbox
/// middleware ([`outbox::handle`]).
pub fn orders(sim: &Sim) -> Orders {
    Orders::with_middleware(sim, outbox::handle)
}
