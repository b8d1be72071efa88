//! Exercise 06: out-of-order delivery and identity-based deduplication.
//!
//! Your file is `change.rs`. The rest of the shop (Orders on the document
//! store, its handlers, Billing, Marketing, the town, the consistency
//! report and the demo) lives in the `shop` crate; this file plugs your
//! `change_order` into it.

pub mod change;

use harness::{Error, Sim};
use shop::demo::{Demo, Profile};
use shop::orders::documents::Orders;
use shop::town::Town;

/// This exercise's Orders: on the document store, changing orders with
/// your `change_order`.
pub fn orders(sim: &Sim) -> Orders {
    Orders::new(sim).changing_with(change::change_order)
}

/// A town with no orders yet, around this exercise's Orders.
pub fn open_town(sim: &Sim) -> Town {
    Town::open(sim, orders(sim))
}

/// The demo (`--example demo`), with this exercise's Orders.
pub fn run_demo(sim: &Sim, profile: Profile, orders_placed: usize) -> Result<Demo, Error> {
    shop::demo::run(sim, profile, orders_placed, orders)
}
