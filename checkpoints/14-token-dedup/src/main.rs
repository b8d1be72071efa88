//! The chaos demo: `cargo run -p ex14-token-dedup -- demo --seed 7 --chaos all`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some("demo") {
        eprintln!(
            "usage: cargo run -p <this package> -- {}",
            shop::demo::USAGE
        );
        std::process::exit(2);
    }
    std::process::exit(shop::demo::command(&args[1..], token_dedup::orders));
}
