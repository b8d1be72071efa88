//! The command line: every command with its help and an example.

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "The Exactly-once in Rust workshop runner",
    after_help = "Start here:\n  cargo xtask verify     run the current exercise (the first one on a fresh clone)\n  cargo xtask watch      re-run it every time you save\n  cargo xtask hint       stuck? the next hint\n\nExercises are named by number or slug: `cargo xtask verify 3` = `cargo xtask verify async-submit`."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Every exercise with its part, status and hints used
    #[command(after_help = "Example:\n  cargo xtask list")]
    List,

    /// Run an exercise's tests: failing tests first, then `N/M tests pass`
    #[command(
        after_help = "Examples:\n  cargo xtask verify              the current exercise\n  cargo xtask verify 3            exercise 03\n  cargo xtask verify async-submit the same, by slug\n  cargo xtask verify --all        every built exercise, in order\n  cargo xtask verify 3 --json     one JSON object, for tools\n\nExit code: 0 when every test passes, 1 otherwise."
    )]
    Verify(VerifyArgs),

    /// Re-verify the current exercise every time you save a file
    #[command(
        after_help = "Example:\n  cargo xtask watch\n  cargo xtask watch 3 --poll      on file systems without change events (WSL /mnt/…, network drives)\n\nWhile watching, type a key and Enter: n = next exercise (once this one passes), h = hint, l = list, r or Enter = run again, q = quit."
    )]
    Watch(WatchArgs),

    /// Show the next hint for an exercise (nudge → concept → near-solution)
    #[command(
        after_help = "Examples:\n  cargo xtask hint                the next hint for the current exercise\n  cargo xtask hint 3 --level 1    hint level 1 of exercise 03 again"
    )]
    Hint(HintArgs),

    /// Restore an exercise to its starting point (your copy is backed up first)
    #[command(
        after_help = "Examples:\n  cargo xtask reset 3\n  cargo xtask reset --all         every exercise and your progress (asks first)\n  cargo xtask reset --all --yes   without asking\n\nYour files are copied to .backups/<time>-NN-slug/ before anything is overwritten."
    )]
    Reset(ResetArgs),

    /// Stuck? Jump to exercise N's clean starting point and make it current
    #[command(
        after_help = "Example:\n  cargo xtask checkpoint 5\n\nExercise 05 is restored from checkpoints/05-…, which builds on the reference solution of 04; earlier unfinished exercises are marked skipped. Your copy is backed up first."
    )]
    Checkpoint(ExerciseArg),

    /// Show the reference solution, or a diff to it
    #[command(
        after_help = "Examples:\n  cargo xtask solution 3          the solution's source files\n  cargo xtask solution 3 --diff   what the solution changes in the checkpoint\n  cargo xtask solution 3 --mine   what your copy would need to become the solution"
    )]
    Solution(SolutionArgs),

    /// For authors and CI: test the whole kit and print `N passed, N failed`
    #[command(
        after_help = "Examples:\n  cargo xtask check\n  cargo xtask check --mutants     also confirm each known wrong solution fails its tests"
    )]
    Check(CheckArgs),

    /// Check the toolchain and pre-build everything, so the day works offline
    #[command(after_help = "Example:\n  cargo xtask setup")]
    Setup,

    /// Present a slide deck (with presenterm when installed)
    #[command(
        after_help = "Examples:\n  cargo xtask slides              list the decks\n  cargo xtask slides A            present part A\n  cargo xtask slides opening      the opening deck (also `00`)"
    )]
    Slides(SlidesArgs),

    /// Serve the model checker's Explorer for a model-checking exercise, on 127.0.0.1
    #[command(
        after_help = "Examples:\n  cargo xtask explore 10                        http://127.0.0.1:3000/\n  cargo xtask explore model-checking --port 3001\n\nA failing test of the exercise ends with a link into the Explorer (http://127.0.0.1:3000/#/steps/…): open it while this runs. Ctrl-C stops it; start it again after changing the model."
    )]
    Explore(ExploreArgs),
}

#[derive(Debug, Args)]
pub struct ExerciseArg {
    /// Exercise number or slug, e.g. `3` or `async-submit`
    pub exercise: String,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Exercise number or slug (default: the current exercise)
    #[arg(conflicts_with = "all")]
    pub exercise: Option<String>,
    /// Verify every built exercise, in order
    #[arg(long)]
    pub all: bool,
    /// Print one JSON object instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Exercise number or slug (default: the current exercise)
    pub exercise: Option<String>,
    /// Poll for changes instead of using file-system events
    #[arg(long)]
    pub poll: bool,
}

#[derive(Debug, Args)]
pub struct HintArgs {
    /// Exercise number or slug (default: the current exercise)
    pub exercise: Option<String>,
    /// Show this level (1–3) instead of the next one
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=3))]
    pub level: Option<u8>,
}

#[derive(Debug, Args)]
pub struct ResetArgs {
    /// Exercise number or slug
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub exercise: Option<String>,
    /// Reset every exercise and your progress
    #[arg(long)]
    pub all: bool,
    /// Do not ask for confirmation (with --all)
    #[arg(long, short)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct SolutionArgs {
    /// Exercise number or slug
    pub exercise: String,
    /// Diff from the checkpoint to the solution
    #[arg(long, conflicts_with = "mine")]
    pub diff: bool,
    /// Diff from your copy to the solution
    #[arg(long)]
    pub mine: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Also apply each patch in solutions/*/mutants/ and confirm the tests fail
    #[arg(long)]
    pub mutants: bool,
    /// Check only this exercise (number or slug; repeat for more), without
    /// the kit-wide checks (the course, the tools, lints): for authors at work
    #[arg(long, value_name = "EXERCISE")]
    pub only: Vec<String>,
    /// With --only: write each checked exercise's scenario.diff as it is now
    /// (the difference between the previous solution and this checkpoint)
    #[arg(long, requires = "only")]
    pub bless: bool,
}

#[derive(Debug, Args)]
pub struct ExploreArgs {
    /// Exercise number or slug, e.g. `10` or `model-checking`
    pub exercise: String,
    /// The port on 127.0.0.1
    #[arg(long, default_value_t = 3000)]
    pub port: u16,
}

#[derive(Debug, Args)]
pub struct SlidesArgs {
    /// Part: opening (or 00), A, B, C, D, E, F
    pub part: Option<String>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_has_help_with_an_example() {
        for sub in Cli::command().get_subcommands() {
            let help = sub
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            assert!(
                help.contains("cargo xtask"),
                "`{}` has no example",
                sub.get_name()
            );
            assert!(
                sub.get_about().is_some(),
                "`{}` has no description",
                sub.get_name()
            );
        }
    }
}
