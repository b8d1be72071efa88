//! The shop's API on your machine, for `curl`:
//! `cargo run -p ex02-idempotent-http -- serve` (then see the README).

use harness::Sim;
use idempotent_http::RULES;
use shop::front::direct::{Carts, router};
use shop::serve::{USAGE, serve};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.split_first() {
        Some((command, port)) if command == "serve" => {
            let sim = Sim::from_env_or(1);
            serve(port, router(Carts::new(&sim), RULES), None)
        }
        _ => {
            eprintln!("usage: cargo run -p <this package> -- {USAGE}");
            2
        }
    };
    std::process::exit(code);
}
