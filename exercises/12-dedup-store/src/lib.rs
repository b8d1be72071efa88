//! Exercise 12: a deduplication store keeps the entity small.
//!
//! Your file is `inbox.rs`. The rest of the shop (Orders on the key-value
//! store, its requests and rules, the dedup store, Billing, Marketing, the
//! town, the consistency report and the demo) lives in the `shop` crate;
//! this file plugs your `trust` and `handle_request` into it.

pub mod inbox;

use harness::{Consistency, Error, Sim};
use shop::demo::{Demo, Profile};
use shop::orders::kv::{DedupStore, Orders};
use shop::town::Town;

/// This exercise's Orders over `dedup`, if your `trust` accepts it as a
/// dedup store; otherwise why not.
pub fn orders_over(sim: &Sim, dedup: DedupStore) -> Result<Orders, String> {
    let dedup = inbox::trust(dedup)?;
    Ok(Orders::new(sim, dedup, inbox::handle_request))
}

/// This exercise's Orders, over a strongly consistent dedup store.
pub fn orders(sim: &Sim) -> Orders {
    let dedup = DedupStore::new(sim, Consistency::Strong);
    match orders_over(sim, dedup) {
        Ok(orders) => orders,
        Err(refused) => panic!("`trust` refused a strongly consistent dedup store: {refused}"),
    }
}

/// A town with no orders yet, around this exercise's Orders (a clone of
/// `orders`: they share the stores).
pub fn open_town(sim: &Sim, orders: &Orders) -> Town {
    Town::open(sim, orders.clone())
}

/// The demo (`--example demo`), with this exercise's Orders.
pub fn run_demo(sim: &Sim, profile: Profile, orders_placed: usize) -> Result<Demo, Error> {
    shop::demo::run(sim, profile, orders_placed, orders)
}
