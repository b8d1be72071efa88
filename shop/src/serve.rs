//! The `serve` command: the shop's API on this machine, for `curl`, with
//! the handlers working in the background.
//!
//! `cargo run -p <exercise package> -- serve [port]`. Part A's exercises
//! hand [`serve`] the router and the handlers they wired; from Part B on,
//! [`command`] wires the shop's front and an Orders service itself.

use std::time::Duration;

use axum::Router;
use harness::{Broker, Sim, World};

use crate::Shop;
use crate::http::router;
use crate::orders::Orders;

/// How to call the command.
pub const USAGE: &str = "serve [port]   (default port 3000)";

/// `serve [port]` for the shop's front and the Orders that `open` makes:
/// serves the API until the process is stopped. Returns the process's exit
/// code if it stops on its own.
pub fn command(args: &[String], open: fn(&Sim) -> Orders) -> i32 {
    let sim = Sim::from_env_or(1);
    let broker = Broker::new(&sim);
    let orders = open(&sim);
    let shop = Shop::new(&sim, &broker);
    let mut world = World::new(&sim, &broker);
    shop.add_to(&mut world);
    orders.add_to(&mut world);
    serve(args, router(shop, orders), Some(world))
}

/// `serve [port]` (`args` without the word `serve`): runs `world`'s
/// handlers in the background, if there are any, and serves `router` on
/// 127.0.0.1 until the process is stopped. Returns the exit code: 2 for
/// wrong arguments, 1 if the port is taken.
pub fn serve(args: &[String], router: Router, world: Option<World>) -> i32 {
    let port = match args {
        [] => "3000",
        [port] => port.as_str(),
        _ => {
            eprintln!("usage: cargo run -p <this package> -- {USAGE}");
            return 2;
        }
    };
    if let Some(world) = world {
        run_in_background(world);
    }
    // Only on the loopback interface: the demo is for this machine.
    let address = format!("127.0.0.1:{port}");
    let server = match harness::http::serve_at(&address, router) {
        Ok(server) => server,
        Err(err) => {
            eprintln!("{err} (is another demo running? pass another port: -- serve 3001)");
            return 1;
        }
    };
    println!(
        "The pierogi shop listens on {}. Try the curl lines in the README.",
        server.url()
    );
    println!("Press Ctrl-C to stop.");
    match server.wait() {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("{err}");
            1
        }
    }
}

/// The handlers handle their queues in a thread of their own. The demo runs
/// in real time; the tests drive the world step by step instead.
fn run_in_background(mut world: World) {
    std::thread::spawn(move || {
        loop {
            if let Err(err) = world.run_until_quiet(1_000) {
                eprintln!("background handlers: {err}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
}
