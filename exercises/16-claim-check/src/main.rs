//! The chaos demo: `cargo run -p ex16-claim-check -- demo --seed 7 --chaos all`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some("demo") {
        eprintln!(
            "usage: cargo run -p <this package> -- {}",
            shop::shipping::demo::USAGE
        );
        std::process::exit(2);
    }
    let handle = claim_check::ship_order::handle_ship_order;
    std::process::exit(shop::shipping::demo::command(&args[1..], handle));
}
