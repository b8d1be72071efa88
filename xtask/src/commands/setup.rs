//! `setup`: check the toolchain, then fetch and build everything, so the day
//! itself works without a network.

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

use crate::cargo::{cargo, without_incremental_caches};
use crate::course::{Course, Tree};
use crate::error::Result;
use crate::ui::{self, paint};

/// Below this, a full build of the kit may not fit.
const MIN_FREE_GB: u64 = 4;

pub fn run(course: &Course) -> Result<ExitCode> {
    anstream::println!("{}", paint(ui::INFO, "Checking the toolchain"));
    let mut ok = true;
    ok &= report("rustc", check_rustc(&course.root));
    ok &= report(
        "clippy",
        tool_version(&course.root, &["clippy", "--version"]),
    );
    ok &= report("rustfmt", tool_version(&course.root, &["fmt", "--version"]));
    report("free disk", check_disk(&course.root));
    report(
        "git",
        command_version("git", &["--version"])
            .map_err(|e| format!("{e} (only `check --mutants` needs it)")),
    );
    if !ok {
        anstream::println!(
            "\nFix the toolchain first: `rustup show` installs what rust-toolchain.toml asks for."
        );
        return Ok(ExitCode::FAILURE);
    }
    for step in build_steps(course) {
        anstream::println!("\n{}", paint(ui::INFO, step.what));
        let mut cmd = cargo(&course.root);
        if !step.incremental {
            without_incremental_caches(&mut cmd);
        }
        let status = cmd.args(&step.args).stdin(Stdio::null()).status()?;
        if !status.success() {
            anstream::println!(
                "\n{} `cargo {}` failed; see above.",
                paint(ui::BAD, ui::FAIL_MARK),
                step.args.join(" ")
            );
            return Ok(ExitCode::FAILURE);
        }
    }
    anstream::println!(
        "\n{} Ready. Everything is built: the workshop now works offline. Start with {}",
        paint(ui::GOOD, ui::PASS_MARK),
        ui::cmd("cargo xtask verify")
    );
    Ok(ExitCode::SUCCESS)
}

/// One cargo command of the setup.
struct Step {
    what: &'static str,
    args: Vec<String>,
    /// Whether rustc keeps incremental caches for what this step builds
    /// (`fetch` builds nothing: left as cargo's default).
    incremental: bool,
}

/// Fetch, then build everything in the test profile (`verify` runs `cargo
/// test`, which builds in it: a build in the dev profile would leave the
/// harness, the shop and every exercise to build again on the first verify).
///
/// Two builds: the crates nobody edits during the day (the harness, the
/// shop, the runner, every checkpoint and solution) without incremental
/// caches, which would never be read; then the attendee's copies in
/// exercises/ with them, so the first `verify` after an edit rebuilds
/// little.
fn build_steps(course: &Course) -> Vec<Step> {
    let owned = |args: &[&str]| args.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let attendee_copies: Vec<String> = course
        .with_attendee_crate()
        .map(|ex| ex.package(Tree::Exercise))
        .collect();
    let mut everything_else = owned(&["build", "--workspace", "--tests", "--profile", "test"]);
    let mut yours = owned(&["build", "--tests", "--profile", "test"]);
    for package in &attendee_copies {
        everything_else.extend(["--exclude".to_string(), package.clone()]);
        yours.extend(["-p".to_string(), package.clone()]);
    }
    let mut steps = vec![
        Step {
            what: "Downloading dependencies",
            args: owned(&["fetch"]),
            incremental: true,
        },
        Step {
            what: "Building the shop, the harness, every checkpoint and solution",
            args: everything_else,
            incremental: false,
        },
    ];
    if !attendee_copies.is_empty() {
        steps.push(Step {
            what: "Building your exercises",
            args: yours,
            incremental: true,
        });
    }
    steps
}

