//! Exercise 14: tokens instead of a retention window.
//!
//! Your file is `inbox.rs`. The rest of the shop (Orders on the key-value
//! store, its requests and rules, the dedup store, the token store, the
//! order page that gives every request its token, Billing and Marketing
//! with their token gates, the town, the consistency report and the demo)
//! lives in the `shop` crate; this file plugs your `trust` and
//! `handle_request` into it, in a town of tokens.

pub mod inbox;

use std::time::Duration;

use harness::{Consistency, Error, Sim};
use shop::demo::{Demo, Profile};
use shop::orders::kv::{DedupStore, Orders};
use shop::town::Town;

/// How long the dedup store keeps the id of a handled request: a week.
pub const RETENTION: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// This exercise's Orders, in a town of tokens, over a strongly consistent
/// dedup store whose marks expire after [`RETENTION`].
pub fn orders(sim: &Sim) -> Orders {
    let dedup = DedupStore::new(sim, Consistency::Strong).with_retention(RETENTION);
    match inbox::trust(dedup) {
        Ok(dedup) => Orders::new(sim, dedup, inbox::handle_request).with_tokens(),
        Err(refused) => panic!("`trust` refused a strongly consistent dedup store: {refused}"),
    }
}

/// A town of tokens with no orders yet, around this exercise's Orders (a
/// clone of `orders`: they share the stores).
pub fn open_town(sim: &Sim, orders: &Orders) -> Town {
    Town::open(sim, orders.clone())
}

/// The demo (`--example demo`), with this exercise's Orders.
pub fn run_demo(sim: &Sim, profile: Profile, orders_placed: usize) -> Result<Demo, Error> {
    shop::demo::run(sim, profile, orders_placed, orders)
}
