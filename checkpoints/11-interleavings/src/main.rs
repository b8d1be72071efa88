//! The chaos demo, `cargo run -p ex11-interleavings -- demo --seed 7 --chaos all`,
//! and the shop's API on your machine for `curl`,
//! `cargo run -p ex11-interleavings -- serve` (then see the README), both
//! with Orders going through your outbox.

use interleavings::orders;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("demo") => shop::demo::command(&args[1..], orders),
        Some("serve") => shop::serve::command(&args[1..], orders),
        _ => {
            eprintln!(
                "usage: cargo run -p <this package> -- {}",
                shop::demo::USAGE
            );
            eprintln!(
                "       cargo run -p <this package> -- {}",
                shop::serve::USAGE
            );
            2
        }
    };
    std::process::exit(code);
}
