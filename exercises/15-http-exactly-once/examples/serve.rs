//! The payment provider and the Payment handler (your calls) on your
//! machine, for `curl`:
//! `cargo run -p ex15-http-exactly-once --example serve -- 3015` (then see
//! the README). (An example, not the package's binary: `cargo xtask
//! verify` builds the tests only, so a save never waits for this program
//! to link.)

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let lesson = http_exactly_once::LESSON;
    std::process::exit(shop::payments::demo::serve_command(&args, lesson));
}
