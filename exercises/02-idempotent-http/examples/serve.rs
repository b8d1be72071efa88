//! The shop's API on your machine for `curl`, with this exercise's code:
//! `cargo run -p ex02-idempotent-http --example serve` (then see the README).
//! (An example, not the package's binary: `cargo xtask verify` builds the
//! tests only, so a save never waits for this program to link.)

use harness::Sim;
use idempotent_http::RULES;
use shop::front::direct::{Carts, router};
use shop::serve::serve;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sim = Sim::from_env_or(1);
    std::process::exit(serve(&args, router(Carts::new(&sim), RULES), None));
}
