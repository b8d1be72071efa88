//! The shop's API on your machine, for `curl`:
//! `cargo run -p ex02-idempotent-http -- serve` (then see the README).

use harness::Sim;
use idempotent_http::Shop;
use idempotent_http::http::router;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let port = match args.as_slice() {
        [command] if command == "serve" => "3000",
        [command, port] if command == "serve" => port.as_str(),
        _ => {
            eprintln!("usage: cargo run -p <this package> -- serve [port]   (default port 3000)");
            std::process::exit(2);
        }
    };
    // Only on the loopback interface: the demo is for this machine.
    let address = format!("127.0.0.1:{port}");
    let sim = Sim::from_env_or(1);
    let server = match harness::http::serve_at(&address, router(Shop::new(&sim))) {
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
