//! The shop's API on your machine, for `curl`:
//! `cargo run -p ex09-generic-outbox -- serve` (then see the README);
//! and the chaos demo: `cargo run -p ex09-generic-outbox -- demo --seed 7 --chaos all`.

use std::time::Duration;

use generic_outbox::Shop;
use generic_outbox::http::router;
use generic_outbox::orders::Orders;
use harness::{Broker, Sim, World};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("demo") {
        std::process::exit(generic_outbox::demo::command(&args[1..]));
    }
    let port = match args.as_slice() {
        [command] if command == "serve" => "3000",
        [command, port] if command == "serve" => port.as_str(),
        _ => {
            eprintln!("usage: cargo run -p <this package> -- serve [port]   (default port 3000)");
            eprintln!(
                "       cargo run -p <this package> -- {}",
                generic_outbox::demo::USAGE
            );
            std::process::exit(2);
        }
    };
    // Only on the loopback interface: the demo is for this machine.
    let address = format!("127.0.0.1:{port}");
    let sim = Sim::from_env_or(1);
    let broker = Broker::new(&sim);
    let orders = Orders::new(&sim);
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
    let server = match harness::http::serve_at(&address, router(shop, orders)) {
        Ok(server) => server,
        Err(err) => {
            eprintln!("{err} (is another demo running? pass another port: -- serve 3001)");
            std::process::exit(1);
        }
    };
    println!(
        "The pierogi shop listens on {}. Try the curl lines in the README.",
        server.url()
    );
    println!("Press Ctrl-C to stop.");
    if let Err(err) = server.wait() {
        eprintln!("{err}");
        std::process::exit(1);
    }
}
