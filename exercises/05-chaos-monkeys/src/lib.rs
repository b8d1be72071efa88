//! Exercise 05: chaos monkeys, ghost and lost events.
//!
//! Your files are `chaos.rs` (the monkeys) and `add_item.rs` (the handler
//! of `AddItem`). The rest of the shop (Orders on the document store,
//! Billing, Marketing, the town, the consistency report and the demo)
//! lives in the `shop` crate; this file plugs your `add_item` into it.

pub mod add_item;
pub mod chaos;

use harness::{Error, Sim};
use shop::demo::{Demo, Profile};
use shop::orders::documents::Orders;
use shop::town::Town;

/// This exercise's Orders: on the document store, taking `SubmitOrder` and
/// `AddItem` only (a placed order can only grow), `AddItem` handled by
/// your `add_item`.
pub fn orders(sim: &Sim) -> Orders {
    Orders::growing_only(sim, add_item::add_item)
}

/// A town with no orders yet, around this exercise's Orders.
pub fn open_town(sim: &Sim) -> Town {
    Town::open(sim, orders(sim))
}

/// The demo (`--example demo`), with this exercise's Orders.
pub fn run_demo(sim: &Sim, profile: Profile, orders_placed: usize) -> Result<Demo, Error> {
    shop::demo::run(sim, profile, orders_placed, orders)
}
