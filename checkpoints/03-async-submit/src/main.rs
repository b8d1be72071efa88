//! The shop's API on your machine, for `curl`:
//! `cargo run -p ex03-async-submit -- serve` (then see the README).

use harness::{Broker, Sim, World};
use shop::Shop;
use shop::front::orders::Orders;
use shop::http::router;
use shop::serve::{USAGE, serve};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.split_first() {
        Some((command, port)) if command == "serve" => {
            let sim = Sim::from_env_or(1);
            let broker = Broker::new(&sim);
            let shop = Shop::new(&sim, &broker).with_rules(async_submit::RULES);
            let orders = Orders::new(&sim);
            let mut world = World::new(&sim, &broker);
            orders.add_to(&mut world);
            serve(port, router(shop, orders), Some(world))
        }
        _ => {
            eprintln!("usage: cargo run -p <this package> -- {USAGE}");
            2
        }
    };
    std::process::exit(code);
}
