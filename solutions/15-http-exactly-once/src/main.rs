//! The demo and the provider for `curl`:
//! `cargo run -p sol15-http-exactly-once -- demo --seed 7 --chaos all --face b`,
//! `cargo run -p sol15-http-exactly-once -- serve 3015`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let lesson = http_exactly_once::LESSON;
    std::process::exit(shop::payments::demo::command(&args, lesson));
}
