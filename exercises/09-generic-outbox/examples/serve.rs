//! The shop's API on your machine for `curl`, with Orders going through your
//! outbox: `cargo run -p ex09-generic-outbox --example serve` (then see the README).
//! (An example, not the package's binary: `cargo xtask verify` builds the
//! tests only, so a save never waits for this program to link.)

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(shop::serve::command(&args, generic_outbox::orders));
}
