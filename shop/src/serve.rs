//! The `serve` command: the shop's API on this machine, for `curl`, with
//! the shop's handler and the Orders service working in the background.
//!
//! `cargo run -p <this package> -- serve [port]`

use std::time::Duration;

use harness::{Broker, Sim, World};

use crate::Shop;
use crate::front::serve::{READ_TIMEOUTS, serve_bounded};
use crate::http::router;
use crate::orders::Orders;

/// How to call the command.
pub const USAGE: &str = "serve [port]   (default port 3000)";

/// `serve [port]`: serves the shop's API on the loopback interface, with
/// the Orders `open` makes, until the process is stopped. Returns the
/// process's exit code if it stops on its own.
pub fn command(args: &[String], open: fn(&Sim) -> Orders) -> i32 {
    let port = match args {
        [] => "3000",
        [port] => port.as_str(),
        _ => {
            eprintln!("usage: cargo run -p <this package> -- {USAGE}");
            return 2;
        }
    };
    // Only on the loopback interface: the demo is for this machine.
    let address = format!("127.0.0.1:{port}");
    let sim = Sim::from_env_or(1);
    let broker = Broker::new(&sim);
    let orders = open(&sim);
    let shop = Shop::new(&sim, &broker);
    // The shop's handler and the Orders service handle their queues in the
    // background. The demo runs in real time; the tests drive the world step
    // by step instead.
    let mut world = World::new(&sim, &broker);
    shop.add_to(&mut world);
    orders.add_to(&mut world);
    std::thread::spawn(move || {
        loop {
            if let Err(err) = world.run_until_quiet(1_000) {
                eprintln!("background handlers: {err}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let server = match serve_bounded(&address, router(shop, orders), READ_TIMEOUTS) {
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
