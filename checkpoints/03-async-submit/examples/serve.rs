//! The shop's API on your machine for `curl`, with this exercise's code:
//! `cargo run -p ex03-async-submit --example serve` (then see the README).
//! (An example, not the package's binary: `cargo xtask verify` builds the
//! tests only, so a save never waits for this program to link.)

use harness::{Broker, Sim, World};
use shop::Shop;
use shop::front::orders::Orders;
use shop::http::router;
use shop::serve::serve;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sim = Sim::from_env_or(1);
    let broker = Broker::new(&sim);
    let shop = Shop::new(&sim, &broker).with_rules(async_submit::RULES);
    let orders = Orders::new(&sim);
    let mut world = World::new(&sim, &broker);
    orders.add_to(&mut world);
    std::process::exit(serve(&args, router(shop, orders), Some(world)));
}
