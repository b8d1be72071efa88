//! The chaos demo, with Shipping as this exercise wires it:
//! `cargo run -p ex16-claim-check --example demo -- --seed 7 --chaos all`.
//! (An example, not the package's binary: `cargo xtask verify` builds the
//! tests only, so a save never waits for this program to link.)

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let handle = claim_check::ship_order::handle_ship_order;
    std::process::exit(shop::shipping::demo::command(&args, handle));
}