fn report(what: &str, result: std::result::Result<String, String>) -> bool {
    match &result {
        Ok(detail) => {
            anstream::println!("  {} {what:<10} {detail}", paint(ui::GOOD, ui::PASS_MARK))
        }
        Err(detail) => {
            anstream::println!("  {} {what:<10} {detail}", paint(ui::BAD, ui::FAIL_MARK))
        }
    }
    result.is_ok()
}

/// The compiler must be the release `rust-toolchain.toml` pins (rustup normally
/// guarantees it; a toolchain outside rustup may not).
fn check_rustc(root: &Path) -> std::result::Result<String, String> {
    let version = command_version("rustc", &["--version"])?;
    let pinned = std::fs::read_to_string(root.join("rust-toolchain.toml"))
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .and_then(|t| {
            t.get("toolchain")?
                .get("channel")?
                .as_str()
                .map(String::from)
        });
    match pinned {
        Some(channel)
            if !version.contains(&format!(" {channel}"))
                && channel.starts_with(|c: char| c.is_ascii_digit()) =>
        {
            Err(format!(
                "{version}, but rust-toolchain.toml pins {channel}: install rustup, or `rustup toolchain install {channel}`"
            ))
        }
        _ => Ok(version),
    }
}

fn tool_version(root: &Path, args: &[&str]) -> std::result::Result<String, String> {
    let output = cargo(root).args(args).output().map_err(|e| e.to_string())?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    } else {
        Err(format!(
            "missing: `rustup component add {}`",
            if args[0] == "fmt" { "rustfmt" } else { args[0] }
        ))
    }
}

fn command_version(program: &str, args: &[&str]) -> std::result::Result<String, String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|_| format!("{program} not found"))?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Free space where `target/` will grow, from `df` (skipped where there is none).
fn check_disk(root: &Path) -> std::result::Result<String, String> {
    let output = Command::new("df")
        .arg("-Pk")
        .arg(root)
        .output()
        .map_err(|_| "not measured (no df)".to_string())?;
    let text = String::from_utf8_lossy(&output.stdout);
    let free_kb: u64 = text
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse().ok())
        .ok_or("not measured")?;
    let free_gb = free_kb / 1024 / 1024;
    if free_gb < MIN_FREE_GB {
        Err(format!(
            "{free_gb} GB free; the build needs about {MIN_FREE_GB} GB"
        ))
    } else {
        Ok(format!("{free_gb} GB free"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::course::tests::COURSE;

    /// Exercise 01's copy in exercises/ is a crate; 02 is planned.
    fn course_on_disk(root: &Path) -> Course {
        let copy = root.join("exercises/01-submit-once");
        std::fs::create_dir_all(&copy).unwrap();
        std::fs::write(copy.join("Cargo.toml"), "[package]\n").unwrap();
        Course::parse(root, COURSE).unwrap()
    }

    #[test]
    fn the_attendees_copies_are_built_last_and_alone_with_incremental_caches() {
        let dir = tempfile::tempdir().unwrap();
        let steps = build_steps(&course_on_disk(dir.path()));
        let summary: Vec<(String, bool)> = steps
            .iter()
            .map(|s| (s.args.join(" "), s.incremental))
            .collect();
        assert_eq!(
            summary,
            [
                ("fetch".to_string(), true),
                (
                    "build --workspace --tests --profile test --exclude ex01-submit-once"
                        .to_string(),
                    false
                ),
                (
                    "build --tests --profile test -p ex01-submit-once".to_string(),
                    true
                ),
            ]
        );
    }

    #[test]
    fn without_crates_in_exercises_everything_is_one_build() {
        // Exercise 01's folder is there, its manifest deleted.
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("exercises/01-submit-once")).unwrap();
        let course = Course::parse(dir.path(), COURSE).unwrap();
        let steps = build_steps(&course);
        assert_eq!(steps.len(), 2, "fetch, then one build");
        assert_eq!(
            steps[1].args,
            ["build", "--workspace", "--tests", "--profile", "test"]
        );
    }
}
