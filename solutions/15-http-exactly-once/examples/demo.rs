//! The Payment handler's demo, with your calls, the provider on 127.0.0.1:
//! `cargo run -p ex15-http-exactly-once --example demo -- --seed 7 --chaos all --face b`.
//! (An example, not the package's binary: `cargo xtask verify` builds the
//! tests only, so a save never waits for this program to link.)

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let lesson = http_exactly_once::LESSON;
    std::process::exit(shop::payments::demo::demo_command(&args, lesson));
}
