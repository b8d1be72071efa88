//! `check`: everything authors and CI need to trust the kit, ending with the
//! line `N passed, N failed` (one count per check).
//!
//! It builds once (every checkpoint, solution, the harness and the runner, into
//! the shared `target/`), then runs each package's tests without rebuilding.

mod chain;
pub mod decks;
mod exercise;
mod features;
mod layout;
mod mutants;
mod tally;

use std::process::ExitCode;

use crate::cargo::{self, Echo};
use crate::cli::CheckArgs;
use crate::course::{Course, Exercise, Tree};
use crate::error::Result;
use crate::ui::{self, paint};

pub use chain::SCENARIO_DIFF;
pub use decks::decks;
pub use tally::Tally;

pub fn run(course: &Course, args: &CheckArgs) -> Result<ExitCode> {
    let mut tally = Tally::default();
    let whole_kit = args.only.is_empty();

    if whole_kit {
        tally.heading("Course");
        exercise::check_course_metadata(course, &mut tally);
        tally.record("exercise crate sizes", layout::crate_sizes(course));
        tally.record("no binaries in exercises", layout::no_binaries(course));
        tally.record(
            "no copies between solutions",
            layout::no_copies_between_solutions(course),
        );
        tally.record(
            "one feature set for every package",
            features::one_feature_set(course, &tool_packages(course)),
        );
        decks::check_references(course, &mut tally);
        decks::check_snippets(course, &mut tally)?;
    }

    let built = exercises_to_check(course, &args.only)?;
    let tools = if whole_kit {
        tool_packages(course)
    } else {
        Vec::new()
    };
    tally.heading("Build");
    anstream::println!(
        "  {}",
        paint(
            ui::DIM,
            "building every checkpoint, solution and tool once…"
        )
    );
    tally.record("build", build_once(course, &built, &tools));
    if built.is_empty() {
        anstream::println!(
            "\n{}",
            paint(
                ui::DIM,
                "No exercises yet: every exercise in course.toml is planned."
            )
        );
    }
    for ex in built {
        tally.heading(&format!("Exercise {} — {}", ex.label(), ex.title));
        exercise::check_exercise(course, ex, &mut tally);
        if let Some(result) = chain::check_chain(course, ex, args.bless) {
            tally.record("chain", result);
        }
        if args.mutants {
            mutants::check_mutants(course, ex, &mut tally);
        }
    }

    if whole_kit {
        tally.heading("Tooling");
        tooling(course, &tools, &mut tally);
    }

    anstream::println!();
    anstream::println!("{}", tally.closing_line());
    Ok(super::exit_code(tally.failed() == 0))
}

/// Every built exercise, or only those named with `--only`.
fn exercises_to_check<'c>(course: &'c Course, only: &[String]) -> Result<Vec<&'c Exercise>> {
    if only.is_empty() {
        return Ok(course.exercises.iter().filter(|e| !e.planned).collect());
    }
    only.iter().map(|name| course.resolve_built(name)).collect()
}

/// One build of every package `check` tests, with `--keep-going` so that one
/// broken crate does not hide the state of the others.
fn build_once(course: &Course, built: &[&Exercise], tools: &[&str]) -> Result<String, String> {
    let mut packages: Vec<String> = tools.iter().map(|t| t.to_string()).collect();
    for ex in built {
        for copy in [Tree::Checkpoint, Tree::Solution] {
            if course.dir(ex, copy).is_dir() {
                packages.push(ex.package(copy));
            }
        }
    }
    if packages.is_empty() {
        return Ok("nothing to build".to_string());
    }
    let mut cmd = cargo::cargo(&course.root);
    // Everything check builds is built once and not edited after.
    cargo::without_incremental_caches(&mut cmd);
    // In the test profile, as the `cargo test` runs that follow build: in
    // the dev profile the kit's own crates differ (they have line tables
    // only there), and the first test run of each package would build the
    // harness and the shop again.
    cmd.args([
        "build",
        "--keep-going",
        "--tests",
        "--profile",
        "test",
        "--quiet",
    ]);
    for package in &packages {
        cmd.args(["-p", package]);
    }
    let output = cmd
        .output()
        .map_err(|e| format!("could not start cargo: {e}"))?;
    if output.status.success() {
        Ok(format!("{} packages, one shared target/", packages.len()))
    } else {
        Err(format!(
            "the build failed:\n{}",
            String::from_utf8_lossy(&output.stderr).trim_end()
        ))
    }
}

/// The kit's own crates, each in the folder of its name (a fixture course
/// in a test may have none of them).
fn tool_packages(course: &Course) -> Vec<&'static str> {
    ["harness", "shop", "handler-model", "xtask"]
        .into_iter()
        .filter(|p| course.root.join(p).join("Cargo.toml").is_file())
        .collect()
}

/// The runner's and the harness's own tests, then lints and formatting.
fn tooling(course: &Course, tools: &[&str], tally: &mut Tally) {
    for &package in tools {
        let args = ["-p".to_string(), package.to_string()];
        let result = match cargo::run_tests(&course.root, &args, Echo::Quiet) {
            Err(e) => Err(e.to_string()),
            Ok(run) if run.compile_failed() => Err(format!(
                "does not compile:\n{}",
                run.compiler_output.trim_end()
            )),
            Ok(run) if run.exit_ok && run.report.crashed_suites == 0 => Ok(format!(
                "{}/{} tests pass",
                run.report.passed(),
                run.report.total()
            )),
            Ok(run) => Err(exercise::failure_list(&run.report, &run.compiler_output)),
        };
        tally.record(&format!("{package} tests"), result);
    }
    let mut clippy: Vec<String> = ["clippy", "--workspace", "--all-targets", "--quiet"]
        .map(String::from)
        .to_vec();
    // An attendee's copy is its checkpoint apart from the package name (the
    // "exercise = checkpoint" row), so linting the checkpoint lints both.
    let copies = pristine_exercise_copies(course);
    for package in &copies {
        clippy.extend(["--exclude".to_string(), package.clone()]);
    }
    clippy.extend(["--", "-D", "warnings"].map(String::from));
    let clippy: Vec<&str> = clippy.iter().map(String::as_str).collect();
    let ok = if copies.is_empty() {
        "no warnings".to_string()
    } else {
        "no warnings (exercises/ linted as their checkpoints)".to_string()
    };
    tally.record("clippy -D warnings", run_quiet(course, &clippy, &ok));
    tally.record(
        "cargo fmt --check",
        run_quiet(course, &["fmt", "--all", "--check"], "formatted"),
    );
}

/// The packages of the attendee copies in exercises/ that equal their
/// checkpoint apart from the package name (on a clean clone: all of them).
fn pristine_exercise_copies(course: &Course) -> Vec<String> {
    course
        .with_attendee_crate()
        .filter(|ex| {
            crate::commands::reset::differences_from_checkpoint(course, ex)
                .is_ok_and(|differ| differ.is_empty())
        })
        .map(|ex| ex.package(Tree::Exercise))
        .collect()
}

/// Runs a cargo command (clippy, fmt: nothing it checks is edited after);
/// its output becomes the failure detail.
fn run_quiet(course: &Course, args: &[&str], ok: &str) -> Result<String, String> {
    let mut cmd = cargo::cargo(&course.root);
    let output = cargo::without_incremental_caches(&mut cmd)
        .args(args)
        .output()
        .map_err(|e| format!("could not start cargo: {e}"))?;
    if output.status.success() {
        return Ok(ok.to_string());
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Err(text.trim_end().to_string())
}
