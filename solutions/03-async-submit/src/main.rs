//! The shop's API on your machine, for `curl`:
//! `cargo run -p ex03-async-submit -- serve` (then see the README).

use harness::{Broker, Sim, World};
use shop::Shop;
use shop::front::orders::Orders;
use shop::front::serve::serve;
use shop::http::router;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sim = Sim::from_env_or(1);
    let broker = Broker::new(&sim);
    let shop = Shop::new(&sim, &broker).with_rules(async_submit::RULES);
    let orders = Orders::new(&sim);
    let mut world = World::new(&sim, &broker);
    orders.add_to(&mut world);
    serve(&args, router(shop, orders), Some(world));
}
