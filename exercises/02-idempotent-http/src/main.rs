//! The shop's API on your machine, for `curl`:
//! `cargo run -p ex02-idempotent-http -- serve` (then see the README).

use harness::Sim;
use idempotent_http::RULES;
use shop::front::direct::{Carts, router};
use shop::front::serve::serve;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sim = Sim::from_env_or(1);
    serve(&args, router(Carts::new(&sim), RULES), None);
}
