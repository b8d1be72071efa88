//! `solution N [--diff|--mine]`: the reference solution, or what it changes.

use std::path::Path;
use std::process::ExitCode;

use similar::TextDiff;

use crate::cli::SolutionArgs;
use crate::course::{Copy, Course};
use crate::error::{Context, Result};
use crate::fsutil;
use crate::ui::{self, paint};

pub fn run(course: &Course, args: &SolutionArgs) -> Result<ExitCode> {
    let ex = course.resolve_built(&args.exercise)?;
    let solution = course.dir(ex, Copy::Solution);
    let from = match (args.diff, args.mine) {
        (true, _) => Copy::Checkpoint,
        (_, true) => Copy::Exercise,
        _ => return show_sources(course, &solution),
    };
    let from_dir = course.dir(ex, from);
    let what = if from == Copy::Exercise {
        "your copy"
    } else {
        "the checkpoint"
    };
    anstream::println!(
        "{}",
        paint(
            ui::INFO,
            format!(
                "What the reference solution of {} changes in {what}:",
                ex.label()
            )
        )
    );
    let changed = diff_trees(course, &from_dir, &solution)?;
    if changed == 0 {
        anstream::println!(
            "Nothing: {} already matches the reference solution.",
            course.rel(&from_dir).display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints every file of the solution's `src/`.
fn show_sources(course: &Course, solution: &Path) -> Result<ExitCode> {
    let src = solution.join("src");
    for rel in fsutil::files(&src).context(|| format!("reading {}", src.display()))? {
        let path = src.join(&rel);
        let text = std::fs::read_to_string(&path)?;
        anstream::println!(
            "{}",
            paint(ui::INFO, format!("── {} ──", course.rel(&path).display()))
        );
        anstream::println!("{text}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Unified diffs of every file that differs between two copies, in colour.
/// `Cargo.toml` (only the package name differs) and the authors' material
/// kept with a solution (`mutants/`, `scenario.diff`) are left out.
/// Returns how many files differ.
fn diff_trees(course: &Course, old: &Path, new: &Path) -> Result<usize> {
    let ignore = |p: &Path| {
        p == Path::new("Cargo.toml")
            || p.starts_with("mutants")
            || p == Path::new(super::check::SCENARIO_DIFF)
    };
    let changed = fsutil::differing_files(old, new, ignore)?;
    for rel in &changed {
        let read = |dir: &Path| std::fs::read_to_string(dir.join(rel)).unwrap_or_default();
        let label = |dir: &Path| course.rel(&dir.join(rel)).display().to_string();
        print_diff(&read(old), &read(new), &label(old), &label(new));
    }
    Ok(changed.len())
}

pub fn print_diff(old: &str, new: &str, old_name: &str, new_name: &str) {
    let diff = TextDiff::from_lines(old, new);
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header(old_name, new_name)
        .to_string();
    for line in text.lines() {
        let style = match line.as_bytes().first() {
            Some(b'+') => ui::GOOD,
            Some(b'-') => ui::BAD,
            Some(b'@') => ui::INFO,
            _ => anstyle::Style::new(),
        };
        anstream::println!("{}", paint(style, line));
    }
}
