//! `cargo xtask`: the runner of the Exactly-once in Rust workshop.
//!
//! `cli` parses the command line, `course` and `progress` hold what we know about
//! the course and the attendee, `cargo` runs cargo and reads libtest's output,
//! and `commands/` has one module per command.

mod cargo;
mod cli;
mod commands;
mod course;
mod error;
mod explored;
mod fault;
mod fsutil;
mod health;
mod progress;
mod time;
mod ui;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::course::Course;

/// Exit code when the runner could not do its job (as opposed to a verdict).
const EXIT_ERROR: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            anstream::eprintln!("{}: {e}", ui::paint(ui::BAD, "error"));
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn run(cli: Cli) -> error::Result<ExitCode> {
    let root = Course::find_root(&std::env::current_dir()?)?;
    let course = Course::load(&root)?;
    // Commands that look at one exercise check its pieces themselves; `check`
    // reports the kit's state in its own words.
    match &cli.command {
        Command::List | Command::Hint(_) | Command::Setup | Command::Slides(_) => {
            commands::warn_problems(&course, None)
        }
        _ => {}
    }
    match cli.command {
        Command::List => commands::list::run(&course),
        Command::Verify(args) => commands::verify::run(&course, &args),
        Command::Watch(args) => commands::watch::run(&course, &args),
        Command::Hint(args) => commands::hint::run(&course, &args),
        Command::Reset(args) => commands::reset::run_reset(&course, &args),
        Command::Checkpoint(args) => commands::reset::run_checkpoint(&course, &args.exercise),
        Command::Solution(args) => commands::solution::run(&course, &args),
        Command::Check(args) => commands::check::run(&course, &args),
        Command::Setup => commands::setup::run(&course),
        Command::Slides(args) => commands::slides::run(&course, &args),
        Command::Explore(args) => commands::explore::run(&course, &args),
    }
}
