//! The chaos demo, with Orders as this exercise wires them:
//! `cargo run -p ex05-chaos-monkeys --example demo -- --seed 7 --chaos all`.
//! (An example, not the package's binary: `cargo xtask verify` builds the
//! tests only, so a save never waits for this program to link.)

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(shop::demo::command(&args, chaos_monkeys::orders));
}
