//! `setup`: check the toolchain, then fetch and build everything, so the day
//! itself works without a network.

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

use crate::cargo::cargo;
use crate::course::Course;
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
    // `--profile test`: `verify` runs `cargo test`, which builds in the test
    // profile; a build in the dev profile would leave it the harness, the
    // shop and every exercise to build again on the first verify.
    for (what, args) in [
        ("Downloading dependencies", &["fetch"][..]),
        (
            "Building every exercise, checkpoint and solution",
            &["build", "--workspace", "--tests", "--profile", "test"][..],
        ),
    ] {
        anstream::println!("\n{}", paint(ui::INFO, what));
        let status = cargo(&course.root)
            .args(args)
            .stdin(Stdio::null())
            .status()?;
        if !status.success() {
            anstream::println!(
                "\n{} `cargo {}` failed; see above.",
                paint(ui::BAD, ui::FAIL_MARK),
                args.join(" ")
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
