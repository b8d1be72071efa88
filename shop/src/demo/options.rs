//! How every demo reads its command line: one parser ([clap]), so that the
//! demos of exercises 05–17 take the same options by the same names —
//! `--seed S`, `--chaos <profile>`, `--orders N` — answer `--help` with what
//! each option does, and meet a mistake with what was wrong and the usage
//! line to type instead.
//!
//! Each demo declares its options as a struct deriving [`clap::Parser`]
//! (with [`Seed`] flattened in) and its chaos profiles as an enum deriving
//! [`clap::ValueEnum`], whose doc comments are the help of each profile; then
//! [`parse`] reads the example's arguments.
//!
//! ```
//! use shop::demo::options::{self, Seed};
//!
//! /// A demo that counts pierogi.
//! #[derive(clap::Parser)]
//! struct Options {
//!     #[command(flatten)]
//!     seed: Seed,
//!     /// How many pierogi.
//!     #[arg(long, value_name = "N", default_value_t = 12)]
//!     pierogi: usize,
//! }
//!
//! let args = ["--pierogi".to_string(), "3".to_string()];
//! let parsed: Options = options::parse(&args).unwrap();
//! assert_eq!((parsed.seed.seed, parsed.pierogi), (7, 3));
//!
//! // A mistake prints what was wrong and the usage, and gives the exit code.
//! let wrong = ["--pierogi".to_string(), "many".to_string()];
//! assert_eq!(options::parse::<Options>(&wrong).err(), Some(2));
//! ```

use clap::Parser;

/// The option every demo takes: the seed of its simulation.
#[derive(clap::Args, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seed {
    /// The seed of the simulation: the same seed and chaos profile print the
    /// same report, on every machine.
    #[arg(long, value_name = "S", default_value_t = 7)]
    pub seed: u64,
}

/// Parses `args` (the example's arguments, after the program's name) into
/// the options `T`. On `--help`, or on a mistake, prints the help or what
/// was wrong (with the usage line, under the name `cargo run` knows the demo
/// by) and returns the exit code the process should end with: 0 after the
/// help, 2 after a mistake.
pub fn parse<T: Parser>(args: &[String]) -> Result<T, i32> {
    let mut command = T::command().bin_name(invocation());
    let words = std::iter::once("demo".to_string()).chain(args.iter().cloned());
    command
        .try_get_matches_from_mut(words)
        .and_then(|mut matches| T::from_arg_matches_mut(&mut matches))
        .map_err(|err| {
            let err = err.format(&mut command);
            // Printing to a closed pipe is no reason to fail differently.
            let _ = err.print();
            err.exit_code()
        })
}

/// How to run this demo again: `cargo run` tells the program its package's
/// name, so the usage line names it (a program run some other way gets a
/// placeholder).
fn invocation() -> String {
    let package = std::env::var("CARGO_PKG_NAME").unwrap_or_else(|_| "<package>".to_string());
    format!("cargo run -p {package} --example demo --")
}
