//! Exercise 07: deterministic message ids.
//!
//! Your file is `ids.rs`. The rest of the shop (Orders on the document
//! store, Billing, Marketing, the mailer, the town, the consistency report
//! and the demo) lives in the `shop` crate; this file plugs your
//! `outgoing_id` into it: Orders names its events with it, Billing and
//! Marketing their letters.

pub mod ids;

use harness::{Error, Sim};
use shop::demo::{Demo, Profile};
use shop::orders::documents::Orders;
use shop::town::Town;

/// This exercise's Orders: on the document store, naming what it publishes
/// with your `outgoing_id` (and so do Billing and Marketing in its town).
pub fn orders(sim: &Sim) -> Orders {
    Orders::new(sim).naming_with(ids::outgoing_id)
}

/// A town with no orders yet, around this exercise's Orders.
pub fn open_town(sim: &Sim) -> Town {
    Town::open(sim, orders(sim))
}

/// The demo (`--example demo`), with this exercise's Orders.
pub fn run_demo(sim: &Sim, profile: Profile, orders_placed: usize) -> Result<Demo, Error> {
    shop::demo::run(sim, profile, orders_placed, orders)
}
