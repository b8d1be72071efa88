//! `serve`: the shop's API on this machine, for `curl`, as the exercises of
//! Part A run it (`cargo run -p ex04-retry-and-dedup -- serve`).

use std::time::Duration;

use axum::Router;
use harness::World;

/// Parses `serve [port]` from `args` (the command line without the program
/// name), runs `world`'s handlers in the background if there is one, and
/// serves `router` on 127.0.0.1 until Ctrl-C. Exits the process with a
/// usage message when the arguments are wrong.
pub fn serve(args: &[String], router: Router, world: Option<World>) {
    let port = match args {
        [command] if command == "serve" => "3000",
        [command, port] if command == "serve" => port.as_str(),
        _ => {
            eprintln!("usage: cargo run -p <this package> -- serve [port]   (default port 3000)");
            std::process::exit(2);
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
