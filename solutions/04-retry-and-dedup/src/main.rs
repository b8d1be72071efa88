//! The shop's API on your machine, for `curl`:
//! `cargo run -p ex04-retry-and-dedup -- serve` (then see the README).

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
            let (shop, orders) = (Shop::new(&sim, &broker), Orders::new(&sim));
            let mut world = World::new(&sim, &broker);
            retry_and_dedup::add_handlers(&mut world, &shop, &orders);
            serve(port, router(shop, orders), Some(world))
        }
        _ => {
            eprintln!("usage: cargo run -p <this package> -- {USAGE}");
            2
        }
    };
    std::process::exit(code);
}
