//! `cargo run -p sol15-http-exactly-once -- serve [port]`: the payment
//! provider on 127.0.0.1, for `curl` (see the README).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some("serve") {
        eprintln!(
            "usage: cargo run -p <this package> -- {}",
            shop::serve::USAGE
        );
        std::process::exit(2);
    }
    let provider = shop::provider::Provider::new();
    std::process::exit(shop::serve::serve(&args[1..], provider.router(), None));
}
