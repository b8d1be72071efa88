//! The whole system under each chaos profile, with this exercise's
//! runbook: `cargo run -p ex17-whole-system --example demo -- --seed 7`.
//! (`--chaos all` runs one profile; `--soak 1000` runs 1,000 seeds.)

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(shop::system::demo::command(&args, whole_system::LESSON));
}
